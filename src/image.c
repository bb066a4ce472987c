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

/* Adam7's passes: the first column and row of each, and the step between
 * its columns and between its rows. */
static const uint8_t adam7[7][4] = {{0, 8, 0, 8}, {4, 8, 0, 8}, {0, 4, 4, 8}, {2, 4, 0, 4},
                                    {0, 2, 2, 4}, {1, 2, 0, 2}, {0, 1, 1, 2}};

/* The bytes the image data inflates to: each row's filter byte and its
 * pixels at bits each, packed (whole bytes a row), over the seven passes
 * of an interlaced image (a pass without pixels has no rows); *rows
 * counts the rows. */
static uint64_t row_bytes(uint32_t w, uint32_t h, unsigned bits, int interlaced, uint64_t *rows)
{
    static const uint8_t whole[4] = {0, 1, 0, 1};
    uint64_t n = 0;
    *rows = 0;
    for (int p = 0; p < (interlaced ? 7 : 1); p++) {
        const uint8_t *a = interlaced ? adam7[p] : whole;
        uint64_t pw = w > a[0] ? (w - a[0] + a[1] - 1) / a[1] : 0;
        uint64_t ph = h > a[2] ? (h - a[2] + a[3] - 1) / a[3] : 0;
        if (pw && ph) {
            n += ph * (1 + (pw * bits + 7) / 8);
            *rows += ph;
        }
    }
    return n;
}

/* The image data as libpng reads it: the IDAT chunks from the first one
 * on, up to the next chunk of another type (each cut at the file's end).
 * Returns their bytes; *first is where the first one starts (0: none). */
static uint64_t idat_run(const uint8_t *buf, size_t len, size_t *first)
{
    uint64_t n = 0;
    *first = 0;
    for (size_t at = 33; at + 8 <= len;) {
        uint32_t k = bytes_be32(buf + at);
        size_t has = len - at - 8 < k ? len - at - 8 : k;
        if (memcmp(buf + at + 4, "IDAT", 4) == 0) {
            *first = *first ? *first : at;
            n += has;
        } else if (*first) {
            break;
        }
        if (has < k || len - at - 8 - has < 4)
            break;
        at += 12 + (size_t)k;
    }
    return n;
}

/* Whether the image data, inflated as libpng inflates it, holds more than
 * limit bytes. libpng reads the rows, then inflates whatever the stream
 * holds after them, to its end, and drops it with a warning: a 1 MB file
 * holding 1 GiB of zeros after a 28x28 image took 2.6 s, and the time
 * grows with the file. So the stream is inflated here first, into a
 * buffer of its own, and no further than limit: time in proportion to the
 * image. zlib is given libpng's 32 KB window (the most its header may
 * ask for), so it inflates every stream libpng inflates to the same bytes.
 * Returns 1 when the data holds more, 0 when not or when zlib fails (libpng
 * then says what is wrong), -1 when out of memory. */
static int inflates_past(const uint8_t *buf, size_t len, size_t first, uint64_t limit)
{
    enum { SCRATCH = 64 << 10 };
    uint8_t *out = malloc(SCRATCH);
    z_stream z;
    memset(&z, 0, sizeof z);
    if (!out || inflateInit2(&z, 15) != Z_OK) {
        free(out);
        return -1;
    }
    uint64_t got = 0;
    int ret = Z_OK;
    for (size_t at = first; ret == Z_OK && at + 8 <= len && memcmp(buf + at + 4, "IDAT", 4) == 0;) {
        uint32_t k = bytes_be32(buf + at);
        size_t has = len - at - 8 < k ? len - at - 8 : k;
        z.next_in = (Bytef *)(uintptr_t)(buf + at + 8);
        z.avail_in = (uInt)has;
        while (ret == Z_OK && z.avail_in > 0 && got <= limit) {
            z.next_out = out;
            z.avail_out = SCRATCH;
            ret = inflate(&z, Z_NO_FLUSH);
            got += SCRATCH - z.avail_out;
        }
        if (got > limit || has < k || len - at - 8 - has < 4)
            break;
        at += 12 + (size_t)k;
    }
    inflateEnd(&z);
    free(out);
    return got > limit;
}

/* The image data against the rows it is to fill (see image.h): its
 * compressed bytes, then what it inflates to. */
static int check_image_data(const uint8_t *buf, size_t len, uint32_t w, uint32_t h,
                            unsigned bits, int interlaced, const char *name, fm_err *e)
{
    uint64_t rows, raw = row_bytes(w, h, bits, interlaced, &rows);
    size_t first;
    uint64_t z = idat_run(buf, len, &first);
    /* Stored blocks add 5 bytes to each 65,535; fixed Huffman codes spend
     * at most 9 bits a byte; an encoder flushing after each row adds 10
     * bytes a row (a stored block's header and an empty block), libpng
     * told to flush each row through a 7-byte buffer 22.5. */
    uint64_t most = raw + raw / 4 + 32 * rows + 65536;
    if (z > most)
        return fm_fail(e, FM_EFORMAT, name,
                       "bad PNG: %" PRIu64 " bytes of image data for %" PRIu32 "x%" PRIu32
                       " pixels, more than any encoder writes (at most %" PRIu64 ")",
                       z, w, h, most);
    int past = first ? inflates_past(buf, len, first, 2 * raw) : 0;
    if (past < 0)
        return fm_fail(e, FM_ENOMEM, name, "out of memory");
    if (past)
        return fm_fail(e, FM_EFORMAT, name,
                       "bad PNG: its image data inflates to more than %" PRIu64 " bytes, "
                       "twice what its %" PRIu32 "x%" PRIu32 " pixels fill",
                       2 * raw, w, h);
    return FM_OK;
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
        if (buf[28] <= 1)
            return check_image_data(buf, len, w, h, (unsigned)(channels[type] * depth), buf[28],
                                    name, e);
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
