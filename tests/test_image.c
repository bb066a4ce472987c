/* test_image.c: PNG decoding of every sample format, and every malformed
 * PNG giving its own error with the outputs untouched. Runs from the top
 * directory. (The preprocessing of pictures is tested in test_prep.c.) */
#include "testutil.h"

#include "idx.h"
#include "image.h"

#define FIX "tests/fixtures/"

static void read_fixture(const char *name, image *img)
{
    char path[256];
    fm_err e;
    snprintf(path, sizeof path, FIX "%s", name);
    if (image_read_png(path, img, &e) != FM_OK)
        fail_msg("%s: %s", path, e.msg);
}

/* The pixel of a decoded picture at (x, y). */
static const uint8_t *px(const image *img, int x, int y)
{
    return img->rgba + 4 * ((size_t)y * img->w + x);
}

static void expect_px(const char *name, const image *img, int x, int y, int r, int g, int b, int a)
{
    const uint8_t *p = px(img, x, y);
    /* A fully transparent pixel's color is not meaningful. */
    int same = p[3] == a && (a == 0 || (p[0] == r && p[1] == g && p[2] == b));
    if (!same)
        fail_msg("%s (%d,%d): read (%d,%d,%d,%d), want (%d,%d,%d,%d)", name, x, y, p[0], p[1],
                 p[2], p[3], r, g, b, a);
}

/* ---- decoding: every color type and bit depth, sample by sample ---- */

static void test_decode_low_bit_depths(void **state)
{
    (void)state;
    const char *names[] = {"depth-gray1.png", "depth-gray2.png", "depth-gray4.png",
                           "depth-gray1-interlaced.png", "depth-gray2-interlaced.png",
                           "depth-gray4-interlaced.png"};
    for (int f = 0; f < 6; f++) {
        int depth = 1 << (f % 3), n = 1 << depth;
        image img;
        read_fixture(names[f], &img);
        assert_int_equal(img.w, n);
        assert_int_equal(img.h, f < 3 ? 1 : 3);
        for (int y = 0; y < img.h; y++)
            for (int k = 0; k < n; k++) {
                /* A depth-bit sample k is k * 255 / (2^depth - 1) in 8 bits. */
                int v = k * 255 / (n - 1);
                expect_px(names[f], &img, k, y, v, v, v, 255);
            }
        image_free(&img);
    }
}

static void test_decode_palette_with_trns(void **state)
{
    (void)state;
    const char *names[] = {"depth-palette1.png", "depth-palette2.png", "depth-palette4.png"};
    for (int f = 0; f < 3; f++) {
        int n = 2 << f;
        if (f == 2)
            n = 16;
        image img;
        read_fixture(names[f], &img);
        assert_int_equal(img.w, n);
        for (int i = 0; i < n; i++) {
            int a = i == 0 ? 0 : i == 1 && n > 2 ? 128 : 255;
            expect_px(names[f], &img, i, 0, i * 7 % 256, i * 13 % 256, 255 - i, a);
        }
        image_free(&img);
    }
}

/* libpng's simplified API would take 16-bit data without gAMA as linear
 * and brighten it through the sRGB curve (v=1 read as 20, v=50 as 121): a
 * 16-bit v*257 must read back as v, with and without alpha. */
static void test_decode_16bit_is_not_gamma_converted(void **state)
{
    (void)state;
    image img;
    read_fixture("depth-gray16.png", &img);
    for (int v = 0; v < 256; v++)
        expect_px("depth-gray16.png", &img, v, 0, v, v, v, 255);
    image_free(&img);
    read_fixture("depth-ga16.png", &img);
    for (int v = 0; v < 256; v++)
        expect_px("depth-ga16.png", &img, v, 0, v, v, v, 255 - v);
    image_free(&img);
    const char *rgb[] = {"depth-rgb16.png", "depth-rgba16.png", "depth-rgb16-interlaced.png"};
    for (int f = 0; f < 3; f++) {
        read_fixture(rgb[f], &img);
        for (int y = 0; y < img.h; y++)
            for (int v = 0; v < 256; v++)
                expect_px(rgb[f], &img, v, y, v, 255 - v, v * 7 % 256, 255);
        image_free(&img);
    }
}

