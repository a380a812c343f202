/* test_formula.c — CUnit tests of ir/formula.c, the evaluator of ops.def's
 * elementwise formulas that constant folding uses: every formula in the
 * table parses; the ones the folder had written out by hand before give the
 * same bits; the activations match <math.h> and their gradient ops are the
 * derivatives of the forward formulas; malformed formulas are rejected; and
 * every elementwise op folds.
 *
 * Built from the repository root against build/libnnc.a.
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../ir/ir.h"

/* The formula of op o, parsed (fails the test if it does not parse). */
static const ir_formula *formula_of(arena *a, ir_op o) {
    const char *err = NULL;
    const ir_formula *f = ir_formula_parse(a, ir_ops[o].expr, &err);
    if (!f) fprintf(stderr, "\n%s: %s\n", ir_ops[o].name, err);
    return f;
}

static double eval_op(arena *a, ir_op o, double x, double y, double p, double q) {
    const ir_formula *f = formula_of(a, o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    return ir_formula_eval(f, x, y, p, q);
}

/* Same bits, or both NaN. */
static int same(double x, double y) { return (isnan(x) && isnan(y)) || !memcmp(&x, &y, sizeof x); }

/* |x - y| within tol relative to max(1, |y|). */
static int close_to(double x, double y, double tol) { return fabs(x - y) <= tol * fmax(1, fabs(y)); }

static void test_every_formula_parses(void) {
    arena a;
    arena_init(&a);
    for (int o = 0; o < IR_NUM_OPS; o++) {
        ir_opclass c = ir_ops[o].cls;
        if (c == OPC_UNARY || c == OPC_BINARY) {
            CU_ASSERT_PTR_NOT_NULL(formula_of(&a, (ir_op)o));
        } else {
            CU_ASSERT_STRING_EQUAL(ir_ops[o].expr, ""); /* only elementwise rows have one */
        }
    }
    arena_free(&a);
}

/* The 14 cases eval.c wrote out by hand before it read ops.def. */
static double old_case(ir_op o, double a, double b) {
    switch (o) {
    case IR_COPY: return a;
    case IR_NEG: return -a;
    case IR_RELU: return a > 0 ? a : 0;
    case IR_SIGMOID: return 1 / (1 + exp(-a));
    case IR_TANH: return tanh(a);
    case IR_EXP: return exp(a);
    case IR_LOG: return log(a);
    case IR_ADD: return a + b;
    case IR_SUB: return a - b;
    case IR_MUL: return a * b;
    case IR_DIV: return a / b;
    case IR_RELU_GRAD: return b > 0 ? a : 0;
    case IR_SIGMOID_GRAD: return a * b * (1 - b);
    default: return a * (1 - b * b); /* IR_TANH_GRAD */
    }
}

static void test_old_cases_same_bits(void) {
    static const ir_op ops[] = {IR_COPY, IR_NEG,  IR_RELU, IR_SIGMOID, IR_TANH,      IR_EXP,          IR_LOG,
                                IR_ADD,  IR_SUB,  IR_MUL,  IR_DIV,     IR_RELU_GRAD, IR_SIGMOID_GRAD, IR_TANH_GRAD};
    static const double pts[] = {-3, -1.25, -0.5, -1e-300, 0, 1e-300, 0.3, 0.5, 1, 2.75, 40, 1e300};
    enum { NP = sizeof pts / sizeof pts[0] };
    arena a;
    arena_init(&a);
    int bad = 0;
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        const ir_formula *f = formula_of(&a, ops[k]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        for (int i = 0; i < NP; i++)
            for (int j = 0; j < NP; j++) {
                double got = ir_formula_eval(f, pts[i], pts[j], 0, 0), want = old_case(ops[k], pts[i], pts[j]);
                if (!same(got, want) && bad++ < 5)
                    fprintf(stderr, "\n%s(%g, %g) = %.17g, the old case gives %.17g\n", ir_ops[ops[k]].name, pts[i],
                            pts[j], got, want);
            }
    }
    CU_ASSERT_EQUAL(bad, 0);
    arena_free(&a);
}

/* gelu's p, q as the shape rules set them (ops.def). */
static const double RSQRT2 = 0.70710678118654752440, RSQRT2PI = 0.39894228040143267794;
static const double SQRT2_PI = 0.79788456080286535588;

static void test_activations_match_math(void) {
    static const double xs[] = {-2.5, -1, -0.25, 0.5, 1, 3};
    arena a;
    arena_init(&a);
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        double x = xs[i], ax = fabs(x);
        CU_ASSERT(close_to(eval_op(&a, IR_GELU, x, 0, RSQRT2, RSQRT2PI), x * erfc(-x * RSQRT2) / 2, 1e-15));
        double inner = SQRT2_PI * (x + 0.044715 * x * x * x);
        CU_ASSERT(close_to(eval_op(&a, IR_GELU_TANH, x, 0, SQRT2_PI, 0.044715), x / (1 + exp(-2 * inner)), 1e-15));
        CU_ASSERT(close_to(eval_op(&a, IR_SILU, x, 0, 0, 0), x / (1 + exp(-x)), 1e-15));
        CU_ASSERT(close_to(eval_op(&a, IR_LEAKY_RELU, x, 0, 0.01, 0), x > 0 ? x : 0.01 * x, 0));
        CU_ASSERT(close_to(eval_op(&a, IR_ELU, x, 0, 0.5, 0), x > 0 ? x : 0.5 * (exp(x) - 1), 1e-15));
        CU_ASSERT(close_to(eval_op(&a, IR_SQRT, ax, 0, 0, 0), sqrt(ax), 0));
        CU_ASSERT(close_to(eval_op(&a, IR_POW, ax, 0, 2.5, 0), ax * ax * sqrt(ax), 1e-15));
    }
    CU_ASSERT(isnan(eval_op(&a, IR_SQRT, -1, 0, 0, 0)));
    CU_ASSERT_EQUAL(eval_op(&a, IR_POW, 0, 0, 0, 0), 1);
    arena_free(&a);
}

