#!/bin/sh
# The CUDA target's training API without a GPU: tests/cudaemu/sched_clip.nn
# (a learning-rate schedule with warmup, clipping by global norm) generated
# for both targets; the CUDA file's kernel launches are rewritten for the
# CPU emulation of mock/ (as emit.c does for single kernels) and linked with
# runtime/cuda/nnrt_cuda.cu built the same way; train.cpp runs both models
# on the same batches and compares rate, loss, gradient norm and parameters
# per step (also clipping by value, and a schedule set at run time). f64 and
# f32; tolerance of max |c - cuda| / (1 + |c|): 1e-12 in f64, 1e-5 in f32
# (sums in another order, as in the kernel tests of run.sh).
# Env: B (build folder, default build), CUDAEMU_SAN (more compile flags).
cd "$(dirname "$0")/../.." || exit 2
B=${B:-build}
SAN=${CUDAEMU_SAN:-}
D=$B/cudaemu-train
rm -rf $D && mkdir -p $D
EMUINC="-Itests/cudaemu/mock -Iruntime -Iruntime/cuda"
# k<<<grid, block, shm, stream>>>(args); -> emu_launch(grid, block, shm, stream, [&] { k(args); });
launches() { sed -E 's/([A-Za-z_][A-Za-z_0-9]*)<<<(.*)>>>\((.*)\);/emu_launch(\2, [\&] { \1(\3); });/' "$1" >"$2"; }
launches runtime/cuda/nnrt_cuda.cu $D/nnrt_cuda.cpp
status=0
for p in f64 f32; do
    o=$D/$p
    mkdir -p $o
    tol=1e-12
    real=double
    [ $p = f32 ] && tol=1e-5 real=float
    if $B/nnc tests/cudaemu/sched_clip.nn --dtype $p --target cuda --name cu -o $o/cu.cu 2>$o/log &&
        $B/nnc tests/cudaemu/sched_clip.nn --dtype $p --name cc -o $o/cc.c 2>>$o/log &&
        launches $o/cu.cu $o/cu.cpp &&
        g++ -std=c++17 -O1 -w $SAN $EMUINC -I$o -c $o/cu.cpp -o $o/cu.o 2>>$o/log &&
        g++ -std=c++17 -O1 -w $SAN $EMUINC -c $D/nnrt_cuda.cpp -o $o/nnrt_cuda.o 2>>$o/log &&
        gcc -std=c99 -O1 -Wall -Wextra -Werror $SAN -Iruntime -c $o/cc.c -o $o/cc.o 2>>$o/log &&
        g++ -std=c++17 -O1 -Wall -Wextra -Werror $SAN $EMUINC -I$o -DREAL=$real -DTOL=$tol \
            -c tests/cudaemu/train.cpp -o $o/train.o 2>>$o/log &&
        g++ $SAN -o $o/train $o/train.o $o/cu.o $o/nnrt_cuda.o $o/cc.o $B/libnnrt.a -lm 2>>$o/log &&
        $o/train >$o/out 2>>$o/log; then
        echo "PASS cudaemu-train sched_clip $p: $(grep -c '^OK' $o/out) phases agree with the C target"
    else
        echo "FAIL cudaemu-train sched_clip $p"; status=1
        head -12 $o/log 2>/dev/null | sed "s/^/    /"
    fi
    sed 's/^/    /' $o/out 2>/dev/null | grep -v PASS
    # several objectives in one file (tests/cudaemu/objectives.cpp)
    mkdir -p $o/g
    if $B/nnc tests/parity/gan.nn --dtype $p --target cuda --name cu -o $o/g/cu.cu 2>$o/glog &&
        $B/nnc tests/parity/gan.nn --dtype $p --name cc -o $o/g/cc.c 2>>$o/glog && launches $o/g/cu.cu $o/g/cu.cpp &&
        g++ -std=c++17 -O1 -w $SAN $EMUINC -I$o/g -c $o/g/cu.cpp -o $o/g/cu.o 2>>$o/glog &&
        gcc -std=c99 -O1 -Wall -Wextra -Werror $SAN -Iruntime -I$o/g -c $o/g/cc.c -o $o/g/cc.o 2>>$o/glog &&
        g++ -std=c++17 -O1 -Wall -Wextra -Werror $SAN $EMUINC -I$o/g -DREAL=$real -DTOL=$tol \
            -c tests/cudaemu/objectives.cpp -o $o/g/objectives.o 2>>$o/glog &&
        g++ $SAN -o $o/g/objectives $o/g/objectives.o $o/g/cu.o $o/nnrt_cuda.o $o/g/cc.o $B/libnnrt.a -lm 2>>$o/glog &&
        $o/g/objectives >$o/gout 2>>$o/glog; then
        echo "PASS cudaemu-train objectives $p: $(cat $o/gout)"
    else
        echo "FAIL cudaemu-train objectives $p"; status=1
        cat $o/gout 2>/dev/null | sed "s/^/    /"; head -12 $o/glog 2>/dev/null | sed "s/^/    /"
    fi
done
exit $status
