/* ast_build.h — internal to the frontend: the scanner's state, the parser's
 * context, the token filter between them, and the AST constructors that the
 * grammar actions call (one call per action).
 *
 * Include order (the generated headers live in the build directory):
 *   ast_build.h   this file; needs nothing generated
 *   parser.h      bison's header; includes this file (%code requires)
 *   lexer.h       flex's header; its prototypes use YYSTYPE/YYLTYPE, which
 *                 parser.h defines (as NNC_YYSTYPE/NNC_YYLTYPE), so it must
 *                 come after parser.h
 *
 * Prefixes: the bison parser is nnc_yy* (nnc_yyparse calls nnc_yylex, the
 * token filter in parse.c); the flex scanner is nnc_lx* (nnc_lxlex, called
 * only by the filter). Distinct prefixes keep the two yylex's apart. The
 * AST constructors are ast_* (ast.c), the filter's helpers parse_* (parse.c).
 */
#ifndef NNC_AST_BUILD_H
#define NNC_AST_BUILD_H

#include <setjmp.h>

#include "ast.h"

/* Deepest allowed nesting: brackets within an expression (checked by the
 * token filter) and the depth of any expression tree (checked by the
 * constructors). Bounds the recursion of every AST walker. */
#define NNC_MAX_NESTING 256

/* ---- semantic values ---------------------------------------------------- */

/* A NUMBER token's value. */
typedef struct num_lit {
    double value; /* the value (0 after a lexical error) */
    int is_int;   /* 1: written with digits only */
} num_lit;

typedef ARR(ast_expr *) expr_vec; /* list elements, type dimensions */
typedef ARR(ast_arg) arg_vec;     /* call arguments */
typedef ARR(ast_stmt) stmt_vec;   /* statements of a model or block body */
typedef ARR(ast_bparam) bparam_vec; /* parameters of a block */

/* ---- scanner state (flex's yyextra) ------------------------------------ */

typedef struct lex_state {
    diag_ctx *d;     /* where lexical errors go */
    arena *a;        /* where names are copied */
    const char *src; /* the whole source (for token text) */
    int line, col;   /* 1-based position of the next byte */
    size_t pos;      /* byte offset of the next byte */
    size_t tok_off;  /* byte offset of the text matched last */
    size_t tok_len;  /* its length in bytes */
    jmp_buf *fatal;  /* where YY_FATAL_ERROR jumps back to (parse_program) */
} lex_state;

/* ---- the token filter and the parser context --------------------------- */

/* One token as the filter sees it. */
typedef struct tok_info {
    int kind;        /* token kind (TOK_* or a character); 0: end of file */
    src_span loc;    /* where it is */
    size_t off, len; /* its bytes in the source (len 0: no text) */
    const char *str; /* NAME: the identifier */
    num_lit num;     /* NUMBER: the value */
} tok_info;

typedef struct parse_ctx {
    arena *a;                 /* where the AST goes */
    diag_ctx *d;              /* where errors go */
    const char *src;          /* the source text (for quoting tokens) */
    void *scanner;            /* the flex scanner (a yyscan_t) */
    ARR(ast_const) consts;    /* the program's consts so far */
    ARR(ast_model) models;    /* the program's models so far */
    ARR(ast_block) blocks;    /* the program's blocks so far */
    int deep_reported;        /* "nested too deeply" said in this statement */
    tok_info pending[3];      /* tokens queued by the filter, oldest first */
    int npending;             /* how many are queued */
    tok_info cur;             /* the token handed to the parser last */
    tok_info prev, prev2;     /* the two tokens before it */
    src_span open[NNC_MAX_NESTING + 1]; /* unclosed '(' and '[', innermost last */
    char open_ch[NNC_MAX_NESTING + 1];  /* which bracket each one is */
    int nopen;                /* how many are unclosed */
    int before_valid;         /* an unclosed bracket preceded `cur` */
    src_span before;          /* the innermost one */
    char before_ch;           /* and which bracket it is */
    int in_brace;             /* inside a '{' not yet closed */
    src_span brace;           /* where that '{' is */
    const char *brace_model;  /* the model or block it opens, or NULL */
    const char *brace_what;   /* "model" or "block": what brace_model names */
    const char *block_name;   /* NAME after 'block', until its '{' */
} parse_ctx;

/* Appends 'p[0..n)' to b, quoted, with bytes outside printable ASCII as
 * \xNN; text longer than 24 bytes is cut short with "..." (parse.c). */
