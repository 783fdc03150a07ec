"""The singer's microphone on a real, clocked stream: the JACK dummy server (scripts/test.sh
starts it with three capture ports: a song on two, the microphone on the third).

A JACK client plays into the engine's input ports and records its output ports. Measured: a
click on the microphone reaches the output after the device latency alone (PortAudio's input
plus output latency, none of the STFT's), while a click in the song still goes through the
separator (the device latency plus the engine's delay); with `play` the microphone comes from
the stream's input and the song from the file; and the guide vocal's gain in the output follows
a gated burst on the microphone with the configured attack, hold and release.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile
from conftest import require_module
from test_jack_engine import _play_through_engine

from unsing.config import db_to_gain, load_config
from unsing.realtime.ducking import Ducker
from unsing.realtime.engine import SeparationEngine
from unsing.realtime.gains import GainSmoother, LiveParameters
from unsing.realtime.onnx_model import OnnxMaskModel
from unsing.realtime.render import render

pytestmark = pytest.mark.audio

RATE = 44100
BLOCK = 256
DEMO = "assets/demo/karissa_hobbs-lets_go_fishin.ogg"


def _clicks(channel: np.ndarray, threshold: float) -> list[int]:
    """Indices where ``channel`` first exceeds ``threshold`` in each burst."""
    above = np.flatnonzero(np.abs(channel) > threshold)
    return [int(i) for n, i in enumerate(above) if n == 0 or i - above[n - 1] > 100]


def test_a_click_on_the_microphone_comes_out_after_the_device_latency_only(
    jack_server: str,
) -> None:
    """`run --mic 3`, gains at unity (the engine then passes the song exactly): the song's
    click comes out after the device latency plus the engine's delay (n_fft - hop = 768
    samples), the microphone's
    after the device latency alone, at its gain, on both output channels."""
    jack = require_module("jack")
    config = load_config(
        overrides=[
            "audio.host_api=JACK",
            "audio.mic_channel=3",
            "engine.vocal_gain_db=0",
            "engine.mic_gain_db=-6",
        ]
    )
    signal = np.zeros((3, RATE * 2), np.float32)
    song_at, mic_at = RATE // 2, RATE
    signal[:2, song_at] = 0.5
    signal[2, mic_at] = 0.5
    attempts = []
    for _attempt in range(5):  # (an xrun shifts the recording: see test_jack_engine.py)
        stream, recording = _play_through_engine(jack, config, signal)
        latency = stream.latency()
        device = latency.input_samples + latency.output_samples
        clicks = [_clicks(recording[c], 0.1) for c in range(2)]
        attempts.append((stream.engine.stats.snapshot()["xruns"], device, clicks))
        expected = sorted([song_at + device + stream.engine.delay_samples, mic_at + device])
        if clicks[0] == clicks[1] == expected:
            break
    assert clicks[0] == clicks[1] == expected, attempts
    assert stream.engine.delay_samples == 768 and stream.callback_error is None
    mic_out = recording[:, mic_at + device]
    np.testing.assert_allclose(mic_out, 0.5 * db_to_gain(-6.0), rtol=1e-5)
    song_out = recording[:, song_at + device + 768]
    np.testing.assert_allclose(song_out, 0.5, rtol=1e-4)
    print(f"microphone: {device} samples ({1000 * device / RATE:.2f} ms, the device latency)")


def test_play_takes_the_microphone_from_the_stream_input(jack_server: str) -> None:
    """`play SONG --mic 1`: the stream is duplex with one input channel, the microphone; the
    song comes from memory. A click on that input comes out after the device latency alone,
    over the song's output."""
    jack = require_module("jack")
    config = load_config(overrides=["audio.host_api=JACK", "audio.mic_channel=1"])
    song = np.zeros((RATE * 4, 2), np.float32)  # a silent song: only the microphone sounds
    signal = np.zeros((1, RATE * 2), np.float32)
    signal[0, RATE] = 0.5
    for _attempt in range(5):
        stream, recording = _play_through_engine(jack, config, signal, song=song)
        latency = stream.latency()
        device = latency.input_samples + latency.output_samples
        clicks = [_clicks(recording[c], 0.1) for c in range(2)]
        if clicks[0] == clicks[1] == [RATE + device]:
            break
    assert clicks[0] == clicks[1] == [RATE + device], (clicks, device)
    assert stream._input_channels == 1 and stream._mic_column == 0
    np.testing.assert_allclose(recording[:, RATE + device], 0.5, rtol=1e-5)


