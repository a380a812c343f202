/* compile.c — the pipeline, one pass after another:
 *
 *   parse -> elaborate -> the passes of the table below -> plan -> check
 *   memory -> emit
 *
 * Each pass states what it needs and guarantees in its own file; the
 * verifier runs after each pass, and --print-after=PASS shows the IR
 * (nnc --print-passes lists them). Every shape's element count was checked
 * to fit 64 bits where it was made (elaboration, shape rules); the memory
 * check holds the plan's total against --max-memory, which bounds every
 * size the generated code is made with.
 */
#include "compile.h"
#include "../codegen/py/py.h"

#include <ctype.h>
#include <stdlib.h>

static FILE *mem_stream(strbuf *b, char **buf, size_t *len) {
    (void)b;
    return open_memstream(buf, len);
}

/* The in-memory stream f (from mem_stream) closed and appended to out;
 * 1 after "out of memory" on diag. */
static int mem_stream_done(FILE *f, char **buf, strbuf *out, FILE *diag) {
    int bad = ferror(f) != 0;
    bad |= fclose(f) != 0; /* sets *buf */
    if (!bad) sb_puts(out, *buf);
    else fprintf(diag, "nnc: error: out of memory while printing the output\n");
    free(*buf);
    return bad;
}

/* Run fn's printer into out; 1 after an error message. */
static int print_graph(const ir_graph *g, const ir_sched *s, int dot, strbuf *out, FILE *diag) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = mem_stream(out, &buf, &len);
    if (!f) return fprintf(diag, "nnc: error: out of memory while printing the output\n"), 1;
    if (dot) ir_print_dot(g, s, f);
    else ir_print(g, s, f);
    return mem_stream_done(f, &buf, out, diag);
}

static int verify(const ir_graph *g, const char *after, FILE *diag) {
    int bad = ir_verify(g, diag);
    if (bad) fprintf(diag, "nnc: internal error: the IR is malformed after %s\n", after);
    return bad;
}

static void after(const nnc_options *o, const char *pass, const ir_graph *g, FILE *diag) {
    if (!o->print_after || strcmp(o->print_after, pass)) return;
    strbuf b;
    ir_sched live;
    sb_init(&b);
    ir_schedule_all(g, &live);
    if (!print_graph(g, &live, 0, &b, diag)) fprintf(diag, "; IR after %s\n%s", pass, b.s);
    sb_free(&b);
}

static void print_kernels(const ir_program *p, strbuf *out) {
    static const char *const names[] = {"forward", "loss", "train"};
    for (int e = 0; e < ENTRY_COUNT; e++) {
        if (!p->has[e]) continue;
        sb_printf(out, "%s: %d kernels\n", names[e], p->mem[e].kernels);
        for (int t = 0; t < p->sched[e].order.len; t++) {
            const ir_node *n = p->g->nodes.data[p->sched[e].order.data[t]];
            sb_printf(out, "  k%d_%s %s%s\n", n->id, ir_ops[n->op].name, ir_shape_str(p->g->a, &n->shape),
                      mem_is_view(p->g, &p->mem[e], n->id) ? " (a view of its input: no kernel)" : "");
        }
    }
}

/* Bytes of forward values the backward reads: what training keeps. */
static size_t kept_for_backward(const ir_program *p) {
    const ir_graph *g = p->g;
    const ir_sched *s = &p->sched[ENTRY_TRAIN];
    char *kept = calloc((size_t)g->nodes.len, 1);
    size_t elems = 0;
    for (int t = 0; kept && t < s->order.len; t++) {
        const ir_node *n = g->nodes.data[s->order.data[t]];
        if (!n->is_grad) continue;
        for (int j = 0; j < n->nin; j++) {
            const ir_node *x = g->nodes.data[n->in[j]];
            if (x->is_grad || kept[x->id] || p->mem[ENTRY_TRAIN].region[x->id] != MEM_ARENA) continue;
            kept[x->id] = 1;
            elems += (size_t)ir_numel(&x->shape);
        }
    }
    free(kept);
    return elems;
}

/* --stats: bytes the estimate of the forward's stack adds to the largest
 * local arrays, for the frames of forward -> kernel -> GEMM -> epilogue
 * (scalars, saved registers, the GEMM's register tiles) */
#define STACK_FRAMES_ALLOWANCE 4096

