/* k_core.c — C kernels of the core ops: elementwise (each row's ops.def
 * formula), sum and expand, reshape, matmul, the softmax family and the
 * losses. Forward and backward kernels of an op sit next to each other.
 */
#include "kernels.h"



/* Declare p = the node's first float attribute and q = its second when
 * the formula uses them. */
static void formula_attr(cg_ctx *cx, const ir_node *n, const char *indent) {
    for (int k = 0; k < 2; k++) {
        if (!cg_uses_attr(ir_ops[n->op].expr, "pq"[k])) continue;
        sb_printf(cx->c, "%sconst %s %c = ", indent, cx->T, "pq"[k]);
        cg_literal(cx, cx->c, n->fattr[k]);
        sb_puts(cx->c, ";\n");
    }
}

/* ---- elementwise ------------------------------------------------------- */

static void unary_body(cg_ctx *cx, const ir_node *n, const char *ind) {
    sb_printf(cx->c, "%sconst %s a = x0[i];\n%sy[i] = ", ind, cx->T, ind);
    cgk_formula(cx, ir_ops[n->op].expr);
    sb_puts(cx->c, ";\n");
}

void cgk_unary(cg_ctx *cx, const ir_node *n) {
    cgk_head(cx, n);
    formula_attr(cx, n, "    ");
    cgk_elementwise(cx, n, cg_numel(n), unary_body);
    cgk_tail(cx);
}

/* Binary ops: an operand smaller than the output repeats along the leading
 * axes (suffix broadcasting), so the loop is [rows, cols] with cols = the
 * smaller operand's size; when neither repeats (each is the output's size or
 * a scalar), one loop over the elements (cgk_elementwise). */
static void binary_body(cg_ctx *cx, const ir_node *n, const char *ind) {
    const char *ia = cg_numel(cg_in(cx, n, 0)) == 1 ? "0" : "i", *ib = cg_numel(cg_in(cx, n, 1)) == 1 ? "0" : "i";
    sb_printf(cx->c, "%sconst %s a = x0[%s];\n%sconst %s b = x1[%s];\n%sy[i] = ", ind, cx->T, ia, ind, cx->T, ib, ind);
    cgk_formula(cx, ir_ops[n->op].expr);
    sb_puts(cx->c, ";\n");
}

void cgk_binary(cg_ctx *cx, const ir_node *n) {
    long long N = cg_numel(n), na = cg_numel(cg_in(cx, n, 0)), nb = cg_numel(cg_in(cx, n, 1));
    long long cols = na < N && na > 1 ? na : nb < N && nb > 1 ? nb : 0;
    cgk_head(cx, n);
    formula_attr(cx, n, "    ");
    if (!cols) {
        cgk_elementwise(cx, n, N, binary_body);
        cgk_tail(cx);
        return;
    }
    cgk_parallel(cx, N, "    ");
    sb_printf(cx->c,
              "    for (long r = 0; r < %lld; r++)\n"
              "        for (long j = 0; j < %lld; j++) {\n",
              N / cols, cols);
    const char *ia = na == N ? "r * %lld + j" : na == 1 ? "0" : "j";
    const char *ib = nb == N ? "r * %lld + j" : nb == 1 ? "0" : "j";
    sb_printf(cx->c, "            const %s a = x0[", cx->T);
    sb_printf(cx->c, ia, cols);
    sb_printf(cx->c, "];\n            const %s b = x1[", cx->T);
    sb_printf(cx->c, ib, cols);
    sb_printf(cx->c, "];\n            y[r * %lld + j] = ", cols);
    cgk_formula(cx, ir_ops[n->op].expr);
    sb_puts(cx->c, ";\n        }\n");
    cgk_tail(cx);
}

/* ---- reductions ------------------------------------------------------- */

/* SUM: x viewed as [outer, len, inner] -> y [outer, inner], times scale,
 * each element summed over len in order. The loop runs over blocks of CH
 * inner columns (CH divides inner): with OpenMP a large sum with few outer
 * indices (a bias gradient: outer 1) is cut into blocks of at least
 * SUM_CHUNK_MIN columns, until there are SUM_BLOCKS of them to share out. */
enum { SUM_CHUNK_MIN = 64, SUM_BLOCKS = 8 };

static long long sum_chunk(long long O, long long L, long long I) {
    long long ch = I;
    if (O * L * I < NNC_OMP_MIN) return ch;
    while (O * (I / ch) < SUM_BLOCKS && ch % 2 == 0 && ch / 2 >= SUM_CHUNK_MIN) ch /= 2;
    return ch;
}

