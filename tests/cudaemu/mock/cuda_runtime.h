/* cuda_runtime.h (mock) — a CPU emulation of the CUDA subset that the
 * kernels of `nnc --target cuda` use, so that g++ can compile and run the
 * emitted .cu text unchanged (after emit.c rewrites k<<<...>>>(...) into
 * emu_launch). Test harness only; never shipped.
 *
 * Every CUDA thread of a block is a fiber (ucontext) with its own stack;
 * one OS thread runs them. Blocks run one after another; inside a block
 * the fibers run round-robin, each until it finishes or waits:
 *   __syncthreads        a barrier of all threads of the block
 *   __shfl_*_sync        a barrier of the 32 lanes of the warp around an
 *                        exchange slot per thread (all 32 lanes must call,
 *                        as the full mask requires)
 * A round in which no fiber moves (a barrier some threads never reach) is
 * reported as a deadlock and aborts. __shared__ is `static`: blocks run
 * one at a time, so a function's static is that block's shared memory.
 * cuBLAS's two GEMM entry points are a reference column-major GEMM that
 * accumulates in double.
 *
 * The emulator's state (the built-in index variables and the fiber table)
 * is global, as CUDA's built-ins are; it lives only in this test harness.
 */
#ifndef EMU_CUDA_RUNTIME_H
#define EMU_CUDA_RUNTIME_H

#define __CUDACC__ 1
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <math.h>
#include <stdint.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <vector>

using std::erf;
using std::exp;
using std::expm1;
using std::isnan;
using std::log;
using std::pow;
using std::sqrt;
using std::tanh;

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
inline dim3 threadIdx, blockIdx, blockDim, gridDim;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(x)
#define __shared__ static

typedef int cudaError_t;
typedef void *cudaStream_t;
enum { cudaSuccess = 0 };
enum cudaMemcpyKind { cudaMemcpyHostToHost, cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline const char *cudaGetErrorString(cudaError_t) { return "emulated"; }
inline cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t) { memset(p, v, n); return cudaSuccess; }
inline cudaError_t cudaMemcpyAsync(void *d, const void *s, size_t n, cudaMemcpyKind, cudaStream_t) {
    memmove(d, s, n);
    return cudaSuccess;
}

namespace emu {
struct fiber {
    ucontext_t ctx;
    char *stack;
    int done;
};
struct barrier {
    int count = 0, gen = 0;
};
enum { STACK = 256 << 10 };
inline ucontext_t sched;
inline std::vector<fiber> fibers;
inline std::vector<barrier> warp_bar;
inline std::vector<uint64_t> xch;
inline barrier block_bar;
inline int cur, nthreads;
inline long progress;
inline void (*body)(void *);
inline void *body_arg;

inline void entry() {
    body(body_arg);
    fibers[cur].done = 1;
    progress++;
} /* returns through uc_link to the scheduler */

inline void yield() { swapcontext(&fibers[cur].ctx, &sched); }

inline void arrive(barrier &b, int expected) {
    progress++;
    const int g = b.gen;
    if (++b.count == expected) {
        b.count = 0;
        b.gen++;
        return;
    }
    while (b.gen == g) yield();
}

inline int tid() { return (int)(threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z)); }

inline void run_grid(dim3 g, dim3 b, void (*fn)(void *), void *arg) {
    const int nt = (int)(b.x * b.y * b.z);
    if (nt < 1 || nt > 1024 || b.z > 64) { fprintf(stderr, "emu: block of %d threads\n", nt); abort(); }
    gridDim = g, blockDim = b, nthreads = nt, body = fn, body_arg = arg;
    while ((int)fibers.size() < nt) {
        fiber f{};
        f.stack = (char *)mmap(nullptr, STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (f.stack == MAP_FAILED) { perror("emu: mmap"); abort(); }
        fibers.push_back(f);
    }
    warp_bar.assign((size_t)(nt + 31) / 32, barrier());
    xch.assign((size_t)nt, 0);
    for (unsigned bz = 0; bz < g.z; bz++)
        for (unsigned by = 0; by < g.y; by++)
            for (unsigned bx = 0; bx < g.x; bx++) {
                blockIdx = dim3(bx, by, bz);
                block_bar = barrier();
                for (int t = 0; t < nt; t++) {
                    fiber &f = fibers[(size_t)t];
                    getcontext(&f.ctx);
                    f.ctx.uc_stack.ss_sp = f.stack;
                    f.ctx.uc_stack.ss_size = STACK;
                    f.ctx.uc_link = &sched;
                    makecontext(&f.ctx, entry, 0);
                    f.done = 0;
                }
                int left = nt;
                while (left) {
                    const long before = progress;
                    for (int t = 0; t < nt; t++) {
                        fiber &f = fibers[(size_t)t];
                        if (f.done) continue;
                        cur = t;
                        threadIdx = dim3(t % b.x, t / b.x % b.y, t / (b.x * b.y));
                        swapcontext(&sched, &f.ctx);
                        if (f.done) left--;
                    }
                    if (left && progress == before) {
                        fprintf(stderr, "emu: deadlock in block (%u,%u,%u): %d of %d threads wait at a barrier\n", bx, by,
                                bz, left, nt);
                        abort();
                    }
                }
            }
}

template <typename F> void launch(dim3 g, dim3 b, F &fn) {
    run_grid(g, b, [](void *p) { (*(F *)p)(); }, &fn);
}

template <typename T> T shfl(T v, int src_lane) {
    const int t = tid(), w = t / 32;
    if ((w + 1) * 32 > nthreads) { fprintf(stderr, "emu: shuffle in a partial warp\n"); abort(); }
    memcpy(&xch[(size_t)t], &v, sizeof v);
    arrive(warp_bar[(size_t)w], 32);
    T r;
    memcpy(&r, &xch[(size_t)(w * 32 + (src_lane & 31))], sizeof r);
    arrive(warp_bar[(size_t)w], 32);
    return r;
}
} // namespace emu

