/* test_frontend.c — CUnit tests of the lexer and parser (frontend/), blocks
 * included.
 *
 * Every test parses a string with diagnostics captured in memory, then
 * checks the tree, the error count and the messages (text and line:col).
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#endif

#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "ast.h"

/* One parse: its arena, diagnostics and result. */
typedef struct parsed {
    arena a;       /* the AST */
    diag_ctx d;    /* diagnostics, printed into diag */
    ast_program p; /* the result */
    char *diag;    /* everything diag_error printed */
    size_t dlen;   /* its length */
    int errors;    /* what parse_program returned */
} parsed;

static int parse_n(parsed *r, const char *src, size_t len) {
    memset(r, 0, sizeof *r);
    FILE *f = open_memstream(&r->diag, &r->dlen);
    arena_init(&r->a);
    diag_init(&r->d, "t.nn", src, len, f, 0);
    r->d.max_errors = 0;
    r->errors = parse_program(src, len, &r->a, &r->d, &r->p);
    fclose(f);
    return r->errors;
}

static int parse(parsed *r, const char *src) { return parse_n(r, src, strlen(src)); }

static void done(parsed *r) {
    arena_free(&r->a);
    free(r->diag);
}

/* The AST as ast_print prints it (malloc'd). */
static char *ast_text(const ast_program *p) {
    char *s = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);
    ast_print(p, f);
    fclose(f);
    return s;
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(1 << 16);
    *len = fread(buf, 1, (1 << 16) - 1, f);
    buf[*len] = 0;
    fclose(f);
    return buf;
}

/* Parses an example file (from the repository root or tests/unit). */
static int parse_example(parsed *r, const char *name, char **buf) {
    char path[256];
    size_t len = 0;
    snprintf(path, sizeof path, "examples/%s", name);
    *buf = read_file(path, &len);
    if (!*buf) {
        snprintf(path, sizeof path, "../../examples/%s", name);
        *buf = read_file(path, &len);
    }
    CU_ASSERT_PTR_NOT_NULL_FATAL(*buf);
    return parse_n(r, *buf, len);
}

/* The value of the first statement of the first model. */
static const ast_expr *first_value(const parsed *r) {
    if (r->p.nmodels < 1 || r->p.models[0].nstmts < 1) return NULL;
    return r->p.models[0].stmts[0].value;
}

/* `src` ("model m { h = <expr> }") prints as `want` after "let h = ". */
static void check_expr(const char *expr, const char *want) {
    char src[512], line[512];
    parsed r;
    snprintf(src, sizeof src, "model m { h = %s }", expr);
    snprintf(line, sizeof line, "model m\n  let h = %s\n", want);
    CU_ASSERT_EQUAL(parse(&r, src), 0);
    char *got = ast_text(&r.p);
    CU_ASSERT_STRING_EQUAL(got, line);
    if (strcmp(got, line) != 0) fprintf(stderr, "\n  %s\n  got:  %s  want: %s", src, got, line);
    free(got);
    done(&r);
}

#define SPAN_IS(s, l, c, el, ec)                                             \
    do {                                                                     \
        CU_ASSERT_EQUAL((s).line, l);                                        \
        CU_ASSERT_EQUAL((s).col, c);                                         \
        CU_ASSERT_EQUAL((s).end_line, el);                                   \
        CU_ASSERT_EQUAL((s).end_col, ec);                                    \
    } while (0)

/* Parsing src gives n errors, and the output has "t.nn:where: error: " and
 * `text` (where is "line:col"). */
static void check_error(const char *src, int n, const char *where, const char *text) {
    parsed r;
    char head[64];
    parse(&r, src);
    snprintf(head, sizeof head, "t.nn:%s: error: ", where);
    int ok = r.errors == n && strstr(r.diag, head) && strstr(r.diag, text);
    CU_ASSERT(ok);
    if (!ok)
        fprintf(stderr, "\n  source: %s\n  want %d errors, '%s' '%s'\n  got %d:\n%s",
                src, n, head, text, r.errors, r.diag);
    done(&r);
}

/* ---- the examples -------------------------------------------------------- */

