/* api.c — pieces of the generated API that every target prints alike
 * (declared in api.h): names and argument lists, size macros, parameter
 * initialization, the tables of parameters, inputs and outputs, the
 * generic _v entry points, the optimizer's per-element formulas, and the
 * checks for NaN and infinity (set_lr, train_step's loss, check_finite).
 */
#include "api.h"

#include <float.h>

static ir_node *NODE(cg_ctx *cx, int id) { return cx->g->nodes.data[id]; }
int cg_opt_slots(cg_ctx *cx) { return ir_opt_slots(&cx->g->opt); }
int cg_trainable(cg_ctx *cx) { return cx->p->has[ENTRY_TRAIN] && cx->g->opt.kind != OPT_NONE; }

int cg_infer_only(cg_ctx *cx) { return !cx->p->has[ENTRY_LOSS] && !cg_trainable(cx); }

void cg_infer_note(cg_ctx *cx, strbuf *h) {
    if (!cg_infer_only(cx)) return;
    sb_printf(h, "/* Inference only (--infer-only, or a model without a loss): no loss,\n"
                 " * gradients, optimizer state or training entry points; its memory holds\n"
                 " * %s and the forward pass's activations alone. */\n",
              cx->o->weights ? "no parameters (static const arrays from --weights)" : "the parameters");
}

size_t cg_param_elems(cg_ctx *cx) {
    for (int e = 0; e < ENTRY_COUNT; e++) /* less the weights only int8 layers read (--quantize) */
        if (cx->p->has[e]) return cx->p->mem[e].param_elems - cg_quant_dropped_below(cx, cx->p->mem[e].param_elems);
    return 0;
}

/* ---- the header -------------------------------------------------------- */

static void upper_name(strbuf *h, const char *pre, const char *s) {
    sb_puts(h, pre);
    for (; *s; s++) sb_printf(h, "%c", *s >= 'a' && *s <= 'z' ? *s - 32 : (*s == '.' ? '_' : *s));
}

/* The C name of an input, target or output: its .nn name, with '_' added
 * when the target calls it reserved (its row's is_reserved). */
const char *cg_cname(cg_ctx *cx, const char *name) {
    return cx->o->target->is_reserved(name) ? arena_printf(cx->g->a, "%s_", name) : name;
}

const char *cg_ctype(cg_ctx *cx, const ir_node *n) { return n->dtype == DT_I32 ? "int32_t" : cx->T; }

/* ", const float *x, const int32_t *y" for the inputs (and targets). */
void cg_entry_proto(cg_ctx *cx, strbuf *h, const char *name, const char *extra, int with_targets, const char *note) {
    const char *P = cx->o->prefix, *T = cx->T;
    const ir_graph *g = cx->g;
    sb_printf(h, "int %s_%s(%s *m%s", P, name, P, extra);
    cg_io_params(cx, h, with_targets);
    if (with_targets) sb_printf(h, ", %s *loss", T);
    else
        for (int i = 0; i < g->outputs.len; i++) sb_printf(h, ", %s *%s", T, cg_cname(cx, g->output_names.data[i]));
    sb_printf(h, ");%s\n", note);
}

void cg_io_params(cg_ctx *cx, strbuf *b, int targets) {
    const ir_graph *g = cx->g;
    for (int i = 0; i < g->inputs.len; i++)
        sb_printf(b, ", const %s *%s", cg_ctype(cx, NODE(cx, g->inputs.data[i])),
                  cg_cname(cx, NODE(cx, g->inputs.data[i])->name));
    for (int i = 0; targets && i < g->targets.len; i++)
        sb_printf(b, ", const %s *%s", cg_ctype(cx, NODE(cx, g->targets.data[i])),
                  cg_cname(cx, NODE(cx, g->targets.data[i])->name));
}

