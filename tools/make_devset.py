#!/usr/bin/python3
"""Build the development set of real pictures of clothing, tests/fixtures/devset/.

Every picture comes from an installed Debian package, drawn by that package's
authors (nobody on this project drew any of them). Each is extracted or
rendered as it is: raster files are re-saved as PNG (RGBA when the source has
transparency, else RGB), SVG files rendered at 256 px on their own transparent
background, font glyphs rendered black on white in their own cell (advance
width x ascent+descent) at 128 px, and tiles of a game's icon atlas copied at
their own size. Nothing is cropped, centred or otherwise processed.

Needs (Debian 12 packages):
    python3-pil, librsvg2-bin (rsvg-convert)
and the sources:
    libjs-jsxc libkf5emoticons-data libjs-emojify fonts-unifont mkdocs-material
    bootstrap-icons openstreetmap-carto-common pysiogame flare-game
    wesnoth-1.16-data raincat-data lincity-ng-data bomberclone-data
    imagemagick-6-doc
        apt-get install --no-install-recommends <the above>
    freecol minetest-mod-3d-armor (they pull in Java and Minetest, so unpack
    them instead):
        apt-get download freecol minetest-mod-3d-armor
        for d in freecol_*.deb minetest-mod-3d-armor_*.deb; do dpkg -x $d ROOT; done
A source is read from its installed path, else from under ROOT (--root ROOT).

None comes from fonts-noto-color-emoji, fonts-symbola or openclipart*, which
are kept for an independent check; tuxpaint-stamps-default, josm and
qabcs-data were left out because their clothes pictures are, or may be, Open
Clip Art Library work (see tests/fixtures/devset/SOURCES.md).

Usage: /usr/bin/python3 tools/make_devset.py [--root ROOT] [OUTDIR]
       (OUTDIR: default tests/fixtures/devset)
Writes OUTDIR/*.png and OUTDIR/labels.tsv; same bytes on every run.
"""
import io
import os
import subprocess
import sys

from PIL import Image, ImageDraw, ImageFont

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

JSXC = "/usr/share/javascript/jsxc/lib/emojione/assets/svg"
KEMO = "/usr/share/emoticons/EmojiOne"
EMOJIFY = "/usr/share/javascript/emojify.js/images/emoji"
UNIFONT = "/usr/share/fonts/opentype/unifont/unifont_upper.otf"
MKD = "/usr/share/mkdocs/themes/material/.icons"
BOOT = "/usr/share/bootstrap-icons/svg"
CARTO = "/usr/share/openstreetmap-carto-common/symbols/shop"
A4A = "/usr/share/games/pysiogame/res/images/art4apps/clothes_n_accessories"
FLARE = "/usr/share/games/flare/mods/fantasycore/images/icons/icons.png"
WES = "/usr/share/games/wesnoth/1.16/data/core/images/icons"
IMDOC = "/usr/share/doc/imagemagick-6-common/html/images"

# Emoji code points drawn in the emoji sets, with their class (left out:
# U+1F454 necktie (a shirt front with a tie), U+1F45E man's shoe, U+1F460
# high heel; U+1F6CD shopping bags (two bags and gifts), U+1F45D pouch and
# U+1F4BC briefcase, to keep Bag from swamping the set.)
EMOJI = [
    ("1f455", 0, "t-shirt"),
    ("1f3bd", 0, "running-shirt"),
    ("1f456", 1, "jeans"),
    ("1f457", 3, "dress"),
    ("1f461", 5, "sandal"),
    ("1f45a", 6, "womans-clothes"),
    ("1f45f", 7, "running-shoe"),
    ("1f45c", 8, "handbag"),
    ("1f45b", 8, "purse"),
    ("1f392", 8, "backpack"),
    ("1f462", 9, "womans-boot"),
]

# (output name, label, style, package, kind, source)
ITEMS = []
for cp, lab, name in EMOJI:
    ITEMS.append(("emojione3-%s" % name, lab, "emoji", "libjs-jsxc", "svg",
                  "%s/%s.svg" % (JSXC, cp)))
for cp, lab, name in EMOJI:
    ITEMS.append(("emojione2-%s" % name, lab, "emoji", "libkf5emoticons-data",
                  "raster", "%s/%s.png" % (KEMO, cp)))
# emojify.js: tshirt.png and shirt.png are the same polo shirt (collar and
# buttons: T-shirt or Shirt?), left out; so are mans_shoe, pouch, briefcase.
for name, lab in [("running_shirt_with_sash", 0), ("jeans", 1), ("dress", 3),
                  ("sandal", 5), ("womans_clothes", 6), ("shoe", 7),
                  ("handbag", 8), ("purse", 8), ("boot", 9)]:
    ITEMS.append(("emojify-%s" % name.replace("_", "-"), lab, "emoji",
                  "libjs-emojify", "raster", "%s/%s.png" % (EMOJIFY, name)))
