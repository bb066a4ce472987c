/* test_inflate.c: inflate_raw against zlib: round trips of zlib's own
 * streams (every level and strategy, data of every kind, input in chunks
 * of every size), exact lengths, truncations, read errors, the bytes read
 * ahead, damaged streams (whatever inflate_raw accepts, zlib decodes to the
 * same bytes), and hand-made blocks for zlib's rules on code sets. */
#include "testutil.h"

#include <zlib.h>

#include "inflate.h"

/* The input, handed over in chunks of `chunk` bytes (0: sizes 1..5000 at
 * random), failing after fail_at bytes when set. */
typedef struct feed {
    const uint8_t *src;
    size_t len, pos, fail_at;
    unsigned seed;
    int chunk;
} feed;

static unsigned rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

static int more(inflate_in *in)
{
    feed *f = in->ctx;
    if (f->fail_at && f->pos >= f->fail_at)
        return -1;
    if (f->pos >= f->len)
        return 0;
    size_t k = f->chunk ? (size_t)f->chunk : 1 + rnd(&f->seed) % 5000;
    if (k > f->len - f->pos)
        k = f->len - f->pos;
    in->p = f->src + f->pos;
    in->n = k;
    f->pos += k;
    return 1;
}

/* inflate_raw on c[0..n) into out (len bytes); *used: the stream's bytes
 * (those taken, less the read-ahead given back and the chunk's rest). */
static int ours(const uint8_t *c, size_t n, uint8_t *out, size_t len, int chunk, size_t *used)
{
    feed f = {c, n, 0, 0, 7, chunk};
    inflate_in in = {NULL, 0, more, &f};
    uint8_t back[8];
    int nb = -1;
    int r = inflate_raw(&in, out, len, back, &nb);
    if (r == INFLATE_OK) {
        assert_true(nb >= 0 && nb <= 8);
        assert_memory_equal(back, f.src + f.pos - in.n - (size_t)nb, (size_t)nb);
    }
    if (used)
        *used = f.pos - in.n - (size_t)(nb > 0 ? nb : 0);
    return r;
}

/* zlib's verdict on the same: 1 when the stream decodes to exactly len
 * bytes and ends there; *used its bytes. */
static int zlib_ok(const uint8_t *c, size_t n, uint8_t *out, size_t len, size_t *used)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(inflateInit2(&z, -15), Z_OK);
    uint8_t spare;
    z.next_in = (Bytef *)(uintptr_t)c;
    z.avail_in = (uInt)n;
    z.next_out = len ? out : &spare;
    z.avail_out = len ? (uInt)len : 1;
    int r = inflate(&z, Z_FINISH), ok = r == Z_STREAM_END && z.total_out == len;
    if (len && r == Z_BUF_ERROR && z.avail_out == 0) {
        z.next_out = &spare;
        z.avail_out = 1;
        ok = inflate(&z, Z_FINISH) == Z_STREAM_END && z.avail_out == 1;
    }
    if (used)
        *used = z.total_in;
    inflateEnd(&z);
    return ok;
}

static size_t deflate_raw(const uint8_t *in, size_t n, uint8_t *out, size_t cap, int level,
                          int strategy, int memlevel)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, level, Z_DEFLATED, -15, memlevel, strategy), Z_OK);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t got = z.total_out;
    deflateEnd(&z);
    return got;
}

/* Data of kind k: zeros, noise, text, image-like bytes, slow ramps. */
static void make_data(uint8_t *b, size_t n, int k, unsigned *seed)
{
    for (size_t i = 0; i < n; i++)
        switch (k) {
        case 0: b[i] = 0; break;
        case 1: b[i] = (uint8_t)rnd(seed); break;
        case 2: b[i] = (uint8_t)"the quick  brown fox\n"[rnd(seed) % 21]; break;
        case 3: b[i] = i % 784 < 300 ? 0 : (uint8_t)(rnd(seed) % 64 * 4); break;
        default: b[i] = (uint8_t)(i / 7 + rnd(seed) % 2); break;
        }
}

static const int strategies[] = {Z_DEFAULT_STRATEGY, Z_FILTERED, Z_HUFFMAN_ONLY, Z_RLE, Z_FIXED};

