"""``python -m unsing`` runs the command-line interface."""

import sys

from unsing.entry import main

sys.exit(main())
