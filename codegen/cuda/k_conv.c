/* k_conv.c — CUDA kernels of the convolution and pooling ops (NCHW); the C
 * target's codegen/c/k_conv.c computes the same functions.
 *
 * The three convolutions are implicit GEMMs (no im2col buffer, no cuDNN):
 * per group g (blockIdx.z), C[m, q] = sum over k of A[m, k] B[k, q], with
 * A and B gathered from the tensors by index arithmetic on literals:
 *
 *   conv2d         m = output pixel (n, oh, ow), q = output channel o of
 *                  the group, k = (c, kh, kw): A = x shifted (0 in the
 *                  padding), B = w[o, k]
 *   conv2d_grad_x  m = input pixel (n, ih, iw), q = input channel c of the
 *                  group, k = (o, kh, kw): A = dy[n, o, oh, ow] where
 *                  ih = oh s + kh d - p has an integer solution oh in
 *                  range (else 0), B = w[o, c, kh, kw] — a gather, no
 *                  scatter, no atomics
 *   conv2d_grad_w  m = output channel o of the group, q = (c, kh, kw),
 *                  k = (n, oh, ow): A = dy, B = x shifted
 *
 * The GEMM kernel: 256 threads, a BM x BN tile of C per block (BM, BN in
 * {16, 32, 64} by the sizes of M and N), each thread a (BM/16) x (BN/16)
 * register tile with rows ty + 16 i and columns tx + 16 j; the k axis runs
 * in steps of 16 through shared memory (tiles padded by one element
 * against bank conflicts). Every output element is one thread's sum over
 * k in increasing order: deterministic. conv2d_grad_w with few output
 * tiles (its reduction is long and its output small) instead gives each
 * output element a block: 256 threads take k = tid, tid + 256, ... and
 * nnrt_block_sum adds their sums in a fixed tree.
 *
 * conv_transpose2d is conv2d_grad_x's GEMM with x in the gradient's place;
 * upsample is one thread per output element, its gradient one per input
 * element (a gather, no atomics).
 *
 * Pooling is one thread per output element (the window scanned as the C
 * kernel does, so the values are the same); the gradients gather: one
 * thread per input element adds, in (oh, ow) order, what each window that
 * contains it sends it (the max pool's window re-finds its first maximum),
 * which is the C kernel's order of additions as well.
 */
#include "cuk.h"

#include <math.h>


typedef long long ll;


/* ---- implicit GEMM ---------------------------------------------------------- */

/* The GEMM of one conv node. Loaders are statements that set `v` (declared
 * T v = 0 around them) from m and k (A) or k and q (B), in range; store
 * writes acc to C[m, q]. a_kfast / b_kfast: whether consecutive threads
 * should walk k (the operand is contiguous along k) when filling a tile. */
typedef struct gemm {
    ll M, N, K, G;
    const char *loadA, *loadB, *store;
    int a_kfast, b_kfast;
} gemm;

enum { GT = 256, BK = 16 };

static int tile_for(ll len) { return len <= 16 ? 16 : len <= 32 ? 32 : 64; }

static ll cdiv(ll a, ll b) { return (a + b - 1) / b; }

