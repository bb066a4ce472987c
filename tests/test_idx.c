/* test_idx.c: the IDX loader on valid files (raw and gzip) and on every
 * malformed case, each expecting its own error. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include <zlib.h>

#include "idx.h"

#define N 3

static uint8_t img_raw[16 + N * IDX_PIXELS];
static uint8_t lab_raw[8 + N];

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static int setup(void **state)
{
    (void)state;
    put_be32(img_raw, 0x803);
    put_be32(img_raw + 4, N);
    put_be32(img_raw + 8, 28);
    put_be32(img_raw + 12, 28);
    for (int i = 0; i < N * IDX_PIXELS; i++)
        img_raw[16 + i] = (uint8_t)(i * 7 + 3);
    put_be32(lab_raw, 0x801);
    put_be32(lab_raw + 4, N);
    lab_raw[8] = 9;
    lab_raw[9] = 0;
    lab_raw[10] = 4;
    return 0;
}

/* Expects idx_parse to fail with code and a message containing text. */
static void expect_fail(const uint8_t *buf, size_t len, int wrap, enum idx_kind kind, int code,
                        const char *text)
{
    uint8_t *data = (uint8_t *)0x1;
    uint32_t count = 77;
    fm_err e;
    int rc = idx_parse(buf, len, "f", wrap, kind, &data, &count, &e);
    if (rc != code || !strstr(e.msg, text))
        fail_msg("expected code %d with '%s'; got %d: '%s'", code, text, rc, e.msg);
    assert_string_equal(e.file, "f");
    assert_ptr_equal(data, (uint8_t *)0x1); /* outputs untouched */
    assert_int_equal(count, 77);
}

static void test_valid_raw_and_gzip(void **state)
{
    (void)state;
    for (int gz = 0; gz < 2; gz++) {
        size_t il = sizeof img_raw, ll = sizeof lab_raw;
        uint8_t *ib = img_raw, *lb = lab_raw;
        if (gz) {
            ib = tu_gzip(img_raw, sizeof img_raw, &il);
            lb = tu_gzip(lab_raw, sizeof lab_raw, &ll);
        }
        uint8_t *data;
        uint32_t count;
        fm_err e;
        assert_int_equal(idx_parse(ib, il, "i", gz, IDX_IMAGES, &data, &count, &e), FM_OK);
        assert_int_equal(count, N);
        assert_memory_equal(data, img_raw + 16, N * IDX_PIXELS);
        free(data);
        assert_int_equal(idx_parse(lb, ll, "l", IDX_WRAP_ANY, IDX_LABELS, &data, &count, &e),
                         FM_OK);
        assert_int_equal(count, N);
        assert_memory_equal(data, lab_raw + 8, N);
        free(data);
        if (gz) {
            free(ib);
            free(lb);
        }
    }
}

