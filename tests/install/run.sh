#!/bin/sh
# Install tests: `make install` into a temporary DESTDIR, then two projects
# use the installed nnc as a user's would and run examples/xor_api.c on
# examples/xor.nn: a CMake project (find_package(nnc) + nnc_add_model) and a
# Makefile project (pkg-config --cflags --libs nnc, the shared libnnrt);
# libnnrt_core.a (nnc-core.pc, nnc::nnrt_core: a --freestanding model) and
# nnrt_png.o (nnc-png.pc, nnc::nnrt_png: a PNG written); nnrt_isa_*.o;
# the soname, the man page against `nnc --help`, the generated code's
# version check, nnc leaving unchanged outputs untouched, nnc run from the
# installed layout, and make uninstall.
cd "$(dirname "$0")/../.." || exit 2
T=$(pwd)/build/tests/install
D=$T/root
P=$D/usr/local
rm -rf $T && mkdir -p $T
status=0
pass() { echo "PASS install $*"; }
fail() { echo "FAIL install $*"; status=1; }
mtime() { stat -c %y "$1"; }

if make -s install DESTDIR=$D PREFIX=/usr/local >$T/install.log 2>&1; then
    pass "make install DESTDIR=... PREFIX=/usr/local"
else
    fail "make install"; tail -20 $T/install.log; exit 1
fi
missing=""
for f in bin/nnc lib/libnnrt.a lib/libnnrt.so lib/pkgconfig/nnc.pc lib/cmake/nnc/nncConfig.cmake \
    lib/cmake/nnc/nncConfigVersion.cmake include/nnc/nnrt.h include/nnc/nnrt_gemm.h share/man/man1/nnc.1; do
    [ -e $P/$f ] || missing="$missing $f"
done
for f in lib/libnnrt_core.a lib/pkgconfig/nnc-core.pc lib/nnrt_isa_avx512.o lib/nnrt_isa_avx2.o lib/nnrt_isa_c.o; do
    [ -e $P/$f ] || missing="$missing $f"
done
if [ -f build/nnrt_png.o ]; then
    for f in lib/nnrt_png.o include/nnc/nnrt_png.h lib/pkgconfig/nnc-png.pc; do
        [ -e $P/$f ] || missing="$missing $f"
    done
