/* import_util.c — attributes, constant inputs, shapes, numbers and numpy broadcasting (which
 * becomes an explicit reshape and expand: the language broadcasts only suffixes). */
#include "import.h"
#include <math.h>

const Onnx__AttributeProto *imp_attr(const Onnx__NodeProto *n, const char *name) {
    for (size_t i = 0; i < n->n_attribute; i++)
        if (!strcmp(n->attribute[i]->name, name)) return n->attribute[i];
    return NULL;
}

int64_t imp_ai(const Onnx__NodeProto *n, const char *name, int64_t def) {
    const Onnx__AttributeProto *a = imp_attr(n, name);
    return a ? a->i : def;
}

double imp_af(const Onnx__NodeProto *n, const char *name, double def) {
    const Onnx__AttributeProto *a = imp_attr(n, name);
    return a ? a->f : def;
}

/* the ints of attribute NAME into out (at most max): their count, or -1 when absent or too many */
int imp_aints(const Onnx__NodeProto *n, const char *name, int64_t *out, int max) {
    const Onnx__AttributeProto *a = imp_attr(n, name);
    if (!a || (int)a->n_ints > max) return -1;
    memcpy(out, a->ints, a->n_ints * sizeof *out);
    return (int)a->n_ints;
}

const char *imp_as(const Onnx__NodeProto *n, const char *name, const char *def) {
    const Onnx__AttributeProto *a = imp_attr(n, name);
    static const char empty[] = "";
    if (!a) return def;
    if (!a->s.data || !a->s.len) return empty;
    return (const char *)a->s.data; /* protobuf-c NUL-terminates bytes fields */
}

/* a constant input's values as integers: their count, or -1 after an error */
int imp_consts(imp *im, ival *v, const char *what, int64_t *out, int max) {
    if (!v->c)
        return imp_fail(im, "%s '%s' must be an initializer or a constant (nnc needs it at compile time)", what,
                        v->onnx);
    int64_t n = imp_numel(v->rank, v->dims);
    if (n > max) return imp_fail(im, "%s '%s' has %lld values, more than %d", what, v->onnx, (long long)n, max);
    for (int64_t i = 0; i < n; i++) out[i] = (int64_t)v->c[i];
    return (int)n;
}

/* the element count, saturated at INT64_MAX */
int64_t imp_numel(int rank, const int64_t *dims) {
    int64_t n = 1;
    for (int i = 0; i < rank; i++) n = dims[i] && n > INT64_MAX / dims[i] ? INT64_MAX : n * dims[i];
    return n;
}

/* room for N values of a constant the importer computes (masks, folds); NULL after an error
 * when N is more than IMP_MAX_VALUES */
double *imp_values(imp *im, int64_t n) {
    if (n < 0 || n > IMP_MAX_VALUES)
        return imp_fail(im, "a constant of %lld values, more than the importer computes (2^26)", (long long)n), NULL;
    return arena_alloc(&im->a, (size_t)(n ? n : 1) * sizeof(double));
}

const char *imp_shape(imp *im, int rank, const int64_t *dims) {
    const char *s = "[";
    for (int i = 0; i < rank; i++) s = arena_printf(&im->a, "%s%s%lld", s, i ? ", " : "", (long long)dims[i]);
    return arena_printf(&im->a, "%s]", s);
}

/* a number as the language writes it (exact for f32), parenthesized when negative; NULL for
 * NaN and infinities, which have no spelling */
const char *imp_num(imp *im, double x) {
    if (!isfinite(x)) return NULL;
    float f = (float)x;
    if (!isfinite(f)) return NULL;
    char b[40];
    snprintf(b, sizeof b, "%.9g", fabsf(f));
    if (f == floorf(f) && fabsf(f) < 1e9f) snprintf(b, sizeof b, "%.0f", fabsf(f));
    return arena_printf(&im->a, signbit(f) && f != 0 ? "(-%s)" : "%s", b);
}

