#!/usr/bin/env bash
# The main job on a fresh Debian/Ubuntu machine: install everything, then remove the vocal from
# the shipped demo song with the live engine: to the speakers where there is a sound card,
# otherwise (no output device) rendered to out/karissa_hobbs-lets_go_fishin.karaoke.wav.
# Extra arguments go to `unsing play`, e.g. `bash scripts/run.sh --vocal-db -12 --output 3`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
.venv/bin/unsing play assets/demo/karissa_hobbs-lets_go_fishin.ogg "$@"
