/* ast.c — the AST constructors that the grammar actions call.
 *
 * Every node lives in the parser's arena. Expression nodes carry a hidden
 * depth (the height of their subtree) in front of them, so that a tree
 * deeper than NNC_MAX_NESTING is refused here, once per statement, with
 * "expression nested too deeply"; the offending subtree is replaced by a
 * placeholder 0. That bounds the recursion of every later AST walker, no
 * matter how the depth came about (brackets, `a + a + ...`, `- - - a`).
 */
#include "ast_build.h"

#include <stddef.h>

/* An expression node with its subtree height in front of it. */
typedef struct expr_box {
    int depth;  /* 1 for a leaf, 1 + deepest child otherwise */
    ast_expr e; /* the node handed out */
} expr_box;

int ast_ex_depth(const ast_expr *e) {
    if (!e) return 0;
    const expr_box *b =
        (const expr_box *)(const void *)((const char *)e - offsetof(expr_box, e));
    return b->depth;
}

static ast_expr *new_expr(parse_ctx *c, ast_expr_kind k, int depth, src_span at) {
    expr_box *b = arena_alloc(c->a, sizeof *b);
    b->depth = depth;
    b->e.kind = k;
    b->e.span = at;
    return &b->e;
}

/* A node of height `depth` about to be made: refuse it when too deep. */
static int too_deep(parse_ctx *c, int depth, src_span at) {
    if (depth <= NNC_MAX_NESTING) return 0;
    if (!c->deep_reported)
        diag_error(c->d, at, "expression nested too deeply (more than %d levels)",
                   NNC_MAX_NESTING);
    c->deep_reported = 1;
    return 1;
}

static ast_expr *placeholder(parse_ctx *c, src_span at) {
    ast_expr *e = new_expr(c, EX_NUM, 1, at);
    e->is_int = 1;
    return e;
}

static int max2(int a, int b) { return a > b ? a : b; }

ast_expr *ast_ex_num(parse_ctx *c, num_lit n, src_span at) {
    ast_expr *e = new_expr(c, EX_NUM, 1, at);
    e->num = n.value;
    e->is_int = n.is_int;
    return e;
}

ast_expr *ast_ex_name(parse_ctx *c, const char *name, src_span at) {
    ast_expr *e = new_expr(c, EX_NAME, 1, at);
    e->name = name;
    return e;
}

static int args_depth(const arg_vec *args) {
    int d = 0;
    for (int i = 0; args && i < args->len; i++) d = max2(d, ast_ex_depth(args->data[i].value));
    return d;
}

ast_expr *ast_ex_call(parse_ctx *c, const char *f, src_span f_at, arg_vec *args,
                      src_span at) {
    int depth = 1 + args_depth(args);
    if (too_deep(c, depth, at)) return placeholder(c, at);
    ast_expr *e = new_expr(c, EX_CALL, depth, at);
    e->name = f;
    e->name_span = f_at;
    e->args = args ? args->data : NULL;
    e->nargs = args ? args->len : 0;
    return e;
}

ast_expr *ast_ex_pipe(parse_ctx *c, ast_expr *lhs, const char *f, src_span f_at,
                      arg_vec *args, src_span at) {
    arg_vec *all = ast_args_one(c, ast_arg_pos(c, lhs));
    for (int i = 0; args && i < args->len; i++) arr_push(c->a, *all, args->data[i]);
    ast_expr *e = ast_ex_call(c, f, f_at, all, at);
    if (e->kind == EX_CALL) e->piped = 1;
    return e;
}

ast_expr *ast_ex_binop(parse_ctx *c, char op, ast_expr *l, ast_expr *r, src_span at) {
    int depth = 1 + max2(ast_ex_depth(l), ast_ex_depth(r));
    if (too_deep(c, depth, at)) return placeholder(c, at);
    ast_expr *e = new_expr(c, EX_BINOP, depth, at);
    e->op = op;
    e->lhs = l;
    e->rhs = r;
    return e;
}

ast_expr *ast_ex_neg(parse_ctx *c, ast_expr *x, src_span at) {
    int depth = 1 + ast_ex_depth(x);
    if (too_deep(c, depth, at)) return placeholder(c, at);
    ast_expr *e = new_expr(c, EX_NEG, depth, at);
    e->lhs = x;
    return e;
}

ast_expr *ast_ex_list(parse_ctx *c, expr_vec *elems, src_span at) {
    int depth = 0;
    for (int i = 0; i < elems->len; i++) depth = max2(depth, ast_ex_depth(elems->data[i]));
    if (too_deep(c, depth + 1, at)) return placeholder(c, at);
    ast_expr *e = new_expr(c, EX_LIST, depth + 1, at);
    e->elems = elems->data;
    e->nelems = elems->len;
    return e;
}

ast_expr *ast_ex_index(parse_ctx *c, ast_expr *x, expr_vec *subs, src_span at) {
    int depth = ast_ex_depth(x);
    for (int i = 0; i < subs->len; i++) depth = max2(depth, ast_ex_depth(subs->data[i]));
    if (too_deep(c, depth + 1, at)) return placeholder(c, at);
    ast_expr *e = new_expr(c, EX_INDEX, depth + 1, at);
    e->lhs = x;
    e->elems = subs->data;
    e->nelems = subs->len;
    return e;
}

ast_expr *ast_ex_slice(parse_ctx *c, ast_expr *lo, ast_expr *hi, ast_expr *step, src_span at) {
    int depth = 1 + max2(ast_ex_depth(lo), max2(ast_ex_depth(hi), ast_ex_depth(step)));
    if (too_deep(c, depth, at)) return placeholder(c, at);
    ast_expr *e = new_expr(c, EX_SLICE, depth, at);
    e->lhs = lo;
    e->rhs = hi;
    e->step = step;
    return e;
}

