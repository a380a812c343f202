/* compile.h — the pass pipeline, callable from the command line (nnc.c),
 * the tests and the fuzzer. */
#ifndef NNC_COMPILE_H
#define NNC_COMPILE_H

#include "../codegen/cg.h"
#include "../frontend/frontend.h"
#include "../runtime/nnrt.h"

typedef enum nnc_emit {
    EMIT_C,       /* model.c + model.h */
    EMIT_AST,     /* the syntax tree */
    EMIT_IR,      /* forward graph after the simplifying passes */
    EMIT_IR_TRAIN,/* forward + backward graph, training schedule */
    EMIT_DOT,     /* Graphviz of the forward graph (or the loss's), a box per block application */
    EMIT_KERNELS, /* the kernel list of each entry point */
    EMIT_DOT_TRAIN, /* Graphviz of the training graph (forward + backward + update) */
    EMIT_PY,        /* the Python (ctypes) module over the model's shared library */
    EMIT_TORCH,     /* the mirror torch.nn.Module of the forward graph */
    EMIT_ONNX       /* the inference graph as an ONNX model (o->onnx_export; implies infer_only, no fusion) */
} nnc_emit;

typedef struct nnc_options {
    const char *file;        /* source name for messages */
    nnc_emit emit;
    const char *prefix;      /* --name, or NULL for the model name */
    const char *objective;   /* --objective: the named loss to train, or NULL */
    const char *header;      /* file name the .c includes */
    int opt_level;           /* -O0..-O3 */
    int f64;                 /* --dtype f64 */
    int emit_main;           /* --main */
    const cg_target *target; /* --target: a row of cg_targets (codegen/targets.def); NULL: the first, C */
    int stats;               /* --stats */
    int no_fuse;             /* --no-fuse: keep every op its own kernel */
    const char *print_after; /* --print-after=PASS (an unknown name is an error) */
    elab_define *defs;       /* -D NAME=VALUE */
    int ndefs;
    int color;               /* colour diagnostics */
    diag_format diag_format; /* -fdiagnostics-format: text, json or sarif (common.h) */
    uint64_t max_memory;     /* --max-memory: the most bytes a model may need; 0: NNC_MAX_MEMORY_DEFAULT */
    int infer_only;          /* --infer-only: drop the loss, the optimizer and the targets after elaboration */
    const char *weights;     /* --weights FILE (implies infer_only): the parameters as static const arrays */
    int freestanding;        /* --freestanding (needs weights): no stdio/stdlib, the GEMM workspace in the block */
    int quantize;            /* --quantize int8 (8): with weights and calibrate, dense and conv layers in int8;
                              * with emit_main, a trainer whose forward pass records their inputs' ranges */
    const char *calibrate;   /* --calibrate FILE: the ranges ('prog calibrate' of that trainer) */
    /* Reads --weights: libnnrt's nnrt_st_load (the driver passes it, so
     * libnnc does not link the runtime); NULL refuses --weights. */
    int (*st_load)(const char *path, const nnrt_tensor_info *infos, int n, void *base, nnrt_err *err);
    /* Writes --emit=onnx: onnx/export.h's onnx_export (the driver passes it, so libnnc does not
     * link protobuf-c); NULL refuses --emit=onnx. weights: --weights's values in the forward
     * plan's layout, or NULL. */
    int (*onnx_export)(const ir_program *p, const double *weights, strbuf *out, diag_ctx *d);
    /* Set by nnc_compile, not the caller: C output of a model with several
     * objectives builds objective `objective` as a part of one file
     * (cg_options.part); on the last part, the list of them all. */
    int part;
    const char *const *objectives;
    int nobjectives;
} nnc_options;

/* The memory limit: a model whose parameters (with their gradients and
 * optimizer state), activation arena, inputs and targets need more bytes is
 * an error. The default, 2^46 bytes (64 TiB), is half the 2^47-byte user
 * address space of x86-64 with 4-level page tables (AArch64 with 48-bit
 * addresses has 2^48): no 64-bit host maps more than that for one process
 * without asking, and half leaves room for the program, its libraries and
 * its data. --max-memory takes at most NNC_MAX_MEMORY_MAX, so that no size
 * the generated code computes from a need (plus headers and alignment) comes
 * near 2^64. For 32-bit targets pass --max-memory=2G or so; the generated
 * header refuses to compile where its sizes do not fit size_t. */
#define NNC_MAX_MEMORY_DEFAULT ((uint64_t)1 << 46)
#define NNC_MAX_MEMORY_MAX ((uint64_t)1 << 62)

/* A byte count as --max-memory takes it: digits with an optional suffix K,
 * M, G or T (either case; powers of 1024), from 1 to NNC_MAX_MEMORY_MAX.
 * 0 and the value in *out, or -1 if s is not one. */
int nnc_parse_bytes(const char *s, uint64_t *out);

/* The passes nnc_compile runs, in order, with the -O level and condition of
 * each (nnc --print-passes). */
void nnc_print_passes(FILE *out);
/* NULL if --print-after may name pass `name` (elab or one of the list),
 * else a message (in a) listing the names it may. */
const char *nnc_print_after_error(const char *name, arena *a);

/* Compile src. Text outputs go to out (and the header to hdr for EMIT_C),
 * diagnostics and stats to diag. Returns 0, or 1 on compile errors (or when
 * printing a text output runs out of memory). */
int nnc_compile(const nnc_options *o, const char *src, size_t len, strbuf *out, strbuf *hdr, FILE *diag);

#endif /* NNC_COMPILE_H */
