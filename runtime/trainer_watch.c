/* trainer_watch.c — what the trainer keeps across epochs: the history of
 * epoch records (for --log and --plot), the --log-every step rows, and
 * early stopping (--patience, --min-delta, --monitor) with the best epoch's
 * weights, kept in memory as the bytes of a safetensors file (the model's
 * own save, read back) and loaded again when the run ends.
 *
 * An epoch improves when its monitored value beats the best so far by more
 * than --min-delta (val_loss lower, val_acc higher; the first epoch always
 * does); after --patience epochs in a row that do not, training stops.
 * A --checkpoint carries that state (the monitor, the best epoch and its
 * values in the trainer string, its weights as tensors "trainer.best.NAME"),
 * so that --resume continues early stopping where it was.
 */
#define _POSIX_C_SOURCE 200809L

#include "trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* 1 when --log, --plot or --patience watch the epochs. */
int nnrti_tr_watching(const ctx *c)
{
    return c->o.raw[O_LOG] || c->o.raw[O_PLOT] || c->o.patience >= 0;
}

/* The learning rate the model trains with. */
double nnrti_tr_lr(const ctx *c)
{
    if (c->d->lr && c->m)
        return c->d->lr(c->m); /* through the schedule */
    return c->o.have_lr ? c->o.lr : c->d->default_lr;
}

/* The gradient norm of the last update, NaN when the model cannot say. */
double nnrti_tr_grad_norm(const ctx *c)
{
    return c->d->grad_norm && c->m ? c->d->grad_norm(c->m) : NAN;
}

/* Can option k's file be written? Else a usage error naming the option. */
static int check_place(ctx *c, int k, const char *opt)
{
    const char *path = c->o.raw[k];
    if (!path || nnrt_check_save_target(path, &c->err) == NNRT_OK)
        return 0;
    nnrti_tr_append(c, " (--%s)", opt);
    return EXIT_USAGE;
}

/* Before training: the --log and --plot places, and a validation set that
 * gives the monitored value. */
int nnrti_tr_watch_check(ctx *c, int have_val, int64_t n_val, int acc)
{
    const nnrt_model_desc *d = c->d;
    int rc;
    if ((rc = check_place(c, O_LOG, "log")) != 0 || (rc = check_place(c, O_PLOT, "plot")) != 0)
        return rc;
    if (c->o.raw[O_LOG])
        nnrti_tr_log_header(c);
    if (c->o.patience < 0)
        return 0;
    if (!d->save || !d->load)
        return nnrti_tr_fail(c, EXIT_RUNTIME, "model %s cannot save and load weights, which --patience needs", d->name);
    if (!have_val)
        return nnrti_tr_fail(c, EXIT_USAGE, "--patience needs a validation set to watch: add --val-split F");
    if (c->o.monitor == MON_VAL_ACC && !acc)
        return nnrti_tr_fail(c, EXIT_USAGE, "--monitor val_acc: model %s is not scored by an accuracy on this data; "
                             "monitor val_loss", d->name);
    if (c->o.monitor == MON_VAL_LOSS && (n_val < d->batch || !d->loss))
        return nnrti_tr_fail(c, EXIT_RUNTIME, "--monitor val_loss: the validation split has %lld examples, fewer than "
                             "one batch of %lld, so it has no loss; use a larger --val-split%s",
                             (long long)n_val, (long long)d->batch, acc ? " or --monitor val_acc" : "");
    return 0;
}

/* ---- step rows ------------------------------------------------------------ */

void nnrti_tr_watch_epoch_start(ctx *c)
{
    c->w.mark = c->w.epoch_t0 = nnrt_now();
    c->w.epoch_step0 = c->w.step;
}

void nnrti_tr_watch_epoch_end(ctx *c)
{
    double t = nnrt_now() - c->w.epoch_t0;
    c->w.epoch_speed = t > 0 ? (double)((c->w.step - c->w.epoch_step0) * c->d->batch * nnrti_tr_ranks(c)) / t : NAN;
}

/* After each train_step: every --log-every steps a row with the mean loss
 * and the speed of the steps since the last one. */
