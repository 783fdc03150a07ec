"""Is a synthetic voice in tune? The sung pitch of vocal stems (``lab/synth_songs.py``'s
``vocals/*.flac``) against the equal-tempered grid (A = 440 Hz), per file: how many voiced
frames, their median pitch, and the mean and median absolute offset in cents from the nearest
semitone. A voice varispeeded by a fraction of a semitone would sit off the grid by that
fraction on average; vibrato and the estimator spread single frames by 20-30 cents.

Pitch per 2048-sample frame (hop 1024) from the autocorrelation peak between 70 and 1000 Hz,
refined by a parabola; frames under -34 dBFS (after peak normalisation) or with a peak under
half the zero-lag value count as unvoiced.

    python -m lab.probes.sung_pitch FILE [FILE ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile

FRAME_SAMPLES = 2048
HOP_SAMPLES = 1024
LOWEST_HZ, HIGHEST_HZ = 70.0, 1000.0


def frame_pitches_hz(mono: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """Pitch (Hz) of each voiced frame of ``mono`` (samples,), peak-normalised audio."""
    window = np.hanning(FRAME_SAMPLES)
    shortest = int(sample_rate_hz / HIGHEST_HZ)
    longest = int(sample_rate_hz / LOWEST_HZ)
    pitches = []
    for start in range(0, mono.size - FRAME_SAMPLES, HOP_SAMPLES):
        frame = mono[start : start + FRAME_SAMPLES] * window
        if np.sqrt(np.mean(frame**2)) < 0.02:
            continue
        spectrum = np.fft.rfft(frame, 2 * FRAME_SAMPLES)
        autocorrelation = np.fft.irfft(np.abs(spectrum) ** 2)[:FRAME_SAMPLES]
        lag = shortest + int(np.argmax(autocorrelation[shortest:longest]))
        if autocorrelation[lag] < 0.5 * autocorrelation[0]:
            continue
        before, peak, after = autocorrelation[lag - 1 : lag + 2]
        curvature = before - 2 * peak + after
        offset = 0.5 * (before - after) / curvature if curvature < 0 else 0.0
        offset = float(np.clip(offset, -1.0, 1.0))
        pitches.append(sample_rate_hz / (lag + offset))
    return np.asarray(pitches)


def grid_offsets_cents(pitches_hz: np.ndarray) -> np.ndarray:
    """Each pitch's offset from the nearest equal-tempered semitone, in cents (-50 .. 50)."""
    midi = 69 + 12 * np.log2(pitches_hz / 440.0)
    return (midi - np.round(midi)) * 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", type=Path, nargs="+")
    for path in parser.parse_args().files:
        audio, rate = soundfile.read(path, always_2d=True)
        mono = audio.mean(axis=1)
        mono = mono / max(np.abs(mono).max(), 1e-12)
        pitches = frame_pitches_hz(mono, rate)
        cents = grid_offsets_cents(pitches)
        print(
            f"{path}: {pitches.size} voiced frames, median {np.median(pitches):.0f} Hz, "
            f"offset mean {np.mean(cents):+.1f} cents, median |offset| "
            f"{np.median(np.abs(cents)):.1f} cents"
        )


if __name__ == "__main__":
    main()
