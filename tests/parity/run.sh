#!/bin/sh
# tests/parity/run.sh — the PyTorch parity suite: nnc-generated C against
# torch, loss, gradients, outputs and 10 optimizer steps per model (see
# tests/parity/test_parity.py). Needs a python3 with torch 1.13+ and numpy:
# Debian's /usr/bin/python3 by default, or $PARITY_PYTHON.
# Usage: tests/parity/run.sh [--nnc build/nnc] [--keep] [-v] [CASE...]
cd "$(dirname "$0")/../.." || exit 2
exec "${PARITY_PYTHON:-/usr/bin/python3}" tests/parity/test_parity.py "$@"
