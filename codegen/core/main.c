/* main.c — the trainer main() of `nnc --main`: adapters from the generated
 * API to libnnrt's nnrt_model_desc, then nnrt_main() does the rest (compiled
 * with -DNNRT_MPI, a trainable C model calls libnnrt_mpi's nnrt_mpi_main;
 * with -DNNRT_NCCL, a trainable CUDA model libnnrt_nccl's nnrt_nccl_main). */
#include "core.h"

static ir_node *NODE(cg_ctx *cx, int id) { return cx->g->nodes.data[id]; }

/* The adapters' arguments as the API takes them: C converts void *
 * implicitly; C++ (the CUDA target's .cu) needs the casts. */
typedef struct args {
    const char *m, *x, *out;
} args;

/* 1 when the inputs have more than one element type (int32 ids and floats). */
static int mixed_inputs(cg_ctx *cx) {
    const ir_graph *g = cx->g;
    for (int i = 1; i < g->inputs.len; i++)
        if (NODE(cx, g->inputs.data[i])->dtype != NODE(cx, g->inputs.data[0])->dtype) return 1;
    return 0;
}

/* Mixed types: input i starts at the bytes of the earlier inputs' batches. */
static const char *mixed_inputs_arg(cg_ctx *cx) {
    const ir_graph *g = cx->g;
    const char *s = "", *at = "";
    for (int i = 0; i < g->inputs.len; i++) {
        const ir_node *in = NODE(cx, g->inputs.data[i]);
        const char *t = in->dtype == DT_I32 ? "int32_t" : cx->T;
        s = i ? arena_printf(g->a, "%s, (const %s *)((const char *)x%s)", s, t, at)
              : arena_printf(g->a, "(const %s *)x", t);
        at = arena_printf(g->a, "%s + %lld * sizeof(%s)", at, (long long)ir_numel(&in->shape), t);
    }
    return s;
}

/* Several inputs: x holds the batch of each in turn (declaration order),
 * so input i starts after the earlier inputs' whole batches. */
static const char *inputs_arg(cg_ctx *cx, const char *xt) {
    const ir_graph *g = cx->g;
    const char *s = arena_printf(g->a, "(const %s *)x", xt);
    long long at = 0;
    if (mixed_inputs(cx)) return mixed_inputs_arg(cx);
    for (int i = 1; i < g->inputs.len; i++) {
        at += ir_numel(&NODE(cx, g->inputs.data[i - 1])->shape);
        s = arena_printf(g->a, "%s, (const %s *)x + %lld", s, xt, at);
    }
    return s;
}

static args args_of(cg_ctx *cx, int casts) {
    args a = {"m", "x", "out"};
    ir_node *x = NODE(cx, cx->g->inputs.data[0]);
    const char *xt = x->dtype == DT_I32 ? "int32_t" : cx->T;
    if (cx->g->inputs.len > 1) a.x = inputs_arg(cx, xt);
    if (!(casts & CG_MAIN_CASTS)) return a;
    a.m = arena_printf(cx->g->a, "(%s *)m", cx->o->prefix);
    if (cx->g->inputs.len == 1) a.x = arena_printf(cx->g->a, "(const %s *)x", xt);
    a.out = arena_printf(cx->g->a, "(%s *)out", cx->T);
    return a;
}

/* NULL if the inputs share the first one's batch axis (their types may
 * differ: int32 ids beside floats). */
static const char *check_inputs(cg_ctx *cx) {
    const ir_graph *g = cx->g;
    const ir_node *x = NODE(cx, g->inputs.data[0]);
    if (x->shape.rank < 1) return "an input with a batch axis";
    for (int i = 1; i < g->inputs.len; i++) {
        const ir_node *in = NODE(cx, g->inputs.data[i]);
        if (in->shape.rank < 1 || in->shape.d[0] != x->shape.d[0]) return "inputs of one batch size";
    }
    return NULL;
}

/* The model must look like a supervised learner: inputs of one batch
 * size, at most one target, at least one output. */
