/* tmpdir.h — what the runtime's CUnit tests (test_runtime.c, test_files.c)
 * share: a mkdtemp directory for their files and small file helpers.
 * Include once, after the system headers it needs (stdio, stdlib, string,
 * dirent, sys/stat, unistd). */
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

#endif /* NNC_TEST_TMPDIR_H */
