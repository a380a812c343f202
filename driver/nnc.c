/* nnc.c — the command line. Parses options, reads the source (bounded:
 * MAX_SOURCE bytes, no NUL bytes), checks the outputs' places, runs the
 * pipeline (compile.c) and writes the outputs atomically; every write is
 * checked. `nnc train|run` compile the trainer in memory and hand it to
 * launch.c, which builds, caches and runs it. `nnc import` and an .onnx
 * input go to the ONNX importer (onnx/onnx_import.h). Exit status: 0 ok,
 * 1 compile or I/O errors, 2 usage errors. */
#define _POSIX_C_SOURCE 200809L
#include "compile.h"
#include "launch.h"
#include "../onnx/export.h"
#include "../runtime/atomic_file.h"
#include "../onnx/onnx_import.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef NNC_VERSION
#define NNC_VERSION NNRT_VERSION_STRING /* nnc and libnnrt share one version (runtime/nnrt.h) */
#endif

#define MAX_SOURCE ((size_t)64 << 20) /* bytes of source: far more than any model */

static const char version_text[] = "nnc " NNC_VERSION "\n";

static const char usage_head[] =
    "usage: nnc [options] file.nn        (file '-' reads standard input)\n"
    "       nnc train [options] file.nn [trainer arguments]\n"
    "       nnc run [options] file.nn COMMAND [trainer arguments]\n"
    "                   build the --main trainer with $CC (or cc) against libnnrt, cached\n"
    "                   under $XDG_CACHE_HOME/nnc, and run 'prog train ...' or 'prog COMMAND ...';\n"
    "                   an nnc built with LLVM compiles it in memory instead (its JIT):\n"
    "                   --jit asks for the JIT, --cc for $CC\n"
    "       nnc import [-o model.nn] [--weights model.safetensors] model.onnx\n"
    "                   an ONNX model as .nn source and a safetensors file of its weights; 'nnc\n"
    "                   model.onnx' imports in memory and compiles with the weights embedded\n"
    "\n"
    "  -o FILE          output file (model.c; the header goes beside it as model.h)\n"
    "  --target=NAME    code generator, one of:\n";
static const char usage_tail[] =
    "  --emit=KIND      c (default), ast, ir, ir-train, dot, dot-train, kernels, py, torch, onnx\n"
    "                   (dot: the forward graph for Graphviz, a box per block; dot-train:\n"
    "                   training; py: a Python ctypes module over the model's shared library;\n"
    "                   torch: the mirror torch.nn.Module of the forward graph; onnx: the\n"
    "                   inference graph as ONNX opset 17 with --weights's values, or the\n"
    "                   seed-0 initial ones, to -o or MODEL.onnx)\n"
    "  --name NAME      prefix of every generated symbol (default: the model name)\n"
    "  --objective NAME the named loss to train, of a model with several (loss NAME = ...):\n"
    "                   its train step, optimizer and params; the prefix defaults to MODEL_NAME\n"
    "  -D NAME=VALUE    override a const\n"
    "  -O0 .. -O3       optimization level (default -O2; -O0: no folding, CSE or fusion)\n"
    "  --dtype=f32|f64  element type of the generated code (default f32)\n"
    "  --main           also emit a trainer main(): prog train|eval|predict\n"
    "  --stats          print arena bytes, naive buffer sum and kernel counts\n"
    "  --infer-only     inference only: no loss, gradients, optimizer state or training\n"
    "                   entry points; the arena holds the forward pass alone\n"
    "  --weights=FILE   parameters from a safetensors file as static const arrays (C\n"
    "                   target; implies --infer-only): no initializers, no _load\n"
    "  --freestanding   with --weights: no stdio or stdlib, no _create/_free/_save; the\n"
    "                   GEMM workspace in the model's block; links with libnnrt_core.a\n"
    "  --quantize=int8  with --weights and --calibrate FILE: dense and conv layers in int8\n"
    "                   (per-channel weights, calibrated input scales); with --main: a\n"
    "                   trainer whose 'calibrate' command writes that FILE\n"
    "  --calibrate=FILE the input ranges of the int8 layers (prog calibrate ... --out FILE)\n"
    "  --no-fuse        no elementwise or GEMM-epilogue fusion (each op its own kernel)\n"
    "  --max-memory=N   refuse a model that needs more than N bytes (parameters with their\n"
    "                   gradients and optimizer state, activations, inputs); suffixes K, M,\n"
    "                   G, T are powers of 1024 (default 64T: half of x86-64's address space)\n"
    "  --print-after=P  print the IR after pass P (elab or one of --print-passes) to stderr\n"
    "  --print-passes   list the passes in order with the -O level that runs each\n"
    "  -fdiagnostics-color[=always|never|auto]  colour the diagnostics (auto: when stderr\n"
    "                   is a terminal and NO_COLOR is unset; the default)\n"
    "  -fdiagnostics-format=text|json|sarif  diagnostics as gcc's text (default), a JSON\n"
    "                   array as gcc 10+ writes one, or a SARIF 2.1.0 log, on stderr\n"
    "  --version, --help\n";

