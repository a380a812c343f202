/* ops_norm.c — shape and gradient rules of the normalization, dropout and
 * activation ops, each forward rule next to its backward.
 *
 *   activations (elementwise, formulas in ops.def)   x -> x's shape
 *     gelu, gelu_tanh, silu, leaky_relu, elu, sqrt, pow; their gradient
 *     ops take (dy, x), sqrt_grad takes (dy, y)
 *   dropout(x)                                     -> x's shape (Philox mask)
 *   batchnorm_mean(x [N, C, ...])                  -> [C]
 *   batchnorm_var(x, mean [C])                     -> [C] (biased)
 *   batchnorm(x, mean, var, weight, bias [C])      -> x's shape
 *   batchnorm_update(running [C], stat [C])        -> [C], in place
 *   batchnorm_dx(dy, x, mean, var, weight, dweight) -> x's shape
 *   batchnorm_dweight(dy, x, mean, var)            -> [C]
 *   batchnorm_dbias(dy)                            -> [C]
 *   layernorm_stats(x [..., D])                    -> [..., 2]
 *   layernorm(x, stats, weight [D], bias [D])      -> x's shape
 *   layernorm_dx(dy, x, stats, weight)             -> x's shape
 *   layernorm_dweight(dy, x, stats)                -> [D]
 *
 * Batch norm's x is [N, C] (BatchNorm1d) or [N, C, H, W] (BatchNorm2d).
 * Its statistics and layer norm's get no gradient of their own: the dx
 * ops carry the whole derivative through them, as PyTorch's do.
 */
#include "rules.h"

#include <math.h>
#include <stdlib.h>

/* "f32[2, 3]" for messages. */
static const char *tstr(ir_graph *g, const ir_node *x) {
    return arena_printf(g->a, "%s%s", x->dtype == DT_I32 ? "i32" : "f32", ir_sstr(g, &x->shape));
}

/* ---- activations ------------------------------------------------------- */

/* The elementwise activations take x's shape (SHAPE_OF_X), their gradient
 * ops (dy, x) -- sqrt's (dy, y) -- the shape of both (SHAPE_PAIR); gelu's
 * rules set its formula's constants. Gradient ops, batch norm's statistics
 * and state update and layer norm's statistics get no gradient (GRAD_NONE,
 * see the file comment). */

/* Add grad op o(dy, saved) with n's float attributes (p, q) to input 0. */
static void act_vjp(ad_ctx *c, ir_node *n, ir_op o, int dy, int saved) {
    int in[2] = {dy, saved};
    ad_acc(c, n, 0, ad_op(c, o, n, in, NULL, n->fattr, NULL));
}

/* gelu's formula constants p, q (see ops.def): the erf form uses 1/sqrt(2)
 * and 1/sqrt(2 pi), the tanh form sqrt(2/pi) and 0.044715, as PyTorch. */
static void gelu_consts(ir_node *n, int tanh_form) {
    const double pi = 3.14159265358979323846;
    n->fattr[0] = tanh_form ? sqrt(2 / pi) : 1 / sqrt(2.0);
    n->fattr[1] = tanh_form ? 0.044715 : 1 / sqrt(2 * pi);
}

/* gelu(x) = x Phi(x) -> x's shape */
const char *shape_GELU(ir_graph *g, ir_node *n) {
    gelu_consts(n, 0);
    return shape_of_x(g, n);
}
void vjp_GELU(ad_ctx *c, ir_node *n, int dy) { act_vjp(c, n, IR_GELU_GRAD, dy, n->in[0]); }

/* gelu_grad(dy, x) -> x's shape: dy (Phi(x) + x phi(x)) */
const char *shape_GELU_GRAD(ir_graph *g, ir_node *n) {
    gelu_consts(n, 0);
    return shape_pair(g, n);
}

/* gelu_tanh(x) = x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2 -> x's shape */
const char *shape_GELU_TANH(ir_graph *g, ir_node *n) {
    gelu_consts(n, 1);
    return shape_of_x(g, n);
}
void vjp_GELU_TANH(ad_ctx *c, ir_node *n, int dy) { act_vjp(c, n, IR_GELU_TANH_GRAD, dy, n->in[0]); }

