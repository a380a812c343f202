/* test_augment.c — CUnit tests of the runtime's checkpoint pieces and image
 * augmentation: safetensors metadata written and read back, checkpoints
 * (nnrt_ckpt_save / nnrt_ckpt_load: round trip, all or nothing, missing
 * state), and nnrt_augment_* (parsing, flips, shifts with zero padding,
 * rotations about the center, noise statistics, reproducibility).
 */
#include "nnrt.h"

#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_path[64];

static const nnrt_tensor_info two[2] = {
    {"a.weight", NNRT_F32, 2, {2, 3}, 0, 6},
    {"a.bias", NNRT_F32, 1, {2}, 16, 2},
};

static void test_meta_roundtrip(void)
{
    float w[18] = {1, 2, 3, 4, 5, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 8}, back[18];
    const char *meta[] = {"k\"ey", "va\\lue\n", "step", "12", NULL};
    nnrt_st_file *f = NULL;
    nnrt_err err;
    CU_ASSERT_EQUAL(nnrt_st_save_meta(g_path, two, 2, w, meta, &err), NNRT_OK);
    CU_ASSERT_EQUAL_FATAL(nnrt_st_open(g_path, &f, &err), NNRT_OK);
    CU_ASSERT_STRING_EQUAL(nnrt_st_meta(f, "k\"ey"), "va\\lue\n");
    CU_ASSERT_STRING_EQUAL(nnrt_st_meta(f, "step"), "12");
    CU_ASSERT_PTR_NULL(nnrt_st_meta(f, "nope"));
    CU_ASSERT_EQUAL(nnrt_st_count(f), 2);
    nnrt_st_close(f);
    memset(back, 0, sizeof back);
    CU_ASSERT_EQUAL(nnrt_st_load(g_path, two, 2, back, &err), NNRT_OK);
    CU_ASSERT_EQUAL(memcmp(w, back, sizeof w), 0);
    CU_ASSERT_EQUAL(nnrt_ckpt_is_checkpoint(g_path, &err), 0);
}

static void test_ckpt_roundtrip(void)
{
    const nnrt_ckpt_model cm = {"m", two, 2, 18, 2, {"exp_avg", "exp_avg_sq"}};
    float b[3][18], r[3][18];
    const void *in[3] = {b[0], b[1], b[2]};
    void *out[3] = {r[0], r[1], r[2]};
    nnrt_ckpt_state st = {7, 0.001, 42, 9, "epoch=1"}, got;
    nnrt_err err;
    int k, i;
    for (k = 0; k < 3; k++)
        for (i = 0; i < 18; i++)
            b[k][i] = (i >= 6 && i < 16) ? 0 : (float)(k * 100 + i) / 3;
    CU_ASSERT_EQUAL_FATAL(nnrt_ckpt_save(g_path, &cm, in, &st, &err), NNRT_OK);
    CU_ASSERT_EQUAL(nnrt_ckpt_is_checkpoint(g_path, &err), 1);
    memset(r, 0, sizeof r);
    CU_ASSERT_EQUAL_FATAL(nnrt_ckpt_load(g_path, &cm, out, &got, &err), NNRT_OK);
    CU_ASSERT_EQUAL(memcmp(b, r, sizeof b), 0);
    CU_ASSERT(got.step == 7 && got.lr == 0.001 && got.seed == 42 && got.calls == 9);
    CU_ASSERT_STRING_EQUAL(got.extra, "epoch=1");
    /* one slot more than the file has: an error, nothing written */
    {
        const nnrt_ckpt_model sgd = {"m", two, 2, 18, 1, {"momentum_buffer", NULL}};
        memset(r, 0x55, sizeof r);
        CU_ASSERT_EQUAL(nnrt_ckpt_load(g_path, &sgd, out, &got, &err), NNRT_ERR_NOT_FOUND);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "optim.momentum_buffer.a.weight"));
        CU_ASSERT_EQUAL(((unsigned char *)r)[0], 0x55);
    }
    /* a weights-only file is not a checkpoint */
    CU_ASSERT_EQUAL(nnrt_st_save(g_path, two, 2, b[0], &err), NNRT_OK);
    CU_ASSERT_EQUAL(nnrt_ckpt_load(g_path, &cm, out, &got, &err), NNRT_ERR_FORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "not a checkpoint"));
}

