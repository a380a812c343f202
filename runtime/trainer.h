/* trainer.h — what the trainer's files (nnrt_main) share; internal to libnnrt.
 *
 * The generated trainer program's command line is split by concern:
 *   trainer.c         nnrt_main: the entry, messages, the model and its batch buffers
 *   trainer_args.c    the option table, --help, argument parsing and checks
 *   trainer_data.c    data feeding: IDX/CSV/text loading, batches, the metric
 *   trainer_inputs.c  several inputs: --data-for files, types, their batches
 *   trainer_train.c   the training loop (data sets and text), saving
 *   trainer_eval.c    reporting: scoring, eval, predict, reconstruct, generate; calibrate
 *   trainer_sample.c  Philox draws, the vocabulary, temperature sampling, sample
 *   trainer_ckpt.c    exact checkpoints: --checkpoint every epoch, --resume
 *   trainer_augment.c  --augment: checked with the options, applied per batch
 *   trainer_classes.c  --classes: the examples of some classes, renumbered
 *   trainer_watch.c   across epochs: the history, early stopping, the best weights
 *   trainer_log.c     the history as --log CSV rows and a --plot SVG of the curves
 *   trainer_split.c   eval/predict on a split (--split), the training record in
 *                     the weights' metadata and the leak warning
 *   trainer_sched.c   --schedule, --clip-norm, --clip-value: the model's schedule
 *   trainer_dist.c    data-parallel steps over ranks (nnrt_main_dist): the
 *                     shard of each epoch, the averaged gradients, rank 0's outputs
 * The file comment of trainer.c describes the command line and what is scored.
 * Functions shared between these files carry the nnrti_tr_ prefix; everything
 * else is static. Nothing here is part of the public contract (nnrt.h).
 */
#ifndef NNRT_TRAINER_H
#define NNRT_TRAINER_H

#include "nnrt.h"
#include "nnrt_internal.h"

#include <stdint.h>
#include <stdio.h>

/* nnrt_main's exit statuses besides 0 */
#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

/* ---- options ------------------------------------------------------------ */

enum { CMD_TRAIN = 1, CMD_EVAL = 2, CMD_PREDICT = 4, CMD_SAMPLE = 8, CMD_RECON = 16, CMD_CALIB = 32, CMD_GEN = 64 };

enum {
    O_DATA, O_LABELS, O_EPOCHS, O_LR, O_SEED, O_VAL_SPLIT, O_SCALE, O_SAVE,
    O_RESUME, O_LOAD, O_TEXT, O_STEPS, O_PROMPT, O_LEN, O_TEMPERATURE, O_OUT,
    O_COUNT, O_ALLOW_NONFINITE, O_CHECKPOINT, O_AUGMENT,
    O_PATIENCE, O_MIN_DELTA, O_MONITOR, O_SPLIT, O_TEST, O_TEST_LABELS, O_LOG, O_LOG_EVERY, O_PLOT,
    O_SCHEDULE, O_CLIP_NORM, O_CLIP_VALUE, O_INIT_FROM, O_INIT_MAP, O_SHARD_OPTIMIZER, O_BUCKET_MB, O_CLASSES,
    O_DATA_FOR, O_OVERLAP,
    O_COUNT_
};

enum { SPLIT_ALL, SPLIT_VAL, SPLIT_TRAIN };  /* --split */
#define NNRT_DATA_FOR_MAX 64                 /* --data-for options */
enum { MON_VAL_LOSS, MON_VAL_ACC };         /* --monitor */

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
    int allow_nonfinite;       /* --allow-nonfinite: NaN/Inf weights load and save */
    long patience;             /* --patience: epochs without improvement, -1 for none */
    double min_delta;          /* --min-delta: the least change that improves */
    int monitor;               /* --monitor: MON_* */
    int split;                 /* --split: SPLIT_*; SPLIT_VAL when only --val-split is given */
    long log_every;            /* --log-every: steps between log rows, 0 for none */
    double clip_norm;          /* --clip-norm, when given */
    double clip_value;         /* --clip-value, when given */
    const char *data_for[NNRT_DATA_FOR_MAX]; /* --data-for NAME=FILE, in order */
    int n_data_for;
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

