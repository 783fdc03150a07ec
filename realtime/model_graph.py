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
    input_bins = int(metadata.get("unsing.input_bins", bins))
    output_bins = int(metadata.get("unsing.output_bins", bins))
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
