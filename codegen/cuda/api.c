/* api.c — the generated API of the CUDA target: the model struct, one
 * device allocation, initialization (host Philox fills, then copied), the
 * entry points with host pointers (copies in and out, synchronous) and
 * with device pointers on a caller's stream (asynchronous), CUDA Graphs,
 * the fused optimizer kernels, and save/load through host copies.
 *
 * Device memory (one cudaMalloc, P_DEVICE_BYTES), each part 256-aligned:
 *   [params | grads | optimizer state | activations | inputs and targets
 *    | constants | hyper (lr, step, Adam's corrections, the last loss, the
 *    gradient norm) | the norm's partial sums (trainable models) | index-check
 *    record | cuBLAS workspace]
 * Host memory (P_ARENA_BYTES, the caller's for _init): [struct | a
 * parameter-sized staging buffer for init, save and load].
 *
 * What is shared with the C target (names, tables, initializers, the
 * optimizer's formulas, the generic _v entry points) comes from
 * core/api.h.
 */
#include "cuk.h"
#include "../core/api.h"

typedef long long ll;

/* hyper[HYPER_SKIP]: 1 when the last update was skipped for a non-finite
 * loss; hyper[HYPER_LOSS]: the last loss (a T), for the update's guard and
 * _check_finite; hyper[HYPER_NORM]: the gradients' L2 norm, and
 * hyper[HYPER_COEF] the clipping factor, of the last norm computed.
 * NORM_BLOCKS: the blocks (of 256 threads) of each range's partial sums. */
enum { HOST_HEADER = 4096, HYPER = 8 /* doubles */, HYPER_SKIP = 5, HYPER_LOSS = 6, HYPER_NORM = 7, HYPER_COEF = 8 };
enum { NORM_BLOCKS = 32 };
enum { W_FORWARD, W_LOSS, W_FB, W_STEP, W_COUNT }; /* graph slots */

static size_t align256(size_t n) { return (n + 255) / 256 * 256; }
static size_t esize(cg_ctx *cx) { return cx->o->f64 ? 8 : 4; }
static ir_node *NODE(cg_ctx *cx, int id) { return cx->g->nodes.data[id]; }
static size_t bytes_of(cg_ctx *cx, const ir_node *n) {
    return (size_t)ir_numel(&n->shape) * (n->dtype == DT_I32 ? 4 : esize(cx));
}
static int io_count(cg_ctx *cx) { return cx->g->inputs.len + cx->g->targets.len; }
static ir_node *io_node(cg_ctx *cx, int i) {
    const ir_graph *g = cx->g;
    return NODE(cx, i < g->inputs.len ? g->inputs.data[i] : g->targets.data[i - g->inputs.len]);
}

/* ---- the device layout -------------------------------------------------- */

typedef struct dlayout {
    size_t params, grads, opt[2], act, io, consts, hyper, part, rec, work, total; /* byte offsets */
} dlayout;

/* Ranges of the gradient buffer the optimizer updates (cg_grad_ranges). */
static int grad_ranges(cg_ctx *cx, size_t (**r)[2]) {
    *r = arena_alloc(cx->g->a, sizeof **r * (size_t)(cx->g->params.len + 1));
    return cg_grad_ranges(cx, *r);
}

/* Bytes of the norm's partial sums: NORM_BLOCKS doubles per range. */
static size_t part_bytes(cg_ctx *cx) {
    size_t(*r)[2];
    return cg_trainable(cx) ? align256((size_t)grad_ranges(cx, &r) * NORM_BLOCKS * sizeof(double)) : 0;
}

static dlayout dlayout_of(cg_ctx *cx) {
    dlayout l;
    size_t pb = align256(cg_param_elems(cx) * esize(cx));
    l.params = 0;
    l.grads = pb;
    l.opt[0] = l.grads + (cx->p->has[ENTRY_TRAIN] ? pb : 0);
    l.opt[1] = l.opt[0] + (cg_opt_slots(cx) >= 1 ? pb : 0);
    l.act = l.opt[1] + (cg_opt_slots(cx) >= 2 ? pb : 0);
    l.io = l.act + align256(cx->p->arena_elems * esize(cx));
    l.consts = l.io;
    for (int i = 0; i < io_count(cx); i++) l.consts += align256(bytes_of(cx, io_node(cx, i)));
    l.hyper = l.consts;
    for (int i = 0; i < cx->g->nodes.len; i++)
        if (NODE(cx, i)->op == IR_CONST && cg_used(cx, i)) l.hyper += align256(bytes_of(cx, NODE(cx, i)));
    l.part = l.hyper + 256;
    l.rec = l.part + part_bytes(cx);
    l.work = l.rec + 256;
    l.total = l.work + ((size_t)4 << 20); /* NNRT_CU_WORKSPACE_BYTES */
    return l;
}

/* Byte offset of input/target node id in the io region. */
static size_t io_offset(cg_ctx *cx, int id) {
    size_t off = 0;
    for (int i = 0; i < io_count(cx); i++) {
        if (io_node(cx, i)->id == id) return off;
        off += align256(bytes_of(cx, io_node(cx, i)));
    }
    return off;
}

/* Element offset of constant node id in the constants region. */
static size_t const_offset(cg_ctx *cx, int id) {
    size_t off = 0;
    for (int i = 0; i < id; i++)
        if (NODE(cx, i)->op == IR_CONST && cg_used(cx, i)) off += align256(bytes_of(cx, NODE(cx, i)));
    return off / esize(cx);
}

static size_t host_bytes(cg_ctx *cx) { return HOST_HEADER + align256(cg_param_elems(cx) * esize(cx)) + 64; }

/* The device pointer expression of node id's buffer under plan e. */
static const char *dptr(cg_ctx *cx, ir_entry e, int id) {
    const mem_plan *mp = &cx->p->mem[e];
    const ir_node *n = NODE(cx, id);
    arena *a = cx->g->a;
    const char *ty = n->dtype == DT_I32 ? "int32_t" : cx->T, *s = "NULL";
    switch (mp->region[id]) {
    case MEM_PARAM: s = arena_printf(a, "m->params + %zu", mp->offset[id]); break;
    case MEM_GRAD: s = arena_printf(a, "m->grads + %zu", mp->offset[id]); break;
    case MEM_ARENA: s = arena_printf(a, "m->act + %zu", mp->offset[id]); break;
    case MEM_USER: return arena_printf(a, "(%s *)(void *)(m->io + %zu)", ty, io_offset(cx, id));
    case MEM_CONST: s = arena_printf(a, "m->consts + %zu", const_offset(cx, id)); break;
    case MEM_NONE: return "NULL";
    }
    return n->dtype == DT_I32 ? arena_printf(a, "(int32_t *)(void *)(%s)", s) : s;
}

/* "    if (st == NNRT_OK) st = nnrt_cu_check(&m->ex, cudaMemcpyAsync(dst,
 * src, bytes, cudaMemcpyDIR, m->ex.stream), "copy of WHAT");" */
static void emit_copy(cg_ctx *cx, const char *dst, const char *src, const char *bytes, const char *dir,
                      const char *what) {
    sb_printf(cx->c, "    if (st == NNRT_OK) st = nnrt_cu_check(&m->ex, cudaMemcpyAsync(%s, %s, %s, cudaMemcpy%s, "
                     "m->ex.stream), \"copy of %s\");\n",
              dst, src, bytes, dir, what);
}

/* ---- the header ----------------------------------------------------------- */

static void protos_params(cg_ctx *cx, strbuf *h);

