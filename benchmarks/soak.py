"""Soak: `unsing run` for an hour through JACK, music at its input, a MIDI knob sweeping every
second; does anything grow?

The command runs as a user starts it (a separate process, ``--midi-port`` on a virtual JACK
MIDI controller this benchmark plays). A JACK client loops the demo song into the stream's
input. Every ``--sample-seconds`` the process's resident memory, open file descriptors and
threads are read from ``/proc``. After ``--warm-up-seconds`` (first allocations, caches),
memory must stay flat within ``--rss-tolerance-mb`` and the descriptors and threads must not
grow. At the end the run is stopped with SIGINT: its report (xruns, deadline misses, per-hop
compute, model resets) comes from its ``--stats-json``.

    python -m unsing.benchmarks.soak --minutes 60 [--out benchmarks/results/soak.json]

Needs jackd and the ``dev`` extra (JACK-Client, python-rtmidi); a private dummy server is
started when no JACK server is running. Not a CI test: it takes an hour.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from unsing.benchmarks.loop_player import LoopPlayerProcess
from unsing.benchmarks.machine import describe_machine
from unsing.benchmarks.stability import DEMO, RESULTS, ensure_jack_server, stop_jack_server
from unsing.config import load_config

UNSING = Path(sys.executable).with_name("unsing")
#: the knob: CC 20 on channel 1 (the shipped config maps it to the vocal gain)
KNOB_STATUS, KNOB_CONTROL = 0xB0, 20


def process_sample(pid: int) -> dict[str, float]:
    """Resident memory (MB), open descriptors and threads of ``pid`` now, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {
        "rss_mb": int(fields["VmRSS"].split()[0]) / 1024,
        "fds": len(list(Path(f"/proc/{pid}/fd").iterdir())),
        "threads": int(fields["Threads"]),
    }


class KnobSweeper:
    """A virtual JACK MIDI controller whose knob moves to a new value every ``period_s``."""

    def __init__(self, period_s: float = 1.0) -> None:
        import rtmidi

        self.out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, "unsing-soak-controller")
        self.out.open_virtual_port("knob")
        self.period_s = period_s
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        values = np.concatenate([np.arange(0, 128, 8), np.arange(127, -1, -8)])
        while not self._stop.wait(self.period_s):
            self.out.send_message([KNOB_STATUS, KNOB_CONTROL, int(values[self.sent % values.size])])
            self.sent += 1

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        self.out.close_port()
        self.out.delete()


