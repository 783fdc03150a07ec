"""Algorithmic latency: the formula, and that it matches the streaming STFT's real delay."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import engine_config

from unsing.config import load_config
from unsing.latency import Latency
from unsing.stft import StreamingIstft, StreamingStft


@pytest.mark.parametrize(
    ("overrides", "contract", "algorithmic_samples"),
    [
        ([], {}, 1024),
        (["audio.blocksize_samples=512"], {}, 1024 + 256),
        ([], {"lookahead_frames": 2}, 1024 + 2 * 256),
        (["audio.blocksize_samples=1024"], {"n_fft": 2048, "hop_samples": 512}, 2048 + 512),
        (
            ["engine.resynthesis=griffin_lim", "engine.griffin_lim_lookahead_frames=3"],
            {},
            1024 + 3 * 256,
        ),
        # Griffin-Lim look-ahead only counts when Griffin-Lim resynthesises
        (["engine.griffin_lim_lookahead_frames=3"], {}, 1024),
    ],
)
def test_formula(overrides: list[str], contract: dict, algorithmic_samples: int) -> None:
    config = engine_config(*overrides, **contract)
    latency = Latency.from_config(config)
    assert latency.algorithmic_samples == algorithmic_samples
    assert latency.stream_delay_samples == algorithmic_samples - config.audio.blocksize_samples
    assert latency.algorithmic_ms == pytest.approx(1000 * algorithmic_samples / 44100)


def test_default_latency_is_under_25_ms() -> None:
    assert Latency.from_config(load_config()).algorithmic_ms <= 25.0


def test_as_dict_has_terms_and_totals() -> None:
    report = Latency.from_config(load_config()).as_dict()
    assert report["algorithmic_samples"] == 1024
    assert report["algorithmic_ms"] == pytest.approx(23.22, abs=0.01)
    assert report["stream_delay_samples"] == 768


def test_stream_delay_matches_the_streaming_stft_measured_by_cross_correlation() -> None:
    """Independent check: push noise through streaming analysis + synthesis and find the delay
    by cross-correlation; it must equal the stream delay the formula gives for blocksize = hop."""
    config = load_config()
    spec = config.contract.stft
    analysis, synthesis = StreamingStft(spec, 1), StreamingIstft(spec, 1)
    noise = np.random.default_rng(5).standard_normal((1, 64 * spec.hop_samples))
    hops = np.split(noise, 64, axis=1)
    output = np.concatenate([synthesis.process(analysis.process(h)).copy() for h in hops], axis=1)
    correlation = np.correlate(output[0], noise[0][: 16 * spec.hop_samples], mode="valid")
    measured = int(np.argmax(correlation))
    assert measured == Latency.from_config(config).stream_delay_samples
