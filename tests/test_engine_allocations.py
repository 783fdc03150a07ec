"""Hot-path discipline: after warm-up, the engine's per-hop work allocates no arrays.

tracemalloc sees numpy's data buffers; one (channels, bins) complex frame is 16 KB. The peak
of traced memory while 250 hops run must stay below 4 KB above where it started (Python's own
small objects: floats, numpy scalars), and nothing may accumulate.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import hop_allocation_bytes

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
        # the a cappella gate acting (a threshold the test signal's share is below)
        (["engine.a_cappella_gate=true", "engine.a_cappella_gate_threshold_db=0"], False),
        (["engine.a_cappella_gate=true", "engine.a_cappella_gate_threshold_db=0"], True),
    ],
)
def test_engine_hops_allocate_no_arrays(overrides, stems) -> None:
    config = load_config(overrides=overrides)
    engine = SeparationEngine(config, OnnxMaskModel(config), deadline=True, stems=stems)
    hop = config.contract.stft.hop_samples
    signal = (0.1 * np.random.default_rng(0).standard_normal((hop * 700, 2))).astype(np.float32)
    peak, current, hops = hop_allocation_bytes(engine, signal)
    assert peak < PEAK_LIMIT_BYTES, peak
    assert current < 1024, current
    assert engine.stats.count("hops") == hops
