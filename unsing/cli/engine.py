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
from unsing.cli.options import (
    add_gain_options,
    add_gate_option,
    add_mic_options,
    add_midi_options,
    config_from_args,
    positive_seconds,
)
from unsing.config import Config, db_to_gain
from unsing.errors import INTERRUPTED, AudioFileError, AudioSystemError

#: Where ``unsing play`` writes when there is no output device and no ``--to``.
DEFAULT_RENDER_DIR = Path("out")


def add_stream_options(parser: argparse.ArgumentParser, quiet_help: str) -> None:
    """What ``run`` and ``play`` share: gains, the microphone, MIDI, ``--quiet`` and
    ``--stats-json``."""
    add_gain_options(parser)
    add_mic_options(parser)
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
        "--duration",
        type=positive_seconds,
        metavar="SECONDS",
        help="stop after this long (default: Ctrl-C)",
    )
    add_stream_options(run, "no live status line")
    run.set_defaults(handler=cmd_run)

    play = commands.add_parser(
        "play",
        parents=[common],
        help="a song file through the vocal remover, to the output device or a file",
        description="Play SONG through the same engine as `unsing run`. With --to, or when "
        "there is no output device, render to a file as fast as the CPU allows, in blocks, at "
        "the song's rate: master * (vocal gain * vocals + accompaniment gain * (song - "
        "vocals)), so content above the model's band follows the accompaniment gain.",
    )
    play.add_argument("song", metavar="SONG", help="audio file (WAV, FLAC, Ogg, MP3, ...)")
    play.add_argument(
        "--to",
        metavar="OUT.wav",
        help="render to this file instead of playing (.wav: 32-bit float, .flac: 24-bit, "
        ".ogg: Vorbis)",
    )
    play.add_argument("--loop", action="store_true", help="play the song over and over")
    play.add_argument(
        "--overwrite", action="store_true", help="replace the file --to names if it exists"
    )
    add_stream_options(play, "no progress or status line")
    play.set_defaults(handler=cmd_play)

    separate = commands.add_parser(
        "separate",
        parents=[common],
        help="write songs' vocals and accompaniment: one song, or a whole library",
        description="One song file (exactly one SONG given): write DIR/vocals.wav and "
        "DIR/accompaniment.wav. Several songs or folders (searched recursively for every file "
        "libsndfile reads): write "
        "DIR/<song>/vocals.wav and DIR/<song>/accompaniment.wav, <song> being the file's name "
        "without extension (with its folders where two share a name), in --jobs worker "
        "processes; songs already done are skipped, so an interrupted run resumes; a song that "
        "fails is reported and the run goes on (exit status 1). Stems are at the song's sample "
        "rate, channels and length, sample-aligned with it, and add up to it (accompaniment = "
        "song - vocals, exact to float32 rounding in WAV): content above the model's band "
        "(e.g. above 22.05 kHz in a 96 kHz song) goes to the accompaniment. Memory stays flat "
        "whatever the length.",
    )
    separate.add_argument(
        "songs", nargs="+", metavar="SONG_OR_FOLDER", help="audio files and folders of them"
    )
    separate.add_argument("--out", required=True, metavar="DIR", help="folder for the stems")
    separate.add_argument(
        "--mode",
        choices=("offline", "stream"),
        default=None,
        help="offline: the model's sequence graph, many frames per call (about 6x faster); "
        "stream: the live engine hop by hop, its delay compensated, each frame with its own "
        "mask. Default: offline, or stream for a model exported without a sequence graph",
    )
    separate.add_argument(
        "--to-karaoke",
        action="store_true",
        help="write only the karaoke track (accompaniment.wav), no vocals",
    )
    separate.add_argument(
        "--format",
        default="wav",
        metavar="EXT",
        help="wav (32-bit float, default), flac (24-bit) or ogg (Vorbis)",
    )
    separate.add_argument(
        "--overwrite",
        action="store_true",
        help="one song: replace existing stems; several: redo songs already done",
    )
    separate.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="worker processes for several songs (default: the cores)",
    )
    add_gate_option(separate)
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
    """One line: levels (the microphone's too), gains, key, compute per hop, deadline misses,
    xruns."""
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
    mic = ""
    if "mic" in peaks:  # the microphone: its gain, reverb, and the guide's ducking
        mic = f" mic {_gain(parameters.mic_gain)}"
        if parameters.mic_reverb > 0:
            mic += f" reverb {parameters.mic_reverb:.2f}"
        if parameters.duck:
            mic += " duck" + (" ON" if engine.smoother.duck_amount >= 0.5 else "")
    gate = ""
    if parameters.a_cappella_gate:  # the a cappella gate, and how far it is closed
        gate_gain = engine.gate_gain
        closed = gate_gain < 0.89  # (below -1 dB)
        gate = " gate" + (f" {20 * np.log10(gate_gain):.0f} dB" if closed else "")
    key = parameters.effective_key()
    key_text = f" key {key:+.2f}".rstrip("0").rstrip(".") if key else ""
    return (
        f"{level} | vocal {_gain(parameters.vocal_gain)} accomp "
        f"{_gain(parameters.accompaniment_gain)} master {_gain(parameters.master_gain)}"
        f"{gate}{mic}{key_text}{bypass}"
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
        write_json(path, report)
    return report


def write_json(path: str | Path, data: dict[str, Any]) -> None:
    """``data`` as indented JSON in ``path``, its folder made if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=float))


def _summary(report: dict[str, Any]) -> str:
    stats, latency = report["stats"], report["latency"]
    hop_ms = stats.get("hop_ms", {})
    return (
        f"unsing: {stats['callbacks']} callbacks, {stats['hops']} hops, compute per hop p50 "
        f"{hop_ms.get('p50', 0):.2f} ms, p99 {hop_ms.get('p99', 0):.2f} ms; deadline misses "
        f"{stats['deadline_misses']}, xruns {stats['xruns']}; latency "
        f"{latency['algorithmic_ms']} ms algorithmic + {latency['device_input_ms']} + "
        f"{latency['device_output_ms']} ms device = {latency['total_ms']} ms"
        + _model_resets_warning(stats)
    )


def _model_resets_warning(stats: dict[str, Any]) -> str:
    """A live session's masks that were not finite (the engine reset the model and kept the
    previous mask each time), as a second line, or nothing."""
    resets = stats.get("model_resets", 0)
    if not resets:
        return ""
    return (
        f"\nunsing: warning: the model's mask was NaN or infinite on {resets} of "
        f"{stats.get('model_runs', 0)} runs (the previous mask was kept): check the model file"
    )


#: the signals that end a session as Ctrl-C does: stop, report, exit status 130
#: (:data:`INTERRUPTED`), live or rendering alike
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: What :func:`_watch` returns when Ctrl-C or SIGTERM ended the session.
INTERRUPTED_BY_USER = "interrupted"


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


#: A running stream whose callbacks stop for this long has lost its device or server.
STALL_S = 2.0


def _watch(stream: Any, quiet: bool, until: float | None, midi_watcher: Any) -> str | None:
    """Show the status line until the stream finishes, ``until`` passes, Ctrl-C, or the audio
    system fails; report MIDI hot-plug events.

    Returns None (finished, or ``until``), :data:`INTERRUPTED_BY_USER` (Ctrl-C or SIGTERM), or
    a one-line reason when the stream stopped on its own (the JACK server or the device went
    away) or its callbacks stopped coming for :data:`STALL_S`."""
    interactive = sys.stderr.isatty() and not quiet
    stats = stream.engine.stats
    callbacks, moved = stats.count("callbacks"), time.monotonic()
    try:
        while not stream.finished.is_set():
            now = time.monotonic()
            if until is not None and now >= until:
                return None
            if not stream.active:
                return (
                    "the audio stream stopped on its own: the audio server (JACK) or the "
                    "device went away"
                )
            if stats.count("callbacks") != callbacks:
                callbacks, moved = stats.count("callbacks"), now
            elif now - moved >= STALL_S:
                return (
                    f"no audio callback for {now - moved:.1f} s: the audio device or server "
                    "stopped delivering audio"
                )
            for event in midi_watcher.due() if midi_watcher is not None else ():
                print(f"\nunsing: {event}", file=sys.stderr)
            if stream.callback_error:
                print(f"\nunsing: audio callback error: {stream.callback_error}", file=sys.stderr)
                stream.callback_error = ""  # reported once; keep counting silently
            if interactive:
                print("\r" + status_line(stream.engine), end="", file=sys.stderr, flush=True)
            time.sleep(0.2)
    except KeyboardInterrupt:
        return INTERRUPTED_BY_USER
    finally:
        if interactive:
            print(file=sys.stderr)
    return None


# ---------------------------------------------------------------------- commands


def _stream_session(
    stream: Any,
    config: Config,
    args: argparse.Namespace,
    banner: Callable[[dict[str, Any]], str],
    extra: dict[str, Any],
) -> int:
    """Run ``stream`` with MIDI and the status line until it ends; report and summarise.
    Exit status 0, :data:`INTERRUPTED` when Ctrl-C or SIGTERM stopped it, or 1 (with one
    error line after the summary) when the audio system failed under it."""
    from unsing.realtime.midi_ports import MidiWatcher

    until = None if getattr(args, "duration", None) is None else time.monotonic() + args.duration
    midi_inputs = open_midi(config, stream.engine)
    ended = None
    try:
        with stop_on_signals(), stream:
            if not args.quiet:
                print(banner(stream.latency().as_dict()), file=sys.stderr)
            watcher = MidiWatcher(midi_inputs) if midi_inputs is not None else None
            ended = _watch(stream, args.quiet, until, watcher)
    finally:
        if midi_inputs is not None:
            midi_inputs.close()
    report = _report(stream, args.stats_json, extra | {"fault": _fault(ended)})
    print(_summary(report), file=sys.stderr)
    status = 0 if ended is None else INTERRUPTED if ended == INTERRUPTED_BY_USER else 1
    if status == 1:
        print(f"unsing: error: {ended}", file=sys.stderr)
    if stream.stop_timed_out:  # PortAudio's exit clean-up would wait on the same stream
        if status != 1:  # (after a fault the error line says why)
            print(
                "unsing: the audio system did not close the stream in time; exiting without it",
                file=sys.stderr,
                flush=True,
            )
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(status)
    return status


def _fault(ended: str | None) -> str | None:
    """What ended a session, for its report: the audio system's fault, or None."""
    return None if ended in (None, INTERRUPTED_BY_USER) else ended


