/* schedule.c — learning-rate schedules (the closed forms of
 * torch.optim.lr_scheduler as functions of the step count), their checks
 * and the trainer's --schedule spec, and the gradient-clipping loops the
 * generated update calls (nnrt.h, "learning-rate schedules").
 */
#define _POSIX_C_SOURCE 200809L

#include "nnrt_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[NNRT_SCHED_KINDS] = {"constant", "step",   "multistep", "exponential",
                                                         "cosine",   "linear", "onecycle"};

const char *nnrt_sched_name(int kind) { return kind >= 0 && kind < NNRT_SCHED_KINDS ? kind_names[kind] : NULL; }

int nnrt_sched_kind(const char *name)
{
    for (int k = 0; name && k < NNRT_SCHED_KINDS; k++)
        if (!strcmp(name, kind_names[k]))
            return k;
    return -1;
}

void nnrt_sched_default(nnrt_sched *s, int kind)
{
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->gamma = 0.1;
    s->pct_start = 0.3;
    s->div_factor = 25;
    s->final_div_factor = 1e4;
}

/* ---- the rates ------------------------------------------------------------ */

static double pi(void) { return 3.14159265358979323846; }

/* OneCycleLR's cosine annealing from start to end, pct in [0, 1]. */
static double anneal_cos(double start, double end, double pct)
{
    double cos_out = cos(pi() * pct) + 1;
    return end + (start - end) / 2.0 * cos_out;
}

/* OneCycleLR (two phases): up from lr / div_factor to lr over the first
 * pct_start * total - 1 positions, then down to the final rate at
 * total - 1, where it stays. */
static double onecycle(const nnrt_sched *s, double lr, int64_t n)
{
    double initial = lr / s->div_factor, final_lr = initial / s->final_div_factor;
    double end0 = s->pct_start * (double)s->total - 1, end1 = (double)s->total - 1;
    double x = (double)(n < s->total - 1 ? n : s->total - 1);
    if (x <= end0)
        return anneal_cos(initial, lr, x / end0);
    return anneal_cos(lr, final_lr, (x - end0) / (end1 - end0));
}

/* After the warmup: k steps into a decay of total - warmup steps. */
static double decay(const nnrt_sched *s, double lr, int64_t n)
{
    int64_t len = s->total - s->warmup, k = n - s->warmup < len ? n - s->warmup : len;
    if (s->kind == NNRT_SCHED_COSINE)
        return s->eta_min + (lr - s->eta_min) * (1 + cos(pi() * (double)k / (double)len)) / 2;
    return lr * (1.0 + (s->end_factor - 1.0) * (double)k / (double)len);
}

static int64_t milestones_passed(const nnrt_sched *s, int64_t n)
{
    int64_t c = 0;
    for (int i = 0; i < s->nmilestones; i++)
        c += s->milestones[i] <= n;
    return c;
}

double nnrt_sched_lr(const nnrt_sched *s, double lr, int64_t n)
{
    if (!s || n < 0)
        return lr;
    int warm = s->kind == NNRT_SCHED_CONSTANT || s->kind == NNRT_SCHED_COSINE || s->kind == NNRT_SCHED_LINEAR;
    if (warm && n < s->warmup)
        return lr * (double)n / (double)s->warmup;
    switch (s->kind) {
    case NNRT_SCHED_STEP: return lr * pow(s->gamma, (double)(n / s->step_size));
    case NNRT_SCHED_MULTISTEP: return lr * pow(s->gamma, (double)milestones_passed(s, n));
    case NNRT_SCHED_EXPONENTIAL: return lr * pow(s->gamma, (double)n);
    case NNRT_SCHED_COSINE:
    case NNRT_SCHED_LINEAR: return decay(s, lr, n);
    case NNRT_SCHED_ONECYCLE: return onecycle(s, lr, n);
    default: return lr;
    }
}

/* ---- checks --------------------------------------------------------------- */

static int pos_finite(double x) { return x > 0 && x <= 1.79769313486231570815e308; }

static int check_milestones(const nnrt_sched *s, nnrt_err *err)
{
    if (s->nmilestones < 1 || s->nmilestones > NNRT_SCHED_MAX_MILESTONES)
        return nnrti_fail(err, NNRT_ERR_ARG, "schedule multistep: 1 to %d milestones, got %d",
                          NNRT_SCHED_MAX_MILESTONES, s->nmilestones);
    for (int i = 0; i < s->nmilestones; i++)
        if (s->milestones[i] < 0 || (i && s->milestones[i] <= s->milestones[i - 1]))
            return nnrti_fail(err, NNRT_ERR_ARG, "schedule multistep: milestones must increase from >= 0");
    return NNRT_OK;
}

