#!/bin/sh
# make examples: train every example model to its target on the real data
# in examples/data and check the result. Takes several minutes on 2 cores;
# `make test` runs short smoke versions of the same commands instead.
# Usage: examples/run.sh [name...]    (default: all)
# Results: one line per model in build/examples/results.txt.
cd "$(dirname "$0")/.." || exit 2
NNC=${NNC:-build/nnc}
NNRT=${NNRT:-build/libnnrt.a}
CC=${CC:-gcc}
# TARGET=cuda: the same runs with the CUDA target (needs nvcc, a GPU and
# NNRT_CUDA = libnnrt_cuda.a; tests/gpu/run.sh does this)
TARGET=${TARGET:-c}
E=build/examples
[ "$TARGET" = cuda ] && E=build/examples-cuda
mkdir -p $E
: >$E/results.txt
MNIST=examples/data/mnist
TEXT=examples/data/tinyshakespeare/input.txt
status=0

build() { # name
    if [ "$TARGET" = cuda ]; then
        $NNC "examples/$1.nn" --target cuda --main -o "$E/$1.cu" &&
            ${NVCC:-nvcc} -std=c++17 -O2 -gencode arch=compute_90,code=[sm_90,compute_90] -Iruntime -Iruntime/cuda "$E/$1.cu" \
                "${NNRT_CUDA:-build/libnnrt_cuda.a}" "$NNRT" -lcublas -lm -o "$E/$1"
        return
    fi
    $NNC "examples/$1.nn" --main -o "$E/$1.c" &&
        $CC -std=c99 -O2 -march=native -Wall -Wextra -Werror -Iruntime "$E/$1.c" "$NNRT" -lm -o "$E/$1"
}

# record NAME WHAT VALUE OP TARGET SECONDS: check VALUE OP TARGET, log a line
record() {
    if awk "BEGIN { exit !($3 $4 $5) }"; then verdict=ok; else verdict=MISSED; status=1; fi
    line=$(printf '%-12s %-22s %9s  (target %s %s)  %5ss  %s' "$1" "$2" "$3" "$4" "$5" "$6" "$verdict")
    echo "$line" | tee -a $E/results.txt
}

last() { # FILE FIELD: the number after FIELD on the last epoch line
    grep '^epoch' "$1" | tail -1 | sed -n "s/.*$2 *\([0-9.]*\).*/\1/p"
}

run_mnist() { # name epochs target-accuracy [trainer options...]
    build "$1" || { echo "$1: build failed"; status=1; return; }
    t0=$(date +%s)
    n=$1 epochs=$2 target=$3
    shift 3
    # the first 8,000 images train, the last 2,000 (--val-split 0.2) test
    "$E/$n" train --data $MNIST/t10k-images-idx3-ubyte --labels $MNIST/t10k-labels-idx1-ubyte \
        --epochs "$epochs" --val-split 0.2 --seed 1 --save "$E/$n.safetensors" "$@" | tee "$E/$n.log"
    record "$n" "test accuracy (%)" "$(last "$E/$n.log" 'val acc')" ">=" "$target" $(($(date +%s) - t0))
}

run_text() { # name epochs steps-per-epoch
    build "$1" || { echo "$1: build failed"; status=1; return; }
    t0=$(date +%s)
    "$E/$1" train --text $TEXT --epochs "$2" --steps-per-epoch "$3" --seed 1 --save "$E/$1.safetensors" |
        tee "$E/$1.log"
    record "$1" "val loss (nats/char)" "$(last "$E/$1.log" 'val loss')" "<" 2.0 $(($(date +%s) - t0))
    "$E/$1" sample --text $TEXT --load "$E/$1.safetensors" --prompt "ROMEO:" --len 200 --temperature 0.8 \
        --seed 1 | tee "$E/$1.sample.txt"
}

run_autoencoder() { # name epochs op target-mse
    build "$1" || { echo "$1: build failed"; status=1; return; }
    t0=$(date +%s)
    "$E/$1" train --data $MNIST/t10k-images-idx3-ubyte --epochs "$2" --val-split 0.2 --seed 1 \
        --save "$E/$1.safetensors" | tee "$E/$1.log"
    record "$1" "val loss (mse)" "$(last "$E/$1.log" 'val loss')" "$3" "$4" $(($(date +%s) - t0))
    "$E/$1" reconstruct --data $MNIST/t10k-images-idx3-ubyte --load "$E/$1.safetensors" \
        --out "$E/$1.pgm" --count 16
}

# the VAE: -ELBO in nats per image (its loss) on the last 2,000 images, one
# noise draw per image; a PGM grid of test images and their reconstructions
run_vae() {
    build vae || { echo "vae: build failed"; status=1; return; }
    t0=$(date +%s)
    $E/vae train --data $MNIST/t10k-images-idx3-ubyte --epochs 30 --val-split 0.2 --seed 1 \
        --save $E/vae.safetensors | tee $E/vae.log
    record vae "-ELBO (nats/image)" "$(last $E/vae.log 'val loss')" "<=" 115 $(($(date +%s) - t0))
    $E/vae reconstruct --data $MNIST/t10k-images-idx3-ubyte --load $E/vae.safetensors --out $E/vae.pgm --count 16
}

for name in ${*:-lenet resnet_tiny vit autoencoder conv_autoencoder vae char_lstm char_gru char_rnn tiny_gpt}; do
    echo "== $name"
    case $name in
    lenet) run_mnist lenet 10 97 ;;
    resnet_tiny) run_mnist resnet_tiny 8 95 ;;
    # 2-pixel random shifts, a cosine rate after 100 warmup steps
    vit) run_mnist vit 15 95 --augment shift=2 --schedule cosine,warmup=100 ;;  # no target in the brief; eval-mode batch-norm accuracy moves 94-98% between epochs
    autoencoder) run_autoencoder autoencoder 10 "<" 0.02 ;;
    conv_autoencoder) run_autoencoder conv_autoencoder 10 "<=" 0.01 ;;
    vae) run_vae ;;
    char_lstm | char_gru) run_text "$name" 3 200 ;;
    char_rnn) run_text char_rnn 4 250 ;;
    tiny_gpt) run_text tiny_gpt 4 250 ;;
    *) echo "unknown example '$name'"; status=2 ;;
    esac
done
echo "== results (also in $E/results.txt)"
cat $E/results.txt
exit $status
