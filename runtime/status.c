/* status.c — status strings, dtype helpers and error formatting. */
#include "nnrt_internal.h"

#include <stdio.h>

/* Human-readable name of a status code; "unknown status" for others. */
const char *nnrt_status_str(int status)
{
    switch (status) {
    case NNRT_OK: return "ok";
    case NNRT_ERR_IO: return "I/O error";
    case NNRT_ERR_FORMAT: return "malformed file";
    case NNRT_ERR_SHAPE: return "shape mismatch";
    case NNRT_ERR_RANGE: return "value out of range";
    case NNRT_ERR_NOMEM: return "out of memory";
    case NNRT_ERR_ARG: return "bad argument";
    case NNRT_ERR_NOT_FOUND: return "not found";
    case NNRT_ERR_DTYPE: return "wrong element type";
    case NNRT_ERR_CUDA: return "CUDA error";
    case NNRT_ERR_NONFINITE: return "non-finite value";
    default: return "unknown status";
    }
}

/* Bytes per element of an NNRT_* dtype, 0 for an unknown dtype. */
size_t nnrt_dtype_size(int dtype)
{
    switch (dtype) {
    case NNRT_F32: return 4;
    case NNRT_F64: return 8;
    case NNRT_I32: return 4;
    case NNRT_U8: return 1;
    default: return 0;
    }
}

/* safetensors spelling of an NNRT_* dtype ("F32", ...), "?" if unknown. */
const char *nnrt_dtype_name(int dtype)
{
    switch (dtype) {
    case NNRT_F32: return "F32";
    case NNRT_F64: return "F64";
    case NNRT_I32: return "I32";
    case NNRT_U8: return "U8";
    default: return "?";
    }
}

int nnrti_fail(nnrt_err *err, int status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return status;
}