/* The usage text, with a line per row of the target table. */
static void usage(FILE *f) {
    fputs(usage_head, f);
    for (const cg_target *t = cg_targets; t->name; t++) fprintf(f, "                     %-6s %s\n", t->name, t->help);
    fputs(usage_tail, f);
}

typedef struct cli {
    nnc_options o;
    const char *input;  /* path or "-" */
    const char *output; /* -o, or NULL */
    ARR(elab_define) defs;
    arena a;
    const char *launch; /* "train" or "run" (nnc train|run), else NULL */
    int rest;           /* with launch: argv index of the first trainer argument */
    int auto_color;     /* -fdiagnostics-color=auto: stderr is a terminal and NO_COLOR unset */
    int jit;            /* nnc train|run: 1 --jit, 0 --cc, -1 the default */
} cli;

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "nnc: error: ");
    fprintf(stderr, fmt, arg);
    fputs("\n", stderr);
    usage(stderr);
    return 2;
}

/* Standard output, checked: a full disk or a closed pipe is an error. */
/* After printing to standard output: 0, or 1 with a message if a write failed. */
static int stdout_status(void) {
    if (!ferror(stdout) && fflush(stdout) == 0) return 0;
    fprintf(stderr, "nnc: error: cannot write to standard output: %s\n", strerror(errno));
    return 1;
}

static int write_stdout(const char *s, size_t n) {
    fwrite(s, 1, n, stdout);
    return stdout_status();
}

static int print_passes(void) {
    nnc_print_passes(stdout);
    return stdout_status();
}

/* nnc's version, and the JIT's compiler where nnc has one. */
static int print_version(void) {
    fputs(version_text, stdout);
    const char *jit = nnc_launch_jit();
    if (jit) printf("jit: %s (nnc train and nnc run compile in memory)\n", jit);
    return stdout_status();
}

