/* test_compiler.c — CUnit tests of the compiler core: common/ (diagnostics,
 * arena, string buffers, edit distance), the IR's shape rules, elaboration
 * (through nnc_compile and directly), autodiff, constant folding, the memory
 * planner, the C code generator's determinism and naming, and the pipeline's
 * behaviour on malformed input.
 *
 * Built from the repository root against build/libnnc.a without -I flags, so
 * the headers are included by relative path. Example files are read from
 * examples/ (run from the root) or ../../examples/ (run from tests/unit).
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#endif

#include <CUnit/Basic.h>
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../driver/compile.h"

/* ======================================================================== */
/* helpers                                                                   */
/* ======================================================================== */

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
    }
    fclose(f);
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

/* An example program's text (malloc'd), from the root or tests/unit. */
static char *read_example(const char *name) {
    char path[256];
    snprintf(path, sizeof path, "examples/%s", name);
    char *s = read_file(path, NULL);
    if (!s) {
        snprintf(path, sizeof path, "../../examples/%s", name);
        s = read_file(path, NULL);
    }
    return s;
}

/* One nnc_compile run with its outputs captured. */
typedef struct compiled {
    int rc;      /* nnc_compile's result */
    strbuf out;  /* text output (.c for EMIT_C) */
    strbuf hdr;  /* header (EMIT_C) */
    char *diag;  /* everything written to the diagnostics stream */
    size_t dlen;
} compiled;

typedef struct copts {
    nnc_emit emit;
    const char *prefix;
    int f64;
    int opt_level; /* -1: default 2 */
    elab_define *defs;
    int ndefs;
} copts;

static int compile_n(compiled *r, const char *src, size_t len, copts c) {
    memset(r, 0, sizeof *r);
    sb_init(&r->out);
    sb_init(&r->hdr);
    FILE *f = open_memstream(&r->diag, &r->dlen);
    nnc_options o;
    memset(&o, 0, sizeof o);
    o.file = "t.nn";
    o.emit = c.emit;
    o.prefix = c.prefix;
    o.header = "model.h";
    o.opt_level = c.opt_level < 0 ? 2 : c.opt_level;
    o.f64 = c.f64;
    o.defs = c.defs;
    o.ndefs = c.ndefs;
    r->rc = nnc_compile(&o, src, len, &r->out, &r->hdr, f);
    fclose(f);
    return r->rc;
}

static int compile_with(compiled *r, const char *src, copts c) { return compile_n(r, src, strlen(src), c); }

static int compile_ir(compiled *r, const char *src) {
    copts c = {EMIT_IR, NULL, 0, -1, NULL, 0};
    return compile_with(r, src, c);
}

static void compiled_free(compiled *r) {
    sb_free(&r->out);
    sb_free(&r->hdr);
    free(r->diag);
}

/* Does the diagnostics text contain s? Prints it when not, to help. */
static int diag_has(const compiled *r, const char *s) {
    if (r->diag && strstr(r->diag, s)) return 1;
    fprintf(stderr, "\n--- expected in diagnostics: %s\n--- got:\n%s---\n", s, r->diag ? r->diag : "(null)");
    return 0;
}

/* Parse and elaborate directly, keeping the graph. */
typedef struct elaborated {
    arena a;
    ir_graph g;
    ast_program p;
    char *diag;
    size_t dlen;
    int perrors, eerrors;
} elaborated;

static int elab_src(elaborated *r, const char *src, elab_define *defs, int ndefs) {
    memset(r, 0, sizeof *r);
    arena_init(&r->a);
    FILE *f = open_memstream(&r->diag, &r->dlen);
    diag_ctx d;
    diag_init(&d, "t.nn", src, strlen(src), f, 0);
    ir_graph_init(&r->g, &r->a, "model");
    r->perrors = parse_program(src, strlen(src), &r->a, &d, &r->p);
    if (r->perrors == 0) r->eerrors = elaborate(&r->p, defs, ndefs, &d, &r->g);
    fclose(f);
    return r->perrors + r->eerrors;
}

static void elab_free(elaborated *r) {
    arena_free(&r->a);
    free(r->diag);
}

static int elab_example(elaborated *r, const char *name) {
    char *src = read_example(name);
    CU_ASSERT_PTR_NOT_NULL_FATAL(src);
    /* the AST and graph keep arena copies of names, so src can go */
    int rc = elab_src(r, src, NULL, 0);
    free(src);
    if (rc) fprintf(stderr, "%s", r->diag);
    return rc;
}

static ir_node *N(const ir_graph *g, int id) { return g->nodes.data[id]; }

static ir_node *param_named(const ir_graph *g, const char *name) {
    for (int i = 0; i < g->params.len; i++)
        if (!strcmp(N(g, g->params.data[i])->name, name)) return N(g, g->params.data[i]);
    return NULL;
}

static ir_shape shp(int rank, int64_t a, int64_t b, int64_t c) {
    int64_t d[3] = {a, b, c};
    return ir_shape_make(rank, d);
}

static int shape_is(const ir_shape *s, int rank, int64_t a, int64_t b, int64_t c) {
    ir_shape t = shp(rank, a, b, c);
    return ir_shape_eq(s, &t);
}

/* ir_print of g (and schedule s, or NULL) as a malloc'd string. */
static char *ir_text(const ir_graph *g, const ir_sched *s) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    ir_print(g, s, f);
    fclose(f);
    return buf;
}

static int verify_quiet(const ir_graph *g) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    int bad = ir_verify(g, f);
    fclose(f);
    if (bad) fprintf(stderr, "\n%s", buf);
    free(buf);
    return bad;
}

/* ======================================================================== */
/* common                                                                    */
/* ======================================================================== */

static void test_edit_distance(void) {
    CU_ASSERT_EQUAL(edit_distance("", ""), 0);
    CU_ASSERT_EQUAL(edit_distance("abc", ""), 3);
    CU_ASSERT_EQUAL(edit_distance("", "abcd"), 4);
    CU_ASSERT_EQUAL(edit_distance("relu", "relu"), 0);
    CU_ASSERT_EQUAL(edit_distance("relux", "relu"), 1);
    CU_ASSERT_EQUAL(edit_distance("imag", "image"), 1);
    CU_ASSERT_EQUAL(edit_distance("kitten", "sitting"), 3);
    CU_ASSERT_EQUAL(edit_distance("sitting", "kitten"), 3);
    CU_ASSERT_EQUAL(edit_distance("flaw", "lawn"), 2);
    CU_ASSERT_EQUAL(edit_distance("abc", "acb"), 2); /* no transpositions */
    CU_ASSERT_EQUAL(edit_distance("sigmiod", "sigmoid"), 2);
    CU_ASSERT_EQUAL(edit_distance("dense", "tanh"), 4);
    CU_ASSERT_EQUAL(edit_distance("adma", "adam"), 2);
}

static void test_strbuf_grows_past_64k(void) {
    strbuf b;
    sb_init(&b);
    CU_ASSERT_EQUAL(b.len, 0);
    CU_ASSERT_STRING_EQUAL(b.s, "");
    for (int i = 0; i < 12000; i++) sb_printf(&b, "%05d|", i); /* 72000 bytes */
    CU_ASSERT_EQUAL(b.len, 72000);
    CU_ASSERT_EQUAL(strlen(b.s), b.len);
    CU_ASSERT(b.cap > b.len);
    CU_ASSERT_EQUAL(memcmp(b.s, "00000|00001|", 12), 0);
    CU_ASSERT_EQUAL(memcmp(b.s + 6 * 11999, "11999|", 6), 0);
    /* one piece bigger than everything so far */
    size_t big = 100000;
    char *s = malloc(big + 1);
    memset(s, 'x', big);
    s[big] = 0;
    sb_puts(&b, s);
    sb_printf(&b, "%s!", "end");
    CU_ASSERT_EQUAL(b.len, 72000 + big + 4);
    CU_ASSERT_EQUAL(strlen(b.s), b.len);
    CU_ASSERT_EQUAL(b.s[72000], 'x');
    CU_ASSERT_EQUAL(b.s[72000 + big - 1], 'x');
    CU_ASSERT_STRING_EQUAL(b.s + 72000 + big, "end!");
    free(s);
    sb_free(&b);
    CU_ASSERT_PTR_NULL(b.s);
}

static void test_arena_alignment_and_zeroing(void) {
    /* dirty the heap first so zeroing is not an accident of fresh pages */
    for (int round = 0; round < 2; round++) {
        arena a;
        arena_init(&a);
        static const size_t sizes[] = {1, 3, 15, 16, 17, 100, 1000, 65536, 70000, 5, 200000, 7};
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            unsigned char *p = arena_alloc(&a, sizes[i]);
            CU_ASSERT_PTR_NOT_NULL_FATAL(p);
            CU_ASSERT_EQUAL((uintptr_t)p % 16, 0);
            size_t nonzero = 0;
            for (size_t j = 0; j < sizes[i]; j++) nonzero += p[j] != 0;
            CU_ASSERT_EQUAL(nonzero, 0);
            memset(p, 0xAB, sizes[i]);
        }
        char *s = arena_strdup(&a, "hello");
        CU_ASSERT_STRING_EQUAL(s, "hello");
        CU_ASSERT_EQUAL((uintptr_t)s % 16, 0);
        CU_ASSERT_STRING_EQUAL(arena_strndup(&a, "hello world", 5), "hello");
        CU_ASSERT_STRING_EQUAL(arena_printf(&a, "%s-%d", "x", 42), "x-42");
        arena_free(&a);
        CU_ASSERT_PTR_NULL(a.head);
    }
}

/* Run diag_error once on src and return what it printed (malloc'd). */
static char *diag_one(const char *src, src_span at, const char *msg) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    diag_ctx d;
    diag_init(&d, "f.nn", src, strlen(src), f, 0);
    diag_error(&d, at, "%s", msg);
    fclose(f);
    CU_ASSERT_EQUAL(d.errors, 1);
    return buf;
}

static void test_diag_format_span_of_3(void) {
    const char *src = "model m {\nabc defgh ij\n}\n";
    src_span at = {2, 5, 2, 8}; /* "def" */
    char *s = diag_one(src, at, "msg");
    CU_ASSERT_STRING_EQUAL(s, "f.nn:2:5: error: msg\n"
                              "    2 | abc defgh ij\n"
                              "      |     ^~~\n");
    free(s);
    /* a one-character span and one at column 1 */
    src_span one = {2, 1, 2, 2};
    s = diag_one(src, one, "first");
    CU_ASSERT_STRING_EQUAL(s, "f.nn:2:1: error: first\n"
                              "    2 | abc defgh ij\n"
                              "      | ^\n");
    free(s);
    /* an empty span still shows a caret */
    src_span empty = {2, 5, 2, 5};
    s = diag_one(src, empty, "e");
    CU_ASSERT_STRING_EQUAL(s, "f.nn:2:5: error: e\n"
                              "    2 | abc defgh ij\n"
                              "      |     ^\n");
    free(s);
    /* a span over several lines underlines the first position only */
    src_span multi = {1, 7, 3, 2};
    s = diag_one(src, multi, "m");
    CU_ASSERT_STRING_EQUAL(s, "f.nn:1:7: error: m\n"
                              "    1 | model m {\n"
                              "      |       ^\n");
    free(s);
}

static void test_diag_span_past_end_of_line(void) {
    const char *src = "x\nabc\nlast";
    src_span at = {2, 2, 2, 20}; /* "bc" and beyond */
    char *s = diag_one(src, at, "past");
    CU_ASSERT_STRING_EQUAL(s, "f.nn:2:2: error: past\n"
                              "    2 | abc\n"
                              "      |  ^~\n");
    free(s);
    /* starting after the last character: just a caret there */
    src_span after = {2, 4, 2, 9};
    s = diag_one(src, after, "eol");
    CU_ASSERT_STRING_EQUAL(s, "f.nn:2:4: error: eol\n"
                              "    2 | abc\n"
                              "      |    ^\n");
    free(s);
    /* the last line without a newline, and CRLF line ends */
    src_span last = {3, 1, 3, 5};
    s = diag_one(src, last, "l");
    CU_ASSERT_STRING_EQUAL(s, "f.nn:3:1: error: l\n"
                              "    3 | last\n"
                              "      | ^~~~\n");
    free(s);
    src_span crlf = {1, 1, 1, 40};
    s = diag_one("ab\r\ncd\r\n", crlf, "c");
    CU_ASSERT_STRING_EQUAL(s, "f.nn:1:1: error: c\n"
                              "    1 | ab\n"
                              "      | ^~\n");
    free(s);
    /* a line that does not exist: the message without source */
    src_span none = {9, 1, 9, 2};
    s = diag_one(src, none, "n");
    CU_ASSERT_STRING_EQUAL(s, "f.nn:9:1: error: n\n");
    free(s);
}

