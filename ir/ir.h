/* ir.h — the graph IR: tensor types, nodes, the op table, shape rules,
 * verifier, printer, reference evaluator, autodiff and passes.
 *
 *   ops.def     the op table: one row per op, naming its rules
 *   ir.c        graph construction, node lookup, shape helpers
 *   shape.c     shape inference: dispatch and the shared shape rules
 *   autodiff.c  reverse mode: dispatch, gradient accumulation, shared rules
 *   rules.h     (inside ir/) what the rules of a family are written with
 *   ops_core.c  shape and gradient rules of the core ops (sources,
 *               elementwise, sum, expand, reshape, matmul, softmax, losses)
 *   ops_conv.c  ... of convolution and pooling
 *   ops_rnn.c   ... of the recurrent scan (layouts in rnn.h)
 *   ops_attn.c  ... of shape ops, bmm, embeddings, the causal mask
 *   ops_norm.c  ... of activations, dropout, batch and layer norm
 *   ops_rand.c  ... of the random sources (randn, rand)
 *   verify.c    structural checks run after every pass
 *   print.c     text form (--emit=ir, --emit=ir-train) and Graphviz (--emit=dot)
 *   eval.c      reference evaluator (constant folding, tests)
 *   formula.c   ops.def's elementwise formulas, parsed and evaluated
 *   passes.c    constant folding, common subexpressions, schedules
 *   fuse.c      simplification, fusion and the fused ops' rules
 *   memplan.c   liveness and arena offsets
 *
 * A graph is a list of nodes in topological order; each node is one op with
 * one output tensor whose shape and dtype are known statically.
 */
#ifndef NNC_IR_H
#define NNC_IR_H

#include "../common/common.h"

#define IR_MAX_RANK 6
#define IR_MAX_IN 6
#define IR_MAX_ATTR 8

typedef enum ir_op {
#define OP(e, name, nin, cls, shape, grad, flags, expr) IR_##e,
#include "ops.def"
#undef OP
    IR_NUM_OPS
} ir_op;

typedef enum ir_opclass { OPC_SOURCE, OPC_UNARY, OPC_BINARY, OPC_OTHER } ir_opclass;
enum { OPF_RNG = 1, OPF_STATE = 2, OPF_INDEX = 4 }; /* ops.def flags */
/* OPF_INDEX ops read an i32 index tensor: input iattr[IR_ATTR_INDEX_INPUT],
 * whose values the entry points check lie in [0, iattr[IR_ATTR_INDEX_BOUND])
 * before any kernel runs. The op's shape rule sets both. */
enum { IR_ATTR_INDEX_INPUT = 6, IR_ATTR_INDEX_BOUND = 7 };

/* Static facts about an op, from ops.def. */
typedef struct ir_opinfo {
    const char *name; /* printer spelling */
    int nin;          /* input count */
    ir_opclass cls;   /* kind of kernel */
    int flags;        /* OPF_* */
    const char *expr; /* scalar formula of elementwise ops */
} ir_opinfo;
extern const ir_opinfo ir_ops[IR_NUM_OPS];

typedef enum ir_dtype { DT_F32, DT_I32 } ir_dtype;

typedef struct ir_shape {
    int rank;                /* 0 = scalar */
    int64_t d[IR_MAX_RANK];  /* dims, row-major */
} ir_shape;

/* How a parameter gets its first value. */
typedef enum ir_init {
    INIT_AUTO,   /* He before a relu, Glorot otherwise (resolved by elaboration) */
    INIT_HE,     /* normal, std sqrt(2 / fan_in) */
    INIT_GLOROT, /* uniform, limit sqrt(6 / (fan_in + fan_out)) */
    INIT_ZEROS,
    INIT_ONES,
    INIT_FILL,   /* every element = fill */
    INIT_UNIFORM,/* uniform in [-fill, fill] */
    INIT_NORMAL, /* normal, mean 0, std fill */
    INIT_DATA    /* literal values in data */
} ir_init;