/* The tiled kernel NAME_gemm. */
static void gemm_kernel(cg_ctx *cx, const ir_node *n, const gemm *G) {
    strbuf *c = cx->c;
    const char *T = cx->T, *IX = cuk_ix(cx, n);
    int BM = tile_for(G->M), BN = tile_for(G->N), TM = BM / 16, TN = BN / 16;
    cuk_kernel(cx, n, "gemm", GT, NULL);
    sb_printf(c, "    __shared__ %s As[%d][%d];\n    __shared__ %s Bs[%d][%d];\n", T, BK, BM + 1, T, BK, BN + 1);
    sb_puts(c, "    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;\n");
    sb_printf(c, "    const %s m0 = (%s)blockIdx.x * %d, q0 = (%s)blockIdx.y * %d;\n", IX, IX, BM, IX, BN);
    sb_printf(c, "    const %s g = blockIdx.z;\n", IX);
    sb_printf(c, "    %s acc[%d][%d];\n", T, TM, TN);
    sb_printf(c, "    for (int i = 0; i < %d; i++)\n        for (int j = 0; j < %d; j++) acc[i][j] = 0;\n", TM, TN);
    sb_printf(c, "    for (%s k0 = 0; k0 < %lld; k0 += %d) {\n", IX, G->K, BK);
    /* A tile: BM x BK */
    sb_printf(c, "        for (int e = tid; e < %d; e += %d) {\n", BM * BK, GT);
    if (G->a_kfast) sb_printf(c, "            const int mm = e / %d, kk = e %% %d;\n", BK, BK);
    else sb_printf(c, "            const int mm = e %% %d, kk = e / %d;\n", BM, BM);
    sb_printf(c, "            const %s m = m0 + mm, k = k0 + kk;\n", IX);
    sb_printf(c, "            %s v = 0;\n", T);
    sb_printf(c, "            if (m < %lld && k < %lld) {\n%s            }\n", G->M, G->K, G->loadA);
    sb_puts(c, "            As[kk][mm] = v;\n        }\n");
    /* B tile: BK x BN */
    sb_printf(c, "        for (int e = tid; e < %d; e += %d) {\n", BN * BK, GT);
    if (G->b_kfast) sb_printf(c, "            const int qq = e / %d, kk = e %% %d;\n", BK, BK);
    else sb_printf(c, "            const int qq = e %% %d, kk = e / %d;\n", BN, BN);
    sb_printf(c, "            const %s q = q0 + qq, k = k0 + kk;\n", IX);
    sb_printf(c, "            %s v = 0;\n", T);
    sb_printf(c, "            if (q < %lld && k < %lld) {\n%s            }\n", G->N, G->K, G->loadB);
    sb_puts(c, "            Bs[kk][qq] = v;\n        }\n");
    sb_puts(c, "        __syncthreads();\n");
    sb_printf(c, "#pragma unroll\n        for (int kk = 0; kk < %d; kk++) {\n", BK);
    sb_printf(c, "            %s a[%d], b[%d];\n", T, TM, TN);
    sb_printf(c, "#pragma unroll\n            for (int i = 0; i < %d; i++) a[i] = As[kk][ty + 16 * i];\n", TM);
    sb_printf(c, "#pragma unroll\n            for (int j = 0; j < %d; j++) b[j] = Bs[kk][tx + 16 * j];\n", TN);
    sb_printf(c, "#pragma unroll\n            for (int i = 0; i < %d; i++)\n", TM);
    sb_printf(c, "#pragma unroll\n                for (int j = 0; j < %d; j++) acc[i][j] += a[i] * b[j];\n", TN);
    sb_puts(c, "        }\n        __syncthreads();\n    }\n");
    sb_printf(c, "    for (int i = 0; i < %d; i++)\n        for (int j = 0; j < %d; j++) {\n", TM, TN);
    sb_printf(c, "            const %s m = m0 + ty + 16 * i, q = q0 + tx + 16 * j;\n", IX);
    sb_printf(c, "            if (m < %lld && q < %lld) {\n", G->M, G->N);
    sb_printf(c, "                const %s v = acc[i][j];\n%s            }\n        }\n}\n", T, G->store);
}

/* One block per output element: NAME_dot (grid G*M*N blocks). */
static void dot_kernel(cg_ctx *cx, const ir_node *n, const gemm *G) {
    strbuf *c = cx->c;
    const char *T = cx->T, *IX = cuk_ix(cx, n);
    cuk_kernel(cx, n, "dot", GT, NULL);
    sb_printf(c, "    __shared__ %s shm[32];\n", T);
    sb_printf(c, "    const %s e = blockIdx.x, g = e / %lld, m = e / %lld %% %lld, q = e %% %lld;\n", IX, G->M * G->N,
              G->N, G->M, G->N);
    sb_printf(c, "    %s s = 0;\n", T);
    sb_printf(c, "    for (%s k = threadIdx.x; k < %lld; k += %d) {\n", IX, G->K, GT);
    sb_printf(c, "        %s va, vb;\n", T);
    sb_printf(c, "        {\n            %s v = 0;\n%s            va = v;\n        }\n", T, G->loadA);
    sb_printf(c, "        {\n            %s v = 0;\n%s            vb = v;\n        }\n", T, G->loadB);
    sb_puts(c, "        s += va * vb;\n    }\n");
    sb_puts(c, "    s = nnrt_block_sum(s, shm);\n");
    sb_printf(c, "    if (threadIdx.x == 0) {\n        const %s v = s;\n%s    }\n}\n", T, G->store);
}

