/* api_dist.c — the C target's pieces of _update for data-parallel training
 * (libnnrt's nnrt_main_dist: optimizer-state sharding, bucketed all-reduce,
 * per-rank dropout), added beside _update, which stays as it was:
 *
 *   _grad_sumsq(m, lo, hi, acc)    acc + the squares of gradient elements
 *                                  [lo, hi), in buffer order (consecutive
 *                                  ranges chained give _update's norm bits)
 *   _update_range(m, lo, hi, norm) _update's step (number step + 1) on
 *                                  elements [lo, hi) of the parameters, the
 *                                  gradients and the optimizer state, the
 *                                  clipping coefficient from `norm` (the
 *                                  global norm); the step count stays
 *   _update_end(m, norm)           ends the step: step + 1, grad_norm = norm
 *   _opt_state(m, k, &n)           optimizer buffer k (PARAM_ELEMS), or NULL
 *   _rng_calls, _set_rng_calls     the random ops' call counter
 *   _set_grad_ready(m, fn, ctx)    a hook _forward_backward calls as
 *                                  fn(ctx, lo) once the gradient elements
 *                                  [lo, PARAM_ELEMS) are final, so that
 *                                  their all-reduce can start while the
 *                                  rest of the backward pass runs
 *
 * The gradient buffer holds the parameters in declaration order; the
 * backward pass finishes them roughly in reverse (the last layer's first),
 * so what is final grows as a tail of the buffer. cg_c_grad_ready finds,
 * from the training schedule and its memory plan, the step after which each
 * parameter's slot is no longer read or written, and reports the tail when
 * it grows: lo only decreases during a pass, and every later kernel keeps
 * off [lo, PARAM_ELEMS).
 */
#include "kernels.h"
#include "../core/api.h"

void cg_c_dist_protos(cg_ctx *cx, strbuf *h) {
    const char *P = cx->o->prefix, *T = cx->T;
    sb_puts(h, "/* _update in pieces, for data-parallel training: elements [lo, hi) of the flat buffers */\n");
    sb_printf(h, "double %s_grad_sumsq(const %s *m, size_t lo, size_t hi, double acc); /* + squared gradients */\n",
              P, P);
    sb_printf(h, "int %s_update_range(%s *m, size_t lo, size_t hi, double grad_norm); /* the next step's update */\n",
              P, P);
    sb_printf(h, "int %s_update_end(%s *m, double grad_norm); /* the step is done: step count + 1 */\n", P, P);
    sb_printf(h, "%s *%s_opt_state(%s *m, int k, size_t *n); /* optimizer buffer k, NULL if none */\n", T, P, P);
    sb_printf(h, "uint64_t %s_rng_calls(const %s *m);           /* the random ops' call counter */\n", P, P);
    sb_printf(h, "int %s_set_rng_calls(%s *m, uint64_t calls);\n", P, P);
    sb_printf(h, "/* fn(ctx, lo) during _forward_backward: gradients [lo, %s_PARAM_ELEMS) are final (NULL: none) */\n",
              cx->upper);
    sb_printf(h, "int %s_set_grad_ready(%s *m, void (*fn)(void *ctx, size_t lo), void *ctx);\n", P, P);
}

/* Step t of the training schedule reads or writes node id: last[i] = t
 * for each parameter i whose gradient slot id's buffer meets. */
static void touch(cg_ctx *cx, int id, int t, int *last) {
    const mem_plan *mp = &cx->p->mem[ENTRY_TRAIN];
    if (mp->region[id] != MEM_GRAD) return;
    for (int i = 0; i < cx->g->params.len; i++) {
        const ir_node *p = cx->g->nodes.data[cx->g->params.data[i]];
        size_t lo = mp->offset[p->id], hi = lo + (size_t)ir_numel(&p->shape);
        if (mp->offset[id] < hi && lo < mp->offset[id] + (size_t)ir_numel(&cx->g->nodes.data[id]->shape)) last[i] = t;
    }
}

const size_t *cg_c_grad_ready(cg_ctx *cx) {
    const ir_sched *s = &cx->p->sched[ENTRY_TRAIN];
    const mem_plan *mp = &cx->p->mem[ENTRY_TRAIN];
    int np = cx->g->params.len, *last = arena_alloc(cx->g->a, sizeof *last * (size_t)(np + 1)), after = -1;
    size_t *lo = arena_alloc(cx->g->a, sizeof *lo * (size_t)(s->order.len + 1));
    for (int i = 0; i < np; i++) last[i] = -1; /* no gradient: zeroed before the first kernel */
    for (int t = 0; t < s->order.len; t++) {
        const ir_node *n = cx->g->nodes.data[s->order.data[t]];
        touch(cx, n->id, t, last);
        for (int j = 0; j < n->nin; j++) touch(cx, n->in[j], t, last);
        lo[t] = SIZE_MAX;
    }
    for (int i = np - 1; i >= 0; i--) { /* parameters lie in the buffer in declaration order */
        after = last[i] > after ? last[i] : after; /* the tail from i on is final after step `after` */
        if (after >= 0) lo[after] = mp->offset[cx->g->params.data[i]];
    }
    return lo;
}

