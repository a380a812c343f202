#!/bin/sh
# CUDA kernels without a GPU: for each model below, tests/cudaemu/emit
# (linked against libnnc.a) writes every kernel node the CUDA target emits
# (the unfused program's and the fused program's: elementwise, reductions,
# softmax family, losses, matmul / bmm through a reference GEMM, the
# families, fused and matmul_ep) together with the C target's kernel of the
# same node; g++ compiles the CUDA text against mock/ (a CPU emulation of
# CUDA: threads as fibers, __syncthreads and warp shuffles as barriers),
# and harness.cpp runs both on the same random inputs (twice: uniform, and
# rounded to halves for ties) and compares. One PASS/FAIL line per model
# and precision with the node of largest error; then a coverage line: every
# ops.def row except the sources must have been emulated by some model.
# Tolerance: max |c - cuda| / (1 + max |c|) per node, 1e-12 in f64, 1e-5 in
# f32 (float sums in another order; f32 tanh is nnc_tanhf in C, tanhf on
# the GPU: 4e-7; the largest measured is 2e-6, rnn_scan of char_rnn;
# f64 measured at most 6.3e-15). Then train.sh: a whole model's training
# steps with a learning-rate schedule and clipping against the C target's.
# Needs gcc and g++, no GPU and no nvcc.
# Env: B (build folder, default build), CUDAEMU_JOBS (parallel models, 2),
# CUDAEMU_SAN (more flags for every compile and link: tests/asan/run.sh runs
# the examples under -fsanitize=address,undefined with B=build/asan),
# CUDAEMU_ONLY (a grep -E pattern: only the runs "NAME.f32|f64 MODEL.nn
# ..." it matches, and no coverage line).
cd "$(dirname "$0")/../.." || exit 2
B=${B:-build}
J=${CUDAEMU_JOBS:-2}
SAN=${CUDAEMU_SAN:-}
ONLY=${CUDAEMU_ONLY:-}
D=$B/cudaemu
rm -rf $D && mkdir -p $D
status=0
CFLAGS="-std=c11 -Wall -Wextra -Werror -O1 -D_POSIX_C_SOURCE=200809L -I. -I$B/gen -Ifrontend -Icommon"
EMUINC="-Itests/cudaemu/mock -Iruntime -Iruntime/cuda -Itests/cudaemu"
if ! gcc $CFLAGS $SAN tests/cudaemu/emit.c $B/libnnc.a -lm -o $D/emit >$D/build.log 2>&1 ||
    ! g++ -std=c++17 -O1 -Wall -Wextra -Werror $SAN $EMUINC -c tests/cudaemu/harness.cpp -o $D/harness.o \
        >>$D/build.log 2>&1; then
    echo "FAIL cudaemu: the emulator does not build"; cat $D/build.log; exit 1
fi
# nnrt_cuda.h with the mock headers, precompiled (only to save time)
mkdir -p $D/pch
g++ -std=c++17 -O0 -w $SAN $EMUINC -x c++-header runtime/cuda/nnrt_cuda.h -o $D/pch/nnrt_cuda.h.gch \
    >>$D/build.log 2>&1 ||
    rm -f $D/pch/nnrt_cuda.h.gch

# name model.nn precision(1 = f64) [NAME=VALUE ...]
cat >$D/one.sh <<EOF
set -e
n=\$1 m=\$2 f=\$3; shift 3
o=$D/\$n
ASAN_OPTIONS=\${ASAN_OPTIONS:-}:detect_leaks=0 $D/emit \$m \$f \$o "\$@" 2>\$o.log # (emit frees nothing)
g++ -std=c++17 -O0 -w $SAN -I$D/pch $EMUINC -c \$o.cu.cpp -o \$o.cu.o 2>>\$o.log
gcc -std=c99 -O0 -Wall -Wextra -Werror $SAN -Iruntime -c \$o.c -o \$o.c.o 2>>\$o.log
g++ $SAN -o \$o.x $D/harness.o \$o.cu.o \$o.c.o $B/libnnrt.a -lm 2>>\$o.log
\$o.x >\$o.out 2>>\$o.log
EOF

