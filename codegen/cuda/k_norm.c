/* k_norm.c — CUDA kernels of the normalization, dropout and activation ops
 * (ir/ops_norm.c for their rules; codegen/c/k_norm.c is the C target's).
 *
 * Activations are elementwise rows of ops.def: cuk_unary / cuk_binary,
 * picked by the row's class (kernels.c).
 *
 *   dropout      one thread per block of 4 elements: element i of dropout
 *                op k in training call `counter` is kept when word i % 4 of
 *                nnrt_cu_philox4x32(seed, 2^63 | counter << 8 | k, i / 4)
 *                has top 24 bits >= ceil((float)p 2^24), i.e. nnrt_u01 of
 *                it >= (float)p: the C kernel's mapping and test, so the
 *                masks are the same bits (runtime/cuda/nnrt_philox.cuh).
 *   batch norm   x viewed as [N, C, S] (S = H*W, 1 for [N, C]); M = N S.
 *                S = 1: one thread per channel, the sum over n in order in
 *                T, as the C kernel (which sums those in T too). S > 1: one
 *                block of 256 threads per channel; thread t sums elements
 *                m = t, t + 256, ... of the channel in double (the C kernel
 *                sums in double too, in 8 lanes), nnrt_block_sum adds the
 *                256 partial sums in a fixed tree. batchnorm_dx does its
 *                sum of dy and then its elementwise pass in the same
 *                launch. batchnorm and batchnorm_update are elementwise.
 *   layer norm   rows of D: a warp per row (8 rows per block), lanes take
 *                j = lane, lane + 32, ... in double, nnrt_warp_sum adds
 *                them (stats: mean, then the variance around it, as the C
 *                kernel). layernorm is elementwise. layernorm_dweight sums
 *                over rows per column: a 32 x 16 block per 32 columns,
 *                row group ty takes rows ty, ty + 16, ... (in T, as the C
 *                kernel), then thread ty = 0 adds the 16 partial sums in
 *                order.
 *
 * Every sum has a fixed order, so results repeat bit for bit; they differ
 * from the C target's in the last bits where the order differs (and nvcc
 * contracts a * b + c into fma, which the C build at -std=c99 does not).
 */
#include "cuk.h"

#include <math.h>


typedef long long ll;


/* ---- dropout ----------------------------------------------------------- */

/* y = x / (1 - p) where the element's draw is >= p, else 0 (the file
 * comment has the mapping). The adjoint is this same kernel on dy. */
void cu_emit_DROPOUT(cg_ctx *cx, const ir_node *n) {
    strbuf *c = cx->c;
    double p = n->fattr[0];
    ll N = cg_numel(n), NB = (N + 3) / 4;
    if (!N) return cuk_empty(cx, n);
    /* nnrt_u01(w) >= (float)p exactly when (w >> 8) >= ceil((float)p 2^24) */
    unsigned long keep_at = (unsigned long)ceil((double)(float)p * 16777216.0);
    const char *IX = cuk_ix(cx, n);
    cuk_kernel(cx, n, "main", 0, arena_printf(cx->g->a, "%s, uint64_t seed, uint64_t stream", cuk_params(cx, n, 0, 0)));
    sb_printf(c, "    const uint32_t keep_at = %luu; /* keep where nnrt_u01(w) >= (float)%.9g */\n", keep_at, p);
    cuk_const(cx, "    ", "scale", 1 / (1 - p));
    cuk_grid_loop(cx, IX, "b", NB);
    sb_puts(c, "        uint32_t w[4];\n        nnrt_cu_philox4x32(seed, stream, (uint64_t)b, w);\n");
    sb_puts(c, "#pragma unroll\n        for (int j = 0; j < 4; j++) {\n");
    sb_printf(c, "            const %s i = b * 4 + j;\n", IX);
    sb_printf(c, "            if (i < %lld) y[i] = (w[j] >> 8) >= keep_at ? x0[i] * scale : 0;\n", N);
    sb_puts(c, "        }\n    }\n}\n");
    cuk_head(cx, n);
    sb_printf(c,
              "    const uint64_t stream = (UINT64_C(1) << 63) | (counter << 8) | %lldu; /* NNRT_STREAM_DROPOUT, "
              "dropout op %lld */\n",
              (long long)n->iattr[0], (long long)n->iattr[0]);
    sb_printf(c, "    %s_main<<<%lld, %d, 0, ex->stream>>>(x0, y, seed, stream);\n", cg_kernel_name(cx, n),
              cuk_grid(NB), cuk_block(NB));
    cuk_check_launch(cx, n);
    cuk_tail(cx);
}

