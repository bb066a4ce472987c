/* test_augment.c: --augment's spec, each transform against what it must
 * do, and the same bits from any number of threads. */
#include "testutil.h"

#include <math.h>

#include "augment.h"
#include "idx.h"
#include "pool.h"

/* CRC-32 of the default mix on 64 sample images at step 12, seed 1; and
 * of the default without drawn=, the default before drawings: drawn=0
 * draws nothing from the generator, so a spec without it gives the same
 * bits (and models) as before drawn= existed. */
#define AUGMENT_CRC 0x83b3e18du
#define AUGMENT_CRC_UNDRAWN 0x290ae0fcu

static idx_set sample;

static int setup(void **state)
{
    (void)state;
    return tu_load_sample("train", &sample);
}

static int teardown(void **state)
{
    (void)state;
    idx_free(&sample);
    return 0;
}

static void test_spec_parse_and_format(void **state)
{
    (void)state;
    augment_spec s, t;
    char buf[256];
    assert_int_equal(augment_parse("none", &s, NULL), FM_OK);
    assert_false(augment_active(&s));
    augment_format(&s, buf, sizeof buf);
    assert_string_equal(buf, "none");
    assert_int_equal(augment_parse(AUGMENT_DEFAULT_STYLE "," AUGMENT_DEFAULT_GEOMETRY
                                   "," AUGMENT_DEFAULT_INTENSITY, &t, NULL), FM_OK);
    assert_true(augment_active(&t));
    assert_int_equal(augment_parse("default", &s, NULL), FM_OK);
    assert_memory_equal(&s, &t, sizeof s);
    t = augment_default();
    assert_memory_equal(&s, &t, sizeof s);
    assert_int_equal(augment_parse("default,flip=0,rotate=12.5", &s, NULL), FM_OK);
    assert_true(s.flip == 0 && s.rotate == 12.5f && s.outline == t.outline);
    augment_format(&s, buf, sizeof buf);
    assert_int_equal(augment_parse(buf, &t, NULL), FM_OK);
    assert_memory_equal(&s, &t, sizeof s);
    /* The longest text: every item on, at a value that needs all nine
     * digits or an exponent; it fits in AUGMENT_TEXT_MAX and reads back. */
    float every[sizeof s / sizeof(float)]; /* the spec is floats only */
    assert_int_equal(sizeof every, sizeof s);
    for (size_t i = 0; i < sizeof every / sizeof *every; i++)
        every[i] = i ? 0.123456791f : 1.4e-45f;
    memcpy(&s, every, sizeof s);
    char big[AUGMENT_TEXT_MAX];
    augment_format(&s, big, sizeof big);
    print_message("# longest spec: %zu characters\n", strlen(big));
    assert_int_equal(augment_parse(big, &t, NULL), FM_OK);
    assert_memory_equal(&s, &t, sizeof s);
    assert_int_equal(augment_parse("outline=0.1,noise=.5", &s, NULL), FM_OK);
    augment_format(&s, buf, sizeof buf);
    assert_string_equal(buf, "outline=0.1,noise=0.5");
    /* Each fault names what is wrong; the output is untouched. */
    const char *bad[][2] = {
        {"", "needs a list"},           {"flip", "needs a value"},
        {"flip=", "needs a value"},     {"flip=2", "not a number in [0, 1]"},
        {"rotate=46", "[0, 45]"},       {"shift=-1", "not a number"},
        {"scale=0x1", "not a number"},  {"wobble=1", "not a transform"},
        {"flip=0.5,,blur=1", "empty"},  {"flip=nan", "not a number"},
        {"pair=1.5", "[0, 1]"},         {"tilt=-0.1", "not a number"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        fm_err e;
        memset(&s, 0x5a, sizeof s);
        assert_int_equal(augment_parse(bad[i][0], &s, &e), FM_EINVAL);
        if (!strstr(e.msg, bad[i][1]))
            fail_msg("'%s': message '%s' lacks '%s'", bad[i][0], e.msg, bad[i][1]);
        assert_string_equal(e.file, "--augment");
        const uint8_t *b = (const uint8_t *)&s;
        for (size_t k = 0; k < sizeof s; k++)
            assert_int_equal(b[k], 0x5a);
    }
}

/* Probabilities that could never take effect are refused, not recorded:
 * the styles are one draw, so outline=1 and outline=1,silhouette=1 (and all
 * four at 1) trained the same model, and outline=0.8,silhouette=0.8 gave
 * silhouette 20% of the images; clean=1,outline=1 trained exactly as no
 * augmentation. Each message names the items and, for the styles, their
 * sum. */
static void test_spec_draws_checked(void **state)
{
    (void)state;
    static const char *const bad[][2] = {
        {"outline=1,silhouette=1",
         "the styles outline=1, silhouette=1 sum to 2: each image takes at most one, so their "
         "probabilities must sum to at most 1"},
        {"outline=1,silhouette=1,flat=1,posterize=1",
         "the styles outline=1, silhouette=1, flat=1, posterize=1 sum to 4: each image takes at "
         "most one, so their probabilities must sum to at most 1"},
        {"outline=0.8,silhouette=0.8",
         "the styles outline=0.8, silhouette=0.8 sum to 1.6: each image takes at most one, so "
         "their probabilities must sum to at most 1"},
        {"default,posterize=0.6",
         "the styles outline=0.15, silhouette=0.2, flat=0.15, posterize=0.6 sum to 1.1: each image "
         "takes at most one, so their probabilities must sum to at most 1"},
        {"clean=1,outline=1", "clean=1 leaves every image as it is, so outline=1 would never apply"},
        {"clean=1,rotate=10,noise=0.5",
         "clean=1 leaves every image as it is, so rotate=10, noise=0.5 would never apply"},
        {"default,clean=1",
         "clean=1 leaves every image not drawn as it is, so outline=0.15, silhouette=0.2, "
         "flat=0.15, posterize=0.1 would never apply"},
    };
    augment_spec s, t;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        fm_err e;
        memset(&s, 0x5a, sizeof s);
        memcpy(&t, &s, sizeof s);
        assert_int_equal(augment_parse(bad[i][0], &s, &e), FM_EINVAL);
        assert_string_equal(e.file, "--augment");
        assert_string_equal(e.msg, bad[i][1]);
        assert_memory_equal(&s, &t, sizeof s);
    }
    /* At most 1 (0.1 + 0.2 + 0.3 + 0.4 is 1, rounding aside); clean=1
     * alone, or with what a drawn image takes; the default; -0 is 0. */
    static const char *const good[] = {
        "outline=0.1,silhouette=0.2,flat=0.3,posterize=0.4", "outline=1", "clean=1",
        "drawn=0.5,clean=1,rotate=10,pair=1", "default", "outline=+0.5,flip=-0,rotate=-0.0",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_int_equal(augment_parse(good[i], &s, NULL), FM_OK);
    assert_true(s.outline == 0.5f && s.flip == 0 && !signbit(s.flip) && !signbit(s.rotate));
    char buf[64];
    augment_format(&s, buf, sizeof buf);
    assert_string_equal(buf, "outline=0.5");
    assert_int_equal(augment_parse("rotate=10,scale=0.25", &s, NULL), FM_OK);
    augment_format(&s, buf, sizeof buf); /* "%.1g" gave rotate=1e+01 */
    assert_string_equal(buf, "scale=0.25,rotate=10");
}

/* A made-up item: a 10x16 rectangle at level 200 with one 255 pixel and a
 * 2x2 hole, off-centre. */
static void make_item(uint8_t *v)
{
    memset(v, 0, 784);
    for (int y = 4; y < 20; y++)
        for (int x = 3; x < 13; x++)
            v[y * 28 + x] = 200;
    v[6 * 28 + 5] = 255;
    v[10 * 28 + 7] = v[10 * 28 + 8] = v[11 * 28 + 7] = v[11 * 28 + 8] = 0;
}

static void test_flip_mirrors_exactly(void **state)
{
    (void)state;
    augment_spec s = {0};
    s.flip = 1;
    uint8_t a[784], b[784];
    make_item(a);
    augment_image(&s, a, -1, 7, 0, b);
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 28; x++)
            assert_int_equal(b[y * 28 + x], a[y * 28 + 27 - x]);
}

