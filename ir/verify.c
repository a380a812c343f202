/* verify.c — structural checks of a graph, run after every pass (in every
 * build) and by the tests: operands precede their users, every shape
 * re-derives from its inputs, roles and interface lists agree. */
#include "ir.h"

static int check_node(const ir_graph *g, const ir_node *n, FILE *out) {
    int bad = 0;
    if (n->id < 0 || n->id >= g->nodes.len || g->nodes.data[n->id] != n) {
        fprintf(out, "verify: node %%%d has a wrong id\n", n->id);
        return 1;
    }
    for (int j = 0; j < n->nin; j++)
        if (n->in[j] < 0 || n->in[j] >= n->id) {
            fprintf(out, "verify: %%%d (%s) uses %%%d, which does not precede it\n", n->id, ir_ops[n->op].name,
                    n->in[j]);
            return 1;
        }
    if (ir_ops[n->op].nin >= 0 && n->nin != ir_ops[n->op].nin && n->op != IR_CONST) {
        fprintf(out, "verify: %%%d (%s) has %d inputs\n", n->id, ir_ops[n->op].name, n->nin);
        bad++;
    }
    if (n->op == IR_CONST && !n->data) {
        fprintf(out, "verify: constant %%%d has no data\n", n->id);
        bad++;
    }
    if (ir_ops[n->op].cls != OPC_SOURCE) {
        ir_node copy = *n;
        const char *e = ir_infer_shape((ir_graph *)g, &copy);
        if (e || !ir_shape_eq(&copy.shape, &n->shape) || copy.dtype != n->dtype) {
            fprintf(out, "verify: %%%d (%s): shape does not re-derive%s%s\n", n->id, ir_ops[n->op].name,
                    e ? ": " : "", e ? e : "");
            bad++;
        }
    }
    return bad;
}

static int check_list(const ir_graph *g, const int *ids, int n, ir_role role, const char *what, FILE *out) {
    int bad = 0;
    for (int i = 0; i < n; i++) {
        const ir_node *x = ids[i] >= 0 && ids[i] < g->nodes.len ? g->nodes.data[ids[i]] : NULL;
        int same_role = x && (x->role == role || (role == ROLE_PARAM && x->role == ROLE_BUFFER));
        int ok = x && (role == ROLE_NONE || (same_role && x->index == i));
        if (!ok) {
            fprintf(out, "verify: %s %d is not a proper node\n", what, i);
            bad++;
        }
    }
    return bad;
}

int ir_verify(const ir_graph *g, FILE *out) {
    int bad = 0;
    for (int i = 0; i < g->nodes.len; i++) bad += check_node(g, g->nodes.data[i], out);
    bad += check_list(g, g->inputs.data, g->inputs.len, ROLE_INPUT, "input", out);
    bad += check_list(g, g->targets.data, g->targets.len, ROLE_TARGET, "target", out);
    bad += check_list(g, g->params.data, g->params.len, ROLE_PARAM, "param", out);
    bad += check_list(g, g->outputs.data, g->outputs.len, ROLE_NONE, "output", out);
    if (g->loss >= 0 && (g->loss >= g->nodes.len || g->nodes.data[g->loss]->shape.rank != 0)) {
        fprintf(out, "verify: loss is not a scalar\n");
        bad++;
    }
    if (g->grads.len && g->grads.len != g->params.len) {
        fprintf(out, "verify: %d gradients for %d parameters\n", g->grads.len, g->params.len);
        bad++;
    }
    return bad;
}
