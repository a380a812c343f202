/* elab_index.c — basic indexing, x[i, a:b, ..., ::s], with PyTorch's
 * semantics, lowered to the shape ops so that autodiff needs nothing new:
 *
 *   integer i      keeps [i, i + 1) of its axis (slice), and the final
 *                  reshape drops the axis; negative i counts from the end,
 *                  and an i outside [-size, size) is an error
 *   a:b            slice [a, b), bounds clamped as Python clamps them (an
 *                  empty result is an error: nnc has no empty tensors)
 *   a:b:s          every s-th element: slice, pad with zeros to a multiple
 *                  of s, reshape [.., n, s, ..], slice [0, 1) of the s
 *                  axis, reshape back (s > 0, as in PyTorch)
 *   ...            the axes not indexed otherwise (at most one)
 *
 * Axes with no subscript (after the last one, or under '...') are kept.
 */
#include "elab_impl.h"

#include <math.h>

/* What a subscript does to one input axis. */
typedef struct sub_axis {
    int drop;              /* an integer index: the axis goes away */
    int64_t lo, n, step;   /* elements lo, lo + step, ... (n of them) */
} sub_axis;

/* A subscript part that must be an integer (a number or a const). */
static int sub_int(elab *e, const ast_expr *x, const char *what, int64_t *out) {
    val v = el_eval(e, x);
    if (v.kind == V_ERR) return 0;
    if (v.kind == V_TENSOR) {
        diag_error(e->d, x->span, "%s must be an integer, got %s (indexing with a tensor is not supported)", what,
                   el_type_str(e, v.node));
        return 0;
    }
    if (v.kind != V_NUM || !v.is_int) {
        if (v.kind == V_NUM)
            diag_error(e->d, x->span, v.num == floor(v.num) ? "%s must be an integer, got the float %.1f"
                                                            : "%s must be an integer, got %g", what, v.num);
        else diag_error(e->d, x->span, "%s must be an integer", what);
        return 0;
    }
    *out = (int64_t)v.num;
    return 1;
}

/* An integer subscript of axis ax (size n). */
static int index_axis(elab *e, const ast_expr *x, int ax, int64_t n, sub_axis *s) {
    int64_t i;
    if (!sub_int(e, x, "an index", &i)) return 0;
    if (i < -n || i >= n) {
        diag_error(e->d, x->span, "index %lld is out of range for axis %d of size %lld", (long long)i, ax,
                   (long long)n);
        return 0;
    }
    *s = (sub_axis){1, i < 0 ? i + n : i, 1, 1};
    return 1;
}

/* A slice bound as Python reads it: negative counts from the end, then
 * clamped to [0, n]. */
static int64_t clamp_bound(int64_t b, int64_t n) {
    if (b < 0) b += n;
    return b < 0 ? 0 : b > n ? n : b;
}

/* A slice lo:hi:step of axis ax (size n). */
static int slice_axis(elab *e, const ast_expr *x, int ax, int64_t n, sub_axis *s) {
    int64_t lo = 0, hi = n, step = 1;
    int ok = !x->lhs || sub_int(e, x->lhs, "a slice start", &lo);
    ok &= !x->rhs || sub_int(e, x->rhs, "a slice end", &hi);
    ok &= !x->step || sub_int(e, x->step, "a slice step", &step);
    if (!ok) return 0;
    if (step < 1) {
        diag_error(e->d, x->step->span, "a slice step must be positive, got %lld", (long long)step);
        return 0;
    }
    lo = clamp_bound(lo, n), hi = clamp_bound(hi, n);
    if (lo >= hi) {
        diag_error(e->d, x->span, "this slice selects no element of axis %d (size %lld): from %lld to %lld", ax,
                   (long long)n, (long long)lo, (long long)hi);
        return 0;
    }
    *s = (sub_axis){0, lo, (hi - lo + step - 1) / step, step};
    return 1;
}

/* Checks the subscripts against the rank: at most one '...', at most one
 * subscript per axis. *nreal: the subscripts that are not '...'. */
