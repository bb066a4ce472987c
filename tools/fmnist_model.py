"""Reads and writes fmnist model files (format 1) from Python, with numpy only.

Written from the format as include/model_file.h documents it, and nothing else:
little-endian; "FMNISTMD", format version (1), flags (bit 0: Adam's moments follow
the parameters), L, the L + 1 layer widths, M and M bytes of "key=value\\n" metadata
(printable ASCII), the parameters as float32 (per layer its weight (out, in)
row-major, then its bias: PyTorch's state_dict order), then (flag bit 0) the first
and second moments, and last the CRC-32 of every byte before it.

Used by tools/from_torch.py, tools/to_torch.py and tools/check_roundtrip.py.
"""
import os
import struct
import zlib

import numpy as np

MAGIC = b"FMNISTMD"
FORMAT = 1
FLAG_ADAM = 1
MAX_LAYERS = 8
MAX_WIDTH = 65536
META_MAX = 65536


class FormatError(Exception):
    pass


def check_meta_text(meta):
    """meta (str) as the format allows it: printable ASCII and newlines, <= 64 KiB."""
    data = meta.encode("ascii", errors="strict")
    if len(data) > META_MAX:
        raise FormatError(f"metadata of {len(data)} bytes is over {META_MAX}")
    for i, c in enumerate(data):
        if not (c == 0x0A or 0x20 <= c < 0x7F):
            raise FormatError(f"metadata byte {i} is not printable ASCII")
    return data


def meta_line(key, value):
    """One "key=value\\n" line, refusing what would break the format."""
    key, value = str(key), str(value)
    if not key or "=" in key or "\n" in key or "\n" in value:
        raise FormatError(f"metadata {key!r}={value!r}: keys need no '=' and neither a newline")
    return f"{key}={value}\n"


def encode(layers, meta=""):
    """layers: [(weight (out, in), bias (out,)), ...] as arrays; returns the file's bytes."""
    if not 1 <= len(layers) <= MAX_LAYERS:
        raise FormatError(f"{len(layers)} layers: 1..{MAX_LAYERS} supported")
    widths = [int(np.shape(layers[0][0])[1])]
    for i, (w, b) in enumerate(layers):
        w, b = np.asarray(w), np.asarray(b)
        if w.ndim != 2 or b.ndim != 1 or w.shape[0] != b.shape[0]:
            raise FormatError(f"layer {i + 1}: weight {w.shape} and bias {b.shape} do not fit")
        if w.shape[1] != widths[-1]:
            raise FormatError(f"layer {i + 1} takes {w.shape[1]} inputs, "
                              f"the layer before gives {widths[-1]}")
        widths.append(int(w.shape[0]))
    for wd in widths:
        if not 1 <= wd <= MAX_WIDTH:
            raise FormatError(f"layer width {wd}: 1..{MAX_WIDTH} supported")
    m = check_meta_text(meta)
    out = [MAGIC, struct.pack("<III", FORMAT, 0, len(layers)),
           struct.pack(f"<{len(widths)}I", *widths), struct.pack("<I", len(m)), m]
    for w, b in layers:
        out.append(np.ascontiguousarray(w, dtype="<f4").tobytes())
        out.append(np.ascontiguousarray(b, dtype="<f4").tobytes())
    body = b"".join(out)
    return body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)


def decode(data, name="model"):
    """The file's bytes -> (layers as float32 arrays, meta text, widths); checks everything."""
    if data[:8] != MAGIC[:len(data[:8])] or len(data) == 0:
        raise FormatError(f"{name}: not an fmnist model file")
    if len(data) < 24:
        raise FormatError(f"{name}: truncated: {len(data)} bytes")
    if zlib.crc32(data[:-4]) & 0xFFFFFFFF != struct.unpack("<I", data[-4:])[0]:
        raise FormatError(f"{name}: corrupt or truncated: checksum mismatch")
    version, flags, nl = struct.unpack("<III", data[8:20])
    if version != FORMAT:
        raise FormatError(f"{name}: format {version}; this reads format {FORMAT}")
    if flags & ~FLAG_ADAM:
        raise FormatError(f"{name}: unknown flags 0x{flags:x}")
    if not 1 <= nl <= MAX_LAYERS:
        raise FormatError(f"{name}: {nl} layers: 1..{MAX_LAYERS} supported")
    off = 20 + 4 * (nl + 1)
    if len(data) < off + 4:
        raise FormatError(f"{name}: truncated header")
    widths = list(struct.unpack(f"<{nl + 1}I", data[20:off]))
    if any(not 1 <= w <= MAX_WIDTH for w in widths):
        raise FormatError(f"{name}: layer widths {widths}: 1..{MAX_WIDTH} supported")
    mlen = struct.unpack("<I", data[off:off + 4])[0]
    if mlen > META_MAX:
        raise FormatError(f"{name}: metadata of {mlen} bytes is over {META_MAX}")
    off += 4
    nparams = sum(widths[i + 1] * widths[i] + widths[i + 1] for i in range(nl))
    want = off + mlen + 4 * nparams * (3 if flags & FLAG_ADAM else 1) + 4
    if len(data) != want:
        raise FormatError(f"{name}: {len(data)} bytes, its header implies {want}")
    meta = data[off:off + mlen]
    check_meta_text(meta.decode("latin-1"))
    off += mlen
    params = np.frombuffer(data, "<f4", nparams, off).astype(np.float32)
    layers, p = [], 0
    for i in range(nl):
        n_in, n_out = widths[i], widths[i + 1]
        w = params[p:p + n_out * n_in].reshape(n_out, n_in)
        p += n_out * n_in
        b = params[p:p + n_out]
        p += n_out
        layers.append((w, b))
    return layers, meta.decode("ascii"), widths


def read(path):
    with open(path, "rb") as f:
        return decode(f.read(), path)


def write(path, data):
    """Writes bytes to path atomically (a temporary file renamed over it)."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
