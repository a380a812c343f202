/* import_shape.c — shape ops: Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Concat, Slice,
 * Gather and Split on constant indices, Expand, Tile, Shape, Size, DepthToSpace, SpaceToDepth.
 * On constants they fold (shape arithmetic stays at import time); on tensors they become the
 * language's reshape, permute, concat, slice and expand. */
#include "import.h"

/* x, or the constant x with a new shape, as output 0 of shape dims */
static int reshaped(imp *im, ival *x, int rank, const int64_t *dims) {
    if (imp_numel(rank, dims) != imp_numel(x->rank, x->dims))
        return imp_fail(im, "cannot reshape %s to %s", imp_shape(im, x->rank, x->dims), imp_shape(im, rank, dims));
    if (x->c) {
        int r = imp_const_out(im, 0, rank, dims, x->c);
        ival *o = im->node->n_output ? imp_find(im, im->node->output[0]) : NULL;
        if (o) o->dtype = x->dtype;
        return r;
    }
    const char *e = imp_float(im, x) ? imp_tensor(im, x) : NULL;
    return e ? imp_out(im, 0, imp_reshape(im, e, x->rank, x->dims, rank, dims), rank, dims) : -1;
}

static int op_reshape(imp *im, const Onnx__NodeProto *n) {
    ival *x = imp_req(im, 0), *s = x ? imp_req(im, 1) : NULL;
    int64_t d[IMP_MAX_RANK + 1], known = 1;
    int k = s ? imp_consts(im, s, "shape", d, IMP_MAX_RANK) : -1, infer = -1;
    if (k < 0) return -1;
    for (int i = 0; i < k; i++) {
        if (d[i] == 0 && !imp_ai(n, "allowzero", 0) && i < x->rank) d[i] = x->dims[i];
        if (d[i] == -1 && infer < 0)
            infer = i;
        else if (d[i] < 1)
            return imp_fail(im, "shape entry %lld is not supported", (long long)d[i]);
        else
            known *= d[i];
    }
    if (infer >= 0) d[infer] = imp_numel(x->rank, x->dims) / known;
    return reshaped(im, x, k, d);
}

static int op_flatten(imp *im, const Onnx__NodeProto *n) {
    ival *x = imp_req(im, 0);
    int64_t a = imp_ai(n, "axis", 1);
    if (!x) return -1;
    if (a < -x->rank || a > x->rank)
        return imp_fail(im, "axis %lld is out of range for rank %d", (long long)a, x->rank);
    int ax = (int)(a < 0 ? a + x->rank : a);
    int64_t d[2] = {imp_numel(ax, x->dims), imp_numel(x->rank - ax, x->dims + ax)};
    return reshaped(im, x, 2, d);
}

/* the axes of Squeeze/Unsqueeze: attribute before opset 13, input 1 after; the count or -1 */
static int axes_of(imp *im, const Onnx__NodeProto *n, int64_t *ax) {
    ival *a = imp_in(im, 1);
    if (a) return imp_consts(im, a, "axes", ax, IMP_MAX_RANK);
    return im->err[0] ? -1 : imp_aints(n, "axes", ax, IMP_MAX_RANK);
}

static int op_squeeze(imp *im, const Onnx__NodeProto *n) {
    ival *x = imp_req(im, 0);
    int64_t ax[IMP_MAX_RANK], d[IMP_MAX_RANK];
    int k = x ? axes_of(im, n, ax) : -1, drop[IMP_MAX_RANK] = {0}, r = 0;
    if (!x || im->err[0]) return -1;
    for (int i = 0; i < k; i++) {
        int a;
        if (imp_axis(im, ax[i], x->rank, &a)) return -1;
        drop[a] = 1;
    }
    for (int i = 0; i < x->rank; i++)
        if (!(k < 0 ? x->dims[i] == 1 : drop[i])) d[r++] = x->dims[i];
    return reshaped(im, x, r, d);
}

static int op_unsqueeze(imp *im, const Onnx__NodeProto *n) {
    ival *x = imp_req(im, 0);
    int64_t ax[IMP_MAX_RANK], d[IMP_MAX_RANK];
    int k = x ? axes_of(im, n, ax) : -1, add[IMP_MAX_RANK] = {0};
    if (k < 0) return im->err[0] ? -1 : imp_fail(im, "Unsqueeze needs axes");
    int r = x->rank + k;
    if (r > IMP_MAX_RANK) return imp_fail(im, "the result has rank %d; nnc tensors have at most 6 axes", r);
    for (int i = 0, a; i < k; i++) {
        if (imp_axis(im, ax[i], r, &a)) return -1;
        add[a] = 1;
    }
    for (int i = 0, j = 0; i < r; i++) d[i] = add[i] ? 1 : x->dims[j++];
    return reshaped(im, x, r, d);
}

