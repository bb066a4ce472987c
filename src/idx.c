/* idx.c: IDX files, raw or gzip-wrapped, checked byte by byte. */
#define _POSIX_C_SOURCE 200809L
#include "idx.h"
#include "bytes.h"
#include "inflate.h"
#include "mem.h"
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* deflate cannot expand data by more than about 1032:1, so a gzip file of S
 * bytes cannot hold more than this; a header claiming more is a lie, caught
 * before anything is allocated. */
#define GZIP_MAX_RATIO 1040u
/* Bytes per read() of a file. The fuzz build (tests/fuzz/fuzz.mk) makes it
 * tiny, so that small inputs reach every case of data split across reads. */
#ifndef IDX_READ_CHUNK
#define IDX_READ_CHUNK (256u * 1024u)
#endif

/* Where the bytes come from: memory, or a file read in chunks. */
typedef struct src {
    int fd; /* -1 for memory */
    const uint8_t *mem;
    size_t memlen, mempos;
    uint8_t *chunk;
    const uint8_t *p; /* unconsumed bytes */
    size_t avail;
    uint64_t size; /* total bytes of the file */
} src;

/* Makes s->avail > 0 when more input exists. 1: data, 0: end, -1: errno. */
static int src_more(src *s)
{
    if (s->avail)
        return 1;
    if (s->fd < 0) {
        if (s->mempos >= s->memlen)
            return 0;
        s->p = s->mem + s->mempos;
        s->avail = s->memlen - s->mempos;
        s->mempos = s->memlen;
        return 1;
    }
    for (;;) {
        ssize_t r = read(s->fd, s->chunk, IDX_READ_CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        s->p = s->chunk;
        s->avail = (size_t)r;
        return r > 0;
    }
}

/* Copies up to n bytes; returns how many (fewer only at the end), -1 on error. */
static ptrdiff_t src_take(src *s, uint8_t *dst, size_t n)
{
    size_t got = 0;
    while (got < n) {
        int r = src_more(s);
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        size_t k = s->avail < n - got ? s->avail : n - got;
        memcpy(dst + got, s->p, k);
        s->p += k;
        s->avail -= k;
        got += k;
    }
    return (ptrdiff_t)got;
}

static int looks_like_html(const uint8_t *p, size_t n)
{
    size_t i = 0;
    if (n >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf)
        i = 3; /* UTF-8 byte order mark */
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
        i++;
    return i < n && p[i] == '<';
}

static int is_gzip(const uint8_t *p, size_t n)
{
    return n >= 2 && p[0] == 0x1f && p[1] == 0x8b;
}

static const char *kind_noun(enum idx_kind kind)
{
    return kind == IDX_IMAGES ? "images" : "labels";
}

/* Checks an IDX header (8 bytes for labels, 16 for images) and returns the
 * payload size in *payload and the count in *count. */
static int check_header(const uint8_t *h, size_t hlen, const char *name, enum idx_kind kind,
                        uint32_t *count, uint64_t *payload, fm_err *e)
{
    size_t need = kind == IDX_IMAGES ? 16 : 8;
    uint32_t magic = hlen >= 4 ? bytes_be32(h) : (uint32_t)kind;
    if (magic != (uint32_t)kind) {
        if (magic == IDX_IMAGES || magic == IDX_LABELS)
            return fm_fail(e, FM_EFORMAT, name, "is an IDX %s file, expected %s",
                           kind_noun(magic == IDX_IMAGES ? IDX_IMAGES : IDX_LABELS),
                           kind_noun(kind));
        return fm_fail(e, FM_EFORMAT, name,
                       "not an IDX %s file (magic 0x%08x, expected 0x%08x)", kind_noun(kind),
                       magic, (unsigned)kind);
    }
    if (hlen < need)
        return fm_fail(e, FM_EFORMAT, name, "truncated: %zu-byte IDX header expected, %zu read",
                       need, hlen);
    uint32_t n = bytes_be32(h + 4);
    if (n == 0)
        return fm_fail(e, FM_EFORMAT, name, "holds no %s (count 0)", kind_noun(kind));
    if (n > IDX_MAX_COUNT)
        return fm_fail(e, FM_ELIMIT, name, "header claims %u %s, more than the limit of %u", n,
                       kind_noun(kind), IDX_MAX_COUNT);
    if (kind == IDX_IMAGES) {
        uint32_t r = bytes_be32(h + 8), c = bytes_be32(h + 12);
        if (r != IDX_ROWS || c != IDX_COLS)
            return fm_fail(e, FM_EFORMAT, name, "images are %ux%u, expected %dx%d", r, c,
                           IDX_ROWS, IDX_COLS);
    }
    *count = n;
    *payload = (uint64_t)n * (kind == IDX_IMAGES ? IDX_PIXELS : 1);
    return FM_OK;
}

/* Labels lab[0..n), the file's from index first on, each 0..9. */
static int check_labels(const uint8_t *lab, size_t n, uint64_t first, const char *name, fm_err *e)
{
    for (size_t i = 0; i < n; i++)
        if (lab[i] >= IDX_CLASSES)
            return fm_fail(e, FM_EFORMAT, name, "label %u at index %llu is outside 0..%d", lab[i],
                           (unsigned long long)(first + i), IDX_CLASSES - 1);
    return FM_OK;
}

/* What n bytes of payload are: "1 label byte", "784 pixel bytes". */
static const char *payload_noun(enum idx_kind kind, uint64_t n)
{
    if (kind == IDX_IMAGES)
        return n == 1 ? "pixel byte" : "pixel bytes";
    return n == 1 ? "label byte" : "label bytes";
}

/* What a count of n records is: "1 image", "2 labels". */
static const char *count_noun(enum idx_kind kind, uint64_t n)
{
    if (kind == IDX_IMAGES)
        return n == 1 ? "image" : "images";
    return n == 1 ? "label" : "labels";
}

/* Inflates exactly n bytes into out (n may be 0: then it only checks that
 * the stream ends here). Concatenated gzip members are one stream, as gzip
 * itself reads them. *done counts the bytes produced so far, for messages. */
static int unzip_exact(z_stream *z, src *s, uint8_t *out, size_t n, int *ended,
                         const char *name, uint64_t total, uint64_t *done, fm_err *e)
{
    uint8_t scratch[1];
    int want_end = (n == 0);
    z->next_out = want_end ? scratch : out;
    z->avail_out = want_end ? sizeof scratch : (uInt)n;
    for (;;) {
        if (!want_end && z->avail_out == 0)
            return FM_OK;
        if (*ended) {
            if (want_end)
                return FM_OK;
            return fm_fail(e, FM_EFORMAT, name,
                           "truncated: gzip data ends after %llu of %llu bytes",
                           (unsigned long long)*done, (unsigned long long)total);
        }
        if (z->avail_in == 0) {
            int r = src_more(s);
            if (r < 0)
                return fm_fail(e, FM_EIO, name, "read failed: %s", strerror(errno));
            /* A member cannot be under 2 bytes: after a complete one, a
             * lone last byte is garbage, not a truncated member. */
            if (r == 0 && z->total_in < 2)
                return fm_fail(e, FM_EFORMAT, name, "trailing garbage after the gzip data");
            if (r == 0)
                return fm_fail(e, FM_EFORMAT, name,
                               "truncated gzip file: %llu of %llu bytes decompressed",
                               (unsigned long long)*done, (unsigned long long)total);
            z->next_in = (Bytef *)(uintptr_t)s->p;
            z->avail_in = (uInt)(s->avail < (1u << 30) ? s->avail : (1u << 30));
            s->p += z->avail_in;
            s->avail -= z->avail_in;
        }
        uInt before = z->avail_out;
        int ret = inflate(z, Z_NO_FLUSH);
        uInt produced = before - z->avail_out;
        *done += produced;
        if (want_end && produced)
            return fm_fail(e, FM_EFORMAT, name, "longer than its header says (%llu bytes)",
                           (unsigned long long)total);
        if (want_end) {
            z->next_out = scratch;
            z->avail_out = sizeof scratch;
        }
        if (ret == Z_STREAM_END) {
            /* Another member may follow; anything else is garbage. */
            if (z->avail_in == 0) {
                int r = src_more(s);
                if (r < 0)
                    return fm_fail(e, FM_EIO, name, "read failed: %s", strerror(errno));
                if (r) {
                    z->next_in = (Bytef *)(uintptr_t)s->p;
                    z->avail_in = (uInt)(s->avail < (1u << 30) ? s->avail : (1u << 30));
                    s->p += z->avail_in;
                    s->avail -= z->avail_in;
                }
            }
            if (z->avail_in == 0) {
                *ended = 1;
                continue;
            }
            if (z->avail_in >= 2 && !is_gzip(z->next_in, 2))
                return fm_fail(e, FM_EFORMAT, name, "trailing garbage after the gzip data");
            if (inflateReset(z) != Z_OK)
                return fm_fail(e, FM_EFORMAT, name, "corrupt gzip data");
            continue;
        }
        if (ret == Z_MEM_ERROR)
            return fm_fail(e, FM_ENOMEM, name, "out of memory while decompressing");
        if (ret == Z_DATA_ERROR || ret == Z_NEED_DICT || ret == Z_STREAM_ERROR)
            return fm_fail(e, FM_EFORMAT, name, "corrupt gzip data after %llu bytes: %s",
                           (unsigned long long)*done, z->msg ? z->msg : "invalid data");
        /* Z_OK or Z_BUF_ERROR: more input needed; the loop fetches it. */
    }
}

/* A gzip stream being inflated (unzip_exact's state). */
typedef struct gz_part {
    z_stream *z;
    int *ended;
    uint64_t *done, total;
} gz_part;

/* The next n bytes of the payload, bytes [at, at + n) of its size: from
 * the gzip stream gz, or from a raw file when gz is NULL. */
static int take_part(src *s, gz_part *gz, const char *name, enum idx_kind kind, uint8_t *buf,
                     size_t n, uint64_t at, uint64_t size, fm_err *e)
{
    if (gz)
        return unzip_exact(gz->z, s, buf, n, gz->ended, name, gz->total, gz->done, e);
    ptrdiff_t got = src_take(s, buf, n);
    if (got < 0)
        return fm_fail(e, FM_EIO, name, "read failed: %s", strerror(errno));
    if ((size_t)got != n)
        return fm_fail(e, FM_EFORMAT, name, "truncated: %llu %s expected, %llu read",
                       (unsigned long long)size, payload_noun(kind, size),
                       (unsigned long long)(at + (uint64_t)got));
    return FM_OK;
}

/* Bytes of payload read at a time when one record is picked. The fuzz
 * build makes it tiny and not a multiple of an image, so that records
 * straddle chunks. */
#ifndef IDX_PICK_CHUNK
#define IDX_PICK_CHUNK ((size_t)IDX_PIXELS * 1024)
#endif

/* The payload, size bytes, its labels checked: all of it in one block
 * (pick < 0), or, read a chunk at a time, only record pick (NULL when the
 * file has fewer records), so that a file claiming millions of images
 * costs a chunk of memory, not their size. *data: malloc'd, on success. */
static int take_payload(src *s, gz_part *gz, const char *name, enum idx_kind kind,
                        uint64_t size, int64_t pick, uint8_t **data, fm_err *e)
{
    size_t rs = kind == IDX_IMAGES ? IDX_PIXELS : 1;
    uint64_t from = pick < 0 ? 0 : (uint64_t)pick * rs;
    int whole = pick < 0;
    size_t cap = whole ? (size_t)size : (size_t)(size < IDX_PICK_CHUNK ? size : IDX_PICK_CHUNK);
    uint8_t *buf = mem_alloc(cap), *rec = NULL;
    if (!buf)
        return fm_fail(e, FM_ENOMEM, name, "out of memory for %llu bytes",
                       (unsigned long long)cap);
    if (!whole && from < size && !(rec = malloc(rs))) {
        free(buf);
        return fm_fail(e, FM_ENOMEM, name, "out of memory");
    }
    int rc = FM_OK;
    for (uint64_t at = 0; at < size && !rc; at += cap) {
        size_t n = size - at < cap ? (size_t)(size - at) : cap;
        if ((rc = take_part(s, gz, name, kind, buf, n, at, size, e)))
            break;
        if (kind == IDX_LABELS && (rc = check_labels(buf, n, at, name, e)))
            break;
        if (rec && from < at + n && from + rs > at) { /* the record, or part of it */
            uint64_t lo = from > at ? from : at, hi = from + rs < at + n ? from + rs : at + n;
            memcpy(rec + (lo - from), buf + (lo - at), (size_t)(hi - lo));
        }
    }
    if (rc || !whole) {
        free(buf);
        buf = NULL;
    }
    if (rc) {
        free(rec);
        return rc;
    }
    *data = whole ? buf : rec;
    return FM_OK;
}

static int parse_raw(src *s, const char *name, enum idx_kind kind, int64_t pick,
                     uint8_t **data, uint32_t *count, fm_err *e)
{
    uint8_t h[16];
    size_t hlen = kind == IDX_IMAGES ? 16 : 8;
    ptrdiff_t got = src_take(s, h, hlen);
    if (got < 0)
        return fm_fail(e, FM_EIO, name, "read failed: %s", strerror(errno));
    uint32_t n;
    uint64_t payload;
    int rc = check_header(h, (size_t)got, name, kind, &n, &payload, e);
    if (rc)
        return rc;
    if (s->size != hlen + payload) {
        if (s->size < hlen + payload)
            return fm_fail(e, FM_EFORMAT, name,
                           "truncated: header claims %u %s (%llu %s), file holds %llu", n,
                           count_noun(kind, n), (unsigned long long)payload,
                           payload_noun(kind, payload), (unsigned long long)(s->size - hlen));
        return fm_fail(e, FM_EFORMAT, name,
                       "%llu byte%s longer than its header says (%u %s, %llu %s)",
                       (unsigned long long)(s->size - hlen - payload),
                       fm_plural(s->size - hlen - payload), n, count_noun(kind, n),
                       (unsigned long long)payload, payload_noun(kind, payload));
    }
    uint8_t *buf = NULL;
    if ((rc = take_payload(s, NULL, name, kind, payload, pick, &buf, e)))
        return rc;
    uint8_t extra;
    if (src_take(s, &extra, 1) != 0) {
        free(buf);
        return fm_fail(e, FM_EFORMAT, name, "file grew while being read");
    }
    *data = buf;
    *count = n;
    return FM_OK;
}

/* ---- the common case, decoded fast ----
 *
 * A gzip file is decoded by inflate.c (1.5 times zlib's speed on the
 * training images; docs/speed.md) into the size its trailer states, once
 * zlib, peeking at the file's first chunk, has read an IDX header that
 * claims that size: nothing large is allocated before. The result is taken
 * only when everything checks: the deflate stream ends at that size, the
 * trailer's CRC-32 (zlib's crc32) and length match, the file ends right
 * after and the labels are 0..9. Anything else is read again from the
 * start by zlib, which judges it and says what is wrong, so the outcome
 * (data or error) is zlib's alone. */

/* The decoder's input: the file's chunks, each handed over whole. */
static int fast_more(inflate_in *in)
{
    src *s = in->ctx;
    int r = src_more(s);
    if (r > 0) {
        in->p = s->p;
        in->n = s->avail;
        s->p += s->avail;
        s->avail = 0;
    }
    return r;
}

/* The next n bytes after the decoder's read-ahead (back, *nback) are used. */
static int fast_take(inflate_in *in, const uint8_t *back, int *nback, int *used, uint8_t *dst,
                     size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (*used < *nback) {
            dst[i] = back[(*used)++];
            continue;
        }
        if (in->n == 0 && (in->more(in) <= 0 || in->n == 0))
            return -1;
        dst[i] = *in->p++;
        in->n--;
    }
    return 0;
}

