/* py.h — Python output: not code generator targets (the target table's
 * rows write the model's C or CUDA) but views of a model for Python users,
 * chosen with --emit:
 *
 *   py.c         --emit=py: a ctypes module over the shared library of the
 *                model's generated C (numpy arrays in and out), with the
 *                names, shapes and entry points the compiler knows
 *   py_rt.c      the fixed part of that module (the Model class), as text
 *   torch.c      --emit=torch: the mirror torch.nn.Module, whose state_dict
 *                names and shapes are the model's safetensors names and
 *                whose forward is the IR forward graph, op by op
 *   torch_ops.c  each IR op as torch calls, for torch.c
 *   torch_rt.c   the fixed part of that module: the helpers the calls use
 *
 * They use core/ (never a target's folder) and write Python text.
 */
#ifndef NNC_CG_PY_H
#define NNC_CG_PY_H

#include "../cg.h"

/* The Python module of the planned program p, as the C target would be
 * emitted with o (its prefix, element type, --weights): into out. 0, or 1
 * after a message on err. */
int py_emit(const ir_program *p, const cg_options *o, strbuf *out, FILE *err);
/* py_rt.c: the module's fixed part, one line of Python per string, then NULL. */
extern const char *const py_runtime[];

/* The mirror nn.Module of g's forward graph (elaborated and simplified, no
 * training parts, no fusion), named after g; source: the .nn file name for
 * the banner. 0, or 1 after a message on err naming the first op it cannot
 * write and its source position. */
int torch_emit(const ir_graph *g, const char *source, int f64, strbuf *out, FILE *err);

/* torch_ops.c: the expression of node n over its operands' expressions in
 * (in a), or NULL for an op without a translation; v as a Python number
 * (float('inf') for infinity). */
const char *torch_op(arena *a, const ir_node *n, const char *const *in);
const char *torch_num(arena *a, double v);
/* torch_rt.c: the helpers, one line of Python per string, then NULL. */
extern const char *const torch_runtime[];

#endif /* NNC_CG_PY_H */
