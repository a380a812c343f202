/* grad_ready.c — the generated _set_grad_ready hook (--overlap) on one
 * process, for a model compiled with `nnc --name hk` (tests/mpi/run.sh):
 * during _forward_backward each call's lo is below the last one, the last
 * is 0 when every gradient was reported, and the tail [lo, PARAM_ELEMS) it
 * reports holds, at the call, the bits it holds when _forward_backward
 * returns (no later kernel writes it); a hook set back to NULL is not called.
 * Prints one PASS/FAIL line; exit 1 on failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hk.h"

typedef struct seen {
    hk *m;
    size_t calls, last;
    int order_ok;
    unsigned char *snap; /* the gradient buffer's bytes at each call's tail */
    size_t *lo;          /* each call's lo */
} seen;

static void on_ready(void *ctx, size_t lo)
{
    seen *s = ctx;
    size_t n, e = sizeof *hk_grads(s->m, &n);
    const unsigned char *g = (const unsigned char *)hk_grads(s->m, &n);
    if (lo >= s->last || lo >= n)
        s->order_ok = 0;
    s->last = lo;
    if (s->calls < HK_NUM_PARAMS + 1) {
        memcpy(s->snap + s->calls * n * e + lo * e, g + lo * e, (n - lo) * e);
        s->lo[s->calls] = lo;
    }
    s->calls++;
}

static void *io_buffer(int i)
{
    nnrt_tensor_info t;
    size_t e;
    unsigned char *p;
    if (hk_io_info(i, &t) != NNRT_OK)
        return NULL;
    e = t.dtype == NNRT_F64 ? 8 : 4;
    if (!(p = malloc(t.numel * e)))
        return NULL;
    for (size_t k = 0; k < t.numel; k++) {
        if (t.dtype == NNRT_F64)
            ((double *)(void *)p)[k] = (double)((k * 37) % 11) / 11.0;
        else if (t.dtype == NNRT_F32)
            ((float *)(void *)p)[k] = (float)((k * 37) % 11) / 11.0f;
        else
            ((int32_t *)(void *)p)[k] = (int32_t)(k % 2); /* a valid class and token id */
    }
    return p;
}

int main(void)
{
    size_t n = 0, e = sizeof *hk_grads(NULL, &n);
    void *io[HK_NUM_IO];
    double loss_room;
    void *loss = &loss_room; /* the model's element type */
    hk *m = hk_create(1);
    seen s = {m, 0, (size_t)-1, 1, NULL, NULL};
    int ok = m != NULL, same = 1;
    if (m)
        hk_grads(m, &n);
    for (int i = 0; i < HK_NUM_IO; i++)
        ok = (io[i] = io_buffer(i)) != NULL && ok;
    s.snap = ok ? calloc((HK_NUM_PARAMS + 1) * n, e) : NULL;
    s.lo = ok ? calloc(HK_NUM_PARAMS + 1, sizeof *s.lo) : NULL;
    ok = ok && s.snap && s.lo && hk_set_grad_ready(m, on_ready, &s) == NNRT_OK;
    ok = ok && hk_forward_backward_v(m, (const void *const *)io, loss) == NNRT_OK;
    for (size_t k = 0; ok && k < s.calls && k <= HK_NUM_PARAMS; k++)
        same = same && memcmp(s.snap + k * n * e + s.lo[k] * e, (unsigned char *)hk_grads(m, &n) + s.lo[k] * e,
                              (n - s.lo[k]) * e) == 0;
    ok = ok && s.calls > 0 && s.calls <= HK_NUM_PARAMS && s.order_ok && s.last == 0 && same;
    if (ok && hk_set_grad_ready(m, NULL, NULL) == NNRT_OK) {
        size_t before = s.calls;
        ok = hk_forward_backward_v(m, (const void *const *)io, loss) == NNRT_OK && s.calls == before;
    }
    printf("%s mpi grad_ready hook of %s: %zu calls, lo decreasing to %zu, %s\n", ok ? "PASS" : "FAIL", HK_MODEL,
           s.calls, s.last, same ? "each tail final when reported" : "a tail changed after its call");
    for (int i = 0; i < HK_NUM_IO; i++)
        free(io[i]);
    free(s.snap), free(s.lo);
    hk_free(m);
    return !ok;
}
