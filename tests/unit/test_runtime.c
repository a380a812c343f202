/* test_runtime.c — CUnit tests for libnnrt (runtime/nnrt.h).
 *
 * Build (from the project root): gcc -std=c99 -Wall -Wextra -Werror -O2
 *   -Iruntime runtime/[all .c files] tests/unit/test_runtime.c -lcunit -lm
 * Temporary files go under a mkdtemp directory in /tmp, removed at exit.
 */
#define _POSIX_C_SOURCE 200809L

#include <CUnit/Basic.h>

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nnrt.h"
#include "tmpdir.h"

/* ---- helpers -------------------------------------------------------------- */

static int write_text(const char *path, const char *text)
{
    return write_file(path, text, strlen(text));
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Assert status rc == want and (when sub) that err.msg contains sub. */
#define CHECK_ERR(rc, want, err, sub)                                         \
    do {                                                                      \
        int rc_ = (rc);                                                       \
        CU_ASSERT_EQUAL(rc_, (want));                                         \
        if ((sub) != NULL && !contains((err).msg, (sub))) {                   \
            fprintf(stderr, "\n  message '%s' lacks '%s'\n", (err).msg,       \
                    (const char *)(sub));                                     \
            CU_FAIL("error message lacks expected text");                     \
        }                                                                     \
    } while (0)

/* ---- status and dtype ---------------------------------------------------- */

static void test_status_strings(void)
{
    int s;
    for (s = NNRT_OK; s <= NNRT_ERR_NONFINITE; s++) {
        CU_ASSERT_PTR_NOT_NULL(nnrt_status_str(s));
        CU_ASSERT_STRING_NOT_EQUAL(nnrt_status_str(s), "unknown status");
    }
    CU_ASSERT_STRING_EQUAL(nnrt_status_str(99), "unknown status");
    CU_ASSERT_STRING_EQUAL(nnrt_status_str(NNRT_OK), "ok");
}

static void test_dtypes(void)
{
    CU_ASSERT_EQUAL(nnrt_dtype_size(NNRT_F32), 4);
    CU_ASSERT_EQUAL(nnrt_dtype_size(NNRT_F64), 8);
    CU_ASSERT_EQUAL(nnrt_dtype_size(NNRT_I32), 4);
    CU_ASSERT_EQUAL(nnrt_dtype_size(NNRT_U8), 1);
    CU_ASSERT_EQUAL(nnrt_dtype_size(42), 0);
    CU_ASSERT_STRING_EQUAL(nnrt_dtype_name(NNRT_F32), "F32");
    CU_ASSERT_STRING_EQUAL(nnrt_dtype_name(NNRT_F64), "F64");
    CU_ASSERT_STRING_EQUAL(nnrt_dtype_name(NNRT_I32), "I32");
    CU_ASSERT_STRING_EQUAL(nnrt_dtype_name(NNRT_U8), "U8");
}

/* ---- Philox ------------------------------------------------------------------ */

static void test_philox_kat(void)
{
    /* Random123 kat_vectors for philox4x32_10. */
    static const uint32_t zero[4] = {0x6627e8d5, 0xe169c58d, 0xbc57ac4c,
                                     0x9b00dbd8};
    static const uint32_t ones[4] = {0x408f276d, 0x41c83b0e, 0xa20bc7c6,
                                     0x6d5451fd};
    static const uint32_t pi[4] = {0xd16cfe09, 0x94fdcceb, 0x5001e420,
                                   0x24126ea1};
    uint32_t out[4];
    nnrt_philox4x32(0, 0, 0, out);
    CU_ASSERT_EQUAL(memcmp(out, zero, sizeof out), 0);
    nnrt_philox4x32(UINT64_MAX, UINT64_MAX, UINT64_MAX, out);
    CU_ASSERT_EQUAL(memcmp(out, ones, sizeof out), 0);
    /* counter {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
     * key {0xa4093822, 0x299f31d0} */
    nnrt_philox4x32(0x299f31d0a4093822ull, 0x0370734413198a2eull,
                    0x85a308d3243f6a88ull, out);
    CU_ASSERT_EQUAL(memcmp(out, pi, sizeof out), 0);
}

static void test_u01(void)
{
    CU_ASSERT_EQUAL(nnrt_u01(0), 0.0f);
    CU_ASSERT_EQUAL(nnrt_u01(0xFF), 0.0f);
    CU_ASSERT_EQUAL(nnrt_u01(0x100), 1.0f / 16777216.0f);
    CU_ASSERT(nnrt_u01(0xFFFFFFFFu) < 1.0f);
    CU_ASSERT_EQUAL(nnrt_u01(0xFFFFFFFFu), 1.0f - 1.0f / 16777216.0f);
    CU_ASSERT_EQUAL(nnrt_u01(0x80000000u), 0.5f);
}

/* ---- fills ------------------------------------------------------------------- */

static void test_fill_mapping(void)
{
    float a[11];
    double d[11];
    uint32_t w[4];
    size_t i;
    nnrt_fill_uniform_f32(a, 11, -2.0f, 3.0f, 1234, 7);
    nnrt_fill_uniform_f64(d, 11, -2.0, 3.0, 1234, 7);
    for (i = 0; i < 11; i++) {
        double u;
        nnrt_philox4x32(1234, 7, i / 4, w);
        u = -2.0 + 5.0 * (double)nnrt_u01(w[i % 4]);
        CU_ASSERT_EQUAL(d[i], u);
        CU_ASSERT_EQUAL(a[i], (float)u);
    }
    /* Normal: Box-Muller on words (0,1) and (2,3). */
    nnrt_fill_normal_f64(d, 11, 0.5, 2.0, 99, 3);
    for (i = 0; i < 11; i++) {
        size_t k = (i % 4) & ~(size_t)1;
        double r, t, z;
        nnrt_philox4x32(99, 3, i / 4, w);
        r = sqrt(-2.0 * log(1.0 - (double)nnrt_u01(w[k])));
        t = 6.283185307179586 * (double)nnrt_u01(w[k + 1]);
        z = (i % 2) ? r * sin(t) : r * cos(t);
        CU_ASSERT_DOUBLE_EQUAL(d[i], 0.5 + 2.0 * z, 1e-12);
    }
}

static void test_fill_deterministic(void)
{
    enum { N = 1001 };
    static float a[N], b[N], c[N], e[N];
    static double x[N];
    size_t i, same = 0;
    nnrt_fill_normal_f32(a, N, 0.0f, 1.0f, 42, 0);
    nnrt_fill_normal_f32(b, N, 0.0f, 1.0f, 42, 0);
    CU_ASSERT_EQUAL(memcmp(a, b, sizeof a), 0);
    /* a prefix is the same fill (element i depends only on i) */
    nnrt_fill_normal_f32(c, 13, 0.0f, 1.0f, 42, 0);
    CU_ASSERT_EQUAL(memcmp(a, c, 13 * sizeof(float)), 0);
    /* other streams and seeds differ */
    nnrt_fill_normal_f32(c, N, 0.0f, 1.0f, 42, 1);
    nnrt_fill_normal_f32(e, N, 0.0f, 1.0f, 43, 0);
    for (i = 0; i < N; i++)
        same += (a[i] == c[i]) + (a[i] == e[i]) + (c[i] == e[i]);
    CU_ASSERT(same < 3);
    /* f32 is (float) of the f64 computation */
    nnrt_fill_normal_f64(x, N, 0.0, 1.0, 42, 0);
    for (i = 0; i < N; i++)
        CU_ASSERT_EQUAL(a[i], (float)x[i]);
    nnrt_fill_uniform_f32(a, N, -0.25f, 0.75f, 5, 9);
    nnrt_fill_uniform_f64(x, N, -0.25, 0.75, 5, 9);
    for (i = 0; i < N; i++)
        CU_ASSERT_EQUAL(a[i], (float)x[i]);
}

static void moments(const double *x, size_t n, double *mean, double *var)
{
    double s = 0, s2 = 0;
    size_t i;
    for (i = 0; i < n; i++)
        s += x[i];
    *mean = s / (double)n;
    for (i = 0; i < n; i++)
        s2 += (x[i] - *mean) * (x[i] - *mean);
    *var = s2 / (double)(n - 1);
}

static void test_fill_uniform_stats(void)
{
    enum { N = 100000 };
    double *x = malloc(N * sizeof *x), mean, var, lo = 1e9, hi = -1e9;
    float *f = malloc(N * sizeof *f);
    size_t i;
    CU_ASSERT_FATAL(x != NULL && f != NULL);
    nnrt_fill_uniform_f64(x, N, -1.0, 3.0, 7, 0);
    for (i = 0; i < N; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    moments(x, N, &mean, &var);
    CU_ASSERT(lo >= -1.0 && hi < 3.0);
    CU_ASSERT_DOUBLE_EQUAL(mean, 1.0, 0.02);
    CU_ASSERT_DOUBLE_EQUAL(var, 16.0 / 12.0, 0.03);
    nnrt_fill_uniform_f32(f, N, 0.0f, 1.0f, 8, 1);
    for (i = 0; i < N; i++)
        x[i] = f[i];
    moments(x, N, &mean, &var);
    CU_ASSERT_DOUBLE_EQUAL(mean, 0.5, 0.005);
    CU_ASSERT_DOUBLE_EQUAL(var, 1.0 / 12.0, 0.002);
    free(x);
    free(f);
}

static void test_fill_normal_stats(void)
{
    enum { N = 100000 };
    double *x = malloc(N * sizeof *x), mean, var;
    float *f = malloc(N * sizeof *f);
    size_t i, tails = 0;
    CU_ASSERT_FATAL(x != NULL && f != NULL);
    nnrt_fill_normal_f64(x, N, 0.0, 1.0, 2024, 0);
    moments(x, N, &mean, &var);
    CU_ASSERT_DOUBLE_EQUAL(mean, 0.0, 0.015);
    CU_ASSERT_DOUBLE_EQUAL(sqrt(var), 1.0, 0.015);
    for (i = 0; i < N; i++)
        tails += fabs(x[i]) > 1.96;
    CU_ASSERT(tails > 4500 && tails < 5500); /* ~5% outside 1.96 sigma */
    nnrt_fill_normal_f32(f, N, 2.0f, 3.0f, 2025, 4);
    for (i = 0; i < N; i++) {
        CU_ASSERT_FATAL(isfinite(f[i]));
        x[i] = f[i];
    }
    moments(x, N, &mean, &var);
    CU_ASSERT_DOUBLE_EQUAL(mean, 2.0, 0.05);
    CU_ASSERT_DOUBLE_EQUAL(sqrt(var), 3.0, 0.05);
    free(x);
    free(f);
}

/* ---- safetensors ------------------------------------------------------------- */

/* A small model: fc1.weight [3,4], fc1.bias [4], a scalar, all of dtype dt. */
static void model_infos(nnrt_tensor_info t[3], int dt)
{
    memset(t, 0, 3 * sizeof *t);
    t[0].name = "fc1.weight";
    t[0].dtype = dt;
    t[0].rank = 2;
    t[0].shape[0] = 3;
    t[0].shape[1] = 4;
    t[0].offset = 0;
    t[0].numel = 12;
    t[1].name = "fc1.bias";
    t[1].dtype = dt;
    t[1].rank = 1;
    t[1].shape[0] = 4;
    t[1].offset = 12;
    t[1].numel = 4;
    t[2].name = "scale";
    t[2].dtype = dt;
    t[2].rank = 0;
    t[2].offset = 16;
    t[2].numel = 1;
}

#define MODEL_N 17 /* elements in the model above */

static void test_st_roundtrip_f32(void)
{
    nnrt_tensor_info t[3], info = {0};
    float w[MODEL_N], r[MODEL_N];
    nnrt_err err;
    nnrt_st_file *f;
    const void *data = NULL;
    unsigned char *raw;
    size_t len, i;
    uint64_t hlen = 0;
    const char *p = tp("rt32.safetensors");

    model_infos(t, NNRT_F32);
    nnrt_fill_normal_f32(w, MODEL_N, 0.0f, 1.0f, 1, 0);
    CU_ASSERT_EQUAL_FATAL(nnrt_st_save(p, t, 3, w, &err), NNRT_OK);
    CU_ASSERT_EQUAL(count_temporaries(g_dir), 0);
    memset(r, 0, sizeof r);
    CU_ASSERT_EQUAL(nnrt_st_load(p, t, 3, r, &err), NNRT_OK);
    CU_ASSERT_EQUAL(memcmp(w, r, sizeof w), 0);

    /* layout: u64 LE header length, multiple of 8, data right after */
    raw = slurp(p, &len);
    CU_ASSERT_FATAL(raw != NULL);
    for (i = 0; i < 8; i++)
        hlen |= (uint64_t)raw[i] << (8 * i);
    CU_ASSERT_EQUAL(hlen % 8, 0);
    CU_ASSERT_EQUAL(len, 8 + hlen + MODEL_N * 4);
    CU_ASSERT_EQUAL(raw[8], '{');
    free(raw);

    CU_ASSERT_EQUAL_FATAL(nnrt_st_open(p, &f, &err), NNRT_OK);
    CU_ASSERT_EQUAL(nnrt_st_count(f), 3);
    for (i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL(nnrt_st_get(f, (int)i, &info, &data), NNRT_OK);
        CU_ASSERT_STRING_EQUAL(info.name, t[i].name); /* file order kept */
        CU_ASSERT_EQUAL(info.rank, t[i].rank);
        CU_ASSERT_EQUAL(info.numel, t[i].numel);
        CU_ASSERT_EQUAL(info.offset, 0);
        CU_ASSERT_EQUAL(memcmp(data, w + t[i].offset, t[i].numel * 4), 0);
    }
    CU_ASSERT_EQUAL(nnrt_st_get(f, 3, &info, &data), NNRT_ERR_RANGE);
    CU_ASSERT_EQUAL(nnrt_st_get(f, -1, &info, &data), NNRT_ERR_RANGE);
    CU_ASSERT_EQUAL(nnrt_st_find(f, "fc1.bias", &info, &data), NNRT_OK);
    CU_ASSERT_EQUAL(info.shape[0], 4);
    CU_ASSERT_EQUAL(info.dtype, NNRT_F32);
    CU_ASSERT_EQUAL(nnrt_st_find(f, "fc2.bias", &info, &data),
                    NNRT_ERR_NOT_FOUND);
    nnrt_st_close(f);
    nnrt_st_close(NULL);
}

/* What a partial load reported: "-name" missing, "+name" unexpected,
 * joined by spaces in call order. */
static void record_name(void *ctx, int missing, const char *name)
{
    char *s = ctx;
    size_t n = strlen(s);
    snprintf(s + n, 256 - n, "%s%c%s", n ? " " : "", missing ? '-' : '+', name);
}

/* nnrt_st_load_partial: a file with fc1.* but without "scale" and with an
 * extra tensor loads fc1.*, keeps scale, reports both names; a prefix map
 * renames the file's "backbone." to the model's "fc1."; a matched name of
 * another shape and a bad map are errors that leave the buffer alone. */
static void test_st_load_partial(void)
{
    nnrt_tensor_info t[3], file[3];
    float w[MODEL_N], r[MODEL_N];
    char got[256] = "";
    nnrt_err err;
    int n = -1;
    const char *p = tp("partial.safetensors"), *q = tp("partial_map.safetensors");

    model_infos(t, NNRT_F32);
    memcpy(file, t, sizeof file);
    file[2].name = "head.weight"; /* the file lacks "scale", has an extra tensor */
    nnrt_fill_normal_f32(w, MODEL_N, 0.0f, 1.0f, 2, 0);
    CU_ASSERT_EQUAL_FATAL(nnrt_st_save(p, file, 3, w, &err), NNRT_OK);
    for (int k = 0; k < MODEL_N; k++)
        r[k] = -7.0f;
    CU_ASSERT_EQUAL(nnrt_st_load_partial(p, t, 3, r, NULL, record_name, got, &n, &err), NNRT_OK);
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT_EQUAL(memcmp(w, r, 16 * sizeof *w), 0);
    CU_ASSERT_EQUAL(r[16], -7.0f);
    CU_ASSERT_STRING_EQUAL(got, "-scale +head.weight");

    file[0].name = "backbone.weight", file[1].name = "backbone.bias", file[2].name = "scale";
    CU_ASSERT_EQUAL_FATAL(nnrt_st_save(q, file, 3, w, &err), NNRT_OK);
    memset(r, 0, sizeof r), got[0] = 0;
    CU_ASSERT_EQUAL(nnrt_st_load_partial(q, t, 3, r, "x.=y.,backbone.=fc1.", record_name, got, &n, &err), NNRT_OK);
    CU_ASSERT_EQUAL(n, 3);
    CU_ASSERT_EQUAL(memcmp(w, r, sizeof w), 0);
    CU_ASSERT_STRING_EQUAL(got, "");
    got[0] = 0;
    CU_ASSERT_EQUAL(nnrt_st_load_partial(q, t, 3, r, "", record_name, got, NULL, &err), NNRT_OK);
    CU_ASSERT_STRING_EQUAL(got, "-fc1.weight -fc1.bias +backbone.weight +backbone.bias");

    memset(r, 0, sizeof r), got[0] = 0;
    CU_ASSERT_EQUAL(nnrt_st_load_partial(q, t, 3, r, "backbone.", record_name, got, &n, &err), NNRT_ERR_ARG);
    CU_ASSERT(strstr(err.msg, "FILE_PREFIX=MODEL_PREFIX") != NULL);
    t[0].shape[0] = 4, t[0].shape[1] = 3; /* same count, another shape */
    CU_ASSERT_EQUAL(nnrt_st_load_partial(q, t, 3, r, "backbone.=fc1.", record_name, got, &n, &err), NNRT_ERR_SHAPE);
    CU_ASSERT(strstr(err.msg, "tensor 'backbone.weight' has shape [3, 4], the model's 'fc1.weight' is [4, 3]") !=
              NULL);
    CU_ASSERT_STRING_EQUAL(got, "");
    for (int k = 0; k < MODEL_N; k++)
        CU_ASSERT_EQUAL(r[k], 0.0f);
    CU_ASSERT_EQUAL(nnrt_st_load_partial(tp("none.safetensors"), t, 3, r, NULL, NULL, NULL, NULL, &err), NNRT_ERR_IO);
}

/* Metadata set on a saved file: read back (escapes included), the tensors
 * load as before, the header is still a multiple of 8, a second set
 * replaces the first. */
static void test_st_metadata(void)
{
    nnrt_tensor_info t[3];
    float w[MODEL_N], r[MODEL_N];
    const char *kv[4] = {"nnc.file", "a \"quoted\"\\path\n", "nnc.seed", "7"};
    const char *kv2[2] = {"only", "this"};
    nnrt_err err;
    nnrt_st_file *f;
    const void *data = (const void *)1;
    unsigned char *raw;
    size_t len;
    const char *p = tp("meta.safetensors");

    model_infos(t, NNRT_F32);
    nnrt_fill_normal_f32(w, MODEL_N, 0.0f, 1.0f, 3, 0);
    CU_ASSERT_EQUAL_FATAL(nnrt_st_save(p, t, 3, w, &err), NNRT_OK);
    CU_ASSERT_EQUAL_FATAL(nnrt_st_set_metadata(p, kv, 2, &err), NNRT_OK);
    CU_ASSERT_EQUAL(count_temporaries(g_dir), 0);
    CU_ASSERT_EQUAL_FATAL(nnrt_st_open_header(p, &f, &err), NNRT_OK);
    CU_ASSERT_STRING_EQUAL(nnrt_st_meta(f, "nnc.file"), kv[1]);
    CU_ASSERT_STRING_EQUAL(nnrt_st_meta(f, "nnc.seed"), "7");
    CU_ASSERT_PTR_NULL(nnrt_st_meta(f, "nnc.none"));
    CU_ASSERT_EQUAL(nnrt_st_count(f), 3);
    CU_ASSERT_EQUAL(nnrt_st_get(f, 1, NULL, &data), NNRT_OK);
    CU_ASSERT_PTR_NULL(data); /* the header alone has no data */
    nnrt_st_close(f);
    memset(r, 0, sizeof r);
    CU_ASSERT_EQUAL(nnrt_st_load(p, t, 3, r, &err), NNRT_OK);
    CU_ASSERT_EQUAL(memcmp(w, r, sizeof w), 0);
    raw = slurp(p, &len);
    CU_ASSERT_FATAL(raw != NULL);
    CU_ASSERT_EQUAL((len - MODEL_N * 4) % 8, 0);
    free(raw);
    CU_ASSERT_EQUAL_FATAL(nnrt_st_set_metadata(p, kv2, 1, &err), NNRT_OK);
    CU_ASSERT_EQUAL_FATAL(nnrt_st_open(p, &f, &err), NNRT_OK);
    CU_ASSERT_PTR_NULL(nnrt_st_meta(f, "nnc.seed"));
    CU_ASSERT_STRING_EQUAL(nnrt_st_meta(f, "only"), "this");
    nnrt_st_close(f);
    CU_ASSERT_EQUAL(nnrt_st_set_metadata(tp("no-such.safetensors"), kv2, 1, &err), NNRT_ERR_IO);
}

static void test_st_roundtrip_f64(void)
{
    nnrt_tensor_info t[3];
    double w[MODEL_N], r[MODEL_N];
    nnrt_err err;
    const char *p = tp("rt64.safetensors");
    model_infos(t, NNRT_F64);
    nnrt_fill_normal_f64(w, MODEL_N, 0.0, 1.0, 2, 0);
    CU_ASSERT_EQUAL_FATAL(nnrt_st_save(p, t, 3, w, &err), NNRT_OK);
    memset(r, 0, sizeof r);
    CU_ASSERT_EQUAL(nnrt_st_load(p, t, 3, r, &err), NNRT_OK);
    CU_ASSERT_EQUAL(memcmp(w, r, sizeof w), 0);
    /* saving again over the existing file replaces it */
    w[0] = 123.5;
    CU_ASSERT_EQUAL_FATAL(nnrt_st_save(p, t, 3, w, &err), NNRT_OK);
    CU_ASSERT_EQUAL(nnrt_st_load(p, t, 3, r, &err), NNRT_OK);
    CU_ASSERT_EQUAL(r[0], 123.5);
}

static void test_st_convert(void)
{
    nnrt_tensor_info t32[3], t64[3];
    float w[MODEL_N], r32[MODEL_N];
    double d[MODEL_N], r64[MODEL_N];
    nnrt_err err;
    size_t i;
    const char *p32 = tp("c32.safetensors"), *p64 = tp("c64.safetensors");
    model_infos(t32, NNRT_F32);
    model_infos(t64, NNRT_F64);
    nnrt_fill_uniform_f32(w, MODEL_N, -1.0f, 1.0f, 3, 0);
    nnrt_fill_uniform_f64(d, MODEL_N, -1.0, 1.0, 4, 0);
    d[0] = 0.1; /* not exact in float */
    CU_ASSERT_EQUAL_FATAL(nnrt_st_save(p32, t32, 3, w, &err), NNRT_OK);
    CU_ASSERT_EQUAL_FATAL(nnrt_st_save(p64, t64, 3, d, &err), NNRT_OK);
    CU_ASSERT_EQUAL(nnrt_st_load(p32, t64, 3, r64, &err), NNRT_OK);
    for (i = 0; i < MODEL_N; i++)
        CU_ASSERT_EQUAL(r64[i], (double)w[i]);
    CU_ASSERT_EQUAL(nnrt_st_load(p64, t32, 3, r32, &err), NNRT_OK);
    for (i = 0; i < MODEL_N; i++)
        CU_ASSERT_EQUAL(r32[i], (float)d[i]);
}

static void test_st_int_types(void)
{
    nnrt_tensor_info t[2], info = {0};
    unsigned char buf[64], back[64];
    int32_t iv[3] = {-5, 0, 2000000000};
    nnrt_err err;
    nnrt_st_file *f;
    const void *data = NULL;
    const char *p = tp("ints.safetensors");
    memset(t, 0, sizeof t);
    t[0].name = "counts";
    t[0].dtype = NNRT_I32;
    t[0].rank = 1;
    t[0].shape[0] = 3;
    t[0].numel = 3;
    t[1].name = "mask";
    t[1].dtype = NNRT_U8;
    t[1].rank = 2;
    t[1].shape[0] = 1;
    t[1].shape[1] = 5;
    t[1].offset = 12;
    t[1].numel = 5;
    memset(buf, 0, sizeof buf);
    memcpy(buf, iv, sizeof iv);
    memcpy(buf + 12, "\x01\x02\x03\xfe\xff", 5);
    CU_ASSERT_EQUAL_FATAL(nnrt_st_save(p, t, 2, buf, &err), NNRT_OK);
    memset(back, 0, sizeof back);
    CU_ASSERT_EQUAL(nnrt_st_load(p, t, 2, back, &err), NNRT_OK);
    CU_ASSERT_EQUAL(memcmp(buf, back, 17), 0);
    CU_ASSERT_EQUAL_FATAL(nnrt_st_open(p, &f, &err), NNRT_OK);
    CU_ASSERT_EQUAL(nnrt_st_find(f, "mask", &info, &data), NNRT_OK);
    CU_ASSERT_EQUAL(info.dtype, NNRT_U8);
    CU_ASSERT_EQUAL(info.numel, 5);
    nnrt_st_close(f);
}

/* Write a safetensors file from a header text and dlen data bytes. */
static void write_st(const char *path, const char *json, size_t dlen)
{
    size_t n = strlen(json), i;
    unsigned char *b = malloc(8 + n + dlen + 1);
    for (i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(b + 8, json, n);
    for (i = 0; i < dlen; i++)
        b[8 + n + i] = (unsigned char)(i * 7 + 1);
    CU_ASSERT(write_file(path, b, 8 + n + dlen));
    free(b);
}

/* Load the model into a sentinel-filled buffer; check rc, message and that
 * the buffer is untouched. */
static void expect_load_fail(const char *path, const nnrt_tensor_info *t,
                             int n, int want, const char *sub)
{
    float buf[MODEL_N + 8];
    nnrt_err err;
    size_t i;
    int rc;
    for (i = 0; i < MODEL_N + 8; i++)
        buf[i] = -777.0f;
    strcpy(err.msg, "(untouched)");
    rc = nnrt_st_load(path, t, n, buf, &err);
    CHECK_ERR(rc, want, err, sub);
    CU_ASSERT(contains(err.msg, path));
    for (i = 0; i < MODEL_N + 8; i++)
        CU_ASSERT_EQUAL(buf[i], -777.0f);
}

static void test_st_load_errors(void)
{
    nnrt_tensor_info t[3], bad[3];
    float w[MODEL_N];
    nnrt_err err;
    unsigned char *raw;
    size_t len;
    const char *p = tp("good.safetensors"), *q = tp("bad.safetensors");
    model_infos(t, NNRT_F32);
    nnrt_fill_normal_f32(w, MODEL_N, 0.0f, 1.0f, 5, 0);
    CU_ASSERT_EQUAL_FATAL(nnrt_st_save(p, t, 3, w, &err), NNRT_OK);

    /* missing name (the other two would load fine) */
    memcpy(bad, t, sizeof t);
    bad[2].name = "fc2.bias";
    expect_load_fail(p, bad, 3, NNRT_ERR_NOT_FOUND, "'fc2.bias' not found");
    /* wrong shape */
    memcpy(bad, t, sizeof t);
    bad[0].shape[0] = 4;
    bad[0].shape[1] = 3;
    expect_load_fail(p, bad, 3, NNRT_ERR_SHAPE,
                     "tensor 'fc1.weight' has shape [3, 4], model expects "
                     "[4, 3]");
    bad[0].rank = 1;
    bad[0].shape[0] = 12;
    expect_load_fail(p, bad, 3, NNRT_ERR_SHAPE, "model expects [12]");
    /* wrong dtype: I32 file tensor into an F32 model */
    {
        nnrt_tensor_info it = t[1];
        int32_t iv[4] = {1, 2, 3, 4};
        it.dtype = NNRT_I32;
        it.offset = 0;
        CU_ASSERT_EQUAL_FATAL(nnrt_st_save(q, &it, 1, iv, &err), NNRT_OK);
        memcpy(bad, t, sizeof t);
        bad[1].offset = 0;
        expect_load_fail(q, &bad[1], 1, NNRT_ERR_DTYPE,
                         "has dtype I32, model expects F32");
    }
    /* bad infos from the caller */
    memcpy(bad, t, sizeof t);
    bad[1].numel = 5;
    expect_load_fail(p, bad, 3, NNRT_ERR_ARG, "numel");

    /* truncated file: every shorter prefix fails cleanly */
    raw = slurp(p, &len);
    CU_ASSERT_FATAL(raw != NULL);
    {
        size_t cut;
        for (cut = 0; cut < len; cut++) {
            CU_ASSERT_FATAL(write_file(q, raw, cut));
            expect_load_fail(q, t, 3, NNRT_ERR_FORMAT, NULL);
        }
        CU_ASSERT(write_file(q, raw, len - 4));
        expect_load_fail(q, t, 3, NNRT_ERR_FORMAT, "its header describes");
        CU_ASSERT(write_file(q, raw, 5));
        expect_load_fail(q, t, 3, NNRT_ERR_FORMAT, "too short");
    }
    /* garbage header */
    memcpy(raw + 8, "[nonsense", 9);
    CU_ASSERT(write_file(q, raw, len));
    expect_load_fail(q, t, 3, NNRT_ERR_FORMAT, "bad safetensors header");
    /* header length huge */
    raw[7] = 0x10;
    CU_ASSERT(write_file(q, raw, len));
    expect_load_fail(q, t, 3, NNRT_ERR_FORMAT, "header length");
    memset(raw, 0xff, 8);
    CU_ASSERT(write_file(q, raw, len));
    expect_load_fail(q, t, 3, NNRT_ERR_FORMAT, "header length");
    free(raw);
    /* missing file */
    expect_load_fail(tp("nope.safetensors"), t, 3, NNRT_ERR_IO,
                     "cannot open");
}

/* One hand-written header and what loading "a" [2] F32 from it gives. */
typedef struct st_case {
    const char *json; /* header text */
    size_t dlen;      /* data bytes after it */
    int want;         /* nnrt_st_load status */
    const char *sub;  /* expected message text */
} st_case;

static void test_st_malformed_headers(void)
{
    static const st_case cases[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
         8, NNRT_OK, NULL},
        {"  {\"a\" : {\"data_offsets\" : [0, 8], \"shape\" : [2], "
         "\"dtype\" : \"F32\"}, \"__metadata__\": {\"format\": \"pt\", "
         "\"k\\\"\": \"v\\u00e9\"}}   ",
         8, NNRT_OK, NULL},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[8,16]}}",
         16, NNRT_OK, NULL},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,12]}}",
         12, NNRT_ERR_FORMAT, "need 8"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
         4, NNRT_ERR_FORMAT, "the file has 66 bytes, its header describes 70"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
         12, NNRT_ERR_FORMAT, "its header describes 70 (8 + 54 of header + 8 of data)"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}",
         8, NNRT_ERR_FORMAT, "the end is before the begin"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
         12, NNRT_ERR_FORMAT, "overlap"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
         16, NNRT_ERR_FORMAT, "tensor 'a' is named twice"},
        /* named twice with the same bytes: named twice, not "overlap" */
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
         8, NNRT_ERR_FORMAT, "tensor 'a' is named twice in the header"},
        {"{\"a\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,8]}}",
         8, NNRT_ERR_FORMAT, "unknown dtype"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],"
         "\"x\":1}}", 8, NNRT_ERR_FORMAT, "unknown key"},
        {"{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],"
         "\"data_offsets\":[0,8]}}", 8, NNRT_ERR_FORMAT, "duplicate key"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, NNRT_ERR_FORMAT,
         "needs dtype"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}",
         8, NNRT_ERR_FORMAT, "non-negative"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[02],\"data_offsets\":[0,8]}}",
         8, NNRT_ERR_FORMAT, "leading zero"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}",
         8, NNRT_ERR_FORMAT, "integer"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],"
         "\"data_offsets\":[0,8]}}", 8, NNRT_ERR_FORMAT, "too large"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,"
         "4294967296],\"data_offsets\":[0,8]}}", 8, NNRT_ERR_FORMAT,
         "overflow"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,2],"
         "\"data_offsets\":[0,8]}}", 8, NNRT_ERR_FORMAT, "rank"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,9]}}",
         8, NNRT_ERR_FORMAT, "2 integers"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}",
         8, NNRT_ERR_FORMAT, "2 integers"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}",
         8, NNRT_ERR_FORMAT, "expected"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}x",
         8, NNRT_ERR_FORMAT, "trailing"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},}",
         8, NNRT_ERR_FORMAT, "expected '\"'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,],\"data_offsets\":[0,8]}}",
         8, NNRT_ERR_FORMAT, "integer"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"__metadata__\":{\"k\":1}}", 8, NNRT_ERR_FORMAT, "strings"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"__metadata__\":{},\"__metadata__\":{}}", 8, NNRT_ERR_FORMAT,
         "duplicate __metadata__"},
        {"{\"a\\q\":{}}", 8, NNRT_ERR_FORMAT, "bad escape"},
        {"{\"a\\ud800\":{}}", 8, NNRT_ERR_FORMAT, "surrogate"},
        {"{\"a\\u00\":{}}", 8, NNRT_ERR_FORMAT, "hex"},
        {"{\"a\\u0000\":{}}", 8, NNRT_ERR_FORMAT, "u0000"},
        {"{\"a\x01\":{}}", 8, NNRT_ERR_FORMAT, "control"},
        {"{\"a", 8, NNRT_ERR_FORMAT, "unterminated"},
        {"{\"a\":[]}", 8, NNRT_ERR_FORMAT, "expected '{'"},
        {"{\"a\":{\"dtype\":{},\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
         NNRT_ERR_FORMAT, "expected '\"'"},
        {"{}", 0, NNRT_ERR_NOT_FOUND, "'a' not found"},
        {"[]", 8, NNRT_ERR_FORMAT, "expected '{'"},
        {"        ", 8, NNRT_ERR_FORMAT, "expected '{'"},
        {"{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
         8, NNRT_ERR_NOT_FOUND, "'a' not found"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,2],\"data_offsets\":[0,8]}}",
         8, NNRT_ERR_SHAPE, "[1, 2], model expects [2]"},
        {"{\"a\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}",
         4, NNRT_ERR_DTYPE, "has dtype BF16"},
    };
    nnrt_tensor_info a;
    size_t k;
    const char *q = tp("hdr.safetensors");
    memset(&a, 0, sizeof a);
    a.name = "a";
    a.dtype = NNRT_F32;
    a.rank = 1;
    a.shape[0] = 2;
    a.numel = 2;
    for (k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        nnrt_st_file *f = NULL;
        nnrt_err err;
        unsigned before = CU_get_number_of_failures();
        write_st(q, cases[k].json, cases[k].dlen);
        if (cases[k].want == NNRT_OK) {
            float v[2] = {0, 0};
            CU_ASSERT_EQUAL(nnrt_st_load(q, &a, 1, v, &err), NNRT_OK);
            CU_ASSERT(v[0] != 0.0f);
            CU_ASSERT_EQUAL(nnrt_st_open(q, &f, &err), NNRT_OK);
            nnrt_st_close(f);
        } else {
            expect_load_fail(q, &a, 1, cases[k].want, cases[k].sub);
            /* open fails too exactly when the header itself is bad */
            if (cases[k].want == NNRT_ERR_FORMAT) {
                CU_ASSERT_EQUAL(nnrt_st_open(q, &f, &err), NNRT_ERR_FORMAT);
                CU_ASSERT_PTR_NULL(f);
            }
        }
        if (CU_get_number_of_failures() != before)
            fprintf(stderr, "\n  (st case %zu)\n", k);
    }
}

