/* bundle.c — a model with several objectives in one file (nnc without
 * --objective): the driver emits each objective's build as a part (prefix
 * MODEL_OBJ, kernels OBJ_kID_op), and after the last part cg_bundle writes
 * the model's own API over them, target-independent (it calls only the
 * parts' host entry points): struct MODEL holds one part per objective,
 * every part trains the first part's parameter buffer (P_bind_params),
 * each keeps its own gradients, optimizer state, step count, schedule and
 * random-op counter; per objective MODEL_train_step_OBJ, MODEL_loss_OBJ,
 * ...; MODEL_train_step runs one step of each in declaration order. With
 * --main, the trainer over MODEL_train_step (cg_main, CG_MAIN_BUNDLE). */
#include "api.h"

#include <strings.h>

static const char *obj(cg_ctx *cx, int k) { return cx->o->objectives[k]; }

/* ", real, z, ones" (and the targets, and loss or the outputs): the
 * arguments passed on to a part. */
static void call_args(cg_ctx *cx, int targets, const char *last) {
    const ir_graph *g = cx->g;
    for (int i = 0; i < g->inputs.len; i++)
        sb_printf(cx->c, ", %s", cg_cname(cx, g->nodes.data[g->inputs.data[i]]->name));
    for (int i = 0; targets && i < g->targets.len; i++)
        sb_printf(cx->c, ", %s", cg_cname(cx, g->nodes.data[g->targets.data[i]]->name));
    if (last) sb_printf(cx->c, ", %s", last);
    for (int i = 0; !last && i < g->outputs.len; i++) sb_printf(cx->c, ", %s", cg_cname(cx, g->output_names.data[i]));
}

/* "int P_NAME(P *m, inputs, targets, T *loss)" without the ';', into b. */
static void loss_head(cg_ctx *cx, strbuf *b, const char *name) {
    const char *P = cx->o->prefix;
    sb_printf(b, "int %s_%s(%s *m", P, name, P);
    cg_io_params(cx, b, 1);
    sb_printf(b, ", %s *loss)", cx->T);
}

/* P_BATCH and P_NAME_SIZE of each input and target, as a part has them. */
static void size_macros(cg_ctx *cx, strbuf *h) {
    const ir_graph *g = cx->g;
    const ir_node *x = g->inputs.len ? g->nodes.data[g->inputs.data[0]] : NULL;
    if (x && x->shape.rank) sb_printf(h, "#define %s_BATCH %lld\n", cx->upper, (long long)x->shape.d[0]);
    for (int i = 0; i < g->inputs.len + g->targets.len; i++) {
        const ir_node *n = g->nodes.data[i < g->inputs.len ? g->inputs.data[i] : g->targets.data[i - g->inputs.len]];
        sb_printf(h, "#define %s_", cx->upper);
        for (const char *q = n->name; *q; q++) sb_printf(h, "%c", *q >= 'a' && *q <= 'z' ? *q - 32 : *q);
        sb_printf(h, "_SIZE %lld\n", (long long)ir_numel(&n->shape));
    }
}

static void header_top(cg_ctx *cx, strbuf *h) {
    const char *P = cx->o->prefix, *U = cx->upper;
    sb_printf(h, "\n/* Model %s: its %d objectives in one (", cx->g->name, cx->o->nobjectives);
    for (int k = 0; k < cx->o->nobjectives; k++) sb_printf(h, "%s%s", k ? ", " : "", obj(cx, k));
    sb_printf(h, "), training one parameter buffer. */\n#ifndef %s_H\n#define %s_H\n\n", U, U);
    sb_puts(h, "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");
    sb_printf(h, "#define %s_NUM_OBJECTIVES %d\n#define %s_NUM_PARAMS %d\n#define %s_PARAM_ELEMS %zu\n", U,
              cx->o->nobjectives, U, cx->g->params.len, U, cg_param_elems(cx));
    size_macros(cx, h);
    sb_printf(h, "typedef struct %s %s; /* one model per objective (their whole API), sharing the parameters */\n\n",
              P, P);
    sb_printf(h, "%s *%s_create(uint64_t seed); /* malloc'd and initialized; NULL on failure */\n", P, P);
    sb_printf(h, "void %s_free(%s *m);\n"
                 "int %s_reset(%s *m, uint64_t seed); /* fresh weights, every optimizer state */\n",
              P, P, P, P);
}

