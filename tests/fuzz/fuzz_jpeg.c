/* fuzz_jpeg.c: picture_decode (format detection, then image_decode_jpeg or
 * image_decode_png), and image_exif_orientation on the raw input.
 *
 * Input: any file; the seeds are JPEGs of every kind the decoder reads
 * (baseline, progressive, gray, Adobe CMYK, EXIF orientations in II and
 * MM, restart intervals, odd sizes) and a truncated one. Contracts checked:
 * on failure the outputs are untouched and the message is one printable
 * line naming the file; decoding and preparing (under ASan, all
 * allocations counted) take no more than picture_decode_memory says; a
 * decoded picture is within the pixel limit and the estimate, whole
 * (ASan sees both ends), opaque, and decodes again to the same bytes (no
 * uninitialised memory, no state kept between calls); a JPEG that decodes
 * turned by an orientation 5..8 has its sides swapped against its frame. */
#include "fuzz.h"
#include "jpeg.h"
#include "picture.h"
#include "prep.h"

/* Under ASan every allocation, libpng's and libjpeg's too, passes its
 * hooks: decoding and preparing (as classify does) must not take more than
 * picture_decode_memory said. Elsewhere (a plain replay build) not checked. */
#if defined(__SANITIZE_ADDRESS__)
#define FUZZ_COUNTS_MEMORY 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUZZ_COUNTS_MEMORY 1
#endif
#endif
#ifdef FUZZ_COUNTS_MEMORY
int __sanitizer_install_malloc_and_free_hooks(void (*on_malloc)(const volatile void *, size_t),
                                              void (*on_free)(const volatile void *));
size_t __sanitizer_get_allocated_size(const volatile void *p);
static int counting;
static long long in_use, peak;

static void on_malloc(const volatile void *p, size_t n)
{
    (void)p;
    if (counting && (in_use += (long long)n) > peak)
        peak = in_use;
}

static void on_free(const volatile void *p)
{
    if (counting && p)
        in_use -= (long long)__sanitizer_get_allocated_size(p);
}
#endif

/* Decodes and prepares the input; what that allocates at its peak. */
static void check_memory(const uint8_t *data, size_t size)
{
#ifdef FUZZ_COUNTS_MEMORY
    static int hooked;
    if (!hooked)
        hooked = __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free) || 1;
    uint64_t estimate = picture_decode_memory(data, size);
    in_use = peak = 0;
    counting = 1;
    image img;
    if (picture_decode(data, size, "fuzz.jpg", &img, NULL) == FM_OK) {
        uint8_t in[PREP_SIDE * PREP_SIDE];
        image_prepare(&img, IMAGE_INVERT_AUTO, in, NULL, NULL);
        image_free(&img);
    }
    counting = 0;
    if (peak > (long long)estimate)
        fprintf(stderr, "fuzz_jpeg: %lld bytes at the peak, estimated %llu\n", peak,
                (unsigned long long)estimate);
    FUZZ_ASSERT(peak <= (long long)estimate);
#else
    (void)data, (void)size;
#endif
}

/* The orientation the first EXIF APP1 segment gives, as the decoder finds
 * it: walking the markers before the first SOS as libjpeg does. 0 when the
 * walk cannot tell (a structure libjpeg reads differently), -1 when that
 * EXIF is malformed. */
static int first_orientation(const uint8_t *d, size_t n)
{
    for (size_t at = 2; at + 4 <= n;) {
        if (d[at] != 0xff)
            return 0;
        int m = d[at + 1];
        if (m == 0xda || m == 0xd9)
            break;
        if (m == 0xff) { /* fill bytes */
            at++;
            continue;
        }
        if (m == 0x01 || (m >= 0xd0 && m <= 0xd7)) { /* TEM, RSTn: no length */
            at += 2;
            continue;
        }
        size_t len = (size_t)d[at + 2] << 8 | d[at + 3];
        if (len < 2 && m >= 0xe0 && m <= 0xef) { /* libjpeg: an empty APPn */
            at += 4;
            continue;
        }
        if (len < 2 || len > n - at - 2)
            return 0;
        if (m == 0xe1 && len - 2 >= 6 && memcmp(d + at + 4, "Exif\0\0", 6) == 0) {
            int o = 0;
            return image_exif_orientation(d + at + 4, len - 2, "x", &o, NULL) == FM_OK ? o : -1;
        }
        at += 2 + len;
    }
    return 1;
}

