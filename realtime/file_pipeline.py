"""A song file through the separator in blocks: flat memory, stems that add up to the input.

``unsing separate`` and ``unsing play --to`` (and every song of the library mode) run this::

    file (any rate, mono/stereo) -> blocks (soundfile) --------------------------+ FIFO
      -> channels to the model's (mono: both) -> soxr stream to the model's rate   |
      -> vocals: offline (sequence graph) or stream (the live engine, delay cut)   |
      -> soxr stream back to the file's rate -> the file's channels (mean)         |
      -> vocals v, aligned with the input samples x waiting in the FIFO <---------+
      -> vocals = v, accompaniment = x - v (karaoke mix: master * (gv * v + ga * (x - v)))
      -> writers (temporary files, renamed when complete)

Every stage is a generator over blocks, so memory stays flat whatever the song's length. soxr's
stream resamplers are index-aligned (output sample ``k`` belongs to input time ``k / rate``; the
first blocks just come out shorter), so the vocals' sample ``k`` is subtracted from the input's
sample ``k``. The accompaniment is computed at the file's own rate in float32 from the float32
vocals, so ``vocals + accompaniment == input`` to float32 rounding at any rate: what lies above
the model's band (a 96 kHz song's top octave) goes to the accompaniment.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from unsing.config import Config
from unsing.realtime.audio_file import AtomicWriter, SongInfo, read_blocks
from unsing.realtime.engine import MaskModel, SeparationEngine
from unsing.realtime.gains import LiveParameters
from unsing.realtime.mask_check import MaskCheck

#: A model-rate processor: float32 ``(samples, channels)`` blocks of any size in, blocks out
#: whose concatenation is exactly as long as the input's and sample-aligned with it.
Processor = Callable[[Iterable[np.ndarray]], Iterator[np.ndarray]]
#: ``progress(done_samples, total_samples)`` at the file's rate, once per block.
Progress = Callable[[int, int], None]

#: Frames per block read from the file.
READ_FRAMES = 1 << 15
#: Hops per block fed to the live engine (any multiple of the hop gives the same output).
ENGINE_BLOCK_HOPS = 16


def rechunk(blocks: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """Blocks of exactly ``size`` samples (the last one shorter) from blocks of any size."""
    pending: list[np.ndarray] = []
    level = 0
    for block in blocks:
        while block.shape[0]:
            take = min(size - level, block.shape[0])
            pending.append(block[:take])
            level += take
            block = block[take:]
            if level == size:
                yield pending[0] if len(pending) == 1 else np.concatenate(pending)
                pending, level = [], 0
    if level:
        yield np.concatenate(pending)


def engine_output(engine: SeparationEngine, blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """``engine``'s output for ``blocks``, its delay compensated: a :data:`Processor`.

    The engine's first :attr:`~SeparationEngine.delay_samples` output samples are dropped and
    silence is pushed after the end to flush the last ones, so output sample ``n`` belongs to
    input sample ``n`` and the output is exactly as long as the input. Blocks go in as whole
    hops (the engine's output does not depend on the block size)."""
    hop = engine.hop_samples
    size = ENGINE_BLOCK_HOPS * hop
    channels = engine.channels
    out = np.zeros((size, engine.output_channels), np.float32)
    to_drop = engine.delay_samples
    received = emitted = 0

    def step(block: np.ndarray) -> Iterator[np.ndarray]:
        nonlocal to_drop, emitted
        count = block.shape[0]
        engine.process(block, out[:count])
        start = min(to_drop, count)
        to_drop -= start
        stop = min(count, start + received - emitted)
        if stop > start:
            emitted += stop - start
            yield out[start:stop].copy()

    for block in rechunk(blocks, size):
        received += block.shape[0]
        if block.shape[0] % hop:  # the last, partial block: padded to whole hops
            padded = np.zeros((-(-block.shape[0] // hop) * hop, channels), np.float32)
            padded[: block.shape[0]] = block
            block = padded
        yield from step(np.ascontiguousarray(block, np.float32))
    silence = np.zeros((size, channels), np.float32)
    while emitted < received:
        yield from step(silence)


def stream_vocals(
    config: Config,
    model: MaskModel,
    blocks: Iterable[np.ndarray],
    check: MaskCheck | None = None,
) -> Iterator[np.ndarray]:
    """The vocals of ``blocks`` (float32 ``(samples, channels)`` at the model's rate and
    channels, any block sizes) by the live engine (``separate --mode stream``): float32 blocks,
    concatenated exactly as long as the input and sample-aligned with it.

    The engine runs its mix with vocal gain 1 and accompaniment gain 0, which is bitwise the
    vocals stem of ``SeparationEngine(..., stems=True)`` (the gain is ``mask * 1 + 0``) with one
    resynthesis instead of two (7 % faster); the a cappella gate (``engine.a_cappella_gate``)
    moves its share of the accompaniment to the vocals there as in the stems. The engine is
    pipelined: its model runs in a second thread beside the STFTs, with bitwise the same
    output. ``check`` counts the model runs and the masks that were not finite (the engine kept
    the previous mask there). Stems keep the song's key, whatever ``engine.key_*`` say."""
    engine = SeparationEngine(
        config.without_key_change(),
        model,
        LiveParameters(
            vocal_gain=1.0,
            accompaniment_gain=0.0,
            master_gain=1.0,
            a_cappella_gate=config.engine.a_cappella_gate,
        ),
        blocksize_samples=ENGINE_BLOCK_HOPS * config.contract.stft.hop_samples,
        pipelined=True,
    )
    counted = [0, 0]  # model runs, model resets (non-finite masks) already counted

    def count() -> None:
        if check is not None:
            runs, resets = engine.stats.count("model_runs"), engine.stats.count("model_resets")
            check.add(runs - counted[0], resets - counted[1])
            counted[:] = [runs, resets]

    try:
        for vocals in engine_output(engine, blocks):
            count()
            yield vocals
        count()
        if check is not None:
            check.finish()
    finally:
        engine.close()


def offline_processor(config: Config, check: MaskCheck | None = None) -> Processor:
    """``separate --mode offline``'s vocals: :func:`unsing.realtime.offline.offline_vocals`
    (the sequence graph, in chunks; imported here so that stream mode loads none of it)."""
    from unsing.realtime.offline import offline_vocals

    return lambda blocks: offline_vocals(config, blocks, check=check)


def vocals_processor(
    config: Config,
    mode: str,
    model: Callable[[], MaskModel],
    check: MaskCheck | None = None,
) -> Processor:
    """The vocals :data:`Processor` of ``mode`` (``offline`` or ``stream``); ``model()`` builds
    the streaming mask model stream mode needs (offline mode loads the sequence graph).
    ``check`` counts the frames whose mask was not finite (:mod:`~unsing.realtime.mask_check`)."""
    if mode == "offline":
        return offline_processor(config, check)
    if mode != "stream":
        raise ValueError(f"mode {mode!r}: offline or stream")
    loaded = model()
    return lambda blocks: stream_vocals(config, loaded, blocks, check)


def to_channels(block: np.ndarray, channels: int) -> np.ndarray:
    """``block`` ``(samples, c)`` with ``channels`` channels: as is, or the mean of its
    channels copied to each."""
    if block.shape[1] == channels:
        return block
    mono = block.mean(axis=1, keepdims=True, dtype=np.float32)
    return np.ascontiguousarray(np.repeat(mono, channels, axis=1)) if channels > 1 else mono


class StreamResampler:
    """soxr's stream resampler (HQ), or nothing when the rates are equal. Index-aligned: the
    concatenated output equals ``soxr.resample`` of the whole signal."""

    def __init__(self, in_rate: int, out_rate: int, channels: int) -> None:
        import soxr

        self.channels = channels
        self._stream = (
            None
            if in_rate == out_rate
            else soxr.ResampleStream(in_rate, out_rate, channels, dtype="float32", quality="HQ")
        )

    def __call__(self, block: np.ndarray) -> np.ndarray:
        if self._stream is None:
            return block
        return self._stream.resample_chunk(np.ascontiguousarray(block, np.float32), last=False)

    def flush(self) -> np.ndarray:
        """What the resampler still holds (call once, after the last block)."""
        if self._stream is None:
            return np.zeros((0, self.channels), np.float32)
        return self._stream.resample_chunk(np.zeros((0, self.channels), np.float32), last=True)


class _Fifo:
    """Input samples waiting for their vocals: blocks in, any count out, in order."""

    def __init__(self, channels: int) -> None:
        self._blocks: deque[np.ndarray] = deque()
        self._offset = 0
        self.level = 0
        self.channels = channels

    def push(self, block: np.ndarray) -> None:
        self._blocks.append(block)
        self.level += block.shape[0]

    def pop(self, count: int) -> np.ndarray:
        parts = []
        while count:
            head = self._blocks[0]
            take = min(count, head.shape[0] - self._offset)
            parts.append(head[self._offset : self._offset + take])
            self._offset += take
            count -= take
            self.level -= take
            if self._offset == head.shape[0]:
                self._blocks.popleft()
                self._offset = 0
        if not parts:
            return np.zeros((0, self.channels), np.float32)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


def aligned_blocks(
    config: Config, song: SongInfo, processor: Processor, read_frames: int = READ_FRAMES
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(input, processed)`` block pairs at the song's rate and channels, float32, of equal
    length: ``processor`` (vocals, or the engine's mix) run at the model's rate and channels
    and brought back, each sample beside the input sample it belongs to. The pairs cover the
    decoded song exactly (a resampled result one sample short is padded with silence)."""
    model_rate, model_channels = config.contract.sample_rate_hz, config.contract.channels
    rate, channels = song.sample_rate_hz, song.channels
    fifo = _Fifo(channels)

    def model_blocks() -> Iterator[np.ndarray]:
        up = StreamResampler(rate, model_rate, model_channels)
        for block in read_blocks(song, read_frames):
            fifo.push(block)
            converted = up(to_channels(block, model_channels))
            if converted.shape[0]:
                yield converted
        tail = up.flush()
        if tail.shape[0]:
            yield tail

    down = StreamResampler(model_rate, rate, model_channels)

    def pair(processed: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        processed = to_channels(processed, channels)
        count = min(processed.shape[0], fifo.level)  # a resampled sample past the end: dropped
        if count:
            yield fifo.pop(count), np.ascontiguousarray(processed[:count], np.float32)

    for block in processor(model_blocks()):
        yield from pair(down(block))
    yield from pair(down.flush())
    if fifo.level:  # the last sample(s) the resampled result came short of
        rest = fifo.pop(fifo.level)
        yield rest, np.zeros_like(rest)


# ---------------------------------------------------------------------- files


#: ``output(input, vocals) -> block`` for one output file.
Formula = Callable[[np.ndarray, np.ndarray], np.ndarray]


def vocals_formula(x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The vocals stem."""
    return v


def accompaniment_formula(x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The accompaniment stem: the input minus the vocals (float32; adds up exactly)."""
    return x - v


def mix_formula(vocal: float, accompaniment: float, master: float) -> Formula:
    """``master * (vocal * v + accompaniment * (x - v))`` (the engine's mix at constant
    gains)."""

    def formula(x: np.ndarray, v: np.ndarray) -> np.ndarray:
        return (master * (vocal * v + accompaniment * (x - v))).astype(np.float32)

    return formula


def processed_formula(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The processor's output itself (the engine's own mix)."""
    return y


@dataclass
class RunStats:
    """What a file run did, for messages and ``--stats-json``."""

    song: str
    outputs: list[str]
    sample_rate_hz: int
    channels: int
    model_sample_rate_hz: int
    samples: int = 0
    blocks: int = 0
    wall_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def audio_seconds(self) -> float:
        """Length of what was processed."""
        return self.samples / self.sample_rate_hz

    @property
    def real_time_factor(self) -> float:
        """Seconds of audio per second of wall time."""
        return self.audio_seconds / max(self.wall_seconds, 1e-9)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "song": self.song,
            "outputs": self.outputs,
            "sample_rate_hz": self.sample_rate_hz,
            "channels": self.channels,
            "model_sample_rate_hz": self.model_sample_rate_hz,
            "samples": self.samples,
            "audio_seconds": round(self.audio_seconds, 3),
            "wall_seconds": round(self.wall_seconds, 3),
            "x_real_time": round(self.real_time_factor, 2),
            "blocks": self.blocks,
            **self.extra,
        }


def run_file(
    config: Config,
    song: SongInfo,
    processor: Processor,
    outputs: dict[Path, Formula],
    progress: Progress | None = None,
    read_frames: int = READ_FRAMES,
) -> RunStats:
    """Run ``song`` through ``processor`` and write each output ``path: formula(x, y)`` (``x``
    the input block, ``y`` the processor's, both at the song's rate and channels). The outputs
    appear when all are complete (:class:`AtomicWriter`); on any error or interruption none
    does. Paths should be checked first (:func:`~unsing.realtime.audio_file.check_output`)."""
    stats = RunStats(
        str(song.path),
        [str(path) for path in outputs],
        song.sample_rate_hz,
        song.channels,
        config.contract.sample_rate_hz,
    )
    started = time.perf_counter()
    writers: list[tuple[AtomicWriter, Formula]] = []
    try:
        for path, formula in outputs.items():
            writers.append((AtomicWriter(path, song.sample_rate_hz, song.channels), formula))
        for x, y in aligned_blocks(config, song, processor, read_frames):
            for writer, formula in writers:
                writer.write(formula(x, y))
            stats.samples += x.shape[0]
            stats.blocks += 1
            if progress is not None:
                progress(min(stats.samples, song.frames), max(song.frames, stats.samples))
        for writer, _ in writers:
            writer.commit()
    except BaseException:
        for writer, _ in reversed(writers):  # the last made is the one in an empty folder
            writer.discard()
        raise
    stats.wall_seconds = time.perf_counter() - started
    return stats
