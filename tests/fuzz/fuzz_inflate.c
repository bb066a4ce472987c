/* fuzz_inflate.c: inflate_raw (inflate.c) against zlib on any bytes.
 *
 * Input: one selector byte, then a raw deflate stream. The selector's low
 * 6 bits are the size of the chunks the stream is handed over in (0: all
 * at once). zlib decodes the stream first (up to 1 MB of output):
 *   - when it ends there, after L bytes, inflate_raw must decode it to the
 *     same L bytes, end at the same byte and give back what it read past
 *     the end; asked for L - 1 or L + 1 bytes, it must fail;
 *   - when zlib fails (damaged, truncated, or over 1 MB), inflate_raw must
 *     fail too, asked for as many bytes as zlib produced (or any other
 *     count: a stream that inflate_raw accepted would be one zlib accepts).
 * So inflate_raw accepts exactly what zlib accepts, with the same bytes;
 * the sanitizers check it never reads or writes outside its buffers. */
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

/* inflate_raw into out (len bytes); *used: the bytes the stream took. */
static int ours(const uint8_t *p, size_t n, size_t chunk, uint8_t *out, size_t len, size_t *used)
{
    feed f = {p, n, 0, chunk};
    inflate_in in = {NULL, 0, more, &f};
    uint8_t back[8];
    int nb = 0;
    int r = inflate_raw(&in, out, len, back, &nb);
    FUZZ_ASSERT(r == INFLATE_OK || r == INFLATE_EDATA || r == INFLATE_ENOMEM);
    if (r == INFLATE_OK) {
        FUZZ_ASSERT(nb >= 0 && nb <= 8 && (size_t)nb <= f.pos - in.n);
        FUZZ_ASSERT(memcmp(back, p + f.pos - in.n - (size_t)nb, (size_t)nb) == 0);
        *used = f.pos - in.n - (size_t)nb;
    }
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t chunk = data[0] & 63;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    uint8_t *zout = malloc(CAP + 1), *out = malloc(CAP + 2);
    if (!zout || !out) {
        free(zout), free(out);
        return 0;
    }
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
    size_t used = 0;
    if (zr == Z_STREAM_END && L <= CAP) {
        FUZZ_ASSERT(ours(p, n, chunk, out, L, &used) == INFLATE_OK);
        FUZZ_ASSERT(memcmp(out, zout, L) == 0 && used == zused);
        FUZZ_ASSERT(ours(p, n, chunk, out, L + 1, &used) == INFLATE_EDATA);
        if (L > 0)
            FUZZ_ASSERT(ours(p, n, chunk, out, L - 1, &used) == INFLATE_EDATA);
    } else {
        FUZZ_ASSERT(ours(p, n, chunk, out, L <= CAP ? L : CAP, &used) == INFLATE_EDATA);
    }
    free(zout);
    free(out);
    return 0;
}
