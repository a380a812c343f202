/* k_rnn.c — C kernels of the recurrent family (see ir/ops_rnn.c for the
 * lowering and ir/rnn.h for the state layouts).
 *
 * rnn_scan and rnn_scan_grad loop over time inside one kernel, so the code
 * does not grow with the sequence length. Per step:
 *
 *   - the product of the [B, H] hidden states with W_hh^T (forward) or of
 *     the [B, G*H] gate gradients with W_hh (backward): one call of
 *     libnnrt's blocked GEMM on strided rows of the kernel's own output;
 *   - the cell: one loop over H per batch row. In f32 its tanh and sigmoid
 *     are nnc_tanhf, a rational approximation (at most 4e-7 from tanh)
 *     that inlines, so the loop has no calls and gcc -O2 vectorizes it;
 *     the first and last steps, which see
 *     no previous or next state, get loops of their own so the common one
 *     has no branches. In f64 they are libm's tanh and exp.
 */
#include "kernels.h"
#include "../../ir/rnn.h"

#include <stdint.h>
#include <string.h>


typedef long long ll;

/* ---- pieces ------------------------------------------------------------- */

/* C[B, N] += A[B, K] op(W) for one step, by libnnrt's GEMM (nnrt_gemm.h)
 * over strided rows: row b of A is a + b*lda, of C is c + b*ldc. A and C
 * both live in y (the previous state in the forward, the later step's
 * gradient in the backward) and never overlap. */
static void emit_step_gemm(cg_ctx *cx, const char *cond, int tb, ll B, ll N, ll K, const char *a, ll lda,
                           const char *w, ll ldw, const char *c, ll ldc) {
    sb_printf(cx->c, "        if (%s) %s(0, %d, %lld, %lld, %lld, %s, %lld, %s, %lld, 1, %s, %lld%s);\n", cond,
              cgk_gemm_fn(cx, 0), tb, B, N, K, a, lda, w, ldw, c, ldc, cgk_gemm_ws_args(cx, 0, tb, B, N, K));
}

/* Statements that set `T dst` to tanh(arg), or to sigmoid(arg) = (1 +
 * tanh(arg / 2)) / 2 when sigm. In f32 tanh is nnc_tanhf, the rational
 * approximation emit.c defines, so the cell loop vectorizes; in f64 they
 * are libm's tanh and exp. */
static void emit_act(cg_ctx *cx, const char *ind, int sigm, const char *dst, const char *arg) {
    strbuf *c = cx->c;
    const char *T = cx->T;
    if (cx->o->f64) {
        if (sigm) sb_printf(c, "%sconst %s %s = 1 / (1 + exp(-(%s)));\n", ind, T, dst, arg);
        else sb_printf(c, "%sconst %s %s = tanh(%s);\n", ind, T, dst, arg);
    } else {
        if (sigm) sb_printf(c, "%sconst float %s = 0.5f + 0.5f * nnc_tanhf(0.5f * (%s));\n", ind, dst, arg);
        else sb_printf(c, "%sconst float %s = nnc_tanhf(%s);\n", ind, dst, arg);
    }
}

/* An expression in the arena. */

/* ---- the forward scan ---------------------------------------------------- */

/* Offset of the gates' slots (W_hh h + b_hh lands there) in the state row. */
static ll gate_slots(int cell, ll H) { return cell == RNN_CELL_LSTM ? 2 * H : cell == RNN_CELL_GRU ? H : 0; }

/* The loop of the cell's update of row s from the input projection xr
 * (gate slots hold W_hh h_prev + b_hh on entry) and, unless first, the
 * previous state row sp. */
