/* model_file.c: encoding, decoding and checking model files. */
#define _POSIX_C_SOURCE 200809L
#include "model_file.h"

#include "bytes.h"
#include "crc32.h"
#include "mem.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"

/* Largest file model_load reads: 8 layers of 65536 x 65536 would be absurd;
 * this bounds the read before any parsing. */
#define MODEL_FILE_MAX ((size_t)1 << 31)

static void put_floats(uint8_t *p, const float *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &f[i], 4);
        bytes_put_le32(p + 4 * i, u);
    }
}

static void get_floats(float *f, const uint8_t *p, size_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (sizeof(float) == 4) { /* the file's byte order: one copy */
        memcpy(f, p, 4 * n);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++) {
        uint32_t u = bytes_le32(p + 4 * i);
        memcpy(&f[i], &u, 4);
    }
}

static uint32_t crc(const uint8_t *p, size_t n)
{
    return fm_crc32(0, p, n);
}

/* The index of the first NaN or infinity among n floats; n when none. */
static size_t first_non_finite(const float *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(f[i]))
            return i;
    return n;
}

/* The same over n little-endian float32s in bytes: all exponent bits set
 * is a NaN or an infinity. */
static size_t first_non_finite_bytes(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((bytes_le32(p + 4 * i) & 0x7f800000u) == 0x7f800000u)
            return i;
    return n;
}

int model_encode(const mlp *m, const char *meta, const float *blocks, int nblocks,
                 uint8_t **buf, size_t *len, fm_err *e)
{
    size_t mlen = meta ? strlen(meta) : 0;
    if (mlen > MODEL_META_MAX)
        return fm_fail(e, FM_EINVAL, NULL, "metadata of %zu bytes is over %d", mlen,
                       MODEL_META_MAX);
    fm_err why;
    int rc = meta_check(meta ? meta : "", m->nconv > 0, &why);
    if (rc) /* what model_decode would refuse is not written */
        return rc == FM_ENOMEM ? fm_fail(e, rc, NULL, "out of memory")
                               : fm_fail(e, FM_EINVAL, NULL, "metadata %s", why.msg);
    if (!blocks)
        nblocks = 0;
    if (nblocks < 0 || nblocks > MODEL_MAX_BLOCKS)
        return fm_fail(e, FM_EINVAL, NULL, "%d state blocks: 0..%d supported", nblocks,
                       MODEL_MAX_BLOCKS);
    size_t L = (size_t)m->nlayers, P = m->nparams, K = (size_t)nblocks;
    size_t bad = first_non_finite(m->params, P);
    if (bad < P)
        return fm_fail(e, FM_ENUMERIC, NULL, "parameter %zu is %s: not saving the model", bad,
                       isnan(m->params[bad]) ? "NaN" : "infinite");
    if ((bad = first_non_finite(blocks, P * K)) < P * K)
        return fm_fail(e, FM_ENUMERIC, NULL, "state value %zu is %s: not saving the checkpoint",
                       bad, isnan(blocks[bad]) ? "NaN" : "infinite");
    size_t NC = (size_t)m->nconv, conv = NC ? 12 + 8 * NC : 0;
    size_t n = 20 + 4 * (L + 1) + conv + 4 + mlen + 4 * P + (K ? 4 + 4 * P * K : 0) + 4;
    uint8_t *b = mem_alloc(n), *p = b;
    if (!b)
        return fm_fail(e, FM_ENOMEM, NULL, "out of memory for a %zu-byte model file", n);
    memcpy(p, MODEL_MAGIC, 8);
    bytes_put_le32(p + 8, NC ? MODEL_FORMAT : 1); /* a network without convolutions: format 1 */
    bytes_put_le32(p + 12, K ? MODEL_FLAG_STATE : 0);
    bytes_put_le32(p + 16, (uint32_t)L);
    p += 20;
    for (size_t l = 0; l <= L; l++, p += 4)
        bytes_put_le32(p, (uint32_t)m->width[l]);
    if (NC) {
        bytes_put_le32(p, (uint32_t)NC);
        bytes_put_le32(p + 4, (uint32_t)m->conv[0].side);
        bytes_put_le32(p + 8, (uint32_t)m->conv[0].in_ch);
        p += 12;
        for (size_t c = 0; c < NC; c++, p += 8) {
            bytes_put_le32(p, (uint32_t)m->conv[c].out_ch);
            bytes_put_le32(p + 4, (uint32_t)m->conv[c].k);
        }
    }
    bytes_put_le32(p, (uint32_t)mlen);
    p += 4;
    memcpy(p, meta ? meta : "", mlen);
    p += mlen;
    put_floats(p, m->params, P);
    p += 4 * P;
    if (K) {
        bytes_put_le32(p, (uint32_t)K);
        p += 4;
        put_floats(p, blocks, K * P);
        p += 4 * P * K;
    }
    bytes_put_le32(p, crc(b, (size_t)(p - b)));
    *buf = b;
    *len = n;
    return FM_OK;
}

