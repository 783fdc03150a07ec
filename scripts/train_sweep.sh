#!/usr/bin/env bash
# Train the quality-vs-latency sweep, then score it (benchmarks/results/quality_latency.*).
# Every point is the shipped model (its mask calibration removed again by --init: the trained
# network, runs/default-v3/last.pt) fine-tuned with one recipe -- 2 epochs of 250 steps, peak
# learning rate 1e-3, seed 1236, raw weights (no moving average), the recipe of
# lab/models/lookahead4 -- into one setting,
# so that the points differ in that setting only (a new n_fft warm-starts by resampling the
# frequency-dependent weights: models/transfer.py). 25-70 minutes per point on 2 CPU cores
# (hop 128 doubles the frames).
# Hop at a fixed n_fft: sweep-n1024-h128-v1 halves the hop of the control point (n_fft 1024).
# Usage: bash scripts/train_sweep.sh   (runs go to runs/sweep-*; finished ones are kept)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh train,bench
init=models/pretrained/unsing-default.pt
recipe=(--init "$init" --set train.seed=1236 --set train.learning_rate=0.001
  --set train.epochs=2 --set train.ema_decay=0 --quiet)
point() {
  local name=$1
  shift
  if [ ! -f "runs/$name/last.pt" ]; then
    .venv/bin/unsing train --name "$name" "${recipe[@]}" "$@"
  fi
}
point sweep-n1024-h256-v1
point sweep-n512-h128-v1 --set stft.n_fft=512 --set stft.hop_samples=128
point sweep-n2048-h512-v1 --set stft.n_fft=2048 --set stft.hop_samples=512 \
  --set audio.blocksize_samples=512
point sweep-n1024-h128-v1 --set stft.hop_samples=128
point sweep-n1024-h256-c49-v1 --set "train.tcn_dilations=[1,2,4,8]" --set model.context_frames=49
# the look-ahead point is the shipped experimental model (same recipe, lookahead_frames 4)
.venv/bin/python -m unsing.benchmarks quality_latency
