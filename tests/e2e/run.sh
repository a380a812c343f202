#!/bin/sh
# End-to-end tests: the nnc command line, the generated code under gcc and
# clang, the trainer on real data, and its error handling.
cd "$(dirname "$0")/../.." || exit 2
NNC=${NNC:-build/nnc}
T=$(pwd)/build/e2e
rm -rf $T && mkdir -p $T
status=0
pass() { echo "PASS e2e $*"; }
fail() { echo "FAIL e2e $*"; status=1; }
# expect NAME WANT_STATUS PATTERN command... : exit status and a pattern in stdout+stderr
expect() {
    name=$1 want=$2 pat=$3; shift 3
    "$@" >$T/out.log 2>&1
    rc=$?
    if [ $rc -ne "$want" ]; then fail "$name: exit $rc, expected $want"; sed 's/^/    /' $T/out.log | tail -n 8
    elif [ -n "$pat" ] && ! grep -q -- "$pat" $T/out.log; then fail "$name: output lacks '$pat'"; sed 's/^/    /' $T/out.log | tail -n 8
    else pass "$name"; fi
}
CFLAGS99="-std=c99 -Wall -Wextra -Werror -O2 -Iruntime"

# ---- the command line -------------------------------------------------------
expect "version" 0 "nnc " $NNC --version
expect "help" 0 "usage: nnc" $NNC --help
expect "no input is a usage error" 2 "no input file" $NNC
expect "unknown option is a usage error" 2 "unknown option '--frobnicate'" $NNC --frobnicate examples/xor.nn
expect "-o - with C output is a usage error" 2 "C output needs a file name" $NNC examples/xor.nn -o -
expect "bad --emit is a usage error" 2 "unknown --emit kind" $NNC --emit=asm examples/xor.nn
expect "cuda target is refused clearly" 2 "not available" $NNC --target cuda examples/xor.nn
expect "missing file" 1 "cannot open" $NNC no/such/file.nn
expect "-D with a bad value" 2 "-D value must be a number" $NNC -D B=x examples/digits_mlp.nn
expect "-D of an unknown const" 1 "no const named 'Q'" $NNC -D Q=3 --emit=ir examples/digits_mlp.nn
expect "-D overrides a const" 0 "f32\[64, 64\] = input image" $NNC -D B=64 --emit=ir examples/digits_mlp.nn
expect "-DNAME=V form" 0 "f32\[16, 64\] = input image" $NNC -DB=16 --emit=ir examples/digits_mlp.nn
expect "stdin input" 0 "model xor" sh -c "$NNC --emit=ir - < examples/xor.nn"
expect "--emit=ast" 0 "model" $NNC --emit=ast examples/xor.nn
expect "--emit=ir-train shows the update" 0 "update sgd lr=0.5 momentum=0.9" $NNC --emit=ir-train examples/xor.nn
expect "--emit=dot" 0 "digraph" $NNC --emit=dot examples/digits_mlp.nn
expect "--emit=kernels" 0 "train: " $NNC --emit=kernels examples/digits_mlp.nn
expect "--stats" 0 "arena .* naive sum .* kernels" $NNC --stats examples/digits_mlp.nn -o $T/stats.c
expect "--print-after=autodiff" 0 "IR after autodiff" $NNC --print-after=autodiff examples/xor.nn -o $T/pa.c
NO_COLOR=1 script -qec "$NNC tests/diag/name_unknown.nn -o $T/x.c" /dev/null >$T/nocolor.log 2>&1
if grep -q "$(printf '\033')" $T/nocolor.log; then fail "NO_COLOR on a terminal still prints colour"; else pass "NO_COLOR disables colour"; fi
script -qec "$NNC tests/diag/name_unknown.nn -o $T/x.c" /dev/null >$T/color.log 2>&1
if grep -q "$(printf '\033')" $T/color.log; then pass "colour on a terminal"; else fail "no colour on a terminal"; fi
$NNC tests/diag/name_unknown.nn -o $T/x.c 2>$T/pipe.log
if grep -q "$(printf '\033')" $T/pipe.log; then fail "colour into a pipe"; else pass "no colour into a pipe"; fi

