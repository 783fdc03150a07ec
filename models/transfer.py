"""Warm-start a U-Net from a checkpoint trained with another STFT size or temporal depth.

Only a few tensors depend on the number of frequency bins; every convolution slides along
frequency, so its weights carry over as they are (each tap now spans a different number of Hz,
which fine-tuning adapts to). The bin-dependent tensors are resampled along frequency:

* the learned input normalisation (``input_scale``, ``input_shift``: one value per STFT bin) is
  interpolated at each new bin's frequency;
* ``tcn_out`` (coarse features out, one row per channel and coarse frequency band) is
  interpolated at each new band's centre frequency;
* ``tcn_in`` (a weighted sum over channels and coarse bands) is interpolated the same way and
  scaled by ``old_bands / new_bands``, so a feature map that is constant along frequency gives
  the same temporal-stack input as before.

Temporal blocks are matched by position: blocks the checkpoint lacks keep their fresh
initialisation (a residual block starts near identity), blocks the new model lacks are dropped.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from unsing.models.unet import CausalUNet, UNetConfig


def _interpolate_bins(
    values: torch.Tensor, axis: int, new_length: int, centred: bool
) -> torch.Tensor:
    """Resample ``values`` along ``axis`` to ``new_length`` points over the same frequency range.

    ``centred``: entries stand for bands (band ``i`` centred at ``(i + 0.5) / n`` of the range);
    otherwise for bins at frequencies ``i / n`` of the range (bin 0 is DC).
    """
    old_length = values.shape[axis]
    if centred:
        old_positions = (np.arange(old_length) + 0.5) / old_length
        new_positions = (np.arange(new_length) + 0.5) / new_length
    else:
        old_positions = np.arange(old_length) / old_length
        new_positions = np.arange(new_length) / new_length
    moved = np.moveaxis(values.detach().cpu().double().numpy(), axis, -1)
    flat = moved.reshape(-1, old_length)
    resampled = np.stack([np.interp(new_positions, old_positions, row) for row in flat])
    shaped = resampled.reshape(*moved.shape[:-1], new_length)
    return torch.from_numpy(np.moveaxis(shaped, -1, axis).copy()).to(values.dtype)


def _coarse_bins(arch: UNetConfig) -> int:
    return (arch.bins - 1) // 2 ** len(arch.widths)


def transferable(source: UNetConfig, target: UNetConfig) -> str | None:
    """Why ``source`` weights cannot warm-start ``target`` (None when they can)."""
    for key in ("audio_channels", "widths", "time_kernel", "tcn_channels", "negative_slope"):
        if getattr(source, key) != getattr(target, key):
            return f"{key} differs ({getattr(source, key)} vs {getattr(target, key)})"
    return None


def transfer_state(
    state: dict[str, torch.Tensor], source: UNetConfig, model: CausalUNet
) -> dict[str, Any]:
    """Load ``state`` (a ``source``-architecture state dict) into ``model``, resampling the
    frequency-dependent tensors and matching temporal blocks by position.

    Returns a record of what was adapted: ``{"resampled": [...], "fresh": [...],
    "dropped": [...]}`` (parameter names).
    """
    target = model.config
    reason = transferable(source, target)
    if reason is not None:
        raise ValueError(f"cannot transfer weights: {reason}")
    width = target.widths[-1]
    old_bands, new_bands = _coarse_bins(source), _coarse_bins(target)
    own = model.state_dict()
    loaded: dict[str, torch.Tensor] = {}
    resampled: list[str] = []
    dropped: list[str] = []
    for name, tensor in state.items():
        if name not in own:
            dropped.append(name)
            continue
        if tensor.shape == own[name].shape:
            loaded[name] = tensor
            continue
        if name in ("input_scale", "input_shift"):
            loaded[name] = _interpolate_bins(tensor, 2, target.bins - 1, centred=False)
        elif name == "tcn_in.weight":  # (tcn, width * bands, 1)
            grid = tensor.reshape(tensor.shape[0], width, old_bands)
            grid = _interpolate_bins(grid, 2, new_bands, centred=True) * (old_bands / new_bands)
            loaded[name] = grid.reshape(tensor.shape[0], width * new_bands, 1)
        elif name == "tcn_out.weight":  # (width * bands, tcn, 1)
            grid = tensor.reshape(width, old_bands, tensor.shape[1])
            grid = _interpolate_bins(grid, 1, new_bands, centred=True)
            loaded[name] = grid.reshape(width * new_bands, tensor.shape[1], 1)
        elif name == "tcn_out.bias":  # (width * bands,)
            grid = _interpolate_bins(tensor.reshape(width, old_bands), 1, new_bands, centred=True)
            loaded[name] = grid.reshape(width * new_bands)
        else:
            raise ValueError(
                f"cannot transfer weights: {name} is {tuple(tensor.shape)} in the checkpoint and "
                f"{tuple(own[name].shape)} in the model"
            )
        resampled.append(name)
    fresh = sorted(set(own) - set(loaded))
    own.update(loaded)
    model.load_state_dict(own)
    return {"resampled": resampled, "fresh": fresh, "dropped": dropped}
