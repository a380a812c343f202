/* data.c — datasets: IDX files, CSV files, split and gather.
 *
 * IDX layout (big-endian): magic 0x0000TTRR (TT = element type 0x08 u8,
 * 0x0C i32, 0x0D f32; RR = rank), then rank u32 dims, then the elements.
 * The header is read and checked first: magic, type, rank, dims, and for a
 * regular file its exact size (fstat); then only the data it describes is
 * read (a stream must end there). CSV files are read whole, at most
 * NNRTI_MAX_DATA_BYTES, and must not hold a NUL byte.
 * Functions that fill an nnrt_dataset zero it first, so on failure it is
 * empty and safe to pass to nnrt_dataset_free.
 */
#include "nnrt_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define IDX_U8 0x08  /* IDX type byte for unsigned bytes */
#define IDX_I32 0x0C /* IDX type byte for big-endian int32 */
#define IDX_F32 0x0D /* IDX type byte for big-endian float32 */

/* ---- IDX ---------------------------------------------------------------- */

/* A validated IDX header. */
typedef struct idx_hdr {
    int type;                     /* NNRT_U8, NNRT_I32 or NNRT_F32 */
    int rank;                     /* number of dims */
    int64_t shape[NNRT_MAX_RANK]; /* dims */
    size_t numel;                 /* product of dims */
    size_t bytes;                 /* of the data */
} idx_hdr;

/* Map an IDX type byte to NNRT_*, -1 if unsupported. */
static int idx_type(int b)
{
    return b == IDX_U8 ? NNRT_U8 : b == IDX_I32 ? NNRT_I32 : b == IDX_F32 ? NNRT_F32 : -1;
}

static int idx_type_byte(int dtype)
{
    return dtype == NNRT_U8 ? IDX_U8 : dtype == NNRT_I32 ? IDX_I32 : IDX_F32;
}

/* The 4 magic bytes: 00 00, a type, a rank; `magic` (when not 0) exactly. */
static int idx_magic(nnrti_rfile *r, uint32_t magic, const char *what, idx_hdr *h, unsigned char *b, nnrt_err *err)
{
    size_t got;
    int rc = nnrti_rsome(r, b, 4, &got, err);
    if (rc != NNRT_OK)
        return rc;
    if (got < 4)
        return nnrti_fail(err, NNRT_ERR_FORMAT, "%s: file too short (%zu bytes) for an IDX header", r->path, got);
    if (magic && nnrti_ld_be32(b) != magic)
        return nnrti_fail(err, NNRT_ERR_FORMAT, "%s: bad magic 0x%08lx, expected 0x%08lx (%s)", r->path,
                          (unsigned long)nnrti_ld_be32(b), (unsigned long)magic, what);
    if (b[0] != 0 || b[1] != 0)
        return nnrti_fail(err, NNRT_ERR_FORMAT, "%s: bad magic 0x%08lx (not an IDX file)", r->path,
                          (unsigned long)nnrti_ld_be32(b));
    h->type = idx_type(b[2]);
    if (h->type < 0)
        return nnrti_fail(err, NNRT_ERR_FORMAT, "%s: unsupported IDX element type 0x%02x", r->path, b[2]);
    h->rank = b[3];
    if (h->rank > NNRT_MAX_RANK)
        return nnrti_fail(err, NNRT_ERR_FORMAT, "%s: IDX rank %d exceeds %d", r->path, h->rank, NNRT_MAX_RANK);
    return NNRT_OK;
}

/* A regular file holds exactly the header and the data it describes. */
static int idx_check_size(const nnrti_rfile *r, size_t hdr, size_t bytes, nnrt_err *err)
{
    uint64_t have = r->size - hdr;
    if (!r->regular || have == bytes)
        return NNRT_OK;
    if (have < bytes)
        return nnrti_fail(err, NNRT_ERR_FORMAT, "%s: truncated: dims need %zu data bytes, file has %llu", r->path,
                          bytes, (unsigned long long)have);
    return nnrti_fail(err, NNRT_ERR_FORMAT, "%s: %llu unexpected bytes after the IDX data", r->path,
                      (unsigned long long)(have - bytes));
}

