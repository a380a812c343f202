/* checkpoint.c — exact training checkpoints: one safetensors file holding
 * the parameters (named as P_save names them, so the file also loads as
 * weights), each optimizer buffer as "optim.SLOT.NAME" (SLOT as in
 * torch.optim's state: momentum_buffer, exp_avg, exp_avg_sq), and in its
 * __metadata__ the step count, the learning rate, the random ops' Philox
 * seed and call counter, and the caller's own state string (the trainer's
 * epoch). Saving is atomic (atomic_file.h); loading checks every tensor and
 * value before anything is written, so a bad file leaves the model as it was.
 */
#include "nnrt_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

/* The tensors of a checkpoint: the parameters, then every slot's copy of
 * them, in one staging buffer of (1 + nslots) * elems elements. */
typedef struct ck_tensors {
    nnrt_tensor_info *infos; /* n * (1 + nslots) */
    char *names;             /* their names */
    int count;
    unsigned char *stage;
    size_t part_bytes; /* bytes of one part (elems elements) */
} ck_tensors;

static void ck_free(ck_tensors *t)
{
    free(t->infos);
    free(t->names);
    free(t->stage);
}

static int ck_alloc(const nnrt_ckpt_model *cm, ck_tensors *t, nnrt_err *err)
{
    int parts = 1 + cm->nslots, i, k;
    size_t room = 0, at = 0, esz = nnrt_dtype_size(cm->params[0].dtype);
    memset(t, 0, sizeof *t);
    for (i = 0; i < cm->n; i++)
        room += (size_t)parts * (strlen(cm->params[i].name) + 40);
    t->count = cm->n * parts;
    t->part_bytes = cm->elems * esz;
    t->infos = malloc(sizeof *t->infos * (size_t)t->count);
    t->names = malloc(room);
    t->stage = calloc(t->part_bytes * (size_t)parts + 1, 1); /* padding stays zero */
    if (!t->infos || !t->names || !t->stage)
        return nnrti_fail(err, NNRT_ERR_NOMEM, "%s: out of memory for its checkpoint", cm->name);
    for (k = 0; k < parts; k++)
        for (i = 0; i < cm->n; i++) {
            nnrt_tensor_info *ti = &t->infos[k * cm->n + i];
            *ti = cm->params[i];
            ti->offset += (size_t)k * cm->elems;
            ti->name = t->names + at;
            if (k == 0)
                at += (size_t)snprintf(t->names + at, room - at, "%s", cm->params[i].name) + 1;
            else
                at += (size_t)snprintf(t->names + at, room - at, "optim.%s.%s", cm->slots[k - 1], cm->params[i].name)
                      + 1;
        }
    return NNRT_OK;
}

int nnrt_ckpt_save(const char *path, const nnrt_ckpt_model *cm, const void *const *bufs, const nnrt_ckpt_state *st,
                   nnrt_err *err)
{
    char step[32], lr[40], seed[32], calls[32];
    const char *meta[] = {NNRT_CKPT_FORMAT_KEY, NNRT_CKPT_FORMAT, "model", cm->name, "step", step, "lr", lr,
                          "rng.seed", seed, "rng.calls", calls, "trainer", st->extra, NULL};
    ck_tensors t;
    int k, rc;
    if (!path || !cm || !bufs || !st || cm->n < 1 || cm->nslots < 0 || cm->nslots > 2)
        return nnrti_fail(err, NNRT_ERR_ARG, "%s: bad checkpoint arguments", path ? path : "(null)");
    snprintf(step, sizeof step, "%" PRId64, st->step);
    snprintf(lr, sizeof lr, "%.17g", st->lr);
    snprintf(seed, sizeof seed, "%" PRIu64, st->seed);
    snprintf(calls, sizeof calls, "%" PRIu64, st->calls);
    if ((rc = ck_alloc(cm, &t, err)) == NNRT_OK) {
        for (k = 0; k <= cm->nslots; k++)
            memcpy(t.stage + (size_t)k * t.part_bytes, bufs[k], t.part_bytes);
        rc = nnrt_st_save_meta(path, t.infos, t.count, t.stage, meta, err);
    }
    ck_free(&t);
    return rc;
}

