/* import_rnn.c — LSTM, GRU and RNN as the language's lstm, gru and rnn layers (batch first,
 * PyTorch's gate order and parameter names): the constant W, R and B are split per direction and
 * their gate blocks reordered (ONNX: LSTM i o f c, GRU z r h; PyTorch: i f g o, r z n); a reverse
 * direction alone runs forward on the sequence flipped in time. Zero initial states only, default
 * activations, no peepholes or clipping; GRU with linear_before_reset = 1 (PyTorch's formula). */
#include "import.h"

typedef struct rnn_kind {
    const char *fn;
    int gates;
    int order[4];
} rnn_kind;

/* rows [off, off + G*H) of the constant m (rows of `cols` values), gate blocks in PyTorch's order */
static double *gate_rows(imp *im, const double *m, int64_t off, int64_t H, int64_t cols, const rnn_kind *k) {
    double *r = arena_alloc(&im->a, (size_t)(k->gates * H * cols) * sizeof *r);
    for (int g = 0; g < k->gates; g++)
        memcpy(r + g * H * cols, m + (off + k->order[g] * H) * cols, (size_t)(H * cols) * sizeof *r);
    return r;
}

/* the parameters of direction d: W [D, G*H, I], R [D, G*H, H], B [D, 2*G*H] (absent: zeros) */
static void rnn_weights(imp *im, const char *nm, const char *sfx, int d, ival *w[3], int64_t H, const rnn_kind *k) {
    int64_t G = k->gates, I = w[0]->dims[2], dih[2] = {G * H, I}, dhh[2] = {G * H, H}, db = G * H;
    double *zero = arena_alloc(&im->a, (size_t)(2 * G * H) * sizeof *zero);
    const double *b = w[2] ? w[2]->c + d * 2 * G * H : zero;
    imp_weight(im, arena_printf(&im->a, "%s.weight_ih_l0%s", nm, sfx), 2, dih,
               gate_rows(im, w[0]->c, d * G * H, H, I, k));
    imp_weight(im, arena_printf(&im->a, "%s.weight_hh_l0%s", nm, sfx), 2, dhh,
               gate_rows(im, w[1]->c, d * G * H, H, H, k));
    imp_weight(im, arena_printf(&im->a, "%s.bias_ih_l0%s", nm, sfx), 1, &db, gate_rows(im, b, 0, H, 1, k));
    imp_weight(im, arena_printf(&im->a, "%s.bias_hh_l0%s", nm, sfx), 1, &db, gate_rows(im, b, G * H, H, 1, k));
}

/* what nnc's layers do not have: -1 after an error naming it */
static int rnn_check(imp *im, const Onnx__NodeProto *n, ival *w[3], const rnn_kind *k, int64_t T) {
    for (int i = 0; i < 3; i++)
        if (w[i] && !w[i]->c)
            return imp_fail(im, "input '%s' must be an initializer (nnc's %s owns its weights)", w[i]->onnx, k->fn);
    ival *len = imp_in(im, 4);
    for (int64_t i = 0; len && i < imp_numel(len->rank, len->dims); i++)
        if (!len->c || len->c[i] != T) return imp_fail(im, "sequence_lens shorter than the sequence are not supported");
    for (int j = 5; j < (int)n->n_input; j++) {
        ival *s = imp_in(im, j);
        for (int64_t i = 0; s && i < imp_numel(s->rank, s->dims); i++)
            if (j == 7 || !s->c || s->c[i] != 0)
                return imp_fail(im, j == 7 ? "peepholes are not supported"
                                           : "initial states other than zero are not "
                                             "supported (nnc's recurrent layers start from zero)");
    }
    if (imp_attr(n, "activations") || imp_attr(n, "clip") || imp_ai(n, "input_forget", 0))
        return imp_fail(im, "activations, clip and input_forget other than the defaults are not supported");
    if (!strcmp(k->fn, "gru") && !imp_ai(n, "linear_before_reset", 0))
        return imp_fail(im,
                        "linear_before_reset = 0 is not supported (nnc's gru is PyTorch's, linear_before_reset = 1)");
    if (n->n_output > 2 && n->output[2][0]) return imp_fail(im, "the cell state output Y_c is not supported");
    return im->err[0] ? -1 : 0;
}

