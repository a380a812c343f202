/* nnrt_internal.h — helpers shared by the libnnrt source files.
 *
 * Not part of the public contract (nnrt.h); nothing outside runtime/ should
 * include this. Error formatting and LE/BE codecs live here as inline
 * functions. The files of runtime/:
 *
 *   nnrt.h             the public contract: everything libnnrt.a exports
 *   nnrt_gemm.h        the matrix products generated kernels call
 *   nnrt_internal.h    this file
 *   status.c           status strings, dtype helpers, error formatting
 *   gemm.c             GEMM: packing, micro-kernels per ISA, epilogues, OpenMP
 *   gemm_dispatch.c    the GEMM entry points: picks gemm.c's build for this CPU
 *   philox.c           Philox4x32-10 and the initializers on it
 *   io.c               bounded reading (headers before data, size caps)
 *   atomic_file.h, atomic_file.c  safe saving, shared with the nnc driver
 *   safetensors.c      safetensors read and write
 *   st_partial.c       partial loads for fine-tuning (strict=False, prefix maps)
 *   checkpoint.c       exact checkpoints: parameters, optimizer state, step, rng
 *   ckpt_objectives.c  one checkpoint for several objectives: their own, joined and split
 *   augment.c          the trainer's image augmentation (shifts, flips, rotations, noise)
 *   data.c             IDX and CSV data sets, split and gather
 *   metrics.c          accuracy counters, argmax
 *   train.c            training-loop helpers: shuffle, clock, progress bar
 *   schedule.c         learning-rate schedules, the --schedule spec, gradient clipping
 *   trainer.h          the trainer program nnrt_main, split over trainer*.c
 *   isa/nnrt_isa.c     forces one GEMM path, outside libnnrt.a: build/nnrt_isa_{avx512,avx2,c}.o
 *   png/nnrt_png.h, png/nnrt_png.c  PNG grids through libpng, outside libnnrt.a: build/nnrt_png.o, -lpng
 *   cuda/nnrt_cuda.h   libnnrt_cuda (CUDA target): nnrt_cuda.cu, nnrt_philox.cuh
 *   cuda/nnrt_cuda.cu  its error reporting, execution context, index check
 *   mpi/nnrt_mpi.c     libnnrt_mpi.a (built with mpicc, not in libnnrt): nnrt_mpi_main
 */
#ifndef NNRT_INTERNAL_H
#define NNRT_INTERNAL_H

#include "atomic_file.h"
#include "nnrt.h"
#include "nnrt_gemm.h"

#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define NNRTI_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define NNRTI_PRINTF(f, a)
#endif

/* gemm.c's blocks: KC, most rows of op(B) per K block (a B panel, KC x NR
 * floats, stays in L1); MC, rows of op(A) packed at once (MC x KC in L2);
 * NC, columns of op(B) packed at once (KC x NC, reused across all of M).
 * nnrt_sgemm_ws_floats (gemm_dispatch.c) sizes workspaces with them. */
#ifndef NNRT_KC
#define NNRT_KC 256
#endif
#ifndef NNRT_MC
#define NNRT_MC 192
#endif
#ifndef NNRT_NC
#define NNRT_NC 1024
#endif
/* K blocks of (nearly) equal size, at most NNRT_KC, a multiple of 8 where K allows */
static inline long nnrti_gemm_k_block(long K) {
    long nk = (K + NNRT_KC - 1) / NNRT_KC, kc = (K + nk - 1) / nk;
    kc = (kc + 7) / 8 * 8;
    return kc < K ? kc : K;
}

/* One build of gemm.c (its micro-kernels for one ISA): the name that
 * nnrt_gemm_isa() reports, and its products. gemm_dispatch.c picks one. */
typedef struct nnrt_gemm_impl {
    const char *isa;
    /* ws: the caller's workspace of nws floats (NULL: the stack or, hosted, the heap) */
    void (*sgemm_ws_ep)(int ta, int tb, long M, long N, long K, const float *A, long lda, const float *B, long ldb,
                        float beta, float *C, long ldc, nnrt_gemm_epilogue ep, void *ctx, float *ws, long nws);
    void (*dgemm_ep)(int ta, int tb, long M, long N, long K, const double *A, long lda, const double *B, long ldb,
                     double beta, double *C, long ldc, nnrt_gemm_epilogue ep, void *ctx);
} nnrt_gemm_impl;

