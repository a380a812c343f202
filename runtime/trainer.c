/* trainer.c — nnrt_main, the command line of a generated trainer program.
 *
 *   prog train   --data FILE [--labels FILE] --epochs N [--lr X] [--seed S]
 *                [--val-split F] [--scale X] [--save W] [--resume W]
 *   prog eval    --data FILE [--labels FILE] --load W [--scale X]
 *   prog predict --data FILE [--labels FILE] --load W [--scale X]
 *   prog --help
 *
 * Data files are IDX images (magic 00 00 08 03, with --labels naming the IDX
 * labels) or CSV (features, then targets). Results go to stdout, one line per
 * epoch / evaluation / prediction; errors are one line "prog: error: ..." on
 * stderr. Exit status: 0 ok, 1 runtime error (bad file, NaN loss, ...),
 * 2 usage error (bad option or number). Nothing here calls exit().
 *
 * Evaluation runs the whole set through d->forward in batches of d->batch;
 * the last partial batch is padded by repeating its last example and only
 * the real examples are scored. Losses are means over a batch, so the loss
 * of an evaluation is the mean over the full batches only (the padded batch
 * would weight its last example more than once).
 *
 * What is scored depends on the model and the data:
 *   - class labels (y_dtype I32) with out_numel == classes: argmax accuracy;
 *   - float targets with out_numel == y_numel, all 0 or 1:
 *       one 1 per row (y_numel > 1): one-hot, argmax accuracy;
 *       otherwise: binary accuracy, (p > 0.5) == (t > 0.5) per element;
 *   - other float targets with out_numel == y_numel: mean squared error;
 *   - anything else: the loss only.
 */
#define _POSIX_C_SOURCE 200809L

#include "nnrt.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__GNUC__) || defined(__clang__)
#define TR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define TR_PRINTF(f, a)
#endif

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

/* ---- options ------------------------------------------------------------ */

enum { CMD_TRAIN = 1, CMD_EVAL = 2, CMD_PREDICT = 4 };

enum {
    O_DATA, O_LABELS, O_EPOCHS, O_LR, O_SEED, O_VAL_SPLIT, O_SCALE, O_SAVE,
    O_RESUME, O_LOAD, O_COUNT
};

/* Option names and the commands that take them. */
static const struct optdef {
    const char *name;
    int cmds;
} optdefs[O_COUNT] = {
    {"data", CMD_TRAIN | CMD_EVAL | CMD_PREDICT},
    {"labels", CMD_TRAIN | CMD_EVAL | CMD_PREDICT},
    {"epochs", CMD_TRAIN},
    {"lr", CMD_TRAIN},
    {"seed", CMD_TRAIN},
    {"val-split", CMD_TRAIN},
    {"scale", CMD_TRAIN | CMD_EVAL | CMD_PREDICT},
    {"save", CMD_TRAIN},
    {"resume", CMD_TRAIN},
    {"load", CMD_EVAL | CMD_PREDICT},
};

/* The parsed command line. */
typedef struct opts {
    int cmd;                  /* CMD_* */
    const char *cmd_name;     /* "train", ... */
    const char *raw[O_COUNT]; /* option values as given, NULL if absent */
    long epochs;
    double lr;
    int have_lr;
    uint64_t seed;
    double val_split;
    float scale;
} opts;

/* ---- what is scored ----------------------------------------------------- */

enum { M_NONE, M_ARGMAX, M_ONEHOT, M_BINARY, M_MSE };

/* Sums over one pass through a dataset. */
typedef struct score {
    int64_t n;            /* examples */
    int64_t hits;         /* correct examples (or elements for M_BINARY) */
    int64_t total;        /* what hits is out of */
    double sq;            /* sum of squared errors (M_MSE) */
    int64_t sq_n;         /* elements summed into sq */
    double loss;          /* sum of full-batch losses */
    int64_t loss_batches; /* full batches in loss */
} score;

/* Batch buffers, each d->batch examples long. */
typedef struct bufs {
    void *x;      /* inputs, model dtype */
    void *y;      /* targets: int32 labels or model dtype */
    void *out;    /* first output, model dtype */
    int32_t *lab; /* labels derived from one-hot targets */
    int64_t *idx; /* example indices of the batch */
} bufs;

/* Everything one run needs; passed around instead of globals. */
typedef struct ctx {
    const nnrt_model_desc *d;
    const char *prog; /* program name for messages */
    opts o;
    void *m;          /* the model, NULL until created */
    int metric;       /* M_* */
    int y_batch_dtype;/* dtype of targets in batch buffers */
    size_t esz;       /* model element size */
    bufs b;
    nnrt_err err;     /* the message of the failure being returned */
} ctx;

/* ---- messages ----------------------------------------------------------- */

