/* trainer_args.c — the trainer's command line: the option table, the usage
 * and --help text, and parsing with every check that needs no file (numbers,
 * ranges, which options go together). Errors are usage errors (exit 2).
 */
#define _POSIX_C_SOURCE 200809L

#include "trainer.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- options ------------------------------------------------------------ */

#define CMD_NAMES 7 /* entries of cmd_names */

static const char *const cmd_names[CMD_NAMES] = {"train",       "eval",      "predict", "sample",
                                                 "reconstruct", "calibrate", "generate"};

#define CMD_ALL (CMD_TRAIN | CMD_EVAL | CMD_PREDICT | CMD_SAMPLE | CMD_RECON | CMD_CALIB | CMD_GEN)

/* Option names, the commands that take them, and whether they are flags
 * (no value). */
static const struct optdef {
    const char *name;
    int cmds;
    int flag;
} optdefs[O_COUNT_] = {
    {"data", CMD_TRAIN | CMD_EVAL | CMD_PREDICT | CMD_RECON | CMD_CALIB, 0},
    {"labels", CMD_TRAIN | CMD_EVAL | CMD_PREDICT | CMD_CALIB, 0},
    {"epochs", CMD_TRAIN, 0},
    {"lr", CMD_TRAIN, 0},
    {"seed", CMD_TRAIN | CMD_SAMPLE | CMD_EVAL | CMD_PREDICT | CMD_GEN, 0},
    {"val-split", CMD_TRAIN | CMD_EVAL | CMD_PREDICT | CMD_CALIB, 0},
    {"scale", CMD_TRAIN | CMD_EVAL | CMD_PREDICT | CMD_RECON | CMD_CALIB, 0},
    {"save", CMD_TRAIN, 0},
    {"resume", CMD_TRAIN, 0},
    {"load", CMD_EVAL | CMD_PREDICT | CMD_SAMPLE | CMD_RECON | CMD_CALIB | CMD_GEN, 0},
    {"text", CMD_TRAIN | CMD_SAMPLE, 0},
    {"steps-per-epoch", CMD_TRAIN, 0},
    {"prompt", CMD_SAMPLE, 0},
    {"len", CMD_SAMPLE, 0},
    {"temperature", CMD_SAMPLE, 0},
    {"out", CMD_RECON | CMD_CALIB | CMD_GEN, 0},
    {"count", CMD_RECON | CMD_GEN, 0},
    {"allow-nonfinite", CMD_ALL, 1},
    {"checkpoint", CMD_TRAIN, 0},
    {"augment", CMD_TRAIN, 0},
    {"patience", CMD_TRAIN, 0},
    {"min-delta", CMD_TRAIN, 0},
    {"monitor", CMD_TRAIN, 0},
    {"split", CMD_EVAL | CMD_PREDICT | CMD_CALIB, 0},
    {"test", CMD_TRAIN, 0},
    {"test-labels", CMD_TRAIN, 0},
    {"log", CMD_TRAIN, 0},
    {"log-every", CMD_TRAIN, 0},
    {"plot", CMD_TRAIN, 0},
    {"schedule", CMD_TRAIN, 0},
    {"clip-norm", CMD_TRAIN, 0},
    {"clip-value", CMD_TRAIN, 0},
    {"init-from", CMD_TRAIN, 0},
    {"init-map", CMD_TRAIN, 0},
    {"shard-optimizer", CMD_TRAIN, 1},
    {"bucket-mb", CMD_TRAIN, 0},
    {"classes", CMD_TRAIN | CMD_EVAL | CMD_PREDICT, 0},
    {"data-for", CMD_TRAIN | CMD_EVAL | CMD_PREDICT, 0},
    {"overlap", CMD_TRAIN, 1},
};

