/* cuda_runtime_api.h (mock) — the generated header includes it; the
 * emulation is in cuda_runtime.h. Test harness only. */
#ifndef EMU_CUDA_RUNTIME_API_H
#define EMU_CUDA_RUNTIME_API_H
#include "cuda_runtime.h"
#endif
