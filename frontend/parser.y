/* parser.y — the grammar of .nn files (bison 3.8).
 *
 *   program   := { const_decl [';'] | block | model }
 *   const_decl:= 'const' NAME '=' expr
 *   block     := 'block' NAME '(' [ bparam { ',' bparam } ] ')'
 *                '{' { stmt [';'] } '}'
 *   bparam    := NAME [ '=' expr ]
 *   model     := 'model' NAME '{' { stmt [';'] } '}'
 *   stmt      := 'input' NAME ':' type | 'target' NAME ':' type
 *              | 'param' NAME ':' type [ '=' expr ]
 *              | NAME '=' expr | 'output' NAME [ '=' expr ]
 *              | 'loss' [NAME '='] expr | 'train' [NAME ':'] expr | 'return' expr
 *   type      := NAME '[' [ expr { ',' expr } ] ']'
 *   expr      := additive { '->' NAME [ '(' [args] ')' ] }   (loosest)
 *   additive  := term { ('+'|'-') term }
 *   term      := unary { ('*'|'/') unary }
 *   unary     := '-' unary | postfix
 *   postfix   := primary { '[' subscript { ',' subscript } ']' }
 *   subscript := expr | '...' | [expr] ':' [expr] [ ':' [expr] ]
 *   primary   := NUMBER | NAME | NAME '(' [args] ')' | '(' expr ')'
 *              | '[' [ expr { ',' expr } [','] ] ']'
 *   args      := arg { ',' arg } ;  arg := expr | NAME '=' expr
 *
 * Newlines mean nothing: a statement never starts with an operator, so the
 * next keyword or `NAME =` ends the previous statement. `->` binds loosest,
 * so `a + b -> f` is f(a + b), and `a -> f + b` is a syntax error (write
 * `(a -> f) + b`). The optional ';' after a const is an extension of the
 * brief's grammar. Blocks and models share the statement grammar: which
 * statements a body may hold (no `return` in a model, no `input` in a
 * block, the `return` last) is checked by elaboration, which words it
 * better than a syntax error could.
 *
 * Actions are thin: each one is a single constructor call (ast.c) given a
 * location; no checks here. Errors: see the error productions (statement
 * level and top level) and yyreport_syntax_error at the end.
 */

/* Pure (reentrant) parser, no globals; yylval/yylloc passed to nnc_yylex. */
%define api.pure full
/* Prefix every external name (nnc_yyparse, nnc_yylex, NNC_YYSTYPE...) so the
   parser can live beside other bison parsers. */
%define api.prefix {nnc_yy}
/* Token kinds are TOK_NAME, TOK_END...: no clash with the AST's enums. */
%define api.token.prefix {TOK_}
/* Track a source span for every symbol: the constructors need them. */
%locations
/* The span type is the compiler's own; YYLLOC_DEFAULT below joins spans. */
%define api.location.type {src_span}
/* We word syntax errors ourselves (yyreport_syntax_error) so they can name
   the unexpected token's text and group the expected ones ("an expression"). */
%define parse.error custom
/* Lookahead correction: the expected-token list is exact even after default
   reductions, and errors are detected on the offending token. */
%define parse.lac full
/* The grammar is LALR(1) with no conflicts at all. */
%expect 0
/* The flex scanner and the parse context, passed to nnc_yylex and to
   nnc_yyparse alike (the scanner is a yyscan_t, i.e. a void *). */
%param {void *scanner} {parse_ctx *ctx}

%code requires {
#include "ast_build.h"
}

%code provides {
/* For the flex side (lexer.l, parse.c): flex's prototypes use the unprefixed
   names. */
#ifndef YYSTYPE
#define YYSTYPE NNC_YYSTYPE
#endif
#ifndef YYLTYPE
#define YYLTYPE NNC_YYLTYPE
#endif
/* The token filter (parse.c) that feeds the parser. */
int nnc_yylex(NNC_YYSTYPE *lval, src_span *lloc, void *scanner, parse_ctx *ctx);
}

