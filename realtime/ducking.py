"""The guide vocal that ducks: a gate on the singer's microphone and its fade envelope.

While the microphone's level (the RMS of each audio block) is at or above
``engine.duck_gate_dbfs`` the singer is singing: the ducking amount moves toward 1 with the time
constant ``engine.duck_attack_ms``, and the guide (the original vocal) fades toward
``engine.duck_vocal_db``. When the level stays below the gate (3 dB of hysteresis:
:data:`GATE_HYSTERESIS_DB`) for ``engine.duck_hold_ms``, the amount moves back toward 0 with
``engine.duck_release_ms``: the guide comes back between lines, not between syllables.

The amount reaches the engine through :attr:`GainSmoother.duck_amount`; the engine applies
``vocal + amount * (min(vocal, duck gain) - vocal)`` per hop (a guide already below the ducked
level stays where it is). Ducking is off while ``parameters.duck`` is false or in bypass (the
amount then releases). Per block: a few float operations, no arrays.
"""

from __future__ import annotations

from unsing.config import EngineConfig, db_to_gain
from unsing.realtime.gains import GainSmoother, LiveParameters, one_pole_step, toward

#: The gate closes this far below the level that opens it, so that a level hovering at the
#: threshold does not flutter.
GATE_HYSTERESIS_DB = 3.0
#: Within this of its target the ducking amount is at it.
_SNAP = 1e-6


class Ducker:
    """Gate and envelope; :meth:`update` once per audio block, in the audio thread."""

    def __init__(
        self,
        engine: EngineConfig,
        parameters: LiveParameters,
        smoother: GainSmoother,
        sample_rate_hz: int,
    ) -> None:
        self.parameters = parameters
        self.smoother = smoother
        self.sample_rate_hz = sample_rate_hz
        self.open_rms = db_to_gain(engine.duck_gate_dbfs)
        self.close_rms = db_to_gain(engine.duck_gate_dbfs - GATE_HYSTERESIS_DB)
        self.hold_samples = round(engine.duck_hold_ms / 1000.0 * sample_rate_hz)
        self.attack_s = engine.duck_attack_ms / 1000.0
        self.release_s = engine.duck_release_ms / 1000.0
        smoother.duck_gain = db_to_gain(engine.duck_vocal_db)
        #: the gate is open (the singer sings, or did within the hold time)
        self.gate_open = False
        self._held_samples = 0
        self.amount = 0.0

    def update(self, rms: float, frames: int) -> float:
        """Take one block's microphone level (linear RMS) over ``frames`` samples; move and
        return the ducking amount (0: the guide at its gain, 1: fully ducked)."""
        if rms >= self.open_rms or (self.gate_open and rms >= self.close_rms):
            self.gate_open = True
            self._held_samples = self.hold_samples
        elif self._held_samples > 0:
            self._held_samples -= frames
        else:
            self.gate_open = False
        parameters = self.parameters
        target = 1.0 if self.gate_open and parameters.duck and not parameters.bypass else 0.0
        tau_s = self.attack_s if target > self.amount else self.release_s
        step = one_pole_step(frames / self.sample_rate_hz, tau_s)
        self.amount = toward(self.amount, target, step, _SNAP)
        self.smoother.duck_amount = self.amount
        return self.amount
