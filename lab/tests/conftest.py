"""The lab tests reuse the product tests' helpers (``tests/test_train.py``'s tiny recipe and
training tree): the project's ``tests/`` folder goes on ``sys.path``, as pytest puts it there
for its own tests, so ``from test_train import TINY`` works when ``lab/tests`` runs alone too."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = str(Path(__file__).resolve().parents[2] / "tests")
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)