/* Read and check the header of an IDX file: the magic (exactly `magic`
 * unless 0; what names it), the dims, the data size (at most
 * NNRTI_MAX_DATA_BYTES) and, for a regular file, its length. */
static int idx_read_header(nnrti_rfile *r, uint32_t magic, const char *what, idx_hdr *h, nnrt_err *err)
{
    unsigned char b[4 + 4 * NNRT_MAX_RANK];
    size_t hdr, got, numel = 1;
    int k, rc = idx_magic(r, magic, what, h, b, err);
    if (rc != NNRT_OK)
        return rc;
    hdr = 4 + 4 * (size_t)h->rank;
    if ((rc = nnrti_rsome(r, b + 4, hdr - 4, &got, err)) != NNRT_OK)
        return rc;
    if (got < hdr - 4)
        return nnrti_fail(err, NNRT_ERR_FORMAT, "%s: truncated IDX header (%zu bytes, need %zu)", r->path, 4 + got,
                          hdr);
    for (k = 0; k < h->rank; k++) {
        uint32_t d = nnrti_ld_be32(b + 4 + 4 * k);
        h->shape[k] = d;
        if (!nnrti_mul_ok(numel, d, &numel))
            return nnrti_fail(err, NNRT_ERR_FORMAT, "%s: IDX dims product overflows", r->path);
    }
    if (!nnrti_mul_ok(numel, nnrt_dtype_size(h->type), &h->bytes))
        return nnrti_fail(err, NNRT_ERR_FORMAT, "%s: IDX dims product overflows", r->path);
    h->numel = numel;
    if ((rc = idx_check_size(r, hdr, h->bytes, err)) != NNRT_OK)
        return rc;
    if (h->bytes > NNRTI_MAX_DATA_BYTES)
        return nnrti_fail(err, NNRT_ERR_FORMAT, "%s: the dims describe %zu bytes, more than %zu, the limit for a "
                          "data file", r->path, h->bytes, NNRTI_MAX_DATA_BYTES);
    return NNRT_OK;
}

/* Open an IDX file, check its header and read its data (*data, malloc'd);
 * a stream must end right after the data. */
static int idx_load(const char *path, uint32_t magic, const char *what, idx_hdr *h, unsigned char **data,
                    nnrt_err *err)
{
    nnrti_rfile r;
    int rc = nnrti_ropen(&r, path, err);
    *data = NULL;
    if (rc == NNRT_OK && (rc = idx_read_header(&r, magic, what, h, err)) == NNRT_OK)
        rc = nnrti_rread_alloc(&r, h->bytes, "the IDX data", data, err);
    if (rc == NNRT_OK && !r.regular) {
        int end = nnrti_rat_end(&r, err);
        if (end < 0)
            rc = NNRT_ERR_IO;
        else if (!end)
            rc = nnrti_fail(err, NNRT_ERR_FORMAT, "%s: unexpected bytes after the IDX data", path);
    }
    nnrti_rclose(&r);
    if (rc != NNRT_OK) {
        free(*data);
        *data = NULL;
    }
    return rc;
}

/* Read any u8/i32/f32 IDX file; elements are converted to host order. */
int nnrt_idx_read(const char *path, nnrt_idx *out, nnrt_err *err)
{
    unsigned char *buf;
    size_t k, size;
    idx_hdr h;
    int rc;
    if (!out)
        return nnrti_fail(err, NNRT_ERR_ARG, "%s: no output", path ? path : "(null)");
    memset(out, 0, sizeof *out);
    if ((rc = idx_load(path, 0, NULL, &h, &buf, err)) != 0)
        return rc;
    size = nnrt_dtype_size(h.type);
    for (k = 0; size == 4 && k < h.numel; k++) { /* big-endian to host, in place */
        uint32_t v = nnrti_ld_be32(buf + 4 * k);
        memcpy(buf + 4 * k, &v, 4);
    }
    out->data = buf;
    out->type = h.type;
    out->rank = h.rank;
    memcpy(out->shape, h.shape, sizeof h.shape);
    out->numel = h.numel;
    return NNRT_OK;
}

