/* k_quant.c — --quantize int8: the int8 kernels of dense and conv layers
 * (cg_quant_layer), post-training quantization with calibrated scales.
 *
 * The scheme (symmetric, zero point 0):
 *   weights   per output channel c: s_w[c] = max |W[c, :]| / 127 (1 when
 *             all are 0), q_w = W / s_w rounded half away from zero, in
 *             [-127, 127]: computed here, at compile time, in double, and
 *             written as static const int8_t arrays with their row sums;
 *   inputs    per tensor: s_x = a / 127 where a is the largest |x| the
 *             calibration saw (1 when a is 0 or below 1e-30); in the kernel q_x =
 *             clamp((float)x * (float)(1 / s_x), -127, 127) rounded half
 *             away from zero (nnc_quant8; NaN becomes 127);
 *   products  sum over k of q_x q_w in int32 (exact: K <= 65536), then
 *             y = (float)acc * (float)(s_x s_w[c]) in f32, and the layer's
 *             epilogue (bias, activation) in f32.
 * Layers stay f32 between each other: the next quantized layer quantizes
 * its f32 input again (requantization with the rounding above), so ReLU,
 * pooling and every layer that is not quantized run in f32 unchanged.
 *
 * The dot products have an AVX-512 VNNI branch (vpdpbusd on q_x + 128 as
 * unsigned bytes, less 128 times the weights' row sum), an AVX2 branch
 * (bytes widened to 16 bits, vpmaddwd) and a portable one (the #else, also
 * taken with -DNNC_NO_VECTOR_EXT), chosen by the ISA macros the generated
 * file is compiled with. All are exact integer sums: the branches give the
 * same bits (tests/e2e/quant.sh).
 */
#include "kernels.h"

#include <math.h>

typedef long long ll;

/* The widths of a product: rows M (examples or pixels), K per output, N
 * outputs (padded to NP, a multiple of 4, with zero rows). */
typedef struct qdims {
    ll M, K, N, NP;
} qdims;

/* q = v / s rounded half away from zero, clamped to [-127, 127]. */
static int q8(double v, double s) {
    double t = v / s;
    t = t < 127 ? t : 127;
    t = t > -127 ? t : -127;
    return (int)(t < 0 ? -floor(-t + 0.5) : floor(t + 0.5));
}

static const char *const helpers_quant =
    "\n/* int8 (--quantize int8): q[i] = x[i] * inv rounded half away from zero, in [-127, 127] */\n"
    "static void nnc_quant8(const float *restrict x, long n, float inv, int8_t *restrict q) {\n"
    "    for (long i = 0; i < n; i++) {\n"
    "        float t = x[i] * inv;\n"
    "        t = t < 127.0f ? t : 127.0f;\n"
    "        t = t > -127.0f ? t : -127.0f;\n"
    "        const int32_t k = (int32_t)t;\n"
    "        const float f = t - (float)k;\n"
    "        q[i] = (int8_t)(k + (f >= 0.5f) - (f <= -0.5f));\n"
    "    }\n"
    "}\n";

static const char *const helpers_vnni =
    "#if defined(__GNUC__) && !defined(NNC_NO_VECTOR_EXT) && defined(__AVX512VNNI__) && defined(__AVX512BW__)\n"
    "#include <immintrin.h>\n"
    "/* acc[r] = sum over k < K of a[k] w[r K + k], r < 4: vpdpbusd on a + 128 (unsigned), less 128 wsum[r] */\n"
    "static void nnc_dot8x4(const int8_t *restrict a, const int8_t *restrict w, long K, const int32_t *restrict wsum,\n"
    "                       int32_t *restrict acc) {\n"
    "    __m512i s[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),\n"
    "                    _mm512_setzero_si512()};\n"
    "    const __m512i off = _mm512_set1_epi8((char)0x80);\n"
    "    for (long k = 0; k < K; k += 64) {\n"
    "        const __mmask64 mk = K - k >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (K - k)) - 1);\n"
    "        const __m512i u = _mm512_xor_si512(_mm512_maskz_loadu_epi8(mk, a + k), off);\n"
    "        for (int r = 0; r < 4; r++)\n"
    "            s[r] = _mm512_dpbusd_epi32(s[r], u, _mm512_maskz_loadu_epi8(mk, w + r * K + k));\n"
    "    }\n"
    "    for (int r = 0; r < 4; r++) acc[r] = _mm512_reduce_add_epi32(s[r]) - 128 * wsum[r];\n"
    "}\n";

