/* elab_train.c — the loss and train statements: one scalar loss whose
 * targets are data, and one optimizer call (sgd, adam, adamw; their
 * entries are in lib_core.c) whose arguments become the graph's ir_optim.
 *
 * Every optimizer also takes freeze = [NAME, ...] (or one NAME): each NAME
 * is a param, or a statement or block application whose layers made
 * parameters (NAME.weight, NAME.0.bias, NAME.fc.weight, ...). Those
 * parameters are frozen (PyTorch's requires_grad_(False)): they become
 * state like batch norm's running statistics (ROLE_BUFFER), so autodiff
 * computes no gradient for them (only what reaches trainable parameters),
 * the update skips them (no step, no weight decay, their optimizer state
 * slots never touched) and they are saved and loaded as before.
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
    if (e->g->loss >= 0) {
        diag_error(e->d, st->span, "a model has one loss; this is the second");
        return;
    }
    val v = el_eval_stmt_expr(e, "loss", st->value);
    if (v.kind == V_NUM) diag_error(e->d, st->value->span, "the loss must be a tensor expression");
    if (v.kind != V_TENSOR) return;
    if (el_node(e, v.node)->shape.rank != 0) {
        diag_error(e->d, st->value->span, "the loss must be a scalar, got %s (use mean(...) or sum(...))",
                   el_type_str(e, v.node));
        return;
    }
    e->g->loss = v.node;
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

/* The optimizer call without its freeze argument, which is kept in
 * e->freeze (from the training pass) for el_freeze. */
static const ast_expr *without_freeze(elab *e, const ast_expr *x) {
    int k = -1;
    for (int i = 0; i < x->nargs; i++)
        if (x->args[i].name && !strcmp(x->args[i].name, "freeze")) k = i;
    if (k < 0) return x;
    if (e->mode == MODE_TRAIN) e->freeze = x->args[k].value;
    ast_expr *c = arena_alloc(e->g->a, sizeof *c);
    *c = *x;
    c->args = arena_alloc(e->g->a, sizeof *c->args * (size_t)x->nargs);
    c->nargs = 0;
    for (int i = 0; i < x->nargs; i++)
        if (i != k) c->args[c->nargs++] = x->args[i];
    return c;
}

void el_stmt_train(elab *e, const ast_stmt *st) {
    const ast_expr *x = st->value;
    const builtin *b = x->kind == EX_CALL ? el_find_builtin(x->name) : NULL;
    if (e->g->opt.kind != OPT_NONE)
        return diag_error(e->d, st->span, "a model has one train statement; this is the second");
    if (!b || b->kind != B_OPTIM) {
        if (x->kind == EX_CALL && !b) return el_unknown(e, x->name_span, "optimizer", x->name, 2);
        return diag_error(e->d, x->span, "train expects an optimizer: sgd(...), adam(...) or adamw(...)");
    }
    val args[MAX_PARAMS];
    if (!el_bind_args(e, b, without_freeze(e, x), args)) return;
    ir_optim o = {OPT_SGD, 0, 0, 0, 0, 0.9, 0.999, 1e-8, 0, x->span};
    if (!strcmp(b->name, "adam")) o.kind = OPT_ADAM, o.lr = 1e-3;
    if (!strcmp(b->name, "adamw")) o.kind = OPT_ADAMW, o.lr = 1e-3, o.weight_decay = 1e-2;
    if (opt_args(e, b, args, &o)) e->g->opt = o;
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
