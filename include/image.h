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
/* PNG files above this many bytes are refused before being read. */
#define IMAGE_MAX_FILE_BYTES ((size_t)256 << 20)

typedef struct image {
    int w, h;
    uint8_t *rgba; /* w * h * 4 bytes, 8-bit sRGB, straight alpha, row-major */
} image;

/* Decodes any PNG libpng reads (gray, gray+alpha, RGB, RGBA, palette with
 * tRNS, 1 to 16 bits, interlaced) to 8-bit RGBA. name is for messages. On
 * failure *out is untouched. */
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
    int passthrough;     /* already a 28x28 dark-background image: used as is */
    int transparent_bg;  /* the background was transparent */
    int box_x, box_y, box_w, box_h; /* the item's bounding box in the picture */
} image_prep_info;

/* Turns a picture into the network's 28x28 8-bit gray input (out, 784
 * bytes, row-major). info may be NULL. Fails only when out of memory; then
 * out is untouched. */
int image_prepare(const image *img, enum image_invert invert, uint8_t out[28 * 28],
                  image_prep_info *info, fm_err *e);

#endif
