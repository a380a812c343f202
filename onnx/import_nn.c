/* import_nn.c — MatMul, Gemm, Conv, ConvTranspose and the pools. Conv and ConvTranspose become
 * the language's conv2d and conv_transpose2d layers, and a Gemm with a constant weight a dense
 * layer: the layer is named after its weight's initializer (`fc1.weight` gives `fc1 = dense(...)`),
 * so the weights file keeps PyTorch's state_dict names. Square kernels, equal strides and
 * symmetric padding only, as the language has them. */
#include "import.h"
#include <stdlib.h>

/* the binding of a layer whose weight is w: PREFIX for an initializer PREFIX.weight */
static const char *layer_name(imp *im, const ival *w) {
    const char *dot = strrchr(w->onnx, '.');
    if (dot && dot != w->onnx && !strcmp(dot, ".weight") && !strchr(w->onnx, '/'))
        return imp_name(im, arena_strndup(&im->a, w->onnx, (size_t)(dot - w->onnx)));
    return imp_name(im, im->node->output[0]);
}

static int op_matmul(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    ival *a = imp_req(im, 0), *b = a ? imp_req(im, 1) : NULL;
    if (!b || !imp_float(im, a) || !imp_float(im, b)) return -1;
    ival A = *a, B = *b;
    int64_t od[IMP_MAX_RANK];
    int orank = 0;
    if (!a->rank || !b->rank) return imp_fail(im, "MatMul of a scalar");
    if (A.rank == 1) A.rank = 2, A.dims[1] = a->dims[0], A.dims[0] = 1;
    if (B.rank == 1) B.rank = 2, B.dims[1] = 1;
    if (A.dims[A.rank - 1] != B.dims[B.rank - 2]) return imp_fail(im, "inner dimensions differ");
    const char *ea = imp_reshape(im, imp_tensor(im, a), a->rank, a->dims, A.rank, A.dims);
    const char *eb = imp_reshape(im, imp_tensor(im, b), b->rank, b->dims, B.rank, B.dims), *e;
    int64_t rd[IMP_MAX_RANK];
    int rrank;
    if (B.rank == 2) {
        e = arena_printf(&im->a, "matmul(%s, %s)", ea, eb);
        memcpy(rd, A.dims, sizeof rd);
        rrank = A.rank;
        rd[rrank - 1] = B.dims[1];
    } else {
        ival ba = A, bb = B;
        ba.rank -= 2, bb.rank -= 2;
        if (imp_bcast(im, &ba, &bb, &rrank, rd)) return -1;
        int64_t da[IMP_MAX_RANK], db[IMP_MAX_RANK];
        memcpy(da, rd, sizeof da), memcpy(db, rd, sizeof db);
        da[rrank] = A.dims[A.rank - 2], da[rrank + 1] = A.dims[A.rank - 1];
        db[rrank] = B.dims[B.rank - 2], db[rrank + 1] = B.dims[B.rank - 1];
        ea = imp_fit(im, ea, A.rank, A.dims, rrank + 2, da);
        eb = imp_fit(im, eb, B.rank, B.dims, rrank + 2, db);
        rd[rrank] = da[rrank], rd[rrank + 1] = db[rrank + 1];
        rrank += 2;
        e = arena_printf(&im->a, "bmm(%s, %s)", ea, eb);
    }
    for (int i = 0; i < rrank; i++)
        if (!((a->rank == 1 && i == rrank - 2) || (b->rank == 1 && i == rrank - 1))) od[orank++] = rd[i];
    if (orank == rrank) return imp_out(im, 0, e, rrank, rd);
    return imp_out(im, 0, imp_reshape(im, imp_let(im, e), rrank, rd, orank, od), orank, od);
}

/* Gemm as a dense layer: constant B (either layout), constant C of N values or none, alpha = beta = 1 */
static int gemm_dense(imp *im, const Onnx__NodeProto *n, ival *a, ival *b, ival *c) {
    int tb = (int)imp_ai(n, "transB", 0);
    int64_t N = b->dims[tb ? 0 : 1], K = b->dims[tb ? 1 : 0], wd[2] = {N, K};
    double *w = b->c;
    if (!tb) {
        w = arena_alloc(&im->a, (size_t)(N * K) * sizeof *w);
        for (int64_t i = 0; i < N * K; i++) w[i] = b->c[(i % K) * N + i / K];
    }
    const char *nm = layer_name(im, b);
    imp_weight(im, arena_printf(&im->a, "%s.weight", nm), 2, wd, w);
    if (c) imp_weight(im, arena_printf(&im->a, "%s.bias", nm), 1, &N, c->c);
    int64_t od[2] = {a->dims[0], N};
    const char *e =
        arena_printf(&im->a, "dense(%s, %lld%s)", imp_tensor(im, a), (long long)N, c ? "" : ", bias = false");
    return imp_out_named(im, 0, nm, e, 2, od);
}