static void test_st_names_and_unsupported(void)
{
    nnrt_st_file *f;
    nnrt_tensor_info info = {0};
    const void *data = NULL;
    nnrt_err err;
    const char *q = tp("names.safetensors");
    write_st(q, "{\"caf\\u00e9\\ud83d\\ude00\\n\":{\"dtype\":\"F32\","
                "\"shape\":[],\"data_offsets\":[0,4]},\"h\":{\"dtype\":"
                "\"F16\",\"shape\":[2],\"data_offsets\":[4,8]}}", 8);
    CU_ASSERT_EQUAL_FATAL(nnrt_st_open(q, &f, &err), NNRT_OK);
    CU_ASSERT_EQUAL(nnrt_st_count(f), 2);
    CU_ASSERT_EQUAL(nnrt_st_get(f, 0, &info, &data), NNRT_OK);
    CU_ASSERT_STRING_EQUAL(info.name, "caf\xc3\xa9\xf0\x9f\x98\x80\n");
    CU_ASSERT_EQUAL(info.rank, 0);
    CU_ASSERT_EQUAL(info.numel, 1);
    CU_ASSERT_EQUAL(nnrt_st_get(f, 1, &info, &data), NNRT_ERR_DTYPE);
    CU_ASSERT_EQUAL(info.dtype, -1);
    CU_ASSERT_STRING_EQUAL(info.name, "h");
    CU_ASSERT_EQUAL(nnrt_st_find(f, "caf\xc3\xa9\xf0\x9f\x98\x80\n", &info,
                                 &data), NNRT_OK);
    nnrt_st_close(f);

    /* names needing escapes survive a save/load round trip */
    {
        nnrt_tensor_info t;
        float v = 2.5f, r = 0;
        memset(&t, 0, sizeof t);
        t.name = "we\"ird\\na\tme";
        t.dtype = NNRT_F32;
        t.numel = 1;
        CU_ASSERT_EQUAL(nnrt_st_save(q, &t, 1, &v, &err), NNRT_OK);
        CU_ASSERT_EQUAL(nnrt_st_load(q, &t, 1, &r, &err), NNRT_OK);
        CU_ASSERT_EQUAL(r, 2.5f);
    }
    /* an empty model saves as "{}" padded */
    CU_ASSERT_EQUAL(nnrt_st_save(q, NULL, 0, NULL, &err), NNRT_OK);
    CU_ASSERT_EQUAL_FATAL(nnrt_st_open(q, &f, &err), NNRT_OK);
    CU_ASSERT_EQUAL(nnrt_st_count(f), 0);
    CU_ASSERT_EQUAL(nnrt_st_find(f, "x", &info, &data), NNRT_ERR_NOT_FOUND);
    nnrt_st_close(f);
}

