/* test_jpeg.c: JPEG decoding (every EXIF orientation, progressive, gray,
 * CMYK), every malformed JPEG and EXIF giving its own error with the
 * outputs untouched, and picture_decode's format detection naming what it
 * does not read. Fixtures: tools/make_jpeg_fixtures.py. Runs from the top
 * directory. */
#include "testutil.h"

#include <time.h>

#include <jpeglib.h>

#include "image.h"
#include "jpeg.h"
#include "picture.h"

#define FIX "tests/fixtures/"

static uint8_t *fixture_bytes(const char *name, size_t *n)
{
    char path[256];
    snprintf(path, sizeof path, FIX "%s", name);
    uint8_t *b = tu_read(path, n);
    if (!b)
        fail_msg("%s: missing (tools/make_jpeg_fixtures.py makes it)", path);
    return b;
}

static void read_picture(const char *name, image *img)
{
    char path[256];
    fm_err e;
    snprintf(path, sizeof path, FIX "%s", name);
    if (picture_read(path, img, &e) != FM_OK)
        fail_msg("%s: %s", path, e.msg);
}

/* Every pixel of got within tol of want in each channel (gray: want's
 * luma against got's R = G = B), alpha 255. */
static void expect_close(const char *name, const image *got, const image *want, int tol, int gray)
{
    assert_int_equal(got->w, want->w);
    assert_int_equal(got->h, want->h);
    for (int i = 0; i < got->w * got->h; i++) {
        const uint8_t *g = got->rgba + 4 * i, *w = want->rgba + 4 * i;
        int ref[3] = {w[0], w[1], w[2]};
        if (gray) {
            int y = (w[0] * 19595 + w[1] * 38470 + w[2] * 7471 + 0x8000) >> 16;
            ref[0] = ref[1] = ref[2] = y;
            assert_true(g[0] == g[1] && g[1] == g[2]);
        }
        for (int c = 0; c < 3; c++)
            if (abs(g[c] - ref[c]) > tol)
                fail_msg("%s: pixel (%d,%d) channel %d is %d, want %d +- %d", name, i % got->w,
                         i / got->w, c, g[c], ref[c], tol);
        assert_int_equal(g[3], 255);
    }
}

/* ---- decoding ---- */

static void test_every_orientation_comes_out_upright(void **state)
{
    (void)state;
    image up;
    read_picture("jpeg-upright.png", &up);
    assert_int_equal(up.w, 32);
    assert_int_equal(up.h, 24);
    for (int o = 1; o <= 8; o++) {
        char name[64];
        snprintf(name, sizeof name, "jpeg-orient-%d.jpg", o);
        image img;
        read_picture(name, &img);
        /* Blocks differ by at least 40 in some channel: 12 catches any
         * wrong turn, and quality 95 without subsampling stays inside it. */
        expect_close(name, &img, &up, 12, 0);
        image_free(&img);
    }
    image_free(&up);
}

/* image_orient on a 3x2 picture of distinct pixels, against each
 * transform written out. */
static void test_orient_exact(void **state)
{
    (void)state;
    static const int want[9][6] = {
        {0}, {0, 1, 2, 3, 4, 5}, {2, 1, 0, 5, 4, 3}, {5, 4, 3, 2, 1, 0}, {3, 4, 5, 0, 1, 2},
        {0, 3, 1, 4, 2, 5}, {3, 0, 4, 1, 5, 2}, {5, 2, 4, 1, 3, 0}, {2, 5, 1, 4, 0, 3}};
    uint8_t px[24];
    for (int i = 0; i < 24; i++)
        px[i] = (uint8_t)(i / 4 * 10 + i % 4);
    image in = {3, 2, px};
    for (int o = 1; o <= 8; o++) {
        image out;
        assert_int_equal(image_orient(&in, o, &out, NULL), FM_OK);
        assert_int_equal(out.w, o >= 5 ? 2 : 3);
        assert_int_equal(out.h, o >= 5 ? 3 : 2);
        for (int i = 0; i < 6; i++)
            assert_memory_equal(out.rgba + 4 * i, px + 4 * want[o][i], 4);
        image_free(&out);
    }
    image out = {-7, -7, NULL};
    fm_err e;
    assert_int_equal(image_orient(&in, 9, &out, &e), FM_EINVAL);
    assert_int_equal(image_orient(&in, 0, &out, &e), FM_EINVAL);
    assert_int_equal(out.w, -7);
    assert_memory_equal(px + 4, "\x0a\x0b\x0c\x0d", 4); /* the input is unchanged */
}

static void test_progressive_gray_cmyk_arithmetic(void **state)
{
    (void)state;
    image up, img;
    read_picture("jpeg-upright.png", &up);
    read_picture("jpeg-progressive.jpg", &img);
    expect_close("jpeg-progressive.jpg", &img, &up, 12, 0);
    image_free(&img);
    read_picture("jpeg-gray.jpg", &img);
    expect_close("jpeg-gray.jpg", &img, &up, 6, 1);
    image_free(&img);
    /* Adobe's inverted CMYK (PIL, like Photoshop, writes C = 255 - R ... K = 0
     * inverted): back to the colours within JPEG's error. */
    read_picture("jpeg-cmyk.jpg", &img);
    expect_close("jpeg-cmyk.jpg", &img, &up, 12, 0);
    image_free(&img);
    /* Arithmetic coding: the progressive file recoded, the same pixels. */
    image prog;
    read_picture("jpeg-progressive.jpg", &prog);
    read_picture("jpeg-arithmetic.jpg", &img);
    assert_int_equal(img.w, prog.w);
    assert_int_equal(img.h, prog.h);
    assert_memory_equal(img.rgba, prog.rgba, (size_t)img.w * img.h * 4);
    image_free(&img);
    image_free(&prog);
    image_free(&up);
}

