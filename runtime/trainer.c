/* trainer.c — nnrt_main, the command line of a generated trainer program.
 *
 *   prog train   --data FILE [--labels FILE] --epochs N [--lr X] [--seed S]
 *                [--val-split F] [--scale X] [--save W] [--resume W]
 *   prog train   --text FILE --epochs N [--steps-per-epoch N] [--val-split F]
 *                [--lr X] [--seed S] [--save W] [--resume W]
 *   prog eval    --data FILE [--labels FILE] --load W [--scale X]
 *   prog predict --data FILE [--labels FILE] --load W [--scale X]
 *   prog sample  --text FILE --load W --prompt P [--len N] [--temperature X]
 *                [--seed S]
 *   prog reconstruct --data IMAGES --load W --out GRID.pgm [--count N]
 *                [--scale X]
 *   prog --help
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
 */
#define _POSIX_C_SOURCE 200809L

#include "nnrt.h"
#include "nnrt_internal.h"

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

#define VAL_BATCHES_MAX 50 /* validation batches of a text run */
#define PGM_GAP 2          /* pixels between the images of a grid */
#define PGM_GAP_GRAY 128   /* their colour */

/* ---- options ------------------------------------------------------------ */

enum {
    CMD_TRAIN = 1, CMD_EVAL = 2, CMD_PREDICT = 4, CMD_SAMPLE = 8,
    CMD_RECON = 16
};
#define CMD_NAMES 5 /* entries of cmd_names */

static const char *const cmd_names[CMD_NAMES] = {
    "train", "eval", "predict", "sample", "reconstruct"
};

enum {
    O_DATA, O_LABELS, O_EPOCHS, O_LR, O_SEED, O_VAL_SPLIT, O_SCALE, O_SAVE,
    O_RESUME, O_LOAD, O_TEXT, O_STEPS, O_PROMPT, O_LEN, O_TEMPERATURE, O_OUT,
    O_COUNT, O_COUNT_
};

/* Option names and the commands that take them. */
static const struct optdef {
    const char *name;
    int cmds;
} optdefs[O_COUNT_] = {
    {"data", CMD_TRAIN | CMD_EVAL | CMD_PREDICT | CMD_RECON},
    {"labels", CMD_TRAIN | CMD_EVAL | CMD_PREDICT},
    {"epochs", CMD_TRAIN},
    {"lr", CMD_TRAIN},
    {"seed", CMD_TRAIN | CMD_SAMPLE},
    {"val-split", CMD_TRAIN},
    {"scale", CMD_TRAIN | CMD_EVAL | CMD_PREDICT | CMD_RECON},
    {"save", CMD_TRAIN},
    {"resume", CMD_TRAIN},
    {"load", CMD_EVAL | CMD_PREDICT | CMD_SAMPLE | CMD_RECON},
    {"text", CMD_TRAIN | CMD_SAMPLE},
    {"steps-per-epoch", CMD_TRAIN},
    {"prompt", CMD_SAMPLE},
    {"len", CMD_SAMPLE},
    {"temperature", CMD_SAMPLE},
    {"out", CMD_RECON},
    {"count", CMD_RECON},
};

