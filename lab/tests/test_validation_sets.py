"""validation_sets against ``unsing train``'s own per-epoch validation of the same checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile

from lab.probes.validation_sets import main
from unsing.models.recipe import default_recipe_path, load_recipe
from unsing.models.train import train

TINY = [
    "train.widths=[2,2,2,2]",
    "train.tcn_channels=4",
    "train.tcn_dilations=[1]",
    "train.batch_size=2",
    "train.excerpt_seconds=0.5",
    "train.steps_per_epoch=2",
    "train.epochs=1",
    "train.threads=1",
    "train.validation_mir1k_clips=1",
    "train.validation_eif_seconds=2",
]


def write_tree(root: Path) -> Path:
    """MIR-1K-style clips (left = accompaniment, right = voice), abjones's held out, and
    everything-is-free-style stems, sodium's held out."""
    rng = np.random.default_rng(0)
    t = np.arange(2 * 16000) / 16000
    for singer in ("zed", "yan", "abjones"):
        clip = np.stack([0.2 * rng.standard_normal(t.size), 0.3 * np.sin(2 * np.pi * 330 * t)], 1)
        path = root / "mir1k" / "audio" / f"{singer}_1_01.ogg"
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, clip, 16000, format="OGG", subtype="VORBIS")
    t = np.arange(3 * 48000) / 48000
    for track in ("lithium", "sodium"):
        folder = root / "everything-is-free" / track
        folder.mkdir(parents=True)
        voice = 0.2 * np.sin(2 * np.pi * 440 * t) * (np.sin(2 * np.pi * 0.7 * t) > 0)
        soundfile.write(folder / "vocals.ogg", np.stack([voice, voice], 1), 48000)
        soundfile.write(folder / "accompaniment.ogg", 0.1 * rng.standard_normal((t.size, 2)), 48000)
    return root


def test_scores_a_checkpoint_as_its_run_validated_it(tmp_path: Path) -> None:
    overrides = [*TINY, f"train.data_root={write_tree(tmp_path / 'data')}"]
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