/* Skips the gzip header: 10 bytes, then the optional fields in their
 * order. fast_peek had zlib check the method, the flags and any header
 * CRC first. */
static int fast_header(inflate_in *in)
{
    int none = 0, z = 0;
    uint8_t h[10], x[2];
    if (fast_take(in, NULL, &none, &z, h, 10))
        return -1;
    if (h[3] & 4) { /* FEXTRA */
        if (fast_take(in, NULL, &none, &z, x, 2))
            return -1;
        for (unsigned k = x[0] | (unsigned)x[1] << 8; k; k--)
            if (fast_take(in, NULL, &none, &z, x, 1))
                return -1;
    }
    for (unsigned flag = 8; flag <= 16; flag <<= 1) { /* FNAME, FCOMMENT */
        if (!(h[3] & flag))
            continue;
        do {
            if (fast_take(in, NULL, &none, &z, x, 1))
                return -1;
        } while (x[0]);
    }
    return h[3] & 2 ? fast_take(in, NULL, &none, &z, x, 2) : 0; /* FHCRC */
}

/* 0 when zlib, given the first chunk read (s->p, never more), inflates an
 * IDX header from it that checks and claims total bytes in all. */
static int fast_peek(const src *s, const char *name, enum idx_kind kind, size_t hlen,
                     uint32_t total)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return -1;
    uint8_t h[16];
    z.next_in = (Bytef *)(uintptr_t)s->p;
    z.avail_in = (uInt)(s->avail < (1u << 30) ? s->avail : (1u << 30));
    z.next_out = h;
    z.avail_out = (uInt)hlen;
    int r = inflate(&z, Z_NO_FLUSH);
    size_t got = hlen - z.avail_out;
    inflateEnd(&z);
    fm_err quiet;
    uint32_t n;
    uint64_t payload;
    return (r == Z_OK || r == Z_STREAM_END) && got == hlen &&
                   !check_header(h, hlen, name, kind, &n, &payload, &quiet) &&
                   hlen + payload == total
               ? 0
               : -1;
}

