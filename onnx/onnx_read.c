/* onnx_read(): an .onnx file (a serialized onnx.ModelProto) into protobuf-c's structures. */
#include "onnx.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* the whole file in a malloc'd buffer; its size in *n. NULL with ERR set on failure */
static unsigned char *read_all(const char *path, size_t *n, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f) { snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno)); return NULL; }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        fclose(f); return NULL;
    }
    if ((unsigned long long)st.st_size > ONNX_MAX_FILE_BYTES) {
        snprintf(err, errlen, "%s: %lld bytes, more than the %zu an ONNX model may have here", path,
                 (long long)st.st_size, ONNX_MAX_FILE_BYTES);
        fclose(f); return NULL;
    }
    *n = (size_t)st.st_size;
    unsigned char *buf = malloc(*n ? *n : 1);
    if (!buf || fread(buf, 1, *n, f) != *n) {
        snprintf(err, errlen, "%s: cannot read %zu bytes", path, *n);
        free(buf); fclose(f); return NULL;
    }
    fclose(f);
    return buf;
}

Onnx__ModelProto *onnx_read(const char *path, char *err, size_t errlen)
{
    size_t n = 0;
    unsigned char *buf = read_all(path, &n, err, errlen);
    if (!buf) return NULL;
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, n, buf);
    free(buf);
    if (!m) {
        snprintf(err, errlen, "%s: not an ONNX model (the protobuf does not parse as onnx.ModelProto)", path);
        return NULL;
    }
    if (!m->graph) {
        snprintf(err, errlen, "%s: an ONNX model without a graph", path);
        onnx__model_proto__free_unpacked(m, NULL); return NULL;
    }
    return m;
}
