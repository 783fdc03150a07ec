"""Start and stop the live engine over and over, as a karaoke host does: does it ever crash?

Each cycle starts ``unsing run`` (duplex, system capture to playback) or ``unsing play SONG``
(output only) on the JACK host API as its own process, waits for its banner, lets it stream for
a random 0.2-2 s, stops it with SIGINT (Ctrl-C) or SIGTERM and checks that it exits 0 with its
statistics written. PortAudio 19.6's JACK close once segfaulted in CI; this counts how often a
stop ends in anything but a clean exit (a signal, a hang past the timeout, a non-zero code).

    python -m unsing.benchmarks.stop_cycles [--cycles 200] [--seed 0]

Writes ``benchmarks/results/stop_cycles.json``; uses the running JACK server or a private dummy
one (as the stability benchmark does).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from unsing.benchmarks.machine import describe_machine
from unsing.benchmarks.stability import DEMO, RESULTS, ensure_jack_server, stop_jack_server
from unsing.config import load_config
from unsing.errors import INTERRUPTED

UNSING = Path(sys.executable).with_name("unsing")
#: how long a cycle may take to print its banner, and to exit once signalled
START_TIMEOUT_S = 60.0
EXIT_TIMEOUT_S = 20.0
MODES = ("run", "play")
STOP_SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM}


def _command(mode: str, stats_path: Path) -> list[str]:
    common = ["--host-api", "jack", "--stats-json", str(stats_path)]
    if mode == "run":
        return [str(UNSING), "run", *common]
    return [str(UNSING), "play", str(DEMO), "--loop", *common]


def _wait_for_banner(process: subprocess.Popen, lines: list[str]) -> bool:
    """Read stderr on a thread (kept in ``lines``); True once the banner is out."""
    ready = threading.Event()

    def read() -> None:
        for line in process.stderr:
            lines.append(line)
            if "Ctrl-C stops" in line:
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    return ready.wait(START_TIMEOUT_S)


def _stderr_tail(lines: list[str], chars: int = 400) -> str:
    """The last ``chars`` characters of what the process wrote to stderr."""
    return "".join(lines)[-chars:]


def one_cycle(mode: str, signal_name: str, streaming_s: float, work: Path) -> dict[str, Any]:
    """Start, stream for ``streaming_s``, signal, wait: how the process ended."""
    stats_path = work / "stats.json"
    stats_path.unlink(missing_ok=True)
    process = subprocess.Popen(
        _command(mode, stats_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    lines: list[str] = []
    result: dict[str, Any] = {"mode": mode, "signal": signal_name, "streaming_s": streaming_s}
    if not _wait_for_banner(process, lines):
        process.kill()
        process.wait()
        return result | {"outcome": "no_banner", "stderr_tail": _stderr_tail(lines)}
    time.sleep(streaming_s)
    signalled = time.monotonic()
    process.send_signal(STOP_SIGNALS[signal_name])
    try:
        returncode = process.wait(EXIT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return result | {"outcome": "hang", "stderr_tail": _stderr_tail(lines)}
    result["exit_s"] = round(time.monotonic() - signalled, 3)
    result["returncode"] = returncode
    if returncode < 0:
        result["outcome"] = f"killed_by_{signal.Signals(-returncode).name}"
    elif returncode != INTERRUPTED:  # a session stopped by SIGINT or SIGTERM exits with it
        result["outcome"] = f"exit_{returncode}"
    elif not stats_path.is_file():
        result["outcome"] = "no_statistics"
    else:
        stats = json.loads(stats_path.read_text())
        result["callbacks"] = stats["stats"]["callbacks"]
        result["callback_error"] = stats["callback_error"]
        result["outcome"] = "clean" if stats["callback_error"] is None else "callback_error"
    if result["outcome"] != "clean":
        result["stderr_tail"] = _stderr_tail(lines)
    return result


def run_cycles(cycles: int, seed: int) -> dict[str, Any]:
    """``cycles`` start/stop cycles, modes and signals alternating; the result document."""
    config = load_config()
    server = ensure_jack_server(config.contract.sample_rate_hz, config.audio.blocksize_samples)
    rng = random.Random(seed)
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="unsing-stop-cycles-") as work:
            for index in range(cycles):
                mode = MODES[index % 2]
                signal_name = ("SIGINT", "SIGINT", "SIGTERM")[(index // 2) % 3]
                streaming_s = round(rng.uniform(0.2, 2.0), 3)
                results.append(one_cycle(mode, signal_name, streaming_s, Path(work)))
                print(
                    f"stop_cycles: {index + 1}/{cycles} {json.dumps(results[-1])}",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        stop_jack_server(server)
    outcomes = Counter(r["outcome"] for r in results)
    exit_s = sorted(r["exit_s"] for r in results if "exit_s" in r)
    return {
        "machine": describe_machine(),
        "jack": {"server": os.environ.get("JACK_DEFAULT_SERVER", "default"), "driver": "dummy"},
        "cycles": cycles,
        "seed": seed,
        "outcomes": dict(outcomes),
        "clean": outcomes["clean"],
        "exit_after_signal_s": {
            "median": exit_s[len(exit_s) // 2] if exit_s else None,
            "max": exit_s[-1] if exit_s else None,
        },
        "runs": results,
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m unsing.benchmarks.stop_cycles``."""
    parser = argparse.ArgumentParser(prog="python -m unsing.benchmarks.stop_cycles")
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS / "stop_cycles.json"))
    args = parser.parse_args(argv)
    if args.cycles < 1:
        parser.error("--cycles must be at least 1")
    document = run_cycles(args.cycles, args.seed)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(document, indent=2) + "\n")
    print(
        f"stop_cycles: {document['clean']} of {args.cycles} clean; {document['outcomes']}; "
        f"wrote {args.out}",
        file=sys.stderr,
    )
    return 0 if document["clean"] == args.cycles else 1


if __name__ == "__main__":
    sys.exit(main())
