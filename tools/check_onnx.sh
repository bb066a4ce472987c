#!/bin/sh
# check_onnx.sh FMNIST PREDICT: fmnist convert checked from outside, in
# `make check` (tools/check_onnx.py, for the MLP and the convolutional network:
# the onnx checker, a numpy run of the ONNX graph against fmnist's predictions,
# an independent safetensors reader). It needs Debian's python3-onnx and
# python3-numpy; where /usr/bin/python3 (or $FMNIST_ONNX_PYTHON) cannot import
# them it says so and exits 77, which `make check` reports as a skip (nothing
# in fmnist needs Python).
py=${FMNIST_ONNX_PYTHON:-/usr/bin/python3}
if ! [ -x "$py" ] || ! "$py" -c 'import onnx, numpy' >/dev/null 2>&1; then
    echo "SKIPPED: $py cannot import onnx and numpy (Debian: apt-get install python3-onnx python3-numpy)"
    exit 77
fi
exec "$py" "$(dirname "$0")/check_onnx.py" --fmnist "$1" --predict "$2"
