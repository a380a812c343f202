/* trainer_eval.c — reporting: scoring a batch (accuracy, binary accuracy,
 * mean squared error), a pass over a data set, the eval and predict commands
 * (on the split trainer_split.c selects), reconstruct (a PGM or PNG
 * grid of inputs beside the model's outputs), generate (a grid of a
 * decoder's outputs for N(0, 1) codes) and calibrate (the input ranges of
 * the int8 layers, for nnc --quantize int8 --calibrate).
 */
#define _POSIX_C_SOURCE 200809L

#include "trainer.h"

#include "png/nnrt_png.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- evaluation --------------------------------------------------------- */

/* Index of the largest of row[0..n) (first on ties, NaN never wins). */
static int argmax_row(const void *p, int dtype, size_t row, size_t n)
{
    size_t j, best = 0;
    for (j = 1; j < n; j++) {
        double v = nnrti_tr_at(p, dtype, row * n + j), b = nnrti_tr_at(p, dtype, row * n + best);
        if (v > b || (isnan(b) && !isnan(v)))
            best = j;
    }
    return (int)best;
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
        s->hits += dt == NNRT_F64 ? nnrt_count_correct_f64(c->b.out, lab, rows, cls)
                                  : nnrt_count_correct_f32(c->b.out, lab, rows, cls);
        s->total += rows;
        break;
    }
    case M_BINARY:
        s->hits += dt == NNRT_F64 ? nnrt_count_binary_f64(c->b.out, c->b.y, count * m)
                                  : nnrt_count_binary_f32(c->b.out, c->b.y, count * m);
        s->total += count * m;
        break;
    case M_MSE:
        for (i = 0; i < count * m; i++) {
            double e = nnrti_tr_at(c->b.out, dt, (size_t)i) - nnrti_tr_at(c->b.y, dt, (size_t)i);
            s->sq += e * e;
        }
        s->sq_n += count * m;
        break;
    default: break;
    }
}

/* Can the loss of ds be computed (a loss, and the targets if any)? */
int nnrti_tr_have_loss(const ctx *c, const nnrt_dataset *ds)
{
    return c->d->loss && (!c->d->has_target || ds->y_numel > 0);
}

/* One pass over ds. want_loss: also the mean loss over full batches. */
int nnrti_tr_evaluate(ctx *c, const nnrt_dataset *ds, int want_loss, score *s)
{
    const nnrt_model_desc *d = c->d;
    int64_t start, count;
    int rc;
    memset(s, 0, sizeof *s);
    want_loss = want_loss && nnrti_tr_have_loss(c, ds);
    for (start = 0; start < ds->n; start += count) {
        double l;
        count = ds->n - start < d->batch ? ds->n - start : d->batch;
        if ((rc = nnrti_tr_forward_batch(c, ds, start, count)) != 0)
            return rc;
        score_batch(c, count, s);
        if (!want_loss || count < d->batch)
            continue;
        if (d->loss(c->m, c->b.x, c->b.y, &l))
            return nnrti_tr_model_fail(c, "loss");
        s->loss += l;
        s->loss_batches++;
    }
    return 0;
}

/* "  <label> acc  97.12%" / "  <label> mse 0.0123" / nothing. */
void nnrti_tr_print_score(const ctx *c, const char *label, const score *s)
{
    if (c->metric == M_MSE)
        printf("  %s mse %.6g", label, s->sq_n ? s->sq / (double)s->sq_n : 0);
    else if (c->metric != M_NONE)
        printf("  %s acc %6.2f%%", label, s->total ? 100.0 * (double)s->hits / (double)s->total : 0.0);
}

/* ---- eval and predict --------------------------------------------------- */

int nnrti_tr_cmd_eval(ctx *c)
{
    nnrt_dataset ds, view;
    score s = {0, 0, 0, 0, 0, 0, 0};
    int rc;
    if ((rc = nnrti_tr_load_data(c, 1, &ds)) == 0 && (rc = nnrti_tr_make_model(c, c->o.seed, c->o.raw[O_LOAD])) == 0 &&
        (rc = nnrti_tr_alloc_bufs(c)) == 0 && (rc = nnrti_tr_split_view(c, &ds, &view, stdout)) == 0) {
        c->metric = nnrti_tr_choose_metric(c->d, &ds);
        rc = nnrti_tr_evaluate(c, &view, 1, &s);
    }
    if (rc == 0) {
        nnrti_tr_leak_check(c, ds.n);
        nnrti_tr_print_report(c, &view, &s);
        printf("\n");
        rc = nnrti_tr_check_stdout(c);
    }
    nnrt_dataset_free(&ds);
    return rc;
}

