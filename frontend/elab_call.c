/* elab_call.c — calls of built-in ops, and the helpers that the built-ins
 * (lib_*.c) use (elab.h).
 *
 * el_eval_call dispatches a call: to a user-defined block (elab_block.c),
 * to stack, or to a built-in, whose arguments el_bind_args matches to its
 * parameters (positional, then named; missing, unknown and repeated ones
 * reported at the argument). The helpers check argument kinds, add IR
 * nodes with shape errors reported at the source, and create the
 * parameters and state buffers of layers, named after the binding.
 */
#include "elab_impl.h"

#include <math.h>

int el_want_tensor(elab *e, const builtin *b, val *v, int i) {
    if (v->kind == V_TENSOR || v->kind == V_ERR) return v->kind == V_TENSOR;
    diag_error(e->d, v->span, "%s: argument '%s' must be a tensor, got %s", b->name, b->params[i],
               v->kind == V_NUM ? "a number" : "a name");
    return 0;
}

int el_want_int(elab *e, const builtin *b, val *v, int i, int64_t lo, int64_t *out) {
    if (v->kind == V_ERR) return 0;
    if (v->kind == V_NUM && v->num == floor(v->num) && fabs(v->num) >= 0x1p53) {
        diag_error(e->d, v->span, "%s: argument '%s' must be an integer from %lld to 2^53, got %.15g", b->name,
                   b->params[i], (long long)lo, v->num);
        return 0;
    }
    if (v->kind != V_NUM || !v->is_int || v->num < (double)lo) {
        diag_error(e->d, v->span, "%s: argument '%s' must be an integer >= %lld", b->name, b->params[i], (long long)lo);
        return 0;
    }
    *out = (int64_t)v->num;
    return 1;
}

int el_want_num(elab *e, const builtin *b, val *v, int i, double *out) {
    if (v->kind == V_NONE) return 1;
    if (v->kind == V_SYM && (!strcmp(v->sym, "true") || !strcmp(v->sym, "false"))) {
        *out = !strcmp(v->sym, "true");
        return 1;
    }
    if (v->kind != V_NUM) {
        if (v->kind != V_ERR) diag_error(e->d, v->span, "%s: argument '%s' must be a number", b->name, b->params[i]);
        return 0;
    }
    *out = v->num;
    return 1;
}

/* Report a failed ir_add with the shapes of the operands and their origins. */
val el_op_error(elab *e, const ast_expr *at, const char *msg, const val *ops, int n) {
    diag_error(e->d, at->span, "%s", msg);
    for (int i = 0; i < n; i++) {
        if (ops[i].kind != V_TENSOR) continue;
        ir_node *x = el_node(e, ops[i].node);
        if (x->name) diag_note(e->d, ops[i].span, "'%s' is %s", x->name, el_type_str(e, ops[i].node));
        else diag_note(e->d, ops[i].span, "this is %s", el_type_str(e, ops[i].node));
    }
    return el_err;
}

val el_apply(elab *e, const ast_expr *at, ir_op op, const val *ops, int n, const int64_t *ia, const double *fa) {
    int in[IR_MAX_IN];
    for (int i = 0; i < n; i++) {
        if (ops[i].kind != V_TENSOR) return el_err;
        in[i] = ops[i].node;
    }
    const char *err = NULL;
    ir_node *r = ir_add(e->g, op, in, n, ia, fa, at->span, &err);
    if (!r) return el_op_error(e, at, err, ops, n);
    return el_tensor(r->id, at->span);
}

const char *el_param_name(elab *e, const char *leaf) {
    const char *scope = e->scope ? e->scope : "layer";
    if (e->nlayers <= 1) return arena_printf(e->g->a, "%s.%s", scope, leaf);
    return arena_printf(e->g->a, "%s.%d.%s", scope, e->ncalls, leaf);
}

/* The parameter or buffer called name, or NULL: a hash probe. */
static ir_node *find_param(elab *e, const char *name) {
    int id = el_index_get(e->param_ids, name);
    return id >= 0 ? el_node(e, id) : NULL;
}

static ir_node *add_state(elab *e, const char *name, ir_shape s, ir_role role, src_span at) {
    ir_node *old = find_param(e, name);
    if (e->mode == MODE_INFER && old) return old; /* the second pass shares the first's */
    if (old) {
        diag_error(e->d, at, "parameter '%s' is already defined", name);
        return NULL;
    }
    if (!ir_shape_fits(&s)) {
        diag_error(e->d, at, "%s", ir_size_error(e->g->a, arena_printf(e->g->a, "'%s'", name), DT_F32, &s));
        return NULL;
    }
    ir_node *p = ir_add_source(e->g, IR_PARAM, DT_F32, s, name, at);
    p->role = role;
    p->index = e->g->params.len;
    arr_push(e->g->a, e->g->params, p->id);
    el_index_put(e->g->a, e->param_ids, p->name, p->id);
    return p;
}

