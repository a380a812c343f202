# tests/e2e/ckpt.sh — exact checkpoints and augmentation in the trainer (sourced
# by tests/e2e/run.sh: uses its NNC, NNRT, T, CFLAGS99, expect, pass, fail).
# 2 epochs + --resume + 1 epoch must give the bits of 3 epochs in one run
# (the saved weights and the final checkpoints, optimizer state included)
# for SGD with momentum, Adam and AdamW, with and without dropout and
# --augment; a weights-only resume must not (so the test can fail).
K=$T/ckpt
mkdir -p $K
KD="--data examples/data/digits/digits_train.csv --scale 0.0625 --val-split 0.1"
for m in sgd adam adamw plain; do
    $NNC tests/e2e/ckpt/ckpt_$m.nn --main -o $K/ckpt_$m.c && cc $CFLAGS99 $K/ckpt_$m.c $NNRT -lm -o $K/ckpt_$m ||
        fail "ckpt_$m: does not build"
done
# resume_case NAME MODEL AUGMENT...: full run vs 2 + resume + 1
resume_case() {
    name=$1 m=$2; shift 2
    P=$K/ckpt_$m
    if $P train $KD --epochs 3 "$@" --save $K/full.st --checkpoint $K/full.ck >$K/full.log 2>&1 &&
        $P train $KD --epochs 2 "$@" --checkpoint $K/half.ck >$K/half.log 2>&1 &&
        $P train $KD --epochs 1 "$@" --resume $K/half.ck --save $K/res.st --checkpoint $K/res.ck >$K/res.log 2>&1 &&
        grep -q "^epoch   3/3" $K/res.log && cmp -s $K/full.st $K/res.st && cmp -s $K/full.ck $K/res.ck; then
        pass "exact resume, $name: 2 epochs + resume + 1 epoch = 3 epochs, bit for bit"
        cp $K/full.ck $K/$m.ck
    else
        fail "exact resume, $name"; tail -n 3 $K/full.log $K/half.log $K/res.log
    fi
}
resume_case "SGD momentum, dropout" sgd
resume_case "Adam, dropout" adam
resume_case "AdamW, dropout" adamw
resume_case "SGD momentum, no dropout" plain
resume_case "Adam, dropout, --augment shift,flip,rotate,noise" adam --augment shift=1,flip,rotate=10,noise=0.02
resume_case "SGD momentum, --augment shift=2" plain --augment shift=2
# the control: weights only (P_save) resume differently (fresh Adam moments)
$K/ckpt_adam train $KD --epochs 2 --save $K/w2.st >/dev/null 2>&1 &&
    $K/ckpt_adam train $KD --epochs 1 --resume $K/w2.st --save $K/w3.st >/dev/null 2>&1 &&
    $K/ckpt_adam train $KD --epochs 3 --save $K/full3.st >/dev/null 2>&1
if [ -s $K/w3.st ] && ! cmp -s $K/w3.st $K/full3.st; then
    pass "a weights-only --resume starts the optimizer afresh (differs)"
else fail "a weights-only --resume gave the bits of an exact resume"; fi
# augmentation changes the training run, and the seed reproduces it
$K/ckpt_plain train $KD --epochs 1 --save $K/a1.st >/dev/null 2>&1
$K/ckpt_plain train $KD --epochs 1 --augment shift=2 --save $K/a2.st >/dev/null 2>&1
$K/ckpt_plain train $KD --epochs 1 --augment shift=2 --save $K/a3.st >/dev/null 2>&1
if ! cmp -s $K/a1.st $K/a2.st && cmp -s $K/a2.st $K/a3.st; then pass "--augment changes training and is reproducible"
else fail "--augment: no effect or not reproducible"; fi
# a checkpoint loads as weights (eval --load)
expect "a checkpoint loads as weights" 0 "accuracy" $K/ckpt_adam eval --data examples/data/digits/digits_test.csv \
    --scale 0.0625 --load $K/adam.ck
# bad resume files and options: one line naming the file
head -c 3000 $K/adam.ck >$K/trunc.ck
expect "--resume of a truncated checkpoint" 1 "trunc.ck: the file has 3000 bytes, its header describes" \
    $K/ckpt_adam train $KD --epochs 1 --resume $K/trunc.ck
expect "--resume of another optimizer's checkpoint" 1 "adam.ck: tensor 'optim.momentum_buffer.h.0.weight' not found" \
    $K/ckpt_sgd train $KD --epochs 1 --resume $K/adam.ck
expect "--resume of another model's checkpoint" 1 "adam.ck: tensor '.*' not found" \
    $K/ckpt_plain train $KD --epochs 1 --resume $K/adam.ck
expect "--resume with another --seed" 2 "continues a run with --seed 1, not 7" \
    $K/ckpt_adam train $KD --epochs 1 --resume $K/adam.ck --seed 7
expect "--resume on other data" 1 "trained on 1293 examples, this run has 1437" \
    $K/ckpt_adam train --data examples/data/digits/digits_train.csv --epochs 1 --resume $K/adam.ck
python3 - $K/adam.ck $K/nostate.ck <<'PY'
import json, struct, sys
b = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n])
del h['__metadata__']['step']
s = json.dumps(h).encode()
s += b' ' * (-len(s) % 8)
open(sys.argv[2], 'wb').write(struct.pack('<Q', len(s)) + s + b[8 + n:])
PY
expect "--resume of a checkpoint without its step" 1 "nostate.ck: the checkpoint has no 'step' in its __metadata__" \
    $K/ckpt_adam train $KD --epochs 1 --resume $K/nostate.ck
expect "--augment shift=-1" 2 "shift=-1 is not a whole number of pixels" \
    $K/ckpt_adam train $KD --epochs 1 --augment shift=-1
expect "--augment of an unknown kind" 2 "unknown item 'zoom=2'" $K/ckpt_adam train $KD --epochs 1 --augment flip,zoom=2
expect "--augment rotate=400" 2 "rotate=400 is not a number of degrees" \
    $K/ckpt_adam train $KD --epochs 1 --augment rotate=400
$NNC examples/digits_mlp.nn --main -o $K/dm.c && cc $CFLAGS99 $K/dm.c $NNRT -lm -o $K/dm
expect "--augment on a non-image input" 2 "--augment needs an image input" $K/dm train $KD --epochs 1 --augment shift=1
expect "--checkpoint -" 2 "--checkpoint -: standard output" $K/ckpt_adam train $KD --epochs 1 --checkpoint -
expect "--checkpoint in a missing directory" 1 "checked before training" \
    $K/ckpt_adam train $KD --epochs 1 --checkpoint $K/no/such/dir/c.ck
