/* inflate.c: DEFLATE decoding (RFC 1951) into a flat buffer; see inflate.h.
 *
 * Bits are taken from a 64-bit buffer, least significant first. Codes are
 * decoded by table: a root table indexed by the next ROOT bits, and for
 * codes longer than that a subtable per root entry they share, indexed by
 * the bits after the root's. A fast loop runs while at least 16 input bytes
 * and MARGIN output bytes remain, refilling the buffer 8 bytes at a time
 * (one refill covers a length's code, its extra bits, a distance's code and
 * its extra bits: 15 + 5 + 15 + 13 = 48 bits); the careful loop takes the
 * rest, a byte of input at a time, checking every bound. */
#include "inflate.h"

#include <stdlib.h>
#include <string.h>

/* An entry: op says what the code is; bits how many bits it takes (in a
 * subtable, beyond the root's). */
enum {
    OP_LIT = 0,   /* a literal byte, val */
    /* 1..15: a link to the subtable at val, indexed by op more bits */
    OP_BASE = 16, /* a length or distance of val + (op - OP_BASE) extra bits */
    OP_END = 32,  /* the block's end */
    OP_BAD = 64,  /* no such code */
};

typedef struct entry {
    uint8_t bits, op;
    uint16_t val;
} entry;

static inline int is_link(entry e)
{
    return e.op > OP_LIT && e.op < OP_BASE;
}

#define MAXBITS 15
#define LROOT 10
#define DROOT 8
#define CROOT 7
/* Root entries, and a subtable of 2^(15 - root) entries at most for each
 * code longer than the root (codes sharing a root entry share one). */
#define LSIZE ((1 << LROOT) + 288 * (1 << (MAXBITS - LROOT)))
#define DSIZE ((1 << DROOT) + 32 * (1 << (MAXBITS - DROOT)))
#define CSIZE (1 << CROOT)
/* Output room the fast loop keeps: up to two literals, then a match (258)
 * and a word's overshoot (7), with a byte to spare. */
#define MARGIN (3 + 258 + 8)
/* Bytes of output a block must average (see inflate_raw). */
#define MIN_BLOCK 64

enum kind { CODES, LENS, DISTS };