/* Every level and strategy, sizes from 0 to 300,000, chunks of 1, 13 and
 * at random: the bytes, and where the stream ends. */
static void test_round_trips(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 2, 257, 4096, 65543, 300000};
    size_t cap = 2 * 300000 + 1024;
    uint8_t *src = malloc(300000), *c = malloc(cap), *out = malloc(300000 + 1);
    unsigned seed = 1;
    int runs = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++)
        for (int k = 0; k < 5; k++)
            for (int level = 0; level <= 9; level++) {
                size_t n = sizes[si];
                make_data(src, n, k, &seed);
                int strategy = strategies[(level + k + (int)si) % 5];
                size_t cn = deflate_raw(src, n, c, cap, level, strategy, 1 + (level + k) % 9);
                int chunk = (int[]){0, 1, 13}[(level + (int)si) % 3];
                if (chunk == 1 && n > 70000)
                    chunk = 0;
                size_t used;
                assert_int_equal(ours(c, cn, out, n, chunk, &used), INFLATE_OK);
                assert_memory_equal(out, src, n);
                assert_int_equal(used, cn);
                runs++;
            }
    assert_int_equal(runs, 7 * 5 * 10);
    free(src), free(c), free(out);
}

/* One byte more or less than the stream holds, every truncation, a read
 * error, and what follows the stream (given back, then left in the input). */
static void test_exact_ends(void **state)
{
    (void)state;
    uint8_t src[3000], c[4000], out[3001];
    unsigned seed = 5;
    make_data(src, sizeof src, 2, &seed);
    size_t cn = deflate_raw(src, sizeof src, c, sizeof c - 16, 6, Z_DEFAULT_STRATEGY, 8);
    assert_int_equal(ours(c, cn, out, sizeof src - 1, 13, NULL), INFLATE_EDATA);
    assert_int_equal(ours(c, cn, out, sizeof src + 1, 13, NULL), INFLATE_EDATA);
    for (size_t cut = 0; cut < cn; cut++)
        assert_int_equal(ours(c, cut, out, sizeof src, (int)(cut % 3), NULL), INFLATE_EDATA);
    feed f = {c, cn, 0, cn / 2, 1, 64};
    inflate_in in = {NULL, 0, more, &f};
    uint8_t back[8];
    int nb;
    assert_int_equal(inflate_raw(&in, out, sizeof src, back, &nb), INFLATE_EREAD);
    /* A trailer after the stream: given back whole, in order. */
    for (int i = 0; i < 16; i++)
        c[cn + (size_t)i] = (uint8_t)(0xa0 + i);
    for (int chunk = 0; chunk < 20; chunk++) {
        size_t used;
        assert_int_equal(ours(c, cn + 16, out, sizeof src, chunk, &used), INFLATE_OK);
        assert_int_equal(used, cn);
    }
}

/* Damaged streams: whatever inflate_raw accepts, zlib decodes to the same
 * bytes, ending at the same byte. */
static void test_damaged(void **state)
{
    (void)state;
    size_t cap = 70000;
    uint8_t *src = malloc(cap), *c = malloc(2 * cap), *o1 = malloc(cap), *o2 = malloc(cap);
    unsigned seed = 9;
    long accepted = 0, refused = 0;
    for (int it = 0; it < 400; it++) {
        size_t n = it % 4 ? rnd(&seed) % 3000 : rnd(&seed) % cap;
        make_data(src, n, it % 5, &seed);
        size_t cn = deflate_raw(src, n, c, 2 * cap, (int)(rnd(&seed) % 10),
                                strategies[rnd(&seed) % 5], 8);
        for (int m = 0; m < 8 && cn; m++) {
            size_t at = rnd(&seed) % cn;
            uint8_t was = c[at];
            c[at] = m % 2 ? (uint8_t)rnd(&seed) : (uint8_t)(was ^ (1u << (rnd(&seed) % 8)));
            size_t u1, u2;
            int a = ours(c, cn, o1, n, 0, &u1) == INFLATE_OK, z = zlib_ok(c, cn, o2, n, &u2);
            if (a) {
                assert_true(z);
                assert_memory_equal(o1, o2, n);
                assert_int_equal(u1, u2);
            }
            accepted += a;
            refused += !a;
            c[at] = was;
        }
    }
    assert_true(accepted > 0 && refused > 0);
    free(src), free(c), free(o1), free(o2);
}

