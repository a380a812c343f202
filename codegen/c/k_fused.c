/* k_fused.c — C kernels of the fused ops pass_fuse makes (ir/fuse.c).
 *
 *   fused      one loop over the output; each step of the program is the
 *              op's ops.def formula, rounded to the element type as its own
 *              kernel would have stored it, so fused and unfused code agree
 *   matmul_ep  libnnrt's GEMM with an epilogue callback: the program runs
 *              on each block of the product right after the GEMM finishes
 *              it, while it is in cache (nnrt_sgemm_ep, nnrt_gemm.h)
 *
 * Inputs broadcast by suffix as the binary kernels do: an input is the
 * output's size, a scalar, or repeats along the leading axes.
 */
#include "kernels.h"

typedef long long ll;

/* How input k of n (numel nk) is indexed by an output position written
 * `full` in a loop whose inner index `j` runs over C columns and whose row
 * index is `r`. */
static const char *index_of(cg_ctx *cx, ll nk, ll N, ll C, const char *full, const char *r, const char *j) {
    if (nk == N) return full;
    if (nk == 1) return "0";
    if (nk == C) return j;
    return arena_printf(cx->g->a, "(%s %% %lld) * %lld + %s", r, nk / C, C, j);
}

/* The column count of the [rows, cols] loop: the smallest input that
 * repeats (1 < size < N); N when none does. */
static ll loop_cols(cg_ctx *cx, const ir_node *n) {
    ll N = cg_numel(n), C = N;
    for (int k = 0; k < n->nin; k++) {
        ll nk = cg_numel(cg_in(cx, n, k));
        if (nk > 1 && nk < C) C = nk;
    }
    return C;
}

/* Each input's element at output position i = r * C + j (i alone when C = N). */
static void fused_operands(cg_ctx *cx, const ir_node *n, ll C, const char **opnd) {
    for (int k = 0; k < n->nin; k++)
        opnd[k] = arena_printf(cx->g->a, "x%d[%s]", k,
                               index_of(cx, cg_numel(cg_in(cx, n, k)), cg_numel(n), C, "i", "r", "j"));
}

static void fused_body(cg_ctx *cx, const ir_node *n, const char *ind) {
    const char *opnd[IR_MAX_IN];
    fused_operands(cx, n, cg_numel(n), opnd);
    cg_fused_steps(cx, n, opnd, NULL, ind, cgk_tanh_fn(cx));
    sb_printf(cx->c, "%sy[i] = t%d;\n", ind, n->prog->nstep - 1);
}

/* One loop over the elements when no input repeats (cgk_elementwise), else
 * [rows, cols] with the inputs that repeat indexed by column. */
void emit_FUSED(cg_ctx *cx, const ir_node *n) {
    ll N = cg_numel(n), C = loop_cols(cx, n);
    cgk_head(cx, n);
    if (C == N) {
        cgk_elementwise(cx, n, N, fused_body);
        cgk_tail(cx);
        return;
    }
    const char *opnd[IR_MAX_IN];
    fused_operands(cx, n, C, opnd);
    cgk_parallel(cx, N, "    ");
    sb_printf(cx->c, "    for (long r = 0; r < %lld; r++)\n        for (long j = 0; j < %lld; j++) {\n", N / C, C);
    sb_printf(cx->c, "            const long i = r * %lld + j;\n", C);
    cg_fused_steps(cx, n, opnd, NULL, "            ", cgk_tanh_fn(cx));
    sb_printf(cx->c, "            y[i] = t%d;\n        }\n", n->prog->nstep - 1);
    cgk_tail(cx);
}

/* 1 if the epilogue of n reads an input of the product's size: one that
 * streams from memory, a row at a time at a stride of N columns. */
static int ep_streams(cg_ctx *cx, const ir_node *n) {
    for (int k = 2; k < n->nin; k++)
        if (cg_numel(cg_in(cx, n, k)) == cg_numel(n)) return 1;
    return 0;
}