/* Check that t describes something IDX can hold. */
static int idx_check(const char *path, const nnrt_idx *t, nnrt_err *err)
{
    size_t numel = 1;
    int k;
    if (!t || (t->type != NNRT_U8 && t->type != NNRT_I32 &&
               t->type != NNRT_F32))
        return nnrti_fail(err, NNRT_ERR_ARG, "%s: IDX holds only u8, i32 "
                          "and f32", path);
    if (t->rank < 0 || t->rank > NNRT_MAX_RANK)
        return nnrti_fail(err, NNRT_ERR_ARG, "%s: bad IDX rank %d", path,
                          t->rank);
    for (k = 0; k < t->rank; k++)
        if (t->shape[k] < 0 || t->shape[k] > (int64_t)UINT32_MAX ||
            !nnrti_mul_ok(numel, (size_t)t->shape[k], &numel))
            return nnrti_fail(err, NNRT_ERR_ARG, "%s: bad IDX dim %lld",
                              path, (long long)t->shape[k]);
    if (numel != t->numel || (numel && !t->data) ||
        !nnrti_mul_ok(numel, 4, &numel))
        return nnrti_fail(err, NNRT_ERR_ARG, "%s: IDX numel %zu does not "
                          "match its shape", path, t->numel);
    return NNRT_OK;
}

/* Write t as IDX (big-endian) through path.tmp + rename. */
int nnrt_idx_write(const char *path, const nnrt_idx *t, nnrt_err *err)
{
    unsigned char hdr[4 + 4 * NNRT_MAX_RANK], chunk[4096];
    size_t k, m, size;
    const unsigned char *src;
    nnrt_afile w;
    int rc;
    if (!path)
        return nnrti_fail(err, NNRT_ERR_ARG, "(null): no path given");
    if ((rc = idx_check(path, t, err)) != 0)
        return rc;
    nnrti_st_be32(hdr, (uint32_t)idx_type_byte(t->type) << 8 |
                           (uint32_t)t->rank);
    for (k = 0; k < (size_t)t->rank; k++)
        nnrti_st_be32(hdr + 4 + 4 * k, (uint32_t)t->shape[k]);
    if ((rc = nnrt_afile_open(&w, path, err)) != 0)
        return rc;
    nnrt_afile_write(&w, hdr, 4 + 4 * (size_t)t->rank);
    size = nnrt_dtype_size(t->type);
    src = t->data;
    for (k = 0; k < t->numel; k += m) {
        size_t j;
        m = t->numel - k < sizeof chunk / 4 ? t->numel - k : sizeof chunk / 4;
        for (j = 0; j < m; j++) {
            if (size == 4) {
                uint32_t v;
                memcpy(&v, src + 4 * (k + j), 4);
                nnrti_st_be32(chunk + 4 * j, v);
            } else {
                chunk[j] = src[k + j];
            }
        }
        nnrt_afile_write(&w, chunk, m * size);
    }
    return nnrt_afile_commit(&w, err);
}

/* Free t's data and zero it; NULL is fine. */
void nnrt_idx_free(nnrt_idx *t)
{
    if (!t)
        return;
    free(t->data);
    memset(t, 0, sizeof *t);
}

/* MNIST-style pair: images u8 [n, rows, cols] -> x in [0,1] with example
 * shape [rows, cols]; labels u8 [n] -> int32. */