/* Emit the kernel and the launcher; dot: one block per output element. */
static void gemm_emit(cg_ctx *cx, const ir_node *n, const gemm *G, int dot) {
    if (dot) dot_kernel(cx, n, G);
    else gemm_kernel(cx, n, G);
    cuk_head(cx, n);
    if (dot) {
        cuk_launch(cx, n, "dot", arena_printf(cx->g->a, "%lld", G->G * G->M * G->N), arena_printf(cx->g->a, "%d", GT),
                   0);
    } else {
        int BM = tile_for(G->M), BN = tile_for(G->N);
        cuk_launch(cx, n, "gemm",
                   arena_printf(cx->g->a, "dim3(%lld, %lld, %lld)", cdiv(G->M, BM), cdiv(G->N, BN), G->G),
                   arena_printf(cx->g->a, "%d", GT), 0);
    }
    cuk_check_launch(cx, n);
    cuk_tail(cx);
}

/* ---- conv2d ------------------------------------------------------------- */

typedef struct convdims {
    ll N, C, H, W, O, CG, OG, KH, KW, OH, OW, S, P, D, G;
} convdims;

static convdims conv_dims(const ir_node *n, const ir_shape *x, const ir_shape *w, const ir_shape *y) {
    convdims d = {x->d[0], x->d[1], x->d[2], x->d[3], w->d[0], w->d[1], w->d[0] / n->iattr[3], w->d[2], w->d[3],
                  y->d[2], y->d[3], n->iattr[0], n->iattr[1], n->iattr[2], n->iattr[3]};
    return d;
}

/* Statements (at indent ind) that set v = x[nb, g CG + c, oh s + kh d - p,
 * ow s + kw d - p] or leave it 0 in the padding; nb, oh, ow come from the
 * pixel index pix over [N, OH, OW] and c, kh, kw from kidx over [CG, KH, KW].
 * xname is the x operand. */
static const char *load_shifted_x(cg_ctx *cx, const convdims *d, const char *IX, const char *pix, const char *kidx,
                                  const char *xname, const char *ind) {
    ll OHW = d->OH * d->OW, KHW = d->KH * d->KW;
    return arena_printf(cx->g->a,
                        "%sconst %s nb = %s / %lld, r = %s %% %lld, oh = r / %lld, ow = r %% %lld;\n"
                        "%sconst %s c = %s / %lld, r2 = %s %% %lld, kh = r2 / %lld, kw = r2 %% %lld;\n"
                        "%sconst %s ih = oh * %lld + kh * %lld - %lld, iw = ow * %lld + kw * %lld - %lld;\n"
                        "%sif (ih >= 0 && ih < %lld && iw >= 0 && iw < %lld) v = %s[((nb * %lld + g * %lld + c) * %lld "
                        "+ ih) * %lld + iw];\n",
                        ind, IX, pix, OHW, pix, OHW, d->OW, d->OW, ind, IX, kidx, KHW, kidx, KHW, d->KW, d->KW, ind, IX,
                        d->S, d->D, d->P, d->S, d->D, d->P, ind, d->H, d->W, xname, d->C, d->CG, d->H, d->W);
}

/* y[n, o] = sum over the group's channels c and (kh, kw) of w[o, c] x[n, c] shifted. */
void cu_emit_CONV2D(cg_ctx *cx, const ir_node *n) {
    const ir_node *x = cg_in(cx, n, 0), *w = cg_in(cx, n, 1);
    convdims d = conv_dims(n, &x->shape, &w->shape, &n->shape);
    if (!cg_numel(n)) return cuk_empty(cx, n);
    const char *IX = cuk_ix(cx, n), *ind = "                ";
    ll OHW = d.OH * d.OW, K = d.CG * d.KH * d.KW;
    gemm G = {d.N * OHW, d.OG, K, d.G, NULL, NULL, NULL, 0, 1};
    G.loadA = load_shifted_x(cx, &d, IX, "m", "k", "x0", ind);
    G.loadB = arena_printf(cx->g->a, "%sv = x1[(g * %lld + q) * %lld + k];\n", ind, d.OG, K);
    G.store = arena_printf(cx->g->a,
                           "%sconst %s nb = m / %lld, r = m %% %lld;\n"
                           "%sy[(nb * %lld + g * %lld + q) * %lld + r] = v;\n",
                           ind, IX, OHW, OHW, ind, d.O, d.OG, OHW);
    gemm_emit(cx, n, &G, 0);
}

