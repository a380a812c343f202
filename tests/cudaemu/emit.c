/* emit.c — tests/cudaemu's kernel extractor (linked against libnnc.a).
 *
 *   emit MODEL.nn F64 OUT [NAME=VALUE ...]
 *
 * Compiles MODEL.nn as nnc does (fold, cse, autodiff, fold, cse) twice:
 * once unfused (what --no-fuse emits) and once with pass_simplify +
 * pass_fuse (what the CUDA target emits by default). For every non-source
 * node any entry point of either program schedules, it writes
 *
 *   OUT.cu.cpp  the CUDA kernel and launcher (cu_kernel), with each
 *               launch k<<<grid, block, shm, stream>>>(args) rewritten to
 *               emu_launch(grid, block, shm, stream, [&] { k(args); }) for
 *               the CPU emulator (mock/cuda_runtime.h), a dispatcher
 *               cu_run(k, ...) and the node table emu_nodes[]
 *   OUT.c       the C target's kernel of the same node (c_kernel) and the
 *               dispatcher c_run(k, ...)
 *
 * A node that both programs schedule under the same kernel name is taken
 * once (its text must then be the same in both). Input domains of the table:
 * 0 uniform in [-1, 1], 1 positive (ops with log / sqrt / pow / division of
 * an input), 2 int32 class ids or tokens in [0, bound).
 */
#include "driver/compile.h"
#include "codegen/c/kernels.h"
#include "codegen/cuda/cuk.h"
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (fread(s, 1, (size_t)n, f) != (size_t)n) exit(2);
    s[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return s;
}

static int build(const char *file, const char *src, size_t len, elab_define *defs, int nd, int fuse, arena *a,
                 ir_graph *g, ir_program *p) {
    diag_ctx d;
    diag_init(&d, file, src, len, stderr, 0);
    ast_program ast;
    if (parse_program(src, len, a, &d, &ast) != 0) return 1;
    ir_graph_init(g, a, "model");
    g->file = file;
    if (elaborate(&ast, defs, nd, &d, g) != 0) return 1;
    pass_fold(g), pass_cse(g);
    if (g->loss >= 0 && g->opt.kind != OPT_NONE) ad_backward(g), pass_fold(g), pass_cse(g);
    if (fuse) pass_simplify(g), pass_fuse(g);
    ir_program_build(g, p);
    return 0;
}

/* Does a formula divide by, or take log / sqrt / pow of, its operands? */
static int needs_positive_expr(int op) {
    switch (op) {
    case IR_LOG: case IR_SQRT: case IR_POW: case IR_DIV: case IR_SQRT_GRAD: case IR_POW_GRAD: return 1;
    default: return 0;
    }
}

static int input_domain(const ir_graph *g, const ir_node *n, int i) {
    const ir_node *x = g->nodes.data[n->in[i]];
    if (x->dtype == DT_I32) return 2;
    if (n->prog) {
        for (int s = 0; s < n->prog->nstep; s++)
            if (needs_positive_expr(n->prog->step[s].op)) return 1;
        return 0;
    }
    if (needs_positive_expr(n->op)) return 1;
    switch (n->op) {
    case IR_BCE: case IR_BCE_GRAD: return i == 0; /* probabilities */
    case IR_BN_NORM: return i == 2;               /* variance */
    case IR_BN_DWEIGHT: return i == 3;
    case IR_BN_DX: return i == 3;
    default: return 0;
    }
}

/* Bound of an int32 input: from the node, or from another node indexing with it. */
static long long index_bound(const ir_graph *g, const ir_node *n, int i) {
    if ((ir_ops[n->op].flags & OPF_INDEX) && n->iattr[IR_ATTR_INDEX_INPUT] == i) return n->iattr[IR_ATTR_INDEX_BOUND];
    for (int k = 0; k < g->nodes.len; k++) {
        const ir_node *m = g->nodes.data[k];
        if ((ir_ops[m->op].flags & OPF_INDEX) && m->in[m->iattr[IR_ATTR_INDEX_INPUT]] == n->in[i])
            return m->iattr[IR_ATTR_INDEX_BOUND];
    }
    return 1;
}

/* k<<<a, b, c, d>>>(args); -> emu_launch(a, b, c, d, [&] { k(args); }); */
static void rewrite_launches(const char *s, strbuf *o) {
    const char *p;
    while ((p = strstr(s, "<<<")) != NULL) {
        const char *q = p;
        while (q > s && (q[-1] == '_' || (q[-1] >= '0' && q[-1] <= '9') || (q[-1] >= 'a' && q[-1] <= 'z') ||
                         (q[-1] >= 'A' && q[-1] <= 'Z')))
            q--;
        const char *e = strstr(p, ">>>(");
        if (!e) { fprintf(stderr, "emit: unterminated launch\n"); exit(2); }
        const char *a = e + 4, *r = a;
        int depth = 1;
        while (*r && depth) {
            if (*r == '(') depth++;
            if (*r == ')') depth--;
            r++;
        }
        if (depth || *r != ';') { fprintf(stderr, "emit: odd launch\n"); exit(2); }
        sb_printf(o, "%.*semu_launch(%.*s, [&] { %.*s(%.*s); });", (int)(q - s), s, (int)(e - p - 3), p + 3, (int)(p - q), q,
                  (int)(r - 1 - a), a);
        s = r + 1;
    }
    sb_puts(o, s);
}

