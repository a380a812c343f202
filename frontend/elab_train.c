/* elab_train.c — the loss and train statements: one scalar loss whose
 * targets are data, and one optimizer call (sgd, adam, adamw; their
 * entries are in lib_core.c) whose arguments become the graph's ir_optim.
 *
 * Several named losses are objectives (elab_objective.c): train NAME: ...
 * trains one; its params = [...] is read there.
 *
 * Every optimizer also takes freeze = [NAME, ...] (or one NAME): each NAME
 * is a param, or a statement or block application whose layers made
 * parameters (NAME.weight, NAME.0.bias, NAME.fc.weight, ...). Those
 * parameters are frozen (PyTorch's requires_grad_(False)): they become
 * state like batch norm's running statistics (ROLE_BUFFER), so autodiff
 * computes no gradient for them (only what reaches trainable parameters),
 * the update skips them (no step, no weight decay, their optimizer state
 * slots never touched) and they are saved and loaded as before.
 *
 * The named arguments of the learning-rate schedule and gradient clipping
 * (schedule = cosine, warmup = 100, ..., clip_norm = 1) are read here too.
 */
#include "elab_impl.h"

static void check_loss_targets(elab *e) {
    for (int i = 0; i < e->g->nodes.len; i++) {
        ir_node *n = el_node(e, i);
        if ((n->op == IR_XENT || n->op == IR_BCE) && el_depends_on_role(e, n->in[1], ROLE_PARAM) >= 0)
            diag_error(e->d, n->loc, "%s: the target must be data, but it depends on a parameter", ir_ops[n->op].name);
    }
}

void el_stmt_loss(elab *e, const ast_stmt *st) {
    int sel = el_objective_loss(e, st);
    if (sel < 0) return;
    val v = el_eval_stmt_expr(e, "loss", st->value);
    if (v.kind == V_NUM) diag_error(e->d, st->value->span, "the loss must be a tensor expression");
    if (v.kind != V_TENSOR) return;
    if (el_node(e, v.node)->shape.rank != 0) {
        diag_error(e->d, st->value->span, "the loss must be a scalar, got %s (use mean(...) or sum(...))",
                   el_type_str(e, v.node));
        return;
    }
    if (sel) e->g->loss = v.node;
    check_loss_targets(e);
}

static int opt_args(elab *e, const builtin *b, val *args, ir_optim *o) {
    double *slots[MAX_PARAMS] = {&o->lr};
    double nest = 0;
    if (o->kind == OPT_SGD) slots[1] = &o->momentum, slots[2] = &o->dampening, slots[3] = &nest;
    else slots[1] = &o->beta1, slots[2] = &o->beta2, slots[3] = &o->eps;
    slots[4] = &o->weight_decay;
    int ok = 1;
    for (int i = 0; i < 5; i++) ok &= el_want_num(e, b, &args[i], i, slots[i]);
    o->nesterov = nest != 0;
    if (ok && o->lr <= 0) diag_error(e->d, args[0].span, "%s: lr must be positive", b->name), ok = 0;
    if (ok && o->nesterov && (o->momentum <= 0 || o->dampening != 0))
        diag_error(e->d, args[3].span, "sgd: nesterov needs momentum > 0 and dampening = 0"), ok = 0;
    return ok;
}

static int is_set_arg(const ast_arg *a) {
    return a->name && (!strcmp(a->name, "freeze") || !strcmp(a->name, "params"));
}

/* The optimizer call without its freeze and params arguments (read by
 * el_freeze and el_objectives); freeze is kept in e->freeze when sel (the
 * train statement of the objective this compile builds, training pass). */
static const ast_expr *without_freeze(elab *e, const ast_expr *x, int sel) {
    int n = 0;
    for (int i = 0; i < x->nargs; i++) {
        if (!is_set_arg(&x->args[i])) continue;
        n++;
        if (e->mode == MODE_TRAIN && sel && !strcmp(x->args[i].name, "freeze")) e->freeze = x->args[i].value;
    }
    if (!n) return x;
    ast_expr *c = arena_alloc(e->g->a, sizeof *c);
    *c = *x;
    c->args = arena_alloc(e->g->a, sizeof *c->args * (size_t)x->nargs);
    c->nargs = 0;
    for (int i = 0; i < x->nargs; i++)
        if (!is_set_arg(&x->args[i])) c->args[c->nargs++] = x->args[i];
    return c;
}

