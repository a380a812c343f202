/* print.c — the text form of the IR and a Graphviz rendering.
 *
 *   %3 : f32[32, 128] = matmul(%0, %2) ta=0 tb=1        # line 7
 *
 * One line per node: id, type, op, operands, attributes, source line. The
 * text is stable (no addresses, no timestamps) so tests can diff it.
 */
#include "ir.h"

static void print_type(const ir_node *n, FILE *out) {
    fprintf(out, "%s[", n->dtype == DT_I32 ? "i32" : "f32");
    for (int i = 0; i < n->shape.rank; i++) fprintf(out, "%s%lld", i ? ", " : "", (long long)n->shape.d[i]);
    fputc(']', out);
}

static void print_attrs(const ir_node *n, FILE *out) {
    switch (n->op) {
    case IR_MATMUL: fprintf(out, " ta=%d tb=%d", (int)n->iattr[0], (int)n->iattr[1]); break;
    case IR_MATMUL_EP:
        fprintf(out, " ta=%d tb=%d", (int)n->iattr[0], (int)n->iattr[1]);
        /* fall through */
    case IR_FUSED: {
        strbuf b;
        sb_init(&b);
        ir_fprog_str(n, &b);
        fprintf(out, " { %s }", b.s);
        sb_free(&b);
        break;
    }
    case IR_RANDN:
    case IR_RAND: fprintf(out, " stream=%lld", (long long)n->iattr[0]); break;
    case IR_SUM:
    case IR_EXPAND:
        fprintf(out, " axes=[%d,%d) scale=%.9g", (int)n->iattr[0], (int)n->iattr[1], n->fattr[0]);
        break;
    default: /* other ops: their nonzero attributes, in slot order */
        if (ir_ops[n->op].cls == OPC_SOURCE) break; /* a folded constant keeps its old op's */
        for (int i = 0; i < IR_MAX_ATTR; i++)
            if (n->iattr[i]) fprintf(out, " i%d=%lld", i, (long long)n->iattr[i]);
        for (int i = 0; i < 4; i++)
            if (n->fattr[i] != 0) fprintf(out, " f%d=%.9g", i, n->fattr[i]);
        break;
    }
}

static void print_const(const ir_node *n, FILE *out) {
    int64_t N = ir_numel(&n->shape);
    fputs(" [", out);
    for (int64_t i = 0; i < N && i < 8; i++) fprintf(out, "%s%.9g", i ? ", " : "", n->data[i]);
    fputs(N > 8 ? ", ...]" : "]", out);
}

static const char *init_name(ir_init k) {
    static const char *const names[] = {"auto", "he", "glorot", "zeros", "ones", "fill", "uniform", "normal", "data"};
    return names[k];
}

static void print_node(const ir_graph *g, const ir_node *n, FILE *out) {
    fprintf(out, "  %%%d : ", n->id);
    print_type(n, out);
    fprintf(out, " = %s", ir_ops[n->op].name);
    if (n->op == IR_PARAM) fprintf(out, " %s init=%s", n->name, init_name(n->init));
    else if (n->op == IR_INPUT)
        fprintf(out, " %s%s%s", n->name, n->role == ROLE_TARGET ? " (target)" : "",
                n->requires_grad ? " requires_grad" : "");
    else if (n->op == IR_CONST) print_const(n, out);
    for (int i = 0; i < n->nin; i++) fprintf(out, "%s%%%d", i ? ", " : "(", n->in[i]);
    if (n->nin) fputc(')', out);
    else if (ir_ops[n->op].cls != OPC_SOURCE) fputs("()", out); /* randn(), rand() */
    print_attrs(n, out);
    if (n->name && n->op != IR_PARAM && n->op != IR_INPUT) fprintf(out, "  # %s", n->name);
    if (n->loc.line)
        fprintf(out, "%s line %d", n->name && n->op != IR_PARAM && n->op != IR_INPUT ? "," : "  #", n->loc.line);
    fputc('\n', out);
    (void)g;
}

static const char *opt_name(ir_optkind k) {
    static const char *const names[] = {"none", "sgd", "adam", "adamw"};
    return names[k];
}

const char *const ir_lrsched_names[IR_LRSCHED_KINDS] = {"constant", "step",   "multistep", "exponential",
                                                         "cosine",   "linear", "onecycle"};

/* "  schedule cosine warmup=3 total=10 ... clip_norm=1": the arguments
 * of the kind, nothing for a constant rate without clipping. */
static void print_lrsched(const struct ir_lrsched *s, FILE *out) {
    static const char *const fmt[IR_LRSCHED_KINDS] = {"", " step_size=%lld gamma=%.9g", " milestones=%d gamma=%.9g",
                                                      " gamma=%.9g", " eta_min=%.9g", " end_factor=%.9g",
                                                      " pct_start=%.9g div_factor=%.9g final_div_factor=%.9g"};
    if (!s->kind && !s->warmup && !s->clip_norm && !s->clip_value) return;
    fprintf(out, "  schedule %s", ir_lrsched_names[s->kind]);
    if (s->warmup) fprintf(out, " warmup=%lld", (long long)s->warmup);
    if (s->total) fprintf(out, " total=%lld", (long long)s->total);
    if (s->kind == 1) fprintf(out, fmt[1], (long long)s->step_size, s->gamma);
    else if (s->kind == 2) fprintf(out, fmt[2], s->nmilestones, s->gamma);
    else if (s->kind == 3) fprintf(out, fmt[3], s->gamma);
    else if (s->kind == 4) fprintf(out, fmt[4], s->eta_min);
    else if (s->kind == 5) fprintf(out, fmt[5], s->end_factor);
    else if (s->kind == 6) fprintf(out, fmt[6], s->pct_start, s->div_factor, s->final_div_factor);
    if (s->clip_norm) fprintf(out, " clip_norm=%.9g", s->clip_norm);
    if (s->clip_value) fprintf(out, " clip_value=%.9g", s->clip_value);
    fputc('\n', out);
}

