/* elab_block.c — user-defined blocks, and the built-ins dim and stack.
 *
 *   block residual(x, width = dim(x, -1)) {
 *       param scale : f32[1] = 1.0
 *       return x + scale * dense(x, width)
 *   }
 *
 * el_check_block: structure, once per block, whether it is used or not.
 * el_call_block / el_stack_call: match the arguments, then apply_block runs the
 * body in a fresh scope (below the consts) with the call's layer prefix
 * pushed. A block whose application reported an error is marked failed
 * and later applications give the poison value quietly, so one mistake in
 * a block stacked 12 times is one message (with notes naming where the
 * block was applied).
 */
#include "elab_impl.h"

/* More applications than this in one pass is an error (a guard against
 * stack(stack(...)) blowing up; real models use a few hundred), and so is
 * a block applied inside more than MAX_BLOCK_DEPTH others (it bounds the C
 * stack: each level is a few frames of eval). */
enum { MAX_BLOCK_APPLICATIONS = 10000, MAX_BLOCK_DEPTH = 64 };

/* The block called `name` (the first one of that name; not one named like
 * a built-in op, which keeps the op), or -1. */
int el_find_block(elab *e, const char *name) {
    int i = e->blocks ? el_index_get(&e->blocks->by_name, name) : -1;
    return i >= 0 && !el_find_builtin(name) ? i : -1;
}

/* dim(x, axis): the size of one axis of x, a number (axis < 0 counts from
 * the end). Lets a block size its layers from its input. */
static val b_dim(elab *e, const builtin *b, const ast_expr *call, val *args) {
    double ax;
    if (!el_want_tensor(e, b, &args[0], 0) || !el_want_num(e, b, &args[1], 1, &ax)) return el_err;
    ir_node *x = el_node(e, args[0].node);
    int r = x->shape.rank;
    if (!args[1].is_int) {
        diag_error(e->d, args[1].span, "dim: axis must be an integer");
        return el_err;
    }
    if (ax < -r || ax >= r) {
        diag_error(e->d, args[1].span, "dim: axis %g out of range for %s (rank %d)", ax, el_type_str(e, x->id), r);
        return el_err;
    }
    return el_num((double)x->shape.d[ax < 0 ? (int)ax + r : (int)ax], call->span);
}

/* stack(x, block, n, args...) is B_STACK: el_eval_call hands it to
 * el_stack_call, which needs the block's name unevaluated; its entry names
 * it (suggestions, "is an op", el_count_layers: a stack is one layer, as an
 * nn.Sequential is one module). */
const builtin elab_lib_block[] = {
    {"dim", {"x", "axis"}, 2, b_dim, B_EXPR, IR_COPY, 0},
    {"stack", {"x", "block", "n"}, 3, NULL, B_STACK, IR_COPY, 1},
    {NULL, {NULL}, 0, NULL, B_EXPR, IR_COPY, 0},
};

/* The name of the return statement's layers: S.out.weight, like an
 * nn.Module attribute `self.out`. */
static const char *const RETURN_SCOPE = "out";

void el_blocks_init(elab *e, const ast_program *p) {
    elab_blocks *B = e->blocks;
    B->n = p->nblocks;
    B->b = arena_alloc(e->g->a, sizeof *B->b * (size_t)(p->nblocks + 1));
    for (int i = 0; i < p->nblocks; i++) {
        B->b[i] = (block_info){&p->blocks[i], 1, 0, 0};
        el_index_put(e->g->a, &B->by_name, p->blocks[i].name, i);
    }
}

/* The names declared in a block: parameters, param statements and
 * bindings, in order, with a hash index. */
typedef struct block_names {
    const char **name;
    src_span *def;
    int n;
    el_index index; /* name -> position */
} block_names;

/* Reports `name` if a const or an earlier name of the block has it; else
 * adds it to names. Returns 0 on a clash. */
static int declare_block_name(elab *e, block_names *names, const char *name, src_span def) {
    int i = el_index_get(&names->index, name);
    if (i >= 0) {
        diag_error(e->d, def, "redefinition of '%s'", name);
        diag_note(e->d, names->def[i], "'%s' was defined here", name);
        return 0;
    }
    binding *c = el_lookup(e, name); /* only the consts are in scope now */
    if (c) {
        diag_error(e->d, def, "redefinition of '%s'", name);
        diag_note(e->d, c->def, "'%s' was defined here", name);
        return 0;
    }
    el_index_put(e->g->a, &names->index, name, names->n);
    names->name[names->n] = name;
    names->def[names->n++] = def;
    return 1;
}

