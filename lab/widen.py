"""Warm-start a wider or deeper U-Net from a trained checkpoint without changing its output.

Issue 31's capacity lever (docs/experiments/capacity-v1.md): training a wider network from
scratch needs GPU hours; widening a trained one in place (in the spirit of Net2Net) lets the
2-core machine measure what more channels or a longer temporal stack add when fine-tuned for
the same budget as a control.

The widened model computes exactly the mask of the checkpoint it came from:

* every old channel keeps its weights, batch-norm parameters and running statistics;
* each new channel gets the new model's fresh initialisation for what it reads, so it starts
  with a non-zero, non-symmetric activation;
* the weights from every new channel into every old channel are zero (they receive gradient
  at once, since the new activations are not zero), so the old channels see what they saw;
* new temporal blocks (more ``tcn_dilations``, matched by position) and the new channels of a
  wider temporal stack start with a zero output (``mix`` weights and bias): a residual block
  that is exactly the identity.

Only the U-Net's widths and its temporal stack change; the low band reads the input and is
copied as it is. A checkpoint with a long band is refused (the band is fitted after the U-Net).

Usage (from the repository root)::

    python -m lab.widen CKPT OUT.pt --widths 16 32 48 64 [--tcn-channels 384]
        [--tcn-dilations 1 2 4 8 16 32 64]
"""

from __future__ import annotations

import argparse
import hashlib
from dataclasses import replace
from pathlib import Path

import torch

from unsing.models.unet import CausalUNet, UNetConfig


def _prefix(old: int) -> torch.Tensor:
    return torch.arange(old)


def _channel_maps(old: UNetConfig, new: UNetConfig) -> dict[str, dict[int, torch.Tensor]]:
    """For each parameter of the widened model, the new positions of the old entries along each
    dimension that grew (``{dim: indices}``); dimensions not named keep their size."""
    maps: dict[str, dict[int, torch.Tensor]] = {}
    w_old, w_new = old.widths, new.widths
    coarse = (old.bins - 1) // 2 ** len(old.widths)

    def conv(name: str, out_old: int | None, in_map: torch.Tensor | None) -> None:
        dims: dict[int, torch.Tensor] = {}
        if out_old is not None:
            dims[0] = _prefix(out_old)
        if in_map is not None:
            dims[1] = in_map
        maps[name] = dims

    def norm(prefix: str, channels: int) -> None:
        for key in ("weight", "bias", "running_mean", "running_var"):
            maps[f"{prefix}.{key}"] = {0: _prefix(channels)}

    conv("stem.0.conv.weight", w_old[0], None)
    norm("stem.1", w_old[0])
    for level, width in enumerate(w_old):
        for layer in (0, 3):
            conv(f"encoders.{level}.layers.{layer}.conv.weight", width, _prefix(width))
            norm(f"encoders.{level}.layers.{layer + 1}", width)
        if level + 1 < len(w_old):
            conv(f"downs.{level}.0.conv.weight", w_old[level + 1], _prefix(width))
            norm(f"downs.{level}.1", w_old[level + 1])
    tcn_old = old.tcn_channels
    conv("tcn_in.weight", tcn_old, _prefix(w_old[-1] * coarse))
    maps["tcn_in.bias"] = {0: _prefix(tcn_old)}
    for block in range(len(old.tcn_dilations)):
        conv(f"tcn.{block}.conv.conv.weight", tcn_old, _prefix(tcn_old))
        norm(f"tcn.{block}.norm", tcn_old)
        conv(f"tcn.{block}.mix.weight", tcn_old, _prefix(tcn_old))
        maps[f"tcn.{block}.mix.bias"] = {0: _prefix(tcn_old)}
    conv("tcn_out.weight", w_old[-1] * coarse, _prefix(tcn_old))
    maps["tcn_out.bias"] = {0: _prefix(w_old[-1] * coarse)}
    for index, level in enumerate(reversed(range(len(w_old) - 1))):
        # ConvTranspose2d weights are (in, out, ...): dim 0 reads, dim 1 writes.
        maps[f"ups.{index}.weight"] = {0: _prefix(w_old[level + 1]), 1: _prefix(w_old[level])}
        maps[f"ups.{index}.bias"] = {0: _prefix(w_old[level])}
        # The decoder reads [upsampled (width), skip (width)]: the skip half moves.
        reads = torch.cat([_prefix(w_old[level]), w_new[level] + _prefix(w_old[level])])
        conv(f"decoders.{index}.layers.0.conv.weight", w_old[level], reads)
        norm(f"decoders.{index}.layers.1", w_old[level])
        conv(f"decoders.{index}.layers.3.conv.weight", w_old[level], _prefix(w_old[level]))
        norm(f"decoders.{index}.layers.4", w_old[level])
    maps["head_up.weight"] = {0: _prefix(w_old[0]), 1: _prefix(w_old[0])}
    maps["head_up.bias"] = {0: _prefix(w_old[0])}
    conv("head.weight", None, _prefix(w_old[0]))
    return maps


