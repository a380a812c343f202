/* trainer_inputs.c — the data of a model with several inputs. By default
 * one --data CSV line holds every input's values in declaration order, then
 * the targets. --data-for NAME=FILE (once per input it names) takes input
 * NAME's values from FILE instead (CSV with its values per line, or IDX
 * images of its size), and --data then holds the other inputs, in
 * declaration order (at least one), and the targets; every file holds one
 * line (image) per example, the same count. Inputs may differ in type
 * (d->in_dtypes: int32 token ids beside floats): --scale multiplies the
 * float inputs only, and an i32 input's values must be whole numbers. The
 * files are merged into one data set laid out as the single CSV would be,
 * so splitting, shuffling and batching do not change.
 */
#define _POSIX_C_SOURCE 200809L

#include "trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The element type of input i. */
int nnrti_tr_in_dtype(const nnrt_model_desc *d, int i)
{
    return d->in_dtypes ? d->in_dtypes[i] : d->x_dtype;
}

/* Input named name (len bytes), or -1. */
static int input_index(const nnrt_model_desc *d, const char *name, size_t len)
{
    int i;
    for (i = 0; i < d->n_inputs; i++)
        if (strlen(d->in_names[i]) == len && memcmp(d->in_names[i], name, len) == 0)
            return i;
    return -1;
}

/* "a, b and c": the inputs' names, into the message. */
static void append_names(ctx *c)
{
    int i, n = c->d->n_inputs;
    for (i = 0; i < n; i++)
        nnrti_tr_append(c, "%s%s", i == 0 ? "" : i == n - 1 ? " and " : ", ", c->d->in_names[i]);
}

/* Entry k of --data-for: its input into *in, its file into *path. */
static int data_for_entry(ctx *c, int k, int *in, const char **path)
{
    const char *s = c->o.data_for[k], *eq = strchr(s, '=');
    if (!eq || eq == s || !eq[1])
        return nnrti_tr_fail(c, EXIT_USAGE, "--data-for '%s' is not NAME=FILE", s);
    if ((*in = input_index(c->d, s, (size_t)(eq - s))) < 0) {
        nnrti_tr_fail(c, EXIT_USAGE, "--data-for '%s': model %s has no input '%.*s'; its inputs are ", s, c->d->name,
                      (int)(eq - s), s);
        append_names(c);
        return EXIT_USAGE;
    }
    *path = eq + 1;
    return 0;
}

int nnrti_tr_check_data_for(ctx *c)
{
    const nnrt_model_desc *d = c->d;
    int k, j, in, other;
    const char *path;
    if (c->o.n_data_for == 0)
        return 0;
    if (d->n_inputs <= 1)
        return nnrti_tr_fail(c, EXIT_USAGE, "--data-for: model %s has one input; --data holds its values", d->name);
    if (c->o.raw[O_TEST] || c->o.raw[O_LABELS])
        return nnrti_tr_fail(c, EXIT_USAGE, "--data-for does not go with --%s", c->o.raw[O_TEST] ? "test" : "labels");
    for (k = 0; k < c->o.n_data_for; k++) {
        if ((j = data_for_entry(c, k, &in, &path)) != 0)
            return j;
        for (j = 0; j < k; j++)
            if (data_for_entry(c, j, &other, &path) == 0 && other == in)
                return nnrti_tr_fail(c, EXIT_USAGE, "--data-for names input '%s' twice", d->in_names[in]);
    }
    if (c->o.n_data_for >= d->n_inputs)
        return nnrti_tr_fail(c, EXIT_USAGE, "--data-for names every input of model %s; leave at least one to --data "
                             "FILE, which holds the other inputs and the targets", d->name);
    return 0;
}

/* The file of each input (NULL: from --data) and the values --data holds
 * per line before its targets. */
static size_t sources(ctx *c, const char **file)
{
    size_t rest = 0;
    int k, in = 0, i;
    const char *path = NULL;
    for (i = 0; i < c->d->n_inputs; i++)
        file[i] = NULL;
    for (k = 0; k < c->o.n_data_for; k++)
        if (data_for_entry(c, k, &in, &path) == 0)
            file[in] = path;
    for (i = 0; i < c->d->n_inputs; i++)
        rest += file[i] ? 0 : c->d->in_numel[i];
    return rest;
}

