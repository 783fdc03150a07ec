"""Loading a trained model from its checkpoint (``.pt``: weights, architecture, contract)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from unsing.models.unet import CausalUNet, UNetConfig


def load_checkpoint(path: Path | str) -> tuple[CausalUNet, dict[str, Any]]:
    """A trained model (eval mode) and its checkpoint dict."""
    state = torch.load(Path(path), map_location="cpu", weights_only=False)
    model = CausalUNet(UNetConfig.from_dict(state["architecture"]))
    model.load_state_dict(state["model_state"])
    return model.eval(), state