/* dx[n, c] = sum over the group's outputs o and (kh, kw) of w[o, c] dy[n, o]
 * at the (oh, ow) that read (ih, iw). x0 = dy, x1 = w. */
void cu_emit_CONV2D_GRAD_X(cg_ctx *cx, const ir_node *n) {
    const ir_node *dy = cg_in(cx, n, 0), *w = cg_in(cx, n, 1);
    convdims d = conv_dims(n, &n->shape, &w->shape, &dy->shape);
    if (!cg_numel(n)) return cuk_empty(cx, n);
    const char *IX = cuk_ix(cx, n), *ind = "                ";
    ll HW = d.H * d.W, KHW = d.KH * d.KW;
    gemm G = {d.N * HW, d.CG, d.OG * KHW, d.G, NULL, NULL, NULL, 0, 1};
    const char *ok = d.S == 1 ? arena_printf(cx->g->a, "th >= 0 && th < %lld && tw >= 0 && tw < %lld", d.OH, d.OW)
                              : arena_printf(cx->g->a,
                                             "th >= 0 && tw >= 0 && th %% %lld == 0 && tw %% %lld == 0 && "
                                             "th / %lld < %lld && tw / %lld < %lld",
                                             d.S, d.S, d.S, d.OH, d.S, d.OW);
    const char *at = d.S == 1
                         ? arena_printf(cx->g->a, "(nb * %lld + g * %lld + ol) * %lld + th * %lld + tw", d.O, d.OG,
                                        d.OH * d.OW, d.OW)
                         : arena_printf(cx->g->a, "(nb * %lld + g * %lld + ol) * %lld + th / %lld * %lld + tw / %lld",
                                        d.O, d.OG, d.OH * d.OW, d.S, d.OW, d.S);
    G.loadA = arena_printf(cx->g->a, "%sconst %s nb = m / %lld, r = m %% %lld, ih = r / %lld, iw = r %% %lld;\n"
                  "%sconst %s ol = k / %lld, r2 = k %% %lld, kh = r2 / %lld, kw = r2 %% %lld;\n"
                  "%sconst %s th = ih + %lld - kh * %lld, tw = iw + %lld - kw * %lld;\n"
                  "%sif (%s) v = x0[%s];\n",
                  ind, IX, HW, HW, d.W, d.W, ind, IX, KHW, KHW, d.KW, d.KW, ind, IX, d.P, d.D, d.P, d.D, ind, ok, at);
    G.loadB = arena_printf(cx->g->a, "%sv = x1[((g * %lld + k / %lld) * %lld + q) * %lld + k %% %lld];\n", ind, d.OG,
                           KHW, d.CG, KHW, KHW);
    G.store = arena_printf(cx->g->a,
                           "%sconst %s nb = m / %lld, r = m %% %lld;\n"
                           "%sy[(nb * %lld + g * %lld + q) * %lld + r] = v;\n",
                           ind, IX, HW, HW, ind, d.C, d.CG, HW);
    gemm_emit(cx, n, &G, 0);
}

/* dw[o, c, kh, kw] = sum over n, oh, ow of dy[n, o, oh, ow] x[n, c, ih, iw].
 * x0 = dy, x1 = x. */
void cu_emit_CONV2D_GRAD_W(cg_ctx *cx, const ir_node *n) {
    const ir_node *dy = cg_in(cx, n, 0), *x = cg_in(cx, n, 1);
    convdims d = conv_dims(n, &x->shape, &n->shape, &dy->shape);
    if (!cg_numel(n)) return cuk_empty(cx, n);
    const char *IX = cuk_ix(cx, n);
    ll OHW = d.OH * d.OW, CK = d.CG * d.KH * d.KW;
    gemm G = {d.OG, CK, d.N * OHW, d.G, NULL, NULL, NULL, 1, 1};
    /* few output tiles for a long reduction: a block per output element */
    ll tiles = cdiv(G.M, tile_for(G.M)) * cdiv(G.N, tile_for(G.N)) * G.G;
    int dot = tiles < 264 && G.K >= 1024;
    const char *ind = dot ? "            " : "                ";
    G.loadA = arena_printf(cx->g->a, "%sv = x0[(k / %lld * %lld + g * %lld + m) * %lld + k %% %lld];\n", ind, OHW, d.O,
                           d.OG, OHW, OHW);
    G.loadB = load_shifted_x(cx, &d, IX, "k", "q", "x1", ind);
    G.store = arena_printf(cx->g->a, "%sy[(g * %lld + m) * %lld + q] = v;\n", ind, d.OG, CK);
    gemm_emit(cx, n, &G, dot);
}