static void test_files_on_disk(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char ip[4200], lp[4200];
    size_t gl;
    snprintf(ip, sizeof ip, "%s/t10k-images-idx3-ubyte.gz", dir);
    uint8_t *g = tu_gzip(img_raw, sizeof img_raw, &gl);
    tu_write(ip, g, gl);
    free(g);
    snprintf(lp, sizeof lp, "%s/t10k-labels-idx1-ubyte", dir);
    tu_write(lp, lab_raw, sizeof lab_raw);

    char fi[4096], fl[4096];
    fm_err e;
    assert_int_equal(idx_locate(dir, NULL, NULL, IDX_TEST, fi, fl, sizeof fi, &e), FM_OK);
    assert_string_equal(fi, ip);
    assert_string_equal(fl, lp);
    idx_set s;
    assert_int_equal(idx_load(fi, fl, &s, &e), FM_OK);
    assert_int_equal(s.n, N);
    assert_int_equal(s.labels[0], 9);
    assert_int_equal(s.images[5], img_raw[16 + 5]);
    idx_free(&s);

    /* --data is exclusive; $FMNIST_DATA likewise; the training split is absent. */
    assert_int_equal(idx_locate(dir, NULL, NULL, IDX_TRAIN, fi, fl, sizeof fi, &e), FM_ENOTFOUND);
    assert_non_null(strstr(e.msg, dir));
    assert_non_null(strstr(e.msg, "(--data)"));
    assert_int_equal(idx_locate(NULL, dir, NULL, IDX_TEST, fi, fl, sizeof fi, &e), FM_OK);
    assert_int_equal(idx_locate(NULL, "/nonexistent", NULL, IDX_TEST, fi, fl, sizeof fi, &e),
                     FM_ENOTFOUND);
    assert_non_null(strstr(e.msg, "$FMNIST_DATA"));

    /* The default search lists every place, torchvision's layout last. */
    assert_int_equal(idx_locate(NULL, NULL, "/nohome", IDX_TRAIN, fi, fl, sizeof fi, &e) == FM_OK ||
                         strstr(e.msg, "/nohome/.pytorch/F_MNIST_data/FashionMNIST/raw") != NULL,
                     1);

    /* A .gz name on raw data and a plain name on gzip data are both named faults. */
    char bad[4200];
    snprintf(bad, sizeof bad, "%s/raw-named.gz", dir);
    tu_write(bad, img_raw, sizeof img_raw);
    uint8_t *data;
    uint32_t count;
    assert_int_equal(idx_read_file(bad, IDX_IMAGES, &data, &count, &e), FM_EFORMAT);
    assert_non_null(strstr(e.msg, "named .gz but holds uncompressed IDX data"));
    assert_string_equal(e.file, bad);
    snprintf(bad, sizeof bad, "%s/gzip-named-raw", dir);
    g = tu_gzip(img_raw, sizeof img_raw, &gl);
    tu_write(bad, g, gl);
    free(g);
    assert_int_equal(idx_read_file(bad, IDX_IMAGES, &data, &count, &e), FM_EFORMAT);
    assert_non_null(strstr(e.msg, "holds gzip data but is not named .gz"));

    /* A directory, a device, a missing file. */
    assert_int_equal(idx_read_file(dir, IDX_IMAGES, &data, &count, &e), FM_EFORMAT);
    assert_non_null(strstr(e.msg, "is a directory"));
    assert_int_equal(idx_read_file("/dev/zero", IDX_IMAGES, &data, &count, &e), FM_EFORMAT);
    assert_non_null(strstr(e.msg, "not a regular file"));
    snprintf(bad, sizeof bad, "%s/missing", dir);
    assert_int_equal(idx_read_file(bad, IDX_IMAGES, &data, &count, &e), FM_ENOTFOUND);

    /* Image and label counts that differ. */
    uint8_t lab2[8 + 2];
    memcpy(lab2, lab_raw, sizeof lab2);
    put_be32(lab2 + 4, 2);
    tu_write(lp, lab2, sizeof lab2);
    assert_int_equal(idx_load(ip, lp, &s, &e), FM_EFORMAT);
    assert_non_null(strstr(e.msg, "holds 2 labels but"));
    assert_non_null(strstr(e.msg, "holds 3 images"));
    put_be32(lab2 + 4, 1);
    tu_write(lp, lab2, 9);
    assert_int_equal(idx_load(ip, lp, &s, &e), FM_EFORMAT);
    char want[9000];
    snprintf(want, sizeof want, "holds 1 label but %s holds 3 images", ip);
    assert_string_equal(e.msg, want);
    tu_rmtree(dir);
}

/* Headers that lie or do not fit: magic, kind, size, count, length. */
static void test_malformed_header(void **state)
{
    (void)state;
    uint8_t b[sizeof img_raw + 64] = {0};
    size_t gl;
    uint8_t *g;

    expect_fail(b, 0, IDX_WRAP_ANY, IDX_IMAGES, FM_EFORMAT, "empty file");

    /* Bad magic, the other kind, bad dimensions, zero count. */
    memcpy(b, img_raw, sizeof img_raw);
    put_be32(b, 0x12345678);
    expect_fail(b, sizeof img_raw, IDX_WRAP_RAW, IDX_IMAGES, FM_EFORMAT,
                "not an IDX images file (magic 0x12345678, expected 0x00000803)");
    expect_fail(lab_raw, sizeof lab_raw, IDX_WRAP_RAW, IDX_IMAGES, FM_EFORMAT,
                "is an IDX labels file, expected images");
    expect_fail(img_raw, sizeof img_raw, IDX_WRAP_RAW, IDX_LABELS, FM_EFORMAT,
                "is an IDX images file, expected labels");
    memcpy(b, img_raw, sizeof img_raw);
    put_be32(b + 12, 27);
    expect_fail(b, sizeof img_raw, IDX_WRAP_RAW, IDX_IMAGES, FM_EFORMAT, "images are 28x27");
    memcpy(b, img_raw, 16);
    put_be32(b + 4, 0);
    expect_fail(b, 16, IDX_WRAP_RAW, IDX_IMAGES, FM_EFORMAT, "holds no images");

    /* Truncated header, truncated and over-long payload. */
    expect_fail(img_raw, 10, IDX_WRAP_RAW, IDX_IMAGES, FM_EFORMAT, "16-byte IDX header expected");
    expect_fail(img_raw, sizeof img_raw - 1, IDX_WRAP_RAW, IDX_IMAGES, FM_EFORMAT,
                "truncated: header claims 3 images (2352 pixel bytes), file holds 2351");
    memcpy(b, img_raw, sizeof img_raw);
    expect_fail(b, sizeof img_raw + 5, IDX_WRAP_RAW, IDX_IMAGES, FM_EFORMAT,
                "5 bytes longer than its header says");
    /* One of each: "1 byte", "1 label", "1 image". */
    expect_fail(b, sizeof img_raw + 1, IDX_WRAP_RAW, IDX_IMAGES, FM_EFORMAT,
                "1 byte longer than its header says (3 images, 2352 pixel bytes)");
    uint8_t one[8 + 2];
    memcpy(one, lab_raw, 8);
    put_be32(one + 4, 1);
    one[8] = one[9] = 0;
    expect_fail(one, 10, IDX_WRAP_RAW, IDX_LABELS, FM_EFORMAT,
                "1 byte longer than its header says (1 label, 1 label byte)");
    expect_fail(one, 8, IDX_WRAP_RAW, IDX_LABELS, FM_EFORMAT,
                "truncated: header claims 1 label (1 label byte), file holds 0");

    /* A header claiming 2^31 images (over the count limit) or a million
     * (under it) in a 1 KB file: refused before allocating. */
    uint8_t kb[1024];
    memset(kb, 0, sizeof kb);
    memcpy(kb, img_raw, 16);
    put_be32(kb + 4, 1u << 31);
    expect_fail(kb, sizeof kb, IDX_WRAP_RAW, IDX_IMAGES, FM_ELIMIT,
                "header claims 2147483648 images, more than the limit");
    put_be32(kb + 4, 1000000);
    expect_fail(kb, sizeof kb, IDX_WRAP_RAW, IDX_IMAGES, FM_EFORMAT,
                "truncated: header claims 1000000 images");
    g = tu_gzip(kb, sizeof kb, &gl);
    expect_fail(g, gl, IDX_WRAP_GZIP, IDX_IMAGES, FM_EFORMAT, "cannot hold that much");
    free(g);
}

