/* ast.h — the syntax tree of a .nn file, with a source span on every node.
 *
 * The parser builds it (parser.y), elaboration reads it (elab*.c). Nothing
 * here knows about shapes or targets. All nodes live in one arena.
 *
 *   program := { const | block | model }
 *   block   := 'block' NAME '(' [ bparam { ',' bparam } ] ')' '{' { stmt } '}'
 *   model   := 'model' NAME '{' { stmt } '}'
 */
#ifndef NNC_AST_H
#define NNC_AST_H

#include "../common/common.h"

typedef struct ast_expr ast_expr;

typedef enum ast_expr_kind {
    EX_NUM,   /* 3, 1e-3                         num, is_int */
    EX_NAME,  /* x, relu (a bare name)           name */
    EX_CALL,  /* f(a, k = v)   or   a -> f(...)   name, args, piped */
    EX_BINOP, /* a + b, a - b, a * b, a / b      op, lhs, rhs */
    EX_NEG,   /* -a                              lhs */
    EX_LIST,  /* [a, b, [c, d]] tensor literal   elems */
    EX_INDEX, /* x[i, a:b, ...]                  lhs (x), elems (subscripts) */
    EX_SLICE, /* a:b:c in a subscript            lhs, rhs, step (each may be NULL) */
    EX_ELLIPSIS /* ... in a subscript */
} ast_expr_kind;

/* One argument of a call: positional (name == NULL) or named (k = v). */
typedef struct ast_arg {
    const char *name;   /* NULL for a positional argument */
    src_span name_span; /* span of the name, when named */
    ast_expr *value;    /* the argument */
} ast_arg;

struct ast_expr {
    ast_expr_kind kind; /* which fields below are used */
    src_span span;      /* the whole expression */
    double num;         /* EX_NUM: the value */
    int is_int;         /* EX_NUM: written without '.', 'e' */
    const char *name;   /* EX_NAME: the name; EX_CALL: the callee */
    src_span name_span; /* EX_CALL: span of the callee name */
    ast_arg *args;      /* EX_CALL: arguments (for a pipe, args[0] is the lhs) */
    int nargs;          /* EX_CALL: number of arguments */
    int piped;          /* EX_CALL: written as `lhs -> f(...)` or `lhs -> f` */
    char op;            /* EX_BINOP: '+', '-', '*', '/' */
    ast_expr *lhs;      /* EX_BINOP: left operand; EX_NEG: the operand;
                           EX_INDEX: the indexed expression; EX_SLICE: the start */
    ast_expr *rhs;      /* EX_BINOP: right operand; EX_SLICE: the end */
    ast_expr *step;     /* EX_SLICE: the step, or NULL */
    ast_expr **elems;   /* EX_LIST: elements; EX_INDEX: subscripts */
    int nelems;         /* EX_LIST, EX_INDEX: number of elements */
};

/* A tensor type: f32[B, 64]. */
typedef struct ast_type {
    const char *dtype; /* "f32", "i32" (checked by elaboration) */
    src_span dtype_span;
    ast_expr **dims;   /* dimension expressions (consts and arithmetic) */
    int ndims;
    src_span span;     /* the whole type */
} ast_type;

typedef enum ast_stmt_kind {
    ST_INPUT,  /* input  NAME : type */
    ST_TARGET, /* target NAME : type */
    ST_PARAM,  /* param  NAME : type [= init] */
    ST_LET,    /* NAME = expr */
    ST_OUTPUT, /* output NAME [= expr] */
    ST_LOSS,   /* loss [NAME =] expr (NAME: one of several objectives) */
    ST_TRAIN,  /* train [NAME] expr (a call: sgd(lr = 0.1); NAME: the loss it trains) */
    ST_RETURN  /* return expr (blocks only; elaboration checks where) */
} ast_stmt_kind;

typedef struct ast_stmt {
    ast_stmt_kind kind;
    src_span span;      /* the whole statement */
    const char *name;   /* INPUT, TARGET, PARAM, LET, OUTPUT: bound name; LOSS, TRAIN: the
                           objective's name or NULL */
    src_span name_span;
    ast_type type;      /* INPUT, TARGET, PARAM */
    ast_expr *value;    /* PARAM: initializer or NULL; LET/OUTPUT: the
                           expression (NULL for `output NAME`); LOSS, TRAIN,
                           RETURN: the expression */
    int requires_grad;  /* INPUT: declared `requires_grad` (its gradient is returned) */
    src_span grad_span; /* INPUT: where `requires_grad` is written */
} ast_stmt;

typedef struct ast_const {
    const char *name;
    src_span name_span;
    ast_expr *value;    /* constant expression */
    src_span span;
} ast_const;

typedef struct ast_model {
    const char *name;
    src_span name_span;
    ast_stmt *stmts;
    int nstmts;
    src_span span;
} ast_model;

/* A parameter of a block: `width` or `width = 128`. */
typedef struct ast_bparam {
    const char *name;
    src_span name_span;
    ast_expr *def;      /* default value, or NULL (the argument is required) */
} ast_bparam;

/* A user-defined block: block NAME(params) { stmts return expr }. The body
 * is any statements as the parser reads them; elaboration checks that it
 * holds only param, bindings and one final return. */
typedef struct ast_block {
    const char *name;
    src_span name_span;
    ast_bparam *params; /* in order */
    int nparams;
    ast_stmt *stmts;    /* the body, the return statement included */
    int nstmts;
    src_span span;      /* from 'block' to '}' */
} ast_block;

/* A whole file. */
typedef struct ast_program {
    ast_const *consts; /* in source order */
    int nconsts;
    ast_block *blocks; /* in source order */
    int nblocks;
    ast_model *models; /* in source order (elaboration requires exactly one) */
    int nmodels;
} ast_program;

/* Parse src into *out, allocating from `a`. Reports lexical and syntax
 * errors to d (several per run where the parser can recover) and returns
 * the number of errors (0 on success). Never crashes on any input. */
int parse_program(const char *src, size_t len, arena *a, diag_ctx *d,
                  ast_program *out);

/* Print the AST in an indented readable form (nnc --emit=ast). */
void ast_print(const ast_program *p, FILE *out);

#endif /* NNC_AST_H */
