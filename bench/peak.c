/* bench/peak.c — this machine's peak float32 FMA throughput, measured.
 *
 * A tight loop of fused multiply-adds on independent vector accumulators,
 * with intrinsics, compiled with -O2 -march=native. The accumulators must
 * cover the FMA latency on every FMA port (Intel: 4 cycles x 2 ports = 8
 * in flight; AMD Zen 2/3: 5 x 2 = 10) and, with the two constant operands,
 * fit in the registers: a spilled accumulator goes through memory on every
 * FMA, and the loop then measures store throughput (on AMD about half the
 * FMA peak). So 24 of AVX-512's 32 registers and 12 of AVX2's 16.
 *
 * Each of THREADS threads runs the loop, timed by its own CPU time
 * (CLOCK_THREAD_CPUTIME_ID): what a core does while it runs the thread, so
 * other work on a shared machine that deschedules it does not lower the
 * peak (a ceiling that the wall-clock rows of the bench must stay under).
 * A repeat's rate is the sum of the threads' rates: two threads that share
 * one core's FMA units (SMT siblings) show about one core's rate.
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

static double cpu_now(void) { /* this thread's CPU seconds */
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

volatile float sink;

#define NACC512 24 /* independent accumulators (see the top) */
#define NACC256 12

#if defined(__AVX512F__)
static double loop512(long iters) { /* returns FLOPs done */
    __m512 a[NACC512];
    const __m512 b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
    for (int i = 0; i < NACC512; i++) a[i] = _mm512_set1_ps((float)i);
    for (long n = 0; n < iters; n++) {
#pragma GCC unroll 24
        for (int i = 0; i < NACC512; i++) a[i] = _mm512_fmadd_ps(a[i], b, c);
    }
    __m512 s = a[0];
    for (int i = 1; i < NACC512; i++) s = _mm512_add_ps(s, a[i]);
    sink = _mm512_reduce_add_ps(s);
    return 2.0 * 16 * NACC512 * (double)iters;
}
#endif

#if defined(__AVX2__) && defined(__FMA__)
static double loop256(long iters) {
    __m256 a[NACC256];
    const __m256 b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
    for (int i = 0; i < NACC256; i++) a[i] = _mm256_set1_ps((float)i);
    for (long n = 0; n < iters; n++) {
#pragma GCC unroll 12
        for (int i = 0; i < NACC256; i++) a[i] = _mm256_fmadd_ps(a[i], b, c);
    }
    __m256 s = a[0];
    for (int i = 1; i < NACC256; i++) s = _mm256_add_ps(s, a[i]);
    float v[8];
    _mm256_storeu_ps(v, s);
    sink = v[0] + v[7];
    return 2.0 * 8 * NACC256 * (double)iters;
}
#endif

typedef struct job {
    double (*fn)(long);
    long iters;
    double flops, cpu; /* FLOPs done, CPU seconds taken */
} job;

static void *run_job(void *p) {
    job *j = p;
    double t0 = cpu_now();
    j->flops = j->fn(j->iters);
    j->cpu = cpu_now() - t0;
    return NULL;
}

/* GFLOP/s of `threads` threads each running fn(iters): the sum of their
 * rates per CPU second. */
static double measure(double (*fn)(long), int threads, long iters) {
    pthread_t tid[64];
    job jobs[64];
    double rate = 0;
    for (int i = 0; i < threads; i++) {
        jobs[i] = (job){fn, iters, 0, 0};
        pthread_create(&tid[i], NULL, run_job, &jobs[i]);
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        rate += jobs[i].flops / (jobs[i].cpu > 0 ? jobs[i].cpu : 1e-9);
    }
    return rate / 1e9;
}

static void bench(const char *isa, double (*fn)(long), int threads, int reps, double min_s) {
    long iters = 1 << 16;
    double t0 = cpu_now();
    fn(iters);
    while (cpu_now() - t0 < 0.05) { /* calibrate: about min_s per repeat */
        iters *= 2;
        t0 = cpu_now();
        fn(iters);
    }
    iters = (long)(iters * min_s / (cpu_now() - t0)) + 1;
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
