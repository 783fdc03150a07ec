"""Data readers: MUSDB18-HQ layout, MIR-1K split by singer, generic folder pairs, resampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from unsing.models.data import (
    Manifest,
    build_training_pool,
    build_validation_set,
    load_audio,
    load_mir1k_validation,
    read_folder_pairs,
    read_mir1k,
    read_musdb_track,
)


def tone(rate: int, seconds: float, hz: float, channels: int = 2) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return np.stack([0.25 * np.sin(2 * np.pi * hz * t)] * channels, axis=1)


def test_resampling_keeps_duration_and_pitch(tmp_path: Path) -> None:
    soundfile.write(tmp_path / "a.flac", tone(16000, 1.0, 1000.0, 1), 16000)
    audio = load_audio(tmp_path / "a.flac", 44100)
    assert audio.shape == (1, 44100) and audio.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(audio[0]))
    assert abs(np.argmax(spectrum) * 44100 / audio.shape[1] - 1000.0) < 2.0


def test_musdb18hq_track_sums_drums_bass_other(tmp_path: Path) -> None:
    track = tmp_path / "train" / "Artist - Song"
    track.mkdir(parents=True)
    for name, hz in (("vocals", 440), ("drums", 100), ("bass", 55), ("other", 880)):
        soundfile.write(track / f"{name}.wav", tone(44100, 0.5, hz), 44100)
    soundfile.write(track / "mixture.wav", tone(44100, 0.5, 1), 44100)
    vocals, accompaniment = read_musdb_track(track, 44100)
    expected = sum(tone(44100, 0.5, hz) for hz in (100, 55, 880)).T
    np.testing.assert_allclose(accompaniment, expected, atol=1e-4)
    np.testing.assert_allclose(vocals, tone(44100, 0.5, 440).T, atol=1e-4)


def test_mir1k_channels_and_singer_split(tmp_path: Path) -> None:
    for name in ("abjones_1_01", "amy_2_03"):
        clip = np.stack([tone(16000, 0.5, 200, 1)[:, 0], tone(16000, 0.5, 600, 1)[:, 0]], 1)
        soundfile.write(tmp_path / f"{name}.ogg", clip, 16000, format="OGG", subtype="VORBIS")
    clips = read_mir1k(tmp_path, 16000, singers_excluded=["abjones"])
    assert [c[0] for c in clips] == ["amy_2_03"]
    _, vocals, accompaniment = clips[0]
    peak = lambda x: np.argmax(np.abs(np.fft.rfft(x[0]))) * 16000 / x.shape[1]  # noqa: E731
    assert abs(peak(vocals) - 600) < 5 and abs(peak(accompaniment) - 200) < 5  # right = voice
    assert [c[0] for c in read_mir1k(tmp_path, 16000, singers_only=["abjones"])] == ["abjones_1_01"]


def test_generic_folder_pairs_match_by_name(tmp_path: Path) -> None:
    (tmp_path / "v").mkdir()
    (tmp_path / "a").mkdir()
    soundfile.write(tmp_path / "v" / "song1.wav", tone(22050, 1.0, 300, 1), 22050)
    soundfile.write(tmp_path / "a" / "song1.flac", tone(22050, 0.8, 100), 22050)
    soundfile.write(tmp_path / "v" / "orphan.wav", tone(22050, 1.0, 300), 22050)
    pairs = read_folder_pairs(tmp_path / "v", tmp_path / "a", 44100)
    assert [p[0] for p in pairs] == ["song1"]
    assert pairs[0][1].shape == pairs[0][2].shape == (2, int(0.8 * 44100))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no files with matching names"):
        read_folder_pairs(tmp_path / "v", tmp_path / "empty", 44100)


def test_pool_needs_both_roles(tmp_path: Path) -> None:
    (tmp_path / "singing").mkdir()
    soundfile.write(tmp_path / "singing" / "solo.flac", tone(44100, 0.5, 300), 44100)
    with pytest.raises(FileNotFoundError, match="no vocal or no accompaniment"):
        build_training_pool(tmp_path, 44100, Manifest())


def test_validation_set_is_stereo_at_0_db_with_the_loudest_excerpt(tmp_path: Path) -> None:
    # MIR-1K: a held-out singer (voice 6 dB above the accompaniment) and a training singer.
    mir1k = tmp_path / "mir1k" / "audio"
    mir1k.mkdir(parents=True)
    for name in ("abjones_1_01", "amy_2_03"):
        clip = np.concatenate([tone(16000, 1.5, 200, 1), 2 * tone(16000, 1.5, 600, 1)], axis=1)
        soundfile.write(mir1k / f"{name}.wav", clip, 16000)
    # everything-is-free: the held-out track, vocals loudest in seconds 3-4 of 6.
    sodium = tmp_path / "everything-is-free" / "sodium"
    sodium.mkdir(parents=True)
    vocals = 0.1 * tone(48000, 6.0, 440)
    vocals[3 * 48000 : 5 * 48000] *= 5
    soundfile.write(sodium / "vocals.wav", vocals, 48000)
    soundfile.write(sodium / "accompaniment.wav", tone(48000, 6.0, 110), 48000)
    for suffix in ("vocals", "accompaniment"):  # the loader reads .ogg names
        (sodium / f"{suffix}.wav").rename(sodium / f"{suffix}.ogg")
    manifest = Manifest()
    items = build_validation_set(tmp_path, 44100, eif_seconds=2.0, manifest=manifest)
    assert [(i.set_name, i.name) for i in items] == [("mir1k", "abjones_1_01"), ("eif", "sodium")]
    for item in items:
        assert item.vocals.shape == item.accompaniment.shape and item.vocals.shape[0] == 2
    clip, excerpt = items
    np.testing.assert_array_equal(clip.vocals[0], clip.vocals[1])  # mono duplicated
    ratio_db = 10 * np.log10(np.sum(clip.vocals[0] ** 2.0) / np.sum(clip.accompaniment[0] ** 2.0))
    assert abs(ratio_db) < 1e-3
    assert excerpt.vocals.shape[1] == 2 * 44100
    tenth = 4410  # the excerpt is the loud stretch, seconds 3-5 (amplitude 0.125, else 0.025)
    assert np.max(np.abs(excerpt.vocals[:, :tenth])) > 0.1
    assert np.max(np.abs(excerpt.vocals[:, -tenth:])) > 0.1
    assert [e.role for e in manifest.entries] == ["validation", "validation"]
    # The loader itself keeps MIR-1K mono.
    (mono,) = load_mir1k_validation(tmp_path, 44100)
    assert mono.vocals.shape == (1, int(1.5 * 44100)) and mono.duration_s == 1.5


def test_a_validation_subset_takes_clips_from_every_singer_in_turn() -> None:
    from unsing.models.data import balanced_by_singer

    paths = [Path(f"abjones_{s}_{c:02d}.ogg") for s in (1, 2) for c in range(1, 21)]
    paths += [Path(f"annar_{s}_{c:02d}.ogg") for s in (1, 2) for c in range(1, 3)]  # 4 clips
    chosen = balanced_by_singer(paths, 10)
    assert chosen == sorted(chosen) and len(set(chosen)) == 10
    # annar's 4 clips all, abjones its first 6 by name
    assert [p.name for p in chosen if p.name.startswith("annar")] == [
        "annar_1_01.ogg",
        "annar_1_02.ogg",
        "annar_2_01.ogg",
        "annar_2_02.ogg",
    ]
    assert [p.name for p in chosen if p.name.startswith("abjones")] == [
        f"abjones_1_{c:02d}.ogg" for c in range(1, 7)
    ]
    even = balanced_by_singer(paths, 4)
    assert sum(p.name.startswith("annar") for p in even) == 2
    assert balanced_by_singer(paths, None) == paths
    assert balanced_by_singer(paths, 100) == paths
