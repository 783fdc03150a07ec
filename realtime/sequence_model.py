"""The ONNX sequence graph in chunks: the masks of many frames per onnxruntime call, equal to the
streaming graph's frame by frame.

``unsing export`` writes ``NAME.sequence.onnx`` beside the streaming graph ``NAME.onnx``: the
causal whole-sequence forward (``CausalUNet.forward``), input ``magnitude [batch, channels,
input_bins, frames]``, output ``mask [batch, channels, output_bins, frames]``, ``frames``
dynamic. Output frame ``t`` depends on input frames ``t - receptive_field + 1 .. t`` only
(``receptive_field = context + lookahead``), and every causal convolution pads its past with
zeros exactly where the streaming graph starts from zero states. So a song is computed in chunks
that overlap by the receptive field: each run gets the ``context - 1`` frames before its chunk
(warm-up, their outputs dropped) and, for a model with look-ahead ``L``, the chunk's mask of frame
``t`` is the output at frame ``t + L``; past the end of the song the frames are silent (zero
magnitudes), as when the streaming graph is pushed silence. The first chunk starts from the
song's start, with no warm-up: there the zero padding *is* the stream's start.

:class:`SequenceMaskModel` holds the session; :class:`ChunkedMasks` carries the context from one
chunk to the next, for frames that arrive a chunk at a time (``realtime/offline.py``).
Numpy and onnxruntime only (``realtime/`` never imports torch).
"""

from __future__ import annotations

import functools
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from unsing.config import Config
from unsing.errors import ModelFileError
from unsing.model_file import read_model_info
from unsing.realtime.mask_check import MaskCheck, sanitize_masks
from unsing.realtime.model_graph import (
    check_graph_contract,
    check_graph_io,
    graph_bins,
    long_band_layout,
    open_session,
)

#: Frames of masks one onnxruntime call computes by default (each call also recomputes the
#: ``context - 1`` warm-up frames before its chunk: 14 % more frames for the default model);
#: see :func:`realtime.offline.offline_vocals`. The demo song on 2 cores: 768, 1024 and 2048
#: frames within 5 % of each other; onnxruntime's memory grows with it (150 KB a frame).
DEFAULT_CHUNK_FRAMES = 1024


def sequence_graph_path(streaming_path: Path) -> Path:
    """``name.onnx`` -> ``name.sequence.onnx`` (where ``unsing export`` writes the sequence
    graph)."""
    streaming_path = Path(streaming_path)
    return streaming_path.with_name(streaming_path.stem + ".sequence.onnx")


def _checkpoint_digest(streaming_path: Path) -> str | None:
    """The streaming graph's ``unsing.source_checkpoint_sha256`` (None if it has none or
    cannot be read), cached while the file is unchanged."""
    try:
        stat = streaming_path.stat()
    except OSError:
        return None
    return _cached_digest(streaming_path.resolve(), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=16)
def _cached_digest(path: Path, _mtime_ns: int, _size: int) -> str | None:
    try:
        return read_model_info(path).metadata.get("unsing.source_checkpoint_sha256")
    except ModelFileError:
        return None