%code {
/* A rule's span runs from its first symbol to its last; an empty rule sits
   at the end of the symbol before it. */
#define YYLLOC_DEFAULT(Cur, Rhs, N)                                         \
    do {                                                                    \
        if (N) {                                                            \
            (Cur) = span_join(YYRHSLOC(Rhs, 1), YYRHSLOC(Rhs, N));          \
        } else {                                                            \
            (Cur).line = (Cur).end_line = YYRHSLOC(Rhs, 0).end_line;        \
            (Cur).col = (Cur).end_col = YYRHSLOC(Rhs, 0).end_col;           \
        }                                                                   \
    } while (0)

/* The bison stack grows on the heap up to this many entries; beyond it the
   parse stops with one "nested too deeply" error (only a run of thousands of
   unary minus signs gets there: brackets are capped by the token filter). */
#define YYMAXDEPTH 10000

static void nnc_yyerror(src_span *loc, void *scanner, parse_ctx *ctx,
                        const char *msg);
}

/* The lookahead's location before the first token: line 1, column 1. */
%initial-action { @$ = (src_span){1, 1, 1, 1}; }

%union {
    const char *str;   /* NAME: the identifier (in the arena) */
    num_lit num;       /* NUMBER: value and is_int */
    ast_expr *expr;    /* any expression */
    expr_vec *exprs;   /* list elements, type dimensions */
    ast_arg *arg;      /* one call argument */
    arg_vec *args;     /* call arguments */
    ast_type *type;    /* a tensor type */
    ast_stmt *stmt;    /* one statement */
    stmt_vec *stmts;   /* a model or block body */
    ast_bparam *bparam; /* one block parameter */
    bparam_vec *bparams; /* block parameters */
}

/* Aliases are the names used in messages ("unexpected 'model'"). */
%token END 0 "end of file"
%token <str> NAME "name"
%token <num> NUMBER "number"
/* Keywords stay contiguous, KW_MODEL first and KW_TRAIN last: is_keyword()
   here and ends_expression() in parse.c test that range. */
%token KW_MODEL "model" KW_CONST "const" KW_BLOCK "block" KW_RETURN "return"
%token KW_INPUT "input" KW_TARGET "target"
%token KW_PARAM "param" KW_OUTPUT "output" KW_LOSS "loss" KW_REQUIRES_GRAD "requires_grad" KW_TRAIN "train"
%token ARROW "->"
%token ELLIPSIS "..."

%type <expr> expr additive term unary postfix primary subscript opt_expr
%type <exprs> exprs opt_exprs list_body subscripts
%type <arg> arg
%type <args> args opt_args
%type <type> type
%type <stmt> stmt
%type <stmts> stmt_list
%type <bparam> bparam
%type <bparams> bparams opt_bparams

%%

program
    : %empty
    | program const_decl opt_semi
    | program block
    | program model
    | program error          /* skips to the next 'const', 'block' or 'model' */
    ;

const_decl
    : "const" NAME '=' expr  { ast_program_add_const(ctx, $2, @2, $4, @$); }
    ;

model
    : "model" NAME '{' stmt_list '}'
                             { ast_program_add_model(ctx, $2, @2, $4, @$); }
    ;

stmt_list
    : %empty                 { $$ = ast_stmts_new(ctx); }
    | stmt_list stmt opt_semi { $$ = ast_stmts_push(ctx, $1, $2); }
    | stmt_list error        /* skips to the next statement or '}' */
    ;

opt_semi
    : %empty
    | ';'
    ;

