#!/bin/sh
# End-to-end tests: the nnc command line, the generated code under gcc and
# clang, the trainer on real data, and its error handling.
cd "$(dirname "$0")/../.." || exit 2
NNC=${NNC:-build/nnc}
NNRT=${NNRT:-$(dirname "$NNC")/libnnrt.a}
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
expect "--help lists the target table" 0 "^ *cuda  *CUDA: model.cu" $NNC --help
expect "no input is a usage error" 2 "no input file" $NNC
expect "unknown option is a usage error" 2 "unknown option '--frobnicate'" $NNC --frobnicate examples/xor.nn
expect "-o - with C output is a usage error" 2 "C output needs a file name" $NNC examples/xor.nn -o -
expect "bad --emit is a usage error" 2 "unknown --emit kind" $NNC --emit=asm examples/xor.nn
expect "--target cuda writes model.cu" 0 "" $NNC --target cuda examples/digits_mlp.nn -o $T/digits.cu
expect "unknown target is a usage error" 2 "unknown target 'gpu'" $NNC --target gpu examples/xor.nn
expect "missing file" 1 "cannot open" $NNC no/such/file.nn
expect "-D with a bad value" 2 "-D value must be a number" $NNC -D B=x examples/digits_mlp.nn
expect "-D of an unknown const" 1 "no const named 'Q'" $NNC -D Q=3 --emit=ir examples/digits_mlp.nn
expect "-D overrides a const" 0 "f32\[64, 64\] = input image" $NNC -D B=64 --emit=ir examples/digits_mlp.nn
expect "-DNAME=V form" 0 "f32\[16, 64\] = input image" $NNC -DB=16 --emit=ir examples/digits_mlp.nn
expect "stdin input" 0 "model xor" sh -c "$NNC --emit=ir - < examples/xor.nn"
expect "--emit=ast" 0 "model" $NNC --emit=ast examples/xor.nn
expect "--emit=ir-train shows the update" 0 "update sgd lr=0.5 momentum=0.9" $NNC --emit=ir-train examples/xor.nn
expect "--emit=dot" 0 "digraph" $NNC --emit=dot examples/digits_mlp.nn
expect "--emit=dot-train" 0 "style=dashed" $NNC --emit=dot-train examples/digits_mlp.nn
expect "--emit=dot labels fused programs" 0 'matmul_ep\\n{ .* }.*fillcolor=lightyellow' \
    $NNC --emit=dot examples/digits_mlp.nn
# tiny_gpt's graphs: a box per transformer block (stack of L=4), node names
# carry the block path; the forward graph has no gradients, the training one
# has; Graphviz lays each out in under 10 s (the flat training graph of 381
# nodes took minutes)
$NNC --emit=dot examples/tiny_gpt.nn -o $T/gpt.dot && $NNC --emit=dot-train examples/tiny_gpt.nn -o $T/gpt_train.dot
for d in gpt gpt_train; do
    boxes=$(grep -c '^  subgraph "cluster_h\.1\.[0-3]" {$' $T/$d.dot)
    inbox=$(grep -c '^    "h\.1\.[0-3]/n[0-9]*" \[label=' $T/$d.dot)
    [ "$boxes" = 4 ] && [ "$inbox" -gt 100 ] && pass "tiny_gpt $d.dot: 4 block boxes holding $inbox nodes" ||
        fail "tiny_gpt $d.dot: $boxes block boxes, $inbox nodes in them"
done
grep -q dashed $T/gpt.dot && fail "tiny_gpt --emit=dot draws gradients" || pass "tiny_gpt --emit=dot: the forward graph"
if ! command -v dot >/dev/null; then fail "Graphviz's dot is not installed (scripts/install-deps.sh installs graphviz)"
else
    for d in gpt gpt_train; do
        if timeout 10 dot -Tsvg $T/$d.dot -o $T/$d.svg && grep -q '<svg' $T/$d.svg; then
            pass "Graphviz lays out tiny_gpt $d.dot in under 10 s"
        else fail "Graphviz on tiny_gpt $d.dot: failed or over 10 s"; fi
    done
fi
expect "-fdiagnostics-color with a bad value" 2 "unknown -fdiagnostics-color value 'sometimes'" \
    $NNC -fdiagnostics-color=sometimes examples/xor.nn
expect "-fdiagnostics-format with a bad value" 2 "unknown -fdiagnostics-format 'xml'" \
    $NNC -fdiagnostics-format=xml examples/xor.nn
expect "-fdiagnostics-format=json of a good model is []" 0 "^\[\]$" \
    $NNC -fdiagnostics-format=json --emit=ir -o $T/ok.ir examples/xor.nn
expect "-fdiagnostics-color=never beats -fdiagnostics-color" 1 "^tests/diag/name_unknown.nn:[0-9]*:[0-9]*: error" \
    $NNC -fdiagnostics-color -fdiagnostics-color=never --emit=ir tests/diag/name_unknown.nn
expect "-fdiagnostics-color forces colour" 1 "\[31merror:" \
    $NNC -fdiagnostics-color --emit=ir tests/diag/name_unknown.nn
expect "-fdiagnostics-format=sarif of a plain error" 1 '"level": "error", "message": {"text": "model .* needs' \
    $NNC -fdiagnostics-format=sarif --max-memory=1K examples/digits_mlp.nn -o $T/mm.c
expect "--emit=kernels" 0 "train: " $NNC --emit=kernels examples/digits_mlp.nn
expect "--stats" 0 "arena .* naive sum .* kernels" $NNC --stats examples/digits_mlp.nn -o $T/stats.c
expect "--print-after=autodiff" 0 "IR after autodiff" $NNC --print-after=autodiff examples/xor.nn -o $T/pa.c
# hostile command lines and inputs: one clear line each, a non-zero exit
expect "a C library name as the prefix is refused" 1 "'div' cannot prefix the generated C" \
    $NNC --name div examples/xor.nn -o $T/lib.c
printf 'model libnames {\n    input sin : f32[2, 3]\n    output floor = relu(sin)\n}\n' >$T/libnames.nn
expect "C library names as inputs and outputs get a '_'" 0 "" $NNC $T/libnames.nn -o $T/libnames.c
expect "... and the code compiles" 0 "" cc $CFLAGS99 -c $T/libnames.c -o $T/libnames.o
if [ -w /dev/full ]; then
    expect "--emit=ir into a full disk fails" 1 "cannot write to standard output: No space left" \
        sh -c "$NNC --emit=ir examples/xor.nn >/dev/full"
    expect "--emit=ast into a full disk fails" 1 "cannot write to standard output" \
        sh -c "$NNC --emit=ast examples/xor.nn >/dev/full"
    expect "--help into a full disk fails" 1 "cannot write to standard output" sh -c "$NNC --help >/dev/full"
fi
# (a 1 GB memory limit: a reader without bounds fails rather than filling the machine)
expect "/dev/zero as input stops at the first NUL byte" 1 "/dev/zero: has a NUL byte (at offset 0), not a model?" \
    sh -c "ulimit -v 1000000; exec $NNC /dev/zero"
printf 'model m {\000}\n' >$T/nul.nn
expect "a NUL byte in the source" 1 "nul.nn: has a NUL byte (at offset 9)" $NNC $T/nul.nn
truncate -s 5G $T/huge.nn
expect "a 5 GB source is refused before reading" 1 "huge.nn: too large (over 64 MiB), not a model?" \
    sh -c "ulimit -v 1000000; exec $NNC $T/huge.nn"
rm -f $T/huge.nn
expect "64 MiB + 1 byte on stdin is too large" 1 "<stdin>: too large (over 64 MiB), not a model?" \
    sh -c "ulimit -v 1000000; yes '# a comment' | head -c 67108865 | $NNC -"