static int op_gemm(imp *im, const Onnx__NodeProto *n) {
    ival *a = imp_req(im, 0), *b = a ? imp_req(im, 1) : NULL, *c = imp_in(im, 2);
    double alpha = imp_af(n, "alpha", 1), beta = imp_af(n, "beta", 1);
    int ta = (int)imp_ai(n, "transA", 0), tb = (int)imp_ai(n, "transB", 0);
    if (!b || im->err[0] || !imp_float(im, a) || !imp_float(im, b)) return -1;
    if (a->rank != 2 || b->rank != 2) return imp_fail(im, "Gemm needs matrices");
    int64_t od[2] = {a->dims[ta ? 1 : 0], b->dims[tb ? 0 : 1]};
    if (a->dims[ta ? 0 : 1] != b->dims[tb ? 1 : 0]) return imp_fail(im, "inner dimensions differ");
    if (!ta && b->c && alpha == 1 && beta == 1 && (!c || (c->c && c->rank == 1 && c->dims[0] == od[1])))
        return gemm_dense(im, n, a, b, c);
    const char *ea = imp_tensor(im, a), *eb = imp_tensor(im, b);
    if (!ea || !eb) return -1;
    if (ta) ea = arena_printf(&im->a, "transpose(%s, 0, 1)", ea);
    if (tb) eb = arena_printf(&im->a, "transpose(%s, 0, 1)", eb);
    const char *e = arena_printf(&im->a, "matmul(%s, %s)", ea, eb);
    if (alpha != 1) e = arena_printf(&im->a, "%s * %s", imp_let(im, e), imp_num(im, alpha));
    if (c && beta != 0) {
        const char *ec = imp_operand(im, c, 2, od);
        if (!ec) return -1;
        e = arena_printf(&im->a, "%s + %s%s%s", imp_let(im, e), beta != 1 ? imp_num(im, beta) : "",
                         beta != 1 ? " * " : "", ec);
    }
    return imp_out(im, 0, e, 2, od);
}

/* window attributes of a 2-D conv or pool: one kernel, stride, dilation and padding for both axes */
typedef struct win {
    int64_t k, s, d, p;
} win;

static int square(imp *im, const char *what, const int64_t *v, int n, int64_t def, int64_t *out) {
    if (n < 0) return *out = def, 0;
    if (n != 2) return imp_fail(im, "%s has %d values; nnc supports 2-D windows only", what, n);
    if (v[0] != v[1])
        return imp_fail(im, "%s %lldx%lld differs between the axes; nnc's windows are square", what, (long long)v[0],
                        (long long)v[1]);
    return *out = v[0], 0;
}

/* the padding of a window over x (rank 4); -1 after an error */
static int window(imp *im, const Onnx__NodeProto *n, const ival *x, int64_t k, win *w) {
    int64_t v[8];
    int c;
    w->k = k;
    if (x->rank != 4) return imp_fail(im, "input of rank %d: nnc supports 2-D (N, C, H, W) windows only", x->rank);
    c = imp_aints(n, "strides", v, 8);
    if (square(im, "strides", v, c, 1, &w->s)) return -1;
    c = imp_aints(n, "dilations", v, 8);
    if (square(im, "dilations", v, c, 1, &w->d)) return -1;
    const char *ap = imp_as(n, "auto_pad", "NOTSET");
    if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
        int64_t t[2];
        for (int i = 0; i < 2; i++) {
            int64_t h = x->dims[2 + i], o = (h + w->s - 1) / w->s, span = (k - 1) * w->d + 1;
            t[i] = (o - 1) * w->s + span - h;
            if (t[i] < 0) t[i] = 0;
        }
        if (t[0] != t[1] || t[0] % 2) return imp_fail(im, "auto_pad %s pads unevenly here; nnc pads symmetrically", ap);
        return w->p = t[0] / 2, 0;
    }
    c = imp_aints(n, "pads", v, 8);
    if (c >= 0 && (c != 4 || v[0] != v[2] || v[1] != v[3]))
        return imp_fail(im, "asymmetric pads are not supported (nnc pads each side of an axis alike)");
    return square(im, "pads", v, c < 0 ? -1 : 2, 0, &w->p);
}

