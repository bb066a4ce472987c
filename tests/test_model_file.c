/* test_model_file.c: save/load round trips, and every kind of damage
 * rejected with its own error. */
#include "testutil.h"

#include <zlib.h>

#include "crc32.h"
#include "eval.h"
#include "fileio.h"
#include "model_file.h"

static const int small[] = {6, 4, 3};

static void make_net(mlp *m, const int *widths, int layers, uint64_t seed)
{
    assert_int_equal(mlp_create(m, layers, widths, NULL), FM_OK);
    rng r;
    rng_seed(&r, seed);
    mlp_init_params(m, &r);
}

static void test_round_trip(void **state)
{
    (void)state;
    mlp m, back;
    make_net(&m, mlp_fmnist_widths, 4, 1);
    assert_int_equal(m.nparams, 242762);
    char meta[256] = "";
    assert_int_equal(meta_append(meta, sizeof meta, "epochs", "%d", 5), FM_OK);
    assert_int_equal(meta_append(meta, sizeof meta, "lr", "%g", 0.003), FM_OK);
    assert_int_equal(meta_append(meta, sizeof meta, "bad\nkey", "x"), FM_EINVAL);
    assert_int_equal(meta_append(meta, sizeof meta, "a=b", "x"), FM_EINVAL);
    assert_int_equal(meta_append(meta, sizeof meta, "k", "new\nline"), FM_EINVAL);
    uint8_t *buf;
    size_t len;
    assert_int_equal(model_encode(&m, meta, NULL, 0, &buf, &len, NULL), FM_OK);
    assert_int_equal(len, 20 + 4 * 5 + 4 + strlen(meta) + 4 * 242762 + 4);
    char *meta2;
    float *mv = (float *)0x1;
    int nb = -1;
    fm_err e;
    assert_int_equal(model_decode(buf, len, "x", &back, &meta2, &mv, &nb, &e), FM_OK);
    assert_null(mv);
    assert_int_equal(nb, 0);
    assert_true(mlp_same_shape(&m, &back));
    assert_memory_equal(m.params, back.params, m.nparams * sizeof(float));
    assert_string_equal(meta, meta2);
    char v[32];
    assert_int_equal(meta_get(meta2, "lr", v, sizeof v), 1);
    assert_string_equal(v, "0.003");
    assert_int_equal(meta_get(meta2, "l", v, sizeof v), 0);
    /* Encoding again gives the same bytes. */
    uint8_t *buf2;
    size_t len2;
    assert_int_equal(model_encode(&back, meta2, NULL, 0, &buf2, &len2, NULL), FM_OK);
    assert_int_equal(len, len2);
    assert_memory_equal(buf, buf2, len);
    free(buf), free(buf2), free(meta2);
    mlp_free(&back);

    /* With three state blocks (a checkpoint). */
    float *adam = malloc(3 * m.nparams * sizeof(float));
    for (size_t i = 0; i < 3 * m.nparams; i++)
        adam[i] = (float)i * 1e-6f;
    assert_int_equal(model_encode(&m, "blocks=a,b,c\n", adam, 3, &buf, &len, NULL), FM_OK);
    assert_int_equal(len, 20 + 4 * 5 + 4 + 13 + 4 * 242762 + 4 + 3 * 4 * 242762 + 4);
    assert_int_equal(model_decode(buf, len, "x", &back, NULL, &mv, &nb, &e), FM_OK);
    assert_non_null(mv);
    assert_int_equal(nb, 3);
    assert_memory_equal(mv, adam, 3 * m.nparams * sizeof(float));
    free(mv), free(buf), free(adam);
    mlp_free(&back);
    mlp_free(&m);
}

/* Decoding must fail with code and text, leaving the outputs alone. */
static void expect_reject(const uint8_t *b, size_t len, const char *text)
{
    mlp out;
    memset(&out, 0xab, sizeof out);
    char *meta = (char *)0x1;
    fm_err e;
    int rc = model_decode(b, len, "m", &out, &meta, NULL, NULL, &e);
    if (rc != FM_EFORMAT || !strstr(e.msg, text))
        fail_msg("len %zu: expected '%s', got %d '%s'", len, text, rc, e.msg);
    assert_ptr_equal(meta, (char *)0x1);
    assert_int_equal(out.nlayers, (int)0xabababab);
}

