/* passes.c — target-independent passes over the IR.
 *
 *   pass_fold     requires: shapes inferred. guarantees: no foldable op has
 *                 only constant inputs (each becomes a CONST node in place).
 *   ir_schedule   the nodes reachable from a set of roots, in topological
 *                 order: dead-code elimination per entry point.
 */
#include "ir.h"

#include <stdlib.h>

enum { FOLD_MAX_ELEMS = 1 << 16 }; /* bigger results stay computed at run time */

static int all_const(const ir_graph *g, const ir_node *n) {
    for (int i = 0; i < n->nin; i++)
        if (g->nodes.data[n->in[i]]->op != IR_CONST) return 0;
    return n->nin > 0;
}

/* Is node id a parameter's gradient slot? The training entry point must
 * write it into the gradient buffer, so it stays computed: a CONST has no
 * kernel, and memplan would give it MEM_CONST instead of MEM_GRAD. */
static int is_grad_slot(const ir_graph *g, int id) {
    for (int p = 0; p < g->grads.len; p++)
        if (g->grads.data[p] == id) return 1;
    return 0;
}

int pass_fold(ir_graph *g) {
    int folded = 0;
    for (int i = 0; i < g->nodes.len; i++) {
        ir_node *n = g->nodes.data[i];
        if (!all_const(g, n) || ir_numel(&n->shape) > FOLD_MAX_ELEMS || n->dtype != DT_F32) continue;
        if (is_grad_slot(g, i)) continue;
        const double *in[IR_MAX_IN];
        for (int j = 0; j < n->nin; j++) in[j] = g->nodes.data[n->in[j]]->data;
        double *out = arena_alloc(g->a, sizeof(double) * (size_t)(ir_numel(&n->shape) + 1));
        if (ir_eval_node(g, n, in, out) != 0) continue;
        n->op = IR_CONST;
        n->nin = 0;
        n->data = out;
        folded++;
    }
    return folded;
}

void ir_schedule(const ir_graph *g, const int *roots, int nroots, ir_sched *s) {
    memset(s, 0, sizeof *s);
    s->live = arena_alloc(g->a, (size_t)g->nodes.len + 1);
    for (int i = 0; i < nroots; i++)
        if (roots[i] >= 0) s->live[roots[i]] = 1;
    for (int i = g->nodes.len - 1; i >= 0; i--) {
        const ir_node *n = g->nodes.data[i];
        if (!s->live[i]) continue;
        for (int j = 0; j < n->nin; j++) s->live[n->in[j]] = 1;
    }
    for (int i = 0; i < g->nodes.len; i++)
        if (s->live[i] && ir_ops[g->nodes.data[i]->op].cls != OPC_SOURCE)
            arr_push(g->a, s->order, i);
}
