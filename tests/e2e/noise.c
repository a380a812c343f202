/* noise.c — the random sources of a generated model (tests/e2e/noise.nn):
 * mean and variance over 65,536 draws (normal: |mean| < 0.02, |var - 1| <
 * 0.03; uniform in [0, 1): |mean - 1/2| < 0.01, |var - 1/12| < 0.005,
 * every value in [0, 1)); the draws are libnnrt's fills on the documented
 * stream (2^63 | call << 8 | op); each P_forward draws anew; the same seed
 * gives the same draws, another seed others; P_reset restarts the calls.
 * Prints PASS/FAIL lines; exit 1 on a failure. */
#include "noise.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { N = 64 * 1024, L = 15 };
static float n0[N], u0[N], n1[N], u1[N], ref[N], like[L];
static int failed;

static void report(int ok, const char *what) {
    printf("%s e2e noise: %s\n", ok ? "PASS" : "FAIL", what);
    failed |= !ok;
}

static void moments(const float *x, double *mean, double *var) {
    double s = 0, s2 = 0;
    for (int i = 0; i < N; i++) s += x[i];
    *mean = s / N;
    for (int i = 0; i < N; i++) s2 += (x[i] - *mean) * (x[i] - *mean);
    *var = s2 / N;
}

static int in_unit(const float *x) {
    for (int i = 0; i < N; i++)
        if (!(x[i] >= 0 && x[i] < 1)) return 0;
    return 1;
}

int main(void) {
    static const int32_t ids[L] = {0};
    noise *a = noise_create(5), *b = noise_create(5), *c = noise_create(6);
    if (!a || !b || !c) return 1;
    double m, v;
    noise_forward(a, ids, n0, u0, like);
    moments(n0, &m, &v);
    report(fabs(m) < 0.02 && fabs(v - 1) < 0.03, "randn: mean 0, variance 1");
    moments(u0, &m, &v);
    report(fabs(m - 0.5) < 0.01 && fabs(v - 1.0 / 12) < 0.005 && in_unit(u0), "rand: mean 1/2, variance 1/12, [0, 1)");
    nnrt_fill_normal_f32(ref, N, 0, 1, 5, NNRT_STREAM_DROPOUT | 0);
    report(!memcmp(ref, n0, sizeof ref), "randn is nnrt_fill_normal of stream 2^63 | call 0 << 8 | op 0");
    nnrt_fill_uniform_f32(ref, N, 0, 1, 5, NNRT_STREAM_DROPOUT | 1);
    report(!memcmp(ref, u0, sizeof ref), "rand is nnrt_fill_uniform of stream 2^63 | 0 << 8 | 1");
    nnrt_fill_normal_f32(ref, L, 0, 1, 5, NNRT_STREAM_DROPOUT | 2);
    report(!memcmp(ref, like, sizeof like), "randn_like(i32 input) has its shape, op 2");
    noise_forward(a, ids, n1, u1, like);
    nnrt_fill_normal_f32(ref, N, 0, 1, 5, NNRT_STREAM_DROPOUT | 1u << 8);
    report(memcmp(n0, n1, sizeof n0) && !memcmp(ref, n1, sizeof ref), "the second call draws anew (call 1)");
    noise_forward(b, ids, n1, u1, like);
    report(!memcmp(n0, n1, sizeof n0) && !memcmp(u0, u1, sizeof u0), "the same seed draws the same");
    noise_forward(c, ids, n1, u1, like);
    report(memcmp(n0, n1, sizeof n0) && memcmp(u0, u1, sizeof u0), "another seed draws others");
    noise_reset(a, 5);
    noise_forward(a, ids, n1, u1, like);
    report(!memcmp(n0, n1, sizeof n0), "P_reset restarts the calls");
    noise_free(a), noise_free(b), noise_free(c);
    return failed;
}
