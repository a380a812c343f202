/* shape.c — one shape rule per op. Each fills n->shape and n->dtype from the
 * inputs and attributes, or returns a message naming the shapes involved. */
#include "rules.h"

typedef const char *(*shape_fn)(ir_graph *g, ir_node *n);

ir_node *ir_in(const ir_graph *g, const ir_node *n, int i) { return g->nodes.data[n->in[i]]; }
const char *ir_sstr(ir_graph *g, const ir_shape *s) { return ir_shape_str(g->a, s); }
#define IN ir_in
#define S ir_sstr

int ir_broadcast(const ir_shape *a, const ir_shape *b, ir_shape *out) {
    /* At equal rank the bigger one is the one with more elements, so that
     * [1] op [3] broadcasts as [3] op [1] does. */
    const ir_shape *big = a->rank > b->rank || (a->rank == b->rank && ir_numel(a) >= ir_numel(b)) ? a : b;
    const ir_shape *small = big == a ? b : a;
    if (ir_numel(small) == 1 && small->rank <= big->rank) {
        *out = *big;
        return 1;
    }
    for (int i = 1; i <= small->rank; i++)
        if (small->d[small->rank - i] != big->d[big->rank - i]) return 0;
    *out = *big;
    return 1;
}

void ir_reduce_view(const ir_shape *s, int a0, int a1, int64_t *outer,
                    int64_t *len, int64_t *inner) {
    *outer = *len = *inner = 1;
    for (int i = 0; i < s->rank; i++) {
        if (i < a0) *outer *= s->d[i];
        else if (i < a1) *len *= s->d[i];
        else *inner *= s->d[i];
    }
}

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

void ir_bmm_dims(const ir_graph *g, const ir_node *n, int64_t *nb, int64_t *m, int64_t *k, int64_t *nn) {
    const ir_shape *a = &g->nodes.data[n->in[0]]->shape, *b = &g->nodes.data[n->in[1]]->shape;
    int r = a->rank;
    *nb = 1;
    for (int i = 0; i < r - 2; i++) *nb *= a->d[i];
    *m = n->iattr[0] ? a->d[r - 1] : a->d[r - 2];
    *k = n->iattr[0] ? a->d[r - 2] : a->d[r - 1];
    *nn = n->iattr[1] ? b->d[r - 2] : b->d[r - 1];
}

const char *shape_float_inputs(ir_graph *g, ir_node *n) {
    for (int i = 0; i < n->nin; i++)
        if (IN(g, n, i)->dtype != DT_F32)
            return arena_printf(g->a, "%s expects f32 operands, got i32",
                                ir_ops[n->op].name);
    n->dtype = DT_F32;
    return NULL;
}

static const char *shape_source(ir_graph *g, ir_node *n) {
    (void)g, (void)n;
    return NULL;
}
#define shape_INPUT shape_source
#define shape_PARAM shape_source
#define shape_CONST shape_source

static const char *shape_unary(ir_graph *g, ir_node *n) {
    n->shape = IN(g, n, 0)->shape;
    return shape_float_inputs(g, n);
}
#define shape_COPY shape_unary
#define shape_NEG shape_unary
#define shape_RELU shape_unary
#define shape_SIGMOID shape_unary
#define shape_TANH shape_unary
#define shape_EXP shape_unary
#define shape_LOG shape_unary
#define shape_SOFTMAX shape_unary
#define shape_LOG_SOFTMAX shape_unary

static const char *shape_binary(ir_graph *g, ir_node *n) {
    const ir_shape *a = &IN(g, n, 0)->shape, *b = &IN(g, n, 1)->shape;
    const char *e = shape_float_inputs(g, n);
    if (e) return e;
    if (!ir_broadcast(a, b, &n->shape))
        return arena_printf(g->a, "cannot broadcast %s with %s", S(g, a), S(g, b));
    return NULL;
}
#define shape_ADD shape_binary
#define shape_SUB shape_binary
#define shape_MUL shape_binary
#define shape_DIV shape_binary

/* Gradient ops: same shape as both operands. */
static const char *shape_same2(ir_graph *g, ir_node *n) {
    const ir_shape *a = &IN(g, n, 0)->shape, *b = &IN(g, n, 1)->shape;
    if (!ir_shape_eq(a, b))
        return arena_printf(g->a, "%s operands differ: %s and %s",
                            ir_ops[n->op].name, S(g, a), S(g, b));
    n->shape = *a;
    return shape_float_inputs(g, n);
}
#define shape_RELU_GRAD shape_same2
#define shape_SIGMOID_GRAD shape_same2
#define shape_TANH_GRAD shape_same2
#define shape_SOFTMAX_GRAD shape_same2
#define shape_LOG_SOFTMAX_GRAD shape_same2

const char *shape_SUM(ir_graph *g, ir_node *n) {
    const ir_shape *a = &IN(g, n, 0)->shape;
    int a0 = (int)n->iattr[0], a1 = (int)n->iattr[1];
    if (a0 < 0 || a1 > a->rank || a0 > a1)
        return arena_printf(g->a, "axes [%d, %d) out of range for %s", a0, a1, S(g, a));
    n->shape.rank = 0;
    for (int i = 0; i < a->rank; i++)
        if (i < a0 || i >= a1) n->shape.d[n->shape.rank++] = a->d[i];
    return shape_float_inputs(g, n);
}

