#!/bin/sh
# Finite-difference gradient checks: every tests/gradcheck/*.nn is compiled
# to double-precision C, linked with harness.c and libnnrt, and its analytic
# gradients (P_forward_backward_v) are compared with central differences of
# P_loss_v. Each model runs at the default optimization level and at -O0
# (no constant folding, so the adjoints of constant gradients run as
# kernels, and no fusion: every op its own kernel). Then a coverage check: every op of ir/ops.def except the sources
# must appear in the training graph (--emit=ir-train) of some model.
#
# A model's harness arguments: the number of `target` declarations gives
# --targets; a line "# gradcheck-args: ..." in the model adds more
# (--classes C for i32 labels, --range LO HI for the inputs). A model with
# several objectives has a line "# gradcheck-objective: NAME ARGS" per
# objective: each is built with --objective NAME and checked with ARGS.
#
# Usage: tests/gradcheck/run.sh       env: NNC (default build/nnc), NNRT
# (default libnnrt.a beside NNC), CC (default gcc), GRADCHECK_LEVELS
# (default "-O2 -O0"), GRADCHECK_SEED (default 1: model init and data),
# GRADCHECK_CFLAGS (extra flags for the harness, e.g. -DGC_FLOOR=1e-3).
# Prints PASS/FAIL lines and a summary; exit 1 on a failure, 2 when nnc or
# the runtime library is missing.
cd "$(dirname "$0")/../.." || exit 2
NNC=${NNC:-build/nnc}
NNRT=${NNRT:-$(dirname "$NNC")/libnnrt.a}
CC=${CC:-gcc}
LEVELS=${GRADCHECK_LEVELS:-"-O2 -O0"}
SEED=${GRADCHECK_SEED:-1}
CFLAGS="-std=c99 -O1 -Wall -Wextra -Werror -Iruntime ${GRADCHECK_CFLAGS:-}"
DIR=tests/gradcheck

for f in "$NNC" "$NNRT"; do
    if [ ! -f "$f" ]; then
        echo "gradcheck: $f not found (run make all, or set NNC and NNRT)" >&2
        exit 2
    fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gradcheck.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

pass=0
fail=0
ok() { echo "PASS $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }
show() { sed 's/^/    /' "$1" | tail -n 40; }

obj_nnc= obj_args=
: >"$tmp/ops.txt"
# check FILE LEVEL LABEL [CFLAGS...]: build the model at nnc LEVEL with the
# harness (plus CFLAGS) and run the gradient check
check() {
    f=$1 level=$2 label=$3
    shift 3
    name=$(basename "$f" .nn)
    args=$(sed -n 's/^# gradcheck-args://p' "$f")
    ntargets=$(grep -c '^[[:space:]]*target[[:space:]]' "$f")
    d=$tmp/$name$level$(echo "$*" | tr -c 'a-zA-Z0-9\n' _)
    mkdir -p "$d"
    # shellcheck disable=SC2086 # obj_nnc is a word list
    if ! "$NNC" "$f" --dtype f64 "$level" $obj_nnc --name "$name" -o "$d/$name.c" >"$d/log" 2>&1; then
        bad "$label: nnc failed"
        show "$d/log"
        return
    fi
    # shellcheck disable=SC2086 # CC and CFLAGS are word lists
    grep -q "^int ${name}_input_grad(" "$d/$name.h" && set -- "$@" -DHAS_INPUT_GRAD=1
    if ! $CC $CFLAGS "$@" -I"$d" -DMODEL="$name" -include "$d/$name.h" "$DIR/harness.c" "$d/$name.c" \
        "$NNRT" -lm -o "$d/check" >"$d/log" 2>&1; then
        bad "$label: the harness does not compile"
        show "$d/log"
        return
    fi
    # shellcheck disable=SC2086 # args is a word list
    "$d/check" --seed "$SEED" --targets "$ntargets" $args $obj_args >"$d/log" 2>&1
    rc=$?
    summary=$(grep "^$name: max rel err" "$d/log" | sed "s/^$name: //")
    if [ "$rc" -eq 0 ]; then
        ok "$label: $summary"
    else
        bad "$label: ${summary:-exit status $rc}"
        show "$d/log"
    fi
}

for f in "$DIR"/*.nn; do
    name=$(basename "$f" .nn)
    # the ops of the training graph, at the default level, for coverage:
    # with fusion (the fused ops) and without (the ops inside them)
    for fuse in "" --no-fuse; do
        if "$NNC" "$f" --emit=ir-train $fuse >"$tmp/$name.ir" 2>&1; then
            sed -n 's/^ *%[0-9]* : [^=]*= \([a-z_][a-z_0-9]*\)(.*/\1/p' "$tmp/$name.ir" >>"$tmp/ops.txt"
        fi
    done
    # several objectives: each line "# gradcheck-objective: NAME ARGS" checks
    # the build of objective NAME (--objective NAME) with harness ARGS
    objs=$(sed -n 's/^# gradcheck-objective: *\([a-z_0-9]*\).*/\1/p' "$f")
    for obj in ${objs:-""}; do
        obj_nnc=${obj:+--objective $obj}
        obj_args=$(sed -n "s/^# gradcheck-objective: *$obj //p" "$f")
        [ -n "$obj" ] || obj_args=
        # the ops of an objective's training graph, for coverage
        [ -z "$obj" ] || "$NNC" "$f" --emit=ir-train $obj_nnc 2>/dev/null |
            sed -n 's/^ *%[0-9]* : [^=]*= \([a-z_][a-z_0-9]*\)(.*/\1/p' >>"$tmp/ops.txt"
        for level in $LEVELS; do
            label=$name${obj:+ [$obj]}
            [ "$level" = -O2 ] || label="$label $level"
            check "$f" "$level" "$label"
        done
    done
    obj_nnc= obj_args=
done

# ---- the conv kernels' ISA branches (codegen/c/k_conv.c) ----------------------
# The builds above (no -march) take the SSE2 branch on x86-64. The conv
# models again, for the other branches this CPU runs: -march=native (the
# widest it has), x86-64-v3 (AVX2 with FMA), and the direct loops
# (-DNNC_NO_VECTOR_EXT, which other ISAs and compilers get).
isa_builds="-DNNC_NO_VECTOR_EXT"
if [ "$(uname -m)" = x86_64 ]; then
    isa_builds="$isa_builds -march=native"
    grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo && isa_builds="$isa_builds -march=x86-64-v3"
fi
for f in "$DIR"/gc_conv_*.nn; do
    for b in $isa_builds; do
        check "$f" -O2 "$(basename "$f" .nn) $b" "$b"
    done
done

# ---- coverage: every non-source op of ir/ops.def in some training graph ----
nops=0
missing=0
# shellcheck disable=SC2013 # op names are single words
for op in $(sed -n 's/^OP([A-Z_0-9]*, *"\([a-z_0-9]*\)".*/\1/p' ir/ops.def); do
    case $op in input | param | const) continue ;; esac
    nops=$((nops + 1))
    if ! grep -qx "$op" "$tmp/ops.txt"; then
        bad "coverage: op '$op' (ir/ops.def) is in no gradcheck model's training graph"
        missing=$((missing + 1))
    fi
done
if [ "$nops" -eq 0 ]; then
    bad "coverage: no ops found in ir/ops.def"
elif [ "$missing" -eq 0 ]; then
    ok "coverage: all $nops ops of ir/ops.def are in the training graphs"
fi

echo "gradcheck: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
