/* nnrt_mpi.c — libnnrt_mpi.a: the generated trainer on MPI ranks. Built with
 * mpicc, kept out of libnnrt so that libnnrt needs no MPI. nnrt_mpi_main
 * starts MPI, hands nnrt_main_dist an all-reduce over MPI_COMM_WORLD (one
 * MPI_Allreduce sum over the whole gradient buffer, then / N), the
 * non-blocking one per bucket (MPI_Iallreduce; Open MPI moves it on inside
 * MPI calls only, so it overlaps the update of the earlier buckets as far
 * as the network and MPI_Wait move it), the sharded optimizer's
 * MPI_Reduce_scatter (MPI_Ireduce_scatter per bucket), MPI_Allgatherv/MPI_Gatherv and the norm passed along
 * the ranks (MPI_Send, MPI_Recv, MPI_Bcast), sends the output of ranks other than
 * 0 to /dev/null (their errors still reach stderr), and ends the whole job
 * with MPI_Abort when a rank fails, so that no rank waits for a dead one.
 * A rank killed outright is noticed by mpirun, which ends the others. A peer
 * that stops answering (stopped, hung, cut off) is caught by a watchdog
 * thread: an all-reduce that waits longer than $NNRT_MPI_TIMEOUT seconds
 * (default 300, 0 for none) ends this rank with a message, and mpirun the rest.
 */
#include "nnrt.h"

#include <mpi.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef NNRT_NCCL
#include <cuda_runtime.h>
#include <nccl.h>
#endif

/* What allreduce_mean and the watchdog share (nnrt_dist.comm). */
typedef struct mpi_link {
    MPI_Comm comm;
    int rank;
    double limit;      /* seconds an all-reduce may wait, 0 for no limit */
    pthread_mutex_t mu;
    double since;      /* the clock when the pending all-reduce began, 0 if none */
    int done;          /* the watchdog should end */
    void *slice;       /* reduce_scatter_mean's receive buffer (malloc'd, grows), NULL before the first */
    size_t slice_cap;  /* its bytes */
#ifdef NNRT_NCCL
    ncclComm_t nccl;     /* over the same ranks, NULL before it is made */
    cudaStream_t stream; /* where ncclAllReduce runs */
#endif
} mpi_link;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Every 0.1 s: has the pending all-reduce waited too long? */
static void *watchdog(void *arg)
{
    mpi_link *l = arg;
    struct timespec tick = {0, 100000000};
    for (;;) {
        pthread_mutex_lock(&l->mu);
        double since = l->since;
        int done = l->done;
        pthread_mutex_unlock(&l->mu);
        if (done)
            return NULL;
        if (since > 0 && now() - since > l->limit) {
            fprintf(stderr, "rank %d: error: no answer from the other ranks for %g s in MPI_Allreduce (a rank "
                            "stopped or hung?); ending this rank (NNRT_MPI_TIMEOUT=%g)\n", l->rank, l->limit, l->limit);
            fflush(stderr);
            _exit(1); /* mpirun then ends every rank */
        }
        nanosleep(&tick, NULL);
    }
}

static void mark(mpi_link *l, double since)
{
    pthread_mutex_lock(&l->mu);
    l->since = since;
    pthread_mutex_unlock(&l->mu);
}

/* MPI's message for an error code, into msg. */
static void mpi_msg(int code, const char *what, char *msg, size_t cap)
{
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(code, s, &len) != MPI_SUCCESS)
        len = 0;
    s[len] = 0;
    snprintf(msg, cap, "%s: %s", what, len ? s : "unknown MPI error");
}

static MPI_Datatype type_of(int dtype)
{
    return dtype == NNRT_F64 ? MPI_DOUBLE : MPI_FLOAT;
}

static size_t size_of(int dtype)
{
    return dtype == NNRT_F64 ? 8 : 4;
}

static void divide(void *buf, size_t n, int dtype, int size)
{
    for (size_t i = 0; i < n; i++) {
        if (dtype == NNRT_F64)
            ((double *)buf)[i] /= size;
        else
            ((float *)buf)[i] /= (float)size;
    }
}

