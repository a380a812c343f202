/* launch.h — `nnc train` / `nnc run`: build the generated trainer with the
 * system C compiler against libnnrt, or with the in-process JIT (jit.h), cache
 * the program by content hash and run it (launch.c). */
#ifndef NNC_LAUNCH_H
#define NNC_LAUNCH_H

#include "../common/common.h"

typedef struct nnc_launch {
    const char *model;    /* the model's file name, for the cached program's name */
    const strbuf *code;   /* the generated model.c (with --main) */
    const strbuf *header; /* the generated model.h */
    const char *options;  /* the nnc options that shaped the code, for the cache key */
    char **args;          /* the program's arguments: args[0] is its command (train, eval, ...) */
    int nargs;
    const char *header_name; /* the name model.c includes its header by */
    int jit;                 /* 1 --jit, 0 --cc, -1 the default: the JIT where nnc has it */
} nnc_launch;

/* Finds or builds the program and runs it: with the system compiler, it replaces this
 * process and returns only on failure (1 after an error message on stderr); with the JIT,
 * it runs in this process and its exit status is returned. */
int nnc_launch_run(const nnc_launch *l);

/* The JIT's compiler and CPU ("clang 14.0.6 x86_64-pc-linux-gnu skylake-avx512"), or NULL
 * when this nnc was built without it. */
const char *nnc_launch_jit(void);

#endif /* NNC_LAUNCH_H */
