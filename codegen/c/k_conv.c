/* k_conv.c — C kernels of the convolution and pooling ops (NCHW).
 *
 * Convolutions are direct: im2col would need a scratch buffer the size of
 * the activations times k^2. Their inner loops run along one row (of the
 * output, or of the input for the gradients) with constant bounds; the
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
 *   pools          one window per output element, scanned as PyTorch does
 *
 * LeNet-5 (batch 64, 28x28, f32, gcc -O2) trains at about 11 ms per step on
 * one core of a 2.8 GHz Xeon; the convolutions are 80% of it.
 */
#include "kernels.h"

#include <math.h>
#include <stdlib.h>

#define IN cgk_in

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

/* for j in [lo, hi): the taps' statements; with `fuse` (all taps share one
 * destination element) a single sum. The range is split at multiples of 8
 * and 4 so the vectorizer needs no remainder loop. */
static void tap_loop(cg_ctx *cx, const char *ind, const tap *t, int nt, int fuse, long long lo, long long hi) {
    strbuf *c = cx->c;
    while (hi > lo) {
        long long len = hi - lo, step = len >= 2 * VEC ? len / VEC * VEC : len >= VEC ? VEC : len >= 4 ? 4 : len;
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
    sb_printf(cx->c, "%s    if (%s < 0) { const long l = (%lld - 1 - %s) / %lld; lo = l > lo ? l : lo; }\n", ind, b, a, b, a);
    sb_printf(cx->c, "%s    { const long t = %lld - 1 - %s, h = t < 0 ? 0 : t / %lld + 1; hi = h < hi ? h : hi; }\n", ind,
              len, b, a);
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
    sb_printf(c, "%s    const long db = %lld + kw * %lld, sb = %lld + kw * %lld;\n", ind, r->db0, r->dbk, r->sb0, r->sbk);
    sb_printf(c, "%s    long lo = 0, hi = %lld;\n", ind, r->n);
    clip_rt(cx, ind, "db", r->da, r->dlen);
    clip_rt(cx, ind, "sb", r->sa, r->slen);
    const char *dst = r->dko ? arena_printf(cx->g->a, "(%s + kw * %lld)", r->dst, r->dko) : r->dst;
    const char *f = r->fkw ? arena_printf(cx->g->a, "%s[kw]", r->f) : r->f;
    sb_printf(c, "%s    for (long j = lo; j < hi; j++) %s[j * %lld + db] += %s * %s[j * %lld + sb];\n%s}\n", ind, dst,
              r->da, f, r->src, r->sa, ind);
}

/* y[n, o] = sum over the group's channels c and (kh, kw) of w[o, c] * x[n, c] shifted. */
void emit_CONV2D(cg_ctx *cx, const ir_node *n) {
    const ir_node *x = IN(cx, n, 0), *w = IN(cx, n, 1);
    convdims d = conv_dims(n, &x->shape, &w->shape, &n->shape);
    const char *T = cx->T;
    strbuf *c = cx->c;
    taprow r = {"dr", "sr", "wr", 1, d.OW, 1, 0, 0, 0, d.OW, d.S, -d.P, d.D, d.W};
    cgk_head(cx, n);
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
    cgk_tail(cx);
}

/* dx[n, c] = sum over the group's outputs o and (kh, kw) of w[o, c] * dy[n, o]
 * shifted back. x0 = dy, x1 = w. */
void emit_CONV2D_GRAD_X(cg_ctx *cx, const ir_node *n) {
    const ir_node *dy = IN(cx, n, 0), *w = IN(cx, n, 1);
    convdims d = conv_dims(n, &n->shape, &w->shape, &dy->shape);
    const char *T = cx->T;
    strbuf *c = cx->c;
    cgk_head(cx, n);
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
    cgk_tail(cx);
}

/* Partial sums of conv2d_grad_w: at most this many elements on the stack. */
enum { ACC_MAX = 4096 };

/* dw[o, c, kh, kw] = sum over n, oh, ow of dy[n, o, oh, ow] x[n, c, ih, iw].
 * Kernel rows are done KB at a time with partial sums acc[kh][kw][ow].
 * x0 = dy, x1 = x. */
void emit_CONV2D_GRAD_W(cg_ctx *cx, const ir_node *n) {
    const ir_node *dy = IN(cx, n, 0), *x = IN(cx, n, 1);
    convdims d = conv_dims(n, &x->shape, &n->shape, &dy->shape);
    const char *T = cx->T;
    strbuf *c = cx->c;
    long long row = d.KW * d.OW, KB = ACC_MAX / row;
    KB = KB < 1 ? 1 : KB > d.KH ? d.KH : KB;
    taprow r = {"ar", "xr", "dyr[j]", 0, d.OW, 1, 0, 0, d.OW, d.OW, d.S, -d.P, d.D, d.W};
    cgk_head(cx, n);
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
    cgk_tail(cx);
}

/* ---- channel_bias ------------------------------------------------------- */

/* y[n, c, ...] = x[n, c, ...] + b[c] */
void emit_CHANNEL_BIAS(cg_ctx *cx, const ir_node *n) {
    long long N = n->shape.d[0], C = n->shape.d[1], I = cgk_numel(n) / (N * C);
    strbuf *c = cx->c;
    cgk_head(cx, n);
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
    sb_printf(c, "    for (long p = 0; p < %lld; p++) {\n", d->NC);
    sb_printf(c, "        const long pi = p * %lld, po = p * %lld;\n", d->H * d->W, d->OH * d->OW);
    sb_printf(c, "        for (long oh = 0; oh < %lld; oh++) {\n", d->OH);
    sb_printf(c, "            const long hs = oh * %lld - %lld, h0 = hs > 0 ? hs : 0, h1 = hs + %lld < %lld ? hs + %lld : %lld;\n",
              d->S, d->P, d->K, d->H, d->K, d->H);
    sb_printf(c, "            for (long ow = 0; ow < %lld; ow++) {\n", d->OW);
    sb_printf(c, "                const long ws = ow * %lld - %lld, w0 = ws > 0 ? ws : 0, w1 = ws + %lld < %lld ? ws + %lld : %lld;\n",
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

/* y = max over each window. */
void emit_MAXPOOL2D(cg_ctx *cx, const ir_node *n) {
    pooldims d = pool_dims(n, &IN(cx, n, 0)->shape, &n->shape);
    cgk_head(cx, n);
    pool_open(cx, &d);
    pool_max(cx, &d, "x0", 0);
    sb_printf(cx->c, "                y[po + oh * %lld + ow] = m;\n", d.OW);
    pool_close(cx);
    cgk_tail(cx);
}

/* dx[argmax of each window] += dy; x0 = dy, x1 = x. */
void emit_MAXPOOL2D_GRAD(cg_ctx *cx, const ir_node *n) {
    pooldims d = pool_dims(n, &n->shape, &IN(cx, n, 0)->shape);
    cgk_head(cx, n);
    sb_printf(cx->c, "    for (long i = 0; i < %lld; i++) y[i] = 0;\n", cgk_numel(n));
    pool_open(cx, &d);
    pool_max(cx, &d, "x1", 1);
    sb_printf(cx->c, "                y[pi + at] += x0[po + oh * %lld + ow];\n", d.OW);
    pool_close(cx);
    cgk_tail(cx);
}

/* y = sum over each window / k^2 (the padding counts as zeros). */
void emit_AVGPOOL2D(cg_ctx *cx, const ir_node *n) {
    pooldims d = pool_dims(n, &IN(cx, n, 0)->shape, &n->shape);
    strbuf *c = cx->c;
    cgk_head(cx, n);
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
    pooldims d = pool_dims(n, &n->shape, &IN(cx, n, 0)->shape);
    strbuf *c = cx->c;
    cgk_head(cx, n);
    sb_printf(c, "    for (long i = 0; i < %lld; i++) y[i] = 0;\n", cgk_numel(n));
    pool_open(cx, &d);
    sb_printf(c, "                const %s g = x0[po + oh * %lld + ow] / ", cx->T, d.OW);
    cg_literal(cx, c, (double)(d.K * d.K));
    sb_puts(c, ";\n                for (long ih = h0; ih < h1; ih++)\n");
    sb_printf(c, "                    for (long iw = w0; iw < w1; iw++) y[pi + ih * %lld + iw] += g;\n", d.W);
    pool_close(cx);
    cgk_tail(cx);
}
