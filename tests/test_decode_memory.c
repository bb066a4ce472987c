/* test_decode_memory.c: picture_decode_memory is never less than what
 * decoding a picture and preparing it (picture_decode, image_prepare, as
 * classify does) allocate at their peak, libpng's and libjpeg's own
 * allocations included. Every allocation of the process is counted:
 * malloc and its kin are defined here, over glibc's __libc_ ones. Over the
 * fixtures and pictures made to cost the decoders most: a JPEG of one scan
 * a component (libjpeg keeps every coefficient), 16-bit PNGs a pixel high
 * or wide, a PNG carrying a 7.9 MB ICC profile in an 8 KB chunk, a large
 * picture. Skipped under ASan, which owns malloc. Runs from the top
 * directory. */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <jpeglib.h>
#include <malloc.h>
#include <png.h>

#include "image.h"
#include "picture.h"
#include "prep.h"

#ifndef TU_UNDER_ASAN
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);
extern void __libc_free(void *p);

/* Seen by the shared libraries (the build hides symbols by default). */
#define VISIBLE __attribute__((visibility("default")))

static long long in_use, peak; /* bytes, as malloc_usable_size counts them */

static void *counted(void *p)
{
    if (p && (in_use += (long long)malloc_usable_size(p)) > peak)
        peak = in_use;
    return p;
}

VISIBLE void *malloc(size_t n) { return counted(__libc_malloc(n)); }
VISIBLE void *calloc(size_t n, size_t size) { return counted(__libc_calloc(n, size)); }
VISIBLE void *aligned_alloc(size_t align, size_t n) { return counted(__libc_memalign(align, n)); }
VISIBLE void *memalign(size_t align, size_t n) { return counted(__libc_memalign(align, n)); }

VISIBLE int posix_memalign(void **out, size_t align, size_t n)
{
    void *p = counted(__libc_memalign(align, n));
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

VISIBLE void free(void *p)
{
    if (p)
        in_use -= (long long)malloc_usable_size(p);
    __libc_free(p);
}

VISIBLE void *realloc(void *p, size_t n)
{
    long long old = p ? (long long)malloc_usable_size(p) : 0;
    void *q = __libc_realloc(p, n);
    if (q || n == 0) {
        in_use -= old;
        counted(q);
    }
    return q;
}
#endif

/* Decodes and prepares the picture in buf, as classify does; its peak
 * must be within the estimate. Returns the peak. */
static long long expect_within(const char *name, const uint8_t *buf, size_t len)
{
#ifdef TU_UNDER_ASAN
    (void)name, (void)buf, (void)len;
    return 0;
#else
    uint64_t estimate = picture_decode_memory(buf, len);
    long long base = in_use;
    peak = in_use;
    image img;
    fm_err e;
    int rc = picture_decode(buf, len, name, &img, &e);
    if (rc == FM_OK) {
        uint8_t in[PREP_SIDE * PREP_SIDE];
        image_prepare(&img, IMAGE_INVERT_AUTO, in, NULL, &e);
        image_free(&img);
    }
    long long used = peak - base;
    if (used > (long long)estimate)
        fail_msg("%s: decoding and preparing took %lld bytes, more than the estimate of %llu",
                 name, used, (unsigned long long)estimate);
    if (getenv("FMNIST_TEST_VERBOSE"))
        printf("%s: %s, %lld of %llu bytes\n", name, rc ? e.msg : "decoded", used,
               (unsigned long long)estimate);
    return used;
#endif
}

static void test_fixtures(void **state)
{
    (void)state;
#ifdef TU_UNDER_ASAN
    skip();
#endif
    DIR *d = opendir("tests/fixtures");
    assert_non_null(d);
    int n = 0;
    for (struct dirent *de; (de = readdir(d));) {
        size_t l = strlen(de->d_name);
        if (l < 4 || (strcmp(de->d_name + l - 4, ".png") && strcmp(de->d_name + l - 4, ".jpg")))
            continue;
        char path[512];
        snprintf(path, sizeof path, "tests/fixtures/%s", de->d_name);
        size_t len = 0;
        uint8_t *b = tu_read(path, &len);
        assert_non_null(b);
        expect_within(path, b, len);
        free(b);
        n++;
    }
    closedir(d);
    assert_true(n >= 40);
}

/* A w x h JPEG of 3 components, one scan each (baseline, sequential). */
static uint8_t *scan_per_component_jpeg(int w, int h, int subsample, size_t *len)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    unsigned char *out = NULL;
    unsigned long n = 0;
    jpeg_mem_dest(&c, &out, &n);
    c.image_width = (JDIMENSION)w, c.image_height = (JDIMENSION)h;
    c.input_components = 3, c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    for (int k = 0; k < 3; k++)
        c.comp_info[k].h_samp_factor = c.comp_info[k].v_samp_factor = k == 0 ? subsample : 1;
    static jpeg_scan_info scans[3];
    for (int k = 0; k < 3; k++)
        scans[k] = (jpeg_scan_info){1, {k, 0, 0, 0}, 0, 63, 0, 0};
    c.scan_info = scans, c.num_scans = 3;
    jpeg_start_compress(&c, TRUE);
    uint8_t *row = malloc((size_t)w * 3);
    assert_non_null(row);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w * 3; x++)
            row[x] = (uint8_t)(x * 7 + y * 3);
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    *len = n;
    return out;
}

