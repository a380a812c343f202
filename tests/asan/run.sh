#!/bin/sh
# nnc and the generated code under AddressSanitizer + UBSan; any sanitizer
# report fails the suite:
#  - nnc, built with the sanitizers, compiles every example and bench model
#    (C with --main, and --emit=ir-train) and every diagnostics model;
#  - the generated C of every example and bench model, built with the
#    sanitizers (at -O0: they compile fast), runs tests/asan/drive.c on
#    random inputs of the right shapes: forward, loss, 3 training steps,
#    check_finite, save and load (xor in f64 too). bench/gpt2_small is left
#    out: 124M parameters take minutes under ASan;
#  - the generated trainer trains XOR to 100% accuracy and digits an epoch,
#    then digits with early stopping, --log, --plot and --test, and evaluates
#    its validation split (and the leak check);
#  - the CUDA emulation (tests/cudaemu, CPU mock) of every example in f32,
#    emulator, CUDA kernels and C kernels all built with the sanitizers.
# Cost: about 100 s of CPU, 85 s on 2 shared cores (models two at a time; the
# CUDA emulation is half of it).
cd "$(dirname "$0")/../.." || exit 2
B=build/asan
SAN="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all"
SAN0="-O0 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all"
REPORT="runtime error\|AddressSanitizer\|LeakSanitizer"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1
# JIT=0: no test here runs nnc train|run, and the JIT's C++ against Clang's
# headers took a minute to build with the sanitizers
if ! make -s B=$B CFLAGS="$SAN" JIT=0 all >$B.build.log 2>&1; then
    echo "FAIL asan: build"; cat $B.build.log; exit 1
fi
status=0
check() { # name, command...
    name=$1; shift
    if "$@" >$B/$name.log 2>&1 && ! grep -q "$REPORT" $B/$name.log; then
        echo "PASS asan $name"
    else
        echo "FAIL asan $name"; tail -n 30 $B/$name.log; status=1
    fi
}
models=$(ls examples/*.nn bench/*.nn | grep -v gpt2_small)
for nn in $models; do
    m=$(basename "$nn" .nn)
    case $nn in bench/*) m=bench_$m ;; esac
    check "nnc-$m" $B/nnc "$nn" --main -o $B/$m.c
    check "nnc-ir-$m" $B/nnc "$nn" --emit=ir-train -o $B/$m.ir
done
for nn in tests/diag/*.nn; do
    $B/nnc "$nn" -o $B/diag.c >$B/diag.log 2>&1
    if grep -q "$REPORT" $B/diag.log; then
        echo "FAIL asan diag $(basename "$nn")"; cat $B/diag.log; status=1
    fi
done

# ---- every model's generated C through tests/asan/drive.c -----------------------
D=$B/drive
rm -rf $D && mkdir -p $D
# one.sh NAME MODEL.nn [nnc options]: the model as "net", drive.c with the
# entry points its header declares, built and run; its log in $D/NAME.log
cat >$D/one.sh <<EOF
n=\$1 nn=\$2; shift 2
$B/nnc "\$nn" --name net "\$@" -o $D/\$n.c >$D/\$n.log 2>&1 || exit 1
h=$D/\$n.h
defs="-DMODEL_H=\"\$n.h\" -DELEM=\$(sed -n 's/^\([a-z]*\) \*net_params(.*/\1/p' \$h)"
grep -q "^int net_forward(" \$h && defs="\$defs -DHAS_FORWARD"
grep -q "^int net_loss(" \$h && defs="\$defs -DHAS_LOSS"
grep -q "^int net_train_step(" \$h && defs="\$defs -DHAS_TRAIN"
${CC:-gcc} -std=c99 -Wall -Wextra -Werror $SAN0 -Iruntime -I$D \$defs tests/asan/drive.c $D/\$n.c $B/libnnrt.a -lm \
    -o $D/\$n >>$D/\$n.log 2>&1 || exit 1
$D/\$n 3 $D/\$n.safetensors >>$D/\$n.log 2>&1
EOF
{
    for nn in $models; do
        m=$(basename "$nn" .nn)
        case $nn in bench/*) m=bench_$m ;; esac
        # a model with several objectives (train NAME: ...): drive.c runs each objective's
        # own build (--objective NAME), which has the whole single-objective API
        objs=$(sed -n 's/^ *train \([A-Za-z_][A-Za-z_0-9]*\):.*/\1/p' "$nn")
        if [ -n "$objs" ]; then
            for o in $objs; do echo "${m}_$o $nn --objective $o"; done
        else
            echo "$m $nn"
        fi
    done
    echo "xor_f64 examples/xor.nn --dtype=f64"
} >$D/jobs
xargs -P 2 -L 1 sh $D/one.sh <$D/jobs
while read -r n nn opts; do
    if tail -n 1 $D/$n.log | grep -q "parameters finite, saved and loaded$" && ! grep -q "$REPORT" $D/$n.log; then
        echo "PASS asan generated code of $n${opts:+ ($opts)}: $(tail -n 1 $D/$n.log)"
    else
        echo "FAIL asan generated code of $n${opts:+ ($opts)}"; tail -n 30 $D/$n.log; status=1
    fi
done <$D/jobs

# ---- the generated trainer -------------------------------------------------------
check cc-xor ${CC:-gcc} -std=c99 -Wall -Wextra -Werror $SAN -Iruntime $B/xor.c $B/libnnrt.a -lm -o $B/xor
check train-xor $B/xor train --data examples/data/xor/xor.csv --epochs 300 --seed 1 --save $B/xor.safetensors
if grep -q "epoch 300/300 .*train acc 100.00%" $B/train-xor.log; then echo "PASS asan xor reaches 100% accuracy"; else
    echo "FAIL asan xor accuracy"; tail -n 3 $B/train-xor.log; status=1; fi
check eval-xor $B/xor eval --data examples/data/xor/xor.csv --load $B/xor.safetensors
check cc-digits ${CC:-gcc} -std=c99 -Wall -Wextra -Werror $SAN -Iruntime $B/digits_mlp.c $B/libnnrt.a -lm -o $B/digits_mlp
check train-digits $B/digits_mlp train --data examples/data/digits/digits_train.csv --scale 0.0625 --epochs 1
# early stopping with the best weights, the log, the plot, --test; eval of the split and the leak check
check train-digits-watch $B/digits_mlp train --data examples/data/digits/digits_train.csv --scale 0.0625 \
    --epochs 30 --val-split 0.2 --patience 2 --log $B/watch.csv --log-every 10 --plot $B/watch.svg \
    --test examples/data/digits/digits_test.csv --save $B/watch.safetensors
check eval-digits-split $B/digits_mlp eval --data examples/data/digits/digits_train.csv --scale 0.0625 \
    --load $B/watch.safetensors --val-split 0.2
check eval-digits-leak $B/digits_mlp eval --data examples/data/digits/digits_train.csv --scale 0.0625 \
    --load $B/watch.safetensors

# ---- the CUDA emulation of every example (f32) under the sanitizers ---------------
B=$B CUDAEMU_SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
    CUDAEMU_ONLY="\.f32 examples/" sh tests/cudaemu/run.sh >$B/cudaemu.log 2>&1 || status=1
sed 's/^\(PASS\|FAIL\) cudaemu /\1 asan cudaemu /' $B/cudaemu.log
exit $status