static void expect_fail(const uint8_t *buf, size_t len, int code, const char *msg_part);

/* Encodes w x h pixels of comps components (row-major) with libjpeg's
 * compressor, as colour space cs, with or without Adobe's APP14 marker,
 * quality 95 (or quality when over 0), no subsampling, Huffman-coded (or
 * arithmetic-coded when arith); in the scans of script (nscans of them),
 * or libjpeg's baseline single scan when script is NULL. */
static uint8_t *encode_coded(const uint8_t *px, int w, int h, int comps, J_COLOR_SPACE cs,
                             int adobe, const jpeg_scan_info *script, int nscans, int quality,
                             int arith, size_t *n)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    unsigned char *buf = NULL;
    unsigned long len = 0;
    jpeg_mem_dest(&c, &buf, &len);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = comps;
    c.in_color_space = comps == 4 ? JCS_CMYK : comps == 3 ? JCS_RGB
                     : comps == 1 ? JCS_GRAYSCALE : JCS_UNKNOWN;
    jpeg_set_defaults(&c);
    jpeg_set_colorspace(&c, cs);
    for (int i = 0; i < comps; i++)
        c.comp_info[i].h_samp_factor = c.comp_info[i].v_samp_factor = 1;
    c.write_Adobe_marker = (boolean)adobe;
    jpeg_set_quality(&c, quality > 0 ? quality : 95, TRUE);
    c.arith_code = (boolean)arith;
    c.scan_info = script;
    c.num_scans = script ? nscans : c.num_scans;
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(uintptr_t)(px + (size_t)c.next_scanline * w * comps);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    *n = len;
    return buf;
}

static uint8_t *encode_script(const uint8_t *px, int w, int h, int comps, J_COLOR_SPACE cs,
                              int adobe, const jpeg_scan_info *script, int nscans, size_t *n)
{
    return encode_coded(px, w, h, comps, cs, adobe, script, nscans, 0, 0, n);
}

static uint8_t *encode(const uint8_t *px, int w, int h, int comps, J_COLOR_SPACE cs, int adobe,
                       size_t *n)
{
    return encode_script(px, w, h, comps, cs, adobe, NULL, 0, n);
}

/* YCCK (Adobe), CMYK without Adobe's marker (not inverted), RGB (Adobe
 * transform 0): the colours come back; 2 components are refused by name. */
static void test_other_colour_spaces(void **state)
{
    (void)state;
    image up;
    read_picture("jpeg-upright.png", &up);
    size_t np = (size_t)up.w * up.h, n;
    uint8_t *inv = malloc(np * 4), *plain = malloc(np * 4), *rgb = malloc(np * 3);
    for (size_t i = 0; i < np; i++) {
        const uint8_t *p = up.rgba + 4 * i;
        for (int k = 0; k < 3; k++) {
            inv[4 * i + k] = p[k];           /* Adobe: 255 = no ink */
            plain[4 * i + k] = (uint8_t)(255 - p[k]);
            rgb[3 * i + k] = p[k];
        }
        inv[4 * i + 3] = 255;
        plain[4 * i + 3] = 0;
    }
    struct {
        const uint8_t *px;
        int comps;
        J_COLOR_SPACE cs;
        int adobe;
        const char *what;
    } cases[] = {{inv, 4, JCS_YCCK, 1, "YCCK"},
                 {inv, 4, JCS_CMYK, 1, "Adobe CMYK"},
                 {plain, 4, JCS_CMYK, 0, "plain CMYK"},
                 {rgb, 3, JCS_RGB, 1, "RGB"}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        uint8_t *b = encode(cases[k].px, up.w, up.h, cases[k].comps, cases[k].cs, cases[k].adobe, &n);
        image img;
        fm_err e;
        if (picture_decode(b, n, "x.jpg", &img, &e))
            fail_msg("%s: %s", cases[k].what, e.msg);
        expect_close(cases[k].what, &img, &up, 12, 0);
        image_free(&img);
        free(b);
    }
    uint8_t two[32 * 24 * 2];
    memset(two, 100, sizeof two);
    uint8_t *b = encode(two, 32, 24, 2, JCS_UNKNOWN, 0, &n);
    expect_fail(b, n, FM_EFORMAT, "a JPEG of 2 colour components in an unknown colour space; "
                                  "fmnist reads gray, YCbCr, RGB, CMYK and YCCK JPEGs");
    free(b);
    free(inv), free(plain), free(rgb);
    image_free(&up);
}

/* ---- malformed JPEGs: each its own error, the output untouched ---- */

static void expect_fail(const uint8_t *buf, size_t len, int code, const char *msg_part)
{
    image img = {-7, -7, (uint8_t *)(uintptr_t)0x1};
    fm_err e;
    memset(&e, 0, sizeof e);
    int rc = picture_decode(buf, len, "x.jpg", &img, &e);
    if (rc != code || !strstr(e.msg, msg_part))
        fail_msg("status %d (want %d), message '%s' (want '%s')", rc, code, rc ? e.msg : "",
                 msg_part);
    assert_string_equal(e.file, "x.jpg");
    assert_null(strchr(e.msg, '\n'));
    assert_int_equal(img.w, -7);
    assert_int_equal(img.h, -7);
    assert_ptr_equal(img.rgba, (uint8_t *)(uintptr_t)0x1);
}

