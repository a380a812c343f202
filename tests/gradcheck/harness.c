/* harness.c — finite-difference gradient check of one nnc-generated model.
 *
 * One generic program, compiled once per model (tests/gradcheck/run.sh):
 *
 *   nnc gc_relu.nn --dtype f64 -o T/gc_relu.c
 *   cc -std=c99 -Iruntime -IT -DMODEL=gc_relu -include T/gc_relu.h \
 *      tests/gradcheck/harness.c T/gc_relu.c build/libnnrt.a -lm
 *
 * It creates the model, fills every io tensor deterministically, takes the
 * analytic gradient from P_forward_backward_v and compares each parameter
 * element (at most 64 per parameter, evenly spread) with the central
 * difference (L(p + h) - L(p - h)) / 2h of P_loss_v, h = 1e-6 * max(1, |p|).
 * Error per element: |a - n| / max(|a| + |n|, 1e-3); pass when < 1e-6,
 * that is a relative error of 1e-6, or an absolute one of 1e-9 for
 * gradients below 1e-3. (Override with -DGC_H=, -DGC_FLOOR=, -DGC_TOL=.)
 * The floor is there because the central difference itself carries a
 * roundoff of about 1e-10 * |L|: with a floor of 1e-7, about one seed in
 * 40 failed on elements of size 1e-6..1e-4 that were off by 1e-10; with
 * 1e-3, seeds 1..40 all pass. A wrong backward shows as a relative error
 * orders of magnitude above 1e-6 on the gradients above 1e-3.
 *
 * Inputs declared requires_grad (compiled with -DHAS_INPUT_GRAD=1): the
 * gradient P_input_grad returns is checked the same way against central
 * differences over the input's elements.
 *
 * Also checked: P_loss_v and P_forward_backward_v give bitwise the same
 * loss, the loss is finite, a second P_forward_backward_v reproduces the
 * gradients bitwise (they are overwritten, not accumulated), and every
 * parameter gets some nonzero gradient (else the model does not test it).
 *
 * --train-mode is for models whose loss differs between training and
 * inference (dropout, batch norm): P_loss_v computes the inference loss,
 * so the numeric gradient differentiates the training loss instead. Every
 * loss evaluation is then one training pass from the same state: P_reset
 * (which restarts the random ops' call counter, so dropout draws the same
 * masks), the parameters and state buffers put back, P_forward_backward_v,
 * and the state it updated (running statistics) put back again. The first
 * analytic gradient is taken the same way; P_loss_v need only be finite.
 * --frozen NAME names a frozen parameter (train's freeze = [...]): its
 * analytic gradient must be exactly zero (no numeric one is taken).
 * --state NAME names a state buffer (batch norm's running statistics): not
 * trained, so its gradient must be zero both ways instead of nonzero.
 *
 * usage: harness [--seed S] [--range LO HI] [--classes C] [--targets K]
 *                [--train-mode] [--state NAME]... [--frozen NAME]... [-v]
 *   --seed S       model initialization and data seed (default 1)
 *   --range LO HI  f64 inputs uniform in [LO, HI] (default -1 1)
 *   --classes C    i32 targets are labels uniform in [0, C)
 *   --targets K    the last K io tensors are targets (default: 1 if the
 *                  model has any io tensor). f64 targets are uniform in
 *                  [0.05, 0.95] so they suit mse and binary cross-entropy.
 *   -v             one line per checked element
 * Exit status: 0 pass, 1 gradient check failed, 2 usage or setup error.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef MODEL
#error "compile with -DMODEL=<prefix> -include <prefix>.h"
#endif

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define FN(x) CAT(MODEL, x)
#define STR_(x) #x
#define STR(x) STR_(x)

enum { MAX_SAMPLES = 64, MAX_IO = 64, MAX_PARAMS = 256 };

#ifndef GC_H
#define GC_H 1e-6 /* step, scaled by max(1, |p|) */
#endif
#ifndef GC_TOL
#define GC_TOL 1e-6 /* max relative error */
#endif
#ifndef GC_FLOOR
#define GC_FLOOR 1e-3 /* denominator floor of the relative error */
#endif
static const double H = GC_H, TOL = GC_TOL, FLOOR = GC_FLOOR;

