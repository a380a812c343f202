/* api.c — the C target's generated API around the kernels: the model
 * struct, memory layout, parameter initialization, the entry points that
 * run each schedule, the optimizer update, and save/load through libnnrt.
 * What every target prints alike (names, tables, initializers, the
 * optimizer's formulas, the generic _v entry points) is core/api.h's.
 *
 * Memory (one block, ARENA_BYTES): [header | params | grads | optimizer
 * state | activations | GEMM workspace (--freestanding)], each 64-byte
 * aligned. Nothing is a global.
 */
#include "kernels.h"
#include "../core/api.h"

#include <math.h>

enum { HEADER_BYTES = 1024 };

static size_t align64(size_t n) { return (n + 63) / 64 * 64; }
static size_t esize(cg_ctx *cx) { return cx->o->f64 ? 8 : 4; }
static ir_node *NODE(cg_ctx *cx, int id) { return cx->g->nodes.data[id]; }

/* Byte offsets of the parts of the block. */
typedef struct layout {
    size_t params, grads, opt, act, ws, total; /* ws: the GEMM workspace, after the activations */
} layout;

static layout layout_of(cg_ctx *cx) {
    layout l;
    size_t pb = align64(cx->p->mem[ENTRY_FORWARD].param_elems * esize(cx));
    if (!pb) pb = align64(cx->p->mem[ENTRY_TRAIN].param_elems * esize(cx));
    int has_grads = cx->p->has[ENTRY_TRAIN];
    l.params = HEADER_BYTES;
    l.grads = l.params + (cx->o->weights ? 0 : pb);
    l.opt = l.grads + (has_grads ? pb : 0);
    l.act = l.opt + (size_t)cg_opt_slots(cx) * pb;
    l.ws = l.act + align64(cx->p->arena_elems * esize(cx));
    l.total = l.ws + align64((size_t)cx->gemm_ws * sizeof(float)) + 64; /* + 64: to align the caller's block */
    return l;
}

/* ---- the header -------------------------------------------------------- */

static void protos_params(cg_ctx *cx, strbuf *h);

static void protos(cg_ctx *cx, strbuf *h) {
    const char *P = cx->o->prefix, *T = cx->T;
    cg_infer_note(cx, h);
    sb_printf(h, "typedef struct %s %s; /* all state: %s */\n\n", P, P,
              !cg_infer_only(cx) ? "parameters, gradients, optimizer, activations"
              : cx->o->weights   ? "activations (the parameters are static const)"
                                 : "parameters, activations");
    if (!cx->o->freestanding)
        sb_printf(h, "%s *%s_create(uint64_t seed);  /* malloc'd and initialized; NULL if out of memory */\n", P, P);
    sb_printf(h,
              "int %s_init(%s **m, void *mem, size_t bytes, uint64_t seed); /* in caller memory of %s_ARENA_BYTES, no "
              "malloc */\n",
              P, P, cx->upper);
    if (!cx->o->freestanding)
        sb_printf(h, "void %s_free(%s *m);          /* frees what _create allocated; nothing for _init */\n", P, P);
    sb_printf(h, "int %s_reset(%s *m, uint64_t seed); /* %s */\n", P, P,
              cx->o->weights      ? "clears the state; the weights are compiled in"
              : cg_infer_only(cx) ? "fresh initial weights"
                                  : "fresh initial weights and optimizer state");
    if (cx->p->has[ENTRY_FORWARD]) {
        sb_puts(h, "\n/* Inference: inputs in, outputs out (a NULL output is skipped). */\n");
        cg_entry_proto(cx, h, "forward", "", 0, "");
    }
    if (cx->p->has[ENTRY_LOSS]) {
        sb_puts(h, "/* The loss without gradients. */\n");
        cg_entry_proto(cx, h, "loss", "", 1, "");
    }
    if (cg_trainable(cx)) {
        sb_puts(h, "\n/* Training: _train_step = _forward_backward + _update. */\n");
        cg_entry_proto(cx, h, "train_step", "", 1, "");
        cg_entry_proto(cx, h, "forward_backward", "", 1, " /* overwrites the gradients */");
        sb_printf(h, "%s *%s_grads(%s *m, size_t *n); /* one contiguous buffer of %s_PARAM_ELEMS */\n", T, P, P,
                  cx->upper);
        sb_printf(h, "int %s_update(%s *m);          /* one optimizer step from the gradients */\n", P, P);
        cg_c_dist_protos(cx, h);
        sb_printf(h, "int %s_set_lr(%s *m, double lr);\ndouble %s_get_lr(const %s *m);\n", P, P, P, P);
        cg_ckpt_protos(cx, h);
        if (cg_has_input_grads(cx)) cg_input_grad_proto(cx, h);
        cg_sched_protos(cx, h, "");
    }
    sb_printf(h, "\n/* The same entry points with arrays of pointers, in the order of\n"
                 " * _io_info (inputs, then targets) and _output_info, for generic callers. */\n");
    sb_printf(h, "int %s_io_info(int i, nnrt_tensor_info *info);     /* %s_NUM_IO inputs and targets */\n", P,
              cx->upper);
    sb_printf(h, "int %s_output_info(int i, nnrt_tensor_info *info); /* %s_NUM_OUTPUTS outputs */\n", P, cx->upper);
    if (cx->p->has[ENTRY_FORWARD])
        sb_printf(h, "int %s_forward_v(%s *m, const void *const *io, void *const *outputs);\n", P, P);
    if (cx->p->has[ENTRY_LOSS]) sb_printf(h, "int %s_loss_v(%s *m, const void *const *io, %s *loss);\n", P, P, T);
    if (cg_trainable(cx)) sb_printf(h, "int %s_forward_backward_v(%s *m, const void *const *io, %s *loss);\n", P, P, T);
    protos_params(cx, h);
    if (cx->g->objective && !cx->o->weights)
        sb_printf(h, "/* Objective '%s' of a model with several: train and read the parameters in params\n"
                     " * (%s_PARAM_ELEMS, laid out as _params; another objective's _params) instead of m's\n"
                     " * own; NULL: m's own again. */\nint %s_bind_params(%s *m, %s *params);\n",
                  cx->g->objective, cx->upper, P, P, T);
}

