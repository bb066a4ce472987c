/* test_plot.c: the canvas, the built-in font, the errors sheet and the
 * confusion heat map, and the --ascii/--show helpers. */
#include "testutil.h"

#include "plot.h"

static uint32_t at(const plot_canvas *c, int x, int y)
{
    const uint8_t *p = c->rgb + 3 * ((size_t)y * c->w + x);
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

static void test_canvas_and_clipping(void **state)
{
    (void)state;
    plot_canvas c;
    fm_err e;
    assert_int_equal(plot_canvas_create(&c, 10, 6, 0x102030, &e), FM_OK);
    assert_int_equal(at(&c, 9, 5), 0x102030);
    /* Partly and wholly outside: clipped, nothing written out of bounds
     * (the sanitizer build checks). */
    plot_fill(&c, -5, -5, 7, 7, 0xff0000);
    plot_fill(&c, 8, 4, 100, 100, 0x00ff00);
    plot_fill(&c, 50, 50, 3, 3, 0x0000ff);
    assert_int_equal(at(&c, 0, 0), 0xff0000);
    assert_int_equal(at(&c, 1, 1), 0xff0000);
    assert_int_equal(at(&c, 2, 2), 0x102030);
    assert_int_equal(at(&c, 9, 5), 0x00ff00);
    plot_text(&c, -3, 2, "Wide text off the edge", 3, 0xffffff);
    plot_canvas_free(&c);
    plot_canvas_free(&c); /* twice is harmless */
    plot_canvas_free(NULL);

    plot_canvas keep = {-1, -1, NULL};
    assert_int_equal(plot_canvas_create(&keep, 0, 5, 0, &e), FM_EINVAL);
    assert_int_equal(plot_canvas_create(&keep, 100000, 100000, 0, &e), FM_EINVAL);
    assert_int_equal(keep.w, -1);
}

static void test_font(void **state)
{
    (void)state;
    assert_int_equal(plot_text_width("Ankle boot", 1), 60);
    assert_int_equal(plot_text_width("T-shirt/top", 2), 132);
    plot_canvas c;
    assert_int_equal(plot_canvas_create(&c, 12, 10, 0x000000, NULL), FM_OK);
    /* 'T': the top row full (5 pixels), then the stem in column 2. */
    assert_int_equal(plot_text(&c, 0, 0, "T", 1, 0xffffff), 6);
    for (int x = 0; x < 6; x++)
        assert_int_equal(at(&c, x, 0), x < 5 ? 0xffffff : 0);
    for (int y = 1; y < 7; y++)
        for (int x = 0; x < 5; x++)
            assert_int_equal(at(&c, x, y), x == 2 ? 0xffffff : 0);
    /* Every printable character draws something but ' ', and stays in its cell;
     * others draw as '?'. */
    for (int ch = 32; ch < 132; ch++) {
        plot_fill(&c, 0, 0, 12, 10, 0);
        char s[2] = {(char)ch, 0};
        plot_text(&c, 0, 0, s, 1, 0xffffff);
        int lit = 0;
        for (int y = 0; y < 10; y++)
            for (int x = 0; x < 12; x++)
                if (at(&c, x, y)) {
                    lit++;
                    assert_true(x < 5 && y < 8);
                }
        assert_true(ch == ' ' ? lit == 0 : lit > 0);
    }
    plot_canvas_free(&c);
}

static void test_ascii_and_enlarge(void **state)
{
    (void)state;
    const uint8_t pix[6] = {0, 25, 26, 128, 230, 255};
    char buf[64];
    assert_int_equal(plot_ascii(pix, 3, 2, buf, sizeof buf), 14);
    assert_string_equal(buf, "    ..\n++%%@@\n");
    /* Too small a buffer: what fits, NUL-terminated, and the size needed. */
    assert_int_equal(plot_ascii(pix, 3, 2, buf, 5), 14);
    assert_string_equal(buf, "    ");
    uint8_t *big = NULL;
    fm_err e;
    assert_int_equal(plot_enlarge_gray(pix, 3, 2, 4, &big, &e), FM_OK);
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 12; x++)
            assert_int_equal(big[y * 12 + x], pix[(y / 4) * 3 + x / 4]);
    free(big);
    big = NULL;
    assert_int_equal(plot_enlarge_gray(pix, 3, 2, 0, &big, &e), FM_EINVAL);
    assert_null(big);
}

