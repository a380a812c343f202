/* cg.h — code generators. They read a planned ir_program (never the AST)
 * and write source text.
 *
 *   c/emit.c     the C target: model.c + model.h
 *   c/kernels.c  one C kernel emitter per op (emit_OP), from ops.def
 *   c/api.c      the generated API: init, entry points, update, save/load
 *   c/main.c     the optional trainer main() (--main)
 *   cuda/        the CUDA target (emit.c, kernels.c + k_*.c, api.c); see
 *                docs/cuda.md
 */
#ifndef NNC_CG_H
#define NNC_CG_H

#include "../ir/ir.h"

typedef struct cg_options {
    const char *prefix;   /* symbol prefix: the model name or --name */
    const char *header;   /* file name the .c includes ("model.h") */
    const char *source;   /* .nn file name for the banner and comments */
    int f64;              /* 1: double precision everywhere (--dtype f64) */
    int emit_main;        /* 1: add a trainer main() (--main) */
    int cuda;             /* 1: the CUDA target (C++: its keywords are reserved too) */
} cg_options;

/* Emit the C target into c and h. Returns 0, or prints why the model
 * cannot be emitted (e.g. --main with two inputs) to err and returns 1. */
int cg_emit_c(const ir_program *p, const cg_options *o, strbuf *c, strbuf *h, FILE *err);
/* The same for the CUDA target (cuda/): model.cu + model.h. */
int cg_emit_cuda(const ir_program *p, const cg_options *o, strbuf *c, strbuf *h, FILE *err);

/* ---- shared by the C emitter's files ----------------------------------- */

typedef struct cg_ctx {
    const ir_program *p;
    const ir_graph *g;
    const cg_options *o;
    strbuf *c;        /* the .c being written */
    const char *T;    /* element type: "float" or "double" */
    const char *NNRT; /* runtime dtype: "NNRT_F32" or "NNRT_F64" */
    char upper[128];  /* PREFIX in upper case, for macros */
} cg_ctx;

/* Emit the kernel function of node n: static void kID_op(...). */
void cg_kernel(cg_ctx *cx, const ir_node *n);
/* Kernel function name of node n. */
const char *cg_kernel_name(cg_ctx *cx, const ir_node *n);
/* Emit the model struct, parameter data and constants (before kernels). */
void cg_api_prelude(cg_ctx *cx);
/* Emit the model API (everything after the kernels). */
void cg_api(cg_ctx *cx, strbuf *h);
/* Emit main() for the trainer; 0 or 1 with a message on err. */
int cg_main(cg_ctx *cx, FILE *err);
/* 1 if name would clash with C or with names the generated code uses. */
int cg_is_reserved(const char *name);
/* The program of a fused node (FUSED, MATMUL_EP) as statements, one block
 * per step, leaving its value in t<nstep-1>: operand expressions opnd[i]
 * for the node's inputs and acc for the product; each step is its op's
 * ops.def formula (with nnc_tanhf for tanh when fast_tanh: the C target in
 * f32). Shared by the C and CUDA targets (codegen/c/k_fused.c). */
void cg_fused_steps(cg_ctx *cx, const ir_node *n, const char *const *opnd, const char *acc, const char *ind,
                    int fast_tanh);
/* PERMUTE's output walked in order as nested loops over the input a with
 * permutation perm: sizes sz[k] and input strides sd[k], size-1 axes
 * dropped, runs of axes that stay adjacent in the input merged; returns
 * the number of loops (>= 1). Shared by both targets (codegen/c/k_attn.c). */
int cg_permute_loops(const ir_shape *a, const int64_t *perm, long long *sz, long long *sd);
/* Print x as a C literal of the element type. */
void cg_literal(cg_ctx *cx, strbuf *b, double x);
/* Does the ops.def formula expr use attribute p or q (name, a standalone
 * identifier)? Shared by the C and CUDA targets (codegen/c/kernels.c). */
int cgk_uses_attr(const char *expr, char name);

#endif /* NNC_CG_H */
