/* k_attn.c — C kernels of the attn family: permute, slice, pad, concat,
 * bmm, embedding, embedding_grad, causal_mask and flip (see ir/ops_attn.c for
 * their semantics). The copies' innermost loops run over contiguous output
 * elements with constant bounds, so gcc -O2 vectorizes them; bmm calls
 * libnnrt's blocked GEMM once per batch, as matmul does. With OpenMP the
 * copies and bmm's batches are shared out over the threads (cgk_parallel).
 */
#include "kernels.h"


typedef long long ll;

/* x viewed as [outer, len, inner] around axis ax. */
static void view3(const ir_shape *s, int ax, ll *outer, ll *len, ll *inner) {
    int64_t o, l, i;
    ir_reduce_view(s, ax, ax + 1, &o, &l, &i);
    *outer = o, *len = l, *inner = i;
}

/* for (long j = 0; j < n; j++) dst[j] = src;   (nothing when n is 0) */
static void fill_loop(cg_ctx *cx, const char *ind, ll n, const char *dst, const char *src) {
    if (n > 0) sb_printf(cx->c, "%sfor (long j = 0; j < %lld; j++) %s = %s;\n", ind, n, dst, src);
}

/* ---- permute ------------------------------------------------------------ */

/* y = x with its axes permuted: outer loops over the output's leading
 * axes (shared out over threads with OpenMP), an inner loop over its last
 * (merged) axis; a contiguous copy when the permutation keeps the last
 * axis, a strided gather otherwise. */
void emit_PERMUTE(cg_ctx *cx, const ir_node *n) {
    ll sz[IR_MAX_RANK], sd[IR_MAX_RANK];
    int nd = cg_permute_loops(&cg_in(cx, n, 0)->shape, n->iattr, sz, sd);
    strbuf *c = cx->c;
    cgk_head(cx, n);
    cgk_parallel_nest(cx, cg_numel(n), "    ", nd - 1);
    for (int k = 0; k < nd - 1; k++) sb_printf(c, "    for (long i%d = 0; i%d < %lld; i%d++)\n", k, k, sz[k], k);
    sb_printf(c, "    {\n        const %s *restrict xp = x0", cx->T);
    for (int k = 0; k < nd - 1; k++) sb_printf(c, " + i%d * %lld", k, sd[k]);
    sb_printf(c, ";\n        %s *restrict yo = y + ", cx->T);
    for (int k = 0; k < nd - 2; k++) sb_puts(c, "(");
    sb_puts(c, nd > 1 ? "i0" : "0");
    for (int k = 1; k < nd - 1; k++) sb_printf(c, " * %lld + i%d)", sz[k], k);
    sb_printf(c, " * %lld;\n", sz[nd - 1]);
    if (sd[nd - 1] == 1) sb_printf(c, "        for (long j = 0; j < %lld; j++) yo[j] = xp[j];\n", sz[nd - 1]);
    else sb_printf(c, "        for (long j = 0; j < %lld; j++) yo[j] = xp[j * %lld];\n", sz[nd - 1], sd[nd - 1]);
    sb_puts(c, "    }\n");
    cgk_tail(cx);
}

/* ---- slice, pad, concat ------------------------------------------------- */

/* y[o, l - start, i] = x[o, l, i] for l in [start, end): one contiguous
 * run per outer index. */
void emit_SLICE(cg_ctx *cx, const ir_node *n) {
    ll O, L, I, lo = n->iattr[1], hi = n->iattr[2];
    view3(&cg_in(cx, n, 0)->shape, (int)n->iattr[0], &O, &L, &I);
    strbuf *c = cx->c;
    cgk_head(cx, n);
    cgk_parallel(cx, cg_numel(n), "    ");
    sb_printf(c, "    for (long o = 0; o < %lld; o++) {\n", O);
    sb_printf(c, "        const %s *restrict xo = x0 + (o * %lld + %lld) * %lld;\n", cx->T, L, lo, I);
    sb_printf(c, "        %s *restrict yo = y + o * %lld;\n", cx->T, (hi - lo) * I);
    fill_loop(cx, "        ", (hi - lo) * I, "yo[j]", "xo[j]");
    sb_puts(c, "    }\n");
    cgk_tail(cx);
}

