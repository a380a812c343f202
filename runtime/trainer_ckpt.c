/* trainer_ckpt.c — exact resume for train: --checkpoint FILE is written
 * (atomically, by the model's save_checkpoint) after every epoch with the
 * trainer's state "epoch=E seed=S n=N" in its metadata (epochs done, the
 * seed of the data order and augmentation, the training examples or
 * characters); --resume FILE continues from such a file at epoch E + 1, so
 * that N epochs + resume + M epochs give the bits of N + M epochs. The data
 * order and the augmentation are functions of (seed, epoch), the dropout
 * masks of the model's call counter, the schedule of the step count: all in
 * the file. With --patience the trainer state goes on with early
 * stopping's (trainer_watch.c: the best epoch, its values and weights).
 * A weights-only --resume file starts the optimizer afresh.
 */
#define _POSIX_C_SOURCE 200809L

#include "trainer.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Can --checkpoint be written? Checked before training. */
int nnrti_tr_check_checkpoint(ctx *c)
{
    const char *path = c->o.raw[O_CHECKPOINT];
    if (!path)
        return 0;
    if (!c->d->save_checkpoint)
        return nnrti_tr_fail(c, EXIT_RUNTIME, "model %s cannot save checkpoints", c->d->name);
    if (strcmp(path, "-") == 0)
        return nnrti_tr_fail(c, EXIT_USAGE, "--checkpoint -: standard output carries the report lines; name a file");
    if (nnrt_check_save_target(path, &c->err) == NNRT_OK)
        return 0;
    nnrti_tr_append(c, " (--checkpoint is checked before training)");
    return EXIT_RUNTIME;
}

/* After epoch e of n_train training examples (or characters). */
int nnrti_tr_save_checkpoint(ctx *c, long epoch, uint64_t n_train)
{
    const char *path = c->o.raw[O_CHECKPOINT];
    char extra[256], es[160];
    int rc = c->gather_ckpt ? nnrti_tr_dist_gather_state(c) : 0;
    if (rc || !path)
        return rc;
    nnrti_tr_watch_state(c, es, sizeof es);
    snprintf(extra, sizeof extra, "epoch=%ld seed=%" PRIu64 " n=%" PRIu64 "%s", epoch, c->o.seed, n_train, es);
    rc = c->d->save_checkpoint(c->m, path, extra) ? nnrti_tr_model_fail(c, "save_checkpoint") : 0;
    if (!rc)
        rc = nnrti_tr_watch_save_best(c, path);
    if (c->gather_ckpt)
        nnrti_tr_dist_release(c);
    return rc;
}

/* The trainer's state string of a checkpoint; *rest: early stopping's
 * state after it ("" if none). */
static int parse_extra(ctx *c, const char *path, const char *s, long *epoch, uint64_t *seed, uint64_t *n,
                       const char **rest)
{
    int at = -1;
    if (sscanf(s, "epoch=%ld seed=%" SCNu64 " n=%" SCNu64 "%n", epoch, seed, n, &at) != 3 || at < 0 || *epoch < 0 ||
        (s[at] && s[at] != ' '))
        return nnrti_tr_fail(c, EXIT_RUNTIME, "%s: the checkpoint's trainer state '%s' is not 'epoch=E seed=S n=N' "
                             "(saved by a program, not by --checkpoint?)", path, s);
    *rest = s + at;
    return 0;
}

/* Load the --resume checkpoint into the model (created already): the epochs
 * done into c->epoch0, the seed into c->o.seed. n_train: this run's training
 * examples, which must be the checkpoint's. */
static int load_checkpoint(ctx *c, const char *path, uint64_t n_train)
{
    char extra[256];
    const char *rest = "";
    uint64_t seed = 0, n = 0;
    long epoch = 0;
    int rc;
    if (c->d->load_checkpoint(c->m, path, extra, sizeof extra))
        return nnrti_tr_model_fail(c, "load_checkpoint");
    if ((rc = parse_extra(c, path, extra, &epoch, &seed, &n, &rest)) != 0)
        return rc;
    if (c->o.raw[O_SEED] && seed != c->o.seed)
        return nnrti_tr_fail(c, EXIT_USAGE, "%s: the checkpoint continues a run with --seed %" PRIu64 ", not %" PRIu64
                             " (leave --seed out)", path, seed, c->o.seed);
    if (n != n_train)
        return nnrti_tr_fail(c, EXIT_RUNTIME, "%s: the checkpoint was trained on %" PRIu64 " examples, this run has %"
                             PRIu64 " (another data file or --val-split?)", path, n, n_train);
    c->o.seed = seed;
    c->epoch0 = epoch;
    if ((rc = nnrti_tr_watch_resume(c, path, rest)) != 0)
        return rc;
    return nnrti_tr_check_finite(c, path, "--resume");
}

/* What --init-from reports: a header line before the first name of each
 * kind (missing = 1 first, then unexpected), then the names. */
typedef struct init_report {
    const char *path;
    int kind; /* of the last name printed; -1 before the first */
} init_report;

static void print_init_name(void *vr, int missing, const char *name)
{
    init_report *r = vr;
    if (r->kind != missing)
        printf("--init-from %s: %s:\n", r->path,
               missing ? "missing, kept as initialized by --seed" : "unexpected, not loaded");
    r->kind = missing;
    printf("    %s\n", name);
}

/* train --init-from W [--init-map MAP]: a fresh model, then the tensors W
 * has (fine-tuning), the missing and unexpected names printed. */
static int init_from(ctx *c)
{
    const char *path = c->o.raw[O_INIT_FROM];
    init_report r = {path, -1};
    if (nnrti_tr_make_model(c, c->o.seed, NULL))
        return EXIT_RUNTIME;
    if (!c->d->load_partial)
        return nnrti_tr_fail(c, EXIT_RUNTIME, "model %s cannot load weights partially", c->d->name);
    if (c->d->load_partial(c->m, path, c->o.raw[O_INIT_MAP], print_init_name, &r))
        return nnrti_tr_model_fail(c, "load_partial");
    if (r.kind < 0)
        printf("--init-from %s: every tensor loaded, none unexpected\n", path);
    fflush(stdout);
    return nnrti_tr_check_finite(c, path, "--init-from");
}

/* Create the model for train: fresh from --seed, from --init-from, or from
 * --resume (a checkpoint, or weights only). */
int nnrti_tr_make_train_model(ctx *c, uint64_t n_train)
{
    const char *path = c->o.raw[O_RESUME];
    int is_ckpt;
    if (c->o.raw[O_INIT_FROM])
        return init_from(c);
    if (!path)
        return nnrti_tr_make_model(c, c->o.seed, NULL);
    is_ckpt = nnrt_ckpt_is_checkpoint(path, &c->err);
    if (is_ckpt < 0)
        return EXIT_RUNTIME;
    if (!is_ckpt || !c->d->load_checkpoint)
        return nnrti_tr_make_model(c, c->o.seed, path);
    if (nnrti_tr_make_model(c, c->o.seed, NULL))
        return EXIT_RUNTIME;
    return load_checkpoint(c, path, n_train);
}
