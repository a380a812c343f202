/* import_model.c — onnx_import(): a whole ModelProto into .nn text and weights. Initializers
 * and Constant nodes become constants, graph inputs `input` statements, every node the
 * statements its op's handler writes, graph outputs `output` statements; then the weights file. */
#include "import.h"
#include "../runtime/nnrt.h"
#include <stdlib.h>

static size_t dtype_bytes(int dt) {
    static const size_t b[] = {0, 4, 1, 1, 2, 2, 4, 8, 0, 1, 2, 8, 4, 8, 0, 0, 2};
    return dt >= 0 && dt <= 16 ? b[dt] : 0;
}

/* element i of a raw little-endian buffer of an ONNX type; 0 when the type has no raw form here */
static int raw_value(int dt, const uint8_t *p, size_t i, double *out) {
    union {
        float f;
        double d;
        int64_t i64;
        uint64_t u64;
        int32_t i32;
        uint32_t u32;
        int16_t i16;
        uint16_t u16;
        int8_t i8;
        uint8_t u8;
    } u;
    size_t n = dtype_bytes(dt);
    if (!n || dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16 || dt == ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16) return 0;
    memcpy(&u, p + n * i, n);
    switch (dt) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: *out = u.f; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: *out = u.d; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: *out = (double)u.i64; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64: *out = (double)u.u64; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: *out = u.i32; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32: *out = u.u32; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16: *out = u.i16; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16: *out = u.u16; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8: *out = u.i8; break;
    default: *out = u.u8; break; /* UINT8, BOOL */
    }
    return 1;
}

/* the values of a typed (not raw) field; 0 when the tensor has too few */
static int typed_values(const Onnx__TensorProto *t, int64_t n, double *c) {
    int dt = t->data_type;
    for (int64_t i = 0; i < n; i++) {
        if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT && (size_t)i < t->n_float_data)
            c[i] = t->float_data[i];
        else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE && (size_t)i < t->n_double_data)
            c[i] = t->double_data[i];
        else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 && (size_t)i < t->n_int64_data)
            c[i] = (double)t->int64_data[i];
        else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__UINT64 && (size_t)i < t->n_uint64_data)
            c[i] = (double)t->uint64_data[i];
        else if (dt != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16 && dt != ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16 &&
                 (size_t)i < t->n_int32_data)
            c[i] = t->int32_data[i];
        else
            return 0;
    }
    return 1;
}

/* the most values any typed field of t holds */
static int64_t typed_count(const Onnx__TensorProto *t) {
    size_t n[] = {t->n_float_data, t->n_double_data, t->n_int64_data, t->n_uint64_data, t->n_int32_data}, m = 0;
    for (int i = 0; i < 5; i++) m = n[i] > m ? n[i] : m;
    return (int64_t)m;
}

/* a TensorProto as a constant value named NAME */
static ival *tensor_value(imp *im, const Onnx__TensorProto *t, const char *name) {
    int dt = t->data_type;
    if ((int)t->n_dims > IMP_MAX_RANK)
        return imp_fail(im, "tensor '%s' has rank %d; nnc tensors have at most 6 axes", name, (int)t->n_dims), NULL;
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return imp_fail(im, "tensor '%s' keeps its data in an external file, which nnc does not read", name), NULL;
    ival *v = arena_alloc(&im->a, sizeof *v);
    v->onnx = arena_strdup(&im->a, name);
    v->dtype = dt;
    v->rank = (int)t->n_dims;
    for (int i = 0; i < v->rank; i++) {
        if (t->dims[i] < 0 || t->dims[i] > ((int64_t)1 << 40))
            return imp_fail(im, "tensor '%s' has the bad dimension %lld", name, (long long)t->dims[i]), NULL;
        v->dims[i] = t->dims[i];
    }
    int64_t n = imp_numel(v->rank, v->dims);
    double one;
    if (dt != ONNX__TENSOR_PROTO__DATA_TYPE__BOOL && !raw_value(dt, (const uint8_t *)"\0\0\0\0\0\0\0\0", 0, &one))
        return imp_fail(im, "tensor '%s' is %s, a type nnc does not import", name, imp_dtype_name(dt)), NULL;
    size_t bytes = dtype_bytes(dt);
    if (n == INT64_MAX)
        return imp_fail(im, "tensor '%s' of shape %s has more than 2^63 elements", name,
                        imp_shape(im, v->rank, v->dims)),
               NULL;
    if (t->has_raw_data && ((size_t)n > t->raw_data.len / bytes || t->raw_data.len != (size_t)n * bytes))
        return imp_fail(im, "tensor '%s' has %zu bytes of data; its shape %s needs %lld values of %zu bytes", name,
                        t->raw_data.len, imp_shape(im, v->rank, v->dims), (long long)n, bytes),
               NULL;
    if (!t->has_raw_data && n > typed_count(t))
        return imp_fail(im, "tensor '%s' has fewer values than its shape %s needs", name,
                        imp_shape(im, v->rank, v->dims)),
               NULL;
    v->c = arena_alloc(&im->a, (size_t)(n ? n : 1) * sizeof *v->c);
    if (t->has_raw_data)
        for (int64_t i = 0; i < n; i++) raw_value(dt, t->raw_data.data, (size_t)i, &v->c[i]);
    else if (!typed_values(t, n, v->c))
        return imp_fail(im, "tensor '%s' has fewer values than its shape %s needs", name,
                        imp_shape(im, v->rank, v->dims)),
               NULL;
    return v;
}