static int check_shape(cg_ctx *cx, FILE *err) {
    const ir_graph *g = cx->g;
    const char *why = NULL;
    if (g->inputs.len < 1) why = "an input";
    else if (g->targets.len > 1) why = "at most one target";
    else if (!g->outputs.len) why = "an output";
    else why = check_inputs(cx);
    if (why) fprintf(err, "nnc: error: --main needs a model with %s; '%s' does not have it\n", why, g->name);
    return why != NULL;
}

/* d_loss / d_train_step: call P_loss / P_train_step with y cast to the
 * target's type (y unused for a model without a target), loss as a double.
 * P_train_step's NNRT_ERR_NONFINITE (a NaN or infinite loss, no update)
 * is passed on as success with that loss: nnrt_main stops on it with the
 * epoch and step. */
static void loss_adapter(cg_ctx *cx, const args *a, const char *name, const char *entry) {
    strbuf *c = cx->c;
    int has_t = cx->g->targets.len == 1;
    const char *yt = has_t && NODE(cx, cx->g->targets.data[0])->dtype == DT_I32 ? "int32_t" : cx->T;
    sb_printf(c, "static int %s(void *m, const void *x, const void *y, double *loss) {\n    %s l = 0;\n", name, cx->T);
    if (has_t) sb_printf(c, "    int st = %s_%s(%s, %s, (const %s *)y, &l);\n", cx->o->prefix, entry, a->m, a->x, yt);
    else
        sb_printf(c,
                  "    int st = %s_%s(%s, %s, &l);\n"
                  "    (void)y; /* no target */\n",
                  cx->o->prefix, entry, a->m, a->x);
    if (!strcmp(entry, "train_step")) /* the trainer tests the loss itself and names epoch and step */
        sb_puts(c, "    if (st == NNRT_ERR_NONFINITE) st = NNRT_OK; /* nothing was updated; the loss tells */\n");
    sb_puts(c, "    *loss = (double)l;\n    return st;\n}\n");
}

/* d_set_schedule, d_get_schedule: the schedule and clipping. */
static void sched_adapters(cg_ctx *cx, const args *a) {
    const char *P = cx->o->prefix, *M = a->m;
    sb_printf(cx->c, "static int d_set_schedule(void *m, const nnrt_sched *s) { return %s_set_schedule(%s, s); }\n",
              P, M);
    sb_printf(cx->c, "static int d_get_schedule(void *m, nnrt_sched *s) { return %s_get_schedule(%s, s); }\n", P, M);
    sb_printf(cx->c, "static double d_lr(void *m) { return %s_lr(%s); }\n", P, M);
    sb_printf(cx->c, "static double d_grad_norm(void *m) { return %s_grad_norm(%s); }\n", P, M);
}

/* d_forward_backward, d_grads, d_update: the split step of data-parallel
 * training (the C target's gradients are in host memory, the CUDA target's
 * on the device); the C target's update in pieces besides. */
static void dist_adapters(cg_ctx *cx, const args *a, int casts) {
    const char *P = cx->o->prefix, *M = a->m;
    loss_adapter(cx, a, "d_forward_backward", "forward_backward");
    sb_printf(cx->c, "static void *d_grads(void *m, size_t *n) { return %s_grads(%s, n); }\n", P, M);
    sb_printf(cx->c, "static int d_update(void *m) { return %s_update(%s); }\n", P, M);
    if (casts & CG_MAIN_CASTS) return;
    sb_printf(cx->c, "static double d_grad_sumsq(void *m, size_t lo, size_t hi, double acc) "
                     "{ return %s_grad_sumsq(%s, lo, hi, acc); }\n", P, M);
    sb_printf(cx->c, "static int d_update_range(void *m, size_t lo, size_t hi, double norm) "
                     "{ return %s_update_range(%s, lo, hi, norm); }\n", P, M);
    sb_printf(cx->c, "static int d_update_end(void *m, double norm) { return %s_update_end(%s, norm); }\n", P, M);
    sb_printf(cx->c, "static void *d_opt_state(void *m, int k, size_t *n) { return %s_opt_state(%s, k, n); }\n", P,
              M);
    sb_printf(cx->c, "static uint64_t d_rng_calls(void *m) { return %s_rng_calls(%s); }\n", P, M);
    sb_printf(cx->c, "static int d_set_rng_calls(void *m, uint64_t n) { return %s_set_rng_calls(%s, n); }\n", P, M);
    sb_printf(cx->c, "static void *d_params(void *m, size_t *n) { return (void *)%s_params(%s, n); }\n", P, M);
    sb_printf(cx->c, "static int d_set_grad_ready(void *m, void (*fn)(void *ctx, size_t lo), void *ctx) "
                     "{ return %s_set_grad_ready(%s, fn, ctx); }\n", P, M);
}

