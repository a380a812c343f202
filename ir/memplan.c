/* memplan.c — static memory planning for one schedule.
 *
 * Parameters sit at fixed, contiguous offsets (declaration order) and each
 * parameter's gradient at the same offset of the gradient buffer. Every other
 * op result gets an offset in one activation arena: buffers are placed
 * largest first at the lowest offset that does not overlap, in address and
 * in lifetime, any buffer placed before (greedy by size, as TFLite Micro's
 * planner does). A lifetime runs from the step that writes the buffer to the
 * last step that reads it; outputs live to the end.
 *
 * Sizes and offsets saturate at SIZE_MAX (ck_add_sat): a plan that does not
 * fit size_t has arena_elems or param_elems SIZE_MAX, which no memory limit
 * allows (mem_need_of, checked by the driver before any code is made).
 */
#include "ir.h"

#include <stdlib.h>

enum { ALIGN_ELEMS = 16 }; /* 64 bytes in f32 */

/* n rounded up to ALIGN_ELEMS; SIZE_MAX when that does not fit. */
static size_t align_up(size_t n) { return ck_add_sat(n, ALIGN_ELEMS - 1) / ALIGN_ELEMS * ALIGN_ELEMS; }

/* A node's element count as a size_t (saturating where size_t is narrower). */
static size_t elems(const ir_node *n) {
    int64_t k = ir_numel(&n->shape);
    return (uint64_t)k > SIZE_MAX ? SIZE_MAX : (size_t)k;
}

typedef struct buf {
    int node;        /* node id */
    int first, last; /* schedule steps of definition and last use */
    size_t size;     /* elements, aligned; 0 once merged into another */
    int into;        /* the index of the buffer this one was merged into, -1 if none */
} buf;

static int by_size_desc(const void *a, const void *b) {
    const buf *x = a, *y = b;
    if (x->size != y->size) return x->size < y->size ? 1 : -1;
    return x->node - y->node;
}

static void place_params(const ir_graph *g, mem_plan *p) {
    size_t off = 0;
    for (int i = 0; i < g->params.len; i++) {
        int id = g->params.data[i];
        p->region[id] = MEM_PARAM;
        p->offset[id] = off;
        if (i < g->grads.len && g->grads.data[i] >= 0) {
            p->region[g->grads.data[i]] = MEM_GRAD;
            p->offset[g->grads.data[i]] = off;
        }
        off = ck_add_sat(off, align_up(elems(g->nodes.data[id])));
    }
    p->param_elems = off;
}

/* Sources have no arena buffer; a state update writes its buffer's slot. */
static void place_sources(const ir_graph *g, mem_plan *p) {
    for (int i = 0; i < g->nodes.len; i++) {
        const ir_node *n = g->nodes.data[i];
        if (n->op == IR_CONST) p->region[i] = MEM_CONST;
        else if (n->op == IR_INPUT) p->region[i] = MEM_USER;
        else if (ir_ops[n->op].flags & OPF_STATE) {
            p->region[i] = MEM_PARAM;
            p->offset[i] = p->offset[n->in[0]];
        }
    }
}

/* Lowest offset where b fits beside the already placed bufs[0..n). */
static size_t best_offset(const buf *b, const buf *placed, const size_t *offs, int n) {
    size_t off = 0;
    for (int again = 1; again;) {
        again = 0;
        for (int j = 0; j < n; j++) {
            const buf *o = &placed[j];
            if (o->last < b->first || b->last < o->first) continue; /* lifetimes disjoint */
            if (ck_add_sat(offs[j], o->size) <= off || ck_add_sat(off, b->size) <= offs[j]) continue;
            off = ck_add_sat(offs[j], o->size);
            again = 1;
        }
    }
    return off;
}

static int collect(const ir_graph *g, const ir_sched *s, const mem_plan *p, buf *bufs, int *pos) {
    int nb = 0;
    for (int i = 0; i < g->nodes.len; i++) pos[i] = -1;
    for (int t = 0; t < s->order.len; t++) {
        int id = s->order.data[t];
        for (int j = 0; j < g->nodes.data[id]->nin; j++) {
            int in = g->nodes.data[id]->in[j];
            if (pos[in] >= 0) bufs[pos[in]].last = t;
        }
        if (p->region[id] != MEM_NONE) continue;
        bufs[nb] = (buf){id, t, t, align_up(elems(g->nodes.data[id])), -1};
        pos[id] = nb++;
    }
    for (int i = 0; i < g->outputs.len; i++)
        if (pos[g->outputs.data[i]] >= 0) bufs[pos[g->outputs.data[i]]].last = s->order.len;
    if (g->loss >= 0 && pos[g->loss] >= 0) bufs[pos[g->loss]].last = s->order.len;
    if (g->loss_eval >= 0 && pos[g->loss_eval] >= 0) bufs[pos[g->loss_eval]].last = s->order.len;
    for (int i = 0; i < g->input_grads.len; i++) { /* read by P_input_grad after the entry point */
        int d = g->input_grads.data[i];
        if (d >= 0 && pos[d] >= 0) bufs[pos[d]].last = s->order.len;
    }
    return nb;
}