/* Record a message in c->err and return status (EXIT_RUNTIME / EXIT_USAGE). */
static int fail(ctx *c, int status, const char *fmt, ...) TR_PRINTF(3, 4);
static int fail(ctx *c, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err.msg, sizeof c->err.msg, fmt, ap);
    va_end(ap);
    return status;
}

/* The model's own message for a failed call, or a generic one. */
static int model_fail(ctx *c, const char *what)
{
    const char *msg = c->d->last_error && c->m ? c->d->last_error(c->m) : NULL;
    if (msg && *msg)
        return fail(c, EXIT_RUNTIME, "%s", msg);
    return fail(c, EXIT_RUNTIME, "model %s: %s failed", c->d->name, what);
}

static void print_usage(FILE *f, const char *prog)
{
    fprintf(f,
            "usage: %s train --data FILE [--labels FILE] --epochs N [--lr X]"
            " [--seed S]\n"
            "          [--val-split F] [--scale X] [--save W.safetensors]"
            " [--resume W.safetensors]\n"
            "       %s eval --data FILE [--labels FILE] --load W.safetensors"
            " [--scale X]\n"
            "       %s predict --data FILE [--labels FILE] --load"
            " W.safetensors [--scale X]\n"
            "       %s --help\n",
            prog, prog, prog, prog);
}

static void print_help(const char *prog, const nnrt_model_desc *d)
{
    printf("%s: trainer for model %s (%s, batch %lld, %zu input values per "
           "example",
           prog, d->name ? d->name : "?", d->dtype == NNRT_F64 ? "f64" : "f32",
           (long long)d->batch, d->x_numel);
    if (d->y_numel > 0 && d->y_dtype == NNRT_I32)
        printf(", %d classes", d->classes);
    else if (d->y_numel > 0)
        printf(", %zu targets", d->y_numel);
    printf(")\n\n");
    print_usage(stdout, prog);
    printf(
        "\ncommands:\n"
        "  train     train the model, printing one line per epoch\n"
        "  eval      print the loss and accuracy of saved weights on a data "
        "set\n"
        "  predict   print one line per example: the class, or the outputs\n"
        "\noptions:\n"
        "  --data FILE      CSV (features then targets per line, no header)"
        " or IDX images\n"
        "  --labels FILE    IDX labels, with IDX images\n"
        "  --epochs N       passes over the training data\n"
        "  --lr X           learning rate (default: the model's, %g)\n"
        "  --seed S         seed for initialization and shuffling (default "
        "1)\n"
        "  --val-split F    hold out the last fraction F (0 <= F < 1) of the "
        "data\n"
        "  --scale X        multiply every feature by X (default 1)\n"
        "  --save W         write the trained weights (safetensors)\n"
        "  --resume W       start from saved weights\n"
        "  --load W         weights to evaluate or predict with (optional "
        "for a model\n"
        "                   without a train statement: its initial values)\n",
        d->default_lr);
}

/* ---- argument parsing --------------------------------------------------- */

static int find_option(const char *name, size_t len)
{
    int i;
    for (i = 0; i < O_COUNT; i++)
        if (strlen(optdefs[i].name) == len &&
            memcmp(optdefs[i].name, name, len) == 0)
            return i;
    return -1;
}

static int parse_command(ctx *c, const char *s)
{
    static const char *const names[] = {"train", "eval", "predict"};
    int i;
    for (i = 0; i < 3; i++)
        if (strcmp(s, names[i]) == 0) {
            c->o.cmd = 1 << i;
            c->o.cmd_name = names[i];
            return 0;
        }
    if (s[0] == '-')
        return fail(c, EXIT_USAGE, "expected a command (train, eval or "
                    "predict) before '%s'", s);
    return fail(c, EXIT_USAGE, "unknown command '%s' (expected train, eval "
                "or predict)", s);
}

/* Parse "--name value" or "--name=value" at argv[*i]; advances *i. */
static int parse_option(ctx *c, int argc, char **argv, int *i)
{
    const char *a = argv[*i], *name, *eq, *val;
    size_t len;
    int k;
    if (a[0] != '-')
        return fail(c, EXIT_USAGE, "unexpected argument '%s'", a);
    if (a[1] != '-' || a[2] == 0 || a[2] == '=')
        return fail(c, EXIT_USAGE, "unknown option '%s'", a);
    name = a + 2;
    eq = strchr(name, '=');
    len = eq ? (size_t)(eq - name) : strlen(name);
    val = eq ? eq + 1 : NULL;
    k = find_option(name, len);
    if (k < 0)
        return fail(c, EXIT_USAGE, "unknown option '--%.*s'", (int)len, name);
    if (!(optdefs[k].cmds & c->o.cmd))
        return fail(c, EXIT_USAGE, "option --%s does not apply to %s",
                    optdefs[k].name, c->o.cmd_name);
    if (!val) {
        if (*i + 1 >= argc)
            return fail(c, EXIT_USAGE, "option --%s needs a value",
                        optdefs[k].name);
        val = argv[++*i];
    }
    if (!*val)
        return fail(c, EXIT_USAGE, "option --%s has an empty value",
                    optdefs[k].name);
    if (c->o.raw[k])
        return fail(c, EXIT_USAGE, "option --%s given twice",
                    optdefs[k].name);
    c->o.raw[k] = val;
    return 0;
}

