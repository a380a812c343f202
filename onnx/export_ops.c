/* export_ops.c — one IR op of the forward schedule as ONNX nodes (opset 17). Elementwise ops map
 * one to one (gelu, gelu_tanh and silu written out with Erf, Tanh, Sigmoid); matmul is a Gemm of
 * the 2-D views; sum and expand are ReduceSum and Expand with the reshapes that keep nnc's shapes;
 * rnn_scan is ONNX's RNN, LSTM or GRU over the precomputed input projection (identity input
 * weights that also put the gates in ONNX's order) and stands for the h sequence that its only
 * use, the slice of h, reads; layernorm_stats is folded into LayerNormalization. */
#include "export_impl.h"
#include "../ir/rnn.h"


typedef struct ox_simple {
    ir_op op;
    const char *onnx;
} ox_simple;

/* ops that are one ONNX op of the same inputs */
static const ox_simple simple_ops[] = {
    {IR_COPY, "Identity"},  {IR_STOP_GRAD, "Identity"}, {IR_DROPOUT, "Identity"}, {IR_NEG, "Neg"},
    {IR_RELU, "Relu"},      {IR_SIGMOID, "Sigmoid"},    {IR_TANH, "Tanh"},        {IR_EXP, "Exp"},
    {IR_LOG, "Log"},        {IR_SQRT, "Sqrt"},          {IR_ADD, "Add"},          {IR_SUB, "Sub"},
    {IR_MUL, "Mul"},        {IR_DIV, "Div"},            {IR_SOFTMAX, "Softmax"},
    {IR_LOG_SOFTMAX, "LogSoftmax"},
};

/* the ONNX value name of input i of n */
static const char *vin(const ox_ctx *x, const ir_node *n, int i) { return x->val[n->in[i]]; }

static const ir_node *in_node(const ox_ctx *x, const ir_node *n, int i) { return x->g->nodes.data[n->in[i]]; }

static int unsupported(ox_ctx *x, const ir_node *n, const char *why) {
    diag_error(x->d, n->loc, "--emit=onnx: %s has no ONNX export: %s", ir_ops[n->op].name, why);
    return 1;
}

int ox_hidden(const ir_node *n) { return n->op == IR_LN_STATS; }

/* Reads of a hidden or partial value are the reader's own business: layernorm reads
 * layernorm_stats, the slice of h reads rnn_scan. Anything else reading them is refused. */
static int check_reads(ox_ctx *x, const ir_node *n) {
    for (int i = 0; i < n->nin; i++) {
        const ir_node *s = in_node(x, n, i);
        if (s->op == IR_LN_STATS && !(n->op == IR_LN_NORM && i == 1))
            return unsupported(x, n, "it reads layer norm's statistics");
        if (s->op == IR_RNN_SCAN && !(n->op == IR_SLICE && n->iattr[0] == 2 && n->iattr[1] == 0 &&
                                      n->iattr[2] == s->iattr[1]))
            return unsupported(x, n, "it reads a recurrent state other than h (ONNX's RNN, LSTM and GRU "
                                     "give h alone)");
    }
    return 0;
}

/* ---- shapes and products -------------------------------------------------------------------- */

static void reshape(ox_ctx *x, const char *in, const ir_shape *to, const char *out) {
    ox_node(x, "Reshape", out, 2, in, ox_dims(x, to));
}

/* sum(x) over axes [a0, a1), times scale: ReduceSum (keepdims 0), a Mul when scale != 1 */
static int op_sum(ox_ctx *x, const ir_node *n) {
    int64_t axes[IR_MAX_RANK];
    int na = 0;
    for (int64_t k = n->iattr[0]; k < n->iattr[1]; k++) axes[na++] = k;
    const char *out = x->val[n->id], *r = n->fattr[0] != 1 ? ox_tmp(x) : out;
    if (na) ox_attr_int(x, ox_node(x, "ReduceSum", r, 2, vin(x, n, 0), ox_ints(x, na, axes)), "keepdims", 0);
    else ox_node(x, "Identity", r, 1, vin(x, n, 0));
    if (r != out) ox_node(x, "Mul", out, 2, r, ox_scalar(x, n->fattr[0]));
    return 0;
}

