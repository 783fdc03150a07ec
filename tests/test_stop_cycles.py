"""The start/stop benchmark tells a clean stop from a crash, a hang, a failed start, an error
exit and a missing report (a stand-in ``unsing`` behaving each way; no audio system needed)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from unsing.benchmarks import report, stop_cycles

FAKE_UNSING = """
import json, os, signal, sys, time
behaviour, stats_path = sys.argv[1], sys.argv[2]
if behaviour == "no_banner":
    sys.exit(3)

def stop(number, frame):
    if behaviour == "hang":
        return
    if behaviour == "crash":
        os.abort()
    if behaviour != "no_statistics":
        error = "ValueError: x" if behaviour == "callback_error" else None
        with open(stats_path, "w") as f:
            json.dump({"stats": {"callbacks": 42}, "callback_error": error}, f)
    sys.exit(2 if behaviour == "exit_2" else 130)

signal.signal(signal.SIGINT, stop)
signal.signal(signal.SIGTERM, stop)
print("unsing: live 'system' -> 'system'; Ctrl-C stops", file=sys.stderr, flush=True)
while True:
    time.sleep(0.01)
"""


@pytest.mark.parametrize(
    ("behaviour", "outcome"),
    [
        ("clean", "clean"),
        ("crash", "killed_by_SIGABRT"),
        ("hang", "hang"),
        ("no_banner", "no_banner"),
        ("exit_2", "exit_2"),
        ("no_statistics", "no_statistics"),
        ("callback_error", "callback_error"),
    ],
)
@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_each_way_a_stop_can_end_is_told_apart(
    monkeypatch, tmp_path: Path, behaviour: str, outcome: str, signal_name: str
) -> None:
    fake = tmp_path / "fake_unsing.py"
    fake.write_text(FAKE_UNSING)
    monkeypatch.setattr(
        stop_cycles, "_command", lambda mode, stats: [sys.executable, str(fake), behaviour, stats]
    )
    monkeypatch.setattr(stop_cycles, "START_TIMEOUT_S", 10.0)
    monkeypatch.setattr(stop_cycles, "EXIT_TIMEOUT_S", 1.0)
    result = stop_cycles.one_cycle("run", signal_name, 0.05, tmp_path)
    assert result["outcome"] == outcome
    if outcome == "clean":
        assert result["returncode"] == 130 and result["callbacks"] == 42
        assert "stderr_tail" not in result
    else:
        assert "stderr_tail" in result


def test_the_report_line_names_every_outcome() -> None:
    document = {
        "machine": {"date_utc": "d", "cpu": "c", "logical_cores": 2, "git_commit": "g"},
        "cycles": 10,
        "clean": 7,
        "outcomes": {"clean": 7, "hang": 1, "killed_by_SIGSEGV": 2},
        "exit_after_signal_s": {"median": 0.25, "max": 0.4},
    }
    (line,) = report.stop_cycles_table(document)
    assert "7 of 10 exited cleanly" in line
    assert "(1 hang, 2 killed_by_SIGSEGV)" in line
    assert "exit 0.25 s after the signal (max 0.4)" in line
    document.update(clean=10, outcomes={"clean": 10})
    assert "10 of 10 exited cleanly with their statistics;" in report.stop_cycles_table(document)[0]
