/* lib_norm.c — the norm family of built-in ops (see elab.h): normalization,
 * dropout and activations, with PyTorch's semantics and parameter names.
 *
 *   batchnorm(x, momentum = 0.1, eps = 1e-5)   nn.BatchNorm1d(C) on [N, C],
 *                                              nn.BatchNorm2d(C) on [N, C, H, W]
 *   layernorm(x, eps = 1e-5)                   nn.LayerNorm(D), D = x's last axis
 *   dropout(x, p)                              nn.Dropout(p), 0 <= p < 1
 *   gelu(x, tanh = false)                      nn.GELU(approximate='none'),
 *                                              with tanh = true: approximate='tanh'
 *   silu(x)                                    nn.SiLU()
 *   leaky_relu(x, slope = 0.01)                nn.LeakyReLU(negative_slope=slope)
 *   elu(x, alpha = 1.0)                        nn.ELU(alpha)
 *   sqrt(x)                                    torch.sqrt
 *   pow(x, exponent)                           torch.pow(x, exponent), exponent a
 *                                              constant number
 *
 * gelu's approximation is a boolean argument, not PyTorch's string: the
 * language has no strings, and a name symbol `approximate = tanh` would
 * clash with the tanh op.
 *
 * batchnorm makes `<binding>.weight` [C] (ones) and `.bias` [C] (zeros),
 * trained, and the state buffers `.running_mean` [C] (zeros) and
 * `.running_var` [C] (ones), saved and loaded with the parameters but never
 * trained. PyTorch's `num_batches_tracked` is not kept: it only matters for
 * momentum = None (a cumulative average), which nnc does not offer, so a
 * PyTorch state dict loads once that entry is dropped. In training
 * (_train_step, _forward_backward) it normalizes with the batch mean and
 * biased variance and moves the running statistics: running = (1 -
 * momentum) running + momentum stat, with the unbiased variance (M / (M -
 * 1) times the biased one, M = N*H*W values per channel). In inference
 * (_forward, _loss) it normalizes with the running statistics. PyTorch
 * refuses to train on one value per channel (M = 1); nnc compiles such a
 * model (it may only be deployed with batch 1) and its training pass gives
 * y = bias, zero input gradients and the running variance moving toward 0
 * (there is no unbiased estimate: the factor is 1).
 *
 * dropout is the identity in inference. In training it keeps an element
 * with probability 1 - p and scales it by 1 / (1 - p); the k-th dropout of
 * the model (in elaboration order, k < 256) draws element i of training
 * call c from Philox4x32-10 with key = the model's seed and counter
 * (ctr_hi = NNRT_STREAM_DROPOUT (2^63) | c << 8 | k, ctr_lo = i / 4), word
 * i % 4: kept when
 * nnrt_u01(word) >= (float)p (codegen/c/k_norm.c). Its gradient applies the
 * same mask to dy.
 *
 * Both make the model mode-dependent: elaboration builds a second graph
 * for inference (elab.c).
 */
#include "elab.h"

/* ---- activations ------------------------------------------------------- */

/* The value of an activation's optional attribute when it is absent. */
static double attr_default(ir_op op) {
    switch (op) {
    case IR_LEAKY_RELU: return 0.01;
    case IR_ELU: return 1.0;
    default: return 0;
    }
}

/* silu(x), sqrt(x), leaky_relu(x, slope), elu(x, alpha): one elementwise
 * op with its attribute (if any) as p. */
static val b_act(elab *e, const builtin *b, const ast_expr *call, val *args) {
    double fa[4] = {attr_default(b->op), 0, 0, 0};
    int ok = el_want_tensor(e, b, &args[0], 0);
    if (b->params[1]) ok &= el_want_num(e, b, &args[1], 1, &fa[0]);
    if (!ok) return el_err;
    return el_apply(e, call, b->op, args, 1, NULL, fa);
}

/* gelu(x, tanh = false): the exact (erf) form, or the tanh approximation. */
static val b_gelu(elab *e, const builtin *b, const ast_expr *call, val *args) {
    double approx = 0;
    int ok = el_want_tensor(e, b, &args[0], 0);
    ok &= el_want_num(e, b, &args[1], 1, &approx);
    if (!ok) return el_err;
    return el_apply(e, call, approx != 0 ? IR_GELU_TANH : IR_GELU, args, 1, NULL, NULL);
}

/* pow(x, exponent): the exponent is a constant number (PyTorch's
 * pow(Tensor, Scalar)); a tensor exponent is refused. */
