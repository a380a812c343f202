/* kernel.c — pieces of kernels that every target writes alike: inputs,
 * sizes and names, literals, ops.def formulas, the steps of a fused
 * program, and the loops of a permutation. */
#include "core.h"

#include <ctype.h>
#include <math.h>

const ir_node *cg_in(cg_ctx *cx, const ir_node *n, int i) { return cx->g->nodes.data[n->in[i]]; }
long long cg_numel(const ir_node *n) { return (long long)ir_numel(&n->shape); }
long long cg_last(const ir_node *n) { return n->shape.rank ? (long long)n->shape.d[n->shape.rank - 1] : 1; }

const char *cg_kernel_name(cg_ctx *cx, const ir_node *n) {
    if (cx->o->part) return arena_printf(cx->g->a, "%s_k%d_%s", cx->o->part, n->id, ir_ops[n->op].name);
    return arena_printf(cx->g->a, "k%d_%s", n->id, ir_ops[n->op].name);
}

void cg_literal(cg_ctx *cx, strbuf *b, double x) {
    if (isnan(x)) return sb_puts(b, "NAN");
    if (isinf(x)) return sb_puts(b, x > 0 ? "INFINITY" : "-INFINITY");
    char s[64];
    snprintf(s, sizeof s, cx->o->f64 ? "%.17g" : "%.9g", x);
    sb_puts(b, s);
    if (!strpbrk(s, ".e")) sb_puts(b, ".0");
    if (!cx->o->f64) sb_puts(b, "f");
}

/* ---- ops.def formulas ------------------------------------------------------ */

/* Does the formula use the attribute `name` (a standalone identifier)? */
int cg_uses_attr(const char *expr, char name) {
    for (const char *q = expr; (q = strchr(q, name)); q++) {
        int before = q > expr && (isalnum((unsigned char)q[-1]) || q[-1] == '_');
        int after = isalnum((unsigned char)q[1]) || q[1] == '_';
        if (!before && !after) return 1;
    }
    return 0;
}

/* Where does a call of fn( start in expr (fn a whole identifier)? */
static const char *find_call(const char *expr, const char *fn) {
    size_t len = strlen(fn);
    for (const char *q = expr; (q = strstr(q, fn)); q += len)
        if ((q == expr || !(isalnum((unsigned char)q[-1]) || q[-1] == '_')) && q[len] == '(') return q;
    return NULL;
}

int cg_calls(const char *expr, const char *fn) { return find_call(expr, fn) != NULL; }

void cg_formula(cg_ctx *cx, const char *expr, const char *tanh_fn) {
    if (!tanh_fn) return sb_puts(cx->c, expr);
    for (const char *q; (q = find_call(expr, "tanh")); expr = q + 4) {
        sb_printf(cx->c, "%.*s", (int)(q - expr), expr);
        sb_puts(cx->c, tanh_fn);
    }
    sb_puts(cx->c, expr);
}

/* ---- fused programs -------------------------------------------------------- */

void cg_fused_steps(cg_ctx *cx, const ir_node *n, const char *const *opnd, const char *acc, const char *ind,
                    const char *tanh_fn) {
    strbuf *c = cx->c;
    const ir_fprog *p = n->prog;
    for (int s = 0; s < p->nstep; s++) {
        const ir_fstep *st = &p->step[s];
        const char *expr = ir_ops[st->op].expr;
        sb_printf(c, "%s%s t%d;\n%s{\n", ind, cx->T, s, ind);
        for (int k = 0; k < 2; k++) {
            if (k == 1 && ir_ops[st->op].cls != OPC_BINARY) break;
            int r = k ? st->b : st->a;
            sb_printf(c, "%s    const %s %c = ", ind, cx->T, "ab"[k]);
            if (r == IR_FREF_ACC) sb_puts(c, acc);
            else if (r >= IR_FREF_STEP) sb_printf(c, "t%d", r - IR_FREF_STEP);
            else sb_puts(c, opnd[r]);
            sb_puts(c, ";\n");
        }
        for (int k = 0; k < 2; k++) {
            if (!cg_uses_attr(expr, "pq"[k])) continue;
            sb_printf(c, "%s    const %s %c = ", ind, cx->T, "pq"[k]);
            cg_literal(cx, c, k ? st->q : st->p);
            sb_puts(c, ";\n");
        }
        sb_printf(c, "%s    t%d = ", ind, s);
        cg_formula(cx, expr, tanh_fn);
        sb_printf(c, ";\n%s}\n", ind);
    }
}

