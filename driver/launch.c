/* launch.c — `nnc train` / `nnc run`: the generated trainer built with the
 * system C compiler ($CC, else cc) against the libnnrt beside this nnc
 * (build tree: DIR/libnnrt.a with DIR/../runtime/nnrt.h; installed:
 * PREFIX/lib/libnnrt.a with PREFIX/include/nnc/nnrt.h), cached under
 * $XDG_CACHE_HOME/nnc (else ~/.cache/nnc) as MODEL-HASH, where HASH covers
 * the generated code, the nnc version, the options, the compiler command
 * and flags, and the bytes of libnnrt.a and nnrt.h. A build happens in a
 * fresh temporary directory and is renamed into place, so concurrent runs
 * and interrupted builds never leave a half-written program in the cache. */
#define _POSIX_C_SOURCE 200809L
#include "launch.h"

#include "../runtime/atomic_file.h"
#include "../runtime/nnrt.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define LAUNCH_CFLAGS "-std=c99 -O2" /* as the AOT build in the docs: the same numbers */

typedef struct runtime_paths {
    const char *lib;     /* libnnrt.a */
    const char *include; /* the directory with nnrt.h */
} runtime_paths;

static int launch_error(const char *what, const char *arg) {
    fprintf(stderr, "nnc: error: ");
    fprintf(stderr, what, arg);
    fputc('\n', stderr);
    return 1;
}

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The directory of the running nnc, or NULL. */
static const char *exe_dir(arena *a) {
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0 || n >= (ssize_t)sizeof buf - 1) return NULL;
    buf[n] = 0;
    char *slash = strrchr(buf, '/');
    return slash ? arena_strndup(a, buf, (size_t)(slash - buf)) : NULL;
}

/* libnnrt and its header next to nnc (build tree), or PREFIX/lib and PREFIX/include/nnc. */
static int find_runtime(arena *a, runtime_paths *rt) {
    const char *dir = exe_dir(a);
    if (!dir) return launch_error("%s", "cannot find the nnc executable's directory (/proc/self/exe)");
    rt->lib = arena_printf(a, "%s/libnnrt.a", dir);
    rt->include = arena_printf(a, "%s/../runtime", dir);
    if (is_file(rt->lib) && is_file(arena_printf(a, "%s/nnrt.h", rt->include))) return 0;
    rt->lib = arena_printf(a, "%s/../lib/libnnrt.a", dir);
    rt->include = arena_printf(a, "%s/../include/nnc", dir);
    if (is_file(rt->lib) && is_file(arena_printf(a, "%s/nnrt.h", rt->include))) return 0;
    return launch_error("cannot find libnnrt.a and nnrt.h beside nnc (looked in %s, ../lib, ../include/nnc)", dir);
}

/* 64-bit FNV-1a over n bytes, continuing from h. */
static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ull;
    return h;
}

/* A part of the key: its length first, so that parts cannot run together. */
static uint64_t hash_part(uint64_t h, const void *p, size_t n) {
    uint64_t len = n;
    return fnv(fnv(h, &len, sizeof len), p, n);
}

static uint64_t hash_str(uint64_t h, const char *s) { return hash_part(h, s, strlen(s)); }

/* Hashes the bytes of a file; 1 after an error message if it cannot be read. */
static int hash_file(const char *path, uint64_t *h) {
    FILE *f = fopen(path, "rb");
    if (!f) return launch_error("cannot read %s", path);
    char buf[1 << 15];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) *h = fnv(*h, buf, n);
    int bad = ferror(f);
    fclose(f);
    return bad ? launch_error("cannot read %s", path) : 0;
}

/* The compiler command: $CC (split at spaces, as make does) or cc. */
static const char *compiler(void) {
    const char *cc = getenv("CC");
    return cc && *cc ? cc : "cc";
}

static int cache_key(const nnc_launch *l, const runtime_paths *rt, arena *a, uint64_t *key) {
    uint64_t h = 0xcbf29ce484222325ull;
    h = hash_part(h, l->code->s, l->code->len);
    h = hash_part(h, l->header->s, l->header->len);
    h = hash_str(hash_str(hash_str(h, NNRT_VERSION_STRING), l->options), compiler());
    h = hash_str(h, LAUNCH_CFLAGS);
    *key = h;
    return hash_file(rt->lib, key) || hash_file(arena_printf(a, "%s/nnrt.h", rt->include), key);
}

/* mkdir -p of an absolute or relative path; 1 after a message on failure. */
static int make_dirs(char *path) {
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p) continue;
        char c = *p;
        *p = 0;
        int bad = mkdir(path, 0777) != 0 && errno != EEXIST;
        *p = c;
        if (bad) return launch_error("cannot create the cache directory %s", path);
        if (!c) return 0;
    }
}