/* Metadata key of f as a whole decimal number (u64, or i64 >= 0). */
static int meta_u64(const nnrt_st_file *f, const char *path, const char *key, uint64_t *out, nnrt_err *err)
{
    const char *v = nnrt_st_meta(f, key);
    char *end;
    if (!v)
        return nnrti_fail(err, NNRT_ERR_FORMAT, "%s: the checkpoint has no '%s' in its __metadata__", path, key);
    errno = 0;
    *out = strtoull(v, &end, 10);
    if (*v < '0' || *v > '9' || *end || errno)
        return nnrti_fail(err, NNRT_ERR_FORMAT, "%s: checkpoint __metadata__ '%s' = '%s' is not a whole number", path,
                          key, v);
    return NNRT_OK;
}

/* The state in f's metadata, checked. */
static int read_state(const nnrt_st_file *f, const char *path, nnrt_ckpt_state *st, nnrt_err *err)
{
    const char *lr = nnrt_st_meta(f, "lr"), *extra = nnrt_st_meta(f, "trainer");
    uint64_t step = 0;
    char *end = NULL;
    int rc;
    if ((rc = meta_u64(f, path, "step", &step, err)) || (rc = meta_u64(f, path, "rng.seed", &st->seed, err)) ||
        (rc = meta_u64(f, path, "rng.calls", &st->calls, err)))
        return rc;
    if (step > INT64_MAX)
        return nnrti_fail(err, NNRT_ERR_FORMAT, "%s: checkpoint step %" PRIu64 " is too large", path, step);
    st->step = (int64_t)step;
    if (lr)
        st->lr = strtod(lr, &end);
    if (!lr || !*lr || *end || !(st->lr >= 0 && st->lr <= 1e300))
        return nnrti_fail(err, NNRT_ERR_FORMAT, "%s: checkpoint __metadata__ 'lr' is missing or not a learning rate",
                          path);
    if (extra && strlen(extra) >= sizeof st->extra)
        return nnrti_fail(err, NNRT_ERR_FORMAT, "%s: checkpoint __metadata__ 'trainer' is too long", path);
    snprintf(st->extra, sizeof st->extra, "%s", extra ? extra : "");
    return NNRT_OK;
}

int nnrt_ckpt_is_checkpoint(const char *path, nnrt_err *err)
{
    nnrt_st_file *f = NULL;
    int rc = nnrti_st_open_header(path, &f, err);
    if (rc == NNRT_OK)
        rc = nnrt_st_meta(f, NNRT_CKPT_FORMAT_KEY) != NULL;
    else
        rc = -1;
    nnrt_st_close(f);
    return rc;
}

int nnrt_ckpt_load(const char *path, const nnrt_ckpt_model *cm, void *const *bufs, nnrt_ckpt_state *st,
                   nnrt_err *err)
{
    nnrt_st_file *f = NULL;
    nnrt_ckpt_state got;
    ck_tensors t;
    const char *fmt;
    int k, rc;
    if (!path || !cm || !bufs || !st || cm->n < 1 || cm->nslots < 0 || cm->nslots > 2)
        return nnrti_fail(err, NNRT_ERR_ARG, "%s: bad checkpoint arguments", path ? path : "(null)");
    memset(&t, 0, sizeof t);
    memset(&got, 0, sizeof got);
    if ((rc = nnrti_st_open_header(path, &f, err)) == NNRT_OK) {
        fmt = nnrt_st_meta(f, NNRT_CKPT_FORMAT_KEY);
        if (!fmt)
            rc = nnrti_fail(err, NNRT_ERR_FORMAT, "%s: not a checkpoint (weights only: no '%s' in its __metadata__)",
                            path, NNRT_CKPT_FORMAT_KEY);
        else if (strcmp(fmt, NNRT_CKPT_FORMAT) != 0)
            rc = nnrti_fail(err, NNRT_ERR_FORMAT, "%s: checkpoint format '%s', expected '%s'", path, fmt,
                            NNRT_CKPT_FORMAT);
        else
            rc = read_state(f, path, &got, err);
    }
    if (rc == NNRT_OK && (rc = ck_alloc(cm, &t, err)) == NNRT_OK)
        rc = nnrt_st_load(path, t.infos, t.count, t.stage, err);
    for (k = 0; rc == NNRT_OK && k <= cm->nslots; k++)
        memcpy(bufs[k], t.stage + (size_t)k * t.part_bytes, t.part_bytes);
    if (rc == NNRT_OK)
        *st = got;
    nnrt_st_close(f);
    ck_free(&t);
    return rc;
}
