/* bench/driver.c — times one nnc-generated model for bench/bench.py.
 *
 * Compiled once per model with its header forced in (bench.py does this):
 *
 *   gcc -std=c99 -O2 -march=native -Iruntime -I<dir> -DMODEL=mlp \
 *       -include <dir>/mlp.h bench/driver.c <dir>/mlp.c build/libnnrt.a -lm
 *
 * Data: for each tensor i of P_io_info (inputs, then targets), the file
 * DATA.io<i>.bin holds NB batches of it back to back, raw little-endian
 * (float32 or int32 as P_io_info says). Batch k is used by step k mod NB,
 * on both sides of the comparison.
 *
 * Commands (exit status 0 ok, 1 error, 2 usage):
 *   driver init SEED W.safetensors
 *       P_create(SEED) and P_save: the initial weights PyTorch loads.
 *   driver check SEED DATA NB OUT.bin
 *       P_create(SEED); P_forward_v on batch 0, the first output written
 *       raw to OUT.bin; then two training steps (P_forward_backward_v +
 *       P_update) on batches 0 and 1, printing "loss0 L" and "loss1 L":
 *       the loss each step computed before its update.
 *   driver time train|forward SEED DATA NB MIN_S REPEATS WARMUP_S
 *       P_create(SEED); runs steps (or forward calls) for WARMUP_S seconds,
 *       then REPEATS repeats, each running whole steps until at least MIN_S
 *       seconds have passed; prints "rep ITERS SECONDS" per repeat.
 *   driver serve train|forward SEED DATA NB
 *       P_create(SEED), then one repeat per line "MIN_S WARMUP_S" read from
 *       stdin: steps for WARMUP_S seconds (at least one), then steps until
 *       MIN_S seconds have passed; prints "rep ITERS SECONDS" and waits for
 *       the next line (EOF ends it). bench.py interleaves the repeats of
 *       every implementation this way, so that what else the machine runs
 *       falls on all of them alike.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnrt.h"

#ifndef MODEL
#error "compile with -DMODEL=<prefix> -include <model>.h"
#endif

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define FN(x) CAT(MODEL, x)

typedef MODEL model_t;

#define MAX_IO 16

static void die(const char *what, const char *detail) {
    fprintf(stderr, "bench driver: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

static void check(int st, model_t *m, const char *what) {
    if (st != NNRT_OK) die(what, m ? FN(_last_error)(m) : FN(_status_str)(st));
}

static double now(void) { return nnrt_now(); } /* monotonic seconds */

/* The io tensors, NB batches each, read from DATA.io<i>.bin. */
typedef struct data {
    int n, nb;
    size_t bytes[MAX_IO]; /* of one batch */
    unsigned char *buf[MAX_IO];
    const void *io[MAX_IO]; /* the current batch */
} data;

static void load_data(data *d, const char *prefix, int nb) {
    memset(d, 0, sizeof *d);
    d->nb = nb;
    nnrt_tensor_info t;
    while (d->n < MAX_IO && FN(_io_info)(d->n, &t) == NNRT_OK) {
        int i = d->n++;
        d->bytes[i] = t.numel * nnrt_dtype_size(t.dtype);
        char path[4096];
        snprintf(path, sizeof path, "%s.io%d.bin", prefix, i);
        FILE *f = fopen(path, "rb");
        if (!f) die("cannot open", path);
        d->buf[i] = malloc(d->bytes[i] * (size_t)nb);
        if (!d->buf[i]) die("out of memory", NULL);
        if (fread(d->buf[i], d->bytes[i], (size_t)nb, f) != (size_t)nb) die("short data file", path);
        fclose(f);
    }
}

static void select_batch(data *d, long k) {
    long b = k % d->nb;
    for (int i = 0; i < d->n; i++) d->io[i] = d->buf[i] + (size_t)b * d->bytes[i];
}

