#!/usr/bin/python3
"""Makes the JPEG fixtures of tests/fixtures/ and the fuzz_jpeg seeds.

    /usr/bin/python3 tools/make_jpeg_fixtures.py [--data data/sample] [--out tests/fixtures]
                                                 [--corpus tests/fuzz/corpus/fuzz_jpeg]

Needs PIL (Debian's python3-pil) and jpegtran (libjpeg-turbo-progs), which
alone writes arithmetic-coded JPEGs. Writes:

  jpeg-upright.png       32x24 RGB: 4x3 flat blocks of 8x8 pixels, each its own
                         colour, so any wrong flip or rotation shows
  jpeg-orient-N.jpg      N = 1..8: that picture stored as a camera would with
                         EXIF orientation N (turned so that applying N makes it
                         upright again); the TIFF header is II for odd N, MM for
                         even N. Quality 95, no chroma subsampling: the flat
                         8x8 blocks decode within a few levels of their colour
  jpeg-progressive.jpg   the upright picture, progressive
  jpeg-gray.jpg          the upright picture as 8-bit gray
  jpeg-cmyk.jpg          the upright picture as CMYK (PIL writes Adobe's
                         inverted CMYK, as Photoshop does, with an APP14 marker)
  jpeg-arithmetic.jpg    jpeg-progressive.jpg recoded (losslessly) with
                         arithmetic coding
  tN-white10x.jpg        test image N enlarged 10x, dark on white (as
                         tN-white10x.png), quality 75, 4:2:0
  tN-portrait.jpg        the same, stored turned 90 degrees with EXIF
                         orientation 6, as a phone in portrait stores it

and small seeds for tests/fuzz/fuzz_jpeg.c. Deterministic: the same input
gives the same bytes.
"""
import argparse
import gzip
import io
import os
import struct
import subprocess

from PIL import Image

ITEMS = (0, 1, 8)

# 4 x 3 blocks, far apart in every channel's combination.
COLOURS = [(230, 20, 20), (20, 200, 30), (30, 40, 220), (240, 240, 30),
           (20, 220, 220), (220, 30, 220), (250, 250, 250), (10, 10, 10),
           (130, 70, 20), (120, 120, 120), (250, 150, 60), (60, 120, 180)]

# The transpose that stores an upright picture under each orientation: the
# inverse of what a reader applies (2, 3, 4, 5, 7 are their own inverses).
STORE = {1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
         4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
         6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
         8: Image.Transpose.ROTATE_270}


def exif(orientation, big_endian=False, extra=()):
    """An APP1 payload: "Exif\\0\\0", a TIFF header and IFD0 holding the
    orientation tag (one SHORT) after any extra (tag, type, count, value)
    entries."""
    e = ">" if big_endian else "<"
    entries = list(extra) + [(0x0112, 3, 1, orientation)]
    body = struct.pack(e + "2sHI", b"MM" if big_endian else b"II", 42, 8)
    body += struct.pack(e + "H", len(entries))
    for tag, typ, count, value in entries:
        if typ == 3:
            body += struct.pack(e + "HHIHH", tag, typ, count, value, 0)
        else:
            body += struct.pack(e + "HHII", tag, typ, count, value)
    body += struct.pack(e + "I", 0)
    return b"Exif\0\0" + body


def upright():
    im = Image.new("RGB", (32, 24))
    for i, c in enumerate(COLOURS):
        x, y = i % 4 * 8, i // 4 * 8
        im.paste(c, (x, y, x + 8, y + 8))
    return im


def jpeg(im, **kw):
    b = io.BytesIO()
    im.save(b, "JPEG", **kw)
    return b.getvalue()


def arithmetic(data):
    """The same JPEG, its entropy coding made arithmetic (jpegtran, lossless)."""
    try:
        return subprocess.run(["jpegtran", "-arithmetic", "-copy", "all"], input=data,
                              stdout=subprocess.PIPE, check=True).stdout
    except FileNotFoundError:
        raise SystemExit("make_jpeg_fixtures: jpegtran missing: apt-get install libjpeg-turbo-progs")