expect "a model padded to just under 64 MiB on stdin compiles" 0 "model xor" \
    sh -c "{ cat examples/xor.nn; yes '# a comment' | head -c 67000000; } | $NNC --emit=ir -"
expect "a directory as input" 1 "examples: is a directory, not a model file" $NNC examples
expect "an empty input name" 2 "the input file name is empty" $NNC ""
expect "--name that is not an identifier" 2 "--name must be a C identifier" \
    $NNC --name 'a-b c' examples/xor.nn -o $T/n.c
expect "--name starting with a digit" 2 "--name must be a C identifier" $NNC --name 9lives examples/xor.nn -o $T/n.c
expect "--name over 64 characters" 2 "--name is longer than 64 characters" \
    $NNC --name "$(printf '%065d' 0 | tr 0 a)" examples/xor.nn -o $T/n.c
expect "-o into a missing directory" 1 "cannot write $T/nodir/x.c: directory $T/nodir does not exist" \
    $NNC examples/xor.nn -o $T/nodir/x.c
expect "-o at a directory" 1 "cannot write $T: it is a directory" $NNC --emit=ir examples/xor.nn -o $T
mkdir -p $T/hd.h && rm -f $T/hd.c
expect "a directory where the header goes" 1 "cannot write $T/hd.h: it is a directory" $NNC examples/xor.nn -o $T/hd.c
if [ -e $T/hd.c ]; then fail "-o: model.c written though the header cannot be"
else pass "-o: nothing written when the header cannot be"; fi
cp examples/xor.nn $T/self.nn
expect "-o onto the input" 1 "cannot write $T/self.nn: it is the input file" $NNC --emit=ir $T/self.nn -o $T/self.nn
cmp -s examples/xor.nn $T/self.nn && pass "-o onto the input leaves it untouched" || fail "-o onto the input changed it"
expect "-o given twice" 2 "-o given twice" $NNC examples/xor.nn -o $T/a.c -o $T/b.c
expect "-o with an empty name" 2 "-o needs a file name" $NNC examples/xor.nn -o ""
expect "-O9" 2 "unknown optimization level '-O9' (-O0 to -O3)" $NNC -O9 --emit=ir examples/xor.nn
expect "-D without '='" 2 "-D expects NAME=VALUE, got 'B'" $NNC -D B --emit=ir examples/digits_mlp.nn
expect "-D integer over 2^63" 2 "-D value out of range (an integer must fit in 64 bits)" \
    $NNC -D B=99999999999999999999 --emit=ir examples/digits_mlp.nn
expect "-D float over a double's range" 2 "-D value out of range of a double" \
    $NNC -D B=1e999 --emit=ir examples/digits_mlp.nn
expect "-D nan is not a number" 2 "-D value must be a number: 'B=nan'" $NNC -D B=nan --emit=ir examples/digits_mlp.nn
expect "-D hex is not a number" 2 "-D value must be a number: 'B=0x10'" $NNC -D B=0x10 --emit=ir examples/digits_mlp.nn
expect "-D with an empty value" 2 "-D value must be a number: 'B='" $NNC -D B= --emit=ir examples/digits_mlp.nn
expect "-D name not a name" 2 "-D NAME must be a name" $NNC -D 3x=4 --emit=ir examples/digits_mlp.nn
expect "-D of one name twice" 2 "-D B given twice" $NNC -D B=8 -D B=16 --emit=ir examples/digits_mlp.nn
expect "-D with a sign" 0 "f32\[16, 64\]" $NNC -D B=+16 --emit=ir examples/digits_mlp.nn
sed 's/lr = 0.5/lr = LR/; 1a const LR = 0.5' examples/xor.nn >$T/lr.nn
expect "-D of a float with an exponent" 0 "update sgd lr=0.0025 " $NNC -D LR=2.5e-3 --emit=ir-train $T/lr.nn
expect "--print-after=simplify" 0 "; IR after simplify" $NNC --print-after=simplify examples/xor.nn -o $T/pa.c
expect "--print-after=cse-backward" 0 "; IR after cse-backward" \
    $NNC --print-after=cse-backward examples/xor.nn -o $T/pa.c
expect "unknown --print-after pass is a usage error naming the passes" 2 \
    "unknown pass 'folding' for --print-after (elab, fold, cse, autodiff, fold-backward, cse-backward, simplify, fuse)"\
    $NNC --print-after=folding examples/xor.nn -o $T/pa.c
passes=$($NNC --print-passes | sed -n 's/^  \([a-z-]*\)  *-O\([0-3]\) .*/\1:\2/p' | tr '\n' ' ')
if [ "$passes" = "elab:0 fold:1 cse:1 autodiff:0 fold-backward:1 cse-backward:1 simplify:1 fuse:1 " ]; then
    pass "--print-passes lists the passes in order with their -O levels"
else fail "--print-passes: '$passes'"; fi
NO_COLOR=1 script -qec "$NNC tests/diag/name_unknown.nn -o $T/x.c" /dev/null >$T/nocolor.log 2>&1
if grep -q "$(printf '\033')" $T/nocolor.log; then fail "NO_COLOR on a terminal still prints colour"; else pass "NO_COLOR disables colour"; fi
script -qec "$NNC tests/diag/name_unknown.nn -o $T/x.c" /dev/null >$T/color.log 2>&1
if grep -q "$(printf '\033')" $T/color.log; then pass "colour on a terminal"; else fail "no colour on a terminal"; fi
$NNC tests/diag/name_unknown.nn -o $T/x.c 2>$T/pipe.log
if grep -q "$(printf '\033')" $T/pipe.log; then fail "colour into a pipe"; else pass "no colour into a pipe"; fi

# ---- sizes: checked element counts, the memory limit, the generated checks ----
expect "--help documents --max-memory" 0 "--max-memory=N .*refuse a model" $NNC --help
expect "--max-memory below digits_mlp's need" 1 \
    "model 'digits_mlp' needs 476864 bytes (465.7 KiB), more than the memory limit of 1024 bytes" \
    $NNC --max-memory=1K examples/digits_mlp.nn -o $T/mm.c
expect "--max-memory names the largest tensor" 1 "digits_mlp.nn:6:9: note: the largest tensor is 'h.2.weight'" \
    $NNC --max-memory=1k examples/digits_mlp.nn -o $T/mm.c
if [ -e $T/mm.c ] || [ -e $T/mm.h ]; then fail "--max-memory: output written for a model over the limit"
else pass "--max-memory: nothing written for a model over the limit"; fi
expect "--max-memory at exactly the need compiles" 0 "" $NNC --max-memory=476864 examples/digits_mlp.nn -o $T/mm.c
expect "--max-memory one byte under the need" 1 "needs 476864 bytes" \
    $NNC --max-memory 476863 examples/digits_mlp.nn -o $T/mm.c
expect "--max-memory counts f64 elements as 8 bytes (the i32 labels 4)" 1 "needs 953600 bytes" \
    $NNC --dtype=f64 --max-memory=476864 examples/digits_mlp.nn -o $T/mm.c
expect "--max-memory with a G suffix" 0 "" $NNC --max-memory=1G examples/digits_mlp.nn -o $T/mm.c
expect "--max-memory applies to --emit=ir (a lower bound)" 1 "needs at least" \
    $NNC --max-memory=1K --emit=ir examples/digits_mlp.nn
for bad in 12X 0 -5 1.5G 4194305T 99999999999999999999 ""; do
    expect "--max-memory='$bad' is a usage error" 2 "--max-memory expects a byte count from 1 to 2^62" \
        $NNC --max-memory="$bad" examples/digits_mlp.nn -o $T/mm.c