#define CUT_IN_HEADER ((size_t)-1)

/* Whether b (len bytes) starts as a safetensors file does: an 8-byte
 * little-endian header length that the file holds, then '{'. */
static int looks_safetensors(const uint8_t *b, size_t len)
{
    if (len < 10 || b[8] != '{')
        return 0;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | b[i];
    return n >= 2 && n <= len - 8;
}

/* The refusal of a safetensors file given as a model: what makes one of
 * it, when the name is one convert reads as safetensors (it goes by the
 * extension), which it then names. */
static int refuse_safetensors(const char *name, fm_err *e)
{
    static const char ext[] = ".safetensors";
    size_t k = sizeof ext - 1, n = strlen(name);
    const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
    int named = strlen(base) > k;
    for (size_t i = 0; named && i < k; i++) {
        char c = name[n - k + i];
        named = (c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c) == ext[i];
    }
    if (!named)
        return fm_fail(e, FM_EFORMAT, name, "a safetensors file, not an fmnist model file ('fmnist "
                       "convert' makes one from it once its name ends in .safetensors)");
    char out[300], qin[320], qout[320];
    snprintf(out, sizeof out, "%.*s.model", (int)(n - k < 250 ? n - k : 250), name);
    fm_shell_word(name, qin, sizeof qin);
    fm_shell_word(out, qout, sizeof qout);
    return fm_fail(e, FM_EFORMAT, name, "a safetensors file, not an fmnist model file (convert "
                   "it: 'fmnist convert --model %s -o %s')", qin, qout);
}

/* Bytes of a header up to its metadata length: format 2 adds the
 * convolutions after the widths. */
static size_t header_bytes(uint32_t version, uint32_t L, uint32_t NC)
{
    return 20 + 4 * ((size_t)L + 1) + (version >= 2 ? 12 + 8 * (size_t)NC : 0);
}

/* A field as the layout's checks take it: too large for an int is -1. */
static int as_int(uint32_t v)
{
    return v > INT_MAX ? -1 : (int)v;
}

/* The shape a header of format 1 or 2 describes, its values as read
 * (mlp_layout_shape checks them), and *hdr the header's length up to the
 * metadata length: 0 when it fits in len, 1 when the header is nonsense, 2
 * when the file ends inside a plausible header. */
static int header_shape(const uint8_t *b, size_t len, mlp_shape *s, size_t *hdr)
{
    uint32_t version = bytes_le32(b + 8), L = bytes_le32(b + 16), NC = 0;
    if (L < 1 || L > MLP_MAX_LAYERS || version < 1 || version > MODEL_FORMAT)
        return 1;
    if (len < header_bytes(1, L, 0) + 4)
        return 2;
    memset(s, 0, sizeof *s);
    s->nlayers = (int)L;
    for (uint32_t l = 0; l <= L; l++) {
        uint32_t w = bytes_le32(b + 20 + 4 * l);
        s->width[l] = w > MLP_MAX_WIDTH ? 0 : (int)w; /* 0: refused by the layout */
    }
    if (version >= 2) {
        const uint8_t *c = b + header_bytes(1, L, 0);
        NC = bytes_le32(c);
        if (NC < 1 || NC > MLP_MAX_CONV)
            return 1;
        if (len < header_bytes(version, L, NC) + 4)
            return 2;
        uint32_t side = bytes_le32(c + 4), ch = bytes_le32(c + 8);
        s->nconv = (int)NC;
        s->side = as_int(side);
        s->channels = as_int(ch);
        for (uint32_t i = 0; i < NC; i++) {
            uint32_t oc = bytes_le32(c + 12 + 8 * i), k = bytes_le32(c + 16 + 8 * i);
            s->conv_ch[i] = as_int(oc);
            s->conv_k[i] = as_int(k);
        }
    }
    *hdr = header_bytes(version, L, NC);
    return 0;
}

