/* launch.c — `nnc train` / `nnc run`: the generated trainer built with the
 * system C compiler ($CC, else cc) against the libnnrt beside this nnc
 * (build tree: DIR/libnnrt.a with DIR/../runtime/nnrt.h; installed:
 * PREFIX/lib/libnnrt.a with PREFIX/include/nnc/nnrt.h), cached under
 * $XDG_CACHE_HOME/nnc (else ~/.cache/nnc) as MODEL-HASH, where HASH covers
 * the generated code, the nnc version, the options, the compiler command
 * and flags, and the bytes of libnnrt.a and nnrt.h. A build happens in a
 * fresh temporary directory and is renamed into place, so concurrent runs
 * and interrupted builds never leave a half-written program in the cache.
 * Where the JIT library is beside nnc (libnnc_jit.so, built from jit.cpp where
 * LLVM and Clang are found; installed as PREFIX/lib/nnc/libnnc_jit.so), the
 * program is compiled in memory by it instead (jit.h), its object cached as
 * MODEL-HASH.o, and run inside this process, linked against libnnrt.so. nnc
 * opens that library only for train and run, so it costs other uses nothing. */
#define _POSIX_C_SOURCE 200809L
#include "launch.h"
#include "jit.h"

#include <dlfcn.h>

#include "../runtime/atomic_file.h"
#include "../runtime/nnrt.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define LAUNCH_CFLAGS "-std=c99 -O2" /* as the AOT build in the docs: the same numbers */

/* The JIT library's entry points (jit.h), or all NULL. */
typedef struct jit_api {
    const char *(*version)(void);
    int (*compile)(const nnc_jit_source *, void **, size_t *, char *, size_t);
    int (*run)(const void *, size_t, const char *, int, char **, int *, char *, size_t);
} jit_api;

