/* elab.c — elaboration: the AST of one model becomes an IR graph.
 *
 * Resolves names (consts, inputs, parameters, bindings), evaluates constant
 * arithmetic, applies the built-in ops and layers, names the parameters that
 * layers create, checks every shape through the IR's shape rules and reports
 * errors at the source. After an error in a statement the bound name holds a
 * poison value, so one mistake gives one message.
 *
 * Parameter names: a layer's parameters are named after the binding that
 * contains it. When the binding's expression has one layer, `fc = dense(x,
 * 8)` gives fc.weight and fc.bias; with several, each gets the position of
 * its call among all calls of the expression in evaluation order, as
 * PyTorch's nn.Sequential numbers its stages: `h = x -> dense(8) -> relu ->
 * dense(4)` gives h.0.weight and h.2.weight.
 */
#include "elab.h"

#include <math.h>
#include <stdlib.h>

const val el_err = {V_ERR, 0, 0, -1, NULL, {0, 0, 0, 0}};

val el_num(double x, src_span at) {
    val v = {V_NUM, x, x == floor(x) && fabs(x) < 9e15, -1, NULL, at};
    return v;
}

val el_tensor(int node, src_span at) {
    val v = {V_TENSOR, 0, 0, node, NULL, at};
    return v;
}

ir_node *el_node(elab *e, int id) { return e->g->nodes.data[id]; }
const char *el_type_str(elab *e, int id) {
    ir_node *n = el_node(e, id);
    return arena_printf(e->g->a, "%s%s", n->dtype == DT_I32 ? "i32" : "f32", ir_shape_str(e->g->a, &n->shape));
}

/* ---- names ------------------------------------------------------------- */

static binding *lookup(elab *e, const char *name) {
    for (int i = e->env.len - 1; i >= 0; i--)
        if (!strcmp(e->env.data[i].name, name)) return &e->env.data[i];
    return NULL;
}

static void bind(elab *e, const char *name, src_span def, val v) {
    binding *old = lookup(e, name);
    if (old) {
        diag_error(e->d, def, "redefinition of '%s'", name);
        diag_note(e->d, old->def, "'%s' was defined here", name);
        return;
    }
    binding b = {name, v, def};
    arr_push(e->g->a, e->env, b);
}

/* ---- built-in ops ------------------------------------------------------ */

static const char *const symbols[] = {"he", "glorot", "zeros", "ones", "auto", "true", "false", NULL};

int el_want_tensor(elab *e, const builtin *b, val *v, int i) {
    if (v->kind == V_TENSOR || v->kind == V_ERR) return v->kind == V_TENSOR;
    diag_error(e->d, v->span, "%s: argument '%s' must be a tensor, got %s", b->name, b->params[i],
               v->kind == V_NUM ? "a number" : "a name");
    return 0;
}

