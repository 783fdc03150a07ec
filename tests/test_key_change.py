"""The key change in the engine (engine.key_semitones / key_cents, parameters.key_semitones):
a tone's frequency from a zero-padded FFT, key 0 against an engine with no shifter, a live
change's largest sample step against the signal's own, the late-finish order against the
plain render, and the settings' one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from unsing.config import load_config
from unsing.errors import ConfigError
from unsing.realtime.engine import SeparationEngine
from unsing.realtime.gains import LiveParameters
from unsing.realtime.onnx_model import OnnxMaskModel
from unsing.realtime.pitch_shift import semitone_ratio
from unsing.realtime.render import render

RATE_HZ = 44100
UNSING = Path(sys.executable).with_name("unsing")
#: both stems at unity: the output is the mixture (whatever the mask), in the new key
UNITY = ["engine.vocal_gain_db=0", "engine.accompaniment_gain_db=0"]


def _peak_hz(signal: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(signal.size), n=16 * signal.size))
    peak = int(np.argmax(spectrum))
    a, b, c = np.log(spectrum[peak - 1 : peak + 2])
    return (peak + 0.5 * (a - c) / (a - 2 * b + c)) * RATE_HZ / (16 * signal.size)


def _tone(hz: float, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE_HZ)) / RATE_HZ
    tone = 0.3 * np.sin(2 * np.pi * hz * t)
    return np.stack([tone, tone], axis=1).astype(np.float32)


@pytest.fixture(scope="module")
def model():
    return OnnxMaskModel(load_config())


def test_key_zero_is_the_engine_without_a_shifter(model) -> None:
    """Key 0 (and +2 in bypass) runs no shift at all: bitwise the output of an engine whose
    shifter is removed."""
    rng = np.random.default_rng(0)
    signal = (0.1 * rng.standard_normal((RATE_HZ, 2))).astype(np.float32)
    config = load_config()
    reference = SeparationEngine(config, model)
    reference._pitch = None
    expected = render(reference, signal)
    np.testing.assert_array_equal(render(SeparationEngine(config, model), signal), expected)
    parameters = LiveParameters.from_config(config)
    parameters.key_semitones = 2.0
    parameters.bypass = True
    bypassed = render(SeparationEngine(config, model, parameters), signal)
    parameters.bypass = False
    reference = SeparationEngine(config, model, LiveParameters(1.0, 1.0, 1.0))
    np.testing.assert_array_equal(bypassed, render(reference, signal))


@pytest.mark.parametrize(("semitones", "cents"), [(2, 0.0), (-5, 0.0), (3, -25.0)])
def test_a_tone_comes_out_in_the_new_key_within_two_cents(model, semitones, cents) -> None:
    config = load_config(
        overrides=[*UNITY, f"engine.key_semitones={semitones}", f"engine.key_cents={cents}"]
    )
    tone = _tone(440.0, 1.5)
    out = render(SeparationEngine(config, model), tone)
    assert out.shape == tone.shape
    expected = 440.0 * semitone_ratio(semitones + cents / 100.0)
    measured = _peak_hz(out[RATE_HZ // 4 : RATE_HZ // 4 + RATE_HZ, 0].astype(np.float64))
    assert abs(1200.0 * np.log2(measured / expected)) < 2.0


@pytest.mark.parametrize("previous_mask", [False, True])
def test_a_live_key_change_has_no_step_larger_than_the_signals_own(model, previous_mask) -> None:
    """A chord while the key goes 0 -> +4 -> -3 -> 0 between blocks (as a MIDI button does),
    in the plain order and in the live model thread's (each frame finished a hop late)."""
    config = load_config(overrides=UNITY)
    block = 256
    t = np.arange(3 * RATE_HZ // block * block) / RATE_HZ  # whole blocks, as a stream has
    chord = sum(0.15 * np.sin(2 * np.pi * hz * t) for hz in (220.0, 277.2, 329.6))
    signal = np.stack([chord, chord], axis=1).astype(np.float32)
    parameters = LiveParameters(1.0, 1.0, 1.0)
    engine = SeparationEngine(config, model, parameters, previous_mask=previous_mask)
    out = np.zeros_like(signal)
    for start in range(0, signal.shape[0], block):
        second = start / RATE_HZ
        parameters.key_semitones = (
            0.0 if second < 0.7 else 4.0 if second < 1.4 else -3.0 if second < 2.1 else 0.0
        )
        engine.process(signal[start : start + block], out[start : start + block])
    steady = out[2048:]
    largest_step = float(np.abs(np.diff(steady, axis=0)).max())
    # the highest shifted tone's own largest step: amplitude sum x 2 pi f / rate
    own = 0.45 * 2 * np.pi * 329.6 * semitone_ratio(4.0) / RATE_HZ
    assert largest_step < 1.2 * own, (largest_step, own)
    assert np.abs(steady).max() < 0.6  # no build-up


def test_the_live_order_with_a_key_keeps_to_the_plain_render(model) -> None:
    """In the model thread's order only each frame's first hop has the previous frame's mask:
    with the key changed it stays as close to the plain render as without."""
    rng = np.random.default_rng(1)
    signal = (0.1 * rng.standard_normal((RATE_HZ, 2))).astype(np.float32)
    errors = []
    for key in (0, 3):
        config = load_config(overrides=[f"engine.key_semitones={key}"])
        plain = render(SeparationEngine(config, model), signal)
        late = render(SeparationEngine(config, model, previous_mask=True), signal)
        errors.append(np.sqrt(np.mean((plain - late)[RATE_HZ // 10 :] ** 2)))
        level = np.sqrt(np.mean(plain[RATE_HZ // 10 :] ** 2))
        assert level > 0.01
    assert errors[1] < 2.0 * errors[0] + 1e-4, errors


@pytest.mark.parametrize(
    "setting", ["engine.key_semitones=2", "midi.mappings=[{param: key, cc: 9, mode: absolute}]"]
)
def test_griffin_lim_refuses_a_key_change_in_the_stft_in_one_line(setting) -> None:
    """(Rubber Band shifts after the resynthesis: Griffin-Lim is fine there.)"""
    with pytest.raises(ConfigError, match=r"key change in the STFT needs engine\.resynthesis"):
        load_config(overrides=["engine.resynthesis=griffin_lim", setting])
    load_config(
        overrides=["engine.resynthesis=griffin_lim", "engine.key_shifter=rubberband", setting]
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--key", "7"], "engine.key_semitones"),
        (["--key", "1.5"], "is not a whole number"),
        (["--tune", "nan"], "must be a finite number"),
        (["--tune", "60"], "engine.key_cents"),
    ],
)
def test_bad_keys_are_one_line_errors(tmp_path, argv, message) -> None:
    song = tmp_path / "song.wav"
    soundfile.write(song, _tone(440.0, 0.2), RATE_HZ)
    result = subprocess.run(
        [str(UNSING), "play", str(song), "--to", str(tmp_path / "out.wav"), *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


@pytest.mark.parametrize("shifter", ["auto", "stft", "rubberband"])
def test_play_to_a_file_with_a_key(tmp_path, shifter: str) -> None:
    """`unsing play SONG --to OUT --key 2`: a 440 Hz tone comes out at 493.88 Hz, as long,
    with either shifter (auto: Rubber Band, the song comes from a file)."""
    song, out = tmp_path / "tone.wav", tmp_path / "out.wav"
    soundfile.write(song, _tone(440.0, 1.5), RATE_HZ)
    command = [str(UNSING), "play", str(song), "--to", str(out), "--key", "2", "--vocal-db", "0"]
    command += ["--set", f"engine.key_shifter={shifter}"]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    rendered, rate = soundfile.read(out, always_2d=True)
    assert rate == RATE_HZ and rendered.shape[0] == int(1.5 * RATE_HZ)
    measured = _peak_hz(rendered[RATE_HZ // 4 : RATE_HZ // 4 + RATE_HZ, 0])
    assert abs(1200.0 * np.log2(measured / (440.0 * semitone_ratio(2.0)))) < 2.0
