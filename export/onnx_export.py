"""PyTorch checkpoint -> ONNX: a window graph, a streaming (stateful) graph and a sequence graph.

* window graph (``<name>.window.onnx``): input ``magnitude`` ``[batch, channels, input_bins,
  context + lookahead frames]``, output ``mask`` ``[batch, channels, output_bins, 1]``: the mask
  of the frame ``lookahead`` frames before the newest one. The engine can always run it (it
  recomputes the whole window each hop).
* streaming graph (``<name>.onnx``): inputs ``frame`` ``[batch, channels, input_bins, 1]`` and the
  states ``state_0 .. state_{n-1}`` (each causal convolution's last input frames), outputs
  ``mask`` and ``state_0_out ..``: one frame of compute per hop. States start at zero (and are
  reset to zero after a dropout); their names and shapes are in the contract.
* sequence graph (``<name>.sequence.onnx``): input ``magnitude`` ``[batch, channels, input_bins,
  frames]``, output ``mask`` ``[batch, channels, output_bins, frames]``, ``frames`` dynamic: the
  causal whole-sequence forward (``CausalUNet.forward``; output frame ``t`` is the mask of frame
  ``t - lookahead``). Offline separation runs it in chunks that overlap by the receptive field
  (``realtime/sequence_model.py``), many frames per call.

``input_bins`` and ``output_bins`` are the STFT's ``bins`` unless the model has a long-window
band: then its inputs and mask bins follow (``unsing.long_band``; ``unsing.long_band`` in the
metadata). All three files carry the model contract in ``metadata_props`` (see
:func:`contract_metadata`; ``unsing.graph`` names the graph), and every export is checked:
PyTorch vs onnxruntime on random input and on real audio, the streaming graph run frame by frame
vs the window graph, the sequence graph and PyTorch.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from unsing import __version__
from unsing.models.unet import CausalUNet, StreamingUNet, UNetConfig

OPSET = 17


class WindowGraph(nn.Module):
    """Whole window in, mask of the emitted frame out."""

    def __init__(self, model: CausalUNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, magnitude: torch.Tensor) -> torch.Tensor:
        """``[batch, channels, input_bins, window] -> [batch, channels, output_bins, 1]``."""
        return self.model(magnitude)[..., -1:]


def contract_metadata(
    state: dict[str, Any],
    graph: str,
    checkpoint_sha256: str,
    streaming: StreamingUNet | None = None,
) -> dict[str, str]:
    """The model contract as ONNX ``metadata_props`` (all values are strings)."""
    contract = state["contract"]
    arch = state["architecture"]
    config = UNetConfig.from_dict(arch)
    summary = state.get("manifest_summary", {})
    metadata = {
        "unsing.format": "1",
        "unsing.graph": graph,
        "unsing.sample_rate_hz": str(contract["sample_rate_hz"]),
        "unsing.n_fft": str(contract["n_fft"]),
        "unsing.hop_samples": str(contract["hop_samples"]),
        "unsing.window": str(contract["window"]),
        "unsing.channels": str(contract["channels"]),
        "unsing.bins": str(arch["bins"]),
        "unsing.input_bins": str(config.input_bins),
        "unsing.output_bins": str(config.output_bins),
        "unsing.context_frames": str(contract["context_frames"]),
        "unsing.lookahead_frames": str(contract["lookahead_frames"]),
        "unsing.window_frames": str(contract["context_frames"] + contract["lookahead_frames"]),
        "unsing.mask": "vocals = mask * X; accompaniment = (1 - mask) * X; X = complex mixture "
        "STFT; mask in [0, 1] per channel and bin",
        "unsing.training_data": json.dumps(summary.get("seconds_per_role", {})),
        "unsing.training_manifest_sha1": str(state.get("manifest_sha1", "")),
        "unsing.source_checkpoint_sha256": checkpoint_sha256,
        "unsing.git_commit": str(state.get("git_commit", "")),
        "unsing.version": __version__,
        "unsing.architecture": json.dumps(arch),
    }
    if config.long_band_analysis_samples:
        metadata["unsing.long_band"] = json.dumps(
            {
                "analysis_samples": config.long_band_analysis_samples,
                "input_bins": config.long_band_input_bins,
                "output_bins": config.long_band_bins,
                "crossover_bins": list(config.long_band_crossover_bins),
            }
        )
        metadata["unsing.mask"] = (
            "mask[:bins]: the STFT's vocal mask; mask[bins:]: the long-window STFT's "
            "(unsing.long_band); vocals = istft(mask * short_weights * X) + "
            "long_istft(long_mask * long_weights * X_long); accompaniment = mixture - vocals"
        )
    if streaming is not None:
        shapes = streaming.state_shapes(batch=1)
        metadata["unsing.state_names"] = json.dumps([f"state_{i}" for i in range(len(shapes))])
        metadata["unsing.state_shapes"] = json.dumps([list(s) for s in shapes])
        metadata["unsing.state_init"] = "zeros"
    return metadata


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _to_onnx(
    module: nn.Module,
    args: tuple[torch.Tensor, ...],
    input_names: list[str],
    output_names: list[str],
    dynamic_axes: dict[str, dict[int, str]],
) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant-folding notes from the TorchScript exporter
        torch.onnx.export(
            module,
            args,
            buffer,
            dynamo=False,
            opset_version=OPSET,
            input_names=input_names,
            output_names=output_names,
            dynamic_axes=dynamic_axes,
            do_constant_folding=True,
        )
    return buffer.getvalue()


def _with_metadata(model_bytes: bytes, metadata: dict[str, str]) -> bytes:
    import onnx

    model = onnx.load_from_string(model_bytes)
    onnx.helper.set_model_props(model, metadata)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _frozen_copy(model: CausalUNet) -> CausalUNet:
    """An eval-mode copy: torch.onnx.export restores the wrapper's train/eval mode afterwards,
    which would otherwise flip the caller's model (and its batch-norm statistics)."""
    return copy.deepcopy(model).eval()