/* The length a header implies, without its state blocks (*P: the
 * parameter count); 0 when the header is nonsense, CUT_IN_HEADER when the
 * file ends inside a plausible header. */
static size_t plain_length(const uint8_t *b, size_t len, size_t *params)
{
    if (len < 20)
        return CUT_IN_HEADER;
    mlp_shape s;
    size_t hdr = 0;
    int h = header_shape(b, len, &s, &hdr);
    if (h)
        return h == 2 ? CUT_IN_HEADER : 0;
    mlp t;
    if (mlp_layout_shape(&t, &s, NULL))
        return 0;
    uint32_t mlen = bytes_le32(b + hdr);
    if (mlen > MODEL_META_MAX)
        return 0;
    *params = t.nparams;
    return hdr + 4 + mlen + 4 * t.nparams + 4;
}

/* The whole file's length with K state blocks, or 0 when K is out of range. */
static size_t with_blocks(size_t plain, size_t P, uint32_t K)
{
    return K < 1 || K > MODEL_MAX_BLOCKS ? 0 : plain + 4 + 4 * P * K;
}

/* The length a format-1 header implies; 0 when the header is nonsense,
 * CUT_IN_HEADER when the file ends inside a plausible header. */
static size_t implied_length(const uint8_t *b, size_t len)
{
    size_t P = 0, n = plain_length(b, len, &P);
    if (n == 0 || n == CUT_IN_HEADER || !(bytes_le32(b + 12) & MODEL_FLAG_STATE))
        return n;
    if (len < n) /* K is where the CRC of a plain model would be */
        return CUT_IN_HEADER;
    return with_blocks(n, P, bytes_le32(b + n - 4));
}

/* The envelope: magic, checksum (damage reported as damage, whatever the
 * version), version, flags, layers, widths and convolutions, and the exact
 * length the header implies. */
