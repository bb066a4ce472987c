/* test_cli_image.c: the built binary's picture options end to end:
 * classify --show / --ascii, eval --errors / --confusion, their usage
 * errors, hostile PNGs and decoding bombs through classify, and JPEGs
 * (upright or turned by EXIF) classified as their PNG. Uses data/sample and
 * tests/fixtures/; runs from the top directory. */
#include "testutil.h"

#include "cli.h"
#include "idx.h"
#include "image.h"
#include "prep.h"

#define FIX "tests/fixtures/"

static char *T; /* a temporary directory for the whole run */

static int setup(void **state)
{
    (void)state;
    T = tu_tmpdir();
    char *out, *err;
    int rc = tu_fmnist(&out, &err, "train --data data/sample --epochs 1 --quiet --model %s/m.model", T);
    if (rc != 0)
        fprintf(stderr, "train failed (%d): %s\n", rc, err);
    free(out);
    free(err);
    return rc;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(T);
    return 0;
}

static void test_help_lists_the_picture_options(void **state)
{
    (void)state;
    char *out, *err;
    assert_int_equal(tu_fmnist(&out, &err, "classify --help"), 0);
    assert_non_null(strstr(out, "--show FILE.png"));
    assert_non_null(strstr(out, "--show seen-%d.png"));
    assert_non_null(strstr(out, "--ascii"));
    free(out), free(err);
    assert_int_equal(tu_fmnist(&out, &err, "eval --help"), 0);
    assert_non_null(strstr(out, "--errors FILE.png"));
    assert_non_null(strstr(out, "--confusion FILE.png"));
    free(out), free(err);
}

/* The 28x28 input, recovered from a --show file: each 10x10 block must be
 * one gray level. */
static void read_shown(const char *path, uint8_t seen[IDX_PIXELS])
{
    image img;
    fm_err e;
    if (image_read_png(path, &img, &e))
        fail_msg("%s: %s", path, e.msg);
    assert_int_equal(img.w, 280);
    assert_int_equal(img.h, 280);
    for (int y = 0; y < 280; y++)
        for (int x = 0; x < 280; x++) {
            const uint8_t *p = img.rgba + 4 * ((size_t)y * 280 + x);
            uint8_t v = img.rgba[4 * ((size_t)(y / 10 * 10) * 280 + x / 10 * 10)];
            assert_true(p[0] == v && p[1] == v && p[2] == v && p[3] == 255);
            if (y % 10 == 0 && x % 10 == 0)
                seen[(y / 10) * 28 + x / 10] = v;
        }
    image_free(&img);
}

static void test_show_writes_what_the_network_received(void **state)
{
    (void)state;
    const char *fixtures[] = {"t0-gray28.png", "t0-white10x.png", "t1-offcentre.png",
                              "t8-alpha.png"};
    for (int f = 0; f < 4; f++) {
        char *out, *err, shown[4200];
        snprintf(shown, sizeof shown, "%s/shown.png", T);
        assert_int_equal(tu_fmnist(&out, &err, "classify --model %s/m.model --show %s " FIX "%s", T,
                             shown, fixtures[f]), 0);
        assert_non_null(strstr(out, fixtures[f]));
        free(out), free(err);
        uint8_t seen[IDX_PIXELS], want[IDX_PIXELS];
        read_shown(shown, seen);
        image img;
        char path[256];
        snprintf(path, sizeof path, FIX "%s", fixtures[f]);
        assert_int_equal(image_read_png(path, &img, NULL), FM_OK);
        assert_int_equal(image_prepare(&img, IMAGE_INVERT_AUTO, want, NULL, NULL), FM_OK);
        image_free(&img);
        assert_memory_equal(seen, want, IDX_PIXELS);
    }
}

