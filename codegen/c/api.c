/* api.c — the generated API around the kernels: the model struct, memory
 * layout, parameter initialization, the entry points that run each
 * schedule, the optimizer update, and save/load through libnnrt.
 *
 * Memory (one block, ARENA_BYTES): [header | params | grads | optimizer
 * state | activations], each 64-byte aligned. Nothing is a global.
 */
#include "../cg.h"
#include "../cgapi.h"

#include <math.h>

enum { HEADER_BYTES = 1024 };

static size_t align64(size_t n) { return (n + 63) / 64 * 64; }
static size_t esize(cg_ctx *cx) { return cx->o->f64 ? 8 : 4; }
static ir_node *NODE(cg_ctx *cx, int id) { return cx->g->nodes.data[id]; }
int cga_opt_slots(cg_ctx *cx) {
    ir_optkind k = cx->g->opt.kind;
    return k == OPT_ADAM || k == OPT_ADAMW ? 2 : k == OPT_SGD && cx->g->opt.momentum != 0 ? 1 : 0;
}
int cga_trainable(cg_ctx *cx) { return cx->p->has[ENTRY_TRAIN] && cx->g->opt.kind != OPT_NONE; }

/* Byte offsets of the parts of the block. */
typedef struct layout {
    size_t params, grads, opt, act, total;
} layout;

static layout layout_of(cg_ctx *cx) {
    layout l;
    size_t pb = align64(cx->p->mem[ENTRY_FORWARD].param_elems * esize(cx));
    if (!pb) pb = align64(cx->p->mem[ENTRY_TRAIN].param_elems * esize(cx));
    int has_grads = cx->p->has[ENTRY_TRAIN];
    l.params = HEADER_BYTES;
    l.grads = l.params + pb;
    l.opt = l.grads + (has_grads ? pb : 0);
    l.act = l.opt + (size_t)cga_opt_slots(cx) * pb;
    l.total = l.act + align64(cx->p->arena_elems * esize(cx)) + 64; /* + 64: to align the caller's block */
    return l;
}

size_t cga_param_elems(cg_ctx *cx) {
    for (int e = 0; e < ENTRY_COUNT; e++)
        if (cx->p->has[e]) return cx->p->mem[e].param_elems;
    return 0;
}

/* ---- the header -------------------------------------------------------- */

static void upper_name(strbuf *h, const char *pre, const char *s) {
    sb_puts(h, pre);
    for (; *s; s++) sb_printf(h, "%c", *s >= 'a' && *s <= 'z' ? *s - 32 : (*s == '.' ? '_' : *s));
}

/* The C name of an input, target or output: its .nn name, with '_' added
 * when that would clash with C or with the generated code's own names. */
const char *cga_cname(cg_ctx *cx, const char *name) {
    int reserved = cg_is_reserved(name) || (cx->o->cuda && cu_is_reserved(name));
    return reserved ? arena_printf(cx->g->a, "%s_", name) : name;
}

const char *cga_ctype(cg_ctx *cx, const ir_node *n) { return n->dtype == DT_I32 ? "int32_t" : cx->T; }

/* ", const float *x, const int32_t *y" for the inputs (and targets). */
void cga_entry_proto(cg_ctx *cx, strbuf *h, const char *name, const char *extra, int with_targets, const char *note) {
    const char *P = cx->o->prefix, *T = cx->T;
    const ir_graph *g = cx->g;
    sb_printf(h, "int %s_%s(%s *m%s", P, name, P, extra);
    cga_io_params(cx, h, with_targets);
    if (with_targets) sb_printf(h, ", %s *loss", T);
    else
        for (int i = 0; i < g->outputs.len; i++) sb_printf(h, ", %s *%s", T, cga_cname(cx, g->output_names.data[i]));
    sb_printf(h, ");%s\n", note);
}

void cga_io_params(cg_ctx *cx, strbuf *b, int targets) {
    const ir_graph *g = cx->g;
    for (int i = 0; i < g->inputs.len; i++)
        sb_printf(b, ", const %s *%s", cga_ctype(cx, NODE(cx, g->inputs.data[i])), cga_cname(cx, NODE(cx, g->inputs.data[i])->name));
    for (int i = 0; targets && i < g->targets.len; i++)
        sb_printf(b, ", const %s *%s", cga_ctype(cx, NODE(cx, g->targets.data[i])), cga_cname(cx, NODE(cx, g->targets.data[i])->name));
}

