#!/bin/sh
# Hostile inputs and faults (issue 10), against nnc and generated trainers:
# safe saving (devices, pipes, planted links, directories, SIGKILL during a
# save, concurrent savers: kill_save.py), bounded reading (/dev/zero, sparse
# files, directories), NaN and Inf in weights and in training, and the
# messages of bad numbers and empty data. N (kills, default 20) and PAIRS
# (concurrent savers, default N / 5, at least 5) go to kill_save.py: N=100
# for the full run (100 kills, 20 pairs).
cd "$(dirname "$0")/../.." || exit 2
NNC=${NNC:-build/nnc}
NNRT=${NNRT:-$(dirname "$NNC")/libnnrt.a}
T=$(pwd)/build/faults
rm -rf "$T" && mkdir -p "$T"
status=0
pass() { echo "PASS faults $*"; }
fail() { echo "FAIL faults $*"; status=1; }
# expect NAME WANT_STATUS PATTERN command... : exit status and a pattern in stdout+stderr
expect() {
    name=$1 want=$2 pat=$3; shift 3
    timeout 60 "$@" >$T/out.log 2>&1
    rc=$?
    if [ $rc -ne "$want" ]; then fail "$name: exit $rc, expected $want"; sed 's/^/    /' $T/out.log | tail -n 8
    elif [ -n "$pat" ] && ! grep -q -- "$pat" $T/out.log; then
        fail "$name: output lacks '$pat'"; sed 's/^/    /' $T/out.log | tail -n 8
    else pass "$name"; fi
}
CFLAGS99="-std=c99 -Wall -Wextra -Werror -O2 -Iruntime"
D=examples/data/digits
X=examples/data/xor/xor.csv
trainer() { # NAME SOURCE [nnc options]: the trainer $T/NAME
    n=$1 src=$2; shift 2
    $NNC "$@" "$src" --main -o $T/$n.c 2>$T/$n.log && gcc $CFLAGS99 $T/$n.c "$NNRT" -lm -o $T/$n 2>>$T/$n.log ||
        { fail "$n trainer builds"; cat $T/$n.log; exit 1; }
}
trainer xor examples/xor.nn
trainer digits examples/digits_mlp.nn
# an autoencoder with 4.7 MB of weights and no metric: its run is mostly the save
cat >$T/ae.nn <<'NN'
model ae {
    input  x : f32[32, 64]
    output r = x -> dense(1024) -> relu -> dense(1024) -> relu -> dense(64)
    loss mse(r, x)
    train sgd(lr = 0.01)
}
NN
trainer ae $T/ae.nn
sed 's/,[0-9]*$//' $D/digits_train.csv >$T/features.csv
head -n 64 $T/features.csv >$T/few.csv
# IDX files of zero 8x8 images and zero labels
printf '\0\0\10\3\0\0\0\0\0\0\0\10\0\0\0\10' >$T/img0.idx
printf '\0\0\10\1\0\0\0\0' >$T/lab0.idx
$T/xor train --data $X --epochs 300 --save $T/xor.safetensors >/dev/null || fail "xor trains"

# ---- saving ------------------------------------------------------------------
# a device (a private node of /dev/null as root, else a link to it) is written, not replaced
mknod $T/null c 1 3 2>/dev/null || ln -s /dev/null $T/null
expect "nnc -o a device writes into it" 0 "" $NNC examples/xor.nn --emit=ir -o $T/null
if [ -c $T/null ] && [ -c /dev/null ]; then pass "the device is still a device"
else fail "the device was replaced"; ls -l $T/null; fi
expect "--save to a device" 0 "saved" $T/xor train --data $X --epochs 1 --save $T/null
[ -c $T/null ] && pass "--save left the device a device" || fail "--save replaced the device"
mkfifo $T/fifo
(timeout 20 cat $T/fifo >$T/fifo.out &)
expect "nnc -o a pipe writes into it" 0 "" $NNC examples/xor.nn --emit=ir -o $T/fifo
sleep 0.2
if [ -p $T/fifo ] && grep -q "model xor" $T/fifo.out; then pass "the pipe got the IR and is still a pipe"
else fail "the pipe was replaced or got nothing"; fi
# a symbolic link planted at the old fixed temporary name is never followed
echo precious >$T/victim
ln -s $T/victim $T/w.safetensors.tmp
ln -s $T/victim $T/model.c.tmp
expect "--save with a link planted at W.safetensors.tmp" 0 "saved" \
    $T/xor train --data $X --epochs 1 --save $T/w.safetensors
expect "nnc -o with a link planted at model.c.tmp" 0 "" $NNC examples/xor.nn -o $T/model.c
[ "$(cat $T/victim)" = precious ] && pass "the link's target is untouched" || fail "the planted link was followed"
expect "the weights saved beside the planted link load" 0 "accuracy" $T/xor eval --data $X --load $T/w.safetensors
mkdir $T/dir.safetensors
expect "--save a directory is refused before training" 1 \
    "dir.safetensors: is a directory, not a file (--save is checked" \
    $T/xor train --data $X --epochs 1 --save $T/dir.safetensors
grep -q "^epoch" $T/out.log && fail "--save a directory: trained first" || pass "--save a directory: nothing trained"
expect "--save in a missing directory is refused before training" 1 "cannot create a file in directory" \
    $T/xor train --data $X --epochs 1 --save $T/no/such/w.safetensors