/* ---- hand-made blocks ---- */

typedef struct bits {
    uint8_t b[1024];
    size_t n; /* bits written */
} bits;

/* v's n low bits, least significant first (header fields, extra bits). */
static void put(bits *w, unsigned v, int n)
{
    assert_true(w->n + (size_t)n <= 8 * sizeof w->b);
    for (int i = 0; i < n; i++, w->n++)
        if (v >> i & 1)
            w->b[w->n / 8] |= (uint8_t)(1u << (w->n % 8));
}

/* A Huffman code, most significant bit first. */
static void put_code(bits *w, unsigned code, int len)
{
    for (int i = len - 1; i >= 0; i--)
        put(w, code >> i & 1, 1);
}

/* Both decoders' verdicts on w, expected to be ok (with the bytes want);
 * ours writes into exactly strlen(want) bytes, for the sanitizers. */
static void both(const bits *w, const char *want, int ok)
{
    size_t n = (w->n + 7) / 8, len = strlen(want);
    uint8_t *o1 = malloc(len ? len : 1), o2[64];
    assert_int_equal(ours(w->b, n, o1, len, 1, NULL) == INFLATE_OK, ok);
    assert_int_equal(zlib_ok(w->b, n, o2, len, NULL), ok);
    if (ok)
        assert_memory_equal(o1, want, len);
    free(o1);
}

/* A dynamic block's header: litlen lengths 'a' 1, end 2, length 3 (code
 * 257) 2; dist_lens[0..ndist) the distance codes' lengths, 1 or 2;
 * code lengths coded with 18 (1 bit), 1 and 2 (2 bits each); then zeros
 * (0, or 11 and more) unused distance codes. */
static void dynamic_header_zeros(bits *w, const int *dist_lens, int ndist, int zeros)
{
    put(w, 1, 1); /* final */
    put(w, 2, 2); /* dynamic */
    put(w, 1, 5); /* 258 litlen codes: 0..257 */
    put(w, (unsigned)(ndist + zeros) - 1, 5);
    put(w, 14, 4); /* 18 code-length code lengths, in their order: */
    static const int cl[18] = {0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2};
    for (int i = 0; i < 18; i++)
        put(w, (unsigned)cl[i], 3);
    /* codes: 18 -> 0, 1 -> 10, 2 -> 11 */
    put_code(w, 0, 1), put(w, 97 - 11, 7);       /* 0..96 unused */
    put_code(w, 2, 2);                           /* 'a': 1 */
    put_code(w, 0, 1), put(w, 138 - 11, 7);      /* 98..235 */
    put_code(w, 0, 1), put(w, 20 - 11, 7);       /* 236..255 */
    put_code(w, 3, 2), put_code(w, 3, 2);        /* end, 257: 2 */
    for (int i = 0; i < ndist; i++)
        put_code(w, dist_lens[i] == 1 ? 2 : 3, 2); /* only lengths 1 and 2 here */
    if (zeros)
        put_code(w, 0, 1), put(w, (unsigned)zeros - 11, 7);
}

static void dynamic_header(bits *w, const int *dist_lens, int ndist)
{
    dynamic_header_zeros(w, dist_lens, ndist, 0);
}

