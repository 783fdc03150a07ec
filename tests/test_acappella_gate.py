"""The a cappella gate (``realtime/acappella_gate.py``) in the engine and the offline pipeline.

* Off, or open, it changes nothing, bit for bit; at unity gains the output is still the input.
* Streaming equals offline with the gate acting (the shipped model, both pipelines), and the
  mix equals the gated stems.
* A voice alone (a mask that calls nearly everything voice) closes it to its floor; a song's
  share leaves it open; switching it on and off never clicks.
* The engine's per-hop recursion equals the offline one over a chunk of frames.

The engine's hops allocate nothing with the gate on: tests/test_engine_allocations.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_engine import FunctionMask, _max_step
from test_offline import demo_excerpt

from unsing.config import load_config
from unsing.realtime.acappella_gate import FLOOR_DB, ACappellaGate, gate_gain
from unsing.realtime.engine import SeparationEngine
from unsing.realtime.gains import LiveParameters
from unsing.realtime.offline import offline_vocals, separate_offline
from unsing.realtime.onnx_model import OnnxMaskModel
from unsing.realtime.render import render

RATE, HOP = 44100, 256
TOLERANCE = 1e-6
GATE_ON = ["engine.a_cappella_gate=true"]
GATE_OFF = ["engine.a_cappella_gate=false"]


def constant_mask(value: float) -> FunctionMask:
    return FunctionMask(lambda magnitude, calls: np.full_like(magnitude, value))


def voice(seconds: float) -> np.ndarray:
    """``(samples, 2)`` float32: a sung-like harmonic tone with vibrato."""
    t = np.arange(int(seconds * RATE)) / RATE
    phase = 2 * np.pi * (220.0 * t + 3.0 * np.sin(2 * np.pi * 5.0 * t))
    tone = sum(0.2 / k * np.sin(k * phase) for k in range(1, 10))
    return np.stack([tone, 0.9 * tone]).T.astype(np.float32)


@pytest.fixture(scope="module")
def song() -> np.ndarray:
    """4 s of the demo song (voice and band)."""
    return demo_excerpt(40.0, 4.0)


def gate_gains(engine: SeparationEngine, signal: np.ndarray) -> np.ndarray:
    """Run ``signal`` through ``engine`` hop by hop; the gate's gain on each hop."""
    out = np.zeros((HOP, engine.output_channels), np.float32)
    gains = []
    for start in range(0, signal.shape[0] - HOP + 1, HOP):
        engine.process(signal[start : start + HOP], out)
        gains.append(engine.gate_gain)
    return np.array(gains)


def test_the_gain_falls_slope_db_per_db_below_the_threshold_down_to_the_floor() -> None:
    assert gate_gain(0.5, 1.0, -6.0) == 1.0  # share -3 dB: open
    assert 20 * math.log10(gate_gain(0.1, 1.0, -6.0)) == pytest.approx(-8.0)  # -10 dB: 2 x -4
    assert 20 * math.log10(gate_gain(1e-4, 1.0, -6.0)) == pytest.approx(FLOOR_DB)
    assert gate_gain(0.0, 0.0, -6.0) == 1.0  # digital silence: open


def test_the_engines_hop_by_hop_gains_equal_the_offline_chunks() -> None:
    rng = np.random.default_rng(3)
    frames = rng.standard_normal((2, 300, 513)) + 1j * rng.standard_normal((2, 300, 513))
    frames *= np.repeat([0.5, 2.0, 1.0], 100)[None, :, None]
    # a song's mask, then 100 frames of a voice alone (the mask near 1), then the song
    masks = np.clip(
        rng.uniform(0.0, 1.0, (2, 300, 513)) + np.repeat([0, 0.9, 0], 100)[:, None], 0, 1
    )
    per_hop = ACappellaGate(-6.0, HOP / RATE, 0.03, True, (2, 513))
    chunked = ACappellaGate(-6.0, HOP / RATE, 0.03, True, (2, 513))
    stepped = [per_hop.step(True, frames[:, k], masks[:, k]) for k in range(300)]
    offline = np.concatenate(
        [chunked.gains(frames[:, a : a + 70], masks[:, a : a + 70]) for a in range(0, 300, 70)]
    )
    np.testing.assert_allclose(stepped, offline, rtol=1e-12)
    assert min(stepped) < 0.5 and max(stepped) == 1.0  # it closed and opened


def test_off_or_open_the_gate_changes_nothing_bit_for_bit(song) -> None:
    """Off, and on but open (a threshold far below the song's share: gain exactly 1), the
    engine's mix and stems are bitwise the same."""
    assert load_config().engine.a_cappella_gate is True  # the shipped default
    off = load_config(overrides=GATE_OFF)
    open_ = load_config(overrides=[*GATE_ON, "engine.a_cappella_gate_threshold_db=-30"])
    model = OnnxMaskModel(off)
    for stems in (False, True):
        outputs = [render(SeparationEngine(c, model, stems=stems), song) for c in (off, open_)]
        assert np.array_equal(outputs[0], outputs[1])


