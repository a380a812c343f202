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
 * No global state. The packing workspace is on the stack when it fits in
 * STACK_FLOATS floats, else malloc'ed for the call (if that fails, the
 * stack with smaller MC/NC blocks: same result, slower).
 *
 * With OpenMP (compiled with -fopenmp) a product large enough to pay for it
 * is split over threads into disjoint blocks of rows or columns of C; K is
 * never split and every element takes the same sequence of operations, so
 * the result is bit-identical for any number of threads.
 */
#include "nnrt_gemm.h"

#include <stdlib.h>
#include <string.h>
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
 * op(B) packed at once (KC x NC, reused across all of M). */
#ifndef NNRT_KC
#define NNRT_KC 256
#endif
#ifndef NNRT_MC
#define NNRT_MC 192
#endif
#ifndef NNRT_NC
#define NNRT_NC 1024
#endif
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

const char *nnrt_gemm_isa(void) { return NNRT_GEMM_ISA; }

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
#define ROW(r)                                  \
    ar = _mm512_set1_ps(a[o##r]);               \
    c##r##0 = _mm512_fmadd_ps(ar, b0, c##r##0); \
    c##r##1 = _mm512_fmadd_ps(ar, b1, c##r##1);
#define OUT(r) \
    if (r < mr) row512(c + r * ldc, c##r##0, c##r##1, m0, m1, mode, vb);
INLINE void micro_body(long kc, const float *ap, long ak, long as, long mra, const float *bp, float *c, long ldc,
                       long mr, long nr, int mode, float beta) {
    AOFFS(o, mra)
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    __m512 c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00, ar;
    for (long r = 0; r < mr; r++) {
        _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + r * ldc + NR - 1), _MM_HINT_T0);
    }
    const float *a = ap, *b = bp;
    for (long k = 0; k < kc; k++, a += ak, b += NR) {
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5) ROW(6) ROW(7)
    }
    __mmask16 m0 = nr >= 16 ? 0xFFFF : (__mmask16)((1u << nr) - 1);
    __mmask16 m1 = nr >= 32 ? 0xFFFF : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
    __m512 vb = _mm512_set1_ps(beta);
    OUT(0) OUT(1) OUT(2) OUT(3) OUT(4) OUT(5) OUT(6) OUT(7)
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
                         const float *bp, float *c, long ldc, long mr, long nr, int mode, float beta) {
    AOFFS(o, mra0)
    AOFFS(q, mra1)
    __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
    __m512 c0h = c0, c1h = c0, c2h = c0, c3h = c0, c4h = c0, c5h = c0, c6h = c0, c7h = c0, zero = c0;
    const float *a0 = ap0, *a1 = ap1, *b = bp;
    for (long k = 0; k < kc; k++, a0 += ak, a1 += ak, b += NR) {
        __m512 b0 = _mm512_loadu_ps(b);
        ROW16(0) ROW16(1) ROW16(2) ROW16(3) ROW16(4) ROW16(5) ROW16(6) ROW16(7)
    }
    __mmask16 m0 = (__mmask16)((1u << nr) - 1);
    __m512 vb = _mm512_set1_ps(beta);
    OUT16(0) OUT16(1) OUT16(2) OUT16(3) OUT16(4) OUT16(5) OUT16(6) OUT16(7)
}
/* 16 rows of packed A (two slivers) or of A as it is (see micro_u) */
static void micro16_p(long kc, const float *ap0, const float *ap1, const float *bp, float *c, long ldc, long mr,
                      long nr, int mode, float beta) {
    micro16_body(kc, ap0, ap1, MR, 1, MR, MR, bp, c, ldc, mr, nr, mode, beta);
}
static void micro16_u(long kc, const float *a, long ak, long as, const float *bp, float *c, long ldc, long mr, long nr,
                      int mode, float beta) {
    micro16_body(kc, a, a + MR * as, ak, as, MR, mr - MR, bp, c, ldc, mr, nr, mode, beta);
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
INLINE void micro_body(long kc, const float *ap, long ak, long as, long mra, const float *bp, float *c, long ldc,
                       long mr, long nr, int mode, float beta) {
    AOFFS(o, mra)
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, ar;
    const float *a = ap, *b = bp;
    for (long k = 0; k < kc; k++, a += ak, b += NR) {
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
INLINE void micro_body(long kc, const float *ap, long ak, long as, long mra, const float *bp, float *c, long ldc,
                       long mr, long nr, int mode, float beta) {
    float acc[MR][NR];
    long o[MR];
    for (long r = 0; r < MR; r++) o[r] = lmin(r, mra - 1) * as;
    memset(acc, 0, sizeof acc);
    for (long k = 0; k < kc; k++) {
        const float *b = bp + k * NR, *a = ap + k * ak;
        for (int r = 0; r < MR; r++)
            for (int j = 0; j < NR; j++) acc[r][j] += a[o[r]] * b[j];
    }
    store_acc(c, ldc, mr, nr, acc, mode, beta);
}
#endif

/* a packed sliver (a(r, k) = ap[k * MR + r]) */
static void micro_p(long kc, const float *ap, const float *bp, float *c, long ldc, long mr, long nr, int mode,
                    float beta) {
    micro_body(kc, ap, MR, 1, MR, bp, c, ldc, mr, nr, mode, beta);
}
/* mr rows of A as it is: a(r, k) = a[k * ak + r * as], no row past mr read */
static void micro_u(long kc, const float *a, long ak, long as, const float *bp, float *c, long ldc, long mr, long nr,
                    int mode, float beta) {
    micro_body(kc, a, ak, as, mr, bp, c, ldc, mr, nr, mode, beta);
}

/* ---- drivers ------------------------------------------------------------ */

typedef struct {
    int ta, tb;
    long M, N, K, kc; /* kc: the K block, a function of K alone */
    int pa;           /* pack op(A) (else the kernels read A as it is) */
    const float *A, *B;
    long lda, ldb, ldc;
    float beta;
    float *C;
    nnrt_gemm_epilogue ep;
    void *ctx;
} sjob;

/* K blocks of (nearly) equal size, at most KC, a multiple of 8 where K allows */
static long k_block(long K) {
    long nk = (K + KC - 1) / KC, kc = (K + nk - 1) / nk;
    kc = (kc + 7) / 8 * 8;
    return kc < K ? kc : K;
}

/* Whether to pack op(A). The kernels can read A where it is (8 rows of A,
 * or one row of A^T per step): measured as fast as packed A on the MLP's and
 * the GPT's shapes, where packing costs up to a fifth of the product. Packed
 * when many panels reuse it, and when the row stride is a multiple of 4 KB
 * (the rows would share cache sets). */
static int pack_a_pays(long N, long lda) {
#ifndef NNRT_GEMM_PACK_A_MIN_N
#define NNRT_GEMM_PACK_A_MIN_N 512
#endif
    return lda % 1024 == 0 || N > NNRT_GEMM_PACK_A_MIN_N;
}

/* C[i_beg .. i_end, j_beg .. j_end) of the product g. */
static void sgemm_part(const sjob *g, long i_beg, long i_end, long j_beg, long j_end) {
#if defined(__GNUC__)
    float stack[STACK_FLOATS] __attribute__((aligned(64)));
#else
    float stack[STACK_FLOATS];
#endif
    const long kcmax = g->kc;
    long mcmax = lmin((i_end - i_beg + MR - 1) / MR * MR, MC), ncmax = lmin((j_end - j_beg + NR - 1) / NR * NR, NC);
    float *ws = stack;
    void *heap = NULL;
    if ((mcmax + ncmax) * kcmax > STACK_FLOATS) {
        if (posix_memalign(&heap, 64, sizeof(float) * (size_t)((mcmax + ncmax) * kcmax)) == 0) {
            ws = heap;
        } else { /* smaller blocks that fit the stack */
            heap = NULL;
            long half = STACK_FLOATS / 2 / kcmax;
            mcmax = lmin(mcmax, half / MR * MR);
            ncmax = lmin(ncmax, half / NR * NR);
        }
    }
    float *ap = ws, *bp = ws + mcmax * kcmax;
    for (long j0 = j_beg; j0 < j_end; j0 += ncmax) {
        long nc = lmin(ncmax, j_end - j0);
        for (long k0 = 0; k0 < g->K; k0 += kcmax) {
            long kc = lmin(kcmax, g->K - k0);
            int mode = k0 > 0 ? ADD : g->beta == 0 ? SET : SCALE, last = k0 + kc >= g->K;
            pack_b(g->tb, g->B, g->ldb, k0, kc, j0, nc, bp);
            for (long i0 = i_beg; i0 < i_end; i0 += mcmax) {
                long mc = lmin(mcmax, i_end - i0);
                /* A as it is, when packing it would cost more than it saves */
                const float *au = g->ta ? g->A + k0 * g->lda + i0 : g->A + i0 * g->lda + k0;
                long ak = g->ta ? g->lda : 1, as = g->ta ? 1 : g->lda;
                if (g->pa) pack_a(g->ta, g->A, g->lda, i0, mc, k0, kc, ap);
                for (long p = 0; p < nc; p += NR) {
                    long nr = lmin(NR, nc - p);
                    float *c = g->C + i0 * g->ldc + j0 + p;
                    const float *b = bp + p * kc;
                    long s = 0;
#if defined(__AVX512F__)
                    if (nr <= 16)
                        for (; s + MR < mc; s += 2 * MR) {
                            long mr = lmin(2 * MR, mc - s);
                            if (g->pa)
                                micro16_p(kc, ap + s * kc, ap + (s + MR) * kc, b, c + s * g->ldc, g->ldc, mr, nr, mode,
                                          g->beta);
                            else
                                micro16_u(kc, au + s * as, ak, as, b, c + s * g->ldc, g->ldc, mr, nr, mode, g->beta);
                        }
#endif
                    for (; s < mc; s += MR) {
                        long mr = lmin(MR, mc - s);
                        if (g->pa)
                            micro_p(kc, ap + s * kc, b, c + s * g->ldc, g->ldc, mr, nr, mode, g->beta);
                        else
                            micro_u(kc, au + s * as, ak, as, b, c + s * g->ldc, g->ldc, mr, nr, mode, g->beta);
                    }
                    if (last && g->ep) g->ep(g->ctx, i0, j0 + p, mc, nr);
                }
            }
        }
    }
    free(heap);
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
                          float *C, long ldc, nnrt_gemm_epilogue ep, void *ctx) {
    for (long i = 0; i < M; i++) {
        for (long j = 0; j < N; j++) {
            float d = dot(A + i * lda, B + j * ldb, K);
            C[i * ldc + j] = beta == 0 ? d : beta * C[i * ldc + j] + d;
        }
        if (ep) ep(ctx, i, 0, 1, N);
    }
}

void nnrt_sgemm_ep(int ta, int tb, long M, long N, long K, const float *A, long lda, const float *B, long ldb,
                   float beta, float *C, long ldc, nnrt_gemm_epilogue ep, void *ctx) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        zero_k(M, N, beta, C, ldc);
        if (ep) ep(ctx, 0, 0, M, N);
        return;
    }
    if (!ta && tb && M < 4) return sgemm_rows_nt(M, N, K, A, lda, B, ldb, beta, C, ldc, ep, ctx);
    sjob g = {ta, tb, M, N, K, k_block(K), pack_a_pays(N, lda), A, B, lda, ldb, ldc, beta, C, ep, ctx};
#ifdef _OPENMP
    /* split the rows of C when op(B) is the smaller operand to pack twice,
     * else the columns; whole slivers and panels per thread */
    int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
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

void nnrt_sgemm(int ta, int tb, long M, long N, long K, const float *A, long lda, const float *B, long ldb,
                float beta, float *C, long ldc) {
    nnrt_sgemm_ep(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc, NULL, NULL);
}

/* Double precision (gradient checks, --dtype f64): plain loops, one row of C
 * at a time (the epilogue runs on each row once it is final). */
void nnrt_dgemm_ep(int ta, int tb, long M, long N, long K, const double *A, long lda, const double *B, long ldb,
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

void nnrt_dgemm(int ta, int tb, long M, long N, long K, const double *A, long lda, const double *B, long ldb,
                double beta, double *C, long ldc) {
    nnrt_dgemm_ep(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc, NULL, NULL);
}
