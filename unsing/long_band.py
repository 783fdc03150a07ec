"""Where the long-window band and the U-Net's mask meet: the layout and the crossover.

A model with a long band (``models/unet.py``, :class:`LongBandNet`) outputs two masks per frame:
the project STFT's (the U-Net) and the long-window STFT's lowest ``output_bins`` bins
(``unsing.stft.LongWindowSpec``). The vocals are

    istft(mask * short_weights * X) + long_istft(long_mask * long_weights * X_long)

with raised-cosine crossover weights: the long band's weight is 1 below long-STFT bin
``crossover_bins[0]``, 0 above ``crossover_bins[1]``; the U-Net's is one minus the same curve
at its own bins' frequencies. Both
resyntheses have the project STFT's latency. With both masks at 1 the sum is the mixture up to
the crossover's mismatch between the two filter banks (about -50 dB); the accompaniment is the
mixture minus the vocals, so unity gains stay exact.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from unsing.stft import LongWindowSpec, StftSpec, istft


def raised_cosine_low(positions: np.ndarray, low: float, high: float) -> np.ndarray:
    """1 below ``low``, 0 above ``high``, a raised cosine between (float64)."""
    position = np.clip((np.asarray(positions, np.float64) - low) / (high - low), 0.0, 1.0)
    return 0.5 * (1.0 + np.cos(np.pi * position))


@dataclass(frozen=True)
class LongBandLayout:
    """The long band of a model: its STFT, its bins and its crossover."""

    spec: LongWindowSpec
    input_bins: int
    output_bins: int
    crossover_bins: tuple[float, float]

    def __post_init__(self) -> None:
        if not (0 < self.output_bins <= self.input_bins <= self.spec.bins):
            raise ValueError(
                f"long band: need 0 < output bins {self.output_bins} <= input bins "
                f"{self.input_bins} <= {self.spec.bins}"
            )
        low, high = self.crossover_bins
        if not 0 < low < high <= self.output_bins - 1:
            raise ValueError(
                f"long band crossover {list(self.crossover_bins)} (long-STFT bins) must rise "
                f"and end at or below its top output bin {self.output_bins - 1}"
            )

    @classmethod
    def from_architecture(
        cls, architecture: Mapping[str, Any], short: StftSpec
    ) -> LongBandLayout | None:
        """The layout a model's architecture (checkpoint or ONNX contract) describes, or None."""
        samples = int(architecture.get("long_band_analysis_samples", 0) or 0)
        if not samples:
            return None
        low, high = (float(v) for v in architecture["long_band_crossover_bins"])
        return cls(
            LongWindowSpec(samples, short),
            int(architecture["long_band_input_bins"]),
            int(architecture["long_band_bins"]),
            (low, high),
        )

    def crossover_hz(self, sample_rate_hz: float) -> tuple[float, float]:
        """The crossover in Hz at ``sample_rate_hz``."""
        bin_hz = self.spec.bin_hz(sample_rate_hz)
        return self.crossover_bins[0] * bin_hz, self.crossover_bins[1] * bin_hz

    def long_weights(self) -> np.ndarray:
        """The long band's share of each of its ``output_bins`` bins, ``(output_bins,)``."""
        return raised_cosine_low(np.arange(self.output_bins), *self.crossover_bins)

    def short_weights(self) -> np.ndarray:
        """The U-Net's share of each project-STFT bin, ``(bins,)``: one minus the long band's
        curve at the same frequencies."""
        short = self.spec.short
        positions = np.arange(short.bins) * (self.spec.analysis_samples / short.n_fft)
        return 1.0 - raised_cosine_low(positions, *self.crossover_bins)


def model_input(
    short_spectrum: np.ndarray, long_spectrum: np.ndarray | None, layout: LongBandLayout | None
) -> np.ndarray:
    """The model's input magnitudes ``(..., input_bins, frames)``: the STFT's, then (long band)
    the long-window STFT's lowest ``layout.input_bins``."""
    magnitude = np.abs(short_spectrum)
    if layout is None or long_spectrum is None:
        return magnitude
    return np.concatenate([magnitude, np.abs(long_spectrum[..., : layout.input_bins, :])], -2)


def hybrid_vocals(
    signal: np.ndarray,
    short_spectrum: np.ndarray,
    long_spectrum: np.ndarray,
    masks: np.ndarray,
    layout: LongBandLayout,
) -> np.ndarray:
    """Vocals ``(..., samples)`` of ``signal`` from a long-band model's ``masks``
    ``(..., bins + output_bins, frames)``: the U-Net's above the crossover, the long band's
    below it (one-shot transforms; the engine streams the same sum)."""
    short = layout.spec.short
    mask, long_mask = masks[..., : short.bins, :], masks[..., short.bins :, :]
    num_samples = signal.shape[-1]
    vocals = istft(short_spectrum * (mask * layout.short_weights()[:, None]), short, num_samples)
    long_part = np.zeros_like(long_spectrum)
    long_part[..., : layout.output_bins, :] = long_spectrum[..., : layout.output_bins, :] * (
        long_mask * layout.long_weights()[:, None]
    )
    return vocals + istft(long_part, layout.spec, num_samples)
