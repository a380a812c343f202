/* import_reduce.c — reductions, softmax over any axis, and the normalizations written out as
 * means (LayerNormalization over several axes, MeanVarianceNormalization, InstanceNormalization). */
#include "import.h"

/* the reduced axes of a Reduce* node (attribute, or input 1 from opset 13 for ReduceSum) into
 * red[rank]; -1 after an error, 1 for "no axes and noop_with_empty_axes", else 0 */
static int reduce_axes(imp *im, const Onnx__NodeProto *n, const ival *x, int *red) {
    int64_t ax[IMP_MAX_RANK];
    int k = imp_aints(n, "axes", ax, IMP_MAX_RANK);
    ival *a = imp_in(im, 1);
    if (a && (k = imp_consts(im, a, "axes", ax, IMP_MAX_RANK)) < 0) return -1;
    if (im->err[0]) return -1;
    if (k <= 0 && imp_ai(n, "noop_with_empty_axes", 0)) return 1;
    for (int i = 0; i < x->rank; i++) red[i] = k <= 0;
    for (int i = 0; i < k; i++) {
        int a2;
        if (imp_axis(im, ax[i], x->rank, &a2)) return -1;
        red[a2] = 1;
    }
    return 0;
}

/* e (shape x) summed over the axes red, highest first; the kept shape into *rank, dims */
static const char *sum_axes(imp *im, const char *e, const ival *x, const int *red, int *rank, int64_t *dims) {
    int all = 1;
    *rank = 0;
    for (int i = 0; i < x->rank; i++) {
        all &= red[i];
        if (!red[i]) dims[(*rank)++] = x->dims[i];
    }
    if (all) return arena_printf(&im->a, "sum(%s)", e);
    for (int i = x->rank - 1; i >= 0; i--)
        if (red[i]) e = arena_printf(&im->a, "sum(%s, %d)", e, i);
    return e;
}

/* pre and post: templates around the sum ('@' is the value); mean divides by the count */
static int reduce(imp *im, const Onnx__NodeProto *n, const char *pre, const char *post, int mean) {
    ival *x = imp_req(im, 0);
    int red[IMP_MAX_RANK], rank;
    int64_t dims[IMP_MAX_RANK], kd[IMP_MAX_RANK], cnt = 1;
    if (!x || !imp_float(im, x)) return -1;
    const char *e = imp_tensor(im, x);
    int r = e ? reduce_axes(im, n, x, red) : -1;
    if (r) return r < 0 ? -1 : imp_out(im, 0, e, x->rank, x->dims);
    for (int i = 0; i < x->rank; i++) kd[i] = red[i] ? 1 : x->dims[i], cnt *= red[i] ? x->dims[i] : 1;
    if (*pre) e = imp_let(im, arena_printf(&im->a, pre, e, e));
    e = sum_axes(im, e, x, red, &rank, dims);
    if (mean) e = arena_printf(&im->a, "%s / %lld", e, (long long)cnt);
    if (*post) e = arena_printf(&im->a, post, e);
    if (imp_ai(n, "keepdims", 1)) e = imp_reshape(im, imp_let(im, e), rank, dims, x->rank, kd);
    return imp_out(im, 0, e, imp_ai(n, "keepdims", 1) ? x->rank : rank, imp_ai(n, "keepdims", 1) ? kd : dims);
}

static int op_rsum(imp *im, const Onnx__NodeProto *n) { return reduce(im, n, "", "", 0); }
static int op_rmean(imp *im, const Onnx__NodeProto *n) { return reduce(im, n, "", "", 1); }
static int op_rsumsq(imp *im, const Onnx__NodeProto *n) { return reduce(im, n, "%s * %s", "", 0); }
static int op_rl1(imp *im, const Onnx__NodeProto *n) { return reduce(im, n, "relu(%s) + relu(-%s)", "", 0); }
static int op_rl2(imp *im, const Onnx__NodeProto *n) { return reduce(im, n, "%s * %s", "sqrt(%s)", 0); }
static int op_rlogsum(imp *im, const Onnx__NodeProto *n) { return reduce(im, n, "", "log(%s)", 0); }
static int op_rlse(imp *im, const Onnx__NodeProto *n) { return reduce(im, n, "exp(%s)", "log(%s)", 0); }

