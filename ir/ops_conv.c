/* ops_conv.c — shape and gradient rules of the convolution and pooling ops
 * (NCHW), each forward rule next to its backward.
 *
 *   conv2d(x [N, C, H, W], w [O, C/g, kh, kw])      -> [N, O, OH, OW]
 *     iattr: stride s, padding p, dilation d, groups g;
 *     OH = (H + 2p - d (kh - 1) - 1) / s + 1 (floor), the same for OW.
 *   conv2d_grad_x(dy [N, O, OH, OW], w)              -> dx [N, C, H, W]
 *     iattr: s, p, d, g, H, W (H and W cannot be recovered from OH: floor)
 *   conv2d_grad_w(dy [N, O, OH, OW], x [N, C, H, W]) -> dw [O, C/g, kh, kw]
 *     iattr: s, p, d, g, kh, kw
 *   channel_bias(x [N, C, ...], b [C])               -> x + b[c] along axis 1
 *   maxpool2d(x [N, C, H, W]) / avgpool2d(x)         -> [N, C, OH, OW]
 *     iattr: kernel k, stride s, padding p; OH = (H + 2p - k) / s + 1
 *   maxpool2d_grad(dy, x)                            -> dx, shape of x
 *   avgpool2d_grad(dy)                               -> dx [N, C, H, W]
 *     iattr: k, s, p, 0, H, W
 *   conv_transpose2d(x [N, C, H, W], w [C, O/g, kh, kw]) -> [N, O, OH, OW]
 *     iattr: s, p, d, g, output_padding op (op < s or op < d);
 *     OH = (H - 1) s - 2p + d (kh - 1) + op + 1: conv2d_grad_x's sums
 *   upsample(x [N, C, H, W]) -> [N, C, H sc, W sc]
 *     iattr: integer scale sc, mode (UP_NEAREST, UP_BILINEAR)
 *   upsample_grad(dy [N, C, H sc, W sc]) -> [N, C, H, W]; iattr as upsample
 *
 * Pools follow PyTorch: max pooling pads with -inf, average pooling counts
 * the padding (count_include_pad=True), and the padding may be at most half
 * the kernel, so every window holds at least one element of the input.
 */
#include "rules.h"

#include <stdlib.h>

/* Attribute slots shared by the conv ops and by the pool ops. */
enum { CV_STRIDE, CV_PAD, CV_DIL, CV_GROUPS, CV_A4, CV_A5 };
enum { PL_K, PL_STRIDE, PL_PAD, PL_H = 4, PL_W = 5 };

/* "f32[2, 3]" for messages. */
static const char *tstr(ir_graph *g, const ir_node *x) {
    return arena_printf(g->a, "%s%s", x->dtype == DT_I32 ? "i32" : "f32", ir_sstr(g, &x->shape));
}

static ir_shape nchw(int64_t n, int64_t c, int64_t h, int64_t w) {
    int64_t d[4] = {n, c, h, w};
    return ir_shape_make(4, d);
}

/* Output length of a window of extent `ext` sliding with stride s over
 * len + 2 pad elements: 0 when it does not fit once, -1 when len + 2 pad
 * overflows. */
static int64_t out_len(int64_t len, int64_t pad, int64_t ext, int64_t s) {
    int64_t padded;
    if (ck_mul_i64(pad, 2, &padded) || ck_add_i64(len, padded, &padded)) return -1;
    return padded < ext ? 0 : (padded - ext) / s + 1;
}

/* "OP: ... overflows" for sizes beyond 64 bits (out_len -1, a kernel
 * extent), naming the input and the attributes. */
static const char *too_large(ir_graph *g, const ir_node *n, const char *what, const ir_node *x) {
    return arena_printf(g->a, "%s: %s of %s overflows 64 bits (stride %lld, padding %lld, dilation %lld)",
                        ir_ops[n->op].name, what, tstr(g, x), (long long)n->iattr[CV_STRIDE],
                        (long long)n->iattr[CV_PAD], (long long)n->iattr[CV_DIL]);
}

/* The extent d (k - 1) + 1 of a kernel of k taps dilated by d: 0, or 1 when
 * it overflows. */
