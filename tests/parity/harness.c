/* harness.c — a generic driver for one nnc-generated model, used by the
 * PyTorch parity tests (tests/parity/test_parity.py).
 *
 * Compiled once per model with the model's header forced in:
 *
 *   gcc -std=c99 -O2 -Wall -Wextra -Werror -Iruntime -I<tmp> -DMODEL=xor \
 *       -include <tmp>/xor.h tests/parity/harness.c <tmp>/xor.c \
 *       build/libnnrt.a -lm
 *
 * Optional defines (test_parity.py sets them from the generated header):
 *   -DHAS_FORWARD=0  the model has no outputs (no P_forward_v)
 *   -DHAS_TRAIN=0    the model has no loss/optimizer (no P_forward_backward_v,
 *                    P_update)
 *   -DHAS_LOSS=0     no P_loss_v
 *   -DHAS_INPUT_GRAD=1  the model has P_input_grad (requires_grad inputs)
 *   -DREAL=double    the model was generated with --dtype=f64
 *
 * Commands (every file is safetensors; exit status 0 ok, 1 error, 2 usage):
 *   harness init SEED W.st
 *       P_create(SEED), then P_save: the initial parameters by name.
 *   harness grads SEED IO.st OUT.st
 *       P_create(SEED); reads the inputs and targets named by P_io_info from
 *       IO.st (dtype and shape must match exactly); runs P_forward_backward_v
 *       and P_forward_v. OUT.st holds `loss` (a scalar, shape []), `loss_v`
 *       (the same loss from P_loss_v), `grad.<param>` for every parameter and
 *       `out.<output>` for every output, and `igrad.<input>` for every
 *       input whose gradient P_input_grad returns (after the
 *       P_forward_backward_v). A model without a loss writes only the
 *       outputs.
 *   harness train SEED IO.st STEPS OUT.st
 *       P_create(SEED), then STEPS times P_forward_backward_v + P_update on
 *       the same batch. OUT.st holds every parameter by name (the values after
 *       the last step) and `loss.<k>` (shape []) for k = 0 .. STEPS-1, the loss
 *       that step k computed before its update, and `out.<output>` from
 *       P_forward_v after the last step. With -DSCHED_OUT=1 also `lr.<k>`
 *       (P_lr before step k), `gnorm.<k>` (P_grad_norm after it) and
 *       `clipped.<param>` (the gradient buffer after the first update, as
 *       the gradient clipping left it).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnrt.h"

#ifndef MODEL
#error "compile with -DMODEL=<prefix> -include <model>.h"
#endif
#ifndef HAS_FORWARD
#define HAS_FORWARD 1
#endif
#ifndef HAS_TRAIN
#define HAS_TRAIN 1
#endif
#ifndef HAS_INPUT_GRAD
#define HAS_INPUT_GRAD 0
#endif
#ifndef HAS_LOSS
#define HAS_LOSS HAS_TRAIN
#endif
#ifndef REAL
#define REAL float
#endif
#ifndef SCHED_OUT
#define SCHED_OUT 0
#endif

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define FN(x) CAT(MODEL, x)
#define STR_(x) #x
#define STR(x) STR_(x)

typedef MODEL model_t;
typedef REAL real;

#define MAX_TENSORS 256 /* inputs, outputs or parameters of one model */

static const char *prog = "harness";

static int die(const char *fmt, const char *a, const char *b) {
    fprintf(stderr, "%s (%s): ", prog, STR(MODEL));
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    exit(1);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) die("out of memory%s%s", "", "");
    return p;
}

/* A model call failed: name the call, the status and the model's message. */
static void check(int st, model_t *m, const char *what) {
    if (st == NNRT_OK) return;
    char buf[640];
    snprintf(buf, sizeof buf, "%s: %s", FN(_status_str)(st), m ? FN(_last_error)(m) : "");
    die("%s failed: %s", what, buf);
}

static int real_dtype(void) { return sizeof(real) == 8 ? NNRT_F64 : NNRT_F32; }

static uint64_t parse_u64(const char *s, const char *what) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-') die("%s must be a non-negative integer, got '%s'", what, s);
    return (uint64_t)v;
}

