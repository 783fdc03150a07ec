"""Offline separation of a whole song, chunk by chunk, in flat memory.

This is ``unsing separate --mode offline`` (and ``play --to``): :func:`offline_vocals` takes the
song as blocks of samples and yields the vocals as blocks, sample-aligned with the input and
exactly as long. Inside, everything goes a chunk of frames at a time:

    samples -> STFT frames (and the long window's, for a long-band model)       _Analysis
    -> magnitudes -> the sequence graph, chunk_frames masks per call, the   sequence_model.py
       context carried between chunks (= the streaming graph frame by frame)
    -> vocals' frames: mask * X (long band: hybrid_vocals' two overlap-adds)
    -> overlap-add -> the samples no later frame touches                        _Synthesis

so memory holds a few chunks of frames whatever the song's length, and the frames are the
one-shot STFT's (``unsing.stft``: frame ``t`` ends at sample ``(t + 1) * hop``, zeros before the
start and after the end, the tail flushed). A model with look-ahead gets its future frames from
the song itself (silence past the end). Nothing is streamed in the engine's sense, so nothing
needs latency compensation.

:func:`offline_vocals` computes in float32 (the input's precision; numpy's float32 FFTs are
slow, scipy's are not): against float64 its vocals move by at most 4.5e-7 on the demo song and
4.6e-6 (-107 dBFS) on a synthetic worst case, where the long band's log powers of near-silent
low bins carry the float32 FFT's round-off into its mask (float64 analysis: 9e-8; it would
cost about 0.25 s per 133 s song). The model runs on worker threads, a chunk each, while this
thread computes the FFTs (:func:`offline_parallelism`).

:func:`separate_offline` runs the same chunked pipeline in float64 with a frame-by-frame
:class:`MaskModel` (the streaming graph or a test double): the reference the live engine is
tested against, independent of the engine's buffering (no streaming STFT, no frame ring, no
FIFO, no block handling). :func:`masks_for` pushes a whole song's magnitudes through such a
model.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

import numpy as np

from unsing.config import Config
from unsing.long_band import LongBandLayout
from unsing.realtime.acappella_gate import ACappellaGate
from unsing.realtime.engine import MaskModel
from unsing.realtime.mask_check import MaskCheck
from unsing.realtime.sequence_model import DEFAULT_CHUNK_FRAMES, SequenceMaskModel

#: Frames per FFT batch inside a chunk: the temporary frame arrays stay in cache (a batch of
#: long windows is ``channels * 64 * 4096`` samples, 2 MB in float32; 256 frames: 13 % slower).
FFT_BATCH_FRAMES = 64


def masks_for(
    model: MaskModel,
    magnitudes: np.ndarray,
    lookahead_frames: int,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Masks ``(channels, output_bins, frames)`` for magnitudes ``(channels, input_bins,
    frames)`` (both the STFT's bins unless the model has a long band), frame by frame.

    The model emits the mask of frame ``t - lookahead`` when frame ``t`` is pushed; the last
    ``lookahead`` masks come from pushing silent frames after the end.
    """
    frames = magnitudes.shape[-1]
    masks = _StreamedMasks(model, magnitudes.shape[1], lookahead_frames)
    parts, done = [], 0
    for start in range(0, frames, 256):
        parts.append(masks.push(magnitudes[..., start : start + 256]))
        done += parts[-1].shape[-1]
        if progress is not None:
            progress(done, frames)
    parts.append(masks.finish())
    return np.concatenate(parts, axis=-1)


class _Masks(Protocol):
    """Masks of frames pushed in order: ``push`` returns those now known, ``finish`` the rest."""

    def push(self, magnitude: np.ndarray) -> np.ndarray: ...

    def finish(self) -> np.ndarray: ...


class _StreamedMasks:
    """:class:`_Masks` from a frame-by-frame model (``MaskModel``: the streaming graph, the
    window graph or a test double), reset at the start and at the end."""

    def __init__(self, model: MaskModel, input_bins: int, lookahead_frames: int) -> None:
        self.model = model
        self.lookahead = lookahead_frames
        layout = model.long_band
        self.output_bins = input_bins if layout is None else model.bins + layout.output_bins
        self.silence = np.zeros((model.channels, input_bins), np.float32)
        self.pushed = 0
        model.reset()

    def _push_frames(self, frames: Iterable[np.ndarray]) -> np.ndarray:
        masks = []
        for frame in frames:
            mask = self.model(frame)
            if self.pushed >= self.lookahead:
                masks.append(mask.copy())
            self.pushed += 1
        if not masks:
            return np.zeros((self.model.channels, self.output_bins, 0), np.float32)
        return np.stack(masks, axis=-1).astype(np.float32, copy=False)

    def push(self, magnitude: np.ndarray) -> np.ndarray:
        by_frame = np.ascontiguousarray(np.moveaxis(magnitude, -1, 0), dtype=np.float32)
        return self._push_frames(by_frame)

    def finish(self) -> np.ndarray:
        masks = self._push_frames([self.silence] * self.lookahead)
        self.model.reset()
        return masks


