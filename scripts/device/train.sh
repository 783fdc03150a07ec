#!/usr/bin/env bash
# On the GPU machine: start a training run that outlives this call, then report progress.
# Usage: bash scripts/device/train.sh NAME WAIT_S [--set KEY=VALUE ...]
set -euo pipefail
name=$1 wait_s=$2; shift 2
export PYTHONPATH=/tmp/site:$PWD UNSING_GIT_COMMIT=$(cat /tmp/unsing-commit) PYTHONUNBUFFERED=1
setsid nohup python3 -m unsing.models.train --name "$name" --quiet \
  --set train.data_root=/tmp/data --set train.runs_dir=/tmp/runs \
  --set train.data_workers=12 --set train.threads=4 "$@" \
  > "/tmp/$name.log" 2>&1 < /dev/null &
echo "started $name at $(date -u +%T)"
bash scripts/device/wait.sh "$name" "$wait_s"
