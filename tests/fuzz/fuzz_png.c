/* fuzz_png.c: image_decode_png, then image_prepare on what it decoded.
 *
 * Input: a PNG file. A picture that decodes is prepared with every invert
 * mode (only "auto" above 2^16 pixels, to keep the rate up). An input that
 * does not even start with the PNG signature is, after decode has rejected
 * it, also read as a raw picture so image_prepare sees every shape and
 * pixel pattern, not only what libpng happens to produce:
 *   bytes 0-1  width - 1 (little-endian, mod 256: every aspect ratio and
 *              rounding case, at a rate larger pictures would not allow)
 *   bytes 2-3  height - 1 (likewise)
 *   byte  4    invert mode (mod 3)
 *   the rest   RGBA bytes, repeated to fill the picture (zero when none).
 * The libFuzzer build adds a mutator that rewrites each chunk's CRC after
 * most mutations, so that edited chunks reach libpng's decoder instead of
 * its CRC check. */
#include <png.h>
#include <zlib.h>

#include "fuzz.h"
#include "image.h"
#include "picture.h"
#include "prep.h"

static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

/* Prepares img and checks the result; when twice, prepares it again into
 * a differently filled buffer: equal outputs show every byte is written
 * and nothing depends on uninitialised memory. */
static void prepare(const image *img, enum image_invert inv, int twice)
{
    uint8_t out[2][28 * 28];
    image_prep_info info[2];
    for (int k = 0; k < 1 + twice; k++) {
        memset(out[k], k ? 0x5a : 0xa5, sizeof out[k]);
        memset(&info[k], k ? 0x5a : 0xa5, sizeof info[k]);
        fm_err e;
        memset(&e, 0, sizeof e);
        int rc = image_prepare(img, inv, out[k], &info[k], &e);
        if (rc != FM_OK) {
            fuzz_check_err(&e, rc, NULL);
            FUZZ_ASSERT(rc == FM_ENOMEM);
            return;
        }
    }
    const image_prep_info *in = &info[0];
    FUZZ_ASSERT(in->inverted == 0 || in->inverted == 1);
    FUZZ_ASSERT(in->passthrough == 0 || in->passthrough == 1);
    FUZZ_ASSERT(in->transparent_bg == 0 || in->transparent_bg == 1);
    if (inv != IMAGE_INVERT_AUTO)
        FUZZ_ASSERT(in->inverted == (inv == IMAGE_INVERT_YES));
    FUZZ_ASSERT(in->empty == 0 || in->empty == 1);
    FUZZ_ASSERT(in->tile >= 0 && in->tile <= PREP_TILE_DEPTH);
    if (in->passthrough) {
        FUZZ_ASSERT(img->w == 28 && img->h == 28);
    } else if (in->empty) {
        for (int i = 0; i < 28 * 28; i++)
            FUZZ_ASSERT(out[0][i] == 0);
    } else {
        FUZZ_ASSERT(in->box_x >= 0 && in->box_w >= 1 && in->box_x + in->box_w <= img->w);
        FUZZ_ASSERT(in->box_y >= 0 && in->box_h >= 1 && in->box_y + in->box_h <= img->h);
    }
    if (twice) {
        FUZZ_ASSERT(memcmp(out[0], out[1], sizeof out[0]) == 0);
        FUZZ_ASSERT(memcmp(&info[0], &info[1], sizeof info[0]) == 0);
    }
}

static void prepare_all(const image *img)
{
    int small = (uint64_t)img->w * (uint64_t)img->h <= (1u << 16);
    prepare(img, IMAGE_INVERT_AUTO, small);
    if (small) {
        prepare(img, IMAGE_INVERT_YES, 0);
        prepare(img, IMAGE_INVERT_NO, 0);
    }
}

/* The raw-picture reading of a non-PNG input (see the top). */
static void fuzz_raw(const uint8_t *data, size_t size)
{
    if (size < 5)
        return;
    image img;
    img.w = 1 + (int)((data[0] | (unsigned)data[1] << 8) % 256);
    img.h = 1 + (int)((data[2] | (unsigned)data[3] << 8) % 256);
    enum image_invert inv = (enum image_invert)(data[4] % 3);
    size_t n = (size_t)img.w * (size_t)img.h * 4;
    img.rgba = malloc(n);
    if (!img.rgba)
        return;
    /* The pixel bytes, repeated: copy once, then double (a byte loop here
     * would cost as much as image_prepare, with the fuzzer's tracing). */
    size_t np = size - 5, have = np < n ? np : n;
    if (have == 0)
        memset(img.rgba, 0, n);
    else
        memcpy(img.rgba, data + 5, have);
    while (have && have < n) {
        size_t k = have < n - have ? have : n - have;
        memcpy(img.rgba + have, img.rgba, k);
        have += k;
    }
    uint8_t *copy = malloc(n);
    if (copy)
        memcpy(copy, img.rgba, n);
    prepare(&img, inv, (size_t)img.w * (size_t)img.h <= (1u << 16));
    if (copy) {
        FUZZ_ASSERT(memcmp(copy, img.rgba, n) == 0); /* the picture is const */
        free(copy);
    }
    free(img.rgba);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t untouched;
    image img = {-7, -7, &untouched};
    fm_err e;
    memset(&e, 0, sizeof e);
    int rc = image_decode_png(data, size, "fuzz.png", &img, &e);
    if (rc != FM_OK) {
        fuzz_check_err(&e, rc, "fuzz.png");
        FUZZ_ASSERT(rc == FM_EFORMAT || rc == FM_ELIMIT || rc == FM_ENOMEM);
        FUZZ_ASSERT(img.w == -7 && img.h == -7 && img.rgba == &untouched);
        if (size < 8 || memcmp(data, png_signature, 8) != 0)
            fuzz_raw(data, size);
        return 0;
    }
    FUZZ_ASSERT(img.w >= 1 && img.h >= 1 && img.rgba != NULL);
    FUZZ_ASSERT((uint64_t)img.w * (uint64_t)img.h <= IMAGE_MAX_PIXELS);
    /* classify's budget took at least what came out. */
    FUZZ_ASSERT(picture_decode_memory(data, size) >= 4 * (uint64_t)img.w * (uint64_t)img.h);
    /* The whole w*h*4 block is there: ASan checks both ends. */
    size_t n = (size_t)img.w * (size_t)img.h * 4;
    volatile uint8_t ends = (uint8_t)(img.rgba[0] ^ img.rgba[n - 1]);
    (void)ends;
    prepare_all(&img);
    image_free(&img);
    FUZZ_ASSERT(img.rgba == NULL);
    return 0;
}

#ifdef FUZZ_LIBFUZZER
static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Rewrites the CRC of every whole chunk after the signature. */
static void fix_crcs(uint8_t *data, size_t size)
{
    size_t pos = 8;
    while (pos + 12 <= size) {
        uint32_t len = get_be32(data + pos);
        if (len > size - pos - 12)
            break;
        uLong c = crc32(0L, data + pos + 4, (uInt)len + 4);
        uint8_t *q = data + pos + 8 + len;
        q[0] = (uint8_t)(c >> 24);
        q[1] = (uint8_t)(c >> 16);
        q[2] = (uint8_t)(c >> 8);
        q[3] = (uint8_t)c;
        pos += 12 + (size_t)len;
    }
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    size = LLVMFuzzerMutate(data, size, max_size);
    /* One mutation in eight keeps its broken CRCs, to test their rejection. */
    if (seed % 8 != 0 && size >= 8 && memcmp(data, png_signature, 8) == 0)
        fix_crcs(data, size);
    return size;
}
#endif
