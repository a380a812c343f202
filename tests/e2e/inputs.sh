# tests/e2e/inputs.sh — the trainer of a model with several inputs (sourced by
# tests/e2e/run.sh: uses its NNC, NNRT, T, CFLAGS99, expect, pass, fail). A CSV
# line holds the inputs' values in declaration order, then the targets; the
# label of tests/e2e/inputs/two_inputs.nn is the sign of a[0] * b[1], which
# no model can learn unless each example's a and b reach it together.
I=$T/inputs
mkdir -p $I
awk 'BEGIN { srand(7); for (i = 0; i < 64; i++) { s = ""
        for (k = 0; k < 5; k++) { v[k] = rand() * 2 - 1; s = s sprintf("%.4f,", v[k]) }
        print s (v[0] * v[4] > 0 ? 1 : 0) } }' >$I/two.csv
cut -d, -f1-5 $I/two.csv >$I/features.csv
cut -d, -f1-4,6 $I/two.csv >$I/short.csv
if $NNC tests/e2e/inputs/two_inputs.nn --main -o $I/two.c 2>$I/build.log &&
    cc $CFLAGS99 $I/two.c $NNRT -lm -o $I/two 2>>$I/build.log; then
    pass "two inputs: nnc --main builds the trainer"
else fail "two inputs: nnc --main builds the trainer"; sed 's/^/    /' $I/build.log | head -8; fi
expect "two inputs: --help counts both" 0 "5 input values per example" $I/two --help
expect "two inputs: train from one CSV" 0 "saved" \
    $I/two train --data $I/two.csv --epochs 300 --seed 1 --save $I/two.st
expect "two inputs: eval scores it" 0 "accuracy 100.00%" $I/two eval --data $I/two.csv --load $I/two.st
# predict on feature-only lines: the rounded outputs are the labels
$I/two predict --data $I/features.csv --load $I/two.st >$I/pred.txt 2>$I/pred.log
right=$(cut -d, -f6 $I/two.csv | paste -d' ' $I/pred.txt - | awk '($1 > 0.5) == ($2 == 1) { n++ } END { print n + 0 }')
[ "$right" = 64 ] && pass "two inputs: predict on feature-only lines" ||
    fail "two inputs: predict on feature-only lines: $right of 64 right"
expect "two inputs: a short line names the inputs" 1 \
    "expected 6 columns, got 5 (model two_in takes 5 features and 1 target per line; inputs a: 3, b: 2 values" \
    $I/two train --data $I/short.csv --epochs 1
expect "two inputs: reconstruct is refused" 1 "reconstruct needs a model with one input; it has 2" \
    $I/two reconstruct --data $I/two.csv --load $I/two.st --out $I/grid.pgm
# inputs the trainer cannot put in one row: other element types, other batch sizes
printf 'model mixed {\n    input a : f32[4, 3]\n    input t : i32[4, 2]\n    output p = a\n}\n' >$I/mixed.nn
expect "--main refuses inputs of two types" 1 "--main needs a model with inputs of one element type; 'mixed'" \
    $NNC $I/mixed.nn --main -o $I/mixed.c
printf 'model batches {\n    input a : f32[4, 3]\n    input b : f32[2, 3]\n    output p = a\n}\n' >$I/batches.nn
expect "--main refuses inputs of two batch sizes" 1 "--main needs a model with inputs of one batch size" \
    $NNC $I/batches.nn --main -o $I/batches.c