static void protos(cg_ctx *cx, strbuf *h) {
    const char *P = cx->o->prefix, *T = cx->T;
    cg_infer_note(cx, h);
    sb_printf(h, "typedef struct %s %s; /* host struct; %s on the device */\n\n", P, P,
              cg_infer_only(cx) ? "parameters and activations"
                                : "parameters, gradients, optimizer state and activations");
    sb_printf(h,
              "%s *%s_create(uint64_t seed);  /* malloc'd, device memory allocated, initialized; NULL on failure */\n",
              P, P);
    sb_printf(h,
              "int %s_init(%s **m, void *mem, size_t bytes, uint64_t seed); /* host struct in caller memory of "
              "%s_ARENA_BYTES;\n"
              "    allocates %s_DEVICE_BYTES on the current device (on failure *m is set for _last_error; call _free) "
              "*/\n",
              P, P, cx->upper, cx->upper);
    sb_printf(h,
              "void %s_free(%s *m);          /* device memory, stream, cuBLAS, graphs; the host block if _create made "
              "it */\n",
              P, P);
    sb_printf(h, "int %s_reset(%s *m, uint64_t seed); /* fresh initial weights (the C target's for the same seed) */\n",
              P, P);
    sb_puts(h, "\n/* Host pointers: inputs copied in, results copied out; these return when\n"
               " * the work is done. */\n");
    if (cx->p->has[ENTRY_FORWARD]) cg_entry_proto(cx, h, "forward", "", 0, "");
    if (cx->p->has[ENTRY_LOSS]) cg_entry_proto(cx, h, "loss", "", 1, "");
    if (cg_trainable(cx)) {
        cg_entry_proto(cx, h, "train_step", "", 1, "");
        cg_entry_proto(cx, h, "forward_backward", "", 1, " /* overwrites the gradients */");
        sb_printf(h, "int %s_update(%s *m);          /* one optimizer step (enqueued on the model's stream) */\n", P,
                  P);
        sb_printf(h, "int %s_set_lr(%s *m, double lr);\ndouble %s_get_lr(const %s *m);\n", P, P, P, P);
        cg_sched_protos(cx, h, ";\n    synchronizes; NaN when the device fails");
        cg_ckpt_protos(cx, h);
    }
    sb_puts(h, "\n/* Device pointers, asynchronous on stream (NULL: the model's own stream):\n"
               " * nothing synchronizes; loss and outputs are device pointers (NULL: not\n"
               " * wanted). An index out of range is found on the device: the bad ids\n"
               " * are read as 0 and the next _sync (or host-pointer call) reports it.\n"
               " * A call on another stream than the model's last one waits for that work. */\n");
    const char *st = ", cudaStream_t nnrt_stream";
    if (cx->p->has[ENTRY_FORWARD]) cg_entry_proto(cx, h, "forward_dev", st, 0, "");
    if (cx->p->has[ENTRY_LOSS]) cg_entry_proto(cx, h, "loss_dev", st, 1, "");
    if (cg_trainable(cx)) {
        cg_entry_proto(cx, h, "train_step_dev", st, 1, "");
        cg_entry_proto(cx, h, "forward_backward_dev", st, 1, "");
        sb_printf(h, "int %s_update_dev(%s *m, cudaStream_t nnrt_stream);\n", P, P);
        sb_printf(h, "%s *%s_grads(%s *m, size_t *n); /* DEVICE pointer, %s_PARAM_ELEMS */\n", T, P, P, cx->upper);
        sb_printf(h, "int %s_read_grads(%s *m, %s *host);  /* copy the gradients out (synchronizes) */\n", P, P, T);
        if (cg_has_input_grads(cx)) cg_input_grad_proto(cx, h);
    }
    sb_printf(h, "int %s_sync(%s *m); /* wait for the model's work; reports errors found on the device */\n", P, P);
    sb_printf(h, "\n/* The host-pointer entry points with arrays of pointers, in the order of\n"
                 " * _io_info (inputs, then targets) and _output_info, for generic callers. */\n");
    sb_printf(h, "int %s_io_info(int i, nnrt_tensor_info *info);     /* %s_NUM_IO inputs and targets */\n", P,
              cx->upper);
    sb_printf(h, "int %s_output_info(int i, nnrt_tensor_info *info); /* %s_NUM_OUTPUTS outputs */\n", P, cx->upper);
    if (cx->p->has[ENTRY_FORWARD])
        sb_printf(h, "int %s_forward_v(%s *m, const void *const *io, void *const *outputs);\n", P, P);
    if (cx->p->has[ENTRY_LOSS]) sb_printf(h, "int %s_loss_v(%s *m, const void *const *io, %s *loss);\n", P, P, T);
    if (cg_trainable(cx)) sb_printf(h, "int %s_forward_backward_v(%s *m, const void *const *io, %s *loss);\n", P, P, T);
    protos_params(cx, h);
}

/* The parameters on the device, save and load, messages. */
static void protos_params(cg_ctx *cx, strbuf *h) {
    const char *P = cx->o->prefix, *T = cx->T;
    sb_printf(h, "\n%s *%s_params(%s *m, size_t *n); /* DEVICE pointer, contiguous, %s_PARAM_ELEMS */\n", T, P, P,
              cx->upper);
    sb_printf(h, "int %s_read_params(%s *m, %s *host);        /* copy out (synchronizes) */\n", P, P, T);
    sb_printf(h, "int %s_write_params(%s *m, const %s *host); /* copy in (synchronizes) */\n", P, P, T);
    sb_printf(h, "int %s_param_info(int i, nnrt_tensor_info *info); /* name, shape, offset of parameter i */\n", P);
    sb_printf(h, "int %s_save(const %s *m, const char *path); /* safetensors, atomically (temporary + rename) */\n",
              P, P);
    sb_printf(h, "int %s_load(%s *m, const char *path);       /* all or nothing */\n", P, P);
    sb_printf(h, "int %s_load_partial(%s *m, const char *path, const char *prefix_map, nnrt_name_fn report,\n"
              "                 void *ctx); /* the tensors the file has (strict=False): nnrt_st_load_partial */\n",
              P, P);
    if (cg_infer_only(cx))
        sb_printf(h, "int %s_load_mem(%s *m, const void *buf, size_t n); /* safetensors bytes in memory */\n", P, P);
    if (cx->g->objective)
        sb_printf(h, "/* Objective '%s' of a model with several: train and read the parameters at the DEVICE\n"
                     " * pointer params (%s_PARAM_ELEMS, laid out as _params; another objective's _params)\n"
                     " * instead of m's own; NULL: m's own again. Synchronizes; the next calls capture anew. */\n"
                     "int %s_bind_params(%s *m, %s *params);\n",
                  cx->g->objective, cx->upper, P, P, T);
    sb_printf(h, "const char *%s_last_error(const %s *m);    /* message of the last failed call (CUDA: the call) */\n",
              P, P);
    sb_printf(h, "const char *%s_status_str(int status);\n", P);
}

static void emit_header(cg_ctx *cx, strbuf *h) {
    sb_printf(h, "/* %s — generated by %s from %s. Do not edit. */\n", cx->o->header, cg_generated_by(cx),
              cx->o->source);
    sb_printf(h, "#ifndef %s_H\n#define %s_H\n\n", cx->upper, cx->upper);
    sb_puts(h, "#include <stddef.h>\n#include <stdint.h>\n\n#include <cuda_runtime_api.h>\n\n#include \"nnrt.h\"\n\n");
    sb_puts(h, "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");
    cg_size_macros(cx, h, host_bytes(cx));
    sb_printf(h,
              "#define %s_DEVICE_BYTES %zu /* one cudaMalloc: parameters, gradients, optimizer, activations, io */\n",
              cx->upper, dlayout_of(cx).total);
    sb_puts(h, "\n");
    protos(cx, h);
    cg_check_finite_proto(cx, h);
    sb_puts(h, "\n#ifdef __cplusplus\n}\n#endif\n");
    sb_printf(h, "#endif /* %s_H */\n", cx->upper);
}

/* ---- the struct, constants ---------------------------------------------- */

static void emit_struct(cg_ctx *cx) {
    strbuf *c = cx->c;
    const char *P = cx->o->prefix, *T = cx->T;
    sb_printf(c, "\nstruct %s {\n", P);
    sb_printf(c, "    %s *params;   /* device: %s_PARAM_ELEMS, contiguous */\n", T, cx->upper);
    sb_printf(c, "    %s *grads;    /* device: same layout as params */\n", T);
    sb_printf(c, "    %s *opt[2];   /* device: momentum, or Adam's two moments */\n", T);
    sb_printf(c, "    %s *act;      /* device: activations, offsets from the memory plan */\n", T);
    sb_printf(c, "    unsigned char *io; /* device: inputs and targets as the kernels read them */\n");
    sb_printf(c, "    %s *consts;   /* device: the model's constant tensors */\n", T);
    sb_puts(c, "    double *hyper;    /* device: lr, step, Adam's step size, sqrt(bc2), decay, skip, loss */\n");
    sb_puts(c, "    int32_t *rec;     /* device: the first index out of range {check + 1, index, value} */\n");
    sb_puts(c, "    void *dev;        /* the device allocation */\n");
    sb_printf(c, "    %s *host;     /* host staging of the parameters (init, save, load) */\n", T);
    sb_puts(c, "    void *owned;      /* the host block _create allocated, or NULL */\n");
    sb_puts(c, "    int64_t step;     /* optimizer steps taken */\n");
    sb_puts(c, "    uint64_t seed;    /* of the initial weights and of random ops */\n");
    sb_puts(c, "    uint64_t calls;   /* training passes so far: the random ops' counter */\n");
    sb_puts(c, "    double lr;        /* learning rate */\n");
    if (cg_trainable(cx)) {
        sb_puts(c, "    double rate;      /* the rate hyper[0] holds (lr as scheduled for the next update) */\n");
        sb_puts(c, "    double *part;     /* device: the gradient norm's partial sums */\n");
        sb_puts(c, "    nnrt_sched sched; /* the rate's schedule and gradient clipping */\n");
        sb_puts(c, "    int norm_known;   /* 1: the last update clipped; hyper holds its gradients' norm */\n");
    }
    sb_printf(c, "    %s last_loss;  /* host copy of the last loss */\n", T);
    sb_puts(c, "    nnrt_cu_exec ex;  /* stream in use, cuBLAS handle, the failing call */\n");
    sb_puts(c, "    cudaStream_t own; /* the model's stream */\n");
    sb_puts(c, "    cudaEvent_t done; /* orders work across streams: a new stream waits for the last one */\n");
    sb_printf(c, "    cudaGraphExec_t graph[%d]; /* forward, loss, forward_backward, train_step */\n", W_COUNT);
    sb_printf(c, "    int graph_state[%d];       /* 0 not run, 1 run once, 2 captured, -1 capture failed: eager */\n",
              W_COUNT);
    sb_puts(c, "    nnrt_err error;   /* message of the last failed call */\n};\n");
    sb_printf(c, "typedef char %s_header_fits[sizeof(struct %s) <= %d ? 1 : -1];\n", P, P, HOST_HEADER);
}