static void protos(cg_ctx *cx, strbuf *h) {
    const char *P = cx->o->prefix, *T = cx->T;
    sb_printf(h, "typedef struct %s %s; /* all state: parameters, gradients, optimizer, activations */\n\n", P, P);
    sb_printf(h, "%s *%s_create(uint64_t seed);  /* malloc'd and initialized; NULL if out of memory */\n", P, P);
    sb_printf(h, "int %s_init(%s **m, void *mem, size_t bytes, uint64_t seed); /* in caller memory of %s_ARENA_BYTES, no malloc */\n", P, P, cx->upper);
    sb_printf(h, "void %s_free(%s *m);          /* frees what _create allocated; nothing for _init */\n", P, P);
    sb_printf(h, "int %s_reset(%s *m, uint64_t seed); /* fresh initial weights and optimizer state */\n", P, P);
    if (cx->p->has[ENTRY_FORWARD]) {
        sb_puts(h, "\n/* Inference: inputs in, outputs out (a NULL output is skipped). */\n");
        cga_entry_proto(cx, h, "forward", "", 0, "");
    }
    if (cx->p->has[ENTRY_LOSS]) {
        sb_puts(h, "/* The loss without gradients. */\n");
        cga_entry_proto(cx, h, "loss", "", 1, "");
    }
    if (cga_trainable(cx)) {
        sb_puts(h, "\n/* Training: _train_step = _forward_backward + _update. */\n");
        cga_entry_proto(cx, h, "train_step", "", 1, "");
        cga_entry_proto(cx, h, "forward_backward", "", 1, " /* overwrites the gradients */");
        sb_printf(h, "%s *%s_grads(%s *m, size_t *n); /* one contiguous buffer of %s_PARAM_ELEMS */\n", T, P, P, cx->upper);
        sb_printf(h, "int %s_update(%s *m);          /* one optimizer step from the gradients */\n", P, P);
        sb_printf(h, "int %s_set_lr(%s *m, double lr);\ndouble %s_get_lr(const %s *m);\n", P, P, P, P);
    }
    sb_printf(h, "\n/* The same entry points with arrays of pointers, in the order of\n * _io_info (inputs, then targets) and _output_info, for generic callers. */\n");
    sb_printf(h, "int %s_io_info(int i, nnrt_tensor_info *info);     /* %s_NUM_IO inputs and targets */\n", P, cx->upper);
    sb_printf(h, "int %s_output_info(int i, nnrt_tensor_info *info); /* %s_NUM_OUTPUTS outputs */\n", P, cx->upper);
    if (cx->p->has[ENTRY_FORWARD]) sb_printf(h, "int %s_forward_v(%s *m, const void *const *io, void *const *outputs);\n", P, P);
    if (cx->p->has[ENTRY_LOSS]) sb_printf(h, "int %s_loss_v(%s *m, const void *const *io, %s *loss);\n", P, P, T);
    if (cga_trainable(cx)) sb_printf(h, "int %s_forward_backward_v(%s *m, const void *const *io, %s *loss);\n", P, P, T);
    sb_printf(h, "\n%s *%s_params(%s *m, size_t *n); /* contiguous, %s_PARAM_ELEMS */\n", T, P, P, cx->upper);
    sb_printf(h, "int %s_param_info(int i, nnrt_tensor_info *info); /* name, shape, offset of parameter i */\n", P);
    sb_printf(h, "int %s_save(const %s *m, const char *path); /* safetensors, via path.tmp + rename */\n", P, P);
    sb_printf(h, "int %s_load(%s *m, const char *path);       /* all or nothing */\n", P, P);
    sb_printf(h, "const char *%s_last_error(const %s *m);    /* message of the last failed call */\n", P, P);
    sb_printf(h, "const char *%s_status_str(int status);\n", P);
}

void cga_size_macros(cg_ctx *cx, strbuf *h, size_t arena_bytes) {
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
        sb_printf(h, "_SIZE %lld /* output %s%s */\n", (long long)ir_numel(&n->shape), cx->T, ir_shape_str(g->a, &n->shape));
    }
    sb_printf(h, "#define %s_NUM_IO %d\n", cx->upper, g->inputs.len + g->targets.len);
    sb_printf(h, "#define %s_NUM_OUTPUTS %d\n", cx->upper, g->outputs.len);
    sb_printf(h, "#define %s_NUM_PARAMS %d\n", cx->upper, g->params.len);
    sb_printf(h, "#define %s_PARAM_ELEMS %zu\n", cx->upper, cga_param_elems(cx));
    sb_printf(h, "#define %s_ARENA_BYTES %zu /* exact, from the memory plan */\n", cx->upper, arena_bytes);
}

static void emit_header(cg_ctx *cx, strbuf *h) {
    sb_printf(h, "/* %s — generated by nnc from %s. Do not edit. */\n", cx->o->header, cx->o->source);
    sb_printf(h, "#ifndef %s_H\n#define %s_H\n\n", cx->upper, cx->upper);
    sb_puts(h, "#include <stddef.h>\n#include <stdint.h>\n\n#include \"nnrt.h\"\n\n");
    sb_puts(h, "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");
    cga_size_macros(cx, h, layout_of(cx).total);
    sb_puts(h, "\n");
    protos(cx, h);
    sb_puts(h, "\n#ifdef __cplusplus\n}\n#endif\n");
    sb_printf(h, "#endif /* %s_H */\n", cx->upper);
}