def export_window_graph(model: CausalUNet, path: Path, metadata: dict[str, str]) -> Path:
    """Write the window graph to ``path``."""
    model = _frozen_copy(model)
    config = model.config
    window = config.receptive_field_frames
    example = torch.rand(1, config.audio_channels, config.input_bins, window)
    onnx_bytes = _to_onnx(
        WindowGraph(model).eval(),
        (example,),
        ["magnitude"],
        ["mask"],
        {"magnitude": {0: "batch"}, "mask": {0: "batch"}},
    )
    path.write_bytes(_with_metadata(onnx_bytes, metadata))
    return path


def fuse_causal_padding(model_bytes: bytes) -> tuple[bytes, int]:
    """Fold each zero ``Pad`` that feeds only ``Conv`` nodes into their ``pads`` attribute.

    A causal convolution pads its past with ``F.pad``, which the exporter writes as a ``Pad``
    node (its pads computed from constants) before a ``Conv``: over a chunk of frames that is a
    copy of every activation. ONNX ``Conv`` takes asymmetric pads, so the padding can be the
    convolution's own: the same zeros, the same sums (onnxruntime's masks are bit-identical)
    and the sequence graph about 8 % faster. Returns the model and the number of ``Pad`` nodes
    removed.
    """
    import onnx
    from onnx.reference import ReferenceEvaluator

    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    producers = {output: node for node in graph.node for output in node.output}
    graph_inputs = {value.name for value in graph.input}
    constants = {init.name: onnx.numpy_helper.to_array(init) for init in graph.initializer}
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def constant_nodes(name: str, needed: dict[int, Any]) -> bool:
        """Collect the nodes computing ``name``; False if it depends on a graph input."""
        if name in graph_inputs:
            return False
        node = producers.get(name)
        if node is None or id(node) in needed:
            return True
        needed[id(node)] = node
        return all(constant_nodes(source, needed) for source in node.input if source)

    fused = []
    for pad in [node for node in graph.node if node.op_type == "Pad"]:
        mode = {a.name: a for a in pad.attribute}.get("mode")
        users = consumers.get(pad.output[0], [])
        needed: dict[int, Any] = {}
        if (
            (mode is not None and mode.s != b"constant")
            or (len(pad.input) > 2 and pad.input[2])  # a constant value: maybe not zero
            or not users
            or any(user.op_type != "Conv" or user.input[0] != pad.output[0] for user in users)
            or not constant_nodes(pad.input[1], needed)
        ):
            continue
        if pad.input[1] in constants:
            pads = constants[pad.input[1]]
        else:  # evaluate the constant subgraph (the nodes in graph order)
            nodes = [node for node in graph.node if id(node) in needed]
            subgraph = onnx.helper.make_graph(
                nodes,
                "pads",
                [],
                [onnx.helper.make_tensor_value_info(pad.input[1], onnx.TensorProto.INT64, None)],
                list(graph.initializer),
            )
            sub = onnx.helper.make_model(subgraph, opset_imports=model.opset_import)
            (pads,) = ReferenceEvaluator(sub).run(None, {})
        pads = [int(v) for v in pads]
        rank = len(pads) // 2
        if any(pads[:2]) or any(pads[rank : rank + 2]) or min(pads) < 0:
            continue  # pads batch or channels, or crops
        for user in users:
            attributes = {a.name: a for a in user.attribute}
            if "auto_pad" in attributes and attributes["auto_pad"].s not in (b"", b"NOTSET"):
                break
        else:
            spatial = rank - 2
            for user in users:
                attributes = {a.name: a for a in user.attribute}
                old = list(attributes["pads"].ints) if "pads" in attributes else [0] * 2 * spatial
                if "pads" in attributes:
                    user.attribute.remove(attributes["pads"])
                new = [old[i] + pads[2 + i] for i in range(spatial)]
                new += [old[spatial + i] + pads[rank + 2 + i] for i in range(spatial)]
                user.attribute.append(onnx.helper.make_attribute("pads", new))
                user.input[0] = pad.input[0]
            fused.append(pad)
    for pad in fused:
        graph.node.remove(pad)
    # drop the nodes nothing uses any more (the pads' constant subgraphs)
    used = {value.name for value in graph.output}
    kept = []
    for node in reversed(graph.node):
        if any(output in used for output in node.output):
            kept.append(node)
            used.update(name for name in node.input if name)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    return model.SerializeToString(), len(fused)


