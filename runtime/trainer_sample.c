/* trainer_sample.c — sequential Philox draws (text windows, sampling), the
 * public vocabulary and temperature-sampling helpers (nnrt_vocab_build,
 * nnrt_sample_row), and the sample command of character models.
 */
#define _POSIX_C_SOURCE 200809L

#include "trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- Philox draws ------------------------------------------------------- */

void nnrti_tr_draws_init(draws *r, uint64_t seed, uint64_t stream)
{
    memset(r, 0, sizeof *r);
    r->seed = seed;
    r->stream = NNRT_STREAM_DATA | stream;
}

static uint32_t draw_u32(draws *r)
{
    uint64_t i = r->next++;
    if (i % 4 == 0)
        nnrt_philox4x32(r->seed, r->stream, i / 4, r->block);
    return r->block[i % 4];
}

/* Uniform in [0, n), n >= 1, unbiased: modulo with rejection (a word below
 * 2^32 mod n is redrawn); n above 2^32 takes two words, high first. */
uint64_t nnrti_tr_draw_below(draws *r, uint64_t n)
{
    if (n <= 0xFFFFFFFFull) {
        uint32_t m = (uint32_t)n, t = (uint32_t)(0u - m) % m, x;
        do
            x = draw_u32(r);
        while (x < t);
        return x % m;
    }
    for (;;) {
        uint64_t t = (0 - n) % n, x = (uint64_t)draw_u32(r) << 32;
        x |= draw_u32(r);
        if (x >= t)
            return x % n;
    }
}

/* Uniform in [0, 1) with 53 bits from two words (27 high, 26 low). */
static double draw_unit(draws *r)
{
    uint64_t hi = draw_u32(r) >> 5, lo = draw_u32(r) >> 6;
    return ((double)hi * 67108864.0 + (double)lo) / 9007199254740992.0;
}

/* ---- vocabulary and temperature sampling (public) ------------------------ */

void nnrt_vocab_build(nnrt_vocab *v, const unsigned char *text, size_t len)
{
    unsigned char seen[256];
    size_t k;
    int b;
    memset(seen, 0, sizeof seen);
    memset(v, 0, sizeof *v);
    for (k = 0; text && k < len; k++)
        seen[text[k]] = 1;
    for (b = 0; b < 256; b++) {
        v->id[b] = -1;
        if (seen[b]) {
            v->id[b] = (int16_t)v->size;
            v->sym[v->size++] = (unsigned char)b;
        }
    }
}

/* 1 if row[0..n) looks like probabilities: finite, >= 0, summing to 1. */
static int is_distribution(const double *row, int n)
{
    double sum = 0;
    int j;
    for (j = 0; j < n; j++) {
        if (!isfinite(row[j]) || row[j] < 0)
            return 0;
        sum += row[j];
    }
    return fabs(sum - 1.0) <= 1e-3;
}

/* The log-weight of id j: log(p) / t for probabilities, logit / t for
 * logits; -inf (p = 0, NaN, infinite logits) never wins. */
static double log_weight(const double *row, int j, int probs, double t)
{
    if (probs)
        return row[j] > 0 ? log(row[j]) / t : -HUGE_VAL;
    return isfinite(row[j]) ? row[j] / t : -HUGE_VAL;
}

int nnrt_sample_row(const double *row, int n, int usable, double t, double u)
{
    int probs, j, last = -1;
    double mx = -HUGE_VAL, total = 0, cum = 0;
    if (!row || n <= 0 || usable <= 0 || !(t > 0) || !isfinite(t))
        return -1;
    if (usable > n)
        usable = n;
    probs = is_distribution(row, n);
    for (j = 0; j < usable; j++)
        if (log_weight(row, j, probs, t) > mx)
            mx = log_weight(row, j, probs, t);
    if (!isfinite(mx))
        return -1;
    for (j = 0; j < usable; j++)
        total += exp(log_weight(row, j, probs, t) - mx);
    u = u < 0 ? 0 : u >= 1 ? 0x1.fffffffffffffp-1 : u;
    for (j = 0; j < usable; j++) {
        double w = exp(log_weight(row, j, probs, t) - mx);
        if (w <= 0)
            continue;
        last = j;
        cum += w;
        if (cum > u * total)
            return j;
    }
    return last; /* rounding left u * total at the very end */
}

