/* fuzz_parse.c — libFuzzer target for the frontend: any bytes must parse
 * (with errors, usually) without crashing, hanging or leaking, and the
 * resulting AST must print.
 *
 *   clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined
 *       -I$BUILD -Ifrontend -Icommon tests/fuzz/fuzz_parse.c
 *       frontend/{ast,ast_print,parse}.c $BUILD/{lexer,parser}.c
 *       common/{diag,arena}.c -lm
 *   ./fuzz_parse -max_total_time=60 corpus/ examples/
 * (lexer.c needs -Wno-unused-function, see the build notes).
 *
 * No global state: each input gets its own buffer, arena and stream.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#endif

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ast.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *src = malloc(size + 1); /* NUL-terminated at size, NULs inside */
    if (!src) return 0;
    if (size) memcpy(src, data, size);
    src[size] = 0;
    diag_ctx d;
    diag_init(&d, "fuzz.nn", src, size, NULL, 0); /* count only */
    arena a;
    arena_init(&a);
    ast_program p;
    int errors = parse_program(src, size, &a, &d, &p);
    if (errors != d.errors) abort(); /* the contract */
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (out) {
        ast_print(&p, out);
        fclose(out);
    }
    free(text);
    arena_free(&a);
    free(src);
    return 0;
}
