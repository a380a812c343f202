# tests/e2e/quant.sh — sourced by tests/e2e/run.sh (uses its NNC, NNRT, T,
# CFLAGS99, expect, pass and fail): --quantize int8 (codegen/c/k_quant.c).
#
# For the digits MLP, tests/e2e/qconv.nn (convolutions with padding,
# stride and dilation) and tests/e2e/qsigned.nn (negative inputs to int8
# layers), each trained 10 epochs on the UCI digits: the
# trainer built with --main --quantize int8 calibrates on the training
# digits (calibrate), nnc builds the f32 and the int8 inference code
# (--weights, --calibrate), and tests/e2e/quant_probs.c prints the outputs
# on the 360 test digits. Checked:
#   - the int8 code gives the same bits under -march=x86-64 (the portable
#     dot products), -DNNC_NO_VECTOR_EXT, -march=x86-64-v3 (AVX2) and
#     -march=native (AVX-512 VNNI where the CPU has it): exact integer sums;
#   - tests/e2e/quant_ref.py (numpy): the same scheme within 1e-6, fake
#     quantization in float64 within 1e-4, at most 0.5 points of accuracy
#     lost against f32 (SKIP without numpy);
#   - every branch compiles warning-free under gcc and clang;
#   - the int8 object's const data is smaller than the f32 one's by at
#     least 60% (qconv and qsigned, whose small layers pad most: 50%) of the f32 bytes
#     of the weights held in int8 (no f32 copy of them);
#   - the errors of bad options and bad calibration files.
Q=$T/quant
mkdir -p $Q
QPY=${QUANT_PYTHON:-/usr/bin/python3}
DIG=examples/data/digits
# quant_model NAME SOURCE: train, calibrate, build and compare
quant_model() {
    m=$1 nn=$2 d=$Q/$1
    mkdir -p $d/f32 $d/int8
    $NNC $nn --main --quantize int8 -o $d/trainer.c && gcc $CFLAGS99 $d/trainer.c $NNRT -lm -o $d/trainer &&
        $d/trainer train --data $DIG/digits_train.csv --scale 0.0625 --epochs 10 --seed 1 --save $d/w.safetensors &&
        $d/trainer calibrate --data $DIG/digits_train.csv --scale 0.0625 --load $d/w.safetensors \
            --out $d/calib.safetensors &&
        $NNC $nn --weights $d/w.safetensors --name net -o $d/f32/net.c &&
        $NNC $nn --weights $d/w.safetensors --quantize int8 --calibrate $d/calib.safetensors --name net \
            -o $d/int8/net.c || return 1
    for v in f32 int8; do
        gcc $CFLAGS99 -I$d/$v tests/e2e/quant_probs.c $d/$v/net.c $NNRT -lm -o $d/$v/probs &&
            $d/$v/probs $DIG/digits_test.csv 0.0625 >$d/$v.txt || return 1
    done
}
# quant_isa NAME: the int8 build of each ISA gives the bits of the portable one
quant_isa() {
    d=$Q/$1 same=""
    for b in $builds; do
        gcc $CFLAGS99 $b -I$d/int8 tests/e2e/quant_probs.c $d/int8/net.c $NNRT -lm -o $d/isa &&
            $d/isa $DIG/digits_test.csv 0.0625 >$d/isa.txt && cmp -s $d/isa.txt $d/int8.txt || {
            fail "$1 int8: $b gives other bits than -march=x86-64"
            return
        }
        same="$same $b"
    done
    pass "$1 int8: the same bits as -march=x86-64 (portable) under$same"
}
# quant_size NAME PCT: the int8 object's const data (.rodata*) is smaller than the f32 one's by at least
# PCT% of the f32 bytes of the weights it holds in int8 instead (their f32 copy is not emitted; the int8
# copy, padded to 16 outputs, with a sum and a scale per output, is the rest: small layers pad most)
quant_size() {
    d=$Q/$1
    command -v size >/dev/null 2>&1 || { echo "SKIP e2e $1 int8 const data: no size(1)"; return; }
    for v in f32 int8; do
        gcc $CFLAGS99 -I$d/$v -c $d/$v/net.c -o $d/$v/net.o || { fail "$1 $v: compile for size"; return; }
        eval "sz_$v=\$(size -A $d/$v/net.o | awk '/^\.rodata/ { s += \$2 } END { print s + 0 }')"
        eval "pe_$v=\$(awk '/^#define .*_PARAM_ELEMS/ { print \$3 }' $d/$v/net.h)"
    done
    qb=$(((pe_f32 - pe_int8) * 4))
    if [ $qb -gt 0 ] && [ $((sz_f32 - sz_int8)) -ge $((qb * $2 / 100)) ]; then
        pass "$1 int8: const data $sz_int8 bytes against $sz_f32 for f32 (f32 weights now in int8: $qb bytes)"
    else fail "$1 int8: const data $sz_int8 bytes against $sz_f32 for f32, not $2% of $qb (weights in int8) less"; fi
}
builds="-DNNC_NO_VECTOR_EXT -march=native"
grep -qw avx2 /proc/cpuinfo 2>/dev/null && builds="$builds -march=x86-64-v3"
[ "$(uname -m)" = x86_64 ] || builds="-DNNC_NO_VECTOR_EXT"
for m in digits_mlp qconv qsigned; do
    nn=examples/$m.nn
    [ -f $nn ] || nn=tests/e2e/$m.nn
    if ! quant_model $m $nn >$Q/$m.log 2>&1; then
        fail "$m: --quantize int8 build or run"
        tail -n 8 $Q/$m.log
        continue
    fi
    quant_isa $m
    quant_size $m $([ $m = digits_mlp ] && echo 60 || echo 50)
    if ! $QPY -c "import numpy" 2>/dev/null; then
        echo "SKIP e2e $m int8 reference: no numpy for $QPY"
    elif $QPY tests/e2e/quant_ref.py $m $Q/$m/w.safetensors $Q/$m/calib.safetensors $DIG/digits_test.csv 0.0625 \
        $Q/$m/int8.txt $Q/$m/f32.txt >$Q/$m.ref 2>&1; then
        pass "$m int8 against tests/e2e/quant_ref.py: $(cat $Q/$m.ref)"
    else
        fail "$m int8 against tests/e2e/quant_ref.py"
        cat $Q/$m.ref
    fi
