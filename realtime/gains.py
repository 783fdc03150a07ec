"""The live parameters (vocal, accompaniment, master and microphone gain, bypass, key, the
microphone's reverb and ducking, the a cappella gate) and the engine's gain smoothing.

Control threads (MIDI, the terminal, tests) write *targets* into :class:`LiveParameters`; each
write is one attribute store, atomic under the GIL, and does no audio work. The audio callback
reads the targets once per hop and :class:`GainSmoother` moves the applied gains toward them
with a one-pole filter of time constant ``engine.gain_smoothing_ms``. The gains multiply STFT
frames, and overlap-add crossfades consecutive frames, so even a step between two hops reaches
the output as a ramp over ``n_fft`` samples: knob moves and bypass never click.
"""

from __future__ import annotations

import math

from unsing.config import Config, db_to_gain

#: Below this difference a smoothed gain snaps to its target (ends the exponential tail).
_SNAP = 1e-7


class LiveParameters:
    """Targets the engine follows; linear gains (0 mutes), ``bypass`` passes the mixture (in
    its own key); ``key_semitones`` (whole steps, MIDI moves it) and ``key_cents`` (fine
    tuning) shift the output's key from the next frame on, with no smoothing: a key change is
    a step. The microphone (``unsing.realtime.microphone``): ``mic_gain`` (linear),
    ``mic_reverb`` (the reverb's wet share, 0..1) and ``duck`` (the guide vocal ducks while the
    singer sings). ``a_cappella_gate``: the karaoke track closes on a voice alone
    (``unsing.realtime.acappella_gate``)."""

    __slots__ = (
        "a_cappella_gate",
        "accompaniment_gain",
        "bypass",
        "duck",
        "key_cents",
        "key_semitones",
        "master_gain",
        "mic_gain",
        "mic_reverb",
        "vocal_gain",
    )

    def __init__(
        self,
        vocal_gain: float = 0.0,
        accompaniment_gain: float = 1.0,
        master_gain: float = 1.0,
        bypass: bool = False,
        key_semitones: float = 0.0,
        key_cents: float = 0.0,
        mic_gain: float = 1.0,
        mic_reverb: float = 0.0,
        duck: bool = False,
        a_cappella_gate: bool = True,
    ) -> None:
        self.vocal_gain = vocal_gain
        self.accompaniment_gain = accompaniment_gain
        self.master_gain = master_gain
        self.bypass = bypass
        self.key_semitones = key_semitones
        self.key_cents = key_cents
        self.mic_gain = mic_gain
        self.mic_reverb = mic_reverb
        self.duck = duck
        self.a_cappella_gate = a_cappella_gate

    @classmethod
    def from_config(cls, config: Config) -> LiveParameters:
        """The start-up values of ``engine.*_gain_db``."""
        engine = config.engine
        return cls(
            vocal_gain=db_to_gain(engine.vocal_gain_db),
            accompaniment_gain=db_to_gain(engine.accompaniment_gain_db),
            master_gain=db_to_gain(engine.master_gain_db),
            key_semitones=engine.key_semitones,
            key_cents=engine.key_cents,
            mic_gain=db_to_gain(engine.mic_gain_db),
            mic_reverb=engine.mic_reverb,
            duck=engine.duck,
            a_cappella_gate=engine.a_cappella_gate,
        )

    def effective(self) -> tuple[float, float, float]:
        """``(vocal, accompaniment, master)`` the output should reach (bypass: 1, 1, master)."""
        if self.bypass:
            return 1.0, 1.0, self.master_gain
        return self.vocal_gain, self.accompaniment_gain, self.master_gain

    def effective_key(self) -> float:
        """The key change the output should have, semitones (bypass: none)."""
        return 0.0 if self.bypass else self.key_semitones + self.key_cents / 100.0

    def as_dict(self) -> dict[str, float | bool]:
        """The targets, for status lines and tests."""
        return {name: getattr(self, name) for name in self.__slots__}


def one_pole_step(seconds: float, time_constant_s: float) -> float:
    """The share of the way to its target a one-pole filter of ``time_constant_s`` moves in
    ``seconds`` (1, at once, for a time constant of 0)."""
    return 1.0 if time_constant_s <= 0 else 1.0 - math.exp(-seconds / time_constant_s)


def toward(current: float, target: float, step: float, snap: float = _SNAP) -> float:
    """``current`` moved ``step`` of the way to ``target``; within ``snap`` of it, ``target``
    (ends the exponential tail)."""
    moved = current + step * (target - current)
    return target if abs(target - moved) < snap else moved


class GainSmoother:
    """One-pole smoothing of the effective gains, stepped once per hop (no allocation).

    ``duck_amount`` (0..1, written by the microphone's ``Ducker`` in the audio thread, already
    smoothed by its attack and release) pulls the vocal gain toward ``duck_gain``, never above
    the smoothed vocal gain."""

    def __init__(
        self, parameters: LiveParameters, hop_samples: int, sample_rate_hz: int, smoothing_ms: float
    ) -> None:
        self.parameters = parameters
        self.coefficient = one_pole_step(hop_samples / sample_rate_hz, smoothing_ms / 1000.0)
        self.vocal, self.accompaniment, self.master = parameters.effective()
        self.duck_amount = 0.0
        self.duck_gain = 0.0

    def jump(self) -> None:
        """Apply the targets at once (start of a stream, offline rendering)."""
        self.vocal, self.accompaniment, self.master = self.parameters.effective()

    def step(self) -> tuple[float, float, float]:
        """Advance one hop toward the targets; return the gains to apply to this hop's frame."""
        vocal, accompaniment, master = self.parameters.effective()
        self.vocal = toward(self.vocal, vocal, self.coefficient)
        self.accompaniment = toward(self.accompaniment, accompaniment, self.coefficient)
        self.master = toward(self.master, master, self.coefficient)
        vocal = self.vocal
        if self.duck_amount > 0.0:
            vocal += self.duck_amount * (min(vocal, self.duck_gain) - vocal)
        return vocal, self.accompaniment, self.master