static void emit_consts(cg_ctx *cx) {
    for (int i = 0; i < cx->g->nodes.len; i++) {
        ir_node *n = NODE(cx, i);
        if (n->op == IR_CONST && cg_used(cx, i))
            cg_const_array(cx, arena_printf(cx->g->a, "%s_c%d", cx->o->prefix, i), n->data, ir_numel(&n->shape));
    }
}

void cu_api_prelude(cg_ctx *cx) {
    emit_struct(cx);
    cg_param_data(cx);
    emit_consts(cx);
    if (cg_trainable(cx)) cg_sched_const(cx);
}

/* ---- helpers every entry point uses --------------------------------------- */

/* Index checks (class labels, token ids) in schedule order over all entry
 * points; check k's message is P_check_msg[k]. */
static void index_messages(cg_ctx *cx) {
    int k = 0;
    sb_printf(cx->c, "\nstatic const char *const %s_check_msg[] = {\n", cx->o->prefix);
    for (int e = 0; e < ENTRY_COUNT; e++)
        for (int t = 0; cx->p->has[e] && t < cx->p->sched[e].order.len; t++) {
            ir_node *n = NODE(cx, cx->p->sched[e].order.data[t]);
            if (!(ir_ops[n->op].flags & OPF_INDEX)) continue;
            int ix = n->in[n->iattr[IR_ATTR_INDEX_INPUT]];
            sb_printf(cx->c, "    \"%s: %s %%ld at index %%ld is not in [0, %lld)\", /* %d */\n", ir_ops[n->op].name,
                      NODE(cx, ix)->name ? NODE(cx, ix)->name : "index", (ll)n->iattr[IR_ATTR_INDEX_BOUND], k++);
        }
    sb_puts(cx->c, "};\n");
}

static void emit_graph_runner(cg_ctx *cx);

/* fail() and the index checks' messages, P_begin, P_status, P_finish and
 * the graph runner P_run. */
static void emit_helpers(cg_ctx *cx) {
    strbuf *c = cx->c;
    const char *P = cx->o->prefix;
    int checks = cg_uses_op_flag(cx, OPF_INDEX);
    if (checks) {
        cg_fail_fn(cx);
        index_messages(cx);
    }
    sb_printf(c,
              "\n/* Use stream s (NULL: the model's own) for what follows, after the work\n"
              " * already enqueued on the stream used last. */\n"
              "static int %s_begin(%s *m, cudaStream_t s) {\n",
              P, P);
    sb_puts(c, "    int st = NNRT_OK;\n    m->ex.err[0] = 0;\n");
    sb_puts(c, "    if ((s ? s : m->own) != m->ex.stream) {\n");
    sb_puts(c, "        st = nnrt_cu_check(&m->ex, cudaEventRecord(m->done, m->ex.stream), \"cudaEventRecord\");\n");
    sb_puts(c, "        if (st == NNRT_OK) st = nnrt_cu_check(&m->ex, cudaStreamWaitEvent(s ? s : m->own, m->done, 0), "
               "\"cudaStreamWaitEvent\");\n    }\n");
    sb_puts(c, "    return st != NNRT_OK ? st : nnrt_cu_use_stream(&m->ex, s, m->own);\n}\n");
    sb_printf(c,
              "\n/* The status of a call: a CUDA failure's message goes to the model. */\n"
              "static int %s_status(%s *m, int st) {\n",
              P, P);
    sb_puts(c, "    if (st == NNRT_ERR_CUDA) snprintf(m->error.msg, sizeof m->error.msg, \"%s\", m->ex.err);\n"
               "    return st;\n}\n");
    sb_printf(c,
              "\n/* Wait for the stream; report an index found out of range on the device. */\n"
              "static int %s_finish(%s *m, int st) {\n",
              P, P);
    sb_puts(c, "    if (st == NNRT_OK) st = nnrt_cu_check(&m->ex, cudaStreamSynchronize(m->ex.stream), "
               "\"cudaStreamSynchronize\");\n");
    if (checks) {
        sb_puts(c, "    int32_t rec[4] = {0, 0, 0, 0};\n");
        sb_puts(c, "    if (st == NNRT_OK) st = nnrt_cu_check(&m->ex, cudaMemcpy(rec, m->rec, sizeof rec, "
                   "cudaMemcpyDeviceToHost), \"cudaMemcpy (index check)\");\n");
        sb_puts(c, "    if (st == NNRT_OK && rec[0] != 0) {\n");
        sb_puts(c, "        st = nnrt_cu_check(&m->ex, cudaMemset(m->rec, 0, sizeof rec), \"cudaMemset (index "
                   "check)\");\n");
        sb_printf(c,
                  "        if (st == NNRT_OK) return fail(m, NNRT_ERR_RANGE, %s_check_msg[rec[0] - 1], (long)rec[2], "
                  "(long)rec[1]);\n    }\n",
                  P);
    }
    sb_printf(c, "    return %s_status(m, st);\n}\n", P);
    emit_graph_runner(cx);
}

/* P_run: an entry point's work eagerly, or as a CUDA Graph. */
static void emit_graph_runner(cg_ctx *cx) {
    strbuf *c = cx->c;
    const char *P = cx->o->prefix;
    sb_printf(c, "\ntypedef int (*%s_enqueue)(%s *m, uint64_t counter);\n", P, P);
    sb_printf(c, "\n/* Run entry point w's work on m->ex.stream: eagerly the first time, then\n"
                 " * captured as a CUDA Graph on the second call and replayed after. A\n"
                 " * model with random ops captures every call (the counter is an argument)\n"
                 " * and updates the instantiated graph in place. When capturing fails the\n"
                 " * entry point runs eagerly from then on. */\n");
    sb_printf(c, "static int %s_run(%s *m, int w, %s_enqueue enq, int recapture, uint64_t counter) {\n", P, P, P);
    sb_puts(c, "    if (m->graph_state[w] <= 0) {\n        if (m->graph_state[w] == 0) m->graph_state[w] = 1;\n"
               "        return enq(m, counter);\n    }\n");
    sb_puts(c, "    if (m->graph_state[w] == 1 || recapture) {\n");
    sb_puts(c, "        cudaGraph_t g = NULL;\n        int st = NNRT_OK;\n");
    sb_puts(c, "        cudaError_t e = cudaStreamBeginCapture(m->ex.stream, cudaStreamCaptureModeThreadLocal);\n");
    sb_puts(c, "        if (e == cudaSuccess) {\n            st = enq(m, counter);\n"
               "            cudaError_t e2 = cudaStreamEndCapture(m->ex.stream, &g);\n");
    sb_puts(c, "            if (e2 != cudaSuccess) e = e2;\n        }\n");
    sb_puts(c, "        if (e == cudaSuccess && st == NNRT_OK && g && m->graph[w]) {\n");
    sb_puts(c, "            cudaGraphExecUpdateResultInfo info;\n");
    sb_puts(c, "            if (cudaGraphExecUpdate(m->graph[w], g, &info) != cudaSuccess) {\n");
    sb_puts(c, "                (void)cudaGetLastError();\n                cudaGraphExecDestroy(m->graph[w]);\n"
               "                m->graph[w] = NULL;\n            }\n        }\n");
    sb_puts(c, "        if (e == cudaSuccess && st == NNRT_OK && g && !m->graph[w]) e = "
               "cudaGraphInstantiate(&m->graph[w], g, 0);\n");
    sb_puts(c, "        if (g) cudaGraphDestroy(g);\n");
    sb_puts(c, "        if (e != cudaSuccess || st != NNRT_OK || !m->graph[w]) {\n");
    sb_puts(c, "            (void)cudaGetLastError(); /* capture failed: run eagerly from now on */\n");
    sb_puts(c, "            if (m->graph[w]) cudaGraphExecDestroy(m->graph[w]);\n");
    sb_puts(c, "            m->graph[w] = NULL;\n            m->graph_state[w] = -1;\n            m->ex.err[0] = 0;\n");
    sb_puts(c, "            return enq(m, counter);\n        }\n        m->graph_state[w] = 2;\n    }\n");
    sb_puts(c, "    return nnrt_cu_check(&m->ex, cudaGraphLaunch(m->graph[w], m->ex.stream), \"cudaGraphLaunch\");\n"
               "}\n");
}

/* ---- entry points ------------------------------------------------------- */

/* First index-check number of entry e (checks are numbered over entries). */
static int check_base(cg_ctx *cx, ir_entry e) {
    int k = 0;
    for (int f = 0; f < (int)e; f++)
        for (int t = 0; cx->p->has[f] && t < cx->p->sched[f].order.len; t++)
            if (ir_ops[NODE(cx, cx->p->sched[f].order.data[t])->op].flags & OPF_INDEX) k++;
    return k;
}