done

# every dot-product branch compiles under gcc and clang (AVX-512 VNNI, AVX2, portable)
d=$Q/qconv
if [ -f $d/int8/net.c ] && [ "$(uname -m)" = x86_64 ]; then
    ok=1
    for cc in gcc clang; do
        for arch in "-march=x86-64-v4 -mavx512vnni" -march=x86-64-v3 -march=x86-64 -DNNC_NO_VECTOR_EXT; do
            $cc $CFLAGS99 $arch -I$d/int8 -c $d/int8/net.c -o $Q/cc.o 2>$Q/cc.log || {
                ok=0
                fail "qconv int8: $cc $arch"
                head -n 10 $Q/cc.log
            }
        done
    done
    [ $ok = 1 ] && pass "qconv int8: VNNI, AVX2 and portable branches compile under gcc and clang"
fi

# bad options and calibration files: one line each
W=$Q/digits_mlp/w.safetensors C=$Q/digits_mlp/calib.safetensors
expect "--quantize without --weights" 1 "error: --quantize int8 needs --weights W.safetensors and --calibrate FILE" \
    $NNC examples/digits_mlp.nn --quantize int8 -o $Q/x.c
expect "--quantize int4" 2 "unknown --quantize 'int4' (int8)" $NNC examples/digits_mlp.nn --quantize int4
expect "--quantize with --target cuda" 1 "error: --quantize int8 is for the C target (the CUDA target has no int8" \
    $NNC examples/digits_mlp.nn --target cuda --quantize int8 --weights $W --calibrate $C -o $Q/x.cu
expect "--quantize with --dtype f64" 1 "error: --quantize int8 quantizes an f32 model, not --dtype f64" \
    $NNC examples/digits_mlp.nn --dtype f64 --quantize int8 --weights $W --calibrate $C -o $Q/x.c
expect "a calibration of another model" 1 \
    "calib.safetensors: tensor 'h.0.weight.input_absmax' not found (a calibration file of another model?)" \
    $NNC examples/digits_mlp.nn --quantize int8 --weights $W --calibrate $Q/qconv/calib.safetensors -o $Q/x.c
expect "weights given as the calibration" 1 "w.safetensors: tensor 'h.0.weight.input_absmax' not found" \
    $NNC examples/digits_mlp.nn --quantize int8 --weights $W --calibrate $W -o $Q/x.c
printf 'model noq {\n    input x : f32[2, 3]\n    output y = relu(x)\n}\n' >$Q/noq.nn
expect "a model without dense or conv layers" 1 "error: --quantize int8: model 'noq' has no dense or conv2d layer" \
    $NNC $Q/noq.nn --main --quantize int8 -o $Q/x.c
if $QPY -c "import numpy" 2>/dev/null; then
    $QPY -c "
import json, struct, numpy as np
h = json.dumps({n: {'dtype': 'F32', 'shape': [1], 'data_offsets': [4 * i, 4 * i + 4]}
                for i, n in enumerate(['h.0.weight.input_absmax', 'h.2.weight.input_absmax',
                                       'logits.weight.input_absmax'])}).encode()
open('$Q/nan.safetensors', 'wb').write(struct.pack('<Q', len(h)) + h + np.array([1, np.nan, 2], np.float32).tobytes())"
    expect "a calibration holding NaN" 1 "nan.safetensors: tensor 'h.2.weight.input_absmax' holds nan" \
        $NNC examples/digits_mlp.nn --quantize int8 --weights $W --calibrate $Q/nan.safetensors -o $Q/x.c
fi
$NNC examples/digits_mlp.nn --main -o $Q/plain.c && gcc $CFLAGS99 $Q/plain.c $NNRT -lm -o $Q/plain
expect "calibrate with a trainer built without --quantize" 2 "calibrate: this trainer was built without --quantize" \
    $Q/plain calibrate --data $DIG/digits_test.csv --scale 0.0625 --load $W --out $Q/x.calib
expect "calibrate without --out" 2 "calibrate needs --out CALIB.safetensors" \
    $Q/digits_mlp/trainer calibrate --data $DIG/digits_test.csv --scale 0.0625 --load $W