def fuse_transposed_then_pointwise(model_bytes: bytes) -> tuple[bytes, int]:
    """Merge each ``ConvTranspose`` whose only consumer is a 1x1 ``Conv`` (no activation
    between: the U-Net's ``head_up`` then ``head``) into one ``ConvTranspose`` with the
    composed weights, ``W[i, o] = sum_m head[o, m] * up[i, m]``, ``b = head @ b_up + b_head``.

    Linear algebra, so the same masks up to float32 rounding (measured 1e-6 on the default
    model's masks), and the sequence graph about 6 % faster: the 1x1 convolution over 8
    channels at full frequency resolution goes. Returns the model and the number merged.
    """
    import onnx

    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    initializers = {init.name: init for init in graph.initializer}
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    graph_outputs = {value.name for value in graph.output}

    def attributes(node: Any) -> dict[str, Any]:
        return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}

    def array(name: str) -> np.ndarray | None:
        init = initializers.get(name)
        return None if init is None else onnx.numpy_helper.to_array(init).astype(np.float64)

    merged = 0
    for up in [node for node in graph.node if node.op_type == "ConvTranspose"]:
        users = consumers.get(up.output[0], [])
        if len(users) != 1 or users[0].op_type != "Conv" or up.output[0] in graph_outputs:
            continue
        head = users[0]
        head_attributes, up_attributes = attributes(head), attributes(up)
        if (
            any(v != 1 for v in head_attributes.get("kernel_shape", [0]))
            or any(head_attributes.get("pads", []))
            or any(v != 1 for v in head_attributes.get("strides", []))
            or head_attributes.get("group", 1) != 1
            or up_attributes.get("group", 1) != 1
            or len(up.input) < 3
            or len(head.input) < 3
        ):
            continue
        up_weight, up_bias = array(up.input[1]), array(up.input[2])
        head_weight, head_bias = array(head.input[1]), array(head.input[2])
        if any(value is None for value in (up_weight, up_bias, head_weight, head_bias)):
            continue
        pointwise = head_weight.reshape(head_weight.shape[0], head_weight.shape[1])
        weight = np.einsum("om,im...->io...", pointwise, up_weight).astype(np.float32)
        bias = (pointwise @ up_bias + head_bias).astype(np.float32)
        names = (f"{up.name}/merged_weight", f"{up.name}/merged_bias")
        graph.initializer.extend(
            [
                onnx.numpy_helper.from_array(weight, names[0]),
                onnx.numpy_helper.from_array(bias, names[1]),
            ]
        )
        up.input[1], up.input[2] = names
        up.output[0] = head.output[0]
        graph.node.remove(head)
        merged += 1
    # drop the initializers nothing reads any more
    read = {name for node in graph.node for name in node.input}
    unused = [init for init in graph.initializer if init.name not in read]
    for init in unused:
        graph.initializer.remove(init)
    return model.SerializeToString(), merged


