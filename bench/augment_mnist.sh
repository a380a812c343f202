#!/bin/sh
# bench/augment_mnist.sh — does --augment help? Trains bench/augment_cnn.nn on
# the first 8,000 images of examples/data/mnist (--val-split 0.2 holds out the
# last 2,000, never trained on) for the same epochs and seed, without and with
# augmentation (the two runs side by side), prints both runs' epoch lines,
# then the held-out accuracy at the end and its mean over the last 5 epochs.
# About 3 minutes on 2 cores. Usage: sh bench/augment_mnist.sh [EPOCHS] [AUGMENT]
# (defaults 20, shift=2); the nnc build folder from $B (else build).
cd "$(dirname "$0")/.." || exit 2
B=${B:-build}
EPOCHS=${1:-20}
AUG=${2:-shift=2}
W=$B/bench/augment
M=examples/data/mnist
mkdir -p $W || exit 1
$B/nnc bench/augment_cnn.nn --main -o $W/cnn.c &&
    ${CC:-cc} -std=c99 -O2 -march=native -Iruntime $W/cnn.c $B/libnnrt.a -lm -o $W/cnn || exit 1
run() {
    $W/cnn train --data $M/t10k-images-idx3-ubyte --labels $M/t10k-labels-idx1-ubyte --val-split 0.2 \
        --epochs $EPOCHS --seed 1 "$@"
}
run >$W/plain.log 2>&1 &
run --augment "$AUG" >$W/aug.log 2>&1 || { cat $W/aug.log; exit 1; }
wait $! || { cat $W/plain.log; exit 1; }
echo "== without augmentation"
cat $W/plain.log
echo "== with --augment $AUG"
cat $W/aug.log
acc() { sed -n 's/.*val acc *\([0-9.]*\)%.*/\1/p' "$1"; }
last() { acc "$1" | tail -1; }
mean5() { acc "$1" | tail -5 | awk '{ s += $1 } END { printf "%.2f", s / NR }'; }
echo "held-out accuracy (2,000 images) after $EPOCHS epochs: without $(last $W/plain.log)%" \
    "(last 5 epochs: mean $(mean5 $W/plain.log)%), with --augment $AUG $(last $W/aug.log)% (mean $(mean5 $W/aug.log)%)"
