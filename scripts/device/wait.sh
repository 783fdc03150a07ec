#!/usr/bin/env bash
# On the GPU machine: report a run's progress every 30 s for WAIT_S seconds or until it ends.
# Usage: bash scripts/device/wait.sh NAME WAIT_S
name=$1
end=$(( $(date +%s) + $2 ))
log=/tmp/runs/$name/train_log.jsonl
while [ "$(date +%s)" -lt "$end" ]; do
  sleep 30
  echo "== $(date -u +%T) GPU $(nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader)"
  tail -c 300 "/tmp/$name.log"; echo
  [ -f "$log" ] && tail -n 1 "$log" | cut -c1-330
  pgrep -f "unsing.models.train --name $name" > /dev/null || { echo "run ended"; break; }
done
