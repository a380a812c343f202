# tests/e2e/launch.sh — sourced by tests/e2e/run.sh (uses its NNC, NNRT, T,
# CFLAGS99, expect, pass and fail): `nnc train` and `nnc run` (driver/launch.c).
#
# With --cc (the system compiler): the digits MLP trained by `nnc train` prints
# the same numbers as the AOT build of `nnc --main` (the time column aside); the
# cached program is reused (a counting compiler wrapper runs once for two runs),
# a changed model is rebuilt, a bad model gets the usual diagnostics and no
# compiler run, and a missing compiler is one clear error.
# With the JIT (where `nnc --version` names one; the default there): the digits
# MLP and LeNet save the same bytes as the AOT build, the cached object is
# reused, a bad model gets the diagnostics, a broken cached object one line.
L=$T/launch
mkdir -p $L
export XDG_CACHE_HOME=$L/cache
printf '#!/bin/sh\necho run >>%s/cc.count\nexec %s "$@"\n' "$L" "${CC:-cc}" >$L/cc.sh
chmod +x $L/cc.sh
LD="--data examples/data/digits/digits_train.csv --scale 0.0625 --seed 1 --val-split 0.2"
untimed() { grep '^epoch' "$1" | sed 's/ *time [0-9.]*s//'; }
ccruns() { [ -f $L/cc.count ] && wc -l <$L/cc.count || echo 0; }
$NNC examples/digits_mlp.nn --main -o $L/aot.c && cc $CFLAGS99 $L/aot.c $NNRT -lm -o $L/aot &&
    $L/aot train $LD --epochs 2 >$L/aot.log 2>&1
CC=$L/cc.sh $NNC train --cc examples/digits_mlp.nn $LD --epochs 2 --save $L/w.safetensors >$L/cold.log 2>&1
untimed $L/aot.log >$L/aot.u
untimed $L/cold.log >$L/cold.u
if [ -s $L/aot.u ] && cmp -s $L/aot.u $L/cold.u; then pass "nnc train prints the AOT build's numbers"
else fail "nnc train differs from the AOT build"; diff $L/aot.log $L/cold.log | head -n 8; fi
CC=$L/cc.sh $NNC train --cc examples/digits_mlp.nn $LD --epochs 2 >$L/warm.log 2>&1
if untimed $L/warm.log | cmp -s - $L/aot.u && [ "$(ccruns)" -eq 1 ]; then pass "nnc train reuses the cached program"
else fail "nnc train: warm run differs or compiled again ($(ccruns) compiler runs)"; fi
expect "nnc run eval runs a trainer command" 0 "accuracy" env CC=$L/cc.sh \
    $NNC run --cc examples/digits_mlp.nn eval --data examples/data/digits/digits_test.csv --scale 0.0625 \
    --load $L/w.safetensors
sed 's/dense(128) -> relu -> dense(128)/dense(96) -> relu -> dense(128)/' examples/digits_mlp.nn >$L/narrow.nn
CC=$L/cc.sh $NNC train --cc $L/narrow.nn $LD --epochs 1 >$L/narrow.log 2>&1
if [ "$(ccruns)" -eq 2 ] && grep -q '^epoch' $L/narrow.log; then pass "a changed model is rebuilt"
else fail "a changed model: $(ccruns) compiler runs"; tail -n 4 $L/narrow.log; fi
sed 's/-> relu/-> relux/' examples/digits_mlp.nn >$L/bad.nn
expect "nnc train of a bad model gives the diagnostics" 1 "bad.nn:[0-9]*:[0-9]*: error: unknown op 'relux'" \
    env CC=$L/cc.sh $NNC train --cc $L/bad.nn $LD
[ "$(ccruns)" -eq 2 ] && pass "a bad model runs no compiler" || fail "a bad model ran the compiler"
expect "nnc train with a missing compiler" 1 "cannot run the C compiler '$L/no-cc': No such file" \
    env CC=$L/no-cc XDG_CACHE_HOME=$L/cache2 $NNC train --cc examples/digits_mlp.nn $LD
expect "nnc run without a command" 2 "nnc run needs a command" $NNC run examples/digits_mlp.nn
expect "nnc train with -o" 2 "takes no -o" $NNC train -o $L/x.c examples/digits_mlp.nn
expect "nnc train takes nnc options before the model" 0 "^epoch   1/1" \
    env CC=$L/cc.sh $NNC train --cc -D B=16 examples/digits_mlp.nn $LD --epochs 1
expect "a failing build is reported" 1 "the C compiler 'false' failed" \
    env CC=false XDG_CACHE_HOME=$L/cache3 $NNC train --cc examples/digits_mlp.nn $LD
[ -z "$(ls $L/cache3/nnc)" ] && pass "a failed build leaves nothing in the cache" || fail "a failed build left files"

# ---- the JIT ----
if $NNC --version | grep -q '^jit: '; then
    export XDG_CACHE_HOME=$L/jcache
    $L/aot train $LD --epochs 2 --save $L/aot.safetensors >/dev/null 2>&1
    $NNC train examples/digits_mlp.nn $LD --epochs 2 --save $L/jit.safetensors >$L/jit.log 2>&1
    if cmp -s $L/aot.safetensors $L/jit.safetensors && untimed $L/jit.log | cmp -s - $L/aot.u; then
        pass "the JIT trains the digits MLP to the AOT build's bytes"
    else fail "the JIT's digits MLP differs from the AOT build"; tail -n 4 $L/jit.log; fi
    obj=$(ls $L/jcache/nnc/digits_mlp-*.o 2>/dev/null)
    touch -d '2000-01-01' $obj
    $NNC train examples/digits_mlp.nn $LD --epochs 2 >$L/jwarm.log 2>&1
    if untimed $L/jwarm.log | cmp -s - $L/aot.u && [ -z "$(find $obj -newermt 2001-01-01)" ]; then
        pass "the JIT reuses its cached object"
    else fail "the JIT's warm run differs or compiled again"; fi
    M="--data examples/data/mnist/t10k-images-idx3-ubyte --labels examples/data/mnist/t10k-labels-idx1-ubyte"
    M="$M --epochs 1 --val-split 0.95 --seed 1"
    $NNC examples/lenet.nn --main -o $L/lenet.c && cc $CFLAGS99 $L/lenet.c $NNRT -lm -o $L/lenet &&
        $L/lenet train $M --save $L/lenet_aot.safetensors >/dev/null 2>&1
    $NNC train examples/lenet.nn $M --save $L/lenet_jit.safetensors >/dev/null 2>&1
    cmp -s $L/lenet_aot.safetensors $L/lenet_jit.safetensors && pass "the JIT trains LeNet to the AOT build's bytes" ||
        fail "the JIT's LeNet differs from the AOT build"
    expect "nnc train --jit of a bad model gives the diagnostics" 1 "bad.nn:[0-9]*:[0-9]*: error: unknown op 'relux'" \
        $NNC train --jit $L/bad.nn $LD
    printf 'not an object' >$obj
    expect "a broken cached object is one line" 1 "cannot load the object.*remove it to rebuild" \
        $NNC train examples/digits_mlp.nn $LD --epochs 1
else
    echo "SKIP the JIT tests: this nnc has no JIT (make JIT=1 needs LLVM and Clang's C++ libraries)"
    expect "nnc train --jit without the JIT" 1 "built without the JIT" $NNC train --jit examples/digits_mlp.nn $LD
fi
unset XDG_CACHE_HOME