static int decode_header(const uint8_t *b, size_t len, const char *name, uint32_t *flags_out,
                         mlp_shape *shape, size_t *hdr, fm_err *e)
{
    size_t ml = len < 8 ? len : 8;
    if (len == 0)
        return fm_fail(e, FM_EFORMAT, name, "empty file, not an fmnist model");
    if (memcmp(b, MODEL_MAGIC, ml) != 0)
        return looks_safetensors(b, len) ? refuse_safetensors(name, e)
                                         : fm_fail(e, FM_EFORMAT, name, "not an fmnist model file");
    if (len < 20 + 4)
        return fm_fail(e, FM_EFORMAT, name, "truncated: %zu byte%s, too short for a model file",
                       len, fm_plural(len));
    /* Every format keeps the checksum of everything before it in its last
     * four bytes. */
    if (crc(b, len - 4) != bytes_le32(b + len - 4)) {
        size_t want = implied_length(b, len);
        if (want == CUT_IN_HEADER)
            return fm_fail(e, FM_EFORMAT, name, "truncated: %zu bytes, the file ends in its header",
                           len);
        if (want > len)
            return fm_fail(e, FM_EFORMAT, name,
                           "truncated (or its header corrupt): %zu bytes, the header implies %zu",
                           len, want);
        return fm_fail(e, FM_EFORMAT, name, "corrupt: checksum mismatch");
    }
    uint32_t version = bytes_le32(b + 8);
    if (version > MODEL_FORMAT)
        return fm_fail(e, FM_EFORMAT, name,
                       "written by a newer fmnist (format %u; this one reads formats 1 and %d)",
                       version, MODEL_FORMAT);
    if (version < 1)
        return fm_fail(e, FM_EFORMAT, name, "corrupt: format version 0");
    uint32_t flags = bytes_le32(b + 12), L = bytes_le32(b + 16);
    if (flags & ~MODEL_FLAG_STATE)
        return fm_fail(e, FM_EFORMAT, name, "unknown flags 0x%x", flags);
    if (L < 1 || L > MLP_MAX_LAYERS)
        return fm_fail(e, FM_EFORMAT, name, "%u layers: 1..%d supported", L, MLP_MAX_LAYERS);
    if (len < 20 + 4 * ((size_t)L + 1) + 4)
        return fm_fail(e, FM_EFORMAT, name, "truncated header");
    for (uint32_t l = 0; l <= L; l++) {
        uint32_t w = bytes_le32(b + 20 + 4 * l);
        if (w < 1 || w > MLP_MAX_WIDTH)
            return fm_fail(e, FM_EFORMAT, name, "layer width %u: 1..%d supported", w,
                           MLP_MAX_WIDTH);
    }
    int h = header_shape(b, len, shape, hdr);
    if (h == 1)
        return fm_fail(e, FM_EFORMAT, name, "%u convolutional layers: 1..%d supported",
                       bytes_le32(b + header_bytes(1, L, 0)), MLP_MAX_CONV);
    if (h == 2)
        return fm_fail(e, FM_EFORMAT, name, "truncated header");
    /* The layout's complaint (an FM_EINVAL of the shape) is the file's
     * format error. */
    mlp t;
    fm_err why;
    if (mlp_layout_shape(&t, shape, &why))
        return fm_fail(e, FM_EFORMAT, name, "%s", why.msg);
    size_t want = implied_length(b, len);
    if (want == 0 || want == CUT_IN_HEADER) {
        if (flags & MODEL_FLAG_STATE)
            return fm_fail(e, FM_EFORMAT, name, "state block count outside 1..%d",
                           MODEL_MAX_BLOCKS);
        return fm_fail(e, FM_EFORMAT, name, "corrupt header");
    }
    if (want != len)
        return fm_fail(e, FM_EFORMAT, name, "%zu bytes, its header implies %zu", len, want);
    *flags_out = flags;
    return FM_OK;
}

/* NaN or infinite values: checked in the bytes, whatever the caller asks
 * for (P parameters, then K state blocks of P after the count). */
static int check_finite(const uint8_t *params, const uint8_t *state, size_t P, uint32_t K,
                        const char *name, fm_err *e)
{
    size_t bad = first_non_finite_bytes(params, P);
    if (bad < P)
        return fm_fail(e, FM_EFORMAT, name, "corrupt: parameter %zu is %s", bad,
                       bytes_le32(params + 4 * bad) & 0x7fffffu ? "NaN" : "infinite");
    size_t bad_state = K ? first_non_finite_bytes(state + 4, K * P) : 0;
    if (bad_state < K * P)
        return fm_fail(e, FM_EFORMAT, name, "corrupt: state value %zu is not finite", bad_state);
    return FM_OK;
}

/* model_decode, and when own is b (a buffer of the caller's, from malloc
 * or mem_alloc) on a little-endian host, the parameters are moved to its
 * start instead of copied into a new one, and m takes it (*taken = 1):
 * loading a model then allocates, zeroes and faults in one megabyte
 * instead of two. */