/* ---- channel_bias ------------------------------------------------------- */

/* y[n, c, ...] = x[n, c, ...] + b[c] */
void cu_emit_CHANNEL_BIAS(cg_ctx *cx, const ir_node *n) {
    ll N = n->shape.d[0], C = n->shape.d[1], I = cg_numel(n) / (N * C), tot = cg_numel(n);
    if (!tot) return cuk_empty(cx, n);
    const char *IX = cuk_ix(cx, n);
    strbuf *c = cx->c;
    cuk_kernel(cx, n, "main", 0, NULL);
    sb_printf(c, "    %s\n", cuk_grid_for(cx, IX, "i", tot));
    sb_printf(c, "        y[i] = x0[i] + x1[i / %lld %% %lld];\n}\n", I, C);
    cuk_head(cx, n);
    cuk_launch_1d(cx, n, "main", cuk_grid(tot), cuk_block(tot));
    cuk_check_launch(cx, n);
    cuk_tail(cx);
}

/* ---- pooling ------------------------------------------------------------ */

typedef struct pooldims {
    ll NC, H, W, OH, OW, K, S, P;
} pooldims;

static pooldims pool_dims(const ir_node *n, const ir_shape *x, const ir_shape *y) {
    pooldims d = {x->d[0] * x->d[1], x->d[2], x->d[3], y->d[2], y->d[3], n->iattr[0], n->iattr[1], n->iattr[2]};
    return d;
}

/* In the loop over outputs i: plane p, (oh, ow), the window's clipped rows
 * [h0, h1) and columns [w0, w1), pi = the plane's offset in the input. */
static void pool_window(cg_ctx *cx, const pooldims *d, const char *IX, const char *ind, const char *oi) {
    strbuf *c = cx->c;
    sb_printf(c, "%sconst %s p = %s / %lld, oh = %s / %lld %% %lld, ow = %s %% %lld, pi = p * %lld;\n", ind, IX, oi,
              d->OH * d->OW, oi, d->OW, d->OH, oi, d->OW, d->H * d->W);
    sb_printf(c, "%sconst %s hs = oh * %lld - %lld, h0 = hs > 0 ? hs : 0, h1 = hs + %lld < %lld ? hs + %lld : %lld;\n",
              ind, IX, d->S, d->P, d->K, d->H, d->K, d->H);
    sb_printf(c, "%sconst %s ws = ow * %lld - %lld, w0 = ws > 0 ? ws : 0, w1 = ws + %lld < %lld ? ws + %lld : %lld;\n",
              ind, IX, d->S, d->P, d->K, d->W, d->K, d->W);
}

/* The window's maximum m of xin and, with track, its index `at` in the
 * plane: h-major, the first maximum or the last NaN wins (as the C kernel). */
static void pool_max(cg_ctx *cx, const pooldims *d, const char *IX, const char *ind, const char *xin, int track) {
    strbuf *c = cx->c;
    sb_printf(c, "%s%s m = ", ind, cx->T);
    cg_literal(cx, c, -INFINITY);
    sb_puts(c, ";\n");
    if (track) sb_printf(c, "%s%s at = h0 * %lld + w0;\n", ind, IX, d->W);
    sb_printf(c, "%sfor (%s ih = h0; ih < h1; ih++)\n", ind, IX);
    sb_printf(c, "%s    for (%s iw = w0; iw < w1; iw++) {\n", ind, IX);
    sb_printf(c, "%s        const %s v = %s[pi + ih * %lld + iw];\n", ind, cx->T, xin, d->W);
    if (track) sb_printf(c, "%s        if (v > m || isnan(v)) m = v, at = ih * %lld + iw;\n", ind, d->W);
    else sb_printf(c, "%s        if (v > m || isnan(v)) m = v;\n", ind);
    sb_printf(c, "%s    }\n", ind);
}