def png(im):
    b = io.BytesIO()
    im.save(b, "PNG", optimize=True)
    return b.getvalue()


def load_items(data):
    def read(name):
        p = os.path.join(data, name + ".gz")
        with open(p, "rb") as f:
            return gzip.decompress(f.read())

    img = read("t10k-images-idx3-ubyte")
    return {i: Image.frombytes("L", (28, 28), img[16 + 784 * i:16 + 784 * (i + 1)]) for i in ITEMS}


def fixtures(data):
    out = {}
    up = upright()
    out["jpeg-upright.png"] = png(up)
    for o in range(1, 9):
        stored = up if STORE[o] is None else up.transpose(STORE[o])
        out[f"jpeg-orient-{o}.jpg"] = jpeg(stored, quality=95, subsampling=0,
                                           exif=exif(o, big_endian=o % 2 == 0))
    out["jpeg-progressive.jpg"] = jpeg(up, quality=95, subsampling=0, progressive=True)
    out["jpeg-gray.jpg"] = jpeg(up.convert("L"), quality=95)
    out["jpeg-cmyk.jpg"] = jpeg(up.convert("CMYK"), quality=95)
    out["jpeg-arithmetic.jpg"] = arithmetic(out["jpeg-progressive.jpg"])
    for i, item in load_items(data).items():
        photo = Image.eval(item, lambda v: 255 - v).resize((280, 280), Image.Resampling.NEAREST)
        photo = photo.convert("RGB")
        out[f"t{i}-white10x.jpg"] = jpeg(photo, quality=75)
        out[f"t{i}-portrait.jpg"] = jpeg(photo.transpose(STORE[6]), quality=75, exif=exif(6))
    return out


def seeds(fix):
    """Small valid and typical broken inputs for fuzz_jpeg."""
    up = upright()
    small = up.crop((0, 0, 16, 16))
    s = {
        "baseline-444": jpeg(small, quality=75, subsampling=0),
        "baseline-420": jpeg(up, quality=50, subsampling=2),
        "progressive": jpeg(small, quality=60, progressive=True),
        "gray": jpeg(small.convert("L"), quality=60),
        "cmyk-adobe": jpeg(small.convert("CMYK"), quality=60),
        "gray-progressive": jpeg(small.convert("L"), quality=60, progressive=True),
        "orient-6-mm": fix["jpeg-orient-6.jpg"],
        "orient-5-mm": jpeg(small.transpose(STORE[5]), quality=60, exif=exif(5, True)),
        "exif-two-entries": jpeg(small, quality=60, exif=exif(3, False, [(0x010f, 2, 4, 0x41424300)])),
        "restart-interval": jpeg(up, quality=60, restart_marker_blocks=1),
        "odd-size-7x5": jpeg(up.crop((3, 2, 10, 7)), quality=60, subsampling=2),
    }
    s["truncated"] = s["baseline-420"][:len(s["baseline-420"]) * 2 // 3]
    s["arithmetic-420"] = arithmetic(s["baseline-420"])
    s["arithmetic-progressive"] = arithmetic(s["progressive"])
    s["arithmetic-cmyk"] = arithmetic(s["cmyk-adobe"])
    return s


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="data/sample")
    ap.add_argument("--out", default="tests/fixtures")
    ap.add_argument("--corpus", default="tests/fuzz/corpus/fuzz_jpeg")
    args = ap.parse_args()
    fix = fixtures(args.data)
    os.makedirs(args.out, exist_ok=True)
    for name, b in fix.items():
        with open(os.path.join(args.out, name), "wb") as f:
            f.write(b)
    os.makedirs(args.corpus, exist_ok=True)
    for name, b in seeds(fix).items():
        with open(os.path.join(args.corpus, name + ".jpg"), "wb") as f:
            f.write(b)
    total = sum(len(b) for b in fix.values())
    print(f"make_jpeg_fixtures: {len(fix)} fixtures ({total} bytes) in {args.out}, "
          f"seeds in {args.corpus}")


if __name__ == "__main__":
    main()