/* What a node is for in the model's interface. */
typedef enum ir_role {
    ROLE_NONE,
    ROLE_INPUT,
    ROLE_TARGET,
    ROLE_PARAM, /* trained */
    ROLE_BUFFER /* state saved with the parameters but not trained (running stats, frozen params) */
} ir_role;

/* The program of a fused node (FUSED, MATMUL_EP; ir/fuse.c): steps of
 * elementwise ops in order, each reading two operands (b unused by unary
 * ops). An operand is input i of the node (0 <= i < IR_MAX_IN), the matrix
 * product of a MATMUL_EP (IR_FREF_ACC) or an earlier step's value
 * (IR_FREF_STEP + j). The node's value is the last step's. */
enum { IR_FUSE_MAX_STEPS = 24, IR_FREF_ACC = 64, IR_FREF_STEP = 128 };
typedef struct ir_fstep {
    ir_op op;    /* an OPC_UNARY or OPC_BINARY op */
    int a, b;    /* operands */
    double p, q; /* the op's fattr[0], fattr[1] */
} ir_fstep;
typedef struct ir_fprog {
    int nstep;
    ir_fstep step[IR_FUSE_MAX_STEPS];
} ir_fprog;

typedef struct ir_node {
    int id;                /* index in graph->nodes */
    ir_op op;
    ir_dtype dtype;
    ir_shape shape;
    int in[IR_MAX_IN];     /* input node ids */
    int nin;
    int64_t iattr[IR_MAX_ATTR]; /* op attributes: MATMUL ta, tb; SUM/EXPAND axis0, axis1; ... */
    double fattr[4];       /* op attributes: SUM/EXPAND scale; ... */
    ir_shape ashape;       /* op attribute: EXPAND, RESHAPE output shape */
    const char *name;      /* user-visible name (binding, parameter), or NULL */
    src_span loc;          /* source of the expression that made it */
    ir_role role;
    int index;             /* ROLE_*: position among inputs/targets/params */
    double *data;          /* CONST values, INIT_DATA values (numel) */
    ir_init init;          /* PARAM: initializer */
    double fill;           /* PARAM INIT_FILL value, INIT_UNIFORM limit, INIT_NORMAL std */
    int64_t fan_in, fan_out; /* PARAM: for He/Glorot */
    int is_grad;           /* 1 if made by autodiff (backward graph) */
    int requires_grad;     /* ROLE_INPUT: its gradient is computed (input_grads) */
    const ir_fprog *prog;  /* FUSED, MATMUL_EP: the fused elementwise program */
    const char *block;     /* the block application that made it (its layer prefix, such as
                              h.1.0), or NULL outside blocks: --emit=dot draws one box per block */
} ir_node;

/* The optimizer named by `train`. */
typedef enum ir_optkind { OPT_NONE, OPT_SGD, OPT_ADAM, OPT_ADAMW } ir_optkind;
typedef struct ir_optim {
    ir_optkind kind;
    double lr;
    double momentum;     /* SGD */
    double dampening;    /* SGD */
    int nesterov;        /* SGD */
    double beta1, beta2; /* Adam(W) */
    double eps;          /* Adam(W) */
    double weight_decay; /* SGD, Adam: L2 into the gradient; AdamW: decoupled */
    src_span loc;
    /* The learning-rate schedule and gradient clipping: the fields of
     * libnnrt's nnrt_sched (runtime/nnrt.h); kind in NNRT_SCHED_* order: constant,
     * step, multistep, exponential, cosine, linear, onecycle. */
    struct ir_lrsched {
        int kind;
        int64_t warmup, total, step_size;
        double gamma, eta_min, end_factor, pct_start, div_factor, final_div_factor;
        int nmilestones;
        int64_t milestones[16];
        double clip_norm, clip_value;
    } sched;
} ir_optim;
/* The schedule kinds' names, in NNRT_SCHED_* order (print.c). */
enum { IR_LRSCHED_KINDS = 7 };
extern const char *const ir_lrsched_names[IR_LRSCHED_KINDS];

