/* diag.c — compiler diagnostics in the gcc style:
 *
 *   model.nn:3:17: error: unknown op 'relux'; did you mean 'relu'?
 *       3 |     h = x -> relux
 *         |              ^~~~~
 */
#include "common.h"

#include <string.h>

void diag_init(diag_ctx *d, const char *file, const char *src, size_t len,
               FILE *out, int color) {
    memset(d, 0, sizeof *d);
    d->file = file;
    d->src = src;
    d->len = len;
    d->out = out;
    d->color = color;
    d->max_errors = 20;
}

src_span span_join(src_span a, src_span b) {
    src_span s = a;
    s.end_line = b.end_line;
    s.end_col = b.end_col;
    return s;
}

/* Start of line `line` (1-based) in src, or NULL. */
static const char *line_start(const diag_ctx *d, int line, size_t *n) {
    const char *p = d->src, *end = d->src + d->len;
    if (!p || line < 1) return NULL;
    for (int l = 1; l < line; l++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) return NULL;
        p = nl + 1;
    }
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    *n = nl ? (size_t)(nl - p) : (size_t)(end - p);
    if (*n && p[*n - 1] == '\r') (*n)--;
    return p;
}

static void show_source(const diag_ctx *d, src_span at, const char *col) {
    size_t n;
    const char *p = line_start(d, at.line, &n);
    if (!p) return;
    fprintf(d->out, "%5d | ", at.line);
    for (size_t i = 0; i < n; i++) /* tabs print as one space to keep the caret aligned */
        fputc(p[i] == '\t' ? ' ' : (unsigned char)p[i] < 32 ? '?' : p[i], d->out);
    fputs("\n      | ", d->out);
    int last = (at.end_line == at.line && at.end_col > at.col) ? at.end_col : at.col + 1;
    if (last > (int)n + 1) last = (int)n + 1;
    if (last <= at.col) last = at.col + 1;
    for (int c = 1; c < at.col; c++) fputc(' ', d->out);
    if (d->color) fputs(col, d->out);
    fputc('^', d->out);
    for (int c = at.col + 1; c < last; c++) fputc('~', d->out);
    if (d->color) fputs("\033[0m", d->out);
    fputc('\n', d->out);
}

static void report(diag_ctx *d, src_span at, const char *kind, const char *col,
                   const char *fmt, va_list ap) {
    if (!d->out) return;
    if (d->format != DIAG_TEXT) {
        diag_json_report(d, &at, kind, fmt, ap);
        return;
    }
    if (d->color) fprintf(d->out, "\033[1m");
    fprintf(d->out, "%s:%d:%d: ", d->file, at.line, at.col);
    if (d->color) fprintf(d->out, "%s%s:\033[0m\033[1m ", col, kind);
    else fprintf(d->out, "%s: ", kind);
    vfprintf(d->out, fmt, ap);
    if (d->color) fprintf(d->out, "\033[0m");
    fputc('\n', d->out);
    show_source(d, at, col);
}

void diag_error(diag_ctx *d, src_span at, const char *fmt, ...) {
    d->errors++;
    if (d->max_errors && d->errors > d->max_errors) {
        if (d->errors == d->max_errors + 1 && d->out && d->format == DIAG_TEXT)
            fprintf(d->out, "%s: too many errors, stopping\n", d->file);
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    report(d, at, "error", "\033[31m", fmt, ap);
    va_end(ap);
}

void diag_note(diag_ctx *d, src_span at, const char *fmt, ...) {
    if (d->max_errors && d->errors > d->max_errors) return;
    va_list ap;
    va_start(ap, fmt);
    report(d, at, "note", "\033[36m", fmt, ap);
    va_end(ap);
}

void diag_plain(diag_ctx *d, const char *fmt, ...) {
    d->errors++;
    if (!d->out) return;
    va_list ap;
    va_start(ap, fmt);
    if (d->format != DIAG_TEXT) {
        diag_json_report(d, NULL, "error", fmt, ap);
        va_end(ap);
        return;
    }
    fprintf(d->out, "nnc: error: ");
    vfprintf(d->out, fmt, ap);
    fputc('\n', d->out);
    va_end(ap);
}
