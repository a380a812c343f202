/* eval.c — a reference evaluator in double precision for the ops constant
 * folding needs: elementwise ops (their ops.def formula, read by
 * formula.c), sums, expands and reshapes. */
#include "ir.h"

static void eval_reduce(const ir_graph *g, const ir_node *n, const double *x, double *y) {
    const ir_node *src = n->op == IR_SUM ? g->nodes.data[n->in[0]] : n;
    int64_t outer, len, inner;
    ir_reduce_view(&src->shape, (int)n->iattr[0], (int)n->iattr[1], &outer, &len, &inner);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            if (n->op == IR_SUM) {
                double s = 0;
                for (int64_t l = 0; l < len; l++) s += x[(o * len + l) * inner + i];
                y[o * inner + i] = s * n->fattr[0];
            } else {
                for (int64_t l = 0; l < len; l++) y[(o * len + l) * inner + i] = x[o * inner + i] * n->fattr[0];
            }
        }
}

/* An elementwise op: its formula at every element, b (if any) broadcast
 * as a suffix. -1 if the formula does not parse (the unit tests make sure
 * every ops.def formula does). */
static int eval_elementwise(const ir_graph *g, const ir_node *n, const double *const *in, double *out) {
    const ir_formula *f = ir_formula_parse(g->a, ir_ops[n->op].expr, NULL);
    if (!f) return -1;
    int64_t N = ir_numel(&n->shape), na = ir_numel(&g->nodes.data[n->in[0]]->shape), nb = 1;
    const double *b = in[0];
    if (ir_ops[n->op].cls == OPC_BINARY) {
        nb = ir_numel(&g->nodes.data[n->in[1]]->shape);
        b = in[1];
    }
    for (int64_t i = 0; i < N; i++) out[i] = ir_formula_eval(f, in[0][i % na], b[i % nb], n->fattr[0], n->fattr[1]);
    return 0;
}

int ir_eval_node(const ir_graph *g, const ir_node *n, const double *const *in, double *out) {
    ir_opclass cls = ir_ops[n->op].cls;
    if (cls == OPC_UNARY || cls == OPC_BINARY) return eval_elementwise(g, n, in, out);
    if (n->op == IR_SUM || n->op == IR_EXPAND) {
        eval_reduce(g, n, in[0], out);
    } else if (n->op == IR_RESHAPE) {
        for (int64_t i = 0, N = ir_numel(&n->shape); i < N; i++) out[i] = in[0][i];
    } else {
        return -1;
    }
    return 0;
}