/* The loss of entry e copied to hyper[HYPER_LOSS], for the update's guard
 * and _check_finite. */
static void keep_loss(cg_ctx *cx, ir_entry e) {
    sb_printf(cx->c,
              "    if ((st = nnrt_cu_check(&m->ex, cudaMemcpyAsync(m->hyper + %d, %s, sizeof(%s), "
              "cudaMemcpyDeviceToDevice, m->ex.stream), \"copy of the loss\"))) return st;\n",
              HYPER_LOSS, dptr(cx, e, e == ENTRY_LOSS ? cx->g->loss_eval : cx->g->loss), cx->T);
}

/* static int P_enq_NAME(P *m, uint64_t counter): the work of entry e. */
static void emit_enqueue(cg_ctx *cx, ir_entry e, const char *name) {
    strbuf *c = cx->c;
    const char *P = cx->o->prefix;
    const ir_sched *s = &cx->p->sched[e];
    sb_printf(c, "\nstatic int %s_enq_%s(%s *m, uint64_t counter) {\n    int st = NNRT_OK;\n", P, name, P);
    if (!cg_uses_rng(cx, e)) sb_puts(c, "    (void)counter;\n");
    int k = check_base(cx, e);
    for (int t = 0; t < s->order.len; t++) {
        ir_node *n = NODE(cx, s->order.data[t]);
        if (!(ir_ops[n->op].flags & OPF_INDEX)) continue;
        int ix = n->in[n->iattr[IR_ATTR_INDEX_INPUT]];
        sb_printf(c, "    if ((st = nnrt_cu_check_index(&m->ex, %s, %lld, %lld, %d, m->rec))) return st;\n",
                  dptr(cx, e, ix), (ll)ir_numel(&NODE(cx, ix)->shape), (ll)n->iattr[IR_ATTR_INDEX_BOUND], k++);
    }
    if (e == ENTRY_TRAIN) /* parameters that do not reach the loss get zero gradients */
        for (int i = 0; i < cx->g->grads.len; i++)
            if (cx->g->grads.data[i] < 0) {
                ir_node *p = NODE(cx, cx->g->params.data[i]);
                sb_printf(c,
                          "    if ((st = nnrt_cu_check(&m->ex, cudaMemsetAsync(m->grads + %zu, 0, sizeof(%s) * %lld, "
                          "m->ex.stream), \"cudaMemsetAsync\"))) return st;\n",
                          cx->p->mem[e].offset[p->id], cx->T, (ll)ir_numel(&p->shape));
            }
    for (int t = 0; t < s->order.len; t++) {
        ir_node *n = NODE(cx, s->order.data[t]);
        if (cg_view(cx, e, n)) continue; /* a reshape of its input's buffer: nothing to run */
        sb_printf(c, "    if ((st = %s(&m->ex, ", cg_kernel_name(cx, n));
        for (int j = 0; j < n->nin; j++) sb_printf(c, "%s, ", dptr(cx, e, n->in[j]));
        if (ir_ops[n->op].flags & OPF_RNG) sb_puts(c, "m->seed, counter, ");
        sb_printf(c, "%s))) return st;\n", dptr(cx, e, n->id));
    }
    if (e != ENTRY_FORWARD) keep_loss(cx, e);
    sb_puts(c, "    return st;\n}\n");
}

/* Copy the inputs (and targets) into the io region: kind is
 * cudaMemcpyHostToDevice or cudaMemcpyDeviceToDevice. */
static void copy_in(cg_ctx *cx, int targets, const char *kind) {
    const ir_graph *g = cx->g;
    int n = g->inputs.len + (targets ? g->targets.len : 0);
    for (int i = 0; i < n; i++) {
        ir_node *x = io_node(cx, i);
        sb_printf(cx->c,
                  "    if (st == NNRT_OK) st = nnrt_cu_check(&m->ex, cudaMemcpyAsync(m->io + %zu, %s, %zu, %s, "
                  "m->ex.stream), \"copy of %s\");\n",
                  io_offset(cx, x->id), cg_cname(cx, x->name), bytes_of(cx, x), kind, x->name);
    }
}

/* Copy a result out: dst gets node id of plan e (kind as above). */
static void copy_out(cg_ctx *cx, ir_entry e, const char *dst, int id, const char *kind) {
    sb_printf(cx->c,
              "    if (st == NNRT_OK && %s) st = nnrt_cu_check(&m->ex, cudaMemcpyAsync(%s, %s, %zu, %s, m->ex.stream), "
              "\"copy of %s\");\n",
              dst, dst, dptr(cx, e, id), bytes_of(cx, NODE(cx, id)), kind, dst);
}

/* Host-side range checks of index inputs the caller passes (before any
 * copy), with the C target's messages. */
static void host_index_checks(cg_ctx *cx, ir_entry e) {
    const ir_sched *s = &cx->p->sched[e];
    for (int t = 0; t < s->order.len; t++) {
        ir_node *n = NODE(cx, s->order.data[t]);
        if (!(ir_ops[n->op].flags & OPF_INDEX)) continue;
        int ix = n->in[n->iattr[IR_ATTR_INDEX_INPUT]];
        if (cx->p->mem[e].region[ix] != MEM_USER) continue; /* checked on the device */
        const char *p = cg_cname(cx, NODE(cx, ix)->name);
        ll bound = (ll)n->iattr[IR_ATTR_INDEX_BOUND];
        sb_printf(cx->c, "    for (long i = 0; i < %lld; i++)\n", (ll)ir_numel(&NODE(cx, ix)->shape));
        sb_printf(cx->c, "        if (%s[i] < 0 || %s[i] >= %lld)\n", p, p, bound);
        sb_printf(cx->c,
                  "            return fail(m, NNRT_ERR_RANGE, \"%s: %s %%ld at index %%ld is not in [0, %lld)\", "
                  "(long)%s[i], i);\n",
                  ir_ops[n->op].name, NODE(cx, ix)->name, bound, p);
    }
}

/* The end of an entry point after its run: the loss copied out (host
 * pointers: through m->last_loss, which the step variant tests: a NaN or
 * infinite loss is NNRT_ERR_NONFINITE, and its update was skipped on the
 * device), the step counted, the status. */
static void entry_tail(cg_ctx *cx, ir_entry e, int dev, int step) {
    strbuf *c = cx->c;
    const char *P = cx->o->prefix;
    int loss = e == ENTRY_LOSS ? cx->g->loss_eval : cx->g->loss;
    if (dev && e != ENTRY_FORWARD) copy_out(cx, e, "loss", loss, "cudaMemcpyDeviceToDevice");
    if (dev && step) sb_puts(c, "    if (st == NNRT_OK) m->step++; /* (the device skips a non-finite loss's update) */\n");
    if (dev || e == ENTRY_FORWARD) {
        sb_printf(c, "    return %s_%s(m, st);\n}\n", P, dev ? "status" : "finish");
        return;
    }
    sb_printf(c,
              "    if (st == NNRT_OK) st = nnrt_cu_check(&m->ex, cudaMemcpyAsync(&m->last_loss, %s, sizeof(%s), "
              "cudaMemcpyDeviceToHost, m->ex.stream), \"copy of loss\");\n",
              dptr(cx, e, loss), cx->T);
    sb_printf(c, "    if ((st = %s_finish(m, st)) != NNRT_OK) return st;\n    if (loss) *loss = m->last_loss;\n", P);
    if (step) {
        cg_loss_guard(cx, "    ");
        sb_puts(c, "    m->step++;\n");
    }
    sb_puts(c, "    return NNRT_OK;\n}\n");
}

/* One entry point, host (dev 0) or device (dev 1) pointers: w is its graph
 * slot; the step variant also runs the update. */
static void emit_entry(cg_ctx *cx, ir_entry e, const char *fname, const char *enq, int w, int dev) {
    strbuf *c = cx->c;
    const char *P = cx->o->prefix;
    const ir_graph *g = cx->g;
    int targets = e != ENTRY_FORWARD, step = w == W_STEP;
    const char *in = dev ? "cudaMemcpyDeviceToDevice" : "cudaMemcpyHostToDevice";
    const char *out = dev ? "cudaMemcpyDeviceToDevice" : "cudaMemcpyDeviceToHost";
    sb_printf(c, "\nint %s_%s%s(%s *m%s", P, fname, dev ? "_dev" : "", P, dev ? ", cudaStream_t nnrt_stream" : "");
    cg_io_params(cx, c, targets);
    if (e == ENTRY_FORWARD)
        for (int i = 0; i < g->outputs.len; i++) sb_printf(c, ", %s *%s", cx->T, cg_cname(cx, g->output_names.data[i]));
    else sb_printf(c, ", %s *loss", cx->T);
    sb_puts(c, ") {\n");
    cg_null_checks(cx, targets);
    if (!dev) host_index_checks(cx, e);
    sb_printf(c, "    int st = %s_begin(m, %s);\n", P, dev ? "nnrt_stream" : "NULL");
    copy_in(cx, targets, in);
    if (step) sb_printf(c, "    if (st == NNRT_OK) st = %s_rate(m);\n", P);
    const char *counter = cg_uses_rng(cx, e) ? "m->calls++" : "0"; /* each call that draws draws anew */
    sb_printf(c, "    if (st == NNRT_OK) st = %s_run(m, %d, %s_enq_%s, %d, %s);\n", P, w, P, enq, cg_uses_rng(cx, e),
              counter);
    if (e == ENTRY_FORWARD)
        for (int i = 0; i < g->outputs.len; i++)
            copy_out(cx, e, cg_cname(cx, g->output_names.data[i]), g->outputs.data[i], out);
    entry_tail(cx, e, dev, step);
}

