#!/usr/bin/env bash
# Main job: prepare the host (first run installs it) and run an example workflow.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
host=$(bash "$here/setup_host.sh")
export NEWBIE_HOST="$host" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONPATH="$here/.."
exec "$host/venv/bin/python" "$here/run_example.py" "$@"
