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
 * The target's files, like codegen/c/'s:
 *
 *   emit.c     cu_emit and cu_is_reserved (its row in targets.def): the
 *              file skeleton, the struct, the kernels, the API
 *   kernels.c  the helpers below and the dispatch cu_kernel
 *   k_core.c   the core ops: elementwise, sum, expand, reshape, matmul,
 *              the softmax family, the losses
 *   k_*.c      a family's kernels each (k_conv.c, k_norm.c, k_rnn.c,
 *              k_attn.c, k_fused.c, k_rand.c)
 *   api.c      the generated API (host and device entry points, CUDA
 *              Graphs, the optimizer kernels, save/load)
 */
#ifndef NNC_CG_CUK_H
#define NNC_CG_CUK_H

#include "../core/core.h"

#define OP(e, name, nin, cls, shape, grad, flags, expr) void cu_emit_##e(cg_ctx *cx, const ir_node *n);
#include "../../ir/ops.def"
#undef OP

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

/* ---- pieces of kernels and launchers (shared by kernels.c and k_*.c) ---- */
/* Index type of node n's kernels: "int" when every tensor of the node
 * (and a tile past its end) fits, else "long long". */
const char *cuk_ix(cg_ctx *cx, const ir_node *n);
/* Index type of a loop up to count (with room for one grid stride). */
const char *cuk_ix_count(long long count);
/* Kernel parameter list "const T *__restrict__ x<first>, ..., T
 * *__restrict__ y" (int32_t for I32 inputs). An OPF_STATE op's y aliases
 * its x0, and y_alias marks a y the kernel reads back: those get no
 * __restrict__. */
const char *cuk_params(cg_ctx *cx, const ir_node *n, int first, int y_alias);
/* Open a kernel: "static __global__ void [__launch_bounds__(threads)]
 * kID_op_SFX(params) {" (no bounds when threads is 0; params NULL:
 * cuk_params(cx, n, 0, 0)). */
void cuk_kernel(cg_ctx *cx, const ir_node *n, const char *sfx, int threads, const char *params);
/* "for (IX var = first; var < count; var += stride)" of a 1-D grid-stride
 * loop, and the loop opened with it at indent 4 ("    for (...) {"). */
const char *cuk_grid_for(cg_ctx *cx, const char *ix, const char *var, long long count);
void cuk_grid_loop(cg_ctx *cx, const char *ix, const char *var, long long count);
/* Open kID_op_main (cuk_kernel, no bounds) and its grid-stride loop over
 * i in [0, count); cuk_grid_close closes both and writes the launcher
 * (cuk_head, a 1-D launch over count, cuk_check_launch, cuk_tail). */
void cuk_grid_open(cg_ctx *cx, const ir_node *n, const char *ix, long long count);
void cuk_grid_close(cg_ctx *cx, const ir_node *n, long long count);
/* "    kID_op_SFX<<<grid, block, 0, ex->stream>>>(x<first>, ..., y);" with
 * grid and block CUDA expressions (a number or a dim3); cuk_launch_1d takes
 * them as numbers (first = 0). */
void cuk_launch(cg_ctx *cx, const ir_node *n, const char *sfx, const char *grid, const char *block, int first);
void cuk_launch_1d(cg_ctx *cx, const ir_node *n, const char *sfx, long long grid, int block);
/* The launcher's return after its launches, the status of
 * cudaGetLastError: spelled nnrt_cu_check(ex, cudaGetLastError(), ..)
 * (cuk_check_launch) or NNRT_CU_LAUNCHED(ex, ..) (cuk_launched). */
void cuk_check_launch(cg_ctx *cx, const ir_node *n);
void cuk_launched(cg_ctx *cx, const ir_node *n);
/* The whole launcher of a node with nothing to do (an empty tensor): every
 * parameter voided, NNRT_OK. */
void cuk_empty(cg_ctx *cx, const ir_node *n);
/* "const T name = <literal v>;" at indent ind. */
void cuk_const(cg_ctx *cx, const char *ind, const char *name, double v);

/* ---- the CUDA target's other files (emit.c, api.c) ---- */
/* Emit node n's kernels and launcher (the cu_emit_OP of its row). */
void cu_kernel(cg_ctx *cx, const ir_node *n);
/* The model struct, constants (before the kernels) and the API after them,
 * with the header into h; 0, or 1 with a message on err (--main). */
void cu_api_prelude(cg_ctx *cx);
int cu_api(cg_ctx *cx, strbuf *h, FILE *err);
/* The CUDA target's row in targets.def: its emit, and its reserved names
 * (cg_is_reserved's, C++ keywords and the CUDA names the code uses). */
int cu_emit(cg_ctx *cx, strbuf *h, FILE *err);
int cu_is_reserved(const char *name);

#endif /* NNC_CG_CUK_H */
