/* passes.c — target-independent passes over the IR.
 *
 *   pass_fold     requires: shapes inferred. guarantees: no foldable op has
 *                 only constant inputs (each becomes a CONST node in place).
 *   pass_cse      requires: shapes inferred. guarantees: no two nodes
 *                 compute the same op of the same inputs and attributes
 *                 (later duplicates are redirected to the first; constants
 *                 with equal values merge). Side-effecting ops and gradient
 *                 slots are never merged.
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
    for (int i = 0; i < g->input_grads.len; i++)
        if (g->input_grads.data[i] == id) return 1;
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

/* ---- common subexpression elimination ----------------------------------- */

static int same_attrs(const ir_node *a, const ir_node *b) {
    return !memcmp(a->iattr, b->iattr, sizeof a->iattr) && !memcmp(a->fattr, b->fattr, sizeof a->fattr) &&
           ir_shape_eq(&a->ashape, &b->ashape);
}

/* May x merge with an equal node at all? Inputs and params are distinct by
 * name, and side effects never merge. */
static int mergeable(const ir_node *x) {
    if (ir_ops[x->op].cls == OPC_SOURCE && x->op != IR_CONST) return 0;
    return !(ir_ops[x->op].flags & OPF_STATE);
}

/* May b be replaced by a (a precedes b)? */
static int equivalent(const ir_node *a, const ir_node *b) {
    if (a->op != b->op || a->nin != b->nin || a->dtype != b->dtype || !ir_shape_eq(&a->shape, &b->shape)) return 0;
    if (!mergeable(a)) return 0;
    for (int i = 0; i < a->nin; i++)
        if (a->in[i] != b->in[i]) return 0;
    if (a->op == IR_CONST)
        return !memcmp(a->data, b->data, sizeof(double) * (size_t)ir_numel(&a->shape));
    return same_attrs(a, b);
}

static uint64_t node_hash(const ir_node *n) {
    uint64_t h = 1469598103934665603ull ^ (uint64_t)n->op;
    for (int i = 0; i < n->nin; i++) h = (h ^ (uint64_t)n->in[i]) * 1099511628211ull;
    for (int i = 0; i < n->shape.rank; i++) h = (h ^ (uint64_t)n->shape.d[i]) * 1099511628211ull;
    if (n->op == IR_CONST && ir_numel(&n->shape) > 0) {
        uint64_t bits;
        memcpy(&bits, &n->data[0], sizeof bits);
        h = (h ^ bits) * 1099511628211ull;
    }
    return h;
}

/* Replace every use of node `from` by `to` in the later nodes and the
 * graph's interface lists. */
static void redirect(ir_graph *g, const int *repl) {
    for (int i = 0; i < g->nodes.len; i++) {
        ir_node *n = g->nodes.data[i];
        for (int j = 0; j < n->nin; j++) n->in[j] = repl[n->in[j]];
    }
    for (int i = 0; i < g->outputs.len; i++) g->outputs.data[i] = repl[g->outputs.data[i]];
    if (g->loss >= 0) g->loss = repl[g->loss];
    if (g->loss_eval >= 0) g->loss_eval = repl[g->loss_eval];
}

/* is_grad_slot of every node, in one sweep (free it). */
static char *grad_slot_marks(const ir_graph *g) {
    char *m = calloc((size_t)g->nodes.len + 1, 1);
    for (int p = 0; p < g->grads.len; p++)
        if (g->grads.data[p] >= 0) m[g->grads.data[p]] = 1;
    for (int i = 0; i < g->input_grads.len; i++)
        if (g->input_grads.data[i] >= 0) m[g->input_grads.data[i]] = 1;
    return m;
}

int pass_cse(ir_graph *g) {
    int n = g->nodes.len, merged = 0, nb = 1;
    while (nb < 2 * n) nb *= 2;
    int *repl = malloc(sizeof(int) * (size_t)n), *table = malloc(sizeof(int) * (size_t)nb);
    char *grad_slot = grad_slot_marks(g);
    for (int i = 0; i < nb; i++) table[i] = -1;
    for (int i = 0; i < n; i++) {
        ir_node *x = g->nodes.data[i];
        for (int j = 0; j < x->nin; j++) x->in[j] = repl[x->in[j]]; /* inputs first: chains merge too */
        repl[i] = i;
        /* nodes that never merge stay out of the table: the params of one
         * shape all hash alike, and probing past them made CSE quadratic */
        if (!mergeable(x) || grad_slot[i]) continue;
        size_t slot = (size_t)(node_hash(x) & (uint64_t)(nb - 1));
        for (; table[slot] >= 0; slot = (slot + 1) & (size_t)(nb - 1))
            if (equivalent(g->nodes.data[table[slot]], x)) break;
        if (table[slot] >= 0) {
            repl[i] = table[slot];
            merged++;
        } else {
            table[slot] = i;
        }
    }
    redirect(g, repl);
    free(repl);
    free(table);
    free(grad_slot);
    return merged;
}

void ir_schedule_all(const ir_graph *g, ir_sched *s) {
    ARR(int) roots = {0};
    for (int i = 0; i < g->outputs.len; i++) arr_push(g->a, roots, g->outputs.data[i]);
    if (g->loss >= 0) arr_push(g->a, roots, g->loss);
    if (g->loss_eval >= 0) arr_push(g->a, roots, g->loss_eval);
    for (int i = 0; i < g->grads.len; i++) arr_push(g->a, roots, g->grads.data[i]);
    for (int i = 0; i < g->input_grads.len; i++) arr_push(g->a, roots, g->input_grads.data[i]);
    for (int i = 0; i < g->nodes.len; i++)
        if (ir_ops[g->nodes.data[i]->op].flags & OPF_STATE) arr_push(g->a, roots, i);
    ir_schedule(g, roots.data, roots.len, s);
}
