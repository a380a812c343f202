#!/bin/sh
# Builds the libFuzzer targets with ASan+UBSan and runs each from a seed
# corpus: fuzz_nnc (the whole compiler, seeds: every .nn file) for
# FUZZ_SECONDS (default 30), and the runtime's readers, fuzz_safetensors,
# fuzz_data (IDX, CSV, text) and fuzz_trainer_args (the trainer's argument
# parsing), for FUZZ_RT_SECONDS each (default 5). `make fuzz` runs every one
# for FUZZ_SECONDS (default 600). New inputs stay in build/fuzz/corpus*.
cd "$(dirname "$0")/../.." || exit 2
F=build/fuzz
mkdir -p $F/corpus $F/obj
SAN="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -g -O1"
CFLAGS="-std=c11 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L"
GENF="-Wno-unused-function -Wno-sign-compare -Wno-unused-parameter -Wno-unneeded-internal-declaration"
objs=""
for src in common/*.c frontend/*.c ir/*.c codegen/*.c codegen/*/*.c driver/compile.c; do
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
# fuzz NAME SECONDS ARGS...: run $F/NAME with libFuzzer ARGS (corpora, options); one PASS/FAIL line
fuzz() {
    name=$1 secs=$2; shift 2
    mkdir -p $F/artifacts
    $F/$name -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix=$F/artifacts/$name- "$@" >$F/$name.log 2>&1
    rc=$?
    grep -E "stat::number_of_executed_units|stat::new_units_added" $F/$name.log
    if [ $rc -eq 0 ]; then
        n=$(grep -o 'number_of_executed_units: [0-9]*' $F/$name.log | cut -d' ' -f2)
        echo "PASS fuzz $name: $n inputs in $secs s, no crash"
    else
        tail -n 40 $F/$name.log
        repro=$(ls -t $F/artifacts/$name-* 2>/dev/null | head -1)
        echo "FAIL fuzz $name: the fuzzer found a crash (exit $rc); reproducer in $repro"
        status=1
    fi
}
status=0
fuzz fuzz_nnc "${FUZZ_SECONDS:-30}" -dict=tests/fuzz/nn.dict $F/corpus $F/seeds

# ---- the runtime's readers -------------------------------------------------------
RT="-std=c99 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L"
rtobjs=""
for src in runtime/*.c; do
    o=$F/obj/$(echo "$src" | tr / _).o
    clang $RT $SAN -fsanitize=fuzzer-no-link -Iruntime -c "$src" -o "$o" || { echo "FAIL fuzz: build $src"; exit 1; }
    rtobjs="$rtobjs $o"
done
for h in fuzz_safetensors fuzz_data fuzz_trainer_args; do
    clang $RT $SAN -Iruntime -Itests/fuzz tests/fuzz/$h.c $rtobjs -lm -o $F/$h || { echo "FAIL fuzz: link $h"; exit 1; }
    mkdir -p $F/corpus-$h $F/seeds-$h
done
python3 - $F <<'PY'
import json, struct, sys
f = sys.argv[1]
def st(tensors, extra=b""):
    hdr, data = {"__metadata__": {"format": "pt"}}, b""
    for name, dt, shape, raw in tensors:
        hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data + extra
seeds = {
    "model": st([("w", "F32", [2, 3], struct.pack("<6f", *range(6))), ("b", "F32", [3], struct.pack("<3f", 1, 2, 3)),
                 ("s", "F64", [], struct.pack("<d", 0.5))]),
    "f64": st([("w", "F64", [2, 3], struct.pack("<6d", *range(6))), ("b", "F64", [3], struct.pack("<3d", 1, 2, 3)),
               ("s", "F32", [], struct.pack("<f", float("nan")))]),
    "other": st([("w", "BF16", [2, 3], bytes(12)), ("x", "U8", [4], b"abcd"), ("b", "I32", [3], bytes(12))]),
}
for k, v in seeds.items():
    open(f + "/seeds-fuzz_safetensors/" + k, "wb").write(v)
img = struct.pack(">IIII", 0x803, 2, 2, 3) + bytes(range(12))
lab = struct.pack(">II", 0x801, 2) + bytes([3, 4])
data = {"idx": b"\0\0" + img, "pair": b"\1" + img + lab, "f32idx": b"\0\0" + struct.pack(">II", 0xD01, 2) + bytes(8),
        "csv": b"\2\x05" + b"1,2,0\n3.5,-4e2,1\n", "csv2": b"\2\x86" + open("examples/data/xor/xor.csv", "rb").read(),
        "text": b"\3\0" + b"First Citizen:\nBefore we proceed any further, hear me speak.\n"}
for k, v in data.items():
    open(f + "/seeds-fuzz_data/" + k, "wb").write(v)
args = ["train\0--data\0x.csv\0--epochs\0003\0--lr=0.1\0--seed\018446744073709551615",
        "train\0--text\0t.txt\0--epochs\01\0--steps-per-epoch\05\0--val-split\00.2\0--save\0w",
        "sample\0--text\0t\0--load\0w\0--prompt\0ab\0--len\0100000000\0--temperature\01e-3",
        "eval\0--data\0d\0--labels\0l\0--load\0w\0--scale\00.0625\0--allow-nonfinite",
        "reconstruct\0--data\0d\0--load\0w\0--out\0g.pgm\0--count\016", "predict\0--help",
        # once a crash: a usage error whose text held "out of memory" was given exit status 1
        "eval\0--data\0d\0--classes\0002out of memory"]
for i, a in enumerate(args):
    open(f + "/seeds-fuzz_trainer_args/%d" % i, "wb").write(a.encode())
PY
RTS=${FUZZ_RT_SECONDS:-5}
fuzz fuzz_safetensors "$RTS" $F/corpus-fuzz_safetensors $F/seeds-fuzz_safetensors
fuzz fuzz_data "$RTS" $F/corpus-fuzz_data $F/seeds-fuzz_data
fuzz fuzz_trainer_args "$RTS" $F/corpus-fuzz_trainer_args $F/seeds-fuzz_trainer_args
exit $status
