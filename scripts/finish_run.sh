#!/usr/bin/env bash
# The end of a training recipe: calibrate runs/RUN/last.pt (-> calibrated.pt), package it with
# its card into runs/RUN/package, export it to ONNX and write its BSS Eval report there
# (runs/RUN/package/quality.json, the model under NAME). With a third argument "last" the run's
# last.pt is packaged as it is (a long band fitted on a calibrated U-Net: nothing to calibrate).
# Usage: bash scripts/finish_run.sh RUN NAME [last]   (scripts/train_default.sh and lab/train_wide.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
run="runs/$1"
name="$2"
out="$run/package"
checkpoint=calibrated.pt
if [[ "${3:-}" == last ]]; then
  checkpoint=last.pt
else
  .venv/bin/python -m unsing.models.calibrate "$run/last.pt" --out "$run/calibrated.pt"
fi
.venv/bin/python -m unsing.models.package "$run" --checkpoint "$checkpoint" --out "$out"
.venv/bin/unsing export "$out/unsing-default.pt" -o "$out/unsing-default.onnx"
.venv/bin/python -m unsing.models.quality --methods mixture \
  --checkpoint "$name=$out/unsing-default.pt" --out "$out/quality.json"
echo "unsing: trained and exported into $out"