def export_sequence_graph(model: CausalUNet, path: Path, metadata: dict[str, str]) -> Path:
    """Write the sequence graph (the whole-sequence causal forward, frames dynamic) to
    ``path``, with its causal padding folded into the convolutions
    (:func:`fuse_causal_padding`) and its output layers merged
    (:func:`fuse_transposed_then_pointwise`)."""
    model = _frozen_copy(model)
    config = model.config
    # traced with more frames than the receptive field, so no shape is specialised to it
    example = torch.rand(
        1, config.audio_channels, config.input_bins, config.receptive_field_frames + 17
    )
    dynamic = {0: "batch", 3: "frames"}
    onnx_bytes = _to_onnx(
        model, (example,), ["magnitude"], ["mask"], {"magnitude": dynamic, "mask": dynamic}
    )
    onnx_bytes, _ = fuse_causal_padding(onnx_bytes)
    onnx_bytes, _ = fuse_transposed_then_pointwise(onnx_bytes)
    path.write_bytes(_with_metadata(onnx_bytes, metadata))
    return path


def export_streaming_graph(model: CausalUNet, path: Path, metadata: dict[str, str]) -> Path:
    """Write the streaming graph (one frame + explicit states) to ``path``."""
    model = _frozen_copy(model)
    streaming = StreamingUNet(model).eval()
    config = model.config
    frame = torch.rand(1, config.audio_channels, config.input_bins, 1)
    states = streaming.initial_states(batch=1)
    count = len(states)
    inputs = ["frame"] + [f"state_{i}" for i in range(count)]
    outputs = ["mask"] + [f"state_{i}_out" for i in range(count)]
    dynamic = {name: {0: "batch"} for name in inputs + outputs}
    onnx_bytes = _to_onnx(streaming, (frame, *states), inputs, outputs, dynamic)
    path.write_bytes(_with_metadata(onnx_bytes, metadata))
    return path


#: Parity tolerance on mask values (masks are in [0, 1]): max absolute difference allowed
#: between PyTorch, the window graph, the streaming graph and the sequence graph.
MASK_ATOL = 1e-4


