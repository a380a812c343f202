/* import_slice.c — Slice (as the language's indexing, flipping an axis for negative steps),
 * Expand, Tile, Shape, Size, DepthToSpace and SpaceToDepth. */
#include "import.h"

/* Slice's starts, ends, axes and steps: inputs 1-4 (opset 10) or attributes; the count or -1 */
static int slice_args(imp *im, const Onnx__NodeProto *n, int64_t v[4][IMP_MAX_RANK]) {
    static const char *const names[] = {"starts", "ends", "axes", "steps"};
    int k = -1;
    for (int j = 0; j < 4; j++) {
        ival *a = im->opset >= 10 ? imp_in(im, j + 1) : NULL;
        int c = a ? imp_consts(im, a, names[j], v[j], IMP_MAX_RANK) : imp_aints(n, names[j], v[j], IMP_MAX_RANK);
        if (im->err[0]) return -1;
        if (j < 2 && c < 0) return imp_fail(im, "Slice needs %s", names[j]);
        if (j == 0) k = c;
        if (c >= 0 && c != k) return imp_fail(im, "Slice's %s has %d values, not %d", names[j], c, k);
        for (int i = 0; c < 0 && i < k; i++) v[j][i] = j == 2 ? i : 1;
    }
    return k;
}

static int64_t clamp(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

/* a slice of a rank-1 constant (shape arithmetic), possibly empty */
static int fold_slice(imp *im, const ival *x, int64_t first, int64_t cnt, int64_t step, int flip) {
    double *c = arena_alloc(&im->a, (size_t)(cnt + 1) * sizeof *c);
    for (int64_t i = 0; i < cnt; i++) {
        int64_t k = first + i * step;
        c[i] = x->c[flip ? x->dims[0] - 1 - k : k];
    }
    int r = imp_const_out(im, 0, 1, &cnt, c);
    ival *o = imp_find(im, im->node->output[0]);
    if (o) o->dtype = x->dtype;
    return r;
}

static int op_slice(imp *im, const Onnx__NodeProto *n) {
    ival *x = imp_req(im, 0);
    int64_t v[4][IMP_MAX_RANK], first[IMP_MAX_RANK] = {0}, cnt[IMP_MAX_RANK], step[IMP_MAX_RANK];
    int k = x ? slice_args(im, n, v) : -1, flip[IMP_MAX_RANK] = {0};
    if (k < 0 || !imp_float(im, x)) return -1;
    for (int i = 0; i < x->rank; i++) cnt[i] = x->dims[i], step[i] = 1;
    for (int i = 0; i < k; i++) {
        int a;
        int64_t d, s = v[3][i], b = v[0][i], e = v[1][i];
        if (imp_axis(im, v[2][i], x->rank, &a)) return -1;
        d = x->dims[a];
        if (s == 0) return imp_fail(im, "a step of 0");
        b += b < 0 ? d : 0, e += e < 0 ? d : 0;
        if (s > 0)
            b = clamp(b, 0, d), e = clamp(e, 0, d), cnt[a] = e > b ? (e - b + s - 1) / s : 0;
        else
            b = clamp(b, 0, d - 1), e = clamp(e, -1, d - 1), cnt[a] = b > e ? (b - e - s - 1) / -s : 0;
        if (!cnt[a] && !(x->c && x->rank == 1))
            return imp_fail(im, "the slice of axis %d selects no element; nnc has no empty tensors", a);
        flip[a] = s < 0;
        first[a] = s < 0 ? d - 1 - b : b;
        step[a] = s < 0 ? -s : s;
    }
    if (x->c && x->rank == 1) return fold_slice(im, x, first[0], cnt[0], step[0], flip[0]);
    const char *e = imp_tensor(im, x), *sub = "";
    for (int i = 0; i < x->rank; i++) {
        if (flip[i]) e = arena_printf(&im->a, "flip(%s, %d)", e, i);
        sub = arena_printf(&im->a, "%s%s%lld:%lld:%lld", sub, i ? ", " : "", (long long)first[i],
                           (long long)(first[i] + (cnt[i] - 1) * step[i] + 1), (long long)step[i]);
    }
    return imp_out(im, 0, x->rank ? arena_printf(&im->a, "%s[%s]", imp_let(im, e), sub) : e, x->rank, cnt);
}

static int op_expand(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    ival *x = imp_req(im, 0), *s = x ? imp_req(im, 1) : NULL, t = {0};
    int rank;
    int64_t d[IMP_MAX_RANK];
    int k = s ? imp_consts(im, s, "shape", t.dims, IMP_MAX_RANK) : -1;
    if (k < 0 || !imp_float(im, x)) return -1;
    t.rank = k;
    if (imp_bcast(im, x, &t, &rank, d)) return -1;
    const char *e = imp_tensor(im, x);
    return e ? imp_out(im, 0, imp_fit(im, e, x->rank, x->dims, rank, d), rank, d) : -1;
}

static int op_tile(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    ival *x = imp_req(im, 0), *r = x ? imp_req(im, 1) : NULL;
    int64_t rep[IMP_MAX_RANK], d[IMP_MAX_RANK];
    int k = r ? imp_consts(im, r, "repeats", rep, IMP_MAX_RANK) : -1;
    if (k < 0 || !imp_float(im, x)) return -1;
    if (k != x->rank) return imp_fail(im, "repeats has %d values for rank %d", k, x->rank);
    const char *e = imp_tensor(im, x);
    memcpy(d, x->dims, sizeof d);
    for (int i = 0; e && i < k; i++) {
        if (rep[i] < 1 || rep[i] > 64)
            return imp_fail(im, "a repeat count of %lld is not supported", (long long)rep[i]);
        const char *one = rep[i] > 1 ? imp_let(im, e) : e, *acc = one;
        for (int64_t j = 1; j < rep[i]; j++) acc = arena_printf(&im->a, "concat(%s, %s, %d)", acc, one, i);
        e = acc;
        d[i] *= rep[i];
    }
    return imp_out(im, 0, e, x->rank, d);
}

static int const_ints(imp *im, int rank, int64_t n, const int64_t *vals) {
    double *c = arena_alloc(&im->a, (size_t)(n ? n : 1) * sizeof *c);
    for (int64_t i = 0; i < n; i++) c[i] = (double)vals[i];
    int r = imp_const_out(im, 0, rank, &n, c);
    ival *o = imp_find(im, im->node->output[0]);
    if (o) o->dtype = ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    return r;
}

static int op_shape(imp *im, const Onnx__NodeProto *n) {
    ival *x = imp_req(im, 0);
    if (!x) return -1;
    int64_t b = imp_ai(n, "start", 0), e = imp_ai(n, "end", x->rank);
    b = clamp(b + (b < 0 ? x->rank : 0), 0, x->rank), e = clamp(e + (e < 0 ? x->rank : 0), 0, x->rank);
    if (e <= b) return imp_fail(im, "an empty shape; nnc has no empty tensors");
    return const_ints(im, 1, e - b, x->dims + b);
}

static int op_size(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    ival *x = imp_req(im, 0);
    int64_t s = x ? imp_numel(x->rank, x->dims) : 0;
    return x ? const_ints(im, 0, 1, &s) : -1;
}

/* x reshaped to r1, permuted by perm, reshaped to out */
static int shuffle(imp *im, ival *x, const int64_t *r1, const int64_t *perm, const int64_t *out) {
    const char *e = imp_float(im, x) ? imp_tensor(im, x) : NULL;
    if (!e) return -1;
    e = arena_printf(&im->a, "permute(reshape(%s, %s), %s)", e, imp_shape(im, 6, r1), imp_shape(im, 6, perm));
    return imp_out(im, 0, arena_printf(&im->a, "reshape(%s, %s)", imp_let(im, e), imp_shape(im, 4, out)), 4, out);
}

static int op_d2s(imp *im, const Onnx__NodeProto *n) {
    ival *x = imp_req(im, 0);
    int64_t b = imp_ai(n, "blocksize", 0);
    if (!x || x->rank != 4 || b < 1 || x->dims[1] % (b * b))
        return x ? imp_fail(im, "needs [N, C, H, W] with C divisible by blocksize^2") : -1;
    int64_t N = x->dims[0], C = x->dims[1] / (b * b), H = x->dims[2], W = x->dims[3], out[4] = {N, C, H * b, W * b};
    int crd = !strcmp(imp_as(n, "mode", "DCR"), "CRD");
    int64_t r1[6] = {N, b, b, C, H, W}, p1[6] = {0, 3, 4, 1, 5, 2}, r2[6] = {N, C, b, b, H, W},
            p2[6] = {0, 1, 4, 2, 5, 3};
    return shuffle(im, x, crd ? r2 : r1, crd ? p2 : p1, out);
}

static int op_s2d(imp *im, const Onnx__NodeProto *n) {
    ival *x = imp_req(im, 0);
    int64_t b = imp_ai(n, "blocksize", 0);
    if (!x || x->rank != 4 || b < 1 || x->dims[2] % b || x->dims[3] % b)
        return x ? imp_fail(im, "needs [N, C, H, W] with H and W divisible by blocksize") : -1;
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2] / b, W = x->dims[3] / b, out[4] = {N, C * b * b, H, W};
    int64_t r1[6] = {N, C, H, b, W, b}, p1[6] = {0, 3, 5, 1, 2, 4};
    return shuffle(im, x, r1, p1, out);
}

