/* export.c — nnc --emit=onnx: the forward schedule of a planned program as an onnx.ModelProto,
 * built in protobuf-c's structures (in the graph's arena) and packed. The ops are written by
 * export_ops.c; this file names the values, writes the initializers and the graph's interface. */
#include "export_impl.h"
#include "../runtime/nnrt.h"
#include <stdarg.h>
#include <stdlib.h>

enum { OX_MAX_ATTRS = 8 };

/* ---- protobuf helpers ------------------------------------------------------------------------ */

const char *ox_tmp(ox_ctx *x) { return arena_printf(x->a, "#%d", x->ntmp++); }

Onnx__NodeProto *ox_node(ox_ctx *x, const char *op, const char *out, int nin, ...) {
    Onnx__NodeProto init = ONNX__NODE_PROTO__INIT, *nd = arena_alloc(x->a, sizeof *nd);
    *nd = init;
    nd->op_type = (char *)op;
    nd->name = arena_printf(x->a, "%s:%d", op, x->nodes.len);
    nd->input = arena_alloc(x->a, sizeof *nd->input * (size_t)(nin ? nin : 1));
    va_list ap;
    va_start(ap, nin);
    for (int i = 0; i < nin; i++) nd->input[nd->n_input++] = (char *)va_arg(ap, const char *);
    va_end(ap);
    nd->output = arena_alloc(x->a, sizeof *nd->output);
    nd->output[nd->n_output++] = (char *)out;
    nd->attribute = arena_alloc(x->a, sizeof *nd->attribute * OX_MAX_ATTRS);
    arr_push(x->a, x->nodes, nd);
    return nd;
}

static Onnx__AttributeProto *new_attr(ox_ctx *x, Onnx__NodeProto *nd, const char *name, int type) {
    Onnx__AttributeProto init = ONNX__ATTRIBUTE_PROTO__INIT, *at = arena_alloc(x->a, sizeof *at);
    *at = init;
    at->name = (char *)name;
    at->has_type = 1;
    at->type = (Onnx__AttributeProto__AttributeType)type;
    if (nd->n_attribute < OX_MAX_ATTRS) nd->attribute[nd->n_attribute++] = at;
    return at;
}