ir_node *el_param(elab *e, const char *name, ir_shape s, src_span at) {
    return add_state(e, name, s, ROLE_PARAM, at);
}

ir_node *el_buffer(elab *e, const char *name, ir_shape s, ir_init init, src_span at) {
    ir_node *b = add_state(e, name, s, ROLE_BUFFER, at);
    if (b) b->init = init;
    return b;
}

int el_init_kind(elab *e, const val *v, ir_init *out) {
    static const char *const names[] = {"auto", "he", "glorot", "zeros", "ones"};
    if (v->kind == V_NONE) return *out = INIT_AUTO, 1;
    for (int i = 0; v->kind == V_SYM && i < 5; i++)
        if (!strcmp(v->sym, names[i])) return *out = (ir_init)i, 1;
    diag_error(e->d, v->span, "init must be one of auto, he, glorot, zeros, ones");
    return 0;
}

val el_layer(elab *e, const ast_expr *call, val x, const el_layer_spec *l) {
    ir_node *w = el_param(e, el_param_name(e, "weight"), l->wshape, call->span);
    if (!w) return el_err;
    w->init = l->init, w->fan_in = l->fan_in, w->fan_out = l->fan_out;
    val ops[2] = {x, el_tensor(w->id, call->span)};
    val y = el_apply(e, call, l->op, ops, 2, l->ia, NULL);
    if (y.kind == V_TENSOR && l->bias) {
        const int64_t *nb = l->nbias ? &l->nbias : &l->wshape.d[0];
        ir_node *bn = el_param(e, el_param_name(e, "bias"), ir_shape_make(1, nb), call->span);
        if (!bn) return el_err;
        bn->init = INIT_ZEROS;
        val bo[2] = {y, el_tensor(bn->id, call->span)};
        y = el_apply(e, call, l->bias_op, bo, 2, NULL, NULL);
    }
    if (y.kind == V_TENSOR && l->init == INIT_AUTO) {
        arr_push(e->g->a, e->auto_params, w->id);
        arr_push(e->g->a, e->auto_outs, y.node);
    }
    return y;
}


int el_param_index(const builtin *b, const char *name) {
    for (int i = 0; i < MAX_PARAMS && b->params[i]; i++)
        if (!strcmp(b->params[i], name)) return i;
    return -1;
}

static int nparams(const builtin *b) {
    int n = 0;
    while (n < MAX_PARAMS && b->params[n]) n++;
    return n;
}

/* Match call arguments to the builtin's parameters. */
int el_bind_args(elab *e, const builtin *b, const ast_expr *call, val *args) {
    int np = nparams(b), ok = 1, pos = 0;
    for (int i = 0; i < MAX_PARAMS; i++) args[i] = (val){V_NONE, 0, 0, -1, NULL, call->span};
    for (int i = 0; i < call->nargs; i++) {
        const ast_arg *a = &call->args[i];
        int k = a->name ? el_param_index(b, a->name) : pos++;
        if (a->name && k < 0) {
            diag_error(e->d, a->name_span, "%s has no argument '%s'", b->name, a->name);
            ok = 0;
            continue;
        }
        if (k >= np) {
            diag_error(e->d, a->value->span, "%s takes at most %d argument%s, got %d", b->name, np,
                       np == 1 ? "" : "s", call->nargs);
            return 0;
        }
        if (args[k].kind != V_NONE) {
            diag_error(e->d, a->name ? a->name_span : a->value->span, "%s: argument '%s' given twice", b->name,
                       b->params[k]);
            ok = 0;
        }
        args[k] = el_eval(e, a->value);
        if (args[k].kind == V_ERR) ok = 0;
    }
    for (int i = 0; i < b->nreq; i++)
        if (args[i].kind == V_NONE) {
            diag_error(e->d, call->span, "%s: missing argument '%s'", b->name, b->params[i]);
            ok = 0;
        }
    return ok;
}

val el_eval_call(elab *e, const ast_expr *x) {
    int bi = el_find_block(e, x->name);
    if (bi >= 0) return el_call_block(e, bi, x);
    const builtin *b = el_find_builtin(x->name);
    if (b && b->kind == B_STACK) return el_stack_call(e, b, x);
    if (!b) {
        for (int i = 0; i < x->nargs; i++) el_eval(e, x->args[i].value);
        el_unknown(e, x->name_span, "op", x->name, 1);
        return el_err;
    }
    val args[MAX_PARAMS];
    int ok = el_bind_args(e, b, x, args);
    int saved = e->ncalls++;
    if (!ok) return el_err;
    int cur = e->ncalls;
    e->ncalls = saved; /* the layer names its parameters with its own index */
    val r;
    if (!el_const_math(e, b, x, args, &r)) r = b->fn(e, b, x, args);
    e->ncalls = cur;
    if (r.kind == V_NUM) e->ncalls = saved; /* a number (dim) is no stage of a pipeline */
    return r;
}

