#!/bin/sh
# Diagnostic goldens: each tests/diag/X.nn must make nnc exit 1 with exactly
# the messages in X.err (a line "# diag-args: ..." in X.nn adds nnc options).
# Regenerate after a deliberate change with
#   tests/diag/run.sh --update   (then review the diff).
cd "$(dirname "$0")/../.." || exit 2
NNC=${NNC:-build/nnc}
status=0
for nn in tests/diag/*.nn; do
    name=$(basename "$nn" .nn)
    err=tests/diag/$name.err
    args=$(sed -n 's/^# diag-args://p' "$nn") # more nnc options, e.g. --objective NAME
    # shellcheck disable=SC2086 # args is a word list
    out=$(NO_COLOR=1 "$NNC" --emit=ir $args "$nn" 2>&1 >/dev/null)
    rc=$?
    if [ "$1" = "--update" ]; then printf '%s\n' "$out" >"$err"; fi
    if [ $rc -ne 1 ]; then
        echo "FAIL diag $name: exit status $rc, expected 1"; status=1
    elif [ ! -f "$err" ]; then
        echo "FAIL diag $name: no $err"; status=1
    elif ! printf '%s\n' "$out" | diff -u "$err" - >/dev/null; then
        echo "FAIL diag $name: messages differ"; printf '%s\n' "$out" | diff -u "$err" -; status=1
    else
        echo "PASS diag $name"
    fi
done
exit $status
