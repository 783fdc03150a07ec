"""Training and validation audio: readers for several layouts, resampled to the model's rate.

Layouts:

* MUSDB18-HQ: ``<root>/{train,test}/<track>/{mixture,vocals,drums,bass,other}.wav``;
  accompaniment = drums + bass + other.
* MIR-1K: stereo clips, left = accompaniment, right = singing voice; split by singer
  (``singer_song_clip``).
* a generic pair of folders: ``<vocals_dir>/<name>.*`` and ``<accompaniment_dir>/<name>.*``.
* ``../shared/data`` (the development default): MIR-1K, everything-is-free (per-track
  ``vocals.ogg`` + ``accompaniment.ogg``, split by track), solo singing (vocals only),
  instrumentals (accompaniment only), and the MUSDB18 sample / iKala clip for validation.

Every source is decoded with soundfile, converted to float32 ``(channels, samples)`` and resampled
with soxr to the model's rate. A :class:`Manifest` lists every file used, with duration, role and
licence, and is saved with each training run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile
import soxr

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".opus", ".aiff", ".aif")
#: MIR-1K singers held out for validation (never in training).
MIR1K_VALIDATION_SINGERS = ("abjones", "annar")
#: everything-is-free tracks held out for validation.
EIF_VALIDATION_TRACKS = ("sodium",)
#: everything-is-free's band-limited track (stems only to ~9-13 kHz).
EIF_BAND_LIMITED_TRACKS = ("hydrogen",)


@dataclass
class Stem:
    """One stereo recording of one source, at the model's sample rate."""

    audio: np.ndarray  # (2, samples) float32
    origin: str  # file path (or "file:channel")
    licence: str


@dataclass
class SourcePool:
    """Vocal and accompaniment recordings to mix at random, plus paired tracks."""

    vocals: list[Stem] = field(default_factory=list)
    accompaniments: list[Stem] = field(default_factory=list)
    #: (vocals, accompaniment) of the same song, sample-aligned: the real mixes
    pairs: list[tuple[Stem, Stem]] = field(default_factory=list)
    #: sampling weight of each group name ("mir1k", "eif", ...) for vocals and accompaniments
    vocal_groups: dict[str, list[int]] = field(default_factory=dict)
    accompaniment_groups: dict[str, list[int]] = field(default_factory=dict)

    def add_vocals(self, group: str, stem: Stem) -> None:
        """Add a vocal recording to ``group``."""
        self.vocal_groups.setdefault(group, []).append(len(self.vocals))
        self.vocals.append(stem)

    def add_accompaniment(self, group: str, stem: Stem) -> None:
        """Add an accompaniment recording to ``group``."""
        self.accompaniment_groups.setdefault(group, []).append(len(self.accompaniments))
        self.accompaniments.append(stem)

    def add_pair(self, group: str, vocals: Stem, accompaniment: Stem) -> None:
        """Add a sample-aligned (vocals, accompaniment) pair; each also joins the pools."""
        self.pairs.append((vocals, accompaniment))
        self.add_vocals(group, vocals)
        self.add_accompaniment(group, accompaniment)

    def seconds(self, sample_rate_hz: int) -> dict[str, float]:
        """Total duration per role, in seconds."""
        return {
            "vocals": sum(s.audio.shape[1] for s in self.vocals) / sample_rate_hz,
            "accompaniment": sum(s.audio.shape[1] for s in self.accompaniments) / sample_rate_hz,
        }


@dataclass
class ManifestEntry:
    """One file used by a run."""

    path: str
    role: str  # vocals | accompaniment | pair | validation
    seconds: float
    licence: str


@dataclass
class Manifest:
    """Every file a run read, with its role, duration and licence."""

    entries: list[ManifestEntry] = field(default_factory=list)

    def add(self, path: Path | str, role: str, seconds: float, licence: str) -> None:
        """Record one file."""
        self.entries.append(ManifestEntry(str(path), role, round(seconds, 3), licence))

    def as_dict(self) -> dict:
        """JSON-able, with totals per role and a content hash of the list."""
        totals: dict[str, float] = {}
        for entry in self.entries:
            totals[entry.role] = round(totals.get(entry.role, 0.0) + entry.seconds, 1)
        listing = [asdict(e) for e in self.entries]
        digest = hashlib.sha1(json.dumps(listing, sort_keys=True).encode()).hexdigest()
        return {
            "files": len(listing),
            "seconds_per_role": totals,
            "sha1": digest,
            "entries": listing,
        }


