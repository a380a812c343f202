/* kernels.h — the C target (codegen/c/): the kernel emitter every op row
 * of ops.def names (emit_OP), the helpers families of ops share to write
 * them, and the target's other files.
 *
 *   emit.c     c_emit (its row in targets.def): the file skeleton, the
 *              struct, the kernels, the API, the optional trainer main()
 *   kernels.c  the helpers below and the dispatch c_kernel (by the op's
 *              row: its class, or its emit_OP)
 *   k_core.c   the core ops: elementwise, sum, expand, reshape, matmul,
 *              the softmax family, the losses
 *   k_*.c      a family's kernels each (k_conv.c, k_norm.c, k_rnn.c,
 *              k_attn.c, k_fused.c, k_rand.c)
 *   k_quant.c  --quantize int8: the int8 kernels of dense and conv layers
 *   api.c      the generated API: init, entry points, update, save/load
 *   api_dist.c  the pieces of _update for data-parallel training (ranges
 *              of the flat buffers, the optimizer state, the dropout counter)
 */
#ifndef NNC_CG_KERNELS_H
#define NNC_CG_KERNELS_H

#include "../core/core.h"

#define OP(e, name, nin, cls, shape, grad, flags, expr) void emit_##e(cg_ctx *cx, const ir_node *n);
#include "../../ir/ops.def"
#undef OP

/* The comment and signature: static void kID_op(const T *restrict x0, ...,
 * T *restrict y) {  (OPF_RNG ops also get uint64_t seed, uint64_t counter). */
void cgk_head(cg_ctx *cx, const ir_node *n);
/* Close the function. */
void cgk_tail(cg_ctx *cx);
/* --freestanding, f32: 1 if n's kernel calls the GEMM, which then takes a
 * workspace `float *ws` after its inputs (a part of the model's block). */
int cgk_gemm_ws(cg_ctx *cx, const ir_node *n);
/* The GEMM function to call: nnrt_sgemm / nnrt_dgemm (_ep when ep), or
 * with --freestanding in f32 nnrt_sgemm_ws (_ep). */
const char *cgk_gemm_fn(cg_ctx *cx, int ep);
/* The workspace arguments that follow C's ldc (or the epilogue) in such a
 * call: "" hosted, else ", ws, FLOATS" (what nnrt_sgemm_ws_floats gives
 * for these dimensions, recorded in cx->gemm_ws when it is the most). */
const char *cgk_gemm_ws_args(cg_ctx *cx, int ta, int tb, long long M, long long N, long long K);
/* Write an ops.def formula. In f32 its tanh becomes nnc_tanhf, the
 * rational approximation emit.c defines (vectorizable; within 4e-7 of
 * tanhf); cgk_uses_fast_tanh tells whether expr needs it. */
void cgk_formula(cg_ctx *cx, const char *expr);
int cgk_uses_fast_tanh(cg_ctx *cx, const char *expr);
/* The tanh_fn of cg_formula and cg_fused_steps: "nnc_tanhf" in f32, NULL in f64. */
const char *cgk_tanh_fn(cg_ctx *cx);
/* The kernels of the elementwise rows (OPC_UNARY, OPC_BINARY): their
 * ops.def formula, suffix broadcasting (k_core.c). */
void cgk_unary(cg_ctx *cx, const ir_node *n);
void cgk_binary(cg_ctx *cx, const ir_node *n);
/* The OpenMP pragma for the independent loop that follows, when work
 * (elements) is at least NNC_OMP_MIN; nothing otherwise (and nothing
 * compiled without -fopenmp). */
enum { NNC_OMP_MIN = 1 << 15 };
void cgk_parallel(cg_ctx *cx, long long work, const char *ind);
/* The same before a nest of `nest` perfectly nested loops (collapse). */
void cgk_parallel_nest(cg_ctx *cx, long long work, const char *ind, int nest);
/* The pragma (an orphaned omp for, collapse(nest)) whatever the work: for a
 * caller with its own rule for when it pays. The kernel's call then runs in
 * a parallel region (cx->team), so outside such loops a kernel only
 * declares constants: each thread of the team runs those statements. */
void cgk_omp_for(cg_ctx *cx, const char *ind, int nest);
/* A loop over the N elements i of an elementwise kernel, body printing the
 * statements for element i at indent ind; shared out in chunks of 16 with
 * OpenMP when N >= NNC_OMP_MIN. */
void cgk_elementwise(cg_ctx *cx, const ir_node *n, long long N,
                     void (*body)(cg_ctx *cx, const ir_node *n, const char *ind));
/* Open `for (long r ...)` over rows of C elements with xr (x0), zr (x1 if
 * with_x1) and yr row pointers. */
void cgk_rows(cg_ctx *cx, const ir_node *n, long long C, int with_x1);
/* In a row loop: mx = max of xr[0..C), s = sum of exp(xr - mx); with store,
 * yr[j] = exp(xr[j] - mx) (in f32 by nnc_expf). */
void cgk_row_max_sumexp(cg_ctx *cx, long long C, int store);
/* nnc_tr_tile, the transposing copy of conv2d_grad_w's AVX branches
 * (k_conv.c; emit.c writes it before the first conv2d_grad_w kernel). */
void cgk_emit_tr_tile(cg_ctx *cx);
/* Does node n's kernel call nnc_expf (emit.c defines it then)? */
int cgk_uses_fast_exp(cg_ctx *cx, const ir_node *n);

/* --quantize int8 (k_quant.c): the int8 kernel of a cg_quant_layer node,
 * with the same signature as its f32 kernel (the f32 weight input is not
 * read: the int8 weights are static const arrays beside it); the helpers
 * all of them call, written once before the first; and nnc_absmax, which
 * the calibrating forward pass (--main --quantize int8) calls. */
void cgq_kernel(cg_ctx *cx, const ir_node *n);
void cgq_helpers(cg_ctx *cx);
void cgq_absmax_fn(cg_ctx *cx);
/* The calibrating build (cx->o->calib_probe): the struct's calib field,
 * the update of its slot before int8 layer n's call (x: its input), and
 * P_save_calib (its prototype into h). */
void cgq_calib_field(cg_ctx *cx);
void cgq_probe(cg_ctx *cx, const ir_node *n, const char *x);
void cgq_save_calib_proto(cg_ctx *cx, strbuf *h);
void cgq_save_calib(cg_ctx *cx);

/* ---- the C target's other files ---- */
/* Emit the kernel function of node n: static void kID_op(...). */
void c_kernel(cg_ctx *cx, const ir_node *n);
/* The model struct, parameter data and constants (before the kernels);
 * the model API after them, with the header into h. */
void c_api_prelude(cg_ctx *cx);
void c_api(cg_ctx *cx, strbuf *h);
/* The C target's emit (targets.def). */
int c_emit(cg_ctx *cx, strbuf *h, FILE *err);

/* api.c: the optimizer's scalars for step number `step` (an expression). */
void cg_c_opt_scalars(cg_ctx *cx, const char *step);
/* api_dist.c: the declarations (into h) and definitions of _grad_sumsq,
 * _update_range, _update_end, _opt_state, _rng_calls, _set_rng_calls,
 * _set_grad_ready. */
void cg_c_dist_protos(cg_ctx *cx, strbuf *h);
void cg_c_dist_api(cg_ctx *cx);
/* For each step t of the training schedule: the lowest element lo of the
 * gradient buffer such that no later step reads or writes [lo, end), when
 * that tail grew at step t; SIZE_MAX otherwise (arena-allocated). */
const size_t *cg_c_grad_ready(cg_ctx *cx);

#endif /* NNC_CG_KERNELS_H */
