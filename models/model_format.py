"""A separator's stems in the mixture's own format: the mixture resampled (soxr) and mixed to
the model's rate and channels, the stems brought back to the mixture's rate, channels and
length. Shared by the quality reports' separators (the checkpoint's and the engine's); no torch
and no engine here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import soxr


def at_model_format(
    separate: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    mixture: np.ndarray,
    sample_rate_hz: int,
    model_rate_hz: int,
    model_channels: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``separate`` (float32 ``(model_channels, samples)`` at ``model_rate_hz`` -> two stems)
    on ``mixture`` ``(channels, samples)`` at ``sample_rate_hz``; the stems come back in the
    mixture's rate, channels and length (float32)."""
    channels, num_samples = mixture.shape
    signal = mixture.astype(np.float32)
    if sample_rate_hz != model_rate_hz:
        signal = soxr.resample(signal.T, sample_rate_hz, model_rate_hz).T
    if channels != model_channels:
        signal = np.repeat(signal.mean(axis=0, keepdims=True), model_channels, axis=0)
    results = []
    for stem in separate(np.ascontiguousarray(signal, np.float32)):
        if channels != model_channels:
            stem = stem.mean(axis=0, keepdims=True).repeat(channels, axis=0)
        if sample_rate_hz != model_rate_hz:
            stem = soxr.resample(stem.T, model_rate_hz, sample_rate_hz).T
        fitted = np.zeros((channels, num_samples), np.float32)
        length = min(num_samples, stem.shape[-1])
        fitted[:, :length] = stem[:, :length]
        results.append(fitted)
    return results[0], results[1]