/* Write a printf-style message into err (when non-NULL) and return status.
 * Implemented in status.c. */
int nnrti_fail(nnrt_err *err, int status, const char *fmt, ...)
    NNRTI_PRINTF(3, 4);

/* "path: what: strerror(errnum)", returns status. Implemented in io.c. */
int nnrti_fail_errno(nnrt_err *err, int status, const char *path,
                     const char *what, int errnum);

/* The most bytes a data file (CSV, text, IDX) may hold: 4 GiB (less on
 * 32-bit hosts). Larger files are refused with a message naming the cap. */
#define NNRTI_MAX_DATA_BYTES (SIZE_MAX / 2 < UINT64_C(4294967296) ? SIZE_MAX / 2 : (size_t)UINT64_C(4294967296))

/* An input file opened for bounded reading (io.c). Headers are read first
 * and checked against the size of a regular file before any data is. */
typedef struct nnrti_rfile {
    int fd;           /* -1 when closed */
    int regular;      /* 1 for a regular file: size is known */
    uint64_t size;    /* its size (regular files only) */
    uint64_t pos;     /* bytes consumed so far */
    const char *path; /* for messages (borrowed) */
    const unsigned char *mem; /* nnrti_ropen_mem: the bytes read (fd -1), else NULL */
} nnrti_rfile;

/* A safetensors file's header only (safetensors.c): descriptions and
 * metadata, no data. */
int nnrti_st_open_header(const char *path, nnrt_st_file **out, nnrt_err *err);
/* Rewrite path (safely) with its metadata and tensors and, after them, the
 * tensors of the safetensors file at buf[0..len), each named prefix + its
 * name (a name path has already is an error). */
int nnrti_st_append_mem(const char *path, const void *buf, size_t len, const char *prefix, nnrt_err *err);
/* The tensors of path whose names begin with prefix, prefix removed, as the
 * bytes of a safetensors file (malloc'd, *len long): what
 * nnrti_st_append_mem added. NNRT_ERR_NOT_FOUND when there are none. */
int nnrti_st_extract_mem(const char *path, const char *prefix, unsigned char **buf, size_t *len, nnrt_err *err);

/* Open path for reading; a directory is an error. */
int nnrti_ropen(nnrti_rfile *r, const char *path, nnrt_err *err);
void nnrti_rclose(nnrti_rfile *r);
/* Read n bytes at buf (borrowed) as a regular file named name. */
void nnrti_ropen_mem(nnrti_rfile *r, const void *buf, size_t n, const char *name);
/* Up to n bytes (fewer only at the end of the file) into buf; *got. */
int nnrti_rsome(nnrti_rfile *r, void *buf, size_t n, size_t *got, nnrt_err *err);
/* Exactly n bytes; a short file is NNRT_ERR_FORMAT "PATH: truncated: WHAT
 * needs N bytes at offset O, the file has M". */
int nnrti_rread(nnrti_rfile *r, void *buf, size_t n, const char *what, nnrt_err *err);
/* Exactly n bytes into a new buffer (with a NUL after them) that grows as a
 * stream delivers them, so a short stream fails before n bytes are spent. */
int nnrti_rread_alloc(nnrti_rfile *r, size_t n, const char *what, unsigned char **out, nnrt_err *err);
/* Skip n bytes (a seek on a regular file). */
int nnrti_rskip(nnrti_rfile *r, uint64_t n, const char *what, nnrt_err *err);
/* 1 at the end of the file, 0 if more bytes follow, -1 on a read error. */
int nnrti_rat_end(nnrti_rfile *r, nnrt_err *err);

/* A whole file of at most cap bytes (checked via fstat before reading a
 * regular file, while reading a stream) into a malloc'd buffer with one
 * extra NUL byte after the contents; *len excludes the NUL. text: a NUL
 * byte in the file is an error ("not a text file"). Returns NNRT_OK,
 * NNRT_ERR_IO, NNRT_ERR_FORMAT or NNRT_ERR_NOMEM. */
int nnrti_read_file(const char *path, size_t cap, int text, unsigned char **buf, size_t *len, nnrt_err *err);

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
