/* picture.c: the format of a picture from its bytes, and one entry point
 * that decodes PNG and JPEG and names everything else. */
#include "picture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "fileio.h"
#include "jpeg.h"
#include "prep.h"

static int starts(const uint8_t *buf, size_t len, const void *magic, size_t n)
{
    return len >= n && memcmp(buf, magic, n) == 0;
}

/* ISO BMFF ("....ftyp" + major brand + version + compatible brands): HEIF
 * and AVIF by their brands; other brands (mp4, qt) are not pictures. */
static enum picture_format sniff_bmff(const uint8_t *buf, size_t len)
{
    static const char heif[][5] = {"heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1"};
    uint32_t box = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
    size_t end = box >= 16 && box <= len ? box : len < 64 ? len : 64;
    enum picture_format found = PICTURE_UNKNOWN;
    /* The major brand at 8, compatible brands from 16, 4 bytes each. */
    for (size_t at = 8; at + 4 <= end; at += at == 8 ? 8 : 4) {
        if (memcmp(buf + at, "avif", 4) == 0 || memcmp(buf + at, "avis", 4) == 0)
            return PICTURE_AVIF;
        for (size_t i = 0; i < sizeof heif / sizeof heif[0]; i++)
            if (memcmp(buf + at, heif[i], 4) == 0)
                found = PICTURE_HEIF;
    }
    return found;
}

/* After a UTF-8 byte order mark and white space: "<?xml", "<svg", or an
 * HTML page (a web page saved in place of its picture). */
static enum picture_format sniff_markup(const uint8_t *buf, size_t len)
{
    size_t i = starts(buf, len, "\xef\xbb\xbf", 3) ? 3 : 0;
    while (i < len && i < 4096 && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' ||
                                   buf[i] == '\n'))
        i++;
    const uint8_t *p = buf + i;
    size_t n = len - i;
    if (starts(p, n, "<?xml", 5) || starts(p, n, "<svg", 4))
        return PICTURE_SVG;
    static const char *html[] = {"<!DOCTYPE html", "<!doctype html", "<html", "<HTML"};
    for (size_t k = 0; k < sizeof html / sizeof html[0]; k++)
        if (starts(p, n, html[k], strlen(html[k])))
            return PICTURE_HTML;
    return PICTURE_UNKNOWN;
}

enum picture_format picture_sniff(const uint8_t *buf, size_t len)
{
    if (starts(buf, len, "\x89PNG\r\n\x1a\n", 8))
        return PICTURE_PNG;
    if (starts(buf, len, "\xff\xd8\xff", 3))
        return PICTURE_JPEG;
    if (starts(buf, len, "GIF87a", 6) || starts(buf, len, "GIF89a", 6))
        return PICTURE_GIF;
    if (starts(buf, len, "RIFF", 4) && len >= 12 && memcmp(buf + 8, "WEBP", 4) == 0)
        return PICTURE_WEBP;
    if (len >= 12 && memcmp(buf + 4, "ftyp", 4) == 0)
        return sniff_bmff(buf, len);
    if (starts(buf, len, "\0\0\0\x0cjP  \r\n\x87\n", 12) || starts(buf, len, "\xff\x4f\xff\x51", 4))
        return PICTURE_JP2;
    if (starts(buf, len, "\0\0\0\x0cJXL \r\n\x87\n", 12) || starts(buf, len, "\xff\x0a", 2))
        return PICTURE_JXL;
    if (starts(buf, len, "II*\0", 4) || starts(buf, len, "MM\0*", 4))
        return PICTURE_TIFF;
    if (starts(buf, len, "8BPS", 4))
        return PICTURE_PSD;
    /* BMP: "BM", then its DIB header's size at 14, one of the known ones. */
    if (starts(buf, len, "BM", 2) && len >= 18) {
        uint32_t dib = buf[14] | (uint32_t)buf[15] << 8 | (uint32_t)buf[16] << 16 |
                       (uint32_t)buf[17] << 24;
        if (dib == 12 || dib == 40 || dib == 52 || dib == 56 || dib == 64 || dib == 108 ||
            dib == 124)
            return PICTURE_BMP;
    }
    /* ICO and CUR: reserved 0, type 1 or 2, at least one image. */
    if (len >= 6 && buf[0] == 0 && buf[1] == 0 && (buf[2] == 1 || buf[2] == 2) && buf[3] == 0 &&
        (buf[4] | buf[5]) != 0)
        return PICTURE_ICO;
    return sniff_markup(buf, len);
}

