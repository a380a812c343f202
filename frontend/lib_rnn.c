/* lib_rnn.c — the rnn family of built-in ops (see elab.h).
 *
 *   rnn(x, hidden)   tanh RNN   nn.RNN(I, H, batch_first=True)
 *   lstm(x, hidden)  LSTM       nn.LSTM(I, H, batch_first=True)
 *   gru(x, hidden)   GRU        nn.GRU(I, H, batch_first=True)
 *
 * x : f32[B, T, I] -> f32[B, T, H], every step's hidden state (PyTorch's
 * output[0]), one layer, unidirectional, zero initial state. Parameters
 * under the binding, PyTorch's names and layouts: weight_ih_l0 [G*H, I],
 * weight_hh_l0 [G*H, H], bias_ih_l0 [G*H], bias_hh_l0 [G*H], G = 1, 4, 3
 * gates in PyTorch's order (LSTM i, f, g, o; GRU r, z, n), all initialized
 * U(-1/sqrt(H), 1/sqrt(H)) as PyTorch does. The lowering is b_recurrent
 * below; the scan's shape and gradient rules are in ir/ops_rnn.c.
 */
#include "elab.h"
#include "../ir/rnn.h"

#include <math.h>

/* A parameter of the layer, U(-k, k) with k = 1/sqrt(H). */
static ir_node *rnn_param(elab *e, const char *leaf, int rank, int64_t d0, int64_t d1, int64_t H, src_span at) {
    int64_t d[2] = {d0, d1};
    ir_node *p = el_param(e, el_param_name(e, leaf), ir_shape_make(rank, d), at);
    if (!p) return NULL;
    p->init = INIT_UNIFORM;
    p->fill = 1.0 / sqrt((double)H);
    p->fan_in = rank == 2 ? d1 : d0;
    p->fan_out = d0;
    return p;
}

/* The cell kind of a built-in, from its name. */
static int cell_of(const builtin *b) {
    return !strcmp(b->name, "lstm") ? RNN_CELL_LSTM : !strcmp(b->name, "gru") ? RNN_CELL_GRU : RNN_CELL_TANH;
}

/* rnn/lstm/gru(x, hidden): x [B, T, I] -> [B, T, H]. */
static val b_recurrent(elab *e, const builtin *b, const ast_expr *call, val *args) {
    int64_t H;
    int ok = el_want_tensor(e, b, &args[0], 0);
    ok &= el_want_int(e, b, &args[1], 1, 1, &H);
    if (!ok) return el_err;
    ir_node *x = el_node(e, args[0].node);
    if (x->shape.rank != 3 || x->dtype != DT_F32) {
        diag_error(e->d, args[0].span, "%s expects a sequence f32[B, T, I], got %s", b->name, el_type_str(e, x->id));
        return el_err;
    }
    int cell = cell_of(b);
    int64_t I = x->shape.d[2], GH = rnn_gates(cell) * H;
    ir_node *wih = rnn_param(e, "weight_ih_l0", 2, GH, I, H, call->span);
    ir_node *whh = wih ? rnn_param(e, "weight_hh_l0", 2, GH, H, H, call->span) : NULL;
    ir_node *bih = whh ? rnn_param(e, "bias_ih_l0", 1, GH, 1, H, call->span) : NULL;
    ir_node *bhh = bih ? rnn_param(e, "bias_hh_l0", 1, GH, 1, H, call->span) : NULL;
    if (!bhh) return el_err;
    /* xp = x W_ih^T + b_ih over all steps at once: core matmul and add */
    val mm[2] = {args[0], el_tensor(wih->id, call->span)};
    int64_t tb[IR_MAX_ATTR] = {0, 1};
    val xp = el_apply(e, call, IR_MATMUL, mm, 2, tb, NULL);
    val ab[2] = {xp, el_tensor(bih->id, call->span)};
    xp = el_apply(e, call, IR_ADD, ab, 2, NULL, NULL);
    /* the recurrence over time: one op, one kernel */
    val sc[3] = {xp, el_tensor(whh->id, call->span), el_tensor(bhh->id, call->span)};
    int64_t ia[IR_MAX_ATTR] = {cell, H};
    val state = el_apply(e, call, IR_RNN_SCAN, sc, 3, ia, NULL);
    int64_t sl[IR_MAX_ATTR] = {2, 0, H}; /* h: the first H of each step's state */
    return el_apply(e, call, IR_SLICE, &state, 1, sl, NULL);
}

const builtin elab_lib_rnn[] = {
    {"rnn", {"x", "hidden"}, 2, b_recurrent, B_EXPR, IR_RNN_SCAN, 1},
    {"lstm", {"x", "hidden"}, 2, b_recurrent, B_EXPR, IR_RNN_SCAN, 1},
    {"gru", {"x", "hidden"}, 2, b_recurrent, B_EXPR, IR_RNN_SCAN, 1},
    {NULL, {NULL}, 0, NULL, B_EXPR, IR_COPY, 0},
};
