"""Checkpoints written so that a kill mid-write never leaves a truncated file behind."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def _write_atomically(path: str | Path, write: Callable[[Path], object]) -> Path:
    """``write(temporary)``, then rename the temporary file over ``path``.

    A run stopped while it writes (Ctrl-C, a session's end, a full disk) keeps the previous
    ``path`` whole, so ``--resume`` still works; the half-written temporary file is removed when
    the write raises."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial")
    try:
        write(partial)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path


def save_atomically(state: Any, path: str | Path) -> Path:
    """``torch.save(state, path)`` through a temporary file renamed over ``path`` when complete."""
    return _write_atomically(path, lambda partial: torch.save(state, partial))


def copy_atomically(source: str | Path, path: str | Path) -> Path:
    """Copy the checkpoint file ``source`` to ``path`` through a temporary file renamed over it.

    Cheaper than serialising the same state twice (``best.pt`` is ``last.pt`` when the newest
    epoch is the best), and as safe: a kill mid-copy keeps the previous ``path`` whole."""
    return _write_atomically(path, lambda partial: shutil.copyfile(source, partial))
