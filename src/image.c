/* image.c: PNG through libpng's simplified API, and the data set's
 * preprocessing pipeline for a person's pictures. */
#include "image.h"

#include <inttypes.h>
#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fileio.h"

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* libpng's message, with the common ones said plainly. */
static int png_fault(fm_err *e, const char *name, const char *msg)
{
    if (strstr(msg, "read beyond end of data") || strstr(msg, "Not enough image data"))
        return fm_fail(e, FM_EFORMAT, name, "truncated PNG (%s)", msg);
    if (strstr(msg, "CRC error"))
        return fm_fail(e, FM_EFORMAT, name, "corrupt PNG: %s", msg);
    return fm_fail(e, FM_EFORMAT, name, "bad PNG: %s", msg);
}

int image_decode_png(const uint8_t *buf, size_t len, const char *name, image *out, fm_err *e)
{
    if (len == 0)
        return fm_fail(e, FM_EFORMAT, name, "empty file, not a PNG");
    if (len < 8 || png_sig_cmp(buf, 0, 8) != 0)
        return fm_fail(e, FM_EFORMAT, name, "not a PNG file");
    /* The declared size, from an intact IHDR (signature, length 13, "IHDR",
     * width, height, ..., CRC), is judged before libpng sees the file and
     * before anything is allocated: a 100000x100000 header in a 60-byte
     * file is refused at once. A damaged IHDR is left to libpng to report. */
    if (len >= 33 && be32(buf + 8) == 13 && memcmp(buf + 12, "IHDR", 4) == 0 &&
        (uint32_t)crc32(0, buf + 12, 17) == be32(buf + 29)) {
        uint32_t w = be32(buf + 16), h = be32(buf + 20);
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
                uint32_t n = be32(buf + at);
                if (memcmp(buf + at + 4, "IDAT", 4) == 0)
                    idat += n < len - at - 12 ? n : len - at - 12;
                if (memcmp(buf + at + 4, "IEND", 4) == 0 || n > len - at - 12)
                    break;
                at += 12 + (size_t)n;
            }
            if (need > 1032 * idat + 1032)
                return fm_fail(e, FM_EFORMAT, name,
                               "truncated PNG: %" PRIu32 "x%" PRIu32 " pixels cannot come from "
                               "%" PRIu64 " bytes of image data",
                               w, h, idat);
        }
    }
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&pi, buf, len)) {
        int rc = png_fault(e, name, pi.message);
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
        int rc = png_fault(e, name, pi.message);
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

int image_encode_rgb_png(const uint8_t *pix, int w, int h, uint8_t **buf, size_t *len,
                         fm_err *e)
{
    return encode_png(pix, w, h, PNG_FORMAT_RGB, buf, len, e);
}

int image_write_rgb_png(const char *path, const uint8_t *pix, int w, int h, fm_err *e)
{
    return write_png(path, pix, w, h, PNG_FORMAT_RGB, e);
}

/* ---- preprocessing ---- */

#define SIDE 28
/* The paper trims "close to the corner colour": pixels within 5% of the
 * maximum intensity from the background count as background when finding
 * the item's box. */
#define TRIM_TOLERANCE (0.05f * 255.0f)

/* Luma as PIL's convert("L") computes it (ITU-R 601-2). */
static int luma(const uint8_t *p)
{
    return (p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16;
}

/* How each pixel becomes "ink" (0 = background, 255 = full item). */
typedef struct ink_rule {
    int invert;     /* ink from darkness (light background) rather than lightness */
    int silhouette; /* ink is the alpha channel alone */
    float floor;    /* the background's own ink, subtracted */
} ink_rule;

static float ink(const ink_rule *r, const uint8_t *p)
{
    if (r->silhouette)
        return (float)p[3];
    /* Transparent pixels are background: the pixel is composited over the
     * background's colour (white when inverting, black otherwise), which
     * scales its ink by alpha. */
    float y = (float)luma(p), a = (float)p[3] / 255.0f;
    float v = (r->invert ? 255.0f - y : y) * a - r->floor;
    return v > 0 ? v : 0;
}

static int cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

/* 1-D resampling of n source samples to m: area averaging when shrinking,
 * linear interpolation between pixel centres when enlarging. Output sample
 * i is sum(wt[j - j0] * src[j]) over j in [j0, j1); the weights sum to 1. */
static void resample_weights(int n, int m, int i, int *j0, int *j1, float *wt)
{
    if (m < n) {
        double s0 = (double)i * n / m, s1 = (double)(i + 1) * n / m;
        int a = (int)floor(s0), b = (int)ceil(s1);
        if (b > n)
            b = n;
        for (int j = a; j < b; j++) {
            double lo = j > s0 ? j : s0, hi = j + 1 < s1 ? j + 1 : s1;
            wt[j - a] = (float)((hi - lo) * m / n);
        }
        *j0 = a;
        *j1 = b;
        return;
    }
    double s = (i + 0.5) * n / m - 0.5;
    if (s < 0)
        s = 0;
    if (s > n - 1)
        s = n - 1;
    int a = (int)floor(s);
    int b = a + 1 < n ? a + 1 : a;
    float f = (float)(s - a);
    *j0 = a;
    *j1 = b + 1;
    if (b == a)
        wt[0] = 1;
    else {
        wt[0] = 1 - f;
        wt[1] = f;
    }
}

/* The item's bounding box: pixels whose ink exceeds the tolerance. Returns
 * 0 when there is none. */
static int find_box(const image *img, const ink_rule *rule, int *x0, int *y0, int *x1, int *y1)
{
    int w = img->w, h = img->h;
    int bx0 = w, by0 = h, bx1 = -1, by1 = -1;
    for (int y = 0; y < h; y++) {
        const uint8_t *row = img->rgba + 4 * (size_t)y * w;
        for (int x = 0; x < w; x++)
            if (ink(rule, row + 4 * (size_t)x) > TRIM_TOLERANCE) {
                bx0 = x < bx0 ? x : bx0;
                bx1 = x > bx1 ? x : bx1;
                by0 = y < by0 ? y : by0;
                by1 = y;
            }
    }
    if (bx1 < 0)
        return 0;
    *x0 = bx0, *y0 = by0, *x1 = bx1, *y1 = by1;
    return 1;
}

/* Unsharp masking of the 28x28 result, as the data set's pipeline sharpens
 * after resizing: res += amount * (res - gaussian(res)), with a Gaussian of
 * standard deviation 1 truncated at radius 1 and zero (background) outside. */
static void sharpen(float res[SIDE * SIDE], float amount)
{
    const float g[3] = {0.27406862f, 0.45186276f, 0.27406862f};
    float tmp[SIDE * SIDE], blur[SIDE * SIDE];
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++) {
            float s = 0;
            for (int k = -1; k <= 1; k++)
                if (x + k >= 0 && x + k < SIDE)
                    s += g[k + 1] * res[y * SIDE + x + k];
            tmp[y * SIDE + x] = s;
        }
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++) {
            float s = 0;
            for (int k = -1; k <= 1; k++)
                if (y + k >= 0 && y + k < SIDE)
                    s += g[k + 1] * tmp[(y + k) * SIDE + x];
            blur[y * SIDE + x] = s;
        }
    for (int i = 0; i < SIDE * SIDE; i++) {
        float v = res[i] + amount * (res[i] - blur[i]);
        res[i] = v > 0 ? v : 0;
    }
}

