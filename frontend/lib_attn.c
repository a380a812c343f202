/* lib_attn.c — the attn family of built-in ops (see elab.h): tensor shape
 * ops, batched matrix products, embeddings and attention.
 *
 *   reshape(x, shape)          x.reshape(shape); one -1 is inferred     -> reshape
 *   transpose(x, dim0, dim1)   x.transpose(dim0, dim1)                  -> permute
 *   permute(x, perm)           x.permute(perm)                          -> permute
 *   concat(a, b, axis)         torch.cat([a, b], dim=axis)              -> concat
 *   slice(x, axis, start, end) x.narrow(axis, start, end - start)       -> slice
 *   bmm(a, b)                  torch.matmul(a, b), equal batch dims     -> bmm
 *   expand(x, shape)           x.expand(shape)                  -> reshape, expand
 *   flip(x, axis)              torch.flip(x, axis), axis or list of axes -> flip
 *   embedding(ids, vocab, dim) nn.Embedding(vocab, dim)(ids.long())     -> embedding
 *   positional(x)              x + wpe.weight, wpe = nn.Embedding(T, D) -> add
 *   attention(x, heads, causal = false, bias = true, kv = x)
 *       nn.MultiheadAttention(D, heads, bias=bias, batch_first=True,
 *       kdim=kv's width, vdim=kv's width)
 *       (x, kv, kv, need_weights=False, attn_mask=causal mask)[0]
 *
 * Shapes and permutations are tensor literals ([2, -1], [0, 2, 1, 3]);
 * elaboration makes them CONST nodes, whose values are read here. Axes
 * may be negative (counted from the end), as in PyTorch; slice bounds
 * too, but they are not clamped: [start, end) must lie in the axis.
 *
 * Layers and their parameters (names as in PyTorch's state_dict):
 *   embedding   <b>.weight [vocab, dim], normal(0, 1) as nn.Embedding.
 *   positional  <b>.weight [T, D], normal(0, 0.02) as GPT-2's wpe.
 *   attention   <b>.in_proj_weight [3D, D] (glorot, as PyTorch), or when
 *               kv's width kdim differs from D <b>.q_proj_weight [D, D],
 *               <b>.k_proj_weight and <b>.v_proj_weight [D, kdim],
 *               <b>.in_proj_bias [3D] (zeros, as PyTorch),
 *               <b>.out_proj.weight [D, D] (glorot; PyTorch's default is
 *               nn.Linear's Kaiming uniform), <b>.out_proj.bias [D] (zeros).
 */
#include "elab.h"

#include <math.h>

enum { MAX_LIST = IR_MAX_RANK };

/* ---- argument helpers --------------------------------------------------- */

static int param_pos(const builtin *b, const char *name) {
    for (int i = 0; i < MAX_PARAMS && b->params[i]; i++)
        if (!strcmp(b->params[i], name)) return i;
    return -1;
}

/* The expression the call passed for parameter i, or NULL. */
static const ast_expr *arg_expr(const builtin *b, const ast_expr *call, int i) {
    for (int k = 0, pos = 0; k < call->nargs; k++) {
        const ast_arg *a = &call->args[k];
        if ((a->name ? param_pos(b, a->name) : pos++) == i) return a->value;
    }
    return NULL;
}

/* A number written with a '.' or an exponent somewhere in x (2.0, 1e1). */
static const ast_expr *float_literal(const ast_expr *x) {
    if (!x) return NULL;
    if (x->kind == EX_NUM) return x->is_int ? NULL : x;
    if (x->kind == EX_NEG) return float_literal(x->lhs);
    if (x->kind == EX_BINOP) {
        const ast_expr *l = float_literal(x->lhs);
        return l ? l : float_literal(x->rhs);
    }
    return NULL;
}

/* Argument i as a list of integers written as a tensor literal ([2, -1]):
 * its values in out[0..*n). Reports and returns 0 otherwise. */
