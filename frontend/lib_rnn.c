/* lib_rnn.c — the rnn family of built-in ops (see elab.h).
 *
 *   rnn(x, hidden, layers = 1, bidirectional = false)   tanh RNN  nn.RNN
 *   lstm(x, hidden, layers = 1, bidirectional = false)  LSTM      nn.LSTM
 *   gru(x, hidden, layers = 1, bidirectional = false)   GRU       nn.GRU
 *
 * x : f32[B, T, I] -> f32[B, T, D*H], every step's hidden state of the last
 * layer (PyTorch's output[0] with batch_first=True, num_layers=layers),
 * zero initial state; D = 2 when bidirectional, the forward direction's
 * H first, then the reverse one's, which reads time backwards. Parameters
 * under the binding, PyTorch's names and layouts: weight_ih_lK [G*H, I_K],
 * weight_hh_lK [G*H, H], bias_ih_lK [G*H], bias_hh_lK [G*H] for layer K
 * (I_0 = I, later I_K = D*H) and the same with the suffix _reverse for the
 * reverse direction; G = 1, 4, 3 gates in PyTorch's order (LSTM i, f, g, o;
 * GRU r, z, n), all initialized U(-1/sqrt(H), 1/sqrt(H)) as PyTorch does.
 * No inter-layer dropout (PyTorch's default, dropout = 0). The lowering is
 * rnn_direction below (a reverse direction is flip, scan, flip back); the
 * scan's shape and gradient rules are in ir/ops_rnn.c.
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

/* A layer's boolean option: true or false (absent keeps *out). */
static int want_bool(elab *e, const builtin *b, val *v, int i, int *out) {
    if (v->kind == V_NONE || v->kind == V_ERR) return v->kind == V_NONE;
    if (v->kind == V_SYM && (!strcmp(v->sym, "true") || !strcmp(v->sym, "false"))) {
        *out = !strcmp(v->sym, "true");
        return 1;
    }
    diag_error(e->d, v->span, "%s: argument '%s' must be true or false", b->name, b->params[i]);
    return 0;
}

/* One direction of one layer: x [B, T, I] -> [B, T, H], with parameters
 * weight_ih_<sfx>, weight_hh_<sfx>, bias_ih_<sfx>, bias_hh_<sfx>. The
 * reverse direction reads time backwards: flip, scan, flip back. */
static val rnn_direction(elab *e, const ast_expr *call, int cell, val x, int64_t H, const char *sfx, int rev) {
    int64_t I = el_node(e, x.node)->shape.d[2], GH = rnn_gates(cell) * H;
    const char *leaf[4] = {"weight_ih_", "weight_hh_", "bias_ih_", "bias_hh_"};
    ir_node *p[4];
    for (int k = 0; k < 4; k++) {
        const char *name = arena_printf(e->g->a, "%s%s", leaf[k], sfx);
        p[k] = rnn_param(e, name, k < 2 ? 2 : 1, GH, k == 0 ? I : k == 1 ? H : 1, H, call->span);
        if (!p[k]) return el_err;
    }
    int64_t time[IR_MAX_ATTR] = {1};
    if (rev) x = el_apply(e, call, IR_FLIP, &x, 1, time, NULL);
    /* xp = x W_ih^T + b_ih over all steps at once: core matmul and add */
    val mm[2] = {x, el_tensor(p[0]->id, call->span)};
    int64_t tb[IR_MAX_ATTR] = {0, 1};
    val xp = el_apply(e, call, IR_MATMUL, mm, 2, tb, NULL);
    val ab[2] = {xp, el_tensor(p[2]->id, call->span)};
    xp = el_apply(e, call, IR_ADD, ab, 2, NULL, NULL);
    /* the recurrence over time: one op, one kernel */
    val sc[3] = {xp, el_tensor(p[1]->id, call->span), el_tensor(p[3]->id, call->span)};
    int64_t ia[IR_MAX_ATTR] = {cell, H};
    val state = el_apply(e, call, IR_RNN_SCAN, sc, 3, ia, NULL);
    int64_t sl[IR_MAX_ATTR] = {2, 0, H}; /* h: the first H of each step's state */
    val h = el_apply(e, call, IR_SLICE, &state, 1, sl, NULL);
    return rev ? el_apply(e, call, IR_FLIP, &h, 1, time, NULL) : h;
}

/* rnn/lstm/gru(x, hidden, layers = 1, bidirectional = false):
 * x [B, T, I] -> [B, T, D*H], D = 2 when bidirectional (forward then
 * reverse on the last axis); layer l > 0 reads layer l-1's output. */
static val b_recurrent(elab *e, const builtin *b, const ast_expr *call, val *args) {
    int64_t H, layers = 1;
    int bidir = 0;
    int ok = el_want_tensor(e, b, &args[0], 0);
    ok &= el_want_int(e, b, &args[1], 1, 1, &H);
    if (args[2].kind != V_NONE) ok &= el_want_int(e, b, &args[2], 2, 1, &layers);
    ok &= want_bool(e, b, &args[3], 3, &bidir);
    if (!ok) return el_err;
    ir_node *x = el_node(e, args[0].node);
    if (x->shape.rank != 3 || x->dtype != DT_F32) {
        diag_error(e->d, args[0].span, "%s expects a sequence f32[B, T, I], got %s", b->name, el_type_str(e, x->id));
        return el_err;
    }
    val h = args[0];
    for (int64_t l = 0; l < layers && h.kind == V_TENSOR; l++) {
        val f = rnn_direction(e, call, cell_of(b), h, H, arena_printf(e->g->a, "l%lld", (long long)l), 0);
        if (!bidir || f.kind != V_TENSOR) {
            h = f;
            continue;
        }
        const char *sfx = arena_printf(e->g->a, "l%lld_reverse", (long long)l);
        val cat[2] = {f, rnn_direction(e, call, cell_of(b), h, H, sfx, 1)};
        int64_t last[IR_MAX_ATTR] = {2};
        h = el_apply(e, call, IR_CONCAT, cat, 2, last, NULL);
    }
    return h;
}

const builtin elab_lib_rnn[] = {
    {"rnn", {"x", "hidden", "layers", "bidirectional"}, 2, b_recurrent, B_EXPR, IR_RNN_SCAN, 1},
    {"lstm", {"x", "hidden", "layers", "bidirectional"}, 2, b_recurrent, B_EXPR, IR_RNN_SCAN, 1},
    {"gru", {"x", "hidden", "layers", "bidirectional"}, 2, b_recurrent, B_EXPR, IR_RNN_SCAN, 1},
    {NULL, {NULL}, 0, NULL, B_EXPR, IR_COPY, 0},
};