done
expect "--max-memory=4194304T (2^62) is the largest" 0 "" $NNC --max-memory=4194304T examples/xor.nn -o $T/mm.c
printf 'model emb {\n    input ids : i32[4]\n    output y = embedding(ids, 1099511627776, 16777216)\n}\n' >$T/wrap.nn
expect "an embedding table of 2^64 elements is an error, not PARAM_ELEMS 0" 1 \
    "wrap.nn:3:16: error: 'y.weight' f32\[1099511627776, 16777216\] is too large" $NNC --main $T/wrap.nn -o $T/wrap.c
cat >$T/huge.nn <<'NN'
model huge {
    input x : f32[1, 13]
    target t : f32[1, 1000000000000]
    output y = dense(x, 1000000000000)
    loss mse(y, t)
    train sgd(lr = 0.1)
}
NN
expect "a 56 TB dense layer in training is over the default limit" 1 \
    "model 'huge' needs 132000000000116 bytes (120.1 TiB), more than the memory limit of 70368744177664 bytes" \
    $NNC --main $T/huge.nn -o $T/huge.c
# the header refuses a target whose size_t or long cannot hold the model's sizes
printf 'model big {\n    input x : f32[1, 1024]\n    output y = dense(x, 2000000)\n}\n' >$T/big.nn
$NNC $T/big.nn -o $T/big.c && $NNC examples/xor.nn -o $T/xor32.c || fail "big, xor32 compile"
for m in big xor32; do
    { echo '#include <stddef.h>'; grep -E '^#define [A-Z0-9_]*_ARENA_BYTES |_sizes_fit\[' $T/$m.h; } >$T/${m}_fit.c
done
gcc -std=c99 -Wall -Wextra -Werror -ffreestanding -fsyntax-only $T/big_fit.c &&
    pass "an 8 GB model's size check passes on 64 bits" || fail "an 8 GB model's size check on 64 bits"
if echo 'int x;' | gcc -m32 -ffreestanding -fsyntax-only -x c - 2>/dev/null; then
    gcc -std=c99 -m32 -ffreestanding -fsyntax-only $T/big_fit.c 2>$T/fit.log &&
        fail "an 8 GB model compiles for 32 bits" ||
        { grep -q "big_sizes_fit" $T/fit.log && pass "an 8 GB model's header refuses a 32-bit target" ||
            fail "32-bit refusal without the size check's name"; }
    gcc -std=c99 -m32 -Wall -Wextra -Werror -ffreestanding -fsyntax-only $T/xor32_fit.c &&
        pass "xor's size check passes on 32 bits" || fail "xor's size check on 32 bits"
else echo "SKIP e2e: the 32-bit size check (gcc -m32 unavailable)"; fi
cat >$T/init_bytes.c <<'C'
#include <stdio.h>
#include <stdlib.h>
#include "xor32.h"
int main(void) { /* _init refuses a block one byte short, takes one of XOR_ARENA_BYTES */
    void *mem = malloc(XOR_ARENA_BYTES);
    xor *m = NULL;
    int short_ok = xor_init(&m, mem, XOR_ARENA_BYTES - 1, 1) == NNRT_ERR_ARG && !m;
    int full_ok = xor_init(&m, mem, XOR_ARENA_BYTES, 1) == NNRT_OK && m;
    printf("short %d ok %d\n", short_ok, full_ok);
    free(mem);
    return 0;
}
C
gcc $CFLAGS99 -I$T $T/init_bytes.c $T/xor32.c $NNRT -lm -o $T/init_bytes &&
    expect "_init checks the caller's byte count" 0 "short 1 ok 1" $T/init_bytes || fail "init_bytes builds"

# ---- generated code: gcc and clang, f32 and f64, with and without main -------
# (f64 only here: the f32 code of every example is the model part of
# its --main file, which the examples section compiles with both compilers)
for nn in examples/*.nn; do
    m=$(basename "$nn" .nn)
    for dt in f64; do
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
nm $T/tiny.o $T/*-f64-gcc.o | grep -E ' [BDC] ' >$T/globals.log
if [ -s $T/globals.log ]; then fail "generated code has mutable globals"; cat $T/globals.log
else pass "no mutable globals in generated code (every example, f64; xor, f32)"; fi
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
gcc $CFLAGS99 -I$T $T/coffee_main.c $T/coffee.c $NNRT -lm -o $T/coffee && expect "coffee gives sigmoid(0.5) and sigmoid(-3)" 0 "^0.6225 0.0474$" $T/coffee

# ---- the API example program: caller memory, train, save, load --------------
$NNC examples/xor.nn -o $T/xor.c && gcc $CFLAGS99 -I$T examples/xor_api.c $T/xor.c $NNRT -lm -o $T/xor_api &&
    (cd $T && expect "examples/xor_api.c trains, saves and reloads" 0 "same predictions" ./xor_api) || fail "xor_api builds"

# ---- NaN and infinity in the API (tests/e2e/finite.c); the math helpers (mathfns.sh) ----
if gcc $CFLAGS99 -I$T tests/e2e/finite.c $T/xor.c $NNRT -lm -o $T/finite 2>$T/finite.log; then
    $T/finite || status=1
else fail "tests/e2e/finite.c does not build"; sed 's/^/    /' $T/finite.log | head; fi
# ---- the random sources (tests/e2e/noise.c): moments, streams, calls, seeds ----
if $NNC tests/e2e/noise.nn -o $T/noise.c && gcc $CFLAGS99 -I$T tests/e2e/noise.c $T/noise.c $NNRT -lm \
    -o $T/noise 2>$T/noise.log; then
    $T/noise || status=1
else fail "tests/e2e/noise.c does not build"; sed 's/^/    /' $T/noise.log | head; fi
# ---- several objectives (tests/e2e/objectives.c): one build per objective, one parameter buffer ----
if $NNC tests/parity/gan.nn --objective d_loss -o $T/gan_d_loss.c && $NNC tests/parity/gan.nn --objective g_loss \
    -o $T/gan_g_loss.c && gcc $CFLAGS99 -I$T tests/e2e/objectives.c $T/gan_d_loss.c $T/gan_g_loss.c $NNRT -lm \
    -o $T/objectives 2>$T/objectives.log; then
    $T/objectives || status=1
else fail "tests/e2e/objectives.c does not build"; sed 's/^/    /' $T/objectives.log | head; fi
# ---- several objectives in one file (tests/e2e/objectives_one.c) against the builds above ----
if $NNC tests/parity/gan.nn --name one -o $T/one.c && gcc $CFLAGS99 -I$T tests/e2e/objectives_one.c $T/one.c \
    $T/gan_d_loss.c $T/gan_g_loss.c $NNRT -lm -o $T/objectives_one 2>$T/objectives_one.log &&
    clang $CFLAGS99 -I$T -c $T/one.c -o $T/one_clang.o 2>>$T/objectives_one.log &&
    $NNC tests/parity/gan.nn --dtype f64 -o $T/gan64.c && gcc $CFLAGS99 -I$T -c $T/gan64.c -o $T/gan64.o \
    2>>$T/objectives_one.log; then
    $T/objectives_one $T/one.safetensors || status=1
else fail "tests/e2e/objectives_one.c does not build"; sed 's/^/    /' $T/objectives_one.log | head; fi
printf 'model diverge {\n input x : f32[4, 2]\n target y : f32[4, 1]\n output p = dense(x, 1)\n loss mse(p, y)\n %s\n}\n' \
    "train sgd(lr = 100)" >$T/diverge.nn
$NNC $T/diverge.nn --main -o $T/diverge.c && gcc $CFLAGS99 $T/diverge.c $NNRT -lm -o $T/diverge || fail "diverge builds"
expect "a diverging loss stops the trainer at its epoch and step (train_step made no update)" 1 \
    "epoch 9, step 1: the loss became inf (the parameters are still finite); stopped" \
    $T/diverge train --data examples/data/xor/xor.csv --epochs 20
sh tests/e2e/mathfns.sh || status=1
if gcc $CFLAGS99 -I$T tests/e2e/sched_api.c $T/xor.c $NNRT -lm -o $T/sched_api 2>$T/sched_api.log; then
    $T/sched_api || status=1
else fail "tests/e2e/sched_api.c does not build"; sed 's/^/    /' $T/sched_api.log | head; fi

# ---- the trainer ---------------------------------------------------------------
$NNC examples/xor.nn --main -o $T/xor_main.c && gcc $CFLAGS99 $T/xor_main.c $NNRT -lm -o $T/xor_prog || fail "xor trainer builds"
expect "xor trains to 100% accuracy" 0 "epoch 300/300 .*train acc 100.00%" $T/xor_prog train --data examples/data/xor/xor.csv --epochs 300 --save $T/xor.safetensors
expect "xor eval" 0 "accuracy 100.00%" $T/xor_prog eval --data examples/data/xor/xor.csv --load $T/xor.safetensors
expect "xor predict" 0 "" $T/xor_prog predict --data examples/data/xor/xor.csv --load $T/xor.safetensors
# learning-rate schedules and gradient clipping from the command line
X="$T/xor_prog train --data examples/data/xor/xor.csv"
expect "--schedule says what it installed (total: the run's steps)" 0 \
    "^schedule cosine (warmup 10, total 300 steps, eta_min 0)$" $X --epochs 300 --schedule cosine,warmup=10
expect "--clip-norm keeps the model's schedule" 0 "^schedule constant, clip_norm 0.5$" $X --epochs 3 --clip-norm 0.5
$X --epochs 5 | sed 's/ *time.*//' >$T/sched_none.log
$X --epochs 5 --schedule constant | sed 's/ *time.*//' >$T/sched_const.log
$X --epochs 5 --schedule step,step_size=1,gamma=0.5 | sed 's/ *time.*//' >$T/sched_step.log
if cmp -s $T/sched_none.log $T/sched_const.log && ! cmp -s $T/sched_none.log $T/sched_step.log; then
    pass "--schedule constant is the default; step,step_size=1,gamma=0.5 changes the run"
