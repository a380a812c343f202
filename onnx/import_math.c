/* import_math.c — elementwise ops, activations, reductions and softmax. Ops the language lacks
 * are written with the ones it has: Abs is relu(x) + relu(-x), Max(a, b) is a + relu(b - a),
 * HardSigmoid two relus, Sinh and friends exp and log. Binary ops on two constants fold. */
#include "import.h"
#include <math.h>
#include <stdlib.h>

/* tmpl with every '@' replaced by x */
static const char *subst(imp *im, const char *tmpl, const char *x) {
    const char *s = "";
    for (const char *p = tmpl; *p; p++)
        s = *p == '@' ? arena_printf(&im->a, "%s%s", s, x) : arena_printf(&im->a, "%s%c", s, *p);
    return s;
}

/* the f32 input 0 as a .nn name */
static const char *x_name(imp *im, ival **xv) {
    ival *x = *xv = imp_req(im, 0);
    return x && imp_float(im, x) ? imp_tensor(im, x) : NULL;
}

static int unary(imp *im, const char *tmpl) {
    ival *x;
    const char *e = x_name(im, &x);
    return e ? imp_out(im, 0, subst(im, tmpl, e), x->rank, x->dims) : -1;
}

static int op_relu(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    return unary(im, "relu(@)");
}
static int op_sigmoid(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    return unary(im, "sigmoid(@)");
}
static int op_tanh(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    return unary(im, "tanh(@)");
}
static int op_exp(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    return unary(im, "exp(@)");
}
static int op_log(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    return unary(im, "log(@)");
}
static int op_sqrt(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    return unary(im, "sqrt(@)");
}
/* a unary op on a constant, folded (shape arithmetic: Neg, Abs, Identity) */
static int fold_unary(imp *im, double sign, int absolute) {
    ival *x = imp_req(im, 0);
    if (!x) return -1;
    int64_t k = imp_numel(x->rank, x->dims);
    double *c = arena_alloc(&im->a, (size_t)(k ? k : 1) * sizeof *c);
    for (int64_t i = 0; i < k; i++) c[i] = sign * (absolute && x->c[i] < 0 ? -x->c[i] : x->c[i]);
    int r = imp_const_out(im, 0, x->rank, x->dims, c);
    ival *o = im->node->n_output ? imp_find(im, im->node->output[0]) : NULL;
    if (o) o->dtype = x->dtype;
    return r;
}

static int is_const(imp *im) {
    ival *x = imp_in(im, 0);
    return x && x->c;
}

static int op_neg(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    return is_const(im) ? fold_unary(im, -1, 0) : unary(im, "-@");
}
static int op_abs(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    return is_const(im) ? fold_unary(im, 1, 1) : unary(im, "relu(@) + relu(-@)");
}
static int op_recip(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    return unary(im, "1 / @");
}
static int op_softplus(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    return unary(im, "log(exp(@) + 1)");
}
static int op_softsign(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    return unary(im, "@ / (relu(@) + relu(-@) + 1)");
}
static int op_sinh(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    return unary(im, "(exp(@) - exp(-@)) / 2");
}
static int op_cosh(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    return unary(im, "(exp(@) + exp(-@)) / 2");
}
static int op_asinh(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    return unary(im, "log(@ + sqrt(@ * @ + 1))");
}
static int op_acosh(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    return unary(im, "log(@ + sqrt(@ * @ - 1))");
}
static int op_atanh(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    return unary(im, "log((1 + @) / (1 - @)) / 2");
}
static int op_identity(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    return is_const(im) ? fold_unary(im, 1, 0) : unary(im, "@");
}

static int op_elu(imp *im, const Onnx__NodeProto *n) {
    return unary(im, arena_printf(&im->a, "elu(@, alpha = %s)", imp_num(im, imp_af(n, "alpha", 1.0))));
}

static int op_leaky(imp *im, const Onnx__NodeProto *n) {
    return unary(im, arena_printf(&im->a, "leaky_relu(@, slope = %s)", imp_num(im, imp_af(n, "alpha", 0.01))));
}

static int op_selu(imp *im, const Onnx__NodeProto *n) {
    const char *a = imp_num(im, imp_af(n, "alpha", 1.67326319217681884765625));
    const char *g = imp_num(im, imp_af(n, "gamma", 1.05070102214813232421875));
    return unary(im, arena_printf(&im->a, "%s * elu(@, alpha = %s)", g, a));
}

