/* lib_core.c — the core family of built-in ops (see elab.h): elementwise
 * ops, products, reductions, the dense layer, the losses and the
 * optimizers, with PyTorch's semantics.
 *
 *   relu, sigmoid, tanh, exp, log (x)       elementwise
 *   softmax(x), log_softmax(x)              over the last axis
 *   add, sub, mul, div (a, b)               elementwise, with broadcasting
 *   matmul(a, b)                            a @ b
 *   sum(x, axis), mean(x, axis)             over all elements, or one axis
 *   dense(x, units, bias = true, init = auto)
 *                                           nn.Linear(in, units)
 *   mse(prediction, target)                 F.mse_loss (mean)
 *   cross_entropy(logits, labels)           F.cross_entropy (mean), i32 labels
 *   binary_cross_entropy(prediction, target) F.binary_cross_entropy (mean)
 *   min(a, b), max(a, b)                    numbers only (constant expressions)
 *   stop_gradient(x), detach(x)             x.detach(): x, with no gradient into x
 *   sgd(lr, momentum = 0, dampening = 0, nesterov = false, weight_decay = 0)
 *   adam(lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0)
 *   adamw(lr = 1e-3, beta1, beta2, eps, weight_decay = 1e-2)
 *
 * dense makes `<binding>.weight` [units, in] and `.bias` [units]; an
 * `init = auto` weight is He when the layer feeds a relu, else Glorot
 * (elab.c). The optimizers are only valid in a train statement
 * (elab_train.c reads their arguments); called elsewhere they are an error.
 * Given numbers, exp, log, sqrt, pow, min and max are folded to a number
 * (el_const_math, elab_expr.c) before their entry here is called.
 */
#include "elab.h"

static val b_simple(elab *e, const builtin *b, const ast_expr *call, val *args) {
    int n = ir_ops[b->op].nin;
    for (int i = 0; i < n; i++)
        if (!el_want_tensor(e, b, &args[i], i)) return el_err;
    return el_apply(e, call, b->op, args, n, NULL, NULL);
}

/* sum(x) / mean(x): all elements; with axis = k, that axis only. */
static val b_reduce(elab *e, const builtin *b, const ast_expr *call, val *args) {
    if (!el_want_tensor(e, b, &args[0], 0)) return el_err;
    ir_node *x = el_node(e, args[0].node);
    int64_t a0 = 0, a1 = x->shape.rank;
    if (args[1].kind != V_NONE) {
        double ax;
        if (!el_want_num(e, b, &args[1], 1, &ax)) return el_err;
        int r = x->shape.rank;
        if (!args[1].is_int) {
            diag_error(e->d, args[1].span, "%s: axis must be an integer", b->name);
            return el_err;
        }
        if (ax < -r || ax >= r) {
            diag_error(e->d, args[1].span, "%s: axis %g out of range for %s (rank %d)", b->name, ax,
                       el_type_str(e, x->id), r);
            return el_err;
        }
        a0 = ax < 0 ? (int64_t)ax + r : (int64_t)ax;
        a1 = a0 + 1;
    }
    int64_t outer, len, inner;
    ir_reduce_view(&x->shape, (int)a0, (int)a1, &outer, &len, &inner);
    int64_t ia[IR_MAX_ATTR] = {a0, a1, 0, 0};
    double fa[4] = {strcmp(b->name, "mean") ? 1.0 : 1.0 / (double)len, 0};
    return el_apply(e, call, IR_SUM, args, 1, ia, fa);
}

/* dense(x, units, bias = true, init = auto): x [..., in] -> [..., units],
 * weight [units, in] (PyTorch's nn.Linear layout), bias [units]. */
static val b_dense(elab *e, const builtin *b, const ast_expr *call, val *args) {
    int64_t units;
    double bias = 1;
    ir_init init;
    int ok = el_want_tensor(e, b, &args[0], 0);
    ok &= el_want_int(e, b, &args[1], 1, 1, &units);
    ok &= el_want_num(e, b, &args[2], 2, &bias);
    ok &= el_init_kind(e, &args[3], &init);
    if (!ok) return el_err;
    ir_node *x = el_node(e, args[0].node);
    if (x->shape.rank < 2) {
        diag_error(e->d, args[0].span, "dense: input must have a batch axis, got %s", el_type_str(e, x->id));
        return el_err;
    }
    int64_t in = x->shape.d[x->shape.rank - 1], wd[2] = {units, in};
    int64_t ia[IR_MAX_ATTR] = {0, 1};
    el_layer_spec l = {ir_shape_make(2, wd), in, units, init, IR_MATMUL, ia, bias != 0, IR_ADD, 0};
    return el_layer(e, call, args[0], &l);
}

