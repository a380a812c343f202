/* nnrt_cuda.h — the CUDA side of libnnrt (libnnrt_cuda.a), for code that
 * `nnc --target cuda` generates. CUDA C++ only (nvcc).
 *
 *   nnrt_cu_exec        what a kernel launcher needs: the stream, the cuBLAS
 *                       handle, and a buffer naming the call that failed
 *   nnrt_cu_check       turn a cudaError_t into an nnrt status, recording
 *   nnrt_cu_blas_check  "what: reason" in ex->err (no globals)
 *   NNRT_CU_LAUNCHED    check a kernel launch (cudaGetLastError)
 *   nnrt_warp_* / nnrt_block_*   deterministic reductions for kernels
 *
 * Reductions are fixed trees: the same inputs in the same launch
 * configuration give bitwise the same result on every run (no atomics).
 */
#ifndef NNRT_CUDA_H
#define NNRT_CUDA_H

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "nnrt.h"

/* The execution context of one model: kernels are enqueued on stream;
 * matrix products go through blas (bound to the same stream and to a
 * workspace of the model's own, so capturing a CUDA Graph allocates
 * nothing). err holds "call: reason" of the last failure. */
typedef struct nnrt_cu_exec {
    cudaStream_t stream;
    cublasHandle_t blas;
    char err[160];
    void *workspace;        /* cuBLAS workspace (device), workspace_bytes long */
    size_t workspace_bytes;
} nnrt_cu_exec;

/* Bytes of cuBLAS workspace a model sets aside in its device block. */
#define NNRT_CU_WORKSPACE_BYTES ((size_t)4 << 20)

/* NNRT_OK when e is cudaSuccess; otherwise NNRT_ERR_CUDA with
 * "what: <CUDA's message>" in ex->err. */
int nnrt_cu_check(nnrt_cu_exec *ex, cudaError_t e, const char *what);
/* The same for a cuBLAS status. */
int nnrt_cu_blas_check(nnrt_cu_exec *ex, cublasStatus_t s, const char *what);
/* Check the launch just made (bad configuration, no device, ...). */
#define NNRT_CU_LAUNCHED(ex, what) nnrt_cu_check((ex), cudaGetLastError(), (what))

/* Create the stream (non-blocking) and the cuBLAS handle (default math:
 * no TF32), with the workspace given. On failure everything created so far
 * is destroyed and the reason is in ex->err. */
int nnrt_cu_exec_init(nnrt_cu_exec *ex, void *workspace, size_t workspace_bytes);
/* Destroy what nnrt_cu_exec_init created (safe on a zeroed ex). */
void nnrt_cu_exec_destroy(nnrt_cu_exec *ex);
/* Make stream the one kernels and cuBLAS use (cublasSetStream resets the
 * workspace, so it is set again). A NULL stream means the model's own. */
int nnrt_cu_use_stream(nnrt_cu_exec *ex, cudaStream_t stream, cudaStream_t own);

/* Range check of index inputs (class labels, token ids) on the device,
 * for callers that hand device pointers: every ids[i] outside [0, bound)
 * is replaced by 0 in place (so no kernel reads out of bounds), and the
 * first bad one is recorded in rec[0..3] = {check + 1, i, value, 0} unless
 * rec already holds an earlier failure. Never synchronizes. */
int nnrt_cu_check_index(nnrt_cu_exec *ex, int32_t *ids, long long n, int bound, int check, int32_t *rec);

/* ---- device reductions -------------------------------------------------- */
#ifdef __CUDACC__

/* Sum / max over the 32 lanes of a full warp (all lanes must call); every
 * lane gets the same bits (a butterfly: each step adds the same pair). */
__device__ __forceinline__ float nnrt_warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ double nnrt_warp_sum(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float nnrt_warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) {
        float w = __shfl_xor_sync(0xffffffffu, v, o);
        v = w > v ? w : v;
    }
    return v;
}
__device__ __forceinline__ double nnrt_warp_max(double v) {
    for (int o = 16; o > 0; o >>= 1) {
        double w = __shfl_xor_sync(0xffffffffu, v, o);
        v = w > v ? w : v;
    }
    return v;
}

/* Sum / max over the block: blockDim.x a multiple of 32, at most 1024, 1-D
 * blocks; every thread calls it; shm is a __shared__ array of 32 of v's
 * type (it may be reused by the next call). Returns the result to every
 * thread. Order: warps reduce their lanes, warp 0 reduces the warps. */
template <typename T> __device__ __forceinline__ T nnrt_block_reduce_(T v, T *shm, int is_max) {
    const int lane = (int)(threadIdx.x & 31u), w = (int)(threadIdx.x >> 5), nw = (int)(blockDim.x >> 5);
    v = is_max ? nnrt_warp_max(v) : nnrt_warp_sum(v);
    __syncthreads(); /* a previous call's readers of shm[0] are done */
    if (lane == 0) shm[w] = v;
    __syncthreads();
    if (w == 0) {
        T u = lane < nw ? shm[lane] : shm[0]; /* shm[0] is neutral for max; sums mask it below */
        if (!is_max && lane >= nw) u = (T)0;
        u = is_max ? nnrt_warp_max(u) : nnrt_warp_sum(u);
        if (lane == 0) shm[0] = u;
    }
    __syncthreads();
    return shm[0];
}
__device__ __forceinline__ float nnrt_block_sum(float v, float *shm) { return nnrt_block_reduce_(v, shm, 0); }
__device__ __forceinline__ double nnrt_block_sum(double v, double *shm) { return nnrt_block_reduce_(v, shm, 0); }
__device__ __forceinline__ float nnrt_block_max(float v, float *shm) { return nnrt_block_reduce_(v, shm, 1); }
__device__ __forceinline__ double nnrt_block_max(double v, double *shm) { return nnrt_block_reduce_(v, shm, 1); }

#endif /* __CUDACC__ */
#endif /* NNRT_CUDA_H */
