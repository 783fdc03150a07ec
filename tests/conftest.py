"""Shared fixtures: configs, test signals, and access to the real JACK server.

Tests that need torch or a running JACK server skip where those are truly absent, except under
``UNSING_STRICT=1`` (set by scripts/test.sh, so in CI), where their absence is a failure.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from unsing.config import Config, load_config
from unsing.contract import ModelContract
from unsing.stft import StftSpec

PROJECT_ROOT = Path(__file__).resolve().parent.parent
STRICT = os.environ.get("UNSING_STRICT") == "1"


def require(reason: str) -> None:
    """Skip the test for ``reason``, or fail it under UNSING_STRICT=1."""
    if STRICT:
        pytest.fail(f"{reason} (UNSING_STRICT=1: required here)")
    pytest.skip(reason)


def require_module(name: str) -> ModuleType:
    """Import ``name`` or skip/fail as :func:`require` says."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        require(f"{name} is not installed ({error})")
        raise  # unreachable: require() raises


@pytest.fixture(scope="session")
def jack_server() -> str:
    """The name of a running JACK server (scripts/test.sh starts one with the dummy driver)."""
    if shutil.which("jack_lsp") is None:
        require("JACK is not installed (apt-get install jackd2)")
    probe = subprocess.run(
        ["jack_lsp"],
        capture_output=True,
        text=True,
        timeout=10,
        env={**os.environ, "JACK_NO_START_SERVER": "1"},
    )
    if probe.returncode != 0:
        require("no JACK server is running (scripts/test.sh starts a dummy one)")
    return os.environ.get("JACK_DEFAULT_SERVER", "default")


def model_contract(
    *,
    sample_rate_hz: int = 44100,
    channels: int = 2,
    n_fft: int = 1024,
    hop_samples: int = 256,
    window: str = "hann",
    context_frames: int = 143,
    lookahead_frames: int = 0,
) -> ModelContract:
    """A model contract (the shipped model's unless told otherwise), for engines whose mask
    model is not an ONNX file."""
    return ModelContract(
        sample_rate_hz=sample_rate_hz,
        channels=channels,
        stft=StftSpec(n_fft, hop_samples, window),
        context_frames=context_frames,
        lookahead_frames=lookahead_frames,
        source="test contract",
    )