static void test_diag_tab_in_line(void) {
    const char *src = "model m {\n\tx = relux(y)\n}\n";
    src_span at = {2, 6, 2, 11}; /* "relux": columns count bytes, the tab is column 1 */
    char *s = diag_one(src, at, "unknown op 'relux'");
    CU_ASSERT_STRING_EQUAL(s, "f.nn:2:6: error: unknown op 'relux'\n"
                              "    2 |  x = relux(y)\n"
                              "      |      ^~~~~\n");
    /* the caret sits under the 'r' of the printed line */
    const char *line = strstr(s, "    2 | ");
    const char *caret = strstr(s, "      | ");
    CU_ASSERT_PTR_NOT_NULL_FATAL(line);
    CU_ASSERT_PTR_NOT_NULL_FATAL(caret);
    caret = strstr(caret + 8, "^");
    CU_ASSERT_PTR_NOT_NULL_FATAL(caret);
    size_t col = (size_t)(caret - strstr(s, "      | ")) - 8;
    CU_ASSERT_EQUAL(line[8 + col], 'r');
    CU_ASSERT_PTR_NULL(strchr(s, '\t'));
    free(s);
}

static void test_diag_counts_and_max_errors(void) {
    const char *src = "a\nb\nc\n";
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    diag_ctx d;
    diag_init(&d, "f.nn", src, strlen(src), f, 0);
    CU_ASSERT_EQUAL(d.errors, 0);
    CU_ASSERT_EQUAL(d.max_errors, 20);
    d.max_errors = 2;
    src_span at = {1, 1, 1, 2};
    for (int i = 0; i < 5; i++) diag_error(&d, at, "error number %d", i);
    diag_note(&d, at, "a note after the cap");
    fclose(f);
    CU_ASSERT_EQUAL(d.errors, 5);
    int errors = 0, too_many = 0;
    for (const char *p = buf; (p = strstr(p, ": error: ")); p++) errors++;
    for (const char *p = buf; (p = strstr(p, "too many errors")); p++) too_many++;
    CU_ASSERT_EQUAL(errors, 2);
    CU_ASSERT_EQUAL(too_many, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "error number 1"));
    CU_ASSERT_PTR_NULL(strstr(buf, "error number 2"));
    CU_ASSERT_PTR_NULL(strstr(buf, "note"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "f.nn: too many errors"));
    free(buf);

    /* notes do not count; no stream: count only */
    diag_init(&d, "f.nn", src, strlen(src), NULL, 0);
    diag_note(&d, at, "note");
    CU_ASSERT_EQUAL(d.errors, 0);
    for (int i = 0; i < 30; i++) diag_error(&d, at, "e");
    diag_plain(&d, "plain");
    CU_ASSERT_EQUAL(d.errors, 31);

    /* plain errors and notes print their own formats */
    buf = NULL;
    f = open_memstream(&buf, &n);
    diag_init(&d, "f.nn", src, strlen(src), f, 0);
    diag_plain(&d, "no model in %s", "f.nn");
    src_span b = {2, 1, 2, 2};
    diag_note(&d, b, "defined here");
    fclose(f);
    CU_ASSERT_STRING_EQUAL(buf, "nnc: error: no model in f.nn\n"
                                "f.nn:2:1: note: defined here\n"
                                "    2 | b\n"
                                "      | ^\n");
    CU_ASSERT_EQUAL(d.errors, 1);
    free(buf);
}

/* The checked helpers of common.h: exact results up to the type's limit,
 * an overflow reported (ck_*_i64) or saturated (ck_*_sat) past it. */
static void test_checked_arithmetic(void) {
    int64_t r = 0;
    CU_ASSERT_EQUAL(ck_mul_i64(1LL << 31, 1LL << 31, &r), 0);
    CU_ASSERT_EQUAL(r, 1LL << 62);
    CU_ASSERT_EQUAL(ck_mul_i64(1LL << 40, 1LL << 24, &r), 1); /* 2^64: wraps to 0 unchecked */
    CU_ASSERT_EQUAL(ck_mul_i64(3037000499LL, 3037000499LL, &r), 0); /* floor(sqrt(2^63 - 1)) squared */
    CU_ASSERT_EQUAL(ck_mul_i64(3037000500LL, 3037000500LL, &r), 1);
    CU_ASSERT_EQUAL(ck_mul_i64(INT64_MAX, 1, &r), 0);
    CU_ASSERT_EQUAL(r, INT64_MAX);
    CU_ASSERT_EQUAL(ck_mul_i64(INT64_MAX, 2, &r), 1);
    CU_ASSERT_EQUAL(ck_mul_i64(-1, INT64_MIN, &r), 1);
    CU_ASSERT_EQUAL(ck_add_i64(INT64_MAX - 1, 1, &r), 0);
    CU_ASSERT_EQUAL(r, INT64_MAX);
    CU_ASSERT_EQUAL(ck_add_i64(INT64_MAX, 1, &r), 1);
    CU_ASSERT_EQUAL(ck_add_i64(1LL << 62, 1LL << 62, &r), 1);
    CU_ASSERT_EQUAL(ck_add_i64(-5, 3, &r), 0);
    CU_ASSERT_EQUAL(r, -2);
    CU_ASSERT_EQUAL(ck_add_sat(SIZE_MAX - 1, 1), SIZE_MAX);
    CU_ASSERT_EQUAL(ck_add_sat(SIZE_MAX, 1), SIZE_MAX);
    CU_ASSERT_EQUAL(ck_add_sat(SIZE_MAX / 2 + 1, SIZE_MAX / 2 + 1), SIZE_MAX);
    CU_ASSERT_EQUAL(ck_add_sat(40, 2), 42);
    CU_ASSERT_EQUAL(ck_mul_sat(SIZE_MAX / 8, 8), SIZE_MAX / 8 * 8);
    CU_ASSERT_EQUAL(ck_mul_sat(SIZE_MAX / 8 + 1, 8), SIZE_MAX);
    CU_ASSERT_EQUAL(ck_mul_sat(0, SIZE_MAX), 0);
    CU_ASSERT_EQUAL(ck_mul_sat(6, 7), 42);
}

/* --max-memory's byte counts: suffixes are powers of 1024, 1 .. 2^62. */
static void test_parse_bytes(void) {
    uint64_t v = 0;
    CU_ASSERT_EQUAL(nnc_parse_bytes("1", &v), 0);
    CU_ASSERT_EQUAL(v, 1);
    CU_ASSERT_EQUAL(nnc_parse_bytes("476864", &v), 0);
    CU_ASSERT_EQUAL(v, 476864);
    CU_ASSERT_EQUAL(nnc_parse_bytes("1K", &v), 0);
    CU_ASSERT_EQUAL(v, 1024);
    CU_ASSERT_EQUAL(nnc_parse_bytes("3m", &v), 0);
    CU_ASSERT_EQUAL(v, 3ULL << 20);
    CU_ASSERT_EQUAL(nnc_parse_bytes("64G", &v), 0);
    CU_ASSERT_EQUAL(v, 64ULL << 30);
    CU_ASSERT_EQUAL(nnc_parse_bytes("64T", &v), 0);
    CU_ASSERT_EQUAL(v, NNC_MAX_MEMORY_DEFAULT);
    CU_ASSERT_EQUAL(nnc_parse_bytes("4194304T", &v), 0);
    CU_ASSERT_EQUAL(v, NNC_MAX_MEMORY_MAX);
    CU_ASSERT_EQUAL(nnc_parse_bytes("4611686018427387904", &v), 0);
    v = 7;
    const char *bad[] = {"", "0", "0K", "K", "-1", "+1", "1.5G", "12X", "1KB", "1 K", " 1", "1 ", "1\t", "4194305T",
                         "4611686018427387905", "18446744073709551616", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) CU_ASSERT_EQUAL(nnc_parse_bytes(bad[i], &v), -1);
    CU_ASSERT_EQUAL(v, 7); /* untouched on error */
}

/* ======================================================================== */
/* shape rules                                                               */
/* ======================================================================== */

typedef struct hg {
    arena a;
    ir_graph g;
} hg;

static void hg_init(hg *h) {
    arena_init(&h->a);
    ir_graph_init(&h->g, &h->a, "hand");
}

static int in_f32(hg *h, ir_shape s) {
    src_span z = {0, 0, 0, 0};
    return ir_add_source(&h->g, IR_INPUT, DT_F32, s, NULL, z)->id;
}

static int in_i32(hg *h, ir_shape s) {
    src_span z = {0, 0, 0, 0};
    return ir_add_source(&h->g, IR_INPUT, DT_I32, s, NULL, z)->id;
}

/* ir_add with two inputs and matmul-style attributes; NULL on error. */
static ir_node *add2(hg *h, ir_op op, int a, int b, int64_t i0, int64_t i1, const char **err) {
    int in[2] = {a, b};
    int64_t ia[IR_MAX_ATTR] = {i0, i1, 0, 0};
    src_span z = {0, 0, 0, 0};
    *err = NULL;
    return ir_add(&h->g, op, in, 2, ia, NULL, z, err);
}

