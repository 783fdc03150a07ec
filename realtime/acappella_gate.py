"""The a cappella gate: when the karaoke track carries almost none of the sound, close it.

On an a cappella line the accompaniment estimate should be silent, but a mask leaves some of
the voice in it (``unsing.models.single_source``: 3-14 dB below the input on the held-out
sets). The gate is a downward expander on the accompaniment estimate, keyed by that
estimate's share of the frame: per hop,

    share_db = 10 log10(P_a / P_x),   P_a = sum |(1 - M) X|^2,   P_x = sum |X|^2

over the frame's bins and channels, each power one-pole smoothed (time constant
:data:`SMOOTHING_S`). ``M`` is the U-Net's own mask and ``X`` the frame it masks, so the key
needs nothing the engine does not already hold and adds no latency. Below the threshold the
gate's gain falls :data:`SLOPE` dB per dB of share, down to :data:`FLOOR_DB`. What it takes
from the accompaniment goes to the vocals (the stems still sum to the mixture), so the mix
folds it into the accompaniment gain: ``g_accomp * gate + g_vocal * (1 - gate)`` (unity gains:
exactly the input). The gains multiply STFT frames and overlap-add crossfades them, so the
gate never steps; turning it on or off moves with ``engine.gain_smoothing_ms``.

Measured through the engine on the held-out sets (docs/quality.md#the-a-cappella-gate): at
the shipped -6 dB the voice left in the karaoke track on a cappella input is 8.9 dB lower on
MIR-1K, 13.8 on the MUSDB sample and 4.2 on musdb18-7s, and the songs move by 0.1 dB at most
(median BSS Eval); where the mask takes a loud voice for accompaniment (sodium, iKala) the
share stays high and the gate cannot tell. It costs about 20 us a hop (the compute benchmark).

:meth:`ACappellaGate.step` is the engine's, one frame per hop, allocating nothing;
:meth:`ACappellaGate.gains` the offline pipeline's, a chunk of frames at once, with the same
recursion.
"""

from __future__ import annotations

import math

import numpy as np

from unsing.config import Config
from unsing.realtime.gains import one_pole_step, toward

#: Time constant of the powers' smoothing: long enough that a song's quiet bar never closes
#: the gate (50 ms cost MIR-1K's songs 0.1-1.5 dB, 500 ms nothing; acappella-gate-v1).
SMOOTHING_S = 0.5
#: dB of gain per dB of share below the threshold, and the lowest gain.
SLOPE = 2.0
FLOOR_DB = -30.0
#: Added to both powers: digital silence has a share of 0 dB (the gate stays open).
_POWER_FLOOR = 1e-20


def gate_gain(accompaniment_power: float, mixture_power: float, threshold_db: float) -> float:
    """The gate's linear gain for the smoothed powers."""
    share_db = 10.0 * math.log10(
        (accompaniment_power + _POWER_FLOOR) / (mixture_power + _POWER_FLOOR)
    )
    gain_db = min(0.0, max(FLOOR_DB, SLOPE * (share_db - threshold_db)))
    return 10.0 ** (gain_db / 20.0)


class ACappellaGate:
    """The gate's state for one stream of frames ``(channels, bins)``.

    Args:
        threshold_db: the accompaniment's share below which the gate closes
            (``engine.a_cappella_gate_threshold_db``).
        hop_seconds: the time between frames.
        switch_time_s: the time constant of turning the gate on and off
            (``engine.gain_smoothing_ms``).
        enabled: whether it starts on.
        shape: ``(channels, bins)`` of the frames :meth:`step` takes.
    """

    def __init__(
        self,
        threshold_db: float,
        hop_seconds: float,
        switch_time_s: float,
        enabled: bool,
        shape: tuple[int, int],
    ) -> None:
        self.threshold_db = threshold_db
        self.power_step = one_pole_step(hop_seconds, SMOOTHING_S)
        self.switch_step = one_pole_step(hop_seconds, switch_time_s)
        self._power = np.zeros(shape)
        self._residual = np.zeros(shape)
        self.reset(enabled)

    @classmethod
    def from_config(cls, config: Config, enabled: bool) -> ACappellaGate:
        """The gate ``config`` sets (``engine.a_cappella_gate_threshold_db``, the hop, the
        switching time ``engine.gain_smoothing_ms``) for frames of its STFT."""
        contract = config.contract
        return cls(
            config.engine.a_cappella_gate_threshold_db,
            contract.stft.hop_samples / contract.sample_rate_hz,
            config.engine.gain_smoothing_ms / 1000.0,
            enabled,
            (contract.channels, contract.stft.bins),
        )

    def reset(self, enabled: bool) -> None:
        """Forget the powers; the gate is on (``enabled``) or off at once."""
        self.amount = 1.0 if enabled else 0.0
        self.mixture_power = self.accompaniment_power = 0.0
        #: the gain of the last frame (1: open)
        self.gain = 1.0

    def _advance(self, accompaniment_power: float, mixture_power: float) -> float:
        """Smooth in one frame's powers; the gate's gain for that frame."""
        step = self.power_step
        self.accompaniment_power += step * (accompaniment_power - self.accompaniment_power)
        self.mixture_power += step * (mixture_power - self.mixture_power)
        return gate_gain(self.accompaniment_power, self.mixture_power, self.threshold_db)

    def step(self, enabled: bool, frame: np.ndarray, mask: np.ndarray) -> float:
        """The gain for this hop's ``frame`` ``(channels, bins)`` complex and its ``mask``
        (the U-Net's, same shape, in [0, 1]; may be a strided view); 1.0 while off. No
        arrays are allocated."""
        self.amount = toward(self.amount, 1.0 if enabled else 0.0, self.switch_step)
        if self.amount == 0.0:
            self.mixture_power = self.accompaniment_power = 0.0  # (turned on: starts afresh)
            self.gain = 1.0
            return 1.0
        power, residual = self._power, self._residual
        np.abs(frame, out=power)
        np.square(power, out=power)
        np.copyto(residual, mask)  # (1 - a strided mask into out= would buffer: allocate)
        np.subtract(1.0, residual, out=residual)
        np.square(residual, out=residual)
        np.multiply(residual, power, out=residual)
        closed = self._advance(float(residual.sum()), float(power.sum()))
        self.gain = 1.0 - self.amount * (1.0 - closed)
        return self.gain

    def gains(self, frames: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Gains ``(k,)`` float64 for ``k`` consecutive frames ``(channels, k, bins)`` and
        their masks (same shape), the gate on throughout (offline); the state carries on to
        the next call."""
        power = np.square(np.abs(frames), dtype=np.float64)
        residual = np.square(1.0 - masks.astype(np.float64))
        mixture = power.sum(axis=(0, 2))
        accompaniment = (residual * power).sum(axis=(0, 2))
        out = np.empty(frames.shape[1])
        for index in range(out.size):
            out[index] = self._advance(float(accompaniment[index]), float(mixture[index]))
        if out.size:
            self.gain = float(out[-1])
        return out