/* ---- the struct and memory -------------------------------------------- */

static void emit_struct(cg_ctx *cx) {
    strbuf *c = cx->c;
    const char *P = cx->o->prefix, *T = cx->T;
    sb_printf(c, "\nstruct %s {\n", P);
    sb_printf(c, "    %s *params;   /* %s_PARAM_ELEMS, contiguous */\n", T, cx->upper);
    sb_printf(c, "    %s *grads;    /* same layout as params */\n", T);
    sb_printf(c, "    %s *opt[2];   /* optimizer state: momentum, or Adam's two moments */\n", T);
    sb_printf(c, "    %s *act;      /* activations, offsets from the memory plan */\n", T);
    sb_puts(c, "    void *owned;      /* the block _create allocated, or NULL */\n");
    sb_puts(c, "    int64_t step;     /* optimizer steps taken */\n");
    sb_puts(c, "    uint64_t seed;    /* of the initial weights and of random ops */\n");
    sb_puts(c, "    uint64_t calls;   /* training passes so far: the random ops' counter */\n");
    sb_puts(c, "    double lr;        /* learning rate */\n");
    sb_puts(c, "    nnrt_err error;   /* message of the last failed call */\n};\n");
    sb_printf(c, "typedef char %s_header_fits[sizeof(struct %s) <= %d ? 1 : -1];\n", P, P, HEADER_BYTES);
}

static const char *init_comment(ir_init k) {
    static const char *const s[] = {"auto", "He normal", "Glorot uniform", "zeros", "ones", "fill", "uniform", "normal", "literal"};
    return s[k];
}

/* static const T name[n] = {...}; */
void cga_const_array(cg_ctx *cx, const char *name, const double *data, int64_t n) {
    sb_printf(cx->c, "static const %s %s[%lld] = {", cx->T, name, (long long)n);
    for (int64_t j = 0; j < n; j++) {
        if (j) sb_puts(cx->c, ", ");
        cg_literal(cx, cx->c, data[j]);
    }
    sb_puts(cx->c, "};\n");
}

void cga_param_data(cg_ctx *cx) {
    const ir_graph *g = cx->g;
    for (int i = 0; i < g->params.len; i++) {
        ir_node *n = NODE(cx, g->params.data[i]);
        if (n->init == INIT_DATA)
            cga_const_array(cx, arena_printf(cx->g->a, "%s_init%d", cx->o->prefix, i), n->data, ir_numel(&n->shape));
    }
}

void cga_init_param(cg_ctx *cx, int i, const char *base) {
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
        sb_printf(c, "    nnrt_init_he_%s(%s + %zu, %lld, %lld, seed, %d);\n", sfx, base, off, N, (long long)n->fan_in, i);
        break;
    case INIT_GLOROT:
        sb_printf(c, "    nnrt_init_glorot_%s(%s + %zu, %lld, %lld, %lld, seed, %d);\n", sfx, base, off, N,
                  (long long)n->fan_in, (long long)n->fan_out, i);
        break;
    case INIT_UNIFORM:
        sb_printf(c, "    nnrt_fill_uniform_%s(%s + %zu, %lld, %.17g, %.17g, seed, %d);\n", sfx, base, off, N, -n->fill, n->fill, i);
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
        sb_printf(c, "    memcpy(%s + %zu, %s_init%d, sizeof %s_init%d);\n", base, off, cx->o->prefix, i, cx->o->prefix, i);
        break;
    }
}