/* ---- batch norm -------------------------------------------------------- */

enum { BN_THREADS = 256 };

/* x [N, C, ...] as [N, C, S]; M = N S values per channel. */
typedef struct bn_dims {
    ll N, C, S, M;
} bn_dims;

static bn_dims bn_of(const ir_node *x) {
    bn_dims d = {x->shape.d[0], x->shape.d[1], 1, 0};
    for (int i = 2; i < x->shape.rank; i++) d.S *= x->shape.d[i];
    d.M = d.N * d.S;
    return d;
}

/* A per-channel sum into y [C]: y[c] = (T)(fin), fin an expression of
 * double s = the sum over the channel of `term`. S = 1: term over at =
 * n C + c, summed in T by one thread per channel; S > 1: term over at =
 * (n C + c) S + (m % S) (pre: per-channel declarations), summed in double
 * by a block per channel. Terms read x0[at], x1[at] and per-channel
 * vectors at c. */
static void bn_channel_sum(cg_ctx *cx, const ir_node *n, const bn_dims *d, const char *term, const char *pre,
                           const char *fin) {
    strbuf *c = cx->c;
    const char *IX = cuk_ix(cx, n), *T = cx->T;
    if (d->S == 1) {
        cuk_grid_open(cx, n, IX, d->C);
        sb_printf(c, "        const %s c = i;\n        %s a = 0;\n", IX, T);
        sb_printf(c, "        for (%s nn = 0; nn < %lld; nn++) {\n", IX, d->N);
        sb_printf(c, "            const %s at = nn * %lld + c;\n            a += %s;\n        }\n", IX, d->C, term);
        sb_puts(c, "        const double s = a;\n");
        sb_printf(c, "        y[c] = (%s)(%s);\n", T, fin);
        cuk_grid_close(cx, n, d->C);
        return;
    }
    cuk_kernel(cx, n, "chan", BN_THREADS, NULL);
    sb_puts(c, "    __shared__ double shm[32];\n");
    sb_printf(c, "    const %s c = blockIdx.x;\n%s", IX, pre);
    sb_puts(c, "    double a = 0;\n");
    sb_printf(c, "    for (%s m = threadIdx.x; m < %lld; m += %d) {\n", IX, d->M, BN_THREADS);
    sb_printf(c, "        const %s at = (m / %lld * %lld + c) * %lld + m %% %lld;\n", IX, d->S, d->C, d->S, d->S);
    sb_printf(c, "        a += %s;\n    }\n", term);
    sb_puts(c, "    const double s = nnrt_block_sum(a, shm);\n");
    sb_printf(c, "    if (threadIdx.x == 0) y[c] = (%s)(%s);\n}\n", T, fin);
    cuk_head(cx, n);
    cuk_launch_1d(cx, n, "chan", d->C, BN_THREADS);
    cuk_check_launch(cx, n);
    cuk_tail(cx);
}

/* mean[c] = sum x / M */
void cu_emit_BN_MEAN(cg_ctx *cx, const ir_node *n) {
    bn_dims d = bn_of(cg_in(cx, n, 0));
    if (!cg_numel(n)) return cuk_empty(cx, n);
    bn_channel_sum(cx, n, &d, d.S == 1 ? "x0[at]" : "(double)x0[at]", "", arena_printf(cx->g->a, "s / %lld", d.M));
}

