/* driver.c — nnc's side of the ONNX export check (tests/onnx_export/run.sh), linked with a model
 * built as `nnc M.nn --infer-only --name net`:
 *   driver save SEED W [plain]       the model's initial values from SEED, each parameter then
 *                                    moved by a deterministic amount (so batch norm's running
 *                                    statistics and layer norm's affine are not trivial; not
 *                                    with plain), saved as safetensors
 *   driver forward W IN OUT          loads W, reads the inputs from IN (raw little-endian, in
 *                                    net_io_info order, f32 or i32), writes the outputs to OUT
 *                                    (raw f32, in output order) */
#include "net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, const net *m) {
    fprintf(stderr, "driver: %s%s%s\n", what, m ? ": " : "", m ? net_last_error(m) : "");
    return 1;
}

/* p <- p (1 + 0.2 u) + 0.05 u, u in [-1, 1) from a small LCG: running variances stay positive */
static void perturb(net *m) {
    size_t n = 0;
    float *p = net_params(m, &n);
    unsigned long long s = 88172645463325252ULL;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        float u = (float)((s >> 40) / 8388608.0 - 1.0);
        p[i] = p[i] * (1 + 0.2f * u) + 0.05f * u;
    }
}

static int save(const char *seed, const char *path, int plain) {
    net *m = net_create(strtoull(seed, NULL, 10));
    if (!m) return fail("out of memory", NULL);
    if (!plain) perturb(m);
    int rc = net_save(m, path) != NNRT_OK ? fail("save", m) : 0;
    net_free(m);
    return rc;
}

/* the tensors of one file, read or written whole */
static int io_file(const char *path, const char *mode, void **t, const nnrt_tensor_info *info, int n) {
    FILE *f = fopen(path, mode);
    int ok = f != NULL;
    for (int i = 0; ok && i < n; i++) {
        size_t es = info[i].dtype == NNRT_F64 ? 8 : 4;
        ok = *mode == 'r' ? fread(t[i], es, info[i].numel, f) == info[i].numel
                          : fwrite(t[i], es, info[i].numel, f) == info[i].numel;
    }
    if (f && fclose(f) != 0) ok = 0;
    return ok ? 0 : fail(path, NULL);
}

static int forward(const char *w, const char *in, const char *out) {
    nnrt_tensor_info ii[NET_NUM_IO + 1], oi[NET_NUM_OUTPUTS];
    void *x[NET_NUM_IO + 1], *y[NET_NUM_OUTPUTS];
    for (int i = 0; i < NET_NUM_IO; i++) net_io_info(i, &ii[i]), x[i] = calloc(ii[i].numel, 8);
    for (int i = 0; i < NET_NUM_OUTPUTS; i++) net_output_info(i, &oi[i]), y[i] = calloc(oi[i].numel, 8);
    net *m = net_create(0);
    if (!m) return fail("out of memory", NULL);
    int rc = net_load(m, w) != NNRT_OK ? fail("load", m) : io_file(in, "rb", x, ii, NET_NUM_IO);
    if (!rc && net_forward_v(m, (const void *const *)x, y) != NNRT_OK) rc = fail("forward", m);
    if (!rc) rc = io_file(out, "wb", y, oi, NET_NUM_OUTPUTS);
    net_free(m);
    for (int i = 0; i < NET_NUM_IO; i++) free(x[i]);
    for (int i = 0; i < NET_NUM_OUTPUTS; i++) free(y[i]);
    return rc;
}

int main(int argc, char **argv) {
    if ((argc == 4 || argc == 5) && !strcmp(argv[1], "save")) return save(argv[2], argv[3], argc == 5);
    if (argc == 5 && !strcmp(argv[1], "forward")) return forward(argv[2], argv[3], argv[4]);
    fprintf(stderr, "usage: driver save SEED W [plain] | driver forward W IN OUT\n");
    return 2;
}
