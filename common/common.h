/* common.h — what every part of the compiler shares: source spans,
 * diagnostics, an arena allocator, growable arrays and string buffers.
 *
 *   diag.c   diagnostics: file:line:col: error: message, source line, caret
 *   diag_json.c  the same as a JSON array (gcc 10+) or a SARIF 2.1.0 log
 *   arena.c  arena allocator, strings, string buffers, edit distance
 *   (here)   checked size arithmetic, inline
 *
 * No global mutable state: every function takes its context explicitly.
 */
#ifndef NNC_COMMON_H
#define NNC_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ---- source spans (diag.c) --------------------------------------------- */

/* A range of source text: 1-based line/column of the first character and
 * the column one past the last character on the last line. */
typedef struct src_span {
    int line, col;         /* first character */
    int end_line, end_col; /* one past the last character */
} src_span;

/* How diagnostics are written (-fdiagnostics-format): gcc's text, a JSON
 * array as gcc 10+ writes one, or one SARIF 2.1.0 log. */
typedef enum diag_format { DIAG_TEXT, DIAG_JSON, DIAG_SARIF } diag_format;

/* Where diagnostics go and how many were reported. */
typedef struct diag_ctx {
    const char *file; /* name printed in messages ("<stdin>" for -) */
    const char *src;  /* the whole source text, NUL-terminated */
    size_t len;       /* bytes in src */
    FILE *out;        /* stream to print to (NULL: count only) */
    int color;        /* 1: ANSI colours */
    int errors;       /* errors reported so far */
    int max_errors;   /* stop printing after this many (0: no limit) */
    diag_format format;
    int printed;      /* JSON/SARIF: diagnostics written so far */
    int open;         /* JSON/SARIF: the last one is still open for its notes */
    int children;     /* JSON/SARIF: notes written into the open one */
} diag_ctx;

void diag_init(diag_ctx *d, const char *file, const char *src, size_t len,
               FILE *out, int color);
/* Report an error at span: "file:line:col: error: msg", the source line and
 * a caret with ~~~ under the span. */
void diag_error(diag_ctx *d, src_span at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A note attached to the previous error (does not count as an error). */
void diag_note(diag_ctx *d, src_span at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* An error with no source position: "nnc: error: msg". */
void diag_plain(diag_ctx *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
src_span span_join(src_span a, src_span b);
/* JSON and SARIF: closes the array or log (an empty one when nothing was
 * reported); call once when done. Text: nothing. */
void diag_finish(diag_ctx *d);
/* JSON and SARIF (diag_json.c): one diagnostic of kind "error" or "note";
 * at NULL: no position. diag_error, diag_note and diag_plain call it. */
void diag_json_report(diag_ctx *d, const src_span *at, const char *kind, const char *fmt, va_list ap);

/* ---- arena (arena.c) --------------------------------------------------- */

/* A bump allocator made of chunks; everything is freed at once. */
typedef struct arena_chunk arena_chunk;
typedef struct arena {
    arena_chunk *head; /* newest chunk */
} arena;

void arena_init(arena *a);
void *arena_alloc(arena *a, size_t size); /* zeroed, 16-byte aligned; aborts only on OOM */
char *arena_strdup(arena *a, const char *s);
char *arena_strndup(arena *a, const char *s, size_t n);
char *arena_printf(arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void arena_free(arena *a);

/* Growable array in the arena: ARR(T) fields data/len/cap. */
#define ARR(T) struct { T *data; int len, cap; }
#define arr_push(a, arr, v)                                                \
    do {                                                                   \
        if ((arr).len == (arr).cap) {                                      \
            int nc_ = (arr).cap ? 2 * (arr).cap : 8;                       \
            void *nd_ = arena_alloc((a), (size_t)nc_ * sizeof *(arr).data); \
            if ((arr).len)                                                 \
                memcpy(nd_, (arr).data, (size_t)(arr).len * sizeof *(arr).data); \
            (arr).data = nd_;                                              \
            (arr).cap = nc_;                                               \
        }                                                                  \
        (arr).data[(arr).len++] = (v);                                     \
    } while (0)

/* ---- string buffer (arena.c) ------------------------------------------- */

/* A malloc'd growing string, for emitting code and text. */
typedef struct strbuf {
    char *s;    /* NUL-terminated contents */
    size_t len; /* bytes used, without the NUL */
    size_t cap; /* bytes allocated */
} strbuf;

void sb_init(strbuf *b);
void sb_printf(strbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sb_vprintf(strbuf *b, const char *fmt, va_list ap);
void sb_puts(strbuf *b, const char *s);
void sb_free(strbuf *b);

/* Levenshtein distance, for "did you mean" suggestions. */
int edit_distance(const char *a, const char *b);

/* ---- checked size arithmetic ------------------------------------------- */

/* The sizes, offsets and counts the compiler computes from a model go
 * through these (or the builtins they wrap), never a bare * or + that could
 * wrap. ck_*_i64: *r = a op b and 0, or 1 (with *r unspecified) when the
 * result does not fit an int64_t. */
static inline int ck_mul_i64(int64_t a, int64_t b, int64_t *r) { return __builtin_mul_overflow(a, b, r); }
static inline int ck_add_i64(int64_t a, int64_t b, int64_t *r) { return __builtin_add_overflow(a, b, r); }
/* Saturating size_t arithmetic: SIZE_MAX when the result does not fit, so
 * that a total that overflowed compares above every limit. */
static inline size_t ck_add_sat(size_t a, size_t b) {
    size_t r;
    return __builtin_add_overflow(a, b, &r) ? SIZE_MAX : r;
}
static inline size_t ck_mul_sat(size_t a, size_t b) {
    size_t r;
    return __builtin_mul_overflow(a, b, &r) ? SIZE_MAX : r;
}

#endif /* NNC_COMMON_H */