/* var[c] = sum (x - mean)^2 / M (biased); x0 = x, x1 = mean */
void cu_emit_BN_VAR(cg_ctx *cx, const ir_node *n) {
    bn_dims d = bn_of(cg_in(cx, n, 0));
    if (!cg_numel(n)) return cuk_empty(cx, n);
    if (d.S == 1)
        bn_channel_sum(cx, n, &d, "(x0[at] - x1[c]) * (x0[at] - x1[c])", "", arena_printf(cx->g->a, "s / %lld", d.M));
    else
        bn_channel_sum(cx, n, &d, "(x0[at] - mu) * (x0[at] - mu)", "    const double mu = x1[c];\n",
                       arena_printf(cx->g->a, "s / %lld", d.M));
}

/* dbias[c] = sum dy; x0 = dy */
void cu_emit_BN_DBIAS(cg_ctx *cx, const ir_node *n) {
    bn_dims d = bn_of(cg_in(cx, n, 0));
    if (!cg_numel(n)) return cuk_empty(cx, n);
    bn_channel_sum(cx, n, &d, d.S == 1 ? "x0[at]" : "(double)x0[at]", "", "s");
}

/* dweight[c] = sum dy (x - mean) / sqrt(var + eps); x0 = dy, x1 = x,
 * x2 = mean, x3 = var */
void cu_emit_BN_DWEIGHT(cg_ctx *cx, const ir_node *n) {
    bn_dims d = bn_of(cg_in(cx, n, 1));
    if (!cg_numel(n)) return cuk_empty(cx, n);
    const char *eps = "";
    {
        strbuf b;
        sb_init(&b);
        cg_literal(cx, &b, n->fattr[0]);
        eps = arena_printf(cx->g->a, "%s", b.s);
        sb_free(&b);
    }
    const char *fin = arena_printf(cx->g->a, "(%s)s * (1 / sqrt(x3[c] + (%s)%s))", cx->T, cx->T, eps);
    if (d.S == 1) bn_channel_sum(cx, n, &d, "x0[at] * (x1[at] - x2[c])", "", fin);
    else bn_channel_sum(cx, n, &d, "x0[at] * (x1[at] - mu)", "    const double mu = x2[c];\n", fin);
}

/* y = x alpha + beta per channel: alpha = weight / sqrt(var + eps), beta =
 * bias - mean alpha; x0 = x, x1 = mean, x2 = var, x3 = weight, x4 = bias */
void cu_emit_BN_NORM(cg_ctx *cx, const ir_node *n) {
    bn_dims d = bn_of(cg_in(cx, n, 0));
    ll tot = cg_numel(n);
    if (!tot) return cuk_empty(cx, n);
    const char *IX = cuk_ix(cx, n), *T = cx->T;
    strbuf *c = cx->c;
    cuk_grid_open(cx, n, IX, tot);
    cuk_const(cx, "        ", "eps", n->fattr[0]);
    if (d.S == 1) sb_printf(c, "        const %s c = i %% %lld;\n", IX, d.C);
    else sb_printf(c, "        const %s c = i / %lld %% %lld;\n", IX, d.S, d.C);
    sb_printf(c, "        const %s al = 1 / sqrt(x2[c] + eps) * x3[c], be = x4[c] - x1[c] * al;\n", T);
    sb_puts(c, "        y[i] = x0[i] * al + be;\n");
    cuk_grid_close(cx, n, tot);
}