stmt
    : "input" NAME ':' type  { $$ = ast_st_decl(ctx, ST_INPUT, $2, @2, $4, NULL, @$); }
    | "input" NAME ':' type "requires_grad"
                             { $$ = ast_st_input_grad(ctx, $2, @2, $4, @5, @$); }
    | "target" NAME ':' type { $$ = ast_st_decl(ctx, ST_TARGET, $2, @2, $4, NULL, @$); }
    | "param" NAME ':' type  { $$ = ast_st_decl(ctx, ST_PARAM, $2, @2, $4, NULL, @$); }
    | "param" NAME ':' type '=' expr
                             { $$ = ast_st_decl(ctx, ST_PARAM, $2, @2, $4, $6, @$); }
    | NAME '=' expr          { $$ = ast_st_bind(ctx, ST_LET, $1, @1, $3, @$); }
    | "output" NAME          { $$ = ast_st_bind(ctx, ST_OUTPUT, $2, @2, NULL, @$); }
    | "output" NAME '=' expr { $$ = ast_st_bind(ctx, ST_OUTPUT, $2, @2, $4, @$); }
    | "loss" expr            { $$ = ast_st_expr(ctx, ST_LOSS, $2, @$); }
    | "loss" NAME '=' expr   { $$ = ast_st_bind(ctx, ST_LOSS, $2, @2, $4, @$); }
    | "train" expr           { $$ = ast_st_expr(ctx, ST_TRAIN, $2, @$); }
    | "train" NAME ':' expr  { $$ = ast_st_bind(ctx, ST_TRAIN, $2, @2, $4, @$); }
    | "return" expr          { $$ = ast_st_expr(ctx, ST_RETURN, $2, @$); }
    ;

type
    : NAME '[' opt_exprs ']' { $$ = ast_type_new(ctx, $1, @1, $3, @$); }
    ;

opt_exprs
    : %empty                 { $$ = ast_exprs_new(ctx); }
    | exprs
    ;

exprs
    : expr                   { $$ = ast_exprs_one(ctx, $1); }
    | exprs ',' expr         { $$ = ast_exprs_push(ctx, $1, $3); }
    ;

/* expr is the pipe level: `lhs -> f` and `lhs -> f(args)`. */
expr
    : additive
    | expr "->" NAME         { $$ = ast_ex_pipe(ctx, $1, $3, @3, NULL, @$); }
    | expr "->" NAME '(' opt_args ')'
                             { $$ = ast_ex_pipe(ctx, $1, $3, @3, $5, @$); }
    ;

additive
    : term
    | additive '+' term      { $$ = ast_ex_binop(ctx, '+', $1, $3, @$); }
    | additive '-' term      { $$ = ast_ex_binop(ctx, '-', $1, $3, @$); }
    ;

term
    : unary
    | term '*' unary         { $$ = ast_ex_binop(ctx, '*', $1, $3, @$); }
    | term '/' unary         { $$ = ast_ex_binop(ctx, '/', $1, $3, @$); }
    ;

unary
    : postfix
    | '-' unary              { $$ = ast_ex_neg(ctx, $2, @$); }
    ;
/* Indexing binds tightest: -x[0] is -(x[0]). */
postfix
    : primary
    | postfix '[' subscripts ']'
                             { $$ = ast_ex_index(ctx, $1, $3, @$); }
    ;
subscripts
    : subscript              { $$ = ast_exprs_one(ctx, $1); }
    | subscripts ',' subscript { $$ = ast_exprs_push(ctx, $1, $3); }
    ;
subscript
    : expr
    | "..."                  { $$ = ast_ex_ellipsis(ctx, @$); }
    | opt_expr ':' opt_expr  { $$ = ast_ex_slice(ctx, $1, $3, NULL, @$); }
    | opt_expr ':' opt_expr ':' opt_expr
                             { $$ = ast_ex_slice(ctx, $1, $3, $5, @$); }
    ;
opt_expr
    : %empty                 { $$ = NULL; }
    | expr
    ;

primary
    : NUMBER                 { $$ = ast_ex_num(ctx, $1, @$); }
    | NAME                   { $$ = ast_ex_name(ctx, $1, @$); }
    | NAME '(' opt_args ')'  { $$ = ast_ex_call(ctx, $1, @1, $3, @$); }
    | '(' expr ')'           { $$ = $2; }
    | '[' list_body ']'      { $$ = ast_ex_list(ctx, $2, @$); }
    ;

list_body
    : %empty                 { $$ = ast_exprs_new(ctx); }
    | exprs
    | exprs ','
    ;

opt_args
    : %empty                 { $$ = ast_args_new(ctx); }
    | args
    ;

args
    : arg                    { $$ = ast_args_one(ctx, $1); }
    | args ',' arg           { $$ = ast_args_push(ctx, $1, $3); }
    ;

arg
    : expr                   { $$ = ast_arg_pos(ctx, $1); }
    | NAME '=' expr          { $$ = ast_arg_named(ctx, $1, @1, $3); }
    ;

