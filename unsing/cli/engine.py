"""``unsing run``, ``unsing play`` and ``unsing separate``: the engine's commands."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from unsing.cli.midi import open_inputs
from unsing.cli.options import add_gain_options, add_midi_options, config_from_args
from unsing.config import Config, db_to_gain
from unsing.errors import AudioSystemError

#: Where ``unsing play`` writes when there is no output device and no ``--to``.
DEFAULT_RENDER_DIR = Path("out")


def add_stream_options(parser: argparse.ArgumentParser, quiet_help: str) -> None:
    """What ``run`` and ``play`` share: gains, MIDI, ``--quiet`` and ``--stats-json``."""
    add_gain_options(parser)
    add_midi_options(parser)
    parser.add_argument("--quiet", action="store_true", help=quiet_help)
    parser.add_argument(
        "--stats-json", metavar="PATH", help="write the final statistics and latency as JSON"
    )


def open_midi(config: Config, engine: Any) -> Any:
    """MIDI inputs driving ``engine.parameters``, or None when midi.port_pattern is empty. A
    pattern matching nothing yet is reported, not an error."""
    if not config.midi.port_pattern:
        return None
    from unsing.realtime.midi_control import ControlMap

    control_map = ControlMap(config.midi, engine.parameters)
    return open_inputs(
        config, lambda message, port: control_map.handle(message), config.midi.port_pattern
    )


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the engine subcommands to ``commands`` (argparse subparsers)."""
    run = commands.add_parser(
        "run",
        parents=[common],
        help="live: line-in/mic through the vocal remover to the output device",
        description="Open a duplex stream (--input -> --output) and remove the vocal live. "
        "A status line shows levels, gains, compute time per hop, deadline misses and xruns. "
        "Ctrl-C stops cleanly.",
    )
    run.add_argument(
        "--duration", type=float, metavar="SECONDS", help="stop after this long (default: Ctrl-C)"
    )
    add_stream_options(run, "no live status line")
    run.set_defaults(handler=cmd_run)

    play = commands.add_parser(
        "play",
        parents=[common],
        help="a song file through the vocal remover, to the output device or a WAV file",
        description="Play SONG through the same engine as `unsing run`. With --to, or when "
        "there is no output device, render to a WAV file as fast as the CPU allows.",
    )
    play.add_argument("song", metavar="SONG", help="audio file (WAV, FLAC, Ogg, MP3, ...)")
    play.add_argument("--to", metavar="OUT.wav", help="render to this file instead of playing")
    play.add_argument("--loop", action="store_true", help="play the song over and over")
    add_stream_options(play, "no progress or status line")
    play.set_defaults(handler=cmd_play)

    separate = commands.add_parser(
        "separate",
        parents=[common],
        help="write a song's vocals and accompaniment as two WAV files",
        description="Write DIR/vocals.wav and DIR/accompaniment.wav at the song's sample rate, "
        "channels and length, sample-aligned with it. --mode stream runs the live engine block "
        "by block (latency compensated); --mode offline processes the whole song at once.",
    )
    separate.add_argument("song", metavar="SONG", help="audio file (WAV, FLAC, Ogg, MP3, ...)")
    separate.add_argument("--out", required=True, metavar="DIR", help="folder for the stems")
    separate.add_argument(
        "--mode", choices=("stream", "offline"), default="stream", help="default: stream"
    )
    separate.add_argument("--quiet", action="store_true", help="no progress bar")
    separate.set_defaults(handler=cmd_separate)


def load_model(config: Config) -> Any:
    """The ONNX model the configuration names, contract checked."""
    from unsing.realtime.onnx_model import OnnxMaskModel

    return OnnxMaskModel(config)


# ---------------------------------------------------------------------- status line


def _gain(value: float) -> str:
    return "muted" if value < db_to_gain(-120.0) + 1e-9 else f"{20 * np.log10(value):+.1f} dB"


def status_line(engine: Any) -> str:
    """One line: levels, gains, compute per hop, deadline misses, xruns."""
    snapshot = engine.stats.snapshot()
    peaks = snapshot["peak_dbfs"]
    parameters = engine.parameters
    hop_ms = snapshot.get("hop_ms", {})
    budget_ms = 1000.0 * engine.hop_seconds
    level = "  ".join(
        f"{name} {value:6.1f} dBFS" if value is not None else f"{name}   -inf dBFS"
        for name, value in peaks.items()
    )
    bypass = " BYPASS" if parameters.bypass else ""
    return (
        f"{level} | vocal {_gain(parameters.vocal_gain)} accomp "
        f"{_gain(parameters.accompaniment_gain)} master {_gain(parameters.master_gain)}{bypass}"
        f" | hop {hop_ms.get('p50', 0.0):.2f}/{hop_ms.get('p99', 0.0):.2f} ms p50/p99 of "
        f"{budget_ms:.1f} | misses {snapshot['deadline_misses']} | xruns {snapshot['xruns']}"
    )


