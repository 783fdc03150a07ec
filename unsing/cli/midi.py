"""``unsing midi ports | monitor | learn PARAM``."""

from __future__ import annotations

import argparse
import queue
import sys
import time
from typing import Any

from unsing.cli.options import (
    add_midi_api_option,
    add_midi_port_option,
    config_from_args,
    positive_seconds,
)
from unsing.config import GAIN_PARAMS, KNOB_PARAMS, MIDI_MODES, MIDI_PARAMS, Config
from unsing.errors import ConfigError

#: A 14-bit LSB must follow its MSB within this long to be learned as a pair.
_PAIR_WINDOW_S = 0.4


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``unsing midi`` and its subcommands."""
    midi = commands.add_parser("midi", help="MIDI inputs: list, monitor, learn a control")
    sub = midi.add_subparsers(dest="midi_command", metavar="SUBCOMMAND", required=True)
    ports = sub.add_parser("ports", parents=[common], help="list MIDI input ports")
    ports.set_defaults(handler=cmd_ports)
    add_midi_api_option(ports)

    monitor = sub.add_parser(
        "monitor", parents=[common], help="print incoming MIDI messages, decoded"
    )
    add_midi_api_option(monitor)
    add_midi_port_option(monitor)
    monitor.add_argument(
        "--duration", type=positive_seconds, metavar="SECONDS", help="stop after this long"
    )
    monitor.set_defaults(handler=cmd_monitor)

    learn = sub.add_parser(
        "learn",
        parents=[common],
        help="map the next moved control to PARAM and write it into the config file",
        description="Wait for the next moved knob, fader, encoder or pressed button and map it "
        "to PARAM in the config file (--config, else $UNSING_CONFIG, else the shipped "
        "config.yaml), keeping the file's comments and layout. The mapping replaces those of "
        "PARAM and of the same control; a file without midi.mappings gets the default "
        "mappings it inherits written out too. A 14-bit pair (CC n and n+32) is detected.",
    )
    learn.add_argument("param", choices=MIDI_PARAMS, metavar="PARAM", help=", ".join(MIDI_PARAMS))
    add_midi_api_option(learn)
    add_midi_port_option(learn)
    learn.add_argument(
        "--mode",
        choices=MIDI_MODES,
        help="how to read the control (default: absolute for gains, toggle for switches)",
    )
    learn.add_argument(
        "--timeout",
        type=positive_seconds,
        default=30.0,
        metavar="SECONDS",
        help="give up after this long without a moved control (default 30)",
    )
    learn.set_defaults(handler=cmd_learn)


def open_inputs(config: Config, handler: Any, pattern: str) -> Any:
    """MIDI inputs on ``midi.api`` matching ``pattern``, their first scan reported on stderr.

    ``--midi-api`` and ``--midi-port`` are already in ``config`` (``config_from_args``).
    """
    from unsing.realtime.midi_ports import MidiInputs

    inputs = MidiInputs(config.midi.api, pattern, handler)
    for event in inputs.open():
        print(f"unsing: {event}", file=sys.stderr)
    return inputs


def _all_by_default(config: Config) -> str:
    """``monitor`` and ``learn`` listen to every input unless a pattern is configured."""
    return config.midi.port_pattern or "."


def cmd_ports(args: argparse.Namespace) -> int:
    """``unsing midi ports``."""
    from unsing.realtime.midi_ports import list_input_ports

    config = config_from_args(args)
    api = config.midi.api
    ports = list_input_ports(api)
    if not ports:
        print(
            f"unsing: no MIDI inputs on API {api}. Plug in a controller; on a machine without "
            f"one, start a JACK server and use --midi-api jack (virtual ports appear there)"
        )
        return 1
    for index, name in enumerate(ports):
        print(f"{index:3d}  {name}")
    return 0


def cmd_monitor(args: argparse.Namespace) -> int:
    """``unsing midi monitor``: decoded messages and what the mappings make of them."""
    from unsing.realtime.gains import LiveParameters
    from unsing.realtime.midi_control import ControlMap, describe_message
    from unsing.realtime.midi_ports import MidiWatcher

    config = config_from_args(args)
    incoming: queue.SimpleQueue = queue.SimpleQueue()
    inputs = open_inputs(
        config, lambda message, port: incoming.put((message, port)), _all_by_default(config)
    )
    watcher = MidiWatcher(inputs)
    parameters = LiveParameters.from_config(config)
    control_map = ControlMap(config.midi, parameters)
    until = None if args.duration is None else time.monotonic() + args.duration
    try:
        while until is None or time.monotonic() < until:
            try:
                message, port = incoming.get(timeout=0.1)
            except queue.Empty:
                for event in watcher.due():  # hot-plug, about once a second
                    print(f"unsing: {event}", file=sys.stderr)
                continue
            before = parameters.as_dict()
            control_map.handle(message)
            after = parameters.as_dict()
            changes = [_describe_change(k, after[k]) for k in after if after[k] != before[k]]
            effect = f"  -> {', '.join(changes)}" if changes else ""
            print(f"{port}: {describe_message(message)}{effect}", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        inputs.close()
    return 0


def _describe_change(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return f"{name} {'on' if value else 'off'}"
    if value <= 0:
        return f"{name} muted"
    import math

    return f"{name} {20 * math.log10(value):+.1f} dB"


def learned_mapping(
    param: str, events: list[list[int]], mode: str | None, config: Config
) -> dict[str, Any]:
    """The mapping for ``param`` from the messages a control sent (first one decides)."""
    first = events[0]
    status, number = first[0], first[1]
    channel = (status & 0x0F) + 1
    is_note = status & 0xF0 == 0x90
    is_gain = param in GAIN_PARAMS
    if is_note and param in KNOB_PARAMS:
        raise ConfigError(
            f"{param} needs a knob, fader or encoder (a CC), but a note (key or pad) was "
            f"pressed; move a control that sends CCs"
        )
    mapping: dict[str, Any] = {"param": param}
    mapping["note" if is_note else "cc"] = number
    mapping["channel"] = channel
    if param in KNOB_PARAMS:
        mapping["mode"] = mode or "absolute"
        if mapping["mode"] == "absolute" and number < 32:
            pairs = [e for e in events[1:] if e[0] == status and e[1] == number + 32]
            if pairs:
                mapping["cc_lsb"] = number + 32
    if is_gain:
        previous = next((m for m in config.midi.mappings if m.param == param), None)
        default_curve = "audio_taper" if param == "master_gain" else "linear"
        mapping["curve"] = previous.curve if previous else default_curve
        mapping["min_db"] = float(previous.min_db) if previous else -60.0
        mapping["max_db"] = float(previous.max_db) if previous else 6.0
    elif param not in KNOB_PARAMS:  # buttons: a key step acts per press
        mapping["mode"] = mode or ("momentary" if param.startswith("key_") else "toggle")
    return mapping


def _is_control(message: list[int]) -> bool:
    if len(message) < 3 or message[0] < 0x80:
        return False
    kind = message[0] & 0xF0
    return kind == 0xB0 or (kind == 0x90 and message[2] > 0)


def cmd_learn(args: argparse.Namespace) -> int:
    """``unsing midi learn PARAM``."""
    from unsing.midi_learn_file import learn_target, write_midi_mapping

    config = config_from_args(args)
    target = learn_target(args.config)
    incoming: queue.SimpleQueue = queue.SimpleQueue()
    inputs = open_inputs(
        config, lambda message, port: incoming.put(list(message)), _all_by_default(config)
    )
    print(f"unsing: move the control for {args.param} (Ctrl-C cancels)", file=sys.stderr)
    events: list[list[int]] = []
    deadline = time.monotonic() + args.timeout
    try:
        while not events:
            if time.monotonic() > deadline:
                raise ConfigError(f"no control moved within {args.timeout:g} s; nothing changed")
            try:
                message = incoming.get(timeout=0.1)
            except queue.Empty:
                continue
            if _is_control(message):
                events.append(message)
        window = time.monotonic() + _PAIR_WINDOW_S
        while time.monotonic() < window:
            try:
                events.append(incoming.get(timeout=0.05))
            except queue.Empty:
                pass
    finally:
        inputs.close()
    mapping = learned_mapping(args.param, events, args.mode, config)
    change = write_midi_mapping(target, mapping)
    control = f"note {mapping['note']}" if "note" in mapping else f"CC {mapping['cc']}"
    if "cc_lsb" in mapping:
        control += f"/{mapping['cc_lsb']} (14-bit)"
    print(
        f"unsing: {args.param} <- {control} on channel {mapping['channel']}, mode "
        f"{mapping['mode']}; {change} in {target}"
    )
    return 0
