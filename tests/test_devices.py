"""Device selection by index, digit string, name substring or default; clear errors."""

from __future__ import annotations

import pytest

from unsing.devices import NO_DEVICES_HELP, AudioDevice, find_device, format_device_table
from unsing.errors import AudioSystemError


def device(
    index: int,
    name: str,
    api: str,
    inputs: int,
    outputs: int,
    default_in: bool = False,
    default_out: bool = False,
) -> AudioDevice:
    return AudioDevice(index, name, api, inputs, outputs, 48000.0, default_in, default_out)


DEVICES = [
    device(0, "HDA Intel PCH: ALC3246 Analog (hw:0,0)", "ALSA", 2, 2),
    device(1, "Scarlett 2i2 USB: Audio (hw:1,0)", "ALSA", 2, 2),
    device(2, "HDMI 0 (hw:0,3)", "ALSA", 0, 8),
    device(3, "default", "ALSA", 32, 32, default_in=True, default_out=True),
    device(4, "system", "JACK Audio Connection Kit", 2, 2),
    device(5, "USB Mic", "ALSA", 1, 0),
]


def test_by_index_and_digit_string() -> None:
    assert find_device(1, "input", DEVICES).index == 1
    assert find_device("4", "output", DEVICES).index == 4


def test_by_case_insensitive_substring() -> None:
    assert find_device("scarlett", "output", DEVICES).index == 1
    assert find_device("SYSTEM", "input", DEVICES).index == 4


def test_exact_name_wins_over_substrings() -> None:
    assert find_device("default", "output", DEVICES).index == 3


def test_default_device_and_host_api_default() -> None:
    assert find_device(None, "input", DEVICES).index == 3
    assert find_device(None, "output", DEVICES, host_api="jack").index == 4


def test_direction_is_respected() -> None:
    assert find_device("hdmi", "output", DEVICES).index == 2
    with pytest.raises(AudioSystemError, match="no input device matches 'hdmi'"):
        find_device("hdmi", "input", DEVICES)
    with pytest.raises(
        AudioSystemError,
        match=r"'HDMI 0 \(hw:0,3\)' \(index 2, ALSA\) has no "
        r"input channels; pick another with --input",
    ):
        find_device(2, "input", DEVICES)


def test_ambiguous_name_lists_the_candidates() -> None:
    with pytest.raises(AudioSystemError, match="'hw:' is ambiguous, it matches") as caught:
        find_device("hw:", "output", DEVICES)
    assert "index 0" in str(caught.value) and "index 1" in str(caught.value)


def test_missing_index_and_unknown_name() -> None:
    with pytest.raises(AudioSystemError, match="no audio device with index 17 \\(valid: 0 to 5\\)"):
        find_device(17, "output", DEVICES)
    with pytest.raises(
        AudioSystemError, match="no output device matches 'focusrite'; output devices: 'HDA Intel"
    ):
        find_device("focusrite", "output", DEVICES)


def test_host_api_filter() -> None:
    with pytest.raises(AudioSystemError, match="not on host API 'JACK'"):
        find_device(1, "input", DEVICES, host_api="JACK")
    with pytest.raises(
        AudioSystemError,
        match=r"no output device on a host API matching 'CoreAudio'.*available: ALSA, JACK",
    ):
        find_device(None, "output", DEVICES, host_api="CoreAudio")


def test_too_few_channels() -> None:
    with pytest.raises(
        AudioSystemError,
        match=r"'USB Mic' .* has 1 input channel\(s\), 2 needed \(the model's channels\)",
    ):
        find_device("usb mic", "input", DEVICES, min_channels=2)
    assert find_device("usb mic", "input", DEVICES, min_channels=1).index == 5


def test_no_devices_says_how_to_start_an_audio_system() -> None:
    with pytest.raises(AudioSystemError) as caught:
        find_device(None, "output", [])
    assert str(caught.value) == NO_DEVICES_HELP
    assert "jackd -d dummy" in NO_DEVICES_HELP
    assert format_device_table([]) == NO_DEVICES_HELP


def test_table_marks_defaults() -> None:
    table = format_device_table(DEVICES).splitlines()
    assert table[0].split() == ["idx", "name", "host", "API", "in", "out", "default", "Hz"]
    default_row = next(line for line in table[1:] if " default " in line)
    assert default_row.startswith("><")
    jack_row = next(line for line in table if "JACK" in line)
    assert jack_row.startswith("  ") and " 4 " in jack_row


def test_stream_devices_follow_the_audio_config() -> None:
    from unsing.config import load_config
    from unsing.devices import find_stream_devices

    audio = load_config(overrides=["audio.input_device=scarlett", "audio.host_api=ALSA"]).audio
    input_device, output_device = find_stream_devices(audio, DEVICES, 2)
    assert (input_device.index, output_device.index) == (1, 3)
    audio = load_config(overrides=["audio.output_device=usb mic"]).audio
    with pytest.raises(AudioSystemError, match=r"^audio\.output_device = 'usb mic': no output"):
        find_stream_devices(audio, DEVICES, 2)
    audio = load_config(overrides=["audio.input_device=usb mic"]).audio  # 1 channel, 2 needed
    with pytest.raises(AudioSystemError, match="has 1 input channel"):
        find_stream_devices(audio, DEVICES, 2)
    assert find_stream_devices(audio, DEVICES, 1)[0].index == 5  # a mono model
