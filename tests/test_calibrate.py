"""Mask calibration: folding into the head equals the logit-domain formula, the fit finds the
known answer for a deliberately shy mask, and a calibrated checkpoint is written once."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import require_module, write_tiny_checkpoint

torch = require_module("torch")

from test_train import TINY, write_tree  # noqa: E402

from unsing.models import spectral  # noqa: E402
from unsing.models.calibrate import (  # noqa: E402
    calibrate_checkpoint,
    calibrated_mask,
    fit_calibration,
    fold_calibration,
)
from unsing.models.data import ValidationItem  # noqa: E402
from unsing.models.package import package  # noqa: E402
from unsing.models.recipe import load_recipe  # noqa: E402
from unsing.models.train import _load_init, load_checkpoint, train, unet_config  # noqa: E402
from unsing.models.unet import CausalUNet  # noqa: E402
from unsing.stft import StftSpec  # noqa: E402

SPEC = StftSpec(1024, 256)


def test_folded_head_equals_the_logit_domain_formula() -> None:
    torch.manual_seed(0)
    model = CausalUNet(unet_config(load_recipe(overrides=TINY))).eval()
    magnitude = torch.rand(1, 2, SPEC.bins, 40) * 3
    with torch.no_grad():
        original = model.mask(magnitude)
        expected = calibrated_mask(original, 0.7, 0.5)
        fold_calibration(model, 0.7, 0.5)
        folded = model.mask(magnitude)
    torch.testing.assert_close(folded, expected, atol=1e-5, rtol=1e-4)
    assert (folded - original).abs().max() > 0.05


class ShyOracle:
    """A stand-in model whose mask is the least-squares best real mask (the phase-sensitive
    mask, clipped to (0, 1)) pushed down in the logit domain by ``shift``: the best calibration
    is then slope 1, bias ``shift``. Items differ in length, so the frame count says which
    item's mask is asked for."""

    def __init__(self, items: list[ValidationItem], shift: float) -> None:
        self.config = SimpleNamespace(audio_channels=2)
        self.masks = {}
        for item in items:
            vocals, mixture = (
                spectral.stft(torch.from_numpy(np.repeat(stem, 2, 0)), SPEC)
                for stem in (item.vocals, item.mixture)
            )
            best = (vocals * mixture.conj()).real / (mixture.abs().square() + 1e-12)
            self.masks[best.shape[-1]] = calibrated_mask(best.clamp(1e-4, 1 - 1e-4), 1.0, -shift)

    def eval(self) -> ShyOracle:
        return self

    def mask(self, magnitude: torch.Tensor) -> torch.Tensor:
        return self.masks[magnitude.shape[-1]][None]


def _items(count: int) -> list[ValidationItem]:
    rng = np.random.default_rng(3)
    items = []
    for index in range(count):
        t = np.arange(22050 + 1000 * index) / 44100
        vocals = (0.3 * np.sin(2 * np.pi * (300 + 40 * index) * t) * (np.sin(7 * t) > 0))[None]
        accompaniment = 0.2 * rng.standard_normal((1, t.size))
        items.append(
            ValidationItem(
                "mir1k",
                f"x_{index}",
                vocals.astype(np.float32),
                accompaniment.astype(np.float32),
                44100,
            )
        )
    return items


def test_fit_recovers_the_bias_of_a_shy_mask_and_raises_waveform_sdr() -> None:
    items = _items(3)
    calibration = fit_calibration(ShyOracle(items, shift=1.0), items, SPEC)
    assert calibration.slope == pytest.approx(1.0, abs=0.15)
    assert calibration.bias == pytest.approx(1.0, abs=0.3)
    assert calibration.objective_after_db > calibration.objective_before_db + 0.5
    for stem in ("vocals", "accompaniment"):
        assert (
            calibration.waveform_sdr_after_db["mir1k"][stem]
            > calibration.waveform_sdr_before_db["mir1k"][stem] + 0.5
        )
    assert calibration.fitted_on == {"mir1k": ["x_0", "x_1", "x_2"]}