/* gelu_tanh_grad(dy, x) -> x's shape */
const char *shape_GELU_TANH_GRAD(ir_graph *g, ir_node *n) {
    gelu_consts(n, 1);
    return shape_pair(g, n);
}

/* silu(x) = x sigmoid(x); silu_grad(dy, x) = dy s (1 + x (1 - s)), s = sigmoid(x) */
void vjp_SILU(ad_ctx *c, ir_node *n, int dy) { act_vjp(c, n, IR_SILU_GRAD, dy, n->in[0]); }
/* leaky_relu(x; p = slope), leaky_relu_grad(dy, x; p) */
void vjp_LEAKY_RELU(ad_ctx *c, ir_node *n, int dy) { act_vjp(c, n, IR_LEAKY_RELU_GRAD, dy, n->in[0]); }
/* elu(x; p = alpha), elu_grad(dy, x; p) */
void vjp_ELU(ad_ctx *c, ir_node *n, int dy) { act_vjp(c, n, IR_ELU_GRAD, dy, n->in[0]); }
/* sqrt(x); sqrt_grad(dy, y) = dy / (2 y), from the output as PyTorch does */
void vjp_SQRT(ad_ctx *c, ir_node *n, int dy) { act_vjp(c, n, IR_SQRT_GRAD, dy, n->id); }
/* pow(x; p = exponent); pow_grad(dy, x; p) = dy p x^(p-1), 0 when p = 0 */
void vjp_POW(ad_ctx *c, ir_node *n, int dy) { act_vjp(c, n, IR_POW_GRAD, dy, n->in[0]); }

/* ---- dropout ----------------------------------------------------------- */

/* dropout(x; k, p) -> x's shape */
const char *shape_DROPOUT(ir_graph *g, ir_node *n) {
    double p = n->fattr[0];
    if (!(p >= 0 && p < 1)) return arena_printf(g->a, "dropout: p must be in [0, 1), got %g", p);
    if (n->iattr[0] < 0 || n->iattr[0] > 255)
        return arena_printf(g->a, "dropout: stream %lld is not in [0, 256)", (long long)n->iattr[0]);
    return shape_of_x(g, n);
}
/* The same mask on dy: the same op with the same stream and p. */
void vjp_DROPOUT(ad_ctx *c, ir_node *n, int dy) {
    ad_acc(c, n, 0, ad_op(c, IR_DROPOUT, n, &dy, n->iattr, n->fattr, NULL));
}

/* ---- batch norm ------------------------------------------------------- */

/* x must be [N, C] or [N, C, H, W]; *C gets the channels. */
static const char *bn_input(ir_graph *g, const ir_node *x, int64_t *C) {
    if (x->dtype != DT_F32) return arena_printf(g->a, "batchnorm expects an f32 tensor, got %s", tstr(g, x));
    if (x->shape.rank != 2 && x->shape.rank != 4)
        return arena_printf(g->a, "batchnorm expects [N, C] (BatchNorm1d) or [N, C, H, W] (BatchNorm2d), got %s",
                            tstr(g, x));
    *C = x->shape.d[1];
    return NULL;
}

/* Inputs first..last of n must be f32[C] (per-channel vectors). */
static const char *per_channel(ir_graph *g, const ir_node *n, int first, int last, int64_t C) {
    for (int i = first; i <= last; i++) {
        const ir_node *v = ir_in(g, n, i);
        if (v->dtype != DT_F32 || v->shape.rank != 1 || v->shape.d[0] != C)
            return arena_printf(g->a, "%s: operand %d must be f32[%lld] (one value per channel), got %s",
                                ir_ops[n->op].name, i, (long long)C, tstr(g, v));
    }
    return NULL;
}

/* Set n to f32[C]. */
static const char *channels_out(ir_node *n, int64_t C) {
    n->shape = ir_shape_make(1, &C);
    n->dtype = DT_F32;
    return NULL;
}

/* batchnorm_mean(x [N, C, ...]) -> [C] */
const char *shape_BN_MEAN(ir_graph *g, ir_node *n) {
    int64_t C;
    const char *e = bn_input(g, ir_in(g, n, 0), &C);
    return e ? e : channels_out(n, C);
}

