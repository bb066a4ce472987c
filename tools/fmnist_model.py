"""Reads and writes fmnist model files (formats 1 and 2) from Python, with numpy only.

Written from the format as include/model_file.h documents it, and nothing else:
little-endian; "FMNISTMD", format version (1; 2 for a network with convolutions),
flags (bit 0: state blocks follow the parameters), L, the L + 1 layer widths, (format 2
only) NC, the input image's side and channels and per convolution its output channels
and kernel side, M and M bytes of "key=value\\n" metadata (printable ASCII), the
parameters as float32 (per layer, convolutions first, its weight ((out, in) row-major,
or (out, in, k, k)) then its bias: PyTorch's state_dict order), then (flag bit 0) K and
K state blocks (a checkpoint's Adam moments, ...; read past, not returned), and last the
CRC-32 of every byte before it. Each convolution (k odd, padding k // 2, stride 1) is
followed by a ReLU and a 2x2 max pool; the last one's output, flattened, is the first
width.

    m = fmnist_model.read("fmnist.model")     # a Model: m.convs, m.layers, m.meta, ...
    for name, array in m.tensors(): ...       # conv1.weight, ..., fc1.weight, ... in order
    data = fmnist_model.encode(m.layers, m.meta, convs=m.convs, side=m.side)

Used by tools/from_torch.py, tools/to_torch.py, tools/check_roundtrip.py and
tools/check_onnx.py.
"""
import os
import struct
import zlib

import numpy as np

MAGIC = b"FMNISTMD"
FORMAT = 1        # a network without convolutions
FORMAT_CONV = 2   # a network with convolutions
FLAG_STATE = 1
MAX_LAYERS = 8
MAX_WIDTH = 65536
MAX_CONV = 4
MAX_CHANNELS = 1024
MAX_KERNEL = 9
MAX_SIDE = 1024
MAX_BLOCKS = 8
META_MAX = 65536


class FormatError(Exception):
    pass


class Model:
    """A decoded model file: convs [(weight (out, in, k, k), bias)], the input image's
    side (0 without convolutions), layers [(weight (out, in), bias)], meta (text), widths."""

    def __init__(self, convs, side, layers, meta, widths):
        self.convs, self.side, self.layers = convs, side, layers
        self.meta, self.widths = meta, widths

    @property
    def channels(self):
        return int(self.convs[0][0].shape[1]) if self.convs else 0

    def tensors(self):
        """[(name, array)] in state_dict order: conv1.weight, conv1.bias, ..., fc1.weight, ..."""
        out = []
        for kind, layers in (("conv", self.convs), ("fc", self.layers)):
            for i, (w, b) in enumerate(layers, 1):
                out += [(f"{kind}{i}.weight", w), (f"{kind}{i}.bias", b)]
        return out

    def shape_text(self):
        """As fmnist prints it: 784-256-128-64-10, 28x28-conv3x16-conv3x32-1568-64-10."""
        head = ""
        if self.convs:
            head = f"{self.side}x{self.side}" + (f"x{self.channels}" if self.channels > 1 else "")
            head += "".join(f"-conv{w.shape[2]}x{w.shape[0]}" for w, _ in self.convs) + "-"
        return head + "-".join(map(str, self.widths))


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


def conv_shapes(side, channels, convs):
    """Checks a network's convolutions as fmnist's layout does; returns the values the
    last one gives (flattened) and [(out_ch, k)]. convs: [(out_ch, k)]."""
    if not 1 <= len(convs) <= MAX_CONV:
        raise FormatError(f"{len(convs)} convolutional layers: 1..{MAX_CONV} supported")
    if not (1 <= side <= MAX_SIDE and 1 <= channels <= MAX_CHANNELS):
        raise FormatError(f"input of {channels} channels of side {side}: 1..{MAX_CHANNELS} "
                          f"and 1..{MAX_SIDE} supported")
    ch = channels
    for i, (oc, k) in enumerate(convs, 1):
        if not (1 <= oc <= MAX_CHANNELS and 1 <= k <= MAX_KERNEL and k % 2 == 1):
            raise FormatError(f"convolution {i}: {oc} channels of a {k}x{k} kernel: "
                              f"1..{MAX_CHANNELS} channels, odd kernels up to {MAX_KERNEL}")
        if side % 2:
            raise FormatError(f"convolution {i}: its input's side {side} is odd, which 2x2 "
                              f"pooling does not take")
        ch, side = oc, side // 2
    return ch * side * side


