/* lib_conv.c — the conv family of built-in ops (see elab.h): 2-D
 * convolution and pooling over NCHW tensors, with PyTorch's semantics.
 *
 *   conv2d(x, out_channels, kernel, stride = 1, padding = 0, dilation = 1,
 *          groups = 1, bias = true, init = auto)       nn.Conv2d
 *   maxpool2d(x, kernel, stride = kernel, padding = 0)  nn.MaxPool2d
 *   avgpool2d(x, kernel, stride = kernel, padding = 0)  nn.AvgPool2d
 *   conv_transpose2d(x, out_channels, kernel, stride = 1, padding = 0,
 *          output_padding = 0, dilation = 1, groups = 1, bias = true,
 *          init = auto)                                nn.ConvTranspose2d
 *   upsample(x, scale, mode = nearest)                  nn.Upsample (integer
 *          scale_factor; bilinear: align_corners=False)
 *   global_avgpool(x)   [N, C, H, W] -> [N, C]          x.mean(dim=(2, 3))
 *   flatten(x)          [N, ...] -> [N, prod]           nn.Flatten()
 */
#include "elab.h"

/* Sizes and strides are at most this (so that no shape arithmetic overflows). */
enum { ARG_MAX = 1 << 20 };

/* An integer argument in [lo, ARG_MAX]. */
static int want_int(elab *e, const builtin *b, val *args, int i, int64_t lo, int64_t *out) {
    if (!el_want_int(e, b, &args[i], i, lo, out)) return 0;
    if (*out <= ARG_MAX) return 1;
    diag_error(e->d, args[i].span, "%s: argument '%s' is too large (at most %d)", b->name, b->params[i], ARG_MAX);
    return 0;
}

/* An optional one: *out keeps its default when absent. */
static int opt_int(elab *e, const builtin *b, val *args, int i, int64_t lo, int64_t *out) {
    return args[i].kind == V_NONE || want_int(e, b, args, i, lo, out);
}

/* "conv2d expects x of shape [N, C, H, W], got f32[4, 8]", at the call with
 * a note on x. */
static val want_nchw(elab *e, const builtin *b, const ast_expr *call, val *x) {
    ir_node *n = el_node(e, x->node);
    if (n->shape.rank == 4) return *x;
    const char *msg = arena_printf(e->g->a, "%s expects x of shape [N, C, H, W], got %s", b->name,
                                   el_type_str(e, n->id));
    return el_op_error(e, call, msg, x, 1);
}

/* "conv2d: in_channels 6 is not divisible by groups 4" (or out_channels)
 * at the call, or NULL when both divide. */
static const char *groups_msg(elab *e, const builtin *b, int64_t C, int64_t out, int64_t groups) {
    if (C % groups)
        return arena_printf(e->g->a, "%s: in_channels %lld is not divisible by groups %lld", b->name, (long long)C,
                            (long long)groups);
    if (out % groups)
        return arena_printf(e->g->a, "%s: out_channels %lld is not divisible by groups %lld", b->name,
                            (long long)out, (long long)groups);
    return NULL;
}

/* conv2d: weight [O, C/groups, k, k] and bias [O], as nn.Conv2d names and
 * lays them out. init = auto is He (std sqrt(2 / fan_in)) when the output
 * feeds a relu, else Glorot; the fans are PyTorch's for a conv weight:
 * fan_in = C/groups * k * k, fan_out = O * k * k (kaiming_normal_ and
 * xavier_uniform_ on the weight). The bias starts at zero. */
