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
# the GEMM of libnnrt.a on each path this CPU has, forced by linking build/nnrt_isa_ISA.o
# (runtime/isa/nnrt_isa.c, read by runtime/gemm_dispatch.c); the
# OpenMP split (same bits on 1, 2, 3 threads) with runtime/gemm.c built here for this CPU and -fopenmp
cpu_has() { for f in "$@"; do grep -qw "$f" /proc/cpuinfo 2>/dev/null || return 1; done; }
if build test_gemm $CC -std=c99 $W -D_POSIX_C_SOURCE=200809L -Iruntime tests/unit/test_gemm.c build/libnnrt.a $LIBS \
    -o $B/test_gemm; then
    run test_gemm
    for isa in avx512 avx2 c; do
        case $isa in
        avx512) need="avx512f avx512vl avx512bw avx512dq avx2 fma bmi1 bmi2" ;;
        avx2) need="avx2 fma" ;;
        c) need="" ;;
        esac
        if ! cpu_has $need; then echo "SKIP test_gemm_$isa: this CPU lacks some of: $need"; continue; fi
        build test_gemm_$isa $CC -std=c99 $W -D_POSIX_C_SOURCE=200809L -Iruntime tests/unit/test_gemm.c \
            build/nnrt_isa_$isa.o build/libnnrt.a $LIBS -o $B/test_gemm_$isa && run test_gemm_$isa
    done
fi
# the portable libnnrt: no AVX instruction outside the GEMM builds that gemm_dispatch.c guards
if nm build/libnnrt.a 2>/dev/null | grep -q ' D nnrt_gemm_c$'; then
    avx=$(objdump -d build/libnnrt.a | awk '/file format/ { m = $1 } /%[yz]mm|vfmadd/ { print m }' | sort -u |
        grep -v '^gemm\.avx512\.o:$' | grep -v '^gemm\.avx2\.o:$')
    [ -z "$avx" ] && echo "PASS portable: libnnrt.a has AVX instructions only in gemm.avx512.o and gemm.avx2.o" ||
        { echo "FAIL portable: AVX instructions in $avx"; status=1; }
fi
build test_gemm_omp $CC -std=c99 $W -march=native -fopenmp -D_POSIX_C_SOURCE=200809L -Iruntime tests/unit/test_gemm.c \
    runtime/gemm.c runtime/gemm_dispatch.c build/libnnrt.a $LIBS -o $B/test_gemm_omp && run test_gemm_omp
build test_frontend $CC -std=c11 $W -D_POSIX_C_SOURCE=200809L -Ibuild/gen -Ifrontend -Icommon tests/unit/test_frontend.c build/libnnc.a $LIBS -o $B/test_frontend && run test_frontend
build test_compiler $CC -std=c11 $W -D_POSIX_C_SOURCE=200809L tests/unit/test_compiler.c build/libnnc.a $LIBS -o $B/test_compiler && run test_compiler
build test_formula $CC -std=c11 $W tests/unit/test_formula.c build/libnnc.a $LIBS -o $B/test_formula && run test_formula
# the shape of codegen/: core plus one folder per target (tests/unit/targets.sh)
sh tests/unit/targets.sh || status=1
exit $status