/* The offset of the first marker m (0xc0 for SOF0 ...) after SOI, walking
 * the segments; fails when absent. */
static size_t find_marker(const uint8_t *b, size_t n, int m)
{
    for (size_t at = 2; at + 4 <= n;) {
        assert_int_equal(b[at], 0xff);
        if (b[at + 1] == m)
            return at;
        at += 2 + ((size_t)b[at + 2] << 8 | b[at + 3]);
    }
    fail_msg("marker 0x%02x not found", m);
    return 0;
}

static void test_truncated(void **state)
{
    (void)state;
    const char *names[] = {"jpeg-orient-3.jpg", "jpeg-progressive.jpg", "jpeg-cmyk.jpg",
                           "jpeg-arithmetic.jpg"};
    for (int f = 0; f < 4; f++) {
        size_t n;
        uint8_t *b = fixture_bytes(names[f], &n);
        /* Every cut, from inside the first marker to just before EOI. */
        for (size_t len = 3; len < n; len++)
            expect_fail(b, len, FM_EFORMAT, "truncated JPEG");
        free(b);
    }
}

static void test_corrupt(void **state)
{
    (void)state;
    size_t n;
    uint8_t *b = fixture_bytes("jpeg-orient-1.jpg", &n);
    size_t sos = find_marker(b, n, 0xda);
    size_t data = sos + 2 + ((size_t)b[sos + 2] << 8 | b[sos + 3]);
    /* A marker in the middle of the scan: the data stops early. */
    uint8_t *c = malloc(n);
    memcpy(c, b, n);
    c[data + 40] = 0xff;
    c[data + 41] = 0xd9;
    expect_fail(c, n, FM_EFORMAT, "corrupt JPEG: Corrupt JPEG data");
    /* Ones where Huffman codes should be (all-ones codes do not exist). */
    memcpy(c, b, n);
    for (size_t i = data; i < data + 60; i += 2)
        c[i] = 0xff, c[i + 1] = 0x00; /* a stuffed 0xff */
    expect_fail(c, n, FM_EFORMAT, "corrupt JPEG");
    /* An unknown SOF (lossless, SOF3). */
    memcpy(c, b, n);
    c[find_marker(b, n, 0xc0) + 1] = 0xc3;
    expect_fail(c, n, FM_EFORMAT, "bad JPEG: Unsupported JPEG process: SOF type 0xc3");
    /* Garbage after the SOI. */
    memcpy(c, b, n);
    memset(c + 3, 0x11, 40);
    expect_fail(c, n, FM_EFORMAT, "JPEG");
    free(c);
    free(b);
}

/* A copy of a fixture with its frame's size replaced. */
static uint8_t *with_size(const char *name, unsigned w, unsigned h, size_t *n)
{
    uint8_t *b = fixture_bytes(name, n);
    size_t sof = find_marker(b, *n, name[5] == 'p' ? 0xc2 : 0xc0);
    b[sof + 5] = (uint8_t)(h >> 8), b[sof + 6] = (uint8_t)h;
    b[sof + 7] = (uint8_t)(w >> 8), b[sof + 8] = (uint8_t)w;
    return b;
}

static void test_zero_size(void **state)
{
    (void)state;
    size_t n;
    uint8_t *b = with_size("jpeg-orient-1.jpg", 0, 24, &n);
    expect_fail(b, n, FM_EFORMAT, "an empty image");
    free(b);
    b = with_size("jpeg-orient-1.jpg", 32, 0, &n);
    expect_fail(b, n, FM_EFORMAT, "an empty image");
    free(b);
}

/* A 16 x 16 gray picture, progressive in `scans` scans: the DC
 * coefficients in scans - 63 steps of successive approximation, then each
 * AC coefficient in a scan of its own. */
static uint8_t *encode_scans(int scans, size_t *n)
{
    jpeg_scan_info s[80];
    int dc = scans - 63, k = 0;
    assert_true(dc >= 1 && scans <= 80);
    for (int a = dc - 1; a >= 0; a--, k++)
        s[k] = (jpeg_scan_info){1, {0}, 0, 0, a == dc - 1 ? 0 : a + 1, a};
    for (int f = 1; f < 64; f++, k++)
        s[k] = (jpeg_scan_info){1, {0}, f, f, 0, 0};
    uint8_t px[16 * 16];
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 16; x++)
            px[16 * y + x] = (uint8_t)(x * 16 + y);
    return encode_script(px, 16, 16, 1, JCS_GRAYSCALE, 0, s, scans, n);
}

/* Each scan is a pass over the whole picture's coefficients: a file of
 * thousands made a 38 KB JPEG take a minute. JPEG_MAX_SCANS are read, one
 * more is refused. */
static void test_scan_limit(void **state)
{
    (void)state;
    size_t n;
    uint8_t *b = encode_scans(JPEG_MAX_SCANS, &n);
    image img;
    fm_err e;
    assert_int_equal(image_decode_jpeg(b, n, "most.jpg", &img, &e), FM_OK);
    assert_int_equal(img.w, 16);
    assert_in_range(img.rgba[4 * (16 * 3 + 5)], 5 * 16 + 3 - 4, 5 * 16 + 3 + 4); /* lossy */
    image_free(&img);
    free(b);
    b = encode_scans(JPEG_MAX_SCANS + 1, &n);
    expect_fail(b, n, FM_ELIMIT, "a JPEG of more than 64 scans (fmnist reads at most 64)");
    free(b);
}