void nnrti_tr_print_usage(FILE *f, const char *prog)
{
    fprintf(f,
            "usage: %s train --data FILE [--labels FILE] --epochs N [--steps-per-epoch N] [--lr X] [--seed S]\n"
            "          [--val-split F] [--scale X] [--save W.safetensors] [--resume W.safetensors]\n"
            "          [--checkpoint C.safetensors] [--augment shift=N,flip,rotate=DEG,noise=SIGMA]\n"
            "          [--patience N [--min-delta X] [--monitor val_loss|val_acc]]\n"
            "          [--test FILE [--test-labels FILE]] [--log FILE.csv [--log-every N]] [--plot FILE.svg]\n"
            "          [--schedule SPEC] [--clip-norm X | --clip-value X] [--init-from W [--init-map MAP]]\n"
            "          [--classes LIST] [--data-for INPUT=FILE...]\n"
            "       %s train --text FILE --epochs N [--steps-per-epoch N] [--val-split F]\n"
            "          [--lr X] [--seed S] [--save W.safetensors] [--resume W.safetensors]\n"
            "          [--checkpoint C.safetensors]\n"
            "          [--patience N [--min-delta X]] [--log FILE.csv [--log-every N]] [--plot FILE.svg]\n"
            "          [--schedule SPEC] [--clip-norm X | --clip-value X]\n"
            "       %s eval --data FILE [--labels FILE] --load W.safetensors [--scale X]\n"
            "          [--val-split F [--split val|train|all]] [--seed S] [--classes LIST]\n"
            "       %s predict --data FILE [--labels FILE] --load W.safetensors [--scale X]\n"
            "          [--val-split F [--split val|train|all]] [--seed S] [--classes LIST]\n"
            "       %s sample --text FILE --load W.safetensors --prompt TEXT [--len N]\n"
            "          [--temperature X] [--seed S]\n"
            "       %s reconstruct --data IMAGES --load W.safetensors --out GRID.pgm|GRID.png [--count N]\n"
            "          [--scale X]\n"
            "       %s calibrate --data FILE [--labels FILE] --load W.safetensors --out CALIB.safetensors\n"
            "          [--scale X] [--val-split F [--split val|train|all]]\n"
            "       %s generate --load W.safetensors --out GRID.pgm|GRID.png [--count N] [--seed S]\n"
            "       %s --help\n",
            prog, prog, prog, prog, prog, prog, prog, prog, prog);
}

/* The first line of --help: what the model takes and gives. */
static void print_model(const char *prog, const nnrt_model_desc *d)
{
    printf("%s: trainer for model %s (%s, batch %lld, %zu input %s per example", prog, d->name ? d->name : "?",
           d->dtype == NNRT_F64 ? "f64" : "f32", (long long)d->batch, d->x_numel,
           d->x_dtype == NNRT_I32 ? "token ids" : "values");
    if (nnrti_tr_is_char_model(d))
        printf("; a character model: context %zu, vocabulary of up to %d characters", d->x_numel, d->classes);
    else if (d->y_numel > 0 && d->y_dtype == NNRT_I32)
        printf(", %d classes", d->classes);
    else if (d->y_numel > 0)
        printf(", %zu targets", d->y_numel);
    else
        printf(", no target");
    if (!d->has_target && d->out_numel == d->x_numel && d->x_dtype != NNRT_I32)
        printf("; its output has the shape of its input");
    printf(")\n\n");
}

/* --help for several ranks (mpirun, nnrt_mpi_main). */
static void print_help_dist(void)
{
    printf("\nseveral ranks (mpirun -np N; the program built with -DNNRT_MPI and libnnrt_mpi.a):\n"
           "  --shard-optimizer  each rank updates its 1/N slice of the parameters and the\n"
           "                   optimizer state (gradients reduce-scattered, parameters\n"
           "                   all-gathered): ZeRO stage 1; the same parameters as without\n"
           "  --bucket-mb X    all-reduce the gradients in buckets of X MB (> 0), started\n"
           "                   together, each updated as soon as it is reduced (with\n"
           "                   --shard-optimizer: reduce-scattered by buckets)\n"
           "  --overlap        with --bucket-mb: start each bucket's all-reduce during the\n"
           "                   backward pass, as soon as its gradients are final\n");
}

