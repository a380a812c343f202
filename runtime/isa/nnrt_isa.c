/* nnrt_isa.c — forces one GEMM path of the portable libnnrt for a whole
 * program: linked beside libnnrt (static or shared), it defines the constant
 * that runtime/gemm_dispatch.c reads on every call. The Makefile builds it
 * once per path, NNRT_ISA_NAME "avx512", "avx2" or "c", into
 * build/nnrt_isa_NAME.o, outside libnnrt. A path the CPU lacks is ignored;
 * a libnnrt built for one ISA (NNRT_ARCH=...) ignores it too. */
#ifndef NNRT_ISA_NAME
#error "build with -DNNRT_ISA_NAME='\"avx2\"' (or avx512, c)"
#endif

const char nnrt_gemm_force_isa[] = NNRT_ISA_NAME;