def load_audio(path: Path | str, sample_rate_hz: int) -> np.ndarray:
    """Decode ``path`` as float32 ``(channels, samples)`` at ``sample_rate_hz`` (soxr)."""
    audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    if rate != sample_rate_hz:
        audio = soxr.resample(audio, rate, sample_rate_hz, quality="HQ")
    return np.ascontiguousarray(audio.T, dtype=np.float32)


def to_stereo(audio: np.ndarray) -> np.ndarray:
    """``(1 or 2, samples) -> (2, samples)``."""
    return np.repeat(audio, 2, axis=0) if audio.shape[0] == 1 else audio[:2]


def audio_files(folder: Path) -> list[Path]:
    """Audio files directly in ``folder``, sorted."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)


def mir1k_singer(path: Path) -> str:
    """The singer of a MIR-1K clip (``singer_song_clip.ogg``)."""
    return path.stem.split("_")[0]


def read_mir1k(
    folder: Path,
    sample_rate_hz: int,
    singers_excluded: Iterable[str] = (),
    singers_only: Iterable[str] | None = None,
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """MIR-1K clips as ``(name, vocals (1, samples), accompaniment (1, samples))``."""
    excluded, only = set(singers_excluded), set(singers_only) if singers_only else None
    clips = []
    for path in audio_files(folder):
        singer = mir1k_singer(path)
        if singer in excluded or (only is not None and singer not in only):
            continue
        audio = load_audio(path, sample_rate_hz)
        clips.append((path.stem, audio[1:2], audio[0:1]))
    return clips


def read_musdb_track(track_dir: Path, sample_rate_hz: int) -> tuple[np.ndarray, np.ndarray]:
    """A MUSDB18(-HQ) track folder as ``(vocals, accompaniment)``, each ``(2, samples)``."""
    vocals = load_audio(_stem_file(track_dir, "vocals"), sample_rate_hz)
    accompaniment = sum(
        load_audio(_stem_file(track_dir, name), sample_rate_hz)
        for name in ("drums", "bass", "other")
    )
    length = min(vocals.shape[1], accompaniment.shape[1])
    return to_stereo(vocals)[:, :length], to_stereo(accompaniment)[:, :length]


def _stem_file(track_dir: Path, name: str) -> Path:
    for suffix in AUDIO_SUFFIXES:
        path = track_dir / f"{name}{suffix}"
        if path.is_file():
            return path
    raise FileNotFoundError(f"{track_dir}: no {name} stem ({', '.join(AUDIO_SUFFIXES)})")


def read_folder_pairs(
    vocals_dir: Path, accompaniment_dir: Path, sample_rate_hz: int
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Generic layout: files with the same stem name in the two folders form a pair."""
    accompaniments = {p.stem: p for p in audio_files(accompaniment_dir)}
    pairs = []
    for vocal_path in audio_files(vocals_dir):
        partner = accompaniments.get(vocal_path.stem)
        if partner is None:
            continue
        vocals = to_stereo(load_audio(vocal_path, sample_rate_hz))
        accompaniment = to_stereo(load_audio(partner, sample_rate_hz))
        length = min(vocals.shape[1], accompaniment.shape[1])
        pairs.append((vocal_path.stem, vocals[:, :length], accompaniment[:, :length]))
    if not pairs:
        raise FileNotFoundError(
            f"no files with matching names in {vocals_dir} and {accompaniment_dir}"
        )
    return pairs