def _pairs(layers, what, ndim):
    """[(weight, bias)] as float32 arrays, each weight ndim-dimensional, bias (out,)."""
    out = []
    for i, (w, b) in enumerate(layers, 1):
        w, b = np.asarray(w), np.asarray(b)
        if w.ndim != ndim or b.ndim != 1 or w.shape[0] != b.shape[0]:
            raise FormatError(f"{what}{i}: weight {w.shape} and bias {b.shape} do not fit")
        out.append((w, b))
    return out


def encode(layers, meta="", convs=None, side=0):
    """layers: [(weight (out, in), bias (out,)), ...] as arrays; convs (optional): the
    convolutions before them, [(weight (out, in, k, k), bias (out,)), ...], of side x side
    input images; returns the file's bytes (format 2 with convolutions, else format 1)."""
    layers, convs = _pairs(layers, "fc", 2), _pairs(convs or [], "conv", 4)
    if not 1 <= len(layers) <= MAX_LAYERS:
        raise FormatError(f"{len(layers)} layers: 1..{MAX_LAYERS} supported")
    header = b""
    if convs:
        ch = int(convs[0][0].shape[1])
        for i, (w, _) in enumerate(convs, 1):
            if w.shape[1] != ch or w.shape[2] != w.shape[3]:
                raise FormatError(f"conv{i}: weight {w.shape} does not take {ch} channels "
                                  f"with a square kernel")
            ch = int(w.shape[0])
        shapes = [(int(w.shape[0]), int(w.shape[2])) for w, _ in convs]
        flat = conv_shapes(int(side), int(convs[0][0].shape[1]), shapes)
        if flat != np.shape(layers[0][0])[1]:
            raise FormatError(f"the convolutions give {flat} values, fc1 takes "
                              f"{np.shape(layers[0][0])[1]}")
        header = struct.pack("<III", len(convs), int(side), int(convs[0][0].shape[1]))
        header += b"".join(struct.pack("<II", oc, k) for oc, k in shapes)
    widths = [int(np.shape(layers[0][0])[1])]
    for i, (w, b) in enumerate(layers):
        if w.shape[1] != widths[-1]:
            raise FormatError(f"layer {i + 1} takes {w.shape[1]} inputs, "
                              f"the layer before gives {widths[-1]}")
        widths.append(int(w.shape[0]))
    for wd in widths:
        if not 1 <= wd <= MAX_WIDTH:
            raise FormatError(f"layer width {wd}: 1..{MAX_WIDTH} supported")
    m = check_meta_text(meta)
    out = [MAGIC, struct.pack("<III", FORMAT_CONV if convs else FORMAT, 0, len(layers)),
           struct.pack(f"<{len(widths)}I", *widths), header, struct.pack("<I", len(m)), m]
    for w, b in convs + layers:
        out.append(np.ascontiguousarray(w, dtype="<f4").tobytes())
        out.append(np.ascontiguousarray(b, dtype="<f4").tobytes())
    body = b"".join(out)
    return body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)


