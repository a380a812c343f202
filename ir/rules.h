/* rules.h — inside ir/: the rule functions the op rows of ops.def name,
 * and the helpers families of ops share to write them.
 *
 *   shape_OP(g, n)    fills n->shape and n->dtype, or returns a message
 *                     (rows whose shape column is SHAPE_OWN)
 *   vjp_OP(c, n, dy)  adds the gradient nodes of n's inputs given dy
 *                     (rows whose grad column is GRAD_OWN)
 *
 * Every family of ops keeps its shape and gradient rules together in
 * ir/ops_FAMILY.c (ops_core.c for the core ops, fuse.c for the fused
 * ones); shape.c and autodiff.c hold the dispatch and the shared rules the
 * other column values name.
 */
#ifndef NNC_IR_RULES_H
#define NNC_IR_RULES_H

#include "ir.h"

/* The state of one reverse pass (autodiff.c). */
typedef struct ad_ctx {
    ir_graph *g;
    int *grad;   /* per node id: id of its accumulated gradient, or -1 */
    char *needs; /* per node id: 1 if it depends on a parameter */
} ad_ctx;

#define OP(e, name, nin, cls, shape, grad, flags, expr) \
    const char *shape_##e(ir_graph *g, ir_node *n);      \
    void vjp_##e(ad_ctx *c, ir_node *n, int dy);
#include "ops.def"
#undef OP

/* ---- for shape rules ---------------------------------------------------- */

/* Input i of n. */
ir_node *ir_in(const ir_graph *g, const ir_node *n, int i);
/* "[2, 3]" in the graph's arena. */
const char *ir_sstr(ir_graph *g, const ir_shape *s);
/* All inputs f32: sets n->dtype, else an error message. */
const char *shape_float_inputs(ir_graph *g, ir_node *n);
/* The shared rules (shape.c), for the rows that name them and for own
 * rules that build on them. All want f32 inputs.
 *   SHAPE_OF_X   input 0's shape
 *   SHAPE_BCAST  two inputs, suffix broadcasting (ir_broadcast)
 *   SHAPE_PAIR   two inputs of one shape (gradient ops (dy, x)) */
const char *shape_of_x(ir_graph *g, ir_node *n);
const char *shape_bcast(ir_graph *g, ir_node *n);
const char *shape_pair(ir_graph *g, ir_node *n);

/* ---- for gradient rules ------------------------------------------------- */

/* Add a gradient node: op o over inputs in[0..nin) (nin from ops.def), with
 * attributes (ia, fa may be NULL) and ashape (NULL if none), located at
 * `at`. Its shape rule cannot fail; a failure is an internal error. */
int ad_op(ad_ctx *c, ir_op o, const ir_node *at, const int *in, const int64_t *ia,
          const double *fa, const ir_shape *ashape);
/* Shorthands for attribute-free ops. */
int ad_op1(ad_ctx *c, ir_op o, const ir_node *at, int a);
int ad_op2(ad_ctx *c, ir_op o, const ir_node *at, int a, int b);
int ad_op3(ad_ctx *c, ir_op o, const ir_node *at, int a, int b, int d);
/* Add gradient gid to input i of n (summing fan-out, undoing broadcasts,
 * reshaping when only the shape differs). Inputs that need no gradient are
 * skipped. */
void ad_acc(ad_ctx *c, const ir_node *n, int i, int gid);
/* The gradient rule of GRAD_NONE rows: ops that autodiff itself makes or
 * that are made after it (gradient ops, fused ops, statistics whose
 * gradient flows another way). An internal error if ever called; an own
 * rule may call it for a form of its op that has no gradient. */
void ad_no_vjp(ad_ctx *c, ir_node *n, int dy);
/* Does input i of n need a gradient? */
int ad_needs(const ad_ctx *c, const ir_node *n, int i);
/* The gradient rule of a product op(A) op(B) (attrs ta, tb), whose input
 * gradients are products of the same op: MATMUL, BMM (ops_core.c). */
void ad_product_vjp(ad_ctx *c, ir_node *n, int dy);

#endif /* NNC_IR_RULES_H */