# GNU Unifont's 16x16 emoji bitmaps: black outline drawings. Left out as
# unreadable or ambiguous at 16x16: sandal, pouch, backpack, shopping bags,
# running shirt, necktie.
for cp, lab, name in [("1f455", 0, "t-shirt"), ("1f456", 1, "jeans"),
                      ("1f457", 3, "dress"), ("1f9e5", 4, "coat"),
                      ("1f97c", 4, "lab-coat"), ("1f45a", 6, "womans-clothes"),
                      ("1f45f", 7, "running-shoe"), ("1f45c", 8, "handbag"),
                      ("1f45b", 8, "purse"), ("1f462", 9, "womans-boot"),
                      ("1f97e", 9, "hiking-boot")]:
    ITEMS.append(("unifont-%s" % name, lab, "outline", "fonts-unifont",
                  "glyph", "%s U+%s" % (UNIFONT, cp.upper())))
# Material Design Icons (as shipped in mkdocs-material): outline and filled.
for name, lab in [("tshirt-crew-outline", 0), ("tshirt-v-outline", 0),
                  ("purse-outline", 8), ("bag-personal-outline", 8),
                  ("shopping-outline", 8)]:
    ITEMS.append(("mdi-%s" % name, lab, "outline", "mkdocs-material", "svg",
                  "%s/material/%s.svg" % (MKD, name)))
for name, lab in [("tshirt-crew", 0), ("tshirt-v", 0), ("shoe-sneaker", 7),
                  ("purse", 8), ("bag-personal", 8), ("shopping", 8)]:
    ITEMS.append(("mdi-%s" % name, lab, "icon", "mkdocs-material", "svg",
                  "%s/material/%s.svg" % (MKD, name)))
# Font Awesome 6 Free solid (as shipped in mkdocs-material).
for name, lab in [("shirt", 0), ("bag-shopping", 8)]:
    ITEMS.append(("fa-%s" % name, lab, "icon", "mkdocs-material", "svg",
                  "%s/fontawesome/solid/%s.svg" % (MKD, name)))
# Bootstrap Icons: outline and -fill (bag and bag-fill, shopping bags much
# like MDI's shopping, left out).
for name, lab in [("handbag", 8)]:
    ITEMS.append(("bi-%s" % name, lab, "outline", "bootstrap-icons", "svg",
                  "%s/%s.svg" % (BOOT, name)))
    ITEMS.append(("bi-%s-fill" % name, lab, "icon", "bootstrap-icons", "svg",
                  "%s/%s-fill.svg" % (BOOT, name)))
# OpenStreetMap Carto's shop=clothes symbol (a T-shirt); shop=shoes is a
# formal shoe, left out.
ITEMS.append(("osmcarto-shop-clothes", 0, "icon", "openstreetmap-carto-common",
              "svg", "%s/clothes.svg" % CARTO))
# Art4Apps colour drawings (in pysiogame). Left out: overalls, shorts, heel,
# shoelace, slippers, vest, raincoat and others worn by a person.
for name, lab in [("sleeve", 0), ("trousers", 1), ("pullover", 2),
                  ("sweatshirt", 2), ("dress", 3), ("coat", 4), ("jacket", 4),
                  ("sandals", 5), ("shirt", 6), ("sneaker", 7), ("shoe", 9),
                  ("shoes", 9)]:
    ITEMS.append(("art4apps-%s" % name, lab, "clipart", "pysiogame", "raster",
                  "%s/%s.jpg" % (A4A, name)))
# Game item pictures: Flare's inventory icons (32x32 tiles of icons.png, the
# index from items/base/armor/*.txt) and Battle for Wesnoth's item icons.
for name, lab, idx in [("cloth-shirt", 6, 129), ("cloth-pants", 1, 131),
                       ("cloth-sandals", 5, 132), ("leather-pants", 1, 147),
                       ("leather-boots", 9, 148), ("magic-boots", 9, 176)]:
    ITEMS.append(("flare-%s" % name, lab, "game", "flare-game", "tile",
                  "%s #%d" % (FLARE, idx)))
for name, lab in [("dress_silk_green", 3), ("sandals", 5), ("boots_elven", 9)]:
    ITEMS.append(("wesnoth-%s" % name.replace("_", "-"), lab, "game",
                  "wesnoth-1.16-data", "raster", "%s/%s.png" % (WES, name)))
