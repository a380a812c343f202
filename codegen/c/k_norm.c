/* k_norm.c — C kernels of the normalization, dropout and activation ops.
 *
 * Activations are elementwise rows of ops.def: their kernels come from the
 * formula (kernels.c picks them by the row's class). The others:
 *
 *   batch norm   x viewed as [N, C, S] (S = H*W, 1 for [N, C]). With S = 1
 *                the loops run n outer, c inner (contiguous): per-channel
 *                sums accumulate elementwise across the channels, and
 *                per-channel coefficients sit in arrays over blocks of at
 *                most CB channels on the stack. With S > 1 they run c outer
 *                and along the S contiguous values of each (n, c) plane,
 *                summing in LANES partial sums in double (PyTorch's CPU
 *                kernels sum in double too). The statistics take one
 *                kernel each (mean, then the biased variance around it);
 *                the normalization is y = x alpha[c] + beta[c], alpha =
 *                weight / sqrt(var + eps), beta = bias - mean alpha, as
 *                PyTorch computes it.
 *   layer norm   x viewed as [R, D]: per row, statistics (mean, rstd) in
 *                double partial sums, then y = (x rstd - mean rstd)
 *                weight + bias; the backward's row sums likewise.
 *   dropout      element i of dropout op k in training call `counter` is
 *                kept when nnrt_u01(word i % 4 of nnrt_philox4x32(seed,
 *                NNRT_STREAM_DROPOUT | (counter << 8) | k, i / 4)) >= (float)p,
 *                and then scaled
 *                by 1 / (1 - p); else 0. The kernel makes that test on the
 *                word's top 24 bits against ceil((float)p 2^24), which is
 *                the same test (u01 is exact), the same in the f32 and f64
 *                builds (and for the CUDA backend, which uses this
 *                mapping). k < 256 and counter < 2^55.
 */
#include "kernels.h"

#include <math.h>


/* ---- helpers ----------------------------------------------------------- */

/* `    const T name = <literal>;` */
static void decl_const(cg_ctx *cx, const char *name, double v) {
    sb_printf(cx->c, "    const %s %s = ", cx->T, name);
    cg_literal(cx, cx->c, v);
    sb_puts(cx->c, ";\n");
}

/* ---- dropout ----------------------------------------------------------- */

/* y = x / (1 - p) where the element's draw is >= p, else 0 (see the file
 * comment for the mapping). The adjoint is this same kernel on dy. */
void emit_DROPOUT(cg_ctx *cx, const ir_node *n) {
    strbuf *c = cx->c;
    double p = n->fattr[0];
    /* nnrt_u01(w) = (w >> 8) 2^-24 >= (float)p exactly when (w >> 8) >=
     * ceil((float)p 2^24): the same test on integers */
    unsigned long keep_at = (unsigned long)ceil((double)(float)p * 16777216.0);
    cgk_head(cx, n);
    sb_printf(c, "    const uint32_t keep_at = %luu; /* keep where nnrt_u01(w) >= (float)%.9g */\n", keep_at, p);
    decl_const(cx, "scale", 1 / (1 - p));
    sb_printf(c, "    const uint64_t stream = NNRT_STREAM_DROPOUT | (counter << 8) | %lldu; /* dropout op %lld */\n",
              (long long)n->iattr[0], (long long)n->iattr[0]);
    sb_printf(c, "    for (long i = 0; i < %lld; i += 4) {\n", cg_numel(n));
    sb_puts(c, "        uint32_t w[4];\n        nnrt_philox4x32(seed, stream, (uint64_t)(i / 4), w);\n");
    sb_printf(c, "        const long m = %lld - i < 4 ? %lld - i : 4;\n", cg_numel(n), cg_numel(n));
    sb_puts(c, "        for (long j = 0; j < m; j++) y[i + j] = (w[j] >> 8) >= keep_at ? x0[i + j] * scale : 0;\n");
    sb_puts(c, "    }\n");
    cgk_tail(cx);
}

/* ---- sums ---------------------------------------------------------------- */

