/* jpeg.h: JPEG in, through libjpeg-turbo, and the EXIF orientation that
 * phone photos depend on.
 *
 * Every input is hostile: libjpeg runs under an error manager that never
 * prints and never exits (its errors longjmp back, its messages are kept),
 * and any corrupt-data warning (premature end of data, a bad Huffman code,
 * extraneous bytes, an inconsistent progression) is an error, so a damaged
 * file never decodes to a half-grey picture. Only warnings that leave the
 * pixels unaffected (an unknown JFIF revision or Adobe transform code, a
 * bad ICC profile marker) are ignored. */
#ifndef FMNIST_JPEG_H
#define FMNIST_JPEG_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "image.h"

/* Decodes a JPEG (baseline, extended, progressive; Huffman or arithmetic
 * coded) to 8-bit RGBA with alpha 255: grayscale, YCbCr and RGB as they
 * are; CMYK and YCCK by their Adobe APP14 marker's convention (Photoshop
 * writes inverted CMYK, 0 = full ink; without the marker CMYK is taken as
 * plain, 255 = full ink), converted naively (R = (1-C)(1-K)), as every
 * browser does without a colour profile. Other component counts or colour
 * spaces, 12-bit and lossless JPEGs are FM_EFORMAT with their own message.
 * An EXIF orientation (1..8) is applied, so the picture comes out upright;
 * malformed EXIF is FM_EFORMAT (the picture's orientation is unknown).
 *
 * Sizes are judged from the header, before any pixel memory exists:
 * over IMAGE_MAX_PIXELS is FM_ELIMIT; a Huffman-coded file shorter than
 * one bit per 8x8 block of its smallest component is FM_EFORMAT (its first
 * scan, sequential or a progressive DC scan, codes every block of the
 * components it covers in at least one bit, and libjpeg's own warning on
 * running out of data is an error here), so a few hundred bytes cannot
 * claim 50 megapixels. Arithmetic coding has no such bound: it codes a
 * blank block in far under a bit (libjpeg writes a blank 7000x7000 picture
 * in 211 bytes), and libjpeg decodes a scan cut short as if zeros followed.
 * So an arithmetic-coded file of more than JPEG_ARITH_PIXELS_PER_BYTE
 * pixels a byte of the file is FM_ELIMIT: a nearly blank picture, or one
 * claiming a size its bytes do not hold. Pictures with anything in them
 * take far more bytes: a photo, even enlarged 5 times and at quality 10,
 * about 50 pixels a byte; test image 0 enlarged 10x (280x280), dark on
 * white, in a corner of a white 4096x4096 picture, gray, at quality 10,
 * 14,000 (2.3 times under the limit). libjpeg's memory is
 * capped (max_memory_to_use) at what the declared picture can need: its
 * whole-image coefficient buffer (progressive and multi-scan files keep
 * one: 128 bytes per 8x8 block of every component, in whole MCUs) plus
 * 64 MB for tables and row buffers. libjpeg judges its whole-image
 * buffers against it, so one larger than the header said fails
 * (FM_ELIMIT) rather than being allocated. A 49-megapixel progressive
 * JPEG peaks near 490 MB (coefficients, then the RGBA picture); turning it
 * by its EXIF orientation needs a second picture's worth. Every scan of a
 * progressive file is a pass over its whole coefficient buffer, so a file
 * of more than JPEG_MAX_SCANS scans (progressive or not) is FM_ELIMIT, refused when libjpeg
 * reaches its first scan past the limit (encoders write 10 or fewer; 2,000
 * scans of single coefficients took 68 s and 480 MB from a 38 KB file).
 * name is for messages. On failure *out is untouched. */
#define JPEG_MAX_SCANS 64
#define JPEG_ARITH_PIXELS_PER_BYTE 32768
int image_decode_jpeg(const uint8_t *buf, size_t len, const char *name, image *out, fm_err *e);

/* The orientation in an APP1 segment's payload (seg, len bytes: "Exif\0\0",
 * then a TIFF header, II or MM, and IFD0): tag 0x0112, one SHORT, 1..8.
 * Only IFD0 is read (no offset is followed beyond it, so nothing can
 * loop); every offset and count is checked against len. A payload that
 * does not start with "Exif\0\0" (XMP shares APP1), or an IFD0 without the
 * tag, gives 1 (upright). A malformed one is FM_EFORMAT with a message
 * saying which field is wrong; name is for messages. On failure
 * *orientation is untouched. */
int image_exif_orientation(const uint8_t *seg, size_t len, const char *name, int *orientation,
                           fm_err *e);

/* Turns a picture stored with EXIF orientation o (1..8) upright: 2 mirror,
 * 3 rotate 180, 4 flip, 5 transpose, 6 rotate 90 clockwise, 7 transverse,
 * 8 rotate 90 counter-clockwise (5 to 8 swap width and height). *out is a
 * new picture; in is unchanged. FM_EINVAL for o outside 1..8, FM_ENOMEM;
 * on failure *out is untouched. */
int image_orient(const image *in, int o, image *out, fm_err *e);

#endif
