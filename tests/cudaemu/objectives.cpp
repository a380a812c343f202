/* objectives.cpp — tests/cudaemu/train.sh's harness for a model with
 * several objectives in one file (tests/parity/gan.nn without --objective):
 * the CUDA build (prefix cu, run by the CPU emulation of mock/; its parts
 * share one device buffer through cu_g_loss_bind_params) against the C
 * build (prefix cc) on the same batches: 30 rounds of a d_loss step and a
 * g_loss step, then 5 of cu_train_step (both in turn); per step the loss
 * and every parameter. REAL is the models' dtype; TOL the tolerance of
 * max |c - cuda| / (1 + |c|). Prints one line; exits 1 on a mismatch.
 */
#include "cc.h"
#include "cu.h"

#include <math.h>
#include <stdio.h>

static double rel(double c, double g) { return fabs(c - g) / (1 + fabs(c)); }
static double worst(double a, double b) { return b != b ? INFINITY : b > a ? b : a; }

static void batch(uint64_t *s, REAL *real, REAL *z) {
    for (int i = 0; i < CC_D_LOSS_REAL_SIZE + CC_D_LOSS_Z_SIZE; i++) {
        *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
        REAL v = (REAL)((double)(*s >> 11) / 9007199254740992.0 * 2 - 1);
        if (i < CC_D_LOSS_REAL_SIZE) real[i] = v;
        else z[i - CC_D_LOSS_REAL_SIZE] = v;
    }
}

static double param_err(cu *g, cc *c) {
    static REAL host[CC_PARAM_ELEMS];
    const REAL *p = cc_params(c, NULL);
    double e = cu_d_loss_read_params(cu_objective_d_loss(g), host) == NNRT_OK ? 0 : INFINITY;
    for (size_t i = 0; i < CC_PARAM_ELEMS; i++) e = worst(e, rel(p[i], host[i]));
    return e;
}

/* One step of objective k (2: both) on both builds; the worst errors. */
static int step(cu *g, cc *c, int k, const REAL *real, const REAL *z, double *loss, double *params) {
    static const REAL ones[4] = {1, 1, 1, 1}, zeros[4] = {0, 0, 0, 0};
    REAL lg = 0, lc = 0;
    int sg = k == 0   ? cu_train_step_d_loss(g, real, z, ones, zeros, &lg)
             : k == 1 ? cu_train_step_g_loss(g, real, z, ones, zeros, &lg)
                      : cu_train_step(g, real, z, ones, zeros, &lg);
    int sc = k == 0   ? cc_train_step_d_loss(c, real, z, ones, zeros, &lc)
             : k == 1 ? cc_train_step_g_loss(c, real, z, ones, zeros, &lc)
                      : cc_train_step(c, real, z, ones, zeros, &lc);
    if (sg != NNRT_OK || sc != NNRT_OK)
        return printf("FAIL objective %d: %s / %s\n", k, cu_last_error(g), cc_last_error(c)), 1;
    *loss = worst(*loss, rel(lc, lg));
    *params = worst(*params, param_err(g, c));
    return 0;
}

int main(void) {
    cu *g = cu_create(5);
    cc *c = cc_create(5);
    if (!g || !c) return printf("FAIL create\n"), 1;
    REAL real[CC_D_LOSS_REAL_SIZE], z[CC_D_LOSS_Z_SIZE];
    uint64_t s = 1;
    double loss = 0, params = param_err(g, c);
    for (int r = 0; r < 35; r++) {
        batch(&s, real, z);
        if (r < 30 ? step(g, c, 0, real, z, &loss, &params) || step(g, c, 1, real, z, &loss, &params)
                   : step(g, c, 2, real, z, &loss, &params))
            return 1;
    }
    int ok = loss <= TOL && params <= TOL;
    printf("%s 35 rounds of d_loss and g_loss steps: loss %.3g, parameters %.3g (tolerance %g)\n", ok ? "OK" : "FAIL",
           loss, params, (double)TOL);
    cu_free(g);
    cc_free(c);
    return !ok;
}
