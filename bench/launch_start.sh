#!/bin/sh
# bench/launch_start.sh — cold and warm start of `nnc run MODEL.nn --help`
# (driver/launch.c): cold compiles the generated trainer with $CC (or cc), or
# with the in-process JIT where nnc has one, into an empty cache; warm finds
# the program (or the JIT's object) there and only runs it. Needs only nnc
# and libnnrt. Usage: sh bench/launch_start.sh [model.nn...] (default:
# examples/digits_mlp.nn examples/lenet.nn); $NNC_BUILD is the build folder.
cd "$(dirname "$0")/.." || exit 2
NNC=${NNC_BUILD:-build}/nnc
CACHE=$(mktemp -d) || exit 1
trap 'rm -rf "$CACHE"' EXIT
ms() { echo $(($(date +%s%N) / 1000000)); }
start() { # --cc|--jit MODEL: milliseconds of one `nnc run --cc|--jit MODEL --help`
    t0=$(ms)
    XDG_CACHE_HOME=$CACHE "$NNC" run "$1" "$2" --help >/dev/null || { echo "bench: nnc run $1 $2 failed" >&2; exit 1; }
    echo $(($(ms) - t0))
}
paths=--cc
if "$NNC" --version | grep -q '^jit: '; then paths="--cc --jit"
else echo "nnc run: this nnc has no JIT (make JIT=1); the cc path alone"; fi
for m in ${*:-examples/digits_mlp.nn examples/lenet.nn}; do
    for p in $paths; do
        cold=$(start $p "$m") && warm=$(start $p "$m") || exit 1
        printf 'nnc run %-5s %-26s cold start %6d ms   warm start %4d ms (cached)\n' "$p" "$m" "$cold" "$warm"
    done
done
