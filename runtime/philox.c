/* philox.c — Philox4x32-10 counter-based RNG and tensor initializers.
 *
 * The generator is the standard Random123 Philox4x32 with 10 rounds. The key
 * is the 64-bit seed split into (low, high) words; the 128-bit counter is
 * (ctr_lo low, ctr_lo high, ctr_hi low, ctr_hi high). Every fill maps element
 * i to word i % 4 of block (ctr_hi = stream, ctr_lo = i / 4), so any element
 * can be recomputed alone (the CUDA runtime uses the same mapping).
 */
#include "nnrt_internal.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u /* round multiplier for counter word 0 */
#define PHILOX_M1 0xCD9E8D57u /* round multiplier for counter word 2 */
#define PHILOX_W0 0x9E3779B9u /* Weyl key increment, key word 0 */
#define PHILOX_W1 0xBB67AE85u /* Weyl key increment, key word 1 */

static const double TWO_PI = 6.283185307179586476925286766559;

/* One Philox round: two 32x32->64 multiplies, xor with key and the other
 * counter words, and a fixed permutation. */
static void philox_round(uint32_t c[4], const uint32_t k[2])
{
    uint64_t p0 = (uint64_t)PHILOX_M0 * c[0];
    uint64_t p1 = (uint64_t)PHILOX_M1 * c[2];
    uint32_t n0 = (uint32_t)(p1 >> 32) ^ c[1] ^ k[0];
    uint32_t n1 = (uint32_t)p1;
    uint32_t n2 = (uint32_t)(p0 >> 32) ^ c[3] ^ k[1];
    uint32_t n3 = (uint32_t)p0;
    c[0] = n0;
    c[1] = n1;
    c[2] = n2;
    c[3] = n3;
}

/* One block: out = Philox4x32-10(key = seed, counter = (ctr_hi, ctr_lo)). */
void nnrt_philox4x32(uint64_t seed, uint64_t ctr_hi, uint64_t ctr_lo,
                     uint32_t out[4])
{
    uint32_t k[2];
    uint32_t c[4];
    int r;
    k[0] = (uint32_t)seed;
    k[1] = (uint32_t)(seed >> 32);
    c[0] = (uint32_t)ctr_lo;
    c[1] = (uint32_t)(ctr_lo >> 32);
    c[2] = (uint32_t)ctr_hi;
    c[3] = (uint32_t)(ctr_hi >> 32);
    for (r = 0; r < 10; r++) {
        if (r > 0) {
            k[0] += PHILOX_W0;
            k[1] += PHILOX_W1;
        }
        philox_round(c, k);
    }
    out[0] = c[0];
    out[1] = c[1];
    out[2] = c[2];
    out[3] = c[3];
}

/* Uniform in [0,1): the top 24 bits times 2^-24, exact in float. */
float nnrt_u01(uint32_t u)
{
    return (float)(u >> 8) * (1.0f / 16777216.0f);
}

/* Uniform value of element i in double: lo + (hi - lo) * u01(word). */
static double uniform_at(const uint32_t w[4], size_t j, double lo, double hi)
{
    return lo + (hi - lo) * (double)nnrt_u01(w[j]);
}

/* Standard normal for word j of a block (Box-Muller on the pair j & ~1):
 * r = sqrt(-2 ln(1 - u01(w[2k]))), even j -> r cos(2 pi u01(w[2k+1])),
 * odd j -> r sin(...). 1 - u keeps the log argument in (0, 1]. */
static double normal_at(const uint32_t w[4], size_t j)
{
    size_t k = j & ~(size_t)1;
    double r = sqrt(-2.0 * log(1.0 - (double)nnrt_u01(w[k])));
    double t = TWO_PI * (double)nnrt_u01(w[k + 1]);
    return (j & 1) ? r * sin(t) : r * cos(t);
}

/* Elements [4b, min(4b+4, n)) of block b in the loops below. */
static size_t block_len(size_t n, size_t b)
{
    size_t rest = n - b * 4;
    return rest < 4 ? rest : 4;
}

void nnrt_fill_uniform_f32(float *x, size_t n, float lo, float hi,
                           uint64_t seed, uint64_t stream)
{
    size_t b, j, nb = n / 4 + (n % 4 != 0);
    uint32_t w[4];
    if (!x)
        return;
    for (b = 0; b < nb; b++) {
        nnrt_philox4x32(seed, stream, (uint64_t)b, w);
        for (j = 0; j < block_len(n, b); j++)
            x[b * 4 + j] = (float)uniform_at(w, j, lo, hi);
    }
}

void nnrt_fill_uniform_f64(double *x, size_t n, double lo, double hi,
                           uint64_t seed, uint64_t stream)
{
    size_t b, j, nb = n / 4 + (n % 4 != 0);
    uint32_t w[4];
    if (!x)
        return;
    for (b = 0; b < nb; b++) {
        nnrt_philox4x32(seed, stream, (uint64_t)b, w);
        for (j = 0; j < block_len(n, b); j++)
            x[b * 4 + j] = uniform_at(w, j, lo, hi);
    }
}

void nnrt_fill_normal_f32(float *x, size_t n, float mean, float std,
                          uint64_t seed, uint64_t stream)
{
    size_t b, j, nb = n / 4 + (n % 4 != 0);
    uint32_t w[4];
    if (!x)
        return;
    for (b = 0; b < nb; b++) {
        nnrt_philox4x32(seed, stream, (uint64_t)b, w);
        for (j = 0; j < block_len(n, b); j++)
            x[b * 4 + j] =
                (float)((double)mean + (double)std * normal_at(w, j));
    }
}

void nnrt_fill_normal_f64(double *x, size_t n, double mean, double std,
                          uint64_t seed, uint64_t stream)
{
    size_t b, j, nb = n / 4 + (n % 4 != 0);
    uint32_t w[4];
    if (!x)
        return;
    for (b = 0; b < nb; b++) {
        nnrt_philox4x32(seed, stream, (uint64_t)b, w);
        for (j = 0; j < block_len(n, b); j++)
            x[b * 4 + j] = mean + std * normal_at(w, j);
    }
}

/* ---- He and Glorot initializers on top of the fills ----------------------- */

static double he_std(int64_t fan_in) { return sqrt(2.0 / (double)(fan_in > 0 ? fan_in : 1)); }

static double glorot_limit(int64_t fan_in, int64_t fan_out) {
    int64_t s = fan_in + fan_out;
    return sqrt(6.0 / (double)(s > 0 ? s : 1));
}

void nnrt_init_he_f32(float *w, size_t n, int64_t fan_in, uint64_t seed, uint64_t stream) {
    nnrt_fill_normal_f32(w, n, 0.0f, (float)he_std(fan_in), seed, stream);
}

void nnrt_init_he_f64(double *w, size_t n, int64_t fan_in, uint64_t seed, uint64_t stream) {
    nnrt_fill_normal_f64(w, n, 0.0, he_std(fan_in), seed, stream);
}

void nnrt_init_glorot_f32(float *w, size_t n, int64_t fan_in, int64_t fan_out, uint64_t seed,
                          uint64_t stream) {
    float lim = (float)glorot_limit(fan_in, fan_out);
    nnrt_fill_uniform_f32(w, n, -lim, lim, seed, stream);
}

void nnrt_init_glorot_f64(double *w, size_t n, int64_t fan_in, int64_t fan_out, uint64_t seed,
                          uint64_t stream) {
    double lim = glorot_limit(fan_in, fan_out);
    nnrt_fill_uniform_f64(w, n, -lim, lim, seed, stream);
}
