/* objectives_one.c — a model with two objectives built into ONE file
 * (tests/parity/gan.nn without --objective, --name one: parts one_d_loss
 * and one_g_loss, the model's API one_*), against the two builds of
 * objectives.c (nnc --objective d_loss / g_loss, bound to one buffer): the
 * same initial weights, and after every step of 50 alternating rounds the
 * same losses and bit-identical parameters; one_train_step is a d_loss step
 * then a g_loss step; the shared entry points (params, save and load,
 * objective names, errors) behave. Prints PASS/FAIL lines; exit 1 on a
 * failure. */
#include "gan_d_loss.h"
#include "gan_g_loss.h"
#include "one.h"

#include <stdio.h>
#include <string.h>

enum { B = 4, ROUNDS = 50 };
static int failed;

static void report(int ok, const char *what) {
    printf("%s e2e objectives_one: %s\n", ok ? "PASS" : "FAIL", what);
    failed |= !ok;
}

static void batch(unsigned *s, float *real, float *z) {
    for (int i = 0; i < 3 * B; i++) real[i] = (float)((*s = *s * 1664525u + 1013904223u) >> 8) / 16777216.0f;
    for (int i = 0; i < 2 * B; i++) z[i] = 2.0f * ((float)((*s = *s * 1664525u + 1013904223u) >> 8) / 16777216.0f) - 1;
}

static const float ones[B] = {1, 1, 1, 1}, zeros[B] = {0};

/* ROUNDS of a d step and a g step in both; 1 if every loss and every
 * parameter after every step is the same. */
static int rounds(one *m, gan_d_loss *d, gan_g_loss *g, float *p, float *q) {
    float real[3 * B], z[2 * B], a, b;
    unsigned s = 3;
    int same = 1;
    for (int r = 0; r < ROUNDS; r++) {
        batch(&s, real, z);
        if (one_train_step_d_loss(m, real, z, ones, zeros, &a) || gan_d_loss_train_step(d, real, z, ones, zeros, &b))
            return 0;
        same &= a == b && !memcmp(p, q, ONE_PARAM_ELEMS * sizeof *p) && one_last_loss(m, 0) == (double)a;
        if (one_train_step_g_loss(m, real, z, ones, zeros, &a) || gan_g_loss_train_step(g, real, z, ones, zeros, &b))
            return 0;
        same &= a == b && !memcmp(p, q, ONE_PARAM_ELEMS * sizeof *p) && one_last_loss(m, 1) == (double)a;
    }
    return same;
}

/* one_train_step (both objectives) = the d step then the g step. */
static int whole_step(one *m, gan_d_loss *d, gan_g_loss *g, float *p, float *q) {
    float real[3 * B], z[2 * B], sum, dl, gl;
    unsigned s = 11;
    batch(&s, real, z);
    if (one_train_step(m, real, z, ones, zeros, &sum) || gan_d_loss_train_step(d, real, z, ones, zeros, &dl) ||
        gan_g_loss_train_step(g, real, z, ones, zeros, &gl))
        return 0;
    return sum == dl + gl && one_last_loss(m, 0) == (double)dl && one_last_loss(m, 1) == (double)gl &&
           !memcmp(p, q, ONE_PARAM_ELEMS * sizeof *p);
}

/* A checkpoint of both objectives, then a round, then back: the round
 * again gives the same parameters bit for bit (every optimizer state and
 * step count came back). An objective build's own checkpoint and a weights
 * file are refused. */
static int checkpoint(one *m, gan_d_loss *d, const char *path) {
    float real[3 * B], z[2 * B], l, after[ONE_PARAM_ELEMS];
    char extra[16];
    unsigned s = 5;
    float *p = one_params(m, NULL);
    batch(&s, real, z);
    if (one_save_checkpoint(m, path, "x=1") != NNRT_OK) return 0;
    for (int r = 0; r < 3; r++)
        if (one_train_step(m, real, z, ones, zeros, &l)) return 0;
    memcpy(after, p, sizeof after);
    if (one_load_checkpoint(m, path, extra, sizeof extra) != NNRT_OK || strcmp(extra, "x=1")) return 0;
    for (int r = 0; r < 3; r++)
        if (one_train_step(m, real, z, ones, zeros, &l)) return 0;
    int same = !memcmp(after, p, sizeof after);
    if (gan_d_loss_save_checkpoint(d, path, NULL) != NNRT_OK) return 0;
    int own = one_load_checkpoint(m, path, NULL, 0) == NNRT_ERR_FORMAT &&
              strstr(one_last_error(m), "objective 'd_loss'");
    if (one_save(m, path) != NNRT_OK) return 0;
    int weights = one_load_checkpoint(m, path, NULL, 0) == NNRT_ERR_FORMAT &&
                  strstr(one_last_error(m), "not a checkpoint");
    return same && own && weights && !memcmp(after, p, sizeof after);
}

static int save_load(one *m, const char *path) {
    float *p = one_params(m, NULL), keep[ONE_PARAM_ELEMS];
    memcpy(keep, p, sizeof keep);
    if (one_save(m, path) != NNRT_OK) return 0;
    memset(p, 0, sizeof keep);
    return one_load(m, path) == NNRT_OK && !memcmp(keep, p, sizeof keep) &&
           one_objective_d_loss(m) && one_d_loss_params(one_objective_d_loss(m), NULL) == p &&
           one_g_loss_params(one_objective_g_loss(m), NULL) == p;
}

int main(int argc, char **argv) {
    one *m = one_create(7);
    gan_d_loss *d = gan_d_loss_create(7);
    gan_g_loss *g = gan_g_loss_create(7);
    if (!m || !d || !g || argc < 2) return 1;
    float *p = one_params(m, NULL), *q = gan_d_loss_params(d, NULL);
    gan_g_loss_bind_params(g, q);
    report(ONE_NUM_OBJECTIVES == 2 && !strcmp(one_objective_name(0), "d_loss") &&
               !strcmp(one_objective_name(1), "g_loss") && !one_objective_name(2),
           "two objectives, named in declaration order");
    report(ONE_PARAM_ELEMS == GAN_D_LOSS_PARAM_ELEMS && !memcmp(p, q, ONE_PARAM_ELEMS * sizeof *p),
           "the one-file build has the objective builds' layout and initial weights");
    report(rounds(m, d, g, p, q), "50 alternating rounds: the same losses and bit-identical parameters every step");
    report(whole_step(m, d, g, p, q), "one_train_step is a d_loss step then a g_loss step; *loss is their sum");
    report(save_load(m, argv[1]), "one parameter buffer: saved and loaded whole, every objective trains it");
    report(checkpoint(m, d, argv[1]), "one checkpoint holds every objective's state (exact resume); others refused");
    report(one_load(m, "/nonexistent/x.safetensors") != NNRT_OK && strstr(one_last_error(m), "nonexistent"),
           "a failed load names the file in one_last_error");
    report(one_train_step(NULL, NULL, NULL, NULL, NULL, NULL) == NNRT_ERR_ARG &&
               one_set_lr_g_loss(m, -1) != NNRT_OK && strstr(one_last_error(m), "lr") != NULL,
           "argument errors; the failing objective's message");
    one_free(m);
    one_free(NULL);
    gan_d_loss_free(d);
    gan_g_loss_free(g);
    return failed;
}
