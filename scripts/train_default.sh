#!/usr/bin/env bash
# Train the shipped default model from scratch, as it was trained, on ../shared/data (CPU: about
# 3 hours on 2 cores with AVX512-BF16, measured 2026-12-05, about 10 hours on an AVX2-only CPU;
# a GPU is used when present), then package and export it. Every setting comes from the recipe
# models/recipes/default.yaml (its base settings and its stages v2, v3, v6, v7); this script
# only chains the stages, each from the one before (--init):
#   stage 1 (v2): the causal U-Net with the recipe's train section, stopped after 7 of its 8
#            epochs (step 1750), where run default-v2 was stopped;
#   stage 2 (v3): fine-tuned from stage 1 for 6 epochs with a fresh one-cycle schedule (peak
#            learning rate 0.001, seed 1235): run default-v3;
#   stage 3 (v6): a low-band network (train.low_band_bins: 16: bins 0-15, 0-690 Hz) added to
#            stage 2's model and trained alone, the U-Net frozen, for 4 epochs of real pairs only
#            (MIR-1K training singers' clips at 0 dB, the everything-is-free training tracks),
#            MIR-1K singers ariel, davidson, jmzen and titon kept out (seed 1240, peak learning
#            rate 0.002, bfloat16; about 16 minutes in the shipped run, about 4 hours
#            measured on an AVX2-only CPU, where bfloat16 has no fast kernels): run default-v6;
#   stage 4: the mask calibrated on training material the low-band network never saw (those
#            four singers' clips, the everything-is-free training tracks) and folded into the
#            weights (python -m unsing.models.calibrate, about 5 minutes):
#            runs/default-v6/calibrated.pt;
#   stage 5 (v7): a long-window band (a 4096-sample window at the same latency, dilations 1-16)
#            fitted alone on stage 4's model for 4000 steps, reading the U-Net's mask, against
#            the phase-sensitive mask (python -m unsing.models.fit_long_band, the recipe's
#            long_band section; about 21 minutes): run default-v7, the shipped model (run
#            u2-psm-d16).
# Usage: bash scripts/train_default.sh [PREFIX] [PRECISION]
#   runs go to runs/PREFIX-v2, -v3, -v6, -v7. PRECISION (float32, the shipped recipe, or
#   bfloat16) is that of stages 1-2; stage 3 is bfloat16 either way. bfloat16 autocast runs
#   stages 1-2 about 2.3 times faster on a CPU with AVX512-BF16 (the whole chain in 1 h 36 min)
#   but does not reproduce the recipe: measured in
#   docs/experiments/reproduction.md, its stage 4 ended 1.2-1.9 dB below the
#   shipped one's on three of four sets, its stage 5 within 0.5 dB of the shipped default on
#   MIR-1K, everything-is-free and iKala, 1.4 dB below on the MUSDB18 excerpt.
# The shipped model's stage 3 started from the shipped stage-2 weights with their calibration
# removed (runs/default-v3's, up to rounding): run lowband-v6.
# The shipped stage 5 started from the shipped stage-4 model (now
# lab/models/unet-only/unsing-unet-only.pt).
# Interrupted? Run the same command again: each stage resumes from its last epoch's checkpoint
# (stage 5, which has no epochs, starts again unless it finished), and a finished stage is left
# as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="${1:-default}"
precision="${2:-float32}"
case "$precision" in
  float32|bfloat16) ;;
  *) echo "train_default.sh: PRECISION must be float32 or bfloat16, not '$precision'" >&2; exit 2 ;;
esac
bash scripts/install.sh train,bench
resume_if_started() { if [[ -f "runs/$1/last.pt" ]]; then echo --resume; fi; }
recipe=(--recipe models/recipes/default.yaml)
.venv/bin/unsing train "${recipe[@]}" --stage v2 --name "$prefix-v2" \
  $(resume_if_started "$prefix-v2") --set "train.precision=$precision" --quiet
.venv/bin/unsing train "${recipe[@]}" --stage v3 --name "$prefix-v3" \
  $(resume_if_started "$prefix-v3") --init "runs/$prefix-v2/last.pt" \
  --set "train.precision=$precision" --quiet
.venv/bin/unsing train "${recipe[@]}" --stage v6 --name "$prefix-v6" \
  $(resume_if_started "$prefix-v6") --init "runs/$prefix-v3/last.pt" --quiet
bash scripts/finish_run.sh "$prefix-v6" retrained  # calibrate, package, export, quality report
if [[ ! -f "runs/$prefix-v7/last.pt" ]]; then
  .venv/bin/python -m unsing.models.fit_long_band "${recipe[@]}" --stage v7 --name "$prefix-v7" \
    --init "runs/$prefix-v6/calibrated.pt"
fi
bash scripts/finish_run.sh "$prefix-v7" retrained last  # package, export, quality report
# Reproduced? Each retrained model's BSS Eval report against the shipped one's (within 0.5 dB):
# stage 4 against the U-Net alone, stage 5 against the default model.
status=0
.venv/bin/python -m unsing.models.compare_quality "runs/$prefix-v6/package/quality.json:retrained" \
  benchmarks/results/quality.json:unsing-unet-only --tolerance-db 0.5 || status=$?
.venv/bin/python -m unsing.models.compare_quality "runs/$prefix-v7/package/quality.json:retrained" \
  benchmarks/results/quality.json:unsing-causal --tolerance-db 0.5 || status=$?
exit "$status"
