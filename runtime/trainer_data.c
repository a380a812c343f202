/* trainer_data.c — data feeding: --data as IDX images (with --labels) or CSV,
 * token-id checks, the metric a data set is scored by, batches gathered from
 * a data set, and --text files for character models (vocabulary, the
 * train/validation split, windows of T + 1 characters).
 */
#define _POSIX_C_SOURCE 200809L

#include "trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- data --------------------------------------------------------------- */

#define CSV_SNIFF_MAX ((size_t)64 << 20) /* bytes read to count the columns of a CSV */

/* 1 if path starts with the IDX u8 rank-3 magic 00 00 08 03, 0 if not,
 * -1 (with c->err) if it cannot be read. */
int nnrti_tr_is_idx_images(ctx *c, const char *path)
{
    unsigned char m[4];
    size_t got = 0;
    nnrti_rfile r;
    int rc = nnrti_ropen(&r, path, &c->err);
    if (rc == NNRT_OK)
        rc = nnrti_rsome(&r, m, 4, &got, &c->err);
    nnrti_rclose(&r);
    if (rc != NNRT_OK)
        return -1;
    return got == 4 && m[0] == 0 && m[1] == 0 && m[2] == 8 && m[3] == 3;
}

/* Columns of the first non-blank line of a CSV file (0 if none, or if a
 * NUL byte or CSV_SNIFF_MAX bytes come first: the loader says what is
 * wrong). */
