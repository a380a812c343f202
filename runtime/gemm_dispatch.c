/* gemm_dispatch.c — the GEMM entry points of nnrt_gemm.h, each passing the
 * call to one build of gemm.c.
 *
 * The portable libnnrt (the default on x86-64: make sets NNRT_GEMM_DISPATCH)
 * holds gemm.c three times: nnrt_gemm_avx512 (AVX-512 F/VL/BW/DQ, AVX2,
 * FMA, BMI1/2: the Makefile's GEMM_FLAGS_avx512, checked by has_avx512),
 * nnrt_gemm_avx2 (-mavx2 -mfma) and nnrt_gemm_c (no vector flags: SSE2 on
 * x86-64). Every call picks the first of those this CPU runs, asking the CPU
 * each time (__builtin_cpu_supports reads the features that libgcc recorded
 * at start-up, a load and a test): no choice is stored anywhere, so there is
 * no global mutable state and nothing to initialize. A call costs a few
 * nanoseconds more than the kernels.
 *
 * A program forces one path, where the CPU has it, by defining the constant
 * nnrt_gemm_force_isa ("avx512", "avx2" or "c"), in its own code or by
 * linking one of the objects that the Makefile builds from
 * runtime/isa/nnrt_isa.c (build/nnrt_isa_avx512.o, nnrt_isa_avx2.o,
 * nnrt_isa_c.o). Here it is a weak reference: a null address when no file of
 * the program defines it, so a call reads one address (and compares names
 * when it is set), not the environment. A path the CPU lacks, or another
 * name, is ignored (the best path is taken: never an illegal instruction).
 * nnrt_gemm_isa() names the path a call takes.
 *
 * Built otherwise (NNRT_ARCH=-march=native, or not x86-64), libnnrt holds
 * gemm.c once, nnrt_gemm_single, for the flags given, and nothing forces
 * another; so for the core runtime (libnnrt_core.a, -DNNRT_FREESTANDING).
 *
 * nnrt_sgemm_ws_floats sizes the workspace of nnrt_sgemm_ws for any build:
 * nnc --freestanding reserves that much of the model's block (the compiler
 * does not link the runtime: codegen/c/kernels.c repeats the formula). */
#include "nnrt_gemm.h"
#include "nnrt_internal.h"

#include <string.h>

#if defined(NNRT_GEMM_DISPATCH)
extern const nnrt_gemm_impl nnrt_gemm_avx512, nnrt_gemm_avx2, nnrt_gemm_c;
/* the path a program forces, where it defines this (see above) */
extern const char nnrt_gemm_force_isa[] __attribute__((weak));

/* the paths, best first, with what each needs of the CPU */
static int has_avx2(void) { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
static int has_avx512(void) {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") && has_avx2() &&
           __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2");
}
static int has_any(void) { return 1; }
static const struct {
    const nnrt_gemm_impl *impl;
    int (*runs)(void);
} paths[] = {{&nnrt_gemm_avx512, has_avx512}, {&nnrt_gemm_avx2, has_avx2}, {&nnrt_gemm_c, has_any}};
enum { NPATHS = sizeof paths / sizeof paths[0] };

static const nnrt_gemm_impl *pick(void) {
    if (nnrt_gemm_force_isa)
        for (int i = 0; i < NPATHS; i++)
            if (!strcmp(nnrt_gemm_force_isa, paths[i].impl->isa) && paths[i].runs()) return paths[i].impl;
    for (int i = 0; i < NPATHS; i++)
        if (paths[i].runs()) return paths[i].impl;
    return &nnrt_gemm_c;
}
#else
extern const nnrt_gemm_impl nnrt_gemm_single;

static const nnrt_gemm_impl *pick(void) { return &nnrt_gemm_single; }
#endif

const char *nnrt_gemm_isa(void) { return pick()->isa; }

void nnrt_sgemm_ep(int ta, int tb, long M, long N, long K, const float *A, long lda, const float *B, long ldb,
                   float beta, float *C, long ldc, nnrt_gemm_epilogue ep, void *ctx) {
    pick()->sgemm_ws_ep(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc, ep, ctx, NULL, 0);
}

void nnrt_sgemm(int ta, int tb, long M, long N, long K, const float *A, long lda, const float *B, long ldb,
                float beta, float *C, long ldc) {
    pick()->sgemm_ws_ep(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc, NULL, NULL, NULL, 0);
}

void nnrt_sgemm_ws_ep(int ta, int tb, long M, long N, long K, const float *A, long lda, const float *B, long ldb,
                      float beta, float *C, long ldc, nnrt_gemm_epilogue ep, void *ctx, float *ws, long nws) {
    pick()->sgemm_ws_ep(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc, ep, ctx, nws > 0 ? ws : NULL, nws);
}

void nnrt_sgemm_ws(int ta, int tb, long M, long N, long K, const float *A, long lda, const float *B, long ldb,
                   float beta, float *C, long ldc, float *ws, long nws) {
    pick()->sgemm_ws_ep(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc, NULL, NULL, nws > 0 ? ws : NULL, nws);
}

/* (the blocks of every build: MR 6 or 8 rows, a divisor of 24; NR 16 or 32
 * columns; + 16 floats to align to 64 bytes). A few rows times B^T packs
 * nothing (gemm.c's sgemm_rows_nt). */
long nnrt_sgemm_ws_floats(int ta, int tb, long M, long N, long K) {
    if (M <= 0 || N <= 0 || K <= 0 || (!ta && tb && M < 4)) return 0;
    long mc = (M + 23) / 24 * 24, nc = (N + 31) / 32 * 32;
    if (mc > NNRT_MC) mc = NNRT_MC;
    if (nc > NNRT_NC) nc = NNRT_NC;
    return (mc + nc) * nnrti_gemm_k_block(K) + 16;
}

void nnrt_dgemm_ep(int ta, int tb, long M, long N, long K, const double *A, long lda, const double *B, long ldb,
                   double beta, double *C, long ldc, nnrt_gemm_epilogue ep, void *ctx) {
    pick()->dgemm_ep(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc, ep, ctx);
}

void nnrt_dgemm(int ta, int tb, long M, long N, long K, const double *A, long lda, const double *B, long ldb,
                double beta, double *C, long ldc) {
    pick()->dgemm_ep(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc, NULL, NULL);
}
