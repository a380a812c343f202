/* nnrt_mpi.c — libnnrt_mpi.a: the generated trainer on MPI ranks. Built with
 * mpicc, kept out of libnnrt so that libnnrt needs no MPI. nnrt_mpi_main
 * starts MPI, hands nnrt_main_dist an all-reduce over MPI_COMM_WORLD (one
 * MPI_Allreduce sum over the whole gradient buffer, then / N; no buckets,
 * no overlap with the backward pass), sends the output of ranks other than
 * 0 to /dev/null (their errors still reach stderr), and ends the whole job
 * with MPI_Abort when a rank fails, so that no rank waits for a dead one.
 * A rank killed outright is noticed by mpirun, which ends the others. A peer
 * that stops answering (stopped, hung, cut off) is caught by a watchdog
 * thread: an all-reduce that waits longer than $NNRT_MPI_TIMEOUT seconds
 * (default 300, 0 for none) ends this rank with a message, and mpirun the rest.
 */
#include "nnrt.h"

#include <mpi.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* What allreduce_mean and the watchdog share (nnrt_dist.comm). */
typedef struct mpi_link {
    MPI_Comm comm;
    int rank;
    double limit;      /* seconds an all-reduce may wait, 0 for no limit */
    pthread_mutex_t mu;
    double since;      /* the clock when the pending all-reduce began, 0 if none */
    int done;          /* the watchdog should end */
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

/* The sum over the ranks, divided by their number, in place. */
static int allreduce_mean(void *comm, void *buf, size_t n, int dtype, char *msg, size_t cap)
{
    mpi_link *l = comm;
    MPI_Datatype t = dtype == NNRT_F64 ? MPI_DOUBLE : MPI_FLOAT;
    int size = 1, rc;
    size_t i, chunk;
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
    for (i = 0; i < n; i++) {
        if (dtype == NNRT_F64)
            ((double *)buf)[i] /= size;
        else
            ((float *)buf)[i] /= (float)size;
    }
    return 0;
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

int nnrt_mpi_main(int argc, char **argv, const nnrt_model_desc *d)
{
    mpi_link l = {MPI_COMM_WORLD, 0, timeout_of_env(), PTHREAD_MUTEX_INITIALIZER, 0, 0};
    nnrt_dist dist = {0, 1, &l, allreduce_mean};
    int rc;
    if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
        fprintf(stderr, "%s: error: MPI_Init failed\n", argc > 0 ? argv[0] : "nnrt");
        return 1;
    }
    MPI_Comm_set_errhandler(l.comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(l.comm, &dist.rank);
    MPI_Comm_size(l.comm, &dist.size);
    l.rank = dist.rank;
    if (dist.rank != 0 && !freopen("/dev/null", "w", stdout))
        fprintf(stderr, "rank %d: warning: cannot silence stdout\n", dist.rank);
    rc = run(argc, argv, d, &dist, &l);
    if (rc != 0 && dist.size > 1) {
        fprintf(stderr, "rank %d of %d: exit status %d; ending every rank (MPI_Abort)\n", dist.rank, dist.size, rc);
        fflush(stderr);
        MPI_Abort(l.comm, rc);
    }
    MPI_Finalize();
    return rc;
}
