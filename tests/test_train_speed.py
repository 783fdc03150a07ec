"""The training-speed benchmark times real training steps in each precision."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import require_module

require_module("torch")

from test_train import TINY  # noqa: E402

from unsing.benchmarks import train_speed  # noqa: E402
from unsing.models.recipe import load_recipe  # noqa: E402


def test_rows_for_each_precision_and_width_with_speedups() -> None:
    recipe = load_recipe(overrides=TINY)
    result = train_speed.run(recipe, [(2, 2, 2, 2), (2, 2, 2, 4)], steps=2)
    rows = result["rows"]
    assert [(r["widths"], r["precision"]) for r in rows] == [
        ([2, 2, 2, 2], "float32"),
        ([2, 2, 2, 2], "bfloat16"),
        ([2, 2, 2, 4], "float32"),
        ([2, 2, 2, 4], "bfloat16"),
    ]
    for row in rows:
        seconds = row["seconds_per_step"]
        assert 0 < seconds["min"] <= seconds["median"] <= seconds["max"]
        assert row["steps_per_hour"] == pytest.approx(3600 / seconds["median"], rel=0.02)
    assert rows[0]["speedup_vs_float32"] == 1.0
    assert rows[1]["speedup_vs_float32"] == pytest.approx(
        rows[0]["seconds_per_step"]["median"] / rows[1]["seconds_per_step"]["median"], abs=0.01
    )
    assert rows[3]["parameters"] == rows[2]["parameters"] > rows[1]["parameters"]
    assert result["batch_size"] == 2 and result["threads"] == 1
    json.dumps(result)


def test_cli_writes_the_result_and_refuses_bad_widths(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        train_speed.main(["--widths", "8,x", "--out", str(tmp_path / "a.json")])
    assert "is not a list like" in capsys.readouterr().err