/* Flip bytes of a valid file (deterministically) and load: never crash;
 * on failure the destination is untouched. */
static void test_st_fuzz(void)
{
    nnrt_tensor_info t[3];
    float w[MODEL_N];
    nnrt_err err;
    unsigned char *raw, *mut;
    size_t len, it;
    const char *p = tp("fz.safetensors"), *q = tp("fz2.safetensors");
    model_infos(t, NNRT_F32);
    nnrt_fill_normal_f32(w, MODEL_N, 0.0f, 1.0f, 6, 0);
    CU_ASSERT_EQUAL_FATAL(nnrt_st_save(p, t, 3, w, &err), NNRT_OK);
    raw = slurp(p, &len);
    mut = malloc(len);
    CU_ASSERT_FATAL(raw != NULL && mut != NULL);
    for (it = 0; it < 3000; it++) {
        uint32_t r[4];
        float buf[MODEL_N];
        size_t k;
        int rc;
        memcpy(mut, raw, len);
        nnrt_philox4x32(77, 0, it, r);
        mut[r[0] % len] = (unsigned char)r[1];
        if (r[2] & 1)
            mut[(r[2] >> 1) % len] = (unsigned char)(r[3] & 0xff);
        CU_ASSERT_FATAL(write_file(q, mut, len));
        for (k = 0; k < MODEL_N; k++)
            buf[k] = -9.0f;
        rc = nnrt_st_load(q, t, 3, buf, &err);
        if (rc != NNRT_OK)
            for (k = 0; k < MODEL_N; k++)
                CU_ASSERT_EQUAL(buf[k], -9.0f);
    }
    free(raw);
    free(mut);
}