static int int_list(elab *e, const builtin *b, const ast_expr *call, val *v, int i, int64_t *out, int *n) {
    const char *want = arena_printf(e->g->a, "%s: argument '%s' must be a list of integers such as %s", b->name,
                                    b->params[i], !strcmp(b->params[i], "shape") ? "[2, -1]" : "[0, 2, 1]");
    if (v->kind == V_ERR) return 0;
    ir_node *c = v->kind == V_TENSOR ? el_node(e, v->node) : NULL;
    if (!c || c->op != IR_CONST || c->shape.rank != 1) {
        diag_error(e->d, v->span, "%s", want);
        return 0;
    }
    if (c->shape.d[0] > MAX_LIST) {
        diag_error(e->d, v->span, "%s: argument '%s' has %lld entries; nnc supports rank <= %d", b->name,
                   b->params[i], (long long)c->shape.d[0], MAX_LIST);
        return 0;
    }
    const ast_expr *x = arg_expr(b, call, i);
    for (int k = 0; x && x->kind == EX_LIST && k < x->nelems; k++) {
        const ast_expr *f = float_literal(x->elems[k]);
        if (f) {
            diag_error(e->d, f->span,
                       f->num == floor(f->num) ? "%s: argument '%s' must hold integers, got the float %.1f"
                                               : "%s: argument '%s' must hold integers, got the float %g",
                       b->name, b->params[i], f->num);
            return 0;
        }
    }
    *n = (int)c->shape.d[0];
    for (int k = 0; k < *n; k++) {
        double d = c->data[k];
        if (d != floor(d) || fabs(d) > 1e15) {
            diag_error(e->d, v->span, "%s", want);
            return 0;
        }
        out[k] = (int64_t)d;
    }
    return 1;
}

/* An axis of a rank-r tensor, in [-r, r); negative counts from the end. */
static int axis_arg(elab *e, const builtin *b, val *v, int i, int r, int64_t *out) {
    double ax = 0;
    if (!el_want_num(e, b, v, i, &ax)) return 0;
    if (v->kind != V_NUM || !v->is_int) {
        diag_error(e->d, v->span, "%s: argument '%s' must be an integer axis", b->name, b->params[i]);
        return 0;
    }
    if (r == 0) {
        diag_error(e->d, v->span, "%s: a scalar has no axis %g", b->name, ax);
        return 0;
    }
    if (ax < -r || ax >= r) {
        diag_error(e->d, v->span, "%s: axis %g is out of range for rank %d (use %d .. %d)", b->name, ax, r, -r, r - 1);
        return 0;
    }
    *out = ax < 0 ? (int64_t)ax + r : (int64_t)ax;
    return 1;
}

/* An f32 tensor argument. */
static int want_f32(elab *e, const builtin *b, val *v, int i) {
    if (!el_want_tensor(e, b, v, i)) return 0;
    if (el_node(e, v->node)->dtype == DT_F32) return 1;
    diag_error(e->d, v->span, "%s: argument '%s' must be f32, got %s", b->name, b->params[i], el_type_str(e, v->node));
    return 0;
}

/* An integer argument (a plain number) that may be negative. */
static int signed_int(elab *e, const builtin *b, val *v, int i, int64_t *out) {
    double d = 0;
    if (!el_want_num(e, b, v, i, &d)) return 0;
    if (v->kind != V_NUM || !v->is_int) {
        diag_error(e->d, v->span, "%s: argument '%s' must be an integer", b->name, b->params[i]);
        return 0;
    }
    *out = (int64_t)d;
    return 1;
}

/* ---- IR building shorthands (errors are internal: shapes were checked) -- */

static val op1(elab *e, const ast_expr *at, ir_op op, val x, const int64_t *ia, const double *fa) {
    return el_apply(e, at, op, &x, 1, ia, fa);
}

static val op2(elab *e, const ast_expr *at, ir_op op, val a, val b, const int64_t *ia) {
    val v[2] = {a, b};
    return el_apply(e, at, op, v, 2, ia, NULL);
}

