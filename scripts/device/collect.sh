#!/usr/bin/env bash
# On the GPU machine: put a run's checkpoints (15 MB pieces) and logs into $OUT.
# Usage: bash scripts/device/collect.sh NAME
set -euo pipefail
run=/tmp/runs/$1
cp "$run/train_log.jsonl" "$run/manifest.json" "$run/config.json" "$OUT/"
split -b 15M -d "$run/last.pt" "$OUT/last.pt.part"
[[ -f $run/best.pt ]] && ! cmp -s "$run/best.pt" "$run/last.pt" \
  && split -b 15M -d "$run/best.pt" "$OUT/best.pt.part"
sha1sum "$run"/*.pt
ls -la "$OUT"