static int print_usage(void) {
    usage(stdout);
    return stdout_status();
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

/* s[0..n) is a C identifier: [A-Za-z_][A-Za-z0-9_]* */
static int is_identifier(const char *s, size_t n) {
    static const char alnum[] = "_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    return n > 0 && !(s[0] >= '0' && s[0] <= '9') && strspn(s, alnum) >= n;
}

/* A number as the language writes one, with an optional sign: digits, then
 * an optional '.digits' and exponent. *is_int: digits only. */
static int is_number(const char *v, int *is_int) {
    static const char digits[] = "0123456789";
    const char *p = v + (*v == '-' || *v == '+');
    size_t n = strspn(p, digits);
    *is_int = n > 0 && !p[n];
    if (!n) return 0;
    p += n;
    if (*p == '.') {
        if (!(n = strspn(++p, digits))) return 0;
        p += n;
    }
    if (*p == 'e' || *p == 'E') {
        p += 1 + (p[1] == '-' || p[1] == '+');
        if (!(n = strspn(p, digits))) return 0;
        p += n;
    }
    return !*p;
}

/* -D NAME=VALUE: a const override; integers must fit in 64 bits, floats in a double. */
static int parse_define(cli *c, const char *s) {
    const char *eq = strchr(s, '=');
    if (!eq) return usage_error("-D expects NAME=VALUE, got '%s'", s);
    if (!is_identifier(s, (size_t)(eq - s))) return usage_error("-D NAME must be a name (letters, digits, _): '%s'", s);
    int is_int;
    if (!is_number(eq + 1, &is_int)) return usage_error("-D value must be a number: '%s'", s);
    errno = 0;
    double v = is_int ? (double)strtoll(eq + 1, NULL, 10) : strtod(eq + 1, NULL);
    if (is_int && errno) return usage_error("-D value out of range (an integer must fit in 64 bits): '%s'", s);
    if (isinf(v)) return usage_error("-D value out of range of a double (about 1.8e308): '%s'", s);
    elab_define d = {arena_strndup(&c->a, s, (size_t)(eq - s)), v, is_int, 0};
    for (int i = 0; i < c->defs.len; i++)
        if (!strcmp(c->defs.data[i].name, d.name)) return usage_error("-D %s given twice", d.name);
    arr_push(&c->a, c->defs, d);
    return 0;
}

/* --name: a C identifier of at most 64 characters (C99 keeps 63 significant). */
static int parse_name(cli *c, const char *v) {
    if (!is_identifier(v, strlen(v)))
        return usage_error("--name must be a C identifier (letters, digits, _, no digit first), got '%s'", v);
    if (strlen(v) > 64) return usage_error("--name is longer than 64 characters: '%s'", v);
    c->o.prefix = v;
    return 0;
}

static int parse_output(cli *c, const char *v) {
    if (!*v) return usage_error("%s", "-o needs a file name, got ''");
    if (c->output) return usage_error("-o given twice (the second is '%s')", v);
    c->output = v;
    return 0;
}

/* --max-memory=N: bytes, with a K, M, G or T suffix. */
static int parse_max_memory(cli *c, const char *v) {
    if (!nnc_parse_bytes(v, &c->o.max_memory)) return 0;
    return usage_error("--max-memory expects a byte count from 1 to 2^62 with an optional suffix K, M, G or T "
                       "(powers of 1024), such as 512M or 64G; got '%s'", v);
}

static int parse_opt_level(cli *c, const char *a) {
    if (a[2] < '0' || a[2] > '3' || a[3]) return usage_error("unknown optimization level '%s' (-O0 to -O3)", a);
    c->o.opt_level = a[2] - '0';
    return 0;
}

static int parse_emit(cli *c, const char *v) {
    static const char *const kinds[] = {"c", "ast", "ir", "ir-train", "dot", "kernels", "dot-train", "py", "torch",
                                        "onnx"};
    for (int k = 0; k < 10; k++)
        if (!strcmp(v, kinds[k])) return c->o.emit = (nnc_emit)k, 0;
    return usage_error("unknown --emit kind '%s' (c, ast, ir, ir-train, dot, dot-train, kernels, py, torch, onnx)", v);
}

/* --target=NAME: a row of the target table. */
static int parse_target(cli *c, const char *v) {
    if ((c->o.target = cg_target_find(v))) return 0;
    const char *names = "";
    for (const cg_target *t = cg_targets; t->name; t++)
        names = arena_printf(&c->a, "%s%s%s", names, *names ? ", " : "", t->name);
    return usage_error("%s", arena_printf(&c->a, "unknown target '%s' (%s)", v, names));
}

static int parse_valued(cli *c, int argc, char **argv, int *i) {
    static const char *const valued[] = {"--emit",      "--target",  "--name",     "--dtype",
                                         "--print-after", "-o",     "--max-memory", "-D",
                                         "--weights",   "--objective", "--quantize", "--calibrate"};
    const char *a = argv[*i], *v = NULL, *opt = NULL;
    for (int k = 0; k < 12 && !opt; k++)
        if (is_opt(a, valued[k]) && (valued[k][1] == '-' || !a[2])) opt = valued[k];
    if (!opt) return usage_error("unknown option '%s'", a);
    if (!(v = value_of(argc, argv, i, opt))) return usage_error("option '%s' needs a value", a);
    if (is_opt(a, "--emit")) return parse_emit(c, v);
    if (is_opt(a, "--target")) return parse_target(c, v);
    if (is_opt(a, "--name")) return parse_name(c, v);
    if (is_opt(a, "--objective"))
        return is_identifier(v, strlen(v)) ? (c->o.objective = v, 0)
                                           : usage_error("--objective must be a loss name, got '%s'", v);
    if (is_opt(a, "--print-after")) {
        const char *bad = nnc_print_after_error(v, &c->a);
        return bad ? usage_error("%s", bad) : (c->o.print_after = v, 0);
    }
    if (!strcmp(a, "-o")) return parse_output(c, v);
    if (is_opt(a, "--max-memory")) return parse_max_memory(c, v);
    if (!strcmp(a, "-D")) return parse_define(c, v);
    if (is_opt(a, "--weights")) return *v ? (c->o.weights = v, 0) : usage_error("%s", "--weights needs a file name");
    if (is_opt(a, "--calibrate"))
        return *v ? (c->o.calibrate = v, 0) : usage_error("%s", "--calibrate needs a file name");
    if (is_opt(a, "--quantize"))
        return !strcmp(v, "int8") ? (c->o.quantize = 8, 0) : usage_error("unknown --quantize '%s' (int8)", v);
    if (!strcmp(v, "f32") || !strcmp(v, "f64")) return c->o.f64 = v[2] == '4', 0;
    return usage_error("unknown --dtype '%s' (f32, f64)", v);
}

/* -fdiagnostics-color[=always|never|auto] and -fdiagnostics-format=text|json|sarif
 * (gcc's spellings; json-stderr and sarif-stderr too). */
static int parse_diagnostics(cli *c, const char *a) {
    static const char *const formats[] = {"text", "json", "sarif", "json-stderr", "sarif-stderr"};
    static const diag_format kinds[] = {DIAG_TEXT, DIAG_JSON, DIAG_SARIF, DIAG_JSON, DIAG_SARIF};
    if (!strcmp(a, "-fdiagnostics-color") || !strcmp(a, "-fdiagnostics-color=always")) return c->o.color = 1, 0;
    if (!strcmp(a, "-fdiagnostics-color=never")) return c->o.color = 0, 0;
    if (!strcmp(a, "-fdiagnostics-color=auto")) return c->o.color = c->auto_color, 0;
    if (!strncmp(a, "-fdiagnostics-color=", 20))
        return usage_error("unknown -fdiagnostics-color value '%s' (always, never, auto)", a + 20);
    if (strncmp(a, "-fdiagnostics-format=", 21)) return usage_error("unknown option '%s'", a);
    for (int k = 0; k < 5; k++)
        if (!strcmp(a + 21, formats[k])) return c->o.diag_format = kinds[k], 0;
    return usage_error("unknown -fdiagnostics-format '%s' (text, json, sarif)", a + 21);
}

/* Returns -1 to go on, or an exit status. With c->launch, the arguments
 * after the input file are the trainer's (c->rest). */
static int parse_args(cli *c, int argc, char **argv) {
    c->rest = argc;
    for (int i = c->launch ? 2 : 1; i < argc && !(c->launch && c->input); i++) {
        const char *a = argv[i];
        int r = 0;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return print_usage();
        if (!strcmp(a, "--version")) return print_version();
        if (!strcmp(a, "--print-passes")) return print_passes();
        if (!strcmp(a, "--main")) c->o.emit_main = 1;
        else if (!strcmp(a, "--stats")) c->o.stats = 1;
        else if (!strcmp(a, "--no-fuse")) c->o.no_fuse = 1;
        else if (!strcmp(a, "--infer-only")) c->o.infer_only = 1;
        else if (!strcmp(a, "--freestanding")) c->o.freestanding = 1;
        else if (c->launch && (!strcmp(a, "--jit") || !strcmp(a, "--cc"))) c->jit = a[2] == 'j';
        else if (a[0] == '-' && a[1] == 'O') r = parse_opt_level(c, a);
        else if (!strncmp(a, "-D", 2) && a[2]) r = parse_define(c, a + 2);
        else if (!strncmp(a, "-fdiagnostics-", 14)) r = parse_diagnostics(c, a);
        else if (!*a) return usage_error("%s", "the input file name is empty");
        else if (!strcmp(a, "-") || a[0] != '-') {
            if (c->input) return usage_error("more than one input file ('%s')", a);
            c->input = a;
            c->rest = i + 1;
        } else r = parse_valued(c, argc, argv, &i);
        if (r) return r;
    }
    if (!c->input) return usage_error("%s", "no input file");
    if (c->o.emit == EMIT_C && c->output && !strcmp(c->output, "-"))
        return usage_error("%s", "-o - is for the text --emit kinds; C output needs a file name "
                                 "(model.c, with model.h beside it)");
    return -1;
}

/* "nnc: error: NAME: WHAT" about the input; frees buf, returns NULL. */
static char *input_error(const char *name, const char *what, char *buf) {
    fprintf(stderr, "nnc: error: %s: %s\n", name, what);
    free(buf);
    return NULL;
}

/* buf grown to the next chunk size, at most MAX_SOURCE + 1 bytes (one byte
 * more than allowed tells a source that is too large); NULL if out of memory. */
static char *grow(char *buf, size_t *cap) {
    *cap = *cap < MAX_SOURCE / 2 ? 2 * *cap : MAX_SOURCE + 1;
    char *nb = realloc(buf, *cap + 1);
    if (!nb) free(buf);
    return nb;
}

/* The whole of f, NUL-terminated, read in chunks: at most MAX_SOURCE bytes
 * and no NUL byte (so /dev/zero or a binary file stops at once). NULL after
 * an error message naming the file. */
static char *read_source(const char *name, FILE *f, size_t *len) {
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap + 1), what[80];
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        const char *nul = memchr(buf + n, 0, got);
        if (nul) {
            snprintf(what, sizeof what, "has a NUL byte (at offset %zu), not a model?", (size_t)(nul - buf));
            return input_error(name, what, buf);
        }
        if ((n += got) > MAX_SOURCE) return input_error(name, "too large (over 64 MiB), not a model?", buf);
        if (n == cap) buf = grow(buf, &cap);
    }
    if (!buf) return input_error(name, "out of memory", NULL);
    if (ferror(f)) {
        fprintf(stderr, "nnc: error: cannot read %s: %s\n", name, strerror(errno));
        return free(buf), NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

/* Saved by the rules of runtime/atomic_file.h: a unique temporary renamed
 * over a regular file; devices and pipes written directly. A file that
 * already holds these bytes is left untouched (its mtime too). */
static int write_atomic(const char *path, const strbuf *b) {
    nnrt_err err;
    if (nnrt_write_file_if_changed(path, b->s, b->len, &err) == NNRT_OK) return 0;
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
        if (!c->output || !strcmp(c->output, "-")) return write_stdout(out->s, out->len);
        return write_atomic(c->output, out);
    }
    return write_atomic(c->output, out) || write_atomic(hpath, hdr);
}

