/* trainer_augment.c — --augment for train: the list is checked with the
 * other options (a usage error, exit 2, for a bad item or a model whose
 * input is not an image [C, H, W] per example), and applied to each
 * training batch after it is gathered (augment.c), example k of an epoch
 * drawing from (seed, epoch, k). Validation and evaluation see the data as
 * it is.
 */
#include "trainer.h"

#include <stdlib.h>

int nnrti_tr_check_augment(ctx *c)
{
    const nnrt_model_desc *d = c->d;
    const char *s = c->o.raw[O_AUGMENT];
    if (!s)
        return 0;
    if (nnrt_augment_parse(s, &c->aug, &c->err) != NNRT_OK)
        return EXIT_USAGE;
    if (d->x_dtype == NNRT_I32 || d->x_rank != 3)
        return nnrti_tr_fail(c, EXIT_USAGE, "--augment needs an image input, [C, H, W] per example; the input of "
                             "model %s is %s with %d axes per example", d->name,
                             d->x_dtype == NNRT_I32 ? "i32 token ids" : "not an image", d->x_rank);
    return 0;
}

/* Augment the gathered batch of step s of epoch (the examples at positions
 * s * B .. s * B + B - 1 of the epoch; on N ranks, of this rank's share,
 * whose example p is at position rank + N * p of the epoch's order). */
int nnrti_tr_augment_batch(ctx *c, long epoch, int64_t s)
{
    const nnrt_model_desc *d = c->d;
    const int64_t *sh = d->x_shape;
    double *tmp;
    int64_t b;
    int rc = 0;
    if (!nnrt_augment_any(&c->aug))
        return 0;
    tmp = nnrti_tr_alloc3((size_t)sh[1], (size_t)sh[2], sizeof *tmp);
    if (!tmp)
        return nnrti_tr_fail(c, EXIT_RUNTIME, "out of memory for --augment");
    for (b = 0; b < d->batch && rc == 0; b++)
        if (nnrt_augment_image(&c->aug, d->dtype, (char *)c->b.x + (size_t)b * d->x_numel * c->esz, sh[0], sh[1],
                               sh[2], c->o.seed, (uint64_t)epoch,
                               (uint64_t)(nnrti_tr_rank(c) + nnrti_tr_ranks(c) * (s * d->batch + b)), tmp) != NNRT_OK)
            rc = nnrti_tr_fail(c, EXIT_RUNTIME, "--augment: more than 2^31 examples in an epoch");
    free(tmp);
    return rc;
}
