/* torch_ops.c — each IR op of a forward graph as a PyTorch expression, for
 * --emit=torch (torch.c): elementwise rows through their ops.def formula
 * (translated from C to Python, a ternary becoming _where), the others
 * through torch and torch.nn.functional calls or the helpers that
 * torch_helpers (below) defines in the generated file. */
#include "py.h"

#include <ctype.h>
#include <math.h>

/* ---- ops.def formulas as Python ----------------------------------------- */

typedef struct fx {
    const char *s;          /* next character */
    arena *a;
    const char *in[2];      /* the operands a, b */
    double attr[2];         /* p, q */
    int bad;
} fx;

static const char *fx_cond(fx *f);

static void fx_space(fx *f) {
    while (isspace((unsigned char)*f->s)) f->s++;
}

static int fx_eat(fx *f, const char *tok) {
    fx_space(f);
    size_t n = strlen(tok);
    if (strncmp(f->s, tok, n)) return 0;
    f->s += n;
    return 1;
}

/* A number as Python reads it back exactly. */
const char *torch_num(arena *a, double v) {
    if (isnan(v)) return "float('nan')";
    if (isinf(v)) return v > 0 ? "float('inf')" : "float('-inf')";
    return arena_printf(a, "%.17g", v);
}

static const struct {
    const char *c, *py;
} fx_fns[] = {{"exp", "torch.exp"},   {"log", "torch.log"},     {"tanh", "torch.tanh"}, {"erf", "torch.erf"},
              {"expm1", "torch.expm1"}, {"log1p", "torch.log1p"}, {"sqrt", "torch.sqrt"}, {"fabs", "torch.abs"},
              {"sin", "torch.sin"},   {"cos", "torch.cos"},     {"pow", "torch.pow"},   {"fmax", "torch.maximum"},
              {"fmin", "torch.minimum"}};

/* fn(args) with each argument through _t (a Python number becomes a tensor). */
static const char *fx_call(fx *f, const char *name) {
    const char *py = NULL;
    for (size_t i = 0; i < sizeof fx_fns / sizeof fx_fns[0]; i++)
        if (!strcmp(fx_fns[i].c, name)) py = fx_fns[i].py;
    if (!py) return f->bad = 1, "";
    const char *args = "";
    do {
        args = arena_printf(f->a, "%s%s_t(%s)", args, *args ? ", " : "", fx_cond(f));
    } while (fx_eat(f, ","));
    if (!fx_eat(f, ")")) f->bad = 1;
    return arena_printf(f->a, "%s(%s)", py, args);
}

static const char *fx_primary(fx *f) {
    fx_space(f);
    const char *st = f->s;
    if (fx_eat(f, "(")) {
        const char *e = fx_cond(f);
        if (!fx_eat(f, ")")) f->bad = 1;
        return arena_printf(f->a, "(%s)", e);
    }
    if (isdigit((unsigned char)*st) || *st == '.') {
        while (isalnum((unsigned char)*f->s) || *f->s == '.') f->s++;
        return arena_strndup(f->a, st, (size_t)(f->s - st));
    }
    while (isalnum((unsigned char)*f->s) || *f->s == '_') f->s++;
    const char *id = arena_strndup(f->a, st, (size_t)(f->s - st));
    if (fx_eat(f, "(")) return fx_call(f, id);
    if (!strcmp(id, "a") || !strcmp(id, "b")) return f->in[id[0] - 'a'];
    if (!strcmp(id, "p") || !strcmp(id, "q")) return arena_printf(f->a, "(%s)", torch_num(f->a, f->attr[id[0] - 'p']));
    return f->bad = 1, "";
}

static const char *fx_unary(fx *f) {
    if (fx_eat(f, "-")) return arena_printf(f->a, "(-%s)", fx_unary(f));
    return fx_primary(f);
}

static const char *fx_product(fx *f) {
    const char *l = fx_unary(f);
    for (;;) {
        char op = fx_eat(f, "*") ? '*' : fx_eat(f, "/") ? '/' : 0;
        if (!op) return l;
        l = arena_printf(f->a, "(%s %c %s)", l, op, fx_unary(f));
    }
}

static const char *fx_sum(fx *f) {
    const char *l = fx_product(f);
    for (;;) {
        char op = fx_eat(f, "+") ? '+' : fx_eat(f, "-") ? '-' : 0;
        if (!op) return l;
        l = arena_printf(f->a, "(%s %c %s)", l, op, fx_product(f));
    }
}

