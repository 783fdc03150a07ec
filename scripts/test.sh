#!/usr/bin/env bash
# The whole test suite, on a fresh Debian/Ubuntu machine or a developer's:
# installs what it needs, lints, starts a JACK dummy server for the real audio/MIDI tests,
# runs pytest (arguments are passed on), stops the server and exits with the tests' status.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh dev,train,bench

echo "unsing: ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .

# shellcheck source=scripts/jack_dummy.sh
source scripts/jack_dummy.sh
rate=$(.venv/bin/python -c 'from unsing.config import load_config; print(load_config().contract.sample_rate_hz)')
start_jack_dummy "$rate" 256
trap stop_jack_dummy EXIT
# Missing torch or JACK fails the audio/torch tests here instead of skipping them.
export UNSING_STRICT=1
status=0
.venv/bin/python -m pytest "$@" || status=$?
stop_jack_dummy
exit "$status"