static void emit_lifecycle(cg_ctx *cx) {
    strbuf *c = cx->c;
    const char *P = cx->o->prefix;
    layout l = layout_of(cx);
    size_t pe = cga_param_elems(cx);
    sb_printf(c, "\nint %s_reset(%s *m, uint64_t seed) {\n    if (!m) return NNRT_ERR_ARG;\n", P, P);
    sb_printf(c, "    memset(m->params, 0, %zu - %d);\n", l.act, HEADER_BYTES);
    sb_printf(c, "    m->step = 0;\n    m->seed = seed;\n    m->calls = 0;\n    m->lr = %.17g;\n", cx->g->opt.lr);
    for (int i = 0; i < cx->g->params.len; i++) cga_init_param(cx, i, "m->params");
    sb_puts(c, "    return NNRT_OK;\n}\n");

    sb_printf(c, "\nint %s_init(%s **out, void *mem, size_t bytes, uint64_t seed) {\n", P, P);
    sb_printf(c, "    if (!out || !mem || bytes < %s_ARENA_BYTES) return NNRT_ERR_ARG;\n", cx->upper);
    sb_puts(c, "    unsigned char *base = (unsigned char *)mem + (64 - (uintptr_t)mem % 64) % 64;\n");
    sb_printf(c, "    %s *m = (%s *)(void *)base;\n    memset(m, 0, sizeof *m);\n", P, P);
    sb_printf(c, "    m->params = (%s *)(void *)(base + %zu);\n", cx->T, l.params);
    sb_printf(c, "    m->grads = (%s *)(void *)(base + %zu);\n", cx->T, l.grads);
    sb_printf(c, "    m->opt[0] = (%s *)(void *)(base + %zu);\n", cx->T, l.opt);
    sb_printf(c, "    m->opt[1] = (%s *)(void *)(base + %zu);\n", cx->T, l.opt + align64(pe * esize(cx)));
    sb_printf(c, "    m->act = (%s *)(void *)(base + %zu);\n", cx->T, l.act);
    sb_printf(c, "    *out = m;\n    return %s_reset(m, seed);\n}\n", P);

    sb_printf(c, "\n%s *%s_create(uint64_t seed) {\n    void *mem = malloc(%s_ARENA_BYTES);\n", P, P, cx->upper);
    sb_printf(c, "    %s *m = NULL;\n    if (!mem) return NULL;\n", P);
    sb_printf(c, "    if (%s_init(&m, mem, %s_ARENA_BYTES, seed) != NNRT_OK) {\n        free(mem);\n        return NULL;\n    }\n", P, cx->upper);
    sb_puts(c, "    m->owned = mem;\n    return m;\n}\n");
    sb_printf(c, "\nvoid %s_free(%s *m) {\n    if (m && m->owned) free(m->owned);\n}\n", P, P);
}

/* ---- entry points ------------------------------------------------------ */

/* The C expression for node id's buffer under plan e. */
static const char *ptr(cg_ctx *cx, ir_entry e, int id) {
    const mem_plan *mp = &cx->p->mem[e];
    ir_node *n = NODE(cx, id);
    arena *a = cx->g->a;
    switch (mp->region[id]) {
    case MEM_PARAM: return arena_printf(a, "m->params + %zu", mp->offset[id]);
    case MEM_GRAD: return arena_printf(a, "m->grads + %zu", mp->offset[id]);
    case MEM_ARENA: return arena_printf(a, "m->act + %zu", mp->offset[id]);
    case MEM_USER: return cga_cname(cx, n->name);
    case MEM_CONST: return arena_printf(a, "%s_c%d", cx->o->prefix, id);
    case MEM_NONE: break;
    }
    return "NULL";
}

static void emit_consts(cg_ctx *cx) {
    const ir_graph *g = cx->g;
    for (int i = 0; i < g->nodes.len; i++) {
        ir_node *n = g->nodes.data[i];
        int used = 0;
        for (int e = 0; e < ENTRY_COUNT; e++) used |= cx->p->has[e] && cx->p->sched[e].live[i];
        if (n->op == IR_CONST && used)
            cga_const_array(cx, arena_printf(cx->g->a, "%s_c%d", cx->o->prefix, i), n->data, ir_numel(&n->shape));
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
        sb_printf(cx->c, "            return fail(m, NNRT_ERR_RANGE, \"%s: %s %%ld at index %%ld is not in [0, %lld)\", (long)(%s)[i], i);\n",
                  ir_ops[n->op].name, NODE(cx, ix)->name ? NODE(cx, ix)->name : "index", bound, p);
    }
}

int cga_uses_rng(cg_ctx *cx, ir_entry e) {
    const ir_sched *s = &cx->p->sched[e];
    for (int t = 0; t < s->order.len; t++)
        if (ir_ops[NODE(cx, s->order.data[t])->op].flags & OPF_RNG) return 1;
    return 0;
}

/* The kernel calls of entry e; random ops draw from Philox(seed, counter)
 * where counter numbers the training calls. */
static void emit_calls(cg_ctx *cx, ir_entry e) {
    const ir_sched *s = &cx->p->sched[e];
    if (cga_uses_rng(cx, e)) sb_printf(cx->c, "    const uint64_t counter = %s;\n", e == ENTRY_TRAIN ? "m->calls++" : "m->calls");
    for (int t = 0; t < s->order.len; t++) {
        ir_node *n = NODE(cx, s->order.data[t]);
        sb_printf(cx->c, "    %s(", cg_kernel_name(cx, n));
        for (int j = 0; j < n->nin; j++) sb_printf(cx->c, "%s, ", ptr(cx, e, n->in[j]));
        if (ir_ops[n->op].flags & OPF_RNG) sb_puts(cx->c, "m->seed, counter, ");
        sb_printf(cx->c, "%s);\n", ptr(cx, e, n->id));
    }
}

