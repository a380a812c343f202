/* ops_core.c — shape and gradient rules of the core ops, each forward rule
 * next to its backward. Sources (input, param, const) need none of their
 * own, nor do the elementwise shapes (ops.def names the shared rules of
 * shape.c; the formulas are there too):
 *
 *   copy, neg, relu, sigmoid, tanh, exp, log (x)      -> x's shape
 *   add, sub, mul, div (a, b)                        -> the broadcast shape
 *   relu_grad, sigmoid_grad, tanh_grad (dy, x or y)  -> x's shape
 *   sum(x) over axes [a0, a1), times scale           -> x without those axes
 *   expand(x) (sum's adjoint)                        -> the attribute shape
 *   reshape(x)                                       -> the attribute shape
 *   matmul(a, b) of 2-D views, attrs ta, tb          -> [M, N] (a's leading dims)
 *   softmax, log_softmax (x), over the last axis     -> x's shape
 *   softmax_grad, log_softmax_grad (dy, y)           -> y's shape
 *   cross_entropy(logits [..., C], labels i32 [...]) -> scalar
 *   bce(p, t)                                        -> scalar
 *   cross_entropy_grad, bce_grad (dy, prediction, target) -> prediction's shape
 *   stop_gradient(x)                                 -> x's shape, no gradient into x
 *
 * Gradient ops are never differentiated again (their grad column is
 * GRAD_NONE).
 */
#include "rules.h"

/* ---- elementwise -------------------------------------------------------- */

void vjp_COPY(ad_ctx *c, ir_node *n, int dy) { ad_acc(c, n, 0, dy); }
void vjp_NEG(ad_ctx *c, ir_node *n, int dy) { ad_acc(c, n, 0, ad_op1(c, IR_NEG, n, dy)); }
void vjp_RELU(ad_ctx *c, ir_node *n, int dy) { ad_acc(c, n, 0, ad_op2(c, IR_RELU_GRAD, n, dy, n->in[0])); }
void vjp_SIGMOID(ad_ctx *c, ir_node *n, int dy) { ad_acc(c, n, 0, ad_op2(c, IR_SIGMOID_GRAD, n, dy, n->id)); }
void vjp_TANH(ad_ctx *c, ir_node *n, int dy) { ad_acc(c, n, 0, ad_op2(c, IR_TANH_GRAD, n, dy, n->id)); }
void vjp_EXP(ad_ctx *c, ir_node *n, int dy) { ad_acc(c, n, 0, ad_op2(c, IR_MUL, n, dy, n->id)); }
void vjp_LOG(ad_ctx *c, ir_node *n, int dy) { ad_acc(c, n, 0, ad_op2(c, IR_DIV, n, dy, n->in[0])); }

void vjp_ADD(ad_ctx *c, ir_node *n, int dy) {
    ad_acc(c, n, 0, dy);
    ad_acc(c, n, 1, dy);
}

void vjp_SUB(ad_ctx *c, ir_node *n, int dy) {
    ad_acc(c, n, 0, dy);
    if (ad_needs(c, n, 1)) ad_acc(c, n, 1, ad_op1(c, IR_NEG, n, dy));
}

void vjp_MUL(ad_ctx *c, ir_node *n, int dy) {
    if (ad_needs(c, n, 0)) ad_acc(c, n, 0, ad_op2(c, IR_MUL, n, dy, n->in[1]));
    if (ad_needs(c, n, 1)) ad_acc(c, n, 1, ad_op2(c, IR_MUL, n, dy, n->in[0]));
}

/* y = a / b: da = dy / b, db = -dy * y / b */
void vjp_DIV(ad_ctx *c, ir_node *n, int dy) {
    if (ad_needs(c, n, 0)) ad_acc(c, n, 0, ad_op2(c, IR_DIV, n, dy, n->in[1]));
    if (ad_needs(c, n, 1)) {
        int q = ad_op2(c, IR_DIV, n, n->id, n->in[1]);
        ad_acc(c, n, 1, ad_op1(c, IR_NEG, n, ad_op2(c, IR_MUL, n, dy, q)));
    }
}

/* ---- reductions and shapes --------------------------------------------- */

const char *shape_SUM(ir_graph *g, ir_node *n) {
    const ir_shape *a = &ir_in(g, n, 0)->shape;
    int a0 = (int)n->iattr[0], a1 = (int)n->iattr[1];
    if (a0 < 0 || a1 > a->rank || a0 > a1)
        return arena_printf(g->a, "axes [%d, %d) out of range for %s", a0, a1, ir_sstr(g, a));
    n->shape.rank = 0;
    for (int i = 0; i < a->rank; i++)
        if (i < a0 || i >= a1) n->shape.d[n->shape.rank++] = a->d[i];
    return shape_float_inputs(g, n);
}