static int kernel_extent(int64_t d, int64_t k, int64_t *ext) {
    return ck_mul_i64(d, k - 1, ext) || ck_add_i64(*ext, 1, ext);
}

/* ---- conv2d ------------------------------------------------------------ */

/* Attributes in range: stride, dilation, groups >= 1, padding >= 0. */
static const char *conv_attrs_ok(ir_graph *g, const ir_node *n) {
    const int64_t *a = n->iattr;
    if (a[CV_STRIDE] < 1 || a[CV_DIL] < 1 || a[CV_GROUPS] < 1 || a[CV_PAD] < 0)
        return arena_printf(g->a, "%s: stride %lld, dilation %lld and groups %lld must be >= 1, padding %lld >= 0",
                            ir_ops[n->op].name, (long long)a[CV_STRIDE], (long long)a[CV_DIL],
                            (long long)a[CV_GROUPS], (long long)a[CV_PAD]);
    return NULL;
}

/* The output [N, O, OH, OW] of convolving x with w under n's attributes. */
static const char *conv_out(ir_graph *g, const ir_node *n, const ir_node *x, const ir_node *w, ir_shape *out) {
    const char *e = conv_attrs_ok(g, n);
    if (e) return e;
    const ir_shape *xs = &x->shape, *ws = &w->shape;
    int64_t s = n->iattr[CV_STRIDE], p = n->iattr[CV_PAD], d = n->iattr[CV_DIL], gr = n->iattr[CV_GROUPS];
    if (xs->rank != 4) return arena_printf(g->a, "conv2d expects x of shape [N, C, H, W], got %s", tstr(g, x));
    if (ws->rank != 4)
        return arena_printf(g->a, "conv2d expects a weight of shape [O, C/groups, kh, kw], got %s", tstr(g, w));
    if (xs->d[1] % gr)
        return arena_printf(g->a, "conv2d: in_channels %lld is not divisible by groups %lld", (long long)xs->d[1],
                            (long long)gr);
    if (ws->d[0] % gr)
        return arena_printf(g->a, "conv2d: out_channels %lld is not divisible by groups %lld", (long long)ws->d[0],
                            (long long)gr);
    if (ws->d[1] != xs->d[1] / gr) /* xs->d[1] % gr == 0: the product ws->d[1] gr would be xs->d[1] */
        return arena_printf(g->a, "conv2d: weight %s takes %.0f input channels (groups %lld), but x %s has %lld",
                            ir_sstr(g, ws), (double)ws->d[1] * (double)gr, (long long)gr, ir_sstr(g, xs),
                            (long long)xs->d[1]);
    int64_t eh, ew;
    if (kernel_extent(d, ws->d[2], &eh) || kernel_extent(d, ws->d[3], &ew))
        return too_large(g, n, "the dilated kernel", w);
    int64_t oh = out_len(xs->d[2], p, eh, s), ow = out_len(xs->d[3], p, ew, s);
    if (oh < 0 || ow < 0) return too_large(g, n, "the padded input", x);
    if (oh < 1 || ow < 1)
        return arena_printf(g->a, "conv2d: the kernel spans %lldx%lld (kernel %lldx%lld, dilation %lld), more than "
                            "the padded input %lldx%lld (%lldx%lld with padding %lld)",
                            (long long)eh, (long long)ew, (long long)ws->d[2], (long long)ws->d[3], (long long)d,
                            (long long)(xs->d[2] + 2 * p), (long long)(xs->d[3] + 2 * p), (long long)xs->d[2],
                            (long long)xs->d[3], (long long)p);
    *out = nchw(xs->d[0], ws->d[0], oh, ow);
    return NULL;
}

/* conv2d(x [N, C, H, W], w [O, C/g, kh, kw]) -> [N, O, OH, OW] */
const char *shape_CONV2D(ir_graph *g, ir_node *n) {
    const char *e = shape_float_inputs(g, n);
    return e ? e : conv_out(g, n, ir_in(g, n, 0), ir_in(g, n, 1), &n->shape);
}

