/* trainer_train.c — the training loop: the train/validation split, one
 * train_step per batch with the loss checked, the epoch lines (each handed
 * to trainer_watch.c), text training for character models, the --test
 * score, and saving the weights (--save) with the training record.
 */
#define _POSIX_C_SOURCE 200809L

#include "trainer.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- train -------------------------------------------------------------- */

/* The train and validation sets of a train run. */
typedef struct split {
    nnrt_dataset all, train, val;
    int have_val;
} split;

/* Optimizer steps per epoch over n training examples: full batches (of
 * this rank's share), at most --steps-per-epoch. */
static int64_t epoch_steps(const ctx *c, int64_t n)
{
    int64_t N = nnrti_tr_ranks(c), steps = (n + N - 1) / N / c->d->batch;
    return c->o.steps && c->o.steps < steps ? c->o.steps : steps;
}

static int prepare_data(ctx *c, split *sp)
{
    const char *path = c->o.raw[O_DATA];
    int rc;
    if ((rc = nnrti_tr_load_data(c, 1, &sp->all)) != 0)
        return rc;
    c->metric = nnrti_tr_choose_metric(c->d, &sp->all);
    if (c->o.val_split > 0) {
        if (nnrt_split(&sp->all, c->o.val_split, &sp->train, &sp->val, &c->err))
            return EXIT_RUNTIME;
        nnrt_dataset_free(&sp->all);
        if (sp->val.n == 0)
            return nnrti_tr_fail(c, EXIT_RUNTIME, "%s: --val-split %g of %lld examples leaves no validation examples",
                                 path, c->o.val_split, (long long)sp->train.n);
        sp->have_val = 1;
    } else {
        sp->train = sp->all;
        memset(&sp->all, 0, sizeof sp->all);
    }
    if (sp->train.n < c->d->batch)
        return nnrti_tr_fail(c, EXIT_RUNTIME, "%s: %lld training examples, fewer than one batch of %lld", path,
                             (long long)sp->train.n, (long long)c->d->batch);
    if (epoch_steps(c, sp->train.n) == 0)
        return nnrti_tr_fail(c, EXIT_RUNTIME, "%s: %lld training examples, fewer than one batch of %lld on each of "
                             "%d ranks", path, (long long)sp->train.n, (long long)c->d->batch, nnrti_tr_ranks(c));
    return 0;
}

/* Can --save be written? Checked before training, not after. */
static int check_save_target(ctx *c, const char *path)
{
    if (nnrt_check_save_target(path, &c->err) == NNRT_OK)
        return 0;
    nnrti_tr_append(c, " (--save is checked before training)");
    return EXIT_RUNTIME;
}

static int check_trainable(ctx *c)
{
    const nnrt_model_desc *d = c->d;
    if (!d->trainable || !d->train_step)
        return nnrti_tr_fail(c, EXIT_RUNTIME,
                             "model %s has no loss and optimizer (train statement); it cannot be trained", d->name);
    if (c->o.raw[O_SAVE] && !d->save)
        return nnrti_tr_fail(c, EXIT_RUNTIME, "model %s cannot save weights", d->name);
    if (c->o.have_lr && !d->set_lr)
        return nnrti_tr_fail(c, EXIT_RUNTIME, "model %s cannot change its learning rate", d->name);
    int rc = nnrti_tr_dist_check(c);
    if (rc == 0)
        rc = nnrti_tr_check_checkpoint(c);
    if (rc)
        return rc;
    return c->o.raw[O_SAVE] ? check_save_target(c, c->o.raw[O_SAVE]) : 0;
}

/* Save the model to a scratch file (beside --save when there is one, else
 * in $TMPDIR) and check that its weights are finite: 0, or EXIT_RUNTIME
 * with the tensor named in c->err. *scratch (malloc'd) is kept for the
 * caller when keep is set and the weights are finite, else removed. */
static int save_scratch(ctx *c, int keep, char **scratch)
{
    int rc = 0;
    if (nnrt_afile_scratch(c->o.raw[O_SAVE], scratch, &c->err) != NNRT_OK)
        return EXIT_RUNTIME;
    if (c->d->save(c->m, *scratch)) {
        rc = nnrti_tr_model_fail(c, "save");
    } else if (nnrt_st_check_finite(*scratch, &c->err) != NNRT_OK) {
        char *holds = strstr(c->err.msg, ": tensor '");
        if (holds) /* drop the scratch file's name */
            memmove(c->err.msg, holds + 2, strlen(holds + 2) + 1);
        rc = EXIT_RUNTIME;
    }
    if (rc != 0 || !keep) {
        unlink(*scratch);
        free(*scratch);
        *scratch = NULL;
    }
    return rc;
}

