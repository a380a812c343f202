/* k_rnn.c — CUDA kernels of the recurrent family (ir/ops_rnn.c for the
 * lowering, ir/rnn.h for the state layouts; codegen/c/k_rnn.c is the C
 * target's version of the same kernels).
 *
 * rnn_scan and rnn_scan_grad each run the whole time loop in one kernel:
 * one thread block per batch row b, __syncthreads between the phases of a
 * step. The values live where the C kernel keeps them (the state rows of y
 * for the forward, the gradient rows of y for the backward), so a step
 * reads what the previous step wrote after a barrier; within a block,
 * global writes before __syncthreads are visible to all its threads.
 *
 *   forward, per t:  the gate slots of state row t get b_hh + W_hh h(t-1):
 *                    one warp per gate row i (rows i = warp, warp + nw, ...;
 *                    8, 16 or 32 warps as G*H is < 512, < 1024 or more),
 *                    lanes take k = lane, lane + 32, ... of the dot product
 *                    (W_hh's row read contiguously), nnrt_warp_sum adds
 *                    them; barrier; the cell, one thread per unit j
 *                    (j = tid, tid + nt, ...); barrier.
 *   backward, per t (from the last): one thread per unit j computes dh(t) =
 *                    dstate_h (+ the GRU's carried dh z of t+1) + the sum
 *                    over the G*H gate rows i, in order, of dgh(t+1)[i]
 *                    W_hh[i, j] (consecutive threads read consecutive j of
 *                    a row), then the cell backward of unit j; barrier.
 *                    Everything a thread reads from step t+1 apart from
 *                    dgh it wrote itself.
 *
 * The cell's formulas are the C kernel's, but tanh and sigmoid are CUDA's
 * tanh and 1 / (1 + exp(-v)) in both precisions (the C target's f32 cell
 * uses a rational tanh within 4e-7 of it); sums run in other orders than
 * libnnrt's GEMM, so f32 results differ from the C target's in the last
 * bits.
 */
#include "cuk.h"
#include "../../ir/rnn.h"

typedef long long ll;


/* ---- shared pieces ------------------------------------------------------ */

/* `const T dst = tanh(arg);` or the sigmoid. */
static void act(cg_ctx *cx, const char *ind, int sigm, const char *dst, const char *arg) {
    if (sigm) sb_printf(cx->c, "%sconst %s %s = 1 / (1 + exp(-(%s)));\n", ind, cx->T, dst, arg);
    else sb_printf(cx->c, "%sconst %s %s = tanh(%s);\n", ind, cx->T, dst, arg);
}

/* Offset of the gates' slots (W_hh h + b_hh lands there) in the state row. */
static ll gate_slots(int cell, ll H) { return cell == RNN_CELL_LSTM ? 2 * H : cell == RNN_CELL_GRU ? H : 0; }

/* ---- the forward scan ---------------------------------------------------- */

/* The cell of unit j: s = state row t (gate slots filled), xr = the input
 * projection row, sp = state row t-1 (when t > 0). */
