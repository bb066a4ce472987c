"""pngwrite.py: a small PNG encoder for test fixtures (standard library only).

PIL cannot write interlaced PNGs, 1/2/4-bit gray, 16-bit color or gray+alpha,
so the fixture and measuring tools write PNGs themselves: every color type,
every bit depth the type allows, palette with tRNS, Adam7 interlacing. The
output is deterministic (zlib level 9, no time or text chunks).

    png(rows, color_type, bit_depth, palette=None, trns=None, interlace=False)

rows: a list of h rows, each a list of w pixels; a pixel is an int sample
(gray, palette index) or a tuple of samples (GA, RGB, RGBA), each already in
0 .. 2**bit_depth - 1.
"""
import struct
import zlib

GRAY, RGB, PALETTE, GA, RGBA = 0, 2, 3, 4, 6
CHANNELS = {GRAY: 1, RGB: 3, PALETTE: 1, GA: 2, RGBA: 4}
ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4),
         (1, 0, 2, 2), (0, 1, 1, 2))


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def _samples(px, nch):
    if nch == 1:
        return (px,) if isinstance(px, int) else tuple(px)
    return tuple(px)


def _pack_row(row, nch, depth):
    """One scanline's bytes (without the filter byte)."""
    samples = [s for px in row for s in _samples(px, nch)]
    limit = (1 << depth) - 1
    for s in samples:
        if not 0 <= s <= limit:
            raise ValueError(f"sample {s} out of range for {depth}-bit")
    if depth == 16:
        return b"".join(struct.pack(">H", s) for s in samples)
    if depth == 8:
        return bytes(samples)
    per = 8 // depth
    out = bytearray()
    for i in range(0, len(samples), per):
        b = 0
        group = samples[i:i + per]
        for j, s in enumerate(group):
            b |= s << (8 - depth * (j + 1))
        out.append(b)
    return bytes(out)


def png(rows, color_type, bit_depth, palette=None, trns=None, interlace=False):
    h, w = len(rows), len(rows[0])
    nch = CHANNELS[color_type]
    raw = bytearray()
    if interlace:
        for x0, y0, dx, dy in ADAM7:
            xs = range(x0, w, dx)
            if not xs:
                continue
            for y in range(y0, h, dy):
                raw.append(0)
                raw += _pack_row([rows[y][x] for x in xs], nch, bit_depth)
    else:
        for row in rows:
            raw.append(0)
            raw += _pack_row(row, nch, bit_depth)
    out = b"\x89PNG\r\n\x1a\n"
    out += chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0,
                                      1 if interlace else 0))
    if palette is not None:
        out += chunk(b"PLTE", b"".join(bytes(c) for c in palette))
    if trns is not None:
        out += chunk(b"tRNS", bytes(trns))
    out += chunk(b"IDAT", zlib.compress(bytes(raw), 9))
    out += chunk(b"IEND", b"")
    return out