static int add_initializers(imp *im, const Onnx__GraphProto *g) {
    for (size_t i = 0; i < g->n_initializer; i++) {
        const Onnx__TensorProto *t = g->initializer[i];
        ival *v = tensor_value(im, t, t->name ? t->name : "");
        if (!v) return -1;
        arr_push(&im->a, im->vals, v);
    }
    return 0;
}

/* the static shape of a graph input or output; -1 after an error */
static int value_shape(imp *im, const Onnx__ValueInfoProto *vi, int *dtype, int *rank, int64_t *dims) {
    const Onnx__TypeProto *t = vi->type;
    if (!t || t->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !t->tensor_type)
        return imp_fail(im, "graph value '%s' is not a tensor (sequences, maps and optionals are not supported)",
                        vi->name);
    const Onnx__TensorShapeProto *s = t->tensor_type->shape;
    *dtype = t->tensor_type->elem_type;
    if (!s) return imp_fail(im, "graph value '%s' has no shape; nnc needs static shapes", vi->name);
    if ((int)s->n_dim > IMP_MAX_RANK)
        return imp_fail(im, "graph value '%s' has rank %d; nnc tensors have at most 6 axes", vi->name, (int)s->n_dim);
    *rank = (int)s->n_dim;
    for (int i = 0; i < *rank; i++) {
        const Onnx__TensorShapeProto__Dimension *d = s->dim[i];
        if (d->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE)
            return imp_fail(im, "graph value '%s' has the dynamic dimension %s (axis %d); nnc needs static shapes",
                            vi->name,
                            d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM && d->dim_param
                                ? arena_printf(&im->a, "'%s'", d->dim_param)
                                : "(unknown)",
                            i);
        if (d->dim_value < 1 || d->dim_value > ((int64_t)1 << 40))
            return imp_fail(im, "graph value '%s' has the dimension %lld (axis %d); nnc needs sizes from 1 to 2^40",
                            vi->name, (long long)d->dim_value, i);
        dims[i] = d->dim_value;
    }
    return 0;
}

static int add_inputs(imp *im, const Onnx__GraphProto *g) {
    for (size_t i = 0; i < g->n_input; i++) {
        const Onnx__ValueInfoProto *vi = g->input[i];
        if (imp_find(im, vi->name)) continue; /* an initializer listed among the inputs (IR < 4) */
        ival *v = arena_alloc(&im->a, sizeof *v);
        if (value_shape(im, vi, &v->dtype, &v->rank, v->dims)) return -1;
        if (!imp_dtype_ok(v->dtype))
            return imp_fail(im, "graph input '%s' is %s; nnc models take f32 inputs (make it an initializer)", vi->name,
                            imp_dtype_name(v->dtype));
        v->onnx = vi->name;
        v->nn = imp_name(im, vi->name);
        sb_printf(&im->decl, "    input %s : f32%s\n", v->nn, imp_shape(im, v->rank, v->dims));
        arr_push(&im->a, im->vals, v);
    }
    return 0;
}

