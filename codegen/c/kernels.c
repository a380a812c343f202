/* kernels.c — the C target's kernel dispatch (c_kernel: the emitter of
 * each row of ops.def) and the helpers of kernels.h that the kernel files
 * (k_core.c, k_*.c) share.
 *
 * Each node becomes one static function with its shapes as constants:
 *
 *   (comment:) %7 = relu(%6)  h, model.nn line 6: [32, 128] -> [32, 128]
 *   static void k7_relu(const float *restrict x0, float *restrict y) { ... }
 */
#include "kernels.h"

typedef void (*emit_fn)(cg_ctx *cx, const ir_node *n);


/* The comment and signature: inputs x0.., output y. */
void cgk_head(cg_ctx *cx, const ir_node *n) {
    strbuf *c = cx->c;
    sb_printf(c, "\n/* %%%d = %s(", n->id, ir_ops[n->op].name);
    for (int i = 0; i < n->nin; i++) sb_printf(c, "%s%%%d", i ? ", " : "", n->in[i]);
    sb_printf(c, ")");
    if (n->name) sb_printf(c, "  %s", n->name);
    if (n->loc.line) sb_printf(c, ", %s line %d", cx->o->source, n->loc.line);
    sb_printf(c, ": ");
    for (int i = 0; i < n->nin; i++)
        sb_printf(c, "%s%s", i ? ", " : "", ir_shape_str(cx->g->a, &cg_in(cx, n, i)->shape));
    sb_printf(c, " -> %s", ir_shape_str(cx->g->a, &n->shape));
    if (n->is_grad) sb_puts(c, " (backward)");
    sb_printf(c, " */\nstatic void %s(", cg_kernel_name(cx, n));
    /* a state update writes its own input's buffer, an in-place kernel its
     * input's: no restrict there */
    const char *rs = ir_ops[n->op].flags & OPF_STATE || cg_in_place(cx, n) ? "" : "restrict ";
    for (int i = 0; i < n->nin; i++)
        sb_printf(c, "const %s *%sx%d, ", cg_in(cx, n, i)->dtype == DT_I32 ? "int32_t" : cx->T, rs, i);
    if (ir_ops[n->op].flags & OPF_RNG) sb_puts(c, "uint64_t seed, uint64_t counter, ");
    if (cgk_gemm_ws(cx, n)) sb_puts(c, "float *restrict ws, ");
    sb_printf(c, "%s *%sy) {\n", cx->T, rs);
}

int cgk_gemm_ws(cg_ctx *cx, const ir_node *n) {
    if (!cx->o->freestanding || cx->o->f64) return 0;
    return n->op == IR_MATMUL || n->op == IR_MATMUL_EP || n->op == IR_BMM || n->op == IR_RNN_SCAN ||
           n->op == IR_RNN_SCAN_GRAD;
}

const char *cgk_gemm_fn(cg_ctx *cx, int ep) {
    if (cx->o->f64) return ep ? "nnrt_dgemm_ep" : "nnrt_dgemm";
    if (cx->o->freestanding) return ep ? "nnrt_sgemm_ws_ep" : "nnrt_sgemm_ws";
    return ep ? "nnrt_sgemm_ep" : "nnrt_sgemm";
}

/* The formula of nnrt_sgemm_ws_floats (runtime/gemm_dispatch.c; the
 * compiler does not link the runtime): (MC rows rounded to 24, at most 192,
 * + NC columns rounded to 32, at most 1024) x the K block (K in blocks of
 * at most 256, each a multiple of 8 where K allows) + 16 to align; 0 for a
 * product of 1..3 rows times B^T, which packs nothing. */
static long long gemm_ws_floats(int ta, int tb, long long M, long long N, long long K) {
    if (M <= 0 || N <= 0 || K <= 0 || (!ta && tb && M < 4)) return 0;
    long long nk = (K + 255) / 256, kc = ((K + nk - 1) / nk + 7) / 8 * 8;
    long long mc = (M + 23) / 24 * 24, nc = (N + 31) / 32 * 32;
    return ((mc < 192 ? mc : 192) + (nc < 1024 ? nc : 1024)) * (kc < K ? kc : K) + 16;
}

