/* cublas_v2.h (mock) — cuBLAS's GEMMs as a reference column-major GEMM
 * (products accumulated in double), for tests/cudaemu. Test harness only. */
#ifndef EMU_CUBLAS_V2_H
#define EMU_CUBLAS_V2_H
#include "cuda_runtime.h"

typedef int cublasStatus_t;
typedef void *cublasHandle_t;
enum { CUBLAS_STATUS_SUCCESS = 0 };
typedef enum { CUBLAS_OP_N, CUBLAS_OP_T } cublasOperation_t;

template <typename T>
cublasStatus_t emu_gemm(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const T *al,
                        const T *A, int lda, long long sA, const T *B, int ldb, long long sB, const T *be, T *C, int ldc,
                        long long sC, int cnt) {
    for (long long b = 0; b < cnt; b++)
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int l = 0; l < k; l++) {
                    const T a = ta == CUBLAS_OP_N ? A[b * sA + i + (long long)l * lda] : A[b * sA + l + (long long)i * lda];
                    const T x = tb == CUBLAS_OP_N ? B[b * sB + l + (long long)j * ldb] : B[b * sB + j + (long long)l * ldb];
                    s += (double)a * (double)x;
                }
                T &c = C[b * sC + i + (long long)j * ldc];
                c = (T)((double)*al * s + (*be == 0 ? 0.0 : (double)*be * (double)c));
            }
    return CUBLAS_STATUS_SUCCESS;
}
template <typename T>
cublasStatus_t emu_gemm1(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const T *al,
                         const T *A, int lda, const T *B, int ldb, const T *be, T *C, int ldc) {
    return emu_gemm<T>(h, ta, tb, m, n, k, al, A, lda, 0, B, ldb, 0, be, C, ldc, 0, 1);
}
/* the handle calls of nnrt_cuda.cu (tests/cudaemu/train.sh) */
enum { CUBLAS_DEFAULT_MATH = 0 };
inline cublasStatus_t cublasCreate(cublasHandle_t *h) { *h = malloc(1); return CUBLAS_STATUS_SUCCESS; }
inline cublasStatus_t cublasDestroy(cublasHandle_t h) { free(h); return CUBLAS_STATUS_SUCCESS; }
inline cublasStatus_t cublasSetStream(cublasHandle_t, cudaStream_t) { return CUBLAS_STATUS_SUCCESS; }
inline cublasStatus_t cublasSetWorkspace(cublasHandle_t, void *, size_t) { return CUBLAS_STATUS_SUCCESS; }
inline cublasStatus_t cublasSetMathMode(cublasHandle_t, int) { return CUBLAS_STATUS_SUCCESS; }
inline const char *cublasGetStatusString(cublasStatus_t) { return "emulated"; }
inline const char *cublasGetStatusName(cublasStatus_t) { return "emulated"; }
#define cublasSgemmStridedBatched emu_gemm<float>
#define cublasDgemmStridedBatched emu_gemm<double>
#define cublasSgemm emu_gemm1<float>
#define cublasDgemm emu_gemm1<double>

#endif /* EMU_CUBLAS_V2_H */
