/* test_gemm.c — nnrt_sgemm / nnrt_dgemm against a naive product in double,
 * for every transpose case and edge sizes around the block sizes; the
 * epilogue contract of nnrt_sgemm_ep / nnrt_dgemm_ep; and, when built with
 * -fopenmp, bit-identical results for 1, 2 and 3 threads.
 *
 * tests/unit/run.sh runs this program on libnnrt.a once as it is and once
 * per micro-kernel the CPU has, forced by linking build/nnrt_isa_avx512.o,
 * nnrt_isa_avx2.o or nnrt_isa_c.o (checked here: the path named is the path
 * forced), and builds it with -fopenmp and runtime/gemm.c for the threaded
 * split. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "nnrt.h"
#include "nnrt_gemm.h"

/* C = op(A) op(B) + beta * C0 in double. */
static void naive(int ta, int tb, long M, long N, long K, const float *A, const float *B, float beta,
                  const float *C0, double *ref) {
    for (long i = 0; i < M; i++)
        for (long j = 0; j < N; j++) {
            double s = beta * (double)C0[i * N + j];
            for (long k = 0; k < K; k++)
                s += (double)(ta ? A[k * M + i] : A[i * K + k]) * (double)(tb ? B[j * K + k] : B[k * N + j]);
            ref[i * N + j] = s;
        }
}

static double max_rel_err(long M, long N, long K, int ta, int tb, float beta, unsigned seed) {
    float *A = malloc(sizeof(float) * (size_t)(M * K + 1)), *B = malloc(sizeof(float) * (size_t)(K * N + 1));
    float *C = malloc(sizeof(float) * (size_t)(M * N + 1)), *C0 = malloc(sizeof(float) * (size_t)(M * N + 1));
    double *ref = malloc(sizeof(double) * (size_t)(M * N + 1));
    nnrt_fill_uniform_f32(A, (size_t)(M * K), -1, 1, seed, 0);
    nnrt_fill_uniform_f32(B, (size_t)(K * N), -1, 1, seed, 1);
    nnrt_fill_uniform_f32(C0, (size_t)(M * N), -1, 1, seed, 2);
    for (long i = 0; i < M * N; i++) C[i] = C0[i];
    naive(ta, tb, M, N, K, A, B, beta, C0, ref);
    nnrt_sgemm(ta, tb, M, N, K, A, ta ? M : K, B, tb ? K : N, beta, C, N);
    double err = 0;
    for (long i = 0; i < M * N; i++) {
        double e = fabs(C[i] - ref[i]) / (1 + fabs(ref[i]));
        if (e > err) err = e;
    }
    free(A), free(B), free(C), free(C0), free(ref);
    return err;
}

static void test_sgemm_cases(void) {
    static const long sizes[][3] = {{1, 1, 1}, {6, 16, 8}, {7, 17, 5}, {13, 33, 300}, {64, 128, 256},
                                    {5, 100, 513}, {32, 10, 128}, {100, 3, 7},
                                    {1, 128, 784}, {2, 10, 128}, {3, 33, 47}, {1, 1, 1000},
                                    /* the MLP's logits (N <= 16: dot products when tb, K a multiple of 16 or
                                     * not), its backward (K tiny; M of 9..12: the 12-row kernel, B read as it
                                     * is), N of 16 and 13, M of 12 and 16 */
                                    {64, 10, 128}, {64, 128, 10}, {10, 128, 64}, {37, 16, 100}, {9, 13, 1},
                                    {12, 40, 33}, {16, 70, 17}, {11, 5, 300},
                                    /* A^T packed (weight gradients): M edges, several K blocks, 2 panels */
                                    {65, 100, 600}, {13, 64, 129}};
    for (int s = 0; s < 22; s++)
        for (int t = 0; t < 4; t++)
            for (int b = 0; b < 2; b++) {
                double e = max_rel_err(sizes[s][0], sizes[s][1], sizes[s][2], t & 1, t >> 1, b ? 0.5f : 0.0f, 7);
                CU_ASSERT(e < 1e-5);
                if (e >= 1e-5) printf("\nsgemm %ldx%ldx%ld ta=%d tb=%d: %g\n", sizes[s][0], sizes[s][1], sizes[s][2], t & 1, t >> 1, e);
            }
}