class SequenceMaskModel:
    """Masks ``(channels, output_bins, frames)`` for magnitudes ``(channels, input_bins,
    frames)`` from the sequence graph beside ``config.model.path``.

    Args:
        config: the engine's configuration; the file's contract must be ``config.contract``.
        path: the streaming graph's path (default ``config.model.path``); the sequence graph is
            :func:`sequence_graph_path` of it.
        threads: onnxruntime intra-op threads (default ``config.model.intra_op_threads``).
    """

    def __init__(
        self, config: Config, path: Path | None = None, threads: int | None = None
    ) -> None:
        import onnxruntime

        streaming_path = Path(path) if path is not None else Path(config.model.path)
        self.path = sequence_graph_path(streaming_path)
        if not self.path.is_file():
            raise ModelFileError(
                f"{self.path}: sequence graph not found beside {streaming_path.name} (offline "
                "separation needs it); re-export the model with `unsing export`"
            )
        self.threads = int(threads or config.model.intra_op_threads)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = config.model.inter_op_threads
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        options.add_session_config_entry("session.set_denormal_as_zero", "1")
        # a memory pattern is planned per input shape and holds every activation at its own
        # offset: 184 KB per frame of a chunk against 114 KB from the arena alone (measured)
        options.enable_mem_pattern = False
        # between runs the caller computes FFTs: idle threads must not spin on its cores
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = open_session(self.path, options)
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self._check_contract(config)
        self._check_same_checkpoint(streaming_path)
        contract = config.contract
        self.channels = contract.channels
        self.bins = contract.stft.bins
        self.context_frames = contract.context_frames
        self.lookahead_frames = contract.lookahead_frames
        self.long_band = long_band_layout(self.metadata, contract.stft, self.path)
        self.input_bins, self.output_bins = graph_bins(
            self.metadata, self.bins, self.long_band, self.path
        )
        check_graph_io(  # frames: any number (the graph's frames axis is dynamic)
            self.session,
            self.path,
            {"magnitude": (1, self.channels, self.input_bins, -1)},
            [(None, (1, self.channels, self.output_bins, -1))],
        )

    def _check_contract(self, config: Config) -> None:
        """The file must be a sequence graph of the model ``config.contract`` describes."""
        check_graph_contract(
            self.metadata,
            self.path,
            "sequence",
            config.contract,
            remedy="re-export the model with `unsing export`",
        )

    def _check_same_checkpoint(self, streaming_path: Path) -> None:
        """Both graphs must come from one checkpoint (``unsing.source_checkpoint_sha256``):
        a sequence graph left from an older export of a model with the same contract would
        otherwise give other masks than the streaming graph, silently."""
        mine = self.metadata.get("unsing.source_checkpoint_sha256")
        theirs = _checkpoint_digest(streaming_path)
        if mine and theirs and mine != theirs:
            raise ModelFileError(
                f"{self.path}: exported from another checkpoint than {streaming_path.name} "
                f"(sha256 {mine[:12]} against {theirs[:12]}); re-export the model with "
                "`unsing export`"
            )

    @property
    def warm_up_frames(self) -> int:
        """Frames before a chunk that a run recomputes: ``context - 1``."""
        return self.context_frames - 1

    def run(self, magnitude: np.ndarray) -> np.ndarray:
        """One call: the graph's output ``(channels, output_bins, frames)`` for ``magnitude``
        ``(channels, input_bins, frames)`` taken as the start of a stream (output frame ``t``
        is the mask of frame ``t - lookahead``)."""
        feed = np.ascontiguousarray(magnitude, dtype=np.float32)[None]
        return self.session.run(None, {"magnitude": feed})[0][0]

    def chunked(self, chunk_frames: int = DEFAULT_CHUNK_FRAMES, workers: int = 0) -> ChunkedMasks:
        """A fresh :class:`ChunkedMasks` over this model (the start of a song)."""
        return ChunkedMasks(self, chunk_frames, workers)

    def masks(self, magnitude: np.ndarray, chunk_frames: int = DEFAULT_CHUNK_FRAMES) -> np.ndarray:
        """Masks ``(channels, output_bins, frames)`` of a whole song's ``magnitude``
        ``(channels, input_bins, frames)``, aligned with its frames (silence after the end),
        computed ``chunk_frames`` at a time: equal to the streaming graph's frame by frame."""
        chunks = self.chunked(chunk_frames)
        parts = [chunks.push(magnitude), chunks.finish()]
        return np.concatenate(parts, axis=-1)


