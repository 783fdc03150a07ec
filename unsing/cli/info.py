"""``unsing info`` and ``unsing devices``: the configuration, the model contract, the latency
and the audio devices."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from unsing import __version__
from unsing.cli.options import config_from_args, positive_int
from unsing.config import Config, db_to_gain, to_jsonable
from unsing.errors import AudioSystemError, ModelFileError
from unsing.latency import RUBBERBAND_LATENCY_MS, Latency


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``unsing devices`` and ``unsing info`` to ``commands`` (argparse subparsers)."""
    devices = commands.add_parser(
        "devices", parents=[common], help="list audio devices (host API, channels, sample rate)"
    )
    devices.add_argument("--json", action="store_true", help="print JSON")
    devices.set_defaults(handler=cmd_devices)

    info = commands.add_parser(
        "info", parents=[common], help="show the configuration, the model contract and the latency"
    )
    info.add_argument(
        "model_path",
        nargs="?",
        metavar="MODEL.onnx",
        help="model file to describe (default: model.path)",
    )
    info.add_argument("--json", action="store_true", help="print JSON")
    info.add_argument(
        "--bench",
        action="store_true",
        help="load the model as the engine does and time its per-hop cost",
    )
    info.add_argument(
        "--hops", type=positive_int, default=2000, help="hops to time with --bench (default 2000)"
    )
    info.set_defaults(handler=cmd_info)


def cmd_devices(args: argparse.Namespace) -> int:
    """``unsing devices``: list PortAudio devices."""
    from unsing.devices import NO_DEVICES_HELP, format_device_table, query_devices

    devices = query_devices()
    if args.host_api:
        devices = [d for d in devices if args.host_api.lower() in d.host_api.lower()]
    if args.json:  # JSON on stdout, always; the reason for an empty list on stderr
        print(json.dumps([d.as_dict() for d in devices], indent=2))
        if not devices:
            print(f"unsing: {NO_DEVICES_HELP}", file=sys.stderr)
    else:
        print(format_device_table(devices) if devices else f"unsing: {NO_DEVICES_HELP}")
    return 0 if devices else 1


def cmd_info(args: argparse.Namespace) -> int:
    """``unsing info``: configuration, the model's contract and the latency they imply."""
    from unsing.model_file import read_model_info

    config = config_from_args(args)
    if args.model_path:
        config = config.with_model(Path(args.model_path))
    model_path = config.model.path
    model: dict[str, Any] = {"path": str(model_path)}
    latency: Latency | None = None
    try:
        model_info = read_model_info(model_path)
        model.update(
            contract=model_info.metadata, inputs=model_info.inputs, outputs=model_info.outputs
        )
    except ModelFileError as error:
        if args.model_path:  # the user asked about this file: a missing or broken one is an error
            raise
        model["error"] = str(error)
    else:  # a readable file: describe it, and say why the engine cannot run it if it cannot
        try:
            latency = Latency.from_config(config)
        except ModelFileError as error:
            model["error"] = str(error)
    stream_devices = describe_stream_devices(config, latency is not None)
    if args.bench and latency is not None:
        model["per_hop_ms"] = bench_model(config, args.hops)
    if args.json:
        report = {
            "unsing_version": __version__,
            "config": to_jsonable(config),
            "model_settings": _contract_dict(config) if latency is not None else None,
            "latency": latency.as_dict() if latency is not None else None,
            "model": model,
            "devices": stream_devices,
        }
        print(json.dumps(report, indent=2))
    else:
        print(format_info(config, latency, model, stream_devices))
    return 0 if latency is not None or not args.bench else 1


def _contract_dict(config: Config) -> dict[str, Any]:
    """The model-owned settings, as ``unsing info --json`` shows them."""
    contract = config.contract
    return {
        "sample_rate_hz": contract.sample_rate_hz,
        "channels": contract.channels,
        "n_fft": contract.stft.n_fft,
        "hop_samples": contract.stft.hop_samples,
        "window": contract.stft.window,
        "context_frames": contract.context_frames,
        "lookahead_frames": contract.lookahead_frames,
    }


