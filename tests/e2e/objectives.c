/* objectives.c — a model with two objectives through the API
 * (tests/parity/gan.nn, built twice: nnc --objective d_loss and --objective
 * g_loss). The two builds have the same parameter table and the same
 * initial weights for a seed; after gan_g_loss_bind_params they train one
 * parameter buffer, alternating one discriminator step and one generator
 * step: a d_loss step moves only dw, db, dv and a g_loss step only gen.*,
 * each bit for bit; after 400 rounds the generator's samples have moved
 * toward the real data (the mean distance shrinks by half). Prints
 * PASS/FAIL lines; exit 1 on a failure. */
#include "gan_d_loss.h"
#include "gan_g_loss.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { B = 4, ROUNDS = 400 };
static const float center[3] = {0.6f, -0.4f, 0.3f};
static int failed;

static void report(int ok, const char *what) {
    printf("%s e2e objectives: %s\n", ok ? "PASS" : "FAIL", what);
    failed |= !ok;
}

static int same_tables(void) {
    if (GAN_D_LOSS_PARAM_ELEMS != GAN_G_LOSS_PARAM_ELEMS || GAN_D_LOSS_NUM_PARAMS != GAN_G_LOSS_NUM_PARAMS) return 0;
    for (int i = 0; i < GAN_D_LOSS_NUM_PARAMS; i++) {
        nnrt_tensor_info a, b;
        if (gan_d_loss_param_info(i, &a) || gan_g_loss_param_info(i, &b)) return 0;
        if (strcmp(a.name, b.name) || a.offset != b.offset || a.numel != b.numel) return 0;
    }
    return 1;
}

/* 1 if the parameters named gen.* (gen = 1) or the others (gen = 0) are
 * bit-identical in p and q. */
static int part_same(const float *p, const float *q, int gen) {
    for (int i = 0; i < GAN_D_LOSS_NUM_PARAMS; i++) {
        nnrt_tensor_info t;
        gan_d_loss_param_info(i, &t);
        if ((strncmp(t.name, "gen.", 4) == 0) != gen) continue;
        if (memcmp(p + t.offset, q + t.offset, t.numel * sizeof *p)) return 0;
    }
    return 1;
}

/* The generator's samples tanh(z W^T + b), their mean distance to center. */
static double fake_distance(const float *p, const float *z) {
    nnrt_tensor_info w = {0}, b = {0};
    for (int i = 0; i < GAN_D_LOSS_NUM_PARAMS; i++) {
        nnrt_tensor_info t;
        gan_d_loss_param_info(i, &t);
        if (!strcmp(t.name, "gen.weight")) w = t;
        if (!strcmp(t.name, "gen.bias")) b = t;
    }
    double d = 0;
    for (int r = 0; r < B; r++)
        for (int j = 0; j < 3; j++) {
            float s = p[b.offset + j];
            for (int k = 0; k < 2; k++) s += z[2 * r + k] * p[w.offset + 2 * j + k];
            d += fabs(tanh(s) - center[j]);
        }
    return d / (3 * B);
}

/* A batch: real points near center, noise z, labels. */
static void batch(unsigned *s, float *real, float *z) {
    for (int i = 0; i < 3 * B; i++) {
        *s = *s * 1664525u + 1013904223u;
        real[i] = center[i % 3] + 0.05f * ((float)(*s >> 8) / 16777216.0f - 0.5f);
    }
    for (int i = 0; i < 2 * B; i++) {
        *s = *s * 1664525u + 1013904223u;
        z[i] = 2.0f * ((float)(*s >> 8) / 16777216.0f) - 1.0f;
    }
}

static int alternate(gan_d_loss *d, gan_g_loss *g, float *p, double *before, double *after) {
    static const float ones[B] = {1, 1, 1, 1}, zeros[B] = {0};
    float real[3 * B], z[2 * B], snap[GAN_D_LOSS_PARAM_ELEMS], dl, gl;
    unsigned s = 1;
    int only = 1;
    batch(&s, real, z);
    *before = fake_distance(p, z);
    for (int r = 0; r < ROUNDS; r++) {
        batch(&s, real, z);
        memcpy(snap, p, sizeof snap);
        if (gan_d_loss_train_step(d, real, z, ones, zeros, &dl)) return -1;
        only &= part_same(snap, p, 1) && !part_same(snap, p, 0);
        memcpy(snap, p, sizeof snap);
        if (gan_g_loss_train_step(g, real, z, ones, zeros, &gl)) return -1;
        only &= part_same(snap, p, 0) && !part_same(snap, p, 1);
    }
    *after = fake_distance(p, z);
    printf("  after %d rounds: d_loss %.4f, g_loss %.4f; samples' distance %.4f -> %.4f\n", ROUNDS, dl, gl, *before,
           *after);
    return only;
}

int main(void) {
    gan_d_loss *d = gan_d_loss_create(7);
    gan_g_loss *g = gan_g_loss_create(7);
    if (!d || !g) return 1;
    float *p = gan_d_loss_params(d, NULL), *own = gan_g_loss_params(g, NULL);
    report(same_tables(), "the objectives' parameter tables are the same");
    report(!memcmp(p, own, GAN_D_LOSS_PARAM_ELEMS * sizeof *p), "the same seed gives the same initial weights");
    report(gan_g_loss_bind_params(g, p) == NNRT_OK && gan_g_loss_params(g, NULL) == p, "bind_params shares d's buffer");
    report(gan_g_loss_bind_params(NULL, p) == NNRT_ERR_ARG, "bind_params(NULL model) is an argument error");
    double before, after;
    int only = alternate(d, g, p, &before, &after);
    report(only == 1, "each step moves only its objective's parameters (the other set bit-identical)");
    report(after < 0.5 * before, "the generator's samples moved toward the real data");
    report(gan_g_loss_bind_params(g, NULL) == NNRT_OK && gan_g_loss_params(g, NULL) == own,
           "bind_params(NULL) returns to the model's own buffer");
    gan_d_loss_free(d);
    gan_g_loss_free(g);
    return failed;
}