/* The parsed command line. */
typedef struct opts {
    int cmd;                   /* CMD_* */
    const char *cmd_name;      /* "train", ... */
    const char *raw[O_COUNT_]; /* option values as given, NULL if absent */
    long epochs;
    double lr;
    int have_lr;
    uint64_t seed;
    double val_split;
    float scale;
    long steps;                /* --steps-per-epoch, 0 for the default */
    long len;                  /* --len: characters to sample */
    double temperature;        /* --temperature */
    long count;                /* --count: examples in a grid */
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
    void *x;      /* inputs: model dtype, or int32 token ids */
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
    size_t xsz;       /* input element size (4 for int32 ids) */
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

/* A character model: i32 [B, T] ids, i32 [B, T] next ids, output
 * [B, T, V] with V = classes. */
static int is_char_model(const nnrt_model_desc *d)
{
    return d->x_dtype == NNRT_I32 && d->x_rank == 1 && d->has_target &&
           d->y_dtype == NNRT_I32 && d->y_numel == d->x_numel &&
           d->classes > 0 && d->out_numel == d->x_numel * (size_t)d->classes;
}

static void print_usage(FILE *f, const char *prog)
{
    fprintf(f,
            "usage: %s train --data FILE [--labels FILE] --epochs N"
            " [--steps-per-epoch N] [--lr X] [--seed S]\n"
            "          [--val-split F] [--scale X] [--save W.safetensors]"
            " [--resume W.safetensors]\n"
            "       %s train --text FILE --epochs N [--steps-per-epoch N]"
            " [--val-split F]\n"
            "          [--lr X] [--seed S] [--save W.safetensors]"
            " [--resume W.safetensors]\n"
            "       %s eval --data FILE [--labels FILE] --load W.safetensors"
            " [--scale X]\n"
            "       %s predict --data FILE [--labels FILE] --load"
            " W.safetensors [--scale X]\n"
            "       %s sample --text FILE --load W.safetensors --prompt TEXT"
            " [--len N]\n"
            "          [--temperature X] [--seed S]\n"
            "       %s reconstruct --data IMAGES --load W.safetensors --out"
            " GRID.pgm [--count N]\n"
            "          [--scale X]\n"
            "       %s --help\n",
            prog, prog, prog, prog, prog, prog, prog);
}

/* The first line of --help: what the model takes and gives. */
static void print_model(const char *prog, const nnrt_model_desc *d)
{
    printf("%s: trainer for model %s (%s, batch %lld, %zu input %s per "
           "example",
           prog, d->name ? d->name : "?", d->dtype == NNRT_F64 ? "f64" : "f32",
           (long long)d->batch, d->x_numel,
           d->x_dtype == NNRT_I32 ? "token ids" : "values");
    if (is_char_model(d))
        printf("; a character model: context %zu, vocabulary of up to %d "
               "characters", d->x_numel, d->classes);
    else if (d->y_numel > 0 && d->y_dtype == NNRT_I32)
        printf(", %d classes", d->classes);
    else if (d->y_numel > 0)
        printf(", %zu targets", d->y_numel);
    else
        printf(", no target");
    if (!d->has_target && d->out_numel == d->x_numel &&
        d->x_dtype != NNRT_I32)
        printf("; its output has the shape of its input");
    printf(")\n\n");
}

static void print_help(const char *prog, const nnrt_model_desc *d)
{
    print_model(prog, d);
    print_usage(stdout, prog);
    printf(
        "\ncommands:\n"
        "  train        train the model, printing one line per epoch\n"
        "  eval         print the loss and accuracy of saved weights on a "
        "data set\n"
        "  predict      print one line per example: the class, or the "
        "outputs\n"
        "  sample       generate text with a character model, one "
        "character at a time\n"
        "  reconstruct  draw images beside the model's outputs (a PGM "
        "grid), for a model\n"
        "               whose output has the shape of its input "
        "(an autoencoder)\n"
        "\noptions:\n"
        "  --data FILE      CSV (features then targets per line, no header)"
        " or IDX images;\n"
        "                   a model without a target reads only the "
        "features / images\n"
        "  --labels FILE    IDX labels, with IDX images\n"
        "  --text FILE      a text for a character model (i32 [B, T] in,"
        " the next\n"
        "                   characters as the target, output [B, T, V]): "
        "the vocabulary\n"
        "                   is the sorted distinct bytes of FILE\n"
        "  --epochs N       passes over the training data (with --text: "
        "N epochs of\n"
        "                   --steps-per-epoch steps)\n"
        "  --steps-per-epoch N  at most N batches per epoch (with --text: N"
        " steps of B\n"
        "                   random windows of T+1 characters; default:"
        " training\n"
        "                   characters / (B*T))\n"
        "  --lr X           learning rate (default: the model's, %g)\n"
        "  --seed S         seed for initialization, shuffling and sampling "
        "(default 1)\n"
        "  --val-split F    hold out the last fraction F (0 <= F < 1) of the "
        "data\n"
        "                   (default 0; 0.1 with --text)\n"
        "  --scale X        multiply every feature by X (default 1)\n"
        "  --save W         write the trained weights (safetensors)\n"
        "  --resume W       start from saved weights\n"
        "  --load W         weights to evaluate, predict, sample or "
        "reconstruct with\n"
        "                   (optional for a model without a train statement:"
        " its initial\n"
        "                   values)\n"
        "  --prompt TEXT    the text to continue; every character must occur "
        "in --text\n"
        "  --len N          characters to generate (default 200)\n"
        "  --temperature X  > 0; below 1 sharper, above 1 flatter (default "
        "1)\n"
        "  --out FILE       the PGM (P5) grid to write: one row per example, "
        "the input\n"
        "                   beside its reconstruction\n"
        "  --count N        examples in the grid, the first N of --data "
        "(default 16)\n",
        d->default_lr);
}

/* ---- argument parsing --------------------------------------------------- */

static int find_option(const char *name, size_t len)
{
    int i;
    for (i = 0; i < O_COUNT_; i++)
        if (strlen(optdefs[i].name) == len &&
            memcmp(optdefs[i].name, name, len) == 0)
            return i;
    return -1;
}

static int parse_command(ctx *c, const char *s)
{
    int i;
    for (i = 0; i < CMD_NAMES; i++)
        if (strcmp(s, cmd_names[i]) == 0) {
            c->o.cmd = 1 << i;
            c->o.cmd_name = cmd_names[i];
            return 0;
        }
    if (s[0] == '-')
        return fail(c, EXIT_USAGE, "expected a command (train, eval, "
                    "predict, sample or reconstruct) before '%s'", s);
    return fail(c, EXIT_USAGE, "unknown command '%s' (expected train, eval, "
                "predict, sample or reconstruct)", s);
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

/* Option k as an integer in [lo, hi] into *out (when given). */
static int int_option(ctx *c, int k, long lo, long hi, const char *what,
                      long *out)
{
    unsigned long long u;
    const char *s = c->o.raw[k];
    if (!s)
        return 0;
    if (!to_ulong(s, (unsigned long long)hi, &u) || u < (unsigned long long)lo)
        return fail(c, EXIT_USAGE, "--%s '%s' is not %s", optdefs[k].name, s,
                    what);
    *out = (long)u;
    return 0;
}

/* Which options go together: the data source of each command. */
static int check_sources(ctx *c)
{
    const opts *o = &c->o;
    const char *cmd = o->cmd_name;
    if (o->cmd == CMD_TRAIN && o->raw[O_DATA] && o->raw[O_TEXT])
        return fail(c, EXIT_USAGE, "train takes --data FILE or --text FILE, "
                    "not both");
    if (o->cmd == CMD_TRAIN && !o->raw[O_DATA] && !o->raw[O_TEXT])
        return fail(c, EXIT_USAGE, "train needs --data FILE or --text FILE");
    if (o->cmd == CMD_SAMPLE && !o->raw[O_TEXT])
        return fail(c, EXIT_USAGE, "sample needs --text FILE (the text the "
                    "vocabulary comes from)");
    if (o->cmd != CMD_TRAIN && o->cmd != CMD_SAMPLE && !o->raw[O_DATA])
        return fail(c, EXIT_USAGE, "%s needs --data FILE", cmd);
    if (o->raw[O_TEXT] && (o->raw[O_LABELS] || o->raw[O_SCALE]))
        return fail(c, EXIT_USAGE, "--%s does not apply to --text",
                    o->raw[O_LABELS] ? "labels" : "scale");
    if (o->cmd == CMD_SAMPLE && !o->raw[O_PROMPT])
        return fail(c, EXIT_USAGE, "sample needs --prompt TEXT");
    if (o->cmd == CMD_RECON && !o->raw[O_OUT])
        return fail(c, EXIT_USAGE, "reconstruct needs --out FILE.pgm");
    return 0;
}

/* The floating-point options. */
static int check_reals(ctx *c)
{
    opts *o = &c->o;
    double v;
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
    if (o->raw[O_TEMPERATURE] &&
        (!to_double(o->raw[O_TEMPERATURE], &o->temperature) ||
         !(o->temperature > 0)))
        return fail(c, EXIT_USAGE, "--temperature '%s' is not a positive "
                    "number", o->raw[O_TEMPERATURE]);
    return 0;
}

/* Convert and check the numeric options and the required ones. */
static int check_options(ctx *c)
{
    opts *o = &c->o;
    unsigned long long u;
    int rc;
    o->seed = 1;
    o->scale = 1.0f;
    o->len = 200;
    o->temperature = 1.0;
    o->count = 16;
    o->val_split = o->raw[O_TEXT] && o->cmd == CMD_TRAIN ? 0.1 : 0.0;
    if ((rc = check_sources(c)) != 0)
        return rc;
    if (o->cmd == CMD_TRAIN && !o->raw[O_EPOCHS])
        return fail(c, EXIT_USAGE, "train needs --epochs N");
    /* a model without a train statement can run on its initial values */
    if (o->cmd != CMD_TRAIN && !o->raw[O_LOAD] && c->d->trainable)
        return fail(c, EXIT_USAGE, "%s needs --load W.safetensors",
                    o->cmd_name);
    if ((rc = int_option(c, O_EPOCHS, 1, 1000000000L, "a positive integer",
                         &o->epochs)) != 0 ||
        (rc = int_option(c, O_STEPS, 1, 1000000000L, "a positive integer",
                         &o->steps)) != 0 ||
        (rc = int_option(c, O_LEN, 0, 100000000L, "a non-negative integer",
                         &o->len)) != 0 ||
        (rc = int_option(c, O_COUNT, 1, 1000000L, "an integer in [1, "
                         "1000000]", &o->count)) != 0)
        return rc;
    if (o->raw[O_SEED]) {
        if (!to_ulong(o->raw[O_SEED], UINT64_MAX, &u))
            return fail(c, EXIT_USAGE, "--seed '%s' is not a non-negative "
                        "integer", o->raw[O_SEED]);
        o->seed = (uint64_t)u;
    }
    return check_reals(c);
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
    if (!c->d->has_target)
        snprintf(c->err.msg + len, sizeof c->err.msg - len,
                 " (model %s takes %zu feature%s per line and has no target)",
                 c->d->name, c->d->x_numel, c->d->x_numel == 1 ? "" : "s");
    else
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

/* For a model that takes token ids: every input value must be a whole
 * number that fits an int32 (the model range-checks the ids it indexes). */
static int check_ids(ctx *c, const char *path, const nnrt_dataset *ds)
{
    size_t k, n = (size_t)ds->n * ds->x_numel;
    for (k = 0; c->d->x_dtype == NNRT_I32 && k < n; k++) {
        float v = ds->x[k];
        if (!(v == floorf(v) && fabsf(v) < 2147483648.0f))
            return fail(c, EXIT_RUNTIME, "%s: example %zu, value %zu: %g is "
                        "not a token id (model %s takes i32 inputs: whole "
                        "numbers)", path, k / ds->x_numel + 1,
                        k % ds->x_numel + 1, (double)v, c->d->name);
    }
    return 0;
}

/* Load --data (and --labels). need_y: the targets must be there (when the
 * model has any). The caller frees ds (also on error). */
static int load_data(ctx *c, int need_y, nnrt_dataset *ds)
{
    const char *path = c->o.raw[O_DATA];
    int idx, rc;
    memset(ds, 0, sizeof *ds);
    need_y = need_y && c->d->has_target;
    /* with --labels the data must be IDX: let the loader say what is wrong */
    idx = c->o.raw[O_LABELS] ? 1 : is_idx_images(c, path);
    if (idx < 0)
        return EXIT_RUNTIME;
    rc = idx ? load_idx(c, path, need_y, ds) : load_csv(c, path, need_y, ds);
    return rc ? rc : check_ids(c, path, ds);
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
    if (d->y_dtype == NNRT_I32) /* one label per example or per position */
        return d->classes > 0 &&
                       d->out_numel == d->y_numel * (size_t)d->classes
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
    c->b.x = alloc3(bn, d->x_numel, c->xsz);
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
        (d->x_dtype != d->dtype && d->x_dtype != NNRT_I32) ||
        (d->has_target != 0 && d->has_target != 1) ||
        (d->has_target != (d->y_numel > 0)) ||
        (d->y_numel > 0 && d->y_dtype != NNRT_I32 &&
         d->y_dtype != d->dtype) ||
        d->out_rank < 0 || d->out_rank > NNRT_MAX_RANK)
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

/* Copy examples idx[0..d->batch) of ds into the batch buffers: inputs in
 * the model's type (int32 for token ids), targets when ds has them. */
static void gather(ctx *c, const nnrt_dataset *ds, const int64_t *idx)
{
    const nnrt_model_desc *d = c->d;
    void *yb = ds->y_numel ? c->b.y : NULL;
    int64_t i;
    size_t k, n = ds->x_numel;
    if (d->x_dtype != NNRT_I32) {
        nnrt_gather(ds, idx, d->batch, d->dtype, c->b.x, c->y_batch_dtype, yb);
        return;
    }
    for (i = 0; i < d->batch; i++) { /* ids: whole numbers (check_ids) */
        const float *xs = ds->x + (size_t)idx[i] * n;
        int32_t *xb = (int32_t *)c->b.x + (size_t)i * n;
        for (k = 0; k < n; k++)
            xb[k] = (int32_t)xs[k];
    }
    nnrt_gather(ds, idx, d->batch, d->dtype, NULL, c->y_batch_dtype, yb);
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
    gather(c, ds, c->b.idx);
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
        /* labels: one per example, or one per position of a sequence */
        const int32_t *lab = c->metric == M_ONEHOT ? c->b.lab : c->b.y;
        int64_t rows = c->metric == M_ONEHOT ? count : count * m;
        int cls = c->metric == M_ONEHOT ? (int)d->out_numel : d->classes;
        s->hits += dt == NNRT_F64
                       ? nnrt_count_correct_f64(c->b.out, lab, rows, cls)
                       : nnrt_count_correct_f32(c->b.out, lab, rows, cls);
        s->total += rows;
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

/* Can the loss of ds be computed (a loss, and the targets if any)? */
static int have_loss(const ctx *c, const nnrt_dataset *ds)
{
    return c->d->loss && (!c->d->has_target || ds->y_numel > 0);
}

/* One pass over ds. want_loss: also the mean loss over full batches. */
static int evaluate(ctx *c, const nnrt_dataset *ds, int want_loss, score *s)
{
    const nnrt_model_desc *d = c->d;
    int64_t start, count;
    int rc;
    memset(s, 0, sizeof *s);
    want_loss = want_loss && have_loss(c, ds);
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
    if (!d->trainable || !d->train_step)
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

/* One train_step on the gathered batch: adds its loss to *sum and draws
 * the progress bar; a failure or a non-finite loss ends the bar and the
 * epoch with a message. */
static int step(ctx *c, nnrt_progress *p, long epoch, int64_t s, double *sum)
{
    double l = 0;
    if (c->d->train_step(c->m, c->b.x, c->b.y, &l)) {
        nnrt_progress_end(p);
        return model_fail(c, "train_step");
    }
    if (!isfinite(l)) {
        nnrt_progress_end(p);
        return fail(c, EXIT_RUNTIME, "loss became %s at epoch %ld step "
                    "%lld; try a lower --lr", isnan(l) ? "NaN" : "inf",
                    epoch, (long long)(s + 1));
    }
    *sum += l;
    nnrt_progress_update(p, s + 1, *sum / (double)(s + 1));
    return 0;
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
    if (c->o.steps && c->o.steps < steps) steps = c->o.steps; /* --steps-per-epoch */
    nnrt_shuffle(idx, tr->n, c->o.seed, (uint64_t)epoch);
    nnrt_progress_start(&p, stderr, steps);
    for (s = 0; s < steps; s++) {
        int rc;
        gather(c, tr, idx + s * d->batch);
        if ((rc = step(c, &p, epoch, s, &sum)))
            return rc;
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

/* "epoch   3/10": the epoch number right-aligned to the width of the
 * total, at least 3 characters. */
static void print_epoch(const ctx *c, long epoch, double loss)
{
    int w = ndigits(c->o.epochs) > 3 ? ndigits(c->o.epochs) : 3;
    printf("epoch %*ld/%ld  loss %.6f", w, epoch, c->o.epochs, loss);
}

/* Train, score, print the epoch line. Without a metric, a validation set
 * is scored by its loss ("val loss"). */
static int run_epoch(ctx *c, const split *sp, int64_t *idx, long epoch)
{
    double t0 = nnrt_now(), loss = 0;
    score st = {0, 0, 0, 0, 0, 0, 0}, sv = st;
    int rc, val_loss = c->metric == M_NONE && sp->have_val &&
                       have_loss(c, &sp->val);
    if ((rc = train_epoch(c, &sp->train, idx, epoch, &loss)) != 0)
        return rc;
    if (c->metric != M_NONE && (rc = evaluate(c, &sp->train, 0, &st)) != 0)
        return rc;
    if ((c->metric != M_NONE || val_loss) && sp->have_val &&
        (rc = evaluate(c, &sp->val, val_loss, &sv)) != 0)
        return rc;
    print_epoch(c, epoch, loss);
    if (c->metric != M_NONE) {
        print_score(c, "train", &st);
        if (sp->have_val)
            print_score(c, "val", &sv);
    } else if (val_loss && sv.loss_batches) {
        printf("  val loss %.6f", sv.loss / (double)sv.loss_batches);
    } else if (val_loss) {
        printf("  val loss n/a");
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

/* Save the weights after training when --save was given. */
static int save_weights(ctx *c)
{
    if (!c->o.raw[O_SAVE])
        return 0;
    if (c->d->save(c->m, c->o.raw[O_SAVE]))
        return model_fail(c, "save");
    printf("saved %s\n", c->o.raw[O_SAVE]);
    return check_stdout(c);
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
        if (rc == 0)
            rc = save_weights(c);
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
        else if (have_loss(c, &ds))
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
    /* classes: one per example, or one per position of a sequence */
    int classifier = d->y_dtype == NNRT_I32 && d->classes > 0 &&
                     d->y_numel > 0 &&
                     d->out_numel == d->y_numel * (size_t)d->classes;
    int64_t i;
    size_t k;
    for (i = 0; i < count; i++) {
        for (k = 0; classifier && k < d->y_numel; k++)
            printf(k ? " %d" : "%d",
                   argmax_row(c->b.out, d->dtype, (size_t)i * d->y_numel + k,
                              (size_t)d->classes));
        if (classifier) {
            printf("\n");
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

/* ---- Philox draws ------------------------------------------------------- */

/* Sequential 32-bit words of Philox(seed, stream): draw i is word i % 4 of
 * block (ctr_hi = stream, ctr_lo = i / 4), the element mapping of the
 * fills, so a run is reproducible from its seed alone. */
typedef struct draws {
    uint64_t seed;     /* the key */
    uint64_t stream;   /* the high counter word: the epoch, or 0 */
    uint64_t next;     /* index of the next word */
    uint32_t block[4]; /* the block holding word next - 1 */
} draws;

static void draws_init(draws *r, uint64_t seed, uint64_t stream)
{
    memset(r, 0, sizeof *r);
    r->seed = seed;
    r->stream = NNRT_STREAM_DATA | stream;
}

static uint32_t draw_u32(draws *r)
{
    uint64_t i = r->next++;
    if (i % 4 == 0)
        nnrt_philox4x32(r->seed, r->stream, i / 4, r->block);
    return r->block[i % 4];
}

/* Uniform in [0, n), n >= 1, unbiased: modulo with rejection (a word below
 * 2^32 mod n is redrawn); n above 2^32 takes two words, high first. */
static uint64_t draw_below(draws *r, uint64_t n)
{
    if (n <= 0xFFFFFFFFull) {
        uint32_t m = (uint32_t)n, t = (uint32_t)(0u - m) % m, x;
        do
            x = draw_u32(r);
        while (x < t);
        return x % m;
    }
    for (;;) {
        uint64_t t = (0 - n) % n, x = (uint64_t)draw_u32(r) << 32;
        x |= draw_u32(r);
        if (x >= t)
            return x % n;
    }
}

/* Uniform in [0, 1) with 53 bits from two words (27 high, 26 low). */
static double draw_unit(draws *r)
{
    uint64_t hi = draw_u32(r) >> 5, lo = draw_u32(r) >> 6;
    return ((double)hi * 67108864.0 + (double)lo) / 9007199254740992.0;
}

/* ---- vocabulary and temperature sampling (public) ------------------------ */

void nnrt_vocab_build(nnrt_vocab *v, const unsigned char *text, size_t len)
{
    unsigned char seen[256];
    size_t k;
    int b;
    memset(seen, 0, sizeof seen);
    memset(v, 0, sizeof *v);
    for (k = 0; text && k < len; k++)
        seen[text[k]] = 1;
    for (b = 0; b < 256; b++) {
        v->id[b] = -1;
        if (seen[b]) {
            v->id[b] = (int16_t)v->size;
            v->sym[v->size++] = (unsigned char)b;
        }
    }
}

/* 1 if row[0..n) looks like probabilities: finite, >= 0, summing to 1. */
static int is_distribution(const double *row, int n)
{
    double sum = 0;
    int j;
    for (j = 0; j < n; j++) {
        if (!isfinite(row[j]) || row[j] < 0)
            return 0;
        sum += row[j];
    }
    return fabs(sum - 1.0) <= 1e-3;
}

int nnrt_sample_row(const double *row, int n, int usable, double t, double u)
{
    int probs, j, last = -1;
    double mx = -HUGE_VAL, total = 0, cum = 0;
    if (!row || n <= 0 || usable <= 0 || !(t > 0) || !isfinite(t))
        return -1;
    if (usable > n)
        usable = n;
    probs = is_distribution(row, n);
    /* log-weights: log(p) / t or logit / t; -inf (p = 0, NaN) never wins */
#define NNRT_SCORE(j)                                                         \
    (probs ? (row[j] > 0 ? log(row[j]) / t : -HUGE_VAL)                       \
           : (isfinite(row[j]) ? row[j] / t : -HUGE_VAL))
    for (j = 0; j < usable; j++)
        if (NNRT_SCORE(j) > mx)
            mx = NNRT_SCORE(j);
    if (!isfinite(mx))
        return -1;
    for (j = 0; j < usable; j++)
        total += exp(NNRT_SCORE(j) - mx);
    u = u < 0 ? 0 : u >= 1 ? 0x1.fffffffffffffp-1 : u;
    for (j = 0; j < usable; j++) {
        double w = exp(NNRT_SCORE(j) - mx);
        if (w <= 0)
            continue;
        last = j;
        cum += w;
        if (cum > u * total)
            return j;
    }
#undef NNRT_SCORE
    return last; /* rounding left u * total at the very end */
}

/* ---- text (character models) -------------------------------------------- */

/* A text file as token ids, split into training and validation parts. */
typedef struct text {
    const char *path;
    nnrt_vocab v;
    int32_t *ids;   /* one id per byte of the file */
    size_t len;     /* bytes */
    size_t n_train; /* ids[0, n_train) train, ids[n_train, len) validate */
} text;

/* The model must be a character model; else say which part does not fit. */
static int check_char_model(ctx *c)
{
    const nnrt_model_desc *d = c->d;
    const char *why = NULL;
    if (is_char_model(d))
        return 0;
    if (d->x_dtype != NNRT_I32 || d->x_rank != 1)
        why = "its input is not i32 [B, T]";
    else if (!d->has_target || d->y_dtype != NNRT_I32 ||
             d->y_numel != d->x_numel)
        why = "its target is not i32 [B, T] (the next characters)";
    else
        why = "its first output is not [B, T, V]";
    return fail(c, EXIT_RUNTIME, "--text needs a character model (input i32 "
                "[B, T], target i32 [B, T], first output [B, T, V]), but in "
                "model %s %s", d->name, why);
}

/* Read path, build its vocabulary (at most the model's V symbols) and the
 * ids. The caller frees t->ids (also on error). */
static int load_text(ctx *c, const char *path, text *t)
{
    unsigned char *buf;
    size_t len, k;
    memset(t, 0, sizeof *t);
    t->path = path;
    if (nnrti_read_file(path, &buf, &len, &c->err) != NNRT_OK)
        return EXIT_RUNTIME;
    nnrt_vocab_build(&t->v, buf, len);
    t->len = len;
    t->ids = len ? alloc3(len, 1, sizeof *t->ids) : NULL;
    if (len && t->ids)
        for (k = 0; k < len; k++)
            t->ids[k] = t->v.id[buf[k]];
    free(buf);
    if (len == 0)
        return fail(c, EXIT_RUNTIME, "%s: the text is empty", path);
    if (!t->ids)
        return fail(c, EXIT_RUNTIME, "%s: out of memory", path);
    if (t->v.size > c->d->classes)
        return fail(c, EXIT_RUNTIME, "%s: the text has %d distinct "
                    "characters, more than the vocabulary of model %s "
                    "(V = %d)", path, t->v.size, c->d->name, c->d->classes);
    t->n_train = len;
    return 0;
}

/* Validation batches: B windows each, window w starting at n_train + w*T
 * (so every validation character is a target at most once), at most
 * VAL_BATCHES_MAX. */
static int64_t val_batches(const ctx *c, const text *t)
{
    size_t T = c->d->x_numel, nv = t->len - t->n_train;
    int64_t windows = nv >= T + 1 ? (int64_t)((nv - 1) / T) : 0;
    int64_t nb = windows / c->d->batch;
    return nb < VAL_BATCHES_MAX ? nb : VAL_BATCHES_MAX;
}

/* Split off the last round(val_split * len) characters for validation. */
static int split_text(ctx *c, text *t)
{
    const nnrt_model_desc *d = c->d;
    size_t T = d->x_numel;
    size_t n_val = (size_t)floor(c->o.val_split * (double)t->len + 0.5);
    t->n_train = t->len - (n_val < t->len ? n_val : t->len);
    if (t->n_train < T + 1)
        return fail(c, EXIT_RUNTIME, "%s: %zu training characters, fewer "
                    "than one window of T + 1 = %zu", t->path, t->n_train,
                    T + 1);
    if (c->o.val_split > 0 && val_batches(c, t) == 0)
        return fail(c, EXIT_RUNTIME, "%s: the validation text (the last %zu "
                    "characters, --val-split %g) is shorter than one batch "
                    "of %lld windows (%lld characters); use a larger "
                    "--val-split, or 0", t->path, n_val, c->o.val_split,
                    (long long)d->batch,
                    (long long)((size_t)d->batch * T + 1));
    return 0;
}

/* Row b of the batch: ids[start, start + T) in, ids[start + 1, start + T]
 * as the target. */
static void fill_window(ctx *c, const text *t, int64_t b, size_t start)
{
    size_t T = c->d->x_numel, k;
    int32_t *x = (int32_t *)c->b.x + (size_t)b * T;
    int32_t *y = (int32_t *)c->b.y + (size_t)b * T;
    for (k = 0; k < T; k++) {
        x[k] = t->ids[start + k];
        y[k] = t->ids[start + k + 1];
    }
}

/* Mean loss over the validation batches (nats per character for a
 * cross-entropy loss). */
static int text_val_loss(ctx *c, const text *t, double *mean)
{
    const nnrt_model_desc *d = c->d;
    int64_t nb = val_batches(c, t), k, b;
    double sum = 0;
    for (k = 0; k < nb; k++) {
        double l = 0;
        for (b = 0; b < d->batch; b++)
            fill_window(c, t, b, t->n_train +
                                     (size_t)(k * d->batch + b) * d->x_numel);
        if (d->loss(c->m, c->b.x, c->b.y, &l))
            return model_fail(c, "loss");
        sum += l;
    }
    *mean = nb ? sum / (double)nb : 0;
    return 0;
}

/* One epoch: steps of B random windows from Philox(seed, epoch). */
static int text_epoch(ctx *c, const text *t, long epoch, int64_t steps,
                      double *mean)
{
    const nnrt_model_desc *d = c->d;
    uint64_t starts = t->n_train - d->x_numel; /* window starts */
    double sum = 0;
    nnrt_progress p;
    draws r;
    int64_t s, b;
    draws_init(&r, c->o.seed, (uint64_t)epoch);
    nnrt_progress_start(&p, stderr, steps);
    for (s = 0; s < steps; s++) {
        int rc;
        for (b = 0; b < d->batch; b++)
            fill_window(c, t, b, (size_t)draw_below(&r, starts));
        if ((rc = step(c, &p, epoch, s, &sum)))
            return rc;
    }
    nnrt_progress_end(&p);
    *mean = sum / (double)steps;
    return 0;
}

/* Epochs of text training, one line each. */
static int text_loop(ctx *c, const text *t)
{
    const nnrt_model_desc *d = c->d;
    int64_t steps = c->o.steps;
    long e;
    int rc;
    if (steps == 0)
        steps = (int64_t)(t->n_train / ((size_t)d->batch * d->x_numel));
    if (steps == 0)
        steps = 1;
    for (e = 1; e <= c->o.epochs; e++) {
        double t0 = nnrt_now(), loss = 0, vl = 0;
        if ((rc = text_epoch(c, t, e, steps, &loss)) != 0 ||
            (c->o.val_split > 0 && (rc = text_val_loss(c, t, &vl)) != 0))
            return rc;
        print_epoch(c, e, loss);
        if (c->o.val_split > 0)
            printf("  val loss %.6f", vl);
        printf("  time %.2fs\n", nnrt_now() - t0);
        if ((rc = check_stdout(c)) != 0)
            return rc;
    }
    return 0;
}

static int cmd_train_text(ctx *c)
{
    const nnrt_model_desc *d = c->d;
    text t;
    int rc;
    memset(&t, 0, sizeof t);
    if ((rc = check_char_model(c)) == 0 && (rc = check_trainable(c)) == 0 &&
        (rc = load_text(c, c->o.raw[O_TEXT], &t)) == 0 &&
        (rc = split_text(c, &t)) == 0 &&
        (rc = make_model(c, c->o.seed, c->o.raw[O_RESUME])) == 0 &&
        (rc = alloc_bufs(c)) == 0) {
        if (c->o.have_lr && d->set_lr(c->m, c->o.lr))
            rc = model_fail(c, "set_lr");
        if (rc == 0)
            rc = text_loop(c, &t);
        if (rc == 0)
            rc = save_weights(c);
    }
    free(t.ids);
    return rc;
}

/* ---- sample --------------------------------------------------------------- */

/* The prompt as ids; every byte must be in the vocabulary. */
static int prompt_ids(ctx *c, const text *t, const char *prompt,
                      int32_t *seq)
{
    size_t k;
    for (k = 0; prompt[k]; k++) {
        unsigned char ch = (unsigned char)prompt[k];
        char shown[16];
        if (t->v.id[ch] >= 0) {
            seq[k] = t->v.id[ch];
            continue;
        }
        if (ch >= 32 && ch < 127)
            snprintf(shown, sizeof shown, "'%c'", ch);
        else
            snprintf(shown, sizeof shown, "byte 0x%02x", ch);
        return fail(c, EXIT_RUNTIME, "%s: prompt character %s (position "
                    "%zu) does not occur in the text (its vocabulary has %d "
                    "characters)", t->path, shown, k + 1, t->v.size);
    }
    return 0;
}

/* Run the model on the last up to T ids of seq[0..n) (positions 0..L-1 of
 * every row, padded with id 0) and draw the next id from position L-1 of
 * row 0. */
static int next_id(ctx *c, const text *t, const int32_t *seq, size_t n,
                   draws *r, double *row, int32_t *id)
{
    const nnrt_model_desc *d = c->d;
    size_t T = d->x_numel, V = (size_t)d->classes, L = n < T ? n : T, k;
    int64_t b;
    int32_t *x = c->b.x;
    for (k = 0; k < T; k++)
        x[k] = k < L ? seq[n - L + k] : 0;
    for (b = 1; b < d->batch; b++)
        memcpy(x + (size_t)b * T, x, T * sizeof *x);
    if (d->forward(c->m, c->b.x, c->b.out))
        return model_fail(c, "forward");
    for (k = 0; k < V; k++)
        row[k] = at(c->b.out, d->dtype, (L - 1) * V + k);
    *id = nnrt_sample_row(row, (int)V, t->v.size, c->o.temperature,
                          draw_unit(r));
    if (*id < 0)
        return fail(c, EXIT_RUNTIME, "model %s: the output at position %zu "
                    "has no finite positive weight for any character (NaN "
                    "or infinite outputs?)", d->name, L);
    return 0;
}

/* Print the prompt, then --len characters, one forward pass each. */
static int generate(ctx *c, const text *t, int32_t *seq, size_t n)
{
    double *row = malloc((size_t)c->d->classes * sizeof *row);
    draws r;
    long i;
    int rc = 0;
    if (!row)
        return fail(c, EXIT_RUNTIME, "out of memory");
    draws_init(&r, c->o.seed, 0);
    fputs(c->o.raw[O_PROMPT], stdout);
    for (i = 0; i < c->o.len && rc == 0; i++) {
        int32_t id = 0;
        if ((rc = next_id(c, t, seq, n, &r, row, &id)) != 0)
            break;
        seq[n++] = id;
        putchar(t->v.sym[id]);
    }
    free(row);
    if (rc)
        return rc;
    putchar('\n');
    return check_stdout(c);
}

static int cmd_sample(ctx *c)
{
    const char *prompt = c->o.raw[O_PROMPT];
    size_t plen = strlen(prompt);
    int32_t *seq = NULL;
    text t;
    int rc;
    memset(&t, 0, sizeof t);
    if ((rc = check_char_model(c)) == 0 &&
        (rc = load_text(c, c->o.raw[O_TEXT], &t)) == 0) {
        seq = alloc3(plen + (size_t)c->o.len, 1, sizeof *seq);
        if (!seq)
            rc = fail(c, EXIT_RUNTIME, "out of memory");
    }
    if (rc == 0 && (rc = prompt_ids(c, &t, prompt, seq)) == 0 &&
        (rc = make_model(c, c->o.seed, c->o.raw[O_LOAD])) == 0 &&
        (rc = alloc_bufs(c)) == 0)
        rc = generate(c, &t, seq, plen);
    free(seq);
    free(t.ids);
    return rc;
}

/* ---- reconstruct ---------------------------------------------------------- */

/* A value in [0, 1] (clamped; NaN is 0) as a gray level 0..255. */
static unsigned char gray(double v)
{
    v = v > 0 ? (v < 1 ? v : 1) : 0;
    return (unsigned char)(v * 255.0 + 0.5);
}

/* The grid: example i is row i; its input at the left, PGM_GAP pixels,
 * its reconstruction at the right; PGM_GAP pixels between rows. */
typedef struct grid {
    int64_t rows, cols; /* of one image */
    int64_t w, h;       /* of the grid */
    unsigned char *pix; /* w * h */
} grid;

/* Draw example k of the current batch as grid row i. */
static void draw_pair(const ctx *c, grid *g, int64_t k, int64_t i)
{
    size_t n = c->d->x_numel;
    int64_t r, q;
    for (r = 0; r < g->rows; r++) {
        unsigned char *line = g->pix + (size_t)((i * (g->rows + PGM_GAP) + r) *
                                                g->w);
        for (q = 0; q < g->cols; q++) {
            size_t e = (size_t)k * n + (size_t)(r * g->cols + q);
            line[q] = gray(at(c->b.x, c->d->dtype, e));
            line[g->cols + PGM_GAP + q] = gray(at(c->b.out, c->d->dtype, e));
        }
    }
}

/* Binary PGM (P5), written to path.tmp and renamed. */
static int write_pgm(ctx *c, const char *path, const grid *g)
{
    nnrti_wfile w;
    char hdr[64];
    int n = snprintf(hdr, sizeof hdr, "P5\n%lld %lld\n255\n",
                     (long long)g->w, (long long)g->h);
    if (nnrti_wopen(&w, path, &c->err) != NNRT_OK)
        return EXIT_RUNTIME;
    nnrti_wwrite(&w, hdr, (size_t)n);
    nnrti_wwrite(&w, g->pix, (size_t)(g->w * g->h));
    return nnrti_wcommit(&w, &c->err) == NNRT_OK ? 0 : EXIT_RUNTIME;
}

/* The model's output must have the input's shape, and the data be images. */
static int check_recon(ctx *c)
{
    const nnrt_model_desc *d = c->d;
    const char *path = c->o.raw[O_DATA];
    int idx;
    if (d->x_dtype == NNRT_I32 || d->out_numel != d->x_numel)
        return fail(c, EXIT_RUNTIME, "model %s: reconstruct needs a first "
                    "output shaped like the input (an autoencoder), but it "
                    "has %zu values per example and the %s input %zu",
                    d->name, d->out_numel,
                    d->x_dtype == NNRT_I32 ? "i32" : "float", d->x_numel);
    if ((idx = is_idx_images(c, path)) < 0)
        return EXIT_RUNTIME;
    if (!idx)
        return fail(c, EXIT_RUNTIME, "%s: not IDX images (magic 00 00 08 "
                    "03); reconstruct draws images", path);
    return 0;
}

/* Forward the first g->... examples batch by batch and draw them. */
static int draw_grid(ctx *c, const nnrt_dataset *ds, grid *g, int64_t n)
{
    int64_t start, count, k;
    int rc;
    g->rows = ds->x_shape[0];
    g->cols = ds->x_shape[1];
    g->w = 2 * g->cols + PGM_GAP;
    g->h = n * g->rows + (n - 1) * PGM_GAP;
    g->pix = alloc3((size_t)g->w, (size_t)g->h, 1);
    if (!g->pix)
        return fail(c, EXIT_RUNTIME, "out of memory for a %lldx%lld grid",
                    (long long)g->w, (long long)g->h);
    memset(g->pix, PGM_GAP_GRAY, (size_t)(g->w * g->h));
    for (start = 0; start < n; start += count) {
        count = n - start < c->d->batch ? n - start : c->d->batch;
        if ((rc = forward_batch(c, ds, start, count)) != 0)
            return rc;
        for (k = 0; k < count; k++)
            draw_pair(c, g, k, start + k);
    }
    return 0;
}

static int cmd_reconstruct(ctx *c)
{
    const char *out = c->o.raw[O_OUT];
    nnrt_dataset ds;
    grid g;
    int64_t n = 0;
    int rc;
    memset(&ds, 0, sizeof ds);
    memset(&g, 0, sizeof g);
    if ((rc = check_recon(c)) == 0 && (rc = load_data(c, 0, &ds)) == 0 &&
        (rc = make_model(c, c->o.seed, c->o.raw[O_LOAD])) == 0 &&
        (rc = alloc_bufs(c)) == 0) {
        n = ds.n < c->o.count ? ds.n : c->o.count;
        if (n == 0)
            rc = fail(c, EXIT_RUNTIME, "%s: no images", c->o.raw[O_DATA]);
    }
    if (rc == 0 && (rc = draw_grid(c, &ds, &g, n)) == 0 &&
        (rc = write_pgm(c, out, &g)) == 0) {
        printf("wrote %s: %lld examples, %lldx%lld pixels\n", out,
               (long long)n, (long long)g.w, (long long)g.h);
        rc = check_stdout(c);
    }
    free(g.pix);
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
    c->xsz = nnrt_dtype_size(c->d->x_dtype);
    c->y_batch_dtype = c->d->y_dtype == NNRT_I32 ? NNRT_I32 : c->d->dtype;
    switch (c->o.cmd) {
    case CMD_TRAIN:
        rc = c->o.raw[O_TEXT] ? cmd_train_text(c) : cmd_train(c);
        break;
    case CMD_EVAL: rc = cmd_eval(c); break;
    case CMD_SAMPLE: rc = cmd_sample(c); break;
    case CMD_RECON: rc = cmd_reconstruct(c); break;
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
