/* fuzz_files.h — for the runtime's libFuzzer harnesses: put the input bytes
 * in a file of this process (the readers take paths), removed by the caller. */
#ifndef FUZZ_FILES_H
#define FUZZ_FILES_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* $TMPDIR (or /tmp)/nnrt-fuzz-PID-TAG holding data[0..size) into path;
 * 0 if it cannot be written. */
static int fuzz_file(char *path, size_t cap, const char *tag, const uint8_t *data, size_t size)
{
    const char *dir = getenv("TMPDIR");
    FILE *f;
    size_t put;
    snprintf(path, cap, "%s/nnrt-fuzz-%ld-%s", dir && *dir ? dir : "/tmp", (long)getpid(), tag);
    f = fopen(path, "wb");
    if (!f)
        return 0;
    put = size ? fwrite(data, 1, size, f) : 0;
    return (fclose(f) == 0) & (put == size);
}

#endif