/* Blocks come last: bison numbers character tokens in order of first use,
   and expected-token lists ("an operator, ',' or ')'") follow that order. */
block
    : "block" NAME '(' opt_bparams ')' '{' stmt_list '}'
                             { ast_program_add_block(ctx, $2, @2, $4, $7, @$); }
    ;

opt_bparams
    : %empty                 { $$ = ast_bparams_new(ctx); }
    | bparams
    ;

bparams
    : bparam                 { $$ = ast_bparams_one(ctx, $1); }
    | bparams ',' bparam     { $$ = ast_bparams_push(ctx, $1, $3); }
    ;

bparam
    : NAME                   { $$ = ast_bparam_new(ctx, $1, @1, NULL); }
    | NAME '=' expr          { $$ = ast_bparam_new(ctx, $1, @1, $3); }
    ;

%%

/* ---- syntax error messages -------------------------------------------------
 *
 *   syntax error: unexpected ')', expecting an expression
 *   expected '}' to close model 'xor' (opened at line 2)
 *   'model' is a keyword and cannot be used as a name
 */

/* Only "memory exhausted" gets here (parse.error custom words every syntax
   error in yyreport_syntax_error): the stack passed YYMAXDEPTH, which only
   thousands of unary minus signs in a row can make it do. */
static void nnc_yyerror(src_span *loc, void *scanner, parse_ctx *ctx,
                        const char *msg) {
    (void)scanner;
    diag_error(ctx->d, *loc, "expression nested too deeply (%s: the parser's "
               "stack is full)", msg);
}

static int is_keyword(yysymbol_kind_t s) {
    return s >= YYSYMBOL_KW_MODEL && s <= YYSYMBOL_KW_TRAIN;
}

/* How an expected symbol reads: a name, 'model', '('. */
static const char *sym_desc(yysymbol_kind_t s, char *buf, size_t cap) {
    switch (s) {
    case YYSYMBOL_NAME: return "a name";
    case YYSYMBOL_NUMBER: return "a number";
    case YYSYMBOL_YYEOF: return "end of file";
    default: break;
    }
    const char *n = yysymbol_name(s); /* model, ->, '(' */
    snprintf(buf, cap, n[0] == '\'' ? "%s" : "'%s'", n);
    return buf;
}

/* Appends the source text of t, quoted (see parse_quote_text). */
static void quote_tok(const parse_ctx *ctx, const tok_info *t, strbuf *b) {
    parse_quote_text(b, (const unsigned char *)ctx->src + t->off, t->len);
}

/* How the unexpected token reads: name 'f32', number '3', ')', 'model'. */
static void unexpected_desc(const parse_ctx *ctx, yysymbol_kind_t s, strbuf *b) {
    char buf[32];
    if ((s == YYSYMBOL_NAME || s == YYSYMBOL_NUMBER) && ctx->cur.len) {
        sb_puts(b, s == YYSYMBOL_NAME ? "name " : "number ");
        quote_tok(ctx, &ctx->cur, b);
    } else if (s == YYSYMBOL_NAME || s == YYSYMBOL_NUMBER) {
        sb_puts(b, s == YYSYMBOL_NAME ? "name" : "number");
    } else {
        sb_puts(b, sym_desc(s, buf, sizeof buf));
    }
}

/* The expected tokens as a set indexed by symbol kind. */
typedef struct expect_set {
    char has[YYNTOKENS]; /* 1: the symbol may come next */
} expect_set;

static int has_tok(const expect_set *e, int tok) { return e->has[YYTRANSLATE(tok)]; }

static int has_all(const expect_set *e, const int *toks, int n) {
    for (int i = 0; i < n; i++)
        if (!has_tok(e, toks[i])) return 0;
    return 1;
}

static void drop_all(expect_set *e, const int *toks, int n) {
    for (int i = 0; i < n; i++) e->has[YYTRANSLATE(toks[i])] = 0;
}

/* The token codes of a group; `need` of them must all be expected. */
typedef struct tok_group {
    const char *words; /* how the group reads */
    int need;          /* toks[0..need) must all be expected */
    int n;             /* toks[need..n) are folded in too when present */
    int toks[10];      /* token codes */
} tok_group;

