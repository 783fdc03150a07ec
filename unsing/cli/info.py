"""``unsing info`` and ``unsing devices``: the configuration, the model contract, the latency
and the audio devices."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from unsing import __version__
from unsing.cli.options import config_from_args
from unsing.config import Config, db_to_gain, to_jsonable
from unsing.errors import AudioSystemError, ModelFileError
from unsing.latency import Latency


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
    info.add_argument("--hops", type=int, default=2000, help="hops to time with --bench")
    info.set_defaults(handler=cmd_info)


def cmd_devices(args: argparse.Namespace) -> int:
    """``unsing devices``: list PortAudio devices."""
    from unsing.devices import NO_DEVICES_HELP, format_device_table, query_devices

    devices = query_devices()
    if args.host_api:
        devices = [d for d in devices if args.host_api.lower() in d.host_api.lower()]
    if args.json:
        print(json.dumps([d.as_dict() for d in devices], indent=2))
    else:
        print(format_device_table(devices) if devices else f"unsing: {NO_DEVICES_HELP}")
    return 0 if devices else 1


def cmd_info(args: argparse.Namespace) -> int:
    """``unsing info``: configuration, model contract and latency."""
    from unsing.model_file import read_model_info

    config = config_from_args(args)
    latency = Latency.from_config(config)
    model_path = Path(args.model_path) if args.model_path else config.model.path
    model: dict[str, Any] = {"path": str(model_path)}
    try:
        model_info = read_model_info(model_path)
        model.update(
            contract=model_info.metadata, inputs=model_info.inputs, outputs=model_info.outputs
        )
    except ModelFileError as error:
        if args.model_path:  # the user asked about this file: a bad one is an error
            raise
        model["error"] = str(error)
    stream_devices = describe_stream_devices(config)
    if args.bench:
        model["per_hop_ms"] = bench_model(config, model_path, args.hops)
    if args.json:
        report = {
            "unsing_version": __version__,
            "config": to_jsonable(config),
            "latency": latency.as_dict(),
            "model": model,
            "devices": stream_devices,
        }
        print(json.dumps(report, indent=2))
    else:
        print(format_info(config, latency, model, stream_devices))
    return 0


def bench_model(config: Config, model_path: Path, hops: int) -> dict[str, float]:
    """Per-hop model cost as the engine would run it (contract checked against the config)."""
    from unsing.realtime.onnx_model import OnnxMaskModel, measure_per_hop_ms

    return measure_per_hop_ms(OnnxMaskModel(config, model_path), hops)


def describe_stream_devices(config: Config) -> dict[str, str]:
    """The devices the configuration selects, or why there are none.

    Raises:
        AudioSystemError: a device was asked for by name, index or host API and is not there.
    """
    from unsing.devices import find_stream_devices, query_devices

    audio = config.audio
    asked = any(v is not None for v in (audio.input_device, audio.output_device, audio.host_api))
    try:
        input_device, output_device = find_stream_devices(audio, query_devices())
    except AudioSystemError as error:
        if asked:
            raise
        return {"error": str(error)}
    return {"input": input_device.describe(), "output": output_device.describe()}


def _or_default(value: Any, default: str = "default") -> str:
    return default if value is None else str(value)


def _gain_text(gain_db: float) -> str:
    return "muted" if db_to_gain(gain_db) == 0.0 else f"{gain_db:+.1f} dB"


def format_info(
    config: Config, latency: Latency, model: dict[str, Any], stream_devices: dict[str, str]
) -> str:
    """Human-readable ``unsing info``."""
    audio, stft, engine, midi = config.audio, config.stft, config.engine, config.midi
    hop_ms = latency.ms(stft.hop_samples)
    midi_ports = f"ports matching {midi.port_pattern!r}" if midi.port_pattern else "off"
    lines = [
        f"unsing {__version__}",
        f"config        {config.source}",
        f"audio         {audio.sample_rate_hz} Hz, {audio.channels} ch, block "
        f"{audio.blocksize_samples} samples; input {_or_default(audio.input_device)}, output "
        f"{_or_default(audio.output_device)}, host API {_or_default(audio.host_api, 'any')}",
        "              "
        + (
            f"no devices: {stream_devices['error']}"
            if "error" in stream_devices
            else f"input {stream_devices['input']}; output {stream_devices['output']}"
        ),
        f"stft          n_fft {stft.n_fft}, hop {stft.hop_samples} ({hop_ms:.2f} ms), "
        f"{stft.window} window, {stft.n_fft // 2 + 1} bins",
        f"model         {model['path']}",
        f"              context {config.model.context_frames} frames, lookahead "
        f"{config.model.lookahead_frames}, {config.model.graph} graph, threads "
        f"{config.model.intra_op_threads}/{config.model.inter_op_threads} (intra/inter)",
    ]
    if "error" in model:
        lines.append(f"              not loaded: {model['error']}")
    else:
        contract = model.get("contract") or {}
        if not contract:
            lines.append("              the file carries no contract metadata")
        for key, value in sorted(contract.items()):
            lines.append(f"              {key}: {value}")
        for kind in ("inputs", "outputs"):
            for name, shape in model.get(kind, {}).items():
                lines.append(f"              {kind[:-1]} {name}: {shape}")
    lines += [
        f"engine        {engine.resynthesis}; vocals {_gain_text(engine.vocal_gain_db)}, "
        f"accompaniment {_gain_text(engine.accompaniment_gain_db)}, master "
        f"{_gain_text(engine.master_gain_db)}; smoothing {engine.gain_smoothing_ms:g} ms; late "
        f"inference ({engine.deadline_hop_fraction * hop_ms:.2f} ms): {engine.deadline_policy}",
        f"midi          {midi_ports} ({midi.api}), channel {midi.channel or 'any'}, "
        f"{len(midi.mappings)} mappings",
        f"latency       (samples at {latency.sample_rate_hz} Hz, ms)",
    ]
    terms = [
        ("window (n_fft)", latency.window_samples),
        ("model lookahead", latency.model_lookahead_samples),
        ("Griffin-Lim lookahead", latency.griffin_lim_lookahead_samples),
        ("block buffering", latency.block_buffering_samples),
        ("algorithmic total", latency.algorithmic_samples),
    ]
    for name, samples in terms:
        lines.append(f"  {name:<24}{samples:>7}  {latency.ms(samples):7.2f} ms")
    lines.append(f"  {'+ device buffers':<24}{'':>7}  reported when a stream runs")
    if "per_hop_ms" in model:
        cost, hop_ms = model["per_hop_ms"], latency.ms(stft.hop_samples)
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