void vjp_SUM(ad_ctx *c, ir_node *n, int dy) {
    ir_node *e = ir_add_expand(c->g, dy, ir_in(c->g, n, 0)->shape, (int)n->iattr[0],
                               (int)n->iattr[1], n->fattr[0], n->loc);
    e->is_grad = 1;
    ad_acc(c, n, 0, e->id);
}

/* EXPAND: the output shape is the attribute ashape; removing axes
 * [a0, a1) from it must give the input shape. */
const char *shape_EXPAND(ir_graph *g, ir_node *n) {
    const ir_shape *a = &ir_in(g, n, 0)->shape, *to = &n->ashape;
    int a0 = (int)n->iattr[0], a1 = (int)n->iattr[1];
    if (a0 < 0 || a0 > a1 || a1 > to->rank || to->rank - (a1 - a0) != a->rank)
        return arena_printf(g->a, "cannot expand %s to %s", ir_sstr(g, a), ir_sstr(g, to));
    for (int i = 0, j = 0; i < to->rank; i++) {
        if (i >= a0 && i < a1) continue;
        if (to->d[i] != a->d[j++])
            return arena_printf(g->a, "cannot expand %s to %s", ir_sstr(g, a), ir_sstr(g, to));
    }
    n->shape = *to;
    return shape_float_inputs(g, n);
}

/* dx = the sum over the expanded axes, with the same scale */
void vjp_EXPAND(ad_ctx *c, ir_node *n, int dy) {
    int64_t ia[IR_MAX_ATTR] = {n->iattr[0], n->iattr[1]};
    double fa[4] = {n->fattr[0]};
    ad_acc(c, n, 0, ad_op(c, IR_SUM, n, &dy, ia, fa, NULL));
}

const char *shape_RESHAPE(ir_graph *g, ir_node *n) {
    const ir_shape *a = &ir_in(g, n, 0)->shape;
    if (!ir_shape_fits(&n->ashape)) return ir_size_error(g->a, "reshape: the target shape", DT_F32, &n->ashape);
    if (ir_numel(a) != ir_numel(&n->ashape))
        return arena_printf(g->a, "cannot reshape %s (%lld elements) to %s (%lld elements)",
                            ir_sstr(g, a), (long long)ir_numel(a), ir_sstr(g, &n->ashape),
                            (long long)ir_numel(&n->ashape));
    n->shape = n->ashape;
    n->dtype = ir_in(g, n, 0)->dtype;
    return NULL;
}

void vjp_RESHAPE(ad_ctx *c, ir_node *n, int dy) {
    ir_node *r = ir_add_reshape(c->g, dy, ir_in(c->g, n, 0)->shape, n->loc);
    r->is_grad = 1;
    ad_acc(c, n, 0, r->id);
}

/* ---- matrix product ----------------------------------------------------- */

/* Rows and columns of a tensor viewed as a matrix [prod(leading), last]. */
static void as_matrix(const ir_shape *s, int64_t *r, int64_t *c) {
    *c = s->rank ? s->d[s->rank - 1] : 1;
    *r = s->rank ? ir_numel(s) / (*c ? *c : 1) : 1;
}

void ir_matmul_dims(const ir_graph *g, const ir_node *n, int64_t *m,
                    int64_t *k, int64_t *nn) {
    int64_t ar, ac, br, bc;
    as_matrix(&g->nodes.data[n->in[0]]->shape, &ar, &ac);
    as_matrix(&g->nodes.data[n->in[1]]->shape, &br, &bc);
    *m = n->iattr[0] ? ac : ar;
    *k = n->iattr[0] ? ar : ac;
    *nn = n->iattr[1] ? br : bc;
}

const char *shape_MATMUL(ir_graph *g, ir_node *n) {
    const ir_shape *a = &ir_in(g, n, 0)->shape, *b = &ir_in(g, n, 1)->shape;
    if (a->rank < 2 || b->rank < 2)
        return arena_printf(g->a, "matmul needs matrices, got %s and %s", ir_sstr(g, a), ir_sstr(g, b));
    int64_t ar, ac, br, bc;
    as_matrix(a, &ar, &ac);
    as_matrix(b, &br, &bc);
    int64_t k1 = n->iattr[0] ? ar : ac, k2 = n->iattr[1] ? bc : br;
    if (k1 != k2)
        return arena_printf(g->a, "matmul inner dimensions differ: %s%s and %s%s (%lld vs %lld)",
                            ir_sstr(g, a), n->iattr[0] ? "^T" : "", ir_sstr(g, b),
                            n->iattr[1] ? "^T" : "", (long long)k1, (long long)k2);
    int64_t m, k, nn;
    ir_matmul_dims(g, n, &m, &k, &nn);
    if (!n->iattr[0] && a->rank > 2) { /* keep a's leading dims */
        n->shape = *a;
        n->shape.d[a->rank - 1] = nn;
    } else {
        int64_t d[2] = {m, nn};
        n->shape = ir_shape_make(2, d);
    }
    return shape_float_inputs(g, n);
}