static const tok_group GROUPS[] = {
    {"an expression", 4, 5, {TOK_NAME, TOK_NUMBER, '(', '[', '-'}},
    {"a statement", 6, 10, {TOK_KW_INPUT, TOK_KW_TARGET, TOK_KW_PARAM, TOK_KW_OUTPUT,
                            TOK_KW_LOSS, TOK_KW_TRAIN, TOK_NAME, TOK_KW_RETURN, ';',
                            TOK_END}},
    /* '(' (a call) and '=' (a named argument) can follow a name too, but
       listing them beside the operators only confuses */
    {"an operator", 2, 8, {'+', '*', '-', '/', TOK_ARROW, '(', '=', '['}},
};

/* Fills items[] with what may come next, groups folded; returns the count. */
static int expected_items(expect_set e, const char *items[], int max,
                          char bufs[][32]) {
    int n = 0;
    for (size_t g = 0; g < sizeof GROUPS / sizeof *GROUPS; g++) {
        if (!has_all(&e, GROUPS[g].toks, GROUPS[g].need)) continue;
        drop_all(&e, GROUPS[g].toks, GROUPS[g].n);
        if (n < max) items[n] = GROUPS[g].words;
        n++;
    }
    int others = n;
    for (int s = 0; s < YYNTOKENS; s++) others += e.has[s] && s != YYSYMBOL_YYEOF;
    if (others) e.has[YYSYMBOL_YYEOF] = 0; /* "end of file" only when alone */
    for (int s = 0; s < YYNTOKENS; s++) {
        if (!e.has[s]) continue;
        if (n < max) items[n] = sym_desc((yysymbol_kind_t)s, bufs[n], 32);
        n++;
    }
    return n;
}

/* "syntax error: unexpected X[, expecting A, B or C]" */
static void generic_message(const parse_ctx *ctx, yysymbol_kind_t la,
                            const expect_set *e, strbuf *b) {
    enum { MAX_ITEMS = 4 };
    const char *items[MAX_ITEMS];
    char bufs[MAX_ITEMS][32];
    int n = expected_items(*e, items, MAX_ITEMS, bufs);
    sb_puts(b, "syntax error: unexpected ");
    unexpected_desc(ctx, la, b);
    if (n < 1 || n > MAX_ITEMS) return;
    sb_puts(b, ", expecting ");
    for (int i = 0; i < n; i++)
        sb_printf(b, "%s%s", i == 0 ? "" : i == n - 1 ? " or " : ", ", items[i]);
}

/* A token that cannot be inside an expression: an unclosed bracket or
   brace is the likely cause of an error on it. */
static int ends_construct(yysymbol_kind_t la) {
    return la == YYSYMBOL_YYEOF || is_keyword(la) || la == YYTRANSLATE('}') ||
           la == YYTRANSLATE(';');
}

/* expected '}' to close model 'x' (opened at line N); the same for a block */
static int unclosed_message(const parse_ctx *ctx, yysymbol_kind_t la,
                            const expect_set *e, strbuf *b) {
    if (!ends_construct(la)) return 0;
    char close = ctx->before_ch == '(' ? ')' : ']';
    if (ctx->before_valid && has_tok(e, close)) {
        sb_printf(b, "expected '%c' to close '%c' (opened at line %d, column %d)",
                  close, ctx->before_ch, ctx->before.line, ctx->before.col);
        return 1;
    }
    /* ('const' inside a body is more likely a misplaced const) */
    int at_end = la == YYSYMBOL_YYEOF || la == YYSYMBOL_KW_MODEL ||
                 la == YYSYMBOL_KW_BLOCK;
    if (!at_end || !ctx->in_brace || !has_tok(e, '}')) return 0;
    if (ctx->brace_model)
        sb_printf(b, "expected '}' to close %s '%s' (opened at line %d)",
                  ctx->brace_what, ctx->brace_model, ctx->brace.line);
    else
        sb_printf(b, "expected '}' to close '{' (opened at line %d)", ctx->brace.line);
    return 1;
}

static int is_binary_op(yysymbol_kind_t s) {
    return s == YYTRANSLATE('+') || s == YYTRANSLATE('-') || s == YYTRANSLATE('*') ||
           s == YYTRANSLATE('/');
}