/* the two halves of an axis combined: max (a + relu(b - a)), min or product */
static const char *pair(imp *im, char op, const char *a, const char *b) {
    a = imp_let(im, a), b = imp_let(im, b);
    if (op == '>') return arena_printf(&im->a, "%s + relu(%s - %s)", a, b, a);
    if (op == '<') return arena_printf(&im->a, "%s - relu(%s - %s)", a, a, b);
    return arena_printf(&im->a, "%s * %s", a, b);
}

/* ReduceMax, ReduceMin, ReduceProd: a tree over each reduced axis, the axis halved at each step
 * (an odd last element carried along) */
static int tree_reduce(imp *im, const Onnx__NodeProto *n, char op) {
    ival *x = imp_req(im, 0);
    int red[IMP_MAX_RANK], rank = 0;
    int64_t d[IMP_MAX_RANK], od[IMP_MAX_RANK];
    if (!x || !imp_float(im, x)) return -1;
    const char *e = imp_tensor(im, x);
    int r = e ? reduce_axes(im, n, x, red) : -1;
    if (r) return r < 0 ? -1 : imp_out(im, 0, e, x->rank, x->dims);
    memcpy(d, x->dims, sizeof d);
    for (int a = 0; a < x->rank; a++)
        for (; red[a] && d[a] > 1; d[a] = d[a] / 2 + d[a] % 2) {
            int64_t h = d[a] / 2;
            e = imp_let(im, e);
            const char *c =
                pair(im, op, arena_printf(&im->a, "slice(%s, %d, 0, %lld)", e, a, (long long)h),
                     arena_printf(&im->a, "slice(%s, %d, %lld, %lld)", e, a, (long long)h, (long long)(2 * h)));
            if (d[a] % 2)
                c = arena_printf(&im->a, "concat(%s, slice(%s, %d, %lld, %lld), %d)", imp_let(im, c), e, a,
                                 (long long)(2 * h), (long long)d[a], a);
            e = c;
        }
    for (int a = 0; a < x->rank; a++)
        if (!red[a]) od[rank++] = d[a];
    if (imp_ai(n, "keepdims", 1)) return imp_out(im, 0, e, x->rank, d);
    return imp_out(im, 0, imp_reshape(im, imp_let(im, e), x->rank, d, rank, od), rank, od);
}

static int op_rmax(imp *im, const Onnx__NodeProto *n) { return tree_reduce(im, n, '>'); }
static int op_rmin(imp *im, const Onnx__NodeProto *n) { return tree_reduce(im, n, '<'); }
static int op_rprod(imp *im, const Onnx__NodeProto *n) { return tree_reduce(im, n, '*'); }

/* softmax or log_softmax over axis: opset 13 moves the axis last, older opsets flatten to 2-D */
static int softmax(imp *im, const Onnx__NodeProto *n, const char *fn) {
    ival *x = imp_req(im, 0);
    int ax;
    if (!x || !imp_float(im, x) || imp_axis(im, imp_ai(n, "axis", im->opset >= 13 ? -1 : 1), x->rank, &ax)) return -1;
    const char *e = imp_tensor(im, x);
    if (!e) return -1;
    if (x->rank == 0) return imp_fail(im, "softmax of a scalar");
    if (im->opset < 13) {
        int64_t d2[2] = {imp_numel(ax, x->dims), imp_numel(x->rank - ax, x->dims + ax)};
        e = arena_printf(&im->a, "%s(%s)", fn, imp_reshape(im, e, x->rank, x->dims, 2, d2));
        return imp_out(im, 0, imp_reshape(im, imp_let(im, e), 2, d2, x->rank, x->dims), x->rank, x->dims);
    }
    if (ax == x->rank - 1) return imp_out(im, 0, arena_printf(&im->a, "%s(%s)", fn, e), x->rank, x->dims);
    int64_t perm[IMP_MAX_RANK], inv[IMP_MAX_RANK];
    for (int i = 0, k = 0; i < x->rank; i++)
        if (i != ax) perm[k++] = i;
    perm[x->rank - 1] = ax;
    for (int i = 0; i < x->rank; i++) inv[perm[i]] = i;
    e = imp_let(im, arena_printf(&im->a, "%s(permute(%s, %s))", fn, e, imp_shape(im, x->rank, perm)));
    return imp_out(im, 0, arena_printf(&im->a, "permute(%s, %s)", e, imp_shape(im, x->rank, inv)), x->rank, x->dims);
}