else fail "--schedule: constant should equal no flag, step should differ"; fi
expect "--clip-norm 0 is a usage error" 2 "error: --clip-norm '0' is not a positive finite number" \
    $X --epochs 1 --clip-norm 0
expect "--clip-value nan is a usage error" 2 "error: --clip-value 'nan' is not a positive finite number" \
    $X --epochs 1 --clip-value nan
expect "--clip-norm with --clip-value is a usage error" 2 "clip by one of them, not both" \
    $X --epochs 1 --clip-norm 1 --clip-value 1
expect "--schedule: an unknown kind" 2 "error: --schedule: unknown schedule 'cosin'" $X --epochs 1 --schedule cosin
expect "--schedule: warmup longer than the run" 2 "warmup (400 steps) must be shorter than total (300)" \
    $X --epochs 300 --schedule cosine,warmup=400
expect "--schedule: an argument of another kind" 2 "the step schedule has no argument 'eta_min'" \
    $X --epochs 1 --schedule step,step_size=2,eta_min=1
expect "--schedule: milestones must increase" 2 "milestones must increase" \
    $X --epochs 1 --schedule multistep,milestones=9/3
expect "--schedule: a bad number" 2 "gamma must be a number, got 'x'" $X --epochs 1 --schedule exponential,gamma=x
expect "--schedule does not apply to eval" 2 "option --schedule does not apply to eval" \
    $T/xor_prog eval --data examples/data/xor/xor.csv --load $T/xor.safetensors --schedule constant
SCHED='schedule = multistep, milestones = [100, 200], gamma = 0.5, clip_value = 1'
sed "s/train sgd(lr = 0.5, momentum = 0.9)/train sgd(lr = 0.5, momentum = 0.9, $SCHED)/" \
    examples/xor.nn >$T/xor_sched.nn
$NNC $T/xor_sched.nn --main -o $T/xor_sched.c && gcc $CFLAGS99 $T/xor_sched.c $NNRT -lm -o $T/xor_sched ||
    fail "xor with a schedule builds"
expect "the train statement's schedule reaches the trainer" 0 \
    "^schedule multistep (2 milestones, the first 100, gamma 0.5), clip_value 1$" \
    $T/xor_sched train --data examples/data/xor/xor.csv --epochs 300
expect "--schedule replaces the train statement's (its clipping stays)" 0 \
    "^schedule exponential (gamma 0.99), clip_value 1$" \
    $T/xor_sched train --data examples/data/xor/xor.csv --epochs 3 --schedule exponential,gamma=0.99
if $NNC --target cuda --name xs $T/xor_sched.nn -o $T/xor_sched.cu 2>$T/xor_sched_cu.log &&
    grep -q "^int xs_set_schedule(" $T/xor_sched.h; then pass "the CUDA target takes a schedule (xs_set_schedule)"
else fail "the CUDA target refuses a schedule"; cat $T/xor_sched_cu.log; fi
$NNC examples/digits_mlp.nn --main -o $T/digits.c && gcc $CFLAGS99 $T/digits.c $NNRT -lm -o $T/digits || fail "digits trainer builds"
D=examples/data/digits
expect "digits trains" 0 "epoch  30/30" $T/digits train --data $D/digits_train.csv --scale 0.0625 --epochs 30 --val-split 0.1 --seed 1 --save $T/digits.safetensors
$T/digits eval --data $D/digits_test.csv --scale 0.0625 --load $T/digits.safetensors >$T/eval.log 2>&1
acc=$(sed -n 's/.*accuracy *\([0-9.]*\)%.*/\1/p' $T/eval.log)
if [ -n "$acc" ] && awk "BEGIN { exit !($acc >= 95) }"; then pass "digits test accuracy $acc% >= 95%"; else fail "digits test accuracy '$acc' < 95%"; cat $T/eval.log; fi
expect "resume continues from saved weights" 0 "epoch   1/1" $T/digits train --data $D/digits_train.csv --scale 0.0625 --epochs 1 --resume $T/digits.safetensors --save $T/digits2.safetensors
# fine-tuning: --init-from loads the tensors a file has (strict=False), --init-map renames them
sed -e 's/digits_mlp/digits_ft/; s/^    h = /    features = /' \
    -e 's/logits = dense(h, 10)/logits = dense(features, 10) -> relu -> dense(10)/' \
    examples/digits_mlp.nn >$T/digits_ft.nn
$NNC $T/digits_ft.nn --main -o $T/digits_ft.c && gcc $CFLAGS99 $T/digits_ft.c $NNRT -lm -o $T/digits_ft ||
    fail "fine-tuning trainer builds"
expect "--init-from lists the missing tensors" 0 "^--init-from .*digits.safetensors: missing, kept as initialized" \
    $T/digits_ft train --data $D/digits_train.csv --scale 0.0625 --epochs 1 --lr 1e-30 \
    --init-from $T/digits.safetensors --init-map h.=features. --save $T/ft.safetensors
grep -q "^    logits.0.weight$" $T/out.log && grep -q "^    logits.bias$" $T/out.log &&
    grep -q "^    logits.2.bias$" $T/out.log &&
    ! grep -q "^    features" $T/out.log && pass "--init-from names missing and unexpected tensors" ||
    { fail "--init-from names missing and unexpected tensors"; cat $T/out.log; }