static void fix_crc(uint8_t *b, size_t len)
{
    uint32_t c = (uint32_t)crc32(0, b, (uInt)(len - 4));
    for (int i = 0; i < 4; i++)
        b[len - 4 + i] = (uint8_t)(c >> (8 * i));
}

/* The file buf (len bytes) truncated at every length, and with any single
 * byte flipped (b: a scratch buffer of len bytes), each refused as such. */
static void expect_cut_and_flipped(const uint8_t *buf, size_t len, uint8_t *b)
{
    for (size_t n = 1; n < len; n++)
        expect_reject(buf, n, "truncated");
    for (size_t i = 0; i < len; i++) {
        memcpy(b, buf, len);
        b[i] ^= 0x10;
        expect_reject(b, len, i < 8 ? "not an fmnist model file" : "corrupt");
    }
}

static void test_damage(void **state)
{
    (void)state;
    mlp m;
    make_net(&m, small, 2, 2);
    uint8_t *buf;
    size_t len;
    assert_int_equal(model_encode(&m, "epochs=1\n", NULL, 0, &buf, &len, NULL), FM_OK);
    uint8_t *b = malloc(len);

    expect_reject(buf, 0, "empty file");
    expect_reject(buf, 1, "truncated: 1 byte, too short for a model file");
    expect_reject(buf, 23, "truncated: 23 bytes, too short for a model file");
    expect_cut_and_flipped(buf, len, b);
    /* Wrong magic; a newer format; a version 0; unknown flags; junk appended. */
    memcpy(b, buf, len);
    memcpy(b, "PK\3\4xxxx", 8);
    expect_reject(b, len, "not an fmnist model file");
    memcpy(b, buf, len);
    b[8] = 3;
    fix_crc(b, len);
    expect_reject(b, len, "written by a newer fmnist (format 3");
    b[8] = 0;
    fix_crc(b, len);
    expect_reject(b, len, "format version 0");
    memcpy(b, buf, len);
    b[12] = 4;
    fix_crc(b, len);
    expect_reject(b, len, "unknown flags");
    memcpy(b, buf, len);
    b[12] = 1; /* state blocks announced, none there */
    fix_crc(b, len);
    expect_reject(b, len, "state block count outside 1..8");
    uint8_t *longer = malloc(len + 8);
    memcpy(longer, buf, len - 4);
    memset(longer + len - 4, 0, 8);
    fix_crc(longer, len + 8);
    expect_reject(longer, len + 8, "its header implies");
    free(longer);
    /* Non-ASCII metadata. */
    memcpy(b, buf, len);
    b[20 + 12 + 4] = 0x80;
    fix_crc(b, len);
    expect_reject(b, len, "not printable ASCII");
    /* Zero-width layers. */
    memcpy(b, buf, len);
    memset(b + 24, 0, 4);
    fix_crc(b, len);
    expect_reject(b, len, "layer width 0");
    free(b), free(buf);
    mlp_free(&m);
}

/* buf (a model file of len bytes whose metadata length is at offset at)
 * with its metadata replaced by meta and its CRC fixed, as a file made by
 * hand would be: malloc'd, its length in *n. */
static uint8_t *with_meta(const uint8_t *buf, size_t len, size_t at, const char *meta, size_t *n)
{
    uint32_t old = (uint32_t)buf[at] | (uint32_t)buf[at + 1] << 8 | (uint32_t)buf[at + 2] << 16 |
                   (uint32_t)buf[at + 3] << 24;
    size_t m = strlen(meta);
    *n = len - old + m;
    uint8_t *b = malloc(*n);
    memcpy(b, buf, at);
    for (int i = 0; i < 4; i++)
        b[at + (size_t)i] = (uint8_t)(m >> (8 * i));
    memcpy(b + at + 4, meta, m);
    memcpy(b + at + 4 + m, buf + at + 4 + old, len - at - 4 - old);
    fix_crc(b, *n);
    return b;
}