int nnrt_load_idx(const char *images, const char *labels, nnrt_dataset *ds,
                  nnrt_err *err)
{
    unsigned char *ib = NULL, *lb = NULL;
    idx_hdr ih, lh;
    size_t k, xn, xb;
    int32_t *y;
    int rc;
    if (!ds || !images)
        return nnrti_fail(err, NNRT_ERR_ARG, "%s: bad arguments",
                          images ? images : "(null)");
    memset(ds, 0, sizeof *ds);
    memset(&lh, 0, sizeof lh);
    if ((rc = idx_load(images, 0x803, "IDX images", &ih, &ib, err)))
        return rc;
    if (labels && (rc = idx_load(labels, 0x801, "IDX labels", &lh, &lb, err))) {
        free(ib);
        return rc;
    }
    if (labels && ih.shape[0] != lh.shape[0]) {
        rc = nnrti_fail(err, NNRT_ERR_SHAPE, "%s: holds %lld labels but %s "
                        "holds %lld images", labels, (long long)lh.shape[0],
                        images, (long long)ih.shape[0]);
        goto done;
    }
    if (!nnrti_mul_ok((size_t)ih.shape[1], (size_t)ih.shape[2], &xn) || !nnrti_mul_ok(ih.numel, sizeof(float), &xb)) {
        rc = nnrti_fail(err, NNRT_ERR_FORMAT, "%s: images of %lldx%lld values are too large", images,
                        (long long)ih.shape[1], (long long)ih.shape[2]);
        goto done;
    }
    ds->x = malloc(xb ? xb : 1);
    y = malloc(lh.numel ? lh.numel * sizeof(int32_t) : 1);
    ds->y = y;
    if (!ds->x || !y) {
        nnrt_dataset_free(ds);
        rc = nnrti_fail(err, NNRT_ERR_NOMEM, "%s: out of memory", images);
        goto done;
    }
    for (k = 0; k < ih.numel; k++)
        ds->x[k] = (float)ib[k] / 255.0f;
    for (k = 0; k < lh.numel; k++)
        y[k] = lb[k];
    ds->n = ih.shape[0];
    ds->x_rank = 2;
    ds->x_shape[0] = ih.shape[1];
    ds->x_shape[1] = ih.shape[2];
    ds->x_numel = xn;
    ds->y_dtype = NNRT_I32;
    ds->y_numel = labels ? 1 : 0;
done:
    free(ib);
    free(lb);
    return rc;
}

/* ---- CSV ---------------------------------------------------------------- */

/* Parser state for one CSV file. */
typedef struct csv {
    const char *path;  /* for messages */
    nnrt_err *err;     /* where messages go */
    size_t line;       /* current line number, 1-based */
    size_t n_features; /* feature columns */
    size_t n_targets;  /* target columns */
    int y_dtype;       /* NNRT_I32 or NNRT_F32 */
    int n_classes;     /* label bound, 0 for none */
    float scale;       /* feature multiplier */
} csv;

/* Does s[0..n) look like a decimal number: [+-]d*[.d*][(e|E)[+-]d+] with
 * at least one mantissa digit? (Rejects inf, nan, hex.) */
static int is_decimal(const char *s, size_t n)
{
    size_t i = 0, digits = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
        digits++;
    if (i < n && s[i] == '.')
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            digits++;
    if (!digits)
        return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t e = 0;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            e++;
        if (!e)
            return 0;
    }
    return i == n;
}

/* Quote up to 40 bytes of a field for a message, '?' for odd bytes. */
static void quote_field(char *out, const char *s, size_t n)
{
    size_t k, m = n > 40 ? 40 : n;
    for (k = 0; k < m; k++)
        out[k] = (s[k] >= 0x20 && s[k] < 0x7f) ? s[k] : '?';
    if (m < n)
        memcpy(out + m, "...", 4);
    else
        out[m] = 0;
}

/* Parse field s[0..n) (NUL at s[n] is ours to write) of column col. */
static int csv_number(csv *c, char *s, size_t n, size_t col, double *out)
{
    char q[48], *end;
    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    quote_field(q, s, n);
    if (!is_decimal(s, n))
        return nnrti_fail(c->err, NNRT_ERR_FORMAT, "%s:%zu:%zu: expected a "
                          "number, got '%s'", c->path, c->line, col, q);
    s[n] = 0;
    errno = 0;
    *out = strtod(s, &end);
    if (end != s + n)
        return nnrti_fail(c->err, NNRT_ERR_FORMAT, "%s:%zu:%zu: expected a "
                          "number, got '%s'", c->path, c->line, col, q);
    if (isinf(*out))
        return nnrti_fail(c->err, NNRT_ERR_RANGE, "%s:%zu:%zu: number '%s' "
                          "out of range", c->path, c->line, col, q);
    return NNRT_OK;
}

