/* ir.c — graph construction and shape helpers. */
#include "ir.h"

#include <stdlib.h>

const ir_opinfo ir_ops[IR_NUM_OPS] = {
#define OP(e, name, nin, cls, shape, grad, flags, expr) [IR_##e] = {name, nin, cls, flags, expr},
#include "ops.def"
#undef OP
};

void ir_graph_init(ir_graph *g, arena *a, const char *name) {
    memset(g, 0, sizeof *g);
    g->a = a;
    g->name = name;
    g->loss = g->loss_eval = -1;
}

ir_node *ir_node_of(const ir_graph *g, int id) { return g->nodes.data[id]; }

/* The product of s's dims into *n: 0, or 1 if a dim is negative or the
 * product overflows. */
static int numel_checked(const ir_shape *s, int64_t *n) {
    *n = 1;
    for (int i = 0; i < s->rank; i++)
        if (s->d[i] < 0 || ck_mul_i64(*n, s->d[i], n)) return 1;
    return 0;
}

int64_t ir_numel(const ir_shape *s) {
    int64_t n;
    return numel_checked(s, &n) ? INT64_MAX : n;
}

int ir_shape_fits(const ir_shape *s) {
    int64_t n;
    return !numel_checked(s, &n);
}

const char *ir_size_error(arena *a, const char *what, ir_dtype dt, const ir_shape *s) {
    double approx = 1;
    uint64_t exact = 1; /* the count when it fits 64 bits unsigned */
    int wraps = 0;
    for (int i = 0; i < s->rank; i++) {
        approx *= (double)s->d[i];
        wraps |= s->d[i] < 0 || __builtin_mul_overflow(exact, (uint64_t)s->d[i], &exact);
    }
    const char *count = wraps ? arena_printf(a, "about %.2g", approx) : arena_printf(a, "%llu", (unsigned long long)exact);
    return arena_printf(a, "%s%s%s%s is too large: %s elements, more than 2^63 - 1", what, *what ? " " : "",
                        dt == DT_I32 ? "i32" : "f32", ir_shape_str(a, s), count);
}

int ir_shape_eq(const ir_shape *a, const ir_shape *b) {
    if (a->rank != b->rank) return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->d[i] != b->d[i]) return 0;
    return 1;
}

ir_shape ir_shape_make(int rank, const int64_t *d) {
    ir_shape s = {rank, {0}};
    for (int i = 0; i < rank; i++) s.d[i] = d[i];
    return s;
}

ir_shape ir_scalar_shape(void) {
    ir_shape s = {0, {0}};
    return s;
}

const char *ir_shape_str(arena *a, const ir_shape *s) {
    strbuf b;
    sb_init(&b);
    sb_puts(&b, "[");
    for (int i = 0; i < s->rank; i++)
        sb_printf(&b, "%s%lld", i ? ", " : "", (long long)s->d[i]);
    sb_puts(&b, "]");
    const char *r = arena_strdup(a, b.s);
    sb_free(&b);
    return r;
}

static ir_node *new_node(ir_graph *g, ir_op op, src_span loc) {
    ir_node *n = arena_alloc(g->a, sizeof *n);
    n->id = g->nodes.len;
    n->op = op;
    n->loc = loc;
    n->block = g->block;
    return n;
}

ir_node *ir_add_source(ir_graph *g, ir_op op, ir_dtype dt, ir_shape s,
                       const char *name, src_span loc) {
    ir_node *n = new_node(g, op, loc);
    n->dtype = dt;
    n->shape = s;
    n->name = name;
    arr_push(g->a, g->nodes, n);
    return n;
}

ir_node *ir_add(ir_graph *g, ir_op op, const int *in, int nin,
                const int64_t *iattr, const double *fattr, src_span loc,
                const char **err) {
    ir_node *n = new_node(g, op, loc);
    n->nin = nin;
    for (int i = 0; i < nin; i++) n->in[i] = in[i];
    for (int i = 0; iattr && i < IR_MAX_ATTR; i++) n->iattr[i] = iattr[i];
    for (int i = 0; fattr && i < 4; i++) n->fattr[i] = fattr[i];
    const char *e = ir_infer_shape(g, n);
    if (e) {
        if (err) *err = e;
        return NULL;
    }
    arr_push(g->a, g->nodes, n);
    return n;
}

ir_node *ir_const_scalar(ir_graph *g, double v, src_span loc) {
    ir_node *n = ir_add_source(g, IR_CONST, DT_F32, ir_scalar_shape(), NULL, loc);
    n->data = arena_alloc(g->a, sizeof(double));
    n->data[0] = v;
    return n;
}

/* Add a node whose output shape is an attribute; its rule cannot fail for
 * the callers (autodiff), so a failure is an internal error. */
static ir_node *add_shaped(ir_graph *g, ir_node *n) {
    const char *e = ir_infer_shape(g, n);
    if (e) {
        fprintf(stderr, "nnc: internal error: %s\n", e);
        abort();
    }
    arr_push(g->a, g->nodes, n);
    return n;
}

ir_node *ir_add_reshape(ir_graph *g, int x, ir_shape to, src_span loc) {
    ir_node *n = new_node(g, IR_RESHAPE, loc);
    n->nin = 1;
    n->in[0] = x;
    n->ashape = to;
    return add_shaped(g, n);
}

ir_node *ir_add_random(ir_graph *g, ir_op op, ir_shape s, int64_t k, src_span loc) {
    ir_node *n = new_node(g, op, loc);
    n->iattr[0] = k;
    n->ashape = s;
    return add_shaped(g, n);
}

ir_node *ir_add_expand(ir_graph *g, int x, ir_shape to, int a0, int a1,
                       double scale, src_span loc) {
    ir_node *n = new_node(g, IR_EXPAND, loc);
    n->nin = 1;
    n->in[0] = x;
    n->iattr[0] = a0;
    n->iattr[1] = a1;
    n->fattr[0] = scale;
    n->ashape = to;
    return add_shaped(g, n);
}