static const char *fx_cmp(fx *f) {
    static const char *const ops[] = {">=", "<=", "==", "!=", ">", "<"};
    const char *l = fx_sum(f);
    for (int i = 0; i < 6; i++)
        if (fx_eat(f, ops[i])) return arena_printf(f->a, "(%s %s %s)", l, ops[i], fx_sum(f));
    return l;
}

static const char *fx_cond(fx *f) {
    const char *c = fx_cmp(f);
    if (!fx_eat(f, "?")) return c;
    const char *x = fx_cond(f);
    if (!fx_eat(f, ":")) f->bad = 1;
    return arena_printf(f->a, "_where(%s, %s, %s)", c, x, fx_cond(f));
}

/* The formula of elementwise node n over operand expressions in; NULL if
 * it does not translate. */
static const char *elementwise(arena *a, const ir_node *n, const char *const *in) {
    fx f = {ir_ops[n->op].expr, a, {in[0], n->nin > 1 ? in[1] : "0"}, {n->fattr[0], n->fattr[1]}, 0};
    const char *e = fx_cond(&f);
    fx_space(&f);
    return f.bad || *f.s ? NULL : e;
}

/* ---- the other ops ------------------------------------------------------ */

/* "[2, 3]" */
static const char *dims(arena *a, const ir_shape *s) {
    const char *r = "";
    for (int k = 0; k < s->rank; k++) r = arena_printf(a, "%s%s%lld", r, k ? ", " : "", (long long)s->d[k]);
    return arena_printf(a, "[%s]", r);
}

/* "(a0, ..., a1 - 1)" */
static const char *axes(arena *a, int64_t a0, int64_t a1) {
    const char *r = "";
    for (int64_t k = a0; k < a1; k++) r = arena_printf(a, "%s%lld, ", r, (long long)k);
    return arena_printf(a, "(%s)", r);
}

static const char *op_sum(arena *a, const ir_node *n, const char *const *in) {
    return arena_printf(a, "_sum(%s, %s, %s).reshape(%s)", in[0], axes(a, n->iattr[0], n->iattr[1]),
                        torch_num(a, n->fattr[0]), dims(a, &n->shape));
}

static const char *op_expand(arena *a, const ir_node *n, const char *const *in) {
    ir_shape ones = n->ashape;
    for (int64_t k = n->iattr[0]; k < n->iattr[1]; k++) ones.d[k] = 1;
    return arena_printf(a, "(%s.reshape(%s).expand(%s) * %s)", in[0], dims(a, &ones), dims(a, &n->ashape),
                        torch_num(a, n->fattr[0]));
}

static const char *op_conv(arena *a, const ir_node *n, const char *const *in) {
    const int64_t *t = n->iattr;
    if (n->op == IR_CONV_TRANSPOSE2D)
        return arena_printf(a, "F.conv_transpose2d(%s, %s, None, %lld, %lld, %lld, %lld, %lld)", in[0], in[1],
                            (long long)t[0], (long long)t[1], (long long)t[4], (long long)t[3], (long long)t[2]);
    return arena_printf(a, "F.conv2d(%s, %s, None, %lld, %lld, %lld, %lld)", in[0], in[1], (long long)t[0],
                        (long long)t[1], (long long)t[2], (long long)t[3]);
}

static const char *op_pool(arena *a, const ir_node *n, const char *const *in) {
    const int64_t *t = n->iattr;
    return arena_printf(a, "F.%s(%s, %lld, %lld, %lld)", n->op == IR_MAXPOOL2D ? "max_pool2d" : "avg_pool2d", in[0],
                        (long long)t[0], (long long)t[1], (long long)t[2]);
}

static const char *op_upsample(arena *a, const ir_node *n, const char *const *in) {
    if (n->iattr[1] == 0)
        return arena_printf(a, "F.interpolate(%s, scale_factor=%lld, mode='nearest')", in[0], (long long)n->iattr[0]);
    return arena_printf(a, "F.interpolate(%s, scale_factor=%lld, mode='bilinear', align_corners=False)", in[0],
                        (long long)n->iattr[0]);
}

static const char *op_permute(arena *a, const ir_node *n, const char *const *in) {
    ir_shape perm = {n->shape.rank, {0}};
    for (int k = 0; k < perm.rank; k++) perm.d[k] = n->iattr[k];
    return arena_printf(a, "%s.permute(%s)", in[0], dims(a, &perm));
}