/* One epoch as the trainer saw it; NaN where there is no value. */
typedef struct epoch_rec {
    long epoch;
    int64_t step;       /* train steps so far */
    double lr;          /* the learning rate the epoch ran with */
    double train_loss;  /* the mean of its step losses */
    double train_acc;   /* the metric's accuracy on the training set, 0..1 */
    double val_loss;    /* the mean loss of the validation set's full batches */
    double val_acc;     /* accuracy on the validation set, 0..1 */
    double ex_per_s;    /* examples trained per second of training */
    double grad_norm;   /* the gradient norm of the last update (NaN: unknown) */
} epoch_rec;

/* A growing text (trainer_log.c). */
typedef struct tbuf {
    char *s;         /* malloc'd, NUL-terminated */
    size_t len, cap;
    int oom;         /* an append failed: the text is incomplete */
} tbuf;

/* What the trainer keeps across epochs (trainer_watch.c). */
typedef struct watch {
    epoch_rec *ep;          /* the epochs so far */
    long n_ep, cap_ep;
    tbuf csv;               /* the --log rows so far (written whole after each epoch) */
    int64_t step;           /* train steps so far */
    double win_sum;         /* losses of the steps since the last step row */
    int64_t win_n;
    double win_time, mark;  /* training seconds of the window; the clock at the last step */
    double epoch_t0;        /* the clock when the epoch's training started */
    int64_t epoch_step0;    /* steps before it */
    double epoch_speed;     /* examples per second of its training */
    long best_epoch;        /* 0 until an epoch was scored */
    double best;            /* its monitored value */
    epoch_rec best_rec;     /* its record (epoch, val_loss and val_acc at least) */
    unsigned char *best_w;  /* its weights: a safetensors file's bytes */
    size_t best_len;
    long stopped;           /* the epoch after which --patience stopped, 0 if none */
} watch;

/* Everything one run needs; passed around instead of globals. */
/* The most objectives whose losses the trainer logs (d->n_objectives). */
#define NNRTI_MAX_OBJECTIVES 16

typedef struct ctx {
    const nnrt_model_desc *d;
    const nnrt_dist *dist; /* data-parallel ranks (trainer_dist.c), NULL for one */
    const char *prog; /* program name for messages */
    opts o;
    void *m;          /* the model, NULL until created */
    int metric;       /* M_* */
    int y_batch_dtype;/* dtype of targets in batch buffers */
    size_t esz;       /* model element size */
    size_t xsz;       /* input element size (4 for int32 ids) */
    bufs b;
    long epoch0;      /* epochs done before this run (--resume of a checkpoint) */
    nnrt_augment aug; /* --augment */
    watch w;          /* across epochs (--log, --plot, --patience) */
    size_t bucket;    /* --bucket-mb as elements per all-reduce, 0 for one (trainer_dist.c) */
    int shard;        /* --shard-optimizer on several ranks */
    int overlap;      /* --overlap on several ranks: buckets start during the backward pass */
    int gather_ckpt;  /* sharded with --checkpoint: every rank takes part in the save */
    double obj_sum[NNRTI_MAX_OBJECTIVES]; /* several objectives: this epoch's sum of each one's loss */
    nnrt_err err;     /* the message of the failure being returned */
} ctx;

/* A text file as token ids, split into training and validation parts. */
typedef struct text {
    const char *path;
    nnrt_vocab v;
    int32_t *ids;   /* one id per byte of the file */
    size_t len;     /* bytes */
    size_t n_train; /* ids[0, n_train) train, ids[n_train, len) validate */
} text;

/* Sequential 32-bit words of Philox(seed, stream): draw i is word i % 4 of
 * block (ctr_hi = stream, ctr_lo = i / 4), the element mapping of the
 * fills, so a run is reproducible from its seed alone. */
typedef struct draws {
    uint64_t seed;     /* the key */
    uint64_t stream;   /* the high counter word: the epoch, or 0 */
    uint64_t next;     /* index of the next word */
    uint32_t block[4]; /* the block holding word next - 1 */
} draws;

/* ---- trainer.c: messages, model, buffers -------------------------------- */

