/* predict.c — the predictions of an inference build named net (net.h, by
 * -I) on a data set, one class a line on standard output
 * (tests/cross/run.sh runs it on x86-64 and, cross-compiled, on aarch64
 * under qemu, and compares the lines).
 *
 *   predict csv FILE SCALE   the UCI digits: 64 values (times SCALE) and a label a line
 *   predict idx FILE N       the first N images of an IDX file (bytes / 255)
 *   predict init FILE SEED   save the initial weights of seed SEED (the build has _save)
 *
 * Images go through in batches of NET_BATCH, the last one padded with
 * zeros. The model lives in a static block (_init). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

static unsigned char block[NET_ARENA_BYTES];
static float x[NET_IMAGE_SIZE], probs[NET_PROBS_SIZE];

enum { PER = NET_IMAGE_SIZE / NET_BATCH, CLASSES = NET_PROBS_SIZE / NET_BATCH };

/* the argmax of each of the first n rows of probs */
static int print_batch(net *m, int n) {
    if (net_forward(m, x, probs) != NNRT_OK) return fprintf(stderr, "forward: %s\n", net_last_error(m)), 1;
    for (int r = 0; r < n; r++) {
        int best = 0;
        for (int c = 1; c < CLASSES; c++)
            if (probs[r * CLASSES + c] > probs[r * CLASSES + best]) best = c;
        printf("%d\n", best);
    }
    memset(x, 0, sizeof x);
    return 0;
}

/* one image into row r of x: 1 when read, 0 at the end, -1 on bad data */
static int read_csv(FILE *f, float scale, int r) {
    int v;
    for (int k = 0; k <= PER; k++) {
        int got = fscanf(f, k ? ",%d" : "%d", &v);
        if (got != 1) return k == 0 && got == EOF ? 0 : -1;
        if (k < PER) x[r * PER + k] = (float)v * scale;
    }
    return 1;
}

static int read_idx(FILE *f, int r) {
    unsigned char px[PER];
    if (fread(px, 1, PER, f) != PER) return -1;
    for (int k = 0; k < PER; k++) x[r * PER + k] = (float)px[k] / 255.0f;
    return 1;
}

static int run(net *m, FILE *f, int csv, float scale, long limit) {
    int r = 0, got;
    unsigned char head[16];
    if (!csv && fread(head, 1, 16, f) != 16) return fprintf(stderr, "short IDX header\n"), 1;
    for (long i = 0; i < limit && (got = csv ? read_csv(f, scale, r) : read_idx(f, r)) != 0; i++) {
        if (got < 0) return fprintf(stderr, "bad data at image %ld\n", i), 1;
        if (++r == NET_BATCH && print_batch(m, r)) return 1;
        r %= NET_BATCH;
    }
    return r ? print_batch(m, r) : 0;
}

int main(int argc, char **argv) {
    net *m = NULL;
    if (argc != 4) return fprintf(stderr, "usage: predict csv|idx|init FILE SCALE|N|SEED\n"), 2;
    if (net_init(&m, block, sizeof block, strtoull(argv[3], NULL, 10)) != NNRT_OK) return 1;
#ifdef NET_SAVE
    if (!strcmp(argv[1], "init")) return net_save(m, argv[2]) != NNRT_OK;
#endif
    FILE *f = fopen(argv[2], "rb");
    if (!f) return fprintf(stderr, "cannot open %s\n", argv[2]), 1;
    int csv = !strcmp(argv[1], "csv");
    int st = run(m, f, csv, csv ? strtof(argv[3], NULL) : 1, csv ? 1L << 30 : atol(argv[3]));
    fclose(f);
    return st;
}
