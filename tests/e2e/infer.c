/* infer.c — inference-only builds against the full build (tests/e2e/infer.sh).
 *
 * One model compiled three ways with different prefixes: full (the default
 * build, with training), inf (--infer-only) and, for `check`, emb
 * (--weights W.safetensors). `infer save W` trains full for a few steps on
 * made-up data and saves its weights; `infer check W` loads them into full
 * and inf (from the file and, through inf_load_mem, from memory), and
 * requires that full_forward, inf_forward and emb_forward give the same
 * bits on the same inputs. Exit status 0 when all agree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "full.h"
#include "inf.h"
#ifdef CHECK
#include "emb.h"
#endif

#define MAX_IO 8

/* Buffers for the inputs and targets of the full model (io_info order; the
 * inference builds take the inputs, its first ones), and the outputs. */
typedef struct bufs {
    void *io[MAX_IO];
    void *out[MAX_IO], *out2[MAX_IO];
    size_t out_bytes[MAX_IO];
} bufs;

/* A value for element k of tensor t in round r: made up, reproducible;
 * labels and token ids are 0 (in range for every model). */
static void fill(const nnrt_tensor_info *t, void *p, int r) {
    for (size_t k = 0; k < t->numel; k++) {
        if (t->dtype == NNRT_I32) ((int *)p)[k] = 0;
        else ((float *)p)[k] = (float)((k * 7 + (size_t)r * 13) % 23) / 23.0f - 0.3f;
    }
}

static int make_bufs(bufs *b) {
    nnrt_tensor_info t;
    memset(b, 0, sizeof *b);
    for (int i = 0; i < FULL_NUM_IO && i < MAX_IO; i++) {
        if (full_io_info(i, &t) != NNRT_OK || !(b->io[i] = malloc(t.numel * 4))) return 1;
        fill(&t, b->io[i], 0);
    }
    for (int i = 0; i < FULL_NUM_OUTPUTS && i < MAX_IO; i++) {
        if (full_output_info(i, &t) != NNRT_OK) return 1;
        b->out_bytes[i] = t.numel * sizeof(float);
        if (!(b->out[i] = malloc(b->out_bytes[i])) || !(b->out2[i] = malloc(b->out_bytes[i]))) return 1;
    }
    return 0;
}

static int save(const char *path, bufs *b) {
    full *m = full_create(7);
    nnrt_tensor_info t;
    float loss;
    if (!m) return fprintf(stderr, "full_create failed\n"), 1;
    for (int r = 0; r < 5; r++) {
        for (int i = 0; i < FULL_NUM_IO; i++)
            if (full_io_info(i, &t) == NNRT_OK) fill(&t, b->io[i], r);
        if (full_forward_backward_v(m, (const void *const *)b->io, &loss) != NNRT_OK || full_update(m) != NNRT_OK)
            return fprintf(stderr, "training failed: %s\n", full_last_error(m)), 1;
    }
    int st = full_save(m, path);
    if (st != NNRT_OK) fprintf(stderr, "save: %s\n", full_last_error(m));
    full_free(m);
    return st != NNRT_OK;
}

#ifdef CHECK
/* The outputs in b->out2 the same bits as in b->out? */
static int same(const bufs *b, const char *what) {
    for (int i = 0; i < FULL_NUM_OUTPUTS; i++)
        if (memcmp(b->out[i], b->out2[i], b->out_bytes[i]))
            return fprintf(stderr, "%s: output %d differs\n", what, i), 1;
    return 0;
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long len;
    if (f && fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)len)) && fread(buf, 1, (size_t)len, f) == (size_t)len)
        *n = (size_t)len;
    else free(buf), buf = NULL;
    if (f) fclose(f);
    return buf;
}

static int check(const char *path, bufs *b) {
    full *fm = full_create(1);
    inf *im = inf_create(2), *mm = inf_create(3);
    emb *em = emb_create(4);
    size_t n = 0;
    unsigned char *bytes = slurp(path, &n);
    int bad = !fm || !im || !mm || !em || !bytes;
    if (bad) return fprintf(stderr, "set-up failed\n"), 1;
    if (full_load(fm, path) != NNRT_OK || inf_load(im, path) != NNRT_OK || inf_load_mem(mm, bytes, n) != NNRT_OK)
        return fprintf(stderr, "load failed: %s %s %s\n", full_last_error(fm), inf_last_error(im),
                       inf_last_error(mm)), 1;
    if (inf_load_mem(mm, bytes, n - 1) == NNRT_OK || !strstr(inf_last_error(mm), "(safetensors in memory)"))
        return fprintf(stderr, "inf_load_mem took a truncated buffer (%s)\n", inf_last_error(mm)), 1;
    const void *const *io = (const void *const *)b->io;
    bad |= full_forward_v(fm, io, b->out) != NNRT_OK || inf_forward_v(im, io, b->out2) != NNRT_OK;
    bad |= same(b, "--infer-only, loaded from the file");
    bad |= inf_forward_v(mm, io, b->out2) != NNRT_OK;
    bad |= same(b, "--infer-only, inf_load_mem");
    bad |= emb_forward_v(em, io, b->out2) != NNRT_OK;
    bad |= same(b, "--weights");
    if (!bad)
        printf("same bits; blocks: full %lu bytes, --infer-only %lu, --weights %lu\n", (unsigned long)FULL_ARENA_BYTES,
               (unsigned long)INF_ARENA_BYTES, (unsigned long)EMB_ARENA_BYTES);
    full_free(fm), inf_free(im), inf_free(mm), emb_free(em), free(bytes);
    return bad;
}
#endif

int main(int argc, char **argv) {
    bufs b;
    if (argc != 3 || make_bufs(&b)) return fprintf(stderr, "usage: infer save|check W.safetensors\n"), 2;
    if (!strcmp(argv[1], "save")) return save(argv[2], &b);
#ifdef CHECK
    if (!strcmp(argv[1], "check")) return check(argv[2], &b);
#endif
    return 2;
}