static void test_coffee(void) {
    parsed r;
    char *buf;
    CU_ASSERT_EQUAL(parse_example(&r, "coffee.nn", &buf), 0);
    CU_ASSERT_EQUAL_FATAL(r.p.nmodels, 1);
    CU_ASSERT_EQUAL(r.p.nconsts, 0);
    const ast_model *m = &r.p.models[0];
    CU_ASSERT_STRING_EQUAL(m->name, "coffee");
    SPAN_IS(m->name_span, 2, 7, 2, 13);
    SPAN_IS(m->span, 2, 1, 7, 2);
    CU_ASSERT_EQUAL_FATAL(m->nstmts, 4);
    const ast_stmt *s = m->stmts;
    CU_ASSERT_EQUAL(s[0].kind, ST_INPUT);
    CU_ASSERT_STRING_EQUAL(s[0].name, "x");
    SPAN_IS(s[0].name_span, 3, 12, 3, 13);
    SPAN_IS(s[0].span, 3, 5, 3, 25);
    SPAN_IS(s[0].type.span, 3, 16, 3, 25);
    CU_ASSERT_STRING_EQUAL(s[0].type.dtype, "f32");
    CU_ASSERT_EQUAL_FATAL(s[0].type.ndims, 2);
    CU_ASSERT_EQUAL(s[0].type.dims[1]->kind, EX_NUM);
    CU_ASSERT_EQUAL(s[0].type.dims[1]->is_int, 1);
    CU_ASSERT_EQUAL(s[0].type.dims[1]->num, 2);
    CU_ASSERT_EQUAL(s[1].kind, ST_PARAM);
    CU_ASSERT_EQUAL(s[2].kind, ST_PARAM);
    CU_ASSERT_EQUAL(s[3].kind, ST_OUTPUT);
    const ast_expr *w = s[1].value; /* [[-0.5], [-0.1]] */
    CU_ASSERT_EQUAL_FATAL(w->kind, EX_LIST);
    CU_ASSERT_EQUAL_FATAL(w->nelems, 2);
    CU_ASSERT_EQUAL(w->elems[0]->kind, EX_LIST);
    CU_ASSERT_EQUAL(w->elems[1]->elems[0]->kind, EX_NEG);
    CU_ASSERT_DOUBLE_EQUAL(w->elems[1]->elems[0]->lhs->num, 0.1, 1e-15);
    CU_ASSERT_EQUAL(w->elems[1]->elems[0]->lhs->is_int, 0);
    const ast_expr *p = s[3].value; /* sigmoid(matmul(x, w) + b) */
    CU_ASSERT_EQUAL_FATAL(p->kind, EX_CALL);
    CU_ASSERT_STRING_EQUAL(p->name, "sigmoid");
    CU_ASSERT_EQUAL(p->piped, 0);
    CU_ASSERT_EQUAL_FATAL(p->nargs, 1);
    CU_ASSERT_PTR_NULL(p->args[0].name);
    CU_ASSERT_EQUAL_FATAL(p->args[0].value->kind, EX_BINOP);
    CU_ASSERT_EQUAL(p->args[0].value->op, '+');
    CU_ASSERT_EQUAL(p->args[0].value->lhs->nargs, 2);
    SPAN_IS(p->span, 6, 16, 6, 41);
    SPAN_IS(p->name_span, 6, 16, 6, 23);
    SPAN_IS(p->args[0].value->span, 6, 24, 6, 40);
    done(&r);
    free(buf);
}

static void test_xor(void) {
    parsed r;
    char *buf;
    CU_ASSERT_EQUAL(parse_example(&r, "xor.nn", &buf), 0);
    CU_ASSERT_EQUAL_FATAL(r.p.nmodels, 1);
    const ast_model *m = &r.p.models[0];
    CU_ASSERT_STRING_EQUAL(m->name, "xor");
    CU_ASSERT_EQUAL_FATAL(m->nstmts, 6);
    const ast_stmt_kind kinds[] = {ST_INPUT, ST_TARGET, ST_LET, ST_OUTPUT, ST_LOSS, ST_TRAIN};
    for (int i = 0; i < 6; i++) CU_ASSERT_EQUAL(m->stmts[i].kind, kinds[i]);
    CU_ASSERT_STRING_EQUAL(m->stmts[2].name, "h");
    const ast_expr *loss = m->stmts[4].value;
    CU_ASSERT_STRING_EQUAL(loss->name, "mse");
    CU_ASSERT_EQUAL(loss->nargs, 2);
    const ast_expr *t = m->stmts[5].value; /* sgd(lr = 0.5, momentum = 0.9) */
    CU_ASSERT_EQUAL_FATAL(t->kind, EX_CALL);
    CU_ASSERT_STRING_EQUAL(t->name, "sgd");
    CU_ASSERT_EQUAL_FATAL(t->nargs, 2);
    CU_ASSERT_STRING_EQUAL(t->args[0].name, "lr");
    CU_ASSERT_STRING_EQUAL(t->args[1].name, "momentum");
    CU_ASSERT_DOUBLE_EQUAL(t->args[1].value->num, 0.9, 1e-15);
    SPAN_IS(t->args[1].name_span, 8, 25, 8, 33);
    SPAN_IS(m->stmts[5].span, 8, 5, 8, 40);
    done(&r);
    free(buf);
}