/* splitmix64: a small, portable, deterministic generator. */
static uint64_t rng_state;
static uint64_t rng_next(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double rng_u01(void) { return (double)(rng_next() >> 11) * 0x1.0p-53; }

static const char *model_name = STR(MODEL);

/* --train-mode (see the top): the seed for P_reset, and room to keep the
 * parameters and state buffers across it. */
static int train_mode;
static uint64_t model_seed;
static double *snapshot;

/* --state names: parameters that are state buffers (zero gradient);
 * --frozen names: frozen parameters (zero analytic gradient, no numeric
 * one to compare: they do move the loss). */
enum { MAX_STATE = 32 };
static const char *state_names[MAX_STATE], *frozen_names[MAX_STATE];
static int nstate, nfrozen;

static int in_list(const char *const *list, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(list[i], name)) return 1;
    return 0;
}
static int is_state(const char *name) { return in_list(state_names, nstate, name); }

/* A frozen parameter's analytic gradient must be exactly zero. */
static int frozen_ok(const nnrt_tensor_info *in, const double *ga) {
    for (size_t j = 0; j < in->numel; j++)
        if (ga[in->offset + j] != 0) {
            printf("  %s: frozen, but its gradient [%zu] is %g  <-- FAIL\n", in->name, j, ga[in->offset + j]);
            return 0;
        }
    printf("  %s: frozen, gradient all zero\n", in->name);
    return 1;
}

static int usage(const char *msg) {
    fprintf(stderr,
            "%s: %s\nusage: harness [--seed S] [--range LO HI] [--classes C] [--targets K] [--train-mode]\n"
            "               [--state NAME]... [--frozen NAME]... [-v]\n",
            model_name, msg);
    return 2;
}

static int parse_double(const char *s, double *out) {
    char *end;
    *out = strtod(s, &end);
    return end != s && !*end;
}

static int parse_long(const char *s, long *out) {
    char *end;
    *out = strtol(s, &end, 10);
    return end != s && !*end;
}

/* --train-mode: one training pass from the current parameters with the
 * call counter at 0, leaving the parameters and state buffers as they were
 * and the gradients in P_grads. Otherwise P_forward_backward_v. */
static int forward_backward(MODEL *m, const void *const *io, double *loss) {
    if (!train_mode) return FN(_forward_backward_v)(m, io, loss);
    size_t np = 0;
    double *p = FN(_params)(m, &np);
    memcpy(snapshot, p, sizeof(double) * np);
    int st = FN(_reset)(m, model_seed);
    memcpy(p, snapshot, sizeof(double) * np);
    if (st == NNRT_OK) st = FN(_forward_backward_v)(m, io, loss);
    memcpy(p, snapshot, sizeof(double) * np);
    return st;
}

/* The loss the gradient is checked against: P_loss_v, or with --train-mode
 * the training pass's; exits on a failed call (a setup error). */
static double loss_of(MODEL *m, const void *const *io) {
    double l = 0;
    int st = train_mode ? forward_backward(m, io, &l) : FN(_loss_v)(m, io, &l);
    if (st != NNRT_OK) {
        fprintf(stderr, "%s: _loss_v failed: %s (%s)\n", model_name, FN(_status_str)(st), FN(_last_error)(m));
        exit(2);
    }
    return l;
}

#ifndef HAS_INPUT_GRAD
#define HAS_INPUT_GRAD 0 /* run.sh: 1 when the model has P_input_grad */
#endif
#if HAS_INPUT_GRAD
/* The max relative error of P_input_grad's gradient of io tensor x (n
 * elements, at most MAX_SAMPLES of them evenly spread) against central
 * differences of the loss; -1 when the input has no P_input_grad. */