python3 - $T/digits.safetensors $T/ft.safetensors <<'PY' && pass "--init-map loaded h.* into features.*" ||
import json, struct, sys
def load(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
    return {k: b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]]
            for k, v in h.items() if k != "__metadata__"}
a, f = load(sys.argv[1]), load(sys.argv[2])
sys.exit(0 if all(a["h." + k] == f["features." + k] for k in ("0.weight", "0.bias", "2.weight", "2.bias")) else 1)
PY
    fail "--init-map loaded h.* into features.*"
expect "--init-from and --resume conflict" 2 "start from one of them" $T/digits_ft train --data $D/digits_train.csv \
    --epochs 1 --init-from $T/digits.safetensors --resume $T/digits.safetensors
expect "--init-map needs --init-from" 2 "give --init-from" $T/digits_ft train --data $D/digits_train.csv --epochs 1 \
    --init-map a.=b.
expect "a bad --init-map" 1 "FILE_PREFIX=MODEL_PREFIX" $T/digits_ft train --data $D/digits_train.csv --epochs 1 \
    --init-from $T/digits.safetensors --init-map h.
expect "--init-from of a shape that does not fit" 1 "features.0.weight" $T/digits_ft train --data $D/digits_train.csv \
    --epochs 1 --init-from $T/digits.safetensors --init-map logits.=features.0.,h.=features.
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
expect "a save that cannot be written is refused before training" 1 "checked before training" \
    $T/digits train --data $D/digits_train.csv --scale 0.0625 --epochs 1 --save $T/no/such/dir/w.safetensors
cmp -s $T/digits.safetensors $T/keep.safetensors && pass "existing weights untouched" || fail "existing weights changed"
# ---- early stopping, held-out scoring, logs and plots (tests/e2e/trainer_watch.sh) ----
. tests/e2e/trainer_watch.sh
# ---- the trainer: MNIST IDX, no-target models, text, reconstruct --------------
# Small models on slices of examples/data (MNIST, tiny Shakespeare); < 30 s.
TT=$T/trainer
mkdir -p $TT
MN=examples/data/mnist
# build_trainer NAME: the model $TT/NAME.nn as the trainer $TT/NAME
build_trainer() { $NNC $TT/$1.nn --main -o $TT/$1.c 2>$TT/$1.log && gcc $CFLAGS99 $TT/$1.c $NNRT -lm -o $TT/$1 2>>$TT/$1.log || { fail "$1 trainer builds"; sed 's/^/    /' $TT/$1.log | head -8; return 1; }; }
# slices of the MNIST test split: 600 images to train on, 400 others to test
# (from the first half of the file, which is written by the same people)
python3 - $MN $TT <<'PY'
import struct, sys
src, out = sys.argv[1], sys.argv[2]
img = open(src + "/t10k-images-idx3-ubyte", "rb").read()
lab = open(src + "/t10k-labels-idx1-ubyte", "rb").read()
def cut(name, a, b):
    open(out + "/" + name + "-img.idx", "wb").write(struct.pack(">IIII", 0x803, b - a, 28, 28) + img[16 + a * 784:16 + b * 784])
    open(out + "/" + name + "-lab.idx", "wb").write(struct.pack(">II", 0x801, b - a) + lab[8 + a:8 + b])
cut("train", 0, 600)
cut("test", 4000, 4400)
PY
cat >$TT/mnist_mlp.nn <<'NN'
model mnist_mlp {
    input  image : f32[10, 784]
    target digit : i32[10]
    logits = image -> dense(64) -> relu -> dense(10)
    output probs = softmax(logits)
    loss cross_entropy(logits, digit)
    train adam(lr = 3e-3)
}
NN
if build_trainer mnist_mlp; then
    expect "MNIST IDX: one epoch with a validation split" 0 "epoch   1/1  loss .* train acc .* val acc" \
        $TT/mnist_mlp train --data $TT/train-img.idx --labels $TT/train-lab.idx --epochs 1 --val-split 0.2 --save $TT/mnist.safetensors
    $TT/mnist_mlp eval --data $TT/test-img.idx --labels $TT/test-lab.idx --load $TT/mnist.safetensors >$TT/eval.log 2>&1
    acc=$(sed -n 's/^examples 400  loss [0-9.]*  accuracy *\([0-9.]*\)%$/\1/p' $TT/eval.log)
    if [ -n "$acc" ] && awk "BEGIN { exit !($acc >= 60) }"; then pass "MNIST eval on 400 unseen images: accuracy $acc% >= 60%"
    else fail "MNIST eval: '$acc'"; sed 's/^/    /' $TT/eval.log; fi
    expect "MNIST IDX images need their labels" 2 "give their labels with --labels" $TT/mnist_mlp train --data $TT/train-img.idx --epochs 1
    expect "--text with a model that is not a character model" 1 "needs a character model" \
        $TT/mnist_mlp train --text examples/data/tinyshakespeare/input.txt --epochs 1
fi

# an autoencoder: no target; IDX images without labels, then a PGM grid
cat >$TT/mnist_ae.nn <<'NN'
model mnist_ae {
    input  x : f32[20, 784]
    code = x -> dense(32) -> relu
    output recon = sigmoid(dense(code, 784))
    loss mse(recon, x)
    train adam(lr = 2e-3)
}
NN
if build_trainer mnist_ae; then
    expect "autoencoder --help says it has no target" 0 "no target" $TT/mnist_ae --help
    expect "autoencoder trains on IDX images without labels" 0 "^epoch   1/1  loss [0-9.]*  val loss [0-9.]*  time" \
        $TT/mnist_ae train --data $TT/train-img.idx --epochs 1 --val-split 0.2 --save $TT/ae.safetensors
    expect "autoencoder eval prints examples and loss" 0 "^examples 400  loss [0-9.]*$" \
        $TT/mnist_ae eval --data $TT/test-img.idx --load $TT/ae.safetensors
    expect "reconstruct writes a grid" 0 "wrote .*grid.pgm: 5 examples, 58x148 pixels" \
        $TT/mnist_ae reconstruct --data $TT/test-img.idx --load $TT/ae.safetensors --out $TT/grid.pgm --count 5
    # 5 rows of 28 + 4 gaps of 2 = 148 high, 28 + 2 + 28 = 58 wide, one byte a pixel
    hdr=$(head -c 14 $TT/grid.pgm | tr '\n' ' ')
    size=$(wc -c <$TT/grid.pgm)
    if [ "$hdr" = "P5 58 148 255 " ] && [ "$size" -eq $((14 + 58 * 148)) ] && ! ls -a $TT | grep -q "nnrt-tmp"; then
        pass "reconstruct: P5 header and $size bytes"
    else fail "reconstruct PGM: header '$hdr', $size bytes"; fi
    # --out *.png: a PNG through libpng (build/nnrt_png.o, -lpng); refused with the
    # way to link it by a trainer built without; the same pixels as the PGM
    expect "reconstruct .png without nnrt_png.o says how to link it" 1 "linked without PNG support; link .*nnrt_png.o" \
        $TT/mnist_ae reconstruct --data $TT/test-img.idx --load $TT/ae.safetensors --out $TT/grid.png --count 5
    PNGO=$(dirname "$NNRT")/nnrt_png.o
    if [ ! -f "$PNGO" ]; then fail "$PNGO is built (make all, where libpng-dev is installed)"
    elif gcc $CFLAGS99 $TT/mnist_ae.c "$PNGO" $NNRT -lpng -lm -o $TT/mnist_ae_png 2>$TT/png.log; then
        expect "reconstruct --out .png writes a PNG" 0 "wrote .*grid.png: 5 examples, 58x148 pixels" \
            $TT/mnist_ae_png reconstruct --data $TT/test-img.idx --load $TT/ae.safetensors --out $TT/grid.png --count 5
        python3 tests/e2e/pngread.py $TT/grid.png $TT/grid.pgm || fail "reconstruct PNG read back"
    else fail "a trainer links with nnrt_png.o and -lpng"; sed 's/^/    /' $TT/png.log | head -5; fi
    expect "reconstruct needs IDX images" 1 "not IDX images" \
        $TT/mnist_ae reconstruct --data examples/data/xor/xor.csv --load $TT/ae.safetensors --out $TT/x.pgm
    expect "reconstruct needs --out" 2 "reconstruct needs --out" \
        $TT/mnist_ae reconstruct --data $TT/test-img.idx --load $TT/ae.safetensors
