# tests/e2e/trainer_watch.sh — sourced by tests/e2e/run.sh (uses its T,
# expect, pass, fail and the digits trainer $T/digits): early stopping and
# the best weights (--patience), held-out scoring (eval/predict --split, the
# leak warning, train --test), the --log CSV, the --plot SVG, the progress
# bar on a terminal, and the errors of their options. A few seconds.
W=$T/watch
mkdir -p $W
D=examples/data/digits
DT="--data $D/digits_train.csv --scale 0.0625"
# ---- early stopping: where it stopped, which epoch it kept ----
$T/digits train $DT --epochs 60 --val-split 0.2 --patience 3 --save $W/es.st --log $W/es.csv --log-every 7 \
    --plot $W/es.svg --test $D/digits_test.csv >$W/es.out 2>$W/es.err
rc=$?
stop=$(sed -n 's/^early stop after epoch \([0-9]*\) of 60: val_loss did not improve for 3 epochs.*/\1/p' $W/es.out)
best=$(sed -n 's/^best epoch \([0-9]*\): its weights restored  val loss [0-9.]*  val acc *[0-9.]*%$/\1/p' $W/es.out)
if [ $rc -eq 0 ] && [ -n "$stop" ] && [ -n "$best" ] && [ "$stop" -lt 60 ] && [ "$best" -eq $((stop - 3)) ] &&
    [ "$(grep -c '^epoch ' $W/es.out)" -eq "$stop" ]; then
    pass "--patience 3 stops at epoch $stop, 3 after the best ($best)"
else fail "--patience 3: exit $rc, stop '$stop', best '$best'"; sed 's/^/    /' $W/es.out $W/es.err | tail -n 8; fi
# the best epoch has the lowest validation loss of the log, and the saved
# weights score it: eval --split val counts the trainer's validation split
# (round(0.2 * 1437) = 287) and gives the epoch's loss and accuracy
python3 - $W/es.csv "$best" "$stop" >$W/best.txt <<'PY' || fail "the log's epoch rows"
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["kind"] == "epoch"]
best, stop = int(sys.argv[2]), int(sys.argv[3])
assert [int(r["epoch"]) for r in rows] == list(range(1, stop + 1)), "one epoch row per epoch"
vl = [float(r["val_loss"]) for r in rows]
assert min(vl) == vl[best - 1] and vl.index(min(vl)) == best - 1, "the best epoch has the lowest val_loss"
print("%.6f %.2f" % (vl[best - 1], 100 * float(rows[best - 1]["val_acc"])))
PY
want_acc=$(sed -n "s/^epoch  *$best\/60 .*val acc *\([0-9.]*\)%.*/\1/p" $W/es.out)
$T/digits eval $DT --load $W/es.st --val-split 0.2 >$W/ev.out 2>$W/ev.err
scored="the validation split (--val-split 0.2: examples 1,151 to 1,437 in file order)"
report="examples 287  loss $(cut -d' ' -f1 $W/best.txt)  accuracy $want_acc%"
if grep -q "^scored 287 of 1,437 examples: $scored$" $W/ev.out && grep -q "^$report$" $W/ev.out &&
    [ "$(cut -d' ' -f2 $W/best.txt)" = "$want_acc" ] && [ ! -s $W/ev.err ]; then
    pass "the restored weights score epoch $best's val loss and accuracy ($want_acc%) on the same 287 examples"
else
    fail "eval of the restored weights (epoch $best: $(cat $W/best.txt), $want_acc%)"
    sed 's/^/    /' $W/ev.out $W/ev.err
fi
expect "--test scores the test file at the end" 0 "^test $D/digits_test.csv: examples 360  loss [0-9.]*  accuracy" \
    cat $W/es.out
# ---- early stopping across --checkpoint and --resume ----
# N epochs + resume + the rest stop at the same epoch and keep the same
# weights as one run: at N = best the checkpoint's own weights are the best,
# at N = best + 1 the best ones come from the checkpoint (trainer.best.*)
ES="$DT --val-split 0.2 --patience 3"
$T/digits train $ES --epochs 60 --save $W/es1.st >/dev/null 2>&1
for n in $best $((best + 1)); do
    $T/digits train $ES --epochs $n --checkpoint $W/esck$n.st >/dev/null 2>&1
    $T/digits train $ES --epochs $((60 - n)) --resume $W/esck$n.st --save $W/es2.st >$W/esr.out 2>&1
    if grep -q "^early stop after epoch $stop of 60: val_loss did not improve for 3 epochs" $W/esr.out &&
        grep -q "^best epoch $best: its weights restored" $W/esr.out && cmp -s $W/es1.st $W/es2.st; then
        pass "--patience: $n epochs + --resume stop at epoch $stop and keep epoch $best's bits, as one run"
    else fail "--patience: $n epochs + --resume differ from one run"; tail -n 3 $W/esr.out; fi
