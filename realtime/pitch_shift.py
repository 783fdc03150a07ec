"""Pitch shift inside the engine's own STFT, frame by frame: no latency of its own.

A phase vocoder with identity phase locking (Laroche & Dolson, "New phase-vocoder techniques
for pitch-shifting, harmonizing and other exotic effects", WASPAA 1999). For each frame of the
mixture:

1. peaks: bins whose magnitude (summed over channels) is a maximum of its +-2 neighbours; each
   bin belongs to its nearest peak (its region);
2. each peak's instantaneous frequency from the phase advance since the previous frame, so its
   shifted position ``ratio * frequency`` is fractional-bin exact;
3. the region is moved whole so that its peak lands on the bin nearest the shifted frequency, and
   rotated so that the peak's phase advances by ``ratio * frequency * hop`` per frame: the
   partial comes out at exactly ``ratio`` times its frequency, and the bins around the peak keep
   their phase relations to it (no phasiness from bins drifting apart).

The move is a plan (source bin and complex gain per output bin), made once per frame from the
mixture by :meth:`SpectralPitchShift.plan` and then applied by :meth:`apply` to any spectrum of
that frame (the karaoke mix, or each stem): a linear map, so stems shifted one by one still sum
to the shifted mix. The phase of each shifted peak continues the output phase of the peak that
owned the same bin in the previous frame, so a partial keeps one phase track as it moves, and a
change of ratio between frames continues every track (no click).

All arrays are allocated up front; a frame's plan and application only write into them.
"""

from __future__ import annotations

import numpy as np

#: a peak is the maximum of this many bins either side
PEAK_NEIGHBOURS = 2


def semitone_ratio(semitones: float) -> float:
    """The frequency ratio of a shift of ``semitones`` (fractions: cents / 100)."""
    return float(2.0 ** (semitones / 12.0))


