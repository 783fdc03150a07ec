"""Issue 31, lever 3 (stereo cues), a probe before any training: how centred are the vocals of
produced songs, and what does the plainest causal stereo cue add to the shipped model's mask?

* centring: the energy of each true stem in mid (L + R) / 2 against side (L - R) / 2, per song;
* a post-filter: the default engine's vocal estimate V, in an STFT (n_fft 1024, hop 256, Hann),
  times ``s ** k`` per bin and frame, where ``s = 2 Re(L conj(R)) / (|L|^2 + |R|^2)`` of the
  mixture (1 where left and right are equal, 0 for uncorrelated or one-sided, below 0 out of
  phase; clipped to [0, 1]); the accompaniment is the mixture minus the filtered vocals. ``s``
  uses the current frame only: causal, and cheap enough for the engine.

Fast SDR (10 log10 |s|^2 / |s - s_hat|^2 per song, channels summed), medians over the 14
musdb18-7s validation songs.

    python -m lab.probes.stereo_cue [--out benchmarks/results/experiments/stereo-cue.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.signal import istft, stft

from unsing.config import load_config
from unsing.models.data import load_musdb18_7s
from unsing.models.metrics import sdr_db
from unsing.realtime.engine import SeparationEngine
from unsing.realtime.onnx_model import OnnxMaskModel
from unsing.realtime.render import render_stems

DATA = Path("/work/shared/data")
RATE = 44100
N_FFT, HOP = 1024, 256
EXPONENTS = (0.0, 0.5, 1.0, 2.0, 4.0)


def _stft(signal: np.ndarray) -> np.ndarray:
    return stft(signal, RATE, "hann", N_FFT, N_FFT - HOP, boundary="even")[2]


def _istft(spectrum: np.ndarray, samples: int) -> np.ndarray:
    return istft(spectrum, RATE, "hann", N_FFT, N_FFT - HOP, boundary=True)[1][..., :samples]


def centre_similarity(mixture_spectrum: np.ndarray) -> np.ndarray:
    """``(bins, frames)`` in [0, 1]: 1 where the two channels are equal."""
    left, right = mixture_spectrum
    power = np.abs(left) ** 2 + np.abs(right) ** 2
    return np.clip(2.0 * np.real(left * np.conj(right)) / np.maximum(power, 1e-12), 0.0, 1.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.probes.stereo_cue")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    config = load_config()
    model = OnnxMaskModel(config)
    scores = {k: {"vocals": [], "accompaniment": []} for k in EXPONENTS}
    centring = {"vocals": [], "accompaniment": []}
    for item in load_musdb18_7s(DATA, RATE):
        mixture = item.vocals + item.accompaniment
        for stem in ("vocals", "accompaniment"):
            left, right = getattr(item, stem)
            mid, side = (left + right) / 2, (left - right) / 2
            centring[stem].append(10 * np.log10(np.sum(mid**2) / max(np.sum(side**2), 1e-12)))
        engine = SeparationEngine(config, model, stems=True)
        vocals, _ = render_stems(engine, mixture)
        similarity = centre_similarity(_stft(mixture))
        vocal_spectrum = _stft(vocals)
        for k in EXPONENTS:
            filtered = _istft(vocal_spectrum * similarity[None] ** k, mixture.shape[1])
            scores[k]["vocals"].append(sdr_db(item.vocals, filtered))
            scores[k]["accompaniment"].append(sdr_db(item.accompaniment, mixture - filtered))
        print(item.name, {k: round(scores[k]["vocals"][-1], 2) for k in EXPONENTS}, flush=True)
    result = {
        "songs": len(centring["vocals"]),
        "mid_over_side_db_median": {
            stem: round(float(np.median(values)), 2) for stem, values in centring.items()
        },
        "post_filter_fast_sdr_median": {
            f"k={k:g}": {stem: round(float(np.median(v)), 3) for stem, v in scores[k].items()}
            for k in EXPONENTS
        },
        "change_per_song_median": {
            f"k={k:g}": {
                stem: round(float(np.median(np.subtract(scores[k][stem], scores[0.0][stem]))), 3)
                for stem in ("vocals", "accompaniment")
            }
            for k in EXPONENTS[1:]
        },
    }
    print(json.dumps(result, indent=2))
    if args.out is not None:
        from unsing.benchmarks.machine import write_measured

        write_measured(args.out, {"metric": "fast SDR, dB", **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
