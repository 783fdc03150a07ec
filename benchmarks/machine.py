"""The machine and moment a benchmark ran on: every result file carries this."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Any

from unsing import __version__
from unsing.provenance import git_commit


def all_cores() -> None:
    """Let this process use every core (a ``preexec_fn`` for children of a pinned process:
    jackd, the load, the loop player)."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, range(os.cpu_count() or 1))


def cpuinfo_field(name: str) -> str | None:
    """The value of the first ``name`` line of /proc/cpuinfo (None where there is none)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith(name):
                return line.split(":", 1)[1].strip()
    return None


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or platform.processor())."""
    return cpuinfo_field("model name") or platform.processor() or "unknown"


def describe_machine() -> dict[str, Any]:
    """Host, CPU, cores, memory, OS, library versions, git commit and date (UTC)."""
    import numpy
    import onnxruntime

    memory_gb = None
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        total_kb = int(meminfo.read_text().split("MemTotal:")[1].split()[0])
        memory_gb = round(total_kb / 1024**2, 1)
    commit = git_commit(short=True)
    return {
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "host": platform.node(),
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "memory_gb": memory_gb,
        "os": platform.platform(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "onnxruntime": onnxruntime.__version__,
        "unsing": __version__,
        "git_commit": commit,
    }


def write_measured(path: Path | str, document: dict[str, Any]) -> None:
    """``document`` with the machine first (:func:`describe_machine`), as indented JSON in
    ``path`` (its folder made if needed)."""
    import json

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": describe_machine(), **document}, indent=2) + "\n")