/* A finite double covering all of s. */
static int to_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    return *s && end != s && *end == 0 && errno != ERANGE && isfinite(*out);
}

/* A decimal integer in [lo, hi] covering all of s. */
static int to_ulong(const char *s, unsigned long long hi,
                    unsigned long long *out)
{
    char *end;
    if (*s < '0' || *s > '9')
        return 0;
    errno = 0;
    *out = strtoull(s, &end, 10);
    return *end == 0 && errno != ERANGE && *out <= hi;
}

/* Convert and check the numeric options and the required ones. */
static int check_options(ctx *c)
{
    opts *o = &c->o;
    unsigned long long u;
    double v;
    o->seed = 1;
    o->scale = 1.0f;
    if (!o->raw[O_DATA])
        return fail(c, EXIT_USAGE, "%s needs --data FILE", o->cmd_name);
    if (o->cmd == CMD_TRAIN && !o->raw[O_EPOCHS])
        return fail(c, EXIT_USAGE, "train needs --epochs N");
    /* a model without a train statement can run on its initial values */
    if (o->cmd != CMD_TRAIN && !o->raw[O_LOAD] && c->d->trainable)
        return fail(c, EXIT_USAGE, "%s needs --load W.safetensors",
                    o->cmd_name);
    if (o->raw[O_EPOCHS]) {
        if (!to_ulong(o->raw[O_EPOCHS], 1000000000ull, &u) || u < 1)
            return fail(c, EXIT_USAGE, "--epochs '%s' is not a positive "
                        "integer", o->raw[O_EPOCHS]);
        o->epochs = (long)u;
    }
    if (o->raw[O_SEED]) {
        if (!to_ulong(o->raw[O_SEED], UINT64_MAX, &u))
            return fail(c, EXIT_USAGE, "--seed '%s' is not a non-negative "
                        "integer", o->raw[O_SEED]);
        o->seed = (uint64_t)u;
    }
    if (o->raw[O_LR]) {
        if (!to_double(o->raw[O_LR], &o->lr) || !(o->lr > 0))
            return fail(c, EXIT_USAGE, "--lr '%s' is not a positive number",
                        o->raw[O_LR]);
        o->have_lr = 1;
    }
    if (o->raw[O_VAL_SPLIT] &&
        (!to_double(o->raw[O_VAL_SPLIT], &o->val_split) ||
         !(o->val_split >= 0 && o->val_split < 1)))
        return fail(c, EXIT_USAGE, "--val-split '%s' is not a number in "
                    "[0, 1)", o->raw[O_VAL_SPLIT]);
    if (o->raw[O_SCALE]) {
        if (!to_double(o->raw[O_SCALE], &v) || !isfinite((float)v))
            return fail(c, EXIT_USAGE, "--scale '%s' is not a finite number",
                        o->raw[O_SCALE]);
        o->scale = (float)v;
    }
    return 0;
}

/* Fill c->o from argv. Returns 0, or EXIT_USAGE with c->err set;
 * *help is set for --help / -h (anywhere). */
static int parse_args(ctx *c, int argc, char **argv, int *help)
{
    int i, rc;
    for (i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            *help = 1;
            return 0;
        }
    if (argc < 2)
        return fail(c, EXIT_USAGE, "no command given");
    if ((rc = parse_command(c, argv[1])) != 0)
        return rc;
    for (i = 2; i < argc; i++)
        if ((rc = parse_option(c, argc, argv, &i)) != 0)
            return rc;
    return check_options(c);
}

/* ---- data --------------------------------------------------------------- */

/* strerror without shared state. */
static const char *errstr(int e, char *buf, size_t n)
{
    if (strerror_r(e, buf, n) != 0)
        snprintf(buf, n, "error %d", e);
    return buf;
}

/* 1 if path starts with the IDX u8 rank-3 magic 00 00 08 03, 0 if not,
 * -1 (with c->err) if it cannot be read. */
static int is_idx_images(ctx *c, const char *path)
{
    unsigned char m[4];
    size_t got;
    char eb[128];
    FILE *f = fopen(path, "rb");
    if (!f) {
        fail(c, EXIT_RUNTIME, "%s: cannot open: %s", path,
             errstr(errno, eb, sizeof eb));
        return -1;
    }
    got = fread(m, 1, 4, f);
    fclose(f);
    return got == 4 && m[0] == 0 && m[1] == 0 && m[2] == 8 && m[3] == 3;
}