/* The parameters (const with --weights), save and load, messages. */
static void protos_params(cg_ctx *cx, strbuf *h) {
    const char *P = cx->o->prefix;
    sb_printf(h, "\n%s%s *%s_params(%s *m, size_t *n); /* contiguous, %s_PARAM_ELEMS */\n",
              cx->o->weights ? "const " : "", cx->T, P, P, cx->upper);
    sb_printf(h, "int %s_param_info(int i, nnrt_tensor_info *info); /* name, shape, offset of parameter i */\n", P);
    if (cx->o->quant_absmax)
        sb_puts(h, "/* --quantize int8: the weights of the int8 layers are compiled in as int8 alone, not among\n"
                   " * the parameters above: _params, _param_info, _save, _NUM_PARAMS and _PARAM_ELEMS cover\n"
                   " * the parameters that stay f32 (biases, the layers not quantized). */\n");
    if (!cx->o->freestanding)
        sb_printf(h, "int %s_save(const %s *m, const char *path); /* safetensors, atomically (temporary + rename) */\n",
                  P, P);
    if (!cx->o->weights) sb_printf(h, "int %s_load(%s *m, const char *path);       /* all or nothing */\n", P, P);
    if (!cx->o->weights)
        sb_printf(h, "int %s_load_partial(%s *m, const char *path, const char *prefix_map, nnrt_name_fn report,\n"
                  "                 void *ctx); /* the tensors the file has (strict=False): nnrt_st_load_partial */\n",
                  P, P);
    if (cg_infer_only(cx) && !cx->o->weights)
        sb_printf(h, "int %s_load_mem(%s *m, const void *buf, size_t n); /* safetensors bytes in memory */\n", P, P);
    sb_printf(h, "const char *%s_last_error(const %s *m);    /* message of the last failed call */\n", P, P);
    if (!cx->o->freestanding) sb_printf(h, "const char *%s_status_str(int status);\n", P);
    if (cx->o->calib_probe) cgq_save_calib_proto(cx, h);
}

/* --freestanding: what the model leaves out, and its GEMM workspace */
static void freestanding_note(cg_ctx *cx, strbuf *h) {
    sb_printf(h, "\n/* Freestanding (--freestanding): no stdio or stdlib, no _create, _free, _save,\n"
                 " * _status_str or _check_finite; link libnnrt_core.a (the GEMM alone). The block\n"
                 " * holds %zu bytes of GEMM workspace after the activations. */\n",
              layout_of(cx).total - 64 - layout_of(cx).ws);
}

static void emit_header(cg_ctx *cx, strbuf *h) {
    sb_printf(h, "/* %s — generated by %s from %s. Do not edit. */\n", cx->o->header, cg_generated_by(cx),
              cx->o->source);
    sb_printf(h, "#ifndef %s_H\n#define %s_H\n\n", cx->upper, cx->upper);
    sb_puts(h, "#include <stddef.h>\n#include <stdint.h>\n\n");
    if (cx->o->freestanding)
        sb_puts(h, "#ifndef NNRT_FREESTANDING /* nnrt.h without stdio.h */\n#define NNRT_FREESTANDING 1\n#endif\n");
    sb_puts(h, "#include \"nnrt.h\"\n\n");
    sb_puts(h, "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");
    cg_size_macros(cx, h, layout_of(cx).total);
    sb_puts(h, "\n");
    protos(cx, h);
    if (cx->o->freestanding) freestanding_note(cx, h);
    else cg_check_finite_proto(cx, h);
    sb_puts(h, "\n#ifdef __cplusplus\n}\n#endif\n");
    sb_printf(h, "#endif /* %s_H */\n", cx->upper);
}

/* ---- the struct and memory -------------------------------------------- */