/* Input i's values from path: CSV lines of its values, or IDX images of its
 * size. */
static int load_one(ctx *c, int i, const char *path, nnrt_dataset *f)
{
    size_t want = c->d->in_numel[i];
    int idx = nnrti_tr_is_idx_images(c, path);
    if (idx < 0)
        return EXIT_RUNTIME;
    if (idx ? nnrt_load_idx(path, NULL, f, &c->err) : nnrt_load_csv(path, want, 0, NNRT_F32, 0, 1.0f, f, &c->err)) {
        nnrti_tr_append(c, " (--data-for %s: %zu values per line)", c->d->in_names[i], want);
        return EXIT_RUNTIME;
    }
    if (f->x_numel != want)
        return nnrti_tr_fail(c, EXIT_RUNTIME, "%s: images of %zu values, but input %s of model %s takes %zu "
                             "(--data-for)", path, f->x_numel, c->d->in_names[i], c->d->name, want);
    return 0;
}

/* --data: the inputs it holds (rest values per line), then the targets. */
static int load_rest(ctx *c, size_t rest, int need_y, nnrt_dataset *ds)
{
    const nnrt_model_desc *d = c->d;
    const char *path = c->o.raw[O_DATA];
    size_t ny = d->y_numel;
    int idx = nnrti_tr_is_idx_images(c, path);
    if (idx < 0)
        return EXIT_RUNTIME;
    if (idx)
        return nnrti_tr_fail(c, EXIT_USAGE, "%s: model %s has several inputs: --data must be CSV (give IDX images to "
                             "an input with --data-for NAME=FILE)", path, d->name);
    if (!need_y && nnrti_tr_csv_columns(path) == rest)
        ny = 0; /* predict accepts lines without the targets */
    if (nnrt_load_csv(path, rest, ny, d->y_dtype == NNRT_I32 ? NNRT_I32 : NNRT_F32,
                      d->y_dtype == NNRT_I32 && !c->o.raw[O_CLASSES] ? d->classes : 0, 1.0f, ds, &c->err)) {
        nnrti_tr_append(c, " (--data holds %zu input value%s and %zu target%s per line)", rest, rest == 1 ? "" : "s",
                        ny, ny == 1 ? "" : "s");
        return EXIT_RUNTIME;
    }
    return 0;
}

/* Example e's values of every input, in declaration order, into x; --scale
 * on the float ones. */
static void merge_row(ctx *c, const nnrt_dataset *rest, const nnrt_dataset *f, int64_t e, float *x)
{
    const nnrt_model_desc *d = c->d;
    size_t at = 0, k;
    int i;
    for (i = 0; i < d->n_inputs; x += d->in_numel[i], i++) {
        const float *src = f[i].x ? f[i].x + (size_t)e * d->in_numel[i] : rest->x + (size_t)e * rest->x_numel + at;
        float s = nnrti_tr_in_dtype(d, i) == NNRT_I32 ? 1.0f : c->o.scale;
        for (k = 0; k < d->in_numel[i]; k++)
            x[k] = src[k] * s;
        at += f[i].x ? 0 : d->in_numel[i];
    }
}

/* The values of an i32 input must be whole numbers that fit an int32 (the
 * model range-checks the ids it indexes): input i in src (the file path,
 * values per line row, at column at). */
static int check_ids(ctx *c, int i, const char *path, const nnrt_dataset *src, size_t at)
{
    int64_t e;
    size_t k;
    for (e = 0; e < src->n; e++)
        for (k = 0; k < c->d->in_numel[i]; k++) {
            float v = src->x[(size_t)e * src->x_numel + at + k];
            if (!(v == floorf(v) && fabsf(v) < 2147483648.0f))
                return nnrti_tr_fail(c, EXIT_RUNTIME, "%s: line %lld, value %zu: %g is not a token id (input %s of "
                                     "model %s takes i32 ids: whole numbers)", path, (long long)e + 1, at + k + 1,
                                     (double)v, c->d->in_names[i], c->d->name);
        }
    return 0;
}