size_t nnrti_tr_csv_columns(const char *path)
{
    size_t cols = 1, n = 0;
    int ch, seen = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    while ((ch = getc(f)) != EOF && ch != 0 && n++ < CSV_SNIFF_MAX) {
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
    return seen && ch != 0 && n <= CSV_SNIFF_MAX ? cols : 0;
}

/* Several inputs: append which values are which ("; inputs a: 3, b: 2
 * values, in this order") to c->err.msg. */
static void inputs_hint(ctx *c)
{
    int i;
    if (c->d->n_inputs <= 1)
        return;
    for (i = 0; i < c->d->n_inputs; i++)
        nnrti_tr_append(c, "%s%s: %zu", i ? ", " : "; inputs ", c->d->in_names[i], c->d->in_numel[i]);
    nnrti_tr_append(c, " values, in this order");
}

/* Add what the model expects to a CSV column-count message. */
static void csv_hint(ctx *c)
{
    size_t len = strlen(c->err.msg);
    if (!strstr(c->err.msg, " columns, got "))
        return;
    if (c->d->n_inputs > 1) { /* the closing parenthesis comes after the inputs */
        nnrti_tr_append(c, " (model %s takes %zu features and %zu target%s per line", c->d->name, c->d->x_numel,
                        c->d->y_numel, c->d->y_numel == 1 ? "" : "s");
        inputs_hint(c);
        nnrti_tr_append(c, ")");
        return;
    }
    if (!c->d->has_target)
        snprintf(c->err.msg + len, sizeof c->err.msg - len,
                 " (model %s takes %zu feature%s per line and has no target)", c->d->name, c->d->x_numel,
                 c->d->x_numel == 1 ? "" : "s");
    else
        snprintf(c->err.msg + len, sizeof c->err.msg - len, " (model %s takes %zu feature%s and %zu target%s per line)",
                 c->d->name, c->d->x_numel, c->d->x_numel == 1 ? "" : "s", c->d->y_numel,
                 c->d->y_numel == 1 ? "" : "s");
}

static int load_csv(ctx *c, const char *path, int need_y, nnrt_dataset *ds)
{
    const nnrt_model_desc *d = c->d;
    size_t ny = d->y_numel;
    if (c->o.raw[O_LABELS])
        return nnrti_tr_fail(c, EXIT_USAGE, "--labels is for IDX images, but %s is not an IDX image file", path);
    /* predict accepts feature-only lines */
    if (!need_y && nnrti_tr_csv_columns(path) == d->x_numel)
        ny = 0;
    /* with --classes any label may be there: those not listed are dropped */
    if (nnrt_load_csv(path, d->x_numel, ny, d->y_dtype == NNRT_I32 ? NNRT_I32 : NNRT_F32,
                      d->y_dtype == NNRT_I32 && !c->o.raw[O_CLASSES] ? d->classes : 0, c->o.scale, ds,
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

/* Labels must be class numbers below d->classes (with --classes, the
 * selection renumbers them and checks instead). */
static int check_idx_labels(ctx *c, const nnrt_dataset *ds)
{
    const int32_t *y = ds->y;
    const char *lpath = c->o.raw[O_LABELS];
    int64_t i;
    if (c->d->y_dtype != NNRT_I32 || c->d->y_numel != 1)
        return nnrti_tr_fail(c, EXIT_RUNTIME,
                             "%s: IDX labels are class numbers, but model %s takes %zu float target%s per example",
                             lpath, c->d->name, c->d->y_numel, c->d->y_numel == 1 ? "" : "s");
    for (i = 0; c->d->classes > 0 && !c->o.raw[O_CLASSES] && i < ds->n; i++)
        if (y[i] < 0 || y[i] >= c->d->classes)
            return nnrti_tr_fail(c, EXIT_RUNTIME, "%s: label %d at index %lld is not below the model's %d classes",
                                 lpath, (int)y[i], (long long)i, c->d->classes);
    return 0;
}

static int load_idx(ctx *c, const char *path, int need_y, nnrt_dataset *ds)
{
    const char *lpath = c->o.raw[O_LABELS];
    int rc;
    size_t k;
    if (!lpath && need_y)
        return nnrti_tr_fail(c, EXIT_USAGE, "%s holds IDX images; give their labels with --labels FILE", path);
    if (lpath)
        rc = nnrt_load_idx(path, lpath, ds, &c->err) ? EXIT_RUNTIME : 0;
    else
        rc = load_idx_images(c, path, ds);
    if (rc)
        return rc;
    if (ds->x_numel != c->d->x_numel) {
        nnrti_tr_fail(c, EXIT_RUNTIME,
                      "%s: images are %lldx%lld (%zu values) but model %s takes %zu values per example", path,
                      (long long)ds->x_shape[0], (long long)ds->x_shape[1], ds->x_numel, c->d->name, c->d->x_numel);
        inputs_hint(c);
        return EXIT_RUNTIME;
    }
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
            return nnrti_tr_fail(
                c, EXIT_RUNTIME,
                "%s: example %zu, value %zu: %g is not a token id (model %s takes i32 inputs: whole numbers)", path,
                k / ds->x_numel + 1, k % ds->x_numel + 1, (double)v, c->d->name);
    }
    return 0;
}

/* Load --data (and --labels). need_y: the targets must be there (when the
 * model has any). The caller frees ds (also on error). */
int nnrti_tr_load_data(ctx *c, int need_y, nnrt_dataset *ds)
{
    const char *path = c->o.raw[O_DATA];
    int idx, rc, several = c->o.n_data_for > 0 || c->d->in_dtypes != NULL;
    memset(ds, 0, sizeof *ds);
    need_y = need_y && c->d->has_target;
    /* with --labels the data must be IDX: let the loader say what is wrong */
    idx = c->o.raw[O_LABELS] ? 1 : nnrti_tr_is_idx_images(c, path);
    if (idx < 0)
        return EXIT_RUNTIME;
    if (several) /* trainer_inputs.c: it checks the ids where they come from */
        rc = nnrti_tr_load_inputs(c, need_y, ds);
    else
        rc = idx ? load_idx(c, path, need_y, ds) : load_csv(c, path, need_y, ds);
    if (rc == 0)
        rc = nnrti_tr_select_classes(c, path, ds);
    if (rc == 0 && ds->n == 0)
        return nnrti_tr_fail(c, EXIT_RUNTIME, "%s: no examples in the file", path);
    return rc || several ? rc : check_ids(c, path, ds);
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

int nnrti_tr_choose_metric(const nnrt_model_desc *d, const nnrt_dataset *ds)
{
    int onehot;
    if (ds->y_numel == 0 || d->y_numel == 0)
        return M_NONE;
    if (d->y_dtype == NNRT_I32) /* one label per example or per position */
        return d->classes > 0 && d->out_numel == d->y_numel * (size_t)d->classes ? M_ARGMAX : M_NONE;
    if (d->out_numel != d->y_numel)
        return M_NONE;
    if (targets_01(ds, &onehot))
        return onehot ? M_ONEHOT : M_BINARY;
    return M_MSE;
}

/* Copy examples idx[0..d->batch) of ds into the batch buffers: inputs in
 * the model's type (int32 for token ids; several inputs each in its own,
 * each input's whole batch in turn), targets when ds has them. */
void nnrti_tr_gather(ctx *c, const nnrt_dataset *ds, const int64_t *idx)
{
    const nnrt_model_desc *d = c->d;
    void *yb = ds->y_numel ? c->b.y : NULL, *x = c->b.x;
    int64_t i;
    size_t k, n = ds->x_numel;
    if (d->n_inputs > 1) {
        nnrti_tr_gather_inputs(c, ds, idx);
        nnrt_gather(ds, idx, d->batch, d->dtype, NULL, c->y_batch_dtype, yb);
    } else if (d->x_dtype != NNRT_I32) {
        nnrt_gather(ds, idx, d->batch, d->dtype, x, c->y_batch_dtype, yb);
    } else {
        for (i = 0; i < d->batch; i++) { /* ids: whole numbers (check_ids) */
            const float *xs = ds->x + (size_t)idx[i] * n;
            int32_t *xb = (int32_t *)x + (size_t)i * n;
            for (k = 0; k < n; k++)
                xb[k] = (int32_t)xs[k];
        }
        nnrt_gather(ds, idx, d->batch, d->dtype, NULL, c->y_batch_dtype, yb);
    }
}

/* Gather examples [start, start + count) of ds, padding the batch with the
 * last one, and run forward. */
int nnrti_tr_forward_batch(ctx *c, const nnrt_dataset *ds, int64_t start, int64_t count)
{
    const nnrt_model_desc *d = c->d;
    int64_t k;
    for (k = 0; k < d->batch; k++)
        c->b.idx[k] = start + (k < count ? k : count - 1);
    nnrti_tr_gather(c, ds, c->b.idx);
    return d->forward(c->m, c->b.x, c->b.out) ? nnrti_tr_model_fail(c, "forward") : 0;
}

/* ---- text (character models) -------------------------------------------- */

#define VAL_BATCHES_MAX 50 /* validation batches of a text run */

/* The model must be a character model; else say which part does not fit. */
int nnrti_tr_check_char_model(ctx *c)
{
    const nnrt_model_desc *d = c->d;
    const char *why = NULL;
    if (nnrti_tr_is_char_model(d))
        return 0;
    if (d->x_dtype != NNRT_I32 || d->x_rank != 1)
        why = "its input is not i32 [B, T]";
    else if (!d->has_target || d->y_dtype != NNRT_I32 || d->y_numel != d->x_numel)
        why = "its target is not i32 [B, T] (the next characters)";
    else
        why = "its first output is not [B, T, V]";
    return nnrti_tr_fail(c, EXIT_RUNTIME,
                         "--text needs a character model (input i32 [B, T], target i32 [B, T], first output [B, T, "
                         "V]), but in model %s %s",
                         d->name, why);
}

/* Read path, build its vocabulary (at most the model's V symbols) and the
 * ids. The caller frees t->ids (also on error). */
int nnrti_tr_load_text(ctx *c, const char *path, text *t)
{
    unsigned char *buf;
    size_t len, k;
    memset(t, 0, sizeof *t);
    t->path = path;
    if (nnrti_read_file(path, NNRTI_MAX_DATA_BYTES, 1, &buf, &len, &c->err) != NNRT_OK)
        return EXIT_RUNTIME;
    nnrt_vocab_build(&t->v, buf, len);
    t->len = len;
    t->ids = len ? nnrti_tr_alloc3(len, 1, sizeof *t->ids) : NULL;
    if (len && t->ids)
        for (k = 0; k < len; k++)
            t->ids[k] = t->v.id[buf[k]];
    free(buf);
    if (len == 0)
        return nnrti_tr_fail(c, EXIT_RUNTIME, "%s: the text is empty", path);
    if (!t->ids)
        return nnrti_tr_fail(c, EXIT_RUNTIME, "%s: out of memory", path);
    if (t->v.size > c->d->classes)
        return nnrti_tr_fail(c, EXIT_RUNTIME,
                             "%s: the text has %d distinct characters, more than the vocabulary of model %s (V = %d)",
                             path, t->v.size, c->d->name, c->d->classes);
    t->n_train = len;
    return 0;
}

/* Validation batches: B windows each, window w starting at n_train + w*T
 * (so every validation character is a target at most once), at most
 * VAL_BATCHES_MAX. */
int64_t nnrti_tr_val_batches(const ctx *c, const text *t)
{
    size_t T = c->d->x_numel, nv = t->len - t->n_train;
    int64_t windows = nv >= T + 1 ? (int64_t)((nv - 1) / T) : 0;
    int64_t nb = windows / c->d->batch;
    return nb < VAL_BATCHES_MAX ? nb : VAL_BATCHES_MAX;
}

/* Split off the last round(val_split * len) characters for validation. */
int nnrti_tr_split_text(ctx *c, text *t)
{
    const nnrt_model_desc *d = c->d;
    size_t T = d->x_numel;
    size_t n_val = (size_t)floor(c->o.val_split * (double)t->len + 0.5);
    t->n_train = t->len - (n_val < t->len ? n_val : t->len);
    if (t->n_train < T + 1)
        return nnrti_tr_fail(c, EXIT_RUNTIME, "%s: %zu training characters, fewer than one window of T + 1 = %zu",
                             t->path, t->n_train, T + 1);
    if (c->o.val_split > 0 && nnrti_tr_val_batches(c, t) == 0)
        return nnrti_tr_fail(c, EXIT_RUNTIME,
                             "%s: the validation text (the last %zu characters, --val-split %g) is shorter than one "
                             "batch of %lld windows (%lld characters); use a larger --val-split, or 0",
                             t->path, n_val, c->o.val_split, (long long)d->batch,
                             (long long)((size_t)d->batch * T + 1));
    return 0;
}

/* Row b of the batch: ids[start, start + T) in, ids[start + 1, start + T]
 * as the target. */
void nnrti_tr_fill_window(ctx *c, const text *t, int64_t b, size_t start)
{
    size_t T = c->d->x_numel, k;
    int32_t *x = (int32_t *)c->b.x + (size_t)b * T;
    int32_t *y = (int32_t *)c->b.y + (size_t)b * T;
    for (k = 0; k < T; k++) {
        x[k] = t->ids[start + k];
        y[k] = t->ids[start + k + 1];
    }
}
