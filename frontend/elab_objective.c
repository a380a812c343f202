/* elab_objective.c — several objectives in one model: named losses, each
 * trained by its own train statement over its own parameters.
 *
 *   loss d_loss = bce(d_real, ones) + bce(d_fake_detached, zeros)
 *   loss g_loss = bce(d_fake, ones)
 *   train d_loss: adam(lr = 2e-4, beta1 = 0.5, params = [disc])
 *   train g_loss: adam(lr = 2e-4, beta1 = 0.5, params = [gen])
 *
 * One compile builds one objective (the graph's g->objective, nnc's
 * --objective NAME): its loss becomes the graph's loss, its train statement
 * the graph's optimizer, and every parameter outside its params = [...]
 * set is frozen for it (ROLE_BUFFER, like freeze = [...]), so its gradient
 * flows through them (the generator's loss through the discriminator)
 * without updating them. The parameter layout (g->params, declaration
 * order) is the same for every objective, so the objectives' weight files
 * and P_params buffers are interchangeable. A parameter may be in several
 * objectives' sets; each objective keeps its own optimizer state.
 *
 * A model with one loss, named or not, compiles as before. The other
 * objectives' losses and train statements are elaborated (their errors
 * reported) but not kept.
 */
#include "elab_impl.h"

static const ast_stmt *find_loss(elab *e, const char *name) {
    for (int i = 0; i < e->losses.len; i++)
        if (e->losses.data[i]->name && !strcmp(e->losses.data[i]->name, name)) return e->losses.data[i];
    return NULL;
}

/* "d_loss, g_loss" */
static const char *loss_names(elab *e) {
    strbuf b;
    sb_init(&b);
    for (int i = 0; i < e->losses.len; i++)
        if (e->losses.data[i]->name) sb_printf(&b, "%s%s", b.len ? ", " : "", e->losses.data[i]->name);
    const char *r = arena_printf(e->g->a, "%s", b.len ? b.s : "none");
    sb_free(&b);
    return r;
}

/* Records loss statement st: 1, or 0 after an error (a second loss where
 * one is unnamed, a name given twice). */
static int new_loss(elab *e, const ast_stmt *st) {
    for (int i = 0; i < e->losses.len; i++) {
        const ast_stmt *p = e->losses.data[i];
        if (!st->name || !p->name)
            return diag_error(e->d, st->span, "a model has one unnamed loss; this is the second (name each "
                              "objective: loss NAME = ..., and train it: train NAME: adam(...))"), 0;
        if (!strcmp(p->name, st->name))
            return diag_error(e->d, st->name_span, "loss '%s' is defined twice", st->name), 0;
    }
    arr_push(e->g->a, e->losses, st);
    return 1;
}

/* Records a loss statement (training pass); 1 if it is the objective this
 * compile builds, 0 if another, -1 after an error. */
int el_objective_loss(elab *e, const ast_stmt *st) {
    if (e->mode == MODE_TRAIN && !new_loss(e, st)) return -1;
    if (!st->name) return 1;
    const char *want = e->g->objective;
    int sel = want ? !strcmp(want, st->name) : !e->objective || !strcmp(e->objective, st->name);
    if (sel) e->objective = st->name;
    return sel;
}

/* Records a train statement (training pass); 1 if it trains the objective
 * this compile builds, 0 if another, -1 after an error. */
int el_objective_train(elab *e, const ast_stmt *st) {
    if (e->mode == MODE_TRAIN) {
        if (st->name && !find_loss(e, st->name))
            return diag_error(e->d, st->name_span, "train: no loss named '%s' above this statement (losses: %s)",
                              st->name, loss_names(e)), -1;
        arr_push(e->g->a, e->trains, st);
    }
    if (!st->name) return 1;
    return e->objective && !strcmp(e->objective, st->name);
}

/* The train statement of loss `name`: its count into *n, the first one. */
static const ast_stmt *train_of(elab *e, const char *name, int *n) {
    const ast_stmt *first = NULL;
    *n = 0;
    for (int i = 0; i < e->trains.len; i++) {
        const ast_stmt *t = e->trains.data[i];
        if (!t->name || strcmp(t->name, name)) continue;
        if (++*n == 2) diag_error(e->d, t->name_span, "loss '%s' has a train statement already", name);
        if (!first) first = t;
    }
    return first;
}

/* Several losses: each named, each with one named train statement. */
static void check_pairs(elab *e) {
    for (int i = 0; i < e->trains.len; i++)
        if (!e->trains.data[i]->name)
            diag_error(e->d, e->trains.data[i]->span, "train: this model has several losses (%s); name the one "
                       "this statement trains: train NAME: %s(...)", loss_names(e), e->trains.data[i]->value->name
                       ? e->trains.data[i]->value->name : "adam");
    for (int i = 0; i < e->losses.len; i++) {
        const ast_stmt *l = e->losses.data[i];
        int n;
        if (!train_of(e, l->name, &n))
            diag_error(e->d, l->name_span, "loss '%s' has no train statement (train %s: adam(..., params = [...]))",
                       l->name, l->name);
    }
}

