/* eval.c — a reference evaluator in double precision for the ops constant
 * folding needs: elementwise ops, sums, expands and reshapes. */
#include "ir.h"

#include <math.h>

static double unary(ir_op op, double a) {
    switch (op) {
    case IR_COPY: return a;
    case IR_NEG: return -a;
    case IR_RELU: return a > 0 ? a : 0;
    case IR_SIGMOID: return 1 / (1 + exp(-a));
    case IR_TANH: return tanh(a);
    case IR_EXP: return exp(a);
    case IR_LOG: return log(a);
    default: return NAN;
    }
}

static double binary(ir_op op, double a, double b) {
    switch (op) {
    case IR_ADD: return a + b;
    case IR_SUB: return a - b;
    case IR_MUL: return a * b;
    case IR_DIV: return a / b;
    case IR_RELU_GRAD: return b > 0 ? a : 0;
    case IR_SIGMOID_GRAD: return a * b * (1 - b);
    case IR_TANH_GRAD: return a * (1 - b * b);
    default: return NAN;
    }
}

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

/* Does unary()/binary() know this elementwise op? The families' rows
 * (ops_*.c) fall to their default, NAN, and are not folded. */
static int known_elementwise(ir_op op, ir_opclass cls) {
    return !isnan(cls == OPC_UNARY ? unary(op, 1) : binary(op, 1, 1));
}

int ir_eval_node(const ir_graph *g, const ir_node *n, const double *const *in, double *out) {
    int64_t N = ir_numel(&n->shape);
    ir_opclass cls = ir_ops[n->op].cls;
    if ((cls == OPC_UNARY || cls == OPC_BINARY) && !known_elementwise(n->op, cls)) return -1;
    if (cls == OPC_UNARY) {
        for (int64_t i = 0; i < N; i++) out[i] = unary(n->op, in[0][i]);
    } else if (cls == OPC_BINARY) {
        int64_t na = ir_numel(&g->nodes.data[n->in[0]]->shape);
        int64_t nb = ir_numel(&g->nodes.data[n->in[1]]->shape);
        for (int64_t i = 0; i < N; i++) out[i] = binary(n->op, in[0][i % na], in[1][i % nb]);
    } else if (n->op == IR_SUM || n->op == IR_EXPAND) {
        eval_reduce(g, n, in[0], out);
    } else if (n->op == IR_RESHAPE) {
        for (int64_t i = 0; i < N; i++) out[i] = in[0][i];
    } else {
        return -1;
    }
    return 0;
}
