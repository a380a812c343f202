/* api.c — the CUDA target's API on a GPU (tests/gpu/run.sh), against
 * examples/digits_mlp.nn compiled with --target cuda --name net:
 * host and device entry points agree bitwise, graph replays are
 * deterministic, labels out of range are reported on both paths, save and
 * load round-trip, a CUDA failure names the call, and NaN or infinity:
 * set_lr refuses it, check_finite finds it, a NaN loss updates nothing. */
#include <cuda_runtime_api.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

static int failures;
#define CHECK(cond, ...) \
    do { \
        if (cond) printf("PASS gpu-api %s\n", #cond); \
        else { \
            printf("FAIL gpu-api %s: ", #cond); \
            printf(__VA_ARGS__); \
            printf("\n"); \
            failures++; \
        } \
    } while (0)

static float x[NET_IMAGE_SIZE];
static int32_t y[NET_DIGIT_SIZE];

static void batch(int k) {
    nnrt_fill_uniform_f32(x, NET_IMAGE_SIZE, 0, 1, 11, (uint64_t)k);
    for (int i = 0; i < NET_DIGIT_SIZE; i++) y[i] = (int32_t)((i * 3 + k) % 10);
}

int main(void) {
    net *a = net_create(5), *b = net_create(5);
    if (!a || !b) return printf("FAIL gpu-api: cannot create the model (no GPU?)\n"), 1;
    float *dx, *dloss;
    int32_t *dy;
    cudaStream_t s;
    if (cudaMalloc((void **)&dx, sizeof x) || cudaMalloc((void **)&dy, sizeof y) || cudaMalloc((void **)&dloss, 4) ||
        cudaStreamCreate(&s))
        return printf("FAIL gpu-api: cudaMalloc\n"), 1;
    /* 6 steps: eager, captured, then replays; a on host pointers, b on the device ones */
    float la[6], lb[6];
    int sta = 0, stb = 0;
    for (int k = 0; k < 6; k++) {
        batch(k);
        sta |= net_train_step(a, x, y, &la[k]);
        cudaMemcpy(dx, x, sizeof x, cudaMemcpyHostToDevice);
        cudaMemcpy(dy, y, sizeof y, cudaMemcpyHostToDevice);
        stb |= net_train_step_dev(b, s, dx, dy, dloss);
        stb |= net_sync(b);
        cudaMemcpy(&lb[k], dloss, 4, cudaMemcpyDeviceToHost);
    }
    CHECK(sta == NNRT_OK && stb == NNRT_OK, "status %d %d: %s %s", sta, stb, net_last_error(a), net_last_error(b));
    CHECK(!memcmp(la, lb, sizeof la), "losses differ: %g vs %g", (double)la[5], (double)lb[5]);
    CHECK(la[5] < la[0], "loss did not fall: %g -> %g", (double)la[0], (double)la[5]);
    float *pa = malloc(sizeof(float) * NET_PARAM_ELEMS), *pb = malloc(sizeof(float) * NET_PARAM_ELEMS);
    net_read_params(a, pa);
    net_read_params(b, pb);
    CHECK(!memcmp(pa, pb, sizeof(float) * NET_PARAM_ELEMS), "parameters differ after 6 steps");

    /* forward_backward + update is the same step as train_step */
    net *c = net_create(5);
    float lc = 0;
    int stc = 0;
    for (int k = 0; k < 6; k++) {
        batch(k);
        stc |= net_forward_backward(c, x, y, &lc);
        stc |= net_update(c);
    }
    float *pc = malloc(sizeof(float) * NET_PARAM_ELEMS);
    stc |= net_read_params(c, pc);
    CHECK(stc == NNRT_OK && !memcmp(pa, pc, sizeof(float) * NET_PARAM_ELEMS), "forward_backward + update differs from train_step");

    /* labels out of range */
    batch(0);
    y[3] = 10;
    float l = 0;
    int st = net_train_step(a, x, y, &l);
    CHECK(st == NNRT_ERR_RANGE && strstr(net_last_error(a), "digit 10 at index 3"), "host path: %d %s", st, net_last_error(a));
    cudaMemcpy(dy, y, sizeof y, cudaMemcpyHostToDevice);
    st = net_forward_backward_dev(b, s, dx, dy, dloss);
    int st2 = net_sync(b);
    CHECK(st == NNRT_OK && st2 == NNRT_ERR_RANGE && strstr(net_last_error(b), "digit 10 at index 3"), "device path: %d %d %s", st,
          st2, net_last_error(b));
    CHECK(net_sync(b) == NNRT_OK, "the error is reported once");

    /* save and load */
    CHECK(net_save(a, "build/gpu-test/net.safetensors") == NNRT_OK, "%s", net_last_error(a));
    net *d = net_create(99);
    CHECK(d && net_load(d, "build/gpu-test/net.safetensors") == NNRT_OK, "%s", d ? net_last_error(d) : "");
    float *pd = malloc(sizeof(float) * NET_PARAM_ELEMS);
    net_read_params(d, pd);
    CHECK(!memcmp(pa, pd, sizeof(float) * NET_PARAM_ELEMS), "loaded parameters differ");

    /* a CUDA failure names the call: a device pointer that is not one */
    st = net_forward_dev(a, s, (const float *)(void *)16, NULL);
    if (st == NNRT_OK) st = net_sync(a);
    CHECK(st == NNRT_ERR_CUDA && strstr(net_last_error(a), "copy of image"), "%d %s", st, net_last_error(a));

    /* NaN and infinity, on c (trained 6 steps, parameters in pc) */
    st = (net_set_lr(c, NAN) == NNRT_ERR_ARG) + (net_set_lr(c, INFINITY) == NNRT_ERR_ARG) +
         (net_set_lr(c, -1) == NNRT_ERR_ARG);
    CHECK(st == 3, "set_lr takes a rate that is not finite and >= 0 (%d of 3 refused)", st);
    CHECK(net_check_finite(c, NET_CHECK_PARAMS | NET_CHECK_GRADS | NET_CHECK_LOSS) == NNRT_OK, "%s", net_last_error(c));
    batch(1);
    x[5] = NAN;
    st = net_train_step(c, x, y, &l);
    CHECK(st == NNRT_ERR_NONFINITE && isnan(l) && strstr(net_last_error(c), "the loss is"), "host NaN step: %d %g %s",
          st, (double)l, net_last_error(c));
    net_read_params(c, pd);
    CHECK(!memcmp(pc, pd, sizeof(float) * NET_PARAM_ELEMS), "a NaN loss changed the parameters (host path)");
    CHECK(net_check_finite(c, NET_CHECK_LOSS) == NNRT_ERR_NONFINITE && strstr(net_last_error(c), "the last loss is"),
          "%s", net_last_error(c));
    CHECK(net_check_finite(c, NET_CHECK_GRADS) == NNRT_ERR_NONFINITE && strstr(net_last_error(c), "gradient of "), "%s",
          net_last_error(c));
    cudaMemcpy(dx, x, sizeof x, cudaMemcpyHostToDevice);
    cudaMemcpy(dy, y, sizeof y, cudaMemcpyHostToDevice);
    st = net_train_step_dev(c, s, dx, dy, dloss);
    st2 = net_sync(c);
    net_read_params(c, pd);
    CHECK(st == NNRT_OK && st2 == NNRT_OK && !memcmp(pc, pd, sizeof(float) * NET_PARAM_ELEMS),
          "a NaN loss changed the parameters (device path): %d %d", st, st2);
    batch(1);
    CHECK(net_train_step(c, x, y, &l) == NNRT_OK && !isnan(l), "a good step after the NaN ones: %s", net_last_error(c));
    nnrt_tensor_info first;
    net_param_info(0, &first);
    net_read_params(c, pd);
    pd[first.offset + 2] = -INFINITY;
    net_write_params(c, pd);
    CHECK(net_check_finite(c, NET_CHECK_PARAMS) == NNRT_ERR_NONFINITE && strstr(net_last_error(c), first.name) &&
              strstr(net_last_error(c), "[2] = -inf"),
          "%s", net_last_error(c));

    net_free(a);
    net_free(b);
    net_free(c);
    net_free(d);
    printf("%d failures\n", failures);
    return failures != 0;
}