/* 1 if parameter name pname is `name` or `name.*`. */
static int param_matches(const char *pname, const char *name) {
    size_t len = strlen(name);
    return !strncmp(pname, name, len) && (!pname[len] || pname[len] == '.');
}

/* The params = [...] argument of a train statement, or NULL. */
static const ast_expr *params_arg(const ast_stmt *t) {
    const ast_expr *x = t->value;
    for (int i = 0; x->kind == EX_CALL && i < x->nargs; i++)
        if (x->args[i].name && !strcmp(x->args[i].name, "params")) return x->args[i].value;
    return NULL;
}

/* Each name of a params = [...] list names a parameter; mark those in keep
 * (NULL: only check). 0 after an error. */
static int params_name(elab *e, const ast_expr *y, char *keep) {
    if (y->kind != EX_NAME)
        return diag_error(e->d, y->span, "params: expected the name of a param, statement or block application, "
                                         "such as params = [gen, fc1]"), 0;
    int found = 0;
    for (int i = 0; i < e->g->params.len; i++)
        if (param_matches(el_node(e, e->g->params.data[i])->name, y->name)) found = 1, keep ? keep[i] = 1 : 0;
    if (!found)
        diag_error(e->d, y->span, "params: '%s' names no parameter (no param '%s' and no parameter '%s.*')", y->name,
                   y->name, y->name);
    return found;
}

static int params_names(elab *e, const ast_expr *x, char *keep) {
    int n = x->kind == EX_LIST ? x->nelems : 1, ok = 1;
    for (int k = 0; k < n; k++) ok &= params_name(e, x->kind == EX_LIST ? x->elems[k] : x, keep);
    return ok;
}

/* 1 if the loss reaches a trained parameter other than through
 * stop_gradient (so it has a gradient to follow). */
static int reaches_param(elab *e) {
    int n = e->g->loss + 1, found = 0;
    char *on = arena_alloc(e->g->a, (size_t)n);
    memset(on, 0, (size_t)n);
    on[n - 1] = 1;
    for (int i = n - 1; i >= 0 && !found; i--) {
        const ir_node *x = el_node(e, i);
        if (!on[i] || x->op == IR_STOP_GRAD) continue;
        found = x->op == IR_PARAM && x->role == ROLE_PARAM;
        for (int j = 0; j < x->nin; j++) on[x->in[j]] = 1;
    }
    return found;
}

/* The objective's params = [...]: every parameter outside it is frozen for
 * this objective; the set must hold a trained parameter the loss uses. */
/* Freezes the parameters not in keep; how many trained ones are left. */
static int freeze_others(elab *e, const char *keep) {
    int left = 0;
    for (int i = 0; i < e->g->params.len; i++) {
        ir_node *p = el_node(e, e->g->params.data[i]);
        if (!keep[i] && p->role == ROLE_PARAM) p->role = ROLE_BUFFER;
        left += p->role == ROLE_PARAM;
    }
    return left;
}

static void apply_params(elab *e, const ast_stmt *t, const ast_expr *x) {
    char *keep = arena_alloc(e->g->a, (size_t)e->g->params.len + 1);
    memset(keep, 0, (size_t)e->g->params.len + 1);
    if (!params_names(e, x, keep)) return;
    int left = freeze_others(e, keep);
    const char *what = t->name ? arena_printf(e->g->a, "objective '%s'", t->name) : "the loss";
    if (!left)
        diag_error(e->d, x->span, "train: params selects no trainable parameter; %s has nothing to train", what);
    else if (!reaches_param(e))
        diag_error(e->d, x->span, "train: %s depends on none of the parameters in params; it has nothing to train",
                   what);
}

/* Every train statement's params = [...] names parameters. */
static void check_params(elab *e) {
    for (int i = 0; i < e->trains.len; i++) {
        const ast_expr *x = params_arg(e->trains.data[i]);
        if (x) params_names(e, x, NULL);
    }
}

void el_objectives(elab *e, const ast_model *m) {
    const char *want = e->g->objective;
    int before = e->d->errors;
    if (want && !find_loss(e, want))
        diag_error(e->d, m->name_span, "--objective %s: model '%s' has no loss named '%s' (losses: %s)", want,
                   m->name, want, loss_names(e));
    if (e->losses.len > 1) check_pairs(e);
    check_params(e);
    if (e->d->errors == before && e->losses.len > 1 && !want)
        diag_error(e->d, m->name_span, "model '%s' has %d objectives (%s): compile one at a time with "
                   "--objective NAME; each build's train step trains that objective", m->name, e->losses.len,
                   loss_names(e));
}

void el_objective_params(elab *e) {
    const ast_expr *x = e->train ? params_arg(e->train) : NULL;
    if (x) apply_params(e, e->train, x);
}
