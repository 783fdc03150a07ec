"""The key change by Rubber Band (R3, the "finer" engine), after the engine's resynthesis.

``engine.key_shifter: rubberband`` (``auto`` picks it where the song comes from a file:
``play`` and ``play --to``): each hop the engine finishes goes through Rubber Band's real-time
stretcher (through pylibrb, which bundles the library), pitch scale ``2 ** (key / 12)``, tempo
unchanged, one stretcher per output group (the mix; or vocals and accompaniment). The
microphone is mixed in after it, never shifted.

Rubber Band R3 in real time takes 2560 samples before its first output and then returns about
512 samples every other 256-sample hop; its content delay depends on the pitch scale. The stage
feeds the library's preferred start pad, drops its start delay, and keeps a FIFO primed with
:data:`PRIMING_SAMPLES` of silence, enough that no key from -6 to +6 (or a change between them)
ever runs it dry (``unsing.latency.rubberband_latency_samples``: 3328 samples at 44.1 kHz, 13
hops; at key -6 the FIFO needed 3159): the stage adds that constant latency (75.5 ms), and the
shifted content lands within :data:`RESIDUAL_LAG_MAX_SAMPLES` of it (measured by
``tests/test_rubberband_shift.py``). The engine adds it to its delay and declares it.

Per hop: one ``process`` and one ``retrieve_available`` call (pylibrb returns a new array; the
FIFO is preallocated), about 0.3 ms for two channels.
"""

from __future__ import annotations

import numpy as np

from unsing.latency import rubberband_latency_samples

#: How far after the declared latency the shifted content can land (key -6: 131 samples,
#: Rubber Band's start delay estimate at that scale).
RESIDUAL_LAG_MAX_SAMPLES = 160


def _options() -> int:
    from pylibrb import Option

    return int(
        Option.PROCESS_REALTIME
        | Option.THREADING_NEVER
        | Option.CHANNELS_TOGETHER
        | Option.PitchHighConsistency
        | Option.ENGINE_FINER
        | Option.WINDOW_SHORT
    )


def pitch_scale(semitones: float) -> float:
    """Frequency ratio of a key change of ``semitones``."""
    return 2.0 ** (semitones / 12.0)


class RubberBandShift:
    """One stretcher per group of ``channels`` rows of the engine's hop output.

    Args:
        groups: output groups (1: the mix; 2: vocals and accompaniment stems).
        channels: channels per group.
        sample_rate_hz: the stream's rate.
        semitones: the starting key.
    """

    def __init__(
        self,
        groups: int,
        channels: int,
        sample_rate_hz: int,
        hop_samples: int,
        semitones: float = 0.0,
    ) -> None:
        try:
            from pylibrb import RubberBandStretcher
        except ImportError as error:  # a dependency: only a broken install lacks it
            raise RuntimeError(f"the Rubber Band key shifter needs pylibrb ({error})") from None
        self.channels = channels
        self.semitones = semitones
        #: the latency the stage adds (the silence its FIFO starts with)
        self.delay_samples = rubberband_latency_samples(sample_rate_hz, hop_samples)
        scale = pitch_scale(semitones)
        self._stretchers = [
            RubberBandStretcher(sample_rate_hz, channels, _options(), 1.0, scale)
            for _ in range(groups)
        ]
        rows = groups * channels
        self._fifo = np.zeros((rows, 4 * self.delay_samples), np.float32)
        self._read = 0
        self._level = self.delay_samples  # the FIFO starts with this much silence
        self._to_drop = []
        for stretcher in self._stretchers:
            pad = stretcher.get_preferred_start_pad()
            stretcher.process(np.zeros((channels, pad), np.float32))
            self._to_drop.append(stretcher.get_start_delay())
        #: hops that found the FIFO short (zeros went out): none in any test
        self.underruns = 0

    def set_key(self, semitones: float) -> None:
        """Move to another key from the next hop on (Rubber Band glides there)."""
        if semitones != self.semitones:
            self.semitones = semitones
            scale = pitch_scale(semitones)
            for stretcher in self._stretchers:
                stretcher.pitch_scale = scale

    def process(self, hop: np.ndarray) -> None:
        """Shift ``hop`` ``(groups * channels, samples)`` float32 in place: it becomes the
        output ``delay_samples`` later."""
        samples = hop.shape[1]
        channels = self.channels
        for index, stretcher in enumerate(self._stretchers):
            rows = slice(index * channels, (index + 1) * channels)
            stretcher.process(np.ascontiguousarray(hop[rows]))
            got = stretcher.retrieve_available()
            drop = min(self._to_drop[index], got.shape[1])
            if drop:
                self._to_drop[index] -= drop
                got = got[:, drop:]
            self._append(rows, got, index == len(self._stretchers) - 1)
        self._take(hop, samples)

    def _append(self, rows: slice, got: np.ndarray, last: bool) -> None:
        """Write ``got`` after the FIFO's content for ``rows``; the level moves once every
        group has written (their outputs stay the same length: the same input, the same
        scale)."""
        count = got.shape[1]
        size = self._fifo.shape[1]
        count = min(count, size - self._level)
        start = (self._read + self._level) % size
        head = min(count, size - start)
        self._fifo[rows, start : start + head] = got[:, :head]
        if head < count:
            self._fifo[rows, : count - head] = got[:, head:count]
        if last:
            self._level += count

    def _take(self, out: np.ndarray, samples: int) -> None:
        available = min(samples, self._level)
        if available < samples:
            self.underruns += 1
            out[:, available:] = 0.0
        size = self._fifo.shape[1]
        head = min(available, size - self._read)
        out[:, :head] = self._fifo[:, self._read : self._read + head]
        if head < available:
            out[:, head:available] = self._fifo[:, : available - head]
        self._read = (self._read + available) % size
        self._level -= available
