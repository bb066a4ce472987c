#!/bin/sh
# check_roundtrip.sh FMNIST PREDICT: the PyTorch round trip of `make check`
# (tools/check_roundtrip.py: the MLP and the convolutional network). It needs
# Debian's python3-torch; where /usr/bin/python3 (or $FMNIST_TORCH_PYTHON)
# cannot import torch and numpy it says so and exits 77, which `make check`
# reports as a skip (nothing in fmnist needs Python, so it is not a failure;
# nor is it a pass).
py=${FMNIST_TORCH_PYTHON:-/usr/bin/python3}
if ! [ -x "$py" ] || ! "$py" -c 'import torch, numpy' >/dev/null 2>&1; then
    echo "SKIPPED: $py cannot import torch and numpy (Debian: apt-get install python3-torch python3-numpy)"
    exit 77
fi
exec "$py" "$(dirname "$0")/check_roundtrip.py" --fmnist "$1" --predict "$2"