/* unfused: kernel counts per entry point before fusion (NULL: no fusion ran) */
static void print_stats(const nnc_options *o, const ir_program *p, const int *unfused, FILE *diag) {
    static const char *const names[] = {"forward", "loss", "train"};
    size_t es = o->f64 ? 8 : 4;
    if (p->g->objective) fprintf(diag, "model %s, objective %s\n", p->g->name, p->g->objective);
    else fprintf(diag, "model %s\n", p->g->name);
    for (int e = 0; e < ENTRY_COUNT; e++) {
        if (!p->has[e]) continue;
        const mem_plan *m = &p->mem[e];
        fprintf(diag, "  %-8s arena %zu bytes, naive sum %zu bytes (%.1f%%), %d kernels", names[e], m->arena_elems * es,
                m->naive_elems * es, m->naive_elems ? 100.0 * (double)m->arena_elems / (double)m->naive_elems : 100.0,
                m->kernels);
        if (unfused) fprintf(diag, " (%d before fusion)", unfused[e]);
        fputc('\n', diag);
    }
    if (p->has[ENTRY_TRAIN]) fprintf(diag, "  kept for backward %zu bytes\n", kept_for_backward(p) * es);
    size_t pe = p->has[ENTRY_TRAIN] ? p->mem[ENTRY_TRAIN].param_elems : p->mem[ENTRY_FORWARD].param_elems;
    fprintf(diag, "  params   %d tensors, %zu bytes%s\n", p->g->params.len, pe * es,
            o->weights ? " in static const arrays (--weights), not in the arena" : "");
}

/* ---- --stats: the forward's stack, estimated from the generated C --------- */

/* Bytes of one element of a type the kernels declare local arrays of (long:
 * 8, its LP64 size); 0: not such a type. */
static size_t ctype_bytes(const char *s, size_t n) {
    static const struct { const char *name; size_t bytes; } t[] = {
        {"float", 4},   {"double", 8},  {"long", 8},    {"int", 4},     {"int8_t", 1},
        {"uint8_t", 1}, {"int32_t", 4}, {"uint32_t", 4}, {"int64_t", 8}, {"size_t", 8}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strlen(t[i].name) == n && !memcmp(s, t[i].name, n)) return t[i].bytes;
    return 0;
}

#define C_NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789"

/* The bytes of the arrays that an indented line such as
 * "    float xp[976], yb[2592];" declares (0 for any other line). */
static size_t line_arrays(const char *s) {
    if (*s != ' ') return 0;
    s += strspn(s, " ");
    size_t tn = strspn(s, C_NAME_CHARS), es = ctype_bytes(s, tn), total = 0;
    if (!es || s[tn] != ' ') return 0;
    for (s += tn + 1;; s += strspn(s, ", ")) {
        s += strspn(s, C_NAME_CHARS);
        size_t e = *s == '[' ? es : 0; /* no [N]: a scalar */
        while (*s == '[') {
            char *end;
            e *= (size_t)strtoull(s + 1, &end, 10);
            if (end == s + 1 || *end != ']') return 0;
            s = end + 1;
        }
        total += e;
        if (*s != ',') break;
    }
    return *s == ';' || *s == ' ' ? total : 0;
}

/* The largest sum of the local arrays of one function of the generated C
 * (of one branch of an #if/#elif chain, the one compiled; struct fields
 * not counted). */
static size_t largest_local_arrays(const strbuf *c) {
    size_t best = 0, sum = 0, base[8] = {0}; /* base[d]: the sum where the #if of depth d began */
    int in_struct = 0, depth = 0;
    for (const char *s = c->s; s && *s; s = strchr(s, '\n'), s = s ? s + 1 : NULL) {
        if (*s == '}') sum = 0, in_struct = 0;
        else if (!strncmp(s, "typedef struct", 14) || !strncmp(s, "struct ", 7)) in_struct = 1;
        else if (!strncmp(s, "#if", 3)) base[depth < 8 ? depth : 7] = sum, depth++;
        else if (!strncmp(s, "#el", 3) && depth) sum = base[depth <= 8 ? depth - 1 : 7];
        else if (!strncmp(s, "#endif", 6) && depth) depth--;
        else if (!in_struct) sum += line_arrays(s);
        if (sum > best) best = sum;
    }
    return best;
}

/* --stats for C output: an estimate of the forward's stack high-water mark
 * (the largest local arrays of a function plus STACK_FRAMES_ALLOWANCE for
 * the frames of the call chain), and how to measure it exactly. */
static void print_stack(const nnc_options *o, const ir_graph *g, const strbuf *c, FILE *diag) {
    size_t locals = largest_local_arrays(c);
    int gemm = strstr(c->s, "nnrt_sgemm") || strstr(c->s, "nnrt_dgemm");
    fprintf(diag, "  stack    the forward's high-water mark, estimated: %zu bytes (largest local arrays of a kernel "
                  "%zu + %d for the frames of the call chain)%s\n",
            locals + STACK_FRAMES_ALLOWANCE, locals, STACK_FRAMES_ALLOWANCE,
            gemm && !o->freestanding ? ", plus libnnrt's GEMM packing workspace on the stack (hosted libnnrt: up to "
                                        "192 KiB; none with --freestanding)" : "");
    fprintf(diag, "  stack    to measure it: compile the model and runtime/gemm.c, gemm_dispatch.c "
                  "with -fcallgraph-info=su, then scripts/stack-usage.py %s_forward *.ci\n",
            o->prefix ? o->prefix : g->name);
}