/* Sizes judged from the header before any pixel memory: at once. */
static void test_size_limits(void **state)
{
    (void)state;
    size_t n;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint8_t *b = with_size("jpeg-progressive.jpg", 65000, 65000, &n);
    expect_fail(b, n, FM_ELIMIT, "65000x65000 pixels is over the limit of 50 megapixels");
    free(b);
    b = with_size("jpeg-orient-1.jpg", 7072, 7071, &n);
    expect_fail(b, n, FM_ELIMIT, "over the limit of 50 megapixels");
    free(b);
    /* Within the limit, but far more 8x8 blocks than the file has bits. */
    b = with_size("jpeg-progressive.jpg", 7071, 7071, &n);
    expect_fail(b, n, FM_EFORMAT, "truncated JPEG: 7071x7071 pixels cannot come from");
    free(b);
    b = with_size("jpeg-gray.jpg", 65500, 200, &n);
    expect_fail(b, n, FM_EFORMAT, "cannot come from");
    free(b);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true((double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec) < 0.5);
}

/* An arithmetic-coded JPEG of w x h pixels and comps components (1:1, or
 * the first 2x2 when sub), made of headers alone: SOF9 and one scan, or
 * SOF10 and scans scans, each without a byte of coded data (libjpeg reads
 * zeros past a scan's end: a blank picture), padded with a comment to len
 * bytes when longer. In b, of at least 1200 bytes and len; returns its
 * length. */
static size_t arith_blank(uint8_t *b, unsigned w, unsigned h, int comps, int sub, int scans,
                          size_t len)
{
    size_t at = 0;
    memcpy(b, "\xff\xd8\xff\xdb\0\x43\0", 7), at = 7; /* SOI, DQT: table 0, all 1 */
    memset(b + at, 1, 64), at += 64;
    if (comps == 4) /* Adobe APP14, transform 0: CMYK */
        memcpy(b + at, "\xff\xee\0\x0e" "Adobe\0\x64\0\0\0\0\0", 16), at += 16;
    uint8_t sof[] = {0xff, scans ? 0xca : 0xc9, 0, (uint8_t)(8 + 3 * comps), 8,
                     (uint8_t)(h >> 8), (uint8_t)h, (uint8_t)(w >> 8), (uint8_t)w, (uint8_t)comps};
    memcpy(b + at, sof, sizeof sof), at += sizeof sof;
    for (int c = 0; c < comps; c++, at += 3)
        b[at] = (uint8_t)(c + 1), b[at + 1] = c == 0 && sub ? 0x22 : 0x11, b[at + 2] = 0;
    /* The scans: all components (the DC scan when progressive), then one
     * AC coefficient of one component a scan. */
    for (int k = 0; k < (scans ? scans : 1); k++) {
        int ns = k == 0 ? comps : 1, band = k == 0 ? (scans ? 0 : 63) : (k - 1) / comps % 63 + 1;
        b[at] = 0xff, b[at + 1] = 0xda, b[at + 2] = 0, b[at + 3] = (uint8_t)(6 + 2 * ns);
        b[at + 4] = (uint8_t)ns, at += 5;
        for (int c = 0; c < ns; c++, at += 2)
            b[at] = (uint8_t)(k == 0 ? c + 1 : (k - 1) % comps + 1), b[at + 1] = 0;
        b[at] = (uint8_t)(k == 0 ? 0 : band), b[at + 1] = (uint8_t)band, b[at + 2] = 0, at += 3;
    }
    if (len > at + 2) { /* a COM segment before the frame's end marker */
        size_t n = len - at - 2;
        assert_true(n >= 4 && n <= 65537);
        b[at] = 0xff, b[at + 1] = 0xfe, b[at + 2] = (uint8_t)((n - 2) >> 8), b[at + 3] = (uint8_t)(n - 2);
        memset(b + at + 4, 'x', n - 4), at += n;
    }
    b[at] = 0xff, b[at + 1] = 0xd9;
    return at + 2;
}

/* Arithmetic coding codes a blank 8x8 block in far under a bit, and
 * libjpeg reads zeros past a scan's end: files of a few hundred bytes
 * claiming 7000x7000 pixels decoded in full (a baseline 4:2:0 one to 200
 * MB, a progressive CMYK one to 580 MB, one of 64 scans to 480 MB). Over
 * JPEG_ARITH_PIXELS_PER_BYTE pixels a byte is refused from the header,
 * whatever the sampling, components and scans; at the bound, read. */