/* Constant: its value attribute (a tensor, or value_float(s), value_int(s)) */
static int constant_node(imp *im, const Onnx__NodeProto *n) {
    const Onnx__AttributeProto *a = n->n_attribute == 1 ? n->attribute[0] : NULL;
    if (!a || n->n_output != 1) return imp_fail(im, "a Constant needs exactly one value attribute and one output");
    ival *v = NULL;
    if (!strcmp(a->name, "value") && a->t)
        v = tensor_value(im, a->t, n->output[0]);
    else if (!strcmp(a->name, "value_float") || !strcmp(a->name, "value_int")) {
        double *c = arena_alloc(&im->a, sizeof *c);
        *c = a->name[6] == 'f' ? a->f : (double)a->i;
        return imp_const_out(im, 0, 0, NULL, c);
    } else if (!strcmp(a->name, "value_floats") || !strcmp(a->name, "value_ints")) {
        int64_t k = a->name[6] == 'f' ? (int64_t)a->n_floats : (int64_t)a->n_ints;
        double *c = arena_alloc(&im->a, (size_t)(k ? k : 1) * sizeof *c);
        for (int64_t i = 0; i < k; i++) c[i] = a->name[6] == 'f' ? a->floats[i] : (double)a->ints[i];
        return k ? imp_const_out(im, 0, 1, &k, c) : imp_fail(im, "an empty constant");
    } else
        return imp_fail(im, "Constant's attribute %s is not supported by nnc", a->name);
    if (!v) return -1;
    v->onnx = n->output[0];
    arr_push(&im->a, im->vals, v);
    return 0;
}

static imp_op_fn find_op(const char *name) {
    const imp_op *const tables[] = {imp_ops_math, imp_ops_reduce, imp_ops_shape, imp_ops_slice,
                                    imp_ops_nn,   imp_ops_loss,   imp_ops_rnn};
    for (int t = 0; t < 7; t++)
        for (const imp_op *o = tables[t]; o->name; o++)
            if (!strcmp(o->name, name)) return o->fn;
    return NULL;
}

static int add_node(imp *im, const Onnx__NodeProto *n) {
    im->node = n;
    if (n->domain && *n->domain && strcmp(n->domain, "ai.onnx"))
        return imp_fail(im, "ONNX op %s of domain '%s' is not supported by nnc", n->op_type, n->domain);
    if (!strcmp(n->op_type, "Constant")) return constant_node(im, n) ? -1 : (im->node = NULL, 0);
    imp_op_fn fn = find_op(n->op_type);
    if (!fn) return imp_fail(im, "ONNX op %s is not supported by nnc", n->op_type);
    if (fn(im, n)) return -1;
    im->node = NULL;
    return 0;
}

/* `output NAME`; a constant output is a parameter, a value output twice gets a second name */
static int add_output(imp *im, const Onnx__ValueInfoProto *vi, strbuf *outs) {
    ival *v = imp_find(im, vi->name);
    int dtype, rank;
    int64_t dims[IMP_MAX_RANK];
    if (!v) return imp_fail(im, "graph output '%s' is computed by no node", vi->name);
    if (value_shape(im, vi, &dtype, &rank, dims)) return -1;
    if (!imp_dtype_ok(dtype))
        return imp_fail(im, "graph output '%s' is %s; nnc outputs are f32", vi->name, imp_dtype_name(dtype));
    if (rank != v->rank || memcmp(dims, v->dims, (size_t)rank * sizeof *dims))
        return imp_fail(im, "graph output '%s' is declared %s, but its node computes %s", vi->name,
                        imp_shape(im, rank, dims), imp_shape(im, v->rank, v->dims));
    const char *t = imp_tensor(im, v);
    if (!t) return -1;
    const char *line = arena_printf(&im->a, "    output %s\n", t);
    if ((outs->s && strstr(outs->s, line)) || !imp_is_name_of(im, t, vi->name))
        sb_printf(outs, "    output %s = %s\n", imp_name(im, vi->name), t);
    else
        sb_puts(outs, line);
    return 0;
}

static int opset_of(imp *im, const Onnx__ModelProto *m) {
    im->opset = 1;
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[i];
        if (!o->domain || !*o->domain || !strcmp(o->domain, "ai.onnx")) im->opset = (int)o->version;
    }
    if (im->opset > 17) return imp_fail(im, "opset %d is newer than nnc's importer knows (opsets up to 17)", im->opset);
    return 0;
}