fi
[ -x $TT/mnist_mlp ] && expect "reconstruct needs an output shaped like the input" 1 "shaped like the input" \
    $TT/mnist_mlp reconstruct --data $TT/test-img.idx --load $TT/mnist.safetensors --out $TT/x.pgm

# no target from CSV: the digits' 64 features without their label column
sed 's/,[0-9]*$//' examples/data/digits/digits_train.csv >$TT/features.csv
cat >$TT/digits_ae.nn <<'NN'
model digits_ae {
    input  x : f32[32, 64]
    output recon = x -> dense(16) -> relu -> dense(64)
    loss mse(recon, x)
    train adam(lr = 1e-2)
}
NN
if build_trainer digits_ae; then
    expect "no-target model trains on CSV features" 0 "^epoch   2/2  loss [0-9.]*  time" \
        $TT/digits_ae train --data $TT/features.csv --scale 0.0625 --epochs 2 --save $TT/dae.safetensors
    expect "no-target model eval on CSV" 0 "^examples 1437  loss [0-9.]*$" \
        $TT/digits_ae eval --data $TT/features.csv --scale 0.0625 --load $TT/dae.safetensors
    expect "a target column is one column too many" 1 "has no target" \
        $TT/digits_ae eval --data examples/data/digits/digits_train.csv --load $TT/dae.safetensors
fi

# a character model on a slice of tiny Shakespeare
head -c 30000 examples/data/tinyshakespeare/input.txt >$TT/shake.txt
cat >$TT/chars.nn <<'NN'
model chars {
    input  ids  : i32[8, 16]
    target next : i32[8, 16]
    logits = embedding(ids, 65, 16) -> dense(32) -> relu -> dense(65)
    output probs = softmax(logits)
    loss cross_entropy(logits, next)
    train adam(lr = 1e-2)
}
NN
# without the embedding op: per-position logits that ignore the ids, which
# still exercise text loading, training and sampling
cat >$TT/chars_plain.nn <<'NN'
model chars {
    input  ids  : i32[8, 16]
    target next : i32[8, 16]
    param  w    : f32[8, 16, 65] = zeros
    logits = w * 1
    output probs = softmax(logits)
    loss cross_entropy(logits, next)
    train adam(lr = 1e-2)
}
NN
if ! $NNC $TT/chars.nn --emit=ir >/dev/null 2>&1; then
    echo "note: embedding() is not available; the character model ignores its input"
    cp $TT/chars_plain.nn $TT/chars.nn
fi
if build_trainer chars; then
    expect "--help describes sample" 0 "sample       generate text" $TT/chars --help
    expect "char model trains on text" 0 "^epoch   2/2  loss [0-9.]*  val loss [0-9.]*  time" \
        $TT/chars train --text $TT/shake.txt --epochs 2 --steps-per-epoch 40 --save $TT/chars.safetensors
    $TT/chars sample --text $TT/shake.txt --load $TT/chars.safetensors --prompt "First Citizen:" --len 120 --temperature 0.8 --seed 3 >$TT/sample.txt 2>$TT/sample.err
    rc=$?
    n=$(wc -c <$TT/sample.txt)
    # the prompt, 120 characters, a newline
    if [ $rc -eq 0 ] && [ "$(head -c 14 $TT/sample.txt)" = "First Citizen:" ] && [ "$n" -eq $((14 + 120 + 1)) ]; then
        pass "sample prints the prompt and --len characters"
    else fail "sample: exit $rc, $n bytes"; sed 's/^/    /' $TT/sample.txt $TT/sample.err | head -5; fi
    $TT/chars sample --text $TT/shake.txt --load $TT/chars.safetensors --prompt "First Citizen:" --len 120 --temperature 0.8 --seed 3 >$TT/sample2.txt 2>&1
    cmp -s $TT/sample.txt $TT/sample2.txt && pass "sample is reproducible with --seed" || fail "sample differs between runs with one seed"
    expect "prompt character not in the vocabulary" 1 "prompt character '~'" \
        $TT/chars sample --text $TT/shake.txt --load $TT/chars.safetensors --prompt "Hi~" --len 5
    expect "temperature 0 is a usage error" 2 "temperature '0'" \
        $TT/chars sample --text $TT/shake.txt --load $TT/chars.safetensors --prompt "Hi" --temperature 0
    awk 'BEGIN { for (i = 33; i < 123; i++) printf "%c", i; print "" }' >$TT/wide.txt
    expect "text with more symbols than the model's V" 1 "91 distinct characters, more than the vocabulary of model chars (V = 65)" \
        $TT/chars train --text $TT/wide.txt --epochs 1
fi

