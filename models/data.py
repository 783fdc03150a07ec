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

Validation material has one loader per set (:func:`load_mir1k_validation`,
:func:`load_everything_is_free`, :func:`load_musdb18_sample`, :func:`load_ikala`), each yielding
:class:`ValidationItem` with the stems' own channel count (MIR-1K and iKala mono). Training uses
them through :func:`build_validation_set` (stereo, as the model takes); the quality report
(``unsing.models.quality``) uses them directly.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
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
#: ``musdb18-7s`` songs held out for validation (never trained on): 14 of its 94 songs, each by
#: an artist with no other song in the set (so no artist is on both sides), across genres.
MUSDB7S_VALIDATION_TRACKS = (
    "A Classic Education - NightOwl",
    "Angela Thomas Wade - Milk Cow Blues",
    "Atlantis Bound - It Was My Fault For Waiting",
    "Bill Chudziak - Children Of No-one",
    "Cnoc An Tursa - Bannockburn",
    "Dreamers Of The Ghetto - Heavy Love",
    "Helado Negro - Mitad Del Mundo",
    "Hop Along - Sister Cities",
    "Jay Menon - Through My Eyes",
    "Lushlife - Toynbee Suite",
    "Port St Willow - Stay Even",
    "Secret Mountains - High Horse",
    "Steven Clark - Bounty",
    "The So So Glos - Emergency",
)
#: ``musdb18-7s`` songs never trained on for another reason: the ``musdb18-sample`` validation
#: set is this song's excerpt.
MUSDB7S_EXCLUDED_TRACKS = ("Music Delta - 80s Rock",)
#: Licence note of the ``musdb18-7s`` songs (MUSDB18 terms, non-commercial).
MUSDB7S_LICENCE = "MUSDB18 research only (CC BY-NC-SA / Cambridge-MT terms, NC)"


def default_data_root() -> Path:
    """``shared/data`` beside the project's checkout folder (where the data sets live)."""
    return Path(__file__).resolve().parent.parent.parent / "shared" / "data"


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
    #: indices into ``pairs`` by group name
    pair_groups: dict[str, list[int]] = field(default_factory=dict)

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
        self.pair_groups.setdefault(group, []).append(len(self.pairs))
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
    clips = []
    for path in mir1k_clip_paths(folder, singers_excluded, singers_only):
        audio = load_audio(path, sample_rate_hz)
        clips.append((path.stem, audio[1:2], audio[0:1]))
    return clips


def mir1k_clip_paths(
    folder: Path, singers_excluded: Iterable[str] = (), singers_only: Iterable[str] | None = None
) -> list[Path]:
    """MIR-1K clip files in ``folder`` (sorted), filtered by singer."""
    excluded, only = set(singers_excluded), set(singers_only) if singers_only else None
    return [
        path
        for path in audio_files(folder)
        if mir1k_singer(path) not in excluded and (only is None or mir1k_singer(path) in only)
    ]


def balanced_by_singer(paths: Sequence[Path], count: int | None) -> list[Path]:
    """``count`` of the MIR-1K clips ``paths``, taken from each singer in turn (each singer's
    first clips by name), returned in file-name order; all of them when ``count`` is None.

    The first N clips by name would all be one singer's (the validation singers have 40-odd
    clips each), and a per-epoch validation would then be blind to the other.
    """
    if count is None or count >= len(paths):
        return list(paths)
    turn: dict[Path, int] = {}  # a clip's place among its singer's clips by name
    clips_seen: dict[str, int] = {}
    for path in sorted(paths):
        singer = mir1k_singer(path)
        turn[path] = clips_seen.get(singer, 0)
        clips_seen[singer] = turn[path] + 1
    chosen = sorted(paths, key=lambda path: (turn[path], path))[:count]
    return sorted(chosen)


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


def musdb7s_tracks(data_root: Path | str, split: str) -> list[Path]:
    """The ``musdb18-7s`` song folders of ``split``: ``train`` (every song but the validation
    and excluded ones) or ``validation`` (:data:`MUSDB7S_VALIDATION_TRACKS`), sorted by name.
    A missing folder gives none; a validation song missing from it is an error."""
    folder = Path(data_root) / "musdb18-7s"
    if not folder.is_dir():
        return []
    if split == "validation":
        missing = [name for name in MUSDB7S_VALIDATION_TRACKS if not (folder / name).is_dir()]
        if missing:
            raise FileNotFoundError(f"{folder}: validation songs missing: {missing}")
        return [folder / name for name in MUSDB7S_VALIDATION_TRACKS]
    if split != "train":
        raise ValueError(f"split {split!r}: train or validation")
    held_out = {*MUSDB7S_VALIDATION_TRACKS, *MUSDB7S_EXCLUDED_TRACKS}
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name not in held_out)


