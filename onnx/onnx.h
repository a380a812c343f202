/* onnx/ — ONNX models in and out of nnc. The protobuf is parsed and written by protobuf-c with
 * the C code protoc-c generates at build time from the published onnx.proto (Makefile: ONNX_PROTO).
 *
 *   onnx_read.c   onnx_read(): one .onnx file into an Onnx__ModelProto, sizes checked first
 *   export.h      onnx_export(), for the driver (no protobuf-c headers): --emit=onnx
 *   export_impl.h what export.c and export_ops.c share
 *   export.c      onnx_export(): value names, initializers, the graph's interface, packing
 *   export_ops.c  one IR op of the forward schedule as ONNX nodes
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