static void test_decode_8bit_alpha_is_straight(void **state)
{
    (void)state;
    image img;
    read_fixture("depth-gray8.png", &img);
    for (int v = 0; v < 256; v++)
        expect_px("depth-gray8.png", &img, v, 0, v, v, v, 255);
    image_free(&img);
    read_fixture("depth-ga8.png", &img);
    for (int v = 0; v < 256; v++)
        expect_px("depth-ga8.png", &img, v, 0, v, v, v, 255 - v);
    image_free(&img);
    read_fixture("depth-rgba8.png", &img);
    for (int v = 0; v < 256; v++)
        expect_px("depth-rgba8.png", &img, v, 0, v, 255 - v, v * 7 % 256, 255 - v);
    image_free(&img);
}

/* ---- malformed PNGs: each its own error, outputs untouched ---- */

static uint8_t *fixture_bytes(const char *name, size_t *n)
{
    char path[256];
    snprintf(path, sizeof path, FIX "%s", name);
    uint8_t *b = tu_read(path, n);
    assert_non_null(b);
    return b;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* Appends a chunk with a correct CRC. */
static size_t put_chunk(uint8_t *buf, size_t at, const char *type, const uint8_t *data, uint32_t n)
{
    put32(buf + at, n);
    memcpy(buf + at + 4, type, 4);
    if (n)
        memcpy(buf + at + 8, data, n);
    put32(buf + at + 8 + n, (uint32_t)crc32(0, buf + at + 4, 4 + n));
    return at + 12 + n;
}

/* A PNG whose IHDR (correct CRC) declares w x h 8-bit gray, then a small
 * valid IDAT and IEND. */
static size_t craft_png(uint8_t *buf, uint32_t w, uint32_t h)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(buf, sig, 8);
    uint8_t ihdr[13] = {0};
    put32(ihdr, w);
    put32(ihdr + 4, h);
    ihdr[8] = 8; /* depth; color type 0 gray, no interlace */
    size_t at = put_chunk(buf, 8, "IHDR", ihdr, 13);
    uint8_t raw[64] = {0}, z[128];
    uLongf zn = sizeof z;
    assert_int_equal(compress(z, &zn, raw, sizeof raw), Z_OK);
    at = put_chunk(buf, at, "IDAT", z, (uint32_t)zn);
    return put_chunk(buf, at, "IEND", NULL, 0);
}

static void expect_fail(const uint8_t *buf, size_t len, int code, const char *msg_part)
{
    image img = {-7, -7, (uint8_t *)(uintptr_t)0x1};
    fm_err e;
    int rc = image_decode_png(buf, len, "x.png", &img, &e);
    if (rc != code || !strstr(e.msg, msg_part))
        fail_msg("status %d (want %d), message '%s' (want '%s')", rc, code, rc ? e.msg : "",
                 msg_part);
    assert_string_equal(e.file, "x.png");
    /* Untouched. */
    assert_int_equal(img.w, -7);
    assert_int_equal(img.h, -7);
    assert_ptr_equal(img.rgba, (uint8_t *)(uintptr_t)0x1);
}

static void test_not_a_png(void **state)
{
    (void)state;
    expect_fail((const uint8_t *)"", 0, FM_EFORMAT, "empty file, not a PNG");
    expect_fail((const uint8_t *)"hello, not a PNG", 16, FM_EFORMAT, "not a PNG file");
    expect_fail((const uint8_t *)"\x89PNG", 4, FM_EFORMAT, "not a PNG file");
    /* A JPEG's first bytes. */
    expect_fail((const uint8_t *)"\xff\xd8\xff\xe0\0\x10JFIF\0", 11, FM_EFORMAT, "not a PNG file");
}

static void test_truncated(void **state)
{
    (void)state;
    size_t n;
    uint8_t *b = fixture_bytes("t1-gray28.png", &n);
    /* At every length up to the end of the image data (the IEND chunk
     * after it is not needed). */
    for (size_t len = 8; len < n - 12; len++)
        expect_fail(b, len, FM_EFORMAT, "truncated PNG");
    free(b);
}