def cmd_run(args: argparse.Namespace) -> int:
    """``unsing run``: live input through the engine."""
    from unsing.realtime.engine import SeparationEngine
    from unsing.realtime.stream import EngineStream

    config = config_from_args(args).with_key_shifter(song_from_file=False)
    if args.stats_json:  # a report that cannot be written fails now, not after the session
        from unsing.realtime.audio_file import check_plain_output

        check_plain_output(args.stats_json)
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
    from unsing.realtime.audio_file import check_output, check_plain_output, probe_song

    config = config_from_args(args).with_key_shifter(song_from_file=True)
    info = probe_song(args.song)
    if info.warning:
        print(f"unsing: warning: {info.warning}", file=sys.stderr)
    target = Path(args.to) if args.to is not None else None
    fallback = DEFAULT_RENDER_DIR / f"{info.path.stem}.karaoke.wav"
    chosen = config.audio.output_device is not None or config.audio.host_api is not None
    if target is not None:
        check_output(target, [info.path], args.overwrite)
    if args.stats_json:
        check_plain_output(args.stats_json, [info.path, *([target] if target else [])])
    model = load_model(config)  # a broken model file: one line, before anything else
    if target is None and not chosen and not _has_output_device():
        check_output(fallback, [info.path], args.overwrite)
        target = fallback
        print(
            "unsing: no audio output device here; rendering to a file instead "
            "(`unsing devices` explains how to get one)",
            file=sys.stderr,
        )
    if target is not None:
        _note_no_mic(config)
        return _render_to_file(config, model, info, target, args.quiet, args.stats_json)
    from unsing.realtime.audio_file import read_song, to_engine

    song = read_song(args.song)
    audio = to_engine(song, config.contract.sample_rate_hz, config.contract.channels)
    try:
        return _play_to_device(config, model, song, audio, args)
    except AudioSystemError as error:
        if chosen:  # the user named a device: its failure is the answer
            raise
        check_output(fallback, [info.path], args.overwrite)
        print(
            f"unsing: the default output device does not work ({error}); rendering to a "
            f"file instead",
            file=sys.stderr,
        )
        _note_no_mic(config)
        return _render_to_file(config, model, info, fallback, args.quiet, args.stats_json)


