/* fusecheck.c — the generated code with and without fusion computes the
 * same numbers. One model compiled twice (tests/e2e/run.sh):
 *
 *   nnc m.nn --name fz -o T/fz.c             (fused: the default)
 *   nnc m.nn --name uf --no-fuse -o T/uf.c   (every op its own kernel)
 *   cc -Iruntime -IT -include fz.h -include uf.h fusecheck.c T/fz.c T/uf.c libnnrt.a -lm
 *
 * Both are created from the same seed and fed the same data (f32 inputs
 * uniform in [0, 1), i32 inputs uniform in [0, K), K from the command
 * line). Compared, as max |a - b| / max |b| per tensor: every output of
 * _forward_v, the loss and every gradient of two _forward_backward_v
 * steps with an _update between them, and the parameters after. Prints the
 * largest relative difference; exit 1 when it exceeds TOL.
 *
 * The same program compares two builds of one model whose C was compiled
 * with different flags (the ISA branches of the conv kernels, in run.sh).
 *
 * usage: fusecheck [K [TOL]]      (default 2 and 1e-6)
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnrt.h"

#define MAXT 64

typedef struct worst {
    double rel;       /* largest relative difference so far, -1 before any */
    const char *what; /* where */
} worst;

static void compare(worst *w, const char *what, const float *a, const float *b, size_t n) {
    double diff = 0, mag = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= diff)) diff = d; /* NaN counts as a difference */
        if (fabs((double)b[i]) > mag) mag = fabs((double)b[i]);
    }
    double rel = diff / (mag > 0 ? mag : 1);
    if (!(rel <= w->rel)) w->rel = rel, w->what = what;
}

static double next01(uint64_t *rng) {
    *rng ^= *rng << 13, *rng ^= *rng >> 7, *rng ^= *rng << 17;
    return (double)(*rng >> 11) / 9007199254740992.0;
}

#define CHECK(x)                                                              \
    do {                                                                      \
        int st_ = (x);                                                        \
        if (st_) {                                                            \
            fprintf(stderr, "fusecheck: %s failed with status %d\n", #x, st_); \
            return 2;                                                         \
        }                                                                     \
    } while (0)

int main(int argc, char **argv) {
    int K = argc > 1 ? atoi(argv[1]) : 2;
    double tol = argc > 2 ? atof(argv[2]) : 1e-6;
    uint64_t rng = 88172645463325252ull;
    worst w = {-1, "nothing compared"};
    fz *f = fz_create(7);
    uf *u = uf_create(7);
    if (!f || !u) return 2;
    void *io[MAXT];
    for (int i = 0; i < FZ_NUM_IO; i++) {
        nnrt_tensor_info t;
        CHECK(fz_io_info(i, &t));
        io[i] = malloc(t.numel * 4 + 4);
        for (size_t k = 0; k < t.numel; k++) {
            if (t.dtype == NNRT_I32) ((int32_t *)io[i])[k] = (int32_t)(next01(&rng) * K);
            else ((float *)io[i])[k] = (float)next01(&rng);
        }
    }
#if FZ_NUM_OUTPUTS > 0
    void *of[FZ_NUM_OUTPUTS + 1], *ou[FZ_NUM_OUTPUTS + 1];
    size_t on[FZ_NUM_OUTPUTS + 1];
    for (int i = 0; i < FZ_NUM_OUTPUTS; i++) {
        nnrt_tensor_info t;
        CHECK(fz_output_info(i, &t));
        on[i] = t.numel;
        of[i] = malloc(t.numel * 4 + 4), ou[i] = malloc(t.numel * 4 + 4);
    }
    CHECK(fz_forward_v(f, (const void *const *)io, of));
    CHECK(uf_forward_v(u, (const void *const *)io, ou));
    for (int i = 0; i < FZ_NUM_OUTPUTS; i++) compare(&w, "an output", of[i], ou[i], on[i]);
#endif
#ifdef FZ_TRAINABLE
    for (int step = 0; step < 2; step++) {
        float lf, lu;
        CHECK(fz_forward_backward_v(f, (const void *const *)io, &lf));
        CHECK(uf_forward_backward_v(u, (const void *const *)io, &lu));
        compare(&w, "the loss", &lf, &lu, 1);
        size_t n;
        const float *gf = fz_grads(f, &n), *gu = uf_grads(u, &n);
        compare(&w, "a gradient", gf, gu, n);
        CHECK(fz_update(f));
        CHECK(uf_update(u));
    }
    size_t n;
    const float *pf = fz_params(f, &n), *pu = uf_params(u, &n);
    compare(&w, "a parameter after two steps", pf, pu, n);
#endif
    printf("max relative difference %.3g, in %s\n", w.rel, w.what);
    return w.rel >= 0 && w.rel <= tol ? 0 : 1;
}
