/* lib_conv.c — the conv family of built-in ops (see elab.h). */
#include "elab.h"

const builtin elab_lib_conv[] = {
    {NULL, {NULL}, 0, NULL, B_EXPR, IR_COPY, 0},
};