/* The declarations of objective k's entry points. */
static void header_objective(cg_ctx *cx, strbuf *h, int k) {
    const char *P = cx->o->prefix, *O = obj(cx, k), *T = cx->T;
    sb_printf(h, "\n/* Objective %s (%d): its own gradients, optimizer state, step count and schedule. */\n", O, k);
    const char *names[3] = {"train_step", "loss", "forward_backward"};
    for (int i = 0; i < 3; i++) {
        loss_head(cx, h, arena_printf(cx->g->a, "%s_%s", names[i], O));
        sb_puts(h, ";\n");
    }
    sb_printf(h, "int %s_update_%s(%s *m);\n%s *%s_grads_%s(%s *m, size_t *n);\n", P, O, P, T, P, O, P);
    sb_printf(h, "int %s_set_lr_%s(%s *m, double lr);\n", P, O, P);
    sb_printf(h, "%s_%s *%s_objective_%s(%s *m); /* its model: the whole %s_%s_* API */\n", P, O, P, O, P, P, O);
}

static void header_all(cg_ctx *cx, strbuf *h) {
    const char *P = cx->o->prefix, *T = cx->T;
    sb_puts(h, "\n/* Every objective: one step of each in declaration order (stops at a failure); *loss: their "
               "sum. */\n");
    loss_head(cx, h, "train_step");
    sb_puts(h, ";\n");
    loss_head(cx, h, "loss");
    sb_puts(h, "; /* the sum of the objectives' losses */\n");
    sb_printf(h, "double %s_last_loss(const %s *m, int k); /* objective k's loss in the last call */\n", P, P);
    sb_printf(h, "const char *%s_objective_name(int k);\n", P);
    if (cx->g->outputs.len) cg_entry_proto(cx, h, "forward", "", 0, "");
    sb_printf(h, "int %s_set_lr(%s *m, double lr); /* every objective's */\n", P, P);
    sb_printf(h, "double %s_lr(const %s *m); /* objective 0's */\n", P, P);
    sb_printf(h, "int %s_set_schedule(%s *m, const nnrt_sched *s); /* every objective's */\n", P, P);
    sb_printf(h, "int %s_get_schedule(const %s *m, nnrt_sched *s); /* objective 0's */\n", P, P);
    sb_printf(h, "double %s_grad_norm(const %s *m); /* objective 0's */\n", P, P);
    sb_printf(h, "%s *%s_params(%s *m, size_t *n); /* the one buffer every objective trains */\n", T, P, P);
    sb_printf(h, "int %s_param_info(int i, nnrt_tensor_info *info);\n", P);
    sb_printf(h, "int %s_save(const %s *m, const char *path);\nint %s_load(%s *m, const char *path);\n", P, P, P, P);
    sb_printf(h, "int %s_load_partial(%s *m, const char *path, const char *prefix_map, nnrt_name_fn report, "
                 "void *ctx);\n", P, P);
    sb_printf(h, "/* Every objective's state (parameters, optimizer buffers, step, lr, random-op counter) in one\n"
                 " * safetensors file: objective 0's checkpoint plus OBJ.optim.* tensors and OBJ.step, ... */\n");
    sb_printf(h, "int %s_save_checkpoint(const %s *m, const char *path, const char *extra);\n", P, P);
    sb_printf(h, "int %s_load_checkpoint(%s *m, const char *path, char *extra, size_t cap);\n", P, P);
    sb_printf(h, "const char *%s_last_error(const %s *m); /* of the last failed call */\n", P, P);
    sb_printf(h, "const char *%s_status_str(int status);\n", P);
    sb_printf(h, "\n#ifdef __cplusplus\n}\n#endif\n#endif /* %s_H */\n", cx->upper);
}