/* static const size_t P_ranges[n][2]: the gradient ranges _update covers. */
static int emit_ranges(cg_ctx *cx) {
    size_t(*r)[2] = arena_alloc(cx->g->a, sizeof *r * (size_t)(cx->g->params.len + 1));
    int n = cg_grad_ranges(cx, r);
    sb_puts(cx->c, "\n/* the ranges of the flat buffers that _update changes */\n");
    sb_printf(cx->c, "static const size_t %s_ranges[%d][2] = {", cx->o->prefix, n ? n : 1);
    for (int i = 0; i < n; i++) sb_printf(cx->c, "%s{%zu, %zu}", i ? ", " : "", r[i][0], r[i][1]);
    sb_puts(cx->c, n ? "};\n" : "{0, 0}};\n");
    return n;
}

/* The loop over the ranges met by [lo, hi): a, b are the part met. */
static void range_loop(cg_ctx *cx, int n) {
    const char *P = cx->o->prefix;
    sb_printf(cx->c, "    for (int i = 0; i < %d; i++) {\n", n);
    sb_printf(cx->c, "        const size_t a = %s_ranges[i][0] > lo ? %s_ranges[i][0] : lo;\n", P, P);
    sb_printf(cx->c, "        const size_t b = %s_ranges[i][1] < hi ? %s_ranges[i][1] : hi;\n", P, P);
}

static void emit_grad_sumsq(cg_ctx *cx, int n) {
    const char *P = cx->o->prefix;
    sb_printf(cx->c, "\ndouble %s_grad_sumsq(const %s *m, size_t lo, size_t hi, double acc) {\n", P, P);
    sb_puts(cx->c, "    if (!m) return acc;\n");
    range_loop(cx, n);
    sb_printf(cx->c, "        if (a < b) acc = nnrt_sumsq_%s(m->grads + a, b - a, acc);\n    }\n    return acc;\n}\n",
              cx->o->f64 ? "f64" : "f32");
}

/* The range function's call on [a, b), as range_calls in api.c prints it. */
static void update_call(cg_ctx *cx) {
    const char *P = cx->o->prefix;
    int sgd = cx->g->opt.kind == OPT_SGD, ns = cg_opt_slots(cx);
    sb_printf(cx->c, "        %s_%s_range(m->params + a, m->grads + a, ", P, sgd ? "sgd" : "adam");
    for (int k = 0; k < ns; k++) sb_printf(cx->c, "m->opt[%d] + a, ", k);
    if (sgd && ns == 0) sb_puts(cx->c, "NULL, ");
    sb_printf(cx->c, "%s, (long)(b - a));\n", sgd ? "lr, step" : "step_size, bc2_sqrt, decay");
}

static void emit_update_range(cg_ctx *cx, int n) {
    const char *P = cx->o->prefix;
    strbuf *c = cx->c;
    sb_printf(c, "\nint %s_update_range(%s *m, size_t lo, size_t hi, double grad_norm) {\n", P, P);
    sb_printf(c, "    if (!m || lo > hi || hi > %s_PARAM_ELEMS) return NNRT_ERR_ARG;\n", cx->upper);
    sb_puts(c, "    const double rate = nnrt_sched_lr(&m->sched, m->lr, m->step);\n");
    sb_puts(c, "    const int64_t step = m->step + 1;\n");
    sb_puts(c, "    const int clip = m->sched.clip_norm > 0 || m->sched.clip_value > 0;\n");
    sb_puts(c, "    const double coef = m->sched.clip_norm > 0 ? m->sched.clip_norm / (grad_norm + 1e-6) : 1;\n");
    cg_c_opt_scalars(cx, "step");
    range_loop(cx, n);
    sb_puts(c, "        if (a >= b) continue;\n");
    sb_printf(c, "        if (clip) nnrt_clip_%s(m->grads + a, b - a, m->sched.clip_value, coef);\n",
              cx->o->f64 ? "f64" : "f32");
    update_call(cx);
    sb_puts(c, "    }\n    return NNRT_OK;\n}\n");
}

void cg_c_dist_api(cg_ctx *cx) {
    const char *P = cx->o->prefix, *T = cx->T;
    strbuf *c = cx->c;
    int n = emit_ranges(cx);
    emit_grad_sumsq(cx, n);
    emit_update_range(cx, n);
    sb_printf(c, "\nint %s_update_end(%s *m, double grad_norm) {\n    if (!m) return NNRT_ERR_ARG;\n", P, P);
    sb_puts(c, "    m->step++;\n    m->grad_norm = grad_norm;\n    m->norm_known = 1;\n    return NNRT_OK;\n}\n");
    sb_printf(c, "\n%s *%s_opt_state(%s *m, int k, size_t *n) {\n    if (n) *n = %s_PARAM_ELEMS;\n", T, P, P,
              cx->upper);
    sb_printf(c, "    return m && k >= 0 && k < %d ? m->opt[k] : NULL;\n}\n", cg_opt_slots(cx));
    sb_printf(c, "\nuint64_t %s_rng_calls(const %s *m) { return m ? m->calls : 0; }\n", P, P);
    sb_printf(c, "\nint %s_set_rng_calls(%s *m, uint64_t calls) {\n    if (!m) return NNRT_ERR_ARG;\n", P, P);
    sb_puts(c, "    m->calls = calls;\n    return NNRT_OK;\n}\n");
    sb_printf(c, "\nint %s_set_grad_ready(%s *m, void (*fn)(void *ctx, size_t lo), void *ctx) {\n", P, P);
    sb_puts(c, "    if (!m) return NNRT_ERR_ARG;\n    m->grad_ready = fn;\n    m->grad_ready_ctx = ctx;\n");
    sb_puts(c, "    return NNRT_OK;\n}\n");
}
