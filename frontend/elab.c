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
 *
 * Blocks (user-defined, see "user-defined blocks" below): a block call is a
 * layer like dense. Its body runs in a fresh environment (the consts and the
 * block's parameters) with the call's layer prefix S pushed: the block's
 * `param w` is S.w, a layer in its binding `fc = ...` names its parameters
 * after S.fc, and layers in its return expression after S.out.
 * stack(x, blk, n) applies blk n times, copy i with the prefix S.i.
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

/* ---- user-defined blocks: state ---------------------------------------- */

/* More applications than this in one pass is an error (a guard against
 * stack(stack(...)) blowing up; real models use a few hundred), and so is
 * a block applied inside more than MAX_BLOCK_DEPTH others (it bounds the C
 * stack: each level is a few frames of eval). */
enum { MAX_BLOCK_APPLICATIONS = 10000, MAX_BLOCK_DEPTH = 64 };

typedef struct block_info {
    const ast_block *ast;
    int usable; /* 0: a structural error was reported, or the name is taken */
    int failed; /* an application reported errors: later ones stay quiet */
    int active; /* being applied now: applying it again is recursion */
} block_info;

typedef struct elab_blocks elab_blocks;
struct elab_blocks {
    block_info *b;      /* the program's blocks, in source order */
    int n;
    ARR(int) chain;     /* blocks being applied, outermost first */
    const char *prefix; /* parameter-name prefix inside a block, NULL in the model */
    int nconst;         /* env[0..nconst) are the consts; -1 while they are evaluated */
    int napplied;       /* block applications in this pass */
    int over_budget;    /* MAX_BLOCK_APPLICATIONS or MAX_BLOCK_DEPTH was reported */
};

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
    int64_t ia[IR_MAX_ATTR] = {0, 1};
    el_layer_spec l = {ir_shape_make(2, wd), in, units, init, IR_MATMUL, ia, bias != 0, IR_ADD};
    return el_layer(e, call, args[0], &l);
}