/* --help for early stopping, held-out scoring and the logs. */
static void print_help_watch(void)
{
    printf("\nearly stopping, held-out scoring, logs:\n"
           "  --patience N     stop when the monitored value has not improved for N epochs\n"
           "                   (N >= 1; needs --val-split), then restore the weights of the\n"
           "                   best epoch (those are what --save writes)\n"
           "  --min-delta X    an improvement must exceed X >= 0 (default 0; val_acc as a\n"
           "                   fraction, 0.01 = one percentage point)\n"
           "  --monitor M      val_loss (default; lower is better) or val_acc (higher)\n"
           "  --test FILE      train: score FILE (read as --data) with the final weights\n"
           "  --test-labels FILE  IDX labels for IDX images in --test\n"
           "  --log FILE       CSV: a header, one row per epoch and one per --log-every N steps\n"
           "                   (kind,step,epoch,lr,train_loss,train_acc,val_loss,val_acc,\n"
           "                   grad_norm,examples_per_s; empty where there is no value)\n"
           "  --log-every N    also a \"step\" row every N training steps: the mean loss of\n"
           "                   those steps and their speed\n"
           "  --plot FILE      an SVG of the loss and accuracy curves, train against validation\n"
           "  --split S        eval/predict/calibrate: val (the last fraction --val-split F, as train\n"
           "                   held it out; the default with --val-split), train (the rest)\n"
           "                   or all; the report says which examples were scored. eval\n"
           "                   warns when the weights were trained on --data and no split is\n"
           "                   given (--save records the data file, fraction and seed)\n");
}

