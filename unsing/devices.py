"""PortAudio devices: listing, and selection by index or name substring.

``sounddevice`` is imported lazily: PortAudio scans the host APIs when it is imported, so a JACK
server started later is seen only after :func:`query_devices` ``(rescan=True)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from unsing.config import AudioConfig
from unsing.errors import AudioSystemError

Direction = Literal["input", "output"]

NO_DEVICES_HELP = (
    "no audio devices found. Connect a sound card, or on a machine without one start a JACK "
    "server with the dummy driver: `jackd -d dummy -r 44100 -p 256 &` (Debian package jackd2), "
    "then run `unsing devices` again"
)


@dataclass(frozen=True)
class AudioDevice:
    """One PortAudio device as the user sees it."""

    index: int
    name: str
    host_api: str
    max_input_channels: int
    max_output_channels: int
    default_sample_rate_hz: float
    is_default_input: bool
    is_default_output: bool

    def channels(self, direction: Direction) -> int:
        """Channels available in ``direction``."""
        return self.max_input_channels if direction == "input" else self.max_output_channels

    def describe(self) -> str:
        """``'name' (index 3, JACK Audio Connection Kit)``."""
        return f"'{self.name}' (index {self.index}, {self.host_api})"

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return asdict(self)


def import_sounddevice() -> Any:
    """``import sounddevice``, with a clear error when PortAudio is missing."""
    from unsing.native_stderr import quiet_native_stderr

    try:
        with quiet_native_stderr():  # PortAudio starts here: ALSA/JACK probe chatter
            import sounddevice
    except OSError as error:  # raised when libportaudio cannot be loaded
        raise AudioSystemError(
            f"PortAudio is not available ({error}); install it: `apt-get install "
            f"libportaudio2` (Debian/Ubuntu) or `brew install portaudio` (macOS)"
        ) from None
    return sounddevice


def query_devices(rescan: bool = False) -> list[AudioDevice]:
    """All PortAudio devices, defaults marked.

    Args:
        rescan: re-initialise PortAudio first, to see servers started after import (JACK).
    """
    sd = import_sounddevice()
    if rescan:
        from unsing.native_stderr import quiet_native_stderr

        with quiet_native_stderr():
            sd._terminate()
            sd._initialize()
    try:
        raw_devices = sd.query_devices()
        host_apis = sd.query_hostapis()
    except sd.PortAudioError as error:
        raise AudioSystemError(f"PortAudio failed to list devices: {error}") from None
    try:
        default_input, default_output = (int(i) for i in sd.default.device)
    except (TypeError, ValueError):
        default_input = default_output = -1
    if default_input < 0 or default_output < 0:
        # sounddevice falls back to PortAudio's defaults, which may be on any host API
        for api in host_apis:
            if default_input < 0:
                default_input = api.get("default_input_device", -1)
            if default_output < 0:
                default_output = api.get("default_output_device", -1)
    return [
        AudioDevice(
            index=int(raw["index"]),
            name=str(raw["name"]),
            host_api=str(host_apis[raw["hostapi"]]["name"]),
            max_input_channels=int(raw["max_input_channels"]),
            max_output_channels=int(raw["max_output_channels"]),
            default_sample_rate_hz=float(raw["default_samplerate"]),
            is_default_input=int(raw["index"]) == default_input,
            is_default_output=int(raw["index"]) == default_output,
        )
        for raw in raw_devices
    ]


def find_device(
    spec: int | str | None,
    direction: Direction,
    devices: Sequence[AudioDevice],
    host_api: str | None = None,
    min_channels: int = 1,
) -> AudioDevice:
    """Choose a device by index, by name substring, or the default.

    Args:
        spec: device index, a digit string, a case-insensitive name substring, or None for the
            default device (of ``host_api`` if given).
        direction: "input" or "output".
        devices: from :func:`query_devices`.
        host_api: a case-insensitive substring of the host API name to restrict the search.
        min_channels: channels the device must offer in ``direction``.

    Raises:
        AudioSystemError: no devices, no match, an ambiguous name, or too few channels.
    """
    if not devices:
        raise AudioSystemError(NO_DEVICES_HELP)
    flag = "--input" if direction == "input" else "--output"
    candidates = [d for d in devices if d.channels(direction) > 0]
    if host_api is not None:
        candidates = [d for d in candidates if host_api.lower() in d.host_api.lower()]
        if not candidates:
            apis = sorted({d.host_api for d in devices if d.channels(direction) > 0})
            raise AudioSystemError(
                f"no {direction} device on a host API matching '{host_api}' (audio.host_api); "
                f"available: {', '.join(apis) or 'none'}"
            )
    if not candidates:
        raise AudioSystemError(f"no device has {direction} channels; {NO_DEVICES_HELP}")
    if isinstance(spec, str) and spec.strip().isdigit():
        spec = int(spec)
    if spec is None:
        defaults = [
            d
            for d in candidates
            if (d.is_default_input if direction == "input" else d.is_default_output)
        ]
        # With a host API filter the system default may be elsewhere: take that API's first.
        chosen = defaults[0] if defaults else candidates[0]
    elif isinstance(spec, int):
        matches = [d for d in devices if d.index == spec]
        if not matches:
            raise AudioSystemError(
                f"no audio device with index {spec} (valid: 0 to "
                f"{len(devices) - 1}); see `unsing devices`"
            )
        chosen = matches[0]
        if chosen not in candidates:
            reason = (
                "has no " + direction + " channels"
                if chosen.channels(direction) == 0
                else f"is not on host API '{host_api}'"
            )
            raise AudioSystemError(
                f"{direction} device {chosen.describe()} {reason}; pick "
                f"another with {flag} (see `unsing devices`)"
            )
    else:
        needle = spec.lower()
        matches = [d for d in candidates if needle in d.name.lower()]
        exact = [d for d in matches if d.name.lower() == needle]
        if len(exact) == 1:
            matches = exact
        if not matches:
            names = ", ".join(d.describe() for d in candidates)
            raise AudioSystemError(
                f"no {direction} device matches '{spec}'; {direction} devices: {names}"
            )
        if len(matches) > 1:
            names = ", ".join(d.describe() for d in matches)
            raise AudioSystemError(
                f"{direction} device '{spec}' is ambiguous, it matches "
                f"{names}; use an index or a longer name with {flag}"
            )
        chosen = matches[0]
    if chosen.channels(direction) < min_channels:
        raise AudioSystemError(
            f"{direction} device {chosen.describe()} has {chosen.channels(direction)} "
            f"{direction} channel(s), {min_channels} needed (the model's channels); pick "
            f"another device with {flag}"
        )
    return chosen


def find_configured_device(
    audio: AudioConfig, direction: Direction, devices: Sequence[AudioDevice], channels: int
) -> AudioDevice:
    """The ``direction`` device ``audio`` selects, with at least ``channels`` channels (the
    model's).

    Raises:
        AudioSystemError: as :func:`find_device`, naming the config key to change.
    """
    spec = audio.input_device if direction == "input" else audio.output_device
    return _find_keyed(f"audio.{direction}_device", spec, direction, devices, audio, channels)


def _find_keyed(
    key: str,
    spec: int | str | None,
    direction: Direction,
    devices: Sequence[AudioDevice],
    audio: AudioConfig,
    channels: int,
) -> AudioDevice:
    """:func:`find_device` for the config key ``key`` = ``spec``, whose errors name the key."""
    try:
        return find_device(spec, direction, devices, audio.host_api, channels)
    except AudioSystemError as error:
        if spec is None or not devices:
            raise
        raise AudioSystemError(f"{key} = {spec!r}: {error}") from None


def find_mic_device(
    audio: AudioConfig, devices: Sequence[AudioDevice], input_device: AudioDevice | None
) -> AudioDevice:
    """The microphone's device: ``audio.mic_device``, else ``input_device`` (None: the
    configured input device, whatever its channels), with at least ``audio.mic_channel`` input
    channels.

    Raises:
        AudioSystemError: as :func:`find_device`, naming the config key to change.
    """
    spec, channel = audio.mic_device, audio.mic_channel or 1
    key = "audio.mic_device" if spec is not None else "audio.input_device"
    if spec is not None:
        device = _find_keyed(key, spec, "input", devices, audio, 1)
    elif input_device is not None:
        device = input_device
    else:
        device = find_configured_device(audio, "input", devices, 1)
    if device.max_input_channels < channel:
        raise AudioSystemError(
            f"audio.mic_channel = {channel}: the microphone's device {device.describe()} has "
            f"{device.max_input_channels} input channel(s); pick a channel it has, or another "
            f"device with --mic NAME (or {key})"
        )
    return device


def find_stream_devices(
    audio: AudioConfig, devices: Sequence[AudioDevice], channels: int
) -> tuple[AudioDevice, AudioDevice]:
    """The (input, output) devices ``audio`` selects for ``channels`` channels (see
    :func:`find_configured_device`)."""
    return (
        find_configured_device(audio, "input", devices, channels),
        find_configured_device(audio, "output", devices, channels),
    )


def format_device_table(devices: Sequence[AudioDevice]) -> str:
    """A plain-text table: index, defaults, name, host API, channels, sample rate."""
    if not devices:
        return NO_DEVICES_HELP
    rows = [("", "idx", "name", "host API", "in", "out", "default Hz")]
    for d in devices:
        mark = (">" if d.is_default_input else " ") + ("<" if d.is_default_output else " ")
        rows.append(
            (
                mark,
                str(d.index),
                d.name,
                d.host_api,
                str(d.max_input_channels),
                str(d.max_output_channels),
                f"{d.default_sample_rate_hz:g}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.ljust(w) if i in (0, 2, 3) else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    lines.append(
        "> default input, < default output; select with --input/--output INDEX or a name substring"
    )
    return "\n".join(lines)
