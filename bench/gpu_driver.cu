/* bench/gpu_driver.cu — runs one nnc-generated CUDA model for bench/gpu.py.
 *
 * Compiled once per model with its header forced in (gpu.py does this):
 *
 *   nvcc -std=c++17 -O2 -gencode arch=compute_90,code=[sm_90,compute_90] \
 *       -Iruntime -Iruntime/cuda -I<dir> -DMODEL=bm_gpt -include <dir>/bm_gpt.h \
 *       bench/gpu_driver.cu <dir>/bm_gpt.o libnnrt_cuda.a libnnrt.a -lcublas -lm
 *
 * The model must have one input and one target (checked at compile time):
 * a training step is P_train_step_dev(m, stream, x, y, loss) on device
 * pointers. Data: for io tensor i (P_io_info order: input, target) the file
 * DATA.io<i>.bin holds NB batches back to back (float32 or int32); all NB
 * batches are copied to the device once, and step k uses batch k mod NB.
 *
 * Commands (exit status 0 ok, 1 error, 2 usage):
 *   gpu_driver device
 *       the current device's properties (cudaGetDeviceProperties and
 *       cudaDeviceGetAttribute), one "key value" line each.
 *   gpu_driver ceilings
 *       measures two ceilings on random data: a device-to-device copy of
 *       1 GiB (bytes read + written per second) and cublasSgemm 8192^3 with
 *       CUBLAS_DEFAULT_MATH (float32 FMA, no TF32); medians of 10 after 3
 *       warm-up calls, timed with CUDA events.
 *   gpu_driver run SEED DATA NB W.safetensors WARM_S MIN_S REPS
 *       P_create(SEED), P_save(W) (the initial weights PyTorch loads), then
 *       three training steps on batches 0, 1 and 2 mod NB ("loss0 L" ..
 *       "loss2 L": the loss each step computed before its update; the first
 *       runs eagerly, the second is captured as a CUDA Graph, the third a
 *       replay of it), then timing: steps for
 *       at least WARM_S seconds (and at least 3), one step timed to size the repeats, then REPS repeats of
 *       ITERS steps each (ITERS so that a repeat lasts about MIN_S), each
 *       timed with CUDA events on the stream the steps run on: "rep ITERS
 *       MS" per repeat. Also "mem_used N" (device memory in use after
 *       P_create, by every process), "warmup STEPS SECONDS", "final_loss L"
 *       (the last step's loss) and "steps N".
 */
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <vector>
#include <algorithm>

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "nnrt.h"

#ifndef MODEL
#error "compile with -DMODEL=<prefix> -include <model>.h"
#endif

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define FN(x) CAT(MODEL, x)

typedef MODEL model_t;