/* Each gradient op at (dy, x) — or (dy, y) where it takes the output — is
 * dy times the central difference of its forward formula. */
static void test_gradient_ops_are_derivatives(void) {
    static const struct {
        ir_op fwd, grad;
        int takes_y; /* the gradient reads the forward output */
        double p, q;
    } pairs[] = {
        {IR_RELU, IR_RELU_GRAD, 0, 0, 0},
        {IR_SIGMOID, IR_SIGMOID_GRAD, 1, 0, 0},
        {IR_TANH, IR_TANH_GRAD, 1, 0, 0},
        {IR_GELU, IR_GELU_GRAD, 0, RSQRT2, RSQRT2PI},
        {IR_GELU_TANH, IR_GELU_TANH_GRAD, 0, SQRT2_PI, 0.044715},
        {IR_SILU, IR_SILU_GRAD, 0, 0, 0},
        {IR_LEAKY_RELU, IR_LEAKY_RELU_GRAD, 0, 0.2, 0},
        {IR_ELU, IR_ELU_GRAD, 0, 0.7, 0},
        {IR_SQRT, IR_SQRT_GRAD, 1, 0, 0},
        {IR_POW, IR_POW_GRAD, 0, 3.5, 0},
    };
    static const double xs[] = {0.2, 0.9, 1.7, -0.3, -1.1, -2.4}; /* sqrt, pow: the positive ones */
    const double dy = 1.3, h = 1e-5;
    arena a;
    arena_init(&a);
    for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++)
        for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
            double x = xs[i], p = pairs[k].p, q = pairs[k].q;
            if (x < 0 && (pairs[k].fwd == IR_SQRT || pairs[k].fwd == IR_POW)) continue;
            ir_op fwd = pairs[k].fwd;
            double y = eval_op(&a, fwd, x, 0, p, q);
            double num = (eval_op(&a, fwd, x + h, 0, p, q) - eval_op(&a, fwd, x - h, 0, p, q)) / (2 * h);
            double got = eval_op(&a, pairs[k].grad, dy, pairs[k].takes_y ? y : x, p, q);
            if (!close_to(got, dy * num, 1e-8))
                fprintf(stderr, "\n%s(%g, %g) = %.10g, numeric %.10g\n", ir_ops[pairs[k].grad].name, dy, x, got,
                        dy * num);
            CU_ASSERT(close_to(got, dy * num, 1e-8));
        }
    CU_ASSERT_EQUAL(eval_op(&a, IR_POW_GRAD, dy, 2, 0, 0), 0); /* pow(x, 0) is constant */
    arena_free(&a);
}