/* Record a message in c->err and return status (EXIT_RUNTIME / EXIT_USAGE). */
int nnrti_tr_fail(ctx *c, int status, const char *fmt, ...) NNRTI_PRINTF(3, 4);
/* Append to the message in c->err. */
void nnrti_tr_append(ctx *c, const char *fmt, ...) NNRTI_PRINTF(2, 3);
/* The model's own message for a failed call, or a generic one. */
int nnrti_tr_model_fail(ctx *c, const char *what);
/* strerror without shared state: buf, filled. */
const char *nnrti_tr_errstr(int e, char *buf, size_t n);
/* stdout must have taken everything. */
int nnrti_tr_check_stdout(ctx *c);
/* A character model: i32 [B, T] ids, i32 [B, T] next ids, output [B, T, V]. */
int nnrti_tr_is_char_model(const nnrt_model_desc *d);
/* malloc(a * b * c) with overflow check; never 0 bytes. */
void *nnrti_tr_alloc3(size_t a, size_t b, size_t c);
int nnrti_tr_alloc_bufs(ctx *c);
/* Weights in path must be finite unless --allow-nonfinite; what names the
 * option for the message. */
int nnrti_tr_check_finite(ctx *c, const char *path, const char *what);
/* Create the model; load weights from path when non-NULL (finite ones
 * unless --allow-nonfinite). */
int nnrti_tr_make_model(ctx *c, uint64_t seed, const char *path);
/* Element i of a buffer of the model's float dtype, as a double. */
double nnrti_tr_at(const void *p, int dtype, size_t i);

/* ---- trainer_args.c ------------------------------------------------------ */

/* Fill c->o from argv. Returns 0, or EXIT_USAGE with c->err set;
 * *help is set for --help / -h (anywhere). */
int nnrti_tr_parse_args(ctx *c, int argc, char **argv, int *help);
void nnrti_tr_print_usage(FILE *f, const char *prog);
void nnrti_tr_print_help(const char *prog, const nnrt_model_desc *d);

/* ---- trainer_data.c ------------------------------------------------------ */

/* 1 if path starts with the IDX u8 rank-3 magic, 0 if not, -1 (with c->err)
 * if it cannot be read. */
int nnrti_tr_is_idx_images(ctx *c, const char *path);
/* Load --data (and --labels). need_y: the targets must be there (when the
 * model has any). The caller frees ds (also on error). */
int nnrti_tr_load_data(ctx *c, int need_y, nnrt_dataset *ds);
int nnrti_tr_choose_metric(const nnrt_model_desc *d, const nnrt_dataset *ds);
/* Copy examples idx[0..d->batch) of ds into the batch buffers. */
void nnrti_tr_gather(ctx *c, const nnrt_dataset *ds, const int64_t *idx);
/* Gather examples [start, start + count) of ds, padding the batch with the
 * last one, and run forward. */
int nnrti_tr_forward_batch(ctx *c, const nnrt_dataset *ds, int64_t start, int64_t count);
/* The model must be a character model; else say which part does not fit. */
int nnrti_tr_check_char_model(ctx *c);
/* Read a text, build its vocabulary and ids; the caller frees t->ids. */
int nnrti_tr_load_text(ctx *c, const char *path, text *t);
/* Split off the last round(val_split * len) characters for validation. */
int nnrti_tr_split_text(ctx *c, text *t);
/* Validation batches of a text (at most VAL_BATCHES_MAX). */
int64_t nnrti_tr_val_batches(const ctx *c, const text *t);
/* Row b of the batch: ids[start, start + T) in, the next ids as target. */
void nnrti_tr_fill_window(ctx *c, const text *t, int64_t b, size_t start);

/* Columns of the first non-blank line of a CSV file (0 if unknown). */
size_t nnrti_tr_csv_columns(const char *path);

/* ---- trainer_inputs.c ----------------------------------------------------- */

/* The element type of input i (NNRT_I32 or the model dtype). */
int nnrti_tr_in_dtype(const nnrt_model_desc *d, int i);
/* Check the --data-for list against the model's inputs (EXIT_USAGE). */
int nnrti_tr_check_data_for(ctx *c);
/* Load the data of a model with several inputs (--data-for files, or
 * inputs of several types) as one data set: each example every input's
 * values in declaration order, --scale applied to the float ones. */
int nnrti_tr_load_inputs(ctx *c, int need_y, nnrt_dataset *ds);
/* Several inputs: examples idx of ds into c->b.x, each input's batch in
 * turn, in its type. */