/* The block's name: not a built-in op's, not another block's. */
static int check_block_name(elab *e, int bi) {
    const ast_block *b = e->blocks->b[bi].ast;
    if (el_find_builtin(b->name)) {
        diag_error(e->d, b->name_span, "block '%s' has the name of a built-in op", b->name);
        return 0;
    }
    int j = el_index_get(&e->blocks->by_name, b->name); /* the first block of that name */
    if (j < bi) {
        diag_error(e->d, b->name_span, "redefinition of block '%s'", b->name);
        diag_note(e->d, e->blocks->b[j].ast->name_span, "block '%s' was defined here", b->name);
        return 0;
    }
    return 1;
}

/* What a statement that only a model may hold is called, and why not here. */
static const char *model_only_stmt(ast_stmt_kind k) {
    switch (k) {
    case ST_INPUT: return "an 'input' statement: a block takes its inputs as parameters";
    case ST_TARGET: return "a 'target' statement: a block takes its inputs as parameters";
    case ST_OUTPUT: return "an 'output' statement: return the value and make it an output in the model";
    case ST_LOSS: return "a 'loss' statement: return the value and use it in the model's loss";
    case ST_TRAIN: return "a 'train' statement: the model's train statement trains every block's parameters";
    default: return NULL;
    }
}

/* The statements of a block: only param, bindings and one return, last. */
static int check_block_body(elab *e, const ast_block *b, block_names *names) {
    int ok = 1, nret = 0;
    for (int k = 0; k < b->nstmts; k++) {
        const ast_stmt *st = &b->stmts[k];
        const char *why = model_only_stmt(st->kind);
        if (why) {
            diag_error(e->d, st->span, "a block cannot contain %s", why);
            ok = 0;
        } else if (st->kind == ST_RETURN) {
            nret++;
            if (k != b->nstmts - 1) {
                diag_error(e->d, st->span, "'return' must be the last statement of block '%s'", b->name);
                ok = 0;
            }
        } else {
            ok &= declare_block_name(e, names, st->name, st->name_span);
        }
    }
    if (nret == 0) {
        diag_error(e->d, b->name_span, "block '%s' has no return statement (end it with 'return <expression>')",
                   b->name);
        ok = 0;
    }
    return ok;
}

/* A name `out` in the block clashes with the return statement's layers. */
static int check_return_scope(elab *e, const ast_block *b, const block_names *names) {
    const ast_stmt *ret = b->nstmts ? &b->stmts[b->nstmts - 1] : NULL;
    if (!ret || ret->kind != ST_RETURN || !el_count_layers(e, ret->value)) return 1;
    int i = el_index_get(&names->index, RETURN_SCOPE);
    if (i < b->nparams) return 1; /* none, or a parameter of that name */
    diag_error(e->d, names->def[i], "in block '%s', the layers of the return statement are named '%s'; "
               "give this one another name", b->name, RETURN_SCOPE);
    return 0;
}

/* Structure of block bi, reported once: its name, its parameters (distinct,
 * not a const's name, defaults without layers) and its body. A block with an
 * error is not applied (calls give the poison value quietly). */
void el_check_block(elab *e, int bi) {
    block_info *info = &e->blocks->b[bi];
    const ast_block *b = info->ast;
    int ok = check_block_name(e, bi);
    size_t most = (size_t)(b->nparams + b->nstmts + 1);
    block_names names = {arena_alloc(e->g->a, sizeof *names.name * most),
                         arena_alloc(e->g->a, sizeof *names.def * most), 0, {NULL, NULL, 0, 0}};
    for (int i = 0; i < b->nparams; i++) {
        const ast_bparam *p = &b->params[i];
        ok &= declare_block_name(e, &names, p->name, p->name_span);
        if (p->def && el_count_layers(e, p->def)) {
            diag_error(e->d, p->def->span, "the default value of '%s' cannot create parameters", p->name);
            ok = 0;
        }
    }
    ok &= check_block_body(e, b, &names);
    ok = ok && check_return_scope(e, b, &names);
    info->usable = ok;
}

/* ---- arguments ---- */

/* One argument of a block call, evaluated in the caller. */
typedef struct blk_arg {
    const char *name;   /* NULL: positional */
    src_span name_span; /* the name, when named */
    val v;              /* its value (v.span: the argument) */
} blk_arg;