def read_stem_pair(track_dir: Path, sample_rate_hz: int) -> tuple[np.ndarray, np.ndarray]:
    """A song folder's ``vocals`` and ``accompaniment`` stems, stereo and sample-aligned,
    ``(2, samples)`` each."""
    return _aligned_pair(
        _stem_file(track_dir, "vocals"), _stem_file(track_dir, "accompaniment"), sample_rate_hz
    )


def _aligned_pair(
    vocals_path: Path, accompaniment_path: Path, sample_rate_hz: int
) -> tuple[np.ndarray, np.ndarray]:
    """Two stem files as stereo ``(2, samples)`` arrays cut to the shorter one's length."""
    vocals = to_stereo(load_audio(vocals_path, sample_rate_hz))
    accompaniment = to_stereo(load_audio(accompaniment_path, sample_rate_hz))
    length = min(vocals.shape[1], accompaniment.shape[1])
    return vocals[:, :length], accompaniment[:, :length]


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
        vocals, accompaniment = _aligned_pair(vocal_path, partner, sample_rate_hz)
        pairs.append((vocal_path.stem, vocals, accompaniment))
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
    teacher_labels: Path | None = None,
    mir1k_excluded_singers: Sequence[str] = (),
    musdb18_7s: bool = False,
    gtsinger: bool = False,
    instrumental_folders: Sequence[Path] = (),
) -> SourcePool:
    """The training pool from ``../shared/data`` (validation singers/tracks excluded).

    Args:
        data_root: the ``shared/data`` folder (MIR-1K, everything-is-free, singing,
            instrumental, ...). Missing sub-folders are skipped.
        sample_rate_hz: the model's rate.
        manifest: filled with every file read.
        extra_musdb_roots: MUSDB18-HQ roots whose ``train/`` tracks are added.
        extra_pair_folders: generic (vocals_dir, accompaniment_dir) folders to add.
        teacher_labels: a folder written by ``python -m unsing.models.teacher``: real songs
            split by a pretrained separator, added as pairs (group ``teacher``).
        mir1k_excluded_singers: MIR-1K training singers also left out (kept for calibration).
        musdb18_7s: add the ``musdb18-7s`` training songs (:func:`musdb7s_tracks`) as pairs
            (group ``musdb``).
        gtsinger: add the ``singing-gtsinger`` dry singing as voices (group ``gtsinger``).
        instrumental_folders: folders of instrumental music (searched recursively, e.g. the
            Debian music packages) added as accompaniments (group ``instrumental_long``).
    """
    manifest = manifest if manifest is not None else Manifest()
    pool = SourcePool()
    rate = sample_rate_hz
    mir1k = data_root / "mir1k" / "audio"
    if mir1k.is_dir():
        excluded = (*MIR1K_VALIDATION_SINGERS, *mir1k_excluded_singers)
        for name, vocals, accompaniment in read_mir1k(mir1k, rate, excluded):
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
            vocals, accompaniment = _aligned_pair(
                track / "vocals.ogg", track / "accompaniment.ogg", rate
            )
            group = "eif_band_limited" if track.name in EIF_BAND_LIMITED_TRACKS else "eif"
            pool.add_pair(
                group,
                Stem(vocals, str(track / "vocals.ogg"), "CC0"),
                Stem(accompaniment, str(track / "accompaniment.ogg"), "CC0"),
            )
            manifest.add(track, "pair", vocals.shape[1] / rate, "CC0")
    for folder, licence in (
        ("singing", "see data README (singing/)"),
        ("synthetic-singing", "generated (pysinsy)"),
    ):
        if not (data_root / folder).is_dir():
            continue
        for path in audio_files(data_root / folder):
            audio = to_stereo(load_audio(path, rate))
            pool.add_vocals("solo_singing", Stem(audio, str(path), licence))
            manifest.add(path, "vocals", audio.shape[1] / rate, licence)
    instrumental = data_root / "instrumental"
    if instrumental.is_dir():
        for path in audio_files(instrumental):
            audio = to_stereo(load_audio(path, rate))
            pool.add_accompaniment("instrumental", Stem(audio, str(path), "see .txt"))
            manifest.add(path, "accompaniment", audio.shape[1] / rate, _licence_note(path))
    if musdb18_7s:
        for track in musdb7s_tracks(data_root, "train"):
            vocals, accompaniment = read_stem_pair(track, rate)
            pool.add_pair(
                "musdb",
                Stem(vocals, str(track / "vocals.ogg"), MUSDB7S_LICENCE),
                Stem(accompaniment, str(track / "accompaniment.ogg"), MUSDB7S_LICENCE),
            )
            manifest.add(track, "pair", vocals.shape[1] / rate, MUSDB7S_LICENCE)
    if gtsinger:
        folder = _require_dir(data_root / "singing-gtsinger")
        for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES):
            audio = to_stereo(load_audio(path, rate))
            pool.add_vocals("gtsinger", Stem(audio, str(path), "CC BY-NC-SA 4.0"))
            manifest.add(path, "vocals", audio.shape[1] / rate, "GTSinger CC BY-NC-SA 4.0")
    for folder in instrumental_folders:
        paths = sorted(
            p for p in _require_dir(Path(folder)).rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES
        )
        for path in paths:
            audio = to_stereo(load_audio(path, rate))
            pool.add_accompaniment("instrumental_long", Stem(audio, str(path), "see package"))
            manifest.add(path, "accompaniment", audio.shape[1] / rate, f"package {folder}")
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
    if teacher_labels is not None:
        _add_teacher_labels(pool, Path(teacher_labels), rate, manifest)
    if not pool.vocals or not pool.accompaniments:
        raise FileNotFoundError(f"{data_root}: found no vocal or no accompaniment recordings")
    return pool


