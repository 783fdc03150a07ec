"""config.yaml loading: defaults, overlays, overrides, and one clear error per mistake."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from unsing.config import Config, ConfigError, db_to_gain, load_config
from unsing.errors import UnsingError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def test_shipped_config_loads_with_every_key_from_the_file() -> None:
    config = load_config()
    raw = yaml.safe_load((PROJECT_ROOT / "config.yaml").read_text())
    assert config.audio.sample_rate_hz == raw["audio"]["sample_rate_hz"]
    assert config.stft.n_fft == raw["stft"]["n_fft"]
    assert config.stft.hop_samples == raw["stft"]["hop_samples"]
    assert config.engine.resynthesis == raw["engine"]["resynthesis"]
    assert len(config.midi.mappings) == len(raw["midi"]["mappings"])
    # every top-level section and key of the dataclasses is present in the shipped file
    for section in ("audio", "stft", "model", "engine", "midi"):
        required = {f.name for f in dataclasses.fields(getattr(config, section))}
        assert required <= set(raw[section]), f"{section}: {required - set(raw[section])}"


def test_config_is_frozen() -> None:
    config = load_config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.stft.n_fft = 2048  # type: ignore[misc]


def test_relative_model_path_resolves_against_the_file_that_sets_it(write_config) -> None:
    assert load_config().model.path == PROJECT_ROOT / "models/pretrained/unsing-default.onnx"
    user = write_config("model:\n  path: my.onnx\n")
    assert load_config(user).model.path == user.parent / "my.onnx"


def test_user_file_overlays_only_the_keys_it_sets(write_config) -> None:
    default = load_config()
    config = load_config(write_config("stft:\n  n_fft: 2048\naudio:\n  blocksize_samples: 512\n"))
    assert config.stft.n_fft == 2048
    assert config.audio.blocksize_samples == 512
    assert config.stft.hop_samples == default.stft.hop_samples
    assert config.midi == default.midi


def test_overrides_come_last(write_config) -> None:
    user = write_config("stft:\n  n_fft: 2048\n")
    config = load_config(
        user,
        [
            "stft.n_fft=512",
            "audio.input_device=Focusrite",
            "audio.output_device=3",
            "engine.vocal_gain_db=-6.5",
        ],
    )
    assert config.stft.n_fft == 512
    assert config.audio.input_device == "Focusrite"
    assert config.audio.output_device == 3
    assert config.engine.vocal_gain_db == -6.5
    assert load_config(overrides={"audio.channels": 1}).audio.channels == 1


def test_config_file_from_environment(write_config, monkeypatch) -> None:
    monkeypatch.setenv("UNSING_CONFIG", str(write_config("audio:\n  channels: 1\n")))
    assert load_config().audio.channels == 1


def test_infinite_gain_means_mute() -> None:
    config = load_config(overrides=["engine.vocal_gain_db=-.inf"])
    assert db_to_gain(config.engine.vocal_gain_db) == 0.0
    assert db_to_gain(-120.0) == 0.0
    assert db_to_gain(0.0) == 1.0
    assert db_to_gain(-6.0) == pytest.approx(0.501187, rel=1e-5)


def error_of(*args, **kwargs) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(*args, **kwargs)
    message = str(caught.value)
    assert "\n" not in message, "errors are one line"
    return message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("stft:\n  hopp: 256\n", ["unknown key 'stft.hopp'", "did you mean 'stft.hop_samples'"]),
        ("audoi:\n  channels: 2\n", ["unknown key 'audoi'", "did you mean 'audio'"]),
        ("audio:\n  sample_rate_hz: fast\n", ["audio.sample_rate_hz = 'fast'", "an integer"]),
        (
            "audio:\n  sample_rate_hz: 1000\n",
            ["audio.sample_rate_hz = 1000", "from 8000 to 192000"],
        ),
        ("audio:\n  channels: 6\n", ["audio.channels = 6", "allowed: 1, 2"]),
        ("audio:\n  channels: true\n", ["audio.channels = True", "wrong type"]),
        ("audio:\n  channels: null\n", ["audio.channels = null", "a value is required"]),
        ("audio: 5\n", ["audio: must be a mapping"]),
        (
            "stft:\n  window: hanning\n",
            [
                "stft.window = 'hanning'",
                "did you mean 'hann'",
                "allowed: hann, hamming, blackman, sqrt_hann",
            ],
        ),
        ("stft:\n  hop_samples: 300\n", ["stft.hop_samples = 300", "must divide stft.n_fft"]),
        (
            "stft:\n  n_fft: 1000\n  hop_samples: 1000\n  window: hann\n",
            ["stft.window = 'hann'", "do not overlap enough"],
        ),
        (
            "audio:\n  blocksize_samples: 300\n",
            ["audio.blocksize_samples = 300", "multiple of stft.hop_samples = 256"],
        ),
        ("model:\n  lookahead_frames: -1\n", ["model.lookahead_frames = -1", "from 0 to 64"]),
        ("model:\n  path: ''\n", ["model.path = ''", "a file path"]),
        ("engine:\n  resynthesis: griffinlim\n", ["did you mean 'griffin_lim'"]),
        ("engine:\n  vocal_gain_db: 40\n", ["engine.vocal_gain_db = 40", "to 24"]),
        (
            "engine:\n  deadline_policy: silence\n",
            ["engine.deadline_policy = 'silence'", "reuse_last_mask, pass_through"],
        ),
        (
            "midi:\n  port_pattern: '[nano'\n",
            ["midi.port_pattern = '[nano'", "not a valid regular expression"],
        ),
        ("midi:\n  channel: 17\n", ["midi.channel = 17", "from 1 to 16"]),
        ("midi:\n  mappings: {}\n", ["midi.mappings = {}", "must be a list"]),
        ("train:\n  widths: []\n", ["train.widths = []", "must list at least one value"]),
        ("train:\n  widths: [8, x]\n", ["train.widths[1] = 'x'", "an integer"]),
        (
            "midi:\n  mappings:\n    - {param: volume, cc: 1, mode: absolute}\n",
            ["midi.mappings[0].param = 'volume'", "allowed: vocal_gain"],
        ),
        (
            "midi:\n  mappings:\n    - {param: bypass, cc: 200, mode: toggle}\n",
            ["midi.mappings[0].cc = 200", "from 0 to 127"],
        ),
        (
            "midi:\n  mappings:\n    - {param: bypass, mode: toggle}\n",
            ["midi.mappings[0]: set exactly one of 'cc' or 'note'"],
        ),
        (
            "midi:\n  mappings:\n    - {param: vocal_gain, cc: 1, mode: toggle}\n",
            ["vocal_gain needs a knob or fader mode"],
        ),
        (
            "midi:\n  mappings:\n    - {param: bypass, cc: 1, mode: absolute}\n",
            ["bypass is a switch"],
        ),
        (
            "midi:\n  mappings:\n    - {param: vocal_gain, cc: 1, mode: absolute}\n",
            ["missing key 'midi.mappings[0].curve'"],
        ),
        (
            "midi:\n  mappings:\n    - {param: vocal_gain, cc: 1, mode: absolute, curve: linear,"
            " min_db: 0, max_db: -10}\n",
            ["min_db = 0.0 must be below max_db = -10.0"],
        ),
        (
            "midi:\n  mappings:\n    - {param: vocal_gain, cc: 1, mode: absolute, curve: linear,"
            " min_db: -60, max_db: 0}\n    - {param: bypass, cc: 1, mode: toggle}\n",
            ["midi.mappings[1]: cc 1 is already mapped by midi.mappings[0]"],
        ),
        (
            "midi:\n  mappings:\n    - {param: vocal_gain, cc: 1, mode: absolute, curve: linear,"
            " min_db: -60, max_db: 0, cc_lsb: 33}\n    - {param: bypass, cc: 33, mode: toggle}\n",
            ["cc 33 is already mapped"],
        ),
        (
            "midi:\n  mappings:\n    - {param: bypass, note: 60, mode: toggle, channel: 2}\n"
            "    - {param: karaoke_preset, note: 60, mode: toggle, channel: 3}\n"
            "    - {param: a_cappella_preset, note: 60, mode: toggle}\n",
            ["midi.mappings[2]: note 60 is already mapped by midi.mappings[0]"],
        ),
    ],
)
def test_each_mistake_gives_one_line_naming_file_key_value_and_allowed(
    write_config, text: str, expected: list[str]
) -> None:
    path = write_config(text)
    message = error_of(path)
    assert message.startswith(str(path)), message
    for fragment in expected:
        assert fragment in message, message


def test_no_midi_mappings_is_allowed(write_config) -> None:
    assert load_config(write_config("midi:\n  mappings: []\n")).midi.mappings == ()


def test_same_note_on_different_channels_is_fine(write_config) -> None:
    path = write_config(
        "midi:\n  mappings:\n"
        "    - {param: bypass, note: 60, mode: toggle, channel: 2}\n"
        "    - {param: karaoke_preset, note: 60, mode: momentary, channel: 3}\n"
    )
    assert [m.channel for m in load_config(path).midi.mappings] == [2, 3]


def test_override_errors_say_they_came_from_the_command_line() -> None:
    assert error_of(overrides=["stft.hop_samples=300"]).startswith("command line:")
    assert "expected section.key=value" in error_of(overrides=["stft.hop_samples"])
    assert "expected section.key" in error_of(overrides=["n_fft=512"])
    assert "did you mean 'stft'" in error_of(overrides=["sftf.n_fft=512"])


def test_unreadable_files_are_config_errors(tmp_path: Path, write_config) -> None:
    assert "config file not found" in error_of(tmp_path / "missing.yaml")
    assert "not valid YAML (line 2" in error_of(write_config("audio: [\n"))
    assert "the top level must be a mapping" in error_of(write_config("- a\n- b\n"))
    assert issubclass(ConfigError, UnsingError)


def test_empty_user_file_means_defaults(write_config) -> None:
    assert load_config(write_config("")) == load_config()
    assert isinstance(load_config(), Config)


def test_scientific_notation_without_a_dot_is_a_number() -> None:
    config = load_config(overrides=["train.learning_rate=1e-6", "engine.gain_smoothing_ms=2E1"])
    assert config.train.learning_rate == 1e-6 and config.engine.gain_smoothing_ms == 20.0
    with pytest.raises(ConfigError, match="wrong type"):
        load_config(overrides=["train.learning_rate=fast"])
