#!/usr/bin/python3
"""Makes the PNG fixtures of tests/fixtures/ from real Fashion-MNIST test images.

    /usr/bin/python3 tools/make_image_fixtures.py [--data data/sample] [--out tests/fixtures]

For each of a few test images (ITEMS below) it writes the same item as:

  tN-gray28.png       28x28 8-bit gray, exactly as `fmnist export` writes it
  tN-gray16.png       the same in 16 bits (v * 257), no gAMA chunk
  tN-white10x.png     enlarged 10x (nearest), dark on white, RGB: a product shot
  tN-alpha.png        enlarged 3x, transparent background, the item dark (its
                      "real" colours, as the data set negated them), RGBA
  tN-palette.png      enlarged 2x, dark on white, 8-bit palette, white transparent (tRNS)
  tN-interlaced.png   enlarged 2x, Adam7-interlaced gray+alpha, light on black
  tN-offcentre.png    enlarged 3x, dark, off-centre on a 400x300 light gray canvas, RGB

and, to check the decoder sample by sample, small ramps of every PNG sample
format (depth-*.png). Deterministic: the same input gives the same bytes.
Standard library only (tools/pngwrite.py writes the PNGs: PIL cannot write
interlaced, 16-bit color or low-depth files).
"""
import argparse
import gzip
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pngwrite import GA, GRAY, PALETTE, RGB, RGBA, png  # noqa: E402

# Test-set indices: an ankle boot (wide, fills the frame), a pullover (tall,
# touches top and bottom), a sandal (28x6: thin, odd vertical margin).
ITEMS = (0, 1, 8)


def load_test(data):
    def read(name):
        for cand in (os.path.join(data, name), os.path.join(data, name + ".gz")):
            if os.path.exists(cand):
                with open(cand, "rb") as f:
                    raw = f.read()
                return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        raise SystemExit(f"make_image_fixtures: {name}[.gz] not found in {data}")

    img = read("t10k-images-idx3-ubyte")
    lab = read("t10k-labels-idx1-ubyte")
    n = int.from_bytes(img[4:8], "big")
    items = [[list(img[16 + i * 784 + r * 28:16 + i * 784 + r * 28 + 28]) for r in range(28)]
             for i in range(n)]
    return items, list(lab[8:8 + n])


def enlarge(a, k):
    return [[v for v in row for _ in range(k)] for row in a for _ in range(k)]


def variants(a):
    """The fixture variants of one 28x28 item (rows of 0..255, light on black)."""
    out = {}
    out["gray28"] = png(a, GRAY, 8)
    out["gray16"] = png([[v * 257 for v in row] for row in a], GRAY, 16)
    out["white10x"] = png([[(255 - v,) * 3 for v in row] for row in enlarge(a, 10)], RGB, 8)
    out["alpha"] = png([[(255 - v, 255 - v, 255 - v, 255 if v else 0) for v in row]
                        for row in enlarge(a, 3)], RGBA, 8)
    # Palette: one entry per gray level used, dark on white, white transparent.
    big = enlarge(a, 2)
    levels = sorted({255 - v for row in big for v in row})
    index = {g: i for i, g in enumerate(levels)}
    trns = [0 if g == 255 else 255 for g in levels]
    while trns and trns[-1] == 255:
        trns.pop()
    out["palette"] = png([[index[255 - v] for v in row] for row in big], PALETTE, 8,
                         palette=[(g, g, g) for g in levels], trns=trns or None)
    out["interlaced"] = png([[(v, 255) for v in row] for row in big], GA, 8, interlace=True)
    canvas = [[(235, 235, 235)] * 400 for _ in range(300)]
    for y, row in enumerate(enlarge(a, 3)):
        for x, v in enumerate(row):
            # The item darkens the canvas as a print would: 235 * (1 - v/255).
            g = (235 * (255 - v) + 127) // 255
            canvas[190 + y][40 + x] = (g, g, g)
    out["offcentre"] = png(canvas, RGB, 8)
    return out


def ramps():
    """Every sample format, with values whose 8-bit reading is known exactly."""
    out = {}
    for depth in (1, 2, 4):
        n = 1 << depth
        out[f"depth-gray{depth}"] = png([list(range(n))], GRAY, depth)
        out[f"depth-gray{depth}-interlaced"] = png([list(range(n))] * 3, GRAY, depth,
                                                   interlace=True)
        out[f"depth-palette{depth}"] = png([list(range(n))], PALETTE, depth,
                                           palette=[(i * 7 % 256, i * 13 % 256, 255 - i)
                                                    for i in range(n)],
                                           trns=[0] + [128] * (n > 2))
    v = list(range(256))
    out["depth-gray8"] = png([v], GRAY, 8)
    out["depth-gray16"] = png([[x * 257 for x in v]], GRAY, 16)
    out["depth-ga16"] = png([[(x * 257, (255 - x) * 257) for x in v]], GA, 16)
    out["depth-rgb16"] = png([[(x * 257, (255 - x) * 257, (x * 7 % 256) * 257) for x in v]],
                             RGB, 16)
    out["depth-rgba16"] = png([[(x * 257, (255 - x) * 257, (x * 7 % 256) * 257, 65535)
                                for x in v]], RGBA, 16)
    out["depth-rgb16-interlaced"] = png([[(x * 257, (255 - x) * 257, (x * 7 % 256) * 257)
                                          for x in v]] * 9, RGB, 16, interlace=True)
    out["depth-ga8"] = png([[(x, 255 - x) for x in v]], GA, 8)
    out["depth-rgba8"] = png([[(x, 255 - x, x * 7 % 256, 255 - x) for x in v]], RGBA, 8)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="data/sample")
    ap.add_argument("--out", default="tests/fixtures")
    args = ap.parse_args()
    items, labels = load_test(args.data)
    os.makedirs(args.out, exist_ok=True)
    files = {}
    for i in ITEMS:
        for name, data in variants(items[i]).items():
            files[f"t{i}-{name}.png"] = data
    for name, data in ramps().items():
        files[f"{name}.png"] = data
    for name, data in sorted(files.items()):
        with open(os.path.join(args.out, name), "wb") as f:
            f.write(data)
    total = sum(len(d) for d in files.values())
    print(f"make_image_fixtures: {len(files)} files, {total} bytes in {args.out} "
          f"(items {', '.join(f'{i} (label {labels[i]})' for i in ITEMS)})")


if __name__ == "__main__":
    main()