static int product(ad_ctx *c, const ir_node *at, int a, int b, int ta, int tb) {
    int in[2] = {a, b};
    int64_t ia[IR_MAX_ATTR] = {ta, tb};
    return ad_op(c, at->op, at, in, ia, NULL, NULL);
}

/* C = op(A) op(B), for MATMUL and (per batch) BMM: the gradients are
 * products of the same op; see docs/design.md for the four transpose cases. */
void ad_product_vjp(ad_ctx *c, ir_node *n, int dy) {
    int A = n->in[0], B = n->in[1], ta = (int)n->iattr[0], tb = (int)n->iattr[1];
    if (ad_needs(c, n, 0)) {
        int da = !ta ? product(c, n, dy, B, 0, !tb) : !tb ? product(c, n, B, dy, 0, 1) : product(c, n, B, dy, 1, 1);
        ad_acc(c, n, 0, da);
    }
    if (ad_needs(c, n, 1)) {
        int db = !tb ? product(c, n, A, dy, !ta, 0) : !ta ? product(c, n, dy, A, 1, 0) : product(c, n, dy, A, 1, 1);
        ad_acc(c, n, 1, db);
    }
}

void vjp_MATMUL(ad_ctx *c, ir_node *n, int dy) { ad_product_vjp(c, n, dy); }

/* ---- softmax ------------------------------------------------------------ */

void vjp_SOFTMAX(ad_ctx *c, ir_node *n, int dy) { ad_acc(c, n, 0, ad_op2(c, IR_SOFTMAX_GRAD, n, dy, n->id)); }
void vjp_LOG_SOFTMAX(ad_ctx *c, ir_node *n, int dy) {
    ad_acc(c, n, 0, ad_op2(c, IR_LOG_SOFTMAX_GRAD, n, dy, n->id));
}

/* ---- losses ------------------------------------------------------------- */

/* Targets are data, so only the prediction gets a gradient (elaboration
 * rejects targets that depend on parameters); the gradient ops take the
 * incoming scalar gradient first. */

/* XENT(logits [N, C], labels i32 [N]) -> scalar */
const char *shape_XENT(ir_graph *g, ir_node *n) {
    const ir_shape *a = &ir_in(g, n, 0)->shape, *b = &ir_in(g, n, 1)->shape;
    if (ir_in(g, n, 0)->dtype != DT_F32 || ir_in(g, n, 1)->dtype != DT_I32)
        return arena_printf(g->a, "cross_entropy expects f32 logits and i32 class labels");
    ir_shape want = *a;
    want.rank = a->rank ? a->rank - 1 : 0;
    if (a->rank < 2 || b->rank != a->rank - 1)
        return arena_printf(g->a,
                            "cross_entropy: logits %s need labels of shape %s (the logits without the class axis), "
                            "got %s",
                            ir_sstr(g, a), ir_sstr(g, &want), ir_sstr(g, b));
    for (int i = 0; i < b->rank; i++)
        if (a->d[i] != b->d[i])
            return arena_printf(g->a, "cross_entropy: logits %s and labels %s differ in the batch dims",
                                ir_sstr(g, a), ir_sstr(g, b));
    n->shape = ir_scalar_shape();
    n->dtype = DT_F32;
    n->iattr[IR_ATTR_INDEX_INPUT] = 1;
    n->iattr[IR_ATTR_INDEX_BOUND] = a->d[a->rank - 1];
    return NULL;
}
void vjp_XENT(ad_ctx *c, ir_node *n, int dy) { ad_acc(c, n, 0, ad_op3(c, IR_XENT_GRAD, n, dy, n->in[0], n->in[1])); }

const char *shape_XENT_GRAD(ir_graph *g, ir_node *n) {
    n->shape = ir_in(g, n, 1)->shape;
    n->dtype = DT_F32;
    return NULL;
}

const char *shape_BCE(ir_graph *g, ir_node *n) {
    const ir_shape *a = &ir_in(g, n, 0)->shape, *b = &ir_in(g, n, 1)->shape;
    if (!ir_shape_eq(a, b))
        return arena_printf(g->a, "binary_cross_entropy: prediction %s and target %s differ",
                            ir_sstr(g, a), ir_sstr(g, b));
    n->shape = ir_scalar_shape();
    return shape_float_inputs(g, n);
}
void vjp_BCE(ad_ctx *c, ir_node *n, int dy) { ad_acc(c, n, 0, ad_op3(c, IR_BCE_GRAD, n, dy, n->in[0], n->in[1])); }

const char *shape_BCE_GRAD(ir_graph *g, ir_node *n) {
    n->shape = ir_in(g, n, 1)->shape;
    n->dtype = DT_F32;
    return NULL;
}

/* stop_gradient: autodiff marks it as needing no gradient (ad_backward), so
 * this rule is never asked for one; if it were, nothing flows into x. */
void vjp_STOP_GRAD(ad_ctx *c, ir_node *n, int dy) { (void)c, (void)n, (void)dy; }
