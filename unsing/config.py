"""Typed, frozen configuration loaded from ``config.yaml``.

The shipped ``config.yaml`` holds every default. A user file overlays it key by key, and
command-line ``--set section.key=value`` overrides come last. Every value is type- and
range-checked, unknown keys are errors (with a "did you mean"), and cross-field rules
(``n_fft % hop_samples == 0``, blocksize a multiple of the hop, ...) are checked after merging.
Every error names the key, the bad value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from unsing import PROJECT_ROOT
from unsing.errors import ConfigError

#: Environment variable naming a user config file (overlaid on the shipped defaults).
CONFIG_ENV_VAR = "UNSING_CONFIG"
#: Gains at or below this many dB are treated as silence.
MUTE_DB = -120.0

WINDOWS = ("hann", "hamming", "blackman", "sqrt_hann")
RESYNTHESIS_MODES = ("overlap_add", "griffin_lim")
DEADLINE_POLICIES = ("reuse_last_mask", "pass_through")
MODEL_GRAPHS = ("window", "streaming")
WAVEFORM_LOSSES = ("l1", "sdr")
LOW_BAND_MODES = ("add", "replace")
TRAIN_PRECISIONS = ("float32", "bfloat16")
MIDI_APIS = ("auto", "alsa", "jack", "coremidi", "winmm")
MIDI_PARAMS = (
    "vocal_gain",
    "accompaniment_gain",
    "master_gain",
    "bypass",
    "karaoke_preset",
    "a_cappella_preset",
)
GAIN_PARAMS = ("vocal_gain", "accompaniment_gain", "master_gain")
MIDI_MODES = (
    "absolute",
    "relative_twos_complement",
    "relative_sign_magnitude",
    "relative_binary_offset",
    "toggle",
    "momentary",
)
BUTTON_MODES = ("toggle", "momentary")
MIDI_CURVES = ("linear", "audio_taper")


def _key(
    doc: str,
    *,
    choices: Sequence[Any] | None = None,
    min: float | None = None,
    max: float | None = None,
    path: bool = False,
    default: Any = dataclasses.MISSING,
) -> Any:
    """A dataclass field with its documentation and validation rules as metadata."""
    metadata = {"doc": doc, "choices": choices, "min": min, "max": max, "path": path}
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class AudioConfig:
    """The audio stream."""

    sample_rate_hz: int = _key("stream sample rate", min=8000, max=192000)
    blocksize_samples: int = _key("samples per audio callback", min=16, max=16384)
    channels: int = _key("audio channels", choices=(1, 2))
    input_device: int | str | None = _key("input device index or name substring")
    output_device: int | str | None = _key("output device index or name substring")
    host_api: str | None = _key("host API name substring")


@dataclass(frozen=True)
class StftConfig:
    """The one STFT definition shared by training, export and the engine."""

    n_fft: int = _key("window length in samples", min=32, max=16384)
    hop_samples: int = _key("hop between frames in samples", min=8, max=16384)
    window: str = _key("analysis window", choices=WINDOWS)


@dataclass(frozen=True)
class ModelConfig:
    """The ONNX model and how onnxruntime runs it."""

    path: Path = _key("ONNX model file", path=True)  # noqa: RUF009 - _key returns a field
    context_frames: int = _key("past frames per masked frame", min=1, max=4096)
    lookahead_frames: int = _key("future frames per masked frame", min=0, max=64)
    graph: str = _key("which graph to run", choices=MODEL_GRAPHS)
    intra_op_threads: int = _key("onnxruntime intra-op threads", min=1, max=64)
    inter_op_threads: int = _key("onnxruntime inter-op threads", min=1, max=64)


@dataclass(frozen=True)
class EngineConfig:
    """Resynthesis, gains and the deadline policy of the live engine."""

    resynthesis: str = _key("resynthesis method", choices=RESYNTHESIS_MODES)
    griffin_lim_iterations: int = _key("online Griffin-Lim iterations per hop", min=1, max=100)
    griffin_lim_lookahead_frames: int = _key("online Griffin-Lim look-ahead", min=0, max=16)
    vocal_gain_db: float = _key("start-up vocal gain", min=-math.inf, max=24.0)
    accompaniment_gain_db: float = _key("start-up accompaniment gain", min=-math.inf, max=24.0)
    master_gain_db: float = _key("start-up master gain", min=-math.inf, max=24.0)
    gain_smoothing_ms: float = _key("gain smoothing time constant", min=0.0, max=5000.0)
    deadline_policy: str = _key("what to do when inference is late", choices=DEADLINE_POLICIES)
    deadline_hop_fraction: float = _key("inference deadline / hop period", min=0.05, max=1.0)


@dataclass(frozen=True)
class MidiMapping:
    """One MIDI control mapped to one parameter."""

    param: str = _key("parameter", choices=MIDI_PARAMS)
    mode: str = _key("how the control's value is read", choices=MIDI_MODES)
    cc: int | None = _key("controller number", min=0, max=127, default=None)
    note: int | None = _key("note number (buttons only)", min=0, max=127, default=None)
    channel: int | None = _key("MIDI channel, overrides midi.channel", min=1, max=16, default=None)
    curve: str | None = _key("value curve (gains only)", choices=MIDI_CURVES, default=None)
    min_db: float | None = _key(
        "gain at the control's minimum", min=-math.inf, max=24.0, default=None
    )
    max_db: float | None = _key(
        "gain at the control's maximum", min=-math.inf, max=24.0, default=None
    )
    cc_lsb: int | None = _key("LSB controller of a 14-bit pair", min=0, max=127, default=None)


@dataclass(frozen=True)
class MidiConfig:
    """MIDI input and its mappings."""

    port_pattern: str = _key("regular expression for input port names; empty disables MIDI")
    api: str = _key("RtMidi API", choices=MIDI_APIS)
    channel: int | None = _key("MIDI channel (null: any)", min=1, max=16)
    mappings: tuple[MidiMapping, ...] = _key("controls")


@dataclass(frozen=True)
class TrainConfig:
    """Training of the U-Net (``unsing train``)."""

    data_root: Path = _key("training/validation audio folder", path=True)  # noqa: RUF009
    runs_dir: Path = _key("where runs (checkpoints, logs) are written", path=True)  # noqa: RUF009
    seed: int = _key("random seed", min=0, max=2**31 - 1)
    excerpt_seconds: float = _key("training excerpt length", min=0.25, max=60.0)
    batch_size: int = _key("excerpts per step (per process)", min=1, max=1024)
    learning_rate: float = _key("peak Adam learning rate", min=1e-6, max=1.0)
    epochs: int = _key("epochs", min=1, max=100000)
    steps_per_epoch: int = _key("optimizer steps per epoch", min=1, max=1000000)
    threads: int = _key("torch CPU threads", min=1, max=256)
    data_workers: int = _key(
        "processes drawing the random mixes (0: the training process)", min=0, max=256
    )
    widths: tuple[int, ...] = _key("U-Net channels per level", min=1, max=1024)
    tcn_channels: int = _key("temporal stack channels", min=1, max=4096)
    tcn_dilations: tuple[int, ...] = _key("temporal stack dilations", min=1, max=1024)
    low_band_bins: int = _key(
        "bins whose mask logits the low-band network corrects (0: no such network)",
        min=0,
        max=64,
    )
    low_band_input_bins: int = _key(
        "lowest bins the low-band network reads (at least low_band_bins)", min=1, max=512
    )
    low_band_mode: str = _key(
        "add: the low-band network corrects the U-Net's logits; replace: it makes them",
        choices=LOW_BAND_MODES,
    )
    low_band_channels: int = _key("channels of the low-band network", min=1, max=4096)
    low_band_dilations: tuple[int, ...] = _key(
        "dilations of the low-band network's temporal stack", min=1, max=1024
    )
    train_only_low_band: bool = _key(
        "train the low-band network alone, the rest of the model frozen (batch norms included)"
    )
    calibration_singers: tuple[str, ...] = _key(
        "MIR-1K training singers kept out of training, for the calibration alone"
    )
    waveform_loss: str = _key("waveform term of the loss", choices=WAVEFORM_LOSSES)
    waveform_loss_weight: float = _key("weight of the waveform term", min=0.0, max=1000.0)
    real_pair_probability: float = _key(
        "share of examples cut from a real song's own stems (the rest: random mixes)",
        min=0.0,
        max=1.0,
    )
    pitch_shift_semitones: float = _key(
        "random mixes: voice resampled up or down by up to this many semitones (0: off)",
        min=0.0,
        max=12.0,
    )
    vocal_only_probability: float = _key(
        "share of voice-only examples (accompaniment silent; 0: off)", min=0.0, max=0.9
    )
    precision: str = _key("arithmetic of the network in training steps", choices=TRAIN_PRECISIONS)
    ema_decay: float = _key(
        "moving-average decay of the shipped weights (0: off)", min=0.0, max=0.99999
    )
    teacher_labels: Path | None = _key(  # noqa: RUF009
        "teacher-labelled songs (python -m unsing.models.teacher); null: none", path=True
    )
    validation_mir1k_clips: int = _key("MIR-1K clips validated per epoch", min=1, max=10000)
    validation_eif_seconds: float = _key(
        "seconds of the held-out track per epoch", min=1.0, max=10000.0
    )


@dataclass(frozen=True)
class Config:
    """The whole configuration."""

    audio: AudioConfig
    stft: StftConfig
    model: ModelConfig
    engine: EngineConfig
    midi: MidiConfig
    train: TrainConfig
    #: Where each ``section.key`` came from (a file or ``--set``), for messages; not a key.
    origins: Mapping[str, str] = dataclasses.field(default_factory=dict, compare=False)

    @property
    def source(self) -> str:
        """The user's config file if there is one, else the shipped ``config.yaml``."""
        return self.origins.get("", "config.yaml")

    def origin(self, key: str) -> str:
        """Where the value of dotted ``key`` (``midi.mappings[2].cc`` too) came from."""
        return _origin(self.origins, key)


