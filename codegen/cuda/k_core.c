/* k_core.c — CUDA kernels of the core ops: one cu_emit_OP per row of
 * ops.def that is not in a family's k_*.c.
 *
 * Node n becomes __global__ kernel(s) named kID_op_SUFFIX with every bound
 * a literal, and one host launcher kID_op(nnrt_cu_exec *ex, x0.., y) that
 * enqueues them on ex->stream:
 *
 *   elementwise    grid-stride loops over the output, the ops.def formula
 *   sum            a block per output row (I == 1), or a thread per output
 *                  element summing its column in order, or a block per
 *                  output element when the outputs are few and long
 *   softmax family a warp per row (C <= 1024; 8 rows per block) or a block
 *                  per row, max and sum by warp shuffles
 *   cross_entropy  one block; warp w takes rows w, w + nw, ... and keeps a
 *                  double total; the warps' totals meet in a block sum
 *   bce            one block, a double total per thread, a block sum
 *   matmul         cuBLAS (row-major as the transposed column-major product)
 *
 * Every reduction is a fixed tree over a fixed assignment of elements to
 * threads (no atomics), so results are bitwise reproducible.
 */
#include "cuk.h"

typedef long long ll;


/* A blank line, then kID_op_SFX(x0, ..., y) of `threads` threads: the
 * head of this file's kernels. */
static void kernel_head(cg_ctx *cx, const ir_node *n, const char *sfx, int threads) {
    sb_puts(cx->c, "\n");
    cuk_kernel(cx, n, sfx, threads, NULL);
}

/* Launch kID_op_SFX<<<grid, block>>>(x0, ..., y) and check it. */
static void launch(cg_ctx *cx, const ir_node *n, const char *sfx, ll grid, int block) {
    cuk_launch_1d(cx, n, sfx, grid, block);
    cuk_launched(cx, n);
}

/* ---- elementwise ------------------------------------------------------- */

/* p, q = the node's float attributes, when the formula uses them. */
static void formula_attr(cg_ctx *cx, const ir_node *n) {
    for (int k = 0; k < 2; k++)
        if (cg_uses_attr(ir_ops[n->op].expr, "pq"[k])) cuk_const(cx, "        ", k ? "q" : "p", n->fattr[k]);
}

/* Elementwise kernel: y[i] = f(a[, b]) with suffix broadcasting (an
 * operand of `cols` elements repeats along the rows; one element is a
 * scalar). */
static void elementwise(cg_ctx *cx, const ir_node *n, int binary) {
    ll N = cg_numel(n);
    if (!N) return cuk_empty(cx, n);
    strbuf *c = cx->c;
    kernel_head(cx, n, "k", cuk_block(N));
    cuk_grid_loop(cx, cuk_ix_count(N), "i", N);
    for (int k = 0; k <= binary; k++) {
        ll nk = cg_numel(cg_in(cx, n, k));
        sb_printf(c, "        const %s %c = x%d[", cx->T, "ab"[k], k);
        if (nk == N) sb_puts(c, "i");
        else if (nk == 1) sb_puts(c, "0");
        else sb_printf(c, "i %% %lld", nk);
        sb_puts(c, "];\n");
    }
    formula_attr(cx, n);
    sb_printf(c, "        y[i] = %s;\n    }\n}\n", ir_ops[n->op].expr);
    cuk_head(cx, n);
    launch(cx, n, "k", cuk_grid(N), cuk_block(N));
    cuk_tail(cx);
}

void cuk_unary(cg_ctx *cx, const ir_node *n) { elementwise(cx, n, 0); }
void cuk_binary(cg_ctx *cx, const ir_node *n) { elementwise(cx, n, 1); }

/* ---- reductions --------------------------------------------------------- */