static void test_st_save_failures(void)
{
    nnrt_tensor_info t[3], bad[3];
    float w[MODEL_N];
    nnrt_err err;
    unsigned char *before, *after;
    size_t blen, alen;
    const char *p = tp("keep.safetensors");
    model_infos(t, NNRT_F32);
    nnrt_fill_normal_f32(w, MODEL_N, 0.0f, 1.0f, 8, 0);
    CU_ASSERT_EQUAL_FATAL(nnrt_st_save(p, t, 3, w, &err), NNRT_OK);
    before = slurp(p, &blen);
    CU_ASSERT_FATAL(before != NULL);

    /* the old fixed name path.tmp is not used: a directory there is left
     * alone, and a symbolic link planted there (to a file of the victim's)
     * is never followed */
    CU_ASSERT_FATAL(mkdir(tp("keep.safetensors.tmp"), 0700) == 0);
    CU_ASSERT_FATAL(write_text(tp("victim"), "precious"));
    CU_ASSERT_EQUAL_FATAL(nnrt_st_save(p, t, 3, w, &err), NNRT_OK);
    rmdir(tp("keep.safetensors.tmp"));
    CU_ASSERT_FATAL(symlink(tp("victim"), tp("keep.safetensors.tmp")) == 0);
    w[0] = 42.0f;
    CU_ASSERT_EQUAL(nnrt_st_save(p, t, 3, w, &err), NNRT_OK);
    after = slurp(tp("victim"), &alen);
    CU_ASSERT(after && alen == 8 && memcmp(after, "precious", 8) == 0);
    free(after);
    unlink(tp("keep.safetensors.tmp"));
    {
        float r[MODEL_N];
        CU_ASSERT_EQUAL(nnrt_st_load(p, t, 3, r, &err), NNRT_OK);
        CU_ASSERT_EQUAL(r[0], 42.0f);
    }
    CU_ASSERT_EQUAL(count_temporaries(g_dir), 0);

    /* a directory that cannot be written (only meaningful when not root) */
    if (geteuid() != 0) {
        const char *d = tp("ro");
        char fp[600];
        CU_ASSERT_FATAL(mkdir(d, 0700) == 0);
        snprintf(fp, sizeof fp, "%s/m.safetensors", d);
        CU_ASSERT_EQUAL_FATAL(nnrt_st_save(fp, t, 3, w, &err), NNRT_OK);
        CU_ASSERT_FATAL(chmod(d, 0500) == 0);
        w[1] = 43.0f;
        CHECK_ERR(nnrt_st_save(fp, t, 3, w, &err), NNRT_ERR_IO, err,
                  "cannot create");
        {
            float r[MODEL_N];
            CU_ASSERT_EQUAL(nnrt_st_load(fp, t, 3, r, &err), NNRT_OK);
            CU_ASSERT_EQUAL(r[0], 42.0f);
            CU_ASSERT(r[1] != 43.0f);
        }
        chmod(d, 0700);
    }

    /* rename fails (target is a non-empty directory): tmp is cleaned up */
    CU_ASSERT_FATAL(mkdir(tp("dirtarget"), 0700) == 0);
    CU_ASSERT_FATAL(write_text(tp("dirtarget/x"), "x"));
    CHECK_ERR(nnrt_st_save(tp("dirtarget"), t, 3, w, &err), NNRT_ERR_IO, err,
              "dirtarget: is a directory");
    CU_ASSERT_EQUAL(count_temporaries(g_dir), 0);

    /* missing directory */
    CHECK_ERR(nnrt_st_save(tp("no/such/dir.safetensors"), t, 3, w, &err),
              NNRT_ERR_IO, err, "dir.safetensors: cannot create a file in directory");

    /* bad infos: nothing is written */
    memcpy(bad, t, sizeof t);
    bad[2].name = "fc1.bias";
    CHECK_ERR(nnrt_st_save(tp("dup.safetensors"), bad, 3, w, &err),
              NNRT_ERR_ARG, err, "given twice");
    CU_ASSERT_FALSE(exists(tp("dup.safetensors")));
    memcpy(bad, t, sizeof t);
    bad[0].dtype = 17;
    CHECK_ERR(nnrt_st_save(tp("dup.safetensors"), bad, 3, w, &err),
              NNRT_ERR_ARG, err, "dtype");
    memcpy(bad, t, sizeof t);
    bad[0].shape[0] = -3;
    CHECK_ERR(nnrt_st_save(tp("dup.safetensors"), bad, 3, w, &err),
              NNRT_ERR_ARG, err, "shape");
    CU_ASSERT_FALSE(exists(tp("dup.safetensors")));
    free(before);
}

/* ---- IDX ------------------------------------------------------------------------ */

static void test_idx_roundtrip(void)
{
    nnrt_idx t, r;
    nnrt_err err;
    unsigned char u8[24], *raw;
    int32_t i32[5] = {-1, 0, 1, 123456789, INT32_MIN};
    float f32[4] = {0.5f, -2.25f, 1e-30f, 3.0e30f};
    size_t k, len;
    for (k = 0; k < 24; k++)
        u8[k] = (unsigned char)(k * 11);
    memset(&t, 0, sizeof t);
    t.type = NNRT_U8;
    t.rank = 3;
    t.shape[0] = 2;
    t.shape[1] = 3;
    t.shape[2] = 4;
    t.numel = 24;
    t.data = u8;
    CU_ASSERT_EQUAL_FATAL(nnrt_idx_write(tp("u8.idx"), &t, &err), NNRT_OK);
    raw = slurp(tp("u8.idx"), &len);
    CU_ASSERT_FATAL(raw != NULL);
    CU_ASSERT_EQUAL(len, 4 + 12 + 24);
    CU_ASSERT(raw[0] == 0 && raw[1] == 0 && raw[2] == 0x08 && raw[3] == 3);
    CU_ASSERT(raw[7] == 2 && raw[11] == 3 && raw[15] == 4);
    free(raw);
    CU_ASSERT_EQUAL_FATAL(nnrt_idx_read(tp("u8.idx"), &r, &err), NNRT_OK);
    CU_ASSERT_EQUAL(r.type, NNRT_U8);
    CU_ASSERT_EQUAL(r.rank, 3);
    CU_ASSERT(r.shape[0] == 2 && r.shape[1] == 3 && r.shape[2] == 4);
    CU_ASSERT_EQUAL(r.numel, 24);
    CU_ASSERT_EQUAL(memcmp(r.data, u8, 24), 0);
    nnrt_idx_free(&r);
    CU_ASSERT_PTR_NULL(r.data);

    t.type = NNRT_I32;
    t.rank = 1;
    t.shape[0] = 5;
    t.numel = 5;
    t.data = i32;
    CU_ASSERT_EQUAL_FATAL(nnrt_idx_write(tp("i32.idx"), &t, &err), NNRT_OK);
    raw = slurp(tp("i32.idx"), &len);
    CU_ASSERT_FATAL(raw != NULL);
    CU_ASSERT(raw[2] == 0x0C && raw[3] == 1 && len == 8 + 20);
    CU_ASSERT(raw[8] == 0xff && raw[12 + 3] == 0 && raw[16 + 3] == 1);
    free(raw);
    CU_ASSERT_EQUAL_FATAL(nnrt_idx_read(tp("i32.idx"), &r, &err), NNRT_OK);
    CU_ASSERT_EQUAL(r.type, NNRT_I32);
    CU_ASSERT_EQUAL(memcmp(r.data, i32, sizeof i32), 0);
    nnrt_idx_free(&r);

    t.type = NNRT_F32;
    t.rank = 2;
    t.shape[0] = 2;
    t.shape[1] = 2;
    t.numel = 4;
    t.data = f32;
    CU_ASSERT_EQUAL_FATAL(nnrt_idx_write(tp("f32.idx"), &t, &err), NNRT_OK);
    CU_ASSERT_EQUAL_FATAL(nnrt_idx_read(tp("f32.idx"), &r, &err), NNRT_OK);
    CU_ASSERT_EQUAL(r.type, NNRT_F32);
    CU_ASSERT_EQUAL(memcmp(r.data, f32, sizeof f32), 0);
    nnrt_idx_free(&r);

    /* bad descriptions are refused */
    t.numel = 5;
    CU_ASSERT_EQUAL(nnrt_idx_write(tp("bad.idx"), &t, &err), NNRT_ERR_ARG);
    t.numel = 4;
    t.type = NNRT_F64;
    CU_ASSERT_EQUAL(nnrt_idx_write(tp("bad.idx"), &t, &err), NNRT_ERR_ARG);
    CU_ASSERT_FALSE(exists(tp("bad.idx")));
}