/* The checks of the kinds that run for total steps. */
static int check_total(const nnrt_sched *s, nnrt_err *err)
{
    const char *name = kind_names[s->kind];
    if (s->total < 1)
        return nnrti_fail(err, NNRT_ERR_ARG, "schedule %s: total must be >= 1 steps", name);
    if (s->warmup >= s->total)
        return nnrti_fail(err, NNRT_ERR_ARG, "schedule %s: warmup (%lld steps) must be shorter than total (%lld)",
                          name, (long long)s->warmup, (long long)s->total);
    if (s->kind == NNRT_SCHED_COSINE && !(s->eta_min >= 0 && s->eta_min < 1e308))
        return nnrti_fail(err, NNRT_ERR_ARG, "schedule cosine: eta_min must be finite and >= 0");
    if (s->kind == NNRT_SCHED_LINEAR && !(s->end_factor >= 0 && s->end_factor <= 1))
        return nnrti_fail(err, NNRT_ERR_ARG, "schedule linear: end_factor must be in [0, 1]");
    return NNRT_OK;
}

static int check_onecycle(const nnrt_sched *s, nnrt_err *err)
{
    if (!(s->pct_start > 0 && s->pct_start < 1) || !(s->pct_start * (double)s->total > 1))
        return nnrti_fail(err, NNRT_ERR_ARG,
                          "schedule onecycle: pct_start must be in (0, 1) with pct_start * total > 1");
    if (!pos_finite(s->div_factor) || !pos_finite(s->final_div_factor))
        return nnrti_fail(err, NNRT_ERR_ARG, "schedule onecycle: div_factor and final_div_factor must be > 0");
    return NNRT_OK;
}

static int check_kind(const nnrt_sched *s, nnrt_err *err)
{
    int k = s->kind;
    if (k == NNRT_SCHED_STEP && s->step_size < 1)
        return nnrti_fail(err, NNRT_ERR_ARG, "schedule step: step_size must be >= 1");
    if ((k == NNRT_SCHED_STEP || k == NNRT_SCHED_MULTISTEP || k == NNRT_SCHED_EXPONENTIAL) && !pos_finite(s->gamma))
        return nnrti_fail(err, NNRT_ERR_ARG, "schedule %s: gamma must be finite and > 0", kind_names[k]);
    if (k == NNRT_SCHED_MULTISTEP)
        return check_milestones(s, err);
    if (k == NNRT_SCHED_COSINE || k == NNRT_SCHED_LINEAR || k == NNRT_SCHED_ONECYCLE) {
        int st = check_total(s, err);
        return st != NNRT_OK || k != NNRT_SCHED_ONECYCLE ? st : check_onecycle(s, err);
    }
    return NNRT_OK;
}

int nnrt_sched_check(const nnrt_sched *s, nnrt_err *err)
{
    if (!s || s->kind < 0 || s->kind >= NNRT_SCHED_KINDS)
        return nnrti_fail(err, NNRT_ERR_ARG, "unknown schedule kind %d", s ? s->kind : -1);
    if (s->warmup < 0)
        return nnrti_fail(err, NNRT_ERR_ARG, "schedule %s: warmup must be >= 0", kind_names[s->kind]);
    if (!(s->clip_norm >= 0 && s->clip_norm < 1e308) || !(s->clip_value >= 0 && s->clip_value < 1e308))
        return nnrti_fail(err, NNRT_ERR_ARG, "clip_norm and clip_value must be finite and > 0 (0: off)");
    if (s->clip_norm > 0 && s->clip_value > 0)
        return nnrti_fail(err, NNRT_ERR_ARG, "clip_norm and clip_value: clip by one of them, not both");
    return check_kind(s, err);
}

/* ---- the trainer's spec: KIND[,NAME=VALUE...] ------------------------------ */

/* The arguments each kind takes, by name; NULL-terminated. */
static const char *const kind_args[NNRT_SCHED_KINDS][6] = {
    {"warmup", NULL},
    {"step_size", "gamma", NULL},
    {"milestones", "gamma", NULL},
    {"gamma", NULL},
    {"total", "warmup", "eta_min", NULL},
    {"total", "warmup", "end_factor", NULL},
    {"total", "pct_start", "div_factor", "final_div_factor", NULL},
};

static int takes(int kind, const char *name)
{
    for (int i = 0; kind_args[kind][i]; i++)
        if (!strcmp(kind_args[kind][i], name))
            return 1;
    return 0;
}

/* A whole integer >= 0 of text, or -1. */
static int64_t parse_count(const char *text)
{
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end || !(v >= 0 && v <= 9007199254740992.0) || v != floor(v))
        return -1;
    return (int64_t)v;
}

static int parse_milestones(const char *v, nnrt_sched *s, nnrt_err *err)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", v);
    s->nmilestones = 0;
    for (char *save = NULL, *t = strtok_r(buf, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (s->nmilestones == NNRT_SCHED_MAX_MILESTONES || (s->milestones[s->nmilestones] = parse_count(t)) < 0)
            return nnrti_fail(err, NNRT_ERR_ARG, "--schedule: milestones '%s': at most %d whole numbers A/B/C", v,
                              NNRT_SCHED_MAX_MILESTONES);
        s->nmilestones++;
    }
    return NNRT_OK;
}

