/* emit.c — the CUDA target's emit and reserved names (its row in
 * targets.def): model.cu + model.h. The same passes and memory plan as
 * the C target; kernels specialized to the static shapes (kernels.c,
 * k_*.c), the API around them in api.c. The output depends only on the
 * input (no timestamps), so the same model gives the same bytes. */
#include "cuk.h"

/* C++ keywords and alternative tokens (the .cu is C++), and the CUDA
 * names the generated code uses: an input or output with one of these
 * names gets a '_' appended; a model prefix is refused. */
static const char *const cu_reserved[] = {"alignas",
                                          "alignof",
                                          "and",
                                          "and_eq",
                                          "asm",
                                          "bitand",
                                          "bitor",
                                          "catch",
                                          "char16_t",
                                          "char32_t",
                                          "char8_t",
                                          "class",
                                          "compl",
                                          "concept",
                                          "consteval",
                                          "constexpr",
                                          "constinit",
                                          "const_cast",
                                          "co_await",
                                          "co_return",
                                          "co_yield",
                                          "decltype",
                                          "delete",
                                          "dynamic_cast",
                                          "explicit",
                                          "export",
                                          "friend",
                                          "mutable",
                                          "namespace",
                                          "new",
                                          "noexcept",
                                          "not",
                                          "not_eq",
                                          "nullptr",
                                          "operator",
                                          "or",
                                          "or_eq",
                                          "private",
                                          "protected",
                                          "public",
                                          "reinterpret_cast",
                                          "requires",
                                          "static_assert",
                                          "static_cast",
                                          "template",
                                          "this",
                                          "thread_local",
                                          "throw",
                                          "try",
                                          "typeid",
                                          "typename",
                                          "using",
                                          "virtual",
                                          "wchar_t",
                                          "xor",
                                          "xor_eq",
                                          "std",
                                          "dim3",
                                          "blockIdx",
                                          "blockDim",
                                          "threadIdx",
                                          "gridDim",
                                          "warpSize",
                                          "erf",
                                          "expm1",
                                          "INFINITY",
                                          "NAN",
                                          NULL};

int cu_is_reserved(const char *name) {
    if (cg_is_reserved(name)) return 1; /* the .cu is C too */
    for (int i = 0; cu_reserved[i]; i++)
        if (!strcmp(cu_reserved[i], name)) return 1;
    return !strncmp(name, "cuda", 4) || !strncmp(name, "cublas", 6) || !strncmp(name, "__", 2);
}

static void banner(cg_ctx *cx) {
    strbuf *c = cx->c;
    cg_banner(cx);
    sb_puts(c, "#include <math.h>\n#include <stdint.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n"
               "\n");
    sb_printf(c, "#include \"%s\"\n#include \"nnrt_cuda.h\"\n", cx->o->header);
    if (cg_uses_op_flag(cx, OPF_RNG)) sb_puts(c, "#include \"nnrt_philox.cuh\"\n");
    cg_version_check(cx);
}

int cu_emit(cg_ctx *cx, strbuf *h, FILE *err) {
    banner(cx);
    cu_api_prelude(cx);
    for (const ir_node *n = cg_next_kernel(cx, NULL); n; n = cg_next_kernel(cx, n)) cu_kernel(cx, n);
    return cu_api(cx, h, err);
}