static void scan_cell(cg_ctx *cx, int cell, ll H, int first, const char *ind) {
    strbuf *c = cx->c;
    const char *T = cx->T, *in2 = arena_printf(cx->g->a, "%s    ", ind);
    sb_printf(c, "%sfor (long j = 0; j < %lld; j++) {\n", ind, H);
    if (cell == RNN_CELL_TANH) {
        emit_act(cx, in2, 0, "hh", "xr[j] + s[j]");
        sb_printf(c, "%ss[j] = hh;\n", in2);
    } else if (cell == RNN_CELL_LSTM) { /* [h, c, i, f, g, o] */
        emit_act(cx, in2, 1, "ig", arena_printf(cx->g->a, "xr[j] + s[%lld + j]", 2 * H));
        emit_act(cx, in2, 1, "fg", arena_printf(cx->g->a, "xr[%lld + j] + s[%lld + j]", H, 3 * H));
        emit_act(cx, in2, 0, "gg", arena_printf(cx->g->a, "xr[%lld + j] + s[%lld + j]", 2 * H, 4 * H));
        emit_act(cx, in2, 1, "og", arena_printf(cx->g->a, "xr[%lld + j] + s[%lld + j]", 3 * H, 5 * H));
        if (first) sb_printf(c, "%sconst %s cc = ig * gg;\n", in2, T);
        else sb_printf(c, "%sconst %s cc = fg * sp[%lld + j] + ig * gg;\n", in2, T, H);
        emit_act(cx, in2, 0, "tc", "cc");
        sb_printf(c, "%ss[j] = og * tc;\n%ss[%lld + j] = cc;\n", in2, in2, H);
        sb_printf(c, "%ss[%lld + j] = ig;\n%ss[%lld + j] = fg;\n", in2, 2 * H, in2, 3 * H);
        sb_printf(c, "%ss[%lld + j] = gg;\n%ss[%lld + j] = og;\n", in2, 4 * H, in2, 5 * H);
    } else { /* GRU: [h, r, z, W_hn h + b_hn, n] */
        emit_act(cx, in2, 1, "rg", arena_printf(cx->g->a, "xr[j] + s[%lld + j]", H));
        emit_act(cx, in2, 1, "zg", arena_printf(cx->g->a, "xr[%lld + j] + s[%lld + j]", H, 2 * H));
        emit_act(cx, in2, 0, "ng", arena_printf(cx->g->a, "xr[%lld + j] + rg * s[%lld + j]", 2 * H, 3 * H));
        if (first) sb_printf(c, "%ss[j] = (1 - zg) * ng;\n", in2);
        else sb_printf(c, "%ss[j] = (1 - zg) * ng + zg * sp[j];\n", in2);
        sb_printf(c, "%ss[%lld + j] = rg;\n%ss[%lld + j] = zg;\n%ss[%lld + j] = ng;\n", in2, H, in2, 2 * H, in2, 4 * H);
    }
    sb_printf(c, "%s}\n", ind);
}

/* state = scan over t of the cell; x0 = xp [B, T, G*H] (input projection
 * with b_ih), x1 = W_hh [G*H, H], x2 = b_hh [G*H]. */
void emit_RNN_SCAN(cg_ctx *cx, const ir_node *n) {
    int cell = (int)n->iattr[0];
    ll H = n->iattr[1], GH = rnn_gates(cell) * H, SW = rnn_state_width(cell) * H;
    ll B = n->shape.d[0], TT = n->shape.d[1], GO = gate_slots(cell, H);
    strbuf *c = cx->c;
    cgk_head(cx, n);
    sb_printf(c, "    for (long t = 0; t < %lld; t++) {\n", TT);
    sb_puts(c, "        /* b_hh + h(t-1) W_hh^T into the gate slots */\n");
    sb_printf(c, "        for (long b = 0; b < %lld; b++) {\n", B);
    sb_printf(c, "            %s *restrict gb = y + (b * %lld + t) * %lld + %lld;\n", cx->T, TT, SW, GO);
    sb_printf(c, "            for (long j = 0; j < %lld; j++) gb[j] = x2[j];\n        }\n", GH);
    emit_step_gemm(cx, "t > 0", 1, B, GH, H, arena_printf(cx->g->a, "y + (t - 1) * %lld", SW), TT * SW, "x1", H,
                   arena_printf(cx->g->a, "y + t * %lld + %lld", SW, GO), TT * SW);
    sb_puts(c, "        /* the cell */\n");
    sb_printf(c, "        for (long b = 0; b < %lld; b++) {\n", B);
    sb_printf(c, "            const %s *restrict xr = x0 + (b * %lld + t) * %lld;\n", cx->T, TT, GH);
    sb_printf(c, "            %s *restrict s = y + (b * %lld + t) * %lld;\n", cx->T, TT, SW);
    if (cell == RNN_CELL_TANH) {
        scan_cell(cx, cell, H, 1, "            ");
    } else {
        sb_puts(c, "            if (t > 0) {\n");
        sb_printf(c, "                const %s *restrict sp = s - %lld;\n", cx->T, SW);
        scan_cell(cx, cell, H, 0, "                ");
        sb_puts(c, "            } else {\n");
        scan_cell(cx, cell, H, 1, "                ");
        sb_puts(c, "            }\n");
    }
    sb_puts(c, "        }\n    }\n");
    cgk_tail(cx);
}

/* ---- backpropagation through time --------------------------------------- */

/* Where dh accumulates in the output row before the cell turns it into
 * the gate gradients: the slot that ends up holding the carried value. */
static ll dh_slot(int cell, ll H) { return cell == RNN_CELL_LSTM ? 4 * H : cell == RNN_CELL_GRU ? 6 * H : 0; }

/* The loop of the cell backward of output row o at step t: o's dh slot
 * holds dL/dh(t) on entry; s is the state row at t, ds the gradient of the
 * whole state row (the loss may read more than h), sp the state row at
 * t-1 and sn, on the state and output rows at t+1. prev, next: whether
 * t-1 and t+1 exist: 1 yes, 0 no, -1 decided at run time. */