static void scan_cell(cg_ctx *cx, int cell, ll H, const char *ind) {
    strbuf *c = cx->c;
    const char *T = cx->T;
    if (cell == RNN_CELL_TANH) {
        act(cx, ind, 0, "hh", "xr[j] + s[j]");
        sb_printf(c, "%ss[j] = hh;\n", ind);
    } else if (cell == RNN_CELL_LSTM) { /* [h, c, i, f, g, o] */
        act(cx, ind, 1, "ig", arena_printf(cx->g->a, "xr[j] + s[%lld + j]", 2 * H));
        act(cx, ind, 1, "fg", arena_printf(cx->g->a, "xr[%lld + j] + s[%lld + j]", H, 3 * H));
        act(cx, ind, 0, "gg", arena_printf(cx->g->a, "xr[%lld + j] + s[%lld + j]", 2 * H, 4 * H));
        act(cx, ind, 1, "og", arena_printf(cx->g->a, "xr[%lld + j] + s[%lld + j]", 3 * H, 5 * H));
        sb_printf(c, "%sconst %s cc = t > 0 ? fg * sp[%lld + j] + ig * gg : ig * gg;\n", ind, T, H);
        act(cx, ind, 0, "tc", "cc");
        sb_printf(c, "%ss[j] = og * tc;\n%ss[%lld + j] = cc;\n", ind, ind, H);
        sb_printf(c, "%ss[%lld + j] = ig;\n%ss[%lld + j] = fg;\n", ind, 2 * H, ind, 3 * H);
        sb_printf(c, "%ss[%lld + j] = gg;\n%ss[%lld + j] = og;\n", ind, 4 * H, ind, 5 * H);
    } else { /* GRU: [h, r, z, W_hn h + b_hn, n]; the gate slots are [H, 4H) */
        act(cx, ind, 1, "rg", arena_printf(cx->g->a, "xr[j] + s[%lld + j]", H));
        act(cx, ind, 1, "zg", arena_printf(cx->g->a, "xr[%lld + j] + s[%lld + j]", H, 2 * H));
        act(cx, ind, 0, "ng", arena_printf(cx->g->a, "xr[%lld + j] + rg * s[%lld + j]", 2 * H, 3 * H));
        sb_printf(c, "%ss[j] = t > 0 ? (1 - zg) * ng + zg * sp[j] : (1 - zg) * ng;\n", ind);
        sb_printf(c, "%ss[%lld + j] = rg;\n%ss[%lld + j] = zg;\n%ss[%lld + j] = ng;\n", ind, H, ind, 2 * H, ind, 4 * H);
    }
}

/* state = scan over t of the cell; x0 = xp [B, T, G*H] (input projection
 * with b_ih), x1 = W_hh [G*H, H], x2 = b_hh [G*H]. */
void cu_emit_RNN_SCAN(cg_ctx *cx, const ir_node *n) {
    int cell = (int)n->iattr[0];
    ll H = n->iattr[1], GH = rnn_gates(cell) * H, SW = rnn_state_width(cell) * H;
    ll B = n->shape.d[0], TT = n->shape.d[1], GO = gate_slots(cell, H);
    if (!cg_numel(n)) return cuk_empty(cx, n);
    const char *T = cx->T, *IX = cuk_ix(cx, n);
    strbuf *c = cx->c;
    /* a warp per gate row: up to 32 warps, so the rows each warp does in
     * sequence stay few */
    int NT = GH >= 1024 ? 1024 : GH >= 512 ? 512 : 256, NW = NT / 32;
    cuk_kernel(cx, n, "scan", NT, cuk_params(cx, n, 0, 1)); /* y is read back: no __restrict__ */
    sb_printf(c, "    const int tid = threadIdx.x, lane = tid %% 32, warp = tid / 32;\n");
    sb_printf(c, "    const %s b = blockIdx.x;\n", IX);
    sb_printf(c, "    for (int t = 0; t < %lld; t++) {\n", TT);
    sb_printf(c, "        const %s *__restrict__ xr = x0 + (b * %lld + t) * %lld;\n", T, TT, GH);
    sb_printf(c, "        %s *s = y + (b * %lld + t) * %lld;\n", T, TT, SW);
    sb_printf(c, "        const %s *sp = s - %lld; /* state row t-1, read when t > 0 */\n", T, SW);
    sb_puts(c, "        /* b_hh + W_hh h(t-1) into the gate slots: a warp per gate row */\n");
    sb_printf(c, "        for (int i = warp; i < %lld; i += %d) {\n", GH, NW);
    sb_printf(c, "            %s a = 0;\n", T);
    sb_printf(c,
              "            if (t > 0) {\n"
              "                const %s *__restrict__ wr = x1 + (%s)i * %lld;\n",
              T, IX, H);
    sb_printf(c, "                for (int k = lane; k < %lld; k += 32) a += sp[k] * wr[k];\n            }\n", H);
    sb_puts(c, "            a = nnrt_warp_sum(a);\n");
    sb_printf(c, "            if (lane == 0) s[%lld + i] = x2[i] + a;\n        }\n", GO);
    sb_puts(c, "        __syncthreads();\n");
    sb_puts(c, "        /* the cell: a thread per unit */\n");
    sb_printf(c, "        for (int j = tid; j < %lld; j += %d) {\n", H, NT);
    scan_cell(cx, cell, H, "            ");
    sb_puts(c, "        }\n        __syncthreads();\n    }\n}\n");
    cuk_head(cx, n);
    cuk_launch_1d(cx, n, "scan", B, NT);
    cuk_check_launch(cx, n);
    cuk_tail(cx);
}

