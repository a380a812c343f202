/* kernels.c — the C kernel of every op: one emit_OP per row of ops.def.
 *
 * Each node becomes one static function with its shapes as constants:
 *
 *   // %7 relu(%6)  h, line 6: f32[32, 128]
 *   static void k7_relu(const float *restrict x0, float *restrict y) { ... }
 *
 * Forward and backward kernels of an op family sit next to each other.
 */
#include "kernels.h"

#include <inttypes.h>
#include <ctype.h>
#include <math.h>

typedef void (*emit_fn)(cg_ctx *cx, const ir_node *n);

#define IN cg_in
#define NUMEL cg_numel

/* The comment and signature: inputs x0.., output y. */
void cgk_head(cg_ctx *cx, const ir_node *n) {
    strbuf *c = cx->c;
    sb_printf(c, "\n/* %%%d = %s(", n->id, ir_ops[n->op].name);
    for (int i = 0; i < n->nin; i++) sb_printf(c, "%s%%%d", i ? ", " : "", n->in[i]);
    sb_printf(c, ")");
    if (n->name) sb_printf(c, "  %s", n->name);
    if (n->loc.line) sb_printf(c, ", %s line %d", cx->o->source, n->loc.line);
    sb_printf(c, ": ");
    for (int i = 0; i < n->nin; i++)
        sb_printf(c, "%s%s", i ? ", " : "", ir_shape_str(cx->g->a, &IN(cx, n, i)->shape));
    sb_printf(c, " -> %s", ir_shape_str(cx->g->a, &n->shape));
    if (n->is_grad) sb_puts(c, " (backward)");
    sb_printf(c, " */\nstatic void %s(", cg_kernel_name(cx, n));
    /* a state update writes its own input's buffer: no restrict there */
    const char *rs = ir_ops[n->op].flags & OPF_STATE ? "" : "restrict ";
    for (int i = 0; i < n->nin; i++)
        sb_printf(c, "const %s *%sx%d, ", IN(cx, n, i)->dtype == DT_I32 ? "int32_t" : cx->T, rs, i);
    if (ir_ops[n->op].flags & OPF_RNG) sb_puts(c, "uint64_t seed, uint64_t counter, ");
    sb_printf(c, "%s *%sy) {\n", cx->T, rs);
}

void cgk_tail(cg_ctx *cx) { sb_puts(cx->c, "}\n"); }

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

const char *cgk_tanh_fn(cg_ctx *cx) { return cx->o->f64 ? NULL : "nnc_tanhf"; }

int cgk_uses_fast_tanh(cg_ctx *cx, const char *expr) { return !cx->o->f64 && cg_calls(expr, "tanh"); }

/* in f32, tanh is the vectorizable rational nnc_tanhf (emit.c) */
void cgk_formula(cg_ctx *cx, const char *expr) { cg_formula(cx, expr, cgk_tanh_fn(cx)); }
#define formula cgk_formula

/* ---- OpenMP -------------------------------------------------------------- */

/* Before a loop whose iterations are independent: with -fopenmp it runs
 * on the team's threads when the kernel touches at least NNC_OMP_MIN
 * elements; without OpenMP the pragma is not compiled at all. Only loops
 * whose iterations write disjoint outputs get it (no reductions across
 * iterations), so results are the same bits for any thread count. */
enum { NNC_OMP_MIN = 1 << 15 };
void cgk_parallel(cg_ctx *cx, long long work, const char *ind) {
    if (work < NNC_OMP_MIN) return;
    sb_printf(cx->c, "#ifdef _OPENMP\n%s#pragma omp parallel for schedule(static)\n#endif\n", ind);
}

/* Columns of a [rows, cols] loop over N elements when nothing repeats
 * (cols would be N): a divisor of N, so the rows can be shared out. */
long long cgk_split_cols(long long N) {
    static const long long sizes[] = {4096, 2048, 1024, 512, 256};
    for (int i = 0; i < 5; i++)
        if (N > sizes[i] && N % sizes[i] == 0) return sizes[i];
    return N;
}

/* ---- elementwise ------------------------------------------------------- */