/* batchnorm_var(x, mean [C]) -> [C] */
const char *shape_BN_VAR(ir_graph *g, ir_node *n) {
    int64_t C;
    const char *e = bn_input(g, ir_in(g, n, 0), &C);
    if (!e) e = per_channel(g, n, 1, 1, C);
    return e ? e : channels_out(n, C);
}

/* batchnorm(x, mean, var, weight, bias [C]) -> x's shape */
const char *shape_BN_NORM(ir_graph *g, ir_node *n) {
    int64_t C;
    const char *e = bn_input(g, ir_in(g, n, 0), &C);
    if (!e) e = per_channel(g, n, 1, 4, C);
    if (e) return e;
    if (!(n->fattr[0] > 0)) return arena_printf(g->a, "batchnorm: eps must be positive, got %g", n->fattr[0]);
    n->shape = ir_in(g, n, 0)->shape;
    n->dtype = DT_F32;
    return NULL;
}

/* Training (batch statistics of x): dx through the statistics in one op,
 * dweight = sum(dy xhat), dbias = sum(dy) per channel. The inference form
 * (running statistics) is never differentiated. */
void vjp_BN_NORM(ad_ctx *c, ir_node *n, int dy) {
    if (!n->iattr[0]) ad_no_vjp(c, n, dy);
    int in[6] = {dy, n->in[0], n->in[1], n->in[2], n->in[3], -1};
    int dw = ad_op(c, IR_BN_DWEIGHT, n, in, NULL, n->fattr, NULL);
    if (ad_needs(c, n, 0)) {
        in[5] = dw;
        ad_acc(c, n, 0, ad_op(c, IR_BN_DX, n, in, NULL, n->fattr, NULL));
    }
    ad_acc(c, n, 3, dw);
    if (ad_needs(c, n, 4)) ad_acc(c, n, 4, ad_op1(c, IR_BN_DBIAS, n, dy));
}

/* batchnorm_update(running [C], stat [C]) -> [C] (written over running) */
const char *shape_BN_UPDATE(ir_graph *g, ir_node *n) {
    const ir_node *r = ir_in(g, n, 0);
    if (r->dtype != DT_F32 || r->shape.rank != 1)
        return arena_printf(g->a, "batchnorm_update: the running statistic must be f32[C], got %s", tstr(g, r));
    const char *e = per_channel(g, n, 1, 1, r->shape.d[0]);
    return e ? e : channels_out(n, r->shape.d[0]);
}

/* dy must have x's shape. */
static const char *same_as_x(ir_graph *g, const ir_node *n) {
    const ir_node *dy = ir_in(g, n, 0), *x = ir_in(g, n, 1);
    if (dy->dtype != DT_F32 || !ir_shape_eq(&dy->shape, &x->shape))
        return arena_printf(g->a, "%s: dy %s and x %s differ", ir_ops[n->op].name, tstr(g, dy), tstr(g, x));
    return NULL;
}

/* batchnorm_dx(dy, x, mean, var, weight, dweight) -> x's shape */
const char *shape_BN_DX(ir_graph *g, ir_node *n) {
    int64_t C;
    const char *e = bn_input(g, ir_in(g, n, 1), &C);
    if (!e) e = same_as_x(g, n);
    if (!e) e = per_channel(g, n, 2, 5, C);
    if (e) return e;
    n->shape = ir_in(g, n, 1)->shape;
    n->dtype = DT_F32;
    return NULL;
}

/* batchnorm_dweight(dy, x, mean, var) -> [C] */
const char *shape_BN_DWEIGHT(ir_graph *g, ir_node *n) {
    int64_t C;
    const char *e = bn_input(g, ir_in(g, n, 1), &C);
    if (!e) e = same_as_x(g, n);
    if (!e) e = per_channel(g, n, 2, 3, C);
    return e ? e : channels_out(n, C);
}

/* batchnorm_dbias(dy [N, C, ...]) -> [C] */
const char *shape_BN_DBIAS(ir_graph *g, ir_node *n) {
    int64_t C;
    const char *e = bn_input(g, ir_in(g, n, 0), &C);
    return e ? e : channels_out(n, C);
}

