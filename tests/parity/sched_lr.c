/* sched_lr.c — libnnrt's learning-rate schedules position by position, for
 * tests/parity/cases_sched.py (which compares them with
 * torch.optim.lr_scheduler stepped once per optimizer step).
 *
 *   sched_lr SPEC LR N    prints nnrt_sched_lr at positions 0 .. N-1 of the
 *                         schedule nnrt_sched_parse makes of SPEC (the
 *                         trainer's --schedule), base rate LR, one per line
 *
 * Exit status 0, or 2 with libnnrt's message for a bad SPEC.
 */
#include <stdio.h>
#include <stdlib.h>

#include "nnrt.h"

int main(int argc, char **argv) {
    nnrt_sched s;
    nnrt_err err;
    if (argc != 4) {
        fprintf(stderr, "usage: sched_lr SPEC LR N\n");
        return 2;
    }
    nnrt_sched_default(&s, NNRT_SCHED_CONSTANT);
    if (nnrt_sched_parse(argv[1], 0, &s, &err) != NNRT_OK) {
        fprintf(stderr, "sched_lr: %s\n", err.msg);
        return 2;
    }
    double lr = atof(argv[2]);
    long n = atol(argv[3]);
    for (long i = 0; i < n; i++) printf("%.17g\n", nnrt_sched_lr(&s, lr, i));
    return 0;
}