#ifndef HAS_TRAIN
#define HAS_TRAIN 1
#endif

static void train_step(model_t *m, data *d, long k, float *loss) {
#if HAS_TRAIN
    select_batch(d, k);
    check(FN(_forward_backward_v)(m, d->io, loss), m, "forward_backward");
    check(FN(_update)(m), m, "update");
#else
    (void)m, (void)d, (void)k, (void)loss;
    die("this model has no training step", NULL);
#endif
}

static float *out_buf;

static void forward(model_t *m, data *d, long k) {
    select_batch(d, k);
    void *outs[1] = {out_buf};
    check(FN(_forward_v)(m, d->io, outs), m, "forward");
}

/* steps k, k+1, ... for at least min_s seconds and at least `least` steps;
 * returns how many ran */
static long steps(model_t *m, data *d, int train, long *k, double min_s, long least) {
    float loss = 0;
    long iters = 0;
    double start = now();
    do {
        if (train) train_step(m, d, *k, &loss);
        else forward(m, d, *k);
        ++*k, iters++;
    } while (now() - start < min_s || iters < least);
    return iters;
}

/* one timed repeat: prints "rep ITERS SECONDS" */
static void repeat(model_t *m, data *d, int train, long *k, double min_s) {
    double start = now();
    long iters = steps(m, d, train, k, min_s, 1);
    printf("rep %ld %.6f\n", iters, now() - start);
    fflush(stdout);
}

static model_t *create(const char *seed) {
    model_t *m = FN(_create)(strtoull(seed, NULL, 10));
    if (!m) die("create failed", NULL);
    nnrt_tensor_info t;
    check(FN(_output_info)(0, &t), NULL, "output_info");
    out_buf = malloc(t.numel * sizeof(float));
    if (!out_buf) die("out of memory", NULL);
    return m;
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "init")) {
        model_t *m = create(argv[2]);
        check(FN(_save)(m, argv[3]), m, "save");
        FN(_free)(m);
        return 0;
    }
    if (argc == 6 && !strcmp(argv[1], "check")) {
        model_t *m = create(argv[2]);
        data d;
        load_data(&d, argv[3], atoi(argv[4]));
        nnrt_tensor_info t;
        FN(_output_info)(0, &t);
        forward(m, &d, 0);
        FILE *f = fopen(argv[5], "wb");
        if (!f || fwrite(out_buf, sizeof(float), t.numel, f) != t.numel || fclose(f)) die("cannot write", argv[5]);
        if (HAS_TRAIN) {
            for (int k = 0; k < 2; k++) {
                float loss = 0;
                train_step(m, &d, k, &loss);
                printf("loss%d %.9g\n", k, (double)loss);
            }
        }
        FN(_free)(m);
        return 0;
    }
    if ((argc == 9 && !strcmp(argv[1], "time")) || (argc == 6 && !strcmp(argv[1], "serve"))) {
        int train = !strcmp(argv[2], "train");
        if (!train && strcmp(argv[2], "forward")) die("mode must be train or forward", argv[2]);
        model_t *m = create(argv[3]);
        data d;
        load_data(&d, argv[4], atoi(argv[5]));
        long k = 0;
        if (argc == 6) {
            double min_s, warm_s;
            while (scanf("%lf %lf", &min_s, &warm_s) == 2) {
                steps(m, &d, train, &k, warm_s, 1);
                repeat(m, &d, train, &k, min_s);
            }
        } else {
            steps(m, &d, train, &k, atof(argv[8]), 2);
            for (int r = 0; r < atoi(argv[7]); r++) repeat(m, &d, train, &k, atof(argv[6]));
        }
        FN(_free)(m);
        return 0;
    }
    fprintf(stderr, "usage: driver init SEED W | check SEED DATA NB OUT | time train|forward SEED DATA NB MIN_S REPEATS"
                    " WARMUP_S | serve train|forward SEED DATA NB\n");
    return 2;
}
