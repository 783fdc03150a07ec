"""Issue 31, lever 3: does a model trained with the stereo cue (``train.stereo_cue``) lean on it,
and how does it and its control do on mono input?

For each checkpoint, on the 14 musdb18-7s validation songs (waveform SDR as the per-epoch
validation computes it, ``unsing.models.metrics.sdr_db``, median):

* ``stereo``: the songs as they are;
* ``dual_mono``: mixture and stems collapsed to their mid in both channels (a mono source);
* ``cue_zeroed`` (cue models only): the songs as they are with the cue rows set to zero, the
  side magnitude a dual-mono input would give; how much of the model's answer the cue decides.

    python -m lab.probes.stereo_cue_model NAME=CHECKPOINT ... [--out FILE.json]

The cue did not ship and its code was removed: run this at commit bc84a1a, where
``train.stereo_cue`` and ``spectral.stereo_cue_rows`` exist (docs/experiments/stereo-cue-v1.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from unsing.benchmarks.machine import write_measured
from unsing.models import spectral
from unsing.models.checkpoint import load_checkpoint
from unsing.models.data import load_musdb18_7s
from unsing.models.metrics import sdr_db
from unsing.models.train import separate
from unsing.stft import StftSpec

DATA = Path("/work/shared/data")
RATE = 44100


def _dual_mono(audio: np.ndarray) -> np.ndarray:
    mid = audio.mean(axis=0, keepdims=True)
    return np.repeat(mid, 2, axis=0).astype(np.float32)


def _median_scores(model, spec: StftSpec, songs: list) -> dict[str, float]:
    vocal_scores, accompaniment_scores = [], []
    for mixture, vocals, accompaniment in songs:
        vocal_estimate, accompaniment_estimate = separate(model, mixture, spec)
        vocal_scores.append(sdr_db(vocals, vocal_estimate))
        accompaniment_scores.append(sdr_db(accompaniment, accompaniment_estimate))
    return {
        "vocals": round(float(np.median(vocal_scores)), 3),
        "accompaniment": round(float(np.median(accompaniment_scores)), 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", help="NAME=CHECKPOINT")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    items = list(load_musdb18_7s(DATA, RATE))
    stereo = [(i.mixture, i.vocals, i.accompaniment) for i in items]
    mono = [tuple(_dual_mono(a) for a in song) for song in stereo]
    results: dict[str, dict] = {}
    for named in args.checkpoints:
        name, path = named.split("=", 1)
        model, state = load_checkpoint(path)
        contract = state["contract"]
        spec = StftSpec(contract["n_fft"], contract["hop_samples"], contract["window"])
        result = {
            "checkpoint": path,
            "stereo": _median_scores(model, spec, stereo),
            "dual_mono": _median_scores(model, spec, mono),
        }
        if model.config.stereo_cue:
            original = spectral.stereo_cue_rows
            spectral.stereo_cue_rows = lambda spectrum, rows=original: torch.zeros_like(
                rows(spectrum)
            )
            try:
                result["cue_zeroed"] = _median_scores(model, spec, stereo)
            finally:
                spectral.stereo_cue_rows = original
        results[name] = result
        print(name, result, file=sys.stderr)
    if args.out:
        write_measured(args.out, {"songs": len(items), "models": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
