"""The ``unsing`` command line.

User mistakes (a bad config, no such device, no audio system, a broken model file) end with
one line on stderr and exit status 1, never a traceback. Exit status 2 is a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from unsing import __version__
from unsing.cli_engine import gain_overrides
from unsing.cli_engine import register as register_engine_commands
from unsing.cli_midi import register as register_midi_commands
from unsing.config import Config, db_to_gain, load_config, to_jsonable
from unsing.errors import AudioSystemError, ModelFileError, UnsingError
from unsing.latency import Latency


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
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
        help="override one config key, e.g. --set stft.n_fft=2048 (repeatable)",
    )
    group.add_argument("--input", metavar="DEV", help="input device: index or name substring")
    group.add_argument("--output", metavar="DEV", help="output device: index or name substring")
    group.add_argument("--host-api", metavar="NAME", help="host API substring, e.g. JACK")
    group.add_argument(
        "--blocksize",
        type=int,
        metavar="SAMPLES",
        help="samples per audio callback (a multiple of stft.hop_samples)",
    )
    group.add_argument("--model", metavar="PATH", help="ONNX model file")

    parser = argparse.ArgumentParser(
        prog="unsing",
        description="Live karaoke vocal remover: removes the lead vocal in real time; MIDI "
        "knobs set how much vocal and accompaniment come through.",
    )
    parser.add_argument("--version", action="version", version=f"unsing {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

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

    register_engine_commands(commands, common)
    register_midi_commands(commands, common)

    train = commands.add_parser(
        "train",
        parents=[common],
        help="train the U-Net (needs the train extra: torch)",
        description="Train the U-Net on the audio under train.data_root; settings come from the "
        "train section of config.yaml. Distributed: torchrun --nproc_per_node N -m "
        "unsing.models.train [same options].",
    )
    train.add_argument(
        "--name", metavar="NAME", help="run folder under train.runs_dir (default: a timestamp)"
    )
    train.add_argument("--resume", action="store_true", help="continue the run from last.pt")
    train.add_argument(
        "--max-steps", type=int, metavar="N", help="stop after N optimizer steps (smoke tests)"
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument(
        "--init",
        metavar="CHECKPOINT",
        help="fine-tune: start from this checkpoint's weights with a fresh schedule",
    )
    train.set_defaults(handler=cmd_train)

    export = commands.add_parser(
        "export",
        help="export a checkpoint to ONNX (streaming + window graphs), check parity",
        description="Writes MODEL.onnx (streaming graph: one frame + state per hop) and "
        "MODEL.window.onnx (window graph), the model contract in their metadata, and "
        "checks PyTorch vs onnxruntime parity on random input and real audio.",
    )
    export.add_argument("checkpoint", metavar="CHECKPOINT.pt")
    export.add_argument("-o", "--out", required=True, metavar="MODEL.onnx")
    export.add_argument(
        "--audio",
        metavar="FILE",
        help="real audio for the parity check (default: the demo song if found)",
    )
    export.set_defaults(handler=cmd_export)
    return parser


def cmd_export(args: argparse.Namespace) -> int:
    """``unsing export``: checkpoint -> ONNX graphs, parity printed; exit 1 if it fails."""
    try:
        from unsing.export.export_checkpoint import export_checkpoint
    except ImportError as error:
        raise UnsingError(
            f"export needs torch and onnx ({error}); install the train extra: "
            f"`.venv/bin/pip install -e '.[train]'`"
        ) from None
    checkpoint = Path(args.checkpoint)
    if not checkpoint.is_file():
        raise UnsingError(f"{checkpoint}: checkpoint not found")
    audio = Path(args.audio) if args.audio else _default_parity_audio()
    report = export_checkpoint(checkpoint, Path(args.out), audio)
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


def _default_parity_audio() -> Path | None:
    from unsing import PROJECT_ROOT

    for candidate in sorted(((PROJECT_ROOT or Path.cwd()) / "assets").rglob("*.ogg")):
        return candidate
    return None


def cmd_train(args: argparse.Namespace) -> int:
    """``unsing train``: train the U-Net."""
    config = config_from_args(args)
    try:
        from unsing.models.train import run_from_args
    except ImportError as error:
        raise UnsingError(
            f"training needs torch ({error}); install the train extra: "
            f"`.venv/bin/pip install -e '.[train]'`"
        ) from None
    return run_from_args(config, args)


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
    config = load_config(
        args.config, overrides + [f"{k}={_yaml_scalar(v)}" for k, v in extra.items()]
    )
    return config


def _yaml_scalar(value: Any) -> str:
    """A value as YAML text that parses back to the same string or number."""
    return json.dumps(value) if isinstance(value, str) else str(value)


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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``unsing`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except UnsingError as error:
        print(f"unsing: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("unsing: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
