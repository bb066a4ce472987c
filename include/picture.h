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

/* The most memory that picture_decode, then image_prepare of what it
 * decoded, allocate at once for these bytes (besides them), libpng's and
 * libjpeg's own allocations included, judged from the headers alone (for
 * classify's memory budget; tests/test_decode_memory.c counts every
 * allocation against it, and the fuzz harness under ASan): for a PNG, the
 * RGBA, 64 bytes a column for rows, and twice libpng's 8,000,000-byte
 * limit for an ICC profile (a second iCCP is read while the first is
 * kept) when an iCCP chunk comes before the image data; for a JPEG, the
 * RGBA, every coefficient (2 bytes each, of each component padded to
 * whole 32-pixel blocks) when the frame is progressive or its first scan
 * holds fewer components than the frame (else room for the turned copy an
 * EXIF orientation makes) and its row buffers; for both, 1 MB for the libraries' state
 * and PREP_BYTES_PER_PIXEL a pixel of the picture image_prepare works on.
 * Formats refused without decoding: 0. When the header cannot be read (no
 * intact IHDR; no frame and scan header before the first scan), the most
 * any picture within IMAGE_MAX_PIXELS can take, over 1 GiB. */
uint64_t picture_decode_memory(const uint8_t *buf, size_t len);

/* Reads a picture file of at most IMAGE_MAX_FILE_BYTES and decodes it
 * with picture_decode; path "-" reads standard input (named "<stdin>"). */
int picture_read(const char *path, image *out, fm_err *e);

#endif