static void test_crc_broken(void **state)
{
    (void)state;
    size_t n;
    uint8_t *b = fixture_bytes("t0-gray28.png", &n);
    b[29] ^= 1; /* IHDR's CRC */
    expect_fail(b, n, FM_EFORMAT, "corrupt PNG: IHDR: CRC error");
    b[29] ^= 1;
    /* The IDAT chunk's CRC. */
    size_t at = 33;
    assert_memory_equal(b + at + 4, "IDAT", 4);
    uint32_t len = (uint32_t)b[at] << 24 | (uint32_t)b[at + 1] << 16 | (uint32_t)b[at + 2] << 8 | b[at + 3];
    b[at + 8 + len] ^= 0x80;
    expect_fail(b, n, FM_EFORMAT, "corrupt PNG: IDAT: CRC error");
    b[at + 8 + len] ^= 0x80;
    /* A damaged deflate stream with a CRC recomputed to match. */
    b[at + 10] ^= 0x55;
    put32(b + at + 8 + len, (uint32_t)crc32(0, b + at + 4, 4 + len));
    expect_fail(b, n, FM_EFORMAT, "bad PNG: IDAT");
    free(b);
}

static void test_zero_size(void **state)
{
    (void)state;
    uint8_t buf[256];
    size_t n = craft_png(buf, 0, 0);
    expect_fail(buf, n, FM_EFORMAT, "0x0 pixels, an empty image");
    n = craft_png(buf, 5, 0);
    expect_fail(buf, n, FM_EFORMAT, "5x0 pixels, an empty image");
}

/* A header claiming 100000x100000 (40 GB as RGBA): refused from the header
 * alone, before libpng or any allocation. FM_ELIMIT, not FM_ENOMEM (what a
 * failed 40 GB allocation gives) or libpng's message, shows the guard ran
 * first. (No timing: a busy machine makes any bound flaky.) */
static void test_decompression_bomb_header(void **state)
{
    (void)state;
    uint8_t buf[256];
    size_t n = craft_png(buf, 100000, 100000);
    expect_fail(buf, n, FM_ELIMIT, "100000x100000 pixels is over the limit of 50 megapixels");
    /* Just over the limit, and wide-but-short. */
    n = craft_png(buf, 7072, 7071);
    expect_fail(buf, n, FM_ELIMIT, "over the limit of 50 megapixels");
    n = craft_png(buf, 50000001, 1);
    expect_fail(buf, n, FM_ELIMIT, "over the limit");
    /* Under the limit but far more pixels than 64 compressed bytes can
     * hold (deflate expands at most 1032x): refused, not allocated. */
    n = craft_png(buf, 7071, 7071);
    expect_fail(buf, n, FM_EFORMAT, "7071x7071 pixels cannot come from");
    /* One byte of image data: "1 byte", not "1 bytes". */
    n = craft_png(buf, 3000, 3000);
    size_t at = 8 + 12 + 13;
    static const uint8_t one = 0x78;
    at = put_chunk(buf, at, "IDAT", &one, 1);
    n = put_chunk(buf, at, "IEND", NULL, 0);
    image img = {-7, -7, NULL};
    fm_err e;
    assert_int_equal(image_decode_png(buf, n, "x.png", &img, &e), FM_EFORMAT);
    assert_string_equal(e.msg, "truncated PNG: 3000x3000 pixels cannot come from 1 byte of image "
                               "data");
}

/* ---- the image data against the rows it fills ---- */

/* A PNG of w x h pixels (colour type, depth, interlace as IHDR has them)
 * whose zlib stream inflates to rows (rows_n bytes, all the rows need),
 * then zeros_mib MiB of zeros after them (1 KB of compressed data a MiB),
 * then excess bytes of zeros, and holds pad bytes of garbage after its end
 * (which libpng skips); in IDAT chunks of at most piece bytes. In a new
 * buffer; *n is its length. */
