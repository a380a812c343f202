/* parse.c — parse_program, and the token filter between flex and bison.
 *
 * The parser (nnc_yyparse) asks nnc_yylex, here, for each token; this asks
 * the flex scanner (nnc_lxlex) and, on the way:
 *   - keeps the last three tokens, the unclosed brackets and the open model
 *     or block brace, so that syntax errors can say "expected ')' to close
 *     '(' (opened at line 3, column 9)" (yyreport_syntax_error in parser.y);
 *   - caps bracket nesting at NNC_MAX_NESTING: the bracket that would go
 *     deeper is reported once ("expression nested too deeply") and its whole
 *     contents are replaced by a placeholder 0, so `((((...` 100k deep
 *     costs one error and no parser stack.
 *
 * Include order: parser.h (bison) before lexer.h (flex), see ast_build.h.
 */
#include <limits.h>

#include "parser.h"
#include "lexer.h"

void parse_quote_text(strbuf *b, const unsigned char *p, size_t n) {
    size_t shown = n > 24 ? 24 : n;
    sb_puts(b, "'");
    for (size_t i = 0; i < shown; i++) {
        if (p[i] < 0x20 || p[i] >= 0x7f) sb_printf(b, "\\x%02X", p[i]);
        else sb_printf(b, "%c", p[i]);
    }
    sb_puts(b, n > shown ? "...'" : "'");
}

/* One token straight from flex. */
static void raw_token(parse_ctx *ctx, tok_info *t) {
    NNC_YYSTYPE v;
    src_span loc = {0, 0, 0, 0};
    memset(&v, 0, sizeof v);
    memset(t, 0, sizeof *t);
    t->kind = nnc_lxlex(&v, &loc, ctx->scanner);
    const lex_state *st = nnc_lxget_extra(ctx->scanner);
    t->loc = loc;
    t->off = st->tok_off;
    t->len = st->tok_len;
    if (t->kind == TOK_NAME) t->str = v.str;
    if (t->kind == TOK_NUMBER) t->num = v.num;
}

/* The next token: a queued one first. */
static void next_token(parse_ctx *ctx, tok_info *t) {
    if (ctx->npending == 0) {
        raw_token(ctx, t);
        return;
    }
    *t = ctx->pending[0];
    ctx->npending--;
    memmove(ctx->pending, ctx->pending + 1, (size_t)ctx->npending * sizeof *t);
}

static void queue(parse_ctx *ctx, const tok_info *t) {
    if (ctx->npending < (int)(sizeof ctx->pending / sizeof *ctx->pending))
        ctx->pending[ctx->npending++] = *t;
}

/* Tokens that cannot be inside an expression: bracket tracking restarts. */
static int ends_expression(int kind) {
    return kind == TOK_END || kind == '{' || kind == '}' ||
           (kind >= TOK_KW_MODEL && kind <= TOK_KW_TRAIN);
}

static int is_open(int kind) { return kind == '(' || kind == '['; }
static int is_close(int kind) { return kind == ')' || kind == ']'; }

/* `open` would nest too deeply: report it, swallow everything up to its
 * matching bracket, and queue a placeholder 0 and that bracket, so the
 * parser sees `( 0 )`. An expression-ending token stops the skip early. */
static void skip_too_deep(parse_ctx *ctx, const tok_info *open) {
    diag_error(ctx->d, open->loc,
               "expression nested too deeply (more than %d levels of brackets)",
               NNC_MAX_NESTING);
    ctx->deep_reported = 1; /* the tree depth check need not say it again */
    tok_info r, zero = {.kind = TOK_NUMBER, .num = {0, 1}, .loc = open->loc};
    int depth = 1;
    for (;;) {
        raw_token(ctx, &r);
        if (ends_expression(r.kind)) break;
        if (is_open(r.kind)) depth++;
        if (is_close(r.kind) && --depth == 0) break;
        zero.loc = span_join(zero.loc, r.loc);
    }
    queue(ctx, &zero);
    queue(ctx, &r);
}