void nnrti_tr_print_help(const char *prog, const nnrt_model_desc *d)
{
    print_model(prog, d);
    nnrti_tr_print_usage(stdout, prog);
    printf("\ncommands:\n"
           "  train        train the model, printing one line per epoch\n"
           "  eval         print the loss and accuracy of saved weights on a data set\n"
           "  predict      print one line per example: the class, or the outputs\n"
           "  sample       generate text with a character model, one character at a time\n"
           "  reconstruct  draw images beside the model's outputs (a PGM grid), for a model\n"
           "               whose output has the shape of its input (an autoencoder)\n"
           "  calibrate    record the input ranges of the int8 layers over --data into --out\n"
           "               (a trainer built with nnc --main --quantize int8; for nnc --calibrate)\n"
           "  generate     draw the outputs of a decoder (one float input, the latent code,\n"
           "               filled with N(0, 1) draws from --seed; an image output) as a grid\n"
           "\noptions:\n"
           "  --data FILE      CSV (features then targets per line, no header) or IDX images;\n"
           "                   a model without a target reads only the features / images\n"
           "  --labels FILE    IDX labels, with IDX images\n"
           "  --data-for INPUT=FILE  (several inputs; once per input) INPUT's values from FILE, CSV\n"
           "                   lines of its values or IDX images; --data then holds the other\n"
           "                   inputs (at least one) and the targets; one line per example in each\n"
           "  --classes LIST   only the examples of these class labels, renumbered in LIST's order\n"
           "                   (0-4; 5-9 makes 5..9 classes 0..4; 3,1,7), before --val-split\n"
           "  --text FILE      a text for a character model (i32 [B, T] in, the next\n"
           "                   characters as the target, output [B, T, V]): the vocabulary\n"
           "                   is the sorted distinct bytes of FILE\n"
           "  --epochs N       passes over the training data (with --text: N epochs of\n"
           "                   --steps-per-epoch steps)\n"
           "  --steps-per-epoch N  at most N batches per epoch (with --text: N steps of B\n"
           "                   random windows of T+1 characters; default: training\n"
           "                   characters / (B*T))\n"
           "  --lr X           learning rate (default: the model's, %g)\n"
           "  --schedule SPEC  the learning-rate schedule instead of the model's, KIND[,NAME=VALUE...]:\n"
           "                   constant[,warmup=N]; step,step_size=N[,gamma=0.1];\n"
           "                   multistep,milestones=A/B/C[,gamma=0.1]; exponential,gamma=X;\n"
           "                   cosine[,total=N,warmup=N,eta_min=X]; linear[,total=N,warmup=N,end_factor=X];\n"
           "                   onecycle[,total=N,pct_start=0.3,div_factor=25,final_div_factor=1e4];\n"
           "                   positions count optimizer steps; total defaults to the run's steps\n"
           "  --clip-norm X    clip the gradients' global L2 norm to X > 0 before each update\n"
           "  --clip-value X   clamp every gradient to [-X, X], X > 0 (instead of the model's clipping)\n"
           "  --seed S         seed for initialization, shuffling and sampling (default 1)\n"
           "  --val-split F    hold out the last fraction F (0 <= F < 1) of the data\n"
           "                   (default 0; 0.1 with --text)\n"
           "  --scale X        multiply every feature by X (default 1)\n"
           "  --save W         write the trained weights (safetensors)\n"
           "  --resume W       continue from a --checkpoint file exactly (its epochs, data\n"
           "                   order, optimizer state, step and random state), or start\n"
           "                   from saved weights (the optimizer starts afresh)\n"
           "  --init-from W    start from the tensors saved weights W have (fine-tuning: the\n"
           "                   others keep their --seed initialization); lists the model's\n"
           "                   tensors W lacks and W's tensors the model does not take\n"
           "  --init-map MAP   with --init-from: rename W's tensors, FILE_PREFIX=MODEL_PREFIX[,...]\n"
           "                   (\"backbone.=features.\" loads backbone.0.weight into features.0.weight)\n"
           "  --checkpoint C   write an exact checkpoint to C after every epoch (for --resume)\n"
           "  --augment LIST   image inputs [C, H, W] or [H, W], training batches only:\n"
           "                   shift=N (random shifts by up to N pixels, zero padding),\n"
           "                   flip (horizontal, off by default), rotate=DEG (up to DEG\n"
           "                   degrees, bilinear), noise=SIGMA (Gaussian); seeded by --seed\n"
           "  --load W         weights to evaluate, predict, sample, reconstruct or generate with\n"
           "                   (optional for a model without a train statement: its initial\n"
           "                   values)\n"
           "  --prompt TEXT    the text to continue; every character must occur in --text\n"
           "  --len N          characters to generate (default 200)\n"
           "  --temperature X  > 0; below 1 sharper, above 1 flatter (default 1)\n"
           "  --out FILE       the grid to write: one row per example, the input beside\n"
           "                   its reconstruction; a PNG when FILE ends in .png (the\n"
           "                   program must be linked with nnrt_png.o and -lpng), else a\n"
           "                   binary PGM (P5)\n"
           "  --count N        examples in the grid, the first N of --data (default 16); generate:\n"
           "                   N images, 8 to a row\n"
           "  --allow-nonfinite  load (and save) weights holding NaN or Inf; without it such\n"
           "                   weights are refused, naming the tensor\n",
           d->default_lr);
    print_help_watch();
    print_help_dist();
}

/* ---- argument parsing --------------------------------------------------- */

static int find_option(const char *name, size_t len)
{
    int i;
    for (i = 0; i < O_COUNT_; i++)
        if (strlen(optdefs[i].name) == len && memcmp(optdefs[i].name, name, len) == 0)
            return i;
    return -1;
}

/* An unknown option: its message, naming the options it begins (--clip:
 * --clip-norm or --clip-value) when there are some. */