/* Checks that e is a piped call f with nargs arguments. */
static const ast_expr *piped(const ast_expr *e, const char *f, int nargs) {
    CU_ASSERT_EQUAL_FATAL(e->kind, EX_CALL);
    CU_ASSERT_STRING_EQUAL(e->name, f);
    CU_ASSERT_EQUAL(e->piped, 1);
    CU_ASSERT_EQUAL_FATAL(e->nargs, nargs);
    CU_ASSERT_PTR_NULL(e->args[0].name);
    return e->args[0].value;
}

static void test_digits(void) {
    parsed r;
    char *buf;
    CU_ASSERT_EQUAL(parse_example(&r, "digits_mlp.nn", &buf), 0);
    CU_ASSERT_EQUAL_FATAL(r.p.nconsts, 1);
    CU_ASSERT_STRING_EQUAL(r.p.consts[0].name, "B");
    CU_ASSERT_EQUAL(r.p.consts[0].value->num, 32);
    CU_ASSERT_EQUAL(r.p.consts[0].value->is_int, 1);
    SPAN_IS(r.p.consts[0].span, 2, 1, 2, 13);
    CU_ASSERT_EQUAL_FATAL(r.p.nmodels, 1);
    const ast_model *m = &r.p.models[0];
    CU_ASSERT_EQUAL_FATAL(m->nstmts, 7);
    CU_ASSERT_EQUAL(m->stmts[1].type.dims[0]->kind, EX_NAME);
    CU_ASSERT_STRING_EQUAL(m->stmts[1].type.dtype, "i32");
    /* image -> dense(128) -> relu -> dense(128) -> relu */
    const ast_expr *h = m->stmts[2].value;
    SPAN_IS(h->span, 6, 9, 6, 58);
    SPAN_IS(h->name_span, 6, 54, 6, 58);
    const ast_expr *e = piped(h, "relu", 1);
    CU_ASSERT_EQUAL(e->args[1].value->num, 128);
    e = piped(e, "dense", 2);
    e = piped(e, "relu", 1);
    const ast_expr *inner = e;
    e = piped(e, "dense", 2);
    CU_ASSERT_EQUAL(e->kind, EX_NAME);
    CU_ASSERT_STRING_EQUAL(e->name, "image");
    CU_ASSERT_EQUAL(inner->args[1].value->num, 128);
    SPAN_IS(inner->span, 6, 9, 6, 28);
    const ast_expr *adam = m->stmts[6].value;
    CU_ASSERT_STRING_EQUAL(adam->args[0].name, "lr");
    CU_ASSERT_DOUBLE_EQUAL(adam->args[0].value->num, 1e-3, 1e-18);
    CU_ASSERT_EQUAL(adam->args[0].value->is_int, 0);
    done(&r);
    free(buf);
}

static void test_print(void) {
    parsed r;
    char *buf;
    CU_ASSERT_EQUAL(parse_example(&r, "digits_mlp.nn", &buf), 0);
    char *s = ast_text(&r.p);
    CU_ASSERT_STRING_EQUAL(s,
        "const B = 32\n"
        "model digits_mlp\n"
        "  input image : f32[B, 64]\n"
        "  target digit : i32[B]\n"
        "  let h = (pipe relu (pipe dense (pipe relu (pipe dense image 128)) 128))\n"
        "  let logits = (call dense h 10)\n"
        "  output probs = (call softmax logits)\n"
        "  loss (call cross_entropy logits digit)\n"
        "  train (call adam lr=0.001)\n");
    free(s);
    done(&r);
    free(buf);
    CU_ASSERT_EQUAL(parse(&r, "model m { param w : f32[] output p "
                              "param v : f32[2] = [1.0, 2.5e2, 1e20] }"), 0);
    s = ast_text(&r.p);
    CU_ASSERT_STRING_EQUAL(s, "model m\n  param w : f32[]\n  output p\n"
                              "  param v : f32[2] = [1.0 250.0 1e+20]\n");
    free(s);
    done(&r);
}

/* ---- expressions ------------------------------------------------------------ */

static void test_numbers(void) {
    parsed r;
    CU_ASSERT_EQUAL(parse(&r, "const a = [32, 0.5, 1e-3, 2.5E+4, 007, 9223372036854775807, 1e-999]"), 0);
    const ast_expr *l = r.p.consts[0].value;
    CU_ASSERT_EQUAL_FATAL(l->nelems, 7);
    const double v[] = {32, 0.5, 1e-3, 2.5e4, 7, 9223372036854775807.0, 0};
    const int is_int[] = {1, 0, 0, 0, 1, 1, 0};
    for (int i = 0; i < 7; i++) {
        CU_ASSERT_EQUAL(l->elems[i]->kind, EX_NUM);
        CU_ASSERT_DOUBLE_EQUAL(l->elems[i]->num, v[i], v[i] * 1e-15);
        CU_ASSERT_EQUAL(l->elems[i]->is_int, is_int[i]);
    }
    SPAN_IS(l->elems[3]->span, 1, 27, 1, 33);
    done(&r);
}

