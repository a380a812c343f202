#!/bin/sh
# Install what building and testing nnc needs on Debian 12, only if missing.
# Called by `make demo`, `make test` and (with the argument `examples`) `make examples`;
# safe to run again.
set -e
need=""
have_cmd() { command -v "$1" >/dev/null 2>&1; }
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

have_cmd gcc   || need="$need gcc"
have_cmd g++   || need="$need g++"   # tests/cudaemu compiles the CUDA kernels as C++
have_cmd make  || need="$need make"
have_cmd flex  || need="$need flex"
have_cmd bison || need="$need bison"
have_cmd clang || need="$need clang"
# tests/install builds a CMake project and a pkg-config Makefile project against `make install`
have_cmd cmake || need="$need cmake"
have_cmd pkg-config || need="$need pkgconf"
have_pkg libcunit1-dev || need="$need libcunit1-dev"
# libFuzzer and the sanitizer runtimes for clang
have_pkg libclang-rt-14-dev || need="$need libclang-rt-14-dev"
# the PyTorch parity tests run on Debian's python3 with Debian's torch
have_pkg python3-torch || need="$need python3-torch"
have_pkg python3-numpy || need="$need python3-numpy"
# make bench compares nnrt_sgemm with OpenBLAS (it also becomes the system BLAS
# that Debian's PyTorch and numpy use, so PyTorch is measured at its best)
have_pkg libopenblas-dev || need="$need libopenblas-dev"
# tests/e2e lays out tiny_gpt's --emit=dot graph with Graphviz (under 10 s)
have_cmd dot || need="$need graphviz"
# tests/cross: aarch64 builds run under qemu (libc6-dev-arm64-cross is only a
# recommendation of the compiler), a Cortex-M4 link with newlib (about 150 MB
# downloaded for the four, 1.1 GB installed)
have_cmd aarch64-linux-gnu-gcc || need="$need gcc-aarch64-linux-gnu"
have_pkg libc6-dev-arm64-cross || need="$need libc6-dev-arm64-cross"
have_cmd qemu-aarch64 || need="$need qemu-user"
have_cmd arm-none-eabi-gcc || need="$need gcc-arm-none-eabi"
have_pkg libnewlib-arm-none-eabi || need="$need libnewlib-arm-none-eabi"

# reconstruct writes PNG grids through libpng (build/nnrt_png.o; libnnrt itself does not need it)
have_pkg libpng-dev || need="$need libpng-dev"
# `make examples` (install-deps.sh examples) also trains fashion_cnn on Fashion-MNIST, 60,000 + 10,000
# images (MIT licence), from Debian's package: about 30 MB, in /usr/share/datasets/fashion-mnist
if [ "$1" = examples ] && ! have_pkg dataset-fashion-mnist; then
    echo "install-deps: make examples trains fashion_cnn on Fashion-MNIST: installing dataset-fashion-mnist (30 MB)"
    need="$need dataset-fashion-mnist"
fi
# tests/mpi: data-parallel training on Open MPI (libnnrt_mpi.a, mpirun -np 2)
have_pkg libopenmpi-dev || need="$need libopenmpi-dev"
have_cmd mpirun || need="$need openmpi-bin"

[ -z "$need" ] && exit 0
echo "install-deps: installing:$need"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $need