int el_want_int(elab *e, const builtin *b, val *v, int i, int64_t lo, int64_t *out) {
    if (v->kind == V_ERR) return 0;
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

static val b_simple(elab *e, const builtin *b, const ast_expr *call, val *args) {
    int n = ir_ops[b->op].nin;
    for (int i = 0; i < n; i++)
        if (!el_want_tensor(e, b, &args[i], i)) return el_err;
    return el_apply(e, call, b->op, args, n, NULL, NULL);
}

/* sum(x) / mean(x): all elements; with axis = k, that axis only. */
static val b_reduce(elab *e, const builtin *b, const ast_expr *call, val *args) {
    if (!el_want_tensor(e, b, &args[0], 0)) return el_err;
    ir_node *x = el_node(e, args[0].node);
    int64_t a0 = 0, a1 = x->shape.rank;
    if (args[1].kind != V_NONE) {
        double ax;
        if (!el_want_num(e, b, &args[1], 1, &ax)) return el_err;
        int r = x->shape.rank;
        if (!args[1].is_int) {
            diag_error(e->d, args[1].span, "%s: axis must be an integer", b->name);
            return el_err;
        }
        if (ax < -r || ax >= r) {
            diag_error(e->d, args[1].span, "%s: axis %g out of range for %s (rank %d)", b->name, ax, el_type_str(e, x->id), r);
            return el_err;
        }
        a0 = ax < 0 ? (int64_t)ax + r : (int64_t)ax;
        a1 = a0 + 1;
    }
    int64_t outer, len, inner;
    ir_reduce_view(&x->shape, (int)a0, (int)a1, &outer, &len, &inner);
    int64_t ia[IR_MAX_ATTR] = {a0, a1, 0, 0};
    double fa[4] = {strcmp(b->name, "mean") ? 1.0 : 1.0 / (double)len, 0};
    return el_apply(e, call, IR_SUM, args, 1, ia, fa);
}

const char *el_param_name(elab *e, const char *leaf) {
    const char *scope = e->scope ? e->scope : "layer";
    if (e->nlayers <= 1) return arena_printf(e->g->a, "%s.%s", scope, leaf);
    return arena_printf(e->g->a, "%s.%d.%s", scope, e->ncalls, leaf);
}

static ir_node *find_param(elab *e, const char *name) {
    for (int i = 0; i < e->g->params.len; i++)
        if (!strcmp(el_node(e, e->g->params.data[i])->name, name)) return el_node(e, e->g->params.data[i]);
    return NULL;
}

static ir_node *add_state(elab *e, const char *name, ir_shape s, ir_role role, src_span at) {
    ir_node *old = find_param(e, name);
    if (e->mode == MODE_INFER && old) return old; /* the second pass shares the first's */
    if (old) {
        diag_error(e->d, at, "parameter '%s' is already defined", name);
        return NULL;
    }
    ir_node *p = ir_add_source(e->g, IR_PARAM, DT_F32, s, name, at);
    p->role = role;
    p->index = e->g->params.len;
    arr_push(e->g->a, e->g->params, p->id);
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

/* dense(x, units, bias = true, init = auto): x [..., in] -> [..., units],
 * weight [units, in] (PyTorch's nn.Linear layout), bias [units]. */
static val b_dense(elab *e, const builtin *b, const ast_expr *call, val *args) {
    int64_t units;
    double bias = 1;
    ir_init init;
    int ok = el_want_tensor(e, b, &args[0], 0);
    ok &= el_want_int(e, b, &args[1], 1, 1, &units);
    ok &= el_want_num(e, b, &args[2], 2, &bias);
    ok &= el_init_kind(e, &args[3], &init);
    if (!ok) return el_err;
    ir_node *x = el_node(e, args[0].node);
    if (x->shape.rank < 2) {
        diag_error(e->d, args[0].span, "dense: input must have a batch axis, got %s", el_type_str(e, x->id));
        return el_err;
    }
    int64_t in = x->shape.d[x->shape.rank - 1], wd[2] = {units, in};
    ir_node *w = el_param(e, el_param_name(e, "weight"), ir_shape_make(2, wd), call->span);
    if (!w) return el_err;
    w->init = init, w->fan_in = in, w->fan_out = units;
    val ops[2] = {args[0], el_tensor(w->id, call->span)};
    int64_t ia[IR_MAX_ATTR] = {0, 1, 0, 0};
    val y = el_apply(e, call, IR_MATMUL, ops, 2, ia, NULL);
    if (y.kind == V_TENSOR && bias != 0) {
        ir_node *bn = el_param(e, el_param_name(e, "bias"), ir_shape_make(1, &units), call->span);
        if (!bn) return el_err;
        bn->init = INIT_ZEROS;
        val bo[2] = {y, el_tensor(bn->id, call->span)};
        y = el_apply(e, call, IR_ADD, bo, 2, NULL, NULL);
    }
    if (y.kind == V_TENSOR && init == INIT_AUTO) {
        arr_push(e->g->a, e->auto_params, w->id);
        arr_push(e->g->a, e->auto_outs, y.node);
    }
    return y;
}

/* mse(p, y) = mean((p - y)^2), lowered to primitive ops. */
static val b_mse(elab *e, const builtin *b, const ast_expr *call, val *args) {
    int ok = el_want_tensor(e, b, &args[0], 0);
    ok &= el_want_tensor(e, b, &args[1], 1);
    if (!ok) return el_err;
    ir_node *p = el_node(e, args[0].node), *t = el_node(e, args[1].node);
    if (!ir_shape_eq(&p->shape, &t->shape)) {
        char *msg = arena_printf(e->g->a, "mse: prediction %s and target %s have different shapes",
                                 el_type_str(e, p->id), el_type_str(e, t->id));
        return el_op_error(e, call, msg, args, 2);
    }
    val d = el_apply(e, call, IR_SUB, args, 2, NULL, NULL);
    val dd[2] = {d, d};
    val sq = el_apply(e, call, IR_MUL, dd, 2, NULL, NULL);
    if (sq.kind != V_TENSOR) return el_err;
    int64_t ia[IR_MAX_ATTR] = {0, p->shape.rank, 0, 0};
    double fa[4] = {1.0 / (double)ir_numel(&p->shape), 0};
    return el_apply(e, call, IR_SUM, &sq, 1, ia, fa);
}

static val b_optim(elab *e, const builtin *b, const ast_expr *call, val *args) {
    (void)args;
    diag_error(e->d, call->name_span, "'%s' is an optimizer: use it in a train statement", b->name);
    return el_err;
}

const builtin elab_lib_core[] = {
    {"relu", {"x"}, 1, b_simple, B_EXPR, IR_RELU, 0},
    {"sigmoid", {"x"}, 1, b_simple, B_EXPR, IR_SIGMOID, 0},
    {"tanh", {"x"}, 1, b_simple, B_EXPR, IR_TANH, 0},
    {"exp", {"x"}, 1, b_simple, B_EXPR, IR_EXP, 0},
    {"log", {"x"}, 1, b_simple, B_EXPR, IR_LOG, 0},
    {"softmax", {"x"}, 1, b_simple, B_EXPR, IR_SOFTMAX, 0},
    {"log_softmax", {"x"}, 1, b_simple, B_EXPR, IR_LOG_SOFTMAX, 0},
    {"add", {"a", "b"}, 2, b_simple, B_EXPR, IR_ADD, 0},
    {"sub", {"a", "b"}, 2, b_simple, B_EXPR, IR_SUB, 0},
    {"mul", {"a", "b"}, 2, b_simple, B_EXPR, IR_MUL, 0},
    {"div", {"a", "b"}, 2, b_simple, B_EXPR, IR_DIV, 0},
    {"matmul", {"a", "b"}, 2, b_simple, B_EXPR, IR_MATMUL, 0},
    {"sum", {"x", "axis"}, 1, b_reduce, B_EXPR, IR_SUM, 0},
    {"mean", {"x", "axis"}, 1, b_reduce, B_EXPR, IR_SUM, 0},
    {"dense", {"x", "units", "bias", "init"}, 2, b_dense, B_EXPR, IR_MATMUL, 1},
    {"mse", {"prediction", "target"}, 2, b_mse, B_EXPR, IR_SUM, 0},
    {"cross_entropy", {"logits", "labels"}, 2, b_simple, B_EXPR, IR_XENT, 0},
    {"binary_cross_entropy", {"prediction", "target"}, 2, b_simple, B_EXPR, IR_BCE, 0},
    {"sgd", {"lr", "momentum", "dampening", "nesterov", "weight_decay"}, 1, b_optim, B_OPTIM, IR_COPY, 0},
    {"adam", {"lr", "beta1", "beta2", "eps", "weight_decay"}, 0, b_optim, B_OPTIM, IR_COPY, 0},
    {"adamw", {"lr", "beta1", "beta2", "eps", "weight_decay"}, 0, b_optim, B_OPTIM, IR_COPY, 0},
    {NULL, {NULL}, 0, NULL, B_EXPR, IR_COPY, 0},
};

/* Every family's table; a family adds its line here. */
extern const builtin elab_lib_core[], elab_lib_conv[], elab_lib_rnn[], elab_lib_attn[], elab_lib_norm[];
const builtin *const elab_libs[] = {elab_lib_core, elab_lib_conv, elab_lib_rnn, elab_lib_attn, elab_lib_norm, NULL};

static const builtin *find_builtin(const char *name) {
    for (int t = 0; elab_libs[t]; t++)
        for (const builtin *b = elab_libs[t]; b->name; b++)
            if (!strcmp(b->name, name)) return b;
    return NULL;
}

/* The closest known name within edit distance 2, or NULL. want_ops: 0
 * names and symbols, 1 ops, 2 optimizers only. */
static const char *suggest(elab *e, const char *name, int want_ops) {
    const char *best = NULL;
    int bd = 3;
    for (int t = 0; want_ops && elab_libs[t]; t++)
        for (const builtin *b = elab_libs[t]; b->name; b++) {
            if (want_ops == 2 && b->kind != B_OPTIM) continue;
            int dd = edit_distance(name, b->name);
            if (dd < bd) bd = dd, best = b->name;
        }
    for (int i = 0; i < e->env.len && !want_ops; i++) {
        int dd = edit_distance(name, e->env.data[i].name);
        if (dd < bd) bd = dd, best = e->env.data[i].name;
    }
    for (int i = 0; symbols[i] && !want_ops; i++) {
        int dd = edit_distance(name, symbols[i]);
        if (dd < bd) bd = dd, best = symbols[i];
    }
    return best && (int)strlen(name) > bd ? best : NULL;
}

static void unknown(elab *e, src_span at, const char *what, const char *name, int ops) {
    const char *s = suggest(e, name, ops);
    if (s) diag_error(e->d, at, "unknown %s '%s'; did you mean '%s'?", what, name, s);
    else diag_error(e->d, at, "unknown %s '%s'", what, name);
}

/* ---- expressions ------------------------------------------------------- */

static val eval(elab *e, const ast_expr *x);

static int param_index(const builtin *b, const char *name) {
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
static int bind_args(elab *e, const builtin *b, const ast_expr *call, val *args) {
    int np = nparams(b), ok = 1, pos = 0;
    for (int i = 0; i < MAX_PARAMS; i++) args[i] = (val){V_NONE, 0, 0, -1, NULL, call->span};
    for (int i = 0; i < call->nargs; i++) {
        const ast_arg *a = &call->args[i];
        int k = a->name ? param_index(b, a->name) : pos++;
        if (a->name && k < 0) {
            diag_error(e->d, a->name_span, "%s has no argument '%s'", b->name, a->name);
            ok = 0;
            continue;
        }
        if (k >= np) {
            diag_error(e->d, a->value->span, "%s takes at most %d argument%s, got %d", b->name, np, np == 1 ? "" : "s", call->nargs);
            return 0;
        }
        if (args[k].kind != V_NONE) {
            diag_error(e->d, a->name ? a->name_span : a->value->span, "%s: argument '%s' given twice", b->name, b->params[k]);
            ok = 0;
        }
        args[k] = eval(e, a->value);
        if (args[k].kind == V_ERR) ok = 0;
    }
    for (int i = 0; i < b->nreq; i++)
        if (args[i].kind == V_NONE) {
            diag_error(e->d, call->span, "%s: missing argument '%s'", b->name, b->params[i]);
            ok = 0;
        }
    return ok;
}

static val eval_call(elab *e, const ast_expr *x) {
    const builtin *b = find_builtin(x->name);
    if (!b) {
        for (int i = 0; i < x->nargs; i++) eval(e, x->args[i].value);
        unknown(e, x->name_span, "op", x->name, 1);
        return el_err;
    }
    val args[MAX_PARAMS];
    int ok = bind_args(e, b, x, args);
    int saved = e->ncalls++;
    if (!ok) return el_err;
    int cur = e->ncalls;
    e->ncalls = saved; /* the layer names its parameters with its own index */
    val r = b->fn(e, b, x, args);
    e->ncalls = cur;
    return r;
}

static val arith(elab *e, const ast_expr *x, char op, val a, val b) {
    if (a.kind == V_ERR || b.kind == V_ERR) return el_err;
    if (a.kind == V_NUM && b.kind == V_NUM) {
        if (op == '/' && b.num == 0) {
            diag_error(e->d, x->span, "division by zero in a constant expression");
            return el_err;
        }
        double r = op == '+' ? a.num + b.num : op == '-' ? a.num - b.num : op == '*' ? a.num * b.num : a.num / b.num;
        val v = el_num(r, x->span);
        v.is_int &= a.is_int && b.is_int; /* 4.0 * 2 is not an integer: it was written as a float */
        return v;
    }
    val ops[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        if (ops[i].kind == V_NUM) ops[i] = el_tensor(ir_const_scalar(e->g, ops[i].num, ops[i].span)->id, ops[i].span);
        if (ops[i].kind != V_TENSOR) {
            diag_error(e->d, ops[i].span, "operand of '%c' must be a tensor or a number", op);
            return el_err;
        }
    }
    ir_op o = op == '+' ? IR_ADD : op == '-' ? IR_SUB : op == '*' ? IR_MUL : IR_DIV;
    return el_apply(e, x, o, ops, 2, NULL, NULL);
}

/* Flatten a nested list literal into values and shape. */
static int literal(elab *e, const ast_expr *x, int depth, ir_shape *s, dvec *out) {
    if (x->kind != EX_LIST) {
        val v = eval(e, x);
        if (v.kind != V_NUM) {
            if (v.kind != V_ERR) diag_error(e->d, x->span, "tensor literal elements must be numbers");
            return 0;
        }
        if (depth < s->rank) {
            diag_error(e->d, x->span, "ragged tensor literal: expected a list here");
            return 0;
        }
        s->rank = depth;
        arr_push(e->g->a, *out, v.num);
        return 1;
    }
    if (depth >= IR_MAX_RANK) {
        diag_error(e->d, x->span, "tensor literal nested deeper than %d", IR_MAX_RANK);
        return 0;
    }
    if (x->nelems == 0) {
        diag_error(e->d, x->span, "empty tensor literal");
        return 0;
    }
    if (out->len == 0 && s->rank <= depth) s->rank = depth + 1, s->d[depth] = x->nelems;
    if (s->d[depth] != x->nelems || x->nelems == 0) {
        diag_error(e->d, x->span, "ragged tensor literal: %d elements here, %lld in the first list at this depth",
                   x->nelems, (long long)s->d[depth]);
        return 0;
    }
    for (int i = 0; i < x->nelems; i++)
        if (!literal(e, x->elems[i], depth + 1, s, out)) return 0;
    return 1;
}

static val eval_literal(elab *e, const ast_expr *x) {
    ir_shape s = {0, {0}};
    dvec vals = {0};
    if (!literal(e, x, 0, &s, &vals)) return el_err;
    if (ir_numel(&s) != vals.len) {
        diag_error(e->d, x->span, "ragged tensor literal");
        return el_err;
    }
    ir_node *c = ir_add_source(e->g, IR_CONST, DT_F32, s, NULL, x->span);
    c->data = vals.data;
    return el_tensor(c->id, x->span);
}

static val eval_name(elab *e, const ast_expr *x) {
    binding *b = lookup(e, x->name);
    if (b) {
        val v = b->v;
        v.span = x->span;
        return v;
    }
    for (int i = 0; symbols[i]; i++)
        if (!strcmp(symbols[i], x->name)) return (val){V_SYM, 0, 0, -1, symbols[i], x->span};
    if (find_builtin(x->name)) {
        diag_error(e->d, x->span, "'%s' is an op: call it as %s(...) or pipe into it with -> %s", x->name, x->name, x->name);
        return el_err;
    }
    unknown(e, x->span, "name", x->name, 0);
    return el_err;
}

static val eval(elab *e, const ast_expr *x) {
    switch (x->kind) {
    case EX_NUM: {
        val v = el_num(x->num, x->span);
        v.is_int &= x->is_int;
        return v;
    }
    case EX_NAME: return eval_name(e, x);
    case EX_CALL: return eval_call(e, x);
    case EX_BINOP: {
        val a = eval(e, x->lhs); /* left first: layers are numbered in reading order */
        val b = eval(e, x->rhs);
        return arith(e, x, x->op, a, b);
    }
    case EX_NEG: {
        val a = eval(e, x->lhs);
        if (a.kind == V_NUM) {
            val v = el_num(-a.num, x->span);
            v.is_int &= a.is_int;
            return v;
        }
        if (a.kind != V_TENSOR) return el_err;
        return el_apply(e, x, IR_NEG, &a, 1, NULL, NULL);
    }
    case EX_LIST: return eval_literal(e, x);
    }
    return el_err;
}

/* Count dense layers in an expression, for parameter naming. */
static int count_layers(const ast_expr *x) {
    if (!x) return 0;
    const builtin *b = x->kind == EX_CALL ? find_builtin(x->name) : NULL;
    int n = b && b->layer;
    for (int i = 0; x->kind == EX_CALL && i < x->nargs; i++) n += count_layers(x->args[i].value);
    if (x->kind == EX_BINOP || x->kind == EX_NEG) n += count_layers(x->lhs) + count_layers(x->rhs);
    for (int i = 0; x->kind == EX_LIST && i < x->nelems; i++) n += count_layers(x->elems[i]);
    return n;
}

static val eval_stmt_expr(elab *e, const char *scope, const ast_expr *x) {
    e->scope = scope;
    e->nlayers = count_layers(x);
    e->ncalls = 0;
    return eval(e, x);
}

/* ---- declarations ------------------------------------------------------ */

static int eval_dim(elab *e, const ast_expr *x, int64_t *out) {
    val v = eval(e, x);
    if (v.kind == V_ERR) return 0;
    if (v.kind != V_NUM || !v.is_int || v.num < 1 || v.num > (double)(1LL << 40)) {
        if (v.kind == V_NUM && v.num == floor(v.num) && !v.is_int)
            diag_error(e->d, x->span, "dimension must be a positive integer, got the float %.1f", v.num);
        else if (v.kind == V_NUM) diag_error(e->d, x->span, "dimension must be a positive integer, got %g", v.num);
        else diag_error(e->d, x->span, "dimension must be a constant");
        return 0;
    }
    *out = (int64_t)v.num;
    return 1;
}

static int eval_type(elab *e, const ast_type *t, ir_dtype *dt, ir_shape *s) {
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
    return ok;
}

static void decl_io(elab *e, const ast_stmt *st) {
    ir_dtype dt;
    ir_shape s;
    if (!eval_type(e, &st->type, &dt, &s)) return bind(e, st->name, st->name_span, el_err);
    if (e->mode == MODE_INFER) { /* the first pass made it */
        ARR(int) *list = st->kind == ST_INPUT ? (void *)&e->g->inputs : (void *)&e->g->targets;
        for (int i = 0; i < list->len; i++)
            if (!strcmp(el_node(e, list->data[i])->name, st->name))
                return bind(e, st->name, st->name_span, el_tensor(list->data[i], st->name_span));
    }
    ir_node *n = ir_add_source(e->g, IR_INPUT, dt, s, st->name, st->name_span);
    n->role = st->kind == ST_INPUT ? ROLE_INPUT : ROLE_TARGET;
    if (st->kind == ST_INPUT) {
        n->index = e->g->inputs.len;
        arr_push(e->g->a, e->g->inputs, n->id);
    } else {
        n->index = e->g->targets.len;
        arr_push(e->g->a, e->g->targets, n->id);
    }
    bind(e, st->name, st->name_span, el_tensor(n->id, st->name_span));
}

static int param_init(elab *e, const ast_stmt *st, ir_node *p) {
    const ast_expr *x = st->value;
    if (!x) return p->init = INIT_AUTO, 1;
    if (x->kind == EX_NAME && !lookup(e, x->name)) {
        val v = eval(e, x);
        return v.kind == V_SYM && el_init_kind(e, &v, &p->init);
    }
    val v = eval(e, x);
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

static void decl_param(elab *e, const ast_stmt *st) {
    ir_dtype dt;
    ir_shape s;
    if (!eval_type(e, &st->type, &dt, &s)) return bind(e, st->name, st->name_span, el_err);
    if (dt != DT_F32) {
        diag_error(e->d, st->type.dtype_span, "parameters must be f32");
        return bind(e, st->name, st->name_span, el_err);
    }
    ir_node *p = el_param(e, st->name, s, st->name_span);
    if (!p) return bind(e, st->name, st->name_span, el_err);
    p->fan_in = s.rank >= 2 ? s.d[s.rank - 1] : s.rank ? s.d[0] : 1;
    p->fan_out = s.rank >= 2 ? s.d[0] : 1;
    if (e->mode == MODE_TRAIN && !param_init(e, st, p)) return bind(e, st->name, st->name_span, el_err);
    bind(e, st->name, st->name_span, el_tensor(p->id, st->name_span));
}

static void name_node(elab *e, val v, const char *name) {
    if (v.kind == V_TENSOR && !el_node(e, v.node)->name) el_node(e, v.node)->name = name;
}

/* The first node of role `role` that node id depends on, or -1. */
static int depends_on_role(elab *e, int id, ir_role role) {
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
        v = eval_stmt_expr(e, st->name, st->value);
        bind(e, st->name, st->name_span, v);
    } else {
        binding *b = lookup(e, st->name);
        if (!b) return unknown(e, st->name_span, "name", st->name, 0);
        v = b->v;
    }
    if (v.kind == V_NUM) diag_error(e->d, st->name_span, "output '%s' must be a tensor", st->name);
    if (v.kind != V_TENSOR) return;
    if (el_node(e, v.node)->dtype != DT_F32)
        return diag_error(e->d, st->name_span, "output '%s' must be f32, got %s", st->name, el_type_str(e, v.node));
    int t = depends_on_role(e, v.node, ROLE_TARGET);
    if (t >= 0)
        return diag_error(e->d, st->name_span, "output '%s' depends on target '%s'; outputs are computed "
                          "at inference, without targets", st->name, el_node(e, t)->name);
    name_node(e, v, st->name);
    arr_push(e->g->a, e->g->outputs, v.node);
    arr_push(e->g->a, e->g->output_names, st->name);
}

static void check_loss_targets(elab *e) {
    for (int i = 0; i < e->g->nodes.len; i++) {
        ir_node *n = el_node(e, i);
        if ((n->op == IR_XENT || n->op == IR_BCE) && depends_on_role(e, n->in[1], ROLE_PARAM) >= 0)
            diag_error(e->d, n->loc, "%s: the target must be data, but it depends on a parameter", ir_ops[n->op].name);
    }
}

static void stmt_loss(elab *e, const ast_stmt *st) {
    if (e->g->loss >= 0) {
        diag_error(e->d, st->span, "a model has one loss; this is the second");
        return;
    }
    val v = eval_stmt_expr(e, "loss", st->value);
    if (v.kind == V_NUM) diag_error(e->d, st->value->span, "the loss must be a tensor expression");
    if (v.kind != V_TENSOR) return;
    if (el_node(e, v.node)->shape.rank != 0) {
        diag_error(e->d, st->value->span, "the loss must be a scalar, got %s (use mean(...) or sum(...))", el_type_str(e, v.node));
        return;
    }
    e->g->loss = v.node;
    check_loss_targets(e);
}

static int opt_args(elab *e, const builtin *b, val *args, ir_optim *o) {
    double *slots[MAX_PARAMS] = {&o->lr};
    double nest = 0;
    if (o->kind == OPT_SGD) slots[1] = &o->momentum, slots[2] = &o->dampening, slots[3] = &nest, slots[4] = &o->weight_decay;
    else slots[1] = &o->beta1, slots[2] = &o->beta2, slots[3] = &o->eps, slots[4] = &o->weight_decay;
    int ok = 1;
    for (int i = 0; i < 5; i++) ok &= el_want_num(e, b, &args[i], i, slots[i]);
    o->nesterov = nest != 0;
    if (ok && o->lr <= 0) diag_error(e->d, args[0].span, "%s: lr must be positive", b->name), ok = 0;
    if (ok && o->nesterov && (o->momentum <= 0 || o->dampening != 0))
        diag_error(e->d, args[3].span, "sgd: nesterov needs momentum > 0 and dampening = 0"), ok = 0;
    return ok;
}

static void stmt_train(elab *e, const ast_stmt *st) {
    const ast_expr *x = st->value;
    const builtin *b = x->kind == EX_CALL ? find_builtin(x->name) : NULL;
    if (e->g->opt.kind != OPT_NONE) return diag_error(e->d, st->span, "a model has one train statement; this is the second");
    if (!b || b->kind != B_OPTIM) {
        if (x->kind == EX_CALL && !b) return unknown(e, x->name_span, "optimizer", x->name, 2);
        return diag_error(e->d, x->span, "train expects an optimizer: sgd(...), adam(...) or adamw(...)");
    }
    val args[MAX_PARAMS];
    if (!bind_args(e, b, x, args)) return;
    ir_optim o = {OPT_SGD, 0, 0, 0, 0, 0.9, 0.999, 1e-8, 0, x->span};
    if (!strcmp(b->name, "adam")) o.kind = OPT_ADAM, o.lr = 1e-3;
    if (!strcmp(b->name, "adamw")) o.kind = OPT_ADAMW, o.lr = 1e-3, o.weight_decay = 1e-2;
    if (opt_args(e, b, args, &o)) e->g->opt = o;
}

static void stmt(elab *e, const ast_stmt *st) {
    switch (st->kind) {
    case ST_INPUT:
    case ST_TARGET: decl_io(e, st); break;
    case ST_PARAM: decl_param(e, st); break;
    case ST_LET: {
        val v = eval_stmt_expr(e, st->name, st->value);
        name_node(e, v, st->name);
        bind(e, st->name, st->name_span, v);
        break;
    }
    case ST_OUTPUT: stmt_output(e, st); break;
    case ST_LOSS: stmt_loss(e, st); break;
    case ST_TRAIN: stmt_train(e, st); break;
    }
}

/* ---- consts and the model ---------------------------------------------- */

static void consts(elab *e, const ast_program *p, elab_define *defs, int ndefs) {
    for (int i = 0; i < p->nconsts; i++) {
        const ast_const *c = &p->consts[i];
        val v = eval(e, c->value);
        if (v.kind != V_NUM && v.kind != V_ERR) {
            diag_error(e->d, c->value->span, "const '%s' must be a number", c->name);
            v = el_err;
        }
        for (int j = 0; j < ndefs; j++)
            if (!strcmp(defs[j].name, c->name)) {
                v = el_num(defs[j].value, c->name_span);
                v.is_int &= defs[j].is_int;
                defs[j].used = 1;
            }
        bind(e, c->name, c->name_span, v);
    }
    for (int j = 0; j < ndefs; j++)
        if (!defs[j].used) diag_plain(e->d, "-D %s: the program has no const named '%s'", defs[j].name, defs[j].name);
}

/* Weights with init = auto: He when the layer feeds a relu, else Glorot. */
static void resolve_auto_init(elab *e) {
    for (int i = 0; i < e->auto_params.len; i++) {
        ir_node *w = el_node(e, e->auto_params.data[i]);
        w->init = INIT_GLOROT;
        for (int j = e->auto_outs.data[i] + 1; j < e->g->nodes.len; j++) {
            ir_node *u = el_node(e, j);
            if (u->op == IR_RELU && u->in[0] == e->auto_outs.data[i]) w->init = INIT_HE;
        }
    }
    for (int i = 0; i < e->g->params.len; i++) {
        ir_node *p = el_node(e, e->g->params.data[i]);
        if (p->init == INIT_AUTO) p->init = p->shape.rank >= 2 ? INIT_GLOROT : INIT_ZEROS;
    }
}

static void check_model(elab *e, const ast_model *m) {
    ir_graph *g = e->g;
    if (!g->outputs.len && g->loss < 0)
        diag_error(e->d, m->name_span, "model '%s' has no output and no loss", m->name);
    if (g->loss >= 0 && g->opt.kind == OPT_NONE)
        diag_error(e->d, m->name_span, "model '%s' has a loss but no train statement", m->name);
    if (g->loss < 0 && g->opt.kind != OPT_NONE) diag_error(e->d, g->opt.loc, "train needs a loss statement");
    if (g->loss >= 0 && !g->params.len) diag_error(e->d, m->name_span, "model '%s' has a loss but no parameters to train", m->name);
}

/* Dropout and batch norm differ between training and inference: elaborate
 * the statements again in inference mode, reusing inputs, targets and
 * parameters. The first pass's outputs and loss feed training; this pass's
 * outputs feed _forward and its loss feeds _loss. */
static void second_pass(elab *e, const ast_model *m, int nconst) {
    ir_graph *g = e->g;
    e->env.len = nconst; /* forget bindings, keep consts */
    e->mode = MODE_INFER;
    e->ndropout = 0;
    g->outputs.len = g->output_names.len = 0;
    int loss = g->loss;
    g->loss = -1;
    ir_optim opt = g->opt;
    g->opt.kind = OPT_NONE;
    for (int i = 0; i < m->nstmts; i++) stmt(e, &m->stmts[i]);
    g->loss_eval = g->loss;
    g->loss = loss;
    g->opt = opt;
}

int elaborate(const ast_program *p, elab_define *defs, int ndefs, diag_ctx *d, ir_graph *g) {
    elab e = {0};
    e.g = g;
    e.d = d;
    int before = d->errors;
    consts(&e, p, defs, ndefs);
    if (p->nmodels != 1) {
        if (p->nmodels == 0) diag_plain(d, "%s: no model in this file", d->file);
        else diag_error(d, p->models[1].name_span, "one model per file; '%s' is the second", p->models[1].name);
        return d->errors - before;
    }
    const ast_model *m = &p->models[0];
    g->name = m->name;
    int nconst = e.env.len;
    for (int i = 0; i < m->nstmts; i++) stmt(&e, &m->stmts[i]);
    if (d->errors == before) check_model(&e, m); /* not after errors: they cascade */
    g->loss_eval = g->loss;
    if (d->errors == before && e.mode_dependent) second_pass(&e, m, nconst);
    resolve_auto_init(&e);
    return d->errors - before;
}