/* Every i32 input's values, where they come from. */
static int check_all_ids(ctx *c, const nnrt_dataset *rest, const nnrt_dataset *f, const char **file)
{
    size_t at = 0;
    int i, rc;
    for (i = 0; i < c->d->n_inputs; i++) {
        if (nnrti_tr_in_dtype(c->d, i) == NNRT_I32 &&
            (rc = file[i] ? check_ids(c, i, file[i], &f[i], 0) : check_ids(c, i, c->o.raw[O_DATA], rest, at)) != 0)
            return rc;
        at += file[i] ? 0 : c->d->in_numel[i];
    }
    return 0;
}

/* Every file has the row count of --data; then merge into ds. */
static int merge(ctx *c, nnrt_dataset *ds, nnrt_dataset *f, const char **file)
{
    const nnrt_model_desc *d = c->d;
    float *x;
    int64_t e;
    int i;
    for (i = 0; i < d->n_inputs; i++)
        if (file[i] && f[i].n != ds->n)
            return nnrti_tr_fail(c, EXIT_RUNTIME, "%s (--data-for %s) has %lld examples, --data %s has %lld: every "
                                 "file holds one line per example", file[i], d->in_names[i], (long long)f[i].n,
                                 c->o.raw[O_DATA], (long long)ds->n);
    x = nnrti_tr_alloc3((size_t)ds->n, d->x_numel, sizeof *x);
    if (!x)
        return nnrti_tr_fail(c, EXIT_RUNTIME, "out of memory for %lld examples", (long long)ds->n);
    for (e = 0; e < ds->n; e++)
        merge_row(c, ds, f, e, x + (size_t)e * d->x_numel);
    free(ds->x);
    ds->x = x;
    ds->x_numel = d->x_numel;
    ds->x_rank = 1;
    ds->x_shape[0] = (int64_t)d->x_numel;
    return 0;
}

int nnrti_tr_load_inputs(ctx *c, int need_y, nnrt_dataset *ds)
{
    const nnrt_model_desc *d = c->d;
    const char **file = calloc((size_t)d->n_inputs, sizeof *file);
    nnrt_dataset *f = calloc((size_t)d->n_inputs, sizeof *f);
    int i, rc = 0;
    memset(ds, 0, sizeof *ds);
    if (!file || !f)
        rc = nnrti_tr_fail(c, EXIT_RUNTIME, "out of memory");
    if (rc == 0)
        rc = load_rest(c, sources(c, file), need_y, ds);
    for (i = 0; rc == 0 && i < d->n_inputs; i++)
        if (file[i])
            rc = load_one(c, i, file[i], &f[i]);
    if (rc == 0 && (rc = check_all_ids(c, ds, f, file)) == 0)
        rc = merge(c, ds, f, file);
    for (i = 0; f && i < d->n_inputs; i++)
        nnrt_dataset_free(&f[i]);
    free(f);
    free((void *)file);
    return rc;
}

/* Input i of the batch examples idx into its part of x (bytes), as its type. */
static char *gather_input(ctx *c, const nnrt_dataset *ds, const int64_t *idx, int i, size_t at, char *x)
{
    const nnrt_model_desc *d = c->d;
    size_t m = d->in_numel[i], b, k;
    int dt = nnrti_tr_in_dtype(d, i);
    for (b = 0; b < (size_t)d->batch; b++) {
        const float *src = ds->x + (size_t)idx[b] * ds->x_numel + at;
        for (k = 0; k < m; k++) {
            if (dt == NNRT_I32)
                ((int32_t *)x)[b * m + k] = (int32_t)src[k];
            else if (dt == NNRT_F64)
                ((double *)x)[b * m + k] = (double)src[k];
            else
                ((float *)x)[b * m + k] = src[k];
        }
    }
    return x + (size_t)d->batch * m * nnrt_dtype_size(dt);
}

void nnrti_tr_gather_inputs(ctx *c, const nnrt_dataset *ds, const int64_t *idx)
{
    char *x = c->b.x;
    size_t at = 0;
    int i;
    for (i = 0; i < c->d->n_inputs; at += c->d->in_numel[i], i++)
        x = gather_input(c, ds, idx, i, at, x);
}

size_t nnrti_tr_x_bytes(const nnrt_model_desc *d)
{
    size_t n = 0;
    int i;
    if (d->n_inputs <= 1)
        return d->x_numel * nnrt_dtype_size(d->x_dtype);
    for (i = 0; i < d->n_inputs; i++)
        n += d->in_numel[i] * nnrt_dtype_size(nnrti_tr_in_dtype(d, i));
    return n;
}