static const uint16_t len_base[29] = {3,  4,  5,  6,  7,  8,  9,  10,  11,  13,
                                      15, 17, 19, 23, 27, 31, 35, 43,  51,  59,
                                      67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                      2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t dist_base[30] = {1,    2,    3,    4,    5,    7,     9,     13,
                                       17,   25,   33,   49,   65,   97,    129,   193,
                                       257,  385,  513,  769,  1025, 1537,  2049,  3073,
                                       4097, 6145, 8193, 12289, 16385, 24577};
static const uint8_t dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                       6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

static entry symbol_entry(enum kind k, int s, int bits)
{
    entry e = {(uint8_t)bits, OP_BAD, 0};
    if (k == CODES || (k == LENS && s < 256)) {
        e.val = (uint16_t)s;
        e.op = OP_LIT;
    } else if (k == LENS && s == 256) {
        e.op = OP_END;
    } else if (k == LENS && s < 286) {
        e.val = len_base[s - 257];
        e.op = (uint8_t)(OP_BASE + len_extra[s - 257]);
    } else if (k == DISTS && s < 30) {
        e.val = dist_base[s];
        e.op = (uint8_t)(OP_BASE + dist_extra[s]);
    }
    return e;
}

static unsigned reverse(unsigned code, int len)
{
    unsigned r = 0;
    for (int i = 0; i < len; i++, code >>= 1)
        r = r << 1 | (code & 1);
    return r;
}

/* The table of n code lengths (0: unused), zlib's rules: an over-subscribed
 * set is refused; an incomplete one too, unless it is a single code of one
 * bit for lengths or distances; no code at all is a table of OP_BAD (for
 * CODES and LENS zlib refuses the stream later, so it is refused here). */
static int build(entry *t, size_t cap, int root, const uint8_t *lens, int n, enum kind k)
{
    int count[MAXBITS + 1] = {0}, max = 0;
    for (int s = 0; s < n; s++)
        count[lens[s]]++;
    for (int len = 1; len <= MAXBITS; len++)
        if (count[len])
            max = len;
    entry bad = {1, OP_BAD, 0};
    for (int i = 0; i < 1 << root; i++)
        t[i] = bad;
    if (max == 0)
        return k == DISTS ? 0 : -1;
    int left = 1;
    for (int len = 1; len <= MAXBITS; len++) {
        left = 2 * left - count[len];
        if (left < 0)
            return -1;
    }
    if (left > 0 && (k == CODES || max != 1))
        return -1;
    unsigned next[MAXBITS + 2];
    next[1] = 0;
    for (int len = 1; len < MAXBITS; len++)
        next[len + 1] = (next[len] + (unsigned)count[len]) << 1;
    int sub = max > root ? max - root : 0;
    size_t used = (size_t)1 << root;
    for (int s = 0; s < n; s++) {
        int len = lens[s];
        if (!len)
            continue;
        unsigned rev = reverse(next[len]++, len);
        if (len <= root) {
            for (unsigned i = rev; i < 1u << root; i += 1u << len)
                t[i] = symbol_entry(k, s, len);
            continue;
        }
        entry *link = &t[rev & ((1u << root) - 1)];
        if (link->op == OP_BAD) {
            if (used + ((size_t)1 << sub) > cap)
                return -1; /* cannot happen: cap counts a subtable per code */
            link->val = (uint16_t)used;
            link->bits = (uint8_t)root;
            link->op = (uint8_t)sub;
            for (size_t i = 0; i < (size_t)1 << sub; i++)
                t[used + i] = bad;
            used += (size_t)1 << sub;
        }
        entry *st = t + link->val;
        for (unsigned i = rev >> root; i < 1u << sub; i += 1u << (len - root))
            st[i] = symbol_entry(k, s, len - root);
    }
    return 0;
}

/* ---- the careful path: a byte of input at a time ---- */

typedef struct dec {
    inflate_in *in;
    uint64_t buf;
    unsigned cnt; /* valid bits in buf */
    int err;      /* INFLATE_EREAD once more() failed */
    int fixed;    /* the tables hold the fixed codes */
    size_t builds; /* tables built */
    uint8_t *out, *op, *end;
    entry ltab[LSIZE], dtab[DSIZE];
} dec;

/* 1 when unread input is there (refilled if need be), else 0 (its end,
 * or a read error, noted). */
static int input(dec *d)
{
    if (d->in->n)
        return 1;
    int r = d->in->more(d->in);
    if (r < 0)
        d->err = INFLATE_EREAD;
    return r > 0 && d->in->n > 0;
}

/* Loads bytes until want bits are there or the input ends. */
static void need(dec *d, unsigned want)
{
    while (d->cnt < want) {
        if (!input(d))
            return;
        d->buf |= (uint64_t)*d->in->p++ << d->cnt;
        d->in->n--;
        d->cnt += 8;
    }
}

/* n bits (n <= 16), or -1 when the input ends first. */
static long bits(dec *d, unsigned n)
{
    need(d, n);
    if (d->cnt < n)
        return -1;
    long v = (long)(d->buf & ((UINT64_C(1) << n) - 1));
    d->buf >>= n;
    d->cnt -= n;
    return v;
}

/* The next code of table t; an entry of OP_BAD when there is none. */
static entry code(dec *d, const entry *t, int root)
{
    entry bad = {0, OP_BAD, 0};
    need(d, MAXBITS);
    entry e = t[d->buf & ((1u << root) - 1)];
    unsigned taken = 0;
    if (is_link(e)) {
        taken = e.bits;
        e = t[e.val + ((d->buf >> taken) & ((1u << e.op) - 1))];
    }
    if (e.op == OP_BAD || taken + e.bits > d->cnt)
        return bad;
    d->buf >>= taken + e.bits;
    d->cnt -= taken + e.bits;
    return e;
}

static int stored(dec *d)
{
    d->buf >>= d->cnt & 7; /* to a byte boundary */
    d->cnt -= d->cnt & 7;
    long len = bits(d, 16), nlen = bits(d, 16);
    if (len < 0 || nlen < 0 || len != (~nlen & 0xffff) || len > d->end - d->op)
        return -1;
    for (; len && d->cnt; len--) { /* what the bit buffer holds first */
        *d->op++ = (uint8_t)d->buf;
        d->buf >>= 8;
        d->cnt -= 8;
    }
    if (!d->cnt) /* its bits above cnt are of bytes about to be copied */
        d->buf = 0;
    while (len) {
        if (!input(d))
            return -1;
        size_t k = d->in->n < (size_t)len ? d->in->n : (size_t)len;
        memcpy(d->op, d->in->p, k);
        d->op += k;
        d->in->p += k;
        d->in->n -= k;
        len -= (long)k;
    }
    return 0;
}

static void fixed_lens(uint8_t *lens)
{
    int s = 0;
    for (; s < 144; s++)
        lens[s] = 8;
    for (; s < 256; s++)
        lens[s] = 9;
    for (; s < 280; s++)
        lens[s] = 7;
    for (; s < 288; s++)
        lens[s] = 8;
    for (s = 0; s < 32; s++)
        lens[288 + s] = 5;
}

/* A dynamic block's code lengths, into lens[0 .. nlen + ndist). */
static int dynamic_lens(dec *d, uint8_t *lens, int *nlen, int *ndist)
{
    static const uint8_t order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5,
                                      11, 4,  12, 3, 13, 2, 14, 1, 15};
    long hlit = bits(d, 5), hdist = bits(d, 5), hclen = bits(d, 4);
    if (hlit < 0 || hdist < 0 || hclen < 0 || hlit + 257 > 286 || hdist + 1 > 30)
        return -1;
    *nlen = (int)hlit + 257;
    *ndist = (int)hdist + 1;
    uint8_t cl[19] = {0};
    for (int i = 0; i < hclen + 4; i++) {
        long v = bits(d, 3);
        if (v < 0)
            return -1;
        cl[order[i]] = (uint8_t)v;
    }
    entry ctab[CSIZE];
    if (build(ctab, CSIZE, CROOT, cl, 19, CODES))
        return -1;
    int total = *nlen + *ndist;
    for (int i = 0; i < total;) {
        entry e = code(d, ctab, CROOT);
        if (e.op == OP_BAD)
            return -1;
        if (e.val < 16) {
            lens[i++] = (uint8_t)e.val;
            continue;
        }
        uint8_t v = 0;
        if (e.val == 16 && i == 0)
            return -1;
        if (e.val == 16)
            v = lens[i - 1];
        long x = bits(d, e.val == 16 ? 2 : e.val == 17 ? 3 : 7);
        long rep = x + (e.val == 18 ? 11 : 3);
        if (x < 0 || i + rep > total)
            return -1;
        while (rep--)
            lens[i++] = v;
    }
    return 0;
}