static uint8_t *png_with_data(uint32_t w, uint32_t h, int type, int depth, int interlace,
                              const uint8_t *rows, size_t rows_n, unsigned zeros_mib,
                              size_t excess, size_t pad, size_t piece, size_t *n)
{
    /* The rows and the excess zeros, flushed to a byte boundary, not final. */
    uint8_t *raw = calloc(rows_n + excess + 1, 1);
    memcpy(raw, rows, rows_n);
    size_t cap = compressBound((uLong)(rows_n + excess)) + 64 + (size_t)zeros_mib * 1100 + pad;
    uint8_t *z = malloc(cap);
    z_stream s;
    memset(&s, 0, sizeof s);
    assert_int_equal(deflateInit(&s, 9), Z_OK);
    s.next_in = raw, s.avail_in = (uInt)(rows_n + excess);
    s.next_out = z, s.avail_out = (uInt)cap;
    assert_int_equal(deflate(&s, Z_SYNC_FLUSH), Z_OK);
    size_t zn = cap - s.avail_out;
    deflateEnd(&s);
    uLong adler = adler32(1, raw, (uInt)(rows_n + excess));
    /* 1 MiB of zeros as raw deflate blocks that copy only from themselves,
     * again and again. */
    if (zeros_mib) {
        uint8_t *mib = calloc(1 << 20, 1), blk[2048];
        memset(&s, 0, sizeof s);
        assert_int_equal(deflateInit2(&s, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY), Z_OK);
        s.next_in = mib, s.avail_in = 1 << 20;
        s.next_out = blk, s.avail_out = sizeof blk;
        assert_int_equal(deflate(&s, Z_SYNC_FLUSH), Z_OK);
        size_t bn = sizeof blk - s.avail_out;
        deflateEnd(&s);
        uLong a1 = adler32(1, mib, 1 << 20);
        for (unsigned k = 0; k < zeros_mib; k++, zn += bn) {
            memcpy(z + zn, blk, bn);
            adler = adler32_combine(adler, a1, 1 << 20);
        }
        free(mib);
    }
    /* A last, empty block (fixed codes: 1, 01, end code 0000000), the
     * Adler-32, then the garbage. */
    z[zn++] = 0x03, z[zn++] = 0x00;
    z[zn++] = (uint8_t)(adler >> 24), z[zn++] = (uint8_t)(adler >> 16);
    z[zn++] = (uint8_t)(adler >> 8), z[zn++] = (uint8_t)adler;
    memset(z + zn, 0xa5, pad), zn += pad;
    uint8_t *buf = malloc(zn + (zn / piece + 1) * 12 + 100);
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(buf, sig, 8);
    uint8_t ihdr[13] = {0};
    put32(ihdr, w);
    put32(ihdr + 4, h);
    ihdr[8] = (uint8_t)depth, ihdr[9] = (uint8_t)type, ihdr[12] = (uint8_t)interlace;
    size_t at = put_chunk(buf, 8, "IHDR", ihdr, 13);
    for (size_t i = 0; i < zn; i += piece)
        at = put_chunk(buf, at, "IDAT", z + i, (uint32_t)(zn - i < piece ? zn - i : piece));
    *n = put_chunk(buf, at, "IEND", NULL, 0);
    free(z);
    free(raw);
    return buf;
}

/* libpng reads the rows, then inflates whatever the stream holds after
 * them to its end (and drops it with a warning): a 28x28 picture with 1
 * GiB of zeros after its rows, in a 1 MB file, took 2.6 s, and the time
 * grew with the file. Image data inflating to more than twice the rows'
 * bytes is refused, in time in proportion to the image; twice is read. */
