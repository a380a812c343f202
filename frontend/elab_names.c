/* elab_names.c — names: scopes, built-in lookup and "did you mean".
 *
 * A scope holds the names bound in it, in definition order, and a hash
 * index over them; lookup is a hash probe per scope, so elaborating a
 * model of n statements stays linear in n. The scopes are the consts
 * (no parent) and, inside them, the model's statements or the body of
 * one block application. Everything lives in the compile arena. The same
 * hash index maps parameter names to their nodes (elab_call.c).
 */
#include "elab_impl.h"

/* ---- the hash index ---------------------------------------------------- */

/* FNV-1a over the bytes of the name. */
static unsigned hash_name(const char *s) {
    unsigned h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

int el_index_get(const el_index *ix, const char *name) {
    if (!ix->nslot) return -1;
    unsigned mask = (unsigned)ix->nslot - 1;
    for (unsigned i = hash_name(name) & mask; ix->key[i]; i = (i + 1) & mask)
        if (!strcmp(ix->key[i], name)) return ix->val[i];
    return -1;
}

/* Twice the slots (16 at first), the entries put again. */
static void index_grow(arena *a, el_index *ix) {
    el_index big = {NULL, NULL, ix->nslot ? 2 * ix->nslot : 16, 0};
    big.key = arena_alloc(a, sizeof *big.key * (size_t)big.nslot);
    big.val = arena_alloc(a, sizeof *big.val * (size_t)big.nslot);
    for (int i = 0; i < ix->nslot; i++)
        if (ix->key[i]) el_index_put(a, &big, ix->key[i], ix->val[i]);
    *ix = big;
}

void el_index_put(arena *a, el_index *ix, const char *name, int v) {
    if (2 * (ix->n + 1) > ix->nslot) index_grow(a, ix);
    unsigned mask = (unsigned)ix->nslot - 1, i = hash_name(name) & mask;
    for (; ix->key[i]; i = (i + 1) & mask)
        if (!strcmp(ix->key[i], name)) return;
    ix->key[i] = name;
    ix->val[i] = v;
    ix->n++;
}

/* ---- scopes ------------------------------------------------------------ */

el_scope *el_scope_new(elab *e, el_scope *parent) {
    el_scope *s = arena_alloc(e->g->a, sizeof *s);
    s->parent = parent;
    return s;
}

binding *el_lookup(elab *e, const char *name) {
    for (el_scope *s = e->names; s; s = s->parent) {
        int i = el_index_get(&s->index, name);
        if (i >= 0) return &s->list.data[i];
    }
    return NULL;
}

void el_bind(elab *e, const char *name, src_span def, val v) {
    binding *old = el_lookup(e, name);
    if (old) {
        diag_error(e->d, def, "redefinition of '%s'", name);
        diag_note(e->d, old->def, "'%s' was defined here", name);
        return;
    }
    binding b = {name, v, def};
    el_index_put(e->g->a, &e->names->index, name, e->names->list.len);
    arr_push(e->g->a, e->names->list, b);
}

/* ---- built-in ops, symbols and suggestions ----------------------------- */

static const char *const symbols[] = {"he", "glorot", "zeros", "ones", "auto", "true", "false",
                                      "nearest", "bilinear", NULL};

const builtin *el_find_builtin(const char *name) {
    for (int t = 0; elab_libs[t]; t++)
        for (const builtin *b = elab_libs[t]; b->name; b++)
            if (!strcmp(b->name, name)) return b;
    return NULL;
}

/* The closest bound name of scope s, parents first (definition order), into
 * *best when nearer than *bd. */
static void closest_bound(const el_scope *s, const char *name, int *bd, const char **best) {
    if (!s) return;
    closest_bound(s->parent, name, bd, best);
    for (int i = 0; i < s->list.len; i++) {
        int dd = edit_distance(name, s->list.data[i].name);
        if (dd < *bd) *bd = dd, *best = s->list.data[i].name;
    }
}

const char *el_symbol(const char *name) {
    for (int i = 0; symbols[i]; i++)
        if (!strcmp(symbols[i], name)) return symbols[i];
    return NULL;
}

/* The closest known name within edit distance 2, or NULL. want_ops: 0
 * names and symbols, 1 ops and blocks, 2 optimizers only, 3 blocks only. */
static const char *suggest(elab *e, const char *name, int want_ops) {
    const char *best = NULL;
    int bd = 3;
    for (int i = 0; (want_ops == 1 || want_ops == 3) && e->blocks && i < e->blocks->n; i++) {
        int dd = edit_distance(name, e->blocks->b[i].ast->name);
        if (dd < bd) bd = dd, best = e->blocks->b[i].ast->name;
    }
    for (int t = 0; (want_ops == 1 || want_ops == 2) && elab_libs[t]; t++)
        for (const builtin *b = elab_libs[t]; b->name; b++) {
            if (want_ops == 2 && b->kind != B_OPTIM) continue;
            int dd = edit_distance(name, b->name);
            if (dd < bd) bd = dd, best = b->name;
        }
    if (!want_ops) closest_bound(e->names, name, &bd, &best);
    for (int i = 0; symbols[i] && !want_ops; i++) {
        int dd = edit_distance(name, symbols[i]);
        if (dd < bd) bd = dd, best = symbols[i];
    }
    return best && (int)strlen(name) > bd ? best : NULL;
}

void el_unknown(elab *e, src_span at, const char *what, const char *name, int ops) {
    const char *s = suggest(e, name, ops);
    if (s) diag_error(e->d, at, "unknown %s '%s'; did you mean '%s'?", what, name, s);
    else diag_error(e->d, at, "unknown %s '%s'", what, name);
}