static int op_softmax(imp *im, const Onnx__NodeProto *n) { return softmax(im, n, "softmax"); }
static int op_logsoftmax(imp *im, const Onnx__NodeProto *n) { return softmax(im, n, "log_softmax"); }

/* x normalized over the axes red: (x - mean) / sqrt(var + eps), with mean and 1/sqrt(var + eps)
 * kept (reduced axes as 1) in *mean and *istd when asked */
static const char *normalize(imp *im, const ival *x, const char *e, const int *red, double eps, const char **mean,
                             const char **istd) {
    int rank;
    int64_t dims[IMP_MAX_RANK], kd[IMP_MAX_RANK], cnt = 1;
    for (int i = 0; i < x->rank; i++) kd[i] = red[i] ? 1 : x->dims[i], cnt *= red[i] ? x->dims[i] : 1;
    const char *m =
        imp_let(im, arena_printf(&im->a, "%s / %lld", sum_axes(im, e, x, red, &rank, dims), (long long)cnt));
    const char *mk = imp_let(im, imp_reshape(im, m, rank, dims, x->rank, kd));
    const char *d = imp_let(im, arena_printf(&im->a, "%s - %s", e, imp_fit(im, mk, x->rank, kd, x->rank, x->dims)));
    const char *dd = imp_let(im, arena_printf(&im->a, "%s * %s", d, d));
    const char *v =
        imp_let(im, arena_printf(&im->a, "%s / %lld", sum_axes(im, dd, x, red, &rank, dims), (long long)cnt));
    const char *is = imp_let(
        im, imp_reshape(im, arena_printf(&im->a, "1 / sqrt(%s + %s)", v, imp_num(im, eps)), rank, dims, x->rank, kd));
    if (mean) *mean = mk;
    if (istd) *istd = is;
    return arena_printf(&im->a, "%s * %s", d, imp_fit(im, is, x->rank, kd, x->rank, x->dims));
}

/* y * scale + bias, both broadcast to y's shape (absent: skipped) */
static const char *affine(imp *im, const char *y, const ival *x, ival *scale, ival *bias) {
    const char *s = scale ? imp_operand(im, scale, x->rank, x->dims) : "", *b;
    if (!s) return NULL;
    if (scale) y = arena_printf(&im->a, "%s * %s", imp_let(im, y), s);
    if (!bias) return y;
    if (!(b = imp_operand(im, bias, x->rank, x->dims))) return NULL;
    return arena_printf(&im->a, "%s + %s", imp_let(im, y), b);
}

static int op_layernorm(imp *im, const Onnx__NodeProto *n) {
    ival *x = imp_req(im, 0), *s = x ? imp_req(im, 1) : NULL, *b = imp_in(im, 2);
    int ax, red[IMP_MAX_RANK];
    if (!s || !imp_float(im, x) || imp_axis(im, imp_ai(n, "axis", -1), x->rank, &ax)) return -1;
    if (imp_ai(n, "stash_type", 1) != 1) return imp_fail(im, "stash_type other than 1 (f32) is not supported");
    for (int i = 0; i < x->rank; i++) red[i] = i >= ax;
    const char *mean, *istd, *y = normalize(im, x, imp_tensor(im, x), red, imp_af(n, "epsilon", 1e-5), &mean, &istd);
    int64_t kd[IMP_MAX_RANK];
    for (int i = 0; i < x->rank; i++) kd[i] = i >= ax ? 1 : x->dims[i];
    if (!(y = affine(im, y, x, s, b)) || imp_out(im, 0, y, x->rank, x->dims)) return -1;
    return imp_out(im, 1, mean, x->rank, kd) || imp_out(im, 2, istd, x->rank, kd) ? -1 : 0;
}

