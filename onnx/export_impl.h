/* export_impl.h — what onnx/export.c (the model, its initializers, the protobuf helpers) and
 * onnx/export_ops.c (one IR op into ONNX nodes) share. */
#ifndef NNC_ONNX_EXPORT_IMPL_H
#define NNC_ONNX_EXPORT_IMPL_H
#include "export.h"
#include "onnx.h"

/* The model being written. Everything lives in the graph's arena. */
typedef struct ox_ctx {
    const ir_graph *g;
    arena *a;
    diag_ctx *d;
    const char **val;                /* per node id: the name of its ONNX value (NULL: none yet) */
    ARR(Onnx__NodeProto *) nodes;    /* in topological order */
    ARR(Onnx__TensorProto *) inits;  /* initializers: parameters, constants, attribute tensors */
    int ntmp;                        /* temporaries named so far */
} ox_ctx;

/* ---- helpers (export.c) ---- */
/* A fresh value name ("#N": no .nn name starts so). */
const char *ox_tmp(ox_ctx *x);
/* A node OP with nin inputs (const char *, "" for an omitted optional one) writing out. */
Onnx__NodeProto *ox_node(ox_ctx *x, const char *op, const char *out, int nin, ...);
void ox_attr_int(ox_ctx *x, Onnx__NodeProto *nd, const char *name, int64_t v);
void ox_attr_float(ox_ctx *x, Onnx__NodeProto *nd, const char *name, double v);
void ox_attr_ints(ox_ctx *x, Onnx__NodeProto *nd, const char *name, int n, const int64_t *v);
void ox_attr_str(ox_ctx *x, Onnx__NodeProto *nd, const char *name, const char *v);
/* An initializer with a fresh name: int64 values [n], a float scalar, a tensor of rank dims. */
const char *ox_ints(ox_ctx *x, int n, const int64_t *v);
const char *ox_scalar(ox_ctx *x, double v);
Onnx__TensorProto *ox_tensor(ox_ctx *x, const char *name, int dtype, const ir_shape *s);
/* The dims of s as an int64 initializer (Reshape's and Expand's shape). */
const char *ox_dims(ox_ctx *x, const ir_shape *s);

/* ---- ops (export_ops.c) ---- */
/* 1 if node n is written as no ONNX value of its own (its users read through it). */
int ox_hidden(const ir_node *n);
/* Writes node n (an op of the forward schedule) as ONNX nodes producing x->val[n->id];
 * 0, or 1 after an error at n's source position. */
int ox_op(ox_ctx *x, const ir_node *n);

#endif