void cg_size_macros(cg_ctx *cx, strbuf *h, size_t arena_bytes) {
    const ir_graph *g = cx->g;
    int first = g->inputs.len ? g->inputs.data[0] : -1;
    if (first >= 0 && NODE(cx, first)->shape.rank)
        sb_printf(h, "#define %s_BATCH %lld\n", cx->upper, (long long)NODE(cx, first)->shape.d[0]);
    for (int k = 0; k < 2; k++) {
        const int *ids = k ? g->targets.data : g->inputs.data;
        for (int i = 0; i < (k ? g->targets.len : g->inputs.len); i++) {
            ir_node *n = NODE(cx, ids[i]);
            sb_printf(h, "#define %s_", cx->upper);
            upper_name(h, "", n->name);
            sb_printf(h, "_SIZE %lld /* %s %s%s */\n", (long long)ir_numel(&n->shape), k ? "target" : "input",
                      n->dtype == DT_I32 ? "i32" : cx->T, ir_shape_str(g->a, &n->shape));
        }
    }
    for (int i = 0; i < g->outputs.len; i++) {
        ir_node *n = NODE(cx, g->outputs.data[i]);
        sb_printf(h, "#define %s_", cx->upper);
        upper_name(h, "", g->output_names.data[i]);
        sb_printf(h, "_SIZE %lld /* output %s%s */\n", (long long)ir_numel(&n->shape), cx->T,
                  ir_shape_str(g->a, &n->shape));
    }
    sb_printf(h, "#define %s_NUM_IO %d\n", cx->upper, g->inputs.len + g->targets.len);
    sb_printf(h, "#define %s_NUM_OUTPUTS %d\n", cx->upper, g->outputs.len);
    sb_printf(h, "#define %s_NUM_PARAMS %d\n", cx->upper, cg_f32_param_count(cx));
    sb_printf(h, "#define %s_PARAM_ELEMS %zu\n", cx->upper, cg_param_elems(cx));
    sb_printf(h, "#define %s_ARENA_BYTES %zu /* exact, from the memory plan */\n", cx->upper, arena_bytes);
    int64_t most = 0; /* the longest loop of a kernel (the compiler checked the sizes for 64 bits) */
    for (int i = 0; i < g->nodes.len; i++)
        if (ir_numel(&NODE(cx, i)->shape) > most) most = ir_numel(&NODE(cx, i)->shape);
    sb_printf(h, "typedef char %s_sizes_fit[%s_ARENA_BYTES <= (size_t)-1 && %lld <= (unsigned long)-1 / 2 ? 1 : -1]; "
                 "/* size_t and long (loop indices) hold these sizes: else use a 64-bit target */\n",
              cx->o->prefix, cx->upper, (long long)most);
}

/* ---- parameters --------------------------------------------------------- */

static const char *init_comment(ir_init k) {
    static const char *const s[] = {"auto", "He normal", "Glorot uniform", "zeros",  "ones",
                                    "fill", "uniform",   "normal",         "literal"};
    return s[k];
}

/* static const T name[n] = {...}; */
void cg_const_array(cg_ctx *cx, const char *name, const double *data, int64_t n) {
    sb_printf(cx->c, "static const %s %s[%lld] = {", cx->T, name, (long long)n);
    for (int64_t j = 0; j < n; j++) {
        if (j) sb_puts(cx->c, ", ");
        cg_literal(cx, cx->c, data[j]);
    }
    sb_puts(cx->c, "};\n");
}

void cg_param_data(cg_ctx *cx) {
    const ir_graph *g = cx->g;
    for (int i = 0; i < g->params.len; i++) {
        ir_node *n = NODE(cx, g->params.data[i]);
        if (n->init == INIT_DATA)
            cg_const_array(cx, arena_printf(cx->g->a, "%s_init%d", cx->o->prefix, i), n->data, ir_numel(&n->shape));
    }
}

void cg_init_param(cg_ctx *cx, int i, const char *base) {
    strbuf *c = cx->c;
    ir_node *n = NODE(cx, cx->g->params.data[i]);
    size_t off = cx->p->mem[ENTRY_FORWARD].offset ? 0 : 0;
    for (int e = 0; e < ENTRY_COUNT; e++)
        if (cx->p->has[e]) off = cx->p->mem[e].offset[n->id];
    long long N = (long long)ir_numel(&n->shape);
    const char *sfx = cx->o->f64 ? "f64" : "f32";
    sb_printf(c, "    /* %s %s: %s */\n", n->name, ir_shape_str(cx->g->a, &n->shape), init_comment(n->init));
    switch (n->init) {
    case INIT_HE:
        sb_printf(c, "    nnrt_init_he_%s(%s + %zu, %lld, %lld, seed, %d);\n", sfx, base, off, N, (long long)n->fan_in,
                  i);
        break;
    case INIT_GLOROT:
        sb_printf(c, "    nnrt_init_glorot_%s(%s + %zu, %lld, %lld, %lld, seed, %d);\n", sfx, base, off, N,
                  (long long)n->fan_in, (long long)n->fan_out, i);
        break;
    case INIT_UNIFORM:
        sb_printf(c, "    nnrt_fill_uniform_%s(%s + %zu, %lld, %.17g, %.17g, seed, %d);\n", sfx, base, off, N, -n->fill,
                  n->fill, i);
        break;
    case INIT_NORMAL:
        sb_printf(c, "    nnrt_fill_normal_%s(%s + %zu, %lld, 0, %.17g, seed, %d);\n", sfx, base, off, N, n->fill, i);
        break;
    case INIT_ZEROS: break; /* the block is zeroed */
    case INIT_AUTO:
    case INIT_ONES:
    case INIT_FILL:
        sb_printf(c, "    for (long i = 0; i < %lld; i++) %s[%zu + i] = ", N, base, off);
        cg_literal(cx, c, n->init == INIT_FILL ? n->fill : 1);
        sb_puts(c, ";\n");
        break;
    case INIT_DATA:
        sb_printf(c, "    memcpy(%s + %zu, %s_init%d, sizeof %s_init%d);\n", base, off, cx->o->prefix, i, cx->o->prefix,
                  i);
        break;
    }
}