/* expand(x) back over axes [a0, a1): x with ones there, Expand to the shape, times scale */
static int op_expand(ox_ctx *x, const ir_node *n) {
    ir_shape ones = n->shape;
    for (int64_t k = n->iattr[0]; k < n->iattr[1]; k++) ones.d[k] = 1;
    const char *r = ox_tmp(x), *out = x->val[n->id], *e = n->fattr[0] != 1 ? ox_tmp(x) : out;
    reshape(x, vin(x, n, 0), &ones, r);
    ox_node(x, "Expand", e, 2, r, ox_dims(x, &n->shape));
    if (e != out) ox_node(x, "Mul", out, 2, e, ox_scalar(x, n->fattr[0]));
    return 0;
}

/* [prod(leading dims), last dim] of s */
static ir_shape as_matrix(const ir_shape *s) {
    int64_t d[2] = {1, s->d[s->rank - 1]};
    for (int k = 0; k + 1 < s->rank; k++) d[0] *= s->d[k];
    return ir_shape_make(2, d);
}

/* the 2-D view of input i of n (a Reshape unless it is 2-D already) */
static const char *matrix_in(ox_ctx *x, const ir_node *n, int i) {
    const ir_node *s = in_node(x, n, i);
    if (s->shape.rank == 2) return vin(x, n, i);
    ir_shape m = as_matrix(&s->shape);
    const char *r = ox_tmp(x);
    reshape(x, vin(x, n, i), &m, r);
    return r;
}

/* matmul: a Gemm of the 2-D views (transA, transB from ta, tb), reshaped to n's shape */
static int op_matmul(ox_ctx *x, const ir_node *n) {
    const char *a = matrix_in(x, n, 0), *b = matrix_in(x, n, 1), *out = x->val[n->id];
    const char *r = n->shape.rank == 2 ? out : ox_tmp(x);
    Onnx__NodeProto *nd = ox_node(x, "Gemm", r, 2, a, b);
    if (n->iattr[0]) ox_attr_int(x, nd, "transA", 1);
    if (n->iattr[1]) ox_attr_int(x, nd, "transB", 1);
    if (r != out) reshape(x, r, &n->shape, out);
    return 0;
}

/* input i of a bmm with its last two axes swapped when `t` */
static const char *bmm_in(ox_ctx *x, const ir_node *n, int i, int64_t t) {
    if (!t) return vin(x, n, i);
    int rank = in_node(x, n, i)->shape.rank;
    int64_t perm[IR_MAX_RANK];
    for (int k = 0; k < rank; k++) perm[k] = k;
    perm[rank - 2] = rank - 1, perm[rank - 1] = rank - 2;
    const char *r = ox_tmp(x);
    ox_attr_ints(x, ox_node(x, "Transpose", r, 1, vin(x, n, i)), "perm", rank, perm);
    return r;
}

static int op_bmm(ox_ctx *x, const ir_node *n) {
    ox_node(x, "MatMul", x->val[n->id], 2, bmm_in(x, n, 0, n->iattr[0]), bmm_in(x, n, 1, n->iattr[1]));
    return 0;
}

/* ---- convolution and pooling ----------------------------------------------------------------- */

/* strides, pads (begin and end), dilations of a square 2-D window */
static void window_attrs(ox_ctx *x, Onnx__NodeProto *nd, int64_t stride, int64_t pad, int64_t dil) {
    int64_t s[2] = {stride, stride}, p[4] = {pad, pad, pad, pad}, d[2] = {dil, dil};
    ox_attr_ints(x, nd, "strides", 2, s);
    ox_attr_ints(x, nd, "pads", 4, p);
    if (dil != 1) ox_attr_ints(x, nd, "dilations", 2, d);
}

