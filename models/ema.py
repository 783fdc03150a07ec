"""Exponential moving average of a model's weights (and batch-norm statistics) during training.

With a batch of 12 two-second mixes the weights after any one step are noisy: the per-epoch
validation of the shipped runs swings by up to 0.8 dB between neighbouring epochs. The average
of the recent weights is a better model than any one of them; it is what validation scores,
what checkpoints ship (``model_state``) and what the live engine runs.

The decay warms up, ``min(decay, (1 + t) / (10 + t))`` after ``t`` updates, so that a short
fine-tune is not dominated by the weights it started from.
"""

from __future__ import annotations

import torch


class WeightAverage:
    """Averages every floating-point tensor of ``model.state_dict()`` (parameters and buffers).

    Integer buffers (batch norm's ``num_batches_tracked``) are copied.
    """

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def current_decay(self) -> float:
        """The decay the next update uses (warm-up included)."""
        return min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        """Blend the model's current weights in: ``avg = d * avg + (1 - d) * w``."""
        decay = self.current_decay()
        for name, value in model.state_dict().items():
            average = self.state[name]
            if average.dtype.is_floating_point:
                average.mul_(decay).add_(value.detach(), alpha=1.0 - decay)
            else:
                average.copy_(value)
        self.updates += 1

    def restore(self, updates: int, state: dict[str, torch.Tensor]) -> None:
        """Resume an average of ``updates`` updates whose value is ``state`` (a checkpoint's
        ``model_state``)."""
        self.updates = updates
        for name, value in state.items():
            self.state[name].copy_(value)