static val b_pow(elab *e, const builtin *b, const ast_expr *call, val *args) {
    double fa[4] = {0};
    int ok = el_want_tensor(e, b, &args[0], 0);
    if (args[1].kind == V_TENSOR) {
        diag_error(e->d, args[1].span, "pow: the exponent must be a constant number, got a tensor %s",
                   el_type_str(e, args[1].node));
        diag_note(e->d, args[1].span, "for a tensor exponent y, write exp(y * log(x))");
        return el_err;
    }
    ok &= el_want_num(e, b, &args[1], 1, &fa[0]);
    if (!ok) return el_err;
    return el_apply(e, call, IR_POW, args, 1, NULL, fa);
}

/* ---- dropout ----------------------------------------------------------- */

enum { MAX_DROPOUT = 256 }; /* dropout ops per model: k fits the low 8 bits of ctr_hi */

/* dropout(x, p): the k-th dropout op of the model (k = e->ndropout++, the
 * same numbering in both passes); the identity in inference. */
static val b_dropout(elab *e, const builtin *b, const ast_expr *call, val *args) {
    double p = 0;
    int ok = el_want_tensor(e, b, &args[0], 0);
    ok &= el_want_num(e, b, &args[1], 1, &p);
    if (!ok) return el_err;
    if (!(p >= 0 && p < 1)) {
        diag_error(e->d, args[1].span, "dropout: p must be in [0, 1), got %g", p);
        if (p == 1) diag_note(e->d, args[1].span, "p = 1 would drop every element: the output would be all zeros");
        return el_err;
    }
    e->mode_dependent = 1;
    int k = e->ndropout++;
    if (k >= MAX_DROPOUT) {
        diag_error(e->d, call->span, "dropout: a model has at most %d dropout ops", MAX_DROPOUT);
        return el_err;
    }
    if (e->mode == MODE_INFER) {
        val v = args[0];
        v.span = call->span;
        return v;
    }
    int64_t ia[IR_MAX_ATTR] = {k};
    double fa[4] = {p};
    return el_apply(e, call, IR_DROPOUT, args, 1, ia, fa);
}

/* ---- batch norm and layer norm ------------------------------------------- */

/* A per-channel parameter (trained) or buffer (not) named <binding>.leaf,
 * of shape [n], with its initial value; the second pass gets the first's. */
static ir_node *channel_state(elab *e, const ast_expr *call, const char *leaf, int64_t n, ir_init init, int buffer) {
    ir_shape s = ir_shape_make(1, &n);
    if (buffer) return el_buffer(e, el_param_name(e, leaf), s, init, call->span);
    ir_node *p = el_param(e, el_param_name(e, leaf), s, call->span);
    if (p && e->mode == MODE_TRAIN) p->init = init;
    return p;
}

/* momentum in [0, 1] and eps > 0 (args[i_m], args[i_e]; i_m < 0: none). */
static int norm_args(elab *e, const builtin *b, val *args, int i_m, double *momentum, int i_e, double *eps) {
    int ok = el_want_tensor(e, b, &args[0], 0);
    if (i_m >= 0) ok &= el_want_num(e, b, &args[i_m], i_m, momentum);
    ok &= el_want_num(e, b, &args[i_e], i_e, eps);
    if (!ok) return 0;
    if (i_m >= 0 && !(*momentum >= 0 && *momentum <= 1)) {
        diag_error(e->d, args[i_m].span, "%s: momentum must be in [0, 1], got %g", b->name, *momentum);
        return 0;
    }
    if (!(*eps > 0)) {
        diag_error(e->d, args[i_e].span, "%s: eps must be positive, got %g", b->name, *eps);
        return 0;
    }
    return 1;
}

/* Training: the biased variance around the batch mean, and the two
 * running-statistic updates (unbiased variance); 0 after an error. */
static int bn_batch_stats(elab *e, const ast_expr *call, val *args, double momentum,
                          ir_node *rmean, ir_node *rvar, val *mean, val *var) {
    ir_node *x = el_node(e, args[0].node);
    int64_t M = ir_numel(&x->shape) / x->shape.d[1];
    val mv[2] = {args[0], *mean};
    *var = el_apply(e, call, IR_BN_VAR, mv, 2, NULL, NULL);
    if (var->kind != V_TENSOR) return 0;
    val um[2] = {el_tensor(rmean->id, call->span), *mean}, uv[2] = {el_tensor(rvar->id, call->span), *var};
    double fm[4] = {momentum, 1}, fv[4] = {momentum, M > 1 ? (double)M / (double)(M - 1) : 1};
    return el_apply(e, call, IR_BN_UPDATE, um, 2, NULL, fm).kind == V_TENSOR &&
           el_apply(e, call, IR_BN_UPDATE, uv, 2, NULL, fv).kind == V_TENSOR;
}