def bench_model(config: Config, hops: int) -> dict[str, float]:
    """Per-hop cost of ``config``'s model as the engine runs it."""
    from unsing.realtime.onnx_model import OnnxMaskModel, measure_per_hop_ms

    return measure_per_hop_ms(OnnxMaskModel(config), hops)


def describe_stream_devices(config: Config, model_ok: bool = True) -> dict[str, str]:
    """The devices the configuration selects for the model's channels (2 when the model
    cannot be read), or why there are none.

    Raises:
        AudioSystemError: a device was asked for by name, index or host API and is not there.
    """
    from unsing.devices import find_mic_device, find_stream_devices, query_devices

    audio = config.audio
    asked = any(
        v is not None
        for v in (audio.input_device, audio.output_device, audio.host_api, audio.mic_device)
    )
    try:
        channels = config.contract.channels if model_ok else 2
        devices = query_devices()
        input_device, output_device = find_stream_devices(audio, devices, channels)
        mic = (
            find_mic_device(audio, devices, input_device) if audio.mic_channel is not None else None
        )
    except AudioSystemError as error:
        if asked:
            raise
        return {"error": str(error)}
    described = {"input": input_device.describe(), "output": output_device.describe()}
    if mic is not None:
        described["mic"] = f"channel {audio.mic_channel} of {mic.describe()}"
    return described


def _or_default(value: Any, default: str = "default") -> str:
    return default if value is None else str(value)


def _key_text(config: Config) -> str:
    """``unchanged``, or ``+2 semitones -15 cents``, and who shifts it at what latency."""
    engine = config.engine
    semitones, cents = engine.key_semitones, engine.key_cents
    text = (
        "unchanged"
        if semitones == 0 and cents == 0.0
        else f"{semitones:+d} semitones" + (f" {cents:+g} cents" if cents else "")
    )
    stft = "in the STFT, +0 ms, long-window band off while changed"
    rubberband = f"Rubber Band R3 after the STFT, +{RUBBERBAND_LATENCY_MS:.1f} ms"
    shifter = {
        "auto": f"auto: run {stft}; play {rubberband}",
        "stft": stft,
        "rubberband": rubberband,
    }[engine.key_shifter]
    return f"{text} ({shifter})"


def _gain_text(gain_db: float) -> str:
    return "muted" if db_to_gain(gain_db) == 0.0 else f"{gain_db:+.1f} dB"


def _mic_text(config: Config) -> str:
    """The microphone line: where it is read, its gain, reverb and ducking."""
    audio, engine = config.audio, config.engine
    if audio.mic_channel is None:
        return "off (--mic CHANNEL or --mic DEVICE)"
    device = "the input device" if audio.mic_device is None else f"device {audio.mic_device!r}"
    reverb = f"reverb {engine.mic_reverb:g}" if engine.mic_reverb else "no reverb"
    duck = (
        f"guide vocal ducks to {_gain_text(engine.duck_vocal_db)} above "
        f"{engine.duck_gate_dbfs:g} dBFS (attack {engine.duck_attack_ms:g} ms, hold "
        f"{engine.duck_hold_ms:g} ms, release {engine.duck_release_ms:g} ms)"
        if engine.duck
        else "no ducking"
    )
    return (
        f"channel {audio.mic_channel} of {device}; gain {_gain_text(engine.mic_gain_db)}, "
        f"{reverb}, {duck}; mixed after the separator (device latency only)"
    )


