/* nnrt_internal.h — helpers shared by the libnnrt source files.
 *
 * Not part of the public contract (nnrt.h); nothing outside runtime/ should
 * include this. Error formatting and LE/BE codecs live here as inline
 * functions; file reading and the tmp+rename writer live in io.c.
 */
#ifndef NNRT_INTERNAL_H
#define NNRT_INTERNAL_H

#include "nnrt.h"

#include <stdarg.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define NNRTI_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define NNRTI_PRINTF(f, a)
#endif

/* Write a printf-style message into err (when non-NULL) and return status.
 * Implemented in status.c. */
int nnrti_fail(nnrt_err *err, int status, const char *fmt, ...)
    NNRTI_PRINTF(3, 4);

/* "path: what: strerror(errnum)", returns status. Implemented in io.c. */
int nnrti_fail_errno(nnrt_err *err, int status, const char *path,
                     const char *what, int errnum);

/* Read a whole file into a malloc'd buffer with one extra NUL byte after the
 * contents (so text parsers may rely on termination). *len excludes the NUL.
 * Returns NNRT_OK, NNRT_ERR_IO or NNRT_ERR_NOMEM. */
int nnrti_read_file(const char *path, unsigned char **buf, size_t *len,
                    nnrt_err *err);

/* Writer that produces "path.tmp" and renames it over "path" on commit. */
typedef struct nnrti_wfile {
    FILE *f;          /* the open temporary file, NULL when closed */
    char *tmp;        /* "path.tmp", malloc'd */
    const char *path; /* final name (borrowed from the caller) */
    int werr;         /* errno of the first failed write, 0 if none */
} nnrti_wfile;

/* Create path.tmp for writing. On failure nothing is left behind. */
int nnrti_wopen(nnrti_wfile *w, const char *path, nnrt_err *err);
/* Append bytes; errors are sticky and reported by nnrti_wcommit. */
void nnrti_wwrite(nnrti_wfile *w, const void *p, size_t n);
/* Flush, fsync, close and rename over path. On any failure path.tmp is
 * removed, path is untouched, and an error is returned. */
int nnrti_wcommit(nnrti_wfile *w, nnrt_err *err);
/* Give up: close and remove path.tmp. Safe after a failed commit. */
void nnrti_wabort(nnrti_wfile *w);

/* a * b into *out; returns 0 on size_t overflow. */
static inline int nnrti_mul_ok(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > (size_t)-1 / a)
        return 0;
    *out = a * b;
    return 1;
}

/* Little-endian and big-endian loads and stores, independent of the host. */
static inline uint32_t nnrti_ld_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}
static inline uint64_t nnrti_ld_le64(const unsigned char *p)
{
    return (uint64_t)nnrti_ld_le32(p) | (uint64_t)nnrti_ld_le32(p + 4) << 32;
}
static inline uint32_t nnrti_ld_be32(const unsigned char *p)
{
    return (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 |
           (uint32_t)p[0] << 24;
}
static inline void nnrti_st_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}
static inline void nnrti_st_le64(unsigned char *p, uint64_t v)
{
    nnrti_st_le32(p, (uint32_t)v);
    nnrti_st_le32(p + 4, (uint32_t)(v >> 32));
}
static inline void nnrti_st_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Bit casts between floats and their IEEE-754 encodings. */
static inline uint32_t nnrti_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}
static inline float nnrti_bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
static inline uint64_t nnrti_f64_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}
static inline double nnrti_bits_f64(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

#endif /* NNRT_INTERNAL_H */