static void track_brackets(parse_ctx *ctx, const tok_info *t) {
    ctx->before_valid = ctx->nopen > 0;
    if (ctx->nopen) {
        ctx->before = ctx->open[ctx->nopen - 1];
        ctx->before_ch = ctx->open_ch[ctx->nopen - 1];
    }
    if (is_open(t->kind)) {
        ctx->open[ctx->nopen] = t->loc;
        ctx->open_ch[ctx->nopen++] = (char)t->kind;
        if (ctx->nopen > NNC_MAX_NESTING) skip_too_deep(ctx, t);
    } else if (is_close(t->kind)) {
        if (ctx->nopen) ctx->nopen--;
    } else if (ends_expression(t->kind)) {
        ctx->nopen = 0;
    }
}

/* Which model or block a '{' opens: `model NAME {` or `block NAME (...) {`. */
static void track_braces(parse_ctx *ctx, const tok_info *t) {
    if (t->kind == TOK_NAME && ctx->cur.kind == TOK_KW_BLOCK) ctx->block_name = t->str;
    if (t->kind == '{') {
        ctx->in_brace = 1;
        ctx->brace = t->loc;
        ctx->brace_what = "model";
        ctx->brace_model = ctx->cur.kind == TOK_NAME && ctx->prev.kind == TOK_KW_MODEL
                               ? ctx->cur.str : NULL;
        if (ctx->cur.kind == ')' && ctx->block_name) {
            ctx->brace_what = "block";
            ctx->brace_model = ctx->block_name;
        }
        ctx->block_name = NULL;
    } else if (t->kind == '}') {
        ctx->in_brace = 0;
    }
}

/* End of file sits just after the last token (1:1 in an empty file). */
static void place_eof(const parse_ctx *ctx, tok_info *t) {
    src_span at = {1, 1, 1, 1};
    if (ctx->cur.loc.line) {
        at.line = at.end_line = ctx->cur.loc.end_line;
        at.col = at.end_col = ctx->cur.loc.end_col;
    }
    t->loc = at;
    t->len = 0;
}

int nnc_yylex(NNC_YYSTYPE *lval, src_span *lloc, void *scanner, parse_ctx *ctx) {
    (void)scanner; /* the same as ctx->scanner */
    tok_info t;
    next_token(ctx, &t);
    if (t.kind == TOK_END) place_eof(ctx, &t);
    track_brackets(ctx, &t);
    track_braces(ctx, &t);
    ctx->prev2 = ctx->prev;
    ctx->prev = ctx->cur;
    ctx->cur = t;
    if (t.kind == TOK_NAME) lval->str = t.str;
    if (t.kind == TOK_NUMBER) lval->num = t.num;
    *lloc = t.loc;
    return t.kind;
}

/* Runs the parser over a scanner already set up; returns after a longjmp
 * from YY_FATAL_ERROR too (the scanner reported it). */
static void run_parser(parse_ctx *ctx, const char *src, size_t len, lex_state *st) {
    jmp_buf fatal;
    st->fatal = &fatal;
    if (setjmp(fatal) == 0) {
        nnc_lx_scan_bytes(src, (int)len, ctx->scanner);
        nnc_yyparse(ctx->scanner, ctx);
    }
    st->fatal = NULL;
}

int parse_program(const char *src, size_t len, arena *a, diag_ctx *d,
                  ast_program *out) {
    memset(out, 0, sizeof *out);
    if (!src) src = "", len = 0;
    if (len > INT_MAX / 2) {
        diag_plain(d, "input too large (%zu bytes)", len);
        return d->errors;
    }
    lex_state st = {.d = d, .a = a, .src = src, .line = 1, .col = 1};
    parse_ctx *ctx = arena_alloc(a, sizeof *ctx);
    ctx->a = a;
    ctx->d = d;
    ctx->src = src;
    if (nnc_lxlex_init_extra(&st, &ctx->scanner) != 0) {
        diag_plain(d, "cannot start the scanner");
        return d->errors;
    }
    run_parser(ctx, src, len, &st);
    nnc_lxlex_destroy(ctx->scanner);
    out->consts = ctx->consts.data;
    out->nconsts = ctx->consts.len;
    out->models = ctx->models.data;
    out->nmodels = ctx->models.len;
    out->blocks = ctx->blocks.data;
    out->nblocks = ctx->blocks.len;
    return d->errors;
}
