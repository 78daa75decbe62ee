#!/usr/bin/env bash
# GPU readiness on one NVIDIA GPU (written for an H200; at most 8 minutes): each domain's model
# trained for a fixed number of bf16 steps at a realistic size, printing throughput, peak GPU
# memory and mean GPU utilisation (bench/gpu.py).
#
#   bench/gpu.sh [WHEELS]   WHEELS: a folder of wheels for this project and its dependencies
#                           (pip download -d wheels .); without it, pip uses its index.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
WHEELS=${1:-}
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
    if [ -n "$WHEELS" ]; then
        "$VENV/bin/pip" install --quiet --no-index --find-links "$WHEELS" -e .
    else
        "$VENV/bin/pip" install --quiet -e .
    fi
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$VENV/bin/python" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
timeout 420 "$VENV/bin/python" -m bench.gpu
