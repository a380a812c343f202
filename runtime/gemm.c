/* gemm.c — matrix products for the generated kernels.
 *
 *   C[M, N] = op(A)[M, K] op(B)[K, N] + beta * C,   op(X) = X or X^T
 *
 * Goto/BLIS-style blocking, row-major: for each block of NC columns of C
 * and each block of kc rows of op(B) (kc <= KC, the K blocks of one product
 * all about the same size), op(B) is packed once into panels of NR columns
 * (kc x NR each, zero-padded at the right edge) and reused for all of M;
 * for each block of MC rows, op(A) is packed into slivers of MR rows
 * (kc x MR each). A register-blocked MR x NR micro-kernel then runs down
 * the slivers for one B panel at a time (the panel stays in L1, the packed
 * A block in L2) and writes its tile of C straight from the registers
 * (C = acc, C = beta C + acc on the first K block, C += acc after), with
 * masked stores at the right edge. The micro-kernel is chosen at compile
 * time: AVX-512F (8 x 32), AVX2 + FMA (6 x 16), or portable C (6 x 16) that
 * compilers vectorize as they can. Packing a transposed operand uses 8 x 8
 * register transposes where AVX is available.
 *
 * Small shapes (AVX-512): A B^T with N <= 16 and few rows or N < 8 (a
 * classifier's logits), or with 1..3 rows of A (a layer's forward at batch
 * 1: 16 rows of B at a time, sixteen independent sums; see nt_narrow_pays)
 * is dot products along the rows of A and B, nothing packed; A read in
 * place runs 12 rows at a time (a 12 x 32 block) while more than 8, but
 * not 16, are left (M = 10: a logits layer's dW); B not transposed is read
 * where it is when M <= 16. On AVX2, 1..3 rows of A times B^T take eight
 * rows of B at a time (dot8). The dot products change the rounding (a tree
 * sum over K instead of K in order); the others give the same bits.
 *
 * Built once per ISA (gemm_dispatch.c picks one at run time; see there):
 * each build exports only its table of entry points, nnrt_gemm_impl, named
 * by -DNNRT_GEMM_TABLE=... (default nnrt_gemm_single, the build for the
 * flags given).
 *
 * No global state. The packing workspace is the caller's when given
 * (nnrt_sgemm_ws: a part of the model's block in `nnc --freestanding`
 * code), else on the stack when it fits in STACK_FLOATS floats, else
 * malloc'ed for the call (if that fails, the stack with smaller MC/NC
 * blocks: same result, slower). Built with -DNNRT_FREESTANDING (the core
 * runtime, libnnrt_core.a) there is no stack workspace and no malloc: the
 * caller's workspace or, without one, plain loops.
 *
 * With OpenMP (compiled with -fopenmp) a product large enough to pay for it
 * is split over threads into disjoint blocks of rows or columns of C; K is
 * never split and every element takes the same sequence of operations, so
 * the result is bit-identical for any number of threads.
 */
#include "nnrt_gemm.h"
#include "nnrt_internal.h"

#include <string.h>
#ifndef NNRT_FREESTANDING
#include <stdlib.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__AVX512F__)
#include <immintrin.h>
#define NNRT_GEMM_ISA "avx512"
enum { MR = 8, NR = 32 };
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define NNRT_GEMM_ISA "avx2"
enum { MR = 6, NR = 16 };
#else
#define NNRT_GEMM_ISA "c"
enum { MR = 6, NR = 16 };
#endif

/* KC: most rows of op(B) per K block (a B panel, KC x NR floats, stays in
 * L1). MC: rows of op(A) packed at once (MC x KC in L2). NC: columns of
 * op(B) packed at once (KC x NC, reused across all of M). (nnrt_internal.h) */
enum { KC = NNRT_KC, MC = NNRT_MC, NC = NNRT_NC };
/* packing workspace on the stack up to this many floats (192 KB) */
enum { STACK_FLOATS = 48 * 1024 };
/* With OpenMP: products with fewer multiply-adds (M N K) than this stay on
 * one thread. Measured on a 2-core AVX-512 machine (best call of many, the
 * machine shared): 64x128x128 (2^20) ran 1.55x faster on two threads,
 * 64x784x128 1.8x; 64x64x32 (2^17) did not gain. */
#ifndef NNRT_GEMM_PAR_MIN
#define NNRT_GEMM_PAR_MIN (1L << 20)
#endif

enum { SET, SCALE, ADD }; /* how a tile is written: C = acc, C = beta C + acc, C += acc */

static long lmin(long a, long b) { return a < b ? a : b; }

/* ---- packing ------------------------------------------------------------ */