/* One line per example of the current batch. */
static void print_predictions(const ctx *c, int64_t count)
{
    const nnrt_model_desc *d = c->d;
    /* classes: one per example, or one per position of a sequence */
    int classifier =
        d->y_dtype == NNRT_I32 && d->classes > 0 && d->y_numel > 0 && d->out_numel == d->y_numel * (size_t)d->classes;
    int64_t i;
    size_t k;
    for (i = 0; i < count; i++) {
        for (k = 0; classifier && k < d->y_numel; k++)
            printf(k ? " %d" : "%d", argmax_row(c->b.out, d->dtype, (size_t)i * d->y_numel + k, (size_t)d->classes));
        if (classifier) {
            printf("\n");
            continue;
        }
        for (k = 0; k < d->out_numel; k++)
            printf(k ? " %.6g" : "%.6g", nnrti_tr_at(c->b.out, d->dtype, (size_t)i * d->out_numel + k));
        printf("\n");
    }
}

/* calibrate (a trainer built with nnc --main --quantize int8): forward
 * over the examples of --data that --split selects (all by default; a
 * short last batch repeats its last example, which changes no largest
 * value), then the largest |input| of each int8 layer into --out. */
int nnrti_tr_cmd_calibrate(ctx *c)
{
    nnrt_dataset ds, view;
    int64_t start, count = 0;
    int rc;
    if (!c->d->save_calib)
        return nnrti_tr_fail(c, EXIT_USAGE, "calibrate: this trainer was built without --quantize int8 "
                                            "(nnc MODEL.nn --main --quantize int8)");
    if ((rc = nnrti_tr_load_data(c, 0, &ds)) == 0 && (rc = nnrti_tr_make_model(c, c->o.seed, c->o.raw[O_LOAD])) == 0 &&
        (rc = nnrti_tr_alloc_bufs(c)) == 0 && (rc = nnrti_tr_split_view(c, &ds, &view, stdout)) == 0) {
        for (start = 0; rc == 0 && start < view.n; start += count) {
            count = view.n - start < c->d->batch ? view.n - start : c->d->batch;
            rc = nnrti_tr_forward_batch(c, &view, start, count);
        }
        if (rc == 0 && c->d->save_calib(c->m, c->o.raw[O_OUT]))
            rc = nnrti_tr_model_fail(c, "save_calib");
        if (rc == 0)
            printf("calibrated on %lld examples: %s\n", (long long)view.n, c->o.raw[O_OUT]);
        if (rc == 0)
            rc = nnrti_tr_check_stdout(c);
    }
    nnrt_dataset_free(&ds);
    return rc;
}

int nnrti_tr_cmd_predict(ctx *c)
{
    nnrt_dataset ds, view;
    int64_t start, count = 0;
    int rc;
    if ((rc = nnrti_tr_load_data(c, 0, &ds)) == 0 && (rc = nnrti_tr_make_model(c, c->o.seed, c->o.raw[O_LOAD])) == 0 &&
        (rc = nnrti_tr_alloc_bufs(c)) == 0 && (rc = nnrti_tr_split_view(c, &ds, &view, stderr)) == 0) {
        for (start = 0; rc == 0 && start < view.n; start += count) {
            count = view.n - start < c->d->batch ? view.n - start : c->d->batch;
            if ((rc = nnrti_tr_forward_batch(c, &view, start, count)) == 0)
                print_predictions(c, count);
        }
        if (rc == 0)
            rc = nnrti_tr_check_stdout(c);
    }
    nnrt_dataset_free(&ds);
    return rc;
}

/* ---- reconstruct ---------------------------------------------------------- */

#define PGM_GAP 2        /* pixels between the images of a grid */
#define PGM_GAP_GRAY 128 /* their colour */

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
        unsigned char *line = g->pix + (size_t)((i * (g->rows + PGM_GAP) + r) * g->w);
        for (q = 0; q < g->cols; q++) {
            size_t e = (size_t)k * n + (size_t)(r * g->cols + q);
            line[q] = gray(nnrti_tr_at(c->b.x, c->d->dtype, e));
            line[g->cols + PGM_GAP + q] = gray(nnrti_tr_at(c->b.out, c->d->dtype, e));
        }
    }
}

/* Binary PGM (P5), written to path.tmp and renamed. */
static int write_pgm(ctx *c, const char *path, const grid *g)
{
    nnrt_afile w;
    char hdr[64];
    int n = snprintf(hdr, sizeof hdr, "P5\n%lld %lld\n255\n", (long long)g->w, (long long)g->h);
    if (nnrt_afile_open(&w, path, &c->err) != NNRT_OK)
        return EXIT_RUNTIME;
    nnrt_afile_write(&w, hdr, (size_t)n);
    nnrt_afile_write(&w, g->pix, (size_t)(g->w * g->h));
    return nnrt_afile_commit(&w, &c->err) == NNRT_OK ? 0 : EXIT_RUNTIME;
}