/* Labels outside 0..9, raw and gzipped. */
static void test_malformed_labels(void **state)
{
    (void)state;
    uint8_t b[sizeof lab_raw] = {0};
    size_t gl;
    uint8_t *g;

    /* Labels outside 0..9. */
    memcpy(b, lab_raw, sizeof lab_raw);
    b[9] = 10;
    expect_fail(b, sizeof lab_raw, IDX_WRAP_RAW, IDX_LABELS, FM_EFORMAT,
                "label 10 at index 1 is outside 0..9");
    b[9] = 255;
    g = tu_gzip(b, sizeof lab_raw, &gl);
    expect_fail(g, gl, IDX_WRAP_GZIP, IDX_LABELS, FM_EFORMAT, "label 255 at index 1");
    free(g);
}

/* Damaged gzip data, and files that are neither gzip nor IDX. */
static void test_malformed_gzip(void **state)
{
    (void)state;
    uint8_t b[sizeof img_raw + 64] = {0};
    size_t gl;
    uint8_t *g;

    /* gzip faults: truncated at several points, garbage, corrupt, bad CRC,
     * trailing garbage, longer than the header says. */
    g = tu_gzip(img_raw, sizeof img_raw, &gl);
    expect_fail(g, gl / 2, IDX_WRAP_GZIP, IDX_IMAGES, FM_EFORMAT, "truncated gzip file");
    expect_fail(g, 12, IDX_WRAP_GZIP, IDX_IMAGES, FM_EFORMAT, "truncated gzip file");
    expect_fail(g, gl - 4, IDX_WRAP_GZIP, IDX_IMAGES, FM_EFORMAT, "truncated gzip file");
    memcpy(b, g, gl);
    b[gl - 8] ^= 0xff; /* the CRC-32 of the trailer */
    expect_fail(b, gl, IDX_WRAP_GZIP, IDX_IMAGES, FM_EFORMAT, "incorrect data check");
    memcpy(b, g, gl);
    memset(b + 10, 0xff, 16);
    expect_fail(b, gl, IDX_WRAP_GZIP, IDX_IMAGES, FM_EFORMAT, "corrupt gzip data");
    memcpy(b, g, gl);
    memcpy(b + gl, "junk", 4);
    expect_fail(b, gl + 4, IDX_WRAP_GZIP, IDX_IMAGES, FM_EFORMAT, "trailing garbage");
    expect_fail(b, gl + 1, IDX_WRAP_GZIP, IDX_IMAGES, FM_EFORMAT, "trailing garbage");
    b[gl] = 0x1f; /* the first byte of a gzip member, alone */
    expect_fail(b, gl + 1, IDX_WRAP_GZIP, IDX_IMAGES, FM_EFORMAT, "trailing garbage");
    memcpy(b + gl, g + gl - 4, 4); /* garbage that ends as the trailer's length field */
    expect_fail(b, gl + 4, IDX_WRAP_GZIP, IDX_IMAGES, FM_EFORMAT, "trailing garbage");
    free(g);
    uint8_t rnd[4096];
    for (size_t i = 0; i < sizeof rnd; i++)
        rnd[i] = (uint8_t)(i * 2654435761u >> 13);
    g = tu_gzip(rnd, sizeof rnd, &gl);
    expect_fail(g, gl, IDX_WRAP_GZIP, IDX_IMAGES, FM_EFORMAT, "not an IDX images file");
    free(g);
    memcpy(b, img_raw, sizeof img_raw);
    b[sizeof img_raw] = 1;
    g = tu_gzip(b, sizeof img_raw + 1, &gl);
    expect_fail(g, gl, IDX_WRAP_GZIP, IDX_IMAGES, FM_EFORMAT, "longer than its header says");
    free(g);

    /* An HTML page saved as .gz, or as a raw file. */
    const char *html = "<!DOCTYPE html><html><body>Moved</body></html>\n";
    expect_fail((const uint8_t *)html, strlen(html), IDX_WRAP_GZIP, IDX_IMAGES, FM_EFORMAT,
                "is an HTML page, not gzip data");
    expect_fail((const uint8_t *)html, strlen(html), IDX_WRAP_RAW, IDX_IMAGES, FM_EFORMAT,
                "is an HTML page, not IDX data");
    expect_fail((const uint8_t *)"hello", 5, IDX_WRAP_GZIP, IDX_IMAGES, FM_EFORMAT,
                "not gzip data although named .gz");
}

