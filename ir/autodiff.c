/* autodiff.c — reverse-mode differentiation of the IR into more IR.
 *
 * Walks the forward graph from the loss backwards. Each op has one VJP rule
 * (vjp_OP) that, given the gradient dy of its output, adds the nodes that
 * compute the gradient of each input and hands them to acc(), which sums
 * gradients where a value fans out and undoes suffix broadcasting. The new
 * nodes are ordinary IR: the same passes and backends handle them.
 */
#include "ir.h"

#include <stdlib.h>

typedef struct ad_ctx {
    ir_graph *g;
    int *grad;   /* per node id: id of its accumulated gradient, or -1 */
    char *needs; /* per node id: 1 if it depends on a parameter */
} ad_ctx;

typedef void (*vjp_fn)(ad_ctx *c, ir_node *n, int dy);

static ir_node *IN(ad_ctx *c, ir_node *n, int i) { return c->g->nodes.data[n->in[i]]; }

/* Add an op node that autodiff builds; its shape rule cannot fail. */
static int op(ad_ctx *c, ir_op o, ir_node *at, int a, int b, int cc, int64_t i0, int64_t i1) {
    int in[3] = {a, b, cc};
    int64_t ia[4] = {i0, i1, 0, 0};
    int nin = ir_ops[o].nin;
    const char *err = NULL;
    ir_node *n = ir_add(c->g, o, in, nin, ia, NULL, at->loc, &err);
    if (!n) {
        fprintf(stderr, "nnc: internal error in autodiff of %s: %s\n", ir_ops[at->op].name, err);
        abort();
    }
    n->is_grad = 1;
    return n->id;
}
#define OP1(o, at, a) op(c, o, at, a, -1, -1, 0, 0)
#define OP2(o, at, a, b) op(c, o, at, a, b, -1, 0, 0)

/* Sum gradient gid down to the shape `to` it was broadcast from. */
static int unbroadcast(ad_ctx *c, ir_node *at, int gid, const ir_shape *to) {
    ir_graph *g = c->g;
    const ir_shape *gs = &g->nodes.data[gid]->shape;
    if (ir_shape_eq(gs, to)) return gid;
    int a1 = ir_numel(to) == 1 ? gs->rank : gs->rank - to->rank;
    int id = op(c, IR_SUM, at, gid, -1, -1, 0, a1);
    g->nodes.data[id]->fattr[0] = 1;
    if (!ir_shape_eq(&g->nodes.data[id]->shape, to)) {
        ir_node *r = ir_add_reshape(g, id, *to, at->loc);
        r->is_grad = 1;
        id = r->id;
    }
    return id;
}

/* Accumulate gradient gid into input i of n. */
static void acc(ad_ctx *c, ir_node *n, int i, int gid) {
    int x = n->in[i];
    if (!c->needs[x]) return;
    ir_node *xn = c->g->nodes.data[x];
    ir_node *gn = c->g->nodes.data[gid];
    if (!ir_shape_eq(&gn->shape, &xn->shape)) {
        if (ir_numel(&gn->shape) == ir_numel(&xn->shape)) {
            ir_node *r = ir_add_reshape(c->g, gid, xn->shape, n->loc);
            r->is_grad = 1;
            gid = r->id;
        } else {
            gid = unbroadcast(c, n, gid, &xn->shape);
        }
    }
    c->grad[x] = c->grad[x] < 0 ? gid : OP2(IR_ADD, n, c->grad[x], gid);
}

static void vjp_none(ad_ctx *c, ir_node *n, int dy) { (void)c, (void)n, (void)dy; }
#define vjp_INPUT vjp_none
#define vjp_PARAM vjp_none
#define vjp_CONST vjp_none

/* Gradient ops are made by autodiff and never differentiated again
 * (nnc computes first derivatives only). */