def _origin(origins: Mapping[str, str], key: str) -> str:
    section_key = ".".join(key.split(".")[:2]).split("[")[0]
    return origins.get(section_key) or origins.get("", "config.yaml")


def to_jsonable(value: Any) -> Any:
    """A config (or any dataclass tree) as JSON-able data: paths as strings, inf as text."""
    if dataclasses.is_dataclass(value):
        return {
            f.name: to_jsonable(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.name != "origins"
        }
    if isinstance(value, tuple | list):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and math.isinf(value):
        return str(value)
    return value


def db_to_gain(gain_db: float) -> float:
    """Linear amplitude for a gain in dB; at or below ``MUTE_DB`` it is exactly 0."""
    return 0.0 if gain_db <= MUTE_DB else float(10.0 ** (gain_db / 20.0))


# --------------------------------------------------------------------------------------------
# Loading


def default_config_path() -> Path:
    """The shipped ``config.yaml`` (holds every default)."""
    if PROJECT_ROOT is None:
        raise ConfigError(
            "the shipped config.yaml was not found next to the unsing package; install unsing "
            "from a source checkout with `pip install -e .`"
        )
    return PROJECT_ROOT / "config.yaml"


def read_yaml(path: Path) -> dict[str, Any]:
    """Read one YAML mapping, turning every failure into a one-line ``ConfigError``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read config file: {error}") from None
    return parse_yaml_mapping(text, path)


def parse_yaml_mapping(text: str, path: Path | str) -> dict[str, Any]:
    """A YAML document that must be a mapping (empty: {}); one-line ``ConfigError`` otherwise."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping of sections, not {type(data).__name__}"
        )
    return data


