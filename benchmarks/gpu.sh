#!/usr/bin/env bash
# The GPU check on one CUDA GPU, under 5 minutes: the tests marked gpu, vae-123 for 200 steps at
# 64x64 (batch 64 and 256, bf16-mixed and 16-mixed) with the share of the measured bf16 peak,
# and a 2-process DDP run where two GPUs are present. Writes OUT.json and OUT.md.
#
#   benchmarks/gpu.sh [--out docs/benchmarks-gpu]     # on a GPU machine (also: make bench-gpu)
#   benchmarks/gpu.sh --cpu-smoke --out /tmp/smoke    # the same stages on CPU, tiny
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" benchmarks/gpu.py "$@"