static void ckpt_adapters(cg_ctx *cx, const args *a) {
    const char *P = cx->o->prefix, *M = a->m;
    sb_printf(cx->c, "static int d_save_ckpt(void *m, const char *path, const char *extra) "
                     "{ return %s_save_checkpoint(%s, path, extra); }\n", P, M);
    sb_printf(cx->c, "static int d_load_ckpt(void *m, const char *path, char *extra, size_t cap) "
                     "{ return %s_load_checkpoint(%s, path, extra, cap); }\n", P, M);
}

/* The objectives of a bundle (CG_MAIN_BUNDLE): the trainer's train_step
 * runs each in turn and logs each one's loss. */
static void objectives_desc(cg_ctx *cx) {
    strbuf *c = cx->c;
    sb_puts(c, "    static const char *const objective_names[] = {");
    for (int k = 0; k < cx->o->nobjectives; k++) sb_printf(c, "%s\"%s\"", k ? ", " : "", cx->o->objectives[k]);
    sb_printf(c, "};\n    d.n_objectives = %d;\n    d.objective_names = objective_names;\n", cx->o->nobjectives);
    sb_puts(c, "    d.objective_loss = d_objective_loss;\n");
}

static void adapters(cg_ctx *cx, const args *a, int sched, int casts) {
    const char *P = cx->o->prefix, *M = a->m;
    strbuf *c = cx->c;
    int train = cx->p->has[ENTRY_TRAIN] && cx->g->opt.kind != OPT_NONE;
    sb_puts(c, "\n/* ---- trainer (nnc --main) ---- */\n");
    sb_printf(c, "static void *d_create(uint64_t seed) { return %s_create(seed); }\n", P);
    sb_printf(c, "static void d_destroy(void *m) { %s_free(%s); }\n", P, M);
    sb_printf(c, "static int d_forward(void *m, const void *x, void *out) { return %s_forward(%s, %s, %s", P, M, a->x,
              a->out);
    for (int i = 1; i < cx->g->outputs.len; i++) sb_printf(c, ", NULL");
    sb_puts(c, "); }\n");
    if (cx->p->has[ENTRY_LOSS]) loss_adapter(cx, a, "d_loss", "loss");
    if (train) {
        loss_adapter(cx, a, "d_train_step", "train_step");
        if (!(casts & CG_MAIN_BUNDLE)) dist_adapters(cx, a, casts);
        if (casts & CG_MAIN_BUNDLE)
            sb_printf(c, "static double d_objective_loss(void *m, int k) { return %s_last_loss(%s, k); }\n", P, M);
        sb_printf(c, "static int d_set_lr(void *m, double lr) { return %s_set_lr(%s, lr); }\n", P, M);
        ckpt_adapters(cx, a);
        if (sched) sched_adapters(cx, a);
    }
    sb_printf(c, "static int d_save(void *m, const char *path) { return %s_save(%s, path); }\n", P, M);
    sb_printf(c, "static int d_load(void *m, const char *path) { return %s_load(%s, path); }\n", P, M);
    sb_printf(c, "static const char *d_last_error(void *m) { return %s_last_error(%s); }\n", P, M);
    if (cx->o->calib_probe)
        sb_printf(c, "static int d_save_calib(void *m, const char *path) { return %s_save_calib(%s, path); }\n", P, M);
    sb_printf(c,
              "static int d_load_partial(void *m, const char *path, const char *map, nnrt_name_fn f, void *ctx) {\n"
              "    return %s_load_partial(%s, path, map, f, ctx);\n}\n",
              P, M);
}