static void test_code_sets(void **state)
{
    (void)state;
    /* A single distance code of one bit: incomplete, allowed. "a", then
     * length 3 at distance 1, then the end: "aaaa". */
    bits w = {{0}, 0};
    dynamic_header(&w, (int[]){1}, 1);
    put_code(&w, 0, 1), put_code(&w, 3, 2), put_code(&w, 0, 1), put_code(&w, 2, 2);
    both(&w, "aaaa", 1);
    /* Its unused code, 1: no such distance. */
    w = (bits){{0}, 0};
    dynamic_header(&w, (int[]){1}, 1);
    put_code(&w, 0, 1), put_code(&w, 3, 2), put_code(&w, 1, 1), put_code(&w, 2, 2);
    both(&w, "aaaa", 0);
    /* Two distance codes of 2 bits: incomplete, refused. */
    w = (bits){{0}, 0};
    dynamic_header(&w, (int[]){2, 2}, 2);
    put_code(&w, 0, 1), put_code(&w, 3, 2), put_code(&w, 0, 2), put_code(&w, 2, 2);
    both(&w, "aaaa", 0);
    /* 30 distance codes (29 unused) are the most zlib takes; 31 are refused. */
    for (int zeros = 29; zeros <= 30; zeros++) {
        w = (bits){{0}, 0};
        dynamic_header_zeros(&w, (int[]){1}, 1, zeros);
        put_code(&w, 0, 1), put_code(&w, 3, 2), put_code(&w, 0, 1), put_code(&w, 2, 2);
        both(&w, "aaaa", zeros == 29);
    }
    /* Three distance codes of 1 bit: over-subscribed, refused. */
    w = (bits){{0}, 0};
    dynamic_header(&w, (int[]){1, 1, 1}, 3);
    put_code(&w, 0, 1), put_code(&w, 3, 2), put_code(&w, 0, 1), put_code(&w, 2, 2);
    both(&w, "aaaa", 0);
    /* The same at distance 1 from the start: nothing to copy. */
    w = (bits){{0}, 0};
    dynamic_header(&w, (int[]){1}, 1);
    put_code(&w, 3, 2), put_code(&w, 0, 1), put_code(&w, 2, 2);
    both(&w, "aaa", 0);
    /* Stored: "abc", then its length's complement wrong. */
    for (int good = 1; good >= 0; good--) {
        w = (bits){{0}, 0};
        put(&w, 1, 1), put(&w, 0, 2), put(&w, 0, 5);
        put(&w, 3, 16), put(&w, good ? 0xfffc : 0xfffd, 16);
        put(&w, 'a', 8), put(&w, 'b', 8), put(&w, 'c', 8);
        both(&w, "abc", good);
        both(&w, "ab", 0); /* more than asked for */
    }
    /* Block type 3. */
    w = (bits){{0}, 0};
    put(&w, 1, 1), put(&w, 3, 2), put(&w, 0, 16);
    both(&w, "", 0);
    /* Fixed codes: 'a' (00110000 + 0x61 - 0x00 -> 0x30 + 97), then the
     * litlen code 286 (11000110), which does not exist. */
    for (int bad = 0; bad <= 1; bad++) {
        w = (bits){{0}, 0};
        put(&w, 1, 1), put(&w, 1, 2);
        put_code(&w, 0x30 + 'a', 8);
        if (bad)
            put_code(&w, 0xc0 + 286 - 280, 8);
        put_code(&w, 0, 7); /* end */
        both(&w, "a", !bad);
    }
    /* Fixed distance code 30 (5 bits, 11110), which does not exist either:
     * 'a', length 3 (code 257: 0000001), distance 30. */
    w = (bits){{0}, 0};
    put(&w, 1, 1), put(&w, 1, 2);
    put_code(&w, 0x30 + 'a', 8), put_code(&w, 1, 7), put_code(&w, 30, 5), put_code(&w, 0, 7);
    both(&w, "aaaa", 0);
}

/* A match before the output's start in the fast loop's reach (input and
 * room to spare): fixed codes, length 3 at distance 1 first, then 400
 * literals. */
static void test_distance_before_start_fast(void **state)
{
    (void)state;
    static bits w;
    uint8_t out[403];
    put(&w, 1, 1), put(&w, 1, 2);       /* final, fixed */
    put_code(&w, 1, 7), put_code(&w, 0, 5); /* length 3, distance 1 */
    for (int i = 0; i < 400; i++)
        put_code(&w, 0x30 + 'a', 8);
    put_code(&w, 0, 7);
    size_t n = (w.n + 7) / 8;
    assert_true(n > 400);
    assert_int_equal(ours(w.b, n, out, sizeof out, 0, NULL), INFLATE_EDATA);
    assert_false(zlib_ok(w.b, n, out, sizeof out, NULL));
}

/* Blocks of every kind in one stream (compressed, then stored, then
 * compressed again, by changing the level midway), so that a stored block
 * follows what the fast loop left in the bit buffer. */
