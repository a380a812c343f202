/* k_attn.c — CUDA kernels of the attn family: permute, slice, pad,
 * concat, bmm, embedding, embedding_grad, causal_mask and flip (ir/ops_attn.c
 * for their semantics, codegen/c/k_attn.c for the C target's kernels).
 *
 *   copies        one thread per output element, grid-stride; the source
 *                 index from the element's coordinates (literals). permute
 *                 walks the output in order over the merged loops of the C
 *                 kernel (size-1 axes dropped, axes still adjacent in the
 *                 input merged), so the coordinate arithmetic is short.
 *   bmm           one cublas{S,D}gemmStridedBatched on ex's handle and
 *                 stream: row-major C = op(A) op(B) is column-major
 *                 C^T = op(B)^T op(A)^T, so the operands swap.
 *   embedding     one thread per output element: y[r, d] = w[ids[r], d].
 *   embedding_grad  deterministic without atomics: a block per (VB rows
 *                 v of the gradient, 256 columns); its threads (one per
 *                 column d) walk all ids in order, through shared memory
 *                 1024 at a time, adding dy[r, d] to row ids[r] when it is
 *                 one of theirs: the C kernel's order of additions, so the
 *                 same values. VB doubles from 1 (up to 32) while that
 *                 still leaves 264 blocks (large vocabularies); the work is
 *                 V / VB * R id compares per column block (a sort by id
 *                 would scale better still).
 *   causal_mask, flip  one thread per element.
 */
#include "cuk.h"


typedef long long ll;


/* ---- shared pieces ------------------------------------------------------ */

/* x viewed as [outer, len, inner] around axis ax. */
static void view3(const ir_shape *s, int ax, ll *outer, ll *len, ll *inner) {
    int64_t o, l, i;
    ir_reduce_view(s, ax, ax + 1, &o, &l, &i);
    *outer = o, *len = l, *inner = i;
}

/* ---- permute ------------------------------------------------------------ */

/* y[i] = x[the input offset of output element i]. */
void cu_emit_PERMUTE(cg_ctx *cx, const ir_node *n) {
    ll sz[IR_MAX_RANK], sd[IR_MAX_RANK];
    int nd = cg_permute_loops(&cg_in(cx, n, 0)->shape, n->iattr, sz, sd);
    if (!cg_numel(n)) return cuk_empty(cx, n);
    const char *IX = cuk_ix(cx, n);
    strbuf *c = cx->c;
    cuk_grid_open(cx, n, IX, cg_numel(n));
    /* coordinate k of loop k: i / (product of the later sizes) % sz[k] */
    sb_printf(c, "        const %s src = ", IX);
    ll inner = 1;
    for (int k = nd - 1; k >= 0; k--) {
        const char *q = inner == 1 ? "i" : arena_printf(cx->g->a, "i / %lld", inner);
        const char *co = k == 0 ? q : arena_printf(cx->g->a, "%s %% %lld", q, sz[k]);
        sb_printf(c, "%s(%s) * %lld", k == nd - 1 ? "" : " + ", co, sd[k]);
        inner *= sz[k];
    }
    sb_puts(c, ";\n        y[i] = x0[src];\n");
    cuk_grid_close(cx, n, cg_numel(n));
}

/* ---- slice, pad, concat ------------------------------------------------- */

/* y[o, l - start, i] = x[o, l, i] for l in [start, end). */
void cu_emit_SLICE(cg_ctx *cx, const ir_node *n) {
    ll O, L, I, lo = n->iattr[1], hi = n->iattr[2];
    view3(&cg_in(cx, n, 0)->shape, (int)n->iattr[0], &O, &L, &I);
    if (!cg_numel(n)) return cuk_empty(cx, n);
    const char *IX = cuk_ix(cx, n);
    ll run = (hi - lo) * I;
    cuk_grid_open(cx, n, IX, cg_numel(n));
    sb_printf(cx->c, "        y[i] = x0[i / %lld * %lld + %lld + i %% %lld];\n", run, L * I, lo * I, run);
    cuk_grid_close(cx, n, cg_numel(n));
}

/* y = zeros with x at [start, start + l) along the axis. */
void cu_emit_PAD(cg_ctx *cx, const ir_node *n) {
    ll O, l, I, lo = n->iattr[1], L = n->iattr[2];
    view3(&cg_in(cx, n, 0)->shape, (int)n->iattr[0], &O, &l, &I);
    if (!cg_numel(n)) return cuk_empty(cx, n);
    const char *IX = cuk_ix(cx, n);
    cuk_grid_open(cx, n, IX, cg_numel(n));
    sb_printf(cx->c, "        const %s o = i / %lld, r = i %% %lld - %lld;\n", IX, L * I, L * I, lo * I);
    sb_printf(cx->c, "        y[i] = r >= 0 && r < %lld ? x0[o * %lld + r] : 0;\n", l * I, l * I);
    cuk_grid_close(cx, n, cg_numel(n));
}

