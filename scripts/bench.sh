#!/usr/bin/env bash
# Runs a benchmark script from benchmarks/ in the host venv: bash scripts/bench.sh <name>
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
host=$(bash "$here/setup_host.sh" "${NEWBIE_BENCH_HOST:-0.3.75}")
export NEWBIE_HOST="$host" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONPATH="$here/.."
exec "$host/venv/bin/python" -m "benchmarks.$1" "${@:2}"