typedef struct ir_graph {
    arena *a;                /* owns everything */
    const char *name;        /* model name */
    const char *file;        /* source file name, for comments */
    ARR(ir_node *) nodes;    /* topological order */
    ARR(int) inputs;         /* ROLE_INPUT nodes, declaration order */
    ARR(int) targets;        /* ROLE_TARGET nodes */
    ARR(int) params;         /* ROLE_PARAM and ROLE_BUFFER nodes, declaration order */
    ARR(int) outputs;        /* output nodes */
    ARR(const char *) output_names; /* names of outputs */
    int loss;                /* scalar loss node (training mode), or -1 */
    int loss_eval;           /* the loss in inference mode (== loss unless
                                dropout or batch norm make them differ) */
    ir_optim opt;            /* training configuration */
    const char *objective;   /* the named loss to train (nnc --objective), or NULL */
    ARR(int) grads;          /* after autodiff: gradient node of params[i] (-1 if none) */
    ARR(int) input_grads;    /* after autodiff: gradient node of inputs[i] declared
                                requires_grad (-1 if none or if it does not reach the loss) */
    const char *block;       /* while elaborating a block application: its prefix, which new
                                nodes take as their block; NULL otherwise */
} ir_graph;

/* ---- graph construction (ir.c) ---------------------------------------- */

void ir_graph_init(ir_graph *g, arena *a, const char *name);
ir_node *ir_node_of(const ir_graph *g, int id);
/* The element count. Every shape in a graph fits (ir_shape_fits: checked
 * where it is made); one that does not gives INT64_MAX, never a wrapped
 * value. */
int64_t ir_numel(const ir_shape *s);
/* 1 if the dims are >= 0 and their product fits an int64_t. */
int ir_shape_fits(const ir_shape *s);
/* "WHAT f32[2, 3] is too large: about 1.8e+19 elements, more than 2^63 - 1"
 * for a shape that does not fit, in a. */
const char *ir_size_error(arena *a, const char *what, ir_dtype dt, const ir_shape *s);
int ir_shape_eq(const ir_shape *a, const ir_shape *b);
ir_shape ir_shape_make(int rank, const int64_t *d);
ir_shape ir_scalar_shape(void);
/* "[32, 64]" in the arena. */
const char *ir_shape_str(arena *a, const ir_shape *s);
/* Add a source node (INPUT, PARAM, CONST) with the given type. */
ir_node *ir_add_source(ir_graph *g, ir_op op, ir_dtype dt, ir_shape s,
                       const char *name, src_span loc);
/* Add an op node; runs its shape rule. On a shape error returns NULL and
 * sets *err to a message naming both shapes (allocated in g->a). */
ir_node *ir_add(ir_graph *g, ir_op op, const int *in, int nin,
                const int64_t *iattr, const double *fattr, src_span loc,
                const char **err);
/* EXPAND x back to `to`, the shape it was SUMmed from over axes [a0, a1). */
ir_node *ir_add_expand(ir_graph *g, int x, ir_shape to, int a0, int a1,
                       double scale, src_span loc);
/* RESHAPE x to `to` (same element count). */
ir_node *ir_add_reshape(ir_graph *g, int x, ir_shape to, src_span loc);
/* RANDN or RAND of shape s (it must fit), the model's random op k < 256. */
ir_node *ir_add_random(ir_graph *g, ir_op op, ir_shape s, int64_t k, src_span loc);
/* A scalar or filled constant. */
ir_node *ir_const_scalar(ir_graph *g, double v, src_span loc);

/* ---- shape rules (shape.c; dims helpers: ops_core.c, ops_attn.c) ------- */

/* Fill n->shape and n->dtype from its inputs and attributes; return NULL or
 * an error message. Runs the rule the op's ops.def row names. */