/* Write MNIST-style files: n images rows x cols and n labels. */
static void write_mnist(const char *img, const char *lab, int n, int rows,
                        int cols, int n_labels)
{
    nnrt_idx t;
    nnrt_err err;
    unsigned char *px = malloc((size_t)(n * rows * cols) + 1);
    unsigned char *lb = malloc((size_t)n_labels + 1);
    int k;
    for (k = 0; k < n * rows * cols; k++)
        px[k] = (unsigned char)(k * 37);
    for (k = 0; k < n_labels; k++)
        lb[k] = (unsigned char)(k == 2 ? 255 : k % 10);
    memset(&t, 0, sizeof t);
    t.type = NNRT_U8;
    t.rank = 3;
    t.shape[0] = n;
    t.shape[1] = rows;
    t.shape[2] = cols;
    t.numel = (size_t)(n * rows * cols);
    t.data = px;
    CU_ASSERT_EQUAL(nnrt_idx_write(img, &t, &err), NNRT_OK);
    t.rank = 1;
    t.shape[0] = n_labels;
    t.numel = (size_t)n_labels;
    t.data = lb;
    CU_ASSERT_EQUAL(nnrt_idx_write(lab, &t, &err), NNRT_OK);
    free(px);
    free(lb);
}

static void test_load_idx(void)
{
    nnrt_dataset ds;
    nnrt_err err;
    int32_t *y;
    int k;
    const char *img = tp("img.idx"), *lab = tp("lab.idx");
    write_mnist(img, lab, 5, 3, 2, 5);
    CU_ASSERT_EQUAL_FATAL(nnrt_load_idx(img, lab, &ds, &err), NNRT_OK);
    CU_ASSERT_EQUAL(ds.n, 5);
    CU_ASSERT_EQUAL(ds.x_rank, 2);
    CU_ASSERT(ds.x_shape[0] == 3 && ds.x_shape[1] == 2);
    CU_ASSERT_EQUAL(ds.x_numel, 6);
    CU_ASSERT_EQUAL(ds.y_dtype, NNRT_I32);
    CU_ASSERT_EQUAL(ds.y_numel, 1);
    for (k = 0; k < 30; k++)
        CU_ASSERT_DOUBLE_EQUAL(ds.x[k], (double)((k * 37) & 255) / 255.0,
                               1e-7);
    y = ds.y;
    CU_ASSERT(y[0] == 0 && y[1] == 1 && y[2] == 255 && y[4] == 4);
    nnrt_dataset_free(&ds);
    CU_ASSERT_PTR_NULL(ds.x);
    nnrt_dataset_free(&ds);
}

static void test_load_idx_errors(void)
{
    nnrt_dataset ds;
    nnrt_err err;
    unsigned char *raw;
    size_t len, cut;
    const char *img = tp("eimg.idx"), *lab = tp("elab.idx");
    const char *bad = tp("ebad.idx");
    write_mnist(img, lab, 4, 2, 2, 4);

    /* wrong magic: labels where images belong and vice versa */
    CHECK_ERR(nnrt_load_idx(lab, lab, &ds, &err), NNRT_ERR_FORMAT, err,
              "bad magic 0x00000801, expected 0x00000803 (IDX images)");
    CU_ASSERT(contains(err.msg, lab));
    CU_ASSERT_PTR_NULL(ds.x);
    CHECK_ERR(nnrt_load_idx(img, img, &ds, &err), NNRT_ERR_FORMAT, err,
              "bad magic 0x00000803, expected 0x00000801 (IDX labels)");

    /* mismatched n */
    write_mnist(img, lab, 4, 2, 2, 3);
    CHECK_ERR(nnrt_load_idx(img, lab, &ds, &err), NNRT_ERR_SHAPE, err,
              "holds 3 labels");
    CU_ASSERT_PTR_NULL(ds.x);
    write_mnist(img, lab, 4, 2, 2, 4);

    /* truncated at every length */
    raw = slurp(img, &len);
    CU_ASSERT_FATAL(raw != NULL);
    for (cut = 0; cut < len; cut++) {
        CU_ASSERT_FATAL(write_file(bad, raw, cut));
        CU_ASSERT_EQUAL(nnrt_load_idx(bad, lab, &ds, &err), NNRT_ERR_FORMAT);
        CU_ASSERT(contains(err.msg, bad));
    }
    CU_ASSERT(write_file(bad, raw, len - 1));
    CHECK_ERR(nnrt_load_idx(bad, lab, &ds, &err), NNRT_ERR_FORMAT, err,
              "truncated");
    CU_ASSERT(write_file(bad, raw, 10));
    CHECK_ERR(nnrt_load_idx(bad, lab, &ds, &err), NNRT_ERR_FORMAT, err,
              "truncated IDX header");
    /* trailing garbage */
    {
        unsigned char *big = malloc(len + 3);
        memcpy(big, raw, len);
        memset(big + len, 0, 3);
        CU_ASSERT(write_file(bad, big, len + 3));
        CHECK_ERR(nnrt_load_idx(bad, lab, &ds, &err), NNRT_ERR_FORMAT, err,
                  "3 unexpected bytes");
        free(big);
    }
    /* dims whose product overflows, and an unsupported element type */
    {
        unsigned char h[4 + 24];
        memset(h, 0xff, sizeof h);
        h[0] = h[1] = 0;
        h[2] = 0x08;
        h[3] = 6;
        CU_ASSERT(write_file(bad, h, sizeof h));
        CHECK_ERR(nnrt_idx_read(bad, &(nnrt_idx){0}, &err), NNRT_ERR_FORMAT,
                  err, "overflow");
        h[3] = 2; /* 2^64 - 2^33 + 1 bytes: no overflow, but truncated */
        CU_ASSERT(write_file(bad, h, 16));
        CHECK_ERR(nnrt_idx_read(bad, &(nnrt_idx){0}, &err), NNRT_ERR_FORMAT,
                  err, "truncated");
        h[2] = 0x0B;
        CU_ASSERT(write_file(bad, h, 16));
        CHECK_ERR(nnrt_idx_read(bad, &(nnrt_idx){0}, &err), NNRT_ERR_FORMAT,
                  err, "unsupported IDX element type 0x0b");
        h[2] = 0x08;
        h[3] = 7;
        CU_ASSERT(write_file(bad, h, sizeof h));
        CHECK_ERR(nnrt_idx_read(bad, &(nnrt_idx){0}, &err), NNRT_ERR_FORMAT,
                  err, "rank 7");
        h[0] = 0x12;
        CU_ASSERT(write_file(bad, h, sizeof h));
        CHECK_ERR(nnrt_idx_read(bad, &(nnrt_idx){0}, &err), NNRT_ERR_FORMAT,
                  err, "not an IDX file");
    }
    free(raw);
    CHECK_ERR(nnrt_load_idx(tp("missing.idx"), lab, &ds, &err), NNRT_ERR_IO,
              err, "missing.idx: cannot open");
}

/* ---- CSV ------------------------------------------------------------------------ */

static void test_csv_good(void)
{
    nnrt_dataset ds;
    nnrt_err err;
    int32_t *y;
    float *fy;
    const char *p = tp("good.csv");
    CU_ASSERT(write_text(p, "1,2,3,0\n4, 5 ,6,1\r\n-7.5,8e1,+9,2\n\n\r\n"));
    CU_ASSERT_EQUAL_FATAL(
        nnrt_load_csv(p, 3, 1, NNRT_I32, 3, 0.5f, &ds, &err), NNRT_OK);
    CU_ASSERT_EQUAL(ds.n, 3);
    CU_ASSERT_EQUAL(ds.x_rank, 1);
    CU_ASSERT_EQUAL(ds.x_shape[0], 3);
    CU_ASSERT_EQUAL(ds.x_numel, 3);
    CU_ASSERT_EQUAL(ds.y_dtype, NNRT_I32);
    CU_ASSERT_EQUAL(ds.y_numel, 1);
    CU_ASSERT(ds.x[0] == 0.5f && ds.x[4] == 2.5f && ds.x[6] == -3.75f &&
              ds.x[7] == 40.0f && ds.x[8] == 4.5f);
    y = ds.y;
    CU_ASSERT(y[0] == 0 && y[1] == 1 && y[2] == 2);
    nnrt_dataset_free(&ds);

    /* float targets, no final newline */
    CU_ASSERT(write_text(p, "1,0.5,0.25\n2,1,-1"));
    CU_ASSERT_EQUAL_FATAL(
        nnrt_load_csv(p, 1, 2, NNRT_F32, 0, 1.0f, &ds, &err), NNRT_OK);
    CU_ASSERT_EQUAL(ds.n, 2);
    CU_ASSERT_EQUAL(ds.y_numel, 2);
    fy = ds.y;
    CU_ASSERT(fy[0] == 0.5f && fy[1] == 0.25f && fy[3] == -1.0f);
    nnrt_dataset_free(&ds);

    /* n_classes 0: any whole-number label; a UTF-8 BOM is skipped */
    CU_ASSERT(write_text(p, "\xEF\xBB\xBF" "1,77\n"));
    CU_ASSERT_EQUAL(nnrt_load_csv(p, 1, 1, NNRT_I32, 0, 1.0f, &ds, &err),
                    NNRT_OK);
    CU_ASSERT_EQUAL(((int32_t *)ds.y)[0], 77);
    nnrt_dataset_free(&ds);
}

