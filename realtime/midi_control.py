"""MIDI messages -> live parameter targets: the whole of what the MIDI callback does.

:class:`ControlMap` decodes raw messages (lists of ints, as python-rtmidi delivers them) and
writes targets into :class:`~unsing.realtime.gains.LiveParameters`; the audio callback reads
those once per hop and smooths toward them. No audio work, no I/O, no growing containers here:
a few integer tests and one float computation per message.

Value laws (``position`` runs 0..1 over a control's travel; position 0 mutes):

* ``linear``: the gain in dB moves evenly from ``min_db`` to ``max_db`` along the travel;
* ``audio_taper``: the amplitude follows the cube of the position, as a console fader does
  (-18 dB at half travel below ``max_db``), never below ``min_db``.

Modes: ``absolute`` (7-bit, or 14-bit with ``cc_lsb``: MSB then LSB, an MSB alone means LSB 0),
relative encoders (``relative_twos_complement``: 1..63 up, 127..65 down;
``relative_sign_magnitude``: 1..63 up, 65..127 down; ``relative_binary_offset``: 65..127 up,
63..0 down; one step is 1/127 of the travel), and buttons (``toggle`` flips on each press;
``momentary`` is on while held). A press is a note-on with velocity > 0 or a CC value >= 64.
Presets (karaoke: vocal muted, accompaniment at unity; a cappella: the reverse) restore the
previous gains when switched off.

The key (``key``): an absolute knob spreads -6..+6 semitones evenly over its travel (whole
steps); an encoder moves one semitone per step. Buttons ``key_up`` / ``key_down`` move one
semitone per press (within -6..+6), ``key_reset`` goes back to the song's key; the fine tuning
(``engine.key_cents``) stays.

The microphone: ``mic_gain`` is a gain control like the others; ``mic_reverb`` (a knob or
encoder) sets the reverb's wet share 0..1 along its travel; ``duck`` (a button) turns the guide
vocal's ducking on and off, ``a_cappella_gate`` (a button) the a cappella gate.

Malformed input (data bytes >= 128, a data byte where a status byte belongs, truncated
messages), SysEx, clock and every message no mapping uses are counted and ignored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from unsing.config import GAIN_PARAMS, KEY_SEMITONES_RANGE, MidiConfig, MidiMapping, db_to_gain
from unsing.realtime.gains import LiveParameters

#: Gains below this (dB) count as muted when a position is inferred from a gain.
_MUTE_DB = -120.0
_STEP = 1.0 / 127.0
#: Buttons that switch a parameter the config may start on: a toggle flips what it is.
_SWITCHES = ("duck", "a_cappella_gate")


def position_to_gain(position: float, mapping: MidiMapping) -> float:
    """Linear gain of a control at ``position`` (0..1) under ``mapping``'s curve and range."""
    if position <= 0.0:
        return 0.0
    position = min(position, 1.0)
    min_db = mapping.min_db if math.isfinite(mapping.min_db) else _MUTE_DB
    if mapping.curve == "audio_taper":
        return max(db_to_gain(mapping.max_db) * position**3, db_to_gain(min_db))
    return db_to_gain(min_db + position * (mapping.max_db - min_db))


def gain_to_position(gain: float, mapping: MidiMapping) -> float:
    """Inverse of :func:`position_to_gain` (clamped to the travel): where a relative encoder
    starts so that its first step moves from the current gain."""
    if gain <= 0.0:
        return 0.0
    min_db = mapping.min_db if math.isfinite(mapping.min_db) else _MUTE_DB
    gain_db = 20.0 * math.log10(gain)
    if mapping.curve == "audio_taper":
        position = (gain / db_to_gain(mapping.max_db)) ** (1.0 / 3.0)
    else:
        position = (gain_db - min_db) / (mapping.max_db - min_db)
    return min(max(position, _STEP), 1.0)


def relative_delta(value: int, mode: str) -> int:
    """Encoder steps encoded by ``value`` in relative ``mode``."""
    if mode == "relative_twos_complement":
        return value - 128 if value >= 64 else value
    if mode == "relative_sign_magnitude":
        return -(value - 64) if value >= 64 else value
    return value - 64  # relative_binary_offset


