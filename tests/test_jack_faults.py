"""Faults under a running engine, on a private JACK dummy server (never the shared one):
the server killed mid-stream, or frozen so that callbacks stop. Each ends `unsing run` /
`unsing play` with the summary, one error line and exit status 1, within seconds: no hang, no
traceback."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ReadyWatch, require

pytestmark = pytest.mark.audio

UNSING = Path(sys.executable).with_name("unsing")
DEMO = Path(__file__).resolve().parents[1] / "assets" / "demo" / "karissa_hobbs-lets_go_fishin.ogg"


@pytest.fixture
def private_jack(tmp_path):
    """A JACK dummy server of its own name: ``(process, environment for its clients)``."""
    if shutil.which("jackd") is None or shutil.which("jack_lsp") is None:
        require("JACK is not installed (apt-get install jackd2)")
    name = f"unsing-fault-{os.getpid()}-{time.monotonic_ns() % 100000}"
    environment = {**os.environ, "JACK_DEFAULT_SERVER": name, "JACK_NO_START_SERVER": "1"}
    server = subprocess.Popen(
        ["jackd", "-n", name, "-d", "dummy", "-r", "44100", "-p", "256"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        probe = subprocess.run(["jack_lsp"], capture_output=True, env=environment, timeout=10)
        if probe.returncode == 0:
            break
        time.sleep(0.2)
    else:
        _stop(server)
        require("the private JACK server did not start")
    yield server, environment
    _stop(server)


def _stop(server: subprocess.Popen) -> None:
    """End a JACK server so that it leaves the JACK shared-memory registry: a server killed
    with SIGKILL keeps its entry, and after a few of them JACK refuses to start another one
    ("Too many servers already active"). SIGCONT first (the frozen test stops it)."""
    if server.poll() is None:
        server.send_signal(signal.SIGCONT)
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
    server.wait()


def _stream_then(fault, args: list[str], private_jack, tmp_path: Path) -> tuple[int, str, dict]:
    server, environment = private_jack
    stats = tmp_path / "stats.json"
    process = subprocess.Popen(
        [str(UNSING), *args, "--host-api", "jack", "--stats-json", str(stats)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    try:
        watch = ReadyWatch(process, "Ctrl-C stops")
        watch.wait()
        time.sleep(1.0)
        fault(server)
        _, stderr = watch.finish(process, timeout_s=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        _stop(server)  # a frozen server must not outlive the test
    import json

    return process.returncode, stderr, json.loads(stats.read_text())


@pytest.mark.parametrize("command", [["run"], ["play", str(DEMO)]], ids=["run", "play"])
def test_jack_server_killed_mid_stream(private_jack, tmp_path, command) -> None:
    started = time.monotonic()
    # SIGTERM: the server goes away at once for its clients, and leaves JACK's registry clean
    status, stderr, report = _stream_then(lambda server: server.terminate(), command,
                                          private_jack, tmp_path)  # fmt: skip
    assert time.monotonic() - started < 25
    assert status == 1, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert lines[-1].startswith("unsing: error: ") and "went away" in lines[-1], lines
    assert lines[-2].startswith("unsing: ") and "callbacks" in lines[-2]  # the summary
    assert report["fault"] and report["stats"]["callbacks"] > 50


def test_frozen_jack_server_is_a_stall_not_a_hang(private_jack, tmp_path) -> None:
    """SIGSTOP: the server neither runs the client nor goes away: callbacks stop."""
    status, stderr, report = _stream_then(
        lambda server: server.send_signal(signal.SIGSTOP), ["run"], private_jack, tmp_path
    )
    assert status == 1, stderr
    lines = stderr.strip().splitlines()
    assert "no audio callback for" in lines[-1] and lines[-1].startswith("unsing: error: ")
    assert "Traceback" not in stderr and report["fault"].startswith("no audio callback")
