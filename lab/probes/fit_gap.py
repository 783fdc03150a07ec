"""Issue 31: is the model short of capacity or of produced songs? The per-epoch validation
metric of ``unsing train`` (waveform SDR, median; the PyTorch model as ``validate`` runs it) on
the 79 musdb18-7s *training* songs against the 14 validation songs, for each checkpoint.

A model that trained on the 79 songs and scores on them as on the held-out 14 is under-fitting
(a bigger network or a longer run is the lever); one far better on its own songs is over-fitting
them (more songs are). The start, which never saw either side, gives the two sides' own
difference.

With ``--pairs FOLDER`` it also scores the first ``--pair-songs`` songs of a folder of pairs
(``vocals/``, ``accompaniment/``, as ``lab/synth_songs.py`` writes), a 7 s excerpt from the
middle of each, as a third split ``pairs``: how well a model fits material it trained on.

With ``--against NAME`` it also reports each checkpoint's median per-song change against that
one, per split: paired, so less noisy than a difference of medians over 14 songs.

    python -m lab.probes.fit_gap NAME=CKPT [NAME=CKPT ...] [--uncalibrated] [--against NAME]
        [--pairs FOLDER [--pair-songs N]] [--out JSON]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

from lab.probes.scores import changes_per_split, report, score_checkpoints
from unsing.models.data import (
    MUSDB7S_LICENCE,
    ValidationItem,
    musdb7s_tracks,
    read_folder_pairs,
    read_stem_pair,
)

DATA = Path("/work/shared/data")
RATE = 44100
SPLITS = ("train", "validation")
#: Length of the excerpt scored per song of ``--pairs``: the musdb18-7s songs' length.
PAIR_EXCERPT_S = 7.0


def songs(split: str) -> list[ValidationItem]:
    """The musdb18-7s songs of ``split`` (one of :data:`SPLITS`), stereo stems; the split is the
    items' set name, so ``validate`` reports the two apart."""
    items = []
    for track in musdb7s_tracks(DATA, split):
        vocals, accompaniment = read_stem_pair(track, RATE)
        items.append(ValidationItem(split, track.name, vocals, accompaniment, RATE))
    return items


def folder_songs(folder: Path, count: int) -> list[ValidationItem]:
    """The first ``count`` pairs of ``folder`` (by name), a :data:`PAIR_EXCERPT_S` excerpt
    from the middle of each, as items of the split ``pairs``."""
    pairs = read_folder_pairs(folder / "vocals", folder / "accompaniment", RATE)[:count]
    length = int(PAIR_EXCERPT_S * RATE)
    items = []
    for name, vocals, accompaniment in pairs:
        start = max(0, (vocals.shape[1] - length) // 2)
        cut = slice(start, start + length)
        items.append(ValidationItem("pairs", name, vocals[:, cut], accompaniment[:, cut], RATE))
    return items


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.probes.fit_gap")
    parser.add_argument("checkpoints", nargs="+", help="NAME=PATH")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--uncalibrated", action="store_true", help="remove each checkpoint's calibration"
    )
    parser.add_argument("--against", default=None, help="NAME: report per-song changes")
    parser.add_argument("--pairs", type=Path, default=None, help="FOLDER: a split of pairs")
    parser.add_argument("--pair-songs", type=int, default=40, help="songs of --pairs scored")
    args = parser.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    items = [item for split in SPLITS for item in songs(split)]
    if args.pairs is not None:
        items += folder_songs(args.pairs, args.pair_songs)
    splits = dict.fromkeys(item.set_name for item in items)
    result: dict[str, dict] = {
        "licence": MUSDB7S_LICENCE,
        "songs": {split: sum(item.set_name == split for item in items) for split in splits},
        "median_sdr_db": {},
        "sdr_db": {},
    }
    score_checkpoints(result, args.checkpoints, items, args.uncalibrated)
    if args.against is not None:
        result["against"] = args.against
        result["median_change_per_song_db"] = changes_per_split(result["sdr_db"], args.against)
    report(result, args.out, "waveform SDR, dB (unsing train's validation)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