/* ---- layer norm -------------------------------------------------------- */

/* x [..., D]: at least one axis. */
static const char *ln_input(ir_graph *g, const ir_node *x) {
    if (x->dtype != DT_F32) return arena_printf(g->a, "layernorm expects an f32 tensor, got %s", tstr(g, x));
    if (x->shape.rank < 1)
        return arena_printf(g->a, "layernorm normalizes over the last axis, but its input is a scalar (%s)",
                            tstr(g, x));
    return NULL;
}

/* stats must be x's shape with the last axis 2, weight (and bias) [D]. */
static const char *ln_operands(ir_graph *g, const ir_node *n, int xi, int first_vec, int last_vec) {
    const ir_node *x = ir_in(g, n, xi), *st = ir_in(g, n, xi + 1);
    const char *e = ln_input(g, x);
    if (e) return e;
    ir_shape want = x->shape;
    want.d[want.rank - 1] = 2;
    if (st->dtype != DT_F32 || !ir_shape_eq(&st->shape, &want))
        return arena_printf(g->a, "%s: statistics must be f32%s for x %s, got %s", ir_ops[n->op].name,
                            ir_sstr(g, &want), tstr(g, x), tstr(g, st));
    int64_t D = x->shape.d[x->shape.rank - 1];
    for (int i = first_vec; i <= last_vec; i++) {
        const ir_node *v = ir_in(g, n, i);
        if (v->dtype != DT_F32 || v->shape.rank != 1 || v->shape.d[0] != D)
            return arena_printf(g->a, "%s: operand %d must be f32[%lld] (the last axis of x %s), got %s",
                                ir_ops[n->op].name, i, (long long)D, tstr(g, x), tstr(g, v));
    }
    return NULL;
}

/* layernorm_stats(x [..., D]) -> [..., 2] */
const char *shape_LN_STATS(ir_graph *g, ir_node *n) {
    const ir_node *x = ir_in(g, n, 0);
    const char *e = ln_input(g, x);
    if (e) return e;
    if (!(n->fattr[0] > 0)) return arena_printf(g->a, "layernorm: eps must be positive, got %g", n->fattr[0]);
    n->shape = x->shape;
    n->shape.d[n->shape.rank - 1] = 2;
    n->dtype = DT_F32;
    return NULL;
}

/* layernorm(x, stats, weight, bias) -> x's shape */
const char *shape_LN_NORM(ir_graph *g, ir_node *n) {
    const char *e = ln_operands(g, n, 0, 2, 3);
    if (e) return e;
    n->shape = ir_in(g, n, 0)->shape;
    n->dtype = DT_F32;
    return NULL;
}

/* dx through the statistics in one op; dweight = sum over rows of dy xhat;
 * dbias = the sum of dy over the leading axes (ad_acc's unbroadcast). */
void vjp_LN_NORM(ad_ctx *c, ir_node *n, int dy) {
    int in[4] = {dy, n->in[0], n->in[1], n->in[2]};
    if (ad_needs(c, n, 0)) ad_acc(c, n, 0, ad_op(c, IR_LN_DX, n, in, NULL, NULL, NULL));
    if (ad_needs(c, n, 2)) ad_acc(c, n, 2, ad_op(c, IR_LN_DWEIGHT, n, in, NULL, NULL, NULL));
    ad_acc(c, n, 3, dy);
}

/* layernorm_dx(dy, x, stats, weight) -> x's shape */
const char *shape_LN_DX(ir_graph *g, ir_node *n) {
    const char *e = ln_operands(g, n, 1, 3, 3);
    if (!e) e = same_as_x(g, n);
    if (e) return e;
    n->shape = ir_in(g, n, 1)->shape;
    n->dtype = DT_F32;
    return NULL;
}

/* layernorm_dweight(dy, x, stats) -> [D] */
const char *shape_LN_DWEIGHT(ir_graph *g, ir_node *n) {
    const char *e = ln_operands(g, n, 1, 3, 2);
    if (!e) e = same_as_x(g, n);
    if (e) return e;
    const ir_node *x = ir_in(g, n, 1);
    return channels_out(n, x->shape.d[x->shape.rank - 1]);
}
