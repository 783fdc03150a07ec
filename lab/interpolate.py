"""Interpolate a model and its fine-tune in weight space (WiSE-FT, Wortsman et al., CVPR 2022).

Issue 31's trade-off: fine-tuning on produced songs gains on them and loses on the other sets
(docs/experiments/produced-v1.md). A fine-tune that starts from a model stays in its basin,
and the straight line between the two often keeps most of the new gain and most of the old
robustness. The interpolated model has the same architecture and the same compute per hop.

    weights(alpha) = (1 - alpha) * START + alpha * TUNED

Every floating-point tensor is interpolated (weights, biases, batch-norm parameters and running
statistics; the calibrations folded into both heads are interpolated with them); integer
counters are the fine-tune's. Both checkpoints must have one architecture and no long band: the
band is fitted afterwards on the interpolated U-Net (``python -m unsing.models.fit_long_band``),
or ``--band-from`` takes the long band of a model whose U-Net has that architecture (the shipped
default: its band was fitted on START; at alpha 0 the output is that model, bit for bit).

Usage (from the repository root)::

    python -m lab.interpolate START.pt TUNED.pt OUT.pt --alpha 0.5 [--band-from BANDED.pt]
"""

from __future__ import annotations

import argparse
import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from unsing.models.unet import UNetConfig


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


def with_band(
    unet: dict[str, torch.Tensor], banded: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """``unet``'s weights with the long band (``long_band.*``) of ``banded``, a model whose
    other weights have the same names."""
    band = {key: value for key, value in banded.items() if key.startswith("long_band.")}
    if not band or set(unet) != set(banded) - set(band):
        raise ValueError(
            "the banded model's U-Net differs from the interpolated one, or has no band"
        )
    return {**unet, **band}


def unet_architecture(architecture: dict[str, Any]) -> dict[str, Any]:
    """A model's description without its long band, as a U-Net without one describes itself."""
    config = UNetConfig.from_dict(architecture)
    return replace(config, long_band_analysis_samples=0).as_dict()


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
    parser.add_argument("--band-from", type=Path, help="take this model's long band (.pt)")
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
    if args.band_from:
        banded = torch.load(args.band_from, map_location="cpu", weights_only=False)
        if unet_architecture(banded["architecture"]) != unet_architecture(tuned["architecture"]):
            raise SystemExit(f"{args.band_from}: its U-Net's architecture differs")
        out["model_state"] = with_band(weights, banded["model_state"])
        out["architecture"] = banded["architecture"]
        out["contract"] = banded["contract"]  # its context includes the band's window
        for key in ("fit", "fitted_by"):  # the band's settings, as fit_long_band records them
            if key in banded:
                out[key] = banded[key]
        out["band_from"] = _record(args.band_from, banded)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(out, args.out)
    print(f"{args.out}: alpha {args.alpha} between {args.start} and {args.tuned}")


if __name__ == "__main__":
    main()
