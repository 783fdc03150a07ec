#!/usr/bin/env bash
# Issue 31: finish a fine-tuned U-Net run of lab/recipes/produced.yaml into a shippable model
# and score it: calibrate (python -m unsing.models.calibrate), fit the long band again
# (fit_long_band, stage BAND of the same recipe), then the BSS Eval report on every held-out
# set (musdb18-7s included) and the single-source report (a cappella, instrumentals).
# Usage: bash lab/p31_evaluate.sh RUN BAND [RUNS_DIR]   e.g. p31-produced produced-band
# Resumable: a step whose output exists is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
run="$1"; band="$2"; runs="${3:-/work/runs}"
py=.venv/bin/python
if [[ ! -f "$runs/$run/calibrated.pt" ]]; then
  $py -m unsing.models.calibrate "$runs/$run/last.pt" --out "$runs/$run/calibrated.pt"
fi
if [[ ! -f "$runs/$run-band/last.pt" ]]; then
  $py -m unsing.models.fit_long_band --recipe lab/recipes/produced.yaml --stage "$band" \
    --init "$runs/$run/calibrated.pt" --name "$run-band" --set "train.runs_dir=$runs"
fi
if [[ ! -f "$runs/$run-band/quality.json" ]]; then
  $py -m unsing.models.quality --out "$runs/$run-band/quality.json" --methods mixture \
    --checkpoint "$run=$runs/$run-band/last.pt"
fi
if [[ ! -f "$runs/$run-band/single_source.json" ]]; then
  $py -m unsing.models.single_source --out "$runs/$run-band/single_source.json" \
    --methods mixture --checkpoint "$run=$runs/$run-band/last.pt"
fi