/* ---- entry points ------------------------------------------------------ */

int cg_uses_rng(cg_ctx *cx, ir_entry e) {
    const ir_sched *s = &cx->p->sched[e];
    for (int t = 0; t < s->order.len; t++)
        if (ir_ops[NODE(cx, s->order.data[t])->op].flags & OPF_RNG) return 1;
    return 0;
}

void cg_null_checks(cg_ctx *cx, int targets) {
    const ir_graph *g = cx->g;
    sb_puts(cx->c, "    if (!m");
    for (int i = 0; i < g->inputs.len; i++)
        sb_printf(cx->c, " || !%s", cg_cname(cx, NODE(cx, g->inputs.data[i])->name));
    for (int i = 0; targets && i < g->targets.len; i++)
        sb_printf(cx->c, " || !%s", cg_cname(cx, NODE(cx, g->targets.data[i])->name));
    sb_puts(cx->c, ") return NNRT_ERR_ARG;\n");
}

/* ---- the optimizer ----------------------------------------------------- */

/* The update runs over the parameters that reach the loss; like
 * torch.optim, one without a gradient is left alone (no weight decay). The
 * ranges are runs of consecutive used parameters in the buffer: {lo, hi}
 * element offsets into r (room for one per parameter); returns how many. */
int cg_grad_ranges(cg_ctx *cx, size_t (*r)[2]) {
    const ir_graph *g = cx->g;
    const mem_plan *mp = &cx->p->mem[ENTRY_TRAIN];
    int n = 0;
    for (int i = 0; i < g->params.len;) {
        if (g->grads.data[i] < 0) {
            i++;
            continue;
        }
        size_t lo = mp->offset[g->params.data[i]], hi = lo;
        for (; i < g->params.len && g->grads.data[i] >= 0; i++) {
            const ir_node *p = g->nodes.data[g->params.data[i]];
            hi = mp->offset[p->id] + (size_t)ir_numel(&p->shape);
        }
        r[n][0] = lo, r[n][1] = hi;
        n++;
    }
    return n;
}

/* SGD on element i of p, g, buf with lr and wd in scope (8 spaces in). */
void cg_sgd_step(cg_ctx *cx, const char *step) {
    const ir_optim *o = &cx->g->opt;
    strbuf *c = cx->c;
    const char *T = cx->T;
    sb_printf(c, "        %s d = g[i] + wd * p[i];\n", T);
    if (o->momentum != 0) {
        sb_printf(c, "        buf[i] = %s == 1 ? d : (%s)%.17g * buf[i] + (%s)%.17g * d;\n", step, T, o->momentum, T,
                  1 - o->dampening);
        if (o->nesterov) sb_printf(c, "        d = d + (%s)%.17g * buf[i];\n", T, o->momentum);
        else sb_puts(c, "        d = buf[i];\n");
    }
    sb_puts(c, "        p[i] -= lr * d;\n");
}

/* Adam's constants b1, b2, eps, wd, one_b1, one_b2 (4 spaces in). */
void cg_adam_consts(cg_ctx *cx) {
    const ir_optim *o = &cx->g->opt;
    const char *T = cx->T;
    /* 1 - beta is computed in double and rounded once, as PyTorch does:
     * (1 - 0.999f) in float would be off by 1.3e-5 relative */
    sb_printf(cx->c, "    const %s b1 = (%s)%.17g, b2 = (%s)%.17g, eps = (%s)%.17g, wd = (%s)%.17g;\n", T, T, o->beta1,
              T, o->beta2, T, o->eps, T, o->weight_decay);
    sb_printf(cx->c, "    const %s one_b1 = (%s)%.17g, one_b2 = (%s)%.17g;\n", T, T, 1 - o->beta1, T, 1 - o->beta2);
}