/* PNG lives outside libnnrt (runtime/png/nnrt_png.h): build/nnrt_png.o,
 * linked with -lpng, defines this weak reference; without it the address is
 * NULL and a .png grid is refused with the way to link it. */
#if defined(__GNUC__) || defined(__clang__)
#pragma weak nnrt_png_write_gray
#endif

/* 1 if path ends in ".png" (any case): the grid is a PNG, else a PGM. */
static int is_png_path(const char *path)
{
    size_t n = strlen(path);
    const char *ext = ".png";
    size_t i;
    if (n < 4)
        return 0;
    for (i = 0; i < 4; i++)
        if (tolower((unsigned char)path[n - 4 + i]) != ext[i])
            return 0;
    return 1;
}

/* The grid as PNG or PGM by the extension of path. */
static int write_grid(ctx *c, const char *path, const grid *g)
{
    if (!is_png_path(path))
        return write_pgm(c, path, g);
#if defined(__GNUC__) || defined(__clang__)
    if (nnrt_png_write_gray)
        return nnrt_png_write_gray(path, g->pix, g->w, g->h, &c->err) == NNRT_OK ? 0 : EXIT_RUNTIME;
#endif
    return nnrti_tr_fail(c, EXIT_RUNTIME,
                         "%s: this program was linked without PNG support; link build/nnrt_png.o and -lpng "
                         "(see runtime/png/nnrt_png.h), or write a .pgm",
                         path);
}

/* The model's output must have the input's shape, and the data be images. */
static int check_recon(ctx *c)
{
    const nnrt_model_desc *d = c->d;
    const char *path = c->o.raw[O_DATA];
    int idx;
    if (d->n_inputs > 1)
        return nnrti_tr_fail(c, EXIT_RUNTIME, "model %s: reconstruct needs a model with one input; it has %d",
                             d->name, d->n_inputs);
    if (d->x_dtype == NNRT_I32 || d->out_numel != d->x_numel)
        return nnrti_tr_fail(c, EXIT_RUNTIME,
                             "model %s: reconstruct needs a first output shaped like the input (an autoencoder), but "
                             "it has %zu values per example and the %s input %zu",
                             d->name, d->out_numel, d->x_dtype == NNRT_I32 ? "i32" : "float", d->x_numel);
    if ((idx = nnrti_tr_is_idx_images(c, path)) < 0)
        return EXIT_RUNTIME;
    if (!idx)
        return nnrti_tr_fail(c, EXIT_RUNTIME, "%s: not IDX images (magic 00 00 08 03); reconstruct draws images", path);
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
    g->pix = nnrti_tr_alloc3((size_t)g->w, (size_t)g->h, 1);
    if (!g->pix)
        return nnrti_tr_fail(c, EXIT_RUNTIME, "out of memory for a %lldx%lld grid", (long long)g->w, (long long)g->h);
    memset(g->pix, PGM_GAP_GRAY, (size_t)(g->w * g->h));
    for (start = 0; start < n; start += count) {
        count = n - start < c->d->batch ? n - start : c->d->batch;
        if ((rc = nnrti_tr_forward_batch(c, ds, start, count)) != 0)
            return rc;
        for (k = 0; k < count; k++)
            draw_pair(c, g, k, start + k);
    }
    return 0;
}

int nnrti_tr_cmd_reconstruct(ctx *c)
{
    const char *out = c->o.raw[O_OUT];
    nnrt_dataset ds;
    grid g;
    int64_t n = 0;
    int rc;
    memset(&ds, 0, sizeof ds);
    memset(&g, 0, sizeof g);
    if ((rc = check_recon(c)) == 0 && (rc = nnrti_tr_load_data(c, 0, &ds)) == 0 &&
        (rc = nnrti_tr_make_model(c, c->o.seed, c->o.raw[O_LOAD])) == 0 && (rc = nnrti_tr_alloc_bufs(c)) == 0) {
        n = ds.n < c->o.count ? ds.n : c->o.count;
        if (n == 0)
            rc = nnrti_tr_fail(c, EXIT_RUNTIME, "%s: no images", c->o.raw[O_DATA]);
    }
    if (rc == 0 && (rc = draw_grid(c, &ds, &g, n)) == 0 && (rc = write_grid(c, out, &g)) == 0) {
        printf("wrote %s: %lld examples, %lldx%lld pixels\n", out, (long long)n, (long long)g.w, (long long)g.h);
        rc = nnrti_tr_check_stdout(c);
    }
    free(g.pix);
    nnrt_dataset_free(&ds);
    return rc;
}

/* ---- generate -------------------------------------------------------------- */

#define GEN_PER_ROW 8 /* images in one row of a generate grid */