static val reshape_to(elab *e, const ast_expr *at, val x, int rank, const int64_t *d) {
    if (x.kind != V_TENSOR) return el_err;
    return el_tensor(ir_add_reshape(e->g, x.node, ir_shape_make(rank, d), at->span)->id, at->span);
}

static val slice_of(elab *e, const ast_expr *at, val x, int64_t axis, int64_t lo, int64_t hi) {
    int64_t ia[IR_MAX_ATTR] = {axis, lo, hi};
    return op1(e, at, IR_SLICE, x, ia, NULL);
}

static val param_val(ir_node *p, const ast_expr *at) { return p ? el_tensor(p->id, at->span) : el_err; }

/* ---- shape ops ---------------------------------------------------------- */

/* "[2, -1]" */
static const char *list_str(elab *e, const int64_t *v, int n) {
    strbuf b;
    sb_init(&b);
    sb_puts(&b, "[");
    for (int k = 0; k < n; k++) sb_printf(&b, "%s%lld", k ? ", " : "", (long long)v[k]);
    sb_puts(&b, "]");
    const char *s = arena_strdup(e->g->a, b.s);
    sb_free(&b);
    return s;
}

/* reshape(x, shape): same elements, new shape; one entry may be -1. */
static val b_reshape(elab *e, const builtin *b, const ast_expr *call, val *args) {
    int64_t d[MAX_LIST];
    int n = 0, infer = -1;
    int ok = want_f32(e, b, &args[0], 0);
    ok &= int_list(e, b, call, &args[1], 1, d, &n);
    if (!ok) return el_err;
    ir_node *x = el_node(e, args[0].node);
    int64_t known = 1, total = ir_numel(&x->shape);
    int wraps = 0;
    double approx = 1;
    for (int k = 0; k < n; k++) {
        if (d[k] == -1 && infer < 0) {
            infer = k;
        } else if (d[k] == -1) {
            diag_error(e->d, args[1].span, "reshape: only one dimension can be -1, got %s", list_str(e, d, n));
            return el_err;
        } else if (d[k] < 1) {
            diag_error(e->d, args[1].span, "reshape: dimensions must be positive or -1, got %s", list_str(e, d, n));
            return el_err;
        } else {
            wraps |= ck_mul_i64(known, d[k], &known);
            approx *= (double)d[k];
        }
    }
    const char *xs = ir_shape_str(e->g->a, &x->shape);
    if (wraps)
        return el_op_error(e, call,
                           arena_printf(e->g->a, "cannot reshape %s to %s: that is too large, about %.2g elements, "
                                        "more than 2^63 - 1", xs, list_str(e, d, n), approx),
                           args, 1);
    if (infer >= 0 && total % known != 0)
        return el_op_error(e, call,
                           arena_printf(e->g->a, "cannot reshape %s (%lld elements) to %s: "
                                        "%lld is not a multiple of %lld", xs, (long long)total,
                                        list_str(e, d, n), (long long)total, (long long)known),
                           args, 1);
    if (infer >= 0) d[infer] = total / known;
    else if (known != total)
        return el_op_error(e, call, arena_printf(e->g->a, "cannot reshape %s (%lld elements) to %s (%lld elements)",
                                                 xs, (long long)total, list_str(e, d, n), (long long)known),
                           args, 1);
    return reshape_to(e, call, args[0], n, d);
}

/* transpose(x, dim0, dim1): swap two axes. */
static val b_transpose(elab *e, const builtin *b, const ast_expr *call, val *args) {
    if (!want_f32(e, b, &args[0], 0)) return el_err;
    int r = el_node(e, args[0].node)->shape.rank;
    int64_t a0, a1, perm[IR_MAX_ATTR] = {0};
    if (!axis_arg(e, b, &args[1], 1, r, &a0) || !axis_arg(e, b, &args[2], 2, r, &a1)) return el_err;
    for (int k = 0; k < r; k++) perm[k] = k == a0 ? a1 : k == a1 ? a0 : k;
    return op1(e, call, IR_PERMUTE, args[0], perm, NULL);
}

