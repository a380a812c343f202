/* elab_stmt.c — the statements of a model: declarations of inputs,
 * targets and parameters (their types and initial values), bindings, and
 * outputs (f32, not depending on a target). The loss and train statements
 * are in elab_train.c; a block's body runs in elab_block.c.
 */
#include "elab_impl.h"

#include <math.h>
#include <stdlib.h>

static int eval_dim(elab *e, const ast_expr *x, int64_t *out) {
    val v = el_eval(e, x);
    if (v.kind == V_ERR) return 0;
    if (v.kind != V_NUM || !v.is_int || v.num < 1 || v.num > (double)(1LL << 40)) {
        if (v.kind == V_NUM && v.num == floor(v.num) && !v.is_int)
            diag_error(e->d, x->span, "dimension must be a positive integer, got the float %.1f", v.num);
        else if (v.kind == V_NUM)
            diag_error(e->d, x->span, "dimension must be a positive integer, got %.15g%s", v.num,
                       v.num > 0x1p40 ? " (at most 2^40)" : "");
        else diag_error(e->d, x->span, "dimension must be a constant");
        return 0;
    }
    *out = (int64_t)v.num;
    return 1;
}

/* The type of statement st (input, target, param) into *dt and *s; its
 * element count must fit 64 bits. */
static int eval_type(elab *e, const ast_stmt *st, ir_dtype *dt, ir_shape *s) {
    const ast_type *t = &st->type;
    int ok = 1;
    if (!strcmp(t->dtype, "f32")) *dt = DT_F32;
    else if (!strcmp(t->dtype, "i32")) *dt = DT_I32;
    else {
        diag_error(e->d, t->dtype_span, "unknown element type '%s' (expected f32 or i32)", t->dtype);
        ok = 0;
    }
    if (t->ndims > IR_MAX_RANK) {
        diag_error(e->d, t->span, "rank %d is more than the %d dims nnc supports", t->ndims, IR_MAX_RANK);
        return 0;
    }
    s->rank = t->ndims;
    for (int i = 0; i < t->ndims; i++) ok &= eval_dim(e, t->dims[i], &s->d[i]);
    if (ok && !ir_shape_fits(s)) {
        diag_error(e->d, t->span, "%s", ir_size_error(e->g->a, arena_printf(e->g->a, "'%s'", st->name), *dt, s));
        return 0;
    }
    return ok;
}

static void decl_io(elab *e, const ast_stmt *st) {
    ir_dtype dt;
    ir_shape s;
    if (!eval_type(e, st, &dt, &s)) return el_bind(e, st->name, st->name_span, el_err);
    if (e->mode == MODE_INFER) { /* the first pass made it */
        ARR(int) *list = st->kind == ST_INPUT ? (void *)&e->g->inputs : (void *)&e->g->targets;
        for (int i = 0; i < list->len; i++)
            if (!strcmp(el_node(e, list->data[i])->name, st->name))
                return el_bind(e, st->name, st->name_span, el_tensor(list->data[i], st->name_span));
    }
    if (st->requires_grad && dt != DT_F32) {
        diag_error(e->d, st->grad_span, "requires_grad: input '%s' is i32; only f32 inputs have a gradient",
                   st->name);
        return el_bind(e, st->name, st->name_span, el_err);
    }
    ir_node *n = ir_add_source(e->g, IR_INPUT, dt, s, st->name, st->name_span);
    n->role = st->kind == ST_INPUT ? ROLE_INPUT : ROLE_TARGET;
    n->requires_grad = st->requires_grad;
    if (st->kind == ST_INPUT) {
        n->index = e->g->inputs.len;
        arr_push(e->g->a, e->g->inputs, n->id);
    } else {
        n->index = e->g->targets.len;
        arr_push(e->g->a, e->g->targets, n->id);
    }
    el_bind(e, st->name, st->name_span, el_tensor(n->id, st->name_span));
}