static void test_mixed_blocks(void **state)
{
    (void)state;
    size_t n = 200000, cap = 2 * n + 4096;
    uint8_t *src = malloc(n), *c = malloc(cap), *out = malloc(n);
    unsigned seed = 11;
    for (int run = 0; run < 12; run++) {
        make_data(src, n, run % 5, &seed);
        z_stream z;
        memset(&z, 0, sizeof z);
        assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
        z.next_out = c;
        z.avail_out = (uInt)cap;
        size_t third = n / 3 + (size_t)run * 977;
        for (int part = 0; part < 3; part++) {
            if (part == 1) /* before the part's input: it would compress it */
                assert_int_equal(deflateParams(&z, 0, Z_DEFAULT_STRATEGY), Z_OK);
            if (part == 2)
                assert_int_equal(deflateParams(&z, 9, Z_DEFAULT_STRATEGY), Z_OK);
            z.next_in = src + (size_t)part * third;
            z.avail_in = (uInt)(part < 2 ? third : n - 2 * third);
            assert_int_equal(deflate(&z, part < 2 ? (run % 2 ? Z_SYNC_FLUSH : Z_NO_FLUSH)
                                                  : Z_FINISH),
                             part < 2 ? Z_OK : Z_STREAM_END);
        }
        size_t cn = z.total_out, used;
        deflateEnd(&z);
        assert_int_equal(ours(c, cn, out, n, run % 3 == 2 ? 0 : 4096, &used), INFLATE_OK);
        assert_memory_equal(out, src, n);
        assert_int_equal(used, cn);
    }
    free(src), free(c), free(out);
}

/* Code-length codes 1, 2, 16 and 18, two bits each, for 258 length and 1
 * distance codes. */
static void header_with_16(bits *w)
{
    put(w, 1, 1), put(w, 2, 2), put(w, 1, 5), put(w, 0, 5), put(w, 14, 4);
    static const int cl[18] = {2, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2};
    for (int i = 0; i < 18; i++)
        put(w, (unsigned)cl[i], 3);
    /* codes: 1 -> 00, 2 -> 01, 16 -> 10, 18 -> 11 */
}

/* Code lengths zlib refuses: a repeat (16) with nothing before it, zeros
 * past the last code. */
static void test_code_length_repeats(void **state)
{
    (void)state;
    bits w = {{0}, 0};
    header_with_16(&w);
    put_code(&w, 2, 2), put(&w, 0, 2);
    both(&w, "a", 0);
    w = (bits){{0}, 0};
    header_with_16(&w);
    put_code(&w, 3, 2), put(&w, 127, 7), put_code(&w, 3, 2), put(&w, 127, 7);
    both(&w, "a", 0);
}

/* Blocks that produce nothing: fixed ones cost nothing (their tables are
 * built once), so 800 of them decode; dynamic ones each build tables,
 * and a block after 17 such with no output is left to zlib (INFLATE_ETINY). */
static void test_empty_blocks(void **state)
{
    (void)state;
    static bits w;
    for (int i = 0; i < 800; i++) /* 10 bits each */
        put(&w, i == 799, 1), put(&w, 1, 2), put_code(&w, 0, 7);
    uint8_t out[1];
    assert_int_equal(ours(w.b, (w.n + 7) / 8, out, 0, 0, NULL), INFLATE_OK);
    assert_true(zlib_ok(w.b, (w.n + 7) / 8, out, 0, NULL));
    for (int blocks = 17; blocks <= 18; blocks++) {
        w = (bits){{0}, 0};
        for (int i = 0; i < blocks; i++) {
            size_t at = w.n;
            dynamic_header(&w, (int[]){1}, 1);
            if (i < blocks - 1) /* not the last: clear its final bit */
                w.b[at / 8] &= (uint8_t)~(1u << (at % 8));
            put_code(&w, 2, 2); /* end */
        }
        size_t n = (w.n + 7) / 8;
        assert_int_equal(ours(w.b, n, out, 0, 0, NULL), blocks == 17 ? INFLATE_OK : INFLATE_ETINY);
        assert_true(zlib_ok(w.b, n, out, 0, NULL));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_code_sets),
        cmocka_unit_test(test_code_length_repeats),
        cmocka_unit_test(test_empty_blocks),
        cmocka_unit_test(test_distance_before_start_fast),
        cmocka_unit_test(test_exact_ends),
        cmocka_unit_test(test_mixed_blocks),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_damaged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