static const char *const helpers_avx2 =
    "#elif defined(__GNUC__) && !defined(NNC_NO_VECTOR_EXT) && defined(__AVX2__)\n"
    "#include <immintrin.h>\n"
    "static int32_t nnc_hsum8(__m256i v) {\n"
    "    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));\n"
    "    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));\n"
    "    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));\n"
    "    return _mm_cvtsi128_si32(s);\n"
    "}\n"
    "/* acc[r] = sum over k < K of a[k] w[r K + k], r < 4: 16 bytes widened to 16 bits, vpmaddwd */\n"
    "static void nnc_dot8x4(const int8_t *restrict a, const int8_t *restrict w, long K, const int32_t *restrict wsum,\n"
    "                       int32_t *restrict acc) {\n"
    "    __m256i s[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),\n"
    "                    _mm256_setzero_si256()};\n"
    "    long k = 0;\n"
    "    (void)wsum;\n"
    "    for (; k + 16 <= K; k += 16) {\n"
    "        const __m256i u = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(a + k)));\n"
    "        for (int r = 0; r < 4; r++) {\n"
    "            const __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(w + r * K + k));\n"
    "            s[r] = _mm256_add_epi32(s[r], _mm256_madd_epi16(u, _mm256_cvtepi8_epi16(b)));\n"
    "        }\n"
    "    }\n"
    "    for (int r = 0; r < 4; r++) {\n"
    "        int32_t t = nnc_hsum8(s[r]);\n"
    "        for (long j = k; j < K; j++) t += (int32_t)a[j] * w[r * K + j];\n"
    "        acc[r] = t;\n"
    "    }\n"
    "}\n";

static const char *const helpers_portable =
    "#else\n"
    "/* acc[r] = sum over k < K of a[k] w[r K + k], r < 4 */\n"
    "static void nnc_dot8x4(const int8_t *restrict a, const int8_t *restrict w, long K, const int32_t *restrict wsum,\n"
    "                       int32_t *restrict acc) {\n"
    "    (void)wsum;\n"
    "    for (int r = 0; r < 4; r++) {\n"
    "        int32_t t = 0;\n"
    "        for (long k = 0; k < K; k++) t += (int32_t)a[k] * w[r * K + k];\n"
    "        acc[r] = t;\n"
    "    }\n"
    "}\n"
    "#endif\n";

static const char *const helpers_gemv =
    "\n/* y[j ys] = (sum over k < K of a[k] w[j K + k]) * scale[j] for j < N; w has NP >= N rows (a multiple of 4) */\n"
    "static void nnc_qgemv(const int8_t *restrict a, const int8_t *restrict w, const int32_t *restrict wsum,\n"
    "                      const float *restrict scale, long K, long N, long NP, float *restrict y, long ys) {\n"
    "    int32_t acc[4];\n"
    "    for (long j = 0; j < NP; j += 4) {\n"
    "        nnc_dot8x4(a, w + j * K, K, wsum + j, acc);\n"
    "        for (long r = 0; r < 4 && j + r < N; r++) y[(j + r) * ys] = (float)acc[r] * scale[j + r];\n"
    "    }\n"
    "}\n";

void cgq_helpers(cg_ctx *cx) {
    sb_puts(cx->c, helpers_quant);
    sb_puts(cx->c, helpers_vnni);
    sb_puts(cx->c, helpers_avx2);
    sb_puts(cx->c, helpers_portable);
    sb_puts(cx->c, helpers_gemv);
}

void cgq_absmax_fn(cg_ctx *cx) {
    sb_puts(cx->c, "\n/* the largest of m and |x[i]| (NaN ignored): the calibration of --quantize int8 */\n"
                   "static float nnc_absmax(const float *x, long n, float m) {\n"
                   "    for (long i = 0; i < n; i++) {\n"
                   "        const float a = x[i] < 0 ? -x[i] : x[i];\n"
                   "        m = a > m ? a : m;\n"
                   "    }\n"
                   "    return m;\n"
                   "}\n");
}

