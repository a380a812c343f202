# tests/e2e/freestanding.sh — sourced by tests/e2e/run.sh after infer.sh (uses its
# weights in $T/infer, and NNC, NNRT, T, CFLAGS99, expect, pass and fail):
# `--freestanding --weights` builds.
#
# For each model: the generated files include no stdio.h or stdlib.h; the C
# file compiles with -ffreestanding under gcc and clang (-std=c99 -Wall
# -Wextra -Werror); linked (-nostdlib -r) with libnnrt_core.a it needs
# nothing but memcpy, memset and the libm functions of its ops (sqrtf for
# batch norm); tests/e2e/freestanding.c gives the same
# output bytes against it as against the hosted --weights build with
# libnnrt.a on the portable GEMM (linked with nnrt_isa_c.o: the same kernels, the
# workspace in the block instead of the stack); and scripts/stack-usage.py
# reports the forward pass's stack high-water mark (-fcallgraph-info=su),
# which the estimate of --stats (the largest local arrays of a kernel +
# 4096 bytes; nnc runs no C compiler) must bound, within 2x + 4096 bytes;
# --stats also says how to measure it.
I=$T/infer
F=$T/freestanding
CORE=$(dirname "$NNRT")/libnnrt_core.a
mkdir -p $F/fs $F/emb
for mb in lenet:1 lenet:16 digits_mlp: resnet_tiny:2; do
    m=${mb%:*} b=${mb#*:}
    D=${b:+-D B=$b}
    log=$F/$m$b.log
    ok=1
    $NNC $D examples/$m.nn --freestanding --weights $I/$m.safetensors --name net --stats -o $F/fs/net.c 2>$log &&
        $NNC $D examples/$m.nn --weights $I/$m.safetensors --name net -o $F/emb/net.c 2>>$log || ok=0
    if [ $ok = 1 ] && grep -q "#include <std\(io\|lib\)\.h>" $F/fs/net.c $F/fs/net.h; then
        ok=0; echo "stdio.h or stdlib.h included" >>$log
    fi
    for cc in gcc clang; do
        [ $ok = 1 ] && $cc $CFLAGS99 -ffreestanding -c $F/fs/net.c -o $F/fs/net.$cc.o 2>>$log || ok=0
    done
    if [ $ok = 1 ] && gcc -nostdlib -r $F/fs/net.gcc.o $CORE -o $F/fs/linked.o 2>>$log; then
        undef=$(nm -u $F/fs/linked.o | awk '{print $2}' | grep -v '^\(memcpy\|memset\)$')
        libm=$(echo "$undef" | grep '^\(sqrt\|exp\|log\|tanh\|pow\|erf\)f$' | tr '\n' ' ' | sed 's/ $//')
        extra=$(echo "$undef" | grep -v '^\(sqrt\|exp\|log\|tanh\|pow\|erf\)f$' | tr '\n' ' ')
        [ -z "${extra% }" ] || { ok=0; echo "undefined beyond memcpy, memset and libm: $extra" >>$log; }
    else ok=0; fi
    [ $ok = 1 ] && gcc $CFLAGS99 -I$F/fs tests/e2e/freestanding.c $F/fs/net.gcc.o $CORE -lm -o $F/fs/run 2>>$log &&
        gcc $CFLAGS99 -I$F/emb tests/e2e/freestanding.c $F/emb/net.c $(dirname "$NNRT")/nnrt_isa_c.o $NNRT -lm \
            -o $F/emb/run 2>>$log && $F/fs/run >$F/fs.out 2>>$log && $F/emb/run >$F/emb.out 2>>$log || ok=0
    [ $ok = 1 ] && ! cmp -s $F/fs.out $F/emb.out && { ok=0; echo "outputs differ" >>$log; }
    ws=$(sed -n 's/.* holds \([0-9]*\) bytes of GEMM workspace.*/\1/p' $F/fs/net.h)
    stack=
    if [ $ok = 1 ]; then
        (cd $F && gcc -std=c99 -O2 -Iruntime -I$OLDPWD/runtime -ffreestanding -fno-ipa-icf -fcallgraph-info=su \
            -c fs/net.c -o su.o && for f in gemm gemm_dispatch; do
                gcc -std=c99 -O2 -I$OLDPWD/runtime -ffreestanding -DNNRT_FREESTANDING -fcallgraph-info=su \
                    -c $OLDPWD/runtime/$f.c -o $f.o || exit 1
            done) 2>>$log && stack=$(python3 scripts/stack-usage.py net_forward $F/su.ci $F/gemm.ci \
            $F/gemm_dispatch.ci 2>>$log) || ok=0
    fi
    est=$(sed -n "s/.*stack .*estimated: \([0-9]*\) bytes.*/\1/p" $log)
    measured=$(echo "$stack" | sed -n 's/^net_forward: \([0-9]*\) bytes.*/\1/p')
    if [ $ok = 1 ] && ! [ "${est:-0}" -ge "${measured:-1}" -a "${est:-0}" -le $((2 * ${measured:-0} + 4096)) ]; then
        ok=0; echo "--stats estimates the stack at ${est:-nothing} bytes, measured $measured: not in [measured," \
            "2 measured + 4096]" >>$log
    fi
    if [ $ok = 1 ]; then pass "$m ${D:+($D) }--freestanding: same bytes as hosted, workspace $ws bytes," \
        "libm: ${libm:-none}, stack ${stack#net_forward: }, --stats estimate $est"
    else fail "$m ${D:+($D) }--freestanding"; sed 's/^/    /' $log | tail -n 12; fi
done
expect "--stats of a --freestanding build says how to measure the forward's stack" 0 \
    "stack .*-fcallgraph-info=su, then scripts/stack-usage.py net_forward" \
    $NNC -D B=1 examples/lenet.nn --freestanding --weights $I/lenet.safetensors --name net --stats -o $F/stats.c
expect "--freestanding without --weights" 1 "--freestanding needs --weights" \
    $NNC examples/xor.nn --freestanding -o $F/bad.c
expect "--freestanding with an embedding" 1 "--freestanding: model .tiny_gpt. uses embedding" \
    $NNC examples/tiny_gpt.nn --freestanding --weights $F/none.safetensors -o $F/bad.c