val el_layer(elab *e, const ast_expr *call, val x, const el_layer_spec *l) {
    ir_node *w = el_param(e, el_param_name(e, "weight"), l->wshape, call->span);
    if (!w) return el_err;
    w->init = l->init, w->fan_in = l->fan_in, w->fan_out = l->fan_out;
    val ops[2] = {x, el_tensor(w->id, call->span)};
    val y = el_apply(e, call, l->op, ops, 2, l->ia, NULL);
    if (y.kind == V_TENSOR && l->bias) {
        ir_node *bn = el_param(e, el_param_name(e, "bias"), ir_shape_make(1, &l->wshape.d[0]), call->span);
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

/* dim(x, axis): the size of one axis of x, a number (axis < 0 counts from
 * the end). Lets a block size its layers from its input. */
static val b_dim(elab *e, const builtin *b, const ast_expr *call, val *args) {
    double ax;
    if (!el_want_tensor(e, b, &args[0], 0) || !el_want_num(e, b, &args[1], 1, &ax)) return el_err;
    ir_node *x = el_node(e, args[0].node);
    int r = x->shape.rank;
    if (!args[1].is_int) {
        diag_error(e->d, args[1].span, "dim: axis must be an integer");
        return el_err;
    }
    if (ax < -r || ax >= r) {
        diag_error(e->d, args[1].span, "dim: axis %g out of range for %s (rank %d)", ax, el_type_str(e, x->id), r);
        return el_err;
    }
    return el_num((double)x->shape.d[ax < 0 ? (int)ax + r : (int)ax], call->span);
}

/* stack(x, block, n, args...): eval_call hands it to stack_call, which needs
 * the block's name unevaluated; this entry only names it (suggestions, "is an
 * op", count_layers: a stack is one layer, as an nn.Sequential is one module). */
static val b_stack(elab *e, const builtin *b, const ast_expr *call, val *args) {
    (void)e, (void)b, (void)call, (void)args;
    return el_err;
}

static const builtin elab_lib_block[] = {
    {"dim", {"x", "axis"}, 2, b_dim, B_EXPR, IR_COPY, 0},
    {"stack", {"x", "block", "n"}, 3, b_stack, B_EXPR, IR_COPY, 1},
    {NULL, {NULL}, 0, NULL, B_EXPR, IR_COPY, 0},
};

/* Every family's table; a family adds its line here. */
extern const builtin elab_lib_core[], elab_lib_conv[], elab_lib_rnn[], elab_lib_attn[], elab_lib_norm[];
const builtin *const elab_libs[] = {elab_lib_core, elab_lib_block, elab_lib_conv, elab_lib_rnn, elab_lib_attn, elab_lib_norm, NULL};

static const builtin *find_builtin(const char *name) {
    for (int t = 0; elab_libs[t]; t++)
        for (const builtin *b = elab_libs[t]; b->name; b++)
            if (!strcmp(b->name, name)) return b;
    return NULL;
}

/* The block called `name` (the first one of that name; not one named like
 * a built-in op, which keeps the op), or -1. */
static int find_block(elab *e, const char *name) {
    for (int i = 0; e->blocks && i < e->blocks->n; i++)
        if (!strcmp(e->blocks->b[i].ast->name, name) && !find_builtin(name)) return i;
    return -1;
}

/* The closest known name within edit distance 2, or NULL. want_ops: 0
 * names and symbols, 1 ops and blocks, 2 optimizers only, 3 blocks only. */
static const char *suggest(elab *e, const char *name, int want_ops) {
    const char *best = NULL;
    int bd = 3;
    for (int i = 0; (want_ops == 1 || want_ops == 3) && e->blocks && i < e->blocks->n; i++) {
        int dd = edit_distance(name, e->blocks->b[i].ast->name);
        if (dd < bd) bd = dd, best = e->blocks->b[i].ast->name;
    }
    for (int t = 0; (want_ops == 1 || want_ops == 2) && elab_libs[t]; t++)
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

static val call_block(elab *e, int bi, const ast_expr *x);
static val stack_call(elab *e, const builtin *b, const ast_expr *x);

static val eval_call(elab *e, const ast_expr *x) {
    int bi = find_block(e, x->name);
    if (bi >= 0) return call_block(e, bi, x);
    const builtin *b = find_builtin(x->name);
    if (b && b->fn == b_stack) return stack_call(e, b, x);
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
    if (r.kind == V_NUM) e->ncalls = saved; /* a number (dim) is no stage of a pipeline */
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
    if (find_builtin(x->name) || find_block(e, x->name) >= 0) {
        diag_error(e->d, x->span, "'%s' is %s: call it as %s(...) or pipe into it with -> %s", x->name,
                   find_block(e, x->name) >= 0 ? "a block" : "an op", x->name, x->name);
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

/* Count layers (dense, blocks, stack, ...) in an expression, for parameter
 * naming. */
static int count_layers(elab *e, const ast_expr *x) {
    if (!x) return 0;
    const builtin *b = x->kind == EX_CALL ? find_builtin(x->name) : NULL;
    int n = (b && b->layer) || (x->kind == EX_CALL && find_block(e, x->name) >= 0);
    for (int i = 0; x->kind == EX_CALL && i < x->nargs; i++) n += count_layers(e, x->args[i].value);
    if (x->kind == EX_BINOP || x->kind == EX_NEG) n += count_layers(e, x->lhs) + count_layers(e, x->rhs);
    for (int i = 0; x->kind == EX_LIST && i < x->nelems; i++) n += count_layers(e, x->elems[i]);
    return n;
}

static val eval_stmt_expr(elab *e, const char *scope, const ast_expr *x) {
    e->scope = scope;
    e->nlayers = count_layers(e, x);
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
        else if (v.kind == V_NUM)
            diag_error(e->d, x->span, "dimension must be a positive integer, got %.15g%s", v.num,
                       v.num > 0x1p40 ? " (at most 2^40)" : "");
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

static void decl_param(elab *e, const ast_stmt *st) {
    ir_dtype dt;
    ir_shape s;
    if (!eval_type(e, &st->type, &dt, &s)) return bind(e, st->name, st->name_span, el_err);
    if (dt != DT_F32) {
        diag_error(e->d, st->type.dtype_span, "parameters must be f32");
        return bind(e, st->name, st->name_span, el_err);
    }
    const char *prefix = e->blocks ? e->blocks->prefix : NULL; /* inside a block: S.name */
    ir_node *p = el_param(e, prefix ? arena_printf(e->g->a, "%s.%s", prefix, st->name) : st->name, s, st->name_span);
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
    case ST_RETURN: diag_error(e->d, st->span, "'return' is only allowed in a block"); break;
    }
}

/* ---- user-defined blocks ------------------------------------------------
 *
 *   block residual(x, width = dim(x, -1)) {
 *       param scale : f32[1] = 1.0
 *       return x + scale * dense(x, width)
 *   }
 *
 * check_block: structure, once per block, whether it is used or not.
 * call_block / stack_call: match the arguments, then apply_block runs the
 * body in a fresh environment (consts and parameters) with the call's layer
 * prefix pushed. A block whose application reported an error is marked
 * failed and later applications give the poison value quietly, so one
 * mistake in a block stacked 12 times is one message (with notes naming
 * where the block was applied). */

/* The name of the return statement's layers: S.out.weight, like an
 * nn.Module attribute `self.out`. */
static const char *const RETURN_SCOPE = "out";

static void init_blocks(elab *e, const ast_program *p) {
    elab_blocks *B = e->blocks;
    B->n = p->nblocks;
    B->b = arena_alloc(e->g->a, sizeof *B->b * (size_t)(p->nblocks + 1));
    for (int i = 0; i < p->nblocks; i++) B->b[i] = (block_info){&p->blocks[i], 1, 0, 0};
    B->nconst = -1; /* consts are being evaluated */
}

/* A name declared in a block: parameter, param statement or binding. */
typedef struct block_name {
    const char *name;
    src_span def;
} block_name;

/* Reports `name` if a const or an earlier name of the block has it; else
 * adds it to names. Returns 0 on a clash. */
static int declare_block_name(elab *e, block_name *names, int *n, const char *name, src_span def) {
    for (int i = 0; i < *n; i++)
        if (!strcmp(names[i].name, name)) {
            diag_error(e->d, def, "redefinition of '%s'", name);
            diag_note(e->d, names[i].def, "'%s' was defined here", name);
            return 0;
        }
    binding *c = lookup(e, name); /* the env holds only the consts now */
    if (c) {
        diag_error(e->d, def, "redefinition of '%s'", name);
        diag_note(e->d, c->def, "'%s' was defined here", name);
        return 0;
    }
    names[(*n)++] = (block_name){name, def};
    return 1;
}

/* The block's name: not a built-in op's, not another block's. */
static int check_block_name(elab *e, int bi) {
    const ast_block *b = e->blocks->b[bi].ast;
    if (find_builtin(b->name)) {
        diag_error(e->d, b->name_span, "block '%s' has the name of a built-in op", b->name);
        return 0;
    }
    for (int j = 0; j < bi; j++)
        if (!strcmp(e->blocks->b[j].ast->name, b->name)) {
            diag_error(e->d, b->name_span, "redefinition of block '%s'", b->name);
            diag_note(e->d, e->blocks->b[j].ast->name_span, "block '%s' was defined here", b->name);
            return 0;
        }
    return 1;
}

/* What a statement that only a model may hold is called, and why not here. */
static const char *model_only_stmt(ast_stmt_kind k) {
    switch (k) {
    case ST_INPUT: return "an 'input' statement: a block takes its inputs as parameters";
    case ST_TARGET: return "a 'target' statement: a block takes its inputs as parameters";
    case ST_OUTPUT: return "an 'output' statement: return the value and make it an output in the model";
    case ST_LOSS: return "a 'loss' statement: return the value and use it in the model's loss";
    case ST_TRAIN: return "a 'train' statement: the model's train statement trains every block's parameters";
    default: return NULL;
    }
}

/* The statements of a block: only param, bindings and one return, last. */
static int check_block_body(elab *e, const ast_block *b, block_name *names, int *nnames) {
    int ok = 1, nret = 0;
    for (int k = 0; k < b->nstmts; k++) {
        const ast_stmt *st = &b->stmts[k];
        const char *why = model_only_stmt(st->kind);
        if (why) {
            diag_error(e->d, st->span, "a block cannot contain %s", why);
            ok = 0;
        } else if (st->kind == ST_RETURN) {
            nret++;
            if (k != b->nstmts - 1) {
                diag_error(e->d, st->span, "'return' must be the last statement of block '%s'", b->name);
                ok = 0;
            }
        } else {
            ok &= declare_block_name(e, names, nnames, st->name, st->name_span);
        }
    }
    if (nret == 0) {
        diag_error(e->d, b->name_span, "block '%s' has no return statement (end it with 'return <expression>')", b->name);
        ok = 0;
    }
    return ok;
}

/* A name `out` in the block clashes with the return statement's layers. */
static int check_return_scope(elab *e, const ast_block *b, const block_name *names, int nnames) {
    const ast_stmt *ret = b->nstmts ? &b->stmts[b->nstmts - 1] : NULL;
    if (!ret || ret->kind != ST_RETURN || !count_layers(e, ret->value)) return 1;
    for (int i = 0; i < nnames; i++)
        if (!strcmp(names[i].name, RETURN_SCOPE) && i >= b->nparams) {
            diag_error(e->d, names[i].def, "in block '%s', the layers of the return statement are named '%s'; "
                       "give this one another name", b->name, RETURN_SCOPE);
            return 0;
        }
    return 1;
}

/* Structure of block bi, reported once: its name, its parameters (distinct,
 * not a const's name, defaults without layers) and its body. A block with an
 * error is not applied (calls give the poison value quietly). */
static void check_block(elab *e, int bi) {
    block_info *info = &e->blocks->b[bi];
    const ast_block *b = info->ast;
    int ok = check_block_name(e, bi);
    block_name *names = arena_alloc(e->g->a, sizeof *names * (size_t)(b->nparams + b->nstmts + 1));
    int nnames = 0;
    for (int i = 0; i < b->nparams; i++) {
        const ast_bparam *p = &b->params[i];
        ok &= declare_block_name(e, names, &nnames, p->name, p->name_span);
        if (p->def && count_layers(e, p->def)) {
            diag_error(e->d, p->def->span, "the default value of '%s' cannot create parameters", p->name);
            ok = 0;
        }
    }
    ok &= check_block_body(e, b, names, &nnames);
    ok = ok && check_return_scope(e, b, names, nnames);
    info->usable = ok;
}

/* ---- arguments ---- */

/* One argument of a block call, evaluated in the caller. */
typedef struct blk_arg {
    const char *name;   /* NULL: positional */
    src_span name_span; /* the name, when named */
    val v;              /* its value (v.span: the argument) */
} blk_arg;

static int block_param_index(const ast_block *b, const char *name) {
    for (int i = 0; i < b->nparams; i++)
        if (!strcmp(b->params[i].name, name)) return i;
    return -1;
}

/* "mlp has no argument 'widht'; did you mean 'width'?" */
static void unknown_block_arg(elab *e, const ast_block *b, const blk_arg *a) {
    const char *best = NULL;
    int bd = 3;
    for (int i = 0; i < b->nparams; i++) {
        int dd = edit_distance(a->name, b->params[i].name);
        if (dd < bd) bd = dd, best = b->params[i].name;
    }
    if (best && (int)strlen(a->name) > bd)
        diag_error(e->d, a->name_span, "%s has no argument '%s'; did you mean '%s'?", b->name, a->name, best);
    else
        diag_error(e->d, a->name_span, "%s has no argument '%s'", b->name, a->name);
}

/* Matches args[0..n) to the block's parameters, as bind_args does for a
 * built-in: positional ones fill the parameters from index `pos` on, named
 * ones theirs. slots[] (nparams) may hold values already (stack's input in
 * slot 0); V_NONE is left where the default applies. Reports at the
 * argument; a missing one at `call`. */
static int match_block_args(elab *e, const ast_block *b, const blk_arg *args, int n, int pos,
                            src_span call, val *slots) {
    int ok = 1, given = pos + n; /* stack's input counts too */
    for (int i = 0; i < n; i++) {
        const blk_arg *a = &args[i];
        int k = a->name ? block_param_index(b, a->name) : pos++;
        if (a->name && k < 0) {
            unknown_block_arg(e, b, a);
            ok = 0;
            continue;
        }
        if (k >= b->nparams) {
            diag_error(e->d, a->v.span, "%s takes at most %d argument%s, got %d", b->name, b->nparams,
                       b->nparams == 1 ? "" : "s", given);
            return 0;
        }
        if (slots[k].kind != V_NONE) {
            diag_error(e->d, a->name ? a->name_span : a->v.span, "%s: argument '%s' given twice", b->name,
                       b->params[k].name);
            ok = 0;
        }
        slots[k] = a->v;
    }
    for (int i = 0; ok && i < b->nparams; i++)
        if (slots[i].kind == V_NONE && !b->params[i].def) {
            diag_error(e->d, call, "%s: missing argument '%s'", b->name, b->params[i].name);
            ok = 0;
        }
    return ok;
}

/* Slots for a block's parameters, all V_NONE. */
static val *new_slots(elab *e, const ast_block *b, src_span at) {
    val *slots = arena_alloc(e->g->a, sizeof *slots * (size_t)(b->nparams + 1));
    for (int i = 0; i <= b->nparams; i++) slots[i] = (val){V_NONE, 0, 0, -1, NULL, at};
    return slots;
}

/* ---- application ---- */

/* What apply_block saves of the caller and restores. */
typedef struct block_frame {
    binding *env;      /* the caller's environment (data, len, cap) */
    int env_len, env_cap;
    const char *scope; /* and its statement's naming state */
    int nlayers, ncalls;
    const char *prefix;
} block_frame;

/* Enter block bi: a fresh environment with the consts, prefix S. */
static block_frame enter_block(elab *e, int bi, const char *S) {
    elab_blocks *B = e->blocks;
    block_frame f = {e->env.data, e->env.len, e->env.cap, e->scope, e->nlayers, e->ncalls, B->prefix};
    e->env.data = NULL;
    e->env.len = e->env.cap = 0;
    for (int i = 0; i < B->nconst; i++) arr_push(e->g->a, e->env, f.env[i]);
    B->prefix = S;
    B->b[bi].active = 1;
    arr_push(e->g->a, B->chain, bi);
    return f;
}

static void leave_block(elab *e, int bi, const block_frame *f) {
    e->env.data = f->env;
    e->env.len = f->env_len;
    e->env.cap = f->env_cap;
    e->scope = f->scope, e->nlayers = f->nlayers, e->ncalls = f->ncalls;
    e->blocks->prefix = f->prefix;
    e->blocks->b[bi].active = 0;
    e->blocks->chain.len--;
}

/* "block 'a' is recursive (a -> b -> a)" at the call that closes the cycle. */
static void report_recursion(elab *e, int bi, src_span at) {
    elab_blocks *B = e->blocks;
    strbuf sb;
    sb_init(&sb);
    int from = B->chain.len - 1;
    while (from > 0 && B->chain.data[from] != bi) from--;
    for (int i = from; i < B->chain.len; i++) sb_printf(&sb, "%s -> ", B->b[B->chain.data[i]].ast->name);
    sb_printf(&sb, "%s", B->b[bi].ast->name);
    diag_error(e->d, at, "block '%s' is recursive (%s); a block cannot apply itself", B->b[bi].ast->name, sb.s);
    sb_free(&sb);
}

/* Refuses an application: recursion, a const, too many. 0: refused. */
static int may_apply(elab *e, int bi, src_span at) {
    elab_blocks *B = e->blocks;
    if (!B->b[bi].usable || B->b[bi].failed) return 0; /* reported already */
    if (B->b[bi].active) {
        report_recursion(e, bi, at);
        return 0;
    }
    if (B->nconst < 0) {
        diag_error(e->d, at, "a block cannot be applied in a const declaration");
        return 0;
    }
    if (B->chain.len >= MAX_BLOCK_DEPTH) {
        if (!B->over_budget) diag_error(e->d, at, "blocks nested more than %d deep", MAX_BLOCK_DEPTH);
        B->over_budget = 1;
        return 0;
    }
    if (++B->napplied > MAX_BLOCK_APPLICATIONS) {
        if (!B->over_budget) diag_error(e->d, at, "more than %d block applications in this model", MAX_BLOCK_APPLICATIONS);
        B->over_budget = 1;
        return 0;
    }
    return 1;
}

/* The body of b, in the block's environment: parameters, then statements;
 * the value of the return statement. */
static val run_block_body(elab *e, const ast_block *b, const val *slots, const char *S) {
    for (int i = 0; i < b->nparams; i++) {
        val v = slots[i];
        if (v.kind == V_NONE) { /* the default, over the consts and the parameters before it */
            e->scope = S, e->nlayers = 0, e->ncalls = 0;
            v = eval(e, b->params[i].def);
        }
        bind(e, b->params[i].name, b->params[i].name_span, v);
    }
    val r = el_err;
    for (int k = 0; k < b->nstmts; k++) {
        const ast_stmt *st = &b->stmts[k];
        if (st->kind == ST_PARAM) {
            decl_param(e, st);
        } else if (st->kind == ST_LET) {
            val v = eval_stmt_expr(e, arena_printf(e->g->a, "%s.%s", S, st->name), st->value);
            name_node(e, v, st->name);
            bind(e, st->name, st->name_span, v);
        } else if (st->kind == ST_RETURN) {
            r = eval_stmt_expr(e, arena_printf(e->g->a, "%s.%s", S, RETURN_SCOPE), st->value);
            if (r.kind == V_NUM || r.kind == V_SYM) {
                diag_error(e->d, st->value->span, "block '%s' must return a tensor, got %s", b->name,
                           r.kind == V_NUM ? "a number" : "a name");
                r = el_err;
            }
        }
    }
    return r;
}

/* Applies block bi to its matched arguments with parameter prefix S. `at`
 * is where it was applied (for errors and the "applied here" note), `span`
 * the whole call (the result's span). */
static val apply_block(elab *e, int bi, src_span at, src_span span, const val *slots, const char *S) {
    if (!may_apply(e, bi, at)) return el_err;
    const ast_block *b = e->blocks->b[bi].ast;
    int before = e->d->errors;
    block_frame f = enter_block(e, bi, S);
    val r = run_block_body(e, b, slots, S);
    leave_block(e, bi, &f);
    if (e->d->errors > before) {
        e->blocks->b[bi].failed = 1;
        diag_note(e->d, at, "in block '%s', applied here as '%s'", b->name, S);
        return el_err;
    }
    r.span = span;
    return r;
}

/* The prefix of the layer with call index k in the current statement, as
 * el_param_name makes it: the scope, with .k when the statement has
 * several layers. */
static const char *layer_prefix(elab *e, int k) {
    const char *scope = e->scope ? e->scope : "layer";
    return e->nlayers <= 1 ? scope : arena_printf(e->g->a, "%s.%d", scope, k);
}

/* f(args) for a block f: a layer of the statement, named like dense. */
static val call_block(elab *e, int bi, const ast_expr *x) {
    const ast_block *b = e->blocks->b[bi].ast;
    blk_arg *args = arena_alloc(e->g->a, sizeof *args * (size_t)(x->nargs + 1));
    int ok = 1;
    for (int i = 0; i < x->nargs; i++) {
        args[i] = (blk_arg){x->args[i].name, x->args[i].name_span, eval(e, x->args[i].value)};
        ok &= args[i].v.kind != V_ERR;
    }
    int k = e->ncalls++;
    val *slots = new_slots(e, b, x->span);
    if (!ok || !match_block_args(e, b, args, x->nargs, 0, x->span, slots)) return el_err;
    return apply_block(e, bi, x->name_span, x->span, slots, layer_prefix(e, k));
}

/* The arguments of stack(x, block, n, args...): its own three by position
 * or name, the others for the block. */
typedef struct stack_args {
    const ast_arg *own[3]; /* x, block, n */
    blk_arg *extra;        /* for the block, evaluated */
    int nextra;
} stack_args;

static int split_stack_args(elab *e, const builtin *sb, const ast_expr *x, stack_args *sa) {
    int pos = 0, ok = 1;
    memset(sa, 0, sizeof *sa);
    sa->extra = arena_alloc(e->g->a, sizeof *sa->extra * (size_t)(x->nargs + 1));
    for (int i = 0; i < x->nargs; i++) {
        const ast_arg *a = &x->args[i];
        int k = a->name ? param_index(sb, a->name) : pos < 3 ? pos++ : -1;
        if (k < 0) {
            sa->extra[sa->nextra++] = (blk_arg){a->name, a->name_span, eval(e, a->value)};
            ok &= sa->extra[sa->nextra - 1].v.kind != V_ERR;
        } else if (sa->own[k]) {
            diag_error(e->d, a->name ? a->name_span : a->value->span, "stack: argument '%s' given twice", sb->params[k]);
            ok = 0;
        } else {
            sa->own[k] = a;
        }
    }
    for (int k = 0; k < 3; k++)
        if (!sa->own[k]) {
            diag_error(e->d, x->span, "stack: missing argument '%s'", sb->params[k]);
            ok = 0;
        }
    return ok;
}

/* The block named by stack's `block` argument, or -1 (reported). */
static int stack_block(elab *e, const ast_expr *name) {
    if (name->kind != EX_NAME) {
        diag_error(e->d, name->span, "stack: argument 'block' must be the name of a block%s",
                   name->kind == EX_CALL ? ", without arguments" : "");
        return -1;
    }
    int bi = find_block(e, name->name);
    if (bi >= 0 && e->blocks->b[bi].ast->nparams == 0)
        diag_error(e->d, name->span, "stack: block '%s' takes no arguments, so it cannot take the input", name->name);
    else if (bi < 0 && find_builtin(name->name))
        diag_error(e->d, name->span, "stack: '%s' is a built-in op, not a block", name->name);
    else if (bi < 0)
        unknown(e, name->span, "block", name->name, 3);
    return bi >= 0 && e->blocks->b[bi].ast->nparams > 0 ? bi : -1;
}

/* stack(x, block, n, args...): block applied n times in sequence, copy i
 * with its own parameters S.i (an nn.Sequential of n modules). */
static val stack_call(elab *e, const builtin *sb, const ast_expr *x) {
    stack_args sa;
    int ok = split_stack_args(e, sb, x, &sa);
    val xv = ok ? eval(e, sa.own[0]->value) : el_err;
    val nv = ok ? eval(e, sa.own[2]->value) : el_err;
    int bi = ok ? stack_block(e, sa.own[1]->value) : -1;
    int k = e->ncalls++;
    int64_t n = 0;
    ok = ok && bi >= 0 && el_want_tensor(e, sb, &xv, 0);
    ok = ok && el_want_int(e, sb, &nv, 2, 1, &n);
    if (!ok) return el_err;
    const ast_block *b = e->blocks->b[bi].ast;
    val *slots = new_slots(e, b, x->span);
    slots[0] = xv;
    if (!match_block_args(e, b, sa.extra, sa.nextra, 1, x->span, slots)) return el_err;
    const char *S = layer_prefix(e, k);
    val cur = xv;
    for (int64_t i = 0; i < n; i++) {
        slots[0] = cur;
        cur = apply_block(e, bi, sa.own[1]->value->span, x->span, slots, arena_printf(e->g->a, "%s.%lld", S, (long long)i));
        if (cur.kind != V_TENSOR) return el_err;
    }
    return cur;
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
    e->blocks->napplied = 0;
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
    elab_blocks blocks = {0};
    e.g = g;
    e.d = d;
    e.blocks = &blocks;
    int before = d->errors;
    init_blocks(&e, p);
    consts(&e, p, defs, ndefs);
    blocks.nconst = e.env.len;
    for (int i = 0; i < blocks.n; i++) check_block(&e, i);
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