static int decode(const uint8_t *b, size_t len, const char *name, mlp *m, char **meta,
                  float **blocks, int *nblocks, fm_err *e, uint8_t *own, int *taken)
{
    uint32_t flags = 0;
    mlp_shape shape;
    size_t hdr = 0;
    int rc = decode_header(b, len, name, &flags, &shape, &hdr, e);
    if (rc)
        return rc;
    const uint8_t *p = b + hdr;
    uint32_t mlen = bytes_le32(p);
    p += 4;
    for (uint32_t i = 0; i < mlen; i++)
        if (!(p[i] == '\n' || (p[i] >= 0x20 && p[i] < 0x7f)))
            return fm_fail(e, FM_EFORMAT, name, "metadata byte %u is not printable ASCII", i);
    char *mt = malloc((size_t)mlen + 1);
    if (!mt)
        return fm_fail(e, FM_ENOMEM, name, "out of memory");
    memcpy(mt, p, mlen);
    mt[mlen] = 0;
    fm_err why;
    if ((rc = meta_check(mt, shape.nconv > 0, &why))) {
        free(mt);
        return rc == FM_ENOMEM ? fm_fail(e, rc, name, "out of memory")
                               : fm_fail(e, rc, name, "metadata %s", why.msg);
    }
    mlp t;
    if ((rc = mlp_layout_shape(&t, &shape, e))) {
        free(mt);
        return fm_in_file(e, rc, name);
    }
    const uint8_t *params = p + mlen;
    const uint8_t *state = params + 4 * t.nparams;
    uint32_t K = (flags & MODEL_FLAG_STATE) ? bytes_le32(state) : 0;
    /* Not a checkpoint's buffer: its optimiser state would stay allocated. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    int in_place = own == b && K == 0 && sizeof(float) == 4;
#else
    int in_place = 0;
#endif
    float *bl = NULL;
    if ((rc = check_finite(params, state, t.nparams, K, name, e)) == FM_OK &&
        ((!in_place && !(t.params = mem_alloc(4 * t.nparams))) ||
         (blocks && K && !(bl = mem_alloc(4 * t.nparams * K)))))
        rc = fm_fail(e, FM_ENOMEM, name, "out of memory");
    if (rc) {
        free(mt);
        free(bl);
        mlp_free(&t);
        return rc;
    }
    /* Everything else out of b before the parameters may move over it. */
    if (bl)
        get_floats(bl, state + 4, K * t.nparams);
    if (in_place) {
        memmove(own, params, 4 * t.nparams);
        t.params = (float *)(void *)own;
        *taken = 1;
    } else {
        get_floats(t.params, params, t.nparams);
    }
    *m = t;
    if (meta)
        *meta = mt;
    else
        free(mt);
    if (blocks) {
        *blocks = bl;
        if (nblocks)
            *nblocks = (int)K;
    }
    return FM_OK;
}

int model_decode(const uint8_t *b, size_t len, const char *name, mlp *m, char **meta,
                 float **blocks, int *nblocks, fm_err *e)
{
    int taken = 0;
    return decode(b, len, name, m, meta, blocks, nblocks, e, NULL, &taken);
}

int model_save(const char *path, const mlp *m, const char *meta, const float *blocks,
               int nblocks, fm_err *e)
{
    uint8_t *buf;
    size_t len;
    int rc = model_encode(m, meta, blocks, nblocks, &buf, &len, e);
    if (rc)
        return fm_in_file(e, rc, path);
    rc = file_write_atomic(path, buf, len, e);
    free(buf);
    return rc;
}

/* A file longer than its header implies by more than this is refused
 * unread; up to it, it is read so that model_decode reports the damage. */
#define MODEL_SLACK ((size_t)1 << 20)