def test_the_guide_vocal_ducks_with_the_configured_times(jack_server: str) -> None:
    """Accompaniment muted, the guide vocal at 0 dB, ducked to -20 dB: a 1.5 s burst of noise at
    -20 dBFS on the microphone. The output minus the microphone, over the same engine's render
    without ducking, gives the guide's gain per block: it follows the ducker's envelope for the
    microphone's blocks (2 blocks ahead: the frames' centre), and its 63 % points are one
    attack time after the burst starts and hold + release after it ends."""
    jack = require_module("jack")
    attack_ms, hold_ms, release_ms = 60.0, 200.0, 150.0
    overrides = [
        "audio.host_api=JACK",
        "engine.vocal_gain_db=0",
        "engine.accompaniment_gain_db=-.inf",
        "engine.duck_vocal_db=-20",
        f"engine.duck_attack_ms={attack_ms}",
        f"engine.duck_hold_ms={hold_ms}",
        f"engine.duck_release_ms={release_ms}",
    ]
    config = load_config(overrides=[*overrides, "audio.mic_channel=3", "engine.duck=true"])
    audio, rate = soundfile.read(DEMO, dtype="float32")
    seconds = 4.0
    song = audio[60 * rate : 60 * rate + int(seconds * rate)].T
    burst_from, burst_to = int(1.0 * RATE), int(2.5 * RATE)
    voice = np.zeros(song.shape[1], np.float32)
    voice[burst_from:burst_to] = 0.1 * np.random.default_rng(3).standard_normal(
        burst_to - burst_from
    )
    signal = np.concatenate([song, voice[None]]).astype(np.float32)
    plain_config = load_config(overrides=overrides)
    plain = render(
        SeparationEngine(plain_config, OnnxMaskModel(plain_config), previous_mask=True),
        song.T.copy(),
    ).T
    for _attempt in range(5):
        stream, recording = _play_through_engine(jack, config, signal)
        stats = stream.engine.stats.snapshot()
        if stats["xruns"] == 0 and stats["deadline_misses"] == 0:
            break
    latency = stream.latency()
    device = latency.input_samples + latency.output_samples
    delay = device + stream.engine.delay_samples
    mic_in_output = np.zeros_like(recording)
    mic_in_output[:, device : device + voice.size] = voice
    music = (recording - mic_in_output)[:, delay : delay + song.shape[1]]
    blocks = song.shape[1] // BLOCK - 8
    gain_db = np.full(blocks, np.nan)
    for i in range(blocks):
        window = slice(i * BLOCK, (i + 1) * BLOCK)
        reference = float(np.mean(plain[:, window] ** 2))
        if reference > 1e-6:  # (where the guide vocal sounds)
            gain_db[i] = 10 * math.log10(float(np.mean(music[:, window] ** 2)) / reference)
    parameters = LiveParameters.from_config(config)
    smoother = GainSmoother(parameters, BLOCK, RATE, config.engine.gain_smoothing_ms)
    ducker = Ducker(config.engine, parameters, smoother, RATE)
    amounts = np.array(
        [
            ducker.update(float(np.sqrt(np.mean(voice[i * BLOCK : (i + 1) * BLOCK] ** 2))), BLOCK)
            for i in range(blocks + 2)
        ]
    )
    expected_db = 20 * np.log10(1 + amounts * (db_to_gain(-20) - 1))[2 : blocks + 2]
    sounding = np.isfinite(gain_db)
    assert sounding.mean() > 0.5
    error_db = np.abs(gain_db - expected_db)[sounding]
    assert np.median(error_db) < 0.5 and np.percentile(error_db, 95) < 3.0, (
        np.median(error_db),
        np.percentile(error_db, 95),
    )
    inside = slice(int(1.5 * RATE) // BLOCK, int(2.4 * RATE) // BLOCK)
    assert np.nanmedian(gain_db[inside]) == pytest.approx(-20.0, abs=1.0)
    assert np.nanmedian(gain_db[: int(0.9 * RATE) // BLOCK]) == pytest.approx(0.0, abs=0.5)
    assert np.nanmedian(gain_db[int(3.3 * RATE) // BLOCK :]) == pytest.approx(0.0, abs=0.5)


@pytest.mark.parametrize(
    ("command", "algorithmic_samples"),
    [
        (["run", "--duration", "1.5", "--mic", "3"], 1024),  # auto: the STFT shifter live
        (["play", "SONG", "--mic", "1"], 1024 + 3328),  # auto: Rubber Band for a file
    ],
    ids=["run", "play"],
)
def test_the_commands_run_with_a_key_the_microphone_and_ducking(
    jack_server: str, tmp_path, command: list[str], algorithmic_samples: int
) -> None:
    """`unsing run|play --key 2 --mic ... --reverb 0.3 --duck` on JACK: exit 0, the report's
    latency names the shifter `auto` picked (play: Rubber Band's 3328 samples more), and the
    microphone is metered."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    song = tmp_path / "song.wav"
    tone = 0.2 * np.sin(2 * np.pi * 440 * np.arange(int(1.5 * RATE)) / RATE)
    soundfile.write(song, np.stack([tone, tone], axis=1), RATE)
    report = tmp_path / "report.json"
    argv = [str(song) if arg == "SONG" else arg for arg in command]
    unsing = Path(sys.executable).with_name("unsing")
    options = ["--host-api", "jack", "--key", "2", "--reverb", "0.3", "--duck", "--vocal-db", "-6"]
    result = subprocess.run(
        [str(unsing), *argv, *options, "--quiet", "--stats-json", str(report)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(report.read_text())
    assert document["latency"]["algorithmic_samples"] == algorithmic_samples
    assert "mic" in document["stats"]["peak_dbfs"] and document["callback_error"] is None


@pytest.mark.parametrize(
    ("mic", "fragment"),
    [
        ("2", "channels 1-2 carry the song; put the microphone on a later channel (e.g. --mic 3)"),
        ("9", "audio.mic_channel = 9: the microphone's device 'system'"),
        ("nosuchmic", "audio.mic_device = 'nosuchmic': no input device matches"),
    ],
)
def test_a_microphone_that_cannot_be_opened_is_a_one_line_error(
    jack_server: str, mic: str, fragment: str
) -> None:
    import subprocess
    import sys
    from pathlib import Path

    unsing = Path(sys.executable).with_name("unsing")
    result = subprocess.run(
        [str(unsing), "run", "--host-api", "jack", "--mic", mic, "--duration", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1 and fragment in lines[0], result.stderr