# ---- generated code: gcc and clang, f32 and f64, with and without main -------
for nn in examples/*.nn; do
    m=$(basename "$nn" .nn)
    for dt in f32 f64; do
        for cc in gcc clang; do
            $NNC --dtype $dt "$nn" -o $T/$m-$dt.c && $cc $CFLAGS99 -c $T/$m-$dt.c -o $T/$m-$dt-$cc.o 2>$T/cc.log &&
                pass "$m $dt compiles with $cc -std=c99 -Wall -Wextra -Werror" ||
                { fail "$m $dt with $cc"; head -20 $T/cc.log; }
        done
    done
    mkdir -p $T/again && $NNC "$nn" -o $T/$m.c && $NNC "$nn" -o $T/again/$m.c && cmp -s $T/$m.c $T/again/$m.c && cmp -s $T/$m.h $T/again/$m.h &&
        pass "$m: output is byte-identical across runs" || fail "$m: output differs between runs"
done
$NNC --name tiny examples/xor.nn -o $T/tiny.c && gcc $CFLAGS99 -c $T/tiny.c -o $T/tiny.o &&
    ! nm $T/tiny.o | grep -q ' T xor_' && nm $T/tiny.o | grep -q ' T tiny_train_step' &&
    pass "--name prefixes every symbol" || fail "--name"
nm $T/xor-f32-gcc.o | grep -E ' [BDC] ' >$T/globals.log
if [ -s $T/globals.log ]; then fail "generated code has mutable globals"; cat $T/globals.log; else pass "no mutable globals in generated code"; fi
grep -q "exit(\|printf(" $T/digits_mlp.c | grep -v snprintf && fail "library code prints or exits" || pass "model code neither prints nor exits"

# ---- the coffee neuron: known outputs ------------------------------------------
cat >$T/coffee_main.c <<'C'
#include <stdio.h>
#include "coffee.h"
int main(void) {
    const float x[4] = {5, 10, 9, 25};
    float p[2];
    coffee *m = coffee_create(1);
    if (!m || coffee_forward(m, x, p)) return 1;
    printf("%.4f %.4f\n", p[0], p[1]);
    coffee_free(m);
    return 0;
}
C
gcc $CFLAGS99 -I$T $T/coffee_main.c $T/coffee.c build/libnnrt.a -lm -o $T/coffee && expect "coffee gives sigmoid(0.5) and sigmoid(-3)" 0 "^0.6225 0.0474$" $T/coffee

# ---- the API example program: caller memory, train, save, load --------------
$NNC examples/xor.nn -o $T/xor.c && gcc $CFLAGS99 -I$T examples/xor_api.c $T/xor.c build/libnnrt.a -lm -o $T/xor_api &&
    (cd $T && expect "examples/xor_api.c trains, saves and reloads" 0 "same predictions" ./xor_api) || fail "xor_api builds"

# ---- the trainer ---------------------------------------------------------------
$NNC examples/xor.nn --main -o $T/xor_main.c && gcc $CFLAGS99 $T/xor_main.c build/libnnrt.a -lm -o $T/xor_prog || fail "xor trainer builds"
expect "xor trains to 100% accuracy" 0 "epoch 300/300 .*train acc 100.00%" $T/xor_prog train --data examples/data/xor/xor.csv --epochs 300 --save $T/xor.safetensors
expect "xor eval" 0 "accuracy 100.00%" $T/xor_prog eval --data examples/data/xor/xor.csv --load $T/xor.safetensors
expect "xor predict" 0 "" $T/xor_prog predict --data examples/data/xor/xor.csv --load $T/xor.safetensors
$NNC examples/digits_mlp.nn --main -o $T/digits.c && gcc $CFLAGS99 $T/digits.c build/libnnrt.a -lm -o $T/digits || fail "digits trainer builds"
D=examples/data/digits
expect "digits trains" 0 "epoch  30/30" $T/digits train --data $D/digits_train.csv --scale 0.0625 --epochs 30 --val-split 0.1 --seed 1 --save $T/digits.safetensors
$T/digits eval --data $D/digits_test.csv --scale 0.0625 --load $T/digits.safetensors >$T/eval.log 2>&1
acc=$(sed -n 's/.*accuracy *\([0-9.]*\)%.*/\1/p' $T/eval.log)
if [ -n "$acc" ] && awk "BEGIN { exit !($acc >= 95) }"; then pass "digits test accuracy $acc% >= 95%"; else fail "digits test accuracy '$acc' < 95%"; cat $T/eval.log; fi
expect "resume continues from saved weights" 0 "epoch   1/1" $T/digits train --data $D/digits_train.csv --scale 0.0625 --epochs 1 --resume $T/digits.safetensors --save $T/digits2.safetensors
# IDX files written here: the digits as 8x8 u8 images and u8 labels
python3 - "$D/digits_train.csv" $T <<'PY'
import struct, sys
rows = [list(map(int, l.split(","))) for l in open(sys.argv[1]) if l.strip()]
with open(sys.argv[2] + "/img.idx", "wb") as f:
    f.write(struct.pack(">IIII", 0x803, len(rows), 8, 8)); f.write(bytes(min(255, v * 16) for r in rows for v in r[:64]))
