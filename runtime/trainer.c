/* trainer.c — nnrt_main, the command line of a generated trainer program.
 *
 *   prog train   --data FILE [--labels FILE] --epochs N [--lr X] [--seed S]
 *                [--val-split F] [--scale X] [--save W] [--resume W]
 *                [--checkpoint C] [--augment LIST]
 *   prog train   --text FILE --epochs N [--steps-per-epoch N] [--val-split F]
 *                [--lr X] [--seed S] [--save W] [--resume W]
 *   prog eval    --data FILE [--labels FILE] --load W [--scale X]
 *   prog predict --data FILE [--labels FILE] --load W [--scale X]
 *   prog calibrate --data FILE [--labels FILE] --load W --out CALIB [--scale X]
 *   prog sample  --text FILE --load W --prompt P [--len N] [--temperature X]
 *                [--seed S]
 *   prog reconstruct --data IMAGES --load W --out GRID.pgm [--count N]
 *                [--scale X]
 *   prog generate --load W --out GRID.png [--count N] [--seed S]
 *   prog --help
 * Every command also takes --allow-nonfinite (NaN/Inf weights load and save).
 * train also takes --patience N [--min-delta X] [--monitor val_loss|val_acc]
 * (early stopping, the best weights restored: trainer_watch.c), --test FILE
 * [--test-labels FILE], --log FILE.csv [--log-every N] and --plot FILE.svg
 * (trainer_log.c); eval and predict take --val-split F [--split
 * val|train|all] and --seed S (trainer_split.c). train, eval and predict
 * take --classes LIST (trainer_classes.c) and, for a model with several
 * inputs, --data-for INPUT=FILE (trainer_inputs.c).
 *
 * Weights are safetensors files. Without --allow-nonfinite, loaded weights
 * must be finite (nnrt_st_check_finite names the tensor), and --save goes
 * through a scratch file beside it whose weights are checked before it
 * replaces --save (atomic_file.h), so a NaN never replaces good weights.
 * --save is checked before training starts.
 *
 * Data files are IDX images (magic 00 00 08 03, with --labels naming the IDX
 * labels) or CSV (features, then targets). A model without a target (an
 * autoencoder) reads images without labels and CSV lines of features only.
 * Text files (--text) feed character models: i32 [B, T] ids in, the next
 * characters as the i32 [B, T] target, a first output [B, T, V]. Results go
 * to stdout, one line per epoch / evaluation / prediction; errors are one
 * line "prog: error: ..." on stderr. Exit status: 0 ok, 1 runtime error (bad
 * file, NaN loss, ...), 2 usage error (bad option or number). Nothing here
 * calls exit().
 *
 * Evaluation runs the whole set through d->forward in batches of d->batch;
 * the last partial batch is padded by repeating its last example and only
 * the real examples are scored. Losses are means over a batch, so the loss
 * of an evaluation is the mean over the full batches only (the padded batch
 * would weight its last example more than once).
 *
 * What is scored depends on the model and the data:
 *   - class labels (y_dtype I32) with out_numel == y_numel * classes: argmax
 *     accuracy (per example, or per position for a sequence of labels);
 *   - float targets with out_numel == y_numel, all 0 or 1:
 *       one 1 per row (y_numel > 1): one-hot, argmax accuracy;
 *       otherwise: binary accuracy, (p > 0.5) == (t > 0.5) per element;
 *   - other float targets with out_numel == y_numel: mean squared error;
 *   - anything else (no target included): the loss only.
 *
 * The code is split by concern; trainer.h lists the files.
 */
#define _POSIX_C_SOURCE 200809L

#include "trainer.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- messages ----------------------------------------------------------- */

int nnrti_tr_fail(ctx *c, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err.msg, sizeof c->err.msg, fmt, ap);
    va_end(ap);
    return status;
}

void nnrti_tr_append(ctx *c, const char *fmt, ...)
{
    size_t len = strlen(c->err.msg);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err.msg + len, sizeof c->err.msg - len, fmt, ap);
    va_end(ap);
}

/* The model's own message for a failed call, or a generic one. */
int nnrti_tr_model_fail(ctx *c, const char *what)
{
    const char *msg = c->d->last_error && c->m ? c->d->last_error(c->m) : NULL;
    if (msg && *msg)
        return nnrti_tr_fail(c, EXIT_RUNTIME, "%s", msg);
    return nnrti_tr_fail(c, EXIT_RUNTIME, "model %s: %s failed", c->d->name, what);
}

