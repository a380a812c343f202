#!/bin/sh
# bench/mpi.sh — training throughput of the generated trainer on 1 rank and on
# 2 MPI ranks (libnnrt_mpi.a) for the MLP, LeNet and tiny_gpt. Prints one row
# per run: examples per second of the last epoch (the --log epoch row; on N
# ranks it counts the examples of all ranks) and the bytes one all-reduce
# moves (PARAM_ELEMS * 4). 2 ranks run at the same per-rank batch B (global
# 2B) and at B/2 (the global batch of 1 rank); 2 ranks also with the sharded
# optimizer and with buckets of 0.25 MB, started after the backward pass
# and (--overlap) during it. Usage: sh bench/mpi.sh [STEPS ["MODELS"]]
# (MODELS: the names to run, default "mlp lenet tiny_gpt")
cd "$(dirname "$0")/.." || exit 2
command -v mpicc >/dev/null 2>&1 || { echo "bench/mpi.sh: mpicc not found (libopenmpi-dev)"; exit 1; }
make -s mpi || exit 1
S=${1:-40}
ONLY=${2:-mlp lenet tiny_gpt}
T=build/bench-mpi
mkdir -p $T
MPIRUN="mpirun --allow-run-as-root --oversubscribe -np 2 -x OMP_NUM_THREADS=1 --bind-to none"
# one NAME SOURCE B DATA-OPTIONS...
one() {
    name=$1 src=$2 b=$3; shift 3
    case " $ONLY " in *" $name "*) ;; *) return 0 ;; esac
    build/nnc --main -D B=$b $src -o $T/$name$b.c &&
        mpicc -std=c99 -O2 -DNNRT_MPI -Iruntime $T/$name$b.c build/libnnrt_mpi.a build/libnnrt.a -lm -fopenmp \
            -o $T/$name$b || exit 1
    elems=$(sed -n 's/^#define [A-Z0-9_]*_PARAM_ELEMS \([0-9]*\).*/\1/p' $T/$name$b.h)
    for run in "1 rank, 2 threads:2:1:" "1 rank, 1 thread:1:1:" "2 ranks, 1 thread each:1:2:" \
        "2 ranks, --shard-optimizer:1:2:--shard-optimizer" "2 ranks, --bucket-mb 0.25:1:2:--bucket-mb 0.25" \
        "2 ranks, ... --overlap:1:2:--bucket-mb 0.25 --overlap"; do
        label=${run%%:*} rest=${run#*:} extra=${run##*:}
        rest=${rest%:*}
        if [ "${rest#*:}" = 2 ]; then
            $MPIRUN $T/$name$b train "$@" $extra --epochs 1 --steps-per-epoch $S --log $T/log.csv >/dev/null 2>&1
        else
            OMP_NUM_THREADS=${rest%%:*} $T/$name$b train "$@" --epochs 1 --steps-per-epoch $S --log $T/log.csv \
                >/dev/null 2>&1
        fi
        speed=$(grep '^epoch,' $T/log.csv | cut -d, -f10)
        printf '%-9s B=%-3s %-24s %10.0f examples/s  all-reduce %d bytes\n' "$name" "$b" "$label" "$speed" \
            $((elems * 4))
    done
}
D=examples/data
one mlp examples/digits_mlp.nn 32 --data $D/digits/digits_train.csv --scale 0.0625
one mlp examples/digits_mlp.nn 16 --data $D/digits/digits_train.csv --scale 0.0625
one lenet examples/lenet.nn 64 --data $D/mnist/t10k-images-idx3-ubyte --labels $D/mnist/t10k-labels-idx1-ubyte
one lenet examples/lenet.nn 32 --data $D/mnist/t10k-images-idx3-ubyte --labels $D/mnist/t10k-labels-idx1-ubyte
one tiny_gpt examples/tiny_gpt.nn 32 --text $D/tinyshakespeare/input.txt
one tiny_gpt examples/tiny_gpt.nn 16 --text $D/tinyshakespeare/input.txt
