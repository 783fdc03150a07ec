"""The oracle-band diagnosis (lab/oracle_bands.py): which band of a mask costs how much SDR."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lab.oracle_bands import band_variants, diagnose, render  # noqa: E402
from unsing.models.data import ValidationItem  # noqa: E402
from unsing.stft import StftSpec  # noqa: E402


def items(count: int = 3) -> list[ValidationItem]:
    """Mono clips: a 1 kHz voice over a 100 Hz bass with a little noise."""
    rng = np.random.default_rng(0)
    t = np.arange(22050) / 44100
    out = []
    for i in range(count):
        vocals = (0.3 * np.sin(2 * np.pi * 1000 * t))[None].astype(np.float32)
        bass = 0.5 * np.sin(2 * np.pi * 100 * t) + 0.01 * rng.standard_normal(t.size)
        out.append(
            ValidationItem("mir1k", f"clip{i}", vocals, bass[None].astype(np.float32), 44100)
        )
    return out


def test_band_variants_put_the_oracle_in_one_band_only() -> None:
    model = np.zeros((1, 2, 513, 4), np.float32)
    oracle = np.ones_like(model)
    variants = band_variants(model, oracle, 44100 / 1024, ((0.0, 300.0), (30000.0, 40000.0)), (3,))
    mixed = variants["model, oracle 0-300 Hz"]
    assert mixed[..., :7, :].min() == 1.0 and mixed[..., 7:, :].max() == 0.0
    assert "model, oracle 30000-40000 Hz" not in variants  # no bin in that band
    assert set(variants) == {
        "model",
        "oracle",
        "model, oracle 0-300 Hz",
        "oracle smoothed over 3 bins",
    }


def test_the_band_holding_the_error_gains_most() -> None:
    """A half mask everywhere: the oracle in the bass band (where the accompaniment is) fixes
    most of the accompaniment's error, the oracle in 4-8 kHz (nothing there) fixes nothing."""
    table = diagnose(
        lambda magnitude: torch.full_like(magnitude, 0.5),
        items(),
        StftSpec(1024, 256),
        channels=2,
    )
    model, oracle = table["model"], table["oracle"]
    bass_band = table["model, oracle 0-300 Hz"]
    empty_band = table["model, oracle 4000-8000 Hz"]
    assert oracle["vocals_sdr_db"] > 20 and oracle["accompaniment_sdr_db"] > 20
    # a half mask gives half the mixture: SDR = |a|^2 / |a/2 - v/2|^2
    clip = items(1)[0]
    half = 10 * np.log10(
        np.sum(clip.accompaniment**2) / np.sum((clip.mixture / 2 - clip.accompaniment) ** 2)
    )
    assert abs(model["accompaniment_sdr_db"] - half) < 0.1
    assert bass_band["accompaniment_sdr_db"] > model["accompaniment_sdr_db"] + 5
    assert abs(empty_band["accompaniment_sdr_db"] - model["accompaniment_sdr_db"]) < 0.05
    assert all(row["items"] == 3 for row in table.values())
    assert "| model, oracle 0-300 Hz |" in render(table)
