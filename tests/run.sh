#!/bin/sh
# Runs every test suite of nnc (make test). Each suite prints lines starting
# with "PASS " or "FAIL "; this counts them and ends with "N passed, M failed".
# Usage: tests/run.sh [suite...]   suites: unit diag ir docs e2e install cross faults mpi gradcheck parity fuzz asan
#        cuda cudaemu
# (a suite that cannot run here prints a "SKIP " line, shown but not counted)
cd "$(dirname "$0")/.." || exit 2
suites=${*:-"unit diag ir docs e2e install cross faults mpi gradcheck parity fuzz asan cuda cudaemu"}
log=build/test-logs
mkdir -p "$log"
pass=0
fail=0
for s in $suites; do
    echo "== $s"
    start=$(date +%s)
    sh "tests/$s/run.sh" >"$log/$s.log" 2>&1
    rc=$?
    grep -E '^(PASS|FAIL|SKIP) ' "$log/$s.log"
    p=$(grep -c '^PASS ' "$log/$s.log")
    f=$(grep -c '^FAIL ' "$log/$s.log")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL $s: the suite exited with status $rc (log: $log/$s.log)"
        tail -n 20 "$log/$s.log"
        f=1
    fi
    echo "   $s: $p passed, $f failed ($(($(date +%s) - start)) s)"
    pass=$((pass + p))
    fail=$((fail + f))
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
