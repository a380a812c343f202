/* safetensors.c — read and write safetensors files.
 *
 * Layout: an 8-byte little-endian u64 header length N, N bytes of JSON
 *   {"name": {"dtype": "F32", "shape": [a, b], "data_offsets": [begin, end]},
 *    ..., "__metadata__": {"key": "value", ...}}
 * then the data section; offsets are relative to its start. Data is
 * little-endian. The JSON parser below accepts exactly that grammar (objects,
 * strings with escapes, arrays of non-negative integers, a metadata object of
 * string values), bounds every read by N, and reports the file byte offset of
 * the first problem.
 *
 * Reading is bounded: the 8-byte length is checked (at most ST_MAX_HEADER,
 * and within the file) before the header is read, the header (at most
 * ST_MAX_TENSORS tensors) before any data, and the file's size must be
 * exactly what the header describes. A load then reads only the tensors the
 * caller asks for, after checking their names, dtypes and shapes, and writes
 * nothing until all of them are read. Saving goes through atomic_file.h.
 */
#include "nnrt_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ST_MAX_HEADER ((uint64_t)100 * 1024 * 1024) /* as in the reference */
#define ST_MAX_TENSORS (1 << 20)                     /* tensors in one file */

/* One safetensors dtype spelling: its size and our dtype (-1 if none). */
typedef struct st_dtype {
    const char *name; /* spelling in the header */
    size_t size;      /* bytes per element */
    int nnrt;         /* NNRT_* or -1 when this library cannot hold it */
} st_dtype;

static const st_dtype st_dtypes[] = {
    {"F32", 4, NNRT_F32},  {"F64", 8, NNRT_F64},  {"I32", 4, NNRT_I32},
    {"U8", 1, NNRT_U8},    {"BOOL", 1, -1},       {"I8", 1, -1},
    {"F8_E5M2", 1, -1},    {"F8_E4M3", 1, -1},    {"I16", 2, -1},
    {"U16", 2, -1},        {"F16", 2, -1},        {"BF16", 2, -1},
    {"U32", 4, -1},        {"I64", 8, -1},        {"U64", 8, -1},
};

/* One tensor described by the header. */
typedef struct st_entry {
    const char *name;           /* NUL-terminated, in the file's name arena */
    const st_dtype *dt;         /* dtype as spelled in the file */
    int rank;                   /* number of dims */
    int64_t shape[NNRT_MAX_RANK]; /* dims */
    size_t numel;               /* product of shape */
    uint64_t begin, end;        /* byte range inside the data section */
} st_entry;

struct nnrt_st_file {
    unsigned char *hdr;        /* the JSON header, malloc'd */
    unsigned char *data;       /* the data section, malloc'd (NULL until read) */
    uint64_t data_len;         /* bytes in the data section, as the header describes */
    char *names;               /* arena holding the decoded names */
    st_entry *e;               /* entries in header order */
    int count;                 /* number of entries */
    const st_entry **sorted;   /* entries sorted by name, for lookups */
    const char **meta;         /* __metadata__ keys and values, alternating, in the names arena */
    int nmeta, meta_cap;       /* pairs in meta, room for */
};

/* ---- JSON header parser ------------------------------------------------ */

/* Parser state over the header text. */
typedef struct jp {
    const char *s;    /* header text (not NUL-terminated) */
    size_t n;         /* its length */
    size_t i;         /* cursor */
    const char *path; /* for messages */
    nnrt_err *err;    /* where messages go */
    char *arena;      /* decoded strings are appended here */
    size_t used;      /* bytes used in arena (capacity n + 1) */
} jp;

/* Report a header error at the cursor (as a file offset). */
static int jp_fail(jp *p, const char *what)
{
    return nnrti_fail(p->err, NNRT_ERR_FORMAT,
                      "%s: bad safetensors header at byte %zu: %s", p->path,
                      p->i + 8, what);
}

static void jp_ws(jp *p)
{
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' ||
                           p->s[p->i] == '\n' || p->s[p->i] == '\r'))
        p->i++;
}

/* Skip whitespace; return the next character, or -1 at the end. */
static int jp_peek(jp *p)
{
    jp_ws(p);
    return p->i < p->n ? (unsigned char)p->s[p->i] : -1;
}

/* Consume character c (after whitespace) or fail. */
static int jp_expect(jp *p, char c)
{
    static const char *const msgs[] = {"expected '{'", "expected '}'",
                                       "expected '['", "expected ']'",
                                       "expected ':'", "expected ','",
                                       "expected '\"'"};
    static const char chars[] = "{}[]:,\"";
    if (jp_peek(p) == (unsigned char)c) {
        p->i++;
        return NNRT_OK;
    }
    return jp_fail(p, msgs[strchr(chars, c) - chars]);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Read the 4 hex digits of a \u escape at the cursor. */
static int jp_hex4(jp *p, uint32_t *out)
{
    uint32_t v = 0;
    int k;
    if (p->n - p->i < 4)
        return jp_fail(p, "truncated \\u escape");
    for (k = 0; k < 4; k++) {
        int h = hexval((unsigned char)p->s[p->i + (size_t)k]);
        if (h < 0)
            return jp_fail(p, "bad hex digit in \\u escape");
        v = v << 4 | (uint32_t)h;
    }
    p->i += 4;
    *out = v;
    return NNRT_OK;
}

/* Append code point cp as UTF-8 to the arena. Never longer than the escape
 * it came from, so the arena (header length + 1) cannot overflow. */
static void put_utf8(jp *p, uint32_t cp)
{
    char *o = p->arena + p->used;
    if (cp < 0x80) {
        o[0] = (char)cp;
        p->used += 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        p->used += 2;
    } else if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        p->used += 3;
    } else {
        o[0] = (char)(0xF0 | cp >> 18);
        o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
        o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
        o[3] = (char)(0x80 | (cp & 0x3F));
        p->used += 4;
    }
}

/* Decode a \u escape (the backslash and 'u' already consumed), including a
 * following low surrogate when the first is a high surrogate. */
