/* nnrt_gemm.h — matrix products used by generated kernels (gemm.c).
 *
 *   C[M, N] = op(A)[M, K] op(B)[K, N] + beta * C
 *
 * op(A) = A ([M, K], row stride lda) when ta == 0, else A^T with A stored
 * [K, M]; likewise B ([K, N] or, when tb, [N, K]). beta is 0 (overwrite)
 * or any value (scale C first). C must not overlap A or B.
 *
 * Built with OpenMP (-fopenmp), a product large enough to pay for it runs
 * on omp_get_max_threads() threads (one thread inside a parallel region),
 * split into disjoint blocks of C; K is never split, so the result is
 * bit-identical for any number of threads. Without OpenMP, one thread. */
#ifndef NNRT_GEMM_H
#define NNRT_GEMM_H

#ifdef __cplusplus
extern "C" {
#endif

/* Epilogue: called as ep(ctx, i0, j0, m, n) on the finished block
 * C[i0 .. i0+m, j0 .. j0+n) of the product.
 *  - Every element of C is in exactly one block; blocks are disjoint
 *    rectangles (typically MC rows x one NR-column panel, or whole rows).
 *  - A block is passed once it holds its final value (all of K accumulated,
 *    beta applied) and before the product moves on to other blocks, so it is
 *    still in cache; ep may read and rewrite that block of C (and anything
 *    else it knows through ctx), but must not touch other elements of C,
 *    nor A or B.
 *  - Blocks come in no particular order; with OpenMP, ep may be called from
 *    several threads at once (on disjoint blocks).
 * nnrt_sgemm_ep(..., NULL, ctx) is nnrt_sgemm. */
typedef void (*nnrt_gemm_epilogue)(void *ctx, long i0, long j0, long m, long n);

void nnrt_sgemm(int ta, int tb, long M, long N, long K, const float *A, long lda, const float *B, long ldb,
                float beta, float *C, long ldc);
void nnrt_dgemm(int ta, int tb, long M, long N, long K, const double *A, long lda, const double *B, long ldb,
                double beta, double *C, long ldc);
void nnrt_sgemm_ep(int ta, int tb, long M, long N, long K, const float *A, long lda, const float *B, long ldb,
                   float beta, float *C, long ldc, nnrt_gemm_epilogue ep, void *ctx);
void nnrt_dgemm_ep(int ta, int tb, long M, long N, long K, const double *A, long lda, const double *B, long ldb,
                   double beta, double *C, long ldc, nnrt_gemm_epilogue ep, void *ctx);
/* The same products with the packing workspace from the caller (ws, nws
 * floats; any alignment): nothing on the stack beyond a few hundred bytes,
 * nothing allocated. The generated code of `nnc --freestanding` passes a
 * part of the model's block. With nws >= nnrt_sgemm_ws_floats(ta, tb, M, N,
 * K) the blocks are those of nnrt_sgemm and so are the bits; with less, the
 * blocks are smaller (same bits) and, when not even one sliver of A and one
 * panel of B fit (2 x 32 x the K block of at most 256, + 16 floats), the
 * product runs as plain loops (correct, slower, rounded in another order).
 * ws may be NULL when nws is 0. */
void nnrt_sgemm_ws(int ta, int tb, long M, long N, long K, const float *A, long lda, const float *B, long ldb,
                   float beta, float *C, long ldc, float *ws, long nws);
void nnrt_sgemm_ws_ep(int ta, int tb, long M, long N, long K, const float *A, long lda, const float *B, long ldb,
                      float beta, float *C, long ldc, nnrt_gemm_epilogue ep, void *ctx, float *ws, long nws);
/* Floats of workspace that a product of these dimensions packs into, for
 * every build of gemm.c (the largest MR and NR of them), with room to align
 * it to 64 bytes; 0 for a product that packs nothing. */
long nnrt_sgemm_ws_floats(int ta, int tb, long M, long N, long K);

/* Which micro-kernel a call takes now: "avx512", "avx2" or "c". On x86-64
 * the default libnnrt picks the best one the CPU has, per call; a program
 * that defines `const char nnrt_gemm_force_isa[] = "avx2";` (or "avx512",
 * "c"), or links build/nnrt_isa_avx2.o (..._avx512.o, ..._c.o), forces one
 * the CPU has (gemm_dispatch.c). A libnnrt built with NNRT_ARCH=-march=...
 * has one. */
const char *nnrt_gemm_isa(void);

#ifdef __cplusplus
}
#endif
#endif /* NNRT_GEMM_H */
