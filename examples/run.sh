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
# Fashion-MNIST (60,000 + 10,000 images, MIT licence) from Debian's dataset-fashion-mnist,
# which `make examples` installs (scripts/install-deps.sh examples); gunzipped into $E/fashion
FASHION=${FASHION:-/usr/share/datasets/fashion-mnist}
# reconstruction grids are PNG where build/nnrt_png.o (libpng) was built, else PGM
PNG_O=$(dirname "$NNRT")/nnrt_png.o
GRID=pgm PNG_LINK=""
[ "$TARGET" = c ] && [ -f "$PNG_O" ] && GRID=png PNG_LINK="$PNG_O -lpng"
status=0

build() { # name
    if [ "$TARGET" = cuda ]; then
        $NNC "examples/$1.nn" --target cuda --main -o "$E/$1.cu" &&
            ${NVCC:-nvcc} -std=c++17 -O2 -gencode arch=compute_90,code=[sm_90,compute_90] -Iruntime -Iruntime/cuda "$E/$1.cu" \
                "${NNRT_CUDA:-build/libnnrt_cuda.a}" "$NNRT" -lcublas -lm -o "$E/$1"
        return
    fi
    $NNC "examples/$1.nn" --main -o "$E/$1.c" &&
        $CC -std=c99 -O2 -march=native -Wall -Wextra -Werror -Iruntime "$E/$1.c" $PNG_LINK "$NNRT" -lm -o "$E/$1"
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

# lenet_int8: LeNet as trained by run_mnist (run first when its weights are
# missing), calibrated on its 8,000 training images by a trainer built with
# --main --quantize int8, then built with --weights for f32 and with
# --quantize int8 --calibrate; tests/cross/predict.c classifies the 2,000
# held-out images with each. Target: int8 loses at most 0.5 points.
run_int8() {
    [ -f "$E/lenet.safetensors" ] || run_mnist lenet 10 97
    t0=$(date +%s) q=$E/lenet_int8
    mkdir -p $q/f32 $q/int8
    od -An -tu1 -v -j 8008 $MNIST/t10k-labels-idx1-ubyte | tr -s ' ' '\n' | sed '/^$/d' >$q/labels.txt
    $NNC examples/lenet.nn --main --quantize int8 -o $q/calib.c &&
        $CC -std=c99 -O2 -march=native -Iruntime $q/calib.c "$NNRT" -lm -o $q/calib &&
        $q/calib calibrate --data $MNIST/t10k-images-idx3-ubyte --labels $MNIST/t10k-labels-idx1-ubyte \
            --val-split 0.2 --split train --load "$E/lenet.safetensors" --out $q/lenet.calib || { status=1; return; }
    for v in f32 int8; do
        Q=""
        [ $v = int8 ] && Q="--quantize int8 --calibrate $q/lenet.calib"
        $NNC -D B=100 examples/lenet.nn --weights "$E/lenet.safetensors" $Q --name net -o $q/$v/net.c &&
            $CC -std=c99 -O2 -march=native -Iruntime -I$q/$v tests/cross/predict.c $q/$v/net.c "$NNRT" -lm \
                -o $q/$v/predict && $q/$v/predict idx $MNIST/t10k-images-idx3-ubyte 10000 | tail -n 2000 >$q/$v.txt ||
            { status=1; return; }
        eval "acc_$v=$(paste -d' ' $q/$v.txt $q/labels.txt |
            awk '{ n++; c += $1 == $2 } END { printf "%.2f", 100 * c / n }')"
    done
    echo "lenet_int8: held-out accuracy f32 $acc_f32%, int8 $acc_int8%"
    record lenet_int8 "int8 - f32 acc (points)" "$(awk "BEGIN { printf \"%.2f\", $acc_int8 - $acc_f32 }")" ">=" -0.5 \
        $(($(date +%s) - t0))
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
        --out "$E/$1.$GRID" --count 16
}

