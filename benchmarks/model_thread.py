"""What the live model thread's order costs in quality: each hop with the previous frame's mask.

With ``engine.model_thread`` (the default) the live engine resynthesises hop ``t`` with the mask
of frame ``t - 1`` while frame ``t`` runs in the model thread. This renders the held-out sets
through the streaming engine both ways, each frame's own mask and the previous one
(``SeparationEngine(previous_mask=True)``: the live output whenever the thread is on time), and
scores both as the quality report does (BSS Eval v4, median over 1 s windows, then over tracks).

    python -m unsing.benchmarks.model_thread [--sets musdb18-7s,eif-sodium] [--max-items N]

Writes ``benchmarks/results/model_thread.json``. Needs the bench extra (museval).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from unsing.benchmarks.machine import describe_machine
from unsing.benchmarks.stability import RESULTS
from unsing.config import load_config
from unsing.models.data import default_data_root
from unsing.models.quality import (
    SAMPLE_RATE_HZ,
    VALIDATION_SETS,
    json_number,
    median_over_tracks,
    score_track,
)

ORDERS = {"own_mask": False, "previous_mask": True}


def run(sets: list[str], max_items: int | None, data_root: Path) -> dict[str, Any]:
    """Median scores per set and order, and the previous mask's difference."""
    from unsing.realtime.engine import SeparationEngine
    from unsing.realtime.onnx_model import OnnxMaskModel
    from unsing.realtime.render import render_stems

    config = load_config()
    model = OnnxMaskModel(config)
    results: dict[str, Any] = {}
    for name in sets:
        validation = VALIDATION_SETS[name]
        scores: dict[str, list] = {order: [] for order in ORDERS}
        for track in validation.load(data_root, max_items):
            for order, previous in ORDERS.items():
                engine = SeparationEngine(config, model, stems=True, previous_mask=previous)
                vocals, accompaniment = render_stems(engine, track.mixture)
                scores[order].append(
                    score_track(
                        track.vocals,
                        track.accompaniment,
                        vocals,
                        accompaniment,
                        SAMPLE_RATE_HZ,
                        validation.reference_noise_floor_db,
                    )
                )
        medians = {order: median_over_tracks(rows) for order, rows in scores.items()}
        per_track_sdr_change = {
            stem: float(
                np.nanmean(
                    [
                        late[stem]["SDR"] - own[stem]["SDR"]
                        for own, late in zip(
                            scores["own_mask"], scores["previous_mask"], strict=True
                        )
                    ]
                )
            )
            for stem in ("vocals", "accompaniment")
        }
        results[name] = {
            "tracks": len(scores["own_mask"]),
            "median_sdr_db": {
                order: {stem: json_number(m[stem]["SDR"]) for stem in m}
                for order, m in medians.items()
            },
            "mean_sdr_change_db": {
                stem: json_number(value) for stem, value in per_track_sdr_change.items()
            },
        }
        print(f"model_thread: {name}: {json.dumps(results[name])}", file=sys.stderr, flush=True)
    return {
        "machine": describe_machine(),
        "model": str(config.model.path.name),
        "about": "streaming engine renders, stems; previous_mask: each hop resynthesised with "
        "the mask of the frame before (the live model thread's order)",
        "sets": results,
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m unsing.benchmarks.model_thread``."""
    parser = argparse.ArgumentParser(prog="python -m unsing.benchmarks.model_thread")
    parser.add_argument("--sets", default="musdb18-7s,eif-sodium,musdb18-sample,mir1k")
    parser.add_argument("--max-items", type=int, default=None, help="tracks per set")
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--out", default=str(RESULTS / "model_thread.json"))
    args = parser.parse_args(argv)
    sets = [name for name in args.sets.split(",") if name]
    unknown = [name for name in sets if name not in VALIDATION_SETS]
    if unknown:
        parser.error(f"unknown set(s) {', '.join(unknown)}; known: {', '.join(VALIDATION_SETS)}")
    document = run(sets, args.max_items, args.data_root or default_data_root())
    Path(args.out).write_text(json.dumps(document, indent=2) + "\n")
    print(f"model_thread: wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