/* $XDG_CACHE_HOME/nnc or $HOME/.cache/nnc, created; NULL after a message. */
static const char *cache_dir(arena *a) {
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char *dir;
    if (xdg && xdg[0] == '/') dir = arena_printf(a, "%s/nnc", xdg);
    else if (home && *home) dir = arena_printf(a, "%s/.cache/nnc", home);
    else return launch_error("%s", "no cache directory: set XDG_CACHE_HOME or HOME"), NULL;
    return make_dirs(dir) ? NULL : dir;
}

/* The model's base name without .nn, as a file name part. */
static const char *model_stem(arena *a, const char *model) {
    const char *base = strrchr(model, '/');
    base = base ? base + 1 : model;
    char *s = arena_strdup(a, strcmp(base, "-") && *base ? base : "model");
    char *dot = strrchr(s, '.');
    if (dot && dot != s) *dot = 0;
    for (char *p = s; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", *p)) *p = '_';
    return s;
}

/* The compiler's argument vector: $CC's words, the flags, the files. */
static char **compile_argv(arena *a, const runtime_paths *rt, const char *dir) {
    char *words = arena_strdup(a, compiler()), *save = NULL;
    char **argv = arena_alloc(a, (strlen(words) / 2 + 16) * sizeof *argv);
    int n = 0;
    for (char *w = strtok_r(words, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) argv[n++] = w;
    char *flags = arena_strdup(a, LAUNCH_CFLAGS);
    for (char *w = strtok_r(flags, " ", &save); w; w = strtok_r(NULL, " ", &save)) argv[n++] = w;
    argv[n++] = arena_printf(a, "-I%s", rt->include);
    argv[n++] = arena_printf(a, "%s/model.c", dir);
    argv[n++] = (char *)rt->lib;
    argv[n++] = "-lm";
    argv[n++] = "-o";
    argv[n++] = arena_printf(a, "%s/prog", dir);
    argv[n] = NULL;
    return argv;
}

/* Runs the compiler and waits; 1 after one message if it cannot run or fails. */
static int run_compiler(char **argv) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return launch_error("cannot start the C compiler: %s", strerror(errno));
    if (pid == 0) {
        execvp(argv[0], argv);
        fprintf(stderr, "nnc: error: cannot run the C compiler '%s': %s (set CC to a C compiler)\n", argv[0],
                strerror(errno));
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return launch_error("cannot wait for the C compiler: %s", strerror(errno));
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127) return 1;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
    return launch_error("the C compiler '%s' failed on the generated code", argv[0]);
}

static int write_file(const char *path, const strbuf *b) {
    nnrt_err err;
    if (nnrt_write_file(path, b->s, b->len, &err) == NNRT_OK) return 0;
    return launch_error("%s", err.msg);
}

/* Removes the temporary build directory and what it holds. */
static void remove_build(arena *a, const char *dir) {
    static const char *const files[] = {"model.c", "model.h", "prog"};
    for (int i = 0; i < 3; i++) unlink(arena_printf(a, "%s/%s", dir, files[i]));
    rmdir(dir);
}

/* Builds the program in a temporary directory under cache and renames it to bin. */
static int build(const nnc_launch *l, const runtime_paths *rt, const char *cache, const char *bin, arena *a) {
    char *dir = arena_printf(a, "%s/build-XXXXXX", cache);
    if (!mkdtemp(dir)) return launch_error("cannot create a build directory in %s", cache);
    int rc = write_file(arena_printf(a, "%s/model.c", dir), l->code) ||
             write_file(arena_printf(a, "%s/model.h", dir), l->header) || run_compiler(compile_argv(a, rt, dir));
    if (!rc && rename(arena_printf(a, "%s/prog", dir), bin) != 0) rc = launch_error("cannot save %s", bin);
    remove_build(a, dir);
    return rc;
}

/* Runs bin with the model's name as its argv[0] (the trainer's messages name it). */
static int exec_program(const nnc_launch *l, const char *bin, arena *a) {
    char **argv = arena_alloc(a, ((size_t)l->nargs + 2) * sizeof *argv);
    argv[0] = (char *)model_stem(a, l->model);
    for (int i = 0; i < l->nargs; i++) argv[i + 1] = l->args[i];
    fflush(NULL);
    execv(bin, argv);
    return launch_error("cannot run %s", bin);
}

int nnc_launch_run(const nnc_launch *l) {
    arena a;
    arena_init(&a);
    runtime_paths rt;
    uint64_t key;
    const char *cache = NULL, *bin = NULL;
    int rc = find_runtime(&a, &rt) || cache_key(l, &rt, &a, &key) || !(cache = cache_dir(&a));
    if (!rc) bin = arena_printf(&a, "%s/%s-%016llx", cache, model_stem(&a, l->model), (unsigned long long)key);
    if (!rc && access(bin, X_OK) != 0) rc = build(l, &rt, cache, bin, &a);
    if (!rc) rc = exec_program(l, bin, &a);
    arena_free(&a);
    return rc;
}