/* 50,000 empty APP1 segments after the SOI: saved by libjpeg, each cost
 * 88 bytes and a walk of the list (9 s); skipped, nothing. */
static void test_jpeg_with_many_app1_segments(void **state)
{
    (void)state;
#ifdef TU_UNDER_ASAN
    skip();
#endif
    size_t n;
    uint8_t *b = scan_per_component_jpeg(8, 8, 1, &n);
    enum { SEGMENTS = 50000 };
    uint8_t *c = malloc(n + 4 * SEGMENTS);
    assert_non_null(c);
    memcpy(c, b, 2);
    for (size_t k = 0; k < SEGMENTS; k++)
        memcpy(c + 2 + 4 * k, "\xff\xe1\x00\x02", 4);
    memcpy(c + 2 + 4 * SEGMENTS, b + 2, n - 2);
    expect_within("app1-50000.jpg", c, n + 4 * SEGMENTS);
    free(b), free(c);
}

static void test_jpeg_with_a_scan_a_component(void **state)
{
    (void)state;
#ifdef TU_UNDER_ASAN
    skip();
#endif
    static const int sizes[][3] = {{512, 512, 1}, {512, 512, 2}, {65500, 16, 4}, {16, 65500, 4},
                                   {1, 65500, 4}, {65500, 1, 4}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t len;
        uint8_t *b = scan_per_component_jpeg(sizes[i][0], sizes[i][1], sizes[i][2], &len);
        char name[64];
        snprintf(name, sizeof name, "scans-%dx%d-%d.jpg", sizes[i][0], sizes[i][1], sizes[i][2]);
        long long used = expect_within(name, b, len);
        /* Every coefficient kept: 2 bytes each of 3 components. */
        if (sizes[i][0] == 512 && sizes[i][2] == 1)
            assert_true(used > 4 * 512 * 512 + 6 * 512 * 512);
        free(b);
    }
}

/* A 16-bit RGBA PNG (libpng's simplified writer), with iccp iCCP chunks
 * of a 7,900,000-byte profile inserted after the IHDR. */
