"""MIDI decoding and mapping (no ports): curves, 14-bit pairs, relative encoders, buttons,
presets, channels, and garbage that must be ignored without an exception."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from unsing.config import MidiMapping, db_to_gain, load_config
from unsing.realtime.gains import LiveParameters
from unsing.realtime.midi_control import (
    ControlMap,
    describe_message,
    gain_to_position,
    position_to_gain,
    relative_delta,
)


def gain_mapping(**fields) -> MidiMapping:
    base = {"param": "vocal_gain", "cc": 20, "mode": "absolute", "curve": "linear"}
    base |= {"min_db": -60.0, "max_db": 6.0} | fields
    return MidiMapping(**base)


def control_map(*mappings: str, channel: str = "null") -> tuple[ControlMap, LiveParameters]:
    config = load_config(
        overrides=[f"midi.channel={channel}", f"midi.mappings=[{', '.join(mappings)}]"]
    )
    parameters = LiveParameters(1.0, 1.0, 1.0)
    return ControlMap(config.midi, parameters), parameters


def db(gain: float) -> float:
    return 20 * math.log10(gain) if gain > 0 else -math.inf


def test_linear_curve_is_even_in_db_and_the_bottom_mutes() -> None:
    mapping = gain_mapping()
    assert position_to_gain(0.0, mapping) == 0.0
    assert db(position_to_gain(1.0, mapping)) == pytest.approx(6.0)
    assert db(position_to_gain(0.5, mapping)) == pytest.approx(-27.0)
    assert db(position_to_gain(1 / 127, mapping)) == pytest.approx(-60 + 66 / 127)
    steps = np.diff([db(position_to_gain(v / 127, mapping)) for v in range(1, 128)])
    np.testing.assert_allclose(steps, 66 / 127)


def test_audio_taper_follows_the_cube_of_the_position_above_min_db() -> None:
    mapping = gain_mapping(curve="audio_taper")
    assert db(position_to_gain(1.0, mapping)) == pytest.approx(6.0)
    assert db(position_to_gain(0.5, mapping)) == pytest.approx(6.0 + 60 * math.log10(0.5))
    assert db(position_to_gain(0.01, mapping)) == pytest.approx(-60.0)  # floor
    assert position_to_gain(0.0, mapping) == 0.0
    gains = [position_to_gain(v / 127, mapping) for v in range(128)]
    assert all(b >= a for a, b in itertools.pairwise(gains))  # monotonic


@pytest.mark.parametrize("curve", ["linear", "audio_taper"])
def test_gain_to_position_inverts_the_curve(curve) -> None:
    mapping = gain_mapping(curve=curve)
    for position in (0.2, 0.5, 0.9, 1.0):
        gain = position_to_gain(position, mapping)
        assert gain_to_position(gain, mapping) == pytest.approx(position)


@pytest.mark.parametrize(
    ("mode", "value", "steps"),
    [
        ("relative_twos_complement", 1, 1),
        ("relative_twos_complement", 5, 5),
        ("relative_twos_complement", 127, -1),
        ("relative_twos_complement", 123, -5),
        ("relative_sign_magnitude", 3, 3),
        ("relative_sign_magnitude", 67, -3),
        ("relative_binary_offset", 65, 1),
        ("relative_binary_offset", 63, -1),
        ("relative_binary_offset", 70, 6),
    ],
)
def test_relative_encoder_decoding(mode, value, steps) -> None:
    assert relative_delta(value, mode) == steps


def test_absolute_cc_sets_the_gain() -> None:
    controls, parameters = control_map(
        "{param: vocal_gain, cc: 20, mode: absolute, curve: linear, min_db: -60.0, max_db: 6.0}"
    )
    assert controls.handle([0xB0, 20, 127])
    assert db(parameters.vocal_gain) == pytest.approx(6.0)
    controls.handle([0xB3, 20, 0])  # any channel
    assert parameters.vocal_gain == 0.0
    controls.handle([0xB0, 20, 64])
    assert db(parameters.vocal_gain) == pytest.approx(-60 + 66 * 64 / 127)
    assert parameters.accompaniment_gain == 1.0  # untouched


def test_fourteen_bit_pair_msb_then_lsb() -> None:
    controls, parameters = control_map(
        "{param: master_gain, cc: 7, cc_lsb: 39, mode: absolute, curve: linear, "
        "min_db: -60.0, max_db: 0.0}"
    )
    controls.handle([0xB0, 7, 64])  # MSB alone: LSB 0
    assert db(parameters.master_gain) == pytest.approx(-60 + 60 * (64 << 7) / 16383)
    controls.handle([0xB0, 39, 100])
    assert db(parameters.master_gain) == pytest.approx(-60 + 60 * ((64 << 7) | 100) / 16383)
    controls.handle([0xB0, 7, 127])
    controls.handle([0xB0, 39, 127])
    assert db(parameters.master_gain) == pytest.approx(0.0)
    # 16384 distinct values: finer than the 7-bit steps
    fine = db(position_to_gain(((64 << 7) | 1) / 16383, controls._cc[7][0].mapping))
    coarse = db(position_to_gain((64 << 7) / 16383, controls._cc[7][0].mapping))
    assert 0 < fine - coarse < 66 / 127 / 100


def test_relative_encoder_starts_from_the_current_gain_and_clamps() -> None:
    controls, parameters = control_map(
        "{param: accompaniment_gain, cc: 30, mode: relative_twos_complement, curve: linear, "
        "min_db: -60.0, max_db: 6.0}"
    )
    parameters.accompaniment_gain = db_to_gain(-6.0)
    controls.handle([0xB0, 30, 1])  # one step up from -6 dB
    assert db(parameters.accompaniment_gain) == pytest.approx(-6.0 + 66 / 127, abs=1e-6)
    controls.handle([0xB0, 30, 127])  # one step down
    assert db(parameters.accompaniment_gain) == pytest.approx(-6.0, abs=1e-6)
    for _ in range(200):
        controls.handle([0xB0, 30, 63])
    assert db(parameters.accompaniment_gain) == pytest.approx(6.0)  # clamped at the top
    for _ in range(300):
        controls.handle([0xB0, 30, 65])
    assert parameters.accompaniment_gain == 0.0  # the bottom mutes


def test_buttons_toggle_and_momentary_bypass() -> None:
    controls, parameters = control_map(
        "{param: bypass, cc: 22, mode: toggle}", "{param: bypass, note: 60, mode: momentary}"
    )
    controls.handle([0xB0, 22, 127])
    assert parameters.bypass
    controls.handle([0xB0, 22, 0])  # release: no change
    assert parameters.bypass
    controls.handle([0xB0, 22, 127])
    assert not parameters.bypass
    controls.handle([0x90, 60, 100])
    assert parameters.bypass
    controls.handle([0x90, 60, 0])  # note-on velocity 0 = note off
    assert not parameters.bypass
    controls.handle([0x90, 60, 1])
    controls.handle([0x80, 60, 64])
    assert not parameters.bypass


def test_presets_set_and_restore_the_gains() -> None:
    controls, parameters = control_map(
        "{param: karaoke_preset, note: 36, mode: toggle}",
        "{param: a_cappella_preset, note: 37, mode: momentary}",
    )
    parameters.vocal_gain, parameters.accompaniment_gain = 0.5, 0.8
    controls.handle([0x99, 36, 100])
    assert (parameters.vocal_gain, parameters.accompaniment_gain) == (0.0, 1.0)
    controls.handle([0x99, 36, 100])
    assert (parameters.vocal_gain, parameters.accompaniment_gain) == (0.5, 0.8)
    controls.handle([0x90, 37, 90])
    assert (parameters.vocal_gain, parameters.accompaniment_gain) == (1.0, 0.0)
    controls.handle([0x80, 37, 0])
    assert (parameters.vocal_gain, parameters.accompaniment_gain) == (0.5, 0.8)


def test_channel_filter() -> None:
    controls, parameters = control_map(
        "{param: vocal_gain, cc: 20, mode: absolute, curve: linear, min_db: -60.0, max_db: 6.0}",
        "{param: master_gain, cc: 20, channel: 2, mode: absolute, curve: linear, "
        "min_db: -60.0, max_db: 0.0}",
        channel="1",
    )
    controls.handle([0xB1, 20, 0])  # channel 2: master only
    assert parameters.master_gain == 0.0 and parameters.vocal_gain == 1.0
    controls.handle([0xB0, 20, 0])  # channel 1: vocal only
    assert parameters.vocal_gain == 0.0
    assert not controls.handle([0xB5, 20, 0])  # channel 6: nobody
    assert controls.counts["ignored"] == 1


@pytest.mark.parametrize(
    "message",
    [
        [],
        [20, 64],  # running status: a data byte where the status byte belongs
        [0xB0, 20],  # truncated
        [0xB0, 200, 64],  # data byte out of range
        [0xB0, 20, 300],
        [0xF0, 0x7E, 0x7F, 0x06, 0x01, 0xF7],  # SysEx
        [0xF8],  # clock
        [0xE0, 0, 64],  # pitch bend
        [0xC0, 5],  # program change
        [0xB0, 99, 10],  # an unmapped CC
    ],
)
def test_garbage_is_counted_and_changes_nothing(message) -> None:
    controls, parameters = control_map(
        "{param: vocal_gain, cc: 20, mode: absolute, curve: linear, min_db: -60.0, max_db: 6.0}"
    )
    before = parameters.as_dict()
    assert controls.handle(message) is False
    assert parameters.as_dict() == before
    assert controls.counts["malformed"] + controls.counts["ignored"] == 1
    assert isinstance(describe_message(message), str)


def test_a_sysex_flood_is_cheap_and_harmless() -> None:
    controls, parameters = control_map(
        "{param: vocal_gain, cc: 20, mode: absolute, curve: linear, min_db: -60.0, max_db: 6.0}"
    )
    flood = [0xF0, *range(100), 0xF7]
    for _ in range(20000):
        controls.handle(flood)
    controls.handle([0xB0, 20, 127])
    assert db(parameters.vocal_gain) == pytest.approx(6.0)
    assert controls.counts["ignored"] == 20000 and controls.counts["applied"] == 1


def test_describe_message() -> None:
    assert describe_message([0xB2, 7, 100]) == "ch  3  CC   7 = 100"
    assert describe_message([0x90, 60, 127]) == "ch  1  note on  60 velocity 127"
    assert describe_message([0xE0, 0, 64]) == "ch  1  pitch bend +0"
    assert describe_message([0xF0, 1, 2, 0xF7]) == "SysEx, 4 bytes"


def test_a_key_knob_spreads_the_key_range_in_whole_steps() -> None:
    controls, parameters = control_map(
        "{param: key, cc: 40, mode: absolute}",
        "{param: key, cc: 41, mode: relative_twos_complement}",
    )
    parameters.key_cents = -15.0
    for value, key in ((0, -6), (127, 6), (64, 0), (75, 1), (53, -1)):
        controls.handle([0xB0, 40, value])
        assert parameters.key_semitones == key
    controls.handle([0xB0, 40, 64])
    controls.handle([0xB0, 41, 1])  # encoder: one semitone per step
    controls.handle([0xB0, 41, 1])
    assert parameters.key_semitones == 2
    controls.handle([0xB0, 41, 127])
    assert parameters.key_semitones == 1
    for _ in range(20):
        controls.handle([0xB0, 41, 1])
    assert parameters.key_semitones == 6  # clamped
    assert parameters.key_cents == -15.0  # the fine tuning stays
    assert parameters.effective_key() == pytest.approx(5.85)


def test_key_buttons_step_once_per_press_and_reset() -> None:
    controls, parameters = control_map(
        "{param: key_up, note: 60, mode: momentary}",
        "{param: key_down, cc: 50, mode: toggle}",
        "{param: key_reset, note: 62, mode: momentary}",
    )
    controls.handle([0x90, 60, 100])
    assert parameters.key_semitones == 1
    controls.handle([0x90, 60, 100])  # (a repeated note-on while held: still one step)
    assert parameters.key_semitones == 1
    controls.handle([0x80, 60, 0])
    controls.handle([0x90, 60, 90])
    assert parameters.key_semitones == 2
    controls.handle([0x80, 60, 0])
    for _ in range(3):
        controls.handle([0xB0, 50, 127])
        controls.handle([0xB0, 50, 0])
    assert parameters.key_semitones == -1
    for _ in range(10):
        controls.handle([0xB0, 50, 127])
        controls.handle([0xB0, 50, 0])
    assert parameters.key_semitones == -6  # clamped
    controls.handle([0x90, 62, 100])
    assert parameters.key_semitones == 0


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ("{param: key, cc: 40, mode: toggle}", "key needs a knob or fader mode"),
        ("{param: key_up, cc: 40, mode: absolute}", "key_up is a switch"),
        ("{param: key, note: 40, mode: absolute}", "a note can only be a button"),
    ],
)
def test_key_mappings_in_the_wrong_mode_are_one_line_errors(mapping, message) -> None:
    from unsing.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        load_config(overrides=[f"midi.mappings=[{mapping}]"])


def test_learning_the_key_controls() -> None:
    from unsing.cli.midi import learned_mapping

    config = load_config()
    knob = learned_mapping("key", [[0xB1, 40, 10]], None, config)
    assert knob == {"param": "key", "cc": 40, "channel": 2, "mode": "absolute"}
    button = learned_mapping("key_up", [[0x90, 60, 100]], None, config)
    assert button == {"param": "key_up", "note": 60, "channel": 1, "mode": "momentary"}
    load_config(overrides=[f"midi.mappings=[{knob}, {button}]".replace("'", "")])


def test_microphone_controls_gain_reverb_and_ducking() -> None:
    """mic_gain is a gain fader; mic_reverb a knob (or encoder) over the wet share 0..1; duck
    a button that flips the ducking from what it is (the config may start it on)."""
    controls, parameters = control_map(
        "{param: mic_gain, cc: 30, mode: absolute, curve: linear, min_db: -60, max_db: 6}",
        "{param: mic_reverb, cc: 31, mode: absolute}",
        "{param: mic_reverb, cc: 32, mode: relative_binary_offset}",
        "{param: duck, note: 36, mode: toggle}",
    )
    controls.handle([0xB0, 30, 127])
    assert db(parameters.mic_gain) == pytest.approx(6.0)
    controls.handle([0xB0, 30, 0])
    assert parameters.mic_gain == 0.0
    controls.handle([0xB0, 31, 127])
    assert parameters.mic_reverb == 1.0
    controls.handle([0xB0, 31, 0])
    assert parameters.mic_reverb == 0.0
    for _ in range(10):
        controls.handle([0xB0, 32, 65])  # one step up each
    assert parameters.mic_reverb == pytest.approx(10 / 127)
    controls.handle([0xB0, 32, 0])  # 64 steps down: clamped at 0
    assert parameters.mic_reverb == 0.0
    parameters.duck = True  # engine.duck: true
    controls.handle([0x90, 36, 100])
    assert parameters.duck is False
    controls.handle([0x80, 36, 0])
    controls.handle([0x90, 36, 100])
    assert parameters.duck is True


def test_a_button_flips_the_a_cappella_gate_from_what_it_is() -> None:
    controls, parameters = control_map(
        "{param: a_cappella_gate, note: 40, mode: toggle}",
        "{param: a_cappella_gate, cc: 64, mode: momentary}",
    )
    parameters.a_cappella_gate = True  # engine.a_cappella_gate: true
    controls.handle([0x90, 40, 100])
    assert parameters.a_cappella_gate is False
    controls.handle([0x80, 40, 0])
    assert parameters.a_cappella_gate is False
    controls.handle([0x90, 40, 100])
    assert parameters.a_cappella_gate is True
    controls.handle([0xB0, 64, 127])  # a sustain pedal: on while held
    assert parameters.a_cappella_gate is True
    controls.handle([0xB0, 64, 0])
    assert parameters.a_cappella_gate is False


def test_learning_the_microphone_controls() -> None:
    from unsing.cli.midi import learned_mapping

    config = load_config()
    gain = learned_mapping("mic_gain", [[0xB0, 30, 10]], None, config)
    assert gain | {"curve": "linear", "min_db": -60.0, "max_db": 6.0} == gain
    reverb = learned_mapping("mic_reverb", [[0xB0, 31, 10]], None, config)
    assert reverb == {"param": "mic_reverb", "cc": 31, "channel": 1, "mode": "absolute"}
    duck = learned_mapping("duck", [[0x90, 36, 100]], None, config)
    assert duck == {"param": "duck", "note": 36, "channel": 1, "mode": "toggle"}
    load_config(overrides=[f"midi.mappings=[{gain}, {reverb}, {duck}]".replace("'", "")])
