/* lib_rand.c — the built-in random sources, with PyTorch's names:
 *
 *   randn(shape), rand(shape)    torch.randn / torch.rand: standard normal,
 *                                uniform in [0, 1); shape a list of
 *                                positive integers ([B, 20]) or one number
 *   randn_like(x), rand_like(x)  the same with x's shape (x gets no
 *                                gradient from them: only its shape is read)
 *
 * Each call is the model's k-th random op (k counts dropout calls too, in
 * elaboration order, the same in both passes of a mode-dependent model;
 * k < 256). Element i in call c of the entry points (P_forward, P_loss and
 * P_forward_backward each start a new call: a new draw every call, and
 * P_reset restarts the count) is word i % 4 of Philox4x32-10(key = the
 * model's seed, counter = (2^63 | c << 8 | k, i / 4)), mapped as libnnrt's
 * fills (nnrt_fill_normal, nnrt_fill_uniform) map it. They are the same in
 * training and inference: not mode-dependent.
 */
#include "elab.h"

#include <math.h>

enum { MAX_RANDOM = 256 }; /* random ops per model: k fits the low 8 bits of the stream */

/* The shape argument: a list of positive integers, or one positive integer. */
static int shape_arg(elab *e, const builtin *b, val *v, ir_shape *out) {
    const char *want = "%s: argument 'shape' must be a list of positive integers such as [2, 3]";
    if (v->kind == V_ERR) return 0;
    if (v->kind == V_NUM) {
        double d = v->num;
        if (!(d >= 1 && d == floor(d) && d < 9.2e18)) return diag_error(e->d, v->span, want, b->name), 0;
        out->rank = 1;
        out->d[0] = (int64_t)d;
        return 1;
    }
    ir_node *c = v->kind == V_TENSOR ? el_node(e, v->node) : NULL;
    if (!c || c->op != IR_CONST || c->shape.rank != 1 || c->shape.d[0] > IR_MAX_RANK) {
        if (c && c->op == IR_CONST && c->shape.rank == 1)
            return diag_error(e->d, v->span, "%s: a shape has at most %d dimensions, got %lld", b->name,
                              IR_MAX_RANK, (long long)c->shape.d[0]), 0;
        return diag_error(e->d, v->span, want, b->name), 0;
    }
    out->rank = (int)c->shape.d[0];
    for (int k = 0; k < out->rank; k++) {
        double d = c->data[k];
        if (!(d >= 1 && d == floor(d) && d < 9.2e18)) return diag_error(e->d, v->span, want, b->name), 0;
        out->d[k] = (int64_t)d;
    }
    if (!ir_shape_fits(out))
        return diag_error(e->d, v->span, "%s", ir_size_error(e->g->a, b->name, DT_F32, out)), 0;
    return 1;
}

/* The random op of shape s: the model's next random op k. */
static val random_op(elab *e, const builtin *b, const ast_expr *call, ir_shape s) {
    int k = e->ndropout++;
    if (k >= MAX_RANDOM) {
        diag_error(e->d, call->span, "%s: a model has at most %d random ops (dropout, randn, rand, ...)", b->name,
                   MAX_RANDOM);
        return el_err;
    }
    return el_tensor(ir_add_random(e->g, b->op, s, k, call->span)->id, call->span);
}

/* randn(shape), rand(shape) */
static val b_random(elab *e, const builtin *b, const ast_expr *call, val *args) {
    ir_shape s = {0};
    if (!shape_arg(e, b, &args[0], &s)) return el_err;
    return random_op(e, b, call, s);
}

/* randn_like(x), rand_like(x): x's shape; x is not an input of the op. */
static val b_random_like(elab *e, const builtin *b, const ast_expr *call, val *args) {
    if (!el_want_tensor(e, b, &args[0], 0)) return el_err;
    return random_op(e, b, call, el_node(e, args[0].node)->shape);
}

const builtin elab_lib_rand[] = {
    {"randn", {"shape"}, 1, b_random, B_EXPR, IR_RANDN, 0},
    {"rand", {"shape"}, 1, b_random, B_EXPR, IR_RAND, 0},
    {"randn_like", {"x"}, 1, b_random_like, B_EXPR, IR_RANDN, 0},
    {"rand_like", {"x"}, 1, b_random_like, B_EXPR, IR_RAND, 0},
    {NULL, {NULL}, 0, NULL, B_EXPR, IR_COPY, 0},
};
