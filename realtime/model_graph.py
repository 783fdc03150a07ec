"""What every ONNX graph of a model shares when the runtime loads it: opening the session,
checking its contract against the engine's, and its input/output layout (the long-window band's
bins beside the STFT's). Used by the streaming/window model (``onnx_model``) and the sequence
graph (``sequence_model``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from unsing.contract import MODEL_OWNED_KEYS, ModelContract, contract_from_metadata
from unsing.errors import ModelFileError
from unsing.long_band import LongBandLayout
from unsing.stft import StftSpec


def open_session(path: Path, options: Any) -> Any:
    """An onnxruntime CPU session of ``path``; a broken file is a one-line ModelFileError."""
    import onnxruntime

    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises several private exception types
        first = (str(error).strip().splitlines() or [repr(error)])[0]
        raise ModelFileError(f"{path}: not a valid ONNX model ({first})") from None


def check_graph_contract(
    metadata: dict[str, str], path: Path, graph: str, expected: ModelContract, remedy: str
) -> None:
    """The file at ``path`` must be an unsing ``graph`` graph whose contract is ``expected``;
    ``remedy`` ends the message of a contract that differs."""
    if metadata.get("unsing.graph") != graph:
        raise ModelFileError(
            f"{path}: not an unsing {graph} graph (metadata unsing.graph = "
            f"{metadata.get('unsing.graph')!r}); re-export it with `unsing export`"
        )
    mine = contract_from_metadata(metadata, str(path))
    for name in MODEL_OWNED_KEYS.values():
        if mine.value(name) != expected.value(name):
            raise ModelFileError(
                f"{path}: model {name} = {mine.value(name)} but the engine was set up "
                f"for {expected.value(name)} (from {expected.source}); {remedy}"
            )


def long_band_layout(metadata: dict[str, str], stft: StftSpec, path: Path) -> LongBandLayout | None:
    """The model's long-window band (``unsing.long_band`` in the contract), or None."""
    text = metadata.get("unsing.long_band")
    if not text:
        return None
    try:
        band = json.loads(text)
        architecture = {
            "long_band_analysis_samples": band["analysis_samples"],
            "long_band_input_bins": band["input_bins"],
            "long_band_bins": band["output_bins"],
            "long_band_crossover_bins": band["crossover_bins"],
        }
        return LongBandLayout.from_architecture(architecture, stft)
    except (ValueError, KeyError, TypeError) as error:
        raise ModelFileError(
            f"{path}: its long band contract is not usable ({error}); re-export it"
        ) from None


def graph_bins(
    metadata: dict[str, str], bins: int, long_band: LongBandLayout | None, path: Path
) -> tuple[int, int]:
    """``(input_bins, output_bins)`` of the graph: the STFT's ``bins``, plus the long band's
    input and mask bins if it has one; a contract that says otherwise is refused."""
    input_bins = metadata_int(metadata, "unsing.input_bins", path, default=bins)
    output_bins = metadata_int(metadata, "unsing.output_bins", path, default=bins)
    expected = (
        (bins, bins)
        if long_band is None
        else (bins + long_band.input_bins, bins + long_band.output_bins)
    )
    if (input_bins, output_bins) != expected:
        raise ModelFileError(
            f"{path}: the contract's input/output bins {input_bins}/"
            f"{output_bins} do not match its layout {expected}; re-export it"
        )
    return input_bins, output_bins


def metadata_json(metadata: dict[str, str], key: str, path: Path) -> Any:
    """``metadata[key]`` parsed as JSON; a missing or malformed entry is a one-line
    ModelFileError."""
    if key not in metadata:
        raise ModelFileError(f"{path}: the model contract lacks {key}; re-export it")
    try:
        return json.loads(metadata[key])
    except ValueError:
        raise ModelFileError(
            f"{path}: the model contract's {key} is not valid JSON ({metadata[key][:40]!r}); "
            "re-export it"
        ) from None


def metadata_int(metadata: dict[str, str], key: str, path: Path, default: int | None = None) -> int:
    """``metadata[key]`` as an integer (``default`` when absent, if given); a missing or
    malformed entry is a one-line ModelFileError."""
    if key not in metadata:
        if default is not None:
            return default
        raise ModelFileError(f"{path}: the model contract lacks {key}; re-export it")
    try:
        return int(metadata[key])
    except ValueError:
        raise ModelFileError(
            f"{path}: the model contract's {key} = {metadata[key][:40]!r} is not a whole "
            "number; re-export it"
        ) from None


Shape = tuple[int, ...]


def check_graph_io(
    session: Any, path: Path, inputs: dict[str, Shape], outputs: list[tuple[str | None, Shape]]
) -> None:
    """The graph's inputs must be exactly ``inputs`` (name -> shape) and its outputs, in
    order, ``outputs`` ((name or None for any name, shape)); a dimension the graph leaves open
    (a name such as ``batch``, or unknown) matches anything, as does an expected ``-1``.
    Anything else is a one-line ModelFileError: a graph that contradicts its own contract would
    fail inside onnxruntime."""

    def shape_error(kind: str, name: str, actual: list[Any], expected: Shape) -> str | None:
        if len(actual) != len(expected) or any(
            isinstance(a, int) and e != -1 and a != e
            for a, e in zip(actual, expected, strict=False)
        ):
            shown = tuple(a if isinstance(a, int) else "?" for a in actual)
            return f"{kind} {name!r} has shape {shown}, its contract says {expected}"
        return None

    problems = []
    graph_inputs = {item.name: list(item.shape) for item in session.get_inputs()}
    missing = [name for name in inputs if name not in graph_inputs]
    extra = [name for name in graph_inputs if name not in inputs]
    if missing:
        problems.append(f"input(s) {missing} missing (it has {list(graph_inputs)})")
    if extra:
        problems.append(f"unexpected input(s) {extra}")
    for name, shape in inputs.items():
        if name in graph_inputs:
            problems.append(shape_error("input", name, graph_inputs[name], shape) or "")
    graph_outputs = [(item.name, list(item.shape)) for item in session.get_outputs()]
    if len(graph_outputs) != len(outputs):
        problems.append(f"{len(graph_outputs)} outputs, its contract says {len(outputs)}")
    else:
        for (name, actual), (wanted, shape) in zip(graph_outputs, outputs, strict=True):
            if wanted is not None and name != wanted:
                problems.append(f"output {name!r} where its contract has {wanted!r}")
            problems.append(shape_error("output", name, actual, shape) or "")
    problems = [problem for problem in problems if problem]
    if problems:
        raise ModelFileError(
            f"{path}: the graph contradicts its model contract: {problems[0]}"
            + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
            + "; re-export it with `unsing export`"
        )