/* The source named by c->input, read whole; NULL after an error message.
 * *st: the input's status, for check_output. */
static char *load_input(const cli *c, struct stat *st, size_t *len) {
    const char *name = c->o.file;
    FILE *in = strcmp(c->input, "-") ? fopen(c->input, "rb") : stdin;
    if (!in) return fprintf(stderr, "nnc: error: cannot open %s: %s\n", c->input, strerror(errno)), NULL;
    char *src = NULL;
    if (fstat(fileno(in), st) != 0) fprintf(stderr, "nnc: error: cannot read %s: %s\n", name, strerror(errno));
    else if (S_ISDIR(st->st_mode)) input_error(name, "is a directory, not a model file", NULL);
    else if (S_ISREG(st->st_mode) && (uintmax_t)st->st_size > MAX_SOURCE)
        input_error(name, "too large (over 64 MiB), not a model?", NULL);
    else src = read_source(name, in, len);
    if (in != stdin) fclose(in);
    return src;
}

static int output_error(const char *path, const char *why) {
    fprintf(stderr, "nnc: error: cannot write %s: %s\n", path, why);
    return 1;
}

/* An output's place, checked before compiling: not a directory, not the
 * input, in a directory that exists. NULL and "-" are standard output. */
static int check_output(cli *c, const char *path, const struct stat *in) {
    struct stat st;
    if (!path || !strcmp(path, "-")) return 0;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) return output_error(path, "it is a directory");
        if (S_ISREG(in->st_mode) && st.st_dev == in->st_dev && st.st_ino == in->st_ino)
            return output_error(path, "it is the input file");
        return 0;
    }
    if (errno != ENOENT) return output_error(path, strerror(errno));
    const char *slash = strrchr(path, '/');
    const char *dir = slash ? arena_strndup(&c->a, path, slash == path ? 1 : (size_t)(slash - path)) : ".";
    if (stat(dir, &st) != 0) return output_error(path, arena_printf(&c->a, "directory %s does not exist", dir));
    return 0;
}