/* SUM: x viewed as [O, L, I] -> y [O, I], times scale. */
void cu_emit_SUM(cg_ctx *cx, const ir_node *n) {
    int64_t O, L, I;
    ir_reduce_view(&cg_in(cx, n, 0)->shape, (int)n->iattr[0], (int)n->iattr[1], &O, &L, &I);
    strbuf *c = cx->c;
    ll out = (ll)O * I;
    if (!out) return cuk_empty(cx, n);
    const char *t = cuk_ix_count((ll)O * L * I);
    if (I == 1 || (out < 4096 && L > 128)) {
        /* a block per output element; its threads stride along L */
        int bs = L >= 1024 ? 1024 : L >= 256 ? 256 : (int)((L + 31) / 32 * 32);
        if (bs < 32) bs = 32;
        kernel_head(cx, n, "k", bs);
        sb_printf(c, "    __shared__ %s shm[32];\n", cx->T);
        sb_printf(c, "    const %s o = (%s)blockIdx.x / %lld, i = (%s)blockIdx.x %% %lld;\n", t, t, (ll)I, t, (ll)I);
        sb_printf(c, "    %s s = 0;\n", cx->T);
        sb_printf(c, "    for (%s l = threadIdx.x; l < %lld; l += blockDim.x) s += x0[(o * %lld + l) * %lld + i];\n", t,
                  (ll)L, (ll)L, (ll)I);
        sb_puts(c, "    s = nnrt_block_sum(s, shm);\n");
        sb_puts(c, "    if (threadIdx.x == 0) y[blockIdx.x] = s * ");
        cg_literal(cx, c, n->fattr[0]);
        sb_puts(c, ";\n}\n");
        cuk_head(cx, n);
        launch(cx, n, "k", out, bs);
    } else {
        /* a thread per output element, adding its column in order (as C) */
        kernel_head(cx, n, "k", cuk_block(out));
        cuk_grid_loop(cx, cuk_ix_count(out), "k", out);
        sb_printf(c, "        const %s *xk = x0 + (k / %lld) * %lld + k %% %lld;\n", cx->T, (ll)I, (ll)L * I, (ll)I);
        sb_printf(c, "        %s s = 0;\n", cx->T);
        sb_printf(c, "        for (%s l = 0; l < %lld; l++) s += xk[l * %lld];\n", t, (ll)L, (ll)I);
        sb_puts(c, "        y[k] = s * ");
        cg_literal(cx, c, n->fattr[0]);
        sb_puts(c, ";\n    }\n}\n");
        cuk_head(cx, n);
        launch(cx, n, "k", cuk_grid(out), cuk_block(out));
    }
    cuk_tail(cx);
}

/* EXPAND: y [O, L, I] = x [O, I] * scale. */
void cu_emit_EXPAND(cg_ctx *cx, const ir_node *n) {
    int64_t O, L, I;
    ir_reduce_view(&n->shape, (int)n->iattr[0], (int)n->iattr[1], &O, &L, &I);
    ll N = cg_numel(n);
    if (!N) return cuk_empty(cx, n);
    strbuf *c = cx->c;
    kernel_head(cx, n, "k", cuk_block(N));
    cuk_grid_loop(cx, cuk_ix_count(N), "k", N);
    sb_printf(c, "        y[k] = x0[k / %lld * %lld + k %% %lld] * ", (ll)L * I, (ll)I, (ll)I);
    cg_literal(cx, c, n->fattr[0]);
    sb_puts(c, ";\n    }\n}\n");
    cuk_head(cx, n);
    launch(cx, n, "k", cuk_grid(N), cuk_block(N));
    cuk_tail(cx);
}

/* RESHAPE: the same elements in a buffer of their own. */
void cu_emit_RESHAPE(cg_ctx *cx, const ir_node *n) {
    cuk_head(cx, n);
    sb_printf(cx->c,
              "    return nnrt_cu_check(ex, cudaMemcpyAsync(y, x0, sizeof(%s) * %lld, cudaMemcpyDeviceToDevice, "
              "ex->stream), \"%s: cudaMemcpyAsync\");\n",
              cx->T, cg_numel(n), cg_kernel_name(cx, n));
    cuk_tail(cx);
}

/* ---- matrix product ----------------------------------------------------- */

/* y[M, N] = op(A)[M, K] op(B)[K, N], row-major, by cuBLAS: column-major
 * y^T = op(B)^T op(A)^T, so B is passed first. Full FP32 (the handle's
 * math mode is CUBLAS_DEFAULT_MATH: no TF32). */
void cu_emit_MATMUL(cg_ctx *cx, const ir_node *n) {
    int64_t M, K, N;
    ir_matmul_dims(cx->g, n, &M, &K, &N);
    int ta = (int)n->iattr[0], tb = (int)n->iattr[1], d = cx->o->f64;
    cuk_head(cx, n);
    sb_printf(cx->c, "    const %s one = 1, zero = 0;\n", cx->T);
    sb_printf(cx->c,
              "    return nnrt_cu_blas_check(ex, cublas%cgemm(ex->blas, %s, %s, %lld, %lld, %lld, &one, x1, %lld, x0, "
              "%lld, &zero, y, %lld), \"%s: cublas%cgemm\");\n",
              d ? 'D' : 'S', tb ? "CUBLAS_OP_T" : "CUBLAS_OP_N", ta ? "CUBLAS_OP_T" : "CUBLAS_OP_N", (ll)N, (ll)M,
              (ll)K, (ll)(tb ? K : N), (ll)(ta ? M : K), (ll)N, cg_kernel_name(cx, n), d ? 'D' : 'S');
    cuk_tail(cx);
}

