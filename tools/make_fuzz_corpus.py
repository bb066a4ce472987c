#!/usr/bin/env python3
"""Writes the fuzz harnesses' seed corpora (tests/fuzz/corpus/<harness>/).

    python3 tools/make_fuzz_corpus.py [--out tests/fuzz/corpus]

Small valid inputs of every kind each parser accepts, plus a few typical bad
ones, cut from data/sample or built here: IDX files raw and gzip, PNGs of
every colour type, bit depth and interlacing, model files of tiny networks
(format 1, and format 2 with convolutions), command lines, safetensors headers
of both of fmnist's networks. Standard library only; the same bytes on every run.
"""
import argparse
import gzip
import json
import os
import struct
import zlib


def gz(data):
    return gzip.compress(data, compresslevel=9, mtime=0)


def sample(name):
    with open(os.path.join("data", "sample", name + ".gz"), "rb") as f:
        return gzip.decompress(f.read())


# ---- IDX: one selector byte (bit 0: labels; (b >> 1) % 3: any/raw/gzip), then the file


def idx_seeds():
    img = sample("t10k-images-idx3-ubyte")
    lab = sample("t10k-labels-idx1-ubyte")

    def images(n):
        return struct.pack(">IIII", 0x803, n, 28, 28) + img[16:16 + 784 * n]

    def labels(n):
        return struct.pack(">II", 0x801, n) + lab[8:8 + n]

    ANY, RAW, GZ = 0, 2, 4
    L = 1
    return {
        "images-raw-2": bytes([RAW]) + images(2),
        "images-gz-3": bytes([GZ]) + gz(images(3)),
        "images-any-gz-1": bytes([ANY]) + gz(images(1)),
        "images-any-raw-1": bytes([ANY]) + images(1),
        "labels-raw-20": bytes([RAW | L]) + labels(20),
        "labels-gz-20": bytes([GZ | L]) + gz(labels(20)),
        "labels-any-gz-10": bytes([ANY | L]) + gz(labels(10)),
        "labels-gz-two-members": bytes([GZ | L]) + gz(labels(12)[:9]) + gz(labels(12)[9:]),
        "labels-raw-bad-label": bytes([RAW | L]) + struct.pack(">II", 0x801, 3) + b"\x01\x0a\x02",
        "labels-gz-truncated": bytes([GZ | L]) + gz(labels(20))[:-9],
        "labels-gz-html": bytes([GZ | L]) + b"<!DOCTYPE html>\n<html><body>404</body></html>\n",
        "images-raw-huge-count": bytes([RAW]) + struct.pack(">IIII", 0x803, 1 << 31, 28, 28),
    }


# ---- PNG


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def filter_rows(rows, bpp, filters):
    """rows: list of bytes (unfiltered scanlines); filter types cycle through filters."""
    out = bytearray()
    prev = bytes(len(rows[0])) if rows else b""
    for i, row in enumerate(rows):
        ft = filters[i % len(filters)]
        out.append(ft)
        for x, v in enumerate(row):
            a = row[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][ft]
            out.append((v - pred) & 0xFF)
        prev = row
    return bytes(out)


# Adam7: (x0, y0, dx, dy) of each pass.
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def pack_row(samples, depth):
    """samples: ints; packs them at depth bits each, MSB first."""
    if depth == 8:
        return bytes(samples)
    if depth == 16:
        return b"".join(struct.pack(">H", s) for s in samples)
    out, acc, nbits = bytearray(), 0, 0
    for s in samples:
        acc = acc << depth | s
        nbits += depth
        if nbits == 8:
            out.append(acc)
            acc, nbits = 0, 0
    if nbits:
        out.append(acc << (8 - nbits))
    return bytes(out)