static int op_mvn(imp *im, const Onnx__NodeProto *n) {
    ival *x = imp_req(im, 0);
    int64_t ax[IMP_MAX_RANK] = {0, 2, 3};
    int k = imp_aints(n, "axes", ax, IMP_MAX_RANK), red[IMP_MAX_RANK] = {0};
    if (!x || !imp_float(im, x)) return -1;
    for (int i = 0, a; i < (k < 0 ? 3 : k); i++) {
        if (imp_axis(im, ax[i], x->rank, &a)) return -1;
        red[a] = 1;
    }
    return imp_out(im, 0, normalize(im, x, imp_tensor(im, x), red, 1e-9, NULL, NULL), x->rank, x->dims);
}

/* a per-channel vector v[C] as x's shape (channel axis 1) */
static const char *per_channel(imp *im, ival *v, const ival *x) {
    int64_t d[IMP_MAX_RANK];
    const char *e = imp_tensor(im, v);
    if (!e || v->rank != 1 || x->rank < 2 || v->dims[0] != x->dims[1])
        return imp_fail(im, "'%s' must hold one value per channel", v->onnx), NULL;
    for (int i = 0; i < x->rank; i++) d[i] = i == 1 ? x->dims[1] : 1;
    return imp_fit(im, imp_reshape(im, e, 1, v->dims, x->rank, d), x->rank, d, x->rank, x->dims);
}

static int op_instnorm(imp *im, const Onnx__NodeProto *n) {
    ival *x = imp_req(im, 0), *s = x ? imp_req(im, 1) : NULL, *b = s ? imp_req(im, 2) : NULL;
    int red[IMP_MAX_RANK];
    if (!b || !imp_float(im, x)) return -1;
    for (int i = 0; i < x->rank; i++) red[i] = i >= 2;
    const char *y = normalize(im, x, imp_tensor(im, x), red, imp_af(n, "epsilon", 1e-5), NULL, NULL);
    const char *se = per_channel(im, s, x), *be = se ? per_channel(im, b, x) : NULL;
    if (!be) return -1;
    return imp_out(im, 0, arena_printf(&im->a, "%s * %s + %s", imp_let(im, y), se, be), x->rank, x->dims);
}

/* BatchNormalization at inference, written out: (x - mean) / sqrt(var + eps) * scale + B */
static int op_batchnorm(imp *im, const Onnx__NodeProto *n) {
    ival *in[5];
    for (int i = 0; i < 5; i++)
        if (!(in[i] = imp_req(im, i))) return -1;
    if (imp_ai(n, "training_mode", 0) || (n->n_output > 1 && n->output[1][0]))
        return imp_fail(im, "BatchNormalization in training mode is not supported (nnc imports inference graphs)");
    if (!imp_float(im, in[0])) return -1;
    const char *c[4];
    for (int i = 0; i < 4; i++)
        if (!(c[i] = per_channel(im, in[i + 1], in[0]))) return -1;
    const char *y = arena_printf(&im->a, "(%s - %s) / sqrt(%s + %s) * %s + %s", imp_tensor(im, in[0]), c[2], c[3],
                                 imp_num(im, imp_af(n, "epsilon", 1e-5)), c[0], c[1]);
    return imp_out(im, 0, y, in[0]->rank, in[0]->dims);
}

const imp_op imp_ops_reduce[] = {{"ReduceSum", op_rsum},
                                 {"ReduceMean", op_rmean},
                                 {"ReduceSumSquare", op_rsumsq},
                                 {"ReduceL1", op_rl1},
                                 {"ReduceL2", op_rl2},
                                 {"ReduceLogSum", op_rlogsum},
                                 {"ReduceLogSumExp", op_rlse},
                                 {"ReduceMax", op_rmax},
                                 {"ReduceMin", op_rmin},
                                 {"ReduceProd", op_rprod},
                                 {"Softmax", op_softmax},
                                 {"LogSoftmax", op_logsoftmax},
                                 {"LayerNormalization", op_layernorm},
                                 {"MeanVarianceNormalization", op_mvn},
                                 {"InstanceNormalization", op_instnorm},
                                 {"BatchNormalization", op_batchnorm},
                                 {NULL, NULL}};
