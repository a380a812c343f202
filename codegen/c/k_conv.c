/* k_conv.c — C kernels of the convolution and pooling ops (NCHW).
 *
 * Each convolution node gets, for each vector ISA the generated file may be
 * compiled for (see "the vector ISAs": AVX-512, AVX2 with FMA, SSE2/NEON,
 * one #if branch each, planned for that ISA's vectors and registers), a
 * vectorized path or the direct loops, chosen from its static shapes:
 *
 *   implicit GEMM  stride-1 conv2d and conv2d_grad_x: see "implicit GEMM on the
 *                  padded input grid" below; chosen when its buffers fit on the
 *                  stack and at least GRID_MIN_USEFUL of its multiply-adds are
 *                  real (not thrown-away grid columns or tile padding)
 *   channel lanes  conv2d with the output channels in the vector lanes, any
 *                  stride: where the grid does not apply, or where block_cost
 *                  says it is faster; conv2d_grad_w likewise, chosen when at
 *                  least GW_MIN_LANES of the lanes are used
 *                  (in passes over chunks of x's channels where dw's table
 *                  would not fit the stack)
 *   pixel lanes    otherwise, at stride 1, conv2d_grad_w with grid pixels in
 *                  the lanes, under the implicit GEMM's GRID_MIN_USEFUL rule
 *   phases         conv2d and conv2d_grad_x (conv_transpose2d) that none of
 *                  the above takes: any stride, weights of any size; see
 *                  "convolutions by phases of the stride"
 *   direct         everything else (below), and every kernel's #else: other
 *                  compilers, other ISAs, or -DNNC_NO_VECTOR_EXT
 *
 * With -fopenmp the vectorized paths of a large node run on the team's
 * threads, with the same bits as on one ("OpenMP in the vectorized paths").
 *
 * Measured on LeNet-5 (batch 64, f32, one core of a 2.8 GHz AVX-512 Xeon, gcc
 * -O2, CPU time), microseconds per call, direct -> chosen path, built with
 * -march=native (AVX-512) and -march=x86-64-v3 (AVX2; before the ISA
 * branches its 64-byte vectors and 24 accumulators spilled on every
 * multiply-add: 18,300 and 25,800 us for the second conv2d and its grad_x):
 *                                    AVX-512        AVX2      path (AVX-512; AVX2)
 *   conv2d 1->6 5x5 pad 2, 28x28     506 -> 152     472 -> 290  grid 91%
 *   conv2d 6->16 5x5, 14x14         1242 -> 295    1170 -> 437  grid 69%; channel lanes
 *   conv2d_grad_x of the second     1994 -> 336    2314 -> 574  grid 88%; 94%
 *   conv2d_grad_w of the second     1383 -> 294    1613 -> 515  channel lanes 16 of 16
 *   conv2d_grad_w of the first       679 -> 276     712 -> 327  pixel lanes (channel
 *                                                               lanes: 6 of 16; 6 of 8)
 * A DCGAN (the first examples/dcgan.nn: generator 64 -> 32 maps, batch 64,
 * AVX-512): a training step (a discriminator and a generator step) took 157
 * ms with the direct loops at stride 2 and for weights too large for the
 * tables, 27-30 ms with the phases and the chunked channel lanes (its 64 ->
 * 32 conv_transpose2d, 102M multiply-adds: 53 ms -> 5.6 ms); with
 * -march=x86-64-v3 (AVX2) 165 -> 45 ms.
 * The pools' rows cut into pieces that gcc vectorizes (pool_piece) took
 * maxpool2d_grad of 6x28x28 planes from 249 to 90 us (AVX2: 279 to 137).
 * (The whole training step: 29,700 examples/s with AVX-512, 20,100 with AVX2,
 * 9,400 and 8,700 with -DNNC_NO_VECTOR_EXT; PyTorch 1.13 about 10,500.)
 *
 * The direct convolutions' inner loops run along one row (of the output, or of
 * the input for the gradients) with constant bounds; the
 * kernel's columns are unrolled at generation time into "taps", so one loop
 * adds all kw taps of a kernel row as a balanced sum. Where a tap would read
 * the padding, the row is cut into pieces, each a loop over the taps valid
 * in all of it (tap_row); pieces are split at multiples of 8 and 4 so gcc
 * -O2 vectorizes them (its cost model wants no remainder loop). Kernels
 * wider than CONV_UNROLL_MAX columns get a loop over kw instead, with the
 * valid columns computed at run time. Rows that follow one another write
 * different rows, so their sums overlap in the CPU.
 *
 *   conv2d         for n, o, c, kh, oh: yr[ow] += sum_kw w[kw] xr[ow s + kw d - p]
 *   conv2d_grad_x  stride 1: the same gather along input rows, from a copy of
 *                  the dy row with zeros around it (every tap always valid);
 *                  stride > 1: scatter dxr[ow s + kw d - p] += w[kw] dyr[ow]
 *   conv2d_grad_w  partial sums acc[kh][kw][ow] in a small local array,
 *                  reduced at the end: a vectorizable form of the dot
 *                  products dw = sum over n, oh, ow of dy x
 *   pools          without padding: the window's taps written out along the
 *                  output row (fast paths, below); otherwise one window per
 *                  output element, scanned as PyTorch does
 *   conv_transpose2d  conv2d_grad_x's kernel, with x in the gradient's place
 *   upsample       nearest or bilinear by an integer scale, one output row
 *                  at a time; its gradient gathers per input element
 */
#include "kernels.h"

#include <math.h>
#include <stdlib.h>


/* ---- rows of taps ------------------------------------------------------- */

enum { VEC = 8 };

/* One term of a row loop over j:  dst[da j + db] += f * src[sa j + sb],
 * valid while 0 <= da j + db < dlen and 0 <= sa j + sb < slen. f may use j. */
typedef struct tap {
    const char *dst, *src, *f;
    long long da, db, dlen, sa, sb, slen;
} tap;

