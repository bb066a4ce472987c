/* image.h: PNG in and out, and turning a person's picture into the 28x28
 * image the network expects.
 *
 * Fashion-MNIST images are light clothing on black, the item filling the
 * frame along its longest side, centred (the data set's paper, section 2).
 * image_prepare turns any picture into that. */
#ifndef FMNIST_IMAGE_H
#define FMNIST_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Pictures above this many pixels are refused before any pixel memory is
 * allocated (a decompression bomb guard): 50 megapixels. */
#define IMAGE_MAX_PIXELS 50000000u
/* Nor may a side exceed this: libpng's simplified API, which cannot change
 * its limits, refuses wider or taller images. */
#define IMAGE_MAX_SIDE 1000000u
/* PNG files above this many bytes are refused before being read. */
#define IMAGE_MAX_FILE_BYTES ((size_t)256 << 20)

typedef struct image {
    int w, h;
    uint8_t *rgba; /* w * h * 4 bytes, 8-bit sRGB, straight alpha, row-major */
} image;

/* Decodes any PNG libpng reads (gray, gray+alpha, RGB, RGBA, palette with
 * tRNS, 1 to 16 bits, interlaced) to 8-bit RGBA. 16-bit samples without a
 * gAMA or sRGB chunk are taken as sRGB (v * 257 reads as v), not linear.
 * The declared size is judged from the IHDR before libpng runs or anything
 * is allocated: over IMAGE_MAX_PIXELS, or a side over IMAGE_MAX_SIDE, is
 * FM_ELIMIT; 0 pixels, or more than
 * the file's image data could inflate to (deflate: at most 1032x), is
 * FM_EFORMAT, as are not-a-PNG, truncated and corrupt files, each with its
 * own message. name is for messages. On failure *out is untouched. */
int image_decode_png(const uint8_t *buf, size_t len, const char *name, image *out, fm_err *e);
/* Reads a PNG file; path "-" reads standard input. */
int image_read_png(const char *path, image *out, fm_err *e);
void image_free(image *img);

/* Encodes 8-bit gray pixels (w x h, row-major) as a PNG in a malloc'd buffer. */
int image_encode_gray_png(const uint8_t *pix, int w, int h, uint8_t **buf, size_t *len,
                          fm_err *e);
/* image_encode_gray_png, written atomically to path. */
int image_write_gray_png(const char *path, const uint8_t *pix, int w, int h, fm_err *e);

/* image_encode_gray_png and image_write_gray_png for 8-bit RGB pixels
 * (w x h x 3 bytes, row-major). */
int image_encode_rgb_png(const uint8_t *pix, int w, int h, uint8_t **buf, size_t *len,
                         fm_err *e);
int image_write_rgb_png(const char *path, const uint8_t *pix, int w, int h, fm_err *e);

enum image_invert { IMAGE_INVERT_AUTO, IMAGE_INVERT_YES, IMAGE_INVERT_NO };

/* What image_prepare decided, for showing to the user. */
typedef struct image_prep_info {
    int inverted;        /* the picture was light-background: made dark */
    int passthrough;     /* already a 28x28 data set image: used as is */
    int transparent_bg;  /* the background was transparent */
    int silhouette;      /* nothing showed over white: the alpha channel was used */
    int empty;           /* nothing stood out from the background: out is all 0 */
    int box_x, box_y, box_w, box_h; /* the item's bounding box in the picture */
} image_prep_info;

/* Turns a picture into the network's 28x28 8-bit gray input (out, 784
 * bytes, row-major), as the data set's paper made its images:
 *
 *  1. The background is the outermost ring of pixels: transparent when at
 *     least half of it is (then it counts as white, a product shot's
 *     background), else the median luma of the ring. --invert auto makes
 *     the item light on black: it negates when the background is light.
 *  2. Each pixel's "ink" is its luma (negated when inverting), composited
 *     over the background (transparent pixels have none), minus the
 *     background's own ink (a gray table is not part of the item).
 *  3. The item's box: pixels with ink above 5% of 255 (the paper's trim).
 *  4. Its longest edge is scaled to 28 (area averaging when shrinking,
 *     linear interpolation when enlarging), centred on 28x28 with the
 *     extra pixel of an odd margin top/left, as in the data set.
 *  5. The brightest pixel is stretched to 255 (data set items reach 254-255).
 *
 * A 28x28 opaque picture whose border ring has more pure black (0) than
 * pure white (255) pixels is already a data set image (all 70,000 are) and
 * passes through bit-exact; with more pure white it is a negated one and
 * is negated back exactly (--invert yes/no still decide). A light item on
 * a transparent background needs IMAGE_INVERT_NO; a white one that
 * vanishes over white is taken by its alpha channel (info->silhouette).
 * When nothing stands out from the background out is all zero
 * (info->empty). info may be NULL. Fails only when out of memory; then
 * out and info are untouched. */
int image_prepare(const image *img, enum image_invert invert, uint8_t out[28 * 28],
                  image_prep_info *info, fm_err *e);

typedef struct image_prep_opts {
    enum image_invert invert;
    /* Unsharp masking after shrinking, as the paper's pipeline sharpens (a
     * Gaussian of radius 1, sigma 1): out += sharpen * (out - blurred).
     * image_prepare uses 0, off: on the 10,000 test images (model of
     * `train --epochs 5`, tools/prep_study.c) 0.5 lifts smooth 10x
     * bilinear enlargements from 86.26% to 86.61% but drops sharp 10x
     * nearest ones from 86.56% to 85.91% (1.0: 86.70% and 84.60%); eval
     * on the originals gives 86.51%. */
    float sharpen;
} image_prep_opts;

/* image_prepare with every option. */
int image_prepare_with(const image *img, const image_prep_opts *opts, uint8_t out[28 * 28],
                       image_prep_info *info, fm_err *e);

#endif