# More game items: FreeCol's goods "coats" (the default and the hutzli mod's
# art), Minetest 3d_armor's inventory boots (16x16), Raincat's rain boots
# button. (FreedroidRPG's rendered boots were left out: chunky lace-up shoes
# with cleats, Sneaker or Ankle boot?)
FREECOL = "/usr/share/games/freecol"
ITEMS.append(("freecol-coats", 4, "game", "freecol", "raster",
              FREECOL + "/default/resources/images/goods/coats.size2.png"))
ITEMS.append(("freecol-hutzli-coats", 4, "game", "freecol", "raster",
              FREECOL + "/mods/hutzli/resources/images/goods/coats.png"))
for name in ["steel", "wood"]:
    ITEMS.append(("minetest-3d-armor-boots-%s" % name, 9, "game",
                  "minetest-mod-3d-armor", "raster",
                  "/usr/share/games/minetest/mods/3d_armor/3d_armor/textures/"
                  "3d_armor_inv_boots_%s.png" % name))
ITEMS.append(("raincat-rainboots", 9, "game", "raincat-data", "raster",
              "/usr/share/games/raincat/data/item-buttons/item-rainboots.png"))
# LinCity NG's shoe-industry button (a work boot, 32x32).
ITEMS.append(("lincity-ng-shoes", 9, "game", "lincity-ng-data", "raster",
              "/usr/share/games/lincity-ng/images/gui/buttonpanel/shoes.png"))
# Photos: BomberClone's "faster" power-up, a small photo of a running shoe on
# the game's magenta key colour; ImageMagick's T-shirt, front and back side
# by side.
ITEMS.append(("bomberclone-pwshoe", 7, "photo", "bomberclone-data", "raster",
              "/usr/share/games/bomberclone/tileset/default/pwshoe.png"))
ITEMS.append(("imagemagick-t-shirt", 0, "photo", "imagemagick-6-doc", "raster",
              "%s/t-shirt.png" % IMDOC))

SVG_SIZE = 256
GLYPH_SIZE = 128
TILE = 32


ROOT = None


def find(path):
    """The installed file, else the one unpacked under --root."""
    if os.path.exists(path) or ROOT is None:
        return path
    return os.path.join(ROOT, path.lstrip("/"))


def has_alpha(im):
    if im.mode in ("RGBA", "LA", "PA"):
        return True
    return "transparency" in im.info


def load_raster(path):
    im = Image.open(find(path))
    im.load()
    if has_alpha(im):
        return im.convert("RGBA")
    return im.convert("RGB")


def render_svg(path):
    png = subprocess.run(["rsvg-convert", "-w", str(SVG_SIZE), "-h",
                          str(SVG_SIZE), "--keep-aspect-ratio", find(path)],
                         check=True, capture_output=True).stdout
    im = Image.open(io.BytesIO(png))
    im.load()
    return im.convert("RGBA")


def render_glyph(src):
    path, cp = src.split(" U+")
    font = ImageFont.truetype(find(path), GLYPH_SIZE)
    ch = chr(int(cp, 16))
    ascent, descent = font.getmetrics()
    width = int(round(font.getlength(ch)))
    im = Image.new("RGB", (width, ascent + descent), "white")
    ImageDraw.Draw(im).text((0, 0), ch, font=font, fill="black")
    return im


def tile(src):
    path, idx = src.split(" #")
    idx = int(idx)
    sheet = Image.open(find(path)).convert("RGBA")
    cols = sheet.width // TILE
    x, y = (idx % cols) * TILE, (idx // cols) * TILE
    return sheet.crop((x, y, x + TILE, y + TILE))


def main():
    global ROOT
    args = sys.argv[1:]
    if args[:1] == ["--root"]:
        ROOT = args[1]
        args = args[2:]
    out = args[0] if args else "tests/fixtures/devset"
    os.makedirs(out, exist_ok=True)
    rows = []
    names = set()
    for name, lab, style, pkg, kind, src in ITEMS:
        assert name not in names, name
        names.add(name)
        if kind == "raster":
            im = load_raster(src)
        elif kind == "svg":
            im = render_svg(src)
        elif kind == "glyph":
            im = render_glyph(src)
        elif kind == "tile":
            im = tile(src)
        else:
            raise ValueError(kind)
        fname = "%d-%s.png" % (lab, name)
        im.save(os.path.join(out, fname), optimize=True)
        rows.append((fname, lab, style, pkg, src))
    rows.sort()
    with open(os.path.join(out, "labels.tsv"), "w") as f:
        f.write("file\tlabel\tstyle\tpackage\tsource\n")
        for r in rows:
            f.write("%s\t%d\t%s\t%s\t%s\n" % r)
    print("%d pictures in %s" % (len(rows), out))


if __name__ == "__main__":
    main()