static void test_arithmetic_size_limit(void **state)
{
    (void)state;
    uint8_t *b = malloc(70000);
    size_t n = arith_blank(b, 7000, 7000, 3, 1, 0, 0);
    expect_fail(b, n, FM_ELIMIT, "an arithmetic-coded JPEG of 7000x7000 pixels in 106 bytes: "
                                 "over 32768 pixels a byte, as only a nearly blank picture codes "
                                 "(fmnist's limit)");
    n = arith_blank(b, 7000, 7000, 4, 0, 6, 0);
    expect_fail(b, n, FM_ELIMIT, "an arithmetic-coded JPEG of 7000x7000 pixels in 177 bytes");
    n = arith_blank(b, 7000, 7000, 3, 0, 64, 0);
    expect_fail(b, n, FM_ELIMIT, "an arithmetic-coded JPEG of 7000x7000 pixels in 736 bytes");
    /* The bound: 4096 x 4096 pixels need 512 bytes, in 4:2:0, gray, or
     * CMYK in 5 progressive scans alike. */
    struct {
        int comps, sub, scans;
    } at_bound[] = {{3, 1, 0}, {1, 0, 0}, {4, 0, 5}};
    for (size_t k = 0; k < sizeof at_bound / sizeof at_bound[0]; k++) {
        n = arith_blank(b, 4096, 4096, at_bound[k].comps, at_bound[k].sub, at_bound[k].scans, 511);
        assert_int_equal(n, 511);
        expect_fail(b, n, FM_ELIMIT, "an arithmetic-coded JPEG of 4096x4096 pixels in 511 bytes");
        n = arith_blank(b, 4096, 4096, at_bound[k].comps, at_bound[k].sub, at_bound[k].scans, 512);
        image img;
        fm_err e;
        if (picture_decode(b, n, "x.jpg", &img, &e))
            fail_msg("4096x4096 in 512 bytes (case %zu): %s", k, e.msg);
        assert_int_equal(img.w, 4096);
        assert_int_equal(img.h, 4096);
        image_free(&img);
    }
    /* Huffman coding is judged by its own bound (1 bit a block), not
     * this one: the same 4096 x 4096 headers as a baseline Huffman frame. */
    n = arith_blank(b, 4096, 4096, 3, 1, 0, 512);
    b[7 + 64 + 1] = 0xc0;
    expect_fail(b, n, FM_EFORMAT, "truncated JPEG: 4096x4096 pixels cannot come from 512 bytes");
    free(b);

    /* libjpeg's own arithmetic coding of a blank 4096 x 4096 gray picture
     * is refused as well (a bound on what a picture holds, not on who
     * wrote it); test image 0 as tN-white10x.jpg shows it, dark on white,
     * in a corner of that white picture (1/214 of its area), quality 10:
     * read. */
    uint8_t *px = malloc(4096 * 4096);
    memset(px, 255, 4096 * 4096);
    uint8_t *j = encode_coded(px, 4096, 4096, 1, JCS_GRAYSCALE, 0, NULL, 0, 10, 1, &n);
    expect_fail(j, n, FM_ELIMIT, "an arithmetic-coded JPEG of 4096x4096 pixels in");
    free(j);
    image t0;
    read_picture("t0-white10x.jpg", &t0);
    for (int y = 0; y < t0.h; y++)
        for (int x = 0; x < t0.w; x++)
            px[(size_t)y * 4096 + x] = t0.rgba[4 * ((size_t)y * t0.w + x)];
    j = encode_coded(px, 4096, 4096, 1, JCS_GRAYSCALE, 0, NULL, 0, 10, 1, &n);
    image img;
    fm_err e;
    if (picture_decode(j, n, "x.jpg", &img, &e))
        fail_msg("%zu bytes: %s", n, e.msg);
    assert_true(n >= 2 * 512); /* the margin jpeg.h tells */
    image_free(&img);
    image_free(&t0);
    free(j);
    free(px);
}

/* ---- EXIF ---- */

/* An APP1 payload: "Exif\0\0", then tiff (n bytes). */
static size_t exif(uint8_t *out, const char *tiff, size_t n)
{
    memcpy(out, "Exif\0\0", 6);
    memcpy(out + 6, tiff, n);
    return 6 + n;
}

static void expect_exif(const char *tiff, size_t n, int code, int want, const char *msg_part)
{
    uint8_t seg[256];
    size_t len = exif(seg, tiff, n);
    int o = -7;
    fm_err e;
    memset(&e, 0, sizeof e);
    int rc = image_exif_orientation(seg, len, "x.jpg", &o, &e);
    if (rc != code)
        fail_msg("status %d (want %d): '%s'", rc, code, rc ? e.msg : "");
    if (rc == FM_OK) {
        assert_int_equal(o, want);
        return;
    }
    if (!strstr(e.msg, msg_part))
        fail_msg("message '%s' (want '%s')", e.msg, msg_part);
    assert_string_equal(e.file, "x.jpg");
    assert_int_equal(o, -7);
}

/* TIFF bytes, II: header with IFD0 at 8, one entry (tag, type, count,
 * value), next IFD offset. */
#define II_ONE(tag, type, count, value)                                                        \
    "II*\0\x08\0\0\0"                                                                          \
    "\x01\0" tag type count value "\0\0\0\0"