static int param_init(elab *e, const ast_stmt *st, ir_node *p) {
    const ast_expr *x = st->value;
    if (!x) return p->init = INIT_AUTO, 1;
    if (x->kind == EX_NAME && !el_lookup(e, x->name)) {
        val v = el_eval(e, x);
        return v.kind == V_SYM && el_init_kind(e, &v, &p->init);
    }
    val v = el_eval(e, x);
    if (v.kind == V_SYM) return el_init_kind(e, &v, &p->init); /* a block's argument `init = he` */
    if (v.kind == V_NUM) return p->init = INIT_FILL, p->fill = v.num, 1;
    if (v.kind != V_TENSOR) return 0;
    ir_node *c = el_node(e, v.node);
    if (c->op != IR_CONST) {
        diag_error(e->d, x->span, "a parameter's initial value must be constant");
        return 0;
    }
    if (!ir_shape_eq(&c->shape, &p->shape)) {
        diag_error(e->d, x->span, "initial value has shape %s but '%s' is %s", ir_shape_str(e->g->a, &c->shape),
                   st->name, el_type_str(e, p->id));
        return 0;
    }
    p->init = INIT_DATA;
    p->data = c->data;
    return 1;
}

void el_decl_param(elab *e, const ast_stmt *st) {
    ir_dtype dt;
    ir_shape s;
    if (!eval_type(e, st, &dt, &s)) return el_bind(e, st->name, st->name_span, el_err);
    if (dt != DT_F32) {
        diag_error(e->d, st->type.dtype_span, "parameters must be f32");
        return el_bind(e, st->name, st->name_span, el_err);
    }
    const char *prefix = e->blocks ? e->blocks->prefix : NULL; /* inside a block: S.name */
    ir_node *p = el_param(e, prefix ? arena_printf(e->g->a, "%s.%s", prefix, st->name) : st->name, s, st->name_span);
    if (!p) return el_bind(e, st->name, st->name_span, el_err);
    p->fan_in = s.rank >= 2 ? s.d[s.rank - 1] : s.rank ? s.d[0] : 1;
    p->fan_out = s.rank >= 2 ? s.d[0] : 1;
    if (e->mode == MODE_TRAIN && !param_init(e, st, p)) return el_bind(e, st->name, st->name_span, el_err);
    el_bind(e, st->name, st->name_span, el_tensor(p->id, st->name_span));
}

void el_name_node(elab *e, val v, const char *name) {
    if (v.kind == V_TENSOR && !el_node(e, v.node)->name) el_node(e, v.node)->name = name;
}

/* The first node of role `role` that node id depends on, or -1. */
int el_depends_on_role(elab *e, int id, ir_role role) {
    char *seen = calloc((size_t)e->g->nodes.len, 1);
    ARR(int) stack = {0};
    int found = -1;
    arr_push(e->g->a, stack, id);
    while (stack.len && found < 0) {
        ir_node *n = el_node(e, stack.data[--stack.len]);
        if (seen[n->id]++) continue;
        if (n->role == role) found = n->id;
        for (int i = 0; i < n->nin; i++) arr_push(e->g->a, stack, n->in[i]);
    }
    free(seen);
    return found;
}

static void stmt_output(elab *e, const ast_stmt *st) {
    val v;
    if (st->value) {
        v = el_eval_stmt_expr(e, st->name, st->value);
        el_bind(e, st->name, st->name_span, v);
    } else {
        binding *b = el_lookup(e, st->name);
        if (!b) return el_unknown(e, st->name_span, "name", st->name, 0);
        v = b->v;
    }
    if (v.kind == V_NUM) diag_error(e->d, st->name_span, "output '%s' must be a tensor", st->name);
    if (v.kind != V_TENSOR) return;
    if (el_node(e, v.node)->dtype != DT_F32)
        return diag_error(e->d, st->name_span, "output '%s' must be f32, got %s", st->name, el_type_str(e, v.node));
    int t = el_depends_on_role(e, v.node, ROLE_TARGET);
    if (t >= 0)
        return diag_error(e->d, st->name_span, "output '%s' depends on target '%s'; outputs are computed "
                          "at inference, without targets", st->name, el_node(e, t)->name);
    el_name_node(e, v, st->name);
    arr_push(e->g->a, e->g->outputs, v.node);
    arr_push(e->g->a, e->g->output_names, st->name);
}

void el_stmt(elab *e, const ast_stmt *st) {
    switch (st->kind) {
    case ST_INPUT:
    case ST_TARGET: decl_io(e, st); break;
    case ST_PARAM: el_decl_param(e, st); break;
    case ST_LET: {
        val v = el_eval_stmt_expr(e, st->name, st->value);
        el_name_node(e, v, st->name);
        el_bind(e, st->name, st->name_span, v);
        break;
    }
    case ST_OUTPUT: stmt_output(e, st); break;
    case ST_LOSS: el_stmt_loss(e, st); break;
    case ST_TRAIN: el_stmt_train(e, st); break;
    case ST_RETURN: diag_error(e->d, st->span, "'return' is only allowed in a block"); break;
    }
}