{
    for m in gc_arith gc_attn_bmm_sizes gc_attn_edge gc_attn_gpt gc_attn_mha gc_attn_shape gc_bce gc_block_params \
        gc_block_stack gc_const_grad gc_conv_basic gc_conv_grid gc_conv_pool gc_conv_transpose gc_dense gc_exp_log \
        gc_fanout gc_literal gc_log_softmax gc_matmul gc_mse gc_norm_act gc_norm_batchnorm gc_norm_dropout \
        gc_norm_layernorm gc_relu gc_rnn_gru gc_rnn_lstm gc_rnn_tanh gc_rnn_bidir gc_sigmoid gc_softmax gc_sum_mean gc_tanh gc_xent \
        gc_rand_noise gc_attn_cross gc_attn_decoder; do
        echo "$m tests/gradcheck/$m.nn f64"
    done
    for m in attn_gpt attn_shapes attn_stack bce_adam bce_clamp block_stack block_twice conv_edges \
        conv_small elementwise explicit nll_adamw norm_act norm_batchnorm norm_batchnorm2d norm_dropout \
        norm_layernorm rnn_gru rand_vae input_grad attn_cross; do
        echo "$m tests/parity/$m.nn f64,f32"
    done
    echo "conv_lenet5 tests/parity/conv_lenet5.nn f64"
    echo "conv_transpose tests/parity/conv_transpose.nn f64,f32"
    echo "lenet examples/lenet.nn f64,f32 B=2"
    echo "char_lstm examples/char_lstm.nn f64,f32 B=2 T=3 V=16"
    echo "char_gru examples/char_gru.nn f64,f32 B=2 T=3 V=16"
    echo "char_rnn examples/char_rnn.nn f64,f32 B=2 T=3 V=16"
    echo "tiny_gpt examples/tiny_gpt.nn f64,f32 B=2 T=8 D=16 L=1 H=2"
    echo "resnet_tiny examples/resnet_tiny.nn f64,f32 B=2 C=4"
    echo "autoencoder examples/autoencoder.nn f64,f32 B=4"
    echo "conv_autoencoder examples/conv_autoencoder.nn f64,f32 B=2"
    echo "vae examples/vae.nn f64,f32 B=4"
    echo "bilstm examples/bilstm.nn f64,f32 B=2 H=3"
    echo "sum_paths tests/cudaemu/sum_paths.nn f64,f32"
    echo "gc_index tests/gradcheck/gc_index.nn f64"
    echo "index_expand_flip tests/parity/index_expand_flip.nn f64,f32"
} >$D/models

# each model in its precisions: "name.f64 model.nn 1 defs..."
while read -r n m ps defs; do
    echo "$n.f64 $m 1${defs:+ $defs}"
    case $ps in *f32*) echo "$n.f32 $m 0${defs:+ $defs}" ;; esac
done <$D/models >$D/jobs
if [ -n "$ONLY" ]; then grep -E "$ONLY" $D/jobs >$D/jobs.only; mv $D/jobs.only $D/jobs; fi
xargs -P "$J" -L 1 sh -c 'n=$0; sh '"$D"'/one.sh "$n" "$@" || echo "$n" >>'"$D"'/failed' <$D/jobs

while read -r np m f defs; do
    o=$D/$np
    n=${np%.*} p=${np##*.}
    w=$(sed -n 's/^NODES \([0-9]*\) WORST \(.*\)$/\1 nodes, worst \2/p' $o.out 2>/dev/null)
    if [ -f $D/failed ] && grep -qx "$np" $D/failed; then
        echo "FAIL cudaemu $n $p ${w:-}"; status=1
        grep -h "FAIL\|error\|emu:" $o.out $o.log 2>/dev/null | head -8 | sed 's/^/    /'
    else
        echo "PASS cudaemu $n $p: $w"
    fi
done <$D/jobs

[ -n "$ONLY" ] && exit $status
# the whole training API of a model with a schedule and clipping (train.sh)
B=$B CUDAEMU_SAN="$SAN" sh tests/cudaemu/train.sh || status=1
# coverage: every ops.def row but the sources, emulated by some model
sed -n 's/^OP([A-Z_0-9]*, *"\([a-z_0-9]*\)", *-\{0,1\}[0-9]*, *\(OPC_[A-Z]*\).*/\1 \2/p' ir/ops.def | grep -v OPC_SOURCE |
    cut -d' ' -f1 | sort -u >$D/ops.all
cat $D/*.out 2>/dev/null | sed -n 's/^OP //p' | sort -u >$D/ops.seen
missing=$(comm -23 $D/ops.all $D/ops.seen | tr '\n' ' ')
if [ -n "$missing" ]; then
    echo "FAIL cudaemu coverage: ops.def rows no model emulated: $missing"; status=1
else
    echo "PASS cudaemu coverage: all $(wc -l <$D/ops.all) ops.def rows but the sources emulated"
fi
exit $status