# fashion_cnn: trains on all 60,000 Fashion-MNIST training images (augmented:
# shifts and horizontal flips; cosine schedule over the model's EPOCHS = 10), then
# scores the 10,000 test images (--test); the loss curves in fashion_cnn.svg and .csv
run_fashion() {
    build fashion_cnn || { echo "fashion_cnn: build failed"; status=1; return; }
    if [ ! -f $FASHION/train-images-idx3-ubyte.gz ]; then
        echo "fashion_cnn: no Fashion-MNIST in $FASHION: install Debian's dataset-fashion-mnist" \
            "(make examples does, through scripts/install-deps.sh examples)"
        status=1; return
    fi
    mkdir -p $E/fashion
    for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
        [ -f $E/fashion/$f ] || gunzip -c $FASHION/$f.gz >$E/fashion/$f || { status=1; return; }
    done
    t0=$(date +%s)
    $E/fashion_cnn train --data $E/fashion/train-images-idx3-ubyte --labels $E/fashion/train-labels-idx1-ubyte \
        --epochs 10 --seed 1 --augment shift=2,flip --test $E/fashion/t10k-images-idx3-ubyte \
        --test-labels $E/fashion/t10k-labels-idx1-ubyte --log $E/fashion_cnn.csv --plot $E/fashion_cnn.svg \
        --save $E/fashion_cnn.safetensors | tee $E/fashion_cnn.log
    acc=$(sed -n 's/^test .*accuracy *\([0-9.]*\)%.*/\1/p' $E/fashion_cnn.log)
    record fashion_cnn "test accuracy (%)" "${acc:-0}" ">=" 91 $(($(date +%s) - t0))
}

# the VAE: -ELBO in nats per image (its loss) on the last 2,000 images, one
# noise draw per image; a grid of test images and their reconstructions, and
# vae_samples: 64 images decoded from codes z ~ N(0, I) by examples/vae_decoder.nn
# (the VAE's decoder alone, loading the VAE's weights)
run_vae() {
    build vae || { echo "vae: build failed"; status=1; return; }
    build vae_decoder || { echo "vae_decoder: build failed"; status=1; return; }
    t0=$(date +%s)
    $E/vae train --data $MNIST/t10k-images-idx3-ubyte --epochs 30 --val-split 0.2 --seed 1 \
        --save $E/vae.safetensors | tee $E/vae.log
    record vae "-ELBO (nats/image)" "$(last $E/vae.log 'val loss')" "<=" 115 $(($(date +%s) - t0))
    $E/vae reconstruct --data $MNIST/t10k-images-idx3-ubyte --load $E/vae.safetensors --out $E/vae.$GRID --count 16
    $E/vae_decoder generate --load $E/vae.safetensors --out $E/vae_samples.$GRID --count 64 --seed 1 || status=1
}

# frozen_changed A B PREFIX...: how many tensors named PREFIX* differ
# between the safetensors files A and B (raw bytes; one missing counts), -1 for none
frozen_changed() {
    python3 scripts/safetensors.py changed "$@" | awk '{ print $3 == 0 ? -1 : $1 }'
}

# fine-tuning: finetune_base learns the digits 0-4 (--classes 0-4); then
# finetune_head starts from its weights (--init-from), freezes the feature
# layers c1, c2, f and trains a new head on the digits 5-9 (--classes 5-9,
# renumbered 0..4); accuracy on the held-out 5-9 (the last 20% of them), and
# under AdamW the frozen tensors must stay bit-identical to the base's
run_finetune() {
    { build finetune_base && build finetune_head; } || { echo "finetune: build failed"; status=1; return; }
    t0=$(date +%s)
    set -- --data $MNIST/t10k-images-idx3-ubyte --labels $MNIST/t10k-labels-idx1-ubyte --val-split 0.2 --seed 1
    $E/finetune_base train "$@" --classes 0-4 --epochs 8 --save $E/finetune_base.safetensors | tee $E/finetune_base.log
    t1=$(date +%s)
    $E/finetune_head train "$@" --classes 5-9 --epochs 15 --init-from $E/finetune_base.safetensors \
        --save $E/finetune_head.safetensors | tee $E/finetune.log
    record finetune "0-4 accuracy (%)" "$(last $E/finetune_base.log 'val acc')" ">=" 97 $((t1 - t0))
    record finetune "5-9 accuracy (%)" "$(last $E/finetune.log 'val acc')" ">=" 95 $(($(date +%s) - t1))
    record finetune "frozen tensors changed" \
        "$(frozen_changed $E/finetune_base.safetensors $E/finetune_head.safetensors c1. c2. f.)" "==" 0 0
}