static void bundle_struct(cg_ctx *cx) {
    const char *P = cx->o->prefix;
    int n = cx->o->nobjectives;
    sb_printf(cx->c, "\n/* ---- model %s: the objectives' parts in one ---- */\n\nstruct %s {\n", cx->g->name, P);
    for (int k = 0; k < n; k++) sb_printf(cx->c, "    %s_%s *%s;\n", P, obj(cx, k), obj(cx, k));
    sb_printf(cx->c, "    double losses[%d]; /* of the last call of each */\n", n);
    sb_puts(cx->c, "    int last;          /* the objective called last (its error is _last_error's), -1: error */\n");
    sb_puts(cx->c, "    nnrt_err error;    /* the message of a failure of the whole (last = -1) */\n};\n");
    sb_printf(cx->c, "\nstatic const char *const %s_objectives[%d] = {", P, n);
    for (int k = 0; k < n; k++) sb_printf(cx->c, "%s\"%s\"", k ? ", " : "", obj(cx, k));
    sb_puts(cx->c, "};\n");
}

static void bundle_lifecycle(cg_ctx *cx) {
    const char *P = cx->o->prefix, *O0 = obj(cx, 0);
    strbuf *c = cx->c;
    sb_printf(c, "\nvoid %s_free(%s *m) {\n    if (!m) return;\n", P, P);
    for (int k = 0; k < cx->o->nobjectives; k++) sb_printf(c, "    if (m->%s) %s_%s_free(m->%s);\n", obj(cx, k), P,
                                                           obj(cx, k), obj(cx, k));
    sb_puts(c, "    free(m);\n}\n");
    sb_printf(c, "\n%s *%s_create(uint64_t seed) {\n    %s *m = (%s *)calloc(1, sizeof *m);\n", P, P, P, P);
    sb_puts(c, "    int st = m ? NNRT_OK : NNRT_ERR_NOMEM;\n");
    for (int k = 0; k < cx->o->nobjectives; k++)
        sb_printf(c, "    if (st == NNRT_OK && !(m->%s = %s_%s_create(seed))) st = NNRT_ERR_NOMEM;\n", obj(cx, k), P,
                  obj(cx, k));
    for (int k = 1; k < cx->o->nobjectives; k++)
        sb_printf(c, "    if (st == NNRT_OK) st = %s_%s_bind_params(m->%s, %s_%s_params(m->%s, NULL));\n", P,
                  obj(cx, k), obj(cx, k), P, O0, O0);
    sb_printf(c, "    if (st == NNRT_OK) return m;\n    %s_free(m);\n    return NULL;\n}\n", P);
    sb_printf(c, "\nint %s_reset(%s *m, uint64_t seed) {\n    int st = m ? NNRT_OK : NNRT_ERR_ARG;\n", P, P);
    for (int k = 0; k < cx->o->nobjectives; k++)
        sb_printf(c, "    if (st == NNRT_OK) m->last = %d, st = %s_%s_reset(m->%s, seed);\n", k, P, obj(cx, k),
                  obj(cx, k));
    sb_puts(c, "    return st;\n}\n");
}

/* CUDA: the part's work is done before another part reads the buffer. */
static void part_sync(cg_ctx *cx, int k) {
    if (cx->sync)
        sb_printf(cx->c, "    if (st == NNRT_OK) st = %s_%s_sync(m->%s);\n", cx->o->prefix, obj(cx, k), obj(cx, k));
}

/* P_NAME_OBJ(m, inputs, targets, loss): the part's NAME, its loss kept. */
static void objective_loss_entry(cg_ctx *cx, int k, const char *name) {
    const char *P = cx->o->prefix, *O = obj(cx, k);
    strbuf *c = cx->c;
    sb_puts(c, "\n");
    loss_head(cx, c, arena_printf(cx->g->a, "%s_%s", name, O));
    sb_printf(c, " {\n    %s l = 0;\n    if (!m) return NNRT_ERR_ARG;\n    m->last = %d;\n", cx->T, k);
    sb_printf(c, "    int st = %s_%s_%s(m->%s", P, O, name, O);
    call_args(cx, 1, "&l");
    sb_puts(c, ");\n");
    part_sync(cx, k);
    sb_printf(c, "    m->losses[%d] = (double)l;\n    if (loss) *loss = l;\n    return st;\n}\n", k);
}

