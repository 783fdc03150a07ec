"""Where a result came from: the project's git commit."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from unsing import PROJECT_ROOT


def git_commit(short: bool = False) -> str:
    """The checkout's commit (``-dirty`` when tracked files are modified); outside a git checkout
    the ``UNSING_GIT_COMMIT`` environment variable, else "unknown"."""
    root = PROJECT_ROOT or Path.cwd()
    try:
        commit = subprocess.run(
            ["git", "rev-parse", *(["--short"] if short else []), "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "", ""
    if not commit:
        # A copy of the tree without .git (a training machine): the caller says which commit.
        return os.environ.get("UNSING_GIT_COMMIT", "unknown")
    return commit + ("-dirty" if dirty.strip() else "")
