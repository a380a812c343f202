/* elab_expr.c — expressions: what an expression of the language is worth.
 *
 * Values (el_num, el_tensor, the poison el_err), numbers and constant
 * arithmetic (folded here, with integer-ness tracked), names (bindings,
 * symbols such as `he`, and the error for an op named without a call),
 * tensor literals (CONST nodes), arithmetic on tensors (IR ops, numbers
 * becoming scalar constants), and the layer count of a statement's
 * expression that decides how its layers name their parameters. Calls are
 * in elab_call.c.
 */
#include "elab_impl.h"

#include <math.h>

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

/* The domain error of name(a[, b]), or NULL. */
static const char *math_domain(elab *e, const char *name, double a, double b) {
    if (!strcmp(name, "sqrt") && a < 0) return arena_printf(e->g->a, "sqrt of the negative number %g", a);
    if (!strcmp(name, "log") && a < 0) return arena_printf(e->g->a, "log of the negative number %g", a);
    if (!strcmp(name, "log") && a == 0) return "log of 0 (minus infinity)";
    if (!strcmp(name, "pow") && a < 0 && b != floor(b))
        return arena_printf(e->g->a, "pow of the negative number %g to the non-integer power %g", a, b);
    if (!strcmp(name, "pow") && a == 0 && b < 0) return arena_printf(e->g->a, "pow(0, %g) divides by zero", b);
    return NULL;
}

/* Function k of el_const_math's names at (x, y). */
static double math_value(int k, double x, double y) {
    switch (k) {
    case 0: return sqrt(x);
    case 1: return exp(x);
    case 2: return log(x);
    case 3: return pow(x, y);
    case 4: return fmin(x, y);
    default: return fmax(x, y);
    }
}

int el_const_math(elab *e, const builtin *b, const ast_expr *call, const val *args, val *out) {
    static const char *const names[] = {"sqrt", "exp", "log", "pow", "min", "max"};
    int k = 0, two = !strcmp(b->name, "pow") || !strcmp(b->name, "min") || !strcmp(b->name, "max");
    while (k < 6 && strcmp(b->name, names[k])) k++;
    if (k == 6 || args[0].kind != V_NUM || (two && args[1].kind != V_NUM)) return 0;
    double x = args[0].num, y = two ? args[1].num : 0;
    const char *bad = math_domain(e, b->name, x, y);
    double r = math_value(k, x, y);
    if (!bad && !isfinite(r))
        bad = two ? arena_printf(e->g->a, "%s(%g, %g) overflows", b->name, x, y)
                  : arena_printf(e->g->a, "%s(%g) overflows", b->name, x);
    if (bad) {
        diag_error(e->d, call->span, "%s in a constant expression", bad);
        return *out = el_err, 1;
    }
    *out = el_num(r, call->span);
    out->is_int &= args[0].is_int && (!two || args[1].is_int); /* as for + - * / */
    return 1;
}

/* Flatten a nested list literal into values and shape. */
static int literal(elab *e, const ast_expr *x, int depth, ir_shape *s, dvec *out) {
    if (x->kind != EX_LIST) {
        val v = el_eval(e, x);
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
    binding *b = el_lookup(e, x->name);
    if (b) {
        val v = b->v;
        v.span = x->span;
        return v;
    }
    const char *sym = el_symbol(x->name);
    if (sym) return (val){V_SYM, 0, 0, -1, sym, x->span};
    if (el_find_builtin(x->name) || el_find_block(e, x->name) >= 0) {
        diag_error(e->d, x->span, "'%s' is %s: call it as %s(...) or pipe into it with -> %s", x->name,
                   el_find_block(e, x->name) >= 0 ? "a block" : "an op", x->name, x->name);
        return el_err;
    }
    el_unknown(e, x->span, "name", x->name, 0);
    return el_err;
}

val el_eval(elab *e, const ast_expr *x) {
    switch (x->kind) {
    case EX_NUM: {
        val v = el_num(x->num, x->span);
        v.is_int &= x->is_int;
        return v;
    }
    case EX_NAME: return eval_name(e, x);
    case EX_CALL: return el_eval_call(e, x);
    case EX_BINOP: {
        val a = el_eval(e, x->lhs); /* left first: layers are numbered in reading order */
        val b = el_eval(e, x->rhs);
        return arith(e, x, x->op, a, b);
    }
    case EX_NEG: {
        val a = el_eval(e, x->lhs);
        if (a.kind == V_NUM) {
            val v = el_num(-a.num, x->span);
            v.is_int &= a.is_int;
            return v;
        }
        if (a.kind != V_TENSOR) return el_err;
        return el_apply(e, x, IR_NEG, &a, 1, NULL, NULL);
    }
    case EX_LIST: return eval_literal(e, x);
    case EX_INDEX: return el_eval_index(e, x);
    case EX_SLICE: /* only inside an index (the grammar's subscript) */
    case EX_ELLIPSIS: return el_err;
    }
    return el_err;
}

/* Count layers (dense, blocks, stack, ...) in an expression, for parameter
 * naming. */
int el_count_layers(elab *e, const ast_expr *x) {
    if (!x) return 0;
    const builtin *b = x->kind == EX_CALL ? el_find_builtin(x->name) : NULL;
    int n = (b && b->layer) || (x->kind == EX_CALL && el_find_block(e, x->name) >= 0);
    for (int i = 0; x->kind == EX_CALL && i < x->nargs; i++) n += el_count_layers(e, x->args[i].value);
    if (x->kind == EX_BINOP || x->kind == EX_NEG) n += el_count_layers(e, x->lhs) + el_count_layers(e, x->rhs);
    for (int i = 0; (x->kind == EX_LIST || x->kind == EX_INDEX) && i < x->nelems; i++)
        n += el_count_layers(e, x->elems[i]);
    if (x->kind == EX_INDEX) n += el_count_layers(e, x->lhs);
    if (x->kind == EX_SLICE) n += el_count_layers(e, x->lhs) + el_count_layers(e, x->rhs) + el_count_layers(e, x->step);
    return n;
}

val el_eval_stmt_expr(elab *e, const char *scope, const ast_expr *x) {
    e->scope = scope;
    e->nlayers = el_count_layers(e, x);
    e->ncalls = 0;
    return el_eval(e, x);
}