template <typename F> inline void emu_launch(dim3 g, dim3 b, size_t shm, cudaStream_t, F fn) {
    if (shm) { fprintf(stderr, "emu: dynamic shared memory is not emulated\n"); abort(); }
    emu::launch(g, b, fn);
}

inline void __syncthreads() { emu::arrive(emu::block_bar, emu::nthreads); }
template <typename T> T __shfl_xor_sync(unsigned, T v, int o) { return emu::shfl(v, (emu::tid() % 32) ^ o); }
template <typename T> T __shfl_sync(unsigned, T v, int src) { return emu::shfl(v, src); }
template <typename T> T __shfl_down_sync(unsigned, T v, int d) {
    const int l = emu::tid() % 32;
    return emu::shfl(v, l + d < 32 ? l + d : l);
}
inline uint32_t __umulhi(uint32_t a, uint32_t b) { return (uint32_t)(((uint64_t)a * b) >> 32); }

/* The host API a whole generated model calls (tests/cudaemu/train.sh):
 * "device" memory is host memory, every call is synchronous, and a CUDA
 * Graph capture fails (cudaErrorNotSupported), so the model runs its work
 * eagerly as it does after a failed capture on a GPU. */
typedef void *cudaEvent_t;
typedef void *cudaGraph_t;
typedef void *cudaGraphExec_t;
struct cudaGraphExecUpdateResultInfo {
    int result;
};
enum { cudaStreamNonBlocking = 1, cudaEventDisableTiming = 2, cudaErrorMemoryAllocation = 2,
       cudaErrorNotSupported = 801 };
enum cudaStreamCaptureMode { cudaStreamCaptureModeThreadLocal };
inline const char *cudaGetErrorName(cudaError_t) { return "emulated"; }
inline cudaError_t cudaMalloc(void **p, size_t n) {
    return posix_memalign(p, 256, n ? n : 1) ? (cudaError_t)cudaErrorMemoryAllocation : (cudaError_t)cudaSuccess;
}
inline cudaError_t cudaFree(void *p) { free(p); return cudaSuccess; }
inline cudaError_t cudaMemcpy(void *d, const void *s, size_t n, cudaMemcpyKind) {
    memmove(d, s, n);
    return cudaSuccess;
}
inline cudaError_t cudaMemset(void *p, int v, size_t n) { memset(p, v, n); return cudaSuccess; }
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned) { *s = malloc(1); return cudaSuccess; }
inline cudaError_t cudaStreamDestroy(cudaStream_t s) { free(s); return cudaSuccess; }
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned) { *e = malloc(1); return cudaSuccess; }
inline cudaError_t cudaEventDestroy(cudaEvent_t e) { free(e); return cudaSuccess; }
inline cudaError_t cudaEventRecord(cudaEvent_t, cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t, unsigned) { return cudaSuccess; }
inline cudaError_t cudaStreamBeginCapture(cudaStream_t, cudaStreamCaptureMode) { return cudaErrorNotSupported; }
inline cudaError_t cudaStreamEndCapture(cudaStream_t, cudaGraph_t *) { return cudaErrorNotSupported; }
inline cudaError_t cudaGraphExecUpdate(cudaGraphExec_t, cudaGraph_t, cudaGraphExecUpdateResultInfo *) {
    return cudaErrorNotSupported;
}
inline cudaError_t cudaGraphInstantiate(cudaGraphExec_t *, cudaGraph_t, unsigned long long) {
    return cudaErrorNotSupported;
}
inline cudaError_t cudaGraphDestroy(cudaGraph_t) { return cudaSuccess; }
inline cudaError_t cudaGraphExecDestroy(cudaGraphExec_t) { return cudaSuccess; }
inline cudaError_t cudaGraphLaunch(cudaGraphExec_t, cudaStream_t) { return cudaErrorNotSupported; }

#endif /* EMU_CUDA_RUNTIME_H */