void ox_attr_int(ox_ctx *x, Onnx__NodeProto *nd, const char *name, int64_t v) {
    Onnx__AttributeProto *at = new_attr(x, nd, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    at->has_i = 1;
    at->i = v;
}

void ox_attr_float(ox_ctx *x, Onnx__NodeProto *nd, const char *name, double v) {
    Onnx__AttributeProto *at = new_attr(x, nd, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    at->has_f = 1;
    at->f = (float)v;
}

void ox_attr_ints(ox_ctx *x, Onnx__NodeProto *nd, const char *name, int n, const int64_t *v) {
    Onnx__AttributeProto *at = new_attr(x, nd, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    at->ints = arena_alloc(x->a, sizeof *at->ints * (size_t)(n ? n : 1));
    memcpy(at->ints, v, sizeof *v * (size_t)n);
    at->n_ints = (size_t)n;
}

void ox_attr_str(ox_ctx *x, Onnx__NodeProto *nd, const char *name, const char *v) {
    Onnx__AttributeProto *at = new_attr(x, nd, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    at->has_s = 1;
    at->s.data = (uint8_t *)v;
    at->s.len = strlen(v);
}

Onnx__TensorProto *ox_tensor(ox_ctx *x, const char *name, int dtype, const ir_shape *s) {
    Onnx__TensorProto init = ONNX__TENSOR_PROTO__INIT, *t = arena_alloc(x->a, sizeof *t);
    *t = init;
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = dtype;
    t->dims = arena_alloc(x->a, sizeof *t->dims * (size_t)(s->rank ? s->rank : 1));
    for (int k = 0; k < s->rank; k++) t->dims[t->n_dims++] = s->d[k];
    arr_push(x->a, x->inits, t);
    return t;
}

const char *ox_ints(ox_ctx *x, int n, const int64_t *v) {
    int64_t d[1] = {n};
    ir_shape s = ir_shape_make(1, d);
    Onnx__TensorProto *t = ox_tensor(x, ox_tmp(x), ONNX__TENSOR_PROTO__DATA_TYPE__INT64, &s);
    t->int64_data = arena_alloc(x->a, sizeof *t->int64_data * (size_t)(n ? n : 1));
    memcpy(t->int64_data, v, sizeof *v * (size_t)n);
    t->n_int64_data = (size_t)n;
    return t->name;
}

const char *ox_scalar(ox_ctx *x, double v) {
    ir_shape s = ir_scalar_shape();
    Onnx__TensorProto *t = ox_tensor(x, ox_tmp(x), ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, &s);
    t->float_data = arena_alloc(x->a, sizeof *t->float_data);
    t->float_data[0] = (float)v;
    t->n_float_data = 1;
    return t->name;
}

const char *ox_dims(ox_ctx *x, const ir_shape *s) { return ox_ints(x, s->rank, s->d); }

/* ---- initializers ---------------------------------------------------------------------------- */

/* The values P_create(0) gives parameter i (node n): the generated _reset's initializers
 * (codegen/core/api.c, cg_init_param) run by libnnrt into v. */
static void initial_values(const ir_node *n, int i, float *v, size_t count) {
    switch (n->init) {
    case INIT_HE: nnrt_init_he_f32(v, count, n->fan_in, 0, (uint64_t)i); break;
    case INIT_GLOROT: nnrt_init_glorot_f32(v, count, n->fan_in, n->fan_out, 0, (uint64_t)i); break;
    case INIT_UNIFORM: nnrt_fill_uniform_f32(v, count, (float)-n->fill, (float)n->fill, 0, (uint64_t)i); break;
    case INIT_NORMAL: nnrt_fill_normal_f32(v, count, 0, (float)n->fill, 0, (uint64_t)i); break;
    case INIT_ZEROS: break;
    case INIT_AUTO:
    case INIT_ONES:
    case INIT_FILL:
        for (size_t k = 0; k < count; k++) v[k] = (float)(n->init == INIT_FILL ? n->fill : 1);
        break;
    case INIT_DATA:
        for (size_t k = 0; k < count; k++) v[k] = (float)n->data[k];
        break;
    }
}

/* Parameter n (the i-th of g->params) as an initializer: from weights (at its forward-plan
 * offset) or its initial values. */
static void param_init(ox_ctx *x, const ir_program *p, const double *weights, const ir_node *n) {
    int i = 0;
    while (x->g->params.data[i] != n->id) i++;
    Onnx__TensorProto *t = ox_tensor(x, x->val[n->id], ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, &n->shape);
    size_t count = (size_t)ir_numel(&n->shape), off = p->mem[ENTRY_FORWARD].offset[n->id];
    t->float_data = arena_alloc(x->a, sizeof *t->float_data * (count ? count : 1));
    t->n_float_data = count;
    if (!weights) initial_values(n, i, t->float_data, count);
    else
        for (size_t k = 0; k < count; k++) t->float_data[k] = (float)weights[off + k];
}

static void const_init(ox_ctx *x, const ir_node *n) {
    size_t count = (size_t)ir_numel(&n->shape);
    if (n->dtype == DT_I32) {
        Onnx__TensorProto *t = ox_tensor(x, x->val[n->id], ONNX__TENSOR_PROTO__DATA_TYPE__INT32, &n->shape);
        t->int32_data = arena_alloc(x->a, sizeof *t->int32_data * (count ? count : 1));
        for (size_t k = 0; k < count; k++) t->int32_data[k] = (int32_t)n->data[k];
        t->n_int32_data = count;
        return;
    }
    Onnx__TensorProto *t = ox_tensor(x, x->val[n->id], ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, &n->shape);
    t->float_data = arena_alloc(x->a, sizeof *t->float_data * (count ? count : 1));
    for (size_t k = 0; k < count; k++) t->float_data[k] = (float)n->data[k];
    t->n_float_data = count;
}

/* ---- the graph's interface ------------------------------------------------------------------- */

static Onnx__ValueInfoProto *value_info(ox_ctx *x, const char *name, ir_dtype dt, const ir_shape *s) {
    Onnx__ValueInfoProto vi = ONNX__VALUE_INFO_PROTO__INIT, *v = arena_alloc(x->a, sizeof *v);
    Onnx__TypeProto tp = ONNX__TYPE_PROTO__INIT, *type = arena_alloc(x->a, sizeof *type);
    Onnx__TypeProto__Tensor tt = ONNX__TYPE_PROTO__TENSOR__INIT, *ten = arena_alloc(x->a, sizeof *ten);
    Onnx__TensorShapeProto sp = ONNX__TENSOR_SHAPE_PROTO__INIT, *shape = arena_alloc(x->a, sizeof *shape);
    *v = vi, *type = tp, *ten = tt, *shape = sp;
    shape->dim = arena_alloc(x->a, sizeof *shape->dim * (size_t)(s->rank ? s->rank : 1));
    for (int k = 0; k < s->rank; k++) {
        Onnx__TensorShapeProto__Dimension di = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
        Onnx__TensorShapeProto__Dimension *dim = arena_alloc(x->a, sizeof *dim);
        *dim = di;
        dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        dim->dim_value = s->d[k];
        shape->dim[shape->n_dim++] = dim;
    }
    ten->has_elem_type = 1;
    ten->elem_type = dt == DT_I32 ? ONNX__TENSOR_PROTO__DATA_TYPE__INT32 : ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    ten->shape = shape;
    type->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    type->tensor_type = ten;
    v->name = (char *)name;
    v->type = type;
    return v;
}

/* Every node's value name: inputs and parameters by their .nn names, an output's node by the
 * output's name (the first output it is), the rest "BINDING:ID" or "OP:ID". */
static void name_values(ox_ctx *x) {
    const ir_graph *g = x->g;
    for (int i = 0; i < g->outputs.len; i++) {
        const ir_node *n = g->nodes.data[g->outputs.data[i]];
        if (ir_ops[n->op].cls != OPC_SOURCE && !x->val[n->id]) x->val[n->id] = g->output_names.data[i];
    }
    for (int id = 0; id < g->nodes.len; id++) {
        const ir_node *n = g->nodes.data[id];
        if (x->val[id]) continue;
        if (n->op == IR_INPUT || n->op == IR_PARAM) x->val[id] = n->name;
        else x->val[id] = arena_printf(x->a, "%s:%d", n->name ? n->name : ir_ops[n->op].name, id);
    }
}

/* The initializers of the sources node n reads that have none yet (done marks them). */
static void source_inits(ox_ctx *x, const ir_program *p, const double *w, const ir_node *n, char *done) {
    for (int i = 0; i < n->nin; i++) {
        const ir_node *s = x->g->nodes.data[n->in[i]];
        if (done[s->id] || (s->op != IR_PARAM && s->op != IR_CONST)) continue;
        done[s->id] = 1;
        if (s->op == IR_PARAM) param_init(x, p, w, s);
        else const_init(x, s);
    }
}

/* The nodes of the forward schedule, in order; 0, or 1 after an error. */
static int write_nodes(ox_ctx *x, const ir_program *p, const double *w) {
    const ir_sched *s = &p->sched[ENTRY_FORWARD];
    char *done = arena_alloc(x->a, (size_t)x->g->nodes.len);
    for (int t = 0; t < s->order.len; t++) {
        const ir_node *n = x->g->nodes.data[s->order.data[t]];
        source_inits(x, p, w, n, done);
        if (ox_op(x, n)) return 1;
    }
    for (int i = 0; i < x->g->outputs.len; i++) {
        const ir_node *n = x->g->nodes.data[x->g->outputs.data[i]];
        if (ir_ops[n->op].cls != OPC_SOURCE) continue;
        ir_node one = *n;
        one.nin = 1, one.in[0] = n->id;
        source_inits(x, p, w, &one, done);
    }
    return 0;
}

/* The graph's inputs (every .nn input, declaration order) and outputs (output order); an output
 * that is a source or repeats another's value is an Identity of it. */
static void interface(ox_ctx *x, Onnx__GraphProto *gp) {
    const ir_graph *g = x->g;
    gp->input = arena_alloc(x->a, sizeof *gp->input * (size_t)(g->inputs.len + 1));
    for (int i = 0; i < g->inputs.len; i++) {
        const ir_node *n = g->nodes.data[g->inputs.data[i]];
        gp->input[gp->n_input++] = value_info(x, x->val[n->id], n->dtype, &n->shape);
    }
    gp->output = arena_alloc(x->a, sizeof *gp->output * (size_t)(g->outputs.len + 1));
    for (int i = 0; i < g->outputs.len; i++) {
        const ir_node *n = g->nodes.data[g->outputs.data[i]];
        const char *name = g->output_names.data[i];
        if (strcmp(x->val[n->id], name)) ox_node(x, "Identity", name, 1, x->val[n->id]);
        gp->output[gp->n_output++] = value_info(x, name, n->dtype, &n->shape);
    }
}

/* The packed model into out (replacing its contents); 0, or 1 when out of memory. */
static int pack(Onnx__ModelProto *m, strbuf *out, diag_ctx *d) {
    size_t n = onnx__model_proto__get_packed_size(m);
    char *buf = malloc(n + 1);
    if (!buf) {
        diag_plain(d, "out of memory for the ONNX model (%zu bytes)", n);
        return 1;
    }
    onnx__model_proto__pack(m, (uint8_t *)buf);
    buf[n] = 0;
    sb_free(out);
    out->s = buf, out->len = n, out->cap = n + 1;
    return 0;
}

static int write_model(ox_ctx *x, Onnx__GraphProto *gp, strbuf *out) {
    Onnx__ModelProto mi = ONNX__MODEL_PROTO__INIT, m = mi;
    Onnx__OperatorSetIdProto oi = ONNX__OPERATOR_SET_ID_PROTO__INIT, opset = oi, *ops[1] = {&opset};
    opset.domain = "";
    opset.has_version = 1, opset.version = ONNX_EXPORT_OPSET;
    m.has_ir_version = 1, m.ir_version = ONNX_EXPORT_IR_VERSION;
    m.n_opset_import = 1, m.opset_import = ops;
    m.producer_name = "nnc";
    m.producer_version = NNRT_VERSION_STRING;
    m.graph = gp;
    return pack(&m, out, x->d);
}

int onnx_export(const ir_program *p, const double *weights, strbuf *out, diag_ctx *d) {
    ir_graph *g = p->g;
    ox_ctx x = {g, g->a, d, NULL, {0}, {0}, 0};
    x.val = arena_alloc(g->a, sizeof *x.val * (size_t)(g->nodes.len + 1));
    name_values(&x);
    if (write_nodes(&x, p, weights)) return 1;
    Onnx__GraphProto gi = ONNX__GRAPH_PROTO__INIT, gp = gi;
    gp.name = (char *)g->name;
    gp.doc_string = g->file ? arena_printf(g->a, "the inference graph of %s, exported by nnc", g->file) : NULL;
    interface(&x, &gp);
    gp.node = x.nodes.data, gp.n_node = (size_t)x.nodes.len;
    gp.initializer = x.inits.data, gp.n_initializer = (size_t)x.inits.len;
    return write_model(&x, &gp, out);
}
