/* gemm.c — matrix products for the generated kernels.
 *
 *   C[M, N] = op(A)[M, K] op(B)[K, N] + beta * C,   op(X) = X or X^T
 *
 * Blocked for the caches and registers: K in blocks of KC, N in panels of
 * NR columns that are packed into a small contiguous buffer on the stack
 * (op(B) rows of NR floats, zero-padded at the right edge), then a
 * register-blocked MR x NR micro-kernel runs down the rows of A. The
 * micro-kernel is chosen at compile time: AVX-512F (6 x 32), AVX2 + FMA
 * (6 x 16), or portable C (6 x 16) that compilers vectorize as they can.
 * No allocation, no global state; the packing buffer is KC * NR floats.
 */
#include "nnrt_gemm.h"

#include <string.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#define NNRT_GEMM_ISA "avx512"
enum { MR = 6, NR = 32 };
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define NNRT_GEMM_ISA "avx2"
enum { MR = 6, NR = 16 };
#else
#define NNRT_GEMM_ISA "c"
enum { MR = 6, NR = 16 };
#endif
enum { KC = 256 };

const char *nnrt_gemm_isa(void) { return NNRT_GEMM_ISA; }

enum { MC = 96 }; /* rows of A packed at once: MC x KC floats on the stack */

/* Element (i, k) of op(A). */
static float a_at(int ta, const float *A, long lda, long i, long k) {
    return ta ? A[k * lda + i] : A[i * lda + k];
}

/* Pack op(A)[i0 .. i0+mc, k0 .. k0+kc) as slivers of MR rows: sliver s
 * holds kc columns of MR values (ap[s][k][r]), zero-padded below mc. */
static void pack_a(int ta, const float *A, long lda, long i0, long mc, long k0, long kc, float *ap) {
    for (long s = 0; s < mc; s += MR)
        for (long k = 0; k < kc; k++) {
            float *dst = ap + s * kc + k * MR;
            for (long r = 0; r < MR; r++) dst[r] = s + r < mc ? a_at(ta, A, lda, i0 + s + r, k0 + k) : 0;
        }
}

/* Pack op(B)[k0 .. k0+kc, j0 .. j0+nr) as kc rows of NR, zero-padded. */
static void pack_b(int tb, const float *B, long ldb, long k0, long kc, long j0, long nr, float *bp) {
    for (long k = 0; k < kc; k++) {
        float *row = bp + k * NR;
        if (!tb) {
            memcpy(row, B + (k0 + k) * ldb + j0, (size_t)nr * sizeof(float));
        } else {
            for (long j = 0; j < nr; j++) row[j] = B[(j0 + j) * ldb + k0 + k];
        }
        for (long j = nr; j < NR; j++) row[j] = 0;
    }
}

/* acc[MR][NR] = sum over k < kc of ap[k][r] * bp[k][.] */
/* The six rows are written out so that the twelve accumulators stay in
 * registers at -O2. */
#if defined(__AVX512F__)
#define ROW(r)                                         \
    ar = _mm512_set1_ps(a[r]);                         \
    c##r##0 = _mm512_fmadd_ps(ar, b0, c##r##0);        \
    c##r##1 = _mm512_fmadd_ps(ar, b1, c##r##1);
