/* freestanding.c — runs one inference build of a model named net (the
 * header net.h, found by -I) on made-up inputs and writes its outputs'
 * bytes to standard output (tests/e2e/freestanding.sh). The same program
 * is built against `--freestanding --weights` code with libnnrt_core.a
 * and against `--weights` code with libnnrt.a: the two outputs must be the
 * same bytes. The model lives in a static block (_init, no _create). */
#include <stdio.h>
#include <string.h>

#include "net.h"

#define MAX_IO 8
#define MAX_ELEMS (1 << 20)

static unsigned char block[NET_ARENA_BYTES];
static float io[MAX_IO][MAX_ELEMS], out[MAX_IO][MAX_ELEMS];

int main(void) {
    net *m = NULL;
    nnrt_tensor_info t;
    const void *in[MAX_IO];
    void *outs[MAX_IO];
    if (NET_NUM_IO > MAX_IO || NET_NUM_OUTPUTS > MAX_IO) return fprintf(stderr, "too many tensors\n"), 1;
    if (net_init(&m, block, sizeof block, 1) != NNRT_OK) return fprintf(stderr, "net_init failed\n"), 1;
    for (int i = 0; i < NET_NUM_IO; i++) {
        if (net_io_info(i, &t) != NNRT_OK || t.numel > MAX_ELEMS) return fprintf(stderr, "io %d\n", i), 1;
        for (size_t k = 0; k < t.numel; k++) io[i][k] = (float)((k * 7 + (size_t)i * 13) % 23) / 23.0f - 0.3f;
        in[i] = io[i];
    }
    for (int i = 0; i < NET_NUM_OUTPUTS; i++) outs[i] = out[i];
    if (net_forward_v(m, in, outs) != NNRT_OK) return fprintf(stderr, "forward: %s\n", net_last_error(m)), 1;
    for (int i = 0; i < NET_NUM_OUTPUTS; i++) {
        if (net_output_info(i, &t) != NNRT_OK || t.numel > MAX_ELEMS) return 1;
        if (fwrite(out[i], sizeof(float), t.numel, stdout) != t.numel) return 1;
    }
    return 0;
}