/* The block's tables: fixed (type 1, built once) or read (type 2). */
static int tables(dec *d, int type)
{
    if (type == 1 && d->fixed)
        return 0;
    uint8_t lens[288 + 32];
    int nlen = 288, ndist = 32;
    d->fixed = 0;
    d->builds++;
    if (type == 1)
        fixed_lens(lens);
    else if (dynamic_lens(d, lens, &nlen, &ndist))
        return -1;
    if (lens[256] == 0) /* zlib: "invalid code -- missing end-of-block" */
        return -1;
    if (build(d->ltab, LSIZE, LROOT, lens, nlen, LENS) ||
        build(d->dtab, DSIZE, DROOT, lens + nlen, ndist, DISTS))
        return -1;
    d->fixed = type == 1;
    return 0;
}

/* 8 bytes, least significant first (one load on little-endian hosts). */
static inline uint64_t load_le64(const uint8_t *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
           (uint64_t)p[7] << 56;
}

/* Copies a match of len bytes from dist back; the caller checked both,
 * and that 8 bytes past the match may be written (they are rewritten
 * later or lie past the output's end). */
static inline void copy_match(uint8_t *op, size_t dist, size_t len)
{
    const uint8_t *from = op - dist;
    uint8_t *stop = op + len;
    if (dist >= 8) { /* words: each read ends before the write starts */
        do {
            uint64_t w;
            memcpy(&w, from, 8);
            memcpy(op, &w, 8);
            from += 8;
            op += 8;
        } while (op < stop);
    } else if (dist == 1) { /* a run of one byte, a word at a time */
        uint64_t w = *from * UINT64_C(0x0101010101010101);
        do {
            memcpy(op, &w, 8);
            op += 8;
        } while (op < stop);
    } else {
        while (op < stop)
            *op++ = *from++;
    }
}

/* The next code of table t from buf, taken; at most MAXBITS bits, which
 * the caller made sure buf holds. */
static inline entry take(const entry *t, unsigned root, uint64_t *buf, unsigned *cnt)
{
    entry e = t[*buf & ((1u << root) - 1)];
    if (is_link(e)) {
        *buf >>= root;
        *cnt -= root;
        e = t[e.val + (*buf & ((1u << e.op) - 1))];
    }
    *buf >>= e.bits;
    *cnt -= e.bits;
    return e;
}

/* Whole bytes from p into buf, up to 56 valid bits or more; p must have 8
 * readable bytes. The bits past the bytes taken are the next byte's own, at
 * its place: the next refill ORs the same bits there again. */
#define REFILL()                                                                            \
    do {                                                                                    \
        buf |= load_le64(p) << cnt;                                                         \
        unsigned adv_ = (63 - cnt) >> 3;                                                    \
        p += adv_;                                                                          \
        n -= adv_;                                                                          \
        cnt += adv_ << 3;                                                                   \
    } while (0)

/* The fast loop, while 16 input bytes (two refills) and MARGIN output
 * bytes remain: up to three literals a refill (15 bits each), a length and
 * distance (48 bits) after one. Leaves at a block's end (1), an error (-1),
 * or when room runs short (0: the careful loop goes on from there). */