static void emit_unary(cg_ctx *cx, const ir_node *n) {
    cgk_head(cx, n);
    formula_attr(cx, n, "    ");
    cgk_parallel(cx, NUMEL(n), "    ");
    sb_printf(cx->c, "    for (long i = 0; i < %lld; i++) {\n        const %s a = x0[i];\n        y[i] = ", NUMEL(n), cx->T);
    formula(cx, ir_ops[n->op].expr);
    sb_puts(cx->c, ";\n    }\n");
    cgk_tail(cx);
}

/* Binary ops: an operand smaller than the output repeats along the leading
 * axes (suffix broadcasting), so the loop is [rows, cols] with cols = the
 * smaller operand's size. */
static void emit_binary(cg_ctx *cx, const ir_node *n) {
    long long N = NUMEL(n), na = NUMEL(IN(cx, n, 0)), nb = NUMEL(IN(cx, n, 1));
    long long cols = na < N && na > 1 ? na : nb < N && nb > 1 ? nb : cgk_split_cols(N);
    cgk_head(cx, n);
    formula_attr(cx, n, "    ");
    cgk_parallel(cx, N, "    ");
    sb_printf(cx->c, "    for (long r = 0; r < %lld; r++)\n        for (long j = 0; j < %lld; j++) {\n", N / cols, cols);
    const char *ia = na == N ? "r * %lld + j" : na == 1 ? "0" : na == cols ? "j" : NULL;
    const char *ib = nb == N ? "r * %lld + j" : nb == 1 ? "0" : nb == cols ? "j" : NULL;
    sb_printf(cx->c, "            const %s a = x0[", cx->T);
    sb_printf(cx->c, ia, cols);
    sb_printf(cx->c, "];\n            const %s b = x1[", cx->T);
    sb_printf(cx->c, ib, cols);
    sb_printf(cx->c, "];\n            y[r * %lld + j] = ", cols);
    formula(cx, ir_ops[n->op].expr);
    sb_puts(cx->c, ";\n        }\n");
    cgk_tail(cx);
}

/* The same, for the elementwise rows of the op families (k_*.c). */

static void emit_none(cg_ctx *cx, const ir_node *n) { (void)cx, (void)n; }

/* ---- reductions ------------------------------------------------------- */

/* SUM: x viewed as [outer, len, inner] -> y [outer, inner], times scale. */
void emit_SUM(cg_ctx *cx, const ir_node *n) {
    int64_t O, L, I;
    ir_reduce_view(&IN(cx, n, 0)->shape, (int)n->iattr[0], (int)n->iattr[1], &O, &L, &I);
    cgk_head(cx, n);
    strbuf *c = cx->c;
    sb_printf(c, "    for (long o = 0; o < %lld; o++) {\n", (long long)O);
    sb_printf(c, "        %s *restrict yo = y + o * %lld;\n", cx->T, (long long)I);
    sb_printf(c, "        for (long i = 0; i < %lld; i++) yo[i] = 0;\n", (long long)I);
    sb_printf(c, "        for (long l = 0; l < %lld; l++) {\n", (long long)L);
    sb_printf(c, "            const %s *restrict xl = x0 + (o * %lld + l) * %lld;\n", cx->T, (long long)L, (long long)I);
    sb_printf(c, "            for (long i = 0; i < %lld; i++) yo[i] += xl[i];\n        }\n", (long long)I);
    sb_printf(c, "        for (long i = 0; i < %lld; i++) yo[i] *= ", (long long)I);
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
    sb_printf(c, "    for (long o = 0; o < %lld; o++)\n        for (long l = 0; l < %lld; l++)\n", (long long)O, (long long)L);
    sb_printf(c, "            for (long i = 0; i < %lld; i++)\n", (long long)I);
    sb_printf(c, "                y[(o * %lld + l) * %lld + i] = x0[o * %lld + i] * ", (long long)L, (long long)I, (long long)I);
    cg_literal(cx, c, n->fattr[0]);
    sb_puts(c, ";\n");
    cgk_tail(cx);
}

void emit_RESHAPE(cg_ctx *cx, const ir_node *n) {
    cgk_head(cx, n);
    sb_printf(cx->c, "    for (long i = 0; i < %lld; i++) y[i] = x0[i];\n", NUMEL(n));
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
    sb_printf(cx->c, "    nnrt_%cgemm(%d, %d, %lld, %lld, %lld, x0, %lld, x1, %lld, 0, y, %lld);\n", cx->o->f64 ? 'd' : 's',
              ta, tb, (long long)M, (long long)N, (long long)K, (long long)(ta ? M : K), (long long)(tb ? K : N),
              (long long)N);
    cgk_tail(cx);
}