/* ---- the optimizer -------------------------------------------------------- */

/* The update kernels: a one-thread kernel advances the step and computes
 * the step's scalars in double (as the C target does on the host) into
 * hyper; one fused elementwise kernel per range of parameters. */
static void emit_hyper_kernel(cg_ctx *cx) {
    strbuf *c = cx->c;
    const ir_optim *o = &cx->g->opt;
    sb_printf(c, "\n/* hyper = {lr, step, lr / bc1, sqrt(bc2), 1 - lr wd}: the step's scalars; with guard, none\n"
                 " * and no update when the loss is NaN or infinite (hyper[%d] = 1) */\n", HYPER_SKIP);
    sb_printf(c, "static __global__ void __launch_bounds__(32) %s_hyper_k(double *h, int guard) {\n", cx->o->prefix);
    sb_puts(c, "    if (threadIdx.x != 0) return;\n");
    sb_printf(c, "    h[%d] = guard && !isfinite(*(const %s *)(const void *)(h + %d));\n", HYPER_SKIP, cx->T,
              HYPER_LOSS);
    sb_printf(c, "    if (h[%d] != 0) return;\n    h[1] += 1;\n", HYPER_SKIP);
    if (o->kind != OPT_SGD) {
        sb_printf(c, "    const double bc1 = 1 - pow(%.17g, h[1]), bc2 = 1 - pow(%.17g, h[1]);\n", o->beta1, o->beta2);
        sb_printf(c,
                  "    h[2] = h[0] / bc1;\n    h[3] = sqrt(bc2);\n"
                  "    h[4] = 1 - h[0] * %.17g;\n",
                  o->kind == OPT_ADAMW ? o->weight_decay : 0.0);
    }
    sb_puts(c, "}\n");
}

/* The gradients' L2 norm in a fixed order: per range, NORM_BLOCKS blocks
 * of 256 threads each sum a fixed stride in double and reduce it by a
 * fixed tree into part; one thread adds the partial sums in order. */
static void emit_norm_kernels(cg_ctx *cx) {
    strbuf *c = cx->c;
    const char *P = cx->o->prefix, *T = cx->T;
    sb_printf(c, "\n/* part[blockIdx.x]: the squares of g[lo, hi) summed over the block's stride */\n");
    sb_printf(c, "static __global__ void __launch_bounds__(256) %s_sumsq_k(const %s *__restrict__ g, "
                 "double *__restrict__ part, long long lo, long long hi) {\n", P, T);
    sb_puts(c, "    __shared__ double s[256];\n    double acc = 0;\n");
    sb_puts(c, "    for (long long i = lo + (long long)blockIdx.x * 256 + threadIdx.x; i < hi; "
               "i += (long long)gridDim.x * 256)\n        acc += (double)g[i] * (double)g[i];\n");
    sb_puts(c, "    s[threadIdx.x] = acc;\n    __syncthreads();\n    for (int w = 128; w > 0; w >>= 1) {\n"
               "        if ((int)threadIdx.x < w) s[threadIdx.x] += s[threadIdx.x + w];\n"
               "        __syncthreads();\n    }\n    if (threadIdx.x == 0) part[blockIdx.x] = s[0];\n}\n");
    sb_printf(c, "\n/* hyper[%d] = the norm, hyper[%d] = the clipping factor (clip_norm 0: 1); an update's are\n"
                 " * left alone when its loss was not finite */\n", HYPER_NORM, HYPER_COEF);
    sb_printf(c, "static __global__ void __launch_bounds__(32) %s_norm_k(double *h, const double *part, int n, "
                 "double clip_norm, int update) {\n", P);
    sb_printf(c, "    if (threadIdx.x != 0 || (update && h[%d] != 0)) return;\n    double ss = 0;\n", HYPER_SKIP);
    sb_puts(c, "    for (int i = 0; i < n; i++) ss += part[i];\n");
    sb_printf(c, "    h[%d] = sqrt(ss);\n    h[%d] = clip_norm > 0 ? clip_norm / (h[%d] + 1e-6) : 1;\n}\n", HYPER_NORM,
              HYPER_COEF, HYPER_NORM);
}

/* Clipping by value (clip_grad_value_) or by the factor of the norm
 * (clip_grad_norm_), as the C target's nnrt_clip. */
static void emit_clip_kernel(cg_ctx *cx) {
    strbuf *c = cx->c;
    const char *P = cx->o->prefix, *T = cx->T;
    sb_printf(c, "\nstatic __global__ void __launch_bounds__(256) %s_clip_k(%s *__restrict__ g, "
                 "const double *__restrict__ h, double value, long long lo, long long hi) {\n", P, T);
    sb_printf(c, "    if (h[%d] != 0) return; /* the loss was not finite */\n", HYPER_SKIP);
    sb_printf(c, "    const %s v = (%s)value, coef = (%s)h[%d];\n", T, T, T, HYPER_COEF);
    sb_printf(c, "    const int scale = h[%d] < 1;\n", HYPER_COEF);
    sb_puts(c, "    for (long long i = lo + (long long)blockIdx.x * blockDim.x + threadIdx.x; i < hi; "
               "i += (long long)gridDim.x * blockDim.x) {\n");
    sb_printf(c, "        %s x = g[i];\n        if (value > 0) x = x < -v ? -v : x > v ? v : x;\n", T);
    sb_puts(c, "        if (scale) x *= coef;\n        g[i] = x;\n    }\n}\n");
}

/* P_enq_norm(m, update): the norm kernels on the model's stream;
 * P_enq_clip(m): the norm and clipping when the schedule clips. */
static void emit_norm_enqueue(cg_ctx *cx) {
    strbuf *c = cx->c;
    const char *P = cx->o->prefix;
    size_t(*r)[2];
    int nr = grad_ranges(cx, &r);
    emit_norm_kernels(cx);
    emit_clip_kernel(cx);
    sb_printf(c, "\nstatic int %s_enq_norm(%s *m, int update) {\n    int st = NNRT_OK;\n", P, P);
    for (int i = 0; i < nr; i++)
        sb_printf(c, "    %s_sumsq_k<<<%d, 256, 0, m->ex.stream>>>(m->grads, m->part + %d, %zu, %zu);\n"
                     "    if ((st = NNRT_CU_LAUNCHED(&m->ex, \"%s_sumsq\"))) return st;\n",
                  P, NORM_BLOCKS, i * NORM_BLOCKS, r[i][0], r[i][1], P);
    sb_printf(c, "    %s_norm_k<<<1, 32, 0, m->ex.stream>>>(m->hyper, m->part, %d, m->sched.clip_norm, update);\n",
              P, nr * NORM_BLOCKS);
    sb_printf(c, "    return NNRT_CU_LAUNCHED(&m->ex, \"%s_norm\");\n}\n", P);
    sb_printf(c, "\nstatic int %s_enq_clip(%s *m) {\n", P, P);
    sb_printf(c, "    if (!(m->sched.clip_norm > 0 || m->sched.clip_value > 0)) return NNRT_OK;\n"
                 "    int st = %s_enq_norm(m, 1);\n", P);
    for (int i = 0; i < nr; i++) {
        ll count = (ll)(r[i][1] - r[i][0]);
        sb_printf(c, "    if (st == NNRT_OK) {\n        %s_clip_k<<<%lld, 256, 0, m->ex.stream>>>(m->grads, m->hyper, "
                     "m->sched.clip_value, %zu, %zu);\n", P, cuk_grid(count), r[i][0], r[i][1]);
        sb_printf(c, "        st = NNRT_CU_LAUNCHED(&m->ex, \"%s_clip\");\n    }\n", P);
    }
    sb_puts(c, "    return st;\n}\n");
}