void cga_null_checks(cg_ctx *cx, int targets) {
    const ir_graph *g = cx->g;
    sb_puts(cx->c, "    if (!m");
    for (int i = 0; i < g->inputs.len; i++) sb_printf(cx->c, " || !%s", cga_cname(cx, NODE(cx, g->inputs.data[i])->name));
    for (int i = 0; targets && i < g->targets.len; i++) sb_printf(cx->c, " || !%s", cga_cname(cx, NODE(cx, g->targets.data[i])->name));
    sb_puts(cx->c, ") return NNRT_ERR_ARG;\n");
}

static void copy_out(cg_ctx *cx, ir_entry e, const char *dst, int id) {
    sb_printf(cx->c, "    if (%s) memcpy(%s, %s, sizeof(%s) * %lld);\n", dst, dst, ptr(cx, e, id), cx->T,
              (long long)ir_numel(&NODE(cx, id)->shape));
}

static void emit_forward(cg_ctx *cx) {
    const char *P = cx->o->prefix;
    const ir_graph *g = cx->g;
    sb_printf(cx->c, "\nint %s_forward(%s *m", P, P);
    cga_io_params(cx, cx->c, 0);
    for (int i = 0; i < g->outputs.len; i++) sb_printf(cx->c, ", %s *%s", cx->T, cga_cname(cx, g->output_names.data[i]));
    sb_puts(cx->c, ") {\n");
    cga_null_checks(cx, 0);
    emit_index_checks(cx, ENTRY_FORWARD);
    emit_calls(cx, ENTRY_FORWARD);
    for (int i = 0; i < g->outputs.len; i++) copy_out(cx, ENTRY_FORWARD, cga_cname(cx, g->output_names.data[i]), g->outputs.data[i]);
    sb_puts(cx->c, "    return NNRT_OK;\n}\n");
}

static void emit_loss_entry(cg_ctx *cx, ir_entry e, const char *fname) {
    const char *P = cx->o->prefix;
    sb_printf(cx->c, "\nint %s_%s(%s *m", P, fname, P);
    cga_io_params(cx, cx->c, 1);
    sb_printf(cx->c, ", %s *loss) {\n", cx->T);
    cga_null_checks(cx, 1);
    emit_index_checks(cx, e);
    if (e == ENTRY_TRAIN) /* parameters that do not reach the loss get zero gradients */
        for (int i = 0; i < cx->g->grads.len; i++)
            if (cx->g->grads.data[i] < 0)
                sb_printf(cx->c, "    memset(m->grads + %zu, 0, sizeof(%s) * %lld);\n", cx->p->mem[e].offset[cx->g->params.data[i]],
                          cx->T, (long long)ir_numel(&NODE(cx, cx->g->params.data[i])->shape));
    emit_calls(cx, e);
    int loss = e == ENTRY_LOSS ? cx->g->loss_eval : cx->g->loss;
    sb_printf(cx->c, "    if (loss) *loss = (%s)[0];\n    return NNRT_OK;\n}\n", ptr(cx, e, loss));
}

/* ---- the optimizer ----------------------------------------------------- */

/* The update runs over the parameters that reach the loss; like
 * torch.optim, one without a gradient is left alone (no weight decay). The
 * ranges are runs of consecutive used parameters in the buffer: {lo, hi}
 * element offsets into r (room for one per parameter); returns how many. */
