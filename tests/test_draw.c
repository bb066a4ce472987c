/* test_draw.c: the drawings of draw.h: each class drawn in the data set's
 * convention, with the shape of its class, the same bits from the same
 * generator, and nothing for a label out of range. */
#include "testutil.h"

#include "draw.h"

/* CRC-32 of 20 drawings of each class, generator seeded with 7. */
#define DRAW_CRC 0xf85ecceau
/* Of 200 drawings of each class (seed 2), how many are taller than wide,
 * and how many wider than tall. */
#define TALLER {58, 200, 25, 181, 56, 82, 4, 0, 122, 62}
#define WIDER {138, 0, 159, 10, 115, 118, 190, 200, 58, 121}

enum { SIDE = 28, N = SIDE * SIDE, PER_CLASS = 200 };

typedef struct box {
    int x0, y0, x1, y1, max;
} box;

/* The box of the pixels over 5% of 255 (as classify trims), and the
 * brightest level. */
static box box_of(const uint8_t *v)
{
    box b = {SIDE, SIDE, -1, -1, 0};
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++) {
            int p = v[y * SIDE + x];
            b.max = p > b.max ? p : b.max;
            if (p > 12) {
                b.x0 = x < b.x0 ? x : b.x0;
                b.x1 = x > b.x1 ? x : b.x1;
                b.y0 = y < b.y0 ? y : b.y0;
                b.y1 = y > b.y1 ? y : b.y1;
            }
        }
    return b;
}

/* Every drawing is a light item on black, its brightest pixel 255, its
 * box's longest side filling the frame (to the outline's antialiased
 * rim) and centred within a pixel. */
static void test_framed_as_the_data_set(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, 1);
    uint8_t v[N];
    for (int label = 0; label < 10; label++)
        for (int i = 0; i < PER_CLASS; i++) {
            draw_item(label, &r, v);
            box b = box_of(v);
            int w = b.x1 - b.x0 + 1, h = b.y1 - b.y0 + 1, long_side = w > h ? w : h;
            assert_int_equal(b.max, 255);
            assert_in_range(long_side, 26, 28);
            assert_true(abs(b.x0 - (SIDE - 1 - b.x1)) <= 2);
            assert_true(abs(b.y0 - (SIDE - 1 - b.y1)) <= 2);
        }
}

/* Each class keeps the proportions of its kind: trousers are always taller
 * than wide, sneakers always wider than tall, dresses mostly taller, shirts
 * (their sleeves spread) mostly wider. The counts are exact (the drawings
 * are deterministic); a table of sketches in the wrong order fails here
 * with a clear message before the CRC below. */
static void test_each_class_its_shape(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, 2);
    uint8_t v[N];
    int taller[10] = {0}, wider[10] = {0};
    for (int label = 0; label < 10; label++)
        for (int i = 0; i < PER_CLASS; i++) {
            draw_item(label, &r, v);
            box b = box_of(v);
            int w = b.x1 - b.x0 + 1, h = b.y1 - b.y0 + 1;
            taller[label] += h > w;
            wider[label] += w > h;
        }
    static const int want_taller[10] = TALLER, want_wider[10] = WIDER;
    for (int label = 0; label < 10; label++)
        print_message("# class %d: taller %3d, wider %3d of %d\n", label, taller[label],
                      wider[label], PER_CLASS);
    assert_int_equal(taller[1], PER_CLASS);     /* trousers */
    assert_int_equal(wider[7], PER_CLASS);      /* sneakers */
    assert_true(taller[3] > PER_CLASS * 3 / 4); /* dresses */
    assert_true(wider[6] > PER_CLASS * 3 / 4);  /* shirts */
    assert_memory_equal(taller, want_taller, sizeof taller);
    assert_memory_equal(wider, want_wider, sizeof wider);
}

/* The same generator state gives the same bits; the stream moves on, so
 * the next drawing differs. Pinned: a change to any sketch or to the
 * rendering changes the CRC (and --preset robust's models). */
static void test_same_state_same_bits(void **state)
{
    (void)state;
    rng a, b;
    rng_seed(&a, 7);
    rng_seed(&b, 7);
    uint8_t va[N], vb[N];
    uint32_t crc = 0;
    for (int label = 0; label < 10; label++)
        for (int i = 0; i < 20; i++) {
            draw_item(label, &a, va);
            draw_item(label, &b, vb);
            assert_memory_equal(va, vb, N);
            crc = (uint32_t)crc32(crc, va, N);
        }
    draw_item(0, &a, va);
    assert_memory_not_equal(va, vb, N);
    print_message("# 20 drawings of each class, seed 7: crc32 %08x\n", crc);
    assert_int_equal(crc, DRAW_CRC);
}

/* No sketch asks for more parts than a sketch holds (a part beyond them
 * would be left out of the drawing): 2,000 sketches of each class. */
static void test_parts_within_limits(void **state)
{
    (void)state;
    static const int most[4] = {DRAW_MAX_BODY, DRAW_MAX_LINE, DRAW_MAX_BACK, DRAW_MAX_DOT};
    rng r;
    rng_seed(&r, 4);
    int seen[4] = {0};
    for (int label = 0; label < 10; label++)
        for (int i = 0; i < 2000; i++) {
            int parts[4];
            draw_parts(label, &r, parts);
            for (int k = 0; k < 4; k++) {
                seen[k] = parts[k] > seen[k] ? parts[k] : seen[k];
                if (parts[k] > most[k])
                    fail_msg("class %d: %d parts of kind %d, at most %d", label, parts[k], k,
                             most[k]);
            }
            assert_true(parts[0] >= 1);
        }
    print_message("# most parts asked: %d outlines, %d lines, %d behind, %d dots\n", seen[0],
                  seen[1], seen[2], seen[3]);
}

/* A label out of range gives a black image and leaves the generator as it
 * was. */
static void test_label_out_of_range(void **state)
{
    (void)state;
    int labels[] = {-1, 10, 255};
    for (size_t i = 0; i < sizeof labels / sizeof *labels; i++) {
        rng r, before;
        rng_seed(&r, 3);
        before = r;
        uint8_t v[N];
        memset(v, 7, N);
        draw_item(labels[i], &r, v);
        for (int k = 0; k < N; k++)
            assert_int_equal(v[k], 0);
        assert_memory_equal(&r, &before, sizeof r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framed_as_the_data_set),
        cmocka_unit_test(test_each_class_its_shape),
        cmocka_unit_test(test_same_state_same_bits),
        cmocka_unit_test(test_parts_within_limits),
        cmocka_unit_test(test_label_out_of_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
