"""What every ``unsing`` command shares: the configuration options, the config they build,
and how a command's error becomes one line on stderr.

The command modules (engine, midi, info, model) import this module; it imports none of them.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from unsing.config import MIDI_APIS, Config, load_config
from unsing.errors import INTERRUPTED, UnsingError


def common_parser() -> argparse.ArgumentParser:
    """The parent parser of the commands that load the configuration (``--config``, ``--set``,
    devices, ``--blocksize``, ``--model``)."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("configuration")
    group.add_argument(
        "--config",
        metavar="PATH",
        help="config file overlaid on the shipped config.yaml (default: $UNSING_CONFIG if set)",
    )
    group.add_argument(
        "--set",
        dest="overrides",
        metavar="SECTION.KEY=VALUE",
        action="append",
        default=[],
        help="override one config key, e.g. --set engine.vocal_gain_db=-12 (repeatable)",
    )
    group.add_argument("--input", metavar="DEV", help="input device: index or name substring")
    group.add_argument("--output", metavar="DEV", help="output device: index or name substring")
    group.add_argument("--host-api", metavar="NAME", help="host API substring, e.g. JACK")
    group.add_argument(
        "--blocksize",
        type=int,
        metavar="SAMPLES",
        help="samples per audio callback (a multiple of the model's hop)",
    )
    group.add_argument(
        "--model",
        metavar="PATH",
        help="ONNX model file to run (its file states its sample rate, STFT and context)",
    )
    return common