/* The box of the pixels over 12 (as fit trims). */
static void box(const uint8_t *v, int *x0, int *y0, int *x1, int *y1)
{
    *x0 = *y0 = 28;
    *x1 = *y1 = -1;
    for (int i = 0; i < 784; i++)
        if (v[i] > 12) {
            int x = i % 28, y = i / 28;
            *x0 = x < *x0 ? x : *x0, *x1 = x > *x1 ? x : *x1;
            *y0 = y < *y0 ? y : *y0, *y1 = y > *y1 ? y : *y1;
        }
}

/* fit: the 10x16 item (off-centre) comes back 18x28 (16 -> 28 tall, 10 ->
 * 17.5 rounded to 18 wide), centred with the odd pixel on the left. */
static void test_fit_frames_the_item(void **state)
{
    (void)state;
    augment_spec s = {0};
    s.fit = 1;
    uint8_t a[784], b[784];
    make_item(a);
    augment_image(&s, a, -1, 3, 0, b);
    int x0, y0, x1, y1;
    box(b, &x0, &y0, &x1, &y1);
    assert_int_equal(y0, 0);
    assert_int_equal(y1, 27);
    assert_int_equal(x0, 5);
    assert_int_equal(x1, 22);
    /* The 200 body, stretched a little: enlarging spread the 255 pixel. */
    assert_int_equal(b[24 * 28 + 14], 203);
}

