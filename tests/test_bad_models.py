"""Broken model files, built here: each is one line from the CLI (or a warning with counts),
never a traceback, never a wrong result written silently.

* Masks that are NaN on every frame: an error, nothing written (stream and offline mode).
* Masks NaN on some frames: the previous mask is used there, the stems still add up, and a
  warning gives the count.
* Masks of 5 (outside [0, 1]): clamped; the vocals stem is never louder than the input.
* Graphs that contradict their contract (no ``frame`` input, a 100-bin mask, another state
  shape) and malformed contracts (``state_shapes`` not JSON, no ``state_names``,
  ``input_bins: abc``): one line naming the file.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
from conftest import require_module

from unsing.realtime.mask_check import MaskCheck, sanitize_masks

UNSING = Path(sys.executable).with_name("unsing")
RATE = 44100
BINS = 513


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(UNSING), *args], capture_output=True, text=True, timeout=300, cwd=cwd
    )


@pytest.fixture(scope="module")
def contract(exported) -> dict[str, str]:
    """The tiny exported model's metadata without its long band: a 513-bin contract."""
    onnx = require_module("onnx")
    model = onnx.load(str(exported[1]))
    metadata = {prop.key: prop.value for prop in model.metadata_props}
    metadata.pop("unsing.long_band", None)
    metadata.pop("unsing.source_checkpoint_sha256", None)
    metadata.update({"unsing.input_bins": str(BINS), "unsing.output_bins": str(BINS)})
    metadata.update({"unsing.state_names": '["state_0"]', "unsing.state_shapes": "[[1, 1]]"})
    return metadata


