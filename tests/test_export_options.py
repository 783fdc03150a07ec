"""The export-options benchmark (benchmarks/export_options.py): every variant of the streaming
graph is written, loads as an engine model and is measured."""

from __future__ import annotations

import numpy as np
from conftest import require_module

require_module("torch")
require_module("onnx")

from unsing.benchmarks.export_options import measure  # noqa: E402
from unsing.config import load_config  # noqa: E402


def test_export_options_are_measured_and_keep_the_contract(exported, tmp_path) -> None:
    """Every variant (optimised, int8 dynamic, int8 static) of a model that is not the config's
    loads as an engine model (so its contract survived), is timed, and reports its SDR change
    against fp32."""
    require_module("onnxruntime.quantization")
    from unsing.models.data import ValidationItem

    rng = np.random.default_rng(0)
    item = ValidationItem(
        "synthetic",
        "noise",
        (rng.standard_normal((2, 30000)) * 0.1).astype(np.float32),
        (rng.standard_normal((2, 30000)) * 0.1).astype(np.float32),
        44100,
    )
    report = measure(load_config(), exported[1], [item], tmp_path, hops=20)  # its own contract
    variants = report["variants"]
    assert set(variants) == {"fp32", "fp32-optimized", "int8-dynamic", "int8-static"}
    assert variants["fp32"]["sdr_change_vs_fp32_db"] == {"vocals": 0.0, "accompaniment": 0.0}
    for entry in variants.values():
        assert entry["per_hop_ms"]["1_thread"]["p50"] > 0
        assert entry["per_hop_ms"]["2_thread"]["hops"] == 20