static int only_name_expected(const expect_set *e) {
    for (int s = 0; s < YYNTOKENS; s++)
        if (e->has[s] != (s == YYSYMBOL_NAME)) return 0;
    return 1;
}

/* A name is missing: after '->' or a keyword, or a keyword stands in for it. */
static int name_message(const parse_ctx *ctx, yysymbol_kind_t la,
                        const expect_set *e, strbuf *b) {
    int p = ctx->prev.kind;
    if (p == TOK_ARROW && has_tok(e, TOK_NAME)) {
        sb_puts(b, "expected a function name after '->', found ");
    } else if (is_keyword(la) && only_name_expected(e)) {
        sb_printf(b, "'%s' is a keyword and cannot be used as a name",
                  yysymbol_name(la));
        return 1;
    } else if (only_name_expected(e) && p >= TOK_KW_MODEL && p <= TOK_KW_TRAIN) {
        sb_printf(b, "expected a name after '%s', found ", yysymbol_name(YYTRANSLATE(p)));
    } else {
        return 0;
    }
    unexpected_desc(ctx, la, b);
    return 1;
}

/* "expected ':' and a type after 'input x', found name 'f32'" and kin:
   what the two tokens before the offending one make clear. */
static int context_message(const parse_ctx *ctx, yysymbol_kind_t la,
                           const expect_set *e, strbuf *b) {
    int p = ctx->prev.kind, p2 = ctx->prev2.kind;
    if (name_message(ctx, la, e, b)) return 1;
    if (p == TOK_NAME && p2 == TOK_ARROW && is_binary_op(la)) {
        sb_printf(b, "'->' binds loosest: write '(... -> %s) %c ...' to apply an "
                     "operator to a pipe, found ", ctx->prev.str, (char)ctx->cur.kind);
    } else if (la == YYSYMBOL_KW_CONST && ctx->in_brace && has_tok(e, '}')) {
        sb_printf(b, "consts are declared outside %ss (before '%s %s'), found ",
                  ctx->brace_what ? ctx->brace_what : "model",
                  ctx->brace_what ? ctx->brace_what : "model",
                  ctx->brace_model ? ctx->brace_model : "...");
    } else if (p == TOK_NAME && p2 == TOK_KW_CONST && has_tok(e, '=')) {
        sb_printf(b, "expected '=' after 'const %s', found ", ctx->prev.str);
    } else if (p == TOK_NAME && (p2 == TOK_KW_INPUT || p2 == TOK_KW_TARGET ||
                                 p2 == TOK_KW_PARAM) && has_tok(e, ':')) {
        sb_printf(b, "expected ':' and a type after '%s %s', found ",
                  yysymbol_name(YYTRANSLATE(p2)), ctx->prev.str);
    } else if (p == TOK_NAME && p2 == ':' && has_tok(e, '[')) {
        sb_printf(b, "expected '[' after '%s' (a scalar type is written '%s[]'), found ",
                  ctx->prev.str, ctx->prev.str);
    } else {
        return 0;
    }
    unexpected_desc(ctx, la, b);
    return 1;
}

/* Called by the parser on each syntax error it reports (not during error
   recovery, not for the error token the filter returns after a lexical
   error). */
static int yyreport_syntax_error(const yypcontext_t *yc, void *scanner,
                                 parse_ctx *ctx) {
    (void)scanner;
    yysymbol_kind_t exp[YYNTOKENS];
    int n = yypcontext_expected_tokens(yc, exp, YYNTOKENS);
    if (n < 0) return n;
    expect_set e;
    memset(&e, 0, sizeof e);
    for (int i = 0; i < n; i++) e.has[exp[i]] = 1;
    yysymbol_kind_t la = yypcontext_token(yc);
    if (la < 0) la = YYSYMBOL_YYEOF;
    strbuf b;
    sb_init(&b);
    if (!unclosed_message(ctx, la, &e, &b) && !context_message(ctx, la, &e, &b))
        generic_message(ctx, la, &e, &b);
    diag_error(ctx->d, *yypcontext_location(yc), "%s", b.s);
    sb_free(&b);
    return 0;
}
