/* st_partial.c — partial safetensors loads for fine-tuning, as PyTorch's
 * load_state_dict(strict=False): the tensors of a list that a file has are
 * loaded, the others (missing) and the file's tensors that no entry takes
 * (unexpected) are reported by name. A prefix map renames between the two:
 * "backbone.=features." loads the file's "backbone.0.weight" into the
 * model's "features.0.weight"; rules are separated by ','. Built on the
 * checked, all-or-nothing nnrt_st_open_header and nnrt_st_load. */
#include "nnrt_internal.h"

#include <stdlib.h>

enum { MAX_RULES = 16 };

/* One rule "from=to": file names starting with from are model names
 * starting with to. */
typedef struct prefix_rule {
    const char *from, *to;
    size_t nfrom, nto;
} prefix_rule;

/* Splits map into rules; the count, or -1 with err set. */
static int parse_map(const char *map, prefix_rule *r, nnrt_err *err)
{
    int n = 0;
    while (map && *map) {
        const char *end = strchr(map, ','), *eq = strchr(map, '=');
        size_t len = end ? (size_t)(end - map) : strlen(map);
        if (!eq || eq >= map + len || n == MAX_RULES) {
            nnrti_fail(err, NNRT_ERR_ARG, "prefix map '%s': %s", map,
                       n == MAX_RULES ? "more than 16 rules" : "each rule must be FILE_PREFIX=MODEL_PREFIX");
            return -1;
        }
        r[n].from = map, r[n].nfrom = (size_t)(eq - map);
        r[n].to = eq + 1, r[n].nto = len - r[n].nfrom - 1;
        n++;
        map = end ? end + 1 : map + len;
    }
    return n;
}

/* name with the prefix of the first rule whose side `have` it starts with
 * replaced by the other side (file to model when to_model), malloc'd. */
static char *rename_by(const char *name, const prefix_rule *r, int n, int to_model)
{
    const char *pre = "", *rest = name;
    size_t npre = 0;
    for (int k = 0; k < n; k++) {
        const char *have = to_model ? r[k].from : r[k].to;
        size_t nhave = to_model ? r[k].nfrom : r[k].nto;
        if (!strncmp(name, have, nhave)) {
            pre = to_model ? r[k].to : r[k].from, npre = to_model ? r[k].nto : r[k].nfrom, rest = name + nhave;
            break;
        }
    }
    char *s = malloc(npre + strlen(rest) + 1);
    if (s) {
        memcpy(s, pre, npre);
        strcpy(s + npre, rest);
    }
    return s;
}

/* The index of the info named name, or -1. */
static int find_info(const nnrt_tensor_info *infos, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(infos[i].name, name))
            return i;
    return -1;
}

/* The work of one partial load: the entries found in the file (with file
 * names), what to report, and the strings they own. */
typedef struct partial {
    nnrt_tensor_info *found;
    char **fnames;     /* found[k].name, malloc'd */
    int nfound;
    const char **missing;
    int nmissing;
    char **unexpected; /* file names, malloc'd */
    int nunexpected;
} partial;

static void partial_free(partial *p, int n, int nfile)
{
    for (int k = 0; k < n && p->fnames; k++)
        free(p->fnames[k]);
    for (int k = 0; k < nfile && p->unexpected; k++)
        free(p->unexpected[k]);
    free(p->found), free(p->fnames), free(p->missing), free(p->unexpected);
}

/* "[3, 4]" into buf (room for NNRT_MAX_RANK dims). */
static const char *shape_str(const nnrt_tensor_info *t, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int k = 0; k < t->rank && n < cap; k++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", k ? ", " : "", (long long)t->shape[k]);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
    return buf;
}

/* NNRT_OK when the file's tensor t has the shape of the model's m; else
 * NNRT_ERR_SHAPE naming both (the names differ under a prefix map). */
static int check_shape(const char *path, const nnrt_tensor_info *t, const nnrt_tensor_info *m, nnrt_err *err)
{
    char a[256], b[256];
    int same = t->rank == m->rank;
    for (int k = 0; same && k < t->rank; k++)
        same = t->shape[k] == m->shape[k];
    if (same)
        return NNRT_OK;
    return nnrti_fail(err, NNRT_ERR_SHAPE, "%s: tensor '%s' has shape %s, the model's '%s' is %s", path, t->name,
                      shape_str(t, a, sizeof a), m->name, shape_str(m, b, sizeof b));
}