/* running = (1 - m) running + m f stat, in place (y aliases x0) */
void cu_emit_BN_UPDATE(cg_ctx *cx, const ir_node *n) {
    ll tot = cg_numel(n);
    if (!tot) return cuk_empty(cx, n);
    const char *IX = cuk_ix(cx, n);
    cuk_grid_open(cx, n, IX, tot);
    cuk_const(cx, "        ", "m", n->fattr[0]);
    cuk_const(cx, "        ", "f", n->fattr[1]);
    sb_puts(cx->c, "        y[i] = m * (x1[i] * f) + (1 - m) * x0[i];\n");
    cuk_grid_close(cx, n, tot);
}

/* dx = (dy - (x - mean) dweight is / M - sum(dy) / M) is weight, is =
 * 1 / sqrt(var + eps): PyTorch's training backward. x0 = dy, x1 = x,
 * x2 = mean, x3 = var, x4 = weight, x5 = dweight */
void cu_emit_BN_DX(cg_ctx *cx, const ir_node *n) {
    bn_dims d = bn_of(cg_in(cx, n, 1));
    if (!cg_numel(n)) return cuk_empty(cx, n);
    const char *IX = cuk_ix(cx, n), *T = cx->T;
    strbuf *c = cx->c;
    if (d.S == 1) { /* a thread per channel, as the C kernel's sums in T */
        cuk_grid_open(cx, n, IX, d.C);
        cuk_const(cx, "        ", "eps", n->fattr[0]);
        sb_printf(c, "        const %s c = i;\n        %s gm = 0;\n", IX, T);
        sb_printf(c, "        for (%s nn = 0; nn < %lld; nn++) gm += x0[nn * %lld + c];\n", IX, d.N, d.C);
        sb_printf(c, "        const %s is = 1 / sqrt(x3[c] + eps), k = is * x4[c], pr = x5[c] * is / %lld;\n", T, d.M);
        sb_printf(c, "        gm /= %lld;\n", d.M);
        sb_printf(c, "        for (%s nn = 0; nn < %lld; nn++) {\n", IX, d.N);
        sb_printf(c, "            const %s at = nn * %lld + c;\n", IX, d.C);
        sb_puts(c, "            y[at] = (x0[at] - (x1[at] - x2[c]) * pr - gm) * k;\n        }\n");
        cuk_grid_close(cx, n, d.C);
        return;
    }
    /* a block per channel: the sum of dy, then the channel's elements */
    cuk_kernel(cx, n, "chan", BN_THREADS, NULL);
    sb_puts(c, "    __shared__ double shm[32];\n");
    cuk_const(cx, "    ", "eps", n->fattr[0]);
    sb_printf(c, "    const %s c = blockIdx.x;\n    double a = 0;\n", IX);
    sb_printf(c, "    for (%s m = threadIdx.x; m < %lld; m += %d) a += x0[(m / %lld * %lld + c) * %lld + m %% %lld];\n",
              IX, d.M, BN_THREADS, d.S, d.C, d.S, d.S);
    sb_puts(c, "    const double s = nnrt_block_sum(a, shm);\n");
    sb_printf(c, "    const %s is = 1 / sqrt(x3[c] + eps), k = is * x4[c], pr = x5[c] * is / %lld;\n", T, d.M);
    sb_printf(c, "    const %s gm = (%s)(s / %lld), mu = x2[c];\n", T, T, d.M);
    sb_printf(c, "    for (%s m = threadIdx.x; m < %lld; m += %d) {\n", IX, d.M, BN_THREADS);
    sb_printf(c, "        const %s at = (m / %lld * %lld + c) * %lld + m %% %lld;\n", IX, d.S, d.C, d.S, d.S);
    sb_puts(c, "        y[at] = (x0[at] - (x1[at] - mu) * pr - gm) * k;\n    }\n}\n");
    cuk_head(cx, n);
    cuk_launch_1d(cx, n, "chan", d.C, BN_THREADS);
    cuk_check_launch(cx, n);
    cuk_tail(cx);
}

/* ---- layer norm -------------------------------------------------------- */

enum { LN_THREADS = 256, LN_ROWS = LN_THREADS / 32 };