static void test_unary_binary(void) {
    check_expr("a - -b", "(- a (neg b))");
    check_expr("-a * b", "(* (neg a) b)");
    check_expr("- a - b", "(- (neg a) b)");
    check_expr("--a", "(neg (neg a))");
    check_expr("-3", "(neg 3)");
    check_expr("a-1", "(- a 1)");
    parsed r;
    CU_ASSERT_EQUAL(parse(&r, "model m { h = a\n - b }"), 0); /* one statement */
    CU_ASSERT_EQUAL(r.p.models[0].nstmts, 1);
    CU_ASSERT_EQUAL(first_value(&r)->kind, EX_BINOP);
    SPAN_IS(first_value(&r)->span, 1, 15, 2, 5);
    done(&r);
}

static void test_precedence(void) {
    check_expr("a + b * c", "(+ a (* b c))");
    check_expr("a * b + c", "(+ (* a b) c)");
    check_expr("(a + b) * c", "(* (+ a b) c)");
    check_expr("a - b - c", "(- (- a b) c)");
    check_expr("a / b / c", "(/ (/ a b) c)");
    check_expr("a + b -> f", "(pipe f (+ a b))");
    check_expr("-x -> f", "(pipe f (neg x))");
    check_expr("a -> f(b, k = 2)", "(pipe f a b k=2)");
    check_expr("a -> f() -> g", "(pipe g (pipe f a))");
    check_expr("(a -> f) + b", "(+ (pipe f a) b)");
    check_expr("f(a -> g, k = b -> h)", "(call f (pipe g a) k=(pipe h b))");
    check_expr("f()", "(call f)");
    check_expr("f(k = 1, 2)", "(call f k=1 2)");
}

static void test_lists(void) {
    check_expr("[[1, 2], [3, 4],]", "[[1 2] [3 4]]");
    check_expr("[]", "[]");
    check_expr("[[[]]]", "[[[]]]");
    check_expr("[a + 1, f(x)]", "[(+ a 1) (call f x)]");
    parsed r;
    CU_ASSERT_EQUAL(parse(&r, "model m { h = [[1, 2], [3]] }"), 0);
    const ast_expr *l = first_value(&r);
    CU_ASSERT_EQUAL(l->nelems, 2);
    CU_ASSERT_EQUAL(l->elems[1]->nelems, 1);
    SPAN_IS(l->span, 1, 15, 1, 28);
    SPAN_IS(l->elems[1]->span, 1, 24, 1, 27);
    done(&r);
}

static void test_indexing(void) {
    check_expr("x[:, -1]", "(index x [(slice _ _ _) (neg 1)])");
    check_expr("x[..., 0]", "(index x [... 0])");
    check_expr("x[1:, 2:5, ::2]", "(index x [(slice 1 _ _) (slice 2 5 _) (slice _ _ 2)])");
    check_expr("x[a + 1:b:c]", "(index x [(slice (+ a 1) b c)])");
    check_expr("-x[0][1]", "(neg (index (index x [0]) [1]))");
    check_expr("f(x)[0] * 2", "(* (index (call f x) [0]) 2)");
    check_expr("[1, 2][0]", "(index [1 2] [0])");
    parsed r;
    CU_ASSERT_EQUAL(parse(&r, "model m { h = x[0, 1:2]\n y = x }"), 0); /* two statements */
    CU_ASSERT_EQUAL(r.p.models[0].nstmts, 2);
    const ast_expr *x = first_value(&r);
    SPAN_IS(x->span, 1, 15, 1, 24);
    SPAN_IS(x->elems[1]->span, 1, 20, 1, 23);
    done(&r);
    check_error("model m { y = x[] }", 1, "1:17", "unexpected ']', expecting an expression, '...' or ':'");
    check_error("model m { y = x[1 2] }", 1, "1:19", "unexpected number '2', expecting an operator, ':', ']' or ','");
    check_error("model m { y = x -> f[0] }", 1, "1:21", "unexpected '['"); /* index the pipe: (x -> f)[0] */
}

/* ---- statements and layout ------------------------------------------------- */

static void test_semicolons_and_layout(void) {
    parsed r;
    CU_ASSERT_EQUAL(parse(&r, "const B = 3; model m { input x : f32[B]; h = x; output h; }"), 0);
    CU_ASSERT_EQUAL(r.p.nconsts, 1);
    CU_ASSERT_EQUAL(r.p.models[0].nstmts, 3);
    done(&r);
    CU_ASSERT_EQUAL(parse(&r, "model m{input x:f32[2]h=x->relu output h loss h train sgd()}"), 0);
    CU_ASSERT_EQUAL(r.p.models[0].nstmts, 5);
    CU_ASSERT_EQUAL(r.p.models[0].stmts[1].value->piped, 1);
    done(&r);
    CU_ASSERT_EQUAL(parse(&r, "model\nm\n{\ninput\nx\n:\nf32\n[\n2\n]\noutput\np\n=\nx\n}\n"), 0);
    CU_ASSERT_EQUAL(r.p.models[0].nstmts, 2);
    SPAN_IS(r.p.models[0].stmts[0].span, 4, 1, 10, 2);
    done(&r);
}

