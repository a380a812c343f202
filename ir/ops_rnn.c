/* ops_rnn.c — shape and gradient rules of the recurrent family.
 *
 * A layer (frontend/lib_rnn.c) lowers to
 *
 *   xp    = matmul(x, W_ih; tb=1) + b_ih        [B, T, G*H]  core IR
 *   state = rnn_scan(xp, W_hh, b_hh)            [B, T, S*H]
 *   h     = slice(state, axis 2, [0, H))        [B, T, H]
 *
 * and the gradient of rnn_scan is
 *
 *   d     = rnn_scan_grad(dstate, state, W_hh)  BPTT over t, one kernel
 *   dxp   = slice(d, axis 2, ...)               -> autodiff of matmul + add
 *   dgh   = slice(d, axis 2, ...)               gradient of W_hh h_prev + b_hh
 *   dW_hh = matmul(dgh, h_prev; ta=1)           summed over (b, t) as [B*T, ..]
 *   db_hh = sum(dgh, axes [0, 2))
 *
 * with h_prev = pad(slice(h, axis 1, [0, T - 1)), axis 1, at 1 of T): h one
 * step later, zero at t = 0. slice and pad are the attn family's general
 * ops (their gradients are each other). The layouts of the state and of
 * rnn_scan_grad's output are in rnn.h.
 */
#include "rules.h"
#include "rnn.h"

#include <stdlib.h>

/* A gradient node with integer attributes a0, a1 (and a2). */
static int op_attr(ad_ctx *c, ir_op o, const ir_node *at, const int *in, int64_t a0, int64_t a1, int64_t a2) {
    int64_t ia[IR_MAX_ATTR] = {a0, a1, a2};
    return ad_op(c, o, at, in, ia, NULL, NULL);
}

/* The cell kind and H of an rnn_scan(_grad) node, checked; H at most
 * INT64_MAX / 8, so that the widths and offsets (at most 8 H, rnn.h) of the
 * rules fit. */
static const char *cell_attrs(ir_graph *g, const ir_node *n, int *cell, int64_t *H) {
    *cell = (int)n->iattr[0];
    *H = n->iattr[1];
    if (*cell < 0 || *cell >= RNN_CELL_COUNT || *H < 1 || *H > INT64_MAX / 8)
        return arena_printf(g->a, "%s: bad cell kind %lld or hidden size %lld", ir_ops[n->op].name,
                            (long long)n->iattr[0], (long long)n->iattr[1]);
    return NULL;
}

/* ---- the recurrence ---------------------------------------------------- */

/* RNN_SCAN(xp [B, T, G*H], W_hh [G*H, H], b_hh [G*H]) -> state [B, T, S*H] */
const char *shape_RNN_SCAN(ir_graph *g, ir_node *n) {
    int cell;
    int64_t H;
    const char *e = cell_attrs(g, n, &cell, &H);
    if (e) return e;
    const ir_shape *xp = &ir_in(g, n, 0)->shape, *w = &ir_in(g, n, 1)->shape, *b = &ir_in(g, n, 2)->shape;
    int64_t GH = rnn_gates(cell) * H;
    if (xp->rank != 3 || xp->d[2] != GH || w->rank != 2 || w->d[0] != GH || w->d[1] != H || b->rank != 1 ||
        b->d[0] != GH)
        return arena_printf(g->a, "rnn_scan with %d gates of %lld needs xp [B, T, %lld], W_hh [%lld, %lld] and "
                            "b_hh [%lld], got %s, %s and %s", rnn_gates(cell), (long long)H, (long long)GH,
                            (long long)GH, (long long)H, (long long)GH, ir_sstr(g, xp), ir_sstr(g, w), ir_sstr(g, b));
    int64_t d[3] = {xp->d[0], xp->d[1], rnn_state_width(cell) * H};
    n->shape = ir_shape_make(3, d);
    return shape_float_inputs(g, n);
}

/* BPTT: one rnn_scan_grad, then the parameter gradients as core IR over
 * the [B*T, ...] views. */
void vjp_RNN_SCAN(ad_ctx *c, ir_node *n, int dy) {
    int cell = (int)n->iattr[0];
    int64_t H = n->iattr[1], GH = rnn_gates(cell) * H, W = rnn_grad_width(cell) * H;
    int in[3] = {dy, n->id, n->in[1]};
    int d = op_attr(c, IR_RNN_SCAN_GRAD, n, in, cell, H, 0);
    /* the dxp and dgh parts: the whole output when it is just that */
    int dxp = W == GH ? d : op_attr(c, IR_SLICE, n, &d, 2, rnn_grad_dxp_at(cell) * H, rnn_grad_dxp_at(cell) * H + GH);
    int dgh = rnn_grad_dgh_at(cell) == rnn_grad_dxp_at(cell)
                  ? dxp
                  : op_attr(c, IR_SLICE, n, &d, 2, rnn_grad_dgh_at(cell) * H, rnn_grad_dgh_at(cell) * H + GH);
    ad_acc(c, n, 0, dxp);
    if (ad_needs(c, n, 1)) { /* dW_hh = sum over (b, t) of dgh^T h_prev */
        /* h_prev[:, t] = h[:, t - 1], zero at t = 0: the first T - 1 steps of h
         * placed one step later */
        int64_t T = n->shape.d[1];
        int h = op_attr(c, IR_SLICE, n, &n->id, 2, 0, H);
        int hprev = T == 1 ? -1 : op_attr(c, IR_SLICE, n, &h, 1, 0, T - 1);
        if (hprev >= 0) hprev = op_attr(c, IR_PAD, n, &hprev, 1, 1, T);
        int mm[2] = {dgh, hprev};
        if (hprev >= 0) ad_acc(c, n, 1, op_attr(c, IR_MATMUL, n, mm, 1, 0, 0));
    }
    if (ad_needs(c, n, 2)) { /* db_hh = sum over (b, t) of dgh */
        int64_t ia[IR_MAX_ATTR] = {0, 2};
        double fa[4] = {1};
        ad_acc(c, n, 2, ad_op(c, IR_SUM, n, &dgh, ia, fa, NULL));
    }
}

/* RNN_SCAN_GRAD(dstate [B, T, S*H], state [B, T, S*H], W_hh [G*H, H])
 * -> [B, T, W*H] (rnn.h) */
const char *shape_RNN_SCAN_GRAD(ir_graph *g, ir_node *n) {
    int cell;
    int64_t H;
    const char *e = cell_attrs(g, n, &cell, &H);
    if (e) return e;
    const ir_shape *ds = &ir_in(g, n, 0)->shape, *st = &ir_in(g, n, 1)->shape, *w = &ir_in(g, n, 2)->shape;
    int64_t SH = rnn_state_width(cell) * H, GH = rnn_gates(cell) * H;
    int ok = st->rank == 3 && st->d[2] == SH && ir_shape_eq(ds, st) && w->rank == 2 && w->d[0] == GH && w->d[1] == H;
    if (!ok)
        return arena_printf(g->a, "rnn_scan_grad: dstate %s, state %s and W_hh %s do not match a cell of %lld",
                            ir_sstr(g, ds), ir_sstr(g, st), ir_sstr(g, w), (long long)H);
    int64_t d[3] = {st->d[0], st->d[1], rnn_grad_width(cell) * H};
    n->shape = ir_shape_make(3, d);
    return shape_float_inputs(g, n);
}

/* ---- slice and pad along the last axis ---------------------------------- */