static void emit_optimizer_kernels(cg_ctx *cx) {
    strbuf *c = cx->c;
    const char *P = cx->o->prefix, *T = cx->T;
    const ir_optim *o = &cx->g->opt;
    int adam = o->kind != OPT_SGD;
    emit_hyper_kernel(cx);
    sb_printf(c,
              "\nstatic __global__ void __launch_bounds__(256) %s_update_k(%s *__restrict__ p, const %s *__restrict__ "
              "g, ",
              P, T, T);
    if (adam) sb_printf(c, "%s *__restrict__ mo, %s *__restrict__ ve, ", T, T);
    else sb_printf(c, "%s *__restrict__ buf, ", T);
    sb_puts(c, "const double *__restrict__ h, long long lo, long long hi) {\n");
    if (adam) {
        cg_adam_consts(cx);
        sb_printf(c,
                  "    const %s step_size = (%s)h[2], bc2_sqrt = (%s)h[3], decay = (%s)h[4];\n"
                  "    (void)wd, (void)decay;\n",
                  T, T, T, T);
    } else {
        sb_printf(c,
                  "    const %s lr = (%s)h[0], wd = (%s)%.17g;\n"
                  "    (void)buf, (void)wd;\n",
                  T, T, T, o->weight_decay);
    }
    sb_printf(c, "    if (h[%d] != 0) return; /* the loss was not finite */\n", HYPER_SKIP);
    sb_puts(c, "    for (long long i = lo + (long long)blockIdx.x * blockDim.x + threadIdx.x; i < hi; "
               "i += (long long)gridDim.x * blockDim.x) {\n");
    if (adam) cg_adam_step(cx);
    else cg_sgd_step(cx, "h[1]");
    sb_puts(c, "    }\n}\n");

    size_t(*r)[2];
    int nr = grad_ranges(cx, &r);
    emit_norm_enqueue(cx);
    sb_printf(c, "\n/* the step's scalars, the clipping the schedule asks for, the update (a capture holds\n"
                 " * the clipping of m->sched: _set_schedule captures anew) */\n");
    sb_printf(c, "static int %s_enq_update(%s *m, int guard) {\n", P, P);
    sb_printf(c, "    %s_hyper_k<<<1, 32, 0, m->ex.stream>>>(m->hyper, guard);\n", P);
    sb_printf(c, "    int st = NNRT_CU_LAUNCHED(&m->ex, \"%s_update\");\n", P);
    sb_printf(c, "    if (st == NNRT_OK) st = %s_enq_clip(m);\n", P);
    for (int i = 0; i < nr; i++) {
        ll count = (ll)(r[i][1] - r[i][0]);
        sb_printf(c,
                  "    if (st == NNRT_OK) {\n"
                  "        %s_update_k<<<%lld, 256, 0, m->ex.stream>>>(m->params, m->grads, %s, m->hyper, %zu, %zu);\n",
                  P, cuk_grid(count), adam ? "m->opt[0], m->opt[1]" : "m->opt[0]", r[i][0], r[i][1]);
        sb_printf(c, "        st = NNRT_CU_LAUNCHED(&m->ex, \"%s_update\");\n    }\n", P);
    }
    sb_puts(c, "    return st;\n}\n");
    sb_printf(c, "\nstatic int %s_enq_step(%s *m, uint64_t counter) {\n", P, P);
    sb_printf(c,
              "    int st = %s_enq_train(m, counter);\n    return st != NNRT_OK ? st : %s_enq_update(m, 1);\n"
              "}\n",
              P, P);
}

/* P_input_grad's copy of gradient node id from the device (synchronizes). */
static void input_grad_copy(cg_ctx *cx, int id, const char *what) {
    sb_printf(cx->c, "        int st = %s_begin(m, NULL);\n", cx->o->prefix);
    sb_printf(cx->c,
              "        if (st == NNRT_OK)\n            st = nnrt_cu_check(&m->ex, cudaMemcpyAsync(out, %s, bytes, "
              "cudaMemcpyDeviceToHost, m->ex.stream), \"copy of %s\");\n",
              dptr(cx, ENTRY_TRAIN, id), what);
}

/* P_rate: hyper[0] = the rate of the next update, lr as scheduled at
 * m->step (computed on the host, copied when it changes). */
static void emit_rate(cg_ctx *cx) {
    const char *P = cx->o->prefix;
    sb_printf(cx->c, "\n/* hyper[0] = the next update's rate; whether it clips (so computes the norm) */\n"
                     "static int %s_rate(%s *m) {\n", P, P);
    sb_puts(cx->c, "    const double r = nnrt_sched_lr(&m->sched, m->lr, m->step);\n"
                   "    m->norm_known = m->sched.clip_norm > 0 || m->sched.clip_value > 0;\n"
                   "    if (r == m->rate) return NNRT_OK;\n    m->rate = r;\n");
    sb_puts(cx->c, "    return nnrt_cu_check(&m->ex, cudaMemcpyAsync(m->hyper, &m->rate, sizeof(double), "
                   "cudaMemcpyHostToDevice, m->ex.stream), \"copy of the rate\");\n}\n");
}

/* P_lr, P_set_schedule, P_get_schedule, P_grad_norm (the C target's). */
static void emit_sched_api(cg_ctx *cx) {
    strbuf *c = cx->c;
    const char *P = cx->o->prefix;
    cg_sched_getters(cx);
    sb_printf(c, "\nint %s_set_schedule(%s *m, const nnrt_sched *s) {\n    if (!m || !s) return NNRT_ERR_ARG;\n", P, P);
    sb_puts(c, "    int st = nnrt_sched_check(s, &m->error);\n    if (st != NNRT_OK) return st;\n    m->sched = *s;\n");
    sb_printf(c, "    if (m->graph_state[%d] == 2) m->graph_state[%d] = 1; /* capture the clipping anew */\n", W_STEP,
              W_STEP);
    sb_puts(c, "    return NNRT_OK;\n}\n");
    sb_printf(c, "\ndouble %s_grad_norm(const %s *cm) {\n    if (!cm) return 0;\n", P, P);
    sb_printf(c, "    %s *m = (%s *)cm; /* the stream and the message are not part of the model's value */\n", P, P);
    sb_printf(c, "    double norm = NAN;\n    int st = %s_begin(m, NULL);\n", P);
    sb_printf(c, "    if (st == NNRT_OK && !m->norm_known) st = %s_enq_norm(m, 0);\n", P);
    emit_copy(cx, "&norm", arena_printf(cx->g->a, "m->hyper + %d", HYPER_NORM), "sizeof norm", "DeviceToHost",
              "the norm");
    sb_printf(c, "    return %s_finish(m, st) == NNRT_OK ? norm : NAN;\n}\n", P);
}

static void emit_training(cg_ctx *cx) {
    strbuf *c = cx->c;
    const char *P = cx->o->prefix, *T = cx->T;
    emit_optimizer_kernels(cx);
    emit_rate(cx);
    for (int dev = 0; dev < 2; dev++) {
        emit_entry(cx, ENTRY_TRAIN, "forward_backward", "train", W_FB, dev);
        emit_entry(cx, ENTRY_TRAIN, "train_step", "step", W_STEP, dev);
    }
    sb_printf(c, "\nint %s_update_dev(%s *m, cudaStream_t nnrt_stream) {\n    if (!m) return NNRT_ERR_ARG;\n", P, P);
    sb_printf(c, "    int st = %s_begin(m, nnrt_stream);\n    if (st == NNRT_OK) st = %s_rate(m);\n", P, P);
    sb_printf(c, "    if (st == NNRT_OK) st = %s_enq_update(m, 0);\n", P);
    sb_printf(c, "    if (st == NNRT_OK) m->step++;\n    return %s_status(m, st);\n}\n", P);
    sb_printf(c, "\nint %s_update(%s *m) { return %s_update_dev(m, NULL); }\n", P, P, P);
    sb_printf(c,
              "\n%s *%s_grads(%s *m, size_t *n) {\n    if (n) *n = %s_PARAM_ELEMS;\n"
              "    return m ? m->grads : NULL;\n}\n",
              T, P, P, cx->upper);
    if (cg_has_input_grads(cx))
        cg_input_grad_fn(cx, input_grad_copy, arena_printf(cx->g->a, "return %s_finish(m, st);", P));
    sb_printf(c, "\nint %s_read_grads(%s *m, %s *host) {\n    if (!m || !host) return NNRT_ERR_ARG;\n", P, P, T);
    sb_printf(c, "    int st = %s_begin(m, NULL);\n", P);
    emit_copy(cx, "host", "m->grads", arena_printf(cx->g->a, "sizeof(%s) * %s_PARAM_ELEMS", T, cx->upper),
              "DeviceToHost", "the gradients");
    sb_printf(c, "    return %s_finish(m, st);\n}\n", P);
    sb_printf(c,
              "\nint %s_set_lr(%s *m, double lr) {\n    if (!m || !(lr > 0)) return NNRT_ERR_ARG;\n"
              "    m->lr = lr;\n    m->rate = lr;\n",
              P, P);
    sb_printf(c, "    int st = %s_begin(m, NULL);\n", P);
    emit_copy(cx, "m->hyper", "&m->lr", "sizeof(double)", "HostToDevice", "lr");
    sb_printf(c, "    return %s_finish(m, st);\n}\n", P);
    sb_printf(c, "\ndouble %s_get_lr(const %s *m) { return m ? m->lr : 0; }\n", P, P);
    emit_sched_api(cx);
}

/* ---- lifecycle -------------------------------------------------------------- */

/* P_reset: the initial weights filled on the host, copied to the device
 * with the constants and lr. */
