/* frontend.h — from source text to IR.
 *
 *   lexer.l, parser.y  text -> AST (ast.h)
 *   ast.c              AST constructors and printer
 *   elab.c             AST -> IR: names, consts, shapes, layers, parameters
 */
#ifndef NNC_FRONTEND_H
#define NNC_FRONTEND_H

#include "../ir/ir.h"
#include "ast.h"

/* A `-D NAME=VALUE` from the command line. */
typedef struct elab_define {
    const char *name; /* const to override */
    double value;     /* its new value */
    int is_int;       /* written as an integer */
    int used;         /* set by elaboration when the const exists */
} elab_define;

/* Elaborate the program's model into g (allocated in g's arena). Reports
 * name, type, shape and argument errors to d, recovering per statement;
 * returns the number of errors. */
int elaborate(const ast_program *p, elab_define *defs, int ndefs, diag_ctx *d,
              ir_graph *g);

#endif /* NNC_FRONTEND_H */
