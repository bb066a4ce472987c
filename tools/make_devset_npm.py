#!/usr/bin/python3
"""Build the second part of the development set, tests/fixtures/devset-npm/,
from icon and emoji sets published on the npm registry as Iconify JSON
(@iconify-json/NAME: each icon's SVG body, the set's author and licence).

Every picture is one icon drawn by the set's authors (nobody on this project
drew any of them), rendered as it is: the SVG body in its own view box at
256x256 px on a transparent background by rsvg-convert, one-colour icons in
black. Nothing is cropped, centred or otherwise processed.

Noto's art (@iconify-json/noto, noto-v1, emoji-datasource-google) is never
fetched: like fonts-noto-color-emoji, fonts-symbola and openclipart, it is
kept for an independent check.

Needs: python3-pil, librsvg2-bin, npm (the registry, once, to fetch):
    mkdir PKGS && cd PKGS && for p in <PACKAGES below>; do
        npm pack @iconify-json/$p && mkdir -p $NAME && tar xzf *$NAME*.tgz -C $NAME
    done
or let this tool fetch them: --fetch (runs npm pack into PKGS).

Usage: /usr/bin/python3 tools/make_devset_npm.py [--fetch] PKGS [OUTDIR]
       (OUTDIR: default tests/fixtures/devset-npm)
Writes OUTDIR/*.png and OUTDIR/labels.tsv; same bytes on every run.
"""
import io
import json
import os
import subprocess
import sys

from PIL import Image

# The sets, at the versions the committed pictures were made from.
PACKAGES = {
    "twemoji": "1.2.5",
    "openmoji": "1.2.29",
    "fluent-emoji-flat": "1.2.6",
    "fluent-emoji": "1.2.7",
    "fluent-emoji-high-contrast": "1.2.6",
    "emojione-monotone": "1.2.1",
    "streamline-emojis": "1.2.4",
    "fxemoji": "1.2.2",
    "game-icons": "1.2.4",
    "tabler": "1.2.41",
    "lucide": "1.2.137",
    "ph": "1.2.2",
    "mingcute": "1.2.8",
    "ri": "1.2.10",
    "iconoir": "1.2.11",
    "icon-park-outline": "1.2.4",
    "hugeicons": "1.2.35",
    "bx": "1.2.3",
    "solar": "1.2.13",
}

# Emoji (Unicode names, as the emoji sets name them) and their class.
EMOJI = [
    ("t-shirt", 0), ("running-shirt", 0), ("jeans", 1), ("dress", 3),
    ("coat", 4), ("lab-coat", 4), ("womans-sandal", 5), ("thong-sandal", 5),
    ("womans-clothes", 6), ("running-shoe", 7), ("handbag", 8),
    ("backpack", 8), ("womans-boot", 9), ("hiking-boot", 9),
]

# (set, style, [(icon, label), ...])
SETS = [
    ("twemoji", "emoji", EMOJI),
    ("openmoji", "emoji", EMOJI + [("sneaker", 7)]),
    ("fluent-emoji-flat", "emoji", EMOJI),
    ("fluent-emoji", "emoji", EMOJI),
    ("streamline-emojis", "emoji", EMOJI + [("school-backpack", 8)]),
    ("fxemoji", "emoji", [("mansshirt", 0), ("runningshirt", 0), ("jeans", 1),
                          ("dress", 3), ("sandals", 5), ("womansshirt", 6),
                          ("handbag", 8), ("schoolsatchel", 8), ("boot", 9)]),
    ("fluent-emoji-high-contrast", "outline", EMOJI),
    ("emojione-monotone", "outline", EMOJI),
    ("game-icons", "icon", [
        ("t-shirt", 0), ("shirt", 6), ("hoodie", 2), ("trousers", 1),
        ("dress", 3), ("ample-dress", 3), ("large-dress", 3),
        ("pirate-coat", 4), ("moncler-jacket", 4), ("lab-coat", 4),
        ("sandal", 5), ("flip-flops", 5),
        ("running-shoe", 7), ("boots", 9), ("leather-boot", 9),
        ("chelsea-boot", 9), ("cowboy-boot", 9), ("walking-boot", 9),
        ("rubber-boot", 9), ("hand-bag", 8), ("backpack", 8)]),
    ("tabler", "outline", [("shirt", 0), ("shirt-sport", 0), ("flip-flops", 5),
                           ("backpack", 8)]),
    ("tabler", "icon", [("shirt-filled", 0)]),
    ("lucide", "outline", [("shirt", 0), ("sport-shoe", 7), ("handbag", 8)]),
    ("ph", "outline", [("t-shirt", 0), ("hoodie", 2), ("pants", 1),
                       ("dress", 3), ("boot", 9), ("handbag", 8)]),
    ("ph", "icon", [("t-shirt-fill", 0), ("hoodie-fill", 2), ("pants-fill", 1),
                    ("dress-fill", 3), ("boot-fill", 9), ("handbag-fill", 8)]),
    ("mingcute", "outline", [("t-shirt-line", 0),
                             ("coat-line", 4), ("dress-line", 3),
                             ("trouser-line", 1), ("shoe-line", 7)]),
    ("mingcute", "icon", [("t-shirt-fill", 0),
                          ("coat-fill", 4), ("dress-fill", 3),
                          ("trouser-fill", 1), ("shoe-fill", 7)]),
    ("ri", "outline", [("t-shirt-line", 0), ("handbag-line", 8)]),
    ("ri", "icon", [("t-shirt-fill", 0), ("handbag-fill", 8)]),
    ("iconoir", "outline", [("t-shirt", 0), ("shirt-tank-top", 0), ("pants", 1),
                            ("sandals", 5), ("handbag", 8)]),
    ("icon-park-outline", "outline", [
        ("t-shirt", 0), ("clothes-short-sleeve", 0), ("clothes-sweater", 2),
        ("clothes-hoodie", 2), ("clothes-turtleneck", 2),
        ("clothes-crew-neck", 2), ("clothes-pants", 1),
        ("clothes-pants-sweat", 1), ("trousers-bell-bottoms", 1),
        ("full-dress-longuette", 3), ("clothes-windbreaker", 4),
        ("women-coat", 4), ("men-jacket", 4), ("sandals", 5), ("boots", 9),
        ("handbag", 8), ("backpack", 8)]),
    ("hugeicons", "outline", [
        ("t-shirt", 0), ("hoodie", 2), ("jumpers", 2), ("dress-01", 3), ("dress-02", 3),
        ("jogger-pants", 1), ("sandals", 5), ("sneaker", 7),
        ("running-shoes", 7), ("sport-shoe", 7), ("handbag", 8),
        ("backpack-01", 8)]),
    ("bx", "icon", [("bxs-t-shirt", 0)]),
    ("solar", "icon", [("t-shirt-bold", 0)]),
]

