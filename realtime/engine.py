"""The separation engine: the one code path behind `run`, `play`, `separate --mode stream`.

Blocks of any size go in and come out; inside, work happens once per hop:

    input hop (channels, hop) -> streaming STFT frame X
    -> model: mask M for frame t - lookahead (X is delayed to match)
    -> mix:   Y = master * (g_vocal * M + g_accomp * (1 - M)) * X    (gains smoothed per hop)
       stems: Y_vocals = M * X, Y_accompaniment = X - M * X
       a cappella gate g (``engine.a_cappella_gate``, keyed by the mask: acappella_gate.py):
       g_accomp -> g_accomp * g + g_vocal * (1 - g); stems: M -> g * M + 1 - g
    -> overlap-add with the mixture phase (or online Griffin-Lim) -> output hop

A model with a long-window band (``unsing.long_band``) also gets the newest frame of the
long-window STFT (same hop, same frame end): its mask ``M_long`` replaces ``M`` below the
crossover. ``M`` is weighted by the U-Net's share of each bin, and a second overlap-add adds
``master * (g_vocal - g_accomp) * M_long * long_weights * X_long`` (stems: ``+ M_long ...`` to the
vocals, ``-`` to the accompaniment), with the same latency. With unity gains the output is still
exactly the input. Online Griffin-Lim reconstructs the project STFT only: there the U-Net's own
mask covers every bin and the long band is left out.

Output lags input by :attr:`SeparationEngine.delay_samples` (``n_fft - hop`` + look-aheads, plus
``hop - gcd(blocksize, hop)`` when the block size is not a multiple of the hop). Everything the
hot path touches is allocated in ``__init__``; the per-hop work is numpy with ``out=`` and one
onnxruntime call. Bad input (NaN/Inf) is zeroed before it reaches any state; a non-finite mask
resets the model and reuses the last mask, and every mask is clamped to [0, 1]; a non-finite
output resets the resynthesis. With a
deadline (live streams), inference that would finish too late is skipped for that hop and the
last mask reused (``engine.deadline_policy: reuse_last_mask``) or the mixture passed
(``pass_through``), and counted. "Too late" uses a running estimate of an inference's time:
each run counts at most 4 times the estimate (a preempted run says little about the next), and
each skipped hop decays it, so that a model skipped after a slow run soon runs and measures
itself again (a model slower than the budget then runs on a share of the hops, never on none).
"""

from __future__ import annotations

import math
import time
from math import gcd
from typing import Protocol

import numpy as np

from unsing.config import Config
from unsing.latency import Latency
from unsing.long_band import LongBandLayout
from unsing.realtime.acappella_gate import ACappellaGate
from unsing.realtime.gains import GainSmoother, LiveParameters
from unsing.realtime.model_worker import ModelWorker, share_core, share_realtime_priority
from unsing.realtime.pitch_shift import SpectralPitchShift
from unsing.realtime.resynthesis import OnlineGriffinLim, OverlapAddResynthesis
from unsing.realtime.rubberband_shift import RubberBandShift
from unsing.realtime.stats import EngineStats, counter_index
from unsing.stft import StreamingIstft, StreamingStft

#: Weight of the newest inference time in the running estimate the deadline check uses.
_INFERENCE_ESTIMATE_WEIGHT = 0.1
#: An inference time counts in the estimate at most this many times the estimate: one run
#: preempted for tens of ms says little about the next run, while a lasting slowdown (a lower
#: clock) still doubles the estimate within a few hops.
_INFERENCE_OUTLIER_RATIO = 4.0

_CALLBACKS = counter_index("callbacks")
_HOPS = counter_index("hops")
_MODEL_RUNS = counter_index("model_runs")
_DEADLINE_MISSES = counter_index("deadline_misses")
_LATE = counter_index("late_inferences")
_BAD_INPUT = counter_index("bad_input_hops")
_MODEL_RESETS = counter_index("model_resets")
_OUTPUT_RESETS = counter_index("output_resets")
_UNDERRUNS = counter_index("alignment_underruns")
#: The live model thread's magnitude slots, and the frames it may run at once behind the
#: analysis (more: history only; see :meth:`SeparationEngine._submit`).
_LIVE_SLOTS = 4
_LIVE_IN_FLIGHT = 2


