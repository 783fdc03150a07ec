"""``python -m unsing.export CHECKPOINT -o MODEL.onnx`` (the same as ``unsing export``)."""

import sys

from unsing.cli import main

sys.exit(main(["export", *sys.argv[1:]]))
