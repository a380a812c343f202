/* autodiff.c — reverse-mode differentiation of the IR into more IR.
 *
 * Walks the forward graph from the loss backwards. Each op has one VJP rule
 * (vjp_OP) that, given the gradient dy of its output, adds the nodes that
 * compute the gradient of each input and hands them to acc(), which sums
 * gradients where a value fans out and undoes suffix broadcasting. The new
 * nodes are ordinary IR: the same passes and backends handle them.
 */
#include "rules.h"

#include <stdlib.h>

typedef void (*vjp_fn)(ad_ctx *c, ir_node *n, int dy);

static ir_node *IN(ad_ctx *c, const ir_node *n, int i) { return c->g->nodes.data[n->in[i]]; }

int ad_op(ad_ctx *c, ir_op o, const ir_node *at, const int *in, const int64_t *ia,
          const double *fa, const ir_shape *ashape) {
    const char *err = NULL;
    ir_node *n;
    if (ashape) { /* ops whose output shape is an attribute */
        n = o == IR_RESHAPE ? ir_add_reshape(c->g, in[0], *ashape, at->loc)
                            : ir_add_expand(c->g, in[0], *ashape, (int)ia[0], (int)ia[1], fa ? fa[0] : 1, at->loc);
    } else {
        n = ir_add(c->g, o, in, ir_ops[o].nin, ia, fa, at->loc, &err);
    }
    if (!n) {
        fprintf(stderr, "nnc: internal error in autodiff of %s: %s\n", ir_ops[at->op].name, err);
        abort();
    }
    n->is_grad = 1;
    return n->id;
}

int ad_op1(ad_ctx *c, ir_op o, const ir_node *at, int a) { return ad_op(c, o, at, &a, NULL, NULL, NULL); }

int ad_op2(ad_ctx *c, ir_op o, const ir_node *at, int a, int b) {
    int in[2] = {a, b};
    return ad_op(c, o, at, in, NULL, NULL, NULL);
}

int ad_op3(ad_ctx *c, ir_op o, const ir_node *at, int a, int b, int d) {
    int in[3] = {a, b, d};
    return ad_op(c, o, at, in, NULL, NULL, NULL);
}

int ad_needs(const ad_ctx *c, const ir_node *n, int i) { return c->needs[n->in[i]]; }

/* op(c, o, at, a, b, d, i0, i1): a node with two integer attributes. */
static int op(ad_ctx *c, ir_op o, const ir_node *at, int a, int b, int d, int64_t i0, int64_t i1) {
    int in[3] = {a, b, d};
    int64_t ia[IR_MAX_ATTR] = {i0, i1};
    return ad_op(c, o, at, in, ia, NULL, NULL);
}
#define OP1(o, at, a) ad_op1(c, o, at, a)
#define OP2(o, at, a, b) ad_op2(c, o, at, a, b)