const char *ir_infer_shape(ir_graph *g, ir_node *n);
/* Suffix broadcasting: 1 with the larger shape in *out, or 0 if neither is
 * a suffix of the other (scalars broadcast to anything). */
int ir_broadcast(const ir_shape *a, const ir_shape *b, ir_shape *out);
/* The [outer, len, inner] view of reducing axes [a0, a1) of s. */
void ir_reduce_view(const ir_shape *s, int a0, int a1, int64_t *outer,
                    int64_t *len, int64_t *inner);
/* BMM dims (ops_attn.c): nb batches of C[m, n] = op(A)[m, k] * op(B)[k, n]. */
void ir_bmm_dims(const ir_graph *g, const ir_node *n, int64_t *nb, int64_t *m, int64_t *k, int64_t *nn);
/* MATMUL dims (ops_core.c): C[m, n] = op(A)[m, k] * op(B)[k, n]. */
void ir_matmul_dims(const ir_graph *g, const ir_node *n, int64_t *m,
                    int64_t *k, int64_t *nn);

/* ---- checks and printing (verify.c, print.c) --------------------------- */

/* Structural checks (inputs precede users, shapes re-derive, roles). Returns
 * 0 or prints problems to out and returns their count. */
int ir_verify(const ir_graph *g, FILE *out);
/* Which nodes a schedule runs, for printing and planning. */
typedef struct ir_sched {
    ARR(int) order;     /* node ids to execute, in order (no sources) */
    char *live;         /* per node id: 1 if reachable from the roots */
} ir_sched;
void ir_print(const ir_graph *g, const ir_sched *s, FILE *out);
void ir_print_dot(const ir_graph *g, const ir_sched *s, FILE *out);

/* ---- reference evaluation (eval.c, formula.c) -------------------------- */

/* An elementwise op's scalar formula (ops.def's expr), parsed. */
typedef struct ir_formula ir_formula;
/* Parse expr into the arena: the tree, or NULL with *err (if err is not
 * NULL) set to a message naming the formula and where it went wrong. */
const ir_formula *ir_formula_parse(arena *a, const char *expr, const char **err);
/* Its value for operands a, b and attributes p, q, in double precision. */
double ir_formula_eval(const ir_formula *f, double a, double b, double p, double q);

/* Evaluate node n given input values (each numel of its input). Used by
 * constant folding and by tests; returns 0 or -1 if the op is not foldable. */
int ir_eval_node(const ir_graph *g, const ir_node *n, const double *const *in,
                 double *out);

/* ---- autodiff (autodiff.c) --------------------------------------------- */

/* Append the backward graph: gradients of g->loss with respect to every
 * parameter, in g->grads. Fan-out gradients are summed. */
void ad_backward(ir_graph *g);

/* ---- passes (passes.c) ------------------------------------------------- */

/* Fold ops whose inputs are all constants into CONST nodes (small tensors). */
int pass_fold(ir_graph *g);
/* Merge nodes that compute the same thing; returns how many merged. */
int pass_cse(ir_graph *g);
/* Algebraic simplification: relu_grad(dy, x) reads relu(x) instead of x
 * when the graph computes relu(x) (the same test, and x may then fuse).
 * Returns how many changed. */
int pass_simplify(ir_graph *g);
/* Fusion (ir/fuse.c), after autodiff: trees of elementwise ops whose
 * inner values have one use become one FUSED node; a matmul whose only use
 * is such a tree becomes a MATMUL_EP with the tree as its epilogue.
 * Returns how many nodes were absorbed. */
int pass_fuse(ir_graph *g);
/* Print a fused node's program ("relu(add(acc, x2))") into b. */
void ir_fprog_str(const ir_node *n, strbuf *b);

/* Schedule: the nodes reachable from roots, in topological order. */
void ir_schedule(const ir_graph *g, const int *roots, int nroots, ir_sched *s);
/* The same for everything the model uses (outputs, losses, gradients,
 * state updates): what the printer shows. */