/* ---- softmax family: rows over the last axis ---------------------------- */

/* Open a loop over rows of C elements with row pointers for x0 (and x1) and y. */
void cgk_rows(cg_ctx *cx, const ir_node *n, long long C, int with_x1) {
    strbuf *c = cx->c;
    cgk_parallel(cx, NUMEL(n), "    ");
    sb_printf(c, "    for (long r = 0; r < %lld; r++) {\n", NUMEL(n) / C);
    sb_printf(c, "        const %s *restrict xr = x0 + r * %lld;\n", cx->T, C);
    if (with_x1) sb_printf(c, "        const %s *restrict zr = x1 + r * %lld;\n", cx->T, C);
    sb_printf(c, "        %s *restrict yr = y + r * %lld;\n", cx->T, C);
}

/* mx = max of xr, s = sum of exp(xr - mx). With store the exps go to yr
 * first: in f32 by nnc_expf (emit.c) in a loop of their own, which
 * vectorizes, then summed in order (the sum cannot be reordered). */
void cgk_row_max_sumexp(cg_ctx *cx, long long C, int store) {
    strbuf *c = cx->c;
    sb_printf(c, "        %s mx = xr[0], s = 0;\n", cx->T);
    sb_printf(c, "        for (long j = 1; j < %lld; j++) mx = xr[j] > mx ? xr[j] : mx;\n", C);
    if (store && !cx->o->f64) {
        sb_printf(c, "        for (long j = 0; j < %lld; j++) yr[j] = nnc_expf(xr[j] - mx);\n", C);
        sb_printf(c, "        for (long j = 0; j < %lld; j++) s += yr[j];\n", C);
    } else if (store) {
        sb_printf(c, "        for (long j = 0; j < %lld; j++) s += yr[j] = exp(xr[j] - mx);\n", C);
    } else {
        sb_printf(c, "        for (long j = 0; j < %lld; j++) s += exp(xr[j] - mx);\n", C);
    }
}

int cgk_uses_fast_exp(cg_ctx *cx, const ir_node *n) {
    return !cx->o->f64 && (n->op == IR_SOFTMAX || n->op == IR_LOG_SOFTMAX || n->op == IR_XENT_GRAD ||
                           n->op == IR_CAUSAL_SOFTMAX);
}

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
    const ir_node *lg = IN(cx, n, 0);
    long long C = cg_last(lg), R = NUMEL(lg) / C;
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
    long long C = cg_last(n), R = NUMEL(n) / C;
    strbuf *c = cx->c;
    cgk_head(cx, n);
    sb_printf(c, "    const %s scale = x0[0] / %lld;\n", cx->T, R);
    sb_printf(c, "    for (long r = 0; r < %lld; r++) {\n", R);
    sb_printf(c, "        const %s *restrict xr = x1 + r * %lld;\n        %s *restrict yr = y + r * %lld;\n", cx->T, C, cx->T, C);
    cgk_row_max_sumexp(cx, C, 1);
    sb_printf(c, "        for (long j = 0; j < %lld; j++) yr[j] = yr[j] / s * scale;\n", C);
    sb_printf(c, "        yr[x2[r]] -= scale;\n    }\n");
    cgk_tail(cx);
}

/* mean of -(t log p + (1 - t) log(1 - p)), logs clamped at -100 as PyTorch does */
void emit_BCE(cg_ctx *cx, const ir_node *n) {
    long long N = NUMEL(IN(cx, n, 0));
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
    long long N = NUMEL(n);
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

static const emit_fn emitters[IR_NUM_OPS] = {
/* The row's class picks the emitter: sources have no kernel, elementwise
 * rows are their ops.def formula; the others have an emit_OP of their own. */
#define EMIT_OPC_SOURCE(e) emit_none
#define EMIT_OPC_UNARY(e) emit_unary
#define EMIT_OPC_BINARY(e) emit_binary
#define EMIT_OPC_OTHER(e) emit_##e
#define OP(e, name, nin, cls, flags, expr) [IR_##e] = EMIT_##cls(e),
#include "../../ir/ops.def"
#undef OP
};

void c_kernel(cg_ctx *cx, const ir_node *n) { emitters[n->op](cx, n); }