def load_config(
    path: str | Path | None = None,
    overrides: Sequence[str] | Mapping[str, Any] = (),
) -> Config:
    """Load the shipped defaults, overlay a user file and overrides, validate.

    Args:
        path: a user config file overlaid on the defaults; None uses ``$UNSING_CONFIG`` if set.
        overrides: ``"section.key=value"`` strings (value parsed as YAML) or a mapping of dotted
            keys to values, applied last.

    Raises:
        ConfigError: with one line naming the key, the bad value and what is allowed.
    """
    base_path = default_config_path()
    merged = _with_base_dir(read_yaml(base_path), base_path.parent)
    _check_sections(merged, str(base_path))
    origins = _origins_of(merged, str(base_path))
    origins[""] = str(base_path)
    if path is None and os.environ.get(CONFIG_ENV_VAR):
        path = os.environ[CONFIG_ENV_VAR]
    if path is not None:
        user_path = Path(path).expanduser()
        user = read_yaml(user_path)
        _check_sections(user, str(user_path))
        merged = _overlay(merged, _with_base_dir(user, user_path.resolve().parent))
        origins.update(_origins_of(user, str(user_path)))
        origins[""] = str(user_path)
    if isinstance(overrides, Mapping):
        items = list(overrides.items())
    else:
        items = [_parse_override(text) for text in overrides]
    for dotted, value in items:
        _set_dotted(merged, dotted, value, Path.cwd())
        origins[dotted] = "command line"
    config = _build(Config, merged, "", origins)
    config = dataclasses.replace(config, origins=origins)
    check_consistency(config)
    return config


