/* sched_api.c — the schedule and clipping API of the generated C code
 * (examples/xor.nn compiled by tests/e2e/run.sh): _set_schedule checks what
 * it installs, _lr follows the schedule with the step count while _get_lr
 * stays the base rate (which _set_lr scales), _reset restores the train
 * statement's, and _grad_norm is the norm of the last update's gradients
 * before clipping. One PASS/FAIL line per check. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "xor.h"

static int failures;

static void check(int ok, const char *what, const xor *m) {
    printf("%s e2e sched_api: %s", ok ? "PASS" : "FAIL", what);
    if (!ok) printf(" (last error: %s)", xor_last_error(m)), failures++;
    printf("\n");
}

static const float x[XOR_X_SIZE] = {0, 0, 0, 1, 1, 0, 1, 1};
static const float y[XOR_Y_SIZE] = {0, 1, 1, 0};

static double norm_of(xor *m) {
    size_t n;
    const float *g = xor_grads(m, &n);
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (double)g[i] * g[i];
    return sqrt(ss);
}

static void refusals(xor *m) {
    nnrt_sched s, now;
    nnrt_sched_default(&s, NNRT_SCHED_COSINE);
    s.warmup = 10, s.total = 10;
    check(xor_set_schedule(m, &s) == NNRT_ERR_ARG && strstr(xor_last_error(m), "warmup (10 steps)"),
          "set_schedule refuses warmup >= total, saying why", m);
    nnrt_sched_default(&s, NNRT_SCHED_CONSTANT);
    s.clip_norm = -1;
    check(xor_set_schedule(m, &s) == NNRT_ERR_ARG, "set_schedule refuses clip_norm < 0", m);
    s.clip_norm = 1, s.clip_value = 1;
    check(xor_set_schedule(m, &s) == NNRT_ERR_ARG, "set_schedule refuses clipping by norm and value", m);
    check(xor_get_schedule(m, &now) == NNRT_OK && now.kind == NNRT_SCHED_CONSTANT && now.clip_norm == 0,
          "a refused schedule changes nothing", m);
    check(xor_set_schedule(NULL, &s) == NNRT_ERR_ARG && xor_set_schedule(m, NULL) == NNRT_ERR_ARG,
          "set_schedule(NULL) is NNRT_ERR_ARG", m);
}

static void rates(xor *m) {
    nnrt_sched s;
    nnrt_sched_default(&s, NNRT_SCHED_STEP);
    s.step_size = 2, s.gamma = 0.5;
    int ok = xor_set_schedule(m, &s) == NNRT_OK && xor_lr(m) == 0.5;
    for (int k = 0; k < 4; k++) ok &= xor_train_step(m, x, y, NULL) == NNRT_OK;
    check(ok && xor_lr(m) == 0.125 && xor_get_lr(m) == 0.5, "step schedule: lr 0.125 after 4 steps, get_lr 0.5", m);
    check(xor_set_lr(m, 0.2) == NNRT_OK && fabs(xor_lr(m) - 0.05) < 1e-15, "set_lr sets the base the schedule scales",
          m);
    check(xor_reset(m, 1) == NNRT_OK && xor_get_schedule(m, &s) == NNRT_OK && s.kind == NNRT_SCHED_CONSTANT &&
              xor_lr(m) == 0.5,
          "reset restores the train statement's schedule and rate", m);
}

static void clipping(xor *m) {
    nnrt_sched s;
    float loss;
    xor_forward_backward(m, x, y, &loss);
    double before = norm_of(m);
    check(fabs(xor_grad_norm(m) - before) <= 1e-12 * before, "grad_norm without clipping: the buffer's norm", m);
    nnrt_sched_default(&s, NNRT_SCHED_CONSTANT);
    s.clip_norm = before / 4;
    xor_set_schedule(m, &s);
    xor_update(m);
    double after = norm_of(m);
    check(xor_grad_norm(m) == xor_grad_norm(m) && fabs(xor_grad_norm(m) - before) <= 1e-12 * before,
          "grad_norm after a clipping update: the norm before clipping", m);
    check(fabs(after - before / 4) < 1e-5 * before, "clip_norm scaled the gradients to the limit", m);
}

int main(void) {
    xor *m = xor_create(1);
    if (!m) return printf("FAIL e2e sched_api: xor_create\n"), 1;
    refusals(m);
    rates(m);
    clipping(m);
    xor_free(m);
    return failures != 0;
}
