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

# -fdiagnostics-format=json|sarif and -fdiagnostics-color=always: goldens in
# tests/diag/format/ (NAME.json, NAME.sarif, NAME.color) for some of the
# models above; JSON and SARIF output must also parse as JSON.
for g in block_shape.json block_shape.sarif multi_errors.json multi_errors.sarif lex_stray_char.json \
    block_shape.color name_unknown.color; do
    name=${g%.*} kind=${g##*.} gold=tests/diag/format/$g
    case $kind in
    color) out=$("$NNC" -fdiagnostics-color=always --emit=ir tests/diag/$name.nn 2>&1 >/dev/null) ;;
    *) out=$(NO_COLOR=1 "$NNC" -fdiagnostics-format=$kind --emit=ir tests/diag/$name.nn 2>&1 >/dev/null) ;;
    esac
    rc=$?
    if [ "$1" = "--update" ]; then printf '%s\n' "$out" >"$gold"; fi
    if [ $rc -ne 1 ]; then
        echo "FAIL diag $g: exit status $rc, expected 1"; status=1
    elif ! printf '%s\n' "$out" | diff -u "$gold" - >/dev/null; then
        echo "FAIL diag $g: output differs"; printf '%s\n' "$out" | diff -u "$gold" -; status=1
    elif [ $kind != color ] && ! printf '%s\n' "$out" | python3 -m json.tool >/dev/null; then
        echo "FAIL diag $g: not JSON"; status=1
    else
        echo "PASS diag $g"
    fi
done
exit $status
