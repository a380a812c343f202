#!/bin/sh
# Runs every test suite of nnc (make test). Each suite prints lines starting
# with "PASS " or "FAIL "; this counts them and ends with "N passed, M failed".
# Usage: tests/run.sh [suite...]   suites: unit diag ir docs e2e onnx_export install cross faults mpi gradcheck
#        parity onnx fuzz asan cuda cudaemu
# (a suite that cannot run here prints a "SKIP " line, shown but not counted)
# The suites of $lane (time-bound fuzzing, nvcc builds, the CUDA emulation,
# the finite-difference checks, the ASan builds: each in its own build or
# temporary folder, one core each) run one after another beside the others,
# so a 2-core machine keeps both cores busy (about 8 minutes of suites in
# each lane); every suite's lines
# are still printed in the order above, when it is done.
cd "$(dirname "$0")/.." || exit 2
suites=${*:-"unit diag ir docs e2e onnx_export install cross faults mpi gradcheck parity onnx fuzz asan cuda cudaemu"}
log=build/test-logs
mkdir -p "$log"
pass=0
fail=0
# run_suite NAME: its output into $log/NAME.log, "status seconds" into $log/NAME.rc
run_suite() {
    start=$(date +%s)
    sh "tests/$1/run.sh" >"$log/$1.log" 2>&1
    echo "$? $(($(date +%s) - start))" >"$log/$1.rc"
}
lane=""
for s in $suites; do
    rm -f "$log/$s.rc"
    case " fuzz gradcheck asan cuda cudaemu " in *" $s "*) lane="$lane $s" ;; esac
done
[ -n "$lane" ] && (for s in $lane; do run_suite "$s"; done) &
for s in $suites; do
    echo "== $s"
    case " $lane " in
    *" $s "*) while [ ! -f "$log/$s.rc" ]; do sleep 1; done ;;
    *) run_suite "$s" ;;
    esac
    read -r rc secs <"$log/$s.rc"
    grep -E '^(PASS|FAIL|SKIP) ' "$log/$s.log"
    p=$(grep -c '^PASS ' "$log/$s.log")
    f=$(grep -c '^FAIL ' "$log/$s.log")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL $s: the suite exited with status $rc (log: $log/$s.log)"
        tail -n 20 "$log/$s.log"
        f=1
    fi
    echo "   $s: $p passed, $f failed ($secs s)"
    pass=$((pass + p))
    fail=$((fail + f))
done
wait
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