int imp_axis(imp *im, int64_t axis, int rank, int *out) {
    if (axis < -rank || axis >= (rank ? rank : 1))
        return imp_fail(im, "axis %lld is out of range for rank %d", (long long)axis, rank);
    *out = (int)(axis < 0 ? axis + rank : axis);
    return 0;
}

/* numpy broadcasting of a and b */
int imp_bcast(imp *im, const ival *a, const ival *b, int *rank, int64_t *dims) {
    int r = a->rank > b->rank ? a->rank : b->rank;
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->rank), ib = i - (r - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return imp_fail(im, "cannot broadcast %s with %s", imp_shape(im, a->rank, a->dims),
                            imp_shape(im, b->rank, b->dims));
        dims[i] = da == 1 ? db : da;
    }
    *rank = r;
    return 0;
}

/* e (of shape dims) as shape odims of the same element count */
const char *imp_reshape(imp *im, const char *e, int rank, const int64_t *dims, int orank, const int64_t *odims) {
    if (rank == orank && !memcmp(dims, odims, (size_t)rank * sizeof *dims)) return e;
    if (orank == 0) return arena_printf(&im->a, "sum(%s)", e);
    return arena_printf(&im->a, "reshape(%s, %s)", e, imp_shape(im, orank, odims));
}

/* e (of shape dims) broadcast numpy-style to shape odims */
const char *imp_fit(imp *im, const char *e, int rank, const int64_t *dims, int orank, const int64_t *odims) {
    if (rank == orank && !memcmp(dims, odims, (size_t)rank * sizeof *dims)) return e;
    if (imp_numel(rank, dims) == imp_numel(orank, odims)) return imp_reshape(im, e, rank, dims, orank, odims);
    int64_t d[IMP_MAX_RANK];
    for (int i = 0; i < orank; i++) d[i] = i < orank - rank ? 1 : dims[i - (orank - rank)];
    const char *r = imp_reshape(im, e, rank, dims, orank, d);
    return arena_printf(&im->a, "expand(%s, %s)", r, imp_shape(im, orank, odims));
}

/* an operand of an elementwise op with result shape odims: a number for a one-value constant */
const char *imp_operand(imp *im, ival *v, int orank, const int64_t *odims) {
    if (v->c && imp_numel(v->rank, v->dims) == 1 && v->rank <= orank) {
        const char *x = imp_num(im, v->c[0]);
        if (x) return x;
    }
    const char *t = imp_tensor(im, v);
    return t ? imp_fit(im, t, v->rank, v->dims, orank, odims) : NULL;
}

int imp_dtype_ok(int dtype) { return dtype == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT; }

const char *imp_dtype_name(int dtype) {
    static const char *const names[] = {"UNDEFINED", "FLOAT",  "UINT8",     "INT8",       "UINT16",  "INT16",
                                        "INT32",     "INT64",  "STRING",    "BOOL",       "FLOAT16", "DOUBLE",
                                        "UINT32",    "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16"};
    return dtype >= 0 && dtype <= 16 ? names[dtype] : "an unknown type";
}

/* 1 when v can be an f32 operand (a float value, or a constant), else 0 after an error */
int imp_float(imp *im, const ival *v) {
    if (v->c || imp_dtype_ok(v->dtype)) return 1;
    imp_fail(im, "input '%s' is %s; nnc computes in f32", v->onnx, imp_dtype_name(v->dtype));
    return 0;
}

/* the flat index into v of element FLAT of the numpy broadcast of v to shape dims */
int64_t imp_bindex(const ival *v, int rank, const int64_t *dims, int64_t flat) {
    int64_t idx = 0, stride = 1;
    for (int i = rank - 1; i >= 0; i--) {
        int64_t k = flat % dims[i];
        flat /= dims[i];
        int j = i - (rank - v->rank);
        if (j >= 0) {
            idx += (v->dims[j] == 1 ? 0 : k) * stride;
            stride *= v->dims[j];
        }
    }
    return idx;
}