def format_info(
    config: Config,
    latency: Latency | None,
    model: dict[str, Any],
    stream_devices: dict[str, str],
) -> str:
    """Human-readable ``unsing info`` (``latency`` None: the model could not be read)."""
    audio, engine, midi = config.audio, config.engine, config.midi
    midi_ports = f"ports matching {midi.port_pattern!r}" if midi.port_pattern else "off"
    lines = [
        f"unsing {__version__}",
        f"config        {config.source}",
        f"audio         block {audio.blocksize_samples} samples; input "
        f"{_or_default(audio.input_device)}, output {_or_default(audio.output_device)}, host "
        f"API {_or_default(audio.host_api, 'any')}",
        "              "
        + (
            f"no devices: {stream_devices['error']}"
            if "error" in stream_devices
            else f"input {stream_devices['input']}; output {stream_devices['output']}"
            + (f"; microphone {stream_devices['mic']}" if "mic" in stream_devices else "")
        ),
        f"model         {model['path']}",
        f"              {config.model.graph} graph, threads "
        f"{config.model.intra_op_threads}/{config.model.inter_op_threads} (intra/inter)",
    ]
    if latency is None:
        lines.append(f"              not usable: {model['error']}")
    else:
        contract = config.contract
        stft = contract.stft
        lines.append(
            f"              settings from the model file: {contract.sample_rate_hz} Hz, "
            f"{contract.channels} ch; STFT n_fft {stft.n_fft}, hop {stft.hop_samples} "
            f"({latency.ms(stft.hop_samples):.2f} ms), {stft.window} window, {stft.bins} bins; "
            f"context {contract.context_frames} frames, lookahead {contract.lookahead_frames}"
        )
    for key, value in sorted((model.get("contract") or {}).items()):
        lines.append(f"              {key}: {value}")
    for kind in ("inputs", "outputs"):
        for name, shape in model.get(kind, {}).items():
            lines.append(f"              {kind[:-1]} {name}: {shape}")
    deadline = (
        f" ({engine.deadline_hop_fraction * latency.ms(config.contract.stft.hop_samples):.2f} ms)"
        if latency is not None
        else ""
    )
    lines += [
        f"engine        {engine.resynthesis}; vocals {_gain_text(engine.vocal_gain_db)}, "
        f"accompaniment {_gain_text(engine.accompaniment_gain_db)}, master "
        f"{_gain_text(engine.master_gain_db)}; smoothing {engine.gain_smoothing_ms:g} ms; "
        + (
            "model thread (one hop behind); late mask: "
            if engine.model_thread
            else f"late inference{deadline}: "
        )
        + engine.deadline_policy
        + f"; key {_key_text(config)}; "
        + (
            f"a cappella gate below {engine.a_cappella_gate_threshold_db:g} dB"
            if engine.a_cappella_gate
            else "no a cappella gate"
        ),
        f"microphone    {_mic_text(config)}",
        f"midi          {midi_ports} ({midi.api}), channel {midi.channel or 'any'}, "
        f"{len(midi.mappings)} mappings",
    ]
    if latency is None:
        return "\n".join(lines)
    lines.append(f"latency       (samples at {latency.sample_rate_hz} Hz, ms)")
    terms = [
        ("window (n_fft)", latency.window_samples),
        ("model lookahead", latency.model_lookahead_samples),
        ("Griffin-Lim lookahead", latency.griffin_lim_lookahead_samples),
        ("block buffering", latency.block_buffering_samples),
        (
            "key change (Rubber Band)" if latency.key_shift_samples else "key change (STFT)",
            latency.key_shift_samples,
        ),
        ("algorithmic total", latency.algorithmic_samples),
    ]
    for name, samples in terms:
        lines.append(f"  {name:<24}{samples:>7}  {latency.ms(samples):7.2f} ms")
    lines.append(f"  {'+ device buffers':<24}{'':>7}  reported when a stream runs")
    mic = "+ device buffers (mixed in after the STFT)"
    lines.append(f"  {'microphone':<24}{0:>7}  {0:7.2f} ms  {mic}")
    if "per_hop_ms" in model:
        cost, hop_ms = model["per_hop_ms"], latency.ms(config.contract.stft.hop_samples)
        lines.append(
            f"per-hop cost  {config.model.graph} graph, {cost['hops']} hops, threads "
            f"{config.model.intra_op_threads}/{config.model.inter_op_threads}: "
            + ", ".join(
                f"{k} {cost[k]:.3f} ms ({100 * cost[k] / hop_ms:.0f}% of hop)"
                for k in ("p50", "p99", "max")
            )
        )
    lines.append(
        f"  stream delay: output sample index = input index + "
        f"{latency.stream_delay_samples} (what `separate` compensates)"
    )
    return "\n".join(lines)