static void emit_struct(cg_ctx *cx) {
    strbuf *c = cx->c;
    const char *P = cx->o->prefix, *T = cx->T;
    sb_printf(c, "\nstruct %s {\n", P);
    sb_printf(c, "    %s%s *params;   /* %s_PARAM_ELEMS, contiguous */\n", cx->o->weights ? "const " : "", T,
              cx->upper);
    sb_printf(c, "    %s *grads;    /* same layout as params */\n", T);
    sb_printf(c, "    %s *opt[2];   /* optimizer state: momentum, or Adam's two moments */\n", T);
    sb_printf(c, "    %s *act;      /* activations, offsets from the memory plan */\n", T);
    sb_puts(c, "    void *owned;      /* the block _create allocated, or NULL */\n");
    sb_puts(c, "    int64_t step;     /* optimizer steps taken */\n");
    sb_puts(c, "    uint64_t seed;    /* of the initial weights and of random ops */\n");
    sb_puts(c, "    uint64_t calls;   /* training passes so far: the random ops' counter */\n");
    sb_puts(c, "    double lr;        /* learning rate */\n");
    if (cg_trainable(cx)) {
        sb_puts(c, "    nnrt_sched sched; /* the rate's schedule and gradient clipping */\n");
        sb_puts(c, "    double grad_norm; /* of the last update's gradients before clipping, when norm_known */\n");
        sb_puts(c, "    int norm_known;   /* 0: the update did not clip; the buffer holds its gradients */\n");
        sb_puts(c, "    void (*grad_ready)(void *ctx, size_t lo); /* _set_grad_ready's hook, or NULL */\n");
        sb_puts(c, "    void *grad_ready_ctx;\n");
    }
    sb_printf(c, "    %s last_loss;  /* of the last _loss, _forward_backward or _train_step */\n", T);
    if (cx->o->calib_probe) cgq_calib_field(cx);
    sb_puts(c, "    nnrt_err error;   /* message of the last failed call */\n};\n");
    sb_printf(c, "typedef char %s_header_fits[sizeof(struct %s) <= %d ? 1 : -1];\n", P, P, HEADER_BYTES);
}

static void emit_init(cg_ctx *cx) {
    strbuf *c = cx->c;
    const char *P = cx->o->prefix;
    layout l = layout_of(cx);
    size_t pe = cg_param_elems(cx);
    sb_printf(c, "\nint %s_reset(%s *m, uint64_t seed) {\n    if (!m) return NNRT_ERR_ARG;\n", P, P);
    if (cx->g->objective && !cx->o->weights) /* m->params may be bound elsewhere: clear m's own block */
        sb_printf(c, "    memset((unsigned char *)(void *)m + %d, 0, %zu - %d);\n", HEADER_BYTES, l.act, HEADER_BYTES);
    else if (!cx->o->weights) sb_printf(c, "    memset(m->params, 0, %zu - %d);\n", l.act, HEADER_BYTES);
    sb_printf(c, "    m->step = 0;\n    m->seed = seed;\n    m->calls = 0;\n    m->lr = %.17g;\n", cx->g->opt.lr);
    sb_puts(c, "    m->last_loss = 0;\n");
    if (cg_trainable(cx)) sb_printf(c, "    m->sched = %s_sched0;\n    m->norm_known = 0;\n", P);
    for (int i = 0; !cx->o->weights && i < cx->g->params.len; i++) cg_init_param(cx, i, "m->params");
    sb_puts(c, "    return NNRT_OK;\n}\n");

    sb_printf(c, "\nint %s_init(%s **out, void *mem, size_t bytes, uint64_t seed) {\n", P, P);
    sb_printf(c, "    if (!out || !mem || bytes < %s_ARENA_BYTES) return NNRT_ERR_ARG;\n", cx->upper);
    sb_puts(c, "    unsigned char *base = (unsigned char *)mem + (64 - (uintptr_t)mem % 64) % 64;\n");
    sb_printf(c, "    %s *m = (%s *)(void *)base;\n    memset(m, 0, sizeof *m);\n", P, P);
    if (cx->o->weights) sb_printf(c, "    m->params = %s_weights;\n", P);
    else sb_printf(c, "    m->params = (%s *)(void *)(base + %zu);\n", cx->T, l.params);
    sb_printf(c, "    m->grads = (%s *)(void *)(base + %zu);\n", cx->T, l.grads);
    sb_printf(c, "    m->opt[0] = (%s *)(void *)(base + %zu);\n", cx->T, l.opt);
    sb_printf(c, "    m->opt[1] = (%s *)(void *)(base + %zu);\n", cx->T, l.opt + align64(pe * esize(cx)));
    sb_printf(c, "    m->act = (%s *)(void *)(base + %zu);\n", cx->T, l.act);
    sb_printf(c, "    *out = m;\n    return %s_reset(m, seed);\n}\n", P);
}

static void emit_create(cg_ctx *cx) {
    strbuf *c = cx->c;
    const char *P = cx->o->prefix;
    sb_printf(c, "\n%s *%s_create(uint64_t seed) {\n    void *mem = malloc(%s_ARENA_BYTES);\n", P, P, cx->upper);
    sb_printf(c, "    %s *m = NULL;\n    if (!mem) return NULL;\n", P);
    sb_printf(c,
              "    if (%s_init(&m, mem, %s_ARENA_BYTES, seed) != NNRT_OK) {\n        free(mem);\n"
              "        return NULL;\n    }\n",
              P, cx->upper);
    sb_puts(c, "    m->owned = mem;\n    return m;\n}\n");
    sb_printf(c, "\nvoid %s_free(%s *m) {\n    if (m && m->owned) free(m->owned);\n}\n", P, P);
    layout l = layout_of(cx);
    if (cx->g->objective && !cx->o->weights)
        sb_printf(c, "\nint %s_bind_params(%s *m, %s *params) {\n    if (!m) return NNRT_ERR_ARG;\n"
                     "    m->params = params ? params : (%s *)(void *)((unsigned char *)(void *)m + %zu);\n"
                     "    return NNRT_OK;\n}\n", P, P, cx->T, cx->T, l.params);
}

static void emit_lifecycle(cg_ctx *cx) {
    emit_init(cx);
    if (!cx->o->freestanding) emit_create(cx);
}

/* ---- entry points ------------------------------------------------------ */