fi
[ -z "$missing" ] && pass "every file is installed" || fail "not installed:$missing"
so=$(readelf -d $P/lib/libnnrt.so 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
major=$(sed -n 's/^#define NNRT_VERSION_MAJOR //p' runtime/nnrt.h)
[ "$so" = "libnnrt.so.$major" ] && [ -f "$P/lib/$so" ] && pass "libnnrt.so has the soname $so" ||
    fail "libnnrt.so's soname is '$so', not libnnrt.so.$major (or that link is missing)"
[ "$($P/bin/nnc --version | head -n 1)" = "nnc $(sed -n 's/^#define NNRT_VERSION_STRING "\(.*\)"$/\1/p' runtime/nnrt.h)" ] &&
    pass "nnc --version is nnrt.h's NNRT_VERSION_STRING" || fail "nnc --version differs from NNRT_VERSION_STRING"

# the man page names every option of nnc --help
undoc=""
for o in $($P/bin/nnc --help | grep -o -- ' -[-a-zA-Z][-a-z]*' | sort -u); do
    sed 's/\\-/-/g; s/\\f[BIRP]//g' $P/share/man/man1/nnc.1 | grep -q -- "$o" || undoc="$undoc $o"
done
[ -z "$undoc" ] && pass "nnc.1 names every option of nnc --help" || fail "nnc.1 lacks:$undoc"

# (a) CMake: find_package(nnc) + nnc_add_model
mkdir -p $T/cmake/src
cp examples/xor.nn examples/xor_api.c $T/cmake/src/
cat >$T/cmake/src/CMakeLists.txt <<'CM'
cmake_minimum_required(VERSION 3.13)
project(xor_app C)
find_package(nnc 0.1 REQUIRED)
add_executable(xor_app xor_api.c)
nnc_add_model(xor_app xor.nn)
add_executable(core_app core.c)
target_link_libraries(core_app PRIVATE nnc::nnrt_core)
if(TARGET nnc::nnrt_png)
  add_executable(png_app png.c)
  target_link_libraries(png_app PRIVATE nnc::nnrt_png)
endif()
CM
cat >$T/cmake/src/core.c <<'C'
#include <stdio.h>
#include "nnrt_gemm.h"
int main(void) { /* C = A B with A 1x2, B 2x1 through libnnrt_core's GEMM */
    const float a[2] = {1, 2}, b[2] = {3, 4};
    float c[1] = {0};
    nnrt_sgemm(0, 0, 1, 1, 2, a, 2, b, 1, 0.0f, c, 1);
    printf("%g\n", c[0]);
    return c[0] != 11;
}
C
cat >$T/cmake/src/png.c <<'C'
#include "nnrt_png.h"
int main(void) {
    const unsigned char pix[4] = {0, 80, 160, 240};
    nnrt_err err;
    return nnrt_png_write_gray("out.png", pix, 2, 2, &err) != NNRT_OK;
}
C
if (cd $T/cmake && cmake -S src -B out -DCMAKE_PREFIX_PATH=$P -DCMAKE_C_FLAGS="-std=c99 -Wall -Wextra -Werror" \
    >cmake.log 2>&1 && cmake --build out >>cmake.log 2>&1 && cd out && ./xor_app >run.log 2>&1 &&
    grep -q "same predictions" run.log); then
    pass "a CMake project (find_package + nnc_add_model, 5 lines) builds and runs xor_api"
    (cd $T/cmake/out && ./core_app | grep -q "^11$") && pass "CMake: nnc::nnrt_core links the core GEMM" ||
        fail "CMake: nnc::nnrt_core"
    if [ -f build/nnrt_png.o ]; then
        (cd $T/cmake/out && ./png_app && head -c 8 out.png | od -An -c | grep -q "P   N   G") &&
            pass "CMake: nnc::nnrt_png writes a PNG" || fail "CMake: nnc::nnrt_png"
    fi
    c=$T/cmake/out/nnc_xor_app/xor.c
    before=$(mtime $c)
    sleep 1 && touch $T/cmake/src/xor.nn
    cmake --build $T/cmake/out >>$T/cmake/cmake.log 2>&1 && [ "$(mtime $c)" = "$before" ] &&
        pass "CMake: a touched model reruns nnc, which leaves the unchanged xor.c as it was" ||
        fail "CMake: the rebuild after touching xor.nn failed or rewrote xor.c"
    sum=$(cksum <$c)
    sed -i 's/momentum = 0.9/momentum = 0.8/' $T/cmake/src/xor.nn
    grep -q "momentum = 0.8" $T/cmake/src/xor.nn && cmake --build $T/cmake/out >>$T/cmake/cmake.log 2>&1 &&
        [ "$(cksum <$c)" != "$sum" ] && (cd $T/cmake/out && ./xor_app | grep -q "same predictions") &&
        pass "CMake: a changed model is compiled into new code and rebuilt" ||
        fail "CMake: a changed model did not reach xor.c"
else
    fail "the CMake project"; tail -20 $T/cmake/cmake.log $T/cmake/out/run.log 2>/dev/null
fi

# (b) a Makefile with pkg-config, linked with the shared libnnrt
mkdir -p $T/pc
cp examples/xor.nn examples/xor_api.c $T/pc/
cat >$T/pc/Makefile <<'MK'
CFLAGS = -std=c99 -O2 -Wall -Wextra -Werror $(shell pkg-config --cflags nnc)
xor_app: xor_api.c xor.c
	$(CC) $(CFLAGS) -I. -o $@ xor_api.c xor.c $(shell pkg-config --libs nnc)
xor.c: xor.nn
	$(NNC) xor.nn -o xor.c
MK
export PKG_CONFIG_PATH=$P/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$D
if (cd $T/pc && make NNC=$P/bin/nnc >make.log 2>&1 && LD_LIBRARY_PATH=$P/lib ./xor_app >run.log 2>&1 &&
    grep -q "same predictions" run.log &&
    LD_LIBRARY_PATH=$P/lib ldd ./xor_app | grep -q "libnnrt.so.$major => $P"); then
    pass "a Makefile project (pkg-config --cflags --libs nnc) builds and runs xor_api on libnnrt.so.$major"
else
    fail "the pkg-config Makefile project"; tail -20 $T/pc/make.log $T/pc/run.log 2>/dev/null
fi
# (c) the core runtime (nnc-core.pc): xor's initial weights, its --freestanding build linked with
# libnnrt_core.a alone (and -lm) runs tests/e2e/freestanding.c; (d) nnrt_png.o (nnc-png.pc) writes a PNG
cat >$T/pc/mkw.c <<'C'
#include "xor.h"
int main(int argc, char **argv) { xor *m = xor_create(1); return argc < 2 || !m || xor_save(m, argv[1]) != 0; }
C
cat >$T/pc/png.c <<'C'
#include "nnrt_png.h"
int main(int argc, char **argv) {
    const unsigned char pix[6] = {0, 50, 100, 150, 200, 250};
    nnrt_err err;
    return argc < 2 || nnrt_png_write_gray(argv[1], pix, 3, 2, &err) != NNRT_OK;
}
C
CF="-std=c99 -O2 -Wall -Wextra -Werror"
if (cd $T/pc && cc $CF -I. mkw.c xor.c $(pkg-config --cflags --libs nnc) -o mkw && LD_LIBRARY_PATH=$P/lib ./mkw w.st &&
    mkdir -p fs && $P/bin/nnc xor.nn --freestanding --weights w.st --name net -o fs/net.c &&
    cc $CF -ffreestanding $(pkg-config --cflags nnc-core) -c fs/net.c -o fs/net.o && nm fs/net.o | grep -q " U nnrt_" &&
    cc $CF -Ifs $(pkg-config --cflags nnc-core) $OLDPWD/tests/e2e/freestanding.c fs/net.o \
        $(pkg-config --libs nnc-core) -lm -o fs/run &&
    ./fs/run >fs/run.log && [ -s fs/run.log ]) >$T/pc/core.log 2>&1; then
    pass "pkg-config nnc-core: a --freestanding model links with libnnrt_core.a alone and runs"
else fail "pkg-config nnc-core"; tail -5 $T/pc/core.log; fi
if [ -f build/nnrt_png.o ]; then
    (cd $T/pc && cc $CF $(pkg-config --cflags nnc-png) png.c $(pkg-config --libs nnc-png) -o png &&
        LD_LIBRARY_PATH=$P/lib ./png out.png && head -c 8 out.png | od -An -c | grep -q "P   N   G") \
        >$T/pc/png.log 2>&1 && pass "pkg-config nnc-png: nnrt_png.o and libpng write a PNG" ||
        { fail "pkg-config nnc-png"; tail -5 $T/pc/png.log; }
fi
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR

# nnc leaves an output that would not change untouched; a change replaces it
$P/bin/nnc examples/xor.nn -o $T/u.c && c1=$(mtime $T/u.c) && h1=$(mtime $T/u.h) && sleep 1 &&
    $P/bin/nnc examples/xor.nn -o $T/u.c && [ "$(mtime $T/u.c)" = "$c1" ] && [ "$(mtime $T/u.h)" = "$h1" ] &&
    pass "nnc leaves unchanged outputs untouched (mtime of u.c and u.h kept)" || fail "nnc rewrote unchanged outputs"
$P/bin/nnc --name other examples/xor.nn -o $T/u.c && [ "$(mtime $T/u.c)" != "$c1" ] && grep -q other_init $T/u.h &&
    pass "nnc replaces an output whose contents change" || fail "nnc did not replace a changed output"

# the generated code refuses an nnrt.h of another version
mkdir -p $T/old
sed 's/^#define NNRT_VERSION_MAJOR .*/#define NNRT_VERSION_MAJOR 99/' runtime/nnrt.h >$T/old/nnrt.h
cp runtime/nnrt_gemm.h $T/old/
if gcc -std=c99 -I$T/old -c $T/u.c -o $T/u.o >$T/old.log 2>&1; then
    fail "generated code compiled against an nnrt.h of major version 99"
elif grep -q "error: #error \"generated by nnc $major\.[0-9]*: needs libnnrt" $T/old.log; then
    pass "generated code stops with #error on an nnrt.h of another version"
else
    fail "no clear #error for another nnrt.h version"; head -5 $T/old.log
fi

# nnc train/run from the installed layout: PREFIX/lib/libnnrt.a and PREFIX/include/nnc
# (and PREFIX/lib/nnc/libnnc_jit.so where this build has the JIT: both paths)
if [ -f build/libnnc_jit.so ]; then
    if $P/bin/nnc --version | grep -q '^jit: ' && XDG_CACHE_HOME=$T/jcache $P/bin/nnc run --jit examples/xor.nn --help \
        >$T/jrun.log 2>&1 && grep -q usage $T/jrun.log && [ -n "$(ls $T/jcache/nnc/*.o)" ]; then
        pass "the installed nnc finds its JIT and runs the trainer through it"
    else fail "the installed nnc's JIT"; tail -5 $T/jrun.log; fi
fi
if XDG_CACHE_HOME=$T/cache $P/bin/nnc run --cc examples/xor.nn --help >$T/run.log 2>&1 && grep -q usage $T/run.log &&
    [ -n "$(ls $T/cache/nnc)" ]; then
    pass "the installed nnc run builds, caches and runs the trainer"
else
    fail "the installed nnc run"; tail -5 $T/run.log
fi

if make -s uninstall DESTDIR=$D PREFIX=/usr/local >$T/uninstall.log 2>&1 && [ -z "$(find $D -type f -o -type l)" ]; then
    pass "make uninstall removes every installed file"
else
    fail "make uninstall left: $(find $D -type f -o -type l | head -5 | tr '\n' ' ')"
fi
exit $status
