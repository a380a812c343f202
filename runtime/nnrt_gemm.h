/* nnrt_gemm.h — matrix products used by generated kernels (gemm.c).
 *
 *   C[M, N] = op(A)[M, K] op(B)[K, N] + beta * C
 *
 * op(A) = A ([M, K], row stride lda) when ta == 0, else A^T with A stored
 * [K, M]; likewise B ([K, N] or, when tb, [N, K]). beta is 0 (overwrite)
 * or any value (scale C first). C must not overlap A or B. */
#ifndef NNRT_GEMM_H
#define NNRT_GEMM_H

#ifdef __cplusplus
extern "C" {
#endif

void nnrt_sgemm(int ta, int tb, long M, long N, long K, const float *A, long lda, const float *B, long ldb,
                float beta, float *C, long ldc);
void nnrt_dgemm(int ta, int tb, long M, long N, long K, const double *A, long lda, const double *B, long ldb,
                double beta, double *C, long ldc);
/* Which micro-kernel this build uses: "avx512", "avx2" or "c". */
const char *nnrt_gemm_isa(void);

#ifdef __cplusplus
}
#endif
#endif /* NNRT_GEMM_H */
