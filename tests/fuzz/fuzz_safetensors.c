/* fuzz_safetensors.c — libFuzzer target for the safetensors reader: any
 * bytes as a file go through nnrt_st_open (every tensor described and
 * looked up), nnrt_st_load into a small model (which must leave the model
 * untouched on failure) and nnrt_st_check_finite. A crash, a sanitizer
 * report, a leak or a changed model after a failed load is a bug. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_files.h"
#include "nnrt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The model the inputs are loaded into (names the seeds use). */
static const nnrt_tensor_info model[3] = {
    {"w", NNRT_F32, 2, {2, 3}, 0, 6},
    {"b", NNRT_F32, 1, {3}, 8, 3},
    {"s", NNRT_F64, 0, {0}, 0, 1},
};

static void walk(const nnrt_st_file *f)
{
    int i, n = nnrt_st_count(f);
    for (i = 0; i < n; i++) {
        nnrt_tensor_info info;
        const void *p = NULL;
        if (nnrt_st_get(f, i, &info, &p) == NNRT_OK && info.numel > 0)
            (void)*(const volatile unsigned char *)p; /* the data is there */
        if (nnrt_st_find(f, info.name, &info, &p) == NNRT_ERR_NOT_FOUND)
            abort(); /* every listed name is found */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512];
    float base[12], keep[12];
    nnrt_st_file *f = NULL;
    nnrt_err err;
    int k;
    if (!fuzz_file(path, sizeof path, "st", data, size))
        return 0;
    if (nnrt_st_open(path, &f, &err) == NNRT_OK)
        walk(f);
    nnrt_st_close(f);
    for (k = 0; k < 12; k++)
        base[k] = keep[k] = (float)k - 99.0f;
    /* two loads: the float tensors, then the f64 scalar alone */
    if (nnrt_st_load(path, model, 2, base, &err) != NNRT_OK && memcmp(base, keep, sizeof base) != 0)
        abort();
    {
        double s = 7.0;
        if (nnrt_st_load(path, &model[2], 1, &s, &err) != NNRT_OK && s != 7.0)
            abort();
    }
    (void)nnrt_st_check_finite(path, &err);
    unlink(path);
    return 0;
}
