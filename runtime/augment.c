/* augment.c — data augmentation of images [C, H, W] for training batches:
 * random integer shifts with zero padding (a random crop of the padded
 * image), horizontal flips, small rotations (bilinear, zero outside) and
 * Gaussian noise. Every draw comes from Philox keyed by the seed, stream
 * NNRT_STREAM_AUGMENT | epoch, counter (example position k in the epoch,
 * block j): an example's transform is a function of (seed, epoch, k) alone,
 * so a run, and a resumed run, is reproducible. Block 0's words: the x
 * shift, the y shift, the flip, the angle; blocks 1.. the noise (Box-Muller
 * on word pairs, as the normal fills).
 */
#include "nnrt_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#define AUG_MAX_SHIFT 1000
#define AUG_MAX_ROTATE 180.0
#define AUG_PI 3.14159265358979323846

/* One "kind" or "kind=value" item of the list. */
static int parse_item(const char *s, size_t n, nnrt_augment *a, nnrt_err *err)
{
    const char *eq = memchr(s, '=', n);
    size_t klen = eq ? (size_t)(eq - s) : n;
    char val[64], *end;
    double v = 0;
    if (eq) {
        size_t vlen = n - klen - 1;
        if (vlen == 0 || vlen >= sizeof val)
            return nnrti_fail(err, NNRT_ERR_ARG, "--augment: '%.*s' needs a value", (int)n, s);
        memcpy(val, eq + 1, vlen);
        val[vlen] = 0;
        errno = 0;
        v = strtod(val, &end);
        if (*end || errno || !isfinite(v))
            return nnrti_fail(err, NNRT_ERR_ARG, "--augment: '%s' in '%.*s' is not a number", val, (int)n, s);
    }
    if (klen == 5 && memcmp(s, "shift", 5) == 0 && eq) {
        if (!(v >= 0 && v <= AUG_MAX_SHIFT) || v != floor(v))
            return nnrti_fail(err, NNRT_ERR_ARG, "--augment: shift=%s is not a whole number of pixels in [0, %d]",
                              val, AUG_MAX_SHIFT);
        a->shift = (int)v;
    } else if (klen == 4 && memcmp(s, "flip", 4) == 0 && !eq) {
        a->flip = 1;
    } else if (klen == 6 && memcmp(s, "rotate", 6) == 0 && eq) {
        if (!(v >= 0 && v <= AUG_MAX_ROTATE))
            return nnrti_fail(err, NNRT_ERR_ARG, "--augment: rotate=%s is not a number of degrees in [0, 180]", val);
        a->rotate = v;
    } else if (klen == 5 && memcmp(s, "noise", 5) == 0 && eq) {
        if (!(v >= 0))
            return nnrti_fail(err, NNRT_ERR_ARG, "--augment: noise=%s is not a standard deviation >= 0", val);
        a->noise = v;
    } else {
        return nnrti_fail(err, NNRT_ERR_ARG, "--augment: unknown item '%.*s' (expected shift=N, flip, rotate=DEG or "
                          "noise=SIGMA, separated by commas)", (int)n, s);
    }
    return NNRT_OK;
}

int nnrt_augment_parse(const char *s, nnrt_augment *a, nnrt_err *err)
{
    memset(a, 0, sizeof *a);
    if (!s || !*s)
        return nnrti_fail(err, NNRT_ERR_ARG, "--augment: empty list");
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t n = comma ? (size_t)(comma - s) : strlen(s);
        int rc = n ? parse_item(s, n, a, err) : nnrti_fail(err, NNRT_ERR_ARG, "--augment: an empty item");
        if (rc != NNRT_OK)
            return rc;
        if (!comma)
            return NNRT_OK;
        s = comma + 1;
    }
}

int nnrt_augment_any(const nnrt_augment *a)
{
    return a && (a->shift > 0 || a->flip || a->rotate > 0 || a->noise > 0);
}

/* Uniform integer in [-m, m] from a word (bias below 2^-22 for m <= 1000). */
static int draw_shift(uint32_t w, int m)
{
    return m ? (int)(w % (uint32_t)(2 * m + 1)) - m : 0;
}

/* Pixel (y, x) of a plane, 0 outside. */
static double at(const double *p, int64_t h, int64_t w, int64_t y, int64_t x)
{
    return y >= 0 && y < h && x >= 0 && x < w ? p[y * w + x] : 0.0;
}