static qdims dims_of(cg_ctx *cx, const ir_node *n) {
    const ir_node *x = cg_in(cx, n, 0), *w = cg_in(cx, n, 1);
    qdims d = {0, ir_numel(&w->shape) / w->shape.d[0], w->shape.d[0], (w->shape.d[0] + 3) / 4 * 4};
    d.M = n->op == IR_CONV2D ? x->shape.d[0] : ir_numel(&x->shape) / d.K;
    return d;
}

/* The input's scale s_x from the calibrated largest magnitude. */
static double input_scale(cg_ctx *cx, const ir_node *n) {
    double a = cx->o->quant_absmax[n->in[1]];
    return a > 1e-30 ? a / 127 : 1;
}

/* v rounded to float, as a C float literal that reads back to it. */
static void print_float(strbuf *b, double v) {
    char t[40];
    snprintf(t, sizeof t, "%.9g", (double)(float)v);
    sb_printf(b, "%s%sf", t, strpbrk(t, ".e") ? "" : ".0");
}

/* The weights of n quantized per output row: PREFIX_wq (int8, NP rows),
 * PREFIX_wsum (their row sums) and PREFIX_scale (s_x s_w per row). */
static void quant_weights(cg_ctx *cx, const ir_node *n, const qdims *d, const char *name) {
    const double *w = cx->o->weights + cx->p->mem[ENTRY_FORWARD].offset[n->in[1]];
    double sx = input_scale(cx, n), *sw = arena_alloc(cx->g->a, sizeof *sw * (size_t)d->NP);
    int32_t *sum = arena_alloc(cx->g->a, sizeof *sum * (size_t)d->NP);
    strbuf *c = cx->c;
    sb_printf(c, "\n/* %s: int8 weights [%lld, %lld] (scales per row; %lld zero rows at the end) */\n", name, d->NP,
              d->K, d->NP - d->N);
    sb_printf(c, "static const int8_t %s_wq[%lld] = {", name, d->NP * d->K);
    for (ll j = 0; j < d->NP; j++) {
        double mx = 0;
        for (ll k = 0; j < d->N && k < d->K; k++) mx = fmax(mx, fabs(w[j * d->K + k]));
        sw[j] = mx > 0 ? mx / 127 : 1, sum[j] = 0;
        for (ll k = 0; k < d->K; k++) {
            int q = j < d->N ? q8(w[j * d->K + k], sw[j]) : 0;
            sum[j] += q;
            sb_printf(c, "%s%d", !(j | k) ? "\n    " : (j * d->K + k) % 16 ? ", " : ",\n    ", q);
        }
    }
    sb_printf(c, "\n};\nstatic const int32_t %s_wsum[%lld] = {", name, d->NP);
    for (ll j = 0; j < d->NP; j++) sb_printf(c, "%s%d", j ? ", " : "", (int)sum[j]);
    sb_printf(c, "};\nstatic const float %s_scale[%lld] = {", name, d->NP);
    for (ll j = 0; j < d->NP; j++) sb_puts(c, j ? ", " : ""), print_float(c, sx * sw[j]);
    sb_puts(c, "};\n");
}

/* The start of the kernel: the head, the unread f32 weights (and GEMM
 * workspace), the int8 buffers. */
static void quant_head(cg_ctx *cx, const ir_node *n, ll qlen, ll collen) {
    cgk_head(cx, n);
    sb_printf(cx->c, "    int8_t q[%lld]%s;\n    (void)x1;\n", qlen,
              collen ? arena_printf(cx->g->a, ", col[%lld]", collen) : "");
    if (cgk_gemm_ws(cx, n)) sb_puts(cx->c, "    (void)ws;\n");
}

/* matmul_ep's program on row r of the product, y[r N + j] for j < N; its
 * inputs broadcast by suffix as in its f32 kernel (k_fused.c). */