/* dx = conv2d_grad_x(dy, w) (H, W in attributes); dw = conv2d_grad_w(dy, x). */
void vjp_CONV2D(ad_ctx *c, ir_node *n, int dy) {
    const ir_node *x = ir_in(c->g, n, 0), *w = ir_in(c->g, n, 1);
    int64_t ia[IR_MAX_ATTR] = {n->iattr[0], n->iattr[1], n->iattr[2], n->iattr[3]};
    if (ad_needs(c, n, 0)) {
        int in[2] = {dy, n->in[1]};
        ia[CV_A4] = x->shape.d[2], ia[CV_A5] = x->shape.d[3];
        ad_acc(c, n, 0, ad_op(c, IR_CONV2D_GRAD_X, n, in, ia, NULL, NULL));
    }
    if (ad_needs(c, n, 1)) {
        int in[2] = {dy, n->in[0]};
        ia[CV_A4] = w->shape.d[2], ia[CV_A5] = w->shape.d[3];
        ad_acc(c, n, 1, ad_op(c, IR_CONV2D_GRAD_W, n, in, ia, NULL, NULL));
    }
}

/* dy must be what conv2d of `x` (made up from the grad's attributes) with w
 * gives: the same check both grads share. */
static const char *conv_grad_dy(ir_graph *g, const ir_node *n, const ir_node *dy, const ir_node *x,
                                const ir_node *w) {
    ir_shape want;
    const char *e = conv_out(g, n, x, w, &want);
    if (e) return e;
    if (!ir_shape_eq(&dy->shape, &want))
        return arena_printf(g->a, "%s: gradient %s does not match the conv2d output %s", ir_ops[n->op].name,
                            ir_sstr(g, &dy->shape), ir_sstr(g, &want));
    return NULL;
}

/* conv2d_grad_x(dy [N, O, OH, OW], w [O, C/g, kh, kw]) -> [N, C, H, W] */
const char *shape_CONV2D_GRAD_X(ir_graph *g, ir_node *n) {
    const ir_node *dy = ir_in(g, n, 0), *w = ir_in(g, n, 1);
    if (dy->shape.rank != 4 || w->shape.rank != 4 || n->iattr[CV_A4] < 1 || n->iattr[CV_A5] < 1)
        return arena_printf(g->a, "conv2d_grad_x: bad operands %s, %s", ir_sstr(g, &dy->shape), ir_sstr(g, &w->shape));
    ir_node x = *dy; /* the forward input, as far as its shape goes */
    int64_t c;
    if (ck_mul_i64(w->shape.d[1], n->iattr[CV_GROUPS] > 0 ? n->iattr[CV_GROUPS] : 1, &c))
        return too_large(g, n, "the channels", w);
    x.shape = nchw(dy->shape.d[0], c, n->iattr[CV_A4], n->iattr[CV_A5]);
    const char *e = conv_grad_dy(g, n, dy, &x, w);
    if (e) return e;
    n->shape = x.shape;
    return shape_float_inputs(g, n);
}

/* conv2d_grad_w(dy [N, O, OH, OW], x [N, C, H, W]) -> [O, C/g, kh, kw] */
const char *shape_CONV2D_GRAD_W(ir_graph *g, ir_node *n) {
    const ir_node *dy = ir_in(g, n, 0), *x = ir_in(g, n, 1);
    int64_t gr = n->iattr[CV_GROUPS];
    if (dy->shape.rank != 4 || x->shape.rank != 4 || gr < 1 || x->shape.d[1] % gr || n->iattr[CV_A4] < 1 ||
        n->iattr[CV_A5] < 1)
        return arena_printf(g->a, "conv2d_grad_w: bad operands %s, %s", ir_sstr(g, &dy->shape), ir_sstr(g, &x->shape));
    ir_node w = *dy; /* the weight, as far as its shape goes */
    w.shape = nchw(dy->shape.d[1], x->shape.d[1] / gr, n->iattr[CV_A4], n->iattr[CV_A5]);
    const char *e = conv_grad_dy(g, n, dy, x, &w);
    if (e) return e;
    n->shape = w.shape;
    return shape_float_inputs(g, n);
}

/* ---- channel_bias ------------------------------------------------------ */