/* ---- schedule and clipping arguments -------------------------------------- */

enum { N_KINDS = IR_LRSCHED_KINDS, A_SCHEDULE = 0, A_MILESTONES = 5, N_SARGS = 14 };
static const char *const *const kinds = ir_lrsched_names;
static const char *const sargs[N_SARGS] = {"schedule",   "warmup",    "total",      "step_size",
                                           "gamma",      "milestones", "eta_min",   "end_factor",
                                           "max_lr",     "pct_start", "div_factor", "final_div_factor",
                                           "clip_norm",  "clip_value"};
/* Bit k: schedule kind k takes the argument (same order as sargs). */
static const int takers[N_SARGS] = {127, 49, 112, 2, 14, 4, 16, 32, 64, 64, 64, 64, 127, 127};
/* The argument each kind requires (-1: none). */
static const int required[N_KINDS] = {-1, 3, 5, 4, 2, 2, 2};

static int sarg_index(const char *name) {
    for (int i = 0; name && i < N_SARGS; i++)
        if (!strcmp(sargs[i], name)) return i;
    return -1;
}

/* The names of the arguments kind k takes, for messages. */
static const char *kind_takes(elab *e, int k) {
    strbuf b;
    sb_init(&b);
    for (int i = 1; i < N_SARGS - 2; i++)
        if (takers[i] >> k & 1) sb_printf(&b, "%s%s", b.len ? ", " : "", sargs[i]);
    const char *r = arena_printf(e->g->a, "%s", b.s);
    sb_free(&b);
    return r;
}

/* The kinds that take argument i: "cosine, linear or onecycle". */
static const char *takers_of(elab *e, int i) {
    strbuf b;
    sb_init(&b);
    int n = 0, left = 0;
    for (int k = 0; k < N_KINDS; k++) left += takers[i] >> k & 1;
    for (int k = 0; k < N_KINDS; k++)
        if (takers[i] >> k & 1) sb_printf(&b, "%s%s", n++ ? (n == left ? " or " : ", ") : "", kinds[k]);
    const char *r = arena_printf(e->g->a, "%s", b.s);
    sb_free(&b);
    return r;
}

static int sched_kind(elab *e, const ast_arg *a) {
    for (int k = 0; a->value->kind == EX_NAME && k < N_KINDS; k++)
        if (!strcmp(a->value->name, kinds[k])) return k;
    if (a->value->kind == EX_NAME)
        diag_error(e->d, a->value->span, "train: unknown schedule '%s' (constant, step, multistep, exponential, "
                   "cosine, linear or onecycle)", a->value->name);
    else
        diag_error(e->d, a->value->span, "train: schedule must be one of constant, step, multistep, exponential, "
                   "cosine, linear, onecycle");
    return -1;
}

/* A number >= lo (> lo when strict); whole when whole. */
static int sched_num(elab *e, const ast_arg *a, double lo, int strict, int whole, double *out) {
    val v = el_eval(e, a->value);
    if (v.kind == V_ERR) return 0;
    double hi = whole ? 9007199254740992.0 : 1e300; /* whole numbers: at most 2^53 */
    int ok = v.kind == V_NUM && (strict ? v.num > lo : v.num >= lo) && v.num <= hi && (!whole || v.is_int);
    if (!ok)
        diag_error(e->d, a->value->span, "train: %s must be %s %s %g%s", a->name,
                   whole ? "a whole number" : "a number", strict ? ">" : ">=", lo, whole ? " and <= 2^53" : "");
    return ok ? (*out = v.num, 1) : 0;
}

