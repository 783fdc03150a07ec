"""config.yaml loading: defaults, overlays, overrides, and one clear error per mistake."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from unsing.config import Config, ConfigError, db_to_gain, default_config_path, load_config
from unsing.contract import ModelContract
from unsing.errors import ModelFileError, UnsingError
from unsing.model_file import read_model_info
from unsing.stft import StftSpec

PROJECT_ROOT = Path(__file__).resolve().parent.parent


SECTIONS = ("audio", "model", "engine", "midi")


def test_shipped_config_loads_with_every_key_from_the_file() -> None:
    config = load_config()
    raw = yaml.safe_load((PROJECT_ROOT / "config.yaml").read_text())
    assert set(raw) == set(SECTIONS)
    assert config.audio.blocksize_samples == raw["audio"]["blocksize_samples"]
    assert config.engine.resynthesis == raw["engine"]["resynthesis"]
    assert len(config.midi.mappings) == len(raw["midi"]["mappings"])
    # every key of the dataclasses is in the shipped file, and nothing else
    for section in SECTIONS:
        keys = {f.name for f in dataclasses.fields(getattr(config, section))}
        assert keys == set(raw[section]), f"{section}: {keys ^ set(raw[section])}"


def test_the_package_default_is_the_top_level_config_file() -> None:
    assert default_config_path() == (PROJECT_ROOT / "config.yaml").resolve()


def test_model_settings_come_from_the_model_file() -> None:
    contract = load_config().contract
    metadata = read_model_info(PROJECT_ROOT / "models/pretrained/unsing-default.onnx").metadata
    assert contract.sample_rate_hz == int(metadata["unsing.sample_rate_hz"]) == 44100
    assert contract.channels == int(metadata["unsing.channels"]) == 2
    assert contract.stft == StftSpec(1024, 256, "hann")
    assert contract.context_frames == int(metadata["unsing.context_frames"]) == 143
    assert contract.lookahead_frames == 0
    assert contract.source.endswith("unsing-default.onnx")


@pytest.mark.parametrize(
    "key",
    [
        "audio.sample_rate_hz",
        "audio.channels",
        "stft.n_fft",
        "stft.hop_samples",
        "stft.window",
        "model.context_frames",
        "model.lookahead_frames",
    ],
)
def test_a_model_owned_key_is_an_error_naming_the_model_file(write_config, key: str) -> None:
    section, name = key.split(".")
    path = write_config(f"{section}:\n  {name}: 2\n")
    message = error_of(path)
    assert message.startswith(f"{path}: {key}: set by the model file (")
    assert "unsing-default.onnx" in message and "--model PATH" in message
    message = error_of(overrides=[f"{key}=2", "model.path=other.onnx"])
    assert message.startswith(f"command line: {key}: set by the model file (")
    assert str(Path.cwd() / "other.onnx") in message


def test_training_settings_are_not_runtime_keys(write_config) -> None:
    message = error_of(write_config("train:\n  seed: 3\n"))
    assert "training settings live in recipe files" in message
    assert "models/recipes/default.yaml" in message


def test_another_model_is_one_key(tmp_path: Path) -> None:
    config = load_config(overrides=[f"model.path={tmp_path / 'missing.onnx'}"])
    with pytest.raises(ModelFileError, match=r"missing\.onnx: model file not found"):
        _ = config.contract
    shipped = load_config()
    moved = config.with_model(shipped.model.path)
    assert moved.contract == shipped.contract


def test_blocksize_must_be_a_multiple_of_the_models_hop() -> None:
    config = load_config(overrides=["audio.blocksize_samples=300"])
    with pytest.raises(ConfigError) as caught:
        _ = config.contract
    message = str(caught.value)
    assert message.startswith("command line: audio.blocksize_samples = 300: must be a multiple")
    assert "hop_samples = 256" in message and "unsing-default.onnx" in message
    contract = ModelContract(44100, 2, StftSpec(1200, 300, "hann"), 10)
    with pytest.raises(ConfigError, match="multiple of the model's hop_samples = 300"):
        load_config(overrides=["audio.blocksize_samples=256"], contract=contract)


def test_config_is_frozen() -> None:
    config = load_config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.audio.blocksize_samples = 512  # type: ignore[misc]


def test_relative_model_path_resolves_against_the_file_that_sets_it(write_config) -> None:
    assert load_config().model.path == PROJECT_ROOT / "models/pretrained/unsing-default.onnx"
    user = write_config("model:\n  path: my.onnx\n")
    assert load_config(user).model.path == user.parent / "my.onnx"


def test_user_file_overlays_only_the_keys_it_sets(write_config) -> None:
    default = load_config()
    config = load_config(
        write_config("engine:\n  gain_smoothing_ms: 50\naudio:\n  blocksize_samples: 512\n")
    )
    assert config.engine.gain_smoothing_ms == 50.0
    assert config.audio.blocksize_samples == 512
    assert config.engine.resynthesis == default.engine.resynthesis
    assert config.midi == default.midi


def test_overrides_come_last(write_config) -> None:
    user = write_config("audio:\n  blocksize_samples: 1024\n")
    config = load_config(
        user,
        [
            "audio.blocksize_samples=512",
            "audio.input_device=Focusrite",
            "audio.output_device=3",
            "engine.vocal_gain_db=-6.5",
        ],
    )
    assert config.audio.blocksize_samples == 512
    assert config.audio.input_device == "Focusrite"
    assert config.audio.output_device == 3
    assert config.engine.vocal_gain_db == -6.5
    assert load_config(overrides={"model.intra_op_threads": 2}).model.intra_op_threads == 2


def test_config_file_from_environment(write_config, monkeypatch) -> None:
    monkeypatch.setenv("UNSING_CONFIG", str(write_config("audio:\n  blocksize_samples: 512\n")))
    assert load_config().audio.blocksize_samples == 512


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
        (
            "audio:\n  blocksiz: 256\n",
            ["unknown key 'audio.blocksiz'", "did you mean 'audio.blocksize_samples'"],
        ),
        ("audoi:\n  blocksize_samples: 256\n", ["unknown key 'audoi'", "did you mean 'audio'"]),
        ("audio:\n  blocksize_samples: fast\n", ["audio.blocksize_samples = 'fast'", "an integer"]),
        (
            "audio:\n  blocksize_samples: 8\n",
            ["audio.blocksize_samples = 8", "from 16 to 16384"],
        ),
        ("model:\n  graph: windowed\n", ["model.graph = 'windowed'", "did you mean 'window'"]),
        ("model:\n  intra_op_threads: true\n", ["model.intra_op_threads = True", "wrong type"]),
        (
            "model:\n  intra_op_threads: null\n",
            ["model.intra_op_threads = null", "a value is required"],
        ),
        ("audio: 5\n", ["audio: must be a mapping"]),
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
    assert error_of(overrides=["audio.blocksize_samples=8"]).startswith("command line:")
    assert "expected section.key=value" in error_of(overrides=["audio.blocksize_samples"])
    assert "expected section.key" in error_of(overrides=["blocksize_samples=512"])
    message = error_of(overrides=["adio.blocksize_samples=512"])
    assert (
        message.startswith("command line: unknown key 'adio'") and "did you mean 'audio'" in message
    )


def test_unreadable_files_are_config_errors(tmp_path: Path, write_config) -> None:
    assert "config file not found" in error_of(tmp_path / "missing.yaml")
    assert "not valid YAML (line 2" in error_of(write_config("audio: [\n"))
    assert "the top level must be a mapping" in error_of(write_config("- a\n- b\n"))
    assert issubclass(ConfigError, UnsingError)


def test_empty_user_file_means_defaults(write_config) -> None:
    assert load_config(write_config("")) == load_config()
    assert isinstance(load_config(), Config)


def test_scientific_notation_without_a_dot_is_a_number() -> None:
    config = load_config(
        overrides=["engine.deadline_hop_fraction=5e-1", "engine.gain_smoothing_ms=2E1"]
    )
    assert config.engine.deadline_hop_fraction == 0.5 and config.engine.gain_smoothing_ms == 20.0
    with pytest.raises(ConfigError, match="wrong type"):
        load_config(overrides=["engine.gain_smoothing_ms=fast"])
