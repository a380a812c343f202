/* train.cpp — tests/cudaemu/train.sh's harness: the whole CUDA model
 * (prefix cu, run by the CPU emulation of mock/) against the C target's
 * (prefix cc) of the same model, on the same batches, through the learning-
 * rate schedule and gradient clipping of tests/cudaemu/sched_clip.nn, then a
 * schedule with clipping by value and one without clipping set at run time:
 * per step the rate (cu_lr, exact: both compute it on the host), the loss
 * and the gradient norm (cu_grad_norm), and the parameters after every
 * step. REAL is float or double (the models' dtype); TOL the tolerance of
 * max |c - cuda| / (1 + |c|). Prints one line per phase and the worst
 * error; exits 1 on a mismatch.
 */
#include "cc.h"
#include "cu.h"

#include <math.h>
#include <stdio.h>

struct result {
    double lr, loss, norm, params;
    int clipped;
};

static double rel(double c, double g) { return fabs(c - g) / (1 + fabs(c)); }
static double worst(double a, double b) { return b != b ? INFINITY : b > a ? b : a; }

/* A batch from a fixed linear congruential sequence. */
static void batch(uint64_t *s, REAL *x, int32_t *y) {
    for (int i = 0; i < CC_X_SIZE; i++) {
        *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (REAL)((double)(*s >> 11) / 9007199254740992.0 * 4 - 2);
    }
    for (int i = 0; i < CC_Y_SIZE; i++) y[i] = (int32_t)((*s >> (20 + 3 * i)) % 3);
}

static double param_err(cu *g, cc *c) {
    static REAL host[CC_PARAM_ELEMS];
    size_t n = 0;
    const REAL *p = cc_params(c, &n);
    double e = cu_read_params(g, host) == NNRT_OK ? 0 : INFINITY;
    for (size_t i = 0; i < n; i++) e = worst(e, rel(p[i], host[i]));
    return e;
}

/* steps train steps on both; the worst errors into r. */
static int run(cu *g, cc *c, uint64_t *seed, int steps, double clip_norm, result *r) {
    REAL x[CC_X_SIZE], lg = 0, lc = 0;
    int32_t y[CC_Y_SIZE];
    for (int t = 0; t < steps; t++) {
        r->lr = worst(r->lr, fabs(cu_lr(g) - cc_lr(c)));
        batch(seed, x, y);
        if (cu_train_step(g, x, y, &lg) != NNRT_OK || cc_train_step(c, x, y, &lc) != NNRT_OK) {
            printf("FAIL step %d: %s / %s\n", t, cu_last_error(g), cc_last_error(c));
            return 1;
        }
        r->loss = worst(r->loss, rel(lc, lg));
        const double nc = cc_grad_norm(c);
        r->norm = worst(r->norm, rel(nc, cu_grad_norm(g)));
        r->clipped += clip_norm > 0 && nc > clip_norm;
        r->params = worst(r->params, param_err(g, c));
    }
    return 0;
}

static int report(const char *what, const result *r, double tol) {
    int ok = r->lr == 0 && r->loss <= tol && r->norm <= tol && r->params <= tol;
    printf("%s %s: lr %.3g, loss %.3g, grad norm %.3g, parameters %.3g (tolerance %g), %d steps clipped by norm\n",
           ok ? "OK" : "FAIL", what, r->lr, r->loss, r->norm, r->params, tol, r->clipped);
    return !ok;
}

static int set_both(cu *g, cc *c, const nnrt_sched *s) {
    return cu_set_schedule(g, s) != NNRT_OK || cc_set_schedule(c, s) != NNRT_OK;
}

int main(void) {
    cu *g = cu_create(7);
    cc *c = cc_create(7);
    uint64_t seed = 1;
    int bad = !g || !c;
    result a = {0, 0, 0, 0, 0}, b = a, n = a;
    nnrt_sched s;
    if (bad || cc_get_schedule(c, &s) != NNRT_OK) return printf("FAIL create\n"), 1;
    bad |= run(g, c, &seed, 8, s.clip_norm, &a) || report("cosine schedule, clip_norm", &a, TOL);
    if (a.clipped == 0) bad = 1, printf("FAIL no step was clipped: the test does not test clipping\n");
    nnrt_sched_default(&s, NNRT_SCHED_STEP);
    s.step_size = 2, s.gamma = 0.5, s.clip_value = 0.01;
    bad |= set_both(g, c, &s) || run(g, c, &seed, 4, 0, &b) || report("step schedule, clip_value", &b, TOL);
    nnrt_sched_default(&s, NNRT_SCHED_EXPONENTIAL);
    s.gamma = 0.9;
    bad |= set_both(g, c, &s);
    REAL x[CC_X_SIZE], lg, lc;
    int32_t y[CC_Y_SIZE];
    batch(&seed, x, y);
    bad |= cu_forward_backward(g, x, y, &lg) != NNRT_OK || cc_forward_backward(c, x, y, &lc) != NNRT_OK;
    n.norm = rel(cc_grad_norm(c), cu_grad_norm(g)); /* from the gradient buffer: no update clipped it */
    bad |= cu_update(g) != NNRT_OK || cc_update(c) != NNRT_OK;
    n.params = param_err(g, c);
    bad |= run(g, c, &seed, 2, 0, &n) || report("exponential, no clipping; the norm of _forward_backward", &n, TOL);
    s.clip_norm = 1, s.clip_value = 1;
    if (cu_set_schedule(g, &s) != NNRT_ERR_ARG) bad = 1, printf("FAIL cu_set_schedule took both clippings\n");
    cu_free(g);
    cc_free(c);
    printf("%s\n", bad ? "FAIL" : "PASS");
    return bad;
}