/* The sum over the ranks, divided by their number, in place. */
#ifdef NNRT_NCCL
/* 1 if p is device memory (the CUDA model's gradients), 0 for host memory. */
static int on_device(const void *p)
{
    struct cudaPointerAttributes a;
    if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
        cudaGetLastError(); /* a plain host pointer on old runtimes */
        return 0;
    }
    return a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged;
}

/* The mean over the ranks of a device buffer, in place: ncclAllReduce
 * (ncclAvg) on l->stream, waited for under the watchdog. */
static int nccl_mean(mpi_link *l, void *buf, size_t n, int dtype, char *msg, size_t cap)
{
    ncclResult_t r;
    cudaError_t e;
    mark(l, now());
    r = ncclAllReduce(buf, buf, n, dtype == NNRT_F64 ? ncclFloat64 : ncclFloat32, ncclAvg, l->nccl, l->stream);
    e = r == ncclSuccess ? cudaStreamSynchronize(l->stream) : cudaSuccess;
    mark(l, 0);
    if (r != ncclSuccess)
        snprintf(msg, cap, "ncclAllReduce: %s", ncclGetErrorString(r));
    else if (e != cudaSuccess)
        snprintf(msg, cap, "ncclAllReduce: %s", cudaGetErrorString(e));
    return r != ncclSuccess || e != cudaSuccess;
}
#endif

static int allreduce_mean(void *comm, void *buf, size_t n, int dtype, char *msg, size_t cap)
{
    mpi_link *l = comm;
    MPI_Datatype t = dtype == NNRT_F64 ? MPI_DOUBLE : MPI_FLOAT;
    int size = 1, rc;
    size_t i, chunk;
#ifdef NNRT_NCCL
    if (on_device(buf))
        return nccl_mean(l, buf, n, dtype, msg, cap);
#endif
    MPI_Comm_size(l->comm, &size);
    for (i = 0; i < n; i += chunk) { /* MPI counts are int */
        chunk = n - i < (size_t)1 << 30 ? n - i : (size_t)1 << 30;
        mark(l, now());
        rc = MPI_Allreduce(MPI_IN_PLACE, (char *)buf + i * (dtype == NNRT_F64 ? 8 : 4), (int)chunk, t, MPI_SUM,
                           l->comm);
        mark(l, 0);
        if (rc != MPI_SUCCESS) {
            mpi_msg(rc, "MPI_Allreduce", msg, cap);
            return 1;
        }
    }
    divide(buf, n, dtype, size);
    return 0;
}

/* A non-blocking all-reduce or reduce-scatter in flight (*req of
 * iallreduce_mean, ireduce_scatter_mean): the n sums in buf are divided
 * when it ends, then (a reduce-scatter) copied to dst and buf, counts freed. */
typedef struct pending {
    MPI_Request req;
    void *buf;
    size_t n;
    int dtype;
    void *dst;   /* NULL for an all-reduce (in place) */
    int *counts; /* a reduce-scatter's receive counts, kept until it ends */
} pending;

static int iallreduce_mean(void *comm, void *buf, size_t n, int dtype, void **req, char *msg, size_t cap)
{
    mpi_link *l = comm;
    pending *p;
    int rc;
    *req = NULL;
    if (n > INT_MAX) {
        snprintf(msg, cap, "a bucket of %zu elements is over MPI's int count; use a smaller --bucket-mb", n);
        return 1;
    }
    if (!(p = malloc(sizeof *p))) {
        snprintf(msg, cap, "out of memory");
        return 1;
    }
    p->buf = buf, p->n = n, p->dtype = dtype, p->dst = NULL, p->counts = NULL;
    rc = MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, type_of(dtype), MPI_SUM, l->comm, &p->req);
    if (rc != MPI_SUCCESS) {
        free(p);
        mpi_msg(rc, "MPI_Iallreduce", msg, cap);
        return 1;
    }
    *req = p;
    return 0;
}

static int wait_mean(void *comm, void *req, char *msg, size_t cap)
{
    mpi_link *l = comm;
    pending *p = req;
    int size = 1, rc;
    MPI_Comm_size(l->comm, &size);
    mark(l, now());
    rc = MPI_Wait(&p->req, MPI_STATUS_IGNORE);
    mark(l, 0);
    if (rc == MPI_SUCCESS)
        divide(p->buf, p->n, p->dtype, size);
    else
        mpi_msg(rc, "MPI_Wait (all-reduce of a bucket)", msg, cap);
    if (p->dst) {
        if (rc == MPI_SUCCESS)
            memcpy(p->dst, p->buf, p->n * size_of(p->dtype));
        free(p->buf);
        free(p->counts);
    }
    free(p);
    return rc != MPI_SUCCESS;
}