static void test_show_numbers_several_images(void **state)
{
    (void)state;
    char *out, *err;
    /* Standard input counts by its place too. */
    assert_int_equal(tu_fmnist(&out, &err,
                         "classify --model %s/m.model --show '%s/s-%%d.png' " FIX "t0-gray28.png "
                         "- " FIX "t8-palette.png < " FIX "t1-gray28.png", T, T), 0);
    free(out), free(err);
    uint8_t seen[IDX_PIXELS];
    idx_set s;
    assert_int_equal(idx_load("data/sample/t10k-images-idx3-ubyte.gz",
                              "data/sample/t10k-labels-idx1-ubyte.gz", &s, NULL), FM_OK);
    char p[4200];
    snprintf(p, sizeof p, "%s/s-1.png", T);
    read_shown(p, seen);
    assert_memory_equal(seen, s.images, IDX_PIXELS);
    snprintf(p, sizeof p, "%s/s-2.png", T);
    read_shown(p, seen);
    assert_memory_equal(seen, s.images + IDX_PIXELS, IDX_PIXELS);
    /* The third went through preprocessing: what image_prepare makes of it. */
    snprintf(p, sizeof p, "%s/s-3.png", T);
    read_shown(p, seen);
    uint8_t want[IDX_PIXELS];
    image img;
    assert_int_equal(image_read_png(FIX "t8-palette.png", &img, NULL), FM_OK);
    assert_int_equal(image_prepare(&img, IMAGE_INVERT_AUTO, want, NULL, NULL), FM_OK);
    image_free(&img);
    assert_memory_equal(seen, want, IDX_PIXELS);
    assert_memory_not_equal(seen, s.images, IDX_PIXELS);
    /* %% is a literal %. */
    assert_int_equal(tu_fmnist(&out, &err, "classify --model %s/m.model --show '%s/100%%%%-%%d.png' "
                         FIX "t0-gray28.png", T, T), 0);
    free(out), free(err);
    snprintf(p, sizeof p, "%s/100%%-1.png", T);
    read_shown(p, seen);
    assert_memory_equal(seen, s.images, IDX_PIXELS);
    idx_free(&s);
}

static void test_show_path_expansion(void **state)
{
    (void)state;
    char buf[32];
    assert_int_equal(cli_show_path("a-%d.png", 12, buf, sizeof buf), FM_OK);
    assert_string_equal(buf, "a-12.png");
    assert_int_equal(cli_show_path("100%%/%d", 3, buf, sizeof buf), FM_OK);
    assert_string_equal(buf, "100%/3");
    assert_int_equal(cli_show_path("plain.png", 7, buf, sizeof buf), FM_OK);
    assert_string_equal(buf, "plain.png");
    assert_int_equal(cli_show_path("x%d", 123456, buf, 8), FM_OK);
    assert_string_equal(buf, "x123456");
    assert_int_equal(cli_show_path("x%d", 123456, buf, 7), FM_EINVAL);
    assert_int_equal(cli_show_path("abc", 1, buf, 3), FM_EINVAL);
    assert_int_equal(cli_show_path("", 1, buf, 0), FM_EINVAL);
}

