/* ckpt_objectives.c — one checkpoint file for a model with several
 * objectives (nnc's one-file build): each objective's model writes its own
 * checkpoint (nnrt_ckpt_save) to a hidden temporary beside path, and they
 * are joined into one safetensors file: objective 0's parameters (they are
 * every objective's), each objective's optimizer buffers "optim.SLOT.NAME"
 * as "OBJ.optim.SLOT.NAME", objective 0's metadata as it is (so the file is
 * a checkpoint and loads as weights) and each objective's "step", "lr",
 * "rng.seed" and "rng.calls" as "OBJ.step", .... Loading splits the file
 * back into one checkpoint per objective, each read by its model. */
#include "nnrt_internal.h"

#include <stdio.h>
#include <stdlib.h>

static const char *const state_keys[] = {"step", "lr", "rng.seed", "rng.calls"};
enum { NSTATE = 4, PART_CAP = 4096 };

/* The temporary of objective k: ".BASE.OBJ.nnrt-part" beside path. */
static int part_path(char *buf, const char *path, const char *obj)
{
    const char *slash = strrchr(path, '/');
    int dir = slash ? (int)(slash - path + 1) : 0;
    int n = snprintf(buf, PART_CAP, "%.*s.%s.%s.nnrt-part", dir, path, path + dir, obj);
    return n > 0 && n < PART_CAP;
}

/* Tensor name in the joined file of tensor `name` of objective k's own
 * checkpoint (NULL: left out, the parameters of k > 0). */
static const char *joined_name(char *buf, size_t cap, const char *obj, int k, const char *name)
{
    if (strncmp(name, "optim.", 6) != 0)
        return k == 0 ? name : NULL;
    snprintf(buf, cap, "%s.%s", obj, name);
    return buf;
}

typedef struct joined {
    nnrt_tensor_info *infos;
    char *names;
    unsigned char *stage;
    int count;
    size_t at, name_at, name_cap, stage_cap;
    const char *meta[2 * (7 + 4 * 16) + 1];
    char keys[4 * 16][80];
} joined;

static int add_tensor(joined *j, const nnrt_tensor_info *ti, const void *data, const char *name)
{
    size_t esz = nnrt_dtype_size(ti->dtype), len = strlen(name) + 1;
    if (j->at + ti->numel * esz > j->stage_cap || j->name_at + len > j->name_cap)
        return NNRT_ERR_NOMEM;
    memcpy(j->stage + j->at, data, ti->numel * esz);
    memcpy(j->names + j->name_at, name, len);
    j->infos[j->count] = *ti;
    j->infos[j->count].name = j->names + j->name_at;
    j->infos[j->count].offset = j->at / esz;
    j->count++;
    j->at += ti->numel * esz;
    j->name_at += len;
    return NNRT_OK;
}

/* Room for every tensor of the n part files. */
static int joined_alloc(joined *j, nnrt_st_file **f, int n, nnrt_err *err)
{
    size_t tensors = 0;
    memset(j, 0, sizeof *j);
    for (int k = 0; k < n; k++)
        for (int i = 0; i < nnrt_st_count(f[k]); i++) {
            nnrt_tensor_info ti;
            const void *d;
            nnrt_st_get(f[k], i, &ti, &d);
            tensors++;
            j->name_cap += strlen(ti.name) + 80;
            j->stage_cap += ti.numel * nnrt_dtype_size(ti.dtype);
        }
    j->infos = malloc(sizeof *j->infos * (tensors + 1));
    j->names = malloc(j->name_cap + 1);
    j->stage = malloc(j->stage_cap + 1);
    if (!j->infos || !j->names || !j->stage)
        return nnrti_fail(err, NNRT_ERR_NOMEM, "out of memory joining a checkpoint");
    return NNRT_OK;
}

static void joined_free(joined *j)
{
    free(j->infos);
    free(j->names);
    free(j->stage);
}

/* Objective 0's metadata, then every objective's state as OBJ.KEY. */
static void joined_meta(joined *j, nnrt_st_file **f, int n, const char *const *names)
{
    static const char *const plain[] = {NNRT_CKPT_FORMAT_KEY, "model", "step", "lr", "rng.seed", "rng.calls",
                                        "trainer"};
    int m = 0;
    for (int i = 0; i < 7; i++)
        if (nnrt_st_meta(f[0], plain[i]))
            j->meta[m++] = plain[i], j->meta[m++] = nnrt_st_meta(f[0], plain[i]);
    for (int k = 0; k < n && k < 16; k++)
        for (int s = 0; s < NSTATE; s++) {
            const char *v = nnrt_st_meta(f[k], state_keys[s]);
            if (!v)
                continue;
            snprintf(j->keys[k * NSTATE + s], sizeof j->keys[0], "%s.%s", names[k], state_keys[s]);
            j->meta[m++] = j->keys[k * NSTATE + s], j->meta[m++] = v;
        }
    j->meta[m] = NULL;
}

static int join(const char *path, int n, const char *const *names, nnrt_st_file **f, nnrt_err *err)
{
    joined j;
    char buf[512];
    int rc = joined_alloc(&j, f, n, err);
    for (int k = 0; k < n && rc == NNRT_OK; k++)
        for (int i = 0; i < nnrt_st_count(f[k]) && rc == NNRT_OK; i++) {
            nnrt_tensor_info ti;
            const void *d;
            nnrt_st_get(f[k], i, &ti, &d);
            const char *name = joined_name(buf, sizeof buf, names[k], k, ti.name);
            if (name && (rc = add_tensor(&j, &ti, d, name)) != NNRT_OK)
                nnrti_fail(err, rc, "out of memory joining a checkpoint");
        }
    if (rc == NNRT_OK) {
        joined_meta(&j, f, n, names);
        rc = nnrt_st_save_meta(path, j.infos, j.count, j.stage, j.meta, err);
    }
    joined_free(&j);
    return rc;
}