const char *picture_format_name(enum picture_format f)
{
    switch (f) {
    case PICTURE_PNG: return "PNG";
    case PICTURE_JPEG: return "JPEG";
    case PICTURE_GIF: return "GIF";
    case PICTURE_WEBP: return "WebP";
    case PICTURE_BMP: return "BMP";
    case PICTURE_HEIF: return "HEIC/HEIF";
    case PICTURE_AVIF: return "AVIF";
    case PICTURE_TIFF: return "TIFF";
    case PICTURE_ICO: return "ICO";
    case PICTURE_PSD: return "Photoshop (PSD)";
    case PICTURE_SVG: return "SVG/XML";
    case PICTURE_JP2: return "JPEG 2000";
    case PICTURE_JXL: return "JPEG XL";
    case PICTURE_HTML: return "HTML";
    case PICTURE_UNKNOWN: break;
    }
    return "unknown";
}

/* The refusal of a format fmnist does not decode, with a command that
 * converts it: its input the file's name ("-" for standard input), its
 * output that name with .png for its extension. */
static int refuse(enum picture_format f, const char *name, fm_err *e)
{
    if (f == PICTURE_HTML)
        return fm_fail(e, FM_EFORMAT, name, "an HTML page, not a picture (a web page saved in "
                                            "place of its picture?); fmnist reads PNG and JPEG");
    if (f == PICTURE_UNKNOWN)
        return fm_fail(e, FM_EFORMAT, name, "not a picture fmnist knows; it reads PNG and JPEG");
    int in_stdin = strcmp(name, "<stdin>") == 0;
    const char *in = in_stdin ? "-" : name;
    const char *base = strrchr(in, '/') ? strrchr(in, '/') + 1 : in;
    const char *dot = strrchr(base, '.');
    int stem = dot && dot != base ? (int)(dot - in) : (int)strlen(in);
    char png[256], qin[300], qout[300];
    if (in_stdin)
        snprintf(png, sizeof png, "picture.png");
    else if (strcmp(in + stem, ".png") == 0) /* a GIF named .png: not over itself */
        snprintf(png, sizeof png, "%.*s-converted.png", stem > 200 ? 200 : stem, in);
    else
        snprintf(png, sizeof png, "%.*s.png", stem > 200 ? 200 : stem, in);
    fm_shell_word(in, qin, sizeof qin);
    fm_shell_word(png, qout, sizeof qout);
    char cmd[700];
    if (f == PICTURE_HEIF || f == PICTURE_AVIF)
        snprintf(cmd, sizeof cmd, "heif-convert %s %s", qin, qout);
    else if (f == PICTURE_SVG)
        snprintf(cmd, sizeof cmd, "rsvg-convert -o %s %s", qout, qin);
    else
        snprintf(cmd, sizeof cmd, "convert %s %s", qin, qout);
    return fm_fail(e, FM_EFORMAT, name, "%s %s %s; fmnist reads PNG and JPEG (%s it, e.g. '%s')",
                   f == PICTURE_ICO || f == PICTURE_AVIF || f == PICTURE_SVG ? "an" : "a", picture_format_name(f),
                   f == PICTURE_SVG ? "file" : "picture", f == PICTURE_SVG ? "render" : "convert",
                   cmd);
}

int picture_decode(const uint8_t *buf, size_t len, const char *name, image *out, fm_err *e)
{
    if (len == 0)
        return fm_fail(e, FM_EFORMAT, name, "empty file, not a picture");
    enum picture_format f = picture_sniff(buf, len);
    if (f == PICTURE_PNG)
        return image_decode_png(buf, len, name, out, e);
    if (f == PICTURE_JPEG)
        return image_decode_jpeg(buf, len, name, out, e);
    return refuse(f, name, e);
}

/* What a JPEG's headers say, from walking its markers as libjpeg does up
 * to the first scan: the frame (the first SOFn) and whether libjpeg will
 * keep every coefficient (a progressive frame, or a first scan of fewer
 * components than the frame: more scans follow). 0 when the walk cannot
 * tell. */
typedef struct jpeg_shape {
    uint64_t w, h;
    int comps, all_coefficients;
} jpeg_shape;