def _add_teacher_labels(pool: SourcePool, folder: Path, rate: int, manifest: Manifest) -> None:
    """The songs of a teacher-labels folder (``labels.json`` + ``vocals/``, ``accompaniment/``)."""
    from unsing.errors import ConfigError

    labels_path = folder / "labels.json"
    if not labels_path.is_file():
        raise ConfigError(
            f"train.teacher_labels: {labels_path} not found; write it with "
            f"python -m unsing.models.teacher --out {folder}"
        )
    try:
        labels = json.loads(labels_path.read_text())
        songs, teacher = dict(labels["songs"]), labels["teacher"]
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigError(
            f"train.teacher_labels: {labels_path} is not a labels file ({error!r}); write it "
            f"again with python -m unsing.models.teacher --out {folder}"
        ) from None
    try:
        pairs = read_folder_pairs(folder / "vocals", folder / "accompaniment", rate)
    except FileNotFoundError as error:
        raise ConfigError(f"train.teacher_labels: {error}") from None
    missing = sorted(set(songs) - {name for name, _, _ in pairs})
    if missing:
        raise ConfigError(
            f"train.teacher_labels: {labels_path} lists songs without both label files "
            f"({', '.join(missing)}); write them again with "
            f"python -m unsing.models.teacher --out {folder}"
        )
    for name, vocals, accompaniment in pairs:
        if name not in songs:
            continue
        licence = f"teacher-labelled ({teacher}): {songs[name]['licence']}"
        pool.add_pair(
            "teacher",
            Stem(vocals, f"{folder}/vocals/{name}.flac", licence),
            Stem(accompaniment, f"{folder}/accompaniment/{name}.flac", licence),
        )
        manifest.add(folder / "vocals" / f"{name}.flac", "pair", vocals.shape[1] / rate, licence)


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


# --------------------------------------------------------------------------------------------
# Validation material: one loader per set, used by training (:func:`build_validation_set`) and
# by the quality report (``unsing.models.quality``).

#: The MUSDB18 sample's track name.
MUSDB18_SAMPLE_NAME = "Music Delta - 80s Rock"


@dataclass(frozen=True)
class ValidationItem:
    """One validation item: its true stems, sample-aligned, at ``sample_rate_hz``.

    Attributes:
        set_name: the material it comes from: ``mir1k``, ``eif``, ``musdb18_sample``, ``ikala``.
        name: item name, unique within its set.
        vocals: ``(channels, samples)`` float32 (mono for MIR-1K and iKala, stereo otherwise).
        accompaniment: ``(channels, samples)`` float32, the same shape.
        sample_rate_hz: the rate of both.
    """

    set_name: str
    name: str
    vocals: np.ndarray
    accompaniment: np.ndarray
    sample_rate_hz: int

    def __post_init__(self) -> None:
        if self.vocals.shape != self.accompaniment.shape:
            raise ValueError(
                f"{self.set_name}/{self.name}: stems differ in shape "
                f"{self.vocals.shape} vs {self.accompaniment.shape}"
            )

    @property
    def mixture(self) -> np.ndarray:
        """``vocals + accompaniment``, ``(channels, samples)``."""
        return self.vocals + self.accompaniment

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.vocals.shape[-1] / self.sample_rate_hz