/* permute(x, perm): output axis k is input axis perm[k]. */
static val b_permute(elab *e, const builtin *b, const ast_expr *call, val *args) {
    int64_t p[MAX_LIST], perm[IR_MAX_ATTR] = {0};
    int n = 0;
    int ok = want_f32(e, b, &args[0], 0);
    ok &= int_list(e, b, call, &args[1], 1, p, &n);
    if (!ok) return el_err;
    int r = el_node(e, args[0].node)->shape.rank;
    if (n != r) {
        diag_error(e->d, args[1].span, "permute: %s has %d entries but x is %s (rank %d)", list_str(e, p, n), n,
                   el_type_str(e, args[0].node), r);
        return el_err;
    }
    for (int k = 0; k < n; k++) perm[k] = p[k] < 0 && p[k] >= -r ? p[k] + r : p[k];
    return op1(e, call, IR_PERMUTE, args[0], perm, NULL);
}

/* concat(a, b, axis): join along an axis; the other axes must agree. */
static val b_concat(elab *e, const builtin *b, const ast_expr *call, val *args) {
    int64_t ax, ia[IR_MAX_ATTR] = {0};
    int ok = want_f32(e, b, &args[0], 0);
    ok &= want_f32(e, b, &args[1], 1);
    if (!ok || !axis_arg(e, b, &args[2], 2, el_node(e, args[0].node)->shape.rank, &ax)) return el_err;
    ia[0] = ax;
    return op2(e, call, IR_CONCAT, args[0], args[1], ia);
}

/* slice(x, axis, start, end): elements [start, end) of an axis. */
static val b_slice(elab *e, const builtin *b, const ast_expr *call, val *args) {
    int64_t ax, lo, hi;
    if (!want_f32(e, b, &args[0], 0)) return el_err;
    const ir_shape *s = &el_node(e, args[0].node)->shape;
    int ok = axis_arg(e, b, &args[1], 1, s->rank, &ax);
    ok &= signed_int(e, b, &args[2], 2, &lo);
    ok &= signed_int(e, b, &args[3], 3, &hi);
    if (!ok) return el_err;
    if (lo < 0) lo += s->d[ax]; /* Python's negative indices */
    if (hi < 0) hi += s->d[ax];
    return slice_of(e, call, args[0], ax, lo, hi);
}

/* The axes of a rank-r tensor that flip's argument i names: one integer
 * or a list of distinct ones, each in [-r, r). */
static int axes_arg(elab *e, const builtin *b, const ast_expr *call, val *v, int i, int r, int64_t *ax, int *n) {
    int64_t given[MAX_LIST];
    if (v->kind == V_NUM) return *n = 1, axis_arg(e, b, v, i, r, ax);
    if (!int_list(e, b, call, v, i, ax, n)) return 0;
    memcpy(given, ax, (size_t)*n * sizeof *ax);
    for (int k = 0; k < *n; k++) {
        if (ax[k] < -r || ax[k] >= r) {
            diag_error(e->d, v->span, "%s: axis %lld is out of range for rank %d (use %d .. %d)", b->name,
                       (long long)ax[k], r, -r, r - 1);
            return 0;
        }
        ax[k] = ax[k] < 0 ? ax[k] + r : ax[k];
        for (int j = 0; j < k; j++)
            if (ax[j] == ax[k]) {
                diag_error(e->d, v->span, "%s: axis %lld appears twice in %s", b->name, (long long)ax[k],
                           list_str(e, given, *n));
                return 0;
            }
    }
    return 1;
}

/* flip(x, axis): x reversed along one axis or a list of them. */
static val b_flip(elab *e, const builtin *b, const ast_expr *call, val *args) {
    int64_t ax[MAX_LIST];
    int n = 0;
    if (!want_f32(e, b, &args[0], 0)) return el_err;
    if (!axes_arg(e, b, call, &args[1], 1, el_node(e, args[0].node)->shape.rank, ax, &n)) return el_err;
    val y = args[0];
    for (int k = 0; k < n; k++) {
        int64_t ia[IR_MAX_ATTR] = {ax[k]};
        y = op1(e, call, IR_FLIP, y, ia, NULL);
    }
    return y;
}

