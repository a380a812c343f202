/* onnx/ — ONNX models in and out of nnc. The protobuf is parsed and written by protobuf-c with
 * the C code protoc-c generates at build time from the published onnx.proto (Makefile: ONNX_PROTO).
 *
 *   onnx_read.c   onnx_read(): one .onnx file into an Onnx__ModelProto, sizes checked first
 *   export.h      onnx_export(), for the driver (no protobuf-c headers): --emit=onnx
 *   export_impl.h what export.c and export_ops.c share
 *   export.c      onnx_export(): value names, initializers, the graph's interface, packing
 *   export_ops.c  one IR op of the forward schedule as ONNX nodes
 *   onnx_import.h the importer's interface for the driver: onnx_import(), nnc import, nnc x.onnx
 *   import.h      the importer's values, handlers and helpers (import_*.c)
 *   import_model.c  onnx_import(): initializers, inputs, nodes in order, outputs, the weights file
 *   import_graph.c  values, .nn names, parameters and statements; errors naming node and op
 *   import_util.c   attributes, constant inputs, shapes, numbers, numpy broadcasting
 *   import_math.c   elementwise ops, activations, comparisons folded on constants
 *   import_reduce.c reductions, softmax on any axis, the normalizations
 *   import_shape.c  Reshape, Flatten, (Un)Squeeze, Transpose, Concat, Gather(Elements), Split
 *   import_slice.c  Slice, Pad, Expand, Tile, Shape, Size, DepthToSpace, SpaceToDepth
 *   import_nn.c     MatMul, Gemm (dense), Conv, ConvTranspose, pools, Resize and Upsample (upsample)
 *   import_loss.c   SoftmaxCrossEntropyLoss, NegativeLogLikelihoodLoss, Trilu, Where (constant masks),
 *                   CumSum, LRN (constant matrices), ConstantOfShape, Range, EyeLike
 *   import_rnn.c    LSTM, GRU, RNN as the lstm, gru and rnn layers (gates reordered)
 *   import_main.c   `nnc import`, and the in-memory import behind `nnc model.onnx`
 */
#ifndef NNC_ONNX_H
#define NNC_ONNX_H
#include <stddef.h>
#include "onnx.pb-c.h"

/* the largest .onnx file read (protobuf-c unpacks it whole in memory) */
#define ONNX_MAX_FILE_BYTES ((size_t)2 << 30)

/* Reads and unpacks PATH. On failure returns NULL and writes one line naming the file and what
 * is wrong into ERR (ERRLEN bytes). Free the result with onnx__model_proto__free_unpacked(m, NULL). */
Onnx__ModelProto *onnx_read(const char *path, char *err, size_t errlen);

#endif
