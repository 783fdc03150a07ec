"""The moving average of the weights: the recurrence, its warm-up, and what training ships."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import require_module

torch = require_module("torch")

from test_train import TINY, write_tree  # noqa: E402

from unsing.models.data import build_validation_set  # noqa: E402
from unsing.models.ema import WeightAverage  # noqa: E402
from unsing.models.recipe import load_recipe  # noqa: E402
from unsing.models.train import load_checkpoint, train, validate  # noqa: E402
from unsing.stft import StftSpec  # noqa: E402


def test_average_follows_the_warmed_up_recurrence() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    average = WeightAverage(model, decay=0.9)
    reference = {
        k: v.detach().numpy().astype(np.float64).copy() for k, v in model.state_dict().items()
    }
    rng = np.random.default_rng(0)
    for t in range(30):
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(torch.from_numpy(rng.standard_normal(parameter.shape)).float())
            model(torch.randn(4, 3))  # batch norm's running statistics move too (train mode)
        decay = min(0.9, (1 + t) / (10 + t))
        assert average.current_decay() == pytest.approx(decay)
        average.update(model)
        for name, value in model.state_dict().items():
            if value.dtype.is_floating_point:
                reference[name] = decay * reference[name] + (1 - decay) * value.numpy()
            else:
                reference[name] = value.numpy().copy()
    for name, value in average.state.items():
        np.testing.assert_allclose(value.numpy(), reference[name], rtol=1e-5, atol=1e-6)
    assert int(average.state["1.num_batches_tracked"]) == 30


def test_decay_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(torch.nn.Linear(2, 2), decay=1.0)


def tiny_run_recipe(tmp_path: Path, ema_decay: float):
    """The tiny architecture of test_train on its synthetic data tree."""
    return load_recipe(
        overrides=[
            *TINY,
            f"train.data_root={write_tree(tmp_path / 'data')}",
            f"train.runs_dir={tmp_path / 'runs'}",
            f"train.ema_decay={ema_decay}",
        ]
    )


def test_training_ships_the_average_and_resumes_it_exactly(tmp_path: Path) -> None:
    recipe = tiny_run_recipe(tmp_path, ema_decay=0.5)
    whole = train(recipe, tmp_path / "runs" / "whole", quiet=True)
    model, state = load_checkpoint(whole / "last.pt")
    assert state["ema"] == {"decay": 0.5, "updates": 6}
    raw, shipped = state["train_model_state"], state["model_state"]
    assert any(
        not torch.equal(raw[k], shipped[k]) for k in raw if raw[k].dtype.is_floating_point
    ), "the shipped weights are the average, not the last step's"
    # what validation scored is the shipped (averaged) model, scored again here
    log = [json.loads(line) for line in (whole / "train_log.jsonl").read_text().splitlines()]
    items = build_validation_set(recipe.train.data_root, 44100, mir1k_clips=1, eif_seconds=2)
    assert validate(model, items, StftSpec(1024, 256)) == log[-1]["validation_sdr_db"]

    parts = tmp_path / "runs" / "parts"
    train(recipe, parts, quiet=True, max_steps=2)
    train(recipe, parts, quiet=True, resume=True)
    _, resumed = load_checkpoint(parts / "last.pt")
    assert resumed["ema"]["updates"] == 6
    for key in ("model_state", "train_model_state"):
        for name, value in state[key].items():
            torch.testing.assert_close(resumed[key][name], value, atol=1e-6, rtol=1e-5)


def test_no_average_ships_the_raw_weights(tmp_path: Path) -> None:
    recipe = tiny_run_recipe(tmp_path, ema_decay=0.0)
    run = train(recipe, tmp_path / "runs" / "raw", quiet=True, max_steps=2)
    _, state = load_checkpoint(run / "last.pt")
    assert "train_model_state" not in state and "ema" not in state