/* The C expression for node id's buffer under plan e. */
static const char *ptr(cg_ctx *cx, ir_entry e, int id) {
    const mem_plan *mp = &cx->p->mem[e];
    ir_node *n = NODE(cx, id);
    arena *a = cx->g->a;
    switch (mp->region[id]) {
    case MEM_PARAM: /* no f32 values of a weight that int8 layers alone read (--quantize) */
        if (cg_quant_only(cx, id)) return "NULL";
        return arena_printf(a, "m->params + %zu", mp->offset[id] - cg_quant_dropped_below(cx, mp->offset[id]));
    case MEM_GRAD: return arena_printf(a, "m->grads + %zu", mp->offset[id]);
    case MEM_ARENA: return arena_printf(a, "m->act + %zu", mp->offset[id]);
    case MEM_USER: return cg_cname(cx, n->name);
    case MEM_CONST: return arena_printf(a, "%s_c%d", cx->o->prefix, id);
    case MEM_NONE: break;
    }
    return "NULL";
}

static void emit_consts(cg_ctx *cx) {
    const ir_graph *g = cx->g;
    for (int i = 0; i < g->nodes.len; i++) {
        ir_node *n = g->nodes.data[i];
        if (n->op == IR_CONST && cg_used(cx, i))
            cg_const_array(cx, arena_printf(cx->g->a, "%s_c%d", cx->o->prefix, i), n->data, ir_numel(&n->shape));
    }
}

/* Index inputs (class labels, token ids) of OPF_INDEX ops in the schedule
 * must be in range; checked before any kernel runs. */
static void emit_index_checks(cg_ctx *cx, ir_entry e) {
    const ir_sched *s = &cx->p->sched[e];
    for (int t = 0; t < s->order.len; t++) {
        ir_node *n = NODE(cx, s->order.data[t]);
        if (!(ir_ops[n->op].flags & OPF_INDEX)) continue;
        int ix = n->in[n->iattr[IR_ATTR_INDEX_INPUT]];
        long long bound = (long long)n->iattr[IR_ATTR_INDEX_BOUND];
        const char *p = ptr(cx, e, ix);
        sb_printf(cx->c, "    for (long i = 0; i < %lld; i++)\n", (long long)ir_numel(&NODE(cx, ix)->shape));
        sb_printf(cx->c, "        if ((%s)[i] < 0 || (%s)[i] >= %lld)\n", p, p, bound);
        sb_printf(cx->c,
                  "            return fail(m, NNRT_ERR_RANGE, \"%s: %s %%ld at index %%ld is not in [0, %lld)\", "
                  "(long)(%s)[i], i);\n",
                  ir_ops[n->op].name, NODE(cx, ix)->name ? NODE(cx, ix)->name : "index", bound, p);
    }
}

static void call(cg_ctx *cx, ir_entry e, const ir_node *n) {
    if (cx->team && cx->team[n->id]) sb_puts(cx->c, "#ifdef _OPENMP\n    #pragma omp parallel\n#endif\n");
    sb_printf(cx->c, "    %s(", cg_kernel_name(cx, n));
    for (int j = 0; j < n->nin; j++) sb_printf(cx->c, "%s, ", ptr(cx, e, n->in[j]));
    if (ir_ops[n->op].flags & OPF_RNG) sb_puts(cx->c, "m->seed, counter, ");
    if (cgk_gemm_ws(cx, n)) sb_printf(cx->c, "m->act + %zu, ", (layout_of(cx).ws - layout_of(cx).act) / esize(cx));
    sb_printf(cx->c, "%s);\n", ptr(cx, e, n->id));
}

/* The kernel calls of entry e (none for a view); random ops draw from Philox(seed, counter)
 * where counter numbers the calls that draw (each draws anew). */
static void emit_calls(cg_ctx *cx, ir_entry e) {
    const ir_sched *s = &cx->p->sched[e];
    const size_t *ready = e == ENTRY_TRAIN && cg_trainable(cx) ? cg_c_grad_ready(cx) : NULL;
    if (cg_uses_rng(cx, e))
        sb_puts(cx->c, "    const uint64_t counter = m->calls++;\n");
    for (int t = 0; t < s->order.len; t++) {
        ir_node *n = NODE(cx, s->order.data[t]);
        if (cx->o->calib_probe && e == ENTRY_FORWARD && cg_quant_layer(cx->g, n))
            cgq_probe(cx, n, ptr(cx, e, n->in[0]));
        if (!cg_view(cx, e, n)) call(cx, e, n);
        if (ready && ready[t] != SIZE_MAX)
            sb_printf(cx->c, "    if (m->grad_ready) m->grad_ready(m->grad_ready_ctx, %zu);\n", ready[t]);
    }
}

static void copy_out(cg_ctx *cx, ir_entry e, const char *dst, int id) {
    sb_printf(cx->c, "    if (%s) memcpy(%s, %s, sizeof(%s) * %lld);\n", dst, dst, ptr(cx, e, id), cx->T,
              (long long)ir_numel(&NODE(cx, id)->shape));
}

static void emit_forward(cg_ctx *cx) {
    const char *P = cx->o->prefix;
    const ir_graph *g = cx->g;
    sb_printf(cx->c, "\nint %s_forward(%s *m", P, P);
    cg_io_params(cx, cx->c, 0);
    for (int i = 0; i < g->outputs.len; i++) sb_printf(cx->c, ", %s *%s", cx->T, cg_cname(cx, g->output_names.data[i]));
    sb_puts(cx->c, ") {\n");
    cg_null_checks(cx, 0);
    emit_index_checks(cx, ENTRY_FORWARD);
    emit_calls(cx, ENTRY_FORWARD);
    for (int i = 0; i < g->outputs.len; i++)
        copy_out(cx, ENTRY_FORWARD, cg_cname(cx, g->output_names.data[i]), g->outputs.data[i]);
    sb_puts(cx->c, "    return NNRT_OK;\n}\n");
}

