/* import.h — the ONNX importer's own interface (onnx/import_*.c). The importer walks the graph
 * once, in node order, and writes one .nn statement (or a few) per node: every value it
 * produces is an `ival` with a static shape, either a .nn binding or a constant known at import
 * time (initializers, Constant nodes, shapes, folded arithmetic). Constants become parameters
 * (with their data in the weights) only where a tensor is needed. */
#ifndef NNC_ONNX_IMPORT_H
#define NNC_ONNX_IMPORT_H
#include "onnx.h"
#include "onnx_import.h"
#include "../common/common.h"

#define IMP_MAX_RANK 6                    /* the language's rank limit */
#define IMP_MAX_VALUES ((int64_t)1 << 26) /* the largest constant the importer computes */

typedef struct ival {
    const char *onnx;             /* the ONNX value name */
    const char *nn;               /* its .nn name, or NULL while it is an unmaterialized constant */
    int dtype;                    /* ONNX TensorProto data type */
    int rank;
    int64_t dims[IMP_MAX_RANK];
    double *c;                    /* constant values (row-major), or NULL */
} ival;

typedef struct iweight { /* one tensor of the weights file */
    const char *name;
    int rank;
    int64_t dims[IMP_MAX_RANK];
    const float *data;
} iweight;

typedef struct imp {
    arena a;
    const char *file;             /* for messages */
    int opset;                    /* of the default domain */
    const Onnx__NodeProto *node;  /* the node being imported, for messages */
    ARR(ival *) vals;
    ARR(const char *) names;      /* every .nn name used */
    ARR(iweight) weights;
    strbuf decl, body;            /* inputs and params; statements */
    char *err;
    size_t errlen;
} imp;

/* the handler of one ONNX op: 0, or -1 after imp_fail */
typedef int (*imp_op_fn)(imp *im, const Onnx__NodeProto *n);
typedef struct imp_op { const char *name; imp_op_fn fn; } imp_op;
extern const imp_op imp_ops_math[], imp_ops_reduce[], imp_ops_shape[], imp_ops_slice[], imp_ops_nn[], imp_ops_loss[],
    imp_ops_rnn[];

/* import_graph.c: errors, values, names, emitting */
int imp_fail(imp *im, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
ival *imp_find(imp *im, const char *onnx);
ival *imp_in(imp *im, int i);  /* input i of the node; NULL when absent (optional) */
ival *imp_req(imp *im, int i); /* input i, required: NULL after an error */
const char *imp_name(imp *im, const char *want);
int imp_is_name_of(imp *im, const char *name, const char *onnx);
const char *imp_tensor(imp *im, ival *v);
const char *imp_let(imp *im, const char *expr);
int imp_out(imp *im, int i, const char *expr, int rank, const int64_t *dims);
int imp_out_named(imp *im, int i, const char *name, const char *expr, int rank, const int64_t *dims);
int imp_const_out(imp *im, int i, int rank, const int64_t *dims, double *c);
const char *imp_param(imp *im, const char *name, int rank, const int64_t *dims, const double *c);
void imp_weight(imp *im, const char *name, int rank, const int64_t *dims, const double *c);

/* import_util.c: attributes, shapes, numbers */
const Onnx__AttributeProto *imp_attr(const Onnx__NodeProto *n, const char *name);
int64_t imp_ai(const Onnx__NodeProto *n, const char *name, int64_t def);
double imp_af(const Onnx__NodeProto *n, const char *name, double def);
int imp_aints(const Onnx__NodeProto *n, const char *name, int64_t *out, int max);
const char *imp_as(const Onnx__NodeProto *n, const char *name, const char *def);
int imp_consts(imp *im, ival *v, const char *what, int64_t *out, int max);
int64_t imp_numel(int rank, const int64_t *dims);
double *imp_values(imp *im, int64_t n);
const char *imp_shape(imp *im, int rank, const int64_t *dims);
const char *imp_num(imp *im, double x);
int imp_axis(imp *im, int64_t axis, int rank, int *out);
int64_t imp_bindex(const ival *v, int rank, const int64_t *dims, int64_t flat);
int imp_bcast(imp *im, const ival *a, const ival *b, int *rank, int64_t *dims);
const char *imp_fit(imp *im, const char *e, int rank, const int64_t *dims, int orank, const int64_t *odims);
const char *imp_reshape(imp *im, const char *e, int rank, const int64_t *dims, int orank, const int64_t *odims);
const char *imp_operand(imp *im, ival *v, int orank, const int64_t *odims);
int imp_float(imp *im, const ival *v);
int imp_dtype_ok(int dtype);
const char *imp_dtype_name(int dtype);

#endif
