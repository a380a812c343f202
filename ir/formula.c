/* formula.c — the scalar formulas of ops.def's elementwise rows, read as
 * expressions and evaluated in double precision: the constant folder
 * computes exactly the formula the emitters print.
 *
 * Grammar (C's precedence and meaning; integer literals only, as the
 * emitters print the formula for f32 and f64 alike):
 *
 *   cond    := cmp [ '?' cond ':' cond ]
 *   cmp     := sum [ ('>' | '<' | '>=' | '<=' | '==' | '!=') sum ]
 *   sum     := product { ('+' | '-') product }
 *   product := unary { ('*' | '/') unary }
 *   unary   := '-' unary | primary
 *   primary := number | 'a' | 'b' | 'p' | 'q' | fn '(' cond { ',' cond } ')' | '(' cond ')'
 *
 * a, b are the operands, p, q the node's fattr[0], fattr[1]; fn is one of
 * the <math.h> functions in the table below. A division of two integer
 * subexpressions (C would truncate it) is rejected.
 */
#include "ir.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>

/* One tree node. kind: 'n' number, 'a' 'b' 'p' 'q' variables, '~' negation,
 * '+' '-' '*' '/' '<' '>' 'l' (<=) 'g' (>=) '=' '!' (!=) binary, '?' choice,
 * 'f' call of f1 (x) or f2 (x, y). */
struct ir_formula {
    char kind;
    int integer; /* an integer-valued expression of literals only */
    double v;
    double (*f1)(double);
    double (*f2)(double, double);
    const ir_formula *x, *y, *z;
};

static const struct {
    const char *name;
    double (*f1)(double);
    double (*f2)(double, double);
} functions[] = {
    {"exp", exp, NULL},   {"log", log, NULL},     {"tanh", tanh, NULL}, {"erf", erf, NULL},
    {"expm1", expm1, NULL}, {"log1p", log1p, NULL}, {"sqrt", sqrt, NULL}, {"fabs", fabs, NULL},
    {"sin", sin, NULL},   {"cos", cos, NULL},     {"pow", NULL, pow},   {"fmax", NULL, fmax},
    {"fmin", NULL, fmin},
};

typedef struct parser {
    const char *p;   /* next character */
    arena *a;
    const char *err; /* first error, or NULL */
} parser;

static ir_formula *fail(parser *ps, const char *what) {
    if (!ps->err) ps->err = arena_printf(ps->a, "%s at '%s'", what, *ps->p ? ps->p : "the end");
    return NULL;
}

static void skip_space(parser *ps) {
    while (isspace((unsigned char)*ps->p)) ps->p++;
}

/* Consume tok (after spaces) if it comes next. */
static int accept(parser *ps, const char *tok) {
    skip_space(ps);
    size_t n = strlen(tok);
    if (strncmp(ps->p, tok, n)) return 0;
    ps->p += n;
    return 1;
}

/* The next of the one-character operators ops, consumed, or 0. */
static char accept_of(parser *ps, const char *ops) {
    skip_space(ps);
    if (!*ps->p || !strchr(ops, *ps->p)) return 0;
    return *ps->p++;
}

/* A node over x (and y); NULL if an operand is missing. */
static ir_formula *node(parser *ps, char kind, const ir_formula *x, const ir_formula *y) {
    int binary = strchr("+-*/<>lg=!?", kind) != NULL;
    if (!x || (binary && !y)) return NULL;
    ir_formula *f = arena_alloc(ps->a, sizeof *f);
    f->kind = kind;
    f->x = x;
    f->y = y;
    /* C's comparisons are ints; arithmetic of integer literals stays one */
    f->integer = strchr("<>lg=!", kind) || (x->integer && (!y || y->integer));
    if (kind == '/' && f->integer) return fail(ps, "division of integers (C truncates it)");
    return f;
}

static const ir_formula *parse_cond(parser *ps);

static const ir_formula *parse_number(parser *ps) {
    char *end;
    ir_formula *f = arena_alloc(ps->a, sizeof *f);
    f->kind = 'n';
    f->v = strtod(ps->p, &end);
    f->integer = strspn(ps->p, "0123456789") == (size_t)(end - ps->p);
    ps->p = end;
    return f;
}

/* '(' cond [ ',' cond ] ')' after the name of function i. */
static const ir_formula *parse_args(parser *ps, int i) {
    if (!accept(ps, "(")) return fail(ps, "expected '('");
    const ir_formula *x = parse_cond(ps), *y = NULL;
    if (!x) return NULL;
    if (functions[i].f2 && !(accept(ps, ",") && (y = parse_cond(ps)))) return fail(ps, "expected a second argument");
    if (!accept(ps, ")")) return fail(ps, "expected ')'");
    ir_formula *f = node(ps, 'f', x, y);
    f->f1 = functions[i].f1;
    f->f2 = functions[i].f2;
    f->integer = 0;
    return f;
}

