"""A trained checkpoint as a separator for the quality report:
``(mixture (channels, samples), sample_rate_hz) -> (vocals, accompaniment)``.

It runs the model causally, exactly as the live engine computes it: frame ``t``'s mask sees only
frames up to ``t + lookahead_frames`` (the whole-sequence forward of the causal network equals
the frame-by-frame streaming form; see tests/test_model.py). Mono input is duplicated to the
model's channels and averaged back; other rates are resampled with soxr and back
(:func:`unsing.models.model_format.at_model_format`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from unsing.models.checkpoint import load_checkpoint
from unsing.models.model_format import at_model_format
from unsing.models.train import separate
from unsing.stft import StftSpec


class CheckpointSeparator:
    """Separate with a trained checkpoint (CPU, one torch thread by default)."""

    def __init__(self, checkpoint: Path | str, threads: int = 1) -> None:
        self.model, state = load_checkpoint(checkpoint)
        self.state = state
        contract = state["contract"]
        self.sample_rate_hz = int(contract["sample_rate_hz"])
        self.channels = int(contract["channels"])
        self.spec = StftSpec(
            int(contract["n_fft"]), int(contract["hop_samples"]), str(contract["window"])
        )
        self.threads = threads

    def __call__(self, mixture: np.ndarray, sample_rate_hz: int) -> tuple[np.ndarray, np.ndarray]:
        """``(channels, samples)`` at any rate -> ``(vocals, accompaniment)``, same shape."""
        return at_model_format(
            self._stems, mixture, sample_rate_hz, self.sample_rate_hz, self.channels
        )

    def _stems(self, signal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        previous_threads = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            vocals, accompaniment = separate(self.model, signal, self.spec)
        finally:
            torch.set_num_threads(previous_threads)
        return vocals, accompaniment