/* y = zeros with x at [start, start + l) along the axis. */
void emit_PAD(cg_ctx *cx, const ir_node *n) {
    ll O, l, I, lo = n->iattr[1], L = n->iattr[2];
    view3(&cg_in(cx, n, 0)->shape, (int)n->iattr[0], &O, &l, &I);
    strbuf *c = cx->c;
    cgk_head(cx, n);
    cgk_parallel(cx, cg_numel(n), "    ");
    sb_printf(c, "    for (long o = 0; o < %lld; o++) {\n", O);
    sb_printf(c, "        const %s *restrict xo = x0 + o * %lld;\n", cx->T, l * I);
    sb_printf(c, "        %s *restrict yo = y + o * %lld;\n", cx->T, L * I);
    fill_loop(cx, "        ", lo * I, "yo[j]", "0");
    fill_loop(cx, "        ", l * I, arena_printf(cx->g->a, "yo[%lld + j]", lo * I), "xo[j]");
    fill_loop(cx, "        ", (L - lo - l) * I, arena_printf(cx->g->a, "yo[%lld + j]", (lo + l) * I), "0");
    sb_puts(c, "    }\n");
    cgk_tail(cx);
}

/* y[o] = [a[o], b[o]] along the axis: two contiguous runs per outer index. */
void emit_CONCAT(cg_ctx *cx, const ir_node *n) {
    ll O, La, Lb, I;
    int ax = (int)n->iattr[0];
    view3(&cg_in(cx, n, 0)->shape, ax, &O, &La, &I);
    Lb = cg_in(cx, n, 1)->shape.d[ax];
    strbuf *c = cx->c;
    cgk_head(cx, n);
    cgk_parallel(cx, cg_numel(n), "    ");
    sb_printf(c, "    for (long o = 0; o < %lld; o++) {\n", O);
    sb_printf(c, "        const %s *restrict xa = x0 + o * %lld;\n", cx->T, La * I);
    sb_printf(c, "        const %s *restrict xb = x1 + o * %lld;\n", cx->T, Lb * I);
    sb_printf(c, "        %s *restrict yo = y + o * %lld;\n", cx->T, (La + Lb) * I);
    fill_loop(cx, "        ", La * I, "yo[j]", "xa[j]");
    fill_loop(cx, "        ", Lb * I, arena_printf(cx->g->a, "yo[%lld + j]", La * I), "xb[j]");
    sb_puts(c, "    }\n");
    cgk_tail(cx);
}

/* ---- batched matrix product --------------------------------------------- */

/* y[t] = op(A[t]) op(B[t]) for every batch t: one call per batch of
 * libnnrt's blocked GEMM (runtime/gemm.c), as MATMUL uses. With OpenMP the
 * batches are shared out over the threads when they hold at least
 * BMM_OMP_MIN multiply-adds (each call then runs on its caller's thread:
 * the same bits); not with --freestanding, whose calls share one workspace. */
enum { BMM_OMP_MIN = 1 << 20 };

void emit_BMM(cg_ctx *cx, const ir_node *n) {
    int64_t d[4];
    ir_bmm_dims(cx->g, n, &d[0], &d[1], &d[2], &d[3]);
    const ll nb = d[0], M = d[1], K = d[2], N = d[3];
    int ta = (int)n->iattr[0], tb = (int)n->iattr[1];
    cgk_head(cx, n);
    if (nb > 1 && nb * M * N * K >= BMM_OMP_MIN && !cx->o->freestanding) cgk_omp_for(cx, "    ", 1);
    sb_printf(cx->c, "    for (long t = 0; t < %lld; t++)\n", nb);
    sb_printf(cx->c,
              "        %s(%d, %d, %lld, %lld, %lld, x0 + t * %lld, %lld, x1 + t * %lld, %lld, 0, y + t * "
              "%lld, %lld%s);\n",
              cgk_gemm_fn(cx, 0), ta, tb, M, N, K, M * K, ta ? M : K, K * N, tb ? K : N, M * N, N,
              cgk_gemm_ws_args(cx, ta, tb, M, N, K));
    cgk_tail(cx);
}

