#!/bin/sh
# The shape of codegen/: a target-independent core/ plus one folder per
# target, joined only by the target table (codegen/targets.def, targets.c).
#
#   independent   no include of another target's folder (or of a target's
#                 from core/), and no undefined symbol of a folder's objects
#                 (build/obj/codegen/DIR/*.o, by nm) that another target's
#                 objects define; core/ may use no target's symbols. Also
#                 run on a made-up tree with such a call and such an
#                 include, where it must find both.
#   sched         a new target is one folder and one row: a copy of the
#                 tree gets codegen/sched/ (tests/unit/sched/emit.c) and a
#                 line in targets.def, nothing else; it builds, the copy is
#                 still independent, nnc --help lists sched, and
#                 nnc --target=sched writes model.txt with the kernels
#                 --emit=kernels lists.
# Env: B (build folder, default build).
cd "$(dirname "$0")/../.." || exit 2
B=${B:-build}
T=$B/targets-test
rm -rf $T && mkdir -p $T
status=0
pass() { echo "PASS targets: $*"; }
fail() { echo "FAIL targets: $*"; status=1; }

# independent SRC OBJ: prints one line per include or symbol that crosses
# from one folder of SRC/codegen to another target's (objects in OBJ/codegen).
independent() {
    src=$1 obj=$2
    dirs=$(cd "$src/codegen" && for d in */; do echo "${d%/}"; done)
    for d in $dirs; do
        : >"$T/def.$d"
        : >"$T/und.$d"
        for f in "$src/codegen/$d"/*.c; do
            o="$obj/codegen/$d/$(basename "$f" .c).o"
            if [ ! -f "$o" ]; then echo "$o: not built"; continue; fi
            nm --defined-only -g "$o" | awk 'NF >= 3 {print $3}' >>"$T/def.$d"
            nm -u "$o" | awk '{print $NF}' >>"$T/und.$d"
        done
        sort -u -o "$T/def.$d" "$T/def.$d"
        sort -u -o "$T/und.$d" "$T/und.$d"
    done
    for d in $dirs; do
        for u in $dirs; do
            [ "$u" = "$d" ] || [ "$u" = core ] && continue
            comm -12 "$T/und.$d" "$T/def.$u" | sed "s|^|codegen/$d uses codegen/$u's |"
            for f in "$src/codegen/$d"/*.[ch]; do
                sed -n 's/^#include "\(.*\)".*/\1/p' "$f" | while read -r inc; do
                    case $(realpath -m "$(dirname "$f")/$inc") in
                    "$(realpath -m "$src/codegen/$u")"/*) echo "$f includes $inc (codegen/$u)" ;;
                    esac
                done
            done
        done
    done
}

# ---- the tree as built ----------------------------------------------------
independent . "$B/obj" >$T/real.log
if [ -s $T/real.log ]; then fail "codegen/ folders call or include each other"; sed 's/^/    /' $T/real.log
else pass "core and $(ls -d codegen/*/ | grep -vc core) targets: no include or symbol of one target in another or in core"; fi

# ---- a made-up tree that crosses: the check must see it ---------------------
M=$T/made
mkdir -p $M/codegen/core $M/codegen/a $M/codegen/b $M/obj/codegen/core $M/obj/codegen/a $M/obj/codegen/b
echo 'int core_fn(int x) { return x + 1; }' >$M/codegen/core/k.c
echo 'int b_fn(int x);' >$M/codegen/b/b.h
printf '#include "b.h"\nint core_fn(int x);\nint b_fn(int x) { return core_fn(x) * 2; }\n' >$M/codegen/b/y.c
printf '#include "../b/b.h"\nint core_fn(int x);\nint a_fn(int x) { return b_fn(x) + core_fn(x); }\n' >$M/codegen/a/x.c
for f in core/k a/x b/y; do gcc -c $M/codegen/$f.c -o $M/obj/codegen/$f.o; done
independent $M $M/obj >$T/made.log
if grep -q "codegen/a uses codegen/b's b_fn" $T/made.log && grep -q 'x.c includes ../b/b.h' $T/made.log &&
    [ "$(wc -l <$T/made.log)" -eq 2 ]; then
    pass "a call and an include from one target into another are found"
else fail "the check misses a call or include across targets"; sed 's/^/    /' $T/made.log; fi

# ---- a new target: one folder and one row -----------------------------------
C=$T/tree
mkdir -p $C/build
cp -rp Makefile common frontend ir codegen driver runtime onnx $C/
cp -rp $B/obj $B/gen $C/build/ 2>/dev/null # only to build less
mkdir $C/codegen/sched
cp tests/unit/sched/emit.c $C/codegen/sched/
echo 'TARGET("sched", "the kernel schedule, one line per kernel (a test)", "txt", "the schedule", cg_is_reserved,' \
    'sched_emit)' >>$C/codegen/targets.def
diff -r codegen $C/codegen >$T/edit.diff
if [ "$(grep -c '^Only in\|^diff' $T/edit.diff)" -eq 2 ] && grep -q "^Only in $C/codegen: sched" $T/edit.diff &&
    [ "$(grep -c '^[<>]' $T/edit.diff)" -eq 1 ] && grep -q '^> TARGET("sched"' $T/edit.diff; then
    pass "the sched target is codegen/sched/ and one row of codegen/targets.def"
else fail "the sched target edits more than its folder and its row"; sed 's/^/    /' $T/edit.diff; fi
if ! make -s -C $C B=build build/nnc >$T/make.log 2>&1; then
    fail "the tree with the sched target does not build"; sed 's/^/    /' $T/make.log | head -20
else
    independent $C $C/build/obj >$T/copy.log
    if [ -s $T/copy.log ]; then fail "the sched target uses another target"; sed 's/^/    /' $T/copy.log
    else pass "the sched target uses only codegen/core/"; fi
    if $C/build/nnc --help | grep -q '^ *sched  *the kernel schedule'; then pass "nnc --help lists the sched target"
    else fail "nnc --help does not list the sched target"; fi
    mkdir -p $T/run && cp examples/xor.nn $T/run/
    if (cd $T/run && ../tree/build/nnc --target=sched xor.nn) 2>$T/sched.log && [ -f $T/run/xor.txt ]; then
        build/nnc --emit=kernels examples/xor.nn |
            awk '/kernels$/ {e = $1; sub(":", "", e)} /^  k/ {print e, $1}' >$T/want.txt
        grep -v '^#' $T/run/xor.txt | awk '{print $1, $2}' >$T/got.txt
        if [ -s $T/want.txt ] && cmp -s $T/want.txt $T/got.txt; then
            pass "nnc --target=sched writes xor.txt: the kernels of --emit=kernels ($(wc -l <$T/got.txt) lines)"
        else fail "nnc --target=sched's schedule is not --emit=kernels'"; diff $T/want.txt $T/got.txt | head; fi
    else fail "nnc --target=sched xor.nn fails or writes no xor.txt"; cat $T/sched.log; fi
    if $C/build/nnc --target=fortran examples/xor.nn 2>&1 | grep -q "unknown target 'fortran' (c, cuda, sched)"; then
        pass "an unknown target lists the table's targets"
    else fail "an unknown target does not list c, cuda, sched"; fi
fi
exit $status