def positive_seconds(text: str) -> float:
    """argparse type: a finite number of seconds above zero (``nan``, ``inf``, 0 and negative
    values are a one-line usage error)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text}: must be a finite number of seconds above 0")
    return value


def whole_number(text: str) -> int:
    """argparse type: a whole number (its range: the config's check)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    value = whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: must be at least 1")
    return value


def gain_db(text: str) -> float:
    """argparse type: a gain in dB; ``-inf`` (mute) is allowed, ``nan`` and ``+inf`` are not
    (the config's range check gives the allowed span)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of dB") from None
    if math.isnan(value) or value == math.inf:
        raise argparse.ArgumentTypeError(f"{text}: not a gain in dB")
    return value


def finite_number(text: str) -> float:
    """argparse type: a finite number (its range: the config's check)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text}: must be a finite number")
    return value


def add_gain_options(parser: argparse.ArgumentParser) -> None:
    """``--vocal-db`` / ``--accompaniment-db`` / ``--master-db`` shortcuts for engine gains,
    ``--key`` / ``--tune`` for the key change, ``--gate`` for the a cappella gate."""
    parser.add_argument(
        "--vocal-db",
        type=gain_db,
        metavar="DB",
        help="vocal gain in dB (-120 or less, or -inf, mutes)",
    )
    parser.add_argument(
        "--accompaniment-db", type=gain_db, metavar="DB", help="accompaniment gain in dB"
    )
    parser.add_argument("--master-db", type=gain_db, metavar="DB", help="master gain in dB")
    parser.add_argument(
        "--key",
        type=whole_number,
        metavar="SEMITONES",
        help="key change of the output, -6..+6 semitones (engine.key_semitones)",
    )
    parser.add_argument(
        "--tune",
        type=finite_number,
        metavar="CENTS",
        help="fine tuning of the key, -50..+50 cents (engine.key_cents)",
    )
    add_gate_option(parser)


def add_gate_option(parser: argparse.ArgumentParser) -> None:
    """``--gate`` / ``--no-gate`` (engine.a_cappella_gate)."""
    parser.add_argument(
        "--gate",
        action=argparse.BooleanOptionalAction,
        help="the a cappella gate: where the karaoke track carries almost none of the sound (a "
        "voice alone), take what the mask left of the voice out of it (engine.a_cappella_gate)",
    )


def mic_spec(text: str) -> dict[str, Any]:
    """argparse type for ``--mic``: ``CHANNEL`` (of the input device), ``DEVICE`` (its first
    channel) or ``DEVICE:CHANNEL``, as the ``audio.mic_*`` keys they set."""
    text = text.strip()
    if not text:
        raise argparse.ArgumentTypeError("name a channel (e.g. 3) or a device (e.g. 'USB Mic')")
    if text.isdigit():
        return {"audio.mic_channel": int(text), "audio.mic_device": None}
    device, _, channel = text.rpartition(":")
    if device and channel.isdigit():
        return {"audio.mic_device": device, "audio.mic_channel": int(channel)}
    return {"audio.mic_device": text, "audio.mic_channel": 1}


def share(text: str) -> float:
    """argparse type: a share from 0 to 1."""
    value = finite_number(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text}: must be from 0 to 1")
    return value


def add_mic_options(parser: argparse.ArgumentParser) -> None:
    """``--mic``, ``--mic-db``, ``--reverb`` and ``--duck`` for ``run`` and ``play``."""
    parser.add_argument(
        "--mic",
        type=mic_spec,
        metavar="CHANNEL|DEVICE[:CHANNEL]",
        help="the singer's microphone, mixed in after the vocal remover: a channel of the input "
        "device (run: after the song's, e.g. 3; play: of the default input), or another input "
        "device by index or name, optionally :CHANNEL (audio.mic_channel, audio.mic_device)",
    )
    parser.add_argument(
        "--mic-db", type=gain_db, metavar="DB", help="microphone gain in dB (engine.mic_gain_db)"
    )
    parser.add_argument(
        "--reverb",
        type=share,
        metavar="SHARE",
        help="microphone reverb, wet share 0..1 (engine.mic_reverb)",
    )
    parser.add_argument(
        "--duck",
        action=argparse.BooleanOptionalAction,
        help="guide vocal: keep the vocal at --vocal-db and duck it to engine.duck_vocal_db "
        "while the singer sings (engine.duck)",
    )


def add_midi_api_option(parser: argparse.ArgumentParser) -> None:
    """``--midi-api`` (midi.api)."""
    parser.add_argument("--midi-api", choices=MIDI_APIS, help="RtMidi API (midi.api)")


def add_midi_port_option(parser: argparse.ArgumentParser, default: str = ", else all") -> None:
    """``--midi-port`` (midi.port_pattern); ``default`` ends the help's default clause."""
    parser.add_argument(
        "--midi-port",
        metavar="PATTERN",
        help=f"MIDI inputs to open: a regular expression (default midi.port_pattern{default})",
    )


def add_midi_options(parser: argparse.ArgumentParser) -> None:
    """``--midi-port`` / ``--midi-api`` for ``run`` and ``play``."""
    add_midi_port_option(parser, default="; empty: no MIDI")
    add_midi_api_option(parser)


def gain_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Config keys set by the gain, key, gate and microphone shortcuts."""
    keys = {
        "engine.vocal_gain_db": getattr(args, "vocal_db", None),
        "engine.accompaniment_gain_db": getattr(args, "accompaniment_db", None),
        "engine.master_gain_db": getattr(args, "master_db", None),
        "engine.key_semitones": getattr(args, "key", None),
        "engine.key_cents": getattr(args, "tune", None),
        "engine.mic_gain_db": getattr(args, "mic_db", None),
        "engine.mic_reverb": getattr(args, "reverb", None),
        "engine.duck": getattr(args, "duck", None),
        "engine.a_cappella_gate": getattr(args, "gate", None),
    }
    chosen = {key: value for key, value in keys.items() if value is not None}
    mic = getattr(args, "mic", None)
    return chosen | (mic or {})


def config_from_args(args: argparse.Namespace) -> Config:
    """Load the configuration with the command-line overrides applied."""
    overrides: list[str] = list(args.overrides)
    named = {
        "audio.input_device": args.input,
        "audio.output_device": args.output,
        "audio.host_api": args.host_api,
        "audio.blocksize_samples": args.blocksize,
        "model.path": args.model,
        "midi.port_pattern": getattr(args, "midi_port", None),
        "midi.api": getattr(args, "midi_api", None),
    }
    extra: dict[str, Any] = {key: value for key, value in named.items() if value is not None}
    extra.update(gain_overrides(args))
    return load_config(
        args.config, overrides + [f"{k}={_yaml_scalar(v)}" for k, v in extra.items()]
    )


def _yaml_scalar(value: Any) -> str:
    """A value as YAML text that parses back to the same string or number (YAML spells the
    infinities ``.inf`` and ``-.inf``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    return json.dumps(value) if isinstance(value, str) else str(value)


def run_handler(args: argparse.Namespace) -> int:
    """Run the parsed command's handler: a user mistake (``UnsingError``) ends as one line on
    stderr and exit status 1, Ctrl-C as status 130, never a traceback."""
    try:
        return int(args.handler(args) or 0)
    except UnsingError as error:
        print(f"unsing: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("unsing: interrupted", file=sys.stderr)
        return INTERRUPTED