void nnrti_tr_gather_inputs(ctx *c, const nnrt_dataset *ds, const int64_t *idx);
/* Bytes of one example of all inputs, in their types. */
size_t nnrti_tr_x_bytes(const nnrt_model_desc *d);

/* ---- trainer_train.c ----------------------------------------------------- */

int nnrti_tr_cmd_train(ctx *c);
int nnrti_tr_cmd_train_text(ctx *c);

/* ---- trainer_dist.c ------------------------------------------------------ */

/* Ranks of a data-parallel run (1 without one) and this one's rank. */
int nnrti_tr_ranks(const ctx *c);
int nnrti_tr_rank(const ctx *c);
/* Checks before a data-parallel train (the model's split step); on ranks
 * other than 0, drops the outputs (--save, --checkpoint, --log, --plot). */
int nnrti_tr_dist_check(ctx *c);
/* This rank's share of an epoch's order idx[0..n) (the same on every rank):
 * positions rank, rank + N, ... of the order padded to a multiple of N by
 * its first entries, into own (ceil(n / N) entries). */
void nnrti_tr_dist_shard(const ctx *c, const int64_t *idx, int64_t n, int64_t *own);
/* One optimizer step over the ranks: forward_backward on this rank's
 * batch, the gradients and the loss averaged, update (the whole buffer,
 * by buckets, or this rank's slice with --shard-optimizer). */
int nnrti_tr_dist_step(ctx *c, double *loss);
/* After the model is made: can it shard or bucket, and (rank 0) the line
 * of memory per rank. */
int nnrti_tr_dist_start(ctx *c);
/* Sharded: the optimizer state of every rank's slice onto rank 0, before
 * rank 0 saves a checkpoint (every rank calls it). */
int nnrti_tr_dist_gather_state(ctx *c);
/* Sharded: the pages of the optimizer state outside this rank's slice back
 * to the system (Linux; nothing elsewhere). */
void nnrti_tr_dist_release(ctx *c);

/* ---- trainer_ckpt.c ------------------------------------------------------ */

/* --checkpoint can be written (and the model can write it). */
int nnrti_tr_check_checkpoint(ctx *c);
/* Write --checkpoint (when given) after epoch of n_train training examples. */
int nnrti_tr_save_checkpoint(ctx *c, long epoch, uint64_t n_train);
/* Create the model for train, from --resume (checkpoint or weights) if given. */
int nnrti_tr_make_train_model(ctx *c, uint64_t n_train);

/* ---- trainer_augment.c ---------------------------------------------------- */

/* Parse and check --augment into c->aug (EXIT_USAGE on a bad list or input). */
int nnrti_tr_check_augment(ctx *c);
/* Augment the gathered training batch of step s of epoch. */
int nnrti_tr_augment_batch(ctx *c, long epoch, int64_t s);

/* ---- trainer_classes.c ---------------------------------------------------- */

/* Check --classes LIST (EXIT_USAGE: a bad list, a model without labels). */
int nnrti_tr_check_classes(ctx *c);
/* Keep the examples of ds (loaded from path) of the listed classes,
 * their labels renumbered; nothing without --classes. */
int nnrti_tr_select_classes(ctx *c, const char *path, nnrt_dataset *ds);

/* ---- trainer_sched.c ------------------------------------------------------ */

/* Install --schedule (total: the run's optimizer steps, for a spec without
 * total), --clip-norm and --clip-value in the model, and print the schedule
 * and clipping when any is on. 0, or EXIT_USAGE / EXIT_RUNTIME. */
int nnrti_tr_apply_sched(ctx *c, int64_t total);

/* ---- trainer_eval.c ------------------------------------------------------ */

/* Can the loss of ds be computed (a loss, and the targets if any)? */
int nnrti_tr_have_loss(const ctx *c, const nnrt_dataset *ds);
/* One pass over ds. want_loss: also the mean loss over full batches. */
int nnrti_tr_evaluate(ctx *c, const nnrt_dataset *ds, int want_loss, score *s);
/* "  <label> acc  97.12%" / "  <label> mse 0.0123" / nothing. */
void nnrti_tr_print_score(const ctx *c, const char *label, const score *s);
int nnrti_tr_cmd_eval(ctx *c);
int nnrti_tr_cmd_predict(ctx *c);
int nnrti_tr_cmd_calibrate(ctx *c);
int nnrti_tr_cmd_reconstruct(ctx *c);
int nnrti_tr_cmd_generate(ctx *c);