/* In the loop over input elements i: plane p, (ih, iw), and the ranges
 * [oh0, oh1), [ow0, ow1) of the windows that contain it (oh s - p <= ih <
 * oh s - p + k). */
static void pool_inverse(cg_ctx *cx, const pooldims *d, const char *IX) {
    strbuf *c = cx->c;
    const char *ind = "        ";
    sb_printf(c, "%sconst %s p = i / %lld, ih = i / %lld %% %lld, iw = i %% %lld;\n", ind, IX, d->H * d->W, d->W, d->H,
              d->W);
    sb_printf(c, "%sconst %s th = ih + %lld - %lld, tw = iw + %lld - %lld;\n", ind, IX, d->P, d->K - 1, d->P, d->K - 1);
    sb_printf(c, "%sconst %s oh0 = th <= 0 ? 0 : (th + %lld) / %lld, ow0 = tw <= 0 ? 0 : (tw + %lld) / %lld;\n", ind,
              IX, d->S - 1, d->S, d->S - 1, d->S);
    sb_printf(c, "%sconst %s oh1 = (ih + %lld) / %lld + 1 < %lld ? (ih + %lld) / %lld + 1 : %lld;\n", ind, IX, d->P,
              d->S, d->OH, d->P, d->S, d->OH);
    sb_printf(c, "%sconst %s ow1 = (iw + %lld) / %lld + 1 < %lld ? (iw + %lld) / %lld + 1 : %lld;\n", ind, IX, d->P,
              d->S, d->OW, d->P, d->S, d->OW);
}

/* y = max over each window. */
void cu_emit_MAXPOOL2D(cg_ctx *cx, const ir_node *n) {
    pooldims d = pool_dims(n, &cg_in(cx, n, 0)->shape, &n->shape);
    ll tot = cg_numel(n);
    if (!tot) return cuk_empty(cx, n);
    const char *IX = cuk_ix(cx, n);
    cuk_grid_open(cx, n, IX, tot);
    pool_window(cx, &d, IX, "        ", "i");
    pool_max(cx, &d, IX, "        ", "x0", 0);
    sb_puts(cx->c, "        y[i] = m;\n");
    cuk_grid_close(cx, n, tot);
}

/* dx[at] = sum of dy over the windows whose first maximum is at; x0 = dy,
 * x1 = x. One thread per input element, the windows in (oh, ow) order. */
void cu_emit_MAXPOOL2D_GRAD(cg_ctx *cx, const ir_node *n) {
    pooldims d = pool_dims(n, &n->shape, &cg_in(cx, n, 0)->shape);
    ll tot = cg_numel(n);
    if (!tot) return cuk_empty(cx, n);
    const char *IX = cuk_ix(cx, n);
    strbuf *c = cx->c;
    cuk_grid_open(cx, n, IX, tot);
    pool_inverse(cx, &d, IX);
    sb_printf(c, "        const %s self = ih * %lld + iw;\n", IX, d.W);
    sb_printf(c, "        %s s = 0;\n", cx->T);
    sb_printf(c, "        for (%s oh = oh0; oh < oh1; oh++)\n", IX);
    sb_printf(c, "            for (%s ow = ow0; ow < ow1; ow++) {\n", IX);
    sb_printf(c,
              "                const %s hs = oh * %lld - %lld, h0 = hs > 0 ? hs : 0, h1 = hs + %lld < %lld ? hs + %lld "
              ": %lld;\n",
              IX, d.S, d.P, d.K, d.H, d.K, d.H);
    sb_printf(c,
              "                const %s ws = ow * %lld - %lld, w0 = ws > 0 ? ws : 0, w1 = ws + %lld < %lld ? ws + %lld "
              ": %lld;\n",
              IX, d.S, d.P, d.K, d.W, d.K, d.W);
    sb_printf(c, "                const %s pi = p * %lld;\n", IX, d.H * d.W);
    pool_max(cx, &d, IX, "                ", "x1", 1);
    sb_printf(c, "                if (at == self) s += x0[(p * %lld + oh) * %lld + ow];\n", d.OH, d.OW);
    sb_puts(c, "            }\n        y[i] = s;\n");
    cuk_grid_close(cx, n, tot);
}