static void objective_entries(cg_ctx *cx, int k) {
    const char *P = cx->o->prefix, *O = obj(cx, k), *T = cx->T;
    strbuf *c = cx->c;
    objective_loss_entry(cx, k, "train_step");
    objective_loss_entry(cx, k, "loss");
    objective_loss_entry(cx, k, "forward_backward");
    sb_printf(c, "\nint %s_update_%s(%s *m) {\n    if (!m) return NNRT_ERR_ARG;\n    m->last = %d;\n"
                 "    int st = %s_%s_update(m->%s);\n", P, O, P, k, P, O, O);
    part_sync(cx, k);
    sb_puts(c, "    return st;\n}\n");
    sb_printf(c, "\n%s *%s_grads_%s(%s *m, size_t *n) { return m ? %s_%s_grads(m->%s, n) : NULL; }\n", T, P, O, P, P,
              O, O);
    sb_printf(c, "\nint %s_set_lr_%s(%s *m, double lr) {\n    if (!m) return NNRT_ERR_ARG;\n    m->last = %d;\n"
                 "    return %s_%s_set_lr(m->%s, lr);\n}\n", P, O, P, k, P, O, O);
    sb_printf(c, "\n%s_%s *%s_objective_%s(%s *m) { return m ? m->%s : NULL; }\n", P, O, P, O, P, O);
}

/* P_train_step and P_loss: each objective's in turn, the sum. */
static void all_loss_entry(cg_ctx *cx, const char *name) {
    strbuf *c = cx->c;
    sb_puts(c, "\n");
    loss_head(cx, c, name);
    sb_printf(c, " {\n    %s l = 0, sum = 0;\n    int st = NNRT_OK;\n", cx->T);
    for (int k = 0; k < cx->o->nobjectives; k++) {
        sb_printf(c, "    if (st == NNRT_OK) st = %s_%s_%s(m", cx->o->prefix, name, obj(cx, k));
        call_args(cx, 1, "&l");
        sb_puts(c, "), sum += l;\n");
    }
    sb_puts(c, "    if (loss) *loss = st == NNRT_OK ? sum : l;\n    return st;\n}\n");
}

/* Entry points of the whole that go to every part (set) or to part 0. */
static void shared_entries(cg_ctx *cx) {
    const char *P = cx->o->prefix, *O0 = obj(cx, 0), *T = cx->T;
    strbuf *c = cx->c;
    const char *set[2][3] = {{"set_lr", "double lr", "lr"}, {"set_schedule", "const nnrt_sched *s", "s"}};
    for (int i = 0; i < 2; i++) {
        sb_printf(c, "\nint %s_%s(%s *m, %s) {\n    int st = m ? NNRT_OK : NNRT_ERR_ARG;\n", P, set[i][0], P,
                  set[i][1]);
        for (int k = 0; k < cx->o->nobjectives; k++)
            sb_printf(c, "    if (st == NNRT_OK) m->last = %d, st = %s_%s_%s(m->%s, %s);\n", k, P, obj(cx, k),
                      set[i][0], obj(cx, k), set[i][2]);
        sb_puts(c, "    return st;\n}\n");
    }
    sb_printf(c, "\ndouble %s_lr(const %s *m) { return m ? %s_%s_lr(m->%s) : 0; }\n", P, P, P, O0, O0);
    sb_printf(c, "\nint %s_get_schedule(const %s *m, nnrt_sched *s) {\n    return m ? %s_%s_get_schedule(m->%s, s) "
                 ": NNRT_ERR_ARG;\n}\n", P, P, P, O0, O0);
    sb_printf(c, "\ndouble %s_grad_norm(const %s *m) { return m ? %s_%s_grad_norm(m->%s) : 0; }\n", P, P, P, O0, O0);
    sb_printf(c, "\n%s *%s_params(%s *m, size_t *n) { return %s_%s_params(m ? m->%s : NULL, n); }\n", T, P, P, P, O0,
              O0);
    sb_printf(c, "\nint %s_param_info(int i, nnrt_tensor_info *info) { return %s_%s_param_info(i, info); }\n", P, P,
              O0);
    sb_printf(c, "\ndouble %s_last_loss(const %s *m, int k) {\n"
                 "    return m && k >= 0 && k < %d ? m->losses[k] : 0;\n}\n",
              P, P, cx->o->nobjectives);
    sb_printf(c, "\nconst char *%s_objective_name(int k) { return k >= 0 && k < %d ? %s_objectives[k] : NULL; }\n", P,
              cx->o->nobjectives, P);
}

