"""The in-STFT pitch shift against independent references: a tone's frequency from a
zero-padded FFT, the plan's linearity over stems, continuity across a change of key."""

from __future__ import annotations

import numpy as np
import pytest

from unsing.realtime.pitch_shift import SpectralPitchShift, semitone_ratio

RATE_HZ = 44100
N_FFT, HOP = 1024, 256


def _shift_signal(signal: np.ndarray, semitones_per_hop) -> np.ndarray:
    """``signal`` ``(channels, samples)`` through STFT (periodic Hann) -> shift ->
    overlap-add (Hann, squared windows summing to 1.5); ``semitones_per_hop(index)``."""
    channels = signal.shape[0]
    window = np.hanning(N_FFT + 1)[:N_FFT]
    shift = SpectralPitchShift(N_FFT, HOP, channels)
    padded = np.concatenate([np.zeros((channels, N_FFT)), signal], axis=1)
    hops = (padded.shape[1] - N_FFT) // HOP
    out = np.zeros((channels, padded.shape[1]))
    shifted = np.zeros((channels, N_FFT // 2 + 1), np.complex128)
    for index in range(hops):
        frame = padded[:, index * HOP : index * HOP + N_FFT]
        spectrum = np.fft.rfft(frame * window, axis=1)
        shift.set_semitones(semitones_per_hop(index))
        shift.plan(spectrum)
        shift.apply(spectrum, shifted)
        out[:, index * HOP : index * HOP + N_FFT] += (
            np.fft.irfft(shifted, n=N_FFT, axis=1) * window / 1.5
        )
    return out[:, N_FFT:]


def _peak_hz(signal: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(signal.size), n=16 * signal.size))
    peak = int(np.argmax(spectrum))
    a, b, c = np.log(spectrum[peak - 1 : peak + 2])
    return (peak + 0.5 * (a - c) / (a - 2 * b + c)) * RATE_HZ / (16 * signal.size)


@pytest.mark.parametrize(("hz", "semitones"), [(440.0, 2.0), (440.0, -5.0), (1234.5, 6.0)])
def test_a_tone_comes_out_at_the_shifted_frequency_within_two_cents(hz, semitones) -> None:
    t = np.arange(RATE_HZ * 3 // 2) / RATE_HZ
    tone = np.stack([0.5 * np.sin(2 * np.pi * hz * t), 0.3 * np.sin(2 * np.pi * hz * t + 1)])
    out = _shift_signal(tone, lambda index: semitones)
    assert out.shape == tone.shape  # same length, same rate: the tempo is unchanged
    expected = hz * semitone_ratio(semitones)
    for channel in range(2):
        measured = _peak_hz(out[channel, RATE_HZ // 4 : RATE_HZ // 4 + RATE_HZ])
        assert abs(1200.0 * np.log2(measured / expected)) < 2.0
    # the level is kept (within 1.5 dB: the window's shape moves to a whole bin)
    steady = slice(RATE_HZ // 4, RATE_HZ)
    ratio_db = 10 * np.log10(np.mean(out[0, steady] ** 2) / np.mean(tone[0, steady] ** 2))
    assert abs(ratio_db) < 1.5


def test_a_frames_plan_is_linear_over_its_stems() -> None:
    """Planned on the mix, applied to two stems: the shifted stems sum to the shifted mix."""
    rng = np.random.default_rng(0)
    shift = SpectralPitchShift(N_FFT, HOP, 2)
    shift.set_semitones(3.0)
    bins = N_FFT // 2 + 1
    for _ in range(4):
        vocals = rng.standard_normal((2, bins)) + 1j * rng.standard_normal((2, bins))
        accompaniment = rng.standard_normal((2, bins)) + 1j * rng.standard_normal((2, bins))
        mix = vocals + accompaniment
        shift.plan(mix)
        outs = [np.zeros((2, bins), np.complex128) for _ in range(3)]
        for spectrum, out in zip((mix, vocals, accompaniment), outs, strict=True):
            shift.apply(spectrum, out)
        np.testing.assert_allclose(outs[1] + outs[2], outs[0], atol=1e-12)
        assert np.abs(outs[0]).sum() > 0.1 * np.abs(mix).sum()


def test_a_key_change_mid_tone_has_no_step_larger_than_the_signals_own() -> None:
    """+0 -> +4 -> -3 semitones on a steady chord: the largest sample-to-sample step of the
    output stays within the largest step of the shifted tones (no click at the changes)."""
    t = np.arange(RATE_HZ * 2) / RATE_HZ
    chord = sum(0.2 * np.sin(2 * np.pi * hz * t) for hz in (220.0, 277.2, 329.6))
    signal = np.stack([chord, chord])
    keys = lambda index: 0.0 if index < 80 else (4.0 if index < 200 else -3.0)  # noqa: E731
    out = _shift_signal(signal, keys)
    steady = out[:, N_FFT:]
    steps = np.abs(np.diff(steady, axis=1)).max()
    # the highest shifted tone's own largest step: 0.6 * 2 pi f / rate (f = 329.6 * 2^(4/12))
    own = 0.6 * 2 * np.pi * 329.6 * semitone_ratio(4.0) / RATE_HZ
    assert steps < 1.2 * own


def test_silence_and_a_reset_give_silence() -> None:
    shift = SpectralPitchShift(N_FFT, HOP, 1)
    shift.set_semitones(2.0)
    out = np.ones((1, N_FFT // 2 + 1), np.complex128)
    shift.plan(np.zeros((1, N_FFT // 2 + 1), np.complex128))
    shift.apply(np.zeros((1, N_FFT // 2 + 1), np.complex128), out)
    assert not out.any()
    shift.reset()


def test_the_previous_frames_plan_is_kept_for_a_late_finish() -> None:
    """The engine finishes a frame a hop late: the plan before the last stays applicable."""
    rng = np.random.default_rng(1)
    bins = N_FFT // 2 + 1
    frames = [
        rng.standard_normal((2, bins)) + 1j * rng.standard_normal((2, bins)) for _ in range(3)
    ]
    shift = SpectralPitchShift(N_FFT, HOP, 2)
    shift.set_semitones(-2.0)
    outs = []
    for frame in frames:
        shift.plan(frame)
        out = np.zeros((2, bins), np.complex128)
        shift.apply(frame, out)
        outs.append(out)
    late = np.zeros((2, bins), np.complex128)
    shift.apply(frames[1], late, previous=True)
    np.testing.assert_array_equal(late, outs[1])


def test_planning_and_applying_allocate_no_arrays() -> None:
    """After the first frames, a frame's plan and application allocate nothing (tracemalloc
    sees numpy's buffers; one (2, 513) complex frame is 16 KB)."""
    import tracemalloc

    rng = np.random.default_rng(2)
    bins = N_FFT // 2 + 1
    frames = rng.standard_normal((40, 2, bins)) + 1j * rng.standard_normal((40, 2, bins))
    shift = SpectralPitchShift(N_FFT, HOP, 2)
    shift.set_semitones(5.0)
    out = np.zeros((2, bins), np.complex128)
    for frame in frames[:10]:
        shift.plan(frame)
        shift.apply(frame, out)
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for frame in frames[10:]:
            shift.plan(frame)
            shift.apply(frame, out)
            shift.apply(frame, out, previous=True)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - start < 4096 and current - start < 1024
