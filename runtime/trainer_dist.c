/* trainer_dist.c — data-parallel training over ranks (nnrt_main_dist): every
 * rank creates the model from the same seed, takes positions rank, rank + N,
 * ... of each epoch's order (padded to a multiple of N by its first entries,
 * so every rank takes the same number of steps), and each step averages the
 * gradient buffer and the loss over the ranks (the caller's allreduce_mean)
 * before the same update everywhere. Ranks other than 0 write nothing. The
 * transport (MPI) lives outside libnnrt: runtime/mpi/nnrt_mpi.c.
 *
 * --bucket-mb X: the buffer is all-reduced in buckets of X MB, all started
 * (iallreduce_mean) before the first is waited for; bucket k is updated
 * (the model's update_range) as soon as it is reduced, while the later ones
 * are still on their way (with --clip-norm every bucket is waited for first:
 * the norm needs them all). --overlap (with --bucket-mb): the model's
 * set_grad_ready hook starts each bucket during forward_backward as soon as
 * the backward pass has finished the tail of the buffer that holds it; the
 * parameters lie in declaration order and the backward pass finishes them
 * last layer first, so the buckets start (and are waited for and updated)
 * from the end of the buffer; with clipping all are waited for first. The
 * norm is summed in buffer order either way. --shard-optimizer (ZeRO stage
 * 1): the gradients are reduce-scattered (with --bucket-mb bucket by
 * bucket, each started as above), each rank updates its slice
 * (nnrt_dist_slice) of the parameters and the optimizer state, then the
 * parameters are all-gathered;
 * the global norm is summed along the ranks in order (chain), so that both
 * give the bits of the whole-buffer update. Dropout: rank r's training pass
 * k draws with counter k * N + r (the model's counter stays k). On Linux
 * a sharded rank gives the pages of the optimizer state outside its slice
 * back to the system (madvise MADV_DONTNEED: they read as zeros if touched
 * again; rank 0 refills them to save a checkpoint, then gives them back).
 */
#ifdef __linux__
#define _DEFAULT_SOURCE /* madvise, mincore */
#include <sys/mman.h>
#include <unistd.h>
#endif
#include "trainer.h"

#include <math.h>
#include <stdlib.h>

int nnrti_tr_ranks(const ctx *c)
{
    return c->dist && c->dist->size > 1 ? c->dist->size : 1;
}