/* Save, load, forward and messages: part 0's (its buffer is everyone's). */
static void io_entries(cg_ctx *cx) {
    const char *P = cx->o->prefix, *O0 = obj(cx, 0);
    strbuf *c = cx->c;
    sb_printf(c, "\nint %s_save(const %s *m, const char *path) {\n"
                 "    return m ? %s_%s_save(m->%s, path) : NNRT_ERR_ARG;\n}\n",
              P, P, P, O0, O0);
    sb_printf(c, "\nint %s_load(%s *m, const char *path) {\n    if (!m) return NNRT_ERR_ARG;\n    m->last = 0;\n"
                 "    return %s_%s_load(m->%s, path);\n}\n", P, P, P, O0, O0);
    sb_printf(c, "\nint %s_load_partial(%s *m, const char *path, const char *prefix_map, nnrt_name_fn report, "
                 "void *ctx) {\n    if (!m) return NNRT_ERR_ARG;\n    m->last = 0;\n"
                 "    return %s_%s_load_partial(m->%s, path, prefix_map, report, ctx);\n}\n", P, P, P, O0, O0);
    sb_printf(c, "\nconst char *%s_last_error(const %s *m) {\n    if (!m) return \"no model\";\n"
                 "    switch (m->last) {\n",
              P, P);
    for (int k = 1; k < cx->o->nobjectives; k++)
        sb_printf(c, "    case %d: return %s_%s_last_error(m->%s);\n", k, P, obj(cx, k), obj(cx, k));
    sb_printf(c, "    case -1: return m->error.msg;\n    default: return %s_%s_last_error(m->%s);\n    }\n}\n", P,
              O0, O0);
    sb_printf(c, "\nconst char *%s_status_str(int status) { return nnrt_status_str(status); }\n", P);
    if (!cx->g->outputs.len) return;
    sb_printf(c, "\nint %s_forward(%s *m", P, P);
    cg_io_params(cx, c, 0);
    for (int i = 0; i < cx->g->outputs.len; i++)
        sb_printf(c, ", %s *%s", cx->T, cg_cname(cx, cx->g->output_names.data[i]));
    sb_printf(c, ") {\n    if (!m) return NNRT_ERR_ARG;\n    m->last = 0;\n    return %s_%s_forward(m->%s", P, O0, O0);
    call_args(cx, 0, NULL);
    sb_puts(c, ");\n}\n");
}

/* The model API's names (after PREFIX_) that a part's PREFIX_OBJ_... or
 * PREFIX_OBJ_... macro could also spell. */
static const char *const bundle_names[] = {"set_lr", "set_schedule", "get_schedule", "last_loss", "last_error",
                                           "load_partial", "grad_norm", "param_info", "status_str",
                                           "objective_name", "NUM_OBJECTIVES", "NUM_PARAMS", "PARAM_ELEMS", NULL};

/* An objective whose part's names would spell one of the model's. */
static int clash(cg_ctx *cx, FILE *err) {
    for (int k = 0; k < cx->o->nobjectives; k++)
        for (int i = 0; bundle_names[i]; i++) {
            size_t n = strlen(obj(cx, k));
            if (strncasecmp(bundle_names[i], obj(cx, k), n) || bundle_names[i][n] != '_') continue;
            fprintf(err, "nnc: error: objective '%s' of model '%s' cannot be built in one file with the others: its "
                         "%s_%s_* names would clash with %s_%s; rename the loss, or build it alone with --objective "
                         "%s\n", obj(cx, k), cx->g->name, cx->o->prefix, obj(cx, k), cx->o->prefix, bundle_names[i],
                    obj(cx, k));
            return 1;
        }
    return 0;
}

