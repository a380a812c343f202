/* mathfns.c — checks the math helpers nnc writes into generated C
 * (nnc_expf, nnc_tanhf), as generated: tests/e2e/mathfns.sh extracts them
 * from real output into mathfns_helpers.h and builds this with UBSan under
 * gcc and clang, so any undefined behaviour aborts the run.
 *
 *   mathfns        every exponent x sign x 64 mantissas, every special
 *                  value, every float around the range edges and around
 *                  the worst errors of an exhaustive run
 *   mathfns all    all 2^32 floats (minutes; by hand)
 *
 * The bounds (against exp and tanh in double):
 *   nnc_expf   relative error <= 8.4e-8 wherever exp(x) is a normal float
 *              (x in [-87.33, 88.72]); below that 0 or within 2^-149 +
 *              8.4e-8 exp(x), never negative; +inf where exp(x) rounds to
 *              inf; +0 for -inf; NaN for NaN
 *   nnc_tanhf  absolute error <= 4.2e-7, |result| <= 1, odd (bit for bit),
 *              the sign of x (+-0 stay +-0), +-1 for +-inf; NaN for NaN
 * Prints the worst errors and where; exit 1 on any violation. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mathfns_helpers.h"

#define EXP_REL 8.4e-8
#define TANH_ABS 4.2e-7

typedef struct stats {
    long long n, bad;
    double exp_worst, tanh_worst;
    float exp_at, tanh_at;
} stats;

static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t to_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static void bad(stats *s, const char *fn, float x, float r, double want) {
    if (s->bad++ < 10) printf("  %s(%.9g [0x%08X]) = %.9g, want %.9g\n", fn, x, (unsigned)to_bits(x), r, want);
}

/* 1 if r is an acceptable nnc_expf(x); tracks the worst relative error. */
static int exp_ok(stats *s, float x, float r) {
    const double e = exp((double)x);
    if (isnan(x)) return isnan(r);
    if (isnan(r) || signbit(r)) return 0;
    if (e >= 0x1p128 * (1 - 0x1p-25)) return r == INFINITY; /* rounds to inf in float */
    if (e > FLT_MAX) return r == INFINITY || r == FLT_MAX;
    if (e < FLT_MIN) return r == 0 || fabs(r - e) <= 0x1p-149 + EXP_REL * e;
    const double rel = fabs(r - e) / e;
    if (rel > s->exp_worst) s->exp_worst = rel, s->exp_at = x;
    return rel <= EXP_REL;
}

/* 1 if r is an acceptable nnc_tanhf(x); tracks the worst absolute error. */
static int tanh_ok(stats *s, float x, float r) {
    if (isnan(x)) return isnan(r);
    if (isnan(r) || fabsf(r) > 1 || signbit(r) != signbit(x)) return 0;
    if (to_bits(nnc_tanhf(-x)) != (to_bits(r) ^ 0x80000000u)) return 0;
    if (isinf(x)) return r == (x > 0 ? 1 : -1);
    const double err = fabs(r - tanh((double)x));
    if (err > s->tanh_worst) s->tanh_worst = err, s->tanh_at = x;
    return err <= TANH_ABS;
}

static void one(stats *s, uint32_t u) {
    const float x = from_bits(u), e = nnc_expf(x), t = nnc_tanhf(x);
    s->n++;
    if (!exp_ok(s, x, e)) bad(s, "nnc_expf", x, e, exp((double)x));
    if (!tanh_ok(s, x, t)) bad(s, "nnc_tanhf", x, t, tanh((double)x));
}

/* Every biased exponent and sign with 64 mantissas: the edges and a fixed
 * pseudo-random spread. */
static void spread(stats *s) {
    static const uint32_t edges[] = {0, 1, 2, 3, 0x7FFFFF, 0x7FFFFE, 0x400000, 0x3FFFFF, 0x400001, 0x200000, 0x600000};
    const int ne = (int)(sizeof edges / sizeof edges[0]);
    for (uint32_t e = 0; e < 256; e++)
        for (uint32_t sign = 0; sign < 2; sign++) {
            uint32_t rng = 0x9E3779B9u ^ (e * 2 + sign);
            for (int k = 0; k < 64; k++) {
                uint32_t m = k < ne ? edges[k] : 0;
                if (k >= ne) {
                    rng ^= rng << 13, rng ^= rng >> 17, rng ^= rng << 5;
                    m = rng & 0x7FFFFF;
                }
                one(s, sign << 31 | e << 23 | m);
            }
        }
}

/* Every float between a and b (same sign, a closer to 0). */
static void every(stats *s, float a, float b) {
    for (uint32_t u = to_bits(a); u <= to_bits(b); u++) one(s, u);
}

static void specials(stats *s) {
    static const uint32_t bits[] = {
        0x00000000, 0x80000000,                         /* +-0 */
        0x00000001, 0x80000001, 0x007FFFFF, 0x807FFFFF, /* denormals */
        0x00800000, 0x80800000, 0x7F7FFFFF, 0xFF7FFFFF, /* FLT_MIN, FLT_MAX */
        0x7F800000, 0xFF800000,                         /* +-inf */
        0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF800001, /* quiet and signalling NaNs */
        0x7FFFFFFF, 0xFFFFFFFF, 0x7FBFFFFF, 0x7FC00001, /* NaN payloads */
        0x42CE0000, 0xC2CE0000, 0x42CE0001, 0xC2CE0001, /* +-103, the clamp, and the next */
        0x40FCF84F, 0x40FCF850, 0xC0FCF84F, 0xC0FCF850, /* +-7.905311, tanh's clamp, and the next */
        0x4B400000, 0xCB400000,                         /* +-1.5 * 2^23 */
    };
    for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++) one(s, bits[i]);
    every(s, 88.0f, 89.0f);     /* the top of the range and the overflow */
    every(s, -87.0f, -88.0f);   /* the normal, denormal and flushed results */
    every(s, -102.0f, -104.0f); /* the clamp from below */
    every(s, 102.0f, 104.0f);
    every(s, 7.8f, 8.0f); /* tanh's clamp */
    every(s, -7.8f, -8.0f);
    every(s, -81.443f, -81.4435f); /* around the worst errors over all floats */
    every(s, 5.8278f, 5.828f);
}

int main(int argc, char **argv) {
    stats s = {0, 0, 0, 0, 0, 0};
    if (argc > 1 && !strcmp(argv[1], "all")) {
        for (uint64_t u = 0; u <= 0xFFFFFFFFu; u++) one(&s, (uint32_t)u);
    } else {
        spread(&s);
        specials(&s);
    }
    printf("%lld floats: nnc_expf worst relative error %.4g (x = %.9g), nnc_tanhf worst error %.4g (x = %.9g); "
           "%lld failures\n",
           s.n, s.exp_worst, s.exp_at, s.tanh_worst, s.tanh_at, s.bad);
    return s.bad != 0;
}
