/* nnc.c — the command line. Parses options, reads the source, runs the
 * pipeline (compile.c) and writes the outputs atomically.
 * Exit status: 0 ok, 1 compile errors, 2 usage errors. */
#define _POSIX_C_SOURCE 200809L
#include "compile.h"
#include "../runtime/atomic_file.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#ifndef NNC_VERSION
#define NNC_VERSION "0.1.0"
#endif

static const char usage_text[] =
    "usage: nnc [options] file.nn        (file '-' reads standard input)\n"
    "\n"
    "  -o FILE          output file (model.c; the header goes beside it as model.h)\n"
    "  --target=c|cuda  code generator: C (model.c) or CUDA (model.cu, see docs/cuda.md)\n"
    "  --emit=KIND      c (default), ast, ir, ir-train, dot, kernels\n"
    "  --name NAME      prefix of every generated symbol (default: the model name)\n"
    "  -D NAME=VALUE    override a const\n"
    "  -O0 .. -O3       optimization level (default -O2; -O0 disables folding)\n"
    "  --dtype=f32|f64  element type of the generated code (default f32)\n"
    "  --main           also emit a trainer main(): prog train|eval|predict\n"
    "  --stats          print arena bytes, naive buffer sum and kernel counts\n"
    "  --no-fuse        no elementwise or GEMM-epilogue fusion (each op its own kernel)\n"
    "  --print-after=P  print the IR after pass P (elab, fold, cse, autodiff, fuse) to stderr\n"
    "  --version, --help\n";

typedef struct cli {
    nnc_options o;
    const char *input;  /* path or "-" */
    const char *output; /* -o, or NULL */
    ARR(elab_define) defs;
    arena a;
} cli;

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "nnc: error: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%s", usage_text);
    return 2;
}

/* "--opt=value" or "--opt value": the value, advancing *i as needed. */
static const char *value_of(int argc, char **argv, int *i, const char *opt) {
    size_t n = strlen(opt);
    if (!strncmp(argv[*i], opt, n) && argv[*i][n] == '=') return argv[*i] + n + 1;
    if (!strcmp(argv[*i], opt) && *i + 1 < argc) return argv[++*i];
    return NULL;
}

static int is_opt(const char *arg, const char *opt) {
    size_t n = strlen(opt);
    return !strncmp(arg, opt, n) && (arg[n] == 0 || arg[n] == '=');
}

static int parse_define(cli *c, const char *s) {
    const char *eq = strchr(s, '=');
    if (!eq || eq == s) return usage_error("-D expects NAME=VALUE, got '%s'", s);
    char *end;
    errno = 0;
    double v = strtod(eq + 1, &end);
    if (*end || end == eq + 1 || errno) return usage_error("-D value must be a number: '%s'", s);
    elab_define d = {arena_strndup(&c->a, s, (size_t)(eq - s)), v, !strpbrk(eq + 1, ".eEnNiI"), 0};
    arr_push(&c->a, c->defs, d);
    return 0;
}

static int parse_emit(cli *c, const char *v) {
    static const char *const kinds[] = {"c", "ast", "ir", "ir-train", "dot", "kernels"};
    for (int k = 0; k < 6; k++)
        if (!strcmp(v, kinds[k])) return c->o.emit = (nnc_emit)k, 0;
    return usage_error("unknown --emit kind '%s' (c, ast, ir, ir-train, dot, kernels)", v);
}

static int parse_valued(cli *c, int argc, char **argv, int *i) {
    static const char *const valued[] = {"--emit", "--target", "--name", "--dtype", "--print-after", "-o", "-D"};
    const char *a = argv[*i], *v = NULL, *opt = NULL;
    for (int k = 0; k < 7 && !opt; k++)
        if (is_opt(a, valued[k]) && (valued[k][1] == '-' || !a[2])) opt = valued[k];
    if (!opt) return usage_error("unknown option '%s'", a);
    if (!(v = value_of(argc, argv, i, opt))) return usage_error("option '%s' needs a value", a);
    if (is_opt(a, "--emit")) return parse_emit(c, v);
    if (is_opt(a, "--target")) {
        if (!strcmp(v, "c") || !strcmp(v, "cuda")) return c->o.cuda = v[1] == 'u', 0;
        return usage_error("unknown target '%s' (c, cuda)", v);
    }
    if (is_opt(a, "--name")) return c->o.prefix = v, 0;
    if (is_opt(a, "--print-after")) return c->o.print_after = v, 0;
    if (!strcmp(a, "-o")) return c->output = v, 0;
    if (!strcmp(a, "-D")) return parse_define(c, v);
    if (!strcmp(v, "f32") || !strcmp(v, "f64")) return c->o.f64 = v[2] == '4', 0;
    return usage_error("unknown --dtype '%s' (f32, f64)", v);
}