static int unknown_option(ctx *c, const char *name, size_t len)
{
    int i, n = 0;
    nnrti_tr_fail(c, EXIT_USAGE, "unknown option '--%.*s'", (int)len, name);
    for (i = 0; i < O_COUNT_; i++)
        if (len > 0 && strncmp(optdefs[i].name, name, len) == 0)
            nnrti_tr_append(c, "%s--%s", n++ ? " or " : ": did you mean ", optdefs[i].name);
    if (n)
        nnrti_tr_append(c, "?");
    return EXIT_USAGE;
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
        return nnrti_tr_fail(c, EXIT_USAGE,
                             "expected a command (train, eval, predict, sample, reconstruct, calibrate or "
                             "generate) before '%s'", s);
    return nnrti_tr_fail(c, EXIT_USAGE,
                         "unknown command '%s' (expected train, eval, predict, sample, reconstruct, calibrate or "
                         "generate)", s);
}

/* Parse "--name value" or "--name=value" at argv[*i]; advances *i. */
static int parse_option(ctx *c, int argc, char **argv, int *i)
{
    const char *a = argv[*i], *name, *eq, *val;
    size_t len;
    int k;
    if (a[0] != '-')
        return nnrti_tr_fail(c, EXIT_USAGE, "unexpected argument '%s'", a);
    if (a[1] != '-' || a[2] == 0 || a[2] == '=')
        return nnrti_tr_fail(c, EXIT_USAGE, "unknown option '%s'", a);
    name = a + 2;
    eq = strchr(name, '=');
    len = eq ? (size_t)(eq - name) : strlen(name);
    val = eq ? eq + 1 : NULL;
    k = find_option(name, len);
    if (k < 0)
        return unknown_option(c, name, len);
    if (!(optdefs[k].cmds & c->o.cmd))
        return nnrti_tr_fail(c, EXIT_USAGE, "option --%s does not apply to %s", optdefs[k].name, c->o.cmd_name);
    if (optdefs[k].flag && val)
        return nnrti_tr_fail(c, EXIT_USAGE, "option --%s takes no value", optdefs[k].name);
    if (optdefs[k].flag)
        val = "1";
    if (!val) {
        if (*i + 1 >= argc)
            return nnrti_tr_fail(c, EXIT_USAGE, "option --%s needs a value", optdefs[k].name);
        val = argv[++*i];
    }
    if (!*val)
        return nnrti_tr_fail(c, EXIT_USAGE, "option --%s has an empty value", optdefs[k].name);
    if (k == O_DATA_FOR && c->o.n_data_for == NNRT_DATA_FOR_MAX)
        return nnrti_tr_fail(c, EXIT_USAGE, "more than %d --data-for options", NNRT_DATA_FOR_MAX);
    if (k == O_DATA_FOR)
        c->o.data_for[c->o.n_data_for++] = val; /* one per input it names */
    else if (c->o.raw[k])
        return nnrti_tr_fail(c, EXIT_USAGE, "option --%s given twice", optdefs[k].name);
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
static int to_ulong(const char *s, unsigned long long hi, unsigned long long *out)
{
    char *end;
    if (*s < '0' || *s > '9')
        return 0;
    errno = 0;
    *out = strtoull(s, &end, 10);
    return *end == 0 && errno != ERANGE && *out <= hi;
}

/* Option k as an integer in [lo, hi] into *out (when given); the message
 * names the range. */
static int int_option(ctx *c, int k, unsigned long long lo, unsigned long long hi, unsigned long long *out)
{
    const char *s = c->o.raw[k];
    if (!s)
        return 0;
    if (!to_ulong(s, hi, out) || *out < lo)
        return nnrti_tr_fail(c, EXIT_USAGE, "--%s '%s' is not an integer in [%llu, %llu]", optdefs[k].name, s, lo,
                             hi);
    return 0;
}

/* The integer options. */
static int check_ints(ctx *c)
{
    opts *o = &c->o;
    unsigned long long v[4] = {(unsigned long long)o->epochs, (unsigned long long)o->steps,
                               (unsigned long long)o->len, (unsigned long long)o->count};
    unsigned long long seed = o->seed;
    int rc;
    if ((rc = int_option(c, O_EPOCHS, 1, 1000000000, &v[0])) != 0 ||
        (rc = int_option(c, O_STEPS, 1, 1000000000, &v[1])) != 0 ||
        (rc = int_option(c, O_LEN, 0, 100000000, &v[2])) != 0 ||
        (rc = int_option(c, O_COUNT, 1, 1000000, &v[3])) != 0 || (rc = int_option(c, O_SEED, 0, UINT64_MAX, &seed)))
        return rc;
    o->epochs = (long)v[0];
    o->steps = (long)v[1];
    o->len = (long)v[2];
    o->count = (long)v[3];
    o->seed = (uint64_t)seed;
    return 0;
}

/* Which options go together: the data source of each command. */
static int check_sources(ctx *c)
{
    const opts *o = &c->o;
    const char *cmd = o->cmd_name;
    if (o->cmd == CMD_TRAIN && o->raw[O_DATA] && o->raw[O_TEXT])
        return nnrti_tr_fail(c, EXIT_USAGE, "train takes --data FILE or --text FILE, not both");
    if (o->cmd == CMD_TRAIN && !o->raw[O_DATA] && !o->raw[O_TEXT])
        return nnrti_tr_fail(c, EXIT_USAGE, "train needs --data FILE or --text FILE");
    if (o->cmd == CMD_SAMPLE && !o->raw[O_TEXT])
        return nnrti_tr_fail(c, EXIT_USAGE, "sample needs --text FILE (the text the vocabulary comes from)");
    if (o->cmd != CMD_TRAIN && o->cmd != CMD_SAMPLE && o->cmd != CMD_GEN && !o->raw[O_DATA])
        return nnrti_tr_fail(c, EXIT_USAGE, "%s needs --data FILE", cmd);
    if (o->raw[O_TEXT] && (o->raw[O_LABELS] || o->raw[O_SCALE]))
        return nnrti_tr_fail(c, EXIT_USAGE, "--%s does not apply to --text", o->raw[O_LABELS] ? "labels" : "scale");
    if (o->cmd == CMD_SAMPLE && !o->raw[O_PROMPT])
        return nnrti_tr_fail(c, EXIT_USAGE, "sample needs --prompt TEXT");
    if ((o->cmd == CMD_RECON || o->cmd == CMD_GEN) && !o->raw[O_OUT])
        return nnrti_tr_fail(c, EXIT_USAGE, "%s needs --out FILE.pgm or FILE.png", cmd);
    if (o->cmd == CMD_CALIB && !o->raw[O_OUT])
        return nnrti_tr_fail(c, EXIT_USAGE, "calibrate needs --out CALIB.safetensors");
    if ((o->raw[O_SAVE] && strcmp(o->raw[O_SAVE], "-") == 0) || (o->raw[O_OUT] && strcmp(o->raw[O_OUT], "-") == 0))
        return nnrti_tr_fail(c, EXIT_USAGE, "--%s -: standard output carries the report lines; name a file",
                             o->raw[O_OUT] ? "out" : "save");
    return 0;
}

/* --init-from W [--init-map MAP], not with --resume. */
static int check_init_from(ctx *c)
{
    opts *o = &c->o;
    if (o->raw[O_INIT_FROM] && o->raw[O_RESUME])
        return nnrti_tr_fail(c, EXIT_USAGE, "--init-from and --resume: start from one of them, not both");
    if (o->raw[O_INIT_MAP] && !o->raw[O_INIT_FROM])
        return nnrti_tr_fail(c, EXIT_USAGE, "--init-map renames the tensors of --init-from W; give --init-from");
    return 0;
}

/* --clip-norm X, --clip-value X: one of them, X finite and > 0. */
static int check_clip(ctx *c)
{
    opts *o = &c->o;
    if (o->raw[O_CLIP_NORM] && o->raw[O_CLIP_VALUE])
        return nnrti_tr_fail(c, EXIT_USAGE, "--clip-norm and --clip-value: clip by one of them, not both");
    for (int k = O_CLIP_NORM; k <= O_CLIP_VALUE; k++) {
        double *v = k == O_CLIP_NORM ? &o->clip_norm : &o->clip_value;
        if (o->raw[k] && (!to_double(o->raw[k], v) || !(*v > 0 && *v < 1e308)))
            return nnrti_tr_fail(c, EXIT_USAGE, "--%s '%s' is not a positive finite number", optdefs[k].name,
                                 o->raw[k]);
    }
    return 0;
}

/* The floating-point options. */
static int check_reals(ctx *c)
{
    opts *o = &c->o;
    double v;
    if (o->raw[O_LR]) {
        if (!to_double(o->raw[O_LR], &o->lr) || !(o->lr > 0))
            return nnrti_tr_fail(c, EXIT_USAGE, "--lr '%s' is not a positive number", o->raw[O_LR]);
        o->have_lr = 1;
    }
    if (o->raw[O_VAL_SPLIT] &&
        (!to_double(o->raw[O_VAL_SPLIT], &o->val_split) || !(o->val_split >= 0 && o->val_split < 1)))
        return nnrti_tr_fail(c, EXIT_USAGE, "--val-split '%s' is not a number in [0, 1)", o->raw[O_VAL_SPLIT]);
    if (o->raw[O_SCALE]) {
        if (!to_double(o->raw[O_SCALE], &v) || !isfinite((float)v))
            return nnrti_tr_fail(c, EXIT_USAGE, "--scale '%s' is not a finite number", o->raw[O_SCALE]);
        o->scale = (float)v;
    }
    if (o->raw[O_TEMPERATURE] && (!to_double(o->raw[O_TEMPERATURE], &o->temperature) || !(o->temperature > 0)))
        return nnrti_tr_fail(c, EXIT_USAGE, "--temperature '%s' is not a positive number", o->raw[O_TEMPERATURE]);
    return check_clip(c);
}

/* --split S (eval, predict): val needs a fraction; --val-split alone means val. */
static int check_split(ctx *c)
{
    opts *o = &c->o;
    const char *s = o->raw[O_SPLIT];
    o->split = o->val_split > 0 ? SPLIT_VAL : SPLIT_ALL;
    if (!s)
        return 0;
    if (strcmp(s, "val") != 0 && strcmp(s, "train") != 0 && strcmp(s, "all") != 0)
        return nnrti_tr_fail(c, EXIT_USAGE, "--split '%s' is not val, train or all", s);
    o->split = s[0] == 'v' ? SPLIT_VAL : s[0] == 't' ? SPLIT_TRAIN : SPLIT_ALL;
    if (o->split != SPLIT_ALL && !(o->val_split > 0))
        return nnrti_tr_fail(c, EXIT_USAGE,
                             "--split %s needs --val-split F (0 < F < 1), the fraction training held out", s);
    return 0;
}

/* Which of --patience, --min-delta, --monitor, --log, --plot, --test go
 * together. */
static int check_watch_combos(ctx *c)
{
    const opts *o = &c->o;
    if ((o->raw[O_MONITOR] || o->raw[O_MIN_DELTA]) && !o->raw[O_PATIENCE])
        return nnrti_tr_fail(c, EXIT_USAGE, "--%s needs --patience N", o->raw[O_MONITOR] ? "monitor" : "min-delta");
    if (o->raw[O_PATIENCE] && !(o->val_split > 0))
        return nnrti_tr_fail(c, EXIT_USAGE,
                             "--patience needs a validation set to watch: add --val-split F (0 < F < 1)");
    if (o->raw[O_LOG_EVERY] && !o->raw[O_LOG])
        return nnrti_tr_fail(c, EXIT_USAGE, "--log-every needs --log FILE.csv");
    if (o->raw[O_TEST_LABELS] && !o->raw[O_TEST])
        return nnrti_tr_fail(c, EXIT_USAGE, "--test-labels needs --test FILE");
    if ((o->raw[O_LOG] && strcmp(o->raw[O_LOG], "-") == 0) || (o->raw[O_PLOT] && strcmp(o->raw[O_PLOT], "-") == 0))
        return nnrti_tr_fail(c, EXIT_USAGE, "--%s -: standard output carries the report lines; name a file",
                             o->raw[O_LOG] && strcmp(o->raw[O_LOG], "-") == 0 ? "log" : "plot");
    if (o->raw[O_TEST] && o->raw[O_TEXT])
        return nnrti_tr_fail(c, EXIT_USAGE, "--test does not apply to --text");
    return check_split(c);
}

/* --patience, --min-delta, --monitor, --log-every (numbers and names). */
static int check_watch(ctx *c)
{
    opts *o = &c->o;
    unsigned long long v[2] = {0, 0};
    const char *m = o->raw[O_MONITOR];
    int rc;
    if ((rc = int_option(c, O_PATIENCE, 1, 1000000000, &v[0])) != 0 ||
        (rc = int_option(c, O_LOG_EVERY, 1, 1000000000, &v[1])) != 0)
        return rc;
    o->patience = o->raw[O_PATIENCE] ? (long)v[0] : -1;
    o->log_every = (long)v[1];
    if (o->raw[O_MIN_DELTA] && (!to_double(o->raw[O_MIN_DELTA], &o->min_delta) || !(o->min_delta >= 0)))
        return nnrti_tr_fail(c, EXIT_USAGE, "--min-delta '%s' is not a number >= 0", o->raw[O_MIN_DELTA]);
    if (m && strcmp(m, "val_loss") != 0 && strcmp(m, "val_acc") != 0)
        return nnrti_tr_fail(c, EXIT_USAGE, "--monitor '%s' is not val_loss or val_acc", m);
    o->monitor = m && strcmp(m, "val_acc") == 0 ? MON_VAL_ACC : MON_VAL_LOSS;
    return check_watch_combos(c);
}


/* Convert and check the numeric options and the required ones. */
static int check_options(ctx *c)
{
    opts *o = &c->o;
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
        return nnrti_tr_fail(c, EXIT_USAGE, "train needs --epochs N");
    /* a model without a train statement can run on its initial values */
    if (o->cmd != CMD_TRAIN && !o->raw[O_LOAD] && c->d->trainable)
        return nnrti_tr_fail(c, EXIT_USAGE, "%s needs --load W.safetensors", o->cmd_name);
    o->allow_nonfinite = o->raw[O_ALLOW_NONFINITE] != NULL;
    if ((rc = check_ints(c)) != 0 || (rc = check_reals(c)) != 0 || (rc = nnrti_tr_check_augment(c)) != 0 ||
        (rc = check_init_from(c)) != 0 || (rc = nnrti_tr_check_classes(c)) != 0 ||
        (rc = nnrti_tr_check_data_for(c)) != 0)
        return rc;
    return check_watch(c);
}

/* Fill c->o from argv. Returns 0, or EXIT_USAGE with c->err set;
 * *help is set for --help / -h (anywhere). */
int nnrti_tr_parse_args(ctx *c, int argc, char **argv, int *help)
{
    int i, rc;
    for (i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            *help = 1;
            return 0;
        }
    if (argc < 2)
        return nnrti_tr_fail(c, EXIT_USAGE, "no command given");
    if ((rc = parse_command(c, argv[1])) != 0)
        return rc;
    for (i = 2; i < argc; i++)
        if ((rc = parse_option(c, argc, argv, &i)) != 0)
            return rc;
    return check_options(c);
}
