"""The library mode of ``unsing separate``: many songs, from files and folders, in worker
processes, resumable.

``unsing separate SONG_OR_FOLDER... --out DIR`` finds the songs (folders recursively; every
file libsndfile opens; hidden files, the output folder and files that are not audio are left
out, the last counted), names each one (its file stem, made unique with its folders and then
its extension), and writes ``DIR/<name>/vocals.wav`` and ``DIR/<name>/accompaniment.wav`` (with
``--to-karaoke`` only the accompaniment) through the file pipeline
(:mod:`unsing.realtime.file_pipeline`). A song whose outputs are all there is skipped: outputs
appear only complete (written to a temporary file and renamed), so a second run resumes an
interrupted one. ``--jobs N`` worker processes (spawned; one onnxruntime thread each) take the
songs in turn; one progress bar shows songs done, hours of audio and the time left. A song that
fails is reported in one line and the run goes on; the summary says what was done and the exit
status is 1 if any song failed. Ctrl-C stops the workers between two blocks (their temporary
files removed) and exits with 130.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import multiprocessing
import os
import queue
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unsing.config import Config
from unsing.errors import INTERRUPTED, AudioFileError, UnsingError
from unsing.realtime.audio_file import (
    AtomicWriter,
    SongInfo,
    check_folder,
    check_output,
    probe_song,
)
from unsing.realtime.mask_check import MaskCheck

#: Extensions taken for audio without a look inside: a file with one that does not open is
#: a failed song (reported), while any other file that does not open is not audio (counted).
AUDIO_EXTENSIONS = frozenset(
    "wav wave bwf rf64 w64 flac ogg oga opus mp3 mp2 aif aiff aifc au snd caf sd2 voc "
    "w64 sf ircam nist sph avr paf pvf xi htk mat mat4 mat5 svx 8svx iff mpc sds wve".split()
)
#: What a song's folder holds, by kind of output.
STEM_NAMES = ("vocals", "accompaniment")
#: Seconds between two progress reports of a worker.
PROGRESS_INTERVAL_S = 0.5


# ---------------------------------------------------------------------- finding songs


@dataclass(frozen=True)
class Found:
    """A song found on the command line: its header and where it was found
    (``parts``: the argument folder's name, the sub-folders, the file name)."""

    song: SongInfo
    parts: tuple[str, ...]


@dataclass
class Scan:
    """Songs found, files that are not audio, songs that cannot be read (one line each)."""

    found: list[Found] = field(default_factory=list)
    not_audio: int = 0
    failed: list[str] = field(default_factory=list)


def _files(root: Path, exclude: Path | None) -> Iterator[Path]:
    """The files under ``root``, sorted, without hidden files and folders or ``exclude``."""
    for folder, folders, files in os.walk(root):
        here = Path(folder)
        folders[:] = sorted(
            name
            for name in folders
            if not name.startswith(".") and (exclude is None or (here / name).resolve() != exclude)
        )
        for name in sorted(files):
            if not name.startswith("."):
                yield here / name


def find_songs(paths: Sequence[Path], exclude: Path | None = None) -> Scan:
    """The songs among ``paths`` (files, and folders searched recursively), in order, each
    once; ``exclude`` (the output folder) is not searched."""
    scan = Scan()
    seen: set[Path] = set()
    exclude = exclude.resolve() if exclude is not None else None
    for path in paths:
        if path.is_dir():
            candidates = [
                (file, (path.resolve().name, *file.relative_to(path).parts))
                for file in _files(path, exclude)
            ]
        else:
            candidates = [(path, (path.name,))]
        for file, parts in candidates:
            key = file.resolve()
            if key in seen:
                continue
            seen.add(key)
            explicit = file is path
            try:
                scan.found.append(Found(probe_song(file), parts))
            except AudioFileError as error:
                if explicit or file.suffix.lower().lstrip(".") in AUDIO_EXTENSIONS:
                    scan.failed.append(str(error))
                else:
                    scan.not_audio += 1
    return scan


def song_names(found: Sequence[Found]) -> list[str]:
    """A unique folder name per song: the file's stem; where stems collide, the folders it
    was found in joined with " - " before it; then with the extension; then numbered."""

    def stem(parts: tuple[str, ...]) -> str:
        return Path(parts[-1]).stem or parts[-1]

    levels: list[Callable[[tuple[str, ...]], str]] = [
        stem,
        lambda parts: " - ".join((*parts[:-1], stem(parts))),
        lambda parts: " - ".join(parts),
    ]
    names = [stem(item.parts) for item in found]
    for level in levels[1:]:
        counts = Counter(name.casefold() for name in names)
        names = [
            level(item.parts) if counts[name.casefold()] > 1 else name
            for item, name in zip(found, names, strict=True)
        ]
    every = {name.casefold() for name in names}
    taken: set[str] = set()
    unique = []
    for name in names:
        candidate, number = name, 1
        while candidate.casefold() in taken or (number > 1 and candidate.casefold() in every):
            number += 1
            candidate = f"{name} ({number})"
        taken.add(candidate.casefold())
        unique.append(candidate)
    return unique


# ---------------------------------------------------------------------- planning


@dataclass(frozen=True)
class Job:
    """One song to separate: ``outputs`` maps each output file to its stem's name."""

    index: int
    song: SongInfo
    name: str
    outputs: tuple[tuple[Path, str], ...]

    @property
    def seconds(self) -> float:
        """The song's length."""
        return self.song.seconds


def plan(
    found: Sequence[Found],
    out_dir: Path,
    stems: Sequence[str],
    extension: str = "wav",
    overwrite: bool = False,
) -> tuple[list[Job], list[Job]]:
    """``(to_do, already_done)``: a job per song; done means every output exists (outputs
    appear only complete) and ``overwrite`` is off. Output paths are checked (writable, a
    format unsing writes, none of them an input); one-line :class:`AudioFileError` if not."""
    inputs = {item.song.path.resolve() for item in found}
    to_do: list[Job] = []
    done: list[Job] = []
    for index, (item, name) in enumerate(zip(found, song_names(found), strict=True)):
        outputs = tuple((out_dir / name / f"{stem}.{extension}", stem) for stem in stems)
        for path, _ in outputs:
            if path.resolve() in inputs:
                raise AudioFileError(f"{path}: that is an input song; choose another --out")
            check_output(path, overwrite=True)
        job = Job(index, item.song, name, outputs)
        finished = all(path.is_file() for path, _ in outputs)
        (done if finished and not overwrite else to_do).append(job)
    return to_do, done


# ---------------------------------------------------------------------- workers


@dataclass(frozen=True)
class Result:
    """What became of a job: ``status`` done, failed or stopped; ``message``: why it failed,
    or a warning about a song done."""

    index: int
    status: str
    message: str = ""
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0


class Stopped(Exception):
    """Raised inside a job when the run is being stopped."""


@dataclass
class _Worker:
    """A worker's state: the config, the mode, and stream mode's model, loaded on first use."""

    config: Config
    mode: str
    stop: Any = None
    reports: Any = None
    model: Any = None


_WORKER: _Worker | None = None


def _init_worker(
    config: Config, mode: str, stop: Any, reports: Any, counter: Any, workers: int
) -> None:
    """A worker process starts: Ctrl-C is the main process's to handle (it tells the workers
    through ``stop``), and the worker keeps to its share of the cores (:func:`share_cores`)."""
    global _WORKER
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with counter.get_lock():
        number = counter.value
        counter.value += 1
    share_cores(number, workers)
    _WORKER = _Worker(config, mode, stop, reports)


def share_cores(number: int, workers: int) -> None:
    """Keep worker ``number`` of ``workers`` to its share of this process's cores (one each
    when there are as many workers as cores), so that whatever sizes its thread pools by the
    cores it may run on (onnxruntime in offline mode) does not oversubscribe the machine."""
    try:
        cores = sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (not Linux)
        return
    if workers < 2 or len(cores) < 2:
        return
    if workers >= len(cores):
        share = [cores[number % len(cores)]]
    else:
        share = cores[number * len(cores) // workers : (number + 1) * len(cores) // workers]
    os.sched_setaffinity(0, share)


def _processor(worker: _Worker, check: MaskCheck) -> Any:
    """A song's vocals processor (stream mode's model loaded once per worker)."""
    from unsing.realtime.file_pipeline import vocals_processor

    def model() -> Any:
        if worker.model is None:
            from unsing.realtime.onnx_model import OnnxMaskModel

            worker.model = OnnxMaskModel(worker.config)
        return worker.model

    return vocals_processor(worker.config, worker.mode, model, check)


def separate_job(job: Job, worker: _Worker | None = None) -> Result:
    """Separate one song (in a worker process, or in this one with ``worker``)."""
    from unsing.realtime.file_pipeline import accompaniment_formula, run_file, vocals_formula

    worker = worker or _WORKER
    assert worker is not None, "separate_job runs in a worker (or is given one)"
    formulas = {"vocals": vocals_formula, "accompaniment": accompaniment_formula}
    last_report = 0.0

    def progress(done: int, total: int) -> None:
        nonlocal last_report
        if worker.stop is not None and worker.stop.is_set():
            raise Stopped
        now = time.monotonic()
        if worker.reports is not None and now - last_report >= PROGRESS_INTERVAL_S:
            last_report = now
            worker.reports.put((job.index, done / job.song.sample_rate_hz))

    try:
        outputs = {path: formulas[stem] for path, stem in job.outputs}
        for path in outputs:  # what a killed run left of this song
            AtomicWriter.remove_stale(path)
        check = MaskCheck(str(worker.config.model.path))
        stats = run_file(worker.config, job.song, _processor(worker, check), outputs, progress)
    except Stopped:
        return Result(job.index, "stopped")
    except AudioFileError as error:  # this song's file: reported, the run goes on
        return Result(job.index, "failed", str(error))
    except (UnsingError, KeyboardInterrupt, SystemExit):  # the model or config: every song's
        raise
    except BaseException as error:  # anything else a file can cause: reported, the run goes on
        reason = (str(error).strip().splitlines() or [""])[0]
        return Result(
            job.index, "failed", f"{job.song.path}: {type(error).__name__}: {reason}".rstrip(": ")
        )
    warning = check.warning()
    message = f"{job.song.path}: {warning}" if warning else ""
    return Result(job.index, "done", message, stats.audio_seconds, stats.wall_seconds)


# ---------------------------------------------------------------------- the run


@dataclass
class Summary:
    """Counts and times of a library run."""

    done: int = 0
    skipped: int = 0
    failed: int = 0
    not_audio: int = 0
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0
    interrupted: bool = False

    def line(self, out_dir: Path) -> str:
        """The run's last line."""
        speed = self.audio_seconds / max(self.wall_seconds, 1e-9)
        state = "interrupted: " if self.interrupted else ""
        return (
            f"unsing: {state}{self.done} separated, {self.skipped} skipped (already done), "
            f"{self.failed} failed, {self.not_audio} not audio; {hours(self.audio_seconds)} "
            f"of audio in {self.wall_seconds:.1f} s ({speed:.1f}x real time) -> {out_dir}"
        )


def hours(seconds: float, unit_of: float | None = None) -> str:
    """A length of audio: in hours, or below 0.1 h in minutes, below a minute in seconds
    (the unit chosen by ``unit_of`` when given: "2.1 of 45.0 min")."""
    reference = seconds if unit_of is None else unit_of
    if reference >= 360:
        return f"{seconds / 3600:.2f} h"
    return f"{seconds / 60:.1f} min" if reference >= 60 else f"{seconds:.1f} s"


class _Bar:
    """One rich progress bar on stderr (songs done / total, hours of audio, speed, time left)
    where stderr is a terminal, else a line per finished song (logs); nothing with ``quiet``
    but failures. Lines printed through it appear above the bar."""

    def __init__(self, songs: int, seconds: float, quiet: bool) -> None:
        from rich.console import Console

        self.songs, self.finished, self.seconds = songs, 0, seconds
        self.started = time.perf_counter()
        self.quiet = quiet
        self._bar: Any = None
        console = Console(stderr=True)
        if quiet or not console.is_terminal:
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn("songs {task.fields[songs]}"),
            BarColumn(),
            TextColumn("{task.fields[hours]}"),
            TextColumn("{task.fields[speed]}"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._task = self._bar.add_task("songs", total=max(seconds, 1e-9), **self._fields(0.0))
        self._bar.start()

    def _fields(self, done_seconds: float) -> dict[str, str]:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        return {
            "songs": f"{self.finished}/{self.songs}",
            "hours": f"{hours(done_seconds, self.seconds).split()[0]} of {hours(self.seconds)}",
            "speed": f"{done_seconds / elapsed:.1f}x",
        }

    def update(self, done_seconds: float, finished: int) -> None:
        self.finished = finished
        if self._bar is not None:
            self._bar.update(self._task, completed=done_seconds, **self._fields(done_seconds))

    def song_done(self, job: Job, result: Result) -> None:
        """A line for a finished song where there is no bar (a log)."""
        if self._bar is None and not self.quiet:
            speed = result.audio_seconds / max(result.wall_seconds, 1e-9)
            folder = job.outputs[0][0].parent
            self.print(
                f"unsing: {self.finished}/{self.songs} {job.song.path} -> {folder} "
                f"({hours(result.audio_seconds)}, {speed:.1f}x real time)"
            )

    def print(self, line: str) -> None:
        if self._bar is not None:
            self._bar.console.print(line, markup=False, highlight=False, soft_wrap=True)
        else:
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def default_jobs() -> int:
    """Worker processes by default: the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover (not Linux)
        return max(1, os.cpu_count() or 1)


def single_threaded(config: Config) -> Config:
    """``config`` with onnxruntime on one thread (each of several workers)."""
    model = dataclasses.replace(config.model, intra_op_threads=1, inter_op_threads=1)
    return dataclasses.replace(config, model=model)


class _Tracker:
    """Where the run stands: finished songs, the progress of those in flight, the bar."""

    def __init__(self, jobs: Sequence[Job], bar: _Bar, summary: Summary) -> None:
        self.jobs = {job.index: job for job in jobs}
        self.bar, self.summary = bar, summary
        self.in_flight: dict[int, float] = {}
        self.finished: set[int] = set()
        self.finished_seconds = 0.0

    def put(self, report: tuple[int, float]) -> None:
        """A worker's report ``(job index, seconds of it done)``."""
        index, seconds = report
        if index not in self.finished:
            self.in_flight[index] = seconds
            self._refresh()

    def record(self, result: Result) -> None:
        """A job ended."""
        self.in_flight.pop(result.index, None)
        if result.status == "stopped":
            return
        self.finished.add(result.index)
        self.finished_seconds += self.jobs[result.index].seconds
        if result.status == "done":
            self.summary.done += 1
            self.summary.audio_seconds += result.audio_seconds
            if result.message:  # done, with a warning
                self.bar.print(f"unsing: warning: {result.message}")
        else:
            self.summary.failed += 1
            self.bar.print(f"unsing: failed: {result.message}")
        self._refresh()
        if result.status == "done":
            self.bar.song_done(self.jobs[result.index], result)

    def _refresh(self) -> None:
        done = self.finished_seconds + sum(self.in_flight.values())
        self.bar.update(done, len(self.finished))


def _result_of(future: concurrent.futures.Future, job: Job) -> Result:
    """The job's result; an :class:`UnsingError` (the model, not the song) is raised."""
    try:
        return future.result()
    except UnsingError:
        raise
    except concurrent.futures.process.BrokenProcessPool:
        return Result(job.index, "failed", f"{job.song.path}: the worker process ended")
    except Exception as error:  # an error the worker could not send back
        return Result(job.index, "failed", f"{job.song.path}: {type(error).__name__}: {error}")


def _run_pool(
    config: Config, mode: str, jobs: Sequence[Job], workers: int, tracker: _Tracker
) -> None:
    """The jobs in ``workers`` spawned processes. On Ctrl-C, or an error that is every song's
    (the model file), tell them to stop, wait for them (each ends within a block, its
    temporary files removed), and re-raise."""
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    reports = context.Queue()
    counter = context.Value("i", 0)
    executor = concurrent.futures.ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(config, mode, stop, reports, counter, workers),
    )

    def drain() -> None:
        with contextlib.suppress(queue.Empty):
            while True:
                tracker.put(reports.get_nowait())

    futures = {executor.submit(separate_job, job): job for job in jobs}
    pending = set(futures)
    try:
        while pending:
            finished, pending = concurrent.futures.wait(
                pending, timeout=0.25, return_when=concurrent.futures.FIRST_COMPLETED
            )
            drain()
            for future in finished:
                tracker.record(_result_of(future, futures[future]))
    except (KeyboardInterrupt, UnsingError):
        stop.set()
        executor.shutdown(wait=True, cancel_futures=True)
        for future in pending:
            if future.done() and not future.cancelled():
                tracker.record(_result_of(future, futures[future]))
        raise
    finally:
        executor.shutdown(wait=True)
        reports.close()


def run_library(
    config: Config,
    paths: Sequence[Path],
    out_dir: Path,
    *,
    mode: str = "offline",
    stems: Sequence[str] = STEM_NAMES,
    extension: str = "wav",
    overwrite: bool = False,
    jobs: int | None = None,
    quiet: bool = False,
) -> int:
    """Separate every song in ``paths`` into ``out_dir``; the exit status (0, 1 if a song
    failed, 130 when interrupted). One-line :class:`UnsingError` before any work for a missing
    path, an output that cannot be written or an unusable model file."""
    started = time.perf_counter()
    for path in paths:
        if not path.exists():
            raise AudioFileError(f"{path}: no such file or folder")
    check_folder(out_dir)
    config.contract  # noqa: B018 (the model file's errors, before any work)
    scan = find_songs(paths, exclude=out_dir)
    if not scan.found and not scan.failed:
        searched = ", ".join(str(path) for path in paths)
        raise AudioFileError(
            f"{searched}: no audio files found ({scan.not_audio} other files; unsing reads "
            "what libsndfile decodes: WAV, FLAC, Ogg, MP3, AIFF, ...)"
        )
    to_do, already = plan(scan.found, out_dir, stems, extension, overwrite)
    summary = Summary(skipped=len(already), failed=len(scan.failed), not_audio=scan.not_audio)
    out_dir.mkdir(parents=True, exist_ok=True)
    workers = max(1, min(jobs or default_jobs(), len(to_do)))
    bar = _Bar(len(to_do), sum(job.seconds for job in to_do), quiet)
    tracker = _Tracker(to_do, bar, summary)
    for line in scan.failed:
        bar.print(f"unsing: failed: {line}")
    for job in to_do:
        if job.song.warning:
            bar.print(f"unsing: warning: {job.song.warning}")
    try:
        if workers == 1:
            worker = _Worker(config, mode, reports=tracker)
            for job in to_do:
                tracker.record(separate_job(job, worker))
        else:
            _run_pool(single_threaded(config), mode, to_do, workers, tracker)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        bar.close()
    summary.wall_seconds = time.perf_counter() - started
    print(summary.line(out_dir), file=sys.stderr, flush=True)
    if summary.interrupted:
        return INTERRUPTED
    return 1 if summary.failed else 0
