/* ops_attn.c — shape and gradient rules of the attn family: tensor shape
 * ops (permute, slice and its adjoint pad, concat, flip), batched matrix
 * products, embeddings and the causal mask of attention.
 *
 * Each forward rule sits next to its gradient rule. Every gradient is IR
 * over ops of this file or the core, so autodiff needs nothing else:
 *
 *   permute  <- permute by the inverse permutation
 *   slice    <- pad (zeros around the slice)      pad <- slice
 *   concat   <- two slices
 *   bmm      <- two bmm (the four transpose cases of matmul)
 *   embedding <- embedding_grad (a scatter-add into the table)
 *   causal_mask <- causal_mask with fill 0 (masked entries get no gradient)
 *   flip     <- flip along the same axis
 */
#include "rules.h"

#include <stdlib.h>

/* ---- permute ------------------------------------------------------------ */

/* PERMUTE x [d0, ..., d(r-1)] -> [d(perm[0]), ..., d(perm[r-1])], perm in
 * iattr[0..r). */
const char *shape_PERMUTE(ir_graph *g, ir_node *n) {
    const ir_shape *a = &ir_in(g, n, 0)->shape;
    int seen[IR_MAX_RANK] = {0}, ok = 1;
    for (int k = 0; k < a->rank; k++) {
        int64_t p = n->iattr[k];
        if (p < 0 || p >= a->rank || seen[p]++) ok = 0;
    }
    if (!ok) {
        strbuf b;
        sb_init(&b);
        for (int k = 0; k < a->rank; k++) sb_printf(&b, "%s%lld", k ? ", " : "", (long long)n->iattr[k]);
        const char *msg = arena_printf(g->a, "permute: [%s] is not a permutation of the %d axes of %s",
                                       b.s, a->rank, ir_sstr(g, a));
        sb_free(&b);
        return msg;
    }
    n->shape.rank = a->rank;
    for (int k = 0; k < a->rank; k++) n->shape.d[k] = a->d[n->iattr[k]];
    return shape_float_inputs(g, n);
}

/* dx = permute(dy, inverse of perm) */
void vjp_PERMUTE(ad_ctx *c, ir_node *n, int dy) {
    int64_t inv[IR_MAX_ATTR] = {0};
    for (int k = 0; k < n->shape.rank; k++) inv[n->iattr[k]] = k;
    ad_acc(c, n, 0, ad_op(c, IR_PERMUTE, n, &dy, inv, NULL, NULL));
}

/* ---- slice and pad ------------------------------------------------------ */

/* SLICE x [..., L, ...] -> [..., end - start, ...] along iattr[0] = axis,
 * keeping [start, end) = iattr[1], iattr[2]. */
const char *shape_SLICE(ir_graph *g, ir_node *n) {
    const ir_shape *a = &ir_in(g, n, 0)->shape;
    int64_t ax = n->iattr[0], lo = n->iattr[1], hi = n->iattr[2];
    if (ax < 0 || ax >= a->rank)
        return arena_printf(g->a, "slice: axis %lld is out of range for %s", (long long)ax, ir_sstr(g, a));
    if (lo < 0 || hi > a->d[ax] || lo >= hi)
        return arena_printf(g->a, "slice: [%lld, %lld) is out of range for axis %lld of %s (size %lld)",
                            (long long)lo, (long long)hi, (long long)ax, ir_sstr(g, a), (long long)a->d[ax]);
    n->shape = *a;
    n->shape.d[ax] = hi - lo;
    return shape_float_inputs(g, n);
}

/* dx = dy padded with zeros back to x's length along the axis */
void vjp_SLICE(ad_ctx *c, ir_node *n, int dy) {
    int64_t ia[IR_MAX_ATTR] = {n->iattr[0], n->iattr[1], ir_in(c->g, n, 0)->shape.d[n->iattr[0]]};
    ad_acc(c, n, 0, ad_op(c, IR_PAD, n, &dy, ia, NULL, NULL));
}

/* PAD x [..., l, ...] -> [..., L, ...] along iattr[0] = axis: zeros, with x
 * at [start, start + l), start = iattr[1], L = iattr[2]. */
const char *shape_PAD(ir_graph *g, ir_node *n) {
    const ir_shape *a = &ir_in(g, n, 0)->shape;
    int64_t ax = n->iattr[0], lo = n->iattr[1], len = n->iattr[2];
    int64_t hi;
    if (ax < 0 || ax >= a->rank || lo < 0 || ck_add_i64(lo, a->d[ax], &hi) || hi > len)
        return arena_printf(g->a, "pad: cannot place %s at %lld of %lld along axis %lld", ir_sstr(g, a),
                            (long long)lo, (long long)len, (long long)ax);
    n->shape = *a;
    n->shape.d[ax] = len;
    return shape_float_inputs(g, n);
}