static val b_conv2d(elab *e, const builtin *b, const ast_expr *call, val *args) {
    int64_t out = 0, k = 0, s = 1, p = 0, d = 1, groups = 1;
    double bias = 1;
    ir_init init;
    int ok = el_want_tensor(e, b, &args[0], 0);
    ok &= want_int(e, b, args, 1, 1, &out);
    ok &= want_int(e, b, args, 2, 1, &k);
    ok &= opt_int(e, b, args, 3, 1, &s);
    ok &= opt_int(e, b, args, 4, 0, &p);
    ok &= opt_int(e, b, args, 5, 1, &d);
    ok &= opt_int(e, b, args, 6, 1, &groups);
    ok &= el_want_num(e, b, &args[7], 7, &bias);
    ok &= el_init_kind(e, &args[8], &init);
    if (!ok || want_nchw(e, b, call, &args[0]).kind != V_TENSOR) return el_err;
    ir_node *x = el_node(e, args[0].node);
    int64_t C = x->shape.d[1];
    const char *msg = groups_msg(e, b, C, out, groups); /* the weight's shape needs C / groups */
    if (msg) return el_op_error(e, call, msg, args, 1);
    if ((double)out * (double)(C / groups) * (double)k * (double)k > (double)(1LL << 32)) {
        diag_error(e->d, call->span, "conv2d: the weight [%lld, %lld, %lld, %lld] is too large", (long long)out,
                   (long long)(C / groups), (long long)k, (long long)k);
        return el_err;
    }
    int64_t wd[4] = {out, C / groups, k, k};
    int64_t ia[IR_MAX_ATTR] = {s, p, d, groups};
    el_layer_spec l = {ir_shape_make(4, wd), C / groups * k * k, out * k * k, init, IR_CONV2D, ia, bias != 0,
                       IR_CHANNEL_BIAS, 0};
    return el_layer(e, call, args[0], &l);
}

/* conv_transpose2d: weight [C, O/groups, k, k] and bias [O], as
 * nn.ConvTranspose2d names and lays them out; the shape rule checks the
 * output_padding and the output size. init as conv2d's, with PyTorch's
 * fans for this weight: fan_in = O/groups * k * k, fan_out = C * k * k. */
static val b_conv_transpose2d(elab *e, const builtin *b, const ast_expr *call, val *args) {
    int64_t out = 0, k = 0, s = 1, p = 0, op = 0, d = 1, groups = 1;
    double bias = 1;
    ir_init init;
    int ok = el_want_tensor(e, b, &args[0], 0);
    ok &= want_int(e, b, args, 1, 1, &out);
    ok &= want_int(e, b, args, 2, 1, &k);
    ok &= opt_int(e, b, args, 3, 1, &s);
    ok &= opt_int(e, b, args, 4, 0, &p);
    ok &= opt_int(e, b, args, 5, 0, &op);
    ok &= opt_int(e, b, args, 6, 1, &d);
    ok &= opt_int(e, b, args, 7, 1, &groups);
    ok &= el_want_num(e, b, &args[8], 8, &bias);
    ok &= el_init_kind(e, &args[9], &init);
    if (!ok || want_nchw(e, b, call, &args[0]).kind != V_TENSOR) return el_err;
    int64_t C = el_node(e, args[0].node)->shape.d[1];
    const char *msg = groups_msg(e, b, C, out, groups);
    if (msg) return el_op_error(e, call, msg, args, 1);
    if ((double)C * (double)(out / groups) * (double)k * (double)k > (double)(1LL << 32)) {
        diag_error(e->d, call->span, "conv_transpose2d: the weight [%lld, %lld, %lld, %lld] is too large",
                   (long long)C, (long long)(out / groups), (long long)k, (long long)k);
        return el_err;
    }
    int64_t wd[4] = {C, out / groups, k, k};
    int64_t ia[IR_MAX_ATTR] = {s, p, d, groups, op};
    el_layer_spec l = {ir_shape_make(4, wd), out / groups * k * k, C * k * k, init, IR_CONV_TRANSPOSE2D, ia,
                       bias != 0, IR_CHANNEL_BIAS, out};
    return el_layer(e, call, args[0], &l);
}

