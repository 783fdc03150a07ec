"""Reading an ONNX model file's metadata (the model contract) with onnxruntime."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from unsing.errors import ModelFileError


@dataclass(frozen=True)
class ModelFileInfo:
    """What an ONNX file declares: its metadata and its graph's inputs and outputs."""

    path: Path
    metadata: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, list[int | str | None]] = field(default_factory=dict)
    outputs: dict[str, list[int | str | None]] = field(default_factory=dict)


def read_model_info(path: str | Path) -> ModelFileInfo:
    """Open ``path`` with onnxruntime and return its metadata and I/O shapes.

    Raises:
        ModelFileError: the file is missing, unreadable, or not a valid ONNX model.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(
            f"{path}: model file not found (set model.path in config.yaml or pass --model)"
        )
    try:
        import onnxruntime
    except ImportError as error:
        raise ModelFileError(
            f"onnxruntime is not installed ({error}); `pip install onnxruntime`"
        ) from None
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    # only the metadata and the I/O are read: skip the graph optimisations (40% of the load)
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
    except Exception as error:  # onnxruntime raises several private exception types
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise ModelFileError(f"{path}: not a valid ONNX model ({first_line})") from None
    meta = session.get_modelmeta()
    return ModelFileInfo(
        path=path,
        metadata=dict(meta.custom_metadata_map),
        inputs={i.name: list(i.shape) for i in session.get_inputs()},
        outputs={o.name: list(o.shape) for o in session.get_outputs()},
    )
