/* launch.h — `nnc train` / `nnc run`: build the generated trainer with the
 * system C compiler against libnnrt, cache the program by content hash and
 * run it (launch.c). */
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
} nnc_launch;

/* Finds or builds the program and replaces this process with it. Returns
 * only on failure: 1 after an error message on stderr. */
int nnc_launch_run(const nnc_launch *l);

#endif /* NNC_LAUNCH_H */