/* Long sums run in LANES partial sums in double (a[j] += term of element
 * i0 + j), which gcc -O2 vectorizes; a serial sum would wait on each add. */
enum { LANES = 8 };

/* `double name[LANES] = {0, ...};` */
static void lanes_open(cg_ctx *cx, const char *ind, const char *name) {
    sb_printf(cx->c, "%sdouble %s[%d] = {0};\n", ind, name, LANES);
}

/* name[..] += term (an expression of i) for i in [0, len); with name2, also
 * name2[..] += term2. */
static void lanes_add(cg_ctx *cx, const char *ind, long long len, const char *name, const char *term,
                      const char *name2, const char *term2) {
    strbuf *c = cx->c;
    long long l8 = len / LANES * LANES;
    if (l8) {
        sb_printf(c, "%sfor (long i0 = 0; i0 < %lld; i0 += %d)\n", ind, l8, LANES);
        sb_printf(c, "%s    for (long j = 0; j < %d; j++) {\n%s        const long i = i0 + j;\n", ind, LANES, ind);
        sb_printf(c, "%s        %s[j] += %s;\n", ind, name, term);
        if (name2) sb_printf(c, "%s        %s[j] += %s;\n", ind, name2, term2);
        sb_printf(c, "%s    }\n", ind);
    }
    if (l8 < len) {
        sb_printf(c, "%sfor (long i = %lld; i < %lld; i++) {\n%s    %s[0] += %s;\n", ind, l8, len, ind, name, term);
        if (name2) sb_printf(c, "%s    %s[0] += %s;\n", ind, name2, term2);
        sb_printf(c, "%s}\n", ind);
    }
}

/* `const double s = <the sum of name's lanes>;` (pairwise) */
static void lanes_close(cg_ctx *cx, const char *ind, const char *s, const char *name) {
    sb_printf(cx->c, "%sconst double %s = ((%s[0] + %s[1]) + (%s[2] + %s[3])) + ((%s[4] + %s[5]) + (%s[6] + %s[7]));\n",
              ind, s, name, name, name, name, name, name, name, name);
}

/* ---- batch norm -------------------------------------------------------- */

enum { CB = 256 }; /* channels per block of the S = 1 loops' stack arrays */

/* x [N, C, ...] as [N, C, S]; M = N S values per channel. */
typedef struct bn_dims {
    long long N, C, S, M, cb;
} bn_dims;

static bn_dims bn_of(const ir_node *x) {
    bn_dims d = {x->shape.d[0], x->shape.d[1], 1, 0, 0};
    for (int i = 2; i < x->shape.rank; i++) d.S *= x->shape.d[i];
    d.M = d.N * d.S;
    d.cb = d.C < CB ? d.C : CB;
    return d;
}

/* S > 1, inside `for c`: open `for n {` with the plane pointers named in
 * ptrs ("xs", "x0" pairs: xs = x0 + (n C + c) S; names starting with y are
 * written). */
static void plane_open(cg_ctx *cx, const bn_dims *d, const char *const *ptrs, int nptrs) {
    strbuf *c = cx->c;
    sb_printf(c, "        for (long n = 0; n < %lld; n++) {\n", d->N);
    for (int k = 0; k < nptrs; k += 2)
        sb_printf(c, "            %s%s *restrict %s = %s + (n * %lld + c) * %lld;\n", ptrs[k][0] == 'y' ? "" : "const ",
                  cx->T, ptrs[k], ptrs[k + 1], d->C, d->S);
}

/* S > 1, inside `for c`: sum `term` (of xs[i], ...) over the channel's
 * planes into `const double s`. */
static void plane_sum(cg_ctx *cx, const bn_dims *d, const char *const *ptrs, int nptrs, const char *term) {
    lanes_open(cx, "        ", "a");
    plane_open(cx, d, ptrs, nptrs);
    lanes_add(cx, "            ", d->S, "a", term, NULL, NULL);
    sb_puts(cx->c, "        }\n");
    lanes_close(cx, "        ", "s", "a");
}

