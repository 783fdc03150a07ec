"""The engine, as it ships, as a separator for the quality reports:
``(mixture (channels, samples), sample_rate_hz) -> (vocals, accompaniment)``.

It runs the ONNX model of a configuration (``config.yaml``, with ``--set``-style overrides such
as ``engine.a_cappella_gate=true``) through the offline pipeline, ``unsing separate --mode
offline``: the live engine's output to float32 round-off (tests/test_engine.py), so its
engine-side features (the a cappella gate) are scored as a listener gets them. Mono input is
duplicated to the model's channels and averaged back; other rates are resampled with soxr and
back (:func:`unsing.models.model_format.at_model_format`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from unsing.config import load_config
from unsing.models.model_format import at_model_format
from unsing.realtime.offline import offline_vocals


class EngineSeparator:
    """Separate with the configured ONNX model and engine settings (``overrides``:
    ``section.key=value`` strings on the shipped ``config.yaml``)."""

    def __init__(self, overrides: Sequence[str] = ()) -> None:
        self.config = load_config(overrides=list(overrides))

    def _stems(self, signal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        vocals = np.concatenate(list(offline_vocals(self.config, [signal.T]))).T
        return vocals, signal - vocals

    def __call__(self, mixture: np.ndarray, sample_rate_hz: int) -> tuple[np.ndarray, np.ndarray]:
        """``(channels, samples)`` at any rate -> ``(vocals, accompaniment)``, same shape."""
        contract = self.config.contract
        return at_model_format(
            self._stems, mixture, sample_rate_hz, contract.sample_rate_hz, contract.channels
        )


def parse_engine_spec(text: str) -> tuple[str, list[str]]:
    """``NAME`` or ``NAME:KEY=VALUE[,KEY=VALUE...]`` (``--engine``) -> name, overrides."""
    name, _, settings = text.partition(":")
    if not name.strip():
        raise ValueError(f"--engine {text!r}: give a name, e.g. gated:engine.a_cappella_gate=true")
    return name.strip(), [item.strip() for item in settings.split(",") if item.strip()]
