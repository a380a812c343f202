#!/bin/sh
# Cross targets: nnc's output built for other machines (the cross tools come
# from scripts/install-deps.sh; where one is missing its test prints SKIP).
#
# aarch64 (gcc-aarch64-linux-gnu, qemu-user): libnnrt cross-built by make
# (CC=aarch64-linux-gnu-gcc: no x86 dispatch, gemm.c's portable kernels)
# under build/cross/aarch64; the UCI digits MLP (trained 2 epochs here) and
# LeNet (its initial weights) built with --infer-only --weights and
# tests/cross/predict.c, run natively and under qemu-aarch64 on the 360 test
# digits and the first 1,000 MNIST test images: the predictions must agree.
#
# Cortex-M4 (gcc-arm-none-eabi, libnewlib-arm-none-eabi): LeNet at batch 1
# with --freestanding --weights, tests/cross/m4.c and m4.ld, runtime/gemm.c
# and gemm_dispatch.c as the core runtime (-DNNRT_FREESTANDING), linked
# -nostdlib with newlib's libc for memcpy and memset alone: no malloc, no
# stdio; prints flash (text + data) and RAM (data + bss) and the forward
# pass's stack high-water mark (scripts/stack-usage.py), RAM under 40 KB;
# the same built with --quantize int8 (calibrated on 1,000 MNIST images):
# its flash at most half of the f32 build's (no f32 copy of the int8 weights).
cd "$(dirname "$0")/../.." || exit 2
NNC=${NNC:-build/nnc}
NNRT=${NNRT:-$(dirname "$NNC")/libnnrt.a}
T=$(pwd)/build/tests/cross
rm -rf $T && mkdir -p $T
status=0
pass() { echo "PASS cross $*"; }
fail() { echo "FAIL cross $*"; status=1; }
have() { command -v "$1" >/dev/null 2>&1; }
CFLAGS99="-std=c99 -Wall -Wextra -Werror -O2 -Iruntime"
MNIST=examples/data/mnist/t10k-images-idx3-ubyte

# weights: the digits MLP trained briefly, LeNet's initial weights (seed 1)
weights() {
    $NNC examples/digits_mlp.nn --main -o $T/trainer.c && gcc $CFLAGS99 $T/trainer.c $NNRT -lm -o $T/trainer &&
        $T/trainer train --data examples/data/digits/digits_train.csv --scale 0.0625 --epochs 2 --seed 1 \
            --save $T/digits_mlp.safetensors >$T/train.log 2>&1 &&
        mkdir -p $T/init && $NNC examples/lenet.nn --infer-only --name net -o $T/init/net.c &&
        gcc $CFLAGS99 -DNET_SAVE -I$T/init tests/cross/predict.c $T/init/net.c $NNRT -lm -o $T/init/save &&
        $T/init/save init $T/lenet.safetensors 1
}

# aarch64 MODEL B WHAT ARGS: the predictions of MODEL at batch B on x86-64 and under qemu-aarch64
aarch64() {
    m=$1 b=$2 what=$3; shift 3
    d=$T/$m && mkdir -p $d
    $NNC -D B=$b examples/$m.nn --weights $T/$m.safetensors --name net -o $d/net.c &&
        gcc $CFLAGS99 -I$d tests/cross/predict.c $d/net.c $NNRT -lm -o $d/x86 &&
        aarch64-linux-gnu-gcc $CFLAGS99 -I$d tests/cross/predict.c $d/net.c $A64/libnnrt.a -lm -o $d/a64 &&
        $d/x86 "$@" >$d/x86.txt && qemu-aarch64 -L /usr/aarch64-linux-gnu $d/a64 "$@" >$d/a64.txt || return 1
    n=$(wc -l <$d/x86.txt)
    if [ "$n" -gt 0 ] && cmp -s $d/x86.txt $d/a64.txt; then
        pass "aarch64 (qemu) $m B=$b: the same $n predictions as x86-64 on $what"
    else fail "aarch64 (qemu) $m B=$b: predictions differ from x86-64 on $what"; fi
}

if weights >$T/weights.log 2>&1; then pass "weights for the cross builds"
else fail "weights for the cross builds"; tail -n 12 $T/weights.log; exit 1; fi

