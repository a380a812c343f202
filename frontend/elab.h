/* elab.h — inside frontend/: what the elaboration core (elab*.c, see
 * elab_impl.h) shares with the families of built-in ops (lib_*.c): values,
 * the elaboration state, the built-in table entry, and helpers to check
 * arguments and add nodes. A family defines `const builtin
 * elab_lib_FAMILY[]`, ended by an entry with a NULL name, and lists it in
 * elab_libs (elab.c). */
#ifndef NNC_ELAB_H
#define NNC_ELAB_H

#include "frontend.h"

/* Which graph a pass over the model builds: models with dropout or batch
 * norm are elaborated twice, once per mode, sharing parameters. */
typedef enum elab_mode { MODE_TRAIN, MODE_INFER } elab_mode;

typedef enum vkind { V_NONE, V_ERR, V_NUM, V_TENSOR, V_SYM } vkind;

/* The value of an expression. */
typedef struct val {
    vkind kind;
    double num;      /* V_NUM */
    int is_int;      /* V_NUM: an integer */
    int node;        /* V_TENSOR: node id */
    const char *sym; /* V_SYM: a symbolic argument (he, true, ...) */
    src_span span;   /* where it was written */
} val;

typedef struct binding {
    const char *name;
    val v;
    src_span def; /* the defining name */
} binding;

typedef ARR(double) dvec;

typedef struct elab {
    ir_graph *g;
    diag_ctx *d;
    struct el_scope *names;     /* the names in scope (elab_names.c) */
    const char *scope;          /* binding name that layers in this statement use */
    int nlayers;                /* layers in the current statement */
    int ncalls;                 /* calls evaluated so far in this statement */
    ARR(int) auto_params;       /* weights with INIT_AUTO: param node id */
    ARR(int) auto_outs;         /* ... and the layer output that decides */
    elab_mode mode;             /* which graph this pass builds */
    int mode_dependent;         /* set by ops that differ between the modes */
    int ndropout;               /* random ops (dropout, randn, ...) so far in this pass (their Philox streams) */
    struct elab_blocks *blocks; /* user-defined blocks and their state (elab_block.c) */
    struct el_index *param_ids; /* parameter name -> node id (elab_call.c) */
    const ast_expr *freeze;     /* the train statement's freeze = [...] argument, or NULL */
    ARR(const ast_stmt *) losses; /* the loss statements (training pass) */
    ARR(const ast_stmt *) trains; /* the train statements (training pass) */
    const char *objective;      /* the name of the loss this compile trains (NULL: unnamed) */
    const ast_stmt *train;      /* its train statement, or NULL */
} elab;

enum { MAX_PARAMS = 11 }; /* conv_transpose2d takes 10 arguments */
typedef struct builtin builtin;
typedef val (*builtin_fn)(elab *e, const builtin *b, const ast_expr *call, val *args);
/* B_STACK: the call needs an argument unevaluated (stack's block name), so
 * it has no fn: elab_call.c hands it to el_stack_call. */
typedef enum { B_EXPR, B_OPTIM, B_STACK } bkind;

/* A built-in: its parameter names (required ones first) and handler. */
struct builtin {
    const char *name;
    const char *params[MAX_PARAMS]; /* NULL-terminated */
    int nreq;                       /* how many are required */
    builtin_fn fn;
    bkind kind;
    ir_op op;                       /* the IR op of simple ops */
    int layer;                      /* 1 if it creates parameters (for naming) */
};


/* All built-in tables, each ended by a NULL name; the list ends with NULL. */
extern const builtin *const elab_libs[];

/* ---- helpers for built-ins (values: elab_expr.c; the rest: elab_call.c) -- */

extern const val el_err;                      /* the poison value */
val el_num(double x, src_span at);            /* a number */
val el_tensor(int node, src_span at);         /* a tensor value */
ir_node *el_node(elab *e, int id);
const char *el_type_str(elab *e, int id);     /* "f32[2, 3]" */
/* Argument checks: report at the argument and return 0 when wrong. */
int el_want_tensor(elab *e, const builtin *b, val *v, int i);
int el_want_int(elab *e, const builtin *b, val *v, int i, int64_t lo, int64_t *out);
int el_want_num(elab *e, const builtin *b, val *v, int i, double *out); /* V_NONE keeps *out */
/* Add op over tensor values; a shape error is reported at `at` with notes
 * naming each operand's type. */
val el_apply(elab *e, const ast_expr *at, ir_op op, const val *ops, int n, const int64_t *ia, const double *fa);
val el_op_error(elab *e, const ast_expr *at, const char *msg, const val *ops, int n);
/* "<binding>.leaf" or "<binding>.<k>.leaf" for the layer being applied. */
const char *el_param_name(elab *e, const char *leaf);
/* A new parameter (or, in the second pass, the one the first made). */
ir_node *el_param(elab *e, const char *name, ir_shape s, src_span at);
/* A non-trained state buffer saved with the parameters (running stats). */
ir_node *el_buffer(elab *e, const char *name, ir_shape s, ir_init init, src_span at);
int el_init_kind(elab *e, const val *v, ir_init *out);

/* A layer with a weight and an optional bias (dense, conv2d). */
typedef struct el_layer_spec {
    ir_shape wshape;         /* weight shape; wshape.d[0] is the bias length */
    int64_t fan_in, fan_out; /* for He / Glorot */
    ir_init init;            /* the weight's initializer (INIT_AUTO: He before a relu) */
    ir_op op;                /* y = op(x, weight; ia) */
    const int64_t *ia;       /* its attributes */
    int bias;                /* 1: add a bias [wshape.d[0]] with bias_op */
    ir_op bias_op;           /* IR_ADD, IR_CHANNEL_BIAS */
    int64_t nbias;           /* the bias length when not wshape.d[0] (conv_transpose2d), else 0 */
} el_layer_spec;
/* Create `<scope>.weight` (and `<scope>.bias`), apply them to x, and
 * register an INIT_AUTO weight for the relu rule. */
val el_layer(elab *e, const ast_expr *call, val x, const el_layer_spec *l);

#endif /* NNC_ELAB_H */