static int op_conv(ox_ctx *x, const ir_node *n) {
    int tr = n->op == IR_CONV_TRANSPOSE2D;
    Onnx__NodeProto *nd = ox_node(x, tr ? "ConvTranspose" : "Conv", x->val[n->id], 2, vin(x, n, 0), vin(x, n, 1));
    window_attrs(x, nd, n->iattr[0], n->iattr[1], n->iattr[2]);
    if (n->iattr[3] != 1) ox_attr_int(x, nd, "group", n->iattr[3]);
    int64_t op[2] = {n->iattr[4], n->iattr[4]};
    if (tr && n->iattr[4]) ox_attr_ints(x, nd, "output_padding", 2, op);
    return 0;
}

/* channel_bias(x, b): b [C] reshaped to [C, 1, ...] and added */
static int op_channel_bias(ox_ctx *x, const ir_node *n) {
    ir_shape s = n->shape;
    s.d[0] = n->shape.d[1];
    for (int k = 1; k + 1 < s.rank; k++) s.d[k] = 1;
    s.rank--;
    const char *r = ox_tmp(x);
    reshape(x, vin(x, n, 1), &s, r);
    ox_node(x, "Add", x->val[n->id], 2, vin(x, n, 0), r);
    return 0;
}

/* max pooling pads with -inf, average pooling counts the padding (PyTorch's count_include_pad) */
static int op_pool(ox_ctx *x, const ir_node *n) {
    int avg = n->op == IR_AVGPOOL2D;
    Onnx__NodeProto *nd = ox_node(x, avg ? "AveragePool" : "MaxPool", x->val[n->id], 1, vin(x, n, 0));
    int64_t k[2] = {n->iattr[0], n->iattr[0]};
    ox_attr_ints(x, nd, "kernel_shape", 2, k);
    window_attrs(x, nd, n->iattr[1], n->iattr[2], 1);
    if (avg) ox_attr_int(x, nd, "count_include_pad", 1);
    return 0;
}

/* upsample: Resize by the integer scale, nearest (floor of the asymmetric source) or bilinear
 * with half-pixel centres (PyTorch's align_corners=False) */
static int op_upsample(ox_ctx *x, const ir_node *n) {
    int64_t four[1] = {4};
    ir_shape s4 = ir_shape_make(1, four);
    Onnx__TensorProto *t = ox_tensor(x, ox_tmp(x), ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, &s4);
    t->float_data = arena_alloc(x->a, 4 * sizeof *t->float_data);
    t->n_float_data = 4;
    t->float_data[0] = t->float_data[1] = 1;
    t->float_data[2] = t->float_data[3] = (float)n->iattr[0];
    Onnx__NodeProto *nd = ox_node(x, "Resize", x->val[n->id], 3, vin(x, n, 0), "", t->name);
    int bilinear = n->iattr[1] == 1;
    ox_attr_str(x, nd, "mode", bilinear ? "linear" : "nearest");
    ox_attr_str(x, nd, "coordinate_transformation_mode", bilinear ? "half_pixel" : "asymmetric");
    if (!bilinear) ox_attr_str(x, nd, "nearest_mode", "floor");
    return 0;
}

/* ---- shape ops, attention, embeddings ------------------------------------------------------- */

static int op_permute(ox_ctx *x, const ir_node *n) {
    ox_attr_ints(x, ox_node(x, "Transpose", x->val[n->id], 1, vin(x, n, 0)), "perm", n->shape.rank, n->iattr);
    return 0;
}

/* Slice along one axis: starts, ends, axes (and steps) as initializers */
static void slice(ox_ctx *x, const ir_node *n, int64_t start, int64_t end, int64_t step) {
    int64_t axis = n->iattr[0];
    ox_node(x, "Slice", x->val[n->id], 5, vin(x, n, 0), ox_ints(x, 1, &start), ox_ints(x, 1, &end),
            ox_ints(x, 1, &axis), ox_ints(x, 1, &step));
}

static int op_slice(ox_ctx *x, const ir_node *n) {
    if (in_node(x, n, 0)->op == IR_RNN_SCAN) ox_node(x, "Identity", x->val[n->id], 1, vin(x, n, 0));
    else slice(x, n, n->iattr[1], n->iattr[2], 1);
    return 0;
}

/* flip: a Slice from the last element backwards */
static int op_flip(ox_ctx *x, const ir_node *n) {
    slice(x, n, -1, INT64_MIN, -1);
    return 0;
}

