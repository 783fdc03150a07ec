"""The singer's microphone: mixed into the output after the separator, never through it.

Per audio block, in the audio callback: :meth:`MicChannel.listen` takes the microphone's
samples ``(frames,)`` before the engine runs (its peak for the status line, its RMS for the
ducking gate, :class:`~unsing.realtime.ducking.Ducker`); after the engine has written the
karaoke mix, :meth:`MicChannel.mix_into` adds ``mic_gain * (dry + mic_reverb * reverb(dry))`` to
every output channel of the same block. The microphone therefore reaches the output with the
audio device's latency only: no STFT window, no model, no look-ahead.

The reverb is pedalboard's ``Reverb`` (JUCE's Freeverb: no latency, its first reflection about
25 ms after the dry sound), run block by block with its state kept; with the reverb share at 0
it is not run at all. The gain and the reverb share move to their targets
(``parameters.mic_gain`` / ``mic_reverb``, set by the config, MIDI or the terminal) with the
engine's gain smoothing, ramped sample by sample across each block: no zipper noise, no click.

Buffers are allocated here; without reverb the per-block work allocates no arrays. With reverb,
pedalboard returns each processed block as a new array (one block: 1 KB at 256 samples).
"""

from __future__ import annotations

import math

import numpy as np

from unsing.config import Config
from unsing.realtime.ducking import Ducker
from unsing.realtime.gains import GainSmoother, LiveParameters, one_pole_step, toward
from unsing.realtime.stats import EngineStats

#: Freeverb settings of the microphone's reverb (a vocal hall; the share is the user's).
REVERB_ROOM_SIZE = 0.6
REVERB_DAMPING = 0.45
#: The largest block the microphone takes (audio.blocksize_samples' maximum).
MAX_BLOCK_SAMPLES = 16384
#: Below this, a smoothed gain or share has reached 0.
_SILENT = 1e-6


class MicChannel:
    """Gain, reverb, level meter and ducking gate of one microphone channel.

    Args:
        config: ``engine.mic_*`` and ``engine.duck*``, the rate (the model's) and blocksize.
        parameters: the live targets (``mic_gain``, ``mic_reverb``, ``duck``, ``bypass``).
        smoother: the engine's gain smoother, which applies the ducking to the vocal gain.
        stats: where the microphone's peak goes (``peak_mic``, the status line's meter).
    """

    def __init__(
        self,
        config: Config,
        parameters: LiveParameters,
        smoother: GainSmoother,
        stats: EngineStats,
    ) -> None:
        from pedalboard import Reverb  # (a dependency; imported where the microphone is used)

        rate = config.contract.sample_rate_hz
        self.sample_rate_hz = rate
        self.parameters = parameters
        self.stats = stats
        stats.mic_metered = True
        self.ducker = Ducker(config.engine, parameters, smoother, rate)
        self._smoothing_s = config.engine.gain_smoothing_ms / 1000.0
        self._reverb = Reverb(
            room_size=REVERB_ROOM_SIZE,
            damping=REVERB_DAMPING,
            wet_level=1.0,
            dry_level=0.0,
            width=1.0,
        )
        self._reverb_running = False
        self.gain = parameters.mic_gain
        self.reverb_share = parameters.mic_reverb
        # any block PortAudio may deliver (the blocksize is fixed, the schema's maximum is this)
        capacity = max(config.audio.blocksize_samples, MAX_BLOCK_SAMPLES)
        self._capacity = capacity
        self._dry = np.zeros(capacity, np.float32)
        self._out = np.zeros(capacity, np.float32)
        self._ramp_buffer = np.zeros(capacity, np.float32)
        self._positions = np.arange(1, capacity + 1, dtype=np.float32)
        self._frames = 0

    # ------------------------------------------------------------------ per block

    def listen(self, samples: np.ndarray) -> None:
        """Take this block's microphone samples ``(frames,)`` (any float dtype, a strided
        column is fine): meter, gate and ducking; keep them for :meth:`mix_into`."""
        frames = min(samples.shape[0], self._capacity)
        dry = self._dry[:frames]
        dry[:] = samples[:frames]
        self._frames = frames
        if frames == 0:
            self.ducker.update(0.0, 0)
            return
        energy = float(np.dot(dry, dry))
        if not math.isfinite(energy):  # a broken device: silence, never NaN out
            dry.fill(0.0)
            energy = 0.0
        peak = max(float(dry.max()), -float(dry.min()))
        stats = self.stats
        stats.peak_mic[0] = max(stats.peak_mic[0], peak)
        self.ducker.update(math.sqrt(energy / frames), frames)

    def mix_into(self, output: np.ndarray) -> None:
        """Add the microphone, gained and with its reverb, to every column of ``output``
        ``(frames, channels)`` (the block :meth:`listen` took; extra frames get none)."""
        frames = min(self._frames, output.shape[0])
        if frames == 0:
            return
        step = one_pole_step(frames / self.sample_rate_hz, self._smoothing_s)
        parameters = self.parameters
        dry = self._dry[:frames]
        out = self._out[:frames]
        gain_from = self.gain
        self.gain = toward(gain_from, parameters.mic_gain, step, _SILENT)
        share_from = self.reverb_share
        self.reverb_share = toward(share_from, parameters.mic_reverb, step, _SILENT)
        if share_from > _SILENT or self.reverb_share > _SILENT:
            if not self._reverb_running:  # (re)started: no stale tail from the last time
                self._reverb.reset()
                self._reverb_running = True
            wet = self._reverb.process(dry, self.sample_rate_hz, reset=False)
            np.multiply(wet, self._ramp(share_from, self.reverb_share, frames), out=out)
            out += dry
        else:
            self._reverb_running = False
            out[:] = dry
        if gain_from == self.gain:
            out *= self.gain
        else:
            out *= self._ramp(gain_from, self.gain, frames)
        for channel in range(output.shape[1]):  # (a broadcast add would allocate its iterator)
            column = output[:frames, channel]
            np.add(column, out, out=column)

    def _ramp(self, start: float, end: float, frames: int) -> np.ndarray:
        """``(frames,)`` from just after ``start`` to ``end``, linear (a reused buffer)."""
        ramp = self._ramp_buffer[:frames]
        np.multiply(self._positions[:frames], (end - start) / frames, out=ramp)
        ramp += start
        return ramp
