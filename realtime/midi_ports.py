"""MIDI inputs with python-rtmidi: choose the API, open every port matching a pattern, survive
hot-plugging.

Each open port has its own ``rtmidi.MidiIn`` whose callback hands the raw message to a handler
(:meth:`ControlMap.handle`, or the monitor's printer) and swallows any exception: a bad
message or a bug never reaches rtmidi's thread. :meth:`MidiInputs.poll`, called from a control
thread about once a second, opens newly plugged matching ports and reports vanished ones; the
audio keeps running either way.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from unsing.errors import UnsingError
from unsing.native_stderr import quiet_native_stderr

#: ``midi.api`` names -> python-rtmidi API constant names.
_API_CONSTANTS = {
    "alsa": "API_LINUX_ALSA",
    "jack": "API_UNIX_JACK",
    "coremidi": "API_MACOSX_CORE",
    "winmm": "API_WINDOWS_MM",
}
CLIENT_NAME = "unsing"

Handler = Callable[[Sequence[int], str], None]


class MidiError(UnsingError):
    """MIDI is unavailable, or a port/API asked for does not exist."""


def import_rtmidi() -> Any:
    """``import rtmidi`` with a one-line error when it is missing."""
    try:
        import rtmidi
    except ImportError as error:
        raise MidiError(
            f"python-rtmidi is not installed ({error}); `pip install python-rtmidi`"
        ) from None
    return rtmidi


def resolve_api(name: str) -> int:
    """The rtmidi API constant for ``midi.api``; ``auto``: the first API built into
    python-rtmidi that works here (ALSA, then JACK on Linux: without the ALSA sequencer, a
    running JACK server still gives MIDI)."""
    rtmidi = import_rtmidi()
    if name == "auto":
        return _first_usable_api(rtmidi)
    api = getattr(rtmidi, _API_CONSTANTS[name])
    if api not in rtmidi.get_compiled_api():
        built = ", ".join(rtmidi.get_api_name(a) for a in rtmidi.get_compiled_api()) or "none"
        raise MidiError(
            f"midi.api = {name}: this python-rtmidi was built without it (available: {built})"
        )
    return api


def _new_client(rtmidi: Any, api: int, name: str) -> Any:
    """An ``rtmidi.MidiIn`` client, the ALSA/JACK libraries' own messages kept off the
    terminal (``rtmidi.SystemError`` when the API is not usable here)."""
    with quiet_native_stderr():
        return rtmidi.MidiIn(api, name)


def _first_usable_api(rtmidi: Any) -> int:
    """The first compiled rtmidi API whose client can be created; one-line MidiError naming
    every API tried and why it failed."""
    failures = []
    for api in rtmidi.get_compiled_api():
        if api == getattr(rtmidi, "API_RTMIDI_DUMMY", None):
            continue
        try:
            probe = _new_client(rtmidi, api, CLIENT_NAME + "-probe")
        except rtmidi.SystemError as error:
            failures.append(f"{rtmidi.get_api_name(api)}: {error}")
            continue
        probe.delete()
        return api
    tried = "; ".join(failures) or "python-rtmidi was built without any"
    raise MidiError(
        f"no MIDI API is usable here ({tried}); start a JACK server and use --midi-api jack, "
        "or load the ALSA sequencer (`modprobe snd-seq`)"
    )


def list_input_ports(api_name: str) -> list[str]:
    """Names of the MIDI inputs on ``api_name`` (empty when the API has no server/devices)."""
    return _input_ports(resolve_api(api_name), api_name)


def _scanner(api: int, api_name: str) -> Any:
    """A client that only lists ports (one-line MidiError where the API is not usable)."""
    rtmidi = import_rtmidi()
    try:
        return _new_client(rtmidi, api, CLIENT_NAME + "-probe")
    except rtmidi.SystemError as error:
        hint = "; with a JACK server running, --midi-api jack" if api_name == "alsa" else ""
        raise MidiError(f"MIDI API {api_name} is not usable here ({error}){hint}") from None


def _input_ports(api: int, api_name: str) -> list[str]:
    probe = _scanner(api, api_name)
    try:
        return list(probe.get_ports())
    finally:
        probe.delete()


@dataclass
class _OpenPort:
    name: str
    midi_in: Any


@dataclass
class MidiInputs:
    """Every input port whose name matches ``pattern`` (case-insensitive regex search).

    Args:
        api_name: ``midi.api``.
        pattern: ``midi.port_pattern`` (or ``--midi-port``).
        handler: called with ``(message, port_name)`` on rtmidi's thread.
    """

    api_name: str
    pattern: str
    handler: Handler
    ports: dict[str, _OpenPort] = field(default_factory=dict)
    errors: int = 0
    last_error: str = ""

    def __post_init__(self) -> None:
        self._rtmidi = import_rtmidi()
        self._api = resolve_api(self.api_name)
        self._regex = re.compile(self.pattern, re.IGNORECASE)
        self._scanner: Any = None

    def _callback_for(self, port_name: str) -> Callable[[Any, Any], None]:
        handler = self.handler

        def callback(event: Any, data: Any = None) -> None:
            try:
                handler(event[0], port_name)
            except Exception as error:  # never into rtmidi's thread
                self.errors += 1
                self.last_error = f"{type(error).__name__}: {error}"

        return callback

    def available(self) -> list[str]:
        """Input ports on the API right now, listed by one client kept for the session: a
        client opened and closed per scan changed the JACK graph every second, and its
        opening held the interpreter lock for milliseconds (53 xruns in 40 s of `unsing run
        --midi-api jack`, none without MIDI)."""
        if self._scanner is None:
            self._scanner = _scanner(self._api, self.api_name)
        return list(self._scanner.get_ports())

    def poll(self) -> list[str]:
        """Open new matching ports, drop vanished ones; one line per change."""
        events = []
        present = self.available()
        for name in list(self.ports):
            if name not in present:
                self.ports.pop(name).midi_in.delete()
                events.append(f"MIDI input '{name}' disappeared; audio keeps running")
        for index, name in enumerate(present):
            if name in self.ports or not self._regex.search(name):
                continue
            if name.startswith(CLIENT_NAME + "-probe") or name.startswith(CLIENT_NAME + ":"):
                continue
            midi_in = _new_client(self._rtmidi, self._api, CLIENT_NAME)
            try:
                midi_in.open_port(index, "in")
            except (self._rtmidi.InvalidPortError, self._rtmidi.SystemError) as error:
                midi_in.delete()
                events.append(f"MIDI input '{name}' could not be opened ({error})")
                continue
            midi_in.ignore_types(sysex=True, timing=True, active_sense=True)
            midi_in.set_callback(self._callback_for(name))
            self.ports[name] = _OpenPort(name, midi_in)
            events.append(f"MIDI input '{name}' opened")
        return events

    def open(self) -> list[str]:
        """First scan; a pattern that matches nothing is reported, not an error (hot-plug)."""
        events = self.poll()
        if not self.ports:
            names = ", ".join(repr(n) for n in self.available()) or "none"
            events.append(
                f"no MIDI input matches '{self.pattern}' yet (inputs: {names}); "
                f"waiting for one to appear"
            )
        return events

    def close(self) -> None:
        """Close every port."""
        for port in self.ports.values():
            port.midi_in.cancel_callback()
            port.midi_in.close_port()
            port.midi_in.delete()
        self.ports.clear()
        if self._scanner is not None:
            self._scanner.delete()
            self._scanner = None


class MidiWatcher:
    """Polls :class:`MidiInputs` about once a second from the caller's status loop."""

    def __init__(self, inputs: MidiInputs, interval_s: float = 1.0) -> None:
        self.inputs = inputs
        self.interval_s = interval_s
        self._next = time.monotonic() + interval_s

    def due(self) -> list[str]:
        """Hot-plug events, when a poll is due (else nothing)."""
        now = time.monotonic()
        if now < self._next:
            return []
        self._next = now + self.interval_s
        try:
            return self.inputs.poll()
        except MidiError as error:
            return [f"MIDI: {error}"]
