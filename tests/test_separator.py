"""CheckpointSeparator: any rate, mono or stereo in; stems of the input's shape that sum to it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import require_module, write_tiny_checkpoint

torch = require_module("torch")

from unsing.models.separator import CheckpointSeparator  # noqa: E402


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return write_tiny_checkpoint(tmp_path_factory.mktemp("sep") / "m.pt", tcn_dilations=(1, 2))


@pytest.mark.parametrize(("channels", "rate"), [(2, 44100), (1, 44100), (2, 16000), (1, 48000)])
def test_stems_have_the_input_shape_and_sum_to_the_mixture(checkpoint, channels, rate) -> None:
    separator = CheckpointSeparator(checkpoint)
    t = np.arange(rate) / rate  # band-limited: tones below 0.35 x the input rate
    mixture = np.stack(
        [
            sum(0.05 * np.sin(2 * np.pi * hz * t + c) for hz in (110, 440, 1234, 0.35 * rate))
            for c in range(channels)
        ]
    ).astype(np.float32)
    vocals, accompaniment = separator(mixture, rate)
    assert vocals.shape == accompaniment.shape == mixture.shape
    assert vocals.dtype == np.float32
    # mask + (1 - mask) = 1: the stems add back to the mixture; resampling there and back costs
    # < 1e-5 away from the edges (the resampler's filter transients)
    error = np.abs(vocals + accompaniment - mixture)
    assert error.max() < 1e-6 if rate == 44100 else error[:, 500:-500].max() < 2e-5
    assert np.abs(vocals).max() > 0 and np.abs(accompaniment).max() > 0
