#!/bin/sh
# Data-parallel training on MPI (libnnrt_mpi.a, 2 ranks): 10 steps on 2 ranks
# at micro-batch B give the parameters and step losses of 10 steps on 1 rank
# at batch 2B (f64, within 1e-6 relative: compare.py) for the digits MLP with
# SGD-momentum and AdamW, LeNet with --augment and a shrunk tiny_gpt (text
# windows); a checkpoint of 2 ranks resumes on 1 and vice versa; --shard-optimizer and
# --bucket-mb give the bits of the plain all-reduce; a sharded checkpoint resumes on 1 rank; dropout
# masks differ across ranks;
# two 2-rank runs give the same bits; a rank that
# fails, is killed or stops answering ends the job within 30 s with a message.
# --overlap (buckets started by the model's grad_ready hook during the backward pass) gives the same bits too,
# also with --shard-optimizer (a reduce-scatter per bucket);
# the hook itself (tests/mpi/grad_ready.c, no MPI needed) reports only tails no later kernel writes.
# Prints a SKIP line where Open MPI (mpicc, mpirun) is not installed.
cd "$(dirname "$0")/../.." || exit 2
make -s build/nnc build/libnnrt.a || exit 1
H=$(pwd)/build/mpi-hook
rm -rf "$H" && mkdir -p "$H"
hook_status=0
for m in "mlp:examples/digits_mlp.nn:--dtype=f64 -D B=8" "lenet:examples/lenet.nn:-D B=4" \
    "tiny_gpt:examples/tiny_gpt.nn:-D B=2 -D T=16 -D D=32 -D L=1"; do
    n=${m%%:*} src=${m#*:} src=${src%%:*} opt=${m##*:}
    mkdir -p "$H/$n"
    for c in gcc clang; do
        command -v $c >/dev/null 2>&1 || continue
        if build/nnc --name hk $opt $src -o "$H/$n/hk.c" && $c -std=c99 -Wall -Wextra -Werror -O2 -Iruntime \
            -I"$H/$n" -DHK_MODEL="\"$n ($c)\"" tests/mpi/grad_ready.c "$H/$n/hk.c" build/libnnrt.a -lm -o "$H/$n/gr.$c"
        then "$H/$n/gr.$c" || hook_status=1
        else echo "FAIL mpi grad_ready hook of $n: the model or tests/mpi/grad_ready.c does not build with $c"
            hook_status=1; fi
    done
done
if ! command -v mpicc >/dev/null 2>&1 || ! command -v mpirun >/dev/null 2>&1; then
    echo "SKIP mpi: mpicc/mpirun not found (Debian: libopenmpi-dev openmpi-bin)"
    exit $hook_status
fi
make -s mpi || exit 1
T=$(pwd)/build/mpi
rm -rf "$T" && mkdir -p "$T"
D=examples/data/digits
status=$hook_status
pass() { echo "PASS mpi $*"; }
fail() { echo "FAIL mpi $*"; status=1; }
MPIRUN="mpirun --allow-run-as-root --oversubscribe -np 2"
CF="-std=c99 -Wall -Wextra -Werror -O2 -Iruntime"
BASE="train --data $D/digits_train.csv --scale 0.0625 --epochs 1 --steps-per-epoch 10 --seed 3"
TRAIN="$BASE --log-every 1"
# build NAME OPTIMIZER B DTYPE: $T/NAME (1 rank, plain cc) and $T/NAME.mpi
build() {
    sed "s/train adam(.*)/train $2/" examples/digits_mlp.nn >$T/$1.nn
    build/nnc --main --dtype=$4 -D B=$3 $T/$1.nn -o $T/$1.c || return 1
    cc $CF $T/$1.c build/libnnrt.a -lm -fopenmp -o $T/$1 || return 1
    mpicc $CF -DNNRT_MPI $T/$1.c build/libnnrt_mpi.a build/libnnrt.a -lm -fopenmp -o $T/$1.mpi
}
for o in "sgdm:sgd(lr = 0.05, momentum = 0.9)" "adamw:adamw(lr = 1e-3, weight_decay = 0.01)"; do
    n=${o%%:*} opt=${o#*:}
    if ! build ${n}8 "$opt" 8 f64 || ! build ${n}16 "$opt" 16 f64; then fail "$n: build"; continue; fi
    $T/${n}16 $TRAIN --save $T/$n.1.st --log $T/$n.1.csv >$T/$n.1.out 2>&1 || fail "$n: 1 rank at B=16"
    $MPIRUN $T/${n}8.mpi $TRAIN --save $T/$n.2.st --log $T/$n.2.csv >$T/$n.2.out 2>&1 || fail "$n: 2 ranks at B=8"
    if r=$(python3 tests/mpi/compare.py $T/$n.1.st $T/$n.2.st $T/$n.1.csv $T/$n.2.csv); then
        pass "$n: 2 ranks x B=8 = 1 rank x B=16 over 10 steps ($r)"
    else fail "$n: 2 ranks x B=8 differ from 1 rank x B=16 ($r)"; fi
    grep -q "^saved $T/$n.2.st" $T/$n.2.out && [ "$(grep -c '^epoch' $T/$n.2.out)" = 1 ] &&
        pass "$n: rank 0 alone prints" || fail "$n: the 2-rank output is not one rank's"
done
# LeNet with --augment: each example is augmented by its position in the epoch's order, whatever the ranks
M=examples/data/mnist
AUG="train --data $M/t10k-images-idx3-ubyte --labels $M/t10k-labels-idx1-ubyte --epochs 1 --steps-per-epoch 10
     --seed 5 --augment shift=2,flip,noise=0.02 --log-every 1"
for b in 4 8; do
    sed "s/train adam(.*)/train sgd(lr = 0.05, momentum = 0.9)/" examples/lenet.nn >$T/lenet$b.nn
    build/nnc --main --dtype=f64 -D B=$b $T/lenet$b.nn -o $T/lenet$b.c &&
        mpicc $CF -DNNRT_MPI $T/lenet$b.c build/libnnrt_mpi.a build/libnnrt.a -lm -fopenmp -o $T/lenet$b.mpi
done
$T/lenet8.mpi $AUG --save $T/lenet.1.st --log $T/lenet.1.csv >$T/lenet.1.out 2>&1 || fail "lenet: 1 rank at B=8"
$MPIRUN $T/lenet4.mpi $AUG --save $T/lenet.2.st --log $T/lenet.2.csv >$T/lenet.2.out 2>&1 || fail "lenet: 2 ranks"
if r=$(python3 tests/mpi/compare.py $T/lenet.1.st $T/lenet.2.st $T/lenet.1.csv $T/lenet.2.csv); then
    pass "lenet, SGD-momentum, --augment: 2 ranks x B=4 = 1 rank x B=8 over 10 steps ($r)"
else fail "lenet, --augment: 2 ranks x B=4 differ from 1 rank x B=8 ($r)"; fi
# tiny_gpt (shrunk): each step draws N * B windows and rank r takes windows [rB, rB + B)
GPT="train --text examples/data/tinyshakespeare/input.txt --epochs 1 --steps-per-epoch 10 --seed 7 --log-every 1"
for b in 2 4; do
    build/nnc --main --dtype=f64 -D B=$b -D T=16 -D D=32 -D L=1 examples/tiny_gpt.nn -o $T/gpt$b.c &&
        mpicc $CF -DNNRT_MPI $T/gpt$b.c build/libnnrt_mpi.a build/libnnrt.a -lm -fopenmp -o $T/gpt$b.mpi
done
$T/gpt4.mpi $GPT --save $T/gpt.1.st --log $T/gpt.1.csv >$T/gpt.1.out 2>&1 || fail "tiny_gpt: 1 rank at B=4"
$MPIRUN $T/gpt2.mpi $GPT --save $T/gpt.2.st --log $T/gpt.2.csv >$T/gpt.2.out 2>&1 || fail "tiny_gpt: 2 ranks"
if r=$(python3 tests/mpi/compare.py $T/gpt.1.st $T/gpt.2.st $T/gpt.1.csv $T/gpt.2.csv); then
    pass "tiny_gpt, AdamW: 2 ranks x B=2 = 1 rank x B=4 over 10 steps ($r)"
else fail "tiny_gpt: 2 ranks x B=2 differ from 1 rank x B=4 ($r)"; fi
# a checkpoint of 2 ranks resumes on 1 and one of 1 rank on 2: 1 epoch + 1 epoch = 2 epochs on 1 rank
TWO=$(echo "$BASE" | sed 's/--epochs 1/--epochs 2/')
$T/sgdm16 $TWO --save $T/ck.ref.st >/dev/null 2>&1
$MPIRUN $T/sgdm8.mpi $BASE --checkpoint $T/ck.2.ck >/dev/null 2>&1
$T/sgdm16 $BASE --resume $T/ck.2.ck --save $T/ck.21.st >/dev/null 2>&1
$T/sgdm16 $BASE --checkpoint $T/ck.1.ck >/dev/null 2>&1
$MPIRUN $T/sgdm8.mpi $BASE --resume $T/ck.1.ck --save $T/ck.12.st >/dev/null 2>&1
for k in 21 12; do
    what="checkpoint ${k%?} rank(s) -> resume on ${k#?}"
    if r=$(python3 tests/mpi/compare.py $T/ck.ref.st $T/ck.$k.st); then pass "$what: $r"; else fail "$what: $r"; fi
done
# the same bits twice (f32)
if build det8 "adamw(lr = 1e-3, weight_decay = 0.01)" 8 f32; then
    $MPIRUN $T/det8.mpi $TRAIN --save $T/det.a.st --log $T/det.a.csv >/dev/null 2>&1
    $MPIRUN $T/det8.mpi $TRAIN --save $T/det.b.st --log $T/det.b.csv >/dev/null 2>&1
    [ -s $T/det.a.st ] && cmp -s $T/det.a.st $T/det.b.st &&
        [ "$(cut -d, -f5 $T/det.a.csv)" = "$(cut -d, -f5 $T/det.b.csv)" ] &&
        pass "two 2-rank runs give the same bits" ||
        fail "two 2-rank runs differ"
fi
# --shard-optimizer (reduce-scatter, each rank its slice, all-gather) and --bucket-mb (MPI_Iallreduce per bucket):
# the bits of the whole-buffer update on 2 ranks (a + b is b + a, so every collective sums alike)
same() { # NAME BINARY ARGS...: with --shard-optimizer, --bucket-mb 0.01 (--overlap) and both against the plain run
    n=$1 b=$2; shift 2
    $MPIRUN $b "$@" --save $T/$n.u.st --log $T/$n.u.csv >/dev/null 2>&1 || fail "$n: plain run"
    for v in "shard:--shard-optimizer" "bucket:--bucket-mb 0.01" "overlap:--bucket-mb 0.01 --overlap" \
        "shover:--shard-optimizer --bucket-mb 0.01 --overlap"; do
        $MPIRUN $b "$@" ${v#*:} --save $T/$n.${v%%:*}.st --log $T/$n.${v%%:*}.csv >$T/$n.${v%%:*}.out 2>&1
        [ -s $T/$n.u.st ] && cmp -s $T/$n.u.st $T/$n.${v%%:*}.st &&
            [ "$(cut -d, -f1-9 $T/$n.u.csv)" = "$(cut -d, -f1-9 $T/$n.${v%%:*}.csv)" ] &&
            pass "$n: ${v#*:} gives the same bits (parameters, losses, grad norms)" ||
            fail "$n: ${v#*:} differs: $(python3 tests/mpi/compare.py $T/$n.u.st $T/$n.${v%%:*}.st; tail -2 \
                $T/$n.${v%%:*}.out)"
    done
}
same mlp-sgdm-clip-value $T/sgdm8.mpi $TRAIN --clip-value 0.05
same mlp-adamw $T/adamw8.mpi $TRAIN
same mlp-adamw-f32-clip $T/det8.mpi $TRAIN --clip-norm 0.5
same lenet-sgdm $T/lenet4.mpi $AUG
sed "s/train adam(.*)/train adamw(lr = 1e-3, weight_decay = 0.01)/" examples/lenet.nn >$T/lenet_aw.nn
build/nnc --main -D B=4 $T/lenet_aw.nn -o $T/lenet_aw.c &&
    mpicc $CF -DNNRT_MPI $T/lenet_aw.c build/libnnrt_mpi.a build/libnnrt.a -lm -fopenmp -o $T/lenet_aw.mpi &&
    same lenet-adamw-f32-clip $T/lenet_aw.mpi $AUG --clip-norm 1
same tiny_gpt-adamw $T/gpt2.mpi $GPT
same tiny_gpt-adamw-clip-value $T/gpt2.mpi $GPT --clip-value 0.01
grep -q '^2 ranks, buckets overlapped:' $T/tiny_gpt-adamw.overlap.out && pass "--overlap says so in the ranks line" ||
    fail "--overlap: $(head -2 $T/tiny_gpt-adamw.overlap.out)"
$T/sgdm16 $BASE --overlap >$T/ov.out 2>&1
[ $? = 2 ] && grep -q -- "--overlap needs --bucket-mb X" $T/ov.out && pass "--overlap without --bucket-mb: one line" ||
    fail "--overlap without --bucket-mb: $(head -2 $T/ov.out)"
# the memory line: on Linux the state outside a rank's slice is given back (mincore counts what stays)
sed -n 's/^2 ranks, sharded optimizer: .* optimizer state \([0-9.]*\) MB in memory of \([0-9.]*\) MB.*/\1 \2/p' \
    $T/mlp-adamw.shard.out | awk '{ok = $1 > 0 && $1 < 0.6 * $2} END {exit !ok}' &&
    pass "a sharded rank keeps about half the optimizer state in memory: $(grep -o 'state.*MB in.*MB;' \
        $T/mlp-adamw.shard.out)" || fail "sharded memory: $(head -2 $T/mlp-adamw.shard.out)"
# a sharded checkpoint (the optimizer state gathered on rank 0) resumes on 1 rank as 2 epochs on 1 rank
for n in sgdm adamw; do
    $T/${n}16 $TWO --save $T/ckz.$n.ref.st >/dev/null 2>&1
    $MPIRUN $T/${n}8.mpi $BASE --shard-optimizer --checkpoint $T/ckz.$n.ck >/dev/null 2>&1
    $T/${n}16 $BASE --resume $T/ckz.$n.ck --save $T/ckz.$n.st >/dev/null 2>&1
    if r=$(python3 tests/mpi/compare.py $T/ckz.$n.ref.st $T/ckz.$n.st); then pass "$n: sharded checkpoint -> 1 rank: $r"
    else fail "$n: sharded checkpoint resumed on 1 rank: $r"; fi
done
$MPIRUN $T/adamw8.mpi $BASE --shard-optimizer --resume $T/ckz.adamw.ck --save $T/ckz.22.st >/dev/null 2>&1
if r=$(python3 tests/mpi/compare.py $T/ckz.adamw.ref.st $T/ckz.22.st); then pass "adamw: sharded -> sharded resume: $r"
else fail "adamw: a sharded checkpoint resumed sharded on 2 ranks: $r"; fi
# dropout: rank r's pass k draws masks with counter k * N + r. On data of one repeated example, 2 ranks without
# dropout give the bits of 1 rank (the mean of two equal gradients); with dropout they must not (other masks)
head -1 $D/digits_train.csv | awk '{for (i = 0; i < 256; i++) print}' >$T/same.csv
ONE="train --data $T/same.csv --scale 0.0625 --epochs 1 --steps-per-epoch 8 --seed 3"
sed "s/-> relu -> dense(128)/-> relu -> dropout(0.5) -> dense(128)/" $T/sgdm8.nn >$T/drop8.nn
build/nnc --main --dtype=f64 -D B=8 $T/drop8.nn -o $T/drop8.c &&
    mpicc $CF -DNNRT_MPI $T/drop8.c build/libnnrt_mpi.a build/libnnrt.a -lm -fopenmp -o $T/drop8.mpi
for b in sgdm8 drop8; do
    $T/$b.mpi $ONE --save $T/$b.one1.st >/dev/null 2>&1
    $MPIRUN $T/$b.mpi $ONE --save $T/$b.one2.st >/dev/null 2>&1
done
$MPIRUN $T/drop8.mpi $ONE --save $T/drop8.one2b.st >/dev/null 2>&1
[ -s $T/sgdm8.one1.st ] && cmp -s $T/sgdm8.one1.st $T/sgdm8.one2.st && [ -s $T/drop8.one2.st ] &&
    ! cmp -s $T/drop8.one1.st $T/drop8.one2.st && cmp -s $T/drop8.one2.st $T/drop8.one2b.st &&
    pass "dropout masks differ across ranks, and two 2-rank runs give the same bits" ||
    fail "dropout masks across ranks"
# eval on 2 ranks: rank 0 alone evaluates and prints, as 1 rank does
EV="eval --data $D/digits_test.csv --scale 0.0625 --load $T/det.a.st"
$T/det8 $EV >$T/ev.1.out 2>&1
$MPIRUN $T/det8.mpi $EV >$T/ev.2.out 2>&1
[ -s $T/ev.1.out ] && cmp -s $T/ev.1.out $T/ev.2.out && pass "eval on 2 ranks prints what 1 rank prints" ||
    fail "eval on 2 ranks: $(head -c 300 $T/ev.2.out)"
# faults: rank 1 fails (a missing --data) or is killed; every rank ends within 30 s
LONG="train --data $D/digits_train.csv --scale 0.0625 --epochs 100000 --seed 3"
timeout 30 $MPIRUN sh -c 'if [ "$OMPI_COMM_WORLD_RANK" = 1 ]; then exec "$0" train --data /no/such.csv --epochs 1;
    fi; exec "$0" "$@"' $T/det8.mpi $LONG >$T/fail.out 2>&1
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "rank 1 of 2: exit status 1; ending every rank" $T/fail.out &&
    pass "a failing rank ends the job (exit $rc)" || { fail "a failing rank: exit $rc"; tail -5 $T/fail.out; }
timeout 30 $MPIRUN sh -c 'if [ "$OMPI_COMM_WORLD_RANK" = 1 ]; then (sleep 1; kill -9 $$) & fi; exec "$0" "$@"' \
    $T/det8.mpi $LONG >$T/kill.out 2>&1
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "rank 1 .*signal 9" $T/kill.out &&
    pass "a killed rank ends the job (exit $rc)" || { fail "a killed rank: exit $rc"; tail -5 $T/kill.out; }
# a rank that stops answering (SIGSTOP): the watchdog of the other ends the job after NNRT_MPI_TIMEOUT s
timeout 30 $MPIRUN -x NNRT_MPI_TIMEOUT=3 sh -c 'if [ "$OMPI_COMM_WORLD_RANK" = 1 ]; then (sleep 1; kill -STOP $$) & fi
    exec "$0" "$@"' $T/det8.mpi $LONG >$T/stop.out 2>&1
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "rank 0: error: no answer from the other ranks for 3 s" $T/stop.out &&
    pass "a stopped rank ends the job (exit $rc)" || { fail "a stopped rank: exit $rc"; tail -5 $T/stop.out; }
exit $status