static void test_statement_forms(void) {
    parsed r;
    CU_ASSERT_EQUAL(parse(&r, "model m { param w : f32[] param v : f32[1, 2] = [[1, 2]] "
                              "output a output b = a target t : i32[] }"), 0);
    const ast_stmt *s = r.p.models[0].stmts;
    CU_ASSERT_EQUAL_FATAL(r.p.models[0].nstmts, 5);
    CU_ASSERT_EQUAL(s[0].type.ndims, 0);
    CU_ASSERT_PTR_NULL(s[0].value);
    CU_ASSERT_PTR_NOT_NULL(s[1].value);
    CU_ASSERT_EQUAL(s[2].kind, ST_OUTPUT);
    CU_ASSERT_PTR_NULL(s[2].value);
    CU_ASSERT_PTR_NOT_NULL(s[3].value);
    CU_ASSERT_EQUAL(s[4].kind, ST_TARGET);
    done(&r);
    /* several models and consts, in source order */
    CU_ASSERT_EQUAL(parse(&r, "const a = 1 model m {} const b = a * 2 model n {}"), 0);
    CU_ASSERT_EQUAL(r.p.nconsts, 2);
    CU_ASSERT_EQUAL(r.p.nmodels, 2);
    CU_ASSERT_STRING_EQUAL(r.p.consts[1].name, "b");
    CU_ASSERT_STRING_EQUAL(r.p.models[1].name, "n");
    done(&r);
}

static void test_empty_and_comments(void) {
    parsed r;
    CU_ASSERT_EQUAL(parse(&r, ""), 0);
    CU_ASSERT_EQUAL(r.p.nmodels + r.p.nconsts, 0);
    done(&r);
    CU_ASSERT_EQUAL(parse(&r, "# only a comment"), 0);
    done(&r);
    CU_ASSERT_EQUAL(parse(&r, "# °C in a comment\n  \t\r\n# another\n"), 0);
    done(&r);
    CU_ASSERT_EQUAL(parse(&r, "model m { # comment } not closed\n}"), 0);
    CU_ASSERT_EQUAL(r.p.nmodels, 1);
    done(&r);
}

/* ---- lexical errors ----------------------------------------------------------- */

static void test_lex_errors(void) {
    check_error("model m { h = x @ y }", 1, "1:17", "unexpected character '@'");
    check_error("model m {\n  h = $x\n}", 1, "2:7", "unexpected character '$'");
    check_error("model m { h = x ° y }", 1, "1:17", "unexpected character '\\xC2\\xB0'");
    check_error("model m { h = 3abc }", 1, "1:15", "invalid number '3abc'");
    check_error("model m { h = 1e + 2 }", 1, "1:15", "malformed exponent in number '1e'");
    check_error("model m { h = 2.5e-x }", 1, "1:15", "malformed exponent");
    check_error("model m { h = 3. }", 1, "1:15", "expected a digit after '.'");
    check_error("model m { h = .5 }", 1, "1:15", "write '0.5'");
    check_error("model m { h = 1e999 }", 1, "1:15", "number out of range: '1e999'");
    check_error("model m { h = 99999999999999999999 }", 1, "1:15", "number out of range");
    check_error("model m { h = 9223372036854775808 }", 1, "1:15", "number out of range");
    check_error("model m { h = a > b }", 1, "1:17", "unexpected character '>'");
    /* a stray character costs one error, the rest of the file still parses */
    check_error("model m { h = x @ y } model n { output p }", 1, "1:17", "'@'");
    parsed r;
    parse(&r, "model m { h = x @ y\n output p } model n { output q }");
    CU_ASSERT_EQUAL(r.errors, 1);
    CU_ASSERT_EQUAL(r.p.nmodels, 2);
    CU_ASSERT_EQUAL(r.p.models[0].nstmts, 1); /* output p */
    done(&r);
}

static void test_nul_byte(void) {
    parsed r;
    const char src[] = "model m { h = x \0 y }";
    parse_n(&r, src, sizeof src - 1);
    CU_ASSERT_EQUAL(r.errors, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.diag, "t.nn:1:17: error: unexpected character '\\x00'"));
    CU_ASSERT_EQUAL(r.p.nmodels, 1);
    done(&r);
}

/* ---- syntax errors ------------------------------------------------------------- */

