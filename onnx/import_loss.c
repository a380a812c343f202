/* import_loss.c — ops that need constant operands: SoftmaxCrossEntropyLoss and
 * NegativeLogLikelihoodLoss with constant labels (picking each row's class is a product with a
 * constant mask that also holds the class weights and the ignored rows), Trilu and Where as
 * products with constant masks, CumSum and LRN as products with constant triangle and band
 * matrices, and ConstantOfShape, Range and EyeLike, which fold. */
#include "import.h"
#include <math.h>

/* log-probabilities lp [N, C, d...] moved to [N, d..., C]: the permutation into perm */
static const char *classes_last(imp *im, const char *lp, int rank, int64_t *perm) {
    for (int i = 0, k = 0; i < rank; i++)
        if (i != 1) perm[k++] = i;
    perm[rank - 1] = 1;
    return rank == 2 ? lp : arena_printf(&im->a, "permute(%s, %s)", lp, imp_shape(im, rank, perm));
}

/* the mask [N, d..., C] of the labels (weighted), and the sum of the weights of the rows counted */
static double *label_mask(imp *im, const ival *x, const ival *lab, const ival *w, int64_t ii, double *den) {
    int64_t C = x->dims[1], R = imp_numel(lab->rank, lab->dims);
    double *m = imp_values(im, R * C);
    *den = 0;
    if (!m) return NULL;
    for (int64_t r = 0; r < R; r++) {
        int64_t c = (int64_t)lab->c[r];
        if (c == ii) continue;
        if (c < 0 || c >= C) return imp_fail(im, "label %lld is not a class of %lld", (long long)c, (long long)C), NULL;
        m[r * C + c] = w ? w->c[c] : 1;
        *den += m[r * C + c];
    }
    return m;
}

/* SCE (softmax first) or NLL: outputs loss and, for SCE, log_prob */
static int class_loss(imp *im, const Onnx__NodeProto *n, int softmax) {
    ival *x = imp_req(im, 0), *lab = x ? imp_req(im, 1) : NULL, *w = imp_in(im, 2);
    int64_t perm[IMP_MAX_RANK], pd[IMP_MAX_RANK], inv[IMP_MAX_RANK], ii = imp_ai(n, "ignore_index", INT64_MIN);
    const char *red = imp_as(n, "reduction", "mean");
    double den;
    if (!lab || im->err[0] || !imp_float(im, x)) return -1;
    if (!lab->c)
        return imp_fail(im,
                        "'%s' must be an initializer or a constant (nnc picks the classes at compile "
                        "time)",
                        lab->onnx);
    if (w && !w->c) return imp_fail(im, "'%s' must be an initializer or a constant", w->onnx);
    if (x->rank < 2 || lab->rank != x->rank - 1) return imp_fail(im, "scores and labels do not match");
    const char *lp = imp_tensor(im, x);
    lp = classes_last(im, lp, x->rank, perm);
    for (int i = 0; i < x->rank; i++) pd[i] = x->dims[perm[i]], inv[perm[i]] = i;
    if (softmax) lp = imp_let(im, arena_printf(&im->a, "log_softmax(%s)", lp));
    double *m = label_mask(im, x, lab, w, ii, &den);
    if (!m) return -1;
    const char *mk = imp_param(im, "mask", x->rank, pd, m);
    const char *per = imp_let(im, arena_printf(&im->a, "-sum(%s * %s, %d)", lp, mk, x->rank - 1));
    const char *loss = !strcmp(red, "none") ? per : arena_printf(&im->a, "sum(%s)", per);
    if (!strcmp(red, "mean"))
        loss = arena_printf(&im->a, "%s / %s", loss, imp_num(im, den));
    else if (strcmp(red, "sum") && strcmp(red, "none"))
        return imp_fail(im, "reduction '%s' is not supported", red);
    if (imp_out(im, 0, loss, !strcmp(red, "none") ? lab->rank : 0, lab->dims)) return -1;
    if (!softmax || n->n_output < 2) return 0;
    return imp_out(im, 1, x->rank == 2 ? lp : arena_printf(&im->a, "permute(%s, %s)", lp, imp_shape(im, x->rank, inv)),
                   x->rank, x->dims);
}

static int op_sce(imp *im, const Onnx__NodeProto *n) { return class_loss(im, n, 1); }
static int op_nll(imp *im, const Onnx__NodeProto *n) { return class_loss(im, n, 0); }

/* x times a constant mask of x's shape (NaN and infinities in x stay where the mask is 1) */
static int masked(imp *im, ival *x, const double *mask) {
    const char *e = imp_float(im, x) ? imp_tensor(im, x) : NULL;
    if (!e) return -1;
    const char *m = imp_param(im, "mask", x->rank, x->dims, mask);
    return imp_out(im, 0, arena_printf(&im->a, "%s * %s", e, m), x->rank, x->dims);
}