/* dx = the slice of dy where x was placed */
void vjp_PAD(ad_ctx *c, ir_node *n, int dy) {
    int64_t ax = n->iattr[0];
    int64_t ia[IR_MAX_ATTR] = {ax, n->iattr[1], n->iattr[1] + ir_in(c->g, n, 0)->shape.d[ax]};
    ad_acc(c, n, 0, ad_op(c, IR_SLICE, n, &dy, ia, NULL, NULL));
}

/* ---- concat ------------------------------------------------------------- */

/* CONCAT a [..., La, ...], b [..., Lb, ...] -> [..., La + Lb, ...] along
 * iattr[0] = axis; every other axis equal. */
const char *shape_CONCAT(ir_graph *g, ir_node *n) {
    const ir_shape *a = &ir_in(g, n, 0)->shape, *b = &ir_in(g, n, 1)->shape;
    int64_t ax = n->iattr[0];
    if (a->rank != b->rank)
        return arena_printf(g->a, "concat: operands of different rank: %s and %s", ir_sstr(g, a), ir_sstr(g, b));
    if (ax < 0 || ax >= a->rank)
        return arena_printf(g->a, "concat: axis %lld is out of range for %s", (long long)ax, ir_sstr(g, a));
    for (int i = 0; i < a->rank; i++)
        if (i != ax && a->d[i] != b->d[i])
            return arena_printf(g->a, "concat along axis %lld: %s and %s differ in axis %d (%lld vs %lld)",
                                (long long)ax, ir_sstr(g, a), ir_sstr(g, b), i, (long long)a->d[i], (long long)b->d[i]);
    n->shape = *a;
    if (ck_add_i64(a->d[ax], b->d[ax], &n->shape.d[ax]))
        return arena_printf(g->a, "concat along axis %lld: %s and %s: the joined axis overflows 64 bits",
                            (long long)ax, ir_sstr(g, a), ir_sstr(g, b));
    return shape_float_inputs(g, n);
}

/* da, db = the two parts of dy */
void vjp_CONCAT(ad_ctx *c, ir_node *n, int dy) {
    int64_t ax = n->iattr[0], la = ir_in(c->g, n, 0)->shape.d[ax];
    int64_t ia[IR_MAX_ATTR] = {ax, 0, la}, ib[IR_MAX_ATTR] = {ax, la, n->shape.d[ax]};
    if (ad_needs(c, n, 0)) ad_acc(c, n, 0, ad_op(c, IR_SLICE, n, &dy, ia, NULL, NULL));
    if (ad_needs(c, n, 1)) ad_acc(c, n, 1, ad_op(c, IR_SLICE, n, &dy, ib, NULL, NULL));
}

/* ---- batched matrix product --------------------------------------------- */

/* The sizes of BMM n: batch count, M, K, N of C[M, N] = op(A)[M, K] op(B)[K, N]. */
void ir_bmm_dims(const ir_graph *g, const ir_node *n, int64_t *nb, int64_t *m, int64_t *k, int64_t *nn) {
    const ir_shape *a = &g->nodes.data[n->in[0]]->shape, *b = &g->nodes.data[n->in[1]]->shape;
    int r = a->rank;
    *nb = 1;
    for (int i = 0; i < r - 2; i++) *nb *= a->d[i];
    *m = n->iattr[0] ? a->d[r - 1] : a->d[r - 2];
    *k = n->iattr[0] ? a->d[r - 2] : a->d[r - 1];
    *nn = n->iattr[1] ? b->d[r - 2] : b->d[r - 1];
}

/* BMM a [..., M, K], b [..., K, N] -> [..., M, N]; ta (iattr[0]) means a is
 * [..., K, M], tb (iattr[1]) that b is [..., N, K]. Batch dims equal. */
const char *shape_BMM(ir_graph *g, ir_node *n) {
    const ir_shape *a = &ir_in(g, n, 0)->shape, *b = &ir_in(g, n, 1)->shape;
    const char *ta = n->iattr[0] ? "^T" : "", *tb = n->iattr[1] ? "^T" : "";
    if (a->rank < 2 || a->rank != b->rank)
        return arena_printf(g->a, "bmm needs operands of equal rank >= 2, got %s and %s", ir_sstr(g, a), ir_sstr(g, b));
    int r = a->rank;
    for (int i = 0; i < r - 2; i++)
        if (a->d[i] != b->d[i])
            return arena_printf(g->a, "bmm: batch dimensions differ: %s and %s", ir_sstr(g, a), ir_sstr(g, b));
    int64_t k1 = n->iattr[0] ? a->d[r - 2] : a->d[r - 1], k2 = n->iattr[1] ? b->d[r - 1] : b->d[r - 2];
    if (k1 != k2)
        return arena_printf(g->a, "bmm inner dimensions differ: %s%s and %s%s (%lld vs %lld)", ir_sstr(g, a), ta,
                            ir_sstr(g, b), tb, (long long)k1, (long long)k2);
    int64_t nb, m, k, nn;
    ir_bmm_dims(g, n, &nb, &m, &k, &nn);
    n->shape = *a;
    n->shape.d[r - 2] = m;
    n->shape.d[r - 1] = nn;
    return shape_float_inputs(g, n);
}