/* Adam(W) on element i of p, g, mo, ve with the constants, step_size,
 * bc2_sqrt and decay in scope (8 spaces in). */
void cg_adam_step(cg_ctx *cx) {
    strbuf *c = cx->c;
    if (cx->g->opt.kind == OPT_ADAMW) sb_printf(c, "        const %s d = g[i];\n        p[i] *= decay;\n", cx->T);
    else sb_printf(c, "        const %s d = g[i] + wd * p[i];\n", cx->T);
    sb_puts(c, "        mo[i] = b1 * mo[i] + one_b1 * d;\n");
    sb_puts(c, "        ve[i] = b2 * ve[i] + one_b2 * d * d;\n");
    sb_puts(c, "        p[i] -= step_size * mo[i] / (sqrt(ve[i]) / bc2_sqrt + eps);\n");
}

void cg_sched_const(cg_ctx *cx) {
    const struct ir_lrsched *s = &cx->g->opt.sched;
    strbuf *c = cx->c;
    sb_printf(c, "\n/* the train statement's learning-rate schedule and gradient clipping */\n");
    sb_printf(c, "static const nnrt_sched %s_sched0 = {NNRT_SCHED_", cx->o->prefix);
    for (const char *k = ir_lrsched_names[s->kind]; *k; k++) sb_printf(c, "%c", *k - 'a' + 'A');
    sb_printf(c, ", %lld, %lld, %lld,\n    ", (long long)s->warmup, (long long)s->total, (long long)s->step_size);
    sb_printf(c, "%.17g, %.17g, %.17g, %.17g, %.17g, %.17g,\n    %d, {", s->gamma, s->eta_min, s->end_factor,
              s->pct_start, s->div_factor, s->final_div_factor, s->nmilestones);
    for (int i = 0; i < s->nmilestones || i == 0; i++)
        sb_printf(c, "%s%lld", i ? ", " : "", (long long)s->milestones[i]);
    sb_printf(c, "}, %.17g, %.17g};\n", s->clip_norm, s->clip_value);
}

/* ---- parameter, input and output tables ------------------------------- */

void cg_param_table(cg_ctx *cx) {
    const ir_graph *g = cx->g;
    strbuf *c = cx->c;
    ir_entry e = cx->p->has[ENTRY_FORWARD] ? ENTRY_FORWARD : ENTRY_TRAIN;
    int np = cg_f32_param_count(cx); /* --quantize: the int8 layers' weights are not in it */
    sb_printf(c, "\nstatic const nnrt_tensor_info %s_param_table[%d] = {\n", cx->o->prefix, np ? np : 1);
    for (int i = 0; i < g->params.len; i++) {
        ir_node *n = NODE(cx, g->params.data[i]);
        size_t off = cx->p->mem[e].offset[n->id];
        if (cg_quant_only(cx, n->id)) continue;
        sb_printf(c, "    {\"%s\", %s, %d, {", n->name, cx->NNRT, n->shape.rank);
        for (int d = 0; d < n->shape.rank; d++) sb_printf(c, "%s%lld", d ? ", " : "", (long long)n->shape.d[d]);
        sb_printf(c, "}, %zu, %lld},\n", off - cg_quant_dropped_below(cx, off), (long long)ir_numel(&n->shape));
    }
    if (!np) sb_printf(c, "    {\"\", %s, 0, {0}, 0, 0},\n", cx->NNRT);
    sb_puts(c, "};\n");
    const char *P = cx->o->prefix;
    sb_printf(c, "\nint %s_param_info(int i, nnrt_tensor_info *info) {\n", P);
    sb_printf(c,
              "    if (i < 0 || i >= %d || !info) return NNRT_ERR_RANGE;\n    *info = %s_param_table[i];\n"
              "    return NNRT_OK;\n}\n",
              np, P);
    sb_printf(c,
              "\n%s%s *%s_params(%s *m, size_t *n) {\n    if (n) *n = %s_PARAM_ELEMS;\n"
              "    return m ? m->params : NULL;\n}\n",
              cx->o->weights ? "const " : "", cx->T, P, P, cx->upper);
}

/* ---- generic (array) entry points -------------------------------------- */