int nnrti_tr_rank(const ctx *c)
{
    return nnrti_tr_ranks(c) > 1 ? c->dist->rank : 0;
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

void nnrt_dist_slice(size_t n, int size, int rank, size_t *lo, size_t *hi)
{
    size_t N = size > 0 ? (size_t)size : 1, r = rank > 0 ? (size_t)rank : 0;
    if (r > N)
        r = N;
    *lo = r == 0 ? 0 : n * r / N / 16 * 16;
    *hi = r + 1 >= N ? n : n * (r + 1) / N / 16 * 16;
}

static size_t esize(const ctx *c)
{
    return c->d->dtype == NNRT_F64 ? 8 : 4;
}

/* The transport's message as this rank's failure. */
static int dist_fail(ctx *c, const char *what, const char *msg)
{
    return nnrti_tr_fail(c, EXIT_RUNTIME, "rank %d: %s over %d ranks failed: %s", c->dist->rank, what, c->dist->size,
                         msg[0] ? msg : "no reason given");
}

/* --bucket-mb and --shard-optimizer: parsed on any number of ranks. */
static int dist_options(ctx *c)
{
    const char *b = c->o.raw[O_BUCKET_MB];
    char *end = NULL;
    double mb = b ? strtod(b, &end) : 0;
    if (b && (end == b || *end || !(mb > 0 && mb < 1e6)))
        return nnrti_tr_fail(c, EXIT_USAGE, "--bucket-mb '%s' is not a number of megabytes in (0, 1e6)", b);
    if (c->o.raw[O_OVERLAP] && !b)
        return nnrti_tr_fail(c, EXIT_USAGE, "--overlap needs --bucket-mb X (the buckets it starts during the backward "
                             "pass)");
    c->bucket = b ? (size_t)(mb * 1048576.0 / (c->d->dtype == NNRT_F64 ? 8 : 4)) : 0;
    if (b && c->bucket == 0)
        c->bucket = 1;
    return 0;
}

int nnrti_tr_dist_check(ctx *c)
{
    const nnrt_model_desc *d = c->d;
    int rc = dist_options(c);
    if (rc || nnrti_tr_ranks(c) == 1)
        return rc;
    if (!d->forward_backward || !d->grads || !d->update || !c->dist->allreduce_mean)
        return nnrti_tr_fail(c, EXIT_RUNTIME,
                             "model %s cannot train on %d ranks (it has no forward_backward, grads and update "
                             "on the host)", d->name, c->dist->size);
    if (d->grads_on_device && !c->dist->device)
        return nnrti_tr_fail(c, EXIT_RUNTIME, "model %s keeps its gradients on the GPU: several ranks need NCCL (build "
                             "with -DNNRT_NCCL and libnnrt_nccl.a)", d->name);
    c->shard = c->o.raw[O_SHARD_OPTIMIZER] != NULL;
    c->overlap = c->o.raw[O_OVERLAP] != NULL;
    c->gather_ckpt = c->shard && c->o.raw[O_CHECKPOINT];
    if (c->dist->rank != 0) {
        c->o.raw[O_SAVE] = NULL;
        c->o.raw[O_CHECKPOINT] = NULL;
        c->o.raw[O_LOG] = NULL;
        c->o.raw[O_PLOT] = NULL;
    }
    return 0;
}

/* forward_backward on this rank's batch; dropout (the model's random ops)
 * draws with counter k * N + r on rank r of N for the model's pass k, and
 * the model's counter goes on from k as on one rank. */
static int rank_pass(ctx *c, double *loss)
{
    const nnrt_model_desc *d = c->d;
    uint64_t k = 0, at = 0;
    int rc, per_rank = d->rng_calls && d->set_rng_calls;
    if (per_rank) {
        k = d->rng_calls(c->m);
        at = k * (uint64_t)c->dist->size + (uint64_t)c->dist->rank;
        d->set_rng_calls(c->m, at);
    }
    rc = d->forward_backward(c->m, c->b.x, c->b.y, loss);
    if (per_rank)
        d->set_rng_calls(c->m, k + (d->rng_calls(c->m) - at));
    return rc ? nnrti_tr_model_fail(c, "forward_backward") : 0;
}

static int sharded_update(ctx *c, size_t n);

/* One step's buckets: bucket k is elements [k * c->bucket, ...) of g,
 * req[k] its all-reduce in flight (NULL when not started or waited for). */
typedef struct buckets {
    ctx *c;
    char *g;
    size_t n, nb;
    size_t next; /* --overlap: buckets [next, nb) were started */
    void **req;
    int rc;      /* a failure to start one inside the backward pass */
} buckets;

static size_t bucket_hi(const buckets *b, size_t k)
{
    return (k + 1) * b->c->bucket < b->n ? (k + 1) * b->c->bucket : b->n;
}

/* Waits for the buckets [from, to) to end. */
static int wait_from(buckets *b, size_t from, size_t to)
{
    ctx *c = b->c;
    char msg[sizeof c->err.msg - 64];
    int rc = 0;
    for (size_t k = from; k < to; k++) {
        msg[0] = 0;
        if (b->req[k] && c->dist->wait(c->dist->comm, b->req[k], msg, sizeof msg) != 0 && rc == 0)
            rc = dist_fail(c, "waiting for a gradient bucket", msg);
        b->req[k] = NULL;
    }
    return rc;
}

/* Starts bucket k's all-reduce (sharded: its reduce-scatter). */
static int start_one(buckets *b, size_t k)
{
    ctx *c = b->c;
    const nnrt_dist *t = c->dist;
    char msg[sizeof c->err.msg - 64];
    size_t lo = k * c->bucket, hi = bucket_hi(b, k);
    int rc;
    msg[0] = 0;
    if (c->shard)
        rc = t->ireduce_scatter_mean(t->comm, b->g, b->n, lo, hi, c->d->dtype, &b->req[k], msg, sizeof msg);
    else
        rc = t->iallreduce_mean(t->comm, b->g + lo * esize(c), hi - lo, c->d->dtype, &b->req[k], msg, sizeof msg);
    return rc ? dist_fail(c, c->shard ? "starting a gradient bucket's reduce-scatter"
                                      : "starting a gradient bucket's all-reduce", msg) : 0;
}

/* --overlap: starts the buckets not yet started that lie in [lo, n), the
 * last first (the model's grad_ready hook; once more with lo 0 after the
 * pass). A failure is kept in b->rc and starts no more. */
static void start_from(void *arg, size_t lo)
{
    buckets *b = arg;
    while (b->rc == 0 && b->next > 0 && (b->next - 1) * b->c->bucket >= lo) {
        b->next--;
        b->rc = start_one(b, b->next);
    }
}

/* The model's clipping: *norm the clip_norm; 0 if it clips nothing, 1 if
 * it clips, -1 if it cannot say. */
static int clipping(const ctx *c, double *norm)
{
    nnrt_sched s;
    *norm = 0;
    if (!c->d->get_schedule || c->d->get_schedule(c->m, &s) != 0)
        return -1;
    *norm = s.clip_norm;
    return s.clip_norm > 0 || s.clip_value > 0;
}

/* Bucket k updated as soon as it is reduced, in the order they were
 * started (the first first; --overlap: the last first), all of them first
 * when the global norm clips (--overlap: when anything clips, since the
 * update clips in place). The norm is summed in buffer order either way. */
static int update_buckets(buckets *b)
{
    ctx *c = b->c;
    const nnrt_model_desc *d = c->d;
    double ss = 0, norm = 0, limit;
    int clip = clipping(c, &limit), all_first = limit > 0 || (c->overlap && clip != 0), rc = 0;
    if (all_first) {
        if ((rc = wait_from(b, 0, b->nb)) != 0)
            return rc;
        norm = sqrt(d->grad_sumsq(c->m, 0, b->n, 0));
    }
    for (size_t i = 0; i < b->nb && rc == 0; i++) {
        size_t k = c->overlap ? b->nb - 1 - i : i, lo = k * c->bucket, hi = bucket_hi(b, k);
        if (!all_first && (rc = wait_from(b, k, k + 1)) != 0)
            break;
        if (!c->overlap)
            ss = d->grad_sumsq(c->m, lo, hi, ss);
        if (d->update_range(c->m, lo, hi, norm))
            rc = nnrti_tr_model_fail(c, "update_range");
    }
    if (rc)
        return rc;
    if (!all_first)
        norm = sqrt(c->overlap ? d->grad_sumsq(c->m, 0, b->n, 0) : ss); /* nothing clipped: the sums of the step */
    return d->update_end(c->m, norm) ? nnrti_tr_model_fail(c, "update_end") : 0;
}

/* Sharded: every bucket's slice reduced, then this rank's update. */
static int sharded_buckets(buckets *b)
{
    int rc = wait_from(b, 0, b->nb);
    return rc ? rc : sharded_update(b->c, b->n);
}

/* The pass (--overlap: buckets start as the backward pass finishes them),
 * every bucket started, the loss averaged, each bucket updated. */
static int bucketed_step(ctx *c, double *loss)
{
    size_t n = 0;
    buckets b = {c, c->d->grads(c->m, &n), 0, 0, 0, NULL, 0};
    int rc = 0, w;
    b.n = n, b.nb = (n + c->bucket - 1) / c->bucket, b.next = b.nb;
    if (!b.g)
        return nnrti_tr_model_fail(c, "grads");
    if (!(b.req = calloc(b.nb ? b.nb : 1, sizeof *b.req)))
        return nnrti_tr_fail(c, EXIT_RUNTIME, "out of memory");
    if (c->overlap)
        c->d->set_grad_ready(c->m, start_from, &b);
    rc = rank_pass(c, loss);
    if (c->overlap)
        c->d->set_grad_ready(c->m, NULL, NULL);
    if (rc == 0 && c->overlap)
        start_from(&b, 0), rc = b.rc;
    for (size_t k = 0; rc == 0 && !c->overlap && k < b.nb; k++)
        rc = start_one(&b, k);
    if (rc == 0)
        rc = mean(c, loss, 1, NNRT_F64, "loss");
    if (rc == 0 && isfinite(*loss)) /* not finite: as train_step, nothing is updated and the caller stops */
        rc = c->shard ? sharded_buckets(&b) : update_buckets(&b);
    w = wait_from(&b, 0, b.nb);
    free(b.req);
    return rc ? rc : w;
}

/* What chain runs on each rank: the squares of its slice, in order. */
typedef struct slice_sum {
    const ctx *c;
    size_t lo, hi;
} slice_sum;

static double sum_slice(void *arg, double acc)
{
    slice_sum *s = arg;
    return s->c->d->grad_sumsq(s->c->m, s->lo, s->hi, acc);
}

/* This rank's slice of the update, then every rank's parameters. */
static int sharded_update(ctx *c, size_t n)
{
    const nnrt_model_desc *d = c->d;
    char msg[sizeof c->err.msg - 64];
    slice_sum s = {c, 0, 0};
    double ss = 0, norm;
    size_t np = 0;
    void *p = d->params(c->m, &np);
    nnrt_dist_slice(n, c->dist->size, c->dist->rank, &s.lo, &s.hi);
    msg[0] = 0;
    if (c->dist->chain(c->dist->comm, &ss, sum_slice, &s, msg, sizeof msg) != 0)
        return dist_fail(c, "summing the gradient norm", msg);
    norm = sqrt(ss);
    if (d->update_range(c->m, s.lo, s.hi, norm))
        return nnrti_tr_model_fail(c, "update_range");
    if (d->update_end(c->m, norm))
        return nnrti_tr_model_fail(c, "update_end");
    if (!p || np != n)
        return nnrti_tr_fail(c, EXIT_RUNTIME, "model %s: its parameter buffer is not its gradient buffer's size",
                             d->name);
    if (c->dist->allgather(c->dist->comm, p, n, d->dtype, -1, msg, sizeof msg) != 0)
        return dist_fail(c, "gathering the parameters", msg);
    return 0;
}

static int sharded_step(ctx *c, void *g, size_t n, double *loss)
{
    char msg[sizeof c->err.msg - 64];
    int rc;
    msg[0] = 0;
    if (c->dist->reduce_scatter_mean(c->dist->comm, g, n, c->d->dtype, msg, sizeof msg) != 0)
        return dist_fail(c, "reduce-scattering the gradients", msg);
    if ((rc = mean(c, loss, 1, NNRT_F64, "loss")) != 0 || !isfinite(*loss))
        return rc;
    return sharded_update(c, n);
}

int nnrti_tr_dist_step(ctx *c, double *loss)
{
    size_t n = 0;
    void *g;
    int rc;
    if (c->bucket)
        return bucketed_step(c, loss);
    if ((rc = rank_pass(c, loss)) != 0)
        return rc;
    g = c->d->grads(c->m, &n);
    if (!g)
        return nnrti_tr_model_fail(c, "grads");
    if (c->shard)
        return sharded_step(c, g, n, loss);
    if ((rc = mean(c, g, n, c->d->dtype, "gradients")) != 0 || (rc = mean(c, loss, 1, NNRT_F64, "loss")) != 0)
        return rc;
    if (!isfinite(*loss)) /* as train_step: nothing is updated, the caller stops */
        return 0;
    if (c->d->update(c->m))
        return nnrti_tr_model_fail(c, "update");
    return 0;
}

/* Sharded: every rank's slice of each optimizer buffer onto rank 0. */
int nnrti_tr_dist_gather_state(ctx *c)
{
    char msg[sizeof c->err.msg - 64];
    size_t n = 0;
    void *s;
    for (int k = 0; (s = c->d->opt_state(c->m, k, &n)) != NULL; k++) {
        msg[0] = 0;
        if (c->dist->allgather(c->dist->comm, s, n, c->d->dtype, 0, msg, sizeof msg) != 0)
            return dist_fail(c, "gathering the optimizer state", msg);
    }
    return 0;
}

#ifdef __linux__
static size_t page(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p : 4096;
}

/* The whole pages in bytes [lo, hi) of p back to the system. */
static void give_back(char *p, size_t lo, size_t hi)
{
    size_t pg = page();
    uintptr_t a = ((uintptr_t)p + lo + pg - 1) / pg * pg, b = ((uintptr_t)p + hi) / pg * pg;
    if (b > a)
        madvise((void *)a, b - a, MADV_DONTNEED);
}

/* Bytes of the pages of [p, p + n) in memory, -1 if unknown. */
static double resident(const char *p, size_t n)
{
    size_t pg = page(), i, in = 0;
    uintptr_t a = (uintptr_t)p / pg * pg, b = ((uintptr_t)p + n + pg - 1) / pg * pg;
    unsigned char *v = malloc((b - a) / pg + 1);
    if (!v || mincore((void *)a, b - a, v) != 0) {
        free(v);
        return -1;
    }
    for (i = 0; i < (b - a) / pg; i++)
        in += v[i] & 1;
    free(v);
    return (double)(in * pg);
}
#else
static void give_back(char *p, size_t lo, size_t hi)
{
    (void)p, (void)lo, (void)hi;
}

static double resident(const char *p, size_t n)
{
    (void)p, (void)n;
    return -1;
}
#endif

void nnrti_tr_dist_release(ctx *c)
{
    size_t n = 0, lo, hi, e = esize(c);
    char *s;
    if (!c->shard)
        return;
    for (int k = 0; (s = c->d->opt_state(c->m, k, &n)) != NULL; k++) {
        nnrt_dist_slice(n, c->dist->size, c->dist->rank, &lo, &hi);
        give_back(s, 0, lo * e);
        give_back(s, hi * e, n * e);
    }
}

/* MB of the optimizer state in memory (-1: unknown), and *all its size. */
static double state_mb(const ctx *c, double *all)
{
    size_t n = 0;
    double in = 0, r;
    char *s;
    *all = 0;
    for (int k = 0; c->d->opt_state && (s = c->d->opt_state(c->m, k, &n)) != NULL; k++) {
        *all += (double)(n * esize(c)) / 1e6;
        r = resident(s, n * esize(c));
        in = in < 0 || r < 0 ? -1 : in + r / 1e6;
    }
    return in > *all ? *all : in; /* the pages at the ends hold neighbours too */
}

/* Can the model and the transport do what the options ask? */
static int dist_can(ctx *c)
{
    const nnrt_model_desc *d = c->d;
    const nnrt_dist *t = c->dist;
    int upd = d->grad_sumsq && d->update_range && d->update_end;
    if (c->shard && (!upd || !d->opt_state || !d->params))
        return nnrti_tr_fail(c, EXIT_RUNTIME, "model %s cannot shard its optimizer (no update_range)", d->name);
    if (c->shard && (!t->reduce_scatter_mean || !t->allgather || !t->chain))
        return nnrti_tr_fail(c, EXIT_RUNTIME, "--shard-optimizer: the transport has no reduce-scatter and gather");
    if (c->bucket && !c->shard && !upd)
        return nnrti_tr_fail(c, EXIT_RUNTIME, "model %s cannot update by buckets (no update_range)", d->name);
    if (c->bucket && (!t->iallreduce_mean || !t->wait || (c->shard && !t->ireduce_scatter_mean)))
        return nnrti_tr_fail(c, EXIT_RUNTIME, "--bucket-mb: the transport has no non-blocking all-reduce%s",
                             c->shard ? " or reduce-scatter" : "");
    if (c->overlap && !d->set_grad_ready)
        return nnrti_tr_fail(c, EXIT_RUNTIME, "model %s cannot start buckets during its backward pass (--overlap: it "
                             "has no set_grad_ready)", d->name);
    return 0;
}

int nnrti_tr_dist_start(ctx *c)
{
    size_t n = 0, e = esize(c);
    int N = nnrti_tr_ranks(c), rc;
    double all, in;
    if (N == 1)
        return 0;
    if ((rc = dist_can(c)) != 0)
        return rc;
    c->d->grads(c->m, &n);
    nnrti_tr_dist_release(c);
    in = state_mb(c, &all);
    printf("%d ranks%s%s%s: per rank %.2f MB parameters + %.2f MB gradients + optimizer state ", N,
           c->shard ? ", sharded optimizer" : "", c->bucket ? ", buckets" : "", c->overlap ? " overlapped" : "",
           (double)(n * e) / 1e6, (double)(n * e) / 1e6);
    if (in >= 0)
        printf("%.2f MB in memory of %.2f MB", in, all);
    else
        printf("%.2f MB", c->shard ? all / N : all);
    printf("; %.2f MB per all-reduce\n", (double)(n * e) / 1e6);
    return 0;
}