static int op_conv(imp *im, const Onnx__NodeProto *n) {
    ival *x = imp_req(im, 0), *W = x ? imp_req(im, 1) : NULL, *B = imp_in(im, 2);
    win w = {0, 1, 1, 0};
    if (!W || im->err[0] || !imp_float(im, x)) return -1;
    if (!W->c) return imp_fail(im, "input '%s' must be an initializer (nnc's conv2d owns its weights)", W->onnx);
    if (B && !B->c) return imp_fail(im, "input '%s' must be an initializer (nnc's conv2d owns its bias)", B->onnx);
    if (W->rank != 4) return imp_fail(im, "a %d-D convolution; nnc supports 2-D only", W->rank - 2);
    if (square(im, "kernel", W->dims + 2, 2, 0, &w.k) || window(im, n, x, W->dims[2], &w)) return -1;
    int64_t g = imp_ai(n, "group", 1), M = W->dims[0];
    int64_t od[4] = {x->dims[0], M, (x->dims[2] + 2 * w.p - w.d * (w.k - 1) - 1) / w.s + 1,
                     (x->dims[3] + 2 * w.p - w.d * (w.k - 1) - 1) / w.s + 1};
    const char *nm = layer_name(im, W);
    imp_weight(im, arena_printf(&im->a, "%s.weight", nm), 4, W->dims, W->c);
    if (B) imp_weight(im, arena_printf(&im->a, "%s.bias", nm), 1, &M, B->c);
    const char *e = arena_printf(&im->a,
                                 "conv2d(%s, %lld, %lld, stride = %lld, padding = %lld, dilation = %lld, "
                                 "groups = %lld%s)",
                                 imp_tensor(im, x), (long long)M, (long long)w.k, (long long)w.s, (long long)w.p,
                                 (long long)w.d, (long long)g, B ? "" : ", bias = false");
    return imp_out_named(im, 0, nm, e, 4, od);
}

/* ConvTranspose's padding from output_shape: the total each axis removes, split evenly */
static int convt_pads(imp *im, const Onnx__NodeProto *n, const ival *x, win *w, int64_t op) {
    int64_t os[4], full[2];
    int c = imp_aints(n, "output_shape", os, 4);
    if (c < 0) return 0;
    for (int i = 0; i < 2; i++) full[i] = (x->dims[2 + i] - 1) * w->s + (w->k - 1) * w->d + 1 + op - os[c - 2 + i];
    if (full[0] != full[1] || full[0] % 2 || full[0] < 0)
        return imp_fail(im, "output_shape needs uneven padding; nnc pads symmetrically");
    return w->p = full[0] / 2, 0;
}

static int op_convt(imp *im, const Onnx__NodeProto *n) {
    ival *x = imp_req(im, 0), *W = x ? imp_req(im, 1) : NULL, *B = imp_in(im, 2);
    win w = {0, 1, 1, 0};
    int64_t opv[4], op = 0;
    if (!W || im->err[0] || !imp_float(im, x)) return -1;
    if (!W->c)
        return imp_fail(im, "input '%s' must be an initializer (nnc's conv_transpose2d owns its weights)", W->onnx);
    if (B && !B->c)
        return imp_fail(im, "input '%s' must be an initializer (nnc's conv_transpose2d owns its bias)", B->onnx);
    if (W->rank != 4) return imp_fail(im, "a %d-D transposed convolution; nnc supports 2-D only", W->rank - 2);
    if (square(im, "kernel", W->dims + 2, 2, 0, &w.k) ||
        square(im, "output_padding", opv, imp_aints(n, "output_padding", opv, 4), 0, &op) ||
        window(im, n, x, W->dims[2], &w) || convt_pads(im, n, x, &w, op))
        return -1;
    if (strcmp(imp_as(n, "auto_pad", "NOTSET"), "NOTSET") && strcmp(imp_as(n, "auto_pad", "NOTSET"), "VALID"))
        return imp_fail(im, "auto_pad SAME for ConvTranspose is not supported");
    int64_t g = imp_ai(n, "group", 1), M = W->dims[1] * g,
            oh = (x->dims[2] - 1) * w.s - 2 * w.p + w.d * (w.k - 1) + op + 1;
    int64_t od[4] = {x->dims[0], M, oh, (x->dims[3] - 1) * w.s - 2 * w.p + w.d * (w.k - 1) + op + 1};
    const char *nm = layer_name(im, W);
    imp_weight(im, arena_printf(&im->a, "%s.weight", nm), 4, W->dims, W->c);
    if (B) imp_weight(im, arena_printf(&im->a, "%s.bias", nm), 1, &M, B->c);
    const char *e = arena_printf(&im->a,
                                 "conv_transpose2d(%s, %lld, %lld, stride = %lld, padding = %lld, "
                                 "output_padding = %lld, dilation = %lld, groups = %lld%s)",
                                 imp_tensor(im, x), (long long)M, (long long)w.k, (long long)w.s, (long long)w.p,
                                 (long long)op, (long long)w.d, (long long)g, B ? "" : ", bias = false");
    return imp_out_named(im, 0, nm, e, 4, od);
}