def _conv_header(data, off, version, widths, name):
    """Format 2's convolutions at off: (side, [(out_ch, k)], channels, the offset after)."""
    if version < FORMAT_CONV:
        return 0, [], 0, off
    if len(data) < off + 12:
        raise FormatError(f"{name}: truncated header")
    nc, side, ch = struct.unpack("<III", data[off:off + 12])
    if not 1 <= nc <= MAX_CONV:
        raise FormatError(f"{name}: {nc} convolutional layers: 1..{MAX_CONV} supported")
    off += 12
    if len(data) < off + 8 * nc + 4:
        raise FormatError(f"{name}: truncated header")
    convs = [struct.unpack("<II", data[off + 8 * i:off + 8 * i + 8]) for i in range(nc)]
    try:
        flat = conv_shapes(side, ch, convs)
    except FormatError as e:
        raise FormatError(f"{name}: {e}") from None
    if flat != widths[0]:
        raise FormatError(f"{name}: the convolutions give {flat} values, the first layer "
                          f"takes {widths[0]}")
    return side, convs, ch, off + 8 * nc


def _split(params, shapes):
    """params cut into arrays of the given shapes, in order."""
    out, p = [], 0
    for shape in shapes:
        n = int(np.prod(shape))
        out.append(params[p:p + n].reshape(shape))
        p += n
    return out


def decode(data, name="model"):
    """The file's bytes -> Model (float32 arrays); checks everything."""
    if data[:8] != MAGIC[:len(data[:8])] or len(data) == 0:
        raise FormatError(f"{name}: not an fmnist model file")
    if len(data) < 24:
        raise FormatError(f"{name}: truncated: {len(data)} bytes")
    if zlib.crc32(data[:-4]) & 0xFFFFFFFF != struct.unpack("<I", data[-4:])[0]:
        raise FormatError(f"{name}: corrupt or truncated: checksum mismatch")
    version, flags, nl = struct.unpack("<III", data[8:20])
    if not FORMAT <= version <= FORMAT_CONV:
        raise FormatError(f"{name}: format {version}; this reads formats {FORMAT} and "
                          f"{FORMAT_CONV}")
    if flags & ~FLAG_STATE:
        raise FormatError(f"{name}: unknown flags 0x{flags:x}")
    if not 1 <= nl <= MAX_LAYERS:
        raise FormatError(f"{name}: {nl} layers: 1..{MAX_LAYERS} supported")
    off = 20 + 4 * (nl + 1)
    if len(data) < off + 4:
        raise FormatError(f"{name}: truncated header")
    widths = list(struct.unpack(f"<{nl + 1}I", data[20:off]))
    if any(not 1 <= w <= MAX_WIDTH for w in widths):
        raise FormatError(f"{name}: layer widths {widths}: 1..{MAX_WIDTH} supported")
    side, convs, ch, off = _conv_header(data, off, version, widths, name)
    mlen = struct.unpack("<I", data[off:off + 4])[0]
    if mlen > META_MAX:
        raise FormatError(f"{name}: metadata of {mlen} bytes is over {META_MAX}")
    off += 4
    shapes = []
    for oc, k in convs:
        shapes += [(oc, ch, k, k), (oc,)]
        ch = oc
    shapes += [s for i in range(nl) for s in ((widths[i + 1], widths[i]), (widths[i + 1],))]
    nparams = sum(int(np.prod(s)) for s in shapes)
    want = off + mlen + 4 * nparams + 4
    if flags & FLAG_STATE and len(data) >= want + 4:
        k = struct.unpack("<I", data[want - 4:want])[0]
        if not 1 <= k <= MAX_BLOCKS:
            raise FormatError(f"{name}: state block count {k} outside 1..{MAX_BLOCKS}")
        want += 4 + 4 * nparams * k
    if len(data) != want:
        raise FormatError(f"{name}: {len(data)} bytes, its header implies {want}")
    meta = data[off:off + mlen]
    check_meta_text(meta.decode("latin-1"))
    off += mlen
    params = np.frombuffer(data, "<f4", nparams, off).astype(np.float32)
    arrays = _split(params, shapes)
    pairs = list(zip(arrays[0::2], arrays[1::2]))
    nc = len(convs)
    return Model(pairs[:nc], side, pairs[nc:], meta.decode("ascii"), widths)


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
