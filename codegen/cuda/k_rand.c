/* k_rand.c — CUDA kernels of the random sources (ir/ops_rand.c;
 * codegen/c/k_rand.c is the C target's).
 *
 *   randn, rand   one thread per block of 4 elements: element i of random
 *                 op k in call `counter` is word i % 4 of
 *                 nnrt_cu_philox4x32(seed, 2^63 | counter << 8 | k, i / 4),
 *                 mapped as libnnrt's fills map it (runtime/philox.c):
 *                 rand = nnrt_cu_u01(word) (exact), randn = Box-Muller in
 *                 double on the word pairs (0, 1) and (2, 3), r = sqrt(-2
 *                 log(1 - u01(w[2k]))), t = 2 pi u01(w[2k + 1]), r cos t for
 *                 the even word and r sin t for the odd one, rounded to T.
 *                 The expressions have no a * b + c for nvcc to contract,
 *                 so the only difference from the C target can come from
 *                 the device's double log, sin and cos (within 2 ulp of
 *                 glibc's), which rounding to f32 hides but for about one
 *                 value in 2^27.
 */
#include "cuk.h"

typedef long long ll;

/* Element i = b * 4 + j of the draw from block w (j in 0..3), as a T. */
static void draw_value(cg_ctx *cx, const ir_node *n) {
    strbuf *c = cx->c;
    if (n->op == IR_RAND) {
        sb_printf(c, "            const %s v = (%s)nnrt_cu_u01(w[j]);\n", cx->T, cx->T);
        return;
    }
    sb_puts(c, "            const int k = j & ~1;\n"
               "            const double r = sqrt(-2.0 * log(1.0 - (double)nnrt_cu_u01(w[k])));\n"
               "            const double t = 6.283185307179586476925286766559 * (double)nnrt_cu_u01(w[k + 1]);\n");
    sb_printf(c, "            const %s v = (%s)((j & 1) ? r * sin(t) : r * cos(t));\n", cx->T, cx->T);
}

static void cu_emit_random(cg_ctx *cx, const ir_node *n) {
    strbuf *c = cx->c;
    ll N = cg_numel(n), NB = (N + 3) / 4;
    if (!N) return cuk_empty(cx, n);
    const char *IX = cuk_ix(cx, n);
    cuk_kernel(cx, n, "main", 0, arena_printf(cx->g->a, "%s, uint64_t seed, uint64_t stream", cuk_params(cx, n, 0, 0)));
    cuk_grid_loop(cx, IX, "b", NB);
    sb_puts(c, "        uint32_t w[4];\n        nnrt_cu_philox4x32(seed, stream, (uint64_t)b, w);\n");
    sb_puts(c, "#pragma unroll\n        for (int j = 0; j < 4; j++) {\n");
    draw_value(cx, n);
    sb_printf(c, "            const %s i = b * 4 + j;\n", IX);
    sb_printf(c, "            if (i < %lld) y[i] = v;\n", N);
    sb_puts(c, "        }\n    }\n}\n");
    cuk_head(cx, n);
    sb_printf(c,
              "    const uint64_t stream = (UINT64_C(1) << 63) | (counter << 8) | %lldu; /* NNRT_STREAM_DROPOUT, "
              "random op %lld */\n",
              (long long)n->iattr[0], (long long)n->iattr[0]);
    sb_printf(c, "    %s_main<<<%lld, %d, 0, ex->stream>>>(y, seed, stream);\n", cg_kernel_name(cx, n), cuk_grid(NB),
              cuk_block(NB));
    cuk_check_launch(cx, n);
    cuk_tail(cx);
}

void cu_emit_RANDN(cg_ctx *cx, const ir_node *n) { cu_emit_random(cx, n); }
void cu_emit_RAND(cg_ctx *cx, const ir_node *n) { cu_emit_random(cx, n); }