static void vjp_second_order(ad_ctx *c, ir_node *n, int dy) {
    (void)c, (void)dy;
    fprintf(stderr, "nnc: internal error: second derivative of %s requested\n", ir_ops[n->op].name);
    abort();
}
#define vjp_RELU_GRAD vjp_second_order
#define vjp_SIGMOID_GRAD vjp_second_order
#define vjp_TANH_GRAD vjp_second_order
#define vjp_SOFTMAX_GRAD vjp_second_order
#define vjp_LOG_SOFTMAX_GRAD vjp_second_order
#define vjp_XENT_GRAD vjp_second_order
#define vjp_BCE_GRAD vjp_second_order

static void vjp_COPY(ad_ctx *c, ir_node *n, int dy) { acc(c, n, 0, dy); }
static void vjp_NEG(ad_ctx *c, ir_node *n, int dy) { acc(c, n, 0, OP1(IR_NEG, n, dy)); }
static void vjp_RELU(ad_ctx *c, ir_node *n, int dy) { acc(c, n, 0, OP2(IR_RELU_GRAD, n, dy, n->in[0])); }
static void vjp_SIGMOID(ad_ctx *c, ir_node *n, int dy) { acc(c, n, 0, OP2(IR_SIGMOID_GRAD, n, dy, n->id)); }
static void vjp_TANH(ad_ctx *c, ir_node *n, int dy) { acc(c, n, 0, OP2(IR_TANH_GRAD, n, dy, n->id)); }
static void vjp_EXP(ad_ctx *c, ir_node *n, int dy) { acc(c, n, 0, OP2(IR_MUL, n, dy, n->id)); }
static void vjp_LOG(ad_ctx *c, ir_node *n, int dy) { acc(c, n, 0, OP2(IR_DIV, n, dy, n->in[0])); }

static void vjp_ADD(ad_ctx *c, ir_node *n, int dy) {
    acc(c, n, 0, dy);
    acc(c, n, 1, dy);
}

static void vjp_SUB(ad_ctx *c, ir_node *n, int dy) {
    acc(c, n, 0, dy);
    if (c->needs[n->in[1]]) acc(c, n, 1, OP1(IR_NEG, n, dy));
}

static void vjp_MUL(ad_ctx *c, ir_node *n, int dy) {
    if (c->needs[n->in[0]]) acc(c, n, 0, OP2(IR_MUL, n, dy, n->in[1]));
    if (c->needs[n->in[1]]) acc(c, n, 1, OP2(IR_MUL, n, dy, n->in[0]));
}

/* y = a / b: da = dy / b, db = -dy * y / b */
static void vjp_DIV(ad_ctx *c, ir_node *n, int dy) {
    if (c->needs[n->in[0]]) acc(c, n, 0, OP2(IR_DIV, n, dy, n->in[1]));
    if (c->needs[n->in[1]]) {
        int q = OP2(IR_DIV, n, n->id, n->in[1]);
        acc(c, n, 1, OP1(IR_NEG, n, OP2(IR_MUL, n, dy, q)));
    }
}

static void vjp_SUM(ad_ctx *c, ir_node *n, int dy) {
    ir_node *e = ir_add_expand(c->g, dy, IN(c, n, 0)->shape, (int)n->iattr[0],
                               (int)n->iattr[1], n->fattr[0], n->loc);
    e->is_grad = 1;
    acc(c, n, 0, e->id);
}

static void vjp_EXPAND(ad_ctx *c, ir_node *n, int dy) {
    int s = op(c, IR_SUM, n, dy, -1, -1, n->iattr[0], n->iattr[1]);
    c->g->nodes.data[s]->fattr[0] = n->fattr[0];
    acc(c, n, 0, s);
}

static void vjp_RESHAPE(ad_ctx *c, ir_node *n, int dy) {
    ir_node *r = ir_add_reshape(c->g, dy, IN(c, n, 0)->shape, n->loc);
    r->is_grad = 1;
    acc(c, n, 0, r->id);
}