/* pad: zeros around x along iattr[0], x at iattr[1] of a length iattr[2] */
static int op_pad(ox_ctx *x, const ir_node *n) {
    int rank = n->shape.rank;
    int64_t pads[2 * IR_MAX_RANK] = {0}, axis = n->iattr[0];
    pads[axis] = n->iattr[1];
    pads[rank + axis] = n->iattr[2] - n->iattr[1] - in_node(x, n, 0)->shape.d[axis];
    ox_node(x, "Pad", x->val[n->id], 2, vin(x, n, 0), ox_ints(x, 2 * rank, pads));
    return 0;
}

static int op_concat(ox_ctx *x, const ir_node *n) {
    ox_attr_int(x, ox_node(x, "Concat", x->val[n->id], 2, vin(x, n, 0), vin(x, n, 1)), "axis", n->iattr[0]);
    return 0;
}

static int op_embedding(ox_ctx *x, const ir_node *n) {
    ox_attr_int(x, ox_node(x, "Gather", x->val[n->id], 2, vin(x, n, 1), vin(x, n, 0)), "axis", 0);
    return 0;
}

/* causal_mask: Where(above the diagonal, fill, x) with the mask a constant [T, T] */
static int op_causal_mask(ox_ctx *x, const ir_node *n) {
    int64_t T = n->shape.d[n->shape.rank - 1], d[2] = {T, T};
    ir_shape s = ir_shape_make(2, d);
    Onnx__TensorProto *m = ox_tensor(x, ox_tmp(x), ONNX__TENSOR_PROTO__DATA_TYPE__BOOL, &s);
    m->int32_data = arena_alloc(x->a, sizeof *m->int32_data * (size_t)(T * T));
    m->n_int32_data = (size_t)(T * T);
    for (int64_t i = 0; i < T; i++)
        for (int64_t j = 0; j < T; j++) m->int32_data[i * T + j] = j > i;
    ox_node(x, "Where", x->val[n->id], 3, m->name, ox_scalar(x, n->fattr[0]), vin(x, n, 0));
    return 0;
}

/* ---- normalization and activations ---------------------------------------------------------- */

/* batchnorm with the running statistics: BatchNormalization(x, weight, bias, mean, var) */
static int op_batchnorm(ox_ctx *x, const ir_node *n) {
    if (n->iattr[0]) return unsupported(x, n, "it normalizes with the batch's statistics (training)");
    Onnx__NodeProto *nd = ox_node(x, "BatchNormalization", x->val[n->id], 5, vin(x, n, 0), vin(x, n, 3),
                                  vin(x, n, 4), vin(x, n, 1), vin(x, n, 2));
    ox_attr_float(x, nd, "epsilon", n->fattr[0]);
    return 0;
}

/* layernorm(x, stats, weight, bias): LayerNormalization over the last axis, eps from the stats */
static int op_layernorm(ox_ctx *x, const ir_node *n) {
    Onnx__NodeProto *nd = ox_node(x, "LayerNormalization", x->val[n->id], 3, vin(x, n, 0), vin(x, n, 2), vin(x, n, 3));
    ox_attr_int(x, nd, "axis", -1);
    ox_attr_float(x, nd, "epsilon", in_node(x, n, 1)->fattr[0]);
    return 0;
}

static const char *binop(ox_ctx *x, const char *op, const char *a, const char *b) {
    const char *r = ox_tmp(x);
    ox_node(x, op, r, 2, a, b);
    return r;
}

static const char *unop(ox_ctx *x, const char *op, const char *a) {
    const char *r = ox_tmp(x);
    ox_node(x, op, r, 1, a);
    return r;
}

