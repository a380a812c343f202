/* kernels.c — the CUDA target's kernel dispatch (cu_kernel: the emitter
 * of each row of ops.def) and the helpers of cuk.h that the kernel files
 * (k_core.c, k_*.c) share: launch geometry, index types, kernel and
 * launcher heads, grid-stride loops, launches and their checks.
 */
#include "cuk.h"

#include <inttypes.h>

typedef void (*cu_emit_fn)(cg_ctx *cx, const ir_node *n);
typedef long long ll;



int cuk_block(long long count) {
    if (count >= 256) return 256;
    return count <= 32 ? 32 : (int)((count + 31) / 32 * 32);
}

long long cuk_grid(long long count) {
    long long b = cuk_block(count), g = (count + b - 1) / b;
    return g < 1 ? 1 : g > 4096 ? 4096 : g;
}

const char *cuk_ix_count(ll count) { return count < (1LL << 31) - (1LL << 21) ? "int" : "long long"; }

const char *cuk_ix(cg_ctx *cx, const ir_node *n) {
    ll big = cg_numel(n);
    for (int i = 0; i < n->nin; i++)
        if (cg_numel(cg_in(cx, n, i)) > big) big = cg_numel(cg_in(cx, n, i));
    return big < (1LL << 31) - (1LL << 20) ? "int" : "long long";
}

static const char *elem(cg_ctx *cx, const ir_node *x) { return x->dtype == DT_I32 ? "int32_t" : cx->T; }

/* The comment (as the C target's) and the launcher's head. */
void cuk_head(cg_ctx *cx, const ir_node *n) {
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
    sb_printf(c, " */\nstatic int %s(nnrt_cu_exec *ex, ", cg_kernel_name(cx, n));
    for (int i = 0; i < n->nin; i++) sb_printf(c, "const %s *x%d, ", elem(cx, cg_in(cx, n, i)), i);
    if (ir_ops[n->op].flags & OPF_RNG) sb_puts(c, "uint64_t seed, uint64_t counter, ");
    sb_printf(c, "%s *y) {\n", cx->T);
}

void cuk_tail(cg_ctx *cx) { sb_puts(cx->c, "}\n"); }

const char *cuk_params(cg_ctx *cx, const ir_node *n, int first, int y_alias) {
    const char *s = "";
    int st = (ir_ops[n->op].flags & OPF_STATE) != 0, in_place = cg_in_place(cx, n);
    for (int i = first; i < n->nin; i++)
        s = arena_printf(cx->g->a, "%sconst %s *%sx%d, ", s, elem(cx, cg_in(cx, n, i)),
                         (st && i == 0) || in_place ? "" : "__restrict__ ", i);
    y_alias |= in_place;
    return arena_printf(cx->g->a, "%s%s *%sy", s, cx->T, st || y_alias ? "" : "__restrict__ ");
}

void cuk_kernel(cg_ctx *cx, const ir_node *n, const char *sfx, int threads, const char *params) {
    sb_puts(cx->c, "static __global__ void ");
    if (threads) sb_printf(cx->c, "__launch_bounds__(%d) ", threads);
    sb_printf(cx->c, "%s_%s(%s) {\n", cg_kernel_name(cx, n), sfx, params ? params : cuk_params(cx, n, 0, 0));
}

const char *cuk_grid_for(cg_ctx *cx, const char *ix, const char *var, ll count) {
    return arena_printf(cx->g->a,
                        "for (%s %s = (%s)blockIdx.x * blockDim.x + threadIdx.x; %s < %lld; %s += (%s)gridDim.x * "
                        "blockDim.x)",
                        ix, var, ix, var, count, var, ix);
}

void cuk_grid_loop(cg_ctx *cx, const char *ix, const char *var, ll count) {
    sb_printf(cx->c, "    %s {\n", cuk_grid_for(cx, ix, var, count));
}

void cuk_grid_open(cg_ctx *cx, const ir_node *n, const char *ix, ll count) {
    cuk_kernel(cx, n, "main", 0, NULL);
    cuk_grid_loop(cx, ix, "i", count);
}

void cuk_grid_close(cg_ctx *cx, const ir_node *n, ll count) {
    sb_puts(cx->c, "    }\n}\n");
    cuk_head(cx, n);
    cuk_launch_1d(cx, n, "main", cuk_grid(count), cuk_block(count));
    cuk_check_launch(cx, n);
    cuk_tail(cx);
}

void cuk_launch(cg_ctx *cx, const ir_node *n, const char *sfx, const char *grid, const char *block, int first) {
    strbuf *c = cx->c;
    sb_printf(c, "    %s_%s<<<%s, %s, 0, ex->stream>>>(", cg_kernel_name(cx, n), sfx, grid, block);
    for (int i = first; i < n->nin; i++) sb_printf(c, "x%d, ", i);
    sb_puts(c, "y);\n");
}

void cuk_launch_1d(cg_ctx *cx, const ir_node *n, const char *sfx, ll grid, int block) {
    cuk_launch(cx, n, sfx, arena_printf(cx->g->a, "%lld", grid), arena_printf(cx->g->a, "%d", block), 0);
}

void cuk_check_launch(cg_ctx *cx, const ir_node *n) {
    sb_printf(cx->c, "    return nnrt_cu_check(ex, cudaGetLastError(), \"%s\");\n", cg_kernel_name(cx, n));
}

void cuk_launched(cg_ctx *cx, const ir_node *n) {
    sb_printf(cx->c, "    return NNRT_CU_LAUNCHED(ex, \"%s\");\n", cg_kernel_name(cx, n));
}

void cuk_empty(cg_ctx *cx, const ir_node *n) {
    cuk_head(cx, n);
    sb_puts(cx->c, "    (void)ex;\n");
    for (int i = 0; i < n->nin; i++) sb_printf(cx->c, "    (void)x%d;\n", i);
    if (ir_ops[n->op].flags & OPF_RNG) sb_puts(cx->c, "    (void)seed;\n    (void)counter;\n");
    sb_puts(cx->c, "    (void)y;\n    return NNRT_OK;\n");
    cuk_tail(cx);
}

void cuk_const(cg_ctx *cx, const char *ind, const char *name, double v) {
    sb_printf(cx->c, "%sconst %s %s = ", ind, cx->T, name);
    cg_literal(cx, cx->c, v);
    sb_puts(cx->c, ";\n");
}

static void emit_none(cg_ctx *cx, const ir_node *n) { (void)cx, (void)n; }

static const cu_emit_fn cu_emitters[IR_NUM_OPS] = {
/* The row's class picks the emitter (as the C target's table does). */
#define EMIT_OPC_SOURCE(e) emit_none
#define EMIT_OPC_UNARY(e) cuk_unary
#define EMIT_OPC_BINARY(e) cuk_binary
#define EMIT_OPC_OTHER(e) cu_emit_##e
#define OP(e, name, nin, cls, shape, grad, flags, expr) [IR_##e] = EMIT_##cls(e),
#include "../../ir/ops.def"
#undef OP
};

void cu_kernel(cg_ctx *cx, const ir_node *n) { cu_emitters[n->op](cx, n); }