int cga_grad_ranges(cg_ctx *cx, size_t (*r)[2]) {
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

/* The update of one range, as a function of its own over pointers to the
 * range's first element: restrict parameters and a loop in chunks of 16
 * counted from 0 (a fixed trip count) let gcc -O2 vectorize it; the
 * remainder runs one by one. step(cx) prints the statements for element i
 * (cga_sgd_step, cga_adam_step). */
static void range_loops(cg_ctx *cx, void (*step)(cg_ctx *cx)) {
    strbuf *c = cx->c;
    sb_puts(c, "    for (long k = 0; k < n / 16; k++)\n    for (long v = 0; v < 16; v++) {\n        const long i = k * 16 + v;\n");
    step(cx);
    sb_puts(c, "    }\n    for (long i = n / 16 * 16; i < n; i++) {\n");
    step(cx);
    sb_puts(c, "    }\n}\n");
}

/* Calls fn(p + lo, g + lo, state + lo.., args, hi - lo) for every range;
 * nstate optimizer buffers (m->opt[0..nstate)), NULL for unused ones. */
static void range_calls(cg_ctx *cx, const char *fn, int nstate, int unused, const char *args) {
    size_t(*r)[2] = arena_alloc(cx->g->a, sizeof *r * (size_t)(cx->g->params.len + 1));
    int n = cga_grad_ranges(cx, r);
    for (int i = 0; i < n; i++) {
        sb_printf(cx->c, "    %s(m->params + %zu, m->grads + %zu, ", fn, r[i][0], r[i][0]);
        for (int k = 0; k < nstate; k++) sb_printf(cx->c, "m->opt[%d] + %zu, ", k, r[i][0]);
        for (int k = 0; k < unused; k++) sb_puts(cx->c, "NULL, ");
        sb_printf(cx->c, "%s, %zu);\n", args, r[i][1] - r[i][0]);
    }
}

static void sgd_step(cg_ctx *cx) { cga_sgd_step(cx, "step"); }

static void emit_sgd_range(cg_ctx *cx) {
    const char *P = cx->o->prefix, *T = cx->T;
    strbuf *c = cx->c;
    sb_printf(c, "\n/* SGD on n parameters */\nstatic void %s_sgd_range(%s *restrict p, const %s *restrict g, %s *restrict buf, ", P,
              T, T, T);
    sb_printf(c, "const %s lr, const long step, const long n) {\n", T);
    sb_printf(c, "    const %s wd = (%s)%.17g;\n    (void)buf, (void)wd, (void)step;\n", T, T, cx->g->opt.weight_decay);
    range_loops(cx, sgd_step);
}

static void emit_sgd(cg_ctx *cx) {
    const char *P = cx->o->prefix;
    sb_printf(cx->c, "    const %s lr = (%s)m->lr;\n", cx->T, cx->T);
    int mom = cga_opt_slots(cx);
    range_calls(cx, arena_printf(cx->g->a, "%s_sgd_range", P), mom, 1 - mom, "lr, m->step");
}

/* SGD on element i of p, g, buf with lr and wd in scope (8 spaces in). */
void cga_sgd_step(cg_ctx *cx, const char *step) {
    const ir_optim *o = &cx->g->opt;
    strbuf *c = cx->c;
    const char *T = cx->T;
    sb_printf(c, "        %s d = g[i] + wd * p[i];\n", T);
    if (o->momentum != 0) {
        sb_printf(c, "        buf[i] = %s == 1 ? d : (%s)%.17g * buf[i] + (%s)%.17g * d;\n", step, T, o->momentum, T, 1 - o->dampening);
        if (o->nesterov) sb_printf(c, "        d = d + (%s)%.17g * buf[i];\n", T, o->momentum);
        else sb_puts(c, "        d = buf[i];\n");
    }
    sb_puts(c, "        p[i] -= lr * d;\n");
}

/* Adam and AdamW as PyTorch computes them (single-tensor path). */
static void emit_adam_range(cg_ctx *cx) {
    const char *P = cx->o->prefix, *T = cx->T;
    strbuf *c = cx->c;
    sb_printf(c, "\n/* Adam on n parameters */\nstatic void %s_adam_range(%s *restrict p, const %s *restrict g, ", P, T, T);
    sb_printf(c, "%s *restrict mo, %s *restrict ve, const %s step_size, const %s bc2_sqrt, const %s decay, const long n) {\n",
              T, T, T, T, T);
    cga_adam_consts(cx);
    sb_puts(c, "    (void)wd, (void)decay;\n");
    range_loops(cx, cga_adam_step);
}

static void emit_adam(cg_ctx *cx) {
    const ir_optim *o = &cx->g->opt;
    strbuf *c = cx->c;
    const char *T = cx->T;
    int w = o->kind == OPT_ADAMW;
    sb_printf(c, "    const double bc1 = 1 - pow(%.17g, (double)m->step), bc2 = 1 - pow(%.17g, (double)m->step);\n", o->beta1, o->beta2);
    sb_printf(c, "    const %s step_size = (%s)(m->lr / bc1), bc2_sqrt = (%s)sqrt(bc2);\n", T, T, T);
    sb_printf(c, "    const %s decay = (%s)(1 - m->lr * %.17g);\n", T, T, w ? o->weight_decay : 0.0);
    range_calls(cx, arena_printf(cx->g->a, "%s_adam_range", cx->o->prefix), 2, 0, "step_size, bc2_sqrt, decay");
}

/* Adam's constants b1, b2, eps, wd, one_b1, one_b2 (4 spaces in). */
void cga_adam_consts(cg_ctx *cx) {
    const ir_optim *o = &cx->g->opt;
    const char *T = cx->T;
    /* 1 - beta is computed in double and rounded once, as PyTorch does:
     * (1 - 0.999f) in float would be off by 1.3e-5 relative */
    sb_printf(cx->c, "    const %s b1 = (%s)%.17g, b2 = (%s)%.17g, eps = (%s)%.17g, wd = (%s)%.17g;\n", T, T, o->beta1, T,
              o->beta2, T, o->eps, T, o->weight_decay);
    sb_printf(cx->c, "    const %s one_b1 = (%s)%.17g, one_b2 = (%s)%.17g;\n", T, T, 1 - o->beta1, T, 1 - o->beta2);
}

/* Adam(W) on element i of p, g, mo, ve with the constants, step_size,
 * bc2_sqrt and decay in scope (8 spaces in). */
void cga_adam_step(cg_ctx *cx) {
    strbuf *c = cx->c;
    if (cx->g->opt.kind == OPT_ADAMW) sb_printf(c, "        const %s d = g[i];\n        p[i] *= decay;\n", cx->T);
    else sb_printf(c, "        const %s d = g[i] + wd * p[i];\n", cx->T);
    sb_puts(c, "        mo[i] = b1 * mo[i] + one_b1 * d;\n");
    sb_puts(c, "        ve[i] = b2 * ve[i] + one_b2 * d * d;\n");
    sb_puts(c, "        p[i] -= step_size * mo[i] / (sqrt(ve[i]) / bc2_sqrt + eps);\n");
}

static void emit_training(cg_ctx *cx) {
    const char *P = cx->o->prefix, *T = cx->T;
    strbuf *c = cx->c;
    emit_loss_entry(cx, ENTRY_TRAIN, "forward_backward");
    if (cx->g->opt.kind == OPT_SGD) emit_sgd_range(cx);
    else emit_adam_range(cx);
    sb_printf(c, "\nint %s_update(%s *m) {\n    if (!m) return NNRT_ERR_ARG;\n    m->step++;\n", P, P);
    if (cx->g->opt.kind == OPT_SGD) emit_sgd(cx);
    else emit_adam(cx);
    sb_puts(c, "    return NNRT_OK;\n}\n");
    sb_printf(c, "\nint %s_train_step(%s *m", P, P);
    cga_io_params(cx, c, 1);
    sb_printf(c, ", %s *loss) {\n    int st = %s_forward_backward(m", T, P);
    for (int i = 0; i < cx->g->inputs.len; i++) sb_printf(c, ", %s", cga_cname(cx, NODE(cx, cx->g->inputs.data[i])->name));
    for (int i = 0; i < cx->g->targets.len; i++) sb_printf(c, ", %s", cga_cname(cx, NODE(cx, cx->g->targets.data[i])->name));
    sb_printf(c, ", loss);\n    return st != NNRT_OK ? st : %s_update(m);\n}\n", P);
    sb_printf(c, "\n%s *%s_grads(%s *m, size_t *n) {\n    if (n) *n = %s_PARAM_ELEMS;\n    return m ? m->grads : NULL;\n}\n", T, P, P, cx->upper);
    sb_printf(c, "\nint %s_set_lr(%s *m, double lr) {\n    if (!m || !(lr > 0)) return NNRT_ERR_ARG;\n    m->lr = lr;\n    return NNRT_OK;\n}\n", P, P);
    sb_printf(c, "\ndouble %s_get_lr(const %s *m) { return m ? m->lr : 0; }\n", P, P);
}

/* ---- parameters, save and load ----------------------------------------- */

void cga_param_table(cg_ctx *cx) {
    const ir_graph *g = cx->g;
    strbuf *c = cx->c;
    ir_entry e = cx->p->has[ENTRY_FORWARD] ? ENTRY_FORWARD : ENTRY_TRAIN;
    sb_printf(c, "\nstatic const nnrt_tensor_info %s_param_table[%d] = {\n", cx->o->prefix, g->params.len ? g->params.len : 1);
    for (int i = 0; i < g->params.len; i++) {
        ir_node *n = NODE(cx, g->params.data[i]);
        sb_printf(c, "    {\"%s\", %s, %d, {", n->name, cx->NNRT, n->shape.rank);
        for (int d = 0; d < n->shape.rank; d++) sb_printf(c, "%s%lld", d ? ", " : "", (long long)n->shape.d[d]);
        sb_printf(c, "}, %zu, %lld},\n", cx->p->mem[e].offset[n->id], (long long)ir_numel(&n->shape));
    }
    if (!g->params.len) sb_printf(c, "    {\"\", %s, 0, {0}, 0, 0},\n", cx->NNRT);
    sb_puts(c, "};\n");
}

static void emit_params_api(cg_ctx *cx) {
    const char *P = cx->o->prefix;
    strbuf *c = cx->c;
    int np = cx->g->params.len;
    cga_param_table(cx);
    sb_printf(c, "\nint %s_param_info(int i, nnrt_tensor_info *info) {\n", P);
    sb_printf(c, "    if (i < 0 || i >= %d || !info) return NNRT_ERR_RANGE;\n    *info = %s_param_table[i];\n    return NNRT_OK;\n}\n", np, P);
    sb_printf(c, "\n%s *%s_params(%s *m, size_t *n) {\n    if (n) *n = %s_PARAM_ELEMS;\n    return m ? m->params : NULL;\n}\n", cx->T, P, P, cx->upper);
    sb_printf(c, "\nint %s_save(const %s *m, const char *path) {\n    nnrt_err err;\n    if (!m || !path) return NNRT_ERR_ARG;\n", P, P);
    sb_printf(c, "    int st = nnrt_st_save(path, %s_param_table, %d, m->params, &err);\n", P, np);
    sb_printf(c, "    if (st != NNRT_OK) ((%s *)m)->error = err; /* the message is not part of the model's value */\n    return st;\n}\n", P);
    sb_printf(c, "\nint %s_load(%s *m, const char *path) {\n    nnrt_err err;\n    if (!m || !path) return NNRT_ERR_ARG;\n", P, P);
    sb_printf(c, "    int st = nnrt_st_load(path, %s_param_table, %d, m->params, &err);\n", P, np);
    sb_puts(c, "    if (st != NNRT_OK) m->error = err;\n    return st;\n}\n");
    sb_printf(c, "\nconst char *%s_last_error(const %s *m) { return m ? m->error.msg : \"no model\"; }\n", P, P);
    sb_printf(c, "\nconst char *%s_status_str(int status) { return nnrt_status_str(status); }\n", P);
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
    sb_printf(cx->c, "    if (i < 0 || i >= %d || !info) return NNRT_ERR_RANGE;\n    *info = %s_%s_table[i];\n    return NNRT_OK;\n}\n", n, P, what);
}

void cga_io_tables(cg_ctx *cx) {
    const ir_graph *g = cx->g;
    int nio = g->inputs.len + g->targets.len;
    sb_printf(cx->c, "\nstatic const nnrt_tensor_info %s_io_table[%d] = {\n", cx->o->prefix, nio ? nio : 1);
    for (int i = 0; i < nio; i++) {
        ir_node *n = NODE(cx, i < g->inputs.len ? g->inputs.data[i] : g->targets.data[i - g->inputs.len]);
        info_row(cx, n->name, n, 0);
    }
    if (!nio) sb_printf(cx->c, "    {\"\", %s, 0, {0}, 0, 0},\n", cx->NNRT);
    sb_puts(cx->c, "};\n");
    sb_printf(cx->c, "\nstatic const nnrt_tensor_info %s_output_table[%d] = {\n", cx->o->prefix, g->outputs.len ? g->outputs.len : 1);
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
        sb_printf(cx->c, ", (const %s *)io[%d]", cga_ctype(cx, n), i);
    }
    sb_printf(cx->c, "%s);\n}\n", last_args);
}