static void quant_epilogue(cg_ctx *cx, const ir_node *n, const qdims *d) {
    const char *opnd[IR_MAX_IN] = {0};
    for (int k = 2; k < n->nin; k++) {
        ll nk = cg_numel(cg_in(cx, n, k));
        opnd[k] = nk == 1           ? arena_printf(cx->g->a, "x%d[0]", k)
                  : nk == d->N      ? arena_printf(cx->g->a, "x%d[j]", k)
                  : nk == cg_numel(n) ? arena_printf(cx->g->a, "x%d[r * %lld + j]", k, d->N)
                                      : arena_printf(cx->g->a, "x%d[(r %% %lld) * %lld + j]", k, nk / d->N, d->N);
    }
    sb_printf(cx->c, "        for (long j = 0; j < %lld; j++) {\n", d->N);
    cg_fused_steps(cx, n, opnd, arena_printf(cx->g->a, "y[r * %lld + j]", d->N), "            ", cgk_tanh_fn(cx));
    sb_printf(cx->c, "            y[r * %lld + j] = t%d;\n        }\n", d->N, n->prog->nstep - 1);
}

/* x0 [M, K] times W^T: one example's row quantized, the int8 products,
 * then the epilogue (matmul_ep) on the row. */
static void quant_dense(cg_ctx *cx, const ir_node *n, const qdims *d, const char *name) {
    strbuf *c = cx->c;
    quant_head(cx, n, d->K, 0);
    sb_printf(c, "    for (long r = 0; r < %lld; r++) {\n", d->M);
    sb_printf(c, "        nnc_quant8(x0 + r * %lld, %lld, ", d->K, d->K);
    print_float(c, 1 / input_scale(cx, n));
    sb_printf(c, ", q);\n        nnc_qgemv(q, %s_wq, %s_wsum, %s_scale, %lld, %lld, %lld, y + r * %lld, 1);\n", name,
              name, name, d->K, d->N, d->NP, d->N);
    if (n->op == IR_MATMUL_EP) quant_epilogue(cx, n, d);
    sb_puts(c, "    }\n");
    cgk_tail(cx);
}

/* One output pixel's receptive field (channel, kh, kw order, as the
 * weights' rows) gathered from the quantized example q into col; 0 where
 * the padding is (the zero point). */
static void conv_gather(cg_ctx *cx, const ir_node *n) {
    const ir_node *x = cg_in(cx, n, 0), *w = cg_in(cx, n, 1);
    ll C = x->shape.d[1], H = x->shape.d[2], W = x->shape.d[3], KH = w->shape.d[2], KW = w->shape.d[3];
    ll S = n->iattr[0], P = n->iattr[1], D = n->iattr[2];
    strbuf *c = cx->c;
    sb_printf(c, "            long k = 0;\n            for (long c = 0; c < %lld; c++)\n", C);
    sb_printf(c, "                for (long kh = 0; kh < %lld; kh++) {\n", KH);
    sb_printf(c, "                    const long ih = oh * %lld - %lld + kh * %lld;\n", S, P, D);
    sb_printf(c, "                    for (long kw = 0; kw < %lld; kw++, k++) {\n", KW);
    sb_printf(c, "                        const long iw = ow * %lld - %lld + kw * %lld;\n", S, P, D);
    sb_printf(c, "                        col[k] = ih >= 0 && ih < %lld && iw >= 0 && iw < %lld ? "
                 "q[(c * %lld + ih) * %lld + iw] : 0;\n", H, W, H, W);
    sb_puts(c, "                    }\n                }\n");
}

/* conv2d: per example, the input quantized, then per output pixel its
 * gathered field times every output channel's weights. */
static void quant_conv(cg_ctx *cx, const ir_node *n, const qdims *d, const char *name) {
    const ir_node *x = cg_in(cx, n, 0);
    ll CHW = ir_numel(&x->shape) / x->shape.d[0], OH = n->shape.d[2], OW = n->shape.d[3];
    strbuf *c = cx->c;
    quant_head(cx, n, CHW, d->K);
    sb_printf(c, "    for (long b = 0; b < %lld; b++) {\n        nnc_quant8(x0 + b * %lld, %lld, ", d->M, CHW, CHW);
    print_float(c, 1 / input_scale(cx, n));
    sb_printf(c, ", q);\n        for (long oh = 0; oh < %lld; oh++)\n", OH);
    sb_printf(c, "            for (long ow = 0; ow < %lld; ow++) {\n", OW);
    conv_gather(cx, n);
    sb_printf(c, "            nnc_qgemv(col, %s_wq, %s_wsum, %s_scale, %lld, %lld, %lld, ", name, name, name, d->K,
              d->N, d->NP);
    sb_printf(c, "y + b * %lld + oh * %lld + ow, %lld);\n            }\n    }\n", d->N * OH * OW, OW, OH * OW);
    cgk_tail(cx);
}