int image_prepare(const image *img, enum image_invert invert, uint8_t out[SIDE * SIDE],
                  image_prep_info *info, fm_err *e)
{
    image_prep_opts opts = {invert, 0.0f};
    return image_prepare_with(img, &opts, out, info, e);
}

int image_prepare_with(const image *img, const image_prep_opts *opts, uint8_t out[SIDE * SIDE],
                       image_prep_info *info, fm_err *e)
{
    int w = img->w, h = img->h;
    const uint8_t *px = img->rgba;
    image_prep_info inf;
    memset(&inf, 0, sizeof inf);

    /* The background, from the outermost ring of pixels: transparent when
     * at least half of it is, else the median luma of its opaque pixels. */
    int ring = w == 1 || h == 1 ? w * h : 2 * (w + h) - 4;
    int *ys = malloc(sizeof(int) * (size_t)ring);
    if (!ys)
        return fm_fail(e, FM_ENOMEM, NULL, "out of memory");
    int n_transparent = 0, n_opaque = 0, n_black = 0, n_white = 0, all_opaque = 1;
    for (size_t i = 0; i < (size_t)w * h; i++)
        if (px[4 * i + 3] != 255) {
            all_opaque = 0;
            break;
        }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            if (y != 0 && y != h - 1 && x != 0 && x != w - 1) {
                x = w - 2; /* jump to the right edge */
                continue;
            }
            const uint8_t *p = px + 4 * ((size_t)y * w + x);
            if (p[3] < 128)
                n_transparent++;
            else {
                int y = luma(p);
                ys[n_opaque++] = y;
                n_black += y == 0;
                n_white += y == 255;
            }
        }
    ink_rule rule = {0, 0, 0};
    int bg_ink = 0; /* the background's ink when not inverting */
    if (n_transparent * 2 >= ring) {
        /* Transparent is background, and a product shot's background is
         * white (the paper's photos were on white): treated as light. */
        inf.transparent_bg = 1;
        rule.invert = 1;
    } else {
        qsort(ys, (size_t)n_opaque, sizeof(int), cmp_int);
        bg_ink = ys[n_opaque / 2];
        rule.invert = bg_ink >= 128;
    }
    free(ys);
    if (opts->invert != IMAGE_INVERT_AUTO)
        rule.invert = opts->invert == IMAGE_INVERT_YES;
    if (!inf.transparent_bg) {
        /* The background's own ink is subtracted (a gray table is not part
         * of the item), unless a forced --invert says the background is the
         * bright side: then the pixels are only negated. */
        int bg = rule.invert ? 255 - bg_ink : bg_ink;
        rule.floor = bg < 128 ? (float)bg : 0.0f;
    }
    inf.inverted = rule.invert;

    /* A picture that already is a data set image is used exactly as is:
     * 28x28, opaque, its border mostly pure black where not item. Items
     * may fill most of the border (the ring's median is not 0 in 86 of the
     * 70,000 data set images), but every one of them has more pixels at 0
     * than at 255 there (at least 10 at 0). More at 255: a negated one. */
    if (w == SIDE && h == SIDE && all_opaque && n_black != n_white) {
        if (opts->invert == IMAGE_INVERT_AUTO)
            rule.invert = n_white > n_black;
        inf.inverted = rule.invert;
        for (int i = 0; i < SIDE * SIDE; i++) {
            int y = luma(px + 4 * i);
            out[i] = (uint8_t)(rule.invert ? 255 - y : y);
        }
        inf.passthrough = 1;
        inf.box_w = inf.box_h = SIDE;
        if (info)
            *info = inf;
        return FM_OK;
    }

    /* The item's bounding box. An item on a transparent background that
     * vanishes over white (a white item) is taken by its silhouette. */
    int x0, y0, x1, y1;
    int found = find_box(img, &rule, &x0, &y0, &x1, &y1);
    if (!found && inf.transparent_bg && opts->invert == IMAGE_INVERT_AUTO) {
        rule.silhouette = 1;
        found = find_box(img, &rule, &x0, &y0, &x1, &y1);
        inf.silhouette = found;
    }
    if (!found) {
        /* Nothing stands out from the background: a blank input. */
        memset(out, 0, SIDE * SIDE);
        inf.empty = 1;
        if (info)
            *info = inf;
        return FM_OK;
    }
    int bw = x1 - x0 + 1, bh = y1 - y0 + 1;
    inf.box_x = x0;
    inf.box_y = y0;
    inf.box_w = bw;
    inf.box_h = bh;

    /* Longest edge to 28, the other in proportion. */
    int tw, th;
    if (bw >= bh) {
        tw = SIDE;
        th = (int)lround((double)bh * SIDE / bw);
    } else {
        th = SIDE;
        tw = (int)lround((double)bw * SIDE / bh);
    }
    tw = tw < 1 ? 1 : tw;
    th = th < 1 ? 1 : th;

    /* Horizontal pass into (bh, tw), then vertical into (th, tw), centred
     * with the extra pixel of an odd margin on the top/left as the data set
     * has it. The largest source span of one output pixel is n/m + 2
     * samples. */
    float *rows = malloc(sizeof(float) * (size_t)bh * (size_t)tw);
    float *wt = malloc(sizeof(float) * ((size_t)(bw > bh ? bw : bh) + 3));
    if (!rows || !wt) {
        free(rows);
        free(wt);
        return fm_fail(e, FM_ENOMEM, NULL, "out of memory");
    }
    for (int y = 0; y < bh; y++) {
        const uint8_t *src = px + 4 * ((size_t)(y0 + y) * w + x0);
        for (int i = 0; i < tw; i++) {
            int j0, j1;
            resample_weights(bw, tw, i, &j0, &j1, wt);
            float s = 0;
            for (int j = j0; j < j1; j++)
                s += wt[j - j0] * ink(&rule, src + 4 * (size_t)j);
            rows[(size_t)y * tw + i] = s;
        }
    }
    float res[SIDE * SIDE];
    memset(res, 0, sizeof res);
    int top = (SIDE - th + 1) / 2, left = (SIDE - tw + 1) / 2;
    for (int i = 0; i < th; i++) {
        int j0, j1;
        resample_weights(bh, th, i, &j0, &j1, wt);
        for (int x = 0; x < tw; x++) {
            float s = 0;
            for (int j = j0; j < j1; j++)
                s += wt[j - j0] * rows[(size_t)j * tw + x];
            res[(top + i) * SIDE + left + x] = s;
        }
    }
    free(rows);
    free(wt);

    if (opts->sharpen > 0 && (bw > tw || bh > th))
        sharpen(res, opts->sharpen);

    /* Data set items reach 254-255 at their brightest: stretch to full range. */
    float mx = 0;
    for (int i = 0; i < SIDE * SIDE; i++)
        mx = res[i] > mx ? res[i] : mx;
    float scale = mx > 0 ? 255.0f / mx : 0;
    for (int i = 0; i < SIDE * SIDE; i++) {
        float v = res[i] * scale + 0.5f;
        out[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
    if (info)
        *info = inf;
    return FM_OK;
}
