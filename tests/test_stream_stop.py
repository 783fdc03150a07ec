"""EngineStream.stop never hangs the caller: a PortAudio stop that never returns (a JACK server
that dropped the client) is left to a helper thread after the timeout."""

from __future__ import annotations

import threading
import time

import pytest

from unsing.config import load_config
from unsing.realtime.stream import STOP_SETTLE_S, EngineStream


class _Stream:
    """A PortAudio stream double: ``stop`` blocks until released, or raises."""

    def __init__(self, block: bool = False, error: Exception | None = None) -> None:
        self.release = threading.Event()
        self.block, self.error = block, error
        self.closed = False
        self.stopped_at = self.closed_at = 0.0

    def stop(self) -> None:
        if self.error is not None:
            raise self.error
        if self.block:
            self.release.wait()
        self.stopped_at = time.monotonic()

    def close(self) -> None:
        self.closed = True
        self.closed_at = time.monotonic()


def _engine_stream(stream: _Stream) -> EngineStream:
    engine_stream = object.__new__(EngineStream)  # no devices: only the stop is under test
    engine_stream._stream = stream
    engine_stream.stop_timed_out = False
    engine_stream.config = load_config()
    engine_stream.engine = _Engine()
    return engine_stream


class _Engine:
    """The engine's close (its model thread) is all a stop touches."""

    closed = False

    def close(self) -> None:
        self.closed = True


def test_a_stop_in_time_closes_the_stream() -> None:
    stream = _Stream()
    engine_stream = _engine_stream(stream)
    engine_stream.stop()
    assert stream.closed and not engine_stream.stop_timed_out and not engine_stream.active
    assert engine_stream.engine.closed  # the model thread stopped with the stream
    engine_stream.stop()  # stopping twice is harmless
    assert stream.closed_at - stream.stopped_at >= STOP_SETTLE_S


def test_the_close_waits_four_blocks_after_the_stop() -> None:
    stream = _Stream()
    engine_stream = _engine_stream(stream)
    engine_stream.config = load_config(overrides=["audio.blocksize_samples=1024"])
    engine_stream.stop()
    assert stream.closed_at - stream.stopped_at >= 4 * 1024 / 44100


def test_a_stop_that_never_returns_is_given_up_after_the_timeout() -> None:
    stream = _Stream(block=True)
    engine_stream = _engine_stream(stream)
    started = time.monotonic()
    engine_stream.stop(timeout_s=0.2)
    assert time.monotonic() - started < 5.0
    assert engine_stream.stop_timed_out and not engine_stream.active and not stream.closed
    stream.release.set()  # the helper thread finishes the close when PortAudio returns
    for _ in range(100):
        if stream.closed:
            break
        time.sleep(0.01)
    assert stream.closed


def test_errors_of_a_stop_in_time_reach_the_caller() -> None:
    engine_stream = _engine_stream(_Stream(error=RuntimeError("device vanished")))
    with pytest.raises(RuntimeError, match="device vanished"):
        engine_stream.stop()
    assert not engine_stream.stop_timed_out


def test_a_private_jack_server_stops_after_portaudio_lets_go(monkeypatch) -> None:
    """The benchmarks stop their private JACK server only after PortAudio has terminated (the
    other order aborts the process at exit in PortAudio 19.6's JACK clean-up)."""
    from unsing.benchmarks import stability

    events: list[str] = []

    class _Sounddevice:
        _initialized = 2

        def _terminate(self) -> None:
            events.append("portaudio")
            self._initialized -= 1

    class _Server:
        def terminate(self) -> None:
            events.append("server")

        def wait(self) -> None:
            events.append("wait")

    monkeypatch.setattr("unsing.devices.import_sounddevice", lambda: _Sounddevice())
    stability.stop_jack_server(_Server())
    assert events == ["portaudio", "portaudio", "server", "wait"]
    stability.stop_jack_server(None)  # a server it did not start is left running
    assert len(events) == 4


def test_one_flagged_callback_is_one_xrun() -> None:
    """JACK flags one xrun as an input overflow and an output underflow in the same callback:
    the per-flag counters count both, the xrun count (status line, benchmarks) counts it once."""
    from types import SimpleNamespace

    from unsing.realtime.stats import EngineStats

    stats = EngineStats()
    engine_stream = object.__new__(EngineStream)  # no devices: only the flag count is under test
    engine_stream.engine = SimpleNamespace(stats=stats)
    flags = dict.fromkeys(
        ("input_overflow", "input_underflow", "output_underflow", "output_overflow"), False
    )
    jack_xrun = SimpleNamespace(**{**flags, "input_overflow": True, "output_underflow": True})
    jack_xrun.priming_output = False
    underflow = SimpleNamespace(**{**flags, "output_underflow": True, "priming_output": False})
    priming = SimpleNamespace(**{**flags, "priming_output": True})
    for status in (jack_xrun, jack_xrun, underflow, priming):
        engine_stream._count_flags(status)
    snapshot = stats.snapshot()
    assert snapshot["input_overflows"] == 2 and snapshot["output_underflows"] == 3
    assert snapshot["priming_outputs"] == 1
    assert snapshot["xruns"] == 3
