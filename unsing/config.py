"""The runtime configuration: typed, frozen, loaded from ``config.yaml``.

The shipped ``config.yaml`` (package data) holds every user default: audio devices and
blocksize, which model file and how onnxruntime runs it, the engine's resynthesis, gains and
deadline, and MIDI. A user file overlays it key by key and command-line ``--set
section.key=value`` overrides come last. Every value is type- and range-checked, unknown keys are
errors with a "did you mean", cross-field rules are checked after merging, and every error is one
line naming the file, the key, the bad value and what is allowed (machinery: ``unsing.schema``).

The model's own settings (sample rate, channels, STFT, context and look-ahead frames) are not
config keys: they come from the model file (:attr:`Config.contract`, ``unsing.contract``), and
setting one here is an error that names the model file. Training settings live in recipe files
(``unsing.models.recipe``).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unsing.contract import MODEL_OWNED_KEYS, ModelContract, read_contract
from unsing.errors import ConfigError
from unsing.schema import (
    load_tree,
    origin_of,
    parse_yaml_mapping,
    read_yaml,
    to_jsonable,
)
from unsing.schema import setting as _key
from unsing.stft import window_overlap_ok

__all__ = [
    "Config",
    "ConfigError",
    "db_to_gain",
    "default_config_path",
    "load_config",
    "parse_yaml_mapping",
    "read_yaml",
    "to_jsonable",
]

#: Environment variable naming a user config file (overlaid on the shipped defaults).
CONFIG_ENV_VAR = "UNSING_CONFIG"
#: Gains at or below this many dB are treated as silence.
MUTE_DB = -120.0

RESYNTHESIS_MODES = ("overlap_add", "griffin_lim")
DEADLINE_POLICIES = ("reuse_last_mask", "pass_through")
MODEL_GRAPHS = ("window", "streaming")
#: who changes the key: auto (``unsing run``: stft; ``unsing play``: rubberband), stft (in the
#: engine's STFT, no latency) or rubberband (Rubber Band R3 after it)
KEY_SHIFTERS = ("auto", "stft", "rubberband")
MIDI_APIS = ("auto", "alsa", "jack", "coremidi", "winmm")
MIDI_PARAMS = (
    "vocal_gain",
    "accompaniment_gain",
    "master_gain",
    "bypass",
    "karaoke_preset",
    "a_cappella_preset",
    "key",
    "key_up",
    "key_down",
    "key_reset",
    "mic_gain",
    "mic_reverb",
    "duck",
    "a_cappella_gate",
)
GAIN_PARAMS = ("vocal_gain", "accompaniment_gain", "master_gain", "mic_gain")
#: parameters a knob, fader or encoder sets (the others are buttons)
KNOB_PARAMS = (*GAIN_PARAMS, "key", "mic_reverb")
#: the key change's range, semitones
KEY_SEMITONES_RANGE = (-6, 6)
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


@dataclass(frozen=True)
class AudioConfig:
    """The audio stream (its rate and channels are the model's: ``Config.contract``)."""

    blocksize_samples: int = _key("samples per audio callback", min=16, max=16384)
    input_device: int | str | None = _key("input device index or name substring")
    output_device: int | str | None = _key("output device index or name substring")
    host_api: str | None = _key("host API name substring")
    mic_channel: int | None = _key(
        "the microphone's input channel (1 is the first; null: no microphone)", min=1, max=256
    )
    mic_device: int | str | None = _key(
        "the microphone's input device index or name substring (null: the input device)"
    )


@dataclass(frozen=True)
class ModelConfig:
    """Which ONNX model runs and how onnxruntime runs it."""

    path: Path = _key("ONNX model file", path=True)  # noqa: RUF009 - _key returns a field
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
    a_cappella_gate: bool = _key(
        "close the karaoke track when it carries almost none of the sound (a voice alone)"
    )
    a_cappella_gate_threshold_db: float = _key(
        "the karaoke track's share of the sound below which the a cappella gate closes",
        min=-30.0,
        max=0.0,
    )
    deadline_policy: str = _key("what to do when inference is late", choices=DEADLINE_POLICIES)
    deadline_hop_fraction: float = _key("inference deadline / hop period", min=0.05, max=1.0)
    model_thread: bool = _key("run the model in its own thread, one hop behind the analysis")
    key_semitones: int = _key(
        "key change of the output, semitones",
        min=KEY_SEMITONES_RANGE[0],
        max=KEY_SEMITONES_RANGE[1],
    )
    key_cents: float = _key("fine tuning of the key change, cents", min=-50.0, max=50.0)
    key_shifter: str = _key("what changes the key", choices=KEY_SHIFTERS)
    mic_gain_db: float = _key("start-up microphone gain", min=-math.inf, max=24.0)
    mic_reverb: float = _key("start-up microphone reverb, wet share", min=0.0, max=1.0)
    duck: bool = _key("duck the guide vocal while the singer sings into the microphone")
    duck_vocal_db: float = _key("guide vocal gain while ducked", min=-math.inf, max=24.0)
    duck_gate_dbfs: float = _key(
        "microphone level that opens the ducking gate", min=-100.0, max=0.0
    )
    duck_attack_ms: float = _key("ducking fade-down time constant", min=0.0, max=5000.0)
    duck_hold_ms: float = _key("ducking hold after the singer stops", min=0.0, max=10000.0)
    duck_release_ms: float = _key("ducking fade-up time constant", min=0.0, max=10000.0)

    @property
    def key_total_semitones(self) -> float:
        """The key change in semitones, fine tuning included."""
        return self.key_semitones + self.key_cents / 100.0


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
class Config:
    """The whole runtime configuration, and the contract of the model it names."""

    audio: AudioConfig
    model: ModelConfig
    engine: EngineConfig
    midi: MidiConfig
    #: Where each ``section.key`` came from (a file or ``--set``), for messages; not a key.
    origins: Mapping[str, str] = dataclasses.field(default_factory=dict, compare=False)
    #: The model's contract when given to :func:`load_config` (tests, tools); else read from
    #: ``model.path`` on first use.
    _contract: ModelContract | None = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def source(self) -> str:
        """The user's config file if there is one, else the shipped ``config.yaml``."""
        return self.origins.get("", "config.yaml")

    def origin(self, key: str) -> str:
        """Where the value of dotted ``key`` (``midi.mappings[2].cc`` too) came from."""
        return origin_of(self.origins, key)

    @property
    def contract(self) -> ModelContract:
        """The model's own settings (sample rate, channels, STFT, context, look-ahead), read
        from ``model.path`` on first use and checked against this config.

        Raises:
            ModelFileError: the model file is missing, invalid or lacks its contract.
            ConfigError: the config does not fit the model (blocksize vs the model's hop).
        """
        if self._contract is None:
            contract = read_contract(self.model.path)
            _check_against_model(self, contract)
            object.__setattr__(self, "_contract", contract)
        return self._contract  # type: ignore[return-value]

    @property
    def key_changes(self) -> bool:
        """Whether this session may change key: a key is set, or a MIDI control (on an open
        MIDI input) moves it."""
        mappings = self.midi.mappings
        keyed = bool(self.midi.port_pattern) and any(m.param.startswith("key") for m in mappings)
        return self.engine.key_total_semitones != 0.0 or keyed

    @property
    def rubberband_key_shift(self) -> bool:
        """Whether Rubber Band shifts the key (``engine.key_shifter: rubberband`` and a key
        change possible; ``auto`` counts as ``stft`` until a command resolves it)."""
        return self.engine.key_shifter == "rubberband" and self.key_changes

    def with_key_shifter(self, song_from_file: bool) -> Config:
        """``engine.key_shifter: auto`` resolved: Rubber Band R3 (better sound, 75 ms more
        latency) where the song comes from a file (``play``), the engine's own STFT shifter
        (no latency) for live input (``run``)."""
        if self.engine.key_shifter != "auto":
            return self
        shifter = "rubberband" if song_from_file else "stft"
        return dataclasses.replace(
            self, engine=dataclasses.replace(self.engine, key_shifter=shifter)
        )

    def without_key_change(self) -> Config:
        """This config with no key change (``separate``'s stems keep the song's key)."""
        engine = dataclasses.replace(
            self.engine, key_semitones=0, key_cents=0.0, key_shifter="stft"
        )
        return dataclasses.replace(self, engine=engine)

    def with_model(self, path: Path) -> Config:
        """This config running the model at ``path`` (its contract read from that file)."""
        model = dataclasses.replace(self.model, path=Path(path))
        return dataclasses.replace(self, model=model, _contract=None)


def db_to_gain(gain_db: float) -> float:
    """Linear amplitude for a gain in dB; at or below ``MUTE_DB`` it is exactly 0."""
    return 0.0 if gain_db <= MUTE_DB else float(10.0 ** (gain_db / 20.0))


# --------------------------------------------------------------------------------------------
# Loading


def default_config_path() -> Path:
    """The shipped ``config.yaml``: package data beside this module (in a checkout, a link to
    the repository's top-level ``config.yaml``, resolved so relative paths work alike)."""
    return (Path(__file__).parent / "config.yaml").resolve()


def load_config(
    path: str | Path | None = None,
    overrides: Sequence[str] | Mapping[str, Any] = (),
    contract: ModelContract | None = None,
) -> Config:
    """Load the shipped defaults, overlay a user file and overrides, validate.

    Args:
        path: a user config file overlaid on the defaults; None uses ``$UNSING_CONFIG`` if set.
        overrides: ``"section.key=value"`` strings (value parsed as YAML) or a mapping of dotted
            keys to values, applied last.
        contract: the model contract to use instead of reading ``model.path`` (tests, tools
            that run a mask model of their own).

    Raises:
        ConfigError: with one line naming the key, the bad value and what is allowed.
    """
    files = [default_config_path()]
    if path is None and os.environ.get(CONFIG_ENV_VAR):
        path = os.environ[CONFIG_ENV_VAR]
    if path is not None:
        files.append(Path(path).expanduser())
    sections, origins = load_tree(Config, files, overrides, _reject_foreign_keys)
    config = Config(**sections, origins=origins)
    check_consistency(config)
    if contract is not None:
        _check_against_model(config, contract)
        config = dataclasses.replace(config, _contract=contract)
    return config


def _reject_foreign_keys(data: dict[str, Any], origins: Mapping[str, str]) -> None:
    """Model-owned keys and training settings are not runtime config keys: one line saying
    where they live instead."""
    model = data.get("model")
    model_path = model.get("path") if isinstance(model, dict) else None
    if model_path is not None and hasattr(model_path, "base_dir"):
        model_path = model_path.base_dir / model_path
    for dotted in MODEL_OWNED_KEYS:
        section, key = dotted.split(".")
        if isinstance(data.get(section), dict) and key in data[section]:
            where = f" ({model_path})" if model_path else ""
            raise ConfigError(
                f"{origin_of(origins, dotted)}: {dotted}: set by the model file{where}, not by "
                f"the config; remove it (to run another model: --model PATH, `unsing info` "
                f"shows a model's settings)"
            )
    if "stft" in data:
        raise ConfigError(
            f"{origin_of(origins, 'stft')}: stft: the STFT is set by the model file, not by the "
            f"config; remove the section"
        )
    if "train" in data:
        raise ConfigError(
            f"{origin_of(origins, 'train')}: train: training settings live in recipe files "
            f"(models/recipes/default.yaml: `unsing train --recipe FILE`), not in the runtime "
            f"config; remove the section"
        )


# --------------------------------------------------------------------------------------------
# Cross-field rules


def check_consistency(config: Config) -> None:
    """Rules that involve more than one key. Raises ``ConfigError`` naming the keys."""

    def fail(key: str, value: Any, problem: str) -> ConfigError:
        return ConfigError(f"{config.origin(key)}: {key} = {value!r}: {problem}")

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
    audio = config.audio
    if audio.mic_device is not None and audio.mic_channel is None:
        raise fail(
            "audio.mic_device",
            audio.mic_device,
            "names the microphone's device, but audio.mic_channel is null (no microphone): "
            "set its channel (1 for the first)",
        )
    if config.engine.resynthesis == "griffin_lim" and config.engine.key_shifter != "rubberband":
        keyed = [m.param for m in config.midi.mappings if m.param.startswith("key")]
        if config.engine.key_total_semitones != 0.0 or keyed:
            what = f"midi.mappings ({keyed[0]})" if keyed else "engine.key_semitones / key_cents"
            raise ConfigError(
                f"{config.origin('engine.resynthesis')}: {what}: a key change in the STFT needs "
                "engine.resynthesis = overlap_add (Griffin-Lim makes its own phases); or set "
                "engine.key_shifter = rubberband"
            )


def _check_against_model(config: Config, contract: ModelContract) -> None:
    """Rules between the config and the model's contract."""
    hop = contract.stft.hop_samples
    block = config.audio.blocksize_samples
    if block % hop:
        raise ConfigError(
            f"{config.origin('audio.blocksize_samples')}: audio.blocksize_samples = {block}: "
            f"must be a multiple of the model's hop_samples = {hop} (e.g. {hop} or {2 * hop}; "
            f"model file {contract.source})"
        )
    if not window_overlap_ok(contract.stft.window, contract.stft.n_fft, hop):
        raise ConfigError(
            f"{contract.source}: model window {contract.stft.window} with hop {hop} does not "
            f"overlap enough to reconstruct the signal"
        )


def _check_mappings(midi: MidiConfig, src: str) -> None:
    used: dict[tuple[str, int | None, int | None], str] = {}
    for i, mapping in enumerate(midi.mappings):
        key = f"midi.mappings[{i}]"
        is_button = mapping.mode in BUTTON_MODES
        is_knob = mapping.param in KNOB_PARAMS
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
        if is_knob and is_button:
            raise ConfigError(
                f"{src}: {key}.mode = {mapping.mode!r}: {mapping.param} needs a "
                f"knob or fader mode (allowed: "
                f"{', '.join(m for m in MIDI_MODES if m not in BUTTON_MODES)})"
            )
        if not is_knob and not is_button:
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
