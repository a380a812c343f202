/* trainer_split.c — held-out scoring that cannot leak. eval and predict
 * score the part of --data that --split names: the validation split is the
 * last round(F·n) examples in file order (--val-split F), exactly those
 * train held out, and the training split the rest; a line says which were
 * scored. --save records the training data (path, size, FNV-1a 64 hash of
 * its bytes), the fraction, the seed and --classes in the weights file's
 * safetensors "__metadata__" (string values, which every safetensors reader
 * accepts), and eval without a split option (or with other --classes) warns
 * when it scores that same file.
 * train --test FILE scores a separate file at the end of training.
 */
#define _POSIX_C_SOURCE 200809L

#include "trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define FNV_OFFSET UINT64_C(14695981039346656037)
#define FNV_PRIME UINT64_C(1099511628211)

/* ---- the split ---------------------------------------------------------------- */

/* Examples held out of n with fraction f: round(f·n), as nnrt_split. */
static int64_t held_out(int64_t n, double f)
{
    int64_t v = (int64_t)floor(f * (double)n + 0.5);
    return v > n ? n : v;
}

/* v with thousands separators: 10,000. */
static const char *commas(char *buf, size_t cap, int64_t v)
{
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%lld", (long long)v), i, o = 0;
    for (i = 0; i < n && (size_t)o + 2 < cap; i++) {
        if (i > 0 && digits[i - 1] != '-' && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = 0;
    return buf;
}

/* "scored 2,000 of 10,000 examples: the validation split (...)". */
static void print_scored(const ctx *c, FILE *f, int64_t first, int64_t count, int64_t n)
{
    char a[32], b[32], lo[32], hi[32];
    fprintf(f, "scored %s of %s examples%s%s: ", commas(a, sizeof a, count), commas(b, sizeof b, n),
            c->o.raw[O_CLASSES] ? " of --classes " : "", c->o.raw[O_CLASSES] ? c->o.raw[O_CLASSES] : "");
    if (c->o.split == SPLIT_ALL)
        fprintf(f, "all of them (--split all)\n");
    else
        fprintf(f, "the %s split (--val-split %g: examples %s to %s in file order)\n",
                c->o.split == SPLIT_VAL ? "validation" : "training", c->o.val_split, commas(lo, sizeof lo, first + 1),
                commas(hi, sizeof hi, first + count));
}

/* The examples of ds that --split selects, as a view into ds. */
int nnrti_tr_split_view(ctx *c, const nnrt_dataset *ds, nnrt_dataset *view, FILE *f)
{
    int64_t nv = held_out(ds->n, c->o.val_split), first = 0, count = ds->n;
    *view = *ds;
    if (c->o.split == SPLIT_VAL)
        first = ds->n - nv, count = nv;
    else if (c->o.split == SPLIT_TRAIN)
        count = ds->n - nv;
    view->n = count;
    if (ds->x)
        view->x = ds->x + (size_t)first * ds->x_numel;
    if (ds->y)
        view->y = (char *)ds->y + (size_t)first * ds->y_numel * nnrt_dtype_size(ds->y_dtype);
    if (!c->o.raw[O_SPLIT] && !c->o.raw[O_VAL_SPLIT])
        return 0;
    if (count == 0)
        return nnrti_tr_fail(c, EXIT_RUNTIME, "%s: the %s split of its %lld examples (--val-split %g) is empty",
                             c->o.raw[O_DATA], c->o.split == SPLIT_VAL ? "validation" : "training", (long long)ds->n,
                             c->o.val_split);
    print_scored(c, f, first, count, ds->n);
    return 0;
}

/* ---- the training record ------------------------------------------------------- */

/* Size and FNV-1a 64 hash of the bytes of path. */
static int file_hash(ctx *c, const char *path, uint64_t *size, uint64_t *h)
{
    unsigned char buf[65536];
    size_t got = 0, i;
    nnrti_rfile r;
    *h = FNV_OFFSET;
    *size = 0;
    if (nnrti_ropen(&r, path, &c->err) != NNRT_OK)
        return EXIT_RUNTIME;
    do {
        if (nnrti_rsome(&r, buf, sizeof buf, &got, &c->err) != NNRT_OK) {
            nnrti_rclose(&r);
            return EXIT_RUNTIME;
        }
        for (i = 0; i < got; i++)
            *h = (*h ^ buf[i]) * FNV_PRIME;
        *size += got;
    } while (got == sizeof buf);
    nnrti_rclose(&r);
    return 0;
}

/* s as it can go into JSON that strict readers take: s itself when it is
 * valid UTF-8, else a copy in buf with every byte above 0x7f as '?'. */
static const char *utf8_or_ascii(const char *s, char *buf, size_t cap)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i;
    while (*p) {
        int n = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 && *p >= 0xc2 ? 1 : (*p & 0xf0) == 0xe0 ? 2
              : (*p & 0xf8) == 0xf0 && *p <= 0xf4 ? 3 : -1;
        int k;
        for (k = 1; n > 0 && k <= n; k++)
            if ((p[k] & 0xc0) != 0x80)
                n = -1;
        if (n < 0)
            break;
        p += n + 1;
    }
    if (!*p)
        return s;
    for (i = 0; s[i] && i + 1 < cap; i++)
        buf[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
    buf[i] = 0;
    return buf;
}

/* Record the training data, split and seed in path's metadata (without
 * the size and hash when the data file cannot be read again). */
int nnrti_tr_record_training(ctx *c, const char *path, long epochs)
{
    const opts *o = &c->o;
    const char *src = o->raw[O_DATA] ? o->raw[O_DATA] : o->raw[O_TEXT];
    char num[6][32], file[4096], labels[4096];
    const char *kv[20];
    uint64_t size = 0, h = 0;
    int n = 0, hashed = file_hash(c, src, &size, &h) == 0; /* a file gone since loading: no hash */
    snprintf(num[0], sizeof num[0], "%llu", (unsigned long long)size);
    snprintf(num[1], sizeof num[1], "%016llx", (unsigned long long)h);
    snprintf(num[2], sizeof num[2], "%.15g", o->val_split);
    snprintf(num[3], sizeof num[3], "%llu", (unsigned long long)o->seed);
    snprintf(num[4], sizeof num[4], "%ld", epochs);
    snprintf(num[5], sizeof num[5], "%ld", c->w.best_epoch);
    kv[n++] = "nnc.source", kv[n++] = o->raw[O_DATA] ? "--data" : "--text";
    kv[n++] = "nnc.file", kv[n++] = utf8_or_ascii(src, file, sizeof file);
    if (hashed)
        kv[n++] = "nnc.file_bytes", kv[n++] = num[0], kv[n++] = "nnc.file_fnv1a64", kv[n++] = num[1];
    kv[n++] = "nnc.val_split", kv[n++] = num[2];
    kv[n++] = "nnc.seed", kv[n++] = num[3];
    kv[n++] = "nnc.epochs", kv[n++] = num[4];
    if (o->patience >= 0 && c->w.best_epoch > 0)
        kv[n++] = "nnc.best_epoch", kv[n++] = num[5];
    if (o->raw[O_LABELS])
        kv[n++] = "nnc.labels", kv[n++] = utf8_or_ascii(o->raw[O_LABELS], labels, sizeof labels);
    if (o->raw[O_CLASSES])
        kv[n++] = "nnc.classes", kv[n++] = o->raw[O_CLASSES];
    return nnrt_st_set_metadata(path, kv, n / 2, &c->err) == NNRT_OK ? 0 : EXIT_RUNTIME;
}

/* Was --data the file the --load weights were trained on (f's record)? */
static int trained_on(ctx *c, const nnrt_st_file *f)
{
    const char *src = nnrt_st_meta(f, "nnc.source"), *bytes = nnrt_st_meta(f, "nnc.file_bytes");
    const char *hash = nnrt_st_meta(f, "nnc.file_fnv1a64");
    char want[32];
    uint64_t size, h;
    struct stat st;
    if (!src || strcmp(src, "--data") != 0 || !bytes || !hash || stat(c->o.raw[O_DATA], &st) != 0)
        return 0;
    snprintf(want, sizeof want, "%llu", (unsigned long long)st.st_size);
    if (strcmp(want, bytes) != 0 || file_hash(c, c->o.raw[O_DATA], &size, &h) != 0)
        return 0;
    snprintf(want, sizeof want, "%016llx", (unsigned long long)h);
    return strcmp(want, hash) == 0;
}

/* The leak, if any, of scoring n examples of the file the weights were
 * trained on with fraction frac held out: one line on stderr. */
static void warn_leak(const ctx *c, int64_t n, double frac)
{
    int64_t held = held_out(n, frac), scored = held_out(n, c->o.val_split);
    const char *data = c->o.raw[O_DATA];
    if (!c->o.raw[O_SPLIT] && !c->o.raw[O_VAL_SPLIT] && frac > 0)
        fprintf(stderr, "%s: warning: %s is the file these weights were trained on: this score includes its %lld "
                "training examples; add --val-split %g to score only the %lld held out\n", c->prog, data,
                (long long)(n - held), frac, (long long)held);
    else if (!c->o.raw[O_SPLIT] && !c->o.raw[O_VAL_SPLIT])
        fprintf(stderr, "%s: warning: %s is the file these weights were trained on, all of it (no --val-split): this "
                "is not a held-out score\n", c->prog, data);
    else if (c->o.split == SPLIT_VAL && scored > held)
        fprintf(stderr, "%s: warning: these weights were trained on %s with --val-split %g: %lld of the %lld examples "
                "scored were training examples\n", c->prog, data, frac, (long long)(scored - held), (long long)scored);
}

/* The --classes of training (its record, NULL for all) and of this run. */
static int same_classes(const char *trained, const char *now)
{
    return trained ? now && strcmp(trained, now) == 0 : !now;
}

/* eval: one line on stderr when --data is the file the weights were
 * trained on and what is scored (n examples, the split) includes
 * training examples: no split option, or a larger validation fraction. */
void nnrti_tr_leak_check(ctx *c, int64_t n)
{
    nnrt_st_file *f = NULL;
    nnrt_err keep = c->err;
    const char *vs;
    if (!c->o.raw[O_LOAD] || c->o.split == SPLIT_TRAIN || (c->o.split == SPLIT_ALL && c->o.raw[O_SPLIT]) ||
        nnrt_st_open_header(c->o.raw[O_LOAD], &f, &c->err) != NNRT_OK || !trained_on(c, f)) {
        nnrt_st_close(f);
        c->err = keep;
        return;
    }
    vs = nnrt_st_meta(f, "nnc.val_split");
    fflush(stdout);
    if (!same_classes(nnrt_st_meta(f, "nnc.classes"), c->o.raw[O_CLASSES]))
        fprintf(stderr, "%s: warning: these weights were trained on %s with --classes %s, this score has --classes "
                "%s: its split is not training's, and its examples may include training examples\n", c->prog,
                c->o.raw[O_DATA], nnrt_st_meta(f, "nnc.classes") ? nnrt_st_meta(f, "nnc.classes") : "(all)",
                c->o.raw[O_CLASSES] ? c->o.raw[O_CLASSES] : "(all)");
    else
        warn_leak(c, n, vs ? strtod(vs, NULL) : 0);
    nnrt_st_close(f);
    c->err = keep;
}

/* ---- reports ---------------------------------------------------------------------- */

/* "examples N  loss L  accuracy A%" (no newline). */
void nnrti_tr_print_report(const ctx *c, const nnrt_dataset *ds, const score *s)
{
    printf("examples %lld", (long long)s->n);
    if (s->loss_batches)
        printf("  loss %.6f", s->loss / (double)s->loss_batches);
    else if (nnrti_tr_have_loss(c, ds))
        printf("  loss n/a");
    if (c->metric == M_MSE)
        printf("  mse %.6g", s->sq_n ? s->sq / (double)s->sq_n : 0.0);
    else if (c->metric != M_NONE)
        printf("  accuracy %.2f%%", s->total ? 100.0 * (double)s->hits / (double)s->total : 0.0);
}

/* train --test FILE [--test-labels FILE]: load it (before training). */
int nnrti_tr_load_test(ctx *c, nnrt_dataset *ts)
{
    const char *data = c->o.raw[O_DATA], *labels = c->o.raw[O_LABELS];
    int rc;
    c->o.raw[O_DATA] = c->o.raw[O_TEST];
    c->o.raw[O_LABELS] = c->o.raw[O_TEST_LABELS];
    rc = nnrti_tr_load_data(c, 1, ts);
    c->o.raw[O_DATA] = data;
    c->o.raw[O_LABELS] = labels;
    return rc;
}

/* Score the --test set with the final weights: "test FILE: examples ...". */
int nnrti_tr_score_test(ctx *c, const nnrt_dataset *ts)
{
    score s;
    int rc = nnrti_tr_evaluate(c, ts, 1, &s);
    if (rc)
        return rc;
    printf("test %s: ", c->o.raw[O_TEST]);
    nnrti_tr_print_report(c, ts, &s);
    printf("\n");
    return nnrti_tr_check_stdout(c);
}