static int op_celu(imp *im, const Onnx__NodeProto *n) {
    const char *a = imp_num(im, imp_af(n, "alpha", 1.0));
    return unary(im, arena_printf(&im->a, "%s * elu(@ / %s)", a, a));
}

/* relu(t) - relu(t - 1) of t = alpha x + beta: max(0, min(1, t)) */
static const char *hard_sigmoid(imp *im, double alpha, double beta) {
    const char *t = arena_printf(&im->a, "%s * @ + %s", imp_num(im, alpha), imp_num(im, beta));
    return arena_printf(&im->a, "(relu(%s) - relu(%s - 1))", t, t);
}

static int op_hardsigmoid(imp *im, const Onnx__NodeProto *n) {
    return unary(im, hard_sigmoid(im, imp_af(n, "alpha", 0.2), imp_af(n, "beta", 0.5)));
}

static int op_hardswish(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    return unary(im, arena_printf(&im->a, "@ * %s", hard_sigmoid(im, 1.0 / 6, 0.5)));
}

static int op_dropout(imp *im, const Onnx__NodeProto *n) {
    ival *mode = imp_in(im, 2);
    if (n->n_output > 1 && n->output[1][0]) return imp_fail(im, "the mask output of Dropout is not supported");
    ival *ratio = imp_in(im, 1);
    int zero = ratio && ratio->c && ratio->c[0] == 0; /* training with ratio 0 keeps everything */
    if (mode && (!mode->c || mode->c[0] != 0) && !zero)
        return imp_fail(im, "Dropout in training mode is not supported (nnc's dropout draws its own mask)");
    return unary(im, "@");
}

static int op_castlike(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    ival *x = imp_req(im, 0), *like = x ? imp_req(im, 1) : NULL;
    if (!like) return -1;
    if (!imp_dtype_ok(like->dtype) || (!x->c && !imp_dtype_ok(x->dtype)))
        return imp_fail(im, "a CastLike from %s to %s is not supported (nnc computes in f32)", imp_dtype_name(x->dtype),
                        imp_dtype_name(like->dtype));
    return unary(im, "@");
}

static int op_cast(imp *im, const Onnx__NodeProto *n) {
    int64_t to = imp_ai(n, "to", 0);
    ival *x = imp_req(im, 0);
    if (!x) return -1;
    if (x->c) return imp_const_out(im, 0, x->rank, x->dims, x->c);
    if (to != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT || !imp_dtype_ok(x->dtype))
        return imp_fail(im, "a Cast from %s to %s is not supported (nnc computes in f32)", imp_dtype_name(x->dtype),
                        imp_dtype_name((int)to));
    return unary(im, "@");
}

/* ---- binary and variadic ------------------------------------------------ */

static double fold(char op, double a, double b) {
    switch (op) {
    case '+': return a + b;
    case '-': return a - b;
    case '*': return a * b;
    case '/': return a / b;
    case '>': return a > b ? a : b;
    case '<': return a < b ? a : b;
    case '=': return a == b;
    case 'l': return a < b;
    case 'g': return a > b;
    case 'L': return a <= b;
    case 'G': return a >= b;
    case '&': return a != 0 && b != 0;
    case '|': return a != 0 || b != 0;
    default: return (a != 0) != (b != 0); /* '^' */
    }
}

static int fold_out(imp *im, char op, const ival *a, const ival *b, int rank, const int64_t *dims) {
    int64_t n = imp_numel(rank, dims);
    double *c = imp_values(im, n);
    if (!c) return -1;
    for (int64_t i = 0; i < n; i++)
        c[i] = fold(op, a->c[imp_bindex(a, rank, dims, i)], b->c[imp_bindex(b, rank, dims, i)]);
    int r = imp_const_out(im, 0, rank, dims, c);
    ival *o = im->node->n_output ? imp_find(im, im->node->output[0]) : NULL;
    if (o) o->dtype = a->dtype;
    return r;
}

