/* autodiff.c — reverse-mode differentiation of the IR into more IR.
 *
 * Walks the forward graph from the loss backwards. Each op has one VJP rule,
 * picked by the grad column of its ops.def row: its own vjp_OP (with its
 * family in ir/ops_*.c) that, given the gradient dy of its output, adds the
 * nodes that compute the gradient of each input and hands them to ad_acc(),
 * which sums gradients where a value fans out and undoes suffix
 * broadcasting. The new nodes are ordinary IR: the same passes and backends
 * handle them. This file holds that machinery and the shared rules.
 */
#include "rules.h"

#include <stdlib.h>

typedef void (*vjp_fn)(ad_ctx *c, ir_node *n, int dy);

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
    n->block = at->block; /* --emit=dot-train draws it in its forward node's block */
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

/* Sum gradient gid down to the shape `to` it was broadcast from. */
static int unbroadcast(ad_ctx *c, const ir_node *at, int gid, const ir_shape *to) {
    ir_graph *g = c->g;
    const ir_shape *gs = &g->nodes.data[gid]->shape;
    if (ir_shape_eq(gs, to)) return gid;
    int a1 = ir_numel(to) == 1 ? gs->rank : gs->rank - to->rank;
    int64_t ia[IR_MAX_ATTR] = {0, a1};
    double fa[4] = {1};
    int id = ad_op(c, IR_SUM, at, &gid, ia, fa, NULL);
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
    c->grad[x] = c->grad[x] < 0 ? gid : ad_op2(c, IR_ADD, n, c->grad[x], gid);
}

/* GRAD_LEAF: a source has no inputs to pass its gradient to. */
static void vjp_leaf(ad_ctx *c, ir_node *n, int dy) { (void)c, (void)n, (void)dy; }

void ad_no_vjp(ad_ctx *c, ir_node *n, int dy) {
    (void)c, (void)dy;
    fprintf(stderr, "nnc: internal error: gradient of %s requested (only ops of a forward graph are differentiated)\n",
            ir_ops[n->op].name);
    abort();
}

/* The row's grad column picks the rule: GRAD_OWN rows have a vjp_OP of
 * their own (ir/ops_*.c); gradient ops, statistics and fused ops are never
 * differentiated (nnc computes first derivatives only). */
#define RULE_GRAD_OWN(e) vjp_##e
#define RULE_GRAD_LEAF(e) vjp_leaf
#define RULE_GRAD_NONE(e) ad_no_vjp
static const vjp_fn vjp_rules[IR_NUM_OPS] = {
#define OP(e, name, nin, cls, shape, grad, flags, expr) [IR_##e] = RULE_##grad(e),
#include "ops.def"
#undef OP
};

/* A gradient node can be pinned to its parameter's gradient slot only if it
 * is an op node of its own; otherwise copy it. */
static int pinnable(ad_ctx *c, int gid, const char *taken) {
    ir_node *n = c->g->nodes.data[gid];
    return ir_ops[n->op].cls != OPC_SOURCE && !taken[gid];
}

/* The gradient slot of node x (a parameter, or an input that requires its
 * gradient): its gradient node, copied when that cannot be pinned; -1 if
 * it has none. */
static int grad_slot(ad_ctx *c, int x, char *taken) {
    int gid = c->grad[x];
    if (gid >= 0 && !pinnable(c, gid, taken)) gid = ad_op1(c, IR_COPY, c->g->nodes.data[gid], gid);
    if (gid >= 0) taken[gid] = 1;
    return gid;
}

void ad_backward(ir_graph *g) {
    int n0 = g->nodes.len;
    ad_ctx c = {g, malloc(sizeof(int) * (size_t)n0), calloc((size_t)n0, 1)};
    for (int i = 0; i < n0; i++) {
        ir_node *n = g->nodes.data[i];
        c.grad[i] = -1;
        c.needs[i] = n->role == ROLE_PARAM || (n->role == ROLE_INPUT && n->requires_grad);
        for (int j = 0; j < n->nin; j++) c.needs[i] |= c.needs[n->in[j]];
        if (n->op == IR_STOP_GRAD) c.needs[i] = 0; /* x.detach(): a constant to the backward */
    }
    c.grad[g->loss] = ir_const_scalar(g, 1.0, g->nodes.data[g->loss]->loc)->id;
    for (int i = g->loss; i >= 0; i--)
        if (c.grad[i] >= 0 && c.needs[i]) vjp_rules[g->nodes.data[i]->op](&c, g->nodes.data[i], c.grad[i]);
    char *taken = calloc((size_t)g->nodes.len + (size_t)g->params.len + (size_t)g->inputs.len, 1);
    g->grads.len = g->input_grads.len = 0;
    for (int p = 0; p < g->params.len; p++) arr_push(g->a, g->grads, grad_slot(&c, g->params.data[p], taken));
    for (int i = 0; i < g->inputs.len; i++) {
        int x = g->inputs.data[i];
        arr_push(g->a, g->input_grads, g->nodes.data[x]->requires_grad ? grad_slot(&c, x, taken) : -1);
    }
    free(taken);
    free(c.grad);
    free(c.needs);
}