/* S = 1: `for n { const T *restrict xn = x0 + n C (+ c0) ...` */
static void row_loops(cg_ctx *cx, const bn_dims *d, const char *const *ptrs, int nptrs, const char *c0,
                      const char *cn) {
    strbuf *c = cx->c;
    const char *ind = c0 ? "        " : "    ";
    sb_printf(c, "%sfor (long n = 0; n < %lld; n++) {\n", ind, d->N);
    for (int k = 0; k < nptrs; k += 2)
        sb_printf(c, "%s    %s%s *restrict %s = %s + n * %lld%s%s;\n", ind, ptrs[k][0] == 'y' ? "" : "const ", cx->T,
                  ptrs[k], ptrs[k + 1], d->C, c0 ? " + " : "", c0 ? c0 : "");
    sb_printf(c, "%s    for (long c = 0; c < %s; c++) ", ind, cn);
}

/* S = 1: open the loop over blocks of channels c0 .. c0 + cn; one block
 * (constant bounds, for the vectorizer) when C <= CB. */
static void block_open(cg_ctx *cx, const bn_dims *d) {
    if (d->C <= CB) {
        sb_printf(cx->c, "    {\n        const long c0 = 0, cn = %lld;\n", d->C);
        return;
    }
    sb_printf(cx->c, "    for (long c0 = 0; c0 < %lld; c0 += %lld) {\n", d->C, d->cb);
    sb_printf(cx->c, "        const long cn = %lld - c0 < %lld ? %lld - c0 : %lld;\n", d->C, d->cb, d->C, d->cb);
}

/* A per-channel sum into y [C]: y[c] = `fin` of s = the sum over n (and
 * the plane) of `term` (row_term with S = 1: over xn[c], ...; plane_term:
 * over xs[i], ... after `prep` declares per-channel values). */
static void bn_channel_sum(cg_ctx *cx, const bn_dims *d, const char *const *rows, const char *row_term,
                           const char *const *planes, const char *prep, const char *plane_term, int nptrs,
                           const char *fin) {
    strbuf *c = cx->c;
    if (d->S == 1) { /* elementwise over the channels: accumulate in y */
        sb_printf(c, "    for (long c = 0; c < %lld; c++) y[c] = 0;\n", d->C);
        row_loops(cx, d, rows, nptrs, NULL, arena_printf(cx->g->a, "%lld", d->C));
        sb_printf(c, "y[c] += %s;\n    }\n", row_term);
        sb_printf(c, "    for (long c = 0; c < %lld; c++) {\n        const double s = y[c];\n", d->C);
    } else {
        sb_printf(c, "    for (long c = 0; c < %lld; c++) {\n%s", d->C, prep);
        plane_sum(cx, d, planes, nptrs, plane_term);
    }
    sb_printf(c, "        y[c] = (%s)(%s);\n    }\n", cx->T, fin);
}

static const char *const X_ROWS[] = {"xn", "x0"}, *const X_PLANES[] = {"xs", "x0"};
static const char *const DY_ROWS[] = {"dn", "x0", "xn", "x1"}, *const DY_PLANES[] = {"ds", "x0", "xs", "x1"};

/* mean[c] = sum x / M */
void emit_BN_MEAN(cg_ctx *cx, const ir_node *n) {
    bn_dims d = bn_of(cg_in(cx, n, 0));
    cgk_head(cx, n);
    bn_channel_sum(cx, &d, X_ROWS, "xn[c]", X_PLANES, "", "xs[i]", 2, arena_printf(cx->g->a, "s / %lld", d.M));
    cgk_tail(cx);
}

/* var[c] = sum (x - mean)^2 / M (biased); x0 = x, x1 = mean */
void emit_BN_VAR(cg_ctx *cx, const ir_node *n) {
    bn_dims d = bn_of(cg_in(cx, n, 0));
    cgk_head(cx, n);
    bn_channel_sum(cx, &d, X_ROWS, "(xn[c] - x1[c]) * (xn[c] - x1[c])", X_PLANES, "        const double m = x1[c];\n",
                   "(xs[i] - m) * (xs[i] - m)", 2, arena_printf(cx->g->a, "s / %lld", d.M));
    cgk_tail(cx);
}

