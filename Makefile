# nnc — neural-network compiler. `make demo` and `make test` do everything,
# installing missing packages first (scripts/install-deps.sh).

CC       ?= gcc
CFLAGS   ?= -O2 -g
WARN      = -Wall -Wextra -Werror
NNC_CFLAGS = -std=c11 $(WARN) $(CFLAGS)
# libnnrt runs on any CPU of its architecture: on x86-64 it holds the GEMM
# three times (AVX-512, AVX2+FMA, portable; flags below) and picks one per
# call by what the CPU has (runtime/gemm_dispatch.c; a program linked with
# build/nnrt_isa_avx512.o, nnrt_isa_avx2.o or nnrt_isa_c.o forces one).
# `make NNRT_ARCH=-march=native` builds the whole runtime for this CPU
# instead: one GEMM, chosen at compile time.
NNRT_ARCH ?=
RT_CFLAGS  = -std=c99 $(WARN) $(CFLAGS) $(NNRT_ARCH) -D_POSIX_C_SOURCE=200809L
NNRT_DISPATCH := $(if $(NNRT_ARCH),,$(findstring x86_64,$(shell $(CC) -dumpmachine)))
# (the AVX-512 set of x86-64-v4 that changes gemm.c's code: the same instructions as -march=native on
# an AVX-512 machine; runtime/gemm_dispatch.c checks each of these before it takes that path)
GEMM_FLAGS_avx512 = -mavx512f -mavx512vl -mavx512bw -mavx512dq -mavx2 -mfma -mbmi -mbmi2
GEMM_FLAGS_avx2   = -mavx2 -mfma
GEMM_FLAGS_c      =
ifneq ($(NNRT_DISPATCH),)
RT_CFLAGS += -DNNRT_GEMM_DISPATCH
endif
# `make OPENMP=1`: libnnrt's GEMM splits large products over OpenMP threads
# (then link the generated code with -fopenmp too); same bits either way.
ifeq ($(OPENMP),1)
RT_CFLAGS += -fopenmp
endif
# flex/bison output is not ours to fix; these warnings only apply to it
GEN_CFLAGS = -std=c11 -Wall -Wextra -Werror -Wno-unused-function -Wno-sign-compare -Wno-unused-parameter $(CFLAGS)

B   = build
GEN = $(B)/gen