# the seq2seq Transformer: reverse 8-digit strings (examples/seq2seq_data.sh,
# 10,000 random strings); per-digit accuracy on the last 2,000
run_seq2seq() {
    build seq2seq || { echo "seq2seq: build failed"; status=1; return; }
    t0=$(date +%s)
    sh examples/seq2seq_data.sh 10000 1 >$E/seq2seq.csv
    $E/seq2seq train --data $E/seq2seq.csv --epochs 6 --val-split 0.2 --seed 1 --save $E/seq2seq.safetensors |
        tee $E/seq2seq.log
    record seq2seq "token accuracy (%)" "$(last $E/seq2seq.log 'val acc')" ">=" 99 $(($(date +%s) - t0))
}

# the DCGAN: a d_loss step and a g_loss step on every batch of the 10,000
# images, 60 epochs (no held-out split: nothing is scored on the data); then 1,000
# generated digits classified by the trained LeNet (examples/dcgan_check.c;
# LeNet is trained first when there are no weights of it): the mean of its
# largest class probability, and the share of the rarest digit; an 8x8 grid
run_dcgan() {
    build dcgan || { echo "dcgan: build failed"; status=1; return; }
    [ -f $E/lenet.safetensors ] || run_mnist lenet 10 97
    t0=$(date +%s)
    $E/dcgan train --data $MNIST/t10k-images-idx3-ubyte --epochs 60 --seed 1 --save $E/dcgan.safetensors |
        tee $E/dcgan.log
    secs=$(($(date +%s) - t0))
    png=""
    [ -n "$PNG_LINK" ] && png="-DDCGAN_PNG $PNG_LINK"
    # shellcheck disable=SC2086 # png is a word list
    $NNC examples/dcgan.nn -o $E/dcgan_api.c && $NNC examples/lenet.nn -o $E/lenet_api.c &&
        gcc -std=c99 -O2 -Wall -Wextra -Werror -Iruntime -I$E examples/dcgan_check.c $E/dcgan_api.c \
            $E/lenet_api.c $png "$NNRT" -lm -o $E/dcgan_check &&
        $E/dcgan_check $E/dcgan.safetensors $E/lenet.safetensors $E/dcgan.$GRID 1000 | tee $E/dcgan.check
    mp=$(sed -n 's/^mean max-probability \([0-9.]*\).*/\1/p' $E/dcgan.check)
    least=$(sed -n 's/.*smallest class \([0-9.]*\)%.*/\1/p' $E/dcgan.check)
    record dcgan "LeNet mean max-prob" "${mp:-0}" ">=" 0.9 $secs
    record dcgan "rarest digit (%)" "${least:-0}" ">=" 3 $secs
}

ALL="lenet lenet_int8 resnet_tiny vit fashion_cnn autoencoder conv_autoencoder vae finetune dcgan"
ALL="$ALL char_lstm char_gru char_rnn tiny_gpt seq2seq bilstm"
for name in ${*:-$ALL}; do
    echo "== $name"
    case $name in
    lenet) run_mnist lenet 10 97 ;;
    lenet_int8) run_int8 ;;  # --quantize int8 against f32 on the held-out images (after lenet)
    resnet_tiny) run_mnist resnet_tiny 8 95 ;;  # no target in the brief; eval-mode batch-norm accuracy moves 94-98% between epochs
    fashion_cnn) run_fashion ;;
    # 2-pixel random shifts, a cosine rate after 100 warmup steps
    vit) run_mnist vit 15 95 --augment shift=2 --schedule cosine,warmup=100 ;;
    autoencoder) run_autoencoder autoencoder 10 "<" 0.02 ;;
    conv_autoencoder) run_autoencoder conv_autoencoder 10 "<=" 0.01 ;;
    vae) run_vae ;;
    finetune) run_finetune ;;
    dcgan) run_dcgan ;;  # after lenet: its weights score the samples
    bilstm) run_mnist bilstm 25 97 ;;  # MNIST rows as a sequence, 2-layer bidirectional LSTM
    char_lstm | char_gru) run_text "$name" 3 200 ;;
    char_rnn) run_text char_rnn 4 250 ;;
    tiny_gpt) run_text tiny_gpt 4 250 ;;
    seq2seq) run_seq2seq ;;
    *) echo "unknown example '$name'"; status=2 ;;
    esac
done
echo "== results (also in $E/results.txt)"
cat $E/results.txt
exit $status