/* Such inputs are read a block of rows x n columns at a time, each row of
 * the block on other lines (and, past 4 KiB, other pages) than the last,
 * which the hardware prefetchers do not follow: the loads wait on memory.
 * So the callback prefetches, row by row, the block the GEMM finishes two
 * blocks later in nnrt_sgemm_ep's order (the next columns of these rows,
 * then the next rows from column 0): far enough ahead that it is in cache
 * when the callback comes to it. */
static void emit_ep_prefetch_setup(cg_ctx *cx, const ir_node *n, ll Nc) {
    if (!ep_streams(cx, n)) return;
    sb_puts(cx->c, "#if defined(__GNUC__)\n");
    sb_printf(cx->c, "    const long jn = (j0 + 2 * n) %% %lld, rn = (j0 + 2 * n) / %lld * m;\n#endif\n", Nc, Nc);
}

static void emit_ep_prefetch(cg_ctx *cx, const ir_node *n, ll Nc) {
    if (!ep_streams(cx, n)) return;
    strbuf *c = cx->c;
    sb_printf(c, "#if defined(__GNUC__)\n        for (long q = 0; q < n; q += %d) {\n", cx->o->f64 ? 8 : 16);
    sb_printf(c, "            const long o = (r + rn) * %lld + jn + q;\n", Nc);
    sb_printf(c, "            if (o < %lld) {\n", cg_numel(n));
    for (int k = 2; k < n->nin; k++)
        if (cg_numel(cg_in(cx, n, k)) == cg_numel(n))
            sb_printf(c, "                __builtin_prefetch(e->x%d + o);\n", k);
    sb_puts(c, "            }\n        }\n#endif\n");
}

/* The callback nnrt_sgemm_ep calls on each finished block: the row
 * function on each row of the block, the inputs' pointers moved to it. */
static void emit_ep_callback(cg_ctx *cx, const ir_node *n, const char *name, ll Nc) {
    strbuf *c = cx->c;
    ll N = cg_numel(n);
    sb_printf(c, "static void %s_ep(void *ctx, long i0, long j0, long m, long n) {\n", name);
    sb_printf(c, "    const struct %s_ep *e = ctx;\n", name);
    emit_ep_prefetch_setup(cx, n, Nc);
    int braces = ep_streams(cx, n);
    sb_printf(c, "    for (long r = i0; r < i0 + m; r++)%s\n", braces ? " {" : "");
    emit_ep_prefetch(cx, n, Nc);
    sb_printf(c, "        %s_row(e->y + r * %lld + j0, ", name, (ll)Nc);
    for (int k = 2; k < n->nin; k++) {
        ll nk = cg_numel(cg_in(cx, n, k));
        if (nk == 1) sb_printf(c, "e->x%d, ", k);
        else if (nk == N) sb_printf(c, "e->x%d + r * %lld + j0, ", k, (ll)Nc);
        else if (nk == Nc) sb_printf(c, "e->x%d + j0, ", k);
        else sb_printf(c, "e->x%d + (r %% %lld) * %lld + j0, ", k, nk / Nc, (ll)Nc);
    }
    sb_printf(c, "n);\n%s}\n", braces ? "    }\n" : "");
}

/* matmul_ep: the epilogue is a callback over blocks [i0, i0+m) x [j0,
 * j0+n) of the [M, N] product held in y; ctx holds the operands. Each row
 * of a block goes to a function whose restrict parameters point at the
 * row's elements (an input that is one value stays [0]), and whose loop
 * runs in chunks of 16: a fixed trip count that gcc -O2 vectorizes. */