void nnrti_tr_watch_step(ctx *c, long epoch, double loss)
{
    watch *w = &c->w;
    epoch_rec r;
    double t;
    w->step++;
    if (!c->o.log_every)
        return;
    t = nnrt_now();
    w->win_time += t - w->mark;
    w->mark = t;
    w->win_sum += loss;
    w->win_n++;
    if (w->step % c->o.log_every != 0)
        return;
    r.epoch = epoch;
    r.step = w->step;
    r.lr = nnrti_tr_lr(c);
    r.grad_norm = nnrti_tr_grad_norm(c);
    r.train_loss = w->win_sum / (double)w->win_n;
    r.train_acc = r.val_loss = r.val_acc = NAN;
    r.ex_per_s = w->win_time > 0 ? (double)(w->win_n * c->d->batch * nnrti_tr_ranks(c)) / w->win_time : NAN;
    nnrti_tr_log_row(c, "step", &r);
    w->win_sum = w->win_time = 0;
    w->win_n = 0;
}

/* ---- the best weights ------------------------------------------------------- */

/* Keep the model's weights: saved to a scratch file, read back, removed. */
static int snapshot(ctx *c)
{
    watch *w = &c->w;
    char *scratch = NULL;
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc = 0;
    if (nnrt_afile_scratch(NULL, &scratch, &c->err) != NNRT_OK)
        return EXIT_RUNTIME;
    if (c->d->save(c->m, scratch))
        rc = nnrti_tr_model_fail(c, "save");
    else if (nnrti_read_file(scratch, SIZE_MAX / 2, 0, &buf, &len, &c->err) != NNRT_OK)
        rc = EXIT_RUNTIME;
    unlink(scratch);
    free(scratch);
    if (rc)
        return rc;
    free(w->best_w);
    w->best_w = buf;
    w->best_len = len;
    return 0;
}

/* Load the kept weights back into the model. */
static int restore(ctx *c)
{
    char *scratch = NULL;
    int rc = 0;
    if (nnrt_afile_scratch(NULL, &scratch, &c->err) != NNRT_OK)
        return EXIT_RUNTIME;
    if (nnrt_write_file(scratch, c->w.best_w, c->w.best_len, &c->err) != NNRT_OK)
        rc = EXIT_RUNTIME;
    else if (c->d->load(c->m, scratch))
        rc = nnrti_tr_model_fail(c, "load");
    unlink(scratch);
    free(scratch);
    return rc;
}

/* Early stopping after epoch r: keep its weights when it improved, else
 * set *stop after --patience epochs without improvement. */
static int early(ctx *c, const epoch_rec *r, int *stop)
{
    watch *w = &c->w;
    int acc = c->o.monitor == MON_VAL_ACC;
    double v = acc ? r->val_acc : r->val_loss;
    int better = !isnan(v) && (w->best_epoch == 0 || (acc ? v > w->best + c->o.min_delta
                                                          : v < w->best - c->o.min_delta));
    if (better) {
        w->best = v;
        w->best_epoch = r->epoch;
        w->best_rec = *r;
        return snapshot(c);
    }
    if (r->epoch - w->best_epoch >= c->o.patience) {
        w->stopped = r->epoch;
        *stop = 1;
    }
    return 0;
}

/* Append r to the history. */
static int push_epoch(ctx *c, const epoch_rec *r)
{
    watch *w = &c->w;
    if (w->n_ep == w->cap_ep) {
        long cap = w->cap_ep ? 2 * w->cap_ep : 64;
        epoch_rec *ne = realloc(w->ep, sizeof *ne * (size_t)cap);
        if (!ne)
            return nnrti_tr_fail(c, EXIT_RUNTIME, "out of memory for the history of %ld epochs", w->n_ep);
        w->ep = ne;
        w->cap_ep = cap;
    }
    w->ep[w->n_ep] = *r;
    w->ep[w->n_ep].step = w->step;
    w->n_ep++;
    return 0;
}

/* After each epoch: record, log, plot, early stopping. */
int nnrti_tr_watch_epoch(ctx *c, const epoch_rec *r, int *stop)
{
    int rc;
    *stop = 0;
    if (!nnrti_tr_watching(c))
        return 0;
    if ((rc = push_epoch(c, r)) != 0)
        return rc;
    if (c->o.raw[O_LOG])
        nnrti_tr_log_row(c, "epoch", &c->w.ep[c->w.n_ep - 1]);
    if (c->o.patience >= 0 && (rc = early(c, r, stop)) != 0)
        return rc;
    return nnrti_tr_log_write(c);
}

/* "  val loss L  val acc A%" of r, for what it has. */
static void print_val(const epoch_rec *r)
{
    if (!isnan(r->val_loss))
        printf("  val loss %.6f", r->val_loss);
    if (!isnan(r->val_acc))
        printf("  val acc %6.2f%%", 100.0 * r->val_acc);
}