/* y = sum over each window / k^2 (the padding counts as zeros). */
void cu_emit_AVGPOOL2D(cg_ctx *cx, const ir_node *n) {
    pooldims d = pool_dims(n, &cg_in(cx, n, 0)->shape, &n->shape);
    ll tot = cg_numel(n);
    if (!tot) return cuk_empty(cx, n);
    const char *IX = cuk_ix(cx, n);
    strbuf *c = cx->c;
    cuk_grid_open(cx, n, IX, tot);
    pool_window(cx, &d, IX, "        ", "i");
    sb_printf(c, "        %s s = 0;\n", cx->T);
    sb_printf(c, "        for (%s ih = h0; ih < h1; ih++)\n", IX);
    sb_printf(c, "            for (%s iw = w0; iw < w1; iw++) s += x0[pi + ih * %lld + iw];\n", IX, d.W);
    sb_puts(c, "        y[i] = s / ");
    cg_literal(cx, c, (double)(d.K * d.K));
    sb_puts(c, ";\n");
    cuk_grid_close(cx, n, tot);
}

/* dx = sum of dy / k^2 over the windows that contain the element; x0 = dy. */
void cu_emit_AVGPOOL2D_GRAD(cg_ctx *cx, const ir_node *n) {
    pooldims d = pool_dims(n, &n->shape, &cg_in(cx, n, 0)->shape);
    ll tot = cg_numel(n);
    if (!tot) return cuk_empty(cx, n);
    const char *IX = cuk_ix(cx, n);
    strbuf *c = cx->c;
    cuk_grid_open(cx, n, IX, tot);
    pool_inverse(cx, &d, IX);
    sb_printf(c, "        %s s = 0;\n", cx->T);
    sb_printf(c, "        for (%s oh = oh0; oh < oh1; oh++)\n", IX);
    sb_printf(c, "            for (%s ow = ow0; ow < ow1; ow++) s += x0[(p * %lld + oh) * %lld + ow] / ", IX, d.OH,
              d.OW);
    cg_literal(cx, c, (double)(d.K * d.K));
    sb_puts(c, ";\n        y[i] = s;\n");
    cuk_grid_close(cx, n, tot);
}

/* ---- conv_transpose2d ----------------------------------------------------- */

/* conv2d_grad_x's gather with x as the gradient (codegen/c/k_conv.c). */
void cu_emit_CONV_TRANSPOSE2D(cg_ctx *cx, const ir_node *n) { cu_emit_CONV2D_GRAD_X(cx, n); }

/* ---- upsample ------------------------------------------------------------- */

/* The same sums as the C kernels (codegen/c/k_conv.c, "upsample"), one
 * thread per output element, and per input element for the gradients. */

typedef struct updims {
    ll NC, H, W, OH, OW, S;
} updims;

static updims up_dims(const ir_node *n, const ir_shape *x, const ir_shape *y) {
    updims d = {x->d[0] * x->d[1], x->d[2], x->d[3], y->d[2], y->d[3], n->iattr[0]};
    return d;
}

/* The source rows a0, a1 of output index o along an axis and their weights
 * la0, la1 (a = "h" or "w"). */
static void up_lerp(cg_ctx *cx, const char *IX, const char *ind, const char *a, const char *o, ll S, ll len) {
    strbuf *c = cx->c;
    sb_printf(c, "%sconst %s t%s = 2 * %s + %lld;\n", ind, IX, a, o, 1 - S);
    sb_printf(c, "%sconst %s %s0 = t%s < 0 ? 0 : t%s / %lld, %s1 = %s0 < %lld ? %s0 + 1 : %s0;\n", ind, IX, a, a, a,
              2 * S, a, a, len - 1, a, a);
    sb_printf(c, "%sconst %s l%s1 = t%s < 0 ? 0 : (%s)(t%s - %lld * %s0) / (%s)%lld, l%s0 = 1 - l%s1;\n", ind, cx->T, a,
              a, cx->T, a, 2 * S, a, cx->T, 2 * S, a, a);
}

