/* nnrt_cuda.cu — libnnrt_cuda: error reporting, the execution context and
 * the device-side index check of nnrt_cuda.h. */
#include "nnrt_cuda.h"

#include <stdio.h>
#include <string.h>

int nnrt_cu_check(nnrt_cu_exec *ex, cudaError_t e, const char *what) {
    if (e == cudaSuccess) return NNRT_OK;
    if (ex) snprintf(ex->err, sizeof ex->err, "%s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
    return NNRT_ERR_CUDA;
}

int nnrt_cu_blas_check(nnrt_cu_exec *ex, cublasStatus_t s, const char *what) {
    if (s == CUBLAS_STATUS_SUCCESS) return NNRT_OK;
    if (ex) snprintf(ex->err, sizeof ex->err, "%s: %s (%s)", what, cublasGetStatusString(s), cublasGetStatusName(s));
    return NNRT_ERR_CUDA;
}

int nnrt_cu_exec_init(nnrt_cu_exec *ex, void *workspace, size_t workspace_bytes) {
    ex->stream = NULL;
    ex->blas = NULL;
    ex->err[0] = 0;
    ex->workspace = workspace;
    ex->workspace_bytes = workspace_bytes;
    int st = nnrt_cu_check(ex, cudaStreamCreateWithFlags(&ex->stream, cudaStreamNonBlocking),
                           "cudaStreamCreateWithFlags");
    if (st == NNRT_OK) st = nnrt_cu_blas_check(ex, cublasCreate(&ex->blas), "cublasCreate");
    /* full FP32 (no TF32): the CUDA build computes what the C build does */
    if (st == NNRT_OK)
        st = nnrt_cu_blas_check(ex, cublasSetMathMode(ex->blas, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
    if (st == NNRT_OK) st = nnrt_cu_use_stream(ex, NULL, ex->stream);
    if (st != NNRT_OK) {
        char keep[sizeof ex->err];
        memcpy(keep, ex->err, sizeof keep);
        nnrt_cu_exec_destroy(ex);
        memcpy(ex->err, keep, sizeof keep);
    }
    return st;
}

void nnrt_cu_exec_destroy(nnrt_cu_exec *ex) {
    if (ex->blas) cublasDestroy(ex->blas);
    if (ex->stream) cudaStreamDestroy(ex->stream);
    ex->blas = NULL;
    ex->stream = NULL;
}

int nnrt_cu_use_stream(nnrt_cu_exec *ex, cudaStream_t stream, cudaStream_t own) {
    ex->stream = stream ? stream : own;
    int st = nnrt_cu_blas_check(ex, cublasSetStream(ex->blas, ex->stream), "cublasSetStream");
    if (st == NNRT_OK && ex->workspace)
        st = nnrt_cu_blas_check(ex, cublasSetWorkspace(ex->blas, ex->workspace, ex->workspace_bytes),
                                "cublasSetWorkspace");
    return st;
}

/* One block: each thread scans a fixed stride of ids, clamps bad ones and
 * keeps its first bad position and value; a block min (a fixed tree over
 * distinct positions) picks the first overall, whose owner records it. */
static __global__ void nnrt_check_index_k(int32_t *ids, long long n, int bound, int check, int32_t *rec) {
    __shared__ long long first[1024];
    long long mine = n;
    int32_t bad = 0;
    for (long long i = threadIdx.x; i < n; i += blockDim.x) {
        int32_t v = ids[i];
        if (v < 0 || v >= bound) {
            if (mine == n) mine = i, bad = v;
            ids[i] = 0;
        }
    }
    first[threadIdx.x] = mine;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s && first[threadIdx.x + s] < first[threadIdx.x]) first[threadIdx.x] = first[threadIdx.x + s];
        __syncthreads();
    }
    if (mine < n && mine == first[0] && rec[0] == 0) {
        rec[0] = check + 1;
        rec[1] = (int32_t)mine;
        rec[2] = bad;
    }
}

int nnrt_cu_check_index(nnrt_cu_exec *ex, int32_t *ids, long long n, int bound, int check, int32_t *rec) {
    if (n <= 0) return NNRT_OK;
    /* a power of two, so the tree halves evenly */
    unsigned threads = 32;
    while (threads < 1024 && threads < n) threads *= 2;
    nnrt_check_index_k<<<1, threads, 0, ex->stream>>>(ids, n, bound, check, rec);
    return NNRT_CU_LAUNCHED(ex, "nnrt_cu_check_index");
}