/* Columns of the first non-blank line of a CSV file (0 if none). */
static size_t csv_columns(const char *path)
{
    size_t cols = 1;
    int ch, seen = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    while ((ch = getc(f)) != EOF) {
        if (ch == '\n') {
            if (seen)
                break;
            continue;
        }
        if (ch != ' ' && ch != '\t' && ch != '\r')
            seen = 1;
        cols += ch == ',';
    }
    fclose(f);
    return seen ? cols : 0;
}

/* Add what the model expects to a CSV column-count message. */
static void csv_hint(ctx *c)
{
    size_t len = strlen(c->err.msg);
    if (!strstr(c->err.msg, " columns, got "))
        return;
    snprintf(c->err.msg + len, sizeof c->err.msg - len,
             " (model %s takes %zu feature%s and %zu target%s per line)",
             c->d->name, c->d->x_numel, c->d->x_numel == 1 ? "" : "s",
             c->d->y_numel, c->d->y_numel == 1 ? "" : "s");
}

static int load_csv(ctx *c, const char *path, int need_y, nnrt_dataset *ds)
{
    const nnrt_model_desc *d = c->d;
    size_t ny = d->y_numel;
    if (c->o.raw[O_LABELS])
        return fail(c, EXIT_USAGE, "--labels is for IDX images, but %s is "
                    "not an IDX image file", path);
    /* predict accepts feature-only lines */
    if (!need_y && csv_columns(path) == d->x_numel)
        ny = 0;
    if (nnrt_load_csv(path, d->x_numel, ny,
                      d->y_dtype == NNRT_I32 ? NNRT_I32 : NNRT_F32,
                      d->y_dtype == NNRT_I32 ? d->classes : 0, c->o.scale, ds,
                      &c->err) != NNRT_OK) {
        csv_hint(c);
        return EXIT_RUNTIME;
    }
    return 0;
}

/* IDX images without labels (predict). */
static int load_idx_images(ctx *c, const char *path, nnrt_dataset *ds)
{
    return nnrt_load_idx(path, NULL, ds, &c->err) == NNRT_OK ? 0 : EXIT_RUNTIME;
}

/* Labels must be class numbers below d->classes. */
static int check_idx_labels(ctx *c, const nnrt_dataset *ds)
{
    const int32_t *y = ds->y;
    const char *lpath = c->o.raw[O_LABELS];
    int64_t i;
    if (c->d->y_dtype != NNRT_I32 || c->d->y_numel != 1)
        return fail(c, EXIT_RUNTIME, "%s: IDX labels are class numbers, but "
                    "model %s takes %zu float target%s per example", lpath,
                    c->d->name, c->d->y_numel, c->d->y_numel == 1 ? "" : "s");
    for (i = 0; c->d->classes > 0 && i < ds->n; i++)
        if (y[i] < 0 || y[i] >= c->d->classes)
            return fail(c, EXIT_RUNTIME, "%s: label %d at index %lld is not "
                        "below the model's %d classes", lpath, (int)y[i],
                        (long long)i, c->d->classes);
    return 0;
}

static int load_idx(ctx *c, const char *path, int need_y, nnrt_dataset *ds)
{
    const char *lpath = c->o.raw[O_LABELS];
    int rc;
    size_t k;
    if (!lpath && need_y)
        return fail(c, EXIT_USAGE, "%s holds IDX images; give their labels "
                    "with --labels FILE", path);
    if (lpath)
        rc = nnrt_load_idx(path, lpath, ds, &c->err) ? EXIT_RUNTIME : 0;
    else
        rc = load_idx_images(c, path, ds);
    if (rc)
        return rc;
    if (ds->x_numel != c->d->x_numel)
        return fail(c, EXIT_RUNTIME, "%s: images are %lldx%lld (%zu values) "
                    "but model %s takes %zu values per example", path,
                    (long long)ds->x_shape[0], (long long)ds->x_shape[1],
                    ds->x_numel, c->d->name, c->d->x_numel);
    if (lpath && c->d->y_numel > 0 && (rc = check_idx_labels(c, ds)) != 0)
        return rc;
    if (c->d->y_numel == 0)
        ds->y_numel = 0; /* the model has no target: ignore the labels */
    for (k = 0; c->o.scale != 1.0f && k < (size_t)ds->n * ds->x_numel; k++)
        ds->x[k] *= c->o.scale;
    return 0;
}

/* Load --data (and --labels). need_y: the targets must be there. The caller
 * frees ds (also on error). */
