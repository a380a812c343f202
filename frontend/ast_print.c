/* ast_print.c — the AST as text, for `nnc --emit=ast` and for tests.
 *
 * Format (deterministic; one line per const, block, model and statement;
 * consts first, then blocks, then models, each in source order):
 *
 *   const B = 32
 *   block mlp(x, width=128)         (parameters; defaults as name=value)
 *     let h = (pipe dense x width)
 *     return (call dense h 10)
 *   model digits_mlp
 *     input image : f32[B, 64]
 *     target digit : i32[B]
 *     param w : f32[2, 1] = [[(neg 0.5)] [(neg 0.1)]]
 *     let h = (pipe relu (pipe dense image 128))
 *     output probs = (call softmax logits)
 *     output p                       (an output with no expression)
 *     loss (call cross_entropy logits digit)
 *     train (call adam lr=0.001)
 *
 * Expressions are S-expressions:
 *   42, 0.5, 1.0    numbers: integers as written, others in the shortest
 *                   form that reads back exactly, always with '.' or 'e'
 *   x               a name
 *   (call f a k=v)  a call; named arguments as name=value
 *   (pipe f a b)    a call written `a -> f(b)`: the first argument is the
 *                   piped left-hand side
 *   (+ a b)         binary + - * /
 *   (neg a)         unary minus
 *   [a b [c d]]     a list (tensor literal)
 * A statement is indented two spaces under its model.
 */
#include "ast_build.h"

#include <stdlib.h>

/* Defensive bound: trees from the parser are at most NNC_MAX_NESTING deep. */
#define PRINT_MAX_DEPTH (4 * NNC_MAX_NESTING)

/* Shortest %g form of v that reads back as v, with '.' or 'e' kept. */
static void print_float(double v, FILE *out) {
    char buf[64];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    double mag = v < 0 ? -v : v;
    if (strchr(buf, 'e') && mag >= 1e-4 && mag < 1e16) { /* 350.0, not 3.5e+02 */
        for (int dec = 0; dec <= 24; dec++) {
            snprintf(buf, sizeof buf, "%.*f", dec, v);
            if (strtod(buf, NULL) == v) break;
        }
    }
    fputs(buf, out);
    if (!strpbrk(buf, ".eEni")) fputs(".0", out); /* n, i: nan, inf */
}

static void print_num(const ast_expr *e, FILE *out) {
    if (e->is_int && e->num >= -9.2e18 && e->num <= 9.2e18)
        fprintf(out, "%lld", (long long)e->num);
    else
        print_float(e->num, out);
}

static void print_expr(const ast_expr *e, FILE *out, int depth);

static void print_call(const ast_expr *e, FILE *out, int depth) {
    fprintf(out, "(%s %s", e->piped ? "pipe" : "call", e->name ? e->name : "?");
    for (int i = 0; i < e->nargs; i++) {
        fputc(' ', out);
        if (e->args[i].name) fprintf(out, "%s=", e->args[i].name);
        print_expr(e->args[i].value, out, depth + 1);
    }
    fputc(')', out);
}

static void print_list(const ast_expr *e, FILE *out, int depth) {
    fputc('[', out);
    for (int i = 0; i < e->nelems; i++) {
        if (i) fputc(' ', out);
        print_expr(e->elems[i], out, depth + 1);
    }
    fputc(']', out);
}

/* (slice lo hi step), with _ for a part left out */
static void print_slice(const ast_expr *e, FILE *out, int depth) {
    const ast_expr *part[3] = {e->lhs, e->rhs, e->step};
    fputs("(slice", out);
    for (int i = 0; i < 3; i++) {
        fputc(' ', out);
        if (part[i]) print_expr(part[i], out, depth + 1);
        else fputc('_', out);
    }
    fputc(')', out);
}

