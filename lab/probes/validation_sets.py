"""Issue 31: score checkpoints on a recipe's per-epoch validation sets, as ``unsing train``
validates after each epoch (waveform SDR, median per set; the PyTorch model), so that a run's
checkpoints can be compared after a step the run itself never validated, e.g. calibrated by
``python -m unsing.models.calibrate``. With ``--against NAME`` it adds each checkpoint's median
per-item change against that one, per set (paired, steadier than a difference of medians).

    python -m lab.probes.validation_sets NAME=CKPT [NAME=CKPT ...] [--recipe YAML]
        [--stage NAME] [--set KEY=VALUE ...] [--against NAME] [--out JSON]

Checkpoints are scored as saved: a calibrated one with its calibration folded in.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch

from lab.probes.scores import changes_per_split, report, score_checkpoints
from unsing.models.data import Manifest
from unsing.models.recipe import load_recipe
from unsing.models.train import run_validation_set

PRODUCED_RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "produced.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.probes.validation_sets")
    parser.add_argument("checkpoints", nargs="+", help="NAME=PATH")
    parser.add_argument("--recipe", type=Path, default=PRODUCED_RECIPE)
    parser.add_argument("--stage", default=None, help="a stage of the recipe (validation sets)")
    parser.add_argument(
        "--set", action="append", default=[], dest="overrides", help="KEY=VALUE of the recipe"
    )
    parser.add_argument("--against", default=None, help="NAME: report per-item changes")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    recipe = load_recipe(args.recipe, stage=args.stage, overrides=args.overrides)
    manifest = Manifest()
    items = run_validation_set(recipe, manifest)
    sets = list(dict.fromkeys(item.set_name for item in items))
    result: dict[str, dict] = {
        "recipe": f"{args.recipe.name}, stage {args.stage or '(base)'}",
        "items": {name: sum(i.set_name == name for i in items) for name in sets},
        "validation_manifest_sha1": manifest.as_dict()["sha1"],
        "median_sdr_db": {},
        "sdr_db": {},
    }
    score_checkpoints(result, args.checkpoints, items, uncalibrated=False)
    if args.against is not None:
        result["against"] = args.against
        result["median_change_per_item_db"] = changes_per_split(result["sdr_db"], args.against)
    report(result, args.out, "waveform SDR, dB (unsing train's validation)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
