#!/bin/sh
# IR goldens: each tests/ir/X.nn is compiled with the flags on its
# "# flags:" line (default --emit=ir-train) and the printed IR must equal
# X.ir. Regenerate after a deliberate change with `tests/ir/run.sh --update`
# and review the diff: these files are how a pass's effect is reviewed.
cd "$(dirname "$0")/../.." || exit 2
NNC=${NNC:-build/nnc}
status=0
for nn in tests/ir/*.nn; do
    name=$(basename "$nn" .nn)
    flags=$(sed -n 's/^# flags: //p' "$nn" | head -1)
    [ -n "$flags" ] || flags="--emit=ir-train"
    # shellcheck disable=SC2086
    out=$("$NNC" $flags "$nn" 2>&1)
    rc=$?
    [ "$1" = "--update" ] && printf '%s\n' "$out" >"tests/ir/$name.ir"
    if [ $rc -ne 0 ]; then echo "FAIL ir $name: nnc exited $rc"; printf '%s\n' "$out"; status=1
    elif printf '%s\n' "$out" | diff -u "tests/ir/$name.ir" - >/dev/null; then echo "PASS ir $name"
    else echo "FAIL ir $name: IR differs"; printf '%s\n' "$out" | diff -u "tests/ir/$name.ir" -; status=1; fi
done
exit $status