/* e usable twice: a name or a number as it is, anything else bound to a name first */
static const char *once(imp *im, const char *e) {
    static const char word[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+";
    int number = e[0] == '(' && e[1] == '-' && strspn(e + 2, word) == strlen(e) - 3;
    return strspn(e, word) == strlen(e) || number ? e : imp_let(im, e);
}

static const char *combine(imp *im, char op, const char *a, const char *b) {
    if (op == '>') {
        a = once(im, a);
        return arena_printf(&im->a, "%s + relu(%s - %s)", a, b, a);
    }
    if (op == '<') {
        a = once(im, a);
        return arena_printf(&im->a, "%s - relu(%s - %s)", a, a, b);
    }
    return arena_printf(&im->a, "%s %c %s", a, op, b);
}

/* a OP b with numpy broadcasting into *out's shape; the expression, or NULL after an error */
static const char *binary(imp *im, char op, ival *a, ival *b, int *rank, int64_t *dims) {
    if (imp_bcast(im, a, b, rank, dims)) return NULL;
    if (!imp_float(im, a) || !imp_float(im, b)) return NULL;
    const char *ea = imp_operand(im, a, *rank, dims), *eb = ea ? imp_operand(im, b, *rank, dims) : NULL;
    return eb ? combine(im, op, ea, eb) : NULL;
}

static int binop(imp *im, char op) {
    ival *a = imp_req(im, 0), *b = a ? imp_req(im, 1) : NULL;
    int rank;
    int64_t dims[IMP_MAX_RANK];
    if (!b) return -1;
    if (a->c && b->c) return imp_bcast(im, a, b, &rank, dims) ? -1 : fold_out(im, op, a, b, rank, dims);
    const char *e = binary(im, op, a, b, &rank, dims);
    return e ? imp_out(im, 0, e, rank, dims) : -1;
}

/* comparisons and logic fold on constants; nnc has no comparisons of tensors */
static int compare(imp *im, char op) {
    ival *a = imp_req(im, 0), *b = a ? imp_req(im, 1) : NULL;
    int rank;
    int64_t dims[IMP_MAX_RANK];
    if (!b) return -1;
    if (!a->c || !b->c) return imp_fail(im, "comparisons and logic ops of tensors are not supported (nnc has none)");
    if (imp_bcast(im, a, b, &rank, dims) || fold_out(im, op, a, b, rank, dims)) return -1;
    imp_find(im, im->node->output[0])->dtype = ONNX__TENSOR_PROTO__DATA_TYPE__BOOL;
    return 0;
}

static int op_equal(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    return compare(im, '=');
}
static int op_less(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    return compare(im, 'l');
}
static int op_greater(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    return compare(im, 'g');
}
static int op_lesseq(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    return compare(im, 'L');
}
static int op_greatereq(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    return compare(im, 'G');
}
static int op_and(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    return compare(im, '&');
}
static int op_or(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    return compare(im, '|');
}
static int op_xor(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    return compare(im, '^');
}

static int op_add(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    return binop(im, '+');
}
static int op_sub(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    return binop(im, '-');
}
static int op_mul(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    return binop(im, '*');
}
static int op_div(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    return binop(im, '/');
}

/* Sum, Mean, Max, Min of one or more inputs */
static int variadic(imp *im, const Onnx__NodeProto *n, char op, int mean) {
    ival *acc = imp_req(im, 0);
    for (int i = 1; acc && i < (int)n->n_input; i++) {
        ival *b = imp_req(im, i), *t = arena_alloc(&im->a, sizeof *t);
        if (!b) return -1;
        const char *e = binary(im, op, acc, b, &t->rank, t->dims);
        if (!e) return -1;
        t->onnx = acc->onnx;
        t->dtype = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
        t->nn = imp_let(im, e);
        acc = t;
    }
    if (!acc || !imp_float(im, acc)) return -1;
    const char *e = imp_tensor(im, acc);
    if (mean && n->n_input > 1) e = arena_printf(&im->a, "%s / %d", e, (int)n->n_input);
    return imp_out(im, 0, e, acc->rank, acc->dims);
}

static int op_sum(imp *im, const Onnx__NodeProto *n) { return variadic(im, n, '+', 0); }
static int op_mean(imp *im, const Onnx__NodeProto *n) { return variadic(im, n, '+', 1); }
static int op_max(imp *im, const Onnx__NodeProto *n) { return variadic(im, n, '>', 0); }
static int op_min(imp *im, const Onnx__NodeProto *n) { return variadic(im, n, '<', 0); }

/* PRelu: relu(x) - slope * relu(-x), the slope broadcast to x */
static int op_prelu(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    ival *x;
    const char *e = x_name(im, &x);
    ival *s = e ? imp_req(im, 1) : NULL;
    int rank;
    int64_t dims[IMP_MAX_RANK];
    if (!s || imp_bcast(im, x, s, &rank, dims)) return -1;
    const char *xe = imp_fit(im, e, x->rank, x->dims, rank, dims), *se = imp_operand(im, s, rank, dims);
    if (!se) return -1;
    xe = once(im, xe);
    return imp_out(im, 0, arena_printf(&im->a, "relu(%s) - %s * relu(-%s)", xe, once(im, se), xe), rank, dims);
}

static int op_pow(imp *im, const Onnx__NodeProto *n) {
    (void)n;
    ival *x, *y = imp_req(im, 1);
    const char *e = y ? x_name(im, &x) : NULL;
    if (!e) return -1;
    if (y->c && imp_numel(y->rank, y->dims) == 1 && y->rank <= x->rank && imp_num(im, y->c[0]))
        return imp_out(im, 0, arena_printf(&im->a, "pow(%s, %s)", e, imp_num(im, y->c[0])), x->rank, x->dims);
    return imp_fail(im, "Pow with a tensor exponent is not supported (nnc's pow takes a constant number)");
}

/* Clip: min and max from the inputs (opset 11) or the attributes */
static int op_clip(imp *im, const Onnx__NodeProto *n) {
    ival *x, *lo = imp_in(im, 1), *hi = imp_in(im, 2);
    const char *e = x_name(im, &x);
    double l = imp_af(n, "min", -INFINITY), h = imp_af(n, "max", INFINITY);
    if (!e) return -1;
    if ((lo && !lo->c) || (hi && !hi->c))
        return imp_fail(im, "bound '%s' must be an initializer or a constant", (lo && !lo->c ? lo : hi)->onnx);
    if (lo) l = lo->c[0];
    if (hi) h = hi->c[0];
    if (isfinite(l)) e = arena_printf(&im->a, "%s + relu(%s - %s)", imp_num(im, l), e, imp_num(im, l));
    if (isfinite(h)) e = once(im, e), e = arena_printf(&im->a, "%s - relu(%s - %s)", imp_num(im, h), imp_num(im, h), e);
    return imp_out(im, 0, e, x->rank, x->dims);
}

const imp_op imp_ops_math[] = {{"Relu", op_relu},
                               {"Sigmoid", op_sigmoid},
                               {"Tanh", op_tanh},
                               {"Exp", op_exp},
                               {"Log", op_log},
                               {"Sqrt", op_sqrt},
                               {"Neg", op_neg},
                               {"Abs", op_abs},
                               {"Reciprocal", op_recip},
                               {"Softplus", op_softplus},
                               {"Softsign", op_softsign},
                               {"Sinh", op_sinh},
                               {"Cosh", op_cosh},
                               {"Asinh", op_asinh},
                               {"Acosh", op_acosh},
                               {"Atanh", op_atanh},
                               {"Identity", op_identity},
                               {"Elu", op_elu},
                               {"LeakyRelu", op_leaky},
                               {"Selu", op_selu},
                               {"Celu", op_celu},
                               {"HardSigmoid", op_hardsigmoid},
                               {"HardSwish", op_hardswish},
                               {"Dropout", op_dropout},
                               {"Cast", op_cast},
                               {"CastLike", op_castlike},
                               {"Add", op_add},
                               {"Sub", op_sub},
                               {"Mul", op_mul},
                               {"Div", op_div},
                               {"Sum", op_sum},
                               {"Equal", op_equal},
                               {"Less", op_less},
                               {"Greater", op_greater},
                               {"LessOrEqual", op_lesseq},
                               {"GreaterOrEqual", op_greatereq},
                               {"And", op_and},
                               {"Or", op_or},
                               {"Xor", op_xor},
                               {"Mean", op_mean},
                               {"Max", op_max},
                               {"Min", op_min},
                               {"PRelu", op_prelu},
                               {"Pow", op_pow},
                               {"Clip", op_clip},
                               {NULL, NULL}};