/* gzip headers with optional fields (read past by the fast path), a
 * header CRC (left to zlib, which checks it) and a reserved flag: each
 * reads as zlib reads it. */
static void test_gzip_header_fields(void **state)
{
    (void)state;
    size_t gl;
    uint8_t *g = tu_gzip(img_raw, sizeof img_raw, &gl), *b = malloc(gl + 64);
    static const uint8_t fields[] = {5, 0, 'x', 'y', 'z', 'w', 'v', 'n', 'a', 'm', 'e', 0,
                                     'n', 'o', 't', 'e', 0};
    memcpy(b, g, 10);
    b[3] = 4 | 8 | 16; /* FEXTRA, FNAME, FCOMMENT */
    memcpy(b + 10, fields, sizeof fields);
    memcpy(b + 10 + sizeof fields, g + 10, gl - 10);
    uint8_t *data;
    uint32_t count;
    fm_err e;
    assert_int_equal(idx_parse(b, gl + sizeof fields, "f", IDX_WRAP_GZIP, IDX_IMAGES, &data,
                               &count, &e), FM_OK);
    assert_int_equal(count, N);
    assert_memory_equal(data, img_raw + 16, N * IDX_PIXELS);
    free(data);
    for (int good = 1; good >= 0; good--) { /* FHCRC: the header's CRC-32, low half */
        memcpy(b, g, 10);
        b[3] = 2;
        uint32_t crc = (uint32_t)crc32(0, b, 10) ^ (good ? 0 : 1);
        b[10] = (uint8_t)crc;
        b[11] = (uint8_t)(crc >> 8);
        memcpy(b + 12, g + 10, gl - 10);
        if (!good) {
            expect_fail(b, gl + 2, IDX_WRAP_GZIP, IDX_IMAGES, FM_EFORMAT, "header crc mismatch");
            continue;
        }
        assert_int_equal(idx_parse(b, gl + 2, "f", IDX_WRAP_GZIP, IDX_IMAGES, &data, &count, &e),
                         FM_OK);
        assert_memory_equal(data, img_raw + 16, N * IDX_PIXELS);
        free(data);
    }
    memcpy(b, g, gl);
    b[2] = 7; /* not deflate */
    expect_fail(b, gl, IDX_WRAP_GZIP, IDX_IMAGES, FM_EFORMAT, "unknown compression method");
    memcpy(b, g, gl);
    b[3] = 32; /* reserved */
    expect_fail(b, gl, IDX_WRAP_GZIP, IDX_IMAGES, FM_EFORMAT, "unknown header flags set");
    free(b);
    free(g);
}

static void test_concatenated_members(void **state)
{
    (void)state;
    /* gzip a b > c is one stream to gzip; so it is here. */
    size_t l1, l2;
    uint8_t *g1 = tu_gzip(img_raw, 1000, &l1), *g2 = tu_gzip(img_raw + 1000, sizeof img_raw - 1000, &l2);
    uint8_t *g = malloc(l1 + l2);
    memcpy(g, g1, l1);
    memcpy(g + l1, g2, l2);
    uint8_t *data;
    uint32_t count;
    fm_err e;
    assert_int_equal(idx_parse(g, l1 + l2, "c", IDX_WRAP_GZIP, IDX_IMAGES, &data, &count, &e),
                     FM_OK);
    assert_memory_equal(data, img_raw + 16, N * IDX_PIXELS);
    free(data);
    free(g);
    free(g1);
    free(g2);
}

/* ---- gzip members at the boundary of a read ---- */

/* idx.c's reads of a file (IDX_READ_CHUNK). */
#define READ_CHUNK (256 * 1024)

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> 8 * i);
}

/* A gzip member of exactly size bytes holding data[0..n), deflated at
 * level 6: an extra field (FEXTRA, one subfield) in its header takes up
 * what the deflate stream leaves. */
