/* elab_impl.h — inside elaboration: what the elab*.c files share with each
 * other and the built-in families (lib_*.c, which need only elab.h) do not:
 * scopes and the hash index behind them, the state of user-defined blocks,
 * and each file's entry points.
 *
 *   elab.c        elaborate(): consts, the model, the second pass, auto init
 *   elab_names.c  hash index, scopes, bind/lookup, built-in lookup, suggestions
 *   elab_expr.c   values and expressions: numbers, names, arithmetic, literals
 *   elab_index.c  indexing x[i, a:b, ...], lowered to slices and reshapes
 *   elab_call.c   calls: argument matching, dispatch, the helpers of elab.h
 *   elab_stmt.c   statements: input, target, param, bindings, output
 *   elab_train.c  the loss and train statements
 *   elab_objective.c  several objectives: named losses, train NAME: ..., params
 *   elab_block.c  user-defined blocks, dim and stack
 */
#ifndef NNC_ELAB_IMPL_H
#define NNC_ELAB_IMPL_H

#include "elab.h"

/* ---- names (elab_names.c) ---------------------------------------------- */

/* A hash index from names to ints (open addressing), in the compile arena.
 * The names are not copied: they must live as long as the arena. */
typedef struct el_index {
    const char **key; /* nslot entries; NULL: empty */
    int *val;         /* the value of each key */
    int nslot, n;     /* nslot is 0 or a power of two above 2 * n */
} el_index;

/* The value of name, or -1. */
int el_index_get(const el_index *ix, const char *name);
/* Maps name to v; a name already there keeps its first value. */
void el_index_put(arena *a, el_index *ix, const char *name, int v);

/* The names bound in one scope: the consts (parent NULL), or the model's
 * statements or one block application's body (parent: the consts). */
typedef struct el_scope el_scope;
struct el_scope {
    el_scope *parent;       /* searched after this one */
    ARR(binding) list;      /* in definition order (suggestions walk it) */
    el_index index;         /* name -> position in list */
};

el_scope *el_scope_new(elab *e, el_scope *parent); /* empty, in the arena */
/* The binding of name in the current scope or its parents, or NULL. */
binding *el_lookup(elab *e, const char *name);
/* Bind name in the current scope; a name bound already (here or in a
 * parent) is reported as a redefinition and keeps its first binding. */
void el_bind(elab *e, const char *name, src_span def, val v);
const builtin *el_find_builtin(const char *name);
/* The symbol (he, true, ...) spelled `name`, or NULL. */
const char *el_symbol(const char *name);
/* "unknown <what> 'name'", with "did you mean" when a known name is close.
 * ops: 0 names and symbols, 1 ops and blocks, 2 optimizers, 3 blocks. */
void el_unknown(elab *e, src_span at, const char *what, const char *name, int ops);

/* ---- expressions (elab_expr.c) and calls (elab_call.c) ----------------- */

val el_eval(elab *e, const ast_expr *x);
/* Count layers (dense, blocks, stack, ...) in x, for parameter naming. */
int el_count_layers(elab *e, const ast_expr *x);
/* Evaluate the expression of a statement whose layers are named after scope. */
val el_eval_stmt_expr(elab *e, const char *scope, const ast_expr *x);
val el_eval_call(elab *e, const ast_expr *x);
val el_eval_index(elab *e, const ast_expr *x); /* x[subscripts] */
/* sqrt, exp, log, pow, min, max of numbers: sets *out (the value, or el_err
 * after a domain error) and returns 1; returns 0 for anything else. */
int el_const_math(elab *e, const builtin *b, const ast_expr *call, const val *args, val *out);
/* Match a call's arguments to the built-in's parameters, evaluating them. */
int el_bind_args(elab *e, const builtin *b, const ast_expr *call, val *args);
int el_param_index(const builtin *b, const char *name); /* -1: no such parameter */

/* ---- statements (elab_stmt.c, elab_train.c) ---------------------------- */

void el_stmt(elab *e, const ast_stmt *st);
void el_decl_param(elab *e, const ast_stmt *st);
void el_name_node(elab *e, val v, const char *name); /* names an unnamed node */
/* The first node of role `role` that node id depends on, or -1. */
int el_depends_on_role(elab *e, int id, ir_role role);
void el_stmt_loss(elab *e, const ast_stmt *st);
void el_stmt_train(elab *e, const ast_stmt *st);
/* After the model: the parameters train's freeze = [...] names stop being
 * trained (ROLE_BUFFER); unknown names and freezing everything are errors. */
void el_freeze(elab *e, const ast_model *m);
/* Several objectives (elab_objective.c): a loss or train statement
 * recorded; 1 if it belongs to the objective this compile builds, 0 if to
 * another, -1 after an error. */
int el_objective_loss(elab *e, const ast_stmt *st);
int el_objective_train(elab *e, const ast_stmt *st);
/* After the model's statements: the names and the loss-train pairs
 * checked. After the second pass: the objective's params = [...] applied
 * (the parameters outside it frozen for it). */
void el_objectives(elab *e, const ast_model *m);
void el_objective_params(elab *e);

/* ---- user-defined blocks (elab_block.c) -------------------------------- */

typedef struct block_info {
    const ast_block *ast;
    int usable; /* 0: a structural error was reported, or the name is taken */
    int failed; /* an application reported errors: later ones stay quiet */
    int active; /* being applied now: applying it again is recursion */
} block_info;

typedef struct elab_blocks elab_blocks;
struct elab_blocks {
    block_info *b;          /* the program's blocks, in source order */
    int n;
    el_index by_name;       /* block name -> the first block of that name */
    ARR(int) chain;         /* blocks being applied, outermost first */
    const char *prefix;     /* parameter-name prefix inside a block, NULL in the model */
    el_scope *consts;       /* the consts' scope; NULL while they are evaluated */
    int napplied;           /* block applications in this pass */
    int over_budget;        /* MAX_BLOCK_APPLICATIONS or MAX_BLOCK_DEPTH was reported */
};

void el_blocks_init(elab *e, const ast_program *p);
/* Report structural errors of block bi once; a block with one is not applied. */
void el_check_block(elab *e, int bi);
/* The block called `name` (not one named like a built-in op), or -1. */
int el_find_block(elab *e, const char *name);
val el_call_block(elab *e, int bi, const ast_expr *x);
val el_stack_call(elab *e, const builtin *sb, const ast_expr *x);

#endif /* NNC_ELAB_IMPL_H */
