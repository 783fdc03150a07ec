"""Checkpoint saves are atomic: a save that dies half-way keeps the previous checkpoint whole."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from unsing.models import atomic_save
from unsing.models.atomic_save import save_atomically


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
