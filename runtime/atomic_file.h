/* atomic_file.h — safe saving: every file libnnrt and the nnc driver write.
 *
 * The rules (C99 + POSIX):
 *   - a regular file, or a name that does not exist yet, is written to a new
 *     temporary in the same directory, ".NAME.nnrt-tmp.PID.RANDOM", created
 *     with O_CREAT|O_EXCL|O_NOFOLLOW (mode 0666 less the umask, or the mode
 *     of the file it replaces); the temporary is fsync'd, renamed over NAME,
 *     and the directory is fsync'd;
 *   - a symbolic link to a regular file: the same, beside the link's target
 *     (the link stays);
 *   - a device, a pipe, a socket, or "-" (standard output) is written
 *     directly and never replaced; a directory is an error;
 *   - a failed write removes its temporary and leaves the target as it was;
 *   - concurrent writers of one name each have their own temporary, so the
 *     last complete rename wins and the file is never a mix;
 *   - a temporary left behind by a killed process is never mistaken for
 *     data: its name starts with '.' and holds ".nnrt-tmp."; it may be
 *     deleted at any time.
 * Messages are one line, "PATH: what is wrong", in an nnrt_err.
 */
#ifndef NNRT_ATOMIC_FILE_H
#define NNRT_ATOMIC_FILE_H

#include "nnrt.h"

#include <stddef.h>

/* A file being written. */
typedef struct nnrt_afile {
    int fd;           /* the temporary (or the target when direct), -1 when closed */
    int direct;       /* 1: written straight into the target (device, pipe, stdout) */
    int werr;         /* errno of the first failed write, 0 if none */
    const char *path; /* the target as given (borrowed), for messages */
    char *dest;       /* what the temporary is renamed to (malloc'd), NULL when direct */
    char *tmp;        /* the temporary (malloc'd), NULL when direct */
} nnrt_afile;

/* Start writing path by the rules above. On failure nothing is created. */
int nnrt_afile_open(nnrt_afile *w, const char *path, nnrt_err *err);
/* Append bytes; errors are sticky and reported by nnrt_afile_commit. */
void nnrt_afile_write(nnrt_afile *w, const void *p, size_t n);
/* Finish: fsync, close, rename over the target, fsync the directory. On any
 * failure the temporary is removed, the target is untouched and an error is
 * returned (a direct target may hold part of the data). */
int nnrt_afile_commit(nnrt_afile *w, nnrt_err *err);
/* Give up: close and remove the temporary. Safe after a failed commit. */
void nnrt_afile_abort(nnrt_afile *w);

/* The whole of p[0..n) as path, by the rules above. */
int nnrt_write_file(const char *path, const void *p, size_t n, nnrt_err *err);

/* The same, but a regular file (or a link's target) that already holds
 * exactly p[0..n) is left as it is, its modification time unchanged (nnc's
 * outputs: build systems rebuild nothing when the code is the same). */
int nnrt_write_file_if_changed(const char *path, const void *p, size_t n, nnrt_err *err);

/* Could path be saved? Checked before long work (training): not a
 * directory, its directory exists and takes a new file (tried: a temporary
 * is created and removed), or the device or pipe is writable. */
int nnrt_check_save_target(const char *path, nnrt_err *err);

/* 1 if path is written directly (a device, pipe or socket, or "-"). */
int nnrt_afile_is_direct(const char *path);

/* An empty scratch file with a temporary's name: beside path's target when
 * path is saved through a temporary (so it can be renamed there with
 * nnrt_afile_place), else (path NULL or direct) in $TMPDIR or /tmp.
 * *scratch is malloc'd; the caller removes the file and frees the name. */
int nnrt_afile_scratch(const char *path, char **scratch, nnrt_err *err);
/* Rename a complete scratch file (from nnrt_afile_scratch(path)) over
 * path's target and fsync the directory; on failure the scratch file is
 * removed and the target is untouched. */
int nnrt_afile_place(const char *scratch, const char *path, nnrt_err *err);

#endif /* NNRT_ATOMIC_FILE_H */