def _session(path: Path) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_streaming_graph(
    session: Any, magnitude: np.ndarray, state_shapes: list[tuple[int, ...]]
) -> np.ndarray:
    """Feed ``magnitude`` ``(batch, channels, input_bins, frames)`` frame by frame; masks
    ``(batch, channels, output_bins, frames)``."""
    states = [np.zeros(shape, np.float32) for shape in state_shapes]
    masks = []
    for t in range(magnitude.shape[-1]):
        feed = {"frame": np.ascontiguousarray(magnitude[..., t : t + 1])}
        feed.update({f"state_{i}": state for i, state in enumerate(states)})
        mask, *states = session.run(None, feed)
        masks.append(mask)
    return np.concatenate(masks, axis=-1)


def check_parity(
    model: CausalUNet,
    streaming_path: Path,
    window_path: Path,
    magnitude: np.ndarray,
    window_stride: int = 7,
    sequence_path: Path | None = None,
    sequence_chunk_frames: int | None = None,
) -> dict[str, float]:
    """Max absolute mask differences between PyTorch and the graphs on ``magnitude``.

    Args:
        magnitude: ``(1, channels, input_bins, frames)`` float32, e.g. from a real song.
        window_stride: check the window graph at every ``window_stride``-th frame (cost), from
            the first frame with a full window.
        sequence_path: the sequence graph, run on all of ``magnitude`` in one call and in
            chunks of ``sequence_chunk_frames`` that each start ``receptive_field - 1`` frames
            early (None: not checked).
        sequence_chunk_frames: the chunks' length (default a third of the receptive field:
            several chunk boundaries fall inside the input).

    Returns:
        ``{"streaming_vs_torch", "window_vs_torch", "streaming_vs_window"}`` in mask units,
        and with ``sequence_path`` ``"sequence_vs_torch"``, ``"sequence_vs_streaming"`` and
        ``"sequence_chunks_vs_streaming"``.
    """
    model = _frozen_copy(model)
    with torch.no_grad():
        reference = model(torch.from_numpy(magnitude)).numpy()
    streaming = StreamingUNet(model)
    streamed = run_streaming_graph(
        _session(streaming_path), magnitude, streaming.state_shapes(batch=1)
    )
    # The window graph needs a full window of real frames: at the very start of a stream it
    # would see zero magnitudes where the causal model sees zero activations (the streaming
    # graph's zero states), so it is compared from frame window - 1 on.
    window = model.config.receptive_field_frames
    if magnitude.shape[-1] < window:
        raise ValueError(f"parity needs at least {window} frames, got {magnitude.shape[-1]}")
    window_session = _session(window_path)
    frames = range(window - 1, magnitude.shape[-1], window_stride)
    windowed = np.stack(
        [
            window_session.run(
                None, {"magnitude": np.ascontiguousarray(magnitude[..., t - window + 1 : t + 1])}
            )[0][..., 0]
            for t in frames
        ],
        axis=-1,
    )
    picked = list(frames)
    errors = {
        "streaming_vs_torch": float(np.abs(streamed - reference).max()),
        "window_vs_torch": float(np.abs(windowed - reference[..., picked]).max()),
        "streaming_vs_window": float(np.abs(windowed - streamed[..., picked]).max()),
    }
    if sequence_path is not None:
        session = _session(sequence_path)
        sequence = session.run(None, {"magnitude": magnitude})[0]
        errors["sequence_vs_torch"] = float(np.abs(sequence - reference).max())
        errors["sequence_vs_streaming"] = float(np.abs(sequence - streamed).max())
        chunk = sequence_chunk_frames or max(1, window // 3)
        chunks = []
        for start in range(0, magnitude.shape[-1], chunk):
            first = max(0, start - window + 1)  # the receptive field before the chunk
            part = np.ascontiguousarray(magnitude[..., first : start + chunk])
            chunks.append(session.run(None, {"magnitude": part})[0][..., start - first :])
        chunked = np.concatenate(chunks, axis=-1)
        errors["sequence_chunks_vs_streaming"] = float(np.abs(chunked - streamed).max())
    return errors
