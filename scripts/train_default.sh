#!/usr/bin/env bash
# Train the shipped default model from scratch, as it was trained, on ../shared/data (CPU: about
# 5 hours on 2 cores; a GPU is used when present), then package and export it:
#   stage 1: the causal U-Net with config.yaml's train section, stopped after 7 of its 8 epochs
#            (step 1750), where run default-v2 was stopped;
#   stage 2: fine-tuned from stage 1 for 6 epochs with a fresh one-cycle schedule (peak learning
#            rate 0.001, seed 1235): run default-v3;
#   stage 3: the mask calibrated on training material and folded into the weights
#            (python -m unsing.models.calibrate, about 10 minutes): runs/default-v3/calibrated.pt.
# Usage: bash scripts/train_default.sh [PREFIX]   (runs go to runs/PREFIX-v2, runs/PREFIX-v3)
# Interrupted? Run the same command again: each stage resumes from its last epoch's checkpoint,
# and a finished stage is left as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="${1:-default}"
bash scripts/install.sh train,bench
resume_if_started() { if [[ -f "runs/$1/last.pt" ]]; then echo --resume; fi; }
.venv/bin/unsing train --name "$prefix-v2" $(resume_if_started "$prefix-v2") --max-steps 1750 \
  --set train.ema_decay=0 --quiet
.venv/bin/unsing train --name "$prefix-v3" $(resume_if_started "$prefix-v3") \
  --init "runs/$prefix-v2/last.pt" \
  --set train.seed=1235 --set train.learning_rate=0.001 --set train.epochs=6 \
  --set train.ema_decay=0 --quiet
bash scripts/finish_run.sh "$prefix-v3" retrained  # calibrate, package, export, quality report
# Reproduced? The retrained model's BSS Eval report against the shipped one's (within 0.5 dB).
.venv/bin/python -m unsing.models.compare_quality "runs/$prefix-v3/package/quality.json:retrained" \
  benchmarks/results/quality.json:unsing-causal --tolerance-db 0.5