@dataclass
class _Control:
    """One mapping and its running state."""

    mapping: MidiMapping
    channel: int | None  # None: any
    position: float = -1.0  # < 0: not known yet (relative encoders read the current gain)
    msb: int = 0
    active: bool = False  # buttons
    saved: tuple[float, float] = (0.0, 1.0)  # gains before a preset


def _absolute_position(control: _Control, value: int, lsb: bool) -> float:
    """Where an absolute control stands (0..1) after ``value``: 7-bit, or the MSB then LSB of a
    14-bit pair (an MSB alone means LSB 0)."""
    if control.mapping.cc_lsb is None:
        return value / 127.0
    if lsb:
        return (control.msb << 7 | value) / 16383.0
    control.msb = value
    return (value << 7) / 16383.0


class ControlMap:
    """Routes decoded messages to parameter targets. ``handle`` is the MIDI callback's body."""

    def __init__(self, midi: MidiConfig, parameters: LiveParameters) -> None:
        self.parameters = parameters
        self.counts = {"messages": 0, "applied": 0, "ignored": 0, "malformed": 0}
        self._cc: dict[int, list[_Control]] = {}
        self._lsb: dict[int, list[_Control]] = {}
        self._note: dict[int, list[_Control]] = {}
        for mapping in midi.mappings:
            control = _Control(
                mapping, mapping.channel if mapping.channel is not None else midi.channel
            )
            if mapping.note is not None:
                self._note.setdefault(mapping.note, []).append(control)
            else:
                self._cc.setdefault(mapping.cc, []).append(control)
                if mapping.cc_lsb is not None:
                    self._lsb.setdefault(mapping.cc_lsb, []).append(control)

    # ------------------------------------------------------------------ decoding

    def handle(self, message: Sequence[int]) -> bool:
        """Apply one raw MIDI message; True when it changed a target."""
        self.counts["messages"] += 1
        if not message or message[0] < 0x80 or any(b > 0x7F for b in message[1:3]):
            self.counts["malformed"] += 1
            return False
        status = message[0]
        kind, channel = status & 0xF0, (status & 0x0F) + 1
        if status >= 0xF0 or kind not in (0x80, 0x90, 0xB0):
            self.counts["ignored"] += 1  # SysEx, clock, pitch bend, program change, ...
            return False
        if len(message) < 3:
            self.counts["malformed"] += 1
            return False
        number, value = message[1], message[2]
        applied = False
        if kind == 0xB0:
            for control in self._cc.get(number, ()):
                if control.channel is None or control.channel == channel:
                    applied |= self._control_change(control, value, lsb=False)
            for control in self._lsb.get(number, ()):
                if control.channel is None or control.channel == channel:
                    applied |= self._control_change(control, value, lsb=True)
        else:
            pressed = kind == 0x90 and value > 0
            for control in self._note.get(number, ()):
                if control.channel is None or control.channel == channel:
                    applied |= self._button(control, pressed)
        self.counts["applied" if applied else "ignored"] += 1
        return applied

    def _control_change(self, control: _Control, value: int, lsb: bool) -> bool:
        mapping = control.mapping
        if mapping.param == "key":
            return self._key_knob(control, value, lsb)
        if mapping.param == "mic_reverb":
            return self._share_knob(control, value, lsb)
        if mapping.param not in GAIN_PARAMS:
            return self._button(control, value >= 64)
        if mapping.mode == "absolute":
            control.position = _absolute_position(control, value, lsb)
        else:
            if control.position < 0.0:
                current = getattr(self.parameters, mapping.param)
                control.position = gain_to_position(current, mapping)
            steps = relative_delta(value, mapping.mode)
            control.position = min(max(control.position + steps * _STEP, 0.0), 1.0)
        setattr(self.parameters, mapping.param, position_to_gain(control.position, mapping))
        return True

    def _key_knob(self, control: _Control, value: int, lsb: bool) -> bool:
        low, high = KEY_SEMITONES_RANGE
        mapping = control.mapping
        if mapping.mode == "absolute":
            key = low + round(_absolute_position(control, value, lsb) * (high - low))
        else:
            key = round(self.parameters.key_semitones) + relative_delta(value, mapping.mode)
        self.parameters.key_semitones = min(max(key, low), high)
        return True

    def _share_knob(self, control: _Control, value: int, lsb: bool) -> bool:
        """``mic_reverb``: the wet share is the position along the travel."""
        mapping = control.mapping
        if mapping.mode == "absolute":
            share = _absolute_position(control, value, lsb)
        else:
            share = self.parameters.mic_reverb + relative_delta(value, mapping.mode) * _STEP
        self.parameters.mic_reverb = min(max(share, 0.0), 1.0)
        return True

    def _key_button(self, control: _Control, pressed: bool) -> bool:
        """``key_up`` / ``key_down`` / ``key_reset``: act on each press."""
        if not pressed:
            control.active = False
            return False
        if control.active and control.mapping.mode == "momentary":
            return False  # (held: one press, one step)
        control.active = True
        parameters = self.parameters
        low, high = KEY_SEMITONES_RANGE
        param = control.mapping.param
        if param == "key_reset":
            parameters.key_semitones = 0
        else:
            step = 1 if param == "key_up" else -1
            parameters.key_semitones = min(max(round(parameters.key_semitones) + step, low), high)
        return True

    def _button(self, control: _Control, pressed: bool) -> bool:
        mapping = control.mapping
        if mapping.param in ("key_up", "key_down", "key_reset"):
            return self._key_button(control, pressed)
        if mapping.mode == "toggle":
            if not pressed:
                return False
            # (ducking and the gate may start on, from the config: a press flips what is)
            if mapping.param in _SWITCHES:
                active = not getattr(self.parameters, mapping.param)
            else:
                active = not control.active
        else:  # momentary
            active = pressed
            if active == control.active:
                return False
        control.active = active
        parameters = self.parameters
        if mapping.param == "bypass":
            parameters.bypass = active
        elif mapping.param in _SWITCHES:
            setattr(parameters, mapping.param, active)
        elif active:
            control.saved = (parameters.vocal_gain, parameters.accompaniment_gain)
            karaoke = mapping.param == "karaoke_preset"
            parameters.vocal_gain = 0.0 if karaoke else 1.0
            parameters.accompaniment_gain = 1.0 if karaoke else 0.0
        else:
            parameters.vocal_gain, parameters.accompaniment_gain = control.saved
        return True


