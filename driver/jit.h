/* jit.h — the in-process JIT of `nnc train` / `nnc run` (jit.cpp, built where
 * LLVM and Clang's C++ libraries are found, or with `make JIT=1`): Clang
 * compiles the generated C in memory to an object, ORC's LLJIT links it
 * against libnnrt.so and the process's C library and calls its main(). */
#ifndef NNC_JIT_H
#define NNC_JIT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The generated code, as the files the C compiler would have read. */
typedef struct nnc_jit_source {
    const char *code, *header; /* model.c and model.h */
    size_t code_len, header_len;
    const char *header_name; /* the name model.c includes it by */
    const char *include_dir; /* the directory with nnrt.h */
    const char *flags;       /* the C flags, separated by spaces (launch.c's LAUNCH_CFLAGS) */
} nnc_jit_source;

/* The compiler's name and version for cache keys, e.g. "clang 14.0.6 x86_64-pc-linux-gnu". */
const char *nnc_jit_version(void);

/* Compiles the source to an object file for this machine, in memory: *obj (malloc'd; the
 * caller frees it) and *obj_len. 0, or 1 with the compiler's messages in err. */
int nnc_jit_compile(const nnc_jit_source *src, void **obj, size_t *obj_len, char *err, size_t errlen);

/* Links the object against runtime_so (libnnrt.so) and the process's libraries and runs its
 * main(argc, argv); *status is what main returned. 0, or 1 with a message in err. */
int nnc_jit_run(const void *obj, size_t obj_len, const char *runtime_so, int argc, char **argv, int *status, char *err,
                size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* NNC_JIT_H */
