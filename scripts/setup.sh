#!/usr/bin/env bash
# Set up a fresh machine for topnet: system packages (when apt-get is there and we may use it),
# a virtualenv in .venv, the pinned CPU torch, and topnet itself in editable mode.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

apt_packages=()
[ -d /usr/share/datasets/fashion-mnist ] || apt_packages+=(dataset-fashion-mnist)
command -v dot >/dev/null || apt_packages+=(graphviz)          # plot_model
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_packages+=(postgresql)   # shared studies (tests start it on loopback)
command -v chromium >/dev/null || apt_packages+=(chromium)     # the report's render test
if [ ${#apt_packages[@]} -gt 0 ]; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        echo "setup: apt-get install ${apt_packages[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_packages[@]}" >/dev/null
    else
        echo "setup: note: ${apt_packages[*]} not installed (needs root + apt-get); topnet will look in \$TOPNET_DATA or download" >&2
    fi
fi

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
# torch first and pinned: a plain `torch` requirement would pull a multi-GB CUDA build.
"$VENV/bin/python" -c "import torch" 2>/dev/null || "$VENV/bin/pip" install -q "torch==2.13.0"
"$VENV/bin/pip" install -q -e ".[test,tables,images,tensorboard,mnist1d,plots,onnx,tune,ensemble,xgboost,catboost,text,textdata]"
