"""``python -m unsing`` runs the command-line interface."""

import sys

from unsing.cli import main

sys.exit(main())
