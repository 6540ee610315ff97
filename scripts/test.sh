#!/usr/bin/env bash
# All tests: prepare the host (first run installs it), then pytest inside its venv,
# with a real ComfyUI server started by the test fixtures.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
host=$(bash "$here/setup_host.sh")
export NEWBIE_HOST="$host" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
cd "$here/.."
exec "$host/venv/bin/python" -m pytest "$@"