/* The first output as images: rows and cols of one (its last two axes,
 * every other axis 1; or a square of a flat output), 0 when it is not. */
static int out_image(const nnrt_model_desc *d, int64_t *rows, int64_t *cols)
{
    int64_t side = 1;
    int k;
    *rows = *cols = 0;
    if (d->out_rank >= 2) {
        for (k = 0; k < d->out_rank - 2; k++)
            if (d->out_shape[k] != 1)
                return 0;
        *rows = d->out_shape[d->out_rank - 2];
        *cols = d->out_shape[d->out_rank - 1];
        return 1;
    }
    while (side * side < (int64_t)d->out_numel)
        side++;
    if (side * side != (int64_t)d->out_numel)
        return 0;
    *rows = *cols = side;
    return 1;
}

/* A decoder: one float input (the code), an image output. */
static int check_generate(ctx *c, grid *g)
{
    const nnrt_model_desc *d = c->d;
    if (d->n_inputs > 1 || d->x_dtype == NNRT_I32)
        return nnrti_tr_fail(c, EXIT_RUNTIME, "model %s: generate needs one float input (the latent code it decodes)",
                             d->name);
    if (!out_image(d, &g->rows, &g->cols))
        return nnrti_tr_fail(c, EXIT_RUNTIME, "model %s: generate draws its first output as images, [H, W], [1, H, W] "
                             "or a square number of values per example; it has %zu values", d->name, d->out_numel);
    return 0;
}

/* Image k of the current batch as grid cell i. */
static void draw_cell(const ctx *c, grid *g, int64_t k, int64_t i)
{
    int64_t r, q, y0 = (i / GEN_PER_ROW) * (g->rows + PGM_GAP), x0 = (i % GEN_PER_ROW) * (g->cols + PGM_GAP);
    for (r = 0; r < g->rows; r++)
        for (q = 0; q < g->cols; q++)
            g->pix[(size_t)((y0 + r) * g->w + x0 + q)] =
                gray(nnrti_tr_at(c->b.out, c->d->dtype, (size_t)k * c->d->out_numel + (size_t)(r * g->cols + q)));
}

/* Batch b's codes: N(0, 1) from Philox(--seed, NNRT_STREAM_DATA | b). */
static void fill_codes(ctx *c, uint64_t b)
{
    size_t n = (size_t)c->d->batch * c->d->x_numel;
    if (c->d->dtype == NNRT_F64)
        nnrt_fill_normal_f64(c->b.x, n, 0, 1, c->o.seed, NNRT_STREAM_DATA | b);
    else
        nnrt_fill_normal_f32(c->b.x, n, 0, 1, c->o.seed, NNRT_STREAM_DATA | b);
}

/* Decode n codes batch by batch into the grid. */
static int generate_grid(ctx *c, grid *g, int64_t n)
{
    int64_t per = n < GEN_PER_ROW ? n : GEN_PER_ROW, lines = (n + GEN_PER_ROW - 1) / GEN_PER_ROW, start, k;
    g->w = per * g->cols + (per - 1) * PGM_GAP;
    g->h = lines * g->rows + (lines - 1) * PGM_GAP;
    g->pix = nnrti_tr_alloc3((size_t)g->w, (size_t)g->h, 1);
    if (!g->pix)
        return nnrti_tr_fail(c, EXIT_RUNTIME, "out of memory for a %lldx%lld grid", (long long)g->w, (long long)g->h);
    memset(g->pix, PGM_GAP_GRAY, (size_t)(g->w * g->h));
    for (start = 0; start < n; start += c->d->batch) {
        fill_codes(c, (uint64_t)(start / c->d->batch));
        if (c->d->forward(c->m, c->b.x, c->b.out))
            return nnrti_tr_model_fail(c, "forward");
        for (k = 0; k < c->d->batch && start + k < n; k++)
            draw_cell(c, g, k, start + k);
    }
    return 0;
}

int nnrti_tr_cmd_generate(ctx *c)
{
    const char *out = c->o.raw[O_OUT];
    grid g;
    int rc;
    memset(&g, 0, sizeof g);
    if ((rc = check_generate(c, &g)) == 0 && (rc = nnrti_tr_make_model(c, c->o.seed, c->o.raw[O_LOAD])) == 0 &&
        (rc = nnrti_tr_alloc_bufs(c)) == 0 && (rc = generate_grid(c, &g, c->o.count)) == 0 &&
        (rc = write_grid(c, out, &g)) == 0) {
        printf("wrote %s: %ld images decoded from N(0, 1) codes (--seed %llu), %lldx%lld pixels\n", out, c->o.count,
               (unsigned long long)c->o.seed, (long long)g.w, (long long)g.h);
        rc = nnrti_tr_check_stdout(c);
    }
    free(g.pix);
    return rc;
}