def _report(stream: Any, path: str | None, extra: dict[str, Any]) -> dict[str, Any]:
    snapshot = stream.engine.stats.snapshot(reset_peaks=False)
    report = {
        "latency": stream.latency().as_dict(),
        "stats": snapshot,
        "input_device": stream.input_device.describe() if stream.input_device else None,
        "output_device": stream.output_device.describe(),
        "callback_error": stream.callback_error,
        **extra,
    }
    if path:
        Path(path).write_text(json.dumps(report, indent=2, default=float))
    return report


def _summary(report: dict[str, Any]) -> str:
    stats, latency = report["stats"], report["latency"]
    hop_ms = stats.get("hop_ms", {})
    return (
        f"unsing: {stats['callbacks']} callbacks, {stats['hops']} hops, compute per hop p50 "
        f"{hop_ms.get('p50', 0):.2f} ms, p99 {hop_ms.get('p99', 0):.2f} ms; deadline misses "
        f"{stats['deadline_misses']}, xruns {stats['xruns']}; latency "
        f"{latency['algorithmic_ms']} ms algorithmic + {latency['device_input_ms']} + "
        f"{latency['device_output_ms']} ms device = {latency['total_ms']} ms"
    )


#: the signals that end a live session as Ctrl-C does: stop, report, exit 0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _raise_keyboard_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Make Ctrl-C (SIGINT) and SIGTERM end the session cleanly (the stream stopped, the
    report written) for the duration of the block, then restore the handlers.

    Python leaves SIGINT ignored when the process starts with it ignored (a job started with
    ``&`` by a script, or under ``nohup``), and SIGTERM (a service manager's stop) would kill it
    without the report: a live engine must stop on both. Only the main thread can set handlers;
    elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.getsignal(number) for number in STOP_SIGNALS}
    for number in STOP_SIGNALS:
        signal.signal(number, _raise_keyboard_interrupt)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)


def _watch(stream: Any, quiet: bool, until: float | None, midi_watcher: Any) -> None:
    """Show the status line until the stream finishes, ``until`` passes, or Ctrl-C; report
    MIDI hot-plug events."""
    interactive = sys.stderr.isatty() and not quiet
    try:
        while stream.active and not stream.finished.is_set():
            if until is not None and time.monotonic() >= until:
                break
            for event in midi_watcher.due() if midi_watcher is not None else ():
                print(f"\nunsing: {event}", file=sys.stderr)
            if stream.callback_error:
                print(f"\nunsing: audio callback error: {stream.callback_error}", file=sys.stderr)
                stream.callback_error = ""  # reported once; keep counting silently
            if interactive:
                print("\r" + status_line(stream.engine), end="", file=sys.stderr, flush=True)
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        if interactive:
            print(file=sys.stderr)


# ---------------------------------------------------------------------- commands


def _stream_session(
    stream: Any,
    config: Config,
    args: argparse.Namespace,
    banner: Callable[[dict[str, Any]], str],
    extra: dict[str, Any],
) -> int:
    """Run ``stream`` with MIDI and the status line until it ends; report and summarise."""
    from unsing.realtime.midi_ports import MidiWatcher

    until = None if getattr(args, "duration", None) is None else time.monotonic() + args.duration
    midi_inputs = open_midi(config, stream.engine)
    try:
        with stop_on_signals(), stream:
            if not args.quiet:
                print(banner(stream.latency().as_dict()), file=sys.stderr)
            watcher = MidiWatcher(midi_inputs) if midi_inputs is not None else None
            _watch(stream, args.quiet, until, watcher)
    finally:
        if midi_inputs is not None:
            midi_inputs.close()
    report = _report(stream, args.stats_json, extra)
    print(_summary(report), file=sys.stderr)
    if stream.stop_timed_out:  # PortAudio's exit clean-up would wait on the same stream
        print(
            "unsing: the audio system did not close the stream in time; exiting without it",
            file=sys.stderr,
            flush=True,
        )
        sys.stdout.flush()
        os._exit(0)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """``unsing run``: live input through the engine."""
    from unsing.realtime.engine import SeparationEngine
    from unsing.realtime.stream import EngineStream

    config = config_from_args(args)
    engine = SeparationEngine(config, load_model(config), deadline=True)
    stream = EngineStream(config, engine)  # checks devices before anything starts

    def banner(latency: dict[str, Any]) -> str:
        device_ms = latency["device_input_ms"] + latency["device_output_ms"]
        return (
            f"unsing: live {stream.input_device.describe()} -> "
            f"{stream.output_device.describe()}; latency {latency['algorithmic_ms']} ms "
            f"algorithmic + {device_ms:.2f} ms device; Ctrl-C stops"
        )

    return _stream_session(stream, config, args, banner, {"mode": "run"})


def _has_output_device() -> bool:
    """Whether PortAudio lists any device with output channels."""
    from unsing.devices import query_devices

    try:
        return any(device.max_output_channels > 0 for device in query_devices())
    except AudioSystemError:
        return False