/* Can n write its output over its input j's buffer? Kernels that read and
 * write the same index only: elementwise ops, fused trees, channel_bias;
 * an input of the output's size and type. */
static int may_overwrite(const ir_graph *g, const ir_node *n, int j) {
    const ir_node *x = g->nodes.data[n->in[j]];
    int cls = ir_ops[n->op].cls;
    if (cls != OPC_UNARY && cls != OPC_BINARY && n->op != IR_FUSED && n->op != IR_CHANNEL_BIAS) return 0;
    return !(ir_ops[n->op].flags & (OPF_STATE | OPF_RNG)) && x->dtype == n->dtype && elems(x) == elems(n);
}

/* The buffer that bufs[b] is now part of (merges chain: a reshape of a
 * value whose buffer later goes to an in-place op). */
static int root(const buf *bufs, int b) {
    while (bufs[b].into >= 0) b = bufs[b].into;
    return b;
}

/* Node id's buffer becomes part of buffer b, which lives as long as either. */
static void share(buf *bufs, int *pos, int id, int b) {
    int c = root(bufs, pos[id]);
    b = root(bufs, b);
    if (c == b) return;
    if (bufs[c].last > bufs[b].last) bufs[b].last = bufs[c].last;
    bufs[c].size = 0;
    bufs[c].into = b;
}

/* Reshapes as views (every plan): a reshape of an arena buffer is the same
 * elements in the same order, so its output is that buffer, which lives
 * until the last read of either, and it has no kernel (mem_is_view). A
 * value is never written after its kernel, so the two cannot disagree.
 * Returns how many. */
static int alias_reshapes(const ir_graph *g, const ir_sched *s, buf *bufs, int *pos) {
    int k = 0;
    for (int t = 0; t < s->order.len; t++) {
        const ir_node *n = g->nodes.data[s->order.data[t]];
        if (n->op != IR_RESHAPE || pos[n->id] < 0 || pos[n->in[0]] < 0) continue;
        share(bufs, pos, n->id, pos[n->in[0]]);
        k++;
    }
    return k;
}

/* In-place reuse (plans of inference-only programs): a node that reads an
 * arena buffer for the last time takes that buffer over when may_overwrite
 * allows, so relu(channel_bias(conv)) needs one buffer. bufs[] is by node
 * order, pos[id] its index. */
static void merge_in_place(const ir_graph *g, const ir_sched *s, buf *bufs, int *pos) {
    for (int t = 0; t < s->order.len; t++) {
        const ir_node *n = g->nodes.data[s->order.data[t]];
        for (int j = 0; pos[n->id] >= 0 && j < n->nin; j++) {
            if (pos[n->in[j]] < 0) continue;
            int b = root(bufs, pos[n->in[j]]);
            if (bufs[b].last != t || !may_overwrite(g, n, j)) continue;
            share(bufs, pos, n->id, b);
            break;
        }
    }
}

/* Drop the buffers that share another's; the new count. */
static int compact(buf *bufs, int nb) {
    int k = 0;
    for (int i = 0; i < nb; i++)
        if (bufs[i].size) bufs[k++] = bufs[i];
    return k;
}

/* Place bufs[0..nb) greedily, largest first; the arena's size into p. */
static void place(buf *bufs, int nb, mem_plan *p) {
    size_t *offs = malloc(sizeof(size_t) * (size_t)(nb + 1));
    qsort(bufs, (size_t)nb, sizeof *bufs, by_size_desc);
    for (int i = 0; i < nb; i++) {
        offs[i] = best_offset(&bufs[i], bufs, offs, i);
        p->region[bufs[i].node] = MEM_ARENA;
        p->offset[bufs[i].node] = offs[i];
        size_t end = ck_add_sat(offs[i], bufs[i].size);
        if (end > p->arena_elems) p->arena_elems = end;
    }
    free(offs);
}

void mem_plan_schedule(const ir_graph *g, const ir_sched *s, int in_place, arena *a, mem_plan *p) {
    int n = g->nodes.len;
    memset(p, 0, sizeof *p);
    p->region = arena_alloc(a, sizeof(mem_region) * (size_t)n);
    p->offset = arena_alloc(a, sizeof(size_t) * (size_t)n);
    place_params(g, p);
    place_sources(g, p);
    buf *bufs = malloc(sizeof(buf) * (size_t)(n + 1));
    int *pos = malloc(sizeof(int) * (size_t)(n + 1)), *owner = malloc(sizeof(int) * (size_t)(n + 1));
    for (int i = 0; i < n; i++) owner[i] = i;
    int nb = collect(g, s, p, bufs, pos);
    for (int i = 0; i < nb; i++) p->naive_elems = ck_add_sat(p->naive_elems, bufs[i].size);
    int views = alias_reshapes(g, s, bufs, pos);
    if (in_place) merge_in_place(g, s, bufs, pos);
    for (int i = 0; i < n; i++) /* owner[id]: the node whose buffer id's is part of */
        if (pos[i] >= 0) owner[i] = bufs[root(bufs, pos[i])].node;
    place(bufs, compact(bufs, nb), p);
    for (int i = 0; i < n; i++)
        if (owner[i] != i) p->region[i] = MEM_ARENA, p->offset[i] = p->offset[owner[i]];
    p->kernels = s->order.len - views;
    free(bufs);
    free(pos);
    free(owner);
}