/* mse(p, y) = mean((p - y)^2), lowered to primitive ops. */
static val b_mse(elab *e, const builtin *b, const ast_expr *call, val *args) {
    int ok = el_want_tensor(e, b, &args[0], 0);
    ok &= el_want_tensor(e, b, &args[1], 1);
    if (!ok) return el_err;
    ir_node *p = el_node(e, args[0].node), *t = el_node(e, args[1].node);
    if (!ir_shape_eq(&p->shape, &t->shape)) {
        char *msg = arena_printf(e->g->a, "mse: prediction %s and target %s have different shapes",
                                 el_type_str(e, p->id), el_type_str(e, t->id));
        return el_op_error(e, call, msg, args, 2);
    }
    val d = el_apply(e, call, IR_SUB, args, 2, NULL, NULL);
    val dd[2] = {d, d};
    val sq = el_apply(e, call, IR_MUL, dd, 2, NULL, NULL);
    if (sq.kind != V_TENSOR) return el_err;
    int64_t ia[IR_MAX_ATTR] = {0, p->shape.rank, 0, 0};
    double fa[4] = {1.0 / (double)ir_numel(&p->shape), 0};
    return el_apply(e, call, IR_SUM, &sq, 1, ia, fa);
}

/* min(a, b), max(a, b): numbers only (elab_expr.c folds them); tensors are
 * an error. */
static val b_const_only(elab *e, const builtin *b, const ast_expr *call, val *args) {
    (void)args;
    diag_error(e->d, call->span, "%s: arguments must be numbers (%s is for constant expressions, not tensors)",
               b->name, b->name);
    return el_err;
}

static val b_optim(elab *e, const builtin *b, const ast_expr *call, val *args) {
    (void)args;
    diag_error(e->d, call->name_span, "'%s' is an optimizer: use it in a train statement", b->name);
    return el_err;
}

const builtin elab_lib_core[] = {
    {"relu", {"x"}, 1, b_simple, B_EXPR, IR_RELU, 0},
    {"sigmoid", {"x"}, 1, b_simple, B_EXPR, IR_SIGMOID, 0},
    {"tanh", {"x"}, 1, b_simple, B_EXPR, IR_TANH, 0},
    {"exp", {"x"}, 1, b_simple, B_EXPR, IR_EXP, 0},
    {"log", {"x"}, 1, b_simple, B_EXPR, IR_LOG, 0},
    {"softmax", {"x"}, 1, b_simple, B_EXPR, IR_SOFTMAX, 0},
    {"log_softmax", {"x"}, 1, b_simple, B_EXPR, IR_LOG_SOFTMAX, 0},
    {"add", {"a", "b"}, 2, b_simple, B_EXPR, IR_ADD, 0},
    {"sub", {"a", "b"}, 2, b_simple, B_EXPR, IR_SUB, 0},
    {"mul", {"a", "b"}, 2, b_simple, B_EXPR, IR_MUL, 0},
    {"div", {"a", "b"}, 2, b_simple, B_EXPR, IR_DIV, 0},
    {"matmul", {"a", "b"}, 2, b_simple, B_EXPR, IR_MATMUL, 0},
    {"sum", {"x", "axis"}, 1, b_reduce, B_EXPR, IR_SUM, 0},
    {"mean", {"x", "axis"}, 1, b_reduce, B_EXPR, IR_SUM, 0},
    {"dense", {"x", "units", "bias", "init"}, 2, b_dense, B_EXPR, IR_MATMUL, 1},
    {"mse", {"prediction", "target"}, 2, b_mse, B_EXPR, IR_SUM, 0},
    {"cross_entropy", {"logits", "labels"}, 2, b_simple, B_EXPR, IR_XENT, 0},
    {"binary_cross_entropy", {"prediction", "target"}, 2, b_simple, B_EXPR, IR_BCE, 0},
    {"min", {"a", "b"}, 2, b_const_only, B_EXPR, IR_COPY, 0},
    {"max", {"a", "b"}, 2, b_const_only, B_EXPR, IR_COPY, 0},
    {"stop_gradient", {"x"}, 1, b_simple, B_EXPR, IR_STOP_GRAD, 0},
    {"detach", {"x"}, 1, b_simple, B_EXPR, IR_STOP_GRAD, 0},
    {"sgd", {"lr", "momentum", "dampening", "nesterov", "weight_decay"}, 1, b_optim, B_OPTIM, IR_COPY, 0},
    {"adam", {"lr", "beta1", "beta2", "eps", "weight_decay"}, 0, b_optim, B_OPTIM, IR_COPY, 0},
    {"adamw", {"lr", "beta1", "beta2", "eps", "weight_decay"}, 0, b_optim, B_OPTIM, IR_COPY, 0},
    {NULL, {NULL}, 0, NULL, B_EXPR, IR_COPY, 0},
};

