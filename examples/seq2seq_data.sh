#!/bin/sh
# examples/seq2seq_data.sh N SEED: N random strings of 8 digits for
# examples/seq2seq.nn as CSV lines of 24 numbers: the 8 source digits, the
# decoder's input (the start token 10, then the reversed string's first 7
# digits), and the 8 target digits (the source reversed).
n=${1:-10000} seed=${2:-1}
awk -v n="$n" -v seed="$seed" 'BEGIN {
    srand(seed)
    for (i = 0; i < n; i++) {
        for (k = 0; k < 8; k++) s[k] = int(rand() * 10)
        line = ""
        for (k = 0; k < 8; k++) line = line s[k] ","
        line = line "10"
        for (k = 0; k < 7; k++) line = line "," s[7 - k]
        for (k = 0; k < 8; k++) line = line "," s[7 - k]
        print line
    }
}'