expect "nnc -o a directory" 1 "is a directory" $NNC examples/xor.nn --emit=ir -o $T/dir.safetensors
mkdir $T/kill
if python3 tests/faults/kill_save.py $T/ae $T/few.csv $T/kill >$T/kill.log 2>&1; then cat $T/kill.log
else cat $T/kill.log; grep -q "^FAIL" $T/kill.log || fail "kill_save.py did not finish"; status=1; fi

# ---- bounded reading -----------------------------------------------------------
expect "--load /dev/zero" 1 "/dev/zero: header length 0 is invalid" $T/xor eval --data $X --load /dev/zero
expect "--data /dev/zero" 1 "/dev/zero: line 1, byte 1 of it: a NUL byte, not text" $T/xor eval --data /dev/zero \
    --load $T/xor.safetensors
expect "--labels /dev/zero" 1 "bad magic 0x00000000, expected 0x00000801" $T/digits train --data $T/img0.idx \
    --labels /dev/zero --epochs 1
expect "--data a directory" 1 "$T: is a directory" $T/xor eval --data $T --load $T/xor.safetensors
expect "--load a directory" 1 "$T: is a directory" $T/xor eval --data $X --load $T
# a 4 GiB sparse file: refused from its header and size, within 64 MB of memory
python3 - $T <<'PY'
import json, struct, sys
d = sys.argv[1]
good = open(d + "/xor.safetensors", "rb").read()
n = struct.unpack("<Q", good[:8])[0]
with open(d + "/sparse.safetensors", "wb") as f:
    f.write(good)
    f.truncate(4 << 30)
# the model's tensors plus a 4 GiB one it does not need: only what it needs is read
hdr = json.loads(good[8:8 + n])
data = good[8 + n:]
hdr["huge"] = {"dtype": "U8", "shape": [4 << 30], "data_offsets": [len(data), len(data) + (4 << 30)]}
h = json.dumps(hdr).encode()
h += b" " * (-len(h) % 8)
with open(d + "/huge.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + data)
    f.truncate(8 + len(h) + len(data) + (4 << 30))
PY
expect "--load a 4 GiB sparse file (64 MB of memory)" 1 "the file has 4294967296 bytes, its header describes" \
    sh -c "ulimit -v 65536; exec $T/xor eval --data $X --load $T/sparse.safetensors"
expect "--load reads only the tensors the model needs (a 4 GiB extra one, 64 MB of memory)" 0 "accuracy 100.00%" \
    sh -c "ulimit -v 65536; exec $T/xor eval --data $X --load $T/huge.safetensors"

# ---- NaN and Inf -----------------------------------------------------------------
python3 - $T <<'PY'
import json, struct, sys
d = sys.argv[1]
good = bytearray(open(d + "/xor.safetensors", "rb").read())
n = struct.unpack("<Q", good[:8])[0]
hdr = json.loads(good[8:8 + n])
at = 8 + n + hdr["h.bias"]["data_offsets"][0]
nan = bytearray(good)
nan[at + 4:at + 8] = struct.pack("<f", float("nan"))
open(d + "/nan.safetensors", "wb").write(nan)
# h.bias named twice, both over the same bytes
h = good[8:8 + n].decode().rstrip()
entry = '"h.bias":' + json.dumps(hdr["h.bias"])
h2 = h[:-1] + "," + entry + "}"
h2 += " " * (-len(h2) % 8)
open(d + "/twice.safetensors", "wb").write(struct.pack("<Q", len(h2)) + h2.encode() + good[8 + n:])
PY
expect "weights holding NaN are refused, naming the tensor" 1 \
    "nan.safetensors: tensor 'h.bias' holds NaN at flat index 1 (of 4 values); --load weights must be finite" \
    $T/xor eval --data $X --load $T/nan.safetensors
expect "--allow-nonfinite loads them" 0 "^examples 4 " $T/xor eval --data $X --load $T/nan.safetensors --allow-nonfinite
expect "--resume from NaN weights is refused" 1 "holds NaN at flat index 1 (of 4 values); --resume weights" \
    $T/xor train --data $X --epochs 1 --resume $T/nan.safetensors
$T/ae train --data $T/few.csv --epochs 1 --save $T/ae.safetensors >/dev/null && cp $T/ae.safetensors $T/ae.keep
expect "a loss that blows up stops training, naming the epoch and step (train_step made no update)" 1 \
    "epoch 1, step [0-9]*: the loss became .* (the parameters are still finite); stopped, nothing saved" \
    $T/ae train --data $T/features.csv --epochs 2 --lr 1e6 --resume $T/ae.safetensors --save $T/ae.safetensors
cmp -s $T/ae.safetensors $T/ae.keep && pass "the last good weights are kept" || fail "the good weights were replaced"

# ---- messages ----------------------------------------------------------------------
expect "a tensor named twice says so" 1 "tensor 'h.bias' is named twice in the header" \
    $T/xor eval --data $X --load $T/twice.safetensors
expect "--len above its limit names the limit" 2 "--len '100000001' is not an integer in \[0, 100000000\]" \
    $T/xor sample --text $X --load $T/xor.safetensors --prompt a --len 100000001
expect "--epochs above its limit names the limit" 2 "is not an integer in \[1, 1000000000\]" \
    $T/xor train --data $X --epochs 1099511627777
expect "eval on zero examples is an error" 1 "img0.idx: no examples in the file" \
    $T/digits eval --data $T/img0.idx --labels $T/lab0.idx --load $T/xor.safetensors
exit $status