/* Store the value of target column t of example i. */
static int csv_target(csv *c, double v, size_t col, void *y, size_t at)
{
    if (c->y_dtype == NNRT_F32) {
        if (isinf((float)v))
            return nnrti_fail(c->err, NNRT_ERR_RANGE, "%s:%zu:%zu: target "
                              "%g out of float range", c->path, c->line,
                              col, v);
        ((float *)y)[at] = (float)v;
        return NNRT_OK;
    }
    if (v != floor(v) || v < -2147483648.0 || v > 2147483647.0)
        return nnrti_fail(c->err, NNRT_ERR_FORMAT, "%s:%zu:%zu: expected an "
                          "integer class label, got %g", c->path, c->line,
                          col, v);
    if (c->n_classes > 0 && (v < 0 || v >= c->n_classes))
        return nnrti_fail(c->err, NNRT_ERR_RANGE, "%s:%zu:%zu: label %.0f "
                          "out of range [0, %d)", c->path, c->line, col, v,
                          c->n_classes);
    ((int32_t *)y)[at] = (int32_t)v;
    return NNRT_OK;
}

/* Parse one non-blank line s[0..n) as example i. */
static int csv_line(csv *c, char *s, size_t n, size_t i, float *x, void *y)
{
    size_t want = c->n_features + c->n_targets, fields = 1, k, col;
    char *f = s;
    int rc;
    for (k = 0; k < n; k++)
        fields += s[k] == ',';
    if (fields != want)
        return nnrti_fail(c->err, NNRT_ERR_FORMAT, "%s:%zu:%zu: expected %zu "
                          "columns, got %zu", c->path, c->line,
                          fields > want ? want + 1 : fields, want, fields);
    for (col = 1; col <= want; col++) {
        char *e = memchr(f, ',', (size_t)(s + n - f));
        double v = 0.0;
        if (!e)
            e = s + n;
        if ((rc = csv_number(c, f, (size_t)(e - f), col, &v)) != 0)
            return rc;
        if (col <= c->n_features) {
            float fv = (float)(v * (double)c->scale);
            if (isinf(fv))
                return nnrti_fail(c->err, NNRT_ERR_RANGE, "%s:%zu:%zu: "
                                  "scaled value out of float range",
                                  c->path, c->line, col);
            x[i * c->n_features + col - 1] = fv;
        } else if ((rc = csv_target(c, v, col, y,
                                    i * c->n_targets + col - 1 -
                                        c->n_features)) != 0) {
            return rc;
        }
        f = e + 1;
    }
    return NNRT_OK;
}

static int is_blank(const char *s, size_t n)
{
    size_t k;
    for (k = 0; k < n; k++)
        if (s[k] != ' ' && s[k] != '\t' && s[k] != '\r')
            return 0;
    return 1;
}

/* Walk the lines of buf[0..len) and parse each into x/y; *n gets the count.
 * Blank lines are allowed only at the end; a leading UTF-8 BOM is skipped. */
static int csv_parse(csv *c, char *buf, size_t len, float *x, void *y,
                     size_t *n)
{
    size_t pos = 0, i = 0, blank = 0;
    int rc;
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        pos = 3;
    for (c->line = 1; pos < len; c->line++) {
        char *s = buf + pos, *nl = memchr(s, '\n', len - pos);
        size_t m = nl ? (size_t)(nl - s) : len - pos;
        pos += m + 1;
        if (m && s[m - 1] == '\r')
            m--;
        if (is_blank(s, m)) {
            if (!blank)
                blank = c->line;
            continue;
        }
        if (blank)
            return nnrti_fail(c->err, NNRT_ERR_FORMAT, "%s:%zu:1: blank "
                              "line before the end of the data", c->path,
                              blank);
        if ((rc = csv_line(c, s, m, i, x, y)) != 0)
            return rc;
        i++;
    }
    *n = i;
    return NNRT_OK;
}