/* ---- the memory limit ---------------------------------------------------- */

int nnc_parse_bytes(const char *s, uint64_t *out) {
    static const char units[4] = {'K', 'M', 'G', 'T'};
    size_t n = strspn(s, "0123456789");
    int shift = 0;
    if (!n || n > 19) return -1;
    if (s[n]) { /* one suffix, either case */
        const char *u = memchr(units, toupper((unsigned char)s[n]), sizeof units);
        if (!u || s[n + 1]) return -1;
        shift = 10 * (int)(u - units + 1);
    }
    uint64_t v = strtoull(s, NULL, 10);
    if (v == 0 || v > NNC_MAX_MEMORY_MAX >> shift) return -1;
    *out = v << shift;
    return 0;
}

/* "64.0 TiB", "512 bytes" */
static const char *human_bytes(arena *a, uint64_t n) {
    static const char *const unit[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (n < 1024) return arena_printf(a, "%llu bytes", (unsigned long long)n);
    double v = (double)n / 1024;
    int k = 0;
    while (v >= 1024 && k < 5) v /= 1024, k++;
    return arena_printf(a, "%.1f %s", v, unit[k]);
}

/* What a tensor counted in the need is, for the notes. */
static int counted(const ir_graph *g, const ir_sched *live, int id) {
    const ir_node *n = g->nodes.data[id];
    if (n->op == IR_PARAM || n->op == IR_INPUT) return 1;
    return n->op != IR_CONST && !n->is_grad && live->live[id];
}

/* Up to 3 of the largest tensors the need counts, by element count. */
static int largest_tensors(const ir_graph *g, int *ids) {
    ir_sched live;
    int k = 0;
    ir_schedule_all(g, &live);
    for (int i = 0; i < g->nodes.len; i++) {
        if (!counted(g, &live, i)) continue;
        int j = k < 3 ? k++ : 3;
        for (; j > 0 && ir_numel(&g->nodes.data[ids[j - 1]]->shape) < ir_numel(&g->nodes.data[i]->shape); j--)
            if (j < 3) ids[j] = ids[j - 1];
        if (j < 3) ids[j] = i;
    }
    return k;
}

/* A note at each of the largest tensors: its name (or op) and size. */
static void note_largest(const ir_graph *g, size_t esize, diag_ctx *d) {
    int ids[3], k = largest_tensors(g, ids);
    for (int i = 0; i < k; i++) {
        const ir_node *n = g->nodes.data[ids[i]];
        uint64_t k = (uint64_t)ir_numel(&n->shape);
        size_t bytes = ck_mul_sat(k > SIZE_MAX ? SIZE_MAX : (size_t)k, n->dtype == DT_I32 ? 4 : esize);
        const char *what = n->name ? arena_printf(g->a, "'%s'", n->name)
                                   : arena_printf(g->a, "this %s result", ir_ops[n->op].name);
        diag_note(d, n->loc, "%s %s %s%s, %llu bytes (%s)", i ? "then" : "the largest tensor is", what,
                  n->dtype == DT_I32 ? "i32" : "f32", ir_shape_str(g->a, &n->shape), (unsigned long long)bytes,
                  human_bytes(g->a, bytes));
    }
}

/* The need of g (from the plans of p, or a lower bound with p NULL) held
 * against the limit: 0, or 1 after an error naming the total, its parts
 * and the largest tensors. */
static int check_memory(const nnc_options *o, const ir_graph *g, const ir_program *p, diag_ctx *d) {
    uint64_t limit = o->max_memory ? o->max_memory : NNC_MAX_MEMORY_DEFAULT;
    size_t esize = o->f64 ? 8 : 4;
    mem_need m;
    mem_need_of(g, p, esize, &m);
    if (m.total != SIZE_MAX && (uint64_t)m.total <= limit) return 0;
    const char *total = m.total == SIZE_MAX ? arena_printf(g->a, "more than %zu bytes", m.total)
                                            : arena_printf(g->a, "%s%zu bytes (%s)", p ? "" : "at least ", m.total,
                                                           human_bytes(g->a, m.total));
    int slots = ir_opt_slots(&g->opt);
    const char *copies = m.copies == 1 ? ""
                                       : arena_printf(g->a, " x %d (values%s%s)", m.copies,
                                                      m.copies > 1 + slots ? ", gradients" : "",
                                                      slots ? ", optimizer state" : "");
    diag_plain(d, "model '%s' needs %s, more than the memory limit of %llu bytes (%s; --max-memory changes it): "
               "parameters %zu bytes%s, activations %zu, inputs and targets %zu",
               g->name, total, (unsigned long long)limit, human_bytes(g->a, limit), m.params, copies, m.act, m.io);
    note_largest(g, esize, d);
    return 1;
}

/* ---- the passes ---------------------------------------------------------- */

/* What a pass needs besides its -O level. */
enum {
    NEEDS_PROGRAM = 1,  /* the whole pipeline: --emit=ir shows the forward graph before it */
    NEEDS_TRAINING = 2, /* the model trains: a loss and an optimizer */
    NEEDS_FUSION = 4    /* fusion is on: not --no-fuse */
};

typedef struct nnc_pass {
    const char *name; /* for --print-after */
    int (*run)(ir_graph *g);
    int min_opt;      /* the lowest -O level that runs it */
    int needs;        /* NEEDS_* */
    const char *what;
} nnc_pass;

static int run_autodiff(ir_graph *g) {
    ad_backward(g);
    return 0;
}

/* Elaboration makes the graph; these run on it in order. */
static const nnc_pass passes[] = {
    {"fold", pass_fold, 1, 0, "fold ops of constants into constants"},
    {"cse", pass_cse, 1, 0, "merge nodes that compute the same value"},
    {"autodiff", run_autodiff, 0, NEEDS_PROGRAM | NEEDS_TRAINING, "append the backward graph"},
    {"fold-backward", pass_fold, 1, NEEDS_PROGRAM | NEEDS_TRAINING, "fold again, the backward graph included"},
    {"cse-backward", pass_cse, 1, NEEDS_PROGRAM | NEEDS_TRAINING, "merge again, the backward graph included"},
    {"simplify", pass_simplify, 1, NEEDS_PROGRAM | NEEDS_FUSION, "relu_grad reads relu's output, so x can fuse"},
    {"fuse", pass_fuse, 1, NEEDS_PROGRAM | NEEDS_FUSION, "elementwise trees and GEMM epilogues into one kernel"},
};
enum { NPASSES = sizeof passes / sizeof passes[0] };

void nnc_print_passes(FILE *out) {
    const char *forward = "elab"; /* the last pass --emit=ir runs */
    for (int i = 0; i < NPASSES; i++)
        if (!(passes[i].needs & NEEDS_PROGRAM)) forward = passes[i].name;
    fprintf(out, "passes in order (--print-after=NAME prints the IR after one; --emit=ir stops after %s):\n", forward);
    fprintf(out, "  %-14s -O0  always    parse and elaborate: the source as a graph\n", "elab");
    for (int i = 0; i < NPASSES; i++) {
        const nnc_pass *p = &passes[i];
        const char *when = p->needs & NEEDS_TRAINING ? "training" : p->needs & NEEDS_FUSION ? "fusion" : "always";
        fprintf(out, "  %-14s -O%d  %-9s %s\n", p->name, p->min_opt, when, p->what);
    }
    fprintf(out, "(-On: from that level up; training: the model has a loss and an optimizer; fusion: not --no-fuse)\n");
}

const char *nnc_print_after_error(const char *name, arena *a) {
    strbuf b;
    sb_init(&b);
    sb_puts(&b, "elab");
    int known = !strcmp(name, "elab");
    for (int i = 0; i < NPASSES; i++) {
        sb_printf(&b, ", %s", passes[i].name);
        known |= !strcmp(name, passes[i].name);
    }
    const char *msg = known ? NULL : arena_printf(a, "unknown pass '%s' for --print-after (%s)", name, b.s);
    sb_free(&b);
    return msg;
}

static int pass_runs(const nnc_options *o, const ir_graph *g, const nnc_pass *p) {
    if (o->opt_level < p->min_opt) return 0;
    if ((p->needs & NEEDS_PROGRAM) && (o->emit == EMIT_IR || o->emit == EMIT_TORCH)) return 0;
    if ((p->needs & NEEDS_TRAINING) && (g->loss < 0 || g->opt.kind == OPT_NONE)) return 0;
    return !(p->needs & NEEDS_FUSION) || (!o->no_fuse && o->emit != EMIT_ONNX);
}

/* Kernel counts per entry point (for --stats, before fusion). */
static void count_kernels(ir_graph *g, int *kernels) {
    ir_program p;
    ir_program_build(g, &p);
    for (int e = 0; e < ENTRY_COUNT; e++) kernels[e] = p.sched[e].order.len;
}

/* Run the passes that apply, verifying the IR after each. Returns -1 if it
 * is malformed, else 1 when --stats counted the kernels before fusion into
 * unfused, or 0. */
static int run_passes(const nnc_options *o, ir_graph *g, int *unfused, FILE *diag) {
    int counted = 0;
    for (int i = 0; i < NPASSES; i++) {
        const nnc_pass *p = &passes[i];
        if (!pass_runs(o, g, p)) continue;
        if ((p->needs & NEEDS_FUSION) && o->stats && !counted) count_kernels(g, unfused), counted = 1;
        p->run(g);
        if (verify(g, p->name, diag)) return -1;
        after(o, p->name, g, diag);
    }
    return counted;
}

/* 1 for a build of the forward pass alone: --infer-only, --weights, the
 * torch mirror and the ONNX export. */
static int infers(const nnc_options *o) {
    return o->infer_only || o->weights || o->emit == EMIT_TORCH || o->emit == EMIT_ONNX;
}

/* --infer-only (and --weights, --emit=torch, --emit=onnx): the model as if it
 * had no loss, no train statement and no targets, so no pass, plan or emitter
 * sees training; 0, or 1 after an error when it has no output. */
static int strip_training(const nnc_options *o, ir_graph *g, FILE *diag) {
    if (!infers(o)) return 0;
    if (!g->outputs.len) {
        fprintf(diag, "nnc: error: %s: %s: model '%s' has no output to infer\n", o->file,
                o->emit == EMIT_TORCH ? "--emit=torch" : o->emit == EMIT_ONNX ? "--emit=onnx" : "--infer-only",
                g->name);
        return 1;
    }
    g->loss = -1;
    g->loss_eval = -1;
    g->objective = NULL;
    g->opt.kind = OPT_NONE;
    g->targets.len = 0;
    return 0;
}

/* --weights (the C target, without --main): the parameters read from
 * o->weights in the plan's layout (padding zero), rounded to the element
 * type, into co->weights; 0, or 1 after one line naming the file and what
 * is wrong. */
/* The parameters as p's forward plan lays them out, in the element type. */
static nnrt_tensor_info *param_infos(const nnc_options *o, const ir_program *p) {
    const ir_graph *g = p->g;
    const mem_plan *m = &p->mem[ENTRY_FORWARD];
    int np = g->params.len, dt = o->f64 ? NNRT_F64 : NNRT_F32;
    nnrt_tensor_info *t = arena_alloc(g->a, sizeof *t * (size_t)(np + 1));
    for (int i = 0; i < np; i++) {
        const ir_node *n = g->nodes.data[g->params.data[i]];
        t[i] = (nnrt_tensor_info){n->name, dt, n->shape.rank, {0}, m->offset[n->id], (size_t)ir_numel(&n->shape)};
        for (int k = 0; k < n->shape.rank; k++) t[i].shape[k] = n->shape.d[k];
    }
    return t;
}

/* 0 if --weights goes with the other options, else 1 after an error. */
static int weights_usable(const nnc_options *o, const cg_options *co, FILE *diag) {
    if (!o->st_load || strcmp(co->target->name, "c")) {
        fprintf(diag, "nnc: error: --weights is for the C target (embedded weights are static const C arrays)\n");
        return 1;
    }
    if (!o->emit_main) return 0;
    fprintf(diag, "nnc: error: --main with --weights: the trainer loads its weights (--load W); "
                  "build it without --weights\n");
    return 1;
}

/* The values of --weights at the offsets of p's forward plan, as doubles (in the graph's arena);
 * NULL after one line naming the file and what is wrong. */
static double *weight_values(const nnc_options *o, const ir_program *p, FILE *diag) {
    const ir_graph *g = p->g;
    const mem_plan *m = &p->mem[ENTRY_FORWARD];
    int np = g->params.len;
    nnrt_tensor_info *t = param_infos(o, p);
    size_t es = o->f64 ? 8 : 4, count = m->param_elems;
    unsigned char *buf = calloc(count ? count : 1, es);
    nnrt_err err = {{0}};
    int st = buf ? o->st_load(o->weights, t, np, buf, &err) : NNRT_ERR_NOMEM;
    if (st != NNRT_OK) {
        fprintf(diag, "nnc: error: %s\n", buf ? err.msg : "out of memory for the weights");
        free(buf);
        return NULL;
    }
    double *v = arena_alloc(g->a, sizeof *v * (count ? count : 1));
    for (size_t i = 0; i < count; i++) {
        float f;
        if (o->f64) memcpy(v + i, buf + 8 * i, 8);
        else memcpy(&f, buf + 4 * i, 4), v[i] = f;
    }
    free(buf);
    return v;
}

static int read_weights(const nnc_options *o, const ir_program *p, cg_options *co, FILE *diag) {
    if (weights_usable(o, co, diag)) return 1;
    return !(co->weights = weight_values(o, p, diag));
}

/* --emit=onnx: the forward pass with --weights's values (or the initial ones) by o->onnx_export. */
static int write_onnx(const nnc_options *o, const ir_program *p, strbuf *out, diag_ctx *d) {
    const char *no = !o->onnx_export ? "this nnc was built without ONNX export"
                     : o->f64        ? "ONNX models are written in f32; drop --dtype=f64"
                     : o->weights && !o->st_load ? "--weights cannot be read here" : NULL;
    if (no) return fprintf(d->out, "nnc: error: --emit=onnx: %s\n", no), 1;
    const double *w = NULL;
    if (o->weights && !(w = weight_values(o, p, d->out))) return 1;
    return o->onnx_export(p, w, out, d);
}

/* What --emit=dot draws: the forward pass, else the loss's, else training. */
static ir_entry dot_entry(const ir_program *p) {
    return p->has[ENTRY_FORWARD] ? ENTRY_FORWARD : p->has[ENTRY_LOSS] ? ENTRY_LOSS : ENTRY_TRAIN;
}

/* 0 if --freestanding can build p, else 1 after an error: it needs
 * --weights, and no op whose index check formats a message (snprintf). */
static int freestanding_unusable(const nnc_options *o, const ir_program *p, FILE *diag) {
    if (!o->weights) {
        fprintf(diag, "nnc: error: --freestanding needs --weights W.safetensors (a freestanding model neither "
                      "loads nor initializes its weights)\n");
        return 1;
    }
    const ir_sched *s = &p->sched[ENTRY_FORWARD];
    for (int t = 0; t < s->order.len; t++) {
        const ir_node *n = p->g->nodes.data[s->order.data[t]];
        if (!(ir_ops[n->op].flags & OPF_INDEX)) continue;
        fprintf(diag, "nnc: error: --freestanding: model '%s' uses %s, whose index check formats its message "
                      "with snprintf; build it hosted\n", p->g->name, ir_ops[n->op].name);
        return 1;
    }
    return 0;
}

/* What is wrong with --quantize int8 and --calibrate among the other
 * options, or NULL. */
static const char *quant_option_error(const nnc_options *o) {
    const cg_target *t = o->target ? o->target : cg_targets;
    if (o->calibrate && !o->quantize) return "--calibrate goes with --quantize int8";
    if (strcmp(t->name, "c")) return "--quantize int8 is for the C target (the CUDA target has no int8 kernels)";
    if (o->f64) return "--quantize int8 quantizes an f32 model, not --dtype f64";
    if (o->emit_main && o->calibrate)
        return "--main --quantize int8 builds the calibrating trainer ('prog calibrate'); --calibrate FILE is for "
               "the inference build with --weights";
    if (!o->emit_main && (!o->weights || !o->calibrate))
        return "--quantize int8 needs --weights W.safetensors and --calibrate FILE (written by 'prog calibrate', a "
               "trainer built with --main --quantize int8)";
    return NULL;
}

/* The weight parameters of p's int8 layers (cg_quant_layer) in the forward
 * schedule, each once, into ids; their number, or -1 after an error when
 * there is none. */
static int quant_weight_ids(const ir_program *p, int *ids, FILE *diag) {
    const ir_sched *s = &p->sched[ENTRY_FORWARD];
    int n = 0;
    for (int t = 0; t < s->order.len; t++) {
        const ir_node *k = p->g->nodes.data[s->order.data[t]];
        int w = k->in[1], seen = 0;
        if (!cg_quant_layer(p->g, k)) continue;
        for (int i = 0; i < n; i++) seen |= ids[i] == w;
        if (!seen) ids[n++] = w;
    }
    if (!n)
        fprintf(diag, "nnc: error: --quantize int8: model '%s' has no dense or conv2d layer to quantize\n",
                p->g->name);
    return n ? n : -1;
}

/* --calibrate FILE: the tensor "WEIGHT.input_absmax" (f32 [1]) of each int8
 * layer's weight, finite and >= 0, into co->quant_absmax by node id. */
static int read_calibration(const nnc_options *o, const ir_program *p, cg_options *co, FILE *diag) {
    const ir_graph *g = p->g;
    int *ids = arena_alloc(g->a, sizeof *ids * (size_t)(g->nodes.len + 1));
    int n = quant_weight_ids(p, ids, diag);
    if (n < 0) return 1;
    nnrt_tensor_info *t = arena_alloc(g->a, sizeof *t * (size_t)n);
    float *v = arena_alloc(g->a, sizeof *v * (size_t)n);
    for (int i = 0; i < n; i++)
        t[i] = (nnrt_tensor_info){arena_printf(g->a, "%s.input_absmax", g->nodes.data[ids[i]]->name), NNRT_F32, 1, {1},
                                  (size_t)i, 1};
    nnrt_err err = {{0}};
    int st = o->st_load(o->calibrate, t, n, v, &err);
    if (st != NNRT_OK)
        return fprintf(diag, "nnc: error: %s%s\n", err.msg,
                       st == NNRT_ERR_NOT_FOUND ? " (a calibration file of another model?)" : ""), 1;
    double *a = arena_alloc(g->a, sizeof *a * (size_t)g->nodes.len);
    for (int i = 0; i < n; i++) {
        if (!(v[i] >= 0 && v[i] <= 3.4e38f))
            return fprintf(diag, "nnc: error: %s: tensor '%s' holds %g; an input's largest magnitude is finite and "
                                 ">= 0\n", o->calibrate, t[i].name, (double)v[i]), 1;
        a[ids[i]] = v[i];
    }
    co->quant_absmax = a;
    return 0;
}

/* One objective's part of a file with several (nnc_compile): prefix
 * NAME_OBJ (NAME: --name or the model's), the last part with the list. */
static void part_options(const nnc_options *o, const ir_graph *g, cg_options *co) {
    const char *base = o->prefix ? o->prefix : g->name;
    co->prefix = arena_printf(g->a, "%s_%s", base, o->objective);
    co->part = o->objective;
    co->objectives = o->objectives;
    co->nobjectives = o->nobjectives;
    co->bundle_prefix = base;
}

/* p: the planned program (NULL for --emit=ir); unfused: kernel counts
 * before fusion, or NULL */
static int emit(const nnc_options *o, ir_graph *g, const ir_program *p, const int *unfused, strbuf *out,
                strbuf *hdr, FILE *diag) {
    if (!p && o->emit == EMIT_TORCH) return torch_emit(g, o->file, o->f64, out, diag);
    if (!p) {
        ir_sched live;
        ir_schedule_all(g, &live);
        return print_graph(g, &live, 0, out, diag);
    }
    ir_entry show = p->has[ENTRY_TRAIN] ? ENTRY_TRAIN : ENTRY_FORWARD;
    if (o->stats) print_stats(o, p, unfused, diag);
    switch (o->emit) {
    case EMIT_IR_TRAIN: return print_graph(g, &p->sched[show], 0, out, diag);
    case EMIT_DOT_TRAIN: return print_graph(g, &p->sched[show], 1, out, diag);
    case EMIT_DOT: return print_graph(g, &p->sched[dot_entry(p)], 1, out, diag);
    case EMIT_KERNELS: print_kernels(p, out); return 0;
    default: break;
    }
    const char *prefix = o->objective ? arena_printf(g->a, "%s_%s", g->name, o->objective) : g->name;
    cg_options co = {o->prefix ? o->prefix : prefix, o->header, o->file, o->f64, o->emit_main,
                     o->target ? o->target : cg_targets, NULL, o->freestanding, NULL, 0, NULL, NULL, 0, NULL};
    if (o->part) part_options(o, g, &co);
    if (o->freestanding && freestanding_unusable(o, p, diag)) return 1;
    if (o->weights && read_weights(o, p, &co, diag)) return 1;
    if (o->quantize && !o->emit_main && read_calibration(o, p, &co, diag)) return 1;
    co.calib_probe = o->quantize && o->emit_main;
    if (co.calib_probe && quant_weight_ids(p, arena_alloc(g->a, sizeof(int) * (size_t)(g->nodes.len + 1)), diag) < 0)
        return 1;
    if (o->emit == EMIT_PY) return py_emit(p, &co, out, diag);
    if (cg_emit(p, &co, out, hdr, diag)) return 1;
    if (o->stats && o->emit == EMIT_C && (!o->target || o->target == cg_targets)) print_stack(o, g, out, diag);
    return 0;
}

/* Plan (not for --emit=ir), check the memory need, emit. */
static int plan_and_emit(const nnc_options *o, ir_graph *g, const int *unfused, strbuf *out, strbuf *hdr,
                         diag_ctx *d) {
    ir_program prog, *p = NULL;
    if (o->emit != EMIT_IR && o->emit != EMIT_TORCH) ir_program_build(g, p = &prog);
    if (check_memory(o, g, p, d)) return 1;
    if (o->emit == EMIT_ONNX) return write_onnx(o, p, out, d);
    return emit(o, g, p, unfused, out, hdr, d->out);
}

static int print_ast(const ast_program *ast, strbuf *out, FILE *diag) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return fprintf(diag, "nnc: error: out of memory while printing the output\n"), 1;
    ast_print(ast, f);
    return mem_stream_done(f, &buf, out, diag);
}