static void test_usage_errors(void **state)
{
    (void)state;
    const struct { const char *args, *line; } bad[] = {
        {"classify --show x.png a.png b.png",
         "fmnist: --show: with 2 images the name needs a %d for the image's number (e.g. --show seen-%d.png)"},
        {"classify --show x-%s.png a.png",
         "fmnist: --show: 'x-%s.png': the only '%' sequences allowed are one %d (the image's number) and %%"},
        {"classify --show x-%d-%d.png a.png",
         "fmnist: --show: 'x-%d-%d.png': the only '%' sequences allowed are one %d (the image's number) and %%"},
        {"classify --show x-% a.png",
         "fmnist: --show: 'x-%': the only '%' sequences allowed are one %d (the image's number) and %%"},
        {"classify --show= a.png",
         "fmnist: --show: needs a non-empty path"},
        {"classify --show",
         "fmnist: --show: needs a value"},
        {"classify --ascii --json a.png",
         "fmnist: --ascii: cannot be combined with --json"},
        {"classify --ascii=1 a.png",
         "fmnist: --ascii: takes no value"},
        {"classify --errors e.png a.png",
         "fmnist: --errors: not an option of classify"},
        {"classify --confusion c.png a.png",
         "fmnist: --confusion: not an option of classify"},
        {"eval --show x.png",
         "fmnist: --show: not an option of eval"},
        {"eval --ascii",
         "fmnist: --ascii: not an option of eval"},
        {"eval --errors",
         "fmnist: --errors: needs a value"},
        {"eval --confusion=",
         "fmnist: --confusion: needs a non-empty path"},
        {"train --errors e.png",
         "fmnist: --errors: not an option of train"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        tu_expect_usage_error(bad[i].args, bad[i].line);
}

static void test_show_failure_is_reported(void **state)
{
    (void)state;
    char *out, *err;
    assert_int_equal(tu_fmnist(&out, &err, "classify --model %s/m.model --show %s/no/such/dir/s.png "
                         FIX "t0-gray28.png", T, T), 1);
    /* The classification is still printed; the error names the file. */
    assert_non_null(strstr(out, "t0-gray28.png: "));
    assert_non_null(strstr(err, "no/such/dir/s.png: cannot write"));
    free(out), free(err);
}

static void test_ascii_prints_the_input(void **state)
{
    (void)state;
    char *out, *err;
    assert_int_equal(tu_fmnist(&out, &err, "classify --model %s/m.model --ascii " FIX "t0-gray28.png "
                         FIX "t1-offcentre.png", T), 0);
    assert_non_null(strstr(out, "seen by the network (28x28; already a data set image: used as is)"));
    assert_non_null(strstr(out, "the item's 63x84 box at 52,190 of 400x300, scaled and centred; "
                                "darker than its background, negated"));
    /* 28 rows of 56 characters between bars, per image. */
    int rows = 0;
    for (char *line = out; *line;) {
        char *nl = strchr(line, '\n');
        if (strncmp(line, "  |", 3) == 0) {
            assert_int_equal(nl - line, 2 + 1 + 56 + 1);
            assert_int_equal(nl[-1], '|');
            rows++;
        }
        line = nl + 1;
    }
    assert_int_equal(rows, 2 * 28);
    /* The data set item's brightest pixels are '@', its background ' '. */
    assert_non_null(strstr(out, "@@"));
    free(out), free(err);
}

static int png_size(const char *path, int *w, int *h)
{
    image img;
    if (image_read_png(path, &img, NULL))
        return -1;
    *w = img.w;
    *h = img.h;
    image_free(&img);
    return 0;
}

static void test_eval_pictures(void **state)
{
    (void)state;
    char *out, *err, e_png[4200], c_png[4200];
    snprintf(e_png, sizeof e_png, "%s/errors.png", T);
    snprintf(c_png, sizeof c_png, "%s/confusion.png", T);
    assert_int_equal(tu_fmnist(&out, &err, "eval --data data/sample --model %s/m.model --errors %s "
                         "--confusion %s", T, e_png, c_png), 0);
    assert_non_null(strstr(out, "accuracy: "));
    assert_non_null(strstr(out, "misclassified test images by true class"));
    assert_non_null(strstr(out, "the confusion matrix as a heat map (960x558)"));
    free(out), free(err);
    int w, h;
    assert_int_equal(png_size(e_png, &w, &h), 0);
    assert_int_equal(w, 2124);
    assert_true(h > 100);
    assert_int_equal(png_size(c_png, &w, &h), 0);
    assert_int_equal(w, 960);
    assert_int_equal(h, 558);
    /* --json keeps stdout to the one JSON object. */
    remove(e_png);
    assert_int_equal(tu_fmnist(&out, &err, "eval --data data/sample --model %s/m.model --json "
                         "--errors %s", T, e_png), 0);
    assert_true(out[0] == '{');
    assert_non_null(strstr(out, "}\n"));
    assert_string_equal(strstr(out, "}\n") + 2, "");
    assert_null(strstr(out, "wrote"));
    free(out), free(err);
    assert_int_equal(png_size(e_png, &w, &h), 0);
}

static void test_eval_picture_failure_is_reported(void **state)
{
    (void)state;
    char *out, *err;
    assert_int_equal(tu_fmnist(&out, &err, "eval --data data/sample --model %s/m.model --errors "
                         "%s/nowhere/e.png --confusion %s/c2.png", T, T, T), 1);
    assert_non_null(strstr(out, "accuracy: "));
    assert_non_null(strstr(err, "nowhere/e.png: cannot write"));
    /* The other picture is still written. */
    assert_non_null(strstr(out, "c2.png"));
    free(out), free(err);
}

/* A PNG whose IHDR (valid CRC) declares 100000x100000 pixels. */
static void write_bomb(const char *path)
{
    uint8_t b[8 + 25 + 12] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13,
                              'I',  'H', 'D', 'R', 0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0, 8, 0};
    uint32_t crc = (uint32_t)crc32(0, b + 12, 17);
    b[29] = (uint8_t)(crc >> 24), b[30] = (uint8_t)(crc >> 16), b[31] = (uint8_t)(crc >> 8);
    b[32] = (uint8_t)crc;
    memcpy(b + 33, "\0\0\0\0IEND\xae\x42\x60\x82", 12);
    tu_write(path, b, sizeof b);
}

static void test_hostile_pngs_through_classify(void **state)
{
    (void)state;
    char bomb[4200], blank[4200];
    snprintf(bomb, sizeof bomb, "%s/bomb.png", T);
    write_bomb(bomb);
    snprintf(blank, sizeof blank, "%s/blank.png", T);
    uint8_t white[20 * 20];
    memset(white, 255, sizeof white);
    fm_err e;
    assert_int_equal(image_write_gray_png(blank, white, 20, 20, &e), FM_OK);
    char *out, *err;
    assert_int_equal(tu_fmnist(&out, &err, "classify --model %s/m.model %s %s " FIX "t1-gray28.png", T,
                         bomb, blank), 1);
    assert_non_null(strstr(err, "bomb.png: 100000x100000 pixels is over the limit of 50 megapixels"));
    assert_non_null(strstr(err, "blank.png: nothing stands out from the background"));
    assert_non_null(strstr(out, "blank.png: "));
    assert_non_null(strstr(out, "t1-gray28.png: "));
    free(out), free(err);
}

/* Appends a PNG chunk (length, type, data, CRC) at b + at; returns the end. */
static size_t chunk_at(uint8_t *b, size_t at, const char *type, const uint8_t *d, uint32_t n)
{
    uint8_t *c = b + at;
    c[0] = (uint8_t)(n >> 24), c[1] = (uint8_t)(n >> 16), c[2] = (uint8_t)(n >> 8), c[3] = (uint8_t)n;
    memcpy(c + 4, type, 4);
    if (n)
        memcpy(c + 8, d, n);
    uint32_t crc = (uint32_t)crc32(0, c + 4, 4 + n);
    c[8 + n] = (uint8_t)(crc >> 24), c[9 + n] = (uint8_t)(crc >> 16);
    c[10 + n] = (uint8_t)(crc >> 8), c[11 + n] = (uint8_t)crc;
    return at + 12 + n;
}

/* Two files of a few KB that decoded to far more than their pictures:
 * a 28x28 gray PNG whose image data holds 64 MiB of zeros after its rows
 * (libpng inflated them all; 1 GiB took 2.6 s), and an arithmetic-coded
 * JPEG claiming 7000x7000 pixels in 106 bytes (decoded to 200 MB). Each
 * is refused in one line, status 1; the good picture beside them is
 * classified. */
static void test_decoding_bombs_through_classify(void **state)
{
    (void)state;
    size_t raw = 28 * 29 + ((size_t)64 << 20);
    uint8_t *zeros = calloc(raw, 1);
    uLongf zn = compressBound((uLong)raw);
    uint8_t *z = malloc(zn), *b = malloc(zn + 4096);
    assert_int_equal(compress2(z, &zn, zeros, (uLong)raw, 9), Z_OK);
    memcpy(b, "\x89PNG\r\n\x1a\n", 8);
    uint8_t ihdr[13] = {0, 0, 0, 28, 0, 0, 0, 28, 8, 0, 0, 0, 0};
    size_t at = chunk_at(b, 8, "IHDR", ihdr, 13);
    at = chunk_at(b, at, "IDAT", z, (uint32_t)zn);
    at = chunk_at(b, at, "IEND", NULL, 0);
    char png[4200], jpg[4200];
    snprintf(png, sizeof png, "%s/excess.png", T);
    tu_write(png, b, at);
    /* SOI; DQT (table 0, all 1); SOF9, 7000x7000, 3 components, 4:2:0;
     * SOS of the 3; EOI. */
    at = 0;
    memcpy(b, "\xff\xd8\xff\xdb\0\x43\0", 7), at = 7;
    memset(b + at, 1, 64), at += 64;
    memcpy(b + at, "\xff\xc9\0\x11\x08\x1b\x58\x1b\x58\x03\x01\x22\0\x02\x11\0\x03\x11\0", 19);
    at += 19;
    memcpy(b + at, "\xff\xda\0\x0c\x03\x01\0\x02\0\x03\0\0\x3f\0\xff\xd9", 16), at += 16;
    assert_int_equal(at, 106);
    snprintf(jpg, sizeof jpg, "%s/arith.jpg", T);
    tu_write(jpg, b, at);
    char *out, *err;
    assert_int_equal(tu_fmnist(&out, &err, "classify --model %s/m.model %s %s " FIX "t1-gray28.png",
                               T, png, jpg), 1);
    char want[4400];
    snprintf(want, sizeof want, "fmnist: %s: bad PNG: its image data inflates to more than 1624 "
             "bytes, twice what its 28x28 pixels fill\n", png);
    assert_non_null(strstr(err, want));
    snprintf(want, sizeof want, "fmnist: %s: an arithmetic-coded JPEG of 7000x7000 pixels in 106 "
             "bytes: over 32768 pixels a byte, as only a nearly blank picture codes (fmnist's "
             "limit)\n", jpg);
    assert_non_null(strstr(err, want));
    assert_null(strstr(out, "excess.png"));
    assert_null(strstr(out, "arith.jpg"));
    assert_non_null(strstr(out, "t1-gray28.png: "));
    free(out), free(err);
    free(zeros), free(z), free(b);
}

/* classify --threads 12 of twelve 49-megapixel PNGs: each decodes to 196
 * MB, 2.4 GB if all were decoded at once; classify's budget of 1 GiB for
 * decoding and preparing (262 MB judged for each) lets at most 3 be. The
 * process's peak (GNU time's %M) must stay under that budget, the model
 * and a margin: 1.25 GiB. Skipped without GNU time. */
static void test_classify_threads_memory_is_bounded(void **state)
{
    (void)state;
#ifdef TU_UNDER_ASAN
    skip(); /* ASan's shadow and quarantine say nothing of this */
#endif
    if (access("/usr/bin/time", X_OK) != 0)
        skip();
    enum { SIDE = 7000, COPIES = 12 };
    uint8_t *pix = malloc((size_t)SIDE * SIDE);
    assert_non_null(pix);
    memset(pix, 255, (size_t)SIDE * SIDE);
    for (int y = 1500; y < 5500; y++)
        memset(pix + (size_t)y * SIDE + 2000, 30, 3000);
    char first[4200], name[4200], files[COPIES * 4200] = "", cmd[(COPIES + 3) * 4200];
    snprintf(first, sizeof first, "%s/huge0.png", T);
    fm_err e;
    assert_int_equal(image_write_gray_png(first, pix, SIDE, SIDE, &e), FM_OK);
    free(pix);
    for (int i = 0; i < COPIES; i++) {
        snprintf(name, sizeof name, "%s/huge%d.png", T, i);
        if (i)
            assert_int_equal(link(first, name), 0);
        strcat(files, " "), strcat(files, name);
    }
    char *out, *err;
    snprintf(cmd, sizeof cmd, "/usr/bin/time -f %%M -o %s/rss %s classify --threads %d "
             "--model %s/m.model%s", T, tu_bin(), COPIES, T, files);
    assert_int_equal(tu_run(cmd, &out, &err), 0);
    for (int i = 0; i < COPIES; i++) {
        snprintf(name, sizeof name, "%s/huge%d.png: ", T, i);
        assert_non_null(strstr(out, name));
    }
    snprintf(name, sizeof name, "%s/rss", T);
    size_t n = 0;
    char *rss = (char *)tu_read(name, &n);
    assert_non_null(rss);
    long kb = strtol(rss, NULL, 10);
    if (kb >= 1310720)
        fail_msg("classify --threads %d of %d 49-megapixel PNGs peaked at %ld MB", COPIES,
                 COPIES, kb / 1024);
    free(rss), free(out), free(err);
    for (int i = 0; i < COPIES; i++) {
        snprintf(name, sizeof name, "%s/huge%d.png", T, i);
        remove(name);
    }
}

/* classify --json's first two classes for one picture, and what the
 * network saw (--show). */
typedef struct verdict {
    int label[2];
    double p[2];
    uint8_t seen[IDX_PIXELS];
} verdict;

static void classify_one(const char *picture, verdict *v)
{
    char *out, *err, shown[4200];
    snprintf(shown, sizeof shown, "%s/verdict.png", T);
    int rc = tu_fmnist(&out, &err, "classify --json --top 2 --model %s/m.model --show %s %s", T,
                       shown, picture);
    if (rc != 0)
        fail_msg("classify %s: status %d: %s", picture, rc, err);
    const char *top = strstr(out, "\"top\":[");
    assert_non_null(top);
    for (int k = 0; k < 2; k++) {
        const char *l = strstr(top, "\"label\":"), *p = strstr(top, "\"probability\":");
        assert_non_null(l);
        assert_non_null(p);
        v->label[k] = atoi(l + 8);
        v->p[k] = atof(p + 14);
        top = p + 14;
    }
    free(out), free(err);
    read_shown(shown, v->seen);
}

/* b, a JPEG of the picture a was read from, reached the network within
 * JPEG's error, and got a's class; when a's two best are within 0.1 (the
 * test's model is one epoch on 2,000 images), either of them. */
static void expect_same_verdict(const char *name, const verdict *a, const verdict *b)
{
    double sum = 0;
    int max = 0;
    for (int i = 0; i < IDX_PIXELS; i++) {
        int d = abs(a->seen[i] - b->seen[i]);
        sum += d;
        max = d > max ? d : max;
    }
    if (sum / IDX_PIXELS > 3.0 || max > 40)
        fail_msg("%s: the network's input differs from the PNG's by %.2f on average, %d at most",
                 name, sum / IDX_PIXELS, max);
    int near_tie = a->p[0] - a->p[1] < 0.1;
    if (b->label[0] != a->label[0] && !(near_tie && b->label[0] == a->label[1]))
        fail_msg("%s: class %d, the PNG's %d (%.3f; then %d %.3f)", name, b->label[0],
                 a->label[0], a->p[0], a->label[1], a->p[1]);
}

/* A test image exported as PNG, the same as a JPEG, and that JPEG stored
 * turned with EXIF orientation 6 (a phone held upright): what the network
 * sees is the same within JPEG's error, and so is the class. */
static void test_jpeg_classified_as_its_png(void **state)
{
    (void)state;
    const int items[] = {0, 1, 8};
    for (int i = 0; i < 3; i++) {
        char png[256], jpg[256], turned[256];
        snprintf(png, sizeof png, FIX "t%d-white10x.png", items[i]);
        snprintf(jpg, sizeof jpg, FIX "t%d-white10x.jpg", items[i]);
        snprintf(turned, sizeof turned, FIX "t%d-portrait.jpg", items[i]);
        verdict a, b, c;
        classify_one(png, &a);
        classify_one(jpg, &b);
        classify_one(turned, &c);
        expect_same_verdict(jpg, &a, &b);
        expect_same_verdict(turned, &a, &c);
    }
    /* The bytes decide, not the name; standard input too. */
    char *out, *err;
    size_t n;
    uint8_t *b = tu_read(FIX "t1-white10x.jpg", &n);
    assert_non_null(b);
    char named[4200];
    snprintf(named, sizeof named, "%s/photo.png", T);
    tu_write(named, b, n);
    free(b);
    verdict a, c;
    classify_one(FIX "t1-white10x.png", &a);
    classify_one(named, &c);
    expect_same_verdict(named, &a, &c);
    assert_int_equal(tu_fmnist(&out, &err, "classify --model %s/m.model - < " FIX "t1-portrait.jpg", T), 0);
    assert_non_null(strstr(out, "<stdin>: "));
    free(out), free(err);
}

/* Pictures fmnist does not read are named, and the others still classified. */
static void test_other_formats_are_named(void **state)
{
    (void)state;
    char gif[4200], webp[4200];
    snprintf(gif, sizeof gif, "%s/cat.gif", T);
    snprintf(webp, sizeof webp, "%s/cat.jpg", T);
    tu_write(gif, "GIF89a\x01\0\x01\0\0\0\0", 13);
    tu_write(webp, "RIFF\x10\0\0\0WEBPVP8 ", 16);
    char *out, *err;
    assert_int_equal(tu_fmnist(&out, &err, "classify --model %s/m.model %s " FIX "t8-white10x.jpg %s",
                               T, gif, webp), 1);
    assert_non_null(strstr(err, "cat.gif: a GIF picture; fmnist reads PNG and JPEG (convert it, e.g. 'convert "));
    assert_non_null(strstr(err, "cat.jpg: a WebP picture; fmnist reads PNG and JPEG"));
    assert_non_null(strstr(out, "t8-white10x.jpg: "));
    free(out), free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_lists_the_picture_options),
        cmocka_unit_test(test_show_writes_what_the_network_received),
        cmocka_unit_test(test_show_numbers_several_images),
        cmocka_unit_test(test_show_path_expansion),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_show_failure_is_reported),
        cmocka_unit_test(test_ascii_prints_the_input),
        cmocka_unit_test(test_eval_pictures),
        cmocka_unit_test(test_eval_picture_failure_is_reported),
        cmocka_unit_test(test_hostile_pngs_through_classify),
        cmocka_unit_test(test_decoding_bombs_through_classify),
        cmocka_unit_test(test_classify_threads_memory_is_bounded),
        cmocka_unit_test(test_jpeg_classified_as_its_png),
        cmocka_unit_test(test_other_formats_are_named),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