/* channel_bias(x [N, C, ...], b [C]) -> shape of x */
const char *shape_CHANNEL_BIAS(ir_graph *g, ir_node *n) {
    const ir_node *x = ir_in(g, n, 0), *b = ir_in(g, n, 1);
    if (x->shape.rank < 2 || b->shape.rank != 1 || b->shape.d[0] != x->shape.d[1])
        return arena_printf(g->a, "channel_bias: bias %s does not match the channels (axis 1) of %s",
                            ir_sstr(g, &b->shape), ir_sstr(g, &x->shape));
    n->shape = x->shape;
    return shape_float_inputs(g, n);
}

/* dx = dy; db = dy summed over every axis but 1: first over the batch axis 0
 * (rows of C x H x W elements added together: a long loop that vectorizes),
 * then over [1, rank - 1) of what is left (C sums of H x W elements each,
 * a batch-size fraction of the work). */
void vjp_CHANNEL_BIAS(ad_ctx *c, ir_node *n, int dy) {
    ad_acc(c, n, 0, dy);
    if (!ad_needs(c, n, 1)) return;
    double one[4] = {1};
    int rank = n->shape.rank;
    int64_t ia[IR_MAX_ATTR] = {0, 1};
    int s = ad_op(c, IR_SUM, n, &dy, ia, one, NULL);
    if (rank > 2) {
        int64_t ib[IR_MAX_ATTR] = {1, rank - 1};
        s = ad_op(c, IR_SUM, n, &s, ib, one, NULL);
    }
    ad_acc(c, n, 1, s);
}

/* ---- pooling ----------------------------------------------------------- */

/* The pooled shape of x [N, C, H, W] under n's kernel, stride, padding. */
static const char *pool_out(ir_graph *g, const ir_node *n, const char *op, const ir_node *x, ir_shape *out) {
    int64_t k = n->iattr[PL_K], s = n->iattr[PL_STRIDE], p = n->iattr[PL_PAD];
    if (x->shape.rank != 4) return arena_printf(g->a, "%s expects x of shape [N, C, H, W], got %s", op, tstr(g, x));
    if (k < 1 || s < 1 || p < 0)
        return arena_printf(g->a, "%s: kernel %lld and stride %lld must be >= 1, padding %lld >= 0", op,
                            (long long)k, (long long)s, (long long)p);
    if (p > k / 2) /* 2 p > k, without the product */
        return arena_printf(g->a, "%s: padding %lld is more than half the kernel %lld", op, (long long)p,
                            (long long)k);
    int64_t oh = out_len(x->shape.d[2], p, k, s), ow = out_len(x->shape.d[3], p, k, s);
    if (oh < 0 || ow < 0) return arena_printf(g->a, "%s: the padded input of %s overflows 64 bits", op, tstr(g, x));
    if (oh < 1 || ow < 1)
        return arena_printf(g->a, "%s: kernel %lld is larger than the padded input %lldx%lld (%lldx%lld with "
                            "padding %lld)", op, (long long)k, (long long)(x->shape.d[2] + 2 * p),
                            (long long)(x->shape.d[3] + 2 * p), (long long)x->shape.d[2], (long long)x->shape.d[3],
                            (long long)p);
    *out = nchw(x->shape.d[0], x->shape.d[1], oh, ow);
    return NULL;
}

/* maxpool2d(x [N, C, H, W]) -> [N, C, OH, OW] */
const char *shape_MAXPOOL2D(ir_graph *g, ir_node *n) {
    const char *e = shape_float_inputs(g, n);
    return e ? e : pool_out(g, n, "maxpool2d", ir_in(g, n, 0), &n->shape);
}

/* dx = maxpool2d_grad(dy, x): the kernel finds each window's maximum again. */
void vjp_MAXPOOL2D(ad_ctx *c, ir_node *n, int dy) {
    int in[2] = {dy, n->in[0]};
    ad_acc(c, n, 0, ad_op(c, IR_MAXPOOL2D_GRAD, n, in, n->iattr, NULL, NULL));
}