static double input_grad_err(MODEL *m, const void *const *io, const char *name, double *x, size_t n) {
    double *a = malloc(sizeof(double) * (n ? n : 1)), loss, worst = 0;
    if (!a || forward_backward(m, io, &loss) != NNRT_OK) exit(2); /* P_loss below overwrites the gradient */
    if (FN(_input_grad)(m, name, a) != NNRT_OK) return free(a), -1;
    size_t k = n < MAX_SAMPLES ? n : MAX_SAMPLES;
    for (size_t s = 0; s < k; s++) {
        size_t j = s * n / k;
        const double x0 = x[j], h = H * fmax(1.0, fabs(x0)), xp = x0 + h, xm = x0 - h;
        x[j] = xp;
        const double lp = loss_of(m, io);
        x[j] = xm;
        const double lm = loss_of(m, io);
        x[j] = x0;
        const double num = (lp - lm) / (xp - xm), rel = fabs(a[j] - num) / fmax(fabs(a[j]) + fabs(num), FLOOR);
        if (!(rel <= worst)) worst = rel == rel ? rel : INFINITY;
    }
    free(a);
    return worst;
}
#endif

/* Inputs declared requires_grad: their gradients (P_input_grad) against
 * central differences, one line each; 1 on a failure. */
static int check_input_grads(MODEL *m, const void *const *io, void *const *bufs, int nio) {
    int failed = 0;
#if HAS_INPUT_GRAD
    for (int i = 0; i < nio; i++) {
        nnrt_tensor_info in;
        if (FN(_io_info)(i, &in) != NNRT_OK || in.dtype != NNRT_F64) continue;
        double err = input_grad_err(m, io, in.name, bufs[i], in.numel);
        if (err < 0) continue;
        printf("  input %s: max rel err %.1e%s\n", in.name, err, err < TOL ? "" : "  <-- FAIL");
        failed |= !(err < TOL);
    }
#else
    (void)m, (void)io, (void)bufs, (void)nio;
#endif
    return failed;
}