static void emit_reset(cg_ctx *cx) {
    strbuf *c = cx->c;
    const char *P = cx->o->prefix, *T = cx->T;
    size_t pe = cg_param_elems(cx);
    sb_printf(c, "\nint %s_reset(%s *m, uint64_t seed) {\n    if (!m || !m->dev) return NNRT_ERR_ARG;\n", P, P);
    sb_printf(c, "    memset(m->host, 0, sizeof(%s) * %zu);\n", T, pe);
    sb_printf(c, "    m->step = 0;\n    m->seed = seed;\n    m->calls = 0;\n    m->lr = %.17g;\n", cx->g->opt.lr);
    sb_puts(c, "    m->last_loss = 0;\n");
    if (cg_trainable(cx)) sb_printf(c, "    m->rate = m->lr;\n    m->sched = %s_sched0;\n    m->norm_known = 0;\n", P);
    for (int i = 0; i < cx->g->params.len; i++) cg_init_param(cx, i, "m->host");
    sb_printf(c, "    int st = %s_begin(m, NULL);\n", P);
    sb_printf(c,
              "    if (st == NNRT_OK) st = nnrt_cu_check(&m->ex, cudaMemsetAsync(m->dev, 0, %zu, m->ex.stream), "
              "\"cudaMemsetAsync\");\n",
              dlayout_of(cx).work);
    arena *a = cx->g->a;
    emit_copy(cx, "m->params", "m->host", arena_printf(a, "sizeof(%s) * %zu", T, pe), "HostToDevice", "the parameters");
    for (int i = 0; i < cx->g->nodes.len; i++)
        if (NODE(cx, i)->op == IR_CONST && cg_used(cx, i))
            emit_copy(cx, arena_printf(a, "m->consts + %zu", const_offset(cx, i)), arena_printf(a, "%s_c%d", P, i),
                      arena_printf(a, "sizeof %s_c%d", P, i), "HostToDevice", "the constants");
    emit_copy(cx, "m->hyper", "&m->lr", "sizeof(double)", "HostToDevice", "lr");
    sb_printf(c, "    return %s_finish(m, st);\n}\n", P);
}

static void emit_lifecycle(cg_ctx *cx) {
    strbuf *c = cx->c;
    const char *P = cx->o->prefix, *T = cx->T;
    dlayout l = dlayout_of(cx);
    emit_reset(cx);
    sb_printf(c, "\nint %s_init(%s **out, void *mem, size_t bytes, uint64_t seed) {\n", P, P);
    sb_printf(c, "    if (!out || !mem || bytes < %s_ARENA_BYTES) return NNRT_ERR_ARG;\n", cx->upper);
    sb_puts(c, "    unsigned char *base = (unsigned char *)mem + (64 - (uintptr_t)mem % 64) % 64;\n");
    sb_printf(c, "    %s *m = (%s *)(void *)base;\n    memset(m, 0, sizeof *m);\n", P, P);
    sb_printf(c, "    m->host = (%s *)(void *)(base + %d);\n    *out = m;\n", T, HOST_HEADER);
    sb_printf(c, "    int st = nnrt_cu_check(&m->ex, cudaMalloc(&m->dev, %s_DEVICE_BYTES), \"cudaMalloc\");\n",
              cx->upper);
    sb_puts(c, "    if (st == NNRT_OK) {\n        unsigned char *d = (unsigned char *)m->dev;\n");
    sb_printf(c, "        m->params = (%s *)(void *)(d + %zu);\n", T, l.params);
    sb_printf(c, "        m->grads = (%s *)(void *)(d + %zu);\n", T, l.grads);
    sb_printf(c, "        m->opt[0] = (%s *)(void *)(d + %zu);\n", T, l.opt[0]);
    sb_printf(c, "        m->opt[1] = (%s *)(void *)(d + %zu);\n", T, l.opt[1]);
    sb_printf(c, "        m->act = (%s *)(void *)(d + %zu);\n", T, l.act);
    sb_printf(c, "        m->io = d + %zu;\n", l.io);
    sb_printf(c, "        m->consts = (%s *)(void *)(d + %zu);\n", T, l.consts);
    sb_printf(c, "        m->hyper = (double *)(void *)(d + %zu);\n", l.hyper);
    if (cg_trainable(cx)) sb_printf(c, "        m->part = (double *)(void *)(d + %zu);\n", l.part);
    sb_printf(c, "        m->rec = (int32_t *)(void *)(d + %zu);\n", l.rec);
    sb_printf(c, "        st = nnrt_cu_exec_init(&m->ex, d + %zu, NNRT_CU_WORKSPACE_BYTES);\n", l.work);
    sb_puts(c, "        m->own = m->ex.stream;\n    }\n");
    sb_puts(c, "    if (st == NNRT_OK) st = nnrt_cu_check(&m->ex, cudaEventCreateWithFlags(&m->done, "
               "cudaEventDisableTiming), \"cudaEventCreateWithFlags\");\n");
    sb_printf(c, "    if (st == NNRT_OK) return %s_reset(m, seed);\n", P);
    sb_printf(c, "    return %s_status(m, st);\n}\n", P);

    sb_printf(c, "\n%s *%s_create(uint64_t seed) {\n    void *mem = malloc(%s_ARENA_BYTES);\n", P, P, cx->upper);
    sb_printf(c, "    %s *m = NULL;\n    if (!mem) return NULL;\n", P);
    sb_printf(c,
              "    if (%s_init(&m, mem, %s_ARENA_BYTES, seed) != NNRT_OK) {\n        %s_free(m);\n"
              "        free(mem);\n        return NULL;\n    }\n",
              P, cx->upper, P);
    sb_puts(c, "    m->owned = mem;\n    return m;\n}\n");

    sb_printf(c, "\nvoid %s_free(%s *m) {\n    if (!m) return;\n", P, P);
    sb_puts(c, "    if (m->dev) cudaDeviceSynchronize(); /* the model's work on any stream is done (cudaFree would "
               "wait too) */\n");
    sb_printf(c,
              "    for (int w = 0; w < %d; w++)\n"
              "        if (m->graph[w]) cudaGraphExecDestroy(m->graph[w]);\n",
              W_COUNT);
    sb_puts(c, "    if (m->done) cudaEventDestroy(m->done);\n    m->ex.stream = m->own;\n"
               "    nnrt_cu_exec_destroy(&m->ex);\n");
    sb_puts(c, "    if (m->dev) cudaFree(m->dev);\n    m->dev = NULL;\n");
    sb_puts(c, "    if (m->owned) free(m->owned);\n}\n");

    sb_printf(c, "\nint %s_sync(%s *m) { return m ? %s_finish(m, NNRT_OK) : NNRT_ERR_ARG; }\n", P, P, P);
}

/* P_bind_params (objective builds): the captured graphs hold the old
 * pointer, so they are dropped and captured again. */
static void emit_bind_params(cg_ctx *cx) {
    const char *P = cx->o->prefix, *T = cx->T;
    sb_printf(cx->c, "\nint %s_bind_params(%s *m, %s *params) {\n    if (!m || !m->dev) return NNRT_ERR_ARG;\n"
                     "    int st = %s_sync(m);\n    if (st != NNRT_OK) return st;\n", P, P, T, P);
    sb_printf(cx->c, "    for (int w = 0; w < %d; w++) {\n        if (m->graph[w]) cudaGraphExecDestroy(m->graph[w]);\n"
                     "        m->graph[w] = NULL;\n        m->graph_state[w] = 0;\n    }\n", W_COUNT);
    sb_printf(cx->c, "    m->params = params ? params : (%s *)(void *)((unsigned char *)m->dev + %zu);\n"
                     "    return NNRT_OK;\n}\n", T, dlayout_of(cx).params);
}

/* ---- parameters, save and load ------------------------------------------------ */

/* P_NAME(m, ARGS): the parameters through the staging buffer, read by
 * CALL...(P_param_table, np, m->host, &err); all or nothing. */
static void emit_load(cg_ctx *cx, const char *name, const char *args, const char *ptr, const char *call) {
    const char *P = cx->o->prefix;
    strbuf *c = cx->c;
    sb_printf(c, "\nint %s_%s(%s *m, %s) {\n    nnrt_err err;\n    if (!m || !%s) return NNRT_ERR_ARG;\n", P, name, P,
              args, ptr);
    sb_printf(c,
              "    int st = %s_read_params(m, m->host); /* padding and anything not loaded stay as they are */\n"
              "    if (st != NNRT_OK) return st;\n",
              P);
    sb_printf(c, "    st = %s%s_param_table, %d, m->host%s, &err);\n", call, P, cx->g->params.len,
              strstr(call, "partial") ? ", prefix_map, report, ctx, NULL" : "");
    sb_puts(c, "    if (st != NNRT_OK) {\n        m->error = err;\n        return st;\n    }\n");
    sb_printf(c, "    return %s_write_params(m, m->host);\n}\n", P);
}

