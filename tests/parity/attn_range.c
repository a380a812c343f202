/* attn_range.c — an out-of-range token id makes the entry points of a
 * model with an embedding return NNRT_ERR_RANGE with a message, before any
 * kernel runs (tests/parity/cases_attn.py builds it against attn_gpt.nn).
 *
 *   cc -std=c99 -Iruntime -I<tmp> -DMODEL=attn_gpt -include <tmp>/attn_gpt.h \
 *      tests/parity/attn_range.c <tmp>/attn_gpt.c libnnrt.a -lm
 *   ./a.out VOCAB       prints "ok ..." lines; exit 0, or 1 on a failure
 *
 * io tensor 0 must be the ids, the others i32 targets; REAL is the model's
 * element type (float, or double with -DREAL=double). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnrt.h"

#ifndef REAL
#define REAL float
#endif
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define FN(x) CAT(MODEL, x)

enum { MAX_IO = 8, SENTINEL = 0x5A };

static int failures;

static void expect(int cond, const char *what, const char *msg) {
    printf("%s %s%s%s\n", cond ? "ok" : "FAILED", what, msg ? ": " : "", msg ? msg : "");
    failures += !cond;
}

/* A failed call must say range, name the op and the value. */
static void expect_range(MODEL *m, int st, const char *what, const char *value) {
    const char *msg = FN(_last_error)(m);
    expect(st == NNRT_ERR_RANGE && strstr(msg, "embedding") && strstr(msg, value), what, msg);
}

int main(int argc, char **argv) {
    if (argc != 2) return fprintf(stderr, "usage: attn_range VOCAB\n"), 2;
    int vocab = atoi(argv[1]), nio = 0;
    nnrt_tensor_info info;
    void *io[MAX_IO] = {0};
    while (nio < MAX_IO && FN(_io_info)(nio, &info) == NNRT_OK) {
        io[nio] = calloc(info.numel, sizeof(int32_t)); /* every id and label 0: valid */
        if (!io[nio++]) return 2;
    }
    FN(_output_info)(0, &info);
    size_t out_bytes = info.numel * sizeof(REAL);
    unsigned char *out = malloc(out_bytes), *want = malloc(out_bytes);
    MODEL *m = FN(_create)(1);
    if (!m || !out || !want) return 2;
    void *outs[1] = {out};
    int32_t *ids = io[0];
    REAL loss = 0;

    ids[3] = vocab; /* one past the table */
    memset(out, SENTINEL, out_bytes);
    memcpy(want, out, out_bytes);
    char value[32];
    snprintf(value, sizeof value, "%d", vocab);
    expect_range(m, FN(_forward_v)(m, (const void *const *)io, outs), "_forward_v rejects id = vocab", value);
    expect(!memcmp(out, want, out_bytes), "the output is untouched (no kernel ran)", NULL);
    expect_range(m, FN(_loss_v)(m, (const void *const *)io, &loss), "_loss_v rejects id = vocab", value);
    expect_range(m, FN(_forward_backward_v)(m, (const void *const *)io, &loss), "_forward_backward_v rejects id = vocab",
                 value);
    ids[3] = 0;
    ids[5] = -1;
    expect_range(m, FN(_forward_v)(m, (const void *const *)io, outs), "_forward_v rejects id = -1", "-1");
    ids[5] = vocab - 1; /* the last row is valid */
    expect(FN(_forward_v)(m, (const void *const *)io, outs) == NNRT_OK, "id = vocab - 1 is accepted", NULL);
    expect(FN(_forward_backward_v)(m, (const void *const *)io, &loss) == NNRT_OK, "and trains", NULL);

    FN(_free)(m);
    for (int i = 0; i < nio; i++) free(io[i]);
    free(out);
    free(want);
    return failures ? 1 : 0;
}