/* ---- permute ------------------------------------------------------------- */

int cg_permute_loops(const ir_shape *a, const int64_t *perm, long long *sz, long long *sd) {
    long long st[IR_MAX_RANK], s = 1;
    for (int i = a->rank - 1; i >= 0; i--) st[i] = s, s *= a->d[i];
    int nd = 0;
    for (int k = 0; k < a->rank; k++) {
        long long size = a->d[perm[k]], stride = st[perm[k]];
        if (size == 1) continue;
        if (nd > 0 && sd[nd - 1] == size * stride) { /* the previous loop steps over this one */
            sz[nd - 1] *= size;
            sd[nd - 1] = stride;
        } else {
            sz[nd] = size, sd[nd] = stride, nd++;
        }
    }
    if (nd == 0) sz[0] = 1, sd[0] = 1, nd = 1;
    return nd;
}

/* ---- --quantize int8 ----------------------------------------------------- */

int cg_quant_layer(const ir_graph *g, const ir_node *n) {
    if (n->dtype != DT_F32 || n->nin < 2) return 0;
    const ir_node *x = g->nodes.data[n->in[0]], *w = g->nodes.data[n->in[1]];
    if (w->op != IR_PARAM || x->dtype != DT_F32) return 0;
    if (n->op == IR_MATMUL || n->op == IR_MATMUL_EP)
        return !n->iattr[0] && n->iattr[1] && w->shape.rank == 2 && w->shape.d[1] <= CG_QUANT_MAX_K;
    if (n->op != IR_CONV2D || n->iattr[3] != 1) return 0;
    int64_t k = w->shape.d[1] * w->shape.d[2] * w->shape.d[3];
    int64_t p = n->iattr[1], plane = x->shape.d[1] * (x->shape.d[2] + 2 * p) * (x->shape.d[3] + 2 * p);
    return k <= CG_QUANT_MAX_K && plane <= CG_QUANT_MAX_K;
}

static const ir_node *knode(cg_ctx *cx, int id) { return cx->g->nodes.data[id]; }

int cg_quant_only(cg_ctx *cx, int id) {
    int readers = 0;
    if (!cx->o->quant_absmax || knode(cx, id)->op != IR_PARAM) return 0;
    for (int i = 0; i < cx->g->nodes.len; i++) {
        const ir_node *n = knode(cx, i);
        for (int k = 0; cg_used(cx, i) && k < n->nin; k++) {
            if (n->in[k] != id) continue;
            if (k != 1 || !cg_quant_layer(cx->g, n)) return 0;
            readers++;
        }
    }
    return readers > 0;
}

/* The forward plan's span of parameter id: to the next parameter's offset
 * (its padding included) or to the end. */
static size_t param_span(cg_ctx *cx, int id) {
    const mem_plan *mp = &cx->p->mem[ENTRY_FORWARD];
    size_t end = mp->param_elems;
    for (int i = 0; i < cx->g->params.len; i++) {
        size_t o = mp->offset[cx->g->params.data[i]];
        if (o > mp->offset[id] && o < end) end = o;
    }
    return end - mp->offset[id];
}

int cg_quant_spans(cg_ctx *cx, size_t *lo, size_t *hi) {
    int n = 0;
    for (int i = 0; cx->o->quant_absmax && i < cx->g->params.len; i++) {
        int id = cx->g->params.data[i];
        if (!cg_quant_only(cx, id)) continue;
        lo[n] = cx->p->mem[ENTRY_FORWARD].offset[id];
        hi[n] = lo[n] + param_span(cx, id);
        n++;
    }
    return n;
}

size_t cg_quant_dropped_below(cg_ctx *cx, size_t off) {
    size_t n = 0;
    for (int i = 0; cx->o->quant_absmax && i < cx->g->params.len; i++) {
        int id = cx->g->params.data[i];
        if (cx->p->mem[ENTRY_FORWARD].offset[id] < off && cg_quant_only(cx, id)) n += param_span(cx, id);
    }
    return n;
}

int cg_f32_param_count(cg_ctx *cx) {
    int n = 0;
    for (int i = 0; i < cx->g->params.len; i++) n += !cg_quant_only(cx, cx->g->params.data[i]);
    return n;
}