def _origins_of(data: dict[str, Any], source: str) -> dict[str, str]:
    """``{"section.key": source}`` for every key of every section in ``data``."""
    return {
        f"{section}.{key}": source
        for section, values in data.items()
        if isinstance(values, dict)
        for key in values
    }


class _PathValue(str):
    """A string from a YAML file, remembering the folder relative paths resolve against."""

    base_dir: Path

    def __new__(cls, value: str, base_dir: Path) -> _PathValue:
        instance = super().__new__(cls, value)
        instance.base_dir = base_dir
        return instance


def _with_base_dir(data: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """Tag every string with the folder of its file, so path keys resolve relative to it."""

    def tag(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: tag(item) for key, item in value.items()}
        if isinstance(value, list):
            return [tag(item) for item in value]
        if isinstance(value, str):
            return _PathValue(value, base_dir)
        return value

    return tag(data)


def _check_sections(data: dict[str, Any], source: str) -> None:
    for name, section in data.items():
        if isinstance(section, dict) or name not in _section_names():
            continue
        raise ConfigError(f"{source}: {name}: must be a mapping of keys, got {section!r}")


def _section_names() -> list[str]:
    return [f.name for f in dataclasses.fields(Config) if f.name != "origins"]


def _overlay(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge: ``top`` wins; lists are replaced whole."""
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _overlay(merged[key], value)
        else:
            merged[key] = value
    return merged


def _parse_override(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected section.key=value, e.g. stft.n_fft=2048")
    dotted, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return dotted.strip(), value


def _set_dotted(data: dict[str, Any], dotted: str, value: Any, base_dir: Path) -> None:
    parts = dotted.split(".")
    if len(parts) != 2 or not all(parts):
        raise ConfigError(
            f"override {dotted!r}: expected section.key, e.g. audio.blocksize_samples"
        )
    section, key = parts
    if section not in _section_names():
        raise ConfigError(_unknown_message(section, "", _section_names(), "override"))
    if isinstance(value, str):
        value = _PathValue(value, base_dir)
    data.setdefault(section, {})[key] = value


def _unknown_message(name: str, prefix: str, allowed: Sequence[str], source: str) -> str:
    where = f"{prefix}{name}"
    close = (
        difflib.get_close_matches(name, allowed, n=1, cutoff=0.5)
        or [a for a in allowed if a.startswith(name[:3])][:1]
    )
    hint = f"; did you mean '{prefix}{close[0]}'?" if close else ""
    return f"{source}: unknown key '{where}'{hint} (allowed: {', '.join(allowed)})"


def _build(cls: type, data: Any, prefix: str, origins: Mapping[str, str]) -> Any:
    """Build dataclass ``cls`` from ``data``, validating every field."""
    source = _origin(origins, prefix.rstrip("."))
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: {prefix.rstrip('.') or 'config'}: must be a mapping, got {data!r}"
        )
    fields = [f for f in dataclasses.fields(cls) if f.name != "origins"]
    names = [f.name for f in fields]
    for key in data:
        if key not in names:
            where = _origin(origins, f"{prefix}{key}")
            raise ConfigError(_unknown_message(str(key), prefix, names, where))
    hints = typing.get_type_hints(cls)
    values = {}
    for field in fields:
        key = f"{prefix}{field.name}"
        if field.name not in data:
            if field.default is not dataclasses.MISSING:
                values[field.name] = field.default
                continue
            raise ConfigError(f"{source}: missing key '{key}' ({field.metadata.get('doc', '')})")
        values[field.name] = _convert(hints[field.name], data[field.name], field, key, origins)
    return cls(**values)


def _convert(
    hint: Any, value: Any, field: dataclasses.Field, key: str, origins: Mapping[str, str]
) -> Any:
    """Check ``value`` against the type ``hint`` and the field's rules; return the typed value."""
    meta = field.metadata
    origin = typing.get_origin(hint)
    source = _origin(origins, key)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, f"{key}.", origins)
    if origin is tuple:  # tuple[Item, ...]
        item_type = typing.get_args(hint)[0]
        if not isinstance(value, list):
            raise ConfigError(f"{source}: {key} = {value!r}: must be a list")
        if dataclasses.is_dataclass(item_type):  # e.g. midi.mappings: may be empty
            return tuple(
                _build(item_type, item, f"{key}[{i}].", origins) for i, item in enumerate(value)
            )
        if not value and item_type is not str:  # lists of names may be empty
            raise ConfigError(f"{source}: {key} = []: must list at least one value")
        return tuple(
            _convert(item_type, item, field, f"{key}[{i}]", origins) for i, item in enumerate(value)
        )
    options = typing.get_args(hint) if origin in (typing.Union, types.UnionType) else (hint,)
    if value is None:
        if type(None) in options:
            return None
        raise ConfigError(f"{source}: {key} = null: a value is required ({_allowed(meta, hint)})")
    for option in options:
        converted = _as_type(option, value)
        if converted is not None:
            _check_rules(converted, meta, key, source, hint)
            return converted
    raise ConfigError(f"{source}: {key} = {value!r}: wrong type ({_allowed(meta, hint)})")


#: Scientific notation YAML 1.1 leaves as text, e.g. 1e-6 or -2E3.
_FLOAT_TEXT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _as_type(option: Any, value: Any) -> Any:
    """``value`` as type ``option`` if it is one (bools are never numbers), else None."""
    if option is bool:
        return value if isinstance(value, bool) else None
    if isinstance(value, bool):
        return None
    if option is int:
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return None
    if option is float:
        if isinstance(value, int | float):
            return float(value)
        # YAML 1.1 reads 1e-6 (no dot) as a string; a number is what was meant
        if isinstance(value, str) and _FLOAT_TEXT.fullmatch(value.strip()):
            return float(value)
        return None
    if option is str:
        return str(value) if isinstance(value, str) else None
    if option is Path:
        if not isinstance(value, str) or not value:
            return None
        resolved = Path(value).expanduser()
        if not resolved.is_absolute():
            resolved = getattr(value, "base_dir", Path.cwd()) / resolved
        return resolved
    return None


def _check_rules(value: Any, meta: Mapping[str, Any], key: str, source: str, hint: Any) -> None:
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
        hint_text = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"{source}: {key} = {value!r}: not allowed{hint_text} "
            f"(allowed: {', '.join(map(str, choices))})"
        )
    low, high = meta.get("min"), meta.get("max")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if (
            math.isnan(value)
            or (low is not None and value < low)
            or (high is not None and value > high)
        ):
            raise ConfigError(f"{source}: {key} = {value!r}: out of range ({_allowed(meta, hint)})")