/* d.out_rank / d.out_shape: the first output's shape per example (without
 * the batch axis when it has one; flattened otherwise). */
static void out_shape(cg_ctx *cx, const ir_node *out, int64_t B) {
    strbuf *c = cx->c;
    if (out->shape.rank >= 1 && out->shape.d[0] == B) {
        sb_printf(c, "    d.out_rank = %d;\n", out->shape.rank - 1);
        for (int i = 1; i < out->shape.rank; i++)
            sb_printf(c, "    d.out_shape[%d] = %lld;\n", i - 1, (long long)out->shape.d[i]);
    } else {
        sb_printf(c, "    d.out_rank = 1;\n    d.out_shape[0] = %lld;\n", (long long)(ir_numel(&out->shape) / B));
    }
}

/* The entry: nnrt_mpi_main (libnnrt_mpi) when a C model is compiled with
 * -DNNRT_MPI, nnrt_nccl_main (libnnrt_nccl) when a CUDA one is with
 * -DNNRT_NCCL. */
static void entry(cg_ctx *cx, int train, int casts) {
    strbuf *c = cx->c;
    int cuda = casts & CG_MAIN_CASTS;
    if (train)
        sb_puts(c, "    d.forward_backward = d_forward_backward;\n    d.grads = d_grads;\n    d.update = d_update;\n");
    if (train && !cuda)
        sb_puts(c, "    d.grad_sumsq = d_grad_sumsq;\n    d.update_range = d_update_range;\n"
                   "    d.update_end = d_update_end;\n    d.opt_state = d_opt_state;\n"
                   "    d.rng_calls = d_rng_calls;\n    d.set_rng_calls = d_set_rng_calls;\n    d.params = d_params;\n"
                   "    d.set_grad_ready = d_set_grad_ready;\n"
                   "#ifdef NNRT_MPI\n    return nnrt_mpi_main(argc, argv, &d);\n#else\n");
    if (train && cuda)
        sb_puts(c, "    d.grads_on_device = 1;\n#ifdef NNRT_NCCL\n    return nnrt_nccl_main(argc, argv, &d);\n#else\n");
    sb_puts(c, "    return nnrt_main(argc, argv, &d);\n");
    sb_puts(c, train ? "#endif\n}\n" : "}\n");
}

/* Several inputs: one example is their values in declaration order (x of
 * rank 1); d.n_inputs, d.in_names and d.in_numel say which is which, and
 * d.in_dtypes their types when they differ (d.x_dtype is then the model's). */
static void several_inputs(cg_ctx *cx, int64_t B) {
    const ir_graph *g = cx->g;
    strbuf *c = cx->c;
    long long sum = 0;
    sb_puts(c, "    static const char *const in_names[] = {");
    for (int i = 0; i < g->inputs.len; i++) sb_printf(c, "%s\"%s\"", i ? ", " : "", NODE(cx, g->inputs.data[i])->name);
    sb_puts(c, "};\n    static const size_t in_numel[] = {");
    for (int i = 0; i < g->inputs.len; i++) {
        long long n = (long long)(ir_numel(&NODE(cx, g->inputs.data[i])->shape) / B);
        sb_printf(c, "%s%lld", i ? ", " : "", n);
        sum += n;
    }
    sb_printf(c, "};\n    d.x_rank = 1;\n    d.x_shape[0] = %lld;\n    d.x_numel = %lld;\n", sum, sum);
    sb_printf(c, "    d.n_inputs = %d;\n    d.in_names = in_names;\n    d.in_numel = in_numel;\n", g->inputs.len);
    if (!mixed_inputs(cx)) return;
    sb_puts(c, "    static const int in_dtypes[] = {");
    for (int i = 0; i < g->inputs.len; i++)
        sb_printf(c, "%s%s", i ? ", " : "", NODE(cx, g->inputs.data[i])->dtype == DT_I32 ? "NNRT_I32" : cx->NNRT);
    sb_puts(c, "};\n    d.in_dtypes = in_dtypes;\n");
}

