#!/bin/sh
# bench/run.sh — `make bench`: nnc's generated code against PyTorch (and
# nnrt_sgemm against OpenBLAS), measured in one run. See bench/README.md.
#
# Usage: sh bench/run.sh [bench.py options: --quick, --only mlp_train,gemm, ...]
# (the options go to step 2; step 1, bench/elab_scale.sh, always runs)
# The nnc build folder is $NNC_BUILD, else $B (make's B=..., which make
# exports to this script), else build. Needs Debian's /usr/bin/python3 with
# python3-torch and python3-numpy (or $BENCH_PYTHON). OpenBLAS is used when
# Debian's libopenblas-dev is installed (or with --openblas-libs FLAGS);
# this script installs nothing.
cd "$(dirname "$0")/.." || exit 2
BUILD=${NNC_BUILD:-${B:-build}}

# ---- step 1 (cheap, about a second): how elaboration scales --------------
# bench/elab_scale.sh times `nnc --emit=ir` on a generated model of 100,000
# chained statements; it needs only nnc, not PyTorch.
NNC_BUILD=$BUILD sh bench/elab_scale.sh 100000 || exit 1

# ---- step 2: nnc's generated code against PyTorch (bench/bench.py) --------
PY=${BENCH_PYTHON:-/usr/bin/python3}
if ! "$PY" -c 'import torch, numpy' 2>/dev/null; then
    echo "bench: $PY cannot import torch and numpy (Debian packages python3-torch, python3-numpy)" >&2
    exit 1
fi
exec "$PY" bench/bench.py --build "$BUILD" "$@"
