/* prep.h: turning a person's picture into the 28x28 image the network
 * expects.
 *
 * Fashion-MNIST images are light clothing on black, the item filling the
 * frame along its longest side, centred (the data set's paper, section 2).
 * image_prepare makes that from any picture, in named steps, each with
 * its own test (tests/test_prep.c):
 *
 *  1. prep_reduce      a picture over PREP_MAX_SIDE pixels on a side is
 *                      first shrunk by area averaging (alpha-weighted).
 *  2. prep_border      the background, from the outermost ring of pixels:
 *                      transparent when at least half of it is, else its
 *                      one or two main colours (per-channel medians).
 *  3. prep_background  the background is every pixel connected to the
 *                      border (a flood fill, 4-neighbours) whose colour is
 *                      within PREP_TOLERANCE of a background colour (or
 *                      that is transparent); the item is everything else,
 *                      so the inside of a line drawing, or of a white
 *                      T-shirt drawn with a dark outline on white, is item.
 *  4. prep_despeckle   parts of the item smaller than PREP_SPECK of its
 *                      largest part (8-neighbours) are background: dust,
 *                      noise, a stray mark.
 *  5. prep_box         the item's bounding box.
 *  5b. prep_tile       a tile: on a transparent background, when the item
 *                      fills at least PREP_TILE_FILL of its box and the
 *                      box spans at least PREP_TILE_SPAN of the picture
 *                      both ways (a game item's tile, an app icon's
 *                      square), steps 2 to 5 run again on the box alone
 *                      (prep_crop), its own ring the background, while
 *                      they find an item of at least PREP_TILE_ITEM of
 *                      the tile, up to PREP_TILE_DEPTH deep (a line framing
 *                      the tile takes two more: the line, then what it
 *                      encloses). The last item found is the item when its
 *                      box's area is at most PREP_TILE_INNER of the
 *                      outermost tile's box's: a bag or a pullover filling
 *                      the picture stays itself.
 *  6. prep_polarity    what "ink" (0 = background, 255 = item) is measured
 *                      from: the background colour, so that a dark item on
 *                      white, a light one on black and a coloured one on a
 *                      background of the same brightness all stand out;
 *                      on a transparent background white or black: the
 *                      side the item's rim fades to (a cut-out keeps the
 *                      edge of its old background), else the side farther
 *                      from the item's median brightness; so a light item
 *                      on transparent works as well as a dark one.
 *                      --invert yes/no force ink from darkness/lightness.
 *  7. prep_ink         each item pixel's ink: its colour's distance from
 *                      that reference (root mean square over R, G, B:
 *                      exactly the luma difference for gray), composited
 *                      by alpha (the background's kept up to the
 *                      tolerance: faint edges stay). In a drawing (at
 *                      least PREP_DRAWING of the item is enclosed
 *                      background colour) those enclosed pixels may be
 *                      raised to fill x the item's strongest ink, so that
 *                      a line drawing reaches the network as a filled
 *                      shape (PREP_FILL: measured best at 0); a photo's
 *                      few light spots stay as they are.
 *  8. prep_resample    the box's longest edge to 28 (area averaging when
 *                      shrinking, linear interpolation when enlarging),
 *                      centred on 28x28 with the extra pixel of an odd
 *                      margin top/left, as in the data set.
 *  9. prep_stretch     the brightest pixel to 255 (data set items reach
 *                      254-255).
 *
 * A 28x28 opaque picture whose border ring has more pure black (0) than
 * pure white (255) pixels is already a data set image (all 70,000 are) and
 * passes through bit-exact; with more pure white it is a negated one and
 * is negated back exactly (--invert yes/no still decide). */
#ifndef FMNIST_PREP_H
#define FMNIST_PREP_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "image.h"

#define PREP_SIDE 28
/* Larger pictures are reduced first (step 1). */
#define PREP_MAX_SIDE 1024
/* image_prepare allocates at most this many bytes a pixel of what it works
 * on (the picture, or the reduced one: at most PREP_MAX_SIDE squared), and
 * 64 KB besides (tests/test_decode_memory.c measures it). */
#define PREP_BYTES_PER_PIXEL 64
/* A colour within this distance (RMS over R, G, B) of the background's is
 * background: the paper's "close to the corner colour", 5% of 255. */
#define PREP_TOLERANCE 12.75f
/* Parts of the item under this fraction of its largest part are specks. */
#define PREP_SPECK 0.01
/* The inside of a drawing (an item of which at least PREP_DRAWING is
 * enclosed background colour) is raised to at least this fraction of its
 * strongest ink (step 7). 0: left as drawn. Measured on the development
 * set (tools/devset_eval.py, docs/pictures.md): with models
 * trained on augmented images, which know outline drawings, leaving the
 * inside as drawn is best (outline drawings 11 of 17 right at 0, 8 at
 * 0.35, 6 at 1); with the tutorial's model 0.35 is one picture better. */
#define PREP_FILL 0.0f
#define PREP_DRAWING 0.25
/* On a transparent background, an item whose rim's median luma differs
 * from its own by this much was cut from the rim's side (step 6). */
#define PREP_RIM 32
/* A tile (step 5b): an item filling this share of its box, the box this
 * share of the picture's width and height; the item inside must cover
 * PREP_TILE_ITEM of the tile, and its box at most PREP_TILE_INNER of the
 * tile's box (in area); tiles within tiles, this many. */
#define PREP_TILE_FILL 0.95
#define PREP_TILE_SPAN 0.9
#define PREP_TILE_ITEM 0.1
#define PREP_TILE_INNER 0.85
#define PREP_TILE_DEPTH 3