/* dbias[c] = sum dy; x0 = dy */
void emit_BN_DBIAS(cg_ctx *cx, const ir_node *n) {
    bn_dims d = bn_of(cg_in(cx, n, 0));
    cgk_head(cx, n);
    bn_channel_sum(cx, &d, DY_ROWS, "dn[c]", DY_PLANES, "", "ds[i]", 2, "s");
    cgk_tail(cx);
}

/* dweight[c] = sum dy (x - mean) / sqrt(var + eps); x0 = dy, x1 = x,
 * x2 = mean, x3 = var */
void emit_BN_DWEIGHT(cg_ctx *cx, const ir_node *n) {
    bn_dims d = bn_of(cg_in(cx, n, 1));
    cgk_head(cx, n);
    decl_const(cx, "eps", n->fattr[0]);
    bn_channel_sum(cx, &d, DY_ROWS, "dn[c] * (xn[c] - x2[c])", DY_PLANES, "        const double m = x2[c];\n",
                   "ds[i] * (xs[i] - m)", 4, arena_printf(cx->g->a, "(%s)s * (1 / sqrt(x3[c] + eps))", cx->T));
    cgk_tail(cx);
}

/* y = x alpha + beta per channel: alpha = weight / sqrt(var + eps), beta =
 * bias - mean alpha; x0 = x, x1 = mean, x2 = var, x3 = weight, x4 = bias */
void emit_BN_NORM(cg_ctx *cx, const ir_node *n) {
    static const char *const p[] = {"xn", "x0", "yn", "y"}, *const ps[] = {"xs", "x0", "ys", "y"};
    bn_dims d = bn_of(cg_in(cx, n, 0));
    strbuf *c = cx->c;
    const char *T = cx->T;
    cgk_head(cx, n);
    decl_const(cx, "eps", n->fattr[0]);
    if (d.S == 1) {
        block_open(cx, &d);
        sb_printf(c, "        %s al[%lld], be[%lld];\n        for (long c = 0; c < cn; c++) {\n", T, d.cb, d.cb);
        sb_printf(c, "            al[c] = 1 / sqrt(x2[c0 + c] + eps) * x3[c0 + c];\n");
        sb_printf(c, "            be[c] = x4[c0 + c] - x1[c0 + c] * al[c];\n        }\n");
        row_loops(cx, &d, p, 4, "c0", "cn");
        sb_puts(c, "yn[c] = xn[c] * al[c] + be[c];\n        }\n    }\n");
    } else {
        sb_printf(c, "    for (long c = 0; c < %lld; c++) {\n", d.C);
        sb_printf(c, "        const %s al = 1 / sqrt(x2[c] + eps) * x3[c], be = x4[c] - x1[c] * al;\n", T);
        plane_open(cx, &d, ps, 4);
        sb_printf(c, "            for (long i = 0; i < %lld; i++) ys[i] = xs[i] * al + be;\n        }\n    }\n", d.S);
    }
    cgk_tail(cx);
}

/* running = (1 - m) running + m f stat, in place (y aliases x0) */
void emit_BN_UPDATE(cg_ctx *cx, const ir_node *n) {
    cgk_head(cx, n);
    decl_const(cx, "m", n->fattr[0]);
    decl_const(cx, "f", n->fattr[1]);
    sb_printf(cx->c, "    for (long c = 0; c < %lld; c++) y[c] = m * (x1[c] * f) + (1 - m) * x0[c];\n", cg_numel(n));
    cgk_tail(cx);
}

/* dx = (dy - (x - mean) dweight is / M - sum(dy) / M) is weight, is =
 * 1 / sqrt(var + eps): PyTorch's training backward. x0 = dy, x1 = x,
 * x2 = mean, x3 = var, x4 = weight, x5 = dweight */