/* gelu: a * (1 + erf(a * p)) / 2; gelu_tanh: a * (1 + tanh(p * (a + q * a^3))) / 2 */
static int op_gelu(ox_ctx *x, const ir_node *n) {
    const char *a = vin(x, n, 0), *inner;
    if (n->op == IR_GELU) inner = unop(x, "Erf", binop(x, "Mul", a, ox_scalar(x, n->fattr[0])));
    else {
        const char *cube = binop(x, "Mul", a, binop(x, "Mul", a, a));
        const char *sum = binop(x, "Add", a, binop(x, "Mul", ox_scalar(x, n->fattr[1]), cube));
        inner = unop(x, "Tanh", binop(x, "Mul", ox_scalar(x, n->fattr[0]), sum));
    }
    const char *half = binop(x, "Mul", a, binop(x, "Add", ox_scalar(x, 1), inner));
    ox_node(x, "Div", x->val[n->id], 2, half, ox_scalar(x, 2));
    return 0;
}

static int op_silu(ox_ctx *x, const ir_node *n) {
    ox_node(x, "Mul", x->val[n->id], 2, vin(x, n, 0), unop(x, "Sigmoid", vin(x, n, 0)));
    return 0;
}

/* leaky_relu and elu (attribute alpha = p), pow (exponent p) */
static int op_param_act(ox_ctx *x, const ir_node *n) {
    if (n->op == IR_POW) {
        ox_node(x, "Pow", x->val[n->id], 2, vin(x, n, 0), ox_scalar(x, n->fattr[0]));
        return 0;
    }
    Onnx__NodeProto *nd = ox_node(x, n->op == IR_ELU ? "Elu" : "LeakyRelu", x->val[n->id], 1, vin(x, n, 0));
    ox_attr_float(x, nd, "alpha", n->fattr[0]);
    return 0;
}

/* ---- recurrent layers ------------------------------------------------------------------------ */

/* ONNX's gate blocks in nnc's (PyTorch's) numbering: LSTM iofc from ifgo, GRU zrh from rzn */
static int onnx_gate(int cell, int j) {
    static const int lstm[4] = {0, 3, 1, 2}, gru[3] = {1, 0, 2};
    return cell == RNN_CELL_LSTM ? lstm[j] : cell == RNN_CELL_GRU ? gru[j] : j;
}

/* The rows of nnc's G*H gate rows in ONNX's order, as an int64 initializer; the identity input
 * weights W [1, GH, GH] that take xp's columns into that order into *w. */
static const char *gate_rows(ox_ctx *x, int cell, int64_t H, const char **w) {
    int G = rnn_gates(cell);
    int64_t GH = G * H, *rows = arena_alloc(x->a, sizeof *rows * (size_t)GH), d[3] = {1, GH, GH};
    for (int j = 0; j < G; j++)
        for (int64_t k = 0; k < H; k++) rows[j * H + k] = onnx_gate(cell, j) * H + k;
    ir_shape s = ir_shape_make(3, d);
    Onnx__TensorProto *t = ox_tensor(x, ox_tmp(x), ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, &s);
    t->float_data = arena_alloc(x->a, sizeof *t->float_data * (size_t)(GH * GH));
    t->n_float_data = (size_t)(GH * GH);
    for (int64_t r = 0; r < GH; r++) t->float_data[r * GH + rows[r]] = 1;
    *w = t->name;
    return ox_ints(x, (int)GH, rows);
}

/* rnn_scan(xp [B, T, GH], W_hh, b_hh) as ONNX's RNN/LSTM/GRU over xp [T, B, GH] with input weights
 * that only reorder the gates, R = W_hh's rows and the recurrent bias b_hh reordered (GRU with
 * linear_before_reset, PyTorch's form); Y [T, 1, B, H] becomes the h sequence [B, T, H]. */