static void test_excess_image_data(void **state)
{
    (void)state;
    /* 28x28 8-bit gray: 28 rows of a filter byte and 28 pixels. */
    uint8_t rows[812] = {0};
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 28; x++)
            rows[29 * y + 1 + x] = (uint8_t)(9 * x + y);
    size_t n;
    uint8_t *b = png_with_data(28, 28, 0, 8, 0, rows, sizeof rows, 64, 0, 0, 65536, &n);
    expect_fail(b, n, FM_EFORMAT, "bad PNG: its image data inflates to more than 1624 bytes, "
                                  "twice what its 28x28 pixels fill");
    free(b);
    /* At twice, read, the pixels as they are; a byte more, refused. */
    b = png_with_data(28, 28, 0, 8, 0, rows, sizeof rows, 0, 812, 0, 65536, &n);
    image img;
    fm_err e;
    assert_int_equal(image_decode_png(b, n, "x.png", &img, &e), FM_OK);
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 28; x++)
            expect_px("twice", &img, x, y, (9 * x + y) & 255, (9 * x + y) & 255,
                      (9 * x + y) & 255, 255);
    image_free(&img);
    free(b);
    b = png_with_data(28, 28, 0, 8, 0, rows, sizeof rows, 0, 813, 0, 65536, &n);
    expect_fail(b, n, FM_EFORMAT, "bad PNG: its image data inflates to more than 1624 bytes");
    free(b);
    /* The same in IDAT chunks of 7 bytes: the chunks are one stream. */
    b = png_with_data(28, 28, 0, 8, 0, rows, sizeof rows, 0, 812, 0, 7, &n);
    assert_int_equal(image_decode_png(b, n, "x.png", &img, &e), FM_OK);
    image_free(&img);
    free(b);
    b = png_with_data(28, 28, 0, 8, 0, rows, sizeof rows, 0, 813, 0, 7, &n);
    expect_fail(b, n, FM_EFORMAT, "bad PNG: its image data inflates to more than 1624 bytes");
    free(b);
    /* The rows' bytes over Adam7's passes and at depths under 8: 837 for
     * 28x28 gray interlaced, 15 for 13x5 at 1 bit, 130 for 3x5 16-bit RGBA
     * interlaced (pass 2 has a row but no columns: no bytes). All zeros:
     * each filter byte 0. */
    static const struct {
        uint32_t w, h;
        int type, depth, interlace;
        size_t raw;
    } shapes[] = {{28, 28, 0, 8, 1, 837}, {13, 5, 0, 1, 0, 15}, {3, 5, 6, 16, 1, 130}};
    static const uint8_t zeros[837];
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        b = png_with_data(shapes[k].w, shapes[k].h, shapes[k].type, shapes[k].depth,
                          shapes[k].interlace, zeros, shapes[k].raw, 0, shapes[k].raw, 0, 65536, &n);
        if (image_decode_png(b, n, "x.png", &img, &e))
            fail_msg("%ux%u, twice its rows: %s", shapes[k].w, shapes[k].h, e.msg);
        image_free(&img);
        free(b);
        b = png_with_data(shapes[k].w, shapes[k].h, shapes[k].type, shapes[k].depth,
                          shapes[k].interlace, zeros, shapes[k].raw, 0, shapes[k].raw + 1, 0, 65536, &n);
        char want[100];
        snprintf(want, sizeof want, "inflates to more than %zu bytes, twice what its %ux%u",
                 2 * shapes[k].raw, shapes[k].w, shapes[k].h);
        expect_fail(b, n, FM_EFORMAT, want);
        free(b);
    }
}

/* Compressed image data beyond what any encoder writes for the rows is
 * refused before it is inflated: no more than the rows' bytes, a quarter
 * more, 32 bytes a row and 65,536 (for 28x28 8-bit gray, 812 + 203 + 896
 * + 65,536 = 67,447). Inflating it cost libpng 2.6 s for the 1 GiB of
 * zeros a 1 MB file holds, and blocks that inflate to nothing cost it as
 * much for each table to build. */
static void test_compressed_image_data_bound(void **state)
{
    (void)state;
    uint8_t rows[812] = {0};
    size_t n, z0;
    uint8_t *b = png_with_data(28, 28, 0, 8, 0, rows, sizeof rows, 0, 0, 0, 65536, &z0);
    free(b);
    z0 -= 8 + 25 + 12 + 12; /* the stream alone: no signature, IHDR, IDAT's frame, IEND */
    b = png_with_data(28, 28, 0, 8, 0, rows, sizeof rows, 0, 0, 67447 - z0, 65536, &n);
    image img;
    fm_err e;
    if (image_decode_png(b, n, "x.png", &img, &e))
        fail_msg("67,447 bytes of image data: %s", e.msg);
    image_free(&img);
    free(b);
    b = png_with_data(28, 28, 0, 8, 0, rows, sizeof rows, 0, 0, 67448 - z0, 65536, &n);
    expect_fail(b, n, FM_EFORMAT, "bad PNG: 67448 bytes of image data for 28x28 pixels, more than "
                                  "any encoder writes (at most 67447)");
    free(b);
    /* 1 GiB of zeros after a 28x28 picture's rows: 1 MB. */
    b = png_with_data(28, 28, 0, 8, 0, rows, sizeof rows, 1024, 0, 0, 65536, &n);
    expect_fail(b, n, FM_EFORMAT, "image data for 28x28 pixels, more than any encoder writes");
    free(b);
}

