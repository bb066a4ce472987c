/* image.c: PNG through libpng's simplified API. */
#include "image.h"
#include "bytes.h"

#include <inttypes.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fileio.h"

/* libpng's message, with the common ones said plainly. */
static int decode_fault(fm_err *e, const char *name, const char *msg)
{
    if (strstr(msg, "read beyond end of data") || strstr(msg, "Not enough image data"))
        return fm_fail(e, FM_EFORMAT, name, "truncated PNG (%s)", msg);
    if (strstr(msg, "CRC error"))
        return fm_fail(e, FM_EFORMAT, name, "corrupt PNG: %s", msg);
    return fm_fail(e, FM_EFORMAT, name, "bad PNG: %s", msg);
}

/* The declared size, from an intact IHDR (signature, length 13, "IHDR",
 * width, height, ..., CRC), is judged before libpng sees the file and
 * before anything is allocated: a 100000x100000 header in a 60-byte file
 * is refused at once. A damaged IHDR is left to libpng to report. */
static int check_declared(const uint8_t *buf, size_t len, const char *name, fm_err *e)
{
    if (len < 33 || bytes_be32(buf + 8) != 13 || memcmp(buf + 12, "IHDR", 4) != 0 ||
        (uint32_t)crc32(0, buf + 12, 17) != bytes_be32(buf + 29))
        return FM_OK;
    uint32_t w = bytes_be32(buf + 16), h = bytes_be32(buf + 20);
    if (w == 0 || h == 0)
        return fm_fail(e, FM_EFORMAT, name, "bad PNG: %" PRIu32 "x%" PRIu32
                       " pixels, an empty image", w, h);
    if ((uint64_t)w * h > IMAGE_MAX_PIXELS)
        return fm_fail(e, FM_ELIMIT, name,
                       "%" PRIu32 "x%" PRIu32 " pixels is over the limit of %u megapixels",
                       w, h, IMAGE_MAX_PIXELS / 1000000u);
    if (w > IMAGE_MAX_SIDE || h > IMAGE_MAX_SIDE)
        return fm_fail(e, FM_ELIMIT, name,
                       "%" PRIu32 "x%" PRIu32 " pixels: a side over %u pixels is over the "
                       "limit (libpng's)", w, h, IMAGE_MAX_SIDE);
    /* Deflate packs at most 1032 bytes into one (a 258-byte match in
     * two bits), so a small file cannot hold a large image: refuse one
     * whose IDAT bytes could not expand to the pixels it declares,
     * rather than allocating for them. */
    static const int channels[7] = {1, 0, 3, 1, 2, 0, 4};
    int depth = buf[24], type = buf[25];
    if (type <= 6 && channels[type] && (depth == 1 || depth == 2 || depth == 4 ||
                                        depth == 8 || depth == 16)) {
        uint64_t need = ((uint64_t)w * h * (uint64_t)(channels[type] * depth) + 7) / 8;
        uint64_t idat = 0;
        for (size_t at = 33; at + 12 <= len;) {
            uint32_t n = bytes_be32(buf + at);
            if (memcmp(buf + at + 4, "IDAT", 4) == 0)
                idat += n < len - at - 12 ? n : len - at - 12;
            if (memcmp(buf + at + 4, "IEND", 4) == 0 || n > len - at - 12)
                break;
            at += 12 + (size_t)n;
        }
        if (need > 1032 * idat + 1032)
            return fm_fail(e, FM_EFORMAT, name,
                           "truncated PNG: %" PRIu32 "x%" PRIu32 " pixels cannot come from "
                           "%" PRIu64 " byte%s of image data",
                           w, h, idat, fm_plural(idat));
    }
    return FM_OK;
}