COMMON_SRC   = $(wildcard common/*.c)
FRONTEND_SRC = $(wildcard frontend/*.c)
IR_SRC       = $(wildcard ir/*.c)
# the code generators: codegen/*.c (the target table), core/ and one folder per target
CG_SRC       = $(wildcard codegen/*.c codegen/*/*.c)
RT_SRC       = $(wildcard runtime/*.c)
# the runtime's objects under build/obj/ (libnnrt.a) and build/pic/ (libnnrt.so); gemm.ISA.o: gemm.c per ISA
RT_NAMES     = $(RT_SRC:%.c=%.o)
ifneq ($(NNRT_DISPATCH),)
RT_NAMES    := $(filter-out runtime/gemm.o,$(RT_NAMES)) runtime/gemm.avx512.o runtime/gemm.avx2.o runtime/gemm.c.o
endif

LIB_SRC = $(COMMON_SRC) $(FRONTEND_SRC) $(IR_SRC) $(CG_SRC) driver/compile.c
LIB_OBJ = $(LIB_SRC:%.c=$(B)/obj/%.o) $(GEN)/parser.o $(GEN)/lexer.o
RT_OBJ  = $(RT_NAMES:%=$(B)/obj/%)
RT_PIC  = $(RT_NAMES:%=$(B)/pic/%)
# the version (runtime/nnrt.h), the shared library's soname libnnrt.so.MAJOR
VERSION_PART = $(shell sed -n 's/^\#define NNRT_VERSION_$(1) \([0-9]*\)$$/\1/p' runtime/nnrt.h)
MAJOR   := $(call VERSION_PART,MAJOR)
VERSION := $(MAJOR).$(call VERSION_PART,MINOR).$(call VERSION_PART,PATCH)
SONAME   = libnnrt.so.$(MAJOR)

.PHONY: all deps demo test examples bench clean
all: $(B)/nnc $(B)/libnnrt.a $(B)/libnnrt.so $(B)/libnnrt_core.a

deps:
	@sh scripts/install-deps.sh

$(GEN)/parser.c $(GEN)/parser.h: frontend/parser.y
	@mkdir -p $(GEN)
	bison -Wall -Werror -o $(GEN)/parser.c --header=$(GEN)/parser.h $<

$(GEN)/lexer.c $(GEN)/lexer.h: frontend/lexer.l $(GEN)/parser.h
	@mkdir -p $(GEN)
	flex -o $(GEN)/lexer.c --header-file=$(GEN)/lexer.h $<

$(GEN)/%.o: $(GEN)/%.c
	$(CC) $(GEN_CFLAGS) -I$(GEN) -Ifrontend -Icommon -c $< -o $@

$(B)/obj/frontend/%.o: frontend/%.c $(GEN)/parser.h $(GEN)/lexer.h
	@mkdir -p $(dir $@)
	$(CC) $(NNC_CFLAGS) -I$(GEN) -Ifrontend -Icommon -c $< -o $@

$(B)/obj/runtime/%.o: runtime/%.c $(wildcard runtime/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(RT_CFLAGS) -Iruntime -c $< -o $@

$(B)/obj/runtime/gemm.%.o: runtime/gemm.c $(wildcard runtime/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(RT_CFLAGS) $(GEMM_FLAGS_$*) -DNNRT_GEMM_TABLE=nnrt_gemm_$* -Iruntime -c $< -o $@

$(B)/pic/runtime/%.o: runtime/%.c $(wildcard runtime/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(RT_CFLAGS) -fPIC -Iruntime -c $< -o $@

$(B)/pic/runtime/gemm.%.o: runtime/gemm.c $(wildcard runtime/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(RT_CFLAGS) -fPIC $(GEMM_FLAGS_$*) -DNNRT_GEMM_TABLE=nnrt_gemm_$* -Iruntime -c $< -o $@

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(NNC_CFLAGS) -D_POSIX_C_SOURCE=200809L -c $< -o $@

# ---- ONNX (onnx/): the protobuf is parsed by protobuf-c (Debian libprotobuf-c-dev); its C code
# is generated at build time by protoc-c from the onnx.proto that Debian's python3-onnx installs
# (ONNX_PROTO: another copy of the published onnx.proto works the same). Linked into nnc only.
ONNX_PROTO ?= /usr/lib/python3/dist-packages/onnx/onnx.proto
ONNX_SRC  = $(wildcard onnx/*.c)
ONNX_OBJ  = $(ONNX_SRC:%.c=$(B)/obj/%.o) $(GEN)/onnx.pb-c.o
$(GEN)/onnx.pb-c.c: $(ONNX_PROTO)
	@mkdir -p $(GEN)
	cp -f $< $(GEN)/onnx.proto
	cd $(GEN) && protoc-c --c_out=. onnx.proto
$(GEN)/onnx.pb-c.h: $(GEN)/onnx.pb-c.c
$(GEN)/onnx.pb-c.o: $(GEN)/onnx.pb-c.c
	$(CC) $(GEN_CFLAGS) -I$(GEN) -c $< -o $@
$(B)/obj/onnx/%.o: onnx/%.c $(GEN)/onnx.pb-c.h $(wildcard onnx/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(NNC_CFLAGS) -D_POSIX_C_SOURCE=200809L -I$(GEN) -c $< -o $@

$(B)/libnnc.a: $(LIB_OBJ)
	ar rcs $@ $^

# the core runtime for freestanding code (nnc --freestanding): the GEMM alone, one build for the flags
# given, no stdio, no malloc, no libm (runtime/gemm.c with -DNNRT_FREESTANDING)
CORE_CFLAGS = -std=c99 $(WARN) $(CFLAGS) $(NNRT_ARCH) -ffreestanding -DNNRT_FREESTANDING
$(B)/core/%.o: runtime/%.c $(wildcard runtime/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CORE_CFLAGS) -Iruntime -c $< -o $@
$(B)/libnnrt_core.a: $(B)/core/gemm.o $(B)/core/gemm_dispatch.o
	rm -f $@
	ar rcs $@ $^

$(B)/libnnrt.a: $(RT_OBJ)
	rm -f $@
	ar rcs $@ $^

# the shared libnnrt: libnnrt.so.VERSION with soname libnnrt.so.MAJOR, and the two links
$(B)/libnnrt.so: $(RT_PIC)
	$(CC) $(CFLAGS) $(filter -fopenmp,$(RT_CFLAGS)) -shared -Wl,-soname,$(SONAME) -o $@.$(VERSION) $^ -lm
	ln -sf libnnrt.so.$(VERSION) $(B)/$(SONAME)
	ln -sf $(SONAME) $@

# nnc saves its outputs with libnnrt's atomic_file.o (runtime/atomic_file.h)
# (nnc train/run: driver/launch.c builds and caches the trainer)
$(B)/nnc: $(B)/obj/driver/nnc.o $(B)/obj/driver/launch.o $(ONNX_OBJ) $(B)/libnnc.a $(B)/libnnrt.a
	$(CC) $(CFLAGS) -o $@ $^ -lprotobuf-c -lm

# ---- the JIT of nnc train|run: build/libnnc_jit.so (driver/jit.cpp), which nnc opens only
# for train and run (driver/launch.c), so nnc itself needs no LLVM. It needs Clang and LLVM's C++
# libraries (Debian llvm-14-dev, libclang-14-dev, libclang-cpp14-dev). JIT=auto (the default)
# builds it where they are found, JIT=1 requires them, JIT=0 leaves it out (nnc train|run then
# build with $CC).
JIT ?= auto
LLVM_CONFIG ?= $(shell command -v llvm-config-14 || command -v llvm-config)
ifneq ($(JIT),0)
LLVM_INC := $(if $(LLVM_CONFIG),$(shell $(LLVM_CONFIG) --includedir))
LLVM_LIB := $(if $(LLVM_CONFIG),$(shell $(LLVM_CONFIG) --libdir))
JIT_FOUND := $(if $(and $(wildcard $(LLVM_INC)/clang/CodeGen/CodeGenAction.h),\
                        $(wildcard $(LLVM_LIB)/libclang-cpp.so)),1)
endif
ifeq ($(JIT),1)
ifneq ($(JIT_FOUND),1)
$(error make JIT=1: Clang and LLVM's C++ libraries not found (Debian: llvm-14-dev libclang-14-dev libclang-cpp14-dev))
endif
endif
ifeq ($(JIT_FOUND),1)
all: $(B)/libnnc_jit.so
$(B)/pic/driver/jit.o: driver/jit.cpp driver/jit.h Makefile
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 $(WARN) $(CFLAGS) -fPIC -fno-rtti -fno-exceptions -isystem $(LLVM_INC) \
	    -DNNC_CLANG_BIN='"$(shell $(LLVM_CONFIG) --bindir)/clang"' -c $< -o $@
$(B)/libnnc_jit.so: $(B)/pic/driver/jit.o
	$(CXX) $(CFLAGS) -shared -o $@ $^ -L$(LLVM_LIB) -lclang-cpp -lLLVM
endif
$(B)/obj/driver/launch.o: driver/jit.h

# Header dependencies, coarse but safe: any header change rebuilds all.
HEADERS = $(wildcard common/*.h frontend/*.h ir/*.h ir/*.def codegen/*.h codegen/*/*.h driver/*.h onnx/export.h)
$(LIB_OBJ) $(B)/obj/driver/nnc.o $(B)/obj/driver/launch.o $(ONNX_SRC:%.c=$(B)/obj/%.o): $(HEADERS)
$(B)/obj/codegen/targets.o: codegen/targets.def
$(B)/obj/driver/nnc.o $(B)/obj/driver/launch.o: runtime/atomic_file.h runtime/nnrt.h

# ---- build/nnrt_isa_ISA.o (runtime/isa/nnrt_isa.c): linked beside libnnrt, forces its GEMM path ISA
NNRT_ISAS = avx512 avx2 c
all: $(NNRT_ISAS:%=$(B)/nnrt_isa_%.o)
$(B)/nnrt_isa_%.o: runtime/isa/nnrt_isa.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(RT_CFLAGS) -fPIC -DNNRT_ISA_NAME='"$*"' -c $< -o $@

# ---- PNG output (runtime/png/nnrt_png.h): build/nnrt_png.o, outside libnnrt so that
# libnnrt needs no libpng; built where libpng is found, linked beside libnnrt.a with -lpng
PNG_FOUND := $(shell pkg-config --exists libpng 2>/dev/null && echo yes)
ifeq ($(PNG_FOUND),yes)
all: $(B)/nnrt_png.o
endif
$(B)/nnrt_png.o: runtime/png/nnrt_png.c runtime/png/nnrt_png.h $(wildcard runtime/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(RT_CFLAGS) -fPIC $(shell pkg-config --cflags libpng 2>/dev/null) -Iruntime -c $< -o $@

# ---- libnnrt_mpi.a: data-parallel training on MPI, only where mpicc is found ----
# runtime/mpi/nnrt_mpi.c (nnrt_mpi_main); libnnrt itself needs no MPI.
# A trainer: mpicc -DNNRT_MPI model.c -lnnrt_mpi -lnnrt -lm; mpirun -np N ./model train ...
MPICC ?= $(shell command -v mpicc 2>/dev/null)
.PHONY: mpi
mpi: $(B)/libnnrt.a
ifneq ($(MPICC),)
all mpi: $(B)/libnnrt_mpi.a
endif
$(B)/libnnrt_mpi.a: runtime/mpi/nnrt_mpi.c runtime/nnrt.h Makefile
	@mkdir -p $(B)/obj/runtime/mpi
	$(MPICC) $(RT_CFLAGS) -Iruntime -c $< -o $(B)/obj/runtime/mpi/nnrt_mpi.o
	rm -f $@
	ar rcs $@ $(B)/obj/runtime/mpi/nnrt_mpi.o

# libnnrt_nccl.a: the same file with -DNNRT_NCCL (nnrt_nccl_main: the CUDA target's
# trainer on one GPU per rank, ncclAllReduce), only where mpicc and nccl.h are found.
# A trainer: nvcc -DNNRT_NCCL model.cu -lnnrt_nccl -lnnrt_cuda -lnnrt -lcublas -lnccl -lmpi
CUDA_INC ?= $(firstword $(wildcard /usr/local/cuda/include /usr/include))
NCCL_H   ?= $(firstword $(wildcard $(CUDA_INC)/nccl.h /usr/local/include/nccl.h /usr/include/nccl.h))
.PHONY: nccl
nccl: $(B)/libnnrt.a
ifneq ($(MPICC),)
ifneq ($(NCCL_H),)
nccl: $(B)/libnnrt_nccl.a
endif
endif
$(B)/libnnrt_nccl.a: runtime/mpi/nnrt_mpi.c runtime/nnrt.h Makefile
	@mkdir -p $(B)/obj/runtime/mpi
	$(MPICC) $(RT_CFLAGS) -DNNRT_NCCL -I$(CUDA_INC) -I$(dir $(NCCL_H)) -Iruntime -c $< -o $(B)/obj/runtime/mpi/nnrt_nccl.o
	rm -f $@
	ar rcs $@ $(B)/obj/runtime/mpi/nnrt_nccl.o

# ---- the CUDA runtime (libnnrt_cuda.a), only where nvcc is found ----------
# `make cuda` builds it; `make all` never needs nvcc. sm_90 (H100/H200) + PTX.
NVCC     ?= $(shell command -v nvcc 2>/dev/null)
CU_ARCH  ?= -gencode arch=compute_90,code=[sm_90,compute_90]
CU_FLAGS  = -std=c++17 -O2 $(CU_ARCH) -Werror all-warnings -Xcompiler -Wall,-Wextra,-Werror
CU_RT_SRC = $(wildcard runtime/cuda/*.cu)
.PHONY: cuda test-gpu
cuda: $(B)/nnc $(B)/libnnrt.a
ifneq ($(NVCC),)
cuda: $(B)/libnnrt_cuda.a
$(B)/obj/runtime/cuda/%.o: runtime/cuda/%.cu $(wildcard runtime/cuda/*.h runtime/cuda/*.cuh) runtime/nnrt.h
	@mkdir -p $(dir $@)
	$(NVCC) $(CU_FLAGS) -Iruntime -Iruntime/cuda -c $< -o $@
$(B)/libnnrt_cuda.a: $(CU_RT_SRC:%.cu=$(B)/obj/%.o)
	ar rcs $@ $^
else
cuda:
	@echo "make cuda: nvcc not found; libnnrt_cuda.a is not built"
endif

# every example on the GPU against the C build (needs a GPU; not part of make test)
test-gpu: all cuda
	@sh tests/gpu/run.sh

# nnc's CUDA target vs PyTorch on the GPU (needs a GPU and a python3 with torch; bench/README.md)
.PHONY: bench-gpu
BENCH_GPU_PYTHON ?= python3
bench-gpu: all cuda
	@$(BENCH_GPU_PYTHON) bench/gpu.py --build $(B) $(BENCH_GPU_ARGS)

# ---- make install / make uninstall (PREFIX, DESTDIR) --------------------------
# bin/nnc, lib/nnc/libnnc_jit.so (where built), lib/libnnrt.a, lib/libnnrt.so.VERSION (+ .so.MAJOR, .so
# links), include/nnc/ (the headers
# the generated code includes), share/man/man1/nnc.1, lib/pkgconfig/nnc.pc, lib/cmake/nnc/ (the CMake
# package: packaging/). The .pc and CMake files name PREFIX; the CMake package finds its files from its
# own place. libnnrt_cuda.a and its headers too where `make cuda` built it; libnnrt_core.a (nnc-core.pc,
# nnc::nnrt_core) always, nnrt_png.o and nnrt_png.h (nnc-png.pc, nnc::nnrt_png) where libpng was found;
# lib/nnrt_isa_avx512.o, nnrt_isa_avx2.o, nnrt_isa_c.o (linked beside libnnrt: force its GEMM path).
PREFIX  ?= /usr/local
DESTDIR ?=
P_BIN   = $(DESTDIR)$(PREFIX)/bin
P_LIB   = $(DESTDIR)$(PREFIX)/lib
P_INC   = $(DESTDIR)$(PREFIX)/include/nnc
P_MAN   = $(DESTDIR)$(PREFIX)/share/man/man1
P_CMAKE = $(P_LIB)/cmake/nnc
NNRT_HEADERS = runtime/nnrt.h runtime/nnrt_gemm.h
CUDA_HEADERS = runtime/cuda/nnrt_cuda.h runtime/cuda/nnrt_philox.cuh
OMP_LIBS = $(filter -fopenmp,$(RT_CFLAGS))
PKG_SED = -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' -e 's|@MAJOR@|$(MAJOR)|g' \
          -e 's|@LIBS_EXTRA@|$(OMP_LIBS)|g' -e 's|@CMAKE_LIBS_EXTRA@|$(OMP_LIBS:%=;%)|g'
.PHONY: install uninstall
install: all
	install -d $(P_BIN) $(P_LIB)/pkgconfig $(P_INC) $(P_MAN) $(P_CMAKE)
	install -m 755 $(B)/nnc $(P_BIN)/nnc
	install -m 644 $(B)/libnnrt.a $(P_LIB)/libnnrt.a
	install -m 755 $(B)/libnnrt.so.$(VERSION) $(P_LIB)/libnnrt.so.$(VERSION)
	ln -sf libnnrt.so.$(VERSION) $(P_LIB)/$(SONAME)
	ln -sf $(SONAME) $(P_LIB)/libnnrt.so
	install -m 644 $(NNRT_HEADERS) $(P_INC)
	if [ -f $(B)/libnnrt_cuda.a ]; then install -m 644 $(B)/libnnrt_cuda.a $(P_LIB) && \
	    install -m 644 $(CUDA_HEADERS) $(P_INC); fi
	if [ -f $(B)/libnnrt_mpi.a ]; then install -m 644 $(B)/libnnrt_mpi.a $(P_LIB); fi
	if [ -f $(B)/libnnc_jit.so ]; then install -d $(P_LIB)/nnc && install -m 755 $(B)/libnnc_jit.so $(P_LIB)/nnc; fi
	if [ -f $(B)/libnnrt_nccl.a ]; then install -m 644 $(B)/libnnrt_nccl.a $(P_LIB); fi
	install -m 644 $(B)/libnnrt_core.a $(P_LIB)/libnnrt_core.a
	install -m 644 $(NNRT_ISAS:%=$(B)/nnrt_isa_%.o) $(P_LIB)
	sed $(PKG_SED) packaging/nnc-core.pc.in >$(P_LIB)/pkgconfig/nnc-core.pc
	if [ -f $(B)/nnrt_png.o ]; then install -m 644 $(B)/nnrt_png.o $(P_LIB)/nnrt_png.o && \
	    install -m 644 runtime/png/nnrt_png.h $(P_INC) && \
	    sed $(PKG_SED) packaging/nnc-png.pc.in >$(P_LIB)/pkgconfig/nnc-png.pc; fi
	sed $(PKG_SED) packaging/nnc.1 >$(P_MAN)/nnc.1
	sed $(PKG_SED) packaging/nnc.pc.in >$(P_LIB)/pkgconfig/nnc.pc
	sed $(PKG_SED) packaging/nncConfig.cmake.in >$(P_CMAKE)/nncConfig.cmake
	sed $(PKG_SED) packaging/nncConfigVersion.cmake.in >$(P_CMAKE)/nncConfigVersion.cmake

uninstall:
	rm -f $(P_BIN)/nnc $(P_LIB)/libnnrt.a $(P_LIB)/libnnrt_cuda.a $(P_LIB)/libnnrt_mpi.a $(P_LIB)/libnnrt_nccl.a \
	    $(P_LIB)/libnnrt.so.$(VERSION) \
	    $(P_LIB)/$(SONAME) $(P_LIB)/libnnrt.so $(P_MAN)/nnc.1 $(P_LIB)/pkgconfig/nnc.pc \
	    $(P_CMAKE)/nncConfig.cmake $(P_CMAKE)/nncConfigVersion.cmake $(P_LIB)/libnnrt_core.a $(P_LIB)/nnrt_png.o \
	    $(P_LIB)/pkgconfig/nnc-core.pc $(P_LIB)/pkgconfig/nnc-png.pc $(P_LIB)/nnc/libnnc_jit.so \
	    $(NNRT_ISAS:%=$(P_LIB)/nnrt_isa_%.o)
	rm -f $(addprefix $(P_INC)/,$(notdir $(NNRT_HEADERS) $(CUDA_HEADERS) runtime/png/nnrt_png.h))
	-rmdir $(P_INC) $(P_CMAKE) $(P_LIB)/nnc 2>/dev/null

# ---- the demo: digits MLP trained on the UCI digits ------------------------
DEMO = $(B)/demo
demo: deps all
	@mkdir -p $(DEMO)
	$(B)/nnc examples/digits_mlp.nn --main -o $(DEMO)/digits_mlp.c
	$(CC) -std=c99 -O2 $(WARN) -Iruntime $(DEMO)/digits_mlp.c $(B)/libnnrt.a -lm -o $(DEMO)/digits_mlp
	$(DEMO)/digits_mlp train --data examples/data/digits/digits_train.csv --scale 0.0625 \
	    --epochs 30 --val-split 0.1 --seed 1 --save $(DEMO)/digits_mlp.safetensors
	@echo "== test accuracy on the held-out 20% (examples/data/digits/digits_test.csv) =="
	$(DEMO)/digits_mlp eval --data examples/data/digits/digits_test.csv --scale 0.0625 \
	    --load $(DEMO)/digits_mlp.safetensors

# ---- tests -----------------------------------------------------------------
test: deps all
	@sh tests/run.sh

# ---- long fuzzing: every libFuzzer harness FUZZ_SECONDS each (not part of make test;
# make test runs them briefly: tests/fuzz/run.sh) --------------------------------
FUZZ_SECONDS ?= 600
.PHONY: fuzz
fuzz: deps all
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_RT_SECONDS=$(FUZZ_SECONDS) sh tests/fuzz/run.sh

# ---- every example trained to its target (minutes; not part of make test) --
examples: all
	@sh scripts/install-deps.sh examples
	@sh examples/run.sh

# ---- benchmarks against peers measured in the same run ---------------------
bench: deps all
	@sh bench/run.sh

clean:
	rm -rf $(B)
