/* shape.c — shape inference: the dispatch through the op table, the shared
 * rules that ops.def's shape column names (SHAPE_NONE, SHAPE_OF_X,
 * SHAPE_BCAST, SHAPE_PAIR) and the helpers rules are written with. The
 * SHAPE_OWN rules of the ops live with their family in ir/ops_*.c. Each rule
 * fills n->shape and n->dtype from the inputs and attributes, or returns a
 * message naming the shapes involved. */
#include "rules.h"

typedef const char *(*shape_fn)(ir_graph *g, ir_node *n);

ir_node *ir_in(const ir_graph *g, const ir_node *n, int i) { return g->nodes.data[n->in[i]]; }
const char *ir_sstr(ir_graph *g, const ir_shape *s) { return ir_shape_str(g->a, s); }

int ir_broadcast(const ir_shape *a, const ir_shape *b, ir_shape *out) {
    /* At equal rank the bigger one is the one with more elements, so that
     * [1] op [3] broadcasts as [3] op [1] does. */
    const ir_shape *big = a->rank > b->rank || (a->rank == b->rank && ir_numel(a) >= ir_numel(b)) ? a : b;
    const ir_shape *small = big == a ? b : a;
    if (ir_numel(small) == 1 && small->rank <= big->rank) {
        *out = *big;
        return 1;
    }
    for (int i = 1; i <= small->rank; i++)
        if (small->d[small->rank - i] != big->d[big->rank - i]) return 0;
    *out = *big;
    return 1;
}

void ir_reduce_view(const ir_shape *s, int a0, int a1, int64_t *outer,
                    int64_t *len, int64_t *inner) {
    *outer = *len = *inner = 1;
    for (int i = 0; i < s->rank; i++) {
        if (i < a0) *outer *= s->d[i];
        else if (i < a1) *len *= s->d[i];
        else *inner *= s->d[i];
    }
}

const char *shape_float_inputs(ir_graph *g, ir_node *n) {
    for (int i = 0; i < n->nin; i++)
        if (ir_in(g, n, i)->dtype != DT_F32)
            return arena_printf(g->a, "%s expects f32 operands, got i32",
                                ir_ops[n->op].name);
    n->dtype = DT_F32;
    return NULL;
}

/* ---- the shared rules the shape column of ops.def names ------------------ */

/* SHAPE_NONE: sources get their type when made. */
static const char *shape_none(ir_graph *g, ir_node *n) {
    (void)g, (void)n;
    return NULL;
}

const char *shape_of_x(ir_graph *g, ir_node *n) {
    n->shape = ir_in(g, n, 0)->shape;
    return shape_float_inputs(g, n);
}

const char *shape_bcast(ir_graph *g, ir_node *n) {
    const ir_shape *a = &ir_in(g, n, 0)->shape, *b = &ir_in(g, n, 1)->shape;
    const char *e = shape_float_inputs(g, n);
    if (e) return e;
    if (!ir_broadcast(a, b, &n->shape))
        return arena_printf(g->a, "cannot broadcast %s with %s", ir_sstr(g, a), ir_sstr(g, b));
    return NULL;
}

const char *shape_pair(ir_graph *g, ir_node *n) {
    const ir_shape *a = &ir_in(g, n, 0)->shape, *b = &ir_in(g, n, 1)->shape;
    if (!ir_shape_eq(a, b))
        return arena_printf(g->a, "%s operands differ: %s and %s", ir_ops[n->op].name, ir_sstr(g, a),
                            ir_sstr(g, b));
    n->shape = *a;
    return shape_float_inputs(g, n);
}

/* The row's shape column picks the rule: SHAPE_OWN rows have a shape_OP of
 * their own (ir/ops_*.c), the others share one of the rules above. */
#define RULE_SHAPE_OWN(e) shape_##e
#define RULE_SHAPE_NONE(e) shape_none
#define RULE_SHAPE_OF_X(e) shape_of_x
#define RULE_SHAPE_BCAST(e) shape_bcast
#define RULE_SHAPE_PAIR(e) shape_pair
static const shape_fn shape_rules[IR_NUM_OPS] = {
#define OP(e, name, nin, cls, shape, grad, flags, expr) [IR_##e] = RULE_##shape(e),
#include "ops.def"
#undef OP
};

/* The rule, then the size check every shape gets where it is made: a
 * result whose element count does not fit 64 bits is an error here,
 * before anything computes with it. */
const char *ir_infer_shape(ir_graph *g, ir_node *n) {
    if (ir_ops[n->op].nin >= 0 && n->nin != ir_ops[n->op].nin)
        return arena_printf(g->a, "%s takes %d inputs, got %d", ir_ops[n->op].name,
                            ir_ops[n->op].nin, n->nin);
    const char *e = shape_rules[n->op](g, n);
    if (e || ir_shape_fits(&n->shape)) return e;
    return ir_size_error(g->a, arena_printf(g->a, "%s: the result", ir_ops[n->op].name), n->dtype, &n->shape);
}
