"""Whole-process seconds and peak memory of ``unsing separate`` on a generated N-minute song.

The demo song, looped to ``--minutes`` and written block by block (16-bit WAV at ``--rate``,
``--channels``) into a temporary folder, is separated by a fresh ``python -m unsing separate``
process per mode; its wall time and its own peak RSS (``os.wait4``'s ``ru_maxrss``: that child
alone, not the largest child so far) are measured. Prints JSON:

    python -m unsing.benchmarks.offline_speed --minutes 20 [--modes stream offline]
        [--rate 44100] [--channels 2] [--song PATH] [--keep DIR]

A measurement of this machine at this moment: anything else running shows up in it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from unsing.benchmarks.machine import describe_machine
from unsing.benchmarks.stability import DEMO


def write_song(path: Path, minutes: float, rate: int, channels: int, source: Path = DEMO) -> float:
    """``source`` looped to ``minutes`` at ``rate`` and ``channels``, written in blocks as a
    16-bit WAV; returns its length in seconds."""
    import soundfile
    import soxr

    audio, source_rate = soundfile.read(str(source), dtype="float32", always_2d=True)
    if source_rate != rate:
        audio = soxr.resample(audio, source_rate, rate, quality="HQ")
    audio = audio.mean(axis=1, keepdims=True) if channels == 1 else audio[:, :channels]
    total = round(minutes * 60 * rate)
    with soundfile.SoundFile(str(path), "w", rate, channels, "PCM_16", format="WAV") as file:
        written = 0
        while written < total:
            block = audio[: total - written]
            file.write(np.clip(block, -1.0, 1.0))
            written += block.shape[0]
    return total / rate


def measure(arguments: list[str]) -> dict[str, Any]:
    """Run ``python -m unsing ARGUMENTS``; its wall seconds, peak RSS and exit status."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "unsing", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # wait4 reaps the child: read its pipes on the side so a full pipe cannot block it
    import threading

    captured: dict[str, str] = {}
    reader = threading.Thread(
        target=lambda: captured.update(
            stdout=process.stdout.read(),  # type: ignore[union-attr]
            stderr=process.stderr.read(),  # type: ignore[union-attr]
        )
    )
    reader.start()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    reader.join()
    return {
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux: kilobytes
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "exit_status": process.returncode,
        "stderr_tail": captured.get("stderr", "").strip().splitlines()[-1:],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--modes", nargs="+", default=["stream", "offline"])
    parser.add_argument("--rate", type=int, default=44100)
    parser.add_argument("--channels", type=int, default=2, choices=(1, 2))
    parser.add_argument("--song", type=Path, default=DEMO, help="what to loop (default: demo)")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="unsing-offline-speed-") as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        song = folder / f"song-{args.minutes:g}min.wav"
        seconds = write_song(song, args.minutes, args.rate, args.channels, args.song)
        results: dict[str, Any] = {
            "song": {"minutes": args.minutes, "rate": args.rate, "channels": args.channels},
            "machine": describe_machine(),
        }
        for mode in args.modes:
            out = folder / f"stems-{mode}"
            run = measure(["separate", str(song), "--out", str(out), "--mode", mode, "--overwrite"])
            run["x_real_time"] = round(seconds / run["seconds"], 2)
            results[mode] = run
            print(json.dumps({mode: run}), file=sys.stderr, flush=True)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
