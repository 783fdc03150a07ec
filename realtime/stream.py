"""The engine on a sound card: a sounddevice stream whose callback runs :class:`SeparationEngine`.

Two shapes, one callback body:

* live (``unsing run``): a duplex stream, line-in/mic -> engine -> output device;
* song (``unsing play``): an output-only stream; the callback takes the next block of a song held
  in memory, so the engine, blocks and timing are the live ones.

Everything is checked before the stream starts (device, channels, sample rate), each failure a
one-line :class:`AudioSystemError`. The callback copies into preallocated buffers, runs the
engine, counts PortAudio's status flags (xruns) into the engine's preallocated counters, and never
raises: an unexpected exception mutes that block, is counted, and is reported by the caller's
thread through :attr:`EngineStream.callback_error`.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from unsing.config import Config
from unsing.devices import (
    AudioDevice,
    find_configured_device,
    import_sounddevice,
    query_devices,
)
from unsing.errors import AudioSystemError
from unsing.realtime.engine import SeparationEngine
from unsing.realtime.stats import counter_index

#: The clock the callbacks' entry delays are read with.
_clock = time.monotonic
#: The interpreter's thread switch interval while a stream runs (Python's default is 5 ms,
#: almost a hop: a thread holding the lock may make the callback wait that long).
STREAM_SWITCH_INTERVAL_S = 0.0005
#: how long :meth:`EngineStream.stop` waits for PortAudio to stop and close the stream
STOP_TIMEOUT_S = 3.0
#: pause between PortAudio's stop and its close, at least this long and 4 blocks: PortAudio
#: 19.6's JACK close frees the stream even when its wait for the JACK thread to drop the
#: stream times out, and one CI run segfaulted in that close; the audio thread gets a few
#: quiet cycles before the stream it may still be walking is freed (since then: 200 of 200
#: start/stop cycles clean, ``python -m unsing.benchmarks.stop_cycles``)
STOP_SETTLE_S = 0.02

_XRUN_CALLBACKS = counter_index("xrun_callbacks")
#: (status flag, its counter, whether it is an xrun)
_FLAG_COUNTERS = (
    ("input_overflow", counter_index("input_overflows"), True),
    ("input_underflow", counter_index("input_underflows"), True),
    ("output_underflow", counter_index("output_underflows"), True),
    ("output_overflow", counter_index("output_overflows"), True),
    ("priming_output", counter_index("priming_outputs"), False),
)


@dataclass(frozen=True)
class DeviceLatency:
    """Latency of the opened stream: PortAudio's device figures plus the engine's."""

    sample_rate_hz: int
    input_samples: int
    output_samples: int
    algorithmic_samples: int

    @property
    def total_samples(self) -> int:
        """Input-to-output latency a listener hears (device buffers included)."""
        return self.input_samples + self.output_samples + self.algorithmic_samples

    def as_dict(self) -> dict[str, float | int]:
        """Each term in samples and ms."""
        ms = 1000.0 / self.sample_rate_hz
        terms = {
            "device_input": self.input_samples,
            "device_output": self.output_samples,
            "algorithmic": self.algorithmic_samples,
            "total": self.total_samples,
        }
        return {f"{k}_samples": v for k, v in terms.items()} | {
            f"{k}_ms": round(v * ms, 2) for k, v in terms.items()
        }


def check_device(sd: Any, device: AudioDevice, direction: str, config: Config) -> None:
    """Raise a one-line error if ``device`` cannot run at the configured rate and channels."""
    contract = config.contract
    check = sd.check_input_settings if direction == "input" else sd.check_output_settings
    try:
        check(
            device=device.index,
            channels=contract.channels,
            dtype="float32",
            samplerate=contract.sample_rate_hz,
        )
    except Exception as error:  # sd.PortAudioError, ValueError
        reason = str(error).strip()
        raise AudioSystemError(
            f"{direction} device {device.describe()} cannot run {contract.channels} channels "
            f"at {contract.sample_rate_hz} Hz ({reason}); its default rate is "
            f"{device.default_sample_rate_hz:g} Hz. The model ({contract.source}) runs at "
            f"{contract.sample_rate_hz} Hz: set the device (or the JACK/OS mixer) to that "
            f"rate, or choose another device with --{direction}"
        ) from None


class EngineStream:
    """A running engine on PortAudio; use as a context manager or ``start()``/``stop()``.

    Args:
        config: audio settings (devices, rate, blocksize, host API).
        engine: the engine (built with ``deadline=True`` for live use).
        song: float32 ``(samples, channels)`` at the engine rate for ``play``; None for live input.
        loop: restart the song at its end instead of finishing.
    """

    def __init__(
        self,
        config: Config,
        engine: SeparationEngine,
        song: np.ndarray | None = None,
        loop: bool = False,
    ) -> None:
        self.sd = import_sounddevice()
        self.config = config
        self.engine = engine
        self.song = song
        self.loop = loop
        self.position = 0
        self.finished = threading.Event()
        self.callback_error: str | None = None
        #: the last :meth:`stop` gave up waiting for the audio system
        self.stop_timed_out = False
        audio = config.audio
        devices = query_devices()
        channels = config.contract.channels
        self.output_device = find_configured_device(audio, "output", devices, channels)
        self.input_device = (
            None if song is not None else find_configured_device(audio, "input", devices, channels)
        )
        for device, direction in ((self.input_device, "input"), (self.output_device, "output")):
            if device is not None:
                check_device(self.sd, device, direction, config)
        block = audio.blocksize_samples
        self._blocksize = block
        self._input = np.zeros((block, channels), np.float32)
        self._output = np.zeros((block, engine.output_channels), np.float32)
        self._stream: Any = None
        self._device_latency_s = (0.0, 0.0)
        self._entry_offset_s = float("inf")
        self._switch_interval_s: float | None = None

    # ------------------------------------------------------------------ callback (audio thread)

    def _note_entry(self, time_info: Any) -> None:
        """How late this callback's Python code starts after PortAudio's timestamp of the
        cycle (``currentTime``: another clock, so measured above the run's lowest offset):
        scheduling and the wait for the interpreter lock, which the hop's own time misses."""
        offset = _clock() - float(time_info.currentTime)
        if offset < self._entry_offset_s:
            self._entry_offset_s = offset
        self.engine.stats.record_entry(offset - self._entry_offset_s)

    def _count_flags(self, status: Any) -> None:
        if status:
            counts = self.engine.stats.counts
            xrun = False
            for flag, index, is_xrun in _FLAG_COUNTERS:
                if getattr(status, flag):
                    counts[index] += 1
                    xrun = xrun or is_xrun
            if xrun:  # one event, however many of its flags are set
                counts[_XRUN_CALLBACKS] += 1

    def _run_engine(self, source: np.ndarray, outdata: np.ndarray, frames: int) -> None:
        output = self._output[:frames] if frames <= self._blocksize else np.zeros_like(outdata)
        self.engine.process(source, output)
        outdata[:] = output

    def _fail(self, outdata: np.ndarray, error: BaseException) -> None:
        outdata.fill(0.0)
        self.engine.stats.add("output_resets")
        if self.callback_error is None:
            self.callback_error = f"{type(error).__name__}: {error}"

    def _duplex_callback(
        self, indata: np.ndarray, outdata: np.ndarray, frames: int, time: Any, status: Any
    ) -> None:
        try:
            self._note_entry(time)
            self._count_flags(status)
            self._run_engine(indata, outdata, frames)
        except Exception as error:  # the audio thread must never die
            self._fail(outdata, error)

    def _song_callback(self, outdata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        try:
            self._note_entry(time)
            self._count_flags(status)
            song = self.song
            source = self._input[:frames] if frames <= self._blocksize else np.zeros_like(outdata)
            length = song.shape[0]
            filled = 0
            while filled < frames:
                start = self.position % length if self.loop else self.position
                count = max(0, min(frames - filled, length - start))
                if count == 0:  # past the end: silence flushes the engine's delay
                    source[filled:] = 0.0
                    self.position += frames - filled
                    break
                source[filled : filled + count] = song[start : start + count]
                filled += count
                self.position = start + count
            if not self.loop and self.position >= length + self.engine.delay_samples:
                self.finished.set()
            self._run_engine(source, outdata, frames)
        except Exception as error:
            self._fail(outdata, error)

    # ------------------------------------------------------------------ control (caller thread)

    def start(self) -> None:
        """Warm the engine up, open and start the stream (errors as :class:`AudioSystemError`).
        While it runs the interpreter switches threads every :data:`STREAM_SWITCH_INTERVAL_S`,
        and every object that exists when it starts is frozen out of the garbage collector's
        reach (``gc.freeze``): a full collection of a process with onnxruntime and numpy
        loaded walks about 26000 objects for 4 ms with the interpreter lock held, long enough
        to make a callback late; frozen, one takes microseconds. Both are undone by
        :meth:`stop`."""
        self.engine.warm_up()
        sd, audio, contract = self.sd, self.config.audio, self.config.contract
        channels = contract.channels
        common = {
            "samplerate": contract.sample_rate_hz,
            "blocksize": audio.blocksize_samples,
            "dtype": "float32",
            "latency": "low",
        }
        try:
            if self.song is None:
                self._stream = sd.Stream(
                    device=(self.input_device.index, self.output_device.index),
                    channels=channels,
                    callback=self._duplex_callback,
                    **common,
                )
            else:
                self._stream = sd.OutputStream(
                    device=self.output_device.index,
                    channels=channels,
                    callback=self._song_callback,
                    **common,
                )
            if self._switch_interval_s is None:
                self._switch_interval_s = sys.getswitchinterval()
                sys.setswitchinterval(STREAM_SWITCH_INTERVAL_S)
                gc.collect()
                gc.freeze()
            self._stream.start()
            reported = self._stream.latency
            self._device_latency_s = (
                tuple(reported) if isinstance(reported, (tuple, list)) else (0.0, reported)
            )
        except Exception as error:
            self._stream = None
            self._restore_switch_interval()
            raise AudioSystemError(f"cannot open the audio stream: {error}") from None

    def _restore_switch_interval(self) -> None:
        """Undo what :meth:`start` set for the stream: the switch interval, the frozen heap."""
        saved = getattr(self, "_switch_interval_s", None)
        if saved is not None:
            sys.setswitchinterval(saved)
            self._switch_interval_s = None
            gc.unfreeze()

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop and close the stream, waiting at most ``timeout_s``.

        PortAudio's JACK host API waits for the server to run the client once more before a
        stop returns; a server that has dropped the client (or stopped) might never do so, and
        a live session must end on Ctrl-C whatever the audio system does. The stop therefore
        runs on a helper thread: if it has not returned in time the stream is left to
        it and :attr:`stop_timed_out` is set (the caller then exits without PortAudio's own
        clean-up, which would wait in the same place). Errors of a stop in time are raised."""
        stream, self._stream = self._stream, None
        self._restore_switch_interval()
        if stream is None:
            return
        errors: list[BaseException] = []

        audio = self.config.audio
        settle_s = max(
            STOP_SETTLE_S, 4 * audio.blocksize_samples / self.config.contract.sample_rate_hz
        )

        def stop_and_close() -> None:
            try:
                stream.stop()
                time.sleep(settle_s)
                stream.close()
            except Exception as error:  # raised in the caller's thread below
                errors.append(error)

        helper = threading.Thread(target=stop_and_close, name="unsing-stream-stop", daemon=True)
        helper.start()
        helper.join(timeout_s)
        if helper.is_alive():
            self.stop_timed_out = True
            return
        self.engine.close()  # the model thread (the stream no longer calls the engine)
        if errors:
            raise errors[0]

    def __enter__(self) -> EngineStream:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def active(self) -> bool:
        """The stream is running."""
        return self._stream is not None and bool(self._stream.active)

    def latency(self) -> DeviceLatency:
        """Device latency PortAudio reported when the stream opened, plus the engine's."""
        rate = self.config.contract.sample_rate_hz
        input_s, output_s = self._device_latency_s
        return DeviceLatency(
            sample_rate_hz=rate,
            input_samples=round(input_s * rate),
            output_samples=round(output_s * rate),
            algorithmic_samples=self.engine.delay_samples + self.config.audio.blocksize_samples,
        )