static void die(const char *what, const char *detail) {
    fprintf(stderr, "gpu driver: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

static void check(int st, model_t *m, const char *what) {
    if (st != NNRT_OK) die(what, m ? FN(_last_error)(m) : FN(_status_str)(st));
}

static void cu(cudaError_t e, const char *what) {
    if (e != cudaSuccess) die(what, cudaGetErrorString(e));
}

static void cb(cublasStatus_t s, const char *what) {
    if (s != CUBLAS_STATUS_SUCCESS) die(what, cublasGetStatusString(s));
}

/* A training step on device pointers, whatever the element types of the
 * model's input and target: deduced from P_train_step_dev's signature. */
template <class X, class Y>
static int step_dev(int (*f)(model_t *, cudaStream_t, const X *, const Y *, float *), model_t *m, cudaStream_t s,
                    const void *x, const void *y, float *loss) {
    return f(m, s, static_cast<const X *>(x), static_cast<const Y *>(y), loss);
}

static int train_step(model_t *m, cudaStream_t s, const void *x, const void *y, float *loss) {
    return step_dev(FN(_train_step_dev), m, s, x, y, loss);
}

/* ---- device ---------------------------------------------------------------- */

static int attr(cudaDeviceAttr a, int dev) {
    int v = 0;
    cu(cudaDeviceGetAttribute(&v, a, dev), "cudaDeviceGetAttribute");
    return v;
}

static int cmd_device(void) {
    int dev = 0;
    cu(cudaGetDevice(&dev), "cudaGetDevice");
    cudaDeviceProp p;
    cu(cudaGetDeviceProperties(&p, dev), "cudaGetDeviceProperties");
    int rt = 0, drv = 0;
    cu(cudaRuntimeGetVersion(&rt), "cudaRuntimeGetVersion");
    cu(cudaDriverGetVersion(&drv), "cudaDriverGetVersion");
    printf("name %s\n", p.name);
    printf("cc %d.%d\n", p.major, p.minor);
    printf("sms %d\n", p.multiProcessorCount);
    printf("clock_khz %d\n", attr(cudaDevAttrClockRate, dev)); /* peak SM clock */
    printf("mem_clock_khz %d\n", attr(cudaDevAttrMemoryClockRate, dev));
    printf("bus_width_bits %d\n", p.memoryBusWidth);
    printf("total_mem %zu\n", p.totalGlobalMem);
    printf("l2_bytes %d\n", p.l2CacheSize);
    printf("cuda_runtime %d\n", rt);
    printf("cuda_driver %d\n", drv);
    size_t free_b = 0, total_b = 0;
    cu(cudaMemGetInfo(&free_b, &total_b), "cudaMemGetInfo");
    printf("free_mem %zu\n", free_b);
    return 0;
}

/* ---- ceilings ---------------------------------------------------------------- */

/* Random floats in [-1, 1) from a hash of the index: never time on zeros
 * (compressible data can move faster than real data). */
__global__ void fill_random(float *p, size_t n, uint32_t seed) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        uint32_t h = (uint32_t)i * 2654435761u ^ seed;
        h ^= h >> 16;
        h *= 0x7feb352du;
        h ^= h >> 15;
        h *= 0x846ca68bu;
        h ^= h >> 16;
        p[i] = (float)(h >> 8) * (2.0f / 16777216.0f) - 1.0f;
    }
}

static float median(std::vector<float> v) {
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5f * (v[n / 2 - 1] + v[n / 2]);
}

