"""Fitting a replacing low-band network on precomputed features (models/fit_low_band.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import require_module

torch = require_module("torch")

from test_train import TINY, write_tree  # noqa: E402

from unsing.config import load_config  # noqa: E402
from unsing.errors import ConfigError  # noqa: E402
from unsing.models import spectral  # noqa: E402
from unsing.models.fit_low_band import band_examples, band_loss, crop_starts, fit  # noqa: E402
from unsing.models.train import load_checkpoint, train  # noqa: E402
from unsing.models.unet import CausalUNet  # noqa: E402
from unsing.stft import StftSpec  # noqa: E402

REPLACE = [
    "train.low_band_bins=7",
    "train.low_band_input_bins=16",
    "train.low_band_channels=4",
    "train.low_band_dilations=[1, 2]",
    "train.low_band_mode=replace",
]


def test_precomputed_features_give_the_models_own_mask_in_the_band() -> None:
    """The fitted quantity sigmoid(low_band(inputs)) is what the whole model outputs there,
    and the targets are the ideal ratio mask of the stems."""
    config = load_config(overrides=[*TINY, *REPLACE])
    from unsing.models.train import unet_config

    torch.manual_seed(0)
    model = CausalUNet(unet_config(config)).eval()
    with torch.no_grad():
        torch.nn.init.normal_(model.low_band.out.weight, std=0.5)
        model.input_scale.uniform_(0.5, 1.5)
    spec = StftSpec(1024, 256, "hann")
    rng = np.random.default_rng(1)
    vocals, accompaniment = (0.1 * rng.standard_normal((1, 20000)).astype(np.float32) for _ in "va")
    examples = band_examples(model, [(vocals, accompaniment)], spec)
    frames = examples["clip"].shape[0]
    with torch.no_grad():
        mixture = torch.from_numpy(np.repeat(vocals + accompaniment, 2, 0))
        spectrum = spectral.stft(mixture, spec)
        expected = model(spectrum.abs()[None])[0, :, :7]  # (C, 7, T)
        inputs = examples["inputs"].permute(1, 2, 0)[None]
        fitted = torch.sigmoid(model.low_band(inputs))[0]
        v = spectral.stft(torch.from_numpy(vocals), spec)[0, :7].abs()
        a = spectral.stft(torch.from_numpy(accompaniment), spec)[0, :7].abs()
    assert fitted.shape == expected.shape == (2, 7, frames)
    torch.testing.assert_close(fitted, expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(examples["target"][:, 0].T, v / (v + a + 1e-8))
    assert float(examples["weight"].mean()) == pytest.approx(1.0, rel=1e-4)
    with torch.no_grad():
        assert float(band_loss(model, examples, torch.arange(frames)[None])) > 0


def test_crops_never_straddle_two_clips() -> None:
    clip = torch.tensor([0] * 5 + [1] * 3 + [2] * 6)
    starts = crop_starts(clip, 4)
    assert list(starts) == [0, 1, 8, 9, 10]
    assert len(crop_starts(clip, 20)) == 0


def test_fitting_moves_only_the_low_band_and_writes_a_run(tmp_path: Path) -> None:
    data_root = write_tree(tmp_path / "data")
    paths = [f"train.data_root={data_root}", f"train.runs_dir={tmp_path / 'runs'}"]
    start = train(
        load_config(overrides=[*TINY, *paths, "train.ema_decay=0"]),
        tmp_path / "runs" / "start",
        quiet=True,
        max_steps=1,
    )
    config = load_config(overrides=[*TINY, *paths, *REPLACE, "train.calibration_singers=[yan]"])
    run_dir = fit(config, tmp_path / "runs" / "band", start / "last.pt", steps=6, log_every=3)
    before = load_checkpoint(start / "last.pt")[1]["model_state"]
    _, state = load_checkpoint(run_dir / "last.pt")
    after = state["model_state"]
    for name, value in before.items():  # the U-Net, batch-norm statistics included
        assert torch.equal(after[name], value), name
    assert float(after["low_band.out.weight"].abs().max()) > 0
    assert state["architecture"]["low_band_mode"] == "replace"
    assert state["contract"]["n_fft"] == 1024 and state["init_checkpoint"]["step"] == 1
    log = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [3, 6] and all(np.isfinite(r["loss"]) for r in log)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    trained_on = [e["path"] for e in manifest["entries"] if e["role"] == "training"]
    assert trained_on and all("zed" in p for p in trained_on)  # yan: calibration, abjones: held out
    with pytest.raises(ConfigError, match="replace"):
        fit(
            load_config(overrides=[*TINY, *paths]),
            tmp_path / "runs" / "none",
            start / "last.pt",
            steps=1,
        )


def test_eif_training_tracks_leave_the_validation_track_out_and_stay_stereo(tmp_path) -> None:
    from unsing.models.data import Manifest
    from unsing.models.fit_low_band import eif_training_tracks
    from unsing.models.train import unet_config

    data_root = write_tree(tmp_path / "data")
    manifest = Manifest()
    tracks = eif_training_tracks(data_root, 44100, manifest)
    paths = [entry["path"] for entry in manifest.as_dict()["entries"]]
    assert len(tracks) == 1 and all("lithium" in p for p in paths) and len(paths) == 2
    vocals, accompaniment = tracks[0]
    assert vocals.shape == accompaniment.shape and vocals.shape[0] == 2
    model = CausalUNet(unet_config(load_config(overrides=[*TINY, *REPLACE]))).eval()
    examples = band_examples(model, tracks, StftSpec(1024, 256, "hann"))
    assert examples["inputs"].shape[1:] == (2, 16) and examples["target"].shape[1:] == (2, 7)