static const char *model_name(imp *im) {
    const char *base = strrchr(im->file, '/');
    base = base ? base + 1 : im->file;
    const char *dot = strrchr(base, '.');
    return imp_name(im, dot ? arena_strndup(&im->a, base, (size_t)(dot - base)) : base);
}

/* the names the importer relies on (optional in the protobuf): -1 after an error */
static int check_names(imp *im, const Onnx__GraphProto *g) {
    for (size_t i = 0; i < g->n_input + g->n_output; i++) {
        const Onnx__ValueInfoProto *vi = i < g->n_input ? g->input[i] : g->output[i - g->n_input];
        if (!vi->name || !*vi->name)
            return imp_fail(im, "graph %s %zu has no name", i < g->n_input ? "input" : "output",
                            (i < g->n_input ? i : i - g->n_input) + 1);
    }
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        if (!n->op_type || !*n->op_type) return imp_fail(im, "node %zu has no op type", i + 1);
        for (size_t k = 0; k < n->n_attribute; k++)
            if (!n->attribute[k]->name)
                return imp_fail(im, "node %zu (%s) has an attribute without a name", i + 1, n->op_type);
    }
    return 0;
}

static int import_graph(imp *im, const Onnx__ModelProto *m, strbuf *nn) {
    const Onnx__GraphProto *g = m->graph;
    strbuf outs;
    sb_init(&outs);
    int rc = opset_of(im, m) || check_names(im, g) || add_initializers(im, g) || add_inputs(im, g);
    for (size_t i = 0; !rc && i < g->n_node; i++) rc = add_node(im, g->node[i]);
    for (size_t i = 0; !rc && i < g->n_output; i++) rc = add_output(im, g->output[i], &outs);
    if (!rc && !g->n_output) rc = imp_fail(im, "the graph has no outputs");
    if (!rc) {
        sb_printf(nn, "# imported from %s by nnc import (%s %s, opset %d)\n", im->file,
                  m->producer_name && *m->producer_name ? m->producer_name : "unknown producer",
                  m->producer_version ? m->producer_version : "", im->opset);
        sb_printf(nn, "model %s {\n%s%s%s}\n", model_name(im), im->decl.s ? im->decl.s : "",
                  im->body.s ? im->body.s : "", outs.s ? outs.s : "");
    }
    sb_free(&outs);
    return rc ? -1 : 0;
}

static int save_weights(imp *im, const char *path) {
    int n = im->weights.len;
    size_t total = 0;
    nnrt_tensor_info *t = calloc((size_t)n + 1, sizeof *t);
    for (int i = 0; t && i < n; i++) {
        const iweight *w = &im->weights.data[i];
        t[i] = (nnrt_tensor_info){w->name, NNRT_F32, w->rank, {0}, total, (size_t)imp_numel(w->rank, w->dims)};
        memcpy(t[i].shape, w->dims, (size_t)w->rank * sizeof *w->dims);
        total += t[i].numel;
    }
    float *buf = t ? malloc((total ? total : 1) * sizeof *buf) : NULL;
    for (int i = 0; buf && i < n; i++) memcpy(buf + t[i].offset, im->weights.data[i].data, t[i].numel * sizeof *buf);
    nnrt_err err;
    int st = buf ? nnrt_st_save(path, t, n, buf, &err) : NNRT_ERR_NOMEM;
    if (st != NNRT_OK) snprintf(im->err, im->errlen, "%s", buf ? err.msg : "out of memory for the weights");
    free(buf);
    free(t);
    return st == NNRT_OK ? 0 : -1;
}

int onnx_import(const char *path, const char *weights, strbuf *nn, int *nweights, char *err, size_t errlen) {
    err[0] = 0;
    Onnx__ModelProto *m = onnx_read(path, err, errlen);
    if (!m) return 1;
    imp im;
    memset(&im, 0, sizeof im);
    arena_init(&im.a);
    sb_init(&im.decl);
    sb_init(&im.body);
    im.file = path;
    im.err = err;
    im.errlen = errlen;
    int rc = import_graph(&im, m, nn);
    *nweights = im.weights.len;
    if (!rc && weights && im.weights.len) rc = save_weights(&im, weights);
    sb_free(&im.decl);
    sb_free(&im.body);
    arena_free(&im.a);
    onnx__model_proto__free_unpacked(m, NULL);
    return rc ? 1 : 0;
}