static void desc(cg_ctx *cx, int flags) {
    int sched = flags & CG_MAIN_SCHED;
    strbuf *c = cx->c;
    const ir_graph *g = cx->g;
    ir_node *x = NODE(cx, g->inputs.data[0]), *out = NODE(cx, g->outputs.data[0]);
    ir_node *y = g->targets.len ? NODE(cx, g->targets.data[0]) : NULL;
    int64_t B = x->shape.d[0];
    int train = cx->p->has[ENTRY_TRAIN] && g->opt.kind != OPT_NONE;
    long long classes = y && y->dtype == DT_I32 && out->shape.rank ? (long long)out->shape.d[out->shape.rank - 1] : 0;
    sb_puts(c, "\nint main(int argc, char **argv) {\n    nnrt_model_desc d;\n    memset(&d, 0, sizeof d);\n");
    sb_printf(c, "    d.name = \"%s\";\n    d.dtype = %s;\n    d.batch = %lld;\n", g->name, cx->NNRT, (long long)B);
    sb_printf(c, "    d.x_dtype = %s;\n", x->dtype == DT_I32 && !mixed_inputs(cx) ? "NNRT_I32" : cx->NNRT);
    if (g->inputs.len > 1) {
        several_inputs(cx, B);
    } else {
        sb_printf(c, "    d.x_rank = %d;\n", x->shape.rank - 1);
        for (int i = 1; i < x->shape.rank; i++)
            sb_printf(c, "    d.x_shape[%d] = %lld;\n", i - 1, (long long)x->shape.d[i]);
        sb_printf(c, "    d.x_numel = %lld;\n", (long long)(ir_numel(&x->shape) / B));
    }
    sb_printf(c, "    d.has_target = %d;\n", y != NULL);
    if (y) {
        sb_printf(c, "    d.y_dtype = %s;\n", y->dtype == DT_I32 ? "NNRT_I32" : cx->NNRT);
        sb_printf(c, "    d.y_numel = %lld;\n    d.classes = %lld;\n", (long long)(ir_numel(&y->shape) / B), classes);
    }
    out_shape(cx, out, B);
    sb_printf(c, "    d.out_numel = %lld;\n    d.trainable = %d;\n", (long long)(ir_numel(&out->shape) / B), train);
    sb_printf(c, "    d.default_lr = %.17g;\n", g->opt.lr);
    sb_puts(c, "    d.create = d_create;\n    d.destroy = d_destroy;\n    d.forward = d_forward;\n");
    if (cx->p->has[ENTRY_LOSS]) sb_puts(c, "    d.loss = d_loss;\n");
    if (train) sb_puts(c, "    d.train_step = d_train_step;\n    d.set_lr = d_set_lr;\n");
    if (train) sb_puts(c, "    d.save_checkpoint = d_save_ckpt;\n    d.load_checkpoint = d_load_ckpt;\n");
    if (train && (flags & CG_MAIN_BUNDLE)) objectives_desc(cx);
    if (train && sched) sb_puts(c, "    d.set_schedule = d_set_schedule;\n    d.get_schedule = d_get_schedule;\n"
                                   "    d.lr = d_lr;\n    d.grad_norm = d_grad_norm;\n");
    sb_puts(c, "    d.save = d_save;\n    d.load = d_load;\n    d.load_partial = d_load_partial;\n");
    sb_puts(c, "    d.last_error = d_last_error;\n");
    if (cx->o->calib_probe) sb_puts(c, "    d.save_calib = d_save_calib;\n");
    entry(cx, train && !(flags & CG_MAIN_BUNDLE), flags);
}

int cg_main(cg_ctx *cx, FILE *err, int flags) {
    if (check_shape(cx, err)) return 1;
    args a = args_of(cx, flags);
    adapters(cx, &a, flags & CG_MAIN_SCHED, flags);
    desc(cx, flags);
    return 0;
}