static void test_exif_orientation_parsing(void **state)
{
    (void)state;
    /* Good: II and MM, orientation 6; no tag: 1. */
    expect_exif(II_ONE("\x12\x01", "\x03\0", "\x01\0\0\0", "\x06\0\0\0"), 26, FM_OK, 6, NULL);
    expect_exif("MM\0*\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x08\0\0\0\0\0\0", 26, FM_OK, 8,
                NULL);
    expect_exif(II_ONE("\x0f\x01", "\x02\0", "\x04\0\0\0", "abc\0"), 26, FM_OK, 1, NULL);
    /* The next-IFD offset pointing back at IFD0 (a loop for a reader that
     * follows it): IFD0 alone is read. */
    expect_exif("II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x03\0\0\0\x08\0\0\0", 26, FM_OK, 3,
                NULL);
    /* Not EXIF at all (XMP shares APP1): upright. */
    int o = -7;
    assert_int_equal(image_exif_orientation((const uint8_t *)"http://ns.adobe.com/xap/1.0/", 28,
                                            "x.jpg", &o, NULL), FM_OK);
    assert_int_equal(o, 1);

    /* Bad: each its own message, the output untouched. */
    expect_exif("II*\0", 4, FM_EFORMAT, 0, "bad EXIF: 4 bytes, too short for a TIFF header");
    expect_exif("I", 1, FM_EFORMAT, 0, "bad EXIF: 1 byte, too short for a TIFF header");
    expect_exif("II*\0\x08\0\0\0\x01\0", 10, FM_EFORMAT, 0,
                "bad EXIF: IFD0's 1 entry runs past the end of its 10 bytes");
    expect_exif("II*\0\x08\0\0\0\x02\0", 10, FM_EFORMAT, 0,
                "bad EXIF: IFD0's 2 entries run past the end of its 10 bytes");
    expect_exif("XX*\0\x08\0\0\0", 8, FM_EFORMAT, 0, "neither II nor MM");
    expect_exif("II+\0\x08\0\0\0", 8, FM_EFORMAT, 0, "TIFF magic 43, not 42");
    expect_exif("II*\0\xff\xff\0\0\0\0", 10, FM_EFORMAT, 0, "IFD0 at offset 65535, outside");
    expect_exif("II*\0\x08\0\0\x80\0\0", 10, FM_EFORMAT, 0, "outside its 10 bytes");
    expect_exif("II*\0\x08\0\0\0", 8, FM_EFORMAT, 0, "IFD0 at offset 8, outside its 8 bytes");
    expect_exif("II*\0\x02\0\0\0\0\0", 10, FM_EFORMAT, 0, "IFD0 at offset 2");
    expect_exif("II*\0\x08\0\0\0\xff\xff", 10, FM_EFORMAT, 0, "65535 entries run past the end");
    expect_exif("II*\0\x08\0\0\0\x02\0\x12\x01\x03\0\x01\0\0\0\x06\0\0\0", 22, FM_EFORMAT, 0,
                "2 entries run past the end");
    expect_exif(II_ONE("\x12\x01", "\x04\0", "\x01\0\0\0", "\x06\0\0\0"), 26, FM_EFORMAT, 0,
                "orientation of type 4, count 1 (one SHORT expected)");
    expect_exif(II_ONE("\x12\x01", "\x03\0", "\x02\0\0\0", "\x06\0\x06\0"), 26, FM_EFORMAT, 0,
                "orientation of type 3, count 2");
    expect_exif(II_ONE("\x12\x01", "\x03\0", "\x01\0\0\0", "\x09\0\0\0"), 26, FM_EFORMAT, 0,
                "orientation 9 is not 1..8");
    expect_exif(II_ONE("\x12\x01", "\x03\0", "\x01\0\0\0", "\0\0\0\0"), 26, FM_EFORMAT, 0,
                "orientation 0 is not 1..8");
}

/* A fixture with an APP1 segment (payload seg) inserted after its SOI. */
static uint8_t *with_app1(const char *name, const uint8_t *seg, size_t seg_len, size_t *n)
{
    size_t m;
    uint8_t *b = fixture_bytes(name, &m);
    uint8_t *c = malloc(m + 4 + seg_len);
    memcpy(c, b, 2);
    c[2] = 0xff, c[3] = 0xe1;
    c[4] = (uint8_t)((seg_len + 2) >> 8), c[5] = (uint8_t)(seg_len + 2);
    memcpy(c + 6, seg, seg_len);
    memcpy(c + 6 + seg_len, b + 2, m - 2);
    free(b);
    *n = m + 4 + seg_len;
    return c;
}

static void test_exif_in_a_jpeg(void **state)
{
    (void)state;
    uint8_t seg[64];
    size_t n, len = exif(seg, II_ONE("\x12\x01", "\x03\0", "\x01\0\0\0", "\x0a\0\0\0"), 26);
    uint8_t *b = with_app1("jpeg-progressive.jpg", seg, len, &n);
    expect_fail(b, n, FM_EFORMAT, "bad EXIF: orientation 10 is not 1..8");
    free(b);
    len = exif(seg, "II*\0\x40\0\0\0\0\0", 10);
    b = with_app1("jpeg-gray.jpg", seg, len, &n);
    expect_fail(b, n, FM_EFORMAT, "bad EXIF: IFD0 at offset 64");
    free(b);
    /* A good one: the progressive picture, said to be stored mirrored,
     * comes out mirrored; a second EXIF segment after it is not read. */
    len = exif(seg, II_ONE("\x12\x01", "\x03\0", "\x01\0\0\0", "\x02\0\0\0"), 26);
    uint8_t *one = with_app1("jpeg-progressive.jpg", seg, len, &n);
    uint8_t *two = malloc(n + 4 + len);
    memcpy(two, one, 6 + len);
    memcpy(two + 6 + len, one + 2, n - 2); /* the same APP1 again, then the rest */
    two[6 + len + 4 + 6 + 8 + 2 + 8] = 0x09; /* its orientation: 9 */
    image a, p;
    assert_int_equal(picture_decode(two, n + 4 + len, "two.jpg", &a, NULL), FM_OK);
    read_picture("jpeg-progressive.jpg", &p);
    for (int y = 0; y < p.h; y++)
        for (int x = 0; x < p.w; x++)
            assert_memory_equal(a.rgba + 4 * ((size_t)y * a.w + x),
                                p.rgba + 4 * ((size_t)y * p.w + p.w - 1 - x), 4);
    image_free(&a);
    /* An XMP APP1, and an empty one, before the EXIF one: the EXIF is found. */
    static const char xmp[] = "http://ns.adobe.com/xap/1.0/";
    size_t x = sizeof xmp - 1;
    uint8_t *three = malloc(n + 4 + x + 4);
    memcpy(three, one, 2);
    three[2] = 0xff, three[3] = 0xe1, three[4] = (uint8_t)((x + 2) >> 8), three[5] = (uint8_t)(x + 2);
    memcpy(three + 6, xmp, x);
    memcpy(three + 6 + x, "\xff\xe1\x00\x02", 4);
    memcpy(three + 10 + x, one + 2, n - 2);
    assert_int_equal(picture_decode(three, n + 8 + x, "three.jpg", &a, NULL), FM_OK);
    for (int y = 0; y < p.h; y++)
        for (int x2 = 0; x2 < p.w; x2++)
            assert_memory_equal(a.rgba + 4 * ((size_t)y * a.w + x2),
                                p.rgba + 4 * ((size_t)y * p.w + p.w - 1 - x2), 4);
    image_free(&a);
    image_free(&p);
    free(one);
    free(two);
    free(three);
}