def build_training_pool(
    data_root: Path,
    sample_rate_hz: int,
    manifest: Manifest | None = None,
    extra_musdb_roots: Sequence[Path] = (),
    extra_pair_folders: Sequence[tuple[Path, Path]] = (),
) -> SourcePool:
    """The training pool from ``../shared/data`` (validation singers/tracks excluded).

    Args:
        data_root: the ``shared/data`` folder (MIR-1K, everything-is-free, singing,
            instrumental, ...). Missing sub-folders are skipped.
        sample_rate_hz: the model's rate.
        manifest: filled with every file read.
        extra_musdb_roots: MUSDB18-HQ roots whose ``train/`` tracks are added.
        extra_pair_folders: generic (vocals_dir, accompaniment_dir) folders to add.
    """
    manifest = manifest if manifest is not None else Manifest()
    pool = SourcePool()
    rate = sample_rate_hz
    mir1k = data_root / "mir1k" / "audio"
    if mir1k.is_dir():
        for name, vocals, accompaniment in read_mir1k(mir1k, rate, MIR1K_VALIDATION_SINGERS):
            pool.add_pair(
                "mir1k",
                Stem(to_stereo(vocals), f"mir1k/{name}:right", "research"),
                Stem(to_stereo(accompaniment), f"mir1k/{name}:left", "research"),
            )
            manifest.add(
                mir1k / f"{name}.ogg", "pair", vocals.shape[1] / rate, "MIR-1K research use"
            )
    eif = data_root / "everything-is-free"
    if eif.is_dir():
        for track in sorted(p for p in eif.iterdir() if p.is_dir()):
            if track.name in EIF_VALIDATION_TRACKS:
                continue
            vocals = to_stereo(load_audio(track / "vocals.ogg", rate))
            accompaniment = to_stereo(load_audio(track / "accompaniment.ogg", rate))
            length = min(vocals.shape[1], accompaniment.shape[1])
            group = "eif_band_limited" if track.name in EIF_BAND_LIMITED_TRACKS else "eif"
            pool.add_pair(
                group,
                Stem(vocals[:, :length], str(track / "vocals.ogg"), "CC0"),
                Stem(accompaniment[:, :length], str(track / "accompaniment.ogg"), "CC0"),
            )
            manifest.add(track, "pair", length / rate, "CC0")
    singing = data_root / "singing"
    if singing.is_dir():
        for path in audio_files(singing):
            audio = to_stereo(load_audio(path, rate))
            pool.add_vocals("solo_singing", Stem(audio, str(path), "see singing/ README"))
            manifest.add(path, "vocals", audio.shape[1] / rate, "see data README (singing/)")
    synthetic = data_root / "synthetic-singing"
    if synthetic.is_dir():
        for path in audio_files(synthetic):
            audio = to_stereo(load_audio(path, rate))
            pool.add_vocals("solo_singing", Stem(audio, str(path), "generated"))
            manifest.add(path, "vocals", audio.shape[1] / rate, "generated (pysinsy)")
    instrumental = data_root / "instrumental"
    if instrumental.is_dir():
        for path in audio_files(instrumental):
            audio = to_stereo(load_audio(path, rate))
            pool.add_accompaniment("instrumental", Stem(audio, str(path), "see .txt"))
            manifest.add(path, "accompaniment", audio.shape[1] / rate, _licence_note(path))
    for root in extra_musdb_roots:
        for track in sorted(p for p in (Path(root) / "train").iterdir() if p.is_dir()):
            vocals, accompaniment = read_musdb_track(track, rate)
            pool.add_pair(
                "musdb",
                Stem(vocals, str(track), "MUSDB18"),
                Stem(accompaniment, str(track), "MUSDB18"),
            )
            manifest.add(track, "pair", vocals.shape[1] / rate, "MUSDB18 (research)")
    for vocals_dir, accompaniment_dir in extra_pair_folders:
        for name, vocals, accompaniment in read_folder_pairs(
            Path(vocals_dir), Path(accompaniment_dir), rate
        ):
            pool.add_pair(
                "folders",
                Stem(vocals, f"{vocals_dir}/{name}", "user"),
                Stem(accompaniment, f"{accompaniment_dir}/{name}", "user"),
            )
            manifest.add(Path(vocals_dir) / name, "pair", vocals.shape[1] / rate, "user data")
    if not pool.vocals or not pool.accompaniments:
        raise FileNotFoundError(f"{data_root}: found no vocal or no accompaniment recordings")
    return pool