static int fast(dec *d)
{
    const entry *lt = d->ltab, *dt = d->dtab;
    const uint8_t *p = d->in->p;
    size_t n = d->in->n;
    uint64_t buf = d->buf;
    unsigned cnt = d->cnt;
    uint8_t *op = d->op, *out = d->out;
    int rc = 0;
    while (n >= 16 && d->end - op >= MARGIN) {
        REFILL();
        entry e = take(lt, LROOT, &buf, &cnt);
        if (e.op == OP_LIT) {
            *op++ = (uint8_t)e.val;
            e = take(lt, LROOT, &buf, &cnt);
            if (e.op == OP_LIT) {
                *op++ = (uint8_t)e.val;
                e = take(lt, LROOT, &buf, &cnt);
                if (e.op == OP_LIT) {
                    *op++ = (uint8_t)e.val;
                    continue;
                }
            }
        }
        if (e.op == OP_END) {
            rc = 1;
            break;
        }
        if (e.op == OP_BAD) {
            rc = -1;
            break;
        }
        if (cnt < 5 + MAXBITS + 13)
            REFILL();
        unsigned x = e.op - OP_BASE;
        size_t len = e.val + (size_t)(buf & ((UINT64_C(1) << x) - 1));
        buf >>= x;
        cnt -= x;
        entry g = take(dt, DROOT, &buf, &cnt);
        if (g.op == OP_BAD) {
            rc = -1;
            break;
        }
        x = g.op - OP_BASE;
        size_t dist = g.val + (size_t)(buf & ((UINT64_C(1) << x) - 1));
        buf >>= x;
        cnt -= x;
        if (dist > (size_t)(op - out)) {
            rc = -1;
            break;
        }
        copy_match(op, dist, len);
        op += len;
    }
    d->in->p = p;
    d->in->n = n;
    d->buf = buf;
    d->cnt = cnt;
    d->op = op;
    return rc;
}

/* A block's codes until its end. */
static int codes(dec *d)
{
    for (;;) {
        int r = fast(d);
        if (r)
            return r > 0 ? 0 : -1;
        entry e = code(d, d->ltab, LROOT);
        if (e.op == OP_LIT) {
            if (d->op == d->end)
                return -1;
            *d->op++ = (uint8_t)e.val;
            continue;
        }
        if (e.op == OP_END)
            return 0;
        if (e.op == OP_BAD)
            return -1;
        long lx = bits(d, e.op - OP_BASE);
        entry g = code(d, d->dtab, DROOT);
        if (lx < 0 || g.op == OP_BAD)
            return -1;
        long dx = bits(d, g.op - OP_BASE);
        if (dx < 0)
            return -1;
        size_t len = e.val + (size_t)lx, dist = g.val + (size_t)dx;
        if (dist > (size_t)(d->op - d->out) || len > (size_t)(d->end - d->op))
            return -1;
        for (const uint8_t *from = d->op - dist; len--;)
            *d->op++ = *from++;
    }
}

int inflate_raw(inflate_in *in, uint8_t *out, size_t len, uint8_t back[8], int *nback)
{
    dec *d = calloc(1, sizeof *d); /* with its tables, 58 KB */
    if (!d)
        return INFLATE_ENOMEM;
    d->in = in;
    d->out = d->op = out;
    d->end = out + len;
    *nback = 0;
    int last = 0, bad = 0, tiny = 0;
    while (!last && !bad) {
        /* Each table build costs 2,000 writes or so: when blocks average
         * under MIN_BLOCK bytes of output each, zlib would be quicker (a file
         * of empty dynamic blocks took 4 times its time). */
        if (d->builds > 16 + (size_t)(d->op - d->out) / MIN_BLOCK) {
            tiny = 1;
            break;
        }
        long h = bits(d, 3);
        int type = h < 0 ? 3 : (int)(h >> 1);
        last = (int)(h & 1);
        if (type == 3)
            bad = 1;
        else if (type == 0)
            bad = stored(d);
        else
            bad = tables(d, type) || codes(d);
    }
    int rc = d->err ? INFLATE_EREAD : tiny ? INFLATE_ETINY : INFLATE_OK;
    if (!rc && (bad || d->op != d->end))
        rc = INFLATE_EDATA;
    if (!rc) { /* whole bytes read past the end, given back */
        d->buf >>= d->cnt & 7;
        d->cnt -= d->cnt & 7;
        for (; d->cnt; d->cnt -= 8, d->buf >>= 8)
            back[(*nback)++] = (uint8_t)d->buf;
    }
    free(d);
    return rc;
}