/* The first named loss of the program's model (NULL: none); their count
 * into *n. */
static const char *first_objective(const ast_program *ast, int *n) {
    const ast_model *m = ast->nmodels == 1 ? &ast->models[0] : NULL;
    const char *first = NULL;
    *n = 0;
    for (int i = 0; m && i < m->nstmts; i++) {
        if (m->stmts[i].kind != ST_LOSS || !m->stmts[i].name) continue;
        if (!(*n)++) first = m->stmts[i].name;
    }
    return first;
}

/* Elaborate the parsed program, run the passes, plan and emit. An
 * inference-only build (--infer-only, --weights) of a model with several
 * objectives elaborates the first; its training parts are dropped. */
static int compile_model(const nnc_options *o, const ast_program *ast, arena *a, diag_ctx *d, strbuf *out,
                         strbuf *hdr) {
    ir_graph g;
    ir_graph_init(&g, a, "model");
    g.file = o->file;
    int n;
    g.objective = o->objective || !infers(o) ? o->objective : first_objective(ast, &n);
    if (elaborate(ast, o->defs, o->ndefs, d, &g) != 0) return 1;
    if (strip_training(o, &g, d->out)) return 1;
    if (verify(&g, "elaboration", d->out)) return 1;
    after(o, "elab", &g, d->out);
    int unfused[ENTRY_COUNT] = {0}, counted = run_passes(o, &g, unfused, d->out);
    return counted >= 0 ? plan_and_emit(o, &g, counted ? unfused : NULL, out, hdr, d) : 1;
}

