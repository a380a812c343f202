/* kernels.h — inside codegen/c/: the kernel emitter every op row of ops.def
 * names (emit_OP), and the helpers families of ops share to write them.
 * Core ops are in kernels.c; a family keeps its kernels in k_FAMILY.c. */
#ifndef NNC_CG_KERNELS_H
#define NNC_CG_KERNELS_H

#include "../cg.h"

#define OP(e, name, nin, cls, shape, grad, flags, expr) void emit_##e(cg_ctx *cx, const ir_node *n);
#include "../../ir/ops.def"
#undef OP

/* Input i of n. */
const ir_node *cgk_in(cg_ctx *cx, const ir_node *n, int i);
long long cgk_numel(const ir_node *n);
/* Size of the last axis (1 for a scalar). */
long long cgk_last(const ir_node *n);
/* The comment and signature: static void kID_op(const T *restrict x0, ...,
 * T *restrict y) {  (OPF_RNG ops also get uint64_t seed, uint64_t counter). */
void cgk_head(cg_ctx *cx, const ir_node *n);
/* Close the function. */
void cgk_tail(cg_ctx *cx);
/* Write an ops.def formula. In f32 its tanh becomes nnc_tanhf, the
 * rational approximation emit.c defines (vectorizable; within 4e-7 of
 * tanhf); cgk_uses_fast_tanh tells whether expr needs it. */
void cgk_formula(cg_ctx *cx, const char *expr);
int cgk_uses_fast_tanh(cg_ctx *cx, const char *expr);
/* The OpenMP pragma for the independent loop that follows, when work
 * (elements) is large enough; nothing otherwise (and nothing compiled
 * without -fopenmp). */
void cgk_parallel(cg_ctx *cx, long long work, const char *ind);
/* A divisor of N to use as the column count of a [rows, cols] loop that
 * has nothing to broadcast (N itself when there is none). */
long long cgk_split_cols(long long N);
/* Open `for (long r ...)` over rows of C elements with xr (x0), zr (x1 if
 * with_x1) and yr row pointers. */
void cgk_rows(cg_ctx *cx, const ir_node *n, long long C, int with_x1);
/* In a row loop: mx = max of xr[0..C), s = sum of exp(xr - mx); with store,
 * yr[j] = exp(xr[j] - mx) (in f32 by nnc_expf). */
void cgk_row_max_sumexp(cg_ctx *cx, long long C, int store);
/* Does node n's kernel call nnc_expf (emit.c defines it then)? */
int cgk_uses_fast_exp(cg_ctx *cx, const ir_node *n);

#endif /* NNC_CG_KERNELS_H */