static int pool(imp *im, const Onnx__NodeProto *n, const char *fn) {
    ival *x = imp_req(im, 0);
    int64_t ks[8];
    win w = {0, 1, 1, 0};
    if (!x || !imp_float(im, x)) return -1;
    if (square(im, "kernel_shape", ks, imp_aints(n, "kernel_shape", ks, 8), 0, &w.k) || window(im, n, x, w.k, &w))
        return -1;
    if (w.d != 1) return imp_fail(im, "dilated pooling is not supported");
    if (n->n_output > 1 && n->output[1][0]) return imp_fail(im, "MaxPool's Indices output is not supported");
    if (fn[0] == 'a' && w.p && !imp_ai(n, "count_include_pad", 0))
        return imp_fail(im, "padding with count_include_pad = 0 is not supported (nnc's avgpool2d counts the padding)");
    if (2 * w.p > w.k)
        return imp_fail(im, "padding %lld is more than half the kernel %lld", (long long)w.p, (long long)w.k);
    int64_t o[2];
    for (int i = 0; i < 2; i++) {
        int64_t span = x->dims[2 + i] + 2 * w.p - w.k;
        o[i] = span / w.s + 1;
        if (imp_ai(n, "ceil_mode", 0) && span % w.s)
            return imp_fail(im, "ceil_mode = 1 here gives a partial window, which nnc's pools do not have");
    }
    int64_t od[4] = {x->dims[0], x->dims[1], o[0], o[1]};
    return imp_out(im, 0,
                   arena_printf(&im->a, "%s(%s, %lld, stride = %lld, padding = %lld)", fn, imp_tensor(im, x),
                                (long long)w.k, (long long)w.s, (long long)w.p),
                   4, od);
}

static int op_maxpool(imp *im, const Onnx__NodeProto *n) {
    if (imp_ai(n, "storage_order", 0)) return imp_fail(im, "storage_order = 1 is not supported");
    return pool(im, n, "maxpool2d");
}

static int op_avgpool(imp *im, const Onnx__NodeProto *n) { return pool(im, n, "avgpool2d"); }

static int global_pool(imp *im, int avg) {
    ival *x = imp_req(im, 0);
    if (!x || !imp_float(im, x)) return -1;
    if (x->rank != 4) return imp_fail(im, "input of rank %d: nnc supports 2-D (N, C, H, W) pooling only", x->rank);
    int64_t od[4] = {x->dims[0], x->dims[1], 1, 1};
    if (avg)
        return imp_out(im, 0,
                       arena_printf(&im->a, "reshape(global_avgpool(%s), %s)", imp_tensor(im, x), imp_shape(im, 4, od)),
                       4, od);
    if (x->dims[2] != x->dims[3]) return imp_fail(im, "GlobalMaxPool of a non-square input is not supported");
    return imp_out(im, 0, arena_printf(&im->a, "maxpool2d(%s, %lld)", imp_tensor(im, x), (long long)x->dims[2]), 4, od);
}

static int op_gavg(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    return global_pool(im, 1);
}
static int op_gmax(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    return global_pool(im, 0);
}