def png(w, h, color, depth, pixel, interlace=0, extra=b"", filters=(0,)):
    """pixel(x, y) -> tuple of channel samples. color: PNG colour type."""
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color]
    bpp = max(1, channels * depth // 8)

    def scan(xs, y):
        samples = []
        for x in xs:
            samples.extend(pixel(x, y))
        return pack_row(samples, depth)

    raw = b""
    if interlace:
        for x0, y0, dx, dy in ADAM7:
            xs = list(range(x0, w, dx))
            ys = list(range(y0, h, dy))
            if xs and ys:
                raw += filter_rows([scan(xs, y) for y in ys], bpp, filters)
    else:
        raw = filter_rows([scan(range(w), y) for y in range(h)], bpp, filters)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, interlace)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra +
            chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def png_seeds():
    img = sample("t10k-images-idx3-ubyte")

    def item(n):
        return lambda x, y: (img[16 + 784 * n + 28 * y + x],)

    def shirt(x, y, w, h):
        """A dark blob on a light background, like a photo of clothing."""
        cx, cy = (x - w / 2) / (w / 2), (y - h / 2) / (h / 2)
        return cx * cx + cy * cy < 0.5

    palette = bytes([250, 250, 245, 30, 30, 90, 200, 40, 40, 20, 160, 60])
    seeds = {
        "gray8-28x28-dataset-item.png": png(28, 28, 0, 8, item(0)),
        "gray8-28x28-filters.png": png(28, 28, 0, 8, item(1), filters=(0, 1, 2, 3, 4)),
        "rgb8-20x14-light-bg.png": png(20, 14, 2, 8, lambda x, y:
                                       (40, 50, 120) if shirt(x, y, 20, 14) else (240, 238, 230),
                                       filters=(1, 4)),
        "rgba8-16x16-transparent.png": png(16, 16, 6, 8, lambda x, y:
                                           (200, 30, 30, 255) if shirt(x, y, 16, 16) else (0, 0, 0, 0)),
        "gray-alpha8-6x6.png": png(6, 6, 4, 8, lambda x, y: (x * 40, 255 if x > 1 else 0)),
        "palette8-12x10-trns.png": png(12, 10, 3, 8, lambda x, y: ((x + y) % 4,),
                                       extra=chunk(b"PLTE", palette) + chunk(b"tRNS", b"\x00")),
        "palette2-9x5.png": png(9, 5, 3, 2, lambda x, y: ((x * y) % 4,),
                                extra=chunk(b"PLTE", palette)),
        "gray16-9x7-gamma.png": png(9, 7, 0, 16, lambda x, y: (x * 7000 + y * 100,),
                                    extra=chunk(b"gAMA", struct.pack(">I", 45455))),
        "gray1-17x5.png": png(17, 5, 0, 1, lambda x, y: ((x ^ y) & 1,)),
        "gray4-7x3.png": png(7, 3, 0, 4, lambda x, y: ((x * 3 + y) % 16,)),
        "rgb16-5x4.png": png(5, 4, 2, 16, lambda x, y: (x * 9000, y * 9000, 30000)),
        "rgb8-13x11-interlaced.png": png(13, 11, 2, 8, lambda x, y:
                                         (255, 255, 255) if shirt(x, y, 13, 11) else (10, 10, 10),
                                         interlace=1),
        "gray8-1x1.png": png(1, 1, 0, 8, lambda x, y: (128,)),
        "gray8-40x3-strip.png": png(40, 3, 0, 8, lambda x, y: (255 if 5 < x < 30 else 0,)),
        # a game item's tile: transparent margin, dark tile, gray frame, light item
        "rgba8-24x24-tile.png": png(24, 24, 6, 8, lambda x, y:
                                    (0, 0, 0, 0) if min(x, y, 23 - x, 23 - y) < 1 else
                                    (120, 120, 120, 255) if min(x, y, 23 - x, 23 - y) == 2 else
                                    (200, 190, 180, 255) if shirt(x - 4, y - 4, 16, 16) else
                                    (20, 20, 20, 255)),
    }
    # Non-PNG inputs: the harness reads these as raw pictures (see fuzz_png.c).
    seeds["raw-28x28-dark-bg"] = bytes([27, 0, 27, 0, 0]) + bytes(
        v for p in img[16:16 + 784] for v in (p, p, p, 255))
    seeds["raw-3x200-tall"] = bytes([2, 0, 199, 0, 0]) + bytes([255, 255, 255, 255, 9, 9, 9, 255])
    seeds["raw-30x20-light-bg"] = bytes([29, 0, 19, 0, 0]) + bytes([240, 240, 240, 255] * 7 +
                                                                  [20, 20, 60, 255] * 3)
    seeds["raw-5x5-half-transparent"] = bytes([4, 0, 4, 0, 1]) + bytes([0, 0, 0, 0, 250, 250, 250, 128])
    return seeds