/* A character model: i32 [B, T] ids, i32 [B, T] next ids, output
 * [B, T, V] with V = classes. */
int nnrti_tr_is_char_model(const nnrt_model_desc *d)
{
    return d->n_inputs <= 1 && d->x_dtype == NNRT_I32 && d->x_rank == 1 && d->has_target && d->y_dtype == NNRT_I32 &&
           d->y_numel == d->x_numel && d->classes > 0 && d->out_numel == d->x_numel * (size_t)d->classes;
}

/* ---- buffers and model -------------------------------------------------- */

/* malloc(a * b * c) with overflow check; never 0 bytes. */
void *nnrti_tr_alloc3(size_t a, size_t b, size_t c)
{
    if (b && a > (size_t)-1 / b)
        return NULL;
    a *= b;
    if (c && a > (size_t)-1 / c)
        return NULL;
    a *= c;
    return malloc(a ? a : 1);
}

int nnrti_tr_alloc_bufs(ctx *c)
{
    const nnrt_model_desc *d = c->d;
    size_t bn = (size_t)d->batch;
    c->b.x = nnrti_tr_alloc3(bn, nnrti_tr_x_bytes(d), 1);
    c->b.y = nnrti_tr_alloc3(bn, d->y_numel, nnrt_dtype_size(c->y_batch_dtype));
    c->b.out = nnrti_tr_alloc3(bn, d->out_numel, c->esz);
    c->b.lab = nnrti_tr_alloc3(bn, 1, sizeof(int32_t));
    c->b.idx = nnrti_tr_alloc3(bn, 1, sizeof(int64_t));
    if (!c->b.x || !c->b.y || !c->b.out || !c->b.lab || !c->b.idx)
        return nnrti_tr_fail(c, EXIT_RUNTIME, "out of memory for batches of %lld", (long long)d->batch);
    return 0;
}

static void free_all(ctx *c)
{
    free(c->b.x);
    free(c->b.y);
    free(c->b.out);
    free(c->b.lab);
    free(c->b.idx);
    memset(&c->b, 0, sizeof c->b);
    if (c->m)
        c->d->destroy(c->m);
    c->m = NULL;
    nnrti_tr_watch_free(c);
}

/* Weights must be finite unless --allow-nonfinite: the message names the
 * tensor (what: "--load" or "--resume"). */
int nnrti_tr_check_finite(ctx *c, const char *path, const char *what)
{
    if (c->o.allow_nonfinite || nnrt_st_check_finite(path, &c->err) == NNRT_OK)
        return 0;
    if (strstr(c->err.msg, " holds "))
        nnrti_tr_append(c, "; %s weights must be finite (--allow-nonfinite accepts them)", what);
    return EXIT_RUNTIME;
}

/* Create the model; load weights from path when non-NULL. */
int nnrti_tr_make_model(ctx *c, uint64_t seed, const char *path)
{
    const nnrt_model_desc *d = c->d;
    c->m = d->create(seed);
    if (!c->m)
        return nnrti_tr_fail(c, EXIT_RUNTIME, "model %s: cannot create (out of memory?)", d->name);
    if (!path)
        return 0;
    if (!d->load)
        return nnrti_tr_fail(c, EXIT_RUNTIME, "model %s cannot load weights", d->name);
    if (d->load(c->m, path))
        return nnrti_tr_model_fail(c, "load");
    return nnrti_tr_check_finite(c, path, c->o.cmd == CMD_TRAIN ? "--resume" : "--load");
}

/* Several inputs: named, their values per example add up to x_numel, and
 * their types (in_dtypes) are int32 or the model's. */
static int inputs_ok(const nnrt_model_desc *d)
{
    size_t sum = 0;
    int i;
    if (d->n_inputs <= 1)
        return d->n_inputs >= 0;
    if (!d->in_names || !d->in_numel || d->x_rank != 1)
        return 0;
    if (d->in_dtypes && d->x_dtype != d->dtype)
        return 0;
    for (i = 0; i < d->n_inputs; i++) {
        if (!d->in_names[i] || d->in_numel[i] == 0)
            return 0;
        if (d->in_dtypes && d->in_dtypes[i] != NNRT_I32 && d->in_dtypes[i] != d->dtype)
            return 0;
        sum += d->in_numel[i];
    }
    return sum == d->x_numel;
}