/* The output shape of expand(x, shape) in to[0..n), with bcast[k] set for
 * the axes it broadcasts (new leading axes and size-1 axes that grow). */
static int expand_shape(elab *e, const ast_expr *call, val *args, const int64_t *d, int n, int64_t *to, int *bcast) {
    const ir_shape *s = &el_node(e, args[0].node)->shape;
    int lead = n - s->rank;
    const char *why = NULL;
    if (lead < 0) why = arena_printf(e->g->a, "the shape has fewer axes than x (%d)", s->rank);
    for (int k = 0; !why && k < n; k++) {
        int64_t have = k < lead ? 1 : s->d[k - lead];
        to[k] = d[k] == -1 && k >= lead ? have : d[k];
        bcast[k] = k < lead || (have == 1 && to[k] != 1);
        if (d[k] == -1 && k < lead) why = arena_printf(e->g->a, "-1 cannot size the new leading axis %d", k);
        else if (to[k] < 1) why = arena_printf(e->g->a, "axis %d: sizes must be positive or -1, got %lld", k,
                                               (long long)d[k]);
        else if (k >= lead && have != to[k] && have != 1)
            why = arena_printf(e->g->a, "axis %d has size %lld, and only a size-1 axis can grow (to %lld)", k,
                               (long long)have, (long long)to[k]);
    }
    if (why) {
        el_op_error(e, call,
                    arena_printf(e->g->a, "expand: cannot expand %s to %s: %s", el_type_str(e, args[0].node),
                                 list_str(e, d, n), why),
                    args, 1);
        return 0;
    }
    ir_shape out = ir_shape_make(n, to);
    if (ir_shape_fits(&out)) return 1;
    diag_error(e->d, call->span, "%s", ir_size_error(e->g->a, "expand: the result", DT_F32, &out));
    return 0;
}

/* expand(x, shape): x.expand(shape). Lowered to a reshape that drops the
 * size-1 axes that grow, then one EXPAND (the adjoint of sum: its
 * gradient sums over the run again) per run of adjacent broadcast axes. */
static val b_expand(elab *e, const builtin *b, const ast_expr *call, val *args) {
    int64_t d[MAX_LIST], to[MAX_LIST], cur[MAX_LIST];
    int n = 0, bcast[MAX_LIST], m = 0;
    int ok = want_f32(e, b, &args[0], 0);
    ok &= int_list(e, b, call, &args[1], 1, d, &n);
    if (!ok || !expand_shape(e, call, args, d, n, to, bcast)) return el_err;
    for (int k = 0; k < n; k++)
        if (!bcast[k]) cur[m++] = to[k];
    val y = args[0];
    if (m != el_node(e, y.node)->shape.rank) y = reshape_to(e, call, y, m, cur);
    for (int k = 0; k < n; k++) {
        if (!bcast[k] || (k > 0 && bcast[k - 1])) continue;
        int a1 = k;
        while (a1 < n && bcast[a1]) a1++;
        int a0 = 0;
        m = 0;
        for (int j = 0; j < n; j++) { /* the runs up to this one are in */
            if (j == k) a0 = m;
            if (j < a1 || !bcast[j]) cur[m++] = to[j];
        }
        ir_node *x = ir_add_expand(e->g, y.node, ir_shape_make(m, cur), a0, a0 + a1 - k, 1.0, call->span);
        y = el_tensor(x->id, call->span);
    }
    return y;
}

/* bmm(a, b): matrix products over equal leading (batch) dims. */
static val b_bmm(elab *e, const builtin *b, const ast_expr *call, val *args) {
    int64_t ia[IR_MAX_ATTR] = {0, 0};
    if (!want_f32(e, b, &args[0], 0) || !want_f32(e, b, &args[1], 1)) return el_err;
    return op2(e, call, IR_BMM, args[0], args[1], ia);
}