def _transposed(name: str) -> bool:
    """Whether ``name``'s dim 0 reads and dim 1 writes (transposed convolutions)."""
    return name.startswith(("ups.", "head_up.")) and name.endswith(".weight")


def _residual_output(name: str) -> bool:
    """Whether ``name`` is a temporal block's output (what it adds to its input)."""
    return name.startswith("tcn.") and ".mix." in name


def widen_state(
    state: dict[str, torch.Tensor], old: UNetConfig, new: UNetConfig, seed: int = 0
) -> dict[str, torch.Tensor]:
    """``old``-architecture weights -> a ``new`` state dict with the same output (see module)."""
    _check(old, new)
    torch.manual_seed(seed)
    fresh = CausalUNet(new).state_dict()
    maps = _channel_maps(old, new)
    out: dict[str, torch.Tensor] = {}
    for name, target in fresh.items():
        source = state.get(name)
        if source is not None and source.shape == target.shape:
            out[name] = source.clone()
            continue
        # New blocks, and the new channels of old ones, of the temporal stack add nothing.
        tensor = torch.zeros_like(target) if _residual_output(name) else target.clone()
        if source is None:
            out[name] = tensor
            continue
        dims = maps.get(name)
        if dims is None:
            raise ValueError(f"{name}: {tuple(source.shape)} -> {tuple(target.shape)} unmapped")
        write_dim, read_dim = (1, 0) if _transposed(name) else (0, 1)
        if read_dim in dims:  # old outputs (all of them if none is new) read no new input
            index = [slice(None)] * tensor.dim()
            index[write_dim] = dims.get(write_dim, slice(None))
            tensor[tuple(index)] = 0.0
        grid = [dims.get(d, torch.arange(source.shape[d])) for d in range(source.dim())]
        tensor[torch.meshgrid(*grid, indexing="ij")] = source
        out[name] = tensor
    return out


def _check(old: UNetConfig, new: UNetConfig) -> None:
    if old.long_band_analysis_samples or new.long_band_analysis_samples:
        raise ValueError("widen the U-Net before its long band is fitted (it has one)")
    if len(new.widths) != len(old.widths) or any(
        n < o for n, o in zip(new.widths, old.widths, strict=True)
    ):
        raise ValueError(f"widths {list(new.widths)} must extend {list(old.widths)} level by level")
    if new.tcn_channels < old.tcn_channels:
        raise ValueError(f"tcn_channels {new.tcn_channels} < {old.tcn_channels}")
    if tuple(new.tcn_dilations[: len(old.tcn_dilations)]) != tuple(old.tcn_dilations):
        raise ValueError(
            f"tcn_dilations {list(new.tcn_dilations)} must start with {list(old.tcn_dilations)}"
        )
    for key in ("audio_channels", "bins", "time_kernel", "negative_slope", "low_band_bins"):
        if getattr(old, key) != getattr(new, key):
            raise ValueError(f"{key} differs: {getattr(old, key)} vs {getattr(new, key)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--widths", type=int, nargs="+")
    parser.add_argument("--tcn-channels", type=int)
    parser.add_argument("--tcn-dilations", type=int, nargs="+")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    state = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
    if state.get("calibration"):
        raise SystemExit(f"{args.checkpoint}: calibrated; widen the uncalibrated training state")
    old = UNetConfig.from_dict(state["architecture"])
    new = replace(
        old,
        widths=tuple(args.widths or old.widths),
        tcn_channels=args.tcn_channels or old.tcn_channels,
        tcn_dilations=tuple(args.tcn_dilations or old.tcn_dilations),
    )
    widened = widen_state(state["model_state"], old, new, args.seed)
    record = {
        "path": str(args.checkpoint),
        "sha256": hashlib.sha256(args.checkpoint.read_bytes()).hexdigest(),
        "architecture": old.as_dict(),
        "seed": args.seed,
    }
    keep = ("epoch", "step", "git_commit", "config", "validation_sdr_db", "init_checkpoint")
    out = {key: state[key] for key in keep if key in state}
    out.update(model_state=widened, architecture=new.as_dict(), widened_from=record)
    torch.save(out, args.out)
    old_params = sum(v.numel() for k, v in state["model_state"].items() if "running" not in k)
    new_params = sum(v.numel() for k, v in widened.items() if "running" not in k)
    print(f"{args.out}: {old_params} -> {new_params} tensor entries, same output")


if __name__ == "__main__":
    main()