static int block_param_index(const ast_block *b, const char *name) {
    for (int i = 0; i < b->nparams; i++)
        if (!strcmp(b->params[i].name, name)) return i;
    return -1;
}

/* "mlp has no argument 'widht'; did you mean 'width'?" */
static void unknown_block_arg(elab *e, const ast_block *b, const blk_arg *a) {
    const char *best = NULL;
    int bd = 3;
    for (int i = 0; i < b->nparams; i++) {
        int dd = edit_distance(a->name, b->params[i].name);
        if (dd < bd) bd = dd, best = b->params[i].name;
    }
    if (best && (int)strlen(a->name) > bd)
        diag_error(e->d, a->name_span, "%s has no argument '%s'; did you mean '%s'?", b->name, a->name, best);
    else
        diag_error(e->d, a->name_span, "%s has no argument '%s'", b->name, a->name);
}

/* Matches args[0..n) to the block's parameters, as bind_args does for a
 * built-in: positional ones fill the parameters from index `pos` on, named
 * ones theirs. slots[] (nparams) may hold values already (stack's input in
 * slot 0); V_NONE is left where the default applies. Reports at the
 * argument; a missing one at `call`. */
static int match_block_args(elab *e, const ast_block *b, const blk_arg *args, int n, int pos,
                            src_span call, val *slots) {
    int ok = 1, given = pos + n; /* stack's input counts too */
    for (int i = 0; i < n; i++) {
        const blk_arg *a = &args[i];
        int k = a->name ? block_param_index(b, a->name) : pos++;
        if (a->name && k < 0) {
            unknown_block_arg(e, b, a);
            ok = 0;
            continue;
        }
        if (k >= b->nparams) {
            diag_error(e->d, a->v.span, "%s takes at most %d argument%s, got %d", b->name, b->nparams,
                       b->nparams == 1 ? "" : "s", given);
            return 0;
        }
        if (slots[k].kind != V_NONE) {
            diag_error(e->d, a->name ? a->name_span : a->v.span, "%s: argument '%s' given twice", b->name,
                       b->params[k].name);
            ok = 0;
        }
        slots[k] = a->v;
    }
    for (int i = 0; ok && i < b->nparams; i++)
        if (slots[i].kind == V_NONE && !b->params[i].def) {
            diag_error(e->d, call, "%s: missing argument '%s'", b->name, b->params[i].name);
            ok = 0;
        }
    return ok;
}

/* Slots for a block's parameters, all V_NONE. */
static val *new_slots(elab *e, const ast_block *b, src_span at) {
    val *slots = arena_alloc(e->g->a, sizeof *slots * (size_t)(b->nparams + 1));
    for (int i = 0; i <= b->nparams; i++) slots[i] = (val){V_NONE, 0, 0, -1, NULL, at};
    return slots;
}

/* ---- application ---- */

/* What apply_block saves of the caller and restores. */
typedef struct block_frame {
    el_scope *names;   /* the caller's scope */
    const char *scope; /* and its statement's naming state */
    int nlayers, ncalls;
    const char *prefix;
} block_frame;

/* Enter block bi: a fresh scope below the consts, prefix S. */
static block_frame enter_block(elab *e, int bi, const char *S) {
    elab_blocks *B = e->blocks;
    block_frame f = {e->names, e->scope, e->nlayers, e->ncalls, B->prefix};
    e->names = el_scope_new(e, B->consts);
    B->prefix = S;
    e->g->block = S;
    B->b[bi].active = 1;
    arr_push(e->g->a, B->chain, bi);
    return f;
}

static void leave_block(elab *e, int bi, const block_frame *f) {
    e->names = f->names;
    e->scope = f->scope, e->nlayers = f->nlayers, e->ncalls = f->ncalls;
    e->blocks->prefix = f->prefix;
    e->g->block = f->prefix;
    e->blocks->b[bi].active = 0;
    e->blocks->chain.len--;
}

