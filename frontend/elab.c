/* elab.c — elaboration: the AST of one model becomes an IR graph.
 *
 * Resolves names (consts, inputs, parameters, bindings), evaluates constant
 * arithmetic, applies the built-in ops and layers, names the parameters that
 * layers create, checks every shape through the IR's shape rules and reports
 * errors at the source. After an error in a statement the bound name holds a
 * poison value, so one mistake gives one message.
 *
 * Parameter names: a layer's parameters are named after the binding that
 * contains it. When the binding's expression has one layer, `fc = dense(x,
 * 8)` gives fc.weight and fc.bias; with several, each gets the position of
 * its call among all calls of the expression in evaluation order, as
 * PyTorch's nn.Sequential numbers its stages: `h = x -> dense(8) -> relu ->
 * dense(4)` gives h.0.weight and h.2.weight.
 *
 * Blocks (user-defined, elab_block.c): a block call is a layer like dense.
 * Its body runs in a fresh scope (below the consts: the block's parameters
 * and bindings) with the call's layer prefix S pushed: the block's `param
 * w` is S.w, a layer in its binding `fc = ...` names its parameters after
 * S.fc, and layers in its return expression after S.out. stack(x, blk, n)
 * applies blk n times, copy i with the prefix S.i.
 *
 * This file holds the driver: consts (and -D overrides), the model's
 * statements, the checks of a whole model, the second (inference) pass and
 * the auto initializers; the list of built-in tables is here too. The other
 * elab_*.c files are listed in elab_impl.h.
 */
#include "elab_impl.h"

/* Every family's table; a family adds its line here. */
extern const builtin elab_lib_core[], elab_lib_block[], elab_lib_conv[], elab_lib_rnn[], elab_lib_attn[],
    elab_lib_norm[], elab_lib_rand[];
const builtin *const elab_libs[] = {elab_lib_core, elab_lib_block, elab_lib_conv, elab_lib_rnn,
                                    elab_lib_attn, elab_lib_norm, elab_lib_rand, NULL};

static void consts(elab *e, const ast_program *p, elab_define *defs, int ndefs) {
    for (int i = 0; i < p->nconsts; i++) {
        const ast_const *c = &p->consts[i];
        val v = el_eval(e, c->value);
        if (v.kind != V_NUM && v.kind != V_ERR) {
            diag_error(e->d, c->value->span, "const '%s' must be a number", c->name);
            v = el_err;
        }
        for (int j = 0; j < ndefs; j++)
            if (!strcmp(defs[j].name, c->name)) {
                v = el_num(defs[j].value, c->name_span);
                v.is_int &= defs[j].is_int;
                defs[j].used = 1;
            }
        el_bind(e, c->name, c->name_span, v);
    }
    for (int j = 0; j < ndefs; j++)
        if (!defs[j].used) diag_plain(e->d, "-D %s: the program has no const named '%s'", defs[j].name, defs[j].name);
}

/* Weights with init = auto: He when the layer feeds a relu (made after it),
 * else Glorot. One sweep marks the nodes that feed a relu. */
static void resolve_auto_init(elab *e) {
    char *feeds_relu = arena_alloc(e->g->a, (size_t)e->g->nodes.len + 1);
    for (int j = 0; j < e->g->nodes.len; j++) {
        ir_node *u = el_node(e, j);
        if (u->op == IR_RELU && u->in[0] < j) feeds_relu[u->in[0]] = 1;
    }
    for (int i = 0; i < e->auto_params.len; i++)
        el_node(e, e->auto_params.data[i])->init = feeds_relu[e->auto_outs.data[i]] ? INIT_HE : INIT_GLOROT;
    for (int i = 0; i < e->g->params.len; i++) {
        ir_node *p = el_node(e, e->g->params.data[i]);
        if (p->init == INIT_AUTO) p->init = p->shape.rank >= 2 ? INIT_GLOROT : INIT_ZEROS;
    }
}

static void check_model(elab *e, const ast_model *m) {
    ir_graph *g = e->g;
    if (!g->outputs.len && g->loss < 0)
        diag_error(e->d, m->name_span, "model '%s' has no output and no loss", m->name);
    if (g->loss >= 0 && g->opt.kind == OPT_NONE)
        diag_error(e->d, m->name_span, "model '%s' has a loss but no train statement", m->name);
    if (g->loss < 0 && g->opt.kind != OPT_NONE) diag_error(e->d, g->opt.loc, "train needs a loss statement");
    if (g->loss >= 0 && !g->params.len)
        diag_error(e->d, m->name_span, "model '%s' has a loss but no parameters to train", m->name);
    for (int i = 0; g->loss < 0 && i < g->inputs.len; i++)
        if (el_node(e, g->inputs.data[i])->requires_grad)
            diag_error(e->d, el_node(e, g->inputs.data[i])->loc,
                       "input '%s' requires_grad, but model '%s' has no loss to differentiate",
                       el_node(e, g->inputs.data[i])->name, m->name);
}

/* Dropout and batch norm differ between training and inference: elaborate
 * the statements again in inference mode, reusing inputs, targets and
 * parameters. The first pass's outputs and loss feed training; this pass's
 * outputs feed _forward and its loss feeds _loss. */
static void second_pass(elab *e, const ast_model *m) {
    ir_graph *g = e->g;
    e->names = el_scope_new(e, e->blocks->consts); /* forget bindings, keep consts */
    e->mode = MODE_INFER;
    e->ndropout = 0;
    e->blocks->napplied = 0;
    g->outputs.len = g->output_names.len = 0;
    int loss = g->loss;
    g->loss = -1;
    ir_optim opt = g->opt;
    g->opt.kind = OPT_NONE;
    for (int i = 0; i < m->nstmts; i++) el_stmt(e, &m->stmts[i]);
    g->loss_eval = g->loss;
    g->loss = loss;
    g->opt = opt;
}

int elaborate(const ast_program *p, elab_define *defs, int ndefs, diag_ctx *d, ir_graph *g) {
    elab e = {0};
    elab_blocks blocks = {0};
    el_index param_ids = {0};
    e.g = g;
    e.d = d;
    e.blocks = &blocks;
    e.param_ids = &param_ids;
    int before = d->errors;
    el_blocks_init(&e, p);
    e.names = el_scope_new(&e, NULL);
    consts(&e, p, defs, ndefs);
    blocks.consts = e.names;
    for (int i = 0; i < blocks.n; i++) el_check_block(&e, i);
    if (p->nmodels != 1) {
        if (p->nmodels == 0) diag_plain(d, "%s: no model in this file", d->file);
        else diag_error(d, p->models[1].name_span, "one model per file; '%s' is the second", p->models[1].name);
        return d->errors - before;
    }
    const ast_model *m = &p->models[0];
    g->name = m->name;
    e.names = el_scope_new(&e, blocks.consts);
    for (int i = 0; i < m->nstmts; i++) el_stmt(&e, &m->stmts[i]);
    if (d->errors == before) el_objectives(&e, m);
    if (d->errors == before) check_model(&e, m); /* not after errors: they cascade */
    g->loss_eval = g->loss;
    if (d->errors == before && e.mode_dependent) second_pass(&e, m);
    if (d->errors == before) el_objective_params(&e);
    if (d->errors == before) el_freeze(&e, m);
    resolve_auto_init(&e);
    return d->errors - before;
}
