/* test_inflate.c: inflate_raw against zlib: round trips of zlib's own
 * streams (every level and strategy, data of every kind, input in chunks
 * of every size), exact lengths, truncations, read errors, the bytes read
 * ahead, damaged streams (whatever inflate_raw accepts, zlib decodes to the
 * same bytes), hand-made blocks for zlib's rules on code sets and their
 * counts, for the longest codes, and matches ending at or near the output's
 * end: nothing written past it, nor read past a chunk of input. */
#include "testutil.h"

#include <zlib.h>

#include "inflate.h"

/* The input, handed over in chunks of `chunk` bytes (0: sizes 1..5000 at
 * random), failing after fail_at bytes when set. When `copied`, each chunk
 * is a copy of its own with garbage after it (as a file's last read leaves
 * stale bytes after the new ones), freed at the next. */
typedef struct feed {
    const uint8_t *src;
    size_t len, pos, fail_at;
    unsigned seed;
    int chunk, copied;
    uint8_t *copy;
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
    if (f->copied) {
#ifdef TU_UNDER_ASAN
        size_t garbage = 0; /* ASan sees any read past the chunk */
#else
        size_t garbage = 16;
#endif
        free(f->copy);
        f->copy = malloc(k + garbage);
        assert_non_null(f->copy);
        memcpy(f->copy, in->p, k);
        memset(f->copy + k, 0xff, garbage);
        in->p = f->copy;
    }
    in->n = k;
    f->pos += k;
    return 1;
}

/* inflate_raw on f's input into out (len bytes); *used: the stream's bytes
 * (those taken, less the read-ahead given back and the chunk's rest). */
static int ours_fed(feed *f, uint8_t *out, size_t len, size_t *used)
{
    inflate_in in = {NULL, 0, more, f};
    uint8_t back[8];
    int nb = -1;
    int r = inflate_raw(&in, out, len, back, &nb);
    if (r == INFLATE_OK) {
        assert_true(nb >= 0 && nb <= 8);
        assert_memory_equal(back, f->src + f->pos - in.n - (size_t)nb, (size_t)nb);
    }
    if (used)
        *used = f->pos - in.n - (size_t)(nb > 0 ? nb : 0);
    free(f->copy);
    f->copy = NULL;
    return r;
}