static uint8_t *gzip_member_of_size(const uint8_t *data, size_t n, size_t size)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, (uLong)n);
    uint8_t *raw = malloc(cap), *m = malloc(size);
    assert_true(raw && m);
    z.next_in = (Bytef *)(uintptr_t)data;
    z.avail_in = (uInt)n;
    z.next_out = raw;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t dn = z.total_out;
    deflateEnd(&z);
    /* 10 bytes of header, 2 of XLEN, the field, the stream, 8 of trailer */
    if (dn + 20 + 4 > size || size - 20 - dn > 65535)
        fail_msg("%zu bytes deflate to %zu: no gzip member of %zu bytes", n, dn, size);
    size_t xlen = size - 20 - dn;
    static const uint8_t head[10] = {0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 255};
    memcpy(m, head, 10);
    m[10] = (uint8_t)xlen;
    m[11] = (uint8_t)(xlen >> 8);
    m[12] = 'F', m[13] = 'M', m[14] = (uint8_t)(xlen - 4), m[15] = (uint8_t)((xlen - 4) >> 8);
    memset(m + 16, 0, xlen - 4);
    memcpy(m + 12 + xlen, raw, dn);
    put_le32(m + 12 + xlen + dn, (uint32_t)crc32(0, data, (uInt)n));
    put_le32(m + 16 + xlen + dn, (uint32_t)n);
    free(raw);
    return m;
}

/* What gzread makes of the file: all its members, one after the other. */
static uint8_t *gunzip_file(const char *path, size_t *n)
{
    gzFile g = gzopen(path, "rb");
    assert_non_null(g);
    size_t cap = 1 << 20, len = 0;
    uint8_t *b = malloc(cap);
    int r;
    while ((r = gzread(g, b + len, (unsigned)(cap - len))) > 0)
        if ((len += (size_t)r) == cap)
            b = realloc(b, cap *= 2);
    assert_int_equal(r, 0);
    assert_int_equal(gzclose(g), Z_OK);
    *n = len;
    return b;
}

/* A file of two gzip members whose first ends exactly where the loader's
 * first read ends (each member 256 KB): one IDX file in the two, as gzip
 * reads them (the second member is found in the next read); a whole IDX
 * file in the first and the same member again (longer than its header
 * says, as gzip reads it); garbage after a whole file, from the boundary
 * on. */
static void test_members_at_read_boundary(void **state)
{
    (void)state;
    enum { HALF = 520000 }; /* labels a member, about 225 KB deflated */
    uint8_t *lab = malloc(8 + 2 * HALF), *two = malloc(2 * READ_CHUNK);
    unsigned seed = 3;
    put_be32(lab, 0x801);
    for (size_t i = 0; i < 2 * HALF; i++) {
        seed = seed * 1103515245u + 12345u;
        lab[8 + i] = (uint8_t)((seed >> 16) % 10);
    }
    char *dir = tu_tmpdir(), path[4200];
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte.gz", dir);
    uint8_t *data, *gz;
    uint32_t count;
    size_t gn;
    fm_err e;

    put_be32(lab + 4, 2 * HALF);
    uint8_t *m1 = gzip_member_of_size(lab, 8 + HALF, READ_CHUNK),
            *m2 = gzip_member_of_size(lab + 8 + HALF, HALF, READ_CHUNK);
    memcpy(two, m1, READ_CHUNK);
    memcpy(two + READ_CHUNK, m2, READ_CHUNK);
    tu_write(path, two, 2 * READ_CHUNK);
    gz = gunzip_file(path, &gn);
    assert_int_equal(gn, 8 + 2 * HALF);
    assert_memory_equal(gz, lab, gn);
    free(gz);
    assert_int_equal(idx_read_file(path, IDX_LABELS, &data, &count, &e), FM_OK);
    assert_int_equal(count, 2 * HALF);
    assert_memory_equal(data, lab + 8, 2 * HALF);
    free(data);
    free(m1);
    free(m2);

    put_be32(lab + 4, HALF);
    m1 = gzip_member_of_size(lab, 8 + HALF, READ_CHUNK);
    memcpy(two, m1, READ_CHUNK);
    memcpy(two + READ_CHUNK, m1, READ_CHUNK);
    tu_write(path, two, 2 * READ_CHUNK);
    gz = gunzip_file(path, &gn);
    assert_int_equal(gn, 2 * (8 + HALF));
    free(gz);
    data = NULL;
    assert_int_equal(idx_read_file(path, IDX_LABELS, &data, &count, &e), FM_EFORMAT);
    assert_non_null(strstr(e.msg, "longer than its header says"));
    assert_null(data);
    memcpy(two + READ_CHUNK, "junk", 4);
    tu_write(path, two, READ_CHUNK + 4);
    assert_int_equal(idx_read_file(path, IDX_LABELS, &data, &count, &e), FM_EFORMAT);
    assert_non_null(strstr(e.msg, "trailing garbage"));
    tu_write(path, two, READ_CHUNK); /* the first member alone: the file it holds */
    assert_int_equal(idx_read_file(path, IDX_LABELS, &data, &count, &e), FM_OK);
    assert_int_equal(count, HALF);
    assert_memory_equal(data, lab + 8, HALF);
    free(data);
    free(m1);
    free(two);
    free(lab);
    tu_rmtree(dir);
}

