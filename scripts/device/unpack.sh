#!/usr/bin/env bash
# Here: join what collect.sh sent back into runs/NAME (checksums printed to compare).
# Usage: bash scripts/device/unpack.sh FILES_AT NAME
set -euo pipefail
cd "$(dirname "$0")/../.."
from=$1 run=runs/$2
mkdir -p "$run"
cat "$from"/last.pt.part* > "$run/last.pt"
if compgen -G "$from/best.pt.part*" > /dev/null; then
  cat "$from"/best.pt.part* > "$run/best.pt"
else
  cp "$run/last.pt" "$run/best.pt"
fi
cp "$from/train_log.jsonl" "$from/manifest.json" "$from/config.json" "$run/"
chmod u+w "$run"/*
sha1sum "$run"/*.pt
