"""The reproduction check compares two quality reports set by set."""

from __future__ import annotations

import json
from pathlib import Path

from unsing.models import compare_quality


def _report(path: Path, method: str, scores: dict[str, tuple[float | None, float]]) -> str:
    results = {
        set_name: {
            method: {"vocals": {"SDR": vocals}, "accompaniment": {"SDR": accompaniment}},
            "mixture": {"vocals": {"SDR": 0.0}, "accompaniment": {"SDR": 0.0}},
        }
        for set_name, (vocals, accompaniment) in scores.items()
    }
    path.write_text(json.dumps({"results": results}))
    return f"{path}:{method}"


def test_within_and_outside_the_tolerance(tmp_path: Path, capsys) -> None:
    reference = _report(tmp_path / "ref.json", "unsing-causal", {"mir1k": (5.1, 5.5), "x": (2, 3)})
    close = _report(tmp_path / "close.json", "retrained", {"mir1k": (4.7, 5.9)})
    far = _report(tmp_path / "far.json", "retrained", {"mir1k": (4.5, 5.5)})
    unscored = _report(tmp_path / "none.json", "retrained", {"mir1k": (None, 5.5)})
    assert compare_quality.main([close, reference]) == 0
    assert "+0.40" in capsys.readouterr().out  # only the sets both scored
    assert compare_quality.main([far, reference]) == 1
    assert "-0.60" in capsys.readouterr().out
    assert compare_quality.main([far, reference, "--tolerance-db", "0.7"]) == 0
    assert compare_quality.main([unscored, reference]) == 1


def test_unreadable_reports_are_one_line_errors(tmp_path: Path, capsys) -> None:
    reference = _report(tmp_path / "ref.json", "unsing-causal", {"mir1k": (5.1, 5.5)})
    (tmp_path / "broken.json").write_text("{not json")
    for spec, reason in (
        (f"{tmp_path / 'missing.json'}:retrained", "not a readable quality report"),
        (f"{tmp_path / 'broken.json'}:retrained", "not a readable quality report"),
        (f"{tmp_path / 'ref.json'}", "expected REPORT.json:METHOD"),
        (f"{tmp_path / 'ref.json'}:nobody", "has no scores for 'nobody'"),
    ):
        assert compare_quality.main([spec, reference]) == 2
        error = capsys.readouterr().err
        assert reason in error and error.count("\n") == 1


def test_mir1k_is_also_split_by_singer(tmp_path: Path, capsys) -> None:
    def report(path: Path, method: str, clips: dict[str, float]) -> str:
        per_track = {
            clip: {method: {"vocals": {"SDR": sdr}, "accompaniment": {"SDR": sdr + 1}}}
            for clip, sdr in clips.items()
        }
        results = {"mir1k": {method: {"vocals": {"SDR": 5.0}, "accompaniment": {"SDR": 6.0}}}}
        path.write_text(json.dumps({"results": results, "per_track": {"mir1k": per_track}}))
        return f"{path}:{method}"

    new = report(
        tmp_path / "n.json", "m", {"abjones_1_01": 7.0, "abjones_1_02": 5.0, "annar_1_01": 2.0}
    )
    old = report(
        tmp_path / "o.json", "r", {"abjones_1_01": 5.0, "annar_1_01": 6.0, "annar_1_02": 4.0}
    )
    new_report = json.loads((tmp_path / "n.json").read_text())
    assert compare_quality.mir1k_by_singer(new_report, "m") == {
        "abjones": {"vocals": 6.0, "accompaniment": 7.0},
        "annar": {"vocals": 2.0, "accompaniment": 3.0},
    }
    assert compare_quality.main([new, old]) == 0  # the sets agree; the singers only inform
    out = capsys.readouterr().out
    assert "| abjones | vocals | 6.0 | 5.0 | +1.00 |" in out
    assert "| annar | vocals | 2.0 | 5.0 | -3.00 |" in out
    assert compare_quality.mir1k_by_singer({"results": {}}, "m") == {}  # no per_track