static void emit_loss_entry(cg_ctx *cx, ir_entry e, const char *fname) {
    const char *P = cx->o->prefix;
    sb_printf(cx->c, "\nint %s_%s(%s *m", P, fname, P);
    cg_io_params(cx, cx->c, 1);
    sb_printf(cx->c, ", %s *loss) {\n", cx->T);
    cg_null_checks(cx, 1);
    emit_index_checks(cx, e);
    if (e == ENTRY_TRAIN) /* parameters that do not reach the loss get zero gradients */
        for (int i = 0; i < cx->g->grads.len; i++)
            if (cx->g->grads.data[i] < 0)
                sb_printf(cx->c, "    memset(m->grads + %zu, 0, sizeof(%s) * %lld);\n",
                          cx->p->mem[e].offset[cx->g->params.data[i]], cx->T,
                          (long long)ir_numel(&NODE(cx, cx->g->params.data[i])->shape));
    emit_calls(cx, e);
    int loss = e == ENTRY_LOSS ? cx->g->loss_eval : cx->g->loss;
    sb_printf(cx->c, "    m->last_loss = (%s)[0];\n    if (loss) *loss = m->last_loss;\n    return NNRT_OK;\n}\n",
              ptr(cx, e, loss));
}

/* ---- the optimizer ----------------------------------------------------- */

/* The update of one range, over pointers to the range's first element:
 * PREFIX_NAME_chunks(params) holds the loops, PREFIX_NAME_range(params)
 * calls it. restrict parameters and a loop in chunks of 16 counted from 0
 * (a fixed trip count) let gcc -O2 vectorize it; the remainder runs one by
 * one. With OpenMP, _range calls it in a parallel region when the range has
 * at least NNC_OMP_MIN elements, and its loops are orphaned `omp for`s, so
 * that they stay in the function with the restrict parameters (as
 * cgk_omp_for's do): the chunks are shared out (elementwise: the same
 * bits). range_open starts _chunks; after its constants, range_loops
 * writes the loops, step(cx) printing the statements for element i
 * (cg_sgd_step, cg_adam_step), and the wrapper (args: params' names). */
static void range_open(cg_ctx *cx, const char *what, const char *name, const char *params) {
    sb_printf(cx->c, "\n/* %s on n parameters */\nstatic void %s_%s_chunks(%s) {\n", what, cx->o->prefix, name, params);
}

static void range_loops(cg_ctx *cx, void (*step)(cg_ctx *cx), const char *name, const char *params, const char *args) {
    strbuf *c = cx->c;
    const char *P = cx->o->prefix;
    sb_puts(c, "#ifdef _OPENMP\n    #pragma omp for schedule(static) nowait\n#endif\n");
    sb_puts(c, "    for (long k = 0; k < n / 16; k++)\n    for (long v = 0; v < 16; v++) {\n"
               "        const long i = k * 16 + v;\n");
    step(cx);
    sb_puts(c, "    }\n#ifdef _OPENMP\n    #pragma omp for schedule(static) nowait\n#endif\n");
    sb_puts(c, "    for (long i = n / 16 * 16; i < n; i++) {\n");
    step(cx);
    sb_puts(c, "    }\n}\n");
    sb_printf(c, "\nstatic void %s_%s_range(%s) {\n", P, name, params);
    sb_printf(c, "#ifdef _OPENMP\n    #pragma omp parallel if (n >= %d)\n#endif\n", NNC_OMP_MIN);
    sb_printf(c, "    %s_%s_chunks(%s);\n}\n", P, name, args);
}

/* Calls fn(p + lo, g + lo, state + lo.., args, hi - lo) for every range;
 * nstate optimizer buffers (m->opt[0..nstate)), NULL for unused ones. */
static void range_calls(cg_ctx *cx, const char *fn, int nstate, int unused, const char *args) {
    size_t(*r)[2] = arena_alloc(cx->g->a, sizeof *r * (size_t)(cx->g->params.len + 1));
    int n = cg_grad_ranges(cx, r);
    for (int i = 0; i < n; i++) {
        sb_printf(cx->c, "    %s(m->params + %zu, m->grads + %zu, ", fn, r[i][0], r[i][0]);
        for (int k = 0; k < nstate; k++) sb_printf(cx->c, "m->opt[%d] + %zu, ", k, r[i][0]);
        for (int k = 0; k < unused; k++) sb_puts(cx->c, "NULL, ");
        sb_printf(cx->c, "%s, %zu);\n", args, r[i][1] - r[i][0]);
    }
}

static void sgd_step(cg_ctx *cx) { cg_sgd_step(cx, "step"); }

static void emit_sgd_range(cg_ctx *cx) {
    const char *T = cx->T;
    const char *params = arena_printf(cx->g->a, "%s *restrict p, const %s *restrict g, %s *restrict buf, "
                                                "const %s lr, const long step, const long n", T, T, T, T);
    range_open(cx, "SGD", "sgd", params);
    sb_printf(cx->c, "    const %s wd = (%s)%.17g;\n    (void)buf, (void)wd, (void)step;\n", T, T,
              cx->g->opt.weight_decay);
    range_loops(cx, sgd_step, "sgd", params, "p, g, buf, lr, step, n");
}