static int sched_milestones(elab *e, const ast_arg *a, struct ir_lrsched *s) {
    const ast_expr *x = a->value;
    if (x->kind != EX_LIST || x->nelems < 1 || x->nelems > 16) {
        diag_error(e->d, x->span, "train: milestones must be a list of 1 to 16 step counts, e.g. [30, 80]");
        return 0;
    }
    for (int i = 0; i < x->nelems; i++) {
        ast_arg el = {"milestones", a->name_span, x->elems[i]};
        double v;
        if (!sched_num(e, &el, 0, 0, 1, &v)) return 0;
        if (i && v <= (double)s->milestones[i - 1]) {
            diag_error(e->d, x->elems[i]->span, "train: milestones must increase");
            return 0;
        }
        s->milestones[i] = (int64_t)v;
    }
    s->nmilestones = x->nelems;
    return 1;
}

/* Argument i's value into o (max_lr sets the base rate). */
static int sched_value(elab *e, const ast_arg *a, int i, ir_optim *o) {
    struct ir_lrsched *s = &o->sched;
    int64_t *count[] = {NULL, &s->warmup, &s->total, &s->step_size};
    double *num[] = {&s->gamma, NULL, &s->eta_min, &s->end_factor, &o->lr, &s->pct_start, &s->div_factor,
                     &s->final_div_factor, &s->clip_norm, &s->clip_value};
    double v;
    if (i == A_MILESTONES) return sched_milestones(e, a, s);
    if (i < 4) return sched_num(e, a, i == 1 ? 0 : 1, 0, 1, &v) ? (*count[i] = (int64_t)v, 1) : 0;
    int strict = i != 6 && i != 7; /* eta_min and end_factor may be 0 */
    return sched_num(e, a, 0, strict, 0, num[i - 4]);
}

/* Checks between arguments, reported at the train statement's optimizer. */
static int sched_cross(elab *e, const ir_optim *o, const ast_arg *at[N_SARGS], src_span call) {
    const struct ir_lrsched *s = &o->sched;
    int k = s->kind, need = required[k];
    if (need >= 0 && !at[need])
        return diag_error(e->d, call, "train: the %s schedule needs %s", kinds[k], sargs[need]), 0;
    if ((takers[2] >> k & 1) && s->warmup >= s->total)
        return diag_error(e->d, at[1]->value->span, "train: warmup (%lld steps) must be shorter than total (%lld)",
                          (long long)s->warmup, (long long)s->total), 0;
    if (k == 5 && s->end_factor > 1)
        return diag_error(e->d, at[7]->value->span, "train: end_factor must be in [0, 1]"), 0;
    if (k == 6 && !(s->pct_start < 1 && s->pct_start * (double)s->total > 1))
        return diag_error(e->d, at[9] ? at[9]->value->span : call,
                          "train: onecycle needs pct_start < 1 and pct_start * total > 1"), 0;
    if (s->clip_norm > 0 && s->clip_value > 0)
        return diag_error(e->d, at[13]->name_span, "train: clip by norm or by value, not both"), 0;
    return 1;
}

/* The schedule and clipping arguments of the call into o->sched. */
static int sched_args(elab *e, const ast_expr *x, ir_optim *o) {
    const ast_arg *at[N_SARGS] = {NULL};
    int ok = 1;
    for (int i = 0; i < x->nargs; i++) {
        int k = sarg_index(x->args[i].name);
        if (k < 0) continue;
        if (at[k]) diag_error(e->d, x->args[i].name_span, "train: argument '%s' given twice", sargs[k]), ok = 0;
        at[k] = &x->args[i];
    }
    if (!ok || (at[A_SCHEDULE] && (o->sched.kind = sched_kind(e, at[A_SCHEDULE])) < 0)) return 0;
    for (int i = 1; i < N_SARGS; i++) {
        if (!at[i]) continue;
        if (!(takers[i] >> o->sched.kind & 1) && !at[A_SCHEDULE]) {
            diag_error(e->d, at[i]->name_span, "train: '%s' is an argument of a schedule: add schedule = %s", sargs[i],
                       takers_of(e, i));
            ok = 0;
        } else if (!(takers[i] >> o->sched.kind & 1)) {
            diag_error(e->d, at[i]->name_span, "train: the %s schedule has no argument '%s' (it takes %s)",
                       kinds[o->sched.kind], sargs[i], kind_takes(e, o->sched.kind));
            ok = 0;
        } else ok &= sched_value(e, at[i], i, o);
    }
    return ok && sched_cross(e, o, at, x->name_span);
}