/* The int counts and displacements of every rank's slice (nnrt_dist_slice). */
static int *slices(mpi_link *l, size_t n, int *size, char *msg, size_t cap)
{
    int *cd;
    MPI_Comm_size(l->comm, size);
    if (n > INT_MAX) {
        snprintf(msg, cap, "%zu elements are over MPI's int count", n);
        return NULL;
    }
    if (!(cd = malloc(sizeof *cd * 2 * (size_t)*size))) {
        snprintf(msg, cap, "out of memory");
        return NULL;
    }
    for (int r = 0; r < *size; r++) {
        size_t lo, hi;
        nnrt_dist_slice(n, *size, r, &lo, &hi);
        cd[r] = (int)(hi - lo), cd[*size + r] = (int)lo;
    }
    return cd;
}

/* The part of every rank's slice in [lo, hi) (cd: counts, displacements
 * from slices) as counts, into cd itself. */
static void clip_counts(int *cd, int size, size_t lo, size_t hi)
{
    for (int r = 0; r < size; r++) {
        size_t a = (size_t)cd[size + r], b = a + (size_t)cd[r];
        a = a > lo ? a : lo, b = b < hi ? b : hi;
        cd[r] = b > a ? (int)(b - a) : 0;
    }
}

/* MPI_Ireduce_scatter of buf[lo, hi) into a buffer of its own; wait_mean
 * divides it and copies it to this rank's slice. */
static int ireduce_scatter_mean(void *comm, void *buf, size_t n, size_t lo, size_t hi, int dtype, void **req,
                                char *msg, size_t cap)
{
    mpi_link *l = comm;
    int size, rc = MPI_ERR_NO_MEM, *cd = slices(l, n, &size, msg, cap);
    size_t e = size_of(dtype), mine;
    pending *p = NULL;
    *req = NULL;
    if (!cd)
        return 1;
    mine = (size_t)cd[size + l->rank] > lo ? (size_t)cd[size + l->rank] : lo;
    clip_counts(cd, size, lo, hi);
    if ((p = calloc(1, sizeof *p)) != NULL && (p->buf = malloc(cd[l->rank] ? (size_t)cd[l->rank] * e : 1)) != NULL) {
        p->n = (size_t)cd[l->rank], p->dtype = dtype, p->dst = (char *)buf + mine * e, p->counts = cd;
        rc = MPI_Ireduce_scatter((char *)buf + lo * e, p->buf, cd, type_of(dtype), MPI_SUM, l->comm, &p->req);
    }
    if (rc == MPI_SUCCESS) {
        *req = p;
        return 0;
    }
    if (rc == MPI_ERR_NO_MEM)
        snprintf(msg, cap, "out of memory");
    else
        mpi_msg(rc, "MPI_Ireduce_scatter", msg, cap);
    free(p ? p->buf : NULL), free(p), free(cd);
    return 1;
}

/* l->slice with room for bytes, or NULL. */
static void *slice_buf(mpi_link *l, size_t bytes)
{
    void *p;
    if (bytes <= l->slice_cap)
        return l->slice;
    if (!(p = realloc(l->slice, bytes)))
        return NULL;
    l->slice = p, l->slice_cap = bytes;
    return p;
}

/* The sums into a buffer of their own, then into this rank's slice: buf
 * is only read elsewhere, so what the model never writes (the padding
 * between parameters) stays as it was. */
