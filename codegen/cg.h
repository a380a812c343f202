/* cg.h — the code generators as the driver sees them: the options, the
 * target table and cg_emit. A generator reads a planned ir_program (never
 * the AST) and writes source text.
 *
 *   cg.h         this interface
 *   targets.def  the target table: one row per target (name, help line,
 *                output extension, reserved names, emit function)
 *   targets.c    the rows as the array cg_targets, and cg_target_find
 *   core/        what every target shares, target-independent (core.h,
 *                api.h): cg_emit, the cg_ctx set-up, the kernel walk,
 *                names, literals, fused programs, the generated API's
 *                common pieces, the trainer main()
 *   c/           the C target: model.c + model.h
 *   cuda/        the CUDA target: model.cu + model.h (docs/cuda.md)
 *   py/py.h      not a target: --emit=py (a ctypes module over the model's
 *                shared library) and --emit=torch (the mirror nn.Module)
 *
 * A target's folder uses core/ and nothing of another target's folder.
 */
#ifndef NNC_CG_H
#define NNC_CG_H

#include "../ir/ir.h"

typedef struct cg_ctx cg_ctx; /* what an emitter works on: core/core.h */
typedef struct cg_target cg_target;

typedef struct cg_options {
    const char *prefix;      /* symbol prefix: the model name or --name */
    const char *header;      /* file name the .c includes ("model.h") */
    const char *source;      /* .nn file name for the banner and comments */
    int f64;                 /* 1: double precision everywhere (--dtype f64) */
    int emit_main;           /* 1: add a trainer main() (--main) */
    const cg_target *target; /* the row of cg_targets that writes the code */
    /* --weights: the parameter buffer's values (the plan's layout, padding
     * 0), emitted as one static const array the kernels read in place; the
     * model then has no initializers and no _load. NULL: none. */
    const double *weights;
    /* --freestanding (with weights): no stdio or stdlib, no _create, _free,
     * _save, _status_str or _check_finite; the f32 GEMMs pack into a part of
     * the model's block (nnrt_sgemm_ws) and link with libnnrt_core.a. */
    int freestanding;
    /* --quantize int8 (C target, with weights): the calibrated largest
     * magnitude of each quantized layer's input, indexed by the id of the
     * layer's weight parameter (cg_quant_layer); NULL: no int8. */
    const double *quant_absmax;
    /* --main --quantize int8: the forward pass records the largest input
     * magnitude of every cg_quant_layer, and the trainer gets `calibrate`. */
    int calib_probe;
    /* One objective of a model with several, built into one file with the
     * others (nnc without --objective; core/bundle.c): part is the
     * objective's name; its kernels are PART_kID_op, the shared inline
     * helpers are guarded, and it has no main(). NULL: a whole file. */
    const char *part;
    /* Set on the last part only: the objectives in declaration order and
     * the model's own prefix; after that part cg_emit writes the model's
     * API over the parts (cg_bundle) and, with emit_main, its trainer. */
    const char *const *objectives;
    int nobjectives;
    const char *bundle_prefix;
} cg_options;

/* A row of the target table (targets.def). */
struct cg_target {
    const char *name;  /* --target=NAME */
    const char *help;  /* what it writes: its line in nnc --help */
    const char *ext;   /* extension of the default output file (model.EXT) */
    const char *clash; /* what a reserved prefix is, in cg_emit's error:
                        * "the generated C (it is a C keyword or ...)" */
    /* 1 if name clashes with the language or the generated code's own
     * names: an input or output with it gets a '_' appended (cg_cname),
     * a model prefix with it is refused (cg_emit). */
    int (*is_reserved)(const char *name);
    /* Write the code into cx->c and the header into h (cg_emit set up cx);
     * 0, or 1 with a message on err. */
    int (*emit)(cg_ctx *cx, strbuf *h, FILE *err);
};

/* targets.def's rows in order, then a row with name NULL. The first row
 * is the default target. */
extern const cg_target cg_targets[];
/* The row named name, or NULL. */
const cg_target *cg_target_find(const char *name);

/* 1 if node n of g runs in int8 under --quantize int8: an f32 dense
 * product x W^T (matmul or matmul_ep, ta 0, tb 1) or a conv2d with one
 * group, whose weight W (input 1) is a parameter, with at most
 * CG_QUANT_MAX_K products per output and (conv2d) at most CG_QUANT_MAX_K
 * input values per example with the padding (stack buffers). */
#define CG_QUANT_MAX_K 65536
int cg_quant_layer(const ir_graph *g, const ir_node *n);

/* Emit p with o->target: refuses a reserved prefix (the row's predicate;
 * the message on err names o->target->clash), sets up the cg_ctx and runs
 * the row's emit. Returns 0, or 1 with a message on err. */
int cg_emit(const ir_program *p, const cg_options *o, strbuf *c, strbuf *h, FILE *err);

#endif /* NNC_CG_H */
