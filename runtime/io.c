/* io.c — whole-file reads and atomic (tmp + rename) writes. */
#define _POSIX_C_SOURCE 200809L

#include "nnrt_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int nnrti_fail_errno(nnrt_err *err, int status, const char *path,
                     const char *what, int errnum)
{
    char buf[128];
    if (strerror_r(errnum, buf, sizeof buf) != 0)
        snprintf(buf, sizeof buf, "error %d", errnum);
    return nnrti_fail(err, status, "%s: %s: %s", path, what, buf);
}

/* Grow *buf (capacity *cap) so it holds at least need bytes. */
static int grow(unsigned char **buf, size_t *cap, size_t need)
{
    size_t ncap = *cap ? *cap : 65536;
    unsigned char *nb;
    while (ncap < need) {
        if (ncap > (size_t)-1 / 2)
            return 0;
        ncap *= 2;
    }
    nb = realloc(*buf, ncap);
    if (!nb)
        return 0;
    *buf = nb;
    *cap = ncap;
    return 1;
}

int nnrti_read_file(const char *path, unsigned char **out, size_t *len,
                    nnrt_err *err)
{
    FILE *f;
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0;
    int e;

    if (!path)
        return nnrti_fail(err, NNRT_ERR_ARG, "(null): no path given");
    f = fopen(path, "rb");
    if (!f)
        return nnrti_fail_errno(err, NNRT_ERR_IO, path, "cannot open",
                                errno);
    for (;;) {
        size_t got;
        if (n + 1 >= cap && !grow(&buf, &cap, n + 65536 + 1)) {
            free(buf);
            fclose(f);
            return nnrti_fail(err, NNRT_ERR_NOMEM, "%s: out of memory "
                              "reading %zu bytes", path, n);
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    e = errno;
    if (ferror(f)) {
        free(buf);
        fclose(f);
        return nnrti_fail_errno(err, NNRT_ERR_IO, path, "read failed", e);
    }
    fclose(f);
    buf[n] = 0;
    *out = buf;
    *len = n;
    return NNRT_OK;
}

int nnrti_wopen(nnrti_wfile *w, const char *path, nnrt_err *err)
{
    size_t plen;
    memset(w, 0, sizeof *w);
    if (!path)
        return nnrti_fail(err, NNRT_ERR_ARG, "(null): no path given");
    plen = strlen(path);
    w->path = path;
    w->tmp = malloc(plen + 5);
    if (!w->tmp)
        return nnrti_fail(err, NNRT_ERR_NOMEM, "%s: out of memory", path);
    memcpy(w->tmp, path, plen);
    memcpy(w->tmp + plen, ".tmp", 5);
    w->f = fopen(w->tmp, "wb");
    if (!w->f) {
        int e = errno;
        nnrti_fail_errno(err, NNRT_ERR_IO, w->tmp, "cannot create", e);
        free(w->tmp);
        w->tmp = NULL;
        return NNRT_ERR_IO;
    }
    return NNRT_OK;
}

void nnrti_wwrite(nnrti_wfile *w, const void *p, size_t n)
{
    if (!w->f || w->werr || n == 0)
        return;
    if (fwrite(p, 1, n, w->f) != n)
        w->werr = errno ? errno : EIO;
}

int nnrti_wcommit(nnrti_wfile *w, nnrt_err *err)
{
    int e = w->werr;
    const char *what = "write failed";

    if (!w->f)
        return nnrti_fail(err, NNRT_ERR_IO, "%s: not open", w->path);
    if (!e && fflush(w->f) != 0)
        e = errno ? errno : EIO;
    if (!e && fsync(fileno(w->f)) != 0 && errno != EINVAL)
        e = errno;
    if (fclose(w->f) != 0 && !e)
        e = errno ? errno : EIO;
    w->f = NULL;
    if (!e && rename(w->tmp, w->path) != 0) {
        e = errno;
        what = "cannot rename temporary file over it";
    }
    if (e) {
        nnrti_fail_errno(err, NNRT_ERR_IO, w->path, what, e);
        nnrti_wabort(w);
        return NNRT_ERR_IO;
    }
    free(w->tmp);
    w->tmp = NULL;
    return NNRT_OK;
}

void nnrti_wabort(nnrti_wfile *w)
{
    if (w->f) {
        fclose(w->f);
        w->f = NULL;
    }
    if (w->tmp) {
        remove(w->tmp);
        free(w->tmp);
        w->tmp = NULL;
    }
}
