"""MIDI over the JACK dummy server: a virtual output port (python-rtmidi, JACK API) plays the
controller; unsing's inputs, the `unsing midi` commands and the running engine listen."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import ReadyWatch, require_module

from unsing.benchmarks import midi_latency
from unsing.config import db_to_gain, load_config
from unsing.realtime.gains import LiveParameters
from unsing.realtime.midi_control import ControlMap
from unsing.realtime.midi_ports import MidiInputs, list_input_ports

pytestmark = pytest.mark.audio

UNSING = Path(sys.executable).with_name("unsing")


@pytest.fixture
def knobs(jack_server):
    """A virtual MIDI output port on JACK named like a controller."""
    rtmidi = require_module("rtmidi")
    out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, "unsing-test-controller")
    out.open_virtual_port("knobs")
    yield out
    out.close_port()
    out.delete()


def wait_for(predicate, timeout_s: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


def test_ports_are_listed(knobs) -> None:
    assert "unsing-test-controller:knobs" in list_input_ports("jack")
    result = subprocess.run(
        [str(UNSING), "midi", "ports", "--midi-api", "jack"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "unsing-test-controller:knobs" in result.stdout


def test_auto_api_uses_jack_where_the_alsa_sequencer_is_missing(knobs) -> None:
    """``midi.api: auto`` tries the APIs python-rtmidi was built with, in order: without
    /dev/snd/seq (containers, CI) it lands on the running JACK server, and the ALSA library's
    own complaint is kept off the terminal. With no JACK server either: one line."""
    if Path("/dev/snd/seq").exists():
        pytest.skip("this machine has the ALSA sequencer: auto uses it")
    result = subprocess.run(
        [str(UNSING), "midi", "ports"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert "unsing-test-controller:knobs" in result.stdout
    assert "ALSA lib" not in result.stderr
    nowhere = {**os.environ, "JACK_DEFAULT_SERVER": "unsing-test-none", "JACK_NO_START_SERVER": "1"}
    for api, message in (
        ("auto", "no MIDI API is usable here (alsa: "),
        ("alsa", "with a JACK server running, --midi-api jack"),
        ("jack", "MIDI API jack is not usable here"),
    ):
        result = subprocess.run(
            [str(UNSING), "midi", "ports", "--midi-api", api],
            capture_output=True, text=True, timeout=30, env=nowhere,
        )  # fmt: skip
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 1 and len(lines) == 1, result.stderr
        assert lines[0].startswith("unsing: error: ") and message in lines[0], lines[0]


def test_controls_reach_the_parameters_and_hot_plug_is_survived(knobs, jack_server) -> None:
    rtmidi = require_module("rtmidi")
    config = load_config()
    parameters = LiveParameters(1.0, 1.0, 1.0)
    controls = ControlMap(config.midi, parameters)
    inputs = MidiInputs("jack", "controller", lambda message, port: controls.handle(message))
    try:
        assert inputs.open() == ["MIDI input 'unsing-test-controller:knobs' opened"]
        knobs.send_message([0xB0, 20, 0])  # vocal knob to the bottom: muted
        assert wait_for(lambda: parameters.vocal_gain == 0.0)
        knobs.send_message([0xB0, 21, 127])
        assert wait_for(lambda: parameters.accompaniment_gain == pytest.approx(db_to_gain(6.0)))
        knobs.send_message([0xB0, 22, 127])
        assert wait_for(lambda: parameters.bypass)
        knobs.send_message([0xF0, 1, 2, 3, 0xF7])  # SysEx: filtered by rtmidi
        # A flood of unmapped controls, in bursts of 50 a few ms apart: JACK's per-period MIDI
        # buffer drops whatever one period cannot hold (a transport limit, seen once in CI,
        # not ours), and the control after the flood must arrive.
        for _burst in range(10):
            for _ in range(50):
                knobs.send_message([0xB0, 99, 1])
            time.sleep(0.01)
        time.sleep(0.05)
        knobs.send_message([0xB0, 7, 0])
        assert wait_for(lambda: parameters.master_gain == 0.0)
        assert controls.counts["applied"] == 4
        assert inputs.errors == 0
        # unplug: the port vanishes, poll reports it, nothing raises
        knobs.close_port()
        assert inputs.poll() == [
            "MIDI input 'unsing-test-controller:knobs' disappeared; audio keeps running"
        ]
        # plug back in (a new client, as a replugged USB device): reopened on the next poll
        replugged = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, "unsing-test-controller")
        replugged.open_virtual_port("knobs")
        try:
            events = inputs.poll()  # JACK may suffix the client name (-01) while the old one lives
            assert len(events) == 1 and events[0].startswith("MIDI input 'unsing-test-controller")
            assert events[0].endswith(":knobs' opened")
            replugged.send_message([0xB0, 20, 127])
            assert wait_for(lambda: parameters.vocal_gain == pytest.approx(db_to_gain(6.0)))
        finally:
            replugged.close_port()
            replugged.delete()
    finally:
        inputs.close()


def test_the_hot_plug_scan_keeps_one_client(knobs, monkeypatch) -> None:
    """Each scan lists ports with the same client: a client opened and closed per scan (once
    a second in `unsing run`) changed the JACK graph every time and made the engine xrun."""
    from unsing.realtime import midi_ports

    opened: list[str] = []
    new_client = midi_ports._new_client

    def counting(rtmidi, api, name):
        opened.append(name)
        return new_client(rtmidi, api, name)

    monkeypatch.setattr(midi_ports, "_new_client", counting)
    inputs = MidiInputs("jack", "controller", lambda message, port: None)
    try:
        inputs.open()
        for _ in range(5):
            assert inputs.poll() == []
    finally:
        inputs.close()
    assert opened.count("unsing-probe") == 1
    assert len(opened) == 2  # the scanner and the controller's port


def test_monitor_prints_decoded_messages(knobs) -> None:
    process = subprocess.Popen(
        [
            str(UNSING),
            "midi",
            "monitor",
            "--midi-api",
            "jack",
            "--midi-port",
            "controller",
            "--duration",
            "3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watch = ReadyWatch(process, ":knobs' opened")
    watch.wait()
    knobs.send_message([0xB0, 20, 127])
    knobs.send_message([0x90, 60, 100])
    knobs.send_message([0xB0, 22, 127])
    stdout, stderr = watch.finish(process)
    assert process.returncode == 0, stderr
    lines = stdout.splitlines()
    assert lines == [
        "unsing-test-controller:knobs: ch  1  CC  20 = 127  -> vocal_gain +6.0 dB",
        "unsing-test-controller:knobs: ch  1  note on  60 velocity 100",
        "unsing-test-controller:knobs: ch  1  CC  22 = 127  -> bypass on",
    ]


def test_learn_writes_the_mapping_into_the_config_file(knobs, tmp_path) -> None:
    target = tmp_path / "my.yaml"
    target.write_text("# my rig\nmidi:\n  channel: null  # any\n", encoding="utf-8")
    process = subprocess.Popen(
        [
            str(UNSING),
            "midi",
            "learn",
            "vocal_gain",
            "--config",
            str(target),
            "--midi-api",
            "jack",
            "--midi-port",
            "controller",
            "--timeout",
            "20",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watch = ReadyWatch(process, ":knobs' opened")
    watch.wait()
    knobs.send_message([0xB4, 3, 90])  # channel 5, CC 3 (MSB) ...
    knobs.send_message([0xB4, 35, 10])  # ... and its LSB: a 14-bit fader
    stdout, stderr = watch.finish(process)
    assert process.returncode == 0, stderr
    assert "vocal_gain <- CC 3/35 (14-bit) on channel 5" in stdout
    text = target.read_text(encoding="utf-8")
    assert text.startswith("# my rig\nmidi:\n  channel: null  # any\n")  # kept as it was
    config = load_config(str(target))
    learned = [m for m in config.midi.mappings if m.param == "vocal_gain"]
    assert len(learned) == 1
    assert (learned[0].cc, learned[0].cc_lsb, learned[0].channel) == (3, 35, 5)
    assert yaml.safe_load(text)["midi"]["mappings"][0]["cc"] == 3
    # the file had no mappings: the other defaults it inherited are still there
    defaults = load_config().midi.mappings
    assert len(config.midi.mappings) == len(defaults)
    assert [m for m in config.midi.mappings if m.param != "vocal_gain"] == [
        m for m in defaults if m.param != "vocal_gain"
    ]


def test_engine_output_gain_follows_the_knob_smoothly(jack_server) -> None:
    """The CC-to-audio measurement (benchmarks/midi_latency.py) with bounds on it."""
    require_module("jack")
    config = load_config(
        overrides=[
            "audio.host_api=JACK",
            f"midi.mappings=[{midi_latency.MAPPING}]",
            "midi.api=jack",
        ]
    )
    result = midi_latency.measure(config, moves=4)
    print("CC-to-audio:", result["first_change_ms"], result["settled_ms"], result["audio_path_ms"])
    hop_ms, smoothing_ms = result["hop_ms"], result["gain_smoothing_ms"]
    assert result["midi_messages"]["applied"] == 4
    assert result["first_change_ms"]["count"] == 4 and result["settled_ms"]["count"] == 4
    # the change starts no later than the audio path plus two hops (MIDI delivery, next hop)
    assert result["first_change_ms"]["max"] <= result["audio_path_ms"] + 2 * hop_ms
    # and is complete (-40 dB when muting) within the smoothing (ln 100 time constants), one
    # window of crossfade and the audio path, plus two hops
    bound = result["audio_path_ms"] + np.log(100) * smoothing_ms + 1000 * 1024 / 44100
    assert result["settled_ms"]["max"] <= bound + 2 * hop_ms


def test_run_with_midi_port_opens_it(knobs, tmp_path) -> None:
    result = subprocess.run(
        [
            str(UNSING),
            "run",
            "--host-api",
            "jack",
            "--duration",
            "1",
            "--midi-api",
            "jack",
            "--midi-port",
            "controller",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
    )
    assert result.returncode == 0, result.stderr
    assert "MIDI input 'unsing-test-controller:knobs' opened" in result.stderr


def test_midi_port_vanishing_mid_knob_move_leaves_the_run_streaming(knobs, tmp_path) -> None:
    """`unsing run` with a knob sweeping 100 times a second; the port closes mid-sweep: one
    line says so, the stream goes on (callbacks keep coming, no callback error), and the gain
    stays where the knob left it."""
    import json
    import threading

    stats = tmp_path / "stats.json"
    process = subprocess.Popen(
        [str(UNSING), "run", "--host-api", "jack", "--midi-api", "jack", "--midi-port",
         "controller", "--duration", "4", "--stats-json", str(stats)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    watch = ReadyWatch(process, "MIDI input 'unsing-test-controller:knobs' opened")
    stop = threading.Event()

    def sweep() -> None:
        value = 0
        while not stop.is_set():
            try:
                knobs.send_message([0xB0, 20, value])
            except Exception:  # the port is gone: the controller was unplugged
                return
            value = (value + 5) % 128
            time.sleep(0.01)

    sweeper = threading.Thread(target=sweep, daemon=True)
    try:
        watch.wait()
        sweeper.start()
        time.sleep(1.0)
        knobs.close_port()  # unplugged mid-move
        stop.set()
        sweeper.join(5)
        _, stderr = watch.finish(process, timeout_s=30)
    finally:
        stop.set()
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    assert "MIDI input 'unsing-test-controller:knobs' disappeared; audio keeps running" in stderr
    assert "Traceback" not in stderr
    report = json.loads(stats.read_text())
    assert report["callback_error"] is None and report["fault"] is None
    assert report["stats"]["callbacks"] > 400  # 4 s at about 170 a second: it kept streaming


def test_several_ports_at_once(jack_server) -> None:
    rtmidi = require_module("rtmidi")
    first = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, "unsing-test-faders")
    second = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, "unsing-test-pads")
    first.open_virtual_port("out")
    second.open_virtual_port("out")
    config = load_config()
    parameters = LiveParameters(1.0, 1.0, 1.0)
    controls = ControlMap(config.midi, parameters)
    inputs = MidiInputs("jack", "faders|pads", lambda message, port: controls.handle(message))
    try:
        events = inputs.open()
        assert sorted(events) == [
            "MIDI input 'unsing-test-faders:out' opened",
            "MIDI input 'unsing-test-pads:out' opened",
        ]
        first.send_message([0xB0, 21, 0])
        second.send_message([0xB0, 22, 127])
        assert wait_for(lambda: parameters.accompaniment_gain == 0.0 and parameters.bypass)
    finally:
        inputs.close()
        for port in (first, second):
            port.close_port()
            port.delete()


def test_fourteen_bit_pairs_and_relative_encoders_over_jack(knobs) -> None:
    config = load_config(
        overrides=[
            "midi.mappings=["
            "{param: master_gain, cc: 7, cc_lsb: 39, mode: absolute, curve: linear, "
            "min_db: -60.0, max_db: 0.0}, "
            "{param: vocal_gain, cc: 40, mode: relative_twos_complement, curve: linear, "
            "min_db: -60.0, max_db: 6.0}, "
            "{param: accompaniment_gain, cc: 41, mode: relative_binary_offset, "
            "curve: audio_taper, min_db: -60.0, max_db: 0.0}]"
        ]
    )
    parameters = LiveParameters(db_to_gain(-6.0), 1.0, 1.0)
    controls = ControlMap(config.midi, parameters)
    inputs = MidiInputs("jack", "controller", lambda message, port: controls.handle(message))
    try:
        inputs.open()
        knobs.send_message([0xB0, 7, 100])
        knobs.send_message([0xB0, 39, 77])
        expected = db_to_gain(-60.0 + 60.0 * ((100 << 7) | 77) / 16383)
        assert wait_for(lambda: parameters.master_gain == pytest.approx(expected))
        for _ in range(10):  # ten clicks up, then three down
            knobs.send_message([0xB0, 40, 1])
        for _ in range(3):
            knobs.send_message([0xB0, 40, 127])
        expected = db_to_gain(-6.0 + 7 * 66.0 / 127)
        assert wait_for(lambda: parameters.vocal_gain == pytest.approx(expected, rel=1e-6))
        knobs.send_message([0xB0, 41, 63])  # one click down from unity on an audio taper
        expected = (1.0 - 1.0 / 127) ** 3
        assert wait_for(lambda: parameters.accompaniment_gain == pytest.approx(expected))
        assert controls.counts["applied"] == 16
    finally:
        inputs.close()


def test_key_buttons_and_knob_over_jack_change_the_engines_key(knobs) -> None:
    """MIDI key controls through JACK reach an engine's parameters, and its output follows:
    a 440 Hz tone rendered after two key_up presses comes out two semitones higher."""
    from unsing.realtime.engine import SeparationEngine
    from unsing.realtime.onnx_model import OnnxMaskModel
    from unsing.realtime.render import render

    config = load_config(
        overrides=[
            "engine.vocal_gain_db=0",
            "midi.mappings=[{param: key_up, note: 60, mode: momentary}, "
            "{param: key_reset, note: 61, mode: momentary}, {param: key, cc: 30, mode: absolute}]",
        ]
    )
    engine = SeparationEngine(config, OnnxMaskModel(config))
    controls = ControlMap(config.midi, engine.parameters)
    inputs = MidiInputs("jack", "controller", lambda message, port: controls.handle(message))
    try:
        inputs.open()
        for _ in range(2):
            knobs.send_message([0x90, 60, 100])
            knobs.send_message([0x80, 60, 0])
        assert wait_for(lambda: engine.parameters.key_semitones == 2)
        rate = config.contract.sample_rate_hz
        t = np.arange(rate) / rate
        tone = np.repeat(0.3 * np.sin(2 * np.pi * 440.0 * t)[:, None], 2, axis=1)
        out = render(engine, tone.astype(np.float32))[rate // 4 :, 0].astype(np.float64)
        spectrum = np.abs(np.fft.rfft(out * np.hanning(out.size), n=16 * out.size))
        peak_hz = np.argmax(spectrum) * rate / (16 * out.size)
        assert abs(1200 * np.log2(peak_hz / (440.0 * 2 ** (2 / 12)))) < 5.0
        knobs.send_message([0xB0, 30, 0])
        assert wait_for(lambda: engine.parameters.key_semitones == -6)
        knobs.send_message([0x90, 61, 100])
        assert wait_for(lambda: engine.parameters.key_semitones == 0)
        assert controls.counts["malformed"] == 0
    finally:
        inputs.close()


def test_microphone_controls_over_jack_reach_the_microphone(knobs) -> None:
    """MIDI mic_gain, mic_reverb and duck controls through JACK reach the parameters, and the
    microphone follows them: the gain it applies, the reverb tail, the guide's ducking."""
    from unsing.realtime.gains import GainSmoother, LiveParameters
    from unsing.realtime.microphone import MicChannel
    from unsing.realtime.stats import EngineStats

    config = load_config(
        overrides=[
            "audio.mic_channel=3",
            "engine.gain_smoothing_ms=0",
            "engine.duck_attack_ms=0",
            "midi.mappings=[{param: mic_gain, cc: 31, mode: absolute, curve: linear, "
            "min_db: -60, max_db: 0}, {param: mic_reverb, cc: 32, mode: absolute}, "
            "{param: duck, note: 62, mode: toggle}]",
        ]
    )
    parameters = LiveParameters.from_config(config)
    smoother = GainSmoother(parameters, 256, 44100, 0.0)
    mic = MicChannel(config, parameters, smoother, EngineStats())
    controls = ControlMap(config.midi, parameters)
    inputs = MidiInputs("jack", "controller", lambda message, port: controls.handle(message))
    try:
        inputs.open()
        knobs.send_message([0xB0, 31, 64])  # about -30 dB
        knobs.send_message([0xB0, 32, 127])  # all reverb
        knobs.send_message([0x90, 62, 100])  # ducking on
        assert wait_for(lambda: parameters.duck and parameters.mic_reverb == 1.0)
        assert wait_for(lambda: 0.0 < parameters.mic_gain < 0.05)
        block = np.zeros(256, np.float32)
        block[0] = 0.5
        out = np.zeros((256 * 20, 2), np.float32)
        for index in range(20):  # (a silent block first: the gain ramps to the knob's there)
            mic.listen(block if index == 1 else np.zeros(256, np.float32))
            mic.mix_into(out[index * 256 : (index + 1) * 256])
        assert out[256, 0] == np.float32(0.5 * parameters.mic_gain)  # dry, at the knob's gain
        assert np.abs(out[256 * 4 :, 0]).max() > 0  # and the reverb's tail
        assert smoother.duck_amount == 1.0  # the click opened the gate: the guide ducks
    finally:
        inputs.close()
