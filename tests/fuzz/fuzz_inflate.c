/* fuzz_inflate.c: inflate_raw (inflate.c) against zlib on any bytes.
 *
 * Input: one selector byte, then a raw deflate stream. The selector's low
 * 6 bits are the size of the chunks the stream is handed over in (0: all
 * at once); its top 2 bits an extra count of bytes (0, 1, 258 or 4096).
 * zlib decodes the stream first (up to 1 MB of output):
 *   - when it ends there, after L bytes, inflate_raw must decode it to the
 *     same L bytes, end at the same byte and give back what it read past
 *     the end (or leave it to zlib: INFLATE_ETINY); asked for L - 1 or
 *     L + 1 bytes, it must fail;
 *   - when zlib fails (damaged, truncated, or over 1 MB), inflate_raw must
 *     fail too, asked for as many bytes as zlib produced, and that plus
 *     the extra count (a stream it accepted would be one zlib accepts).
 * Every output buffer is exactly the size asked for, so that the
 * sanitizers see any byte read or written outside it. */
#include <zlib.h>

#include "fuzz.h"
#include "inflate.h"

#define CAP (1u << 20)

typedef struct feed {
    const uint8_t *p;
    size_t n, pos, chunk;
} feed;

static int more(inflate_in *in)
{
    feed *f = in->ctx;
    if (f->pos >= f->n)
        return 0;
    size_t k = f->chunk && f->chunk < f->n - f->pos ? f->chunk : f->n - f->pos;
    in->p = f->p + f->pos;
    in->n = k;
    f->pos += k;
    return 1;
}

/* inflate_raw into a buffer of exactly len bytes, kept in *out (freed by
 * the caller); *used: the bytes the stream took. */
static int ours(const uint8_t *p, size_t n, size_t chunk, size_t len, uint8_t **out,
                size_t *used)
{
    feed f = {p, n, 0, chunk};
    inflate_in in = {NULL, 0, more, &f};
    uint8_t back[8];
    int nb = 0;
    *out = malloc(len ? len : 1);
    if (!*out)
        return INFLATE_ENOMEM;
    int r = inflate_raw(&in, *out, len, back, &nb);
    FUZZ_ASSERT(r == INFLATE_OK || r == INFLATE_EDATA || r == INFLATE_ENOMEM ||
                r == INFLATE_ETINY);
    if (r == INFLATE_OK) {
        FUZZ_ASSERT(nb >= 0 && nb <= 8 && (size_t)nb <= f.pos - in.n);
        FUZZ_ASSERT(memcmp(back, p + f.pos - in.n - (size_t)nb, (size_t)nb) == 0);
        *used = f.pos - in.n - (size_t)nb;
    }
    return r;
}

/* Asked for len bytes, inflate_raw must not succeed. */
static void refuses(const uint8_t *p, size_t n, size_t chunk, size_t len)
{
    uint8_t *out;
    size_t used;
    FUZZ_ASSERT(ours(p, n, chunk, len, &out, &used) != INFLATE_OK);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t extra[4] = {0, 1, 258, 4096};
    if (size < 1)
        return 0;
    size_t chunk = data[0] & 63, more_bytes = extra[data[0] >> 6];
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    uint8_t *zout = malloc(CAP + 1);
    if (!zout)
        return 0;
    z_stream z;
    memset(&z, 0, sizeof z);
    FUZZ_ASSERT(inflateInit2(&z, -15) == Z_OK);
    z.next_in = (Bytef *)(uintptr_t)p;
    z.avail_in = (uInt)n;
    z.next_out = zout;
    z.avail_out = CAP + 1;
    int zr = inflate(&z, Z_FINISH);
    size_t L = z.total_out, zused = z.total_in;
    inflateEnd(&z);
    if (zr == Z_STREAM_END && L <= CAP) {
        uint8_t *out;
        size_t used = 0;
        int r = ours(p, n, chunk, L, &out, &used);
        FUZZ_ASSERT(r == INFLATE_OK || r == INFLATE_ETINY || r == INFLATE_ENOMEM);
        if (r == INFLATE_OK)
            FUZZ_ASSERT(memcmp(out, zout, L) == 0 && used == zused);
        free(out);
        refuses(p, n, chunk, L + 1 + more_bytes);
        if (L > 0)
            refuses(p, n, chunk, L - 1);
    } else {
        if (L > CAP)
            L = CAP;
        refuses(p, n, chunk, L);
        refuses(p, n, chunk, L + more_bytes);
    }
    free(zout);
    return 0;
}