static long long floordiv(long long a, long long b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

/* The j in [0, n) for which 0 <= a j + b < len (a >= 1): [*lo, *hi). */
static void valid_range(long long a, long long b, long long len, long long n, long long *lo, long long *hi) {
    long long l = floordiv(-b + a - 1, a); /* ceil(-b / a) */
    long long h = floordiv(len - 1 - b, a) + 1;
    *lo = l > 0 ? l : 0;
    *hi = h < n ? h : n;
    if (*hi < *lo) *hi = *lo;
}

/* "j", "j + 3", "j * 2 - 1" */
static const char *idx(cg_ctx *cx, long long a, long long b) {
    const char *j = a == 1 ? "j" : arena_printf(cx->g->a, "j * %lld", a);
    if (!b) return j;
    return arena_printf(cx->g->a, "%s %c %lld", j, b < 0 ? '-' : '+', b < 0 ? -b : b);
}

static const char *term(cg_ctx *cx, const tap *t) {
    return arena_printf(cx->g->a, "%s * %s[%s]", t->f, t->src, idx(cx, t->sa, t->sb));
}

/* The terms of taps [a, b) as a balanced sum: short dependency chains. */
static const char *tree_sum(cg_ctx *cx, const tap *t, int a, int b) {
    if (b - a == 1) return term(cx, &t[a]);
    int m = (a + b) / 2;
    const char *l = tree_sum(cx, t, a, m), *r = tree_sum(cx, t, m, b);
    return arena_printf(cx->g->a, "%s%s%s + %s%s%s", m - a > 1 ? "(" : "", l, m - a > 1 ? ")" : "",
                        b - m > 1 ? "(" : "", r, b - m > 1 ? ")" : "");
}

/* The first piece of a loop of len iterations cut at multiples of VEC and
 * 4, so that gcc -O2 vectorizes each piece without a remainder loop. */
static long long vec_piece(long long len) {
    return len >= 2 * VEC ? len / VEC * VEC : len >= VEC ? VEC : len >= 4 ? 4 : len;
}

/* for j in [lo, hi): the taps' statements; with `fuse` (all taps share one
 * destination element) a single sum, in pieces (vec_piece). */
static void tap_loop(cg_ctx *cx, const char *ind, const tap *t, int nt, int fuse, long long lo, long long hi) {
    strbuf *c = cx->c;
    while (hi > lo) {
        long long step = vec_piece(hi - lo);
        sb_printf(c, "%sfor (long j = %lld; j < %lld; j++)", ind, lo, lo + step);
        if (fuse) {
            sb_printf(c, "\n%s    %s[%s] += %s;\n", ind, t[0].dst, idx(cx, t[0].da, t[0].db), tree_sum(cx, t, 0, nt));
        } else {
            sb_puts(c, " {\n");
            for (int k = 0; k < nt; k++)
                sb_printf(c, "%s    %s[%s] += %s;\n", ind, t[k].dst, idx(cx, t[k].da, t[k].db), term(cx, &t[k]));
            sb_printf(c, "%s}\n", ind);
        }
        lo += step;
    }
}

static int cmp_ll(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

/* All taps over j in [0, n), each where it is valid: the range is cut where
 * a tap starts or stops being valid, and each piece is one loop over the
 * taps valid in all of it (the middle piece usually has them all). When no
 * tap is valid anywhere (a row that only meets padding), the statement
 * `unused` keeps the row's pointers from being unused variables. */
static void tap_row(cg_ctx *cx, const char *ind, const tap *t, int nt, int fuse, long long n, const char *unused) {
    long long *lo = arena_alloc(cx->g->a, sizeof(long long) * (size_t)(4 * nt + 2)), *hi = lo + nt, *cut = hi + nt;
    int ncut = 0;
    for (int k = 0; k < nt; k++) {
        long long l1, h1, l2, h2;
        valid_range(t[k].da, t[k].db, t[k].dlen, n, &l1, &h1);
        valid_range(t[k].sa, t[k].sb, t[k].slen, n, &l2, &h2);
        lo[k] = l1 > l2 ? l1 : l2;
        hi[k] = h1 < h2 ? h1 : h2;
        cut[ncut++] = lo[k], cut[ncut++] = hi[k];
    }
    cut[ncut++] = 0, cut[ncut++] = n;
    qsort(cut, (size_t)ncut, sizeof *cut, cmp_ll);
    tap *sel = arena_alloc(cx->g->a, sizeof(tap) * (size_t)nt);
    int loops = 0;
    for (int i = 0; i + 1 < ncut; i++) {
        long long a = cut[i], b = cut[i + 1];
        if (a >= b || a < 0 || b > n) continue;
        int ns = 0;
        for (int k = 0; k < nt; k++)
            if (lo[k] <= a && b <= hi[k]) sel[ns++] = t[k];
        if (ns) tap_loop(cx, ind, sel, ns, fuse, a, b), loops++;
    }
    if (!loops) sb_printf(cx->c, "%s%s\n", ind, unused);
}

/* ---- conv2d ------------------------------------------------------------- */

/* Every size of a conv2d node and its gradients, from x, w and y shapes. */
typedef struct convdims {
    long long N, C, H, W, O, CG, OG, KH, KW, OH, OW, S, P, D;
} convdims;

static convdims conv_dims(const ir_node *n, const ir_shape *x, const ir_shape *w, const ir_shape *y) {
    convdims d = {x->d[0], x->d[1], x->d[2], x->d[3], w->d[0], w->d[1], w->d[0] / n->iattr[3], w->d[2], w->d[3],
                  y->d[2], y->d[3], n->iattr[0], n->iattr[1], n->iattr[2]};
    return d;
}

/* Kernels up to this wide are unrolled into taps; wider ones get a loop
 * over kw with the valid columns computed at run time. */
#ifndef CONV_UNROLL_MAX
#define CONV_UNROLL_MAX 16
#endif

/* The kw taps of one kernel row: tap kw is
 *   dst[da j + db0 + kw dbk] += f * src[sa j + sb0 + kw sbk],  j in [0, n),
 * where 0 <= the dst index < dlen and 0 <= the src index < slen; dst moves
 * by dko elements per kw (one accumulator row per tap); f is the weight
 * f[kw] (fkw) or a fixed expression. */
typedef struct taprow {
    const char *dst, *src, *f;
    int fkw;
    long long n, da, db0, dbk, dko, dlen, sa, sb0, sbk, slen;
} taprow;

/* Run-time clipping of [lo, hi) to 0 <= a j + b < len (a >= 1). */
static void clip_rt(cg_ctx *cx, const char *ind, const char *b, long long a, long long len) {
    sb_printf(cx->c, "%s    if (%s < 0) { const long l = (%lld - 1 - %s) / %lld; lo = l > lo ? l : lo; }\n", ind, b, a,
              b, a);
    sb_printf(cx->c, "%s    { const long t = %lld - 1 - %s, h = t < 0 ? 0 : t / %lld + 1; hi = h < hi ? h : hi; }\n",
              ind, len, b, a);
}

/* Emit the row: unrolled taps (tap_row), or for wide kernels one loop per
 * kw over its valid columns. */
static void emit_taprow(cg_ctx *cx, const char *ind, const taprow *r, long long KW, int fuse, const char *unused) {
    strbuf *c = cx->c;
    if (KW <= CONV_UNROLL_MAX) {
        tap *t = arena_alloc(cx->g->a, sizeof(tap) * (size_t)KW);
        for (long long kw = 0; kw < KW; kw++) {
            const char *f = r->fkw ? arena_printf(cx->g->a, "%s[%lld]", r->f, kw) : r->f;
            t[kw] = (tap){r->dst, r->src, f, r->da, r->db0 + kw * (r->dbk + r->dko), r->dlen + kw * r->dko,
                          r->sa, r->sb0 + kw * r->sbk, r->slen};
        }
        tap_row(cx, ind, t, (int)KW, fuse, r->n, unused);
        return;
    }
    sb_printf(c, "%sfor (long kw = 0; kw < %lld; kw++) {\n", ind, KW);
    sb_printf(c, "%s    const long db = %lld + kw * %lld, sb = %lld + kw * %lld;\n", ind, r->db0, r->dbk, r->sb0,
              r->sbk);
    sb_printf(c, "%s    long lo = 0, hi = %lld;\n", ind, r->n);
    clip_rt(cx, ind, "db", r->da, r->dlen);
    clip_rt(cx, ind, "sb", r->sa, r->slen);
    const char *dst = r->dko ? arena_printf(cx->g->a, "(%s + kw * %lld)", r->dst, r->dko) : r->dst;
    const char *f = r->fkw ? arena_printf(cx->g->a, "%s[kw]", r->f) : r->f;
    sb_printf(c, "%s    for (long j = lo; j < hi; j++) %s[j * %lld + db] += %s * %s[j * %lld + sb];\n%s}\n", ind, dst,
              r->da, f, r->src, r->sa, ind);
}

/* y[n, o] = sum over the group's channels c and (kh, kw) of w[o, c] * x[n, c] shifted. */
static void conv_direct(cg_ctx *cx, convdims d) {
    const char *T = cx->T;
    strbuf *c = cx->c;
    taprow r = {"dr", "sr", "wr", 1, d.OW, 1, 0, 0, 0, d.OW, d.S, -d.P, d.D, d.W};
    sb_printf(c, "    for (long n = 0; n < %lld; n++)\n        for (long o = 0; o < %lld; o++) {\n", d.N, d.O);
    sb_printf(c, "            const %s *restrict xg = x0 + (n * %lld + o / %lld * %lld) * %lld;\n", T, d.C, d.OG, d.CG,
              d.H * d.W);
    sb_printf(c, "            const %s *restrict wo = x1 + o * %lld;\n", T, d.CG * d.KH * d.KW);
    sb_printf(c, "            %s *restrict yo = y + (n * %lld + o) * %lld;\n", T, d.O, d.OH * d.OW);
    sb_printf(c, "            for (long i = 0; i < %lld; i++) yo[i] = 0;\n", d.OH * d.OW);
    /* consecutive rows are independent: the CPU overlaps their sums */
    sb_printf(c, "            for (long c = 0; c < %lld; c++)\n", d.CG);
    sb_printf(c, "                for (long kh = 0; kh < %lld; kh++) {\n", d.KH);
    sb_printf(c, "                    const %s *restrict wr = wo + (c * %lld + kh) * %lld;\n", T, d.KH, d.KW);
    sb_printf(c, "                    for (long oh = 0; oh < %lld; oh++) {\n", d.OH);
    sb_printf(c, "                        const long ih = oh * %lld + kh * %lld - %lld;\n", d.S, d.D, d.P);
    sb_printf(c, "                        if (ih < 0 || ih >= %lld) continue;\n", d.H);
    sb_printf(c, "                        const %s *restrict sr = xg + c * %lld + ih * %lld;\n", T, d.H * d.W, d.W);
    sb_printf(c, "                        %s *restrict dr = yo + oh * %lld;\n", T, d.OW);
    emit_taprow(cx, "                        ", &r, d.KW, 1, "(void)sr, (void)dr, (void)wr;");
    sb_puts(c, "                    }\n                }\n        }\n");
}

/* dx[n, c] = sum over the group's outputs o and (kh, kw) of w[o, c] * dy[n, o]
 * shifted back. x0 = dy, x1 = w. */
static void gradx_direct(cg_ctx *cx, convdims d) {
    const char *T = cx->T;
    strbuf *c = cx->c;
    if (d.S == 1) { /* the padded dy row: only [L, L + OW) is ever written */
        long long L = (d.KW - 1) * d.D - d.P > 0 ? (d.KW - 1) * d.D - d.P : 0;
        long long len = L + (d.OW > d.W + d.P ? d.OW : d.W + d.P);
        sb_printf(c, "    %s pr[%lld];\n    for (long j = 0; j < %lld; j++) pr[j] = 0;\n", T, len, len);
    }
    sb_printf(c, "    for (long n = 0; n < %lld; n++)\n        for (long c = 0; c < %lld; c++) {\n", d.N, d.C);
    sb_printf(c, "            %s *restrict xo = y + (n * %lld + c) * %lld;\n", T, d.C, d.H * d.W);
    sb_printf(c, "            const long g = c / %lld, cl = c %% %lld;\n", d.CG, d.CG);
    sb_printf(c, "            for (long i = 0; i < %lld; i++) xo[i] = 0;\n", d.H * d.W);
    sb_printf(c, "            for (long o = g * %lld; o < (g + 1) * %lld; o++) {\n", d.OG, d.OG);
    sb_printf(c, "                const %s *restrict dyo = x0 + (n * %lld + o) * %lld;\n", T, d.O, d.OH * d.OW);
    sb_printf(c, "                const %s *restrict wo = x1 + (o * %lld + cl) * %lld;\n", T, d.CG, d.KH * d.KW);
    if (d.S == 1) {
        /* gather along input rows, dr[iw] += sum_kw wr[kw] dy[oh, iw + p - kw d],
         * from a copy of the dy row with zeros around it (pr[L + ow] = dy[oh, ow])
         * so that every tap is valid on the whole row */
        long long L = (d.KW - 1) * d.D - d.P > 0 ? (d.KW - 1) * d.D - d.P : 0;
        long long len = L + (d.OW > d.W + d.P ? d.OW : d.W + d.P);
        taprow r = {"dr", "pr", "wr", 1, d.W, 1, 0, 0, 0, d.W, 1, d.P + L, -d.D, len};
        sb_printf(c, "                for (long oh = 0; oh < %lld; oh++) {\n", d.OH);
        sb_printf(c, "                    for (long j = 0; j < %lld; j++) pr[%lld + j] = dyo[oh * %lld + j];\n", d.OW,
                  L, d.OW);
        sb_printf(c, "                    for (long kh = 0; kh < %lld; kh++) {\n", d.KH);
        sb_printf(c, "                        const long ih = oh + kh * %lld - %lld;\n", d.D, d.P);
        sb_printf(c, "                        if (ih < 0 || ih >= %lld) continue;\n", d.H);
        sb_printf(c, "                        const %s *restrict wr = wo + kh * %lld;\n", T, d.KW);
        sb_printf(c, "                        %s *restrict dr = xo + ih * %lld;\n", T, d.W);
        emit_taprow(cx, "                        ", &r, d.KW, 1, "(void)dr, (void)wr;");
    } else { /* scatter along output rows: ih = oh s + kh d - p */
        taprow r = {"dr", "sr", "wr", 1, d.OW, d.S, -d.P, d.D, 0, d.W, 1, 0, 0, d.OW};
        sb_printf(c, "                for (long oh = 0; oh < %lld; oh++) {\n", d.OH);
        sb_printf(c, "                    const %s *restrict sr = dyo + oh * %lld;\n", T, d.OW);
        sb_printf(c, "                    for (long kh = 0; kh < %lld; kh++) {\n", d.KH);
        sb_printf(c, "                        const long ih = oh * %lld + kh * %lld - %lld;\n", d.S, d.D, d.P);
        sb_printf(c, "                        if (ih < 0 || ih >= %lld) continue;\n", d.H);
        sb_printf(c, "                        %s *dr = xo + ih * %lld;\n", T, d.W);
        sb_printf(c, "                        const %s *restrict wr = wo + kh * %lld;\n", T, d.KW);
        emit_taprow(cx, "                        ", &r, d.KW, 0, "(void)sr, (void)dr, (void)wr;");
    }
    sb_puts(c, "                    }\n                }\n            }\n        }\n");
}

/* ---- the vector ISAs ----------------------------------------------------
 *
 * The vectorized paths are GNU C vectors (vector_size) shaped by the ISA
 * the generated file is compiled for: a kernel has one #if branch per ISA
 * below whose plan picks a vectorized path, tried in this order, each
 * planned for that ISA's vector width and registers, and the direct loops
 * as its #else (compilers without GNU C vectors, -DNNC_NO_VECTOR_EXT, or
 * an ISA not listed). Where the ISA has a fused multiply-add it is written
 * as an intrinsic (<immintrin.h>, included before the kernel): gcc does not
 * contract a * b + c into one in ISO C mode. The register blocks were
 * measured per ISA (the table at the top of this file). */
typedef struct visa {
    const char *name, *cond; /* the preprocessor condition that selects it */
    const char *fma;         /* the intrinsics' prefix (_mm512_fmadd_ps ...), or NULL: a * b + c */
    int vbytes;              /* bytes per vector */
    int grid_acc, grid_ob, grid_nv; /* implicit GEMM: accumulators, at most grid_ob channels x grid_nv vectors */
    int gw_acc;   /* channel lanes: accumulators (kernel taps) */
    int gwa_taps; /* pixel lanes: output channels x kernel columns per block */
} visa;

static const visa visas[] = {
    {"AVX-512", "defined(__AVX512F__)", "_mm512", 64, 24, 12, 4, 28, 16},
    {"AVX2", "defined(__AVX__) && defined(__FMA__)", "_mm256", 32, 12, 6, 3, 14, 10},
    {"SSE2/NEON", "defined(__SSE2__) || defined(__ARM_NEON)", NULL, 16, 12, 6, 3, 14, 8},
};
enum { NVISA = sizeof visas / sizeof visas[0] };

/* Open the branch of ISA is: #if for the first branch of a kernel, else #elif. */
static void visa_branch(cg_ctx *cx, const visa *is, int first) {
    sb_printf(cx->c, "#%s defined(__GNUC__) && !defined(NNC_NO_VECTOR_EXT) && (%s)\n", first ? "if" : "elif",
              is->cond);
}

static void vec_typedef(cg_ctx *cx, const visa *is) {
    sb_printf(cx->c, "    typedef %s vec __attribute__((vector_size(%d)));\n", cx->T, is->vbytes);
}

/* The statement acc += f * v for vectors acc and v and a scalar f (bcast)
 * or a vector f: one fused multiply-add where the ISA has it. */
static const char *vfma(cg_ctx *cx, const visa *is, const char *acc, const char *f, int bcast, const char *v) {
    if (!is->fma) return arena_printf(cx->g->a, "%s += %s * %s;", acc, f, v);
    const char *t = cx->o->f64 ? "pd" : "ps";
    if (bcast) f = arena_printf(cx->g->a, "%s_set1_%s(%s)", is->fma, t, f);
    return arena_printf(cx->g->a, "%s = %s_fmadd_%s(%s, %s, %s);", acc, is->fma, t, f, v, acc);
}

/* One line, after indent: acc<row>_<v> += f * <vn><v> for v < n, as
 * fused multiply-adds where the ISA has them (f a scalar to broadcast, or
 * a vector when !bcast). */
static void fma_row(cg_ctx *cx, const visa *is, const char *indent, const char *acc, long long row, const char *f,
                    int bcast, const char *vn, long long n) {
    sb_puts(cx->c, indent);
    for (long long v = 0; v < n; v++)
        sb_printf(cx->c, "%s%s", v ? " " : "", vfma(cx, is, arena_printf(cx->g->a, "%s%lld_%lld", acc, row, v), f,
                                                     bcast, arena_printf(cx->g->a, "%s%lld", vn, v)));
    sb_puts(cx->c, "\n");
}

/* After indent: the vectors <vn>0 .. <vn>n-1 declared and loaded from src,
 * VL elements apart (unaligned: memcpy). */
static void vec_loads(cg_ctx *cx, const char *indent, const char *vn, long long n, const char *src, long long VL) {
    sb_printf(cx->c, "%svec", indent);
    for (long long v = 0; v < n; v++) sb_printf(cx->c, "%s %s%lld", v ? "," : "", vn, v);
    sb_puts(cx->c, ";\n");
    for (long long v = 0; v < n; v++)
        sb_printf(cx->c, "%s__builtin_memcpy(&%s%lld, %s + %lld, sizeof %s%lld);\n", indent, vn, v, src, v * VL, vn, v);
}

/* Before the kernel of a node whose branches `use` (one flag per ISA): the
 * intrinsics' header, under the conditions of the branches that need it. */
static void visa_include(cg_ctx *cx, const int *use) {
    const char *cond = NULL;
    for (int k = 0; k < NVISA; k++)
        if (use[k] && visas[k].fma)
            cond = cond ? arena_printf(cx->g->a, "%s || (%s)", cond, visas[k].cond)
                        : arena_printf(cx->g->a, "(%s)", visas[k].cond);
    if (cond)
        sb_printf(cx->c, "\n#if defined(__GNUC__) && !defined(NNC_NO_VECTOR_EXT) && (%s)\n"
                         "#include <immintrin.h>\n#endif\n", cond);
}

/* ---- OpenMP in the vectorized paths -------------------------------------
 *
 * With -fopenmp, a vectorized path whose node does at least CONV_OMP_MIN
 * multiply-adds runs in one parallel region (nothing is compiled without
 * OpenMP). Read-only tables (blocked weights, offsets) are made before it;
 * each thread has its own scratch buffers (padded planes, bands), declared
 * inside the region. The forward paths share out the batch (each image's
 * outputs are written by one thread); conv2d_grad_w shares out blocks of
 * output elements (par_for_nowait: every thread walks the whole batch and
 * takes the same blocks each time, so each output is summed in the same
 * order as on one thread). So the bits do not depend on the thread count. */
enum { CONV_OMP_MIN = 1 << 20 };

/* Does a node of `macs` multiply-adds over a batch of n get the parallel region? */
static int conv_par(long long n, long long macs) { return n > 1 && macs >= CONV_OMP_MIN; }

/* Open the region (its block is always there; the pragma only with par). */
static void par_open(cg_ctx *cx, int par) {
    if (par) sb_puts(cx->c, "#ifdef _OPENMP\n    #pragma omp parallel\n#endif\n");
    sb_puts(cx->c, "    {\n");
}

/* Before a loop nest of `collapse` loops whose iterations write disjoint outputs. */
static void par_for(cg_ctx *cx, int par, const char *ind, int collapse, int nowait) {
    if (!par) return;
    sb_printf(cx->c, "#ifdef _OPENMP\n%s#pragma omp for schedule(static)", ind);
    if (collapse > 1) sb_printf(cx->c, " collapse(%d)", collapse);
    sb_printf(cx->c, "%s\n#endif\n", nowait ? " nowait" : "");
}

/* ---- implicit GEMM on the padded input grid ------------------------------
 *
 * A stride-1 convolution is a GEMM, dst[o, pixel] = sum over k = (c, kh, kw)
 * of wt[k, o] src[c, pixel shifted by (kh d, kw d)]. With the source copied
 * into a zero-padded plane of Wp columns, the shift is a constant offset,
 * kh d Wp + kw d, when pixels are numbered on that grid (oh Wp + ow): the
 * GEMM's B operand is the padded copy itself, read at K offsets (no
 * im2col). A row's right padding is the next row's left padding (a read
 * past the end of a row lands in the zeros at the start of the next), so
 * Wp = W + p, or OW when that is more (grid_width). The grid's columns
 * ow >= OW are computed and thrown away, a waste of (Wp - OW) / Wp: none
 * for conv2d_grad_x of an unpadded convolution. The micro-kernel keeps OB
 * output channels times NV vectors of pixels in registers (the ISA's
 * vectors): per k, NV vector loads and OB x NV multiply-adds by broadcast
 * weights. Results go through a small buffer, a band of R output rows of
 * one o block at a time, and the valid columns are copied out.
 *
 * conv2d uses it as is. conv2d_grad_x at stride 1 is the same convolution
 * of dy, padded by (kh - 1) d - p, with the kernel flipped and its in and out
 * channels swapped. All buffers live on the stack (GRID_STACK_MAX bytes); a
 * compiler without GNU vectors gets the direct loops (#else branch). */
#ifndef GRID_STACK_MAX
#define GRID_STACK_MAX (48 * 1024)
#endif
#ifndef GRID_BAND_MAX /* bytes of the band buffer */
#define GRID_BAND_MAX (16 * 1024)
#endif

/* The width of a padded plane of ws columns, p each side, whose rows share
 * their padding (see above), for an output ow columns wide. */
static long long grid_width(long long ws, long long p, long long ow) { return ws + p > ow ? ws + p : ow; }

typedef struct gridconv {
    long long N, G, CS, HS, WS, P, D, KH, KW, CD, OH, OW; /* src [N, G CS, HS, WS] -> dst [N, G CD, OH, OW] */
    long long Hp, Wp, K, VL, OB, NB, NV, PT, R, NPT, XPN;
    int flip; /* 0: wt[k = (c, kh, kw), o] = w[o, c, kh, kw]; 1 (grad_x): w[c, o, KH-1-kh, KW-1-kw] */
    const visa *is;
} gridconv;

/* Share of the grid's multiply-adds that are real ones: the rest go to the
 * thrown-away columns, the rounding of pixels to tiles and of output
 * channels to blocks. */
static double grid_useful(const gridconv *g) {
    return (double)(g->CD * g->OH * g->OW) / (double)(g->NB * g->OB * g->NPT * ((g->OH + g->R - 1) / g->R));
}

/* The bands and buffers of a plan with its block (OB, NV) set: 0 when they
 * do not fit on the stack. */
static int grid_layout(gridconv *g, size_t esize) {
    g->NB = (g->CD + g->OB - 1) / g->OB, g->PT = g->NV * g->VL;
    for (long long bands = 1;; bands++) { /* the fewest bands of equal height that fit */
        g->R = (g->OH + bands - 1) / bands;
        g->NPT = (g->R * g->Wp + g->PT - 1) / g->PT * g->PT;
        if (g->R == 1 || g->OB * g->NPT * (long long)esize <= GRID_BAND_MAX) break;
    }
    /* the furthest read: the last band, group and channel at the largest shift */
    g->XPN = ((g->G * g->CS - 1) * g->Hp + (g->KH - 1) * g->D + (g->OH - 1) / g->R * g->R) * g->Wp +
             (g->KW - 1) * g->D + g->NPT;
    long long bytes = (g->XPN + g->OB * g->NPT + g->G * g->NB * g->K * g->OB) * (long long)esize;
    return bytes <= GRID_STACK_MAX;
}

/* A micro-kernel's time per k, in multiply-add slots (two FMA ports, two
 * loads a cycle): its fma multiply-adds, its loads (each worth 1.5 slots:
 * loads that feed multiply-adds do not issue every cycle) or the
 * GRID_LATENCY multiply-adds that must be in flight to hide the latency,
 * whichever is the most, plus GRID_LOOP for the loop itself; divided by
 * the multiply-adds and the share of them that is useful. Measured on
 * LeNet's convolutions with AVX-512 and AVX2, it ranks the blocks and the
 * paths as their times do. */
enum { GRID_LATENCY = 8, GRID_LOOP = 2 };

static double block_cost(long long fma, long long loads, double useful) {
    double t = 1.5 * (double)loads > (double)fma ? 1.5 * (double)loads : (double)fma;
    t = (t > GRID_LATENCY ? t : GRID_LATENCY) + GRID_LOOP;
    return t / ((double)fma * useful);
}

/* OB NV multiply-adds; NV vector loads and OB broadcast weights per k. */
static double grid_cost(const gridconv *g) { return block_cost(g->OB * g->NV, g->OB + g->NV, grid_useful(g)); }

/* The grid plan of a stride-1 convolution: the block of the ISA's
 * registers with the least grid_cost, or 0 when the grid does not apply
 * or its buffers would not fit on the stack. */
static int grid_plan(gridconv *g, size_t esize) {
    if (g->P < 0) return 0;
    g->Hp = g->HS + 2 * g->P, g->Wp = grid_width(g->WS, g->P, g->OW), g->K = g->CS * g->KH * g->KW;
    g->VL = g->is->vbytes / (long long)esize;
    gridconv best = *g;
    int found = 0;
    for (long long ob = 1; ob <= g->CD && ob <= g->is->grid_ob; ob++)
        for (long long nv = 1; nv <= g->is->grid_nv && ob * nv <= g->is->grid_acc; nv++) {
            gridconv t = *g;
            t.OB = ob, t.NV = nv;
            if (grid_layout(&t, esize) && (!found || grid_cost(&t) < grid_cost(&best))) best = t, found = 1;
        }
    *g = best;
    return found;
}

/* The weights, blocked: wt[((g NB + b) K + k) OB + o] (flipped for a
 * transposed convolution). */
static void grid_weights(cg_ctx *cx, const gridconv *g) {
    strbuf *c = cx->c;
    long long KK = g->KH * g->KW;
    sb_printf(c, "    for (long gb = 0; gb < %lld; gb++)\n", g->G * g->NB);
    sb_printf(c, "        for (long k = 0; k < %lld; k++)\n", g->K);
    sb_printf(c, "            for (long o = 0; o < %lld; o++) {\n", g->OB);
    sb_printf(c, "                const long oc = gb %% %lld * %lld + o, c = k / %lld, kk = k %% %lld;\n", g->NB, g->OB,
              KK, KK);
    if (!g->flip)
        sb_printf(c,
                  "                wt[k * %lld + o + gb * %lld] = oc < %lld ? x1[((gb / %lld * %lld + oc) * %lld + c) "
                  "* %lld + kk] : 0;\n",
                  g->OB, g->K * g->OB, g->CD, g->NB, g->CD, g->CS, KK);
    else
        sb_printf(c,
                  "                wt[k * %lld + o + gb * %lld] = oc < %lld ? x1[((gb / %lld * %lld + c) * %lld + oc) "
                  "* %lld + %lld - kk] : 0;\n",
                  g->OB, g->K * g->OB, g->CD, g->NB, g->CS, g->CD, KK, KK - 1);
    sb_puts(c, "            }\n");
}

/* The kernel rows kh in [k0, k1) that meet the source's rows for some
 * pixel of the tile at t: rows hp = oh + kh d of the padded plane, with
 * oh the tile's output rows; the other kernel rows read only the zero rows
 * of the padding, and are skipped (for conv2d_grad_x of an unpadded
 * convolution, a quarter of the multiply-adds). */
static void grid_kernel_rows(cg_ctx *cx, const gridconv *g) {
    strbuf *c = cx->c;
    if (!g->P) {
        sb_printf(c, "                const long k0 = 0, k1 = %lld;\n", g->KH);
        return;
    }
    sb_printf(c, "                const long h0 = r0 + t / %lld, h1 = r0 + (t + %lld) / %lld;\n", g->Wp, g->PT - 1,
              g->Wp);
    sb_printf(c, "                const long k0 = h1 >= %lld ? 0 : (%lld - h1) / %lld;\n", g->P, g->P + g->D - 1, g->D);
    sb_printf(c, "                const long e = %lld - h0, k1 = e < 0 ? 0 : e / %lld + 1 < %lld ? e / %lld + 1 : %lld;"
                 "\n", g->P + g->HS - 1, g->D, g->KH, g->D, g->KH);
}

/* One tile of NV vectors of pixels at t for the block's OB output
 * channels: the accumulators over k, then stored into the band buffer. */
static void grid_tile(cg_ctx *cx, const gridconv *g) {
    strbuf *c = cx->c;
    const char *T = cx->T;
    long long HW = g->Hp * g->Wp;
    sb_puts(c, "                vec");
    for (long long o = 0; o < g->OB; o++)
        for (long long v = 0; v < g->NV; v++) sb_printf(c, "%s a%lld_%lld = {0}", o + v ? "," : "", o, v);
    sb_puts(c, ";\n");
    grid_kernel_rows(cx, g);
    sb_printf(c, "                for (long c = 0; c < %lld; c++)\n", g->CS);
    sb_puts(c, "                    for (long kh = k0; kh < k1; kh++)\n");
    sb_printf(c, "                        for (long kw = 0; kw < %lld; kw++) {\n", g->KW);
    sb_printf(c, "                            const %s *restrict s = xg + c * %lld + kh * %lld + kw * %lld + t;\n", T,
              HW, g->D * g->Wp, g->D);
    sb_printf(c, "                            const %s *restrict f = wb + ((c * %lld + kh) * %lld + kw) * %lld;\n", T,
              g->KH, g->KW, g->OB);
    vec_loads(cx, "                            ", "b", g->NV, "s", g->VL);
    for (long long o = 0; o < g->OB; o++)
        fma_row(cx, g->is, "                            ", "a", o, arena_printf(cx->g->a, "f[%lld]", o), 1, "b", g->NV);
    sb_puts(c, "                        }\n");
    for (long long o = 0; o < g->OB; o++)
        for (long long v = 0; v < g->NV; v++)
            sb_printf(c, "                __builtin_memcpy(yb + %lld + t, &a%lld_%lld, sizeof a%lld_%lld);\n",
                      o * g->NPT + v * g->VL, o, v, o, v);
}

static void emit_grid(cg_ctx *cx, const gridconv *g) {
    strbuf *c = cx->c;
    const char *T = cx->T;
    long long HW = g->Hp * g->Wp;
    int par = conv_par(g->N, g->N * g->G * g->CD * g->OH * g->OW * g->K);
    vec_typedef(cx, g->is);
    sb_printf(c, "    %s wt[%lld];\n", T, g->G * g->NB * g->K * g->OB);
    grid_weights(cx, g);
    par_open(cx, par);
    sb_printf(c, "    %s xp[%lld], yb[%lld];\n", T, g->XPN, g->OB * g->NPT);
    sb_printf(c, "    for (long i = 0; i < %lld; i++) xp[i] = 0;\n", g->XPN);
    par_for(cx, par, "    ", 1, 0);
    sb_printf(c, "    for (long n = 0; n < %lld; n++) {\n", g->N);
    sb_printf(c, "        for (long c = 0; c < %lld; c++)\n            for (long h = 0; h < %lld; h++)\n", g->G * g->CS,
              g->HS);
    sb_printf(c, "                for (long w = 0; w < %lld; w++)\n", g->WS);
    sb_printf(c,
              "                    xp[(c * %lld + h + %lld) * %lld + w + %lld] = x0[((n * %lld + c) * %lld + h) * %lld "
              "+ w];\n",
              g->Hp, g->P, g->Wp, g->P, g->G * g->CS, g->HS, g->WS);
    sb_printf(c, "        for (long gb = 0; gb < %lld; gb++)\n", g->G * g->NB);
    sb_printf(c, "        for (long r0 = 0; r0 < %lld; r0 += %lld) {\n", g->OH, g->R);
    sb_printf(c,
              "            const %s *restrict wb = wt + gb * %lld, *restrict xg = xp + gb / %lld * %lld + r0 * %lld;\n",
              T, g->K * g->OB, g->NB, g->CS * HW, g->Wp);
    sb_printf(c, "            for (long t = 0; t < %lld; t += %lld) {\n", g->NPT, g->PT);
    grid_tile(cx, g);
    sb_puts(c, "            }\n");
    /* the valid columns of the block's channels */
    sb_printf(c, "            const long o0 = gb %% %lld * %lld, nc = %lld - o0 < %lld ? %lld - o0 : %lld;\n", g->NB,
              g->OB, g->CD, g->OB, g->CD, g->OB);
    sb_printf(c, "            const long r1 = r0 + %lld < %lld ? r0 + %lld : %lld;\n", g->R, g->OH, g->R, g->OH);
    sb_printf(c, "            for (long o = 0; o < nc; o++)\n                for (long oh = r0; oh < r1; oh++)\n");
    sb_printf(c, "                    for (long ow = 0; ow < %lld; ow++)\n", g->OW);
    sb_printf(c,
              "                        y[((n * %lld + gb / %lld * %lld + o0 + o) * %lld + oh) * %lld + ow] = yb[o * "
              "%lld + (oh - r0) * %lld + ow];\n",
              g->G * g->CD, g->NB, g->CD, g->OH, g->OW, g->NPT, g->Wp);
    sb_puts(c, "        }\n    }\n    }\n");
}

/* The grid is chosen when it applies, fits, and at least GRID_MIN_USEFUL of
 * its multiply-adds are real. Measured (the table at the top): per
 * multiply-add it runs 3x (conv 1->6) to 5x (6->16) as fast as the direct
 * loops, so it breaks even near 0.2-0.3 useful; 0.4 leaves room for the
 * copies it adds. */
#ifndef GRID_MIN_USEFUL
#define GRID_MIN_USEFUL 0.4
#endif

static int grid_choose(gridconv *g, cg_ctx *cx) {
    return grid_plan(g, cx->o->f64 ? sizeof(double) : sizeof(float)) && grid_useful(g) >= GRID_MIN_USEFUL;
}

/* ---- conv2d with output channels in the vector lanes -------------------
 *
 *   y[pixel][o] = sum over k = (c, kh, kw) of x[c][pixel shifted by k] w[o][k]
 *
 * The weights are transposed to wl[k][o], the group's OG output channels
 * padded to OGP, a multiple of the vector length; x is copied into a
 * zero-padded plane. For each output row, blocks of PB pixels times OVB
 * vectors of channels are accumulators in registers: per k, OVB vector
 * loads of wl and PB multiply-adds each by a broadcast element of x (read
 * as scalars: any stride and dilation). No pixel is thrown away, only the
 * lanes past OG; the block goes through a small buffer, transposed into y.
 * Each output is summed over k in the implicit GEMM's order, so the two
 * paths give the same bits. conv2d takes whichever grid_cost and cl_cost
 * say is faster, and this path alone where the grid does not apply (stride
 * > 1) when at least CL_MIN_LANES of the lanes are used. */
#ifndef CL_MIN_LANES
#define CL_MIN_LANES 0.5
#endif

typedef struct clplan {
    long long VL, OGP, OV, OVB, PB, NBLK, PBT, Hp, Wp, XPN, K;
    const visa *is;
} clplan;

/* Time per useful multiply-add of a PB x OVB block (block_cost): OVB PB
 * multiply-adds; OVB vector loads, PB broadcasts and the tap's offset per k. */
static double cl_cost(const convdims *d, const clplan *q) {
    return block_cost(q->OVB * q->PB, q->OVB + q->PB + 1, (double)d->OG / (double)q->OGP);
}

/* The plan of the ISA's registers with the least cl_cost, or 0 when the
 * lanes are used too little or the buffers would not fit on the stack. */
static int cl_plan(const convdims *d, size_t esize, clplan *q) {
    q->OVB = 0;
    q->VL = q->is->vbytes / (long long)esize;
    q->OGP = (d->OG + q->VL - 1) / q->VL * q->VL, q->OV = q->OGP / q->VL;
    q->Hp = d->H + 2 * d->P, q->Wp = d->W + 2 * d->P, q->K = d->CG * d->KH * d->KW;
    q->XPN = d->C * q->Hp * q->Wp;
    long long bytes = (q->XPN + (d->C / d->CG) * q->K * q->OGP + q->is->grid_acc * q->OGP) * (long long)esize;
    if ((double)d->OG / (double)q->OGP < CL_MIN_LANES || bytes > GRID_STACK_MAX) return 0;
    clplan best = *q;
    for (long long ovb = 1; ovb <= q->OV && ovb <= q->is->grid_acc; ovb++) {
        if (q->OV % ovb) continue;
        for (long long pb = 1; pb <= d->OW && pb * ovb <= q->is->grid_acc; pb++) {
            clplan t = *q;
            t.OVB = ovb, t.NBLK = (d->OW + pb - 1) / pb, t.PB = (d->OW + t.NBLK - 1) / t.NBLK;
            t.PBT = d->OW - (t.NBLK - 1) * t.PB;
            if (best.OVB == 0 || cl_cost(d, &t) < cl_cost(d, &best)) best = t;
        }
    }
    *q = best;
    return 1;
}

/* A block of pb pixels from ow0: OVB vectors of channels at a time, then
 * the block transposed into y. */
static void cl_block(cg_ctx *cx, const convdims *d, const clplan *q, long long pb, const char *ind) {
    strbuf *c = cx->c;
    const char *T = cx->T;
    sb_printf(c, "%sfor (long v0 = 0; v0 < %lld; v0 += %lld) {\n%s    vec", ind, q->OV, q->OVB, ind);
    for (long long p = 0; p < pb; p++)
        for (long long v = 0; v < q->OVB; v++) sb_printf(c, "%s a%lld_%lld = {0}", p + v ? "," : "", p, v);
    sb_puts(c, ";\n");
    sb_printf(c, "%s    for (long k = 0; k < %lld; k++) {\n", ind, q->K);
    sb_printf(c, "%s        const %s *restrict s = xs + ko[k], *restrict f = wg + k * %lld + v0 * %lld;\n", ind, T,
              q->OGP, q->VL);
    vec_loads(cx, arena_printf(cx->g->a, "%s        ", ind), "e", q->OVB, "f", q->VL);
    for (long long p = 0; p < pb; p++)
        fma_row(cx, q->is, arena_printf(cx->g->a, "%s        ", ind), "a", p,
                arena_printf(cx->g->a, "s[%lld]", p * d->S), 1, "e", q->OVB);
    sb_printf(c, "%s    }\n", ind);
    for (long long p = 0; p < pb; p++)
        for (long long v = 0; v < q->OVB; v++)
            sb_printf(c, "%s    __builtin_memcpy(yt + %lld + v0 * %lld, &a%lld_%lld, sizeof a%lld_%lld);\n", ind,
                      p * q->OGP + v * q->VL, q->VL, p, v, p, v);
    sb_printf(c, "%s}\n", ind);
    sb_printf(c, "%sfor (long o = 0; o < %lld; o++)\n%s    for (long p = 0; p < %lld; p++)\n", ind, d->OG, ind, pb);
    sb_printf(c, "%s        y[((n * %lld + g * %lld + o) * %lld + oh) * %lld + ow0 + p] = yt[p * %lld + o];\n", ind,
              d->O, d->OG, d->OH, d->OW, q->OGP);
}

/* The tables: the transposed weights wl and the taps' offsets ko (the
 * padded plane xp and the block buffer yt are each thread's: emit_cl). */
static void cl_setup(cg_ctx *cx, const convdims *d, const clplan *q) {
    strbuf *c = cx->c;
    long long G = d->C / d->CG;
    vec_typedef(cx, q->is);
    sb_printf(c, "    %s wl[%lld];\n", cx->T, G * q->K * q->OGP);
    /* the offsets of the taps k = (c, kh, kw) in xp: as a table, so that
     * the compiler does not fold the taps' overlapping loads into register
     * shuffles (a broadcast from memory is a load, from a register a shuffle) */
    sb_printf(c, "    long ko[%lld];\n    for (long k = 0; k < %lld; k++)\n", q->K, q->K);
    sb_printf(c, "        ko[k] = k / %lld * %lld + k / %lld %% %lld * %lld + k %% %lld * %lld;\n", d->KH * d->KW,
              q->Hp * q->Wp, d->KW, d->KH, d->D * q->Wp, d->KW, d->D);
    sb_printf(c, "    for (long g = 0; g < %lld; g++)\n        for (long k = 0; k < %lld; k++)\n", G, q->K);
    sb_printf(c, "            for (long o = 0; o < %lld; o++)\n", q->OGP);
    sb_printf(c, "                wl[(g * %lld + k) * %lld + o] = o < %lld ? x1[(g * %lld + o) * %lld + k] : 0;\n",
              q->K, q->OGP, d->OG, d->OG, q->K);
}

static void emit_cl(cg_ctx *cx, const convdims *d, const clplan *q) {
    strbuf *c = cx->c;
    const char *T = cx->T;
    int par = conv_par(d->N, d->N * d->O * d->OH * d->OW * q->K);
    cl_setup(cx, d, q);
    par_open(cx, par);
    sb_printf(c, "    %s xp[%lld], yt[%lld];\n", T, q->XPN, q->PB * q->OGP);
    sb_printf(c, "    for (long i = 0; i < %lld; i++) xp[i] = 0;\n", q->XPN);
    par_for(cx, par, "    ", 1, 0);
    sb_printf(c, "    for (long n = 0; n < %lld; n++) {\n", d->N);
    sb_printf(c, "        for (long c = 0; c < %lld; c++)\n            for (long h = 0; h < %lld; h++)\n", d->C, d->H);
    sb_printf(c, "                for (long w = 0; w < %lld; w++)\n", d->W);
    sb_printf(c,
              "                    xp[(c * %lld + h + %lld) * %lld + w + %lld] = x0[((n * %lld + c) * %lld + h) * %lld "
              "+ w];\n",
              q->Hp, d->P, q->Wp, d->P, d->C, d->H, d->W);
    sb_printf(c, "        for (long g = 0; g < %lld; g++)\n            for (long oh = 0; oh < %lld; oh++)\n",
              d->C / d->CG, d->OH);
    sb_printf(c, "                for (long b = 0; b < %lld; b++) {\n", q->NBLK);
    sb_printf(c, "                    const long ow0 = b * %lld;\n", q->PB);
    sb_printf(c, "                    const %s *restrict wg = wl + g * %lld;\n", T, q->K * q->OGP);
    sb_printf(c, "                    const %s *restrict xs = xp + g * %lld + oh * %lld + ow0 * %lld;\n", T,
              d->CG * q->Hp * q->Wp, d->S * q->Wp, d->S);
    if (q->PBT == q->PB) {
        cl_block(cx, d, q, q->PB, "                    ");
    } else {
        sb_printf(c, "                    if (b < %lld) {\n", q->NBLK - 1);
        cl_block(cx, d, q, q->PB, "                        ");
        sb_puts(c, "                    } else {\n");
        cl_block(cx, d, q, q->PBT, "                        ");
        sb_puts(c, "                    }\n");
    }
    sb_puts(c, "                }\n    }\n    }\n");
}

/* ---- convolutions by phases of the stride ---------------------------------
 *
 * conv2d_grad_x (and conv_transpose2d) at stride s > 1 scatters each dy
 * pixel into s-apart pixels of dx. Split dx by phase instead: along one
 * axis, the outputs i with i + p = s a + r (r < s) take only the kernel
 * taps k with k d = s t + r, from dy at a - t. So each phase (rh, rw) is a
 * stride-1 correlation of dy with a sub-kernel: a GEMM on dy's zero-padded
 * plane as in the implicit GEMM above (phase grid position m = (a - a0) Wp
 * + b - b0 reads the plane at m plus one offset per tap). conv2d (fwd) at
 * stride s is the mirror image: x is split into s x s phase planes (plane
 * (rh, rw) row a column b holds x[s a + rh - p, s b + rw - p]), and tap
 * (kh, kw) reads plane (kh d % s, kw d % s) at (oh + kh d / s, ow + kw d /
 * s): one grid of the output, every tap at its own offset. At stride 1
 * either is the plain implicit GEMM: the path for convolutions whose
 * blocked weights would not fit the grid's table (64 -> 64 channels, 3x3).
 *
 * Rows of the register block are dx channels (grad_x) or output channels
 * (fwd), NV vectors of grid positions each; the weights are broadcast
 * straight from w (no blocked copy: a transposed convolution's weights are
 * often larger than the stack allows). Tables give each phase's first
 * output, its size and its taps (plane offset, kernel index). A block goes
 * through a small buffer into the output, s apart (grad_x) or 1. The planes
 * of the summed channels (dy's for grad_x, x's for fwd) take at most half
 * the stack budget: more channels are summed in passes, each added into the
 * output. Each output is the sum over passes, over the pass's channels, of
 * one channel's taps summed apart (a second set of accumulators): short
 * chains, measured to keep f32 as close to float64 as PyTorch's float32
 * (tests/parity/cases_dcgan.py; one chain over every (channel, tap) was 2x
 * further off). That order is the same for every register block and vector
 * width: the same bits on AVX-512 and AVX2. */
enum { PH_MAX_S = 8 };

typedef struct phaxis {
    long long lo[PH_MAX_S], n[PH_MAX_S]; /* grad_x phase r: outputs s (lo + i) + r - p, i < n */
    long long T, L;                      /* the plane's zero rows before the source, and its length */
} phaxis;

/* One axis of grad_x: dx of len, dy of dlen, kernel k; T from the largest
 * t - lo. fwd: the phase planes' length, out + the largest k d / s. */
static phaxis ph_axis(int fwd, long long len, long long dlen, long long k, long long s, long long p, long long d) {
    phaxis x = {.T = 0};
    if (fwd) {
        x.L = dlen + (k - 1) * d / s, x.n[0] = dlen;
        return x;
    }
    long long end = dlen;
    for (long long r = 0; r < s; r++) {
        x.lo[r] = floordiv(p - r + s - 1, s);
        x.n[r] = floordiv(len - 1 + p - r, s) - x.lo[r] + 1;
        if (x.n[r] < 0) x.n[r] = 0;
        for (long long kk = 0; kk < k && x.n[r]; kk++)
            if ((kk * d) % s == r && (kk * d - r) / s - x.lo[r] > x.T) x.T = (kk * d - r) / s - x.lo[r];
        if (x.lo[r] + x.n[r] > end) end = x.lo[r] + x.n[r];
    }
    x.L = x.T + end;
    return x;
}

typedef struct phplan {
    convdims d;
    int fwd;      /* conv2d: output channels in the rows, x's phase planes */
    phaxis h, w;  /* grad_x: the phases; fwd: the phase planes */
    long long R, U, RS, US; /* rows and summed channels per group, their strides in w */
    long long NPH, Wp, HW;  /* phases (output grids), plane width, planes per summed channel */
    long long UC, NUC;      /* summed channels per pass over the planes, and passes */
    long long VL, CB, NCB, CBT, NV, PT, NPTM, XPN, positions;
    const visa *is;
} phplan;

/* Grid positions of phase (rh, rw), rounded up to tiles of PT. */
static long long ph_npt(const phplan *q, long long rh, long long rw) {
    if (!q->h.n[rh] || !q->w.n[rw]) return 0;
    return (q->h.n[rh] * q->Wp + q->PT - 1) / q->PT * q->PT;
}

/* The tap offset of kernel row kh and column kw in phase (rh, rw). */
static long long ph_off(const phplan *q, long long rh, long long rw, long long kh, long long kw) {
    const convdims *d = &q->d;
    if (q->fwd)
        return (((kh * d->D) % d->S * d->S + (kw * d->D) % d->S) * q->h.L + kh * d->D / d->S) * q->Wp +
               kw * d->D / d->S;
    return (q->h.lo[rh] - (kh * d->D - rh) / d->S + q->h.T) * q->Wp + q->w.lo[rw] - (kw * d->D - rw) / d->S + q->w.T;
}

/* Is tap (kh, kw) in phase (rh, rw)? fwd: one phase with every tap. */
static int ph_tap(const phplan *q, long long rh, long long rw, long long kh, long long kw) {
    return q->fwd || ((kh * q->d.D) % q->d.S == rh && (kw * q->d.D) % q->d.S == rw);
}

static double ph_useful(const phplan *q) {
    const convdims *d = &q->d;
    return (double)(q->R * (q->fwd ? d->OH * d->OW : d->H * d->W)) / (double)(q->NCB * q->CB * q->positions);
}

static double ph_cost(const phplan *q) { return block_cost(q->CB * q->NV, q->CB + q->NV + 1, ph_useful(q)); }

/* The sizes of a plan with (CB, NV) set: 0 when its buffers would not fit
 * on the stack. */
static int ph_layout(phplan *q, size_t esize) {
    q->NCB = (q->R + q->CB - 1) / q->CB, q->CB = (q->R + q->NCB - 1) / q->NCB;
    q->CBT = q->R - (q->NCB - 1) * q->CB, q->PT = q->NV * q->VL;
    q->NPTM = 0, q->positions = 0;
    long long maxoff = 0;
    for (long long rh = 0; rh < q->NPH; rh++)
        for (long long rw = 0; rw < q->NPH; rw++) {
            long long npt = ph_npt(q, rh, rw);
            q->positions += npt;
            q->NPTM = npt > q->NPTM ? npt : q->NPTM;
            for (long long kh = 0; npt && kh < q->d.KH; kh++)
                for (long long kw = 0; kw < q->d.KW; kw++)
                    if (ph_tap(q, rh, rw, kh, kw) && ph_off(q, rh, rw, kh, kw) + npt > maxoff)
                        maxoff = ph_off(q, rh, rw, kh, kw) + npt;
        }
    q->XPN = (q->UC - 1) * q->HW + (maxoff > q->HW ? maxoff : q->HW);
    return (q->XPN + q->CB * q->NPTM) * (long long)esize <= GRID_STACK_MAX;
}

/* The block with the least ph_cost, or 0 when no phase plan fits or it
 * would waste more than GRID_MIN_USEFUL allows. */
static int ph_plan(phplan *q, size_t esize) {
    const convdims *d = &q->d;
    long long KK = d->KH * d->KW;
    if (d->S > PH_MAX_S) return 0;
    q->h = ph_axis(q->fwd, d->H, d->OH, d->KH, d->S, d->P, d->D);
    q->w = ph_axis(q->fwd, d->W, d->OW, d->KW, d->S, d->P, d->D);
    q->NPH = q->fwd ? 1 : d->S, q->Wp = q->w.L;
    q->HW = (q->fwd ? d->S * d->S : 1) * q->h.L * q->Wp;
    q->R = q->fwd ? d->OG : d->CG, q->U = q->fwd ? d->CG : d->OG;
    q->RS = q->fwd ? d->CG * KK : KK, q->US = q->fwd ? KK : d->CG * KK;
    /* the planes of at most half the stack's budget at a time: the same
     * passes for every ISA, so the same sums (the bits of AVX-512 and AVX2) */
    q->UC = GRID_STACK_MAX / 2 / (q->HW * (long long)esize);
    if (q->UC < 1) return 0;
    q->UC = q->UC > q->U ? q->U : q->UC, q->NUC = (q->U + q->UC - 1) / q->UC;
    q->VL = q->is->vbytes / (long long)esize;
    phplan best = *q;
    int found = 0;
    for (long long cb = 1; cb <= q->R && cb <= q->is->grid_ob; cb++)
        for (long long nv = 1; nv <= q->is->grid_nv && 2 * cb * nv <= q->is->grid_acc; nv++) {
            phplan t = *q;
            t.CB = cb, t.NV = nv;
            if (ph_layout(&t, esize) && (!found || ph_cost(&t) < ph_cost(&best))) best = t, found = 1;
        }
    *q = best;
    return found && ph_useful(q) >= GRID_MIN_USEFUL;
}

/* The tables: per phase its first output row and column, rows, columns,
 * grid positions and first tap (a last row ends the taps); per tap its
 * plane offset and kernel index. */
static void ph_tables(cg_ctx *cx, const phplan *q) {
    const convdims *d = &q->d;
    strbuf *c = cx->c, taps, kks;
    long long nph = 0, nt = 0;
    sb_init(&taps), sb_init(&kks);
    sb_puts(c, "    static const long ph[][6] = {");
    for (long long rh = 0; rh < q->NPH; rh++)
        for (long long rw = 0; rw < q->NPH; rw++) {
            if (!ph_npt(q, rh, rw)) continue;
            sb_printf(c, "%s{%lld, %lld, %lld, %lld, %lld, %lld}", nph++ ? ", " : "",
                      q->fwd ? 0 : d->S * q->h.lo[rh] + rh - d->P, q->fwd ? 0 : d->S * q->w.lo[rw] + rw - d->P,
                      q->h.n[rh], q->w.n[rw], ph_npt(q, rh, rw), nt);
            for (long long kh = 0; kh < d->KH; kh++)
                for (long long kw = 0; kw < d->KW; kw++)
                    if (ph_tap(q, rh, rw, kh, kw)) {
                        sb_printf(&taps, "%s%lld", nt ? ", " : "", ph_off(q, rh, rw, kh, kw));
                        sb_printf(&kks, "%s%lld", nt++ ? ", " : "", kh * d->KW + kw);
                    }
        }
    sb_printf(c, ", {0, 0, 0, 0, 0, %lld}};\n", nt);
    /* a phase may have no taps (kernel smaller than the stride): its dx is 0 */
    if (!nt) sb_puts(&taps, "0"), sb_puts(&kks, "0");
    sb_printf(c, "    static const long toff[] = {%s}, tkk[] = {%s};\n", taps.s, kks.s);
    sb_printf(c, "    enum { NPH = %lld };\n", nph);
    sb_free(&taps), sb_free(&kks);
}

/* One tile of nb rows (from the block's first) x NV vectors of grid
 * positions at t of phase p: the sums over the group's channels u and the
 * phase's taps, into the buffer yb. */
static void ph_block(cg_ctx *cx, const phplan *q, long long nb, const char *ind) {
    strbuf *c = cx->c;
    const char *T = cx->T;
    sb_printf(c, "%svec", ind);
    for (long long i = 0; i < nb; i++)
        for (long long v = 0; v < q->NV; v++) sb_printf(c, "%s a%lld_%lld = {0}", i + v ? "," : "", i, v);
    sb_puts(c, ";\n");
    sb_printf(c, "%sfor (long u = 0; u < un; u++) {\n%s    vec", ind, ind);
    for (long long i = 0; i < nb; i++)
        for (long long v = 0; v < q->NV; v++) sb_printf(c, "%s p%lld_%lld = {0}", i + v ? "," : "", i, v);
    sb_puts(c, ";\n");
    sb_printf(c, "%s    const %s *restrict s = xp + u * %lld + t, *restrict f = wg + u * %lld;\n", ind, T, q->HW,
              q->US);
    sb_printf(c, "%s    for (long j = ph[p][5]; j < ph[p + 1][5]; j++) {\n", ind);
    sb_printf(c, "%s        const %s *restrict sj = s + toff[j], *restrict fj = f + tkk[j];\n", ind, T);
    vec_loads(cx, arena_printf(cx->g->a, "%s        ", ind), "b", q->NV, "sj", q->VL);
    for (long long i = 0; i < nb; i++)
        fma_row(cx, q->is, arena_printf(cx->g->a, "%s        ", ind), "p", i,
                arena_printf(cx->g->a, "fj[%lld]", i * q->RS), 1, "b", q->NV);
    sb_printf(c, "%s    }\n", ind);
    for (long long i = 0; i < nb; i++) {
        sb_printf(c, "%s   ", ind);
        for (long long v = 0; v < q->NV; v++) sb_printf(c, " a%lld_%lld += p%lld_%lld;", i, v, i, v);
        sb_puts(c, "\n");
    }
    sb_printf(c, "%s}\n", ind);
    for (long long i = 0; i < nb; i++)
        for (long long v = 0; v < q->NV; v++)
            sb_printf(c, "%s__builtin_memcpy(yb + %lld + t, &a%lld_%lld, sizeof a%lld_%lld);\n", ind,
                      i * q->NPTM + v * q->VL, i, v, i, v);
}

/* The source of image n, group g, into the planes: dy zero-padded
 * (grad_x), or x split into its phase planes (fwd). */
static void ph_source(cg_ctx *cx, const phplan *q) {
    strbuf *c = cx->c;
    const convdims *d = &q->d;
    if (!q->fwd) {
        sb_puts(c, "            for (long u = 0; u < un; u++)\n");
        sb_printf(c, "                for (long h = 0; h < %lld; h++)\n", d->OH);
        sb_printf(c, "                    for (long w = 0; w < %lld; w++)\n", d->OW);
        sb_printf(c, "                        xp[u * %lld + (h + %lld) * %lld + w + %lld] = x0[((n * %lld + g * %lld + "
                     "u0 + u) * %lld + h) * %lld + w];\n", q->HW, q->h.T, q->Wp, q->w.T, d->O, d->OG, d->OH, d->OW);
        return;
    }
    sb_puts(c, "            for (long u = 0; u < un; u++)\n");
    sb_printf(c, "                for (long rh = 0; rh < %lld; rh++)\n", d->S);
    sb_printf(c, "                    for (long a = 0; a < %lld; a++) {\n", q->h.L);
    sb_printf(c, "                        const long ih = a * %lld + rh - %lld;\n", d->S, d->P);
    sb_printf(c, "                        if (ih < 0 || ih >= %lld) continue;\n", d->H);
    sb_printf(c, "                        for (long rw = 0; rw < %lld; rw++)\n", d->S);
    sb_printf(c, "                            for (long b = 0; b < %lld; b++) {\n", q->Wp);
    sb_printf(c, "                                const long iw = b * %lld + rw - %lld;\n", d->S, d->P);
    sb_printf(c, "                                if (iw >= 0 && iw < %lld)\n", d->W);
    sb_printf(c, "                                    xp[u * %lld + ((rh * %lld + rw) * %lld + a) * %lld + b] = "
                 "x0[((n * %lld + g * %lld + u0 + u) * %lld + ih) * %lld + iw];\n",
              q->HW, d->S, q->h.L, q->Wp, d->C, d->CG, d->H, d->W);
    sb_puts(c, "                            }\n                    }\n");
}

static void emit_phase(cg_ctx *cx, const phplan *q) {
    strbuf *c = cx->c;
    const char *T = cx->T;
    const convdims *d = &q->d;
    long long G = d->C / d->CG, KK = d->KH * d->KW;
    long long RT = q->fwd ? d->O : d->C, OH = q->fwd ? d->OH : d->H, OW = q->fwd ? d->OW : d->W;
    long long OS = q->fwd ? 1 : d->S;
    int par = conv_par(d->N, d->N * d->O * d->OH * d->OW * d->CG * KK);
    vec_typedef(cx, q->is);
    ph_tables(cx, q);
    par_open(cx, par);
    sb_printf(c, "    %s xp[%lld], yb[%lld];\n", T, q->XPN, q->CB * q->NPTM);
    sb_printf(c, "    for (long i = 0; i < %lld; i++) xp[i] = 0;\n", q->XPN);
    par_for(cx, par, "    ", 1, 0);
    sb_printf(c, "    for (long n = 0; n < %lld; n++)\n        for (long g = 0; g < %lld; g++)\n", d->N, G);
    /* the summed channels [u0, u0 + un): one pass, or NUC adding up */
    if (q->NUC > 1)
        sb_printf(c, "        for (long u0 = 0; u0 < %lld; u0 += %lld) {\n"
                     "            const long un = %lld - u0 < %lld ? %lld - u0 : %lld;\n",
                  q->U, q->UC, q->U, q->UC, q->U, q->UC);
    else
        sb_printf(c, "        {\n            const long u0 = 0, un = %lld;\n", q->U);
    ph_source(cx, q);
    sb_printf(c, "            for (long cb = 0; cb < %lld; cb++)\n", q->NCB);
    sb_puts(c, "                for (long p = 0; p < NPH; p++) {\n");
    sb_printf(c, "                    const %s *restrict wg = x1 + g * %lld + cb * %lld + u0 * %lld;\n", T,
              d->OG * d->CG * KK, q->CB * q->RS, q->US);
    sb_printf(c, "                    for (long t = 0; t < ph[p][4]; t += %lld) {\n", q->PT);
    if (q->CBT == q->CB) {
        ph_block(cx, q, q->CB, "                        ");
    } else {
        sb_printf(c, "                        if (cb < %lld) {\n", q->NCB - 1);
        ph_block(cx, q, q->CB, "                            ");
        sb_puts(c, "                        } else {\n");
        ph_block(cx, q, q->CBT, "                            ");
        sb_puts(c, "                        }\n");
    }
    sb_puts(c, "                    }\n");
    sb_printf(c, "                    const long c0 = g * %lld + cb * %lld, nc = cb < %lld ? %lld : %lld;\n", q->R,
              q->CB, q->NCB - 1, q->CB, q->CBT);
    sb_puts(c, "                    for (long i = 0; i < nc; i++)\n");
    sb_puts(c, "                        for (long a = 0; a < ph[p][2]; a++)\n");
    sb_puts(c, "                            for (long b = 0; b < ph[p][3]; b++) {\n");
    sb_printf(c, "                                %s *yo = y + ((n * %lld + c0 + i) * %lld + ph[p][0] + a * %lld)"
                 " * %lld + ph[p][1] + b * %lld;\n", T, RT, OH, OS, OW, OS);
    sb_printf(c, "                                *yo = %syb[i * %lld + a * %lld + b];\n",
              q->NUC > 1 ? "(u0 ? *yo : 0) + " : "", q->NPTM, q->Wp);
    sb_puts(c, "                            }\n");
    sb_puts(c, "                }\n        }\n    }\n");
}

/* The branch of ISA k: its path's comment and code (use: 1 the grid, 2
 * channel lanes, 3 phases). */
static void conv_branch(cg_ctx *cx, int use, const gridconv *g, const convdims *d, const clplan *q,
                        const phplan *ph) {
    if (use == 3) {
        if (ph->fwd)
            sb_printf(cx->c, "    /* %s: x in %lld phase planes of %lldx%lld, %lld x %lld register block, %.0f%% "
                             "useful, %lld of %lld channels per pass */\n", ph->is->name, ph->d.S * ph->d.S, ph->h.L,
                      ph->Wp, ph->CB, ph->PT, 100 * ph_useful(ph), ph->UC, ph->U);
        else
            sb_printf(cx->c, "    /* %s: %lld phases of a %lldx%lld grid, %lld x %lld register block, %.0f%% useful,"
                             " %lld of dy's %lld channels per pass */\n", ph->is->name, ph->d.S * ph->d.S, ph->h.L,
                      ph->Wp, ph->CB, ph->PT, 100 * ph_useful(ph), ph->UC, ph->U);
        emit_phase(cx, ph);
        return;
    }
    if (use == 1) {
        sb_printf(cx->c, "    /* %s: implicit GEMM on a %lldx%lld grid, %lld x %lld register block, %.0f%% useful */\n",
                  g->is->name, g->Hp, g->Wp, g->OB, g->PT, 100 * grid_useful(g));
        emit_grid(cx, g);
        return;
    }
    sb_printf(cx->c, "    /* %s: output channels in the lanes: %lld of %lld used, %lld pixels x %lld vectors per"
                     " block */\n", q->is->name, d->OG, q->OGP, q->PB, q->OVB);
    emit_cl(cx, d, q);
}

/* The kernel: a branch for each ISA whose plan takes a vectorized path
 * (g0 with the grid plan of that ISA where grid_applies, the channel
 * lanes of dcl where it is not NULL: the faster of the two; else the
 * phases, of grad_x (phases 1) or conv2d (2), where phases is not 0), the
 * direct loops for the others and for compilers without GNU C vectors. */
static void emit_conv_kernel(cg_ctx *cx, const ir_node *n, const gridconv *g0, int grid_applies, const convdims *dcl,
                             int phases, convdims d, void (*direct)(cg_ctx *, convdims)) {
    gridconv g[NVISA];
    clplan q[NVISA];
    phplan ph[NVISA];
    int use[NVISA], any = 0; /* per ISA: 1 the grid, 2 channel lanes, 3 phases, 0 the direct loops */
    size_t esize = cx->o->f64 ? sizeof(double) : sizeof(float);
    for (int k = 0; k < NVISA; k++) {
        g[k] = *g0, g[k].is = &visas[k];
        q[k] = (clplan){.is = &visas[k]};
        int gr = grid_applies && grid_choose(&g[k], cx);
        int cl = dcl && cl_plan(dcl, esize, &q[k]);
        use[k] = gr && (!cl || grid_cost(&g[k]) <= cl_cost(dcl, &q[k])) ? 1 : cl ? 2 : 0;
        ph[k] = (phplan){.d = d, .fwd = phases == 2, .is = &visas[k]};
        if (!use[k] && phases && ph_plan(&ph[k], esize)) use[k] = 3;
    }
    visa_include(cx, use);
    cgk_head(cx, n);
    for (int k = 0; k < NVISA; k++) {
        if (!use[k]) continue;
        visa_branch(cx, &visas[k], !any);
        conv_branch(cx, use[k], &g[k], dcl, &q[k], &ph[k]);
        any = 1;
    }
    if (any) sb_puts(cx->c, "#else\n");
    direct(cx, d);
    if (any) sb_puts(cx->c, "#endif\n");
    cgk_tail(cx);
}

/* y[n, o] = sum over the group's channels c and (kh, kw) of w[o, c] * x[n, c] shifted. */
void emit_CONV2D(cg_ctx *cx, const ir_node *n) {
    const ir_node *x = cg_in(cx, n, 0), *w = cg_in(cx, n, 1);
    convdims d = conv_dims(n, &x->shape, &w->shape, &n->shape);
    gridconv g = {.N = d.N, .G = d.C / d.CG, .CS = d.CG, .HS = d.H, .WS = d.W, .P = d.P, .D = d.D, .KH = d.KH,
                  .KW = d.KW, .CD = d.OG, .OH = d.OH, .OW = d.OW};
    emit_conv_kernel(cx, n, &g, d.S == 1, &d, 2, d, conv_direct);
}

/* dx = conv2d_grad_x(dy, w); x0 = dy, x1 = w. The grid needs dx's size to
 * be the symmetric one, H = OH + 2 ((kh - 1) d - p) - (kh - 1) d (also W):
 * always so for conv2d_grad_x, not for conv_transpose2d's output_padding. */
static void gradx_emit(cg_ctx *cx, const ir_node *n) {
    const ir_node *dy = cg_in(cx, n, 0), *w = cg_in(cx, n, 1);
    convdims d = conv_dims(n, &n->shape, &w->shape, &dy->shape);
    gridconv g = {.N = d.N, .G = d.C / d.CG, .CS = d.OG, .HS = d.OH, .WS = d.OW, .P = (d.KH - 1) * d.D - d.P, .D = d.D,
                  .KH = d.KH, .KW = d.KW, .CD = d.CG, .OH = d.H, .OW = d.W, .flip = 1};
    /* the flipped kernel needs the same padding across as down */
    int applies = d.S == 1 && (d.KH - 1) * d.D - d.P == (d.KW - 1) * d.D - d.P &&
                  d.H == d.OH + (d.KH - 1) * d.D - 2 * d.P && d.W == d.OW + (d.KW - 1) * d.D - 2 * d.P;
    emit_conv_kernel(cx, n, &g, applies, NULL, 1, d, gradx_direct);
}

void emit_CONV2D_GRAD_X(cg_ctx *cx, const ir_node *n) { gradx_emit(cx, n); }

/* Partial sums of conv2d_grad_w: at most this many elements on the stack. */
enum { ACC_MAX = 4096 };

/* dw[o, c, kh, kw] = sum over n, oh, ow of dy[n, o, oh, ow] x[n, c, ih, iw].
 * Kernel rows are done KB at a time with partial sums acc[kh][kw][ow].
 * x0 = dy, x1 = x. */
static void gradw_direct(cg_ctx *cx, convdims d) {
    const char *T = cx->T;
    strbuf *c = cx->c;
    long long row = d.KW * d.OW, KB = ACC_MAX / row;
    KB = KB < 1 ? 1 : KB > d.KH ? d.KH : KB;
    taprow r = {"ar", "xr", "dyr[j]", 0, d.OW, 1, 0, 0, d.OW, d.OW, d.S, -d.P, d.D, d.W};
    sb_printf(c, "    %s acc[%lld];\n", T, KB * row);
    sb_printf(c, "    for (long o = 0; o < %lld; o++)\n        for (long cl = 0; cl < %lld; cl++)\n", d.O, d.CG);
    sb_printf(c, "            for (long k0 = 0; k0 < %lld; k0 += %lld) {\n", d.KH, KB);
    sb_printf(c, "                const long c = o / %lld * %lld + cl, k1 = k0 + %lld < %lld ? k0 + %lld : %lld;\n",
              d.OG, d.CG, KB, d.KH, KB, d.KH);
    sb_printf(c, "                for (long i = 0; i < %lld; i++) acc[i] = 0;\n", KB * row);
    sb_printf(c, "                for (long n = 0; n < %lld; n++)\n", d.N);
    sb_printf(c, "                    for (long oh = 0; oh < %lld; oh++) {\n", d.OH);
    sb_printf(c, "                        const %s *restrict dyr = x0 + ((n * %lld + o) * %lld + oh) * %lld;\n", T, d.O,
              d.OH, d.OW);
    sb_puts(c, "                        for (long kh = k0; kh < k1; kh++) {\n");
    sb_printf(c, "                            const long ih = oh * %lld + kh * %lld - %lld;\n", d.S, d.D, d.P);
    sb_printf(c, "                            if (ih < 0 || ih >= %lld) continue;\n", d.H);
    sb_printf(c, "                            const %s *restrict xr = x1 + ((n * %lld + c) * %lld + ih) * %lld;\n", T,
              d.C, d.H, d.W);
    sb_printf(c, "                            %s *restrict ar = acc + (kh - k0) * %lld;\n", T, row);
    emit_taprow(cx, "                            ", &r, d.KW, 0, "(void)dyr, (void)xr, (void)ar;");
    sb_puts(c, "                        }\n                    }\n");
    sb_puts(c, "                for (long kh = k0; kh < k1; kh++)\n");
    sb_printf(c, "                    for (long kw = 0; kw < %lld; kw++) {\n", d.KW);
    sb_printf(c, "                        const %s *restrict ar = acc + ((kh - k0) * %lld + kw) * %lld;\n", T, d.KW,
              d.OW);
    sb_printf(c, "                        %s s = 0;\n", T);
    sb_printf(c, "                        for (long j = 0; j < %lld; j++) s += ar[j];\n", d.OW);
    sb_printf(c, "                        y[((o * %lld + cl) * %lld + kh) * %lld + kw] = s;\n", d.CG, d.KH, d.KW);
    sb_puts(c, "                    }\n            }\n");
}

/* ---- conv2d_grad_w with output channels in the vector lanes -------------
 *
 *   dwT[k = (c, kh, kw)][o] = sum over n, oh, ow of x[n, c, ih, iw] dyT[oh, ow][o]
 *
 * dy is transposed, a band of output rows at a time, to dyT[pixel][o] with
 * the group's OG channels padded to OGP, a multiple of the vector length;
 * x is copied into a zero-padded plane. Then for each (c, block of kernel
 * rows, block of OVB vectors of channels) the KHB x KW taps times OVB
 * vectors are accumulators in registers (gw_block picks the block): per
 * pixel OVB vector loads of dyT and OVB KHB KW multiply-adds by broadcast
 * elements of x (any stride and dilation: x is only read as scalars). No
 * horizontal sums; the accumulators are added into dwT once per band. Lanes
 * past OG are wasted: GW_MIN_LANES of them must be used (measured on AVX2,
 * LeNet's first conv2d_grad_w, 6 of 8 lanes: 446 us, against 322 with the
 * pixel lanes). */
#ifndef GW_MIN_LANES
#define GW_MIN_LANES 0.8
#endif

typedef struct gwplan {
    long long VL, OGP, OV, OVB, KHB, R, XPN, Hp, Wp, CC;
    const visa *is;
} gwplan;

/* The block of OVB vectors of channels times KHB kernel rows with the least
 * block_cost: per pixel, OVB KHB KW multiply-adds; OVB vector loads, KHB KW
 * broadcasts of x and the pixel's offset. */
static void gw_block(const convdims *d, gwplan *q) {
    double best = 0;
    for (long long ovb = 1; ovb <= q->OV; ovb++)
        for (long long khb = 1; khb <= d->KH && ovb * khb * d->KW <= q->is->gw_acc; khb++) {
            double t = block_cost(ovb * khb * d->KW, ovb + khb * d->KW + 1, 1);
            if (q->OV % ovb == 0 && (!best || t < best)) best = t, q->OVB = ovb, q->KHB = khb;
        }
}

/* The plan: the most channels of x per chunk (CC; all CG when dw's table
 * fits on the stack, else dw is made CC channels at a time, each chunk a
 * pass over the batch) whose band of dy is at least GW_MIN_BAND pixels (or
 * all of them), with the fewest bands; 0 when none fits. */
enum { GW_MIN_BAND = 16 };

static int gw_plan(const convdims *d, size_t esize, gwplan *q) {
    q->VL = q->is->vbytes / (long long)esize;
    q->OGP = (d->OG + q->VL - 1) / q->VL * q->VL, q->OV = q->OGP / q->VL;
    if ((double)d->OG / (double)q->OGP < GW_MIN_LANES || d->KW > q->is->gw_acc) return 0;
    gw_block(d, q);
    q->Hp = d->H + 2 * d->P, q->Wp = d->W + 2 * d->P;
    long long G = d->C / d->CG, minband = d->OH * d->OW < GW_MIN_BAND ? d->OH * d->OW : GW_MIN_BAND;
    for (q->CC = d->CG; q->CC >= 1; q->CC--) {
        q->XPN = G * q->CC * q->Hp * q->Wp;
        long long fixed = q->XPN + G * q->CC * d->KH * d->KW * q->OGP;
        for (long long bands = 1;; bands++) {
            q->R = (d->OH + bands - 1) / bands;
            if ((fixed + q->R * d->OW * q->OGP) * (long long)esize <= GRID_STACK_MAX) {
                if (q->R * d->OW >= minband) return 1;
                break;
            }
            if (q->R == 1) break;
        }
    }
    return 0;
}

/* A block of kb kernel rows: its accumulators a<t>_<v> (tap t, vector v)
 * loaded from ab, the band's products added, stored back. The pixels'
 * offsets come from the table po, so that the compiler does not carry the
 * taps' loads from one pixel to the next in registers (see ko in emit_cl). */
static void gw_rows(cg_ctx *cx, const convdims *d, const gwplan *q, long long kb) {
    strbuf *c = cx->c;
    const char *i32 = "                                ", *i36 = "                                    ";
    long long nt = kb * d->KW;
    sb_printf(c, "%svec", i32);
    for (long long t = 0; t < nt; t++)
        for (long long v = 0; v < q->OVB; v++) sb_printf(c, "%s a%lld_%lld", t + v ? "," : "", t, v);
    sb_puts(c, ";\n");
    for (long long t = 0; t < nt; t++)
        for (long long v = 0; v < q->OVB; v++)
            sb_printf(c, "%s__builtin_memcpy(&a%lld_%lld, ab + %lld, sizeof a%lld_%lld);\n", i32, t, v,
                      t * q->OGP + v * q->VL, t, v);
    sb_printf(c, "%sfor (long i = 0; i < (r1 - r0) * %lld; i++) {\n", i32, d->OW);
    sb_printf(c, "%sconst %s *restrict s = xc + po[i], *restrict de = dt + i * %lld + v0 * %lld;\n", i36, cx->T,
              q->OGP, q->VL);
    vec_loads(cx, i36, "e", q->OVB, "de", q->VL);
    for (long long t = 0; t < nt; t++)
        fma_row(cx, q->is, i36, "a", t,
                arena_printf(cx->g->a, "s[%lld]", t / d->KW * d->D * q->Wp + t % d->KW * d->D), 1, "e", q->OVB);
    sb_printf(c, "%s}\n", i32);
    for (long long t = 0; t < nt; t++)
        for (long long v = 0; v < q->OVB; v++)
            sb_printf(c, "%s__builtin_memcpy(ab + %lld, &a%lld_%lld, sizeof a%lld_%lld);\n", i32,
                      t * q->OGP + v * q->VL, t, v, t, v);
}

/* x's channels [c0, c0 + cn) of each group of image n into the padded planes. */
static void gw_copy_x(cg_ctx *cx, const convdims *d, const gwplan *q) {
    sb_printf(cx->c, "        for (long gc = 0; gc < %lld * cn; gc++)\n            for (long h = 0; h < %lld; h++)\n",
              d->C / d->CG, d->H);
    sb_printf(cx->c, "                for (long w = 0; w < %lld; w++)\n", d->W);
    sb_printf(cx->c,
              "                    xp[(gc * %lld + h + %lld) * %lld + w + %lld] = "
              "x1[((n * %lld + gc / cn * %lld + c0 + gc %% cn) * %lld + h) * %lld + w];\n",
              q->Hp, d->P, q->Wp, d->P, d->C, d->CG, d->H, d->W);
}

/* nnc_tr_tile(s, ls, d, ld): d[c * ld + r] = s[r * ls + c] for r, c < 8
 * floats (4 doubles), in AVX registers: emit_gw's transposing copy of dy,
 * which runs once per chunk of x's channels, a tile at a time. One element
 * at a time (a store each) it took about a third of conv2d_grad_w's time
 * where there are many chunks (128 -> 128 channels, 3x3 at 7x7, batch 64:
 * 19 chunks; the layer's training step, best of 3 on an idle AVX-512 core,
 * 21.9 -> 19.2 ms with the tiles, 18.4 without any copy; the DCGAN example's
 * step about 6% faster). Written before the first conv2d_grad_w kernel, for
 * the AVX branches; unused where its plan takes another path. */
void cgk_emit_tr_tile(cg_ctx *cx) {
    strbuf *c = cx->c;
    sb_puts(c, "\n#if defined(__GNUC__) && !defined(NNC_NO_VECTOR_EXT) && defined(__AVX__)\n#include <immintrin.h>\n");
    sb_puts(c, "/* d[c * ld + r] = s[r * ls + c] for r, c < NNC_TT: a tile of conv2d_grad_w's dy transposed */\n");
    if (cx->o->f64) {
        sb_puts(c, "enum { NNC_TT = 4 };\n__attribute__((unused)) static inline void nnc_tr_tile(const double *s, "
                   "long ls, double *d, long ld) {\n");
        sb_puts(c, "    __m256d r0 = _mm256_loadu_pd(s), r1 = _mm256_loadu_pd(s + ls);\n"
                   "    __m256d r2 = _mm256_loadu_pd(s + 2 * ls), r3 = _mm256_loadu_pd(s + 3 * ls);\n");
        sb_puts(c, "    __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);\n");
        sb_puts(c, "    __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);\n");
        sb_puts(c, "    _mm256_storeu_pd(d, _mm256_permute2f128_pd(t0, t2, 0x20));\n");
        sb_puts(c, "    _mm256_storeu_pd(d + ld, _mm256_permute2f128_pd(t1, t3, 0x20));\n");
        sb_puts(c, "    _mm256_storeu_pd(d + 2 * ld, _mm256_permute2f128_pd(t0, t2, 0x31));\n");
        sb_puts(c, "    _mm256_storeu_pd(d + 3 * ld, _mm256_permute2f128_pd(t1, t3, 0x31));\n}\n#endif\n");
        return;
    }
    /* straight-line code: gcc -O2 does not unroll loops over the registers */
    sb_puts(c, "enum { NNC_TT = 8 };\n__attribute__((unused)) static inline void nnc_tr_tile(const float *s, long ls, "
               "float *d, long ld) {\n");
    for (int k = 0; k < 8; k++) sb_printf(c, "    const __m256 r%d = _mm256_loadu_ps(s + %d * ls);\n", k, k);
    for (int k = 0; k < 8; k += 2)
        sb_printf(c, "    const __m256 t%d = _mm256_unpacklo_ps(r%d, r%d), t%d = _mm256_unpackhi_ps(r%d, r%d);\n", k, k,
                  k + 1, k + 1, k, k + 1);
    /* u(k + j) from t(k + j / 2) and t(k + j / 2 + 2): the low (0x44) or high (0xEE) pairs */
    for (int k = 0; k < 8; k += 4)
        for (int j = 0; j < 4; j++)
            sb_printf(c, "    const __m256 u%d = _mm256_shuffle_ps(t%d, t%d, 0x%s);\n", k + j, k + j / 2, k + j / 2 + 2,
                      j % 2 ? "EE" : "44");
    for (int k = 0; k < 8; k++)
        sb_printf(c, "    _mm256_storeu_ps(d + %d * ld, _mm256_permute2f128_ps(u%d, u%d, 0x%d));\n", k, k % 4,
                  k % 4 + 4, k < 4 ? 20 : 31);
    sb_puts(c, "}\n#endif\n");
}

/* The band of dy transposed into dt[pixel][o]: on AVX (is->fma) in tiles
 * of NNC_TT x NNC_TT (the edges one element at a time), else element by
 * element. */
static void gw_transpose(cg_ctx *cx, const convdims *d, const gwplan *q) {
    strbuf *c = cx->c;
    const char *in = "                "; /* the band loop's body */
    long long HWo = d->OH * d->OW;
    if (!q->is->fma) {
        sb_printf(c, "%sfor (long o = 0; o < %lld; o++)\n", in, d->OG);
        sb_printf(c, "%s    for (long i = 0; i < (r1 - r0) * %lld; i++)\n", in, d->OW);
        sb_printf(c, "%s        dt[i * %lld + o] = x0[((n * %lld + g * %lld + o) * %lld + r0) * %lld + i];\n", in,
                  q->OGP, d->O, d->OG, d->OH, d->OW);
        return;
    }
    sb_printf(c, "%s{\n%sconst long np = (r1 - r0) * %lld;\n", in, in, d->OW);
    sb_printf(c, "%sconst %s *restrict src = x0 + ((n * %lld + g * %lld) * %lld + r0) * %lld;\n", in, cx->T, d->O,
              d->OG, d->OH, d->OW);
    sb_printf(c, "%sconst long nt = np / NNC_TT * NNC_TT; /* pixels in whole tiles */\n%slong o = 0;\n", in, in);
    sb_printf(c, "%sfor (; o + NNC_TT <= %lld; o += NNC_TT) {\n", in, d->OG);
    sb_printf(c, "%s    for (long i = 0; i < nt; i += NNC_TT)\n", in);
    sb_printf(c, "%s        nnc_tr_tile(src + o * %lld + i, %lld, dt + i * %lld + o, %lld);\n", in, HWo, HWo, q->OGP,
              q->OGP);
    sb_printf(c, "%s    for (long i = nt; i < np; i++)\n", in);
    sb_printf(c, "%s        for (long t = 0; t < NNC_TT; t++) dt[i * %lld + o + t] = src[(o + t) * %lld + i];\n%s}\n",
              in, q->OGP, HWo, in);
    sb_printf(c, "%sfor (; o < %lld; o++)\n%s    for (long i = 0; i < np; i++) dt[i * %lld + o] = src[o * %lld + i];\n",
              in, d->OG, in, q->OGP, HWo);
    sb_printf(c, "%s}\n", in);
}

static void emit_gw(cg_ctx *cx, const convdims *d, const gwplan *q) {
    strbuf *c = cx->c;
    const char *T = cx->T;
    long long G = d->C / d->CG, KK = d->KH * d->KW, K = d->CG * KK, CK = q->CC * KK, HW = q->Hp * q->Wp;
    long long BP = q->R * d->OW;
    int par = conv_par(d->N, d->N * d->O * d->OH * d->OW * K), chunks = q->CC < d->CG;
    vec_typedef(cx, q->is);
    sb_printf(c, "    %s acc[%lld];\n", T, G * CK * q->OGP);
    sb_printf(c, "    long po[%lld];\n", BP);
    sb_printf(c, "    for (long i = 0; i < %lld; i++) po[i] = i / %lld * %lld + i %% %lld * %lld;\n", BP, d->OW,
              d->S * q->Wp, d->OW, d->S);
    /* the chunk of x's channels [c0, c0 + cn) of each group */
    if (chunks)
        sb_printf(c, "    for (long c0 = 0; c0 < %lld; c0 += %lld) {\n", d->CG, q->CC),
            sb_printf(c, "    const long cn = %lld - c0 < %lld ? %lld - c0 : %lld;\n", d->CG, q->CC, d->CG, q->CC);
    else
        sb_printf(c, "    {\n    const long c0 = 0, cn = %lld;\n", d->CG);
    sb_printf(c, "    for (long i = 0; i < %lld; i++) acc[i] = 0;\n", G * CK * q->OGP);
    par_open(cx, par);
    sb_printf(c, "    %s xp[%lld], dt[%lld];\n", T, q->XPN, BP * q->OGP);
    sb_printf(c, "    for (long i = 0; i < %lld; i++) xp[i] = 0;\n", q->XPN);
    sb_printf(c, "    for (long i = 0; i < %lld; i++) dt[i] = 0;\n", BP * q->OGP);
    sb_printf(c, "    for (long n = 0; n < %lld; n++) {\n", d->N);
    gw_copy_x(cx, d, q);
    sb_printf(c, "        for (long g = 0; g < %lld; g++)\n", G);
    sb_printf(c, "            for (long r0 = 0; r0 < %lld; r0 += %lld) {\n", d->OH, q->R);
    sb_printf(c, "                const long r1 = r0 + %lld < %lld ? r0 + %lld : %lld;\n", q->R, d->OH, q->R, d->OH);
    gw_transpose(cx, d, q); /* the band of dy */
    par_for(cx, par, "                ", 3, 1);
    sb_printf(c, "                for (long v0 = 0; v0 < %lld; v0 += %lld)\n", q->OV, q->OVB);
    sb_puts(c, "                    for (long c = 0; c < cn; c++)\n");
    sb_printf(c, "                        for (long k0 = 0; k0 < %lld; k0 += %lld) {\n", d->KH, q->KHB);
    sb_printf(c,
              "                            %s *restrict ab = acc + ((g * cn + c) * %lld + k0 * %lld) * %lld + v0 * "
              "%lld;\n",
              T, KK, d->KW, q->OGP, q->VL);
    sb_printf(c,
              "                            const %s *restrict xc = xp + (g * cn + c) * %lld + k0 * %lld + r0 * "
              "%lld;\n",
              T, HW, d->D * q->Wp, d->S * q->Wp);
    /* a block of KHB rows, or fewer at the end: one code path per height */
    long long heights[2] = {q->KHB, d->KH % q->KHB};
    for (int hi = 0; hi < 2; hi++) {
        long long kb = heights[hi];
        if (!kb || (hi == 1 && kb == q->KHB)) continue;
        if (hi == 0 && d->KH % q->KHB)
            sb_printf(c, "                            if (k0 + %lld <= %lld) {\n", kb, d->KH);
        else if (hi == 1) sb_puts(c, "                            else {\n");
        else sb_puts(c, "                            {\n");
        gw_rows(cx, d, q, kb);
        sb_puts(c, "                            }\n");
    }
    sb_puts(c, "                        }\n            }\n    }\n    }\n");
    sb_printf(c, "    for (long g = 0; g < %lld; g++)\n        for (long o = 0; o < %lld; o++)\n", G, d->OG);
    sb_printf(c,
              "            for (long k = 0; k < cn * %lld; k++)\n"
              "                y[(g * %lld + o) * %lld + c0 * %lld + k] = acc[(g * cn * %lld + k) * %lld + o];\n",
              KK, d->OG, K, KK, KK, q->OGP);
    sb_puts(c, "    }\n");
}

/* ---- conv2d_grad_w with pixels in the vector lanes ----------------------
 *
 *   dw[o, (c, kh, kw)] = sum over n and grid pixels i of dg[o][i] xp[c][i + kh d Wp + kw d]
 *
 * For stride 1 and few output channels (where the channel lanes above would
 * be mostly empty): x is copied into a zero-padded plane as for the implicit
 * GEMM, and dy, a band of R output rows at a time, onto the same grid (dg,
 * zero in the columns past OW), so that every product is between two
 * contiguous vectors. OBW output channels times the KW taps of one kernel
 * row are accumulators in registers over the band; they are added into
 * vector partial sums (av), reduced across the lanes once at the end. */
typedef struct gwaplan {
    long long VL, Hp, Wp, OBW, R, NPT, XPN, K;
    const visa *is;
} gwaplan;

static int gwa_plan(const convdims *d, size_t esize, gwaplan *q) {
    if (d->S != 1) return 0;
    q->VL = q->is->vbytes / (long long)esize;
    q->Hp = d->H + 2 * d->P, q->Wp = grid_width(d->W, d->P, d->OW), q->K = d->CG * d->KH * d->KW;
    q->OBW = q->is->gwa_taps / d->KW; /* OBW x KW accumulators, OBW + KW loads */
    if (q->OBW < 1) return 0;
    while (d->OG % q->OBW) q->OBW--;
    long long av = d->O * q->K * q->VL;
    for (long long bands = 1;; bands++) {
        q->R = (d->OH + bands - 1) / bands;
        q->NPT = (q->R * q->Wp + q->VL - 1) / q->VL * q->VL;
        q->XPN = ((d->C - 1) * q->Hp + (d->OH - 1) / q->R * q->R + (d->KH - 1) * d->D) * q->Wp + (d->KW - 1) * d->D +
                 q->NPT;
        long long bytes = (q->XPN + d->O * q->NPT + av) * (long long)esize;
        if (bytes <= GRID_STACK_MAX) break;
        if (q->R == 1) return 0;
    }
    double useful = (double)(d->OH * d->OW) / (double)(q->NPT * ((d->OH + q->R - 1) / q->R));
    return useful >= GRID_MIN_USEFUL;
}

/* The kernel row's accumulators a<o>_<kw> (output channel o, kernel column
 * kw) over the tile, added into ab. */
static void gwa_lanes(cg_ctx *cx, const convdims *d, const gwaplan *q) {
    strbuf *c = cx->c;
    sb_puts(c, "                            vec");
    for (long long o = 0; o < q->OBW; o++)
        for (long long kw = 0; kw < d->KW; kw++) sb_printf(c, "%s a%lld_%lld = {0}", o + kw ? "," : "", o, kw);
    sb_puts(c, ";\n");
    sb_printf(c, "                            for (long i = 0; i < %lld; i += %lld) {\n", q->NPT, q->VL);
    sb_puts(c, "                                vec");
    for (long long o = 0; o < q->OBW; o++) sb_printf(c, "%s e%lld", o ? "," : "", o);
    for (long long kw = 0; kw < d->KW; kw++) sb_printf(c, ", s%lld", kw);
    sb_puts(c, ";\n");
    for (long long o = 0; o < q->OBW; o++)
        sb_printf(c, "                                __builtin_memcpy(&e%lld, ds + %lld + i, sizeof e%lld);\n", o,
                  o * q->NPT, o);
    for (long long kw = 0; kw < d->KW; kw++)
        sb_printf(c, "                                __builtin_memcpy(&s%lld, xs + %lld + i, sizeof s%lld);\n", kw,
                  kw * d->D, kw);
    for (long long o = 0; o < q->OBW; o++)
        fma_row(cx, q->is, "                                ", "a", o, arena_printf(cx->g->a, "e%lld", o), 0, "s",
                d->KW);
    sb_puts(c, "                            }\n");
    for (long long o = 0; o < q->OBW; o++)
        for (long long kw = 0; kw < d->KW; kw++) {
            long long at = (o * q->K + kw) * q->VL;
            sb_printf(c,
                      "                            { vec t; __builtin_memcpy(&t, ab + %lld, sizeof t); "
                      "t += a%lld_%lld; __builtin_memcpy(ab + %lld, &t, sizeof t); }\n",
                      at, o, kw, at);
        }
}

static void emit_gwa(cg_ctx *cx, const convdims *d, const gwaplan *q) {
    strbuf *c = cx->c;
    const char *T = cx->T;
    long long G = d->C / d->CG, KK = d->KH * d->KW, HW = q->Hp * q->Wp, AV = d->O * q->K * q->VL;
    int par = conv_par(d->N, d->N * d->O * d->OH * d->OW * q->K);
    vec_typedef(cx, q->is);
    sb_printf(c, "    %s av[%lld];\n", T, AV);
    sb_printf(c, "    for (long i = 0; i < %lld; i++) av[i] = 0;\n", AV);
    par_open(cx, par);
    sb_printf(c, "    %s xp[%lld], dg[%lld];\n", T, q->XPN, d->O * q->NPT);
    sb_printf(c, "    for (long i = 0; i < %lld; i++) xp[i] = 0;\n", q->XPN);
    sb_printf(c, "    for (long i = 0; i < %lld; i++) dg[i] = 0;\n", d->O * q->NPT);
    sb_printf(c, "    for (long n = 0; n < %lld; n++) {\n", d->N);
    sb_printf(c, "        for (long c = 0; c < %lld; c++)\n            for (long h = 0; h < %lld; h++)\n", d->C, d->H);
    sb_printf(c, "                for (long w = 0; w < %lld; w++)\n", d->W);
    sb_printf(c,
              "                    xp[(c * %lld + h + %lld) * %lld + w + %lld] = x1[((n * %lld + c) * %lld + h) * %lld "
              "+ w];\n",
              q->Hp, d->P, q->Wp, d->P, d->C, d->H, d->W);
    sb_printf(c, "        for (long r0 = 0; r0 < %lld; r0 += %lld) {\n", d->OH, q->R);
    sb_printf(c, "            const long r1 = r0 + %lld < %lld ? r0 + %lld : %lld;\n", q->R, d->OH, q->R, d->OH);
    sb_printf(c, "            for (long o = 0; o < %lld; o++)\n", d->O);
    sb_printf(c, "                for (long oh = r0; oh < r0 + %lld; oh++)\n", q->R);
    sb_printf(c, "                    for (long ow = 0; ow < %lld; ow++)\n", d->OW);
    sb_printf(c,
              "                        dg[o * %lld + (oh - r0) * %lld + ow] = oh < r1 ? x0[((n * %lld + o) * %lld + "
              "oh) * %lld + ow] : 0;\n",
              q->NPT, q->Wp, d->O, d->OH, d->OW);
    par_for(cx, par, "            ", 4, 1);
    sb_printf(c, "            for (long g = 0; g < %lld; g++)\n", G);
    sb_printf(c, "                for (long ob = 0; ob < %lld; ob += %lld)\n", d->OG, q->OBW);
    sb_printf(c, "                    for (long c = 0; c < %lld; c++)\n", d->CG);
    sb_printf(c, "                        for (long kh = 0; kh < %lld; kh++) {\n", d->KH);
    sb_printf(c,
              "                            const %s *restrict xs = xp + (g * %lld + c) * %lld + (r0 + kh * %lld) * "
              "%lld;\n",
              T, d->CG, HW, d->D, q->Wp);
    sb_printf(c, "                            const %s *restrict ds = dg + (g * %lld + ob) * %lld;\n", T, d->OG,
              q->NPT);
    sb_printf(c,
              "                            %s *restrict ab = av + ((g * %lld + ob) * %lld + (c * %lld + kh) * %lld) * "
              "%lld;\n",
              T, d->OG, q->K, d->KH, d->KW, q->VL);
    gwa_lanes(cx, d, q);
    sb_puts(c, "                        }\n        }\n    }\n    }\n");
    sb_printf(c, "    for (long j = 0; j < %lld; j++) {\n        %s s = 0;\n", d->O * q->K, T);
    sb_printf(c,
              "        for (long l = 0; l < %lld; l++) s += av[j * %lld + l];\n        y[j] = s;\n"
              "    }\n",
              q->VL, q->VL);
    (void)KK;
}

/* dw[o, c, kh, kw] = sum over n, oh, ow of dy[n, o, oh, ow] x[n, c, ih, iw].
 * x0 = dy, x1 = x. */
/* The branch of an ISA: its path's comment and code (use: 1 channel
 * lanes, 2 pixel lanes). */
static void gw_branch(cg_ctx *cx, int use, const convdims *d, const gwplan *q, const gwaplan *qa) {
    if (use == 1) {
        sb_printf(cx->c, "    /* %s: output channels in the lanes: %lld of %lld used, %lld kernel rows x %lld vectors"
                         " per block, %lld of x's %lld channels per pass */\n", q->is->name, d->OG, q->OGP, q->KHB,
                  q->OVB, q->CC, d->CG);
        emit_gw(cx, d, q);
        return;
    }
    sb_printf(cx->c, "    /* %s: pixels in the lanes: %lldx%lld grid, %lld output channels x %lld taps per block */\n",
              qa->is->name, qa->Hp, qa->Wp, qa->OBW, d->KW);
    emit_gwa(cx, d, qa);
}

void emit_CONV2D_GRAD_W(cg_ctx *cx, const ir_node *n) {
    const ir_node *dy = cg_in(cx, n, 0), *x = cg_in(cx, n, 1);
    convdims d = conv_dims(n, &x->shape, &n->shape, &dy->shape);
    size_t es = cx->o->f64 ? sizeof(double) : sizeof(float);
    gwplan q[NVISA];
    gwaplan qa[NVISA];
    int use[NVISA], any = 0; /* per ISA: 1 channel lanes, 2 pixel lanes, 0 the direct loops */
    for (int k = 0; k < NVISA; k++) {
        q[k].is = qa[k].is = &visas[k];
        use[k] = gw_plan(&d, es, &q[k]) ? 1 : gwa_plan(&d, es, &qa[k]) ? 2 : 0;
    }
    visa_include(cx, use);
    cgk_head(cx, n);
    for (int k = 0; k < NVISA; k++) {
        if (!use[k]) continue;
        visa_branch(cx, &visas[k], !any);
        gw_branch(cx, use[k], &d, &q[k], &qa[k]);
        any = 1;
    }
    if (any) sb_puts(cx->c, "#else\n");
    gradw_direct(cx, d);
    if (any) sb_puts(cx->c, "#endif\n");
    cgk_tail(cx);
}

/* ---- channel_bias ------------------------------------------------------- */

/* y[n, c, ...] = x[n, c, ...] + b[c] */
void emit_CHANNEL_BIAS(cg_ctx *cx, const ir_node *n) {
    long long N = n->shape.d[0], C = n->shape.d[1], I = cg_numel(n) / (N * C);
    strbuf *c = cx->c;
    cgk_head(cx, n);
    cgk_parallel_nest(cx, cg_numel(n), "    ", 2);
    sb_printf(c, "    for (long n = 0; n < %lld; n++)\n        for (long c = 0; c < %lld; c++) {\n", N, C);
    sb_printf(c, "            const %s b = x1[c];\n            const long at = (n * %lld + c) * %lld;\n", cx->T, C, I);
    sb_printf(c, "            for (long i = 0; i < %lld; i++) y[at + i] = x0[at + i] + b;\n        }\n", I);
    cgk_tail(cx);
}

/* ---- pooling ------------------------------------------------------------ */

typedef struct pooldims {
    long long NC, H, W, OH, OW, K, S, P;
} pooldims;

static pooldims pool_dims(const ir_node *n, const ir_shape *x, const ir_shape *y) {
    pooldims d = {x->d[0] * x->d[1], x->d[2], x->d[3], y->d[2], y->d[3], n->iattr[0], n->iattr[1], n->iattr[2]};
    return d;
}

/* Open the loops over planes p and output elements (oh, ow), with the
 * window's rows [h0, h1) and columns [w0, w1) clipped to the input plane;
 * pi and po are the offsets of plane p in input- and output-sized buffers. */
static void pool_open(cg_ctx *cx, const pooldims *d) {
    strbuf *c = cx->c;
    cgk_parallel(cx, d->NC * d->H * d->W, "    "); /* a plane's outputs (and its gradient) are its own */
    sb_printf(c, "    for (long p = 0; p < %lld; p++) {\n", d->NC);
    sb_printf(c, "        const long pi = p * %lld, po = p * %lld;\n", d->H * d->W, d->OH * d->OW);
    sb_printf(c, "        for (long oh = 0; oh < %lld; oh++) {\n", d->OH);
    sb_printf(c,
              "            const long hs = oh * %lld - %lld, h0 = hs > 0 ? hs : 0, h1 = hs + %lld < %lld ? hs + %lld : "
              "%lld;\n",
              d->S, d->P, d->K, d->H, d->K, d->H);
    sb_printf(c, "            for (long ow = 0; ow < %lld; ow++) {\n", d->OW);
    sb_printf(c,
              "                const long ws = ow * %lld - %lld, w0 = ws > 0 ? ws : 0, w1 = ws + %lld < %lld ? ws + "
              "%lld : %lld;\n",
              d->S, d->P, d->K, d->W, d->K, d->W);
}

static void pool_close(cg_ctx *cx) { sb_puts(cx->c, "            }\n        }\n    }\n"); }

/* The window's maximum m of input xin and, with `track`, its index `at` in
 * the plane: an h-major scan where the first maximum, or the last NaN, wins,
 * as in PyTorch. The padding counts as -inf. */
static void pool_max(cg_ctx *cx, const pooldims *d, const char *xin, int track) {
    strbuf *c = cx->c;
    sb_printf(c, "                %s m = ", cx->T);
    cg_literal(cx, c, -INFINITY);
    sb_puts(c, ";\n");
    if (track) sb_printf(c, "                long at = h0 * %lld + w0;\n", d->W);
    sb_puts(c, "                for (long ih = h0; ih < h1; ih++)\n");
    sb_puts(c, "                    for (long iw = w0; iw < w1; iw++) {\n");
    sb_printf(c, "                        const %s v = %s[pi + ih * %lld + iw];\n", cx->T, xin, d->W);
    if (track) sb_printf(c, "                        if (v > m || isnan(v)) m = v, at = ih * %lld + iw;\n", d->W);
    else sb_puts(c, "                        if (v > m || isnan(v)) m = v;\n");
    sb_puts(c, "                    }\n");
}

/* ---- pooling fast paths -------------------------------------------------
 *
 * Without padding every window lies inside the input, so the window's taps
 * can be written out (at most POOL_UNROLL_MAX of them) in a loop along the
 * output row that gcc vectorizes: the taps read rows of x with stride s.
 * The maximum keeps PyTorch's rule (h-major scan; a later element wins when
 * it is greater or NaN), written as selects, not branches. The gradients of
 * non-overlapping windows (s >= k) are gathers too: each input element gets
 * its window's dy or 0, so nothing is scattered. That choice is written
 * with integer masks on the element's bits (memcpy, which compilers turn
 * into moves): as a float select gcc made it a branch, mispredicted on half
 * of the elements. Other shapes use the general loops. */
enum { POOL_UNROLL_MAX = 25 };

static int pool_fast(const pooldims *d) { return d->P == 0 && d->K * d->K <= POOL_UNROLL_MAX; }
static int pool_fast_grad(const pooldims *d) { return pool_fast(d) && d->S >= d->K; }

/* Open the loop over output rows r = (plane, oh): xr is the window's first
 * input row (of `xin`, unless NULL), and ro, ri the offsets of the output
 * row and of that input row. */
static void pool_rows(cg_ctx *cx, const pooldims *d, const char *xin) {
    strbuf *c = cx->c;
    cgk_parallel_nest(cx, d->NC * d->H * d->W, "    ", 2); /* each row writes its own outputs (dx: s >= k) */
    sb_printf(c, "    for (long p = 0; p < %lld; p++)\n        for (long oh = 0; oh < %lld; oh++) {\n", d->NC, d->OH);
    sb_printf(c, "            const long ro = (p * %lld + oh) * %lld, ri = p * %lld + oh * %lld;\n", d->OH, d->OW,
              d->H * d->W, d->S * d->W);
    if (xin) sb_printf(c, "            const %s *restrict xr = %s + ri;\n", cx->T, xin);
}

/* Open the next piece of the loop over ow from lo (vec_piece): gcc
 * vectorizes the window's taps, strided loads and all, when the trip count
 * needs no remainder loop. Returns where the piece ends. */
static long long pool_piece(cg_ctx *cx, const pooldims *d, long long lo) {
    long long hi = lo + vec_piece(d->OW - lo);
    sb_printf(cx->c, "            for (long ow = %lld; ow < %lld; ow++) {\n", lo, hi);
    return hi;
}

/* "xr[kh * W + ow * s + kw]" for tap t = kh k + kw. */
static const char *pool_tap(cg_ctx *cx, const pooldims *d, long long t) {
    long long kh = t / d->K, kw = t % d->K;
    return arena_printf(cx->g->a, "xr[ow * %lld + %lld]", d->S, kh * d->W + kw);
}

/* In the ow loop: m = the window's maximum; with `track`, the int a = its
 * tap. A NaN wins (the last one for the argmax): NaNs are tracked apart so
 * that each step is a plain max (maxss) and a select, never a branch; the
 * tap index is selected with bit masks, which gcc keeps branch-free. */
static void pool_fast_max(cg_ctx *cx, const pooldims *d, int track) {
    strbuf *c = cx->c;
    const char *T = cx->T;
    sb_printf(c, "                %s m = %s%s;\n", T, pool_tap(cx, d, 0), d->K > 1 ? ", v" : "");
    if (track) sb_puts(c, "                int nan = -(m == m), a = 0, u;\n");
    else sb_printf(c, "                %s nan = m != m ? 0 : -1;\n", T);
    for (long long t = 1; t < d->K * d->K; t++) {
        sb_printf(c, "                v = %s;", pool_tap(cx, d, t));
        if (track)
            sb_printf(c, " u = -(v > m); a = (a & ~u) | (%lld & u); m = v > m ? v : m;"
                         " u = -(v != v); nan = (nan & ~u) | (%lld & u);\n", t, t);
        else sb_printf(c, " m = v > m ? v : m; nan = v != v ? %lld : nan;\n", t);
    }
    if (track) sb_puts(c, "                u = -(nan >= 0); a = (a & ~u) | (nan & u);\n");
    else sb_printf(c, "                m = nan >= 0 ? (%s)NAN : m;\n", T);
}

/* In the ow loop of pool_fast_grad_emit: dx at each tap of the window. */
static void pool_grad_taps(cg_ctx *cx, const pooldims *d, int is_max) {
    strbuf *c = cx->c;
    const char *T = cx->T;
    const char *U = cx->o->f64 ? "uint64_t" : "uint32_t"; /* the bits of an element */
    if (is_max) {
        sb_printf(c, "                const int a = at[ow];\n                %s g, u;\n", U);
        sb_puts(c, "                memcpy(&g, x0 + ro + ow, sizeof g);\n");
    } else {
        sb_printf(c, "                const %s g = x0[ro + ow] / ", T);
        cg_literal(cx, c, (double)(d->K * d->K));
        sb_puts(c, ";\n");
    }
    for (long long t = 0; t < d->K * d->K; t++) {
        long long kh = t / d->K, kw = t % d->K;
        if (is_max) /* dy where the tap is the argmax, else 0, as bits */
            sb_printf(c, "                u = g & -(%s)(a == %lld); memcpy(dr + ow * %lld + %lld, &u, sizeof u);\n", U,
                      t, d->S, kh * d->W + kw);
        else
            sb_printf(c, "                dr[ow * %lld + %lld] = g;\n", d->S, kh * d->W + kw);
    }
    sb_puts(c, "            }\n");
}

/* The gradient of non-overlapping windows: for each tap t of each window,
 * dx at that tap = (pick t) ? dy : 0; input elements outside every window
 * (s > k, or rows and columns past the last window) are zeroed first. */
static void pool_fast_grad_emit(cg_ctx *cx, const ir_node *n, const pooldims *d, int is_max) {
    strbuf *c = cx->c;
    const char *T = cx->T;
    cgk_head(cx, n);
    if (d->S != d->K || d->H != d->OH * d->K || d->W != d->OW * d->K)
        sb_printf(c, "    for (long i = 0; i < %lld; i++) y[i] = 0;\n", cg_numel(n));
    pool_rows(cx, d, is_max ? "x1" : NULL);
    sb_printf(c, "            %s *restrict dr = y + ri;\n", T);
    if (is_max) {
        sb_printf(c, "            int at[%lld];\n", d->OW);
        for (long long lo = 0; lo < d->OW;) {
            lo = pool_piece(cx, d, lo);
            pool_fast_max(cx, d, 1);
            sb_puts(c, "                at[ow] = a;\n            }\n");
        }
    }
    for (long long lo = 0; lo < d->OW;) {
        lo = pool_piece(cx, d, lo);
        pool_grad_taps(cx, d, is_max);
    }
    sb_puts(c, "        }\n");
    cgk_tail(cx);
}

/* y = max over each window. */
void emit_MAXPOOL2D(cg_ctx *cx, const ir_node *n) {
    pooldims d = pool_dims(n, &cg_in(cx, n, 0)->shape, &n->shape);
    cgk_head(cx, n);
    if (pool_fast(&d)) {
        pool_rows(cx, &d, "x0");
        for (long long lo = 0; lo < d.OW;) {
            lo = pool_piece(cx, &d, lo);
            pool_fast_max(cx, &d, 0);
            sb_puts(cx->c, "                y[ro + ow] = m;\n            }\n");
        }
        sb_puts(cx->c, "        }\n");
        cgk_tail(cx);
        return;
    }
    pool_open(cx, &d);
    pool_max(cx, &d, "x0", 0);
    sb_printf(cx->c, "                y[po + oh * %lld + ow] = m;\n", d.OW);
    pool_close(cx);
    cgk_tail(cx);
}

/* dx[argmax of each window] += dy; x0 = dy, x1 = x. */
void emit_MAXPOOL2D_GRAD(cg_ctx *cx, const ir_node *n) {
    pooldims d = pool_dims(n, &n->shape, &cg_in(cx, n, 0)->shape);
    if (pool_fast_grad(&d)) {
        pool_fast_grad_emit(cx, n, &d, 1);
        return;
    }
    cgk_head(cx, n);
    sb_printf(cx->c, "    for (long i = 0; i < %lld; i++) y[i] = 0;\n", cg_numel(n));
    pool_open(cx, &d);
    pool_max(cx, &d, "x1", 1);
    sb_printf(cx->c, "                y[pi + at] += x0[po + oh * %lld + ow];\n", d.OW);
    pool_close(cx);
    cgk_tail(cx);
}

/* y = sum over each window / k^2 (the padding counts as zeros). */
void emit_AVGPOOL2D(cg_ctx *cx, const ir_node *n) {
    pooldims d = pool_dims(n, &cg_in(cx, n, 0)->shape, &n->shape);
    strbuf *c = cx->c;
    cgk_head(cx, n);
    if (pool_fast(&d)) {
        pool_rows(cx, &d, "x0");
        for (long long lo = 0; lo < d.OW;) {
            lo = pool_piece(cx, &d, lo);
            sb_printf(c, "                %s s = 0;\n", cx->T);
            for (long long t = 0; t < d.K * d.K; t++) sb_printf(c, "                s += %s;\n", pool_tap(cx, &d, t));
            sb_puts(c, "                y[ro + ow] = s / ");
            cg_literal(cx, c, (double)(d.K * d.K));
            sb_puts(c, ";\n            }\n");
        }
        sb_puts(c, "        }\n");
        cgk_tail(cx);
        return;
    }
    pool_open(cx, &d);
    sb_printf(c, "                %s s = 0;\n", cx->T);
    sb_puts(c, "                for (long ih = h0; ih < h1; ih++)\n");
    sb_printf(c, "                    for (long iw = w0; iw < w1; iw++) s += x0[pi + ih * %lld + iw];\n", d.W);
    sb_printf(c, "                y[po + oh * %lld + ow] = s / ", d.OW);
    cg_literal(cx, c, (double)(d.K * d.K));
    sb_puts(c, ";\n");
    pool_close(cx);
    cgk_tail(cx);
}

/* dx[window] += dy / k^2; x0 = dy. */
void emit_AVGPOOL2D_GRAD(cg_ctx *cx, const ir_node *n) {
    pooldims d = pool_dims(n, &n->shape, &cg_in(cx, n, 0)->shape);
    strbuf *c = cx->c;
    if (pool_fast_grad(&d)) {
        pool_fast_grad_emit(cx, n, &d, 0);
        return;
    }
    cgk_head(cx, n);
    cgk_parallel(cx, d.NC * d.H * d.W, "    "); /* as pool_open's: all zeroed before any thread adds */
    sb_printf(c, "    for (long i = 0; i < %lld; i++) y[i] = 0;\n", cg_numel(n));
    if (d.NC * d.H * d.W >= NNC_OMP_MIN) sb_puts(c, "#ifdef _OPENMP\n    #pragma omp barrier\n#endif\n");
    pool_open(cx, &d);
    sb_printf(c, "                const %s g = x0[po + oh * %lld + ow] / ", cx->T, d.OW);
    cg_literal(cx, c, (double)(d.K * d.K));
    sb_puts(c, ";\n                for (long ih = h0; ih < h1; ih++)\n");
    sb_printf(c, "                    for (long iw = w0; iw < w1; iw++) y[pi + ih * %lld + iw] += g;\n", d.W);
    pool_close(cx);
    cgk_tail(cx);
}

/* ---- conv_transpose2d --------------------------------------------------- */

/* conv_transpose2d(x, w) is conv2d_grad_x with x as the gradient: the same
 * sums, shapes and attributes (the output_padding in iattr[4] only sizes
 * the output, as the kernel reads it from the node's shape). */
void emit_CONV_TRANSPOSE2D(cg_ctx *cx, const ir_node *n) { gradx_emit(cx, n); }

/* ---- upsample -----------------------------------------------------------
 *
 * An integer scale S. Nearest: y[oh, ow] = x[oh / S, ow / S]. Bilinear with
 * align_corners=False: the source row of output row oh is (oh + 1/2) / S -
 * 1/2 = th / 2S with th = 2 oh + 1 - S, clamped at 0; it lies between rows h0
 * = th / 2S and h1 = min(h0 + 1, H - 1) with weights lh0 = 1 - lh1 and lh1 =
 * (th - 2S h0) / 2S, computed from integers. The gradients gather: each
 * input element adds what the outputs within reach send it (rows
 * [(ih - 1) S, (ih + 2) S) for the bilinear one). */

typedef struct updims {
    long long NC, H, W, OH, OW, S;
} updims;

static updims up_dims(const ir_node *n, const ir_shape *x, const ir_shape *y) {
    updims d = {x->d[0] * x->d[1], x->d[2], x->d[3], y->d[2], y->d[3], n->iattr[0]};
    return d;
}

/* The two source rows a0, a1 of output index o along an axis of length len
 * and their weights la0, la1 (a = "h" or "w"). */
static void up_lerp(cg_ctx *cx, const char *ind, const char *a, const char *o, long long S, long long len) {
    strbuf *c = cx->c;
    sb_printf(c, "%sconst long t%s = 2 * %s + %lld;\n", ind, a, o, 1 - S);
    sb_printf(c, "%sconst long %s0 = t%s < 0 ? 0 : t%s / %lld, %s1 = %s0 < %lld ? %s0 + 1 : %s0;\n", ind, a, a, a,
              2 * S, a, a, len - 1, a, a);
    sb_printf(c, "%sconst %s l%s1 = t%s < 0 ? 0 : (%s)(t%s - %lld * %s0) / (%s)%lld, l%s0 = 1 - l%s1;\n", ind, cx->T, a,
              a, cx->T, a, 2 * S, a, cx->T, 2 * S, a, a);
}

void emit_UPSAMPLE(cg_ctx *cx, const ir_node *n) {
    updims d = up_dims(n, &cg_in(cx, n, 0)->shape, &n->shape);
    strbuf *c = cx->c;
    cgk_head(cx, n);
    sb_printf(c, "    for (long p = 0; p < %lld; p++)\n        for (long oh = 0; oh < %lld; oh++) {\n", d.NC, d.OH);
    sb_printf(c, "            const %s *restrict xp = x0 + p * %lld;\n", cx->T, d.H * d.W);
    sb_printf(c, "            %s *restrict yr = y + (p * %lld + oh) * %lld;\n", cx->T, d.OH, d.OW);
    if (n->iattr[1] == 0) {
        sb_printf(c, "            for (long ow = 0; ow < %lld; ow++) yr[ow] = xp[oh / %lld * %lld + ow / %lld];\n",
                  d.OW, d.S, d.W, d.S);
    } else {
        up_lerp(cx, "            ", "h", "oh", d.S, d.H);
        sb_printf(c, "            for (long ow = 0; ow < %lld; ow++) {\n", d.OW);
        up_lerp(cx, "                ", "w", "ow", d.S, d.W);
        sb_printf(c, "                yr[ow] = lh0 * (lw0 * xp[h0 * %lld + w0] + lw1 * xp[h0 * %lld + w1]) +\n"
                     "                         lh1 * (lw0 * xp[h1 * %lld + w0] + lw1 * xp[h1 * %lld + w1]);\n"
                     "            }\n", d.W, d.W, d.W, d.W);
    }
    sb_puts(c, "        }\n");
    cgk_tail(cx);
}

/* The bilinear gradient of input element (ih, iw) into s. */
static void up_grad_bilinear(cg_ctx *cx, const updims *d) {
    strbuf *c = cx->c;
    const char *ind = "                    ";
    sb_printf(c, "                const long oh0 = (ih - 1) * %lld > 0 ? (ih - 1) * %lld : 0;\n", d->S, d->S);
    sb_printf(c, "                const long oh1 = (ih + 2) * %lld < %lld ? (ih + 2) * %lld : %lld;\n", d->S, d->OH,
              d->S, d->OH);
    sb_printf(c, "                const long ow0 = (iw - 1) * %lld > 0 ? (iw - 1) * %lld : 0;\n", d->S, d->S);
    sb_printf(c, "                const long ow1 = (iw + 2) * %lld < %lld ? (iw + 2) * %lld : %lld;\n", d->S, d->OW,
              d->S, d->OW);
    sb_puts(c, "                for (long oh = oh0; oh < oh1; oh++) {\n");
    up_lerp(cx, ind, "h", "oh", d->S, d->H);
    sb_printf(c, "%sif (h0 != ih && h1 != ih) continue;\n%s%s t = 0;\n", ind, ind, cx->T);
    sb_printf(c, "%sfor (long ow = ow0; ow < ow1; ow++) {\n", ind);
    up_lerp(cx, "                        ", "w", "ow", d->S, d->W);
    sb_puts(c, "                        if (w0 != iw && w1 != iw) continue;\n");
    sb_printf(c, "                        t += ((w0 == iw ? lw0 : 0) + (w1 == iw ? lw1 : 0)) * dp[oh * %lld + ow];\n",
              d->OW);
    sb_printf(c, "%s}\n%ss += ((h0 == ih ? lh0 : 0) + (h1 == ih ? lh1 : 0)) * t;\n                }\n", ind, ind);
}

/* dx[ih, iw] = sum over the outputs that read it of weight * dy; x0 = dy. */
void emit_UPSAMPLE_GRAD(cg_ctx *cx, const ir_node *n) {
    updims d = up_dims(n, &n->shape, &cg_in(cx, n, 0)->shape);
    strbuf *c = cx->c;
    cgk_head(cx, n);
    sb_printf(c, "    for (long p = 0; p < %lld; p++) {\n", d.NC);
    sb_printf(c, "        const %s *restrict dp = x0 + p * %lld;\n", cx->T, d.OH * d.OW);
    sb_printf(c, "        for (long ih = 0; ih < %lld; ih++)\n", d.H);
    sb_printf(c, "            for (long iw = 0; iw < %lld; iw++) {\n                %s s = 0;\n", d.W, cx->T);
    if (n->iattr[1] == 0) {
        sb_printf(c, "                for (long a = 0; a < %lld; a++)\n", d.S);
        sb_printf(c, "                    for (long b = 0; b < %lld; b++) s += dp[(ih * %lld + a) * %lld + iw * %lld "
                     "+ b];\n", d.S, d.S, d.OW, d.S);
    } else {
        up_grad_bilinear(cx, &d);
    }
    sb_printf(c, "                y[(p * %lld + ih) * %lld + iw] = s;\n            }\n    }\n", d.H, d.W);
    cgk_tail(cx);
}
