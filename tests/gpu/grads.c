/* grads.c — the GPU parity harness (tests/gpu/run.sh). Built twice against
 * the same model named `net`: once with the C target, once with the CUDA
 * target (-DNNC_CUDA). Both fill every input and target the same way, run
 * one _forward_backward from the same seed, and dump the initial
 * parameters, the loss and the gradients; the C build then compares two
 * dumps.
 *
 *   grads dump FILE              (f32 models)
 *   grads compare C.bin CUDA.bin TOL
 *
 * Inputs: floats uniform in [0, 1) from libnnrt's Philox (seed 7, stream
 * 100 + i); i32 inputs (labels, token ids) (7 j + 3) mod the last axis of
 * the first output (the number of classes or the vocabulary).
 * Comparison: the initial parameters must be bitwise equal; the loss and
 * each parameter's gradient within TOL relative to the largest magnitude
 * of that gradient (the loss: to itself). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

static int die(const char *what, int st, net *m) {
    fprintf(stderr, "grads: %s: %s (%s)\n", what, net_status_str(st), m ? net_last_error(m) : "");
    return 1;
}

static int dump(const char *path) {
    net *m = net_create(1);
    if (!m) return fprintf(stderr, "grads: cannot create the model\n"), 1;
    nnrt_tensor_info out0;
    int bound = 2;
    if (net_output_info(0, &out0) == NNRT_OK && out0.rank > 0) bound = (int)out0.shape[out0.rank - 1];
    const void *io[NET_NUM_IO + 1];
    void *bufs[NET_NUM_IO + 1];
    for (int i = 0; i < NET_NUM_IO; i++) {
        nnrt_tensor_info info;
        net_io_info(i, &info);
        bufs[i] = calloc(info.numel ? info.numel : 1, 4);
        if (info.dtype == NNRT_I32)
            for (size_t j = 0; j < info.numel; j++) ((int32_t *)bufs[i])[j] = (int32_t)((7 * j + 3) % (size_t)bound);
        else nnrt_fill_uniform_f32((float *)bufs[i], info.numel, 0, 1, 7, 100 + (uint64_t)i);
        io[i] = bufs[i];
    }
    float *params = malloc(sizeof(float) * NET_PARAM_ELEMS + 4), *grads = malloc(sizeof(float) * NET_PARAM_ELEMS + 4);
    int st;
#ifdef NNC_CUDA
    if ((st = net_read_params(m, params)) != NNRT_OK) return die("read_params", st, m);
#else
    memcpy(params, net_params(m, NULL), sizeof(float) * NET_PARAM_ELEMS);
#endif
    float loss = 0;
    if ((st = net_forward_backward_v(m, io, &loss)) != NNRT_OK) return die("forward_backward", st, m);
#ifdef NNC_CUDA
    if ((st = net_read_grads(m, grads)) != NNRT_OK) return die("read_grads", st, m);
#else
    memcpy(grads, net_grads(m, NULL), sizeof(float) * NET_PARAM_ELEMS);
#endif
    FILE *f = fopen(path, "wb");
    size_t n = NET_PARAM_ELEMS;
    int bad = !f || fwrite(&n, sizeof n, 1, f) != 1 || fwrite(&loss, sizeof loss, 1, f) != 1 ||
              fwrite(params, sizeof(float), n, f) != n || fwrite(grads, sizeof(float), n, f) != n;
    if (f && fclose(f)) bad = 1;
    if (bad) return fprintf(stderr, "grads: cannot write %s\n", path), 1;
    printf("loss %.9g\n", (double)loss);
    for (int i = 0; i < NET_NUM_IO; i++) free(bufs[i]);
    free(params);
    free(grads);
    net_free(m);
    return 0;
}

static float *load(const char *path, float *loss) {
    FILE *f = fopen(path, "rb");
    size_t n = 0;
    float *d = NULL;
    if (f && fread(&n, sizeof n, 1, f) == 1 && n == NET_PARAM_ELEMS && fread(loss, sizeof *loss, 1, f) == 1) {
        d = malloc(sizeof(float) * 2 * n + 4);
        if (d && fread(d, sizeof(float), 2 * n, f) != 2 * n) free(d), d = NULL;
    }
    if (f) fclose(f);
    if (!d) fprintf(stderr, "grads: cannot read %s\n", path);
    return d;
}

static int compare(const char *pa, const char *pb, double tol) {
    float la, lb;
    float *a = load(pa, &la), *b = load(pb, &lb);
    if (!a || !b) return 1;
    size_t n = NET_PARAM_ELEMS, same = 0;
    for (size_t i = 0; i < n; i++) same += memcmp(&a[i], &b[i], sizeof(float)) == 0;
    int bad = 0;
    if (same != n) printf("initial parameters differ in %zu of %zu elements\n", n - same, n), bad = 1;
    double lrel = fabs((double)la - lb) / fmax(fabs((double)la), 1e-30);
    printf("loss %.9g vs %.9g (rel %.2e)\n", (double)la, (double)lb, lrel);
    if (!(lrel <= tol)) bad = 1;
    double worst = 0;
    for (int p = 0; p < NET_NUM_PARAMS; p++) {
        nnrt_tensor_info info;
        net_param_info(p, &info);
        const float *ga = a + n + info.offset, *gb = b + n + info.offset;
        double scale = 0, diff = 0;
        for (size_t j = 0; j < info.numel; j++) {
            scale = fmax(scale, fabs((double)ga[j]));
            diff = fmax(diff, fabs((double)ga[j] - gb[j]));
            if (isnan(gb[j]) != isnan(ga[j])) diff = INFINITY;
        }
        double rel = scale > 0 ? diff / scale : diff;
        if (rel > worst) worst = rel;
        if (!(rel <= tol)) printf("gradient of %s: max diff %.3g, largest %.3g (rel %.2e)\n", info.name, diff, scale, rel), bad = 1;
    }
    printf("%d gradients, worst rel %.2e (tolerance %.0e): %s\n", NET_NUM_PARAMS, worst, tol, bad ? "DIFFER" : "match");
    free(a);
    free(b);
    return bad;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "dump")) return dump(argv[2]);
    if (argc == 5 && !strcmp(argv[1], "compare")) return compare(argv[2], argv[3], atof(argv[4]));
    fprintf(stderr, "usage: grads dump FILE | grads compare A B TOL\n");
    return 2;
}
