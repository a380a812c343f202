/* emu_node.h — one row of the node table emit.c writes per model. */
#ifndef EMU_NODE_H
#define EMU_NODE_H
#include <stdint.h>
typedef struct emu_node {
    const char *name;  /* kernel (launcher) name: kID_op */
    const char *op;    /* ops.def name */
    const char *shape; /* output shape */
    int fused_prog;    /* 1: from the fused program (pass_fuse ran) */
    int nin, rng;
    long long out_n;
    long long in_n[16];
    int domain[16];    /* 0 [-1, 1], 1 positive, 2 int32 in [0, bound) */
    long long bound[16];
    int in_place;      /* batchnorm_update: y is input 0 */
} emu_node;
extern const emu_node emu_nodes[];
extern const int emu_nnodes, emu_f64;
int cu_run(int k, void **in, uint64_t seed, uint64_t counter, void *y);
extern "C" int c_run(int k, void **in, uint64_t seed, uint64_t counter, void *y);
#endif