ast_expr *ast_ex_ellipsis(parse_ctx *c, src_span at) { return new_expr(c, EX_ELLIPSIS, 1, at); }

/* ---- lists --------------------------------------------------------------- */

expr_vec *ast_exprs_new(parse_ctx *c) { return arena_alloc(c->a, sizeof(expr_vec)); }

expr_vec *ast_exprs_one(parse_ctx *c, ast_expr *e) { return ast_exprs_push(c, ast_exprs_new(c), e); }

expr_vec *ast_exprs_push(parse_ctx *c, expr_vec *v, ast_expr *e) {
    arr_push(c->a, *v, e);
    return v;
}

ast_arg *ast_arg_pos(parse_ctx *c, ast_expr *value) {
    ast_arg *a = arena_alloc(c->a, sizeof *a);
    a->value = value;
    return a;
}

ast_arg *ast_arg_named(parse_ctx *c, const char *name, src_span name_at,
                       ast_expr *value) {
    ast_arg *a = ast_arg_pos(c, value);
    a->name = name;
    a->name_span = name_at;
    return a;
}

arg_vec *ast_args_new(parse_ctx *c) { return arena_alloc(c->a, sizeof(arg_vec)); }

arg_vec *ast_args_one(parse_ctx *c, ast_arg *a) { return ast_args_push(c, ast_args_new(c), a); }

arg_vec *ast_args_push(parse_ctx *c, arg_vec *v, ast_arg *a) {
    arr_push(c->a, *v, *a);
    return v;
}

/* ---- types and statements -------------------------------------------------- */

ast_type *ast_type_new(parse_ctx *c, const char *dtype, src_span dtype_at,
                       expr_vec *dims, src_span at) {
    ast_type *t = arena_alloc(c->a, sizeof *t);
    t->dtype = dtype;
    t->dtype_span = dtype_at;
    t->dims = dims->data;
    t->ndims = dims->len;
    t->span = at;
    return t;
}

static ast_stmt *new_stmt(parse_ctx *c, ast_stmt_kind k, src_span at) {
    ast_stmt *s = arena_alloc(c->a, sizeof *s);
    s->kind = k;
    s->span = at;
    c->deep_reported = 0; /* the next statement may report again */
    return s;
}

ast_stmt *ast_st_decl(parse_ctx *c, ast_stmt_kind k, const char *name,
                      src_span name_at, ast_type *type, ast_expr *init, src_span at) {
    ast_stmt *s = new_stmt(c, k, at);
    s->name = name;
    s->name_span = name_at;
    s->type = *type;
    s->value = init;
    return s;
}

ast_stmt *ast_st_input_grad(parse_ctx *c, const char *name, src_span name_at, ast_type *type, src_span grad_at,
                            src_span at) {
    ast_stmt *s = ast_st_decl(c, ST_INPUT, name, name_at, type, NULL, at);
    s->requires_grad = 1;
    s->grad_span = grad_at;
    return s;
}

ast_stmt *ast_st_bind(parse_ctx *c, ast_stmt_kind k, const char *name,
                      src_span name_at, ast_expr *e, src_span at) {
    ast_stmt *s = new_stmt(c, k, at);
    s->name = name;
    s->name_span = name_at;
    s->value = e;
    return s;
}

ast_stmt *ast_st_expr(parse_ctx *c, ast_stmt_kind k, ast_expr *e, src_span at) {
    ast_stmt *s = new_stmt(c, k, at);
    s->value = e;
    return s;
}

stmt_vec *ast_stmts_new(parse_ctx *c) { return arena_alloc(c->a, sizeof(stmt_vec)); }

stmt_vec *ast_stmts_push(parse_ctx *c, stmt_vec *v, ast_stmt *s) {
    arr_push(c->a, *v, *s);
    return v;
}

/* ---- the program ------------------------------------------------------------- */

void ast_program_add_const(parse_ctx *c, const char *name, src_span name_at,
                           ast_expr *value, src_span at) {
    ast_const k = {.name = name, .name_span = name_at, .value = value, .span = at};
    arr_push(c->a, c->consts, k);
    c->deep_reported = 0;
}

void ast_program_add_model(parse_ctx *c, const char *name, src_span name_at,
                           stmt_vec *body, src_span at) {
    ast_model m = {.name = name, .name_span = name_at, .stmts = body->data,
                   .nstmts = body->len, .span = at};
    arr_push(c->a, c->models, m);
}

/* ---- blocks --------------------------------------------------------------------- */

ast_bparam *ast_bparam_new(parse_ctx *c, const char *name, src_span name_at,
                           ast_expr *def) {
    ast_bparam *p = arena_alloc(c->a, sizeof *p);
    p->name = name;
    p->name_span = name_at;
    p->def = def;
    c->deep_reported = 0; /* the next default may report again */
    return p;
}

bparam_vec *ast_bparams_new(parse_ctx *c) { return arena_alloc(c->a, sizeof(bparam_vec)); }

bparam_vec *ast_bparams_one(parse_ctx *c, ast_bparam *p) { return ast_bparams_push(c, ast_bparams_new(c), p); }

bparam_vec *ast_bparams_push(parse_ctx *c, bparam_vec *v, ast_bparam *p) {
    arr_push(c->a, *v, *p);
    return v;
}

void ast_program_add_block(parse_ctx *c, const char *name, src_span name_at,
                           bparam_vec *params, stmt_vec *body, src_span at) {
    ast_block b = {.name = name, .name_span = name_at, .params = params->data,
                   .nparams = params->len, .stmts = body->data, .nstmts = body->len,
                   .span = at};
    arr_push(c->a, c->blocks, b);
}