/* fit trims at 12, as classify does: pixels of 12 on any side of the item
 * leave its box, and so the result, as they are; one of 13 widens it. */
static void test_fit_trims_at_12(void **state)
{
    (void)state;
    augment_spec s = {0};
    s.fit = 1;
    uint8_t a[784], faint[784], b[784], c[784];
    make_item(a);
    memcpy(faint, a, sizeof a);
    faint[10 * 28 + 1] = faint[10 * 28 + 20] = faint[1 * 28 + 8] = faint[25 * 28 + 8] = 12;
    augment_image(&s, a, -1, 3, 0, b);
    augment_image(&s, faint, -1, 3, 0, c);
    assert_memory_equal(b, c, sizeof b);
    faint[10 * 28 + 20] = 13;
    augment_image(&s, faint, -1, 3, 0, c);
    assert_memory_not_equal(b, c, sizeof b);
}

/* With nothing to do, an image is only stretched, its brightest pixel to
 * 255: (v * 255 + max / 2) / max exactly, for every level of every max. */
static void test_stretch_exact(void **state)
{
    (void)state;
    augment_spec s = {0};
    uint8_t a[784], b[784];
    for (int mx = 1; mx < 255; mx++) {
        for (int i = 0; i < 784; i++)
            a[i] = (uint8_t)(i % (mx + 1));
        augment_image(&s, a, -1, 1, 0, b);
        for (int i = 0; i < 784; i++)
            assert_int_equal(b[i], (a[i] * 255 + mx / 2) / mx);
    }
}

static void test_styles(void **state)
{
    (void)state;
    augment_spec s = {0};
    uint8_t a[784], b[784];
    make_item(a);
    /* Silhouette: the item and its hole, all at 255. */
    s.silhouette = 1;
    augment_image(&s, a, -1, 1, 0, b);
    for (int i = 0; i < 784; i++) {
        int x = i % 28, y = i / 28;
        assert_int_equal(b[i], x >= 3 && x < 13 && y >= 4 && y < 20 ? 255 : 0);
    }
    /* Outline: the rectangle's rim, and the hole's edge and the bright
     * pixel's (inner edges), at 255; the rest 0. */
    s.silhouette = 0;
    s.outline = 1;
    augment_image(&s, a, -1, 1, 0, b);
    for (int i = 0; i < 784; i++) {
        int x = i % 28, y = i / 28;
        int rim = (x == 3 || x == 12) && y >= 4 && y < 20;
        rim |= (y == 4 || y == 19) && x >= 3 && x < 13;
        if (rim)
            assert_int_equal(b[i], 255);
        if (x < 3 || x >= 13 || y < 4 || y >= 20)
            assert_int_equal(b[i], 0);
    }
    assert_int_equal(b[10 * 28 + 6], 255); /* next to the hole */
    assert_int_equal(b[15 * 28 + 8], 0);   /* deep inside */
    /* Flat: inside at one level below 255, the outline at 255. */
    s.outline = 0;
    s.flat = 1;
    augment_image(&s, a, -1, 1, 0, b);
    assert_int_equal(b[4 * 28 + 3], 255);
    assert_true(b[15 * 28 + 8] >= 40 && b[15 * 28 + 8] < 255);
    assert_int_equal(b[0], 0);
    /* Posterize: 2 or 3 levels on the item. */
    s.flat = 0;
    s.posterize = 1;
    augment_image(&s, a, -1, 1, 0, b);
    int levels[256] = {0}, n = 0;
    for (int i = 0; i < 784; i++)
        n += !levels[b[i]]++;
    assert_true(n >= 2 && n <= 4); /* background 0, and 2 or 3 item levels */
}