/* The loss of step s of an epoch is NaN or inf: say so, and which
 * parameter is no longer finite (when the model can tell by saving). */
static int nonfinite_loss(ctx *c, double l, long epoch, int64_t s)
{
    char *scratch = NULL, what[sizeof c->err.msg];
    const char *save = c->o.raw[O_SAVE];
    int rc = c->d->save ? save_scratch(c, 0, &scratch) : -1;
    int bad = rc > 0 && strncmp(c->err.msg, "tensor '", 8) == 0;
    snprintf(what, sizeof what, "%s", bad ? c->err.msg : "");
    nnrti_tr_fail(c, EXIT_RUNTIME, "epoch %ld, step %lld: the loss became %s", epoch, (long long)(s + 1),
                  isnan(l) ? "NaN" : l > 0 ? "inf" : "-inf");
    if (bad)
        nnrti_tr_append(c, " (%s)", what);
    else if (rc == 0)
        nnrti_tr_append(c, " (the parameters are still finite)");
    nnrti_tr_append(c, "; stopped, nothing saved%s%s%s; try a lower --lr", save ? " (" : "", save ? save : "",
                    save ? " left as it was)" : "");
    return EXIT_RUNTIME;
}

/* One train_step on the gathered batch: adds its loss to *sum and draws
 * the progress bar; a failure or a non-finite loss ends the bar and the
 * epoch with a message. */
static int step(ctx *c, nnrt_progress *p, long epoch, int64_t s, double *sum)
{
    double l = 0;
    int rc = nnrti_tr_ranks(c) > 1 ? nnrti_tr_dist_step(c, &l)
             : c->d->train_step(c->m, c->b.x, c->b.y, &l) ? nnrti_tr_model_fail(c, "train_step") : 0;
    if (rc) {
        nnrt_progress_end(p);
        return rc;
    }
    if (!isfinite(l)) {
        nnrt_progress_end(p);
        return nonfinite_loss(c, l, epoch, s);
    }
    *sum += l;
    for (int k = 0; k < c->d->n_objectives && k < NNRTI_MAX_OBJECTIVES; k++)
        c->obj_sum[k] += c->d->objective_loss(c->m, k);
    nnrt_progress_update(p, s + 1, *sum / (double)(s + 1));
    nnrti_tr_watch_step(c, epoch, l);
    return 0;
}

/* One pass of train_step over shuffled full batches; *mean gets the mean
 * loss. idx holds 2 * n_train entries (the second half: this rank's share
 * on several ranks). */
static int train_epoch(ctx *c, const nnrt_dataset *tr, int64_t *idx, long epoch, double *mean)
{
    const nnrt_model_desc *d = c->d;
    int64_t steps = epoch_steps(c, tr->n), s;
    double sum = 0;
    nnrt_progress p;
    nnrt_shuffle(idx, tr->n, c->o.seed, (uint64_t)epoch);
    if (nnrti_tr_ranks(c) > 1) {
        nnrti_tr_dist_shard(c, idx, tr->n, idx + tr->n);
        idx += tr->n;
    }
    nnrt_progress_start(&p, stderr, steps);
    memset(c->obj_sum, 0, sizeof c->obj_sum);
    nnrti_tr_watch_epoch_start(c);
    for (s = 0; s < steps; s++) {
        int rc;
        nnrti_tr_gather(c, tr, idx + s * d->batch);
        if ((rc = nnrti_tr_augment_batch(c, epoch, s)) || (rc = step(c, &p, epoch, s, &sum)))
            return rc;
    }
    nnrt_progress_end(&p);
    nnrti_tr_watch_epoch_end(c);
    *mean = sum / (double)steps;
    return 0;
}