/* "block 'a' is recursive (a -> b -> a)" at the call that closes the cycle. */
static void report_recursion(elab *e, int bi, src_span at) {
    elab_blocks *B = e->blocks;
    strbuf sb;
    sb_init(&sb);
    int from = B->chain.len - 1;
    while (from > 0 && B->chain.data[from] != bi) from--;
    for (int i = from; i < B->chain.len; i++) sb_printf(&sb, "%s -> ", B->b[B->chain.data[i]].ast->name);
    sb_printf(&sb, "%s", B->b[bi].ast->name);
    diag_error(e->d, at, "block '%s' is recursive (%s); a block cannot apply itself", B->b[bi].ast->name, sb.s);
    sb_free(&sb);
}

/* Refuses an application: recursion, a const, too many. 0: refused. */
static int may_apply(elab *e, int bi, src_span at) {
    elab_blocks *B = e->blocks;
    if (!B->b[bi].usable || B->b[bi].failed) return 0; /* reported already */
    if (B->b[bi].active) {
        report_recursion(e, bi, at);
        return 0;
    }
    if (!B->consts) {
        diag_error(e->d, at, "a block cannot be applied in a const declaration");
        return 0;
    }
    if (B->chain.len >= MAX_BLOCK_DEPTH) {
        if (!B->over_budget) diag_error(e->d, at, "blocks nested more than %d deep", MAX_BLOCK_DEPTH);
        B->over_budget = 1;
        return 0;
    }
    if (++B->napplied > MAX_BLOCK_APPLICATIONS) {
        if (!B->over_budget)
            diag_error(e->d, at, "more than %d block applications in this model", MAX_BLOCK_APPLICATIONS);
        B->over_budget = 1;
        return 0;
    }
    return 1;
}

/* The body of b, in the block's scope: parameters, then statements;
 * the value of the return statement. */
static val run_block_body(elab *e, const ast_block *b, const val *slots, const char *S) {
    for (int i = 0; i < b->nparams; i++) {
        val v = slots[i];
        if (v.kind == V_NONE) { /* the default, over the consts and the parameters before it */
            e->scope = S, e->nlayers = 0, e->ncalls = 0;
            v = el_eval(e, b->params[i].def);
        }
        el_bind(e, b->params[i].name, b->params[i].name_span, v);
    }
    val r = el_err;
    for (int k = 0; k < b->nstmts; k++) {
        const ast_stmt *st = &b->stmts[k];
        if (st->kind == ST_PARAM) {
            el_decl_param(e, st);
        } else if (st->kind == ST_LET) {
            val v = el_eval_stmt_expr(e, arena_printf(e->g->a, "%s.%s", S, st->name), st->value);
            el_name_node(e, v, st->name);
            el_bind(e, st->name, st->name_span, v);
        } else if (st->kind == ST_RETURN) {
            r = el_eval_stmt_expr(e, arena_printf(e->g->a, "%s.%s", S, RETURN_SCOPE), st->value);
            if (r.kind == V_NUM || r.kind == V_SYM) {
                diag_error(e->d, st->value->span, "block '%s' must return a tensor, got %s", b->name,
                           r.kind == V_NUM ? "a number" : "a name");
                r = el_err;
            }
        }
    }
    return r;
}

/* Applies block bi to its matched arguments with parameter prefix S. `at`
 * is where it was applied (for errors and the "applied here" note), `span`
 * the whole call (the result's span). */
static val apply_block(elab *e, int bi, src_span at, src_span span, const val *slots, const char *S) {
    if (!may_apply(e, bi, at)) return el_err;
    const ast_block *b = e->blocks->b[bi].ast;
    int before = e->d->errors;
    block_frame f = enter_block(e, bi, S);
    val r = run_block_body(e, b, slots, S);
    leave_block(e, bi, &f);
    if (e->d->errors > before) {
        e->blocks->b[bi].failed = 1;
        diag_note(e->d, at, "in block '%s', applied here as '%s'", b->name, S);
        return el_err;
    }
    r.span = span;
    return r;
}

/* The prefix of the layer with call index k in the current statement, as
 * el_param_name makes it: the scope, with .k when the statement has
 * several layers. */
static const char *layer_prefix(elab *e, int k) {
    const char *scope = e->scope ? e->scope : "layer";
    return e->nlayers <= 1 ? scope : arena_printf(e->g->a, "%s.%d", scope, k);
}