/* ---- row kernels: softmax family, cross-entropy gradient ------------------ */

/* How a row kernel maps rows to threads: a warp per row (8 rows per block
 * of 256) when rows are short, else a block of `threads` per row. */
typedef struct rowk {
    int warp;
    int threads; /* block size */
    ll grid;
} rowk;

static rowk row_plan(ll R, ll C) {
    rowk k;
    k.warp = C <= 1024;
    k.threads = k.warp ? 256 : 512;
    k.grid = k.warp ? (R + 7) / 8 : R;
    return k;
}

/* Open the row kernel: r = this warp's / block's row, lane = position in it;
 * rows past R leave (a whole warp at once). */
static void row_open(cg_ctx *cx, const ir_node *n, const rowk *k, ll R) {
    kernel_head(cx, n, "k", k->threads);
    if (k->warp) {
        sb_printf(cx->c,
                  "    const long long r = (long long)blockIdx.x * 8 + (threadIdx.x >> 5);\n"
                  "    if (r >= %lld) return;\n",
                  R);
        sb_puts(cx->c, "    const int lane = (int)(threadIdx.x & 31u);\n");
    } else {
        sb_printf(cx->c, "    __shared__ %s shm[32];\n", cx->T);
        sb_puts(cx->c, "    const long long r = blockIdx.x;\n    const int lane = (int)threadIdx.x;\n");
    }
}

/* A row kernel over n's rows of its last axis: *R rows of *C, the plan k,
 * the kernel opened (row_open); 0 with an empty launcher when n is empty. */
static int row_start(cg_ctx *cx, const ir_node *n, rowk *k, ll *R, ll *C) {
    *C = cg_last(n), *R = cg_numel(n) / (*C ? *C : 1);
    if (!cg_numel(n)) return cuk_empty(cx, n), 0;
    *k = row_plan(*R, *C);
    row_open(cx, n, k, *R);
    return 1;
}

/* "for (int j = lane; j < C; j += stride)" */
static const char *row_for(cg_ctx *cx, const rowk *k, ll C) {
    return arena_printf(cx->g->a, "for (int j = lane; j < %lld; j += %d)", C, k->warp ? 32 : k->threads);
}

/* "nnrt_warp_max(v)" or "nnrt_block_max(v, shm)" */
static const char *row_red(cg_ctx *cx, const rowk *k, const char *op, const char *v) {
    return k->warp ? arena_printf(cx->g->a, "nnrt_warp_%s(%s)", op, v)
                   : arena_printf(cx->g->a, "nnrt_block_%s(%s, shm)", op, v);
}

/* mx = max of xr, s = sum of exp(xr - mx) (stored in yr when store). */
static void row_max_sumexp(cg_ctx *cx, const rowk *k, ll C, int store) {
    strbuf *c = cx->c;
    sb_printf(c, "    %s mx = -INFINITY, s = 0;\n", cx->T);
    sb_printf(c, "    %s mx = xr[j] > mx ? xr[j] : mx;\n", row_for(cx, k, C));
    sb_printf(c, "    mx = %s;\n", row_red(cx, k, "max", "mx"));
    if (store)
        sb_printf(c,
                  "    %s {\n        const %s e = exp(xr[j] - mx);\n        yr[j] = e;\n        s += e;\n"
                  "    }\n",
                  row_for(cx, k, C), cx->T);
    else sb_printf(c, "    %s s += exp(xr[j] - mx);\n", row_for(cx, k, C));
    sb_printf(c, "    s = %s;\n", row_red(cx, k, "sum", "s"));
}

/* The launcher of a row kernel. */
static void row_launcher(cg_ctx *cx, const ir_node *n, const rowk *k) {
    cuk_head(cx, n);
    launch(cx, n, "k", k->grid, k->threads);
    cuk_tail(cx);
}

/* xr, zr (x1), yr: this row of x0, x1 and y. */
static void row_ptrs(cg_ctx *cx, ll C, int with_x1) {
    sb_printf(cx->c, "    const %s *xr = x0 + r * %lld;\n", cx->T, C);
    if (with_x1) sb_printf(cx->c, "    const %s *zr = x1 + r * %lld;\n", cx->T, C);
    sb_printf(cx->c, "    %s *yr = y + r * %lld;\n", cx->T, C);
}