# ---- model files (formats 1 and 2, see include/model_file.h)


def conv_params(conv):
    """The parameter count of convolutions (side, channels, [(out_ch, k), ...])."""
    if not conv:
        return 0
    _, ch, layers = conv
    n = 0
    for oc, k in layers:
        n += oc * ch * k * k + oc
        ch = oc
    return n


def model(widths, meta=b"", blocks=0, seed=1, conv=None):
    """A model file; blocks > 0 makes a checkpoint with that many state blocks; conv
    (side, channels, [(out_ch, k), ...]) makes a format-2 file of a network that
    begins with those convolutions (widths[0] must be what the last one gives)."""
    L = len(widths) - 1
    P = conv_params(conv) + sum(widths[l + 1] * widths[l] + widths[l + 1] for l in range(L))
    vals = [((i * 2654435761 + seed) % 2001 - 1000) / 1000.0 for i in range(P * (1 + blocks))]
    b = b"FMNISTMD" + struct.pack("<III", 2 if conv else 1, 1 if blocks else 0, L)
    b += struct.pack("<%dI" % (L + 1), *widths)
    if conv:
        side, ch, layers = conv
        b += struct.pack("<III", len(layers), side, ch)
        b += b"".join(struct.pack("<II", oc, k) for oc, k in layers)
    b += struct.pack("<I", len(meta)) + meta
    b += struct.pack("<%df" % P, *vals[:P])
    if blocks:
        b += struct.pack("<I", blocks) + struct.pack("<%df" % (P * blocks), *vals[P:])
    return b + struct.pack("<I", zlib.crc32(b))


def model_seeds():
    meta = (b"fmnist_version=0.1.0\nepochs=1\nbatch_size=64\nlr=0.0030000000000000001\n"
            b"seed=1\ntrain_images=2000\ntest_accuracy=0.6710\n")
    good = model([4, 3, 2], meta)
    # 8x8 gray images, conv 3x3 of 2 channels (-> 4x4), conv 1x1 of 3 (-> 2x2): 12 values
    convs = (8, 1, [(2, 3), (3, 1)])
    cnn = model([12, 4, 2], meta + b"net=cnn\n", conv=convs)
    return {
        "conv-8x8-2x3-3x1-12-4-2.model": cnn,
        "conv-4x4x2-3x5-12-3-adam.model": model([12, 3], b"blocks=adam_m,adam_v\n", blocks=2,
                                                conv=(4, 2, [(3, 5)])),
        "cut-in-convs.model": cnn[:52],
        "4-3-2-meta.model": good,
        "3-2-adam.model": model([3, 2], b"epochs=2\nblocks=adam_m,adam_v\n", blocks=2),
        "5-4-3-2-1.model": model([5, 4, 3, 2, 1]),
        "8-layers.model": model([2] * 9, b"k=v\n"),
        "truncated.model": good[:40],
        "cut-in-widths.model": model([2] * 9)[:48],
        # one past the newest format this fmnist reads (2)
        "newer-format.model": (lambda b: b + struct.pack("<I", zlib.crc32(b)))(
            good[:8] + struct.pack("<I", 3) + good[12:-4]),
    }


# ---- command lines: arguments after "fmnist", NUL-separated