/* The image data in chunks of one byte (libpng reads across them). */
static void test_image_data_in_small_chunks(void **state)
{
    (void)state;
    size_t n;
    uint8_t *b = fixture_bytes("t1-interlaced.png", &n);
    uint8_t *c = malloc(n * 13);
    size_t at = 8, cn = 8;
    memcpy(c, b, 8);
    while (at + 12 <= n) {
        uint32_t k = (uint32_t)b[at] << 24 | (uint32_t)b[at + 1] << 16 | (uint32_t)b[at + 2] << 8 | b[at + 3];
        if (memcmp(b + at + 4, "IDAT", 4) == 0)
            for (uint32_t i = 0; i < k; i++)
                cn = put_chunk(c, cn, "IDAT", b + at + 8 + i, 1);
        else
            cn = put_chunk(c, cn, (const char *)b + at + 4, b + at + 8, k);
        at += 12 + (size_t)k;
    }
    image whole, bytes;
    fm_err e;
    assert_int_equal(image_decode_png(b, n, "x.png", &whole, &e), FM_OK);
    if (image_decode_png(c, cn, "x.png", &bytes, &e))
        fail_msg("in 1-byte chunks: %s", e.msg);
    assert_int_equal(bytes.w, whole.w);
    assert_memory_equal(bytes.rgba, whole.rgba, (size_t)whole.w * whole.h * 4);
    image_free(&whole), image_free(&bytes);
    free(b), free(c);
}

static void test_read_file_errors(void **state)
{
    (void)state;
    image img = {-7, -7, NULL};
    fm_err e;
    assert_int_not_equal(image_read_png(FIX "no-such-file.png", &img, &e), FM_OK);
    assert_string_equal(e.file, FIX "no-such-file.png");
    assert_int_equal(img.w, -7);
    /* A directory is not a picture. */
    assert_int_not_equal(image_read_png(FIX, &img, &e), FM_OK);
    assert_int_equal(img.w, -7);
    assert_null(img.rgba);
}

/* ---- writing ---- */

static void test_rgb_png_round_trip(void **state)
{
    (void)state;
    char *dir = tu_tmpdir(), path[4200];
    uint8_t pix[7 * 5 * 3];
    for (size_t i = 0; i < sizeof pix; i++)
        pix[i] = (uint8_t)(i * 37);
    snprintf(path, sizeof path, "%s/rgb.png", dir);
    fm_err e;
    assert_int_equal(image_write_rgb_png(path, pix, 7, 5, &e), FM_OK);
    image img;
    assert_int_equal(image_read_png(path, &img, &e), FM_OK);
    assert_int_equal(img.w, 7);
    assert_int_equal(img.h, 5);
    for (int i = 0; i < 35; i++) {
        assert_memory_equal(img.rgba + 4 * i, pix + 3 * i, 3);
        assert_int_equal(img.rgba[4 * i + 3], 255);
    }
    image_free(&img);
    /* Bad sizes and an unwritable path: an error, nothing written. */
    assert_int_equal(image_write_rgb_png(path, pix, 0, 5, &e), FM_EINVAL);
    assert_string_equal(e.file, path);
    snprintf(path, sizeof path, "%s/no/such/dir.png", dir);
    assert_int_equal(image_write_gray_png(path, pix, 7, 5, &e), FM_EIO);
    assert_string_equal(e.file, path);
    tu_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_low_bit_depths),
        cmocka_unit_test(test_decode_palette_with_trns),
        cmocka_unit_test(test_decode_16bit_is_not_gamma_converted),
        cmocka_unit_test(test_decode_8bit_alpha_is_straight),
        cmocka_unit_test(test_not_a_png),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_crc_broken),
        cmocka_unit_test(test_zero_size),
        cmocka_unit_test(test_decompression_bomb_header),
        cmocka_unit_test(test_excess_image_data),
        cmocka_unit_test(test_compressed_image_data_bound),
        cmocka_unit_test(test_image_data_in_small_chunks),
        cmocka_unit_test(test_read_file_errors),
        cmocka_unit_test(test_rgb_png_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