static void test_syntax_errors(void) {
    check_error("model m { input x : f32[2]", 1, "1:27",
                "expected '}' to close model 'm' (opened at line 1)");
    check_error("model m {\n input x : f32[2]\nmodel n { }", 1, "3:1",
                "expected '}' to close model 'm' (opened at line 1)");
    check_error("model m { input x f32[2] }", 1, "1:19",
                "expected ':' and a type after 'input x', found name 'f32'");
    check_error("model m { input x : f32\n output y = x }", 1, "2:2",
                "expected '[' after 'f32'");
    check_error("model m { h = a + }", 1, "1:19",
                "syntax error: unexpected '}', expecting an expression");
    check_error("model m { h = ) }", 1, "1:15",
                "syntax error: unexpected ')', expecting an expression");
    check_error("model m {\n h = f(a, (b + c)\n output p = h }", 1, "3:2",
                "expected ')' to close '(' (opened at line 2, column 7)");
    check_error("model m { h = f(a b) }", 1, "1:19",
                "unexpected name 'b', expecting an operator, ',' or ')'");
    check_error("model m { h = x -> }", 1, "1:20",
                "expected a function name after '->', found '}'");
    check_error("model m { 3 = x }", 1, "1:11",
                "unexpected number '3', expecting a statement or '}'");
    check_error("model m { input model : f32[1] }", 1, "1:17",
                "'model' is a keyword and cannot be used as a name");
    check_error("const B 32", 1, "1:9", "expected '=' after 'const B', found number '32'");
    check_error("model { }", 1, "1:7", "expected a name after 'model', found '{'");
    check_error("model m { h = a -> f + b }", 1, "1:22", "'->' binds loosest");
    check_error("model m { const K = 3 }", 1, "1:11", "consts are declared outside models");
    check_error("}", 1, "1:1", "unexpected '}', expecting 'model', 'const' or 'block'");
    check_error("model m { h = [1,, 2] }", 1, "1:18", "expecting an expression or ']'");
    check_error("model m { h = a\n= b }", 1, "2:1", "unexpected '='");
    check_error("model m { h = f(", 1, "1:17", "expected ')' to close '('");
}