A64=build/cross/aarch64
if have aarch64-linux-gnu-gcc && have qemu-aarch64; then
    if make -s CC=aarch64-linux-gnu-gcc B=$A64 $A64/libnnrt.a >$T/a64-make.log 2>&1; then
        aarch64 digits_mlp 32 "the 360 test digits" csv examples/data/digits/digits_test.csv 0.0625 ||
            fail "aarch64 digits_mlp build or run"
        aarch64 lenet 100 "1,000 MNIST test images" idx $MNIST 1000 || fail "aarch64 lenet build or run"
    else fail "make CC=aarch64-linux-gnu-gcc libnnrt.a"; tail -n 12 $T/a64-make.log; fi
else echo "SKIP cross aarch64: aarch64-linux-gnu-gcc or qemu-aarch64 not found (scripts/install-deps.sh)"; fi

M4="-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16"
# m4 V NNC-OPTIONS: LeNet B=1 --freestanding --weights (V: f32, or int8 with --quantize) linked for the
# Cortex-M4; sets flash_V
m4() {
    v=$1 && shift
    d=$T/m4/$v opts="" && mkdir -p $d
    [ $# -gt 0 ] && opts=" $*"
    if $NNC -D B=1 examples/lenet.nn --freestanding --weights $T/lenet.safetensors "$@" --name net -o $d/net.c \
        2>$d/log && (cd $d && arm-none-eabi-gcc $M4 $CFLAGS99 -I$OLDPWD/runtime -I. -ffreestanding -DNNRT_FREESTANDING \
            -fno-ipa-icf -fcallgraph-info=su -nostdlib -nostartfiles -T $OLDPWD/tests/cross/m4.ld \
            $OLDPWD/tests/cross/m4.c net.c $OLDPWD/runtime/gemm.c $OLDPWD/runtime/gemm_dispatch.c -lc -lgcc \
            -o lenet.elf) 2>>$d/log; then
        set -- $(arm-none-eabi-size $d/lenet.elf | tail -n 1)
        flash=$(($1 + $2)) ram=$(($2 + $3))
        eval "flash_$v=$flash"
        libc=$(arm-none-eabi-nm $d/lenet.elf | grep -E ' (malloc|_malloc_r|free|_sbrk|printf|fwrite|puts|_write)$')
        stack=$(python3 scripts/stack-usage.py net_forward $d/*.ci 2>>$d/log)
        if [ -z "$libc" ] && [ $ram -le 40960 ] && [ -n "$stack" ]; then
            pass "Cortex-M4 LeNet --freestanding --weights${opts% --calibrate*}: flash $flash bytes, RAM $ram bytes" \
                "(text $1, data $2, bss $3), stack ${stack#net_forward: }"
        else fail "Cortex-M4 LeNet $v: RAM $ram bytes (at most 40960), stack '$stack', C library: $libc"; fi
    else fail "Cortex-M4 LeNet $v link"; tail -n 12 $d/log; fi
}
if have arm-none-eabi-gcc && have arm-none-eabi-size; then
    m4 f32
    # int8 (--quantize int8): calibrated on 1,000 MNIST images; no f32 copy of the int8 weights in flash
    if $NNC examples/lenet.nn --main --quantize int8 -o $T/calib.c && gcc $CFLAGS99 $T/calib.c $NNRT -lm -o $T/calib &&
        $T/calib calibrate --data $MNIST --labels examples/data/mnist/t10k-labels-idx1-ubyte --val-split 0.9 \
            --split train --load $T/lenet.safetensors --out $T/lenet.calib >$T/calib.log 2>&1; then
        m4 int8 --quantize int8 --calibrate $T/lenet.calib
        if [ -n "$flash_f32" ] && [ -n "$flash_int8" ] && [ $((flash_int8 * 2)) -gt $flash_f32 ]; then
            fail "Cortex-M4 LeNet int8: flash $flash_int8 bytes, not at most half of f32's $flash_f32"
        fi
    else fail "Cortex-M4 LeNet int8: calibration"; tail -n 5 $T/calib.log; fi
else echo "SKIP cross cortex-m4: arm-none-eabi-gcc not found (scripts/install-deps.sh)"; fi
exit $status
