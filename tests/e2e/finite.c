/* finite.c — NaN and infinity in the generated C API (examples/xor.nn
 * compiled by tests/e2e/run.sh): _set_lr refuses rates that are not finite
 * and >= 0 (0 is allowed and moves no parameter), _check_finite names the
 * first bad tensor, and a _train_step whose loss is not finite returns
 * NNRT_ERR_NONFINITE and changes nothing. One PASS/FAIL line per check. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "xor.h"

static int failures;

static void check(int ok, const char *what, const xor *m) {
    printf("%s e2e finite: %s", ok ? "PASS" : "FAIL", what);
    if (!ok) printf(" (last error: %s)", xor_last_error(m)), failures++;
    printf("\n");
}

static const float x[XOR_X_SIZE] = {0, 0, 0, 1, 1, 0, 1, 1};
static const float y[XOR_Y_SIZE] = {0, 1, 1, 0};

static void learning_rates(xor *m) {
    const double bad[] = {INFINITY, -INFINITY, NAN, -1, -1e-300, 1e39, DBL_MAX};
    int all = 1;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        all &= xor_set_lr(m, bad[i]) == NNRT_ERR_ARG && xor_get_lr(m) == 0.5;
    check(all, "set_lr(inf, -inf, nan, -1, -1e-300, 1e39 (over FLT_MAX), DBL_MAX) is NNRT_ERR_ARG, lr unchanged", m);
    check(strstr(xor_last_error(m), "set_lr: ") != NULL, "set_lr's refusal is in last_error", m);
    check(xor_set_lr(NULL, 0.1) == NNRT_ERR_ARG, "set_lr(NULL, ...) is NNRT_ERR_ARG", m);

    size_t n;
    float before[XOR_PARAM_ELEMS], loss;
    memcpy(before, xor_params(m, &n), sizeof before);
    int st = xor_set_lr(m, 0);
    check(st == NNRT_OK && xor_get_lr(m) == 0, "set_lr(0) is allowed", m);
    st = xor_train_step(m, x, y, &loss);
    check(st == NNRT_OK && !memcmp(before, xor_params(m, NULL), sizeof before), "a step at lr 0 moves no parameter", m);
    check(xor_set_lr(m, 0.5) == NNRT_OK, "set_lr(0.5) again", m);
}

static void checks(xor *m) {
    nnrt_tensor_info pw;
    xor_param_info(2, &pw); /* p.weight */
    check(xor_check_finite(m, XOR_CHECK_PARAMS | XOR_CHECK_GRADS | XOR_CHECK_LOSS) == NNRT_OK,
          "a fresh model is finite", m);
    check(xor_check_finite(m, 8) == NNRT_ERR_ARG && xor_check_finite(NULL, 1) == NNRT_ERR_ARG,
          "check_finite: unknown bits and NULL are NNRT_ERR_ARG", m);
    float *p = xor_params(m, NULL);
    p[pw.offset + 1] = NAN;
    check(xor_check_finite(m, XOR_CHECK_PARAMS) == NNRT_ERR_NONFINITE &&
              !strcmp(xor_last_error(m), "parameter p.weight: 1 of 4 values are not finite, the first [1] = nan"),
          "a NaN weight: check_finite names it", m);
    check(xor_check_finite(m, XOR_CHECK_GRADS | XOR_CHECK_LOSS) == NNRT_OK, "the gradients and loss are still finite",
          m);
    float loss = 0;
    check(xor_forward_backward(m, x, y, &loss) == NNRT_OK && isnan(loss),
          "forward_backward computes (a NaN loss) and returns NNRT_OK", m);
    check(xor_check_finite(m, XOR_CHECK_GRADS) == NNRT_ERR_NONFINITE &&
              !strncmp(xor_last_error(m), "gradient of h.weight: ", 22),
          "check_finite names the first NaN gradient", m);
    check(xor_check_finite(m, XOR_CHECK_LOSS) == NNRT_ERR_NONFINITE &&
              !strncmp(xor_last_error(m), "the last loss is ", 17) && strstr(xor_last_error(m), "nan"),
          "check_finite: the last loss", m);
    p[pw.offset + 1] = -INFINITY;
    check(xor_check_finite(m, XOR_CHECK_PARAMS) == NNRT_ERR_NONFINITE && strstr(xor_last_error(m), "[1] = -inf"),
          "an infinite weight too", m);
}

/* A NaN input: no update, and the next good step is the same as a fresh
 * model's first (no parameter, momentum or step count moved). */
static void nan_step(void) {
    xor *a = xor_create(7), *b = xor_create(7);
    float bad[XOR_X_SIZE], before[XOR_PARAM_ELEMS], la = 0, lb = 0;
    memcpy(bad, x, sizeof bad);
    bad[3] = NAN;
    memcpy(before, xor_params(a, NULL), sizeof before);
    int st = xor_train_step(a, bad, y, &la);
    check(st == NNRT_ERR_NONFINITE && isnan(la), "train_step on a NaN input is NNRT_ERR_NONFINITE, loss NaN", a);
    check(!strncmp(xor_last_error(a), "train_step: the loss is ", 24) &&
              strstr(xor_last_error(a), "nan at step 1; nothing was updated"),
          "its message names the step", a);
    check(!memcmp(before, xor_params(a, NULL), sizeof before), "the parameters are unchanged", a);
    st = xor_train_step(a, x, y, &la) | xor_train_step(b, x, y, &lb);
    check(st == NNRT_OK && la == lb && !memcmp(xor_params(a, NULL), xor_params(b, NULL), sizeof before),
          "the next step matches a fresh model's first, bit for bit", a);
    check(!strcmp(xor_status_str(NNRT_ERR_NONFINITE), "non-finite value"), "status_str names the code", a);
    xor_free(a), xor_free(b);
}

int main(void) {
    xor *m = xor_create(1);
    if (!m) return 1;
    learning_rates(m);
    checks(m);
    xor_free(m);
    nan_step();
    return failures != 0;
}
