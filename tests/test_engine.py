"""The separation engine against independent references.

* Streaming equals offline: the engine, fed in blocks of many sizes, shifted by its declared
  delay, equals the STFT -> model -> inverse STFT path of ``realtime/offline.py``
  (``separate_offline``: float64, the model pushed frame by frame; and for the models with a
  sequence graph ``offline_vocals``, what ``separate --mode offline`` runs: float32, the
  sequence graph in chunks).
* Identity: at unity gains the output is the input delayed by the declared latency, whatever the
  mask; with the vocal muted it is the accompaniment estimate.
* Gains, bypass, the deadline policy and bad input, with model doubles whose masks are known.

Tolerances (float32 samples in and out, float64 inside):

=====================================  =========
comparison                             max error
=====================================  =========
stream vs offline, shipped model       1e-6
stream vs offline_vocals (float32)     1e-5
identity at unity gains                1e-6
mix (vocal muted) vs stems             1e-6
online Griffin-Lim identity            -55 dB
=====================================  =========
"""

from __future__ import annotations

import time
import types

import numpy as np
import pytest
from conftest import engine_config, wait_for_model_thread

import unsing.realtime.engine as engine_module
from unsing.config import load_config
from unsing.realtime.engine import SeparationEngine, alignment_samples
from unsing.realtime.gains import LiveParameters
from unsing.realtime.offline import offline_vocals, separate_offline
from unsing.realtime.onnx_model import OnnxMaskModel
from unsing.realtime.render import render

BLOCK_SIZES = [1, 64, 65, 256, 257, 4096]
TOLERANCE = 1e-6
#: offline_vocals computes its STFTs in float32 (and its masks with the sequence graph): on
#: this signal the long band's log powers of near-silent low bins move its mask, 4.6e-6 at most
#: (-107 dBFS; float64 analysis: 9e-8, the sequence graph alone: 4e-8); on the demo song
#: 4.5e-7 (tests/test_offline.py)
FLOAT32_TOLERANCE = 1e-5