/* Sanity of what the generated main passed in. */
static int check_desc(ctx *c)
{
    const nnrt_model_desc *d = c->d;
    if (!d->name || (d->dtype != NNRT_F32 && d->dtype != NNRT_F64) || d->batch <= 0 || d->x_numel == 0 || !d->create ||
        !d->destroy || !d->forward || d->classes < 0 || (d->x_dtype != d->dtype && d->x_dtype != NNRT_I32) ||
        (d->has_target != 0 && d->has_target != 1) || (d->has_target != (d->y_numel > 0)) ||
        (d->y_numel > 0 && d->y_dtype != NNRT_I32 && d->y_dtype != d->dtype) || d->out_rank < 0 ||
        d->out_rank > NNRT_MAX_RANK || !inputs_ok(d))
        return nnrti_tr_fail(c, EXIT_RUNTIME, "model %s: invalid model description", d->name ? d->name : "?");
    return 0;
}

/* ---- small shared helpers ----------------------------------------------- */

/* Element i of a buffer of the model's float dtype, as a double. */
double nnrti_tr_at(const void *p, int dtype, size_t i)
{
    return dtype == NNRT_F64 ? ((const double *)p)[i] : (double)((const float *)p)[i];
}

/* strerror without shared state. */
const char *nnrti_tr_errstr(int e, char *buf, size_t n)
{
    if (strerror_r(e, buf, n) != 0)
        snprintf(buf, n, "error %d", e);
    return buf;
}

/* stdout must have taken everything. */
int nnrti_tr_check_stdout(ctx *c)
{
    if (fflush(stdout) != 0 || ferror(stdout))
        return nnrti_tr_fail(c, EXIT_RUNTIME, "stdout: write failed");
    return 0;
}

/* ---- entry -------------------------------------------------------------- */

static const char *base_name(const char *argv0)
{
    const char *s;
    if (!argv0 || !*argv0)
        return "nnrt";
    s = strrchr(argv0, '/');
    return s && s[1] ? s + 1 : argv0;
}

static int run_command(ctx *c)
{
    int rc = check_desc(c);
    if (rc)
        return rc;
    if (c->o.cmd != CMD_TRAIN && nnrti_tr_rank(c) != 0)
        return 0; /* on several ranks, rank 0 alone evaluates, predicts, samples */
    c->esz = nnrt_dtype_size(c->d->dtype);
    c->xsz = nnrt_dtype_size(c->d->x_dtype);
    c->y_batch_dtype = c->d->y_dtype == NNRT_I32 ? NNRT_I32 : c->d->dtype;
    switch (c->o.cmd) {
    case CMD_TRAIN: rc = c->o.raw[O_TEXT] ? nnrti_tr_cmd_train_text(c) : nnrti_tr_cmd_train(c); break;
    case CMD_EVAL: rc = nnrti_tr_cmd_eval(c); break;
    case CMD_SAMPLE: rc = nnrti_tr_cmd_sample(c); break;
    case CMD_RECON: rc = nnrti_tr_cmd_reconstruct(c); break;
    case CMD_CALIB: rc = nnrti_tr_cmd_calibrate(c); break;
    case CMD_GEN: rc = nnrti_tr_cmd_generate(c); break;
    default: rc = nnrti_tr_cmd_predict(c); break;
    }
    free_all(c);
    return rc;
}

int nnrt_main(int argc, char **argv, const nnrt_model_desc *d)
{
    return nnrt_main_dist(argc, argv, d, NULL);
}

int nnrt_main_dist(int argc, char **argv, const nnrt_model_desc *d, const nnrt_dist *dist)
{
    ctx c;
    int rc, help = 0;
    memset(&c, 0, sizeof c);
    c.d = d;
    c.dist = dist;
    c.prog = base_name(argc > 0 ? argv[0] : NULL);
    if (!d) {
        fprintf(stderr, "%s: error: no model description\n", c.prog);
        return EXIT_RUNTIME;
    }
    rc = nnrti_tr_parse_args(&c, argc, argv, &help);
    if (help) {
        nnrti_tr_print_help(c.prog, d);
        if (fflush(stdout) == 0 && !ferror(stdout))
            return 0;
        fprintf(stderr, "%s: error: stdout: write failed\n", c.prog);
        return EXIT_RUNTIME;
    }
    if (rc == 0)
        rc = run_command(&c);
    if (rc == 0)
        return 0;
    fflush(stdout);
    fprintf(stderr, "%s: error: %s\n", c.prog, c.err.msg);
    if (rc == EXIT_USAGE) {
        nnrti_tr_print_usage(stderr, c.prog);
        fprintf(stderr, "run '%s --help' for details\n", c.prog);
    }
    return rc;
}
