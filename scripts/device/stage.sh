#!/usr/bin/env bash
# On the GPU machine: install the carried wheels (once) and copy one carried audio piece.
# Usage: bash scripts/device/stage.sh dN
set -euo pipefail
if [[ -d .gpu/whl && ! -f /tmp/site/soundfile.py ]]; then
  cp .gpu/whl/commit /tmp/unsing-commit
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .gpu/whl/*.whl
fi
mkdir -p /tmp/data && cp -r ".gpu/$1/." /tmp/data/
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
PYTHONPATH=/tmp/site python3 -c "import soundfile, soxr, torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
du -sh /tmp/data
