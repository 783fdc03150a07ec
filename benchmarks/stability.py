"""Stability and compute budget of the live engine on a real, clocked stream (JACK).

In one session, on one JACK server, a music loop is played into each stream's input by a JACK
client in its own process (:mod:`unsing.benchmarks.loop_player`, as a sound card would: it takes
no interpreter lock of the process under test) while the stream runs for a fixed time:

* ``pass_through``: a duplex PortAudio stream whose callback copies input to output (the floor:
  the xruns the machine produces whatever the callback does);
* ``engine``: the same stream shape running :class:`SeparationEngine` at the configured settings;

each without and (``--load-seconds``) with a competing CPU load (busy numpy processes, one per
core). Reported per run: callbacks, xruns from the callback status flags, xruns the JACK server
reported, deadline misses, and the engine's per-hop compute time (p50/p90/p99/p99.9/max) as ms
and as a share of the hop period. The engine's xruns are also given as a ratio to pass-through.

    python -m unsing.benchmarks.stability --seconds 600 --load-seconds 120

Needs the ``dev`` extra (JACK-Client) and jackd; a private dummy server is started when no JACK
server is running. Results: ``benchmarks/results/stability.json`` (with the machine and date).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from unsing import PROJECT_ROOT
from unsing.benchmarks.loop_player import LoopPlayerProcess
from unsing.benchmarks.machine import all_cores, describe_machine
from unsing.config import Config, load_config

DEMO = PROJECT_ROOT / "assets/demo/karissa_hobbs-lets_go_fishin.ogg"
RESULTS = PROJECT_ROOT / "benchmarks/results"
_LOAD_CODE = (
    "import numpy as np\n"
    "a = np.random.default_rng(0).random((300, 300))\n"
    "while True:\n"
    "    a = np.tanh(a @ a)\n"
)


def ensure_jack_server(sample_rate_hz: int, period_samples: int) -> subprocess.Popen | None:
    """Use the running JACK server, or start a private dummy one (returned, to stop later)."""
    os.environ.setdefault("JACK_NO_START_SERVER", "1")
    probe = subprocess.run(["jack_lsp"], capture_output=True, timeout=10)
    if probe.returncode == 0:
        return None
    if shutil.which("jackd") is None:
        raise SystemExit("unsing benchmarks: jackd is not installed (apt-get install jackd2)")
    name = f"unsing-bench{os.getpid()}"
    os.environ["JACK_DEFAULT_SERVER"] = name
    realtime = ["-R", "-P", "70"]
    if subprocess.run(["chrt", "-f", "10", "true"], capture_output=True).returncode != 0:
        realtime = ["--no-realtime"]
    server = subprocess.Popen(
        [
            *("jackd", "-n", name, *realtime, "-d", "dummy"),
            *("-r", str(sample_rate_hz), "-p", str(period_samples), "-C", "3", "-P", "2"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=all_cores,
    )
    for _ in range(100):
        if subprocess.run(["jack_lsp"], capture_output=True).returncode == 0:
            return server
        time.sleep(0.1)
    server.terminate()
    raise SystemExit("unsing benchmarks: the JACK dummy server did not start")


def stop_jack_server(server: subprocess.Popen | None) -> None:
    """Stop a server :func:`ensure_jack_server` started (None: leave the running one).

    PortAudio's JACK client goes first: terminated at exit after its server has gone, PortAudio
    19.6 fails an assertion in its JACK clean-up and aborts the process (seen after a stability
    run that had written its results)."""
    if server is None:
        return
    from unsing.devices import import_sounddevice

    sd = import_sounddevice()
    while sd._initialized:
        sd._terminate()
    server.terminate()
    server.wait()


def _start_load(processes: int) -> list[subprocess.Popen]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    return [
        subprocess.Popen([sys.executable, "-c", _LOAD_CODE], env=env, preexec_fn=all_cores)
        for _ in range(processes)
    ]


def measure(kind: str, seconds: float, config: Config, load_processes: int) -> dict[str, Any]:
    """Run one stream of ``kind`` for ``seconds``; its counters and compute times."""
    import jack

    from unsing.devices import find_device, import_sounddevice, query_devices
    from unsing.realtime.engine import SeparationEngine
    from unsing.realtime.onnx_model import OnnxMaskModel
    from unsing.realtime.stream import EngineStream

    sd = import_sounddevice()
    player = LoopPlayerProcess(jack, DEMO)
    ports_before = {p.name for p in player.client.get_ports()}
    audio = config.audio
    engine = None
    flags = np.zeros(1, np.int64)
    callbacks = np.zeros(1, np.int64)
    # the pass-through's callback entry offsets (its clock minus PortAudio's cycle stamp), as
    # EngineStream records its own: the floor of scheduling delay, to compare with the engine's
    entries = np.zeros(
        int(seconds * config.contract.sample_rate_hz / audio.blocksize_samples) + 1000
    )
    clock = time.monotonic
    if kind == "engine":
        engine = SeparationEngine(config, OnnxMaskModel(config), deadline=True)
        stream: Any = EngineStream(config, engine)
    else:
        device = find_device(
            None, "input", query_devices(rescan=True), "JACK", config.contract.channels
        )

        def pass_through(indata, outdata, frames, time_info, status) -> None:
            entries[callbacks[0] % entries.size] = clock() - time_info.currentTime
            callbacks[0] += 1
            if status.input_overflow or status.output_underflow:
                flags[0] += 1
            outdata[:] = indata

        stream = sd.Stream(
            device=(device.index, device.index),
            samplerate=config.contract.sample_rate_hz,
            blocksize=audio.blocksize_samples,
            channels=config.contract.channels,
            dtype="float32",
            callback=pass_through,
            latency="low",
        )
    load: list[subprocess.Popen] = []
    with player, stream:
        player.feed(ports_before)
        time.sleep(0.5)  # settle, then count from zero
        if engine is not None and not engine.stats.request_reset():
            raise RuntimeError("the engine stream did not run: its statistics were not reset")
        callbacks[0] = flags[0] = 0
        player.reset_xruns()
        load = _start_load(load_processes)
        try:
            time.sleep(seconds)
        finally:
            for process in load:
                process.kill()
                process.wait()
        server_xruns = player.xruns
    result: dict[str, Any] = {
        "kind": kind,
        "seconds": seconds,
        "load_processes": load_processes,
        "jack_server_xruns": server_xruns,
    }
    if engine is not None:
        snapshot = engine.stats.snapshot(reset_peaks=False)
        hop_period_ms = 1000.0 * engine.hop_seconds
        result.update(
            callbacks=snapshot["callbacks"],
            xruns=snapshot["xruns"],  # callbacks flagged, as the pass-through counts them
            deadline_misses=snapshot["deadline_misses"],
            late_inferences=snapshot["late_inferences"],
            hop_ms=snapshot["hop_ms"],
            hop_share_of_period={
                k: round(v / hop_period_ms, 4) for k, v in snapshot["hop_ms"].items() if k != "hops"
            },
            hop_period_ms=hop_period_ms,
            entry_delay_ms=snapshot.get("entry_delay_ms"),
            # each inference, in the model thread with engine.model_thread (its own budget:
            # a hop period), else inside the callback (part of hop_ms)
            model_ms=snapshot.get("model_ms"),
            model_thread_realtime=engine.model_thread_realtime,
            model_thread_core=engine.model_thread_core,
            callback_error=stream.callback_error,
        )
    else:
        offsets = entries[: min(int(callbacks[0]), entries.size)]
        delays_ms = 1000.0 * (offsets - offsets.min()) if offsets.size else np.zeros(1)
        result.update(
            callbacks=int(callbacks[0]),
            xruns=int(flags[0]),
            entry_delay_ms={
                **{f"p{q:g}": float(np.percentile(delays_ms, q)) for q in (50, 99, 99.9)},
                "max": float(delays_ms.max()),
                "callbacks": int(offsets.size),
            },
        )
    sd._terminate()
    sd._initialize()
    return result


def run(seconds: float, load_seconds: float, config: Config) -> dict[str, Any]:
    """The pass-through / engine pairs; returns the result document."""
    server = ensure_jack_server(config.contract.sample_rate_hz, config.audio.blocksize_samples)
    try:
        from unsing.devices import query_devices

        query_devices(rescan=True)
        runs = []
        for load_processes, duration in ((0, seconds), (os.cpu_count() or 2, load_seconds)):
            if duration <= 0:
                continue
            for kind in ("pass_through", "engine"):
                print(
                    f"stability: {kind}, {duration:g} s, {load_processes} load processes",
                    file=sys.stderr,
                    flush=True,
                )
                runs.append(measure(kind, duration, config, load_processes))
                print(f"  {json.dumps(runs[-1])}", file=sys.stderr, flush=True)
    finally:
        stop_jack_server(server)
    for engine_run in (r for r in runs if r["kind"] == "engine"):
        floor = next(
            r
            for r in runs
            if r["kind"] == "pass_through" and r["load_processes"] == engine_run["load_processes"]
        )
        minutes = engine_run["seconds"] / 60.0
        engine_run["xruns_vs_pass_through"] = {
            "engine": engine_run["xruns"],
            "pass_through": floor["xruns"],
            "ratio": (engine_run["xruns"] / floor["xruns"]) if floor["xruns"] else None,
            # issue 32's bar: no more than the pass-through's plus one per minute
            "within_pass_through_plus_one_per_minute": engine_run["xruns"]
            <= floor["xruns"] + minutes,
        }
        engine_run["hop_p99_within_35_percent"] = engine_run["hop_share_of_period"]["p99"] <= 0.35
    return {
        "machine": describe_machine(),
        "config": {
            "sample_rate_hz": config.contract.sample_rate_hz,
            "blocksize_samples": config.audio.blocksize_samples,
            "n_fft": config.contract.stft.n_fft,
            "hop_samples": config.contract.stft.hop_samples,
            "model": str(config.model.path.name),
            "graph": config.model.graph,
            "intra_op_threads": config.model.intra_op_threads,
            "resynthesis": config.engine.resynthesis,
            "deadline_policy": config.engine.deadline_policy,
            "deadline_hop_fraction": config.engine.deadline_hop_fraction,
            "model_thread": config.engine.model_thread,
        },
        "jack": {"server": os.environ.get("JACK_DEFAULT_SERVER", "default"), "driver": "dummy"},
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m unsing.benchmarks.stability``."""
    parser = argparse.ArgumentParser(prog="python -m unsing.benchmarks.stability")
    parser.add_argument("--seconds", type=float, default=600.0, help="each run without load")
    parser.add_argument("--load-seconds", type=float, default=120.0, help="each run with load")
    parser.add_argument("--out", default=str(RESULTS / "stability.json"))
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument(
        "--config", type=Path, default=None, help="a config overlay (another model, for example)"
    )
    parser.add_argument(
        "--cpu",
        type=int,
        default=None,
        help="pin this process (the streams' callbacks, onnxruntime) to one CPU core "
        "(default -1: no pinning, as `unsing run` runs; its engine keeps the audio and model "
        "threads on one core itself)",
    )
    args = parser.parse_args(argv)
    config = load_config(args.config, overrides=[*args.overrides, "audio.host_api=JACK"])
    cpu = args.cpu if args.cpu is not None else -1
    if cpu >= 0 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})  # before any stream or JACK thread exists
    document = run(args.seconds, args.load_seconds, config)
    document["pinned_cpu"] = cpu if cpu >= 0 else None
    document["overrides"] = args.overrides
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(document, indent=2) + "\n")
    print(f"stability: wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