static void test_csv_errors(void)
{
    nnrt_dataset ds;
    nnrt_err err;
    const char *p = tp("digits.csv");

    CU_ASSERT(write_text(p, "1,2,3,0\n1,2,0\n"));
    CHECK_ERR(nnrt_load_csv(p, 3, 1, NNRT_I32, 10, 1.0f, &ds, &err),
              NNRT_ERR_FORMAT, err, "digits.csv:2:3: expected 4 columns, got 3");
    CU_ASSERT_PTR_NULL(ds.x);
    CU_ASSERT_EQUAL(ds.n, 0);
    CU_ASSERT(write_text(p, "1,2,3,0\n1,2,3,4,0\n"));
    CHECK_ERR(nnrt_load_csv(p, 3, 1, NNRT_I32, 10, 1.0f, &ds, &err),
              NNRT_ERR_FORMAT, err, "digits.csv:2:5: expected 4 columns, got 5");

    CU_ASSERT(write_text(p, "1,2,3,0\n1,abc,3,0\n"));
    CHECK_ERR(nnrt_load_csv(p, 3, 1, NNRT_I32, 10, 1.0f, &ds, &err),
              NNRT_ERR_FORMAT, err, "digits.csv:2:2: expected a number, got "
              "'abc'");
    CU_ASSERT(write_text(p, "1,,3,0\n"));
    CHECK_ERR(nnrt_load_csv(p, 3, 1, NNRT_I32, 10, 1.0f, &ds, &err),
              NNRT_ERR_FORMAT, err, "digits.csv:1:2: expected a number, got "
              "''");
    CU_ASSERT(write_text(p, "nan,1,3,0\n"));
    CHECK_ERR(nnrt_load_csv(p, 3, 1, NNRT_I32, 10, 1.0f, &ds, &err),
              NNRT_ERR_FORMAT, err, "digits.csv:1:1:");
    CU_ASSERT(write_text(p, "1e999,1,3,0\n"));
    CHECK_ERR(nnrt_load_csv(p, 3, 1, NNRT_I32, 10, 1.0f, &ds, &err),
              NNRT_ERR_RANGE, err, "digits.csv:1:1:");
    CU_ASSERT(write_text(p, "1,2,3,4 5\n"));
    CHECK_ERR(nnrt_load_csv(p, 3, 1, NNRT_I32, 10, 1.0f, &ds, &err),
              NNRT_ERR_FORMAT, err, "digits.csv:1:4:");

    CU_ASSERT(write_text(p, "1,2,3,0\n1,2,3,0\n1,2,3,10\n"));
    CHECK_ERR(nnrt_load_csv(p, 3, 1, NNRT_I32, 10, 1.0f, &ds, &err),
              NNRT_ERR_RANGE, err, "digits.csv:3:4: label 10 out of range "
              "[0, 10)");
    CU_ASSERT(write_text(p, "1,2,3,-1\n"));
    CHECK_ERR(nnrt_load_csv(p, 3, 1, NNRT_I32, 10, 1.0f, &ds, &err),
              NNRT_ERR_RANGE, err, "digits.csv:1:4:");
    CU_ASSERT(write_text(p, "1,2,3,1.5\n"));
    CHECK_ERR(nnrt_load_csv(p, 3, 1, NNRT_I32, 10, 1.0f, &ds, &err),
              NNRT_ERR_FORMAT, err, "digits.csv:1:4: expected an integer");

    CU_ASSERT(write_text(p, "1,2,3,0\n\n1,2,3,0\n"));
    CHECK_ERR(nnrt_load_csv(p, 3, 1, NNRT_I32, 10, 1.0f, &ds, &err),
              NNRT_ERR_FORMAT, err, "digits.csv:2:");
    CU_ASSERT(write_text(p, "\n\n"));
    CHECK_ERR(nnrt_load_csv(p, 3, 1, NNRT_I32, 10, 1.0f, &ds, &err),
              NNRT_ERR_FORMAT, err, "no examples");
    CU_ASSERT(write_text(p, ""));
    CHECK_ERR(nnrt_load_csv(p, 3, 1, NNRT_I32, 10, 1.0f, &ds, &err),
              NNRT_ERR_FORMAT, err, "no examples");
    CU_ASSERT(write_file(p, "1,2,3,0\n1,2\0,3,0\n", 17));
    CHECK_ERR(nnrt_load_csv(p, 3, 1, NNRT_I32, 10, 1.0f, &ds, &err),
              NNRT_ERR_FORMAT, err, "digits.csv: line 2, byte 4 of it: a NUL byte, not text");

    CHECK_ERR(nnrt_load_csv(p, 0, 1, NNRT_I32, 10, 1.0f, &ds, &err),
              NNRT_ERR_ARG, err, "digits.csv");
    CHECK_ERR(nnrt_load_csv(p, 3, 1, NNRT_U8, 10, 1.0f, &ds, &err),
              NNRT_ERR_ARG, err, "digits.csv");
    CHECK_ERR(nnrt_load_csv(tp("none.csv"), 3, 1, NNRT_I32, 10, 1.0f, &ds,
                            &err), NNRT_ERR_IO, err, "none.csv");
}

/* Random short files over a CSV-ish alphabet: never crash; a failure
 * leaves the dataset empty, a success has the requested layout. */
static void test_csv_fuzz(void)
{
    static const char alpha[] = "0123456789.,,,-+eE\n\n\r \tx";
    const char *p = tp("fuzz.csv");
    uint64_t it;
    for (it = 0; it < 2000; it++) {
        char text[64];
        uint32_t w[4];
        size_t k, len;
        nnrt_dataset ds;
        nnrt_err err;
        int rc;
        nnrt_philox4x32(31, 1, it, w);
        len = w[0] % sizeof text;
        for (k = 0; k < len; k++) {
            if (k % 4 == 0)
                nnrt_philox4x32(31, 2, it * 16 + k / 4, w);
            text[k] = alpha[w[k % 4] % (sizeof alpha - 1)];
        }
        CU_ASSERT_FATAL(write_file(p, text, len));
        rc = nnrt_load_csv(p, 2, 1, (it & 1) ? NNRT_F32 : NNRT_I32, 5, 1.0f,
                           &ds, &err);
        if (rc == NNRT_OK) {
            CU_ASSERT(ds.n > 0 && ds.x != NULL && ds.x_numel == 2);
            nnrt_dataset_free(&ds);
        } else {
            CU_ASSERT(ds.x == NULL && ds.y == NULL && ds.n == 0);
            CU_ASSERT(contains(err.msg, p));
        }
    }
}

/* ---- split and gather ------------------------------------------------------------ */

/* n examples of 2 features (x = 10 i, 10 i + 1) and label i % 3. */
static int make_ds(nnrt_dataset *ds, int64_t n, int float_y)
{
    int64_t i;
    memset(ds, 0, sizeof *ds);
    ds->n = n;
    ds->x_rank = 1;
    ds->x_shape[0] = 2;
    ds->x_numel = 2;
    ds->x = malloc((size_t)n * 2 * sizeof(float));
    ds->y_dtype = float_y ? NNRT_F32 : NNRT_I32;
    ds->y_numel = 1;
    ds->y = malloc((size_t)n * 4);
    if (!ds->x || !ds->y)
        return 0;
    for (i = 0; i < n; i++) {
        ds->x[2 * i] = (float)(10 * i);
        ds->x[2 * i + 1] = (float)(10 * i + 1);
        if (float_y)
            ((float *)ds->y)[i] = (float)i + 0.5f;
        else
            ((int32_t *)ds->y)[i] = (int32_t)(i % 3);
    }
    return 1;
}

static void test_split(void)
{
    nnrt_dataset ds, tr, va;
    nnrt_err err;
    CU_ASSERT_FATAL(make_ds(&ds, 10, 0));
    CU_ASSERT_EQUAL_FATAL(nnrt_split(&ds, 0.2, &tr, &va, &err), NNRT_OK);
    CU_ASSERT_EQUAL(tr.n, 8);
    CU_ASSERT_EQUAL(va.n, 2);
    CU_ASSERT(tr.x != ds.x && va.x != ds.x && tr.y != ds.y && va.y != ds.y);
    CU_ASSERT_EQUAL(va.x[0], 80.0f);
    CU_ASSERT_EQUAL(va.x[3], 91.0f);
    CU_ASSERT_EQUAL(((int32_t *)va.y)[1], 0);
    CU_ASSERT_EQUAL(tr.x[15], 71.0f);
    CU_ASSERT_EQUAL(tr.x_numel, 2);
    CU_ASSERT_EQUAL(va.y_dtype, NNRT_I32);
    nnrt_dataset_free(&tr);
    nnrt_dataset_free(&va);

    CU_ASSERT_EQUAL(nnrt_split(&ds, 0.0, &tr, &va, &err), NNRT_OK);
    CU_ASSERT(tr.n == 10 && va.n == 0);
    nnrt_dataset_free(&tr);
    nnrt_dataset_free(&va);
    CU_ASSERT_EQUAL(nnrt_split(&ds, 1.0, &tr, &va, &err), NNRT_OK);
    CU_ASSERT(tr.n == 0 && va.n == 10);
    nnrt_dataset_free(&tr);
    nnrt_dataset_free(&va);
    CU_ASSERT_EQUAL(nnrt_split(&ds, 0.35, &tr, &va, &err), NNRT_OK);
    CU_ASSERT(tr.n == 6 && va.n == 4); /* round(3.5) = 4 */
    nnrt_dataset_free(&tr);
    nnrt_dataset_free(&va);
    CU_ASSERT_EQUAL(nnrt_split(&ds, 1.5, &tr, &va, &err), NNRT_ERR_ARG);
    CU_ASSERT_EQUAL(nnrt_split(&ds, -0.1, &tr, &va, &err), NNRT_ERR_ARG);
    CU_ASSERT_EQUAL(nnrt_split(&ds, NAN, &tr, &va, &err), NNRT_ERR_ARG);
    nnrt_dataset_free(&ds);
}

static void test_gather(void)
{
    nnrt_dataset ds;
    int64_t idx[3] = {3, 0, 99};
    float xf[6];
    double xd[6], yd[3];
    int32_t yi[3];
    float yf[3];
    CU_ASSERT_FATAL(make_ds(&ds, 5, 0));
    nnrt_gather(&ds, idx, 2, NNRT_F32, xf, NNRT_I32, yi);
    CU_ASSERT(xf[0] == 30.0f && xf[1] == 31.0f && xf[2] == 0.0f &&
              xf[3] == 1.0f);
    CU_ASSERT(yi[0] == 0 && yi[1] == 0);
    idx[1] = 4;
    nnrt_gather(&ds, idx, 2, NNRT_F64, xd, NNRT_F64, yd);
    CU_ASSERT(xd[0] == 30.0 && xd[3] == 41.0);
    CU_ASSERT(yd[0] == 0.0 && yd[1] == 1.0);
    nnrt_gather(&ds, idx, 2, NNRT_F32, xf, NNRT_F32, yf);
    CU_ASSERT(yf[0] == 0.0f && yf[1] == 1.0f);
    /* an out-of-range index yields a zero row rather than a crash */
    xf[4] = xf[5] = 7.0f;
    yi[2] = 7;
    nnrt_gather(&ds, idx, 3, NNRT_F32, xf, NNRT_I32, yi);
    CU_ASSERT(xf[4] == 0.0f && xf[5] == 0.0f && yi[2] == 0);
    nnrt_gather(&ds, idx, 2, NNRT_F32, NULL, NNRT_I32, NULL);
    nnrt_dataset_free(&ds);

    CU_ASSERT_FATAL(make_ds(&ds, 5, 1));
    nnrt_gather(&ds, idx, 2, NNRT_F32, xf, NNRT_F64, yd);
    CU_ASSERT(yd[0] == 3.5 && yd[1] == 4.5);
    nnrt_gather(&ds, idx, 2, NNRT_F32, xf, NNRT_F32, yf);
    CU_ASSERT(yf[0] == 3.5f && yf[1] == 4.5f);
    nnrt_dataset_free(&ds);
}

/* ---- metrics ---------------------------------------------------------------------- */