/* The trailer's length field: the file's last 4 bytes (little-endian). */
static int fast_isize(const src *s, uint32_t *isize)
{
    uint8_t b[4];
    if (s->size < 18)
        return -1;
    if (s->fd < 0)
        memcpy(b, s->mem + s->memlen - 4, 4);
    else if (pread(s->fd, b, 4, (off_t)(s->size - 4)) != 4)
        return -1;
    *isize = bytes_le32(b);
    return 0;
}

/* After the stream: its trailer, then the end of the file. */
static int fast_trailer(inflate_in *in, const uint8_t *back, int nback, const uint8_t *out,
                        uint32_t total)
{
    int used = 0;
    uint8_t t[8];
    if (fast_take(in, back, &nback, &used, t, 8) || used < nback || in->n ||
        in->more(in) != 0)
        return -1;
    uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), out, total);
    return crc == bytes_le32(t) && total == bytes_le32(t + 4) ? 0 : -1;
}

/* 1 when the file was read this way (*data, *count set), else 0, with s
 * back at the file's start; -1 when it cannot be (a seek failed). */
static int parse_gzip_fast(src *s, const char *name, enum idx_kind kind, uint8_t **data,
                           uint32_t *count)
{
    size_t hlen = kind == IDX_IMAGES ? 16 : 8;
    uint32_t total;
    uint8_t *out = NULL, back[8];
    inflate_in in = {NULL, 0, fast_more, s};
    int nback = 0;
    if (!fast_isize(s, &total) && total >= hlen &&
        total <= s->size * (uint64_t)GZIP_MAX_RATIO && !fast_peek(s, name, kind, hlen, total) &&
        !fast_header(&in) &&
        (out = mem_alloc(total)) && inflate_raw(&in, out, total, back, &nback) == INFLATE_OK &&
        !fast_trailer(&in, back, nback, out, total)) {
        fm_err quiet;
        uint32_t n;
        uint64_t payload;
        /* the header as fast_peek found it, claiming total bytes */
        if (!check_header(out, hlen, name, kind, &n, &payload, &quiet) &&
            (kind != IDX_LABELS || !check_labels(out + hlen, payload, 0, name, &quiet))) {
            memmove(out, out + hlen, (size_t)payload);
            *data = out;
            *count = n;
            return 1;
        }
    }
    free(out);
    s->avail = 0;
    s->mempos = 0;
    return s->fd < 0 || lseek(s->fd, 0, SEEK_SET) == 0 ? 0 : -1;
}