static int ndigits(long v)
{
    int n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

/* "epoch   3/10": the epoch number right-aligned to the width of the
 * total, at least 3 characters. */
static void print_epoch(const ctx *c, long epoch, double loss)
{
    long total = c->epoch0 + c->o.epochs;
    int w = ndigits(total) > 3 ? ndigits(total) : 3;
    printf("epoch %*ld/%ld  loss %.6f", w, epoch, total, loss);
}

/* Several objectives: "  d_loss 0.6931  g_loss 0.6931", each one's mean
 * loss over the epoch's steps (loss is their sum). */
static void print_objectives(const ctx *c, int64_t steps)
{
    for (int k = 0; k < c->d->n_objectives && k < NNRTI_MAX_OBJECTIVES; k++)
        printf("  %s %.6f", c->d->objective_names[k], c->obj_sum[k] / (double)(steps > 0 ? steps : 1));
}

/* Accuracy (0..1) of a score, NaN when the metric is not an accuracy. */
static double accuracy(const ctx *c, const score *s)
{
    return c->metric == M_NONE || c->metric == M_MSE || !s->total ? NAN : (double)s->hits / (double)s->total;
}

/* The record of an epoch for nnrti_tr_watch_epoch. */
static void record(const ctx *c, long epoch, double loss, const score *st, const score *sv, epoch_rec *r)
{
    r->epoch = epoch;
    r->step = 0;
    r->lr = nnrti_tr_lr(c);
    r->grad_norm = nnrti_tr_grad_norm(c);
    r->train_loss = loss;
    r->train_acc = accuracy(c, st);
    r->val_loss = sv && sv->loss_batches ? sv->loss / (double)sv->loss_batches : NAN;
    r->val_acc = sv ? accuracy(c, sv) : NAN;
    r->ex_per_s = c->w.epoch_speed;
}

/* Train, score, print the epoch line. Without a metric, a validation set
 * is scored by its loss ("val loss"). *stop: --patience ends the run. */
static int run_epoch(ctx *c, const split *sp, int64_t *idx, long epoch, int *stop)
{
    double t0 = nnrt_now(), loss = 0;
    score st = {0, 0, 0, 0, 0, 0, 0}, sv = st;
    int rc, val_loss = c->metric == M_NONE && sp->have_val && nnrti_tr_have_loss(c, &sp->val);
    epoch_rec r;
    if ((rc = train_epoch(c, &sp->train, idx, epoch, &loss)) != 0)
        return rc;
    if (c->metric != M_NONE && (rc = nnrti_tr_evaluate(c, &sp->train, 0, &st)) != 0)
        return rc;
    if ((c->metric != M_NONE || val_loss) && sp->have_val &&
        (rc = nnrti_tr_evaluate(c, &sp->val, val_loss || nnrti_tr_watching(c), &sv)) != 0)
        return rc;
    print_epoch(c, epoch, loss);
    print_objectives(c, epoch_steps(c, sp->train.n));
    if (c->metric != M_NONE) {
        nnrti_tr_print_score(c, "train", &st);
        if (sp->have_val)
            nnrti_tr_print_score(c, "val", &sv);
    } else if (val_loss && sv.loss_batches) {
        printf("  val loss %.6f", sv.loss / (double)sv.loss_batches);
    } else if (val_loss) {
        printf("  val loss n/a");
    }
    printf("  time %.2fs\n", nnrt_now() - t0);
    if ((rc = nnrti_tr_check_stdout(c)) != 0)
        return rc;
    record(c, epoch, loss, &st, sp->have_val ? &sv : NULL, &r);
    return nnrti_tr_watch_epoch(c, &r, stop);
}

static int train_loop(ctx *c, const split *sp)
{
    int64_t *idx = nnrti_tr_alloc3((size_t)sp->train.n, 2, sizeof *idx);
    long e;
    int rc = 0, stop = 0;
    if (!idx)
        return nnrti_tr_fail(c, EXIT_RUNTIME, "out of memory");
    for (e = c->epoch0 + 1; e <= c->epoch0 + c->o.epochs && rc == 0 && !stop; e++)
        if ((rc = run_epoch(c, sp, idx, e, &stop)) == 0)
            rc = nnrti_tr_save_checkpoint(c, e, (uint64_t)sp->train.n);
    free(idx);
    return rc ? rc : nnrti_tr_watch_finish(c);
}

/* A scratch file (beside a regular --save) of the weights with the
 * training record in its metadata; with --allow-nonfinite unchecked. */
static int save_recorded(ctx *c, long epochs, char **scratch)
{
    int rc;
    if (!c->o.allow_nonfinite)
        rc = save_scratch(c, 1, scratch);
    else if (nnrt_afile_scratch(c->o.raw[O_SAVE], scratch, &c->err) != NNRT_OK)
        return EXIT_RUNTIME;
    else
        rc = c->d->save(c->m, *scratch) ? nnrti_tr_model_fail(c, "save") : 0;
    if (rc == 0)
        rc = nnrti_tr_record_training(c, *scratch, epochs);
    if (rc != 0 && *scratch) {
        unlink(*scratch);
        free(*scratch);
        *scratch = NULL;
    }
    return rc;
}

/* A device or pipe gets the scratch file's bytes. */
static int copy_direct(ctx *c, const char *scratch, const char *path)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc = nnrti_read_file(scratch, SIZE_MAX / 2, 0, &buf, &len, &c->err) == NNRT_OK &&
                     nnrt_write_file(path, buf, len, &c->err) == NNRT_OK
                 ? 0
                 : EXIT_RUNTIME;
    free(buf);
    unlink(scratch);
    return rc;
}