/* Without -o, C output goes to the input's base name with .c (or .cu) in
 * the current directory, the header beside it; ONNX output to the base name
 * with .onnx. */
static void output_paths(cli *c, char **hpath) {
    if (!c->output) {
        const char *base = strrchr(c->input, '/');
        base = base ? base + 1 : c->input;
        char *o = arena_printf(&c->a, "%s", strcmp(base, "-") ? base : "model.nn");
        char *dot = strrchr(o, '.');
        if (dot) *dot = 0;
        const char *ext = c->o.emit == EMIT_ONNX ? "onnx" : (c->o.target ? c->o.target : cg_targets)->ext;
        c->output = arena_printf(&c->a, "%s.%s", o, ext);
    }
    if (c->o.emit == EMIT_C) header_paths(c, c->output, hpath, &c->o.header);
}

static int is_onnx(const char *p) {
    size_t n = strlen(p);
    return n > 5 && !strcmp(p + n - 5, ".onnx");
}

/* An .onnx input: imported into .nn source (onnx/), its weights embedded as with --weights from a
 * temporary file at wpath, which run() removes. */
static char *load_onnx(cli *c, struct stat *st, size_t *len, char *wpath, size_t wlen) {
    strbuf nn;
    sb_init(&nn);
    if (c->o.weights) return fprintf(stderr, "nnc: error: --weights: an .onnx model brings its own weights\n"), NULL;
    if (stat(c->input, st) != 0) memset(st, 0, sizeof *st);
    if (onnx_import_temp(c->input, &nn, wpath, wlen)) return sb_free(&nn), NULL;
    if (*wpath) c->o.weights = arena_strdup(&c->a, wpath);
    *len = nn.len;
    return nn.s;
}

