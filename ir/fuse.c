/* fuse.c — elementwise fusion and GEMM epilogues, and their two ops.
 *
 *   pass_simplify  requires: autodiff done. guarantees: relu_grad(dy, x)
 *                  reads y = relu(x) when y exists (y > 0 exactly when
 *                  x > 0, NaN included), so x keeps one use and can fuse.
 *   pass_fuse      requires: autodiff done (fused ops have no gradient
 *                  rule), shapes inferred. guarantees: softmax of a
 *                  causal_mask(x, -inf) with one use is causal_softmax(x)
 *                  (row i normalizes columns j <= i and writes 0 beyond:
 *                  the same numbers, as exp(-inf) = 0), and the adjoint
 *                  mask after its softmax_grad is dropped (softmax_grad
 *                  is y (dy - sum) and y is 0 there: the same numbers for
 *                  finite dy); every elementwise
 *                  node whose only use is an elementwise node of the same
 *                  shape is absorbed into its user, which becomes FUSED
 *                  (one loop over memory); a MATMUL whose only use is such
 *                  a tree, as an operand of the tree's shape, is absorbed
 *                  too, which becomes MATMUL_EP (the tree runs as the
 *                  GEMM's epilogue, on each block of C while it is in
 *                  cache). Values a schedule must keep (outputs, losses,
 *                  gradient slots) are never absorbed. Absorbed nodes lose
 *                  their last use; the schedules drop them.
 *
 * The fused kernels compute exactly what the separate kernels did: the
 * same formulas in the same order, each step rounded to the element type.
 */
#include "rules.h"

#include <math.h>
#include <stdlib.h>

static int elementwise(const ir_node *n) {
    return ir_ops[n->op].cls == OPC_UNARY || ir_ops[n->op].cls == OPC_BINARY;
}

/* ---- the two ops ---------------------------------------------------------- */

/* fused(x0, ..): every input broadcasts (suffix) to the output, which is
 * the largest of them. */
const char *shape_FUSED(ir_graph *g, ir_node *n) {
    if (!n->prog || n->nin < 1) return "fused node without a program";
    ir_shape s = ir_in(g, n, 0)->shape;
    for (int i = 1; i < n->nin; i++)
        if (!ir_broadcast(&s, &ir_in(g, n, i)->shape, &s))
            return arena_printf(g->a, "fused: input %s does not broadcast to %s", ir_sstr(g, &ir_in(g, n, i)->shape),
                                ir_sstr(g, &s));
    n->shape = s;
    return shape_float_inputs(g, n);
}

/* matmul_ep(a, b, x2, ..): the matmul's shape; x2.. broadcast to it. */
const char *shape_MATMUL_EP(ir_graph *g, ir_node *n) {
    if (!n->prog || n->nin < 2) return "matmul_ep node without a program";
    const char *e = shape_MATMUL(g, n);
    if (e) return e;
    for (int i = 2; i < n->nin; i++) {
        ir_shape s;
        if (!ir_broadcast(&n->shape, &ir_in(g, n, i)->shape, &s) || !ir_shape_eq(&s, &n->shape))
            return arena_printf(g->a, "matmul_ep: epilogue input %s does not broadcast to %s",
                                ir_sstr(g, &ir_in(g, n, i)->shape), ir_sstr(g, &n->shape));
    }
    return NULL;
}

/* causal_softmax(x [..., T, T]) -> x's shape (causal_mask's rule) */
const char *shape_CAUSAL_SOFTMAX(ir_graph *g, ir_node *n) { return shape_CAUSAL_MASK(g, n); }

static void ir_fprog_str_step(const ir_node *n, int j, strbuf *b);

static void operand_str(const ir_node *n, int r, strbuf *b) {
    if (r == IR_FREF_ACC) sb_puts(b, "acc");
    else if (r >= IR_FREF_STEP) ir_fprog_str_step(n, r - IR_FREF_STEP, b);
    else sb_printf(b, "x%d", r);
}

static void ir_fprog_str_step(const ir_node *n, int j, strbuf *b) {
    const ir_fstep *s = &n->prog->step[j];
    sb_printf(b, "%s(", ir_ops[s->op].name);
    operand_str(n, s->a, b);
    if (ir_ops[s->op].cls == OPC_BINARY) {
        sb_puts(b, ", ");
        operand_str(n, s->b, b);
    }
    if (s->p != 0) sb_printf(b, "; p=%.9g", s->p);
    if (s->q != 0) sb_printf(b, "; q=%.9g", s->q);
    sb_puts(b, ")");
}

void ir_fprog_str(const ir_node *n, strbuf *b) { ir_fprog_str_step(n, n->prog->nstep - 1, b); }

/* ---- algebraic simplification -------------------------------------------- */

