"""The tuning probe against tones of known pitch."""

import numpy as np

from lab.probes.sung_pitch import frame_pitches_hz, grid_offsets_cents

RATE = 44100


def harmonic_tone(hz: float, seconds: float = 2.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    tone = sum(np.sin(2 * np.pi * k * hz * t) / k for k in range(1, 6))
    return tone / np.abs(tone).max()


def test_a_tone_on_the_grid_reads_0_cents_and_one_between_reads_its_offset() -> None:
    for hz, cents in ((220.0, 0.0), (440.0 * 2 ** (30 / 1200), 30.0), (523.25, 0.0)):
        pitches = frame_pitches_hz(harmonic_tone(hz), RATE)
        assert pitches.size > 70
        assert abs(np.median(pitches) - hz) < 0.01 * hz
        assert abs(np.mean(grid_offsets_cents(pitches)) - cents) < 3.0


def test_silence_and_noise_have_no_voiced_frames() -> None:
    assert frame_pitches_hz(np.zeros(RATE), RATE).size == 0
    noise = np.random.default_rng(0).standard_normal(RATE)
    assert frame_pitches_hz(noise / np.abs(noise).max(), RATE).size == 0