static void test_metrics(void)
{
    const float s[] = {0.1f, 0.7f, 0.2f,   /* 1 */
                       0.5f, 0.5f, 0.1f,   /* tie -> 0 */
                       -1.0f, -2.0f, -0.5f /* 2 */};
    const double sd[] = {0.1, 0.7, 0.2, 0.5, 0.5, 0.1, -1.0, -2.0, -0.5};
    const int32_t lab[] = {1, 1, 2};
    const int32_t lab2[] = {1, 0, 7};
    const float p[] = {0.9f, 0.2f, 0.5f, 0.51f};
    const float t[] = {1.0f, 1.0f, 0.0f, 1.0f};
    const double pd[] = {0.9, 0.2, 0.5, 0.51};
    const double td[] = {1.0, 1.0, 0.0, 1.0};
    const float nanrow[] = {NAN, 1.0f, 3.0f, NAN};
    CU_ASSERT_EQUAL(nnrt_count_correct_f32(s, lab, 3, 3), 2);
    CU_ASSERT_EQUAL(nnrt_count_correct_f32(s, lab2, 3, 3), 2);
    CU_ASSERT_EQUAL(nnrt_count_correct_f64(sd, lab, 3, 3), 2);
    CU_ASSERT_EQUAL(nnrt_count_correct_f64(sd, lab2, 3, 3), 2);
    CU_ASSERT_EQUAL(nnrt_count_correct_f32(s, lab, 0, 3), 0);
    CU_ASSERT_EQUAL(nnrt_count_binary_f32(p, t, 4), 3);
    CU_ASSERT_EQUAL(nnrt_count_binary_f64(pd, td, 4), 3);
    CU_ASSERT_EQUAL(nnrt_argmax_f32(s, 3), 1);
    CU_ASSERT_EQUAL(nnrt_argmax_f32(s + 3, 3), 0);
    CU_ASSERT_EQUAL(nnrt_argmax_f32(s, 0), -1);
    CU_ASSERT_EQUAL(nnrt_argmax_f32(nanrow, 4), 2);
}

/* ---- shuffle, clock, progress ------------------------------------------------------ */

static int is_perm(const int64_t *idx, int64_t n)
{
    char *seen = calloc((size_t)n + 1, 1);
    int64_t i;
    int ok = seen != NULL;
    for (i = 0; ok && i < n; i++) {
        if (idx[i] < 0 || idx[i] >= n || seen[idx[i]])
            ok = 0;
        else
            seen[idx[i]] = 1;
    }
    free(seen);
    return ok;
}

static void test_shuffle(void)
{
    static const int64_t sizes[] = {1, 2, 3, 5, 17, 1000, 100003};
    size_t k;
    for (k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        int64_t n = sizes[k], i, moved = 0;
        int64_t *a = malloc((size_t)n * sizeof *a);
        int64_t *b = malloc((size_t)n * sizeof *b);
        CU_ASSERT_FATAL(a != NULL && b != NULL);
        nnrt_shuffle(a, n, 1234, 5);
        CU_ASSERT(is_perm(a, n));
        nnrt_shuffle(b, n, 1234, 5);
        CU_ASSERT_EQUAL(memcmp(a, b, (size_t)n * sizeof *a), 0);
        for (i = 0; i < n; i++)
            moved += a[i] != i;
        if (n >= 17)
            CU_ASSERT(moved > n / 2);
        if (n >= 17) {
            nnrt_shuffle(b, n, 1234, 6);
            CU_ASSERT(memcmp(a, b, (size_t)n * sizeof *a) != 0);
            nnrt_shuffle(b, n, 1235, 5);
            CU_ASSERT(memcmp(a, b, (size_t)n * sizeof *a) != 0);
        }
        free(a);
        free(b);
    }
    nnrt_shuffle(NULL, 10, 1, 1);
    {
        /* n = 2: one step, j = word 1 of block (NNRT_STREAM_DATA | epoch, 0) mod 2 */
        int64_t a[2];
        uint32_t w[4];
        nnrt_shuffle(a, 2, 9, 3);
        nnrt_philox4x32(9, NNRT_STREAM_DATA | 3, 0, w);
        CU_ASSERT_EQUAL(a[0], (w[1] % 2) ? 0 : 1);
    }
}

/* Over many epochs, all 6 orders of 3 items appear about equally often. */
static void test_shuffle_uniform(void)
{
    int counts[3][3] = {{0}};
    int64_t a[3];
    uint64_t e;
    int i, j;
    for (e = 0; e < 6000; e++) {
        nnrt_shuffle(a, 3, 77, e);
        for (i = 0; i < 3; i++)
            counts[i][a[i]]++;
    }
    for (i = 0; i < 3; i++)
        for (j = 0; j < 3; j++)
            CU_ASSERT(counts[i][j] > 1800 && counts[i][j] < 2200);
}

static void test_now(void)
{
    double a = nnrt_now(), b = nnrt_now();
    CU_ASSERT(a > 0.0);
    CU_ASSERT(b >= a);
}

static void test_progress(void)
{
    nnrt_progress p;
    FILE *f = tmpfile();
    char buf[512];
    size_t n;
    CU_ASSERT_FATAL(f != NULL);
    nnrt_progress_start(&p, f, 10);
    CU_ASSERT_EQUAL(p.tty, 0);
    CU_ASSERT_EQUAL(p.total, 10);
    nnrt_progress_update(&p, 3, 0.5);
    nnrt_progress_end(&p);
    CU_ASSERT_EQUAL(ftell(f), 0); /* not a tty: nothing */

    p.tty = 1; /* pretend, to check the drawing */
    nnrt_progress_update(&p, 3, 0.5);
    nnrt_progress_update(&p, 10, 0.25);
    nnrt_progress_end(&p);
    rewind(f);
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    CU_ASSERT(strncmp(buf, "\r[=========>                    ] 3/10 loss "
                           "0.5000 ", 50) == 0);
    CU_ASSERT(contains(buf, "s eta ")); /* the time left, before the last step */
    CU_ASSERT(contains(buf, "\r[==============================] 10/10 loss "
                            "0.2500 "));
    CU_ASSERT(n > 0 && buf[n - 1] == '\n');
    fclose(f);
}

/* ---- the trainer: vocabulary, sampling, nnrt_main on a fake char model --- */

static void test_vocab(void)
{
    nnrt_vocab v;
    const unsigned char text[] = "banana\n";
    int b;
    nnrt_vocab_build(&v, text, sizeof text - 1);
    CU_ASSERT_EQUAL(v.size, 4);
    CU_ASSERT(v.sym[0] == '\n' && v.sym[1] == 'a' && v.sym[2] == 'b' &&
              v.sym[3] == 'n');
    CU_ASSERT(v.id['\n'] == 0 && v.id['a'] == 1 && v.id['n'] == 3);
    for (b = 0; b < 256; b++)
        if (b != '\n' && b != 'a' && b != 'b' && b != 'n')
            CU_ASSERT_EQUAL(v.id[b], -1);
    nnrt_vocab_build(&v, (const unsigned char *)"\xff\x00", 2);
    CU_ASSERT(v.size == 2 && v.sym[0] == 0 && v.sym[1] == 0xff);
}

/* Fraction of a fine grid of u that draws each id. */
static void draw_freq(const double *row, int n, int usable, double t,
                      double *freq)
{
    int k, steps = 100000;
    memset(freq, 0, (size_t)n * sizeof *freq);
    for (k = 0; k < steps; k++) {
        int id = nnrt_sample_row(row, n, usable, t, (k + 0.5) / steps);
        CU_ASSERT_FATAL(id >= 0 && id < usable);
        freq[id] += 1.0 / steps;
    }
}

static void test_sample_row(void)
{
    const double probs[4] = {0.5, 0.25, 0.25, 0.0};
    const double logits[3] = {0.0, log(2.0), log(4.0)}; /* 1 : 2 : 4 */
    const double nan_row[2] = {NAN, NAN};
    double f[4];
    /* probabilities at t = 1: as given; zero never drawn */
    draw_freq(probs, 4, 4, 1.0, f);
    CU_ASSERT(fabs(f[0] - 0.5) < 1e-3 && fabs(f[1] - 0.25) < 1e-3 &&
              f[3] == 0.0);
    /* t = 0.5: p^2 renormalized = 4 : 1 : 1 */
    draw_freq(probs, 4, 4, 0.5, f);
    CU_ASSERT(fabs(f[0] - 4.0 / 6) < 1e-3 && fabs(f[2] - 1.0 / 6) < 1e-3);
    /* logits: softmax(l / t) */
    draw_freq(logits, 3, 3, 1.0, f);
    CU_ASSERT(fabs(f[0] - 1.0 / 7) < 1e-3 && fabs(f[2] - 4.0 / 7) < 1e-3);
    draw_freq(logits, 3, 3, 2.0, f); /* sqrt: 1 : 1.414 : 2 */
    CU_ASSERT(fabs(f[1] - sqrt(2.0) / (3 + sqrt(2.0))) < 1e-3);
    /* only the usable ids: renormalized over the first two */
    draw_freq(logits, 3, 2, 1.0, f);
    CU_ASSERT(fabs(f[0] - 1.0 / 3) < 1e-3 && f[2] == 0.0);
    /* the ends of u */
    CU_ASSERT_EQUAL(nnrt_sample_row(probs, 4, 4, 1.0, 0.0), 0);
    CU_ASSERT_EQUAL(nnrt_sample_row(probs, 4, 4, 1.0, 0.9999999), 2);
    /* a very low temperature is the argmax, without overflow */
    CU_ASSERT_EQUAL(nnrt_sample_row(logits, 3, 3, 1e-6, 0.999), 2);
    CU_ASSERT_EQUAL(nnrt_sample_row(probs, 4, 4, 1e-6, 0.999), 0);
    /* no temperature, nothing finite */
    CU_ASSERT_EQUAL(nnrt_sample_row(probs, 4, 4, 0.0, 0.5), -1);
    CU_ASSERT_EQUAL(nnrt_sample_row(probs, 4, 4, -1.0, 0.5), -1);
    CU_ASSERT_EQUAL(nnrt_sample_row(nan_row, 2, 2, 1.0, 0.5), -1);
}

/* A fake character model for nnrt_main: a bigram table, out[b, t] =
 * softmax(w[x[b, t]]), trained by plain SGD on the mean cross-entropy. */
enum { FK_B = 2, FK_T = 5, FK_V = 4 };

typedef struct fake_model {
    double w[FK_V][FK_V];
    double lr;
} fake_model;

static void *fk_create(uint64_t seed)
{
    fake_model *m = calloc(1, sizeof *m);
    (void)seed;
    if (m)
        m->lr = 0.5;
    return m;
}

static void fk_destroy(void *m) { free(m); }

/* softmax of row w into p */
static void fk_softmax(const double *w, double *p)
{
    double mx = w[0], s = 0;
    int j;
    for (j = 1; j < FK_V; j++)
        mx = w[j] > mx ? w[j] : mx;
    for (j = 0; j < FK_V; j++)
        s += p[j] = exp(w[j] - mx);
    for (j = 0; j < FK_V; j++)
        p[j] /= s;
}

static int fk_forward(void *vm, const void *x, void *out)
{
    fake_model *m = vm;
    const int32_t *ids = x;
    int i, j;
    for (i = 0; i < FK_B * FK_T; i++) {
        double p[FK_V];
        if (ids[i] < 0 || ids[i] >= FK_V)
            return NNRT_ERR_RANGE;
        fk_softmax(m->w[ids[i]], p);
        for (j = 0; j < FK_V; j++)
            ((float *)out)[i * FK_V + j] = (float)p[j];
    }
    return NNRT_OK;
}

/* Mean cross-entropy; with step, also one SGD step. */
static int fk_xent(fake_model *m, const int32_t *x, const int32_t *y,
                   double *loss, int step)
{
    double g[FK_V][FK_V], l = 0;
    int i, j, n = FK_B * FK_T;
    memset(g, 0, sizeof g);
    for (i = 0; i < n; i++) {
        double p[FK_V];
        if (x[i] < 0 || x[i] >= FK_V || y[i] < 0 || y[i] >= FK_V)
            return NNRT_ERR_RANGE;
        fk_softmax(m->w[x[i]], p);
        l -= log(p[y[i]]) / n;
        for (j = 0; j < FK_V; j++)
            g[x[i]][j] += (p[j] - (j == y[i])) / n;
    }
    for (i = 0; step && i < FK_V; i++)
        for (j = 0; j < FK_V; j++)
            m->w[i][j] -= m->lr * g[i][j];
    *loss = l;
    return NNRT_OK;
}

