# tests/e2e/inputs.sh — the trainer of a model with several inputs (sourced by
# tests/e2e/run.sh: uses its NNC, NNRT, T, CFLAGS99, expect, pass, fail and
# the digits trainer $T/digits). A CSV line holds the inputs' values in
# declaration order, then the targets, or --data-for NAME=FILE gives an
# input its own file; the label of tests/e2e/inputs/two_inputs.nn is the
# sign of a[0] * b[1], which no model can learn unless each example's a and
# b reach it together; tests/e2e/inputs/mixed_inputs.nn takes i32 ids and
# f32 features.
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
# --data-for NAME=FILE: input a from its own file, --data the rest (b, then y)
cut -d, -f1-3 $I/two.csv >$I/a.csv
cut -d, -f4-6 $I/two.csv >$I/b_y.csv
expect "two inputs: --data-for a, --data b and the target" 0 "saved" \
    $I/two train --data-for a=$I/a.csv --data $I/b_y.csv --epochs 300 --seed 1 --save $I/two_for.st
case "$(python3 scripts/safetensors.py changed $I/two.st $I/two_for.st)" in
"0 of "[1-9]*) pass "two inputs: --data-for trains the same bits as one CSV" ;;
*) fail "two inputs: --data-for trains other weights than one CSV" ;;
esac
head -n 10 $I/a.csv >$I/a10.csv
expect "--data-for: a file of another length" 1 \
    "a10.csv (--data-for a) has 10 examples, --data $I/b_y.csv has 64: every file holds one line per example" \
    $I/two train --data-for a=$I/a10.csv --data $I/b_y.csv --epochs 1
expect "--data-for: an unknown input" 2 "model two_in has no input 'c'; its inputs are a and b" \
    $I/two train --data-for c=$I/a.csv --data $I/b_y.csv --epochs 1
expect "--data-for: an input twice" 2 "--data-for names input 'a' twice" \
    $I/two train --data-for a=$I/a.csv --data-for a=$I/a.csv --data $I/b_y.csv --epochs 1
expect "--data-for: every input" 2 "--data-for names every input of model two_in; leave at least one to --data" \
    $I/two train --data-for a=$I/a.csv --data-for b=$I/a.csv --data $I/b_y.csv --epochs 1
expect "--data-for: not NAME=FILE" 2 "--data-for 'a' is not NAME=FILE" $I/two train --data-for a --data $I/b_y.csv \
    --epochs 1
expect "--data-for: the file's columns" 1 "two.csv:1:.*expected 3 columns, got 6 (--data-for a: 3 values per line)" \
    $I/two train --data-for a=$I/two.csv --data $I/b_y.csv --epochs 1
expect "--data-for on a model with one input" 2 "--data-for: model digits_mlp has one input; --data holds its values" \
    $T/digits train --data-for image=$I/a.csv --data examples/data/digits/digits_train.csv --epochs 1
# inputs of two types: i32 token ids t beside f32 features a (tests/e2e/inputs/mixed_inputs.nn)
awk 'BEGIN { srand(11); for (i = 0; i < 64; i++) { t0 = int(rand() * 4); t1 = int(rand() * 4); s = t0 "," t1
        for (k = 0; k < 3; k++) { v[k] = rand() * 2 - 1; s = s sprintf(",%.4f", v[k]) }
        print s "," ((v[0] > 0) != (t0 >= 2) ? 1 : 0) } }' >$I/mixed.csv
cut -d, -f1-2 $I/mixed.csv >$I/ids.csv
cut -d, -f3-6 $I/mixed.csv >$I/feat_y.csv
sed '2s/^1,/1.5,/; 2s/^[023],/1.5,/' $I/ids.csv >$I/ids_bad.csv
for dt in f32 f64; do
    if $NNC --dtype=$dt tests/e2e/inputs/mixed_inputs.nn --main -o $I/mixed_$dt.c 2>$I/mbuild.log &&
        cc $CFLAGS99 $I/mixed_$dt.c $NNRT -lm -o $I/mixed_$dt 2>>$I/mbuild.log &&
        clang $CFLAGS99 -c $I/mixed_$dt.c -o $I/mixed_$dt.o 2>>$I/mbuild.log; then
        pass "i32 and f32 inputs ($dt): nnc --main builds the trainer (gcc, clang)"
    else fail "i32 and f32 inputs ($dt): the trainer does not build"; sed 's/^/    /' $I/mbuild.log | head -8; fi
    expect "i32 and f32 inputs ($dt): train on one CSV, held-out accuracy" 0 "val acc 100.00%" \
        $I/mixed_$dt train --data $I/mixed.csv --epochs 300 --seed 1 --val-split 0.25 --save $I/mixed_$dt.st
    expect "i32 and f32 inputs ($dt): eval with the ids from --data-for" 0 "^examples 64  loss" \
        $I/mixed_$dt eval --data-for t=$I/ids.csv --data $I/feat_y.csv --load $I/mixed_$dt.st
done
expect "i32 and f32 inputs: --help says which values are ids" 0 "input values per example" $I/mixed_f32 --help
expect "i32 input: a value that is not a whole number names the file and input" 1 \
    "ids_bad.csv: line 2, value 1: 1.5 is not a token id (input t of model mixed_in takes i32 ids" \
    $I/mixed_f32 train --data-for t=$I/ids_bad.csv --data $I/feat_y.csv --epochs 1
expect "several inputs: --data must be CSV" 2 "model mixed_in has several inputs: --data must be CSV" \
    $I/mixed_f32 train --data examples/data/mnist/t10k-images-idx3-ubyte --epochs 1
# other batch sizes cannot share one row
printf 'model batches {\n    input a : f32[4, 3]\n    input b : f32[2, 3]\n    output p = a\n}\n' >$I/batches.nn
expect "--main refuses inputs of two batch sizes" 1 "--main needs a model with inputs of one batch size" \
    $NNC $I/batches.nn --main -o $I/batches.c
