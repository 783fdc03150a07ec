"""Hot-path discipline: after warm-up, the engine's per-hop work allocates no arrays.

tracemalloc sees numpy's data buffers; one (channels, bins) complex frame is 16 KB. The peak
of traced memory while 250 hops run must stay below 4 KB above where it started (Python's own
small objects: floats, numpy scalars), and nothing may accumulate.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from unsing.config import load_config
from unsing.realtime.engine import SeparationEngine
from unsing.realtime.onnx_model import OnnxMaskModel

PEAK_LIMIT_BYTES = 4096


@pytest.mark.parametrize(
    ("overrides", "stems"),
    [
        ([], False),
        ([], True),
        (["engine.resynthesis=griffin_lim"], False),
        (["model.graph=window"], False),
        (["engine.deadline_policy=pass_through"], False),
        (["engine.key_semitones=3", "engine.key_cents=-20"], False),
        (["engine.key_semitones=-4"], True),
    ],
)
def test_engine_hops_allocate_no_arrays(overrides, stems) -> None:
    config = load_config(overrides=overrides)
    engine = SeparationEngine(config, OnnxMaskModel(config), deadline=True, stems=stems)
    hop = config.contract.stft.hop_samples
    signal = (0.1 * np.random.default_rng(0).standard_normal((hop * 700, 2))).astype(np.float32)
    output = np.zeros((signal.shape[0], engine.output_channels), np.float32)
    for start in range(0, hop * 100, hop):  # warm-up: onnxruntime's arenas, caches
        engine.process(signal[start : start + hop], output[start : start + hop])
    tracemalloc.start()
    try:
        for start in range(hop * 100, hop * 450, hop):  # tracemalloc's and onnxruntime's
            engine.process(signal[start : start + hop], output[start : start + hop])
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for start in range(hop * 450, hop * 700, hop):
            engine.process(signal[start : start + hop], output[start : start + hop])
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - baseline < PEAK_LIMIT_BYTES, peak - baseline
    assert current - baseline < 1024, current - baseline
    assert engine.stats.count("hops") == 700