/* ---- formats told from the bytes ---- */

static void test_formats_by_their_bytes(void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        size_t n;
        const char *msg;
    } cases[] = {
        {"GIF89a\x01\0\x01\0\0\0\0", 13, "a GIF picture; fmnist reads PNG and JPEG (convert it, "
                                          "e.g. 'convert x.jpg x.png')"},
        {"GIF87a", 6, "a GIF picture"},
        {"RIFF\x10\0\0\0WEBPVP8 ", 16, "a WebP picture"},
        {"BM\x46\0\0\0\0\0\0\0\x36\0\0\0\x28\0\0\0", 18, "a BMP picture"},
        {"BMW is a car, not a picture", 27, "not a picture fmnist knows"},
        {"\0\0\0\x18" "ftypheic\0\0\0\0mif1heic", 24, "a HEIC/HEIF picture; fmnist reads PNG and "
                                                     "JPEG (convert it, e.g. 'heif-convert x.jpg x.png')"},
        {"\0\0\0\x18" "ftypmif1\0\0\0\0mif1heix", 24, "a HEIC/HEIF picture"},
        {"\0\0\0\x1c" "ftypavif\0\0\0\0avifmif1miaf", 28, "an AVIF picture"},
        {"\0\0\0\x18" "ftypmif1\0\0\0\0mif1avif", 24, "an AVIF picture"},
        {"\0\0\0\x18" "ftypisom\0\0\0\0isomiso2", 24, "not a picture fmnist knows"},
        {"II*\0\x08\0\0\0", 8, "a TIFF picture"},
        {"MM\0*\0\0\0\x08", 8, "a TIFF picture"},
        {"\0\0\1\0\1\0\x10\x10", 8, "an ICO picture"},
        {"8BPS\0\1", 6, "a Photoshop (PSD) picture"},
        {"<?xml version=\"1.0\"?><svg", 25, "an SVG/XML file; fmnist reads PNG and JPEG (render it, "
                                            "e.g. 'rsvg-convert -o x.png x.jpg')"},
        {"\xef\xbb\xbf\n  <svg xmlns=", 19, "an SVG/XML file"},
        {"\0\0\0\x0cjP  \r\n\x87\n", 12, "a JPEG 2000 picture"},
        {"\xff\x0a\xfa", 3, "a JPEG XL picture"},
        {"<!DOCTYPE html><html>", 21, "an HTML page, not a picture"},
        {"hello, world", 12, "not a picture fmnist knows; it reads PNG and JPEG"},
        {"\x89PNG", 4, "not a picture fmnist knows"},
        {"\xff\xd8", 2, "not a picture fmnist knows"},
        {"", 0, "empty file, not a picture"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_fail((const uint8_t *)cases[i].bytes, cases[i].n, FM_EFORMAT, cases[i].msg);
    assert_int_equal(picture_sniff((const uint8_t *)"GIF89a", 6), PICTURE_GIF);
    assert_string_equal(picture_format_name(PICTURE_WEBP), "WebP");
    /* The command names the file; standard input reads as "-". */
    image img = {-7, -7, NULL};
    fm_err e;
    assert_int_equal(picture_decode((const uint8_t *)"GIF89a", 6, "dir.v2/cat.png", &img, &e),
                     FM_EFORMAT);
    assert_non_null(strstr(e.msg, "'convert dir.v2/cat.png dir.v2/cat-converted.png'"));
    assert_int_equal(picture_decode((const uint8_t *)"GIF89a", 6, "dir.v2/cat", &img, &e),
                     FM_EFORMAT);
    assert_non_null(strstr(e.msg, "'convert dir.v2/cat dir.v2/cat.png'"));
    assert_int_equal(picture_decode((const uint8_t *)"GIF89a", 6, "my cat's \"best\".gif", &img, &e),
                     FM_EFORMAT);
    assert_non_null(strstr(e.msg, "'convert \"my cat's \\\"best\\\".gif\" \"my cat's \\\"best\\\".png\"'"));
    assert_int_equal(picture_decode((const uint8_t *)"GIF89a", 6, "<stdin>", &img, &e), FM_EFORMAT);
    assert_non_null(strstr(e.msg, "'convert - picture.png'"));
    assert_int_equal(img.w, -7);
}

/* picture_decode_memory's reading of headers (test_decode_memory measures
 * its figures against what decoding really allocates): a frame found by
 * walking the markers as libjpeg does; every coefficient counted for a
 * progressive frame or a first scan of fewer components than the frame;
 * the most (more than classify's whole budget: done alone) when the
 * header cannot be read; nothing for refused formats. */
static void test_decode_memory(void **state)
{
    (void)state;
    /* SOI, a 16 x 16 3-component frame (SOF0, or SOF2 at [3]), then an SOS
     * of 3 components (Ns at [25]). */
    uint8_t j[] = {0xff, 0xd8, 0xff, 0xc0, 0, 17, 8, 0, 16, 0, 16, 3, 1, 0x11, 0, 2, 0x11, 1,
                   3, 0x11, 1, 0xff, 0xda, 0, 12, 3};
    uint64_t baseline = picture_decode_memory(j, sizeof j);
    j[25] = 1; /* one component in the first scan: more scans follow */
    uint64_t multi = picture_decode_memory(j, sizeof j);
    j[25] = 3, j[3] = 0xc2; /* progressive */
    uint64_t progressive = picture_decode_memory(j, sizeof j);
    assert_true(baseline < multi);
    assert_int_equal(multi, progressive);
    /* The same frame after fill bytes, an APP0 and a restart marker. */
    static const uint8_t walked[] = {0xff, 0xd8, 0xff, 0xff, 0xe0, 0, 4, 'J', 'F', 0xff, 0xd0,
                                     0xff, 0xc0, 0, 17, 8, 0, 16, 0, 16, 3, 1, 0x11, 0, 2, 0x11,
                                     1, 3, 0x11, 1, 0xff, 0xda, 0, 12, 3};
    assert_int_equal(picture_decode_memory(walked, sizeof walked), baseline);
    /* Unread: no frame before the scan; a marker length of 1 (what follows
     * is not a marker); a frame header whose length is too short for it
     * (a scan header follows that length), or cut short by the end; no
     * scan after the frame. */
    static const struct {
        uint8_t b[24];
        size_t n;
    } unread[] = {
        {{0xff, 0xd8, 0xff, 0xda, 0, 8, 0, 0}, 8},
        {{0xff, 0xd8, 0xff, 0xe0, 0, 1, 0xff, 0xc0, 0, 17, 8, 0, 16, 0, 16, 3}, 16},
        {{0xff, 0xd8, 0xff, 0xc0, 0, 7, 8, 0, 16, 0, 16, 0xff, 0xda, 0, 12, 3}, 16},
        {{0xff, 0xd8, 0xff, 0xc0, 0, 17, 8, 0, 16, 0, 16, 3}, 11},
        {{0xff, 0xd8, 0xff, 0xc0, 0, 17, 8, 0, 16, 0, 16, 3, 1, 0x11, 0, 2, 0x11, 1, 3, 0x11, 1,
          0xff, 0xd9}, 23},
    };
    uint64_t most = picture_decode_memory(unread[0].b, unread[0].n);
    assert_true(most > ((uint64_t)1 << 30));
    for (size_t i = 1; i < sizeof unread / sizeof unread[0]; i++)
        assert_true(picture_decode_memory(unread[i].b, unread[i].n) + 32 >= most);
    /* A PNG without an IHDR where it belongs, or declaring 10^10 pixels:
     * the most a PNG may take; 3 x 2 pixels: little; an iCCP chunk before
     * the image data: twice 8,000,000 bytes more (libpng's limit for one,
     * and a second is read while the first is kept). */
    uint64_t no_ihdr = picture_decode_memory((const uint8_t *)"\x89PNG\r\n\x1a\n", 8);
    uint8_t png[56] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13,
                       'I',  'H', 'D', 'R', 0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0};
    assert_int_equal(picture_decode_memory(png, 33), no_ihdr);
    assert_true(no_ihdr > 4 * (uint64_t)IMAGE_MAX_PIXELS);
    png[17] = png[18] = png[21] = png[22] = 0, png[19] = 3, png[23] = 2; /* 3 x 2 */
    uint64_t small = picture_decode_memory(png, 33);
    assert_true(small < ((uint64_t)2 << 20));
    memcpy(png + 33, "\0\0\0\0iCCP", 8);
    assert_int_equal(picture_decode_memory(png, 45), small + 2 * 8000000);
    memcpy(png + 33, "\0\0\0\0IDAT\0\0\0\0\0\0\0\0iCCP", 20); /* after the data: not read */
    assert_int_equal(picture_decode_memory(png, 48), small);
    assert_int_equal(picture_decode_memory((const uint8_t *)"GIF89a", 6), 0);
    assert_int_equal(picture_decode_memory(NULL, 0), 0);
}

