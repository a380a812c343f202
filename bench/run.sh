#!/bin/sh
# bench/run.sh — `make bench`: nnc's generated code against PyTorch (and
# nnrt_sgemm against OpenBLAS), measured in one run. See bench/README.md.
#
# Usage: [PEERS=all] sh bench/run.sh [bench.py options: --quick, --only mlp_train,gemm, ...]
# (the options go to step 2; steps 1 and 1b, bench/elab_scale.sh and
# bench/launch_start.sh, always run; step 1c, bench/mpi.sh, unless --only or --quick)
# The nnc build folder is $NNC_BUILD, else $B (make's B=..., which make
# exports to this script), else build. Needs Debian's /usr/bin/python3 with
# python3-torch and python3-numpy (or $BENCH_PYTHON). OpenBLAS is used when
# Debian's libopenblas-dev is installed (or with --openblas-libs FLAGS).
# Without PEERS=all this script installs nothing.
cd "$(dirname "$0")/.." || exit 2
BUILD=${NNC_BUILD:-${B:-build}}

# ---- step 1 (cheap, about a second): how elaboration scales --------------
# bench/elab_scale.sh times `nnc --emit=ir` on a generated model of 100,000
# chained statements; it needs only nnc, not PyTorch.
NNC_BUILD=$BUILD sh bench/elab_scale.sh 100000 || exit 1

# ---- step 1b (a few seconds): nnc run's cold (cc build) and warm (cached) start ----
NNC_BUILD=$BUILD sh bench/launch_start.sh || exit 1

# ---- step 1c (about two minutes): 2 MPI ranks against 1 (bench/mpi.sh) ----
# the generated trainer of the MLP, LeNet and tiny_gpt on 1 rank and on 2
# (plain, sharded optimizer, buckets, buckets overlapped with the backward
# pass); only without --only/--quick (a subset run skips it), and only where
# Open MPI's mpicc is installed (else one line says so)
case " $* " in
*" --only "* | *" --only="* | *" --quick "*) ;;
*) if command -v mpicc >/dev/null 2>&1; then sh bench/mpi.sh 20 || exit 1
   else echo "bench: no mpicc (Debian libopenmpi-dev): the 2-rank rows are left out"; fi ;;
esac

# ---- PEERS=all: PyTorch 2 (eager, torch.compile), JAX jit, ONNX Runtime ----
# from a PyPI venv (bench/requirements-peers.txt, about 6 GB) that this script
# makes the first time, in $BENCH_VENV, else ~/.cache/nnc/bench-peers-venv
# (outside the build folder, so `make clean` keeps it); bench.py runs those
# peers with the venv's python (--peers-python).
if [ "${PEERS:-}" = all ]; then
    VENV=${BENCH_VENV:-${XDG_CACHE_HOME:-${HOME:-$BUILD}/.cache}/nnc/bench-peers-venv}
    if ! "$VENV/bin/python" -c 'import torch, jax, onnxruntime, onnx, numpy' 2>/dev/null; then
        echo "bench: making the peers' venv $VENV from PyPI (bench/requirements-peers.txt, about 6 GB)" >&2
        mkdir -p "$(dirname "$VENV")" && /usr/bin/python3 -m venv "$VENV" &&
            "$VENV/bin/python" -m pip install --upgrade pip &&
            "$VENV/bin/python" -m pip install -r bench/requirements-peers.txt || {
            echo "bench: could not make the venv $VENV (is python3-venv installed, PyPI reachable?)" >&2
            exit 1
        }
    fi
    set -- --peers-python "$VENV/bin/python" "$@"
elif [ -n "${PEERS:-}" ]; then
    echo "bench: PEERS=$PEERS: the one value known is PEERS=all" >&2
    exit 2
fi

# ---- step 2: nnc's generated code against PyTorch (bench/bench.py) --------
PY=${BENCH_PYTHON:-/usr/bin/python3}
if ! "$PY" -c 'import torch, numpy' 2>/dev/null; then
    echo "bench: $PY cannot import torch and numpy (Debian packages python3-torch, python3-numpy)" >&2
    exit 1
fi
exec "$PY" bench/bench.py --build "$BUILD" "$@"
