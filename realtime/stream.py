"""The engine on a sound card: a sounddevice stream whose callback runs :class:`SeparationEngine`.

Two shapes, one callback body:

* live (``unsing run``): a duplex stream, line-in/mic -> engine -> output device;
* song (``unsing play``): an output-only stream; the callback takes the next block of a song held
  in memory, so the engine, blocks and timing are the live ones.

The singer's microphone (``audio.mic_channel``, :class:`~unsing.realtime.microphone.MicChannel`)
is mixed into the output after the engine, in the same callback. On the live input device it is
one more input channel of the duplex stream (after the song's); with ``play`` the stream becomes
duplex with the microphone's device as its input; on a second device (``run`` with
``audio.mic_device``) it has an input stream of its own, whose callback hands the samples over
through a :class:`~unsing.realtime.mic_ring.MicRing`.

Everything is checked before the stream starts (device, channels, sample rate), each failure a
one-line :class:`AudioSystemError`. The callback copies into preallocated buffers, runs the
engine, counts PortAudio's status flags (xruns) into the engine's preallocated counters, and never
raises: an unexpected exception mutes that block, is counted, and is reported by the caller's
thread through :attr:`EngineStream.callback_error`.
"""

from __future__ import annotations

import contextlib
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
    find_mic_device,
    import_sounddevice,
    query_devices,
)
from unsing.errors import AudioSystemError
from unsing.realtime.engine import SeparationEngine
from unsing.realtime.mic_ring import MicRing
from unsing.realtime.microphone import MicChannel
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


def check_device(
    sd: Any, device: AudioDevice, direction: str, config: Config, channels: int | None = None
) -> None:
    """Raise a one-line error if ``device`` cannot run at the configured rate and ``channels``
    (default: the model's)."""
    contract = config.contract
    channels = contract.channels if channels is None else channels
    check = sd.check_input_settings if direction == "input" else sd.check_output_settings
    try:
        check(
            device=device.index,
            channels=channels,
            dtype="float32",
            samplerate=contract.sample_rate_hz,
        )
    except Exception as error:  # sd.PortAudioError, ValueError
        reason = str(error).strip()
        raise AudioSystemError(
            f"{direction} device {device.describe()} cannot run {channels} channels "
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

    With ``audio.mic_channel`` set, the singer's microphone (:attr:`mic`) is mixed in after the
    engine (see the module docstring for where it is read from).
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
        block = audio.blocksize_samples
        self._blocksize = block
        self.mic: MicChannel | None = None
        self.mic_device: AudioDevice | None = None
        self._mic_column: int | None = None  # the microphone's column of the stream's input
        self._mic_ring: MicRing | None = None  # or: its own stream's samples come through here
        self._mic_stream: Any = None
        self._mic_samples = np.zeros(block, np.float32)
        input_channels = channels
        if audio.mic_channel is not None:
            self.mic = MicChannel(config, engine.parameters, engine.smoother, engine.stats)
            self.mic_device = find_mic_device(audio, devices, self.input_device)
            if song is not None:  # play: the microphone's device is the stream's input
                self.input_device, input_channels = self.mic_device, audio.mic_channel
                self._mic_column = audio.mic_channel - 1
            elif self.mic_device.index == self.input_device.index:
                if audio.mic_channel <= channels:
                    raise AudioSystemError(
                        f"audio.mic_channel = {audio.mic_channel}: on the input device "
                        f"{self.input_device.describe()} channels 1-{channels} carry the song; "
                        f"put the microphone on a later channel (e.g. --mic {channels + 1}) or "
                        "on another device (--mic NAME)"
                    )
                input_channels = audio.mic_channel
                self._mic_column = audio.mic_channel - 1
            else:
                check_device(self.sd, self.mic_device, "input", config, audio.mic_channel)
                self._mic_ring = MicRing(block, config.contract.sample_rate_hz)
        self._input_channels = input_channels
        for device, direction in ((self.input_device, "input"), (self.output_device, "output")):
            if device is not None:
                wanted = input_channels if direction == "input" else None
                check_device(self.sd, device, direction, config, wanted)
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

    def _run_engine(
        self, source: np.ndarray, outdata: np.ndarray, frames: int, indata: np.ndarray | None
    ) -> None:
        """The engine (and the microphone around it: its level and the ducking before, its
        sound after) on one block."""
        mic = self.mic
        if mic is not None:
            if self._mic_column is not None and indata is not None:
                mic.listen(indata[:, self._mic_column])
            elif self._mic_ring is not None:
                samples = (
                    self._mic_samples[:frames]
                    if frames <= self._blocksize
                    else np.zeros(frames, np.float32)
                )
                self._mic_ring.read_into(samples)
                mic.listen(samples)
        output = self._output[:frames] if frames <= self._blocksize else np.zeros_like(outdata)
        self.engine.process(source, output)
        if mic is not None:
            mic.mix_into(output)
        outdata[:] = output

    def _mic_callback(self, indata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        """The microphone's own stream (a second device): into the ring."""
        try:
            self._mic_ring.write(indata[:, self.config.audio.mic_channel - 1])
        except Exception as error:  # the audio thread must never die
            if self.callback_error is None:
                self.callback_error = f"microphone: {type(error).__name__}: {error}"

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
            if self.song is not None:  # play with a microphone: the input carries only it
                self._song_block(outdata, frames, indata)
            else:
                self._run_engine(indata[:, : self.engine.channels], outdata, frames, indata)
        except Exception as error:  # the audio thread must never die
            self._fail(outdata, error)

    def _song_callback(self, outdata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        try:
            self._note_entry(time)
            self._count_flags(status)
            self._song_block(outdata, frames, None)
        except Exception as error:
            self._fail(outdata, error)

    def _song_block(self, outdata: np.ndarray, frames: int, indata: np.ndarray | None) -> None:
        """The song's next block through the engine into ``outdata``."""
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
        self._run_engine(source, outdata, frames, indata)

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
            if self._mic_ring is not None:  # started first: on one JACK server its callback
                # then runs before the main one in each cycle (no block of delay added)
                self._mic_stream = sd.InputStream(
                    device=self.mic_device.index,
                    channels=self.config.audio.mic_channel,
                    callback=self._mic_callback,
                    **common,
                )
                self._mic_stream.start()
            if self.input_device is not None:
                self._stream = sd.Stream(
                    device=(self.input_device.index, self.output_device.index),
                    channels=(self._input_channels, channels),
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
            self._close_mic_stream()
            self._restore_switch_interval()
            raise AudioSystemError(f"cannot open the audio stream: {error}") from None

    def _close_mic_stream(self) -> None:
        """Stop and close the second device's microphone stream, if one runs (its errors are
        not the session's: the main stream's stop decides how it ends)."""
        stream, self._mic_stream = getattr(self, "_mic_stream", None), None
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.stop()
                stream.close()

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
            self._close_mic_stream()

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