static int op_transpose(imp *im, const Onnx__NodeProto *n) {
    ival *x = imp_req(im, 0);
    int64_t p[IMP_MAX_RANK], d[IMP_MAX_RANK];
    if (!x || !imp_float(im, x)) return -1;
    int k = imp_aints(n, "perm", p, IMP_MAX_RANK);
    for (int i = 0; k < 0 && i < x->rank; i++) p[i] = x->rank - 1 - i;
    if (k >= 0 && k != x->rank) return imp_fail(im, "perm has %d axes for rank %d", k, x->rank);
    for (int i = 0; i < x->rank; i++) d[i] = x->dims[p[i] < 0 || p[i] >= x->rank ? 0 : p[i]];
    const char *e = imp_tensor(im, x);
    if (!e) return -1;
    return imp_out(im, 0, x->rank < 2 ? e : arena_printf(&im->a, "permute(%s, %s)", e, imp_shape(im, x->rank, p)),
                   x->rank, d);
}

/* rank-1 constants concatenated (shape arithmetic) */
static int concat_consts(imp *im, const Onnx__NodeProto *n) {
    int64_t total = 0, k = 0;
    for (size_t i = 0; i < n->n_input; i++) total += imp_find(im, n->input[i])->dims[0];
    double *c = arena_alloc(&im->a, (size_t)(total ? total : 1) * sizeof *c);
    for (size_t i = 0; i < n->n_input; i++) {
        ival *v = imp_find(im, n->input[i]);
        for (int64_t j = 0; j < v->dims[0]; j++) c[k++] = v->c[j];
    }
    int r = imp_const_out(im, 0, 1, &total, c);
    imp_find(im, n->output[0])->dtype = imp_find(im, n->input[0])->dtype;
    return r;
}

static int op_concat(imp *im, const Onnx__NodeProto *n) {
    ival *x = imp_req(im, 0);
    int ax, consts = 1;
    if (!x || imp_axis(im, imp_ai(n, "axis", 0), x->rank, &ax)) return -1;
    int64_t d[IMP_MAX_RANK];
    memcpy(d, x->dims, sizeof d);
    for (int i = 1; i < (int)n->n_input; i++) {
        ival *v = imp_req(im, i);
        if (!v) return -1;
        if (v->rank != x->rank) return imp_fail(im, "inputs of different ranks");
        d[ax] += v->dims[ax];
    }
    for (int i = 0; i < (int)n->n_input; i++) consts &= imp_find(im, n->input[i])->c && x->rank == 1;
    if (consts && n->n_output) return concat_consts(im, n);
    const char *e = imp_float(im, x) ? imp_tensor(im, x) : NULL;
    for (int i = 1; e && i < (int)n->n_input; i++) {
        ival *v = imp_find(im, n->input[i]);
        const char *b = imp_float(im, v) ? imp_tensor(im, v) : NULL;
        e = b ? arena_printf(&im->a, "concat(%s, %s, %d)", e, b, ax) : NULL;
    }
    return e ? imp_out(im, 0, e, x->rank, d) : -1;
}

/* e's elements idx[0..k) along axis (shape x) concatenated: runs of consecutive indices are one slice */
static const char *pick(imp *im, const char *e, const ival *x, int ax, const int64_t *idx, int64_t k) {
    const char *r = NULL;
    for (int64_t i = 0, j; i < k; i = j) {
        for (j = i + 1; j < k && idx[j] == idx[j - 1] + 1;) j++;
        const char *s = idx[i] == 0 && idx[j - 1] == x->dims[ax] - 1
                            ? e
                            : arena_printf(&im->a, "slice(%s, %d, %lld, %lld)", e, ax, (long long)idx[i],
                                           (long long)idx[j - 1] + 1);
        r = r ? arena_printf(&im->a, "concat(%s, %s, %d)", imp_let(im, r), s, ax) : s;
    }
    return r;
}

static int op_gather(imp *im, const Onnx__NodeProto *n) {
    ival *x = imp_req(im, 0), *iv = x ? imp_req(im, 1) : NULL;
    int ax;
    if (!iv || imp_axis(im, imp_ai(n, "axis", 0), x->rank, &ax)) return -1;
    int64_t k = imp_numel(iv->rank, iv->dims), d[IMP_MAX_RANK + 6], *idx = arena_alloc(&im->a, (size_t)(k + 1) * 8);
    if (!iv->c)
        return imp_fail(im, "indices '%s' must be an initializer or a constant (nnc gathers at compile time)",
                        iv->onnx);
    int r = 0;
    for (int i = 0; i < ax; i++) d[r++] = x->dims[i];
    for (int i = 0; i < iv->rank; i++) d[r++] = iv->dims[i];
    for (int i = ax + 1; i < x->rank; i++) d[r++] = x->dims[i];
    for (int64_t i = 0; i < k; i++) {
        idx[i] = (int64_t)iv->c[i] + ((int64_t)iv->c[i] < 0 ? x->dims[ax] : 0);
        if (idx[i] < 0 || idx[i] >= x->dims[ax]) return imp_fail(im, "index %lld is out of range", (long long)iv->c[i]);
    }
    if (x->c && x->rank == 1) {
        double *c = arena_alloc(&im->a, (size_t)(k + 1) * sizeof *c);
        for (int64_t i = 0; i < k; i++) c[i] = x->c[idx[i]];
        r = imp_const_out(im, 0, r, d, c);
        imp_find(im, n->output[0])->dtype = x->dtype;
        return r;
    }
    if (r > IMP_MAX_RANK) return imp_fail(im, "the result has rank %d; nnc tensors have at most 6 axes", r);
    const char *e = imp_float(im, x) ? imp_tensor(im, x) : NULL;
    if (!e || !k) return e ? imp_fail(im, "no indices") : -1;
    int64_t pd[IMP_MAX_RANK];
    memcpy(pd, x->dims, sizeof pd);
    pd[ax] = k;
    return imp_out(im, 0, imp_reshape(im, imp_let(im, pick(im, e, x, ax, idx, k)), x->rank, pd, r, d), r, d);
}