/* ---- embeddings --------------------------------------------------------- */

/* y[r] = weight[ids[r]]: one row copy per id (ids were range-checked by
 * the entry point). x0 = ids, x1 = weight. */
void emit_EMBEDDING(cg_ctx *cx, const ir_node *n) {
    ll R = cg_numel(cg_in(cx, n, 0)), D = cg_last(n);
    strbuf *c = cx->c;
    cgk_head(cx, n);
    sb_printf(c, "    for (long r = 0; r < %lld; r++) {\n", R);
    sb_printf(c, "        const %s *restrict wr = x1 + (long)x0[r] * %lld;\n", cx->T, D);
    sb_printf(c, "        %s *restrict yr = y + r * %lld;\n", cx->T, D);
    fill_loop(cx, "        ", D, "yr[j]", "wr[j]");
    sb_puts(c, "    }\n");
    cgk_tail(cx);
}

/* dweight[v] = sum of dy[r] over the rows r with ids[r] == v: zero, then
 * add the rows in order (deterministic, no atomics). x0 = dy, x1 = ids. */
void emit_EMBEDDING_GRAD(cg_ctx *cx, const ir_node *n) {
    ll R = cg_numel(cg_in(cx, n, 1)), D = cg_last(n);
    strbuf *c = cx->c;
    cgk_head(cx, n);
    sb_printf(c, "    for (long i = 0; i < %lld; i++) y[i] = 0;\n", cg_numel(n));
    sb_printf(c, "    for (long r = 0; r < %lld; r++) {\n", R);
    sb_printf(c, "        const %s *restrict dr = x0 + r * %lld;\n", cx->T, D);
    sb_printf(c, "        %s *restrict yr = y + (long)x1[r] * %lld;\n", cx->T, D);
    sb_printf(c, "        for (long j = 0; j < %lld; j++) yr[j] += dr[j];\n    }\n", D);
    cgk_tail(cx);
}

/* ---- causal mask -------------------------------------------------------- */

/* Row i of each [T, T] matrix: x up to the diagonal, then the fill value
 * (-inf before a softmax, 0 in the adjoint). */
void emit_CAUSAL_MASK(cg_ctx *cx, const ir_node *n) {
    ll T = cg_last(n), R = cg_numel(n) / T;
    strbuf *c = cx->c;
    cgk_head(cx, n);
    sb_printf(c, "    const %s fill = ", cx->T);
    cg_literal(cx, c, n->fattr[0]);
    sb_printf(c, ";\n    for (long r = 0; r < %lld; r++) {\n", R);
    sb_printf(c, "        const long i = r %% %lld;\n", T);
    sb_printf(c, "        const %s *restrict xr = x0 + r * %lld;\n", cx->T, T);
    sb_printf(c, "        %s *restrict yr = y + r * %lld;\n", cx->T, T);
    sb_puts(c, "        for (long j = 0; j <= i; j++) yr[j] = xr[j];\n");
    sb_printf(c, "        for (long j = i + 1; j < %lld; j++) yr[j] = fill;\n    }\n", T);
    cgk_tail(cx);
}

/* ---- flip --------------------------------------------------------------- */

/* y[o, l, i] = x[o, L - 1 - l, i]: one contiguous run per (o, l). */
void emit_FLIP(cg_ctx *cx, const ir_node *n) {
    ll O, L, I;
    view3(&n->shape, (int)n->iattr[0], &O, &L, &I);
    strbuf *c = cx->c;
    cgk_head(cx, n);
    sb_printf(c, "    for (long o = 0; o < %lld; o++)\n", O);
    sb_printf(c, "        for (long l = 0; l < %lld; l++) {\n", L);
    sb_printf(c, "            const %s *restrict xo = x0 + (o * %lld + %lld - l) * %lld;\n", cx->T, L, L - 1, I);
    sb_printf(c, "            %s *restrict yo = y + (o * %lld + l) * %lld;\n", cx->T, L, I);
    fill_loop(cx, "            ", I, "yo[j]", "xo[j]");
    sb_puts(c, "        }\n");
    cgk_tail(cx);
}
