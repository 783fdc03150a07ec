"""The ``unsing`` console script's entry point: Ctrl-C while the command line is still loading
(importing numpy, onnxruntime, ...) ends as it does later, with one line and exit status 130,
not a KeyboardInterrupt traceback."""

from __future__ import annotations

import sys

from unsing.errors import INTERRUPTED


def main() -> int:
    """Load the command line and run it; Ctrl-C at any point is one line."""
    try:
        from unsing.cli import main as run_command_line

        return run_command_line()
    except KeyboardInterrupt:
        print("unsing: interrupted", file=sys.stderr)
        return INTERRUPTED