/* maxpool2d_grad(dy [N, C, OH, OW], x [N, C, H, W]) -> shape of x */
const char *shape_MAXPOOL2D_GRAD(ir_graph *g, ir_node *n) {
    const ir_node *dy = ir_in(g, n, 0), *x = ir_in(g, n, 1);
    ir_shape want;
    const char *e = pool_out(g, n, "maxpool2d_grad", x, &want);
    if (e) return e;
    if (!ir_shape_eq(&dy->shape, &want))
        return arena_printf(g->a, "maxpool2d_grad: gradient %s does not match the pooled %s", ir_sstr(g, &dy->shape),
                            ir_sstr(g, &want));
    n->shape = x->shape;
    return shape_float_inputs(g, n);
}

/* avgpool2d(x [N, C, H, W]) -> [N, C, OH, OW] */
const char *shape_AVGPOOL2D(ir_graph *g, ir_node *n) {
    const char *e = shape_float_inputs(g, n);
    return e ? e : pool_out(g, n, "avgpool2d", ir_in(g, n, 0), &n->shape);
}

/* dx = avgpool2d_grad(dy) with the input's H, W as attributes. */
void vjp_AVGPOOL2D(ad_ctx *c, ir_node *n, int dy) {
    const ir_node *x = ir_in(c->g, n, 0);
    int64_t ia[IR_MAX_ATTR] = {n->iattr[PL_K], n->iattr[PL_STRIDE], n->iattr[PL_PAD]};
    ia[PL_H] = x->shape.d[2], ia[PL_W] = x->shape.d[3];
    ad_acc(c, n, 0, ad_op(c, IR_AVGPOOL2D_GRAD, n, &dy, ia, NULL, NULL));
}

/* avgpool2d_grad(dy [N, C, OH, OW]) -> [N, C, H, W] */
const char *shape_AVGPOOL2D_GRAD(ir_graph *g, ir_node *n) {
    const ir_node *dy = ir_in(g, n, 0);
    if (dy->shape.rank != 4 || n->iattr[PL_H] < 1 || n->iattr[PL_W] < 1)
        return arena_printf(g->a, "avgpool2d_grad: bad gradient %s", ir_sstr(g, &dy->shape));
    ir_node x = *dy; /* the forward input, as far as its shape goes */
    x.shape = nchw(dy->shape.d[0], dy->shape.d[1], n->iattr[PL_H], n->iattr[PL_W]);
    ir_shape want;
    const char *e = pool_out(g, n, "avgpool2d_grad", &x, &want);
    if (e) return e;
    if (!ir_shape_eq(&dy->shape, &want))
        return arena_printf(g->a, "avgpool2d_grad: gradient %s does not match the pooled %s", ir_sstr(g, &dy->shape),
                            ir_sstr(g, &want));
    n->shape = x.shape;
    return shape_float_inputs(g, n);
}

/* ---- conv_transpose2d -------------------------------------------------- */

enum { CV_OUTPAD = 4 };

/* *len = (H - 1) s - 2p + d (k - 1) + op + 1; 1 when that overflows. */
static int tconv_len(int64_t h, const int64_t *a, int64_t k, int64_t *len) {
    int64_t r, ext, pp;
    return ck_mul_i64(h - 1, a[CV_STRIDE], &r) || kernel_extent(a[CV_DIL], k, &ext) || ck_add_i64(r, ext, &r) ||
           ck_add_i64(r, a[CV_OUTPAD], &r) || ck_mul_i64(a[CV_PAD], 2, &pp) || ck_add_i64(r, -pp, len);
}

/* output_padding below the stride or the dilation, as PyTorch wants. */
static const char *tconv_outpad_ok(ir_graph *g, const ir_node *n) {
    int64_t s = n->iattr[CV_STRIDE], d = n->iattr[CV_DIL], op = n->iattr[CV_OUTPAD];
    if (op < 0) return arena_printf(g->a, "conv_transpose2d: output_padding %lld must be >= 0", (long long)op);
    if (op >= s && op >= d)
        return arena_printf(g->a, "conv_transpose2d: output_padding %lld must be smaller than either stride %lld "
                            "or dilation %lld", (long long)op, (long long)s, (long long)d);
    return NULL;
}

/* The input [N, C, H', W'] of the conv2d from y to x (and its weight w):
 * x's shape, with H' > H where output_padding >= stride (the extra rows of
 * y that the taps of x never reach make extra rows in the conv2d). */