void cga_generic(cg_ctx *cx) {
    const ir_graph *g = cx->g;
    int nio = g->inputs.len + g->targets.len;
    cga_io_tables(cx);
    if (cx->p->has[ENTRY_FORWARD]) {
        strbuf outs;
        sb_init(&outs);
        for (int i = 0; i < g->outputs.len; i++) sb_printf(&outs, ", outputs ? (%s *)outputs[%d] : NULL", cx->T, i);
        emit_v(cx, "forward", g->inputs.len, "void *const *outputs", outs.s);
        sb_free(&outs);
    }
    const char *ld = arena_printf(g->a, "%s *loss", cx->T);
    if (cx->p->has[ENTRY_LOSS]) emit_v(cx, "loss", nio, ld, ", loss");
    if (cga_trainable(cx)) emit_v(cx, "forward_backward", nio, ld, ", loss");
}

/* fail(): record a message in the model and return the status. */
void cga_fail(cg_ctx *cx) {
    sb_printf(cx->c, "\nstatic int fail(%s *m, int status, const char *fmt, long a, long b) {\n", cx->o->prefix);
    sb_puts(cx->c, "    snprintf(m->error.msg, sizeof m->error.msg, fmt, a, b);\n    return status;\n}\n");
}

int cga_uses_index_checks(cg_ctx *cx) {
    for (int e = 0; e < ENTRY_COUNT; e++)
        for (int t = 0; cx->p->has[e] && t < cx->p->sched[e].order.len; t++)
            if (ir_ops[NODE(cx, cx->p->sched[e].order.data[t])->op].flags & OPF_INDEX) return 1;
    return 0;
}

void cg_api(cg_ctx *cx, strbuf *h) {
    emit_header(cx, h);
    if (cga_uses_index_checks(cx)) cga_fail(cx);
    if (cx->p->has[ENTRY_FORWARD]) emit_forward(cx);
    if (cx->p->has[ENTRY_LOSS]) emit_loss_entry(cx, ENTRY_LOSS, "loss");
    if (cga_trainable(cx)) emit_training(cx);
    emit_lifecycle(cx);
    emit_params_api(cx);
    cga_generic(cx);
}

void cg_api_prelude(cg_ctx *cx) {
    emit_struct(cx);
    cga_param_data(cx);
    emit_consts(cx);
}