static int reduce_scatter_mean(void *comm, void *buf, size_t n, int dtype, char *msg, size_t cap)
{
    mpi_link *l = comm;
    int size, rc = MPI_ERR_NO_MEM, *cd = slices(l, n, &size, msg, cap);
    size_t bytes;
    void *tmp;
    if (!cd)
        return 1;
    bytes = (size_t)cd[l->rank] * size_of(dtype);
    if ((tmp = slice_buf(l, bytes ? bytes : 1)) != NULL) {
        mark(l, now());
        rc = MPI_Reduce_scatter(buf, tmp, cd, type_of(dtype), MPI_SUM, l->comm);
        mark(l, 0);
    }
    if (rc == MPI_SUCCESS) {
        divide(tmp, (size_t)cd[l->rank], dtype, size);
        memcpy((char *)buf + (size_t)cd[size + l->rank] * size_of(dtype), tmp, bytes);
    } else {
        mpi_msg(rc, "MPI_Reduce_scatter", msg, cap);
    }
    free(cd);
    return rc != MPI_SUCCESS;
}

static int allgather(void *comm, void *buf, size_t n, int dtype, int root, char *msg, size_t cap)
{
    mpi_link *l = comm;
    int size, rc, *cd = slices(l, n, &size, msg, cap);
    void *mine;
    if (!cd)
        return 1;
    mine = (char *)buf + (size_t)cd[size + l->rank] * size_of(dtype);
    mark(l, now());
    if (root < 0)
        rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, cd, cd + size, type_of(dtype), l->comm);
    else if (l->rank == root)
        rc = MPI_Gatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, cd, cd + size, type_of(dtype), root, l->comm);
    else
        rc = MPI_Gatherv(mine, cd[l->rank], type_of(dtype), NULL, NULL, NULL, type_of(dtype), root, l->comm);
    mark(l, 0);
    if (rc != MPI_SUCCESS)
        mpi_msg(rc, root < 0 ? "MPI_Allgatherv" : "MPI_Gatherv", msg, cap);
    free(cd);
    return rc != MPI_SUCCESS;
}

/* *acc through f on rank 0, 1, ... in turn, the result broadcast. */
static int chain(void *comm, double *acc, double (*f)(void *arg, double acc), void *arg, char *msg, size_t cap)
{
    mpi_link *l = comm;
    int size = 1, rc = MPI_SUCCESS;
    MPI_Comm_size(l->comm, &size);
    mark(l, now());
    if (l->rank > 0)
        rc = MPI_Recv(acc, 1, MPI_DOUBLE, l->rank - 1, 0, l->comm, MPI_STATUS_IGNORE);
    if (rc == MPI_SUCCESS) {
        *acc = f(arg, *acc);
        if (l->rank + 1 < size)
            rc = MPI_Send(acc, 1, MPI_DOUBLE, l->rank + 1, 0, l->comm);
    }
    if (rc == MPI_SUCCESS)
        rc = MPI_Bcast(acc, 1, MPI_DOUBLE, size - 1, l->comm);
    mark(l, 0);
    if (rc != MPI_SUCCESS)
        mpi_msg(rc, "passing the gradient norm along the ranks", msg, cap);
    return rc != MPI_SUCCESS;
}

/* $NNRT_MPI_TIMEOUT, else 300 s; 0 turns the watchdog off. */
static double timeout_of_env(void)
{
    const char *s = getenv("NNRT_MPI_TIMEOUT");
    char *end = NULL;
    double v = s && *s ? strtod(s, &end) : 300;
    return end && (*end || v < 0) ? 300 : v;
}

/* The run on this rank, the watchdog beside it when there are several. */
static int run(int argc, char **argv, const nnrt_model_desc *d, nnrt_dist *dist, mpi_link *l)
{
    pthread_t th;
    int watching = dist->size > 1 && l->limit > 0, rc;
    if (watching && pthread_create(&th, NULL, watchdog, l) != 0) {
        fprintf(stderr, "rank %d: warning: no watchdog thread; a stopped rank is not noticed\n", dist->rank);
        watching = 0;
    }
    rc = nnrt_main_dist(argc, argv, d, dist);
    if (watching) {
        pthread_mutex_lock(&l->mu);
        l->done = 1;
        pthread_mutex_unlock(&l->mu);
        pthread_join(th, NULL);
    }
    return rc;
}

#ifdef NNRT_NCCL
/* This rank's GPU (the node-local rank modulo the GPUs) and the NCCL
 * communicator, its unique id broadcast from rank 0 over MPI. */