int pass_simplify(ir_graph *g) {
    int *relu_of = malloc(sizeof(int) * (size_t)g->nodes.len), changed = 0;
    for (int i = 0; i < g->nodes.len; i++) relu_of[i] = -1;
    for (int i = 0; i < g->nodes.len; i++) {
        ir_node *n = g->nodes.data[i];
        if (n->op == IR_RELU && relu_of[n->in[0]] < 0) relu_of[n->in[0]] = i;
        if (n->op == IR_RELU_GRAD && relu_of[n->in[1]] >= 0 && relu_of[n->in[1]] < i) {
            n->in[1] = relu_of[n->in[1]];
            changed++;
        }
    }
    free(relu_of);
    return changed;
}

/* ---- fusion -------------------------------------------------------------- */

typedef struct fuser {
    ir_graph *g;
    int *uses;       /* per node: references from live nodes */
    char *pinned;    /* per node: a schedule root, must stay a buffer */
    char *absorbed;  /* per node: folded into a later fused node */
    const ir_node *root;
    ir_fprog prog;
    int in[IR_MAX_IN], nin; /* external inputs */
    int matmul;      /* absorbed matmul id, or -1 */
    int pending;     /* emit_steps calls under way: each still adds a step */
} fuser;

/* Input slot of node id, adding it; -1 when there is no room. */
static int input_slot(fuser *f, int id) {
    for (int i = 0; i < f->nin; i++)
        if (f->in[i] == id) return i;
    if (f->nin == IR_MAX_IN) return -1;
    f->in[f->nin] = id;
    return f->nin++;
}

static int absorbable(const fuser *f, const ir_node *x) {
    return elementwise(x) && f->uses[x->id] == 1 && !f->pinned[x->id] && x->dtype == DT_F32 &&
           ir_shape_eq(&x->shape, &f->root->shape);
}

static int matmul_absorbable(const fuser *f, const ir_node *x) {
    return f->matmul < 0 && x->op == IR_MATMUL && f->uses[x->id] == 1 && !f->pinned[x->id] &&
           ir_shape_eq(&x->shape, &f->root->shape);
}

/* The operand reference for node id, absorbing it when it can be. Returns
 * -1 when the program is out of room (the caller gives up the group). */
static int operand(fuser *f, int id);

static int emit_steps(fuser *f, const ir_node *x) {
    /* too many steps already owed: the group fails anyway, so fail before
     * descending (a long chain would cost its length per root, and depth) */
    if (f->prog.nstep + f->pending >= IR_FUSE_MAX_STEPS) return -1;
    f->pending++;
    int a = operand(f, x->in[0]), b = 0;
    if (a >= 0 && ir_ops[x->op].cls == OPC_BINARY) b = operand(f, x->in[1]);
    f->pending--;
    if (a < 0 || b < 0) return -1;
    if (f->prog.nstep == IR_FUSE_MAX_STEPS) return -1;
    ir_fstep *s = &f->prog.step[f->prog.nstep];
    s->op = x->op;
    s->a = a;
    s->b = b;
    s->p = x->fattr[0];
    s->q = x->fattr[1];
    return IR_FREF_STEP + f->prog.nstep++;
}

static int operand(fuser *f, int id) {
    const ir_node *x = f->g->nodes.data[id];
    if (absorbable(f, x)) return emit_steps(f, x);
    return input_slot(f, id);
}

/* Absorb a matmul among the external inputs: it becomes acc, and its two
 * operands inputs 0 and 1. */
static void take_matmul(fuser *f) {
    for (int i = 0; i < f->nin; i++) {
        const ir_node *x = f->g->nodes.data[f->in[i]];
        if (!matmul_absorbable(f, x)) continue;
        int rest[IR_MAX_IN], nrest = 0, map[IR_MAX_IN];
        for (int j = 0; j < f->nin; j++)
            if (j != i) map[j] = 2 + nrest, rest[nrest++] = f->in[j];
        if (2 + nrest > IR_MAX_IN) return;
        map[i] = IR_FREF_ACC;
        for (int s = 0; s < f->prog.nstep; s++) {
            ir_fstep *st = &f->prog.step[s];
            if (st->a < IR_FREF_ACC) st->a = map[st->a];
            if (ir_ops[st->op].cls == OPC_BINARY && st->b < IR_FREF_ACC) st->b = map[st->b];
        }
        f->in[0] = x->in[0];
        f->in[1] = x->in[1];
        for (int j = 0; j < nrest; j++) f->in[2 + j] = rest[j];
        f->nin = 2 + nrest;
        f->matmul = x->id;
        return;
    }
}

/* Mark what the program absorbed (walks the same operands again). */
static void mark(fuser *f, const ir_node *x) {
    for (int j = 0; j < ir_ops[x->op].nin; j++) {
        const ir_node *y = f->g->nodes.data[x->in[j]];
        if (absorbable(f, y) && !f->absorbed[y->id]) {
            f->absorbed[y->id] = 1;
            mark(f, y);
        }
    }
}