/* A model with several objectives (named losses), for the views (--emit=ir,
 * ir-train, dot, kernels; --stats): each objective's build in turn, each
 * text after a line "; objective NAME". Any other model: compile_model. */
static int compile_each(const nnc_options *o, const ast_program *ast, arena *a, diag_ctx *d, strbuf *out,
                        strbuf *hdr) {
    const ast_model *m = ast->nmodels == 1 ? &ast->models[0] : NULL;
    int n = 0, rc = 0;
    first_objective(ast, &n);
    if (n < 2) return compile_model(o, ast, a, d, out, hdr);
    for (int i = 0; i < m->nstmts && !rc; i++) {
        if (m->stmts[i].kind != ST_LOSS || !m->stmts[i].name) continue;
        nnc_options one = *o;
        one.objective = m->stmts[i].name;
        if (o->emit != EMIT_DOT) sb_printf(out, "; objective %s\n", one.objective);
        rc = compile_model(&one, ast, a, d, out, hdr);
    }
    return rc;
}

/* C output of a model with several objectives: each objective's build in
 * turn as a part of one file, then (cg_bundle, on the last part) the
 * model's API over them. */
static int compile_parts(const nnc_options *o, const ast_program *ast, arena *a, diag_ctx *d, strbuf *out,
                         strbuf *hdr) {
    const ast_model *m = &ast->models[0];
    const char **names = arena_alloc(a, sizeof *names * (size_t)m->nstmts);
    int n = 0, rc = 0;
    for (int i = 0; i < m->nstmts; i++)
        if (m->stmts[i].kind == ST_LOSS && m->stmts[i].name) names[n++] = m->stmts[i].name;
    for (int k = 0; k < n && !rc; k++) {
        nnc_options one = *o;
        one.objective = names[k];
        one.part = 1;
        if (k == n - 1) one.objectives = names, one.nobjectives = n;
        rc = compile_model(&one, ast, a, d, out, hdr);
    }
    return rc;
}