def _loudest_window(audio: np.ndarray, window_samples: int, sample_rate_hz: int) -> int:
    """Start (whole seconds) of the ``window_samples`` stretch of ``audio`` with most energy."""
    seconds = audio.shape[1] // sample_rate_hz
    energy = np.square(audio[:, : seconds * sample_rate_hz], dtype=np.float64)
    per_second = energy.reshape(audio.shape[0], seconds, sample_rate_hz).sum(axis=(0, 2))
    span = max(1, window_samples // sample_rate_hz)
    totals = np.convolve(per_second, np.ones(span), mode="valid")
    return int(np.argmax(totals)) * sample_rate_hz


def _licence_note(path: Path) -> str:
    """First line of the ``.txt`` licence file beside ``path``, else a pointer to the README."""
    licence_file = path.with_suffix(".txt")
    if licence_file.is_file():
        lines = licence_file.read_text(errors="replace").strip().splitlines()
        if lines:
            return lines[0][:200]
    return "see the data folder's README"


@dataclass
class ValidationItem:
    """One validation mixture with its true stems, ``(2, samples)`` each."""

    set_name: str
    name: str
    vocals: np.ndarray
    accompaniment: np.ndarray

    @property
    def mixture(self) -> np.ndarray:
        """vocals + accompaniment."""
        return self.vocals + self.accompaniment


def build_validation_set(
    data_root: Path,
    sample_rate_hz: int,
    mir1k_clips: int | None = None,
    eif_seconds: float | None = None,
    manifest: Manifest | None = None,
) -> list[ValidationItem]:
    """Held-out material: MIR-1K validation singers at 0 dB, the held-out everything-is-free
    track, the MUSDB18 sample and the iKala clip (whatever exists under ``data_root``).

    Args:
        mir1k_clips: use only the first N MIR-1K clips (sorted by name); None for all.
        eif_seconds: cut each everything-is-free track to the N seconds with the most vocal
            energy; None: the whole track.
    """
    rate = sample_rate_hz
    items: list[ValidationItem] = []
    mir1k = data_root / "mir1k" / "audio"
    if mir1k.is_dir():
        clips = read_mir1k(mir1k, rate, singers_only=MIR1K_VALIDATION_SINGERS)
        for name, vocals, accompaniment in clips[:mir1k_clips]:
            items.append(ValidationItem("mir1k", name, to_stereo(vocals), to_stereo(accompaniment)))
            if manifest is not None:
                manifest.add(
                    mir1k / f"{name}.ogg",
                    "validation",
                    vocals.shape[1] / rate,
                    "MIR-1K research use",
                )
    eif = data_root / "everything-is-free"
    for track in EIF_VALIDATION_TRACKS:
        if not (eif / track).is_dir():
            continue
        vocals = to_stereo(load_audio(eif / track / "vocals.ogg", rate))
        accompaniment = to_stereo(load_audio(eif / track / "accompaniment.ogg", rate))
        length = min(vocals.shape[1], accompaniment.shape[1])
        start, stop = 0, length
        if eif_seconds is not None and int(eif_seconds * rate) < length:
            start = _loudest_window(vocals, int(eif_seconds * rate), rate)
            stop = start + int(eif_seconds * rate)
        items.append(
            ValidationItem("eif", track, vocals[:, start:stop], accompaniment[:, start:stop])
        )
        if manifest is not None:
            manifest.add(eif / track, "validation", (stop - start) / rate, "CC0")
    musdb = data_root / "musdb18-sample"
    if musdb.is_dir():
        vocals, accompaniment = read_musdb_track(musdb, rate)
        items.append(
            ValidationItem("musdb18_sample", "Music Delta - 80s Rock", vocals, accompaniment)
        )
        if manifest is not None:
            manifest.add(musdb, "validation", vocals.shape[1] / rate, "CC BY-NC-SA 4.0")
    ikala = data_root / "ikala"
    if ikala.is_dir():
        for path in audio_files(ikala):
            audio = load_audio(path, rate)
            items.append(
                ValidationItem("ikala", path.stem, to_stereo(audio[1:2]), to_stereo(audio[0:1]))
            )
            if manifest is not None:
                manifest.add(path, "validation", audio.shape[1] / rate, "iKala research use")
    return items