/* idx_load_one: one image and its label, the files checked whole but
 * read a chunk (1,024 images) at a time. M images span three chunks; every
 * picked image and label is the one idx_load reads, raw and gzip alike. */
#define M 2500
static void write_pair(const char *dir, int gz, uint8_t bad_label_at, char *ip, char *lp,
                       size_t cap)
{
    uint8_t *img = malloc(16 + (size_t)M * IDX_PIXELS), lab[8 + M];
    memcpy(img, img_raw, 16);
    put_be32(img + 4, M);
    for (size_t i = 0; i < (size_t)M * IDX_PIXELS; i++)
        img[16 + i] = (uint8_t)(i * 31 + i / IDX_PIXELS);
    put_be32(lab, 0x801);
    put_be32(lab + 4, M);
    for (int i = 0; i < M; i++)
        lab[8 + i] = (uint8_t)(i % 10);
    if (bad_label_at)
        lab[8 + M - 100] = 10;
    snprintf(ip, cap, "%s/i%s", dir, gz ? ".gz" : "");
    snprintf(lp, cap, "%s/l%s", dir, gz ? ".gz" : "");
    size_t n = 16 + (size_t)M * IDX_PIXELS, ln = sizeof lab;
    uint8_t *gi = gz ? tu_gzip(img, n, &n) : img, *gl = gz ? tu_gzip(lab, ln, &ln) : lab;
    tu_write(ip, gi, n);
    tu_write(lp, gl, ln);
    if (gz) {
        free(gi);
        free(gl);
    }
    free(img);
}

static void test_load_one(void **state)
{
    (void)state;
    char *dir = tu_tmpdir(), ip[4200], lp[4200];
    static const uint32_t picks[] = {0, 1023, 1024, 1500, 2048, M - 1};
    for (int gz = 0; gz < 2; gz++) {
        write_pair(dir, gz, 0, ip, lp, sizeof ip);
        idx_set s;
        fm_err e;
        assert_int_equal(idx_load(ip, lp, &s, &e), FM_OK);
        for (size_t k = 0; k < sizeof picks / sizeof *picks; k++) {
            uint8_t px[IDX_PIXELS], label = 99;
            uint32_t n = 0;
            assert_int_equal(idx_load_one(ip, lp, picks[k], px, &label, &n, &e), FM_OK);
            assert_int_equal(n, M);
            assert_int_equal(label, s.labels[picks[k]]);
            assert_memory_equal(px, s.images + (size_t)picks[k] * IDX_PIXELS, IDX_PIXELS);
        }
        idx_free(&s);
        /* Past the end: the count, the outputs untouched. */
        uint8_t px[IDX_PIXELS] = {7}, label = 99;
        uint32_t n = 0;
        assert_int_equal(idx_load_one(ip, lp, M, px, &label, &n, &e), FM_OK);
        assert_int_equal(n, M);
        assert_int_equal(label, 99);
        assert_int_equal(px[0], 7);
        /* A bad label after the one picked is still found; outputs untouched. */
        write_pair(dir, gz, 1, ip, lp, sizeof ip);
        n = 5;
        assert_int_equal(idx_load_one(ip, lp, 3, px, &label, &n, &e), FM_EFORMAT);
        assert_non_null(strstr(e.msg, "label 10 at index 2400 is outside 0..9"));
        assert_int_equal(n, 5);
        assert_int_equal(label, 99);
        assert_int_equal(px[0], 7);
        /* Fewer labels than images, the index between the two counts: the
         * counts' mismatch, not an image without its label. */
        write_pair(dir, gz, 0, ip, lp, sizeof ip);
        uint8_t five[8 + 5] = {0, 0, 8, 1, 0, 0, 0, 5, 1, 2, 3, 4, 5};
        size_t fl = sizeof five;
        uint8_t *fz = gz ? tu_gzip(five, sizeof five, &fl) : five;
        tu_write(lp, fz, fl);
        if (gz)
            free(fz);
        n = 5;
        assert_int_equal(idx_load_one(ip, lp, 10, px, &label, &n, &e), FM_EFORMAT);
        assert_non_null(strstr(e.msg, "holds 5 labels but"));
        assert_int_equal(n + label + px[0], 5 + 99 + 7);
    }
    /* A gzip file truncated after the image picked. */
    write_pair(dir, 1, 0, ip, lp, sizeof ip);
    struct stat st;
    assert_int_equal(stat(ip, &st), 0);
    assert_int_equal(truncate(ip, st.st_size - 20), 0);
    uint8_t px[IDX_PIXELS] = {7}, label = 99;
    uint32_t n = 5;
    fm_err e;
    assert_int_equal(idx_load_one(ip, lp, 1, px, &label, &n, &e), FM_EFORMAT);
    assert_non_null(strstr(e.msg, "truncated"));
    assert_int_equal(n + label + px[0], 5 + 99 + 7);
    /* A bad label in a later chunk of labels is named by its own index (the
     * labels are read before their count is compared with the images'). */
    write_pair(dir, 1, 0, ip, lp, sizeof ip);
    enum { LOTS = 900000 };
    uint8_t *lab = calloc(8 + LOTS, 1);
    put_be32(lab, 0x801);
    put_be32(lab + 4, LOTS);
    lab[8 + 850000] = 12;
    size_t ln;
    uint8_t *gl = tu_gzip(lab, 8 + LOTS, &ln);
    tu_write(lp, gl, ln);
    assert_int_equal(idx_load_one(ip, lp, 1, px, &label, &n, &e), FM_EFORMAT);
    assert_string_equal(e.msg, "label 12 at index 850000 is outside 0..9");
    free(gl);
    free(lab);
    tu_rmtree(dir);
}

