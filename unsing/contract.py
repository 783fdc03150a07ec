"""The model contract: the settings a model file owns (sample rate, channels, STFT, context and
look-ahead frames), read from an ONNX file's metadata.

The model file is their single source: the runtime config never repeats them, and setting one
there (or with ``--set``) is an error that names the model file (:data:`MODEL_OWNED_KEYS`).
Training recipes declare them for the model they make, and export writes them into the file.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from unsing.errors import ModelFileError
from unsing.model_file import read_model_info
from unsing.stft import WINDOWS, StftSpec

#: Config keys of old (``section.key``) that the model file now owns -> its contract field.
MODEL_OWNED_KEYS = {
    "audio.sample_rate_hz": "sample_rate_hz",
    "audio.channels": "channels",
    "stft.n_fft": "n_fft",
    "stft.hop_samples": "hop_samples",
    "stft.window": "window",
    "model.context_frames": "context_frames",
    "model.lookahead_frames": "lookahead_frames",
}


@dataclass(frozen=True)
class ModelContract:
    """What every consumer of a model must agree with.

    Attributes:
        sample_rate_hz: the audio rate the model was trained at.
        channels: audio channels it masks (1 or 2).
        stft: window length, hop and window of its STFT frames.
        context_frames: past frames it sees per masked frame, the current one included.
        lookahead_frames: future frames it sees (each adds a hop of latency).
        source: where these values come from (a model file's path, a recipe), for messages.
    """

    sample_rate_hz: int
    channels: int
    stft: StftSpec
    context_frames: int
    lookahead_frames: int = 0
    source: str = "model file"

    def __post_init__(self) -> None:
        problems = []
        if not 8000 <= self.sample_rate_hz <= 192000:
            problems.append(f"sample_rate_hz = {self.sample_rate_hz} (allowed 8000-192000)")
        if self.channels not in (1, 2):
            problems.append(f"channels = {self.channels} (allowed: 1, 2)")
        if self.context_frames < 1:
            problems.append(f"context_frames = {self.context_frames} (at least 1)")
        if self.lookahead_frames < 0:
            problems.append(f"lookahead_frames = {self.lookahead_frames} (at least 0)")
        if problems:
            raise ModelFileError(f"{self.source}: unusable model contract: {'; '.join(problems)}")

    def value(self, name: str) -> int | str:
        """A contract field by its metadata name (``n_fft``, ``sample_rate_hz``, ...)."""
        if name in ("n_fft", "hop_samples", "window"):
            return getattr(self.stft, name)
        return getattr(self, name)


def contract_from_metadata(metadata: Mapping[str, str], source: str) -> ModelContract:
    """The contract in an ONNX file's ``unsing.*`` metadata.

    Raises:
        ModelFileError: a key is missing or malformed (one line naming ``source``).
    """

    def field(name: str) -> str:
        key = f"unsing.{name}"
        if key not in metadata:
            raise ModelFileError(
                f"{source}: the model contract lacks {key}; re-export it with `unsing export`"
            )
        return metadata[key]

    def integer(name: str) -> int:
        text = field(name)
        try:
            return int(text)
        except ValueError:
            raise ModelFileError(
                f"{source}: model contract unsing.{name} = {text!r} is not an integer"
            ) from None

    window = field("window")
    if window not in WINDOWS:
        raise ModelFileError(
            f"{source}: model contract unsing.window = {window!r} (allowed: {', '.join(WINDOWS)})"
        )
    try:
        stft = StftSpec(integer("n_fft"), integer("hop_samples"), window)
    except (ValueError, ZeroDivisionError) as error:
        raise ModelFileError(f"{source}: unusable model contract: {error}") from None
    return ModelContract(
        sample_rate_hz=integer("sample_rate_hz"),
        channels=integer("channels"),
        stft=stft,
        context_frames=integer("context_frames"),
        lookahead_frames=integer("lookahead_frames"),
        source=source,
    )


def read_contract(path: str | Path) -> ModelContract:
    """The contract of the ONNX model file at ``path`` (cached while the file is unchanged).

    Raises:
        ModelFileError: the file is missing, not a valid model, or its contract is unusable.
    """
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        stat = None
    if stat is None or not path.is_file():
        raise ModelFileError(
            f"{path}: model file not found (set model.path in your config or pass --model)"
        )
    return _read_contract(path.resolve(), str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=16)
def _read_contract(path: Path, shown: str, _mtime_ns: int, _size: int) -> ModelContract:
    return contract_from_metadata(read_model_info(path).metadata, shown)