static uint8_t *png16(int w, int h, int iccp, size_t *len)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = (png_uint_32)w, im.height = (png_uint_32)h;
    im.format = PNG_FORMAT_LINEAR_RGB_ALPHA;
    size_t n = (size_t)w * h * 4;
    uint16_t *px = malloc(n * 2);
    assert_non_null(px);
    for (size_t i = 0; i < n; i++)
        px[i] = (uint16_t)(i * 2654435761u >> 16);
    png_alloc_size_t size = 0;
    assert_true(png_image_write_get_memory_size(im, size, 0, px, 0, NULL));
    uint8_t *png = malloc(size);
    assert_non_null(png);
    assert_true(png_image_write_to_memory(&im, png, &size, 0, px, 0, NULL));
    free(px);
    if (!iccp) {
        *len = size;
        return png;
    }
    /* The profile: a 128-byte header (size, class, colour space, PCS,
     * 'acsp', the D50 illuminant), no tags, zeros. */
    const uLong plen = 7900000;
    uint8_t *prof = calloc(plen, 1);
    assert_non_null(prof);
    prof[0] = (uint8_t)(plen >> 24), prof[1] = (uint8_t)(plen >> 16);
    prof[2] = (uint8_t)(plen >> 8), prof[3] = (uint8_t)plen;
    prof[8] = 2, prof[9] = 0x10; /* version 2.1 */
    memcpy(prof + 12, "mntrRGB XYZ ", 12);
    memcpy(prof + 36, "acsp", 4);
    static const uint8_t d50[12] = {0, 0, 0xf6, 0xd6, 0, 1, 0, 0, 0, 0, 0xd3, 0x2d};
    memcpy(prof + 68, d50, 12);
    uLongf zlen = compressBound(plen);
    uint8_t *chunk = malloc(12 + 5 + 1 + zlen);
    assert_non_null(chunk);
    memcpy(chunk + 4, "iCCPicc\0\0", 9); /* name "icc", method 0 */
    assert_int_equal(compress2(chunk + 13, &zlen, prof, plen, 9), Z_OK);
    free(prof);
    uint32_t clen = (uint32_t)(5 + zlen);
    chunk[0] = (uint8_t)(clen >> 24), chunk[1] = (uint8_t)(clen >> 16);
    chunk[2] = (uint8_t)(clen >> 8), chunk[3] = (uint8_t)clen;
    uint32_t crc = (uint32_t)crc32(0, chunk + 4, 4 + clen);
    uint8_t *c = chunk + 8 + clen;
    c[0] = (uint8_t)(crc >> 24), c[1] = (uint8_t)(crc >> 16), c[2] = (uint8_t)(crc >> 8);
    c[3] = (uint8_t)crc;
    /* iccp copies after the signature and IHDR (libpng keeps the first
     * while it reads the second) */
    size_t at = 33, total = size + (size_t)iccp * (12 + clen);
    uint8_t *out = malloc(total);
    assert_non_null(out);
    memcpy(out, png, at);
    for (int k = 0; k < iccp; k++)
        memcpy(out + at + (size_t)k * (12 + clen), chunk, 12 + clen);
    memcpy(out + at + (size_t)iccp * (12 + clen), png + at, size - at);
    free(png), free(chunk);
    *len = total;
    return out;
}

static void test_pngs_that_cost_libpng_most(void **state)
{
    (void)state;
#ifdef TU_UNDER_ASAN
    skip();
#endif
    static const int cases[][3] = {{1000000, 1, 0}, {1, 1000000, 0}, {300, 200, 1},
                                   {300, 200, 2}, {3000, 2000, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len;
        uint8_t *b = png16(cases[i][0], cases[i][1], cases[i][2], &len);
        char name[64];
        snprintf(name, sizeof name, "rgba16-%dx%d-iccp%d.png", cases[i][0], cases[i][1],
                 cases[i][2]);
        long long used = expect_within(name, b, len);
        if (cases[i][2]) /* libpng really kept the profile (two of them at once) */
            assert_true(used > cases[i][2] * 7900000);
        free(b);
    }
}

/* Pictures that cost image_prepare most: a checkerboard (every other
 * pixel a part of its own), noise, and the same a side over PREP_MAX_SIDE. */
static void test_pictures_that_cost_preparing_most(void **state)
{
    (void)state;
#ifdef TU_UNDER_ASAN
    skip();
#endif
    static const int sides[] = {1024, 1025, 1023, 1500};
    for (size_t i = 0; i < sizeof sides / sizeof sides[0]; i++)
        for (int noise = 0; noise < 2; noise++) {
            int n = sides[i];
            uint8_t *pix = malloc((size_t)n * n);
            assert_non_null(pix);
            uint32_t r = 12345;
            for (size_t k = 0; k < (size_t)n * n; k++) {
                r = r * 1664525u + 1013904223u;
                pix[k] = noise ? (uint8_t)(r >> 24) : (uint8_t)((k / n + k % n) % 2 ? 255 : 0);
            }
            uint8_t *b;
            size_t len;
            fm_err e;
            assert_int_equal(image_encode_gray_png(pix, n, n, &b, &len, &e), FM_OK);
            free(pix);
            char name[64];
            snprintf(name, sizeof name, "%s-%d.png", noise ? "noise" : "checkerboard", n);
            expect_within(name, b, len);
            free(b);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_jpeg_with_a_scan_a_component),
        cmocka_unit_test(test_jpeg_with_many_app1_segments),
        cmocka_unit_test(test_pngs_that_cost_libpng_most),
        cmocka_unit_test(test_pictures_that_cost_preparing_most),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
