#!/bin/sh
# Builds and runs the CUnit programs; one PASS/FAIL line per CUnit test.
# Then targets.sh: codegen/'s targets are independent; a new one is a folder and a row.
cd "$(dirname "$0")/../.." || exit 2
B=build/unit
mkdir -p $B
CC=${CC:-gcc}
W="-Wall -Wextra -Werror -g -O1"
LIBS="-lcunit -lm"
status=0
build() { # name, command...
    name=$1; shift
    if ! "$@" 2>$B/$name.build.log; then
        echo "FAIL $name: does not build"; cat $B/$name.build.log; status=1; return 1
    fi
}
run() { # name: run build/unit/name, turn CUnit's verbose output into lines
    name=$1
    ./$B/$name >$B/$name.log 2>&1
    rc=$?
    sed -n 's/^ *Test: \(.*\) \.\.\.passed$/PASS '"$name"': \1/p; s/^ *Test: \(.*\) \.\.\.FAILED$/FAIL '"$name"': \1/p' $B/$name.log
    if [ $rc -ne 0 ]; then
        grep -E '^ +[0-9]+\. ' $B/$name.log | head -20
        grep -q '\.\.\.FAILED' $B/$name.log || echo "FAIL $name: exited with status $rc"
        status=1
    fi
}
build test_runtime $CC -std=c99 $W -D_POSIX_C_SOURCE=200809L -Iruntime tests/unit/test_runtime.c build/libnnrt.a $LIBS -o $B/test_runtime && run test_runtime
build test_files $CC -std=c99 $W -D_POSIX_C_SOURCE=200809L -Iruntime tests/unit/test_files.c build/libnnrt.a \
    $LIBS -o $B/test_files && run test_files
build test_augment $CC -std=c99 $W -D_POSIX_C_SOURCE=200809L -Iruntime tests/unit/test_augment.c build/libnnrt.a \
    $LIBS -o $B/test_augment && run test_augment
build test_gemm $CC -std=c99 $W -march=native -D_POSIX_C_SOURCE=200809L -Iruntime tests/unit/test_gemm.c build/libnnrt.a $LIBS -o $B/test_gemm && run test_gemm
build test_gemm_c $CC -std=c99 $W -D_POSIX_C_SOURCE=200809L -Iruntime tests/unit/test_gemm.c runtime/gemm.c build/libnnrt.a $LIBS -o $B/test_gemm_c && run test_gemm_c
# the AVX2+FMA micro-kernel, and the OpenMP split (same bits on 1, 2, 3 threads)
build test_gemm_avx2 $CC -std=c99 $W -mavx2 -mfma -D_POSIX_C_SOURCE=200809L -Iruntime tests/unit/test_gemm.c runtime/gemm.c build/libnnrt.a $LIBS -o $B/test_gemm_avx2 && run test_gemm_avx2
build test_gemm_omp $CC -std=c99 $W -march=native -fopenmp -D_POSIX_C_SOURCE=200809L -Iruntime tests/unit/test_gemm.c runtime/gemm.c build/libnnrt.a $LIBS -o $B/test_gemm_omp && run test_gemm_omp
build test_frontend $CC -std=c11 $W -D_POSIX_C_SOURCE=200809L -Ibuild/gen -Ifrontend -Icommon tests/unit/test_frontend.c build/libnnc.a $LIBS -o $B/test_frontend && run test_frontend
build test_compiler $CC -std=c11 $W -D_POSIX_C_SOURCE=200809L tests/unit/test_compiler.c build/libnnc.a $LIBS -o $B/test_compiler && run test_compiler
build test_formula $CC -std=c11 $W tests/unit/test_formula.c build/libnnc.a $LIBS -o $B/test_formula && run test_formula
# the shape of codegen/: core plus one folder per target (tests/unit/targets.sh)
sh tests/unit/targets.sh || status=1
exit $status
