"""Per-band SDR against independent references: sines of known amplitude (exact DFT bins),
a time-domain global SDR, and the command on a tiny everything-is-free tree."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile

from unsing.models.band_quality import (
    DEFAULT_BANDS_HZ,
    README_END,
    README_START,
    band_energies,
    band_sdr_db,
    main,
)

RATE_HZ = 44100
NUM_SAMPLES = RATE_HZ  # 1 s: a sine at an integer frequency in Hz falls on one DFT bin
BANDS = [name for name, _, _ in DEFAULT_BANDS_HZ]


def sine(frequency_hz: float, amplitude: float, phase: float = 0.0) -> np.ndarray:
    t = np.arange(NUM_SAMPLES) / RATE_HZ
    return amplitude * np.sin(2 * np.pi * frequency_hz * t + phase)


def test_bands_of_a_partition_sum_to_the_signal_energy() -> None:
    signal = np.random.default_rng(0).standard_normal((2, 10001))  # odd length: no Nyquist bin
    partition = [band for band in DEFAULT_BANDS_HZ if band[0] not in ("8-22 kHz", "all")]
    energies = band_energies(signal, RATE_HZ, partition)
    assert energies.sum() == pytest.approx(np.sum(signal**2), rel=1e-9)
    even = signal[:, :10000]
    total = band_energies(even, RATE_HZ, [("all", 0.0, math.inf)])[0]
    assert total == pytest.approx(np.sum(even**2), rel=1e-9)


def test_sdr_per_band_of_sines_with_a_known_error() -> None:
    # Reference: one sine per band; the estimate's error: a sine in 8-12 kHz only, 10 dB down,
    # and one in 1-4 kHz 20 dB down. SDR elsewhere is exact (inf).
    reference = sine(500, 0.5) + sine(2000, 0.3) + sine(6000, 0.2) + sine(10000, 0.1)
    reference += sine(14000, 0.05) + sine(18000, 0.02)
    error = sine(10000, 0.1 / math.sqrt(10), phase=1.0) + sine(2500, 0.3 / 10)
    estimate = reference - error
    sdr = dict(zip(BANDS, band_sdr_db(reference[None], estimate[None], RATE_HZ), strict=True))
    assert sdr["8-12 kHz"] == pytest.approx(10.0, abs=1e-6)
    assert sdr["1-4 kHz"] == pytest.approx(20.0, abs=1e-6)
    for band in ("0-1 kHz", "4-8 kHz", "12-16 kHz", "16-22 kHz"):
        assert sdr[band] > 200  # only rounding error left
    expected_high = 10 * math.log10((0.1**2 + 0.05**2 + 0.02**2) / (0.1**2 / 10))
    assert sdr["8-22 kHz"] == pytest.approx(expected_high, abs=1e-6)


def test_the_band_all_is_the_time_domain_global_sdr() -> None:
    rng = np.random.default_rng(1)
    reference = rng.standard_normal((2, 20000))
    estimate = reference + 0.3 * rng.standard_normal((2, 20000))
    expected = 10 * np.log10(np.sum(reference**2) / np.sum((reference - estimate) ** 2))
    assert band_sdr_db(reference, estimate, RATE_HZ)[BANDS.index("all")] == pytest.approx(
        expected, abs=1e-9
    )


def test_an_empty_band_is_not_scored_and_a_shape_mismatch_is_an_error() -> None:
    reference = sine(500, 0.5)[None]
    sdr = dict(zip(BANDS, band_sdr_db(reference, 0.5 * reference, RATE_HZ), strict=True))
    assert sdr["0-1 kHz"] == pytest.approx(20 * math.log10(2), abs=1e-6)
    silent = np.zeros_like(reference)
    assert np.isnan(band_sdr_db(silent, reference, RATE_HZ)).all()
    with pytest.raises(ValueError, match="differ"):
        band_sdr_db(reference, np.zeros((2, NUM_SAMPLES)), RATE_HZ)


def write_sodium(root: Path) -> Path:
    """A 3 s everything-is-free-style held-out track: a voice with a 'sibilant' above 8 kHz."""
    rate_hz = 48000
    t = np.arange(3 * rate_hz) / rate_hz
    rng = np.random.default_rng(2)
    voice = 0.2 * np.sin(2 * np.pi * 440 * t) + 0.02 * np.sin(2 * np.pi * 9000 * t)
    folder = root / "everything-is-free" / "sodium"
    folder.mkdir(parents=True)
    soundfile.write(folder / "vocals.ogg", np.stack([voice, voice], 1), rate_hz)
    soundfile.write(folder / "accompaniment.ogg", 0.05 * rng.standard_normal((t.size, 2)), rate_hz)
    return root


def test_the_command_scores_each_band_and_updates_the_readme(tmp_path: Path, capsys) -> None:
    root = write_sodium(tmp_path / "data")
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{README_START}\nold\n{README_END}\nafter\n")
    out = tmp_path / "band.json"
    args = ["--out", str(out), "--sets", "eif-sodium", "--methods", "mixture,oracle_irm"]
    assert main([*args, "--data-root", str(root), "--readme", str(readme)]) == 0
    report = json.loads(out.read_text())
    track = report["sets"]["eif-sodium"]["sodium"]
    assert set(track["sdr_db"]) == {"mixture", "oracle_irm"}
    assert track["energy_share_db"]["vocals"]["all"] == 0.0
    assert track["energy_share_db"]["vocals"]["0-1 kHz"] > -0.5  # the 440 Hz tone
    for band in ("0-1 kHz", "8-12 kHz", "all"):
        mixture = track["sdr_db"]["mixture"]
        oracle = track["sdr_db"]["oracle_irm"]
        assert mixture["vocals"][band] == pytest.approx(-mixture["accompaniment"][band], abs=0.02)
        assert oracle["vocals"][band] > mixture["vocals"][band] + 3
    text = readme.read_text()
    assert "old" not in text and text.endswith("after\n")
    assert "| eif-sodium / sodium | vocals | oracle_irm SDR |" in text
    assert out.with_suffix(".md").read_text() in capsys.readouterr().out


def test_an_unknown_set_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert main(["--out", str(tmp_path / "x.json"), "--sets", "nope", "--methods", "mixture"]) == 2
    assert "unknown set(s) ['nope']" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