/* Sum gradient gid down to the shape `to` it was broadcast from. */
static int unbroadcast(ad_ctx *c, const ir_node *at, int gid, const ir_shape *to) {
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
void ad_acc(ad_ctx *c, const ir_node *n, int i, int gid) {
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

void ad_no_vjp(ad_ctx *c, ir_node *n, int dy) {
    (void)c, (void)dy;
    fprintf(stderr, "nnc: internal error: gradient of %s requested (only ops of a forward graph are differentiated)\n",
            ir_ops[n->op].name);
    abort();
}
/* Gradient ops are made by autodiff and never differentiated again
 * (nnc computes first derivatives only). */
#define vjp_RELU_GRAD ad_no_vjp
#define vjp_SIGMOID_GRAD ad_no_vjp
#define vjp_TANH_GRAD ad_no_vjp
#define vjp_SOFTMAX_GRAD ad_no_vjp
#define vjp_LOG_SOFTMAX_GRAD ad_no_vjp
#define vjp_XENT_GRAD ad_no_vjp
#define vjp_BCE_GRAD ad_no_vjp

void vjp_COPY(ad_ctx *c, ir_node *n, int dy) { ad_acc(c, n, 0, dy); }
void vjp_NEG(ad_ctx *c, ir_node *n, int dy) { ad_acc(c, n, 0, OP1(IR_NEG, n, dy)); }
void vjp_RELU(ad_ctx *c, ir_node *n, int dy) { ad_acc(c, n, 0, OP2(IR_RELU_GRAD, n, dy, n->in[0])); }
void vjp_SIGMOID(ad_ctx *c, ir_node *n, int dy) { ad_acc(c, n, 0, OP2(IR_SIGMOID_GRAD, n, dy, n->id)); }
void vjp_TANH(ad_ctx *c, ir_node *n, int dy) { ad_acc(c, n, 0, OP2(IR_TANH_GRAD, n, dy, n->id)); }
void vjp_EXP(ad_ctx *c, ir_node *n, int dy) { ad_acc(c, n, 0, OP2(IR_MUL, n, dy, n->id)); }
void vjp_LOG(ad_ctx *c, ir_node *n, int dy) { ad_acc(c, n, 0, OP2(IR_DIV, n, dy, n->in[0])); }

void vjp_ADD(ad_ctx *c, ir_node *n, int dy) {
    ad_acc(c, n, 0, dy);
    ad_acc(c, n, 1, dy);
}

void vjp_SUB(ad_ctx *c, ir_node *n, int dy) {
    ad_acc(c, n, 0, dy);
    if (c->needs[n->in[1]]) ad_acc(c, n, 1, OP1(IR_NEG, n, dy));
}

void vjp_MUL(ad_ctx *c, ir_node *n, int dy) {
    if (c->needs[n->in[0]]) ad_acc(c, n, 0, OP2(IR_MUL, n, dy, n->in[1]));
    if (c->needs[n->in[1]]) ad_acc(c, n, 1, OP2(IR_MUL, n, dy, n->in[0]));
}

/* y = a / b: da = dy / b, db = -dy * y / b */
void vjp_DIV(ad_ctx *c, ir_node *n, int dy) {
    if (c->needs[n->in[0]]) ad_acc(c, n, 0, OP2(IR_DIV, n, dy, n->in[1]));
    if (c->needs[n->in[1]]) {
        int q = OP2(IR_DIV, n, n->id, n->in[1]);
        ad_acc(c, n, 1, OP1(IR_NEG, n, OP2(IR_MUL, n, dy, q)));
    }
}

void vjp_SUM(ad_ctx *c, ir_node *n, int dy) {
    ir_node *e = ir_add_expand(c->g, dy, IN(c, n, 0)->shape, (int)n->iattr[0],
                               (int)n->iattr[1], n->fattr[0], n->loc);
    e->is_grad = 1;
    ad_acc(c, n, 0, e->id);
}

void vjp_EXPAND(ad_ctx *c, ir_node *n, int dy) {
    int s = op(c, IR_SUM, n, dy, -1, -1, n->iattr[0], n->iattr[1]);
    c->g->nodes.data[s]->fattr[0] = n->fattr[0];
    ad_acc(c, n, 0, s);
}

void vjp_RESHAPE(ad_ctx *c, ir_node *n, int dy) {
    ir_node *r = ir_add_reshape(c->g, dy, IN(c, n, 0)->shape, n->loc);
    r->is_grad = 1;
    ad_acc(c, n, 0, r->id);
}

/* C = op(A) op(B); see docs/design.md for the four transpose cases. */
void vjp_MATMUL(ad_ctx *c, ir_node *n, int dy) {
    int A = n->in[0], B = n->in[1], ta = (int)n->iattr[0], tb = (int)n->iattr[1];
    if (c->needs[A]) {
        int da = !ta ? op(c, IR_MATMUL, n, dy, B, -1, 0, !tb)
                     : (!tb ? op(c, IR_MATMUL, n, B, dy, -1, 0, 1) : op(c, IR_MATMUL, n, B, dy, -1, 1, 1));
        ad_acc(c, n, 0, da);
    }
    if (c->needs[B]) {
        int db = !tb ? op(c, IR_MATMUL, n, A, dy, -1, !ta, 0)
                     : (!ta ? op(c, IR_MATMUL, n, dy, A, -1, 1, 0) : op(c, IR_MATMUL, n, dy, A, -1, 1, 1));
        ad_acc(c, n, 1, db);
    }
}

void vjp_SOFTMAX(ad_ctx *c, ir_node *n, int dy) { ad_acc(c, n, 0, OP2(IR_SOFTMAX_GRAD, n, dy, n->id)); }
void vjp_LOG_SOFTMAX(ad_ctx *c, ir_node *n, int dy) {
    ad_acc(c, n, 0, OP2(IR_LOG_SOFTMAX_GRAD, n, dy, n->id));
}

/* Losses: targets are data, so only the prediction gets a gradient
 * (elaboration rejects targets that depend on parameters). */
void vjp_XENT(ad_ctx *c, ir_node *n, int dy) {
    ad_acc(c, n, 0, op(c, IR_XENT_GRAD, n, dy, n->in[0], n->in[1], 0, 0));
}
void vjp_BCE(ad_ctx *c, ir_node *n, int dy) {
    ad_acc(c, n, 0, op(c, IR_BCE_GRAD, n, dy, n->in[0], n->in[1], 0, 0));
}

static const vjp_fn vjp_rules[IR_NUM_OPS] = {
#define OP(e, name, nin, cls, flags, expr) [IR_##e] = vjp_##e,
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