static void shape_str(const nnrt_tensor_info *in, char *buf, size_t n) {
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < in->rank && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", d ? ", " : "", (long long)in->shape[d]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

int main(int argc, char **argv) {
    long seed = 1, classes = -1, ntargets = -1;
    double lo = -1, hi = 1;
    int verbose = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--seed") && i + 1 < argc) {
            if (!parse_long(argv[++i], &seed)) return usage("--seed wants an integer");
        } else if (!strcmp(a, "--range") && i + 2 < argc) {
            if (!parse_double(argv[i + 1], &lo) || !parse_double(argv[i + 2], &hi) || !(lo < hi))
                return usage("--range wants two numbers LO < HI");
            i += 2;
        } else if (!strcmp(a, "--classes") && i + 1 < argc) {
            if (!parse_long(argv[++i], &classes) || classes < 1) return usage("--classes wants an integer >= 1");
        } else if (!strcmp(a, "--targets") && i + 1 < argc) {
            if (!parse_long(argv[++i], &ntargets) || ntargets < 0) return usage("--targets wants an integer >= 0");
        } else if (!strcmp(a, "--train-mode")) {
            train_mode = 1;
        } else if (!strcmp(a, "--frozen") && i + 1 < argc) {
            if (nfrozen == MAX_STATE) return usage("too many --frozen names");
            frozen_names[nfrozen++] = argv[++i];
        } else if (!strcmp(a, "--state") && i + 1 < argc) {
            if (nstate == MAX_STATE) return usage("too many --state names");
            state_names[nstate++] = argv[++i];
        } else if (!strcmp(a, "-v")) {
            verbose = 1;
        } else {
            return usage("unknown or incomplete argument");
        }
    }

    /* ---- the model and its io tensors --------------------------------- */
    /* The counts come from the _info functions: the header's macros carry
     * the prefix in upper case, which the preprocessor cannot spell. */
    nnrt_tensor_info info;
    int nio = 0, nparams = 0;
    while (nio <= MAX_IO && FN(_io_info)(nio, &info) == NNRT_OK) nio++;
    while (nparams <= MAX_PARAMS && FN(_param_info)(nparams, &info) == NNRT_OK) nparams++;
    if (nio > MAX_IO || nparams > MAX_PARAMS) return usage("too many io tensors or parameters for the harness");
    if (ntargets < 0) ntargets = nio > 0 ? 1 : 0;
    if (ntargets > nio) return usage("--targets is more than the model's io tensors");

    MODEL *m = FN(_create)((uint64_t)seed);
    if (!m) return usage("_create failed (out of memory)");
    rng_state = 0x6772616463686B00ull ^ (uint64_t)seed; /* "gradchk\0" */

    void *bufs[MAX_IO + 1] = {0};
    const void *io[MAX_IO + 1] = {0};
    for (int i = 0; i < nio; i++) {
        nnrt_tensor_info in;
        if (FN(_io_info)(i, &in) != NNRT_OK) return usage("_io_info failed");
        int target = i >= nio - ntargets;
        size_t n = in.numel ? in.numel : 1;
        if (in.dtype == NNRT_F64) {
            double *x = malloc(sizeof(double) * n);
            if (!x) return usage("out of memory");
            for (size_t j = 0; j < n; j++)
                x[j] = target ? 0.05 + 0.9 * rng_u01() : lo + (hi - lo) * rng_u01();
            bufs[i] = x;
        } else if (in.dtype == NNRT_I32) {
            if (classes < 1) {
                fprintf(stderr, "%s: io tensor '%s' is i32: give --classes C\n", model_name, in.name);
                return 2;
            }
            int32_t *x = malloc(sizeof(int32_t) * n);
            if (!x) return usage("out of memory");
            for (size_t j = 0; j < n; j++) x[j] = (int32_t)(rng_next() % (uint64_t)classes);
            bufs[i] = x;
        } else {
            fprintf(stderr, "%s: io tensor '%s' has dtype %d; compile the model with --dtype f64\n", model_name,
                    in.name, in.dtype);
            return 2;
        }
        io[i] = bufs[i];
    }

    /* ---- the analytic gradient and the loss checks ---------------------- */
    size_t np = 0, ng = 0;
    double *p = FN(_params)(m, &np);
    double *g0 = FN(_grads)(m, &ng);
    if (!p || !g0 || np != ng) return usage("_params and _grads disagree");
    double *ga = malloc(sizeof(double) * (np ? np : 1));
    snapshot = malloc(sizeof(double) * (np ? np : 1));
    if (!ga || !snapshot) return usage("out of memory");
    model_seed = (uint64_t)seed;

    int failed = 0;
    double loss_fb = 0, loss_fb2 = 0;
    int st = forward_backward(m, io, &loss_fb);
    if (st != NNRT_OK) {
        fprintf(stderr, "%s: _forward_backward_v failed: %s (%s)\n", model_name, FN(_status_str)(st), FN(_last_error)(m));
        return 2;
    }
    memcpy(ga, g0, sizeof(double) * np);
    const double loss0 = loss_of(m, io);
    if (!isfinite(loss_fb)) {
        printf("%s: FAIL loss is not finite (%g)\n", model_name, loss_fb);
        failed = 1;
    }
    if (memcmp(&loss0, &loss_fb, sizeof loss0) != 0) {
        printf("%s: FAIL _loss_v gives %.17g but _forward_backward_v gives %.17g\n", model_name, loss0, loss_fb);
        failed = 1;
    }
    if (train_mode) { /* the inference loss is another function, but must run */
        double lv = 0;
        st = FN(_loss_v)(m, io, &lv);
        if (st != NNRT_OK || !isfinite(lv)) {
            printf("%s: FAIL _loss_v (inference) gives %g, status %s\n", model_name, lv, FN(_status_str)(st));
            failed = 1;
        }
    }
    /* The gradients are overwritten on every call, not accumulated. */
    memset(g0, 0xA5, sizeof(double) * np); /* garbage, to catch a slot that is never written */
    st = forward_backward(m, io, &loss_fb2);
    int same = st == NNRT_OK && memcmp(&loss_fb2, &loss_fb, sizeof loss_fb) == 0;
    for (int i = 0; i < nparams && same; i++) { /* the padding between parameters is not written */
        if (FN(_param_info)(i, &info) != NNRT_OK || info.offset + info.numel > np) return usage("_param_info is out of range");
        same = memcmp(g0 + info.offset, ga + info.offset, sizeof(double) * info.numel) == 0;
    }
    if (!same) {
        printf("%s: FAIL a second _forward_backward_v does not reproduce the loss and gradients bitwise\n", model_name);
        failed = 1;
    }
    if (verbose) printf("%s: loss %.17g\n", model_name, loss0);

    /* ---- central differences ------------------------------------------ */
    double max_rel = 0, max_abs = 0;
    long checked = 0;
    for (int i = 0; i < nparams; i++) {
        nnrt_tensor_info in;
        if (FN(_param_info)(i, &in) != NNRT_OK) return usage("_param_info failed");
        if (in_list(frozen_names, nfrozen, in.name)) {
            failed |= !frozen_ok(&in, ga);
            continue;
        }
        char shape[128];
        shape_str(&in, shape, sizeof shape);
        size_t n = in.numel, k = n < MAX_SAMPLES ? n : MAX_SAMPLES;
        /* Evenly spread samples with a seed-dependent phase; distinct
         * because the stride n / k is at least 1. */
        size_t phase = (size_t)((uint64_t)seed % k);
        double prel = 0, pabs = 0;
        size_t worst = 0, nonzero = 0;
        double worst_a = 0, worst_n = 0;
        for (size_t s = 0; s < k; s++) {
            size_t j = n == k ? s : ((s * n) + phase * (n / k)) / k;
            if (j >= n) j = n - 1;
            double *x = &p[in.offset + j];
            const double x0 = *x, h = H * fmax(1.0, fabs(x0));
            const double xp = x0 + h, xm = x0 - h;
            *x = xp;
            const double lp = loss_of(m, io);
            *x = xm;
            const double lm = loss_of(m, io);
            *x = x0;
            const double num = (lp - lm) / (xp - xm); /* the step actually taken */
            const double a = ga[in.offset + j];
            const double abs_err = fabs(a - num);
            const double rel = abs_err / fmax(fabs(a) + fabs(num), FLOOR);
            if (!(rel <= prel) || (rel != rel)) {
                prel = rel == rel ? rel : INFINITY;
                worst = j, worst_a = a, worst_n = num;
            }
            if (abs_err > pabs || abs_err != abs_err) pabs = abs_err == abs_err ? abs_err : INFINITY;
            if (num != 0 || a != 0) nonzero++;
            if (verbose)
                printf("  %s[%zu] = %.6g: analytic %.12e numeric %.12e rel %.2e\n", in.name, j, x0, a, num, rel);
        }
        checked += (long)k;
        int ok = prel < TOL;
        printf("  %s %s: %zu of %zu elements, max rel err %.1e, max abs err %.1e%s\n", in.name, shape, k, n, prel,
               pabs, ok ? "" : "  <-- FAIL");
        if (!ok) {
            printf("    worst %s[%zu]: analytic %.12e numeric %.12e\n", in.name, worst, worst_a, worst_n);
            failed = 1;
        }
        if (is_state(in.name)) {
            if (nonzero) {
                printf("    %s: a state buffer, but some gradient element is nonzero\n", in.name);
                failed = 1;
            }
        } else if (!nonzero) {
            printf("    %s: every checked gradient element is zero: the loss does not exercise this parameter\n", in.name);
            failed = 1;
        }
        if (prel > max_rel) max_rel = prel;
        if (pabs > max_abs) max_abs = pabs;
    }
    failed |= check_input_grads(m, io, bufs, nio);
    /* P_loss_v after all the perturbations: the parameters are restored. */
    const double loss1 = loss_of(m, io);
    if (memcmp(&loss1, &loss0, sizeof loss0) != 0) {
        printf("%s: FAIL the loss changed after the check (%.17g, was %.17g)\n", model_name, loss1, loss0);
        failed = 1;
    }

    printf("%s: max rel err %.1e over %ld elements (max abs err %.1e, loss %.6g)%s\n", model_name, max_rel, checked,
           max_abs, loss0, failed ? " FAILED" : "");
    for (int i = 0; i < nio; i++) free(bufs[i]);
    free(ga);
    free(snapshot);
    FN(_free)(m);
    return failed ? 1 : 0;
}
