#!/bin/sh
# bench/augment_mnist.sh — does --augment help? Trains bench/augment_cnn.nn on
# the first 8,000 images of examples/data/mnist (--val-split 0.2 holds out the
# last 2,000, never trained on) for the same epochs and seed, without and with
# augmentation, and prints the held-out accuracy after each epoch of both.
# A few minutes on 2 cores. Usage: sh bench/augment_mnist.sh [EPOCHS] [AUGMENT]
# (defaults 12, shift=2,rotate=10); the nnc build folder from $B (else build).
cd "$(dirname "$0")/.." || exit 2
B=${B:-build}
EPOCHS=${1:-12}
AUG=${2:-shift=2,rotate=10}
W=$B/bench/augment
M=examples/data/mnist
mkdir -p $W || exit 1
$B/nnc bench/augment_cnn.nn --main -o $W/cnn.c &&
    ${CC:-cc} -std=c99 -O2 -march=native -Iruntime $W/cnn.c $B/libnnrt.a -lm -o $W/cnn || exit 1
run() {
    $W/cnn train --data $M/t10k-images-idx3-ubyte --labels $M/t10k-labels-idx1-ubyte --val-split 0.2 \
        --epochs $EPOCHS --seed 1 "$@"
}
echo "== without augmentation"
run | tee $W/plain.log || exit 1
echo "== with --augment $AUG"
run --augment "$AUG" | tee $W/aug.log || exit 1
best() { sed -n 's/.*val acc *\([0-9.]*\)%.*/\1/p' "$1" | sort -n | tail -1; }
last() { sed -n 's/.*val acc *\([0-9.]*\)%.*/\1/p' "$1" | tail -1; }
echo "held-out accuracy (2,000 images): without $(last $W/plain.log)% (best $(best $W/plain.log)%)," \
    "with --augment $AUG $(last $W/aug.log)% (best $(best $W/aug.log)%) after $EPOCHS epochs"