#if defined(__AVX__)
#ifndef __AVX512F__
#include <immintrin.h>
#endif
/* d[c * ld + r] = s[r * ls + c] for r, c < 8 */
static void tr8x8(const float *s, long ls, float *d, long ld) {
    __m256 r0 = _mm256_loadu_ps(s), r1 = _mm256_loadu_ps(s + ls), r2 = _mm256_loadu_ps(s + 2 * ls);
    __m256 r3 = _mm256_loadu_ps(s + 3 * ls), r4 = _mm256_loadu_ps(s + 4 * ls), r5 = _mm256_loadu_ps(s + 5 * ls);
    __m256 r6 = _mm256_loadu_ps(s + 6 * ls), r7 = _mm256_loadu_ps(s + 7 * ls);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(d, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(d + ld, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(d + 2 * ld, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(d + 3 * ld, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(d + 4 * ld, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(d + 5 * ld, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(d + 6 * ld, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(d + 7 * ld, _mm256_permute2f128_ps(u3, u7, 0x31));
}
#endif

/* d[c * ld + r] = s[r * ls + c] for r < rows, c < cols (rows <= ld), and
 * d[c * ld + r] = 0 for rows <= r < ld: a transposing pack. */
static void pack_t(const float *s, long ls, long rows, long cols, float *d, long ld) {
    long r = 0;
    if (rows < ld) memset(d, 0, sizeof(float) * (size_t)(cols * ld));
#if defined(__AVX__)
    for (; r + 8 <= rows; r += 8) {
        long c = 0;
        for (; c + 8 <= cols; c += 8) tr8x8(s + r * ls + c, ls, d + c * ld + r, ld);
        for (; c < cols; c++)
            for (long q = 0; q < 8; q++) d[c * ld + r + q] = s[(r + q) * ls + c];
    }
#endif
    if (r < rows) /* the rows left, a few columns at a time so that reads stay in a few lines */
        for (long c0 = 0; c0 < cols; c0 += 16)
            for (long q = r; q < rows; q++)
                for (long c = c0; c < lmin(c0 + 16, cols); c++) d[c * ld + q] = s[q * ls + c];
}

/* d[k * ld + c] = s[k * ls + c] for c < cols, zero for cols <= c < ld (= MR or NR) */
static void pack_n(const float *s, long ls, long kc, long cols, float *d, long ld) {
    if (cols == ld) {
        for (long k = 0; k < kc; k++) memcpy(d + k * ld, s + k * ls, sizeof(float) * (size_t)ld);
        return;
    }
    for (long k = 0; k < kc; k++) {
        for (long c = 0; c < cols; c++) d[k * ld + c] = s[k * ls + c];
        for (long c = cols; c < ld; c++) d[k * ld + c] = 0;
    }
}

/* op(A)[i0 .. i0+mc, k0 .. k0+kc) as slivers of MR rows: sliver s holds kc
 * columns of MR values (ap[s / MR][k][r]), zero-padded below mc. */
static void pack_a(int ta, const float *A, long lda, long i0, long mc, long k0, long kc, float *ap) {
    for (long s = 0; s < mc; s += MR) {
        long mr = lmin(MR, mc - s);
        if (ta)
            pack_n(A + k0 * lda + i0 + s, lda, kc, mr, ap + s * kc, MR);
        else
            pack_t(A + (i0 + s) * lda + k0, lda, mr, kc, ap + s * kc, MR);
    }
}

/* op(B)[k0 .. k0+kc, j0 .. j0+nc) as panels of NR columns (bp[p / NR][k][j]),
 * zero-padded right of nc. */
static void pack_b(int tb, const float *B, long ldb, long k0, long kc, long j0, long nc, float *bp) {
    for (long p = 0; p < nc; p += NR) {
        long nr = lmin(NR, nc - p);
        if (tb)
            pack_t(B + (j0 + p) * ldb + k0, ldb, nr, kc, bp + p * kc, NR);
        else
            pack_n(B + k0 * ldb + j0 + p, ldb, kc, nr, bp + p * kc, NR);
    }
}

#if defined(__GNUC__)
#define INLINE static inline __attribute__((always_inline))
#else
#define INLINE static inline
#endif
/* row offsets o0..o7 of A in a micro-kernel: r * as, the rows past mra
 * reading row mra - 1 instead (A as it is has no padding to read) */
#define AOFFS(o, mra)                                                                             \
    const long o##0 = 0, o##1 = lmin(1, mra - 1) * as, o##2 = lmin(2, mra - 1) * as,              \
               o##3 = lmin(3, mra - 1) * as, o##4 = lmin(4, mra - 1) * as, o##5 = lmin(5, mra - 1) * as, \
               o##6 = lmin(6, (mra) - 1) * as, o##7 = lmin(7, (mra) - 1) * as;                    \
    (void)o##6, (void)o##7;

/* ---- micro-kernels: C tile (mr x nr, row stride ldc) from kc steps of
 * ap[k][0..MR) x bp[k][0..NR), written as `mode` says ----------------------- */

#if !defined(__AVX512F__)
/* a tile held in acc (rows of NR), written to C (edges, and the portable kernel) */
static void store_acc(float *c, long ldc, long mr, long nr, float acc[MR][NR], int mode, float beta) {
    for (long r = 0; r < mr; r++, c += ldc) {
        if (mode == SET)
            for (long j = 0; j < nr; j++) c[j] = acc[r][j];
        else if (mode == SCALE)
            for (long j = 0; j < nr; j++) c[j] = beta * c[j] + acc[r][j];
        else
            for (long j = 0; j < nr; j++) c[j] += acc[r][j];
    }
}
#endif

#if defined(__AVX512F__)
static inline void row512(float *c, __m512 x0, __m512 x1, __mmask16 m0, __mmask16 m1, int mode, __m512 beta) {
    if (mode == ADD) {
        x0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, c), x0);
        x1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, c + 16), x1);
    } else if (mode == SCALE) {
        x0 = _mm512_fmadd_ps(beta, _mm512_maskz_loadu_ps(m0, c), x0);
        x1 = _mm512_fmadd_ps(beta, _mm512_maskz_loadu_ps(m1, c + 16), x1);
    }
    _mm512_mask_storeu_ps(c, m0, x0);
    _mm512_mask_storeu_ps(c + 16, m1, x1);
}
#define ROW(r)                                      \
    if (rows > r) {                                 \
        ar = _mm512_set1_ps(a[o##r]);               \
        c##r##0 = _mm512_fmadd_ps(ar, b0, c##r##0); \
        c##r##1 = _mm512_fmadd_ps(ar, b1, c##r##1); \
    }
#define OUT(r) \
    if (rows > r && r < mr) row512(c + r * ldc, c##r##0, c##r##1, m0, m1, mode, vb);
/* `rows` (8, or 12 for a product of 9..12 rows read in place) is a constant
 * where it is inlined. B has row stride bk: NR when packed, or ldb when the
 * kernel reads B as it is (the loads are masked to the nr columns). */
INLINE void micro_body(long kc, const float *ap, long ak, long as, long mra, const float *bp, long bk, float *c,
                       long ldc, long mr, long nr, int mode, float beta, int rows) {
    AOFFS(o, mra)
    const long o8 = lmin(8, mra - 1) * as, o9 = lmin(9, mra - 1) * as, o10 = lmin(10, mra - 1) * as,
               o11 = lmin(11, mra - 1) * as;
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    __m512 c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00, ar;
    __m512 c80 = c00, c81 = c00, c90 = c00, c91 = c00, c100 = c00, c101 = c00, c110 = c00, c111 = c00;
    (void)o8, (void)o9, (void)o10, (void)o11;
    for (long r = 0; r < mr; r++) {
        _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + r * ldc + NR - 1), _MM_HINT_T0);
    }
    __mmask16 m0 = nr >= 16 ? 0xFFFF : (__mmask16)((1u << nr) - 1);
    __mmask16 m1 = nr >= 32 ? 0xFFFF : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
    const float *a = ap, *b = bp;
    for (long k = 0; k < kc; k++, a += ak, b += bk) {
        __m512 b0 = _mm512_maskz_loadu_ps(m0, b), b1 = _mm512_maskz_loadu_ps(m1, b + 16);
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5) ROW(6) ROW(7) ROW(8) ROW(9) ROW(10) ROW(11)
    }
    __m512 vb = _mm512_set1_ps(beta);
    OUT(0) OUT(1) OUT(2) OUT(3) OUT(4) OUT(5) OUT(6) OUT(7) OUT(8) OUT(9) OUT(10) OUT(11)
}
/* Right-edge panels of at most 16 columns: 16 rows (two A slivers) x 16
 * columns, so that the sixteen accumulators stay busy on a narrow panel. */
#define ROW16(r)                                                   \
    c##r = _mm512_fmadd_ps(_mm512_set1_ps(a0[o##r]), b0, c##r);    \
    c##r##h = _mm512_fmadd_ps(_mm512_set1_ps(a1[q##r]), b0, c##r##h);
#define OUT16(r)                                                                        \
    if (r < mr) row512(c + r * ldc, c##r, zero, m0, 0, mode, vb);                      \
    if (r + 8 < mr) row512(c + (r + 8) * ldc, c##r##h, zero, m0, 0, mode, vb);
INLINE void micro16_body(long kc, const float *ap0, const float *ap1, long ak, long as, long mra0, long mra1,
                         const float *bp, long bk, float *c, long ldc, long mr, long nr, int mode, float beta) {
    AOFFS(o, mra0)
    AOFFS(q, mra1)
    __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
    __m512 c0h = c0, c1h = c0, c2h = c0, c3h = c0, c4h = c0, c5h = c0, c6h = c0, c7h = c0, zero = c0;
    const float *a0 = ap0, *a1 = ap1, *b = bp;
    __mmask16 m0 = (__mmask16)((1u << nr) - 1);
    for (long k = 0; k < kc; k++, a0 += ak, a1 += ak, b += bk) {
        __m512 b0 = _mm512_maskz_loadu_ps(m0, b);
        ROW16(0) ROW16(1) ROW16(2) ROW16(3) ROW16(4) ROW16(5) ROW16(6) ROW16(7)
    }
    __m512 vb = _mm512_set1_ps(beta);
    OUT16(0) OUT16(1) OUT16(2) OUT16(3) OUT16(4) OUT16(5) OUT16(6) OUT16(7)
}
/* 16 rows of packed A (two slivers) or of A as it is (see micro_u) */
static void micro16_p(long kc, const float *ap0, const float *ap1, const float *bp, long bk, float *c, long ldc,
                      long mr, long nr, int mode, float beta) {
    micro16_body(kc, ap0, ap1, MR, 1, MR, MR, bp, bk, c, ldc, mr, nr, mode, beta);
}
static void micro16_u(long kc, const float *a, long ak, long as, const float *bp, long bk, float *c, long ldc, long mr,
                      long nr, int mode, float beta) {
    micro16_body(kc, a, a + MR * as, ak, as, MR, mr - MR, bp, bk, c, ldc, mr, nr, mode, beta);
}
/* 9..12 rows of A as it is, 32 columns: a product of that few rows in one
 * pass over B instead of 8 rows and a mostly idle second block */
static void micro12_u(long kc, const float *a, long ak, long as, const float *bp, long bk, float *c, long ldc, long mr,
                      long nr, int mode, float beta) {
    micro_body(kc, a, ak, as, mr, bp, bk, c, ldc, mr, nr, mode, beta, 12);
}
#elif defined(__AVX2__) && defined(__FMA__)
#define ROW(r)                                  \
    ar = _mm256_broadcast_ss(a + o##r);         \
    c##r##0 = _mm256_fmadd_ps(ar, b0, c##r##0); \
    c##r##1 = _mm256_fmadd_ps(ar, b1, c##r##1);
#define OUT(r)                                                                        \
    if (r < mr) {                                                                     \
        float *cr = c + r * ldc;                                                      \
        if (mode == ADD) {                                                            \
            c##r##0 = _mm256_add_ps(_mm256_loadu_ps(cr), c##r##0);                    \
            c##r##1 = _mm256_add_ps(_mm256_loadu_ps(cr + 8), c##r##1);                \
        } else if (mode == SCALE) {                                                   \
            c##r##0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr), c##r##0);              \
            c##r##1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr + 8), c##r##1);          \
        }                                                                             \
        _mm256_storeu_ps(cr, c##r##0);                                                \
        _mm256_storeu_ps(cr + 8, c##r##1);                                            \
    }
#define ACC(r)                            \
    _mm256_storeu_ps(acc[r], c##r##0); \
    _mm256_storeu_ps(acc[r] + 8, c##r##1);
INLINE void micro_body(long kc, const float *ap, long ak, long as, long mra, const float *bp, long bk, float *c,
                       long ldc, long mr, long nr, int mode, float beta, int rows) {
    AOFFS(o, mra)
    (void)rows;
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, ar;
    const float *a = ap, *b = bp;
    for (long k = 0; k < kc; k++, a += ak, b += bk) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
    }
    if (nr == NR) {
        __m256 vb = _mm256_set1_ps(beta);
        OUT(0) OUT(1) OUT(2) OUT(3) OUT(4) OUT(5)
    } else {
        float acc[MR][NR];
        ACC(0) ACC(1) ACC(2) ACC(3) ACC(4) ACC(5)
        store_acc(c, ldc, mr, nr, acc, mode, beta);
    }
}
#else
INLINE void micro_body(long kc, const float *ap, long ak, long as, long mra, const float *bp, long bk, float *c,
                       long ldc, long mr, long nr, int mode, float beta, int rows) {
    float acc[MR][NR];
    (void)rows;
    long o[MR];
    for (long r = 0; r < MR; r++) o[r] = lmin(r, mra - 1) * as;
    memset(acc, 0, sizeof acc);
    for (long k = 0; k < kc; k++) {
        const float *b = bp + k * bk, *a = ap + k * ak;
        for (int r = 0; r < MR; r++)
            for (int j = 0; j < NR; j++) acc[r][j] += a[o[r]] * b[j];
    }
    store_acc(c, ldc, mr, nr, acc, mode, beta);
}
#endif

/* a packed sliver (a(r, k) = ap[k * MR + r]) */
static void micro_p(long kc, const float *ap, const float *bp, long bk, float *c, long ldc, long mr, long nr, int mode,
                    float beta) {
    micro_body(kc, ap, MR, 1, MR, bp, bk, c, ldc, mr, nr, mode, beta, MR);
}
/* mr rows of A as it is: a(r, k) = a[k * ak + r * as], no row past mr read */
static void micro_u(long kc, const float *a, long ak, long as, const float *bp, long bk, float *c, long ldc, long mr,
                    long nr, int mode, float beta) {
    micro_body(kc, a, ak, as, mr, bp, bk, c, ldc, mr, nr, mode, beta, MR);
}

/* ---- drivers ------------------------------------------------------------ */

typedef struct {
    int ta, tb;
    long M, N, K, kc; /* kc: the K block, a function of K alone */
    int pa;           /* pack op(A) (else the kernels read A as it is) */
    int pb;           /* pack op(B) (else, B not transposed, the kernels read it as it is) */
    const float *A, *B;
    long lda, ldb, ldc;
    float beta;
    float *C;
    nnrt_gemm_epilogue ep;
    void *ctx;
    float *ws; /* the caller's workspace of nws floats, or NULL */
    long nws;
} sjob;

static long k_block(long K) { return nnrti_gemm_k_block(K); }

/* Whether to pack op(A). The kernels can read A where it is (8 rows of A,
 * or one row of A^T per step): measured as fast as packed A on the MLP's and
 * the GPT's shapes, where packing costs up to a fifth of the product. Packed
 * when many panels reuse it, and when the row stride is a multiple of 4 KB
 * (the rows would share cache sets). op(A) = A^T (a weight gradient X^T dY)
 * read in place takes a new cache line of A per step of K, each for MR
 * floats, and the lines of one sliver are lda apart (few cache sets): packed
 * when K > 128 (measured on one thread: 512x128x2048 TN 78 -> 110 GFLOP/s),
 * in place for K <= 128, the lines of a K block few enough to stay in L1
 * (AVX-512, per call: 128x784x64 TN 91 -> 88 us, 128x2048x64 333 -> 249,
 * 128x128x64 15.4 -> 12.9, 128x128x128 31.6 -> 27.3; AVX2 within 2% or
 * faster). 9..12 rows stay in place for the 12-row kernel. */
static int pack_a_pays(int ta, long M, long N, long K, long lda) {
#ifndef NNRT_GEMM_PACK_A_MIN_N
#define NNRT_GEMM_PACK_A_MIN_N 512
#endif
    if (ta && M > 12 && N > NR) return K > 128 || lda % 1024 == 0;
    return lda % 1024 == 0 || N > NNRT_GEMM_PACK_A_MIN_N;
}

/* Whether to pack op(B). Only the AVX-512 kernels (masked loads at the
 * right edge) can read B as it is, and only when it is not transposed. Not
 * packed when few rows of C reuse it (M <= 16: B is read once or twice),
 * where the packing pass costs a tenth or more of the product (measured on
 * 10x128x64 TN); packed when the row stride is a multiple of 4 KB (the rows
 * would share cache sets). Packing does not change the result. */
static int pack_b_pays(int tb, long M, long K, long ldb) {
#if defined(__AVX512F__)
    (void)K;
    return tb || ldb % 1024 == 0 || M > 2 * MR;
#else
    (void)tb, (void)M, (void)K, (void)ldb;
    return 1;
#endif
}

/* C[i_beg .. i_end, j_beg .. j_end) of the product g by plain loops, K in
 * order (a workspace too small for one sliver and one panel) */
static void sgemm_plain(const sjob *g, long i_beg, long i_end, long j_beg, long j_end) {
    for (long i = i_beg; i < i_end; i++) {
        for (long j = j_beg; j < j_end; j++) {
            float s = 0;
            for (long k = 0; k < g->K; k++)
                s += (g->ta ? g->A[k * g->lda + i] : g->A[i * g->lda + k]) *
                     (g->tb ? g->B[j * g->ldb + k] : g->B[k * g->ldb + j]);
            float *c = g->C + i * g->ldc + j;
            *c = g->beta == 0 ? s : g->beta * *c + s;
        }
        if (g->ep) g->ep(g->ctx, i, j_beg, 1, j_end - j_beg);
    }
}

/* C[i_beg .. i_end, j_beg .. j_end) of the product g, packing into ws (nws
 * floats, aligned here to 64 bytes): the MC/NC blocks shrink to fit it (the
 * same result), plain loops when not even one sliver and one panel fit. */
static void sgemm_blocks(const sjob *g, long i_beg, long i_end, long j_beg, long j_end, float *ws, long nws) {
    const long kcmax = g->kc;
    long mcmax = lmin((i_end - i_beg + MR - 1) / MR * MR, MC), ncmax = lmin((j_end - j_beg + NR - 1) / NR * NR, NC);
    long skip = ws ? (long)((64 - (uintptr_t)ws % 64) % 64 / sizeof(float)) : 0;
    ws += skip, nws -= skip;
    if ((mcmax + ncmax) * kcmax > nws) { /* smaller blocks that fit */
        long half = nws / 2 / kcmax;
        mcmax = lmin(mcmax, half / MR * MR);
        ncmax = lmin(ncmax, half / NR * NR);
        if (mcmax <= 0 || ncmax <= 0) return sgemm_plain(g, i_beg, i_end, j_beg, j_end);
    }
    float *ap = ws, *bp = ws + mcmax * kcmax;
    for (long j0 = j_beg; j0 < j_end; j0 += ncmax) {
        long nc = lmin(ncmax, j_end - j0);
        for (long k0 = 0; k0 < g->K; k0 += kcmax) {
            long kc = lmin(kcmax, g->K - k0);
            int mode = k0 > 0 ? ADD : g->beta == 0 ? SET : SCALE, last = k0 + kc >= g->K;
            if (g->pb) pack_b(g->tb, g->B, g->ldb, k0, kc, j0, nc, bp);
            for (long i0 = i_beg; i0 < i_end; i0 += mcmax) {
                long mc = lmin(mcmax, i_end - i0);
                /* A as it is, when packing it would cost more than it saves */
                const float *au = g->ta ? g->A + k0 * g->lda + i0 : g->A + i0 * g->lda + k0;
                long ak = g->ta ? g->lda : 1, as = g->ta ? 1 : g->lda;
                if (g->pa) pack_a(g->ta, g->A, g->lda, i0, mc, k0, kc, ap);
                for (long p = 0; p < nc; p += NR) {
                    long nr = lmin(NR, nc - p);
                    float *c = g->C + i0 * g->ldc + j0 + p;
                    const float *b = g->pb ? bp + p * kc : g->B + k0 * g->ldb + j0 + p;
                    long bk = g->pb ? NR : g->ldb;
                    long s = 0;
#if defined(__AVX512F__)
                    if (nr <= 16)
                        for (; s + MR < mc; s += 2 * MR) {
                            long mr = lmin(2 * MR, mc - s);
                            if (g->pa)
                                micro16_p(kc, ap + s * kc, ap + (s + MR) * kc, b, bk, c + s * g->ldc, g->ldc, mr, nr,
                                          mode, g->beta);
                            else
                                micro16_u(kc, au + s * as, ak, as, b, bk, c + s * g->ldc, g->ldc, mr, nr, mode,
                                          g->beta);
                        }
                    else if (!g->pa) /* 12 rows at a time while more than 8 (but not 16) are left */
                        for (; mc - s > MR && mc - s != 2 * MR; s += 12)
                            micro12_u(kc, au + s * as, ak, as, b, bk, c + s * g->ldc, g->ldc, lmin(12, mc - s), nr,
                                      mode, g->beta);
#endif
                    for (; s < mc; s += MR) {
                        long mr = lmin(MR, mc - s);
                        if (g->pa)
                            micro_p(kc, ap + s * kc, b, bk, c + s * g->ldc, g->ldc, mr, nr, mode, g->beta);
                        else
                            micro_u(kc, au + s * as, ak, as, b, bk, c + s * g->ldc, g->ldc, mr, nr, mode, g->beta);
                    }
                    if (last && g->ep) g->ep(g->ctx, i0, j0 + p, mc, nr);
                }
            }
        }
    }
}

/* C[i_beg .. i_end, j_beg .. j_end) of the product g: the caller's
 * workspace, else the stack when the blocks fit STACK_FLOATS, else (hosted)
 * the heap, else the stack with smaller blocks. */
static void sgemm_part(const sjob *g, long i_beg, long i_end, long j_beg, long j_end) {
#if defined(NNRT_FREESTANDING)
    sgemm_blocks(g, i_beg, i_end, j_beg, j_end, g->ws, g->ws ? g->nws : 0);
#else
    if (g->ws) return sgemm_blocks(g, i_beg, i_end, j_beg, j_end, g->ws, g->nws);
#if defined(__GNUC__)
    float stack[STACK_FLOATS] __attribute__((aligned(64)));
#else
    float stack[STACK_FLOATS];
#endif
    long mcmax = lmin((i_end - i_beg + MR - 1) / MR * MR, MC), ncmax = lmin((j_end - j_beg + NR - 1) / NR * NR, NC);
    long need = (mcmax + ncmax) * g->kc;
    void *heap = NULL;
    if (need > STACK_FLOATS && posix_memalign(&heap, 64, sizeof(float) * (size_t)need) == 0)
        sgemm_blocks(g, i_beg, i_end, j_beg, j_end, heap, need);
    else
        sgemm_blocks(g, i_beg, i_end, j_beg, j_end, stack, STACK_FLOATS);
    free(heap);
#endif
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

/* out[r] = dot(a, b + r ldb, K) for r < 4, the same sums in the same order
 * as four dot() calls, with the loads of a shared and four times the
 * independent chains (one dot's two chains wait on the FMA latency). */
static void dot4(const float *a, const float *b, long ldb, long K, float *out) {
    long k = 0;
    float s[4];
    const float *b1 = b + ldb, *b2 = b1 + ldb, *b3 = b2 + ldb;
#if defined(__AVX512F__)
    __m512 z = _mm512_setzero_ps(), s00 = z, s01 = z, s10 = z, s11 = z, s20 = z, s21 = z, s30 = z, s31 = z;
    for (; k + 32 <= K; k += 32) {
        __m512 x0 = _mm512_loadu_ps(a + k), x1 = _mm512_loadu_ps(a + k + 16);
        s00 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(b + k), s00);
        s01 = _mm512_fmadd_ps(x1, _mm512_loadu_ps(b + k + 16), s01);
        s10 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(b1 + k), s10);
        s11 = _mm512_fmadd_ps(x1, _mm512_loadu_ps(b1 + k + 16), s11);
        s20 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(b2 + k), s20);
        s21 = _mm512_fmadd_ps(x1, _mm512_loadu_ps(b2 + k + 16), s21);
        s30 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(b3 + k), s30);
        s31 = _mm512_fmadd_ps(x1, _mm512_loadu_ps(b3 + k + 16), s31);
    }
    s[0] = _mm512_reduce_add_ps(_mm512_add_ps(s00, s01)), s[1] = _mm512_reduce_add_ps(_mm512_add_ps(s10, s11));
    s[2] = _mm512_reduce_add_ps(_mm512_add_ps(s20, s21)), s[3] = _mm512_reduce_add_ps(_mm512_add_ps(s30, s31));
#elif defined(__AVX2__) && defined(__FMA__)
    __m256 z = _mm256_setzero_ps(), s00 = z, s01 = z, s10 = z, s11 = z, s20 = z, s21 = z, s30 = z, s31 = z;
    for (; k + 16 <= K; k += 16) {
        __m256 x0 = _mm256_loadu_ps(a + k), x1 = _mm256_loadu_ps(a + k + 8);
        s00 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(b + k), s00);
        s01 = _mm256_fmadd_ps(x1, _mm256_loadu_ps(b + k + 8), s01);
        s10 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(b1 + k), s10);
        s11 = _mm256_fmadd_ps(x1, _mm256_loadu_ps(b1 + k + 8), s11);
        s20 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(b2 + k), s20);
        s21 = _mm256_fmadd_ps(x1, _mm256_loadu_ps(b2 + k + 8), s21);
        s30 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(b3 + k), s30);
        s31 = _mm256_fmadd_ps(x1, _mm256_loadu_ps(b3 + k + 8), s31);
    }
    __m256 v[4] = {_mm256_add_ps(s00, s01), _mm256_add_ps(s10, s11), _mm256_add_ps(s20, s21), _mm256_add_ps(s30, s31)};
    for (int r = 0; r < 4; r++) {
        float t[8];
        _mm256_storeu_ps(t, v[r]);
        s[r] = ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
    }
#else
    for (int r = 0; r < 4; r++) out[r] = dot(a, b + r * ldb, K);
    return;
#endif
    const float *br[4] = {b, b1, b2, b3};
    for (int r = 0; r < 4; r++) {
        for (long q = k; q < K; q++) s[r] += a[q] * br[r][q];
        out[r] = s[r];
    }
}

#if defined(__AVX2__) && defined(__FMA__) && !defined(__AVX512F__)
/* c[r] = sum of a[k] b[r ldb + k] for k < K, plus beta c[r] unless beta is 0,
 * for r < 8: eight rows of B at once, one chain each (eight independent
 * sums), reduced together into one vector of C. */
#define DOT8J(r, ld)                                                              \
    s##r = _mm256_fmadd_ps(x, ld(b + (r) * ldb + k), s##r);
#define DOT8(ld) DOT8J(0, ld) DOT8J(1, ld) DOT8J(2, ld) DOT8J(3, ld) DOT8J(4, ld) DOT8J(5, ld) DOT8J(6, ld) DOT8J(7, ld)
#define LOADU(p) _mm256_loadu_ps(p)
#define LOADM(p) _mm256_maskload_ps(p, km)
static void dot8(const float *a, const float *b, long ldb, long K, float beta, float *c) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0, x;
    long k = 0;
    for (; k + 8 <= K; k += 8) {
        x = _mm256_loadu_ps(a + k);
        DOT8(LOADU)
    }
    if (k < K) {
        __m256i km = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(K - k)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        x = _mm256_maskload_ps(a + k, km);
        DOT8(LOADM)
    }
    /* lanes [r0 r1 r2 r3 | r0 r1 r2 r3] of q0 (partial sums of rows 0..3), the same for rows 4..7 in q1 */
    __m256 q0 = _mm256_hadd_ps(_mm256_hadd_ps(s0, s1), _mm256_hadd_ps(s2, s3));
    __m256 q1 = _mm256_hadd_ps(_mm256_hadd_ps(s4, s5), _mm256_hadd_ps(s6, s7));
    __m256 d = _mm256_add_ps(_mm256_permute2f128_ps(q0, q1, 0x20), _mm256_permute2f128_ps(q0, q1, 0x31));
    if (beta != 0) d = _mm256_fmadd_ps(_mm256_set1_ps(beta), _mm256_loadu_ps(c), d);
    _mm256_storeu_ps(c, d);
}
#undef LOADM
#undef LOADU
#undef DOT8
#undef DOT8J
#endif

/* A few rows times a transposed B (a layer's forward at batch 1..3; AVX2
 * (eight rows of B at a time, dot8) and portable builds, AVX-512 takes
 * sgemm_nt_narrow):
 * packing would cost more than the product, so take dot products of the
 * contiguous rows of A and B directly, eight (AVX2) or four rows of B at a time. */
static void sgemm_rows_nt(long M, long N, long K, const float *A, long lda, const float *B, long ldb, float beta,
                          float *C, long ldc, nnrt_gemm_epilogue ep, void *ctx) {
    for (long i = 0; i < M; i++) {
        float *c = C + i * ldc, d[4];
        long j = 0;
#if defined(__AVX2__) && defined(__FMA__) && !defined(__AVX512F__)
        for (; j + 8 <= N; j += 8) dot8(A + i * lda, B + j * ldb, ldb, K, beta, c + j);
#endif
        for (; j + 4 <= N; j += 4) {
            dot4(A + i * lda, B + j * ldb, ldb, K, d);
            for (int r = 0; r < 4; r++) c[j + r] = beta == 0 ? d[r] : beta * c[j + r] + d[r];
        }
        for (; j < N; j++) {
            d[0] = dot(A + i * lda, B + j * ldb, K);
            c[j] = beta == 0 ? d[0] : beta * c[j] + d[0];
        }
        if (ep) ep(ctx, i, 0, 1, N);
    }
}

#if defined(__AVX512F__)
/* lane j of the result: the sum of the 16 lanes of v[4 (j % 4) + j / 4] */
static inline __m512 hsum16(__m512 v0, __m512 v1, __m512 v2, __m512 v3, __m512 v4, __m512 v5, __m512 v6, __m512 v7,
                            __m512 v8, __m512 v9, __m512 v10, __m512 v11, __m512 v12, __m512 v13, __m512 v14,
                            __m512 v15) {
#define PAIR1(x, y) _mm512_add_ps(_mm512_shuffle_f32x4(x, y, 0x44), _mm512_shuffle_f32x4(x, y, 0xEE))
#define PAIR2(x, y) _mm512_add_ps(_mm512_shuffle_f32x4(x, y, 0x88), _mm512_shuffle_f32x4(x, y, 0xDD))
#define PAIR3(x, y) _mm512_add_ps(_mm512_shuffle_ps(x, y, 0x44), _mm512_shuffle_ps(x, y, 0xEE))
#define PAIR4(x, y) _mm512_add_ps(_mm512_shuffle_ps(x, y, 0x88), _mm512_shuffle_ps(x, y, 0xDD))
    __m512 w0 = PAIR2(PAIR1(v0, v1), PAIR1(v2, v3)), w1 = PAIR2(PAIR1(v4, v5), PAIR1(v6, v7));
    __m512 w2 = PAIR2(PAIR1(v8, v9), PAIR1(v10, v11)), w3 = PAIR2(PAIR1(v12, v13), PAIR1(v14, v15));
    return PAIR4(PAIR3(w0, w1), PAIR3(w2, w3));
#undef PAIR1
#undef PAIR2
#undef PAIR3
#undef PAIR4
}

/* Rows i0 .. i1 of C = A B^T for N <= 16 (the logits of a classifier):
 * dot products along the contiguous rows of A and B, 16 values of K at a
 * time in the lanes (masked at the end of K), the nb sums of a row reduced
 * together into one vector of C's row. Nothing is packed; B's rows stay in
 * L1. Two rows of A at a time where the accumulators fit the registers.
 * `nb` (= N) is a constant where it is inlined. */
#define DOTJ(j)                                                          \
    if (nb > j) {                                                        \
        __m512 y = _mm512_maskz_loadu_ps(km, b + j * ldb + k);           \
        s##j = _mm512_fmadd_ps(x, y, s##j);                              \
        if (two) t##j = _mm512_fmadd_ps(x1, y, t##j);                    \
    }
#define DOTS                                                                       \
    DOTJ(0) DOTJ(1) DOTJ(2) DOTJ(3) DOTJ(4) DOTJ(5) DOTJ(6) DOTJ(7) DOTJ(8) DOTJ(9) \
    DOTJ(10) DOTJ(11) DOTJ(12) DOTJ(13) DOTJ(14) DOTJ(15)
INLINE void nt_narrow_row(long i, int two, long K, const float *A, long lda, const float *B, long ldb, float beta,
                          float *C, long ldc, int nb) {
    const __mmask16 mc = (__mmask16)((1u << nb) - 1);
    const __m512 z = _mm512_setzero_ps();
    const float *a = A + i * lda, *a1 = a + lda, *b = B;
    __m512 s0 = z, s1 = z, s2 = z, s3 = z, s4 = z, s5 = z, s6 = z, s7 = z;
    __m512 s8 = z, s9 = z, s10 = z, s11 = z, s12 = z, s13 = z, s14 = z, s15 = z;
    __m512 t0 = z, t1 = z, t2 = z, t3 = z, t4 = z, t5 = z, t6 = z, t7 = z;
    __m512 t8 = z, t9 = z, t10 = z, t11 = z, t12 = z, t13 = z, t14 = z, t15 = z;
    long k = 0;
    for (__mmask16 km = 0xFFFF; k + 16 <= K; k += 16) {
        __m512 x = _mm512_loadu_ps(a + k), x1 = two ? _mm512_loadu_ps(a1 + k) : z;
        DOTS
    }
    if (k < K) {
        __mmask16 km = (__mmask16)((1u << (K - k)) - 1);
        __m512 x = _mm512_maskz_loadu_ps(km, a + k), x1 = two ? _mm512_maskz_loadu_ps(km, a1 + k) : z;
        DOTS
    }
    for (int r = 0; r < 1 + two; r++) {
        __m512 d = r == 0 ? hsum16(s0, s4, s8, s12, s1, s5, s9, s13, s2, s6, s10, s14, s3, s7, s11, s15)
                          : hsum16(t0, t4, t8, t12, t1, t5, t9, t13, t2, t6, t10, t14, t3, t7, t11, t15);
        float *c = C + (i + r) * ldc;
        if (beta != 0) d = _mm512_fmadd_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(mc, c), d);
        _mm512_mask_storeu_ps(c, mc, d);
    }
}
#undef DOTS
#undef DOTJ
INLINE void nt_narrow_rows(long i0, long i1, long K, const float *A, long lda, const float *B, long ldb,
                           float beta, float *C, long ldc, int nb) {
    long i = i0;
    if (nb <= 12)
        for (; i + 2 <= i1; i += 2) nt_narrow_row(i, 1, K, A, lda, B, ldb, beta, C, ldc, nb);
    for (; i < i1; i++) nt_narrow_row(i, 0, K, A, lda, B, ldb, beta, C, ldc, nb);
}
#define NT_NARROW(n) \
    case n: nt_narrow_rows(i0, i1, K, A, lda, Bj, ldb, beta, Cj, ldc, n); break;