/* The same on c[0..n). */
static int ours(const uint8_t *c, size_t n, uint8_t *out, size_t len, int chunk, size_t *used)
{
    feed f = {c, n, 0, 0, 7, chunk, 0, NULL};
    return ours_fed(&f, out, len, used);
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
    feed f = {c, cn, 0, cn / 2, 1, 64, 0, NULL};
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

/* ---- hand-made streams of any length, with the bytes they stand for ---- */

/* RFC 1951's length and distance codes: bases and extra bits. */
static const uint16_t lbase[29] = {3,  4,  5,  6,  7,  8,  9,  10,  11,  13,  15,  17,  19,  23, 27,
                                   31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t lextra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                   2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t dbase[30] = {1,    2,    3,    4,    5,    7,     9,     13,    17,  25,
                                   33,   49,   65,   97,   129,  193,   257,   385,   513, 769,
                                   1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const uint8_t dextra[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                   6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

/* A block's codes: the lengths of its 288 literal/length symbols, then of
 * its 32 distance symbols (at 288 + d), and their canonical codes. */
typedef struct codes {
    uint8_t len[288 + 32];
    uint16_t code[288 + 32];
} codes;

/* The canonical codes of the lengths (RFC 1951, 3.2.2); returns the Kraft
 * sums of both parts in units of 2^-15 (32768 each: complete sets). */
static unsigned canonical(codes *c, unsigned *dist_kraft)
{
    unsigned kraft[2] = {0, 0};
    for (int part = 0; part < 2; part++) {
        int from = part ? 288 : 0, n = part ? 32 : 288;
        unsigned count[16] = {0}, next[16] = {0}, code = 0;
        for (int s = from; s < from + n; s++) {
            assert_true(c->len[s] <= 15);
            count[c->len[s]]++;
            kraft[part] += c->len[s] ? 1u << (15 - c->len[s]) : 0;
        }
        count[0] = 0;
        for (int b = 1; b < 16; b++)
            next[b] = code = (code + count[b - 1]) << 1;
        for (int s = from; s < from + n; s++)
            if (c->len[s])
                c->code[s] = (uint16_t)next[c->len[s]]++;
    }
    if (dist_kraft)
        *dist_kraft = kraft[1];
    return kraft[0];
}

static void fixed_codes(codes *c)
{
    for (int s = 0; s < 288; s++)
        c->len[s] = s < 144 ? 8 : s < 256 ? 9 : s < 280 ? 7 : 8;
    for (int d = 0; d < 32; d++)
        c->len[288 + d] = 5;
    canonical(c, NULL);
}

/* A stream being written (its bits least significant first) and the bytes
 * it decodes to. */
typedef struct gen {
    uint8_t *b, *out;
    size_t cap, nbits, ocap, olen;
} gen;

static void gen_free(gen *g)
{
    free(g->b);
    free(g->out);
    memset(g, 0, sizeof *g);
}

static void gput(gen *g, unsigned v, int n)
{
    for (int i = 0; i < n; i++, g->nbits++) {
        if (g->nbits / 8 >= g->cap) {
            size_t cap = g->cap ? 2 * g->cap : 1024;
            g->b = realloc(g->b, cap);
            assert_non_null(g->b);
            memset(g->b + g->cap, 0, cap - g->cap);
            g->cap = cap;
        }
        if (v >> i & 1)
            g->b[g->nbits / 8] |= (uint8_t)(1u << (g->nbits % 8));
    }
}

/* Symbol s of c, most significant bit first. */
static void gsym(gen *g, const codes *c, int s)
{
    assert_true(c->len[s] > 0);
    for (int i = c->len[s] - 1; i >= 0; i--)
        gput(g, c->code[s] >> i & 1, 1);
}

static void gbyte_out(gen *g, uint8_t v)
{
    if (g->olen == g->ocap) {
        g->ocap = g->ocap ? 2 * g->ocap : 1024;
        g->out = realloc(g->out, g->ocap);
        assert_non_null(g->out);
    }
    g->out[g->olen++] = v;
}

static void glit(gen *g, const codes *c, int v)
{
    gsym(g, c, v);
    gbyte_out(g, (uint8_t)v);
}

/* A match of len (3..258) bytes from dist (1..32768) back. */
static void gmatch(gen *g, const codes *c, unsigned len, unsigned dist)
{
    assert_true(len >= 3 && len <= 258 && dist >= 1 && dist <= 32768 && dist <= g->olen);
    int ls = 28, ds = 29;
    while (lbase[ls] > len)
        ls--;
    while (dbase[ds] > dist)
        ds--;
    gsym(g, c, 257 + ls);
    gput(g, len - lbase[ls], lextra[ls]);
    gsym(g, c, 288 + ds);
    gput(g, dist - dbase[ds], dextra[ds]);
    for (unsigned i = 0; i < len; i++)
        gbyte_out(g, g->out[g->olen - dist]);
}

/* The stream's bytes so far. */
static size_t gsize(const gen *g)
{
    return (g->nbits + 7) / 8;
}

/* Bytes after the stream (as a gzip trailer or another member would be):
 * the decoder may read ahead into them, and gives them back. */
static void gpad(gen *g, size_t n)
{
    size_t at = gsize(g);
    g->nbits = 8 * at;
    for (size_t i = 0; i < n; i++)
        gput(g, (unsigned)(0xc3 ^ i * 17) & 0xff, 8);
    g->nbits = 8 * at; /* gsize() stays the stream's own */
}

/* A dynamic block's header for c's first nlen literal/length and ndist
 * distance lengths, themselves coded with code-length codes 0 and 18 of 2
 * bits and 1..15 and 17 of 5 bits (a complete set), zeros in runs. */
static void gdynamic(gen *g, int final, const codes *c, int nlen, int ndist)
{
    static const uint8_t order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5,
                                      11, 4,  12, 3, 13, 2, 14, 1, 15};
    codes *cl = calloc(1, sizeof *cl);
    assert_non_null(cl);
    cl->len[0] = cl->len[18] = 2;
    for (int s = 1; s <= 17; s++)
        cl->len[s] = s == 16 ? 0 : 5;
    assert_int_equal(canonical(cl, NULL), 32768);
    gput(g, (unsigned)final, 1);
    gput(g, 2, 2);
    gput(g, (unsigned)(nlen - 257), 5);
    gput(g, (unsigned)(ndist - 1), 5);
    gput(g, 19 - 4, 4);
    for (int i = 0; i < 19; i++)
        gput(g, cl->len[order[i]], 3);
    uint8_t all[288 + 32];
    memcpy(all, c->len, (size_t)nlen);
    memcpy(all + nlen, c->len + 288, (size_t)ndist);
    for (int i = 0, n = nlen + ndist; i < n;) {
        int run = 1;
        while (!all[i] && i + run < n && !all[i + run] && run < 138)
            run++;
        if (all[i])
            gsym(g, cl, all[i]), run = 1;
        else if (run >= 11)
            gsym(g, cl, 18), gput(g, (unsigned)run - 11, 7);
        else if (run >= 3)
            gsym(g, cl, 17), gput(g, (unsigned)run - 3, 3);
        else
            gsym(g, cl, 0), run = 1;
        i += run;
    }
    free(cl);
}

/* ---- nothing written past the output ---- */

/* Bytes after the output that must stay as they were. */
#define GUARD 64

static uint8_t guard_byte(size_t i)
{
    return (uint8_t)(0x5a ^ i * 77);
}

/* ours() into buf's first len bytes, buf having GUARD bytes more: those
 * must be untouched whatever the stream. */
static int ours_guarded(const uint8_t *c, size_t n, uint8_t *buf, size_t len, int chunk,
                        size_t *used)
{
    for (size_t i = 0; i < GUARD; i++)
        buf[len + i] = guard_byte(i);
    int r = ours(c, n, buf, len, chunk, used);
    for (size_t i = 0; i < GUARD; i++)
        if (buf[len + i] != guard_byte(i))
            fail_msg("output of %zu bytes: byte %zu past its end written (inflate_raw %d)", len,
                     i, r);
    return r;
}

/* zlib's streams of every output length from 1 to 600 bytes (data of
 * every kind, runs and short periods ending at or just before the end,
 * every level and strategy), decoded into exactly their length and into
 * fewer bytes (refused), with and without bytes after the stream. */
static void test_no_overrun_zlib(void **state)
{
    (void)state;
    enum { MAXN = 600, PAD = 24 };
    uint8_t src[MAXN], c[2 * MAXN + 64 + PAD], buf[MAXN + GUARD];
    unsigned seed = 21;
    for (size_t n = 1; n <= MAXN; n++)
        for (int v = 0; v < 3; v++) {
            int kind = (int)(n + (size_t)v) % 8;
            size_t tail = (n + (size_t)v) % 10, head = n % 17 + 1;
            if (kind < 5) {
                make_data(src, n, kind, &seed);
            } else { /* a head, a run (or a short period), a tail of 0..9 bytes */
                size_t period = kind == 5 ? 1 : 2 + (n + (size_t)v) % 7;
                make_data(src, n, 1, &seed);
                for (size_t i = head; i + tail < n; i++)
                    src[i] = i < head + period ? (uint8_t)rnd(&seed) : src[i - period];
            }
            int level = (int)(n * 3 + (size_t)v) % 10;
            int strategy = strategies[(n + (size_t)v) % 5];
            size_t cn = deflate_raw(src, n, c, sizeof c - PAD, level, strategy, 8);
            size_t pad = v == 2 ? 0 : PAD;
            for (size_t i = 0; i < pad; i++)
                c[cn + i] = (uint8_t)(0xe1 + i);
            int chunk = v == 1 ? 0 : (int)(cn + pad);
            size_t used;
            assert_int_equal(ours_guarded(c, cn + pad, buf, n, chunk, &used), INFLATE_OK);
            assert_memory_equal(buf, src, n);
            assert_int_equal(used, cn);
            static const size_t less[] = {1, 2, 7, 8, 9, 258};
            for (size_t k = 0; k < sizeof less / sizeof *less && less[k] <= n; k++)
                assert_int_equal(ours_guarded(c, cn + pad, buf, n - less[k], chunk, NULL),
                                 INFLATE_EDATA);
            assert_int_equal(ours_guarded(c, cn + pad, buf, n / 2, chunk, NULL), INFLATE_EDATA);
        }
}

/* Matches of every kind ending exactly at the output's end or a few bytes
 * before it: fixed codes, a prefix (p = 16..23 literals and a match of
 * 258), then k literals, a match of len bytes from dist back, t literals,
 * the end, and bytes after the stream, all in one chunk. Decoded into
 * exactly their length (the bytes zlib's), and into less (refused). */
static void test_no_overrun_matches(void **state)
{
    (void)state;
    static const unsigned lens[] = {3,   4,   7,   8,   9,   15,  16,  17,  31,  64,  65, 127,
                                    128, 129, 249, 250, 251, 252, 253, 254, 255, 256, 257, 258};
    static const unsigned dists[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 17, 100};
    codes *fc = malloc(sizeof *fc);
    assert_non_null(fc);
    fixed_codes(fc);
    uint8_t *buf = malloc(1024 + GUARD), *zbuf = malloc(1024);
    gen g = {0};
    long runs = 0;
    for (int k = 0; k <= 3; k++)
        for (size_t li = 0; li < sizeof lens / sizeof *lens; li++)
            for (size_t di = 0; di < sizeof dists / sizeof *dists; di++)
                for (int t = 0; t <= 12; t++) {
                    int p = 16 + (int)(runs % 8);
                    gen_free(&g);
                    gput(&g, 1, 1), gput(&g, 1, 2); /* final, fixed */
                    for (int i = 0; i < p; i++)
                        glit(&g, fc, (int)(i * 41 + 7) & 0xff);
                    gmatch(&g, fc, 258, (unsigned)p);
                    for (int i = 0; i < k; i++)
                        glit(&g, fc, 200 + i);
                    gmatch(&g, fc, lens[li], dists[di]);
                    for (int i = 0; i < t; i++)
                        glit(&g, fc, 'a' + i);
                    gsym(&g, fc, 256);
                    size_t n = gsize(&g), len = g.olen, used;
                    gpad(&g, 24);
                    int whole = (int)n + 24;
                    assert_true(len <= 1024);
                    assert_int_equal(ours_guarded(g.b, n + 24, buf, len, whole, &used), INFLATE_OK);
                    assert_memory_equal(buf, g.out, len);
                    assert_int_equal(used, n);
                    if (t == 0 || t == 5 || t == 12) {
                        assert_true(zlib_ok(g.b, n, zbuf, len, NULL));
                        assert_memory_equal(zbuf, g.out, len);
                    }
                    /* the match crossing the end by a byte; the last literal past it */
                    size_t short_len = len - (size_t)t - 1;
                    assert_int_equal(ours_guarded(g.b, n + 24, buf, short_len, whole, NULL),
                                     INFLATE_EDATA);
                    if (t)
                        assert_int_equal(ours_guarded(g.b, n + 24, buf, len - 1, whole, NULL),
                                         INFLATE_EDATA);
                    runs++;
                }
    assert_int_equal(runs, 4 * 24 * 12 * 13);
    gen_free(&g);
    free(fc), free(buf), free(zbuf);
}

/* ---- the longest codes ---- */

/* A dynamic block whose codes reach 15 bits: literals 'X' and 'Y', lengths
 * 283 and 284 (5 extra bits) and distances 26..29 (12 and 13 extra bits);
 * 286 literal/length and 30 distance codes (HLIT and HDIST 29, the most
 * zlib takes). Both sets complete. */
static void long_codes(codes *c)
{
    static const struct { int sym, len; } set[] = {
        {'a', 4}, {'b', 4}, {'c', 4}, {'d', 4}, {'e', 4}, {'f', 4}, {'g', 4}, {'h', 4},
        {257, 4}, {285, 4}, {256, 5}, {265, 5}, {269, 5}, {273, 5}, {277, 5}, {281, 5},
        {'i', 6}, {'j', 6}, {'k', 6}, {'l', 6}, {'m', 4}, {'n', 5}, {'o', 6}, {'p', 7},
        {'q', 8}, {'r', 9}, {'s', 10}, {'t', 11}, {'u', 12}, {282, 13},
        {'X', 15}, {'Y', 15}, {283, 15}, {284, 15},
        /* distances (288 + code) */
        {288 + 0, 2}, {288 + 3, 3}, {288 + 10, 3}, {288 + 16, 3}, {288 + 20, 3},
        {288 + 24, 4}, {288 + 25, 4}, {288 + 5, 4}, {288 + 7, 5}, {288 + 12, 6},
        {288 + 14, 7}, {288 + 18, 8}, {288 + 21, 9}, {288 + 22, 10}, {288 + 23, 11},
        {288 + 19, 12}, {288 + 17, 13}, {288 + 26, 15}, {288 + 27, 15}, {288 + 28, 15},
        {288 + 29, 15},
    };
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < sizeof set / sizeof *set; i++)
        c->len[set[i].sym] = (uint8_t)set[i].len;
    unsigned dk;
    assert_int_equal(canonical(c, &dk), 32768);
    assert_int_equal(dk, 32768);
}

/* A length of symbol s (257..285) and a distance of code d, at random
 * within their ranges (the distance at most back to the output's start). */
static unsigned pick_len(int s, unsigned *seed)
{
    unsigned base = lbase[s - 257], range = 1u << lextra[s - 257];
    if (s == 284)
        range = 31; /* 227..257: 258 is symbol 285's */
    return base + rnd(seed) % range;
}

static unsigned pick_dist(int d, size_t olen, unsigned *seed)
{
    unsigned base = dbase[d], range = 1u << dextra[d];
    if (base + range - 1 > olen)
        range = (unsigned)olen - base + 1;
    return base + rnd(seed) % range;
}

/* A block of the longest codes (long_codes): 40,000 bytes of history
 * (literals, matches of every code), then the most bits a length and
 * distance take after literals: two literals of 15 bits, a length code of
 * 15 and 5 extra bits, a distance code of 15 and 13 extra bits (78 bits),
 * 3,000 times less one in four, where 0..3 literals of any length and a
 * match of any codes come instead: so every bit alignment comes. */
static void long_stream(gen *g)
{
    codes *c = malloc(sizeof *c);
    assert_non_null(c);
    long_codes(c);
    static const int lits[] = {'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l',
                               'm', 'n', 'o', 'p', 'q', 'r', 's', 't', 'u', 'X', 'Y'};
    static const int lsyms[] = {257, 265, 269, 273, 277, 281, 282, 283, 284, 285};
    int dsyms[30], nd = 0;
    for (int d = 0; d < 30; d++)
        if (c->len[288 + d])
            dsyms[nd++] = d;
    size_t nlits = sizeof lits / sizeof *lits, nlsyms = sizeof lsyms / sizeof *lsyms;
    unsigned seed = 33;
    gdynamic(g, 1, c, 286, 30);
    /* 32 KB and more of history, varied: literals, matches of every code */
    for (int i = 0; i < 32; i++)
        glit(g, c, lits[rnd(&seed) % 21]);
    while (g->olen < 40000) {
        if (rnd(&seed) % 3 == 0) {
            glit(g, c, lits[rnd(&seed) % nlits]);
            continue;
        }
        int d;
        do
            d = dsyms[rnd(&seed) % (unsigned)nd];
        while (dbase[d] > g->olen);
        gmatch(g, c, pick_len(lsyms[rnd(&seed) % nlsyms], &seed), pick_dist(d, g->olen, &seed));
    }
    /* then the longest codes, or (one time in four) k = 0..3 literals of any
     * length and a match of any codes: every bit alignment comes */
    for (int i = 0; i < 3000; i++) {
        if (i % 4 != 3) {
            glit(g, c, rnd(&seed) % 2 ? 'X' : 'Y');
            glit(g, c, rnd(&seed) % 2 ? 'X' : 'Y');
            unsigned len = pick_len(283 + (int)(rnd(&seed) % 2), &seed);
            gmatch(g, c, len, pick_dist(28 + (int)(rnd(&seed) % 2), g->olen, &seed));
            continue;
        }
        for (unsigned k = rnd(&seed) % 4; k; k--)
            glit(g, c, lits[rnd(&seed) % nlits]);
        gmatch(g, c, pick_len(lsyms[rnd(&seed) % nlsyms], &seed),
               pick_dist(dsyms[rnd(&seed) % (unsigned)nd], g->olen, &seed));
    }
    gsym(g, c, 256);
    free(c);
}

/* The longest codes, with input to spare after them (bytes after the
 * stream) so that the decoder's quick path takes them: the bytes are the
 * stream's own and zlib's. */
static void test_long_codes(void **state)
{
    (void)state;
    gen g = {0};
    long_stream(&g);
    size_t n = gsize(&g), len = g.olen, used;
    gpad(&g, 32);
    uint8_t *out = malloc(len + GUARD), *zout = malloc(len);
    assert_true(zlib_ok(g.b, n, zout, len, &used));
    assert_int_equal(used, n);
    assert_memory_equal(zout, g.out, len);
    for (int chunk = 0; chunk <= 1; chunk++) { /* all at once; in random chunks */
        assert_int_equal(ours_guarded(g.b, n + 32, out, len, chunk ? 0 : (int)n + 32, &used),
                         INFLATE_OK);
        assert_memory_equal(out, g.out, len);
        assert_int_equal(used, n);
    }
    free(out), free(zout);
    gen_free(&g);
}

/* Input in chunks of 8 to 64 bytes, each a copy with garbage after it:
 * nothing past a chunk's end is read as input (the quick path stops while
 * 16 bytes remain). The longest codes, and zlib's stream of image-like
 * data. */
static void test_chunk_ends(void **state)
{
    (void)state;
    gen g = {0};
    long_stream(&g);
    size_t zn = 60000, zcap = 2 * zn + 1024;
    uint8_t *zsrc = malloc(zn), *zc = malloc(zcap);
    unsigned seed = 45;
    make_data(zsrc, zn, 3, &seed);
    size_t zcn = deflate_raw(zsrc, zn, zc, zcap, 6, Z_DEFAULT_STRATEGY, 8);
    uint8_t *out = malloc(g.olen > zn ? g.olen : zn);
    for (int chunk = 8; chunk <= 64; chunk++) {
        size_t used;
        feed f = {g.b, gsize(&g), 0, 0, 7, chunk, 1, NULL};
        assert_int_equal(ours_fed(&f, out, g.olen, &used), INFLATE_OK);
        assert_memory_equal(out, g.out, g.olen);
        assert_int_equal(used, gsize(&g));
        feed fz = {zc, zcn, 0, 0, 7, chunk, 1, NULL};
        assert_int_equal(ours_fed(&fz, out, zn, &used), INFLATE_OK);
        assert_memory_equal(out, zsrc, zn);
        assert_int_equal(used, zcn);
    }
    free(out), free(zsrc), free(zc);
    gen_free(&g);
}

/* ---- the counts of codes ---- */

/* HLIT and HDIST at and past their limits: 286 literal/length and 30
 * distance codes are the most zlib takes ("too many length or distance
 * symbols" past them); 287 and 288, 31 and 32 are refused even when the
 * codes past the limit have no length. The block: 'a', then a match of 3
 * at distance 1 and one of 3 at distance 2: "aaaaaaa". */
static void test_code_counts(void **state)
{
    (void)state;
    codes *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->len['a'] = 1;
    c->len[256] = c->len[257] = 2;
    c->len[288 + 0] = c->len[288 + 1] = 1;
    unsigned dk;
    assert_int_equal(canonical(c, &dk), 32768);
    assert_int_equal(dk, 32768);
    for (int nlen = 286; nlen <= 288; nlen++)
        for (int ndist = 30; ndist <= 32; ndist++) {
            gen g = {0};
            gdynamic(&g, 1, c, nlen, ndist);
            glit(&g, c, 'a');
            gmatch(&g, c, 3, 1);
            gmatch(&g, c, 3, 2);
            gsym(&g, c, 256);
            assert_int_equal(g.olen, 7);
            int ok = nlen == 286 && ndist == 30;
            uint8_t o1[7 + GUARD], o2[7];
            for (int chunk = 0; chunk <= 1; chunk++)
                assert_int_equal(ours_guarded(g.b, gsize(&g), o1, 7, chunk, NULL),
                                 ok ? INFLATE_OK : INFLATE_EDATA);
            assert_int_equal(zlib_ok(g.b, gsize(&g), o2, 7, NULL), ok);
            if (ok) {
                assert_memory_equal(o1, "aaaaaaa", 7);
                assert_memory_equal(o2, "aaaaaaa", 7);
            }
            gen_free(&g);
        }
    free(c);
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
        cmocka_unit_test(test_code_counts),
        cmocka_unit_test(test_long_codes),
        cmocka_unit_test(test_chunk_ends),
        cmocka_unit_test(test_no_overrun_zlib),
        cmocka_unit_test(test_no_overrun_matches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