static int run(cli *c) {
    struct stat in;
    size_t len = 0;
    char *hpath = NULL, *src, wpath[4096] = "";
    c->o.file = strcmp(c->input, "-") ? c->input : "<stdin>";
    src = is_onnx(c->input) ? load_onnx(c, &in, &len, wpath, sizeof wpath) : load_input(c, &in, &len);
    if (!src) return 1;
    if (c->o.emit == EMIT_C || c->o.emit == EMIT_ONNX) output_paths(c, &hpath);
    if (check_output(c, c->output, &in) || check_output(c, hpath, &in)) return free(src), 1;
    c->o.defs = c->defs.data;
    c->o.ndefs = c->defs.len;
    strbuf out, hdr;
    sb_init(&out);
    sb_init(&hdr);
    int rc = nnc_compile(&c->o, src, len, &out, &hdr, stderr);
    if (rc == 0) rc = write_outputs(c, &out, &hdr, hpath);
    if (*wpath) unlink(wpath);
    sb_free(&out);
    sb_free(&hdr);
    free(src);
    return rc;
}

/* nnc train|run: the --main trainer, compiled in memory, handed to launch.c. */
static int launch(cli *c, char *src, size_t len, int argc, char **argv) {
    c->o.emit_main = 1;
    strbuf out, hdr;
    sb_init(&out);
    sb_init(&hdr);
    int rc = nnc_compile(&c->o, src, len, &out, &hdr, stderr);
    free(src);
    const char *opts = "";
    for (int i = 2; i < c->rest; i++) opts = arena_printf(&c->a, "%s%s\x1f", opts, argv[i]);
    char *train[] = {"train"};
    nnc_launch l = {c->input, &out, &hdr, opts, argv + c->rest, argc - c->rest, c->o.header, c->jit};
    if (!strcmp(c->launch, "train")) {
        char **args = arena_alloc(&c->a, ((size_t)l.nargs + 1) * sizeof *args);
        memcpy(args, train, sizeof train);
        if (l.nargs) memcpy(args + 1, l.args, (size_t)l.nargs * sizeof *args);
        l.args = args;
        l.nargs++;
    }
    if (rc == 0) rc = nnc_launch_run(&l);
    sb_free(&out);
    sb_free(&hdr);
    return rc;
}

