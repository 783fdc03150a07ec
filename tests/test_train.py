"""Training on a tiny synthetic data tree: checkpoints carry the contract, resume continues,
and distributed data parallel runs with 2 CPU processes (gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
from conftest import require_module

torch = require_module("torch")

from unsing.errors import ConfigError  # noqa: E402
from unsing.models.recipe import load_recipe  # noqa: E402
from unsing.models.train import load_checkpoint, separate, train  # noqa: E402
from unsing.stft import StftSpec  # noqa: E402

# A tiny architecture: receptive field 2 * (1 + 2 * 4) + 2 * 1 + 1 = 21 frames.
TINY = [
    "train.widths=[2,2,2,2]",
    "train.tcn_channels=4",
    "train.tcn_dilations=[1]",
    "train.batch_size=2",
    "train.excerpt_seconds=0.5",
    "train.steps_per_epoch=2",
    "train.epochs=3",
    "train.threads=1",
    "train.validation_mir1k_clips=1",
    "train.validation_eif_seconds=2",
]


def write_tree(root: Path) -> Path:
    """MIR-1K-style clips (16 kHz, left = accompaniment, right = voice) and two
    everything-is-free-style tracks (48 kHz stereo stems), one of them the held-out 'sodium'."""
    rng = np.random.default_rng(0)
    for singer in ("zed", "yan", "abjones"):
        t = np.arange(2 * 16000) / 16000
        clip = np.stack([0.2 * rng.standard_normal(t.size), 0.3 * np.sin(2 * np.pi * 330 * t)], 1)
        path = root / "mir1k" / "audio" / f"{singer}_1_01.ogg"
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, clip, 16000, format="OGG", subtype="VORBIS")
    for track in ("lithium", "sodium"):
        t = np.arange(3 * 48000) / 48000
        folder = root / "everything-is-free" / track
        folder.mkdir(parents=True)
        voice = 0.2 * np.sin(2 * np.pi * 440 * t) * (np.sin(2 * np.pi * 0.7 * t) > 0)
        soundfile.write(folder / "vocals.ogg", np.stack([voice, voice], 1), 48000)
        soundfile.write(folder / "accompaniment.ogg", 0.1 * rng.standard_normal((t.size, 2)), 48000)
    return root


@pytest.fixture
def tiny_recipe(tmp_path: Path):
    data_root = write_tree(tmp_path / "data")
    return load_recipe(
        overrides=[*TINY, f"train.data_root={data_root}", f"train.runs_dir={tmp_path / 'runs'}"]
    )


def test_training_writes_log_manifest_and_checkpoints_with_the_contract(tiny_recipe) -> None:
    run_dir = train(tiny_recipe, Path(tiny_recipe.train.runs_dir) / "a", quiet=True)
    log = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [0, 1, 2] and log[-1]["step"] == 6
    for record in log:
        assert set(record["validation_sdr_db"]) == {"mir1k", "eif"}
        assert np.isfinite(record["loss"]) and record["examples_per_s"] > 0
    manifest = json.loads((run_dir / "manifest.json").read_text())
    roles = {e["role"] for e in manifest["entries"]}
    assert roles == {"pair", "validation"}
    paths = [e["path"] for e in manifest["entries"] if e["role"] == "pair"]
    assert not any("abjones" in p or "sodium" in p for p in paths), "validation leaked"
    model, state = load_checkpoint(run_dir / "last.pt")
    scores = [r["score_db"] for r in log]
    best_epoch = scores.index(max(scores))  # the first epoch to reach the best score
    best = torch.load(run_dir / "best.pt", weights_only=False)
    assert best["epoch"] == best_epoch
    assert best["best_score"] == pytest.approx(max(scores), abs=1e-3)
    if best_epoch == len(log) - 1:  # best.pt is a copy of that epoch's last.pt
        assert (run_dir / "best.pt").read_bytes() == (run_dir / "last.pt").read_bytes()
    assert state["contract"]["sample_rate_hz"] == 44100
    assert state["contract"]["n_fft"] == 1024 and state["contract"]["hop_samples"] == 256
    assert state["contract"]["context_frames"] == 21
    assert state["contract"]["lookahead_frames"] == 0
    assert state["seed"] == 1234 and state["manifest_sha1"] == manifest["sha1"]
    assert state["git_commit"]
    mixture = np.random.default_rng(1).standard_normal((2, 4000)).astype(np.float32)
    vocals, accompaniment = separate(model, mixture, StftSpec(1024, 256))
    np.testing.assert_allclose(vocals + accompaniment, mixture, atol=1e-4)


def test_resume_continues_where_the_run_stopped(tiny_recipe) -> None:
    run_dir = Path(tiny_recipe.train.runs_dir) / "b"
    train(tiny_recipe, run_dir, max_steps=2, quiet=True)
    assert len((run_dir / "train_log.jsonl").read_text().splitlines()) == 1
    train(tiny_recipe, run_dir, resume=True, quiet=True)
    log = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [0, 1, 2]
    assert [r["step"] for r in log] == [2, 4, 6]


def test_resuming_a_run_that_took_its_max_steps_changes_nothing(tiny_recipe) -> None:
    run_dir = Path(tiny_recipe.train.runs_dir) / "capped"
    train(tiny_recipe, run_dir, max_steps=4, quiet=True)  # 2 of its 3 epochs
    before = (run_dir / "last.pt").read_bytes()
    train(tiny_recipe, run_dir, resume=True, max_steps=4, quiet=True)
    assert (run_dir / "last.pt").read_bytes() == before
    assert len((run_dir / "train_log.jsonl").read_text().splitlines()) == 2


def test_same_seed_same_weights(tiny_recipe, tmp_path: Path) -> None:
    first = train(tiny_recipe, tmp_path / "runs" / "c", max_steps=2, quiet=True)
    second = train(tiny_recipe, tmp_path / "runs" / "d", max_steps=2, quiet=True)
    a = torch.load(first / "last.pt", weights_only=False)["model_state"]
    b = torch.load(second / "last.pt", weights_only=False)["model_state"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_training_with_the_sdr_waveform_loss_logs_it_and_moves_the_weights(
    tiny_recipe, tmp_path: Path
) -> None:
    recipe = load_recipe(
        overrides=[
            *TINY,
            f"train.data_root={tiny_recipe.train.data_root}",
            f"train.runs_dir={tmp_path / 'runs'}",
            "train.waveform_loss=sdr",
            "train.waveform_loss_weight=0.01",
        ]
    )
    run_dir = train(recipe, tmp_path / "runs" / "sdr", max_steps=2, quiet=True)
    record = json.loads((run_dir / "train_log.jsonl").read_text().splitlines()[0])
    assert np.isfinite(record["loss"]) and np.isfinite(record["loss_waveform"])
    state = load_checkpoint(run_dir / "last.pt")[1]
    assert state["config"]["train"]["waveform_loss"] == "sdr"
    reference = train(tiny_recipe, tmp_path / "runs" / "l1", max_steps=2, quiet=True)
    a = torch.load(reference / "last.pt", weights_only=False)["model_state"]
    b = state["model_state"]
    assert any(not torch.equal(a[k], b[k]) for k in a if a[k].is_floating_point())


@pytest.mark.slow
def test_distributed_data_parallel_with_two_cpu_processes(tiny_recipe, tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "ddp"
    data_root = tiny_recipe.train.data_root
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29533",
        "-m",
        "unsing.models.train",
        "--name",
        "ddp",
        "--quiet",
        *[arg for item in TINY for arg in ("--set", item)],
        "--set",
        f"train.data_root={data_root}",
        "--set",
        f"train.runs_dir={tmp_path / 'runs'}",
        "--set",
        "train.epochs=2",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    log = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    assert len(log) == 2, "only rank 0 logs, once per epoch"
    _, state = load_checkpoint(run_dir / "last.pt")
    assert state["world_size"] == 2 and state["step"] == 4


def test_package_ships_weights_log_manifest_and_a_generated_card(tiny_recipe, tmp_path) -> None:
    from unsing.models.package import package

    run_dir = train(tiny_recipe, tmp_path / "runs" / "p", quiet=True)
    weights = package(run_dir, tmp_path / "shipped")
    shipped = torch.load(weights, weights_only=False)
    assert "optimizer_state" not in shipped and shipped["contract"]["context_frames"] == 21
    assert weights.stat().st_size < (run_dir / "best.pt").stat().st_size
    card = (tmp_path / "shipped" / "MODEL_CARD.md").read_text()
    assert "## Data and licences" in card and "CC0" in card
    assert card.count("\n| ") == 1 + 3  # header + one row per epoch
    assert (tmp_path / "shipped" / "manifest.json").read_bytes() == (
        run_dir / "manifest.json"
    ).read_bytes()
    shipped_log = (tmp_path / "shipped" / "train_log.jsonl").read_text().splitlines()
    run_log = (run_dir / "train_log.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in shipped_log] == [
        {"run": "p", **json.loads(line)} for line in run_log
    ]
    assert "Fine-tuned" not in card
    assert "- Reproduce: `.venv/bin/unsing train --name NAME`" in card
    package(run_dir, tmp_path / "recipe", reproduce="- Reproduce: `bash scripts/recipe.sh`.")
    recipe_card = (tmp_path / "recipe" / "MODEL_CARD.md").read_text()
    assert "- Reproduce: `bash scripts/recipe.sh`." in recipe_card
    assert "--name NAME" not in recipe_card


def test_package_of_a_fine_tuned_run_chains_the_logs(tiny_recipe, tmp_path) -> None:
    from unsing.models.package import package

    runs = Path(tiny_recipe.train.runs_dir)
    first = train(tiny_recipe, runs / "stage1", quiet=True, max_steps=4)  # 2 of its 3 epochs
    second = train(tiny_recipe, runs / "stage2", quiet=True, init_checkpoint=first / "last.pt")
    package(second, tmp_path / "shipped")
    log = [
        json.loads(line)
        for line in (tmp_path / "shipped" / "train_log.jsonl").read_text().splitlines()
    ]
    assert [(r["run"], r["epoch"]) for r in log] == [
        ("stage1", 0),
        ("stage1", 1),
        ("stage2", 0),
        ("stage2", 1),
        ("stage2", 2),
    ]
    card = (tmp_path / "shipped" / "MODEL_CARD.md").read_text()
    assert "Fine-tuned from" in card and "stage1, stage2" in card
    assert "bash scripts/train_default.sh" in card
    assert (
        torch.load(tmp_path / "shipped" / "unsing-default.pt", weights_only=False)[
            "init_checkpoint"
        ]["step"]
        == 4
    )
    # a third stage names the whole chain, and the moving average it ships
    third = train(tiny_recipe, runs / "stage3", quiet=True, init_checkpoint=second / "last.pt")
    package(third, tmp_path / "shipped3")
    card = (tmp_path / "shipped3" / "MODEL_CARD.md").read_text()
    assert "stage1, stage2, stage3" in card
    assert f"which was fine-tuned from `{first / 'last.pt'}` (step 4" in card
    assert "moving average of the weights (decay 0.999)" in card


def test_package_of_a_fine_tuned_packaged_model_keeps_its_stages_once(
    tiny_recipe, tmp_path
) -> None:
    """A model fine-tuned from a packaged one (as the shipped default is): the packaged log's
    stages come once and whole (each counted its own steps), then the new run; packaging it
    over the folder it started from is refused, and that folder is left as it was."""
    from unsing.models.package import main as package_main
    from unsing.models.package import package

    runs = Path(tiny_recipe.train.runs_dir)
    first = train(tiny_recipe, runs / "stage1", quiet=True)  # 3 epochs, steps 2, 4, 6
    second = train(
        tiny_recipe, runs / "stage2", quiet=True, max_steps=2, init_checkpoint=first / "last.pt"
    )
    shipped = package(second, tmp_path / "shipped", checkpoint="last.pt")  # its step 2
    fewer_singers = load_recipe(
        overrides=[
            *TINY,
            f"train.data_root={tiny_recipe.train.data_root}",
            f"train.runs_dir={runs}",
            "train.calibration_singers=[yan]",
        ]
    )
    third = train(fewer_singers, runs / "stage3", quiet=True, max_steps=2, init_checkpoint=shipped)
    package(third, tmp_path / "next", checkpoint="last.pt")
    log = [
        json.loads(line)
        for line in (tmp_path / "next" / "train_log.jsonl").read_text().splitlines()
    ]
    assert [(r["run"], r["step"]) for r in log] == [
        ("stage1", 2),
        ("stage1", 4),
        ("stage1", 6),
        ("stage2", 2),
        ("stage3", 2),
    ]
    card = (tmp_path / "next" / "MODEL_CARD.md").read_text()
    assert "stage1, stage2, stage3" in card
    # the earlier stages trained on yan's clip too: their manifest is named, once
    earlier = json.loads((tmp_path / "shipped" / "manifest.json").read_text())
    assert card.count("- Earlier stages: manifest sha1") == 1
    assert f"`{earlier['sha1'][:12]}` ({earlier['files']} files;" in card
    # over the folder it started from: once (the folder still holds its origin), not twice
    package(third, tmp_path / "shipped", checkpoint="last.pt")
    replaced = {p.name: p.read_bytes() for p in (tmp_path / "shipped").iterdir()}
    assert replaced["train_log.jsonl"] == (tmp_path / "next" / "train_log.jsonl").read_bytes()
    again = [str(third), "--out", str(tmp_path / "shipped"), "--checkpoint", "last.pt"]
    assert package_main(again) == 1
    assert {p.name: p.read_bytes() for p in (tmp_path / "shipped").iterdir()} == replaced


def test_fine_tuning_starts_from_a_checkpoint_and_records_it(tiny_recipe, tmp_path) -> None:
    import hashlib

    runs = Path(tiny_recipe.train.runs_dir)
    first = train(tiny_recipe, runs / "first", quiet=True, max_steps=2)
    source = first / "last.pt"
    _, source_state = load_checkpoint(source)
    # a fine-tune with a vanishing learning rate keeps the weights it started from
    frozen = load_recipe(
        overrides=[
            *TINY,
            f"train.data_root={tiny_recipe.train.data_root}",
            f"train.runs_dir={runs}",
            "train.learning_rate=1e-6",
            "train.seed=99",
        ]
    )
    tuned = train(frozen, runs / "tuned", quiet=True, max_steps=1, init_checkpoint=source)
    _, tuned_state = load_checkpoint(tuned / "last.pt")
    record = tuned_state["init_checkpoint"]
    assert record["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert record["step"] == 2 and record["path"] == str(source)
    for name, weights in source_state["model_state"].items():
        if weights.dtype.is_floating_point and "running" not in name:
            torch.testing.assert_close(tuned_state["model_state"][name], weights, atol=1e-4, rtol=0)
    # look-ahead may change (same weights, shifted output); widths may not (n_fft and the
    # temporal depth may: tests/test_transfer.py)
    ahead = load_recipe(
        overrides=[
            *TINY,
            "model.lookahead_frames=2",
            f"train.data_root={tiny_recipe.train.data_root}",
            f"train.runs_dir={runs}",
        ]
    )
    ahead_run = train(ahead, runs / "ahead", quiet=True, max_steps=1, init_checkpoint=source)
    assert load_checkpoint(ahead_run / "last.pt")[1]["architecture"]["lookahead_frames"] == 2
    wider = load_recipe(
        overrides=[
            *[o for o in TINY if not o.startswith("train.widths")],
            "train.widths=[2,2,2,3]",
            f"train.data_root={tiny_recipe.train.data_root}",
            f"train.runs_dir={runs}",
        ]
    )
    with pytest.raises(ConfigError, match=r"cannot start the configured one.*widths differs"):
        train(wider, runs / "wider", quiet=True, max_steps=1, init_checkpoint=source)


def test_bfloat16_network_follows_the_float32_network() -> None:
    from unsing.models.train import network_precision
    from unsing.models.unet import CausalUNet, UNetConfig

    torch.manual_seed(0)
    model = CausalUNet(UNetConfig(widths=(4, 4, 4, 4), tcn_channels=8)).eval()
    magnitude = torch.rand(2, 2, 513, 40) * 3
    cpu = torch.device("cpu")
    with torch.no_grad():
        with network_precision("float32", cpu):
            reference = model(magnitude)
        with network_precision("bfloat16", cpu):
            low = model(magnitude)
    assert reference.dtype == torch.float32 and low.dtype == torch.bfloat16
    difference = (low.float() - reference).abs()
    assert 0 < float(difference.max()) < 0.05, "bfloat16 runs, and stays close to float32"


def test_bfloat16_training_steps_follow_float32_steps(tiny_recipe, tmp_path) -> None:
    """From the same weights and the same mixes, bfloat16 steps move the float32 weights the way
    float32 steps do (cosine of the two updates; other mixes give a far lower cosine), and what
    they save stays float32."""

    runs = tmp_path / "runs"
    start = train(tiny_recipe, runs / "start", quiet=True, max_steps=1) / "last.pt"
    initial = load_checkpoint(start)[1]["model_state"]
    updates = {}
    for precision, seed in (("float32", 1234), ("bfloat16", 1234), ("float32", 99)):
        recipe = load_recipe(
            overrides=[
                *TINY,
                f"train.data_root={tiny_recipe.train.data_root}",
                f"train.runs_dir={runs}",
                f"train.precision={precision}",
                f"train.seed={seed}",
                "train.ema_decay=0",
            ]
        )
        name = f"{precision}-{seed}"
        run_dir = train(recipe, runs / name, quiet=True, max_steps=2, init_checkpoint=start)
        state = load_checkpoint(run_dir / "last.pt")[1]
        assert state["config"]["train"]["precision"] == precision
        if precision == "bfloat16":
            from unsing.models.package import package

            package(run_dir, tmp_path / "shipped")
            card = (tmp_path / "shipped" / "MODEL_CARD.md").read_text()
            assert "network passes in bfloat16 autocast" in card
        weights = {k: v for k, v in state["model_state"].items() if v.is_floating_point()}
        assert all(v.dtype == torch.float32 for v in weights.values())
        updates[name] = torch.cat(
            [(v - initial[k]).flatten() for k, v in weights.items() if "running" not in k]
        )

    def cosine(a: str, b: str) -> float:
        return float(torch.nn.functional.cosine_similarity(updates[a], updates[b], dim=0))

    assert float(updates["bfloat16-1234"].abs().max()) > 0
    # measured 0.87 for the same mixes in the two precisions, 0.16 for other mixes (seed 99)
    assert cosine("float32-1234", "bfloat16-1234") > 0.75
    assert cosine("float32-1234", "float32-99") < 0.5


def test_augmentation_settings_come_from_the_recipe(tiny_recipe, tmp_path, monkeypatch) -> None:
    import unsing.models.train as train_module

    seen = []
    real_draw = train_module.EpochDraw

    def recording_draw(*args, **kwargs):
        seen.append(args[-1])
        return real_draw(*args, **kwargs)

    monkeypatch.setattr(train_module, "EpochDraw", recording_draw)
    recipe = load_recipe(
        overrides=[
            *TINY,
            f"train.data_root={tiny_recipe.train.data_root}",
            f"train.runs_dir={tmp_path / 'runs'}",
            "train.real_pair_probability=0.9",
            "train.pitch_shift_semitones=2",
        ]
    )
    train(recipe, tmp_path / "runs" / "augment", max_steps=1, quiet=True)
    assert seen and seen[0].real_pair_probability == 0.9
    assert seen[0].pitch_shift_semitones == 2.0


def test_training_the_low_band_network_alone_leaves_the_rest_untouched(
    tiny_recipe, tmp_path: Path
) -> None:
    start = train(tiny_recipe, tmp_path / "runs" / "start", quiet=True, max_steps=1) / "last.pt"
    low_band = [
        "train.low_band_bins=7",
        "train.low_band_channels=4",
        "train.low_band_dilations=[1, 2]",
    ]
    common = [
        *TINY,
        f"train.data_root={tiny_recipe.train.data_root}",
        f"train.runs_dir={tmp_path / 'runs'}",
        "train.ema_decay=0",
        *low_band,
    ]
    recipe = load_recipe(overrides=[*common, "train.train_only_low_band=true"])
    run_dir = train(
        recipe, tmp_path / "runs" / "low", quiet=True, max_steps=2, init_checkpoint=start
    )
    before = load_checkpoint(start)[1]["model_state"]
    after = load_checkpoint(run_dir / "last.pt")[1]["model_state"]
    for name, value in before.items():  # weights and batch-norm statistics alike
        assert torch.equal(after[name], value), name
    moved = [k for k in after if k.startswith("low_band.") and k not in before]
    assert moved and any(float(after[k].abs().max()) > 0 for k in moved if k.endswith("out.weight"))
    record = json.loads((run_dir / "train_log.jsonl").read_text().splitlines()[0])
    assert np.isfinite(record["loss"])
    with pytest.raises(ConfigError, match="low_band_bins"):
        no_band = load_recipe(
            overrides=[
                *TINY,
                f"train.data_root={tiny_recipe.train.data_root}",
                "train.train_only_low_band=true",
            ]
        )
        train(no_band, tmp_path / "runs" / "none", quiet=True, max_steps=1)


def test_a_low_band_network_that_does_not_fit_is_a_config_error() -> None:
    from unsing.models.train import unet_config

    recipe = load_recipe(
        overrides=[*TINY, "train.low_band_bins=7", "train.low_band_dilations=[64]"]
    )
    with pytest.raises(ConfigError, match=r"train\.low_band_\* do not make a model: low band"):
        unet_config(recipe)