void ir_schedule_all(const ir_graph *g, ir_sched *s);

/* ---- memory plan (memplan.c) ------------------------------------------- */

/* Where one node's buffer lives. */
typedef enum mem_region {
    MEM_NONE,  /* no buffer (sources read from elsewhere) */
    MEM_PARAM, /* parameter buffer */
    MEM_GRAD,  /* gradient buffer, pinned to its parameter's slot */
    MEM_ARENA, /* activation arena, planned */
    MEM_USER,  /* caller's pointer (inputs, targets) */
    MEM_CONST  /* static const array */
} mem_region;

typedef struct mem_plan {
    mem_region *region;  /* per node id */
    size_t *offset;      /* per node id: element offset in its region */
    size_t arena_elems;  /* activation arena size, elements */
    size_t naive_elems;  /* sum of all planned buffers, elements */
    size_t param_elems;  /* parameter (= gradient) buffer, elements */
    int kernels;         /* number of kernels in the schedule (views have none) */
} mem_plan;

/* Plan one schedule. Parameters at their contiguous offsets; gradients of
 * parameters pinned in the gradient buffer; the rest best-fit in the arena,
 * reusing space whose previous tenant is dead. Offsets are multiples of
 * 16 elements (ALIGN_ELEMS in memplan.c). With in_place (a program whose
 * only entry point is forward: no kernel is shared with another plan), an
 * elementwise op, fused tree or channel_bias that reads a buffer of its
 * size for the last time writes its output there (the kernel then has no
 * restrict: cg_in_place); otherwise no kernel's output shares a buffer
 * with its inputs. A reshape of an arena buffer is that buffer (mem_is_view). */
void mem_plan_schedule(const ir_graph *g, const ir_sched *s, int in_place, arena *a,
                       mem_plan *p);
/* 1 if node id is a reshape whose output is its input's buffer in plan p
 * (every reshape of an arena buffer): it runs no kernel there. */
int mem_is_view(const ir_graph *g, const mem_plan *p, int id);

/* ---- a compiled model: its entry points (memplan.c) -------------------- */

/* Each entry point of the generated API runs one schedule. */
typedef enum ir_entry {
    ENTRY_FORWARD, /* inference: inputs -> outputs */
    ENTRY_LOSS,    /* inputs, targets -> loss (no gradients) */
    ENTRY_TRAIN,   /* inputs, targets -> loss and parameter gradients */
    ENTRY_COUNT
} ir_entry;

typedef struct ir_program {
    ir_graph *g;                /* the graph with its backward part */
    int has[ENTRY_COUNT];       /* which entry points exist */
    ir_sched sched[ENTRY_COUNT];/* what each runs */
    mem_plan mem[ENTRY_COUNT];  /* where each keeps its values */
    size_t arena_elems;         /* activation arena: the largest plan */
} ir_program;

/* Schedule and plan every entry point the graph supports. */
void ir_program_build(ir_graph *g, ir_program *p);

/* ---- memory need (memplan.c) ------------------------------------------- */

/* Parameter-sized buffers the optimizer keeps: 0, 1 (SGD momentum) or 2
 * (Adam's moments). */
int ir_opt_slots(const ir_optim *o);

/* The bytes a compiled model works in, each saturating at SIZE_MAX. */
typedef struct mem_need {
    size_t params; /* the parameter buffer, once */
    int copies;    /* of it: values, gradients (when it trains), optimizer slots */
    size_t act;    /* the activation arena */
    size_t io;     /* inputs and targets */
    size_t total;  /* params * copies + act + io */
} mem_need;
/* The need of g in elements of esize bytes: from the plans of p, or with p
 * NULL (no plan: --emit=ir) a lower bound, the largest live activation
 * standing for the arena and the gradients and optimizer state counted
 * when g has a loss and an optimizer. */
void mem_need_of(const ir_graph *g, const ir_program *p, size_t esize, mem_need *m);

#endif /* NNC_IR_H */