def test_calibrated_checkpoint_is_written_once_from_training_material(tmp_path: Path) -> None:
    data_root = write_tree(tmp_path / "data")
    recipe = load_recipe(
        overrides=[*TINY, f"train.data_root={data_root}", f"train.runs_dir={tmp_path / 'runs'}"]
    )
    run = train(recipe, tmp_path / "runs" / "c", quiet=True, max_steps=1)
    out = run / "calibrated.pt"
    calibration = calibrate_checkpoint(
        run / "last.pt", out, data_root, mir1k_clips=4, eif_excerpt_seconds=1.0
    )
    # training singers and tracks only: never the held-out abjones or sodium
    assert calibration.fitted_on == {"eif": ["lithium"], "mir1k": ["yan_1_01", "zed_1_01"]}
    original, _ = load_checkpoint(run / "last.pt")
    model, state = load_checkpoint(out)
    assert state["calibration"]["slope"] == calibration.slope
    assert state["calibration"]["bias"] == calibration.bias
    magnitude = torch.rand(1, 2, SPEC.bins, 30)
    with torch.no_grad():
        expected = calibrated_mask(original.mask(magnitude), calibration.slope, calibration.bias)
        torch.testing.assert_close(model.mask(magnitude), expected, atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="already calibrated"):
        calibrate_checkpoint(out, tmp_path / "twice.pt", data_root)
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        calibrate_checkpoint(tmp_path / "missing.pt", tmp_path / "x.pt", data_root)
    (tmp_path / "garbage.pt").write_text("garbage")
    with pytest.raises(ValueError, match="not a usable unsing checkpoint"):
        calibrate_checkpoint(tmp_path / "garbage.pt", tmp_path / "x.pt", data_root)
    assert not (tmp_path / "x.pt").exists()
    long_band = write_tiny_checkpoint(tmp_path / "long.pt", long_band=True)
    with pytest.raises(ValueError, match="long-window band"):
        calibrate_checkpoint(long_band, tmp_path / "x.pt", data_root)

    weights = package(run, tmp_path / "shipped", checkpoint="calibrated.pt")
    shipped = torch.load(weights, weights_only=False)
    assert shipped["calibration"]["slope"] == calibration.slope
    torch.testing.assert_close(shipped["model_state"], state["model_state"])
    card = (tmp_path / "shipped" / "MODEL_CARD.md").read_text()
    assert f"sigmoid({calibration.slope:g} * logit(mask) {calibration.bias:+g})" in card
    assert "2 MIR-1K clips of 2 training singers at 0 dB" in card
    assert "eif training tracks lithium" in card


def test_fine_tuning_a_calibrated_checkpoint_starts_from_the_uncalibrated_weights(
    tmp_path: Path,
) -> None:
    data_root = write_tree(tmp_path / "data")
    recipe = load_recipe(
        overrides=[*TINY, f"train.data_root={data_root}", f"train.runs_dir={tmp_path / 'runs'}"]
    )
    run = train(recipe, tmp_path / "runs" / "c", quiet=True, max_steps=1)
    original, state = load_checkpoint(run / "last.pt")
    folded, _ = load_checkpoint(run / "last.pt")
    fold_calibration(folded, 0.7, 0.5)
    torch.save(
        {**state, "model_state": folded.state_dict(), "calibration": {"slope": 0.7, "bias": 0.5}},
        run / "calibrated.pt",
    )
    model = CausalUNet(unet_config(recipe))
    record = _load_init(model, run / "calibrated.pt", unet_config(recipe))
    assert record["calibration_removed"] == {"slope": 0.7, "bias": 0.5}
    for name, value in original.state_dict().items():
        torch.testing.assert_close(model.state_dict()[name], value, atol=1e-6, rtol=1e-5)
    assert not torch.allclose(folded.head.bias, original.head.bias)


def test_calibration_folds_exactly_into_a_model_with_a_low_band_network() -> None:
    from unsing.models.calibrate import without_calibration

    torch.manual_seed(0)
    recipe = load_recipe(
        overrides=[
            *TINY,
            "train.low_band_bins=7",
            "train.low_band_channels=4",
            "train.low_band_dilations=[1]",
        ]
    )
    model = CausalUNet(unet_config(recipe)).eval()
    with torch.no_grad():
        torch.nn.init.normal_(model.low_band.out.weight, std=0.5)
        torch.nn.init.normal_(model.low_band.out.bias, std=0.5)
    original_state = {k: v.clone() for k, v in model.state_dict().items()}
    magnitude = torch.rand(1, 2, SPEC.bins, 40) * 3
    with torch.no_grad():
        expected = calibrated_mask(model.mask(magnitude), 0.7, 0.5)
        fold_calibration(model, 0.7, 0.5)
        folded = model.mask(magnitude)
    torch.testing.assert_close(folded, expected, atol=1e-5, rtol=1e-4)
    restored = without_calibration(model.state_dict(), {"slope": 0.7, "bias": 0.5})
    for key, value in original_state.items():
        torch.testing.assert_close(restored[key], value, atol=1e-6, rtol=1e-5)


def test_singers_kept_out_of_training_are_the_calibration_material(tmp_path: Path) -> None:
    data_root = write_tree(tmp_path / "data")
    recipe = load_recipe(
        overrides=[
            *TINY,
            f"train.data_root={data_root}",
            f"train.runs_dir={tmp_path / 'runs'}",
            "train.calibration_singers=[yan]",
        ]
    )
    run = train(recipe, tmp_path / "runs" / "held", quiet=True, max_steps=1)
    manifest = (run / "manifest.json").read_text()
    assert "zed_1_01" in manifest and "yan_1_01" not in manifest  # yan never trained on
    calibration = calibrate_checkpoint(
        run / "last.pt", run / "calibrated.pt", data_root, mir1k_clips=4, eif_excerpt_seconds=1.0
    )
    assert calibration.fitted_on["mir1k"] == ["yan_1_01"]