/* y[o] = [a[o], b[o]] along the axis. */
void cu_emit_CONCAT(cg_ctx *cx, const ir_node *n) {
    ll O, La, Lb, I;
    int ax = (int)n->iattr[0];
    view3(&cg_in(cx, n, 0)->shape, ax, &O, &La, &I);
    Lb = cg_in(cx, n, 1)->shape.d[ax];
    if (!cg_numel(n)) return cuk_empty(cx, n);
    const char *IX = cuk_ix(cx, n);
    cuk_grid_open(cx, n, IX, cg_numel(n));
    sb_printf(cx->c, "        const %s o = i / %lld, r = i %% %lld;\n", IX, (La + Lb) * I, (La + Lb) * I);
    sb_printf(cx->c, "        y[i] = r < %lld ? x0[o * %lld + r] : x1[o * %lld + r - %lld];\n", La * I, La * I, Lb * I,
              La * I);
    cuk_grid_close(cx, n, cg_numel(n));
}

/* ---- batched matrix product --------------------------------------------- */

/* y[t] = op(A[t]) op(B[t]) for every batch t: one strided-batched GEMM.
 * Row-major y [M, N] is column-major y^T [N, M] = op(B)^T op(A)^T, and a
 * row-major operand is its column-major transpose with the same leading
 * dimension: B (or B^T with tb) leads with N (K), A with K (M with ta). */
void cu_emit_BMM(cg_ctx *cx, const ir_node *n) {
    int64_t d[4];
    ir_bmm_dims(cx->g, n, &d[0], &d[1], &d[2], &d[3]);
    const ll nb = d[0], M = d[1], K = d[2], N = d[3];
    int ta = (int)n->iattr[0], tb = (int)n->iattr[1];
    if (!cg_numel(n)) return cuk_empty(cx, n);
    strbuf *c = cx->c;
    const char *T = cx->T;
    cuk_head(cx, n);
    if (K == 0) { /* an empty sum: zeros */
        sb_printf(c, "    (void)x0;\n    (void)x1;\n");
        sb_printf(c, "    return nnrt_cu_check(ex, cudaMemsetAsync(y, 0, %lld * sizeof(%s), ex->stream), \"%s\");\n",
                  cg_numel(n), T, cg_kernel_name(cx, n));
        cuk_tail(cx);
        return;
    }
    const char *fn = cx->o->f64 ? "cublasDgemmStridedBatched" : "cublasSgemmStridedBatched";
    sb_printf(c, "    const %s one = 1, zero = 0;\n", T);
    sb_printf(c, "    return nnrt_cu_blas_check(ex, %s(ex->blas, %s, %s, %lld, %lld, %lld, &one, x1, %lld, "
                 "%lldLL, x0, %lld, %lldLL, &zero, y, %lld, %lldLL, %lld), \"%s\");\n",
              fn, tb ? "CUBLAS_OP_T" : "CUBLAS_OP_N", ta ? "CUBLAS_OP_T" : "CUBLAS_OP_N", N, M, K, tb ? K : N, K * N,
              ta ? M : K, M * K, N, M * N, nb, fn);
    cuk_tail(cx);
}

/* ---- embeddings --------------------------------------------------------- */

/* y[r, d] = weight[ids[r], d] (ids range-checked by the entry point).
 * x0 = ids, x1 = weight. */
void cu_emit_EMBEDDING(cg_ctx *cx, const ir_node *n) {
    ll D = cg_last(n);
    if (!cg_numel(n)) return cuk_empty(cx, n);
    const char *IX = cuk_ix(cx, n);
    cuk_grid_open(cx, n, IX, cg_numel(n));
    sb_printf(cx->c, "        y[i] = x1[(%s)x0[i / %lld] * %lld + i %% %lld];\n", IX, D, D, D);
    cuk_grid_close(cx, n, cg_numel(n));
}

enum { EMB_CHUNK = 1024, EMB_BLOCKS = 264 };

/* dweight[v] = sum of dy[r] over the rows r with ids[r] == v, in order of
 * r. x0 = dy, x1 = ids. A block takes VB rows [v0, v0 + VB) of dweight
 * (VB = 1 unless there are enough blocks anyway: large vocabularies) and
 * NT columns; thread d keeps VB sums in registers (the unrolled compare
 * picks the one to add to). */