static int check_count(elab *e, const ast_expr *x, int rank, int *nreal) {
    int dots = 0;
    *nreal = 0;
    for (int k = 0; k < x->nelems; k++) {
        if (x->elems[k]->kind != EX_ELLIPSIS) continue;
        if (dots++) {
            diag_error(e->d, x->elems[k]->span, "an index can have only one '...'");
            return 0;
        }
    }
    *nreal = x->nelems - dots;
    if (*nreal <= rank) return 1;
    diag_error(e->d, x->span, "too many indices: %d for a tensor of rank %d", *nreal, rank);
    return 0;
}

/* What the subscripts do to each axis of shape s, in sa[0..rank). */
static int read_subscripts(elab *e, const ast_expr *x, const ir_shape *s, sub_axis *sa) {
    int nreal, ax = 0, ok = 1;
    if (!check_count(e, x, s->rank, &nreal)) return 0;
    for (int k = 0; k < s->rank; k++) sa[k] = (sub_axis){0, 0, s->d[k], 1};
    for (int k = 0; k < x->nelems; k++) {
        const ast_expr *sub = x->elems[k];
        if (sub->kind == EX_ELLIPSIS) {
            ax += s->rank - nreal;
            continue;
        }
        if (sub->kind == EX_SLICE) ok &= slice_axis(e, sub, ax, s->d[ax], &sa[ax]);
        else ok &= index_axis(e, sub, ax, s->d[ax], &sa[ax]);
        ax++;
    }
    return ok;
}

static val reshape_to(elab *e, const ast_expr *at, val x, ir_shape s) {
    if (x.kind != V_TENSOR) return el_err;
    return el_tensor(ir_add_reshape(e->g, x.node, s, at->span)->id, at->span);
}

static val slice_of(elab *e, const ast_expr *at, val x, int64_t ax, int64_t lo, int64_t hi) {
    int64_t ia[IR_MAX_ATTR] = {ax, lo, hi};
    return el_apply(e, at, IR_SLICE, &x, 1, ia, NULL);
}

/* Every step-th element of axis ax, from the first: x viewed as
 * [outer, n * step, inner] (padded to that), reshaped to [outer, n, step,
 * inner], the first of every step kept, reshaped back. */
static val stride_axis(elab *e, const ast_expr *at, val x, int ax, const sub_axis *sa) {
    ir_shape s = el_node(e, x.node)->shape;
    int64_t outer, len, inner, full = sa->n * sa->step;
    ir_reduce_view(&s, ax, ax + 1, &outer, &len, &inner);
    if (len < full) {
        int64_t ia[IR_MAX_ATTR] = {ax, 0, full};
        x = el_apply(e, at, IR_PAD, &x, 1, ia, NULL);
    }
    int64_t w[4] = {outer, sa->n, sa->step, inner};
    x = slice_of(e, at, reshape_to(e, at, x, ir_shape_make(4, w)), 2, 0, 1);
    s.d[ax] = sa->n;
    return reshape_to(e, at, x, s);
}

val el_eval_index(elab *e, const ast_expr *x) {
    val v = el_eval(e, x->lhs);
    if (v.kind == V_ERR) return el_err;
    if (v.kind != V_TENSOR || el_node(e, v.node)->dtype != DT_F32) {
        diag_error(e->d, x->lhs->span, "only an f32 tensor can be indexed, got %s",
                   v.kind == V_TENSOR ? el_type_str(e, v.node) : v.kind == V_NUM ? "a number" : "a name");
        return el_err;
    }
    ir_shape s = el_node(e, v.node)->shape, out = {0, {0}};
    sub_axis sa[IR_MAX_RANK];
    if (!read_subscripts(e, x, &s, sa)) return el_err;
    for (int k = 0; k < s.rank && v.kind == V_TENSOR; k++) {
        int strided = sa[k].step > 1 && sa[k].n > 1;
        int64_t end = sa[k].lo + (sa[k].n - 1) * sa[k].step + 1; /* past the last element kept */
        if (strided && sa[k].lo + sa[k].n * sa[k].step <= s.d[k]) end = sa[k].lo + sa[k].n * sa[k].step; /* no pad */
        if (sa[k].lo > 0 || end < s.d[k]) v = slice_of(e, x, v, k, sa[k].lo, end);
        if (strided && v.kind == V_TENSOR) v = stride_axis(e, x, v, k, &sa[k]);
        if (!sa[k].drop) out.d[out.rank++] = sa[k].n;
    }
    if (v.kind == V_TENSOR && out.rank != s.rank) v = reshape_to(e, x, v, out);
    return v;
}
