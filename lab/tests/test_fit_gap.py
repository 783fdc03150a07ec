"""fit_gap's paired per-song changes against hand-computed ones."""

from __future__ import annotations

from lab.probes.fit_gap import changes


def test_changes_are_the_median_of_per_song_differences_not_of_medians() -> None:
    sdr_db = {
        "base": {"validation": {"vocals": [1.0, 2.0, 10.0], "accompaniment": [5.0, 6.0, 7.0]}},
        "new": {"validation": {"vocals": [1.5, 1.0, 11.0], "accompaniment": [5.0, 6.5, 9.0]}},
    }
    # vocals: differences +0.5, -1.0, +1.0 -> +0.5 (the medians differ by -0.5)
    assert changes(sdr_db, "base") == {"new": {"validation": {"vocals": 0.5, "accompaniment": 0.5}}}