/* f(args) for a block f: a layer of the statement, named like dense. */
val el_call_block(elab *e, int bi, const ast_expr *x) {
    const ast_block *b = e->blocks->b[bi].ast;
    blk_arg *args = arena_alloc(e->g->a, sizeof *args * (size_t)(x->nargs + 1));
    int ok = 1;
    for (int i = 0; i < x->nargs; i++) {
        args[i] = (blk_arg){x->args[i].name, x->args[i].name_span, el_eval(e, x->args[i].value)};
        ok &= args[i].v.kind != V_ERR;
    }
    int k = e->ncalls++;
    val *slots = new_slots(e, b, x->span);
    if (!ok || !match_block_args(e, b, args, x->nargs, 0, x->span, slots)) return el_err;
    return apply_block(e, bi, x->name_span, x->span, slots, layer_prefix(e, k));
}

/* The arguments of stack(x, block, n, args...): its own three by position
 * or name, the others for the block. */
typedef struct stack_args {
    const ast_arg *own[3]; /* x, block, n */
    blk_arg *extra;        /* for the block, evaluated */
    int nextra;
} stack_args;

static int split_stack_args(elab *e, const builtin *sb, const ast_expr *x, stack_args *sa) {
    int pos = 0, ok = 1;
    memset(sa, 0, sizeof *sa);
    sa->extra = arena_alloc(e->g->a, sizeof *sa->extra * (size_t)(x->nargs + 1));
    for (int i = 0; i < x->nargs; i++) {
        const ast_arg *a = &x->args[i];
        int k = a->name ? el_param_index(sb, a->name) : pos < 3 ? pos++ : -1;
        if (k < 0) {
            sa->extra[sa->nextra++] = (blk_arg){a->name, a->name_span, el_eval(e, a->value)};
            ok &= sa->extra[sa->nextra - 1].v.kind != V_ERR;
        } else if (sa->own[k]) {
            diag_error(e->d, a->name ? a->name_span : a->value->span, "stack: argument '%s' given twice",
                       sb->params[k]);
            ok = 0;
        } else {
            sa->own[k] = a;
        }
    }
    for (int k = 0; k < 3; k++)
        if (!sa->own[k]) {
            diag_error(e->d, x->span, "stack: missing argument '%s'", sb->params[k]);
            ok = 0;
        }
    return ok;
}

/* The block named by stack's `block` argument, or -1 (reported). */
static int stack_block(elab *e, const ast_expr *name) {
    if (name->kind != EX_NAME) {
        diag_error(e->d, name->span, "stack: argument 'block' must be the name of a block%s",
                   name->kind == EX_CALL ? ", without arguments" : "");
        return -1;
    }
    int bi = el_find_block(e, name->name);
    if (bi >= 0 && e->blocks->b[bi].ast->nparams == 0)
        diag_error(e->d, name->span, "stack: block '%s' takes no arguments, so it cannot take the input", name->name);
    else if (bi < 0 && el_find_builtin(name->name))
        diag_error(e->d, name->span, "stack: '%s' is a built-in op, not a block", name->name);
    else if (bi < 0)
        el_unknown(e, name->span, "block", name->name, 3);
    return bi >= 0 && e->blocks->b[bi].ast->nparams > 0 ? bi : -1;
}

/* stack(x, block, n, args...): block applied n times in sequence, copy i
 * with its own parameters S.i (an nn.Sequential of n modules). */
val el_stack_call(elab *e, const builtin *sb, const ast_expr *x) {
    stack_args sa;
    int ok = split_stack_args(e, sb, x, &sa);
    val xv = ok ? el_eval(e, sa.own[0]->value) : el_err;
    val nv = ok ? el_eval(e, sa.own[2]->value) : el_err;
    int bi = ok ? stack_block(e, sa.own[1]->value) : -1;
    int k = e->ncalls++;
    int64_t n = 0;
    ok = ok && bi >= 0 && el_want_tensor(e, sb, &xv, 0);
    ok = ok && el_want_int(e, sb, &nv, 2, 1, &n);
    if (!ok) return el_err;
    const ast_block *b = e->blocks->b[bi].ast;
    val *slots = new_slots(e, b, x->span);
    slots[0] = xv;
    if (!match_block_args(e, b, sa.extra, sa.nextra, 1, x->span, slots)) return el_err;
    const char *S = layer_prefix(e, k);
    val cur = xv;
    for (int64_t i = 0; i < n; i++) {
        slots[0] = cur;
        const char *Si = arena_printf(e->g->a, "%s.%lld", S, (long long)i);
        cur = apply_block(e, bi, sa.own[1]->value->span, x->span, slots, Si);
        if (cur.kind != V_TENSOR) return el_err;
    }
    return cur;
}
