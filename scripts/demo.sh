#!/usr/bin/env bash
# README command 1: build a small three-hospital synthetic network and show what each site holds.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/scripts/bootstrap.sh"
cd "$root"
exec .venv/bin/dari demo "$@"
