#!/bin/sh
# The CUDA target without a GPU: every example and bench model through
# `nnc --target cuda` (with --main where the model has one input), compiled
# by nvcc for sm_90 + PTX with warnings as errors and linked against
# libnnrt_cuda.a, libnnrt.a and cuBLAS into an executable; an f64 build; the
# generated header from C; byte-identical output twice; diagnostics.
# Without nvcc: one SKIP line. Running the programs needs a GPU: make test-gpu.
# Env: B (build folder, default build), NNC, NVCC.
cd "$(dirname "$0")/../.." || exit 2
B=${B:-build}
NNC=${NNC:-$B/nnc}
NVCC=${NVCC:-$(command -v nvcc)}
if [ -z "$NVCC" ]; then
    echo "SKIP cuda: nvcc not found; the CUDA target was not compile-checked"
    exit 0
fi
T=$B/cuda-test
rm -rf $T && mkdir -p $T
status=0
pass() { echo "PASS cuda $*"; }
fail() { echo "FAIL cuda $*"; status=1; }
if ! make -s B="$B" cuda >$T/make.log 2>&1 || [ ! -f "$B/libnnrt_cuda.a" ]; then
    fail "libnnrt_cuda.a does not build"; cat $T/make.log; exit 1
fi
CUDA_HOME=${CUDA_HOME:-$(dirname "$(dirname "$NVCC")")}
NVFLAGS="-std=c++17 -O2 -gencode arch=compute_90,code=[sm_90,compute_90] -Werror all-warnings -Xcompiler -Wall,-Wextra,-Werror"
INC="-Iruntime -Iruntime/cuda"
LIBS="$B/libnnrt_cuda.a $B/libnnrt.a -lcublas -lm"

# build NAME MODEL.nn [nnc options...]: .cu -> executable (or object without --main)
build() {
    name=$1 src=$2; shift 2
    if ! $NNC "$src" --target cuda "$@" -o $T/$name.cu 2>$T/$name.nnc.log; then
        fail "$name: nnc --target cuda failed"; sed 's/^/    /' $T/$name.nnc.log | head -20; return 1
    fi
    t0=$(date +%s)
    case " $* " in
    *" --main "*) $NVCC $NVFLAGS $INC $T/$name.cu $LIBS -o $T/$name >$T/$name.nvcc.log 2>&1 ;;
    *) $NVCC $NVFLAGS $INC -c $T/$name.cu -o $T/$name.o >$T/$name.nvcc.log 2>&1 ;;
    esac
    rc=$?
    secs=$(($(date +%s) - t0))
    if [ $rc -ne 0 ]; then
        fail "$name: nvcc -Werror fails (${secs}s)"; sed 's/^/    /' $T/$name.nvcc.log | head -30; return 1
    fi
    pass "$name: nvcc -Werror builds $([ -f $T/$name ] && echo an executable || echo the object) (${secs}s)"
}

