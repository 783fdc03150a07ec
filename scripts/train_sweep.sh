#!/usr/bin/env bash
# Train the quality-vs-latency sweep, then score it (benchmarks/results/quality_latency.*).
# Every point is the shipped chain's stage-2 network (runs/default-v3/last.pt: the shipped model
# of the time with its mask calibration removed, up to rounding; bash scripts/train_default.sh
# makes it) fine-tuned with one schedule -- 2 epochs of 250 steps, peak learning rate 1e-3, seed
# 1236, raw weights (no moving average), the schedule of lab/models/lookahead4 -- into one
# setting, so that the points differ in that setting only (a new n_fft warm-starts by
# resampling the frequency-dependent weights: models/transfer.py). The schedule and each
# point's setting are the recipe lab/recipes/sweep.yaml (the shipped recipe plus the sweep's
# changes; one stage per point). 25-70 minutes per point on 2 CPU cores (hop 128 doubles the
# frames).
# Hop at a fixed n_fft: sweep-n1024-h128-v1 halves the hop of the control point (n_fft 1024).
# Usage: bash scripts/train_sweep.sh   (runs go to runs/sweep-*; finished ones are kept)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh train,bench
init=runs/default-v3/last.pt
if [[ ! -f "$init" ]]; then
  echo "train_sweep.sh: no $init: run bash scripts/train_default.sh first" >&2
  exit 2
fi
point() {  # point STAGE: run sweep-STAGE-v1 from the recipe's stage STAGE
  local name="sweep-$1-v1"
  if [[ ! -f "runs/$name/last.pt" ]]; then
    .venv/bin/unsing train --recipe lab/recipes/sweep.yaml --stage "$1" --name "$name" \
      --init "$init" --quiet
  fi
}
point n1024-h256
point n512-h128
point n2048-h512
point n1024-h128
point n1024-h256-c49
# the look-ahead point is lab/models/lookahead4 (stage n1024-h256-la4 of the same recipe)
.venv/bin/python -m unsing.benchmarks quality_latency