static void grad_cell(cg_ctx *cx, int cell, ll H, int prev, int next, const char *ind) {
    strbuf *c = cx->c;
    const char *T = cx->T, *in2 = arena_printf(cx->g->a, "%s    ", ind);
    const char *hp = prev > 0 ? "sp[j]" : prev < 0 ? "(t > 0 ? sp[j] : 0)" : "0";
    sb_printf(c, "%sfor (long j = 0; j < %lld; j++) {\n", ind, H);
    if (cell == RNN_CELL_TANH) {
        sb_printf(c, "%so[j] = o[j] * (1 - s[j] * s[j]);\n", in2);
    } else if (cell == RNN_CELL_LSTM) { /* state [h, c, i, f, g, o] -> [di, df, dg, do (pre-activation), dc] */
        const char *cp = prev > 0   ? arena_printf(cx->g->a, "sp[%lld + j]", H)
                         : prev < 0 ? arena_printf(cx->g->a, "(t > 0 ? sp[%lld + j] : 0)", H)
                                    : "0";
        const char *dcn = next > 0   ? arena_printf(cx->g->a, " + on[%lld + j] * sn[%lld + j]", 4 * H, 3 * H)
                          : next < 0 ? arena_printf(cx->g->a, " + (on ? on[%lld + j] * sn[%lld + j] : 0)", 4 * H, 3 * H)
                                     : "";
        sb_printf(c, "%sconst %s dh = o[%lld + j];\n", in2, T, 4 * H);
        sb_printf(c, "%sconst %s ig = s[%lld + j], fg = s[%lld + j], gg = s[%lld + j], og = s[%lld + j];\n", in2, T,
                  2 * H, 3 * H, 4 * H, 5 * H);
        emit_act(cx, in2, 0, "tc", arena_printf(cx->g->a, "s[%lld + j]", H));
        sb_printf(c, "%sconst %s dc = dh * og * (1 - tc * tc) + ds[%lld + j]%s; /* + dc(t+1) f(t+1) */\n", in2, T, H,
                  dcn);
        sb_printf(c, "%sconst %s dog = dh * tc + ds[%lld + j];\n", in2, T, 5 * H);
        sb_printf(c, "%sconst %s di = dc * gg + ds[%lld + j];\n", in2, T, 2 * H);
        sb_printf(c, "%sconst %s df = dc * %s + ds[%lld + j];\n", in2, T, cp, 3 * H);
        sb_printf(c, "%sconst %s dg = dc * ig + ds[%lld + j];\n", in2, T, 4 * H);
        sb_printf(c, "%so[j] = di * ig * (1 - ig);\n%so[%lld + j] = df * fg * (1 - fg);\n", in2, in2, H);
        sb_printf(c, "%so[%lld + j] = dg * (1 - gg * gg);\n", in2, 2 * H);
        sb_printf(c, "%so[%lld + j] = dog * og * (1 - og);\n%so[%lld + j] = dc;\n", in2, 3 * H, in2, 4 * H);
    } else { /* state [h, r, z, ghn, n] -> [dxr, dxz, dxn, dghr, dghz, dghn, dh z] */
        sb_printf(c, "%sconst %s dh = o[%lld + j];\n", in2, T, 6 * H);
        sb_printf(c, "%sconst %s rg = s[%lld + j], zg = s[%lld + j], ghn = s[%lld + j], ng = s[%lld + j];\n", in2, T,
                  H, 2 * H, 3 * H, 4 * H);
        sb_printf(c, "%sconst %s dn = dh * (1 - zg) + ds[%lld + j];\n", in2, T, 4 * H);
        sb_printf(c, "%sconst %s dz = dh * (%s - ng) + ds[%lld + j];\n", in2, T, hp, 2 * H);
        sb_printf(c, "%sconst %s dpn = dn * (1 - ng * ng);\n", in2, T);
        sb_printf(c, "%sconst %s dr = dpn * ghn + ds[%lld + j];\n", in2, T, H);
        sb_printf(c, "%sconst %s dgn = dpn * rg + ds[%lld + j];\n", in2, T, 3 * H);
        sb_printf(c, "%sconst %s dpr = dr * rg * (1 - rg), dpz = dz * zg * (1 - zg);\n", in2, T);
        sb_printf(c, "%so[j] = dpr;\n%so[%lld + j] = dpz;\n%so[%lld + j] = dpn;\n", in2, in2, H, in2, 2 * H);
        sb_printf(c, "%so[%lld + j] = dpr;\n%so[%lld + j] = dpz;\n", in2, 3 * H, in2, 4 * H);
        sb_printf(c, "%so[%lld + j] = dgn;\n%so[%lld + j] = dh * zg;\n", in2, 5 * H, in2, 6 * H);
    }
    sb_printf(c, "%s}\n", ind);
}