class SpectralPitchShift:
    """Shift frames of ``(channels, bins)`` complex spectra (an STFT of ``n_fft`` samples every
    ``hop_samples``, phases relative to each frame's first sample) by :attr:`ratio`.

    The plans of the last two frames are kept: :meth:`apply` with ``previous=True`` uses the
    frame before the last one's (the engine finishes a frame one hop late)."""

    def __init__(self, n_fft: int, hop_samples: int, channels: int) -> None:
        self.n_fft = n_fft
        self.hop_samples = hop_samples
        self.channels = channels
        bins = n_fft // 2 + 1
        self.bins = bins
        self.ratio = 1.0
        self._index = np.arange(bins)
        shape = (channels, bins)
        # (numpy allocates a buffer for an operation that broadcasts: these have every
        # channel's row)
        self._bin_index = np.broadcast_to(self._index.astype(np.float64), shape).copy()
        #: expected phase advance of each bin over one hop, radians
        self._bin_advance = 2.0 * np.pi * hop_samples * self._bin_index / n_fft
        self._phase = np.zeros(shape)
        self._previous_phase = np.zeros(shape)
        self._magnitude = np.zeros(shape)
        self._level = np.zeros(bins + 2 * PEAK_NEIGHBOURS)  # summed magnitude, padded
        self._is_peak = np.zeros(bins, bool)
        self._bool = np.zeros(bins, bool)
        self._bool2 = np.zeros(bins, bool)
        # each bin's peak (its region's owner), now and in the previous frame
        self._owner = np.zeros(bins, np.int64)
        self._previous_owner = np.zeros(bins, np.int64)
        self._left = np.zeros(bins, np.int64)
        self._right = np.zeros(bins, np.int64)
        self._int = np.zeros(bins, np.int64)
        self._real = np.zeros(bins)
        self._work = np.zeros(shape)
        # per bin (meaningful at peaks): frequency in bins, the output phase of its track
        self._peak_frequency = np.zeros(bins)
        self._output_phase = np.zeros(shape)
        self._previous_output_phase = np.zeros(shape)
        # the output side: shifted peak positions and, per output bin, its source peak
        self._target = np.zeros(bins, np.int64)
        self._out_source_peak = np.zeros(bins + 1, np.int64)  # (+1: where non-peaks go)
        self._out_is_peak = np.zeros(bins + 1, bool)
        self._out_owner = np.zeros(bins, np.int64)
        self._source_peak = np.zeros(bins, np.int64)
        self._valid = np.zeros(bins, bool)
        # two plans (this frame's, the previous frame's): source bin and complex gain
        self._sources = np.zeros((2, bins), np.int64)
        self._gains = np.zeros((2, *shape), np.complex128)
        self._plan = 0
        self._taken = np.zeros(shape, np.complex128)
        self._first = True

    def reset(self) -> None:
        """Forget the previous frames (phase tracks restart; both plans silent)."""
        self._first = True
        self._gains.fill(0.0)
        self._sources.fill(0)

    def set_semitones(self, semitones: float) -> None:
        self.ratio = semitone_ratio(semitones)

    # ------------------------------------------------------------------ per frame

    def _nearest(self, is_peak: np.ndarray, owner: np.ndarray) -> bool:
        """``owner[k]``: the peak nearest bin ``k`` (ties: the lower); False if no peak."""
        bins = self.bins
        index = self._index
        left, right, distance = self._left, self._right, self._int
        np.copyto(left, -1)
        np.copyto(left, index, where=is_peak)
        np.maximum.accumulate(left, out=left)
        if left[-1] < 0:
            return False
        np.copyto(right, 2 * bins)
        np.copyto(right, index, where=is_peak)
        reversed_right = right[::-1]
        np.minimum.accumulate(reversed_right, out=reversed_right)
        # distance to each side (no peak on a side: far away)
        np.subtract(index, left, out=distance)
        np.less(left, 0, out=self._bool2)
        np.copyto(distance, 2 * bins, where=self._bool2)
        np.subtract(right, index, out=owner)
        np.less_equal(distance, owner, out=self._bool2)
        np.copyto(owner, right)
        np.copyto(owner, left, where=self._bool2)
        return True

    def _silent_plan(self, plan: int) -> None:
        self._gains[plan].fill(0.0)
        self._sources[plan].fill(0)

    def plan(self, frame: np.ndarray) -> None:
        """Make this frame's plan from the mixture ``frame`` ``(channels, bins)`` complex (the
        last plan becomes the previous one)."""
        plan = self._plan = self._plan ^ 1
        np.abs(frame, out=self._magnitude)
        np.arctan2(frame.imag, frame.real, out=self._phase)
        pad = PEAK_NEIGHBOURS
        level = self._level
        centre = level[pad:-pad]
        np.sum(self._magnitude, axis=0, out=centre)
        is_peak, scratch = self._is_peak, self._bool
        np.greater(centre, 0.0, out=is_peak)
        for offset in range(1, pad + 1):  # a maximum of its neighbours (the left: strictly)
            np.greater(centre, level[pad - offset : -pad - offset], out=scratch)
            np.logical_and(is_peak, scratch, out=is_peak)
            np.greater_equal(centre, level[pad + offset : len(level) - pad + offset], out=scratch)
            np.logical_and(is_peak, scratch, out=is_peak)
        self._previous_owner, self._owner = self._owner, self._previous_owner
        owner = self._owner
        if not self._nearest(is_peak, owner):
            self._silent_plan(plan)
            np.copyto(self._previous_phase, self._phase)
            self._first = True
            return

        # instantaneous frequency (bins) of every bin from its phase advance; one per peak:
        # the channels' mean weighted by magnitude
        work = self._work
        if self._first:
            np.copyto(work, self._bin_index)
        else:
            np.subtract(self._phase, self._previous_phase, out=work)
            work -= self._bin_advance
            work += np.pi
            np.mod(work, 2.0 * np.pi, out=work)
            work -= np.pi
            work *= self.n_fft / (2.0 * np.pi * self.hop_samples)
            work += self._bin_index
        np.copyto(self._previous_phase, self._phase)
        np.multiply(work, self._magnitude, out=work)
        np.sum(work, axis=0, out=self._peak_frequency)
        np.maximum(centre, 1e-30, out=self._real)
        self._peak_frequency /= self._real

        # each peak's output phase: its track's (the peak that owned this bin in the previous
        # frame) advanced by ratio * frequency * hop; a new start takes the input's
        ratio = self.ratio
        self._previous_output_phase, self._output_phase = (
            self._output_phase,
            self._previous_output_phase,
        )
        output_phase = self._output_phase
        if self._first:
            np.copyto(output_phase, self._phase)
        else:
            np.take(
                self._previous_output_phase,
                self._previous_owner,
                axis=1,
                out=output_phase,
                mode="wrap",  # (mode "raise" copies through a buffer; the indices are valid)
            )
            np.multiply(
                self._peak_frequency,
                2.0 * np.pi * self.hop_samples / self.n_fft * ratio,
                out=self._real,
            )
            for row in output_phase:
                row += self._real
            np.mod(output_phase, 2.0 * np.pi, out=output_phase)
        self._first = False

        # shifted peak positions (beyond Nyquist: dropped), each output bin's nearest one
        target = self._target
        np.multiply(self._peak_frequency, ratio, out=self._real)
        np.rint(self._real, out=self._real)
        np.clip(self._real, 0, self.bins, out=self._real)
        np.copyto(target, self._real, casting="unsafe")
        np.logical_not(is_peak, out=scratch)
        np.copyto(target, self.bins, where=scratch)
        out_is_peak, out_source = self._out_is_peak, self._out_source_peak
        out_is_peak.fill(False)
        out_is_peak[target] = True
        out_source[target] = self._index  # (two peaks on one bin: the higher wins)
        out_owner = self._out_owner
        if not self._nearest(out_is_peak[: self.bins], out_owner):
            self._silent_plan(plan)
            return
        source_peak = self._source_peak
        np.take(out_source, out_owner, out=source_peak, mode="wrap")
        # source bin: the same offset from its peak as this bin from the shifted peak, and
        # within that peak's own region
        source, valid = self._sources[plan], self._valid
        np.subtract(self._index, out_owner, out=source)
        source += source_peak
        np.greater_equal(source, 0, out=valid)
        np.less(source, self.bins, out=scratch)
        np.logical_and(valid, scratch, out=valid)
        np.clip(source, 0, self.bins - 1, out=source)
        np.take(owner, source, out=self._int, mode="wrap")
        np.equal(self._int, source_peak, out=scratch)
        np.logical_and(valid, scratch, out=valid)
        # gain: a rotation by the source peak's output phase minus its input phase
        np.take(output_phase, source_peak, axis=1, out=work, mode="wrap")
        np.take(self._phase, source_peak, axis=1, out=self._magnitude, mode="wrap")
        work -= self._magnitude
        gain = self._gains[plan]
        np.cos(work, out=gain.real)
        np.sin(work, out=gain.imag)
        np.logical_not(valid, out=scratch)
        np.copyto(gain, 0.0, where=scratch)

    def apply(self, spectrum: np.ndarray, out: np.ndarray, previous: bool = False) -> None:
        """``out`` = a plan applied to ``spectrum`` ``(channels, bins)`` complex: the last
        frame's (``previous``: the one before), to a spectrum of that frame (the mix, or a
        stem)."""
        plan = self._plan ^ 1 if previous else self._plan
        np.take(spectrum, self._sources[plan], axis=1, out=self._taken, mode="wrap")
        np.multiply(self._taken, self._gains[plan], out=out)