def cmd_play(args: argparse.Namespace) -> int:
    """``unsing play``: a song through the engine, to a device or a file."""
    from unsing.realtime.audio_file import read_song, to_engine

    config = config_from_args(args)
    song = read_song(args.song)
    model = load_model(config)
    audio = to_engine(song, config.contract.sample_rate_hz, config.contract.channels)
    target = args.to
    fallback = DEFAULT_RENDER_DIR / f"{song.path.stem}.karaoke.wav"
    chosen = config.audio.output_device is not None or config.audio.host_api is not None
    if target is None and not chosen and not _has_output_device():
        target = str(fallback)
        print(
            "unsing: no audio output device here; rendering to a file instead "
            "(`unsing devices` explains how to get one)",
            file=sys.stderr,
        )
    if target is not None:
        return _render_to_file(config, model, song, audio, Path(target), args.quiet)
    try:
        return _play_to_device(config, model, song, audio, args)
    except AudioSystemError as error:
        if chosen:  # the user named a device: its failure is the answer
            raise
        print(
            f"unsing: the default output device does not work ({error}); rendering to a "
            f"file instead",
            file=sys.stderr,
        )
        return _render_to_file(config, model, song, audio, fallback, args.quiet)


def _render_to_file(
    config: Config, model: Any, song: Any, audio: np.ndarray, target: Path, quiet: bool
) -> int:
    from unsing.realtime.audio_file import from_engine, write_wav
    from unsing.realtime.engine import SeparationEngine
    from unsing.realtime.render import render, rich_progress

    engine = SeparationEngine(config, model)
    rate = config.contract.sample_rate_hz
    update, close = rich_progress(f"{song.path.name}", rate) if not quiet else (None, None)
    started = time.perf_counter()
    try:
        output = render(engine, audio, progress=update)
    finally:
        if close is not None:
            close()
    seconds = time.perf_counter() - started
    write_wav(target, from_engine(output, rate, song), song.sample_rate_hz)
    parameters = engine.parameters
    print(
        f"unsing: wrote {target} ({song.seconds:.1f} s, vocal {_gain(parameters.vocal_gain)}, "
        f"accompaniment {_gain(parameters.accompaniment_gain)}) in {seconds:.1f} s "
        f"({song.seconds / max(seconds, 1e-9):.1f}x real time)",
        file=sys.stderr,
    )
    return 0


def _play_to_device(
    config: Config, model: Any, song: Any, audio: np.ndarray, args: argparse.Namespace
) -> int:
    from unsing.realtime.engine import SeparationEngine
    from unsing.realtime.stream import EngineStream

    engine = SeparationEngine(config, model, deadline=True)
    stream = EngineStream(config, engine, song=audio, loop=args.loop)

    def banner(latency: dict[str, Any]) -> str:
        return (
            f"unsing: playing {song.path.name} ({song.seconds:.1f} s) -> "
            f"{stream.output_device.describe()}; Ctrl-C stops"
        )

    extra = {"mode": "play", "song": str(song.path)}
    return _stream_session(stream, config, args, banner, extra)


def cmd_separate(args: argparse.Namespace) -> int:
    """``unsing separate``: vocals.wav and accompaniment.wav, aligned with the song."""
    from unsing.realtime.audio_file import from_engine, read_song, to_engine, write_wav
    from unsing.realtime.engine import SeparationEngine
    from unsing.realtime.offline import separate_offline
    from unsing.realtime.render import render, rich_progress

    config = config_from_args(args)
    song = read_song(args.song)
    model = load_model(config)
    rate, channels = config.contract.sample_rate_hz, config.contract.channels
    audio = to_engine(song, rate, channels)
    update, close = (None, None) if args.quiet else rich_progress(song.path.name, rate)
    started = time.perf_counter()
    try:
        if args.mode == "stream":
            engine = SeparationEngine(config, model, stems=True)
            stems = render(engine, audio, progress=update)
            vocals, accompaniment = stems[:, :channels], stems[:, channels:]
            compensated = engine.delay_samples
        else:
            frames_progress = None
            if update is not None:
                hop = config.contract.stft.hop_samples

                def frames_progress(done: int, total: int) -> None:
                    update(min(done * hop, audio.shape[0]), audio.shape[0])

            vocals, accompaniment = separate_offline(config, model, audio, frames_progress)
            compensated = 0
    finally:
        if close is not None:
            close()
    seconds = time.perf_counter() - started
    out_dir = Path(args.out)
    for name, stem in (("vocals", vocals), ("accompaniment", accompaniment)):
        write_wav(out_dir / f"{name}.wav", from_engine(stem, rate, song), song.sample_rate_hz)
    print(
        f"unsing: wrote {out_dir / 'vocals.wav'} and {out_dir / 'accompaniment.wav'} "
        f"({song.seconds:.1f} s at {song.sample_rate_hz} Hz, {song.channels} ch; mode "
        f"{args.mode}, {compensated} samples of engine latency compensated) in {seconds:.1f} s "
        f"({song.seconds / max(seconds, 1e-9):.1f}x real time)",
        file=sys.stderr,
    )
    return 0
