#!/usr/bin/env bash
# The tests, in tiers (each venv is built on first use under ~/.cache):
#   lint      ruff over the repository
#   unit      tests/unit: the library alone, in a venv with torch and the requirements
#             but no ComfyUI; a few minutes. Then again on the oldest library versions
#             requirements.txt allows (scripts/oldest_constraints.txt)
#   hosts     tests/in_process, tests/server, tests/browser on ComfyUI 0.3.75 and 0.33.0
#
#   bash scripts/test.sh            everything
#   bash scripts/test.sh --unit     lint and the unit tier only
#
# Other arguments go to pytest. NEWBIE_HOSTS="0.33.0" (or "0.3.75", or "") picks the
# host tiers. Without ../shared/hosts (a user's clone) the 0.33.0 tier is skipped with
# the reason; under CI it is never skipped.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
hosts=${NEWBIE_HOSTS-0.3.75 0.33.0}
if [ "${1:-}" = --unit ]; then hosts=""; shift; fi
status=0

unit=$(bash "$here/setup_host.sh" unit) || { echo "FAILED to prepare the unit venv"; exit 1; }
echo "=== lint: ruff"
"$unit/venv/bin/ruff" check . || status=1
echo "=== tier unit"
start=$(date +%s)
"$unit/venv/bin/python" -m pytest tests/unit "$@" || status=1
echo "=== tier unit took $(( $(date +%s) - start )) s"
if oldest=$(bash "$here/setup_host.sh" oldest); then
  echo "=== tier unit, oldest supported libraries"
  "$oldest/venv/bin/python" -c "import diffusers, transformers; print('transformers',
transformers.__version__, 'diffusers', diffusers.__version__)"
  "$oldest/venv/bin/python" -m pytest -q tests/unit "$@" || status=1
else
  echo "FAILED to prepare the oldest-libraries venv"; status=1
fi

for version in $hosts; do
  host=$(bash "$here/setup_host.sh" "$version")
  rc=$?
  if [ $rc = 3 ] && [ -z "${CI:-}" ]; then
    echo "SKIPPED tier ComfyUI $version: its host tarball (../shared/hosts) is not beside this checkout"
    continue
  elif [ $rc != 0 ]; then
    echo "FAILED to prepare the ComfyUI $version host (exit $rc)"; status=1; continue
  fi
  echo "=== tier ComfyUI $version: $host"
  start=$(date +%s)
  NEWBIE_HOST="$host" "$host/venv/bin/python" -m pytest tests/in_process tests/server \
    tests/browser "$@" || status=1
  echo "=== tier ComfyUI $version took $(( $(date +%s) - start )) s"
done
exit $status