def _allowed(meta: Mapping[str, Any], hint: Any) -> str:
    parts = []
    names = {int: "an integer", float: "a number", str: "a string", Path: "a file path"}
    options = typing.get_args(hint) or (hint,)
    kinds = [names[o] for o in options if o in names]
    if type(None) in options:
        kinds.append("null")
    if kinds:
        parts.append(" or ".join(kinds))
    if meta.get("choices") is not None:
        parts.append("one of " + ", ".join(map(str, meta["choices"])))
    low, high = meta.get("min"), meta.get("max")
    if low is not None or high is not None:
        low_text = "-inf" if low is None or low == -math.inf else f"{low:g}"
        high_text = "inf" if high is None or high == math.inf else f"{high:g}"
        parts.append(f"from {low_text} to {high_text}")
    return "allowed: " + ", ".join(parts) if parts else str(hint)


# --------------------------------------------------------------------------------------------
# Cross-field rules


def check_consistency(config: Config) -> None:
    """Rules that involve more than one key. Raises ``ConfigError`` naming the keys."""
    from unsing.stft import window_overlap_ok  # local: keeps config import light

    def fail(key: str, value: Any, problem: str) -> ConfigError:
        return ConfigError(f"{config.origin(key)}: {key} = {value!r}: {problem}")

    n_fft, hop = config.stft.n_fft, config.stft.hop_samples
    if hop > n_fft or n_fft % hop:
        raise fail(
            "stft.hop_samples",
            hop,
            f"must divide stft.n_fft = {n_fft} evenly (e.g. {n_fft // 4} or {n_fft // 2})",
        )
    if n_fft % 2:
        raise fail("stft.n_fft", n_fft, "must be even")
    if not window_overlap_ok(config.stft.window, n_fft, hop):
        raise fail(
            "stft.window",
            config.stft.window,
            f"with stft.hop_samples = {hop} the "
            f"windows do not overlap enough to reconstruct the signal; use a smaller hop",
        )
    block = config.audio.blocksize_samples
    if block % hop:
        raise fail(
            "audio.blocksize_samples",
            block,
            f"must be a multiple of stft.hop_samples = {hop} (e.g. {hop} or {2 * hop})",
        )
    if config.midi.port_pattern:
        try:
            re.compile(config.midi.port_pattern)
        except re.error as error:
            raise fail(
                "midi.port_pattern",
                config.midi.port_pattern,
                f"not a valid regular expression ({error})",
            ) from None
    _check_mappings(config.midi, config.origin("midi.mappings"))


