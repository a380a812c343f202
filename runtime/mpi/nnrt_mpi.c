/* nnrt_mpi.c — libnnrt_mpi.a: the generated trainer on MPI ranks. Built with
 * mpicc, kept out of libnnrt so that libnnrt needs no MPI. nnrt_mpi_main
 * starts MPI, hands nnrt_main_dist an all-reduce over MPI_COMM_WORLD (one
 * MPI_Allreduce sum over the whole gradient buffer, then / N; no buckets,
 * no overlap with the backward pass), sends the output of ranks other than
 * 0 to /dev/null (their errors still reach stderr), and ends the whole job
 * with MPI_Abort when a rank fails, so that no rank waits for a dead one.
 * A rank killed outright is noticed by mpirun, which ends the others.
 */
#include "nnrt.h"

#include <mpi.h>
#include <stdio.h>

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
    MPI_Comm w = *(MPI_Comm *)comm;
    MPI_Datatype t = dtype == NNRT_F64 ? MPI_DOUBLE : MPI_FLOAT;
    int size = 1, rc;
    size_t i, chunk;
    MPI_Comm_size(w, &size);
    for (i = 0; i < n; i += chunk) { /* MPI counts are int */
        chunk = n - i < (size_t)1 << 30 ? n - i : (size_t)1 << 30;
        rc = MPI_Allreduce(MPI_IN_PLACE, (char *)buf + i * (dtype == NNRT_F64 ? 8 : 4), (int)chunk, t, MPI_SUM, w);
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

int nnrt_mpi_main(int argc, char **argv, const nnrt_model_desc *d)
{
    MPI_Comm w = MPI_COMM_WORLD;
    nnrt_dist dist = {0, 1, &w, allreduce_mean};
    int rc;
    if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
        fprintf(stderr, "%s: error: MPI_Init failed\n", argc > 0 ? argv[0] : "nnrt");
        return 1;
    }
    MPI_Comm_set_errhandler(w, MPI_ERRORS_RETURN);
    MPI_Comm_rank(w, &dist.rank);
    MPI_Comm_size(w, &dist.size);
    if (dist.rank != 0 && !freopen("/dev/null", "w", stdout))
        fprintf(stderr, "rank %d: warning: cannot silence stdout\n", dist.rank);
    rc = nnrt_main_dist(argc, argv, d, &dist);
    if (rc != 0 && dist.size > 1) {
        fprintf(stderr, "rank %d of %d: exit status %d; ending every rank (MPI_Abort)\n", dist.rank, dist.size, rc);
        fflush(stderr);
        MPI_Abort(w, rc);
    }
    MPI_Finalize();
    return rc;
}