/* The transform of one example: output (i, j) reads the source at
 * (cy + sy, cx + sx) where (sy, sx) is the rotation of (i - dy - cy,
 * j' - cx), j' = j - dx, mirrored when flipped. */
typedef struct xform {
    int dx, dy, flip;
    double cosa, sina; /* 1, 0 without rotation */
} xform;

static double sample(const xform *t, const double *p, int64_t h, int64_t w, int64_t i, int64_t j)
{
    int64_t u = j - t->dx, v = i - t->dy;
    double cy = (double)(h - 1) / 2, cx = (double)(w - 1) / 2, ry, rx, fy, fx;
    int64_t y0, x0;
    if (t->flip)
        u = w - 1 - u;
    if (t->sina == 0 && t->cosa == 1)
        return at(p, h, w, v, u); /* integer shifts and flips copy exactly */
    ry = cy + t->sina * ((double)u - cx) + t->cosa * ((double)v - cy);
    rx = cx + t->cosa * ((double)u - cx) - t->sina * ((double)v - cy);
    fy = floor(ry);
    fx = floor(rx);
    y0 = (int64_t)fy;
    x0 = (int64_t)fx;
    fy = ry - fy;
    fx = rx - fx;
    return (1 - fy) * ((1 - fx) * at(p, h, w, y0, x0) + fx * at(p, h, w, y0, x0 + 1)) +
           fy * ((1 - fx) * at(p, h, w, y0 + 1, x0) + fx * at(p, h, w, y0 + 1, x0 + 1));
}

static double get(const void *x, int dtype, size_t i)
{
    return dtype == NNRT_F64 ? ((const double *)x)[i] : (double)((const float *)x)[i];
}

static void put(void *x, int dtype, size_t i, double v)
{
    if (dtype == NNRT_F64)
        ((double *)x)[i] = v;
    else
        ((float *)x)[i] = (float)v;
}

/* Gaussian noise on n values, from blocks 1.. of the example's counter. */
static void add_noise(double sigma, int dtype, void *x, size_t n, uint64_t seed, uint64_t stream, uint64_t k)
{
    uint32_t w[4];
    size_t i;
    for (i = 0; i < n; i++) {
        if (i % 4 == 0)
            nnrt_philox4x32(seed, stream, k << 32 | (uint64_t)(1 + i / 4), w);
        {
            size_t j = i % 4, p = j & ~(size_t)1;
            double r = sqrt(-2.0 * log(1.0 - (double)nnrt_u01(w[p])));
            double t = 2 * AUG_PI * (double)nnrt_u01(w[p + 1]);
            put(x, dtype, i, get(x, dtype, i) + sigma * ((j & 1) ? r * sin(t) : r * cos(t)));
        }
    }
}

int nnrt_augment_image(const nnrt_augment *a, int dtype, void *x, int64_t c, int64_t h, int64_t w, uint64_t seed,
                       uint64_t epoch, uint64_t k, double *tmp)
{
    uint64_t stream = NNRT_STREAM_AUGMENT | epoch;
    uint32_t b[4];
    xform t;
    int64_t ch, i, j;
    if (!a || !x || !tmp || c < 1 || h < 1 || w < 1 || k >= (UINT64_C(1) << 31))
        return NNRT_ERR_ARG;
    nnrt_philox4x32(seed, stream, k << 32, b);
    t.dx = draw_shift(b[0], a->shift);
    t.dy = draw_shift(b[1], a->shift);
    t.flip = a->flip && (b[2] >> 31);
    t.cosa = 1, t.sina = 0;
    if (a->rotate > 0) {
        double ang = (2 * (double)nnrt_u01(b[3]) - 1) * a->rotate * AUG_PI / 180;
        t.cosa = cos(ang), t.sina = sin(ang);
    }
    for (ch = 0; ch < c; ch++) {
        size_t base = (size_t)(ch * h * w);
        for (i = 0; i < h * w; i++)
            tmp[i] = get(x, dtype, base + (size_t)i);
        for (i = 0; i < h; i++)
            for (j = 0; j < w; j++)
                put(x, dtype, base + (size_t)(i * w + j), sample(&t, tmp, h, w, i, j));
    }
    if (a->noise > 0)
        add_noise(a->noise, dtype, x, (size_t)(c * h * w), seed, stream, k);
    return NNRT_OK;
}