/* Y_h from o [B, T, D*H]: direction d's last step, as [D, B, H] (layout 0) or [B, D, H] */
static int last_states(imp *im, const char *o, int64_t B, int64_t T, int64_t D, int64_t H, int rev, int layout) {
    const char *e = NULL;
    int64_t one[3] = {layout ? B : 1, layout ? 1 : B, H}, od[3] = {layout ? B : D, layout ? D : B, H};
    for (int64_t d = 0; d < D; d++) {
        int64_t t = d == 0 && !rev ? T - 1 : 0;
        const char *s = arena_printf(&im->a, "reshape(%s[:, %lld, %lld:%lld], %s)", o, (long long)t, (long long)(d * H),
                                     (long long)((d + 1) * H), imp_shape(im, 3, one));
        e = e ? arena_printf(&im->a, "concat(%s, %s, %d)", e, s, layout ? 1 : 0) : s;
    }
    return imp_out(im, 1, e, 3, od);
}

static int recurrent(imp *im, const Onnx__NodeProto *n, const rnn_kind *k) {
    ival *x = imp_req(im, 0), *w[3] = {x ? imp_req(im, 1) : NULL, NULL, NULL};
    int layout = (int)imp_ai(n, "layout", 0);
    const char *dir = imp_as(n, "direction", "forward");
    int rev = !strcmp(dir, "reverse"), bi = !strcmp(dir, "bidirectional");
    if (!w[0] || !(w[1] = imp_req(im, 2)) || !imp_float(im, x)) return -1;
    w[2] = imp_in(im, 3);
    if (x->rank != 3 || w[0]->rank != 3) return imp_fail(im, "X and W must have rank 3");
    int64_t T = x->dims[layout ? 1 : 0], B = x->dims[layout ? 0 : 1], D = w[0]->dims[0];
    int64_t H = imp_ai(n, "hidden_size", w[1]->dims[2]), od[4];
    if (rnn_check(im, n, w, k, T)) return -1;
    if (D != 1 + bi || w[0]->dims[1] != k->gates * H) return imp_fail(im, "W does not match direction and hidden_size");
    const char *nm = imp_name(im, k->fn), *e = imp_tensor(im, x);
    for (int d = 0; d < D; d++) rnn_weights(im, nm, d ? "_reverse" : "", d, w, H, k);
    if (!layout) e = arena_printf(&im->a, "permute(%s, [1, 0, 2])", e);
    if (rev) e = arena_printf(&im->a, "flip(%s, 1)", e);
    sb_printf(&im->body, "    %s = %s(%s, %lld%s)\n", nm, k->fn, e, (long long)H, bi ? ", bidirectional = true" : "");
    const char *o = rev ? imp_let(im, arena_printf(&im->a, "flip(%s, 1)", nm)) : nm;
    int64_t r4[4] = {B, T, D, H}, p4[4] = {1, 2, 0, 3};
    memcpy(od, layout ? r4 : (int64_t[4]){T, D, B, H}, sizeof od);
    const char *y = arena_printf(&im->a, "reshape(%s, %s)", o, imp_shape(im, 4, r4));
    if (!layout) y = arena_printf(&im->a, "permute(%s, %s)", y, imp_shape(im, 4, p4));
    if (imp_out(im, 0, y, 4, od)) return -1;
    return n->n_output > 1 && n->output[1][0] ? last_states(im, o, B, T, D, H, rev, layout) : 0;
}

static int op_lstm(imp *im, const Onnx__NodeProto *n) {
    static const rnn_kind k = {"lstm", 4, {0, 2, 3, 1}};
    return recurrent(im, n, &k);
}

static int op_gru(imp *im, const Onnx__NodeProto *n) {
    static const rnn_kind k = {"gru", 3, {1, 0, 2, 0}};
    return recurrent(im, n, &k);
}

static int op_rnn(imp *im, const Onnx__NodeProto *n) {
    static const rnn_kind k = {"rnn", 1, {0, 0, 0, 0}};
    return recurrent(im, n, &k);
}

const imp_op imp_ops_rnn[] = {{"LSTM", op_lstm}, {"GRU", op_gru}, {"RNN", op_rnn}, {NULL, NULL}};