/* n copies of the number v along axis ax of shape dims, as a tensor: a literal expanded */
static const char *fill(imp *im, double v, int rank, const int64_t *dims, int ax, int64_t n) {
    int64_t d[IMP_MAX_RANK], ones[IMP_MAX_RANK];
    const char *num = imp_num(im, v);
    if (!num) return imp_fail(im, "a padding value that is not finite"), NULL;
    for (int i = 0; i < rank; i++) d[i] = i == ax ? n : dims[i], ones[i] = 1;
    const char *lit = imp_let(im, arena_printf(&im->a, "[%s]", num));
    return imp_fit(im, imp_reshape(im, lit, 1, ones, rank, ones), rank, ones, rank, d);
}

/* Pad, constant mode: a filled block concatenated on each side, or a slice for a negative pad */
static int op_pad(imp *im, const Onnx__NodeProto *n) {
    ival *x = imp_req(im, 0), *pv = imp_in(im, 1), *cv = imp_in(im, 2);
    int64_t p[2 * IMP_MAX_RANK], d[IMP_MAX_RANK];
    double v = cv && cv->c ? cv->c[0] : imp_af(n, "value", 0);
    if (!x || im->err[0] || !imp_float(im, x)) return -1;
    int k = pv ? imp_consts(im, pv, "pads", p, 2 * IMP_MAX_RANK) : imp_aints(n, "pads", p, 2 * IMP_MAX_RANK);
    if (k != 2 * x->rank) return im->err[0] ? -1 : imp_fail(im, "pads must have two values per axis");
    if (cv && !cv->c) return imp_fail(im, "'%s' must be an initializer or a constant", cv->onnx);
    if (strcmp(imp_as(n, "mode", "constant"), "constant"))
        return imp_fail(im, "mode '%s' is not supported (only constant padding)", imp_as(n, "mode", ""));
    const char *e = imp_tensor(im, x);
    memcpy(d, x->dims, sizeof d);
    for (int a = 0; e && a < x->rank; a++) {
        int64_t b = p[a], f = p[a + x->rank];
        if (d[a] + b + f < 1) return imp_fail(im, "the padding leaves axis %d empty", a);
        if (b < 0 || f < 0) {
            e = arena_printf(&im->a, "slice(%s, %d, %lld, %lld)", e, a, (long long)(b < 0 ? -b : 0),
                             (long long)(d[a] + (f < 0 ? f : 0)));
            d[a] += (b < 0 ? b : 0) + (f < 0 ? f : 0), b = b < 0 ? 0 : b, f = f < 0 ? 0 : f;
        }
        if (b > 0) e = arena_printf(&im->a, "concat(%s, %s, %d)", fill(im, v, x->rank, d, a, b), imp_let(im, e), a);
        if (b > 0) d[a] += b;
        if (f > 0) e = arena_printf(&im->a, "concat(%s, %s, %d)", imp_let(im, e), fill(im, v, x->rank, d, a, f), a);
        if (f > 0) d[a] += f;
    }
    return e ? imp_out(im, 0, e, x->rank, d) : -1;
}

const imp_op imp_ops_slice[] = {{"Pad", op_pad},          {"Slice", op_slice},      {"Expand", op_expand},
                                {"Tile", op_tile},        {"Shape", op_shape},      {"Size", op_size},
                                {"DepthToSpace", op_d2s}, {"SpaceToDepth", op_s2d}, {NULL, NULL}};