static int fk_loss(void *m, const void *x, const void *y, double *loss)
{
    return fk_xent(m, x, y, loss, 0);
}

static int fk_train_step(void *m, const void *x, const void *y, double *loss)
{
    return fk_xent(m, x, y, loss, 1);
}

static int fk_set_lr(void *m, double lr)
{
    ((fake_model *)m)->lr = lr;
    return NNRT_OK;
}

/* The fake model's one parameter, as a generated model describes its own. */
static const nnrt_tensor_info fk_params = {"w", NNRT_F64, 2, {FK_V, FK_V}, 0, FK_V * FK_V};

static int fk_save(void *m, const char *path)
{
    nnrt_err err;
    return nnrt_st_save(path, &fk_params, 1, ((fake_model *)m)->w, &err);
}

static int fk_load(void *m, const char *path)
{
    nnrt_err err;
    return nnrt_st_load(path, &fk_params, 1, ((fake_model *)m)->w, &err);
}

static const char *fk_last_error(void *m)
{
    (void)m;
    return "fake: failed";
}

static nnrt_model_desc fake_desc(void)
{
    nnrt_model_desc d;
    memset(&d, 0, sizeof d);
    d.name = "fake";
    d.dtype = NNRT_F32;
    d.batch = FK_B;
    d.x_dtype = NNRT_I32;
    d.x_rank = 1;
    d.x_shape[0] = FK_T;
    d.x_numel = FK_T;
    d.has_target = 1;
    d.y_dtype = NNRT_I32;
    d.y_numel = FK_T;
    d.classes = FK_V;
    d.out_rank = 2;
    d.out_shape[0] = FK_T;
    d.out_shape[1] = FK_V;
    d.out_numel = FK_T * FK_V;
    d.trainable = 1;
    d.default_lr = 0.5;
    d.create = fk_create;
    d.destroy = fk_destroy;
    d.forward = fk_forward;
    d.loss = fk_loss;
    d.train_step = fk_train_step;
    d.set_lr = fk_set_lr;
    d.save = fk_save;
    d.load = fk_load;
    d.last_error = fk_last_error;
    return d;
}

/* "abc" repeated: a bigram model learns it exactly. */
static void write_abc(const char *path, int reps)
{
    char buf[3 * 400 + 1];
    int k;
    for (k = 0; k < reps && k < 400; k++)
        memcpy(buf + 3 * k, "abc", 3);
    buf[3 * k] = 0;
    CU_ASSERT_FATAL(write_text(path, buf));
}

static void test_main_text(void)
{
    nnrt_model_desc d = fake_desc();
    char text[512], w1[512], w2[512];
    size_t l1, l2;
    unsigned char *b1, *b2;
    double vl = -1;
    snprintf(text, sizeof text, "%s", tp("abc.txt"));
    snprintf(w1, sizeof w1, "%s", tp("w1.bin"));
    snprintf(w2, sizeof w2, "%s", tp("w2.bin"));
    write_abc(text, 300);
    CU_ASSERT_EQUAL(run_main(&d, "train", "--text", text, "--epochs", "3",
                             "--steps-per-epoch", "60", "--save", w1, NULL),
                    0);
    CU_ASSERT(contains(g_out, "epoch   1/3  loss "));
    CU_ASSERT(contains(g_out, "saved "));
    CU_ASSERT(sscanf(strstr(g_out, "epoch   3/3"),
                     "epoch   3/3  loss %*f  val loss %lf", &vl) == 1);
    CU_ASSERT(vl >= 0 && vl < 0.1); /* nats per character */
    /* the same seed gives the same weights */
    CU_ASSERT_EQUAL(run_main(&d, "train", "--text", text, "--epochs", "3",
                             "--steps-per-epoch", "60", "--save", w2, NULL),
                    0);
    b1 = slurp(w1, &l1);
    b2 = slurp(w2, &l2);
    CU_ASSERT(b1 && b2 && l1 == l2 && memcmp(b1, b2, l1) == 0);
    free(b1);
    free(b2);
    /* without validation: all 900 characters train, 90 steps of B * T */
    CU_ASSERT_EQUAL(run_main(&d, "train", "--text", text, "--epochs", "1",
                             "--val-split", "0", NULL),
                    0);
    CU_ASSERT(contains(g_out, "epoch   1/1  loss ") &&
              !contains(g_out, "val loss"));

    /* sampling at a low temperature continues the pattern */
    CU_ASSERT_EQUAL(run_main(&d, "sample", "--text", text, "--load", w1,
                             "--prompt", "ab", "--len", "12",
                             "--temperature", "0.05", NULL),
                    0);
    CU_ASSERT_STRING_EQUAL(g_out, "abcabcabcabcab\n");
    /* a prompt longer than T uses its last T characters */
    CU_ASSERT_EQUAL(run_main(&d, "sample", "--text", text, "--load", w1,
                             "--prompt", "cabcabcab", "--len", "2",
                             "--temperature", "0.05", "--seed", "9", NULL),
                    0);
    CU_ASSERT_STRING_EQUAL(g_out, "cabcabcabca\n");
}

static void test_main_text_errors(void)
{
    nnrt_model_desc d = fake_desc();
    char text[512], wide[512], w[512];
    snprintf(text, sizeof text, "%s", tp("abc.txt"));
    snprintf(wide, sizeof wide, "%s", tp("wide.txt"));
    snprintf(w, sizeof w, "%s", tp("w.bin"));
    write_abc(text, 300);
    CU_ASSERT_FATAL(write_text(wide, "abcde abcde abcde"));
    CU_ASSERT_EQUAL(run_main(&d, "train", "--text", text, "--epochs", "1",
                             "--steps-per-epoch", "5", "--save", w, NULL),
                    0);
    /* more symbols than V: exit 1, both numbers named */
    CU_ASSERT_EQUAL(run_main(&d, "train", "--text", wide, "--epochs", "1",
                             NULL),
                    1);
    CU_ASSERT(contains(g_errs, "wide.txt: the text has 6 distinct "
                               "characters") &&
              contains(g_errs, "(V = 4)"));
    CU_ASSERT_EQUAL(run_main(&d, "sample", "--text", text, "--load", w,
                             "--prompt", "abd", NULL),
                    1);
    CU_ASSERT(contains(g_errs, "abc.txt: prompt character 'd' (position 3)"));
    CU_ASSERT_EQUAL(run_main(&d, "sample", "--text", text, "--load", w,
                             "--prompt", "ab", "--temperature", "0", NULL),
                    2);
    CU_ASSERT(contains(g_errs, "--temperature '0' is not a positive number"));
    CU_ASSERT_EQUAL(run_main(&d, "sample", "--text", text, "--load", w,
                             NULL),
                    2);
    CU_ASSERT(contains(g_errs, "sample needs --prompt"));
    CU_ASSERT_EQUAL(run_main(&d, "train", "--text", text, "--data", text,
                             "--epochs", "1", NULL),
                    2);
    /* a validation part too short for one batch */
    CU_ASSERT_EQUAL(run_main(&d, "train", "--text", text, "--epochs", "1",
                             "--val-split", "0.01", NULL),
                    1);
    CU_ASSERT(contains(g_errs, "shorter than one batch"));
    /* not a character model */
    d.x_dtype = NNRT_F32;
    CU_ASSERT_EQUAL(run_main(&d, "train", "--text", text, "--epochs", "1",
                             NULL),
                    1);
    CU_ASSERT(contains(g_errs, "needs a character model"));
    /* an inconsistent description is refused */
    d = fake_desc();
    d.has_target = 0;
    CU_ASSERT_EQUAL(run_main(&d, "train", "--text", text, "--epochs", "1",
                             NULL),
                    1);
    CU_ASSERT(contains(g_errs, "invalid model description"));
}

/* ---- main ------------------------------------------------------------------------------ */

typedef struct test_def {
    const char *name;
    void (*fn)(void);
} test_def;

static int add_suite(const char *name, const test_def *t, size_t n)
{
    CU_pSuite s = CU_add_suite(name, NULL, NULL);
    size_t k;
    if (!s)
        return 0;
    for (k = 0; k < n; k++)
        if (!CU_add_test(s, t[k].name, t[k].fn))
            return 0;
    return 1;
}

#define ADD(name, arr) add_suite(name, arr, sizeof arr / sizeof arr[0])

int main(void)
{
    static const test_def status_tests[] = {
        {"status strings", test_status_strings},
        {"dtype helpers", test_dtypes},
    };
    static const test_def philox_tests[] = {
        {"known answers", test_philox_kat},
        {"u01", test_u01},
        {"fill element mapping", test_fill_mapping},
        {"fills deterministic, streams independent", test_fill_deterministic},
        {"uniform mean and variance", test_fill_uniform_stats},
        {"normal mean and std", test_fill_normal_stats},
    };
    static const test_def st_tests[] = {
        {"round trip F32", test_st_roundtrip_f32},
        {"partial load (strict=False), prefix map", test_st_load_partial},
        {"metadata", test_st_metadata},
        {"round trip F64", test_st_roundtrip_f64},
        {"F32 <-> F64 conversion", test_st_convert},
        {"I32 and U8", test_st_int_types},
        {"load errors leave base untouched", test_st_load_errors},
        {"malformed headers", test_st_malformed_headers},
        {"escaped names, unsupported dtypes", test_st_names_and_unsupported},
        {"byte-flip fuzz", test_st_fuzz},
        {"failed saves keep the old file", test_st_save_failures},
    };
    static const test_def idx_tests[] = {
        {"write/read round trip", test_idx_roundtrip},
        {"load_idx", test_load_idx},
        {"load_idx errors", test_load_idx_errors},
    };
    static const test_def csv_tests[] = {
        {"good files", test_csv_good},
        {"errors name file:line:col", test_csv_errors},
        {"random-input fuzz", test_csv_fuzz},
    };
    static const test_def ds_tests[] = {
        {"split", test_split},
        {"gather", test_gather},
    };
    static const test_def metric_tests[] = {
        {"count_correct, binary, argmax", test_metrics},
    };
    static const test_def train_tests[] = {
        {"shuffle permutation, deterministic", test_shuffle},
        {"shuffle uniform", test_shuffle_uniform},
        {"now", test_now},
        {"progress", test_progress},
    };
    static const test_def trainer_tests[] = {
        {"vocabulary", test_vocab},
        {"temperature sampling", test_sample_row},
        {"text training and sampling (fake model)", test_main_text},
        {"text errors and exit codes (fake model)", test_main_text_errors},
    };
    unsigned failures;

    strcpy(g_dir, "/tmp/nnrt_test_XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    if (!ADD("status", status_tests) || !ADD("philox", philox_tests) ||
        !ADD("safetensors", st_tests) || !ADD("idx", idx_tests) ||
        !ADD("csv", csv_tests) || !ADD("dataset", ds_tests) ||
        !ADD("metrics", metric_tests) || !ADD("train", train_tests) ||
        !ADD("trainer", trainer_tests)) {
        fprintf(stderr, "CUnit registry error: %s\n", CU_get_error_msg());
        CU_cleanup_registry();
        rm_rf(g_dir);
        return 1;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    if (CU_basic_run_tests() != CUE_SUCCESS) {
        fprintf(stderr, "CUnit run error: %s\n", CU_get_error_msg());
        CU_cleanup_registry();
        rm_rf(g_dir);
        return 1;
    }
    failures = CU_get_number_of_failures();
    CU_cleanup_registry();
    rm_rf(g_dir);
    return failures != 0;
}
