"""Interpolate a model and its fine-tune in weight space (WiSE-FT, Wortsman et al., CVPR 2022).

Issue 31's trade-off: fine-tuning on produced songs gains on them and loses on the other sets
(docs/experiments/produced-v1.md). A fine-tune that starts from a model stays in its basin,
and the straight line between the two often keeps most of the new gain and most of the old
robustness. The interpolated model has the same architecture and the same compute per hop.

    weights(alpha) = (1 - alpha) * START + alpha * TUNED

Every floating-point tensor is interpolated (weights, biases, batch-norm parameters and running
statistics; the calibrations folded into both heads are interpolated with them); integer
counters are the fine-tune's. Both checkpoints must have one architecture and no long band (the
band is fitted afterwards on the interpolated U-Net: ``python -m unsing.models.fit_long_band``).

Usage (from the repository root)::

    python -m lab.interpolate START.pt TUNED.pt OUT.pt --alpha 0.5
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Any

import torch


def interpolate_state(
    start: dict[str, torch.Tensor], tuned: dict[str, torch.Tensor], alpha: float
) -> dict[str, torch.Tensor]:
    """``(1 - alpha) * start + alpha * tuned`` for each floating-point tensor; the others are
    ``tuned``'s. The two must hold the same keys and shapes."""
    if start.keys() != tuned.keys():
        raise ValueError(
            f"the weights differ in their names: {sorted(start.keys() ^ tuned.keys())}"
        )
    out: dict[str, torch.Tensor] = {}
    for key, value in tuned.items():
        if start[key].shape != value.shape:
            raise ValueError(f"{key}: shape {tuple(start[key].shape)} vs {tuple(value.shape)}")
        if value.is_floating_point():
            out[key] = torch.lerp(start[key].to(value.dtype), value, alpha)
        else:
            out[key] = value.clone()
    return out


def _record(path: Path, state: dict[str, Any]) -> dict[str, Any]:
    return {
        "path": str(path),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "calibration": state.get("calibration"),
        "validation_sdr_db": state.get("validation_sdr_db"),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("start", type=Path, help="the model the fine-tune started from (.pt)")
    parser.add_argument("tuned", type=Path, help="the fine-tuned model (.pt)")
    parser.add_argument("out", type=Path)
    parser.add_argument("--alpha", type=float, required=True, help="0: START, 1: TUNED")
    args = parser.parse_args(argv)
    start = torch.load(args.start, map_location="cpu", weights_only=False)
    tuned = torch.load(args.tuned, map_location="cpu", weights_only=False)
    if start["architecture"] != tuned["architecture"]:
        raise SystemExit(f"{args.start} and {args.tuned}: different architectures")
    if tuned["architecture"].get("long_band_analysis_samples"):
        raise SystemExit(f"{args.tuned}: has a long band; interpolate the U-Nets, then fit one")
    weights = interpolate_state(start["model_state"], tuned["model_state"], args.alpha)
    keep = ("epoch", "step", "git_commit", "config", "contract", "init_checkpoint", "manifest")
    out = {key: tuned[key] for key in keep if key in tuned}
    out.update(
        model_state=weights,
        architecture=tuned["architecture"],
        interpolated={
            "alpha": args.alpha,
            "start": _record(args.start, start),
            "tuned": _record(args.tuned, tuned),
        },
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(out, args.out)
    print(f"{args.out}: alpha {args.alpha} between {args.start} and {args.tuned}")


if __name__ == "__main__":
    main()
