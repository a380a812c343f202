/* io.c — bounded reading: files opened with their kind and size known
 * (fstat), headers read before data, exact-length reads that grow their
 * buffer as bytes arrive (so a short stream never costs what its header
 * claims), and whole-file reads with a cap. Writing is atomic_file.c. */
#define _POSIX_C_SOURCE 200809L

#include "nnrt_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK ((size_t)1 << 20) /* bytes read at a time from a stream */

int nnrti_fail_errno(nnrt_err *err, int status, const char *path, const char *what, int errnum)
{
    char buf[128];
    if (strerror_r(errnum, buf, sizeof buf) != 0)
        snprintf(buf, sizeof buf, "error %d", errnum);
    return nnrti_fail(err, status, "%s: %s: %s", path, what, buf);
}

int nnrti_ropen(nnrti_rfile *r, const char *path, nnrt_err *err)
{
    struct stat st;
    memset(r, 0, sizeof *r);
    r->fd = -1;
    r->path = path ? path : "(null)";
    if (!path)
        return nnrti_fail(err, NNRT_ERR_ARG, "(null): no path given");
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0)
        return nnrti_fail_errno(err, NNRT_ERR_IO, path, "cannot open", errno);
    if (fstat(r->fd, &st) != 0) {
        int e = errno;
        nnrti_rclose(r);
        return nnrti_fail_errno(err, NNRT_ERR_IO, path, "cannot look at it", e);
    }
    if (S_ISDIR(st.st_mode)) {
        nnrti_rclose(r);
        return nnrti_fail(err, NNRT_ERR_IO, "%s: is a directory, not a file", path);
    }
    r->regular = S_ISREG(st.st_mode);
    r->size = r->regular ? (uint64_t)st.st_size : 0;
    return NNRT_OK;
}

void nnrti_rclose(nnrti_rfile *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
}

void nnrti_ropen_mem(nnrti_rfile *r, const void *buf, size_t n, const char *name)
{
    memset(r, 0, sizeof *r);
    r->fd = -1;
    r->regular = 1;
    r->size = n;
    r->path = name;
    r->mem = buf;
}

/* nnrti_rsome from memory: what is left of the bytes, up to n. */
static size_t mem_some(nnrti_rfile *r, void *buf, size_t n)
{
    size_t left = r->pos < r->size ? (size_t)(r->size - r->pos) : 0, k = n < left ? n : left;
    if (k)
        memcpy(buf, r->mem + r->pos, k);
    r->pos += k;
    return k;
}