/* ---- layers ------------------------------------------------------------- */

/* A new parameter of the current layer with its initializer. */
static ir_node *layer_param(elab *e, const ast_expr *call, const char *leaf, int rank, const int64_t *d, ir_init init,
                            double fill) {
    ir_node *p = el_param(e, el_param_name(e, leaf), ir_shape_make(rank, d), call->span);
    if (!p) return NULL;
    p->init = init, p->fill = fill;
    p->fan_in = rank >= 2 ? d[rank - 1] : d[0];
    p->fan_out = rank >= 2 ? d[0] : 1;
    return p;
}

/* embedding(ids, vocab, dim): ids i32 [...] -> f32 [..., dim], rows of
 * the table <b>.weight [vocab, dim] ~ N(0, 1). */
static val b_embedding(elab *e, const builtin *b, const ast_expr *call, val *args) {
    int64_t vocab, dim;
    int ok = el_want_tensor(e, b, &args[0], 0);
    ok &= el_want_int(e, b, &args[1], 1, 1, &vocab);
    ok &= el_want_int(e, b, &args[2], 2, 1, &dim);
    if (!ok) return el_err;
    if (el_node(e, args[0].node)->dtype != DT_I32) {
        diag_error(e->d, args[0].span, "embedding: ids must be i32 token ids, got %s", el_type_str(e, args[0].node));
        return el_err;
    }
    int64_t wd[2] = {vocab, dim};
    ir_node *w = layer_param(e, call, "weight", 2, wd, INIT_NORMAL, 1.0);
    if (!w) return el_err;
    return op2(e, call, IR_EMBEDDING, args[0], param_val(w, call), NULL);
}

/* positional(x): x [..., T, D] + <b>.weight [T, D] ~ N(0, 0.02). */
static val b_positional(elab *e, const builtin *b, const ast_expr *call, val *args) {
    if (!want_f32(e, b, &args[0], 0)) return el_err;
    const ir_shape *s = &el_node(e, args[0].node)->shape;
    if (s->rank < 2) {
        diag_error(e->d, args[0].span, "positional: x must be [..., time, width], got %s",
                   el_type_str(e, args[0].node));
        return el_err;
    }
    ir_node *w = layer_param(e, call, "weight", 2, &s->d[s->rank - 2], INIT_NORMAL, 0.02);
    if (!w) return el_err;
    return op2(e, call, IR_ADD, args[0], param_val(w, call), NULL);
}

/* The parameters of one attention layer: packed (w_in [3D, D]) when the
 * keys and values have x's width, else PyTorch's separate kdim / vdim
 * projections (w_q [D, D], w_k and w_v [D, kdim]); b_in is [3D] in both. */
typedef struct attn_params {
    ir_node *w_in, *w_q, *w_k, *w_v, *b_in, *w_out, *b_out; /* biases NULL without bias */
} attn_params;

static int attn_make_params(elab *e, const ast_expr *call, int64_t D, int64_t kdim, int bias, attn_params *p) {
    int64_t b3;
    memset(p, 0, sizeof *p);
    if (ck_mul_i64(3, D, &b3)) {
        diag_error(e->d, call->span, "attention: the in-projection of width 3 x %lld overflows 64 bits", (long long)D);
        return 0;
    }
    int64_t win[2] = {b3, D}, wout[2] = {D, D}, wkv[2] = {D, kdim};
    int in_ok;
    if (kdim == D) {
        in_ok = (p->w_in = layer_param(e, call, "in_proj_weight", 2, win, INIT_GLOROT, 0)) != NULL;
    } else {
        p->w_q = layer_param(e, call, "q_proj_weight", 2, wout, INIT_GLOROT, 0);
        p->w_k = layer_param(e, call, "k_proj_weight", 2, wkv, INIT_GLOROT, 0);
        p->w_v = layer_param(e, call, "v_proj_weight", 2, wkv, INIT_GLOROT, 0);
        in_ok = p->w_q && p->w_k && p->w_v;
    }
    if (bias) p->b_in = layer_param(e, call, "in_proj_bias", 1, &b3, INIT_ZEROS, 0);
    p->w_out = layer_param(e, call, "out_proj.weight", 2, wout, INIT_GLOROT, 0);
    if (bias) p->b_out = layer_param(e, call, "out_proj.bias", 1, &D, INIT_ZEROS, 0);
    return in_ok && p->w_out && (!bias || (p->b_in && p->b_out));
}