static int nccl_start(mpi_link *l, int size, char *msg, size_t cap)
{
    MPI_Comm node;
    ncclUniqueId id;
    ncclResult_t r = ncclSuccess;
    int local = 0, gpus = 0;
    if (MPI_Comm_split_type(l->comm, MPI_COMM_TYPE_SHARED, l->rank, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
        MPI_Comm_rank(node, &local);
        MPI_Comm_free(&node);
    }
    if (cudaGetDeviceCount(&gpus) != cudaSuccess || gpus < 1)
        return snprintf(msg, cap, "no CUDA device"), 1;
    if (cudaSetDevice(local % gpus) != cudaSuccess || cudaStreamCreate(&l->stream) != cudaSuccess)
        return snprintf(msg, cap, "cannot use CUDA device %d", local % gpus), 1;
    if (l->rank == 0)
        r = ncclGetUniqueId(&id);
    if (r != ncclSuccess)
        return snprintf(msg, cap, "ncclGetUniqueId: %s", ncclGetErrorString(r)), 1;
    if (MPI_Bcast(&id, (int)sizeof id, MPI_BYTE, 0, l->comm) != MPI_SUCCESS)
        return snprintf(msg, cap, "broadcasting the NCCL id failed"), 1;
    if ((r = ncclCommInitRank(&l->nccl, size, id, l->rank)) != ncclSuccess)
        return snprintf(msg, cap, "ncclCommInitRank: %s", ncclGetErrorString(r)), 1;
    return 0;
}

static void nccl_end(mpi_link *l)
{
    if (l->nccl)
        ncclCommDestroy(l->nccl);
    if (l->stream)
        cudaStreamDestroy(l->stream);
}
#endif

/* After MPI_Init: the ranks, the transport, the run, the end. */
static int mpi_run(int argc, char **argv, const nnrt_model_desc *d, mpi_link *l, nnrt_dist *dist)
{
    int rc = 0;
    MPI_Comm_set_errhandler(l->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(l->comm, &dist->rank);
    MPI_Comm_size(l->comm, &dist->size);
    l->rank = dist->rank;
#ifdef NNRT_NCCL
    char msg[256];
    if (nccl_start(l, dist->size, msg, sizeof msg) != 0) {
        fprintf(stderr, "rank %d: error: %s\n", dist->rank, msg);
        rc = 1;
    }
#endif
    if (rc == 0 && dist->rank != 0 && !freopen("/dev/null", "w", stdout))
        fprintf(stderr, "rank %d: warning: cannot silence stdout\n", dist->rank);
    if (rc == 0)
        rc = run(argc, argv, d, dist, l);
    free(l->slice);
#ifdef NNRT_NCCL
    nccl_end(l);
#endif
    if (rc != 0 && dist->size > 1) {
        fprintf(stderr, "rank %d of %d: exit status %d; ending every rank (MPI_Abort)\n", dist->rank, dist->size, rc);
        fflush(stderr);
        MPI_Abort(l->comm, rc);
    }
    MPI_Finalize();
    return rc;
}

#ifdef NNRT_NCCL
int nnrt_nccl_main(int argc, char **argv, const nnrt_model_desc *d)
{
    mpi_link l = {MPI_COMM_WORLD, 0, timeout_of_env(), PTHREAD_MUTEX_INITIALIZER, 0, 0, NULL, 0, NULL, NULL};
    /* device buffers by NCCL, host ones (the loss; a C model's all) by MPI */
    nnrt_dist dist = {0, 1, &l, allreduce_mean, iallreduce_mean, wait_mean, reduce_scatter_mean, allgather, chain, 1,
                     ireduce_scatter_mean};
#else
int nnrt_mpi_main(int argc, char **argv, const nnrt_model_desc *d)
{
    mpi_link l = {MPI_COMM_WORLD, 0, timeout_of_env(), PTHREAD_MUTEX_INITIALIZER, 0, 0, NULL, 0};
    nnrt_dist dist = {0, 1, &l, allreduce_mean, iallreduce_mean, wait_mean, reduce_scatter_mean, allgather, chain, 0,
                     ireduce_scatter_mean};
#endif
    if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
        fprintf(stderr, "%s: error: MPI_Init failed\n", argc > 0 ? argv[0] : "nnrt");
        return 1;
    }
    return mpi_run(argc, argv, d, &l, &dist);
}
