"""The singer's microphone (realtime/microphone.py) and the guide vocal's ducking
(realtime/ducking.py), without a sound card: against pedalboard's own Reverb on the whole
signal, against the envelope the configured times define, and through the engine (the ducked
guide measured in its output)."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest
from conftest import engine_config
from pedalboard import Reverb

from unsing.config import db_to_gain, load_config
from unsing.realtime.ducking import GATE_HYSTERESIS_DB, Ducker
from unsing.realtime.engine import SeparationEngine
from unsing.realtime.gains import GainSmoother, LiveParameters
from unsing.realtime.microphone import REVERB_DAMPING, REVERB_ROOM_SIZE, MicChannel
from unsing.realtime.stats import EngineStats

RATE = 44100
BLOCK = 256


class AllVocal:
    """A model double: every bin is vocal (mask 1), so the output is the vocal gain times the
    input, delayed."""

    channels, bins, long_band = 2, 513, None

    def __init__(self) -> None:
        self.mask = np.ones((2, 513), np.float32)

    def __call__(self, magnitude: np.ndarray) -> np.ndarray:
        return self.mask

    def skip(self, magnitude: np.ndarray) -> None:
        pass

    def reset(self) -> None:
        pass


def _mic(*overrides: str) -> tuple[MicChannel, LiveParameters, GainSmoother]:
    config = engine_config("audio.mic_channel=3", *overrides)
    parameters = LiveParameters.from_config(config)
    smoother = GainSmoother(parameters, BLOCK, RATE, config.engine.gain_smoothing_ms)
    return MicChannel(config, parameters, smoother, EngineStats()), parameters, smoother


def _run_mic(mic: MicChannel, signal: np.ndarray, channels: int = 2) -> np.ndarray:
    """``signal`` ``(samples,)`` through ``mic`` block by block onto a silent output."""
    output = np.zeros((signal.shape[0], channels), np.float32)
    for start in range(0, signal.shape[0], BLOCK):
        mic.listen(signal[start : start + BLOCK])
        mic.mix_into(output[start : start + BLOCK])
    return output


def test_the_microphone_is_added_to_every_output_channel_in_the_same_block() -> None:
    """No delay at all (an impulse comes out at its own index), the configured gain."""
    mic, _, _ = _mic("engine.mic_gain_db=-6")
    signal = np.zeros(RATE // 4, np.float32)
    signal[1000] = 0.5
    output = _run_mic(mic, signal)
    expected = np.zeros_like(output)
    expected[1000] = 0.5 * db_to_gain(-6.0)
    np.testing.assert_allclose(output, expected, atol=1e-7)
    assert mic.stats.snapshot()["peak_dbfs"]["mic"] == pytest.approx(20 * math.log10(0.5))


def test_the_reverb_is_pedalboards_freeverb_run_block_by_block() -> None:
    """Share 0.4: dry + 0.4 * pedalboard's Reverb of the whole signal at once (its state
    carries from block to block), the first reflection after about 25 ms."""
    mic, _, _ = _mic("engine.mic_reverb=0.4")
    signal = np.zeros(RATE, np.float32)
    signal[500] = 1.0
    output = _run_mic(mic, signal)[:, 0]
    reference = Reverb(
        room_size=REVERB_ROOM_SIZE, damping=REVERB_DAMPING, wet_level=1.0, dry_level=0.0
    ).process(signal, RATE)
    np.testing.assert_allclose(output, signal + 0.4 * reference, atol=1e-6)
    tail = np.flatnonzero(np.abs(output[501:]) > 1e-6)
    assert tail.size and 0.02 < tail[0] / RATE < 0.03


def test_gain_and_reverb_changes_ramp_without_a_step() -> None:
    """The gain from 0 dB to muted mid-tone: each sample moves a little (a step would be the
    tone's own size), and the gain reaches 0; reverb on and off live: no NaN, no step."""
    mic, parameters, _ = _mic()
    tone = (0.5 * np.sin(2 * np.pi * 220 * np.arange(RATE) / RATE)).astype(np.float32)
    output = np.zeros((RATE, 2), np.float32)
    for index, start in enumerate(range(0, RATE, BLOCK)):
        if index == 40:
            parameters.mic_gain = 0.0
        if index == 60:
            parameters.mic_reverb = 1.0
        mic.listen(tone[start : start + BLOCK])
        mic.mix_into(output[start : start + BLOCK])
    gained = output[:, 0] / np.where(np.abs(tone) > 0.05, tone, np.nan)
    steps = np.abs(np.diff(gained[40 * BLOCK - 50 : 80 * BLOCK]))
    assert np.nanmax(steps) < 0.005  # the one-pole over each block, ramped per sample
    assert np.abs(output[-BLOCK:]).max() == 0.0  # muted: the reverb's tail muted too


def test_a_broken_microphone_block_is_silence() -> None:
    mic, _, _ = _mic("engine.mic_reverb=0.3")
    signal = np.full(BLOCK * 4, np.nan, np.float32)
    signal[BLOCK * 2 :] = 0.25
    output = _run_mic(mic, signal)
    assert np.isfinite(output).all()
    assert not output[: BLOCK * 2].any() and output[BLOCK * 3 :].any()


@pytest.mark.parametrize("reverb", ["0.0", "0.5"])
def test_the_microphone_allocates_no_arrays_per_block(reverb: str) -> None:
    """As the engine's hops (tests/test_engine_allocations.py): the peak of traced memory stays
    under 4 KB (Python's small objects, numpy's reduction machinery), nothing accumulates; with
    reverb, plus the block pedalboard returns (1 KB)."""
    mic, _, _ = _mic(f"engine.mic_reverb={reverb}")
    signal = (0.1 * np.random.default_rng(0).standard_normal(BLOCK * 400)).astype(np.float32)
    output = np.zeros((signal.shape[0], 2), np.float32)

    def run(blocks: range) -> None:
        for index in blocks:
            block = slice(index * BLOCK, (index + 1) * BLOCK)
            mic.listen(signal[block])
            mic.mix_into(output[block])

    run(range(100))
    tracemalloc.start()
    try:
        run(range(100, 200))
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        run(range(200, 400))
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    limit = 4096 if reverb == "0.0" else 4096 + 4 * BLOCK
    assert peak - baseline < limit and current - baseline < 512, (peak - baseline, current)


# ---------------------------------------------------------------------- ducking


def _envelope(ducker: Ducker, levels_rms: list[float]) -> np.ndarray:
    return np.array([ducker.update(level, BLOCK) for level in levels_rms])


def _ducker(*overrides: str) -> tuple[Ducker, LiveParameters]:
    config = load_config(overrides=["engine.duck=true", *overrides])
    parameters = LiveParameters.from_config(config)
    smoother = GainSmoother(parameters, BLOCK, RATE, config.engine.gain_smoothing_ms)
    return Ducker(config.engine, parameters, smoother, RATE), parameters


def _blocks(seconds: float) -> int:
    return round(seconds * RATE / BLOCK)


def test_ducking_follows_the_configured_attack_hold_and_release() -> None:
    """A 1 s burst 20 dB over the gate: the amount is 1 - 1/e one attack time after it starts,
    stays at 1 for the hold time after it ends, and falls to 1/e one release time later."""
    ducker, _ = _ducker(
        "engine.duck_gate_dbfs=-40",
        "engine.duck_attack_ms=50",
        "engine.duck_hold_ms=300",
        "engine.duck_release_ms=400",
    )
    loud, quiet = db_to_gain(-20.0), db_to_gain(-60.0)
    before, burst, after = _blocks(0.5), _blocks(1.0), _blocks(2.0)
    amount = _envelope(ducker, [quiet] * before + [loud] * burst + [quiet] * after)
    block_s = BLOCK / RATE
    times = (np.arange(amount.size) + 1) * block_s  # the end of each block
    assert not amount[:before].any()
    attack = np.interp(
        1 - 1 / math.e, amount[before : before + burst], times[before : before + burst]
    )
    assert attack - before * block_s == pytest.approx(0.050, abs=block_s)
    assert amount[before + burst - 1] == pytest.approx(1.0, abs=1e-6)
    end = (before + burst) * block_s
    held = amount[before + burst : before + burst + _blocks(0.3) - 1]
    assert held.min() > 0.999
    falling = amount[before + burst :]
    release = np.interp(-1 / math.e, -falling, times[before + burst :])
    assert release - end == pytest.approx(0.300 + 0.400, abs=2 * block_s)
    assert amount[-1] < 0.05  # (1 s of release: e^-2.5)


def test_the_gate_has_hysteresis_and_ducking_can_be_off() -> None:
    """A level just under the gate keeps an open gate open, not a closed one; ducking off (or
    bypass) releases whatever the level."""
    ducker, parameters = _ducker("engine.duck_gate_dbfs=-40", "engine.duck_attack_ms=0")
    between = db_to_gain(-40.0 - GATE_HYSTERESIS_DB / 2)
    assert _envelope(ducker, [between] * 10).max() == 0.0
    _envelope(ducker, [db_to_gain(-30.0)])
    assert ducker.gate_open
    assert _envelope(ducker, [between] * _blocks(2.0)).min() == 1.0
    parameters.duck = False
    assert _envelope(ducker, [db_to_gain(-30.0)] * _blocks(3.0))[-1] < 0.01
    parameters.duck, parameters.bypass = True, True
    assert _envelope(ducker, [db_to_gain(-30.0)] * 10).max() < 0.01


def test_the_engine_ducks_the_guide_vocal_while_the_microphone_sings() -> None:
    """Measured in the engine's output (every bin vocal, guide at -6 dB, ducked to -30 dB):
    the gain is -6 dB before the burst, -30 dB while it lasts, back to -6 dB after release,
    and moves as the ducker's envelope says (the frames' overlap-add smears it over a
    window)."""
    config = engine_config(
        "audio.mic_channel=3",
        "engine.duck=true",
        "engine.vocal_gain_db=-6",
        "engine.duck_vocal_db=-30",
        "engine.duck_attack_ms=20",
        "engine.duck_hold_ms=100",
        "engine.duck_release_ms=100",
    )
    engine = SeparationEngine(config, AllVocal())
    mic = MicChannel(config, engine.parameters, engine.smoother, engine.stats)
    seconds = 3.0
    samples = int(seconds * RATE)
    rng = np.random.default_rng(1)
    song = (0.1 * rng.standard_normal((samples, 2))).astype(np.float32)
    voice = np.zeros(samples, np.float32)
    voice[RATE : 2 * RATE] = 0.1 * rng.standard_normal(RATE)  # -20 dBFS from 1 s to 2 s
    output = np.zeros((samples, 2), np.float32)
    amounts = []
    for start in range(0, samples, BLOCK):
        block = slice(start, start + BLOCK)
        mic.listen(voice[block])
        amounts.append(engine.smoother.duck_amount)
        engine.process(song[block], output[block])
    delay = engine.delay_samples
    music = output[delay:]  # aligned with the song (the stream adds the microphone)

    def gain_db(at_s: float) -> float:
        window = slice(int(at_s * RATE), int(at_s * RATE) + 2048)
        ratio = np.sqrt(np.mean(music[window] ** 2) / np.mean(song[window] ** 2))
        return 20 * math.log10(ratio)

    assert gain_db(0.5) == pytest.approx(-6.0, abs=0.3)
    assert gain_db(1.5) == pytest.approx(-30.0, abs=0.5)
    assert gain_db(2.7) == pytest.approx(-6.0, abs=0.3)
    # per block: the measured gain follows the ducker's envelope. The gain of the frame
    # finished at hop k multiplies input samples k * hop + hop - n_fft .. k * hop + hop, centred
    # 2 hops before hop k's end (n_fft 1024, hop 256): so the envelope leads by 2 blocks, and
    # the window's overlap-add smooths it (at most 2.5 dB off on a 20 ms attack)
    expected = np.array(
        [20 * math.log10(db_to_gain(-6) + a * (db_to_gain(-30) - db_to_gain(-6))) for a in amounts]
    )[2:]
    count = expected.size - 8
    measured = np.array(
        [
            10
            * math.log10(
                np.mean(music[i * BLOCK : (i + 1) * BLOCK] ** 2)
                / np.mean(song[i * BLOCK : (i + 1) * BLOCK] ** 2)
            )
            for i in range(count)
        ]
    )
    error_db = np.abs(measured - expected[:count])
    assert np.median(error_db) < 0.05 and error_db.max() < 2.5, (
        np.median(error_db),
        error_db.max(),
    )
