/* fuzz_trainer_args.c — libFuzzer target for the trainer's argument parsing
 * (nnrti_tr_parse_args in runtime/trainer_args.c): the input, split at NUL
 * bytes, is argv. Nothing runs after parsing (no file is touched). A crash,
 * a sanitizer report, a leak, or a failure without a message is a bug; a
 * usage error must be exit status 2. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trainer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A character model's description (no functions: parsing never calls them). */
static nnrt_model_desc desc(int trainable)
{
    nnrt_model_desc d;
    memset(&d, 0, sizeof d);
    d.name = "fuzz";
    d.dtype = NNRT_F32;
    d.batch = 2;
    d.x_dtype = NNRT_I32;
    d.x_rank = 1;
    d.x_shape[0] = 4;
    d.x_numel = 4;
    d.has_target = 1;
    d.y_dtype = NNRT_I32;
    d.y_numel = 4;
    d.classes = 8;
    d.out_rank = 2;
    d.out_numel = 32;
    d.trainable = trainable;
    return d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1), *argv[64];
    nnrt_model_desc d = desc(size % 2);
    ctx c;
    int argc = 1, help = 0, rc;
    size_t k, start = 0;
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = 0;
    argv[0] = "prog";
    for (k = 0; k <= size && argc < 63; k++)
        if (buf[k] == 0) {
            argv[argc++] = buf + start;
            start = k + 1;
        }
    argv[argc] = NULL;
    memset(&c, 0, sizeof c);
    c.d = &d;
    c.prog = "prog";
    rc = nnrti_tr_parse_args(&c, argc, argv, &help);
    if ((rc != 0 && rc != EXIT_USAGE) || (rc != 0 && !c.err.msg[0]))
        abort();
    if (rc == 0 && !help && (c.o.cmd == 0 || !c.o.cmd_name))
        abort();
    free(buf);
    return 0;
}