/* Sorts infos into found and missing by their file names in f: NNRT_OK,
 * or the error of running out of memory or of a shape that does not fit. */
static int match_infos(const char *path, const nnrt_st_file *f, const nnrt_tensor_info *infos, int n,
                       const prefix_rule *r, int nr, partial *p, nnrt_err *err)
{
    nnrt_tensor_info t;
    const void *data;
    for (int i = 0; i < n; i++) {
        char *fname = rename_by(infos[i].name, r, nr, 0);
        if (!fname)
            return nnrti_fail(err, NNRT_ERR_NOMEM, "%s: out of memory", path);
        int found = nnrt_st_find(f, fname, &t, &data) == NNRT_OK;
        if (found && check_shape(path, &t, &infos[i], err) != NNRT_OK) {
            free(fname);
            return NNRT_ERR_SHAPE;
        }
        if (found) {
            p->found[p->nfound] = infos[i];
            p->found[p->nfound].name = p->fnames[p->nfound] = fname;
            p->nfound++;
        } else {
            p->missing[p->nmissing++] = infos[i].name;
            free(fname);
        }
    }
    return NNRT_OK;
}

/* Lists the file's tensors that no info takes. */
static int match_file(const nnrt_st_file *f, const nnrt_tensor_info *infos, int n, const prefix_rule *r, int nr,
                      partial *p)
{
    nnrt_tensor_info t;
    const void *data;
    for (int k = 0; k < nnrt_st_count(f); k++) {
        if (nnrt_st_get(f, k, &t, &data) != NNRT_OK)
            continue;
        char *mname = rename_by(t.name, r, nr, 1);
        if (!mname)
            return 0;
        int taken = find_info(infos, n, mname) >= 0;
        free(mname);
        if (!taken && !(p->unexpected[p->nunexpected] = malloc(strlen(t.name) + 1)))
            return 0;
        if (!taken)
            strcpy(p->unexpected[p->nunexpected++], t.name);
    }
    return 1;
}

static int partial_alloc(partial *p, int n, int nfile)
{
    size_t a = (size_t)(n ? n : 1), b = (size_t)(nfile ? nfile : 1);
    memset(p, 0, sizeof *p);
    p->found = malloc(a * sizeof *p->found);
    p->fnames = calloc(a, sizeof *p->fnames);
    p->missing = malloc(a * sizeof *p->missing);
    p->unexpected = calloc(b, sizeof *p->unexpected);
    return p->found && p->fnames && p->missing && p->unexpected;
}

int nnrt_st_load_partial(const char *path, const nnrt_tensor_info *infos, int n, void *base, const char *prefix_map,
                         nnrt_name_fn report, void *ctx, int *loaded, nnrt_err *err)
{
    prefix_rule r[MAX_RULES];
    nnrt_st_file *f = NULL;
    partial p;
    if (!path)
        return nnrti_fail(err, NNRT_ERR_ARG, "(null): no path given");
    if (n < 0 || (n > 0 && (!infos || !base)))
        return nnrti_fail(err, NNRT_ERR_ARG, "%s: bad tensor list", path);
    int nr = parse_map(prefix_map, r, err), rc;
    if (nr < 0)
        return NNRT_ERR_ARG;
    if ((rc = nnrt_st_open_header(path, &f, err)) != NNRT_OK)
        return rc;
    int nfile = nnrt_st_count(f);
    if (!partial_alloc(&p, n, nfile) || !match_file(f, infos, n, r, nr, &p))
        rc = nnrti_fail(err, NNRT_ERR_NOMEM, "%s: out of memory", path);
    else
        rc = match_infos(path, f, infos, n, r, nr, &p, err);
    nnrt_st_close(f);
    if (rc == NNRT_OK)
        rc = nnrt_st_load(path, p.found, p.nfound, base, err);
    for (int k = 0; rc == NNRT_OK && report && k < p.nmissing; k++)
        report(ctx, 1, p.missing[k]);
    for (int k = 0; rc == NNRT_OK && report && k < p.nunexpected; k++)
        report(ctx, 0, p.unexpected[k]);
    if (rc == NNRT_OK && loaded)
        *loaded = p.nfound;
    partial_free(&p, p.nfound, p.nunexpected);
    return rc;
}
