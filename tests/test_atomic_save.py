"""Checkpoint saves are atomic: a save that dies half-way keeps the previous checkpoint whole."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from unsing.models import atomic_save
from unsing.models.atomic_save import copy_atomically, save_atomically


def test_a_save_writes_the_state_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = save_atomically({"step": 1, "w": torch.arange(4.0)}, tmp_path / "last.pt")
    loaded = torch.load(path, weights_only=True)
    assert loaded["step"] == 1 and torch.equal(loaded["w"], torch.arange(4.0))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_a_save_killed_half_way_keeps_the_previous_checkpoint(monkeypatch, tmp_path: Path) -> None:
    path = save_atomically({"step": 1}, tmp_path / "last.pt")
    real_save = torch.save

    def dies_half_way(state, target) -> None:
        real_save(state, target)
        Path(target).write_bytes(Path(target).read_bytes()[:20])  # truncated, as by a kill
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic_save.torch, "save", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        save_atomically({"step": 2}, path)
    assert torch.load(path, weights_only=True) == {"step": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_a_copy_equals_its_source_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    source = save_atomically({"step": 3, "w": torch.arange(5.0)}, tmp_path / "last.pt")
    copy = copy_atomically(source, tmp_path / "best.pt")
    assert copy.read_bytes() == source.read_bytes()
    loaded = torch.load(copy, weights_only=True)
    assert loaded["step"] == 3 and torch.equal(loaded["w"], torch.arange(5.0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "last.pt"]


def test_a_copy_killed_half_way_keeps_the_previous_file(monkeypatch, tmp_path: Path) -> None:
    previous = save_atomically({"step": 1}, tmp_path / "best.pt")
    source = save_atomically({"step": 2}, tmp_path / "last.pt")

    def dies_half_way(src, dst) -> None:
        Path(dst).write_bytes(Path(src).read_bytes()[:20])
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic_save.shutil, "copyfile", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        copy_atomically(source, previous)
    assert torch.load(previous, weights_only=True) == {"step": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "last.pt"]