done
$T/digits train $ES --epochs $stop --checkpoint $W/esckstop.st >/dev/null 2>&1
expect "--resume of a run that stopped early" 2 \
    "error: $W/esckstop.st: its run stopped early after epoch $stop (val_loss did not improve for 3 epochs)" \
    $T/digits train $ES --epochs 5 --resume $W/esckstop.st
expect "--resume with another --monitor" 2 \
    "error: $W/esck$best.st: the checkpoint's early stopping watched val_loss; resume with --monitor val_loss" \
    $T/digits train $ES --epochs 5 --resume $W/esck$best.st --monitor val_acc
# --monitor val_acc with --min-delta 0.005: no epoch beats the kept one by
# more than half a point, and the kept one is the epoch line's accuracy
$T/digits train $DT --epochs 60 --val-split 0.2 --patience 2 --monitor val_acc --min-delta 0.005 >$W/acc.out 2>&1
bep=$(sed -n 's/^best epoch \([0-9]*\): .*val acc *[0-9.]*%$/\1/p' $W/acc.out)
bacc=$(sed -n 's/^best epoch [0-9]*: .*val acc *\([0-9.]*\)%$/\1/p' $W/acc.out)
eacc=$(sed -n "s/^epoch  *$bep\/60 .*val acc *\([0-9.]*\)%.*/\1/p" $W/acc.out)
macc=$(sed -n 's/^epoch .*val acc *\([0-9.]*\)%.*/\1/p' $W/acc.out | sort -n | tail -n 1)
if grep -q "^early stop after epoch [0-9]* of 60: val_acc did not improve for 2 epochs" $W/acc.out &&
    [ -n "$bacc" ] && [ "$bacc" = "$eacc" ] && awk "BEGIN { exit !($macc - $bacc <= 0.5) }"; then
    pass "--monitor val_acc --min-delta 0.005 keeps epoch $bep ($bacc%; the best is $macc%)"
else fail "--monitor val_acc: kept '$bacc' (epoch '$bep': '$eacc'), best '$macc'"; tail -n 4 $W/acc.out; fi
# ---- held-out scoring ----
# without early stopping: eval of the validation split gives the accuracy the last epoch printed
$T/digits train $DT --epochs 5 --val-split 0.1 --save $W/plain.st >$W/plain.out 2>&1
last=$(sed -n 's/^epoch   5\/5 .*val acc *\([0-9.]*\)%.*/\1/p' $W/plain.out)
expect "eval --val-split 0.1 scores the trainer's validation split" 0 "^examples 144  loss [0-9.]*  accuracy $last%" \
    $T/digits eval $DT --load $W/plain.st --val-split 0.1 --split val --seed 1
expect "eval --split train scores the rest" 0 "^scored 1,293 of 1,437 examples: the training split" \
    $T/digits eval $DT --load $W/plain.st --val-split 0.1 --split train
expect "predict --val-split prints the validation split's classes" 0 "^144$" \
    sh -c "$T/digits predict $DT --load $W/plain.st --val-split 0.1 2>$W/pred.err | wc -l"
expect "... and says on stderr which examples" 0 "^scored 144 of 1,437 examples" cat $W/pred.err
leak="is the file these weights were trained on: this score includes its 1293 training examples"
expect "eval on the training file without a split warns" 0 \
    "warning: $D/digits_train.csv $leak; add --val-split 0.1 to score only the 144 held out" \
    $T/digits eval $DT --load $W/plain.st
$T/digits eval --data $D/digits_test.csv --scale 0.0625 --load $W/plain.st >$W/test.out 2>&1
if grep -q "^examples 360 " $W/test.out && ! grep -q "warning" $W/test.out; then
    pass "eval on another file does not warn"
else fail "eval on another file"; cat $W/test.out; fi
expect "eval of a wider validation split than training held out warns" 0 \
    "trained on $D/digits_train.csv with --val-split 0.1: 143 of the 287 examples scored were training examples" \
    $T/digits eval $DT --load $W/plain.st --val-split 0.2
cp $D/digits_train.csv $W/copy.csv
expect "a copy of the training file is recognised by its contents" 0 \
    "copy.csv is the file these weights were trained on" \
    $T/digits eval --data $W/copy.csv --scale 0.0625 --load $W/plain.st
# the metadata: string values in the header, the file still a plain safetensors file
python3 - $W/es.st <<'PY' && pass "the weights file records the training in __metadata__ and stays well-formed" ||
import json, os, struct, sys
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
h = json.loads(raw[8:8 + n])
meta = h.pop("__metadata__")
assert all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items())
assert meta["nnc.source"] == "--data" and meta["nnc.file"].endswith("digits_train.csv"), meta
assert meta["nnc.val_split"] == "0.2" and meta["nnc.seed"] == "1" and "nnc.best_epoch" in meta, meta
assert int(meta["nnc.file_bytes"]) == os.path.getsize("examples/data/digits/digits_train.csv")
ends = sorted(v["data_offsets"] for v in h.values())
assert ends[0][0] == 0 and all(a[1] == b[0] for a, b in zip(ends, ends[1:])) and 8 + n + ends[-1][1] == len(raw)
PY
    fail "the weights file's metadata"
