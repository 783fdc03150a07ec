"""Summaries the issue-31 probes share: per-song SDRs (dB) by name and stem, their medians, the
median over songs of each song's change against a baseline, and the printed and written result
(causal_mwf, produced_bands, fit_gap)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from unsing.models.train import median_per_set

#: ``scores[name][stem]``: one SDR (dB) per song, the songs in the same order for every name.
Scores = dict[str, dict[str, list[float]]]


def change_per_song_median(scores: Scores, baseline: str) -> dict[str, dict[str, float]]:
    """For every name but ``baseline``, per stem, the median over songs of each song's change
    against ``baseline`` (paired: steadier than a difference of medians)."""
    return {
        name: {
            stem: round(float(np.median(np.subtract(values, scores[baseline][stem]))), 3)
            for stem, values in stems.items()
        }
        for name, stems in scores.items()
        if name != baseline
    }


def changes_per_split(
    sdr_db: dict[str, dict[str, dict[str, list[float]]]], against: str
) -> dict[str, dict[str, dict[str, float]]]:
    """Median per-song change of every checkpoint but ``against`` against it, per split and
    stem (the songs are in the same order for every checkpoint)."""
    splits = sdr_db[against]
    per_split = {
        split: change_per_song_median({name: s[split] for name, s in sdr_db.items()}, against)
        for split in splits
    }
    return {
        name: {split: per_split[split][name] for split in splits}
        for name in sdr_db
        if name != against
    }


def median_summary(scores: Scores, baseline: str) -> dict:
    """Per name, the medians of ``scores`` and the median per-song change against ``baseline``."""
    return {
        "songs": len(scores[baseline]["vocals"]),
        "fast_sdr_median": median_per_set(scores),
        "change_per_song_median": change_per_song_median(scores, baseline),
    }


def report(result: dict, out: Path | None, metric: str = "fast SDR, dB") -> None:
    """Print ``result``; with ``out``, also write it, its ``metric`` named, with the machine's
    description."""
    print(json.dumps(result, indent=2))
    if out is not None:
        from unsing.benchmarks.machine import write_measured

        write_measured(out, {"metric": metric, **result})
