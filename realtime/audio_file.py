"""Songs in and out of the engine: decode, resample with soxr, channel mapping, writing.

Any file libsndfile reads (WAV, FLAC, Ogg Vorbis, MP3, AIFF, ...), at any sample rate, mono or
stereo. The engine runs at the model's sample rate and channel count (``Config.contract``): a
mono song is processed as identical left and right and written back as mono; other rates are
resampled (soxr, high quality) on the way in and back on the way out.

Whole songs in memory (:func:`read_song`, for ``unsing play`` to a device) or in blocks
(:func:`probe_song`, :func:`read_blocks`, for the file pipeline). Outputs are checked before any
work (:func:`check_output`: a format unsing writes, a writable folder, never an input, never an
existing file unless asked) and written to a hidden temporary file beside the target that is
renamed when complete (:class:`AtomicWriter`): an interrupted run leaves no file that looks done.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from unsing.errors import AudioFileError


@dataclass(frozen=True)
class Song:
    """A decoded song: ``audio`` is float32 ``(samples, channels)`` at ``sample_rate_hz``."""

    path: Path
    audio: np.ndarray
    sample_rate_hz: int

    @property
    def channels(self) -> int:
        """Channels in the file (1 or 2)."""
        return self.audio.shape[1]

    @property
    def samples(self) -> int:
        """Length in samples at the file's rate."""
        return self.audio.shape[0]

    @property
    def seconds(self) -> float:
        """Length in seconds."""
        return self.samples / self.sample_rate_hz


def read_song(path: Path | str) -> Song:
    """Decode ``path``; one-line :class:`AudioFileError` when it cannot be used."""
    import soundfile

    path = Path(path)
    require_song_file(path)
    try:
        audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as error:  # soundfile raises LibsndfileError, RuntimeError, TypeError
        reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise AudioFileError(
            f"{path}: cannot decode it as audio ({reason}); unsing reads what libsndfile "
            f"reads: WAV, FLAC, Ogg Vorbis, MP3, AIFF"
        ) from None
    if audio.shape[0] == 0:
        raise AudioFileError(f"{path}: the file holds no audio samples")
    if audio.shape[1] > 2:
        raise AudioFileError(
            f"{path}: {audio.shape[1]} channels; unsing separates mono or stereo songs "
            f"(mix it down first, e.g. `sox in.wav -c 2 out.wav`)"
        )
    if not np.isfinite(audio).all():
        raise AudioFileError(f"{path}: the file holds NaN or infinite samples")
    return Song(path, np.ascontiguousarray(audio), int(rate))


def to_engine(song: Song, sample_rate_hz: int, channels: int) -> np.ndarray:
    """The song as float32 ``(samples, channels)`` at the engine's rate and channel count."""
    import soxr

    audio = song.audio
    if song.sample_rate_hz != sample_rate_hz:
        audio = soxr.resample(audio, song.sample_rate_hz, sample_rate_hz, quality="HQ")
    if audio.shape[1] != channels:
        audio = np.repeat(audio.mean(axis=1, keepdims=True), channels, axis=1)
    return np.ascontiguousarray(audio, dtype=np.float32)


def from_engine(audio: np.ndarray, sample_rate_hz: int, song: Song) -> np.ndarray:
    """Engine output ``(samples, channels)`` back at the song's rate, channels and length."""
    import soxr

    if song.sample_rate_hz != sample_rate_hz:
        audio = soxr.resample(audio, sample_rate_hz, song.sample_rate_hz, quality="HQ")
    if audio.shape[1] != song.channels:
        audio = audio.mean(axis=1, keepdims=True)
    if audio.shape[0] >= song.samples:
        audio = audio[: song.samples]
    else:
        audio = np.concatenate([audio, np.zeros((song.samples - audio.shape[0], audio.shape[1]))])
    return np.ascontiguousarray(audio, dtype=np.float32)


