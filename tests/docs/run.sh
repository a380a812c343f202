#!/bin/sh
# Docs that stay true: tests/docs/check.py (tables of contents, paths in the
# docs, every source file named, language.md's index of built-ins).
cd "$(dirname "$0")/../.." || exit 2
B=build/tests/docs
mkdir -p $B
if ! ${CC:-cc} -std=c11 -Wall -Wextra -Werror -Ifrontend -Icommon -Ibuild/gen tests/docs/builtins.c build/libnnc.a -lm \
    -o $B/builtins; then
    echo "FAIL docs: tests/docs/builtins.c does not build"
    exit 1
fi
python3 tests/docs/check.py $B/builtins
