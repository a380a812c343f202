#!/bin/sh
# Builds the libFuzzer target over the whole compiler with ASan+UBSan and
# runs it for FUZZ_SECONDS (default 60) from a seed corpus of every .nn file
# in the project. New inputs it finds stay in build/fuzz/corpus.
cd "$(dirname "$0")/../.." || exit 2
F=build/fuzz
mkdir -p $F/corpus $F/obj
SAN="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -g -O1"
CFLAGS="-std=c11 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L"
GENF="-Wno-unused-function -Wno-sign-compare -Wno-unused-parameter -Wno-unneeded-internal-declaration"
objs=""
for src in common/*.c frontend/*.c ir/*.c codegen/c/*.c codegen/cuda/*.c driver/compile.c; do
    o=$F/obj/$(echo "$src" | tr / _).o
    clang $CFLAGS $SAN -fsanitize=fuzzer-no-link -Ibuild/gen -Ifrontend -Icommon -c "$src" -o "$o" || { echo "FAIL fuzz: build $src"; exit 1; }
    objs="$objs $o"
done
for g in parser lexer; do
    clang $CFLAGS $GENF $SAN -Ibuild/gen -Ifrontend -Icommon -c build/gen/$g.c -o $F/obj/gen_$g.o || { echo "FAIL fuzz: build $g"; exit 1; }
    objs="$objs $F/obj/gen_$g.o"
done
clang $CFLAGS $SAN tests/fuzz/fuzz_nnc.c $objs -lm -o $F/fuzz_nnc || { echo "FAIL fuzz: link"; exit 1; }
mkdir -p $F/seeds
for nn in examples/*.nn tests/*/*.nn; do cp "$nn" "$F/seeds/$(echo "$nn" | tr / _)"; done
$F/fuzz_nnc -max_total_time="${FUZZ_SECONDS:-60}" -timeout=10 -rss_limit_mb=2048 -dict=tests/fuzz/nn.dict \
    -print_final_stats=1 $F/corpus $F/seeds >$F/fuzz.log 2>&1
rc=$?
grep -E "stat::number_of_executed_units|stat::new_units_added" $F/fuzz.log
if [ $rc -eq 0 ]; then
    echo "PASS fuzz: $(grep -o 'number_of_executed_units: [0-9]*' $F/fuzz.log | cut -d' ' -f2) inputs in ${FUZZ_SECONDS:-60} s, no crash"
else
    tail -n 40 $F/fuzz.log
    echo "FAIL fuzz: the fuzzer found a crash (exit $rc); reproducer in $(ls -t crash-* leak-* timeout-* 2>/dev/null | head -1)"
fi
exit $rc