void cu_emit_EMBEDDING_GRAD(cg_ctx *cx, const ir_node *n) {
    ll R = cg_numel(cg_in(cx, n, 1)), D = cg_last(n), V = n->shape.d[0];
    if (!cg_numel(n)) return cuk_empty(cx, n);
    const char *IX = cuk_ix(cx, n), *T = cx->T;
    int NT = D >= 256 ? 256 : (int)((D + 31) / 32 * 32);
    ll cols = (D + NT - 1) / NT;
    int VB = 1;
    while (VB < 32 && (V + 2 * VB - 1) / (2 * VB) * cols >= EMB_BLOCKS) VB *= 2;
    strbuf *c = cx->c;
    cuk_kernel(cx, n, "main", NT, NULL);
    sb_printf(c, "    __shared__ int32_t ids[%d];\n", EMB_CHUNK);
    sb_printf(c, "    const int32_t v0 = (int32_t)blockIdx.x * %d;\n", VB);
    sb_printf(c, "    const %s d = (%s)blockIdx.y * %d + threadIdx.x;\n", IX, IX, NT);
    sb_printf(c, "    %s s[%d];\n", T, VB);
    sb_printf(c, "#pragma unroll\n    for (int k = 0; k < %d; k++) s[k] = 0;\n", VB);
    sb_printf(c, "    for (%s r0 = 0; r0 < %lld; r0 += %d) {\n", IX, R, EMB_CHUNK);
    sb_printf(c, "        const int len = %lld - r0 < %d ? (int)(%lld - r0) : %d;\n", R, EMB_CHUNK, R, EMB_CHUNK);
    sb_puts(c, "        __syncthreads(); /* the previous chunk is used up */\n");
    sb_printf(c, "        for (int e = threadIdx.x; e < len; e += %d) ids[e] = x1[r0 + e];\n", NT);
    sb_puts(c, "        __syncthreads();\n");
    sb_printf(c, "        if (d < %lld)\n", D);
    sb_puts(c, "            for (int e = 0; e < len; e++) {\n");
    sb_puts(c, "                const int32_t u = ids[e] - v0;\n");
    sb_printf(c, "                if (u >= 0 && u < %d) {\n", VB);
    sb_printf(c, "                    const %s g = x0[(r0 + e) * %lld + d];\n", T, D);
    sb_printf(c, "#pragma unroll\n                    for (int k = 0; k < %d; k++)\n", VB);
    sb_puts(c, "                        if (k == u) s[k] += g;\n                }\n            }\n    }\n");
    sb_printf(c, "    if (d < %lld)\n", D);
    sb_printf(c, "#pragma unroll\n        for (int k = 0; k < %d; k++)\n", VB);
    sb_printf(c, "            if (v0 + k < %lld) y[(%s)(v0 + k) * %lld + d] = s[k];\n}\n", V, IX, D);
    cuk_head(cx, n);
    cuk_launch(cx, n, "main", arena_printf(cx->g->a, "dim3(%lld, %lld)", (V + VB - 1) / VB, cols),
               arena_printf(cx->g->a, "%d", NT), 0);
    cuk_check_launch(cx, n);
    cuk_tail(cx);
}

/* ---- causal mask -------------------------------------------------------- */

/* Row i of each [T, T] matrix: x up to the diagonal, then the fill value. */
void cu_emit_CAUSAL_MASK(cg_ctx *cx, const ir_node *n) {
    ll T = cg_last(n);
    if (!cg_numel(n)) return cuk_empty(cx, n);
    const char *IX = cuk_ix(cx, n);
    cuk_grid_open(cx, n, IX, cg_numel(n));
    sb_printf(cx->c, "        y[i] = i %% %lld <= i / %lld %% %lld ? x0[i] : ", T, T, T);
    cg_literal(cx, cx->c, n->fattr[0]);
    sb_puts(cx->c, ";\n");
    cuk_grid_close(cx, n, cg_numel(n));
}

/* ---- flip --------------------------------------------------------------- */

/* y[o, l, i] = x[o, L - 1 - l, i]. */
void cu_emit_FLIP(cg_ctx *cx, const ir_node *n) {
    ll O, L, I;
    view3(&n->shape, (int)n->iattr[0], &O, &L, &I);
    if (!cg_numel(n)) return cuk_empty(cx, n);
    const char *IX = cuk_ix(cx, n);
    cuk_grid_open(cx, n, IX, cg_numel(n));
    sb_printf(cx->c, "        const %s l = i / %lld %% %lld;\n", IX, I, L);
    sb_printf(cx->c, "        y[i] = x0[i + (%lld - 2 * l) * %lld];\n", L - 1, I);
    cuk_grid_close(cx, n, cg_numel(n));
}
