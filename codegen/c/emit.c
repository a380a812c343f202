/* emit.c — the C target's emit (its row in targets.def): the file's
 * includes, then the struct, kernels, API and optional trainer main. The
 * output depends only on the input: no timestamps or versions, so the same
 * model gives byte-identical files. */
#include "kernels.h"

#include <stdint.h>

static void banner(cg_ctx *cx) {
    strbuf *c = cx->c;
    cg_banner(cx);
    if (cx->o->freestanding) sb_puts(c, "#include <math.h>\n#include <stdint.h>\n#include <string.h>\n");
    else
        sb_puts(c, "#include <math.h>\n#include <stdint.h>\n#include <stdio.h>\n#include <stdlib.h>\n"
                   "#include <string.h>\n");
    sb_puts(c, "#include <tgmath.h> /* exp, log, tanh, sqrt in the element type */\n\n");
    sb_printf(c, "#include \"%s\"\n#include \"nnrt_gemm.h\"\n", cx->o->header);
    cg_version_check(cx);
}

/* copysignf, or with --freestanding the compiler's built-in (no libm call: gcc
 * -ffreestanding does not treat copysignf as a built-in) */
static const char *copysign_fn(cg_ctx *cx) { return cx->o->freestanding ? "__builtin_copysignf" : "copysignf"; }

/* Does any kernel need nnc_tanhf (f32 formulas with tanh, recurrent cells)? */
static int uses_fast_tanh(cg_ctx *cx, const ir_node *n) {
    if (n->op == IR_RNN_SCAN || n->op == IR_RNN_SCAN_GRAD) return !cx->o->f64;
    if (n->prog) {
        for (int s = 0; s < n->prog->nstep; s++)
            if (cgk_uses_fast_tanh(cx, ir_ops[n->prog->step[s].op].expr)) return 1;
        return 0;
    }
    return cgk_uses_fast_tanh(cx, ir_ops[n->op].expr);
}

/* tanh(v) = v P(v^2) / Q(v^2), the rational minimax form used by Eigen's
 * fast tanh (at most 4.1e-7 from tanh: measured over all floats), with
 * |v| clamped to 7.905311 (where it is 1 in float; +-1 for +-inf), NaN
 * for NaN. The clamp is an
 * integer select on the bits of |v| that lets NaN through: a float select
 * would make gcc -O2 sink the arithmetic into branches and give up
 * vectorizing the loops that call it. */
static void emit_fast_tanh(cg_ctx *cx) {
    const float clamp = 7.90531110763549805f;
    uint32_t cb;
    memcpy(&cb, &clamp, sizeof cb);
    strbuf *c = cx->c;
    sb_puts(c, "\n/* tanh in float: a rational approximation, at most 4.1e-7 from tanh, that vectorizes */\n");
    sb_printf(c, "static inline float nnc_tanhf(float u) {\n    const float au = %s(u);\n    int32_t bits;\n"
                 "    float av;\n", cx->o->freestanding ? "__builtin_fabsf" : "fabsf");
    sb_puts(c, "    memcpy(&bits, &au, sizeof bits);\n");
    sb_puts(c, "    /* |u| <= 7.905311, where tanh is 1 in float; NaN stays NaN */\n");
    sb_printf(c, "    bits = (bits < 0x%08X ? bits : 0x%08X) | (-(int32_t)(bits > 0x7F800000) & 0x7FC00000);\n",
              (unsigned)cb, (unsigned)cb);
    sb_printf(c, "    memcpy(&av, &bits, sizeof av);\n    const float v = %s(av, u), v2 = v * v;\n", copysign_fn(cx));
    sb_puts(c, "    const float p = v * ((((((-2.76076847742355e-16f * v2 + 2.00018790482477e-13f) * v2 - "
               "8.60467152213735e-11f) * v2 + 5.12229709037114e-08f) * v2 + 1.48572235717979e-05f) * v2 + "
               "6.37261928875436e-04f) * v2 + 4.89352455891786e-03f);\n");
    sb_puts(c, "    const float q = ((1.19825839466702e-06f * v2 + 1.18534705686654e-04f) * v2 + "
               "2.26843463243900e-03f) * v2 + 4.89352518554385e-03f;\n");
    sb_puts(c, "    return p / q;\n}\n");
}

/* exp(x) (the softmax rows call it with x - max <= 0): 2^k exp(r), k =
 * round(x / ln 2) by the 1.5 * 2^23 rounding trick on x clamped to
 * [-103, 103], r = x - k ln 2 in two parts, exp(r) by Cephes' degree-6
 * polynomial, 2^k as the product of two powers of two 2^a 2^b (a = k / 2,
 * b = k - a) built from exponent bits, so no shift overflows for any input
 * and results are finite up to where exp(x) rounds to inf in float (x >
 * 88.72284, and +inf); 0 below -87.68 (k <= -127: 0 for -inf, and no
 * denormals but the few of k = -126); NaN for NaN. At most 8.4e-8 from
 * exp (relative, measured in double over all floats) where exp(x) is a
 * normal float, x in [-87.33, 88.72]; the product of the two scales is
 * exact, so the bits are those of p * 2^k.
 * Clamps and the NaN test are integer operations on the bits, so gcc -O2
 * vectorizes the loops that call it (fminf or a float select would stop
 * it). tests/e2e/mathfns.sh checks it over every exponent under UBSan. */