int nnrt_load_csv(const char *path, size_t n_features, size_t n_targets,
                  int y_dtype, int n_classes, float scale, nnrt_dataset *ds,
                  nnrt_err *err)
{
    csv c;
    unsigned char *buf;
    size_t len, lines = 1, k, xrow, yrow, xs, ys, n = 0;
    int rc;
    if (!ds || !path)
        return nnrti_fail(err, NNRT_ERR_ARG, "%s: bad arguments",
                          path ? path : "(null)");
    memset(ds, 0, sizeof *ds);
    if (n_features == 0 || (y_dtype != NNRT_I32 && y_dtype != NNRT_F32) ||
        n_classes < 0 || n_features + n_targets < n_features)
        return nnrti_fail(err, NNRT_ERR_ARG, "%s: bad CSV layout arguments",
                          path);
    if ((rc = nnrti_read_file(path, NNRTI_MAX_DATA_BYTES, 1, &buf, &len, err)) != 0)
        return rc;
    for (k = 0; k < len; k++)
        lines += buf[k] == '\n';
    if (!nnrti_mul_ok(n_features, sizeof(float), &xrow) ||
        !nnrti_mul_ok(n_targets, 4, &yrow) ||
        !nnrti_mul_ok(lines, xrow, &xs) || !nnrti_mul_ok(lines, yrow, &ys)) {
        free(buf);
        return nnrti_fail(err, NNRT_ERR_NOMEM, "%s: too large", path);
    }
    ds->x = malloc(xs ? xs : 1);
    ds->y = malloc(ys ? ys : 1);
    if (!ds->x || !ds->y) {
        free(buf);
        nnrt_dataset_free(ds);
        return nnrti_fail(err, NNRT_ERR_NOMEM, "%s: out of memory", path);
    }
    c.path = path;
    c.err = err;
    c.n_features = n_features;
    c.n_targets = n_targets;
    c.y_dtype = y_dtype;
    c.n_classes = n_classes;
    c.scale = scale;
    rc = csv_parse(&c, (char *)buf, len, ds->x, ds->y, &n);
    free(buf);
    if (!rc && n == 0)
        rc = nnrti_fail(err, NNRT_ERR_FORMAT, "%s: no examples", path);
    if (rc) {
        nnrt_dataset_free(ds);
        return rc;
    }
    ds->n = (int64_t)n;
    ds->x_rank = 1;
    ds->x_shape[0] = (int64_t)n_features;
    ds->x_numel = n_features;
    ds->y_dtype = y_dtype;
    ds->y_numel = n_targets;
    return NNRT_OK;
}

/* Free x and y and zero ds; NULL is fine. */
void nnrt_dataset_free(nnrt_dataset *ds)
{
    if (!ds)
        return;
    free(ds->x);
    free(ds->y);
    memset(ds, 0, sizeof *ds);
}

/* ---- split and gather --------------------------------------------------- */

/* Copy examples [first, first + count) of ds into a fresh dataset d. */
static int copy_range(const nnrt_dataset *ds, int64_t first, int64_t count,
                      nnrt_dataset *d)
{
    size_t ysz = nnrt_dtype_size(ds->y_dtype);
    size_t xn = (size_t)count * ds->x_numel, yn = (size_t)count * ds->y_numel;
    *d = *ds;
    d->n = count;
    d->x = malloc(xn ? xn * sizeof(float) : 1);
    d->y = malloc(yn ? yn * ysz : 1);
    if (!d->x || !d->y) {
        nnrt_dataset_free(d);
        return NNRT_ERR_NOMEM;
    }
    if (xn)
        memcpy(d->x, ds->x + (size_t)first * ds->x_numel, xn * sizeof(float));
    if (yn)
        memcpy(d->y, (const char *)ds->y + (size_t)first * ds->y_numel * ysz,
               yn * ysz);
    return NNRT_OK;
}

