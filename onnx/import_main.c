/* import_main.c — `nnc import model.onnx [-o model.nn] [--weights model.safetensors]`, and the
 * in-memory import behind `nnc model.onnx` (onnx_import_temp: the weights go to a temporary
 * file that the compiler embeds with --weights, then removes). */
#include "import.h"
#include "../runtime/atomic_file.h"
#include <stdlib.h>
#include <unistd.h>

static const char import_usage[] =
    "usage: nnc import [-o model.nn] [--weights model.safetensors] model.onnx\n"
    "  translates an ONNX model into .nn source (readable, editable) and a safetensors file of\n"
    "  its initializers; -o defaults to the model's base name with .nn ('-': standard output),\n"
    "  --weights to the .nn path with .safetensors (written only when the model has weights)\n";

static int import_usage_error(const char *what) {
    fprintf(stderr, "nnc: error: %s\n%s", what, import_usage);
    return 2;
}

/* PATH with its extension replaced by EXT, in the current directory when BASE_ONLY */
static char *with_ext(const char *path, const char *ext, int base_only) {
    const char *base = strrchr(path, '/');
    base = base_only && base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t n = dot && !strchr(dot, '/') ? (size_t)(dot - base) : strlen(base);
    char *r = malloc(n + strlen(ext) + 1);
    if (r) memcpy(r, base, n), strcpy(r + n, ext);
    return r;
}

static int write_nn(const char *path, const strbuf *nn) {
    nnrt_err err;
    if (!strcmp(path, "-")) {
        fwrite(nn->s, 1, nn->len, stdout);
        return fflush(stdout) || ferror(stdout) ? (fprintf(stderr, "nnc: error: cannot write to standard output\n"), 1)
                                                : 0;
    }
    if (nnrt_write_file_if_changed(path, nn->s, nn->len, &err) == NNRT_OK) return 0;
    fprintf(stderr, "nnc: error: %s\n", err.msg);
    return 1;
}

static int import_run(const char *in, const char *out, const char *weights) {
    char *o = out ? NULL : with_ext(in, ".nn", 1), *w = NULL, err[1024];
    if (!out) out = o;
    if (!weights) weights = w = with_ext(!strcmp(out, "-") ? in : out, ".safetensors", !strcmp(out, "-"));
    strbuf nn;
    sb_init(&nn);
    int nw = 0, rc = out && weights ? onnx_import(in, weights, &nn, &nw, err, sizeof err) : 1;
    if (rc)
        fprintf(stderr, "nnc: error: %s\n", out && weights ? err : "out of memory");
    else
        rc = write_nn(out, &nn);
    sb_free(&nn);
    free(o);
    free(w);
    return rc;
}

int onnx_import_main(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *weights = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return fputs(import_usage, stdout), 0;
        if (!strcmp(a, "-o") || !strcmp(a, "--weights")) {
            if (i + 1 >= argc || !*argv[i + 1])
                return import_usage_error(a[1] == 'o' ? "-o needs a file name" : "--weights needs a file name");
            *(a[1] == 'o' ? &out : &weights) = argv[++i];
        } else if (!strncmp(a, "--weights=", 10) && a[10])
            weights = a + 10;
        else if (a[0] == '-' && a[1])
            return fprintf(stderr, "nnc: error: unknown option '%s'\n%s", a, import_usage), 2;
        else if (in)
            return import_usage_error("more than one input file");
        else
            in = a;
    }
    if (!in) return import_usage_error("no input file (an .onnx model)");
    return import_run(in, out, weights);
}

int onnx_import_temp(const char *path, strbuf *nn, char *wpath, size_t wlen) {
    const char *dir = getenv("TMPDIR");
    char err[1024];
    snprintf(wpath, wlen, "%s/nnc-onnx-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(wpath), nw = 0;
    if (fd < 0) return fprintf(stderr, "nnc: error: cannot create a temporary file in %s\n", dir ? dir : "/tmp"), 1;
    close(fd);
    int rc = onnx_import(path, wpath, nn, &nw, err, sizeof err);
    if (rc) fprintf(stderr, "nnc: error: %s\n", err);
    if (rc || !nw) unlink(wpath), wpath[0] = 0;
    return rc;
}