int mem_is_view(const ir_graph *g, const mem_plan *p, int id) {
    const ir_node *n = g->nodes.data[id];
    return n->op == IR_RESHAPE && p->region[id] == MEM_ARENA && p->region[n->in[0]] == MEM_ARENA &&
           p->offset[id] == p->offset[n->in[0]];
}

void ir_program_build(ir_graph *g, ir_program *p) {
    memset(p, 0, sizeof *p);
    p->g = g;
    p->has[ENTRY_FORWARD] = g->outputs.len > 0;
    p->has[ENTRY_LOSS] = g->loss_eval >= 0;
    p->has[ENTRY_TRAIN] = g->loss >= 0 && g->grads.len > 0;
    for (int e = 0; e < ENTRY_COUNT; e++) {
        if (!p->has[e]) continue;
        ARR(int) roots = {0};
        if (e == ENTRY_FORWARD)
            for (int i = 0; i < g->outputs.len; i++) arr_push(g->a, roots, g->outputs.data[i]);
        else
            arr_push(g->a, roots, e == ENTRY_LOSS ? g->loss_eval : g->loss);
        for (int i = 0; e == ENTRY_TRAIN && i < g->grads.len; i++) arr_push(g->a, roots, g->grads.data[i]);
        for (int i = 0; e == ENTRY_TRAIN && i < g->input_grads.len; i++)
            arr_push(g->a, roots, g->input_grads.data[i]);
        for (int i = 0; e == ENTRY_TRAIN && i < g->nodes.len; i++) /* state updates (running stats) */
            if (ir_ops[g->nodes.data[i]->op].flags & OPF_STATE) arr_push(g->a, roots, i);
        ir_schedule(g, roots.data, roots.len, &p->sched[e]);
        mem_plan_schedule(g, &p->sched[e], !p->has[ENTRY_LOSS] && !p->has[ENTRY_TRAIN], g->a, &p->mem[e]);
        if (p->mem[e].arena_elems > p->arena_elems) p->arena_elems = p->mem[e].arena_elems;
    }
}

int ir_opt_slots(const ir_optim *o) {
    return o->kind == OPT_ADAM || o->kind == OPT_ADAMW ? 2 : o->kind == OPT_SGD && o->momentum != 0 ? 1 : 0;
}

/* Bytes of the inputs and targets. */
static size_t io_bytes(const ir_graph *g, size_t esize) {
    size_t sum = 0;
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < (k ? g->targets.len : g->inputs.len); i++) {
            const ir_node *n = g->nodes.data[k ? g->targets.data[i] : g->inputs.data[i]];
            sum = ck_add_sat(sum, ck_mul_sat(elems(n), n->dtype == DT_I32 ? 4 : esize));
        }
    return sum;
}

/* Without a plan: the largest live op result, in elements (aligned). */
static size_t largest_activation(const ir_graph *g) {
    ir_sched s;
    size_t most = 0;
    ir_schedule_all(g, &s);
    for (int t = 0; t < s.order.len; t++) {
        size_t k = align_up(elems(g->nodes.data[s.order.data[t]]));
        if (k > most) most = k;
    }
    return most;
}

void mem_need_of(const ir_graph *g, const ir_program *p, size_t esize, mem_need *m) {
    size_t pe = 0, ae = 0;
    int trains;
    if (p) {
        for (int e = ENTRY_COUNT - 1; e >= 0; e--)
            if (p->has[e]) pe = p->mem[e].param_elems;
        ae = p->arena_elems;
        trains = p->has[ENTRY_TRAIN];
    } else {
        for (int i = 0; i < g->params.len; i++) pe = ck_add_sat(pe, align_up(elems(g->nodes.data[g->params.data[i]])));
        ae = largest_activation(g);
        trains = g->loss >= 0 && g->opt.kind != OPT_NONE && g->params.len > 0;
    }
    m->params = ck_mul_sat(pe, esize);
    m->copies = 1 + trains + ir_opt_slots(&g->opt);
    m->act = ck_mul_sat(ae, esize);
    m->io = io_bytes(g, esize);
    m->total = ck_add_sat(ck_add_sat(ck_mul_sat(m->params, (size_t)m->copies), m->act), m->io);
}
