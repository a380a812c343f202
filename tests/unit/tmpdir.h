/* tmpdir.h — what the runtime's CUnit tests (test_runtime.c, test_files.c)
 * share: a mkdtemp directory for their files, small file helpers, and a
 * run of the trainer program with its output captured. Include once, after
 * nnrt.h and the system headers it needs (stdio, stdlib, string, stdarg,
 * dirent, fcntl, sys/stat, unistd). */
#ifndef NNC_TEST_TMPDIR_H
#define NNC_TEST_TMPDIR_H

static char g_dir[64]; /* the mkdtemp directory of this run */

/* g_dir/name in one of a few rotating buffers (tests use up to 4 at once). */
static inline const char *tp(const char *name)
{
    static char bufs[8][512];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, 512, "%s/%s", g_dir, name);
    return b;
}

static inline int write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    int ok;
    if (!f)
        return 0;
    ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}

/* Whole file (a pipe or device too), malloc'd and NUL-terminated; NULL if
 * unreadable. */
static inline unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *b = NULL;
    size_t cap = 0, n = 0, got;
    if (len)
        *len = 0;
    if (!f)
        return NULL;
    do {
        unsigned char *nb = realloc(b, cap = cap * 2 + 4096);
        if (!nb)
            break;
        b = nb;
        got = fread(b + n, 1, cap - n - 1, f);
        n += got;
    } while (got > 0);
    fclose(f);
    if (b) {
        b[n] = 0;
        if (len)
            *len = n;
    }
    return b;
}

static inline int contains(const char *hay, const char *needle)
{
    return strstr(hay, needle) != NULL;
}

/* Files in dir whose names mark them as temporaries of atomic_file.c. */
static inline int count_temporaries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    while (d && (de = readdir(d)) != NULL)
        n += strstr(de->d_name, ".nnrt-tmp.") != NULL;
    if (d)
        closedir(d);
    return n;
}

/* rm -r (made writable first), for the temp directory at exit. */
static inline void rm_rf(const char *path)
{
    struct stat st;
    DIR *d;
    struct dirent *de;
    if (lstat(path, &st) != 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        unlink(path);
        return;
    }
    chmod(path, 0700);
    d = opendir(path);
    while (d && (de = readdir(d)) != NULL) {
        char sub[1024];
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (snprintf(sub, sizeof sub, "%s/%s", path, de->d_name) < (int)sizeof sub)
            rm_rf(sub);
    }
    if (d)
        closedir(d);
    rmdir(path);
}

/* Run nnrt_main (the trainer program; nnrt.h comes first) on the
 * NULL-terminated arguments after the program name ("fake") with stdout and
 * stderr captured into g_out / g_errs. */
static char g_out[4096], g_errs[4096];

static inline void read_back(const char *path, char *buf, size_t cap)
{
    size_t len = 0;
    unsigned char *b = slurp(path, &len);
    snprintf(buf, cap, "%s", b ? (const char *)b : "");
    free(b);
}

static inline int run_main(const nnrt_model_desc *d, ...)
{
    char *argv[32];
    int argc = 0, rc, o1, o2, f1, f2;
    va_list ap;
    argv[argc++] = "fake";
    va_start(ap, d);
    while (argc < 31 && (argv[argc] = va_arg(ap, char *)) != NULL)
        argc++;
    va_end(ap);
    argv[argc] = NULL;
    fflush(stdout);
    fflush(stderr);
    o1 = dup(1);
    o2 = dup(2);
    f1 = open(tp("main.out"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    f2 = open(tp("main.err"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (o1 < 0 || o2 < 0 || f1 < 0 || f2 < 0)
        return -1;
    dup2(f1, 1);
    dup2(f2, 2);
    rc = nnrt_main(argc, argv, d);
    fflush(stdout);
    fflush(stderr);
    dup2(o1, 1);
    dup2(o2, 2);
    close(o1);
    close(o2);
    close(f1);
    close(f2);
    read_back(tp("main.out"), g_out, sizeof g_out);
    read_back(tp("main.err"), g_errs, sizeof g_errs);
    return rc;
}

#endif /* NNC_TEST_TMPDIR_H */
