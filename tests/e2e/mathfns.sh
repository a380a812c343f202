#!/bin/sh
# The math helpers of the generated C (nnc_expf, nnc_tanhf), taken from
# real nnc output (tiny_gpt's f32 code has both), checked by mathfns.c
# under UBSan (-fno-sanitize-recover: any undefined behaviour fails) with
# gcc and clang over every exponent, sign and special value; then the
# loops that call them must vectorize under gcc -O2 exactly where they do
# with a trivial helper in its place (the helpers cost no vectorization).
# Usage: sh tests/e2e/mathfns.sh [all]   (all: every one of the 2^32 floats, minutes)
# Run by tests/e2e/run.sh; prints PASS/FAIL lines.
cd "$(dirname "$0")/../.." || exit 2
NNC=${NNC:-build/nnc}
T=build/e2e/mathfns
mkdir -p $T
status=0
pass() { echo "PASS e2e $*"; }
fail() { echo "FAIL e2e $*"; status=1; }

$NNC examples/tiny_gpt.nn -o $T/gpt.c && $NNC examples/char_lstm.nn -o $T/lstm.c || { fail "mathfns: nnc"; exit 1; }
# the helper definitions as generated, each from its line to the closing brace
awk '/^static inline float nnc_(expf|tanhf)\(/, /^}/' $T/gpt.c >$T/mathfns_helpers.h
if [ "$(grep -c '^static inline float nnc_' $T/mathfns_helpers.h)" != 2 ]; then
    fail "mathfns: tiny_gpt's code lacks nnc_expf or nnc_tanhf"; exit 1
fi
SAN="-O1 -g -fsanitize=undefined,float-cast-overflow -fno-sanitize-recover=all"
for cc in gcc clang; do
    if ! $cc -std=c99 -Wall -Wextra -Werror $SAN -I$T tests/e2e/mathfns.c -lm -o $T/mathfns_$cc 2>$T/$cc.log; then
        fail "mathfns: does not build with $cc"; sed 's/^/    /' $T/$cc.log | head; continue
    fi
    if UBSAN_OPTIONS=print_stacktrace=1 $T/mathfns_$cc "$@" >$T/$cc.out 2>&1; then
        pass "nnc_expf, nnc_tanhf under $cc UBSan: $(tail -n 1 $T/$cc.out)"
    else
        fail "nnc_expf, nnc_tanhf under $cc UBSan"; sed 's/^/    /' $T/$cc.out | tail -n 12
    fi
done

# vecsites FILE.c: per call of a helper, whether gcc -O2 vectorized the loop around it
vecsites() {
    gcc -std=c99 -O2 -Iruntime -I$T -c "$1" -o /dev/null -fopt-info-vec-optimized 2>&1 |
        sed -n 's/^[^:]*:\([0-9]*\):[0-9]*: optimized: loop vectorized.*/\1/p' | sort -u >"$1.vec"
    awk -v V="$1.vec" 'BEGIN { while ((getline l < V) > 0) vec[l] = 1 }
        /for \(/ { loop = NR }
        /nnc_(expf|tanhf)\(/ && !/^static inline/ { print NR, (vec[loop] ? "vectorized" : "scalar") }' "$1"
}
for m in gpt lstm; do
    # the same file with each helper's body replaced by "return x;", same line numbers
    awk '/^static inline float nnc_(expf|tanhf)\(/ {
            sub(/\{$/, "{ return " ($0 ~ /nnc_tanhf/ ? "u" : "x") "; }"); print; skip = 1; next }
        skip && /^}/ { skip = 0; print ""; next }
        skip { print ""; next } { print }' $T/$m.c >$T/${m}_stub.c
    cp $T/$m.h $T/${m}_stub.h 2>/dev/null
    sed -i "s/#include \"$m.h\"/#include \"${m}_stub.h\"/" $T/${m}_stub.c
    vecsites $T/$m.c >$T/$m.sites
    vecsites $T/${m}_stub.c >$T/${m}_stub.sites
    n=$(grep -c vectorized $T/$m.sites)
    if [ "$n" -gt 0 ] && cmp -s $T/$m.sites $T/${m}_stub.sites; then
        pass "mathfns: $m's $n loops calling the helpers vectorize under gcc -O2 as with trivial helpers"
    else
        fail "mathfns: $m's loops calling the helpers vectorize differently (line, real helpers, trivial ones):"
        paste $T/$m.sites $T/${m}_stub.sites | awk '$2 != $4' | head | sed 's/^/    /'
    fi
done
exit $status