static int jpeg_walk(const uint8_t *buf, size_t len, jpeg_shape *js)
{
    int framed = 0;
    for (size_t at = 2; at + 4 <= len;) {
        unsigned m = buf[at + 1];
        if (buf[at] != 0xff || m == 0xd9)
            return 0;
        if (m == 0xff || m == 0x01 || (m >= 0xd0 && m <= 0xd8)) { /* fill, TEM, RSTn, SOI */
            at += m == 0xff ? 1 : 2;
            continue;
        }
        /* A length under 2 lands on its own bytes, not on 0xff: none. */
        size_t n = bytes_be16(buf + at + 2);
        if (m == 0xda) { /* SOS: Ns after the length */
            if (!framed || len - at < 5)
                return 0;
            js->all_coefficients |= buf[at + 4] < js->comps;
            return 1;
        }
        if (m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc && !framed) {
            if (n < 8 || len - at < 10)
                return 0;
            js->h = bytes_be16(buf + at + 5), js->w = bytes_be16(buf + at + 7);
            js->comps = buf[at + 9];
            js->all_coefficients = (m & 3) == 2;
            framed = 1;
        }
        at += 2 + n;
    }
    return 0;
}

/* libpng's own allocations besides the rows: an ICC profile (iCCP, the one
 * compressed chunk the simplified API keeps) up to its limit of 8,000,000
 * bytes, twice (a later iCCP is read while the first is kept), when one
 * comes before the image data; zlib's and libpng's state. */
static uint64_t png_extra(const uint8_t *buf, size_t len)
{
    uint64_t extra = (uint64_t)1 << 20;
    for (size_t at = 8; at + 8 <= len;) {
        uint32_t n = bytes_be32(buf + at);
        if (memcmp(buf + at + 4, "IDAT", 4) == 0 || memcmp(buf + at + 4, "IEND", 4) == 0)
            break;
        if (memcmp(buf + at + 4, "iCCP", 4) == 0) /* a second one is read while the first is kept */
            return extra + 2 * 8000000;
        if (n > len - at - 8)
            break;
        at += 12 + (size_t)n;
    }
    return extra;
}

uint64_t picture_decode_memory(const uint8_t *buf, size_t len)
{
    const uint64_t most = IMAGE_MAX_PIXELS;
    enum picture_format f = picture_sniff(buf, len);
    if (f != PICTURE_PNG && f != PICTURE_JPEG)
        return 0;
    uint64_t w = 65535, h = most / 65535, px, prep, need;
    if (f == PICTURE_PNG) {
        if (len >= 24 && memcmp(buf + 12, "IHDR", 4) == 0)
            w = bytes_be32(buf + 16), h = bytes_be32(buf + 20);
        if (w * h > most || w > IMAGE_MAX_SIDE || h > IMAGE_MAX_SIDE)
            w = 65535, h = most / 65535;
        px = w * h;
        /* The RGBA, and rows of up to 8 bytes a pixel (16-bit RGBA) a few times. */
        need = 4 * px + 64 * (w + 1) + png_extra(buf, len);
    } else {
        jpeg_shape js = {65535, most / 65535, 10, 1};
        if (!jpeg_walk(buf, len, &js) || js.w * js.h > most)
            js = (jpeg_shape){65535, most / 65535, 10, 1};
        w = js.w, h = js.h, px = w * h;
        uint64_t comps = js.comps < 10 ? (uint64_t)js.comps : 10;
        /* libjpeg pads each component to whole MCUs (up to 32 pixels), keeps
         * 2 bytes a coefficient when it keeps them all, and up to 32 rows
         * a component besides (APP1 segments are not kept: jpeg.c notes
         * where the EXIF one lies); the turned copy an EXIF orientation
         * makes comes after the coefficients are freed. */
        uint64_t coef = js.all_coefficients ? 2 * comps * (w + 31) * (h + 31) : 0;
        need = 4 * px + (coef > 4 * px ? coef : 4 * px) + (32 * comps + 16) * (w + 31) +
               ((uint64_t)1 << 20);
    }
    /* image_prepare works on the picture reduced as prep_reduce does (by
     * the factor that brings its longer side within PREP_MAX_SIDE). */
    uint64_t big = w > h ? w : h, k = (big + PREP_MAX_SIDE - 1) / PREP_MAX_SIDE;
    k = k ? k : 1;
    prep = ((w + k - 1) / k) * ((h + k - 1) / k);
    return need + PREP_BYTES_PER_PIXEL * prep + ((uint64_t)64 << 10);
}

int picture_read(const char *path, image *out, fm_err *e)
{
    uint8_t *buf;
    size_t len;
    int rc = file_read_all(path, IMAGE_MAX_FILE_BYTES, &buf, &len, e);
    if (rc)
        return rc;
    rc = picture_decode(buf, len, strcmp(path, "-") == 0 ? "<stdin>" : path, out, e);
    free(buf);
    return rc;
}