static int parse_gzip(src *s, const char *name, enum idx_kind kind, int64_t pick,
                      uint8_t **data, uint32_t *count, fm_err *e)
{
    if (pick < 0) {
        int r = parse_gzip_fast(s, name, kind, data, count);
        if (r > 0)
            return FM_OK;
        if (r < 0)
            return fm_fail(e, FM_EIO, name, "cannot read it again: %s", strerror(errno));
    }
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return fm_fail(e, FM_ENOMEM, name, "cannot start gzip decompression");
    uint8_t h[16];
    size_t hlen = kind == IDX_IMAGES ? 16 : 8;
    uint8_t *buf = NULL;
    int ended = 0, rc;
    uint64_t done = 0, payload = 0;
    uint32_t n = 0;
    if ((rc = unzip_exact(&z, s, h, hlen, &ended, name, hlen, &done, e)))
        goto out;
    if ((rc = check_header(h, hlen, name, kind, &n, &payload, e)))
        goto out;
    if (payload > s->size * (uint64_t)GZIP_MAX_RATIO) {
        rc = fm_fail(e, FM_EFORMAT, name,
                     "header claims %u %s (%llu bytes) but a %llu-byte gzip file cannot hold "
                     "that much",
                     n, count_noun(kind, n), (unsigned long long)payload,
                     (unsigned long long)s->size);
        goto out;
    }
    gz_part gz = {&z, &ended, &done, hlen + payload};
    if ((rc = take_payload(s, &gz, name, kind, payload, pick, &buf, e)))
        goto out;
    if ((rc = unzip_exact(&z, s, NULL, 0, &ended, name, hlen + payload, &done, e)))
        goto out;
    *data = buf;
    *count = n;
    buf = NULL;
out:
    free(buf);
    inflateEnd(&z);
    return rc;
}