static int load_data(ctx *c, int need_y, nnrt_dataset *ds)
{
    const char *path = c->o.raw[O_DATA];
    memset(ds, 0, sizeof *ds);
    /* with --labels the data must be IDX: let the loader say what is wrong */
    int idx = c->o.raw[O_LABELS] ? 1 : is_idx_images(c, path);
    if (idx < 0)
        return EXIT_RUNTIME;
    return idx ? load_idx(c, path, need_y, ds) : load_csv(c, path, need_y, ds);
}

/* ---- metric choice ------------------------------------------------------ */

/* Float targets: 1 if all 0 or 1; *onehot set if also one 1 per row. */
static int targets_01(const nnrt_dataset *ds, int *onehot)
{
    const float *y = ds->y;
    int64_t i;
    size_t k, m = ds->y_numel;
    *onehot = m > 1;
    for (i = 0; i < ds->n; i++) {
        size_t ones = 0;
        for (k = 0; k < m; k++) {
            float v = y[(size_t)i * m + k];
            if (v != 0.0f && v != 1.0f)
                return 0;
            ones += v == 1.0f;
        }
        if (ones != 1)
            *onehot = 0;
    }
    return 1;
}

static int choose_metric(const nnrt_model_desc *d, const nnrt_dataset *ds)
{
    int onehot;
    if (ds->y_numel == 0 || d->y_numel == 0)
        return M_NONE;
    if (d->y_dtype == NNRT_I32)
        return d->classes > 0 && d->out_numel == (size_t)d->classes
                   ? M_ARGMAX
                   : M_NONE;
    if (d->out_numel != d->y_numel)
        return M_NONE;
    if (targets_01(ds, &onehot))
        return onehot ? M_ONEHOT : M_BINARY;
    return M_MSE;
}

/* ---- buffers and model -------------------------------------------------- */

/* malloc(a * b * c) with overflow check; never 0 bytes. */
static void *alloc3(size_t a, size_t b, size_t c)
{
    if (b && a > (size_t)-1 / b)
        return NULL;
    a *= b;
    if (c && a > (size_t)-1 / c)
        return NULL;
    a *= c;
    return malloc(a ? a : 1);
}

static int alloc_bufs(ctx *c)
{
    const nnrt_model_desc *d = c->d;
    size_t bn = (size_t)d->batch;
    c->b.x = alloc3(bn, d->x_numel, c->esz);
    c->b.y = alloc3(bn, d->y_numel, nnrt_dtype_size(c->y_batch_dtype));
    c->b.out = alloc3(bn, d->out_numel, c->esz);
    c->b.lab = alloc3(bn, 1, sizeof(int32_t));
    c->b.idx = alloc3(bn, 1, sizeof(int64_t));
    if (!c->b.x || !c->b.y || !c->b.out || !c->b.lab || !c->b.idx)
        return fail(c, EXIT_RUNTIME, "out of memory for batches of %lld",
                    (long long)d->batch);
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
}

/* Create the model; load weights from path when non-NULL. */
static int make_model(ctx *c, uint64_t seed, const char *path)
{
    const nnrt_model_desc *d = c->d;
    c->m = d->create(seed);
    if (!c->m)
        return fail(c, EXIT_RUNTIME, "model %s: cannot create (out of "
                    "memory?)", d->name);
    if (!path)
        return 0;
    if (!d->load)
        return fail(c, EXIT_RUNTIME, "model %s cannot load weights",
                    d->name);
    return d->load(c->m, path) ? model_fail(c, "load") : 0;
}

/* Sanity of what the generated main passed in. */
static int check_desc(ctx *c)
{
    const nnrt_model_desc *d = c->d;
    if (!d->name || (d->dtype != NNRT_F32 && d->dtype != NNRT_F64) ||
        d->batch <= 0 || d->x_numel == 0 || !d->create || !d->destroy ||
        !d->forward || d->classes < 0 ||
        (d->y_numel > 0 && d->y_dtype != NNRT_I32 &&
         d->y_dtype != d->dtype) ||
        (d->y_dtype == NNRT_I32 && d->y_numel > 1))
        return fail(c, EXIT_RUNTIME, "model %s: invalid model description",
                    d->name ? d->name : "?");
    return 0;
}

/* ---- evaluation --------------------------------------------------------- */

static double at(const void *p, int dtype, size_t i)
{
    return dtype == NNRT_F64 ? ((const double *)p)[i]
                             : (double)((const float *)p)[i];
}

/* Index of the largest of row[0..n) (first on ties, NaN never wins). */
static int argmax_row(const void *p, int dtype, size_t row, size_t n)
{
    size_t j, best = 0;
    for (j = 1; j < n; j++) {
        double v = at(p, dtype, row * n + j), b = at(p, dtype, row * n + best);
        if (v > b || (isnan(b) && !isnan(v)))
            best = j;
    }
    return (int)best;
}