static const char *tconv_back(ir_graph *g, const ir_node *n, const ir_node *y, const ir_node *w, ir_shape *back) {
    const char *e = conv_out(g, n, y, w, back);
    if (e) return e;
    const ir_shape *xs = &ir_in(g, n, 0)->shape;
    if (back->d[1] != xs->d[1] || back->d[2] < xs->d[2] || back->d[3] < xs->d[3])
        return arena_printf(g->a, "conv_transpose2d: the conv2d of the output %s is %s, not %s", ir_sstr(g, &y->shape),
                            ir_sstr(g, back), ir_sstr(g, xs));
    return NULL;
}

/* The output shape, checked against the conv2d it transposes. */
static const char *tconv_out(ir_graph *g, ir_node *n, const ir_node *x, const ir_node *w) {
    const char *e = conv_attrs_ok(g, n);
    if (e || (e = tconv_outpad_ok(g, n))) return e;
    const ir_shape *xs = &x->shape, *ws = &w->shape;
    int64_t p = n->iattr[CV_PAD], gr = n->iattr[CV_GROUPS];
    if (xs->rank != 4)
        return arena_printf(g->a, "conv_transpose2d expects x of shape [N, C, H, W], got %s", tstr(g, x));
    if (ws->rank != 4 || ws->d[0] != xs->d[1])
        return arena_printf(g->a, "conv_transpose2d expects a weight of shape [%lld, out_channels/groups, kh, kw], "
                            "got %s", (long long)xs->d[1], tstr(g, w));
    if (xs->d[1] % gr)
        return arena_printf(g->a, "conv_transpose2d: in_channels %lld is not divisible by groups %lld",
                            (long long)xs->d[1], (long long)gr);
    int64_t o, oh, ow;
    if (ck_mul_i64(ws->d[1], gr, &o)) return too_large(g, n, "the channels", w);
    if (tconv_len(xs->d[2], n->iattr, ws->d[2], &oh) || tconv_len(xs->d[3], n->iattr, ws->d[3], &ow))
        return too_large(g, n, "the output", x);
    if (oh < 1 || ow < 1)
        return arena_printf(g->a, "conv_transpose2d: the output of %s would be %lldx%lld (padding %lld is too large)",
                            tstr(g, x), (long long)oh, (long long)ow, (long long)p);
    ir_node y = *x; /* the output, as far as its shape goes */
    y.shape = nchw(xs->d[0], o, oh, ow);
    ir_shape back;
    if ((e = tconv_back(g, n, &y, w, &back))) return e;
    n->shape = y.shape;
    return NULL;
}

/* conv_transpose2d(x [N, C, H, W], w [C, O/g, kh, kw]) -> [N, O, OH, OW] */
const char *shape_CONV_TRANSPOSE2D(ir_graph *g, ir_node *n) {
    const char *e = shape_float_inputs(g, n);
    return e ? e : tconv_out(g, n, ir_in(g, n, 0), ir_in(g, n, 1));
}

/* y is conv2d_grad_x(x, w) of a conv2d from y's shape to x's: dx = conv2d(dy,
 * w), dw = conv2d_grad_w(x, dy). Where output_padding >= stride that conv2d
 * gives H' > H rows (back): dx keeps the first H, and dw sees x padded with
 * zeros to H' (likewise W). */
static void tconv_grad_x(ad_ctx *c, ir_node *n, int dy, const ir_shape *back) {
    const ir_node *x = ir_in(c->g, n, 0);
    int64_t ia[IR_MAX_ATTR] = {n->iattr[0], n->iattr[1], n->iattr[2], n->iattr[3]};
    int in[2] = {dy, n->in[1]};
    int dx = ad_op(c, IR_CONV2D, n, in, ia, NULL, NULL);
    for (int ax = 2; ax < 4; ax++) {
        int64_t sl[IR_MAX_ATTR] = {ax, 0, x->shape.d[ax]};
        if (back->d[ax] > x->shape.d[ax]) dx = ad_op(c, IR_SLICE, n, &dx, sl, NULL, NULL);
    }
    ad_acc(c, n, 0, dx);
}