/* y = x W^T (+ b): the core matmul with the weight transposed, as dense. */
static val linear(elab *e, const ast_expr *at, val x, val w, val bias) {
    int64_t ia[IR_MAX_ATTR] = {0, 1};
    val y = op2(e, at, IR_MATMUL, x, w, ia);
    return bias.kind == V_TENSOR ? op2(e, at, IR_ADD, y, bias, NULL) : y;
}

/* Projection s (0 = q, 1 = k, 2 = v) of x [B, T, width] by rows
 * [sD, (s+1)D) of the packed in-projection (or by the separate weight s),
 * as [B, heads, T, D / heads]. Slicing the weight (not the [B, T, 3D]
 * product) keeps the copies and the backward's zero padding at parameter
 * size. */
static val attn_project(elab *e, const ast_expr *at, val x, const attn_params *p, int s, const int64_t *bthd) {
    int64_t D = bthd[2] * bthd[3];
    ir_node *sep[3] = {p->w_q, p->w_k, p->w_v};
    val w = p->w_in ? slice_of(e, at, param_val(p->w_in, at), 0, s * D, (s + 1) * D) : param_val(sep[s], at);
    val b = p->b_in ? slice_of(e, at, param_val(p->b_in, at), 0, s * D, (s + 1) * D) : el_err;
    val y = reshape_to(e, at, linear(e, at, x, w, b), 4, bthd);
    int64_t perm[IR_MAX_ATTR] = {0, 2, 1, 3};
    return op1(e, at, IR_PERMUTE, y, perm, NULL);
}

/* The note under an attention shape error: what the tensor is. */
static void attn_note(elab *e, val *v) {
    const char *n = el_node(e, v->node)->name;
    if (n) diag_note(e->d, v->span, "'%s' is %s", n, el_type_str(e, v->node));
    else diag_note(e->d, v->span, "this is %s", el_type_str(e, v->node));
}

/* Checks attention's kv = memory against x [B, T, D] (S = kv's length,
 * kdim its width); causal masking needs S == T. */
static int attn_check_kv(elab *e, val *args, int causal, int64_t *S, int64_t *kdim) {
    const ir_shape *x = &el_node(e, args[0].node)->shape, *m = &el_node(e, args[4].node)->shape;
    const char *why = NULL;
    if (m->rank != 3) why = "kv must be [batch, time, width]";
    else if (m->d[0] != x->d[0]) why = "kv and x must have the same batch size";
    else if (causal && m->d[1] != x->d[1]) why = "causal = true needs kv as long as x";
    if (why) {
        diag_error(e->d, args[4].span, "attention: %s, got kv %s and x %s", why, el_type_str(e, args[4].node),
                   el_type_str(e, args[0].node));
        attn_note(e, &args[4]);
        return 0;
    }
    *S = m->d[1], *kdim = m->d[2];
    return 1;
}

/* attention(x, heads, causal = false, bias = true, kv = x): multi-head
 * scaled dot-product attention of x [B, T, D] over kv [B, S, kdim] (self-
 * attention without kv), lowered to core ops and this family's:
 * softmax(q k^T / sqrt(D / heads) (+ causal mask)) v per head, heads
 * joined, then the output projection. */
