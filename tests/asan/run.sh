#!/bin/sh
# nnc and the generated code built with AddressSanitizer + UBSan: compile
# every example, then train XOR with the generated trainer. Any sanitizer
# report fails the suite.
cd "$(dirname "$0")/../.." || exit 2
B=build/asan
SAN="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1
if ! make -s B=$B CFLAGS="$SAN" all >$B.build.log 2>&1; then
    echo "FAIL asan: build"; cat $B.build.log; exit 1
fi
status=0
check() { # name, command...
    name=$1; shift
    if "$@" >$B/$name.log 2>&1 && ! grep -q "runtime error\|AddressSanitizer\|LeakSanitizer" $B/$name.log; then
        echo "PASS asan $name"
    else
        echo "FAIL asan $name"; tail -n 30 $B/$name.log; status=1
    fi
}
for nn in examples/*.nn; do
    m=$(basename "$nn" .nn)
    check "nnc-$m" $B/nnc "$nn" --main -o $B/$m.c
    check "nnc-ir-$m" $B/nnc "$nn" --emit=ir-train -o $B/$m.ir
done
for nn in tests/diag/*.nn; do
    $B/nnc "$nn" -o $B/diag.c >$B/diag.log 2>&1
    if grep -q "runtime error\|AddressSanitizer\|LeakSanitizer" $B/diag.log; then
        echo "FAIL asan diag $(basename "$nn")"; cat $B/diag.log; status=1
    fi
done
check cc-xor ${CC:-gcc} -std=c99 -Wall -Wextra -Werror $SAN -Iruntime $B/xor.c $B/libnnrt.a -lm -o $B/xor
check train-xor $B/xor train --data examples/data/xor/xor.csv --epochs 300 --seed 1 --save $B/xor.safetensors
if grep -q "epoch 300/300 .*train acc 100.00%" $B/train-xor.log; then echo "PASS asan xor reaches 100% accuracy"; else
    echo "FAIL asan xor accuracy"; tail -n 3 $B/train-xor.log; status=1; fi
check eval-xor $B/xor eval --data examples/data/xor/xor.csv --load $B/xor.safetensors
check cc-digits ${CC:-gcc} -std=c99 -Wall -Wextra -Werror $SAN -Iruntime $B/digits_mlp.c $B/libnnrt.a -lm -o $B/digits_mlp
check train-digits $B/digits_mlp train --data examples/data/digits/digits_train.csv --scale 0.0625 --epochs 1
exit $status