class FunctionMask:
    """A model double: mask = f(magnitude) of the frame pushed ``lookahead`` hops earlier."""

    def __init__(self, function, channels=2, bins=513, lookahead=0, sleep_s=0.0) -> None:
        self.function = function
        self.channels, self.bins = channels, bins
        self.long_band = None
        self.lookahead = lookahead
        self.sleep_s = sleep_s
        self.calls = 0
        self.reset()

    def reset(self) -> None:
        self.history = [np.zeros((self.channels, self.bins), np.float32)] * (self.lookahead + 1)

    def skip(self, magnitude: np.ndarray) -> None:
        self.history = [*self.history[1:], magnitude.copy()]

    def __call__(self, magnitude: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.sleep_s:
            time.sleep(self.sleep_s)
        self.skip(magnitude)
        return self.function(self.history[0], self.calls).astype(np.float32)


def soft_mask(magnitude: np.ndarray, calls: int) -> np.ndarray:
    return magnitude / (magnitude + 1.0)


@pytest.fixture(scope="module")
def config():
    return load_config()


@pytest.fixture(scope="module")
def model(config):
    return OnnxMaskModel(config)


@pytest.fixture(scope="module")
def signal() -> np.ndarray:
    """(samples, 2) float32, 1.2 s: tones, a chirp, noise bursts (not a multiple of the hop)."""
    rng = np.random.default_rng(7)
    rate = 44100
    t = np.arange(int(1.2 * rate) + 77) / rate
    tones = sum(0.15 / k * np.sin(2 * np.pi * 196.0 * k * t) for k in range(1, 9))
    chirp = 0.2 * np.sin(2 * np.pi * (150.0 * t + 3000.0 * t**2))
    bursts = rng.standard_normal(t.size) * (np.sin(2 * np.pi * 2.5 * t) > 0.7) * 0.15
    return np.stack([tones + chirp + bursts, 0.6 * tones - chirp]).T.astype(np.float32)


def test_alignment_delay_only_for_block_sizes_that_are_not_hop_multiples() -> None:
    assert alignment_samples(256, 256) == 0
    assert alignment_samples(4096, 256) == 0
    assert alignment_samples(1, 256) == 255
    assert alignment_samples(64, 256) == 192
    assert alignment_samples(65, 256) == 255
    assert alignment_samples(384, 256) == 128


@pytest.mark.parametrize("blocksize", BLOCK_SIZES)
def test_streaming_equals_offline(config, model, signal, blocksize) -> None:
    vocals, accompaniment = separate_offline(config, model, signal)
    engine = SeparationEngine(config, model, stems=True, blocksize_samples=blocksize)
    assert engine.delay_samples == 768 + alignment_samples(blocksize, 256)
    stems = render(engine, signal, blocksize)
    assert engine.stats.count("alignment_underruns") == 0
    np.testing.assert_allclose(stems[:, :2], vocals, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(stems[:, 2:], accompaniment, atol=TOLERANCE, rtol=0)
    # the mask did separate something: the stems are neither silent nor the mixture
    assert 0.05 < np.std(vocals) / np.std(signal) < 0.95


@pytest.mark.parametrize("blocksize", BLOCK_SIZES)
def test_unity_gains_return_the_input_delayed_by_the_declared_latency(
    config, model, signal, blocksize
) -> None:
    engine = SeparationEngine(
        config, model, LiveParameters(1.0, 1.0, 1.0), blocksize_samples=blocksize
    )
    delay = engine.delay_samples
    padded = np.concatenate([signal, np.zeros((delay + 4096, 2), np.float32)])
    raw = np.zeros_like(padded)
    for start in range(0, padded.shape[0] - 4096, blocksize):  # the raw stream, no render()
        engine.process(padded[start : start + blocksize], raw[start : start + blocksize])
    np.testing.assert_allclose(raw[delay : delay + signal.shape[0]], signal, atol=TOLERANCE)
    assert np.abs(raw[:delay]).max() < 1e-12  # nothing before the delay (FFT round-off only)


def test_muted_vocal_outputs_the_accompaniment_estimate(config, model, signal) -> None:
    stems = render(SeparationEngine(config, model, stems=True), signal)
    karaoke = render(SeparationEngine(config, model, LiveParameters(0.0, 1.0, 1.0)), signal)
    a_cappella = render(SeparationEngine(config, model, LiveParameters(1.0, 0.0, 1.0)), signal)
    np.testing.assert_allclose(karaoke, stems[:, 2:], atol=TOLERANCE)
    np.testing.assert_allclose(a_cappella, stems[:, :2], atol=TOLERANCE)
    half = render(SeparationEngine(config, model, LiveParameters(0.5, 1.0, 0.5)), signal)
    np.testing.assert_allclose(half, 0.5 * (0.5 * stems[:, :2] + stems[:, 2:]), atol=TOLERANCE)


@pytest.mark.parametrize("lookahead", [1, 3])
def test_model_lookahead_is_aligned_and_declared(signal, lookahead) -> None:
    # (the a cappella gate off: the direct reference below has none)
    config = engine_config("engine.a_cappella_gate=false", lookahead_frames=lookahead)
    model = FunctionMask(soft_mask, lookahead=lookahead)
    vocals, accompaniment = separate_offline(config, model, signal)
    engine = SeparationEngine(config, model, stems=True, blocksize_samples=65)
    assert engine.delay_samples == 768 + lookahead * 256 + 255
    stems = render(engine, signal, 65)
    np.testing.assert_allclose(stems[:, :2], vocals, atol=TOLERANCE)
    np.testing.assert_allclose(stems[:, 2:], accompaniment, atol=TOLERANCE)
    # against a mask computed directly from each frame's own magnitude (no engine, no model)
    from unsing.stft import istft, stft

    spec = config.contract.stft
    spectrum = stft(signal.T.astype(np.float64), spec)
    direct = istft(spectrum * soft_mask(np.abs(spectrum).astype(np.float32), 0), spec, len(signal))
    np.testing.assert_allclose(vocals, direct.T, atol=1e-5)


def _max_step(audio: np.ndarray) -> float:
    return float(np.abs(np.diff(audio, axis=0)).max())


def test_gain_changes_are_smooth_and_land_within_the_smoothing_time(config) -> None:
    rate, hop = 44100, 256
    t = np.arange(172 * hop) / rate  # whole hops: no partial block at the end
    sine = 0.5 * np.sin(2 * np.pi * 440.0 * t)
    signal = np.stack([sine, sine]).T.astype(np.float32)
    parameters = LiveParameters(1.0, 1.0, 1.0)
    engine = SeparationEngine(config, FunctionMask(lambda m, c: np.ones_like(m)), parameters)
    output = np.zeros_like(signal)
    switch = 40 * hop  # the vocal (everything: mask = 1) is muted at this sample
    for start in range(0, len(signal), hop):
        if start == switch:
            parameters.vocal_gain = 0.0
        engine.process(signal[start : start + hop], output[start : start + hop])
    # no click: the output never steps more than the sine itself does
    assert _max_step(output) <= 1.01 * _max_step(signal)
    delay = engine.delay_samples
    # the frame that first carries the new gain starts n_fft - hop samples before the switch
    reached = switch + delay - (config.contract.stft.n_fft - hop)
    assert np.abs(output[reached - 2 * hop : reached]).max() > 0.49  # unchanged until then
    smoothing_hops = config.engine.gain_smoothing_ms / 1000 * rate / hop
    settle = switch + delay + int(7 * smoothing_hops * hop) + 1024  # 7 time constants + window
    assert np.abs(output[settle:]).max() < 0.5 * 10 ** (-55 / 20)  # muted: below -55 dB
    # one time constant after the change reached the output (window centre): about 1/e
    one_tau = reached + int(smoothing_hops * hop) + config.contract.stft.n_fft // 2
    level = np.abs(output[one_tau - 100 : one_tau + 100]).max() / 0.5
    assert 0.25 < level < 0.5, level


def test_bypass_switches_without_a_click_and_passes_the_mixture(config) -> None:
    rate, hop = 44100, 256
    t = np.arange(172 * hop) / rate  # whole hops: no partial block at the end
    sine = 0.5 * np.sin(2 * np.pi * 330.0 * t)
    signal = np.stack([sine, -sine]).T.astype(np.float32)
    parameters = LiveParameters(0.0, 1.0, 1.0)  # karaoke: the "vocal" (mask = 1) is muted
    engine = SeparationEngine(config, FunctionMask(lambda m, c: np.ones_like(m)), parameters)
    output = np.zeros_like(signal)
    for start in range(0, len(signal), hop):
        parameters.bypass = start >= 60 * hop
        engine.process(signal[start : start + hop], output[start : start + hop])
    assert _max_step(output) <= 1.01 * _max_step(signal)
    assert np.abs(output[: 50 * hop]).max() < 1e-6  # vocal muted before bypass
    tail = slice(len(signal) - 20 * hop, len(signal))
    delayed = signal[tail.start - engine.delay_samples : tail.stop - engine.delay_samples]
    np.testing.assert_allclose(output[tail], delayed, atol=1e-4)  # bypass: the mixture


@pytest.mark.parametrize("policy", ["reuse_last_mask", "pass_through"])
def test_late_inference_is_skipped_counted_and_never_silent(policy) -> None:
    config = load_config(  # the model inside the callback, on a deadline
        overrides=[
            f"engine.deadline_policy={policy}",
            "engine.deadline_hop_fraction=0.3",
            "engine.model_thread=false",
        ]
    )
    rng = np.random.default_rng(3)
    signal = (0.3 * rng.standard_normal((44100, 2))).astype(np.float32)
    half = lambda m, c: np.full_like(m, 0.5)  # noqa: E731
    reference = render(SeparationEngine(config, FunctionMask(half)), signal, 1024)
    slow = FunctionMask(half, sleep_s=0.008)  # 8 ms > one 5.8 ms hop
    engine = SeparationEngine(config, slow, deadline=True, blocksize_samples=1024)
    output = render(engine, signal, 1024)
    stats = engine.stats.snapshot()
    assert stats["deadline_misses"] > 0 and stats["late_inferences"] > 0
    assert stats["model_runs"] + stats["deadline_misses"] == stats["hops"]
    assert np.isfinite(output).all()
    if policy == "reuse_last_mask":  # a constant mask reused is the same mask: same output
        np.testing.assert_allclose(output, reference, atol=TOLERANCE)
    else:  # skipped hops pass the mixture (twice the half-mask level), never silence
        middle = output[4096 : 4096 + 128 * 256]
        frames_rms = np.sqrt(np.mean(middle.reshape(-1, 256, 2) ** 2, axis=(1, 2)))
        assert frames_rms.min() > 0.5 * 0.3 * 0.5
        assert output.std() > reference.std() * 1.05


class ClockedMask:
    """A model double on a fake clock: each inference advances it by the next entry of
    ``costs_s`` (the last one repeats); it records, per hop, whether the model ran."""

    def __init__(self, clock: list[float], costs_s: list[float]) -> None:
        self.clock, self.costs_s = clock, costs_s
        self.channels, self.bins, self.long_band = 2, 513, None
        self.ran: list[bool] = []
        self.mask = np.full((2, 513), 0.5, np.float32)

    def reset(self) -> None:
        pass

    def skip(self, magnitude: np.ndarray) -> None:
        self.ran.append(False)

    def __call__(self, magnitude: np.ndarray) -> np.ndarray:
        runs = sum(self.ran)
        self.clock[0] += self.costs_s[min(runs, len(self.costs_s) - 1)]
        self.ran.append(True)
        return self.mask


def _run_on_fake_clock(monkeypatch, costs_s: list[float], hops: int) -> list[bool]:
    """One hop per block (the tightest budget) with time passing only inside the model."""
    clock = [0.0]
    monkeypatch.setattr(engine_module, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))
    config = load_config(overrides=["engine.model_thread=false"])  # in the callback, on a deadline
    model = ClockedMask(clock, costs_s)
    hop = config.contract.stft.hop_samples
    engine = SeparationEngine(config, model, deadline=True, blocksize_samples=hop)
    block = np.zeros((hop, 2), np.float32)
    out = np.zeros_like(block)
    for _ in range(hops):
        engine.process(block, out)
    stats = engine.stats.snapshot()
    assert stats["model_runs"] == sum(model.ran)
    assert stats["deadline_misses"] == len(model.ran) - sum(model.ran)
    return model.ran


def _longest_skip_run(ran: list[bool]) -> int:
    longest = current = 0
    for did_run in ran:
        current = 0 if did_run else current + 1
        longest = max(longest, current)
    return longest


def test_one_slow_inference_does_not_freeze_the_mask(monkeypatch) -> None:
    """A 100 ms inference (a preempted run) among 1 ms ones: the model runs again on the next
    hops. (The estimate once stayed above the budget after such a run and every later hop was
    skipped: the mask froze for good.)"""
    costs_s = [0.001] * 50 + [0.100] + [0.001]
    ran = _run_on_fake_clock(monkeypatch, costs_s, hops=400)
    assert ran[:51] == [True] * 51
    assert ran.count(False) <= 2
    assert all(ran[-300:])


def test_a_model_over_budget_runs_on_a_share_of_hops(monkeypatch) -> None:
    """Inference steadily at 5 ms: over the 0.8 x 5.8 ms budget, under the hop period. The model
    neither runs on every hop nor stops: it runs on most hops, never skipping many in a row."""
    ran = _run_on_fake_clock(monkeypatch, [0.005], hops=1000)
    late = ran[200:]
    assert 0.5 * len(late) <= sum(late) < len(late)
    assert _longest_skip_run(late) <= 2


def test_a_model_far_over_budget_still_updates_the_mask(monkeypatch) -> None:
    """Inference steadily at 20 ms, over three hop periods: the model runs rarely, but it runs
    (the mask keeps following the music) and the skips between runs stay bounded."""
    ran = _run_on_fake_clock(monkeypatch, [0.020], hops=1000)
    late = ran[200:]
    assert 0 < sum(late) < 0.5 * len(late)
    assert _longest_skip_run(late) <= 20


def test_bad_input_never_poisons_the_state(config, model, signal) -> None:
    poisoned = signal.copy()
    poisoned[10000:10003, 0] = np.nan
    poisoned[20000, 1] = np.inf
    poisoned[30000:30100] = np.float32(1e-42)  # denormals
    engine = SeparationEngine(config, model, stems=True)
    stems = render(engine, poisoned)
    assert np.isfinite(stems).all()
    assert engine.stats.count("bad_input_hops") == 2
    # the bad hops are zeroed: output equals the offline result of that input
    cleaned = signal.copy()
    for bad in (10000, 20000):
        start = bad - bad % 256
        cleaned[start : start + 256] = 0.0
    cleaned[30000:30100] = np.float32(1e-42)
    vocals, accompaniment = separate_offline(config, model, cleaned)
    np.testing.assert_allclose(stems[:, :2], vocals, atol=TOLERANCE)
    np.testing.assert_allclose(stems[:, 2:], accompaniment, atol=TOLERANCE)


def test_non_finite_mask_resets_the_model_and_keeps_the_last_mask(config, signal) -> None:
    def flaky(magnitude, calls):
        return np.full_like(magnitude, np.nan if calls == 50 else 0.25)

    model = FunctionMask(flaky)
    engine = SeparationEngine(config, model, LiveParameters(0.0, 1.0, 1.0))
    output = render(engine, signal)
    reference = render(
        SeparationEngine(config, FunctionMask(lambda m, c: np.full_like(m, 0.25))), signal
    )
    assert engine.stats.count("model_resets") == 1
    np.testing.assert_allclose(output, reference, atol=TOLERANCE)


def test_online_griffin_lim_declares_its_latency_and_keeps_the_identity(signal, model) -> None:
    config = load_config(
        overrides=["engine.resynthesis=griffin_lim", "engine.griffin_lim_lookahead_frames=3"]
    )
    engine = SeparationEngine(config, model, LiveParameters(1.0, 1.0, 1.0))
    assert engine.delay_samples == 768 + 3 * 256
    output = render(engine, signal)
    error_db = 20 * np.log10(np.std(output - signal) / np.std(signal))
    assert error_db < -55.0, error_db
    # block size does not change it (the work is per hop)
    unity = LiveParameters(1.0, 1.0, 1.0)
    again = render(SeparationEngine(config, model, unity, blocksize_samples=65), signal, 65)
    np.testing.assert_allclose(again, output, atol=TOLERANCE)


def test_online_griffin_lim_makes_masked_frames_more_consistent(config, model, signal) -> None:
    """GL's purpose: the output's own STFT magnitude is closer to the masked target."""
    from unsing.stft import stft

    spec = config.contract.stft
    gl_config = load_config(overrides=["engine.resynthesis=griffin_lim"])
    parameters = LiveParameters(0.0, 1.0, 1.0)
    ola = render(SeparationEngine(config, FunctionMask(soft_mask), parameters), signal)
    gl = render(SeparationEngine(gl_config, FunctionMask(soft_mask), parameters), signal)
    mixture = stft(signal.T.astype(np.float64), spec)
    magnitude = np.abs(mixture)
    target = magnitude * (1.0 - magnitude / (magnitude + 1.0))

    def inconsistency(output: np.ndarray) -> float:
        achieved = np.abs(stft(output.T.astype(np.float64), spec))
        return float(np.linalg.norm(achieved - target) / np.linalg.norm(target))

    assert inconsistency(gl) < inconsistency(ola)


@pytest.mark.parametrize("blocksize", [65, 256])
def test_look_ahead_model_streams_as_offline(signal, blocksize) -> None:
    """The 4-frame look-ahead model (lab/models/lookahead4)."""
    from unsing import PROJECT_ROOT

    model_path = PROJECT_ROOT / "lab/models/lookahead4/unsing-lookahead4.onnx"
    config = load_config(overrides=[f"model.path={model_path}"])
    assert (config.contract.lookahead_frames, config.contract.context_frames) == (4, 77)
    model = OnnxMaskModel(config)
    vocals, accompaniment = separate_offline(config, model, signal)
    engine = SeparationEngine(config, model, stems=True, blocksize_samples=blocksize)
    assert engine.delay_samples == 768 + 4 * 256 + alignment_samples(blocksize, 256)
    stems = render(engine, signal, blocksize)
    np.testing.assert_allclose(stems[:, :2], vocals, atol=TOLERANCE)
    np.testing.assert_allclose(stems[:, 2:], accompaniment, atol=TOLERANCE)
    offline = np.concatenate(list(offline_vocals(config, [signal], chunk_frames=50)))
    np.testing.assert_allclose(stems[:, :2], offline, atol=FLOAT32_TOLERANCE)


@pytest.mark.parametrize("blocksize", [65, 100, 256])
@pytest.mark.parametrize(
    ("model_path", "context_frames", "long_band"),
    [(None, 143, True), ("lab/models/unet-only/unsing-unet-only.onnx", 81, False)],
    ids=["default", "unet-only"],
)
def test_shipped_model_streams_as_offline(
    signal, blocksize, model_path, context_frames, long_band
) -> None:
    """The default model (a U-Net and a long-window band) and the previous default (the U-Net
    alone, lab/models/unet-only): streamed block by block as offline, at the same latency."""
    from unsing import PROJECT_ROOT

    overrides = []
    if model_path is not None:
        overrides = [f"model.path={PROJECT_ROOT / model_path}"]
    config = load_config(overrides=overrides)
    assert config.contract.context_frames == context_frames
    model = OnnxMaskModel(config)
    assert (model.long_band is not None) == long_band
    if long_band:
        assert model.long_band.spec.analysis_samples == 4096
    vocals, accompaniment = separate_offline(config, model, signal)
    engine = SeparationEngine(config, model, stems=True, blocksize_samples=blocksize)
    assert engine.delay_samples == 768 + alignment_samples(blocksize, 256)  # same latency
    stems = render(engine, signal, blocksize)
    np.testing.assert_allclose(stems[:, :2], vocals, atol=TOLERANCE)
    np.testing.assert_allclose(stems[:, 2:], accompaniment, atol=TOLERANCE)
    if model_path is None:  # the shipped model has a sequence graph (unet-only has none)
        offline = np.concatenate(list(offline_vocals(config, [signal], chunk_frames=50)))
        np.testing.assert_allclose(stems[:, :2], offline, atol=FLOAT32_TOLERANCE)


def test_stats_percentiles_cover_a_whole_long_run() -> None:
    from unsing.realtime.stats import EngineStats

    stats = EngineStats(history=100)
    rng = np.random.default_rng(0)
    seconds = rng.gamma(4.0, 1e-4, 5000)  # about 0.4 ms, a long tail
    for value in seconds[:100]:
        stats.record_hop(float(value))
    exact = stats.snapshot()["hop_ms"]  # all in the ring: exact percentiles
    assert exact["p50"] == pytest.approx(1000 * np.percentile(seconds[:100], 50))
    for value in seconds[100:]:
        stats.record_hop(float(value))
    whole = stats.snapshot()["hop_ms"]  # beyond the ring: the whole-run histogram
    assert whole["hops"] == 5000
    for q in (50, 90, 99):
        assert whole[f"p{q}"] == pytest.approx(1000 * np.percentile(seconds, q), abs=0.011)
    assert whole["max"] == pytest.approx(1000 * seconds.max())
    assert len(stats.hop_times_ms()) == 100


def test_stats_reset_requested_from_another_thread_happens_between_blocks(config, model) -> None:
    import threading

    engine = SeparationEngine(config, model)
    block = np.zeros((256, 2), np.float32)
    out = np.zeros_like(block)
    running = threading.Event()
    stop = threading.Event()

    def audio_thread() -> None:
        while not stop.is_set():
            engine.process(block, out)
            running.set()

    thread = threading.Thread(target=audio_thread)
    thread.start()
    try:
        running.wait(5)
        for _ in range(20):
            assert engine.stats.request_reset()
    finally:
        stop.set()
        thread.join()
    snapshot = engine.stats.snapshot()
    assert snapshot["hops"] == snapshot["callbacks"] == snapshot["hop_ms"]["hops"] > 0
    assert not engine.stats.reset_pending[0]
    assert not SeparationEngine(config, model).stats.request_reset(timeout_s=0.01)  # not running


@pytest.mark.parametrize("model_thread", [True, False])
def test_warm_up_leaves_the_engine_as_a_new_one(signal, model_thread) -> None:
    """EngineStream warms the engine up before the stream opens; afterwards the engine must
    produce exactly what a fresh one produces, and count nothing of the warm-up."""
    config = load_config(overrides=[f"engine.model_thread={str(model_thread).lower()}"])
    fresh = render(
        SeparationEngine(config, OnnxMaskModel(config), stems=True, previous_mask=model_thread),
        signal,
    )
    engine = SeparationEngine(config, OnnxMaskModel(config), stems=True, deadline=True)
    engine.warm_up(0.3)
    snapshot = engine.stats.snapshot()
    assert snapshot["hops"] == snapshot["callbacks"] == snapshot["model_runs"] == 0
    assert engine._deadline_fraction == config.engine.deadline_hop_fraction  # restored
    engine._deadline_fraction = None  # a busy machine must not skip hops in the comparison
    np.testing.assert_array_equal(_render_waiting_for_the_model(engine, signal), fresh)
    engine.close()


def _render_waiting_for_the_model(engine, signal: np.ndarray, blocksize: int = 256) -> np.ndarray:
    """Render through a live engine hop by hop, waiting after each block until its model
    thread (if any) has finished every frame: the live engine on a machine never late."""
    hop = engine.hop_samples
    padded = np.concatenate([signal, np.zeros((engine.delay_samples + hop, 2), np.float32)])
    padded = padded[: padded.shape[0] // blocksize * blocksize]
    output = np.zeros((padded.shape[0], engine.output_channels), np.float32)
    for start in range(0, padded.shape[0], blocksize):
        engine.process(padded[start : start + blocksize], output[start : start + blocksize])
        wait_for_model_thread(engine)
    return output[engine.delay_samples : engine.delay_samples + signal.shape[0]]


def test_previous_mask_render_finishes_each_frame_with_its_own_mask(signal) -> None:
    """The model thread's order: a constant mask gives exactly the plain render, and a moving
    mask stays much closer to the plain render than every frame with the mask of the frame
    before would (a model double that answers one frame late, run in the plain order)."""
    config = load_config()
    half = lambda m, c: np.full_like(m, 0.5)  # noqa: E731
    constant = render(
        SeparationEngine(config, FunctionMask(half), stems=True, previous_mask=True), signal
    )
    np.testing.assert_allclose(
        constant[256:],
        render(SeparationEngine(config, FunctionMask(half), stems=True), signal)[256:],
        atol=TOLERANCE,
    )  # (the first hop: no mask yet)
    previous = render(
        SeparationEngine(config, FunctionMask(soft_mask), stems=True, previous_mask=True), signal
    )
    exact = render(SeparationEngine(config, FunctionMask(soft_mask), stems=True), signal)
    stale = render(
        SeparationEngine(config, FunctionMask(soft_mask, lookahead=1), stems=True), signal
    )
    late_error = np.sqrt(np.mean((previous - exact) ** 2))
    stale_error = np.sqrt(np.mean((stale - exact) ** 2))
    assert 0 < late_error < 0.5 * stale_error, (late_error, stale_error)


@pytest.mark.parametrize("stems", [False, True])
def test_live_model_thread_is_the_previous_mask_render_when_on_time(signal, stems) -> None:
    config = load_config()
    reference = render(
        SeparationEngine(config, OnnxMaskModel(config), stems=stems, previous_mask=True), signal
    )
    engine = SeparationEngine(config, OnnxMaskModel(config), stems=stems, deadline=True)
    engine._deadline_fraction = None  # (late inferences are counted, not acted on)
    output = _render_waiting_for_the_model(engine, signal)
    np.testing.assert_array_equal(output, reference)
    stats = engine.stats.snapshot()
    # every frame's mask but the last (still in the model thread) was used, each in time
    assert stats["deadline_misses"] == 0 and stats["model_runs"] == stats["hops"] - 1
    assert stats["model_ms"]["runs"] == stats["model_runs"] and stats["model_ms"]["p50"] > 0
    engine.close()


@pytest.mark.parametrize("policy", ["reuse_last_mask", "pass_through"])
def test_live_model_thread_never_waits_for_a_slow_model(policy) -> None:
    """A model that takes 30 ms (five hops) in the model thread: every hop returns at once,
    the model runs on a share of the frames (the others enter its history, in order), the
    hops without a new mask are counted, and the output is never silent."""
    # (the a cappella gate off: its key would see the live thread's first hops, before any
    # mask, which the reference's do not)
    config = load_config(
        overrides=[f"engine.deadline_policy={policy}", "engine.a_cappella_gate=false"]
    )
    rng = np.random.default_rng(3)
    signal = (0.3 * rng.standard_normal((44100, 2))).astype(np.float32)
    half = lambda m, c: np.full_like(m, 0.5)  # noqa: E731
    reference = render(SeparationEngine(config, FunctionMask(half)), signal, 256)
    slow = FunctionMask(half, sleep_s=0.030)
    engine = SeparationEngine(config, slow, deadline=True)
    output = np.zeros_like(signal)
    delay = engine.delay_samples
    padded = np.concatenate([signal, np.zeros((delay + 256, 2), np.float32)])
    padded_output = np.zeros_like(padded)
    for start in range(0, padded.shape[0] - 256, 256):  # a callback per hop period
        engine.process(padded[start : start + 256], padded_output[start : start + 256])
        time.sleep(256 / 44100)
    output = padded_output[delay : delay + signal.shape[0]]
    stats = engine.stats.snapshot()
    engine.close()
    assert stats["hop_ms"]["p50"] < 10.0  # no hop waited for the model's 30 ms
    assert 0 < stats["model_runs"] < stats["hops"] // 2 and stats["deadline_misses"] > 0
    assert stats["model_runs"] <= slow.calls <= stats["model_runs"] + 2  # (+ those in flight)
    assert np.isfinite(output).all()
    middle = slice(8192, 8192 + 128 * 256)
    if policy == "reuse_last_mask":  # a constant mask reused is the same mask: same output
        np.testing.assert_allclose(output[middle], reference[middle], atol=TOLERANCE)
    else:  # hops without a new mask pass the mixture (twice the half-mask level)
        frames_rms = np.sqrt(np.mean(output[middle].reshape(-1, 256, 2) ** 2, axis=(1, 2)))
        assert frames_rms.min() > 0.5 * 0.3 * 0.5
        assert output.std() > reference.std() * 1.05


def test_live_model_thread_raises_the_models_error_in_the_audio_thread(signal) -> None:
    class Broken(FunctionMask):
        def __call__(self, magnitude):
            raise RuntimeError("model exploded")

    config = load_config()
    engine = SeparationEngine(config, Broken(soft_mask), deadline=True)
    out = np.zeros((256, 2), np.float32)
    with pytest.raises(RuntimeError, match="model exploded"):
        for start in range(0, 256 * 50, 256):
            engine.process(signal[start : start + 256], out)
            time.sleep(0.002)
    engine.close()


def _pipelined_pair(config, model_factory, blocksize, **engine_options):
    """The same engine twice, hop after hop and pipelined (model in a worker thread)."""
    return [
        SeparationEngine(
            config,
            model_factory(),
            blocksize_samples=blocksize,
            pipelined=pipelined,
            **engine_options,
        )
        for pipelined in (False, True)
    ]


@pytest.mark.parametrize("blocksize", [256, 1024, 4096, 1000])
@pytest.mark.parametrize(
    ("model_path", "stems"),
    [(None, False), (None, True), ("lab/models/lookahead4/unsing-lookahead4.onnx", True)],
    ids=["default-mix", "default-stems", "lookahead4-stems"],
)
def test_pipelined_render_is_bitwise_the_live_path(signal, blocksize, model_path, stems) -> None:
    """``separate --mode stream`` runs the engine pipelined: each block's hops analysed first,
    their model runs in a worker thread, synthesis as masks come. The output must be exactly
    the live engine's, for whole-hop blocks (pipelined), a block size that is not (the whole
    hops pipelined, the rest hop after hop) and blocks larger than the engine's own size."""
    from unsing import PROJECT_ROOT

    overrides = [] if model_path is None else [f"model.path={PROJECT_ROOT / model_path}"]
    config = load_config(overrides=overrides)
    live, pipelined = _pipelined_pair(
        config,
        lambda: OnnxMaskModel(config),
        blocksize,
        stems=stems,
        parameters=None if stems else LiveParameters(0.3, 1.2, 0.9),
    )
    pipelined_hops = []
    process_hops = pipelined._process_hops

    def spy(block_in, block_out):
        pipelined_hops.append(block_in.shape[0] // 256)
        process_hops(block_in, block_out)

    pipelined._process_hops = spy
    try:
        reference = render(live, signal, blocksize)
        output = render(pipelined, signal, blocksize)
        if blocksize >= 512:
            assert sum(pipelined_hops) >= 2
        np.testing.assert_array_equal(output, reference)
        assert pipelined.stats.count("model_runs") == live.stats.count("model_runs")
        # blocks of 3x the engine's size (split into its size inside)
        pipelined.reset()
        np.testing.assert_array_equal(render(pipelined, signal, 3 * blocksize), reference)
        assert pipelined_hops
    finally:
        pipelined.close()


def test_pipelined_render_resets_a_model_with_a_non_finite_mask_as_the_live_path(
    config, signal
) -> None:
    """The worker resets the model right after a NaN mask, before the next frame: the same
    masks, outputs and counts as hop after hop."""

    def flaky(magnitude, calls):
        return np.full_like(magnitude, np.nan) if calls in (50, 51, 90) else soft_mask(magnitude, 0)

    live, pipelined = _pipelined_pair(config, lambda: FunctionMask(flaky), 2048)
    try:
        reference = render(live, signal)
        np.testing.assert_array_equal(render(pipelined, signal), reference)
    finally:
        pipelined.close()
    assert pipelined.stats.count("model_resets") == live.stats.count("model_resets") == 3


def test_pipelined_model_errors_reach_the_caller_and_the_engine_goes_on(config, signal) -> None:
    def broken(magnitude, calls):
        if calls == 10:
            raise RuntimeError("model failed")
        return soft_mask(magnitude, calls)

    engine = SeparationEngine(config, FunctionMask(broken), blocksize_samples=4096, pipelined=True)
    out = np.zeros((4096, 2), np.float32)
    block = np.ascontiguousarray(signal[:4096])
    try:
        with pytest.raises(RuntimeError, match="model failed"):
            engine.process(block, out)
        engine.reset()
        engine.process(block, out)  # no result of the failed block is left in the worker
        assert np.isfinite(out).all()
    finally:
        engine.close()
    assert not engine._worker
    with pytest.raises(ValueError, match="no deadline"):
        SeparationEngine(config, FunctionMask(soft_mask), pipelined=True, deadline=True)