/* After the last epoch: where --patience stopped, and the best weights
 * restored. */
int nnrti_tr_watch_finish(ctx *c)
{
    const watch *w = &c->w;
    long last;
    int rc;
    if (c->o.patience < 0 || w->best_epoch == 0 || w->n_ep == 0)
        return 0;
    last = w->ep[w->n_ep - 1].epoch;
    if (w->stopped)
        printf("early stop after epoch %ld of %ld: %s did not improve for %ld epochs (--patience %ld)\n", w->stopped,
               c->epoch0 + c->o.epochs, c->o.monitor == MON_VAL_ACC ? "val_acc" : "val_loss",
               w->stopped - w->best_epoch, c->o.patience);
    if (w->best_epoch != last && (rc = restore(c)) != 0)
        return rc;
    printf("best epoch %ld: %s", w->best_epoch, w->best_epoch != last ? "its weights restored" : "the last, kept");
    print_val(&w->best_rec);
    printf("\n");
    return nnrti_tr_check_stdout(c);
}

void nnrti_tr_watch_free(ctx *c)
{
    free(c->w.ep);
    free(c->w.csv.s);
    free(c->w.best_w);
    memset(&c->w, 0, sizeof c->w);
}

/* ---- across --checkpoint and --resume ---------------------------------------- */

#define BEST_PREFIX "trainer.best."

static const char *monitor_name(int monitor)
{
    return monitor == MON_VAL_ACC ? "val_acc" : "val_loss";
}

void nnrti_tr_watch_state(const ctx *c, char *buf, size_t cap)
{
    const watch *w = &c->w;
    buf[0] = 0;
    if (c->o.patience >= 0 && w->best_epoch > 0)
        snprintf(buf, cap, " monitor=%s best_epoch=%ld best_loss=%.17g best_acc=%.17g", monitor_name(c->o.monitor),
                 w->best_epoch, w->best_rec.val_loss, w->best_rec.val_acc);
}

int nnrti_tr_watch_save_best(ctx *c, const char *path)
{
    if (c->o.patience < 0 || c->w.best_epoch == 0)
        return 0;
    return nnrti_st_append_mem(path, c->w.best_w, c->w.best_len, BEST_PREFIX, &c->err) == NNRT_OK ? 0 : EXIT_RUNTIME;
}

/* The state string's values into w (monitor into mon). */
static int parse_state(const char *s, char mon[16], watch *w)
{
    int at = -1;
    epoch_rec *r = &w->best_rec;
    if (sscanf(s, " monitor=%15[a-z_] best_epoch=%ld best_loss=%lg best_acc=%lg%n", mon, &w->best_epoch,
               &r->val_loss, &r->val_acc, &at) != 4 || at < 0 || s[at] || w->best_epoch < 1)
        return -1;
    return 0;
}

int nnrti_tr_watch_resume(ctx *c, const char *path, const char *state)
{
    watch *w = &c->w;
    char mon[16];
    if (c->o.patience < 0 || !*state) /* early stopping off in this run, or not yet in that one */
        return 0;
    memset(&w->best_rec, 0, sizeof w->best_rec);
    if (parse_state(state, mon, w) != 0 || w->best_epoch > c->epoch0)
        return nnrti_tr_fail(c, EXIT_RUNTIME, "%s: the checkpoint's early-stopping state '%s' is not 'monitor=M "
                             "best_epoch=E best_loss=L best_acc=A'", path, state);
    if (strcmp(mon, monitor_name(c->o.monitor)) != 0)
        return nnrti_tr_fail(c, EXIT_USAGE, "%s: the checkpoint's early stopping watched %s; resume with --monitor %s",
                             path, mon, mon);
    if (c->epoch0 - w->best_epoch >= c->o.patience)
        return nnrti_tr_fail(c, EXIT_USAGE, "%s: its run stopped early after epoch %ld (%s did not improve for %ld "
                             "epochs); nothing to continue with --patience %ld", path, c->epoch0, mon,
                             c->epoch0 - w->best_epoch, c->o.patience);
    w->best_rec.epoch = w->best_epoch;
    w->best = c->o.monitor == MON_VAL_ACC ? w->best_rec.val_acc : w->best_rec.val_loss;
    free(w->best_w);
    w->best_w = NULL;
    return nnrti_st_extract_mem(path, BEST_PREFIX, &w->best_w, &w->best_len, &c->err) == NNRT_OK ? 0 : EXIT_RUNTIME;
}