/* GatherElements with constant indices: each output element's flat source index, then a pick
 * from the flattened input (or a fold when the input is constant too) */
static int op_gather_elements(imp *im, const Onnx__NodeProto *n) {
    ival *x = imp_req(im, 0), *iv = x ? imp_req(im, 1) : NULL;
    int ax;
    if (!iv || imp_axis(im, imp_ai(n, "axis", 0), x->rank, &ax)) return -1;
    if (!iv->c) return imp_fail(im, "indices '%s' must be an initializer or a constant", iv->onnx);
    if (iv->rank != x->rank) return imp_fail(im, "indices and data differ in rank");
    int64_t k = imp_numel(iv->rank, iv->dims), all = imp_numel(x->rank, x->dims);
    int64_t *src = arena_alloc(&im->a, (size_t)(k + 1) * sizeof *src);
    for (int64_t j = 0; j < k; j++) {
        int64_t f = j, at = 0, stride = 1, v = (int64_t)iv->c[j];
        v += v < 0 ? x->dims[ax] : 0;
        if (v < 0 || v >= x->dims[ax]) return imp_fail(im, "index %lld is out of range", (long long)iv->c[j]);
        for (int i = x->rank - 1; i >= 0; i--) {
            at += (i == ax ? v : f % iv->dims[i]) * stride;
            f /= iv->dims[i], stride *= x->dims[i];
        }
        src[j] = at;
    }
    if (x->c) {
        double *c = arena_alloc(&im->a, (size_t)(k + 1) * sizeof *c);
        for (int64_t j = 0; j < k; j++) c[j] = x->c[src[j]];
        if (imp_const_out(im, 0, iv->rank, iv->dims, c)) return -1;
        imp_find(im, n->output[0])->dtype = x->dtype;
        return 0;
    }
    ival flat = {.rank = 1, .dims = {all}};
    const char *e = imp_float(im, x) ? imp_tensor(im, x) : NULL;
    if (!e || !k) return e ? imp_fail(im, "no indices") : -1;
    e = imp_let(im, imp_reshape(im, e, x->rank, x->dims, 1, &all));
    return imp_out(im, 0, imp_reshape(im, imp_let(im, pick(im, e, &flat, 0, src, k)), 1, &k, iv->rank, iv->dims),
                   iv->rank, iv->dims);
}

static int op_split(imp *im, const Onnx__NodeProto *n) {
    ival *x = imp_req(im, 0), *sv = imp_in(im, 1);
    int ax, no = (int)n->n_output;
    int64_t sz[64];
    if (!x || imp_axis(im, imp_ai(n, "axis", 0), x->rank, &ax) || !imp_float(im, x)) return -1;
    int k = sv ? imp_consts(im, sv, "split", sz, 64) : imp_aints(n, "split", sz, 64);
    if (im->err[0]) return -1;
    if (k < 0) {
        if (no > 64) return imp_fail(im, "more than 64 outputs");
        for (int i = 0; i < no; i++) sz[i] = (x->dims[ax] + no - 1) / no;
        sz[no - 1] = x->dims[ax] - (no - 1) * sz[0];
    } else if (k != no)
        return imp_fail(im, "split has %d sizes for %d outputs", k, no);
    const char *e = imp_tensor(im, x);
    int64_t at = 0, d[IMP_MAX_RANK];
    memcpy(d, x->dims, sizeof d);
    for (int i = 0; e && i < no; i++) {
        d[ax] = sz[i];
        if (sz[i] < 1 || at + sz[i] > x->dims[ax]) return imp_fail(im, "split sizes do not fit the axis");
        const char *s =
            arena_printf(&im->a, "slice(%s, %d, %lld, %lld)", e, ax, (long long)at, (long long)(at + sz[i]));
        if (imp_out(im, i, s, x->rank, d)) return -1;
        at += sz[i];
    }
    return e ? 0 : -1;
}

const imp_op imp_ops_shape[] = {{"Reshape", op_reshape},     {"Flatten", op_flatten},
                                {"Squeeze", op_squeeze},     {"Unsqueeze", op_unsqueeze},
                                {"Transpose", op_transpose}, {"Concat", op_concat},
                                {"Gather", op_gather},       {"GatherElements", op_gather_elements},
                                {"Split", op_split},         {NULL, NULL}};