static void test_dgemm_cases(void) {
    double A[6] = {1, 2, 3, 4, 5, 6}, B[6] = {1, 0, -1, 2, 0.5, 1}, C[4] = {1, 1, 1, 1};
    /* [2x3] x [3x2] */
    nnrt_dgemm(0, 0, 2, 2, 3, A, 3, B, 2, 0, C, 2);
    CU_ASSERT_DOUBLE_EQUAL(C[0], 1 * 1 + 2 * -1 + 3 * 0.5, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(C[3], 1 * 4 * 0 + 4 * 0 + 5 * 2 + 6 * 1, 1e-12);
    /* A^T B^T: A stored [3x2], B stored [2x3] */
    nnrt_dgemm(1, 1, 2, 2, 3, A, 2, B, 3, 1, C, 2);
    CU_ASSERT_DOUBLE_EQUAL(C[0], (1 * 1 + 2 * -1 + 3 * 0.5) + (1 * 1 + 3 * 0 + 5 * -1), 1e-12);
}

/* ---- epilogue ----------------------------------------------------------- */

typedef struct {
    long M, N, ldc;
    float *C;           /* the product's C (row stride ldc) */
    const double *ref;  /* its final value, [M, N] */
    int *visits;        /* per element of C */
    long calls, bad_range, not_final, first_unfinished;
    int threads_seen;   /* bit t: a block came from OpenMP thread t */
} ep_check;

static void ep_fn(void *ctx, long i0, long j0, long m, long n) {
    ep_check *e = ctx;
    long unfinished = 0, not_final = 0, bad = 0;
    if (m <= 0 || n <= 0 || i0 < 0 || j0 < 0 || i0 + m > e->M || j0 + n > e->N) bad = 1;
    /* elements outside the block without their final value yet (NaN: not
     * written): the epilogue runs while the product is still being made */
    for (long i = 0; !bad && i < e->M; i++)
        for (long j = 0; j < e->N; j++) {
            double r = e->ref[i * e->N + j];
            if ((i < i0 || i >= i0 + m || j < j0 || j >= j0 + n) &&
                !(fabs(e->C[i * e->ldc + j] - r) / (1 + fabs(r)) < 1e-5) && e->visits[i * e->N + j] == 0)
                unfinished++;
        }
    for (long i = i0; !bad && i < i0 + m; i++)
        for (long j = j0; j < j0 + n; j++) {
            float *c = &e->C[i * e->ldc + j];
            double r = e->ref[i * e->N + j];
            if (!(fabs(*c - r) / (1 + fabs(r)) < 1e-5)) not_final++;
            *c = -*c; /* the product must not write this element again */
            e->visits[i * e->N + j]++;
        }
#ifdef _OPENMP
#pragma omp critical(ep_check)
#endif
    {
        if (e->calls++ == 0) e->first_unfinished = unfinished;
        e->bad_range += bad;
        e->not_final += not_final;
#ifdef _OPENMP
        e->threads_seen |= 1 << (omp_get_thread_num() & 15);
#endif
    }
}

/* nnrt_sgemm_ep on one case: every element visited once, with its final
 * value, and not written by the product after that (the epilogue negates
 * it); the first block comes before the product is finished. Returns 0 or
 * prints what went wrong. C starts as NaN when beta = 0. */
static int ep_case(long M, long N, long K, int ta, int tb, float beta, int *threads_seen) {
    long ldc = N + 3;
    float *A = malloc(sizeof(float) * (size_t)(M * K + 1)), *B = malloc(sizeof(float) * (size_t)(K * N + 1));
    float *C = malloc(sizeof(float) * (size_t)(M * ldc + 1)), *C0 = malloc(sizeof(float) * (size_t)(M * N + 1));
    double *ref = malloc(sizeof(double) * (size_t)(M * N + 1));
    int *visits = calloc((size_t)(M * N + 1), sizeof(int));
    nnrt_fill_uniform_f32(A, (size_t)(M * K), -1, 1, 11, 0);
    nnrt_fill_uniform_f32(B, (size_t)(K * N), -1, 1, 11, 1);
    nnrt_fill_uniform_f32(C0, (size_t)(M * N), -1, 1, 11, 2);
    naive(ta, tb, M, N, K, A, B, beta, C0, ref);
    for (long i = 0; i < M; i++)
        for (long j = 0; j < ldc; j++) C[i * ldc + j] = j >= N ? 42.0f : beta == 0 ? NAN : C0[i * N + j];
    ep_check e = {M, N, ldc, C, ref, visits, 0, 0, 0, 0, 0};
    nnrt_sgemm_ep(ta, tb, M, N, K, A, ta ? M : K, B, tb ? K : N, beta, C, ldc, ep_fn, &e);
    long once = 0, after = 0, pad = 0;
    for (long i = 0; i < M; i++)
        for (long j = 0; j < ldc; j++) {
            if (j >= N) {
                pad += C[i * ldc + j] != 42.0f;
                continue;
            }
            once += visits[i * N + j] == 1;
            double r = -ref[i * N + j];
            after += fabs(C[i * ldc + j] - r) / (1 + fabs(r)) < 1e-5;
        }
    int ok = e.bad_range == 0 && e.not_final == 0 && once == M * N && after == M * N && pad == 0;
    /* while the product is made, not after: a C over 64 KB comes in more
     * than one block, and the first before the rest is finished */
    if ((M * N > 16384 && e.calls < 2) || (e.calls > 1 && e.first_unfinished == 0)) ok = 0;
    if (!ok)
        printf("\nsgemm_ep %ldx%ldx%ld ta=%d tb=%d beta=%g: %ld calls, %ld out of range, %ld not final, %ld of %ld "
               "visited once, %ld right after, %ld padding written, %ld unfinished at the first call\n",
               M, N, K, ta, tb, beta, e.calls, e.bad_range, e.not_final, once, M * N, after, pad,
               e.first_unfinished);
    if (threads_seen) *threads_seen = e.threads_seen;
    free(A), free(B), free(C), free(C0), free(ref), free(visits);
    return ok;
}

static void test_sgemm_epilogue(void) {
    /* edges of MR/NR, M below MR, K over KC (several K blocks), M over the
     * row block, the batch-1..3 dot-product path, K = 0 */
    static const long sizes[][3] = {{1, 1, 1},   {3, 40, 20},   {5, 7, 9},     {8, 32, 16},  {13, 33, 300},
                                    {64, 10, 128}, {17, 100, 600}, {250, 70, 40}, {2, 50, 70}, {9, 9, 0},
                                    {130, 300, 260}, {64, 128, 10}, {10, 128, 64}, {37, 13, 40}, {12, 70, 33}};
    for (int s = 0; s < 15; s++)
        for (int t = 0; t < 4; t++)
            for (int b = 0; b < 2; b++)
                CU_ASSERT(ep_case(sizes[s][0], sizes[s][1], sizes[s][2], t & 1, t >> 1, b ? 0.5f : 0.0f, NULL));
}

typedef struct {
    long M, N;
    const double *C;
    int *visits;
} dep_check;

static void dep_fn(void *ctx, long i0, long j0, long m, long n) {
    dep_check *e = ctx;
    for (long i = i0; i < i0 + m; i++)
        for (long j = j0; j < j0 + n; j++) {
            if (i < 0 || i >= e->M || j < 0 || j >= e->N) continue;
            e->visits[i * e->N + j] += 1 + 100 * !(e->C[i * e->N + j] == 4 * 3 * 2.0 + 0.5 * 7);
        }
}

static void test_dgemm_epilogue(void) {
    /* all ones: every element ends as 2 K + beta C0 = 24 + 3.5 */
    enum { M = 5, N = 6, K = 12 };
    double A[M * K], B[K * N], C[M * N];
    int visits[M * N] = {0};
    for (int i = 0; i < M * K; i++) A[i] = 2;
    for (int i = 0; i < K * N; i++) B[i] = 1;
    for (int i = 0; i < M * N; i++) C[i] = 7;
    dep_check e = {M, N, C, visits};
    nnrt_dgemm_ep(1, 1, M, N, K, A, M, B, K, 0.5, C, N, dep_fn, &e);
    for (int i = 0; i < M * N; i++) CU_ASSERT_EQUAL(visits[i], 1);
}

#ifdef _OPENMP
/* the same product on 1, 2 and 3 threads: identical bits */
static void test_sgemm_threads(void) {
    static const long sizes[][3] = {{300, 200, 100}, {64, 784, 128}, {520, 33, 300}, {40, 700, 300}, {1000, 1000, 20}, {130, 72, 700}};
    for (int s = 0; s < 6; s++)
        for (int t = 0; t < 4; t++) {
            long M = sizes[s][0], N = sizes[s][1], K = sizes[s][2];
            float *A = malloc(sizeof(float) * (size_t)(M * K)), *B = malloc(sizeof(float) * (size_t)(K * N));
            float *C[3];
            nnrt_fill_uniform_f32(A, (size_t)(M * K), -1, 1, 5, 0);
            nnrt_fill_uniform_f32(B, (size_t)(K * N), -1, 1, 5, 1);
            for (int n = 0; n < 3; n++) {
                C[n] = malloc(sizeof(float) * (size_t)(M * N));
                nnrt_fill_uniform_f32(C[n], (size_t)(M * N), -1, 1, 5, 2);
                omp_set_num_threads(n + 1);
                nnrt_sgemm(t & 1, t >> 1, M, N, K, A, t & 1 ? M : K, B, t >> 1 ? K : N, 0.25f, C[n], N);
            }
            CU_ASSERT(!memcmp(C[0], C[1], sizeof(float) * (size_t)(M * N)));
            CU_ASSERT(!memcmp(C[0], C[2], sizeof(float) * (size_t)(M * N)));
            free(A), free(B), free(C[0]), free(C[1]), free(C[2]);
        }
    /* the epilogue on two threads: every element once, and both threads did blocks */
    omp_set_num_threads(2);
    int seen = 0;
    CU_ASSERT(ep_case(300, 200, 300, 0, 1, 0.0f, &seen));
    CU_ASSERT_EQUAL(seen, 3);
    CU_ASSERT(ep_case(64, 784, 128, 1, 0, 0.5f, &seen));
    CU_ASSERT_EQUAL(seen, 3);
    omp_set_num_threads(1);
}
#endif

/* nnrt_sgemm_ws(_ep) with the workspace nnrt_sgemm_ws_floats asks for, at
 * any alignment, or half of it where that still holds a sliver and a panel
 * (smaller blocks): the bits of nnrt_sgemm; with 64 floats (plain loops):
 * within float rounding of it. */
static void test_sgemm_ws(void) {
    static const long sizes[][3] = {{64, 128, 256}, {7, 17, 5}, {200, 1100, 300}, {1, 128, 784}, {12, 40, 33}};
    for (int c = 0; c < 5 * 4; c++) {
        long M = sizes[c / 4][0], N = sizes[c / 4][1], K = sizes[c / 4][2];
        int ta = c % 2, tb = c / 2 % 2;
        long nws = nnrt_sgemm_ws_floats(ta, tb, M, N, K);
        float *A = malloc(sizeof(float) * (size_t)(M * K)), *B = malloc(sizeof(float) * (size_t)(K * N));
        float *C = calloc((size_t)(M * N), sizeof(float)), *D = calloc((size_t)(M * N), sizeof(float));
        float *ws = malloc(sizeof(float) * (size_t)(nws + 1));
        nnrt_fill_uniform_f32(A, (size_t)(M * K), -1, 1, 5, 0);
        nnrt_fill_uniform_f32(B, (size_t)(K * N), -1, 1, 5, 1);
        nnrt_sgemm(ta, tb, M, N, K, A, ta ? M : K, B, tb ? K : N, 0, C, N);
        CU_ASSERT(nws == 0 || nws >= 16);
        for (int v = 0; v < 2 + (nws / 2 >= 2 * 32 * 256 + 16); v++) { /* all, one float off the line, half */
            long n = v == 2 ? nws / 2 : nws;
            nnrt_sgemm_ws(ta, tb, M, N, K, A, ta ? M : K, B, tb ? K : N, 0, D, N, ws + (v == 1), n);
            CU_ASSERT(!memcmp(C, D, sizeof(float) * (size_t)(M * N)));
        }
        nnrt_sgemm_ws_ep(ta, tb, M, N, K, A, ta ? M : K, B, tb ? K : N, 0, D, N, NULL, NULL, ws, nws < 64 ? nws : 64);
        for (long i = 0; i < M * N; i++) CU_ASSERT(fabsf(C[i] - D[i]) <= 1e-4f * (1 + fabsf(C[i])));
        free(A), free(B), free(C), free(D), free(ws);
    }
}

/* defined where build/nnrt_isa_ISA.o is linked in (runtime/isa/nnrt_isa.c) */
extern const char nnrt_gemm_force_isa[] __attribute__((weak));

static void test_isa_named(void) {
    const char *isa = nnrt_gemm_isa();
    CU_ASSERT(!strcmp(isa, "avx512") || !strcmp(isa, "avx2") || !strcmp(isa, "c"));
    if (nnrt_gemm_force_isa) CU_ASSERT_STRING_EQUAL(isa, nnrt_gemm_force_isa);
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("gemm", NULL, NULL);
    CU_add_test(s, "sgemm: all transposes, edges, beta", test_sgemm_cases);
    CU_add_test(s, "dgemm: small known products", test_dgemm_cases);
    CU_add_test(s, "sgemm_ep: every element once, final, while the product runs", test_sgemm_epilogue);
    CU_add_test(s, "dgemm_ep: every element once, final", test_dgemm_epilogue);
    CU_add_test(s, "sgemm_ws: the caller's workspace, full, misaligned, half, too small", test_sgemm_ws);
#ifdef _OPENMP
    CU_add_test(s, "sgemm: 1, 2, 3 threads give identical bits", test_sgemm_threads);
#endif
    CU_add_test(s, "micro-kernel ISA is named (and is the one forced, if any)", test_isa_named);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    int failed = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed != 0;
}
