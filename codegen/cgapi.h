/* cgapi.h — pieces of the generated API that the C target (c/api.c, where
 * they live) and the CUDA target (cuda/api.c) print alike: names and
 * argument lists, size macros, parameter initialization, the tables of
 * parameters, inputs and outputs, the generic _v entry points, and the
 * optimizer's per-element formulas. */
#ifndef NNC_CGAPI_H
#define NNC_CGAPI_H

#include "cg.h"

/* Optimizer state slots (0, 1 or 2 parameter-sized buffers). */
int cga_opt_slots(cg_ctx *cx);
/* Runs of consecutive parameters that have gradients, {lo, hi} element
 * offsets, into r (room for one per parameter); returns how many. */
int cga_grad_ranges(cg_ctx *cx, size_t (*r)[2]);
/* 1 if the model has training entry points (_train_step, _update, ...). */
int cga_trainable(cg_ctx *cx);
/* Elements of the parameter (= gradient) buffer. */
size_t cga_param_elems(cg_ctx *cx);
/* C name of an input, target or output (with '_' when reserved). */
const char *cga_cname(cg_ctx *cx, const char *name);
/* "int32_t" or the element type. */
const char *cga_ctype(cg_ctx *cx, const ir_node *n);
/* ", const float *x, const int32_t *y": inputs (and targets). */
void cga_io_params(cg_ctx *cx, strbuf *b, int targets);
/* The declaration "int P_NAME(P *m<extra>, <inputs>[, <targets>], <outputs
 * or T *loss>);<note>" of an entry point: its outputs when !with_targets,
 * else its targets and the loss. extra: more leading parameters (", cudaStream_t s"). */
void cga_entry_proto(cg_ctx *cx, strbuf *h, const char *name, const char *extra, int with_targets, const char *note);
/* "    if (!m || !x ...) return NNRT_ERR_ARG;" */
void cga_null_checks(cg_ctx *cx, int targets);
/* The #defines of the header: sizes, counts, P_ARENA_BYTES = arena_bytes. */
void cga_size_macros(cg_ctx *cx, strbuf *h, size_t arena_bytes);
/* static const T name[n] = {...}; */
void cga_const_array(cg_ctx *cx, const char *name, const double *data, int64_t n);
/* The literal initial values of INIT_DATA parameters (P_initI arrays). */
void cga_param_data(cg_ctx *cx);
/* Statements initializing parameter i in the host buffer `base` (the
 * block is zeroed first), with libnnrt's Philox fills. */
void cga_init_param(cg_ctx *cx, int i, const char *base);
/* static const nnrt_tensor_info P_param_table[]. */
void cga_param_table(cg_ctx *cx);
/* P_io_table, P_output_table and P_io_info, P_output_info. */
void cga_io_tables(cg_ctx *cx);
/* The tables and P_forward_v, P_loss_v, P_forward_backward_v. */
void cga_generic(cg_ctx *cx);
/* static int fail(P *m, int status, const char *fmt, long a, long b). */
void cga_fail(cg_ctx *cx);
/* 1 if some entry point range-checks an index input. */
int cga_uses_index_checks(cg_ctx *cx);
/* 1 if entry e runs a random op (OPF_RNG). */
int cga_uses_rng(cg_ctx *cx, ir_entry e);
/* The optimizer on element i (8 spaces in): SGD with lr, wd, p, g, buf in
 * scope (step: the expression of the step count); Adam's constants (4
 * spaces in), and Adam(W) with them, step_size, bc2_sqrt, decay, p, g,
 * mo, ve in scope. */
void cga_sgd_step(cg_ctx *cx, const char *step);
void cga_adam_consts(cg_ctx *cx);
void cga_adam_step(cg_ctx *cx);
/* 1 if name is a C++ keyword or a name the CUDA target's code uses (cuda/emit.c). */
int cu_is_reserved(const char *name);
/* The trainer main() of --main (c/main.c) with the casts C++ needs. */
int cga_main_cpp(cg_ctx *cx, FILE *err);

#endif /* NNC_CGAPI_H */