/* C = op(A) op(B) per batch: the gradient rule of MATMUL (ops_core.c). */
void vjp_BMM(ad_ctx *c, ir_node *n, int dy) { ad_product_vjp(c, n, dy); }

/* ---- embeddings --------------------------------------------------------- */

/* EMBEDDING ids i32 [...], weight [V, D] -> [..., D]: row ids[r] of the
 * table. The entry points check 0 <= ids < V. */
const char *shape_EMBEDDING(ir_graph *g, ir_node *n) {
    const ir_node *ids = ir_in(g, n, 0), *w = ir_in(g, n, 1);
    if (ids->dtype != DT_I32)
        return arena_printf(g->a, "embedding: ids must be i32 token ids, got f32%s", ir_sstr(g, &ids->shape));
    if (w->dtype != DT_F32 || w->shape.rank != 2)
        return arena_printf(g->a, "embedding: the table must be f32 [vocab, dim], got %s", ir_sstr(g, &w->shape));
    if (ids->shape.rank >= IR_MAX_RANK)
        return arena_printf(g->a, "embedding: ids %s leave no room for the embedding axis (rank <= %d)",
                            ir_sstr(g, &ids->shape), IR_MAX_RANK);
    n->shape = ids->shape;
    n->shape.d[n->shape.rank++] = w->shape.d[1];
    n->dtype = DT_F32;
    n->iattr[IR_ATTR_INDEX_INPUT] = 0;
    n->iattr[IR_ATTR_INDEX_BOUND] = w->shape.d[0];
    return NULL;
}

/* dweight = embedding_grad(dy, ids); ids get no gradient */
void vjp_EMBEDDING(ad_ctx *c, ir_node *n, int dy) {
    const ir_node *w = ir_in(c->g, n, 1);
    int in[2] = {dy, n->in[0]};
    int64_t ia[IR_MAX_ATTR] = {w->shape.d[0]};
    ad_acc(c, n, 1, ad_op(c, IR_EMBEDDING_GRAD, n, in, ia, NULL, NULL));
}

/* EMBEDDING_GRAD dy [..., D], ids i32 [...] -> [V, D], V = iattr[0]:
 * row v is the sum of the rows r of dy with ids[r] == v. */
const char *shape_EMBEDDING_GRAD(ir_graph *g, ir_node *n) {
    const ir_node *dy = ir_in(g, n, 0), *ids = ir_in(g, n, 1);
    if (dy->dtype != DT_F32 || ids->dtype != DT_I32 || dy->shape.rank != ids->shape.rank + 1)
        return arena_printf(g->a, "embedding_grad: gradient %s does not match ids %s", ir_sstr(g, &dy->shape),
                            ir_sstr(g, &ids->shape));
    int64_t d[2] = {n->iattr[0], dy->shape.d[dy->shape.rank - 1]};
    n->shape = ir_shape_make(2, d);
    n->dtype = DT_F32;
    n->iattr[IR_ATTR_INDEX_INPUT] = 1;
    n->iattr[IR_ATTR_INDEX_BOUND] = n->iattr[0];
    return NULL;
}

/* ---- causal mask -------------------------------------------------------- */

/* CAUSAL_MASK x [..., T, T] -> the same, with x[..., i, j] for j > i
 * replaced by fattr[0]. */
const char *shape_CAUSAL_MASK(ir_graph *g, ir_node *n) {
    const ir_shape *a = &ir_in(g, n, 0)->shape;
    if (a->rank < 2 || a->d[a->rank - 1] != a->d[a->rank - 2])
        return arena_printf(g->a, "causal_mask needs square matrices [..., T, T], got %s", ir_sstr(g, a));
    n->shape = *a;
    return shape_float_inputs(g, n);
}

/* dx = dy with the masked entries zeroed (they are constants) */
void vjp_CAUSAL_MASK(ad_ctx *c, ir_node *n, int dy) {
    double fa[4] = {0};
    ad_acc(c, n, 0, ad_op(c, IR_CAUSAL_MASK, n, &dy, NULL, fa, NULL));
}

/* ---- flip --------------------------------------------------------------- */

/* FLIP x -> the same shape, reversed along iattr[0] = axis. */
const char *shape_FLIP(ir_graph *g, ir_node *n) {
    const ir_shape *a = &ir_in(g, n, 0)->shape;
    if (n->iattr[0] < 0 || n->iattr[0] >= a->rank)
        return arena_printf(g->a, "flip: axis %lld is out of range for %s", (long long)n->iattr[0], ir_sstr(g, a));
    n->shape = *a;
    return shape_float_inputs(g, n);
}

/* dx = dy flipped back along the same axis */
void vjp_FLIP(ad_ctx *c, ir_node *n, int dy) {
    int64_t ia[IR_MAX_ATTR] = {n->iattr[0]};
    ad_acc(c, n, 0, ad_op(c, IR_FLIP, n, &dy, ia, NULL, NULL));
}