int image_decode_png(const uint8_t *buf, size_t len, const char *name, image *out, fm_err *e)
{
    if (len == 0)
        return fm_fail(e, FM_EFORMAT, name, "empty file, not a PNG");
    if (len < 8 || png_sig_cmp(buf, 0, 8) != 0)
        return fm_fail(e, FM_EFORMAT, name, "not a PNG file");
    int rc = check_declared(buf, len, name, e);
    if (rc)
        return rc;
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&pi, buf, len)) {
        rc = decode_fault(e, name, pi.message);
        png_image_free(&pi);
        return rc;
    }
    /* 16-bit samples without gAMA or sRGB are sRGB-encoded in practice (what
     * every editor writes); libpng would otherwise take them as linear and
     * brighten them through the sRGB curve (v * 257 read back as far more
     * than v). 8-bit data and files that state their gamma are unaffected. */
    pi.flags |= PNG_IMAGE_FLAG_16BIT_sRGB;
    uint64_t pixels = (uint64_t)pi.width * pi.height;
    if (pi.width == 0 || pi.height == 0 || pixels > IMAGE_MAX_PIXELS) {
        /* Not reached after the check above; kept against a libpng that
         * would read the header differently. */
        png_image_free(&pi);
        return fm_fail(e, pixels ? FM_ELIMIT : FM_EFORMAT, name,
                       "%ux%u pixels is not within 1..%u megapixels", pi.width, pi.height,
                       IMAGE_MAX_PIXELS / 1000000u);
    }
    pi.format = PNG_FORMAT_RGBA;
    uint8_t *px = malloc((size_t)pixels * 4);
    if (!px) {
        png_image_free(&pi);
        return fm_fail(e, FM_ENOMEM, name, "out of memory for %ux%u pixels", pi.width,
                       pi.height);
    }
    if (!png_image_finish_read(&pi, NULL, px, 0, NULL)) {
        rc = decode_fault(e, name, pi.message);
        png_image_free(&pi);
        free(px);
        return rc;
    }
    out->w = (int)pi.width;
    out->h = (int)pi.height;
    out->rgba = px;
    return FM_OK;
}

int image_read_png(const char *path, image *out, fm_err *e)
{
    uint8_t *buf;
    size_t len;
    int rc = file_read_all(path, IMAGE_MAX_FILE_BYTES, &buf, &len, e);
    if (rc)
        return rc;
    rc = image_decode_png(buf, len, strcmp(path, "-") == 0 ? "<stdin>" : path, out, e);
    free(buf);
    return rc;
}

void image_free(image *img)
{
    if (!img)
        return;
    free(img->rgba);
    img->rgba = NULL;
}

/* Encodes w x h pixels of the given simplified-API format. */
static int encode_png(const uint8_t *pix, int w, int h, png_uint_32 format, uint8_t **buf,
                      size_t *len, fm_err *e)
{
    if (w < 1 || h < 1 || (uint64_t)w * (uint64_t)h > IMAGE_MAX_PIXELS)
        return fm_fail(e, FM_EINVAL, NULL, "cannot encode a %dx%d PNG", w, h);
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = (png_uint_32)w;
    pi.height = (png_uint_32)h;
    pi.format = format;
    png_alloc_size_t n = 0;
    if (!png_image_write_to_memory(&pi, NULL, &n, 0, pix, 0, NULL))
        return fm_fail(e, FM_EINVAL, NULL, "cannot encode PNG: %s", pi.message);
    uint8_t *b = malloc(n);
    if (!b)
        return fm_fail(e, FM_ENOMEM, NULL, "out of memory");
    if (!png_image_write_to_memory(&pi, b, &n, 0, pix, 0, NULL)) {
        free(b);
        return fm_fail(e, FM_EINVAL, NULL, "cannot encode PNG: %s", pi.message);
    }
    *buf = b;
    *len = n;
    return FM_OK;
}

static int write_png(const char *path, const uint8_t *pix, int w, int h, png_uint_32 format,
                     fm_err *e)
{
    uint8_t *buf;
    size_t len;
    int rc = encode_png(pix, w, h, format, &buf, &len, e);
    if (rc)
        return fm_in_file(e, rc, path);
    rc = file_write_atomic(path, buf, len, e);
    free(buf);
    return rc;
}

int image_encode_gray_png(const uint8_t *pix, int w, int h, uint8_t **buf, size_t *len,
                          fm_err *e)
{
    return encode_png(pix, w, h, PNG_FORMAT_GRAY, buf, len, e);
}

int image_write_gray_png(const char *path, const uint8_t *pix, int w, int h, fm_err *e)
{
    return write_png(path, pix, w, h, PNG_FORMAT_GRAY, e);
}

int image_write_rgb_png(const char *path, const uint8_t *pix, int w, int h, fm_err *e)
{
    return write_png(path, pix, w, h, PNG_FORMAT_RGB, e);
}