/* n bytes at offset at; -1 on failure (errno 0 when the file is shorter). */
static int read_at(int fd, uint8_t *buf, size_t n, off_t at)
{
    errno = 0;
    while (n) {
        ssize_t r = pread(fd, buf, n, at);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        buf += r;
        at += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Whether the header (head, hn bytes) declares a network that is not
 * fmnist's: then 1, with e filled. */
static int not_fmnist(const uint8_t *head, size_t hn, const char *path, fm_err *e)
{
    mlp_shape s;
    size_t hdr;
    mlp t;
    if (hn < 20 || header_shape(head, hn, &s, &hdr) || mlp_layout_shape(&t, &s, NULL) ||
        mlp_is_fmnist(&t))
        return 0; /* fmnist's, or model_decode says what is wrong */
    char shape[128];
    mlp_shape_text(&t, shape, sizeof shape);
    fm_fail(e, FM_EFORMAT, path, "a %s network; fmnist uses " MLP_FMNIST_SHAPES, shape);
    return 1;
}

/* How much of a size-byte file to read, judged from its header (head, hn
 * bytes) before anything else: 0 with e filled when it is refused unread. */
static size_t read_length(int fd, const uint8_t *head, size_t hn, size_t size, const char *path,
                          int fmnist_only, fm_err *e)
{
    if (size == 0 || memcmp(head, MODEL_MAGIC, hn < 8 ? hn : 8) != 0)
        return size; /* model_decode says what it is, from these few bytes */
    if (fmnist_only && not_fmnist(head, hn, path, e))
        return 0;
    uint32_t version = hn >= 12 ? bytes_le32(head + 8) : 0;
    size_t P = 0, want = version >= 1 && version <= MODEL_FORMAT ? plain_length(head, hn, &P) : 0;
    if (want && want != CUT_IN_HEADER && (bytes_le32(head + 12) & MODEL_FLAG_STATE)) {
        uint8_t k[4];
        want = want <= size && read_at(fd, k, 4, (off_t)(want - 4)) == 0
                   ? with_blocks(want, P, bytes_le32(k)) : CUT_IN_HEADER;
    }
    if (want == CUT_IN_HEADER || size <= MODEL_SLACK || (want && size <= want + MODEL_SLACK))
        return size;
    if (want)
        fm_fail(e, FM_EFORMAT, path, "%zu bytes, its header implies %zu: not reading it", size,
                want);
    else if (hn >= 12 && bytes_le32(head + 8) > MODEL_FORMAT)
        fm_fail(e, FM_EFORMAT, path, "written by a newer fmnist (format %u; this one reads "
                "formats 1 and %d)", bytes_le32(head + 8), MODEL_FORMAT);
    else
        fm_fail(e, FM_EFORMAT, path, "corrupt header (a file of %zu bytes)", size);
    return 0;
}

static int load(const char *path, mlp *m, char **meta, float **blocks, int *nblocks,
                int fmnist_only, fm_err *e)
{
    int fd, rc;
    uint64_t fsize;
    if ((rc = file_open_regular(path, FM_EIO, &fd, &fsize, e)))
        return rc;
    if (fsize > MODEL_FILE_MAX) {
        close(fd);
        return fm_fail(e, FM_ELIMIT, path, "%llu bytes, more than the limit of %zu",
                       (unsigned long long)fsize, MODEL_FILE_MAX);
    }
    size_t size = (size_t)fsize;
    uint8_t head[20 + 4 * (MLP_MAX_LAYERS + 1) + 12 + 8 * MLP_MAX_CONV + 4];
    size_t hn = size < sizeof head ? size : sizeof head;
    uint8_t *buf = NULL;
    if (read_at(fd, head, hn, 0) != 0)
        rc = fm_fail(e, FM_EIO, path, "read failed: %s", errno ? strerror(errno) : "file shrank");
    size_t n = rc ? 0 : read_length(fd, head, hn, size, path, fmnist_only, e);
    if (!rc && size && !n)
        rc = e ? e->code : FM_EFORMAT;
    if (!rc && !(buf = mem_alloc(n ? n : 1)))
        rc = fm_fail(e, FM_ENOMEM, path, "out of memory");
    if (!rc && read_at(fd, buf, n, 0) != 0)
        rc = fm_fail(e, FM_EIO, path, "read failed: %s", errno ? strerror(errno) : "file shrank");
    close(fd);
    int taken = 0;
    if (!rc)
        rc = decode(buf, n, path, m, meta, blocks, nblocks, e, buf, &taken);
    if (!taken)
        free(buf);
    return rc;
}

int model_load(const char *path, mlp *m, char **meta, float **blocks, int *nblocks, fm_err *e)
{
    return load(path, m, meta, blocks, nblocks, 0, e);
}

int model_load_fmnist(const char *path, mlp *m, char **meta, float **blocks, int *nblocks,
                      fm_err *e)
{
    return load(path, m, meta, blocks, nblocks, 1, e);
}