/* C = op(A) op(B); see docs/design.md for the four transpose cases. */
static void vjp_MATMUL(ad_ctx *c, ir_node *n, int dy) {
    int A = n->in[0], B = n->in[1], ta = (int)n->iattr[0], tb = (int)n->iattr[1];
    if (c->needs[A]) {
        int da = !ta ? op(c, IR_MATMUL, n, dy, B, -1, 0, !tb)
                     : (!tb ? op(c, IR_MATMUL, n, B, dy, -1, 0, 1) : op(c, IR_MATMUL, n, B, dy, -1, 1, 1));
        acc(c, n, 0, da);
    }
    if (c->needs[B]) {
        int db = !tb ? op(c, IR_MATMUL, n, A, dy, -1, !ta, 0)
                     : (!ta ? op(c, IR_MATMUL, n, dy, A, -1, 1, 0) : op(c, IR_MATMUL, n, dy, A, -1, 1, 1));
        acc(c, n, 1, db);
    }
}

static void vjp_SOFTMAX(ad_ctx *c, ir_node *n, int dy) { acc(c, n, 0, OP2(IR_SOFTMAX_GRAD, n, dy, n->id)); }
static void vjp_LOG_SOFTMAX(ad_ctx *c, ir_node *n, int dy) {
    acc(c, n, 0, OP2(IR_LOG_SOFTMAX_GRAD, n, dy, n->id));
}

/* Losses: targets are data, so only the prediction gets a gradient
 * (elaboration rejects targets that depend on parameters). */
static void vjp_XENT(ad_ctx *c, ir_node *n, int dy) {
    acc(c, n, 0, op(c, IR_XENT_GRAD, n, dy, n->in[0], n->in[1], 0, 0));
}
static void vjp_BCE(ad_ctx *c, ir_node *n, int dy) {
    acc(c, n, 0, op(c, IR_BCE_GRAD, n, dy, n->in[0], n->in[1], 0, 0));
}

static const vjp_fn vjp_rules[IR_NUM_OPS] = {
#define OP(e, name, nin, cls, expr) [IR_##e] = vjp_##e,
#include "ops.def"
#undef OP
};

/* A gradient node can be pinned to its parameter's gradient slot only if it
 * is an op node of its own; otherwise copy it. */
static int pinnable(ad_ctx *c, int gid, const char *taken) {
    ir_node *n = c->g->nodes.data[gid];
    return ir_ops[n->op].cls != OPC_SOURCE && !taken[gid];
}

void ad_backward(ir_graph *g) {
    int n0 = g->nodes.len;
    ad_ctx c = {g, malloc(sizeof(int) * (size_t)n0), calloc((size_t)n0, 1)};
    for (int i = 0; i < n0; i++) {
        ir_node *n = g->nodes.data[i];
        c.grad[i] = -1;
        c.needs[i] = n->role == ROLE_PARAM;
        for (int j = 0; j < n->nin; j++) c.needs[i] |= c.needs[n->in[j]];
    }
    c.grad[g->loss] = ir_const_scalar(g, 1.0, g->nodes.data[g->loss]->loc)->id;
    for (int i = g->loss; i >= 0; i--)
        if (c.grad[i] >= 0 && c.needs[i]) vjp_rules[g->nodes.data[i]->op](&c, g->nodes.data[i], c.grad[i]);
    char *taken = calloc((size_t)g->nodes.len + (size_t)g->params.len, 1);
    g->grads.len = 0;
    for (int p = 0; p < g->params.len; p++) {
        int gid = c.grad[g->params.data[p]];
        if (gid >= 0 && !pinnable(&c, gid, taken)) gid = op(&c, IR_COPY, g->nodes.data[gid], gid, -1, -1, 0, 0);
        if (gid >= 0) taken[gid] = 1;
        arr_push(g->a, g->grads, gid);
    }
    free(taken);
    free(c.grad);
    free(c.needs);
}