/* The call without the schedule's arguments (the optimizer's own). */
static ast_expr *optimizer_call(elab *e, const ast_expr *x) {
    ast_expr *c = arena_alloc(e->g->a, sizeof *c);
    *c = *x;
    c->args = arena_alloc(e->g->a, sizeof *c->args * (size_t)(x->nargs + 1));
    c->nargs = 0;
    for (int i = 0; i < x->nargs; i++)
        if (sarg_index(x->args[i].name) < 0) c->args[c->nargs++] = x->args[i];
    return c;
}

void el_stmt_train(elab *e, const ast_stmt *st) {
    const ast_expr *x = st->value;
    const builtin *b = x->kind == EX_CALL ? el_find_builtin(x->name) : NULL;
    int sel = el_objective_train(e, st);
    if (sel < 0) return;
    if (sel && e->g->opt.kind != OPT_NONE)
        return diag_error(e->d, st->span, "a model has one train statement; this is the second");
    if (sel && e->mode == MODE_TRAIN) e->train = st;
    if (!b || b->kind != B_OPTIM) {
        if (x->kind == EX_CALL && !b) return el_unknown(e, x->name_span, "optimizer", x->name, 2);
        return diag_error(e->d, x->span, "train expects an optimizer: sgd(...), adam(...) or adamw(...)");
    }
    val args[MAX_PARAMS];
    if (!el_bind_args(e, b, optimizer_call(e, without_freeze(e, x, sel)), args)) return;
    ir_optim o = {.kind = OPT_SGD, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .loc = x->span};
    o.sched.gamma = 0.1, o.sched.pct_start = 0.3, o.sched.div_factor = 25, o.sched.final_div_factor = 1e4;
    if (!strcmp(b->name, "adam")) o.kind = OPT_ADAM, o.lr = 1e-3;
    if (!strcmp(b->name, "adamw")) o.kind = OPT_ADAMW, o.lr = 1e-3, o.weight_decay = 1e-2;
    if (opt_args(e, b, args, &o) && sched_args(e, x, &o) && sel) e->g->opt = o;
}


/* Freeze the parameters named `name` or `name.*`; how many matched. */
static int freeze_prefix(elab *e, const char *name) {
    size_t len = strlen(name);
    int found = 0;
    for (int i = 0; i < e->g->params.len; i++) {
        ir_node *p = el_node(e, e->g->params.data[i]);
        if (strncmp(p->name, name, len) || (p->name[len] && p->name[len] != '.')) continue;
        p->role = ROLE_BUFFER;
        found++;
    }
    return found;
}

static void freeze_one(elab *e, const ast_expr *x) {
    if (x->kind != EX_NAME) {
        diag_error(e->d, x->span, "freeze: expected the name of a param, statement or block application, "
                                  "such as freeze = [enc, fc1]");
        return;
    }
    if (!freeze_prefix(e, x->name))
        diag_error(e->d, x->span, "freeze: '%s' names no parameter (no param '%s' and no parameter '%s.*')", x->name,
                   x->name, x->name);
}

void el_freeze(elab *e, const ast_model *m) {
    const ast_expr *f = e->freeze;
    if (!f) return;
    int before = e->d->errors;
    if (f->kind == EX_LIST)
        for (int i = 0; i < f->nelems; i++) freeze_one(e, f->elems[i]);
    else freeze_one(e, f);
    if (e->d->errors != before) return;
    for (int i = 0; i < e->g->params.len; i++)
        if (el_node(e, e->g->params.data[i])->role == ROLE_PARAM) return;
    diag_error(e->d, f->span, "freeze: every parameter of model '%s' is frozen; nothing is left to train", m->name);
}
