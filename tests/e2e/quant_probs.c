/* quant_probs.c — the outputs of an inference build named net (net.h, by
 * -I) on the UCI digits, one example a line, each value as C99's %a (the
 * exact bits), for tests/e2e/quant.sh:
 *
 *   quant_probs FILE SCALE   64 values (times SCALE) and a label a line
 *
 * Examples go through in batches of NET_BATCH, the last one padded with
 * zeros (only its real rows are printed). */
#include <stdio.h>
#include <string.h>

#include "net.h"

static unsigned char block[NET_ARENA_BYTES];
static float x[NET_IMAGE_SIZE], probs[NET_PROBS_SIZE];

enum { PER = NET_IMAGE_SIZE / NET_BATCH, OUT = NET_PROBS_SIZE / NET_BATCH };

static int print_batch(net *m, int n) {
    if (net_forward(m, x, probs) != NNRT_OK) return fprintf(stderr, "forward: %s\n", net_last_error(m)), 1;
    for (int r = 0; r < n; r++)
        for (int c = 0; c < OUT; c++) printf("%a%c", (double)probs[r * OUT + c], c + 1 < OUT ? ' ' : '\n');
    memset(x, 0, sizeof x);
    return 0;
}

/* one example into row r: 1 when read, 0 at the end, -1 on bad data */
static int read_row(FILE *f, float scale, int r) {
    int v;
    for (int k = 0; k <= PER; k++) {
        int got = fscanf(f, k ? ",%d" : "%d", &v);
        if (got != 1) return k == 0 && got == EOF ? 0 : -1;
        if (k < PER) x[r * PER + k] = (float)v * scale;
    }
    return 1;
}

int main(int argc, char **argv) {
    net *m;
    float scale;
    if (argc != 3 || sscanf(argv[2], "%f", &scale) != 1) return fprintf(stderr, "usage: %s FILE SCALE\n", argv[0]), 2;
    FILE *f = fopen(argv[1], "r");
    if (!f) return fprintf(stderr, "%s: cannot open\n", argv[1]), 1;
    if (net_init(&m, block, sizeof block, 0) != NNRT_OK) return fprintf(stderr, "init failed\n"), 1;
    int r = 0, got;
    while ((got = read_row(f, scale, r)) == 1)
        if (++r == NET_BATCH && print_batch(m, r)) return 1;
        else if (r == NET_BATCH) r = 0;
    fclose(f);
    if (got < 0) return fprintf(stderr, "%s: bad line\n", argv[1]), 1;
    return r && print_batch(m, r) ? 1 : 0;
}