void emit_SUM(cg_ctx *cx, const ir_node *n) {
    int64_t O, L, I;
    ir_reduce_view(&cg_in(cx, n, 0)->shape, (int)n->iattr[0], (int)n->iattr[1], &O, &L, &I);
    long long ch = sum_chunk(O, L, I), nc = I / ch;
    cgk_head(cx, n);
    strbuf *c = cx->c;
    cgk_parallel(cx, (long long)(O * L * I), "    ");
    sb_printf(c, "    for (long b = 0; b < %lld; b++) {\n", (long long)O * nc);
    sb_printf(c, "        %s *restrict yo = y + b * %lld;\n", cx->T, ch);
    if (nc == 1) sb_printf(c, "        const %s *restrict xo = x0 + b * %lld;\n", cx->T, (long long)(L * I));
    else
        sb_printf(c, "        const %s *restrict xo = x0 + b / %lld * %lld + b %% %lld * %lld;\n", cx->T, nc,
                  (long long)(L * I), nc, ch);
    sb_printf(c, "        for (long i = 0; i < %lld; i++) yo[i] = 0;\n", ch);
    sb_printf(c, "        for (long l = 0; l < %lld; l++) {\n", (long long)L);
    sb_printf(c, "            const %s *restrict xl = xo + l * %lld;\n", cx->T, (long long)I);
    sb_printf(c, "            for (long i = 0; i < %lld; i++) yo[i] += xl[i];\n        }\n", ch);
    sb_printf(c, "        for (long i = 0; i < %lld; i++) yo[i] *= ", ch);
    cg_literal(cx, c, n->fattr[0]);
    sb_puts(c, ";\n    }\n");
    cgk_tail(cx);
}

/* EXPAND: the adjoint of SUM, y [outer, len, inner] = x [outer, inner] * scale. */
void emit_EXPAND(cg_ctx *cx, const ir_node *n) {
    int64_t O, L, I;
    ir_reduce_view(&n->shape, (int)n->iattr[0], (int)n->iattr[1], &O, &L, &I);
    cgk_head(cx, n);
    strbuf *c = cx->c;
    sb_printf(c,
              "    for (long o = 0; o < %lld; o++)\n"
              "        for (long l = 0; l < %lld; l++)\n",
              (long long)O, (long long)L);
    sb_printf(c, "            for (long i = 0; i < %lld; i++)\n", (long long)I);
    sb_printf(c, "                y[(o * %lld + l) * %lld + i] = x0[o * %lld + i] * ", (long long)L, (long long)I,
              (long long)I);
    cg_literal(cx, c, n->fattr[0]);
    sb_puts(c, ";\n");
    cgk_tail(cx);
}

static void copy_body(cg_ctx *cx, const ir_node *n, const char *ind) {
    (void)n;
    sb_printf(cx->c, "%sy[i] = x0[i];\n", ind);
}

void emit_RESHAPE(cg_ctx *cx, const ir_node *n) {
    cgk_head(cx, n);
    cgk_elementwise(cx, n, cg_numel(n), copy_body);
    cgk_tail(cx);
}

/* ---- matrix product ---------------------------------------------------- */

/* y[m, n] = op(A)[m, k] op(B)[k, n]; op(A) = A or A^T by attrs ta, tb.
 * The product itself is libnnrt's blocked GEMM (runtime/gemm.c). */
void emit_MATMUL(cg_ctx *cx, const ir_node *n) {
    int64_t M, K, N;
    ir_matmul_dims(cx->g, n, &M, &K, &N);
    int ta = (int)n->iattr[0], tb = (int)n->iattr[1];
    cgk_head(cx, n);
    sb_printf(cx->c, "    %s(%d, %d, %lld, %lld, %lld, x0, %lld, x1, %lld, 0, y, %lld%s);\n", cgk_gemm_fn(cx, 0), ta,
              tb, (long long)M, (long long)N, (long long)K, (long long)(ta ? M : K), (long long)(tb ? K : N),
              (long long)N, cgk_gemm_ws_args(cx, ta, tb, M, N, K));
    cgk_tail(cx);
}

/* ---- softmax family: rows over the last axis ---------------------------- */

void emit_SOFTMAX(cg_ctx *cx, const ir_node *n) {
    long long C = cg_last(n);
    cgk_head(cx, n);
    cgk_rows(cx, n, C, 0);
    cgk_row_max_sumexp(cx, C, 1);
    sb_printf(cx->c, "        for (long j = 0; j < %lld; j++) yr[j] /= s;\n    }\n", C);
    cgk_tail(cx);
}

/* dx = y * (dy - sum(dy * y)); x0 = dy, x1 = y */
void emit_SOFTMAX_GRAD(cg_ctx *cx, const ir_node *n) {
    long long C = cg_last(n);
    cgk_head(cx, n);
    cgk_rows(cx, n, C, 1);
    sb_printf(cx->c, "        %s d = 0;\n        for (long j = 0; j < %lld; j++) d += xr[j] * zr[j];\n", cx->T, C);
    sb_printf(cx->c, "        for (long j = 0; j < %lld; j++) yr[j] = zr[j] * (xr[j] - d);\n    }\n", C);
    cgk_tail(cx);
}