/* Its width and height. */
static void box_size(const uint8_t *v, int *w, int *h)
{
    int x0, y0, x1, y1;
    box(v, &x0, &y0, &x1, &y1);
    *w = x1 - x0 + 1;
    *h = y1 - y0 + 1;
}

/* pair and tilt change shoes only (Sandal 5, Sneaker 7, Ankle boot 9):
 * another class's image is exactly what it is with them off, for every
 * key; a shoe becomes two copies side by side (a wider box for its
 * height) or turns 15 to 45 degrees (a 24x4 bar's box 8 to 15 tall). */
static void test_pair_and_tilt_change_shoes_only(void **state)
{
    (void)state;
    augment_spec off = {0}, on = {0};
    on.pair = 1;
    on.tilt = 1;
    uint8_t a[784], bar[784], b[784], c[784];
    make_item(a);
    memset(bar, 0, sizeof bar);
    for (int y = 12; y < 16; y++)
        for (int x = 2; x < 26; x++)
            bar[y * 28 + x] = 200;
    for (uint64_t key = 1; key <= 50; key++) {
        for (int label = 0; label < 10; label++) {
            if (label == 5 || label == 7 || label == 9)
                continue;
            augment_image(&off, a, label, key, 0, b);
            augment_image(&on, a, label, key, 0, c);
            assert_memory_equal(b, c, 784);
        }
        int w, h;
        augment_spec pair = {0}, tilt = {0};
        pair.pair = 1;
        tilt.tilt = 1;
        augment_image(&pair, a, 9, key, 0, c);
        box_size(c, &w, &h);
        if (w * 16 <= h * 10 * 13 / 10) /* one copy is 10 wide, 16 tall */
            fail_msg("key %d: pair %dx%d is not wider than one copy", (int)key, w, h);
        augment_image(&tilt, bar, 7, key, 0, c);
        box_size(c, &w, &h);
        if (h < 8 || h > 15) /* 90 degrees would stand it 17 tall */
            fail_msg("key %d: tilted bar %d tall", (int)key, h);
    }
}

/* square: a 24x4 bar of any class keeps its width and grows taller, by
 * (24/4)^k, k in [0, 0.5]: from 4 up to the sides' geometric mean (9.8),
 * never more (a pixel more each way from the interpolation). */
static void test_square_lengthens_the_short_side(void **state)
{
    (void)state;
    augment_spec s = {0};
    s.square = 1;
    uint8_t bar[784], c[784];
    memset(bar, 0, sizeof bar);
    for (int y = 12; y < 16; y++)
        for (int x = 2; x < 26; x++)
            bar[y * 28 + x] = 200;
    int most = 0;
    for (uint64_t key = 1; key <= 50; key++) {
        int w, h;
        augment_image(&s, bar, (int)key % 10, key, 0, c);
        box_size(c, &w, &h);
        assert_int_equal(w, 24);
        if (h < 4 || h > 12) /* interpolation spreads a pixel each way */
            fail_msg("key %d: bar %d tall", (int)key, h);
        most = h > most ? h : most;
    }
    assert_true(most >= 9);
}

/* drawn=P replaces the image by a drawing of its class: a blank image
 * comes out as an item, trousers taller than wide, sneakers wider than
 * tall; an image of unknown class is never replaced. */
