#!/bin/sh
# make test-gpu: the CUDA target on a GPU (not part of make test).
#  1. parity: every example with small sizes, built with the C target (gcc)
#     and the CUDA target (nvcc) from the same seed: the initial parameters
#     bitwise equal, one _forward_backward on the same batch gives the loss
#     and every gradient within TOL (default 1e-5) relative (TF32 is off);
#  2. the API (tests/gpu/api.c): host vs device entry points, CUDA Graph
#     replays, index errors on both paths, save/load, CUDA error messages;
#  3. training: examples/run.sh with TARGET=cuda (the same commands and
#     targets as make examples) and the digits demo.
# Usage: tests/gpu/run.sh [parity] [api] [train]   (default: all three)
# Env: B (build folder), NNC, NVCC, TOL.
cd "$(dirname "$0")/../.." || exit 2
B=${B:-build}
NNC=${NNC:-$B/nnc}
NVCC=${NVCC:-nvcc}
TOL=${TOL:-1e-5}
T=build/gpu-test
mkdir -p $T
status=0
pass() { echo "PASS gpu $*"; }
fail() { echo "FAIL gpu $*"; status=1; }
NVFLAGS="-std=c++17 -O2 -gencode arch=compute_90,code=[sm_90,compute_90] -Werror all-warnings -Xcompiler -Wall,-Wextra,-Werror"
CUDA_HOME=${CUDA_HOME:-$(dirname "$(dirname "$(command -v $NVCC)")")}
nvidia-smi -L 2>/dev/null | head -1
make -s B="$B" all cuda || exit 1

# parity NAME [-D ...]: C and CUDA builds of examples/NAME.nn as `net`
parity() {
    name=$1; shift
    d=$T/$name && rm -rf $d && mkdir -p $d/c $d/cu
    if ! { $NNC examples/$name.nn "$@" --name net -o $d/c/net.c &&
        gcc -std=c99 -O2 -Wall -Wextra -Werror -Iruntime -I$d/c tests/gpu/grads.c $d/c/net.c $B/libnnrt.a -lm -o $d/grads_c; } >$d/build.log 2>&1; then
        fail "parity $name: the C build fails"; tail -20 $d/build.log; return
    fi
    if ! { $NNC examples/$name.nn "$@" --target cuda --name net -o $d/cu/net.cu &&
        $NVCC $NVFLAGS -Iruntime -Iruntime/cuda -c $d/cu/net.cu -o $d/cu/net.o &&
        gcc -std=c99 -O2 -Wall -Wextra -Werror -DNNC_CUDA -Iruntime -I$d/cu -I"$CUDA_HOME/include" -c tests/gpu/grads.c -o $d/cu/grads.o &&
        $NVCC $d/cu/grads.o $d/cu/net.o $B/libnnrt_cuda.a $B/libnnrt.a -lcublas -lm -o $d/grads_cu; } >>$d/build.log 2>&1; then
        fail "parity $name: the CUDA build fails"; tail -20 $d/build.log; return
    fi
    $d/grads_c dump $d/c.bin >$d/c.log 2>&1 || { fail "parity $name: C run"; cat $d/c.log; return; }
    $d/grads_cu dump $d/cu.bin >$d/cu.log 2>&1 || { fail "parity $name: CUDA run"; cat $d/cu.log; return; }
    if $d/grads_c compare $d/c.bin $d/cu.bin "$TOL" >$d/compare.log 2>&1; then pass "parity $name: $(tail -1 $d/compare.log)"
    else fail "parity $name"; sed 's/^/    /' $d/compare.log; fi
}

run_parity() {
    parity xor
    parity coffee
    parity digits_mlp -D B=8
    parity autoencoder -D B=8
    parity lenet -D B=4
    parity resnet_tiny -D B=4 -D C=8
    parity char_rnn -D B=2 -D T=8
    parity char_lstm -D B=2 -D T=8
    parity char_gru -D B=2 -D T=8
    parity tiny_gpt -D B=2 -D T=16 -D L=2
}

run_api() {
    d=$T/api && mkdir -p $d
    if $NNC examples/digits_mlp.nn --target cuda --name net -o $d/net.cu &&
        $NVCC $NVFLAGS -Iruntime -Iruntime/cuda -c $d/net.cu -o $d/net.o &&
        gcc -std=c99 -O2 -Wall -Wextra -Werror -Iruntime -I$d -I"$CUDA_HOME/include" -c tests/gpu/api.c -o $d/api.o &&
        $NVCC $d/api.o $d/net.o $B/libnnrt_cuda.a $B/libnnrt.a -lcublas -lm -o $d/api >$d/build.log 2>&1; then
        $d/api || status=1
    else fail "api: does not build"; cat $d/build.log; fi
}

run_train() {
    TARGET=cuda NNC=$NNC NNRT=$B/libnnrt.a NNRT_CUDA=$B/libnnrt_cuda.a sh examples/run.sh >$T/examples.log 2>&1
    rc=$?
    sed -n '/^== results/,$p' $T/examples.log
    if [ $rc -eq 0 ]; then pass "examples trained to their targets on the GPU"; else fail "examples (log: $T/examples.log)"; fi
    d=$T/demo && mkdir -p $d
    $NNC examples/digits_mlp.nn --target cuda --main -o $d/digits_mlp.cu &&
        $NVCC $NVFLAGS -Iruntime -Iruntime/cuda $d/digits_mlp.cu $B/libnnrt_cuda.a $B/libnnrt.a -lcublas -lm -o $d/digits_mlp &&
        $d/digits_mlp train --data examples/data/digits/digits_train.csv --scale 0.0625 --epochs 30 --val-split 0.1 --seed 1 \
            --save $d/digits_mlp.safetensors >$d/train.log &&
        $d/digits_mlp eval --data examples/data/digits/digits_test.csv --scale 0.0625 --load $d/digits_mlp.safetensors | tee $d/eval.log
    acc=$(sed -n 's/.*accuracy *\([0-9.]*\).*/\1/p' $d/eval.log | tail -1)
    if [ -n "$acc" ] && awk "BEGIN { exit !($acc >= 95) }"; then pass "digits demo: test accuracy $acc% (>= 95)"
    else fail "digits demo: test accuracy '$acc'"; tail -5 $d/train.log; fi
}

for part in ${*:-parity api train}; do
    echo "== $part"
    case $part in
    parity) run_parity ;;
    api) run_api ;;
    train) run_train ;;
    *) echo "unknown part '$part'"; exit 2 ;;
    esac
done
exit $status
