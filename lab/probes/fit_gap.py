"""Issue 31: is the model short of capacity or of produced songs? The per-epoch validation
metric of ``unsing train`` (waveform SDR, median; the PyTorch model as ``validate`` runs it) on
the 79 musdb18-7s *training* songs against the 14 validation songs, for each checkpoint.

A model that trained on the 79 songs and scores on them as on the held-out 14 is under-fitting
(a bigger network or a longer run is the lever); one far better on its own songs is over-fitting
them (more songs are). The start, which never saw either side, gives the two sides' own
difference.

    python -m lab.probes.fit_gap NAME=CKPT [NAME=CKPT ...] [--uncalibrated] [--out JSON]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from unsing.models.calibrate import without_calibration
from unsing.models.checkpoint import load_checkpoint
from unsing.models.data import MUSDB7S_LICENCE, ValidationItem, musdb7s_tracks, read_stem_pair
from unsing.models.metrics import sdr_db
from unsing.models.train import separate
from unsing.stft import StftSpec

DATA = Path("/work/shared/data")
RATE = 44100


def songs(split: str) -> list[ValidationItem]:
    """The musdb18-7s songs of ``split`` (``train`` or ``validation``), stereo stems."""
    items = []
    for track in musdb7s_tracks(DATA, split):
        vocals, accompaniment = read_stem_pair(track, RATE)
        items.append(ValidationItem(split, track.name, vocals, accompaniment, RATE))
    return items


def scores(
    checkpoint: Path, items: list[ValidationItem], uncalibrated: bool
) -> dict[str, list[float]]:
    """Per-song SDR of both stems, dB; ``uncalibrated`` removes a folded calibration first (as a
    fine-tune starts from it)."""
    model, state = load_checkpoint(checkpoint)
    if uncalibrated and state.get("calibration"):
        model.load_state_dict(without_calibration(state["model_state"], state["calibration"]))
    contract = state["contract"]
    spec = StftSpec(contract["n_fft"], contract["hop_samples"], contract["window"])
    result: dict[str, list[float]] = {"vocals": [], "accompaniment": []}
    with torch.no_grad():
        for item in items:
            vocals, accompaniment = separate(model, item.mixture, spec)
            result["vocals"].append(sdr_db(item.vocals, vocals))
            result["accompaniment"].append(sdr_db(item.accompaniment, accompaniment))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.probes.fit_gap")
    parser.add_argument("checkpoints", nargs="+", help="NAME=PATH")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--uncalibrated", action="store_true", help="remove each checkpoint's calibration"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(int(__import__("os").environ.get("THREADS", "2")))
    splits = {split: songs(split) for split in ("train", "validation")}
    result: dict[str, dict] = {"licence": MUSDB7S_LICENCE, "songs": {}, "median_sdr_db": {}}
    result["songs"] = {split: len(items) for split, items in splits.items()}
    for entry in args.checkpoints:
        name, path = entry.split("=", 1)
        result["median_sdr_db"][name] = {}
        for split, items in splits.items():
            per_song = scores(Path(path), items, args.uncalibrated)
            result["median_sdr_db"][name][split] = {
                stem: round(float(np.median(v)), 3) for stem, v in per_song.items()
            }
        print(name, result["median_sdr_db"][name], flush=True)
    print(json.dumps(result, indent=2))
    if args.out is not None:
        from unsing.benchmarks.machine import write_measured

        write_measured(
            args.out, {"metric": "waveform SDR, dB (unsing train's validation)", **result}
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