/* the integer scale of Resize/Upsample on H and W (N and C kept): scales, or sizes over the input */
static int resize_scale(imp *im, const Onnx__NodeProto *n, const ival *x, int64_t *s) {
    ival *sc = imp_in(im, im->opset >= 11 ? 2 : 1), *sz = im->opset >= 11 ? imp_in(im, 3) : NULL;
    double f[4] = {1, 1, 1, 1};
    if (im->err[0]) return -1;
    if (x->rank != 4) return imp_fail(im, "input of rank %d: nnc upsamples [N, C, H, W] only", x->rank);
    if ((sc && !sc->c) || (sz && !sz->c))
        return imp_fail(im, "'%s' must be an initializer or a constant", (sc && !sc->c ? sc : sz)->onnx);
    if (sz && sz->c && imp_numel(sz->rank, sz->dims) == 4)
        for (int i = 0; i < 4; i++) f[i] = sz->c[i] / (double)x->dims[i];
    else if (sc && sc->c && imp_numel(sc->rank, sc->dims) == 4)
        memcpy(f, sc->c, sizeof f);
    else if (!sc || imp_numel(sc->rank, sc->dims))
        return imp_fail(im, "scales or sizes must be constants of 4 values");
    (void)n;
    if (f[0] != 1 || f[1] != 1 || f[2] != f[3] || f[2] < 1 || f[2] != (double)(int64_t)f[2])
        return imp_fail(im, "scales %gx%gx%gx%g: nnc upsamples H and W by one integer factor", f[0], f[1], f[2], f[3]);
    return *s = (int64_t)f[2], 0;
}

/* 1 when ONNX's nearest pixel for coordinates CT and rounding NM is PyTorch's, floor(x / s), for
 * every integer scale s: with half-pixel centres x / s + (0.5 / s - 0.5) lies strictly within 0.5
 * of floor(x / s), so both roundings agree; asymmetric coordinates need floor */
static int nearest_is_floor(const char *ct, const char *nm) {
    if (!strcmp(ct, "half_pixel") || !strcmp(ct, "pytorch_half_pixel"))
        return !strcmp(nm, "round_prefer_floor") || !strcmp(nm, "round_prefer_ceil");
    return !strcmp(ct, "asymmetric") && !strcmp(nm, "floor");
}

/* Resize and Upsample as upsample: nearest (as nearest_is_floor allows) or linear with half-pixel
 * centres (PyTorch's bilinear with align_corners = False); integer scales on H and W */
static int op_resize(imp *im, const Onnx__NodeProto *n) {
    ival *x = imp_req(im, 0);
    int64_t s = 1;
    if (!x || !imp_float(im, x) || resize_scale(im, n, x, &s)) return -1;
    int old = im->opset < 11; /* Upsample and Resize-10: asymmetric coordinates, nearest rounds down */
    const char *mode = imp_as(n, "mode", "nearest");
    const char *ct = old ? "asymmetric" : imp_as(n, "coordinate_transformation_mode", "half_pixel");
    const char *nm = old ? "floor" : imp_as(n, "nearest_mode", "round_prefer_floor");
    int nearest = !strcmp(mode, "nearest"), linear = !strcmp(mode, "linear");
    if (!(nearest && nearest_is_floor(ct, nm)) &&
        !(linear && (!strcmp(ct, "half_pixel") || !strcmp(ct, "pytorch_half_pixel"))))
        return imp_fail(im,
                        "mode %s with %s coordinates%s%s is not supported (nnc's upsample is PyTorch's nearest "
                        "and bilinear with align_corners = False)",
                        mode, ct, nearest ? " and rounding " : "", nearest ? nm : "");
    int64_t od[4] = {x->dims[0], x->dims[1], x->dims[2] * s, x->dims[3] * s};
    return imp_out(im, 0,
                   arena_printf(&im->a, "upsample(%s, %lld, mode = %s)", imp_tensor(im, x), (long long)s,
                                nearest ? "nearest" : "bilinear"),
                   4, od);
}

const imp_op imp_ops_nn[] = {{"Resize", op_resize},
                             {"Upsample", op_resize},
                             {"MatMul", op_matmul},
                             {"Gemm", op_gemm},
                             {"Conv", op_conv},
                             {"ConvTranspose", op_convt},
                             {"MaxPool", op_maxpool},
                             {"AveragePool", op_avgpool},
                             {"GlobalAveragePool", op_gavg},
                             {"GlobalMaxPool", op_gmax},
                             {NULL, NULL}};
