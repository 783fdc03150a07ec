"""The product is the wheel: built from the checkout's files, installed into a fresh virtual
environment outside the checkout (no torch), it separates a song from a temporary folder."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: Module names of experiments that did not ship (they live in lab/, which is not installed).
EXPERIMENT_MODULES = ("oracle_bands", "fit_low_band", "probes", "experimental", "lab")

pytestmark = pytest.mark.slow


def run(*args: str | Path, cwd: Path, timeout_s: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=timeout_s, cwd=cwd
    )


def checkout_copy(target: Path) -> Path:
    """The files a fresh clone would have (tracked, plus new files not ignored), links kept:
    a wheel built from it cannot pick up stale build folders of the working tree."""
    listed = run("git", "ls-files", "-co", "--exclude-standard", "-z", cwd=PROJECT_ROOT)
    assert listed.returncode == 0, listed.stderr
    for name in filter(None, listed.stdout.split("\0")):
        source = PROJECT_ROOT / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree, not yet committed
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination, follow_symlinks=False)
    return target


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, Path]:
    """Build the wheel and install it (with its runtime dependencies) into a fresh venv."""
    root = tmp_path_factory.mktemp("wheel")
    source = checkout_copy(root / "src")
    built = run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
        "-w", root / "dist", source, cwd=root,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = (root / "dist").glob("unsing-*.whl")
    venv = root / "venv"
    created = run(sys.executable, "-m", "venv", venv, cwd=root)
    assert created.returncode == 0, created.stderr
    python = venv / "bin" / "python"
    pip = run(python, "-m", "pip", "install", "-q", "--disable-pip-version-check", wheel, cwd=root)
    assert pip.returncode == 0, pip.stderr
    site = run(python, "-c", "import unsing, pathlib; print(pathlib.Path(unsing.__file__).parent)",
               cwd=root)  # fmt: skip
    return {
        "wheel": wheel,
        "python": python,
        "unsing": venv / "bin" / "unsing",
        "package": Path(site.stdout.strip()),
        "work": root / "work",
    }


def test_the_wheel_holds_the_runtime_and_the_shipped_model_and_no_experiment(installed) -> None:
    names = zipfile.ZipFile(installed["wheel"]).namelist()
    assert "unsing/config.yaml" in names
    for graph in ("unsing-default.onnx", "unsing-default.window.onnx", "MODEL_CARD.md"):
        assert f"unsing/models/pretrained/{graph}" in names
    assert not [n for n in names if n.endswith(".pt")], "checkpoints are for training"
    for name in names:
        parts = re.split(r"[/.]", name)
        assert not set(parts) & set(EXPERIMENT_MODULES), name
    assert "unsing/export/options.py" not in names
    package = installed["package"]
    assert "site-packages" in str(package)
    config = package / "config.yaml"
    assert config.is_file() and not config.is_symlink()
    assert config.read_text() == (PROJECT_ROOT / "config.yaml").read_text()


def test_the_runtime_needs_no_torch_and_no_checkout(installed) -> None:
    work = installed["work"]
    work.mkdir(exist_ok=True)
    no_torch = run(installed["python"], "-c", "import torch", cwd=work)
    assert no_torch.returncode != 0 and "No module named 'torch'" in no_torch.stderr
    assert run(installed["unsing"], "--help", cwd=work).returncode == 0
    for command in ("run", "play", "separate", "info", "devices", "midi", "train", "export"):
        result = run(installed["unsing"], command, "--help", cwd=work)
        assert result.returncode == 0, (command, result.stderr)
    info = run(installed["unsing"], "info", "--json", cwd=work)
    assert info.returncode == 0, info.stderr
    assert '"context_frames": 143' in info.stdout and str(installed["package"]) in info.stdout
    for command in (["train"], ["export", "x.pt", "-o", "x.onnx"]):
        result = run(installed["unsing"], *command, cwd=work)
        assert result.returncode == 1
        assert "pip install 'unsing[train]'" in result.stderr, result.stderr


def test_separate_a_song_from_a_temporary_folder(installed) -> None:
    work = installed["work"]
    work.mkdir(exist_ok=True)
    rate = 44100
    t = np.arange(3 * rate) / rate
    rng = np.random.default_rng(0)
    voice = 0.3 * np.sin(2 * np.pi * 220 * t * (1 + 0.01 * np.sin(2 * np.pi * 5 * t)))
    band = 0.1 * rng.standard_normal(t.size)
    song = np.stack([voice + band, voice - band], axis=1).astype(np.float32)
    soundfile.write(work / "song.wav", song, rate, subtype="FLOAT")
    result = run(installed["unsing"], "separate", "song.wav", "--out", "stems", cwd=work)
    assert result.returncode == 0, result.stderr
    vocals, vocals_rate = soundfile.read(work / "stems" / "vocals.wav", dtype="float32")
    accompaniment, _ = soundfile.read(work / "stems" / "accompaniment.wav", dtype="float32")
    assert vocals_rate == rate
    assert vocals.shape == accompaniment.shape == song.shape
    np.testing.assert_allclose(vocals + accompaniment, song, atol=1e-4)  # stems add up
    for stem in (vocals, accompaniment):  # each stem holds part of the song, neither is empty
        assert np.isfinite(stem).all() and 0.01 < np.sqrt(np.mean(stem**2))


def test_the_readme_states_the_wheel_size(installed) -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    stated = re.search(r"wheel[^.\n]*?\(?(\d+(?:\.\d+)?) MB", readme)
    assert stated, "README.md does not state the wheel's size in MB"
    size_mb = installed["wheel"].stat().st_size / 1e6
    assert abs(float(stated.group(1)) - size_mb) <= 0.5, (stated.group(0), size_mb)