/* The optimizer's scalars for step number `step` (an expression), from
 * `rate`: SGD's lr; Adam's step_size, bc2_sqrt and decay. */
void cg_c_opt_scalars(cg_ctx *cx, const char *step) {
    const ir_optim *o = &cx->g->opt;
    strbuf *c = cx->c;
    const char *T = cx->T;
    if (o->kind == OPT_SGD) {
        sb_printf(c, "    const %s lr = (%s)rate;\n", T, T);
        return;
    }
    sb_printf(c, "    const double bc1 = 1 - pow(%.17g, (double)%s), bc2 = 1 - pow(%.17g, (double)%s);\n", o->beta1,
              step, o->beta2, step);
    sb_printf(c, "    const %s step_size = (%s)(rate / bc1), bc2_sqrt = (%s)sqrt(bc2);\n", T, T, T);
    sb_printf(c, "    const %s decay = (%s)(1 - rate * %.17g);\n", T, T, o->kind == OPT_ADAMW ? o->weight_decay : 0.0);
}

static void emit_sgd(cg_ctx *cx) {
    const char *P = cx->o->prefix;
    cg_c_opt_scalars(cx, "m->step");
    int mom = cg_opt_slots(cx);
    range_calls(cx, arena_printf(cx->g->a, "%s_sgd_range", P), mom, 1 - mom, "lr, m->step");
}

/* Adam and AdamW as PyTorch computes them (single-tensor path). */
static void emit_adam_range(cg_ctx *cx) {
    const char *T = cx->T;
    const char *params = arena_printf(cx->g->a, "%s *restrict p, const %s *restrict g, %s *restrict mo, "
                                                "%s *restrict ve, const %s step_size, const %s bc2_sqrt, "
                                                "const %s decay, const long n", T, T, T, T, T, T, T);
    range_open(cx, "Adam", "adam", params);
    cg_adam_consts(cx);
    sb_puts(cx->c, "    (void)wd, (void)decay;\n");
    range_loops(cx, cg_adam_step, "adam", params, "p, g, mo, ve, step_size, bc2_sqrt, decay, n");
}

static void emit_adam(cg_ctx *cx) {
    cg_c_opt_scalars(cx, "m->step");
    range_calls(cx, arena_printf(cx->g->a, "%s_adam_range", cx->o->prefix), 2, 0, "step_size, bc2_sqrt, decay");
}

/* Calls fn(m->grads + lo, hi - lo, args) for every range, as statements
 * (ind: the indent) "acc = fn(...)" when acc; returns how many. */
static int grad_range_calls(cg_ctx *cx, const char *ind, const char *acc, const char *fn, const char *args) {
    size_t(*r)[2] = arena_alloc(cx->g->a, sizeof *r * (size_t)(cx->g->params.len + 1));
    int n = cg_grad_ranges(cx, r);
    const char *sfx = cx->o->f64 ? "f64" : "f32";
    for (int i = 0; i < n; i++)
        sb_printf(cx->c, "%s%s%s%s_%s(m->grads + %zu, %zu, %s);\n", ind, acc ? acc : "", acc ? " = " : "", fn, sfx,
                  r[i][0], r[i][1] - r[i][0], args);
    return n;
}

/* P_clip: gradient clipping before the optimizer, by global norm
 * (torch.nn.utils.clip_grad_norm_: the norm summed in double over the
 * gradient buffer in order) or by value (clip_grad_value_). */
static void emit_clip(cg_ctx *cx) {
    strbuf *c = cx->c;
    const char *P = cx->o->prefix;
    sb_printf(c, "\n/* gradient clipping: by global L2 norm (clip_grad_norm_) or by value (clip_grad_value_) */\n");
    sb_printf(c, "static void %s_clip(%s *m) {\n", P, P);
    sb_puts(c, "    m->norm_known = m->sched.clip_norm > 0 || m->sched.clip_value > 0;\n");
    sb_puts(c, "    if (!m->norm_known) return;\n    double ss = 0;\n");
    grad_range_calls(cx, "    ", "ss", "nnrt_sumsq", "ss");
    sb_puts(c, "    m->grad_norm = sqrt(ss);\n");
    sb_puts(c, "    const double coef = m->sched.clip_norm > 0 ? m->sched.clip_norm / (m->grad_norm + 1e-6) : 1;\n");
    if (!grad_range_calls(cx, "    ", NULL, "nnrt_clip", "m->sched.clip_value, coef")) sb_puts(c, "    (void)coef;\n");
    sb_puts(c, "}\n");
}

/* P_lr, P_set_schedule, P_get_schedule, P_grad_norm. */
static void emit_sched_api(cg_ctx *cx) {
    strbuf *c = cx->c;
    const char *P = cx->o->prefix;
    cg_sched_getters(cx);
    sb_printf(c, "\nint %s_set_schedule(%s *m, const nnrt_sched *s) {\n    if (!m || !s) return NNRT_ERR_ARG;\n", P, P);
    sb_puts(c, "    int st = nnrt_sched_check(s, &m->error);\n");
    sb_puts(c, "    if (st == NNRT_OK) m->sched = *s;\n    return st;\n}\n");
    sb_printf(c, "\ndouble %s_grad_norm(const %s *m) {\n    if (!m) return 0;\n", P, P);
    sb_puts(c, "    if (m->norm_known) return m->grad_norm;\n    double ss = 0;\n");
    grad_range_calls(cx, "    ", "ss", "nnrt_sumsq", "ss");
    sb_puts(c, "    return sqrt(ss);\n}\n");
}

