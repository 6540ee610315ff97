#!/usr/bin/env bash
# Main job: prepare the host (first run installs it) and run an example workflow.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The main job needs no browser: the host is set up without installing Chromium.
host=$(NEWBIE_SKIP_BROWSER=1 bash "$here/setup_host.sh")
export NEWBIE_HOST="$host" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONPATH="$here/.."
exec "$host/venv/bin/python" "$here/run_example.py" "$@"
