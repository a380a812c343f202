/* trainer_sched.c — the trainer's --schedule, --clip-norm and --clip-value:
 * the model's schedule and clipping (its train statement's) with the
 * options' replacements, installed through the descriptor before training,
 * and one line saying what is on.
 */
#include "trainer.h"

#include <stdio.h>
#include <string.h>

/* " (warmup 100, total 2000 steps)" and the like: the kind's arguments. */
static void describe(const nnrt_sched *s, char *buf, size_t cap)
{
    int k = s->kind, n = 0;
    if (k == NNRT_SCHED_STEP)
        n = snprintf(buf, cap, " (step_size %lld, gamma %g)", (long long)s->step_size, s->gamma);
    else if (k == NNRT_SCHED_MULTISTEP)
        n = snprintf(buf, cap, " (%d milestones, the first %lld, gamma %g)", s->nmilestones,
                     (long long)s->milestones[0], s->gamma);
    else if (k == NNRT_SCHED_EXPONENTIAL)
        n = snprintf(buf, cap, " (gamma %g)", s->gamma);
    else if (k == NNRT_SCHED_COSINE || k == NNRT_SCHED_LINEAR)
        n = snprintf(buf, cap, " (warmup %lld, total %lld steps, %s %g)", (long long)s->warmup, (long long)s->total,
                     k == NNRT_SCHED_COSINE ? "eta_min" : "end_factor", k == NNRT_SCHED_COSINE ? s->eta_min
                                                                                         : s->end_factor);
    else if (k == NNRT_SCHED_ONECYCLE)
        n = snprintf(buf, cap, " (total %lld steps, pct_start %g)", (long long)s->total, s->pct_start);
    else if (s->warmup)
        n = snprintf(buf, cap, " (warmup %lld)", (long long)s->warmup);
    if (n <= 0)
        buf[0] = 0;
}

/* "schedule cosine (...), clip_norm 1": nothing for a constant rate
 * without clipping. */
static int print_sched(ctx *c, const nnrt_sched *s)
{
    char args[160];
    if (s->kind == NNRT_SCHED_CONSTANT && !s->warmup && !s->clip_norm && !s->clip_value)
        return 0;
    describe(s, args, sizeof args);
    printf("schedule %s%s", nnrt_sched_name(s->kind), args);
    if (s->clip_norm > 0)
        printf(", clip_norm %g", s->clip_norm);
    if (s->clip_value > 0)
        printf(", clip_value %g", s->clip_value);
    printf("\n");
    return nnrti_tr_check_stdout(c);
}

int nnrti_tr_apply_sched(ctx *c, int64_t total)
{
    const nnrt_model_desc *d = c->d;
    const opts *o = &c->o;
    int given = o->raw[O_SCHEDULE] || o->raw[O_CLIP_NORM] || o->raw[O_CLIP_VALUE];
    nnrt_sched s;
    nnrt_err err;
    if (!d->get_schedule || !d->set_schedule)
        return given ? nnrti_tr_fail(c, EXIT_RUNTIME, "model %s cannot change its learning-rate schedule or "
                                     "gradient clipping (the C target's models can)", d->name) : 0;
    if (d->get_schedule(c->m, &s))
        return nnrti_tr_model_fail(c, "get_schedule");
    if (o->raw[O_CLIP_NORM])
        s.clip_norm = o->clip_norm, s.clip_value = 0;
    if (o->raw[O_CLIP_VALUE])
        s.clip_value = o->clip_value, s.clip_norm = 0;
    if (o->raw[O_SCHEDULE] && nnrt_sched_parse(o->raw[O_SCHEDULE], total, &s, &err) != NNRT_OK)
        return nnrti_tr_fail(c, EXIT_USAGE, "%s", err.msg);
    if (given && d->set_schedule(c->m, &s))
        return nnrti_tr_model_fail(c, "set_schedule");
    return print_sched(c, &s);
}