void emit_BN_DX(cg_ctx *cx, const ir_node *n) {
    static const char *const p[] = {"dn", "x0"}, *const p3[] = {"dn", "x0", "xn", "x1", "yn", "y"};
    static const char *const ps3[] = {"ds", "x0", "xs", "x1", "ys", "y"};
    bn_dims d = bn_of(cg_in(cx, n, 1));
    strbuf *c = cx->c;
    const char *T = cx->T;
    cgk_head(cx, n);
    decl_const(cx, "eps", n->fattr[0]);
    if (d.S == 1) {
        block_open(cx, &d);
        sb_printf(c, "        %s gm[%lld], pr[%lld], k[%lld];\n", T, d.cb, d.cb, d.cb);
        sb_puts(c, "        for (long c = 0; c < cn; c++) gm[c] = 0;\n");
        row_loops(cx, &d, p, 2, "c0", "cn");
        sb_puts(c, "gm[c] += dn[c];\n        }\n        for (long c = 0; c < cn; c++) {\n");
        sb_printf(c, "            const %s is = 1 / sqrt(x3[c0 + c] + eps);\n", T);
        sb_printf(c, "            k[c] = is * x4[c0 + c];\n            pr[c] = x5[c0 + c] * is / %lld;\n", d.M);
        sb_printf(c, "            gm[c] /= %lld;\n        }\n", d.M);
        row_loops(cx, &d, p3, 6, "c0", "cn");
        sb_puts(c, "yn[c] = (dn[c] - (xn[c] - x2[c0 + c]) * pr[c] - gm[c]) * k[c];\n        }\n    }\n");
    } else {
        sb_printf(c, "    for (long c = 0; c < %lld; c++) {\n", d.C);
        plane_sum(cx, &d, DY_PLANES, 2, "ds[i]");
        sb_printf(c, "        const %s is = 1 / sqrt(x3[c] + eps), k = is * x4[c], pr = x5[c] * is / %lld;\n", T, d.M);
        sb_printf(c, "        const %s gm = (%s)(s / %lld), m = x2[c];\n", T, T, d.M);
        plane_open(cx, &d, ps3, 6);
        sb_printf(c, "            for (long i = 0; i < %lld; i++) ys[i] = (ds[i] - (xs[i] - m) * pr - gm) * k;\n", d.S);
        sb_puts(c, "        }\n    }\n");
    }
    cgk_tail(cx);
}

/* ---- layer norm -------------------------------------------------------- */

/* Rows of the last axis of node x: *R rows of *D. */
static void ln_of(const ir_node *x, long long *R, long long *D) {
    *D = cg_last(x);
    *R = cg_numel(x) / *D;
}

/* stats[r] = (mean, 1 / sqrt(var + eps)) of row r, in double */
void emit_LN_STATS(cg_ctx *cx, const ir_node *n) {
    long long R, D;
    ln_of(cg_in(cx, n, 0), &R, &D);
    strbuf *c = cx->c;
    cgk_head(cx, n);
    sb_printf(c, "    const double eps = %.17g;\n", n->fattr[0]);
    cgk_parallel(cx, R * D, "    ");
    sb_printf(c, "    for (long r = 0; r < %lld; r++) {\n", R);
    sb_printf(c, "        const %s *restrict xr = x0 + r * %lld;\n", cx->T, D);
    lanes_open(cx, "        ", "a");
    lanes_add(cx, "        ", D, "a", "xr[i]", NULL, NULL);
    lanes_close(cx, "        ", "s", "a");
    sb_printf(c, "        const double m = s / %lld;\n", D);
    lanes_open(cx, "        ", "b");
    lanes_add(cx, "        ", D, "b", "(xr[i] - m) * (xr[i] - m)", NULL, NULL);
    lanes_close(cx, "        ", "v", "b");
    sb_printf(c,
              "        y[2 * r] = (%s)m;\n        y[2 * r + 1] = (%s)(1 / sqrt(v / %lld + eps));\n"
              "    }\n",
              cx->T, cx->T, D);
    cgk_tail(cx);
}

/* y = (x rstd - mean rstd) weight + bias; x0 = x, x1 = stats, x2 = weight,
 * x3 = bias */