static void info_row(cg_ctx *cx, const char *name, const ir_node *n, size_t off) {
    sb_printf(cx->c, "    {\"%s\", %s, %d, {", name, n->dtype == DT_I32 ? "NNRT_I32" : cx->NNRT, n->shape.rank);
    for (int d = 0; d < n->shape.rank; d++) sb_printf(cx->c, "%s%lld", d ? ", " : "", (long long)n->shape.d[d]);
    if (!n->shape.rank) sb_puts(cx->c, "0");
    sb_printf(cx->c, "}, %zu, %lld},\n", off, (long long)ir_numel(&n->shape));
}

static void info_fn(cg_ctx *cx, const char *what, int n) {
    const char *P = cx->o->prefix;
    sb_printf(cx->c, "\nint %s_%s_info(int i, nnrt_tensor_info *info) {\n", P, what);
    if (!n) { /* nothing to describe (and no always-true comparison for clang to flag) */
        sb_printf(cx->c, "    (void)i, (void)info, (void)%s_%s_table;\n    return NNRT_ERR_RANGE;\n}\n", P, what);
        return;
    }
    sb_printf(cx->c,
              "    if (i < 0 || i >= %d || !info) return NNRT_ERR_RANGE;\n    *info = %s_%s_table[i];\n"
              "    return NNRT_OK;\n}\n",
              n, P, what);
}

void cg_io_tables(cg_ctx *cx) {
    const ir_graph *g = cx->g;
    int nio = g->inputs.len + g->targets.len;
    sb_printf(cx->c, "\nstatic const nnrt_tensor_info %s_io_table[%d] = {\n", cx->o->prefix, nio ? nio : 1);
    for (int i = 0; i < nio; i++) {
        ir_node *n = NODE(cx, i < g->inputs.len ? g->inputs.data[i] : g->targets.data[i - g->inputs.len]);
        info_row(cx, n->name, n, 0);
    }
    if (!nio) sb_printf(cx->c, "    {\"\", %s, 0, {0}, 0, 0},\n", cx->NNRT);
    sb_puts(cx->c, "};\n");
    sb_printf(cx->c, "\nstatic const nnrt_tensor_info %s_output_table[%d] = {\n", cx->o->prefix,
              g->outputs.len ? g->outputs.len : 1);
    for (int i = 0; i < g->outputs.len; i++) info_row(cx, g->output_names.data[i], NODE(cx, g->outputs.data[i]), 0);
    if (!g->outputs.len) sb_printf(cx->c, "    {\"\", %s, 0, {0}, 0, 0},\n", cx->NNRT);
    sb_puts(cx->c, "};\n");
    info_fn(cx, "io", nio);
    info_fn(cx, "output", g->outputs.len);
}

/* P_fn_v(m, io, last): calls P_fn(m, io[0], ..., last). */
static void emit_v(cg_ctx *cx, const char *fn, int nio, const char *last_decl, const char *last_args) {
    const char *P = cx->o->prefix;
    const ir_graph *g = cx->g;
    sb_printf(cx->c, "\nint %s_%s_v(%s *m, const void *const *io, %s) {\n", P, fn, P, last_decl);
    sb_printf(cx->c, "    if (!io) return NNRT_ERR_ARG;\n    return %s_%s(m", P, fn);
    for (int i = 0; i < nio; i++) {
        ir_node *n = NODE(cx, i < g->inputs.len ? g->inputs.data[i] : g->targets.data[i - g->inputs.len]);
        sb_printf(cx->c, ", (const %s *)io[%d]", cg_ctype(cx, n), i);
    }
    sb_printf(cx->c, "%s);\n}\n", last_args);
}

void cg_generic_entries(cg_ctx *cx) {
    const ir_graph *g = cx->g;
    int nio = g->inputs.len + g->targets.len;
    cg_io_tables(cx);
    if (cx->p->has[ENTRY_FORWARD]) {
        strbuf outs;
        sb_init(&outs);
        for (int i = 0; i < g->outputs.len; i++) sb_printf(&outs, ", outputs ? (%s *)outputs[%d] : NULL", cx->T, i);
        emit_v(cx, "forward", g->inputs.len, "void *const *outputs", outs.s);
        sb_free(&outs);
    }
    const char *ld = arena_printf(g->a, "%s *loss", cx->T);
    if (cx->p->has[ENTRY_LOSS]) emit_v(cx, "loss", nio, ld, ", loss");
    if (cg_trainable(cx)) emit_v(cx, "forward_backward", nio, ld, ", loss");
}

