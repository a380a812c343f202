/* k_rand.c — C kernels of the random sources (ir/ops_rand.c).
 *
 *   randn, rand   element i of random op k in call `counter` is drawn from
 *                 word i % 4 of nnrt_philox4x32(seed, NNRT_STREAM_DROPOUT |
 *                 (counter << 8) | k, i / 4): the kernel is one libnnrt
 *                 fill on that stream (nnrt_fill_normal, mean 0, std 1:
 *                 Box-Muller in double; nnrt_fill_uniform on [0, 1): u01 of
 *                 the word, exact in f32), so the values are the runtime's
 *                 documented fills, in f32 and f64 alike.
 */
#include "kernels.h"

/* y = the fill `fill` (normal or uniform) of the op's stream. */
static void emit_fill(cg_ctx *cx, const ir_node *n, const char *fill, const char *args) {
    strbuf *c = cx->c;
    cgk_head(cx, n);
    sb_printf(c, "    const uint64_t stream = NNRT_STREAM_DROPOUT | (counter << 8) | %lldu; /* random op %lld */\n",
              (long long)n->iattr[0], (long long)n->iattr[0]);
    sb_printf(c, "    nnrt_fill_%s_%s(y, %lld, %s, seed, stream);\n", fill, cx->o->f64 ? "f64" : "f32", cg_numel(n),
              args);
    cgk_tail(cx);
}

void emit_RANDN(cg_ctx *cx, const ir_node *n) { emit_fill(cx, n, "normal", "0, 1"); }
void emit_RAND(cg_ctx *cx, const ir_node *n) { emit_fill(cx, n, "uniform", "0, 1"); }