int nnrti_rsome(nnrti_rfile *r, void *buf, size_t n, size_t *got, nnrt_err *err)
{
    unsigned char *b = buf;
    *got = 0;
    if (r->mem) {
        *got = mem_some(r, buf, n);
        return NNRT_OK;
    }
    while (*got < n) {
        ssize_t k = read(r->fd, b + *got, n - *got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return nnrti_fail_errno(err, NNRT_ERR_IO, r->path, "read failed", errno);
        if (k == 0)
            break;
        *got += (size_t)k;
        r->pos += (uint64_t)k;
    }
    return NNRT_OK;
}

int nnrti_rread(nnrti_rfile *r, void *buf, size_t n, const char *what, nnrt_err *err)
{
    size_t got;
    uint64_t at = r->pos;
    int rc = nnrti_rsome(r, buf, n, &got, err);
    if (rc == NNRT_OK && got < n)
        return nnrti_fail(err, NNRT_ERR_FORMAT, "%s: truncated: %s needs %zu bytes at offset %llu, the file has %zu",
                          r->path, what, n, (unsigned long long)at, got);
    return rc;
}

int nnrti_rskip(nnrti_rfile *r, uint64_t n, const char *what, nnrt_err *err)
{
    unsigned char scratch[4096];
    if (r->regular && n > 0) {
        if (r->mem) {
            r->pos += n;
            return NNRT_OK;
        }
        if (lseek(r->fd, (off_t)(r->pos + n), SEEK_SET) < 0)
            return nnrti_fail_errno(err, NNRT_ERR_IO, r->path, "seek failed", errno);
        r->pos += n;
        return NNRT_OK;
    }
    while (n > 0) {
        size_t step = n < sizeof scratch ? (size_t)n : sizeof scratch;
        int rc = nnrti_rread(r, scratch, step, what, err);
        if (rc != NNRT_OK)
            return rc;
        n -= step;
    }
    return NNRT_OK;
}

int nnrti_rat_end(nnrti_rfile *r, nnrt_err *err)
{
    unsigned char extra;
    size_t got;
    if (r->regular)
        return r->pos >= r->size;
    if (nnrti_rsome(r, &extra, 1, &got, err) != NNRT_OK)
        return -1;
    return got == 0;
}

int nnrti_rread_alloc(nnrti_rfile *r, size_t n, const char *what, unsigned char **out, nnrt_err *err)
{
    size_t have = 0, cap = r->regular || n < CHUNK ? n : CHUNK;
    unsigned char *b = malloc(cap + 1), *nb;
    int rc = NNRT_OK;
    *out = NULL;
    while (b && rc == NNRT_OK && have < n) {
        size_t step = n - have < CHUNK ? n - have : CHUNK;
        if (have + step > cap) { /* a stream: grow as the bytes arrive */
            cap = cap > n / 2 ? n : cap * 2;
            nb = realloc(b, cap + 1);
            if (!nb)
                free(b);
            b = nb;
            if (!b)
                break;
        }
        rc = nnrti_rread(r, b + have, step, what, err);
        have += step;
    }
    if (!b)
        return nnrti_fail(err, NNRT_ERR_NOMEM, "%s: out of memory for %zu bytes of %s", r->path, n, what);
    if (rc != NNRT_OK) {
        free(b);
        return rc;
    }
    b[n] = 0;
    *out = b;
    return NNRT_OK;
}

/* A NUL byte in b[from, from + n) is an error naming its line (b holds the
 * file from its start). */
static int check_text(nnrti_rfile *r, const unsigned char *b, size_t from, size_t n, nnrt_err *err)
{
    const unsigned char *z = memchr(b + from, 0, n), *p;
    size_t line = 1, col = 1;
    if (!z)
        return NNRT_OK;
    for (p = b; p < z; p++) {
        col = *p == '\n' ? 1 : col + 1;
        line += *p == '\n';
    }
    return nnrti_fail(err, NNRT_ERR_FORMAT, "%s: line %zu, byte %zu of it: a NUL byte, not text", r->path, line, col);
}

/* Read a stream to its end (at most cap bytes) into a growing buffer. */
static int read_stream(nnrti_rfile *r, size_t cap, int text, unsigned char **out, size_t *len, nnrt_err *err)
{
    size_t n = 0, size = 0, got = 1;
    unsigned char *buf = NULL, *nb;
    int rc = NNRT_OK;
    while (rc == NNRT_OK && got > 0) {
        if (n == size) {
            size = size == 0 ? CHUNK : size > cap / 2 ? cap + 1 : size * 2;
            nb = realloc(buf, size + 1);
            if (!nb) {
                rc = nnrti_fail(err, NNRT_ERR_NOMEM, "%s: out of memory after %zu bytes", r->path, n);
                break;
            }
            buf = nb;
        }
        rc = nnrti_rsome(r, buf + n, size - n < CHUNK ? size - n : CHUNK, &got, err);
        if (rc == NNRT_OK && text)
            rc = check_text(r, buf, n, got, err);
        n += got;
        if (rc == NNRT_OK && n > cap)
            rc = nnrti_fail(err, NNRT_ERR_FORMAT, "%s: more than %zu bytes, the limit for a data file", r->path, cap);
    }
    if (rc != NNRT_OK) {
        free(buf);
        return rc;
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return NNRT_OK;
}

int nnrti_read_file(const char *path, size_t cap, int text, unsigned char **out, size_t *len, nnrt_err *err)
{
    nnrti_rfile r;
    int rc = nnrti_ropen(&r, path, err);
    if (rc != NNRT_OK)
        return rc;
    if (!r.regular) {
        rc = read_stream(&r, cap, text, out, len, err);
    } else if (r.size > cap) {
        rc = nnrti_fail(err, NNRT_ERR_FORMAT, "%s: %llu bytes, more than %zu, the limit for a data file", path,
                        (unsigned long long)r.size, cap);
    } else if ((rc = nnrti_rread_alloc(&r, (size_t)r.size, "the file", out, err)) == NNRT_OK) {
        *len = (size_t)r.size;
        if (text && (rc = check_text(&r, *out, 0, *len, err)) != NNRT_OK) {
            free(*out);
            *out = NULL;
        }
    }
    nnrti_rclose(&r);
    return rc;
}