static void test_grammar(void) {
    static const struct {
        const char *expr;
        double want; /* at a = 2, b = -3, p = 0.5, q = 4 */
    } ok[] = {
        {"a - b * p", 3.5},  {"-a * -b", -6},       {"(a + b) / q", -0.25}, {"a > b ? a : b", 2},
        {"b >= 0 ? 1 : 0", 0}, {"p == 0.5", 1},       {"a != 2", 0},          {"a < b ? 1 : a <= 2 ? 7 : 8", 7},
        {"pow(a, q - 1)", 8}, {"fmax(a, b) + fmin(a, b)", -1}, {"fabs(b) + sqrt(q)", 5}, {"2 * q / 8", 1},
        {" 1.5e1 ", 15},
    };
    static const char *const bad[] = {"",        "a +",     "(a",      "a b",    "c",         "foo(a)",
                                      "pow(a)",  "exp a",   "a ? b",   "1 / 2",  "(a > 0) / 2", "a > b > q",
                                      "exp(a,",  "tanh()",  "a * ",    "3 * 4 / 2"};
    arena a;
    arena_init(&a);
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        const char *err = NULL;
        const ir_formula *f = ir_formula_parse(&a, ok[i].expr, &err);
        if (!f) fprintf(stderr, "\n%s\n", err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        CU_ASSERT_DOUBLE_EQUAL(ir_formula_eval(f, 2, -3, 0.5, 4), ok[i].want, 1e-12);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *err = NULL;
        CU_ASSERT_PTR_NULL(ir_formula_parse(&a, bad[i], &err));
        CU_ASSERT(err && strstr(err, "formula \"") == err);
    }
    arena_free(&a);
}

/* Every elementwise op of constants becomes a constant holding its formula's value. */
static void test_every_elementwise_op_folds(void) {
    arena a;
    arena_init(&a);
    ir_graph g;
    ir_graph_init(&g, &a, "t");
    int64_t d = 3;
    src_span at = {0};
    ir_node *x = ir_add_source(&g, IR_CONST, DT_F32, ir_shape_make(1, &d), NULL, at);
    ir_node *y = ir_add_source(&g, IR_CONST, DT_F32, ir_shape_make(1, &d), NULL, at);
    static double xv[3] = {0.5, 1.5, 2}, yv[3] = {-0.25, 0.75, 3};
    x->data = xv;
    y->data = yv;
    int made[IR_NUM_OPS], nmade = 0;
    ir_op op[IR_NUM_OPS];
    for (int o = 0; o < IR_NUM_OPS; o++) {
        if (ir_ops[o].cls != OPC_UNARY && ir_ops[o].cls != OPC_BINARY) continue;
        int in[2] = {x->id, y->id};
        double fa[4] = {0.5, 0.25, 0, 0};
        const char *err = NULL;
        ir_node *n = ir_add(&g, (ir_op)o, in, ir_ops[o].nin, NULL, fa, at, &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(n);
        op[nmade] = (ir_op)o;
        made[nmade++] = n->id;
    }
    CU_ASSERT_EQUAL(pass_fold(&g), nmade);
    for (int k = 0; k < nmade; k++) {
        ir_node *n = g.nodes.data[made[k]];
        CU_ASSERT_EQUAL_FATAL(n->op, IR_CONST);
        CU_ASSERT_EQUAL(n->nin, 0);
        const ir_formula *f = formula_of(&a, op[k]);
        for (int i = 0; i < 3; i++) {
            double b = ir_ops[op[k]].cls == OPC_BINARY ? yv[i] : xv[i];
            CU_ASSERT(same(n->data[i], ir_formula_eval(f, xv[i], b, n->fattr[0], n->fattr[1])));
        }
        if (op[k] == IR_GELU) /* its shape rule set its own p, q */
            CU_ASSERT(close_to(n->data[1], 1.5 * erfc(-1.5 * RSQRT2) / 2, 1e-15));
    }
    arena_free(&a);
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    static const struct {
        const char *name;
        CU_TestFunc fn;
    } tests[] = {
        {"every_formula_parses", test_every_formula_parses},
        {"old_cases_same_bits", test_old_cases_same_bits},
        {"activations_match_math", test_activations_match_math},
        {"gradient_ops_are_derivatives", test_gradient_ops_are_derivatives},
        {"grammar", test_grammar},
        {"every_elementwise_op_folds", test_every_elementwise_op_folds},
    };
    CU_pSuite suite = CU_add_suite("formula", NULL, NULL);
    for (size_t i = 0; suite && i < sizeof tests / sizeof tests[0]; i++)
        if (!CU_add_test(suite, tests[i].name, tests[i].fn)) suite = NULL;
    if (!suite) {
        CU_cleanup_registry();
        return 2;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    int failed = CU_get_number_of_failures() != 0;
    CU_cleanup_registry();
    return failed;
}