void emit_MATMUL_EP(cg_ctx *cx, const ir_node *n) {
    int64_t M, K, Nc;
    ir_matmul_dims(cx->g, n, &M, &K, &Nc);
    int ta = (int)n->iattr[0], tb = (int)n->iattr[1];
    const char *name = cg_kernel_name(cx, n), *T = cx->T;
    strbuf *c = cx->c;
    const char *vopnd[IR_MAX_IN] = {0}, *sopnd[IR_MAX_IN] = {0};
    for (int k = 2; k < n->nin; k++) {
        int one = cg_numel(cg_in(cx, n, k)) == 1;
        vopnd[k] = arena_printf(cx->g->a, one ? "x%d[0]" : "x%d[j + v]", k);
        sopnd[k] = arena_printf(cx->g->a, one ? "x%d[0]" : "x%d[j]", k);
    }
    sb_printf(c, "\n/* the epilogue of %s: one row of a finished block of the product */\n", name);
    sb_printf(c, "static void %s_row(%s *restrict y, ", name, T);
    for (int k = 2; k < n->nin; k++) sb_printf(c, "const %s *restrict x%d, ", T, k);
    sb_puts(c, "long n) {\n    long j = 0;\n    for (; j + 16 <= n; j += 16)\n"
               "        for (long v = 0; v < 16; v++) {\n");
    cg_fused_steps(cx, n, vopnd, "y[j + v]", "            ", cgk_tanh_fn(cx));
    sb_printf(c, "            y[j + v] = t%d;\n        }\n", n->prog->nstep - 1);
    sb_puts(c, "    for (; j < n; j++) {\n");
    cg_fused_steps(cx, n, sopnd, "y[j]", "        ", cgk_tanh_fn(cx));
    sb_printf(c, "        y[j] = t%d;\n    }\n}\n", n->prog->nstep - 1);
    sb_printf(c, "struct %s_ep {\n", name);
    for (int k = 2; k < n->nin; k++) sb_printf(c, "    const %s *x%d;\n", T, k);
    sb_printf(c, "    %s *y;\n};\n", T);
    emit_ep_callback(cx, n, name, Nc);
    cgk_head(cx, n);
    sb_printf(c, "    struct %s_ep e = {", name);
    for (int k = 2; k < n->nin; k++) sb_printf(c, "x%d, ", k);
    sb_puts(c, "y};\n");
    sb_printf(c, "    %s(%d, %d, %lld, %lld, %lld, x0, %lld, x1, %lld, 0, y, %lld, %s_ep, &e%s);\n", cgk_gemm_fn(cx, 1),
              ta, tb, (ll)M, (ll)Nc, (ll)K, (ll)(ta ? M : K), (ll)(tb ? K : Nc), (ll)Nc, name,
              cgk_gemm_ws_args(cx, ta, tb, M, Nc, K));
    cgk_tail(cx);
}

/* causal_softmax: row r is row i = r mod T of a [T, T] matrix; softmax
 * over its columns j <= i, zeros beyond. The same numbers as softmax of
 * the -inf-masked row (exp(-inf) is 0 and adding 0 changes no sum): the
 * max and the sum run over j <= i in the same order; the exps run in
 * chunks of 16 columns (the chunk past i computes values that are then
 * overwritten with 0), so they vectorize. */
void emit_CAUSAL_SOFTMAX(cg_ctx *cx, const ir_node *n) {
    ll T = cg_last(n);
    strbuf *c = cx->c;
    const char *ex = cx->o->f64 ? "exp" : "nnc_expf";
    cgk_head(cx, n);
    cgk_rows(cx, n, T, 0);
    sb_printf(c, "        const long i = r %% %lld;\n", T);
    sb_printf(c, "        %s mx = xr[0], s = 0;\n", cx->T);
    sb_puts(c, "        for (long j = 1; j <= i; j++) mx = xr[j] > mx ? xr[j] : mx;\n");
    if (T % 16 == 0) {
        sb_puts(c, "        for (long k = 0; k <= i / 16; k++)\n            for (long v = 0; v < 16; v++) {\n");
        sb_printf(c,
                  "                const long j = k * 16 + v;\n                yr[j] = %s(xr[j] - mx);\n"
                  "            }\n",
                  ex);
    } else {
        sb_printf(c, "        for (long j = 0; j <= i; j++) yr[j] = %s(xr[j] - mx);\n", ex);
    }
    sb_printf(c, "        for (long j = i + 1; j < %lld; j++) yr[j] = 0;\n", T);
    sb_puts(c, "        for (long j = 0; j <= i; j++) s += yr[j];\n");
    sb_printf(c, "        for (long j = 0; j < %lld; j++) yr[j] /= s;\n    }\n", T);
    cgk_tail(cx);
}
