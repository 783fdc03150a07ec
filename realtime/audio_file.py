"""Songs in and out of the engine: decode, resample with soxr, channel mapping, WAV writing.

Any file libsndfile reads (WAV, FLAC, Ogg Vorbis, MP3, AIFF, ...), at any sample rate, mono or
stereo. The engine runs at the model's sample rate and channel count (``Config.contract``): a
mono song is processed as identical left and right and written back as mono; other rates are
resampled (soxr, high quality) on the way in and back on the way out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
    if not path.is_file():
        raise AudioFileError(f"{path}: no such file")
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