/* ---- backpropagation through time --------------------------------------- */

/* The cell backward of unit j at step t, given dh = dL/dh(t): s, ds = the
 * state row and its gradient at t, sp = the state row at t-1 (t > 0), sn =
 * the state row at t+1 and on = the output row at t+1 (t < T-1), o = the
 * output row at t. Formulas as codegen/c/k_rnn.c's grad_cell. */
static void grad_cell(cg_ctx *cx, int cell, ll H, ll TT, const char *ind) {
    strbuf *c = cx->c;
    const char *T = cx->T;
    if (cell == RNN_CELL_TANH) {
        sb_printf(c, "%so[j] = dh * (1 - s[j] * s[j]);\n", ind);
    } else if (cell == RNN_CELL_LSTM) { /* state [h, c, i, f, g, o] -> [di, df, dg, do (pre-activation), dc] */
        sb_printf(c, "%sconst %s ig = s[%lld + j], fg = s[%lld + j], gg = s[%lld + j], og = s[%lld + j];\n", ind, T,
                  2 * H, 3 * H, 4 * H, 5 * H);
        act(cx, ind, 0, "tc", arena_printf(cx->g->a, "s[%lld + j]", H));
        sb_printf(c, "%s%s dc = dh * og * (1 - tc * tc) + ds[%lld + j];\n", ind, T, H);
        sb_printf(c, "%sif (t < %lld) dc += on[%lld + j] * sn[%lld + j]; /* dc(t+1) f(t+1) */\n", ind, TT - 1, 4 * H,
                  3 * H);
        sb_printf(c, "%sconst %s dog = dh * tc + ds[%lld + j];\n", ind, T, 5 * H);
        sb_printf(c, "%sconst %s di = dc * gg + ds[%lld + j];\n", ind, T, 2 * H);
        sb_printf(c, "%sconst %s df = dc * (t > 0 ? sp[%lld + j] : 0) + ds[%lld + j];\n", ind, T, H, 3 * H);
        sb_printf(c, "%sconst %s dg = dc * ig + ds[%lld + j];\n", ind, T, 4 * H);
        sb_printf(c, "%so[j] = di * ig * (1 - ig);\n%so[%lld + j] = df * fg * (1 - fg);\n", ind, ind, H);
        sb_printf(c, "%so[%lld + j] = dg * (1 - gg * gg);\n", ind, 2 * H);
        sb_printf(c, "%so[%lld + j] = dog * og * (1 - og);\n%so[%lld + j] = dc;\n", ind, 3 * H, ind, 4 * H);
    } else { /* state [h, r, z, ghn, n] -> [dxr, dxz, dxn, dghr, dghz, dghn, dh z] */
        sb_printf(c, "%sconst %s rg = s[%lld + j], zg = s[%lld + j], ghn = s[%lld + j], ng = s[%lld + j];\n", ind, T,
                  H, 2 * H, 3 * H, 4 * H);
        sb_printf(c, "%sconst %s hp = t > 0 ? sp[j] : 0;\n", ind, T);
        sb_printf(c, "%sconst %s dn = dh * (1 - zg) + ds[%lld + j];\n", ind, T, 4 * H);
        sb_printf(c, "%sconst %s dz = dh * (hp - ng) + ds[%lld + j];\n", ind, T, 2 * H);
        sb_printf(c, "%sconst %s dpn = dn * (1 - ng * ng);\n", ind, T);
        sb_printf(c, "%sconst %s dr = dpn * ghn + ds[%lld + j];\n", ind, T, H);
        sb_printf(c, "%sconst %s dgn = dpn * rg + ds[%lld + j];\n", ind, T, 3 * H);
        sb_printf(c, "%sconst %s dpr = dr * rg * (1 - rg), dpz = dz * zg * (1 - zg);\n", ind, T);
        sb_printf(c, "%so[j] = dpr;\n%so[%lld + j] = dpz;\n%so[%lld + j] = dpn;\n", ind, ind, H, ind, 2 * H);
        sb_printf(c, "%so[%lld + j] = dpr;\n%so[%lld + j] = dpz;\n", ind, 3 * H, ind, 4 * H);
        sb_printf(c, "%so[%lld + j] = dgn;\n%so[%lld + j] = dh * zg;\n", ind, 5 * H, ind, 6 * H);
    }
}