/* Looks at the first bytes and dispatches; wrap says what the name promised. */
static int parse_src(src *s, const char *name, int wrap, enum idx_kind kind, int64_t pick,
                     uint8_t **data, uint32_t *count, fm_err *e)
{
    int r = src_more(s);
    if (r < 0)
        return fm_fail(e, FM_EIO, name, "read failed: %s", strerror(errno));
    if (r == 0)
        return fm_fail(e, FM_EFORMAT, name, "empty file");
    int gz = is_gzip(s->p, s->avail);
    if (wrap == IDX_WRAP_GZIP && !gz) {
        if (s->avail >= 4 && bytes_be32(s->p) == (uint32_t)kind)
            return fm_fail(e, FM_EFORMAT, name,
                           "named .gz but holds uncompressed IDX data (already decompressed?); "
                           "rename it without .gz");
        if (looks_like_html(s->p, s->avail))
            return fm_fail(e, FM_EFORMAT, name,
                           "is an HTML page, not gzip data (a failed download?)");
        return fm_fail(e, FM_EFORMAT, name, "not gzip data although named .gz");
    }
    if (wrap == IDX_WRAP_RAW && gz)
        return fm_fail(e, FM_EFORMAT, name,
                       "holds gzip data but is not named .gz; rename it to end in .gz");
    if (!gz && looks_like_html(s->p, s->avail))
        return fm_fail(e, FM_EFORMAT, name, "is an HTML page, not IDX data (a failed download?)");
    return gz ? parse_gzip(s, name, kind, pick, data, count, e)
              : parse_raw(s, name, kind, pick, data, count, e);
}