def _note_no_mic(config: Config) -> None:
    """A rendered file has no live microphone: say so when one is configured."""
    if config.audio.mic_channel is not None:
        print(
            "unsing: note: the microphone (--mic, audio.mic_channel) is live only; the file "
            "gets the karaoke mix without it",
            file=sys.stderr,
        )


def _file_progress(name: str, rate: int, quiet: bool) -> tuple[Any, Callable[[], None]]:
    """A progress bar over a song's samples where stderr is a terminal (else nothing):
    ``(update, close)``."""
    from unsing.realtime.render import rich_progress

    if quiet or not sys.stderr.isatty():
        return None, lambda: None
    return rich_progress(name, rate)


def _render_to_file(
    config: Config, model: Any, song: Any, target: Path, quiet: bool, stats_json: str | None
) -> int:
    """``play --to``: the karaoke mix through the file pipeline, at the song's rate."""
    from unsing.realtime.engine import SeparationEngine
    from unsing.realtime.file_pipeline import (
        engine_output,
        mix_formula,
        processed_formula,
        run_file,
        vocals_processor,
    )
    from unsing.realtime.gains import LiveParameters
    from unsing.realtime.mask_check import MaskCheck

    parameters = LiveParameters.from_config(config)
    check = MaskCheck(str(config.model.path))
    engine = None
    # Griffin-Lim resynthesises the mix, a key change shifts it in the engine's STFT: both
    # need the engine's own mix
    own_mix = {
        "griffin_lim": config.engine.resynthesis == "griffin_lim",
        "key change": config.engine.key_total_semitones != 0.0,
    }
    if any(own_mix.values()):
        # pipelined: the model in a worker thread while this one runs the other stages
        # (bitwise the same output); its thread stops with the render
        engine = SeparationEngine(config, model, parameters, pipelined=True)
        processor, formula, source = (
            lambda blocks: engine_output(engine, blocks),
            processed_formula,
            f"the live engine's mix ({', '.join(k for k, v in own_mix.items() if v)})",
        )
    else:
        processor = vocals_processor(config, "offline", lambda: model, check)
        formula = mix_formula(
            parameters.vocal_gain, parameters.accompaniment_gain, parameters.master_gain
        )
        source = "offline vocals, mixed at the song's rate"
    update, close = _file_progress(song.path.name, song.sample_rate_hz, quiet)
    try:
        stats = run_file(config, song, processor, {target: formula}, update)
    finally:
        close()
        if engine is not None:
            engine.close()
    stats.extra = {
        "mode": "render",
        "source": source,
        "gains": parameters.as_dict(),
        **({"engine": engine.stats.snapshot(reset_peaks=False)} if engine is not None else {}),
    }
    if stats_json:
        write_json(stats_json, stats.as_dict())
    print(
        f"unsing: wrote {target} ({stats.audio_seconds:.1f} s, vocal "
        f"{_gain(parameters.vocal_gain)}, accompaniment {_gain(parameters.accompaniment_gain)}) "
        f"in {stats.wall_seconds:.1f} s ({stats.real_time_factor:.1f}x real time)",
        file=sys.stderr,
    )
    _warn_masks(check)
    return 0