static void emit_fast_exp(cg_ctx *cx) {
    strbuf *c = cx->c;
    sb_puts(c, "\n/* exp in float: vectorizable, at most 8.4e-8 from exp over [-87.33, 88.72]; 0 below -87.68, +inf "
               "above 88.72 */\n");
    sb_puts(c, "static inline float nnc_expf(float x) {\n    int32_t xb, cb, rb;\n    float av, sa, sb, res;\n");
    sb_puts(c, "    memcpy(&xb, &x, sizeof xb);\n    const int32_t ab = xb & 0x7FFFFFFF;\n");
    sb_puts(c, "    cb = ab < 0x42CE0000 ? ab : 0x42CE0000; /* |x| <= 103 */\n    memcpy(&av, &cb, sizeof av);\n");
    sb_printf(c, "    const float xc = %s(av, x);\n", copysign_fn(cx));
    sb_puts(c, "    const float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;\n");
    sb_puts(c, "    const float r = (xc - n * 0.693359375f) + n * 2.12194440e-4f;\n");
    sb_puts(c, "    const float p = ((((((1.9875691500e-4f * r + 1.3981999507e-3f) * r + 8.3334519073e-3f) * r + "
               "4.1665795894e-2f) * r + 1.6666665459e-1f) * r + 5.0000001201e-1f) * r * r + r) + 1.0f;\n");
    sb_puts(c, "    /* 2^k = 2^a 2^b, both normal for |k| <= 149; 2^a is 0 for k <= -127 */\n");
    sb_puts(c, "    const int32_t k = (int32_t)n, a = k / 2;\n");
    sb_puts(c, "    const int32_t ea = ((a + 127) << 23) & -(int32_t)(k > -127), eb = (k - a + 127) << 23;\n");
    sb_puts(c, "    memcpy(&sa, &ea, sizeof sa);\n    memcpy(&sb, &eb, sizeof sb);\n");
    sb_puts(c, "    res = p * sa * sb;\n    memcpy(&rb, &res, sizeof rb);\n");
    sb_puts(c, "    rb |= -(int32_t)(ab > 0x7F800000) & 0x7FC00000; /* NaN in, NaN out */\n");
    sb_puts(c, "    memcpy(&res, &rb, sizeof res);\n    return res;\n}\n");
}

/* A helper, guarded by #ifndef NAME when the file holds several
 * objectives' parts (each part may need it; the first defines it). */
static void helper(cg_ctx *cx, void (*emit)(cg_ctx *), const char *name) {
    if (cx->o->part) sb_printf(cx->c, "\n#ifndef %s_DEFINED\n#define %s_DEFINED", name, name);
    emit(cx);
    if (cx->o->part) sb_printf(cx->c, "#endif /* %s_DEFINED */\n", name);
}

/* Kernels of every node that any entry point runs, in id order. */
static void kernels(cg_ctx *cx) {
    int tanh_done = 0, exp_done = 0, quant_done = 0, tr_done = 0;
    if (cx->o->calib_probe) cgq_absmax_fn(cx);
    cx->team = arena_alloc(cx->g->a, (size_t)cx->g->nodes.len);
    for (const ir_node *n = cg_next_kernel(cx, NULL); n; n = cg_next_kernel(cx, n)) {
        if (!tanh_done && uses_fast_tanh(cx, n)) helper(cx, emit_fast_tanh, "NNC_TANHF"), tanh_done = 1;
        if (!exp_done && cgk_uses_fast_exp(cx, n)) helper(cx, emit_fast_exp, "NNC_EXPF"), exp_done = 1;
        if (!tr_done && n->op == IR_CONV2D_GRAD_W) helper(cx, cgk_emit_tr_tile, "NNC_TR_TILE"), tr_done = 1;
        if (!quant_done && cx->o->quant_absmax && cg_quant_layer(cx->g, n)) cgq_helpers(cx), quant_done = 1;
        cx->kernel = n;
        c_kernel(cx, n);
    }
    cx->kernel = NULL;
}

int c_emit(cg_ctx *cx, strbuf *h, FILE *err) {
    banner(cx);
    c_api_prelude(cx);
    kernels(cx);
    c_api(cx, h);
    if (cx->o->objectives) return cg_bundle(cx, h, err, CG_MAIN_SCHED);
    return !cx->o->part && cx->o->emit_main && cg_main(cx, err, CG_MAIN_SCHED);
}