static int op_trilu(imp *im, const Onnx__NodeProto *n) {
    ival *x = imp_req(im, 0), *kv = imp_in(im, 1);
    int64_t k = 0;
    if (!x || im->err[0] || (kv && imp_consts(im, kv, "k", &k, 1) < 0)) return -1;
    if (x->rank < 2) return imp_fail(im, "Trilu needs a matrix");
    int64_t R = x->dims[x->rank - 2], C = x->dims[x->rank - 1], total = imp_numel(x->rank, x->dims);
    int up = (int)imp_ai(n, "upper", 1);
    double *m = imp_values(im, total);
    for (int64_t i = 0; m && i < total; i++) {
        int64_t r = i / C % R, c = i % C;
        m[i] = up ? c - r >= k : c - r <= k;
    }
    return m ? masked(im, x, m) : -1;
}

/* Where of three constants, folded */
static int where_consts(imp *im, const ival *c, const ival *x, const ival *y, int rank, const int64_t *d) {
    int64_t total = imp_numel(rank, d);
    double *v = imp_values(im, total);
    if (!v) return -1;
    for (int64_t i = 0; i < total; i++)
        v[i] = c->c[imp_bindex(c, rank, d, i)] != 0 ? x->c[imp_bindex(x, rank, d, i)] : y->c[imp_bindex(y, rank, d, i)];
    if (imp_const_out(im, 0, rank, d, v)) return -1;
    imp_find(im, im->node->output[0])->dtype = x->dtype;
    return 0;
}

/* Where with a constant condition: x * c + y * (1 - c) */
static int op_where(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    ival *c = imp_req(im, 0), *x = c ? imp_req(im, 1) : NULL, *y = x ? imp_req(im, 2) : NULL, t = {0};
    int rank, r2;
    int64_t d[IMP_MAX_RANK], d2[IMP_MAX_RANK];
    if (!y) return -1;
    if (!c->c) return imp_fail(im, "condition '%s' must be an initializer or a constant", c->onnx);
    if (imp_bcast(im, x, y, &rank, d)) return -1;
    t.rank = rank;
    memcpy(t.dims, d, sizeof d);
    if (imp_bcast(im, &t, c, &r2, d2)) return -1;
    int64_t total = imp_numel(r2, d2);
    if (x->c && y->c) return where_consts(im, c, x, y, r2, d2);
    double *m = imp_values(im, total), *nm = m ? imp_values(im, total) : NULL;
    if (!nm) return -1;
    for (int64_t i = 0; i < total; i++) m[i] = c->c[imp_bindex(c, r2, d2, i)] != 0, nm[i] = 1 - m[i];
    const char *ex = imp_operand(im, x, r2, d2), *ey = ex ? imp_operand(im, y, r2, d2) : NULL;
    if (!ey) return -1;
    const char *pm = imp_param(im, "mask", r2, d2, m), *pn = imp_param(im, "mask", r2, d2, nm);
    return imp_out(im, 0, arena_printf(&im->a, "%s * %s + %s * %s", ex, pm, ey, pn), r2, d2);
}

static int op_constantofshape(imp *im, const Onnx__NodeProto *n) {
    ival *s = imp_req(im, 0);
    int64_t d[IMP_MAX_RANK];
    int k = s ? imp_consts(im, s, "shape", d, IMP_MAX_RANK) : -1;
    if (k < 0) return -1;
    const Onnx__AttributeProto *a = imp_attr(n, "value");
    double v = 0;
    int dt = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    if (a && a->t) {
        dt = a->t->data_type;
        if (a->t->n_float_data)
            v = a->t->float_data[0];
        else if (a->t->n_int64_data)
            v = (double)a->t->int64_data[0];
        else if (a->t->n_int32_data)
            v = a->t->int32_data[0];
        else if (a->t->has_raw_data && a->t->raw_data.len == 4 && dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
            float f;
            memcpy(&f, a->t->raw_data.data, 4);
            v = f;
        } else if (a->t->has_raw_data && a->t->raw_data.len == 8 && dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT64) {
            int64_t i;
            memcpy(&i, a->t->raw_data.data, 8);
            v = (double)i;
        } else
            return imp_fail(im, "a value of type %s is not supported", imp_dtype_name(dt));
    }
    int64_t total = imp_numel(k, d);
    double *c = imp_values(im, total);
    for (int64_t i = 0; c && i < total; i++) c[i] = v;
    if (!c) return -1;
    if (imp_const_out(im, 0, k, d, c)) return -1;
    imp_find(im, n->output[0])->dtype = dt;
    return 0;
}

static int op_range(imp *im, const Onnx__NodeProto *n) {
    ival *v[3];
    for (int i = 0; i < 3; i++) {
        if (!(v[i] = imp_req(im, i))) return -1;
        if (!v[i]->c) return imp_fail(im, "'%s' must be an initializer or a constant", v[i]->onnx);
    }
    double s = v[0]->c[0], l = v[1]->c[0], dl = v[2]->c[0];
    int64_t k = dl ? (int64_t)ceil((l - s) / dl) : 0;
    if (k < 1 || k > ((int64_t)1 << 24)) return imp_fail(im, "a range of %lld elements is not supported", (long long)k);
    double *c = imp_values(im, k);
    for (int64_t i = 0; i < k; i++) c[i] = s + (double)i * dl;
    if (imp_const_out(im, 0, 1, &k, c)) return -1;
    imp_find(im, n->output[0])->dtype = v[0]->dtype;
    return 0;
}