void ir_print(const ir_graph *g, const ir_sched *s, FILE *out) {
    fprintf(out, "model %s {\n", g->name);
    for (int i = 0; i < g->nodes.len; i++) {
        const ir_node *n = g->nodes.data[i];
        if (s && !s->live[i]) continue;
        print_node(g, n, out);
    }
    for (int i = 0; i < g->outputs.len; i++)
        fprintf(out, "  output %s = %%%d\n", g->output_names.data[i], g->outputs.data[i]);
    if (g->loss >= 0) fprintf(out, "  loss = %%%d\n", g->loss);
    if (g->loss_eval != g->loss) fprintf(out, "  loss (inference) = %%%d\n", g->loss_eval);
    for (int i = 0; i < g->grads.len; i++)
        fprintf(out, "  grad %s = %%%d\n", g->nodes.data[g->params.data[i]]->name, g->grads.data[i]);
    for (int i = 0; i < g->input_grads.len; i++)
        if (g->nodes.data[g->inputs.data[i]]->requires_grad)
            fprintf(out, "  grad input %s = %%%d\n", g->nodes.data[g->inputs.data[i]]->name, g->input_grads.data[i]);
    if (g->grads.len && g->opt.kind != OPT_NONE) {
        const ir_optim *o = &g->opt;
        fprintf(out, "  update %s lr=%.9g", opt_name(o->kind), o->lr);
        if (o->kind == OPT_SGD)
            fprintf(out, " momentum=%.9g dampening=%.9g nesterov=%d", o->momentum, o->dampening, o->nesterov);
        else fprintf(out, " beta1=%.9g beta2=%.9g eps=%.9g", o->beta1, o->beta2, o->eps);
        fprintf(out, " weight_decay=%.9g\n", o->weight_decay);
        print_lrsched(&o->sched, out);
    }
    fputs("}\n", out);
}

/* A node's Graphviz name: n<id>, or "<block>/n<id>" inside a block application. */
static void dot_id(const ir_node *n, FILE *out) {
    if (n->block) fprintf(out, "\"%s/n%d\"", n->block, n->id);
    else fprintf(out, "n%d", n->id);
}

/* s in a Graphviz string: quotes and backslashes escaped. */
static void dot_escaped(const char *s, FILE *out) {
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', out);
        fputc(*s, out);
    }
}

/* One node: id, op, name, the fused program (FUSED, MATMUL_EP), type;
 * gradients dashed, parameters bold, fused kernels filled. */
static void dot_node(const ir_node *n, const char *indent, FILE *out) {
    fputs(indent, out);
    dot_id(n, out);
    fprintf(out, " [label=\"%%%d %s", n->id, ir_ops[n->op].name);
    if (n->name) fprintf(out, "\\n%s", n->name);
    if (n->prog) {
        strbuf b;
        sb_init(&b);
        ir_fprog_str(n, &b);
        fputs("\\n{ ", out);
        dot_escaped(b.s, out);
        fputs(" }", out);
        sb_free(&b);
    }
    fputs("\\n", out);
    print_type(n, out);
    const char *style = n->is_grad ? "dashed" : n->op == IR_PARAM ? "bold" : NULL;
    fputc('"', out);
    if (n->prog) fprintf(out, ", style=\"filled%s%s\", fillcolor=lightyellow", style ? "," : "", style ? style : "");
    else if (style) fprintf(out, ", style=%s", style);
    fputs("];\n", out);
}

static int dot_live(const ir_sched *s, int i) { return !s || s->live[i]; }

/* The first live node of its block: no earlier live node has the same block. */
static int dot_first_of_block(const ir_graph *g, const ir_sched *s, int i) {
    const char *b = g->nodes.data[i]->block;
    for (int j = 0; j < i; j++)
        if (dot_live(s, j) && g->nodes.data[j]->block && !strcmp(g->nodes.data[j]->block, b)) return 0;
    return 1;
}

/* The box of block application b, from node `from` on: its live nodes. */
static void dot_cluster(const ir_graph *g, const ir_sched *s, int from, FILE *out) {
    const char *b = g->nodes.data[from]->block;
    fprintf(out, "  subgraph \"cluster_%s\" {\n    label=\"%s\";\n    style=rounded;\n", b, b);
    for (int i = from; i < g->nodes.len; i++)
        if (dot_live(s, i) && g->nodes.data[i]->block && !strcmp(g->nodes.data[i]->block, b))
            dot_node(g->nodes.data[i], "    ", out);
    fputs("  }\n", out);
}

/* Graphviz: one box (cluster) per block application, named by its layer
 * prefix; nodes in blocks are named "<block>/n<id>". */
void ir_print_dot(const ir_graph *g, const ir_sched *s, FILE *out) {
    fprintf(out, "digraph \"%s\" {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n", g->name);
    for (int i = 0; i < g->nodes.len; i++) {
        if (!dot_live(s, i)) continue;
        if (!g->nodes.data[i]->block) dot_node(g->nodes.data[i], "  ", out);
        else if (dot_first_of_block(g, s, i)) dot_cluster(g, s, i, out);
    }
    for (int i = 0; i < g->nodes.len; i++) {
        const ir_node *n = g->nodes.data[i];
        if (!dot_live(s, i)) continue;
        for (int j = 0; j < n->nin; j++) {
            fputs("  ", out);
            dot_id(g->nodes.data[n->in[j]], out);
            fputs(" -> ", out);
            dot_id(n, out);
            fputs(";\n", out);
        }
    }
    fputs("}\n", out);
}
