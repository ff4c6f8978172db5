#!/usr/bin/env bash
# Sets up everything dari needs on a fresh machine (Python 3.11, pip and gcc only):
# a pinned uv in .bootstrap/ when none is on PATH, then the locked environment in .venv/.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
UV_VERSION=0.13.8
export UV_PYTHON_DOWNLOADS=never   # use the machine's Python 3.11; never fetch an interpreter
python_bin=$(command -v python3.11 || command -v python3)
if command -v uv >/dev/null 2>&1 && [ "$(uv --version | cut -d' ' -f2)" = "$UV_VERSION" ]; then
  UV=$(command -v uv)
else
  if [ ! -x .bootstrap/bin/uv ]; then
    echo "bootstrap: installing uv $UV_VERSION into .bootstrap/" >&2
    "$python_bin" -m venv .bootstrap
    .bootstrap/bin/python -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
  fi
  UV="$root/.bootstrap/bin/uv"
fi
"$UV" sync --frozen --python "$python_bin" --quiet
export UV