int idx_parse(const uint8_t *buf, size_t len, const char *name, int wrap, enum idx_kind kind,
              uint8_t **data, uint32_t *count, fm_err *e)
{
    src s = {.fd = -1, .mem = buf, .memlen = len, .size = len};
    return parse_src(&s, name, wrap, kind, -1, data, count, e);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int read_file(const char *path, enum idx_kind kind, int64_t pick, uint8_t **data,
                     uint32_t *count, fm_err *e)
{
    int fd;
    uint64_t size;
    int rc = file_open_regular(path, FM_EFORMAT, &fd, &size, e);
    if (rc)
        return rc;
    src s = {.fd = fd, .size = size};
    s.chunk = malloc(IDX_READ_CHUNK);
    if (!s.chunk) {
        close(fd);
        return fm_fail(e, FM_ENOMEM, path, "out of memory");
    }
    rc = parse_src(&s, path, ends_with(path, ".gz") ? IDX_WRAP_GZIP : IDX_WRAP_RAW, kind, pick,
                   data, count, e);
    free(s.chunk);
    close(fd);
    return rc;
}

int idx_read_file(const char *path, enum idx_kind kind, uint8_t **data, uint32_t *count,
                  fm_err *e)
{
    return read_file(path, kind, -1, data, count, e);
}

int idx_read_one(const char *path, enum idx_kind kind, uint32_t index, uint8_t *rec,
                 uint32_t *count, fm_err *e)
{
    uint8_t *got = NULL;
    uint32_t n = 0;
    int rc = read_file(path, kind, index, &got, &n, e);
    if (rc)
        return rc;
    if (index < n)
        memcpy(rec, got, kind == IDX_IMAGES ? IDX_PIXELS : 1);
    free(got);
    *count = n;
    return FM_OK;
}

int idx_load_one(const char *images_path, const char *labels_path, uint32_t index,
                 uint8_t pixels[IDX_PIXELS], uint8_t *label, uint32_t *count, fm_err *e)
{
    uint8_t img[IDX_PIXELS], lab;
    uint32_t ni = 0, nl = 0;
    int rc = idx_read_one(images_path, IDX_IMAGES, index, img, &ni, e);
    if (!rc)
        rc = idx_read_one(labels_path, IDX_LABELS, index, &lab, &nl, e);
    if (rc)
        return rc;
    if (nl != ni)
        return fm_fail(e, FM_EFORMAT, labels_path, "holds %u %s but %s holds %u %s", nl,
                       count_noun(IDX_LABELS, nl), images_path, ni, count_noun(IDX_IMAGES, ni));
    if (index < ni) {
        memcpy(pixels, img, IDX_PIXELS);
        *label = lab;
    }
    *count = ni;
    return FM_OK;
}

int idx_load(const char *images_path, const char *labels_path, idx_set *out, fm_err *e)
{
    uint8_t *img = NULL, *lab = NULL;
    uint32_t ni = 0, nl = 0;
    int rc = idx_read_file(images_path, IDX_IMAGES, &img, &ni, e);
    if (rc)
        return rc;
    rc = idx_read_file(labels_path, IDX_LABELS, &lab, &nl, e);
    if (rc) {
        free(img);
        return rc;
    }
    if (ni != nl) {
        free(img);
        free(lab);
        return fm_fail(e, FM_EFORMAT, labels_path, "holds %u %s but %s holds %u %s", nl,
                       count_noun(IDX_LABELS, nl), images_path, ni, count_noun(IDX_IMAGES, ni));
    }
    out->n = ni;
    out->images = img;
    out->labels = lab;
    return FM_OK;
}

void idx_free(idx_set *s)
{
    if (!s)
        return;
    free(s->images);
    free(s->labels);
    s->images = s->labels = NULL;
    s->n = 0;
}

const char *idx_images_name(enum idx_split split)
{
    return split == IDX_TRAIN ? "train-images-idx3-ubyte" : "t10k-images-idx3-ubyte";
}

const char *idx_labels_name(enum idx_split split)
{
    return split == IDX_TRAIN ? "train-labels-idx1-ubyte" : "t10k-labels-idx1-ubyte";
}

/* 1: path is a regular file; 0: nothing is there; -1: something else is
 * (a FIFO, a directory, a device, a symlink loop, ...), said in e. */
static int probe(const char *path, fm_err *e)
{
    struct stat st;
    if (stat(path, &st) == 0)
        return S_ISREG(st.st_mode) ? 1
               : (fm_fail(e, FM_EIO, path, "is %s, not a regular file", file_kind(st.st_mode)), -1);
    if (errno == ENOENT || errno == ENOTDIR)
        return 0;
    fm_fail(e, FM_EIO, path, "cannot open: %s", strerror(errno));
    return -1;
}

/* dir/name or dir/name.gz, whichever exists (raw first): 1 found, 0
 * neither is there, -1 one is there but unusable (said in e). */
static int find_one(const char *dir, const char *name, char *out, size_t cap, fm_err *e)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap)
        return 0;
    int raw = probe(out, e);
    if (raw)
        return raw;
    n = snprintf(out, cap, "%s/%s.gz", dir, name);
    return n > 0 && (size_t)n < cap ? probe(out, e) : 0;
}

