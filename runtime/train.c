/* train.c — training-loop helpers: shuffle, clock, progress bar. */
#define _POSIX_C_SOURCE 200809L

#include "nnrt_internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BAR_WIDTH 30 /* characters between the brackets */

/* Key perturbation for redraws after a rejection (2^64 / golden ratio). */
#define REDRAW_KEY 0x9E3779B97F4A7C15ull

/* ---- shuffle ------------------------------------------------------------ */

/* The word for index i, attempt a: word i % 4 of Philox block
 * (ctr_hi = epoch, ctr_lo = i / 4) under key seed ^ (a * REDRAW_KEY).
 * Attempt 0 uses the plain seed; block0 caches it. */
static uint32_t draw(uint64_t seed, uint64_t epoch, uint64_t i, uint64_t a,
                     const uint32_t block0[4])
{
    uint32_t w[4];
    if (a == 0)
        return block0[i % 4];
    nnrt_philox4x32(seed ^ (a * REDRAW_KEY), epoch, i / 4, w);
    return w[i % 4];
}

/* Uniform integer in [0, i], unbiased: modulo with rejection. For i + 1 <=
 * 2^32 a 32-bit word x is accepted when x >= 2^32 mod (i + 1), then
 * x mod (i + 1) is returned; larger bounds use 64-bit candidates built from
 * two consecutive attempts (high word first) the same way. Rejected
 * candidates are redrawn from the next attempts (see draw()). */
static uint64_t uniform_index(uint64_t seed, uint64_t epoch, uint64_t i,
                              const uint32_t block0[4])
{
    uint64_t m = i + 1, a = 0;
    if (m <= 0xFFFFFFFFull) {
        uint32_t m32 = (uint32_t)m, t = (uint32_t)(0u - m32) % m32, x;
        do
            x = draw(seed, epoch, i, a++, block0);
        while (x < t);
        return x % m32;
    }
    if (m == 0x100000000ull)
        return draw(seed, epoch, i, 0, block0);
    for (;;) {
        uint64_t t = (0 - m) % m, x;
        x = (uint64_t)draw(seed, epoch, i, a, block0) << 32 |
            draw(seed, epoch, i, a + 1, block0);
        a += 2;
        if (x >= t)
            return x % m;
    }
}

/* idx[i] = i, then Fisher-Yates from the end: for i = n-1 .. 1 swap idx[i]
 * with idx[j], j = uniform_index(i) from Philox(seed, epoch). */
void nnrt_shuffle(int64_t *idx, int64_t n, uint64_t seed, uint64_t epoch)
{
    int64_t i;
    uint32_t block0[4];
    uint64_t have = UINT64_MAX; /* block index cached in block0 */
    if (!idx || n <= 0)
        return;
    for (i = 0; i < n; i++)
        idx[i] = i;
    epoch |= NNRT_STREAM_DATA;
    for (i = n - 1; i > 0; i--) {
        uint64_t j, b = (uint64_t)i / 4;
        int64_t tmp;
        if (b != have) {
            nnrt_philox4x32(seed, epoch, b, block0);
            have = b;
        }
        j = uniform_index(seed, epoch, (uint64_t)i, block0);
        tmp = idx[i];
        idx[i] = idx[j];
        idx[j] = tmp;
    }
}

/* ---- clock ---------------------------------------------------------------- */

/* Seconds from CLOCK_MONOTONIC (0 if the clock is unavailable). */
double nnrt_now(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0.0;
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- progress bar ------------------------------------------------------- */

/* Remember out and total, start the clock; tty = isatty(fileno(out)). */
void nnrt_progress_start(nnrt_progress *p, FILE *out, int64_t total)
{
    if (!p)
        return;
    memset(p, 0, sizeof *p);
    p->out = out;
    p->tty = out ? isatty(fileno(out)) : 0;
    p->total = total;
    p->t0 = nnrt_now();
    p->last_width = 0;
}

/* Fill bar[0..BAR_WIDTH) with "=====>    " for done/total. */
static void draw_bar(char *bar, int64_t done, int64_t total)
{
    int k, fill = 0;
    if (total > 0) {
        if (done > total)
            done = total;
        if (done > 0 && done <= INT64_MAX / BAR_WIDTH)
            fill = (int)(done * BAR_WIDTH / total);
        else if (done > 0)
            fill = (int)((double)done / (double)total * BAR_WIDTH);
    }
    for (k = 0; k < BAR_WIDTH; k++)
        bar[k] = k < fill ? '=' : ' ';
    if (fill < BAR_WIDTH)
        bar[fill] = '>';
    bar[BAR_WIDTH] = 0;
}

/* On a tty, redraw "\r[=====>     ] done/total loss L T.Ts eta E.Es" in
 * place (the eta, of the steps left at the mean time per step so far, until
 * the last step), padding with spaces over a longer previous line. Nothing
 * otherwise. */
void nnrt_progress_update(nnrt_progress *p, int64_t done, double loss)
{
    char bar[BAR_WIDTH + 1], line[256], eta[48] = "";
    double t;
    int w;
    if (!p || !p->tty || !p->out)
        return;
    draw_bar(bar, done, p->total);
    t = nnrt_now() - p->t0;
    if (done > 0 && done < p->total)
        snprintf(eta, sizeof eta, " eta %.1fs", t / (double)done * (double)(p->total - done));
    w = snprintf(line, sizeof line, "[%s] %lld/%lld loss %.4f %.1fs%s", bar,
                 (long long)done, (long long)p->total, loss, t, eta);
    if (w < 0)
        return;
    if (w >= (int)sizeof line)
        w = (int)sizeof line - 1;
    fprintf(p->out, "\r%s%*s", line,
            p->last_width > w ? p->last_width - w : 0, "");
    fflush(p->out);
    p->last_width = w;
}

/* On a tty, end the bar's line with a newline. Nothing otherwise. */
void nnrt_progress_end(nnrt_progress *p)
{
    if (!p || !p->tty || !p->out)
        return;
    if (p->last_width > 0)
        fputc('\n', p->out);
    fflush(p->out);
    p->last_width = 0;
}
