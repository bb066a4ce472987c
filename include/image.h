/* image.h: pictures in and out (PNG). prep.h turns a picture into the
 * 28x28 image the network expects. */
#ifndef FMNIST_IMAGE_H
#define FMNIST_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Pictures above this many pixels are refused before any pixel memory is
 * allocated (a decompression bomb guard): 50 megapixels. */
#define IMAGE_MAX_PIXELS 50000000u
/* Nor may a PNG's side exceed this: libpng's simplified API, which cannot
 * change its limits, refuses wider or taller images. */
#define IMAGE_MAX_SIDE 1000000u
/* Picture files (PNG or JPEG, picture.h) above this many bytes are refused
 * before being read. */
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
 * own message. So is image data (the IDAT chunks from the first) that its
 * rows do not account for, as libpng would inflate it all, whatever it
 * holds after the rows: more compressed bytes than any encoder writes for
 * the rows (their bytes, a quarter more, 32 bytes a row and 65,536), or
 * inflating to more than twice the rows' bytes (the stream is inflated
 * once first, no further than that). name is for messages. On failure
 * *out is untouched. */
int image_decode_png(const uint8_t *buf, size_t len, const char *name, image *out, fm_err *e);
/* Reads a PNG file; path "-" reads standard input. */
int image_read_png(const char *path, image *out, fm_err *e);
void image_free(image *img);

/* Encodes 8-bit gray pixels (w x h, row-major) as a PNG in a malloc'd buffer. */
int image_encode_gray_png(const uint8_t *pix, int w, int h, uint8_t **buf, size_t *len,
                          fm_err *e);
/* image_encode_gray_png, written atomically to path. */
int image_write_gray_png(const char *path, const uint8_t *pix, int w, int h, fm_err *e);

/* image_write_gray_png for 8-bit RGB pixels (w x h x 3 bytes, row-major). */
int image_write_rgb_png(const char *path, const uint8_t *pix, int w, int h, fm_err *e);

#endif
