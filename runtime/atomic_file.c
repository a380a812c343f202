/* atomic_file.c — safe saving through a unique temporary, fsync and rename;
 * the rules are in atomic_file.h. Shared by libnnrt and the nnc driver. */
#define _POSIX_C_SOURCE 200809L
#define _XOPEN_SOURCE 700 /* realpath */

#include "atomic_file.h"
#include "nnrt_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TMP_TAG ".nnrt-tmp." /* in every temporary's name */
#define TMP_BASE_MAX 100     /* characters of the target's name kept in it */
#define TMP_TRIES 64         /* names tried before giving up */

enum { T_FILE, T_DIRECT };

/* Where a save of a path goes. */
typedef struct target {
    int kind;    /* T_FILE: through a temporary beside dest; T_DIRECT */
    char *dest;  /* T_FILE: the file the temporary replaces (malloc'd) */
    int exists;  /* dest exists (its mode is kept) */
    mode_t mode; /* dest's mode when it exists */
} target;

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* A regular file (or a link to one): save beside dest. */
static int target_file(target *t, const char *path, const struct stat *st, int link, nnrt_err *err)
{
    t->kind = T_FILE;
    t->exists = st != NULL;
    t->mode = st ? st->st_mode : 0;
    t->dest = link ? realpath(path, NULL) : dup_str(path);
    if (!t->dest && link)
        return nnrti_fail_errno(err, NNRT_ERR_IO, path, "cannot resolve the symbolic link", errno);
    if (!t->dest)
        return nnrti_fail(err, NNRT_ERR_NOMEM, "%s: out of memory", path);
    return NNRT_OK;
}

/* Classify path by the rules of atomic_file.h. */
static int classify(const char *path, target *t, nnrt_err *err)
{
    struct stat ls, st;
    memset(t, 0, sizeof *t);
    if (!path || !*path)
        return nnrti_fail(err, NNRT_ERR_ARG, "(none): no file name given");
    t->kind = T_DIRECT;
    if (strcmp(path, "-") == 0)
        return NNRT_OK;
    if (lstat(path, &ls) != 0) {
        if (errno != ENOENT)
            return nnrti_fail_errno(err, NNRT_ERR_IO, path, "cannot look at it", errno);
        return target_file(t, path, NULL, 0, err);
    }
    st = ls;
    if (S_ISLNK(ls.st_mode) && stat(path, &st) != 0)
        return nnrti_fail_errno(err, NNRT_ERR_IO, path, "symbolic link to nothing usable", errno);
    if (S_ISDIR(st.st_mode))
        return nnrti_fail(err, NNRT_ERR_IO, "%s: is a directory, not a file", path);
    if (S_ISREG(st.st_mode))
        return target_file(t, path, &st, S_ISLNK(ls.st_mode), err);
    return NNRT_OK; /* a device, pipe or socket: written directly */
}

/* splitmix64's finalizer: spreads the bits of a seed. */
static uint64_t mix64(uint64_t x)
{
    x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
    return x ^ (x >> 31);
}

/* "DIR/.BASE.nnrt-tmp.PID.RANDOM" for dest; try is the attempt number. The
 * random part mixes the clock, the process id, a stack address and try. */