@pytest.mark.parametrize("blocksize", [65, 256])
def test_streaming_equals_offline_with_the_gate_acting(song, blocksize) -> None:
    """At a threshold of -1 dB the gate acts on the song; the engine's stems and mix still
    equal the offline pipeline (float64 reference, and the float32 sequence graph)."""
    config = load_config(overrides=[*GATE_ON, "engine.a_cappella_gate_threshold_db=-1"])
    model = OnnxMaskModel(config)
    vocals, accompaniment = separate_offline(config, model, song)
    stems = render(SeparationEngine(config, model, stems=True, blocksize_samples=blocksize), song)
    np.testing.assert_allclose(stems[:, :2], vocals, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(stems[:, 2:], accompaniment, atol=TOLERANCE, rtol=0)
    offline = np.concatenate(list(offline_vocals(config, [song], chunk_frames=50)))
    np.testing.assert_allclose(offline, vocals, atol=1e-5, rtol=0)
    parameters = LiveParameters(0.0, 1.0, 1.0, a_cappella_gate=True)
    karaoke = render(SeparationEngine(config, model, parameters), song)
    np.testing.assert_allclose(karaoke, accompaniment, atol=TOLERANCE, rtol=0)
    # the gate did act: the karaoke track differs from the ungated one
    _, ungated = separate_offline(load_config(overrides=GATE_OFF), model, song)
    assert np.abs(ungated - accompaniment).max() > 0.05
    np.testing.assert_allclose(vocals + accompaniment, song, atol=1e-5)  # the stems still sum


def test_a_voice_alone_closes_the_gate_and_the_vocals_keep_it() -> None:
    """A mask that calls 97 % of each bin voice leaves the voice 30.2 dB below the vocals in the
    karaoke track; the gate takes it to its floor, 30 dB further, and the vocals get it back."""
    config = load_config(overrides=GATE_ON)
    signal = voice(4.0)
    off = load_config(overrides=GATE_OFF)
    stems_off = render(SeparationEngine(off, constant_mask(0.97), stems=True), signal)
    engine = SeparationEngine(config, constant_mask(0.97), stems=True)
    stems_on = render(engine, signal)
    assert 20 * math.log10(engine.gate_gain) == pytest.approx(FLOOR_DB)
    late = slice(2 * RATE, 4 * RATE)  # the gate long settled

    def level_db(audio: np.ndarray) -> float:
        return 10 * math.log10(np.mean(np.square(audio[late], dtype=np.float64)))

    assert level_db(stems_off[:, 2:]) - level_db(stems_off[:, :2]) == pytest.approx(
        20 * math.log10(0.03 / 0.97), abs=0.1
    )
    assert level_db(stems_on[:, 2:]) - level_db(stems_off[:, 2:]) == pytest.approx(-30, abs=0.2)
    np.testing.assert_allclose(
        stems_on[:, :2] + stems_on[:, 2:], stems_off[:, :2] + stems_off[:, 2:], atol=1e-5
    )


def test_a_songs_share_leaves_the_gate_open(song) -> None:
    """A mask that leaves the accompaniment its share (0.4: -4.4 dB) never moves the gate;
    the shipped model on the demo song leaves it open but for a few hops."""
    config = load_config(overrides=GATE_ON)
    assert np.all(gate_gains(SeparationEngine(config, constant_mask(0.4)), voice(1.0)) == 1.0)
    gains_db = 20 * np.log10(gate_gains(SeparationEngine(config, OnnxMaskModel(config)), song))
    assert np.median(gains_db) == 0.0 and np.mean(gains_db < -1.0) < 0.05, np.percentile(
        gains_db, [1, 5]
    )


def test_switching_the_gate_on_and_off_never_clicks() -> None:
    """A voice alone, karaoke: the gate switched on, then off (a MIDI button): the output
    never steps more than the ungated karaoke track does, it closes while on, and off it
    comes back to the ungated output exactly."""
    config = load_config(overrides=GATE_OFF)
    signal = voice(3.0)

    def stream(switch: bool) -> tuple[np.ndarray, int]:
        parameters = LiveParameters(0.0, 1.0, 1.0, a_cappella_gate=False)
        engine = SeparationEngine(config, constant_mask(0.97), parameters)
        output = np.zeros_like(signal)
        for start in range(0, signal.shape[0] - HOP + 1, HOP):
            parameters.a_cappella_gate = switch and 40 * HOP <= start < 300 * HOP
            engine.process(signal[start : start + HOP], output[start : start + HOP])
        return output, engine.delay_samples

    ungated, _ = stream(False)
    output, delay = stream(True)
    assert _max_step(output) <= 1.01 * _max_step(ungated)
    on = slice(250 * HOP + delay, 290 * HOP + delay)
    assert np.abs(output[on]).max() < 0.3 * np.abs(ungated[on]).max()  # closed (to -10 dB+)
    tail = slice(400 * HOP, signal.shape[0] - HOP)
    np.testing.assert_array_equal(output[tail], ungated[tail])  # off: exactly as ungated


def test_unity_gains_keep_the_identity_with_the_gate_closed() -> None:
    config = load_config(overrides=GATE_ON)
    signal = voice(2.0)
    parameters = LiveParameters(1.0, 1.0, 1.0, a_cappella_gate=True)
    engine = SeparationEngine(config, constant_mask(0.97), parameters)
    output = render(engine, signal)
    assert 20 * math.log10(engine.gate_gain) == pytest.approx(FLOOR_DB)
    np.testing.assert_allclose(output, signal, atol=TOLERANCE)


def test_info_shows_the_gate_and_a_bad_threshold_is_a_one_line_error() -> None:
    from test_cli import assert_one_line_error, run_unsing

    result = run_unsing("info")
    assert result.returncode == 0, result.stderr
    assert "; a cappella gate below -6 dB" in result.stdout
    assert (
        "; no a cappella gate" in run_unsing("info", "--set", "engine.a_cappella_gate=false").stdout
    )
    result = run_unsing("info", "--set", "engine.a_cappella_gate_threshold_db=3")
    assert_one_line_error(result, "engine.a_cappella_gate_threshold_db = 3")
