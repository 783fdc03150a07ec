"""Training batches drawn by data-loader workers: the same batches, in the same order, as the
workers' generators give when drawn here one after another; and runs that use workers repeat."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from conftest import require_module

torch = require_module("torch")

from test_train import TINY, write_tree  # noqa: E402

from unsing.models.augment import RandomMixer  # noqa: E402
from unsing.models.batches import EpochDraw, epoch_batches, epoch_rng, worker_rng  # noqa: E402
from unsing.models.data import build_training_pool  # noqa: E402
from unsing.models.recipe import load_recipe  # noqa: E402
from unsing.models.train import train  # noqa: E402
from unsing.provenance import git_commit  # noqa: E402

RATE = 44100
EXCERPT = 4096


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    return build_training_pool(write_tree(tmp_path_factory.mktemp("data")), RATE)


def drawn_here(pool, rng: np.random.Generator, batches: int, batch_size: int) -> list:
    mixer = RandomMixer(pool, RATE, EXCERPT, rng)
    drawn = []
    for _ in range(batches):
        examples = [mixer.sample() for _ in range(batch_size)]
        drawn.append([np.stack([e[i] for e in examples]) for i in range(3)])
    return drawn


def test_in_process_batches_are_the_epoch_generators_draws(pool) -> None:
    got = list(epoch_batches(EpochDraw(pool, RATE, EXCERPT, 3, 4, 0, seed=5, rank=0, epoch=2)))
    expected = drawn_here(pool, epoch_rng(5, 0, 2), 4, 3)
    assert len(got) == 4
    for batch, reference in zip(got, expected, strict=True):
        for tensor, array in zip(batch, reference, strict=True):
            assert tensor.shape == (3, 2, EXCERPT) and tensor.dtype == torch.float32
            np.testing.assert_array_equal(tensor.numpy(), array)


def test_worker_batches_interleave_the_workers_draws_in_order(pool) -> None:
    workers, batches = 2, 5
    draw = EpochDraw(pool, RATE, EXCERPT, 2, batches, workers, seed=5, rank=1, epoch=3)
    got = list(epoch_batches(draw))
    per_worker = {
        w: iter(drawn_here(pool, worker_rng(5, 1, 3, w), len(range(w, batches, workers)), 2))
        for w in range(workers)
    }
    assert len(got) == batches
    for index, batch in enumerate(got):
        reference = next(per_worker[index % workers])
        for tensor, array in zip(batch, reference, strict=True):
            np.testing.assert_array_equal(tensor.numpy(), array)
    # another epoch draws other mixes
    other = next(iter(epoch_batches(dataclasses.replace(draw, batches=1, epoch=4))))
    assert not np.array_equal(other[0].numpy(), got[0][0].numpy())


def test_a_run_with_data_workers_repeats_and_trains(tmp_path: Path) -> None:
    data_root = write_tree(tmp_path / "data")
    config = load_recipe(
        overrides=[
            *TINY,
            "train.data_workers=2",
            f"train.data_root={data_root}",
            f"train.runs_dir={tmp_path / 'runs'}",
        ]
    )
    first = train(config, tmp_path / "runs" / "a", max_steps=3, quiet=True)
    second = train(config, tmp_path / "runs" / "b", max_steps=3, quiet=True)
    a = torch.load(first / "last.pt", weights_only=False)
    b = torch.load(second / "last.pt", weights_only=False)
    assert a["step"] == 3 and a["config"]["train"]["data_workers"] == 2
    assert all(torch.equal(a["model_state"][k], b["model_state"][k]) for k in a["model_state"])


def test_git_commit_named_by_the_environment_wins(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("UNSING_GIT_COMMIT", raising=False)
    checkout = git_commit()
    monkeypatch.setenv("UNSING_GIT_COMMIT", "abc123")
    assert git_commit() == "abc123" != checkout  # a stale copy of .git does not decide
    monkeypatch.setattr("unsing.provenance.PROJECT_ROOT", tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert git_commit() == "abc123"
    monkeypatch.delenv("UNSING_GIT_COMMIT")
    assert git_commit() == "unknown"  # no checkout, no variable