/* fail(): record a message in the model and return the status. */
void cg_fail_fn(cg_ctx *cx) {
    sb_printf(cx->c, "\nstatic int fail(%s *m, int status, const char *fmt, long a, long b) {\n", cx->o->prefix);
    sb_puts(cx->c, "    snprintf(m->error.msg, sizeof m->error.msg, fmt, a, b);\n    return status;\n}\n");
}

/* ---- exact checkpoints -------------------------------------------------- */

void cg_ckpt_protos(cg_ctx *cx, strbuf *h) {
    const char *P = cx->o->prefix;
    sb_puts(h, "/* Exact checkpoints: parameters, optimizer state, step, lr and the random ops' counter in one\n"
               " * safetensors file (it loads as weights too); extra: the caller's own state string. */\n");
    sb_printf(h, "int %s_save_checkpoint(const %s *m, const char *path, const char *extra);\n", P, P);
    sb_printf(h, "int %s_load_checkpoint(%s *m, const char *path, char *extra, size_t cap); /* all or nothing */\n",
              P, P);
}

void cg_ckpt_model(cg_ctx *cx) {
    int ns = cg_opt_slots(cx);
    const char *s0 = cx->g->opt.kind == OPT_SGD ? "momentum_buffer" : "exp_avg";
    sb_printf(cx->c, "\nstatic const nnrt_ckpt_model %s_ckpt = {\"%s\", %s_param_table, %d, %s_PARAM_ELEMS, %d, {",
              cx->o->prefix, cx->g->name, cx->o->prefix, cx->g->params.len, cx->upper, ns);
    sb_printf(cx->c, "%s%s%s%s}};\n", ns ? "\"" : "NULL", ns ? s0 : "", ns ? "\"" : "",
              ns > 1 ? ", \"exp_avg_sq\"" : "");
}

void cg_ckpt_state_out(cg_ctx *cx) {
    sb_puts(cx->c, "    nnrt_ckpt_state ck;\n    memset(&ck, 0, sizeof ck);\n");
    sb_puts(cx->c, "    ck.step = m->step, ck.lr = m->lr, ck.seed = m->seed, ck.calls = m->calls;\n");
    sb_puts(cx->c, "    if (extra && strlen(extra) >= sizeof ck.extra) return NNRT_ERR_ARG;\n");
    sb_puts(cx->c, "    if (extra) memcpy(ck.extra, extra, strlen(extra) + 1);\n");
}

void cg_ckpt_state_in(cg_ctx *cx) {
    sb_puts(cx->c, "    m->step = ck.step, m->lr = ck.lr, m->seed = ck.seed, m->calls = ck.calls;\n");
    sb_puts(cx->c, "    if (extra && cap) snprintf(extra, cap, \"%s\", ck.extra);\n");
}

/* ---- non-finite values ------------------------------------------------- */

/* The learning rate must be finite, >= 0 and representable in T (0
 * allowed, as in torch.optim: the update then moves optimizer state and
 * the step count but no parameter). */
void cg_set_lr_head(cg_ctx *cx) {
    const char *P = cx->o->prefix;
    sb_printf(cx->c, "\nint %s_set_lr(%s *m, double lr) {\n    if (!m) return NNRT_ERR_ARG;\n", P, P);
    sb_printf(cx->c, "    if (!(lr >= 0 && lr <= %.17g)) {\n", cx->o->f64 ? DBL_MAX : (double)FLT_MAX);
    sb_puts(cx->c, "        snprintf(m->error.msg, sizeof m->error.msg, \"set_lr: %g is not a learning rate (finite, "
                   ">= 0)\", lr);\n        return NNRT_ERR_ARG;\n    }\n");
}

int cg_has_finite_fn(cg_ctx *cx) { return cg_f32_param_count(cx) || cx->p->has[ENTRY_LOSS] || cg_trainable(cx); }

void cg_finite_fn(cg_ctx *cx) {
    const int f64 = cx->o->f64;
    if (!cg_has_finite_fn(cx)) return;
    sb_printf(cx->c, "\n/* 0 for NaN and infinities: a test of the bits, so that -ffast-math keeps it */\n");
    sb_printf(cx->c, "static int %s_finite(%s v) {\n    uint%d_t b;\n    memcpy(&b, &v, sizeof b);\n", cx->o->prefix,
              cx->T, f64 ? 64 : 32);
    const char *mask = f64 ? "UINT64_C(0x7FF0000000000000)" : "0x7F800000u";
    sb_printf(cx->c, "    return (b & %s) != %s;\n}\n", mask, mask);
}