/* The point of idx_load_one: a 150 KB gzip file claiming 200,000 images
 * (157 MB) costs one chunk of memory, measured in a child as its growth in
 * peak resident size (under 32 MB; idx_load's block would be 157 MB). */
static void test_load_one_memory(void **state)
{
    (void)state;
    char *dir = tu_tmpdir(), ip[4200], lp[4200];
    enum { BIG = 200000 };
    snprintf(ip, sizeof ip, "%s/i.gz", dir);
    snprintf(lp, sizeof lp, "%s/l.gz", dir);
    gzFile g = gzopen(ip, "wb1");
    uint8_t h[16], *zero = calloc(IDX_PIXELS, 1000);
    memcpy(h, img_raw, 16);
    put_be32(h + 4, BIG);
    gzwrite(g, h, 16);
    for (int i = 0; i < BIG / 1000; i++)
        gzwrite(g, zero, IDX_PIXELS * 1000);
    assert_int_equal(gzclose(g), Z_OK);
    g = gzopen(lp, "wb1");
    put_be32(h, 0x801);
    gzwrite(g, h, 8);
    gzwrite(g, zero, BIG);
    assert_int_equal(gzclose(g), Z_OK);
    free(zero);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rusage r0, r1;
        getrusage(RUSAGE_SELF, &r0);
        uint8_t px[IDX_PIXELS], label;
        uint32_t n;
        fm_err e;
        int rc = idx_load_one(ip, lp, BIG - 1, px, &label, &n, &e);
        getrusage(RUSAGE_SELF, &r1);
        long grew_kb = r1.ru_maxrss - r0.ru_maxrss;
        if (rc || n != BIG || grew_kb > 32 * 1024) {
            fprintf(stderr, "rc %d (%s), n %u, peak grew by %ld KB\n", rc, rc ? e.msg : "", n,
                    grew_kb);
            _exit(1);
        }
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    tu_rmtree(dir);
}

static void test_norm_table(void **state)
{
    (void)state;
    float t[256];
    idx_norm_table(t);
    assert_true(t[0] == -1.0f);
    assert_true(t[255] == 1.0f);
    /* (128/255 - 0.5) / 0.5 in float32, as torchvision computes it. */
    float x = 128.0f / 255.0f;
    assert_true(t[128] == (x - 0.5f) / 0.5f);
    for (int i = 1; i < 256; i++)
        assert_true(t[i] > t[i - 1]);
}

/* ---- the default search: ./data, Debian's folder, torchvision's layout ---- */

#define DEBIAN_DIR "/usr/share/datasets/fashion-mnist"

static int write_text(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, s, strlen(s));
    close(fd);
    return n == (ssize_t)strlen(s) ? 0 : -1;
}

/* In this (child) process, hides Debian's folder behind an empty one in a
 * private mount namespace: as root, or in a user namespace where the
 * kernel allows one. 0 on success. */
static int hide_debian_folder(const char *empty)
{
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (unshare(CLONE_NEWNS) != 0) {
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
            return -1;
        char map[64];
        snprintf(map, sizeof map, "0 %u 1", (unsigned)uid);
        write_text("/proc/self/setgroups", "deny");
        if (write_text("/proc/self/uid_map", map) != 0)
            return -1;
        snprintf(map, sizeof map, "0 %u 1", (unsigned)gid);
        if (write_text("/proc/self/gid_map", map) != 0)
            return -1;
    }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return -1;
    return mount(empty, DEBIAN_DIR, NULL, MS_BIND, NULL);
}

static int debian_folder_has_test_set(void)
{
    char i[4096], l[4096];
    return idx_locate(DEBIAN_DIR, NULL, NULL, IDX_TEST, i, l, sizeof i, NULL) == FM_OK;
}

