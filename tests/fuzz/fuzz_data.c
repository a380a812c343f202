/* fuzz_data.c — libFuzzer target for the data loaders: the first byte picks
 * one, the rest is the file: IDX (nnrt_idx_read), IDX images with labels
 * (nnrt_load_idx; the rest split in two files), CSV (nnrt_load_csv with a
 * layout from the second byte) or a text (the bounded text read and its
 * vocabulary, as the trainer's --text does). A crash, a sanitizer report, a
 * leak, or a dataset left non-empty after a failure is a bug. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_files.h"
#include "nnrt_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void empty_after_failure(int rc, const nnrt_dataset *ds)
{
    if (rc != NNRT_OK && (ds->x || ds->y || ds->n))
        abort();
}

static void idx_pair(const uint8_t *data, size_t size)
{
    char img[512] = "", lab[512] = "";
    nnrt_dataset ds;
    nnrt_err err;
    size_t half = size / 2;
    if (fuzz_file(img, sizeof img, "img", data, half) && fuzz_file(lab, sizeof lab, "lab", data + half, size - half)) {
        int rc = nnrt_load_idx(img, size % 2 ? lab : NULL, &ds, &err);
        empty_after_failure(rc, &ds);
        nnrt_dataset_free(&ds);
    }
    unlink(img);
    unlink(lab);
}

static void csv(uint8_t layout, const char *path)
{
    nnrt_dataset ds;
    nnrt_err err;
    size_t features = 1 + layout % 5, targets = layout / 5 % 3;
    int rc = nnrt_load_csv(path, features, targets, layout & 0x40 ? NNRT_F32 : NNRT_I32, layout & 0x80 ? 10 : 0,
                           layout & 0x20 ? 0.5f : 1.0f, &ds, &err);
    empty_after_failure(rc, &ds);
    nnrt_dataset_free(&ds);
}

static void text(const char *path)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    nnrt_err err;
    if (nnrti_read_file(path, 1 << 20, 1, &buf, &len, &err) == NNRT_OK) {
        nnrt_vocab v;
        nnrt_vocab_build(&v, buf, len);
        if (buf[len] != 0 || (len && memchr(buf, 0, len)))
            abort(); /* NUL-terminated, no NUL inside */
    }
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512];
    nnrt_idx t;
    nnrt_err err;
    if (size < 2)
        return 0;
    if (data[0] % 4 == 1) {
        idx_pair(data + 1, size - 1);
        return 0;
    }
    if (!fuzz_file(path, sizeof path, "data", data + 2, size - 2))
        return 0;
    if (data[0] % 4 == 0) {
        if (nnrt_idx_read(path, &t, &err) != NNRT_OK && t.data)
            abort();
        nnrt_idx_free(&t);
    } else if (data[0] % 4 == 2) {
        csv(data[1], path);
    } else {
        text(path);
    }
    unlink(path);
    return 0;
}