# ---- the log and the plot ----
python3 - $W/es.csv "$stop" <<'PY' && pass "--log: the header, an epoch row per epoch and a row every 7 steps" ||
import csv, sys
lines = open(sys.argv[1]).read().splitlines()
assert lines[0] == "kind,step,epoch,lr,train_loss,train_acc,val_loss,val_acc,grad_norm,examples_per_s", lines[0]
rows = list(csv.reader(lines[1:]))
assert all(len(r) == 10 for r in rows)
ep = [r for r in rows if r[0] == "epoch"]
st = [r for r in rows if r[0] == "step"]
steps = int(ep[-1][1])
assert steps == int(sys.argv[2]) * (1150 // 32), steps  # digits_mlp: batch 32
assert [int(r[1]) for r in st] == list(range(7, steps + 1, 7)), "a step row every 7 steps"
# the scheduled rate (constant here) and the last update's gradient norm, through the model
assert all(float(r[8]) > 0 and float(r[3]) == 0.001 and float(r[9]) > 0 for r in rows)
assert all(r[5] == r[6] == r[7] == "" for r in st) and all(r[5] and r[6] and r[7] for r in ep)
PY
    fail "--log CSV"
python3 - $W/es.svg <<'PY' && pass "--plot writes a well-formed SVG with both panels and a legend" || fail "--plot SVG"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = "{http://www.w3.org/2000/svg}"
assert root.tag == ns + "svg"
texts = [t.text for t in root.iter(ns + "text")]
assert {"loss", "accuracy", "epoch", "train", "validation"} <= set(texts), texts
assert len(list(root.iter(ns + "polyline"))) == 4
PY
# ---- the progress bar: an eta on a terminal, nothing when piped ----
if command -v script >/dev/null 2>&1; then
    expect "on a terminal the progress bar shows an eta" 0 "eta [0-9.]*s" \
        script -qec "$T/digits train $DT --epochs 1 --steps-per-epoch 60" /dev/null
fi
$T/digits train $DT --epochs 1 >$W/pipe.out 2>$W/pipe.err
if [ ! -s $W/pipe.err ] && ! grep -q "$(printf '\r')" $W/pipe.out; then pass "piped: plain lines, no progress bar"
else fail "piped output has a progress bar"; fi
# ---- bad values: one line, exit 2 ----
expect "--patience -1" 2 "error: --patience '-1' is not an integer in \[1, 1000000000\]" \
    $T/digits train $DT --epochs 2 --val-split 0.2 --patience -1
expect "--clip 0: the options it begins" 2 \
    "error: unknown option '--clip': did you mean --clip-norm or --clip-value?" $T/digits train $DT --epochs 2 --clip 0
expect "--clip-value 0" 2 "error: --clip-value '0' is not a positive finite number" \
    $T/digits train $DT --epochs 2 --clip-value 0
expect "--schedule warmup longer than the run" 2 "warmup (500 steps) must be shorter than total" \
    $T/digits train $DT --epochs 2 --schedule cosine,warmup=500
expect "--min-delta -1" 2 "error: --min-delta '-1' is not a number >= 0" \
    $T/digits train $DT --epochs 2 --val-split 0.2 --patience 2 --min-delta -1
expect "an unknown monitor" 2 "error: --monitor 'loss' is not val_loss or val_acc" \
    $T/digits train $DT --epochs 2 --val-split 0.2 --patience 2 --monitor loss
expect "--patience without a validation set" 2 "error: --patience needs a validation set to watch: add --val-split F" \
    $T/digits train $DT --epochs 2 --patience 2
expect "--log into a missing directory" 2 "error: $W/nodir/m.csv: .*(--log)" \
    $T/digits train $DT --epochs 2 --log $W/nodir/m.csv
expect "--plot into a missing directory" 2 "error: $W/nodir/c.svg: .*(--plot)" \
    $T/digits train $DT --epochs 2 --plot $W/nodir/c.svg
expect "--split val without a fraction" 2 "error: --split val needs --val-split F" \
    $T/digits eval $DT --load $W/plain.st --split val
expect "an unknown split" 2 "error: --split 'test' is not val, train or all" \
    $T/digits eval $DT --load $W/plain.st --val-split 0.1 --split test
expect "--log-every without --log" 2 "error: --log-every needs --log FILE.csv" \
    $T/digits train $DT --epochs 2 --log-every 5
expect "--help describes early stopping" 0 "--patience N     stop when the monitored value" $T/digits --help