# ---- every example: compiles under gcc and clang, trains briefly, infers ----
X=$T/examples
mkdir -p $X
MN=examples/data/mnist
for nn in examples/*.nn; do
    m=$(basename "$nn" .nn)
    case $m in char_* | tiny_gpt) defs="-D B=8" ;; *) defs="" ;; esac
    # shellcheck disable=SC2086
    if $NNC $defs "$nn" --main -o $X/$m.c 2>$X/$m.nnc.log &&
        gcc -std=c99 -O2 -Wall -Wextra -Werror -Iruntime $X/$m.c $NNRT -lm -o $X/$m 2>$X/$m.cc.log &&
        clang -std=c99 -O2 -Wall -Wextra -Werror -Iruntime -c $X/$m.c -o $X/$m.o 2>>$X/$m.cc.log; then
        pass "example $m compiles (gcc, clang)"
    else
        fail "example $m does not compile"; cat $X/$m.nnc.log $X/$m.cc.log | head -20; continue
    fi
    case $m in
    lenet | resnet_tiny | bilstm | vit)
        expect "example $m trains a few steps" 0 "epoch   1/1" $X/$m train --data $MN/t10k-images-idx3-ubyte \
            --labels $MN/t10k-labels-idx1-ubyte --epochs 1 --steps-per-epoch 3 --val-split 0.05 \
            --save $X/$m.safetensors $([ $m = vit ] && echo "--augment shift=2 --schedule cosine,warmup=1")
        expect "example $m evaluates (its validation split)" 0 "accuracy" $X/$m eval \
            --data $MN/t10k-images-idx3-ubyte --labels $MN/t10k-labels-idx1-ubyte --val-split 0.05 \
            --load $X/$m.safetensors ;;
    finetune_base) # the digits 0-4 only (make examples: run_finetune)
        expect "example $m trains a few steps on --classes 0-4" 0 "epoch   1/1" $X/$m train \
            --data $MN/t10k-images-idx3-ubyte --labels $MN/t10k-labels-idx1-ubyte --classes 0-4 --epochs 1 \
            --steps-per-epoch 3 --val-split 0.05 --save $X/$m.safetensors
        expect "--classes: a range backwards" 2 "error: --classes '4-0' is not a list of labels and ranges" \
            $X/$m eval --data $MN/t10k-images-idx3-ubyte --labels $MN/t10k-labels-idx1-ubyte --classes 4-0 \
            --load $X/$m.safetensors
        expect "--classes: a label twice" 2 "error: --classes '1,3,1' lists class 1 twice" $X/$m eval \
            --data $MN/t10k-images-idx3-ubyte --labels $MN/t10k-labels-idx1-ubyte --classes 1,3,1 \
            --load $X/$m.safetensors
        expect "--classes: more than the model's classes" 2 "error: --classes '0-9' lists 10 classes, model $m has 5" \
            $X/$m eval --data $MN/t10k-images-idx3-ubyte --labels $MN/t10k-labels-idx1-ubyte --classes 0-9 \
            --load $X/$m.safetensors
        expect "--classes: none in the data" 1 "idx3-ubyte: none of its 10000 examples is of --classes 70-72" \
            $X/$m eval --data $MN/t10k-images-idx3-ubyte --labels $MN/t10k-labels-idx1-ubyte --classes 70-72 \
            --load $X/$m.safetensors
        expect "--classes: a model without class labels" 2 "error: --classes selects examples by their class label" \
            $X/autoencoder eval --data $MN/t10k-images-idx3-ubyte --classes 0-4 --load $X/autoencoder.safetensors ;;
    finetune_head) # the base's features frozen (finetune_base sorts first), a new head on 5-9
        expect "example $m starts from the base's features" 0 "unexpected, not loaded:" $X/$m train \
            --data $MN/t10k-images-idx3-ubyte --labels $MN/t10k-labels-idx1-ubyte --classes 5-9 --epochs 1 \
            --steps-per-epoch 3 --val-split 0.05 --init-from $X/finetune_base.safetensors --save $X/$m.safetensors
        [ "$(python3 scripts/safetensors.py changed $X/finetune_base.safetensors $X/$m.safetensors c1. c2. f.)" = \
            "0 of 6" ] && python3 scripts/safetensors.py changed $X/$m.safetensors $X/finetune_base.safetensors head. |
            grep -Eq '^([1-9][0-9]*) of \1$' &&
            pass "example $m: the 6 frozen tensors are bit-identical to the base's after AdamW steps" ||
            fail "example $m: frozen tensors changed"
        expect "example $m evaluates on --classes 5-9" 0 "^examples [0-9]*  loss" $X/$m eval \
            --data $MN/t10k-images-idx3-ubyte --labels $MN/t10k-labels-idx1-ubyte --classes 5-9 \
            --load $X/$m.safetensors
        expect "eval --classes --val-split says which examples" 0 \
            "^scored 243 of 4,861 examples of --classes 5-9: the validation split (--val-split 0.05: examples 4,619" \
            $X/$m eval --data $MN/t10k-images-idx3-ubyte --labels $MN/t10k-labels-idx1-ubyte --classes 5-9 \
            --val-split 0.05 --load $X/$m.safetensors
        expect "eval with other --classes than training warns" 0 \
            "trained on .* with --classes 5-9, this score has --classes 5-8: its split is not training's" \
            $X/$m eval --data $MN/t10k-images-idx3-ubyte --labels $MN/t10k-labels-idx1-ubyte --classes 5-8 \
            --val-split 0.05 --load $X/$m.safetensors ;;
    fashion_cnn) # as make examples runs it (augmented, --test, --log, --plot), on MNIST's 28x28 images
        expect "example $m trains a few steps" 0 "^test .*accuracy" $X/$m train --data $MN/t10k-images-idx3-ubyte \
            --labels $MN/t10k-labels-idx1-ubyte --epochs 1 --steps-per-epoch 3 --augment shift=2,flip \
            --test $MN/t10k-images-idx3-ubyte --test-labels $MN/t10k-labels-idx1-ubyte --log $X/$m.csv \
            --plot $X/$m.svg --save $X/$m.safetensors ;;
    autoencoder | conv_autoencoder | vae)
        expect "example $m trains a few steps" 0 "epoch   1/1" $X/$m train --data $MN/t10k-images-idx3-ubyte \
            --epochs 1 --steps-per-epoch 3 --save $X/$m.safetensors
        expect "example $m writes a reconstruction grid" 0 "wrote" $X/$m reconstruct \
            --data $MN/t10k-images-idx3-ubyte --load $X/$m.safetensors --out $X/$m.pgm --count 4 ;;
    vae_decoder) # the VAE's decoder with the VAE's weights (vae sorts first): samples from N(0, I)
        expect "example $m decodes N(0, 1) codes into a grid" 0 "^wrote $X/$m.pgm: 12 images decoded" $X/$m generate \
            --load $X/vae.safetensors --out $X/$m.pgm --count 12
        python3 - $X/$m.pgm <<'PY' && pass "the generate grid: 8 images to a row, 2 rows of 28 + 2 + 28 pixels" ||
import sys
data = open(sys.argv[1], "rb").read()
head = b"P5\n238 58\n255\n"
assert data.startswith(head) and len(data) == len(head) + 238 * 58, data[:20]
PY
            fail "the generate grid's size"
        expect "generate needs an image output" 1 "generate draws its first output as images" $X/lenet generate \
            --load $X/lenet.safetensors --out $X/no.pgm
        expect "generate needs --out" 2 "generate needs --out FILE.pgm or FILE.png" $X/$m generate \
            --load $X/vae.safetensors ;;
    dcgan) # two objectives in one file: the trainer alternates them and logs each
        expect "example $m alternates d_loss and g_loss steps" 0 "d_loss .* g_loss " $X/$m train \
            --data $MN/t10k-images-idx3-ubyte --epochs 1 --steps-per-epoch 3 --save $X/$m.safetensors
        expect "example $m writes a grid of real and generated images" 0 "wrote" $X/$m reconstruct \
            --data $MN/t10k-images-idx3-ubyte --load $X/$m.safetensors --out $X/$m.pgm --count 4
        $X/$m train --data $MN/t10k-images-idx3-ubyte --epochs 2 --steps-per-epoch 2 --seed 3 \
            --save $X/$m.straight.safetensors >/dev/null 2>&1
        $X/$m train --data $MN/t10k-images-idx3-ubyte --epochs 1 --steps-per-epoch 2 --seed 3 \
            --checkpoint $X/$m.ck.safetensors >/dev/null 2>&1
        expect "example $m resumes from a checkpoint of both objectives" 0 "g_loss" $X/$m train \
            --data $MN/t10k-images-idx3-ubyte --epochs 1 --steps-per-epoch 2 --seed 3 --resume $X/$m.ck.safetensors \
            --save $X/$m.resumed.safetensors
        if cmp -s $X/$m.straight.safetensors $X/$m.resumed.safetensors; then
            pass "example $m: 1 epoch + resume = 2 epochs, bit for bit (every objective's optimizer state)"
        else fail "example $m: the resumed run differs from the straight one"; fi ;;
    char_* | tiny_gpt)
        expect "example $m trains a few steps" 0 "val loss" $X/$m train --text examples/data/tinyshakespeare/input.txt \
            --epochs 1 --steps-per-epoch 3 --save $X/$m.safetensors
        expect "example $m samples text" 0 "^ROMEO:" $X/$m sample --text examples/data/tinyshakespeare/input.txt \
            --load $X/$m.safetensors --prompt "ROMEO:" --len 40 --temperature 0.8 ;;
    seq2seq)
        sh examples/seq2seq_data.sh 300 2 >$X/$m.csv
        expect "example $m trains a few steps" 0 "val acc" $X/$m train --data $X/$m.csv --epochs 1 --steps-per-epoch 3 \
            --val-split 0.2 --save $X/$m.safetensors
        expect "example $m evaluates" 0 "accuracy" $X/$m eval --data $X/$m.csv --load $X/$m.safetensors ;;
    esac
done

# ---- examples/dcgan_check.c: LeNet scores generated digits (smoke weights) ----
if $NNC examples/dcgan.nn -o $X/dcgan_api.c && $NNC examples/lenet.nn -o $X/lenet_api.c &&
    gcc $CFLAGS99 -I$X examples/dcgan_check.c $X/dcgan_api.c $X/lenet_api.c $NNRT -lm -o $X/dcgan_check \
    2>$X/dcgan_check.log; then
    expect "examples/dcgan_check.c scores 100 generated digits" 0 "^mean max-probability [01]\.[0-9]*  smallest class" \
        $X/dcgan_check $X/dcgan.safetensors $X/lenet.safetensors $X/dcgan_samples.pgm 100
    expect "examples/dcgan_check.c: missing weights" 1 "nonexistent" $X/dcgan_check /nonexistent.safetensors \
        $X/lenet.safetensors $X/dcgan_samples.pgm
else fail "examples/dcgan_check.c does not build"; head $X/dcgan_check.log; fi

# ---- fusion changes no numbers: every example fused and --no-fuse -----------
# (and both files have the OpenMP shape of tests/e2e/omp_team.py)
F=$T/fuse
mkdir -p $F
: >$F/omp_team.out
for nn in examples/*.nn bench/mlp.nn; do
    m=$(basename "$nn" .nn)
    case $m in
    char_* | tiny_gpt) defs="-D B=4" K=65 ;;
    vit) defs="-D B=4" K=10 ;;
    dcgan) defs="-D B=4 --objective g_loss" K=2 ;; # one objective's part (the one-file API has no _v entries)
    lenet | resnet_tiny | fashion_cnn | bilstm | digits_mlp | mlp) defs="" K=10 ;;
    *) defs="" K=2 ;;
    esac
    tr=""
    # shellcheck disable=SC2086
    if $NNC $defs "$nn" --name fz -o $F/fz.c 2>$F/$m.log && $NNC $defs "$nn" --name uf --no-fuse -o $F/uf.c 2>>$F/$m.log; then
        grep -q 'fz_forward_backward_v' $F/fz.h && tr=-DFZ_TRAINABLE
        python3 tests/e2e/omp_team.py $F/fz.c $F/uf.c >$F/omp_team.one || cat $F/omp_team.one >>$F/omp_team.out
        if gcc $CFLAGS99 $tr -I$F -include $F/fz.h -include $F/uf.h tests/e2e/fusecheck.c $F/fz.c $F/uf.c $NNRT -lm \
            -o $F/$m 2>>$F/$m.log && $F/$m $K >$F/$m.out 2>&1; then
            pass "example $m: fused and unfused code agree ($(cat $F/$m.out))"
        else
            fail "example $m: fused and unfused code differ"; cat $F/$m.log $F/$m.out 2>/dev/null | head -20
        fi
    else
        fail "example $m: nnc failed"; head -20 $F/$m.log
    fi
done
if [ -s $F/omp_team.out ]; then
    fail "kernels with omp for loops run other statements on every thread, or outside a parallel region"
    head -20 $F/omp_team.out
else pass "every example's kernels with omp for loops only declare constants outside them, each called as a parallel region"; fi

# ---- optional OpenMP: -fopenmp builds (gcc, clang) give the same numbers -----
# The generated kernels put `omp for` (under #ifdef _OPENMP) on loops with
# independent iterations only: the code built with -fopenmp on 2 threads
# (fz) must match the same code built without it (uf) bitwise.
# FILE:K:B; lenet at B=16 has convolutions big enough for their parallel
# regions (codegen/c/k_conv.c), tiny_gpt's bmm shares out its batches,
# omp_shapes has elementwise kernels and an Adam update over sizes that are
# not multiples of 16 (shared out in chunks of 16, then the rest).
for mkb in examples/tiny_gpt.nn:65:4 examples/resnet_tiny.nn:10:4 examples/lenet.nn:10:16 \
    tests/e2e/omp_shapes.nn:2:9; do
    mk=${mkb%:*} B=${mkb##*:}
    nn=${mk%:*} K=${mk#*:} m=$(basename ${mkb%%:*} .nn)
    $NNC -D B=$B $nn --name fz -o $F/omp_fz.c && $NNC -D B=$B $nn --name uf -o $F/omp_uf.c &&
        clang $CFLAGS99 -fopenmp -c $F/omp_fz.c -o $F/omp_fz.o 2>$F/omp.log &&
        gcc $CFLAGS99 -c $F/omp_uf.c -o $F/omp_uf.o 2>>$F/omp.log &&
        gcc $CFLAGS99 -fopenmp -DFZ_TRAINABLE -I$F -include $F/omp_fz.h -include $F/omp_uf.h tests/e2e/fusecheck.c \
            $F/omp_fz.c $F/omp_uf.o $NNRT -lm -o $F/omp_$m 2>>$F/omp.log &&
        OMP_NUM_THREADS=2 $F/omp_$m $K >$F/omp.out 2>&1 && grep -q "difference 0," $F/omp.out &&
        pass "$m with -fopenmp (gcc, clang): 2 threads give the same bits ($(cat $F/omp.out))" ||
        { fail "$m with -fopenmp"; cat $F/omp.log $F/omp.out 2>/dev/null | head -10; }
done

# ---- the conv kernels' ISA branches compute the same numbers (tests/e2e/isa.sh) ----
. tests/e2e/isa.sh

# ---- exact checkpoints and --augment in the trainer (tests/e2e/ckpt.sh) ----
. tests/e2e/ckpt.sh
# ---- a model with several inputs in the trainer (tests/e2e/inputs.sh) ----
. tests/e2e/inputs.sh

# ---- inference-only builds: --infer-only, --weights, _load_mem (tests/e2e/infer.sh) ----
. tests/e2e/infer.sh

# ---- nnc train / nnc run: build, cache and run the trainer (tests/e2e/launch.sh) ----
. tests/e2e/launch.sh

# ---- freestanding builds: --freestanding, libnnrt_core.a, stack high-water (tests/e2e/freestanding.sh) ----
. tests/e2e/freestanding.sh

# ---- int8: --quantize int8, --calibrate, the trainer's calibrate (tests/e2e/quant.sh) ----
. tests/e2e/quant.sh

# ---- recurrent layers: the generated code does not grow with the sequence ----
$NNC -D T=16 examples/char_lstm.nn -o $T/lstm16.c && $NNC -D T=1024 examples/char_lstm.nn -o $T/lstm1024.c
s16=$(wc -c <$T/lstm16.c)
s1024=$(wc -c <$T/lstm1024.c)
if [ $((s1024 - s16)) -lt 1024 ]; then pass "char_lstm code size (longer numerals only): $s16 bytes at T=16, $s1024 at T=1024"
else fail "char_lstm code grows with T: $s16 bytes at T=16, $s1024 at T=1024"; fi

# ---- a long model: 20,000 chained statements compile (bench/elab_scale.sh times 100,000) ----
awk 'BEGIN { print "model chain {"; print "    input x0 : f32[4, 8]"
    for (i = 1; i <= 20000; i++) printf "    x%d = relu(x%d)\n", i, i - 1
    print "    output y = x20000"; print "}" }' >$T/chain.nn
expect "20,000 chained statements: --emit=ir" 0 "%20000 : f32\[4, 8\] = relu(%19999)  # x20000," \
    timeout 600 $NNC --emit=ir $T/chain.nn
expect "20,000 chained statements: C" 0 "" timeout 600 $NNC $T/chain.nn -o $T/chain.c
exit $status