for f in examples/*.nn bench/*.nn; do
    n=$(basename "$f" .nn)
    [ -f "$T/$n.cu" ] && n="bench_$n"
    opts="--main"
    # the model name may be a C++ keyword (xor): the target refuses it as a prefix
    if ! $NNC "$f" --target cuda -o $T/probe.cu >$T/probe.log 2>&1; then
        if grep -q "choose another with --name" $T/probe.log; then opts="$opts --name ${n}_net"
        else fail "$n: nnc --target cuda failed"; sed 's/^/    /' $T/probe.log | head; continue; fi
    fi
    # --main needs one input; otherwise the library object alone
    $NNC "$f" --target cuda $opts -o $T/probe.cu >/dev/null 2>&1 || opts=$(echo "$opts" | sed 's/--main//')
    build "$n" "$f" $opts
done
build digits_mlp_f64 examples/digits_mlp.nn --dtype f64 --main
# flip (and indexing and expand, which lower to other kernels): no example uses it yet
build index_expand_flip tests/parity/index_expand_flip.nn
build index_expand_flip_f64 tests/parity/index_expand_flip.nn --dtype f64
# conv_transpose2d and upsample (nearest, bilinear), which the examples do not all use
build conv_transpose tests/parity/conv_transpose.nn
# cross-attention (kv of another width and length), which no example uses yet
build attn_cross tests/parity/attn_cross.nn
build attn_cross_f64 tests/parity/attn_cross.nn --dtype f64
# a learning-rate schedule and gradient clipping (the norm's reduction, clipping kernels), f32 and f64
build sched_clip tests/cudaemu/sched_clip.nn --main
build sched_clip_f64 tests/cudaemu/sched_clip.nn --dtype f64
# inference-only builds (no training entry points; elementwise kernels in place, without __restrict__)
build lenet_infer examples/lenet.nn --infer-only -D B=1
build resnet_tiny_infer examples/resnet_tiny.nn --infer-only

# the header is C: a C program can include it (the API takes host pointers)
$NNC examples/digits_mlp.nn --target cuda --name net -o $T/net.cu 2>/dev/null
cat >$T/use_header.c <<'C'
#include "net.h"
int main(void) {
    net *m = net_create(1);
    float x[NET_IMAGE_SIZE] = {0}, loss = 0;
    int32_t y[NET_DIGIT_SIZE] = {0};
    int st = m ? net_train_step(m, x, y, &loss) : NNRT_ERR_NOMEM;
    net_free(m);
    return st;
}
C
if gcc -std=c99 -Wall -Wextra -Werror -Iruntime -I$T -I"$CUDA_HOME/include" -c $T/use_header.c -o $T/use_header.o 2>$T/use_header.log; then
    pass "the generated header compiles as C99"
else fail "the generated header does not compile as C99"; sed 's/^/    /' $T/use_header.log | head; fi
# make test-gpu's API test (check_finite, set_lr, NaN steps...) compiles against it
if gcc -std=c99 -O2 -Wall -Wextra -Werror -Iruntime -I$T -I"$CUDA_HOME/include" -c tests/gpu/api.c -o $T/gpu_api.o \
    2>$T/gpu_api.log; then pass "tests/gpu/api.c compiles against the generated header (running it needs a GPU)"
else fail "tests/gpu/api.c does not compile"; sed 's/^/    /' $T/gpu_api.log | head; fi

# NCCL data parallelism: the CUDA trainer built with -DNNRT_NCCL against libnnrt_nccl.a (nnrt_nccl_main), where
# mpicc and nccl.h are found; running it needs a GPU per rank (make test-gpu runs 1 rank)
if ! command -v mpicc >/dev/null 2>&1 || ! make -s B="$B" nccl >$T/nccl.log 2>&1 || [ ! -f $B/libnnrt_nccl.a ]; then
    echo "SKIP cuda NCCL trainer: no mpicc or no nccl.h ($(tail -1 $T/nccl.log 2>/dev/null))"
else
    NCCL_LIB=$(dirname "$(ldconfig -p | sed -n 's/.*libnccl\.so .*=> //p' | head -1)" 2>/dev/null)
    $NNC examples/digits_mlp.nn --target cuda --main -o $T/nccl_mlp.cu 2>/dev/null
    if grep -q "nnrt_nccl_main" $T/nccl_mlp.cu && $NVCC $NVFLAGS $INC -DNNRT_NCCL $T/nccl_mlp.cu $B/libnnrt_nccl.a \
        $LIBS -L"${NCCL_LIB:-$CUDA_HOME/lib}" -lnccl $(mpicc --showme:link) -o $T/nccl_mlp >$T/nccl_mlp.log 2>&1; then
        pass "the NCCL trainer (-DNNRT_NCCL, libnnrt_nccl.a, -lnccl -lmpi) builds with nvcc -Werror"
    else fail "the NCCL trainer does not build"; sed 's/^/    /' $T/nccl_mlp.log | head -20; fi
fi

# deterministic output
mkdir -p $T/a $T/b
$NNC examples/tiny_gpt.nn --target cuda --main -o $T/a/m.cu 2>/dev/null && $NNC examples/tiny_gpt.nn --target cuda --main -o $T/b/m.cu 2>/dev/null
if [ -s $T/a/m.cu ] && cmp -s $T/a/m.cu $T/b/m.cu && cmp -s $T/a/m.h $T/b/m.h; then pass "output is byte-identical twice"
else fail "output differs between two runs"; fi

# errors keep the usual diagnostics
printf 'model bad {\n    input x : f32[4, 2]\n    output y = relu(x) + w\n}\n' >$T/bad.nn
$NNC $T/bad.nn --target cuda -o $T/bad.cu >$T/bad.log 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q "bad.nn:3:.*error: .*'w'" $T/bad.log; then pass "a bad model gives the usual diagnostic"
else fail "bad model: exit $rc"; cat $T/bad.log; fi
$NNC examples/xor.nn --target cuda -o $T/xor.cu >$T/xor.log 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q "'xor' cannot prefix .*--name" $T/xor.log; then pass "a C++ keyword as the prefix is refused with a hint"
else fail "xor prefix: exit $rc"; cat $T/xor.log; fi
$NNC examples/xor.nn --target gpu >$T/gpu.log 2>&1
rc=$?
if [ $rc -eq 2 ] && grep -q "unknown target 'gpu' (c, cuda)" $T/gpu.log; then pass "an unknown target is a usage error"
else fail "unknown target: exit $rc"; cat $T/gpu.log; fi
exit $status