def write_wav(path: Path | str, audio: np.ndarray, sample_rate_hz: int) -> Path:
    """Write float32 ``(samples, channels)`` as a 32-bit float WAV (no clipping, exact)."""
    import soundfile

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(str(path), audio, sample_rate_hz, subtype="FLOAT")
    except Exception as error:
        raise AudioFileError(f"{path}: cannot write it ({error})") from None
    return path


# ---------------------------------------------------------------------- songs in blocks


@dataclass(frozen=True)
class SongInfo:
    """A song's header: what the file pipeline needs before it reads a sample."""

    path: Path
    sample_rate_hz: int
    channels: int
    #: length in samples as the header states it (the pipeline counts what it decodes)
    frames: int
    #: a reason to warn before using the file (a WAV cut short), or None
    warning: str | None = None

    @property
    def seconds(self) -> float:
        """Length in seconds."""
        return self.frames / self.sample_rate_hz


def _reason(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else repr(error)


def _cannot_decode(path: Path, error: BaseException) -> AudioFileError:
    return AudioFileError(
        f"{path}: cannot decode it as audio ({_reason(error)}); unsing reads what libsndfile "
        f"reads: WAV, FLAC, Ogg Vorbis, MP3, AIFF"
    )


def probe_song(path: Path | str) -> SongInfo:
    """Read ``path``'s header; one-line :class:`AudioFileError` when it cannot be used."""
    import soundfile

    path = Path(path)
    require_song_file(path)
    try:
        info = soundfile.info(str(path))
    except Exception as error:  # soundfile raises LibsndfileError, RuntimeError, TypeError
        raise _cannot_decode(path, error) from None
    if info.channels > 2:
        raise AudioFileError(
            f"{path}: {info.channels} channels; unsing separates mono or stereo songs "
            f"(mix it down first, e.g. `sox in.wav -c 2 out.wav`)"
        )
    if info.frames == 0:
        raise AudioFileError(f"{path}: the file holds no audio samples")
    warning = None
    declared = declared_wav_frames(path)
    if declared is not None and declared > info.frames:
        warning = (
            f"{path}: the file is cut short: its header declares {declared / info.samplerate:.1f}"
            f" s, it holds {info.frames / info.samplerate:.1f} s; using what is there"
        )
    return SongInfo(path, int(info.samplerate), int(info.channels), int(info.frames), warning)


def require_song_file(path: Path) -> None:
    """One-line :class:`AudioFileError` unless ``path`` is a readable regular file."""
    if path.is_dir():
        raise AudioFileError(
            f"{path}: is a folder, not a song (`unsing separate FOLDER --out DIR` separates "
            "every song in a folder)"
        )
    if not path.exists():
        raise AudioFileError(f"{path}: no such file")
    if not path.is_file():
        raise AudioFileError(f"{path}: not a regular file")


def declared_wav_frames(path: Path) -> int | None:
    """Frames a RIFF/WAVE file's ``data`` chunk declares (None: not such a file, or a
    streaming header with no size); libsndfile reports only the frames present, so a file
    cut short is found by comparing the two."""
    try:
        with open(path, "rb") as file:
            head = file.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            block_align = 0
            while True:
                chunk = file.read(8)
                if len(chunk) < 8:
                    return None
                size = int.from_bytes(chunk[4:8], "little")
                if chunk[:4] == b"fmt ":
                    fmt = file.read(size + (size & 1))
                    if len(fmt) >= 14:
                        block_align = int.from_bytes(fmt[12:14], "little")
                    continue
                if chunk[:4] == b"data":
                    if not block_align or size in (0, 0xFFFFFFFF):
                        return None
                    return size // block_align
                file.seek(size + (size & 1), 1)
    except OSError:
        return None


def read_blocks(song: SongInfo, block_frames: int = 1 << 15) -> Iterator[np.ndarray]:
    """The song as float32 ``(samples, channels)`` blocks of ``block_frames`` (the last one
    shorter); one-line :class:`AudioFileError` for a file that breaks off or holds NaN/Inf."""
    import soundfile

    decoded = 0
    try:
        with soundfile.SoundFile(str(song.path)) as file:
            while True:
                try:
                    block = file.read(block_frames, dtype="float32", always_2d=True)
                except Exception as error:
                    raise AudioFileError(
                        f"{song.path}: cannot decode it after {decoded / song.sample_rate_hz:.1f} "
                        f"s ({_reason(error)})"
                    ) from None
                if block.shape[0] == 0:
                    break
                if not np.isfinite(block).all():
                    raise AudioFileError(f"{song.path}: the file holds NaN or infinite samples")
                decoded += block.shape[0]
                yield block
    except AudioFileError:
        raise
    except Exception as error:  # opening failed (the file changed since it was probed)
        raise _cannot_decode(song.path, error) from None
    if decoded == 0:
        raise AudioFileError(f"{song.path}: the file holds no audio samples")


# ---------------------------------------------------------------------- outputs

#: What unsing writes, by extension: libsndfile's format and subtype. WAV keeps float32
#: samples as they are (stems add up to the input exactly); FLAC is 24-bit; Ogg is Vorbis.
OUTPUT_FORMATS: dict[str, tuple[str, str]] = {
    "wav": ("WAV", "FLOAT"),
    "flac": ("FLAC", "PCM_24"),
    "ogg": ("OGG", "VORBIS"),
}
ALLOWED_OUTPUTS = "wav (32-bit float), flac (24-bit) or ogg (Vorbis)"


def output_format(path: Path | str) -> tuple[str, str]:
    """libsndfile's ``(format, subtype)`` for an output path, chosen by its extension; a
    one-line :class:`AudioFileError` naming the allowed extensions for any other."""
    extension = Path(path).suffix.lower().lstrip(".")
    if extension not in OUTPUT_FORMATS:
        shown = f"'.{extension}'" if extension else "no extension"
        raise AudioFileError(f"{path}: unsing cannot write {shown}; it writes {ALLOWED_OUTPUTS}")
    return OUTPUT_FORMATS[extension]


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def check_folder(folder: Path | str, target: Path | str | None = None) -> Path:
    """Check that ``folder`` exists and is writable, or can be created; creates nothing.
    One-line :class:`AudioFileError` naming ``target`` (default: the folder) otherwise."""
    folder = Path(folder)
    named = Path(target) if target is not None else folder
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        raise AudioFileError(f"{named}: cannot write there ({existing} is not a folder)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise AudioFileError(f"{named}: cannot write there ({existing} is not writable)")
    return folder


def check_output(
    path: Path | str, inputs: Iterable[Path | str] = (), overwrite: bool = False
) -> Path:
    """Check an output path before any work: a format unsing writes (by extension), a
    writable or creatable folder, none of ``inputs``, and (unless ``overwrite``) no existing
    file. One-line :class:`AudioFileError` naming the path otherwise; creates nothing."""
    import soundfile

    path = Path(path)
    audio_format, subtype = output_format(path)
    if not soundfile.check_format(audio_format, subtype):  # pragma: no cover (old libsndfile)
        raise AudioFileError(f"{path}: this libsndfile cannot write {audio_format} {subtype}")
    return check_plain_output(path, inputs, overwrite)


def check_plain_output(
    path: Path | str, inputs: Iterable[Path | str] = (), overwrite: bool = True
) -> Path:
    """The checks of :func:`check_output` that hold for a file of any type (``--stats-json``):
    none of ``inputs``, not a folder, (unless ``overwrite``) no existing file, a writable or
    creatable folder."""
    path = Path(path)
    for source in inputs:
        if _same_file(path, Path(source)):
            raise AudioFileError(f"{path}: that is the input song; choose another output")
    if path.is_dir():
        raise AudioFileError(f"{path}: is a folder; name a file to write")
    if path.exists() and not overwrite:
        raise AudioFileError(f"{path}: already exists; --overwrite replaces it")
    check_folder(path.parent, path)
    return path


#: libsndfile's command that turns the PEAK chunk of float WAV files off (sndfile.h)
_SFC_SET_ADD_PEAK_CHUNK = 0x1050


def _no_peak_chunk(file: Any) -> None:
    """No PEAK chunk in a float WAV: it holds the time of writing, so the same samples would
    make different bytes each run. (python-soundfile has no call for it: its libsndfile
    handle, guarded.)"""
    with contextlib.suppress(Exception):
        import soundfile

        soundfile._snd.sf_command(
            file._file, _SFC_SET_ADD_PEAK_CHUNK, soundfile._ffi.NULL, soundfile._snd.SF_FALSE
        )


def glob_escape(name: str) -> str:
    """``name`` with glob's special characters matching themselves."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


#: Temporary files are named ``.NAME.XXXXXXXX.partial`` beside ``NAME``.
PARTIAL_SUFFIX = ".partial"


class AtomicWriter:
    """An audio file written in blocks to a hidden temporary file in the target's folder and
    renamed onto ``path`` by :meth:`commit`; :meth:`discard` (or an exception inside a ``with``
    block) removes it. The target appears only complete.

    Args:
        path: the final file; its extension chooses the format (:data:`OUTPUT_FORMATS`).
        sample_rate_hz, channels: the file's.
    """

    def __init__(self, path: Path | str, sample_rate_hz: int, channels: int) -> None:
        import soundfile

        self.path = Path(path)
        audio_format, subtype = output_format(self.path)
        folder = self.path.parent
        self._created = None if folder.exists() else folder  # removed again if left empty
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(
                prefix=f".{self.path.name}.", suffix=PARTIAL_SUFFIX, dir=self.path.parent
            )
            os.close(handle)
        except OSError as error:
            raise AudioFileError(f"{self.path}: cannot write it ({_reason(error)})") from None
        self.temporary = Path(name)
        try:
            self._file: Any = soundfile.SoundFile(
                name, "w", sample_rate_hz, channels, subtype, format=audio_format
            )
        except Exception as error:
            self.temporary.unlink(missing_ok=True)
            raise AudioFileError(f"{self.path}: cannot write it ({_reason(error)})") from None
        _no_peak_chunk(self._file)
        self.frames = 0

    def write(self, block: np.ndarray) -> None:
        """Append float32 ``(samples, channels)`` (integer formats clip, never wrap)."""
        try:
            self._file.write(block)
        except Exception as error:
            raise AudioFileError(f"{self.path}: cannot write it ({_reason(error)})") from None
        self.frames += block.shape[0]

    def commit(self) -> Path:
        """Finish the file and rename it onto :attr:`path` (replacing what was there)."""
        try:
            self._file.close()
            os.replace(self.temporary, self.path)
        except Exception as error:
            self.discard()
            raise AudioFileError(f"{self.path}: cannot write it ({_reason(error)})") from None
        return self.path

    def discard(self) -> None:
        """Close and remove the temporary file; the target is left as it was."""
        with contextlib.suppress(Exception):  # a half-written file may fail to close: it goes
            self._file.close()
        self.temporary.unlink(missing_ok=True)
        if self._created is not None:
            with contextlib.suppress(OSError):  # not empty (another output): it stays
                self._created.rmdir()

    @staticmethod
    def remove_stale(path: Path | str) -> int:
        """Remove the temporary files a killed run left for ``path`` (not one a running
        writer holds: call it where no other run writes); returns how many."""
        path = Path(path)
        stale = list(path.parent.glob(f".{glob_escape(path.name)}.*{PARTIAL_SUFFIX}"))
        for leftover in stale:
            leftover.unlink(missing_ok=True)
        return len(stale)

    def __enter__(self) -> AtomicWriter:
        return self

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        if kind is not None:
            self.discard()
