/* compile.c — the pipeline, one pass after another:
 *
 *   parse -> elaborate -> fold -> autodiff -> fold -> plan -> emit
 *
 * Each pass states what it needs and guarantees in its own file; the
 * verifier runs after each pass, and --print-after=PASS shows the IR.
 */
#include "compile.h"

#include <stdlib.h>

static FILE *mem_stream(strbuf *b, char **buf, size_t *len) {
    (void)b;
    return open_memstream(buf, len);
}

/* Run fn's printer into out. */
static void print_graph(const ir_graph *g, const ir_sched *s, int dot, strbuf *out) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = mem_stream(out, &buf, &len);
    if (!f) return;
    if (dot) ir_print_dot(g, s, f);
    else ir_print(g, s, f);
    fclose(f);
    sb_puts(out, buf);
    free(buf);
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
    print_graph(g, &live, 0, &b);
    fprintf(diag, "; IR after %s\n%s", pass, b.s);
    sb_free(&b);
}

static void print_kernels(const ir_program *p, strbuf *out) {
    static const char *const names[] = {"forward", "loss", "train"};
    for (int e = 0; e < ENTRY_COUNT; e++) {
        if (!p->has[e]) continue;
        sb_printf(out, "%s: %d kernels\n", names[e], p->sched[e].order.len);
        for (int t = 0; t < p->sched[e].order.len; t++) {
            const ir_node *n = p->g->nodes.data[p->sched[e].order.data[t]];
            sb_printf(out, "  k%d_%s %s\n", n->id, ir_ops[n->op].name, ir_shape_str(p->g->a, &n->shape));
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

/* unfused: kernel counts per entry point before fusion (NULL: no fusion ran) */
static void print_stats(const nnc_options *o, const ir_program *p, const int *unfused, FILE *diag) {
    static const char *const names[] = {"forward", "loss", "train"};
    size_t es = o->f64 ? 8 : 4;
    fprintf(diag, "model %s\n", p->g->name);
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
    fprintf(diag, "  params   %d tensors, %zu bytes\n", p->g->params.len, pe * es);
}

static int emit(const nnc_options *o, ir_graph *g, strbuf *out, strbuf *hdr, FILE *diag) {
    if (o->emit == EMIT_IR) {
        ir_sched live;
        ir_schedule_all(g, &live);
        print_graph(g, &live, 0, out);
        return 0;
    }
    if (g->loss >= 0 && g->opt.kind != OPT_NONE) {
        ad_backward(g);
        if (verify(g, "autodiff", diag)) return 1;
        after(o, "autodiff", g, diag);
        if (o->opt_level > 0) pass_fold(g), pass_cse(g);
        if (verify(g, "cse", diag)) return 1;
    }
    int unfused[ENTRY_COUNT] = {0}, fuse = o->opt_level > 0 && !o->no_fuse;
    if (fuse) {
        if (o->stats) { /* kernel counts before fusion */
            ir_program before;
            ir_program_build(g, &before);
            for (int e = 0; e < ENTRY_COUNT; e++) unfused[e] = before.sched[e].order.len;
        }
        pass_simplify(g);
        pass_fuse(g);
        if (verify(g, "fuse", diag)) return 1;
        after(o, "fuse", g, diag);
    }
    ir_program p;
    ir_program_build(g, &p);
    ir_entry show = p.has[ENTRY_TRAIN] ? ENTRY_TRAIN : ENTRY_FORWARD;
    if (o->stats) print_stats(o, &p, fuse ? unfused : NULL, diag);
    switch (o->emit) {
    case EMIT_IR_TRAIN: print_graph(g, &p.sched[show], 0, out); return 0;
    case EMIT_DOT: print_graph(g, &p.sched[show], 1, out); return 0;
    case EMIT_KERNELS: print_kernels(&p, out); return 0;
    default: break;
    }
    cg_options co = {o->prefix ? o->prefix : g->name, o->header, o->file, o->f64, o->emit_main,
                     o->target ? o->target : cg_targets};
    return cg_emit(&p, &co, out, hdr, diag);
}

static void print_ast(const ast_program *ast, strbuf *out) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return;
    ast_print(ast, f);
    fclose(f);
    sb_puts(out, buf);
    free(buf);
}

int nnc_compile(const nnc_options *o, const char *src, size_t len, strbuf *out, strbuf *hdr, FILE *diag) {
    arena a;
    arena_init(&a);
    diag_ctx d;
    diag_init(&d, o->file, src, len, diag, o->color);
    ast_program ast;
    int rc = 1;
    if (parse_program(src, len, &a, &d, &ast) != 0) goto done;
    if (o->emit == EMIT_AST) {
        print_ast(&ast, out);
        rc = 0;
        goto done;
    }
    ir_graph g;
    ir_graph_init(&g, &a, "model");
    g.file = o->file;
    if (elaborate(&ast, o->defs, o->ndefs, &d, &g) != 0) goto done;
    if (verify(&g, "elaboration", diag)) goto done;
    after(o, "elab", &g, diag);
    if (o->opt_level > 0) pass_fold(&g);
    if (verify(&g, "fold", diag)) goto done;
    after(o, "fold", &g, diag);
    if (o->opt_level > 0) pass_cse(&g);
    if (verify(&g, "cse", diag)) goto done;
    after(o, "cse", &g, diag);
    rc = emit(o, &g, out, hdr, diag);
done:
    arena_free(&a);
    return rc;
}