def _warn_masks(check: Any) -> None:
    """The model's replaced masks, if any, as a warning line."""
    warning = check.warning()
    if warning:
        print(f"unsing: warning: {warning}", file=sys.stderr)


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
    """``unsing separate``: one song's stems, or a library's."""
    from unsing.realtime.audio_file import ALLOWED_OUTPUTS, OUTPUT_FORMATS
    from unsing.realtime.library import STEM_NAMES, run_library

    config = config_from_args(args)
    args.mode = separation_mode(config, args.mode)
    extension = args.format.lower().lstrip(".")
    if extension not in OUTPUT_FORMATS:
        raise AudioFileError(f"--format {args.format}: unsing writes {ALLOWED_OUTPUTS}")
    stems = ("accompaniment",) if args.to_karaoke else STEM_NAMES
    paths = [Path(path) for path in args.songs]
    out_dir = Path(args.out)
    if args.jobs is not None and args.jobs < 1:
        raise AudioFileError(f"--jobs {args.jobs}: at least 1")
    with stop_on_signals():  # Ctrl-C or SIGTERM, even where SIGINT was ignored: exit 130
        if len(paths) == 1 and not paths[0].is_dir():
            return _separate_song(config, args, paths[0], out_dir, stems, extension)
        return run_library(
            config,
            paths,
            out_dir,
            mode=args.mode,
            stems=stems,
            extension=extension,
            overwrite=args.overwrite,
            jobs=args.jobs,
            quiet=args.quiet,
        )