void cu_emit_SOFTMAX(cg_ctx *cx, const ir_node *n) {
    rowk k;
    ll C, R;
    if (!row_start(cx, n, &k, &R, &C)) return;
    row_ptrs(cx, C, 0);
    row_max_sumexp(cx, &k, C, 1);
    sb_printf(cx->c, "    %s yr[j] /= s;\n}\n", row_for(cx, &k, C));
    row_launcher(cx, n, &k);
}

/* causal_softmax: row r is row i = r mod T of a [T, T] matrix; softmax over
 * columns j <= i, 0 beyond (softmax of the -inf-masked row: the same
 * reduction tree, with exp(-inf) = 0 where the mask was). */
void cu_emit_CAUSAL_SOFTMAX(cg_ctx *cx, const ir_node *n) {
    rowk k;
    ll C, R;
    if (!row_start(cx, n, &k, &R, &C)) return;
    row_ptrs(cx, C, 0);
    strbuf *c = cx->c;
    sb_printf(c, "    const long long i = r %% %lld;\n", C);
    sb_printf(c, "    %s mx = -INFINITY, s = 0;\n", cx->T);
    sb_printf(c, "    %s if (j <= i) mx = xr[j] > mx ? xr[j] : mx;\n", row_for(cx, &k, C));
    sb_printf(c, "    mx = %s;\n", row_red(cx, &k, "max", "mx"));
    sb_printf(c,
              "    %s {\n        const %s e = j <= i ? exp(xr[j] - mx) : 0;\n        yr[j] = e;\n        s += e;\n"
              "    }\n",
              row_for(cx, &k, C), cx->T);
    sb_printf(c, "    s = %s;\n", row_red(cx, &k, "sum", "s"));
    sb_printf(c, "    %s yr[j] /= s;\n}\n", row_for(cx, &k, C));
    row_launcher(cx, n, &k);
}

/* dx = y * (dy - sum(dy * y)); x0 = dy, x1 = y */
void cu_emit_SOFTMAX_GRAD(cg_ctx *cx, const ir_node *n) {
    rowk k;
    ll C, R;
    if (!row_start(cx, n, &k, &R, &C)) return;
    row_ptrs(cx, C, 1);
    sb_printf(cx->c, "    %s d = 0;\n    %s d += xr[j] * zr[j];\n", cx->T, row_for(cx, &k, C));
    sb_printf(cx->c, "    d = %s;\n", row_red(cx, &k, "sum", "d"));
    sb_printf(cx->c, "    %s yr[j] = zr[j] * (xr[j] - d);\n}\n", row_for(cx, &k, C));
    row_launcher(cx, n, &k);
}

void cu_emit_LOG_SOFTMAX(cg_ctx *cx, const ir_node *n) {
    rowk k;
    ll C, R;
    if (!row_start(cx, n, &k, &R, &C)) return;
    row_ptrs(cx, C, 0);
    row_max_sumexp(cx, &k, C, 0);
    sb_printf(cx->c, "    const %s lse = mx + log(s);\n", cx->T);
    sb_printf(cx->c, "    %s yr[j] = xr[j] - lse;\n}\n", row_for(cx, &k, C));
    row_launcher(cx, n, &k);
}

/* dx = dy - exp(y) * sum(dy); x0 = dy, x1 = y */
void cu_emit_LOG_SOFTMAX_GRAD(cg_ctx *cx, const ir_node *n) {
    rowk k;
    ll C, R;
    if (!row_start(cx, n, &k, &R, &C)) return;
    row_ptrs(cx, C, 1);
    sb_printf(cx->c, "    %s d = 0;\n    %s d += xr[j];\n", cx->T, row_for(cx, &k, C));
    sb_printf(cx->c, "    d = %s;\n", row_red(cx, &k, "sum", "d"));
    sb_printf(cx->c, "    %s yr[j] = xr[j] - exp(zr[j]) * d;\n}\n", row_for(cx, &k, C));
    row_launcher(cx, n, &k);
}

/* ---- losses --------------------------------------------------------------- */

/* mean over rows of logsumexp(logits) - logits[label] (labels were range
 * checked by the entry point). One block: warp w takes rows w, w + nw, ...
 * adding into a double in row order; the warps' totals meet in a block
 * sum. */
