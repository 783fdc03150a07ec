"""The probes' paired per-song changes against hand-computed ones."""

from __future__ import annotations

from lab.probes.scores import changes_per_split


def test_changes_are_the_median_of_per_song_differences_not_of_medians() -> None:
    sdr_db = {
        "base": {"validation": {"vocals": [1.0, 2.0, 10.0], "accompaniment": [5.0, 6.0, 7.0]}},
        "new": {"validation": {"vocals": [1.5, 1.0, 11.0], "accompaniment": [5.0, 6.5, 9.0]}},
    }
    # vocals: differences +0.5, -1.0, +1.0 -> +0.5 (the medians differ by -0.5)
    assert changes_per_split(sdr_db, "base") == {
        "new": {"validation": {"vocals": 0.5, "accompaniment": 0.5}}
    }


def test_folder_songs_cut_the_middle_seven_seconds_of_each_pair(tmp_path) -> None:
    import numpy as np
    import soundfile

    from lab.probes.fit_gap import RATE, folder_songs

    for stem in ("vocals", "accompaniment"):
        (tmp_path / stem).mkdir()
    ramp = np.arange(9 * RATE, dtype=np.float32) / (9 * RATE) * 0.5
    for name, seconds in (("a", 9), ("b", 3)):
        audio = np.stack([ramp[: seconds * RATE]] * 2, axis=1)
        soundfile.write(tmp_path / "vocals" / f"{name}.wav", audio, RATE, subtype="FLOAT")
        soundfile.write(tmp_path / "accompaniment" / f"{name}.wav", -audio, RATE, subtype="FLOAT")
    items = folder_songs(tmp_path, 5)
    assert [(item.set_name, item.name) for item in items] == [("pairs", "a"), ("pairs", "b")]
    first, short = items
    assert first.vocals.shape == (2, 7 * RATE)
    np.testing.assert_allclose(first.vocals[0], ramp[RATE : 8 * RATE], atol=1e-6)
    np.testing.assert_allclose(first.accompaniment, -first.vocals, atol=1e-6)
    assert short.vocals.shape == (2, 3 * RATE)
    assert len(folder_songs(tmp_path, 1)) == 1