static void check_exif(const uint8_t *data, size_t size)
{
    int o = -7;
    fm_err e;
    memset(&e, 0, sizeof e);
    int rc = image_exif_orientation(data, size, "fuzz.exif", &o, &e);
    if (rc != FM_OK) {
        fuzz_check_err(&e, rc, "fuzz.exif");
        FUZZ_ASSERT(rc == FM_EFORMAT);
        FUZZ_ASSERT(o == -7);
    } else {
        FUZZ_ASSERT(o >= 1 && o <= 8);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The input as an APP1 payload too, with and without its prefix. */
    check_exif(data, size);
    if (size <= 4096) {
        uint8_t seg[6 + 4096];
        memcpy(seg, "Exif\0\0", 6);
        memcpy(seg + 6, data, size);
        check_exif(seg, size + 6);
    }

    check_memory(data, size);
    static uint8_t untouched;
    image img = {-7, -7, &untouched};
    fm_err e;
    memset(&e, 0, sizeof e);
    int rc = picture_decode(data, size, "fuzz.jpg", &img, &e);
    if (rc != FM_OK) {
        fuzz_check_err(&e, rc, "fuzz.jpg");
        FUZZ_ASSERT(rc == FM_EFORMAT || rc == FM_ELIMIT || rc == FM_ENOMEM);
        FUZZ_ASSERT(img.w == -7 && img.h == -7 && img.rgba == &untouched);
        return 0;
    }
    FUZZ_ASSERT(img.w >= 1 && img.h >= 1 && img.rgba != NULL);
    FUZZ_ASSERT((uint64_t)img.w * (uint64_t)img.h <= IMAGE_MAX_PIXELS);
    /* classify's budget took at least what came out. */
    FUZZ_ASSERT(picture_decode_memory(data, size) >= 4 * (uint64_t)img.w * (uint64_t)img.h);
    size_t n = (size_t)img.w * (size_t)img.h * 4;
    volatile uint8_t ends = (uint8_t)(img.rgba[0] ^ img.rgba[n - 1]);
    (void)ends;
    if (picture_sniff(data, size) == PICTURE_JPEG && n <= ((size_t)1 << 18)) {
        for (size_t i = 3; i < n; i += 4)
            FUZZ_ASSERT(img.rgba[i] == 255);
        int o = first_orientation(data, size);
        FUZZ_ASSERT(o >= 0 && o <= 8); /* it decoded, so any EXIF was good */
        image again = {0, 0, NULL};
        FUZZ_ASSERT(image_decode_jpeg(data, size, "fuzz.jpg", &again, NULL) == FM_OK);
        FUZZ_ASSERT(again.w == img.w && again.h == img.h);
        FUZZ_ASSERT(memcmp(again.rgba, img.rgba, n) == 0);
        if (o > 1) {
            /* Turning back: the inverse of o (6 and 8 swap, the rest are
             * their own) gives what libjpeg stored. */
            int inv = o == 6 ? 8 : o == 8 ? 6 : o;
            image stored;
            if (image_orient(&img, inv, &stored, NULL) == FM_OK) {
                image back;
                if (image_orient(&stored, o, &back, NULL) == FM_OK) {
                    FUZZ_ASSERT(back.w == img.w && back.h == img.h);
                    FUZZ_ASSERT(memcmp(back.rgba, img.rgba, n) == 0);
                    image_free(&back);
                }
                image_free(&stored);
            }
        }
        image_free(&again);
    }
    image_free(&img);
    FUZZ_ASSERT(img.rgba == NULL);
    return 0;
}