class ChunkedMasks:
    """Masks of frames that arrive in pieces, with the context carried between runs.

    :meth:`push` takes the next frames' magnitudes and returns the masks now known, in frame
    order (zero frames while fewer than ``chunk_frames + lookahead`` are pending); :meth:`finish`
    returns the rest (the frames after the end are silent). Holds at most ``context - 1``
    frames of history and ``chunk_frames + lookahead`` pending frames between calls, plus what
    one push brings.

    With ``workers`` > 0, the runs go to that many worker threads (onnxruntime releases the
    GIL; the chunks' runs are independent of each other) and :meth:`push` returns the masks of
    the runs that are done, in order, leaving up to ``workers`` running: the caller's FFTs of
    the next chunk overlap the model's runs. The masks are the same.
    """

    def __init__(
        self,
        model: SequenceMaskModel,
        chunk_frames: int = DEFAULT_CHUNK_FRAMES,
        workers: int = 0,
    ) -> None:
        if chunk_frames < 1:
            raise ValueError(f"chunk_frames must be at least 1, got {chunk_frames}")
        self.model = model
        self.chunk_frames = int(chunk_frames)
        shape = (model.channels, model.input_bins, 0)
        self._history = np.zeros(shape, np.float32)  # the frames before the pending ones
        self._pending = np.zeros(shape, np.float32)  # frames whose masks are not out yet
        self._jobs: deque[tuple[Any, int, int]] = deque()  # (output or future, first, count)
        self.workers = max(0, int(workers))
        self._executor = None
        if self.workers:
            from concurrent.futures import ThreadPoolExecutor

            self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="unsing-sequence")
        self.frames_in = 0
        self.frames_out = 0
        #: counts the frames out and those whose mask was not finite (replaced, as the live
        #: engine does, by the previous mask; every mask is clamped to [0, 1])
        self.check: MaskCheck | None = None
        self._last_mask: np.ndarray | None = None

    def _submit(self, count: int) -> None:
        """Start the run for the next ``count`` pending frames (the lookahead frames after them
        must be pending too); moves them to the history."""
        model = self.model
        lookahead = model.lookahead_frames
        first = self._history.shape[-1] + lookahead
        window = np.concatenate([self._history, self._pending[..., : count + lookahead]], -1)
        if self._executor is None:
            self._jobs.append((model.run(window), first, count))
        else:
            self._jobs.append((self._executor.submit(model.run, window), first, count))
        done = np.concatenate([self._history, self._pending[..., :count]], -1)
        self._history = np.ascontiguousarray(
            done[..., max(0, done.shape[-1] - model.warm_up_frames) :]
        )
        self._pending = np.ascontiguousarray(self._pending[..., count:])

    def _collect(self, keep: int) -> np.ndarray:
        """The masks of the oldest runs, leaving the newest ``keep`` running."""
        parts = [np.zeros((self.model.channels, self.model.output_bins, 0), np.float32)]
        while len(self._jobs) > keep:
            output, first, count = self._jobs.popleft()
            if self._executor is not None:
                output = output.result()
            parts.append(output[..., first : first + count])
            self.frames_out += count
        masks = parts[-1] if len(parts) == 2 else np.concatenate(parts, -1)
        masks, replaced = sanitize_masks(masks, self._last_mask)
        if masks.shape[-1]:
            self._last_mask = masks[..., -1].copy()
        if self.check is not None:
            self.check.add(masks.shape[-1], replaced)
        return masks

    def push(self, magnitude: np.ndarray) -> np.ndarray:
        """Take ``(channels, input_bins, frames)`` magnitudes; return the masks ``(channels,
        output_bins, n)`` of the next ``n`` frames (``n`` may be 0)."""
        magnitude = np.asarray(magnitude, np.float32)
        self.frames_in += magnitude.shape[-1]
        self._pending = np.concatenate([self._pending, magnitude], -1)
        lookahead = self.model.lookahead_frames
        while self._pending.shape[-1] >= self.chunk_frames + lookahead:
            self._submit(self.chunk_frames)
        return self._collect(self.workers)

    def finish(self) -> np.ndarray:
        """The masks of every frame still pending (silent frames follow the last one)."""
        model = self.model
        lookahead = model.lookahead_frames
        silence = np.zeros((model.channels, model.input_bins, lookahead), np.float32)
        self._pending = np.concatenate([self._pending, silence], -1)
        while self._pending.shape[-1] > lookahead:
            self._submit(min(self.chunk_frames, self._pending.shape[-1] - lookahead))
        self._pending = self._pending[..., :0]
        try:
            return self._collect(0)
        finally:
            self.close()

    def close(self) -> None:
        """Stop the worker thread (if any); runs in flight are finished, their masks dropped."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
            self._jobs.clear()
