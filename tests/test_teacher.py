"""Teacher labels: songs split by a separator into the pair-folder layout with a record, resumed
without re-separating, unreadable songs skipped with the reason, and read back as training pairs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from unsing.errors import ConfigError
from unsing.models.data import Manifest, build_training_pool
from unsing.models.teacher import label_songs


class HalfAndHalf:
    """A stand-in teacher: vocals = left channel, accompaniment = right channel (stereo)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, mixture: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
        self.calls += 1
        vocals = np.stack([mixture[0], mixture[0]])
        return vocals, mixture - vocals


def _songs(folder: Path) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    song = 0.1 * rng.standard_normal((44100, 2)).astype(np.float32)
    soundfile.write(folder / "good_song.ogg", song, 44100)
    (folder / "good_song.license.txt").write_text("CC BY 3.0, Some Band\nmore text\n")
    (folder / "video_song.ogg").write_bytes(b"OggS" + bytes(200))  # not audio libsndfile reads
    return folder


def test_songs_are_labelled_once_and_unreadable_ones_are_skipped(tmp_path: Path) -> None:
    songs = _songs(tmp_path / "songs")
    teacher = HalfAndHalf()
    document = label_songs(songs, tmp_path / "labels", teacher, "half-and-half")
    assert list(document["songs"]) == ["good_song"]
    assert document["songs"]["good_song"]["licence"] == "CC BY 3.0, Some Band"
    assert document["songs"]["good_song"]["seconds"] == pytest.approx(1.0)
    assert document["songs"]["good_song"]["clipped_samples"] == 0
    assert "video_song" in document["skipped"]
    assert json.loads((tmp_path / "labels" / "labels.json").read_text()) == document
    mixture, _ = soundfile.read(songs / "good_song.ogg", always_2d=True)
    vocals, rate = soundfile.read(tmp_path / "labels/vocals/good_song.flac", always_2d=True)
    accompaniment, _ = soundfile.read(tmp_path / "labels/accompaniment/good_song.flac")
    assert rate == 44100 and vocals.shape == (44100, 2)
    np.testing.assert_allclose(vocals[:, 1], mixture[:, 0], atol=1e-4)  # the teacher's split
    np.testing.assert_allclose(vocals + accompaniment, mixture, atol=1e-4)
    label_songs(songs, tmp_path / "labels", teacher, "half-and-half")
    assert teacher.calls == 1  # already labelled: not separated again
    with pytest.raises(ValueError, match="not other"):
        label_songs(songs, tmp_path / "labels", teacher, "other")
    with pytest.raises(FileNotFoundError, match="no songs"):
        label_songs(tmp_path / "nothing", tmp_path / "labels2", teacher, "half-and-half")


def test_teacher_labels_join_the_training_pool_with_their_licence(tmp_path: Path) -> None:
    from test_train import write_tree

    data_root = write_tree(tmp_path / "data")
    label_songs(_songs(tmp_path / "songs"), tmp_path / "labels", HalfAndHalf(), "half-and-half")
    manifest = Manifest()
    pool = build_training_pool(data_root, 44100, manifest, teacher_labels=tmp_path / "labels")
    assert len(pool.vocal_groups["teacher"]) == 1 and len(pool.accompaniment_groups["teacher"]) == 1
    licences = [e["licence"] for e in manifest.as_dict()["entries"] if "good_song" in e["path"]]
    assert licences == ["teacher-labelled (half-and-half): CC BY 3.0, Some Band"]
    plain = build_training_pool(data_root, 44100, Manifest())
    assert "teacher" not in plain.vocal_groups
    with pytest.raises(ConfigError, match=r"python -m unsing\.models\.teacher"):
        build_training_pool(data_root, 44100, Manifest(), teacher_labels=tmp_path / "none")
    labels_json = (tmp_path / "labels" / "labels.json").read_text()
    (tmp_path / "labels" / "accompaniment" / "good_song.flac").unlink()
    with pytest.raises(ConfigError, match="teacher_labels"):
        build_training_pool(data_root, 44100, Manifest(), teacher_labels=tmp_path / "labels")
    assert json.loads(labels_json)["songs"]
    (tmp_path / "labels" / "labels.json").write_text("{not json")
    with pytest.raises(ConfigError, match="is not a labels file"):
        build_training_pool(data_root, 44100, Manifest(), teacher_labels=tmp_path / "labels")
