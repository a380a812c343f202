# tests/e2e/isa.sh — sourced by tests/e2e/run.sh (uses its NNC, NNRT, T,
# CFLAGS99, pass and fail): the ISA branches of the conv kernels.
#
# codegen/c/k_conv.c gives each convolution one #if branch per vector ISA
# (AVX-512, AVX2 with FMA, SSE2/NEON), each planned for its registers, and
# the direct loops as the #else (also taken with -DNNC_NO_VECTOR_EXT). Here
# the conv models are built for each branch this machine can run, linked
# into one program with the -march=native build (fusecheck.c) and compared
# after two training steps:
#   - within 1e-5 relative: -march=x86-64 (SSE2: no fused multiply-add),
#     -DNNC_NO_VECTOR_EXT (the direct loops: another summation order) and
#     -march=x86-64-v3 (AVX2) for models with a conv2d_grad_w in pixel
#     lanes, whose partial sums are reduced across the vector's lanes;
#   - bitwise: resnet_tiny and gc_conv_phase, -march=native against
#     -march=x86-64-v3: their kernels are implicit GEMMs, channel lanes and
#     phases, which sum every output in the same order, with fused
#     multiply-adds, on AVX-512 and AVX2.
# Every branch also compiles warning-free under gcc and clang, f32 and f64,
# for x86-64-v3 and x86-64-v4 (AVX-512), run or not (x86-64: the examples section).
# And each branch this machine runs, built with -fopenmp and run on 3 threads
# (an uneven split), gives the bits of the same branch built without it,
# for lenet, conv_autoencoder and gc_conv_phase
# (the vectorized paths' parallel regions; run.sh checks the SSE2 branch).
I=$T/isa
mkdir -p $I
if [ "$(uname -m)" != x86_64 ]; then
    echo "SKIP e2e conv ISA branches: x86-64 only (this machine is $(uname -m))"
else
    for m in lenet gc_conv_grid gc_conv_phase; do
        nn=examples/$m.nn
        [ -f "$nn" ] || nn=tests/gradcheck/$m.nn
        for dt in f32 f64; do
            $NNC --dtype $dt "$nn" -o $I/cc_$m.c 2>$I/cc.log || { fail "$m $dt: nnc"; continue; }
            for cc in gcc clang; do
                for arch in x86-64-v3 x86-64-v4; do
                    $cc $CFLAGS99 -march=$arch -c $I/cc_$m.c -o $I/cc_$m.o 2>$I/cc.log ||
                        { fail "$m $dt: $cc -march=$arch"; head -20 $I/cc.log; }
                done
            done
        done
        pass "$m: the conv kernels compile for x86-64-v3 and x86-64-v4 under gcc and clang (f32, f64)"
    done
    # builds this CPU can run, besides native
    builds="-march=x86-64 -DNNC_NO_VECTOR_EXT"
    grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo && builds="$builds -march=x86-64-v3"
    # lenet: the grid and the lanes; conv_autoencoder: conv2d_grad_x by phases (stride 2);
    # gc_conv_phase (batch 2, B=-: no -D): conv2d by phases, both in passes, and chunked lanes
    for mb in lenet:16:10 conv_autoencoder:32:3 gc_conv_phase:-:2; do
        m=${mb%%:*} B=${mb#*:} K=${B#*:} B=${B%:*}
        nn=examples/$m.nn D="-D B=$B"
        [ -f "$nn" ] || nn=tests/gradcheck/$m.nn
        [ "$B" = - ] && D=
        $NNC $D "$nn" --name fz -o $I/ofz.c 2>$I/omp.log &&
            $NNC $D "$nn" --name uf -o $I/ouf.c 2>>$I/omp.log || fail "$m B=$B: nnc"
        for b in -march=native $builds; do
            [ "$b" = -march=x86-64 ] && continue
            if gcc $CFLAGS99 $b -fopenmp -c $I/ofz.c -o $I/ofz.o 2>>$I/omp.log &&
                gcc $CFLAGS99 $b -c $I/ouf.c -o $I/ouf.o 2>>$I/omp.log &&
                gcc $CFLAGS99 -fopenmp -DFZ_TRAINABLE -I$I -include $I/ofz.h -include $I/ouf.h tests/e2e/fusecheck.c \
                    $I/ofz.o $I/ouf.o $NNRT -lm -o $I/omp 2>>$I/omp.log &&
                OMP_NUM_THREADS=3 $I/omp $K 0 >$I/omp.out 2>&1; then
                pass "$m B=$B $b: -fopenmp on 3 threads gives the bits of the build without it ($(cat $I/omp.out))"
            else
                fail "$m B=$B $b: -fopenmp on 3 threads differs"; cat $I/omp.log $I/omp.out | head -20
            fi
        done
    done
    for mk in lenet:10 resnet_tiny:10 gc_conv_grid:2 gc_conv_lanes:2 conv_small:5 conv_edges:3 conv_transpose:3 \
        gc_conv_phase:2; do
        m=${mk%:*} K=${mk#*:}
        nn=examples/$m.nn
        [ -f "$nn" ] || nn=tests/gradcheck/$m.nn
        [ -f "$nn" ] || nn=tests/parity/$m.nn
        $NNC "$nn" --name fz -o $I/fz.c 2>$I/$m.log && $NNC "$nn" --name uf -o $I/uf.c 2>>$I/$m.log &&
            gcc $CFLAGS99 -march=native -c $I/fz.c -o $I/fz.o 2>>$I/$m.log || { fail "$m: native build"; continue; }
        for b in $builds; do
            tol=1e-5
            case "$m:$b" in resnet_tiny:-march=x86-64-v3 | gc_conv_phase:-march=x86-64-v3) tol=0 ;; esac
            if gcc $CFLAGS99 $b -c $I/uf.c -o $I/uf.o 2>>$I/$m.log &&
                gcc $CFLAGS99 -DFZ_TRAINABLE -I$I -include $I/fz.h -include $I/uf.h tests/e2e/fusecheck.c \
                    $I/fz.o $I/uf.o $NNRT -lm -o $I/$m 2>>$I/$m.log && $I/$m $K $tol >$I/$m.out 2>&1; then
                pass "$m: -march=native and $b builds agree (tolerance $tol: $(cat $I/$m.out))"
            else
                fail "$m: -march=native and $b builds differ (tolerance $tol)"; cat $I/$m.log $I/$m.out | head -20
            fi
        done
    done
fi