/* Gather examples [start, start + count) of ds, padding the batch with the
 * last one, and run forward. */
static int forward_batch(ctx *c, const nnrt_dataset *ds, int64_t start,
                         int64_t count)
{
    const nnrt_model_desc *d = c->d;
    int64_t k;
    for (k = 0; k < d->batch; k++)
        c->b.idx[k] = start + (k < count ? k : count - 1);
    nnrt_gather(ds, c->b.idx, d->batch, d->dtype, c->b.x, c->y_batch_dtype,
                ds->y_numel ? c->b.y : NULL);
    return d->forward(c->m, c->b.x, c->b.out) ? model_fail(c, "forward") : 0;
}

/* Score the first count examples of the current batch. */
static void score_batch(ctx *c, int64_t count, score *s)
{
    const nnrt_model_desc *d = c->d;
    int dt = d->dtype;
    int64_t i, m = (int64_t)d->y_numel;
    s->n += count;
    switch (c->metric) {
    case M_ONEHOT:
        for (i = 0; i < count; i++)
            c->b.lab[i] = argmax_row(c->b.y, dt, (size_t)i, (size_t)m);
        /* fall through */
    case M_ARGMAX: {
        const int32_t *lab = c->metric == M_ONEHOT ? c->b.lab : c->b.y;
        s->hits += dt == NNRT_F64
                       ? nnrt_count_correct_f64(c->b.out, lab, count,
                                                (int)d->out_numel)
                       : nnrt_count_correct_f32(c->b.out, lab, count,
                                                (int)d->out_numel);
        s->total += count;
        break;
    }
    case M_BINARY:
        s->hits += dt == NNRT_F64
                       ? nnrt_count_binary_f64(c->b.out, c->b.y, count * m)
                       : nnrt_count_binary_f32(c->b.out, c->b.y, count * m);
        s->total += count * m;
        break;
    case M_MSE:
        for (i = 0; i < count * m; i++) {
            double e = at(c->b.out, dt, (size_t)i) - at(c->b.y, dt, (size_t)i);
            s->sq += e * e;
        }
        s->sq_n += count * m;
        break;
    default:
        break;
    }
}

/* One pass over ds. want_loss: also the mean loss over full batches. */
static int evaluate(ctx *c, const nnrt_dataset *ds, int want_loss, score *s)
{
    const nnrt_model_desc *d = c->d;
    int64_t start, count;
    int rc;
    memset(s, 0, sizeof *s);
    want_loss = want_loss && d->loss && ds->y_numel > 0;
    for (start = 0; start < ds->n; start += count) {
        double l;
        count = ds->n - start < d->batch ? ds->n - start : d->batch;
        if ((rc = forward_batch(c, ds, start, count)) != 0)
            return rc;
        score_batch(c, count, s);
        if (!want_loss || count < d->batch)
            continue;
        if (d->loss(c->m, c->b.x, c->b.y, &l))
            return model_fail(c, "loss");
        s->loss += l;
        s->loss_batches++;
    }
    return 0;
}

/* "  <label> acc  97.12%" / "  <label> mse 0.0123" / nothing. */
static void print_score(const ctx *c, const char *label, const score *s)
{
    if (c->metric == M_MSE)
        printf("  %s mse %.6g", label, s->sq_n ? s->sq / (double)s->sq_n : 0);
    else if (c->metric != M_NONE)
        printf("  %s acc %6.2f%%", label,
               s->total ? 100.0 * (double)s->hits / (double)s->total : 0.0);
}

/* stdout must have taken everything. */
static int check_stdout(ctx *c)
{
    if (fflush(stdout) != 0 || ferror(stdout))
        return fail(c, EXIT_RUNTIME, "stdout: write failed");
    return 0;
}

/* ---- train -------------------------------------------------------------- */

/* The train and validation sets of a train run. */
typedef struct split {
    nnrt_dataset all, train, val;
    int have_val;
} split;

static int prepare_data(ctx *c, split *sp)
{
    const char *path = c->o.raw[O_DATA];
    int rc;
    if ((rc = load_data(c, 1, &sp->all)) != 0)
        return rc;
    c->metric = choose_metric(c->d, &sp->all);
    if (c->o.val_split > 0) {
        if (nnrt_split(&sp->all, c->o.val_split, &sp->train, &sp->val,
                       &c->err))
            return EXIT_RUNTIME;
        nnrt_dataset_free(&sp->all);
        if (sp->val.n == 0)
            return fail(c, EXIT_RUNTIME, "%s: --val-split %g of %lld "
                        "examples leaves no validation examples", path,
                        c->o.val_split, (long long)sp->train.n);
        sp->have_val = 1;
    } else {
        sp->train = sp->all;
        memset(&sp->all, 0, sizeof sp->all);
    }
    if (sp->train.n < c->d->batch)
        return fail(c, EXIT_RUNTIME, "%s: %lld training examples, fewer than "
                    "one batch of %lld", path, (long long)sp->train.n,
                    (long long)c->d->batch);
    return 0;
}