void emit_LOG_SOFTMAX(cg_ctx *cx, const ir_node *n) {
    long long C = cg_last(n);
    cgk_head(cx, n);
    cgk_rows(cx, n, C, 0);
    cgk_row_max_sumexp(cx, C, !cx->o->f64); /* in f32, yr holds the exps until it holds the result */
    sb_printf(cx->c, "        const %s lse = mx + log(s);\n", cx->T);
    sb_printf(cx->c, "        for (long j = 0; j < %lld; j++) yr[j] = xr[j] - lse;\n    }\n", C);
    cgk_tail(cx);
}

/* dx = dy - exp(y) * sum(dy); x0 = dy, x1 = y */
void emit_LOG_SOFTMAX_GRAD(cg_ctx *cx, const ir_node *n) {
    long long C = cg_last(n);
    cgk_head(cx, n);
    cgk_rows(cx, n, C, 1);
    sb_printf(cx->c, "        %s d = 0;\n        for (long j = 0; j < %lld; j++) d += xr[j];\n", cx->T, C);
    sb_printf(cx->c, "        for (long j = 0; j < %lld; j++) yr[j] = xr[j] - exp(zr[j]) * d;\n    }\n", C);
    cgk_tail(cx);
}

/* ---- losses ------------------------------------------------------------ */

/* mean over rows of logsumexp(logits) - logits[label]; labels were range
 * checked by the entry point. */
void emit_XENT(cg_ctx *cx, const ir_node *n) {
    const ir_node *lg = cg_in(cx, n, 0);
    long long C = cg_last(lg), R = cg_numel(lg) / C;
    strbuf *c = cx->c;
    cgk_head(cx, n);
    sb_printf(c, "    double total = 0;\n    for (long r = 0; r < %lld; r++) {\n", R);
    sb_printf(c, "        const %s *restrict xr = x0 + r * %lld;\n", cx->T, C);
    cgk_row_max_sumexp(cx, C, 0);
    sb_printf(c, "        total += (double)(mx + log(s) - xr[x1[r]]);\n    }\n");
    sb_printf(c, "    y[0] = (%s)(total / %lld);\n", cx->T, R);
    cgk_tail(cx);
}

/* dlogits = dl / rows * (softmax(logits) - onehot(label)); x0 = dl */
void emit_XENT_GRAD(cg_ctx *cx, const ir_node *n) {
    long long C = cg_last(n), R = cg_numel(n) / C;
    strbuf *c = cx->c;
    cgk_head(cx, n);
    sb_printf(c, "    const %s scale = x0[0] / %lld;\n", cx->T, R);
    cgk_parallel(cx, cg_numel(n), "    ");
    sb_printf(c, "    for (long r = 0; r < %lld; r++) {\n", R);
    sb_printf(c,
              "        const %s *restrict xr = x1 + r * %lld;\n"
              "        %s *restrict yr = y + r * %lld;\n",
              cx->T, C, cx->T, C);
    cgk_row_max_sumexp(cx, C, 1);
    sb_printf(c, "        for (long j = 0; j < %lld; j++) yr[j] = yr[j] / s * scale;\n", C);
    sb_printf(c, "        yr[x2[r]] -= scale;\n    }\n");
    cgk_tail(cx);
}

/* mean of -(t log p + (1 - t) log(1 - p)), logs clamped at -100 as PyTorch does */
void emit_BCE(cg_ctx *cx, const ir_node *n) {
    long long N = cg_numel(cg_in(cx, n, 0));
    strbuf *c = cx->c;
    cgk_head(cx, n);
    sb_printf(c, "    double total = 0;\n    for (long i = 0; i < %lld; i++) {\n", N);
    sb_printf(c, "        %s lp = log(x0[i]), lq = log(1 - x0[i]);\n", cx->T);
    sb_puts(c, "        lp = lp > -100 ? lp : -100;\n        lq = lq > -100 ? lq : -100;\n");
    sb_puts(c, "        total -= (double)(x1[i] * lp + (1 - x1[i]) * lq);\n    }\n");
    sb_printf(c, "    y[0] = (%s)(total / %lld);\n", cx->T, N);
    cgk_tail(cx);
}

/* dp = dl / N * (p - t) / max(p (1 - p), 1e-12); x0 = dl, x1 = p, x2 = t */
void emit_BCE_GRAD(cg_ctx *cx, const ir_node *n) {
    long long N = cg_numel(n);
    strbuf *c = cx->c;
    cgk_head(cx, n);
    sb_printf(c, "    const %s scale = x0[0] / %lld;\n", cx->T, N);
    sb_printf(c, "    for (long i = 0; i < %lld; i++) {\n", N);
    sb_printf(c, "        %s d = x1[i] * (1 - x1[i]);\n        d = d > ", cx->T);
    cg_literal(cx, c, 1e-12);
    sb_puts(c, " ? d : ");
    cg_literal(cx, c, 1e-12);
    sb_puts(c, ";\n        y[i] = scale * (x1[i] - x2[i]) / d;\n    }\n");
    cgk_tail(cx);
}