/* Returns -1 to go on, or an exit status. */
static int parse_args(cli *c, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = 0;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return fputs(usage_text, stdout), 0;
        if (!strcmp(a, "--version")) return printf("nnc %s\n", NNC_VERSION), 0;
        if (!strcmp(a, "--main")) c->o.emit_main = 1;
        else if (!strcmp(a, "--stats")) c->o.stats = 1;
        else if (!strcmp(a, "--no-fuse")) c->o.no_fuse = 1;
        else if (a[0] == '-' && a[1] == 'O' && a[2] >= '0' && a[2] <= '3' && !a[3]) c->o.opt_level = a[2] - '0';
        else if (!strncmp(a, "-D", 2) && a[2]) r = parse_define(c, a + 2);
        else if (!strcmp(a, "-") || a[0] != '-') {
            if (c->input) return usage_error("more than one input file ('%s')", a);
            c->input = a;
        } else r = parse_valued(c, argc, argv, &i);
        if (r) return r;
    }
    if (!c->input) return usage_error("%s", "no input file");
    if (c->o.emit == EMIT_C && c->output && !strcmp(c->output, "-"))
        return usage_error("%s", "-o - is for the text --emit kinds; C output needs a file name (model.c, with model.h beside it)");
    return -1;
}

static char *read_all(FILE *f, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
        n += got;
        if (cap - n - 1 == 0) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) free(buf);
            buf = nb;
        }
    }
    if (buf) buf[n] = 0;
    *len = n;
    return buf;
}

/* Saved by the rules of runtime/atomic_file.h: a unique temporary renamed
 * over a regular file; devices and pipes written directly. */
static int write_atomic(const char *path, const strbuf *b) {
    nnrt_err err;
    if (nnrt_write_file(path, b->s, b->len, &err) == NNRT_OK) return 0;
    fprintf(stderr, "nnc: error: %s\n", err.msg);
    return 1;
}

/* model.c -> model.h; header name as the .c includes it. */
static void header_paths(cli *c, const char *out, char **hpath, const char **hname) {
    size_t n = strlen(out);
    *hpath = arena_alloc(&c->a, n + 3);
    strcpy(*hpath, out);
    char *dot = strrchr(*hpath, '.');
    if (dot && !strchr(dot, '/')) strcpy(dot, ".h");
    else strcat(*hpath, ".h");
    const char *slash = strrchr(*hpath, '/');
    *hname = slash ? slash + 1 : *hpath;
}

static int write_outputs(cli *c, const strbuf *out, const strbuf *hdr, const char *hpath) {
    if (c->o.emit != EMIT_C) {
        if (!c->output || !strcmp(c->output, "-")) return fwrite(out->s, 1, out->len, stdout), 0;
        return write_atomic(c->output, out);
    }
    return write_atomic(c->output, out) || write_atomic(hpath, hdr);
}

static int run(cli *c) {
    FILE *in = strcmp(c->input, "-") ? fopen(c->input, "rb") : stdin;
    if (!in) return fprintf(stderr, "nnc: error: cannot open %s: %s\n", c->input, strerror(errno)), 1;
    size_t len;
    char *src = read_all(in, &len);
    if (in != stdin) fclose(in);
    if (!src) return fprintf(stderr, "nnc: error: cannot read %s\n", c->input), 1;
    char *hpath = NULL;
    if (c->o.emit == EMIT_C) {
        if (!c->output) {
            const char *base = strrchr(c->input, '/');
            base = base ? base + 1 : c->input;
            char *o = arena_printf(&c->a, "%s", strcmp(base, "-") ? base : "model.nn");
            char *dot = strrchr(o, '.');
            if (dot) *dot = 0;
            c->output = arena_printf(&c->a, "%s.%s", o, c->o.cuda ? "cu" : "c");
        }
        header_paths(c, c->output, &hpath, &c->o.header);
    }
    c->o.file = strcmp(c->input, "-") ? c->input : "<stdin>";
    c->o.defs = c->defs.data;
    c->o.ndefs = c->defs.len;
    strbuf out, hdr;
    sb_init(&out);
    sb_init(&hdr);
    int rc = nnc_compile(&c->o, src, len, &out, &hdr, stderr);
    if (rc == 0) rc = write_outputs(c, &out, &hdr, hpath);
    sb_free(&out);
    sb_free(&hdr);
    free(src);
    return rc;
}

int main(int argc, char **argv) {
    cli c;
    memset(&c, 0, sizeof c);
    arena_init(&c.a);
    c.o.opt_level = 2;
    c.o.header = "model.h";
    const char *nc = getenv("NO_COLOR");
    c.o.color = isatty(STDERR_FILENO) && !(nc && *nc);
    int rc = parse_args(&c, argc, argv);
    if (rc < 0) rc = run(&c);
    arena_free(&c.a);
    return rc;
}
