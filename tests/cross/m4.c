/* m4.c — a bare-metal Cortex-M4 image around a `--freestanding --weights`
 * model named net (tests/cross/run.sh links it with m4.ld and the core
 * runtime, then prints its flash and RAM sizes). No C library start-up, no
 * heap, no stdio: the reset handler copies .data, clears .bss and runs one
 * forward pass on a made-up image; the class ends in `result`. */
#include <stdint.h>

#include "net.h"

extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[], __stack_top[];
void reset(void);

/* the vector table: the initial stack pointer, then the reset handler */
__attribute__((section(".vectors"), used)) static const uintptr_t vectors[2] = {(uintptr_t)__stack_top,
                                                                                 (uintptr_t)reset};

static unsigned char block[NET_ARENA_BYTES] __attribute__((aligned(64)));
static float image[NET_IMAGE_SIZE], probs[NET_PROBS_SIZE];
volatile int result;

static int classify(void) {
    net *m = 0;
    for (int k = 0; k < NET_IMAGE_SIZE; k++) image[k] = (float)((k * 7) % 23) / 23.0f;
    if (net_init(&m, block, sizeof block, 0) != NNRT_OK || net_forward(m, image, probs) != NNRT_OK) return -1;
    int best = 0;
    for (int c = 1; c < NET_PROBS_SIZE; c++)
        if (probs[c] > probs[best]) best = c;
    return best;
}

void reset(void) {
    for (uint32_t *s = __data_load, *d = __data_start; d < __data_end;) *d++ = *s++;
    for (uint32_t *d = __bss_start; d < __bss_end;) *d++ = 0;
    result = classify();
    for (;;) {
    }
}