/* C = A B^T in blocks of 16 rows of A and, across each, blocks of 16
 * columns of C (16 rows of B: sixteen independent sums per row of A). */
static void sgemm_nt_narrow(long M, long N, long K, const float *A, long lda, const float *B, long ldb, float beta,
                            float *C, long ldc, nnrt_gemm_epilogue ep, void *ctx) {
    for (long i0 = 0; i0 < M; i0 += 16) { /* the epilogue on 16 rows at a time */
        long i1 = lmin(i0 + 16, M);
        for (long j0 = 0; j0 < N; j0 += 16) {
            const float *Bj = B + j0 * ldb;
            float *Cj = C + j0;
            switch (lmin(16, N - j0)) {
                NT_NARROW(1) NT_NARROW(2) NT_NARROW(3) NT_NARROW(4) NT_NARROW(5) NT_NARROW(6) NT_NARROW(7)
                NT_NARROW(8) NT_NARROW(9) NT_NARROW(10) NT_NARROW(11) NT_NARROW(12) NT_NARROW(13) NT_NARROW(14)
                NT_NARROW(15) NT_NARROW(16)
            }
        }
        if (ep) ep(ctx, i0, 0, i1 - i0, N);
    }
}
#undef NT_NARROW
#endif

#if defined(__AVX512F__)
/* Whether A B^T goes to sgemm_nt_narrow rather than the packed kernels:
 * 1..3 rows of A (nothing to pack for), or few columns of C where the
 * packed 16-column kernel would waste most of its lanes (N < 8), or too
 * few rows to pay for packing (M < 32). Measured per call on one thread
 * (AVX-512): 16x10x128 0.64 us narrow, 0.86 packed; 256x10x128 10.4, 7.8;
 * 256x16x784 168, 48; 256x6x128 6.7, 8.2; 64x1x128 0.5, 2.0. */