def _require_dir(path: Path) -> Path:
    if not path.is_dir():
        raise FileNotFoundError(f"validation data not found: {path}")
    return path


def load_mir1k_validation(
    data_root: Path | str,
    sample_rate_hz: int,
    *,
    singers: Sequence[str] = MIR1K_VALIDATION_SINGERS,
    snr_db: float = 0.0,
    max_items: int | None = None,
    manifest: Manifest | None = None,
) -> Iterator[ValidationItem]:
    """Held-out MIR-1K clips, mono, vocals mixed with the accompaniment at exactly ``snr_db``.

    MIR-1K files are 16 kHz stereo, left = accompaniment, right = voice (``singer_song_clip``).
    Both stems are resampled to ``sample_rate_hz``, then the vocals are scaled so that the clip's
    vocal-to-accompaniment energy ratio is exactly ``snr_db`` (the channels are already
    level-matched: the gain is within 0.03 dB of 1 at 0 dB). Clips come in file-name order;
    ``max_items`` takes them from every singer in turn (:func:`balanced_by_singer`).

    Args:
        data_root: the ``shared/data`` folder.
        sample_rate_hz: the rate to resample to.
        singers: singer names (file-name prefixes, exact).
        snr_db: vocal-to-accompaniment energy ratio of the mixture.
        max_items: this many clips, as evenly from each singer as their clips allow (None: all).
        manifest: records every clip read.

    Yields:
        One :class:`ValidationItem` (set ``mir1k``) per clip, ``(1, samples)`` stems.
    """
    folder = _require_dir(Path(data_root) / "mir1k" / "audio")
    paths = mir1k_clip_paths(folder, singers_only=singers)
    if not paths:
        raise FileNotFoundError(f"no MIR-1K clips of {tuple(singers)} in {folder}")
    for path in balanced_by_singer(paths, max_items):
        audio = load_audio(path, sample_rate_hz)
        vocals, accompaniment = audio[1:2], audio[0:1]
        vocal_energy = float(np.sum(np.square(vocals, dtype=np.float64)))
        accompaniment_energy = float(np.sum(np.square(accompaniment, dtype=np.float64)))
        if vocal_energy > 0 and accompaniment_energy > 0:
            gain = math.sqrt(accompaniment_energy / vocal_energy * 10 ** (snr_db / 10))
            vocals = vocals * np.float32(gain)
        if manifest is not None:
            manifest.add(path, "validation", audio.shape[1] / sample_rate_hz, "MIR-1K research use")
        yield ValidationItem("mir1k", path.stem, vocals, accompaniment, sample_rate_hz)


def load_everything_is_free(
    data_root: Path | str,
    sample_rate_hz: int,
    *,
    tracks: Sequence[str] = EIF_VALIDATION_TRACKS,
    excerpt_seconds: float | None = None,
    max_items: int | None = None,
    manifest: Manifest | None = None,
) -> Iterator[ValidationItem]:
    """Held-out everything-is-free tracks: ``vocals.ogg`` + ``accompaniment.ogg`` (48 kHz stereo).

    Args:
        data_root: the ``shared/data`` folder.
        sample_rate_hz: the rate to resample to.
        tracks: track folder names.
        excerpt_seconds: cut each track to the stretch of this many seconds with the most vocal
            energy (None: the whole track).
        max_items: stop after this many tracks (None: all).
        manifest: records every track read.

    Yields:
        One :class:`ValidationItem` (set ``eif``) per track, ``(2, samples)`` stems.
    """
    folder = _require_dir(Path(data_root) / "everything-is-free")
    rate = sample_rate_hz
    for name in tuple(tracks)[:max_items]:
        vocals = load_audio(folder / name / "vocals.ogg", rate)
        accompaniment = load_audio(folder / name / "accompaniment.ogg", rate)
        length = min(vocals.shape[1], accompaniment.shape[1])
        start, stop = 0, length
        if excerpt_seconds is not None and int(excerpt_seconds * rate) < length:
            start = _loudest_window(vocals[:, :length], int(excerpt_seconds * rate), rate)
            stop = start + int(excerpt_seconds * rate)
        if manifest is not None:
            manifest.add(folder / name, "validation", (stop - start) / rate, "CC0")
        yield ValidationItem(
            "eif", name, vocals[:, start:stop], accompaniment[:, start:stop], sample_rate_hz
        )