/* batchnorm(x, momentum = 0.1, eps = 1e-5) on [N, C] or [N, C, H, W]. */
static val b_batchnorm(elab *e, const builtin *b, const ast_expr *call, val *args) {
    double momentum = 0.1, eps = 1e-5;
    if (!norm_args(e, b, args, 1, &momentum, 2, &eps)) return el_err;
    e->mode_dependent = 1;
    const ir_node *x = el_node(e, args[0].node);
    val mean = el_err, var = el_err;
    if (e->mode == MODE_TRAIN) { /* its rule checks x's shape: [N, C] or [N, C, H, W] */
        mean = el_apply(e, call, IR_BN_MEAN, args, 1, NULL, NULL);
        if (mean.kind != V_TENSOR) return el_err;
    } else if (x->shape.rank < 2) {
        return el_err; /* the first pass reported it */
    }
    int64_t C = x->shape.d[1];
    ir_node *w = channel_state(e, call, "weight", C, INIT_ONES, 0);
    ir_node *bias = w ? channel_state(e, call, "bias", C, INIT_ZEROS, 0) : NULL;
    ir_node *rm = bias ? channel_state(e, call, "running_mean", C, INIT_ZEROS, 1) : NULL;
    ir_node *rv = rm ? channel_state(e, call, "running_var", C, INIT_ONES, 1) : NULL;
    if (!rv) return el_err;
    int64_t ia[IR_MAX_ATTR] = {e->mode == MODE_TRAIN};
    double fa[4] = {eps};
    if (e->mode == MODE_TRAIN) {
        if (!bn_batch_stats(e, call, args, momentum, rm, rv, &mean, &var)) return el_err;
    } else {
        mean = el_tensor(rm->id, call->span);
        var = el_tensor(rv->id, call->span);
    }
    val ops[5] = {args[0], mean, var, el_tensor(w->id, call->span), el_tensor(bias->id, call->span)};
    return el_apply(e, call, IR_BN_NORM, ops, 5, ia, fa);
}

/* layernorm(x, eps = 1e-5): over the last axis, weight and bias [D]. */
static val b_layernorm(elab *e, const builtin *b, const ast_expr *call, val *args) {
    double eps = 1e-5;
    if (!norm_args(e, b, args, -1, NULL, 1, &eps)) return el_err;
    double fa[4] = {eps};
    /* the statistics' rule checks x's shape (at least one axis) */
    val st = el_apply(e, call, IR_LN_STATS, args, 1, NULL, fa);
    if (st.kind != V_TENSOR) return el_err;
    const ir_node *x = el_node(e, args[0].node);
    int64_t D = x->shape.d[x->shape.rank - 1];
    ir_node *w = channel_state(e, call, "weight", D, INIT_ONES, 0);
    ir_node *bias = w ? channel_state(e, call, "bias", D, INIT_ZEROS, 0) : NULL;
    if (!bias) return el_err;
    val ops[4] = {args[0], st, el_tensor(w->id, call->span), el_tensor(bias->id, call->span)};
    return el_apply(e, call, IR_LN_NORM, ops, 4, NULL, NULL);
}

const builtin elab_lib_norm[] = {
    {"batchnorm", {"x", "momentum", "eps"}, 1, b_batchnorm, B_EXPR, IR_BN_NORM, 1},
    {"layernorm", {"x", "eps"}, 1, b_layernorm, B_EXPR, IR_LN_NORM, 1},
    {"dropout", {"x", "p"}, 2, b_dropout, B_EXPR, IR_DROPOUT, 0},
    {"gelu", {"x", "tanh"}, 1, b_gelu, B_EXPR, IR_GELU, 0},
    {"silu", {"x"}, 1, b_act, B_EXPR, IR_SILU, 0},
    {"leaky_relu", {"x", "slope"}, 1, b_act, B_EXPR, IR_LEAKY_RELU, 0},
    {"elu", {"x", "alpha"}, 1, b_act, B_EXPR, IR_ELU, 0},
    {"sqrt", {"x"}, 1, b_act, B_EXPR, IR_SQRT, 0},
    {"pow", {"x", "exponent"}, 2, b_pow, B_EXPR, IR_POW, 0},
    {NULL, {NULL}, 0, NULL, B_EXPR, IR_COPY, 0},
};