static int op_rnn(ox_ctx *x, const ir_node *n) {
    static const char *const kinds[RNN_CELL_COUNT] = {"RNN", "LSTM", "GRU"};
    int cell = (int)n->iattr[0];
    int64_t H = n->iattr[1], GH = rnn_gates(cell) * H, tb[3] = {1, 0, 2}, y[4] = {2, 0, 1, 3};
    const char *w, *rows = gate_rows(x, cell, H, &w), *xt = ox_tmp(x), *r = ox_tmp(x), *b = ox_tmp(x);
    ox_attr_ints(x, ox_node(x, "Transpose", xt, 1, vin(x, n, 0)), "perm", 3, tb);
    int64_t rs[3] = {1, GH, H}, bs[2] = {1, 2 * GH}, zs[1] = {GH};
    ir_shape rsh = ir_shape_make(3, rs), bsh = ir_shape_make(2, bs), zsh = ir_shape_make(1, zs);
    reshape(x, binop(x, "Gather", vin(x, n, 1), rows), &rsh, r);
    Onnx__TensorProto *z = ox_tensor(x, ox_tmp(x), ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, &zsh);
    z->float_data = arena_alloc(x->a, sizeof *z->float_data * (size_t)GH);
    z->n_float_data = (size_t)GH;
    Onnx__NodeProto *cat = ox_node(x, "Concat", ox_tmp(x), 2, z->name, binop(x, "Gather", vin(x, n, 2), rows));
    ox_attr_int(x, cat, "axis", 0);
    reshape(x, cat->output[0], &bsh, b);
    const char *ys = ox_tmp(x), *yt = ox_tmp(x);
    Onnx__NodeProto *nd = ox_node(x, kinds[cell], ys, 4, xt, w, r, b);
    ox_attr_int(x, nd, "hidden_size", H);
    if (cell == RNN_CELL_GRU) ox_attr_int(x, nd, "linear_before_reset", 1);
    ox_attr_ints(x, ox_node(x, "Transpose", yt, 1, ys), "perm", 4, y);
    ir_shape h = n->shape;
    h.d[2] = H;
    reshape(x, yt, &h, x->val[n->id]);
    return 0;
}

/* ---- dispatch -------------------------------------------------------------------------------- */

typedef int (*ox_fn)(ox_ctx *x, const ir_node *n);

static ox_fn op_fn(ir_op op) {
    switch (op) {
    case IR_SUM: return op_sum;
    case IR_EXPAND: return op_expand;
    case IR_MATMUL: return op_matmul;
    case IR_BMM: return op_bmm;
    case IR_CONV2D: case IR_CONV_TRANSPOSE2D: return op_conv;
    case IR_CHANNEL_BIAS: return op_channel_bias;
    case IR_MAXPOOL2D: case IR_AVGPOOL2D: return op_pool;
    case IR_UPSAMPLE: return op_upsample;
    case IR_PERMUTE: return op_permute;
    case IR_SLICE: return op_slice;
    case IR_FLIP: return op_flip;
    case IR_PAD: return op_pad;
    case IR_CONCAT: return op_concat;
    case IR_EMBEDDING: return op_embedding;
    case IR_CAUSAL_MASK: return op_causal_mask;
    case IR_BN_NORM: return op_batchnorm;
    case IR_LN_NORM: return op_layernorm;
    case IR_GELU: case IR_GELU_TANH: return op_gelu;
    case IR_SILU: return op_silu;
    case IR_LEAKY_RELU: case IR_ELU: case IR_POW: return op_param_act;
    case IR_RNN_SCAN: return op_rnn;
    default: return NULL;
    }
}

/* why an op without a mapping has none */
static const char *why_not(ir_op op) {
    if (op == IR_RANDN || op == IR_RAND)
        return "it draws nnc's Philox numbers, which ONNX's random ops cannot reproduce";
    return "no mapping is written for it (it is not an op of an inference graph)";
}

int ox_op(ox_ctx *x, const ir_node *n) {
    if (check_reads(x, n)) return 1;
    if (ox_hidden(n)) return 0;
    if (n->op == IR_RESHAPE) {
        reshape(x, vin(x, n, 0), &n->shape, x->val[n->id]);
        return 0;
    }
    ox_fn f = op_fn(n->op);
    if (f) return f(x, n);
    for (size_t i = 0; i < sizeof simple_ops / sizeof simple_ops[0]; i++) {
        if (simple_ops[i].op != n->op) continue;
        const char *b = n->nin > 1 ? vin(x, n, 1) : "";
        Onnx__NodeProto *nd = ox_node(x, simple_ops[i].onnx, x->val[n->id], n->nin, vin(x, n, 0), b);
        if (n->op == IR_SOFTMAX || n->op == IR_LOG_SOFTMAX) ox_attr_int(x, nd, "axis", -1);
        return 0;
    }
    return unsupported(x, n, why_not(n->op));
}
