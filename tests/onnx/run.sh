#!/bin/sh
# tests/onnx/run.sh — the ONNX suite: the ONNX backend node tests of Debian's libonnx-testdata
# imported, compiled and run (tests/onnx/node_tests.py, which writes the table docs/onnx.md must
# hold below its marker line; it runs tests/onnx/training.py, the Momentum and Adam cases against nnc's sgd
# and adam, for the table's last section), and a LeNet exported from PyTorch, imported and trained one step
# (tests/onnx/lenet.py).
# Needs Debian's python3 with onnx (python3-onnx) and, for the LeNet, torch; $ONNX_PYTHON overrides.
cd "$(dirname "$0")/../.." || exit 2
py=${ONNX_PYTHON:-/usr/bin/python3}
if ! "$py" -c 'import onnx, numpy' 2>/dev/null; then
    echo "SKIP onnx: $py cannot import onnx and numpy (apt install python3-onnx)"
    exit 0
fi
"$py" tests/onnx/node_tests.py || exit 1
"$py" tests/onnx/diag.py || exit 1
if "$py" -c 'import torch' 2>/dev/null; then
    "$py" tests/onnx/lenet.py || exit 1
else
    echo "SKIP onnx lenet: $py cannot import torch (apt install python3-torch)"
fi