/* NAME=VALUE for s's kind. */
static int parse_arg(char *arg, nnrt_sched *s, nnrt_err *err)
{
    char *eq = strchr(arg, '='), *end;
    if (!eq)
        return nnrti_fail(err, NNRT_ERR_ARG, "--schedule: expected NAME=VALUE, got '%s'", arg);
    *eq = 0;
    const char *v = eq + 1;
    if (!takes(s->kind, arg))
        return nnrti_fail(err, NNRT_ERR_ARG, "--schedule: the %s schedule has no argument '%s'",
                          kind_names[s->kind], arg);
    if (!strcmp(arg, "milestones"))
        return parse_milestones(v, s, err);
    int64_t *count = !strcmp(arg, "warmup") ? &s->warmup : !strcmp(arg, "total") ? &s->total
                     : !strcmp(arg, "step_size") ? &s->step_size : NULL;
    if (count)
        return (*count = parse_count(v)) < 0
                   ? nnrti_fail(err, NNRT_ERR_ARG, "--schedule: %s must be a whole number >= 0, got '%s'", arg, v)
                   : NNRT_OK;
    double x = strtod(v, &end);
    if (end == v || *end)
        return nnrti_fail(err, NNRT_ERR_ARG, "--schedule: %s must be a number, got '%s'", arg, v);
    double *slot[] = {&s->gamma, &s->eta_min, &s->end_factor, &s->pct_start, &s->div_factor, &s->final_div_factor};
    static const char *const names[] = {"gamma", "eta_min", "end_factor", "pct_start", "div_factor",
                                        "final_div_factor"};
    for (int i = 0; i < 6; i++)
        if (!strcmp(arg, names[i]))
            *slot[i] = x;
    return NNRT_OK;
}

static int needs_total(int kind)
{
    return kind == NNRT_SCHED_COSINE || kind == NNRT_SCHED_LINEAR || kind == NNRT_SCHED_ONECYCLE;
}

int nnrt_sched_parse(const char *spec, int64_t default_total, nnrt_sched *s, nnrt_err *err)
{
    char buf[1024], *save = NULL;
    if (!spec || !s || strlen(spec) >= sizeof buf)
        return nnrti_fail(err, NNRT_ERR_ARG, "--schedule: expected KIND[,NAME=VALUE...]");
    snprintf(buf, sizeof buf, "%s", spec);
    char *name = strtok_r(buf, ",", &save);
    int kind = nnrt_sched_kind(name);
    if (kind < 0)
        return nnrti_fail(err, NNRT_ERR_ARG, "--schedule: unknown schedule '%s' (constant, step, multistep, "
                          "exponential, cosine, linear, onecycle)", name ? name : "");
    nnrt_sched t;
    nnrt_sched_default(&t, kind);
    t.clip_norm = s->clip_norm, t.clip_value = s->clip_value;
    t.total = needs_total(kind) ? default_total : 0;
    for (char *a = strtok_r(NULL, ",", &save); a; a = strtok_r(NULL, ",", &save))
        if (parse_arg(a, &t, err) != NNRT_OK)
            return NNRT_ERR_ARG;
    if (nnrt_sched_check(&t, err) != NNRT_OK) {
        char msg[sizeof err->msg];
        if (err)
            snprintf(msg, sizeof msg, "%s", err->msg), nnrti_fail(err, NNRT_ERR_ARG, "--schedule: %s", msg);
        return NNRT_ERR_ARG;
    }
    *s = t;
    return NNRT_OK;
}

/* ---- gradient clipping ------------------------------------------------------ */

double nnrt_sumsq_f32(const float *x, size_t n, double acc)
{
    for (size_t i = 0; i < n; i++)
        acc += (double)x[i] * (double)x[i];
    return acc;
}

double nnrt_sumsq_f64(const double *x, size_t n, double acc)
{
    for (size_t i = 0; i < n; i++)
        acc += x[i] * x[i];
    return acc;
}

void nnrt_clip_f32(float *x, size_t n, double value, double coef)
{
    const float v = (float)value, c = (float)coef;
    for (size_t i = 0; value > 0 && i < n; i++)
        x[i] = x[i] < -v ? -v : x[i] > v ? v : x[i];
    for (size_t i = 0; coef < 1 && i < n; i++)
        x[i] *= c;
}

void nnrt_clip_f64(double *x, size_t n, double value, double coef)
{
    for (size_t i = 0; value > 0 && i < n; i++)
        x[i] = x[i] < -value ? -value : x[i] > value ? value : x[i];
    for (size_t i = 0; coef < 1 && i < n; i++)
        x[i] *= coef;
}