/* Last round(frac * n) examples go to val, the rest to train. */
int nnrt_split(const nnrt_dataset *ds, double frac, nnrt_dataset *train,
               nnrt_dataset *val, nnrt_err *err)
{
    int64_t n_val;
    if (!train || !val)
        return nnrti_fail(err, NNRT_ERR_ARG, "split: no output dataset");
    memset(train, 0, sizeof *train);
    memset(val, 0, sizeof *val);
    if (!ds || ds->n < 0 || (ds->n > 0 && (!ds->x || !ds->y)) ||
        nnrt_dtype_size(ds->y_dtype) == 0)
        return nnrti_fail(err, NNRT_ERR_ARG, "split: bad dataset");
    if (!(frac >= 0.0 && frac <= 1.0))
        return nnrti_fail(err, NNRT_ERR_ARG, "split: fraction %g not in "
                          "[0, 1]", frac);
    n_val = (int64_t)floor(frac * (double)ds->n + 0.5);
    if (n_val > ds->n)
        n_val = ds->n;
    if (copy_range(ds, 0, ds->n - n_val, train) ||
        copy_range(ds, ds->n - n_val, n_val, val)) {
        nnrt_dataset_free(train);
        nnrt_dataset_free(val);
        return nnrti_fail(err, NNRT_ERR_NOMEM, "split: out of memory");
    }
    return NNRT_OK;
}

/* Store value v as element k of a batch buffer of type dtype. */
static void put(void *b, int dtype, size_t k, double v)
{
    if (dtype == NNRT_F64)
        ((double *)b)[k] = v;
    else
        ((float *)b)[k] = (float)v;
}

/* Copy the targets of example r (or zeros when r < 0) into yb row i. */
static void gather_y(const nnrt_dataset *ds, int64_t r, size_t i,
                     int y_dtype, void *yb)
{
    size_t k, m = ds->y_numel, at = i * m;
    int to_float = y_dtype == NNRT_F64 || y_dtype == NNRT_F32 ||
                   ds->y_dtype != NNRT_I32;
    int fdt = y_dtype == NNRT_F64 ? NNRT_F64 : NNRT_F32;
    for (k = 0; k < m; k++) {
        size_t src = (size_t)r * m + k;
        if (!to_float)
            ((int32_t *)yb)[at + k] = r < 0 ? 0 : ((const int32_t *)ds->y)[src];
        else if (r < 0)
            put(yb, fdt, at + k, 0.0);
        else if (ds->y_dtype == NNRT_I32)
            put(yb, fdt, at + k, (double)((const int32_t *)ds->y)[src]);
        else
            put(yb, fdt, at + k, (double)((const float *)ds->y)[src]);
    }
}

/* Gather rows idx[0..count) into xb (f32 or f64 per x_dtype) and yb:
 * I32 labels stay int32 unless y_dtype is NNRT_F32/NNRT_F64 (converted);
 * F32 targets become f64 when y_dtype is NNRT_F64, else f32. A NULL xb or
 * yb is skipped; an out-of-range index yields a zero row. */
void nnrt_gather(const nnrt_dataset *ds, const int64_t *idx, int64_t count,
                 int x_dtype, void *xb, int y_dtype, void *yb)
{
    int64_t i;
    size_t k;
    if (!ds || !idx || count <= 0)
        return;
    for (i = 0; i < count; i++) {
        int64_t r = idx[i] >= 0 && idx[i] < ds->n ? idx[i] : -1;
        const float *xs = r < 0 ? NULL : ds->x + (size_t)r * ds->x_numel;
        size_t at = (size_t)i * ds->x_numel;
        if (xb && x_dtype == NNRT_F64)
            for (k = 0; k < ds->x_numel; k++)
                ((double *)xb)[at + k] = xs ? (double)xs[k] : 0.0;
        else if (xb)
            for (k = 0; k < ds->x_numel; k++)
                ((float *)xb)[at + k] = xs ? xs[k] : 0.0f;
        if (yb && ds->y)
            gather_y(ds, r, (size_t)i, y_dtype, yb);
    }
}
