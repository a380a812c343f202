/* ops_rand.c — shape rules of the random sources, which take no inputs:
 *
 *   randn(; k), rand(; k)   -> the attribute shape (ashape), f32
 *
 * k (iattr[0]) is the model's k-th random op (dropout and noise share the
 * numbering, so k < 256 fits the low 8 bits of the Philox stream). Their
 * grad column is GRAD_LEAF: a draw has no input to pass a gradient to
 * (randn_like(x) is randn of x's shape, so x gets no gradient from it).
 */
#include "rules.h"

static const char *random_source(ir_graph *g, ir_node *n) {
    if (n->iattr[0] < 0 || n->iattr[0] > 255)
        return arena_printf(g->a, "%s: stream %lld is not in [0, 256)", ir_ops[n->op].name, (long long)n->iattr[0]);
    if (!ir_shape_fits(&n->ashape))
        return ir_size_error(g->a, ir_ops[n->op].name, DT_F32, &n->ashape);
    n->shape = n->ashape;
    n->dtype = DT_F32;
    return NULL;
}

const char *shape_RANDN(ir_graph *g, ir_node *n) { return random_source(g, n); }
const char *shape_RAND(ir_graph *g, ir_node *n) { return random_source(g, n); }
