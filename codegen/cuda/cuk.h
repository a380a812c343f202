/* cuk.h — inside codegen/cuda/: the CUDA kernel emitter every op row of
 * ops.def names (cu_emit_OP), and the helpers op families share.
 *
 * Contract between the files of the CUDA target (the C target's
 * codegen/c/kernels.h is the model for it):
 *
 *   - For node n, cu_emit_OP writes into cx->c the __global__ kernel(s) of n
 *     and exactly one host launcher, whose head cuk_head prints:
 *
 *       static int kID_op(nnrt_cu_exec *ex, const T *x0, ..., [uint64_t seed,
 *                         uint64_t counter,] T *y)
 *
 *     All pointers are device pointers into the one device allocation.
 *     ex carries the stream and the cuBLAS handle (runtime/cuda/nnrt_cuda.h).
 *     The launcher only enqueues work on ex->stream (never synchronizes) and
 *     returns NNRT_OK or the status of nnrt_cu_check / nnrt_cu_blas_check,
 *     which record the failing call's name in ex for the API to report.
 *   - Kernels are specialized to n's static shapes (numbers are literals).
 *   - Reductions are deterministic: no atomics; a fixed reduction tree
 *     (nnrt_warp_sum / nnrt_block_sum from nnrt_cuda.h).
 *   - Kernel names are kID_op_SUFFIX (unique per node), static (__global__
 *     functions may be static in CUDA C++).
 *   - T is cx->T ("float" or "double"); ops.def formulas use overloaded
 *     math (exp, tanh, erf, ...) which CUDA C++ resolves per type.
 *
 * Core ops are in kernels.c; a family keeps its kernels in k_FAMILY.c
 * (k_conv.c, k_rnn.c, k_attn.c, k_norm.c), like codegen/c/.
 */
#ifndef NNC_CG_CUK_H
#define NNC_CG_CUK_H

#include "../cg.h"

#define OP(e, name, nin, cls, flags, expr) void cu_emit_##e(cg_ctx *cx, const ir_node *n);
#include "../../ir/ops.def"
#undef OP

/* Input i of n; numel; last axis (as cgk_*). */
const ir_node *cuk_in(cg_ctx *cx, const ir_node *n, int i);
long long cuk_numel(const ir_node *n);
long long cuk_last(const ir_node *n);
/* Launcher name of node n: "kID_op" (the same name the C target uses). */
const char *cuk_name(cg_ctx *cx, const ir_node *n);
/* Print the launcher's comment and head, through the opening brace. */
void cuk_head(cg_ctx *cx, const ir_node *n);
/* Close the launcher: "}\n". */
void cuk_tail(cg_ctx *cx);
/* The kernel and launcher of an OPC_UNARY / OPC_BINARY row from its ops.def
 * formula (p, q = fattr[0], fattr[1]; suffix broadcasting as the C target). */
void cuk_unary(cg_ctx *cx, const ir_node *n);
void cuk_binary(cg_ctx *cx, const ir_node *n);
/* Threads per block for a 1-D grid over count elements, and the grid size
 * (grid-stride loops make any grid size correct; capped). */
int cuk_block(long long count);
long long cuk_grid(long long count);

/* ---- the CUDA target's other files (emit.c, api.c) ---- */
/* Emit node n's kernels and launcher (the cu_emit_OP of its row). */
void cg_cuda_kernel(cg_ctx *cx, const ir_node *n);
/* The model struct, constants (before the kernels) and the API after them,
 * with the header into h; 0, or 1 with a message on err (--main). */
void cu_api_prelude(cg_ctx *cx);
int cu_api(cg_ctx *cx, strbuf *h, FILE *err);

#endif /* NNC_CG_CUK_H */
