"""The key change by Rubber Band R3 (realtime/rubberband_shift.py): its declared latency against
where the shifted content lands, at every key and across live changes; and in the engine."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import engine_config

from unsing.config import load_config
from unsing.latency import Latency
from unsing.realtime.engine import SeparationEngine
from unsing.realtime.render import render
from unsing.realtime.rubberband_shift import RESIDUAL_LAG_MAX_SAMPLES, RubberBandShift

RATE = 44100
HOP = 256


def _through(shift: RubberBandShift, signal: np.ndarray, keys: list[float] | None = None):
    """``signal`` ``(2, samples)`` hop by hop (``keys``: one per hop)."""
    out = signal.astype(np.float32).copy()
    for index, start in enumerate(range(0, signal.shape[1] - HOP + 1, HOP)):
        if keys is not None:
            shift.set_key(keys[index])
        shift.process(out[:, start : start + HOP])
    return out


def _burst_position(signal: np.ndarray) -> int:
    """Where the energy envelope of ``signal`` ``(samples,)`` peaks."""
    return int(np.argmax(np.convolve(np.abs(signal), np.ones(512) / 512, "same")))


@pytest.mark.parametrize("semitones", [-6, -3, -1, 0, 1, 2, 4, 6])
def test_the_shifted_content_lands_at_the_declared_latency(semitones: int) -> None:
    """A tone burst comes out at its own position + the declared latency (Rubber Band's
    scale-dependent delay within RESIDUAL_LAG_MAX_SAMPLES after it), and the FIFO never runs
    dry."""
    shift = RubberBandShift(1, 2, RATE, HOP, float(semitones))
    assert (
        shift.delay_samples
        == Latency.from_config(
            load_config(overrides=["engine.key_shifter=rubberband", "engine.key_semitones=1"])
        ).key_shift_samples
    )
    signal = np.zeros((2, RATE * 2), np.float32)
    burst = np.hanning(2048) * np.sin(2 * np.pi * 660 * np.arange(2048) / RATE)
    signal[:, 20000:22048] = burst
    out = _through(shift, signal)
    lag = _burst_position(out[0]) - _burst_position(signal[0]) - shift.delay_samples
    assert 0 <= lag <= RESIDUAL_LAG_MAX_SAMPLES, lag
    assert shift.underruns == 0
    assert not out[:, : shift.delay_samples].any()  # the primed silence


def test_live_key_changes_glide_without_underruns_or_clicks() -> None:
    """-6, +6, -6, 0 semitones every half second on a tone: never a hop of zeros, never a step
    between samples more than 1.25 times the highest shifted tone's own (2^(6/12) x 440 Hz;
    measured: 1.07 times, a click would be many times)."""
    shift = RubberBandShift(1, 2, RATE, HOP, 0.0)
    seconds = 4
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(RATE * seconds) / RATE)
    signal = np.stack([tone, tone]).astype(np.float32)
    hops = signal.shape[1] // HOP
    keys = [(-6.0, 6.0, -6.0, 0.0)[min(3, int(i * HOP / (RATE / 2)) % 4)] for i in range(hops)]
    out = _through(shift, signal, keys)
    assert shift.underruns == 0
    steady = out[0, shift.delay_samples + RATE // 4 : hops * HOP]
    own_step = 0.5 * 2 * np.pi * 440 * 2**0.5 / RATE
    assert np.abs(np.diff(steady)).max() < 1.25 * own_step  # (measured: 1.07 times)


def test_key_zero_without_a_key_control_runs_no_stretcher() -> None:
    """`key_shifter: rubberband` at key 0 and no MIDI key control: no Rubber Band, no added
    latency, bitwise today's output; a MIDI key control (on an open MIDI input) engages it."""
    plain = load_config()
    config = load_config(overrides=["engine.key_shifter=rubberband"])
    assert not config.rubberband_key_shift and Latency.from_config(config).key_shift_samples == 0
    keyed = load_config(
        overrides=[
            "engine.key_shifter=rubberband",
            "midi.port_pattern=nanoKONTROL",
            "midi.mappings=[{param: key_up, note: 60, mode: momentary}]",
        ]
    )
    assert keyed.rubberband_key_shift and Latency.from_config(keyed).key_shift_samples == 3328

    from unsing.realtime.onnx_model import OnnxMaskModel

    signal = (0.1 * np.random.default_rng(0).standard_normal((RATE // 2, 2))).astype(np.float32)
    a = render(SeparationEngine(plain, OnnxMaskModel(plain)), signal)
    b = render(SeparationEngine(config, OnnxMaskModel(config)), signal)
    assert np.array_equal(a, b)


class _Identity:
    channels, bins, long_band = 2, 513, None

    def __call__(self, magnitude):
        return np.zeros((2, 513), np.float32)

    def skip(self, magnitude):
        pass

    def reset(self):
        pass


def test_the_engine_declares_the_stretchers_latency_and_shifts_the_mix_once() -> None:
    """The engine with Rubber Band at +2: its delay grows by the stage's 3328 samples, and its
    output is one stretcher run on the output of the same engine without it (the mix, after
    the STFT; the long-window band stays on)."""
    config = engine_config("engine.key_shifter=rubberband", "engine.key_semitones=2")
    plain = engine_config("engine.key_semitones=0")
    engine = SeparationEngine(config, _Identity())
    unshifted_engine = SeparationEngine(plain, _Identity())
    assert engine.delay_samples == unshifted_engine.delay_samples + 3328
    rng = np.random.default_rng(2)
    signal = (0.1 * rng.standard_normal((RATE, 2))).astype(np.float32)
    output, unshifted = np.zeros_like(signal), np.zeros_like(signal)
    for start in range(0, RATE, HOP):
        engine.process(signal[start : start + HOP], output[start : start + HOP])
        unshifted_engine.process(signal[start : start + HOP], unshifted[start : start + HOP])
    reference = _through(RubberBandShift(1, 2, RATE, HOP, 2.0), unshifted.T.copy()).T
    np.testing.assert_array_equal(output, reference)