static void test_shape_broadcast_suffix(void) {
    hg h;
    hg_init(&h);
    const char *err;
    int a = in_f32(&h, shp(2, 4, 3, 0)), b = in_f32(&h, shp(1, 3, 0, 0));
    int before = h.g.nodes.len;
    ir_node *n = add2(&h, IR_ADD, a, b, 0, 0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    CU_ASSERT_PTR_NULL(err);
    CU_ASSERT(shape_is(&n->shape, 2, 4, 3, 0));
    CU_ASSERT_EQUAL(n->dtype, DT_F32);
    CU_ASSERT_EQUAL(h.g.nodes.len, before + 1);
    CU_ASSERT_EQUAL(n->id, before);
    /* either order */
    n = add2(&h, IR_MUL, b, a, 0, 0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    CU_ASSERT(shape_is(&n->shape, 2, 4, 3, 0));
    /* a rank-3 with a rank-2 suffix */
    int c = in_f32(&h, shp(3, 2, 4, 3));
    n = add2(&h, IR_SUB, c, a, 0, 0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    CU_ASSERT(shape_is(&n->shape, 3, 2, 4, 3));
    CU_ASSERT_EQUAL(verify_quiet(&h.g), 0);
    arena_free(&h.a);
}

static void test_shape_broadcast_mismatch_names_shapes(void) {
    hg h;
    hg_init(&h);
    const char *err;
    int a = in_f32(&h, shp(2, 4, 3, 0)), b = in_f32(&h, shp(1, 4, 0, 0));
    int before = h.g.nodes.len;
    ir_node *n = add2(&h, IR_ADD, a, b, 0, 0, &err);
    CU_ASSERT_PTR_NULL(n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "[4, 3]"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "[4]"));
    CU_ASSERT_STRING_EQUAL(err, "cannot broadcast [4, 3] with [4]");
    CU_ASSERT_EQUAL(h.g.nodes.len, before); /* nothing added */
    /* [4, 2] is not a suffix of [2, 4, 3] (a prefix does not broadcast) */
    int c = in_f32(&h, shp(2, 4, 2, 0)), d = in_f32(&h, shp(3, 2, 4, 3));
    CU_ASSERT_PTR_NULL(add2(&h, IR_DIV, d, c, 0, 0, &err));
    CU_ASSERT_PTR_NOT_NULL(err && strstr(err, "[2, 4, 3]") && strstr(err, "[4, 2]"));
    CU_ASSERT_EQUAL(verify_quiet(&h.g), 0);
    arena_free(&h.a);
}

static void test_shape_scalar_broadcast(void) {
    hg h;
    hg_init(&h);
    const char *err;
    int a = in_f32(&h, shp(2, 4, 3, 0));
    src_span z = {0, 0, 0, 0};
    int s = ir_const_scalar(&h.g, 2.5, z)->id;
    CU_ASSERT_EQUAL(N(&h.g, s)->shape.rank, 0);
    CU_ASSERT_EQUAL(N(&h.g, s)->op, IR_CONST);
    CU_ASSERT_DOUBLE_EQUAL(N(&h.g, s)->data[0], 2.5, 0);
    ir_node *n = add2(&h, IR_MUL, a, s, 0, 0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    CU_ASSERT(shape_is(&n->shape, 2, 4, 3, 0));
    n = add2(&h, IR_SUB, s, a, 0, 0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    CU_ASSERT(shape_is(&n->shape, 2, 4, 3, 0));
    /* a one-element tensor broadcasts too */
    int one = in_f32(&h, shp(1, 1, 0, 0));
    n = add2(&h, IR_ADD, a, one, 0, 0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    CU_ASSERT(shape_is(&n->shape, 2, 4, 3, 0));
    /* equal ranks: the one-element side broadcasts, in either order */
    int three = in_f32(&h, shp(1, 3, 0, 0));
    n = add2(&h, IR_ADD, one, three, 0, 0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    CU_ASSERT(shape_is(&n->shape, 1, 3, 0, 0));
    n = add2(&h, IR_ADD, three, one, 0, 0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    CU_ASSERT(shape_is(&n->shape, 1, 3, 0, 0));
    /* scalar with scalar */
    n = add2(&h, IR_ADD, s, s, 0, 0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    CU_ASSERT_EQUAL(n->shape.rank, 0);
    CU_ASSERT_EQUAL(verify_quiet(&h.g), 0);
    arena_free(&h.a);
}

static void test_shape_matmul_2d_and_transposes(void) {
    hg h;
    hg_init(&h);
    const char *err;
    int a = in_f32(&h, shp(2, 2, 3, 0)), b = in_f32(&h, shp(2, 3, 5, 0));
    int at = in_f32(&h, shp(2, 3, 2, 0)), bt = in_f32(&h, shp(2, 5, 3, 0));
    ir_node *n = add2(&h, IR_MATMUL, a, b, 0, 0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    CU_ASSERT(shape_is(&n->shape, 2, 2, 5, 0));
    n = add2(&h, IR_MATMUL, at, b, 1, 0, &err); /* A^T B */
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    CU_ASSERT(shape_is(&n->shape, 2, 2, 5, 0));
    n = add2(&h, IR_MATMUL, a, bt, 0, 1, &err); /* A B^T */
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    CU_ASSERT(shape_is(&n->shape, 2, 2, 5, 0));
    int64_t m, k, nn;
    ir_matmul_dims(&h.g, n, &m, &k, &nn);
    CU_ASSERT(m == 2 && k == 3 && nn == 5);
    n = add2(&h, IR_MATMUL, at, bt, 1, 1, &err); /* A^T B^T */
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    CU_ASSERT(shape_is(&n->shape, 2, 2, 5, 0));
    ir_matmul_dims(&h.g, n, &m, &k, &nn);
    CU_ASSERT(m == 2 && k == 3 && nn == 5);
    /* the attributes matter: a [2,3] with tb on b [3,5] is wrong */
    CU_ASSERT_PTR_NULL(add2(&h, IR_MATMUL, a, b, 0, 1, &err));
    CU_ASSERT_PTR_NOT_NULL(err && strstr(err, "^T"));
    /* vectors are not matrices */
    int v = in_f32(&h, shp(1, 3, 0, 0));
    CU_ASSERT_PTR_NULL(add2(&h, IR_MATMUL, a, v, 0, 0, &err));
    CU_ASSERT_PTR_NOT_NULL(err && strstr(err, "matmul needs matrices"));
    CU_ASSERT_EQUAL(verify_quiet(&h.g), 0);
    arena_free(&h.a);
}

static void test_shape_matmul_rank3(void) {
    hg h;
    hg_init(&h);
    const char *err;
    int a = in_f32(&h, shp(3, 2, 4, 3)), b = in_f32(&h, shp(2, 3, 5, 0));
    ir_node *n = add2(&h, IR_MATMUL, a, b, 0, 0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    CU_ASSERT(shape_is(&n->shape, 3, 2, 4, 5));
    /* dense's layout: weight [units, in] with tb */
    int w = in_f32(&h, shp(2, 7, 3, 0));
    n = add2(&h, IR_MATMUL, a, w, 0, 1, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    CU_ASSERT(shape_is(&n->shape, 3, 2, 4, 7));
    /* the weight gradient of that: dy^T x over the flattened batch */
    int dy = n->id;
    n = add2(&h, IR_MATMUL, dy, a, 1, 0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    CU_ASSERT(shape_is(&n->shape, 2, 7, 3, 0));
    CU_ASSERT_EQUAL(verify_quiet(&h.g), 0);
    arena_free(&h.a);
}

static void test_shape_matmul_inner_mismatch(void) {
    hg h;
    hg_init(&h);
    const char *err;
    int a = in_f32(&h, shp(2, 2, 3, 0)), b = in_f32(&h, shp(2, 4, 5, 0));
    CU_ASSERT_PTR_NULL(add2(&h, IR_MATMUL, a, b, 0, 0, &err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_STRING_EQUAL(err, "matmul inner dimensions differ: [2, 3] and [4, 5] (3 vs 4)");
    int c = in_f32(&h, shp(3, 2, 4, 3));
    CU_ASSERT_PTR_NULL(add2(&h, IR_MATMUL, c, b, 0, 0, &err));
    CU_ASSERT_PTR_NOT_NULL(err && strstr(err, "[2, 4, 3]") && strstr(err, "(3 vs 4)"));
    arena_free(&h.a);
}

static ir_node *sum_axes(hg *h, int x, int a0, int a1, const char **err) {
    int in[1] = {x};
    int64_t ia[IR_MAX_ATTR] = {a0, a1, 0, 0};
    double fa[4] = {1, 0};
    src_span z = {0, 0, 0, 0};
    *err = NULL;
    return ir_add(&h->g, IR_SUM, in, 1, ia, fa, z, err);
}

static void test_shape_sum_axes(void) {
    hg h;
    hg_init(&h);
    const char *err;
    int x = in_f32(&h, shp(3, 2, 3, 4));
    ir_node *n = sum_axes(&h, x, 1, 2, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    CU_ASSERT(shape_is(&n->shape, 2, 2, 4, 0));
    n = sum_axes(&h, x, 0, 3, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    CU_ASSERT_EQUAL(n->shape.rank, 0);
    n = sum_axes(&h, x, 0, 1, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    CU_ASSERT(shape_is(&n->shape, 2, 3, 4, 0));
    n = sum_axes(&h, x, 2, 3, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    CU_ASSERT(shape_is(&n->shape, 2, 2, 3, 0));
    n = sum_axes(&h, x, 1, 1, &err); /* no axes: same shape */
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    CU_ASSERT(shape_is(&n->shape, 3, 2, 3, 4));
    int64_t outer, len, inner;
    ir_reduce_view(&N(&h.g, x)->shape, 1, 2, &outer, &len, &inner);
    CU_ASSERT(outer == 2 && len == 3 && inner == 4);
    ir_reduce_view(&N(&h.g, x)->shape, 0, 3, &outer, &len, &inner);
    CU_ASSERT(outer == 1 && len == 24 && inner == 1);
    /* out of range */
    CU_ASSERT_PTR_NULL(sum_axes(&h, x, 0, 4, &err));
    CU_ASSERT_PTR_NOT_NULL(err && strstr(err, "out of range") && strstr(err, "[2, 3, 4]"));
    CU_ASSERT_PTR_NULL(sum_axes(&h, x, 2, 1, &err));
    CU_ASSERT_PTR_NULL(sum_axes(&h, x, -1, 1, &err));
    CU_ASSERT_EQUAL(verify_quiet(&h.g), 0);
    arena_free(&h.a);
}

static void test_shape_expand_inverts_sum(void) {
    hg h;
    hg_init(&h);
    const char *err;
    src_span z = {0, 0, 0, 0};
    ir_shape src = shp(3, 2, 3, 4);
    int x = in_f32(&h, src);
    for (int a0 = 0; a0 <= 3; a0++)
        for (int a1 = a0; a1 <= 3; a1++) {
            ir_node *s = sum_axes(&h, x, a0, a1, &err);
            CU_ASSERT_PTR_NOT_NULL_FATAL(s);
            ir_node *e = ir_add_expand(&h.g, s->id, src, a0, a1, 0.5, z);
            CU_ASSERT_PTR_NOT_NULL_FATAL(e);
            CU_ASSERT(ir_shape_eq(&e->shape, &src));
            CU_ASSERT_EQUAL(e->op, IR_EXPAND);
            CU_ASSERT_EQUAL(e->iattr[0], a0);
            CU_ASSERT_EQUAL(e->iattr[1], a1);
            CU_ASSERT_DOUBLE_EQUAL(e->fattr[0], 0.5, 0);
        }
    /* a wrong target shape is reported by the rule (tested on a scratch node) */
    ir_node *s = sum_axes(&h, x, 1, 2, &err); /* [2, 4] */
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    ir_node bad;
    memset(&bad, 0, sizeof bad);
    bad.op = IR_EXPAND;
    bad.nin = 1;
    bad.in[0] = s->id;
    bad.iattr[0] = 1;
    bad.iattr[1] = 2;
    bad.ashape = shp(3, 2, 3, 5);
    const char *e = ir_infer_shape(&h.g, &bad);
    CU_ASSERT_PTR_NOT_NULL(e && strstr(e, "cannot expand [2, 4] to [2, 3, 5]"));
    bad.ashape = shp(2, 2, 4, 0); /* rank does not add up */
    CU_ASSERT_PTR_NOT_NULL(ir_infer_shape(&h.g, &bad));
    CU_ASSERT_EQUAL(verify_quiet(&h.g), 0);
    arena_free(&h.a);
}

/* Element counts are checked where shapes are made: ir_numel never wraps,
 * and a rule whose result (or an intermediate size) overflows 64 bits is an
 * error naming the shape. */
static void test_shape_overflow_checked(void) {
    hg h;
    hg_init(&h);
    const char *err;
    ir_shape wraps = shp(2, 1LL << 40, 1LL << 24, 0), fits = shp(3, 1LL << 40, 1LL << 22, 1);
    CU_ASSERT_EQUAL(ir_numel(&wraps), INT64_MAX); /* 2^64: 0 if it wrapped */
    CU_ASSERT(!ir_shape_fits(&wraps));
    CU_ASSERT(ir_shape_fits(&fits));
    CU_ASSERT_EQUAL(ir_numel(&fits), 1LL << 62);
    ir_shape neg = shp(1, -3, 0, 0);
    CU_ASSERT(!ir_shape_fits(&neg));
    CU_ASSERT_STRING_EQUAL(ir_size_error(&h.a, "'t'", DT_F32, &wraps),
                           "'t' f32[1099511627776, 16777216] is too large: about 1.8e+19 elements, more than 2^63 - 1");
    /* matmul [2^32, 1] x [1, 2^32]: inputs fit, the result has 2^64 elements */
    int a = in_f32(&h, shp(2, 1LL << 32, 1, 0)), b = in_f32(&h, shp(2, 1, 1LL << 32, 0));
    CU_ASSERT_PTR_NULL(add2(&h, IR_MATMUL, a, b, 0, 0, &err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_STRING_EQUAL(err, "matmul: the result f32[4294967296, 4294967296] is too large: about 1.8e+19 "
                                "elements, more than 2^63 - 1");
    /* concat of two [2^62]: the joined axis is 2^63 */
    int c = in_f32(&h, shp(1, 1LL << 62, 0, 0));
    CU_ASSERT_PTR_NULL(add2(&h, IR_CONCAT, c, c, 0, 0, &err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "the joined axis overflows 64 bits"));
    /* conv2d with a dilation whose kernel extent overflows */
    int x = in_f32(&h, shp(3, 1, 1, 8)), w = in_f32(&h, shp(3, 1, 1, 3));
    ir_node *x4 = ir_add_reshape(&h.g, x, ir_shape_make(4, (int64_t[]){1, 1, 8, 1}), (src_span){0, 0, 0, 0});
    ir_node *w4 = ir_add_reshape(&h.g, w, ir_shape_make(4, (int64_t[]){1, 1, 3, 1}), (src_span){0, 0, 0, 0});
    int in[2] = {x4->id, w4->id};
    int64_t ia[IR_MAX_ATTR] = {1, 0, 1LL << 62, 1};
    CU_ASSERT_PTR_NULL(ir_add(&h.g, IR_CONV2D, in, 2, ia, NULL, (src_span){0, 0, 0, 0}, &err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "conv2d: the dilated kernel of f32[1, 1, 3, 1] overflows 64 bits"));
    /* a reshape to a shape whose count wraps to x's (16) */
    int s = in_f32(&h, shp(2, 4, 4, 0));
    ir_node bad;
    memset(&bad, 0, sizeof bad);
    bad.op = IR_RESHAPE;
    bad.nin = 1;
    bad.in[0] = s;
    bad.ashape = ir_shape_make(5, (int64_t[]){4294967297LL, 4294967295LL, 4294967297LL, 4294967295LL, 16});
    const char *e = ir_infer_shape(&h.g, &bad);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_PTR_NOT_NULL(strstr(e, "reshape: the target shape f32[4294967297, 4294967295, 4294967297, "
                                     "4294967295, 16] is too large"));
    arena_free(&h.a);
}

/* Sizes past size_t saturate in the plan's totals: four [2^62] parameters
 * need 2^64 elements, and the need is SIZE_MAX, never a wrapped value. */
static void test_memplan_need_saturates(void) {
    hg h;
    hg_init(&h);
    src_span z = {0, 0, 0, 0};
    for (int i = 0; i < 4; i++) {
        ir_node *p = ir_add_source(&h.g, IR_PARAM, DT_F32, shp(1, 1LL << 62, 0, 0), "p", z);
        p->role = ROLE_PARAM;
        arr_push(&h.a, h.g.params, p->id);
    }
    mem_need m;
    mem_need_of(&h.g, NULL, 4, &m);
    CU_ASSERT_EQUAL(m.params, SIZE_MAX);
    CU_ASSERT_EQUAL(m.total, SIZE_MAX);
    CU_ASSERT_EQUAL(m.copies, 1);
    h.g.params.len = 1; /* one: 2^62 elements, 2^64 bytes in f32 */
    mem_need_of(&h.g, NULL, 4, &m);
    CU_ASSERT_EQUAL(m.total, SIZE_MAX);
    mem_need_of(&h.g, NULL, 2, &m); /* 2^63 bytes fit */
    CU_ASSERT_EQUAL(m.params, (size_t)1 << 63);
    CU_ASSERT_EQUAL(m.total, (size_t)1 << 63);
    /* planned: y = relu(p0) as the output; the parameter buffer of 2^64
     * elements saturates in the plan too */
    h.g.params.len = 4;
    int in[1] = {h.g.params.data[0]};
    ir_node *y = ir_add(&h.g, IR_RELU, in, 1, NULL, NULL, z, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(y);
    arr_push(&h.a, h.g.outputs, y->id);
    arr_push(&h.a, h.g.output_names, "y");
    ir_program p;
    ir_program_build(&h.g, &p);
    CU_ASSERT(p.has[ENTRY_FORWARD]);
    CU_ASSERT_EQUAL(p.mem[ENTRY_FORWARD].param_elems, SIZE_MAX);
    CU_ASSERT_EQUAL(p.arena_elems, (size_t)1 << 62);
    mem_need_of(&h.g, &p, 4, &m);
    CU_ASSERT_EQUAL(m.total, SIZE_MAX);
    arena_free(&h.a);
}

static void test_shape_reshape_numel_mismatch(void) {
    hg h;
    hg_init(&h);
    src_span z = {0, 0, 0, 0};
    int x = in_f32(&h, shp(2, 2, 3, 0));
    ir_node *r = ir_add_reshape(&h.g, x, shp(3, 3, 2, 1), z);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT(shape_is(&r->shape, 3, 3, 2, 1));
    r = ir_add_reshape(&h.g, x, shp(1, 6, 0, 0), z);
    CU_ASSERT(shape_is(&r->shape, 1, 6, 0, 0));
    ir_node bad;
    memset(&bad, 0, sizeof bad);
    bad.op = IR_RESHAPE;
    bad.nin = 1;
    bad.in[0] = x;
    bad.ashape = shp(1, 4, 0, 0);
    const char *e = ir_infer_shape(&h.g, &bad);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_STRING_EQUAL(e, "cannot reshape [2, 3] (6 elements) to [4] (4 elements)");
    /* a reshape keeps the dtype */
    int i = in_i32(&h, shp(1, 6, 0, 0));
    r = ir_add_reshape(&h.g, i, shp(2, 2, 3, 0), z);
    CU_ASSERT_EQUAL(r->dtype, DT_I32);
    CU_ASSERT_EQUAL(verify_quiet(&h.g), 0);
    arena_free(&h.a);
}

static void test_shape_cross_entropy_labels(void) {
    hg h;
    hg_init(&h);
    const char *err;
    int logits = in_f32(&h, shp(2, 8, 10, 0));
    int lab = in_i32(&h, shp(1, 8, 0, 0));
    ir_node *n = add2(&h, IR_XENT, logits, lab, 0, 0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    CU_ASSERT_EQUAL(n->shape.rank, 0);
    CU_ASSERT_EQUAL(n->dtype, DT_F32);
    /* f32 labels */
    int flab = in_f32(&h, shp(1, 8, 0, 0));
    CU_ASSERT_PTR_NULL(add2(&h, IR_XENT, logits, flab, 0, 0, &err));
    CU_ASSERT_PTR_NOT_NULL(err && strstr(err, "i32"));
    /* labels with the class axis */
    int lab2 = in_i32(&h, shp(2, 8, 10, 0));
    CU_ASSERT_PTR_NULL(add2(&h, IR_XENT, logits, lab2, 0, 0, &err));
    CU_ASSERT_PTR_NOT_NULL(err && strstr(err, "[8, 10]") && strstr(err, "labels"));
    int lab3 = in_i32(&h, shp(2, 8, 1, 0));
    CU_ASSERT_PTR_NULL(add2(&h, IR_XENT, logits, lab3, 0, 0, &err));
    /* a different batch */
    int lab7 = in_i32(&h, shp(1, 7, 0, 0));
    CU_ASSERT_PTR_NULL(add2(&h, IR_XENT, logits, lab7, 0, 0, &err));
    CU_ASSERT_PTR_NOT_NULL(err && strstr(err, "[8, 10]") && strstr(err, "[7]"));
    /* i32 logits */
    int ilog = in_i32(&h, shp(2, 8, 10, 0));
    CU_ASSERT_PTR_NULL(add2(&h, IR_XENT, ilog, lab, 0, 0, &err));
    CU_ASSERT_EQUAL(verify_quiet(&h.g), 0);
    arena_free(&h.a);
}

static void test_shape_i32_operand_rejected(void) {
    hg h;
    hg_init(&h);
    const char *err;
    int f = in_f32(&h, shp(1, 4, 0, 0)), i = in_i32(&h, shp(1, 4, 0, 0));
    CU_ASSERT_PTR_NULL(add2(&h, IR_ADD, f, i, 0, 0, &err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_STRING_EQUAL(err, "add expects f32 operands, got i32");
    CU_ASSERT_PTR_NULL(add2(&h, IR_MUL, i, f, 0, 0, &err));
    CU_ASSERT_PTR_NOT_NULL(err && strstr(err, "mul expects f32"));
    int in1[1] = {i};
    src_span z = {0, 0, 0, 0};
    CU_ASSERT_PTR_NULL(ir_add(&h.g, IR_RELU, in1, 1, NULL, NULL, z, &err));
    /* the wrong number of inputs */
    int in2[1] = {f};
    CU_ASSERT_PTR_NULL(ir_add(&h.g, IR_ADD, in2, 1, NULL, NULL, z, &err));
    CU_ASSERT_PTR_NOT_NULL(err && strstr(err, "add takes 2 inputs, got 1"));
    CU_ASSERT_EQUAL(verify_quiet(&h.g), 0);
    arena_free(&h.a);
}

/* ======================================================================== */
/* elaboration                                                               */
/* ======================================================================== */

static void test_examples_compile_cleanly(void) {
    static const char *const names[] = {"coffee.nn", "digits_mlp.nn", "xor.nn"};
    static const nnc_emit emits[] = {EMIT_IR, EMIT_IR_TRAIN, EMIT_C, EMIT_KERNELS};
    for (int i = 0; i < 3; i++) {
        char *src = read_example(names[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(src);
        for (int e = 0; e < 4; e++) {
            compiled r;
            copts c = {emits[e], NULL, 0, -1, NULL, 0};
            CU_ASSERT_EQUAL(compile_with(&r, src, c), 0);
            CU_ASSERT_EQUAL(r.dlen, 0);
            if (r.dlen) fprintf(stderr, "\n%s: %s", names[i], r.diag);
            CU_ASSERT(r.out.len > 0);
            if (emits[e] == EMIT_C) CU_ASSERT(r.hdr.len > 0);
            compiled_free(&r);
        }
        elaborated el;
        CU_ASSERT_EQUAL(elab_src(&el, src, NULL, 0), 0);
        CU_ASSERT_EQUAL(verify_quiet(&el.g), 0);
        elab_free(&el);
        free(src);
    }
}

static void test_digits_param_names_and_shapes(void) {
    elaborated r;
    CU_ASSERT_EQUAL_FATAL(elab_example(&r, "digits_mlp.nn"), 0);
    static const char *const names[] = {"h.0.weight", "h.0.bias", "h.2.weight", "h.2.bias", "logits.weight", "logits.bias"};
    static const int64_t shapes[][3] = {{2, 128, 64}, {1, 128, 0}, {2, 128, 128}, {1, 128, 0}, {2, 10, 128}, {1, 10, 0}};
    CU_ASSERT_EQUAL_FATAL(r.g.params.len, 6);
    for (int i = 0; i < 6; i++) {
        ir_node *p = N(&r.g, r.g.params.data[i]);
        CU_ASSERT_STRING_EQUAL(p->name, names[i]);
        CU_ASSERT(shape_is(&p->shape, (int)shapes[i][0], shapes[i][1], shapes[i][2], 0));
        CU_ASSERT_EQUAL(p->role, ROLE_PARAM);
        CU_ASSERT_EQUAL(p->index, i);
        CU_ASSERT_EQUAL(p->op, IR_PARAM);
    }
    CU_ASSERT_STRING_EQUAL(r.g.name, "digits_mlp");
    CU_ASSERT_EQUAL(r.g.inputs.len, 1);
    CU_ASSERT_EQUAL(r.g.targets.len, 1);
    CU_ASSERT_EQUAL(N(&r.g, r.g.targets.data[0])->dtype, DT_I32);
    CU_ASSERT_EQUAL(r.g.outputs.len, 1);
    CU_ASSERT_STRING_EQUAL(r.g.output_names.data[0], "probs");
    CU_ASSERT(r.g.loss >= 0);
    CU_ASSERT_EQUAL(r.g.opt.kind, OPT_ADAM);
    CU_ASSERT_DOUBLE_EQUAL(r.g.opt.lr, 1e-3, 1e-15);
    elab_free(&r);

    /* the same names in the printed IR */
    char *src = read_example("digits_mlp.nn");
    compiled c;
    CU_ASSERT_EQUAL(compile_ir(&c, src), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(c.out.s, "f32[128, 64] = param h.0.weight init=he"));
    CU_ASSERT_PTR_NOT_NULL(strstr(c.out.s, "f32[128] = param h.0.bias init=zeros"));
    CU_ASSERT_PTR_NOT_NULL(strstr(c.out.s, "f32[128, 128] = param h.2.weight init=he"));
    CU_ASSERT_PTR_NOT_NULL(strstr(c.out.s, "f32[128] = param h.2.bias"));
    CU_ASSERT_PTR_NOT_NULL(strstr(c.out.s, "f32[10, 128] = param logits.weight init=glorot"));
    CU_ASSERT_PTR_NOT_NULL(strstr(c.out.s, "f32[10] = param logits.bias"));
    compiled_free(&c);
    free(src);
}

static void test_digits_init_he_before_relu_glorot_else(void) {
    elaborated r;
    CU_ASSERT_EQUAL_FATAL(elab_example(&r, "digits_mlp.nn"), 0);
    CU_ASSERT_EQUAL_FATAL(r.g.params.len, 6);
    CU_ASSERT_EQUAL(param_named(&r.g, "h.0.weight")->init, INIT_HE);
    CU_ASSERT_EQUAL(param_named(&r.g, "h.2.weight")->init, INIT_HE);
    CU_ASSERT_EQUAL(param_named(&r.g, "logits.weight")->init, INIT_GLOROT);
    CU_ASSERT_EQUAL(param_named(&r.g, "h.0.bias")->init, INIT_ZEROS);
    CU_ASSERT_EQUAL(param_named(&r.g, "logits.bias")->init, INIT_ZEROS);
    /* fans for the initializers: weight [units, in] */
    CU_ASSERT_EQUAL(param_named(&r.g, "h.0.weight")->fan_in, 64);
    CU_ASSERT_EQUAL(param_named(&r.g, "h.0.weight")->fan_out, 128);
    CU_ASSERT_EQUAL(param_named(&r.g, "logits.weight")->fan_in, 128);
    CU_ASSERT_EQUAL(param_named(&r.g, "logits.weight")->fan_out, 10);
    elab_free(&r);
    /* xor: tanh and sigmoid layers get Glorot; an explicit init wins */
    CU_ASSERT_EQUAL_FATAL(elab_example(&r, "xor.nn"), 0);
    for (int i = 0; i < r.g.params.len; i++) {
        ir_node *p = N(&r.g, r.g.params.data[i]);
        CU_ASSERT_EQUAL(p->init, p->shape.rank == 2 ? INIT_GLOROT : INIT_ZEROS);
    }
    elab_free(&r);
    CU_ASSERT_EQUAL(elab_src(&r,
                             "model m {\n"
                             "    input x : f32[2, 3]\n"
                             "    h = relu(dense(x, 4, init = glorot))\n"
                             "    output y = dense(h, 2, init = he)\n"
                             "}\n",
                             NULL, 0),
                    0);
    CU_ASSERT_EQUAL(param_named(&r.g, "h.weight")->init, INIT_GLOROT);
    CU_ASSERT_EQUAL(param_named(&r.g, "y.weight")->init, INIT_HE);
    elab_free(&r);
}

static void test_define_changes_batch(void) {
    char *src = read_example("digits_mlp.nn");
    CU_ASSERT_PTR_NOT_NULL_FATAL(src);
    compiled r;
    CU_ASSERT_EQUAL(compile_ir(&r, src), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out.s, "f32[32, 64] = input image"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out.s, "i32[32] = input digit (target)"));
    compiled_free(&r);
    elab_define defs[1] = {{"B", 64, 1, 0}};
    copts c = {EMIT_IR, NULL, 0, -1, defs, 1};
    CU_ASSERT_EQUAL(compile_with(&r, src, c), 0);
    CU_ASSERT_EQUAL(defs[0].used, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out.s, "f32[64, 64] = input image"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out.s, "i32[64] = input digit (target)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out.s, "f32[64, 128] = matmul"));
    CU_ASSERT_PTR_NULL(strstr(r.out.s, "[32"));
    CU_ASSERT_EQUAL(r.dlen, 0);
    compiled_free(&r);
    free(src);
}

static void test_unused_define_is_error(void) {
    char *src = read_example("digits_mlp.nn");
    CU_ASSERT_PTR_NOT_NULL_FATAL(src);
    compiled r;
    elab_define defs[2] = {{"B", 8, 1, 0}, {"BATCH", 8, 1, 0}};
    copts c = {EMIT_IR, NULL, 0, -1, defs, 2};
    CU_ASSERT_EQUAL(compile_with(&r, src, c), 1);
    CU_ASSERT_EQUAL(defs[0].used, 1);
    CU_ASSERT_EQUAL(defs[1].used, 0);
    CU_ASSERT(diag_has(&r, "nnc: error: -D BATCH: the program has no const named 'BATCH'"));
    CU_ASSERT_PTR_NULL(strstr(r.diag, "-D B:"));
    compiled_free(&r);
    free(src);
}

static void test_const_arithmetic_in_shapes(void) {
    const char *src = "const N = 4*2\n"
                      "const M = (N - 2) * 3 + 1\n"
                      "model m {\n"
                      "    input x : f32[N+1, N/2]\n"
                      "    input z : f32[M, 2 * N - 6]\n"
                      "    output y = relu(x)\n"
                      "    output w = relu(z)\n"
                      "}\n";
    compiled r;
    CU_ASSERT_EQUAL(compile_ir(&r, src), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out.s, "f32[9, 4] = input x"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out.s, "f32[19, 10] = input z"));
    compiled_free(&r);
    elab_define defs[1] = {{"N", 6, 1, 0}};
    copts c = {EMIT_IR, NULL, 0, -1, defs, 1};
    CU_ASSERT_EQUAL(compile_with(&r, src, c), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out.s, "f32[7, 3] = input x"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out.s, "f32[13, 6] = input z"));
    compiled_free(&r);
}

static void test_nonint_dim_error(void) {
    compiled r;
    CU_ASSERT_EQUAL(compile_ir(&r, "const N = 5\n"
                                   "model m {\n"
                                   "    input x : f32[N/2, 3]\n"
                                   "    output y = relu(x)\n"
                                   "}\n"),
                    1);
    CU_ASSERT(diag_has(&r, "t.nn:3:19: error: dimension must be a positive integer, got 2.5"));
    compiled_free(&r);
    CU_ASSERT_EQUAL(compile_ir(&r, "model m {\n"
                                   "    input x : f32[2, 0]\n"
                                   "    output y = relu(x)\n"
                                   "}\n"),
                    1);
    CU_ASSERT(diag_has(&r, "dimension must be a positive integer, got 0"));
    compiled_free(&r);
    CU_ASSERT_EQUAL(compile_ir(&r, "model m {\n"
                                   "    input x : f32[2, -3]\n"
                                   "    output y = relu(x)\n"
                                   "}\n"),
                    1);
    CU_ASSERT(diag_has(&r, "dimension must be a positive integer, got -3"));
    compiled_free(&r);
    CU_ASSERT_EQUAL(compile_ir(&r, "model m {\n"
                                   "    input x : f32[2, relu]\n"
                                   "    output y = relu(x)\n"
                                   "}\n"),
                    1);
    compiled_free(&r);
}

static void test_unknown_name_suggests(void) {
    compiled r;
    CU_ASSERT_EQUAL(compile_ir(&r, "model m {\n"
                                   "    input image : f32[2, 3]\n"
                                   "    output y = relu(imag)\n"
                                   "}\n"),
                    1);
    CU_ASSERT(diag_has(&r, "t.nn:3:21: error: unknown name 'imag'; did you mean 'image'?"));
    CU_ASSERT(diag_has(&r, "      |                     ^~~~\n"));
    compiled_free(&r);
    /* nothing close: no suggestion */
    CU_ASSERT_EQUAL(compile_ir(&r, "model m {\n"
                                   "    input image : f32[2, 3]\n"
                                   "    output y = relu(zzzzzz)\n"
                                   "}\n"),
                    1);
    CU_ASSERT(diag_has(&r, "unknown name 'zzzzzz'\n"));
    CU_ASSERT_PTR_NULL(strstr(r.diag, "did you mean"));
    compiled_free(&r);
}

static void test_unknown_op_suggests(void) {
    compiled r;
    CU_ASSERT_EQUAL(compile_ir(&r, "model m {\n"
                                   "    input x : f32[2, 3]\n"
                                   "    output y = relux(x)\n"
                                   "}\n"),
                    1);
    CU_ASSERT(diag_has(&r, "t.nn:3:16: error: unknown op 'relux'; did you mean 'relu'?"));
    compiled_free(&r);
    CU_ASSERT_EQUAL(compile_ir(&r, "model m {\n"
                                   "    input x : f32[2, 3]\n"
                                   "    output y = x -> sigmiod\n"
                                   "}\n"),
                    1);
    CU_ASSERT(diag_has(&r, "unknown op 'sigmiod'; did you mean 'sigmoid'?"));
    compiled_free(&r);
    /* an unknown optimizer suggests an optimizer */
    CU_ASSERT_EQUAL(compile_ir(&r, "model m {\n"
                                   "    input x : f32[2, 3]\n"
                                   "    output y = dense(x, 1)\n"
                                   "    loss mean(y)\n"
                                   "    train adma(lr = 0.1)\n"
                                   "}\n"),
                    1);
    CU_ASSERT(diag_has(&r, "unknown optimizer 'adma'; did you mean 'adam'?"));
    compiled_free(&r);
}

static void test_redefinition_note(void) {
    compiled r;
    CU_ASSERT_EQUAL(compile_ir(&r, "model m {\n"
                                   "    input x : f32[2, 3]\n"
                                   "    x = relu(x)\n"
                                   "    output y = x\n"
                                   "}\n"),
                    1);
    CU_ASSERT(diag_has(&r, "t.nn:3:5: error: redefinition of 'x'\n"
                           "    3 |     x = relu(x)\n"
                           "      |     ^\n"
                           "t.nn:2:11: note: 'x' was defined here\n"
                           "    2 |     input x : f32[2, 3]\n"
                           "      |           ^\n"));
    compiled_free(&r);
    /* a const redefined by a model binding */
    CU_ASSERT_EQUAL(compile_ir(&r, "const k = 2\n"
                                   "model m {\n"
                                   "    input x : f32[2, 3]\n"
                                   "    k = relu(x)\n"
                                   "    output y = x\n"
                                   "}\n"),
                    1);
    CU_ASSERT(diag_has(&r, "t.nn:4:5: error: redefinition of 'k'"));
    CU_ASSERT(diag_has(&r, "t.nn:1:7: note: 'k' was defined here"));
    compiled_free(&r);
}

static void test_loss_not_scalar(void) {
    compiled r;
    CU_ASSERT_EQUAL(compile_ir(&r, "model m {\n"
                                   "    input x : f32[2, 3]\n"
                                   "    param w : f32[3]\n"
                                   "    loss x * w\n"
                                   "    train sgd(lr = 0.1)\n"
                                   "}\n"),
                    1);
    CU_ASSERT(diag_has(&r, "t.nn:4:10: error: the loss must be a scalar, got f32[2, 3]"));
    compiled_free(&r);
}

static void test_train_without_loss(void) {
    compiled r;
    CU_ASSERT_EQUAL(compile_ir(&r, "model m {\n"
                                   "    input x : f32[2, 3]\n"
                                   "    output y = dense(x, 2)\n"
                                   "    train sgd(lr = 0.1)\n"
                                   "}\n"),
                    1);
    CU_ASSERT(diag_has(&r, "t.nn:4:11: error: train needs a loss statement"));
    compiled_free(&r);
    /* and the converse */
    CU_ASSERT_EQUAL(compile_ir(&r, "model m {\n"
                                   "    input x : f32[2, 3]\n"
                                   "    loss mean(dense(x, 2))\n"
                                   "}\n"),
                    1);
    CU_ASSERT(diag_has(&r, "model 'm' has a loss but no train statement"));
    compiled_free(&r);
}

static void test_dense_named_and_positional_args(void) {
    elaborated r;
    int errs = elab_src(&r,
                        "model m {\n"
                        "    input x : f32[2, 3]\n"
                        "    a = dense(x, 4)\n"
                        "    b = dense(x, units = 5, bias = false)\n"
                        "    c = dense(units = 6, x = x, init = he)\n"
                        "    d = x -> dense(7, true, glorot)\n"
                        "    output ya = a\n"
                        "    output yb = b\n"
                        "    output yc = c\n"
                        "    output yd = d\n"
                        "}\n",
                        NULL, 0);
    CU_ASSERT_EQUAL(errs, 0);
    if (errs) fprintf(stderr, "%s", r.diag);
    CU_ASSERT_EQUAL_FATAL(r.g.params.len, 7);
    static const char *const names[] = {"a.weight", "a.bias", "b.weight", "c.weight", "c.bias", "d.weight", "d.bias"};
    static const int64_t d0[] = {4, 4, 5, 6, 6, 7, 7};
    for (int i = 0; i < 7; i++) {
        ir_node *p = N(&r.g, r.g.params.data[i]);
        CU_ASSERT_STRING_EQUAL(p->name, names[i]);
        CU_ASSERT_EQUAL(p->shape.d[0], d0[i]);
        CU_ASSERT_EQUAL(p->shape.rank, strstr(names[i], "weight") ? 2 : 1);
        if (p->shape.rank == 2) CU_ASSERT_EQUAL(p->shape.d[1], 3);
    }
    CU_ASSERT_EQUAL(param_named(&r.g, "c.weight")->init, INIT_HE);
    CU_ASSERT_EQUAL(param_named(&r.g, "d.weight")->init, INIT_GLOROT);
    CU_ASSERT_EQUAL(r.g.outputs.len, 4);
    CU_ASSERT(shape_is(&N(&r.g, r.g.outputs.data[1])->shape, 2, 2, 5, 0));
    CU_ASSERT_EQUAL(N(&r.g, r.g.outputs.data[1])->op, IR_MATMUL); /* no bias add */
    CU_ASSERT_EQUAL(N(&r.g, r.g.outputs.data[0])->op, IR_ADD);
    CU_ASSERT_EQUAL(verify_quiet(&r.g), 0);
    elab_free(&r);
}

static const char *dense_prog(char *buf, size_t n, const char *call) {
    snprintf(buf, n,
             "model m {\n"
             "    input x : f32[2, 3]\n"
             "    output y = %s\n"
             "}\n",
             call);
    return buf;
}

static void test_dense_unknown_named_arg(void) {
    char buf[256];
    compiled r;
    CU_ASSERT_EQUAL(compile_ir(&r, dense_prog(buf, sizeof buf, "dense(x, 4, activation = relu)")), 1);
    CU_ASSERT(diag_has(&r, "t.nn:3:28: error: dense has no argument 'activation'"));
    compiled_free(&r);
}

static void test_dense_duplicate_arg(void) {
    char buf[256];
    compiled r;
    CU_ASSERT_EQUAL(compile_ir(&r, dense_prog(buf, sizeof buf, "dense(x, 4, units = 5)")), 1);
    CU_ASSERT(diag_has(&r, "t.nn:3:28: error: dense: argument 'units' given twice"));
    compiled_free(&r);
    CU_ASSERT_EQUAL(compile_ir(&r, dense_prog(buf, sizeof buf, "dense(x = x, units = 4, x = x)")), 1);
    CU_ASSERT(diag_has(&r, "dense: argument 'x' given twice"));
    compiled_free(&r);
}

static void test_dense_too_many_and_missing_args(void) {
    char buf[256];
    compiled r;
    CU_ASSERT_EQUAL(compile_ir(&r, dense_prog(buf, sizeof buf, "dense(x, 4, true, he, 5)")), 1);
    CU_ASSERT(diag_has(&r, "t.nn:3:38: error: dense takes at most 4 arguments, got 5"));
    compiled_free(&r);
    CU_ASSERT_EQUAL(compile_ir(&r, dense_prog(buf, sizeof buf, "relu(x, x)")), 1);
    CU_ASSERT(diag_has(&r, "relu takes at most 1 argument, got 2"));
    compiled_free(&r);
    CU_ASSERT_EQUAL(compile_ir(&r, dense_prog(buf, sizeof buf, "dense(x)")), 1);
    CU_ASSERT(diag_has(&r, "dense: missing argument 'units'"));
    compiled_free(&r);
    CU_ASSERT_EQUAL(compile_ir(&r, dense_prog(buf, sizeof buf, "dense(x, 2.5)")), 1);
    CU_ASSERT(diag_has(&r, "dense: argument 'units' must be an integer >= 1"));
    compiled_free(&r);
}

/* ======================================================================== */
/* autodiff                                                                  */
/* ======================================================================== */

static void test_xor_every_param_has_gradient(void) {
    elaborated r;
    CU_ASSERT_EQUAL_FATAL(elab_example(&r, "xor.nn"), 0);
    int n0 = r.g.nodes.len;
    ad_backward(&r.g);
    CU_ASSERT(r.g.nodes.len > n0);
    CU_ASSERT_EQUAL_FATAL(r.g.grads.len, r.g.params.len);
    CU_ASSERT_EQUAL(r.g.params.len, 4);
    for (int i = 0; i < r.g.params.len; i++) {
        int gid = r.g.grads.data[i];
        CU_ASSERT_FATAL(gid >= n0 && gid < r.g.nodes.len);
        ir_node *p = N(&r.g, r.g.params.data[i]), *gn = N(&r.g, gid);
        CU_ASSERT(ir_shape_eq(&gn->shape, &p->shape));
        CU_ASSERT_EQUAL(gn->dtype, DT_F32);
        CU_ASSERT_EQUAL(gn->is_grad, 1);
        CU_ASSERT_NOT_EQUAL(ir_ops[gn->op].cls, OPC_SOURCE);
        for (int j = 0; j < i; j++) CU_ASSERT_NOT_EQUAL(r.g.grads.data[j], gid);
    }
    /* forward nodes are not marked, backward ones are */
    for (int i = 0; i < n0; i++) CU_ASSERT_EQUAL(N(&r.g, i)->is_grad, 0);
    CU_ASSERT_EQUAL(verify_quiet(&r.g), 0);
    char *t = ir_text(&r.g, NULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "grad h.weight = %"));
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "grad p.bias = %"));
    free(t);
    elab_free(&r);
}

static void test_fanout_gradient_accumulates(void) {
    elaborated r;
    int errs = elab_src(&r,
                        "model t {\n"
                        "    input x : f32[2, 3]\n"
                        "    param w : f32[3] = ones\n"
                        "    param v : f32[3] = ones\n"
                        "    output y = x * v\n"
                        "    loss mean(w * w + w) + mean(x * v)\n"
                        "    train sgd(lr = 0.1)\n"
                        "}\n",
                        NULL, 0);
    CU_ASSERT_EQUAL_FATAL(errs, 0);
    int n0 = r.g.nodes.len;
    ad_backward(&r.g);
    CU_ASSERT_EQUAL_FATAL(r.g.grads.len, 2);
    int gw = r.g.grads.data[0], gv = r.g.grads.data[1];
    CU_ASSERT_FATAL(gw >= n0 && gv >= n0);
    CU_ASSERT(shape_is(&N(&r.g, gw)->shape, 1, 3, 0, 0));
    CU_ASSERT(shape_is(&N(&r.g, gv)->shape, 1, 3, 0, 0));
    /* w is read three times: its gradient is a sum made by autodiff */
    CU_ASSERT_EQUAL(N(&r.g, gw)->op, IR_ADD);
    CU_ASSERT_EQUAL(N(&r.g, gw)->is_grad, 1);
    int adds = 0;
    for (int i = n0; i < r.g.nodes.len; i++) adds += N(&r.g, i)->op == IR_ADD && N(&r.g, i)->is_grad;
    CU_ASSERT(adds >= 2);
    /* v is broadcast over the batch: its gradient sums the batch axis */
    CU_ASSERT(N(&r.g, gv)->op == IR_SUM || N(&r.g, gv)->op == IR_RESHAPE || N(&r.g, gv)->op == IR_COPY);
    CU_ASSERT_EQUAL(verify_quiet(&r.g), 0);
    /* the gradient graph is also plannable */
    ir_program p;
    ir_program_build(&r.g, &p);
    CU_ASSERT(p.has[ENTRY_TRAIN]);
    CU_ASSERT_EQUAL(p.mem[ENTRY_TRAIN].region[gw], MEM_GRAD);
    elab_free(&r);
}

/* ======================================================================== */
/* constant folding                                                          */
/* ======================================================================== */

static void test_fold_const_arith_at_elaboration(void) {
    compiled r;
    copts c = {EMIT_IR, NULL, 0, 0, NULL, 0}; /* -O0: no pass_fold */
    CU_ASSERT_EQUAL(compile_with(&r,
                                 "model m {\n"
                                 "    input x : f32[2, 3]\n"
                                 "    output y = x * (2 + 3)\n"
                                 "}\n",
                                 c),
                    0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out.s, "f32[] = const [5]"));
    CU_ASSERT_PTR_NULL(strstr(r.out.s, "add("));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out.s, "= mul(%0, %1)"));
    compiled_free(&r);
}

static void test_fold_const_tensor_expression(void) {
    elaborated r;
    int errs = elab_src(&r,
                        "model m {\n"
                        "    input x : f32[3, 2]\n"
                        "    output y = x * ([1, 2] * 2)\n"
                        "}\n",
                        NULL, 0);
    CU_ASSERT_EQUAL_FATAL(errs, 0);
    ir_node *y = N(&r.g, r.g.outputs.data[0]);
    CU_ASSERT_EQUAL_FATAL(y->op, IR_MUL);
    ir_node *c = N(&r.g, y->in[1]);
    CU_ASSERT_EQUAL(c->op, IR_MUL); /* not folded yet */
    CU_ASSERT(pass_fold(&r.g) >= 1);
    CU_ASSERT_EQUAL_FATAL(c->op, IR_CONST);
    CU_ASSERT_EQUAL(c->nin, 0);
    CU_ASSERT(shape_is(&c->shape, 1, 2, 0, 0));
    CU_ASSERT_PTR_NOT_NULL_FATAL(c->data);
    CU_ASSERT_DOUBLE_EQUAL(c->data[0], 2, 0);
    CU_ASSERT_DOUBLE_EQUAL(c->data[1], 4, 0);
    CU_ASSERT_EQUAL(y->op, IR_MUL); /* depends on an input: stays */
    CU_ASSERT_EQUAL(verify_quiet(&r.g), 0);
    CU_ASSERT_EQUAL(pass_fold(&r.g), 0); /* idempotent */
    elab_free(&r);
    /* through the pipeline */
    compiled cr;
    CU_ASSERT_EQUAL(compile_ir(&cr, "model m {\n"
                                    "    input x : f32[3, 2]\n"
                                    "    output y = x * ([1, 2] * 2) + exp([0.0, 0.0]) - [[1, 1], [1, 1], [1, 1]] / 1\n"
                                    "}\n"),
                    0);
    CU_ASSERT_PTR_NOT_NULL(strstr(cr.out.s, "f32[2] = const [2, 4]"));
    CU_ASSERT_PTR_NOT_NULL(strstr(cr.out.s, "f32[2] = const [1, 1]"));
    CU_ASSERT_PTR_NULL(strstr(cr.out.s, "exp("));
    CU_ASSERT_PTR_NULL(strstr(cr.out.s, "div("));
    compiled_free(&cr);
}

/* A gradient that does not depend on data is all constants; folding must
 * not turn the node the gradient buffer is pinned to into a CONST, or the
 * training entry point never writes the gradient. */
static void test_fold_keeps_gradient_nodes_computed(void) {
    elaborated r;
    int errs = elab_src(&r,
                        "model t {\n"
                        "    input x : f32[2, 3]\n"
                        "    param w : f32[3] = ones\n"
                        "    output y = x * w\n"
                        "    loss sum(w * 2)\n"
                        "    train sgd(lr = 0.1)\n"
                        "}\n",
                        NULL, 0);
    CU_ASSERT_EQUAL_FATAL(errs, 0);
    pass_fold(&r.g);
    ad_backward(&r.g);
    pass_fold(&r.g);
    CU_ASSERT_EQUAL(verify_quiet(&r.g), 0);
    CU_ASSERT_EQUAL_FATAL(r.g.grads.len, 1);
    int gw = r.g.grads.data[0];
    CU_ASSERT_FATAL(gw >= 0);
    CU_ASSERT_NOT_EQUAL(N(&r.g, gw)->op, IR_CONST);
    ir_program p;
    ir_program_build(&r.g, &p);
    CU_ASSERT_FATAL(p.has[ENTRY_TRAIN]);
    CU_ASSERT_EQUAL(p.mem[ENTRY_TRAIN].region[gw], MEM_GRAD);
    int in_sched = 0;
    for (int t = 0; t < p.sched[ENTRY_TRAIN].order.len; t++) in_sched |= p.sched[ENTRY_TRAIN].order.data[t] == gw;
    CU_ASSERT(in_sched);
    elab_free(&r);
}

/* ======================================================================== */
/* memory plan                                                               */
/* ======================================================================== */

/* Fold, differentiate, fold, plan the elaborated r: as nnc_compile -O2. */
static int plan_program(elaborated *r, ir_program *p) {
    pass_fold(&r->g);
    if (r->g.loss >= 0 && r->g.opt.kind != OPT_NONE) {
        ad_backward(&r->g);
        pass_fold(&r->g);
    }
    if (verify_quiet(&r->g)) return 1;
    ir_program_build(&r->g, p);
    return 0;
}

static int build_program(elaborated *r, ir_program *p, const char *example) {
    return elab_example(r, example) || plan_program(r, p);
}

static int value_of(const ir_graph *g, const mem_plan *m, int id);

/* Does y write its output over x's buffer in place (x one of its inputs, or
 * the value of a view among them; same size and offset, y its last reader)? */
static int in_place(const ir_graph *g, const mem_plan *m, int x, int y, int last_x, int first_y) {
    const ir_node *n = g->nodes.data[y];
    int reads = 0;
    for (int j = 0; j < n->nin; j++) reads |= value_of(g, m, n->in[j]) == x;
    return reads && last_x == first_y && m->offset[x] == m->offset[y] &&
           ir_numel(&g->nodes.data[x]->shape) == ir_numel(&n->shape);
}

/* The node whose buffer node id's is: id, or for a view (mem_is_view) its input's. */
static int value_of(const ir_graph *g, const mem_plan *m, int id) {
    while (mem_is_view(g, m, id)) id = g->nodes.data[id]->in[0];
    return id;
}

/* Arena buffers whose lifetimes overlap must not share addresses (but for
 * in-place reuse: a node's output over the input it reads last). Lifetime:
 * from the step that writes the buffer to the last step that reads it;
 * outputs and the loss to the end; a view's reads are its input's (one
 * buffer: value_of). Returns the number of violations. */
static int check_plan(const ir_graph *g, const ir_sched *s, const mem_plan *m, const char *what) {
    int n = g->nodes.len, T = s->order.len, bad = 0;
    int *first = malloc(sizeof(int) * (size_t)n), *last = malloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) first[i] = last[i] = -1;
    for (int t = 0; t < T; t++) {
        int id = s->order.data[t];
        const ir_node *x = g->nodes.data[id];
        for (int j = 0; j < x->nin; j++)
            if (last[x->in[j]] < t) last[x->in[j]] = t;
        if (first[id] >= 0) {
            fprintf(stderr, "\n%s: node %d scheduled twice\n", what, id);
            bad++;
        }
        first[id] = t;
        if (last[id] < t) last[id] = t;
        for (int j = 0; j < x->nin; j++)
            if (ir_ops[g->nodes.data[x->in[j]]->op].cls != OPC_SOURCE && first[x->in[j]] < 0) {
                fprintf(stderr, "\n%s: node %d reads %d before it is computed\n", what, id, x->in[j]);
                bad++;
            }
    }
    for (int i = 0; i < g->outputs.len; i++) last[g->outputs.data[i]] = T;
    if (g->loss >= 0) last[g->loss] = T;
    for (int t = 0; t < T; t++) { /* a view's reads keep its input's buffer */
        int id = s->order.data[t], v = value_of(g, m, id);
        if (v != id && last[v] < last[id]) last[v] = last[id];
    }
    for (int t = 0; t < T; t++) {
        int id = s->order.data[t];
        mem_region r = m->region[id];
        if (r != MEM_ARENA && r != MEM_GRAD) {
            fprintf(stderr, "\n%s: computed node %d has region %d\n", what, id, (int)r);
            bad++;
        }
        if (r == MEM_ARENA && m->offset[id] + (size_t)ir_numel(&g->nodes.data[id]->shape) > m->arena_elems) {
            fprintf(stderr, "\n%s: node %d ends past the arena\n", what, id);
            bad++;
        }
    }
    for (int a = 0; a < T; a++)
        for (int b = a + 1; b < T; b++) {
            int x = s->order.data[a], y = s->order.data[b];
            if (m->region[x] != MEM_ARENA || m->region[y] != MEM_ARENA) continue;
            if (value_of(g, m, x) != x || value_of(g, m, y) != y) continue; /* views: checked as their inputs */
            if (last[x] < first[y] || last[y] < first[x]) continue; /* disjoint lifetimes */
            if (in_place(g, m, x, y, last[x], first[y])) continue;
            size_t ox = m->offset[x], oy = m->offset[y];
            size_t sx = (size_t)ir_numel(&g->nodes.data[x]->shape), sy = (size_t)ir_numel(&g->nodes.data[y]->shape);
            if (ox + sx <= oy || oy + sy <= ox) continue;
            fprintf(stderr, "\n%s: %%%d [%zu, %zu) steps %d..%d overlaps %%%d [%zu, %zu) steps %d..%d\n", what, x, ox,
                    ox + sx, first[x], last[x], y, oy, oy + sy, first[y], last[y]);
            bad++;
        }
    free(first);
    free(last);
    return bad;
}

/* Steps of plan e that are views (a reshape sharing its input's buffer). */
static int count_views(const ir_program *p, int e) {
    int k = 0;
    for (int t = 0; t < p->sched[e].order.len; t++) k += mem_is_view(p->g, &p->mem[e], p->sched[e].order.data[t]);
    return k;
}

static void test_memplan_live_buffers_disjoint(void) {
    static const char *const examples[] = {"digits_mlp.nn", "xor.nn", "coffee.nn", "lenet.nn", "tiny_gpt.nn"};
    for (int k = 0; k < 5; k++) {
        elaborated r;
        ir_program p;
        CU_ASSERT_EQUAL_FATAL(build_program(&r, &p, examples[k]), 0);
        int entries = 0;
        for (int e = 0; e < ENTRY_COUNT; e++) {
            if (!p.has[e]) continue;
            entries++;
            CU_ASSERT_EQUAL(check_plan(&r.g, &p.sched[e], &p.mem[e], examples[k]), 0);
            CU_ASSERT_EQUAL(p.mem[e].kernels, p.sched[e].order.len - count_views(&p, e));
            CU_ASSERT_EQUAL(count_views(&p, e) > 0, k >= 3); /* lenet's flatten, tiny_gpt's heads */
            CU_ASSERT(p.mem[e].arena_elems <= p.arena_elems);
        }
        CU_ASSERT(entries >= 1);
        if (k == 0) {
            CU_ASSERT(p.has[ENTRY_FORWARD] && p.has[ENTRY_LOSS] && p.has[ENTRY_TRAIN]);
            CU_ASSERT(p.sched[ENTRY_TRAIN].order.len > p.sched[ENTRY_LOSS].order.len);
        }
        elab_free(&r);
    }
}

/* Nodes of plan e whose output shares an input's buffer. */
static int count_in_place(const elaborated *r, const ir_program *p, int e) {
    const mem_plan *m = &p->mem[e];
    int k = 0;
    for (int t = 0; t < p->sched[e].order.len; t++) {
        const ir_node *n = r->g.nodes.data[p->sched[e].order.data[t]];
        for (int j = 0; j < n->nin; j++)
            if (m->region[n->in[j]] == MEM_ARENA && m->region[n->id] == MEM_ARENA &&
                m->offset[n->in[j]] == m->offset[n->id]) {
                k++;
                break;
            }
    }
    return k;
}

/* In-place reuse only where forward is the only entry point (no kernel is
 * shared with another plan): coffee's bias and sigmoid (unfused here) write
 * over the product; nothing in digits_mlp's plans does. */
static void test_memplan_in_place_inference_only(void) {
    static const char *const examples[] = {"coffee.nn", "digits_mlp.nn"};
    for (int k = 0; k < 2; k++) {
        elaborated r;
        ir_program p;
        CU_ASSERT_EQUAL_FATAL(build_program(&r, &p, examples[k]), 0);
        int n = 0;
        for (int e = 0; e < ENTRY_COUNT; e++) n += p.has[e] ? count_in_place(&r, &p, e) : 0;
        if (k == 0) CU_ASSERT_EQUAL(n, 2);
        if (k == 1) CU_ASSERT_EQUAL(n, 0);
        elab_free(&r);
    }
}

/* Views and in-place reuse together (an inference-only program): layer
 * norm's statistics written out as ONNX expands them, where a reshaped
 * value's buffer goes on to an in-place op while a view of that op's
 * output is read later (a merge through a merge: memplan.c's root). */
static void test_memplan_views_in_place(void) {
    static const char src[] = "model v {\n"
                              "    input x : f32[3, 4]\n"
                              "    m = reshape(sum(x, 1) / 4, [3, 1])\n"
                              "    s = sqrt(reshape(sum(x * x, 1) / 4, [3, 1]) - m * m + 1e-5)\n"
                              "    output y = (x - expand(m, [3, 4])) / expand(s, [3, 4])\n"
                              "    output mean = m\n"
                              "    output inv = 1 / s\n"
                              "}\n";
    elaborated r;
    ir_program p;
    CU_ASSERT_EQUAL_FATAL(elab_src(&r, src, NULL, 0), 0);
    CU_ASSERT_EQUAL_FATAL(plan_program(&r, &p), 0);
    CU_ASSERT(p.has[ENTRY_FORWARD] && !p.has[ENTRY_LOSS] && !p.has[ENTRY_TRAIN]);
    CU_ASSERT_EQUAL(check_plan(&r.g, &p.sched[ENTRY_FORWARD], &p.mem[ENTRY_FORWARD], "views_in_place"), 0);
    CU_ASSERT_EQUAL(count_views(&p, ENTRY_FORWARD), 4); /* the two of the source, two in expand */
    CU_ASSERT(count_in_place(&r, &p, ENTRY_FORWARD) > count_views(&p, ENTRY_FORWARD));
    elab_free(&r);
}

static void test_memplan_arena_not_above_naive(void) {
    elaborated r;
    ir_program p;
    CU_ASSERT_EQUAL_FATAL(build_program(&r, &p, "digits_mlp.nn"), 0);
    for (int e = 0; e < ENTRY_COUNT; e++) {
        if (!p.has[e]) continue;
        const mem_plan *m = &p.mem[e];
        CU_ASSERT(m->arena_elems <= m->naive_elems);
        CU_ASSERT(m->arena_elems > 0);
        /* naive = sum of the aligned sizes of the arena buffers */
        size_t sum = 0;
        for (int t = 0; t < p.sched[e].order.len; t++) {
            int id = p.sched[e].order.data[t];
            if (m->region[id] == MEM_ARENA) sum += ((size_t)ir_numel(&r.g.nodes.data[id]->shape) + 15) / 16 * 16;
        }
        CU_ASSERT_EQUAL(sum, m->naive_elems);
        /* offsets are 16-element aligned */
        for (int t = 0; t < p.sched[e].order.len; t++) {
            int id = p.sched[e].order.data[t];
            if (m->region[id] == MEM_ARENA) CU_ASSERT_EQUAL(m->offset[id] % 16, 0);
        }
    }
    /* training reuses memory: strictly less than the naive sum */
    CU_ASSERT(p.mem[ENTRY_TRAIN].arena_elems < p.mem[ENTRY_TRAIN].naive_elems);
    elab_free(&r);
}

static void test_memplan_grads_pinned_to_param_slots(void) {
    elaborated r;
    ir_program p;
    CU_ASSERT_EQUAL_FATAL(build_program(&r, &p, "digits_mlp.nn"), 0);
    CU_ASSERT_FATAL(p.has[ENTRY_TRAIN]);
    const mem_plan *m = &p.mem[ENTRY_TRAIN];
    CU_ASSERT_EQUAL_FATAL(r.g.grads.len, r.g.params.len);
    for (int i = 0; i < r.g.params.len; i++) {
        int pid = r.g.params.data[i], gid = r.g.grads.data[i];
        CU_ASSERT_FATAL(gid >= 0);
        CU_ASSERT_EQUAL(m->region[pid], MEM_PARAM);
        CU_ASSERT_EQUAL(m->region[gid], MEM_GRAD);
        CU_ASSERT_EQUAL(m->offset[gid], m->offset[pid]);
        CU_ASSERT(N(&r.g, gid)->is_grad);
        int in_sched = 0;
        for (int t = 0; t < p.sched[ENTRY_TRAIN].order.len; t++) in_sched |= p.sched[ENTRY_TRAIN].order.data[t] == gid;
        CU_ASSERT(in_sched);
    }
    /* nothing else is in the gradient buffer */
    int ngrad = 0;
    for (int i = 0; i < r.g.nodes.len; i++) ngrad += m->region[i] == MEM_GRAD;
    CU_ASSERT_EQUAL(ngrad, r.g.params.len);
    /* inputs and targets are the caller's */
    CU_ASSERT_EQUAL(m->region[r.g.inputs.data[0]], MEM_USER);
    CU_ASSERT_EQUAL(m->region[r.g.targets.data[0]], MEM_USER);
    elab_free(&r);
}

static void test_memplan_params_contiguous_in_order(void) {
    elaborated r;
    ir_program p;
    CU_ASSERT_EQUAL_FATAL(build_program(&r, &p, "digits_mlp.nn"), 0);
    for (int e = 0; e < ENTRY_COUNT; e++) {
        if (!p.has[e]) continue;
        const mem_plan *m = &p.mem[e];
        size_t expect = 0;
        for (int i = 0; i < r.g.params.len; i++) {
            int pid = r.g.params.data[i];
            size_t n = (size_t)ir_numel(&N(&r.g, pid)->shape);
            CU_ASSERT_EQUAL(m->region[pid], MEM_PARAM);
            CU_ASSERT_EQUAL(m->offset[pid], expect);
            expect += (n + 15) / 16 * 16;
        }
        CU_ASSERT_EQUAL(m->param_elems, expect);
    }
    /* 128*64 + 128 + 128*128 + 128 + 10*128 + 10 (each padded to 16) */
    CU_ASSERT_EQUAL(p.mem[ENTRY_TRAIN].param_elems, 8192 + 128 + 16384 + 128 + 1280 + 16);
    elab_free(&r);
}

/* ======================================================================== */
/* code generation                                                           */
/* ======================================================================== */

static void test_codegen_deterministic(void) {
    static const char *const examples[] = {"digits_mlp.nn", "xor.nn", "coffee.nn"};
    for (int k = 0; k < 3; k++) {
        char *src = read_example(examples[k]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(src);
        compiled a, b;
        copts c = {EMIT_C, NULL, 0, -1, NULL, 0};
        CU_ASSERT_EQUAL(compile_with(&a, src, c), 0);
        CU_ASSERT_EQUAL(compile_with(&b, src, c), 0);
        CU_ASSERT(a.out.len > 1000);
        CU_ASSERT(a.hdr.len > 100);
        CU_ASSERT_EQUAL(a.out.len, b.out.len);
        CU_ASSERT_EQUAL(a.hdr.len, b.hdr.len);
        CU_ASSERT(a.out.len == b.out.len && !memcmp(a.out.s, b.out.s, a.out.len));
        CU_ASSERT(a.hdr.len == b.hdr.len && !memcmp(a.hdr.s, b.hdr.s, a.hdr.len));
        CU_ASSERT_PTR_NOT_NULL(strstr(a.out.s, "#include \"model.h\""));
        compiled_free(&a);
        compiled_free(&b);
        free(src);
    }
}

/* Copy of s with comments and string/char literals blanked out. */
static char *strip_comments(const char *s) {
    size_t n = strlen(s);
    char *r = malloc(n + 1);
    size_t i = 0;
    while (i < n) {
        if (s[i] == '/' && s[i + 1] == '*') {
            const char *e = strstr(s + i + 2, "*/");
            size_t end = e ? (size_t)(e - s) + 2 : n;
            for (; i < end; i++) r[i] = s[i] == '\n' ? '\n' : ' ';
        } else if (s[i] == '/' && s[i + 1] == '/') {
            for (; i < n && s[i] != '\n'; i++) r[i] = ' ';
        } else if (s[i] == '"' || s[i] == '\'') {
            char q = s[i];
            r[i++] = ' ';
            while (i < n && s[i] != q) {
                if (s[i] == '\\' && i + 1 < n) r[i++] = ' ';
                r[i++] = ' ';
            }
            if (i < n) r[i++] = ' ';
        } else {
            r[i] = s[i];
            i++;
        }
    }
    r[n] = 0;
    return r;
}

/* Identifiers in code equal to the model name or prefixed by it. */
static int model_name_uses(const char *code, const char *lower, const char *upper, int quiet) {
    char *s = strip_comments(code);
    int bad = 0;
    size_t ll = strlen(lower);
    for (const char *p = s; *p;) {
        if (isalpha((unsigned char)*p) || *p == '_') {
            const char *q = p;
            while (isalnum((unsigned char)*q) || *q == '_') q++;
            size_t len = (size_t)(q - p);
            if ((len == ll || (len > ll && p[ll] == '_')) && (!strncmp(p, lower, ll) || !strncmp(p, upper, ll))) {
                if (!quiet) fprintf(stderr, "\nmodel name in identifier: %.*s\n", (int)len, p);
                bad++;
            }
            p = q;
        } else {
            p++;
        }
    }
    free(s);
    return bad;
}

/* Names of the external declarations and definitions: in the header every
 * prototype and macro; in the .c every non-static top-level function. */
static int exported_without_prefix(const char *text, const char *lower, const char *upper, int *count) {
    char *s = strip_comments(text);
    int bad = 0;
    size_t ll = strlen(lower);
    for (char *line = s; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        if (!strncmp(line, "#define ", 8)) {
            (*count)++;
            if (strncmp(line + 8, upper, ll) || line[8 + ll] != '_') {
                fprintf(stderr, "\nunprefixed macro: %s\n", line);
                bad++;
            }
        } else if (line[0] && !isspace((unsigned char)line[0]) && line[0] != '#' && line[0] != '}' &&
                   strncmp(line, "static ", 7) && strncmp(line, "typedef ", 8) && strncmp(line, "extern ", 7) &&
                   strncmp(line, "struct ", 7) && strchr(line, '(')) {
            char *paren = strchr(line, '(');
            char *e = paren;
            while (e > line && isspace((unsigned char)e[-1])) e--;
            char *b = e;
            while (b > line && (isalnum((unsigned char)b[-1]) || b[-1] == '_')) b--;
            (*count)++;
            if ((size_t)(e - b) <= ll || strncmp(b, lower, ll) || b[ll] != '_') {
                fprintf(stderr, "\nunprefixed function: %s\n", line);
                bad++;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    free(s);
    return bad;
}

static void test_codegen_name_prefix(void) {
    char *src = read_example("xor.nn");
    CU_ASSERT_PTR_NOT_NULL_FATAL(src);
    compiled r;
    copts c = {EMIT_C, "foo", 0, -1, NULL, 0};
    CU_ASSERT_EQUAL_FATAL(compile_with(&r, src, c), 0);
    int nc = 0, nh = 0;
    CU_ASSERT_EQUAL(exported_without_prefix(r.out.s, "foo", "FOO", &nc), 0);
    CU_ASSERT_EQUAL(exported_without_prefix(r.hdr.s, "foo", "FOO", &nh), 0);
    CU_ASSERT(nc >= 10); /* the checker saw the API */
    CU_ASSERT(nh >= 10);
    CU_ASSERT_EQUAL(model_name_uses(r.out.s, "xor", "XOR", 0), 0);
    CU_ASSERT_EQUAL(model_name_uses(r.hdr.s, "xor", "XOR", 0), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.hdr.s, "foo *foo_create(uint64_t seed);"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.hdr.s, "int foo_train_step(foo *m"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.hdr.s, "#ifndef FOO_H"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out.s, "int foo_forward(foo *m"));
    compiled_free(&r);
    /* without --name the model name is the prefix, and the checker sees it */
    copts d = {EMIT_C, NULL, 0, -1, NULL, 0};
    CU_ASSERT_EQUAL_FATAL(compile_with(&r, src, d), 0);
    CU_ASSERT(model_name_uses(r.out.s, "xor", "XOR", 1) > 10);
    CU_ASSERT_EQUAL(exported_without_prefix(r.hdr.s, "xor", "XOR", &nh), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.hdr.s, "xor *xor_create(uint64_t seed);"));
    compiled_free(&r);
    free(src);
}

static void test_codegen_f64_uses_double(void) {
    char *src = read_example("digits_mlp.nn");
    CU_ASSERT_PTR_NOT_NULL_FATAL(src);
    compiled r;
    copts c = {EMIT_C, NULL, 1, -1, NULL, 0};
    CU_ASSERT_EQUAL_FATAL(compile_with(&r, src, c), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out.s, "double"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.hdr.s, "double"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out.s, "NNRT_F64"));
    CU_ASSERT_PTR_NULL(strstr(r.out.s, "float"));
    CU_ASSERT_PTR_NULL(strstr(r.hdr.s, "float"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.hdr.s, "int digits_mlp_forward(digits_mlp *m, const double *image, double *probs);"));
    compiled_free(&r);
    /* and f32 uses float */
    copts f = {EMIT_C, NULL, 0, -1, NULL, 0};
    CU_ASSERT_EQUAL_FATAL(compile_with(&r, src, f), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.hdr.s, "int digits_mlp_forward(digits_mlp *m, const float *image, float *probs);"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out.s, "NNRT_F32"));
    CU_ASSERT_PTR_NULL(strstr(r.out.s, "NNRT_F64"));
    compiled_free(&r);
    free(src);
}

/* ======================================================================== */
/* malformed input                                                           */
/* ======================================================================== */

static void test_malformed_inputs_return_1(void) {
    static const struct {
        const char *src;
        size_t len; /* 0: strlen */
    } cases[] = {
        {"", 0},
        {"# only a comment\n# and another\n", 0},
        {"model m {}", 0},
        {"model m { }\nmodel n { }\n", 0},
        {"\x01\xff\xfe\x80garbage{{{[[[(((", 0},
        {"model", 0},
        {"model m {\n    input x : f32[2, 3]\n    output y = relu(x)\n", 0},
        {"const B = 1 / 0\nmodel m {\n    input x : f32[B, 3]\n    output y = relu(x)\n}\n", 0},
        {"model m {\n    input x : f32[2, 3]\n    output y = [[1, 2], [3]]\n}\n", 0},
        {"model m {\n    input x : f32[2,3,4,5,6,7,8]\n    output y = relu(x)\n}\n", 0},
        {"model m {\n    input x : f32[2, 3]\n    output y = matmul(x, x)\n}\n", 0},
        {"model m {\n    input x : i32[2, 3]\n    output y = x + 1\n}\n", 0},
        {"model m {\n    output y = y\n}\n", 0},
        {"model m {\n    input x : f32[2, 3]\n    loss mean(x)\n    train sgd(lr = 0.1)\n}\n", 0},
        {"model m {\n    input x : f32[2, 3]\n    output y = relu(x)\n}\0model n {}\n", 70},
        {"model m {\n    input x : f32[2, 3]\n    output y = dense(dense(dense(x, 0), -1), 1e99)\n}\n", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].src);
        static const nnc_emit emits[] = {EMIT_C, EMIT_IR, EMIT_IR_TRAIN};
        for (int e = 0; e < 3; e++) {
            compiled r;
            copts c = {emits[e], NULL, 0, -1, NULL, 0};
            int rc = compile_n(&r, cases[i].src, len, c);
            CU_ASSERT_EQUAL(rc, 1);
            if (rc != 1) fprintf(stderr, "\ncase %zu compiled (rc %d)\n", i, rc);
            CU_ASSERT(r.dlen > 0); /* says why */
            CU_ASSERT_PTR_NULL(strstr(r.diag, "internal error"));
            compiled_free(&r);
        }
    }
}

/* ======================================================================== */

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    static const struct {
        const char *suite;
        const char *name;
        CU_TestFunc fn;
    } tests[] = {
        {"common", "edit_distance", test_edit_distance},
        {"common", "strbuf_grows_past_64k", test_strbuf_grows_past_64k},
        {"common", "arena_alignment_and_zeroing", test_arena_alignment_and_zeroing},
        {"common", "diag_format_span_of_3", test_diag_format_span_of_3},
        {"common", "diag_span_past_end_of_line", test_diag_span_past_end_of_line},
        {"common", "diag_tab_in_line", test_diag_tab_in_line},
        {"common", "diag_counts_and_max_errors", test_diag_counts_and_max_errors},
        {"common", "checked_arithmetic", test_checked_arithmetic},
        {"common", "parse_bytes", test_parse_bytes},
        {"shape", "shape_broadcast_suffix", test_shape_broadcast_suffix},
        {"shape", "shape_broadcast_mismatch_names_shapes", test_shape_broadcast_mismatch_names_shapes},
        {"shape", "shape_scalar_broadcast", test_shape_scalar_broadcast},
        {"shape", "shape_matmul_2d_and_transposes", test_shape_matmul_2d_and_transposes},
        {"shape", "shape_matmul_rank3", test_shape_matmul_rank3},
        {"shape", "shape_matmul_inner_mismatch", test_shape_matmul_inner_mismatch},
        {"shape", "shape_sum_axes", test_shape_sum_axes},
        {"shape", "shape_expand_inverts_sum", test_shape_expand_inverts_sum},
        {"shape", "shape_reshape_numel_mismatch", test_shape_reshape_numel_mismatch},
        {"shape", "shape_overflow_checked", test_shape_overflow_checked},
        {"shape", "shape_cross_entropy_labels", test_shape_cross_entropy_labels},
        {"shape", "shape_i32_operand_rejected", test_shape_i32_operand_rejected},
        {"elab", "examples_compile_cleanly", test_examples_compile_cleanly},
        {"elab", "digits_param_names_and_shapes", test_digits_param_names_and_shapes},
        {"elab", "digits_init_he_before_relu_glorot_else", test_digits_init_he_before_relu_glorot_else},
        {"elab", "define_changes_batch", test_define_changes_batch},
        {"elab", "unused_define_is_error", test_unused_define_is_error},
        {"elab", "const_arithmetic_in_shapes", test_const_arithmetic_in_shapes},
        {"elab", "nonint_dim_error", test_nonint_dim_error},
        {"elab", "unknown_name_suggests", test_unknown_name_suggests},
        {"elab", "unknown_op_suggests", test_unknown_op_suggests},
        {"elab", "redefinition_note", test_redefinition_note},
        {"elab", "loss_not_scalar", test_loss_not_scalar},
        {"elab", "train_without_loss", test_train_without_loss},
        {"elab", "dense_named_and_positional_args", test_dense_named_and_positional_args},
        {"elab", "dense_unknown_named_arg", test_dense_unknown_named_arg},
        {"elab", "dense_duplicate_arg", test_dense_duplicate_arg},
        {"elab", "dense_too_many_and_missing_args", test_dense_too_many_and_missing_args},
        {"autodiff", "xor_every_param_has_gradient", test_xor_every_param_has_gradient},
        {"autodiff", "fanout_gradient_accumulates", test_fanout_gradient_accumulates},
        {"fold", "fold_const_arith_at_elaboration", test_fold_const_arith_at_elaboration},
        {"fold", "fold_const_tensor_expression", test_fold_const_tensor_expression},
        {"fold", "fold_keeps_gradient_nodes_computed", test_fold_keeps_gradient_nodes_computed},
        {"memplan", "memplan_live_buffers_disjoint", test_memplan_live_buffers_disjoint},
        {"memplan", "memplan_in_place_inference_only", test_memplan_in_place_inference_only},
        {"memplan", "memplan_views_in_place", test_memplan_views_in_place},
        {"memplan", "memplan_arena_not_above_naive", test_memplan_arena_not_above_naive},
        {"memplan", "memplan_grads_pinned_to_param_slots", test_memplan_grads_pinned_to_param_slots},
        {"memplan", "memplan_params_contiguous_in_order", test_memplan_params_contiguous_in_order},
        {"memplan", "memplan_need_saturates", test_memplan_need_saturates},
        {"codegen", "codegen_deterministic", test_codegen_deterministic},
        {"codegen", "codegen_name_prefix", test_codegen_name_prefix},
        {"codegen", "codegen_f64_uses_double", test_codegen_f64_uses_double},
        {"robust", "malformed_inputs_return_1", test_malformed_inputs_return_1},
    };
    CU_pSuite suite = NULL;
    const char *cur = NULL;
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        if (!cur || strcmp(cur, tests[i].suite)) {
            cur = tests[i].suite;
            suite = CU_add_suite(cur, NULL, NULL);
            if (!suite) {
                CU_cleanup_registry();
                return 2;
            }
        }
        if (!CU_add_test(suite, tests[i].name, tests[i].fn)) {
            CU_cleanup_registry();
            return 2;
        }
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    int failed = CU_get_number_of_failures() != 0;
    CU_cleanup_registry();
    return failed;
}
