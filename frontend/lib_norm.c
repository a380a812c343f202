/* lib_norm.c — the norm family of built-in ops (see elab.h). */
#include "elab.h"

const builtin elab_lib_norm[] = {
    {NULL, {NULL}, 0, NULL, B_EXPR, IR_COPY, 0},
};