/* BPTT, t from the last step down; x0 = dstate [B, T, S*H], x1 = state,
 * x2 = W_hh [G*H, H]. */
void cu_emit_RNN_SCAN_GRAD(cg_ctx *cx, const ir_node *n) {
    int cell = (int)n->iattr[0];
    ll H = n->iattr[1], SW = rnn_state_width(cell) * H, OW = rnn_grad_width(cell) * H;
    ll B = n->shape.d[0], TT = n->shape.d[1], GH = rnn_gates(cell) * H, GO = rnn_grad_dgh_at(cell) * H;
    if (!cg_numel(n)) return cuk_empty(cx, n);
    const char *T = cx->T, *IX = cuk_ix(cx, n);
    strbuf *c = cx->c;
    int NT = H >= 1024 ? 1024 : (int)((H + 31) / 32 * 32);
    cuk_kernel(cx, n, "bptt", NT, cuk_params(cx, n, 0, 1)); /* y is read back: no __restrict__ */
    sb_printf(c, "    const %s b = blockIdx.x;\n", IX);
    sb_printf(c, "    for (int t = %lld; t >= 0; t--) {\n", TT - 1);
    sb_printf(c, "        %s *o = y + (b * %lld + t) * %lld;\n", T, TT, OW);
    sb_printf(c, "        const %s *__restrict__ s = x1 + (b * %lld + t) * %lld;\n", T, TT, SW);
    sb_printf(c, "        const %s *__restrict__ ds = x0 + (b * %lld + t) * %lld;\n", T, TT, SW);
    if (cell != RNN_CELL_TANH)
        sb_printf(c, "        const %s *__restrict__ sp = s - %lld; /* t-1, read when t > 0 */\n", T, SW);
    if (cell == RNN_CELL_LSTM)
        sb_printf(c, "        const %s *__restrict__ sn = s + %lld; /* t+1, read when t < T-1 */\n", T, SW);
    sb_printf(c, "        const %s *on = o + %lld; /* output row t+1, read when t < T-1 */\n", T, OW);
    sb_printf(c, "        for (int j = threadIdx.x; j < %lld; j += %d) {\n", H, NT);
    sb_printf(c, "            %s dh = ds[j];\n", T);
    if (cell == RNN_CELL_GRU)
        sb_printf(c, "            if (t < %lld) dh = dh + on[%lld + j]; /* the carried dh z of t+1 */\n", TT - 1,
                  6 * H);
    sb_printf(c, "            if (t < %lld) { /* + dgh(t+1) W_hh */\n", TT - 1);
    sb_printf(c, "                %s a = 0;\n", T);
    sb_printf(c, "                for (int i = 0; i < %lld; i++) a += on[%lld + i] * x2[(%s)i * %lld + j];\n", GH, GO,
              IX, H);
    sb_puts(c, "                dh += a;\n            }\n");
    grad_cell(cx, cell, H, TT, "            ");
    sb_puts(c, "        }\n        __syncthreads();\n    }\n}\n");
    cuk_head(cx, n);
    cuk_launch_1d(cx, n, "bptt", B, NT);
    cuk_check_launch(cx, n);
    cuk_tail(cx);
}
