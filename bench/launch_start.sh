#!/bin/sh
# bench/launch_start.sh — cold and warm start of `nnc run MODEL.nn --help`
# (driver/launch.c): cold compiles the generated trainer with $CC (or cc)
# into an empty cache, warm finds it there and only runs it. Needs only nnc
# and libnnrt. Usage: sh bench/launch_start.sh [model.nn...] (default:
# examples/digits_mlp.nn examples/lenet.nn); $NNC_BUILD is the build folder.
cd "$(dirname "$0")/.." || exit 2
NNC=${NNC_BUILD:-build}/nnc
CACHE=$(mktemp -d) || exit 1
trap 'rm -rf "$CACHE"' EXIT
ms() { echo $(($(date +%s%N) / 1000000)); }
start() { # MODEL: milliseconds of one `nnc run MODEL --help`
    t0=$(ms)
    XDG_CACHE_HOME=$CACHE "$NNC" run "$1" --help >/dev/null || { echo "bench: nnc run $1 failed" >&2; exit 1; }
    echo $(($(ms) - t0))
}
for m in ${*:-examples/digits_mlp.nn examples/lenet.nn}; do
    cold=$(start "$m") && warm=$(start "$m") || exit 1
    printf 'nnc run %-26s cold start %6d ms (cc build)   warm start %4d ms (cached)\n' "$m" "$cold" "$warm"
done