/* P_train_step: _forward_backward, then _update unless the loss is not
 * finite (one scalar test: a NaN or infinite loss would make every
 * parameter NaN). */
static void emit_train_step(cg_ctx *cx) {
    const char *P = cx->o->prefix;
    strbuf *c = cx->c;
    sb_printf(c, "\nint %s_train_step(%s *m", P, P);
    cg_io_params(cx, c, 1);
    sb_printf(c, ", %s *loss) {\n    int st = %s_forward_backward(m", cx->T, P);
    for (int i = 0; i < cx->g->inputs.len; i++)
        sb_printf(c, ", %s", cg_cname(cx, NODE(cx, cx->g->inputs.data[i])->name));
    for (int i = 0; i < cx->g->targets.len; i++)
        sb_printf(c, ", %s", cg_cname(cx, NODE(cx, cx->g->targets.data[i])->name));
    sb_puts(c, ", loss);\n    if (st != NNRT_OK) return st;\n");
    cg_loss_guard(cx, "    ");
    sb_printf(c, "    return %s_update(m);\n}\n", P);
}

/* P_input_grad's copy of gradient node id (the arena of the training entry). */
static void input_grad_copy(cg_ctx *cx, int id, const char *what) {
    sb_printf(cx->c, "        memcpy(out, %s, bytes); /* %s */\n", ptr(cx, ENTRY_TRAIN, id), what);
}

static void emit_training(cg_ctx *cx) {
    const char *P = cx->o->prefix, *T = cx->T;
    strbuf *c = cx->c;
    emit_loss_entry(cx, ENTRY_TRAIN, "forward_backward");
    if (cx->g->opt.kind == OPT_SGD) emit_sgd_range(cx);
    else emit_adam_range(cx);
    emit_clip(cx);
    sb_printf(c, "\nint %s_update(%s *m) {\n    if (!m) return NNRT_ERR_ARG;\n", P, P);
    sb_puts(c, "    const double rate = nnrt_sched_lr(&m->sched, m->lr, m->step);\n    m->step++;\n");
    sb_printf(c, "    %s_clip(m);\n", P);
    if (cx->g->opt.kind == OPT_SGD) emit_sgd(cx);
    else emit_adam(cx);
    sb_puts(c, "    return NNRT_OK;\n}\n");
    emit_train_step(cx);
    if (cg_has_input_grads(cx)) cg_input_grad_fn(cx, input_grad_copy, "return NNRT_OK;");
    sb_printf(c,
              "\n%s *%s_grads(%s *m, size_t *n) {\n    if (n) *n = %s_PARAM_ELEMS;\n"
              "    return m ? m->grads : NULL;\n}\n",
              T, P, P, cx->upper);
    cg_set_lr_head(cx);
    sb_puts(c, "    m->lr = lr;\n    return NNRT_OK;\n}\n");
    sb_printf(c, "\ndouble %s_get_lr(const %s *m) { return m ? m->lr : 0; }\n", P, P);
    emit_sched_api(cx);
    cg_c_dist_api(cx);
}

/* ---- parameters, save and load ----------------------------------------- */

/* P_save_checkpoint and P_load_checkpoint through libnnrt's nnrt_ckpt_*. */
static void emit_checkpoint(cg_ctx *cx) {
    const char *P = cx->o->prefix;
    strbuf *c = cx->c;
    cg_ckpt_model(cx);
    sb_printf(c, "\nint %s_save_checkpoint(const %s *m, const char *path, const char *extra) {\n", P, P);
    sb_puts(c, "    nnrt_err err;\n    if (!m || !path) return NNRT_ERR_ARG;\n");
    cg_ckpt_state_out(cx);
    sb_puts(c, "    const void *bufs[3] = {m->params, m->opt[0], m->opt[1]};\n");
    sb_printf(c, "    int s = nnrt_ckpt_save(path, &%s_ckpt, bufs, &ck, &err);\n", P);
    sb_printf(c, "    if (s != NNRT_OK) ((%s *)m)->error = err;\n    return s;\n}\n", P);
    sb_printf(c, "\nint %s_load_checkpoint(%s *m, const char *path, char *extra, size_t cap) {\n", P, P);
    sb_puts(c, "    nnrt_err err;\n    nnrt_ckpt_state ck;\n    if (!m || !path) return NNRT_ERR_ARG;\n");
    sb_puts(c, "    void *const bufs[3] = {m->params, m->opt[0], m->opt[1]};\n");
    sb_printf(c, "    int s = nnrt_ckpt_load(path, &%s_ckpt, bufs, &ck, &err);\n", P);
    sb_puts(c, "    if (s != NNRT_OK) {\n        m->error = err;\n        return s;\n    }\n");
    cg_ckpt_state_in(cx);
    sb_puts(c, "    return NNRT_OK;\n}\n");
}

/* P_load: the parameters from a safetensors file. */
static void emit_load(cg_ctx *cx) {
    const char *P = cx->o->prefix;
    sb_printf(cx->c,
              "\nint %s_load(%s *m, const char *path) {\n    nnrt_err err;\n"
              "    if (!m || !path) return NNRT_ERR_ARG;\n",
              P, P);
    sb_printf(cx->c, "    int st = nnrt_st_load(path, %s_param_table, %d, m->params, &err);\n", P, cx->g->params.len);
    sb_puts(cx->c, "    if (st != NNRT_OK) m->error = err;\n    return st;\n}\n");
}