static void test_recovery(void) {
    parsed r;
    /* two bad statements: two errors, the good ones are kept */
    parse(&r, "model m {\n input x f32[2]\n h = x + * 2\n output p = x\n}");
    CU_ASSERT_EQUAL(r.errors, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.diag, "t.nn:2:10: error:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.diag, "t.nn:3:10: error:"));
    CU_ASSERT_EQUAL_FATAL(r.p.nmodels, 1);
    CU_ASSERT_EQUAL(r.p.models[0].nstmts, 1);
    done(&r);
    /* a bad model header: later models and consts still parse */
    parse(&r, "model { input x : f32[1] }\nconst k = 2\nmodel ok { output p }");
    CU_ASSERT_EQUAL(r.errors, 1);
    CU_ASSERT_EQUAL(r.p.nconsts, 1);
    CU_ASSERT_EQUAL_FATAL(r.p.nmodels, 1);
    CU_ASSERT_STRING_EQUAL(r.p.models[0].name, "ok");
    done(&r);
    /* bad statements in two models */
    parse(&r, "model a { h = ( } model b { loss } model c { output p }");
    CU_ASSERT_EQUAL(r.errors, 2);
    CU_ASSERT_EQUAL(r.p.nmodels, 3);
    done(&r);
    /* a bad const, then good code */
    parse(&r, "const = 3\nconst b = 2 model m { output p = b }");
    CU_ASSERT_EQUAL(r.errors, 1);
    CU_ASSERT_EQUAL(r.p.nconsts, 1);
    CU_ASSERT_EQUAL(r.p.nmodels, 1);
    done(&r);
    /* the cap on printed errors does not stop the count */
    parse(&r, "model m { h = @ g = @ i = @ }");
    CU_ASSERT_EQUAL(r.errors, 3);
    done(&r);
}

/* ---- blocks ---------------------------------------------------------------------- */

static void test_blocks(void) {
    parsed r;
    const char *src =
        "block mlp(x, width = 2 * B, out = 10) {\n"
        "    param s : f32[1] = 1.0\n"
        "    h = x -> dense(width) -> relu\n"
        "    return dense(h, out)\n"
        "}\n"
        "model m { input x : f32[2, 3] output p = x -> stack(mlp, 2, out = 3) }\n"
        "block id(x) { return x; }\n"
        "block none() { return 1 }";
    CU_ASSERT_EQUAL_FATAL(parse(&r, src), 0);
    CU_ASSERT_EQUAL_FATAL(r.p.nblocks, 3);
    CU_ASSERT_EQUAL(r.p.nmodels, 1);
    const ast_block *b = &r.p.blocks[0];
    CU_ASSERT_STRING_EQUAL(b->name, "mlp");
    SPAN_IS(b->name_span, 1, 7, 1, 10);
    SPAN_IS(b->span, 1, 1, 5, 2);
    CU_ASSERT_EQUAL_FATAL(b->nparams, 3);
    CU_ASSERT_STRING_EQUAL(b->params[1].name, "width");
    SPAN_IS(b->params[1].name_span, 1, 14, 1, 19);
    CU_ASSERT_PTR_NULL(b->params[0].def);
    CU_ASSERT_EQUAL(b->params[1].def->kind, EX_BINOP);
    CU_ASSERT_EQUAL_FATAL(b->nstmts, 3);
    CU_ASSERT_EQUAL(b->stmts[0].kind, ST_PARAM);
    CU_ASSERT_EQUAL(b->stmts[2].kind, ST_RETURN);
    SPAN_IS(b->stmts[2].span, 4, 5, 4, 25);
    CU_ASSERT_EQUAL(r.p.blocks[1].nparams, 1);
    CU_ASSERT_EQUAL(r.p.blocks[2].nparams, 0);
    char *s = ast_text(&r.p);
    CU_ASSERT_STRING_EQUAL(s,
        "block mlp(x, width=(* 2 B), out=10)\n"
        "  param s : f32[1] = 1.0\n"
        "  let h = (pipe relu (pipe dense x width))\n"
        "  return (call dense h out)\n"
        "block id(x)\n"
        "  return x\n"
        "block none()\n"
        "  return 1\n"
        "model m\n"
        "  input x : f32[2, 3]\n"
        "  output p = (pipe stack x mlp 2 out=3)\n");
    free(s);
    done(&r);
    /* the parser accepts any statement in a block and return in a model:
       elaboration says which is wrong, better than a syntax error could */
    CU_ASSERT_EQUAL(parse(&r, "block f(x) { input y : f32[1] loss x } model m { return 3 }"), 0);
    CU_ASSERT_EQUAL(r.p.blocks[0].nstmts, 2);
    CU_ASSERT_EQUAL(r.p.models[0].stmts[0].kind, ST_RETURN);
    done(&r);
}

static void test_block_errors(void) {
    check_error("block f(x) { return x", 1, "1:22", "expected '}' to close block 'f' (opened at line 1)");
    check_error("block f(x) {\n h = x\nmodel m { }", 1, "3:1",
                "expected '}' to close block 'f' (opened at line 1)");
    check_error("block f(x) {\n h = x\nblock g(y) { return y }", 1, "3:1",
                "expected '}' to close block 'f' (opened at line 1)");
    check_error("block (x) { return x }", 1, "1:7", "expected a name after 'block', found '('");
    check_error("block f { return x }", 1, "1:9", "unexpected '{', expecting '('");
    check_error("block f(x, 3) { return x }", 1, "1:12", "unexpected number '3', expecting a name");
    check_error("block f(x,) { return x }", 1, "1:11", "unexpected ')', expecting a name");
    check_error("block f(x = ) { return x }", 1, "1:13", "unexpected ')', expecting an expression");
    check_error("block f(x) { return }", 1, "1:21", "unexpected '}', expecting an expression");
    check_error("block f(x) { const K = 3 return x }", 1, "1:14",
                "consts are declared outside blocks (before 'block f')");
    check_error("model m { input return : f32[1] }", 1, "1:17",
                "'return' is a keyword and cannot be used as a name");
    check_error("block block(x) { return x }", 1, "1:7",
                "'block' is a keyword and cannot be used as a name");
    check_error("model m { h = x -> block }", 1, "1:20", "expected a function name after '->'");
    /* a bad block header costs one error; the model after it still parses */
    parsed r;
    parse(&r, "block f(x 3) { h = x return h }\nmodel m { output p }");
    CU_ASSERT_EQUAL(r.errors, 1);
    CU_ASSERT_EQUAL(r.p.nblocks, 0);
    CU_ASSERT_EQUAL(r.p.nmodels, 1);
    done(&r);
    /* a bad statement in a block: the others are kept */
    parse(&r, "block f(x) { h = x + * 2\n return x } model m { output p }");
    CU_ASSERT_EQUAL(r.errors, 1);
    CU_ASSERT_EQUAL_FATAL(r.p.nblocks, 1);
    CU_ASSERT_EQUAL(r.p.blocks[0].nstmts, 1);
    done(&r);
}

/* ---- hostile input ---------------------------------------------------------------- */

static char *repeat(const char *pre, const char *unit, int n, const char *post) {
    size_t lp = strlen(pre), lu = strlen(unit), lq = strlen(post);
    char *s = malloc(lp + lu * (size_t)n + lq + 1), *p = s;
    memcpy(p, pre, lp), p += lp;
    for (int i = 0; i < n; i++) memcpy(p, unit, lu), p += lu;
    memcpy(p, post, lq + 1);
    return s;
}

/* src gives exactly `n` errors, one of them saying `text`. */
static void check_hostile(char *src, int n, const char *text) {
    parsed r;
    parse(&r, src);
    CU_ASSERT_EQUAL(r.errors, n);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.diag, text));
    char *s = ast_text(&r.p); /* printing is safe too */
    free(s);
    done(&r);
    free(src);
}

