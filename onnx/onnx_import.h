/* onnx_import.h — the ONNX importer as the driver calls it (no protobuf types here, so
 * driver/nnc.c builds without the generated onnx.pb-c.h). */
#ifndef NNC_ONNX_IMPORT_API_H
#define NNC_ONNX_IMPORT_API_H
#include "../common/common.h"

/* Imports the ONNX model at PATH: its .nn source into NN (appended), its initializers (as the
 * parameters the source declares) saved to WEIGHTS when there are any and WEIGHTS is not NULL,
 * their count in *NWEIGHTS. 0, or 1 with one line in ERR naming the file (and the node and op). */
int onnx_import(const char *path, const char *weights, strbuf *nn, int *nweights, char *err, size_t errlen);
/* `nnc import ARGS` (argv[1] is "import"): the exit status */
int onnx_import_main(int argc, char **argv);
/* For `nnc model.onnx`: the source into NN and the weights into a new temporary file whose path
 * goes to WPATH ("" when the model has none); 0, or 1 after a message on stderr. */
int onnx_import_temp(const char *path, strbuf *nn, char *wpath, size_t wlen);

#endif
