#!/bin/sh
# tests/parity/run.sh — the PyTorch parity suite: nnc-generated C against
# torch, loss, gradients, outputs and 10 optimizer steps per model (see
# tests/parity/test_parity.py); then, without CASE arguments, nnc's Python
# outputs (--emit=py, --emit=torch, scripts/safetensors.py: see
# tests/parity/test_python.py). Needs a python3 with torch 1.13+ and numpy:
# Debian's /usr/bin/python3 by default, or $PARITY_PYTHON.
# Usage: tests/parity/run.sh [--nnc build/nnc] [--keep] [-v] [CASE...]
cd "$(dirname "$0")/../.." || exit 2
py=${PARITY_PYTHON:-/usr/bin/python3}
"$py" tests/parity/test_parity.py "$@"
rc=$?
if [ $# -eq 0 ]; then "$py" tests/parity/test_python.py || rc=1; fi
exit $rc
