/* diag_json.c — diagnostics for tools (-fdiagnostics-format=json|sarif):
 *
 *   json   one JSON array, as gcc 10+ writes it: an object per error with
 *          kind, message, column-origin, locations (caret and finish, each
 *          file/line/column; finish is the last character) and children
 *          (its notes, in the same shape)
 *   sarif  one SARIF 2.1.0 log: a run of tool nnc whose results carry
 *          level, message.text, locations (physicalLocation with region
 *          startLine/startColumn/endLine/endColumn, the end one past the
 *          last character) and relatedLocations (its notes)
 *
 * Diagnostics stream out as they come: an error stays open for its notes
 * until the next error or diag_finish closes it. Columns count bytes from 1.
 */
#include "common.h"

/* s as a JSON string, quoted and escaped. */
static void json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p == '\n') fputs("\\n", f);
        else if (*p < 32) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

/* The span's last character: its end column less one, on the same line at least. */
static int finish_col(src_span at) {
    return at.end_line > at.line || at.end_col > at.col + 1 ? at.end_col - 1 : at.col;
}

static void json_point(FILE *f, const char *file, int line, int col) {
    fputs("{\"file\": ", f);
    json_string(f, file);
    fprintf(f, ", \"line\": %d, \"column\": %d}", line, col);
}

static void json_locations(const diag_ctx *d, const src_span *at) {
    if (!at) {
        fputs("\"locations\": []", d->out);
        return;
    }
    fputs("\"locations\": [{\"caret\": ", d->out);
    json_point(d->out, d->file, at->line, at->col);
    fputs(", \"finish\": ", d->out);
    json_point(d->out, d->file, at->end_line > at->line ? at->end_line : at->line, finish_col(*at));
    fputs("}]", d->out);
}

static void sarif_location(const diag_ctx *d, const src_span *at) {
    int end_line = at->end_line > at->line ? at->end_line : at->line;
    int end_col = end_line > at->line || at->end_col > at->col ? at->end_col : at->col + 1;
    fputs("\"physicalLocation\": {\"artifactLocation\": {\"uri\": ", d->out);
    json_string(d->out, d->file);
    fprintf(d->out, "}, \"region\": {\"startLine\": %d, \"startColumn\": %d, \"endLine\": %d, \"endColumn\": %d}}",
            at->line, at->col, end_line, end_col);
}

static void sarif_locations(const diag_ctx *d, const src_span *at) {
    fputs("\"locations\": [", d->out);
    if (at) {
        fputs("{", d->out);
        sarif_location(d, at);
        fputs("}", d->out);
    }
    fputs("]", d->out);
}

/* Closes the open diagnostic's list of notes and the diagnostic. */
static void close_open(diag_ctx *d) {
    if (d->open) fputs("]}", d->out);
    d->open = 0;
}

/* The array (json) or the log up to its results (sarif), before the first. */
static void start_list(const diag_ctx *d) {
    if (d->format == DIAG_JSON) {
        fputs("[", d->out);
        return;
    }
    fputs("{\"$schema\": \"https://json.schemastore.org/sarif-2.1.0.json\", \"version\": \"2.1.0\", "
          "\"runs\": [{\"tool\": {\"driver\": {\"name\": \"nnc\"}}, \"results\": [", d->out);
}

/* A note of the open diagnostic: a child (json) or a related location (sarif). */
static void child(diag_ctx *d, const src_span *at, const char *msg) {
    fputs(d->children++ ? ",\n    " : "\n    ", d->out);
    if (d->format == DIAG_JSON) {
        fputs("{\"kind\": \"note\", \"message\": ", d->out);
        json_string(d->out, msg);
        fputs(", ", d->out);
        json_locations(d, at);
    } else {
        fputs("{\"message\": {\"text\": ", d->out);
        json_string(d->out, msg);
        fputs("}", d->out);
        if (at) {
            fputs(", ", d->out);
            sarif_location(d, at);
        }
    }
    fputs("}", d->out);
}

/* A new top-level diagnostic, left open for its notes. */
static void top(diag_ctx *d, const src_span *at, const char *kind, const char *msg) {
    close_open(d);
    if (!d->printed++) start_list(d);
    else fputs(",\n", d->out);
    if (d->format == DIAG_JSON) {
        fprintf(d->out, "{\"kind\": \"%s\", \"column-origin\": 1, \"message\": ", kind);
        json_string(d->out, msg);
        fputs(", ", d->out);
        json_locations(d, at);
        fputs(", \"children\": [", d->out);
    } else {
        fprintf(d->out, "{\"level\": \"%s\", \"message\": {\"text\": ", kind);
        json_string(d->out, msg);
        fputs("}, ", d->out);
        sarif_locations(d, at);
        fputs(", \"relatedLocations\": [", d->out);
    }
    d->open = 1;
    d->children = 0;
}

void diag_json_report(diag_ctx *d, const src_span *at, const char *kind, const char *fmt, va_list ap) {
    strbuf msg;
    sb_init(&msg);
    sb_vprintf(&msg, fmt, ap);
    if (!strcmp(kind, "note") && d->open) child(d, at, msg.s);
    else top(d, at, kind, msg.s);
    sb_free(&msg);
}

void diag_finish(diag_ctx *d) {
    if (d->format == DIAG_TEXT || !d->out) return;
    if (!d->printed) start_list(d);
    close_open(d);
    fputs(d->format == DIAG_JSON ? "]\n" : "]}]}\n", d->out);
    d->printed = 0;
}
