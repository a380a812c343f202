/* metrics.c — accuracy counters and argmax.
 *
 * argmax returns the first index holding the largest value; NaNs are never
 * chosen over a number (a row of all NaNs gives index 0). Labels outside
 * [0, classes) never count as correct.
 */
#include "nnrt_internal.h"

#include <math.h>

/* First index of the largest of x[0..n), -1 when n <= 0. */
int nnrt_argmax_f32(const float *x, int n)
{
    int j, best = 0;
    if (!x || n <= 0)
        return -1;
    for (j = 1; j < n; j++)
        if (x[j] > x[best] || (isnan(x[best]) && !isnan(x[j])))
            best = j;
    return best;
}

static int argmax_f64(const double *x, int n)
{
    int j, best = 0;
    for (j = 1; j < n; j++)
        if (x[j] > x[best] || (isnan(x[best]) && !isnan(x[j])))
            best = j;
    return best;
}

/* Rows i in [0, n) with argmax(scores[i*classes ...]) == labels[i]. */
int64_t nnrt_count_correct_f32(const float *scores, const int32_t *labels,
                               int64_t n, int classes)
{
    int64_t i, hits = 0;
    if (!scores || !labels || classes <= 0)
        return 0;
    for (i = 0; i < n; i++)
        hits += nnrt_argmax_f32(scores + (size_t)i * (size_t)classes,
                                classes) == labels[i];
    return hits;
}

int64_t nnrt_count_correct_f64(const double *scores, const int32_t *labels,
                               int64_t n, int classes)
{
    int64_t i, hits = 0;
    if (!scores || !labels || classes <= 0)
        return 0;
    for (i = 0; i < n; i++)
        hits += argmax_f64(scores + (size_t)i * (size_t)classes, classes) ==
                labels[i];
    return hits;
}

/* Elements where (p > 0.5) == (t > 0.5). */
int64_t nnrt_count_binary_f32(const float *p, const float *t, int64_t n)
{
    int64_t i, hits = 0;
    if (!p || !t)
        return 0;
    for (i = 0; i < n; i++)
        hits += (p[i] > 0.5f) == (t[i] > 0.5f);
    return hits;
}

int64_t nnrt_count_binary_f64(const double *p, const double *t, int64_t n)
{
    int64_t i, hits = 0;
    if (!p || !t)
        return 0;
    for (i = 0; i < n; i++)
        hits += (p[i] > 0.5) == (t[i] > 0.5);
    return hits;
}

void nnrt_meter_add(nnrt_meter *m, double value, int64_t weight) {
    m->sum += value * (double)weight;
    m->count += weight;
}

double nnrt_meter_mean(const nnrt_meter *m) { return m->count ? m->sum / (double)m->count : 0.0; }
