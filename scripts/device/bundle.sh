#!/usr/bin/env bash
# Prepare .gpu/ for a training run on the lent GPU machine (see scripts/device/README.md).
# Usage: bash scripts/device/bundle.sh [--slim | --restore]
set -euo pipefail
cd "$(dirname "$0")/../.."
slim_dir=/tmp/unsing-slim
# The model files and the demo song (58 of the 61 MB of tracked files): training reads none.
mapfile -t heavy < <(git ls-files -- '*.pt' '*.onnx' 'assets/demo/*.ogg')
case "${1:-}" in
  --slim)
    for f in "${heavy[@]}"; do mkdir -p "$slim_dir/$(dirname "$f")"; mv "$f" "$slim_dir/$f"; done
    echo "moved ${#heavy[@]} model files to $slim_dir; put them back with --restore"; exit 0 ;;
  --restore)
    for f in "${heavy[@]}"; do [[ -f "$slim_dir/$f" ]] && mv "$slim_dir/$f" "$f"; done
    git status --short -- models assets; exit 0 ;;
  "") ;;
  *) echo "usage: bash scripts/device/bundle.sh [--slim | --restore]" >&2; exit 2 ;;
esac
data=../shared/data
[[ -d $data/mir1k/audio ]] || { echo "bundle.sh: $data/mir1k/audio not found" >&2; exit 1; }
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
rm -rf .gpu && mkdir -p .gpu/whl
# The code the run trains with (the machine's copy of .git may be the session's first commit).
dirty=$(git status --porcelain --untracked-files=no)
echo "$(git rev-parse HEAD)${dirty:+-dirty}" > .gpu/whl/commit
version() { .venv/bin/python -m pip show "$1" | awk '/^Version/{print $2}'; }
.venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .gpu/whl \
  "soundfile==$(version soundfile)" "soxr==$(version soxr)" "cffi==$(version cffi)" \
  "pycparser==$(version pycparser)" 2>&1 | { grep -v '^WARNING: Location' || true; }
# The audio the training pool and the per-epoch validation read, in pieces of <= 55 MB:
# the shipped recipe's sets, and issue 31's produced songs and GTSinger voices
# (train.musdb18_7s, train.gtsinger, as lab/recipes/produced.yaml uses them).
piece=1 size=0 limit=$((55 * 1000 * 1000))
while IFS= read -r file; do
  bytes=$(stat -c %s "$file")
  if (( size > 0 && size + bytes > limit )); then piece=$((piece + 1)); size=0; fi
  relative=${file#"$data"/}
  mkdir -p ".gpu/d$piece/$(dirname "$relative")"
  cp "$file" ".gpu/d$piece/$relative"
  size=$((size + bytes))
done < <(find "$data/mir1k/audio" "$data/everything-is-free" "$data/singing" \
  "$data/synthetic-singing" "$data/instrumental" "$data/musdb18-sample" "$data/ikala" \
  "$data/musdb18-7s" "$data/singing-gtsinger" -type f | sort)
du -sh .gpu/*
echo "calls: bash scripts/device/stage.sh d1 (carry .gpu/whl and .gpu/d1), then stage.sh d2 .. d$piece"
echo "(carry .gpu/dN), then train.sh NAME WAIT_S --set ...; see scripts/device/README.md"