enum image_invert { IMAGE_INVERT_AUTO, IMAGE_INVERT_YES, IMAGE_INVERT_NO };

/* What image_prepare decided, for showing to the user. */
typedef struct image_prep_info {
    int inverted;        /* ink from darkness: the background is the light side */
    int passthrough;     /* already a 28x28 data set image: used as is */
    int transparent_bg;  /* the background was transparent */
    int drawing;         /* much of the item is enclosed background colour: a drawing */
    int empty;           /* nothing stood out from the background: out is all 0 */
    int reduced;         /* the picture was first shrunk by this factor (1: not) */
    int tile;            /* the item was found inside a tile, this many deep (0: not) */
    int box_x, box_y, box_w, box_h; /* the item's bounding box in the picture */
} image_prep_info;

typedef struct image_prep_opts {
    enum image_invert invert;
    float fill; /* a drawing's inside's least ink, as a fraction of the strongest */
} image_prep_opts;

/* Turns img into the network's 28x28 8-bit gray input (out, 784 bytes,
 * row-major), with the defaults (--invert as given, PREP_FILL). When
 * nothing stands out from the background out is all zero (info->empty).
 * info may be NULL. Fails only when out of memory; then out and info are
 * untouched. */
int image_prepare(const image *img, enum image_invert invert, uint8_t out[PREP_SIDE * PREP_SIDE],
                  image_prep_info *info, fm_err *e);
/* The same with every option. */
int image_prepare_with(const image *img, const image_prep_opts *opts,
                       uint8_t out[PREP_SIDE * PREP_SIDE], image_prep_info *info, fm_err *e);

/* ---- the steps, in order ---- */

/* 1. *out is img shrunk by the smallest integer factor that brings both
 * sides to at most max_side (each output pixel the alpha-weighted mean of
 * its block, alpha the plain mean), or a copy when none is needed;
 * *factor gets the factor. On failure *out is untouched. */
int prep_reduce(const image *img, int max_side, image *out, int *factor, fm_err *e);

typedef struct prep_border {
    int transparent;       /* at least half of the ring is transparent (alpha < 128) */
    int ncolors;           /* 1 or 2 background colours (0 when transparent) */
    uint8_t color[2][3];
    /* For the pass-through test: */
    int all_opaque, n_black, n_white;
} prep_border;

/* 2. The ring's statistics. */
void prep_border_stats(const image *img, prep_border *b);

/* 3. item[y * w + x] = 0 for background (what the flood fill reached), 2
 * for item pixels of a background colour (enclosed by the item), 1 for the
 * rest of the item. Returns FM_ENOMEM when its stack cannot be allocated. */
int prep_background(const image *img, const prep_border *b, uint8_t *item, fm_err *e);

/* Whether a pixel of alpha a whose colour is at squared distance d2 (the
 * sum over R, G, B) from a background colour is within PREP_TOLERANCE of it
 * when composited: a / 255 * sqrt(d2 / 3) <= PREP_TOLERANCE, evaluated in
 * float (prep_near_ref); prep_near gives the same answer, mostly in
 * integers. */
int prep_near(int a, uint32_t d2);
int prep_near_ref(int a, uint32_t d2);

/* 4. Clears the parts (8-connected nonzero pixels) of item (0, 1 or 2 a
 * pixel, as step 3 makes it) smaller than frac of the largest. Returns
 * FM_ENOMEM when out of memory (item untouched). */
int prep_despeckle(uint8_t *item, int w, int h, double frac, fm_err *e);

/* 5. The bounding box of item's nonzero pixels; returns 0 when none. */
int prep_box(const uint8_t *item, int w, int h, int *x0, int *y0, int *x1, int *y1);

/* 5b. Whether the item of the box [x0, x1] x [y0, y1] is a tile: it fills
 * PREP_TILE_FILL of the box, which spans PREP_TILE_SPAN of w and h. */
int prep_tile(const uint8_t *item, int w, int h, int x0, int y0, int x1, int y1);

/* 5b. *out is the box [x0, x1] x [y0, y1] of img (inside it), copied.
 * Returns FM_ENOMEM when out of memory (*out untouched). */
int prep_crop(const image *img, int x0, int y0, int x1, int y1, image *out, fm_err *e);

typedef struct prep_ref {
    float rgb[3];    /* ink is the distance from this colour */
    int ncolors;     /* 2: also from color2, whichever is nearer */
    float rgb2[3];
    int inverted;    /* the reference is the light side */
} prep_ref;

/* 6. The reference colour(s) of ink for this picture. */
void prep_polarity(const image *img, const prep_border *b, const uint8_t *item,
                   enum image_invert invert, prep_ref *r);

/* 7. Ink of the box [x0, x1] x [y0, y1] into ink ((x1-x0+1) x (y1-y0+1),
 * row-major): the background's at most PREP_TOLERANCE; in a drawing, the enclosed pixels (2)
 * raised to at least fill x the strongest ink. Returns 1 for a drawing. */
int prep_ink(const image *img, const uint8_t *item, const prep_ref *r, int x0, int y0, int x1,
             int y1, float fill, float *ink);

/* 8. bw x bh ink resampled so its longest edge is 28 and centred into res
 * (28x28, zeros around). Returns FM_ENOMEM when out of memory. */
int prep_resample(const float *ink, int bw, int bh, float res[PREP_SIDE * PREP_SIDE], fm_err *e);

/* 9. res stretched so its maximum is 255, rounded into out. */
void prep_stretch(const float res[PREP_SIDE * PREP_SIDE], uint8_t out[PREP_SIDE * PREP_SIDE]);

#endif
