/* rnn.h — the layouts the recurrent ops share between their shape and
 * gradient rules (ir/ops_rnn.c), their kernels (codegen/c/k_rnn.c) and the
 * built-ins (frontend/lib_rnn.c). Widths are in units of the hidden size H.
 *
 * rnn_scan's state, per (b, t) row:
 *   tanh RNN  [h]
 *   LSTM      [h, c, i, f, g, o]          gates after their activation
 *   GRU       [h, r, z, W_hn h + b_hn, n]
 * rnn_scan_grad's output, per (b, t) row (dgh = gradient of W_hh h + b_hh,
 * dxp = gradient of the input projection xp):
 *   tanh RNN  [dpre]                      dxp = dgh = dpre
 *   LSTM      [dpre (4H), dc]             dxp = dgh = dpre; dc carries BPTT
 *   GRU       [dxp (3H), dgh (3H), dh*z]  dh*z carries BPTT
 */
#ifndef NNC_IR_RNN_H
#define NNC_IR_RNN_H

/* iattr[0] of rnn_scan and rnn_scan_grad; iattr[1] is H. */
enum rnn_cell { RNN_CELL_TANH, RNN_CELL_LSTM, RNN_CELL_GRU, RNN_CELL_COUNT };

/* Gates per cell: W_ih and W_hh have G*H rows (PyTorch's order). */
static inline int rnn_gates(int cell) { return cell == RNN_CELL_LSTM ? 4 : cell == RNN_CELL_GRU ? 3 : 1; }

/* Width of the state row. */
static inline int rnn_state_width(int cell) { return cell == RNN_CELL_LSTM ? 6 : cell == RNN_CELL_GRU ? 5 : 1; }

/* Width of rnn_scan_grad's output row. */
static inline int rnn_grad_width(int cell) { return cell == RNN_CELL_LSTM ? 5 : cell == RNN_CELL_GRU ? 7 : 1; }

/* Where dxp and dgh start in rnn_scan_grad's output row. */
static inline int rnn_grad_dxp_at(int cell) { (void)cell; return 0; }
static inline int rnn_grad_dgh_at(int cell) { return cell == RNN_CELL_GRU ? 3 : 0; }

#endif /* NNC_IR_RNN_H */