static val b_attention(elab *e, const builtin *b, const ast_expr *call, val *args) {
    int64_t heads, S, kdim;
    double causal = 0, bias = 1;
    int ok = want_f32(e, b, &args[0], 0);
    ok &= el_want_int(e, b, &args[1], 1, 1, &heads);
    ok &= el_want_num(e, b, &args[2], 2, &causal);
    ok &= el_want_num(e, b, &args[3], 3, &bias);
    int has_kv = args[4].kind != V_NONE;
    if (has_kv) ok &= want_f32(e, b, &args[4], 4);
    if (!ok) return el_err;
    const ir_shape *s = &el_node(e, args[0].node)->shape;
    if (s->rank != 3) {
        diag_error(e->d, args[0].span, "attention: x must be [batch, time, width], got %s",
                   el_type_str(e, args[0].node));
        return el_err;
    }
    int64_t B = s->d[0], T = s->d[1], D = s->d[2];
    if (D % heads != 0) {
        diag_error(e->d, args[1].span, "attention: width %lld is not divisible by %lld heads", (long long)D,
                   (long long)heads);
        attn_note(e, &args[0]);
        return el_err;
    }
    S = T, kdim = D;
    if (has_kv && !attn_check_kv(e, args, causal != 0, &S, &kdim)) return el_err;
    attn_params p;
    if (!attn_make_params(e, call, D, kdim, bias != 0, &p)) return el_err;
    int64_t hd = D / heads, bthd[4] = {B, T, heads, hd}, bshd[4] = {B, S, heads, hd}, btd[3] = {B, T, D};
    int64_t perm[IR_MAX_ATTR] = {0, 2, 1, 3}, tb[IR_MAX_ATTR] = {0, 1};
    double neg_inf[4] = {-INFINITY};
    val x = args[0], m = has_kv ? args[4] : args[0];
    val q = attn_project(e, call, x, &p, 0, bthd);
    val k = attn_project(e, call, m, &p, 1, bshd);
    val v = attn_project(e, call, m, &p, 2, bshd);
    val scale = el_tensor(ir_const_scalar(e->g, 1.0 / sqrt((double)hd), call->span)->id, call->span);
    q = op2(e, call, IR_MUL, q, scale, NULL); /* PyTorch scales q before q k^T */
    val sc = op2(e, call, IR_BMM, q, k, tb);  /* [B, h, T, S] */
    if (causal != 0) sc = op1(e, call, IR_CAUSAL_MASK, sc, NULL, neg_inf);
    val att = op1(e, call, IR_SOFTMAX, sc, NULL, NULL);
    val o = op2(e, call, IR_BMM, att, v, NULL); /* [B, h, T, hd] */
    o = reshape_to(e, call, op1(e, call, IR_PERMUTE, o, perm, NULL), 3, btd);
    return linear(e, call, o, param_val(p.w_out, call), p.b_out ? param_val(p.b_out, call) : el_err);
}

const builtin elab_lib_attn[] = {
    {"reshape", {"x", "shape"}, 2, b_reshape, B_EXPR, IR_RESHAPE, 0},
    {"transpose", {"x", "dim0", "dim1"}, 3, b_transpose, B_EXPR, IR_PERMUTE, 0},
    {"permute", {"x", "perm"}, 2, b_permute, B_EXPR, IR_PERMUTE, 0},
    {"concat", {"a", "b", "axis"}, 3, b_concat, B_EXPR, IR_CONCAT, 0},
    {"slice", {"x", "axis", "start", "end"}, 4, b_slice, B_EXPR, IR_SLICE, 0},
    {"bmm", {"a", "b"}, 2, b_bmm, B_EXPR, IR_BMM, 0},
    {"expand", {"x", "shape"}, 2, b_expand, B_EXPR, IR_EXPAND, 0},
    {"flip", {"x", "axis"}, 2, b_flip, B_EXPR, IR_FLIP, 0},
    {"embedding", {"ids", "vocab", "dim"}, 3, b_embedding, B_EXPR, IR_EMBEDDING, 1},
    {"positional", {"x"}, 1, b_positional, B_EXPR, IR_ADD, 1},
    {"attention", {"x", "heads", "causal", "bias", "kv"}, 2, b_attention, B_EXPR, IR_BMM, 1},
    {NULL, {NULL}, 0, NULL, B_EXPR, IR_COPY, 0},
};