void emit_LN_NORM(cg_ctx *cx, const ir_node *n) {
    long long R, D;
    ln_of(n, &R, &D);
    strbuf *c = cx->c;
    cgk_head(cx, n);
    cgk_rows(cx, n, D, 0);
    sb_printf(c, "        const %s rs = x1[2 * r + 1], sh = -x1[2 * r] * rs;\n", cx->T);
    sb_printf(c, "        for (long j = 0; j < %lld; j++) yr[j] = (xr[j] * rs + sh) * x2[j] + x3[j];\n    }\n", D);
    cgk_tail(cx);
}

/* Per row, with g = dy weight and xhat = (x - mean) rstd:
 * dx = rstd (g - mean(g) - xhat mean(g xhat)). x0 = dy, x1 = x,
 * x2 = stats, x3 = weight */
void emit_LN_DX(cg_ctx *cx, const ir_node *n) {
    long long R, D;
    ln_of(n, &R, &D);
    strbuf *c = cx->c;
    const char *T = cx->T;
    cgk_head(cx, n);
    cgk_parallel(cx, cg_numel(n), "    ");
    sb_printf(c, "    for (long r = 0; r < %lld; r++) {\n", R);
    sb_printf(c, "        const %s *restrict dr = x0 + r * %lld, *restrict xr = x1 + r * %lld;\n", T, D, D);
    sb_printf(c, "        %s *restrict yr = y + r * %lld;\n", T, D);
    sb_printf(c, "        const %s m = x2[2 * r], rs = x2[2 * r + 1];\n", T);
    lanes_open(cx, "        ", "a");
    lanes_open(cx, "        ", "b");
    lanes_add(cx, "        ", D, "a", "dr[i] * x3[i]", "b", "dr[i] * x3[i] * (xr[i] - m)");
    lanes_close(cx, "        ", "sg", "a");
    lanes_close(cx, "        ", "sgx", "b");
    sb_printf(c, "        const %s ma = (%s)(sg / %lld), mb = (%s)(sgx * rs / %lld);\n", T, T, D, T, D);
    sb_printf(c,
              "        for (long j = 0; j < %lld; j++) yr[j] = rs * (dr[j] * x3[j] - ma - (xr[j] - m) * rs * mb);\n"
              "    }\n",
              D);
    cgk_tail(cx);
}

/* dweight[j] = sum over rows of dy (x - mean) rstd; x0 = dy, x1 = x,
 * x2 = stats. With OpenMP, blocks of CB columns are shared out, each
 * column summed over the rows in order (the same bits on any thread count). */
void emit_LN_DWEIGHT(cg_ctx *cx, const ir_node *n) {
    long long R, D;
    ln_of(cg_in(cx, n, 1), &R, &D);
    long long CB = R * D < NNC_OMP_MIN ? D : D % 64 == 0 && D > 64 ? 64 : D % 16 == 0 && D > 16 ? 16 : D;
    strbuf *c = cx->c;
    const char *T = cx->T;
    cgk_head(cx, n);
    if (CB < D) cgk_omp_for(cx, "    ", 1);
    sb_printf(c, "    for (long b = 0; b < %lld; b++) {\n", D / CB);
    sb_printf(c, "        %s *restrict yb = y + b * %lld;\n", T, CB);
    sb_printf(c, "        for (long j = 0; j < %lld; j++) yb[j] = 0;\n", CB);
    sb_printf(c, "        for (long r = 0; r < %lld; r++) {\n", R);
    sb_printf(c, "            const long o = r * %lld + b * %lld;\n", D, CB);
    sb_printf(c, "            const %s *restrict dr = x0 + o, *restrict xr = x1 + o;\n", T);
    sb_printf(c, "            const %s m = x2[2 * r], rs = x2[2 * r + 1];\n", T);
    sb_printf(c, "            for (long j = 0; j < %lld; j++) yb[j] += dr[j] * ((xr[j] - m) * rs);\n        }\n    }\n",
              CB);
    cgk_tail(cx);
}