/* P_load_partial: the parameters a safetensors file has, the missing and
 * unexpected names reported (libnnrt's nnrt_st_load_partial). */
static void emit_load_partial(cg_ctx *cx) {
    const char *P = cx->o->prefix;
    sb_printf(cx->c,
              "\nint %s_load_partial(%s *m, const char *path, const char *prefix_map, nnrt_name_fn report, "
              "void *ctx) {\n    nnrt_err err;\n    if (!m || !path) return NNRT_ERR_ARG;\n",
              P, P);
    sb_printf(cx->c,
              "    int st = nnrt_st_load_partial(path, %s_param_table, %d, m->params, prefix_map, report, ctx, NULL, "
              "&err);\n",
              P, cx->g->params.len);
    sb_puts(cx->c, "    if (st != NNRT_OK) m->error = err;\n    return st;\n}\n");
}

/* P_load_mem: the parameters from safetensors bytes in memory. */
static void emit_load_mem(cg_ctx *cx) {
    const char *P = cx->o->prefix;
    sb_printf(cx->c, "\nint %s_load_mem(%s *m, const void *buf, size_t n) {\n    nnrt_err err;\n", P, P);
    sb_puts(cx->c, "    if (!m || !buf) return NNRT_ERR_ARG;\n");
    sb_printf(cx->c, "    int st = nnrt_st_load_mem(buf, n, %s_param_table, %d, m->params, &err);\n", P,
              cx->g->params.len);
    sb_puts(cx->c, "    if (st != NNRT_OK) m->error = err;\n    return st;\n}\n");
}

/* --weights: the parameter buffer as one static const array, 8 values a
 * line (the plan's layout, its padding 0). */
static void emit_weights(cg_ctx *cx) {
    size_t n = cg_param_elems(cx), *lo = arena_alloc(cx->g->a, sizeof *lo * (size_t)(cx->g->params.len + 1));
    size_t *hi = arena_alloc(cx->g->a, sizeof *hi * (size_t)(cx->g->params.len + 1));
    int ns = cg_quant_spans(cx, lo, hi);
    sb_printf(cx->c, "\n/* the parameters, from --weights%s */\nstatic const %s %s_weights[%zu] = {",
              ns ? " (not the int8 layers' weights: those are below, in int8)" : "", cx->T, cx->o->prefix, n ? n : 1);
    for (size_t i = 0, j = 0; j < n; i++) {
        int skip = 0;
        for (int s = 0; s < ns; s++) skip |= i >= lo[s] && i < hi[s];
        if (skip) continue;
        sb_puts(cx->c, !j ? "\n    " : j % 8 ? ", " : ",\n    ");
        cg_literal(cx, cx->c, cx->o->weights[i]);
        j++;
    }
    sb_puts(cx->c, n ? "\n};\n" : "0};\n");
}

static void emit_last_error(cg_ctx *cx) {
    const char *P = cx->o->prefix;
    sb_printf(cx->c, "\nconst char *%s_last_error(const %s *m) { return m ? m->error.msg : \"no model\"; }\n", P, P);
}

static void emit_params_api(cg_ctx *cx) {
    const char *P = cx->o->prefix;
    strbuf *c = cx->c;
    int np = cg_f32_param_count(cx);
    cg_param_table(cx);
    if (cx->o->freestanding) return emit_last_error(cx);
    sb_printf(c,
              "\nint %s_save(const %s *m, const char *path) {\n    nnrt_err err;\n"
              "    if (!m || !path) return NNRT_ERR_ARG;\n",
              P, P);
    sb_printf(c, "    int st = nnrt_st_save(path, %s_param_table, %d, m->params, &err);\n", P, np);
    sb_printf(c,
              "    if (st != NNRT_OK) ((%s *)m)->error = err; /* the message is not part of the model's value */\n"
              "    return st;\n}\n",
              P);
    if (!cx->o->weights) emit_load(cx);
    if (!cx->o->weights) emit_load_partial(cx);
    if (cg_infer_only(cx) && !cx->o->weights) emit_load_mem(cx);
    if (cg_trainable(cx)) emit_checkpoint(cx);
    if (cx->o->calib_probe) cgq_save_calib(cx);
    emit_last_error(cx);
    sb_printf(c, "\nconst char *%s_status_str(int status) { return nnrt_status_str(status); }\n", P);
}

void c_api(cg_ctx *cx, strbuf *h) {
    emit_header(cx, h);
    if (cg_uses_op_flag(cx, OPF_INDEX)) cg_fail_fn(cx);
    if (!cx->o->freestanding) cg_finite_fn(cx);
    if (cx->p->has[ENTRY_FORWARD]) emit_forward(cx);
    if (cx->p->has[ENTRY_LOSS]) emit_loss_entry(cx, ENTRY_LOSS, "loss");
    if (cg_trainable(cx)) emit_training(cx);
    emit_lifecycle(cx);
    emit_params_api(cx);
    static const char *const fetch[3] = {NULL, NULL, NULL}, *const buf[2] = {"m->params", "m->grads"};
    if (!cx->o->freestanding) cg_check_finite(cx, fetch, buf);
    cg_generic_entries(cx);
}

void c_api_prelude(cg_ctx *cx) {
    emit_struct(cx);
    if (cg_trainable(cx)) cg_sched_const(cx);
    if (cx->o->weights) emit_weights(cx);
    else cg_param_data(cx);
    emit_consts(cx);
}