/* Three classes, six images: two wrong in class 0, one in class 2. */
static void test_errors_sheet(void **state)
{
    (void)state;
    uint8_t images[6 * 784];
    for (int i = 0; i < 6; i++)
        memset(images + i * 784, 40 * i, 784);
    const uint8_t labels[6] = {0, 0, 0, 1, 2, 2};
    const uint8_t pred[6] = {2, 0, 1, 1, 2, 0};
    const char *names[3] = {"Zero", "One", "Two"};
    plot_canvas c;
    fm_err e;
    assert_int_equal(plot_errors_sheet(images, labels, pred, 6, 3, names, &c, &e), FM_OK);
    assert_int_equal(c.w, 2124);
    /* Title 40, three group heads 30 + gaps 14, two groups with one row of
     * 72, margins 12 + 12. */
    assert_int_equal(c.h, 12 + 40 + 3 * (30 + 14) + 2 * 72 + 12);
    /* Class 0's first tile is image 2 (predicted 1 sorts before 2): gray 80. */
    int y0 = 12 + 40 + 30;
    assert_int_equal(at(&c, 12 + 7 + 10, y0 + 10), 0x505050);
    assert_int_equal(at(&c, 12 + 70 + 7 + 10, y0 + 10), 0x000000); /* image 0 */
    plot_canvas_free(&c);

    /* Labels or predictions out of range: an error, out untouched. */
    const uint8_t bad[6] = {0, 0, 3, 1, 2, 2};
    plot_canvas keep = {-1, -1, NULL};
    assert_int_equal(plot_errors_sheet(images, bad, pred, 6, 3, names, &keep, &e), FM_EINVAL);
    assert_int_equal(plot_errors_sheet(images, labels, bad, 6, 3, names, &keep, &e), FM_EINVAL);
    assert_int_equal(plot_errors_sheet(images, labels, pred, 6, 11, names, &keep, &e), FM_EINVAL);
    assert_int_equal(keep.w, -1);
    /* No images at all: a title. */
    assert_int_equal(plot_errors_sheet(images, labels, pred, 0, 3, names, &c, &e), FM_OK);
    plot_canvas_free(&c);
}

static void test_errors_sheet_caps_each_class(void **state)
{
    (void)state;
    uint32_t n = 1000;
    uint8_t *images = calloc(n, 784), *labels = calloc(n, 1), *pred = malloc(n);
    memset(pred, 1, n);
    const char *names[2] = {"A", "B"};
    plot_canvas c;
    assert_int_equal(plot_errors_sheet(images, labels, pred, n, 2, names, &c, NULL), FM_OK);
    int rows = (PLOT_ERRORS_PER_CLASS + 29) / 30;
    assert_int_equal(c.h, 12 + 40 + 2 * (30 + 14) + rows * 72 + 12);
    plot_canvas_free(&c);
    free(images), free(labels), free(pred);
}

static void test_confusion(void **state)
{
    (void)state;
    long m[4] = {90, 10, 30, 70};
    const char *names[2] = {"Cat", "Dog"};
    plot_canvas c;
    fm_err e;
    assert_int_equal(plot_confusion(m, 2, names, &c, &e), FM_OK);
    /* Margin, label column, 3 cells and the gap; title, axis, names, 3 rows, notes. */
    assert_int_equal(c.w, 16 + 84 + 3 * 76 + 8 + 16);
    int x0 = 16 + 84, y0 = 16 + 20 + 8 + 10 + 4 + 10 + 6;
    assert_int_equal(c.h, y0 + 3 * 40 + 8 + 20 + 16);
    /* Diagonal cells green (90% darker than 70%), off-diagonal red (30%
     * of the row is full red, 10% is lighter). */
    uint32_t d0 = at(&c, x0 + 3, y0 + 3), d1 = at(&c, x0 + 76 + 3, y0 + 40 + 3);
    uint32_t o01 = at(&c, x0 + 76 + 3, y0 + 3), o10 = at(&c, x0 + 3, y0 + 40 + 3);
    assert_true((d0 >> 8 & 0xff) > (d0 >> 16));    /* green */
    assert_true((d0 >> 16) < (d1 >> 16));          /* 90% darker than 70% */
    assert_int_equal(o10, 0xc62828);               /* 30% >= 25%: full red */
    assert_true((o01 >> 16) > (o01 >> 8 & 0xff));  /* reddish */
    assert_true((o01 & 0xff) > (o10 & 0xff));      /* lighter */
    plot_canvas_free(&c);

    long neg[4] = {1, -1, 0, 0};
    plot_canvas keep = {-1, -1, NULL};
    assert_int_equal(plot_confusion(neg, 2, names, &keep, &e), FM_EINVAL);
    assert_int_equal(plot_confusion(m, 0, names, &keep, &e), FM_EINVAL);
    assert_int_equal(keep.w, -1);
    /* All zero: drawn, no division by zero. */
    long zero[4] = {0};
    assert_int_equal(plot_confusion(zero, 2, names, &c, &e), FM_OK);
    plot_canvas_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canvas_and_clipping),
        cmocka_unit_test(test_font),
        cmocka_unit_test(test_ascii_and_enlarge),
        cmocka_unit_test(test_errors_sheet),
        cmocka_unit_test(test_errors_sheet_caps_each_class),
        cmocka_unit_test(test_confusion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
