"""The engine's ONNX mask model: equals PyTorch frame by frame (streaming and window graphs),
refuses models whose contract contradicts the configuration, resets cleanly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import engine_config, require_module

torch = require_module("torch")
require_module("onnx")

from unsing.config import load_config  # noqa: E402
from unsing.errors import ModelFileError  # noqa: E402
from unsing.models.train import load_checkpoint  # noqa: E402
from unsing.realtime.onnx_model import OnnxMaskModel, measure_per_hop_ms  # noqa: E402

UNSING = Path(sys.executable).with_name("unsing")


def tiny(path: Path, *overrides: str):
    """The config running the tiny exported model at ``path`` (its contract from the file)."""
    return load_config(overrides=[f"model.path={path}", *overrides])


def frames(count: int) -> np.ndarray:
    return np.random.default_rng(4).gamma(0.5, 4.0, (count, 2, 513)).astype(np.float32)


@pytest.mark.parametrize("graph", ["streaming", "window"])
def test_masks_equal_pytorch_frame_by_frame(exported, graph: str) -> None:
    checkpoint, path = exported
    model = OnnxMaskModel(tiny(path, f"model.graph={graph}"))
    torch_model, _ = load_checkpoint(checkpoint)
    magnitudes = frames(70)
    with torch.no_grad():
        reference = torch_model(torch.from_numpy(magnitudes.transpose(1, 2, 0))[None])[0].numpy()
    masks = np.stack([model(m).copy() for m in magnitudes], axis=-1)
    start = 0 if graph == "streaming" else 32  # the window graph needs a full window
    np.testing.assert_allclose(masks[..., start:], reference[..., start:], rtol=0, atol=1e-4)


def test_window_graph_keeps_skipped_frames_in_its_window(exported) -> None:
    """Frames the engine's deadline skips still enter the window: each mask the window graph
    computes after skips equals PyTorch's over every frame."""
    checkpoint, path = exported
    model = OnnxMaskModel(tiny(path, "model.graph=window"))
    torch_model, _ = load_checkpoint(checkpoint)
    magnitudes = frames(90)
    with torch.no_grad():
        reference = torch_model(torch.from_numpy(magnitudes.transpose(1, 2, 0))[None])[0].numpy()
    computed = []
    for index, magnitude in enumerate(magnitudes):
        if index % 3 == 1 or 50 <= index < 60:
            model.skip(magnitude)
        else:
            computed.append((index, model(magnitude).copy()))
    checked = [(index, mask) for index, mask in computed if index >= 32]
    assert len(checked) > 30
    for index, mask in checked:
        np.testing.assert_allclose(mask, reference[..., index], rtol=0, atol=1e-4)


@pytest.mark.parametrize("graph", ["streaming", "window"])
def test_reset_starts_a_fresh_stream(exported, graph: str) -> None:
    model = OnnxMaskModel(tiny(exported[1], f"model.graph={graph}"))
    magnitudes = frames(20)
    first = [model(m).copy() for m in magnitudes]
    model.reset()
    again = [model(m).copy() for m in magnitudes]
    np.testing.assert_array_equal(np.stack(first), np.stack(again))


@pytest.mark.parametrize(
    ("contract", "message"),
    [
        ({"context_frames": 81}, "model context_frames = 33 but the engine was set up for 81"),
        ({"window": "sqrt_hann"}, "model window = hann but the engine was set up for sqrt_hann"),
        ({"channels": 1}, "model channels = 2 but the engine was set up for 1"),
        ({"sample_rate_hz": 48000}, "model sample_rate_hz = 44100 but the engine was set up for"),
    ],
)
def test_a_model_file_the_engine_was_not_set_up_for_is_refused(exported, contract, message):
    config = engine_config(**{"context_frames": 33, **contract})
    with pytest.raises(ModelFileError) as caught:
        OnnxMaskModel(config, exported[1])
    assert message in str(caught.value) and "(from test contract)" in str(caught.value)
    assert f"run it with --model {exported[1]}" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_shipped_config_runs_another_model_by_its_path_alone(exported) -> None:
    with pytest.raises(ModelFileError, match="context_frames = 33 but the engine was set up"):
        OnnxMaskModel(load_config(), exported[1])
    model = OnnxMaskModel(tiny(exported[1]))
    assert (model.window_frames, model.channels, model.bins) == (33, 2, 513)


def test_foreign_or_missing_model_files(exported, tmp_path) -> None:
    config = tiny(exported[1])
    with pytest.raises(ModelFileError, match="model file not found"):
        OnnxMaskModel(config, tmp_path / "nothing.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00\x01garbage")
    with pytest.raises(ModelFileError, match="not a valid ONNX model"):
        OnnxMaskModel(config, garbage)
    window_as_streaming = tmp_path / "w.onnx"
    window_as_streaming.write_bytes(exported[1].with_name("tiny.window.onnx").read_bytes())
    with pytest.raises(ModelFileError, match="not an unsing streaming graph"):
        OnnxMaskModel(config, window_as_streaming)


def test_per_hop_cost_is_measured_and_printed(exported) -> None:
    cost = measure_per_hop_ms(OnnxMaskModel(tiny(exported[1])), hops=50)
    assert cost["hops"] == 50 and 0 < cost["p50"] <= cost["p99"] <= cost["max"]
    result = subprocess.run(
        [
            str(UNSING),
            "info",
            str(exported[1]),
            "--bench",
            "--hops",
            "50",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "per-hop cost  streaming graph, 50 hops" in result.stdout


def test_paced_engine_hops_run_one_per_hop_period(exported) -> None:
    """benchmarks.compute's paced measurement: every hop timed, one hop per period (the wall
    time covers the periods; the per-hop times themselves are not asserted)."""
    import time

    from unsing.benchmarks.compute import per_hop

    config = tiny(exported[1])
    hops = 40
    started = time.perf_counter()
    result = per_hop(config, exported[1], hops, paced=True)
    elapsed_s = time.perf_counter() - started
    period_ms = result["hop_period_ms"]
    assert result["engine_paced"]["hops"] == hops == result["engine"]["hops"]
    assert elapsed_s >= (hops - 1) * period_ms / 1000
    assert "engine_paced" not in per_hop(config, exported[1], 20)
