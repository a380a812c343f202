/* k_fused.c — CUDA kernels of the fused ops pass_fuse makes (ir/fuse.c).
 *
 *   fused      one grid-stride kernel: each thread runs the whole program
 *              for its elements (one read of each input, one write)
 *   matmul_ep  cuBLAS (as matmul) writes the product into y, then one
 *              grid-stride kernel applies the program to y in place: the
 *              epilogue costs one pass over the product instead of one per
 *              op it absorbed (cuBLAS's own epilogues cover only bias and
 *              a few activations, not a general program)
 *
 * The steps are the core's (cg_fused_steps), with CUDA's own tanh.
 */
#include "cuk.h"

typedef long long ll;

/* static __global__ void kID_op_k(const T *__restrict__ x<first>.., T *__restrict__ y) */
static void fused_kernel(cg_ctx *cx, const ir_node *n, int first, const char *acc) {
    strbuf *c = cx->c;
    ll N = cg_numel(n);
    sb_puts(c, "\n");
    cuk_kernel(cx, n, "k", cuk_block(N), cuk_params(cx, n, first, 0));
    cuk_grid_loop(cx, cuk_ix_count(N), "i", N);
    const char *opnd[IR_MAX_IN] = {0};
    for (int k = first; k < n->nin; k++) {
        ll nk = cg_numel(cg_in(cx, n, k));
        opnd[k] = nk == N ? arena_printf(cx->g->a, "x%d[i]", k)
                  : nk == 1 ? arena_printf(cx->g->a, "x%d[0]", k)
                            : arena_printf(cx->g->a, "x%d[i %% %lld]", k, nk);
    }
    cg_fused_steps(cx, n, opnd, acc, "        ", NULL);
    sb_printf(c, "        y[i] = t%d;\n    }\n}\n", n->prog->nstep - 1);
}

static void fused_launch(cg_ctx *cx, const ir_node *n, int first) {
    ll N = cg_numel(n);
    cuk_launch(cx, n, "k", arena_printf(cx->g->a, "%lld", cuk_grid(N)), arena_printf(cx->g->a, "%d", cuk_block(N)),
               first);
    cuk_launched(cx, n);
}

void cu_emit_FUSED(cg_ctx *cx, const ir_node *n) {
    if (cg_numel(n) == 0) return cuk_empty(cx, n);
    fused_kernel(cx, n, 0, NULL);
    cuk_head(cx, n);
    fused_launch(cx, n, 0);
    cuk_tail(cx);
}

/* The product as cu_emit_MATMUL computes it (row-major through cuBLAS's
 * column-major: y^T = op(B)^T op(A)^T), then the epilogue over y. */
void cu_emit_MATMUL_EP(cg_ctx *cx, const ir_node *n) {
    int64_t M, K, N;
    ir_matmul_dims(cx->g, n, &M, &K, &N);
    int ta = (int)n->iattr[0], tb = (int)n->iattr[1], d = cx->o->f64;
    if (M * N > 0) fused_kernel(cx, n, 2, "y[i]");
    cuk_head(cx, n);
    strbuf *c = cx->c;
    sb_printf(c, "    const %s one = 1, zero = 0;\n", cx->T);
    sb_printf(c,
              "    const int st = nnrt_cu_blas_check(ex, cublas%cgemm(ex->blas, %s, %s, %lld, %lld, %lld, &one, x1, "
              "%lld, x0, %lld, &zero, y, %lld), \"%s: cublas%cgemm\");\n",
              d ? 'D' : 'S', tb ? "CUBLAS_OP_T" : "CUBLAS_OP_N", ta ? "CUBLAS_OP_T" : "CUBLAS_OP_N", (ll)N, (ll)M,
              (ll)K, (ll)(tb ? K : N), (ll)(ta ? M : K), (ll)N, cg_kernel_name(cx, n), d ? 'D' : 'S');
    sb_puts(c, "    if (st != NNRT_OK) return st;\n");
    if (M * N > 0) fused_launch(cx, n, 2);
    else {
        for (int i = 2; i < n->nin; i++) sb_printf(c, "    (void)x%d;\n", i);
        sb_puts(c, "    return NNRT_OK;\n");
    }
    cuk_tail(cx);
}