const char *cgk_gemm_ws_args(cg_ctx *cx, int ta, int tb, long long M, long long N, long long K) {
    if (!cx->o->freestanding || cx->o->f64) return "";
    long long f = gemm_ws_floats(ta, tb, M, N, K);
    if (f > cx->gemm_ws) cx->gemm_ws = f;
    return arena_printf(cx->g->a, ", ws, %lld", f);
}

void cgk_tail(cg_ctx *cx) { sb_puts(cx->c, "}\n"); }
const char *cgk_tanh_fn(cg_ctx *cx) { return cx->o->f64 ? NULL : "nnc_tanhf"; }

int cgk_uses_fast_tanh(cg_ctx *cx, const char *expr) { return !cx->o->f64 && cg_calls(expr, "tanh"); }

/* in f32, tanh is the vectorizable rational nnc_tanhf (emit.c) */
void cgk_formula(cg_ctx *cx, const char *expr) { cg_formula(cx, expr, cgk_tanh_fn(cx)); }

/* ---- OpenMP -------------------------------------------------------------- */

/* Before a loop whose iterations are independent: with -fopenmp it runs
 * on the team's threads when the kernel touches at least NNC_OMP_MIN
 * elements; without OpenMP the pragma is not compiled at all. Only loops
 * whose iterations write disjoint outputs get it (no reductions across
 * iterations), so results are the same bits for any thread count. */
void cgk_parallel(cg_ctx *cx, long long work, const char *ind) { cgk_parallel_nest(cx, work, ind, 1); }

/* The same before a nest of `nest` perfectly nested loops (collapsed). */
void cgk_parallel_nest(cg_ctx *cx, long long work, const char *ind, int nest) {
    if (work >= NNC_OMP_MIN) cgk_omp_for(cx, ind, nest);
}

/* The pragma itself, for a caller that has its own rule for when: an
 * orphaned `omp for`, whose parallel region is around the kernel's call
 * (emit_calls: cx->team). The loop stays in the kernel, whose restrict
 * parameters tell gcc that its pointers do not alias. `omp parallel for`
 * would move the loop into a function of its own that reads the pointers
 * from a struct, restrict lost, and gcc -O2 (its very-cheap vectorizer
 * cost model, which versions no loop for aliasing) leaves such loops
 * scalar: a 16-lane loop ran one lane at a time on 2 threads. So every
 * statement of such a kernel runs on every thread of the team: outside
 * its `omp for` loops a kernel only declares its own constants. The loops
 * are `nowait` (the region ends in a barrier): a loop that reads what an
 * earlier one of the kernel wrote follows a `#pragma omp barrier`. */
void cgk_omp_for(cg_ctx *cx, const char *ind, int nest) {
    if (nest < 1) return;
    sb_printf(cx->c, "#ifdef _OPENMP\n%s#pragma omp for schedule(static)", ind);
    if (nest > 1) sb_printf(cx->c, " collapse(%d)", nest);
    sb_puts(cx->c, " nowait\n#endif\n");
    if (cx->team) cx->team[cx->kernel->id] = 1; /* (tests/cudaemu writes kernels alone: no team, no calls) */
}

/* One loop over i when it runs on one thread. Shared out, it is chunks of
 * 16 and then the rest: an `omp for` over i itself gives each thread a
 * range known only at run time, which gcc -O2 leaves scalar (its
 * very-cheap cost model vectorizes a loop only when it knows the trip
 * count is a multiple of the vector length), where the constant inner 16
 * it vectorizes. */