static int fuse_root(fuser *f, ir_node *r) {
    f->root = r;
    f->prog.nstep = 0;
    f->nin = 0;
    f->matmul = -1;
    f->pending = 0;
    if (emit_steps(f, r) < 0) return 0;
    take_matmul(f);
    if (f->prog.nstep == 1 && f->matmul < 0) return 0; /* a lone op stays itself */
    mark(f, r);
    int absorbed = f->prog.nstep - 1;
    if (f->matmul >= 0) {
        const ir_node *mm = f->g->nodes.data[f->matmul];
        f->absorbed[mm->id] = 1;
        r->iattr[0] = mm->iattr[0];
        r->iattr[1] = mm->iattr[1];
        absorbed++;
    } else {
        r->iattr[0] = r->iattr[1] = 0;
    }
    ir_fprog *p = arena_alloc(f->g->a, sizeof *p);
    *p = f->prog;
    r->prog = p;
    r->op = f->matmul >= 0 ? IR_MATMUL_EP : IR_FUSED;
    r->nin = f->nin;
    memcpy(r->in, f->in, sizeof f->in);
    memset(r->fattr, 0, sizeof r->fattr);
    for (int i = 2; i < IR_MAX_ATTR; i++) r->iattr[i] = 0;
    return absorbed;
}

/* Replace every use of node `from` by `to` (to precedes from's users). */
static void redirect_uses(ir_graph *g, int from, int to) {
    for (int i = from + 1; i < g->nodes.len; i++) {
        ir_node *x = g->nodes.data[i];
        for (int j = 0; j < x->nin; j++)
            if (x->in[j] == from) x->in[j] = to;
    }
    for (int i = 0; i < g->outputs.len; i++)
        if (g->outputs.data[i] == from) g->outputs.data[i] = to;
}

/* The causal softmax of attention: softmax(causal_mask(x, -inf)) becomes
 * causal_softmax(x); causal_mask(softmax_grad(dy, y), 0) with y a causal
 * softmax becomes softmax_grad's value. Masks that a schedule keeps, or
 * that have other uses, stay. Returns how many nodes were absorbed. */
static int fuse_causal(ir_graph *g, const int *uses, const char *pinned) {
    int absorbed = 0;
    for (int i = 0; i < g->nodes.len; i++) {
        ir_node *n = g->nodes.data[i];
        if (n->op == IR_SOFTMAX) {
            const ir_node *m = g->nodes.data[n->in[0]];
            if (m->op == IR_CAUSAL_MASK && isinf(m->fattr[0]) && m->fattr[0] < 0 && uses[m->id] == 1 &&
                !pinned[m->id]) {
                n->op = IR_CAUSAL_SOFTMAX;
                n->in[0] = m->in[0];
                absorbed++;
            }
        } else if (n->op == IR_CAUSAL_MASK && n->fattr[0] == 0 && !pinned[i]) {
            const ir_node *sg = g->nodes.data[n->in[0]];
            if (sg->op == IR_SOFTMAX_GRAD && g->nodes.data[sg->in[1]]->op == IR_CAUSAL_SOFTMAX) {
                redirect_uses(g, i, sg->id);
                absorbed++;
            }
        }
    }
    return absorbed;
}

/* Use counts (references from live nodes) and pinned values (schedule
 * roots) of g. */
static void count_uses(ir_graph *g, int *uses, char *pinned, ir_sched *live) {
    ir_schedule_all(g, live);
    for (int i = 0; i < g->nodes.len; i++) {
        const ir_node *x = g->nodes.data[i];
        uses[i] = 0, pinned[i] = 0;
        if (ir_ops[x->op].flags & OPF_STATE) pinned[i] = 1;
    }
    for (int i = 0; i < g->nodes.len; i++) {
        const ir_node *x = g->nodes.data[i];
        if (!live->live[i]) continue;
        for (int j = 0; j < x->nin; j++) uses[x->in[j]]++;
    }
    for (int i = 0; i < g->outputs.len; i++) pinned[g->outputs.data[i]] = 1;
    if (g->loss >= 0) pinned[g->loss] = 1;
    if (g->loss_eval >= 0) pinned[g->loss_eval] = 1;
    for (int i = 0; i < g->grads.len; i++)
        if (g->grads.data[i] >= 0) pinned[g->grads.data[i]] = 1;
    for (int i = 0; i < g->input_grads.len; i++)
        if (g->input_grads.data[i] >= 0) pinned[g->input_grads.data[i]] = 1;
}

int pass_fuse(ir_graph *g) {
    int n = g->nodes.len, total = 0;
    ir_sched live;
    fuser f = {g, calloc((size_t)n, sizeof(int)), calloc((size_t)n, 1), calloc((size_t)n, 1), NULL, {0}, {0}, 0, -1, 0};
    count_uses(g, f.uses, f.pinned, &live);
    total += fuse_causal(g, f.uses, f.pinned);
    count_uses(g, f.uses, f.pinned, &live);
    for (int i = n - 1; i >= 0; i--) {
        ir_node *r = g->nodes.data[i];
        if (!live.live[i] || f.absorbed[i] || !elementwise(r) || r->dtype != DT_F32) continue;
        total += fuse_root(&f, r);
    }
    free(f.uses);
    free(f.pinned);
    free(f.absorbed);
    return total;
}