def engine_config(*overrides: str, **contract: Any) -> Config:
    """The shipped config with ``overrides`` (``"section.key=value"``), running a model with
    the contract :func:`model_contract` makes of ``contract``."""
    return load_config(overrides=list(overrides), contract=model_contract(**contract))


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    """Write YAML text to a config file in a temporary folder; returns its path."""

    def write(text: str, name: str = "user.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def music_like_signal() -> np.ndarray:
    """Two channels, 1.5 s at 44.1 kHz: harmonic tones, a chirp, noise bursts; float64."""
    rng = np.random.default_rng(1234)
    sample_rate_hz = 44100
    t = np.arange(int(1.5 * sample_rate_hz)) / sample_rate_hz
    tones = sum(0.2 / k * np.sin(2 * np.pi * 220.0 * k * t) for k in range(1, 8))
    chirp = 0.3 * np.sin(2 * np.pi * (100.0 * t + 4000.0 * t**2))
    bursts = rng.standard_normal(t.size) * (np.sin(2 * np.pi * 3.0 * t) > 0.8) * 0.2
    left = tones + chirp + bursts
    right = 0.7 * tones - chirp + rng.standard_normal(t.size) * 0.05
    return np.stack([left, right])


def write_tiny_checkpoint(
    path: Path,
    tcn_dilations: tuple[int, ...] = (1, 2, 4),
    low_band_bins: int = 0,
    long_band: bool = False,
) -> Path:
    """A random-weight checkpoint of a tiny U-Net (non-trivial batch-norm statistics) with the
    contract fields a trained one has; ``low_band_bins`` > 0 adds a small low-band network
    (random output layer, not the zeros it starts from); ``long_band`` a
    small long-window band (4096 samples, 60 input bins, 40 mask bins, crossover at long bins
    20-36, 215-387 Hz). Needs torch."""
    torch = require_module("torch")
    from unsing.models.unet import CausalUNet, UNetConfig

    config = UNetConfig(
        widths=(4, 4, 6, 8),
        tcn_channels=16,
        tcn_dilations=tcn_dilations,
        low_band_bins=low_band_bins,
        low_band_channels=8,
        low_band_dilations=(1, 2),
        long_band_analysis_samples=4096 if long_band else 0,
        long_band_input_bins=60,
        long_band_bins=40,
        long_band_crossover_bins=(20.0, 36.0),
        long_band_channels=8,
        long_band_dilations=(1, 2),
    )
    torch.manual_seed(0)
    model = CausalUNet(config).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.running_mean.uniform_(-0.3, 0.3)
                module.running_var.uniform_(0.5, 2.0)
        if model.low_band is not None:
            torch.nn.init.normal_(model.low_band.out.weight, std=0.3)
        if model.long_band is not None:  # log powers of music-like levels to about N(0, 1)
            model.long_band.input_scale.fill_(0.2)
            model.long_band.input_shift.fill_(1.0)
    torch.save(
        {
            "model_state": model.state_dict(),
            "architecture": config.as_dict(),
            "contract": {
                "sample_rate_hz": 44100,
                "n_fft": 1024,
                "hop_samples": 256,
                "window": "hann",
                "channels": 2,
                "context_frames": config.context_frames,
                "lookahead_frames": 0,
            },
            "manifest_sha1": "abc",
            "manifest_summary": {"seconds_per_role": {"pair": 60.0}},
            "git_commit": "deadbeef",
        },
        path,
    )
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny random-weight checkpoint and its ONNX export: ``(tiny.pt, tiny.onnx)`` (the
    window graph beside it as ``tiny.window.onnx``). Needs torch and onnx."""
    folder = tmp_path_factory.mktemp("onnx")
    checkpoint = write_tiny_checkpoint(folder / "tiny.pt")
    require_module("onnx")
    from unsing.export.export_checkpoint import export_checkpoint

    export_checkpoint(checkpoint, folder / "tiny.onnx")
    return checkpoint, folder / "tiny.onnx"


def wait_for_model_thread(engine: Any) -> None:
    """Wait until a live engine's model thread (if any) has finished every frame in flight:
    the live engine on a machine never late, or a quiet moment to read tracemalloc."""
    worker = engine._worker
    while worker is not None and not worker.finished():
        time.sleep(0.0001)


def hop_allocation_bytes(
    engine: Any, signal: np.ndarray, warm_hops: int = 100, window_hops: int = 250
) -> tuple[int, int, int]:
    """Traced memory over ``window_hops`` hops of ``engine`` on ``signal`` ``(samples, 2)``
    (repeated as needed): ``(peak, current, hops)``, the peak and the end above the window's
    start in bytes, and every hop run.

    ``warm_hops`` run untraced first (onnxruntime's arenas, caches), then traced windows until
    one adds under 512 bytes (at most 8): in a process's first engine, onnxruntime's run adds
    small traced blocks for 500 to 750 hops after tracemalloc starts (6 to 10 KB in all), then
    nothing over 10,000 hops. A true leak never settles, and the measured window shows it.
    Each window starts and ends with the model thread idle: a frame it is running holds
    onnxruntime's transients, which are neither the hop's allocations nor a leak (read
    mid-frame they once made a false 1148-byte "accumulation" in CI)."""
    hop = engine.hop_samples
    hops_in_signal = signal.shape[0] // hop
    output = np.zeros((hop, engine.output_channels), np.float32)
    hops = 0

    def run(count: int) -> None:
        nonlocal hops
        for _ in range(count):
            start = hops % hops_in_signal * hop
            engine.process(signal[start : start + hop], output)
            hops += 1
        wait_for_model_thread(engine)

    run(warm_hops)
    tracemalloc.start()
    try:
        for _ in range(8):
            before = tracemalloc.get_traced_memory()[0]
            run(window_hops)
            if tracemalloc.get_traced_memory()[0] - before < 512:
                break
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        run(window_hops)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - baseline, current - baseline, hops


class ReadyWatch:
    """Reads a command's stderr on a thread; ``wait`` returns once a line holds ``marker``.

    For commands that say when they are ready ("MIDI input '...' opened", the ``run`` banner):
    acting on a fixed sleep instead failed once on a loaded CI machine."""

    def __init__(self, process: subprocess.Popen, marker: str) -> None:
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.marker = marker
        self.thread = threading.Thread(target=self._read, args=(process.stderr,), daemon=True)
        self.thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append(line)
            if self.marker in line:
                self.ready.set()

    def wait(self, timeout_s: float = 30.0) -> None:
        assert self.ready.wait(timeout_s), "".join(self.lines)

    def finish(self, process: subprocess.Popen, timeout_s: float = 30.0) -> tuple[str, str]:
        """(stdout, stderr) once the process has exited (its stdout must fit the pipe)."""
        process.wait(timeout=timeout_s)
        stdout = process.stdout.read()
        self.thread.join(timeout_s)
        return stdout, "".join(self.lines)