def separation_mode(config: Config, asked: str | None) -> str:
    """``--mode``, or by default ``offline`` where the model has a sequence graph and
    ``stream`` (with a note on stderr) where it has none."""
    from unsing.realtime.sequence_model import sequence_graph_path

    if asked is not None:
        return asked
    config.contract  # noqa: B018 (a broken model file is its own one-line error, first)
    if sequence_graph_path(config.model.path).is_file():
        return "offline"
    print(
        f"unsing: {config.model.path.name} has no sequence graph: separating in stream mode "
        "(`unsing export` writes one for the faster offline mode)",
        file=sys.stderr,
    )
    return "stream"


def _separate_song(
    config: Config,
    args: argparse.Namespace,
    path: Path,
    out_dir: Path,
    stems: tuple[str, ...],
    extension: str,
) -> int:
    """One song: ``DIR/vocals.EXT`` and ``DIR/accompaniment.EXT``."""
    from unsing.realtime.audio_file import check_output, probe_song
    from unsing.realtime.file_pipeline import (
        accompaniment_formula,
        run_file,
        vocals_formula,
        vocals_processor,
    )
    from unsing.realtime.mask_check import MaskCheck

    song = probe_song(path)
    if song.warning:
        print(f"unsing: warning: {song.warning}", file=sys.stderr)
    formulas = {"vocals": vocals_formula, "accompaniment": accompaniment_formula}
    outputs = {out_dir / f"{stem}.{extension}": formulas[stem] for stem in stems}
    for target in outputs:
        check_output(target, [song.path], args.overwrite)
    check = MaskCheck(str(config.model.path))
    processor = vocals_processor(config, args.mode, lambda: load_model(config), check)
    update, close = _file_progress(song.path.name, song.sample_rate_hz, args.quiet)
    try:
        stats = run_file(config, song, processor, outputs, update)
    finally:
        close()
    print(
        f"unsing: wrote {' and '.join(str(target) for target in outputs)} "
        f"({stats.audio_seconds:.1f} s at {song.sample_rate_hz} Hz, {song.channels} ch; mode "
        f"{args.mode}) in {stats.wall_seconds:.1f} s ({stats.real_time_factor:.1f}x real time)",
        file=sys.stderr,
    )
    _warn_masks(check)
    return 0