/* Can --save be written? Checked before training, not after. */
static int check_save_dir(ctx *c, const char *path)
{
    char dir[4096], eb[128];
    const char *slash = strrchr(path, '/');
    size_t len = slash ? (size_t)(slash - path) : 0;
    if (!slash)
        strcpy(dir, ".");
    else if (len == 0)
        strcpy(dir, "/");
    else if (len < sizeof dir)
        snprintf(dir, sizeof dir, "%.*s", (int)len, path);
    else
        return 0;
    if (access(dir, W_OK) != 0)
        return fail(c, EXIT_RUNTIME, "%s: cannot write to directory %s: %s",
                    path, dir, errstr(errno, eb, sizeof eb));
    return 0;
}

static int check_trainable(ctx *c)
{
    const nnrt_model_desc *d = c->d;
    if (!d->trainable || !d->train_step || d->y_numel == 0)
        return fail(c, EXIT_RUNTIME, "model %s has no loss and optimizer "
                    "(train statement); it cannot be trained", d->name);
    if (c->o.raw[O_SAVE] && !d->save)
        return fail(c, EXIT_RUNTIME, "model %s cannot save weights",
                    d->name);
    if (c->o.have_lr && !d->set_lr)
        return fail(c, EXIT_RUNTIME, "model %s cannot change its learning "
                    "rate", d->name);
    return c->o.raw[O_SAVE] ? check_save_dir(c, c->o.raw[O_SAVE]) : 0;
}

/* One pass of train_step over shuffled full batches; *mean gets the mean
 * loss. idx holds n_train entries. */