static void shape_str(char *buf, size_t cap, const nnrt_tensor_info *t) {
    size_t used = (size_t)snprintf(buf, cap, "%s [", nnrt_dtype_name(t->dtype));
    for (int k = 0; k < t->rank && used < cap; k++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%lld", k ? ", " : "", (long long)t->shape[k]);
    if (used < cap) snprintf(buf + used, cap - used, "]");
}

/* ---- an output file: tensors copied into one buffer --------------------- */

typedef struct outfile {
    nnrt_tensor_info t[3 * MAX_TENSORS + 16];
    char *names[3 * MAX_TENSORS + 16];
    int n;
    unsigned char *buf;
    size_t used, cap; /* bytes; every tensor starts at a multiple of 8 */
} outfile;

static void out_add(outfile *o, const char *prefix, const nnrt_tensor_info *like, int dtype, const void *data) {
    if (o->n >= (int)(sizeof o->t / sizeof o->t[0])) die("too many tensors to save%s%s", "", "");
    size_t size = nnrt_dtype_size(dtype), bytes = like->numel * size;
    size_t at = (o->used + 7) / 8 * 8;
    if (at + bytes > o->cap) {
        size_t ncap = o->cap ? o->cap : 4096;
        while (ncap < at + bytes) ncap *= 2;
        unsigned char *nb = realloc(o->buf, ncap);
        if (!nb) die("out of memory%s%s", "", "");
        o->buf = nb;
        o->cap = ncap;
    }
    memcpy(o->buf + at, data, bytes);
    o->used = at + bytes;
    size_t len = strlen(prefix) + strlen(like->name) + 1;
    char *name = xmalloc(len);
    snprintf(name, len, "%s%s", prefix, like->name);
    nnrt_tensor_info *t = &o->t[o->n];
    *t = *like;
    t->name = name;
    t->dtype = dtype;
    t->offset = at / size; /* at is a multiple of 8, hence of size */
    o->names[o->n++] = name;
}

#if HAS_TRAIN
static void out_scalar(outfile *o, const char *name, real v) {
    nnrt_tensor_info t;
    memset(&t, 0, sizeof t);
    t.name = name;
    t.rank = 0;
    t.numel = 1;
    out_add(o, "", &t, real_dtype(), &v);
}
#endif

static void out_save(outfile *o, const char *path) {
    nnrt_err err;
    memset(&err, 0, sizeof err);
    if (nnrt_st_save(path, o->t, o->n, o->buf ? (const void *)o->buf : (const void *)"", &err) != NNRT_OK)
        die("cannot save: %s%s", err.msg, "");
    for (int i = 0; i < o->n; i++) free(o->names[i]);
    free(o->buf);
    memset(o, 0, sizeof *o);
}

/* ---- the model's tables ------------------------------------------------ */

static int count(int (*info)(int, nnrt_tensor_info *)) {
    nnrt_tensor_info t;
    int n = 0;
    while (n < MAX_TENSORS && info(n, &t) == NNRT_OK) n++;
    return n;
}

static model_t *create(const char *seed_arg) {
    uint64_t seed = parse_u64(seed_arg, "SEED");
    model_t *m = FN(_create)(seed);
    if (!m) die("%s_create(%s) returned NULL", STR(MODEL), seed_arg);
    int np = count(FN(_param_info));
    for (int i = 0; i < np; i++) {
        nnrt_tensor_info t;
        FN(_param_info)(i, &t);
        if (t.dtype != real_dtype())
            die("parameter '%s' is %s but the harness was compiled for another dtype (see -DREAL)", t.name,
                nnrt_dtype_name(t.dtype));
    }
    return m;
}

/* The inputs and targets, in P_io_info order, read from path. */
typedef struct io_set {
    int n;
    void *data[MAX_TENSORS];
} io_set;

static void read_io(const char *path, io_set *io) {
    nnrt_err err;
    nnrt_st_file *f = NULL;
    memset(&err, 0, sizeof err);
    if (nnrt_st_open(path, &f, &err) != NNRT_OK) die("cannot read inputs: %s%s", err.msg, "");
    io->n = count(FN(_io_info));
    for (int i = 0; i < io->n; i++) {
        nnrt_tensor_info want, got;
        const void *src = NULL;
        FN(_io_info)(i, &want);
        if (nnrt_st_find(f, want.name, &got, &src) != NNRT_OK) die("%s: no tensor named '%s'", path, want.name);
        int same = got.dtype == want.dtype && got.rank == want.rank && got.numel == want.numel;
        for (int k = 0; same && k < want.rank; k++) same = got.shape[k] == want.shape[k];
        if (!same) {
            char a[200], b[200], msg[520];
            shape_str(a, sizeof a, &got);
            shape_str(b, sizeof b, &want);
            snprintf(msg, sizeof msg, "tensor '%s' is %s, the model wants %s", want.name, a, b);
            die("%s: %s", path, msg);
        }
        size_t bytes = want.numel * nnrt_dtype_size(want.dtype);
        io->data[i] = xmalloc(bytes);
        memcpy(io->data[i], src, bytes);
    }
    nnrt_st_close(f);
}

static void free_io(io_set *io) {
    for (int i = 0; i < io->n; i++) free(io->data[i]);
    io->n = 0;
}

#if HAS_TRAIN
/* Add every parameter (from buffer base, in the params layout) as prefix+name. */
static void add_params(outfile *o, const char *prefix, const real *base) {
    int np = count(FN(_param_info));
    for (int i = 0; i < np; i++) {
        nnrt_tensor_info t;
        FN(_param_info)(i, &t);
        out_add(o, prefix, &t, t.dtype, base + t.offset);
    }
}
#endif

#if HAS_TRAIN
/* Add d loss / d input as igrad.<name> for every input P_input_grad knows. */
static void add_input_grads(outfile *o, model_t *m) {
#if HAS_INPUT_GRAD
    int nio = count(FN(_io_info));
    for (int i = 0; i < nio; i++) {
        nnrt_tensor_info t;
        FN(_io_info)(i, &t);
        if (t.dtype == NNRT_I32) continue;
        real *buf = xmalloc(t.numel * sizeof(real));
        int st = FN(_input_grad)(m, t.name, buf);
        if (st == NNRT_OK) out_add(o, "igrad.", &t, t.dtype, buf);
        else if (st != NNRT_ERR_NOT_FOUND) check(st, m, STR(MODEL) "_input_grad");
        free(buf);
    }
#else
    (void)o, (void)m;
#endif
}
#endif

/* Run P_forward_v and add every output as out.<name> (nothing without
 * outputs). */
static void add_outputs(outfile *o, model_t *m, const io_set *io) {
#if HAS_FORWARD
    int no = count(FN(_output_info));
    void *outs[MAX_TENSORS];
    for (int i = 0; i < no; i++) {
        nnrt_tensor_info t;
        FN(_output_info)(i, &t);
        outs[i] = xmalloc(t.numel * nnrt_dtype_size(t.dtype));
    }
    check(FN(_forward_v)(m, (const void *const *)io->data, (void *const *)outs), m, STR(MODEL) "_forward_v");
    for (int i = 0; i < no; i++) {
        nnrt_tensor_info t;
        FN(_output_info)(i, &t);
        out_add(o, "out.", &t, t.dtype, outs[i]);
        free(outs[i]);
    }
#else
    (void)o, (void)m, (void)io;
#endif
}

/* ---- commands ---------------------------------------------------------- */

static int cmd_init(char **argv) {
    model_t *m = create(argv[0]);
    check(FN(_save)(m, argv[1]), m, STR(MODEL) "_save");
    FN(_free)(m);
    return 0;
}

static int cmd_grads(char **argv) {
    static outfile o;
    io_set io;
    model_t *m = create(argv[0]);
    read_io(argv[1], &io);
#if HAS_TRAIN
    {
        real loss = 0, loss_v = 0;
        size_t n = 0;
        check(FN(_forward_backward_v)(m, (const void *const *)io.data, &loss), m, STR(MODEL) "_forward_backward_v");
        out_scalar(&o, "loss", loss);
        add_params(&o, "grad.", FN(_grads)(m, &n));
        add_input_grads(&o, m);
#if HAS_LOSS
        check(FN(_loss_v)(m, (const void *const *)io.data, &loss_v), m, STR(MODEL) "_loss_v");
        out_scalar(&o, "loss_v", loss_v);
#endif
        (void)loss_v;
    }
#endif
    add_outputs(&o, m, &io);
    out_save(&o, argv[2]);
    free_io(&io);
    FN(_free)(m);
    return 0;
}

static int cmd_train(char **argv) {
#if HAS_TRAIN
    static outfile o;
    io_set io;
    model_t *m = create(argv[0]);
    read_io(argv[1], &io);
    uint64_t steps = parse_u64(argv[2], "STEPS");
    if (steps > 100000) die("STEPS %s is more than %s", argv[2], "100000");
    for (uint64_t k = 0; k < steps; k++) {
        real loss = 0;
        char name[32];
#if SCHED_OUT
        snprintf(name, sizeof name, "lr.%llu", (unsigned long long)k);
        out_scalar(&o, name, (real)FN(_lr)(m));
#endif
        check(FN(_forward_backward_v)(m, (const void *const *)io.data, &loss), m, STR(MODEL) "_forward_backward_v");
        check(FN(_update)(m), m, STR(MODEL) "_update");
        snprintf(name, sizeof name, "loss.%llu", (unsigned long long)k);
        out_scalar(&o, name, loss);
#if SCHED_OUT
        snprintf(name, sizeof name, "gnorm.%llu", (unsigned long long)k);
        out_scalar(&o, name, (real)FN(_grad_norm)(m));
        if (k == 0) add_params(&o, "clipped.", FN(_grads)(m, NULL));
#endif
    }
    size_t n = 0;
    add_params(&o, "", FN(_params)(m, &n));
    add_outputs(&o, m, &io);
    out_save(&o, argv[3]);
    free_io(&io);
    FN(_free)(m);
    return 0;
#else
    (void)argv;
    return die("model '%s' has no loss and optimizer: nothing to train%s", STR(MODEL), "");
#endif
}

static int usage(void) {
    fprintf(stderr,
            "usage: %s init SEED W.safetensors\n"
            "       %s grads SEED IO.safetensors OUT.safetensors\n"
            "       %s train SEED IO.safetensors STEPS OUT.safetensors\n",
            prog, prog, prog);
    return 2;
}

int main(int argc, char **argv) {
    if (argc > 0 && argv[0] && argv[0][0]) prog = argv[0];
    if (argc == 4 && !strcmp(argv[1], "init")) return cmd_init(argv + 2);
    if (argc == 5 && !strcmp(argv[1], "grads")) return cmd_grads(argv + 2);
    if (argc == 6 && !strcmp(argv[1], "train")) return cmd_train(argv + 2);
    return usage();
}