def load_musdb18_sample(
    data_root: Path | str,
    sample_rate_hz: int,
    *,
    max_items: int | None = None,
    manifest: Manifest | None = None,
) -> Iterator[ValidationItem]:
    """The MUSDB18 7 s sample: vocals, and accompaniment = drums + bass + other (stereo).

    Yields:
        One :class:`ValidationItem` (set ``musdb18_sample``), ``(2, samples)`` stems.
    """
    folder = _require_dir(Path(data_root) / "musdb18-sample")
    if max_items == 0:
        return
    vocals, accompaniment = read_musdb_track(folder, sample_rate_hz)
    if manifest is not None:
        manifest.add(folder, "validation", vocals.shape[1] / sample_rate_hz, "CC BY-NC-SA 4.0")
    yield ValidationItem(
        "musdb18_sample", MUSDB18_SAMPLE_NAME, vocals, accompaniment, sample_rate_hz
    )


def load_ikala(
    data_root: Path | str,
    sample_rate_hz: int,
    *,
    max_items: int | None = None,
    manifest: Manifest | None = None,
) -> Iterator[ValidationItem]:
    """iKala clips: stereo files, left = accompaniment, right = vocal.

    Yields:
        One :class:`ValidationItem` (set ``ikala``) per file, ``(1, samples)`` stems.
    """
    folder = _require_dir(Path(data_root) / "ikala")
    for path in audio_files(folder)[:max_items]:
        audio = load_audio(path, sample_rate_hz)
        if manifest is not None:
            manifest.add(path, "validation", audio.shape[1] / sample_rate_hz, "iKala research use")
        yield ValidationItem("ikala", path.stem, audio[1:2], audio[0:1], sample_rate_hz)


def load_musdb18_7s(
    data_root: Path | str,
    sample_rate_hz: int,
    *,
    max_items: int | None = None,
    manifest: Manifest | None = None,
) -> Iterator[ValidationItem]:
    """The ``musdb18-7s`` validation songs (:data:`MUSDB7S_VALIDATION_TRACKS`, 6.8 s each,
    stereo, full band); mixture = vocals + accompaniment.

    Yields:
        One :class:`ValidationItem` (set ``musdb18_7s``) per song, ``(2, samples)`` stems.
    """
    _require_dir(Path(data_root) / "musdb18-7s")
    for track in musdb7s_tracks(data_root, "validation")[:max_items]:
        vocals, accompaniment = read_stem_pair(track, sample_rate_hz)
        if manifest is not None:
            manifest.add(track, "validation", vocals.shape[1] / sample_rate_hz, MUSDB7S_LICENCE)
        yield ValidationItem("musdb18_7s", track.name, vocals, accompaniment, sample_rate_hz)


def build_validation_set(
    data_root: Path,
    sample_rate_hz: int,
    mir1k_clips: int | None = None,
    eif_seconds: float | None = None,
    manifest: Manifest | None = None,
    musdb7s_songs: int = 0,
) -> list[ValidationItem]:
    """Training-time validation: every set under ``data_root`` that exists, stereo.

    MIR-1K validation singers at 0 dB, the held-out everything-is-free track, the MUSDB18 sample,
    the iKala clip and ``musdb7s_songs`` of the ``musdb18-7s`` validation songs, from the
    loaders above. The model takes two channels, so the mono sets
    (MIR-1K, iKala) are duplicated to stereo here (:func:`to_stereo`).

    Args:
        mir1k_clips: use only N MIR-1K clips, as many from each singer as their clips allow
            (:func:`balanced_by_singer`); None for all.
        eif_seconds: cut each everything-is-free track to the N seconds with the most vocal
            energy; None: the whole track.
        manifest: records every file read.
    """
    root, rate = Path(data_root), sample_rate_hz
    items: list[ValidationItem] = []
    mir1k = root / "mir1k" / "audio"
    if mir1k.is_dir() and mir1k_clip_paths(mir1k, singers_only=MIR1K_VALIDATION_SINGERS):
        items += load_mir1k_validation(root, rate, max_items=mir1k_clips, manifest=manifest)
    eif_tracks = [t for t in EIF_VALIDATION_TRACKS if (root / "everything-is-free" / t).is_dir()]
    if eif_tracks:
        items += load_everything_is_free(
            root, rate, tracks=eif_tracks, excerpt_seconds=eif_seconds, manifest=manifest
        )
    if (root / "musdb18-sample").is_dir():
        items += load_musdb18_sample(root, rate, manifest=manifest)
    if (root / "ikala").is_dir():
        items += load_ikala(root, rate, manifest=manifest)
    if musdb7s_songs and (root / "musdb18-7s").is_dir():
        items += load_musdb18_7s(root, rate, max_items=musdb7s_songs, manifest=manifest)
    return [
        replace(item, vocals=to_stereo(item.vocals), accompaniment=to_stereo(item.accompaniment))
        for item in items
    ]