def build(
    path: Path,
    metadata: dict[str, str],
    mask: str,
    *,
    graph: str = "streaming",
    input_name: str = "frame",
    mask_bins: int = BINS,
    state_shape: tuple[int, ...] = (1, 1),
) -> Path:
    """A graph whose mask is ``mask`` of the input: ``nan`` (NaN everywhere), ``five`` (5.0
    everywhere), ``ratio`` (x / x: NaN on silent bins, else 1), ``half``; a streaming graph with
    one pass-through state, or a sequence graph (frames axis dynamic)."""
    onnx = require_module("onnx")
    from onnx import TensorProto, helper

    frames: int | str = 1 if graph == "streaming" else "frames"
    name = input_name if graph == "streaming" else "magnitude"
    nodes, initializers = [], []
    source = name
    if mask_bins != BINS:
        for key, value in (("starts", 0), ("ends", mask_bins), ("axes", 2)):
            initializers.append(helper.make_tensor(key, TensorProto.INT64, [1], [value]))
        nodes.append(helper.make_node("Slice", [name, "starts", "ends", "axes"], ["cut"]))
        source = "cut"
    if mask == "ratio":
        nodes.append(helper.make_node("Div", [source, source], ["mask"]))
    else:
        value = {"nan": float("nan"), "five": 5.0, "half": 0.5}[mask]
        initializers += [
            helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
            helper.make_tensor("value", TensorProto.FLOAT, [], [value]),
        ]
        nodes += [
            helper.make_node("Mul", [source, "zero"], ["zeros"]),
            helper.make_node("Add", ["zeros", "value"], ["mask"]),
        ]
    inputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, 2, BINS, frames])]
    outputs = [helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 2, mask_bins, frames])]
    meta = dict(metadata, **{"unsing.graph": graph})
    if graph == "streaming":
        nodes.append(helper.make_node("Identity", ["state_0"], ["state_0_out"]))
        inputs.append(helper.make_tensor_value_info("state_0", TensorProto.FLOAT, state_shape))
        outputs.append(helper.make_tensor_value_info("state_0_out", TensorProto.FLOAT, state_shape))
    model = helper.make_model(
        helper.make_graph(nodes, "bad", inputs, outputs, initializers),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    model.ir_version = 8
    for key, value in meta.items():
        if value is not None:
            model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    return path


def model_pair(folder: Path, metadata: dict[str, str], mask: str) -> Path:
    """``bad.onnx`` and its sequence graph ``bad.sequence.onnx``, both with ``mask``."""
    folder.mkdir(parents=True, exist_ok=True)
    build(folder / "bad.sequence.onnx", metadata, mask, graph="sequence")
    return build(folder / "bad.onnx", metadata, mask)


@pytest.fixture(scope="module")
def song(tmp_path_factory) -> Path:
    """3 s of noise, then 1 s of digital silence, then 2 s of noise (stereo, 44.1 kHz)."""
    rng = np.random.default_rng(3)
    audio = 0.1 * rng.standard_normal((6 * RATE, 2))
    audio[3 * RATE : 4 * RATE] = 0.0
    path = tmp_path_factory.mktemp("bad-models") / "song.wav"
    soundfile.write(path, audio.astype(np.float32), RATE, subtype="FLOAT")
    return path


@pytest.mark.parametrize("mode", ["stream", "offline"])
def test_a_model_with_nan_masks_is_an_error_and_nothing_is_written(
    contract, song, tmp_path, mode
) -> None:
    model = model_pair(tmp_path / "nan", contract, "nan")
    out = tmp_path / "stems"
    result = run("separate", str(song), "--out", str(out), "--model", str(model), "--mode",
                 mode, "--quiet", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "masks are NaN or infinite on every frame" in lines[0], lines
    assert "nothing was written" in lines[0]
    assert not out.exists() or not list(out.iterdir())
    render = run("play", str(song), "--to", str(tmp_path / "k.wav"), "--model", str(model),
                 "--quiet", cwd=tmp_path)  # fmt: skip
    assert render.returncode == 1 and "on every frame" in render.stderr
    assert not (tmp_path / "k.wav").exists()


@pytest.mark.parametrize("mode", ["stream", "offline"])
def test_masks_nan_on_some_frames_are_replaced_and_counted(contract, song, tmp_path, mode):
    """x / x is NaN on the silent second: those frames keep the mask before them (1 here),
    the stems add up, and one warning line gives the count."""
    model = model_pair(tmp_path / "ratio", contract, "ratio")
    out = tmp_path / "stems"
    result = run("separate", str(song), "--out", str(out), "--model", str(model), "--mode",
                 mode, "--quiet", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "NaN or infinite on" in warnings[0], result.stderr
    replaced, frames = (
        int(n) for n in warnings[0].split(" on ")[1].split(" frames")[0].split(" of ")
    )
    # about 1 s of 6 s (172 hops a second), and stream mode's flush after the end (silent too)
    assert 150 <= replaced <= 200 and frames >= 1030
    mixture, _ = soundfile.read(song, dtype="float32")
    vocals, _ = soundfile.read(out / "vocals.wav", dtype="float32")
    accompaniment, _ = soundfile.read(out / "accompaniment.wav", dtype="float32")
    assert np.isfinite(vocals).all()
    np.testing.assert_allclose(vocals + accompaniment, mixture, atol=1e-6)


@pytest.mark.parametrize("mode", ["stream", "offline"])
def test_masks_above_one_are_clamped(contract, song, tmp_path, mode) -> None:
    model = model_pair(tmp_path / "five", contract, "five")
    out = tmp_path / "stems"
    result = run("separate", str(song), "--out", str(out), "--model", str(model), "--mode",
                 mode, "--quiet", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    mixture, _ = soundfile.read(song, dtype="float32")
    vocals, _ = soundfile.read(out / "vocals.wav", dtype="float32")
    # mask 1 everywhere: the vocals are the mixture (not 5x it)
    assert np.abs(vocals).max() <= np.abs(mixture).max() * 1.01
    np.testing.assert_allclose(vocals[RATE:-RATE], mixture[RATE:-RATE], atol=1e-4)


@pytest.mark.parametrize(
    ("variant", "message"),
    [
        ({"input_name": "x"}, "input(s) ['frame'] missing"),
        ({"mask_bins": 100}, "output 'mask' has shape (1, 2, 100, 1), its contract says (1, 2, 5"),
        ({"state_shape": (1, 2)}, "input 'state_0' has shape (1, 2), its contract says (1, 1)"),
        ({"unsing.state_shapes": "[[1, 1"}, "unsing.state_shapes is not valid JSON"),
        ({"unsing.state_names": None}, "the model contract lacks unsing.state_names"),
        ({"unsing.input_bins": "abc"}, "unsing.input_bins = 'abc' is not a whole number"),
        ({"unsing.state_shapes": '{"a": 1}'}, "are not a list of names and one shape"),
    ],
    ids=["no-frame-input", "mask-100-bins", "state-shape", "shapes-not-json", "no-state-names",
         "input-bins-abc", "shapes-not-a-list"],
)  # fmt: skip
def test_graphs_that_contradict_their_contract_are_one_line(
    contract, song, tmp_path, variant, message
) -> None:
    metadata = dict(contract)
    options = {}
    for key, value in variant.items():
        if key.startswith("unsing."):
            metadata[key] = value
        else:
            options[key] = value
    model = build(tmp_path / "bad.onnx", metadata, "half", **options)
    for args in (
        ["separate", str(song), "--out", "stems", "--mode", "stream"],
        ["play", str(song), "--to", "k.wav"],
        ["info", "--bench", "--hops", "10"],
    ):
        result = run(*args, "--model", str(model), cwd=tmp_path)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 1 and len(lines) == 1, (args, result.stderr)
        assert lines[0].startswith("unsing: error: ") and str(model) in lines[0], lines
        assert message in lines[0], lines[0]


def test_sanitize_masks_replaces_frames_and_clamps() -> None:
    masks = np.full((2, 3, 5), 0.5, np.float32)
    masks[:, :, 0] = np.nan
    masks[0, 1, 2] = np.inf
    masks[:, :, 3] = 7.0
    masks[:, :, 4] = -1.0
    previous = np.full((2, 3), 0.25, np.float32)
    out, replaced = sanitize_masks(masks, previous)
    assert replaced == 2
    np.testing.assert_array_equal(out[..., 0], previous)
    np.testing.assert_array_equal(out[..., 2], out[..., 1])  # the frame before
    assert (out[..., 3] == 1.0).all() and (out[..., 4] == 0.0).all()
    check = MaskCheck("m.onnx")
    check.add(100, 3)
    assert "on 3 of 100 frames" in check.warning()
    check.finish()
    broken = MaskCheck("m.onnx")
    broken.add(10, 10)  # too few frames to judge yet
    with pytest.raises(Exception, match="on every frame"):
        broken.finish()