static void print_expr(const ast_expr *e, FILE *out, int depth) {
    if (!e) { fputs("?", out); return; }
    if (depth > PRINT_MAX_DEPTH) { fputs("...", out); return; }
    switch (e->kind) {
    case EX_NUM: print_num(e, out); break;
    case EX_NAME: fputs(e->name ? e->name : "?", out); break;
    case EX_CALL: print_call(e, out, depth); break;
    case EX_BINOP:
        fprintf(out, "(%c ", e->op);
        print_expr(e->lhs, out, depth + 1);
        fputc(' ', out);
        print_expr(e->rhs, out, depth + 1);
        fputc(')', out);
        break;
    case EX_NEG:
        fputs("(neg ", out);
        print_expr(e->lhs, out, depth + 1);
        fputc(')', out);
        break;
    case EX_LIST: print_list(e, out, depth); break;
    case EX_INDEX:
        fputs("(index ", out);
        print_expr(e->lhs, out, depth + 1);
        fputc(' ', out);
        print_list(e, out, depth);
        fputc(')', out);
        break;
    case EX_SLICE: print_slice(e, out, depth); break;
    case EX_ELLIPSIS: fputs("...", out); break;
    }
}

static void print_type(const ast_type *t, FILE *out) {
    fprintf(out, "%s[", t->dtype ? t->dtype : "?");
    for (int i = 0; i < t->ndims; i++) {
        if (i) fputs(", ", out);
        print_expr(t->dims[i], out, 0);
    }
    fputc(']', out);
}

static const char *stmt_word(ast_stmt_kind k) {
    switch (k) {
    case ST_INPUT: return "input";
    case ST_TARGET: return "target";
    case ST_PARAM: return "param";
    case ST_LET: return "let";
    case ST_OUTPUT: return "output";
    case ST_LOSS: return "loss";
    case ST_TRAIN: return "train";
    case ST_RETURN: return "return";
    }
    return "?";
}

static void print_stmt(const ast_stmt *s, FILE *out) {
    fprintf(out, "  %s", stmt_word(s->kind));
    if (s->kind == ST_LOSS || s->kind == ST_TRAIN || s->kind == ST_RETURN) {
        fputc(' ', out);
        if (s->name) fprintf(out, "%s%s ", s->name, s->kind == ST_LOSS ? " =" : ":");
        print_expr(s->value, out, 0);
        fputc('\n', out);
        return;
    }
    fprintf(out, " %s", s->name ? s->name : "?");
    if (s->kind == ST_INPUT || s->kind == ST_TARGET || s->kind == ST_PARAM) {
        fputs(" : ", out);
        print_type(&s->type, out);
        if (s->requires_grad) fputs(" requires_grad", out);
    }
    if (s->value) {
        fputs(" = ", out);
        print_expr(s->value, out, 0);
    }
    fputc('\n', out);
}

static void print_block(const ast_block *b, FILE *out) {
    fprintf(out, "block %s(", b->name ? b->name : "?");
    for (int i = 0; i < b->nparams; i++) {
        fprintf(out, "%s%s", i ? ", " : "", b->params[i].name ? b->params[i].name : "?");
        if (b->params[i].def) {
            fputc('=', out);
            print_expr(b->params[i].def, out, 0);
        }
    }
    fputs(")\n", out);
    for (int j = 0; j < b->nstmts; j++) print_stmt(&b->stmts[j], out);
}

void ast_print(const ast_program *p, FILE *out) {
    for (int i = 0; i < p->nconsts; i++) {
        fprintf(out, "const %s = ", p->consts[i].name ? p->consts[i].name : "?");
        print_expr(p->consts[i].value, out, 0);
        fputc('\n', out);
    }
    for (int i = 0; i < p->nblocks; i++) print_block(&p->blocks[i], out);
    for (int i = 0; i < p->nmodels; i++) {
        fprintf(out, "model %s\n", p->models[i].name ? p->models[i].name : "?");
        for (int j = 0; j < p->models[i].nstmts; j++)
            print_stmt(&p->models[i].stmts[j], out);
    }
}
