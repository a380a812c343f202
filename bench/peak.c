/* bench/peak.c — this machine's peak float32 FMA throughput, measured.
 *
 * A tight loop of fused multiply-adds on independent vector accumulators
 * (enough of them to cover the FMA latency on every FMA port), with
 * intrinsics, compiled with -O2 -march=native. Each of THREADS threads runs
 * the loop; one repeat is timed from the first thread's start to the last
 * thread's end.
 *
 *   peak THREADS REPEATS MIN_S
 *
 * prints, per vector width the compiler was allowed to use (AVX-512 when
 * -march=native has it, AVX2+FMA, otherwise nothing), one line
 *   peak ISA THREADS GFLOPS_REP1 GFLOPS_REP2 ...
 * where a FLOP is one multiply or one add (an FMA on a W-lane vector is 2W).
 */
#define _POSIX_C_SOURCE 200809L
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

volatile float sink;

#define NACC 16 /* independent accumulators: >= latency (4) x FMA ports (2) */

#if defined(__AVX512F__)
static double loop512(long iters) { /* returns FLOPs done */
    __m512 a[NACC];
    const __m512 b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
    for (int i = 0; i < NACC; i++) a[i] = _mm512_set1_ps((float)i);
    for (long n = 0; n < iters; n++) {
#pragma GCC unroll 16
        for (int i = 0; i < NACC; i++) a[i] = _mm512_fmadd_ps(a[i], b, c);
    }
    __m512 s = a[0];
    for (int i = 1; i < NACC; i++) s = _mm512_add_ps(s, a[i]);
    sink = _mm512_reduce_add_ps(s);
    return 2.0 * 16 * NACC * (double)iters;
}
#endif

#if defined(__AVX2__) && defined(__FMA__)
static double loop256(long iters) {
    __m256 a[NACC];
    const __m256 b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
    for (int i = 0; i < NACC; i++) a[i] = _mm256_set1_ps((float)i);
    for (long n = 0; n < iters; n++) {
#pragma GCC unroll 16
        for (int i = 0; i < NACC; i++) a[i] = _mm256_fmadd_ps(a[i], b, c);
    }
    __m256 s = a[0];
    for (int i = 1; i < NACC; i++) s = _mm256_add_ps(s, a[i]);
    float v[8];
    _mm256_storeu_ps(v, s);
    sink = v[0] + v[7];
    return 2.0 * 8 * NACC * (double)iters;
}
#endif

typedef struct job {
    double (*fn)(long);
    long iters;
    double flops;
} job;

static void *run_job(void *p) {
    job *j = p;
    j->flops = j->fn(j->iters);
    return NULL;
}

/* GFLOP/s of `threads` threads each running fn(iters). */
static double measure(double (*fn)(long), int threads, long iters) {
    pthread_t tid[64];
    job jobs[64];
    double t0 = now(), flops = 0;
    for (int i = 0; i < threads; i++) {
        jobs[i] = (job){fn, iters, 0};
        pthread_create(&tid[i], NULL, run_job, &jobs[i]);
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        flops += jobs[i].flops;
    }
    return flops / (now() - t0) / 1e9;
}

static void bench(const char *isa, double (*fn)(long), int threads, int reps, double min_s) {
    long iters = 1 << 16;
    double t0 = now();
    fn(iters);
    while (now() - t0 < 0.05) { /* calibrate: about min_s per repeat */
        iters *= 2;
        t0 = now();
        fn(iters);
    }
    iters = (long)(iters * min_s / (now() - t0)) + 1;
    measure(fn, threads, iters / 4 + 1); /* warm-up */
    printf("peak %s %d", isa, threads);
    for (int r = 0; r < reps; r++) printf(" %.3f", measure(fn, threads, iters));
    printf("\n");
    fflush(stdout);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: peak THREADS REPEATS MIN_S\n");
        return 2;
    }
    int threads = atoi(argv[1]), reps = atoi(argv[2]);
    double min_s = atof(argv[3]);
    if (threads < 1 || threads > 64 || reps < 1) return 2;
#if defined(__AVX512F__)
    bench("avx512", loop512, threads, reps, min_s);
#endif
#if defined(__AVX2__) && defined(__FMA__)
    bench("avx2", loop256, threads, reps, min_s);
#endif
    (void)bench;
    (void)measure;
    return 0;
}
