"""Compute: per-hop cost of the engine and the model, and offline separation speed.

* Per hop, for each graph (streaming: one frame + state; window: the whole context) and each
  onnxruntime thread count, and for fp32 and int8 (dynamic) weights: the model call alone and
  the engine's whole hop (STFT, model, gains, overlap-add), as p50/p90/p99/p99.9/max in ms, as a
  share of the hop period, and the real-time factor (mean compute / hop period).
* Offline: seconds of audio separated per second of wall time on the demo song, for
  ``separate --mode offline``, ``--mode stream`` and Spleeter 2-stems (torch, CPU, same file;
  needs the bench and train extras).

    python -m unsing.benchmarks.compute [--hops 3000] [--no-spleeter]

Writes ``benchmarks/results/compute.json``. A measurement of this machine at this moment:
anything else running shows up in it (the machine block says which machine).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from unsing.benchmarks.machine import describe_machine
from unsing.benchmarks.stability import DEMO, RESULTS
from unsing.config import Config, load_config
from unsing.long_band import model_input
from unsing.stft import stft

_PERCENTILES = (50, 90, 99, 99.9)


def _distribution(milliseconds: np.ndarray, hop_period_ms: float) -> dict[str, Any]:
    values = {f"p{q:g}": float(np.percentile(milliseconds, q)) for q in _PERCENTILES}
    values["max"] = float(milliseconds.max())
    return {
        "ms": {k: round(v, 4) for k, v in values.items()},
        "share_of_hop": {k: round(v / hop_period_ms, 4) for k, v in values.items()},
        "real_time_factor": round(float(milliseconds.mean()) / hop_period_ms, 4),
        "hops": int(milliseconds.size),
    }


def _music_frames(config: Config, seconds: float = 30.0) -> np.ndarray:
    """(samples, channels) float32 of the demo song at the engine's rate."""
    from unsing.realtime.audio_file import read_song, to_engine

    audio = to_engine(read_song(DEMO), config.contract.sample_rate_hz, config.contract.channels)
    start = 30 * config.contract.sample_rate_hz
    return audio[start : start + round(seconds * config.contract.sample_rate_hz)]


def per_hop(config: Config, model_path: Path, hops: int, paced: bool = False) -> dict[str, Any]:
    """Model-only and whole-engine per-hop times for ``config`` with the model at ``model_path``.

    Hops back to back keep the weights in the caches; an audio callback runs one hop per period
    and sleeps in between, while other processes (and, in a VM, other guests) evict them. With
    ``paced`` the engine is also timed one hop per hop period (``engine_paced``): on this VM that
    is what the JACK callback measures (``stability``), about twice the back-to-back time."""
    from unsing.realtime.engine import SeparationEngine
    from unsing.realtime.onnx_model import OnnxMaskModel

    config = config.with_model(model_path)
    hop = config.contract.stft.hop_samples
    hop_period_ms = 1000.0 * hop / config.contract.sample_rate_hz
    model = OnnxMaskModel(config)
    music = _music_frames(config, seconds=(hops + 200) * hop / config.contract.sample_rate_hz)
    engine = SeparationEngine(config, model, deadline=False)
    output = np.zeros((hop, engine.output_channels), np.float32)
    for start in range(0, 200 * hop, hop):  # warm-up
        engine.process(music[start : start + hop], output)
    engine.stats.reset()
    for start in range(200 * hop, (200 + hops) * hop, hop):
        engine.process(music[start : start + hop], output)
    engine_ms = engine.stats.hop_times_ms()
    paced_ms = _paced_engine_ms(engine, music, hops, hop_period_ms) if paced else None
    model.reset()

    spec = config.contract.stft
    signal = music.T.astype(np.float64)
    layout = model.long_band  # a long band's inputs follow the STFT's bins
    long_spectrum = stft(signal, layout.spec) if layout is not None else None
    magnitudes = model_input(stft(signal, spec), long_spectrum, layout).astype(np.float32)
    for t in range(100):
        model(magnitudes[:, :, t])
    times = np.empty(hops)
    for t in range(hops):
        frame = magnitudes[:, :, t % magnitudes.shape[2]]
        started = time.perf_counter()
        model(frame)
        times[t] = time.perf_counter() - started
    result = {
        "model": _distribution(1000.0 * times, hop_period_ms),
        "engine": _distribution(engine_ms, hop_period_ms),
        "hop_period_ms": round(hop_period_ms, 4),
    }
    if paced_ms is not None:
        result["engine_paced"] = _distribution(paced_ms, hop_period_ms)
    return result


