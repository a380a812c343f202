/* test_gemm.c — nnrt_sgemm / nnrt_dgemm against a naive product in double,
 * for every transpose case and edge sizes around the block sizes. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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
                                    {1, 128, 784}, {2, 10, 128}, {3, 33, 47}, {1, 1, 1000}};
    for (int s = 0; s < 12; s++)
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

static void test_isa_named(void) {
    const char *isa = nnrt_gemm_isa();
    CU_ASSERT(!strcmp(isa, "avx512") || !strcmp(isa, "avx2") || !strcmp(isa, "c"));
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("gemm", NULL, NULL);
    CU_add_test(s, "sgemm: all transposes, edges, beta", test_sgemm_cases);
    CU_add_test(s, "dgemm: small known products", test_dgemm_cases);
    CU_add_test(s, "micro-kernel ISA is named", test_isa_named);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    int failed = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed != 0;
}