int idx_locate(const char *dir, const char *env_dir, const char *home, enum idx_split split,
               char *images, char *labels, size_t cap, fm_err *e)
{
    char torch_dir[1024] = "";
    const char *dirs[4];
    int nd = 0;
    if (dir && *dir) {
        dirs[nd++] = dir;
    } else if (env_dir && *env_dir) {
        dirs[nd++] = env_dir;
    } else {
        dirs[nd++] = "./data";
        dirs[nd++] = "/usr/share/datasets/fashion-mnist";
        if (home && *home) {
            int n = snprintf(torch_dir, sizeof torch_dir, "%s/.pytorch/F_MNIST_data/FashionMNIST/raw",
                             home);
            if (n > 0 && (size_t)n < sizeof torch_dir)
                dirs[nd++] = torch_dir;
        }
    }
    char img[4096], lab[4096];
    for (int i = 0; i < nd; i++) {
        int fi = find_one(dirs[i], idx_images_name(split), img, sizeof img, e);
        int fl = fi < 0 ? 0 : find_one(dirs[i], idx_labels_name(split), lab, sizeof lab, e);
        if (fi < 0 || fl < 0)
            return FM_EIO;
        if (fi && fl) {
            if (strlen(img) >= cap || strlen(lab) >= cap)
                return fm_fail(e, FM_EINVAL, dirs[i], "path too long");
            strcpy(images, img);
            strcpy(labels, lab);
            return FM_OK;
        }
    }
    char where[400] = "";
    for (int i = 0; i < nd; i++) {
        size_t used = strlen(where);
        snprintf(where + used, sizeof where - used, "%s%s", i ? ", " : "", dirs[i]);
    }
    return fm_fail(e, FM_ENOTFOUND, idx_images_name(split),
                   "not found (with %s, raw or .gz) in %s%s", idx_labels_name(split), where,
                   dir && *dir ? " (--data)" : env_dir && *env_dir ? " ($FMNIST_DATA)" : "");
}

void idx_norm_table(float table[256])
{
    /* ToTensor: float(p) / 255; Normalize: (x - 0.5) / 0.5; each a float32 op. */
    for (int p = 0; p < 256; p++) {
        float x = (float)p / 255.0f;
        table[p] = (x - 0.5f) / 0.5f;
    }
}