static int train_epoch(ctx *c, const nnrt_dataset *tr, int64_t *idx,
                       long epoch, double *mean)
{
    const nnrt_model_desc *d = c->d;
    int64_t steps = tr->n / d->batch, s;
    double sum = 0;
    nnrt_progress p;
    nnrt_shuffle(idx, tr->n, c->o.seed, (uint64_t)epoch);
    nnrt_progress_start(&p, stderr, steps);
    for (s = 0; s < steps; s++) {
        double l = 0;
        nnrt_gather(tr, idx + s * d->batch, d->batch, d->dtype, c->b.x,
                    c->y_batch_dtype, c->b.y);
        if (d->train_step(c->m, c->b.x, c->b.y, &l)) {
            nnrt_progress_end(&p);
            return model_fail(c, "train_step");
        }
        if (!isfinite(l)) {
            nnrt_progress_end(&p);
            return fail(c, EXIT_RUNTIME, "loss became %s at epoch %ld step "
                        "%lld; try a lower --lr", isnan(l) ? "NaN" : "inf",
                        epoch, (long long)(s + 1));
        }
        sum += l;
        nnrt_progress_update(&p, s + 1, sum / (double)(s + 1));
    }
    nnrt_progress_end(&p);
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

/* Train, score, print the epoch line. */
static int run_epoch(ctx *c, const split *sp, int64_t *idx, long epoch)
{
    double t0 = nnrt_now(), loss = 0;
    score st = {0, 0, 0, 0, 0, 0, 0}, sv = st;
    int rc, w = ndigits(c->o.epochs) > 3 ? ndigits(c->o.epochs) : 3;
    if ((rc = train_epoch(c, &sp->train, idx, epoch, &loss)) != 0)
        return rc;
    if (c->metric != M_NONE &&
        ((rc = evaluate(c, &sp->train, 0, &st)) != 0 ||
         (sp->have_val && (rc = evaluate(c, &sp->val, 0, &sv)) != 0)))
        return rc;
    printf("epoch %*ld/%ld  loss %.6f", w, epoch, c->o.epochs, loss);
    if (c->metric != M_NONE) {
        print_score(c, "train", &st);
        if (sp->have_val)
            print_score(c, "val", &sv);
    }
    printf("  time %.2fs\n", nnrt_now() - t0);
    return check_stdout(c);
}

static int train_loop(ctx *c, const split *sp)
{
    int64_t *idx = alloc3((size_t)sp->train.n, 1, sizeof *idx);
    long e;
    int rc = 0;
    if (!idx)
        return fail(c, EXIT_RUNTIME, "out of memory");
    for (e = 1; e <= c->o.epochs && rc == 0; e++)
        rc = run_epoch(c, sp, idx, e);
    free(idx);
    return rc;
}

static int cmd_train(ctx *c)
{
    const nnrt_model_desc *d = c->d;
    split sp;
    int rc;
    memset(&sp, 0, sizeof sp);
    if ((rc = check_trainable(c)) == 0 && (rc = prepare_data(c, &sp)) == 0 &&
        (rc = make_model(c, c->o.seed, c->o.raw[O_RESUME])) == 0 &&
        (rc = alloc_bufs(c)) == 0) {
        if (c->o.have_lr && d->set_lr(c->m, c->o.lr))
            rc = model_fail(c, "set_lr");
        if (rc == 0)
            rc = train_loop(c, &sp);
        if (rc == 0 && c->o.raw[O_SAVE]) {
            if (d->save(c->m, c->o.raw[O_SAVE]))
                rc = model_fail(c, "save");
            else {
                printf("saved %s\n", c->o.raw[O_SAVE]);
                rc = check_stdout(c);
            }
        }
    }
    nnrt_dataset_free(&sp.all);
    nnrt_dataset_free(&sp.train);
    nnrt_dataset_free(&sp.val);
    return rc;
}

/* ---- eval and predict --------------------------------------------------- */

static int cmd_eval(ctx *c)
{
    nnrt_dataset ds;
    score s = {0, 0, 0, 0, 0, 0, 0};
    int rc;
    if ((rc = load_data(c, 1, &ds)) == 0 &&
        (rc = make_model(c, c->o.seed, c->o.raw[O_LOAD])) == 0 &&
        (rc = alloc_bufs(c)) == 0) {
        c->metric = choose_metric(c->d, &ds);
        rc = evaluate(c, &ds, 1, &s);
    }
    if (rc == 0) {
        printf("examples %lld", (long long)s.n);
        if (s.loss_batches)
            printf("  loss %.6f", s.loss / (double)s.loss_batches);
        else if (c->d->loss && ds.y_numel > 0)
            printf("  loss n/a");
        if (c->metric == M_MSE)
            printf("  mse %.6g", s.sq_n ? s.sq / (double)s.sq_n : 0.0);
        else if (c->metric != M_NONE)
            printf("  accuracy %.2f%%",
                   s.total ? 100.0 * (double)s.hits / (double)s.total : 0.0);
        printf("\n");
        rc = check_stdout(c);
    }
    nnrt_dataset_free(&ds);
    return rc;
}

/* One line per example of the current batch. */
static void print_predictions(const ctx *c, int64_t count)
{
    const nnrt_model_desc *d = c->d;
    int classifier = d->y_dtype == NNRT_I32 && d->classes > 0 &&
                     d->out_numel == (size_t)d->classes;
    int64_t i;
    size_t k;
    for (i = 0; i < count; i++) {
        if (classifier) {
            printf("%d\n", argmax_row(c->b.out, d->dtype, (size_t)i,
                                      d->out_numel));
            continue;
        }
        for (k = 0; k < d->out_numel; k++)
            printf(k ? " %.6g" : "%.6g",
                   at(c->b.out, d->dtype, (size_t)i * d->out_numel + k));
        printf("\n");
    }
}

static int cmd_predict(ctx *c)
{
    nnrt_dataset ds;
    int64_t start, count = 0;
    int rc;
    if ((rc = load_data(c, 0, &ds)) == 0 &&
        (rc = make_model(c, c->o.seed, c->o.raw[O_LOAD])) == 0 &&
        (rc = alloc_bufs(c)) == 0) {
        for (start = 0; rc == 0 && start < ds.n; start += count) {
            count = ds.n - start < c->d->batch ? ds.n - start : c->d->batch;
            if ((rc = forward_batch(c, &ds, start, count)) == 0)
                print_predictions(c, count);
        }
        if (rc == 0)
            rc = check_stdout(c);
    }
    nnrt_dataset_free(&ds);
    return rc;
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
    c->esz = nnrt_dtype_size(c->d->dtype);
    c->y_batch_dtype = c->d->y_dtype == NNRT_I32 ? NNRT_I32 : c->d->dtype;
    switch (c->o.cmd) {
    case CMD_TRAIN: rc = cmd_train(c); break;
    case CMD_EVAL: rc = cmd_eval(c); break;
    default: rc = cmd_predict(c); break;
    }
    free_all(c);
    return rc;
}

int nnrt_main(int argc, char **argv, const nnrt_model_desc *d)
{
    ctx c;
    int rc, help = 0;
    memset(&c, 0, sizeof c);
    c.d = d;
    c.prog = base_name(argc > 0 ? argv[0] : NULL);
    if (!d) {
        fprintf(stderr, "%s: error: no model description\n", c.prog);
        return EXIT_RUNTIME;
    }
    rc = parse_args(&c, argc, argv, &help);
    if (help) {
        print_help(c.prog, d);
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
        print_usage(stderr, c.prog);
        fprintf(stderr, "run '%s --help' for details\n", c.prog);
    }
    return rc;
}