def _paced_engine_ms(engine: Any, music: np.ndarray, hops: int, hop_period_ms: float) -> np.ndarray:
    """The engine's hop times with one hop per hop period, sleeping in between as a callback
    does (``music`` ``(samples, channels)``, replayed from its start)."""
    hop = engine.hop_samples
    output = np.zeros((hop, engine.output_channels), np.float32)
    engine.stats.reset()
    period_s = hop_period_ms / 1000.0
    due = time.perf_counter()
    for index in range(hops):
        start = (index % (music.shape[0] // hop)) * hop
        engine.process(music[start : start + hop], output)
        due += period_s
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
    return engine.stats.hop_times_ms()


#: The engine's per-hop stages :func:`hop_breakdown` times, in hop order.
STAGES = (
    "input_and_checks",  # the block into the hop buffer, NaN check, FIFO, meters (the rest)
    "stft",  # project STFT frame (window, rfft)
    "long_band_stft",  # the long-window frame for the long band (window, 4096-point rfft)
    "magnitudes",  # |X| of both, float32 model input
    "model",  # onnxruntime run of the streaming graph (and its Python call)
    "mask",  # clamp, weights of the long band's crossover, mask pairs
    "gains",  # the smoothed gains of this hop
    "a_cappella_gate",  # the gate's key and gain (engine.a_cappella_gate; on by default)
    "spectra",  # mask x gains x spectrum, both transforms
    "key_change",  # the key change's plan and its application (engine.key_semitones != 0)
    "key_change_rubberband",  # Rubber Band R3 on the finished hop (engine.key_shifter)
    "microphone",  # the microphone's meter, gate, gain, reverb and mix (audio.mic_channel)
    "overlap_add",  # inverse STFT and overlap-add (project STFT)
    "long_band_overlap_add",  # inverse long-window transform, overlap-add
)


class _Timer:
    """Wraps callables so each call's time adds to its stage of the current hop; counts the
    wrapped calls (their own cost is measured apart)."""

    def __init__(self) -> None:
        self.current: dict[str, float] = {}
        self.calls = 0

    def wrap(self, stage: str, function: Any, exclusive: bool = False) -> Any:
        """``function`` timed into ``stage``; ``exclusive``: minus the stages timed inside
        it (the rest of a method whose parts are wrapped too)."""
        current = self.current
        clock = time.perf_counter

        def timed(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            inside = sum(current.values()) if exclusive else 0.0
            started = clock()
            try:
                return function(*args, **kwargs)
            finally:
                took = clock() - started
                if exclusive:
                    took -= sum(current.values()) - inside
                current[stage] = current.get(stage, 0.0) + took

        return timed


class _TimedModel:
    """The model with its calls timed (a proxy: ``__call__`` cannot be patched on the object)."""

    def __init__(self, model: Any, timer: _Timer) -> None:
        self._model = model
        self._call = timer.wrap("model", model.__call__)

    def __call__(self, magnitude: np.ndarray) -> np.ndarray:
        return self._call(magnitude)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


#: The microphone as a karaoke night runs it: on a channel, with reverb, the guide ducking.
KARAOKE_NIGHT = (
    "audio.mic_channel=3",
    "engine.mic_reverb=0.3",
    "engine.duck=true",
    "engine.vocal_gain_db=-6",
)


def hop_breakdown(config: Config, hops: int, paced: bool) -> dict[str, Any]:
    """Where a hop's time goes: the engine of ``config`` run hop by hop (one block = one hop,
    as in a callback at the default block size), each stage timed by wrapping the engine's own
    calls; ``input_and_checks`` is the whole hop minus the timed stages (the Python of the
    hop: copying the block in and out, NaN checks, the FIFO, the meters, the statistics).
    ``paced``: one hop per hop period, sleeping in between as an audio callback does (caches
    go cold). Each wrapper adds about 0.3 µs, listed as ``timer_overhead_ms``."""
    from unsing.realtime.engine import SeparationEngine
    from unsing.realtime.microphone import MicChannel
    from unsing.realtime.onnx_model import OnnxMaskModel

    hop = config.contract.stft.hop_samples
    hop_period_ms = 1000.0 * hop / config.contract.sample_rate_hz
    timer = _Timer()
    engine = SeparationEngine(config, _TimedModel(OnnxMaskModel(config), timer), deadline=False)
    if engine._rubberband is not None:
        engine._rubberband.process = timer.wrap("key_change_rubberband", engine._rubberband.process)
    mic = None
    if config.audio.mic_channel is not None:  # as the stream runs it around the engine
        mic = MicChannel(config, engine.parameters, engine.smoother, engine.stats)
        mic.listen = timer.wrap("microphone", mic.listen)
        mic.mix_into = timer.wrap("microphone", mic.mix_into)
    engine._stft.process = timer.wrap("stft", engine._stft.process)
    if engine._model_long_band is not None:
        engine._long_stft.process = timer.wrap("long_band_stft", engine._long_stft.process)
    engine._use_mask = timer.wrap("mask", engine._use_mask)
    engine._shift = timer.wrap("key_change", engine._shift)
    engine.smoother.step = timer.wrap("gains", engine.smoother.step)
    engine._gate.step = timer.wrap("a_cappella_gate", engine._gate.step)
    for resynthesis in engine._resynthesis:
        resynthesis.process = timer.wrap("overlap_add", resynthesis.process)
    for resynthesis in getattr(engine, "_long_resynthesis", []):
        resynthesis.process = timer.wrap("long_band_overlap_add", resynthesis.process)
    if engine.long_band is not None:
        engine._long_band_spectra = timer.wrap("spectra", engine._long_band_spectra)
    # the rest of the analysis is the magnitudes, the rest of the synthesis the spectra
    engine._analyse = timer.wrap("magnitudes", engine._analyse, exclusive=True)
    engine._synthesise = timer.wrap("spectra", engine._synthesise, exclusive=True)
    music = _music_frames(config, seconds=(hops + 200) * hop / config.contract.sample_rate_hz)
    voice = np.ascontiguousarray(0.3 * music[:, 0])  # (the microphone: loud enough to duck)
    output = np.zeros((hop, engine.output_channels), np.float32)
    rows = np.zeros((hops, len(STAGES)))
    totals = np.zeros(hops)
    period_s = hop_period_ms / 1000.0
    for index in range(200 + hops):
        start = (index % (music.shape[0] // hop)) * hop
        timer.current.clear()
        started = time.perf_counter()
        if mic is not None:
            mic.listen(voice[start : start + hop])
        engine.process(music[start : start + hop], output)
        if mic is not None:
            mic.mix_into(output)
        took = time.perf_counter() - started
        if index == 199:  # warmed up: count the wrapped calls of the measured hops
            timer.calls = 0
        if index >= 200:
            k = index - 200
            totals[k] = took
            for column, stage in enumerate(STAGES[1:], start=1):
                rows[k, column] = timer.current.get(stage, 0.0)
            rows[k, 0] = took - rows[k, 1:].sum()
        if paced:
            time.sleep(max(0.0, period_s - (time.perf_counter() - started)))
    # the cost of the wrappers themselves: an empty wrapped call, as many as a hop makes
    calls = timer.calls / hops
    probe = timer.wrap("probe", lambda: None)
    started = time.perf_counter()
    for _ in range(10000):
        probe()
    wrapper_ms = 1000.0 * (time.perf_counter() - started) / 10000
    stages_ms = 1000.0 * rows
    return {
        "paced": paced,
        "hops": hops,
        "hop_period_ms": round(hop_period_ms, 4),
        "whole_hop_ms": _distribution(1000.0 * totals, hop_period_ms)["ms"],
        "stages_ms_mean": {
            s: round(float(stages_ms[:, i].mean()), 4) for i, s in enumerate(STAGES)
        },
        "stages_ms_p99": {
            s: round(float(np.percentile(stages_ms[:, i], 99)), 4) for i, s in enumerate(STAGES)
        },
        "stages_share_of_mean_hop": {
            s: round(float(stages_ms[:, i].mean() / (1000.0 * totals.mean())), 4)
            for i, s in enumerate(STAGES)
        },
        "timer_overhead_ms": round(wrapper_ms * calls, 4),
    }


def offline_speed(config: Config, spleeter: bool) -> dict[str, Any]:
    """Seconds of audio per wall-clock second on the demo song (133 s)."""
    from unsing.realtime.audio_file import read_song, to_engine
    from unsing.realtime.engine import SeparationEngine
    from unsing.realtime.offline import offline_vocals
    from unsing.realtime.onnx_model import OnnxMaskModel
    from unsing.realtime.render import render

    song = read_song(DEMO)
    audio = to_engine(song, config.contract.sample_rate_hz, config.contract.channels)
    model = OnnxMaskModel(config)
    results: dict[str, Any] = {"song": DEMO.name, "song_seconds": round(song.seconds, 2)}
    started = time.perf_counter()  # what `separate --mode offline` runs: the sequence graph
    for _ in offline_vocals(config, [audio]):
        pass
    results["unsing_offline"] = round(song.seconds / (time.perf_counter() - started), 2)
    started = time.perf_counter()
    render(SeparationEngine(config, model, stems=True), audio)
    results["unsing_stream"] = round(song.seconds / (time.perf_counter() - started), 2)
    if spleeter:
        try:
            import torch

            from unsing.models.baselines import SpleeterTwoStems

            torch.set_num_threads(config.model.intra_op_threads)
            separator = SpleeterTwoStems()
            started = time.perf_counter()
            separator(song.audio.T, song.sample_rate_hz)
            results["spleeter_2stems"] = round(song.seconds / (time.perf_counter() - started), 2)
            results["spleeter_threads"] = config.model.intra_op_threads
        except ImportError as error:
            results["spleeter_2stems"] = f"not measured: {error}"
    return results


def run(hops: int, spleeter: bool, config_path: Path | None = None) -> dict[str, Any]:
    """Every variant (of the model ``config_path``'s overlay names, default: the config's);
    the result document."""
    from unsing.benchmarks.export_options import quantize_dynamic
    from unsing.realtime.onnx_model import window_graph_path

    rows = []
    base = load_config(config_path)
    with tempfile.TemporaryDirectory() as work:
        int8 = quantize_dynamic(base.model.path, Path(work) / "int8.onnx")
        quantize_dynamic(window_graph_path(base.model.path), window_graph_path(int8))
        for graph in ("streaming", "window"):
            for threads in (1, 2):
                for weights, path in (("fp32", base.model.path), ("int8-dynamic", int8)):
                    config = load_config(
                        config_path,
                        overrides=[f"model.graph={graph}", f"model.intra_op_threads={threads}"],
                    )
                    row = {"graph": graph, "intra_op_threads": threads, "weights": weights}
                    # the window graph recomputes the whole context per hop: fewer hops suffice
                    graph_hops = hops if graph == "streaming" else max(200, hops // 6)
                    row |= per_hop(config, path, graph_hops, paced=graph == "streaming")
                    print(
                        f"compute: {graph} {threads} thread(s) {weights}: engine p50 "
                        f"{row['engine']['ms']['p50']:.3f} ms p99 {row['engine']['ms']['p99']:.3f}",
                        file=sys.stderr,
                        flush=True,
                    )
                    rows.append(row)
    breakdown = {
        "back_to_back": hop_breakdown(base, hops, paced=False),
        "paced": hop_breakdown(base, hops, paced=True),
        "paced_key_plus_2": hop_breakdown(
            load_config(config_path, overrides=["engine.key_semitones=2"]), hops, paced=True
        ),
        "paced_key_plus_2_rubberband": hop_breakdown(
            load_config(
                config_path, overrides=["engine.key_semitones=2", "engine.key_shifter=rubberband"]
            ),
            hops,
            paced=True,
        ),
        "paced_mic_reverb_duck_key_plus_2": hop_breakdown(
            load_config(config_path, overrides=[*KARAOKE_NIGHT, "engine.key_semitones=2"]),
            hops,
            paced=True,
        ),
    }
    return {
        "machine": describe_machine(),
        "per_hop": rows,
        "hop_breakdown": breakdown,
        "offline": offline_speed(base, spleeter),
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m unsing.benchmarks.compute``."""
    parser = argparse.ArgumentParser(prog="python -m unsing.benchmarks.compute")
    parser.add_argument("--hops", type=int, default=3000)
    parser.add_argument("--no-spleeter", action="store_true")
    parser.add_argument("--out", default=str(RESULTS / "compute.json"))
    parser.add_argument(
        "--config", type=Path, default=None, help="a config overlay (another model, for example)"
    )
    args = parser.parse_args(argv)
    document = run(args.hops, not args.no_spleeter, args.config)
    document["config_overlay"] = str(args.config) if args.config else None
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(document, indent=2) + "\n")
    print(f"compute: wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