/* The metadata is checked as the safetensors reader checks it (meta.h's
 * meta_check, one function for both): an epochs of 2.9 or a seed of -5,
 * which eval showed and convert wrote into a safetensors file it then
 * refused, is refused with its exact fault, and so is what safetensors
 * could not carry back unchanged (a line without '=', an empty line, a
 * key twice, no final newline) and a net that is not the network's.
 * model_encode refuses the same (FM_EINVAL), so nothing fmnist writes is
 * refused when read. */
static void test_metadata_checked(void **state)
{
    (void)state;
    mlp m, cnn;
    make_net(&m, small, 2, 2);
    static const mlp_shape sh = {.nconv = 1, .side = 4, .channels = 1, .conv_ch = {2},
                                 .conv_k = {3}, .nlayers = 1, .width = {8, 3}};
    assert_int_equal(mlp_create_shape(&cnn, &sh, NULL), FM_OK);
    uint8_t *buf, *cbuf;
    size_t len, clen;
    assert_int_equal(model_encode(&m, "", NULL, 0, &buf, &len, NULL), FM_OK);
    assert_int_equal(model_encode(&cnn, "", NULL, 0, &cbuf, &clen, NULL), FM_OK);
    static const struct {
        int conv;
        const char *meta, *msg;
    } bad[] = {
        {0, "epochs=2.9\nseed=1\n", "metadata epochs: '2.9' is not an integer"},
        {0, "epochs=2\nseed=-5\n", "metadata seed: '-5' is not a non-negative integer"},
        {0, "lr=0\n", "metadata lr: 0 is out of range (0, 1e+06]"},
        {0, "dropout=0.99\n", "metadata dropout: 0.99 is out of range [0, 0.95]"},
        {0, "schedule=linear\n", "metadata schedule: 'linear' is not const, cosine or step"},
        {0, "keep=first\n", "metadata keep: 'first' is not best or last"},
        {0, "net=gpt\n", "metadata net: 'gpt' is not mlp or cnn"},
        {0, "augment=flip=2\n", "metadata augment: flip: '2' is not a number in [0, 1]"},
        {0, "net=cnn\n", "metadata says net=cnn, but the network has no convolutions"},
        {1, "net=mlp\n", "metadata says net=mlp, but the network has convolutions"},
        {0, "a=1\nbare\n", "metadata line 2 has no '=' (key=value expected)"},
        {0, "a=1\n\nb=2\n", "metadata line 2 is empty"},
        {0, "=1\n", "metadata line 1 has no key before its '='"},
        {0, "a=1\nb=2", "metadata line 2 does not end with a newline"},
        {0, "seed=1\nb=2\nseed=1\n", "metadata has 'seed' twice"},
        {0, "a=1\tb\n", "metadata byte 3 is not printable ASCII"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        size_t n;
        uint8_t *b = with_meta(bad[i].conv ? cbuf : buf, bad[i].conv ? clen : len,
                               bad[i].conv ? 20 + 8 + 12 + 8 : 20 + 12, bad[i].meta, &n);
        mlp out;
        memset(&out, 0xab, sizeof out);
        char *meta = (char *)0x1;
        fm_err e;
        assert_int_equal(model_decode(b, n, "m", &out, &meta, NULL, NULL, &e), FM_EFORMAT);
        assert_string_equal(e.file, "m");
        assert_string_equal(e.msg, bad[i].msg);
        assert_ptr_equal(meta, (char *)0x1);
        assert_int_equal(out.nlayers, (int)0xabababab);
        uint8_t *w = NULL;
        size_t wn = 0;
        assert_int_equal(model_encode(bad[i].conv ? &cnn : &m, bad[i].meta, NULL, 0, &w, &wn, &e),
                         FM_EINVAL);
        assert_string_equal(e.msg, bad[i].msg);
        assert_null(w);
        free(b);
    }
    /* What train writes, and what it never names, still reads. */
    static const char *good[] = {"", "epochs=2\nseed=18446744073709551615\nlr=1e-310\n",
                                 "a=\nb==c\nformat=pt\nepochs_run=3\nx=1e999\n"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        size_t n;
        uint8_t *b = with_meta(buf, len, 20 + 12, good[i], &n);
        mlp out;
        char *meta;
        assert_int_equal(model_decode(b, n, "m", &out, &meta, NULL, NULL, NULL), FM_OK);
        assert_string_equal(meta, good[i]);
        free(meta), free(b);
        mlp_free(&out);
    }
    free(buf), free(cbuf);
    mlp_free(&m), mlp_free(&cnn);
}

/* A checkpoint's state (Adam's moments) holding a NaN or an infinity is
 * refused by its index among the K * P state values, as parameters are. */
static void test_state_not_finite(void **state)
{
    (void)state;
    mlp m;
    make_net(&m, small, 2, 4);
    size_t P = m.nparams;
    float *blocks = calloc(2 * P, sizeof *blocks);
    assert_non_null(blocks);
    for (size_t i = 0; i < 2 * P; i++)
        blocks[i] = (float)i / 8;
    uint8_t *buf;
    size_t len;
    assert_int_equal(model_encode(&m, "epochs=1\n", blocks, 2, &buf, &len, NULL), FM_OK);
    size_t values = len - 4 - 2 * P * 4; /* the state's first value */
    uint8_t *b = malloc(len);
    static const uint32_t bad[] = {0x7fc00000u, 0x7f800000u, 0xff800000u};
    const size_t at[] = {5, P + 3, 2 * P - 1};
    for (int i = 0; i < 3; i++) {
        memcpy(b, buf, len);
        for (int k = 0; k < 4; k++)
            b[values + 4 * at[i] + (size_t)k] = (uint8_t)(bad[i] >> (8 * k));
        fix_crc(b, len);
        char want[64];
        snprintf(want, sizeof want, "corrupt: state value %zu is not finite", at[i]);
        expect_reject(b, len, want);
    }
    free(b), free(buf), free(blocks);
    mlp_free(&m);
}

/* A network with convolutions: format 2, its shape and parameters back,
 * the same bytes again; a network without one stays format 1. Its damage
 * is diagnosed as format 1's, and each field of its convolutions checked. */
static void test_convolutions(void **state)
{
    (void)state;
    static const mlp_shape sh = {.nconv = 2, .side = 8, .channels = 1, .conv_ch = {3, 4},
                                 .conv_k = {3, 5}, .nlayers = 2, .width = {16, 6, 5}};
    mlp m, back;
    assert_int_equal(mlp_create_shape(&m, &sh, NULL), FM_OK);
    assert_int_equal(m.nparams, 3 * 9 + 3 + 4 * 3 * 25 + 4 + 16 * 6 + 6 + 6 * 5 + 5);
    rng r;
    rng_seed(&r, 5);
    mlp_init_params(&m, &r);
    uint8_t *buf, *buf2;
    size_t len, len2;
    assert_int_equal(model_encode(&m, "epochs=1\n", NULL, 0, &buf, &len, NULL), FM_OK);
    assert_int_equal(len, 20 + 4 * 3 + 12 + 8 * 2 + 4 + 9 + 4 * m.nparams + 4);
    assert_int_equal(buf[8], 2);
    assert_int_equal(model_decode(buf, len, "x", &back, NULL, NULL, NULL, NULL), FM_OK);
    assert_true(mlp_has_shape(&back, &sh));
    assert_true(mlp_same_shape(&back, &m));
    assert_memory_equal(m.params, back.params, m.nparams * sizeof(float));
    assert_int_equal(model_encode(&back, "epochs=1\n", NULL, 0, &buf2, &len2, NULL), FM_OK);
    assert_int_equal(len, len2);
    assert_memory_equal(buf, buf2, len);
    free(buf2);
    char text[128];
    mlp_shape_text(&back, text, sizeof text);
    assert_string_equal(text, "8x8-conv3x3-conv5x4-16-6-5");
    mlp_free(&back);

    uint8_t *b = malloc(len);
    expect_cut_and_flipped(buf, len, b);
    /* Each field of the convolutions (after the 3 widths, at 32). */
    struct { size_t at; uint32_t v; const char *why; } bad[] = {
        {32, 0, "0 convolutional layers: 1..4"}, {32, 5, "5 convolutional layers"},
        {36, 0, "side 0"}, {36, 7, "side 7 is odd"}, {40, 0, "0 channels"},
        {44, 0, "convolution 1: 0 channels"}, {48, 4, "4x4 kernel"}, {48, 11, "11x11 kernel"},
        {52, 5, "the convolutions give 20 values"}, {20, 17, "the first linear layer takes 17"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        memcpy(b, buf, len);
        for (int k = 0; k < 4; k++)
            b[bad[i].at + (size_t)k] = (uint8_t)(bad[i].v >> (8 * k));
        fix_crc(b, len);
        expect_reject(b, len, bad[i].why);
    }
    free(b), free(buf);
    mlp_free(&m);
}

/* Counts of one in the layout's messages: "1 channel", "1 value", and
 * eval's "1 output" (they said "1 channels", "1 outputs"). */
static void test_messages_count_one(void **state)
{
    (void)state;
    static const struct {
        mlp_shape s;
        const char *msg;
    } bad[] = {
        {{.nconv = 1, .side = 0, .channels = 1, .conv_ch = {2}, .conv_k = {3}, .nlayers = 1,
          .width = {8, 3}}, "input of 1 channel of side 0: 1..1024 and 1..1024 supported"},
        {{.nconv = 1, .side = 4, .channels = 1, .conv_ch = {1}, .conv_k = {4}, .nlayers = 1,
          .width = {4, 3}}, "convolution 1: 1 channel of a 4x4 kernel: 1..1024 channels, odd "
                            "kernels up to 9 supported"},
        {{.nconv = 1, .side = 2, .channels = 1, .conv_ch = {1}, .conv_k = {3}, .nlayers = 1,
          .width = {5, 3}}, "the convolutions give 1 value (1 channel of 1x1), the first linear "
                            "layer takes 5"},
        {{.nconv = 1, .side = 4, .channels = 1, .conv_ch = {2}, .conv_k = {3}, .nlayers = 1,
          .width = {5, 3}}, "the convolutions give 8 values (2 channels of 2x2), the first "
                            "linear layer takes 5"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        mlp t;
        fm_err e;
        assert_int_equal(mlp_layout_shape(&t, &bad[i].s, &e), FM_EINVAL);
        assert_string_equal(e.msg, bad[i].msg);
    }
    static const int one_out[] = {784, 1};
    mlp m;
    assert_int_equal(mlp_create(&m, 1, one_out, NULL), FM_OK);
    idx_set none = {0, NULL, NULL};
    eval_result r;
    fm_err e;
    assert_int_equal(eval_run(&m, &none, NULL, NULL, NULL, &r, NULL, &e), FM_EINVAL);
    assert_string_equal(e.msg, "the network has 784 inputs and 1 output, not 784 and 10");
    mlp_free(&m);
}

static void test_other_architecture_loads_as_itself(void **state)
{
    (void)state;
    /* The file is self-describing; callers compare shapes (the CLI refuses
     * anything but 784-256-128-64-10). */
    mlp m, back, want;
    make_net(&m, small, 2, 3);
    uint8_t *buf;
    size_t len;
    assert_int_equal(model_encode(&m, NULL, NULL, 0, &buf, &len, NULL), FM_OK);
    assert_int_equal(model_decode(buf, len, "m", &back, NULL, NULL, NULL, NULL), FM_OK);
    make_net(&want, mlp_fmnist_widths, 4, 1);
    assert_false(mlp_same_shape(&back, &want));
    assert_int_equal(back.width[1], 4);
    free(buf);
    mlp_free(&m), mlp_free(&back), mlp_free(&want);
}

static void test_save_atomically(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char path[4200], tmp[4300];
    snprintf(path, sizeof path, "%s/a.model", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    mlp m, back;
    make_net(&m, small, 2, 4);
    fm_err e;
    assert_int_equal(model_save(path, &m, "x=1\n", NULL, 0, &e), FM_OK);
    /* Each save has its own temporary (mkstemp): a file named like the
     * old fixed one is another process's, never touched; none is left. */
    tu_write(tmp, "junk", 4);
    m.params[0] += 1;
    assert_int_equal(model_save(path, &m, "x=2\n", NULL, 0, &e), FM_OK);
    struct stat st;
    assert_int_equal(stat(tmp, &st), 0);
    assert_int_equal(st.st_size, 4);
    assert_int_equal(tu_temporaries(dir), 0);
    char *meta;
    assert_int_equal(model_load(path, &back, &meta, NULL, NULL, &e), FM_OK);
    assert_string_equal(meta, "x=2\n");
    assert_true(back.params[0] == m.params[0]);
    free(meta);
    mlp_free(&back);
    /* Failures leave the previous file: a directory in the way, a missing folder. */
    char sub[4300];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    mkdir(sub, 0755);
    assert_int_equal(model_save(sub, &m, NULL, NULL, 0, &e), FM_EIO);
    assert_non_null(strstr(e.msg, "is a directory"));
    assert_int_equal(model_save("/dev/null", &m, NULL, NULL, 0, &e), FM_EIO);
    assert_non_null(strstr(e.msg, "is a device, not a regular file: not replacing it"));
    /* Through a symlink: the target is replaced, the link stays. */
    char link[4300];
    snprintf(link, sizeof link, "%s/link.model", dir);
    assert_int_equal(symlink(path, link), 0);
    assert_int_equal(model_save(link, &m, "x=3\n", NULL, 0, &e), FM_OK);
    struct stat ls;
    assert_int_equal(lstat(link, &ls), 0);
    assert_true(S_ISLNK(ls.st_mode));
    assert_int_equal(model_load(path, &back, &meta, NULL, NULL, &e), FM_OK);
    assert_string_equal(meta, "x=3\n");
    free(meta);
    mlp_free(&back);
    snprintf(sub, sizeof sub, "%s/no/such/dir/m.model", dir);
    assert_int_equal(model_save(sub, &m, NULL, NULL, 0, &e), FM_EIO);
    assert_string_equal(e.file, sub);
    /* Loading: missing file, empty file, a directory. */
    snprintf(sub, sizeof sub, "%s/missing.model", dir);
    assert_int_equal(model_load(sub, &back, NULL, NULL, NULL, &e), FM_ENOTFOUND);
    snprintf(sub, sizeof sub, "%s/empty.model", dir);
    tu_write(sub, "", 0);
    assert_int_equal(model_load(sub, &back, NULL, NULL, NULL, &e), FM_EFORMAT);
    assert_non_null(strstr(e.msg, "empty file"));
    assert_int_equal(model_load(dir, &back, NULL, NULL, NULL, &e), FM_EIO);
    assert_non_null(strstr(e.msg, "is a directory"));
    mlp_free(&m);
    tu_rmtree(dir);
}

/* fm_crc32 is zlib's crc32: every length to 300 at every alignment to 16,
 * then random lengths to 1 MB, each also continued from a running CRC. */
static void test_crc32_is_zlibs(void **state)
{
    (void)state;
    size_t cap = (1u << 20) + 64;
    uint8_t *b = malloc(cap);
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < cap; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        b[i] = (uint8_t)(x >> 24);
    }
    for (size_t at = 0; at < 16; at++)
        for (size_t n = 0; n <= 300; n++) {
            uint32_t want = (uint32_t)crc32(0, b + at, (uInt)n);
            if (fm_crc32(0, b + at, n) != want)
                fail_msg("crc32 of %zu bytes at +%zu: %08x, want %08x", n, at,
                         fm_crc32(0, b + at, n), want);
            uint32_t mid = fm_crc32(0, b + at, n / 3);
            assert_int_equal(fm_crc32(mid, b + at + n / 3, n - n / 3), want);
        }
    for (int r = 0; r < 40; r++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t at = x % 64, n = (size_t)(x >> 20) % (1u << 20);
        assert_int_equal(fm_crc32(0x12345678, b + at, n),
                         (uint32_t)crc32(0x12345678, b + at, (uInt)n));
    }
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32_is_zlibs),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_damage),
        cmocka_unit_test(test_metadata_checked),
        cmocka_unit_test(test_messages_count_one),
        cmocka_unit_test(test_state_not_finite),
        cmocka_unit_test(test_other_architecture_loads_as_itself),
        cmocka_unit_test(test_convolutions),
        cmocka_unit_test(test_save_atomically),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
