/* fuzz_nnc.c — libFuzzer target for the whole compiler: any bytes go through
 * parse, elaboration, passes and C emission. A crash, a sanitizer report or
 * a leak is a bug; diagnostics are expected and discarded. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../driver/compile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *src = malloc(size + 1);
    if (!src) return 0;
    memcpy(src, data, size);
    src[size] = 0;
    FILE *devnull = fopen("/dev/null", "w");
    nnc_options o;
    memset(&o, 0, sizeof o);
    o.file = "fuzz.nn";
    o.header = "fuzz.h";
    o.opt_level = 2;
    o.emit_main = size % 2; /* both with and without the trainer main */
    o.emit = size % 3 == 0 ? EMIT_IR_TRAIN : EMIT_C;
    o.target = cg_target_find(size / 6 % 2 ? "cuda" : "c"); /* both targets */
    o.no_fuse = size / 12 % 4 == 0; /* now and then without fusion */
    strbuf out, hdr;
    sb_init(&out);
    sb_init(&hdr);
    nnc_compile(&o, src, size, &out, &hdr, devnull ? devnull : stderr);
    sb_free(&out);
    sb_free(&hdr);
    if (devnull) fclose(devnull);
    free(src);
    return 0;
}