/* Save the weights after training when --save was given: first to a
 * scratch file whose weights are checked (unless --allow-nonfinite) and
 * which gets the training record (nnrti_tr_record_training), then renamed
 * over --save (a device or pipe gets its bytes), so NaN weights never
 * replace a good file. */
static int save_weights(ctx *c)
{
    const char *path = c->o.raw[O_SAVE];
    long epochs = c->w.stopped ? c->w.stopped : c->epoch0 + c->o.epochs;
    int rc;
    char *scratch = NULL, what[sizeof c->err.msg];
    if (!path)
        return 0;
    if ((rc = save_recorded(c, epochs, &scratch)) != 0 && strncmp(c->err.msg, "tensor '", 8) == 0) {
        snprintf(what, sizeof what, "%s", c->err.msg);
        rc = nnrti_tr_fail(c, EXIT_RUNTIME, "after epoch %ld: the weights are not finite (%s); not saved, %s left as "
                           "it was", epochs, what, path);
    } else if (rc == 0 && nnrt_afile_is_direct(path)) {
        rc = copy_direct(c, scratch, path);
    } else if (rc == 0) {
        rc = nnrt_afile_place(scratch, path, &c->err) == NNRT_OK ? 0 : EXIT_RUNTIME;
    }
    free(scratch);
    if (rc)
        return rc;
    printf("saved %s\n", path);
    return nnrti_tr_check_stdout(c);
}

/* The data, the watch checks and the --test file, before the model. */
static int prepare_all(ctx *c, split *sp, nnrt_dataset *test)
{
    int rc, acc;
    if ((rc = prepare_data(c, sp)) != 0)
        return rc;
    acc = c->metric != M_NONE && c->metric != M_MSE;
    if ((rc = nnrti_tr_watch_check(c, sp->have_val, sp->val.n, acc)) != 0)
        return rc;
    return c->o.raw[O_TEST] ? nnrti_tr_load_test(c, test) : 0;
}

int nnrti_tr_cmd_train(ctx *c)
{
    const nnrt_model_desc *d = c->d;
    split sp;
    nnrt_dataset test;
    int rc;
    memset(&sp, 0, sizeof sp);
    memset(&test, 0, sizeof test);
    if ((rc = check_trainable(c)) == 0 && (rc = prepare_all(c, &sp, &test)) == 0 &&
        (rc = nnrti_tr_make_train_model(c, (uint64_t)sp.train.n)) == 0 && (rc = nnrti_tr_alloc_bufs(c)) == 0 &&
        (rc = nnrti_tr_dist_start(c)) == 0) {
        if (c->o.have_lr && d->set_lr(c->m, c->o.lr))
            rc = nnrti_tr_model_fail(c, "set_lr");
        if (rc == 0)
            rc = nnrti_tr_apply_sched(c, (c->epoch0 + c->o.epochs) * epoch_steps(c, sp.train.n));
        if (rc == 0)
            rc = train_loop(c, &sp);
        if (rc == 0 && c->o.raw[O_TEST])
            rc = nnrti_tr_score_test(c, &test);
        if (rc == 0)
            rc = save_weights(c);
    }
    nnrt_dataset_free(&sp.all);
    nnrt_dataset_free(&sp.train);
    nnrt_dataset_free(&sp.val);
    nnrt_dataset_free(&test);
    return rc;
}

/* Mean loss over the validation batches (nats per character for a
 * cross-entropy loss). */
static int text_val_loss(ctx *c, const text *t, double *mean)
{
    const nnrt_model_desc *d = c->d;
    int64_t nb = nnrti_tr_val_batches(c, t), k, b;
    double sum = 0;
    for (k = 0; k < nb; k++) {
        double l = 0;
        for (b = 0; b < d->batch; b++)
            nnrti_tr_fill_window(c, t, b, t->n_train + (size_t)(k * d->batch + b) * d->x_numel);
        if (d->loss(c->m, c->b.x, c->b.y, &l))
            return nnrti_tr_model_fail(c, "loss");
        sum += l;
    }
    *mean = nb ? sum / (double)nb : 0;
    return 0;
}