static int nt_narrow_pays(long M, long N) { return M < 4 || (N <= 16 && (M < 32 || N < 8)); }
#endif

static void sgemm_ws_ep(int ta, int tb, long M, long N, long K, const float *A, long lda, const float *B, long ldb,
                        float beta, float *C, long ldc, nnrt_gemm_epilogue ep, void *ctx, float *ws, long nws) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        zero_k(M, N, beta, C, ldc);
        if (ep) ep(ctx, 0, 0, M, N);
        return;
    }
#if defined(__AVX512F__)
    if (!ta && tb && nt_narrow_pays(M, N)) return sgemm_nt_narrow(M, N, K, A, lda, B, ldb, beta, C, ldc, ep, ctx);
#endif
    if (!ta && tb && M < 4) return sgemm_rows_nt(M, N, K, A, lda, B, ldb, beta, C, ldc, ep, ctx);
    sjob g = {ta, tb, M, N, K, k_block(K), pack_a_pays(ta, M, N, K, lda), pack_b_pays(tb, M, K, ldb), A, B, lda, ldb,
              ldc, beta, C, ep, ctx, ws, nws};
#ifdef _OPENMP
    /* split the rows of C when op(B) is the smaller operand to pack twice,
     * else the columns; whole slivers and panels per thread */
    int nt = omp_in_parallel() || ws ? 1 : omp_get_max_threads(); /* one caller's workspace: one thread */
    long units_m = (M + MR - 1) / MR, units_n = (N + NR - 1) / NR;
    int by_m = N <= M ? units_m >= 2 : units_n < 2;
    long units = by_m ? units_m : units_n;
    if (nt > units) nt = (int)units;
    if (nt > 1 && (double)M * (double)N * (double)K >= (double)NNRT_GEMM_PAR_MIN) {
#pragma omp parallel num_threads(nt)
        {
            long t = omp_get_thread_num(), n = omp_get_num_threads();
            long u0 = units * t / n, u1 = units * (t + 1) / n;
            if (by_m)
                sgemm_part(&g, u0 * MR, lmin(u1 * MR, M), 0, N);
            else
                sgemm_part(&g, 0, M, u0 * NR, lmin(u1 * NR, N));
        }
        return;
    }
#endif
    sgemm_part(&g, 0, M, 0, N);
}

/* Double precision (gradient checks, --dtype f64): plain loops, one row of C
 * at a time (the epilogue runs on each row once it is final). */
static void dgemm_ep(int ta, int tb, long M, long N, long K, const double *A, long lda, const double *B, long ldb,
                   double beta, double *C, long ldc, nnrt_gemm_epilogue ep, void *ctx) {
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
        if (ep && N > 0) ep(ctx, i, 0, 1, N);
    }
}

#ifndef NNRT_GEMM_TABLE
#define NNRT_GEMM_TABLE nnrt_gemm_single
#endif
const nnrt_gemm_impl NNRT_GEMM_TABLE = {NNRT_GEMM_ISA, sgemm_ws_ep, dgemm_ep};