def summarize(samples: list[dict[str, float]], warm_up_s: float, rss_tolerance_mb: float) -> dict:
    """Growth after the warm-up: the RSS span (max - min), descriptors and threads (first,
    last, max, and the growth of the last quarter's highest over the first quarter's); passed
    when the span is within ``rss_tolerance_mb`` and neither count grew."""
    after = [s for s in samples if s["t_s"] >= warm_up_s]
    if len(after) < 2:
        return {"passed": False, "reason": "too few samples after the warm-up"}
    rss = np.array([s["rss_mb"] for s in after])
    fds = [s["fds"] for s in after]
    threads = [s["threads"] for s in after]
    slope = float(np.polyfit([s["t_s"] for s in after], rss, 1)[0]) * 3600.0
    result = {
        "samples_after_warm_up": len(after),
        "rss_mb_first": round(float(rss[0]), 2),
        "rss_mb_last": round(float(rss[-1]), 2),
        "rss_mb_span": round(float(rss.max() - rss.min()), 2),
        "rss_mb_per_hour_fit": round(slope, 2),
        "fds": {"first": fds[0], "last": fds[-1], "max": max(fds)},
        "threads": {"first": threads[0], "last": threads[-1], "max": max(threads)},
    }
    # the MIDI port scan opens and closes a probe client every second: descriptors move by a
    # few between samples; growth is the last quarter's highest above the first quarter's
    quarter = max(1, len(after) // 4)
    result["fds_growth"] = max(fds[-quarter:]) - max(fds[:quarter])
    result["threads_growth"] = max(threads[-quarter:]) - max(threads[:quarter])
    result["passed"] = bool(
        result["rss_mb_span"] <= rss_tolerance_mb
        and result["fds_growth"] <= 0
        and result["threads_growth"] <= 0
    )
    return result


def soak(minutes: float, sample_s: float, warm_up_s: float, rss_tolerance_mb: float) -> dict:
    import jack

    config = load_config(overrides=["audio.host_api=JACK"])
    rate = config.contract.sample_rate_hz
    server = ensure_jack_server(rate, config.audio.blocksize_samples)
    player = LoopPlayerProcess(jack, DEMO)
    player_xruns = None
    sweeper = KnobSweeper()
    samples: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="unsing-soak-") as scratch:
        stats_path = Path(scratch) / "stats.json"
        ports_before = {p.name for p in player.client.get_ports()}
        command = [
            str(UNSING), "run", "--host-api", "jack", "--midi-api", "jack",
            "--midi-port", "unsing-soak-controller", "--quiet", "--stats-json", str(stats_path),
        ]  # fmt: skip
        process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        stderr_lines: list[str] = []
        reader = threading.Thread(target=lambda: stderr_lines.extend(process.stderr), daemon=True)
        reader.start()
        try:
            with player:
                for _ in range(300):  # the stream's ports appear once it has started
                    time.sleep(0.1)
                    if any(
                        p.name not in ports_before and not p.name.startswith("unsing-")
                        for p in player.client.get_ports(is_audio=True, is_input=True)
                    ):
                        break
                time.sleep(0.5)
                player.feed(ports_before)
                sweeper.start()
                started = time.monotonic()
                end = started + minutes * 60.0
                while time.monotonic() < end and process.poll() is None:
                    sample = process_sample(process.pid)
                    sample["t_s"] = round(time.monotonic() - started, 1)
                    samples.append(sample)
                    print(json.dumps(sample), file=sys.stderr, flush=True)
                    time.sleep(min(sample_s, max(0.0, end - time.monotonic())))
                player_xruns = player.xruns
                process.send_signal(signal.SIGINT)
                returncode = process.wait(60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            sweeper.close()
            stop_jack_server(server)
        reader.join(5)
        report = json.loads(stats_path.read_text()) if stats_path.is_file() else {}
    stats = report.get("stats", {})
    return {
        "command": " ".join(["unsing", *command[1:-1], "STATS.json"]),
        "minutes": minutes,
        "machine": describe_machine(),
        "returncode": returncode,
        "knob_messages_sent": sweeper.sent,
        "player_server_xruns": player_xruns,
        "run_report": {
            "callbacks": stats.get("callbacks"),
            "hops": stats.get("hops"),
            "xruns": stats.get("xruns"),
            "deadline_misses": stats.get("deadline_misses"),
            "late_inferences": stats.get("late_inferences"),
            "model_resets": stats.get("model_resets"),
            "hop_ms": stats.get("hop_ms"),
            "callback_error": report.get("callback_error"),
            "fault": report.get("fault"),
        },
        "growth": summarize(samples, warm_up_s, rss_tolerance_mb),
        "warm_up_s": warm_up_s,
        "rss_tolerance_mb": rss_tolerance_mb,
        "samples": samples,
        "stderr_tail": [line.rstrip() for line in stderr_lines[-5:]],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--sample-seconds", type=float, default=10.0)
    parser.add_argument("--warm-up-seconds", type=float, default=120.0)
    parser.add_argument("--rss-tolerance-mb", type=float, default=5.0)
    parser.add_argument("--out", type=Path, default=RESULTS / "soak.json")
    args = parser.parse_args(argv)
    result = soak(args.minutes, args.sample_seconds, args.warm_up_seconds, args.rss_tolerance_mb)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    growth = result["growth"]
    print(
        f"soak {args.minutes:g} min: RSS {growth.get('rss_mb_first')} -> "
        f"{growth.get('rss_mb_last')} MB (span {growth.get('rss_mb_span')} MB after the warm-up),"
        f" fds {growth.get('fds')}, threads {growth.get('threads')}; xruns "
        f"{result['run_report']['xruns']}, deadline misses "
        f"{result['run_report']['deadline_misses']}; "
        f"{'PASSED' if growth.get('passed') else 'FAILED'} -> {args.out}"
    )
    return 0 if growth.get("passed") else 1


if __name__ == "__main__":
    sys.exit(main())
