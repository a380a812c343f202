#!/bin/sh
# ONNX export (nnc --emit=onnx): each example's inference graph, with weights from a safetensors
# file, run in ONNX Runtime against nnc's own generated code on the same inputs
# (tests/onnx_export/check.py: onnx.checker's full check, static named inputs and outputs,
# |ort - nnc| <= 1e-5 + 1e-4 |nnc| per element). Batch 2 (-D B=2) keeps it fast.
# ONNX Runtime comes from the venv scripts/install-deps.sh makes ($NNC_TEST_VENV, else
# ~/.cache/nnc/test-venv); without it the runs are skipped (a SKIP line) and only the checker runs.
cd "$(dirname "$0")/../.." || exit 2
NNC=${NNC:-build/nnc}
NNRT=${NNRT:-$(dirname "$NNC")/libnnrt.a}
T=$(pwd)/build/onnx_export
rm -rf "$T" && mkdir -p "$T"
status=0
pass() { echo "PASS onnx_export $*"; }
fail() { echo "FAIL onnx_export $*"; status=1; }
VENV=${NNC_TEST_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/nnc/test-venv}
PY=$VENV/bin/python
ORT=""
if "$PY" -c "import onnxruntime, onnx, numpy" 2>/dev/null; then ORT=1; else
    PY=/usr/bin/python3
    echo "SKIP onnx_export: no onnxruntime in $VENV (scripts/install-deps.sh makes it); onnx.checker only"
fi
CFLAGS="-std=c99 -O1 -Iruntime"

# one MODEL[:B] (examples/MODEL.nn, or tests/onnx_export/MODEL.nn): the C build and its weights,
# the export, the comparison
check_model() {
    m=${1%:*} b=${1#*:} D=$T/$m src=examples/${1%:*}.nn
    [ "$b" = "$1" ] && b=""
    [ -f "tests/onnx_export/$m.nn" ] && src=tests/onnx_export/$m.nn
    mkdir -p "$D"
    set -- ${b:+-D B=$b}
    if $NNC "$@" "$src" --infer-only --name net -o "$D/net.c" 2>"$D/log" &&
        gcc $CFLAGS -I"$D" tests/onnx_export/driver.c "$D/net.c" "$NNRT" -lm -o "$D/driver" 2>>"$D/log" &&
        "$D/driver" save 1 "$D/w.safetensors" 2>>"$D/log" &&
        $NNC "$@" "$src" --emit=onnx --weights "$D/w.safetensors" -o "$D/$m.onnx" 2>>"$D/log" &&
        "$PY" tests/onnx_export/check.py "$D/$m.onnx" "$D/driver" "$D/w.safetensors" "$D" ${ORT:---checker-only} \
            >"$D/out" 2>>"$D/log"; then
        pass "$m${b:+ (B=$b)}: $(cat "$D/out")"
    else
        fail "$m${b:+ (B=$b)}"; cat "$D/out" "$D/log" 2>/dev/null | sed 's/^/    /' | tail -n 12
    fi
}

for mb in xor coffee digits_mlp:2 lenet:2 fashion_cnn:2 resnet_tiny:2 autoencoder:2 conv_autoencoder:2 \
    char_rnn:2 char_lstm:2 char_gru:2 bilstm:2 seq2seq:2 tiny_gpt:2 vit:2 ops; do
    check_model $mb
done

# without --weights: the values P_create(0) starts from (the generated _reset's, by libnnrt)
D=$T/digits_mlp
if [ -n "$ORT" ] && "$D/driver" save 0 "$D/w0.safetensors" plain 2>"$D/log0" &&
    $NNC -D B=2 examples/digits_mlp.nn --emit=onnx -o "$D/init.onnx" 2>>"$D/log0" &&
    "$PY" tests/onnx_export/check.py "$D/init.onnx" "$D/driver" "$D/w0.safetensors" "$D" >"$D/out0" 2>>"$D/log0"; then
    pass "digits_mlp without --weights: the seed-0 initial values: $(cat "$D/out0")"
elif [ -n "$ORT" ]; then
    fail "digits_mlp without --weights"; cat "$D/out0" "$D/log0" 2>/dev/null | sed 's/^/    /' | tail -n 12
fi

# the output is saved as nnc's others are: unchanged bytes leave the file (and its mtime) alone
f=$T/xor/xor.onnx
touch -d '2001-01-01' "$f"
before=$(stat -c %Y "$f")
$NNC examples/xor.nn --emit=onnx --weights "$T/xor/w.safetensors" -o "$f" && after=$(stat -c %Y "$f")
if [ -n "$before" ] && [ "$before" = "${after:-}" ]; then pass "an unchanged export leaves the file untouched"
else fail "an unchanged export rewrote $f"; fi

# without -o: MODEL.onnx in the current directory
if (cd "$T" && ../../$NNC ../../examples/xor.nn --emit=onnx) && [ -s "$T/xor.onnx" ]; then
    pass "without -o the model goes to xor.onnx"
else fail "without -o"; fi

# what cannot be exported: one error naming the op and its source position
out=$($NNC examples/vae.nn --emit=onnx -o "$T/vae.onnx" 2>&1)
rc=$?
want="^examples/vae.nn:13:34: error: --emit=onnx: randn has no ONNX export"
if [ $rc -eq 1 ] && printf '%s\n' "$out" | grep -q "$want"
then pass "vae is refused at its randn (examples/vae.nn:13:34)"
else fail "vae: exit $rc: $out"; fi
[ -e "$T/vae.onnx" ] && fail "a refused export wrote its output"
exit $status