void cg_loss_guard(cg_ctx *cx, const char *ind) {
    strbuf *c = cx->c;
    sb_printf(c, "%sif (!%s_finite(m->last_loss)) { /* NaN or infinite: updating would spoil every parameter */\n", ind,
              cx->o->prefix);
    sb_printf(c,
              "%s    snprintf(m->error.msg, sizeof m->error.msg, \"train_step: the loss is %%g at step %%lld; nothing "
              "was updated\",\n%s             (double)m->last_loss, (long long)m->step + 1);\n",
              ind, ind);
    sb_printf(c, "%s    return NNRT_ERR_NONFINITE;\n%s}\n", ind, ind);
}

void cg_check_finite_proto(cg_ctx *cx, strbuf *h) {
    const char *P = cx->o->prefix, *U = cx->upper;
    sb_printf(h, "\n/* Opt-in test for NaN and infinity in what (the sum of the bits below):\n"
                 " * NNRT_OK when all finite, else NNRT_ERR_NONFINITE naming the first bad\n"
                 " * tensor in _last_error. */\n");
    sb_printf(h, "#define %s_CHECK_PARAMS 1\n#define %s_CHECK_GRADS 2\n", U, U);
    sb_printf(h, "#define %s_CHECK_LOSS 4 /* the last loss */\n", U);
    sb_printf(h, "int %s_check_finite(%s *m, int what);\n", P, P);
}

/* static int P_check_buf(P *m, const T *x, const char *what): NNRT_OK, or
 * NNRT_ERR_NONFINITE with a message naming the first tensor (in the
 * parameter table's order) of the parameter-shaped buffer x that holds a
 * NaN or an infinity, how many and the first. */
static void check_buf_fn(cg_ctx *cx) {
    strbuf *c = cx->c;
    const char *P = cx->o->prefix;
    sb_printf(c, "\nstatic int %s_check_buf(%s *m, const %s *x, const char *what) {\n", P, P, cx->T);
    sb_printf(c, "    for (int t = 0; t < %d; t++) {\n        const nnrt_tensor_info *ti = &%s_param_table[t];\n",
              cg_f32_param_count(cx), P);
    sb_puts(c, "        size_t bad = 0, first = 0;\n        for (size_t i = 0; i < ti->numel; i++)\n"
               "            if (!");
    sb_printf(c, "%s_finite(x[ti->offset + i]) && bad++ == 0) first = i;\n", P);
    sb_puts(c, "        if (bad) {\n            snprintf(m->error.msg, sizeof m->error.msg, \"%s %s: %zu of %zu values "
               "are not finite, the first [%zu] = %g\",\n                     what, ti->name, bad, ti->numel, first, "
               "(double)x[ti->offset + first]);\n");
    sb_puts(c, "            return NNRT_ERR_NONFINITE;\n        }\n    }\n    return NNRT_OK;\n}\n");
}

/* One part of P_check_finite: when bit is asked for, fetch (a statement
 * setting st, or NULL), then test (an expression giving the status). */
static void check_part(cg_ctx *cx, const char *bit, const char *fetch, const char *test) {
    if (!fetch) {
        sb_printf(cx->c, "    if (st == NNRT_OK && (what & %s_CHECK_%s)) st = %s;\n", cx->upper, bit, test);
        return;
    }
    sb_printf(cx->c, "    if (st == NNRT_OK && (what & %s_CHECK_%s)) {\n        %s\n", cx->upper, bit, fetch);
    sb_printf(cx->c, "        if (st == NNRT_OK) st = %s;\n    }\n", test);
}

/* static int P_loss_bad(P *m): NNRT_ERR_NONFINITE with a message when
 * m->last_loss is NaN or infinite, else NNRT_OK. */
static void loss_bad_fn(cg_ctx *cx) {
    const char *P = cx->o->prefix;
    sb_printf(cx->c, "\nstatic int %s_loss_bad(%s *m) {\n    if (%s_finite(m->last_loss)) return NNRT_OK;\n", P, P, P);
    sb_puts(cx->c, "    snprintf(m->error.msg, sizeof m->error.msg, \"the last loss is %g\", (double)m->last_loss);\n"
                   "    return NNRT_ERR_NONFINITE;\n}\n");
}

