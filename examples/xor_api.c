/* xor_api.c — using the code nnc generates for examples/xor.nn from your own
 * program, with no trainer and no malloc:
 *
 *   build/nnc examples/xor.nn -o xor.c
 *   cc -std=c99 -O2 -Iruntime -I. examples/xor_api.c xor.c build/libnnrt.a -lm
 *
 * It trains XOR in caller-provided memory, checks the predictions, saves the
 * weights, loads them into a second model and checks it predicts the same. */
#include <stdio.h>
#include <string.h>

#include "xor.h"

/* The whole model lives here: parameters, gradients, optimizer state and
 * activations. XOR_ARENA_BYTES is exact, computed by nnc's memory plan. */
static unsigned char memory[2][XOR_ARENA_BYTES];

int main(void) {
    const float x[XOR_X_SIZE] = {0, 0, 0, 1, 1, 0, 1, 1};
    const float y[XOR_Y_SIZE] = {0, 1, 1, 0};
    float p[XOR_P_SIZE], loss = 0;
    xor *m, *copy;
    int st = xor_init(&m, memory[0], sizeof memory[0], 42);
    if (st != NNRT_OK) return fprintf(stderr, "init: %s\n", xor_status_str(st)), 1;

    for (int step = 0; step < 500 && st == NNRT_OK; step++) st = xor_train_step(m, x, y, &loss);
    if (st != NNRT_OK) return fprintf(stderr, "train: %s\n", xor_status_str(st)), 1;
    xor_forward(m, x, p);
    printf("loss %.6f  p = [%.3f %.3f %.3f %.3f]\n", loss, p[0], p[1], p[2], p[3]);
    for (int i = 0; i < 4; i++)
        if ((p[i] > 0.5f) != (y[i] > 0.5f)) return fprintf(stderr, "wrong prediction %d\n", i), 1;

    /* parameters by name, as PyTorch's state_dict would list them */
    for (int i = 0; i < XOR_NUM_PARAMS; i++) {
        nnrt_tensor_info info;
        xor_param_info(i, &info);
        printf("%-10s rank %d, %zu values at offset %zu\n", info.name, info.rank, info.numel, info.offset);
    }

    if (xor_save(m, "xor_api.safetensors") != NNRT_OK) return fprintf(stderr, "%s\n", xor_last_error(m)), 1;
    xor_init(&copy, memory[1], sizeof memory[1], 7); /* different initial weights */
    if (xor_load(copy, "xor_api.safetensors") != NNRT_OK) return fprintf(stderr, "%s\n", xor_last_error(copy)), 1;
    float q[XOR_P_SIZE];
    xor_forward(copy, x, q);
    if (memcmp(p, q, sizeof p) != 0) return fprintf(stderr, "loaded model differs\n"), 1;
    printf("saved, loaded, same predictions\n");
    return 0;
}