/* A variable or a call of the name s[0, len). */
static const ir_formula *parse_name(parser *ps, const char *s, size_t len) {
    if (len == 1 && strchr("abpq", *s)) {
        ir_formula *f = arena_alloc(ps->a, sizeof *f);
        f->kind = *s;
        return f;
    }
    for (int i = 0; i < (int)(sizeof functions / sizeof functions[0]); i++)
        if (strlen(functions[i].name) == len && !strncmp(functions[i].name, s, len)) return parse_args(ps, i);
    ps->p = s;
    return fail(ps, "unknown name");
}

static const ir_formula *parse_primary(parser *ps) {
    skip_space(ps);
    const char *s = ps->p;
    if (isdigit((unsigned char)*s)) return parse_number(ps);
    if (accept(ps, "(")) {
        const ir_formula *f = parse_cond(ps);
        if (f && !accept(ps, ")")) return fail(ps, "expected ')'");
        return f;
    }
    size_t len = 0;
    while (isalnum((unsigned char)s[len]) || s[len] == '_') len++;
    if (!len) return fail(ps, "expected an operand");
    ps->p += len;
    return parse_name(ps, s, len);
}

static const ir_formula *parse_unary(parser *ps) {
    if (accept(ps, "-")) return node(ps, '~', parse_unary(ps), NULL);
    return parse_primary(ps);
}

static const ir_formula *parse_product(parser *ps) {
    const ir_formula *f = parse_unary(ps);
    for (char op; f && (op = accept_of(ps, "*/"));) f = node(ps, op, f, parse_unary(ps));
    return f;
}

static const ir_formula *parse_sum(parser *ps) {
    const ir_formula *f = parse_product(ps);
    for (char op; f && (op = accept_of(ps, "+-"));) f = node(ps, op, f, parse_product(ps));
    return f;
}

/* One comparison at most: C would compare its 0/1 result again. */
static const ir_formula *parse_cmp(parser *ps) {
    static const char *const toks[] = {">=", "<=", "==", "!=", ">", "<"};
    static const char kinds[] = "gl=!><";
    const ir_formula *f = parse_sum(ps);
    for (int i = 0; f && i < 6; i++)
        if (accept(ps, toks[i])) return node(ps, kinds[i], f, parse_sum(ps));
    return f;
}

static const ir_formula *parse_cond(parser *ps) {
    const ir_formula *c = parse_cmp(ps);
    if (!c || !accept(ps, "?")) return c;
    const ir_formula *x = parse_cond(ps);
    if (x && !accept(ps, ":")) return fail(ps, "expected ':'");
    ir_formula *f = node(ps, '?', c, x);
    if (f && !(f->z = parse_cond(ps))) return NULL;
    if (f) f->integer = x->integer && f->z->integer;
    return f;
}

const ir_formula *ir_formula_parse(arena *a, const char *expr, const char **err) {
    parser ps = {expr, a, NULL};
    const ir_formula *f = parse_cond(&ps);
    skip_space(&ps);
    if (f && *ps.p) f = fail(&ps, "unexpected text");
    if (!f && !ps.err) fail(&ps, "malformed formula");
    if (err) *err = f ? NULL : arena_printf(a, "formula \"%s\": %s", expr, ps.err);
    return f;
}

/* Comparisons give 1 or 0, as in C. */
static double binary(char kind, double x, double y) {
    switch (kind) {
    case '+': return x + y;
    case '-': return x - y;
    case '*': return x * y;
    case '/': return x / y;
    case '<': return x < y;
    case '>': return x > y;
    case 'l': return x <= y;
    case 'g': return x >= y;
    case '=': return x == y;
    default: return x != y;
    }
}

double ir_formula_eval(const ir_formula *f, double a, double b, double p, double q) {
    switch (f->kind) {
    case 'n': return f->v;
    case 'a': return a;
    case 'b': return b;
    case 'p': return p;
    case 'q': return q;
    default: break;
    }
    double x = ir_formula_eval(f->x, a, b, p, q);
    if (f->kind == '?') return ir_formula_eval(x != 0 ? f->y : f->z, a, b, p, q);
    if (f->kind == '~') return -x;
    if (f->kind == 'f' && !f->f2) return f->f1(x);
    double y = ir_formula_eval(f->y, a, b, p, q);
    return f->kind == 'f' ? f->f2(x, y) : binary(f->kind, x, y);
}