void cu_emit_XENT(cg_ctx *cx, const ir_node *n) {
    const ir_node *lg = cg_in(cx, n, 0);
    ll C = cg_last(lg), R = cg_numel(lg) / (C ? C : 1);
    strbuf *c = cx->c;
    int threads = 32 * (int)(R < 32 ? (R < 1 ? 1 : R) : 32);
    rowk k = {1, threads, 1};
    kernel_head(cx, n, "k", threads);
    sb_puts(c, "    __shared__ double shm[32];\n");
    sb_puts(c, "    const int lane = (int)(threadIdx.x & 31u), w = (int)(threadIdx.x >> 5), nw = (int)(blockDim.x >> "
               "5);\n");
    sb_puts(c, "    double total = 0;\n");
    sb_printf(c, "    for (long long r = w; r < %lld; r += nw) {\n", R);
    sb_printf(c, "    const %s *xr = x0 + r * %lld;\n", cx->T, C);
    row_max_sumexp(cx, &k, C, 0);
    sb_puts(c, "    total += (double)(mx + log(s) - xr[x1[r]]);\n    }\n");
    sb_puts(c, "    total = nnrt_block_sum(lane == 0 ? total : 0.0, shm);\n");
    sb_printf(c, "    if (threadIdx.x == 0) y[0] = (%s)(total / %lld);\n}\n", cx->T, R ? R : 1);
    cuk_head(cx, n);
    launch(cx, n, "k", 1, threads);
    cuk_tail(cx);
}

/* dlogits = dl / rows * (softmax(logits) - onehot(label)); x0 = dl,
 * x1 = logits, x2 = labels */
void cu_emit_XENT_GRAD(cg_ctx *cx, const ir_node *n) {
    rowk k;
    ll C, R;
    if (!row_start(cx, n, &k, &R, &C)) return;
    strbuf *c = cx->c;
    sb_printf(c, "    const %s scale = x0[0] / %lld;\n", cx->T, R);
    sb_printf(c, "    const %s *xr = x1 + r * %lld;\n    %s *yr = y + r * %lld;\n", cx->T, C, cx->T, C);
    sb_puts(c, "    const int label = x2[r];\n");
    row_max_sumexp(cx, &k, C, 1);
    sb_printf(c,
              "    %s {\n        %s v = yr[j] / s * scale;\n        if (j == label) v -= scale;\n"
              "        yr[j] = v;\n    }\n}\n",
              row_for(cx, &k, C), cx->T);
    row_launcher(cx, n, &k);
}

/* mean of -(t log p + (1 - t) log(1 - p)), logs clamped at -100 as PyTorch
 * does; one block, a double per thread, a block sum. */
void cu_emit_BCE(cg_ctx *cx, const ir_node *n) {
    ll N = cg_numel(cg_in(cx, n, 0));
    strbuf *c = cx->c;
    int threads = N >= 1024 ? 1024 : N <= 32 ? 32 : (int)((N + 31) / 32 * 32);
    kernel_head(cx, n, "k", threads);
    sb_puts(c, "    __shared__ double shm[32];\n    double total = 0;\n");
    sb_printf(c, "    for (%s i = threadIdx.x; i < %lld; i += blockDim.x) {\n", cuk_ix_count(N), N);
    sb_printf(c, "        %s lp = log(x0[i]), lq = log(1 - x0[i]);\n", cx->T);
    sb_puts(c, "        lp = lp > -100 ? lp : -100;\n        lq = lq > -100 ? lq : -100;\n");
    sb_puts(c, "        total -= (double)(x1[i] * lp + (1 - x1[i]) * lq);\n    }\n");
    sb_puts(c, "    total = nnrt_block_sum(total, shm);\n");
    sb_printf(c, "    if (threadIdx.x == 0) y[0] = (%s)(total / %lld);\n}\n", cx->T, N ? N : 1);
    cuk_head(cx, n);
    launch(cx, n, "k", 1, threads);
    cuk_tail(cx);
}

/* dp = dl / N * (p - t) / max(p (1 - p), 1e-12); x0 = dl, x1 = p, x2 = t */
void cu_emit_BCE_GRAD(cg_ctx *cx, const ir_node *n) {
    ll N = cg_numel(n);
    if (!N) return cuk_empty(cx, n);
    strbuf *c = cx->c;
    kernel_head(cx, n, "k", cuk_block(N));
    sb_printf(c, "    const %s scale = x0[0] / %lld;\n", cx->T, N);
    cuk_grid_loop(cx, cuk_ix_count(N), "i", N);
    sb_printf(c, "        %s d = x1[i] * (1 - x1[i]);\n        d = d > ", cx->T);
    cg_literal(cx, c, 1e-12);
    sb_puts(c, " ? d : ");
    cg_literal(cx, c, 1e-12);
    sb_puts(c, ";\n        y[i] = scale * (x1[i] - x2[i]) / d;\n    }\n}\n");
    cuk_head(cx, n);
    launch(cx, n, "k", cuk_grid(N), cuk_block(N));
    cuk_tail(cx);
}