static int cmd_ceilings(void) {
    cudaStream_t s;
    cu(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");
    cudaEvent_t e0, e1;
    cu(cudaEventCreate(&e0), "cudaEventCreate");
    cu(cudaEventCreate(&e1), "cudaEventCreate");
    const int warm = 3, reps = 10;

    /* device-to-device copy of 1 GiB */
    size_t nb = (size_t)1 << 30;
    float *a = NULL, *b = NULL;
    cu(cudaMalloc(&a, nb), "cudaMalloc (copy)");
    cu(cudaMalloc(&b, nb), "cudaMalloc (copy)");
    fill_random<<<1024, 256, 0, s>>>(a, nb / sizeof(float), 1u);
    cu(cudaGetLastError(), "fill_random");
    std::vector<float> ms;
    for (int r = 0; r < warm + reps; r++) {
        cu(cudaEventRecord(e0, s), "cudaEventRecord");
        cu(cudaMemcpyAsync(b, a, nb, cudaMemcpyDeviceToDevice, s), "cudaMemcpyAsync");
        cu(cudaEventRecord(e1, s), "cudaEventRecord");
        cu(cudaEventSynchronize(e1), "cudaEventSynchronize");
        float t = 0;
        cu(cudaEventElapsedTime(&t, e0, e1), "cudaEventElapsedTime");
        if (r >= warm) ms.push_back(t);
    }
    float med = median(ms);
    printf("copy_bytes %zu\n", 2 * nb);
    printf("copy_ms %.6f %.6f %.6f\n", (double)med, (double)*std::min_element(ms.begin(), ms.end()),
           (double)*std::max_element(ms.begin(), ms.end()));
    cu(cudaFree(a), "cudaFree");
    cu(cudaFree(b), "cudaFree");

    /* cublasSgemm 8192^3, no TF32 */
    const int n = 8192;
    size_t ne = (size_t)n * n;
    float *A = NULL, *B = NULL, *C = NULL;
    cu(cudaMalloc(&A, ne * sizeof(float)), "cudaMalloc (sgemm)");
    cu(cudaMalloc(&B, ne * sizeof(float)), "cudaMalloc (sgemm)");
    cu(cudaMalloc(&C, ne * sizeof(float)), "cudaMalloc (sgemm)");
    fill_random<<<1024, 256, 0, s>>>(A, ne, 2u);
    fill_random<<<1024, 256, 0, s>>>(B, ne, 3u);
    cu(cudaGetLastError(), "fill_random");
    cublasHandle_t h;
    cb(cublasCreate(&h), "cublasCreate");
    cb(cublasSetStream(h, s), "cublasSetStream");
    cb(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
    const float one = 1.0f, zero = 0.0f;
    ms.clear();
    for (int r = 0; r < warm + reps; r++) {
        cu(cudaEventRecord(e0, s), "cudaEventRecord");
        cb(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, A, n, B, n, &zero, C, n), "cublasSgemm");
        cu(cudaEventRecord(e1, s), "cudaEventRecord");
        cu(cudaEventSynchronize(e1), "cudaEventSynchronize");
        float t = 0;
        cu(cudaEventElapsedTime(&t, e0, e1), "cudaEventElapsedTime");
        if (r >= warm) ms.push_back(t);
    }
    /* one entry against a float64 dot product on the host: the product was computed */
    std::vector<float> row((size_t)n), col((size_t)n);
    float c00 = 0;
    cu(cudaMemcpy2D(row.data(), sizeof(float), A, (size_t)n * sizeof(float), sizeof(float), (size_t)n,
                    cudaMemcpyDeviceToHost), "copy of A's row"); /* column-major: A(0, k) at k*n */
    cu(cudaMemcpy(col.data(), B, (size_t)n * sizeof(float), cudaMemcpyDeviceToHost), "copy of B's column");
    cu(cudaMemcpy(&c00, C, sizeof(float), cudaMemcpyDeviceToHost), "copy of C(0,0)");
    double ref = 0, mag = 0;
    for (int k = 0; k < n; k++) {
        ref += (double)row[(size_t)k] * col[(size_t)k];
        mag += std::fabs((double)row[(size_t)k] * col[(size_t)k]);
    }
    med = median(ms);
    printf("sgemm_flop %.0f\n", 2.0 * n * (double)n * n);
    printf("sgemm_ms %.6f %.6f %.6f\n", (double)med, (double)*std::min_element(ms.begin(), ms.end()),
           (double)*std::max_element(ms.begin(), ms.end()));
    printf("sgemm_check %.3e\n", std::fabs(c00 - ref) / (mag > 0 ? mag : 1));
    cb(cublasDestroy(h), "cublasDestroy");
    cu(cudaFree(A), "cudaFree");
    cu(cudaFree(B), "cudaFree");
    cu(cudaFree(C), "cudaFree");
    cu(cudaEventDestroy(e0), "cudaEventDestroy");
    cu(cudaEventDestroy(e1), "cudaEventDestroy");
    cu(cudaStreamDestroy(s), "cudaStreamDestroy");
    return 0;
}

/* ---- run ------------------------------------------------------------------- */

typedef struct data {
    int nb;
    size_t bytes[2]; /* of one batch */
    unsigned char *dev[2];
} data;

static void load_data(data *d, const char *prefix, int nb) {
    memset(d, 0, sizeof *d);
    d->nb = nb;
    nnrt_tensor_info t;
    for (int i = 0; i < 2; i++) {
        if (FN(_io_info)(i, &t) != NNRT_OK) die("the model needs an input and a target", NULL);
        d->bytes[i] = t.numel * nnrt_dtype_size(t.dtype);
        char path[4096];
        snprintf(path, sizeof path, "%s.io%d.bin", prefix, i);
        FILE *f = fopen(path, "rb");
        if (!f) die("cannot open", path);
        std::vector<unsigned char> host(d->bytes[i] * (size_t)nb);
        if (fread(host.data(), d->bytes[i], (size_t)nb, f) != (size_t)nb) die("short data file", path);
        fclose(f);
        cu(cudaMalloc(&d->dev[i], host.size()), "cudaMalloc (data)");
        cu(cudaMemcpy(d->dev[i], host.data(), host.size(), cudaMemcpyHostToDevice), "copy of the data");
    }
    if (FN(_io_info)(2, &t) == NNRT_OK) die("the model has more than one input and one target", NULL);
}

static void step(model_t *m, cudaStream_t s, const data *d, long k, float *loss_dev) {
    size_t b = (size_t)(k % d->nb);
    check(train_step(m, s, d->dev[0] + b * d->bytes[0], d->dev[1] + b * d->bytes[1], loss_dev), m, "train_step_dev");
}

static float read_loss(model_t *m, const float *loss_dev) {
    check(FN(_sync)(m), m, "sync");
    float l = 0;
    cu(cudaMemcpy(&l, loss_dev, sizeof l, cudaMemcpyDeviceToHost), "copy of the loss");
    return l;
}

static int cmd_run(char **argv) {
    uint64_t seed = strtoull(argv[2], NULL, 10);
    int nb = atoi(argv[4]);
    double warm_s = atof(argv[6]), min_s = atof(argv[7]);
    int reps = atoi(argv[8]);
    if (nb < 1 || reps < 1) die("NB and REPS must be positive", NULL);

    model_t *m = FN(_create)(seed);
    if (!m) die("P_create failed (device memory?)", NULL);
    size_t free_b = 0, total_b = 0;
    cu(cudaMemGetInfo(&free_b, &total_b), "cudaMemGetInfo");
    printf("mem_used %zu\n", total_b - free_b); /* on the device after P_create: the model, context, cuBLAS */
    check(FN(_save)(m, argv[5]), m, "save");
    data d;
    load_data(&d, argv[3], nb);
    cudaStream_t s;
    cu(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");
    float *loss_dev = NULL;
    cu(cudaMalloc(&loss_dev, sizeof(float)), "cudaMalloc (loss)");

    /* correctness: the first three steps' losses (eager, capture, replay) */
    long k = 0;
    for (; k < 3; k++) {
        step(m, s, &d, k, loss_dev);
        printf("loss%ld %.9g\n", k, (double)read_loss(m, loss_dev));
        fflush(stdout);
    }

    /* warm-up: eager run, graph capture and replays */
    cudaEvent_t e0, e1;
    cu(cudaEventCreate(&e0), "cudaEventCreate");
    cu(cudaEventCreate(&e1), "cudaEventCreate");
    double t0 = nnrt_now();
    long w = 0;
    do {
        step(m, s, &d, k++, loss_dev);
        check(FN(_sync)(m), m, "sync");
        w++;
    } while (w < 3 || nnrt_now() - t0 < warm_s);

    /* one step timed: how many make a repeat of about MIN_S */
    cu(cudaEventRecord(e0, s), "cudaEventRecord");
    step(m, s, &d, k++, loss_dev);
    cu(cudaEventRecord(e1, s), "cudaEventRecord");
    cu(cudaEventSynchronize(e1), "cudaEventSynchronize");
    float one = 0;
    cu(cudaEventElapsedTime(&one, e0, e1), "cudaEventElapsedTime");
    long iters = (long)std::ceil(1e3 * min_s / (one > 1e-3f ? (double)one : 1e-3));
    if (iters < 1) iters = 1;
    printf("warmup %ld %.3f\n", w + 1, nnrt_now() - t0);

    for (int r = 0; r < reps; r++) {
        cu(cudaEventRecord(e0, s), "cudaEventRecord");
        for (long i = 0; i < iters; i++) step(m, s, &d, k++, loss_dev);
        cu(cudaEventRecord(e1, s), "cudaEventRecord");
        cu(cudaEventSynchronize(e1), "cudaEventSynchronize");
        check(FN(_sync)(m), m, "sync");
        float t = 0;
        cu(cudaEventElapsedTime(&t, e0, e1), "cudaEventElapsedTime");
        printf("rep %ld %.6f\n", iters, (double)t);
        fflush(stdout);
    }
    printf("final_loss %.9g\n", (double)read_loss(m, loss_dev));
    printf("steps %ld\n", k);

    cu(cudaEventDestroy(e0), "cudaEventDestroy");
    cu(cudaEventDestroy(e1), "cudaEventDestroy");
    cu(cudaFree(loss_dev), "cudaFree");
    cu(cudaFree(d.dev[0]), "cudaFree");
    cu(cudaFree(d.dev[1]), "cudaFree");
    FN(_free)(m);
    cu(cudaStreamDestroy(s), "cudaStreamDestroy");
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 2 && !strcmp(argv[1], "device")) return cmd_device();
    if (argc == 2 && !strcmp(argv[1], "ceilings")) return cmd_ceilings();
    if (argc == 9 && !strcmp(argv[1], "run")) return cmd_run(argv);
    fprintf(stderr, "usage: gpu_driver device | ceilings | run SEED DATA NB W.safetensors WARM_S MIN_S REPS\n");
    return 2;
}