static void test_drawn_replaces_by_its_class(void **state)
{
    (void)state;
    augment_spec s = {0}, none = {0};
    s.drawn = 1;
    uint8_t blank[784], c[784], d[784];
    memset(blank, 0, sizeof blank);
    for (uint64_t key = 1; key <= 20; key++) {
        int w, h;
        augment_image(&s, blank, 1, key, 0, c);
        box_size(c, &w, &h);
        assert_true(h > w);
        augment_image(&s, blank, 7, key, 0, c);
        box_size(c, &w, &h);
        assert_true(w > h);
        const uint8_t *img = sample.images + key * 784;
        augment_image(&s, img, -1, key, 0, c);
        augment_image(&none, img, -1, key, 0, d);
        assert_memory_equal(c, d, sizeof c);
    }
    /* drawn comes first: clean=1 still gives the drawing, and no style is
     * applied to it */
    augment_spec first = s, styled = s;
    first.clean = 1;
    styled.outline = 1;
    augment_image(&s, blank, 3, 9, 0, c);
    augment_image(&first, blank, 3, 9, 0, d);
    assert_memory_equal(c, d, sizeof c);
    augment_image(&styled, blank, 3, 9, 0, d);
    assert_memory_equal(c, d, sizeof c);
}

enum { B = 64 };

/* Images b * 31 % n of the sample, b < B, changed by spec at step 12. */
static uint32_t batch_crc(const char *spec, uint8_t *ref, uint32_t *idx)
{
    augment_spec s;
    assert_int_equal(augment_parse(spec, &s, NULL), FM_OK);
    for (int b = 0; b < B; b++)
        idx[b] = (uint32_t)(b * 31 % (int)sample.n);
    uint64_t key = augment_key(1, 12);
    for (int b = 0; b < B; b++)
        augment_image(&s, sample.images + (size_t)idx[b] * 784, sample.labels[idx[b]], key, b,
                      ref + b * 784);
    return (uint32_t)crc32(0, ref, B * 784);
}

/* The whole default mix: a batch is the same from 1, 2 and 3 threads and
 * from image-by-image calls; pinned by its CRC-32 so that any change to
 * what --augment computes shows (and changes trained models' hashes). */
static void test_batch_same_bits_any_threads(void **state)
{
    (void)state;
    augment_spec s = augment_default();
    uint32_t idx[B];
    uint8_t *ref = malloc(B * 784), *out = malloc(B * 784);
    uint32_t undrawn = batch_crc("default,drawn=0", ref, idx);
    uint32_t crc = batch_crc("default", ref, idx);
    uint64_t key = augment_key(1, 12);
    for (int t = 1; t <= 3; t++) {
        pool *p;
        assert_int_equal(pool_create(&p, t, 1, NULL), FM_OK);
        memset(out, 0, B * 784);
        augment_batch(&s, sample.images, sample.labels, idx, B, key, out, p, NULL);
        assert_memory_equal(out, ref, B * 784);
        pool_free(p);
    }
    /* and with every kernel this CPU runs (the reference's warp included) */
    const kernel_impl *ks[8];
    for (int k = 0, n = kernel_list(ks, 8); k < n; k++) {
        memset(out, 0, B * 784);
        augment_batch(&s, sample.images, sample.labels, idx, B, key, out, NULL, ks[k]);
        assert_memory_equal(out, ref, B * 784);
    }
    augment_batch(&s, sample.images, sample.labels, idx, B, augment_key(1, 13), out, NULL, NULL);
    assert_memory_not_equal(out, ref, B * 784);
    print_message("# default mix, step 12: crc32 %08x (without drawn= %08x)\n", crc, undrawn);
    assert_int_equal(crc, AUGMENT_CRC);
    assert_int_equal(undrawn, AUGMENT_CRC_UNDRAWN);
    free(ref);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_parse_and_format),
        cmocka_unit_test(test_spec_draws_checked),
        cmocka_unit_test(test_flip_mirrors_exactly),
        cmocka_unit_test(test_fit_frames_the_item),
        cmocka_unit_test(test_fit_trims_at_12),
        cmocka_unit_test(test_stretch_exact),
        cmocka_unit_test(test_styles),
        cmocka_unit_test(test_pair_and_tilt_change_shoes_only),
        cmocka_unit_test(test_square_lengthens_the_short_side),
        cmocka_unit_test(test_drawn_replaces_by_its_class),
        cmocka_unit_test(test_batch_same_bits_any_threads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