/* ---- trainer_sample.c ---------------------------------------------------- */

void nnrti_tr_draws_init(draws *r, uint64_t seed, uint64_t stream);
/* Uniform in [0, n), n >= 1, unbiased. */
uint64_t nnrti_tr_draw_below(draws *r, uint64_t n);
int nnrti_tr_cmd_sample(ctx *c);

/* ---- trainer_watch.c ----------------------------------------------------- */

/* 1 when --log, --plot or --patience watch the epochs (they need the
 * validation loss). */
int nnrti_tr_watching(const ctx *c);
/* Checks before training: a validation set that can give the monitored
 * value (have_val; n_val examples; acc: the metric is an accuracy), and
 * the --log / --plot places. */
int nnrti_tr_watch_check(ctx *c, int have_val, int64_t n_val, int acc);
/* The learning rate the model trains with. */
double nnrti_tr_lr(const ctx *c);
double nnrti_tr_grad_norm(const ctx *c);
/* A training epoch starts and ends (the clocks of the log's speeds). */
void nnrti_tr_watch_epoch_start(ctx *c);
void nnrti_tr_watch_epoch_end(ctx *c);
/* After each successful train_step: a --log-every row when due. */
void nnrti_tr_watch_step(ctx *c, long epoch, double loss);
/* After each epoch: record it, rewrite --log and --plot, keep the best
 * weights; *stop is set when --patience ends the run. */
int nnrti_tr_watch_epoch(ctx *c, const epoch_rec *r, int *stop);
/* After the last epoch: with --patience, say where it stopped and restore
 * the best epoch's weights. */
int nnrti_tr_watch_finish(ctx *c);
void nnrti_tr_watch_free(ctx *c);
/* Early stopping's state for a checkpoint's trainer string: " monitor=M
 * best_epoch=E best_loss=L best_acc=A" (%.17g), or "" before a best epoch
 * or without --patience. */
void nnrti_tr_watch_state(const ctx *c, char *buf, size_t cap);
/* Add the best epoch's weights to the checkpoint at path (as tensors
 * "trainer.best.NAME") when there is a state to save. */
int nnrti_tr_watch_save_best(ctx *c, const char *path);
/* --resume: continue early stopping from the checkpoint path's state (the
 * text after its "n=N", "" if none) and its best weights. */
int nnrti_tr_watch_resume(ctx *c, const char *path, const char *state);

/* ---- trainer_log.c ------------------------------------------------------- */

/* Append printf-style text to b. */
void nnrti_tr_bprintf(tbuf *b, const char *fmt, ...) NNRTI_PRINTF(2, 3);
/* The CSV header, and one row ("epoch" or "step" in the first column). */
void nnrti_tr_log_header(ctx *c);
void nnrti_tr_log_row(ctx *c, const char *kind, const epoch_rec *r);
/* Write --log and --plot (atomically) from the history so far. */
int nnrti_tr_log_write(ctx *c);

/* ---- trainer_split.c ----------------------------------------------------- */

/* The examples of ds that --split selects, as a view into ds (no copy);
 * prints which were scored to f when a split option was given. */
int nnrti_tr_split_view(ctx *c, const nnrt_dataset *ds, nnrt_dataset *view, FILE *f);
/* eval: warn on stderr when --load was trained on --data (of n examples)
 * and the examples scored include training examples. */
void nnrti_tr_leak_check(ctx *c, int64_t n);
/* Record the training data, split and seed in the weights file's metadata. */
int nnrti_tr_record_training(ctx *c, const char *path, long epochs);
/* "examples N  loss L  accuracy A%" (no newline) for a scored set. */
void nnrti_tr_print_report(const ctx *c, const nnrt_dataset *ds, const score *s);
/* train --test FILE [--test-labels FILE]: load it before training; score
 * it at the end ("test FILE: examples N ..."). */
int nnrti_tr_load_test(ctx *c, nnrt_dataset *ts);
int nnrti_tr_score_test(ctx *c, const nnrt_dataset *ts);

#endif /* NNRT_TRAINER_H */