/* The fused program's kernels whose text differs from the unfused
 * program's kernel of the same name (pass_simplify rewrote the node) are
 * renamed: every identifier k<digits>_... becomes f<digits>_... */
static char *rename_kernels(const char *s) {
    char *o = strdup(s);
    for (size_t i = 0; o[i]; i++) {
        int prev_id = i > 0 && (o[i - 1] == '_' || (o[i - 1] >= '0' && o[i - 1] <= '9') ||
                                (o[i - 1] >= 'a' && o[i - 1] <= 'z') || (o[i - 1] >= 'A' && o[i - 1] <= 'Z'));
        if (prev_id || o[i] != 'k' || !(o[i + 1] >= '0' && o[i + 1] <= '9')) continue;
        size_t j = i + 1;
        while (o[j] >= '0' && o[j] <= '9') j++;
        if (o[j] == '_') o[i] = 'f';
    }
    return o;
}

typedef struct {
    const char *name, *cu_text;
} seen_kernel;

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: emit MODEL.nn F64 OUT [NAME=VALUE ...]\n"); return 2; }
    int f64 = atoi(argv[2]);
    const char *T = f64 ? "double" : "float";
    int nd = argc - 4;
    elab_define *defs = calloc((size_t)nd + 1, sizeof *defs);
    for (int i = 0; i < nd; i++) {
        char *eq = strchr(argv[4 + i], '=');
        if (!eq) { fprintf(stderr, "emit: bad define %s\n", argv[4 + i]); return 2; }
        *eq = 0;
        defs[i].name = argv[4 + i];
        defs[i].value = atof(eq + 1);
        defs[i].is_int = !strchr(eq + 1, '.');
    }
    size_t len;
    char *src = slurp(argv[1], &len);
    arena a[2];
    ir_graph g[2];
    ir_program p[2];
    strbuf cu, cc, disp_cu, disp_c, meta;
    sb_init(&cu), sb_init(&cc), sb_init(&disp_cu), sb_init(&disp_c), sb_init(&meta);
    sb_puts(&cu, "#include \"nnrt_cuda.h\"\n#include \"nnrt_philox.cuh\"\n#include <math.h>\n#include <stdint.h>\n");
    sb_puts(&cc, "#include <math.h>\n#include <stdint.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n"
                 "#include <tgmath.h>\n#include \"nnrt.h\"\n#include \"nnrt_gemm.h\"\n");
    int count = 0, cap = 0, helper_done = 0;
    seen_kernel *seen = NULL;
    for (int v = 0; v < 2; v++) {
        arena_init(&a[v]);
        if (build(argv[1], src, len, defs, nd, v, &a[v], &g[v], &p[v])) return 1;
        cg_options co = {.prefix = "emu", .header = "emu.h", .source = argv[1], .f64 = f64,
                         .target = cg_target_find("c")};
        { /* the C target's file prelude: take its nnc_tanhf and nnc_expf */
            static const char *const helpers[2] = {"static inline float nnc_tanhf", "static inline float nnc_expf"};
            strbuf full, h;
            sb_init(&full), sb_init(&h);
            cg_options fo = co;
            if (cg_emit(&p[v], &fo, &full, &h, stderr)) return 1;
            for (int k = 0; k < 2; k++) {
                const char *t = (helper_done & (1 << k)) ? NULL : strstr(full.s, helpers[k]);
                if (!t) continue;
                const char *e = strstr(t, "\n}\n");
                sb_printf(&cc, "%.*s\n}\n", (int)(e - t), t);
                helper_done |= 1 << k;
            }
        }
        char *done = calloc((size_t)p[v].g->nodes.len + 1, 1);
        for (int e = 0; e < ENTRY_COUNT; e++) {
            if (!p[v].has[e]) continue;
            for (int t = 0; t < p[v].sched[e].order.len; t++) {
                const ir_node *n = p[v].g->nodes.data[p[v].sched[e].order.data[t]];
                if (done[n->id] || ir_ops[n->op].cls == OPC_SOURCE) continue;
                done[n->id] = 1;
                strbuf k, kc;
                sb_init(&k), sb_init(&kc);
                cg_ctx cx;
                cg_ctx_init(&cx, &p[v], &co, &k);
                cg_ctx ccx = cx;
                ccx.c = &kc;
                const char *name = cg_kernel_name(&cx, n);
                cu_kernel(&cx, n);
                int dup = 0, renamed = 0;
                for (int j = 0; j < count; j++)
                    if (!strcmp(seen[j].name, name)) {
                        if (strcmp(seen[j].cu_text, k.s)) renamed = 1;
                        else dup = 1;
                    }
                if (dup) continue;
                if (count == cap) seen = realloc(seen, sizeof *seen * (size_t)(cap = cap ? 2 * cap : 64));
                seen[count].name = name;
                seen[count].cu_text = k.s;
                c_kernel(&ccx, n);
                if (renamed) {
                    name = rename_kernels(name);
                    rewrite_launches(rename_kernels(k.s), &cu);
                    sb_puts(&cc, rename_kernels(kc.s));
                } else {
                    rewrite_launches(k.s, &cu);
                    sb_puts(&cc, kc.s);
                }
                if (n->nin > 16) { fprintf(stderr, "emit: %s has %d inputs\n", name, n->nin); return 1; }
                int rng = (ir_ops[n->op].flags & OPF_RNG) != 0;
                sb_printf(&disp_cu, "    case %d: return %s(&ex, ", count, name);
                sb_printf(&disp_c, "    case %d: %s(", count, name);
                sb_printf(&meta, "    {\"%s\", \"%s\", \"%s\", %d, %d, %d, %lld, {", name, ir_ops[n->op].name,
                          ir_shape_str(p[v].g->a, &n->shape), v, n->nin, rng, (long long)ir_numel(&n->shape));
                for (int i = 0; i < n->nin; i++) {
                    const ir_node *x = p[v].g->nodes.data[n->in[i]];
                    const char *ty = x->dtype == DT_I32 ? "int32_t" : T;
                    sb_printf(&disp_cu, "(const %s *)in[%d], ", ty, i);
                    sb_printf(&disp_c, "(const %s *)in[%d], ", ty, i);
                    sb_printf(&meta, "%lld, ", (long long)ir_numel(&x->shape));
                }
                sb_puts(&meta, "}, {");
                for (int i = 0; i < n->nin; i++) sb_printf(&meta, "%d, ", input_domain(p[v].g, n, i));
                sb_puts(&meta, "}, {");
                for (int i = 0; i < n->nin; i++)
                    sb_printf(&meta, "%lld, ",
                              p[v].g->nodes.data[n->in[i]]->dtype == DT_I32 ? index_bound(p[v].g, n, i) : 0LL);
                sb_printf(&meta, "}, %d},\n", n->op == IR_BN_UPDATE);
                if (rng) sb_puts(&disp_cu, "seed, counter, "), sb_puts(&disp_c, "seed, counter, ");
                sb_printf(&disp_cu, "(%s *)y);\n", T);
                sb_printf(&disp_c, "(%s *)y); return 0;\n", T);
                count++;
            }
        }
        free(done);
    }
    strbuf out;
    sb_init(&out);
    sb_puts(&out, "/* generated by tests/cudaemu/emit from the model's CUDA kernels; do not edit */\n");
    sb_puts(&out, cu.s);
    sb_puts(&out, "\n#include \"emu_node.h\"\nconst emu_node emu_nodes[] = {\n");
    sb_puts(&out, meta.s);
    sb_printf(&out, "};\nconst int emu_nnodes = %d;\nconst int emu_f64 = %d;\n", count, f64);
    sb_puts(&out, "int cu_run(int k, void **in, uint64_t seed, uint64_t counter, void *y) {\n    nnrt_cu_exec ex;\n"
                  "    memset(&ex, 0, sizeof ex);\n    (void)seed, (void)counter, (void)in, (void)y;\n    switch (k) {\n");
    sb_puts(&out, disp_cu.s);
    sb_puts(&out, "    }\n    return -1;\n}\n");
    sb_puts(&cc, "\nint c_run(int k, void **in, uint64_t seed, uint64_t counter, void *y);\n"
                 "int c_run(int k, void **in, uint64_t seed, uint64_t counter, void *y) {\n"
                 "    (void)seed, (void)counter, (void)in, (void)y;\n    switch (k) {\n");
    sb_puts(&cc, disp_c.s);
    sb_puts(&cc, "    }\n    return -1;\n}\n");
    char path[4096];
    snprintf(path, sizeof path, "%s.cu.cpp", argv[3]);
    FILE *f = fopen(path, "w");
    if (!f) { perror(path); return 2; }
    fputs(out.s, f);
    fclose(f);
    snprintf(path, sizeof path, "%s.c", argv[3]);
    f = fopen(path, "w");
    if (!f) { perror(path); return 2; }
    fputs(cc.s, f);
    fclose(f);
    fprintf(stderr, "%d kernels\n", count);
    return 0;
}