static int op_eyelike(imp *im, const Onnx__NodeProto *n) {
    ival *x = imp_req(im, 0);
    if (!x) return -1;
    if (x->rank != 2) return imp_fail(im, "EyeLike needs a matrix");
    int64_t k = imp_ai(n, "k", 0), total = imp_numel(2, x->dims);
    double *c = imp_values(im, total);
    for (int64_t i = 0; c && i < total; i++) c[i] = i % x->dims[1] - i / x->dims[1] == k;
    if (!c) return -1;
    if (imp_const_out(im, 0, 2, x->dims, c)) return -1;
    imp_find(im, n->output[0])->dtype = (int)imp_ai(n, "dtype", x->dtype);
    return 0;
}

/* x with axis moved last as a permutation into perm (identity when it is last already) */
static const char *axis_last(imp *im, const char *e, int rank, int ax, int64_t *perm, int64_t *inv) {
    for (int i = 0, k = 0; i < rank; i++)
        if (i != ax) perm[k++] = i;
    perm[rank - 1] = ax;
    for (int i = 0; i < rank; i++) inv[perm[i]] = i;
    return ax == rank - 1 ? e : arena_printf(&im->a, "permute(%s, %s)", e, imp_shape(im, rank, perm));
}

/* CumSum along a constant axis: a product with a triangular matrix of ones */
static int op_cumsum(imp *im, const Onnx__NodeProto *n) {
    ival *x = imp_req(im, 0), *av = x ? imp_req(im, 1) : NULL;
    int64_t a, perm[IMP_MAX_RANK], inv[IMP_MAX_RANK];
    int ax, ex = (int)imp_ai(n, "exclusive", 0), rev = (int)imp_ai(n, "reverse", 0);
    if (!av || imp_consts(im, av, "axis", &a, 1) < 0 || imp_axis(im, a, x->rank, &ax) || !imp_float(im, x)) return -1;
    int64_t k = x->dims[ax], md[2] = {k, k};
    double *m = imp_values(im, k > 8192 ? IMP_MAX_VALUES + 1 : k * k);
    if (!m) return -1;
    for (int64_t j = 0; j < k; j++)
        for (int64_t i = 0; i < k; i++) m[j * k + i] = rev ? (ex ? j > i : j >= i) : (ex ? j < i : j <= i);
    const char *e = axis_last(im, imp_tensor(im, x), x->rank, ax, perm, inv);
    e = arena_printf(&im->a, "matmul(%s, %s)", e, imp_param(im, "triangle", 2, md, m));
    if (x->rank < 2) return imp_fail(im, "CumSum of a vector is not supported (nnc's matmul needs a matrix)");
    if (ax != x->rank - 1) e = arena_printf(&im->a, "permute(%s, %s)", imp_let(im, e), imp_shape(im, x->rank, inv));
    return imp_out(im, 0, e, x->rank, x->dims);
}

/* LRN: the sum of squares over a window of channels is a product with a band matrix */
static int op_lrn(imp *im, const Onnx__NodeProto *n) {
    ival *x = imp_req(im, 0);
    int64_t size = imp_ai(n, "size", 0), perm[IMP_MAX_RANK], inv[IMP_MAX_RANK];
    if (!x || !imp_float(im, x)) return -1;
    if (x->rank < 3 || size < 1) return imp_fail(im, "LRN needs [N, C, ...] and a size");
    int64_t C = x->dims[1], md[2] = {C, C}, lo = (size - 1) / 2, hi = size - 1 - lo;
    double *m = imp_values(im, C > 8192 ? IMP_MAX_VALUES + 1 : C * C);
    if (!m) return -1;
    for (int64_t j = 0; j < C; j++)
        for (int64_t c = 0; c < C; c++) m[j * C + c] = j >= c - lo && j <= c + hi;
    const char *xp = imp_let(im, axis_last(im, imp_tensor(im, x), x->rank, 1, perm, inv));
    const char *s = arena_printf(&im->a, "matmul(%s * %s, %s)", xp, xp, imp_param(im, "band", 2, md, m));
    const char *y = arena_printf(&im->a, "%s / pow(%s + %s * %s, %s)", xp, imp_num(im, imp_af(n, "bias", 1)),
                                 imp_num(im, imp_af(n, "alpha", 1e-4) / (double)size), imp_let(im, s),
                                 imp_num(im, imp_af(n, "beta", 0.75)));
    y = arena_printf(&im->a, "permute(%s, %s)", imp_let(im, y), imp_shape(im, x->rank, inv));
    return imp_out(im, 0, y, x->rank, x->dims);
}

const imp_op imp_ops_loss[] = {{"CumSum", op_cumsum},
                               {"LRN", op_lrn},
                               {"SoftmaxCrossEntropyLoss", op_sce},
                               {"NegativeLogLikelihoodLoss", op_nll},
                               {"Trilu", op_trilu},
                               {"Where", op_where},
                               {"ConstantOfShape", op_constantofshape},
                               {"Range", op_range},
                               {"EyeLike", op_eyelike},
                               {NULL, NULL}};
