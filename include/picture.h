/* picture.h: reading a person's picture, whatever its format: the format
 * is told from the bytes, never from the name.
 *
 * PNG and JPEG are decoded (image.h, jpeg.h). The formats people are most
 * likely to have instead (GIF, WebP, BMP, HEIC/HEIF, AVIF, TIFF, ICO, PSD,
 * SVG, JPEG 2000, JPEG XL) are recognised and refused by name, with a
 * command that would convert them; anything else is "not a picture fmnist
 * reads". */
#ifndef FMNIST_PICTURE_H
#define FMNIST_PICTURE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "image.h"

enum picture_format {
    PICTURE_UNKNOWN,
    PICTURE_PNG,
    PICTURE_JPEG,
    PICTURE_GIF,
    PICTURE_WEBP,
    PICTURE_BMP,
    PICTURE_HEIF, /* HEIC and HEIF: ISO BMFF with a heic/heix/mif1/msf1/... brand */
    PICTURE_AVIF,
    PICTURE_TIFF,
    PICTURE_ICO,
    PICTURE_PSD,
    PICTURE_SVG, /* SVG or other XML */
    PICTURE_JP2,
    PICTURE_JXL,
    PICTURE_HTML
};

/* The format of a file from its first bytes (any len, even 0). */
enum picture_format picture_sniff(const uint8_t *buf, size_t len);

/* The format's name as a message says it ("PNG", "HEIC/HEIF", ...). */
const char *picture_format_name(enum picture_format f);

/* Decodes a PNG or a JPEG (told from the bytes) to 8-bit RGBA: see
 * image_decode_png and image_decode_jpeg for what each reads and refuses.
 * Any other format is FM_EFORMAT, the message naming it and how to
 * convert it ("a GIF picture; fmnist reads PNG and JPEG (convert it, e.g.
 * 'convert x.gif x.png')"). name is for messages. On failure *out is
 * untouched. */
int picture_decode(const uint8_t *buf, size_t len, const char *name, image *out, fm_err *e);

/* The most memory picture_decode can allocate for these bytes (besides
 * them), judged from the header alone: for a PNG 4 bytes a declared pixel
 * (the RGBA it decodes to); for a JPEG those and, for a progressive one,
 * 2 bytes a pixel for each colour component (libjpeg keeps every
 * coefficient), or the turned copy an EXIF orientation makes, whichever
 * is more, plus 64 bytes a column for its rows. Other formats are
 * refused without allocating: 0. When the header cannot be read (no
 * intact IHDR, no frame header before the first scan), the most any
 * picture within IMAGE_MAX_PIXELS can take. */
uint64_t picture_decode_memory(const uint8_t *buf, size_t len);

/* Reads a picture file of at most IMAGE_MAX_FILE_BYTES and decodes it
 * with picture_decode; path "-" reads standard input (named "<stdin>"). */
int picture_read(const char *path, image *out, fm_err *e);

#endif
