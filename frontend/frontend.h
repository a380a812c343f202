/* frontend.h — from source text to IR.
 *
 *   lexer.l, parser.y  text -> AST (ast.h); scanner and grammar
 *   parse.c            parse_program, the token filter between them
 *   ast_build.h        scanner state, parser context, constructor prototypes
 *   ast.c              the AST constructors (ast_*) the grammar calls
 *   ast_print.c        the AST as text (--emit=ast)
 *   elab.h             what elaboration shares with the built-in families
 *   elab_impl.h        what the elab*.c files share among themselves
 *   elab.c             AST -> IR: elaborate(), consts, the model, second pass
 *   elab_names.c       scopes and name lookup (hashed), suggestions
 *   elab_expr.c        values and expressions
 *   elab_call.c        calls of built-ins; helpers for the families
 *   elab_stmt.c        statements: input, target, param, bindings, output
 *   elab_train.c       the loss and train statements
 *   elab_objective.c   several objectives: named losses, params = [...]
 *   elab_block.c       user-defined blocks, dim and stack
 *   lib_core.c         built-ins: elementwise, matmul, sum/mean, dense,
 *                      losses, optimizers
 *   lib_conv.c, lib_rnn.c, lib_attn.c, lib_norm.c
 *                      built-ins: conv/pool, recurrent, attention/shape ops,
 *                      normalization/dropout/activations
 *   lib_rand.c         built-ins: randn, rand, randn_like, rand_like
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
