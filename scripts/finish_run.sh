#!/usr/bin/env bash
# The end of a training recipe: calibrate runs/RUN/last.pt (-> calibrated.pt), package it with
# its card into runs/RUN/package, export it to ONNX and write its BSS Eval report there
# (runs/RUN/package/quality.json, the model under NAME).
# Usage: bash scripts/finish_run.sh RUN NAME   (called by train_default.sh and train_wide.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
run="runs/$1"
name="$2"
out="$run/package"
.venv/bin/python -m unsing.models.calibrate "$run/last.pt" --out "$run/calibrated.pt"
.venv/bin/python -m unsing.models.package "$run" --checkpoint calibrated.pt --out "$out"
.venv/bin/unsing export "$out/unsing-default.pt" -o "$out/unsing-default.onnx"
.venv/bin/python -m unsing.models.quality --methods mixture \
  --checkpoint "$name=$out/unsing-default.pt" --out "$out/quality.json"
echo "unsing: trained and exported into $out"