#define OUT(r)                                         \
    _mm512_storeu_ps(acc[r], c##r##0);                 \
    _mm512_storeu_ps(acc[r] + 16, c##r##1);
static void micro(long kc, const float *ap, const float *bp, float acc[MR][NR]) {
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m512 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, ar;
    for (long k = 0; k < kc; k++) {
        __m512 b0 = _mm512_loadu_ps(bp + k * NR), b1 = _mm512_loadu_ps(bp + k * NR + 16);
        const float *a = ap + k * MR;
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
    }
    OUT(0) OUT(1) OUT(2) OUT(3) OUT(4) OUT(5)
}
#elif defined(__AVX2__) && defined(__FMA__)
#define ROW(r)                                         \
    ar = _mm256_broadcast_ss(a + r);                   \
    c##r##0 = _mm256_fmadd_ps(ar, b0, c##r##0);        \
    c##r##1 = _mm256_fmadd_ps(ar, b1, c##r##1);
#define OUT(r)                                         \
    _mm256_storeu_ps(acc[r], c##r##0);                 \
    _mm256_storeu_ps(acc[r] + 8, c##r##1);
static void micro(long kc, const float *ap, const float *bp, float acc[MR][NR]) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, ar;
    for (long k = 0; k < kc; k++) {
        __m256 b0 = _mm256_loadu_ps(bp + k * NR), b1 = _mm256_loadu_ps(bp + k * NR + 8);
        const float *a = ap + k * MR;
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
    }
    OUT(0) OUT(1) OUT(2) OUT(3) OUT(4) OUT(5)
}
#else
static void micro(long kc, const float *ap, const float *bp, float acc[MR][NR]) {
    memset(acc, 0, sizeof(float) * MR * NR);
    for (long k = 0; k < kc; k++) {
        const float *b = bp + k * NR, *a = ap + k * MR;
        for (int r = 0; r < MR; r++)
            for (int j = 0; j < NR; j++) acc[r][j] += a[r] * b[j];
    }
}
#endif

/* C tile (mr x nr at i0, j0) = acc (+ old C scaled by beta on the first K block). */
static void store(float *C, long ldc, long i0, long j0, long mr, long nr, float acc[MR][NR], int first, float beta) {
    for (long r = 0; r < mr; r++) {
        float *c = C + (i0 + r) * ldc + j0;
        if (first && beta == 0)
            for (long j = 0; j < nr; j++) c[j] = acc[r][j];
        else if (first)
            for (long j = 0; j < nr; j++) c[j] = beta * c[j] + acc[r][j];
        else
            for (long j = 0; j < nr; j++) c[j] += acc[r][j];
    }
}

static void zero_k(long M, long N, float beta, float *C, long ldc) {
    for (long i = 0; i < M; i++)
        for (long j = 0; j < N; j++) C[i * ldc + j] = beta == 0 ? 0 : beta * C[i * ldc + j];
}

/* sum of a[k] * b[k] for k < K, both contiguous */
static float dot(const float *a, const float *b, long K) {
    long k = 0;
    float s = 0;
#if defined(__AVX512F__)
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    for (; k + 32 <= K; k += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k), _mm512_loadu_ps(b + k), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k + 16), _mm512_loadu_ps(b + k + 16), s1);
    }
    s = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
#elif defined(__AVX2__) && defined(__FMA__)
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    for (; k + 16 <= K; k += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 8), _mm256_loadu_ps(b + k + 8), s1);
    }
    float t[8];
    _mm256_storeu_ps(t, _mm256_add_ps(s0, s1));
    s = ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
#else
    float p[8] = {0};
    for (; k + 8 <= K; k += 8)
        for (int j = 0; j < 8; j++) p[j] += a[k + j] * b[k + j];
    s = ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
#endif
    for (; k < K; k++) s += a[k] * b[k];
    return s;
}

/* A few rows times a transposed B (a layer's forward at batch 1..3):
 * packing would cost more than the product, so take dot products of the
 * contiguous rows of A and B directly. */
static void sgemm_rows_nt(long M, long N, long K, const float *A, long lda, const float *B, long ldb, float beta,
                          float *C, long ldc) {
    for (long i = 0; i < M; i++)
        for (long j = 0; j < N; j++) {
            float d = dot(A + i * lda, B + j * ldb, K);
            C[i * ldc + j] = beta == 0 ? d : beta * C[i * ldc + j] + d;
        }
}

void nnrt_sgemm(int ta, int tb, long M, long N, long K, const float *A, long lda, const float *B, long ldb,
                float beta, float *C, long ldc) {
    float ap[MC * KC], bp[KC * NR], acc[MR][NR];
    if (K == 0) return zero_k(M, N, beta, C, ldc);
    if (!ta && tb && M < 4) return sgemm_rows_nt(M, N, K, A, lda, B, ldb, beta, C, ldc);
    for (long k0 = 0; k0 < K; k0 += KC) {
        long kc = K - k0 < KC ? K - k0 : KC;
        for (long i0 = 0; i0 < M; i0 += MC) {
            long mc = M - i0 < MC ? M - i0 : MC;
            pack_a(ta, A, lda, i0, mc, k0, kc, ap);
            for (long j0 = 0; j0 < N; j0 += NR) {
                long nr = N - j0 < NR ? N - j0 : NR;
                pack_b(tb, B, ldb, k0, kc, j0, nr, bp);
                for (long s = 0; s < mc; s += MR) {
                    micro(kc, ap + s * kc, bp, acc);
                    store(C, ldc, i0 + s, j0, mc - s < MR ? mc - s : MR, nr, acc, k0 == 0, beta);
                }
            }
        }
    }
}

/* Double precision (gradient checks, --dtype f64): plain blocked loops. */
void nnrt_dgemm(int ta, int tb, long M, long N, long K, const double *A, long lda, const double *B, long ldb,
                double beta, double *C, long ldc) {
    for (long i = 0; i < M; i++) {
        double *c = C + i * ldc;
        for (long j = 0; j < N; j++) c[j] = beta == 0 ? 0 : beta * c[j];
        for (long k = 0; k < K; k++) {
            double a = ta ? A[k * lda + i] : A[i * lda + k];
            if (!tb) {
                const double *b = B + k * ldb;
                for (long j = 0; j < N; j++) c[j] += a * b[j];
            } else {
                for (long j = 0; j < N; j++) c[j] += a * B[j * ldb + k];
            }
        }
    }
}