void cu_emit_UPSAMPLE(cg_ctx *cx, const ir_node *n) {
    updims d = up_dims(n, &cg_in(cx, n, 0)->shape, &n->shape);
    ll tot = cg_numel(n);
    if (!tot) return cuk_empty(cx, n);
    const char *IX = cuk_ix(cx, n);
    strbuf *c = cx->c;
    cuk_grid_open(cx, n, IX, tot);
    sb_printf(c, "        const %s p = i / %lld, oh = i / %lld %% %lld, ow = i %% %lld;\n", IX, d.OH * d.OW, d.OW,
              d.OH, d.OW);
    sb_printf(c, "        const %s *xp = x0 + p * %lld;\n", cx->T, d.H * d.W);
    if (n->iattr[1] == 0) {
        sb_printf(c, "        y[i] = xp[oh / %lld * %lld + ow / %lld];\n", d.S, d.W, d.S);
    } else {
        up_lerp(cx, IX, "        ", "h", "oh", d.S, d.H);
        up_lerp(cx, IX, "        ", "w", "ow", d.S, d.W);
        sb_printf(c, "        y[i] = lh0 * (lw0 * xp[h0 * %lld + w0] + lw1 * xp[h0 * %lld + w1]) +\n"
                     "               lh1 * (lw0 * xp[h1 * %lld + w0] + lw1 * xp[h1 * %lld + w1]);\n",
                  d.W, d.W, d.W, d.W);
    }
    cuk_grid_close(cx, n, tot);
}

/* The bilinear gradient of input element (ih, iw) into s. */
static void up_grad_bilinear(cg_ctx *cx, const char *IX, const updims *d) {
    strbuf *c = cx->c;
    const char *ind = "            ";
    sb_printf(c, "        const %s oh0 = (ih - 1) * %lld > 0 ? (ih - 1) * %lld : 0;\n", IX, d->S, d->S);
    sb_printf(c, "        const %s oh1 = (ih + 2) * %lld < %lld ? (ih + 2) * %lld : %lld;\n", IX, d->S, d->OH, d->S,
              d->OH);
    sb_printf(c, "        const %s ow0 = (iw - 1) * %lld > 0 ? (iw - 1) * %lld : 0;\n", IX, d->S, d->S);
    sb_printf(c, "        const %s ow1 = (iw + 2) * %lld < %lld ? (iw + 2) * %lld : %lld;\n", IX, d->S, d->OW, d->S,
              d->OW);
    sb_printf(c, "        for (%s oh = oh0; oh < oh1; oh++) {\n", IX);
    up_lerp(cx, IX, ind, "h", "oh", d->S, d->H);
    sb_printf(c, "%sif (h0 != ih && h1 != ih) continue;\n%s%s t = 0;\n", ind, ind, cx->T);
    sb_printf(c, "%sfor (%s ow = ow0; ow < ow1; ow++) {\n", ind, IX);
    up_lerp(cx, IX, "                ", "w", "ow", d->S, d->W);
    sb_puts(c, "                if (w0 != iw && w1 != iw) continue;\n");
    sb_printf(c, "                t += ((w0 == iw ? lw0 : 0) + (w1 == iw ? lw1 : 0)) * dp[oh * %lld + ow];\n", d->OW);
    sb_printf(c, "%s}\n%ss += ((h0 == ih ? lh0 : 0) + (h1 == ih ? lh1 : 0)) * t;\n        }\n", ind, ind);
}

/* dx[ih, iw] = sum over the outputs that read it of weight * dy; x0 = dy. */
void cu_emit_UPSAMPLE_GRAD(cg_ctx *cx, const ir_node *n) {
    updims d = up_dims(n, &n->shape, &cg_in(cx, n, 0)->shape);
    ll tot = cg_numel(n);
    if (!tot) return cuk_empty(cx, n);
    const char *IX = cuk_ix(cx, n);
    strbuf *c = cx->c;
    cuk_grid_open(cx, n, IX, tot);
    sb_printf(c, "        const %s p = i / %lld, ih = i / %lld %% %lld, iw = i %% %lld;\n", IX, d.H * d.W, d.W, d.H,
              d.W);
    sb_printf(c, "        const %s *dp = x0 + p * %lld;\n        %s s = 0;\n", cx->T, d.OH * d.OW, cx->T);
    if (n->iattr[1] == 0) {
        sb_printf(c, "        for (%s a = 0; a < %lld; a++)\n", IX, d.S);
        sb_printf(c, "            for (%s b = 0; b < %lld; b++) s += dp[(ih * %lld + a) * %lld + iw * %lld + b];\n",
                  IX, d.S, d.S, d.OW, d.S);
    } else {
        up_grad_bilinear(cx, IX, &d);
    }
    sb_puts(c, "        y[i] = s;\n");
    cuk_grid_close(cx, n, tot);
}