static const char *op_product(arena *a, const ir_node *n, const char *const *in) {
    return arena_printf(a, "_%s(%s, %s, %d, %d).reshape(%s)", n->op == IR_BMM ? "bmm" : "matmul", in[0], in[1],
                        (int)n->iattr[0], (int)n->iattr[1], dims(a, &n->shape));
}

static const char *op_shape(arena *a, const ir_node *n, const char *const *in) {
    const int64_t *t = n->iattr;
    switch (n->op) {
    case IR_RESHAPE: return arena_printf(a, "%s.reshape(%s)", in[0], dims(a, &n->shape));
    case IR_SLICE: return arena_printf(a, "%s.narrow(%lld, %lld, %lld)", in[0], (long long)t[0], (long long)t[1],
                                       (long long)(t[2] - t[1]));
    case IR_PAD: return arena_printf(a, "_pad(%s, %lld, %lld, %lld)", in[0], (long long)t[0], (long long)t[1],
                                     (long long)t[2]);
    case IR_CONCAT: return arena_printf(a, "torch.cat([%s, %s], %lld)", in[0], in[1], (long long)t[0]);
    case IR_FLIP: return arena_printf(a, "torch.flip(%s, [%lld])", in[0], (long long)t[0]);
    default: return op_permute(a, n, in);
    }
}

static const char *op_norm(arena *a, const ir_node *n, const char *const *in) {
    switch (n->op) {
    case IR_LN_STATS: return arena_printf(a, "_ln_stats(%s, %s)", in[0], torch_num(a, n->fattr[0]));
    case IR_LN_NORM: return arena_printf(a, "_ln(%s, %s, %s, %s)", in[0], in[1], in[2], in[3]);
    case IR_BN_MEAN: return arena_printf(a, "_bn_mean(%s)", in[0]);
    case IR_BN_VAR: return arena_printf(a, "_bn_var(%s, %s)", in[0], in[1]);
    default:
        return arena_printf(a, "_bn(%s, %s, %s, %s, %s, %s)", in[0], in[1], in[2], in[3], in[4],
                            torch_num(a, n->fattr[0]));
    }
}

static const char *op_misc(arena *a, const ir_node *n, const char *const *in) {
    switch (n->op) {
    case IR_SOFTMAX: return arena_printf(a, "torch.softmax(%s, -1)", in[0]);
    case IR_LOG_SOFTMAX: return arena_printf(a, "torch.log_softmax(%s, -1)", in[0]);
    case IR_CHANNEL_BIAS: return arena_printf(a, "_channel_bias(%s, %s)", in[0], in[1]);
    case IR_EMBEDDING: return arena_printf(a, "F.embedding(%s.long(), %s)", in[0], in[1]);
    case IR_CAUSAL_MASK: return arena_printf(a, "_causal_mask(%s, %s)", in[0], torch_num(a, n->fattr[0]));
    case IR_RNN_SCAN:
        return arena_printf(a, "_rnn_scan(%s, %s, %s, %d, %lld)", in[0], in[1], in[2], (int)n->iattr[0],
                            (long long)n->iattr[1]);
    default: return NULL;
    }
}

const char *torch_op(arena *a, const ir_node *n, const char *const *in) {
    ir_opclass cls = ir_ops[n->op].cls;
    if (cls == OPC_UNARY || cls == OPC_BINARY) return elementwise(a, n, in);
    switch (n->op) {
    case IR_SUM: return op_sum(a, n, in);
    case IR_EXPAND: return op_expand(a, n, in);
    case IR_MATMUL: case IR_BMM: return op_product(a, n, in);
    case IR_CONV2D: case IR_CONV_TRANSPOSE2D: return op_conv(a, n, in);
    case IR_MAXPOOL2D: case IR_AVGPOOL2D: return op_pool(a, n, in);
    case IR_UPSAMPLE: return op_upsample(a, n, in);
    case IR_RESHAPE: case IR_SLICE: case IR_PAD: case IR_CONCAT: case IR_FLIP: case IR_PERMUTE:
        return op_shape(a, n, in);
    case IR_LN_STATS: case IR_LN_NORM: case IR_BN_MEAN: case IR_BN_VAR: case IR_BN_NORM: return op_norm(a, n, in);
    default: return op_misc(a, n, in);
    }
}