static void test_augment_parse(void)
{
    nnrt_augment a;
    nnrt_err err;
    CU_ASSERT_EQUAL(nnrt_augment_parse("shift=2,flip,rotate=7.5,noise=0.1", &a, &err), NNRT_OK);
    CU_ASSERT(a.shift == 2 && a.flip == 1 && a.rotate == 7.5 && a.noise == 0.1);
    CU_ASSERT(nnrt_augment_any(&a));
    static const char *const bad[] = {"shift=-1", "shift=1.5", "shift", "flip=1", "rotate=181", "noise=-0.1",
                                      "noise=nan", "zoom=2", "", "shift=2,", ",flip", "shift=2x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CU_ASSERT_EQUAL(nnrt_augment_parse(bad[i], &a, &err), NNRT_ERR_ARG);
}

/* Apply a to a 1 x h x w ramp image for example k: out. */
static void apply(const nnrt_augment *a, int h, int w, uint64_t k, float *out)
{
    double tmp[64];
    for (int i = 0; i < h * w; i++)
        out[i] = (float)(i + 1);
    CU_ASSERT_EQUAL(nnrt_augment_image(a, NNRT_F32, out, 1, h, w, 5, 3, k, tmp), NNRT_OK);
}

static void test_augment_flip_shift(void)
{
    nnrt_augment a = {0, 1, 0, 0};
    float x[64], y[64];
    int flipped = 0, kept = 0;
    for (uint64_t k = 0; k < 40; k++) {
        apply(&a, 2, 3, k, x);
        if (x[0] == 3 && x[1] == 2 && x[2] == 1 && x[3] == 6 && x[5] == 4)
            flipped++;
        else if (x[0] == 1 && x[2] == 3 && x[5] == 6)
            kept++;
    }
    CU_ASSERT(flipped + kept == 40 && flipped > 5 && kept > 5);
    a.flip = 0, a.shift = 1; /* every output is the ramp moved by dy, dx in [-1, 1], zeros shifted in */
    for (uint64_t k = 0; k < 40; k++) {
        int found = 0;
        apply(&a, 4, 5, k, x);
        for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++) {
                int same = 1;
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 5; j++) {
                        int si = i - dy, sj = j - dx;
                        float want = si >= 0 && si < 4 && sj >= 0 && sj < 5 ? (float)(si * 5 + sj + 1) : 0;
                        same &= x[i * 5 + j] == want;
                    }
                found |= same;
            }
        CU_ASSERT(found);
    }
    apply(&a, 4, 5, 11, x); /* the same (seed, epoch, k): the same result */
    apply(&a, 4, 5, 11, y);
    CU_ASSERT_EQUAL(memcmp(x, y, sizeof(float) * 20), 0);
}

static void test_augment_rotate_noise(void)
{
    nnrt_augment a = {0, 0, 20, 0};
    float x[64];
    double sum = 0, sq = 0;
    int moved = 0;
    for (uint64_t k = 0; k < 10; k++) {
        apply(&a, 5, 5, k, x);
        CU_ASSERT(fabsf(x[12] - 13) < 1e-5f); /* the center stays */
        moved += fabsf(x[0] - 1) > 1e-3f;
    }
    CU_ASSERT(moved >= 8);
    a.rotate = 0, a.noise = 0.5;
    for (uint64_t k = 0; k < 200; k++) {
        apply(&a, 8, 8, k, x);
        for (int i = 0; i < 64; i++) {
            double e = x[i] - (i + 1);
            sum += e;
            sq += e * e;
        }
    }
    sum /= 12800, sq /= 12800;
    CU_ASSERT(fabs(sum) < 0.02 && fabs(sqrt(sq) - 0.5) < 0.02);
}

int main(void)
{
    static const struct {
        const char *name;
        void (*fn)(void);
    } t[] = {
        {"safetensors metadata round trip", test_meta_roundtrip},
        {"checkpoint round trip, missing state, weights only", test_ckpt_roundtrip},
        {"--augment parsing", test_augment_parse},
        {"flips and shifts", test_augment_flip_shift},
        {"rotations about the center, noise", test_augment_rotate_noise},
    };
    char dir[] = "/tmp/nnrt_aug_XXXXXX";
    CU_pSuite s;
    unsigned fails;
    if (!mkdtemp(dir))
        return 1;
    snprintf(g_path, sizeof g_path, "%s/c.safetensors", dir);
    if (CU_initialize_registry() != CUE_SUCCESS || !(s = CU_add_suite("augment", NULL, NULL)))
        return 1;
    for (size_t k = 0; k < sizeof t / sizeof t[0]; k++)
        CU_add_test(s, t[k].name, t[k].fn);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    unlink(g_path);
    rmdir(dir);
    return fails ? 1 : 0;
}
