"""The training loss: its SDR waveform term against the metric the quality report uses."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require_module

torch = require_module("torch")

from unsing.errors import ConfigError  # noqa: E402
from unsing.models import spectral  # noqa: E402
from unsing.models import train as train_module  # noqa: E402
from unsing.models.metrics import sdr_db  # noqa: E402
from unsing.models.recipe import load_recipe  # noqa: E402
from unsing.models.train import (  # noqa: E402
    Loss,
    sdr_db_per_excerpt,
    weighted_sdr_loss_db,
)
from unsing.stft import StftSpec  # noqa: E402


def stems(seed: int = 0, batch: int = 3, samples: int = 8192) -> tuple[torch.Tensor, ...]:
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / 44100
    vocals = np.stack(
        [
            np.stack([0.3 * np.sin(2 * np.pi * (200 + 50 * i) * t)] * 2) * rng.uniform(0.2, 2.0)
            for i in range(batch)
        ]
    )
    accompaniment = 0.1 * rng.standard_normal((batch, 2, samples))
    return torch.tensor(vocals, dtype=torch.float32), torch.tensor(
        accompaniment, dtype=torch.float32
    )


def test_sdr_per_excerpt_without_its_floor_is_the_metric(monkeypatch) -> None:
    vocals, accompaniment = stems()
    estimate = vocals + 0.3 * accompaniment
    monkeypatch.setattr(train_module, "SDR_FLOOR_OF_MIXTURE", 0.0)
    scores = sdr_db_per_excerpt(estimate, vocals, vocals + accompaniment)
    expected = [sdr_db(v.numpy(), e.numpy()) for v, e in zip(vocals, estimate, strict=True)]
    np.testing.assert_allclose(scores.numpy(), expected, atol=1e-3)


def test_weighted_sdr_counts_each_stem_by_its_share_of_energy(monkeypatch) -> None:
    vocals, accompaniment = stems()
    vocal_estimate = vocals + 0.3 * accompaniment
    accompaniment_estimate = 0.7 * accompaniment
    monkeypatch.setattr(train_module, "SDR_FLOOR_OF_MIXTURE", 0.0)
    loss = float(
        weighted_sdr_loss_db(vocal_estimate, accompaniment_estimate, vocals, accompaniment)
    )
    expected = []
    quads = zip(vocals, accompaniment, vocal_estimate, accompaniment_estimate, strict=True)
    for quad in quads:
        v, a, v_hat, a_hat = (x.numpy().astype(np.float64) for x in quad)
        share = np.sum(v**2) / (np.sum(v**2) + np.sum(a**2))
        expected.append(share * sdr_db(v, v_hat) + (1 - share) * sdr_db(a, a_hat))
    assert loss == pytest.approx(-np.mean(expected), abs=1e-3)


def test_weighted_sdr_weighs_each_excerpt_alike_whatever_its_level() -> None:
    vocals, accompaniment = stems()
    vocal_estimate, accompaniment_estimate = vocals + 0.3 * accompaniment, 0.7 * accompaniment
    gains = torch.tensor([1.0, 100.0, 0.01]).view(3, 1, 1)
    scaled = weighted_sdr_loss_db(
        gains * vocal_estimate,
        gains * accompaniment_estimate,
        gains * vocals,
        gains * accompaniment,
    )
    loss = weighted_sdr_loss_db(vocal_estimate, accompaniment_estimate, vocals, accompaniment)
    assert float(scaled) == pytest.approx(float(loss), abs=1e-3)


def test_silent_vocals_score_the_accompaniment_alone_and_stay_finite() -> None:
    vocals, accompaniment = stems(batch=1)
    silent = torch.zeros_like(vocals)
    # SDR floored 30 dB below the mixture: a perfect silent stem scores 0 dB, not infinity
    assert float(sdr_db_per_excerpt(silent, silent, accompaniment)) == pytest.approx(0.0, abs=1e-4)
    leak = (0.1 * accompaniment).requires_grad_()
    loss = weighted_sdr_loss_db(leak, accompaniment - leak, silent, accompaniment)
    # accompaniment SDR: (|a|^2 + 1e-3 |a|^2) / (0.01 |a|^2 + 1e-3 |a|^2)
    assert float(loss.detach()) == pytest.approx(-10 * np.log10(1.001 / 0.011), abs=1e-3)
    loss.backward()
    assert torch.isfinite(leak.grad).all() and float(leak.grad.abs().max()) > 0


def test_sdr_loss_prefers_the_oracle_mask_to_a_half_mask() -> None:
    spec = StftSpec(1024, 256, "hann")
    vocals, accompaniment = stems()
    mixture_spec = spectral.stft(vocals + accompaniment, spec)
    vocal_magnitude = spectral.stft(vocals, spec).abs()
    accompaniment_magnitude = spectral.stft(accompaniment, spec).abs()
    oracle = vocal_magnitude / (vocal_magnitude + accompaniment_magnitude + 1e-8)
    loss_fn = Loss(spec, 1.0, "sdr")
    oracle_loss, oracle_terms = loss_fn(oracle, mixture_spec, vocals, accompaniment)
    half_loss, half_terms = loss_fn(
        torch.full_like(oracle, 0.5), mixture_spec, vocals, accompaniment
    )
    assert float(oracle_loss) < float(half_loss)
    # the term reads as minus the mean SDR of both stems in dB
    assert oracle_terms["waveform"] < -10.0 < half_terms["waveform"]


def test_unknown_waveform_loss_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"train\.waveform_loss"):
        load_recipe(overrides=["train.waveform_loss=l2"])
    with pytest.raises(ValueError, match="allowed l1, sdr"):
        Loss(StftSpec(1024, 256, "hann"), 1.0, "l2")
