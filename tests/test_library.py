"""`unsing separate SONG_OR_FOLDER... --out DIR`: the library mode (realtime/library.py).

Real files, real subprocesses: two folders of nested songs at several rates, a corrupt file and
a text file. The good songs are separated, the bad one reported, the run resumes and skips what
is done, worker processes give the same bytes as one process, Ctrl-C stops cleanly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from unsing.realtime.audio_file import SongInfo
from unsing.realtime.library import Found, find_songs, song_names

UNSING = Path(sys.executable).with_name("unsing")

#: path under the library -> (rate, channels, seconds)
SONGS = {
    "rock/album/one.wav": (44100, 2, 0.5),
    "rock/two.flac": (22050, 1, 0.4),
    "pop/one.ogg": (48000, 2, 0.4),
    "pop/deep/er/three.wav": (8000, 1, 0.3),
}
#: each song's folder under DIR: "one" twice, so those two carry their folders
NAMES = {
    "rock/album/one.wav": "rock - album - one",
    "rock/two.flac": "two",
    "pop/one.ogg": "pop - one",
    "pop/deep/er/three.wav": "three",
}


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(UNSING), *args], capture_output=True, text=True, timeout=300, cwd=cwd
    )


def make_library(root: Path, songs: dict[str, tuple[int, int, float]], seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for name, (rate, channels, seconds) in songs.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        t = np.arange(int(rate * seconds)) / rate
        tone = 0.2 * np.sin(2 * np.pi * 330.0 * t)[:, None]
        audio = tone + 0.05 * rng.standard_normal((t.size, channels))
        soundfile.write(path, audio.astype(np.float32), rate)


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("library")
    make_library(root, SONGS)
    (root / "pop" / "broken.wav").write_bytes(b"RIFF this is no wave file" * 20)
    (root / "pop" / "notes.txt").write_text("set list: one, two, three")
    (root / "pop" / ".hidden.wav").write_bytes(b"an editor's swap file")
    return root


@pytest.fixture(scope="module")
def first_run(library, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("out") / "stems"
    return out, run("separate", "rock", "pop", "--out", str(out), "--jobs", "1", cwd=library)


def files(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_a_library_run_separates_the_good_songs_and_reports_the_bad_one(library, first_run):
    out, result = first_run
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    failed = [line for line in lines if line.startswith("unsing: failed: ")]
    assert len(failed) == 1 and "pop/broken.wav: cannot decode it as audio" in failed[0]
    assert lines[-1].startswith(
        "unsing: 4 separated, 0 skipped (already done), 1 failed, 1 not audio; "
    )
    assert "x real time) -> " in lines[-1]
    assert set(files(out)) == {
        f"{name}/{stem}.wav" for name in NAMES.values() for stem in ("vocals", "accompaniment")
    }
    for song, name in NAMES.items():
        mixture, rate = soundfile.read(library / song, dtype="float32", always_2d=True)
        vocals, vocals_rate = soundfile.read(out / name / "vocals.wav", always_2d=True)
        accompaniment, _ = soundfile.read(out / name / "accompaniment.wav", always_2d=True)
        assert vocals_rate == rate and vocals.shape == accompaniment.shape == mixture.shape
        np.testing.assert_allclose(vocals + accompaniment, mixture, atol=1e-6)


def test_a_second_run_skips_what_is_done_and_overwrite_redoes_it(library, first_run) -> None:
    out, _ = first_run
    stamps = {path: (path.stat().st_mtime_ns, path.stat().st_ino) for path in out.rglob("*.wav")}
    again = run("separate", "rock", "pop", "--out", str(out), cwd=library)
    assert again.returncode == 1, again.stderr  # the broken file still fails
    assert "0 separated, 4 skipped (already done), 1 failed" in again.stderr
    assert {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in stamps} == stamps
    (out / "two" / "accompaniment.wav").unlink()  # as if interrupted between the two renames
    stale = out / "two" / ".accompaniment.wav.k1ll3d.partial"  # as if killed (SIGKILL)
    stale.write_bytes(b"half a file")
    resumed = run("separate", "rock", "pop", "--out", str(out), cwd=library)
    assert "1 separated, 3 skipped (already done)" in resumed.stderr, resumed.stderr
    assert sorted(p.name for p in (out / "two").iterdir()) == ["accompaniment.wav", "vocals.wav"]
    redo = run("separate", "rock", "pop", "--out", str(out), "--overwrite", cwd=library)
    assert "4 separated, 0 skipped" in redo.stderr, redo.stderr
    assert all(path.stat().st_mtime_ns > mtime for path, (mtime, _) in stamps.items())


def test_two_workers_write_the_same_bytes_as_one(library, first_run, tmp_path) -> None:
    out, _ = first_run
    result = run("separate", "rock", "pop", "--out", str(tmp_path), "--jobs", "2", cwd=library)
    assert result.returncode == 1 and "4 separated" in result.stderr, result.stderr
    assert files(tmp_path) == files(out)


def test_to_karaoke_writes_only_the_karaoke_track(library, tmp_path) -> None:
    result = run("separate", "rock", "--out", str(tmp_path), "--to-karaoke", "--quiet", cwd=library)
    assert result.returncode == 0, result.stderr
    assert set(files(tmp_path)) == {"one/accompaniment.wav", "two/accompaniment.wav"}
    assert result.stderr.strip().splitlines()[-1].startswith("unsing: 2 separated, 0 skipped")


def test_the_output_folder_inside_a_searched_folder_is_not_searched(tmp_path) -> None:
    make_library(tmp_path, {"a.wav": (16000, 1, 0.3)})
    first = run("separate", ".", "--out", "stems", "--quiet", cwd=tmp_path)
    assert first.returncode == 0 and "1 separated" in first.stderr, first.stderr
    second = run("separate", ".", "--out", "stems", "--quiet", cwd=tmp_path)
    assert "0 separated, 1 skipped (already done), 0 failed, 0 not audio" in second.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rock", "nowhere", "--out", "x"], "nowhere: no such file or folder"),
        (["rock", "--out", "rock/two.flac/x"], "cannot write there ("),
        (["rock", "--out", "x", "--model", "pop/notes.txt"], "notes.txt"),
    ],
)
def test_errors_that_are_every_songs_stop_before_any_work(library, args, message) -> None:
    result = run("separate", *args, cwd=library)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert lines[0].startswith("unsing: error: ") and message in lines[0]
    assert not (library / "x").exists()


def test_an_output_that_is_an_input_song_stops_before_any_work(tmp_path) -> None:
    make_library(tmp_path, {"stems/vocals/vocals.wav": (8000, 1, 0.2), "b.wav": (8000, 1, 0.2)})
    song = tmp_path / "stems/vocals/vocals.wav"
    before = song.read_bytes()
    result = run("separate", str(song), "b.wav", "--out", "stems", cwd=tmp_path)
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
    assert "stems/vocals/vocals.wav: that is an input song; choose another --out" in result.stderr
    assert song.read_bytes() == before and not (tmp_path / "stems" / "b").exists()


def test_song_names_are_unique_and_carry_folders_only_where_needed() -> None:
    def found(*parts: str) -> Found:
        return Found(SongInfo(Path(*parts), 8000, 1, 8000), parts)

    songs = [
        found("a", "x.wav"),
        found("b", "x.flac"),
        found("b", "x.wav"),
        found("y.wav"),
        found("c", "Y.ogg"),
        found("z.wav"),
    ]
    assert song_names(songs) == ["a - x", "b - x.flac", "b - x.wav", "y", "c - Y", "z"]
    twice = [found("x.wav"), found("x.wav")]  # two songs with the very same path parts
    assert song_names(twice) == ["x.wav", "x.wav (2)"]


def test_find_songs_counts_what_is_not_audio(library) -> None:
    scan = find_songs([library / "pop", library / "pop" / "one.ogg"])  # the song once
    assert sorted(item.song.path.name for item in scan.found) == ["one.ogg", "three.wav"]
    assert scan.not_audio == 1 and len(scan.failed) == 1


@pytest.mark.slow
def test_ctrl_c_stops_the_workers_cleanly_and_the_next_run_resumes(tmp_path) -> None:
    make_library(tmp_path / "songs", {f"song{i}.wav": (44100, 2, 15.0) for i in range(3)})
    out = tmp_path / "out"
    # stream mode (6x real time): the workers are still inside their songs after 3 s
    args = [str(UNSING), "separate", "songs", "--out", str(out), "--jobs", "2", "--mode", "stream"]
    process = subprocess.Popen(
        args,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    time.sleep(3.0)  # the workers have started and are inside their first songs
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole group
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith("unsing: interrupted: ")
    leftovers = [path for path in out.rglob("*") if path.name.startswith(".")]
    assert not leftovers  # no temporary file survives
    for folder in out.iterdir():  # a song's stems are there complete, or not at all
        assert sorted(path.name for path in folder.iterdir()) == [
            "accompaniment.wav",
            "vocals.wav",
        ]
    done = len(list(out.iterdir()))
    resumed = run("separate", "songs", "--out", str(out), "--jobs", "2", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{3 - done} separated, {done} skipped (already done)" in resumed.stderr