static void tconv_grad_w(ad_ctx *c, ir_node *n, int dy, const ir_shape *back) {
    const ir_node *x = ir_in(c->g, n, 0), *w = ir_in(c->g, n, 1);
    int64_t ia[IR_MAX_ATTR] = {n->iattr[0], n->iattr[1], n->iattr[2], n->iattr[3], w->shape.d[2], w->shape.d[3]};
    int in[2] = {n->in[0], dy};
    for (int ax = 2; ax < 4; ax++) {
        int64_t pa[IR_MAX_ATTR] = {ax, 0, back->d[ax]};
        if (back->d[ax] > x->shape.d[ax]) in[0] = ad_op(c, IR_PAD, n, &in[0], pa, NULL, NULL);
    }
    ad_acc(c, n, 1, ad_op(c, IR_CONV2D_GRAD_W, n, in, ia, NULL, NULL));
}

void vjp_CONV_TRANSPOSE2D(ad_ctx *c, ir_node *n, int dy) {
    ir_shape back;
    if (tconv_back(c->g, n, n, ir_in(c->g, n, 1), &back)) { /* the shape rule passed: cannot happen */
        ad_no_vjp(c, n, dy);
        return;
    }
    if (ad_needs(c, n, 0)) tconv_grad_x(c, n, dy, &back);
    if (ad_needs(c, n, 1)) tconv_grad_w(c, n, dy, &back);
}

/* ---- upsample ---------------------------------------------------------- */

enum { UP_SCALE, UP_MODE };

/* Scale >= 1 and a known mode. */
static const char *up_attrs_ok(ir_graph *g, const ir_node *n) {
    if (n->iattr[UP_SCALE] < 1 || n->iattr[UP_MODE] < 0 || n->iattr[UP_MODE] > 1)
        return arena_printf(g->a, "%s: scale %lld must be >= 1 and mode 0 or 1", ir_ops[n->op].name,
                            (long long)n->iattr[UP_SCALE]);
    return NULL;
}

/* upsample(x [N, C, H, W]) -> [N, C, H sc, W sc] */
const char *shape_UPSAMPLE(ir_graph *g, ir_node *n) {
    const ir_node *x = ir_in(g, n, 0);
    const char *e = shape_float_inputs(g, n);
    if (e || (e = up_attrs_ok(g, n))) return e;
    if (x->shape.rank != 4)
        return arena_printf(g->a, "upsample expects x of shape [N, C, H, W], got %s", tstr(g, x));
    int64_t sc = n->iattr[UP_SCALE], oh, ow;
    if (ck_mul_i64(x->shape.d[2], sc, &oh) || ck_mul_i64(x->shape.d[3], sc, &ow) ||
        ck_mul_i64(oh, ow, &oh))
        return arena_printf(g->a, "upsample: %s scaled by %lld overflows 64 bits", tstr(g, x), (long long)sc);
    n->shape = nchw(x->shape.d[0], x->shape.d[1], x->shape.d[2] * sc, x->shape.d[3] * sc);
    return NULL;
}

/* dx = upsample_grad(dy): what each input element sent, summed. */
void vjp_UPSAMPLE(ad_ctx *c, ir_node *n, int dy) {
    ad_acc(c, n, 0, ad_op(c, IR_UPSAMPLE_GRAD, n, &dy, n->iattr, NULL, NULL));
}

/* upsample_grad(dy [N, C, H sc, W sc]) -> [N, C, H, W] */
const char *shape_UPSAMPLE_GRAD(ir_graph *g, ir_node *n) {
    const ir_node *dy = ir_in(g, n, 0);
    const char *e = shape_float_inputs(g, n);
    if (e || (e = up_attrs_ok(g, n))) return e;
    int64_t sc = n->iattr[UP_SCALE];
    if (dy->shape.rank != 4 || dy->shape.d[2] % sc || dy->shape.d[3] % sc)
        return arena_printf(g->a, "upsample_grad: gradient %s is not a [N, C, H, W] upsampled by %lld",
                            ir_sstr(g, &dy->shape), (long long)sc);
    n->shape = nchw(dy->shape.d[0], dy->shape.d[1], dy->shape.d[2] / sc, dy->shape.d[3] / sc);
    return NULL;
}