def describe_message(message: Sequence[int]) -> str:
    """A decoded, human-readable form of one raw message (``unsing midi monitor``)."""
    if not message:
        return "empty message"
    status = message[0]
    data = list(message[1:])
    if status < 0x80:
        return f"malformed: data byte {status} without a status byte {list(message)}"
    if status == 0xF0:
        return f"SysEx, {len(message)} bytes"
    if status >= 0xF8:
        names = {0xF8: "clock", 0xFA: "start", 0xFB: "continue", 0xFC: "stop", 0xFE: "active"}
        return f"real-time {names.get(status, hex(status))}"
    kind, channel = status & 0xF0, (status & 0x0F) + 1
    names = {
        0x80: "note off",
        0x90: "note on",
        0xA0: "aftertouch",
        0xB0: "CC",
        0xC0: "program",
        0xD0: "channel pressure",
        0xE0: "pitch bend",
    }
    name = names.get(kind, hex(status))
    if kind == 0xB0 and len(data) >= 2:
        return f"ch {channel:2d}  CC {data[0]:3d} = {data[1]:3d}"
    if kind in (0x80, 0x90) and len(data) >= 2:
        return f"ch {channel:2d}  {name} {data[0]:3d} velocity {data[1]:3d}"
    if kind == 0xE0 and len(data) >= 2:
        return f"ch {channel:2d}  pitch bend {((data[1] << 7) | data[0]) - 8192:+d}"
    return f"ch {channel:2d}  {name} {data}"