def cli_seeds():
    lines = {
        "train-full": "train --epochs 2 --batch-size 32 --lr 0.001 --seed 7 --data data/sample "
                      "--model m.model --threads 2 --json --quiet",
        "train-equals": "train --epochs=1 --batch-size=128 --lr=3e-3 --seed=18446744073709551615",
        "eval": "eval --data data/sample --model m.model --threads 1 --json",
        "classify": "classify --model m.model --top 5 --invert yes a.png --json b.png -",
        "classify-dashdash": "classify --invert=no -- --odd-name.png - c.png",
        "export": "export --data data/sample --split train --index 12 -o out.png",
        "help": "--help",
        "version": "--version",
        "train-help": "train --help",
        "bad-epochs": "train --epochs x",
        "bad-top": "classify --top 0 a.png",
        "bad-option": "eval --lr 1",
        "train-options": "train --dropout 0.2 --weight-decay 0.05 --schedule cosine --warmup 1 "
                         "--label-smoothing 0.1 --ema 0.999 --val 500 --keep best --patience 3",
        "train-preset": "train --preset best --epochs 3 --resume",
        "classify-show": "classify --show seen-%d.png --ascii a.png b.png",
        "eval-pictures": "eval --errors e.png --confusion c.png",
        "convert": "convert --model m.safetensors -o out.onnx",
    }
    return {k: v.replace(" ", "\0").encode() for k, v in lines.items()}


# ---- safetensors headers (fuzz_safetensors frames them with the data itself)


MLP_TENSORS = [(f"fc{i + 1}.{k}", shape) for i, (o, n) in enumerate(
    [(256, 784), (128, 256), (64, 128), (10, 64)]) for k, shape in (("weight", [o, n]),
                                                                     ("bias", [o]))]
CNN_TENSORS = [("conv1.weight", [16, 1, 3, 3]), ("conv1.bias", [16]),
               ("conv2.weight", [32, 16, 3, 3]), ("conv2.bias", [32]),
               ("fc1.weight", [64, 1568]), ("fc1.bias", [64]),
               ("fc2.weight", [10, 64]), ("fc2.bias", [10])]


def safetensors_header(meta, indent=None, order=None, ascii=False, tensors=MLP_TENSORS):
    """The JSON header of one of fmnist's networks (the MLP's tensors by default) as
    `fmnist convert` lays it out."""
    entries, off = {}, 0
    for name, shape in tensors:
        n = 4
        for d in shape:
            n *= d
        entries[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + n]}
        off += n
    head = {"__metadata__": meta} if meta is not None else {}
    for name in order or entries:
        head[name] = entries[name]
    sep = (",", ":") if indent is None else (",", ": ")
    return json.dumps(head, indent=indent, separators=sep, ensure_ascii=ascii).encode()


def safetensors_seeds():
    meta = {"format": "pt", "fmnist_version": "0.1.0", "epochs": "1", "seed": "1",
            "test_accuracy": "0.6710"}
    header = safetensors_header(meta)
    header += b" " * (-(8 + len(header)) % 8)
    whole = struct.pack("<Q", len(header)) + header
    return {
        "fmnist.json": header,
        "no-metadata.json": safetensors_header(None),
        "utf8.json": safetensors_header({"caf\u00e9": "\U0001f600 \"q\" \\ \n", "k": "\u00e9t\u00e9"}),
        "escaped.json": safetensors_header({"caf\u00e9": "\U0001f600 \"q\" \\ \n\t\u0001"},
                                           ascii=True),
        "pretty-reordered.json": safetensors_header(
            {"k": "v"}, indent=1,
            order=["fc4.bias", "fc1.weight", "fc3.weight", "fc1.bias", "fc2.bias", "fc2.weight",
                   "fc4.weight", "fc3.bias"]),
        "whole-truncated.safetensors": whole[:120],
        "cnn.json": safetensors_header(dict(meta, net="cnn"), tensors=CNN_TENSORS),
        "cnn-pretty-reordered.json": safetensors_header(
            {"net": "cnn"}, indent=2, tensors=CNN_TENSORS,
            order=["fc2.bias", "conv2.weight", "fc1.weight", "conv1.bias", "fc2.weight",
                   "conv1.weight", "fc1.bias", "conv2.bias"]),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/fuzz/corpus")
    args = ap.parse_args()
    for harness, seeds in (("fuzz_idx", idx_seeds()), ("fuzz_png", png_seeds()),
                           ("fuzz_model", model_seeds()), ("fuzz_cli", cli_seeds()),
                           ("fuzz_safetensors", safetensors_seeds())):
        d = os.path.join(args.out, harness)
        os.makedirs(d, exist_ok=True)
        for name, data in sorted(seeds.items()):
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        print(f"{d}: {len(seeds)} files, {sum(map(len, seeds.values()))} bytes")


if __name__ == "__main__":
    main()
