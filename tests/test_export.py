"""ONNX export: the streaming, window and sequence graphs agree with PyTorch and with each other
(tolerance MASK_ATOL; the sequence graph in one call and in chunks), carry the contract, and
broken checkpoints are one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import require_module, write_tiny_checkpoint

torch = require_module("torch")
require_module("onnx")
onnxruntime = require_module("onnxruntime")

from unsing.errors import ModelFileError  # noqa: E402
from unsing.export.export_checkpoint import export_checkpoint  # noqa: E402
from unsing.export.onnx_export import MASK_ATOL  # noqa: E402
from unsing.realtime.onnx_model import window_graph_path  # noqa: E402
from unsing.realtime.sequence_model import sequence_graph_path  # noqa: E402

UNSING = Path(sys.executable).with_name("unsing")


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    return write_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt")


PARITY_KEYS = {
    "streaming_vs_torch",
    "window_vs_torch",
    "streaming_vs_window",
    "sequence_vs_torch",
    "sequence_vs_streaming",
    "sequence_chunks_vs_streaming",
}


def test_all_graphs_match_pytorch_on_random_and_real_audio(
    tiny_checkpoint, tmp_path, music_like_signal
) -> None:
    import soundfile

    audio = tmp_path / "song.wav"
    soundfile.write(audio, music_like_signal.T, 44100)
    report = export_checkpoint(tiny_checkpoint, tmp_path / "m.onnx", audio)
    assert (
        report.window_path == tmp_path / "m.window.onnx" == window_graph_path(report.streaming_path)
    )
    assert (
        report.sequence_path
        == tmp_path / "m.sequence.onnx"
        == sequence_graph_path(report.streaming_path)
    )
    assert set(report.parity) == {"random input", "song.wav"}
    for errors in report.parity.values():
        assert set(errors) == PARITY_KEYS
        assert max(errors.values()) <= MASK_ATOL
    assert report.ok and report.lines()[-1] == "parity: OK"


def test_contract_in_metadata_matches_the_graph(tiny_checkpoint, tmp_path) -> None:
    report = export_checkpoint(tiny_checkpoint, tmp_path / "m.onnx")
    streaming = onnxruntime.InferenceSession(
        str(report.streaming_path), providers=["CPUExecutionProvider"]
    )
    meta = streaming.get_modelmeta().custom_metadata_map
    assert meta["unsing.graph"] == "streaming"
    assert meta["unsing.sample_rate_hz"] == "44100" and meta["unsing.n_fft"] == "1024"
    assert meta["unsing.context_frames"] == "33" and meta["unsing.lookahead_frames"] == "0"
    assert meta["unsing.git_commit"] == "deadbeef"
    names, shapes = json.loads(meta["unsing.state_names"]), json.loads(meta["unsing.state_shapes"])
    inputs = {i.name: i.shape for i in streaming.get_inputs()}
    assert list(inputs) == ["frame", *names]
    for name, shape in zip(names, shapes, strict=True):
        assert inputs[name][1:] == shape[1:]  # batch is dynamic
    window = onnxruntime.InferenceSession(
        str(report.window_path), providers=["CPUExecutionProvider"]
    )
    assert window.get_modelmeta().custom_metadata_map["unsing.graph"] == "window"
    assert window.get_inputs()[0].shape[1:] == [2, 513, 33]
    sequence = onnxruntime.InferenceSession(
        str(report.sequence_path), providers=["CPUExecutionProvider"]
    )
    sequence_meta = sequence.get_modelmeta().custom_metadata_map
    assert sequence_meta["unsing.graph"] == "sequence"
    for key in ("unsing.context_frames", "unsing.n_fft", "unsing.architecture"):
        assert sequence_meta[key] == meta[key]
    (magnitude,), (mask,) = sequence.get_inputs(), sequence.get_outputs()
    assert (magnitude.name, mask.name) == ("magnitude", "mask")
    assert magnitude.shape[1:3] == [2, 513] and isinstance(magnitude.shape[3], str)  # dynamic
    for frames in (1, 7, 250):  # fewer frames than the receptive field, and many more
        masks = sequence.run(None, {"magnitude": np.ones((1, 2, 513, frames), np.float32)})[0]
        assert masks.shape == (1, 2, 513, frames)
    # the causal padding is the convolutions' own (fuse_causal_padding), not Pad copies,
    import onnx

    nodes = onnx.load(str(report.sequence_path)).graph.node
    assert not [node for node in nodes if node.op_type == "Pad"]
    assert sum(node.op_type == "Conv" for node in nodes) > 10
    # and the output layers (head_up, then the 1x1 head) are one transposed convolution
    producers = {output: node.op_type for node in nodes for output in node.output}
    assert not [
        n for n in nodes if n.op_type == "Conv" and producers.get(n.input[0]) == "ConvTranspose"
    ]
    info = subprocess.run(
        [str(UNSING), "info", str(report.streaming_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert info.returncode == 0 and "unsing.graph: streaming" in info.stdout


def test_export_cli_and_broken_checkpoints(tiny_checkpoint, tmp_path) -> None:
    result = subprocess.run(
        [str(UNSING), "export", str(tiny_checkpoint), "-o", str(tmp_path / "cli.onnx")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "parity: OK" in result.stdout
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    for path, message in (
        (broken, "not a usable unsing checkpoint"),
        (tmp_path / "missing.pt", "checkpoint not found"),
    ):
        result = subprocess.run(
            [str(UNSING), "export", str(path), "-o", str(tmp_path / "x.onnx")],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_model_with_a_low_band_network_exports_with_parity(tmp_path, music_like_signal) -> None:
    import soundfile

    checkpoint = write_tiny_checkpoint(tmp_path / "low.pt", low_band_bins=7)
    audio = tmp_path / "song.wav"
    soundfile.write(audio, music_like_signal.T, 44100)
    report = export_checkpoint(checkpoint, tmp_path / "low.onnx", audio)
    assert report.ok, report.lines()
    metadata = onnxruntime.InferenceSession(str(tmp_path / "low.onnx")).get_modelmeta()
    architecture = json.loads(metadata.custom_metadata_map["unsing.architecture"])
    assert architecture["low_band_bins"] == 7
    assert "low_band_mode" not in architecture  # one mode: described as before it existed


def test_a_receptive_field_longer_than_the_default_parity_input_exports(tmp_path) -> None:
    """Parity on random input runs over the whole receptive field and 40 more frames, so a
    model that sees more than 120 frames (here 145) is checked too, not refused."""
    checkpoint = write_tiny_checkpoint(tmp_path / "wide.pt", tcn_dilations=(1, 2, 4, 8, 16, 32))
    report = export_checkpoint(checkpoint, tmp_path / "wide.onnx")
    assert report.ok, report.lines()
    metadata = onnxruntime.InferenceSession(str(tmp_path / "wide.onnx")).get_modelmeta()
    assert metadata.custom_metadata_map["unsing.context_frames"] == "145"


def test_adding_the_sequence_graph_keeps_the_other_graphs(tiny_checkpoint, tmp_path) -> None:
    """How the committed models got their sequence graph: only that file is written, the
    streaming and window graphs stay byte for byte and are checked against it."""
    out = tmp_path / "m.onnx"
    export_checkpoint(tiny_checkpoint, out)
    sequence_graph_path(out).unlink()  # a model exported before sequence graphs existed
    with pytest.raises(ModelFileError, match=r"m\.sequence\.onnx: not found"):
        export_checkpoint(tiny_checkpoint, out, graphs=("streaming",))
    before = {path: path.read_bytes() for path in (out, window_graph_path(out))}
    report = export_checkpoint(tiny_checkpoint, out, graphs=("sequence",))
    assert report.ok and report.written == ("sequence",), report.lines()
    assert sequence_graph_path(out).is_file()
    assert {path: path.read_bytes() for path in before} == before
    assert "(kept)" in report.lines()[0] and "(kept)" not in report.lines()[2]
    with pytest.raises(ValueError, match="unknown graphs"):
        export_checkpoint(tiny_checkpoint, out, graphs=("stream",))