/* The dh init: dh(t) = dstate_h(t), plus the GRU's carried dh(t+1) z(t+1). */
static void grad_dh_init(cg_ctx *cx, int cell, ll B, ll TT, ll H, ll OW, ll SW) {
    strbuf *c = cx->c;
    ll DH = dh_slot(cell, H);
    sb_puts(c, "        /* dh = dstate_h (+ the GRU's carried dh z of step t+1) */\n");
    sb_printf(c, "        for (long b = 0; b < %lld; b++) {\n", B);
    sb_printf(c, "            %s *restrict d = y + (b * %lld + t) * %lld + %lld;\n", cx->T, TT, OW, DH);
    sb_printf(c, "            const %s *restrict dsh = x0 + (b * %lld + t) * %lld;\n", cx->T, TT, SW);
    if (cell == RNN_CELL_GRU) {
        sb_printf(c, "            if (t < %lld) {\n", TT - 1);
        sb_printf(c, "                const %s *restrict carry = d + %lld; /* row t+1 */\n", cx->T, OW);
        sb_printf(c, "                for (long j = 0; j < %lld; j++) d[j] = dsh[j] + carry[j];\n", H);
        sb_printf(c,
                  "            } else {\n                for (long j = 0; j < %lld; j++) d[j] = dsh[j];\n"
                  "            }\n",
                  H);
    } else {
        sb_printf(c, "            for (long j = 0; j < %lld; j++) d[j] = dsh[j];\n", H);
    }
    sb_puts(c, "        }\n");
}

/* BPTT, t from the last step down; x0 = dstate [B, T, S*H], x1 = state,
 * x2 = W_hh [G*H, H]. */
void emit_RNN_SCAN_GRAD(cg_ctx *cx, const ir_node *n) {
    int cell = (int)n->iattr[0];
    ll H = n->iattr[1], SW = rnn_state_width(cell) * H, OW = rnn_grad_width(cell) * H;
    ll B = n->shape.d[0], TT = n->shape.d[1], GH = rnn_gates(cell) * H, GO = rnn_grad_dgh_at(cell) * H;
    strbuf *c = cx->c;
    cgk_head(cx, n);
    sb_printf(c, "    for (long t = %lld; t >= 0; t--) {\n", TT - 1);
    grad_dh_init(cx, cell, B, TT, H, OW, SW);
    sb_puts(c, "        /* + dgh(t+1) W_hh */\n");
    emit_step_gemm(cx, arena_printf(cx->g->a, "t < %lld", TT - 1), 0, B, H, GH,
                   arena_printf(cx->g->a, "y + (t + 1) * %lld + %lld", OW, GO), TT * OW, "x2", H,
                   arena_printf(cx->g->a, "y + t * %lld + %lld", OW, dh_slot(cell, H)), TT * OW);
    sb_puts(c, "        /* the cell backward */\n");
    sb_printf(c, "        for (long b = 0; b < %lld; b++) {\n", B);
    sb_printf(c, "            %s *restrict o = y + (b * %lld + t) * %lld;\n", cx->T, TT, OW);
    sb_printf(c, "            const %s *restrict s = x1 + (b * %lld + t) * %lld;\n", cx->T, TT, SW);
    if (cell == RNN_CELL_TANH) {
        grad_cell(cx, cell, H, 0, 0, "            ");
    } else {
        sb_printf(c, "            const %s *restrict ds = x0 + (b * %lld + t) * %lld;\n", cx->T, TT, SW);
        sb_printf(c, "            const %s *restrict sp = t > 0 ? s - %lld : 0; /* state at t-1 */\n", cx->T, SW);
        if (cell == RNN_CELL_LSTM) {
            sb_printf(c, "            const %s *restrict sn = t < %lld ? s + %lld : 0; /* state at t+1 */\n", cx->T,
                      TT - 1, SW);
            sb_printf(c, "            const %s *restrict on = t < %lld ? o + %lld : 0; /* its gradients */\n", cx->T,
                      TT - 1, OW);
        }
        /* the steps with both neighbours get a loop without branches */
        sb_printf(c, "            if (t > 0%s) {\n",
                  cell == RNN_CELL_LSTM ? arena_printf(cx->g->a, " && t < %lld", TT - 1) : "");
        grad_cell(cx, cell, H, 1, 1, "                ");
        sb_puts(c, "            } else {\n");
        grad_cell(cx, cell, H, -1, -1, "                ");
        sb_puts(c, "            }\n");
    }
    sb_puts(c, "        }\n    }\n");
    cgk_tail(cx);
}

/* ---- slice, pad, shift ---------------------------------------------------- */