typedef struct runtime_paths {
    const char *lib;     /* libnnrt.a */
    const char *include; /* the directory with nnrt.h */
    const char *so;      /* libnnrt.so beside libnnrt.a (the JIT links against it), or NULL */
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
    static const char *const places[][2] = {{"", "/../runtime"}, {"/../lib", "/../include/nnc"}};
    for (int i = 0; i < 2; i++) {
        rt->lib = arena_printf(a, "%s%s/libnnrt.a", dir, places[i][0]);
        rt->include = arena_printf(a, "%s%s", dir, places[i][1]);
        rt->so = arena_printf(a, "%s%s/libnnrt.so", dir, places[i][0]);
        if (!is_file(rt->so)) rt->so = NULL;
        if (is_file(rt->lib) && is_file(arena_printf(a, "%s/nnrt.h", rt->include))) return 0;
    }
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

/* The compiler that builds the program: $CC, or the JIT's Clang and host CPU. */
static const char *compiler_id(const jit_api *jit) {
    return jit ? jit->version() : compiler();
}

static int cache_key(const nnc_launch *l, const runtime_paths *rt, const jit_api *jit, arena *a, uint64_t *key) {
    uint64_t h = 0xcbf29ce484222325ull;
    h = hash_part(h, l->code->s, l->code->len);
    h = hash_part(h, l->header->s, l->header->len);
    h = hash_str(hash_str(hash_str(h, NNRT_VERSION_STRING), l->options), compiler_id(jit));
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

/* The program's arguments, with the model's name as argv[0] (the trainer's messages name it). */
static char **program_argv(const nnc_launch *l, arena *a) {
    char **argv = arena_alloc(a, ((size_t)l->nargs + 2) * sizeof *argv);
    argv[0] = (char *)model_stem(a, l->model);
    for (int i = 0; i < l->nargs; i++) argv[i + 1] = l->args[i];
    argv[l->nargs + 1] = NULL;
    return argv;
}

/* Runs bin in place of this process. */
static int exec_program(const nnc_launch *l, const char *bin, arena *a) {
    fflush(NULL);
    execv(bin, program_argv(l, a));
    return launch_error("cannot run %s", bin);
}

/* The cached object PATH in *obj (malloc'd); 1 if there is none or it cannot be read. */
static int read_object(const char *path, void **obj, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return 1;
    long len = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    *obj = len > 0 && fseek(f, 0, SEEK_SET) == 0 ? malloc((size_t)len) : NULL;
    int bad = !*obj || fread(*obj, 1, (size_t)len, f) != (size_t)len;
    fclose(f);
    if (bad) free(*obj);
    *n = bad ? 0 : (size_t)len;
    return bad;
}

/* The JIT's object for the model: from the cache, else compiled in memory and saved there. */
static int jit_object(const nnc_launch *l, const runtime_paths *rt, const jit_api *jit, const char *path, void **obj,
                      size_t *n) {
    if (!read_object(path, obj, n)) return 0;
    nnc_jit_source src = {l->code->s, l->header->s, l->code->len, l->header->len, l->header_name, rt->include,
                          LAUNCH_CFLAGS};
    char err[16384];
    if (jit->compile(&src, obj, n, err, sizeof err)) return launch_error("%s", err);
    nnrt_err werr;
    if (nnrt_write_file(path, *obj, *n, &werr) != NNRT_OK) fprintf(stderr, "nnc: warning: %s\n", werr.msg);
    return 0;
}

/* Runs the program in this process through the JIT: its exit status, or 1 after a message. */
static int jit_program(const nnc_launch *l, const runtime_paths *rt, const jit_api *jit, const char *obj_path,
                       arena *a) {
    void *obj = NULL;
    size_t n = 0;
    if (jit_object(l, rt, jit, obj_path, &obj, &n)) return 1;
    char err[4096];
    int status = 1;
    fflush(NULL);
    int bad = jit->run(obj, n, rt->so, l->nargs + 1, program_argv(l, a), &status, err, sizeof err);
    free(obj);
    if (bad) return launch_error("%s", arena_printf(a, "%s (the cached %s; remove it to rebuild)", err, obj_path));
    return status;
}

/* Opens the JIT library beside nnc (build tree) or in ../lib/nnc (installed): 0, or 1 with
 * why not in why (NULL when there is none at all). The library stays open until nnc exits. */
static int jit_open(jit_api *j, const char **why, arena *a) {
    memset(j, 0, sizeof *j);
    *why = NULL;
    const char *dir = exe_dir(a), *paths[2] = {NULL, NULL};
    if (dir) {
        paths[0] = arena_printf(a, "%s/libnnc_jit.so", dir);
        paths[1] = arena_printf(a, "%s/../lib/nnc/libnnc_jit.so", dir);
    }
    for (int i = 0; i < 2 && paths[i]; i++) {
        if (!is_file(paths[i])) continue;
        void *dl = dlopen(paths[i], RTLD_NOW | RTLD_LOCAL);
        if (!dl) return *why = arena_strdup(a, dlerror()), 1;
        *(void **)&j->version = dlsym(dl, "nnc_jit_version");
        *(void **)&j->compile = dlsym(dl, "nnc_jit_compile");
        *(void **)&j->run = dlsym(dl, "nnc_jit_run");
        if (j->version && j->compile && j->run) return 0;
        return *why = arena_printf(a, "%s lacks the nnc_jit_ entry points", paths[i]), 1;
    }
    return 1;
}

const char *nnc_launch_jit(void) {
    arena a;
    arena_init(&a);
    jit_api j;
    const char *why;
    const char *v = jit_open(&j, &why, &a) ? NULL : j.version();
    arena_free(&a);
    return v;
}

/* The JIT for this run, or NULL for $CC: --jit asks for it (1 after a message if it cannot
 * be had), --cc refuses it, the default takes it where it opens and libnnrt.so is there. */
static int pick_jit(const nnc_launch *l, const runtime_paths *rt, jit_api *j, const jit_api **jit, arena *a) {
    const char *why;
    *jit = NULL;
    if (l->jit == 0) return 0;
    int bad = jit_open(j, &why, a);
    if (l->jit == 1 && bad)
        return launch_error("--jit: %s",
                            why ? why : "no JIT beside this nnc (libnnc_jit.so: make JIT=1 needs LLVM and Clang)");
    if (l->jit == 1 && !rt->so) return launch_error("--jit needs libnnrt.so beside %s", rt->lib);
    if (!bad && rt->so) *jit = j;
    return 0;
}

/* The cached program (or the JIT's object) for the model. */
static const char *cache_path(const nnc_launch *l, const char *cache, uint64_t key, int jit, arena *a) {
    return arena_printf(a, "%s/%s-%016llx%s", cache, model_stem(a, l->model), (unsigned long long)key,
                        jit ? ".o" : "");
}

int nnc_launch_run(const nnc_launch *l) {
    arena a;
    arena_init(&a);
    runtime_paths rt;
    jit_api j;
    const jit_api *jit = NULL;
    uint64_t key;
    const char *cache = NULL, *bin = NULL;
    int rc = find_runtime(&a, &rt) || pick_jit(l, &rt, &j, &jit, &a) || cache_key(l, &rt, jit, &a, &key) ||
             !(cache = cache_dir(&a));
    if (!rc) bin = cache_path(l, cache, key, jit != NULL, &a);
    if (!rc && jit) rc = jit_program(l, &rt, jit, bin, &a);
    else if (!rc && access(bin, X_OK) != 0) rc = build(l, &rt, cache, bin, &a);
    if (!rc && !jit) rc = exec_program(l, bin, &a);
    arena_free(&a);
    return rc;
}
