/* lib_rnn.c — the rnn family of built-in ops (see elab.h). */
#include "elab.h"

const builtin elab_lib_rnn[] = {
    {NULL, {NULL}, 0, NULL, B_EXPR, IR_COPY, 0},
};
