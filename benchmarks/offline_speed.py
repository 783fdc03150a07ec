"""Whole-process seconds and peak memory of ``unsing separate`` on a generated N-minute song.

The demo song, looped to ``--minutes`` and written block by block (16-bit WAV at ``--rate``,
``--channels``) into a temporary folder, is separated by a fresh ``python -m unsing separate``
process per mode; its wall time and its own peak RSS (``os.wait4``'s ``ru_maxrss``: that child
alone, not the largest child so far) are measured. With ``--spleeter`` a fresh process also
separates it with Spleeter 2-stems (torch, ``--spleeter-threads``; read, separate, write both
stems as float WAV, as ``separate`` does), in the same run. With ``--library N`` the library
form separates N copies of the song (``--jobs`` 1 and 2, offline mode). Prints JSON:

    python -m unsing.benchmarks.offline_speed --minutes 20 [--modes stream offline]
        [--rate 44100] [--channels 2] [--song PATH] [--keep DIR] [--spleeter]
        [--library 20] [--out benchmarks/results/offline_speed.json]

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


#: Spleeter 2-stems as a whole process: read the song, separate it, write both stems.
SPLEETER_SCRIPT = """
import sys, soundfile, torch
torch.set_num_threads(int(sys.argv[3]))
from unsing.models.baselines import SpleeterTwoStems
song, rate = soundfile.read(sys.argv[1], dtype="float32", always_2d=True)
vocals, accompaniment = SpleeterTwoStems()(song.T, rate)
soundfile.write(sys.argv[2] + "-vocals.wav", vocals.T, rate, subtype="FLOAT")
soundfile.write(sys.argv[2] + "-accompaniment.wav", accompaniment.T, rate, subtype="FLOAT")
"""


def measure(arguments: list[str], command: list[str] | None = None) -> dict[str, Any]:
    """Run ``python -m unsing ARGUMENTS`` (or ``command``); its wall seconds, peak RSS and exit
    status."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command or [sys.executable, "-m", "unsing", *arguments],
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
    parser.add_argument("--spleeter", action="store_true", help="also time Spleeter 2-stems")
    parser.add_argument("--spleeter-threads", type=int, default=2)
    parser.add_argument("--library", type=int, default=0, metavar="N", help="songs, library form")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
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
        if args.spleeter:
            command = [
                sys.executable, "-c", SPLEETER_SCRIPT, str(song), str(folder / "spleeter"),
                str(args.spleeter_threads),
            ]  # fmt: skip
            run = measure([], command)
            run["x_real_time"] = round(seconds / run["seconds"], 2)
            run["threads"] = args.spleeter_threads
            results["spleeter_2stems"] = run
            print(json.dumps({"spleeter_2stems": run}), file=sys.stderr, flush=True)
        if args.library:
            songs = folder / "library"
            songs.mkdir(exist_ok=True)
            for index in range(args.library):
                (songs / f"song-{index:02d}.wav").write_bytes(song.read_bytes())
            for jobs in (1, 2):
                out = folder / f"library-jobs{jobs}"
                run = measure(
                    ["separate", str(songs), "--out", str(out), "--mode", "offline",
                     "--jobs", str(jobs), "--quiet"]
                )  # fmt: skip
                run["songs"] = args.library
                run["x_real_time"] = round(args.library * seconds / run["seconds"], 2)
                results[f"library_offline_jobs{jobs}"] = run
                print(json.dumps({f"library jobs {jobs}": run}), file=sys.stderr, flush=True)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
