/* targets.c — the target table: the rows of targets.def as cg_targets,
 * which the driver consults for --target, nnc --help's list of targets
 * and the default output file's extension, and which cg_emit and
 * cg_cname consult for the reserved names and the emit function. The
 * only file that names every target; the targets name none of it. */
#include "core/core.h"

/* Each row's functions, defined in the core (cg_is_reserved) or in the
 * row's target folder. */
#define TARGET(name, help, ext, clash, is_reserved, emit)                                                              \
    int is_reserved(const char *n);                                                                                    \
    int emit(cg_ctx *cx, strbuf *h, FILE *err);
#include "targets.def"
#undef TARGET

const cg_target cg_targets[] = {
#define TARGET(name, help, ext, clash, is_reserved, emit) {name, help, ext, clash, is_reserved, emit},
#include "targets.def"
#undef TARGET
    {NULL, NULL, NULL, NULL, NULL, NULL},
};

const cg_target *cg_target_find(const char *name) {
    for (const cg_target *t = cg_targets; t->name; t++)
        if (!strcmp(t->name, name)) return t;
    return NULL;
}