static int jp_uescape(jp *p)
{
    uint32_t cp, lo;
    int rc = jp_hex4(p, &cp);
    if (rc)
        return rc;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return jp_fail(p, "unpaired low surrogate in \\u escape");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (p->n - p->i < 2 || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u')
            return jp_fail(p, "unpaired high surrogate in \\u escape");
        p->i += 2;
        if ((rc = jp_hex4(p, &lo)) != 0)
            return rc;
        if (lo < 0xDC00 || lo > 0xDFFF)
            return jp_fail(p, "bad low surrogate in \\u escape");
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    if (cp == 0)
        return jp_fail(p, "\\u0000 is not allowed in a string");
    put_utf8(p, cp);
    return NNRT_OK;
}

/* Parse a string; its decoded, NUL-terminated copy goes to the arena. */
static int jp_string(jp *p, const char **out)
{
    size_t start;
    int rc = jp_expect(p, '"');
    if (rc)
        return rc;
    start = p->used;
    for (;;) {
        unsigned char c;
        if (p->i >= p->n)
            return jp_fail(p, "unterminated string");
        c = (unsigned char)p->s[p->i++];
        if (c == '"')
            break;
        if (c < 0x20) {
            p->i--;
            return jp_fail(p, "control character in string");
        }
        if (c != '\\') {
            p->arena[p->used++] = (char)c;
            continue;
        }
        if (p->i >= p->n)
            return jp_fail(p, "unterminated string");
        c = (unsigned char)p->s[p->i++];
        switch (c) {
        case '"': case '\\': case '/': p->arena[p->used++] = (char)c; break;
        case 'b': p->arena[p->used++] = '\b'; break;
        case 'f': p->arena[p->used++] = '\f'; break;
        case 'n': p->arena[p->used++] = '\n'; break;
        case 'r': p->arena[p->used++] = '\r'; break;
        case 't': p->arena[p->used++] = '\t'; break;
        case 'u':
            if ((rc = jp_uescape(p)) != 0)
                return rc;
            break;
        default:
            p->i--;
            return jp_fail(p, "bad escape in string");
        }
    }
    p->arena[p->used++] = 0;
    *out = p->arena + start;
    return NNRT_OK;
}

/* Parse a non-negative integer without sign, fraction or leading zeros. */
static int jp_uint(jp *p, uint64_t *out)
{
    uint64_t v = 0;
    size_t start;
    int c = jp_peek(p);
    if (c < '0' || c > '9')
        return jp_fail(p, "expected a non-negative integer");
    start = p->i;
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') {
        unsigned d = (unsigned)(p->s[p->i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return jp_fail(p, "integer too large");
        v = v * 10 + d;
        p->i++;
    }
    if (p->i - start > 1 && p->s[start] == '0') {
        p->i = start;
        return jp_fail(p, "leading zero in integer");
    }
    if (p->i < p->n && (p->s[p->i] == '.' || p->s[p->i] == 'e' ||
                        p->s[p->i] == 'E'))
        return jp_fail(p, "expected an integer");
    *out = v;
    return NNRT_OK;
}

/* Parse [u, u, ...] with at most max elements; *count gets the length. */
static int jp_uint_array(jp *p, uint64_t *vals, int max, int *count,
                         const char *toomany)
{
    int rc, k = 0;
    if ((rc = jp_expect(p, '[')) != 0)
        return rc;
    if (jp_peek(p) == ']') {
        p->i++;
        *count = 0;
        return NNRT_OK;
    }
    for (;;) {
        if (k == max)
            return jp_fail(p, toomany);
        if ((rc = jp_uint(p, &vals[k++])) != 0)
            return rc;
        if (jp_peek(p) == ']') {
            p->i++;
            break;
        }
        if ((rc = jp_expect(p, ',')) != 0)
            return rc;
    }
    *count = k;
    return NNRT_OK;
}

/* Keep one metadata pair (strings in the names arena). */
static int push_meta(jp *p, nnrt_st_file *f, const char *key, const char *val)
{
    if (f->nmeta == f->meta_cap) {
        int cap = f->meta_cap ? 2 * f->meta_cap : 8;
        const char **m = cap < ST_MAX_TENSORS ? realloc(f->meta, sizeof *m * 2 * (size_t)cap) : NULL;
        if (!m)
            return nnrti_fail(p->err, NNRT_ERR_NOMEM, "%s: out of memory", p->path);
        f->meta = m;
        f->meta_cap = cap;
    }
    f->meta[2 * f->nmeta] = key;
    f->meta[2 * f->nmeta + 1] = val;
    f->nmeta++;
    return NNRT_OK;
}

/* The __metadata__ object: string keys, string values, kept in f. */
static int jp_metadata(jp *p, nnrt_st_file *f)
{
    const char *key, *val;
    int rc;
    if ((rc = jp_expect(p, '{')) != 0)
        return rc;
    if (jp_peek(p) == '}') {
        p->i++;
        return NNRT_OK;
    }
    for (;;) {
        if ((rc = jp_string(p, &key)) != 0 || (rc = jp_expect(p, ':')) != 0)
            return rc;
        if (jp_peek(p) != '"')
            return jp_fail(p, "__metadata__ values must be strings");
        if ((rc = jp_string(p, &val)) != 0 || (rc = push_meta(p, f, key, val)) != 0)
            return rc;
        if (jp_peek(p) == '}') {
            p->i++;
            return NNRT_OK;
        }
        if ((rc = jp_expect(p, ',')) != 0)
            return rc;
    }
}

static const st_dtype *find_dtype(const char *name)
{
    size_t k;
    for (k = 0; k < sizeof st_dtypes / sizeof st_dtypes[0]; k++)
        if (strcmp(st_dtypes[k].name, name) == 0)
            return &st_dtypes[k];
    return NULL;
}

/* Fill e's numel from its shape, checking for overflow of the byte size. */
static int entry_numel(jp *p, st_entry *e, const uint64_t *dims)
{
    size_t numel = 1, bytes;
    int k;
    for (k = 0; k < e->rank; k++) {
        if (dims[k] > (uint64_t)INT64_MAX || dims[k] > (uint64_t)SIZE_MAX ||
            !nnrti_mul_ok(numel, (size_t)dims[k], &numel))
            return jp_fail(p, "shape product overflows");
        e->shape[k] = (int64_t)dims[k];
    }
    if (!nnrti_mul_ok(numel, e->dt->size, &bytes))
        return jp_fail(p, "shape product overflows");
    e->numel = numel;
    return NNRT_OK;
}

/* Parse one tensor object {"dtype":..., "shape":..., "data_offsets":...}. */
static int jp_tensor(jp *p, st_entry *e)
{
    int rc, have_dt = 0, have_shape = 0, have_off = 0, cnt = 0;
    uint64_t dims[NNRT_MAX_RANK], off[2];
    size_t mark, key_at;
    const char *key, *dt;

    if ((rc = jp_expect(p, '{')) != 0)
        return rc;
    mark = p->used;
    for (;;) {
        key_at = p->i;
        if ((rc = jp_string(p, &key)) != 0 || (rc = jp_expect(p, ':')) != 0)
            return rc;
        if (strcmp(key, "dtype") == 0 && !have_dt) {
            if ((rc = jp_string(p, &dt)) != 0)
                return rc;
            e->dt = find_dtype(dt);
            if (!e->dt)
                return jp_fail(p, "unknown dtype");
            have_dt = 1;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            if ((rc = jp_uint_array(p, dims, NNRT_MAX_RANK, &cnt,
                                    "rank exceeds 6")) != 0)
                return rc;
            e->rank = cnt;
            have_shape = 1;
        } else if (strcmp(key, "data_offsets") == 0 && !have_off) {
            if ((rc = jp_uint_array(p, off, 2, &cnt,
                                    "data_offsets needs 2 integers")) != 0)
                return rc;
            if (cnt != 2)
                return jp_fail(p, "data_offsets needs 2 integers");
            e->begin = off[0];
            e->end = off[1];
            have_off = 1;
        } else {
            p->i = key_at;
            return jp_fail(p, strcmp(key, "dtype") == 0 ||
                                      strcmp(key, "shape") == 0 ||
                                      strcmp(key, "data_offsets") == 0
                                  ? "duplicate key in tensor"
                                  : "unknown key in tensor");
        }
        p->used = mark; /* key and dtype strings are not kept */
        if (jp_peek(p) == '}') {
            p->i++;
            break;
        }
        if ((rc = jp_expect(p, ',')) != 0)
            return rc;
    }
    if (!have_dt || !have_shape || !have_off)
        return jp_fail(p, "tensor needs dtype, shape and data_offsets");
    return entry_numel(p, e, dims);
}

/* Add room for one more entry in f->e (capacity *cap). */
static int push_entry(nnrt_st_file *f, int *cap)
{
    st_entry *ne;
    if (f->count < *cap)
        return 1;
    if (*cap >= ST_MAX_TENSORS)
        return 0;
    ne = realloc(f->e, (size_t)(*cap ? *cap * 2 : 16) * sizeof *ne);
    if (!ne)
        return 0;
    f->e = ne;
    *cap = *cap ? *cap * 2 : 16;
    return 1;
}

/* Parse the whole header object into f->e. */
static int parse_header(jp *p, nnrt_st_file *f)
{
    int rc, cap = 0, have_meta = 0;
    if ((rc = jp_expect(p, '{')) != 0)
        return rc;
    if (jp_peek(p) == '}') {
        p->i++;
    } else {
        for (;;) {
            const char *name;
            size_t key_at = p->i;
            if ((rc = jp_string(p, &name)) != 0 ||
                (rc = jp_expect(p, ':')) != 0)
                return rc;
            if (strcmp(name, "__metadata__") == 0) {
                if (have_meta) {
                    p->i = key_at;
                    return jp_fail(p, "duplicate __metadata__");
                }
                have_meta = 1;
                if ((rc = jp_metadata(p, f)) != 0)
                    return rc;
            } else {
                if (f->count >= ST_MAX_TENSORS)
                    return jp_fail(p, "more than 1048576 tensors");
                if (!push_entry(f, &cap))
                    return nnrti_fail(p->err, NNRT_ERR_NOMEM,
                                      "%s: out of memory", p->path);
                memset(&f->e[f->count], 0, sizeof f->e[0]);
                f->e[f->count].name = name;
                if ((rc = jp_tensor(p, &f->e[f->count])) != 0)
                    return rc;
                f->count++;
            }
            if (jp_peek(p) == '}') {
                p->i++;
                break;
            }
            if ((rc = jp_expect(p, ',')) != 0)
                return rc;
        }
    }
    if (jp_peek(p) != -1)
        return jp_fail(p, "trailing characters after the header object");
    return NNRT_OK;
}

/* ---- validation of the parsed entries ---------------------------------- */

static int cmp_name(const void *a, const void *b)
{
    return strcmp((*(const st_entry *const *)a)->name,
                  (*(const st_entry *const *)b)->name);
}

static int cmp_begin(const void *a, const void *b)
{
    const st_entry *x = *(const st_entry *const *)a;
    const st_entry *y = *(const st_entry *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* Each tensor's byte range: begin <= end and end - begin = numel * size;
 * *max_end gets the end of the last one (the data section's size). */
static int check_ranges(const nnrt_st_file *f, const char *path, uint64_t *max_end, nnrt_err *err)
{
    int k;
    *max_end = 0;
    for (k = 0; k < f->count; k++) {
        const st_entry *e = &f->e[k];
        if (e->begin > e->end)
            return nnrti_fail(err, NNRT_ERR_FORMAT, "%s: tensor '%s' has data_offsets [%llu, %llu]: the end is "
                              "before the begin", path, e->name, (unsigned long long)e->begin,
                              (unsigned long long)e->end);
        if (e->end - e->begin != (uint64_t)e->numel * e->dt->size)
            return nnrti_fail(err, NNRT_ERR_FORMAT, "%s: tensor '%s' has %llu data bytes, shape and dtype %s need %llu",
                              path, e->name, (unsigned long long)(e->end - e->begin), e->dt->name,
                              (unsigned long long)e->numel * e->dt->size);
        if (e->end > *max_end)
            *max_end = e->end;
    }
    return NNRT_OK;
}

/* Two tensors sharing bytes (entries sorted by begin, empty ones left out). */
static int check_overlap(const nnrt_st_file *f, const char *path, nnrt_err *err)
{
    const st_entry **tmp = malloc((size_t)(f->count ? f->count : 1) * sizeof *tmp);
    int k, m = 0, rc = NNRT_OK;
    if (!tmp)
        return nnrti_fail(err, NNRT_ERR_NOMEM, "%s: out of memory", path);
    for (k = 0; k < f->count; k++)
        if (f->e[k].begin != f->e[k].end)
            tmp[m++] = &f->e[k];
    qsort(tmp, (size_t)m, sizeof *tmp, cmp_begin);
    for (k = 1; k < m && rc == NNRT_OK; k++)
        if (tmp[k]->begin < tmp[k - 1]->end)
            rc = nnrti_fail(err, NNRT_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap", path, tmp[k - 1]->name,
                            tmp[k]->name);
    free(tmp);
    return rc;
}

/* No name twice, no two tensors overlapping. Leaves f->sorted sorted by
 * name. */
static int check_names(nnrt_st_file *f, const char *path, nnrt_err *err)
{
    int k;
    f->sorted = malloc((size_t)(f->count ? f->count : 1) * sizeof *f->sorted);
    if (!f->sorted)
        return nnrti_fail(err, NNRT_ERR_NOMEM, "%s: out of memory", path);
    for (k = 0; k < f->count; k++)
        f->sorted[k] = &f->e[k];
    qsort(f->sorted, (size_t)f->count, sizeof *f->sorted, cmp_name);
    for (k = 1; k < f->count; k++)
        if (strcmp(f->sorted[k]->name, f->sorted[k - 1]->name) == 0)
            return nnrti_fail(err, NNRT_ERR_FORMAT, "%s: tensor '%s' is named twice in the header", path,
                              f->sorted[k]->name);
    return check_overlap(f, path, err);
}

/* ---- nnrt_st_file ------------------------------------------------------ */

/* The 8-byte header length of r: at least 2, at most ST_MAX_HEADER, and
 * within a regular file. */
static int read_header_length(nnrti_rfile *r, uint64_t *hlen, nnrt_err *err)
{
    unsigned char len8[8];
    int rc;
    if (r->regular && r->size < 8)
        return nnrti_fail(err, NNRT_ERR_FORMAT, "%s: file too short (%llu bytes) for a safetensors header", r->path,
                          (unsigned long long)r->size);
    if ((rc = nnrti_rread(r, len8, 8, "the safetensors header length", err)) != NNRT_OK)
        return rc;
    *hlen = nnrti_ld_le64(len8);
    if (*hlen < 2 || *hlen > ST_MAX_HEADER || (r->regular && *hlen > r->size - 8))
        return nnrti_fail(err, NNRT_ERR_FORMAT, "%s: header length %llu is invalid (2 to %llu bytes%s)", r->path,
                          (unsigned long long)*hlen, (unsigned long long)ST_MAX_HEADER,
                          r->regular ? ", within the file" : "");
    return NNRT_OK;
}

/* A regular file must be exactly as long as its header says. */
static int check_size(const nnrti_rfile *r, uint64_t hlen, uint64_t data_len, nnrt_err *err)
{
    uint64_t want = 8 + hlen + data_len;
    if (!r->regular || r->size == want)
        return NNRT_OK;
    return nnrti_fail(err, NNRT_ERR_FORMAT, "%s: the file has %llu bytes, its header describes %llu (8 + %llu of "
                      "header + %llu of data)", r->path, (unsigned long long)r->size, (unsigned long long)want,
                      (unsigned long long)hlen, (unsigned long long)data_len);
}

/* Read and check everything up to the data section: the length, the
 * header, every tensor's range, the file size. Nothing of the data is read. */
static int read_header(nnrti_rfile *r, nnrt_st_file **out, nnrt_err *err)
{
    nnrt_st_file *f;
    uint64_t hlen = 0;
    jp p;
    int rc;
    *out = NULL;
    if ((rc = read_header_length(r, &hlen, err)) != NNRT_OK)
        return rc;
    f = calloc(1, sizeof *f);
    if (f)
        f->names = malloc((size_t)hlen + 1);
    if (!f || !f->names) {
        nnrt_st_close(f);
        return nnrti_fail(err, NNRT_ERR_NOMEM, "%s: out of memory", r->path);
    }
    *out = f;
    if ((rc = nnrti_rread_alloc(r, (size_t)hlen, "the safetensors header", &f->hdr, err)) != NNRT_OK)
        return rc;
    memset(&p, 0, sizeof p);
    p.s = (const char *)f->hdr;
    p.n = (size_t)hlen;
    p.path = r->path;
    p.err = err;
    p.arena = f->names;
    if ((rc = parse_header(&p, f)) == NNRT_OK && (rc = check_ranges(f, r->path, &f->data_len, err)) == NNRT_OK &&
        (rc = check_names(f, r->path, err)) == NNRT_OK)
        rc = check_size(r, hlen, f->data_len, err);
    return rc;
}

/* The whole data section of f (a stream must end right after it). */
static int read_data(nnrti_rfile *r, nnrt_st_file *f, nnrt_err *err)
{
    int rc, end;
    if (f->data_len > (uint64_t)SIZE_MAX / 2)
        return nnrti_fail(err, NNRT_ERR_NOMEM, "%s: %llu bytes of data do not fit in memory", r->path,
                          (unsigned long long)f->data_len);
    if ((rc = nnrti_rread_alloc(r, (size_t)f->data_len, "the tensor data", &f->data, err)) != NNRT_OK)
        return rc;
    end = nnrti_rat_end(r, err);
    if (end < 0)
        return NNRT_ERR_IO;
    if (!end)
        return nnrti_fail(err, NNRT_ERR_FORMAT, "%s: more bytes than its header describes (%llu of data)", r->path,
                          (unsigned long long)f->data_len);
    return NNRT_OK;
}

/* Read path and check its header; entries point into it. */
int nnrt_st_open(const char *path, nnrt_st_file **out, nnrt_err *err)
{
    nnrti_rfile r;
    nnrt_st_file *f = NULL;
    int rc;
    if (!out)
        return nnrti_fail(err, NNRT_ERR_ARG, "%s: no output pointer", path ? path : "(null)");
    *out = NULL;
    if ((rc = nnrti_ropen(&r, path, err)) != NNRT_OK)
        return rc;
    if ((rc = read_header(&r, &f, err)) == NNRT_OK)
        rc = read_data(&r, f, err);
    nnrti_rclose(&r);
    if (rc != NNRT_OK) {
        nnrt_st_close(f);
        return rc;
    }
    *out = f;
    return NNRT_OK;
}

/* Read path's header only (no data): the tensors' descriptions and the
 * metadata; nnrt_st_get gives no data pointers from it. */
int nnrti_st_open_header(const char *path, nnrt_st_file **out, nnrt_err *err)
{
    nnrti_rfile r;
    nnrt_st_file *f = NULL;
    int rc;
    *out = NULL;
    if ((rc = nnrti_ropen(&r, path, err)) != NNRT_OK)
        return rc;
    rc = read_header(&r, &f, err);
    nnrti_rclose(&r);
    if (rc != NNRT_OK) {
        nnrt_st_close(f);
        return rc;
    }
    *out = f;
    return NNRT_OK;
}

/* The value of metadata key, or NULL. */
const char *nnrt_st_meta(const nnrt_st_file *f, const char *key)
{
    int i;
    for (i = 0; f && key && i < f->nmeta; i++)
        if (strcmp(f->meta[2 * i], key) == 0)
            return f->meta[2 * i + 1];
    return NULL;
}

/* Number of tensors in the file (0 for NULL). */
int nnrt_st_count(const nnrt_st_file *f)
{
    return f ? f->count : 0;
}

/* Fill info and *data from entry e. */
static int describe(const st_entry *e, const nnrt_st_file *f,
                    nnrt_tensor_info *info, const void **data)
{
    int k;
    if (info) {
        memset(info, 0, sizeof *info);
        info->name = e->name;
        info->dtype = e->dt->nnrt;
        info->rank = e->rank;
        for (k = 0; k < e->rank; k++)
            info->shape[k] = e->shape[k];
        info->offset = 0;
        info->numel = e->numel;
    }
    if (data)
        *data = f->data ? f->data + e->begin : NULL;
    return e->dt->nnrt < 0 ? NNRT_ERR_DTYPE : NNRT_OK;
}

/* Describe tensor i. Returns NNRT_ERR_RANGE for a bad index, and
 * NNRT_ERR_DTYPE (with info filled, dtype -1) for dtypes such as BF16 that
 * have no NNRT_* equivalent. *data is little-endian and may be unaligned. */
int nnrt_st_get(const nnrt_st_file *f, int i, nnrt_tensor_info *info,
                const void **data)
{
    if (!f || i < 0 || i >= f->count)
        return NNRT_ERR_RANGE;
    return describe(&f->e[i], f, info, data);
}

static const st_entry *lookup(const nnrt_st_file *f, const char *name)
{
    st_entry key;
    const st_entry *kp = &key;
    const st_entry **hit;
    if (!f || !name || f->count == 0)
        return NULL;
    key.name = name;
    hit = bsearch(&kp, f->sorted, (size_t)f->count, sizeof *f->sorted,
                  cmp_name);
    return hit ? *hit : NULL;
}

/* Look a tensor up by name: NNRT_ERR_NOT_FOUND when absent, otherwise as
 * nnrt_st_get. */
int nnrt_st_find(const nnrt_st_file *f, const char *name,
                 nnrt_tensor_info *info, const void **data)
{
    const st_entry *e = lookup(f, name);
    if (!e)
        return NNRT_ERR_NOT_FOUND;
    return describe(e, f, info, data);
}

/* Free everything; NULL is fine. */
void nnrt_st_close(nnrt_st_file *f)
{
    if (!f)
        return;
    free(f->hdr);
    free(f->data);
    free(f->names);
    free(f->e);
    free(f->sorted);
    free(f->meta);
    free(f);
}

/* ---- shared checks on caller-supplied tensor infos ---------------------- */

/* Write "[a, b, c]" into buf. */
static void shape_str(char *buf, size_t cap, int rank, const int64_t *shape)
{
    size_t used = 0;
    int k;
    used += (size_t)snprintf(buf, cap, "[");
    for (k = 0; k < rank && used < cap; k++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%lld",
                                 k ? ", " : "", (long long)shape[k]);
    if (used < cap)
        snprintf(buf + used, cap - used, "]");
}

/* Check one info: name, dtype, rank, dims, numel, and that its byte range
 * [offset*size, (offset+numel)*size) is computable. */
static int check_info(const char *path, const nnrt_tensor_info *t, int i,
                      size_t *byte_off, nnrt_err *err)
{
    size_t numel = 1, size = nnrt_dtype_size(t->dtype), end;
    int k;
    if (!t->name)
        return nnrti_fail(err, NNRT_ERR_ARG, "%s: tensor %d has no name",
                          path, i);
    if (size == 0)
        return nnrti_fail(err, NNRT_ERR_ARG, "%s: tensor '%s' has unknown "
                          "dtype %d", path, t->name, t->dtype);
    if (t->rank < 0 || t->rank > NNRT_MAX_RANK)
        return nnrti_fail(err, NNRT_ERR_ARG, "%s: tensor '%s' has rank %d",
                          path, t->name, t->rank);
    for (k = 0; k < t->rank; k++)
        if (t->shape[k] < 0 || (uint64_t)t->shape[k] > (uint64_t)SIZE_MAX ||
            !nnrti_mul_ok(numel, (size_t)t->shape[k], &numel))
            return nnrti_fail(err, NNRT_ERR_ARG, "%s: tensor '%s' has a bad "
                              "shape", path, t->name);
    if (numel != t->numel)
        return nnrti_fail(err, NNRT_ERR_ARG, "%s: tensor '%s' has numel %zu "
                          "but its shape holds %zu", path, t->name, t->numel,
                          numel);
    if (!nnrti_mul_ok(t->offset, size, byte_off) || t->offset + numel <
        t->offset || !nnrti_mul_ok(t->offset + numel, size, &end))
        return nnrti_fail(err, NNRT_ERR_ARG, "%s: tensor '%s' has offset "
                          "%zu out of range", path, t->name, t->offset);
    return NNRT_OK;
}

/* ---- save ---------------------------------------------------------------- */

/* A growable string for the JSON header. */
typedef struct sbuf {
    char *s;    /* text, malloc'd */
    size_t n;   /* length */
    size_t cap; /* capacity */
    int oom;    /* set when a grow failed */
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->cap - b->n < n + 1) {
        size_t ncap = b->cap ? b->cap : 256;
        char *ns;
        while (ncap - b->n < n + 1) {
            if (ncap > (size_t)-1 / 2) {
                b->oom = 1;
                return;
            }
            ncap *= 2;
        }
        ns = realloc(b->s, ncap);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = ncap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}

static void sb_str(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

/* Append name as a JSON string literal. */
static void sb_json_string(sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            sb_put(b, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            sb_put(b, esc, 6);
        } else {
            sb_put(b, (const char *)&c, 1);
        }
    }
    sb_put(b, "\"", 1);
}

/* Append "NAME":{"dtype":..., "shape":[...], "data_offsets":[begin,end]}. */
static void sb_tensor(sbuf *b, const char *name, const char *dtype, int rank, const int64_t *shape, uint64_t begin,
                      uint64_t end)
{
    char num[64];
    int k;
    sb_json_string(b, name);
    sb_str(b, ":{\"dtype\":\"");
    sb_str(b, dtype);
    sb_str(b, "\",\"shape\":[");
    for (k = 0; k < rank; k++) {
        snprintf(num, sizeof num, "%s%lld", k ? "," : "", (long long)shape[k]);
        sb_str(b, num);
    }
    snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)begin,
             (unsigned long long)end);
    sb_str(b, num);
}

/* Close the header object and pad it with spaces to a multiple of 8. */
static int sb_finish_header(const char *path, sbuf *b, nnrt_err *err)
{
    sb_str(b, "}");
    while (!b->oom && b->n % 8 != 0)
        sb_str(b, " ");
    if (b->oom)
        return nnrti_fail(err, NNRT_ERR_NOMEM, "%s: out of memory", path);
    return NNRT_OK;
}

/* Build the padded header JSON for infos laid out back to back. */
static int build_header(const char *path, const nnrt_tensor_info *infos,
                        int n, const char *const *meta, sbuf *b, nnrt_err *err)
{
    uint64_t pos = 0;
    int i;
    sb_str(b, "{");
    for (i = 0; meta && meta[i]; i += 2) { /* key, value, ..., NULL */
        sb_str(b, i ? "," : "\"__metadata__\":{");
        sb_json_string(b, meta[i]);
        sb_str(b, ":");
        sb_json_string(b, meta[i + 1]);
    }
    sb_str(b, meta && meta[0] ? (n ? "}," : "}") : "");
    for (i = 0; i < n; i++) {
        const nnrt_tensor_info *t = &infos[i];
        uint64_t bytes = (uint64_t)t->numel * nnrt_dtype_size(t->dtype);
        sb_str(b, i ? "," : "");
        sb_tensor(b, t->name, nnrt_dtype_name(t->dtype), t->rank, t->shape, pos, pos + bytes);
        pos += bytes;
    }
    return sb_finish_header(path, b, err);
}

/* Write numel elements of dtype at src as little-endian bytes. */
static void write_le(nnrt_afile *w, const unsigned char *src, int dtype,
                     size_t numel)
{
    unsigned char chunk[8192];
    size_t size = nnrt_dtype_size(dtype), per = sizeof chunk / size, k;
    while (numel > 0) {
        size_t m = numel < per ? numel : per;
        for (k = 0; k < m; k++) {
            const unsigned char *s = src + k * size;
            unsigned char *d = chunk + k * size;
            if (size == 8) {
                double v;
                memcpy(&v, s, 8);
                nnrti_st_le64(d, nnrti_f64_bits(v));
            } else if (size == 4) {
                uint32_t v;
                memcpy(&v, s, 4);
                nnrti_st_le32(d, v);
            } else {
                *d = *s;
            }
        }
        nnrt_afile_write(w, chunk, m * size);
        src += m * size;
        numel -= m;
    }
}

/* Validate infos and reject duplicate names (safetensors keys are unique). */
static int check_save_args(const char *path, const nnrt_tensor_info *infos,
                           int n, const void *base, nnrt_err *err)
{
    int i, j, rc;
    size_t off;
    if (n < 0 || (n > 0 && (!infos || !base)))
        return nnrti_fail(err, NNRT_ERR_ARG, "%s: bad tensor list", path);
    for (i = 0; i < n; i++) {
        if ((rc = check_info(path, &infos[i], i, &off, err)) != 0)
            return rc;
        for (j = 0; j < i; j++)
            if (strcmp(infos[i].name, infos[j].name) == 0)
                return nnrti_fail(err, NNRT_ERR_ARG, "%s: tensor '%s' given "
                                  "twice", path, infos[i].name);
    }
    return NNRT_OK;
}

int nnrt_st_save(const char *path, const nnrt_tensor_info *infos, int n,
                 const void *base, nnrt_err *err)
{
    return nnrt_st_save_meta(path, infos, n, base, NULL, err);
}

int nnrt_st_save_meta(const char *path, const nnrt_tensor_info *infos, int n, const void *base,
                      const char *const *meta, nnrt_err *err)
{
    sbuf hdr = {NULL, 0, 0, 0};
    nnrt_afile w;
    unsigned char len8[8];
    int i, rc;

    if (!path)
        return nnrti_fail(err, NNRT_ERR_ARG, "(null): no path given");
    if ((rc = check_save_args(path, infos, n, base, err)) != 0)
        return rc;
    if ((rc = build_header(path, infos, n, meta, &hdr, err)) != 0) {
        free(hdr.s);
        return rc;
    }
    if ((rc = nnrt_afile_open(&w, path, err)) != 0) {
        free(hdr.s);
        return rc;
    }
    nnrti_st_le64(len8, (uint64_t)hdr.n);
    nnrt_afile_write(&w, len8, 8);
    nnrt_afile_write(&w, hdr.s, hdr.n);
    free(hdr.s);
    for (i = 0; i < n; i++) {
        size_t size = nnrt_dtype_size(infos[i].dtype);
        write_le(&w, (const unsigned char *)base + infos[i].offset * size,
                 infos[i].dtype, infos[i].numel);
    }
    return nnrt_afile_commit(&w, err);
}

/* ---- metadata ------------------------------------------------------------ */

/* Read path's header only (checked as nnrt_st_open checks it): tensors can
 * be listed and the metadata read, but no tensor has data. */
int nnrt_st_open_header(const char *path, nnrt_st_file **out, nnrt_err *err)
{
    nnrti_rfile r;
    int rc;
    if (!out)
        return nnrti_fail(err, NNRT_ERR_ARG, "%s: no output pointer", path ? path : "(null)");
    *out = NULL;
    if ((rc = nnrti_ropen(&r, path, err)) != NNRT_OK)
        return rc;
    rc = read_header(&r, out, err);
    nnrti_rclose(&r);
    if (rc != NNRT_OK) {
        nnrt_st_close(*out);
        *out = NULL;
    }
    return rc;
}

/* f's tensors (in file order, at their offsets) and the pairs kv[0..2n)
 * as a padded header, "__metadata__" first. */
static int build_meta_header(const char *path, const nnrt_st_file *f, const char *const *kv, int n, sbuf *b,
                             nnrt_err *err)
{
    int i;
    sb_str(b, "{\"__metadata__\":{");
    for (i = 0; i < n; i++) {
        sb_str(b, i ? "," : "");
        sb_json_string(b, kv[2 * i]);
        sb_str(b, ":");
        sb_json_string(b, kv[2 * i + 1]);
    }
    sb_str(b, "}");
    for (i = 0; i < f->count; i++) {
        const st_entry *e = &f->e[i];
        sb_str(b, ",");
        sb_tensor(b, e->name, e->dt->name, e->rank, e->shape, e->begin, e->end);
    }
    return sb_finish_header(path, b, err);
}

/* Rewrite path (safely, as nnrt_st_save does) with the same tensors and
 * the metadata kv[0..2n) = key, value, ...: it replaces any there was. */
int nnrt_st_set_metadata(const char *path, const char *const *kv, int n, nnrt_err *err)
{
    sbuf hdr = {NULL, 0, 0, 0};
    nnrt_st_file *f = NULL;
    nnrt_afile w;
    unsigned char len8[8];
    int i, rc;
    for (i = 0; i < 2 * n; i++)
        if (!kv || !kv[i])
            return nnrti_fail(err, NNRT_ERR_ARG, "%s: bad metadata list", path ? path : "(null)");
    if ((rc = nnrt_st_open(path, &f, err)) == NNRT_OK && (rc = build_meta_header(path, f, kv, n, &hdr, err)) == 0 &&
        (rc = nnrt_afile_open(&w, path, err)) == NNRT_OK) {
        nnrti_st_le64(len8, (uint64_t)hdr.n);
        nnrt_afile_write(&w, len8, 8);
        nnrt_afile_write(&w, hdr.s, hdr.n);
        nnrt_afile_write(&w, f->data, (size_t)f->data_len);
        rc = nnrt_afile_commit(&w, err);
    }
    free(hdr.s);
    nnrt_st_close(f);
    return rc;
}

/* ---- tensors carried inside another file (the trainer's best weights) ----- */

/* The safetensors bytes buf[0..len), opened whole. */
static int open_mem(const void *buf, size_t len, nnrt_st_file **out, nnrt_err *err)
{
    nnrti_rfile r;
    int rc;
    nnrti_ropen_mem(&r, buf, len, "(safetensors in memory)");
    if ((rc = read_header(&r, out, err)) == NNRT_OK)
        rc = read_data(&r, *out, err);
    if (rc != NNRT_OK) {
        nnrt_st_close(*out);
        *out = NULL;
    }
    return rc;
}

/* Append entry e to a header as a tensor named prefix + its name without
 * its first skip bytes, its data at [begin, begin + its bytes). */
static void sb_entry(sbuf *b, const char *prefix, size_t skip, const st_entry *e, uint64_t begin)
{
    size_t lp = strlen(prefix), ln = strlen(e->name + skip);
    char *name = malloc(lp + ln + 1);
    if (!name) {
        b->oom = 1;
        return;
    }
    memcpy(name, prefix, lp);
    memcpy(name + lp, e->name + skip, ln + 1);
    sb_tensor(b, name, e->dt->name, e->rank, e->shape, begin, begin + (e->end - e->begin));
    free(name);
}

/* The header of f's metadata and tensors followed by g's, named prefix +
 * their names, whose data follows f's. */
static int build_append_header(const char *path, const nnrt_st_file *f, const nnrt_st_file *g, const char *prefix,
                               sbuf *b, nnrt_err *err)
{
    int i;
    sb_str(b, "{\"__metadata__\":{");
    for (i = 0; i < f->nmeta; i++) {
        sb_str(b, i ? "," : "");
        sb_json_string(b, f->meta[2 * i]);
        sb_str(b, ":");
        sb_json_string(b, f->meta[2 * i + 1]);
    }
    sb_str(b, "}");
    for (i = 0; i < f->count; i++) {
        sb_str(b, ",");
        sb_entry(b, "", 0, &f->e[i], f->e[i].begin);
    }
    for (i = 0; i < g->count; i++) {
        sb_str(b, ",");
        sb_entry(b, prefix, 0, &g->e[i], f->data_len + g->e[i].begin);
    }
    return sb_finish_header(path, b, err);
}

/* A name of g that prefix would make equal to one of f's: an error. */
static int check_append_names(const char *path, const nnrt_st_file *f, const nnrt_st_file *g, const char *prefix,
                              nnrt_err *err)
{
    char name[512];
    int i;
    for (i = 0; i < g->count; i++) {
        if (snprintf(name, sizeof name, "%s%s", prefix, g->e[i].name) >= (int)sizeof name)
            return nnrti_fail(err, NNRT_ERR_ARG, "%s: tensor name '%s%s' is too long", path, prefix, g->e[i].name);
        if (lookup(f, name))
            return nnrti_fail(err, NNRT_ERR_ARG, "%s: already has a tensor '%s'", path, name);
    }
    return NNRT_OK;
}

int nnrti_st_append_mem(const char *path, const void *buf, size_t len, const char *prefix, nnrt_err *err)
{
    sbuf hdr = {NULL, 0, 0, 0};
    nnrt_st_file *f = NULL, *g = NULL;
    nnrt_afile w;
    unsigned char len8[8];
    int rc;
    if ((rc = nnrt_st_open(path, &f, err)) == NNRT_OK && (rc = open_mem(buf, len, &g, err)) == NNRT_OK &&
        (rc = check_append_names(path, f, g, prefix, err)) == NNRT_OK &&
        (rc = build_append_header(path, f, g, prefix, &hdr, err)) == NNRT_OK &&
        (rc = nnrt_afile_open(&w, path, err)) == NNRT_OK) {
        nnrti_st_le64(len8, (uint64_t)hdr.n);
        nnrt_afile_write(&w, len8, 8);
        nnrt_afile_write(&w, hdr.s, hdr.n);
        nnrt_afile_write(&w, f->data, (size_t)f->data_len);
        nnrt_afile_write(&w, g->data, (size_t)g->data_len);
        rc = nnrt_afile_commit(&w, err);
    }
    free(hdr.s);
    nnrt_st_close(f);
    nnrt_st_close(g);
    return rc;
}

/* The tensors of f whose names begin with prefix: their header (names
 * without it, data back to back, no metadata) into b; *bytes their data. */
static int build_extract_header(const char *path, const nnrt_st_file *f, const char *prefix, sbuf *b,
                                uint64_t *bytes, nnrt_err *err)
{
    size_t lp = strlen(prefix);
    int i;
    *bytes = 0;
    sb_str(b, "{");
    for (i = 0; i < f->count; i++)
        if (strncmp(f->e[i].name, prefix, lp) == 0) {
            sb_str(b, b->n > 1 ? "," : "");
            sb_entry(b, "", lp, &f->e[i], *bytes);
            *bytes += f->e[i].end - f->e[i].begin;
        }
    if (b->n == 1)
        return nnrti_fail(err, NNRT_ERR_NOT_FOUND, "%s: no tensor named '%s...'", path, prefix);
    return sb_finish_header(path, b, err);
}

int nnrti_st_extract_mem(const char *path, const char *prefix, unsigned char **buf, size_t *len, nnrt_err *err)
{
    sbuf hdr = {NULL, 0, 0, 0};
    nnrt_st_file *f = NULL;
    uint64_t bytes = 0;
    size_t at;
    int i, rc;
    *buf = NULL;
    *len = 0;
    if ((rc = nnrt_st_open(path, &f, err)) == NNRT_OK &&
        (rc = build_extract_header(path, f, prefix, &hdr, &bytes, err)) == NNRT_OK) {
        *buf = malloc(8 + hdr.n + (size_t)bytes + 1);
        if (!*buf)
            rc = nnrti_fail(err, NNRT_ERR_NOMEM, "%s: out of memory", path);
    }
    if (rc == NNRT_OK) {
        nnrti_st_le64(*buf, (uint64_t)hdr.n);
        memcpy(*buf + 8, hdr.s, hdr.n);
        at = 8 + hdr.n;
        for (i = 0; i < f->count; i++)
            if (strncmp(f->e[i].name, prefix, strlen(prefix)) == 0) {
                memcpy(*buf + at, f->data + f->e[i].begin, (size_t)(f->e[i].end - f->e[i].begin));
                at += (size_t)(f->e[i].end - f->e[i].begin);
            }
        *len = at;
    }
    free(hdr.s);
    nnrt_st_close(f);
    return rc;
}

/* ---- load ---------------------------------------------------------------- */

/* Can a file tensor of dtype fdt be loaded into model dtype mdt? */
static int convertible(int fdt, int mdt)
{
    if (fdt == mdt)
        return 1;
    return (fdt == NNRT_F32 || fdt == NNRT_F64) &&
           (mdt == NNRT_F32 || mdt == NNRT_F64);
}

/* Check that info t can be filled from f. */
static int check_load(const char *path, const nnrt_st_file *f,
                      const nnrt_tensor_info *t, int i, nnrt_err *err)
{
    const st_entry *e;
    size_t off;
    int k, rc = check_info(path, t, i, &off, err);
    if (rc)
        return rc;
    e = lookup(f, t->name);
    if (!e)
        return nnrti_fail(err, NNRT_ERR_NOT_FOUND, "%s: tensor '%s' not "
                          "found", path, t->name);
    if (!convertible(e->dt->nnrt, t->dtype))
        return nnrti_fail(err, NNRT_ERR_DTYPE, "%s: tensor '%s' has dtype "
                          "%s, model expects %s", path, t->name, e->dt->name,
                          nnrt_dtype_name(t->dtype));
    for (k = 0; k < t->rank; k++)
        if (e->rank != t->rank || e->shape[k] != t->shape[k])
            break;
    if (e->rank != t->rank || k < t->rank) {
        char fs[160], ms[160];
        shape_str(fs, sizeof fs, e->rank, e->shape);
        shape_str(ms, sizeof ms, t->rank, t->shape);
        return nnrti_fail(err, NNRT_ERR_SHAPE, "%s: tensor '%s' has shape "
                          "%s, model expects %s", path, t->name, fs, ms);
    }
    return NNRT_OK;
}

/* Copy entry e (little-endian, dtype fdt) into dst as dtype mdt. */
static void copy_in(const st_entry *e, const unsigned char *src, int mdt,
                    unsigned char *dst)
{
    int fdt = e->dt->nnrt;
    size_t k, n = e->numel;
    for (k = 0; k < n; k++) {
        if (fdt == NNRT_U8) {
            dst[k] = src[k];
        } else if (fdt == NNRT_I32) {
            uint32_t v = nnrti_ld_le32(src + 4 * k);
            memcpy(dst + 4 * k, &v, 4);
        } else {
            double v = fdt == NNRT_F32
                           ? (double)nnrti_bits_f32(nnrti_ld_le32(src + 4 * k))
                           : nnrti_bits_f64(nnrti_ld_le64(src + 8 * k));
            if (mdt == NNRT_F32) {
                float fv = (float)v;
                memcpy(dst + 4 * k, &fv, 4);
            } else {
                memcpy(dst + 8 * k, &v, 8);
            }
        }
    }
}

/* One tensor a load needs: its entry and the info it fills. */
typedef struct st_need {
    const st_entry *e;
    int info;
} st_need;

static int cmp_need(const void *a, const void *b)
{
    const st_need *x = a, *y = b;
    return x->e->begin < y->e->begin ? -1 : x->e->begin > y->e->begin;
}

/* Read the data of the needed entries (sorted by begin) in file order into
 * one buffer; at[info] gets where each one's bytes are. Gaps are skipped. */
static int read_needed(nnrti_rfile *r, uint64_t data_at, const st_need *need, int n, unsigned char **stage,
                       size_t *at, nnrt_err *err)
{
    size_t total = 0, off = 0;
    int k, rc = NNRT_OK;
    for (k = 0; k < n; k++)
        if (k == 0 || need[k].e != need[k - 1].e)
            total += (size_t)(need[k].e->end - need[k].e->begin);
    *stage = malloc(total ? total : 1);
    if (!*stage)
        return nnrti_fail(err, NNRT_ERR_NOMEM, "%s: out of memory for %zu bytes of tensors", r->path, total);
    for (k = 0; k < n && rc == NNRT_OK; k++) {
        const st_entry *e = need[k].e;
        size_t bytes = (size_t)(e->end - e->begin);
        if (bytes == 0 || (k > 0 && e == need[k - 1].e)) { /* nothing to read, or read already */
            at[need[k].info] = k > 0 && e == need[k - 1].e ? at[need[k - 1].info] : off;
            continue;
        }
        rc = nnrti_rskip(r, data_at + e->begin - r->pos, "the tensor data", err);
        if (rc == NNRT_OK)
            rc = nnrti_rread(r, *stage + off, bytes, e->name, err);
        at[need[k].info] = off;
        off += bytes;
    }
    return rc;
}

/* Check every info against f's header, then read their data and copy it
 * into base (nothing is written to base before everything is read). */
static int load_from(nnrti_rfile *r, const nnrt_st_file *f, const nnrt_tensor_info *infos, int n, void *base,
                     nnrt_err *err)
{
    st_need *need = malloc((size_t)(n ? n : 1) * sizeof *need);
    size_t *at = malloc((size_t)(n ? n : 1) * sizeof *at);
    unsigned char *stage = NULL;
    int i, rc = need && at ? NNRT_OK : nnrti_fail(err, NNRT_ERR_NOMEM, "%s: out of memory", r->path);
    for (i = 0; i < n && rc == NNRT_OK; i++) {
        rc = check_load(r->path, f, &infos[i], i, err);
        need[i].e = rc == NNRT_OK ? lookup(f, infos[i].name) : NULL;
        need[i].info = i;
    }
    if (rc == NNRT_OK) {
        qsort(need, (size_t)n, sizeof *need, cmp_need);
        rc = read_needed(r, r->pos, need, n, &stage, at, err);
    }
    for (i = 0; i < n && rc == NNRT_OK; i++)
        copy_in(need[i].e, stage + at[need[i].info], infos[need[i].info].dtype,
                (unsigned char *)base + infos[need[i].info].offset * nnrt_dtype_size(infos[need[i].info].dtype));
    free(stage);
    free(at);
    free(need);
    return rc;
}

int nnrt_st_load(const char *path, const nnrt_tensor_info *infos, int n, void *base, nnrt_err *err)
{
    nnrti_rfile r;
    nnrt_st_file *f = NULL;
    int rc;
    if (!path)
        return nnrti_fail(err, NNRT_ERR_ARG, "(null): no path given");
    if (n < 0 || (n > 0 && (!infos || !base)))
        return nnrti_fail(err, NNRT_ERR_ARG, "%s: bad tensor list", path);
    if ((rc = nnrti_ropen(&r, path, err)) != NNRT_OK)
        return rc;
    if ((rc = read_header(&r, &f, err)) == NNRT_OK)
        rc = load_from(&r, f, infos, n, base, err);
    nnrti_rclose(&r);
    nnrt_st_close(f);
    return rc;
}

int nnrt_st_load_mem(const void *buf, size_t len, const nnrt_tensor_info *infos, int n, void *base, nnrt_err *err)
{
    static const char name[] = "(safetensors in memory)";
    nnrti_rfile r;
    nnrt_st_file *f = NULL;
    int rc;
    if (!buf || n < 0 || (n > 0 && (!infos || !base)))
        return nnrti_fail(err, NNRT_ERR_ARG, "%s: no bytes or a bad tensor list", name);
    nnrti_ropen_mem(&r, buf, len, name);
    if ((rc = read_header(&r, &f, err)) == NNRT_OK)
        rc = load_from(&r, f, infos, n, base, err);
    nnrt_st_close(f);
    return rc;
}

/* ---- finiteness ------------------------------------------------------------ */

#define SCAN_CHUNK 8192 /* values checked at a time */

/* Index of the first NaN or infinite one of n values of dtype fdt (F32 or
 * F64, little-endian at src), or -1; *what names it. */
static int64_t first_nonfinite(int fdt, const unsigned char *src, size_t n, const char **what)
{
    size_t k;
    for (k = 0; k < n; k++) {
        double v = fdt == NNRT_F32 ? (double)nnrti_bits_f32(nnrti_ld_le32(src + 4 * k))
                                   : nnrti_bits_f64(nnrti_ld_le64(src + 8 * k));
        if (isnan(v) || isinf(v)) {
            *what = isnan(v) ? "NaN" : v > 0 ? "inf" : "-inf";
            return (int64_t)k;
        }
    }
    return -1;
}

/* Check entry e's values chunk by chunk (the file is at e's data). */
static int scan_entry(nnrti_rfile *r, const st_entry *e, unsigned char *buf, nnrt_err *err)
{
    size_t size = e->dt->size, done = 0;
    while (done < e->numel) {
        size_t n = e->numel - done < SCAN_CHUNK ? e->numel - done : SCAN_CHUNK;
        const char *what = "";
        int64_t bad;
        int rc = nnrti_rread(r, buf, n * size, e->name, err);
        if (rc != NNRT_OK)
            return rc;
        bad = first_nonfinite(e->dt->nnrt, buf, n, &what);
        if (bad >= 0)
            return nnrti_fail(err, NNRT_ERR_RANGE, "%s: tensor '%s' holds %s at flat index %llu (of %zu values)",
                              r->path, e->name, what, (unsigned long long)(done + (size_t)bad), e->numel);
        done += n;
    }
    return NNRT_OK;
}

/* Every F32 and F64 entry of f in file order, in bounded memory. */
static int scan_floats(nnrti_rfile *r, const nnrt_st_file *f, nnrt_err *err)
{
    st_need *order = malloc((size_t)(f->count ? f->count : 1) * sizeof *order);
    unsigned char *buf = malloc(SCAN_CHUNK * 8);
    uint64_t data_at = r->pos;
    int k, m = 0, rc = order && buf ? NNRT_OK : nnrti_fail(err, NNRT_ERR_NOMEM, "%s: out of memory", r->path);
    for (k = 0; order && k < f->count; k++)
        if ((f->e[k].dt->nnrt == NNRT_F32 || f->e[k].dt->nnrt == NNRT_F64) && f->e[k].numel > 0) {
            order[m].e = &f->e[k];
            order[m++].info = k;
        }
    if (rc == NNRT_OK)
        qsort(order, (size_t)m, sizeof *order, cmp_need);
    for (k = 0; k < m && rc == NNRT_OK; k++)
        if ((rc = nnrti_rskip(r, data_at + order[k].e->begin - r->pos, "the tensor data", err)) == NNRT_OK)
            rc = scan_entry(r, order[k].e, buf, err);
    free(buf);
    free(order);
    return rc;
}

int nnrt_st_check_finite(const char *path, nnrt_err *err)
{
    nnrti_rfile r;
    nnrt_st_file *f = NULL;
    int rc = nnrti_ropen(&r, path, err);
    if (rc == NNRT_OK && (rc = read_header(&r, &f, err)) == NNRT_OK)
        rc = scan_floats(&r, f, err);
    nnrti_rclose(&r);
    nnrt_st_close(f);
    return rc;
}
