#!/usr/bin/env bash
# README command 2: lint, type-check and run the whole test suite, after setting everything up.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/scripts/bootstrap.sh"
cd "$root"
# The portal's end-to-end tests drive Debian's Chromium (Playwright may not download its own browser here).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "== installing Debian's chromium for the browser tests" >&2
  (apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; }) \
    || echo "!!! could not install chromium: the browser tests will be skipped (loudly) !!!" >&2
fi
# The imaging tests start a real PACS (Debian's Orthanc with its DICOMweb plugin, DICOM validator dciodvfy) and the
# research-pod tests a real sandbox (bubblewrap) running Python and R (Debian's r-base-core); installed the same way, skipped loudly when they cannot be.
missing=()
command -v Orthanc >/dev/null 2>&1 || missing+=(orthanc orthanc-dicomweb)
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
command -v dciodvfy >/dev/null 2>&1 || missing+=(dicom3tools)
command -v Rscript >/dev/null 2>&1 || missing+=(r-base-core)
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "== installing Debian's ${missing[*]} for the imaging and pod tests" >&2
  (apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "${missing[@]}" >/dev/null 2>&1; }) \
    || echo "!!! could not install ${missing[*]}: the imaging/pod tests will be skipped (loudly) !!!" >&2
fi
echo "== ruff" >&2
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
echo "== mypy --strict (src)" >&2
.venv/bin/mypy
echo "== pytest" >&2
exec .venv/bin/pytest "$@"