void cg_check_finite(cg_ctx *cx, const char *const fetch[3], const char *const buf[2]) {
    strbuf *c = cx->c;
    const char *P = cx->o->prefix;
    int np = cg_f32_param_count(cx), loss = cx->p->has[ENTRY_LOSS] || cg_trainable(cx);
    if (np) check_buf_fn(cx);
    if (loss) loss_bad_fn(cx);
    sb_printf(c, "\nint %s_check_finite(%s *m, int what) {\n    if (!m || (what & ~7)) return NNRT_ERR_ARG;\n", P, P);
    sb_puts(c, "    int st = NNRT_OK;\n");
    if (np) check_part(cx, "PARAMS", fetch[0], arena_printf(cx->g->a, "%s_check_buf(m, %s, \"parameter\")", P, buf[0]));
    if (np && cg_trainable(cx))
        check_part(cx, "GRADS", fetch[1], arena_printf(cx->g->a, "%s_check_buf(m, %s, \"gradient of\")", P, buf[1]));
    if (loss) check_part(cx, "LOSS", fetch[2], arena_printf(cx->g->a, "%s_loss_bad(m)", P));
    sb_puts(c, "    return st;\n}\n");
}

/* ---- gradients with respect to inputs (input NAME : type requires_grad) ---- */

int cg_has_input_grads(cg_ctx *cx) {
    for (int i = 0; i < cx->g->inputs.len; i++)
        if (NODE(cx, cx->g->inputs.data[i])->requires_grad) return 1;
    return 0;
}

void cg_input_grad_proto(cg_ctx *cx, strbuf *h) {
    sb_printf(h,
              "/* d loss / d input NAME (declared requires_grad) of the last _forward_backward or _train_step,\n"
              " * into out (the input's shape); NNRT_ERR_NOT_FOUND for another name. Valid until the next\n"
              " * _forward, _loss or _forward_backward. */\n"
              "int %s_input_grad(%s *m, const char *name, %s *out);\n",
              cx->o->prefix, cx->o->prefix, cx->T);
}

void cg_input_grad_fn(cg_ctx *cx, void (*copy)(cg_ctx *cx, int id, const char *what), const char *finish) {
    const ir_graph *g = cx->g;
    strbuf *c = cx->c;
    sb_printf(c, "\nint %s_input_grad(%s *m, const char *name, %s *out) {\n", cx->o->prefix, cx->o->prefix, cx->T);
    sb_puts(c, "    if (!m || !name || !out) return NNRT_ERR_ARG;\n");
    for (int i = 0; i < g->inputs.len; i++) {
        const ir_node *x = NODE(cx, g->inputs.data[i]);
        if (!x->requires_grad) continue;
        int id = g->input_grads.len ? g->input_grads.data[i] : -1;
        sb_printf(c, "    if (!strcmp(name, \"%s\")) {\n        const size_t bytes = sizeof(%s) * %lld;\n", x->name,
                  cx->T, (long long)ir_numel(&x->shape));
        if (id < 0) sb_puts(c, "        memset(out, 0, bytes); /* the input does not reach the loss */\n"
                               "        return NNRT_OK;\n    }\n");
        else copy(cx, id, arena_printf(g->a, "the gradient of %s", x->name));
        if (id >= 0) sb_printf(c, "        %s\n    }\n", finish);
    }
    sb_puts(c, "    return NNRT_ERR_NOT_FOUND;\n}\n");
}

void cg_sched_protos(cg_ctx *cx, strbuf *h, const char *norm_note) {
    const char *P = cx->o->prefix;
    sb_printf(h, "double %s_lr(const %s *m);        /* the rate the next update uses (base rate and schedule) */\n", P,
              P);
    sb_printf(h, "int %s_set_schedule(%s *m, const nnrt_sched *s); /* rate schedule and clipping; checked */\n", P, P);
    sb_printf(h, "int %s_get_schedule(const %s *m, nnrt_sched *s);\n", P, P);
    sb_printf(h, "double %s_grad_norm(const %s *m); /* L2 norm of the last update's gradients, before clipping%s */\n",
              P, P, norm_note);
}

void cg_sched_getters(cg_ctx *cx) {
    strbuf *c = cx->c;
    const char *P = cx->o->prefix;
    sb_printf(c, "\ndouble %s_lr(const %s *m) { return m ? nnrt_sched_lr(&m->sched, m->lr, m->step) : 0; }\n", P, P);
    sb_printf(c, "\nint %s_get_schedule(const %s *m, nnrt_sched *s) {\n    if (!m || !s) return NNRT_ERR_ARG;\n", P, P);
    sb_puts(c, "    *s = m->sched;\n    return NNRT_OK;\n}\n");
}
