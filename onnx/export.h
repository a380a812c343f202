/* export.h — nnc --emit=onnx: a compiled model's inference graph as an ONNX model (onnx/export.c).
 * Free of protobuf-c's headers, so the driver includes it alone. */
#ifndef NNC_ONNX_EXPORT_H
#define NNC_ONNX_EXPORT_H
#include "../common/common.h"
#include "../ir/ir.h"

/* The ONNX operator set and IR version of the files onnx_export writes. */
enum { ONNX_EXPORT_OPSET = 17, ONNX_EXPORT_IR_VERSION = 8 };

/* Writes p's forward pass (the schedule of ENTRY_FORWARD: inputs to outputs, no loss) as a serialized
 * onnx.ModelProto into out (replacing what it held): the inputs and outputs by their .nn names with
 * static shapes, the parameters as initializers named as P_param_info names them. weights: the
 * parameter values at the offsets of p's forward plan (as --weights reads them), or NULL for the
 * values P_create(0) starts from. Returns 0, or 1 after one error naming the op and its source
 * position (an op with no ONNX counterpart) or what went wrong. */
int onnx_export(const ir_program *p, const double *weights, strbuf *out, diag_ctx *d);

#endif
