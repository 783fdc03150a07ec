#!/usr/bin/env bash
# The main job on a fresh Debian/Ubuntu machine: install everything, then run unsing.
# Until the live engine lands this shows the configuration, the latency and the audio devices.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
.venv/bin/unsing info "$@"
echo
.venv/bin/unsing devices || true