def _check_mappings(midi: MidiConfig, src: str) -> None:
    used: dict[tuple[str, int | None, int | None], str] = {}
    for i, mapping in enumerate(midi.mappings):
        key = f"midi.mappings[{i}]"
        is_button = mapping.mode in BUTTON_MODES
        is_gain = mapping.param in GAIN_PARAMS
        if (mapping.cc is None) == (mapping.note is None):
            raise ConfigError(
                f"{src}: {key}: set exactly one of 'cc' or 'note' "
                f"(got cc={mapping.cc}, note={mapping.note})"
            )
        if mapping.note is not None and not is_button:
            raise ConfigError(
                f"{src}: {key}.mode = {mapping.mode!r}: a note can only be a "
                f"button (allowed: {', '.join(BUTTON_MODES)})"
            )
        if is_gain and is_button:
            raise ConfigError(
                f"{src}: {key}.mode = {mapping.mode!r}: {mapping.param} needs a "
                f"knob or fader mode (allowed: "
                f"{', '.join(m for m in MIDI_MODES if m not in BUTTON_MODES)})"
            )
        if not is_gain and not is_button:
            raise ConfigError(
                f"{src}: {key}.mode = {mapping.mode!r}: {mapping.param} is a "
                f"switch (allowed: {', '.join(BUTTON_MODES)})"
            )
        if is_gain:
            for name in ("curve", "min_db", "max_db"):
                if getattr(mapping, name) is None:
                    raise ConfigError(
                        f"{src}: {key}: missing key '{key}.{name}' for {mapping.param}"
                    )
            if not mapping.min_db < mapping.max_db:
                raise ConfigError(
                    f"{src}: {key}: min_db = {mapping.min_db} must be below "
                    f"max_db = {mapping.max_db}"
                )
        else:
            for name in ("curve", "min_db", "max_db", "cc_lsb"):
                if getattr(mapping, name) is not None:
                    raise ConfigError(
                        f"{src}: {key}.{name}: only gains take '{name}', "
                        f"{mapping.param} is a switch"
                    )
        if mapping.cc_lsb is not None and mapping.mode != "absolute":
            raise ConfigError(f"{src}: {key}.cc_lsb: 14-bit pairs need mode 'absolute'")
        channel = mapping.channel if mapping.channel is not None else midi.channel
        controls = [("note", mapping.note)] if mapping.note is not None else [("cc", mapping.cc)]
        if mapping.cc_lsb is not None:
            controls.append(("cc", mapping.cc_lsb))
        for kind, number in controls:
            for (used_kind, used_channel, used_number), owner in used.items():
                same_channel = None in (channel, used_channel) or channel == used_channel
                if used_kind == kind and used_number == number and same_channel:
                    raise ConfigError(f"{src}: {key}: {kind} {number} is already mapped by {owner}")
            used[(kind, channel, number)] = key