/* Rows of the last axis of node x: *R rows of *D. */
static void ln_of(const ir_node *x, ll *R, ll *D) {
    *D = cg_last(x);
    *R = cg_numel(x) / *D;
}

/* Open NAME_rows: warp `warp` of the block takes row r (whole warps leave
 * together past the last row, so the shuffles see full warps). */
static void rows_open(cg_ctx *cx, const ir_node *n, const char *IX, ll R) {
    cuk_kernel(cx, n, "rows", LN_THREADS, NULL);
    sb_printf(cx->c, "    const int lane = threadIdx.x %% 32;\n");
    sb_printf(cx->c, "    const %s r = (%s)blockIdx.x * %d + threadIdx.x / 32;\n", IX, IX, LN_ROWS);
    sb_printf(cx->c, "    if (r >= %lld) return;\n", R);
}

static void rows_close(cg_ctx *cx, const ir_node *n, ll R) {
    sb_puts(cx->c, "}\n");
    cuk_head(cx, n);
    cuk_launch_1d(cx, n, "rows", (R + LN_ROWS - 1) / LN_ROWS, LN_THREADS);
    cuk_check_launch(cx, n);
    cuk_tail(cx);
}

/* `v = the sum of v over the warp, in every lane;` */
static void warp_total(cg_ctx *cx, const char *ind, const char *v) {
    sb_printf(cx->c, "%s%s = __shfl_sync(0xffffffffu, nnrt_warp_sum(%s), 0);\n", ind, v, v);
}

/* stats[r] = (mean, 1 / sqrt(var + eps)) of row r, in double */
void cu_emit_LN_STATS(cg_ctx *cx, const ir_node *n) {
    ll R, D;
    ln_of(cg_in(cx, n, 0), &R, &D);
    if (!cg_numel(n)) return cuk_empty(cx, n);
    const char *IX = cuk_ix(cx, n), *T = cx->T;
    strbuf *c = cx->c;
    rows_open(cx, n, IX, R);
    sb_printf(c, "    const double eps = %.17g;\n", n->fattr[0]);
    sb_printf(c, "    const %s *__restrict__ xr = x0 + r * %lld;\n", T, D);
    sb_printf(c, "    double a = 0, b = 0;\n    for (int j = lane; j < %lld; j += 32) a += xr[j];\n", D);
    warp_total(cx, "    ", "a");
    sb_printf(c, "    const double m = a / %lld;\n", D);
    sb_printf(c, "    for (int j = lane; j < %lld; j += 32) b += (xr[j] - m) * (xr[j] - m);\n", D);
    warp_total(cx, "    ", "b");
    sb_printf(c,
              "    if (lane == 0) {\n        y[2 * r] = (%s)m;\n"
              "        y[2 * r + 1] = (%s)(1 / sqrt(b / %lld + eps));\n    }\n",
              T, T, D);
    rows_close(cx, n, R);
}

/* y = (x rstd - mean rstd) weight + bias; x0 = x, x1 = stats, x2 = weight,
 * x3 = bias */
void cu_emit_LN_NORM(cg_ctx *cx, const ir_node *n) {
    ll R, D, tot = cg_numel(n);
    ln_of(n, &R, &D);
    if (!tot) return cuk_empty(cx, n);
    const char *IX = cuk_ix(cx, n), *T = cx->T;
    strbuf *c = cx->c;
    cuk_grid_open(cx, n, IX, tot);
    sb_printf(c, "        const %s r = i / %lld, j = i %% %lld;\n", IX, D, D);
    sb_printf(c, "        const %s rs = x1[2 * r + 1], sh = -x1[2 * r] * rs;\n", T);
    sb_puts(c, "        y[i] = (x0[i] * rs + sh) * x2[j] + x3[j];\n");
    cuk_grid_close(cx, n, tot);
}