/* The child's checks; returns 0 (all passed), 77 (cannot hide Debian's
 * folder here) or 1, having printed why. */
static int search_child(const char *top)
{
    char home[4200], raw[4300], cwd[4200], p[4400], empty[4200];
    snprintf(home, sizeof home, "%s/home", top);
    snprintf(raw, sizeof raw, "%s/.pytorch/F_MNIST_data/FashionMNIST/raw", home);
    snprintf(cwd, sizeof cwd, "%s/cwd", top);
    snprintf(empty, sizeof empty, "%s/empty", top);
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' '%s' '%s'", raw, cwd, empty);
    if (system(cmd) != 0)
        return 1;
    snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte", raw);
    tu_write(p, img_raw, sizeof img_raw);
    snprintf(p, sizeof p, "%s/t10k-labels-idx1-ubyte.gz", raw);
    size_t gl;
    uint8_t *g = tu_gzip(lab_raw, sizeof lab_raw, &gl);
    tu_write(p, g, gl);
    free(g);
    if (debian_folder_has_test_set() && (hide_debian_folder(empty) != 0 ||
                                         debian_folder_has_test_set())) {
        printf("# cannot hide %s (needs root or user namespaces): %s\n", DEBIAN_DIR,
               strerror(errno));
        return 77;
    }
    if (chdir(cwd) != 0)
        return 1;
    char fi[4096], fl[4096], want[4400];
    fm_err e;
    /* Nothing in ./data or Debian's folder: torchvision's layout under $HOME. */
    if (idx_locate(NULL, NULL, home, IDX_TEST, fi, fl, sizeof fi, &e) != FM_OK) {
        printf("torchvision's folder not searched: %s: %s\n", e.file, e.msg);
        return 1;
    }
    snprintf(want, sizeof want, "%s/t10k-images-idx3-ubyte", raw);
    if (strcmp(fi, want) != 0) {
        printf("found %s, expected %s\n", fi, want);
        return 1;
    }
    snprintf(want, sizeof want, "%s/t10k-labels-idx1-ubyte.gz", raw);
    if (strcmp(fl, want) != 0) {
        printf("found %s, expected %s\n", fl, want);
        return 1;
    }
    /* Not found: every place, in order, is named. */
    if (idx_locate(NULL, NULL, home, IDX_TRAIN, fi, fl, sizeof fi, &e) != FM_ENOTFOUND)
        return 1;
    snprintf(want, sizeof want, "not found (with train-labels-idx1-ubyte, raw or .gz) in ./data, "
             DEBIAN_DIR ", %s", raw);
    if (strcmp(e.file, "train-images-idx3-ubyte") != 0 || strcmp(e.msg, want) != 0) {
        printf("message '%s: %s', expected '%s'\n", e.file, e.msg, want);
        return 1;
    }
    /* ./data comes first. */
    if (mkdir("data", 0755) != 0)
        return 1;
    tu_write("data/t10k-images-idx3-ubyte", img_raw, sizeof img_raw);
    tu_write("data/t10k-labels-idx1-ubyte", lab_raw, sizeof lab_raw);
    if (idx_locate(NULL, NULL, home, IDX_TEST, fi, fl, sizeof fi, &e) != FM_OK ||
        strcmp(fi, "./data/t10k-images-idx3-ubyte") != 0) {
        printf("./data not searched first: %s\n", fi);
        return 1;
    }
    /* No $HOME: no torchvision folder, and no stray entry in the message. */
    if (idx_locate(NULL, NULL, NULL, IDX_TRAIN, fi, fl, sizeof fi, &e) != FM_ENOTFOUND ||
        strcmp(e.msg, "not found (with train-labels-idx1-ubyte, raw or .gz) in ./data, "
                      DEBIAN_DIR) != 0) {
        printf("without $HOME: '%s'\n", e.msg);
        return 1;
    }
    return 0;
}

static void test_default_search(void **state)
{
    (void)state;
    char *top = tu_tmpdir();
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int rc = search_child(top);
        fflush(stdout);
        _exit(rc);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    tu_rmtree(top);
    assert_true(WIFEXITED(st));
    if (WEXITSTATUS(st) == 77)
        skip();
    assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_valid_raw_and_gzip, setup),
        cmocka_unit_test_setup(test_files_on_disk, setup),
        cmocka_unit_test_setup(test_malformed_header, setup),
        cmocka_unit_test_setup(test_malformed_labels, setup),
        cmocka_unit_test_setup(test_malformed_gzip, setup),
        cmocka_unit_test_setup(test_gzip_header_fields, setup),
        cmocka_unit_test_setup(test_concatenated_members, setup),
        cmocka_unit_test(test_members_at_read_boundary),
        cmocka_unit_test_setup(test_load_one, setup),
        cmocka_unit_test_setup(test_load_one_memory, setup),
        cmocka_unit_test(test_norm_table),
        cmocka_unit_test_setup(test_default_search, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