/* static int P_ckpt_NAME_part(void *ctx, int k, const char *part): objective
 * k's own NAME (save or load) on part, for nnrt_ckpt_NAME_objectives. */
static void ckpt_part_fn(cg_ctx *cx, const char *name, const char *args) {
    const char *P = cx->o->prefix;
    strbuf *c = cx->c;
    sb_printf(c, "\nstatic int %s_ckpt_%s_part(void *ctx, int k, const char *part) {\n", P, name);
    sb_printf(c, "    %s_ckpt_ctx *c = (%s_ckpt_ctx *)ctx;\n    int st;\n    switch (k) {\n", P, P);
    for (int k = 1; k < cx->o->nobjectives; k++)
        sb_printf(c, "    case %d: st = %s_%s_%s_checkpoint(c->m->%s, part, %s); break;\n", k, P, obj(cx, k), name,
                  obj(cx, k), args);
    sb_printf(c, "    default: st = %s_%s_%s_checkpoint(c->m->%s, part, %s); break;\n    }\n", P, obj(cx, 0), name,
              obj(cx, 0), args);
    sb_puts(c, "    if (st != NNRT_OK) c->failed = k;\n    return st;\n}\n");
}

/* P_save_checkpoint and P_load_checkpoint: every objective's in one file
 * (nnrt_ckpt_save_objectives, nnrt_ckpt_load_objectives). */
static void ckpt_entries(cg_ctx *cx) {
    const char *P = cx->o->prefix;
    strbuf *c = cx->c;
    sb_printf(c, "\ntypedef struct %s_ckpt_ctx {\n    %s *m;\n    const char *extra;\n    char *out;\n    size_t cap;\n"
                 "    int failed; /* the objective whose own save or load failed */\n} %s_ckpt_ctx;\n", P, P, P);
    ckpt_part_fn(cx, "save", "c->extra");
    ckpt_part_fn(cx, "load", "c->out, c->cap");
    const char *fn[2][3] = {{"save", "const %s *cm, const char *path, const char *extra", "extra, NULL, 0"},
                            {"load", "%s *cm, const char *path, char *extra, size_t cap", "NULL, extra, cap"}};
    for (int i = 0; i < 2; i++) {
        sb_printf(c, "\nint %s_%s_checkpoint(", P, fn[i][0]);
        sb_printf(c, fn[i][1], P);
        sb_printf(c, ") {\n    if (!cm || !path) return NNRT_ERR_ARG;\n    %s *m = (%s *)cm;\n", P, P);
        sb_printf(c, "    %s_ckpt_ctx c = {m, %s, -1};\n", P, fn[i][2]);
        sb_printf(c, "    int st = nnrt_ckpt_%s_objectives(path, %d, %s_objectives, %s_ckpt_%s_part, &c, &m->error);\n",
                  fn[i][0], cx->o->nobjectives, P, P, fn[i][0]);
        sb_puts(c, "    if (st != NNRT_OK) m->last = c.failed;\n    return st;\n}\n");
    }
}

int cg_bundle(cg_ctx *part, strbuf *h, FILE *err, int main_flags) {
    cg_options o = *part->o;
    o.prefix = o.bundle_prefix;
    o.part = NULL;
    cg_ctx cx;
    cg_ctx_init(&cx, part->p, &o, part->c);
    if (clash(&cx, err)) return 1;
    cx.sync = (main_flags & CG_BUNDLE_SYNC) != 0;
    header_top(&cx, h);
    for (int k = 0; k < o.nobjectives; k++) header_objective(&cx, h, k);
    header_all(&cx, h);
    bundle_struct(&cx);
    bundle_lifecycle(&cx);
    for (int k = 0; k < o.nobjectives; k++) objective_entries(&cx, k);
    all_loss_entry(&cx, "train_step");
    all_loss_entry(&cx, "loss");
    shared_entries(&cx);
    ckpt_entries(&cx);
    io_entries(&cx);
    return o.emit_main && cg_main(&cx, err, (main_flags & ~CG_BUNDLE_SYNC) | CG_MAIN_BUNDLE);
}
