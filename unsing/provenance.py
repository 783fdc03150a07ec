"""Where a result came from: the project's git commit."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from unsing import PROJECT_ROOT


def git_commit(short: bool = False) -> str:
    """The checkout's commit (``-dirty`` when tracked files are modified), or "unknown".

    ``UNSING_GIT_COMMIT``, when set, is returned as it is: a copy of the tree on another machine
    (scripts/device/) may carry stale git metadata or none, and the caller knows the commit.
    """
    if os.environ.get("UNSING_GIT_COMMIT"):
        return os.environ["UNSING_GIT_COMMIT"]
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
        return "unknown"
    return (commit + ("-dirty" if dirty.strip() else "")) if commit else "unknown"