/* A JPEG named .png and a PNG named .jpg: the bytes decide. */
static void test_names_do_not_decide(void **state)
{
    (void)state;
    size_t n;
    uint8_t *b = fixture_bytes("jpeg-orient-1.jpg", &n);
    image img;
    assert_int_equal(picture_decode(b, n, "photo.png", &img, NULL), FM_OK);
    assert_int_equal(img.w, 32);
    image_free(&img);
    free(b);
    b = fixture_bytes("jpeg-upright.png", &n);
    assert_int_equal(picture_decode(b, n, "photo.jpg", &img, NULL), FM_OK);
    assert_int_equal(img.h, 24);
    image_free(&img);
    /* image_decode_jpeg itself refuses a PNG. */
    fm_err e;
    img.w = -7;
    assert_int_equal(image_decode_jpeg(b, n, "p.jpg", &img, &e), FM_EFORMAT);
    assert_string_equal(e.msg, "not a JPEG file");
    assert_int_equal(img.w, -7);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_orientation_comes_out_upright),
        cmocka_unit_test(test_orient_exact),
        cmocka_unit_test(test_progressive_gray_cmyk_arithmetic),
        cmocka_unit_test(test_other_colour_spaces),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_zero_size),
        cmocka_unit_test(test_size_limits),
        cmocka_unit_test(test_scan_limit),
        cmocka_unit_test(test_arithmetic_size_limit),
        cmocka_unit_test(test_exif_orientation_parsing),
        cmocka_unit_test(test_exif_in_a_jpeg),
        cmocka_unit_test(test_formats_by_their_bytes),
        cmocka_unit_test(test_names_do_not_decide),
        cmocka_unit_test(test_decode_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