class MaskModel(Protocol):
    """What the engine needs of a model (``OnnxMaskModel`` or a test double)."""

    channels: int
    bins: int
    #: None, or (a model with a long-window band) its layout: the input magnitudes and the
    #: mask then carry the long band's bins after the STFT's ``bins``.
    long_band: LongBandLayout | None

    def __call__(self, magnitude: np.ndarray) -> np.ndarray:
        """``(channels, input_bins)`` float32 magnitudes in, ``(channels, output_bins)`` mask
        out (may be a reused buffer)."""

    def skip(self, magnitude: np.ndarray) -> None:
        """Take the frame into the model's history without running inference."""

    def reset(self) -> None:
        """Forget all history."""


def alignment_samples(blocksize_samples: int, hop_samples: int) -> int:
    """Output delay that lets blocks of ``blocksize_samples`` be answered at once."""
    if blocksize_samples % hop_samples == 0:
        return 0
    return hop_samples - gcd(blocksize_samples, hop_samples)


class SeparationEngine:
    """Streams ``(frames, channels)`` float32 blocks through the separator.

    Args:
        config: engine settings and blocksize; ``config.contract`` gives the rate, channels,
            STFT and look-ahead.
        model: the mask model (its look-ahead must be ``config.contract.lookahead_frames``).
        parameters: live gain targets (default: ``engine.*_gain_db``); ignored with ``stems``.
        stems: output ``2 * channels`` columns, vocals then accompaniment, instead of the mix.
        blocksize_samples: the block size callers will use (default ``audio.blocksize_samples``);
            any size works, this one without output underruns.
        deadline: a live stream. With ``engine.model_thread`` the model runs in its own
            thread (:meth:`_collect`, :meth:`_submit`), one hop behind: each hop is synthesised
            with the previous frame's mask and never waits for the model. Without, each
            inference must fit ``engine.deadline_hop_fraction`` of the hop period. Off for
            rendering, which must not depend on the machine's speed and uses each frame's own
            mask.
        previous_mask: rendering only: synthesise each hop with the previous frame's mask, as
            the live model thread does, in this thread (the live output whenever the model
            thread was on time: tested; and what that order costs in quality: measured).
        pipelined: rendering only (no deadline): blocks of two or more whole hops run the
            model in a worker thread while the other stages go on (:meth:`_process_hops`),
            with bitwise the same output; :meth:`close` stops the thread.
    """

    def __init__(
        self,
        config: Config,
        model: MaskModel,
        parameters: LiveParameters | None = None,
        *,
        stems: bool = False,
        blocksize_samples: int | None = None,
        deadline: bool = False,
        pipelined: bool = False,
        previous_mask: bool = False,
    ) -> None:
        spec = config.contract.stft
        channels = config.contract.channels
        if (model.channels, model.bins) != (channels, spec.bins):
            raise ValueError(
                f"model takes {model.channels} channels x {model.bins} bins, the engine "
                f"{channels} x {spec.bins}"
            )
        self.config = config
        self.spec = spec
        self.channels = channels
        self.model = model
        self.stems = stems
        self.parameters = parameters or LiveParameters.from_config(config)
        hop = spec.hop_samples
        rate = config.contract.sample_rate_hz
        self.hop_samples = hop
        self.hop_seconds = hop / rate
        self.smoother = GainSmoother(self.parameters, hop, rate, config.engine.gain_smoothing_ms)
        self.lookahead_frames = config.contract.lookahead_frames
        engine = config.engine
        outputs = 2 if stems else 1
        self.output_channels = outputs * channels

        def resynthesis() -> OverlapAddResynthesis | OnlineGriffinLim:
            if engine.resynthesis == "griffin_lim":
                return OnlineGriffinLim(
                    spec,
                    channels,
                    engine.griffin_lim_iterations,
                    engine.griffin_lim_lookahead_frames,
                )
            return OverlapAddResynthesis(spec, channels)

        self._resynthesis = [resynthesis() for _ in range(outputs)]
        # the model's long band (its inputs are always fed); resynthesised unless Griffin-Lim
        layout = model.long_band
        if layout is not None and (layout.spec.short != spec or self.lookahead_frames):
            raise ValueError(
                f"the model's long band needs the STFT {layout.spec.short} and no look-ahead; "
                f"the engine has {spec} and look-ahead {self.lookahead_frames}"
            )
        self._model_long_band = layout
        self.long_band = None if engine.resynthesis == "griffin_lim" else layout
        # the key change (parameters.key_semitones): by Rubber Band after the resynthesis
        # (engine.key_shifter: rubberband, when the session can change key), else in this
        # STFT: overlap-add only (the config refuses such a key with Griffin-Lim)
        self._rubberband_key = config.rubberband_key_shift
        self._rubberband: RubberBandShift | None = None
        self._pitch = (
            SpectralPitchShift(spec.n_fft, hop, channels)
            if engine.resynthesis == "overlap_add" and not self._rubberband_key
            else None
        )
        self._frame_shifted = False
        self.blocksize_samples = blocksize_samples or config.audio.blocksize_samples
        self.alignment_samples = alignment_samples(self.blocksize_samples, hop)
        # the declared stream delay (unsing.latency's formula), plus the block alignment
        self.delay_samples = (
            Latency.from_config(config).stream_delay_samples + self.alignment_samples
        )
        self.stats = EngineStats()
        self._counts = self.stats.counts
        self._pass_through = engine.deadline_policy == "pass_through"
        self._deadline_fraction = engine.deadline_hop_fraction if deadline else None
        if (pipelined or previous_mask) and deadline:
            raise ValueError("a pipelined or previous-mask engine renders: it takes no deadline")
        if pipelined and previous_mask:
            raise ValueError("a pipelined render uses each frame's own mask")
        # engine.model_thread, live: each hop is synthesised with the mask of the frame before
        # it, and the model of frame t runs after hop t in a thread of its own
        self._pipelined = pipelined
        self._live_thread = engine.model_thread and deadline
        self._previous_mask = self._live_thread or previous_mask
        #: None until the first live hop; then whether the model thread runs real-time (one
        #: priority below the audio thread, which sets it: share_realtime_priority)
        self.model_thread_realtime: bool | None = None
        #: the core the audio and model threads then share (share_core), or None
        self.model_thread_core: int | None = None
        self._inference_estimate_s = 0.0
        self._block_start = 0.0
        self._hop_in_block = 0

        self._stft = StreamingStft(spec, channels)
        bins = spec.bins
        self._input_hop = np.zeros((channels, hop))
        self._input_fill = 0
        # Hops analysed ahead of their synthesis: one live; a pipelined render analyses a
        # whole block's hops (its model runs them meanwhile), then synthesises them. The frame
        # ring keeps those and the look-ahead's frames; the model's inputs and the long
        # frames have a slot per hop ahead (slot = hop number modulo ``_ahead``).
        # The live model thread reads a slot while the next hops are analysed: _LIVE_SLOTS.
        # The previous-mask order resynthesises the previous frame too (its final mask).
        if pipelined:
            self._ahead = max(2, self.blocksize_samples // hop)
        elif self._previous_mask:
            self._ahead = _LIVE_SLOTS if self._live_thread else 2
        else:
            self._ahead = 1
        self._ring_frames = self.lookahead_frames + self._ahead
        self._frames = np.zeros((self._ring_frames, channels, bins), np.complex128)
        self._frame_write = 0
        input_bins = bins + (layout.input_bins if layout is not None else 0)
        self._magnitude = np.zeros((channels, input_bins))
        self._magnitude_short = self._magnitude[:, :bins]
        self._abs_short = np.zeros((channels, bins))
        self._magnitudes32 = np.zeros((self._ahead, channels, input_bins), np.float32)
        self._slot = 0
        output_bins = bins + (layout.output_bins if layout is not None else 0)
        self._worker = (
            ModelWorker(model, self._ahead, (channels, output_bins))
            if pipelined or self._live_thread
            else None
        )
        # Mask and gain are stored once per real and imaginary part, (channels, bins, 2) float64,
        # so that they multiply complex frames viewed as float pairs: a complex-by-real ufunc
        # would allocate a casting buffer on every hop.
        self._mask_pairs = np.zeros((channels, bins, 2))
        self._gain_pairs = np.zeros((channels, bins, 2))
        self._init_long_band(layout, channels, outputs)
        # the a cappella gate (parameters.a_cappella_gate): keyed by the U-Net's own mask on
        # the frame that mask belongs to (the previous-mask order: the previous frame)
        self._gate = ACappellaGate.from_config(config, self.parameters.a_cappella_gate)
        self._gate_mask = (
            self._masks64_short if self.long_band is not None else self._mask_pairs[..., 0]
        )
        self._spectra = np.zeros((outputs, channels, bins), np.complex128)
        self._spectra_pairs = self._spectra.view(np.float64).reshape(outputs, channels, bins, 2)
        # previous-mask order with overlap-add: each hop also finishes the previous frame with
        # its own mask (all but its first hop, emitted a hop ago with the mask before)
        self._late_overlap_add = self._previous_mask and engine.resynthesis == "overlap_add"
        self._final_spectra = np.zeros_like(self._spectra)
        self._final_pairs = self._final_spectra.view(np.float64).reshape(outputs, channels, bins, 2)
        # with a key change: the shifted spectra, and the U-Net's own mask on every bin (the
        # long band is off: its overlap-add and the short one would not stay phase-coherent)
        self._shifted_spectra = np.zeros_like(self._spectra)
        self._shifted_final_spectra = np.zeros_like(self._spectra)
        self._unet_mask_pairs = np.zeros_like(self._mask_pairs)
        self._frames_pairs = self._frames.view(np.float64).reshape(
            self._ring_frames, channels, bins, 2
        )
        self._hop_out = np.zeros((self.output_channels, hop))
        # output FIFO: finished hops wait here until a block asks for them
        self._fifo = np.zeros((self.output_channels, 2 * hop + self.alignment_samples))
        self._fifo_read = 0
        self._fifo_level = 0
        self.reset()

    def _init_long_band(self, layout, channels: int, outputs: int) -> None:
        """Buffers of the long-window path (``layout``: the model's ``LongBandLayout`` or
        None): its analysis feeds the model, its resynthesis only without Griffin-Lim."""
        if layout is None:
            return
        bins, band = self.spec.bins, layout.output_bins
        self._long_stft = StreamingStft(layout.spec, channels)
        self._long_frames = np.zeros((self._ahead, channels, layout.spec.bins), np.complex128)
        self._long_frame_inputs = [frame[:, : layout.input_bins] for frame in self._long_frames]
        self._magnitude_long = self._magnitude[:, bins:]
        if self.long_band is None:
            return
        self._short_weights = layout.short_weights()
        self._long_weights = layout.long_weights()
        self._long_resynthesis = [StreamingIstft(layout.spec, channels) for _ in range(outputs)]
        self._long_frame_bands = [
            frame.view(np.float64).reshape(channels, -1, 2)[:, :band] for frame in self._long_frames
        ]
        self._masks64 = np.zeros((channels, bins + band))
        self._masks64_short, self._masks64_long = self._masks64[:, :bins], self._masks64[:, bins:]
        self._mask_pair_parts = (self._mask_pairs[..., 0], self._mask_pairs[..., 1])
        self._long_mask_pairs = np.zeros((channels, band, 2))
        self._long_mask_pair_parts = (self._long_mask_pairs[..., 0], self._long_mask_pairs[..., 1])
        self._long_gain_pairs = np.zeros((channels, band, 2))
        # outside the band the long spectra stay zero
        self._long_spectra = np.zeros((outputs, channels, layout.spec.bins), np.complex128)
        self._long_band_pairs = self._long_spectra.view(np.float64).reshape(
            outputs, channels, -1, 2
        )[:, :, :band]
        self._long_final_spectra = np.zeros_like(self._long_spectra)
        self._long_final_band_pairs = self._long_final_spectra.view(np.float64).reshape(
            outputs, channels, -1, 2
        )[:, :, :band]
        self._long_out = np.zeros((channels, self.hop_samples))

    # ------------------------------------------------------------------ state

    @property
    def gate_gain(self) -> float:
        """The a cappella gate's gain on the last hop (1: open or off)."""
        return self._gate.gain

    def reset(self) -> None:
        """Start over: silence in every buffer, gains at their targets, counters kept (waits
        for the model thread's frames in flight, if any: not for the audio thread)."""
        if self._worker is not None:
            self._worker.drain()
        self.model_thread_realtime = None  # (a warm-up's hops ran in another thread)
        self._stft.reset()
        self.model.reset()
        for resynthesis in self._resynthesis:
            resynthesis.reset()
        self._input_hop.fill(0.0)
        self._input_fill = 0
        self._frames.fill(0.0)
        self._frame_write = 0
        self._frame_read = -self.lookahead_frames % self._ring_frames
        self._slot = self._synthesis_slot = 0
        self._mask_pairs.fill(0.0)
        if self._pitch is not None:
            self._pitch.reset()
        if self._rubberband_key:  # a fresh stretcher: its FIFO primed, its pad fed
            self._rubberband = RubberBandShift(
                len(self._resynthesis),
                self.channels,
                self.config.contract.sample_rate_hz,
                self.hop_samples,
                self.parameters.effective_key(),
            )
        self._frame_shifted = False
        self._fifo.fill(0.0)
        self._fifo_read = 0
        self._fifo_level = self.alignment_samples
        self.smoother.jump()
        self._gate.reset(self.parameters.a_cappella_gate)
        if self._model_long_band is not None:
            self._long_stft.reset()
            self._long_frames.fill(0.0)
        if self.long_band is not None:
            for resynthesis in self._long_resynthesis:
                resynthesis.reset()
            self._long_mask_pairs.fill(0.0)

    def warm_up(self, seconds: float = 0.5) -> None:
        """Run ``seconds`` of silence through the engine, then :meth:`reset` it and its counters.

        onnxruntime's first runs of a session allocate and fill caches (several times a hop's
        cost); done before the stream opens, they cannot make the first callbacks late. The
        deadline is off meanwhile, so that every hop runs the model (a skipped hop warms nothing)
        and the deadline's running estimate of an inference ends at the warmed-up cost."""
        rate = self.config.contract.sample_rate_hz
        block = np.zeros((self.hop_samples, self.config.contract.channels), np.float32)
        out = np.zeros((self.hop_samples, self.output_channels), np.float32)
        fraction, self._deadline_fraction = self._deadline_fraction, None
        try:
            for _ in range(max(1, round(seconds * rate / self.hop_samples))):
                self.process(block, out)
                if self._live_thread:  # every hop's frame runs the model (none skipped)
                    self._worker.drain()
        finally:
            self._deadline_fraction = fraction
        self.reset()
        self.stats.reset()

    # ------------------------------------------------------------------ blocks

    def process(self, block_in: np.ndarray, block_out: np.ndarray) -> None:
        """Consume ``block_in`` ``(frames, channels)``; fill ``block_out``
        ``(frames, output_channels)`` with the output that is due (same number of frames)."""
        frames = block_in.shape[0]
        if self.stats.reset_pending[0]:  # a reset asked for by another thread, done here
            self.stats.reset()
        self._block_start = time.perf_counter()
        self._hop_in_block = 0
        self._counts[_CALLBACKS] += 1
        hop = self.hop_samples
        position = 0
        if self._pipelined and self._input_fill == 0 and frames >= 2 * hop:
            position = frames - frames % hop
            self._process_hops(block_in[:position], block_out[:position])
        while position < frames:
            count = min(frames - position, hop - self._input_fill)
            fill = self._input_fill
            self._input_hop[:, fill : fill + count] = block_in[position : position + count].T
            self._input_fill = fill + count
            if self._input_fill == hop:
                self._input_fill = 0
                self._push(self._process_hop())
            self._pull(block_out[position : position + count])
            position += count
        if frames:  # peak meters for the status line (reductions: no arrays allocated)
            stats = self.stats
            peak = max(float(block_in.max()), -float(block_in.min()))
            stats.peak_input[0] = max(stats.peak_input[0], peak)
            peak = max(float(block_out.max()), -float(block_out.min()))
            stats.peak_output[0] = max(stats.peak_output[0], peak)

    def close(self) -> None:
        """Stop the model thread (pipelined render or live ``engine.model_thread``; nothing to
        do otherwise); the engine then runs its model in the calling thread."""
        if self._worker is not None:
            self._worker.close()
            self._worker = None
        self._live_thread = self._pipelined = False  # (live: the same order, in this thread)

    def _push(self, hops: np.ndarray) -> None:
        """Append ``(output_channels, hop)`` finished samples to the FIFO (through Rubber
        Band's key change first, where it runs)."""
        if self._rubberband is not None:
            self._rubberband.set_key(self.parameters.effective_key())
            self._rubberband.process(hops)
        size = self._fifo.shape[1]
        hop = self.hop_samples
        write = (self._fifo_read + self._fifo_level) % size
        head = min(hop, size - write)
        self._fifo[:, write : write + head] = hops[:, :head]
        if head < hop:
            self._fifo[:, : hop - head] = hops[:, head:]
        self._fifo_level += hop

    def _pull(self, out: np.ndarray) -> None:
        """Move ``out.shape[0]`` samples from the FIFO into ``out`` ``(frames, channels)``."""
        wanted = out.shape[0]
        available = min(wanted, self._fifo_level)
        if available < wanted:
            self._counts[_UNDERRUNS] += wanted - available
            out[available:] = 0.0
        size = self._fifo.shape[1]
        read = self._fifo_read
        head = min(available, size - read)
        out[:head] = self._fifo[:, read : read + head].T
        if head < available:
            out[head:available] = self._fifo[:, : available - head].T
        self._fifo_read = (read + available) % size
        self._fifo_level -= available

    # ------------------------------------------------------------------ one hop

    def _process_hop(self) -> np.ndarray:
        """Everything for one hop: analysis, then inference and synthesis (live with
        ``engine.model_thread``, or ``previous_mask``: synthesis with the previous frame's mask,
        then this frame's inference, live in the model thread). Returns ``(output_channels,
        hop)`` (a reused buffer)."""
        started = time.perf_counter()
        slot = self._analyse()
        if not self._previous_mask:
            return self._synthesise(self._infer(started, slot), started)
        if self._live_thread:
            out = self._synthesise(self._collect(), started)
            self._submit(slot)
            return out
        out = self._synthesise(True, started)
        self._infer(started, slot)  # this frame's mask, for the next hop
        return out

    def _collect(self) -> bool:
        """The live model thread's masks finished since the last hop, taken in order (the
        last is the previous frame's when the thread is on time). Returns whether to use the
        mask; none finished: a deadline miss, the mask is kept (``reuse_last_mask``) or the
        mixture passes (``pass_through``)."""
        worker = self._worker
        fresh = False
        while (result := worker.poll()) is not None:
            mask, took = result
            if mask is not None:  # (a frame the model only took into its history: None)
                fresh = self._use_mask(mask, took, model_reset=True)
        if fresh or self._counts[_HOPS] == 1:  # (the first hop has no frame before it)
            return True
        self._counts[_DEADLINE_MISSES] += 1
        return not self._pass_through

    def _submit(self, slot: int) -> None:
        """Hand the hop's magnitudes in ``slot`` to the live model thread. A thread still busy
        with two frames gets this one for its history only (``model.skip``: it catches up in
        order); one with three (stalled) does not get it, so that no slot in use is
        overwritten."""
        worker = self._worker
        if self.model_thread_realtime is None:  # once, from the audio thread
            self.model_thread_realtime = share_realtime_priority(worker.native_id)
            if self.model_thread_realtime:
                self.model_thread_core = share_core(worker.native_id)
        in_flight = worker.in_flight
        if in_flight < _LIVE_IN_FLIGHT:
            worker.submit(self._magnitudes32[slot])
        elif in_flight < _LIVE_SLOTS - 1:
            worker.submit(self._magnitudes32[slot], run=False)

    def _process_hops(self, block_in: np.ndarray, block_out: np.ndarray) -> None:
        """Whole hops of ``block_in`` (none pending in ``_input_hop``), pipelined, up to
        ``_ahead`` hops at a time: this thread analyses them all, handing each hop's magnitudes
        to the worker thread, whose model runs them in order (onnxruntime releases the
        interpreter lock) while this thread goes on; then it synthesises each hop as its mask
        comes. Every stage sees the hops in order with the same inputs, so the output is
        bitwise that of :meth:`_process_hop` hop after hop (tested)."""
        hop = self.hop_samples
        worker = self._worker
        assert worker is not None
        total = block_in.shape[0] // hop
        for first in range(0, total, self._ahead):
            count = min(self._ahead, total - first)
            started = time.perf_counter()
            submitted = 0
            try:
                for index in range(first, first + count):
                    self._input_hop[:] = block_in[index * hop : (index + 1) * hop].T
                    worker.submit(self._magnitudes32[self._analyse()])
                    submitted += 1
                for index in range(first, first + count):
                    submitted -= 1
                    mask, took = worker.result()
                    use_mask = self._use_mask(mask, took, model_reset=True)
                    self._push(self._synthesise(use_mask, started))
                    self._pull(block_out[index * hop : (index + 1) * hop])
                    started = time.perf_counter()
            finally:
                for _ in range(submitted):  # an error here: let the model finish before leaving
                    worker.result()

    def _analyse(self) -> int:
        """The input hop's STFT frame(s) into the frame ring and the model's input magnitudes;
        returns the slot of ``_magnitudes32`` (and of the long frame) it wrote."""
        counts = self._counts
        counts[_HOPS] += 1
        hop_in = self._input_hop
        if not math.isfinite(float(hop_in.sum())):
            hop_in.fill(0.0)
            counts[_BAD_INPUT] += 1
        frame = self._stft.process(hop_in)
        write = self._frame_write
        self._frames[write] = frame
        self._frame_write = (write + 1) % self._ring_frames
        slot = self._slot
        self._slot = (slot + 1) % self._ahead
        if self._model_long_band is None:
            np.abs(frame, out=self._magnitude)
        else:  # a contiguous result first: abs into a strided view would buffer (allocate)
            np.abs(frame, out=self._abs_short)
            self._magnitude_short[:] = self._abs_short
            self._long_frames[slot] = self._long_stft.process(hop_in)
            np.abs(self._long_frame_inputs[slot], out=self._magnitude_long)
        self._magnitudes32[slot] = self._magnitude
        return slot

    def _synthesise(self, use_mask: bool, started: float) -> np.ndarray:
        """The oldest analysed hop's output from the current mask and gains (``use_mask``
        False: the mixture); returns ``(output_channels, hop)`` (a reused buffer). In the
        previous-mask order with overlap-add, the previous frame is finished with the current
        mask (its own) and only the first hop of this frame's is provisional."""
        counts = self._counts
        # with look-ahead L the mask is for frame t - L, L frames behind the analysis
        read = self._frame_read
        self._frame_read = (read + 1) % self._ring_frames
        slot = self._synthesis_slot
        self._synthesis_slot = (slot + 1) % self._ahead
        late = self._late_overlap_add
        previous = (read - 1) % self._ring_frames
        layout = self.long_band
        gains = self.smoother.step()
        gate = self._gate.step(
            self.parameters.a_cappella_gate,
            self._frames[previous if self._previous_mask else read],
            self._gate_mask,
        )
        spectra, pairs = self._spectra, self._spectra_pairs
        final, final_pairs = self._final_spectra, self._final_pairs
        shifting = self._shifting()
        previous_shifted, self._frame_shifted = self._frame_shifted, shifting
        mask_pairs = self._mask_pairs
        if shifting and layout is not None:  # the U-Net's mask alone, on every bin
            mask_pairs = self._unet_mask_pairs
            np.copyto(mask_pairs[..., 0], self._masks64_short)
            np.copyto(mask_pairs[..., 1], self._masks64_short)
        if self.stems:
            vocal_mask = mask_pairs
            if gate != 1.0:  # the vocals take what the gate takes: gate * M + 1 - gate
                vocal_mask = self._gain_pairs
                np.multiply(mask_pairs, gate, out=vocal_mask)
                vocal_mask += 1.0 - gate
            np.multiply(self._frames_pairs[read], vocal_mask, out=pairs[0])
            np.subtract(self._frames[read], spectra[0], out=spectra[1])
            if late:
                np.multiply(self._frames_pairs[previous], vocal_mask, out=final_pairs[0])
                np.subtract(self._frames[previous], final[0], out=final[1])
        else:
            vocal, accompaniment, master = gains
            if gate != 1.0:  # the gate's share of the accompaniment goes with the vocals
                accompaniment = accompaniment * gate + vocal * (1.0 - gate)
                gains = (vocal, accompaniment, master)
            gain = self._gain_pairs
            if use_mask:
                np.multiply(mask_pairs, master * (vocal - accompaniment), out=gain)
                gain += master * accompaniment
            else:  # pass_through deadline policy: the mixture
                gain.fill(master)
            np.multiply(self._frames_pairs[read], gain, out=pairs[0])
            if late:
                np.multiply(self._frames_pairs[previous], gain, out=final_pairs[0])

        if layout is not None:
            if shifting:  # its overlap-adds play out their tails
                self._long_band_pairs.fill(0.0)
                self._long_final_band_pairs.fill(0.0)
            else:
                if not self.stems:
                    self._long_band_gain(use_mask, gains)
                self._long_band_spectra(slot, self._long_band_pairs, gate)
                if late:
                    previous_slot = (slot - 1) % self._ahead
                    self._long_band_spectra(previous_slot, self._long_final_band_pairs, gate)
        if shifting or (late and previous_shifted):
            spectra, final = self._shift(read, late, shifting, previous_shifted)

        out = self._hop_out
        channels = self.channels
        for index, resynthesis in enumerate(self._resynthesis):
            rows = slice(index * channels, (index + 1) * channels)
            if late:
                out[rows] = resynthesis.process_late(spectra[index], final[index])
            else:
                out[rows] = resynthesis.process(spectra[index])
            if layout is not None:
                long = self._long_resynthesis[index]
                if late:
                    self._long_out[:] = long.process_late(
                        self._long_spectra[index], self._long_final_spectra[index]
                    )
                else:
                    self._long_out[:] = long.process(self._long_spectra[index])
                out[rows] += self._long_out
        if not math.isfinite(float(out.sum())):
            for resynthesis in self._resynthesis:
                resynthesis.reset()
            if layout is not None:
                for resynthesis in self._long_resynthesis:
                    resynthesis.reset()
            out.fill(0.0)
            counts[_OUTPUT_RESETS] += 1
        self.stats.record_hop(time.perf_counter() - started)
        self._hop_in_block += 1
        return out

    def _shifting(self) -> bool:
        """Whether this hop's frame changes key (``parameters.key_semitones``, none in
        bypass); a shift that starts restarts the phase tracks from the input's phases."""
        key = self.parameters.effective_key()
        if self._pitch is None or key == 0.0:
            return False
        if not self._frame_shifted:
            self._pitch.reset()
        self._pitch.set_semitones(key)
        return True

    def _shift(
        self, read: int, late: bool, shifting: bool, previous_shifted: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """This hop's spectra (and the previous frame's final ones) in the new key; each
        frame keeps the key it started in (its provisional first hop and its finish agree)."""
        pitch = self._pitch
        shifted, shifted_final = self._shifted_spectra, self._shifted_final_spectra
        spectra, final = self._spectra, self._final_spectra
        if shifting:
            pitch.plan(self._frames[read])
            for index in range(spectra.shape[0]):
                pitch.apply(spectra[index], shifted[index])
        if late and previous_shifted:
            for index in range(final.shape[0]):
                # the previous frame's plan: the one before this hop's, if this hop made one
                pitch.apply(final[index], shifted_final[index], previous=shifting)
        return (shifted if shifting else spectra), (shifted_final if previous_shifted else final)

    def _long_band_gain(self, use_mask: bool, gains: tuple[float, float, float]) -> None:
        """The mix's gain on the long-window band for this hop (its share of the
        gain-weighted mix) into ``_long_gain_pairs``."""
        vocal, accompaniment, master = gains
        if use_mask:
            np.multiply(
                self._long_mask_pairs, master * (vocal - accompaniment), out=self._long_gain_pairs
            )
        else:  # pass_through: the main path alone is the mixture
            self._long_gain_pairs.fill(0.0)

    def _long_band_spectra(self, slot: int, band: np.ndarray, gate: float) -> None:
        """The long-window path's frame in ``slot`` into ``band`` (the band of the long
        spectra, as float pairs): the vocals' low band (times the a cappella ``gate``; stems:
        and its negative for the accompaniment), or the mix's share by
        :meth:`_long_band_gain`."""
        frame_band = self._long_frame_bands[slot]
        if self.stems:
            np.multiply(frame_band, self._long_mask_pairs, out=band[0])
            if gate != 1.0:
                band[0] *= gate
            np.negative(band[0], out=band[1])
            return
        np.multiply(frame_band, self._long_gain_pairs, out=band[0])

    def _infer(self, hop_started: float, slot: int) -> bool:
        """Update the mask for this hop (or keep it) from the magnitudes in ``slot``; False:
        pass the mixture through."""
        magnitude = self._magnitudes32[slot]
        fraction = self._deadline_fraction
        if fraction is not None:
            elapsed = hop_started - self._block_start + self._inference_estimate_s
            if elapsed > (self._hop_in_block + fraction) * self.hop_seconds:
                self.model.skip(magnitude)
                self._counts[_DEADLINE_MISSES] += 1
                # A skipped hop measures nothing: the estimate decays, so that the model runs
                # again and measures itself. Without this, an estimate above the budget (one
                # slow run was enough) skipped every later hop and froze the mask for good.
                self._inference_estimate_s *= 1.0 - _INFERENCE_ESTIMATE_WEIGHT
                return not self._pass_through
        started = time.perf_counter()
        mask = self.model(magnitude)
        return self._use_mask(mask, time.perf_counter() - started)

    def _use_mask(self, mask: np.ndarray, took: float, model_reset: bool = False) -> bool:
        """Take the model's ``mask`` (``took`` seconds to compute) as the current mask, or keep
        the previous one and reset the model (``model_reset``: the worker did) if it is not
        finite. Returns True."""
        counts = self._counts
        fraction = self._deadline_fraction
        counts[_MODEL_RUNS] += 1
        self.stats.record_model(took)
        estimate = self._inference_estimate_s
        if estimate > 0.0:
            took_counted = min(took, _INFERENCE_OUTLIER_RATIO * estimate)
        else:
            took_counted = took
        self._inference_estimate_s = estimate + _INFERENCE_ESTIMATE_WEIGHT * (
            took_counted - estimate
        )
        if fraction is not None and took > fraction * self.hop_seconds:
            counts[_LATE] += 1
        if not math.isfinite(float(mask.sum())):
            if not model_reset:
                self.model.reset()
            counts[_MODEL_RESETS] += 1
            return True  # keep the previous mask
        np.clip(mask, 0.0, 1.0, out=mask)  # a broken model's mask of 5 must not make 5x vocals
        bins = self.spec.bins
        if self.long_band is None:  # (Griffin-Lim: a long-band model's U-Net mask alone)
            self._mask_pairs[..., 0] = mask[:, :bins]
            self._mask_pairs[..., 1] = mask[:, :bins]
            return True
        # float64 first, then each weighted product straight into its place: a mixed-type or
        # self-overlapping operation would buffer (allocate)
        self._masks64[:] = mask
        short, long = self._masks64_short, self._masks64_long
        for out in self._mask_pair_parts:
            np.multiply(short, self._short_weights, out=out)
        for out in self._long_mask_pair_parts:
            np.multiply(long, self._long_weights, out=out)
        return True
