"""What the key change's long-band switch-off costs: the default engine's stems with its
long-window band (key 0) against the U-Net's mask alone on every bin (what the engine uses
while the key is changed), at key 0 so that the references are the true stems.

Fast SDR (10 log10 |s|^2 / |s - s_hat|^2 per clip, channels summed), median over the
held-out MIR-1K clips (mono, vocals = accompaniment at 0 dB) and the musdb18-7s validation
songs; the engine renders each frame with its own mask (``play --to``'s order).

    python -m lab.probes.key_change_band [--out benchmarks/results/experiments/key-change-band.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from unsing.config import load_config
from unsing.models.data import load_mir1k_validation, load_musdb18_7s
from unsing.models.metrics import sdr_db
from unsing.realtime.engine import SeparationEngine
from unsing.realtime.onnx_model import OnnxMaskModel
from unsing.realtime.render import render_stems

DATA = Path("/work/shared/data")


def stems(model: OnnxMaskModel, mixture: np.ndarray, band: bool) -> tuple:
    config = load_config()
    engine = SeparationEngine(config, model, stems=True)
    if not band:
        engine.long_band = None  # the U-Net's mask on every bin, no long-window overlap-add
    engine.reset()
    return render_stems(engine, mixture)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.probes.key_change_band")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    model = OnnxMaskModel(load_config())
    rate = 44100
    sets = {
        "mir1k": load_mir1k_validation(DATA, rate),
        "musdb18_7s": load_musdb18_7s(DATA, rate),
    }
    result: dict = {}
    for name, items in sets.items():
        rows = {label: {"vocals": [], "accompaniment": []} for label in ("band", "unet")}
        for item in items:
            mixture = item.vocals + item.accompaniment
            for label, band in (("band", True), ("unet", False)):
                vocals, accompaniment = stems(model, mixture, band)
                rows[label]["vocals"].append(sdr_db(item.vocals, vocals))
                rows[label]["accompaniment"].append(sdr_db(item.accompaniment, accompaniment))
        result[name] = {
            "clips": len(rows["band"]["vocals"]),
            **{
                label: {stem: round(float(np.median(v)), 3) for stem, v in values.items()}
                for label, values in rows.items()
            },
            "change_median_per_clip": {
                stem: round(
                    float(np.median(np.array(rows["unet"][stem]) - np.array(rows["band"][stem]))), 3
                )
                for stem in ("vocals", "accompaniment")
            },
        }
        print(name, json.dumps(result[name]), flush=True)
    if args.out is not None:
        from unsing.benchmarks.machine import write_measured

        write_measured(args.out, {"metric": "fast SDR, dB", **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