int nnc_compile(const nnc_options *o, const char *src, size_t len, strbuf *out, strbuf *hdr, FILE *diag) {
    arena a;
    arena_init(&a);
    diag_ctx d;
    diag_init(&d, o->file, src, len, diag, o->color);
    d.format = o->diag_format;
    ast_program ast;
    int rc = 1;
    const char *bad = o->print_after ? nnc_print_after_error(o->print_after, &a) : NULL;
    if (!bad && (o->quantize || o->calibrate)) bad = quant_option_error(o);
    if (bad) {
        fprintf(diag, "nnc: error: %s\n", bad);
        goto done;
    }
    if (parse_program(src, len, &a, &d, &ast) != 0) goto done;
    if (o->emit == EMIT_AST) {
        rc = print_ast(&ast, out, diag);
        goto done;
    }
    int n = 0;
    first_objective(&ast, &n);
    if (!o->objective && o->emit == EMIT_C && n >= 2 && !o->infer_only && !o->weights)
        rc = compile_parts(o, &ast, &a, &d, out, hdr);
    else if (o->objective || o->emit == EMIT_C || o->emit == EMIT_PY || o->emit == EMIT_TORCH || o->emit == EMIT_ONNX)
        rc = compile_model(o, &ast, &a, &d, out, hdr);
    else rc = compile_each(o, &ast, &a, &d, out, hdr);
done:
    diag_finish(&d);
    arena_free(&a);
    return rc;
}