void parse_quote_text(strbuf *b, const unsigned char *p, size_t n);

/* ---- constructors (ast.c) ------------------------------------------------ */

ast_expr *ast_ex_num(parse_ctx *c, num_lit n, src_span at);
ast_expr *ast_ex_name(parse_ctx *c, const char *name, src_span at);
ast_expr *ast_ex_call(parse_ctx *c, const char *f, src_span f_at, arg_vec *args,
                      src_span at);
/* lhs -> f(args): the call f(lhs, args...) with piped = 1 (args may be NULL) */
ast_expr *ast_ex_pipe(parse_ctx *c, ast_expr *lhs, const char *f, src_span f_at,
                      arg_vec *args, src_span at);
ast_expr *ast_ex_binop(parse_ctx *c, char op, ast_expr *l, ast_expr *r, src_span at);
ast_expr *ast_ex_neg(parse_ctx *c, ast_expr *e, src_span at);
ast_expr *ast_ex_list(parse_ctx *c, expr_vec *elems, src_span at);
/* x[subs]; a subscript is an expression, a slice or '...' */
ast_expr *ast_ex_index(parse_ctx *c, ast_expr *x, expr_vec *subs, src_span at);
/* lo:hi:step in a subscript; each part may be NULL */
ast_expr *ast_ex_slice(parse_ctx *c, ast_expr *lo, ast_expr *hi, ast_expr *step, src_span at);
ast_expr *ast_ex_ellipsis(parse_ctx *c, src_span at);
/* Depth of an expression tree built by these constructors (a leaf is 1). */
int ast_ex_depth(const ast_expr *e);

expr_vec *ast_exprs_new(parse_ctx *c);
expr_vec *ast_exprs_one(parse_ctx *c, ast_expr *e);
expr_vec *ast_exprs_push(parse_ctx *c, expr_vec *v, ast_expr *e);
ast_arg *ast_arg_pos(parse_ctx *c, ast_expr *value);
ast_arg *ast_arg_named(parse_ctx *c, const char *name, src_span name_at,
                       ast_expr *value);
arg_vec *ast_args_new(parse_ctx *c);
arg_vec *ast_args_one(parse_ctx *c, ast_arg *a);
arg_vec *ast_args_push(parse_ctx *c, arg_vec *v, ast_arg *a);

ast_type *ast_type_new(parse_ctx *c, const char *dtype, src_span dtype_at,
                       expr_vec *dims, src_span at);
/* input/target/param NAME : type [= init] */
ast_stmt *ast_st_decl(parse_ctx *c, ast_stmt_kind k, const char *name,
                      src_span name_at, ast_type *type, ast_expr *init, src_span at);
/* input NAME : type requires_grad */
ast_stmt *ast_st_input_grad(parse_ctx *c, const char *name, src_span name_at, ast_type *type, src_span grad_at,
                            src_span at);
/* NAME = e (ST_LET) and output NAME [= e] (ST_OUTPUT, e may be NULL) */
ast_stmt *ast_st_bind(parse_ctx *c, ast_stmt_kind k, const char *name,
                      src_span name_at, ast_expr *e, src_span at);
/* loss e, train e, return e */
ast_stmt *ast_st_expr(parse_ctx *c, ast_stmt_kind k, ast_expr *e, src_span at);
stmt_vec *ast_stmts_new(parse_ctx *c);
stmt_vec *ast_stmts_push(parse_ctx *c, stmt_vec *v, ast_stmt *s);

void ast_program_add_const(parse_ctx *c, const char *name, src_span name_at,
                           ast_expr *value, src_span at);
void ast_program_add_model(parse_ctx *c, const char *name, src_span name_at,
                           stmt_vec *body, src_span at);

/* A block parameter `NAME` (def NULL) or `NAME = def`. */
ast_bparam *ast_bparam_new(parse_ctx *c, const char *name, src_span name_at,
                           ast_expr *def);
bparam_vec *ast_bparams_new(parse_ctx *c);
bparam_vec *ast_bparams_one(parse_ctx *c, ast_bparam *p);
bparam_vec *ast_bparams_push(parse_ctx *c, bparam_vec *v, ast_bparam *p);
void ast_program_add_block(parse_ctx *c, const char *name, src_span name_at,
                           bparam_vec *params, stmt_vec *body, src_span at);

#endif /* NNC_AST_BUILD_H */
