/* drive.c — runs one model's generated C API on pseudo-random inputs of the
 * right shapes, for the sanitizer suite (tests/asan/run.sh builds it with
 * the model, both under ASan + UBSan). The model is compiled with
 * --name net; the script passes MODEL_H (its header), ELEM (float or
 * double) and HAS_FORWARD, HAS_LOSS, HAS_TRAIN for the entry points the
 * header declares.
 *
 *   drive STEPS WEIGHTS.safetensors
 *
 * Inputs come from _io_info: floats uniform in [0, 1); int32 ids (tokens,
 * labels) spread over [0, bound), the bound read from the message of the
 * model's range check. Then: _forward, _loss, STEPS training steps
 * (_forward_backward_v + _update), _check_finite of everything, _save and
 * _load into a second model with the same parameters. One line of
 * results; exit 1 on any failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include MODEL_H

typedef struct io {
    int n;
    nnrt_tensor_info info[16];
    void *buf[16];
} io;

static uint32_t rng = 2463534242u;
static uint32_t next(void) {
    rng ^= rng << 13, rng ^= rng >> 17, rng ^= rng << 5;
    return rng;
}

static void fill(const nnrt_tensor_info *t, void *p, uint32_t k) {
    for (size_t i = 0; i < t->numel; i++) {
        if (t->dtype == NNRT_I32) ((int32_t *)p)[i] = (int32_t)(next() % k);
        else if (t->dtype == NNRT_F64) ((double *)p)[i] = (next() >> 8) / 16777216.0;
        else ((float *)p)[i] = (float)(next() >> 8) / 16777216.0f;
    }
}

/* The status of the cheapest entry point that range-checks the ids. */
static int probe(net *m, io *x) {
#if defined(HAS_LOSS)
    return net_loss_v(m, (const void *const *)x->buf, NULL);
#elif defined(HAS_FORWARD)
    return net_forward_v(m, (const void *const *)x->buf, NULL);
#else
    (void)m, (void)x;
    return NNRT_OK;
#endif
}

/* The bound of int32 input i: filled with large ids, the range check's
 * message says "... is not in [0, BOUND)"; 0 when nothing checks it. */
static long bound(net *m, io *x, int i) {
    fill(&x->info[i], x->buf[i], 1u << 30);
    if (probe(m, x) != NNRT_ERR_RANGE) return 0;
    const char *s = strstr(net_last_error(m), "is not in [0, ");
    return s ? atol(s + 14) : 0;
}

/* Allocate and fill the inputs and targets; ids over [0, bound), the
 * largest first (or 0 when unchecked). */
static int inputs(net *m, io *x) {
    for (x->n = 0; x->n < 16 && net_io_info(x->n, &x->info[x->n]) == NNRT_OK; x->n++) {
        x->buf[x->n] = calloc(x->info[x->n].numel ? x->info[x->n].numel : 1, 8);
        if (!x->buf[x->n]) return 1;
        if (x->info[x->n].dtype != NNRT_I32) fill(&x->info[x->n], x->buf[x->n], 1);
    }
    for (int i = 0; i < x->n; i++) {
        if (x->info[i].dtype != NNRT_I32) continue;
        long k = bound(m, x, i);
        if (k > 0) fill(&x->info[i], x->buf[i], (uint32_t)k), ((int32_t *)x->buf[i])[0] = (int32_t)(k - 1);
        else memset(x->buf[i], 0, x->info[i].numel * 4);
        printf("%s in [0, %ld), ", x->info[i].name, k > 0 ? k : 1);
    }
    return 0;
}

static int fails;
static void expect(int ok, const char *what, const net *m) {
    if (!ok) printf("\nFAILED: %s (%s)\n", what, net_last_error(m)), fails++;
}

static void run(net *m, io *x, int steps) {
    const void *const *in = (const void *const *)x->buf;
#ifdef HAS_FORWARD
    void *out[16];
    nnrt_tensor_info oi;
    int no = 0;
    for (; no < 16 && net_output_info(no, &oi) == NNRT_OK; no++) out[no] = calloc(oi.numel ? oi.numel : 1, 8);
    expect(net_forward_v(m, in, out) == NNRT_OK, "forward", m);
    for (int i = 0; i < no; i++) free(out[i]);
#endif
#ifdef HAS_LOSS
    ELEM loss = 0;
    expect(net_loss_v(m, in, &loss) == NNRT_OK, "loss", m);
    printf("loss %.4g, ", (double)loss);
#endif
#ifdef HAS_TRAIN
    for (int s = 0; s < steps; s++) {
        expect(net_forward_backward_v(m, in, &loss) == NNRT_OK, "forward_backward", m);
        expect(net_update(m) == NNRT_OK, "update", m);
    }
    printf("%.4g after %d steps, ", (double)loss, steps);
#endif
    (void)steps, (void)in;
    expect(net_check_finite(m, NET_CHECK_PARAMS | NET_CHECK_GRADS | NET_CHECK_LOSS) == NNRT_OK, "all finite", m);
}

int main(int argc, char **argv) {
    if (argc != 3) return fprintf(stderr, "usage: drive STEPS WEIGHTS.safetensors\n"), 2;
    net *m = net_create(1), *copy = net_create(2);
    io x;
    if (!m || !copy || inputs(m, &x)) return printf("out of memory\n"), 1;
    run(m, &x, atoi(argv[1]));
    size_t n;
    ELEM *p = net_params(m, &n);
    expect(net_save(m, argv[2]) == NNRT_OK, "save", m);
    expect(net_load(copy, argv[2]) == NNRT_OK, "load", copy);
    expect(!memcmp(p, net_params(copy, NULL), n * sizeof *p), "the loaded parameters are the saved ones", copy);
    printf("%zu parameters finite, saved and loaded\n", n);
    for (int i = 0; i < x.n; i++) free(x.buf[i]);
    net_free(m), net_free(copy);
    return fails != 0;
}