SIZE = 256


def load_set(pkgs, name):
    """The set's icons (its Iconify JSON) and its licence's SPDX name."""
    with open(os.path.join(pkgs, name, "package", "icons.json")) as f:
        data = json.load(f)
    info = data.get("info")
    if not info:
        with open(os.path.join(pkgs, name, "package", "info.json")) as f:
            info = json.load(f)
    return data, (info.get("license") or {}).get("spdx", "?")


def icon_svg(data, name):
    """The icon's SVG document, aliases followed; None when the set lacks it."""
    icons, aliases = data["icons"], data.get("aliases", {})
    seen = 0
    while name not in icons and name in aliases and seen < 8:
        if any(k in aliases[name] for k in ("hFlip", "vFlip", "rotate")):
            return None
        name, seen = aliases[name]["parent"], seen + 1
    if name not in icons:
        return None
    ic = icons[name]
    left, top = ic.get("left", data.get("left", 0)), ic.get("top", data.get("top", 0))
    w = ic.get("width", data.get("width", 16))
    h = ic.get("height", data.get("height", 16))
    body = ic["body"].replace("currentColor", "#000")
    return ('<svg xmlns="http://www.w3.org/2000/svg" '
            'xmlns:xlink="http://www.w3.org/1999/xlink" '
            'viewBox="%s %s %s %s" width="%d" height="%d">%s</svg>'
            % (left, top, w, h, SIZE, SIZE, body)).encode()


def render(svg):
    png = subprocess.run(["rsvg-convert", "-w", str(SIZE), "-h", str(SIZE)],
                         input=svg, capture_output=True, check=True).stdout
    return Image.open(io.BytesIO(png)).convert("RGBA")


def fetch(pkgs):
    os.makedirs(pkgs, exist_ok=True)
    for name, version in PACKAGES.items():
        if os.path.exists(os.path.join(pkgs, name, "package", "icons.json")):
            continue
        tgz = subprocess.run(["npm", "pack", "-q", "@iconify-json/%s@%s" % (name, version)],
                             cwd=pkgs, capture_output=True, text=True,
                             check=True).stdout.split()[-1]
        os.makedirs(os.path.join(pkgs, name), exist_ok=True)
        subprocess.run(["tar", "xzf", tgz, "-C", name], cwd=pkgs, check=True)


def main(argv):
    do_fetch = "--fetch" in argv
    args = [a for a in argv if a != "--fetch"]
    if not args:
        sys.stderr.write(__doc__)
        return 2
    pkgs = args[0]
    here = os.path.dirname(os.path.abspath(__file__))
    out = args[1] if len(args) > 1 else os.path.join(here, "..", "tests", "fixtures", "devset-npm")
    if do_fetch:
        fetch(pkgs)
    os.makedirs(out, exist_ok=True)
    rows, missing, seen, sets = [], [], {}, {}
    for setname, style, icons in SETS:
        if setname not in sets:  # a set may be listed twice (outline and filled)
            sets[setname] = load_set(pkgs, setname)
        data, lic = sets[setname]
        for icon, label in icons:
            svg = icon_svg(data, icon)
            if svg is None:
                missing.append("%s:%s" % (setname, icon))
                continue
            fname = "%d-%s-%s.png" % (label, setname, icon)
            if svg in seen:  # an alias of an icon already taken: the same picture
                sys.stderr.write("make_devset_npm: %s is %s again\n" % (fname, seen[svg]))
                return 1
            seen[svg] = fname
            render(svg).save(os.path.join(out, fname), optimize=True)
            rows.append((fname, label, style, "@iconify-json/%s@%s" % (setname, PACKAGES[setname]),
                         "%s (%s)" % (icon, lic)))
    rows.sort()
    with open(os.path.join(out, "labels.tsv"), "w") as f:
        f.write("file\tlabel\tstyle\tpackage\tsource\n")
        for r in rows:
            f.write("%s\t%d\t%s\t%s\t%s\n" % r)
    if missing:
        sys.stderr.write("make_devset_npm: not in their sets: %s\n" % ", ".join(missing))
    print("%d pictures in %s" % (len(rows), out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