static void emit_params_api(cg_ctx *cx) {
    const char *P = cx->o->prefix, *T = cx->T;
    strbuf *c = cx->c;
    int np = cx->g->params.len;
    cg_param_table(cx);
    const char *bytes = arena_printf(cx->g->a, "sizeof(%s) * %s_PARAM_ELEMS", T, cx->upper);
    sb_printf(c,
              "\nint %s_read_params(%s *m, %s *host) {\n    if (!m || !host) return NNRT_ERR_ARG;\n"
              "    int st = %s_begin(m, NULL);\n",
              P, P, T, P);
    emit_copy(cx, "host", "m->params", bytes, "DeviceToHost", "the parameters");
    sb_printf(c, "    return %s_finish(m, st);\n}\n", P);
    sb_printf(c,
              "\nint %s_write_params(%s *m, const %s *host) {\n    if (!m || !host) return NNRT_ERR_ARG;\n"
              "    int st = %s_begin(m, NULL);\n",
              P, P, T, P);
    emit_copy(cx, "m->params", "host", bytes, "HostToDevice", "the parameters");
    sb_printf(c, "    return %s_finish(m, st);\n}\n", P);
    sb_printf(c,
              "\nint %s_save(const %s *cm, const char *path) {\n    nnrt_err err;\n"
              "    if (!cm || !path) return NNRT_ERR_ARG;\n",
              P, P);
    sb_printf(c, "    %s *m = (%s *)cm; /* the staging buffer and the message are not part of the model's value */\n",
              P, P);
    sb_printf(c, "    int st = %s_read_params(m, m->host);\n    if (st != NNRT_OK) return st;\n", P);
    sb_printf(c, "    st = nnrt_st_save(path, %s_param_table, %d, m->host, &err);\n", P, np);
    sb_puts(c, "    if (st != NNRT_OK) m->error = err;\n    return st;\n}\n");
    emit_load(cx, "load", "const char *path", "path", "nnrt_st_load(path, ");
    emit_load(cx, "load_partial", "const char *path, const char *prefix_map, nnrt_name_fn report, void *ctx", "path",
              "nnrt_st_load_partial(path, ");
    if (cg_infer_only(cx)) emit_load(cx, "load_mem", "const void *buf, size_t n", "buf", "nnrt_st_load_mem(buf, n, ");
    sb_printf(c, "\nconst char *%s_last_error(const %s *m) { return m ? m->error.msg : \"no model\"; }\n", P, P);
    sb_printf(c, "\nconst char *%s_status_str(int status) { return nnrt_status_str(status); }\n", P);
}

/* Copies between the device's parameters and optimizer buffers and the
 * host buffer h of 3 * PARAM_ELEMS (dir: "DeviceToHost" or "HostToDevice"). */
static void ckpt_copies(cg_ctx *cx, const char *dir) {
    arena *a = cx->g->a;
    const char *bytes = arena_printf(a, "sizeof(%s) * %s_PARAM_ELEMS", cx->T, cx->upper);
    static const char *const dev[3] = {"m->params", "m->opt[0]", "m->opt[1]"};
    int to_host = dir[0] == 'D';
    for (int k = 0; k <= cg_opt_slots(cx); k++) {
        const char *h = arena_printf(a, "h + %d * %s_PARAM_ELEMS", k, cx->upper);
        emit_copy(cx, to_host ? h : dev[k], to_host ? dev[k] : h, bytes, dir, "the checkpoint");
    }
}

/* P_save_checkpoint and P_load_checkpoint through a host copy of the
 * parameters and optimizer buffers (libnnrt's nnrt_ckpt_*). */
static void emit_checkpoint(cg_ctx *cx) {
    const char *P = cx->o->prefix, *T = cx->T, *U = cx->upper;
    strbuf *c = cx->c;
    cg_ckpt_model(cx);
    sb_printf(c, "\nint %s_save_checkpoint(const %s *cm, const char *path, const char *extra) {\n", P, P);
    sb_printf(c, "    nnrt_err err;\n    if (!cm || !path) return NNRT_ERR_ARG;\n    %s *m = (%s *)cm;\n", P, P);
    cg_ckpt_state_out(cx);
    sb_printf(c, "    %s *h = (%s *)malloc(sizeof(%s) * 3 * %s_PARAM_ELEMS);\n", T, T, T, U);
    sb_printf(c, "    if (!h) return NNRT_ERR_NOMEM;\n    int st = %s_begin(m, NULL);\n", P);
    ckpt_copies(cx, "DeviceToHost");
    sb_printf(c, "    const void *bufs[3] = {h, h + %s_PARAM_ELEMS, h + 2 * %s_PARAM_ELEMS};\n", U, U);
    sb_printf(c, "    st = %s_finish(m, st);\n    if (st == NNRT_OK) {\n", P);
    sb_printf(c, "        st = nnrt_ckpt_save(path, &%s_ckpt, bufs, &ck, &err);\n", P);
    sb_puts(c, "        if (st != NNRT_OK) m->error = err;\n    }\n    free(h);\n    return st;\n}\n");
    sb_printf(c, "\nint %s_load_checkpoint(%s *m, const char *path, char *extra, size_t cap) {\n", P, P);
    sb_puts(c, "    nnrt_err err;\n    nnrt_ckpt_state ck;\n    if (!m || !path) return NNRT_ERR_ARG;\n");
    sb_printf(c, "    %s *h = (%s *)malloc(sizeof(%s) * 3 * %s_PARAM_ELEMS);\n    if (!h) return NNRT_ERR_NOMEM;\n", T,
              T, T, U);
    sb_printf(c, "    void *const bufs[3] = {h, h + %s_PARAM_ELEMS, h + 2 * %s_PARAM_ELEMS};\n", U, U);
    sb_printf(c, "    int st = nnrt_ckpt_load(path, &%s_ckpt, bufs, &ck, &err);\n", P);
    sb_puts(c, "    if (st != NNRT_OK) {\n        m->error = err;\n        free(h);\n        return st;\n    }\n");
    cg_ckpt_state_in(cx);
    sb_puts(c, "    const double hy[2] = {m->lr, (double)m->step};\n    m->rate = m->lr;\n");
    sb_printf(c, "    st = %s_begin(m, NULL);\n", P);
    ckpt_copies(cx, "HostToDevice");
    emit_copy(cx, "m->hyper", "hy", "sizeof hy", "HostToDevice", "lr and step");
    sb_printf(c, "    st = %s_finish(m, st);\n    free(h);\n    return st;\n}\n", P);
}

/* P_check_finite on host copies: the parameters and gradients through the
 * staging buffer, the last loss from hyper (P_read_loss). */
static void emit_check_finite(cg_ctx *cx) {
    const char *P = cx->o->prefix;
    arena *a = cx->g->a;
    if (cx->p->has[ENTRY_LOSS] || cg_trainable(cx)) {
        sb_printf(cx->c, "\n/* m->last_loss from the device (synchronizes) */\n");
        sb_printf(cx->c, "static int %s_read_loss(%s *m) {\n", P, P);
        sb_printf(cx->c, "    int st = %s_begin(m, NULL);\n", P);
        emit_copy(cx, "&m->last_loss", arena_printf(a, "m->hyper + %d", HYPER_LOSS),
                  arena_printf(a, "sizeof(%s)", cx->T), "DeviceToHost", "the loss");
        sb_printf(cx->c, "    return %s_finish(m, st);\n}\n", P);
    }
    const char *const fetch[3] = {arena_printf(a, "st = %s_read_params(m, m->host);", P),
                                  arena_printf(a, "st = %s_read_grads(m, m->host);", P),
                                  arena_printf(a, "st = %s_read_loss(m);", P)};
    const char *const buf[2] = {"m->host", "m->host"};
    cg_check_finite(cx, fetch, buf);
}

int cu_api(cg_ctx *cx, strbuf *h, FILE *err) {
    emit_header(cx, h);
    emit_helpers(cx);
    cg_finite_fn(cx);
    static const char *const enq[] = {"forward", "loss", "train"};
    for (int e = 0; e < ENTRY_COUNT; e++)
        if (cx->p->has[e] && (e != ENTRY_TRAIN || cg_trainable(cx))) emit_enqueue(cx, (ir_entry)e, enq[e]);
    for (int dev = 0; dev < 2; dev++) {
        if (cx->p->has[ENTRY_FORWARD]) emit_entry(cx, ENTRY_FORWARD, "forward", "forward", W_FORWARD, dev);
        if (cx->p->has[ENTRY_LOSS]) emit_entry(cx, ENTRY_LOSS, "loss", "loss", W_LOSS, dev);
    }
    if (cg_trainable(cx)) emit_training(cx);
    emit_lifecycle(cx);
    if (cx->g->objective) emit_bind_params(cx);
    emit_params_api(cx);
    if (cg_trainable(cx)) emit_checkpoint(cx);
    emit_check_finite(cx);
    cg_generic_entries(cx);
    if (cx->o->objectives) return cg_bundle(cx, h, err, CG_MAIN_CASTS | CG_MAIN_SCHED | CG_BUNDLE_SYNC);
    if (!cx->o->part && cx->o->emit_main && cg_main(cx, err, CG_MAIN_CASTS | CG_MAIN_SCHED)) return 1;
    return 0;
}
