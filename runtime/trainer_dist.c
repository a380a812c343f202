/* trainer_dist.c — data-parallel training over ranks (nnrt_main_dist): every
 * rank creates the model from the same seed, takes positions rank, rank + N,
 * ... of each epoch's order (padded to a multiple of N by its first entries,
 * so every rank takes the same number of steps), and each step averages the
 * gradient buffer and the loss over the ranks (the caller's allreduce_mean)
 * before the same update everywhere. Ranks other than 0 write nothing. The
 * transport (MPI) lives outside libnnrt: runtime/mpi/nnrt_mpi.c.
 */
#include "trainer.h"

#include <math.h>

int nnrti_tr_ranks(const ctx *c)
{
    return c->dist && c->dist->size > 1 ? c->dist->size : 1;
}

int nnrti_tr_rank(const ctx *c)
{
    return nnrti_tr_ranks(c) > 1 ? c->dist->rank : 0;
}

int nnrti_tr_dist_check(ctx *c)
{
    const nnrt_model_desc *d = c->d;
    if (nnrti_tr_ranks(c) == 1)
        return 0;
    if (!d->forward_backward || !d->grads || !d->update || !c->dist->allreduce_mean)
        return nnrti_tr_fail(c, EXIT_RUNTIME,
                             "model %s cannot train on %d ranks (it has no forward_backward, grads and update "
                             "on the host)", d->name, c->dist->size);
    if (c->dist->rank != 0) {
        c->o.raw[O_SAVE] = NULL;
        c->o.raw[O_CHECKPOINT] = NULL;
        c->o.raw[O_LOG] = NULL;
        c->o.raw[O_PLOT] = NULL;
    }
    return 0;
}

void nnrti_tr_dist_shard(const ctx *c, const int64_t *idx, int64_t n, int64_t *own)
{
    int64_t N = nnrti_tr_ranks(c), r = nnrti_tr_rank(c), per = (n + N - 1) / N, i;
    for (i = 0; i < per; i++)
        own[i] = idx[(r + i * N) % n];
}

/* allreduce_mean with the failure recorded. */
static int mean(ctx *c, void *buf, size_t n, int dtype, const char *what)
{
    char msg[sizeof c->err.msg - 64];
    msg[0] = 0;
    if (c->dist->allreduce_mean(c->dist->comm, buf, n, dtype, msg, sizeof msg) == 0)
        return 0;
    return nnrti_tr_fail(c, EXIT_RUNTIME, "rank %d: averaging the %s over %d ranks failed: %s", c->dist->rank, what,
                         c->dist->size, msg[0] ? msg : "no reason given");
}

int nnrti_tr_dist_step(ctx *c, double *loss)
{
    size_t n = 0;
    void *g;
    int rc;
    if (c->d->forward_backward(c->m, c->b.x, c->b.y, loss))
        return nnrti_tr_model_fail(c, "forward_backward");
    g = c->d->grads(c->m, &n);
    if (!g)
        return nnrti_tr_model_fail(c, "grads");
    if ((rc = mean(c, g, n, c->d->dtype, "gradients")) != 0 || (rc = mean(c, loss, 1, NNRT_F64, "loss")) != 0)
        return rc;
    if (!isfinite(*loss)) /* as train_step: nothing is updated, the caller stops */
        return 0;
    if (c->d->update(c->m))
        return nnrti_tr_model_fail(c, "update");
    return 0;
}