/* One epoch: steps of B random windows from Philox(seed, epoch); on N
 * ranks each step draws N * B windows and rank r takes windows [r*B, r*B+B). */
static int text_epoch(ctx *c, const text *t, long epoch, int64_t steps, double *mean)
{
    const nnrt_model_desc *d = c->d;
    uint64_t starts = t->n_train - d->x_numel; /* window starts */
    double sum = 0;
    nnrt_progress p;
    draws r;
    int64_t s, b;
    nnrti_tr_draws_init(&r, c->o.seed, (uint64_t)epoch);
    nnrt_progress_start(&p, stderr, steps);
    memset(c->obj_sum, 0, sizeof c->obj_sum);
    nnrti_tr_watch_epoch_start(c);
    for (s = 0; s < steps; s++) {
        int rc;
        for (b = 0; b < d->batch * nnrti_tr_ranks(c); b++) {
            size_t at = (size_t)nnrti_tr_draw_below(&r, starts);
            if (b / d->batch == nnrti_tr_rank(c))
                nnrti_tr_fill_window(c, t, b % d->batch, at);
        }
        if ((rc = step(c, &p, epoch, s, &sum)))
            return rc;
    }
    nnrt_progress_end(&p);
    nnrti_tr_watch_epoch_end(c);
    *mean = sum / (double)steps;
    return 0;
}

/* Steps per epoch of text training: --steps-per-epoch, else the training
 * characters / (B*T), at least 1. */
static int64_t text_steps(const ctx *c, const text *t)
{
    int64_t steps = c->o.steps;
    if (steps == 0)
        steps = (int64_t)(t->n_train / ((size_t)c->d->batch * c->d->x_numel));
    return steps ? steps : 1;
}

/* Epochs of text training, one line each. */
static int text_loop(ctx *c, const text *t)
{
    int64_t steps = text_steps(c, t);
    long e;
    int rc, stop = 0;
    for (e = c->epoch0 + 1; e <= c->epoch0 + c->o.epochs && !stop; e++) {
        double t0 = nnrt_now(), loss = 0, vl = 0;
        epoch_rec r;
        if ((rc = text_epoch(c, t, e, steps, &loss)) != 0 ||
            (c->o.val_split > 0 && (rc = text_val_loss(c, t, &vl)) != 0))
            return rc;
        print_epoch(c, e, loss);
        if (c->o.val_split > 0)
            printf("  val loss %.6f", vl);
        printf("  time %.2fs\n", nnrt_now() - t0);
        if ((rc = nnrti_tr_check_stdout(c)) != 0)
            return rc;
        record(c, e, loss, NULL, NULL, &r);
        r.val_loss = c->o.val_split > 0 ? vl : NAN;
        if ((rc = nnrti_tr_watch_epoch(c, &r, &stop)) != 0 || (rc = nnrti_tr_save_checkpoint(c, e, t->n_train)) != 0)
            return rc;
    }
    return nnrti_tr_watch_finish(c);
}

int nnrti_tr_cmd_train_text(ctx *c)
{
    const nnrt_model_desc *d = c->d;
    text t;
    int rc;
    memset(&t, 0, sizeof t);
    if ((rc = nnrti_tr_check_char_model(c)) == 0 && (rc = check_trainable(c)) == 0 &&
        (rc = nnrti_tr_load_text(c, c->o.raw[O_TEXT], &t)) == 0 && (rc = nnrti_tr_split_text(c, &t)) == 0 &&
        (rc = nnrti_tr_watch_check(c, c->o.val_split > 0, (int64_t)c->d->batch, 0)) == 0 &&
        (rc = nnrti_tr_make_train_model(c, t.n_train)) == 0 && (rc = nnrti_tr_alloc_bufs(c)) == 0 &&
        (rc = nnrti_tr_dist_start(c)) == 0) {
        if (c->o.have_lr && d->set_lr(c->m, c->o.lr))
            rc = nnrti_tr_model_fail(c, "set_lr");
        if (rc == 0)
            rc = nnrti_tr_apply_sched(c, (c->epoch0 + c->o.epochs) * text_steps(c, &t));
        if (rc == 0)
            rc = text_loop(c, &t);
        if (rc == 0)
            rc = save_weights(c);
    }
    free(t.ids);
    return rc;
}