/* nnc train|run: only the options that shape C code, and a command for run. */
static int launch_checks(cli *c, int argc) {
    if (c->output) return usage_error("nnc %s takes no -o (the program is cached)", c->launch);
    if (c->o.emit != EMIT_C || (c->o.target && c->o.target != cg_targets))
        return usage_error("nnc %s builds the C target only (no --emit, no --target)", c->launch);
    if (!strcmp(c->launch, "run") && c->rest >= argc)
        return usage_error("%s", "nnc run needs a command after the model (train, eval, predict, ...)");
    return -1;
}

static int launch_main(cli *c, int argc, char **argv) {
    int rc = launch_checks(c, argc);
    if (rc >= 0) return rc;
    struct stat in;
    size_t len = 0;
    c->o.file = strcmp(c->input, "-") ? c->input : "<stdin>";
    char *src = load_input(c, &in, &len);
    return src ? launch(c, src, len, argc, argv) : 1;
}

int main(int argc, char **argv) {
    cli c;
    if (argc > 1 && !strcmp(argv[1], "import")) return onnx_import_main(argc, argv);
    memset(&c, 0, sizeof c);
    if (argc > 1 && (!strcmp(argv[1], "train") || !strcmp(argv[1], "run"))) c.launch = argv[1];
    arena_init(&c.a);
    c.jit = -1;
    c.o.opt_level = 2;
    c.o.header = "model.h";
    c.o.st_load = nnrt_st_load;
    c.o.onnx_export = onnx_export;
    const char *nc = getenv("NO_COLOR");
    c.o.color = c.auto_color = isatty(STDERR_FILENO) && !(nc && *nc);
    int rc = parse_args(&c, argc, argv);
    if (rc < 0) rc = c.launch ? launch_main(&c, argc, argv) : run(&c);
    arena_free(&c.a);
    return rc;
}