with open(sys.argv[2] + "/lab.idx", "wb") as f:
    f.write(struct.pack(">II", 0x801, len(rows))); f.write(bytes(r[64] for r in rows))
with open(sys.argv[2] + "/bad_magic.idx", "wb") as f:
    f.write(struct.pack(">IIII", 0x804, len(rows), 8, 8))
with open(sys.argv[2] + "/img28.idx", "wb") as f:
    f.write(struct.pack(">IIII", 0x803, 2, 28, 28)); f.write(bytes(2 * 784))
with open(sys.argv[2] + "/trunc.idx", "wb") as f:
    f.write(struct.pack(">IIII", 0x803, len(rows), 8, 8)); f.write(bytes(100))
PY
expect "trains from IDX files" 0 "epoch   5/5" $T/digits train --data $T/img.idx --labels $T/lab.idx --epochs 5
# bad data: one clear error naming the file, exit 1
printf '1,2,3\n' >$T/short.csv
awk -F, 'NR==1 { $65 = 12 } 1' OFS=, $D/digits_train.csv >$T/badlabel.csv
head -c 300 $D/digits_train.csv >$T/trunc.csv
expect "CSV with the wrong column count" 1 "short.csv" $T/digits train --data $T/short.csv --epochs 1
expect "label out of range" 1 "badlabel.csv" $T/digits train --data $T/badlabel.csv --epochs 1
expect "truncated CSV" 1 "trunc.csv" $T/digits train --data $T/trunc.csv --epochs 1
expect "IDX with a wrong magic" 1 "bad_magic.idx" $T/digits train --data $T/bad_magic.idx --labels $T/lab.idx --epochs 1
expect "IDX of the wrong shape for the model" 1 "img28.idx" $T/digits train --data $T/img28.idx --labels $T/lab.idx --epochs 1
expect "truncated IDX" 1 "trunc.idx" $T/digits train --data $T/trunc.idx --labels $T/lab.idx --epochs 1
expect "missing data file" 1 "nope.csv" $T/digits train --data $T/nope.csv --epochs 1
expect "usage error" 2 "" $T/digits train --epochs x --data $D/digits_train.csv
head -c 100 $T/digits.safetensors >$T/broken.safetensors
expect "truncated weights file" 1 "broken.safetensors" $T/digits eval --data $D/digits_test.csv --load $T/broken.safetensors
expect "weights of another model" 1 "xor.safetensors" $T/digits eval --data $D/digits_test.csv --load $T/xor.safetensors
cp $T/digits.safetensors $T/keep.safetensors
mkdir -p $T/ro.safetensors.tmp
expect "save that cannot write keeps nothing half-written" 1 "" $T/digits train --data $D/digits_train.csv --scale 0.0625 --epochs 1 --save $T/ro.safetensors
cmp -s $T/digits.safetensors $T/keep.safetensors && pass "existing weights untouched" || fail "existing weights changed"
exit $status
