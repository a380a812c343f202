# tests/e2e/infer.sh — sourced by tests/e2e/run.sh (uses its NNC, NNRT, T,
# CFLAGS99, expect, pass and fail): inference-only builds.
#
# --infer-only drops the loss, the optimizer and the targets: the generated
# code has no training entry points and its block holds the parameters and
# the forward pass's activations; --weights W.safetensors compiles the
# parameters in as a static const array (no initializers, no _load), so the
# block holds the activations alone. For each model, tests/e2e/infer.c
# trains the full build a few steps (the digits MLP: the trainer, on the
# digits) and saves the weights, then checks that the
# full build's _forward, the --infer-only build's (after _load and after
# _load_mem) and the --weights build's give the same bits; every build
# compiles with gcc and clang under -std=c99 -Wall -Wextra -Werror.
I=$T/infer
mkdir -p $I
# the digits MLP trained for real: 2 epochs of the --main trainer on the UCI digits
trained_digits() {
    $NNC examples/digits_mlp.nn --main -o $I/trainer.c && gcc $CFLAGS99 $I/trainer.c $NNRT -lm -o $I/trainer &&
        $I/trainer train --data examples/data/digits/digits_train.csv --scale 0.0625 --epochs 2 --seed 1 \
            --save $I/digits_mlp.safetensors
}
for mb in xor: digits_mlp: lenet:1 resnet_tiny:2; do
    m=${mb%:*} b=${mb#*:}
    D=${b:+-D B=$b}
    ok=1
    $NNC $D examples/$m.nn --name full -o $I/full.c 2>$I/$m.log &&
        $NNC $D examples/$m.nn --infer-only --name inf -o $I/inf.c 2>>$I/$m.log &&
        gcc $CFLAGS99 -I$I tests/e2e/infer.c $I/full.c $I/inf.c $NNRT -lm -o $I/save 2>>$I/$m.log &&
        $I/save save $I/$m.safetensors >>$I/$m.log 2>&1 &&
        { [ $m != digits_mlp ] || trained_digits >>$I/$m.log 2>&1; } &&
        $NNC $D examples/$m.nn --weights $I/$m.safetensors --name emb -o $I/emb.c 2>>$I/$m.log || ok=0
    for cc in gcc clang; do
        [ $ok = 1 ] && $cc $CFLAGS99 -c $I/inf.c -o $I/inf.o 2>>$I/$m.log && $cc $CFLAGS99 -c $I/emb.c -o $I/emb.o \
            2>>$I/$m.log || ok=0
    done
    train="_train_step\|_grads\|_set_lr\|_loss\b\|_update\|_forward_backward"
    if [ $ok = 1 ] && grep -q "$train" $I/inf.h $I/emb.h; then
        ok=0; echo "a training entry point in the inference header" >>$I/$m.log
    fi
    [ $ok = 1 ] && grep -q "nnrt_init_" $I/emb.c && { ok=0; echo "--weights build initializes" >>$I/$m.log; }
    if [ $ok = 1 ] && gcc $CFLAGS99 -DCHECK -I$I tests/e2e/infer.c $I/full.c $I/inf.c $I/emb.c $NNRT -lm \
        -o $I/check 2>>$I/$m.log && $I/check check $I/$m.safetensors >$I/$m.out 2>&1; then
        pass "$m ${D:+($D) }--infer-only and --weights: $(cat $I/$m.out)"
    else fail "$m --infer-only and --weights"; cat $I/$m.log $I/$m.out 2>/dev/null | sed 's/^/    /' | tail -n 12; fi
done
printf 'model lossonly {\n    input x : f32[4, 2]\n    target y : f32[4, 1]\n' >$I/lossonly.nn
printf '    loss mse(dense(x, 1), y)\n    train sgd(lr = 0.1)\n}\n' >>$I/lossonly.nn
expect "--infer-only of a model without an output" 1 "lossonly.nn: --infer-only: model 'lossonly' has no output" \
    $NNC --infer-only $I/lossonly.nn -o $I/bad.c
# the weights file is checked at compile time: one line naming the file and the tensor
expect "--weights: a missing tensor" 1 "xor.safetensors: tensor 'h.0.weight' not found" \
    $NNC examples/digits_mlp.nn --weights $I/xor.safetensors -o $I/bad.c
sed 's/dense(128) -> relu -> dense(128)/dense(96) -> relu -> dense(128)/' examples/digits_mlp.nn >$I/narrow.nn
expect "--weights: a wrong shape" 1 \
    "digits_mlp.safetensors: tensor '.*' has shape \[128, 64\], model expects \[96, 64\]" \
    $NNC $I/narrow.nn --weights $I/digits_mlp.safetensors -o $I/bad.c
python3 -c 'import sys; b = open(sys.argv[1], "rb").read()
open(sys.argv[2], "wb").write(b.replace(b"\"F32\"", b"\"I32\""))' $I/xor.safetensors $I/xor_i32.safetensors
expect "--weights: a wrong dtype" 1 "xor_i32.safetensors: tensor '.*' has dtype I32, model expects F32" \
    $NNC examples/xor.nn --weights $I/xor_i32.safetensors -o $I/bad.c
expect "--weights: no such file" 1 "nnc: error: $I/none.safetensors: cannot open" \
    $NNC examples/xor.nn --weights $I/none.safetensors -o $I/bad.c
expect "--weights with --main" 1 "--main with --weights: the trainer loads its weights" \
    $NNC examples/xor.nn --main --weights $I/xor.safetensors -o $I/bad.c
expect "--weights with --target cuda" 1 "--weights is for the C target" \
    $NNC examples/xor.nn --target cuda --weights $I/xor.safetensors -o $I/bad.cu
# the block: LeNet at batch 1, where the hand-edited inference model needed 285,760 bytes (its parameters,
# 247,040, and the forward pass's activations without reuse in place); --weights leaves the activations
for w in "" "--weights $I/lenet.safetensors"; do
    bytes=$($NNC -D B=1 --infer-only $w examples/lenet.nn -o $I/l.c &&
        sed -n 's/^#define LENET_ARENA_BYTES \([0-9]*\) .*/\1/p' $I/l.h)
    most=$([ -z "$w" ] && echo 285760 || echo $((285760 - 247040)))
    if [ -n "$bytes" ] && [ "$bytes" -le $most ]; then
        pass "LeNet B=1 ${w:+--weights }block: $bytes bytes (at most $most)"
    else fail "LeNet B=1 ${w:+--weights }block: '$bytes' bytes, more than $most"; fi
done