void cgk_elementwise(cg_ctx *cx, const ir_node *n, long long N,
                     void (*body)(cg_ctx *cx, const ir_node *n, const char *ind)) {
    strbuf *c = cx->c;
    if (N < NNC_OMP_MIN) {
        sb_printf(c, "    for (long i = 0; i < %lld; i++) {\n", N);
        body(cx, n, "        ");
        sb_puts(c, "    }\n");
        return;
    }
    cgk_omp_for(cx, "    ", 1);
    sb_printf(c, "    for (long k = 0; k < %lld; k++)\n        for (long v = 0; v < 16; v++) {\n", N / 16);
    sb_puts(c, "            const long i = k * 16 + v;\n");
    body(cx, n, "            ");
    sb_puts(c, "        }\n");
    if (N % 16 == 0) return;
    cgk_omp_for(cx, "    ", 1);
    sb_printf(c, "    for (long i = %lld; i < %lld; i++) {\n", N / 16 * 16, N);
    body(cx, n, "        ");
    sb_puts(c, "    }\n");
}

/* ---- rows over the last axis (the softmax family, causal_softmax) -------- */

/* Open a loop over rows of C elements with row pointers for x0 (and x1) and y. */
void cgk_rows(cg_ctx *cx, const ir_node *n, long long C, int with_x1) {
    strbuf *c = cx->c;
    cgk_parallel(cx, cg_numel(n), "    ");
    sb_printf(c, "    for (long r = 0; r < %lld; r++) {\n", cg_numel(n) / C);
    sb_printf(c, "        const %s *restrict xr = x0 + r * %lld;\n", cx->T, C);
    if (with_x1) sb_printf(c, "        const %s *restrict zr = x1 + r * %lld;\n", cx->T, C);
    sb_printf(c, "        %s *restrict yr = y + r * %lld;\n", cx->T, C);
}

/* mx = max of xr, s = sum of exp(xr - mx). With store the exps go to yr
 * first: in f32 by nnc_expf (emit.c) in a loop of their own, which
 * vectorizes, then summed in order (the sum cannot be reordered). */
void cgk_row_max_sumexp(cg_ctx *cx, long long C, int store) {
    strbuf *c = cx->c;
    sb_printf(c, "        %s mx = xr[0], s = 0;\n", cx->T);
    sb_printf(c, "        for (long j = 1; j < %lld; j++) mx = xr[j] > mx ? xr[j] : mx;\n", C);
    if (store && !cx->o->f64) {
        sb_printf(c, "        for (long j = 0; j < %lld; j++) yr[j] = nnc_expf(xr[j] - mx);\n", C);
        sb_printf(c, "        for (long j = 0; j < %lld; j++) s += yr[j];\n", C);
    } else if (store) {
        sb_printf(c, "        for (long j = 0; j < %lld; j++) s += yr[j] = exp(xr[j] - mx);\n", C);
    } else {
        sb_printf(c, "        for (long j = 0; j < %lld; j++) s += exp(xr[j] - mx);\n", C);
    }
}

int cgk_uses_fast_exp(cg_ctx *cx, const ir_node *n) {
    return !cx->o->f64 && (n->op == IR_SOFTMAX || n->op == IR_LOG_SOFTMAX || n->op == IR_XENT_GRAD ||
                           n->op == IR_CAUSAL_SOFTMAX);
}

static void emit_none(cg_ctx *cx, const ir_node *n) { (void)cx, (void)n; }

static const emit_fn emitters[IR_NUM_OPS] = {
/* The row's class picks the emitter: sources have no kernel, elementwise
 * rows are their ops.def formula; the others have an emit_OP of their own. */
#define EMIT_OPC_SOURCE(e) emit_none
#define EMIT_OPC_UNARY(e) cgk_unary
#define EMIT_OPC_BINARY(e) cgk_binary
#define EMIT_OPC_OTHER(e) emit_##e
#define OP(e, name, nin, cls, shape, grad, flags, expr) [IR_##e] = EMIT_##cls(e),
#include "../../ir/ops.def"
#undef OP
};

void c_kernel(cg_ctx *cx, const ir_node *n) {
    if (cx->o->quant_absmax && cg_quant_layer(cx->g, n)) cgq_kernel(cx, n);
    else emitters[n->op](cx, n);
}