/* Per row, with g = dy weight and xhat = (x - mean) rstd:
 * dx = rstd (g - mean(g) - xhat mean(g xhat)). x0 = dy, x1 = x,
 * x2 = stats, x3 = weight */
void cu_emit_LN_DX(cg_ctx *cx, const ir_node *n) {
    ll R, D;
    ln_of(n, &R, &D);
    if (!cg_numel(n)) return cuk_empty(cx, n);
    const char *IX = cuk_ix(cx, n), *T = cx->T;
    strbuf *c = cx->c;
    rows_open(cx, n, IX, R);
    sb_printf(c, "    const %s *__restrict__ dr = x0 + r * %lld, *__restrict__ xr = x1 + r * %lld;\n", T, D, D);
    sb_printf(c, "    %s *__restrict__ yr = y + r * %lld;\n", T, D);
    sb_printf(c, "    const %s m = x2[2 * r], rs = x2[2 * r + 1];\n", T);
    sb_printf(c, "    double a = 0, b = 0;\n    for (int j = lane; j < %lld; j += 32) {\n", D);
    sb_printf(c, "        const %s g = dr[j] * x3[j];\n        a += g;\n        b += g * (xr[j] - m);\n    }\n", T);
    warp_total(cx, "    ", "a");
    warp_total(cx, "    ", "b");
    sb_printf(c, "    const %s ma = (%s)(a / %lld), mb = (%s)(b * rs / %lld);\n", T, T, D, T, D);
    sb_printf(c,
              "    for (int j = lane; j < %lld; j += 32) yr[j] = rs * (dr[j] * x3[j] - ma - (xr[j] - m) * rs * mb);\n",
              D);
    rows_close(cx, n, R);
}

enum { LNW_GROUPS = 16 };

/* dweight[j] = sum over rows of dy (x - mean) rstd; x0 = dy, x1 = x,
 * x2 = stats */
void cu_emit_LN_DWEIGHT(cg_ctx *cx, const ir_node *n) {
    ll R, D;
    ln_of(cg_in(cx, n, 1), &R, &D);
    if (!cg_numel(n)) return cuk_empty(cx, n);
    const char *IX = cuk_ix(cx, n), *T = cx->T;
    strbuf *c = cx->c;
    cuk_kernel(cx, n, "cols", 32 * LNW_GROUPS, NULL);
    sb_printf(c, "    __shared__ %s part[%d][33];\n", T, LNW_GROUPS);
    sb_printf(c, "    const int tx = threadIdx.x, ty = threadIdx.y;\n");
    sb_printf(c, "    const %s j = (%s)blockIdx.x * 32 + tx;\n", IX, IX);
    sb_printf(c, "    %s a = 0;\n", T);
    sb_printf(c, "    if (j < %lld)\n", D);
    sb_printf(c, "        for (%s r = ty; r < %lld; r += %d) {\n", IX, R, LNW_GROUPS);
    sb_printf(c, "            const %s m = x2[2 * r], rs = x2[2 * r + 1];\n", T);
    sb_printf(c, "            a += x0[r * %lld + j] * ((x1[r * %lld + j] - m) * rs);\n        }\n", D, D);
    sb_puts(c, "    part[ty][tx] = a;\n    __syncthreads();\n");
    sb_printf(c, "    if (ty == 0 && j < %lld) {\n", D);
    sb_printf(c, "        %s s = part[0][tx];\n", T);
    sb_printf(c, "        for (int k = 1; k < %d; k++) s += part[k][tx];\n", LNW_GROUPS);
    sb_puts(c, "        y[j] = s;\n    }\n}\n");
    cuk_head(cx, n);
    cuk_launch(cx, n, "cols", arena_printf(cx->g->a, "%lld", (D + 31) / 32),
               arena_printf(cx->g->a, "dim3(32, %d)", LNW_GROUPS), 0);
    cuk_check_launch(cx, n);
    cuk_tail(cx);
}