/* EXPAND: the output shape is the attribute ashape; removing axes
 * [a0, a1) from it must give the input shape. */
const char *shape_EXPAND(ir_graph *g, ir_node *n) {
    const ir_shape *a = &IN(g, n, 0)->shape, *to = &n->ashape;
    int a0 = (int)n->iattr[0], a1 = (int)n->iattr[1];
    if (a0 < 0 || a0 > a1 || a1 > to->rank || to->rank - (a1 - a0) != a->rank)
        return arena_printf(g->a, "cannot expand %s to %s", S(g, a), S(g, to));
    for (int i = 0, j = 0; i < to->rank; i++) {
        if (i >= a0 && i < a1) continue;
        if (to->d[i] != a->d[j++])
            return arena_printf(g->a, "cannot expand %s to %s", S(g, a), S(g, to));
    }
    n->shape = *to;
    return shape_float_inputs(g, n);
}

const char *shape_RESHAPE(ir_graph *g, ir_node *n) {
    const ir_shape *a = &IN(g, n, 0)->shape;
    if (ir_numel(a) != ir_numel(&n->ashape))
        return arena_printf(g->a, "cannot reshape %s (%lld elements) to %s (%lld elements)",
                            S(g, a), (long long)ir_numel(a), S(g, &n->ashape),
                            (long long)ir_numel(&n->ashape));
    n->shape = n->ashape;
    n->dtype = IN(g, n, 0)->dtype;
    return NULL;
}

const char *shape_MATMUL(ir_graph *g, ir_node *n) {
    const ir_shape *a = &IN(g, n, 0)->shape, *b = &IN(g, n, 1)->shape;
    if (a->rank < 2 || b->rank < 2)
        return arena_printf(g->a, "matmul needs matrices, got %s and %s", S(g, a), S(g, b));
    int64_t ar, ac, br, bc;
    as_matrix(a, &ar, &ac);
    as_matrix(b, &br, &bc);
    int64_t k1 = n->iattr[0] ? ar : ac, k2 = n->iattr[1] ? bc : br;
    if (k1 != k2)
        return arena_printf(g->a, "matmul inner dimensions differ: %s%s and %s%s (%lld vs %lld)",
                            S(g, a), n->iattr[0] ? "^T" : "", S(g, b),
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

/* XENT(logits [N, C], labels i32 [N]) -> scalar */
const char *shape_XENT(ir_graph *g, ir_node *n) {
    const ir_shape *a = &IN(g, n, 0)->shape, *b = &IN(g, n, 1)->shape;
    if (IN(g, n, 0)->dtype != DT_F32 || IN(g, n, 1)->dtype != DT_I32)
        return arena_printf(g->a, "cross_entropy expects f32 logits and i32 class labels");
    ir_shape want = *a;
    want.rank = a->rank ? a->rank - 1 : 0;
    if (a->rank < 2 || b->rank != a->rank - 1)
        return arena_printf(g->a, "cross_entropy: logits %s need labels of shape %s (the logits without the class axis), got %s",
                            S(g, a), S(g, &want), S(g, b));
    for (int i = 0; i < b->rank; i++)
        if (a->d[i] != b->d[i])
            return arena_printf(g->a, "cross_entropy: logits %s and labels %s differ in the batch dims",
                                S(g, a), S(g, b));
    n->shape = ir_scalar_shape();
    n->dtype = DT_F32;
    n->iattr[IR_ATTR_INDEX_INPUT] = 1;
    n->iattr[IR_ATTR_INDEX_BOUND] = a->d[a->rank - 1];
    return NULL;
}

const char *shape_XENT_GRAD(ir_graph *g, ir_node *n) {
    n->shape = IN(g, n, 1)->shape;
    n->dtype = DT_F32;
    return NULL;
}

const char *shape_BCE(ir_graph *g, ir_node *n) {
    const ir_shape *a = &IN(g, n, 0)->shape, *b = &IN(g, n, 1)->shape;
    if (!ir_shape_eq(a, b))
        return arena_printf(g->a, "binary_cross_entropy: prediction %s and target %s differ",
                            S(g, a), S(g, b));
    n->shape = ir_scalar_shape();
    return shape_float_inputs(g, n);
}

const char *shape_BCE_GRAD(ir_graph *g, ir_node *n) {
    n->shape = IN(g, n, 1)->shape;
    n->dtype = DT_F32;
    return NULL;
}

static const shape_fn shape_rules[IR_NUM_OPS] = {
#define OP(e, name, nin, cls, flags, expr) [IR_##e] = shape_##e,
#include "ops.def"
#undef OP
};

const char *ir_infer_shape(ir_graph *g, ir_node *n) {
    if (ir_ops[n->op].nin >= 0 && n->nin != ir_ops[n->op].nin)
        return arena_printf(g->a, "%s takes %d inputs, got %d", ir_ops[n->op].name,
                            ir_ops[n->op].nin, n->nin);
    return shape_rules[n->op](g, n);
}
