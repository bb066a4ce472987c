/* inflate.h: DEFLATE (RFC 1951) decoding into a flat buffer, for speed.
 *
 * zlib stays the judge of every compressed file: idx.c takes this decoder's
 * output only when the stream also ends where, and as, zlib would accept it
 * (the gzip trailer's CRC-32 and length checked with zlib's crc32), and hands
 * anything else to zlib, which reports what is wrong. So this decoder has two
 * duties: never touch memory outside its buffers, whatever the input; and
 * succeed only on streams zlib 1.2.13 decodes to the same bytes (the same
 * rules for code sets: over-subscribed ones refused, incomplete ones only as
 * a single code of one bit; at most 286 length and 30 distance codes; no
 * distance before the output's start). The whole output is the window, so
 * there is no 32 KB window to copy through: matches are copied in place. */
#ifndef FMNIST_INFLATE_H
#define FMNIST_INFLATE_H

#include <stddef.h>
#include <stdint.h>

/* Compressed bytes, pulled as needed: p and n are the unread ones; more()
 * refills them (n > 0) and returns 1, or returns 0 at the end of the input
 * and -1 when reading failed. */
typedef struct inflate_in {
    const uint8_t *p;
    size_t n;
    int (*more)(struct inflate_in *in);
    void *ctx;
} inflate_in;

enum {
    INFLATE_OK = 0,
    INFLATE_EDATA = 1, /* not a stream of exactly len bytes (corrupt, shorter, longer) */
    INFLATE_EREAD = 2, /* more() failed */
    INFLATE_ENOMEM = 3,
    INFLATE_ETINY = 4, /* more than 16 tables built, and over one per 64 bytes
                        * of output: zlib decodes such streams quicker */
};

/* Decodes one raw deflate stream that must produce exactly len bytes into
 * out and end there (its last block's end code). The decoder reads ahead:
 * the whole bytes it took from in beyond the stream's end are returned in
 * back[0 .. *nback) (at most 8), in order, before in->p. out's bytes are
 * unspecified unless INFLATE_OK. */
int inflate_raw(inflate_in *in, uint8_t *out, size_t len, uint8_t back[8], int *nback);

#endif
