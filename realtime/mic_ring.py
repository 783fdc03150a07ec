"""A microphone on a second audio device: its samples cross from that device's stream to the
main stream's callback through this ring.

One producer (the microphone stream's callback: :meth:`MicRing.write`), one consumer (the main
callback: :meth:`MicRing.read_into`); each position is a Python int written by one side only
(a store is atomic under the interpreter lock), so no lock is taken.

Two callbacks on two clocks: the reader keeps ``slack_samples`` in the ring beyond what it
reads. It starts at 0 (no delay added when the microphone's callback comes first in each
cycle, as on one JACK server); each underrun (the reader found less than a block) adds one
block of slack, up to :data:`MAX_SLACK_BLOCKS`, and the reader waits until the ring holds a
block plus the slack again, then fades in. A device whose clock runs fast fills the ring: when
it holds more than a block beyond the slack for :data:`EXCESS_PATIENCE_S`, the surplus is
skipped with a :data:`CROSSFADE_SAMPLES` crossfade. A full ring drops the newest samples
(counted). Every event is counted in :attr:`MicRing.counts`.
"""

from __future__ import annotations

import numpy as np

#: The ring's size in blocks (full: the writer drops what does not fit).
CAPACITY_BLOCKS = 32
#: The most slack the reader keeps after underruns, in blocks.
MAX_SLACK_BLOCKS = 4
#: How long the ring may hold a surplus of a block or more before it is skipped.
EXCESS_PATIENCE_S = 1.0
#: Length of the crossfades: a skip, and the fade-in after an underrun.
CROSSFADE_SAMPLES = 64


class MicRing:
    """Mono float32 samples from one callback to another (see the module docstring)."""

    def __init__(self, blocksize_samples: int, sample_rate_hz: int) -> None:
        self.blocksize_samples = blocksize_samples
        capacity = CAPACITY_BLOCKS * blocksize_samples
        self._ring = np.zeros(capacity, np.float32)
        self._capacity = capacity
        self.written = 0  # total samples written (the writer's)
        self.read = 0  # total samples read or skipped (the reader's)
        self.dropped = 0  # samples the writer could not store (the writer's)
        self.slack_samples = 0
        self._priming = True
        self._fade_in = False
        self._excess_samples = 0  # how long the surplus has lasted, in samples read
        self._patience_samples = round(EXCESS_PATIENCE_S * sample_rate_hz)
        self._fade = np.linspace(0.0, 1.0, CROSSFADE_SAMPLES + 2, dtype=np.float32)[1:-1]
        self._scratch = np.zeros(CROSSFADE_SAMPLES, np.float32)
        self.counts = {"underruns": 0, "skips": 0}

    @property
    def fill_samples(self) -> int:
        """Samples written and not yet read."""
        return self.written - self.read

    # ------------------------------------------------------------------ the writer's side

    def write(self, samples: np.ndarray) -> None:
        """Append ``samples`` ``(frames,)`` (a strided column is fine)."""
        count = samples.shape[0]
        free = self._capacity - (self.written - self.read)
        if count > free:
            self.dropped += count - free
            count = free
        start = self.written % self._capacity
        head = min(count, self._capacity - start)
        self._ring[start : start + head] = samples[:head]
        if head < count:
            self._ring[: count - head] = samples[head:count]
        self.written += count

    # ------------------------------------------------------------------ the reader's side

    def read_into(self, out: np.ndarray) -> None:
        """Fill ``out`` ``(frames,)`` with the next samples (zeros while priming)."""
        frames = out.shape[0]
        fill = self.written - self.read
        if self._priming:
            if fill < frames + self.slack_samples:
                out.fill(0.0)
                return
            self._priming = False
            self._fade_in = True
        if fill < frames:  # underrun: what there is, then silence; keep more slack
            self._copy(self.read, out[:fill])
            out[fill:] = 0.0
            self.read += fill
            self.counts["underruns"] += 1
            self.slack_samples = min(
                self.slack_samples + self.blocksize_samples,
                MAX_SLACK_BLOCKS * self.blocksize_samples,
            )
            self._priming = True
            return
        surplus = fill - frames - self.slack_samples
        if surplus >= self.blocksize_samples:
            self._excess_samples += frames
        else:
            self._excess_samples = 0
        skip = 0
        if self._excess_samples >= self._patience_samples and frames >= CROSSFADE_SAMPLES:
            skip = surplus - surplus % self.blocksize_samples
            self._excess_samples = 0
            self.counts["skips"] += 1
        if skip:  # fade from where the reader is to where it jumps
            fade = self._fade
            self._copy(self.read, self._scratch)
            self._copy(self.read + skip, out)
            out[:CROSSFADE_SAMPLES] *= fade
            self._scratch *= fade[::-1]
            out[:CROSSFADE_SAMPLES] += self._scratch
        else:
            self._copy(self.read, out)
        if self._fade_in:
            count = min(CROSSFADE_SAMPLES, frames)
            out[:count] *= self._fade[:count]
            self._fade_in = False
        self.read += skip + frames

    def _copy(self, position: int, out: np.ndarray) -> None:
        """``out.shape[0]`` samples from ``position`` (a total count) into ``out``."""
        count = out.shape[0]
        start = position % self._capacity
        head = min(count, self._capacity - start)
        out[:head] = self._ring[start : start + head]
        if head < count:
            out[head:] = self._ring[: count - head]