def _rfft(frames: np.ndarray) -> np.ndarray:
    """Real FFT along the last axis: scipy's (numpy's float32 transforms run 3x slower than
    float64 ones), numpy's where scipy is absent."""
    try:
        import scipy.fft
    except ImportError:  # pragma: no cover - scipy is a dependency
        return np.fft.rfft(frames, axis=-1)
    return scipy.fft.rfft(frames, axis=-1, overwrite_x=True)


def _irfft(spectrum: np.ndarray, length: int) -> np.ndarray:
    """Inverse real FFT of ``length`` samples along the last axis (zeros above the bins given)."""
    try:
        import scipy.fft
    except ImportError:  # pragma: no cover - scipy is a dependency
        return np.fft.irfft(spectrum, n=length, axis=-1)
    return scipy.fft.irfft(spectrum, n=length, axis=-1)


class _Analysis:
    """Samples in, STFT frames out (the one-shot ``unsing.stft.stft``'s frames, in order).

    Keeps the newest ``frame_samples - hop`` samples that the next frame still needs (zeros
    before the start); a long-band model's long window ends where the project STFT's frame
    ends, so both come from the same samples.
    """

    def __init__(self, config: Config, layout: LongBandLayout | None, dtype: type) -> None:
        spec = config.contract.stft
        self.spec, self.layout, self.dtype = spec, layout, np.dtype(dtype)
        self.channels, self.hop = config.contract.channels, spec.hop_samples
        self.frame_samples = spec.n_fft if layout is None else layout.spec.frame_samples
        self.window = spec.analysis_window(self.dtype)
        self.long_window = None if layout is None else layout.spec.analysis_window(self.dtype)
        self.buffer = np.zeros((self.channels, self.frame_samples - self.hop), self.dtype)

    def frames(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """Take ``(channels, k * hop)`` new samples; the ``k`` frames that end in them: the
        STFT ``(channels, k, bins)``, (long band) the long window's lowest
        ``layout.output_bins`` bins ``(channels, k, output_bins)`` (those the vocals use) or
        None, and the model's input magnitudes ``(channels, input_bins, k)`` float32."""
        buffer = np.concatenate([self.buffer, samples.astype(self.dtype, copy=False)], -1)
        count = samples.shape[-1] // self.hop
        length, n_fft, bins = self.frame_samples, self.spec.n_fft, self.spec.bins
        views = np.lib.stride_tricks.sliding_window_view(buffer, length, axis=-1)
        views = views[:, :: self.hop][:, :count]
        complex_dtype = np.result_type(self.dtype, np.complex64)
        short = np.empty((self.channels, count, bins), complex_dtype)
        layout = self.layout
        input_bins = bins + (0 if layout is None else layout.input_bins)
        magnitude = np.empty((self.channels, input_bins, count), np.float32)
        long = (
            None
            if layout is None
            else np.empty((self.channels, count, layout.output_bins), complex_dtype)
        )
        for start in range(0, count, FFT_BATCH_FRAMES):
            stop = min(start + FFT_BATCH_FRAMES, count)
            batch = views[:, start:stop]
            spectrum = _rfft(batch[..., length - n_fft :] * self.window)
            short[:, start:stop] = spectrum
            # |X| frame-major, then transposed in one assignment (a ufunc writing through the
            # transposed view directly is 10x slower)
            magnitude[:, :bins, start:stop] = np.abs(spectrum).transpose(0, 2, 1)
            if layout is not None:
                spectrum = _rfft(batch * self.long_window)[..., : layout.input_bins]
                long[:, start:stop] = spectrum[..., : layout.output_bins]
                magnitude[:, bins:, start:stop] = np.abs(spectrum).transpose(0, 2, 1)
        self.buffer = np.ascontiguousarray(buffer[:, buffer.shape[-1] - (length - self.hop) :])
        return short, long, magnitude


class _Synthesis:
    """Vocals' frames in, samples out: weighted overlap-add (``unsing.stft.istft``; with a long
    band, ``unsing.long_band.hybrid_vocals``' two overlap-adds summed), emitting the samples no
    later frame touches.

    Frame ``t``'s synthesis covers samples ``[(t + 1) * hop - n_fft, (t + 1) * hop)`` for both
    transforms (the long window's synthesis covers its newest ``n_fft`` samples only).
    """

    def __init__(self, config: Config, layout: LongBandLayout | None, dtype: type) -> None:
        spec = config.contract.stft
        self.spec, self.layout, self.dtype = spec, layout, np.dtype(dtype)
        self.hop, self.n_fft, self.bins = spec.hop_samples, spec.n_fft, spec.bins
        self.channels = config.contract.channels
        self.window = spec.synthesis_tail(self.dtype)
        if layout is not None:
            self.short_weights = layout.short_weights().astype(self.dtype)
            self.long_weights = layout.long_weights().astype(self.dtype)
            self.long_window = layout.spec.synthesis_tail(self.dtype)
        # the a cappella gate (engine.a_cappella_gate), on throughout as the engine starts it
        self.gate = (
            ACappellaGate.from_config(config, True) if config.engine.a_cappella_gate else None
        )
        # partial sums of the samples [next frame's start, its start + n_fft - hop)
        self.pending = np.zeros((self.channels, self.n_fft - self.hop), self.dtype)
        self.next_sample = -(self.n_fft - self.hop)  # index of pending's first sample

    def _pieces(
        self,
        short: np.ndarray,
        long: np.ndarray | None,
        masks: np.ndarray,
        gates: np.ndarray | None,
    ) -> np.ndarray:
        """Windowed frames ``(channels, k, n_fft)`` of the vocals from the spectra ``(channels,
        k, bins)``, the masks ``(channels, output_bins, k)`` and the a cappella gate's gains
        ``(k,)`` (None: no gate)."""
        mask = np.ascontiguousarray(np.swapaxes(masks[:, : self.bins], 1, 2))
        if self.layout is not None:
            mask *= self.short_weights
        if gates is not None:  # the vocals take what the gate takes: gate * M + 1 - gate
            gate = gates.astype(self.dtype)[:, None]
            mask *= gate
            mask += 1.0 - gate
        vocals = short * mask
        pieces = np.fft.irfft(vocals, n=self.n_fft, axis=-1)
        pieces *= self.window
        if self.layout is not None:
            # hybrid_vocals' long part: its newest n_fft samples, windowed (scipy: numpy's
            # float32 transforms are slower, a BLAS product would spin threads on busy cores)
            length = self.layout.spec.frame_samples
            long_mask = np.ascontiguousarray(np.swapaxes(masks[:, self.bins :], 1, 2))
            long_mask *= self.long_weights
            if gates is not None:
                long_mask *= gates.astype(self.dtype)[:, None]
            long_pieces = _irfft(long * long_mask, length)
            pieces += long_pieces[..., length - self.n_fft :] * self.long_window
        return pieces.astype(self.dtype, copy=False)

    def add(self, short: np.ndarray, long: np.ndarray | None, masks: np.ndarray) -> np.ndarray:
        """Add ``k`` frames (spectra ``(channels, k, bins)``, masks ``(channels, output_bins,
        k)``); return the ``k * hop`` samples now final ``(channels, k * hop)``, starting at
        sample :attr:`next_sample` (negative at first: the frames' lead before the start)."""
        count = short.shape[1]
        hop, lead = self.hop, self.n_fft - self.hop
        out = np.zeros((self.channels, count * hop + lead), self.dtype)
        out[:, :lead] = self.pending
        gates = None
        if self.gate is not None:  # keyed by the U-Net's own mask on every short bin
            gates = self.gate.gains(short, np.swapaxes(masks[:, : self.bins], 1, 2))
        for start in range(0, count, FFT_BATCH_FRAMES):
            stop = min(start + FFT_BATCH_FRAMES, count)
            pieces = self._pieces(
                short[:, start:stop],
                None if long is None else long[:, start:stop],
                masks[..., start:stop],
                None if gates is None else gates[start:stop],
            )
            tiles = pieces.reshape(self.channels, stop - start, self.n_fft // hop, hop)
            for k in range(self.n_fft // hop):
                offset = (start + k) * hop
                out[:, offset : offset + (stop - start) * hop] += tiles[:, :, k].reshape(
                    self.channels, -1
                )
        self.pending = out[:, count * hop :].copy()
        self.next_sample += count * hop
        return out[:, : count * hop]


class _Separation:
    """The chunked pipeline: samples in (any block sizes), vocals out, in order."""

    def __init__(
        self,
        config: Config,
        masks: _Masks,
        layout: LongBandLayout | None,
        chunk_frames: int,
        dtype: type,
    ) -> None:
        self.hop = config.contract.stft.hop_samples
        self.overlap = config.contract.stft.overlap
        self.channels = config.contract.channels
        self.analysis = _Analysis(config, layout, dtype)
        self.synthesis = _Synthesis(config, layout, dtype)
        self.masks, self.layout, self.dtype = masks, layout, np.dtype(dtype)
        self.chunk_samples = max(1, chunk_frames) * self.hop
        self.blocks: list[np.ndarray] = []  # input not yet analysed, (samples, channels)
        self.buffered = 0
        self.samples_in = 0
        self.samples_out = 0
        self.limit = np.iinfo(np.int64).max  # samples past it are not emitted (the tail)
        # frames analysed whose masks are not out yet: STFT, long STFT
        self.spectra: list[tuple[np.ndarray, np.ndarray | None]] = []

    def _take(self, count: int) -> np.ndarray:
        """The next ``count`` buffered input samples as ``(channels, count)``."""
        joined = np.concatenate(self.blocks) if len(self.blocks) > 1 else self.blocks[0]
        taken, rest = joined[:count], joined[count:]
        self.blocks = [rest] if rest.shape[0] else []
        self.buffered -= count
        return taken.T

    def _frames(self, samples: np.ndarray) -> Iterator[np.ndarray]:
        """Analyse the frames ending in ``samples``, mask those the model has masks for, and
        yield the output samples that became final."""
        short, long, magnitude = self.analysis.frames(samples)
        self.spectra.append((short, long))
        yield from self._synthesise(self.masks.push(magnitude))

    def _synthesise(self, masks: np.ndarray) -> Iterator[np.ndarray]:
        """Synthesise the oldest pending frames with ``masks`` ``(channels, output_bins, m)``;
        yield the samples that became final."""
        done = 0
        while done < masks.shape[-1]:
            short, long = self.spectra[0]
            count = min(short.shape[1], masks.shape[-1] - done)
            part = masks[..., done : done + count].astype(self.dtype, copy=False)
            samples = self.synthesis.add(
                short[:, :count], None if long is None else long[:, :count], part
            )
            if count == short.shape[1]:
                self.spectra.pop(0)
            else:
                self.spectra[0] = (short[:, count:], None if long is None else long[:, count:])
            done += count
            yield from self._emit(samples, self.synthesis.next_sample - samples.shape[-1])

    def _emit(self, samples: np.ndarray, first: int) -> Iterator[np.ndarray]:
        """Yield ``samples`` ``(channels, n)``, whose first is sample ``first``, as
        ``(n, channels)`` from sample 0 on and below :attr:`limit` (the input's length, once
        known)."""
        start = max(0, -first)
        stop = min(samples.shape[-1], self.limit - first)
        if stop > start:
            self.samples_out += stop - start
            yield samples[:, start:stop].T

    def push(self, block: np.ndarray) -> Iterator[np.ndarray]:
        """Take a ``(samples, channels)`` block; yield the vocals now final."""
        block = np.asarray(block)
        if block.ndim != 2 or block.shape[1] != self.channels:
            raise ValueError(
                f"offline separation takes (samples, {self.channels}) blocks, got {block.shape}"
            )
        if not block.shape[0]:
            return
        self.blocks.append(block)
        self.buffered += block.shape[0]
        self.samples_in += block.shape[0]
        while self.buffered >= self.chunk_samples:
            yield from self._frames(self._take(self.chunk_samples))

    def finish(self) -> Iterator[np.ndarray]:
        """Flush: the rest of the input, zeros up to the last frame (the tail), the masks the
        model still holds; yield the vocals up to the input's length."""
        self.limit = self.samples_in
        total_frames = -(-self.samples_in // self.hop) + self.overlap - 1
        analysed = (self.samples_in - self.buffered) // self.hop
        missing = (total_frames - analysed) * self.hop - self.buffered
        rest = self._take(self.buffered) if self.buffered else np.zeros((self.channels, 0))
        padded = np.concatenate(
            [rest.astype(self.dtype), np.zeros((self.channels, missing), self.dtype)], -1
        )
        for start in range(0, padded.shape[-1], self.chunk_samples):
            yield from self._frames(padded[:, start : start + self.chunk_samples])
        yield from self._synthesise(self.masks.finish())


def offline_parallelism(config: Config) -> tuple[int, int]:
    """``(threads, runs)``: onnxruntime threads per run of the sequence graph
    (``model.intra_op_threads``) and the runs in flight at once, so that both fill the cores
    this process may run on (its CPU affinity: a library worker pinned to one core runs one).

    The chunks' runs are independent, so on 2 cores two single-threaded runs at once beat one
    run on two threads (the demo song: 3.5 s against 4.0 s, decode included; one thread,
    one run at a time: 6.1 s); meanwhile this thread computes the FFTs."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    threads = max(1, config.model.intra_op_threads)
    return threads, max(1, cores // threads)


def offline_vocals(
    config: Config,
    blocks: Iterable[np.ndarray],
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    check: MaskCheck | None = None,
) -> Iterator[np.ndarray]:
    """The vocals of a song given as blocks, from the sequence graph in chunks.

    Args:
        config: the configuration; its model (``model.path``) must have a sequence graph
            beside it (``NAME.sequence.onnx``, written by ``unsing export``).
        blocks: float32 ``(samples, channels)`` at ``config.contract.sample_rate_hz`` with
            ``config.contract.channels`` channels, any block sizes.
        chunk_frames: frames of masks per model call (each call also recomputes the
            ``context - 1`` frames before its chunk); memory holds a few chunks, and
            onnxruntime about 150 KB per frame of each run in flight
            (:func:`offline_parallelism`): the default, 2 runs on 2 cores, peaks at about
            400 MB in all.
        check: counts the frames and those whose mask was not finite (replaced by the
            previous one; masks are clamped to [0, 1]); a model broken on every frame raises
            :class:`~unsing.errors.ModelFileError` before the last block.

    Returns:
        An iterator of float32 ``(samples, channels)`` vocal blocks; concatenated, exactly as
        long as the input and sample-aligned with it. The accompaniment is the input minus the
        vocals. The model is loaded by the call, before any block is read: a missing or
        mismatched sequence graph raises :class:`~unsing.errors.ModelFileError` there.
    """
    if chunk_frames < 1:
        raise ValueError(f"chunk_frames must be at least 1, got {chunk_frames}")
    threads, runs = offline_parallelism(config)
    model = SequenceMaskModel(config, threads=threads)
    return _offline_vocals(config, model, blocks, chunk_frames, runs, check)


def _offline_vocals(
    config: Config,
    model: SequenceMaskModel,
    blocks: Iterable[np.ndarray],
    chunk_frames: int,
    runs: int,
    check: MaskCheck | None = None,
) -> Iterator[np.ndarray]:
    masks = model.chunked(chunk_frames, workers=runs)
    masks.check = check
    try:
        for vocals in _separate(config, blocks, masks, model.long_band, chunk_frames):
            yield np.ascontiguousarray(vocals, dtype=np.float32)
        if check is not None:
            check.finish()
    finally:
        masks.close()


def _separate(
    config: Config,
    blocks: Iterable[np.ndarray],
    masks: _Masks,
    layout: LongBandLayout | None,
    chunk_frames: int,
    dtype: type = np.float32,
) -> Iterator[np.ndarray]:
    separation = _Separation(config, masks, layout, chunk_frames, dtype)
    for block in blocks:
        yield from separation.push(block)
    yield from separation.finish()


def separate_offline(
    config: Config,
    model: MaskModel | SequenceMaskModel,
    audio: np.ndarray,
    progress: Callable[[int, int], None] | None = None,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
) -> tuple[np.ndarray, np.ndarray]:
    """Vocals and accompaniment of ``audio`` ``(samples, channels)``, each float32 of the same
    shape, aligned with the input: the chunked pipeline in float64.

    ``model``: a frame-by-frame :class:`MaskModel` (the reference the engine is tested against)
    or a :class:`SequenceMaskModel` (its chunks). ``progress(done, total)`` is called with the
    samples done.
    """
    signal = np.asarray(audio)
    masks: Any
    if isinstance(model, SequenceMaskModel):
        masks = model.chunked(chunk_frames)
    else:
        input_bins = config.contract.stft.bins
        if model.long_band is not None:
            input_bins += model.long_band.input_bins
        masks = _StreamedMasks(model, input_bins, config.contract.lookahead_frames)
    total = signal.shape[0]
    step = max(1, chunk_frames) * config.contract.stft.hop_samples
    pieces = (signal[start : start + step] for start in range(0, total, step))
    vocals = np.zeros((total, config.contract.channels), np.float64)
    done = 0
    for part in _separate(config, pieces, masks, model.long_band, chunk_frames, np.float64):
        vocals[done : done + part.shape[0]] = part
        done += part.shape[0]
        if progress is not None:
            progress(done, total)
    accompaniment = signal.astype(np.float64) - vocals
    return vocals.astype(np.float32), accompaniment.astype(np.float32)
