/* harness.cpp — runs every node of a model's table (emu_node.h) through
 * the C target's kernel and the emulated CUDA kernel on the same random
 * inputs and compares. Prints one line per node with -v, then one summary
 * line: "NODES n WORST name op shape err" and exits 1 if any node fails.
 *
 * err of a node = max |c - cuda| / (1 + max |c|) over its elements; NaN
 * must sit at the same elements. Inputs sit between guard elements that
 * are NaN (a read out of bounds poisons the output); the outputs get
 * different fill values on the two sides and NaN guards after them (an
 * element the CUDA kernel does not write, or a write past the end, fails).
 * Each node runs twice: inputs uniform in [-1, 1] (or positive / ids in
 * range where the op needs it), and inputs rounded to multiples of 1/2
 * (ties: relu at 0, equal maxima in pooling and softmax). The random
 * sources (randn, rand) must give the same bits (err 0).
 */
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "nnrt_cuda.h"
#include "emu_node.h"

int nnrt_cu_check(nnrt_cu_exec *ex, cudaError_t e, const char *what) {
    if (e == cudaSuccess) return NNRT_OK;
    snprintf(ex->err, sizeof ex->err, "%s: error %d", what, (int)e);
    return 1;
}
int nnrt_cu_blas_check(nnrt_cu_exec *ex, cublasStatus_t s, const char *what) { return nnrt_cu_check(ex, s, what); }

enum { GUARD = 64 };

template <typename T> static int run_all(double tol, int verbose) {
    int bad = 0;
    double worst = -1;
    int wk = -1;
    for (int quant = 0; quant < 2; quant++) {
        std::mt19937_64 rng(12345 + quant);
        std::uniform_real_distribution<double> U(-1, 1);
        for (int k = 0; k < emu_nnodes; k++) {
            const emu_node &m = emu_nodes[k];
            std::vector<std::vector<char>> bufs((size_t)m.nin);
            void *in[16];
            for (int i = 0; i < m.nin; i++) {
                const long long n = m.in_n[i];
                if (m.domain[i] == 2) {
                    bufs[i].assign((size_t)(n + 2 * GUARD) * 4, (char)0x7f); /* guards: huge ids */
                    int32_t *p = (int32_t *)bufs[i].data() + GUARD;
                    for (long long j = 0; j < n; j++) p[j] = (int32_t)(rng() % (uint64_t)(m.bound[i] > 0 ? m.bound[i] : 1));
                    in[i] = p;
                } else {
                    bufs[i].resize((size_t)(n + 2 * GUARD) * sizeof(T));
                    T *p = (T *)bufs[i].data() + GUARD;
                    for (int j = 0; j < GUARD; j++) p[-1 - j] = p[n + j] = (T)NAN;
                    for (long long j = 0; j < n; j++) {
                        double v = U(rng);
                        if (quant) v = std::round(v * 2) / 2;
                        if (m.domain[i] == 1) v = 0.05 + 0.9 * std::fabs(v);
                        p[j] = (T)v;
                    }
                    in[i] = p;
                }
            }
            std::vector<T> yc((size_t)(m.out_n + GUARD), (T)NAN), yg((size_t)(m.out_n + GUARD), (T)NAN);
            for (long long j = 0; j < m.out_n; j++) yc[j] = (T)-777, yg[j] = (T)-555;
            void *inc[16], *ing[16];
            memcpy(inc, in, sizeof in), memcpy(ing, in, sizeof in);
            if (m.in_place) {
                memcpy(yc.data(), in[0], (size_t)m.out_n * sizeof(T));
                memcpy(yg.data(), in[0], (size_t)m.out_n * sizeof(T));
                inc[0] = yc.data(), ing[0] = yg.data();
            }
            if (c_run(k, inc, 1234, 7, yc.data()) != 0) { printf("c_run %s failed\n", m.name); return 1; }
            const int rc = cu_run(k, ing, 1234, 7, yg.data());
            double scale = 0, maxd = 0;
            long long nanmis = 0, nan_both = 0, guard = 0;
            for (long long j = 0; j < m.out_n; j++) {
                const double a = yc[j], b = yg[j];
                if (std::isnan(a) || std::isnan(b)) {
                    if (std::isnan(a) != std::isnan(b)) nanmis++;
                    else nan_both++;
                    continue;
                }
                scale = std::fmax(scale, std::fabs(a));
                maxd = std::fmax(maxd, std::fabs(a - b));
            }
            for (long long j = m.out_n; j < m.out_n + GUARD; j++) guard += !std::isnan((double)yg[j]);
            const double err = maxd / (1 + scale);
            /* the random sources must draw the same bits on both sides */
            const bool exact = !strcmp(m.op, "randn") || !strcmp(m.op, "rand");
            const bool ok = rc == 0 && !nanmis && !guard && (exact ? maxd == 0 : err <= tol) &&
                            (m.out_n == 0 || nan_both < m.out_n);
            if (verbose || !ok)
                printf("  %-4s %-28s %-20s %s%s n=%lld err %.3g (scale %.3g)%s%s%s%s\n", ok ? "ok" : "FAIL", m.name, m.shape,
                       m.fused_prog ? "fused-program " : "", quant ? "halves" : "uniform", m.out_n, err, scale,
                       nanmis ? " NaN MISMATCH" : "", guard ? " WRITE PAST END" : "", rc ? " LAUNCH FAILED" : "",
                       m.out_n && nan_both == m.out_n ? " ALL NaN" : "");
            if (!ok) bad++;
            if (err > worst || !ok) worst = ok ? err : INFINITY, wk = k;
        }
    }
    if (wk >= 0)
        printf("NODES %d WORST %s %s [%s] err %.3g\n", emu_nnodes, emu_nodes[wk].name, emu_nodes[wk].op, emu_nodes[wk].shape,
               worst);
    for (int k = 0; k < emu_nnodes; k++) printf("OP %s\n", emu_nodes[k].op);
    return bad != 0;
}

int main(int argc, char **argv) {
    const double tol = argc > 1 ? atof(argv[1]) : (emu_f64 ? 1e-12 : 1e-5);
    const int verbose = argc > 2 && !strcmp(argv[2], "-v");
    return emu_f64 ? run_all<double>(tol, verbose) : run_all<float>(tol, verbose);
}