/* ---- sample --------------------------------------------------------------- */

/* The prompt as ids; every byte must be in the vocabulary. */
static int prompt_ids(ctx *c, const text *t, const char *prompt, int32_t *seq)
{
    size_t k;
    for (k = 0; prompt[k]; k++) {
        unsigned char ch = (unsigned char)prompt[k];
        char shown[16];
        if (t->v.id[ch] >= 0) {
            seq[k] = t->v.id[ch];
            continue;
        }
        if (ch >= 32 && ch < 127)
            snprintf(shown, sizeof shown, "'%c'", ch);
        else
            snprintf(shown, sizeof shown, "byte 0x%02x", ch);
        return nnrti_tr_fail(
            c, EXIT_RUNTIME,
            "%s: prompt character %s (position %zu) does not occur in the text (its vocabulary has %d characters)",
            t->path, shown, k + 1, t->v.size);
    }
    return 0;
}

/* Run the model on the last up to T ids of seq[0..n) (positions 0..L-1 of
 * every row, padded with id 0) and draw the next id from position L-1 of
 * row 0. */
static int next_id(ctx *c, const text *t, const int32_t *seq, size_t n, draws *r, double *row, int32_t *id)
{
    const nnrt_model_desc *d = c->d;
    size_t T = d->x_numel, V = (size_t)d->classes, L = n < T ? n : T, k;
    int64_t b;
    int32_t *x = c->b.x;
    for (k = 0; k < T; k++)
        x[k] = k < L ? seq[n - L + k] : 0;
    for (b = 1; b < d->batch; b++)
        memcpy(x + (size_t)b * T, x, T * sizeof *x);
    if (d->forward(c->m, c->b.x, c->b.out))
        return nnrti_tr_model_fail(c, "forward");
    for (k = 0; k < V; k++)
        row[k] = nnrti_tr_at(c->b.out, d->dtype, (L - 1) * V + k);
    *id = nnrt_sample_row(row, (int)V, t->v.size, c->o.temperature, draw_unit(r));
    if (*id < 0)
        return nnrti_tr_fail(c, EXIT_RUNTIME,
                             "model %s: the output at position %zu has no finite positive weight for any character "
                             "(NaN or infinite outputs?)",
                             d->name, L);
    return 0;
}

/* Print the prompt, then --len characters, one forward pass each. */
static int generate(ctx *c, const text *t, int32_t *seq, size_t n)
{
    double *row = malloc((size_t)c->d->classes * sizeof *row);
    draws r;
    long i;
    int rc = 0;
    if (!row)
        return nnrti_tr_fail(c, EXIT_RUNTIME, "out of memory");
    nnrti_tr_draws_init(&r, c->o.seed, 0);
    fputs(c->o.raw[O_PROMPT], stdout);
    for (i = 0; i < c->o.len && rc == 0; i++) {
        int32_t id = 0;
        if ((rc = next_id(c, t, seq, n, &r, row, &id)) != 0)
            break;
        seq[n++] = id;
        putchar(t->v.sym[id]);
    }
    free(row);
    if (rc)
        return rc;
    putchar('\n');
    return nnrti_tr_check_stdout(c);
}

int nnrti_tr_cmd_sample(ctx *c)
{
    const char *prompt = c->o.raw[O_PROMPT];
    size_t plen = strlen(prompt);
    int32_t *seq = NULL;
    text t;
    int rc;
    memset(&t, 0, sizeof t);
    if ((rc = nnrti_tr_check_char_model(c)) == 0 && (rc = nnrti_tr_load_text(c, c->o.raw[O_TEXT], &t)) == 0) {
        seq = nnrti_tr_alloc3(plen + (size_t)c->o.len, 1, sizeof *seq);
        if (!seq)
            rc = nnrti_tr_fail(c, EXIT_RUNTIME, "out of memory");
    }
    if (rc == 0 && (rc = prompt_ids(c, &t, prompt, seq)) == 0 &&
        (rc = nnrti_tr_make_model(c, c->o.seed, c->o.raw[O_LOAD])) == 0 && (rc = nnrti_tr_alloc_bufs(c)) == 0)
        rc = generate(c, &t, seq, plen);
    free(seq);
    free(t.ids);
    return rc;
}
