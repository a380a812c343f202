/* trainer_classes.c — --classes LIST: train, eval and predict on the
 * examples of some classes only, their labels renumbered in LIST's order
 * (--classes 5-9: digits 5..9 become classes 0..4; --classes 3,1: 3 is 0
 * and 1 is 1), for fine-tuning a new head on classes the features never
 * saw. LIST is comma-separated labels and ranges A-B; every label once. The
 * other examples are dropped when the data is loaded, before --val-split.
 */
#define _POSIX_C_SOURCE 200809L

#include "trainer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CLASS_MAX 100000 /* the largest label LIST may name */

/* A label of LIST at *s (advanced past it), or -1. */
static long class_number(const char **s)
{
    char *end;
    long v;
    if (**s < '0' || **s > '9')
        return -1;
    errno = 0;
    v = strtol(*s, &end, 10);
    if (errno || v > CLASS_MAX)
        return -1;
    *s = end;
    return v;
}

/* Parse LIST into map (CLASS_MAX + 1 entries, -1 = not listed): map[label]
 * = its new class. The number of classes, or -1 with c->err set. */
static long parse_classes(ctx *c, const char *list, int32_t *map)
{
    const char *s = list;
    long n = 0, a, b, v;
    for (;;) {
        if ((a = class_number(&s)) < 0)
            break;
        b = a;
        if (*s == '-' && (s++, (b = class_number(&s)) < a))
            break;
        for (v = a; v <= b; v++) {
            if (map[v] >= 0)
                return nnrti_tr_fail(c, EXIT_USAGE, "--classes '%s' lists class %ld twice", list, v), -1;
            map[v] = (int32_t)n++;
        }
        if (*s == 0)
            return n;
        if (*s++ != ',')
            break;
    }
    return nnrti_tr_fail(c, EXIT_USAGE, "--classes '%s' is not a list of labels and ranges A-B (e.g. 0-4 or 5,7,9), "
                         "each in [0, %d]", list, CLASS_MAX), -1;
}

/* The label map of --classes into *map, malloc'd, and *n its classes: 0,
 * or the exit status with c->err set (*map NULL). */
static int class_map(ctx *c, int32_t **map, long *n)
{
    if (!(*map = malloc(sizeof **map * (CLASS_MAX + 1))))
        return nnrti_tr_fail(c, EXIT_RUNTIME, "out of memory for --classes");
    memset(*map, 0xff, sizeof **map * (CLASS_MAX + 1)); /* -1 */
    if ((*n = parse_classes(c, c->o.raw[O_CLASSES], *map)) < 0) {
        free(*map);
        *map = NULL;
        return EXIT_USAGE;
    }
    return 0;
}

int nnrti_tr_check_classes(ctx *c)
{
    const nnrt_model_desc *d = c->d;
    long n = 0;
    int32_t *map;
    int rc;
    if (!c->o.raw[O_CLASSES])
        return 0;
    if ((rc = class_map(c, &map, &n)) != 0)
        return rc;
    free(map);
    if (!d->has_target || d->y_dtype != NNRT_I32 || d->y_numel != 1)
        return nnrti_tr_fail(c, EXIT_USAGE, "--classes selects examples by their class label, but model %s does not "
                             "take one label per example", d->name);
    if (d->classes > 0 && n > d->classes)
        return nnrti_tr_fail(c, EXIT_USAGE, "--classes '%s' lists %ld classes, model %s has %d", c->o.raw[O_CLASSES],
                             n, d->name, d->classes);
    return 0;
}

/* Keep the examples of ds whose label map takes, renumbered. */
static int64_t keep_listed(nnrt_dataset *ds, const int32_t *map)
{
    int32_t *y = ds->y;
    int64_t i, kept = 0;
    size_t xn = ds->x_numel;
    for (i = 0; i < ds->n; i++) {
        if (y[i] < 0 || y[i] > CLASS_MAX || map[y[i]] < 0)
            continue;
        if (kept != i)
            memmove(ds->x + (size_t)kept * xn, ds->x + (size_t)i * xn, xn * sizeof *ds->x);
        y[kept++] = map[y[i]];
    }
    return kept;
}

int nnrti_tr_select_classes(ctx *c, const char *path, nnrt_dataset *ds)
{
    long n = 0;
    int64_t all = ds->n;
    int32_t *map;
    int rc;
    if (!c->o.raw[O_CLASSES])
        return 0;
    if (ds->y_numel != 1 || ds->y_dtype != NNRT_I32)
        return nnrti_tr_fail(c, EXIT_USAGE, "--classes: %s has no class labels to select by", path);
    if ((rc = class_map(c, &map, &n)) != 0)
        return rc;
    ds->n = keep_listed(ds, map);
    free(map);
    if (ds->n == 0)
        return nnrti_tr_fail(c, EXIT_RUNTIME, "%s: none of its %lld examples is of --classes %s", path, (long long)all,
                             c->o.raw[O_CLASSES]);
    return 0;
}
