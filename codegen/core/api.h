/* api.h — pieces of the generated API that every target prints alike
 * (core/api.c): names and argument lists, size macros, parameter
 * initialization, the tables of parameters, inputs and outputs, the
 * generic _v entry points, the optimizer's per-element formulas, and the
 * checks for NaN and infinity (set_lr, train_step's loss, check_finite). */
#ifndef NNC_CG_API_H
#define NNC_CG_API_H

#include "core.h"

/* Optimizer state slots (0, 1 or 2 parameter-sized buffers). */
int cg_opt_slots(cg_ctx *cx);
/* Runs of consecutive parameters that have gradients, {lo, hi} element
 * offsets, into r (room for one per parameter); returns how many. */
int cg_grad_ranges(cg_ctx *cx, size_t (*r)[2]);
/* 1 if the model has training entry points (_train_step, _update, ...). */
int cg_trainable(cg_ctx *cx);
/* 1 if the model has no loss and no training entry points (--infer-only,
 * --weights, or a model without a loss); the header's note saying so. */
int cg_infer_only(cg_ctx *cx);
void cg_infer_note(cg_ctx *cx, strbuf *h);
/* Elements of the parameter (= gradient) buffer. */
size_t cg_param_elems(cg_ctx *cx);
/* C name of an input, target or output: its .nn name, with '_' appended
 * when the target's row calls it reserved. */
const char *cg_cname(cg_ctx *cx, const char *name);
/* "int32_t" or the element type. */
const char *cg_ctype(cg_ctx *cx, const ir_node *n);
/* ", const float *x, const int32_t *y": inputs (and targets). */
void cg_io_params(cg_ctx *cx, strbuf *b, int targets);
/* The declaration "int P_NAME(P *m<extra>, <inputs>[, <targets>], <outputs
 * or T *loss>);<note>" of an entry point: its outputs when !with_targets,
 * else its targets and the loss. extra: more leading parameters (", cudaStream_t s"). */
void cg_entry_proto(cg_ctx *cx, strbuf *h, const char *name, const char *extra, int with_targets, const char *note);
/* "    if (!m || !x ...) return NNRT_ERR_ARG;" */
void cg_null_checks(cg_ctx *cx, int targets);
/* The #defines of the header: sizes, counts, P_ARENA_BYTES = arena_bytes. */
void cg_size_macros(cg_ctx *cx, strbuf *h, size_t arena_bytes);
/* static const T name[n] = {...}; */
void cg_const_array(cg_ctx *cx, const char *name, const double *data, int64_t n);
/* The literal initial values of INIT_DATA parameters (P_initI arrays). */
void cg_param_data(cg_ctx *cx);
/* Statements initializing parameter i in the host buffer `base` (the
 * block is zeroed first), with libnnrt's Philox fills. */
void cg_init_param(cg_ctx *cx, int i, const char *base);
/* static const nnrt_tensor_info P_param_table[], P_param_info and P_params. */
void cg_param_table(cg_ctx *cx);
/* P_io_table, P_output_table and P_io_info, P_output_info. */
void cg_io_tables(cg_ctx *cx);
/* The tables and P_forward_v, P_loss_v, P_forward_backward_v. */
void cg_generic_entries(cg_ctx *cx);
/* static int fail(P *m, int status, const char *fmt, long a, long b), for
 * the index checks (when cg_uses_op_flag(cx, OPF_INDEX)). */
void cg_fail_fn(cg_ctx *cx);
/* 1 if entry e runs a random op (OPF_RNG). */
int cg_uses_rng(cg_ctx *cx, ir_entry e);
/* The optimizer on element i (8 spaces in): SGD with lr, wd, p, g, buf in
 * scope (step: the expression of the step count); Adam's constants (4
 * spaces in), and Adam(W) with them, step_size, bc2_sqrt, decay, p, g,
 * mo, ve in scope. */
void cg_sgd_step(cg_ctx *cx, const char *step);
/* 1 if an input is declared requires_grad (the model then has
 * P_input_grad). Its declaration, into h; and its body: one branch per
 * such input, where copy(cx, id, what) prints the copy of node id (the
 * gradient, in the training entry's plan) into `out` (st in scope), or a
 * memset of zeros when the input does not reach the loss (id < 0, `bytes`
 * in scope). */
int cg_has_input_grads(cg_ctx *cx);
void cg_input_grad_proto(cg_ctx *cx, strbuf *h);
void cg_input_grad_fn(cg_ctx *cx, void (*copy)(cg_ctx *cx, int id, const char *what), const char *finish);
void cg_adam_consts(cg_ctx *cx);
void cg_adam_step(cg_ctx *cx);
/* static const nnrt_sched P_sched0 = {...}: the train statement's
 * learning-rate schedule and gradient clipping, which _reset installs. */
void cg_sched_const(cg_ctx *cx);
/* The prototypes of P_lr, P_set_schedule, P_get_schedule and P_grad_norm;
 * norm_note ends P_grad_norm's comment ("" or the target's remark). */
void cg_sched_protos(cg_ctx *cx, strbuf *h, const char *norm_note);
/* P_lr and P_get_schedule, the same on every target (the host struct keeps
 * the schedule, the base rate and the step count). */
void cg_sched_getters(cg_ctx *cx);

/* Exact checkpoints (trainable models): the prototypes of P_save_checkpoint
 * and P_load_checkpoint; static const nnrt_ckpt_model P_ckpt (after the
 * param table); the state of m into nnrt_ckpt_state ck and back (4 spaces
 * in). */
void cg_ckpt_protos(cg_ctx *cx, strbuf *h);
void cg_ckpt_model(cg_ctx *cx);
void cg_ckpt_state_out(cg_ctx *cx);
void cg_ckpt_state_in(cg_ctx *cx);

/* Non-finite values. "int P_set_lr(P *m, double lr) {" and its checks (lr
 * finite, >= 0, within T), to be completed by the target; the test of
 * m->last_loss that ends P_train_step with NNRT_ERR_NONFINITE (indent ind);
 * the header's P_CHECK_* bits and P_check_finite prototype; P_check_finite
 * over host buffers buf[0] (parameters) and buf[1] (gradients), each part
 * k (0 parameters, 1 gradients, 2 m->last_loss) first running fetch[k]
 * (a statement setting st; NULL: nothing to fetch). After the param table. */
void cg_set_lr_head(cg_ctx *cx);
/* static int P_finite(T v), which the pieces below call: emitted (before
 * them) when cg_has_finite_fn, i.e. the model has parameters or a loss. */
int cg_has_finite_fn(cg_ctx *cx);
void cg_finite_fn(cg_ctx *cx);
void cg_loss_guard(cg_ctx *cx, const char *ind);
void cg_check_finite_proto(cg_ctx *cx, strbuf *h);
void cg_check_finite(cg_ctx *cx, const char *const fetch[3], const char *const buf[2]);

#endif /* NNC_CG_API_H */
