/* bench/gemm.c — times one float32 GEMM, C = op(A) op(B), row-major:
 * nnc's runtime nnrt_sgemm (runtime/gemm.c, single-threaded unless libnnrt
 * was built with -fopenmp) or OpenBLAS's
 * cblas_sgemm (built with -DHAVE_OPENBLAS and linked with -lopenblas).
 *
 *   gemm nnrt|openblas THREADS MIN_S REPEATS WARMUP_S TA TB M N K
 *
 * THREADS is given to openblas_set_num_threads (nnrt ignores it). Operands
 * are uniform in [-1, 1); C is overwritten (beta = 0). Prints
 *   isa ISA          nnrt_gemm_isa() (avx512, avx2, c), or openblas
 *   check RELERR     64 sampled entries of C against a double-precision
 *                    dot product: max |C - ref| / max |ref|
 *   rep ITERS SECONDS   per repeat (each runs whole calls for >= MIN_S)
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nnrt_gemm.h"

#ifdef HAVE_OPENBLAS
/* OpenBLAS's CBLAS entry point; the enums are ints (CblasRowMajor = 101,
 * CblasNoTrans = 111, CblasTrans = 112). Declared here so that no header
 * path is needed. */
void cblas_sgemm(int order, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc);
void openblas_set_num_threads(int n);
#endif

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng = 88172645463325252ull;
static float frand(void) { /* xorshift64, uniform in [-1, 1) */
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((double)(rng >> 11) * 0x1p-53 * 2 - 1);
}

static int use_blas;
static int ta, tb;
static long M, N, K, lda, ldb;
static float *A, *B, *C;

static void call(void) {
#ifdef HAVE_OPENBLAS
    if (use_blas) {
        cblas_sgemm(101, ta ? 112 : 111, tb ? 112 : 111, (int)M, (int)N, (int)K, 1.0f, A, (int)lda, B, (int)ldb,
                    0.0f, C, (int)N);
        return;
    }
#endif
    nnrt_sgemm(ta, tb, M, N, K, A, lda, B, ldb, 0.0f, C, N);
}

int main(int argc, char **argv) {
    if (argc != 11) {
        fprintf(stderr, "usage: gemm nnrt|openblas THREADS MIN_S REPEATS WARMUP_S TA TB M N K\n");
        return 2;
    }
    use_blas = !strcmp(argv[1], "openblas");
#ifndef HAVE_OPENBLAS
    if (use_blas) {
        fprintf(stderr, "gemm: built without OpenBLAS\n");
        return 1;
    }
#else
    if (use_blas) openblas_set_num_threads(atoi(argv[2]));
#endif
    double min_s = atof(argv[3]), warm_s = atof(argv[5]);
    int reps = atoi(argv[4]);
    ta = atoi(argv[6]), tb = atoi(argv[7]);
    M = atol(argv[8]), N = atol(argv[9]), K = atol(argv[10]);
    lda = ta ? M : K; /* A is [M, K], or [K, M] when transposed */
    ldb = tb ? K : N; /* B is [K, N], or [N, K] */
    A = malloc(sizeof(float) * (size_t)(M * K));
    B = malloc(sizeof(float) * (size_t)(K * N));
    C = malloc(sizeof(float) * (size_t)(M * N));
    if (!A || !B || !C) return 1;
    for (long i = 0; i < M * K; i++) A[i] = frand();
    for (long i = 0; i < K * N; i++) B[i] = frand();
    call();
    double err = 0, big = 0;
    for (int s = 0; s < 64; s++) {
        long i = (long)(((rng = rng * 6364136223846793005ull + 1442695040888963407ull) >> 33) % (uint64_t)M);
        long j = (long)(((rng = rng * 6364136223846793005ull + 1442695040888963407ull) >> 33) % (uint64_t)N);
        double ref = 0;
        for (long k = 0; k < K; k++)
            ref += (double)(ta ? A[k * lda + i] : A[i * lda + k]) * (double)(tb ? B[j * ldb + k] : B[k * ldb + j]);
        err = fmax(err, fabs(C[i * N + j] - ref));
        big = fmax(big, fabs(ref));
    }
    printf("isa %s\n", use_blas ? "openblas" : nnrt_gemm_isa());
    printf("check %.3g\n", err / (big > 0 ? big : 1));
    double t0 = now();
    do call();
    while (now() - t0 < warm_s);
    for (int r = 0; r < reps; r++) {
        long iters = 0;
        double t, start = now();
        do call(), iters++;
        while ((t = now() - start) < min_s);
        printf("rep %ld %.6f\n", iters, t);
        fflush(stdout);
    }
    return 0;
}