int nnrt_ckpt_save_objectives(const char *path, int n, const char *const *names,
                              int (*save)(void *ctx, int k, const char *part), void *ctx, nnrt_err *err)
{
    char parts[16][PART_CAP];
    nnrt_st_file *f[16] = {NULL};
    int rc = NNRT_OK, k;
    if (!path || n < 1 || n > 16 || !names || !save)
        return nnrti_fail(err, NNRT_ERR_ARG, "%s: bad checkpoint arguments", path ? path : "(null)");
    for (k = 0; k < n && rc == NNRT_OK; k++)
        if (!part_path(parts[k], path, names[k]))
            rc = nnrti_fail(err, NNRT_ERR_ARG, "%s: the path is too long for a checkpoint", path);
        else if ((rc = save(ctx, k, parts[k])) == NNRT_OK)
            rc = nnrt_st_open(parts[k], &f[k], err);
    if (rc == NNRT_OK)
        rc = join(path, n, names, f, err);
    for (k = 0; k < n; k++) {
        nnrt_st_close(f[k]);
        if (part_path(parts[k], path, names[k]))
            remove(parts[k]);
    }
    return rc;
}

/* "OBJ.optim...." of some objective: its index, else -1. */
static int owner(const char *name, int n, const char *const *names)
{
    for (int k = 0; k < n; k++) {
        size_t len = strlen(names[k]);
        if (!strncmp(name, names[k], len) && !strncmp(name + len, ".optim.", 7))
            return k;
    }
    return -1;
}

/* Objective k's own checkpoint from the joined file f: the parameters,
 * its "OBJ.optim.*" as "optim.*", its state as the plain keys. */
static int split_one(const char *part, nnrt_st_file *f, int k, int n, const char *const *names, nnrt_err *err)
{
    static const char *const shared[] = {NNRT_CKPT_FORMAT_KEY, "model", "trainer"};
    const char *meta[2 * (3 + NSTATE) + 1];
    char key[NSTATE][80];
    joined j;
    int m = 0, rc = joined_alloc(&j, &f, 1, err);
    for (int i = 0; i < nnrt_st_count(f) && rc == NNRT_OK; i++) {
        nnrt_tensor_info ti;
        const void *d;
        nnrt_st_get(f, i, &ti, &d);
        int o = owner(ti.name, n, names);
        if ((o < 0 && strncmp(ti.name, "optim.", 6)) || o == k)
            rc = add_tensor(&j, &ti, d, o < 0 ? ti.name : ti.name + strlen(names[k]) + 1);
    }
    for (int i = 0; i < 3; i++)
        if (nnrt_st_meta(f, shared[i]))
            meta[m++] = shared[i], meta[m++] = nnrt_st_meta(f, shared[i]);
    for (int s = 0; s < NSTATE; s++) {
        snprintf(key[s], sizeof key[s], "%s.%s", names[k], state_keys[s]);
        if (nnrt_st_meta(f, key[s]))
            meta[m++] = state_keys[s], meta[m++] = nnrt_st_meta(f, key[s]);
    }
    meta[m] = NULL;
    if (rc == NNRT_OK)
        rc = nnrt_st_save_meta(part, j.infos, j.count, j.stage, meta, err);
    joined_free(&j);
    return rc;
}

/* Every objective's state is in f: checked before anything is loaded. */
static int check_joined(const char *path, nnrt_st_file *f, int n, const char *const *names, nnrt_err *err)
{
    char key[80];
    if (!nnrt_st_meta(f, NNRT_CKPT_FORMAT_KEY))
        return nnrti_fail(err, NNRT_ERR_FORMAT, "%s: not a checkpoint (weights only: no '%s' in its __metadata__)",
                          path, NNRT_CKPT_FORMAT_KEY);
    for (int k = 0; k < n; k++) {
        snprintf(key, sizeof key, "%s.step", names[k]);
        if (!nnrt_st_meta(f, key))
            return nnrti_fail(err, NNRT_ERR_FORMAT,
                              "%s: no state of objective '%s' (no '%s' in its __metadata__): not a checkpoint of "
                              "this model's objectives",
                              path, names[k], key);
    }
    return NNRT_OK;
}

int nnrt_ckpt_load_objectives(const char *path, int n, const char *const *names,
                              int (*load)(void *ctx, int k, const char *part), void *ctx, nnrt_err *err)
{
    char part[PART_CAP];
    nnrt_st_file *f = NULL;
    int rc, k;
    if (!path || n < 1 || n > 16 || !names || !load)
        return nnrti_fail(err, NNRT_ERR_ARG, "%s: bad checkpoint arguments", path ? path : "(null)");
    if ((rc = nnrt_st_open(path, &f, err)) == NNRT_OK)
        rc = check_joined(path, f, n, names, err);
    for (k = 0; k < n && rc == NNRT_OK; k++) {
        if (!part_path(part, path, names[k]))
            rc = nnrti_fail(err, NNRT_ERR_ARG, "%s: the path is too long for a checkpoint", path);
        else if ((rc = split_one(part, f, k, n, names, err)) == NNRT_OK)
            rc = load(ctx, k, part);
        if (part_path(part, path, names[k]))
            remove(part);
    }
    nnrt_st_close(f);
    return rc;
}