static void test_deep_nesting(void) {
    check_hostile(repeat("model m { h = ", "(", 100000, "x"), 2, "nested too deeply");
    check_hostile(repeat("model m { h = ", "[", 100000, "]"), 2, "nested too deeply");
    check_hostile(repeat("model m { h = ", "-", 100000, "x }"), 1, "nested too deeply");
    check_hostile(repeat("model m { h = a", " + a", 100000, " }"), 1, "nested too deeply");
    check_hostile(repeat("model m { h = x", " -> f", 100000, " }"), 1, "nested too deeply");
    check_hostile(repeat("model m { h = ", "f(", 300, "x }"), 2, "nested too deeply");
    /* balanced: one error, the statement after it is kept */
    char *s = repeat("model m { h = ", "(", 1000, "x");
    char *t = repeat(s, ")", 1000, " output h }");
    parsed r;
    parse(&r, t);
    CU_ASSERT_EQUAL(r.errors, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.diag, "t.nn:1:271: error: expression nested too deeply"));
    CU_ASSERT_EQUAL(r.p.models[0].nstmts, 2);
    done(&r);
    free(s);
    free(t);
    /* 256 levels are fine */
    s = repeat("model m { h = ", "(", 256, "x");
    t = repeat(s, ")", 256, " }");
    CU_ASSERT_EQUAL(parse(&r, t), 0);
    done(&r);
    free(s);
    free(t);
}

static void test_long_input(void) {
    char *s = repeat("model m { h = [", "1, ", 200000, "2] }");
    parsed r;
    CU_ASSERT_EQUAL(parse(&r, s), 0);
    CU_ASSERT_EQUAL(first_value(&r)->nelems, 200001);
    done(&r);
    free(s);
    s = repeat("model m { h = ", "a", 100000, " }"); /* a 100k-byte name */
    CU_ASSERT_EQUAL(parse(&r, s), 0);
    CU_ASSERT_EQUAL(strlen(first_value(&r)->name), 100000);
    done(&r);
    free(s);
    s = repeat("model m { h = ", "9", 5000, " }"); /* a 5000-digit integer */
    CU_ASSERT_EQUAL(parse(&r, s), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.diag, "number out of range: '999999999999999999999999...'"));
    done(&r);
    free(s);
}

/* Deterministic pseudo-random bytes: none may crash or hang the parser. */
static void test_garbage(void) {
    uint64_t x = 88172645463325252ull;
    static const char alphabet[] = "model{}()[],:;=+-*/ x1.e# \n->input output block return";
    for (int iter = 0; iter < 2000; iter++) {
        char buf[257];
        size_t n = (size_t)(iter % 256);
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[i] = iter % 2 ? (char)(x & 0xff) : alphabet[x % (sizeof alphabet - 1)];
        }
        buf[n] = 0;
        parsed r;
        parse_n(&r, buf, n);
        CU_ASSERT(r.errors >= 0);
        free(ast_text(&r.p));
        done(&r);
    }
    char all[256]; /* every byte value once */
    for (int i = 0; i < 256; i++) all[i] = (char)i;
    parsed r;
    parse_n(&r, all, sizeof all);
    CU_ASSERT(r.errors > 0);
    done(&r);
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("frontend", NULL, NULL);
    struct { const char *name; void (*fn)(void); } tests[] = {
        {"coffee example", test_coffee},
        {"xor example", test_xor},
        {"digits example (pipes)", test_digits},
        {"ast_print format", test_print},
        {"numbers", test_numbers},
        {"unary and binary minus", test_unary_binary},
        {"precedence and pipes", test_precedence},
        {"lists", test_lists},
        {"indexing", test_indexing},
        {"semicolons and layout", test_semicolons_and_layout},
        {"statement forms", test_statement_forms},
        {"empty input and comments", test_empty_and_comments},
        {"lexical errors", test_lex_errors},
        {"NUL byte", test_nul_byte},
        {"syntax errors", test_syntax_errors},
        {"error recovery", test_recovery},
        {"blocks", test_blocks},
        {"block syntax errors", test_block_errors},
        {"deep nesting", test_deep_nesting},
        {"long input", test_long_input},
        {"garbage input", test_garbage},
    };
    for (size_t i = 0; i < sizeof tests / sizeof *tests; i++)
        if (!CU_add_test(s, tests[i].name, tests[i].fn)) return 1;
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    int failed = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed != 0;
}
