/* import_graph.c — the importer's values, .nn names and statements: errors name the file, the
 * node and its op; a value gets the .nn name its ONNX name sanitizes to (unique, never a keyword
 * or a built-in); constants become parameters only when a tensor is needed. */
#include "import.h"
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>

int imp_fail(imp *im, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (im->err[0]) return -1; /* the first error wins */
    const Onnx__NodeProto *n = im->node;
    if (n && n->name && *n->name)
        snprintf(im->err, im->errlen, "%s: node '%s' (%s): %s", im->file, n->name, n->op_type, msg);
    else if (n) {
        const char *out = "";
        for (size_t i = 0; i < n->n_output && !*out; i++) out = n->output[i];
        snprintf(im->err, im->errlen, "%s: the %s node computing '%s': %s", im->file, n->op_type, out, msg);
    } else
        snprintf(im->err, im->errlen, "%s: %s", im->file, msg);
    return -1;
}

ival *imp_find(imp *im, const char *onnx) {
    for (int i = im->vals.len - 1; i >= 0; i--)
        if (!strcmp(im->vals.data[i]->onnx, onnx)) return im->vals.data[i];
    return NULL;
}

ival *imp_in(imp *im, int i) {
    const Onnx__NodeProto *n = im->node;
    if (i >= (int)n->n_input || !n->input[i][0]) return NULL;
    ival *v = imp_find(im, n->input[i]);
    if (!v) imp_fail(im, "input '%s' is not defined before this node", n->input[i]);
    return v;
}

ival *imp_req(imp *im, int i) {
    ival *v = imp_in(im, i);
    if (!v && !im->err[0]) imp_fail(im, "needs input %d, which is missing", i + 1);
    return v;
}

/* names that a binding may not take: keywords, built-in ops and symbols */
static int reserved(const char *s) {
    static const char words[] =
        " model const block return input target param output loss train requires_grad he glorot zeros ones auto true"
        " false f32 i32 relu sigmoid tanh exp log add sub mul div gelu silu leaky_relu elu sqrt pow softmax log_softmax"
        " sum mean matmul dense bmm batchnorm layernorm dropout conv2d maxpool2d avgpool2d global_avgpool flatten"
        " conv_transpose2d upsample randn rand randn_like rand_like stop_gradient detach rnn lstm gru reshape transpose"
        " permute concat slice expand flip embedding positional attention mse cross_entropy binary_cross_entropy dim"
        " stack min max sgd adam adamw nearest bilinear ";
    char key[72];
    snprintf(key, sizeof key, " %s ", s);
    return strstr(words, key) != NULL;
}

static int name_used(const imp *im, const char *s) {
    for (int i = 0; i < im->names.len; i++)
        if (!strcmp(im->names.data[i], s)) return 1;
    return 0;
}

/* WANT as an identifier: other characters become '_', a leading digit gets a 'v' */
static char *sanitize(imp *im, const char *want) {
    size_t n = strlen(want);
    char *s = arena_alloc(&im->a, n + 3);
    int k = 0;
    if (!n || (want[0] >= '0' && want[0] <= '9')) s[k++] = 'v';
    for (size_t i = 0; i < n && k < 60; i++) {
        char ch = want[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
        if (ok || (k && s[k - 1] != '_')) s[k++] = ok ? ch : '_';
    }
    while (k > 1 && s[k - 1] == '_') k--;
    s[k] = 0;
    return s;
}

/* 1 when NAME is what a value named ONNX is called when its name is free */
int imp_is_name_of(imp *im, const char *name, const char *onnx) { return !strcmp(name, sanitize(im, onnx)); }

const char *imp_name(imp *im, const char *want) {
    char *s = sanitize(im, want);
    const char *r = reserved(s) ? arena_printf(&im->a, "%s_", s) : s;
    for (int i = 2; name_used(im, r); i++) r = arena_printf(&im->a, "%s_%d", s, i);
    arr_push(&im->a, im->names, r);
    return r;
}

void imp_weight(imp *im, const char *name, int rank, const int64_t *dims, const double *c) {
    iweight w = {name, rank, {0}, NULL};
    int64_t n = imp_numel(rank, dims);
    if (rank) memcpy(w.dims, dims, (size_t)rank * sizeof *dims);
    float *d = arena_alloc(&im->a, (size_t)(n ? n : 1) * sizeof *d);
    for (int64_t i = 0; i < n; i++) d[i] = (float)c[i];
    w.data = d;
    arr_push(&im->a, im->weights, w);
}

const char *imp_param(imp *im, const char *name, int rank, const int64_t *dims, const double *c) {
    const char *nm = imp_name(im, name);
    sb_printf(&im->decl, "    param %s : f32%s\n", nm, imp_shape(im, rank, dims));
    imp_weight(im, nm, rank, dims, c);
    return nm;
}

/* a constant as a tensor literal when it is small and every value prints, else NULL */
static const char *literal(imp *im, const ival *v) {
    int64_t n = imp_numel(v->rank, v->dims);
    if (v->rank != 1 || n > 8) return NULL;
    const char *s = "[";
    for (int64_t i = 0; i < n; i++) {
        const char *x = imp_num(im, v->c[i]);
        if (!x) return NULL;
        s = arena_printf(&im->a, "%s%s%s", s, i ? ", " : "", x);
    }
    return arena_printf(&im->a, "%s]", s);
}

const char *imp_tensor(imp *im, ival *v) {
    if (v->nn) return v->nn;
    if (!imp_float(im, v)) return NULL;
    const char *lit = literal(im, v);
    if (lit)
        v->nn = imp_let(im, lit);
    else
        v->nn = imp_param(im, v->onnx, v->rank, v->dims, v->c);
    return v->nn;
}

const char *imp_let(imp *im, const char *expr) {
    const char *nm = imp_name(im, "t");
    sb_printf(&im->body, "    %s = %s\n", nm, expr);
    return nm;
}

static ival *new_val(imp *im, const char *onnx, int rank, const int64_t *dims) {
    ival *v = arena_alloc(&im->a, sizeof *v);
    v->onnx = arena_strdup(&im->a, onnx);
    v->dtype = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    v->rank = rank;
    if (rank) memcpy(v->dims, dims, (size_t)rank * sizeof *dims);
    arr_push(&im->a, im->vals, v);
    return v;
}

static int out_name(imp *im, int i, const char **name) {
    const Onnx__NodeProto *n = im->node;
    if (i >= (int)n->n_output || !n->output[i][0]) return *name = NULL, 0;
    *name = n->output[i];
    return 0;
}

int imp_out(imp *im, int i, const char *expr, int rank, const int64_t *dims) {
    return imp_out_named(im, i, NULL, expr, rank, dims);
}

int imp_out_named(imp *im, int i, const char *name, const char *expr, int rank, const int64_t *dims) {
    const char *onnx;
    if (!expr) return -1;
    out_name(im, i, &onnx);
    if (!onnx) return 0;
    if (rank > IMP_MAX_RANK) return imp_fail(im, "the result has rank %d; nnc tensors have at most 6 axes", rank);
    ival *v = new_val(im, onnx, rank, dims);
    v->nn = name ? name : imp_name(im, onnx);
    sb_printf(&im->body, "    %s = %s\n", v->nn, expr);
    return 0;
}

int imp_const_out(imp *im, int i, int rank, const int64_t *dims, double *c) {
    const char *onnx;
    out_name(im, i, &onnx);
    if (!onnx) return 0;
    ival *v = new_val(im, onnx, rank, dims);
    v->c = c;
    return 0;
}