static char *tmp_name(const char *dest, unsigned try)
{
    const char *slash = strrchr(dest, '/');
    size_t dlen = slash ? (size_t)(slash - dest) + 1 : 0, blen = strlen(dest + dlen), cap;
    struct timespec ts;
    uint64_t r;
    char *s;
    if (blen > TMP_BASE_MAX)
        blen = TMP_BASE_MAX;
    clock_gettime(CLOCK_REALTIME, &ts);
    r = (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
    r = mix64(r ^ (uint64_t)(uintptr_t)&ts ^ (uint64_t)getpid() << 40 ^ (uint64_t)try << 20);
    cap = dlen + blen + sizeof TMP_TAG + 48;
    s = malloc(cap);
    if (s)
        snprintf(s, cap, "%.*s.%.*s%s%ld.%016llx", (int)dlen, dest, (int)blen, dest + dlen, TMP_TAG,
                 (long)getpid(), (unsigned long long)r);
    return s;
}

/* The directory part of dest ("." when none), into buf. */
static void dir_of(const char *dest, char *buf, size_t cap)
{
    const char *slash = strrchr(dest, '/');
    if (!slash)
        snprintf(buf, cap, ".");
    else if (slash == dest)
        snprintf(buf, cap, "/");
    else
        snprintf(buf, cap, "%.*s", (int)(slash - dest), dest);
}

/* Create a new temporary beside dest: *tmp (malloc'd) and *fd. */
static int create_tmp(const char *path, const target *t, char **tmp, int *fd, nnrt_err *err)
{
    char dir[512], what[600];
    unsigned try;
    int e = 0;
    for (try = 0; try < TMP_TRIES; try++) {
        *tmp = tmp_name(t->dest, try);
        if (!*tmp)
            return nnrti_fail(err, NNRT_ERR_NOMEM, "%s: out of memory", path);
        *fd = open(*tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (*fd >= 0) {
            if (t->exists)
                (void)fchmod(*fd, t->mode & 07777);
            return NNRT_OK;
        }
        e = errno;
        free(*tmp);
        *tmp = NULL;
        if (e != EEXIST)
            break;
    }
    dir_of(t->dest, dir, sizeof dir);
    snprintf(what, sizeof what, "cannot create a file in directory %s", dir);
    return nnrti_fail_errno(err, NNRT_ERR_IO, path, what, e);
}

/* fsync the directory holding dest, so that the rename lasts; best effort
 * (some file systems cannot sync a directory). */
static void sync_dir(const char *dest)
{
    char dir[4096];
    int fd;
    dir_of(dest, dir, sizeof dir);
    fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    (void)fsync(fd);
    close(fd);
}

/* Open the target itself for a direct write. */
static int open_direct(nnrt_afile *w, const char *path, nnrt_err *err)
{
    w->direct = 1;
    if (strcmp(path, "-") == 0) {
        fflush(stdout);
        w->fd = dup(STDOUT_FILENO);
    } else {
        w->fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
    }
    if (w->fd < 0)
        return nnrti_fail_errno(err, NNRT_ERR_IO, path, "cannot open for writing", errno);
    return NNRT_OK;
}

int nnrt_afile_open(nnrt_afile *w, const char *path, nnrt_err *err)
{
    target t;
    int rc;
    memset(w, 0, sizeof *w);
    w->fd = -1;
    w->path = path ? path : "(none)";
    if ((rc = classify(path, &t, err)) != NNRT_OK)
        return rc;
    if (t.kind == T_DIRECT)
        return open_direct(w, path, err);
    w->dest = t.dest;
    if ((rc = create_tmp(path, &t, &w->tmp, &w->fd, err)) != NNRT_OK) {
        free(w->dest);
        w->dest = NULL;
    }
    return rc;
}

void nnrt_afile_write(nnrt_afile *w, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (w->fd >= 0 && !w->werr && n > 0) {
        ssize_t got = write(w->fd, b, n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            w->werr = got < 0 && errno ? errno : EIO;
            return;
        }
        b += got;
        n -= (size_t)got;
    }
}

/* Flush the data of a temporary and close whatever is open; errno or 0. */
static int finish_fd(nnrt_afile *w)
{
    int e = w->werr;
    if (!e && !w->direct && fsync(w->fd) != 0 && errno != EINVAL)
        e = errno;
    if (close(w->fd) != 0 && !e && errno != EINTR)
        e = errno ? errno : EIO;
    w->fd = -1;
    return e;
}

int nnrt_afile_commit(nnrt_afile *w, nnrt_err *err)
{
    int e;
    if (w->fd < 0)
        return nnrti_fail(err, NNRT_ERR_IO, "%s: not open for writing", w->path);
    if ((e = finish_fd(w)) != 0) {
        nnrti_fail_errno(err, NNRT_ERR_IO, w->path, "write failed", e);
        nnrt_afile_abort(w);
        return NNRT_ERR_IO;
    }
    if (!w->direct && rename(w->tmp, w->dest) != 0) {
        nnrti_fail_errno(err, NNRT_ERR_IO, w->path, "cannot rename the temporary file over it", errno);
        nnrt_afile_abort(w);
        return NNRT_ERR_IO;
    }
    if (!w->direct)
        sync_dir(w->dest);
    free(w->tmp);
    free(w->dest);
    w->tmp = w->dest = NULL;
    return NNRT_OK;
}

void nnrt_afile_abort(nnrt_afile *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    if (w->tmp)
        unlink(w->tmp);
    free(w->tmp);
    free(w->dest);
    w->tmp = w->dest = NULL;
}

int nnrt_write_file(const char *path, const void *p, size_t n, nnrt_err *err)
{
    nnrt_afile w;
    int rc = nnrt_afile_open(&w, path, err);
    if (rc != NNRT_OK)
        return rc;
    nnrt_afile_write(&w, p, n);
    return nnrt_afile_commit(&w, err);
}

/* 1 if the regular file t (a save target) holds exactly p[0..n) */
static int holds(const target *t, const void *p, size_t n)
{
    struct stat st;
    char buf[8192];
    const char *q = p;
    int fd = open(t->dest, O_RDONLY | O_NOFOLLOW);
    if (fd < 0)
        return 0;
    int same = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uintmax_t)st.st_size == (uintmax_t)n;
    for (size_t done = 0; same && done < n;) {
        size_t want = n - done < sizeof buf ? n - done : sizeof buf;
        ssize_t got = read(fd, buf, want);
        same = got > 0 && memcmp(buf, q + done, (size_t)got) == 0;
        done += got > 0 ? (size_t)got : 0;
    }
    close(fd);
    return same;
}

int nnrt_write_file_if_changed(const char *path, const void *p, size_t n, nnrt_err *err)
{
    target t;
    int rc = classify(path, &t, err);
    if (rc != NNRT_OK)
        return rc;
    int same = t.kind == T_FILE && t.exists && holds(&t, p, n);
    free(t.dest);
    return same ? NNRT_OK : nnrt_write_file(path, p, n, err);
}

int nnrt_check_save_target(const char *path, nnrt_err *err)
{
    target t;
    char *tmp = NULL;
    int fd = -1, rc = classify(path, &t, err);
    if (rc != NNRT_OK)
        return rc;
    if (t.kind == T_DIRECT) {
        if (strcmp(path, "-") != 0 && access(path, W_OK) != 0)
            return nnrti_fail_errno(err, NNRT_ERR_IO, path, "cannot write to it", errno);
        return NNRT_OK;
    }
    rc = create_tmp(path, &t, &tmp, &fd, err);
    if (rc == NNRT_OK) {
        close(fd);
        unlink(tmp);
    }
    free(tmp);
    free(t.dest);
    return rc;
}

int nnrt_afile_is_direct(const char *path)
{
    target t;
    if (classify(path, &t, NULL) != NNRT_OK)
        return 0;
    free(t.dest);
    return t.kind == T_DIRECT;
}

int nnrt_afile_scratch(const char *path, char **scratch, nnrt_err *err)
{
    const char *tdir = getenv("TMPDIR");
    char where[4096];
    target t;
    int fd = -1, rc = NNRT_OK;
    *scratch = NULL;
    memset(&t, 0, sizeof t);
    if (path && (rc = classify(path, &t, err)) != NNRT_OK)
        return rc;
    if (!path || t.kind == T_DIRECT) {
        snprintf(where, sizeof where, "%s/nnrt-scratch", tdir && *tdir == '/' ? tdir : "/tmp");
        t.kind = T_FILE;
        t.dest = dup_str(where);
        if (!t.dest)
            return nnrti_fail(err, NNRT_ERR_NOMEM, "%s: out of memory", where);
    }
    rc = create_tmp(path ? path : where, &t, scratch, &fd, err);
    if (rc == NNRT_OK)
        close(fd);
    free(t.dest);
    return rc;
}

int nnrt_afile_place(const char *scratch, const char *path, nnrt_err *err)
{
    target t;
    int rc = classify(path, &t, err);
    if (rc == NNRT_OK && t.kind == T_DIRECT)
        rc = nnrti_fail(err, NNRT_ERR_ARG, "%s: not a file a temporary can replace", path);
    if (rc == NNRT_OK && t.exists)
        (void)chmod(scratch, t.mode & 07777); /* keep the mode of the file it replaces */
    if (rc == NNRT_OK && t.kind == T_FILE && rename(scratch, t.dest) != 0)
        rc = nnrti_fail_errno(err, NNRT_ERR_IO, path, "cannot rename the temporary file over it", errno);
    if (rc != NNRT_OK)
        unlink(scratch);
    else
        sync_dir(t.dest);
    free(t.dest);
    return rc;
}
