/* dcgan_check.c — scores a trained examples/dcgan.nn with the trained
 * LeNet example: N generated digits (default 1,000, drawn from randn by
 * dcgan_forward, a fresh batch of noise per call) are classified by
 * lenet_forward; prints the mean of the largest class probability and each
 * class's share of the samples, and writes the first 64 samples as an 8x8
 * grid (PNG when GRID ends in .png and the program was built with
 * -DDCGAN_PNG and build/nnrt_png.o -lpng, else a binary PGM).
 *
 *   nnc examples/dcgan.nn -o dcgan_api.c && nnc examples/lenet.nn -o lenet_api.c
 *   cc -Iruntime -I. examples/dcgan_check.c dcgan_api.c lenet_api.c build/libnnrt.a -lm
 *   ./a.out dcgan.safetensors lenet.safetensors grid.pgm [N]
 *
 * Last line: "mean max-probability P  smallest class C% (digit D)"; exit 0
 * when it ran (the caller checks the numbers), 1 on an error. */
#include "dcgan_api.h"
#include "lenet_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef DCGAN_PNG
#include "png/nnrt_png.h"
#endif

enum { B = DCGAN_BATCH, PIX = 28 * 28, SIDE = 8, GAP = 2 };

typedef struct tally {
    double max_sum;
    long count[10], n;
} tally;

/* Classify one batch of samples (probs: B x 10 from LeNet). */
static void add(tally *t, const float *probs, long want) {
    for (long i = 0; i < B && t->n < want; i++, t->n++) {
        int best = 0;
        for (int k = 1; k < 10; k++)
            if (probs[i * 10 + k] > probs[i * 10 + best]) best = k;
        t->max_sum += probs[i * 10 + best];
        t->count[best]++;
    }
}

static unsigned char gray(float v) { return (unsigned char)((v < 0 ? 0 : v > 1 ? 1 : v) * 255.0f + 0.5f); }

/* The first n (at most SIDE * SIDE) samples as a grid, GAP gray pixels between. */
static int write_grid(const char *path, const float *fake, long n) {
    enum { W = SIDE * 28 + (SIDE - 1) * GAP };
    static unsigned char pix[W * W];
    memset(pix, 128, sizeof pix);
    for (int s = 0; s < SIDE * SIDE && s < n; s++)
        for (int r = 0; r < 28; r++)
            for (int q = 0; q < 28; q++)
                pix[((s / SIDE) * (28 + GAP) + r) * W + (s % SIDE) * (28 + GAP) + q] = gray(fake[s * PIX + r * 28 + q]);
    size_t len = strlen(path);
#ifdef DCGAN_PNG
    nnrt_err err;
    if (len > 4 && !strcmp(path + len - 4, ".png"))
        return nnrt_png_write_gray(path, pix, W, W, &err) == NNRT_OK ? 0 : (fprintf(stderr, "%s\n", err.msg), 1);
#endif
    FILE *f = len > 4 && strcmp(path + len - 4, ".png") ? fopen(path, "wb") : NULL;
    if (!f) return fprintf(stderr, "dcgan_check: cannot write %s (PNG needs -DDCGAN_PNG)\n", path), 1;
    fprintf(f, "P5\n%d %d\n255\n", W, W);
    int bad = fwrite(pix, 1, sizeof pix, f) != sizeof pix;
    return (fclose(f) != 0 || bad) ? (fprintf(stderr, "dcgan_check: cannot write %s\n", path), 1) : 0;
}

static int run(dcgan *g, lenet *l, const char *grid, long want) {
    static float image[B * PIX], fake[B * PIX], probs[B * 10], first[SIDE * SIDE * PIX];
    tally t;
    memset(&t, 0, sizeof t);
    for (long done = 0; done < want; done += B) {
        if (dcgan_forward(g, image, fake) || lenet_forward(l, fake, probs))
            return fprintf(stderr, "dcgan_check: %s %s\n", dcgan_last_error(g), lenet_last_error(l)), 1;
        if (done < SIDE * SIDE)  /* the grid's samples may span several batches */
            memcpy(first + done * PIX, fake, sizeof(float) * PIX * (SIDE * SIDE - done < B ? SIDE * SIDE - done : B));
        add(&t, probs, want);
    }
    long shown = t.n < SIDE * SIDE ? t.n : SIDE * SIDE;
    if (write_grid(grid, first, shown)) return 1;
    int least = 0;
    printf("samples %ld, share of each digit:", t.n);
    for (int k = 0; k < 10; k++) {
        printf(" %d: %.1f%%", k, 100.0 * t.count[k] / t.n);
        if (t.count[k] < t.count[least]) least = k;
    }
    printf("\nwrote %s: %ld samples\n", grid, shown);
    printf("mean max-probability %.4f  smallest class %.1f%% (digit %d)\n", t.max_sum / t.n,
           100.0 * t.count[least] / t.n, least);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) return fprintf(stderr, "usage: dcgan_check DCGAN.safetensors LENET.safetensors GRID [N]\n"), 1;
    long want = argc > 4 ? atol(argv[4]) : 1000;
    dcgan *g = dcgan_create(1);
    lenet *l = lenet_create(1);
    int rc = !g || !l || want < 1;
    if (!rc && (dcgan_load(g, argv[1]) || lenet_load(l, argv[2])))
        rc = fprintf(stderr, "dcgan_check: %s %s\n", dcgan_last_error(g), lenet_last_error(l)) > 0;
    if (!rc) rc = run(g, l, argv[3], want);
    dcgan_free(g);
    lenet_free(l);
    return rc;
}