void cgq_kernel(cg_ctx *cx, const ir_node *n) {
    qdims d = dims_of(cx, n);
    const char *name = cg_kernel_name(cx, n);
    quant_weights(cx, n, &d, name);
    if (n->op == IR_CONV2D) quant_conv(cx, n, &d, name);
    else quant_dense(cx, n, &d, name);
}

/* ---- calibration: --main --quantize int8 -------------------------------- */

/* The weights of the int8 layers of the forward pass in schedule order,
 * each once (the slots of m->calib), into ids; their number. */
static int calib_ids(cg_ctx *cx, int *ids) {
    const ir_sched *s = &cx->p->sched[ENTRY_FORWARD];
    int n = 0;
    for (int t = 0; t < s->order.len; t++) {
        const ir_node *k = cx->g->nodes.data[s->order.data[t]];
        int seen = 0;
        if (!cg_quant_layer(cx->g, k)) continue;
        for (int i = 0; i < n; i++) seen |= ids[i] == k->in[1];
        if (!seen) ids[n++] = k->in[1];
    }
    return n;
}

static int *calib_list(cg_ctx *cx, int *n) {
    int *ids = arena_alloc(cx->g->a, sizeof *ids * (size_t)(cx->g->nodes.len + 1));
    *n = calib_ids(cx, ids);
    return ids;
}

void cgq_calib_field(cg_ctx *cx) {
    int n;
    calib_list(cx, &n);
    sb_printf(cx->c, "    float calib[%d];   /* the largest |input| of each int8 layer seen (--quantize int8) */\n",
              n);
}

void cgq_probe(cg_ctx *cx, const ir_node *n, const char *x) {
    int count, *ids = calib_list(cx, &count), slot = 0;
    while (ids[slot] != n->in[1]) slot++;
    sb_printf(cx->c, "    m->calib[%d] = nnc_absmax(%s, %lld, m->calib[%d]);\n", slot, x, cg_numel(cg_in(cx, n, 0)),
              slot);
}

void cgq_save_calib_proto(cg_ctx *cx, strbuf *h) {
    const char *P = cx->o->prefix;
    sb_printf(h, "/* --quantize int8: the largest |input| each int8 layer's forward saw since _init, as\n"
                 " * safetensors \"WEIGHT.input_absmax\" (f32 [1]): nnc --calibrate reads it */\n"
                 "int %s_save_calib(const %s *m, const char *path);\n", P, P);
}

void cgq_save_calib(cg_ctx *cx) {
    const char *P = cx->o->prefix;
    strbuf *c = cx->c;
    int n, *ids = calib_list(cx, &n);
    sb_printf(c, "\nstatic const nnrt_tensor_info %s_calib_table[%d] = {\n", P, n);
    for (int i = 0; i < n; i++)
        sb_printf(c, "    {\"%s.input_absmax\", NNRT_F32, 1, {1}, %d, 1},\n", cx->g->nodes.data[ids[i]]->name, i);
    sb_printf(c, "};\n\nint %s_save_calib(const %s *m, const char *path) {\n    nnrt_err err;\n", P, P);
    sb_printf(c, "    static const char *const meta[] = {\"nnc.calibration\", \"%s\", NULL};\n", cx->g->name);
    sb_puts(c, "    if (!m || !path) return NNRT_ERR_ARG;\n");
    sb_printf(c, "    int st = nnrt_st_save_meta(path, %s_calib_table, %d, m->calib, meta, &err);\n", P, n);
    sb_printf(c, "    if (st != NNRT_OK) ((%s *)m)->error = err;\n    return st;\n}\n", P);
}
