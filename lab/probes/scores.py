"""Summaries the issue-31 probes share: per-song SDRs (dB) by name and stem, their medians, the
median over songs of each song's change against a baseline, checkpoints scored as ``unsing
train`` validates, and the printed and written result (causal_mwf, produced_bands, fit_gap,
validation_sets)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from unsing.models.calibrate import without_calibration
from unsing.models.checkpoint import load_checkpoint
from unsing.models.data import ValidationItem
from unsing.models.train import median_per_set, validation_scores
from unsing.models.unet import CausalUNet
from unsing.stft import StftSpec

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


def load_model(checkpoint: Path, uncalibrated: bool) -> tuple[CausalUNet, StftSpec]:
    """The checkpoint's model and STFT; ``uncalibrated`` removes a folded calibration first (as
    a fine-tune starts from it)."""
    model, state = load_checkpoint(checkpoint)
    if uncalibrated and state.get("calibration"):
        model.load_state_dict(without_calibration(state["model_state"], state["calibration"]))
    contract = state["contract"]
    return model, StftSpec(contract["n_fft"], contract["hop_samples"], contract["window"])


def score_checkpoints(
    result: dict, checkpoints: list[str], items: list[ValidationItem], uncalibrated: bool
) -> None:
    """Score each ``NAME=PATH`` of ``checkpoints`` on ``items`` as ``unsing train`` validates
    (waveform SDR per item), into ``result["sdr_db"][NAME]`` (per set and stem, the items'
    order) and ``result["median_sdr_db"][NAME]``; ``uncalibrated`` as :func:`load_model`."""
    for entry in checkpoints:
        name, path = entry.split("=", 1)
        model, spec = load_model(Path(path), uncalibrated)
        scores = validation_scores(model, items, spec)
        result["sdr_db"][name] = {
            split: {stem: [round(v, 3) for v in values] for stem, values in stems.items()}
            for split, stems in scores.items()
        }
        result["median_sdr_db"][name] = median_per_set(scores)
        print(name, result["median_sdr_db"][name], flush=True)