/* upsample(x, scale, mode = nearest | bilinear): an integer scale. */
static val b_upsample(elab *e, const builtin *b, const ast_expr *call, val *args) {
    int64_t scale = 0, mode = 0;
    int ok = el_want_tensor(e, b, &args[0], 0);
    ok &= want_int(e, b, args, 1, 1, &scale);
    if (args[2].kind == V_SYM && !strcmp(args[2].sym, "bilinear")) mode = 1;
    else if (args[2].kind != V_NONE && !(args[2].kind == V_SYM && !strcmp(args[2].sym, "nearest"))) {
        if (args[2].kind != V_ERR) diag_error(e->d, args[2].span, "upsample: mode must be nearest or bilinear");
        ok = 0;
    }
    if (!ok) return el_err;
    int64_t ia[IR_MAX_ATTR] = {scale, mode};
    return el_apply(e, call, IR_UPSAMPLE, args, 1, ia, NULL);
}

/* maxpool2d / avgpool2d(x, kernel, stride = kernel, padding = 0); the shape
 * rule checks x (rank 4, padding at most half the kernel, a window fits). */
static val b_pool(elab *e, const builtin *b, const ast_expr *call, val *args) {
    int64_t k = 0, s = 0, p = 0;
    int ok = el_want_tensor(e, b, &args[0], 0);
    ok &= want_int(e, b, args, 1, 1, &k);
    ok &= opt_int(e, b, args, 2, 1, &s);
    ok &= opt_int(e, b, args, 3, 0, &p);
    if (!ok) return el_err;
    int64_t ia[IR_MAX_ATTR] = {k, s ? s : k, p};
    return el_apply(e, call, b->op, args, 1, ia, NULL);
}

/* global_avgpool(x [N, C, H, W]) -> [N, C]: a sum over axes [2, 4) scaled
 * by 1 / (H W). */
static val b_global_avgpool(elab *e, const builtin *b, const ast_expr *call, val *args) {
    if (!el_want_tensor(e, b, &args[0], 0) || want_nchw(e, b, call, &args[0]).kind != V_TENSOR) return el_err;
    const ir_shape *s = &el_node(e, args[0].node)->shape;
    int64_t ia[IR_MAX_ATTR] = {2, 4};
    double fa[4] = {1.0 / (double)(s->d[2] * s->d[3])};
    return el_apply(e, call, IR_SUM, args, 1, ia, fa);
}

/* flatten(x [N, ...]) -> [N, prod(...)]: a reshape. */
static val b_flatten(elab *e, const builtin *b, const ast_expr *call, val *args) {
    if (!el_want_tensor(e, b, &args[0], 0)) return el_err;
    ir_node *x = el_node(e, args[0].node);
    if (x->shape.rank < 2) {
        const char *msg = arena_printf(e->g->a, "flatten expects x of shape [N, ...] with rank >= 2, got %s",
                                       el_type_str(e, x->id));
        return el_op_error(e, call, msg, args, 1);
    }
    int64_t d[2] = {x->shape.d[0], ir_numel(&x->shape) / x->shape.d[0]};
    ir_node *r = ir_add_reshape(e->g, x->id, ir_shape_make(2, d), call->span);
    return el_tensor(r->id, call->span);
}

const builtin elab_lib_conv[] = {
    {"conv2d", {"x", "out_channels", "kernel", "stride", "padding", "dilation", "groups", "bias", "init"}, 3,
     b_conv2d, B_EXPR, IR_CONV2D, 1},
    {"conv_transpose2d",
     {"x", "out_channels", "kernel", "stride", "padding", "output_padding", "dilation", "groups", "bias", "init"}, 3,
     b_conv_transpose2d, B_EXPR, IR_CONV_TRANSPOSE2D, 1},
    {"upsample", {"x", "scale", "mode"}, 2, b_upsample, B_EXPR, IR_UPSAMPLE, 0},
    {"maxpool2d", {"x", "kernel", "stride", "padding"}, 2, b_pool, B_EXPR, IR_MAXPOOL2D, 0},
    {"avgpool2d", {"x", "kernel", "stride", "padding"}, 2, b_pool, B_EXPR, IR_AVGPOOL2D, 0},
    {"global_avgpool", {"x"}, 1, b_global_avgpool, B_EXPR, IR_SUM, 0},
    {"flatten", {"x"}, 1, b_flatten, B_EXPR, IR_RESHAPE, 0},
    {NULL, {NULL}, 0, NULL, B_EXPR, IR_COPY, 0},
};
