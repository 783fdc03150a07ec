"""validation_sets against ``unsing train``'s own per-epoch validation of the same checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

from test_train import TINY, write_tree

from lab.probes.validation_sets import main
from unsing.models.recipe import default_recipe_path, load_recipe
from unsing.models.train import train


def test_scores_a_checkpoint_as_its_run_validated_it(tmp_path: Path) -> None:
    overrides = [*TINY, "train.epochs=1", f"train.data_root={write_tree(tmp_path / 'data')}"]
    recipe = load_recipe(overrides=[*overrides, f"train.runs_dir={tmp_path / 'runs'}"])
    run = train(recipe, tmp_path / "runs" / "tiny", quiet=True)
    logged = json.loads((run / "train_log.jsonl").read_text().splitlines()[-1])
    out = tmp_path / "scores.json"
    sets = ["--recipe", str(default_recipe_path())]
    args = [f"a={run / 'last.pt'}", f"b={run / 'last.pt'}", *sets, "--against", "a"]
    assert main([*args, *(f"--set={o}" for o in overrides), "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["items"] == {"mir1k": 1, "eif": 1}
    for name in ("a", "b"):
        for set_name, stems in logged["validation_sdr_db"].items():
            for stem, sdr_db in stems.items():
                assert abs(result["median_sdr_db"][name][set_name][stem] - sdr_db) < 2e-3
    zero = {"vocals": 0.0, "accompaniment": 0.0}
    assert result["median_change_per_item_db"] == {"b": {"mir1k": zero, "eif": zero}}
