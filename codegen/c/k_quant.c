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
 * The weights are packed in blocks of 16 outputs by 4 inputs (nnc_dot8),
 * so that one input quad times 16 outputs' quads is one instruction; the
 * dot products have an AVX-512 VNNI branch (vpdpbusd on q_x + 128 as
 * unsigned bytes, less 128 times the weights' row sum), an AVX2 branch
 * (vpsignb moves the sign of one factor to the other, vpmaddubsw multiplies
 * |a| by b: pairs of at most 2 * 127 * 127, no saturation; vpmaddwd sums
 * the pairs; where the activations hold no negative byte, as after a ReLU
 * or of an image, vpmaddubsw takes them as they are, without vpsignb:
 * nnc_dot8u per row, nnc_cdot8u per column block that nnc_col8 found so)
 * and a portable one (the #else, also taken with
 * -DNNC_NO_VECTOR_EXT), chosen by the ISA macros the generated file is
 * compiled with. All are exact integer sums: the branches give the same
 * bits (tests/e2e/quant.sh).
 *
 * A conv2d of stride 1 (quant_conv_wide) runs on "wide" pixels: output
 * (oh, ow) is p = oh Wp + ow over the padded plane's row length Wp, so input
 * k of every pixel sits at a fixed offset o(k) from p in the quantized
 * plane; nnc_col8 interleaves 4 such rows into quads, nnc_cdot8 multiplies
 * 64 pixels by 4 output channels (pixels along the vector lanes) and writes
 * f32, wide_store keeps the OW of each Wp (one memcpy of constant size per
 * whole row). Other convolutions gather each
 * pixel's field (quant_conv) for nnc_qgemm as the dense layers do.
 */
#include "kernels.h"

#include <math.h>

typedef long long ll;

/* The widths of a product: rows M (examples or pixels), K per output
 * (padded to KP, a multiple of 4, with zeros), N outputs (padded to NP, a
 * multiple of 16, with zero rows). */
typedef struct qdims {
    ll M, K, N, KP, NP;
} qdims;

/* q = v / s rounded half away from zero, clamped to [-127, 127]. */
static int q8(double v, double s) {
    double t = v / s;
    t = t < 127 ? t : 127;
    t = t > -127 ? t : -127;
    return (int)(t < 0 ? -floor(-t + 0.5) : floor(t + 0.5));
}

static const char *const helpers_quant =
    "\n/* int8 (--quantize int8): x * inv rounded half away from zero, in [-127, 127] (NaN: 127); the\n"
    " * AVX-512 and AVX2 nnc_quant8 below take the same steps on 16 and 8 lanes */\n"
    "#if !(defined(__GNUC__) && !defined(NNC_NO_VECTOR_EXT) && \\\n"
    "      (defined(__AVX512VNNI__) && defined(__AVX512BW__) || defined(__AVX2__)))\n"
    "static inline int8_t nnc_q8(float x, float inv) {\n"
    "    float t = x * inv;\n"
    "    t = t < 127.0f ? t : 127.0f;\n"
    "    t = t > -127.0f ? t : -127.0f;\n"
    "    const float k = (float)(int32_t)t, f = t - k;\n"
    "    return (int8_t)(int32_t)(k + (f >= 0.5f ? 1.0f : 0.0f) - (f <= -0.5f ? 1.0f : 0.0f));\n"
    "}\n"
    "#endif\n"
    "/* The int8 weights are packed in blocks of 16 outputs: w[((c / 16) KP + k) 16 + (c % 16) 4 + k % 4]\n"
    " * holds output c's weight k (k < KP, a multiple of 4). nnc_dot8: acc[32 i + 16 b + j] = the sum\n"
    " * over k of a[i KP + k] w(16 b + j, k), for nr <= 4 rows of a and the nb <= 2 blocks at w, in\n"
    " * int32 (exact). */\n";

static const char *const helpers_vnni =
    "#if defined(__GNUC__) && !defined(NNC_NO_VECTOR_EXT) && defined(__AVX512VNNI__) && defined(__AVX512BW__)\n"
    "#include <immintrin.h>\n"
    "/* q[i] = nnc_q8(x[i], inv) on 16 lanes (min_ps gives 127 for NaN as nnc_q8 does) */\n"
    "static void nnc_quant8(const float *restrict x, long n, float inv, int8_t *restrict q) {\n"
    "    const __m512 vi = _mm512_set1_ps(inv), hi = _mm512_set1_ps(127.0f), lo = _mm512_set1_ps(-127.0f);\n"
    "    const __m512 one = _mm512_set1_ps(1.0f), half = _mm512_set1_ps(0.5f), mhalf = _mm512_set1_ps(-0.5f);\n"
    "    for (long i = 0; i < n; i += 16) {\n"
    "        const __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);\n"
    "        const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), vi);\n"
    "        const __m512 t = _mm512_max_ps(_mm512_min_ps(v, hi), lo);\n"
    "        __m512 k = _mm512_roundscale_ps(t, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);\n"
    "        const __m512 f = _mm512_sub_ps(t, k);\n"
    "        k = _mm512_mask_add_ps(k, _mm512_cmp_ps_mask(f, half, _CMP_GE_OQ), k, one);\n"
    "        k = _mm512_mask_sub_ps(k, _mm512_cmp_ps_mask(f, mhalf, _CMP_LE_OQ), k, one);\n"
    "        _mm512_mask_cvtsepi32_storeu_epi8((void *)(q + i), m, _mm512_cvttps_epi32(k));\n"
    "    }\n"
    "}\n"
    "/* a[0..4) + 128 as unsigned bytes in every 32-bit lane */\n"
    "static inline __m512i nnc_u8x4(const int8_t *a) {\n"
    "    int32_t q;\n"
    "    memcpy(&q, a, 4);\n"
    "    return _mm512_xor_si512(_mm512_set1_epi32(q), _mm512_set1_epi8((char)0x80));\n"
    "}\n"
    "/* vpdpbusd on a + 128 (unsigned bytes), less 128 times the weights' sums; 4 rows by 2 blocks at once */\n"
    "static void nnc_dot8(const int8_t *restrict a, long nr, const int8_t *restrict w, const int32_t *restrict wsum,\n"
    "                     long KP, long nb, int32_t *restrict acc) {\n"
    "    if (nr == 4) {\n"
    "        __m512i s00 = _mm512_setzero_si512(), s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00;\n"
    "        __m512i s30 = s00, s31 = s00;\n"
    "        for (long k = 0; k < KP; k += 4) {\n"
    "            const __m512i w0 = _mm512_loadu_si512((const void *)(w + k * 16));\n"
    "            const __m512i u0 = nnc_u8x4(a + k), u1 = nnc_u8x4(a + KP + k);\n"
    "            const __m512i u2 = nnc_u8x4(a + 2 * KP + k), u3 = nnc_u8x4(a + 3 * KP + k);\n"
    "            s00 = _mm512_dpbusd_epi32(s00, u0, w0), s10 = _mm512_dpbusd_epi32(s10, u1, w0);\n"
    "            s20 = _mm512_dpbusd_epi32(s20, u2, w0), s30 = _mm512_dpbusd_epi32(s30, u3, w0);\n"
    "            if (nb > 1) {\n"
    "                const __m512i w1 = _mm512_loadu_si512((const void *)(w + (KP + k) * 16));\n"
    "                s01 = _mm512_dpbusd_epi32(s01, u0, w1), s11 = _mm512_dpbusd_epi32(s11, u1, w1);\n"
    "                s21 = _mm512_dpbusd_epi32(s21, u2, w1), s31 = _mm512_dpbusd_epi32(s31, u3, w1);\n"
    "            }\n"
    "        }\n"
    "        _mm512_storeu_si512((void *)acc, s00), _mm512_storeu_si512((void *)(acc + 16), s01);\n"
    "        _mm512_storeu_si512((void *)(acc + 32), s10), _mm512_storeu_si512((void *)(acc + 48), s11);\n"
    "        _mm512_storeu_si512((void *)(acc + 64), s20), _mm512_storeu_si512((void *)(acc + 80), s21);\n"
    "        _mm512_storeu_si512((void *)(acc + 96), s30), _mm512_storeu_si512((void *)(acc + 112), s31);\n"
    "    } else {\n"
    "        for (long i = 0; i < nr; i++) { /* even and odd quads apart: 4 chains of sums for 1 row */\n"
    "            __m512i t0 = _mm512_setzero_si512(), t1 = t0, t2 = t0, t3 = t0;\n"
    "            const int8_t *ai = a + i * KP;\n"
    "            long k = 0;\n"
    "            for (; k + 8 <= KP; k += 8) {\n"
    "                const __m512i u = nnc_u8x4(ai + k), v = nnc_u8x4(ai + k + 4);\n"
    "                const int8_t *w0 = w + k * 16;\n"
    "                t0 = _mm512_dpbusd_epi32(t0, u, _mm512_loadu_si512((const void *)w0));\n"
    "                t1 = _mm512_dpbusd_epi32(t1, v, _mm512_loadu_si512((const void *)(w0 + 64)));\n"
    "                if (nb > 1) {\n"
    "                    const int8_t *w1 = w + (KP + k) * 16;\n"
    "                    t2 = _mm512_dpbusd_epi32(t2, u, _mm512_loadu_si512((const void *)w1));\n"
    "                    t3 = _mm512_dpbusd_epi32(t3, v, _mm512_loadu_si512((const void *)(w1 + 64)));\n"
    "                }\n"
    "            }\n"
    "            if (k < KP) {\n"
    "                const __m512i u = nnc_u8x4(ai + k);\n"
    "                t0 = _mm512_dpbusd_epi32(t0, u, _mm512_loadu_si512((const void *)(w + k * 16)));\n"
    "                if (nb > 1)\n"
    "                    t2 = _mm512_dpbusd_epi32(t2, u, _mm512_loadu_si512((const void *)(w + (KP + k) * 16)));\n"
    "            }\n"
    "            _mm512_storeu_si512((void *)(acc + 32 * i), _mm512_add_epi32(t0, t1));\n"
    "            _mm512_storeu_si512((void *)(acc + 32 * i + 16), _mm512_add_epi32(t2, t3));\n"
    "        }\n"
    "    }\n"
    "    for (long i = 0; i < nr; i++)\n"
    "        for (long j = 0; j < 16 * nb; j++) acc[32 * i + j] -= 128 * wsum[j];\n"
    "}\n";

static const char *const helpers_avx2 =
    "#elif defined(__GNUC__) && !defined(NNC_NO_VECTOR_EXT) && defined(__AVX2__)\n"
    "#include <immintrin.h>\n"
    "/* q[i] = nnc_q8(x[i], inv): the same steps on 8 lanes (min_ps gives 127 for NaN as nnc_q8 does) */\n"
    "static inline void nnc_quant8x8(const float *restrict x, float inv, int8_t *restrict q) {\n"
    "    const __m256 vi = _mm256_set1_ps(inv), hi = _mm256_set1_ps(127.0f), lo = _mm256_set1_ps(-127.0f);\n"
    "    const __m256 one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f), mhalf = _mm256_set1_ps(-0.5f);\n"
    "    const __m256 t = _mm256_max_ps(_mm256_min_ps(_mm256_mul_ps(_mm256_loadu_ps(x), vi), hi), lo);\n"
    "    __m256 k = _mm256_round_ps(t, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);\n"
    "    const __m256 f = _mm256_sub_ps(t, k);\n"
    "    k = _mm256_add_ps(k, _mm256_and_ps(_mm256_cmp_ps(f, half, _CMP_GE_OQ), one));\n"
    "    k = _mm256_sub_ps(k, _mm256_and_ps(_mm256_cmp_ps(f, mhalf, _CMP_LE_OQ), one));\n"
    "    const __m256i v = _mm256_cvttps_epi32(k);\n"
    "    const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));\n"
    "    _mm_storel_epi64((__m128i *)(void *)q, _mm_packs_epi16(w, w));\n"
    "}\n"
    "static void nnc_quant8(const float *restrict x, long n, float inv, int8_t *restrict q) {\n"
    "    long i = 0;\n"
    "    for (; i + 8 <= n; i += 8) nnc_quant8x8(x + i, inv, q + i);\n"
    "    if (i < n && n >= 8) /* the last 8 again (the same bytes where they overlap) */\n"
    "        nnc_quant8x8(x + n - 8, inv, q + n - 8);\n"
    "    else if (i < n) { /* fewer than 8 in all: through a buffer of 8 */\n"
    "        float t[8] = {0};\n"
    "        int8_t r[8];\n"
    "        memcpy(t, x + i, sizeof(float) * (size_t)(n - i));\n"
    "        nnc_quant8x8(t, inv, r);\n"
    "        memcpy(q + i, r, (size_t)(n - i));\n"
    "    }\n"
    "}\n"
    "/* s + the 8 lanes' sums of x times the broadcast quad v, a = |v|: |v| times x with v's sign (vpsignb;\n"
    " * products of at most 127 by 127, so vpmaddubsw's 16-bit pair sums do not saturate), pairs by vpmaddwd */\n"
    "static inline __m256i nnc_dp8(__m256i s, __m256i x, __m256i v, __m256i a) {\n"
    "    const __m256i p = _mm256_maddubs_epi16(a, _mm256_sign_epi8(x, v));\n"
    "    return _mm256_add_epi32(s, _mm256_madd_epi16(p, _mm256_set1_epi16(1)));\n"
    "}\n"
    "/* s + the 8 lanes' sums of x (bytes in 0..127) times v (bytes): vpmaddubsw's pairs are at\n"
    " * most 2 * 127 * 127 (no saturation), vpmaddwd sums them */\n"
    "static inline __m256i nnc_dpu8(__m256i s, __m256i x, __m256i v) {\n"
    "    return _mm256_add_epi32(s, _mm256_madd_epi16(_mm256_maddubs_epi16(x, v), _mm256_set1_epi16(1)));\n"
    "}\n"
    "/* 1 when no a[k] (k < n, a multiple of 4) is negative */\n"
    "static inline int nnc_nonneg8(const int8_t *a, long n) {\n"
    "    __m256i any = _mm256_setzero_si256();\n"
    "    uint32_t t = 0;\n"
    "    long k = 0;\n"
    "    for (; k + 32 <= n; k += 32)\n"
    "        any = _mm256_or_si256(any, _mm256_loadu_si256((const __m256i *)(const void *)(a + k)));\n"
    "    for (; k < n; k += 4) {\n"
    "        uint32_t q;\n"
    "        memcpy(&q, a + k, 4);\n"
    "        t |= q;\n"
    "    }\n"
    "    return !_mm256_movemask_epi8(any) && !(t & 0x80808080u);\n"
    "}\n"
    "/* nnc_dot8 on row a (KP bytes, none negative): its quads times the weights' quads as they are */\n"
    "static void nnc_dot8u(const int8_t *restrict a, const int8_t *restrict w, long KP, long nb,\n"
    "                      int32_t *restrict acc) {\n"
    "    __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;\n"
    "    for (long k = 0; k < KP; k += 4) {\n"
    "        int32_t q;\n"
    "        memcpy(&q, a + k, 4);\n"
    "        const __m256i u = _mm256_set1_epi32(q);\n"
    "        const int8_t *w0 = w + k * 16, *w1 = w0 + KP * 16;\n"
    "        s0 = nnc_dpu8(s0, u, _mm256_loadu_si256((const __m256i *)(const void *)w0));\n"
    "        s1 = nnc_dpu8(s1, u, _mm256_loadu_si256((const __m256i *)(const void *)(w0 + 32)));\n"
    "        if (nb > 1) {\n"
    "            s2 = nnc_dpu8(s2, u, _mm256_loadu_si256((const __m256i *)(const void *)w1));\n"
    "            s3 = nnc_dpu8(s3, u, _mm256_loadu_si256((const __m256i *)(const void *)(w1 + 32)));\n"
    "        }\n"
    "    }\n"
    "    _mm256_storeu_si256((__m256i *)(void *)acc, s0);\n"
    "    _mm256_storeu_si256((__m256i *)(void *)(acc + 8), s1);\n"
    "    _mm256_storeu_si256((__m256i *)(void *)(acc + 16), s2);\n"
    "    _mm256_storeu_si256((__m256i *)(void *)(acc + 24), s3);\n"
    "}\n"
    "/* a row's quad against 16 outputs' quads (nnc_dp8), both blocks at once; nnc_dot8u for a row of no\n"
    " * negative byte (after a ReLU) */\n"
    "static void nnc_dot8(const int8_t *restrict a, long nr, const int8_t *restrict w, const int32_t *restrict wsum,\n"
    "                     long KP, long nb, int32_t *restrict acc) {\n"
    "    (void)wsum;\n"
    "    for (long i = 0; i < nr; i++) {\n"
    "        if (nnc_nonneg8(a + i * KP, KP)) {\n"
    "            nnc_dot8u(a + i * KP, w, KP, nb, acc + 32 * i);\n"
    "            continue;\n"
    "        }\n"
    "        __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;\n"
    "        for (long k = 0; k < KP; k += 4) {\n"
    "            int32_t q;\n"
    "            memcpy(&q, a + i * KP + k, 4);\n"
    "            const __m256i u = _mm256_set1_epi32(q), au = _mm256_abs_epi8(u);\n"
    "            const int8_t *w0 = w + k * 16, *w1 = w0 + KP * 16;\n"
    "            s0 = nnc_dp8(s0, _mm256_loadu_si256((const __m256i *)(const void *)w0), u, au);\n"
    "            s1 = nnc_dp8(s1, _mm256_loadu_si256((const __m256i *)(const void *)(w0 + 32)), u, au);\n"
    "            if (nb > 1) {\n"
    "                s2 = nnc_dp8(s2, _mm256_loadu_si256((const __m256i *)(const void *)w1), u, au);\n"
    "                s3 = nnc_dp8(s3, _mm256_loadu_si256((const __m256i *)(const void *)(w1 + 32)), u, au);\n"
    "            }\n"
    "        }\n"
    "        _mm256_storeu_si256((__m256i *)(void *)(acc + 32 * i), s0);\n"
    "        _mm256_storeu_si256((__m256i *)(void *)(acc + 32 * i + 8), s1);\n"
    "        _mm256_storeu_si256((__m256i *)(void *)(acc + 32 * i + 16), s2);\n"
    "        _mm256_storeu_si256((__m256i *)(void *)(acc + 32 * i + 24), s3);\n"
    "    }\n"
    "}\n";

static const char *const helpers_portable =
    "#else\n"
    "static void nnc_quant8(const float *restrict x, long n, float inv, int8_t *restrict q) {\n"
    "    for (long i = 0; i < n; i++) q[i] = nnc_q8(x[i], inv);\n"
    "}\n"
    "static void nnc_dot8(const int8_t *restrict a, long nr, const int8_t *restrict w, const int32_t *restrict wsum,\n"
    "                     long KP, long nb, int32_t *restrict acc) {\n"
    "    (void)wsum;\n"
    "    for (long i = 0; i < nr; i++)\n"
    "        for (long b = 0; b < nb; b++)\n"
    "            for (long j = 0; j < 16; j++) {\n"
    "                int32_t t = 0;\n"
    "                for (long k = 0; k < KP; k++)\n"
    "                    t += (int32_t)a[i * KP + k] * w[(b * KP + k / 4 * 4) * 16 + 4 * j + k % 4];\n"
    "                acc[32 * i + 16 * b + j] = t;\n"
    "            }\n"
    "}\n";

static const char *const helpers_gemv =
    "\n/* y[r yr + c yc] = (sum over k < KP of a[r KP + k] w(c, k)) * scale[c] for r < M, c < N (w packed as\n"
    " * above): 32 outputs at a time, whose weights stay in the cache while every row goes by */\n"
    "static void nnc_qgemm(const int8_t *restrict a, long M, const int8_t *restrict w, const int32_t *restrict wsum,\n"
    "                      const float *restrict scale, long KP, long N, float *restrict y, long yr, long yc) {\n"
    "    int32_t acc[128];\n"
    "    for (long c0 = 0; c0 < N; c0 += 32) {\n"
    "        const long nb = N - c0 > 16 ? 2 : 1, nc = N - c0 < 32 ? N - c0 : 32;\n"
    "        for (long r0 = 0; r0 < M; r0 += 4) {\n"
    "            const long nr = M - r0 < 4 ? M - r0 : 4;\n"
    "            nnc_dot8(a + r0 * KP, nr, w + c0 * KP, wsum + c0, KP, nb, acc);\n"
    "            for (long i = 0; i < nr; i++) {\n"
    "                float *yi = y + (r0 + i) * yr + c0 * yc;\n"
    "                if (yc == 1)\n"
    "                    for (long c = 0; c < nc; c++) yi[c] = (float)acc[32 * i + c] * scale[c0 + c];\n"
    "                else\n"
    "                    for (long c = 0; c < nc; c++) yi[c * yc] = (float)acc[32 * i + c] * scale[c0 + c];\n"
    "            }\n"
    "        }\n"
    "    }\n"
    "}\n";

static const char *const conv_vnni =
    "/* convolutions: the input's bytes q + 128 (u8), less 128 times the weights' sums after */\n"
    "static const uint32_t nnc_col_flip = 0x80808080u;\n"
    "/* the broadcast quad of weights k..k+3 of channel j of the 16-block at wb */\n"
    "static inline __m512i nnc_wq4(const int8_t *wb, long k, int j) {\n"
    "    int32_t q;\n"
    "    memcpy(&q, wb + k * 16 + 4 * j, 4);\n"
    "    return _mm512_set1_epi32(q);\n"
    "}\n"
    "/* yw[i] = (s(i / 16) - 128 sum) * scale, i < 64 */\n"
    "static inline void nnc_cst4(float *yw, __m512i s0, __m512i s1, __m512i s2, __m512i s3, int32_t sum,\n"
    "                            float scale) {\n"
    "    const __m512i z = _mm512_set1_epi32(128 * sum);\n"
    "    const __m512 f = _mm512_set1_ps(scale);\n"
    "    _mm512_storeu_ps(yw, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(s0, z)), f));\n"
    "    _mm512_storeu_ps(yw + 16, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(s1, z)), f));\n"
    "    _mm512_storeu_ps(yw + 32, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(s2, z)), f));\n"
    "    _mm512_storeu_ps(yw + 48, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(s3, z)), f));\n"
    "}\n"
    "/* yw[j PC + i] = (sum over k < KP of col(k, i) w(c0 + j, k)) * scale[c0 + j], j < nc <= 4, i < 64 (those\n"
    " * past np, a multiple of 16, and j >= nc may be left out; pos: no column byte is negative, which the AVX2\n"
    " * branch uses): 16 sums in registers (channel a..d, pixels 16 i..16 i + 15) */\n"
    "static void nnc_cdot8(const uint32_t *restrict col, long PC, const int8_t *restrict w,\n"
    "                      const int32_t *restrict wsum, const float *restrict scale, long KP, long c0, long nc,\n"
    "                      long np, int pos, float *restrict yw) {\n"
    "    const int8_t *wb = w + c0 / 16 * KP * 16 + c0 % 16 * 4;\n"
    "    (void)nc, (void)np, (void)pos;\n"
    "    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;\n"
    "    __m512i c0s = a0, c1 = a0, c2 = a0, c3 = a0, d0 = a0, d1 = a0, d2 = a0, d3 = a0;\n"
    "    for (long k = 0; k < KP; k += 4) {\n"
    "        const uint32_t *ck = col + k / 4 * PC;\n"
    "        const __m512i x0 = _mm512_loadu_si512((const void *)ck);\n"
    "        const __m512i x1 = _mm512_loadu_si512((const void *)(ck + 16));\n"
    "        const __m512i x2 = _mm512_loadu_si512((const void *)(ck + 32));\n"
    "        const __m512i x3 = _mm512_loadu_si512((const void *)(ck + 48));\n"
    "        __m512i v = nnc_wq4(wb, k, 0);\n"
    "        a0 = _mm512_dpbusd_epi32(a0, x0, v), a1 = _mm512_dpbusd_epi32(a1, x1, v);\n"
    "        a2 = _mm512_dpbusd_epi32(a2, x2, v), a3 = _mm512_dpbusd_epi32(a3, x3, v);\n"
    "        v = nnc_wq4(wb, k, 1);\n"
    "        b0 = _mm512_dpbusd_epi32(b0, x0, v), b1 = _mm512_dpbusd_epi32(b1, x1, v);\n"
    "        b2 = _mm512_dpbusd_epi32(b2, x2, v), b3 = _mm512_dpbusd_epi32(b3, x3, v);\n"
    "        v = nnc_wq4(wb, k, 2);\n"
    "        c0s = _mm512_dpbusd_epi32(c0s, x0, v), c1 = _mm512_dpbusd_epi32(c1, x1, v);\n"
    "        c2 = _mm512_dpbusd_epi32(c2, x2, v), c3 = _mm512_dpbusd_epi32(c3, x3, v);\n"
    "        v = nnc_wq4(wb, k, 3);\n"
    "        d0 = _mm512_dpbusd_epi32(d0, x0, v), d1 = _mm512_dpbusd_epi32(d1, x1, v);\n"
    "        d2 = _mm512_dpbusd_epi32(d2, x2, v), d3 = _mm512_dpbusd_epi32(d3, x3, v);\n"
    "    }\n"
    "    nnc_cst4(yw, a0, a1, a2, a3, wsum[c0], scale[c0]);\n"
    "    nnc_cst4(yw + PC, b0, b1, b2, b3, wsum[c0 + 1], scale[c0 + 1]);\n"
    "    nnc_cst4(yw + 2 * PC, c0s, c1, c2, c3, wsum[c0 + 2], scale[c0 + 2]);\n"
    "    nnc_cst4(yw + 3 * PC, d0, d1, d2, d3, wsum[c0 + 3], scale[c0 + 3]);\n"
    "}\n";

static const char *const conv_avx2 =
    "/* convolutions: the input's bytes q as they are (s8) */\n"
    "/* the broadcast quad of weights k..k+3 of channel j of the 16-block at wb */\n"
    "static inline __m256i nnc_wq4(const int8_t *wb, long k, int j) {\n"
    "    int32_t q;\n"
    "    memcpy(&q, wb + k * 16 + 4 * j, 4);\n"
    "    return _mm256_set1_epi32(q);\n"
    "}\n"
    "static inline void nnc_cst2(float *yw, __m256i s0, __m256i s1, float scale) {\n"
    "    const __m256 f = _mm256_set1_ps(scale);\n"
    "    _mm256_storeu_ps(yw, _mm256_mul_ps(_mm256_cvtepi32_ps(s0), f));\n"
    "    _mm256_storeu_ps(yw + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(s1), f));\n"
    "}\n"
    "/* nnc_col8 as in the other branches (no flip; n a multiple of 32, as the kernels' n64 is), 32 pixels at\n"
    " * a time: 1 when no byte read is negative */\n"
    "static int nnc_col8(const int8_t *q, const long *o, long n, uint32_t *restrict col) {\n"
    "    const int8_t *a = q + o[0], *b = q + o[1], *c = q + o[2], *d = q + o[3];\n"
    "    __m256i any = _mm256_setzero_si256();\n"
    "    for (long i = 0; i < n; i += 32) {\n"
    "        const __m256i va = _mm256_loadu_si256((const __m256i *)(const void *)(a + i));\n"
    "        const __m256i vb = _mm256_loadu_si256((const __m256i *)(const void *)(b + i));\n"
    "        const __m256i vc = _mm256_loadu_si256((const __m256i *)(const void *)(c + i));\n"
    "        const __m256i vd = _mm256_loadu_si256((const __m256i *)(const void *)(d + i));\n"
    "        const __m256i ab0 = _mm256_unpacklo_epi8(va, vb), ab1 = _mm256_unpackhi_epi8(va, vb);\n"
    "        const __m256i cd0 = _mm256_unpacklo_epi8(vc, vd), cd1 = _mm256_unpackhi_epi8(vc, vd);\n"
    "        const __m256i r0 = _mm256_unpacklo_epi16(ab0, cd0), r1 = _mm256_unpackhi_epi16(ab0, cd0);\n"
    "        const __m256i r2 = _mm256_unpacklo_epi16(ab1, cd1), r3 = _mm256_unpackhi_epi16(ab1, cd1);\n"
    "        __m256i *ci = (__m256i *)(void *)(col + i); /* in-lane unpacks: pixels 0-3 16-19, 4-7 20-23, ... */\n"
    "        _mm256_storeu_si256(ci, _mm256_permute2x128_si256(r0, r1, 0x20));\n"
    "        _mm256_storeu_si256(ci + 1, _mm256_permute2x128_si256(r2, r3, 0x20));\n"
    "        _mm256_storeu_si256(ci + 2, _mm256_permute2x128_si256(r0, r1, 0x31));\n"
    "        _mm256_storeu_si256(ci + 3, _mm256_permute2x128_si256(r2, r3, 0x31));\n"
    "        any = _mm256_or_si256(any, _mm256_or_si256(_mm256_or_si256(va, vb), _mm256_or_si256(vc, vd)));\n"
    "    }\n"
    "    return !_mm256_movemask_epi8(any);\n"
    "}\n"
    "/* nnc_cdot8 where every column byte is in 0..127 (pos: nnc_col8 found no negative one): no vpsignb; 8\n"
    " * pixels at a time, 4 sums in registers */\n"
    "static void nnc_cdot8u(const uint32_t *restrict col, long PC, const int8_t *restrict wb,\n"
    "                       const float *restrict scale, long KP, long c0, long nc, long np, float *restrict yw) {\n"
    "    for (long h = 0; h < np; h += 8) {\n"
    "        __m256i s[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),\n"
    "                        _mm256_setzero_si256()};\n"
    "        const uint32_t *ck = col + h;\n"
    "        if (nc > 2)\n"
    "            for (long k = 0; k < KP; k += 4, ck += PC) {\n"
    "                const __m256i x = _mm256_loadu_si256((const __m256i *)(const void *)ck);\n"
    "                s[0] = nnc_dpu8(s[0], x, nnc_wq4(wb, k, 0)), s[1] = nnc_dpu8(s[1], x, nnc_wq4(wb, k, 1));\n"
    "                s[2] = nnc_dpu8(s[2], x, nnc_wq4(wb, k, 2)), s[3] = nnc_dpu8(s[3], x, nnc_wq4(wb, k, 3));\n"
    "            }\n"
    "        else /* channels c0 and c0 + 1 only */\n"
    "            for (long k = 0; k < KP; k += 4, ck += PC) {\n"
    "                const __m256i x = _mm256_loadu_si256((const __m256i *)(const void *)ck);\n"
    "                s[0] = nnc_dpu8(s[0], x, nnc_wq4(wb, k, 0)), s[1] = nnc_dpu8(s[1], x, nnc_wq4(wb, k, 1));\n"
    "            }\n"
    "        for (long j = 0; j < nc; j++)\n"
    "            _mm256_storeu_ps(yw + j * PC + h,\n"
    "                             _mm256_mul_ps(_mm256_cvtepi32_ps(s[j]), _mm256_set1_ps(scale[c0 + j])));\n"
    "    }\n"
    "}\n"
    "/* nnc_cdot8 as in the AVX-512 branch, 16 pixels at a time: 8 sums in registers */\n"
    "static void nnc_cdot8(const uint32_t *restrict col, long PC, const int8_t *restrict w,\n"
    "                      const int32_t *restrict wsum, const float *restrict scale, long KP, long c0, long nc,\n"
    "                      long np, int pos, float *restrict yw) {\n"
    "    const int8_t *wb = w + c0 / 16 * KP * 16 + c0 % 16 * 4;\n"
    "    (void)wsum;\n"
    "    if (pos) {\n"
    "        nnc_cdot8u(col, PC, wb, scale, KP, c0, nc, np, yw);\n"
    "        return;\n"
    "    }\n"
    "    for (long h = 0; h < np; h += 16) {\n"
    "        __m256i a0 = _mm256_setzero_si256(), a1 = a0, b0 = a0, b1 = a0, c0s = a0, c1 = a0, d0 = a0, d1 = a0;\n"
    "        for (long k = 0; k < KP; k += 4) {\n"
    "            const uint32_t *ck = col + k / 4 * PC + h;\n"
    "            const __m256i x0 = _mm256_loadu_si256((const __m256i *)(const void *)ck);\n"
    "            const __m256i x1 = _mm256_loadu_si256((const __m256i *)(const void *)(ck + 8));\n"
    "            __m256i v = nnc_wq4(wb, k, 0), a = _mm256_abs_epi8(v);\n"
    "            a0 = nnc_dp8(a0, x0, v, a), a1 = nnc_dp8(a1, x1, v, a);\n"
    "            v = nnc_wq4(wb, k, 1), a = _mm256_abs_epi8(v);\n"
    "            b0 = nnc_dp8(b0, x0, v, a), b1 = nnc_dp8(b1, x1, v, a);\n"
    "            v = nnc_wq4(wb, k, 2), a = _mm256_abs_epi8(v);\n"
    "            c0s = nnc_dp8(c0s, x0, v, a), c1 = nnc_dp8(c1, x1, v, a);\n"
    "            v = nnc_wq4(wb, k, 3), a = _mm256_abs_epi8(v);\n"
    "            d0 = nnc_dp8(d0, x0, v, a), d1 = nnc_dp8(d1, x1, v, a);\n"
    "        }\n"
    "        nnc_cst2(yw + h, a0, a1, scale[c0]);\n"
    "        nnc_cst2(yw + PC + h, b0, b1, scale[c0 + 1]);\n"
    "        nnc_cst2(yw + 2 * PC + h, c0s, c1, scale[c0 + 2]);\n"
    "        nnc_cst2(yw + 3 * PC + h, d0, d1, scale[c0 + 3]);\n"
    "    }\n"
    "}\n";

static const char *const conv_port =
    "/* convolutions: the input's bytes q as they are (s8) */\n"
    "static const uint32_t nnc_col_flip = 0;\n"
    "static void nnc_cdot8(const uint32_t *restrict col, long PC, const int8_t *restrict w,\n"
    "                      const int32_t *restrict wsum, const float *restrict scale, long KP, long c0, long nc,\n"
    "                      long np, int pos, float *restrict yw) {\n"
    "    (void)wsum, (void)pos;\n"
    "    for (long j = 0; j < nc; j++)\n"
    "        for (long i = 0; i < np; i++) {\n"
    "            int32_t t = 0;\n"
    "            for (long k = 0; k < KP; k++) {\n"
    "                int32_t v = (int32_t)(col[k / 4 * PC + i] >> 8 * (k % 4) & 0xFF);\n"
    "                t += (v > 127 ? v - 256 : v) * w[(c0 / 16 * KP + k / 4 * 4) * 16 + (c0 + j) % 16 * 4 + k % 4];\n"
    "            }\n"
    "            yw[j * PC + i] = (float)t * scale[c0 + j];\n"
    "        }\n"
    "}\n";

/* nnc_col8 of the AVX-512 and portable branches */
static const char *const conv_col8 =
    "/* nnc_col8: col[i] = the bytes q[o[j] + i] (j < 4, in its 4 bytes from the lowest) ^ nnc_col_flip, for\n"
    " * i < n; 0: the bytes' signs are not looked at (the AVX2 branch's returns 1 when none is negative) */\n"
    "static int nnc_col8(const int8_t *q, const long *o, long n, uint32_t *restrict col) {\n"
    "    const uint8_t *a = (const uint8_t *)q + o[0], *b = (const uint8_t *)q + o[1];\n"
    "    const uint8_t *c = (const uint8_t *)q + o[2], *d = (const uint8_t *)q + o[3];\n"
    "    for (long i = 0; i < n; i++)\n"
    "        col[i] = ((uint32_t)a[i] | (uint32_t)b[i] << 8 | (uint32_t)c[i] << 16 | (uint32_t)d[i] << 24) ^\n"
    "                 nnc_col_flip;\n"
    "    return 0;\n"
    "}\n";

static const char *const conv_shared =
    "\n"
    "/* Convolutions of stride 1 over the padded plane q (row length Wp): output pixel (oh, ow) is \"wide\" pixel\n"
    " * p = oh Wp + ow, whose input k sits at q[o(k) + p]; nnc_col8 (in each branch above) gathers the columns,\n"
    " * nnc_cdot8 multiplies them, and the kernel copies the OW of each Wp pixels into the output */\n";

/* A conv2d of stride 1 with at most 512 products per output (64 pixels'
 * columns in 32 KiB) runs on wide pixels (quant_conv_wide). Its buffers:
 * columns of 64 to 256 pixels (8 KiB where KP allows), 4 channels' outputs
 * of as many. */
static int conv_wide(cg_ctx *cx, const ir_node *n) {
    const ir_node *w = cg_in(cx, n, 1);
    return n->op == IR_CONV2D && n->iattr[0] == 1 && (ir_numel(&w->shape) / w->shape.d[0] + 3) / 4 * 4 <= 512;
}

static int any_conv_wide(cg_ctx *cx) {
    for (int i = 0; i < cx->g->nodes.len; i++) {
        const ir_node *n = cx->g->nodes.data[i];
        if (cg_used(cx, i) && cg_quant_layer(cx->g, n) && conv_wide(cx, n)) return 1;
    }
    return 0;
}

void cgq_helpers(cg_ctx *cx) {
    int wide = any_conv_wide(cx);
    sb_puts(cx->c, helpers_quant);
    sb_puts(cx->c, helpers_vnni);
    if (wide) sb_puts(cx->c, conv_vnni), sb_puts(cx->c, conv_col8);
    sb_puts(cx->c, helpers_avx2);
    if (wide) sb_puts(cx->c, conv_avx2);
    sb_puts(cx->c, helpers_portable);
    if (wide) sb_puts(cx->c, conv_port), sb_puts(cx->c, conv_col8);
    sb_puts(cx->c, "#endif\n");
    if (wide) sb_puts(cx->c, conv_shared);
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
    ll K = ir_numel(&w->shape) / w->shape.d[0];
    qdims d = {0, K, w->shape.d[0], (K + 3) / 4 * 4, (w->shape.d[0] + 15) / 16 * 16};
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

/* Row j of n's weights quantized: q[0..K), its scale *sw (1 for a zero
 * row or a padding row j >= N), its sum. */
static int32_t quant_row(const double *w, const qdims *d, ll j, int *q, double *sw) {
    double mx = 0;
    int32_t sum = 0;
    for (ll k = 0; j < d->N && k < d->K; k++) mx = fmax(mx, fabs(w[j * d->K + k]));
    *sw = mx > 0 ? mx / 127 : 1;
    for (ll k = 0; k < d->KP; k++) sum += q[k] = j < d->N && k < d->K ? q8(w[j * d->K + k], *sw) : 0;
    return sum;
}

/* The weights of n quantized per output row and packed (nnc_dot8):
 * PREFIX_wq, PREFIX_wsum (the rows' sums) and PREFIX_scale (s_x s_w). */
static void quant_weights(cg_ctx *cx, const ir_node *n, const qdims *d, const char *name) {
    const double *w = cx->o->weights + cx->p->mem[ENTRY_FORWARD].offset[n->in[1]];
    double sx = input_scale(cx, n), *sw = arena_alloc(cx->g->a, sizeof *sw * (size_t)d->NP);
    int32_t *sum = arena_alloc(cx->g->a, sizeof *sum * (size_t)d->NP);
    int *q = arena_alloc(cx->g->a, sizeof *q * (size_t)(d->NP * d->KP));
    strbuf *c = cx->c;
    for (ll j = 0; j < d->NP; j++) sum[j] = quant_row(w, d, j, q + j * d->KP, &sw[j]);
    sb_printf(c, "\n/* %s: int8 weights of %lld outputs, %lld each (packed: %lld, %lld, zeros after), a scale per "
                 "output */\n", name, d->N, d->K, d->NP, d->KP);
    sb_printf(c, "static const int8_t %s_wq[%lld] = {", name, d->NP * d->KP);
    for (ll i = 0; i < d->NP * d->KP; i++) {
        ll blk = i / (16 * d->KP), k4 = i % (16 * d->KP) / 64, ci = i % 64 / 4, kj = i % 4;
        sb_printf(c, "%s%d", !i ? "\n    " : i % 16 ? ", " : ",\n    ", q[(blk * 16 + ci) * d->KP + k4 * 4 + kj]);
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
    sb_printf(cx->c, "    int8_t q[%lld] = {0}%s;\n    (void)x1;\n", qlen,
              collen ? arena_printf(cx->g->a, ", col[%lld] = {0}", collen) : "");
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

/* Rows quantized at a time: at most 16 KiB of int8 (one row at least). */
static ll chunk_rows(ll M, ll KP) {
    ll R = 16384 / KP;
    return R < 1 ? 1 : R < M ? R : M;
}

/* x0 [M, K] times W^T: R rows quantized at a time, their int8 products,
 * then the epilogue (matmul_ep) on every row. */
static void quant_dense(cg_ctx *cx, const ir_node *n, const qdims *d, const char *name) {
    strbuf *c = cx->c;
    ll R = chunk_rows(d->M, d->KP);
    quant_head(cx, n, R * d->KP, 0);
    sb_printf(c, "    for (long r0 = 0; r0 < %lld; r0 += %lld) {\n", d->M, R);
    sb_printf(c, "        const long m = %lld - r0 < %lld ? %lld - r0 : %lld;\n", d->M, R, d->M, R);
    sb_printf(c, "        for (long i = 0; i < m; i++) nnc_quant8(x0 + (r0 + i) * %lld, %lld, ", d->K, d->K);
    print_float(c, 1 / input_scale(cx, n));
    sb_printf(c, ", q + i * %lld);\n", d->KP);
    sb_printf(c, "        nnc_qgemm(q, m, %s_wq, %s_wsum, %s_scale, %lld, %lld, y + r0 * %lld, %lld, 1);\n    }\n",
              name, name, name, d->KP, d->N, d->N, d->N);
    if (n->op == IR_MATMUL_EP) {
        sb_printf(c, "    for (long r = 0; r < %lld; r++) {\n", d->M);
        quant_epilogue(cx, n, d);
        sb_puts(c, "    }\n");
    }
    cgk_tail(cx);
}

/* The conv2d's sizes: input C, H, W, padding P, the padded plane Hp, Wp. */
typedef struct qconv {
    ll C, H, W, KH, KW, S, P, D, OH, OW, Hp, Wp;
} qconv;

static qconv conv_of(cg_ctx *cx, const ir_node *n) {
    const ir_node *x = cg_in(cx, n, 0), *w = cg_in(cx, n, 1);
    qconv v = {x->shape.d[1], x->shape.d[2], x->shape.d[3], w->shape.d[2], w->shape.d[3], n->iattr[0], n->iattr[1],
               n->iattr[2], n->shape.d[2], n->shape.d[3], 0, 0};
    v.Hp = v.H + 2 * v.P, v.Wp = v.W + 2 * v.P;
    return v;
}

/* Output pixel p0 + i's receptive field (channel, kh, kw order, as the
 * weights' rows) copied from the quantized, zero-padded example q into
 * row i of col (the padding is the zero point). */
static void conv_gather(cg_ctx *cx, const qconv *v, ll KP) {
    strbuf *c = cx->c;
    sb_printf(c, "            const long oh = (p0 + i) / %lld, ow = (p0 + i) %% %lld;\n", v->OW, v->OW);
    sb_printf(c, "            int8_t *cr = col + i * %lld;\n", KP);
    sb_printf(c, "            for (long c = 0; c < %lld; c++)\n", v->C);
    sb_printf(c, "                for (long kh = 0; kh < %lld; kh++) {\n", v->KH);
    sb_printf(c, "                    const int8_t *qr = q + (c * %lld + oh * %lld + kh * %lld) * %lld + ow * %lld;\n",
              v->Hp, v->S, v->D, v->Wp, v->S);
    sb_printf(c, "                    for (long kw = 0; kw < %lld; kw++)\n", v->KW);
    sb_printf(c, "                        cr[(c * %lld + kh) * %lld + kw] = qr[kw * %lld];\n", v->KH, v->KW, v->D);
    sb_puts(c, "                }\n");
}

/* Example b's input quantized into the middle of the zero plane q (all of
 * it without padding). */
static void quant_plane(cg_ctx *cx, const ir_node *n, const qconv *v) {
    strbuf *c = cx->c;
    if (v->P == 0) { /* the plane is the example's input as it lies: one call */
        sb_printf(c, "        nnc_quant8(x0 + b * %lld, %lld, ", v->C * v->H * v->W, v->C * v->H * v->W);
        print_float(c, 1 / input_scale(cx, n));
        sb_puts(c, ", q);\n");
        return;
    }
    sb_printf(c, "        for (long r = 0; r < %lld; r++)\n", v->C * v->H);
    sb_printf(c, "            nnc_quant8(x0 + (b * %lld + r) * %lld, %lld, ", v->C * v->H, v->W, v->W);
    print_float(c, 1 / input_scale(cx, n));
    sb_printf(c, ", q + (r / %lld * %lld + r %% %lld + %lld) * %lld + %lld);\n", v->H, v->Hp, v->H, v->P, v->Wp, v->P);
}

/* conv2d: per example, the input quantized into the middle of a zero
 * plane, then R output pixels at a time: their gathered fields times
 * every output channel's weights. */
static void quant_conv(cg_ctx *cx, const ir_node *n, const qdims *d, const char *name) {
    qconv v = conv_of(cx, n);
    ll P = v.OH * v.OW, R = chunk_rows(P, d->KP);
    strbuf *c = cx->c;
    quant_head(cx, n, v.C * v.Hp * v.Wp, R * d->KP);
    sb_printf(c, "    for (long b = 0; b < %lld; b++) {\n", d->M);
    quant_plane(cx, n, &v);
    sb_printf(c, "        for (long p0 = 0; p0 < %lld; p0 += %lld) {\n", P, R);
    sb_printf(c, "            const long m = %lld - p0 < %lld ? %lld - p0 : %lld;\n", P, R, P, R);
    sb_puts(c, "            for (long i = 0; i < m; i++) {\n");
    conv_gather(cx, &v, d->KP);
    sb_puts(c, "            }\n");
    sb_printf(c, "            nnc_qgemm(col, m, %s_wq, %s_wsum, %s_scale, %lld, %lld, y + b * %lld + p0, 1, %lld);\n",
              name, name, name, d->KP, d->N, d->N * P, P);
    sb_puts(c, "        }\n    }\n");
    cgk_tail(cx);
}

/* ok[k]: the offset of input k in the padded plane, for every k < KP,
 * once per call (a padding k >= K reads any byte: its weight is 0). */
static void wide_offsets(cg_ctx *cx, const qconv *v, ll K, ll KP) {
    strbuf *c = cx->c;
    sb_printf(c, "    long ok[%lld];\n    for (long k = 0; k < %lld; k++)\n", KP, KP);
    sb_printf(c, "        ok[k] = k >= %lld ? 0 : k / %lld * %lld + k %% %lld / %lld * %lld + k %% %lld * %lld;\n", K,
              v->KH * v->KW, v->Hp * v->Wp, v->KH * v->KW, v->KW, v->D * v->Wp, v->KW, v->D);
}

/* Channels c0 + j of the wide pixels p0 .. p0 + n - 1 (yw + j PC) into
 * their planes of y: the part of each row oh in the chunk, [a, e), less
 * the Wp - OW pixels past its end; a whole row is one memcpy of a constant
 * size (a few moves, not a call). */
static void wide_store(cg_ctx *cx, const qconv *v, ll N, ll PC) {
    strbuf *c = cx->c;
    sb_printf(c, "                for (long j = 0; j < 4 && c0 + j < %lld; j++)\n", N);
    sb_printf(c, "                    for (long oh = p0 / %lld; oh * %lld < p0 + n; oh++) {\n", v->Wp, v->Wp);
    sb_printf(c, "                        const long r = oh * %lld, a = r > p0 ? r : p0;\n", v->Wp);
    sb_printf(c, "                        const long e = r + %lld < p0 + n ? r + %lld : p0 + n;\n", v->OW, v->OW);
    sb_printf(c, "                        float *yo = y + (b * %lld + c0 + j) * %lld + oh * %lld + a - r;\n", N,
              v->OH * v->OW, v->OW);
    sb_printf(c, "                        const float *yi = yw + j * %lld + a - p0;\n", PC);
    sb_printf(c, "                        if (e - a == %lld) memcpy(yo, yi, sizeof(float) * %lld);\n", v->OW, v->OW);
    sb_puts(c, "                        else if (a < e) memcpy(yo, yi, sizeof(float) * (size_t)(e - a));\n"
               "                    }\n");
}

/* conv2d of stride 1: per example, the input quantized into the middle of
 * a zero plane; then PC wide pixels at a time: their columns (nnc_col8)
 * times 4 output channels' weights (nnc_cdot8), the pixels of the output
 * kept (wide_store). */
static void quant_conv_wide(cg_ctx *cx, const ir_node *n, const qdims *d, const char *name) {
    qconv v = conv_of(cx, n);
    ll PW = v.OH * v.Wp, PC = 8192 / d->KP / 64 * 64, omax = (v.C - 1) * v.Hp * v.Wp + (v.KH - 1) * v.D * v.Wp;
    PC = PC < 64 ? 64 : PC < 256 ? PC : 256, omax += (v.KW - 1) * v.D + (PW + 63) / 64 * 64;
    strbuf *c = cx->c;
    cgk_head(cx, n);
    sb_printf(c, "    int8_t q[%lld] = {0};\n    uint32_t col[%lld];\n    float yw[%lld];\n    (void)x1;\n",
              omax > v.C * v.Hp * v.Wp ? omax : v.C * v.Hp * v.Wp, d->KP / 4 * PC, 4 * PC);
    if (cgk_gemm_ws(cx, n)) sb_puts(c, "    (void)ws;\n");
    wide_offsets(cx, &v, d->K, d->KP);
    sb_printf(c, "    for (long b = 0; b < %lld; b++) {\n", d->M);
    quant_plane(cx, n, &v);
    sb_printf(c, "        for (long p0 = 0; p0 < %lld; p0 += %lld) {\n", PW, PC);
    sb_printf(c, "            const long n = %lld - p0 < %lld ? %lld - p0 : %lld;\n", PW, PC, PW, PC);
    sb_puts(c, "            const long n16 = (n + 15) / 16 * 16, n64 = (n + 63) / 64 * 64;\n");
    sb_printf(c, "            int pos = 1;\n            for (long k = 0; k < %lld; k += 4) {\n", d->KP);
    sb_puts(c, "                const long o[4] = {ok[k] + p0, ok[k + 1] + p0, ok[k + 2] + p0, ok[k + 3] + p0};\n");
    sb_printf(c, "                pos &= nnc_col8(q, o, n64, col + k / 4 * %lld);\n            }\n", PC);
    sb_printf(c, "            for (long c0 = 0; c0 < %lld; c0 += 4) {\n", d->N);
    sb_printf(c, "                for (long i = 0; i < n64; i += 64)\n                    nnc_cdot8(col + i, %lld, "
                 "%s_wq, %s_wsum, %s_scale, %lld, c0, %lld - c0 < 4 ? %lld - c0 : 4, n16 - i < 64 ? n16 - i : 64, pos, "
                 "yw + i);\n", PC, name, name, name, d->KP, d->N, d->N);
    wide_store(cx, &v, d->N, PC);
    sb_puts(c, "            }\n        }\n    }\n");
    cgk_tail(cx);
}

void cgq_kernel(cg_ctx *cx, const ir_node *n) {
    qdims d = dims_of(cx, n);
    const char *name = cg_kernel_name(cx, n);
    quant_weights(cx, n, &d, name);
    if (n->op == IR_CONV2D && conv_wide(cx, n)) quant_conv_wide(cx, n, &d, name);
    else if (n->op == IR_CONV2D) quant_conv(cx, n, &d, name);
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
