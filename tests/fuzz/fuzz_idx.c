/* fuzz_idx.c: the IDX loader on any bytes, raw or gzip, from memory
 * (idx_parse) and from a file (idx_read_file).
 *
 * Input: one selector byte, then the file. Selector bit 0: 0 parses images,
 * 1 labels; (selector >> 1) % 3: what the file's name promised: 0 nothing
 * (judge by content), 1 raw, 2 gzip.
 *
 * On success the result is checked against an independent reading: the
 * bytes after the header for raw files, zlib inflating every member for
 * gzip ones. The same bytes are then written to a file named as promised
 * (".gz" or not; by content when nothing was promised) and read back by
 * idx_read_file, which streams them in chunks: it must agree, status and
 * data. The fuzz build makes those chunks 61 bytes (IDX_READ_CHUNK), so
 * headers and gzip members split across reads in every way. And
 * idx_read_one, which checks the file whole but keeps one record, must
 * agree too: the same status, the same count, and the record (the first,
 * the middle one, the last, or none past the end, chosen by the selector's
 * bits 3-4) the one idx_parse gave; its chunks are 100 bytes in the fuzz
 * build (IDX_PICK_CHUNK), so images straddle them.
 *
 * The libFuzzer build adds a mutator that, half the time, edits the IDX
 * bytes inside a gzip file and compresses them again, so that mutations
 * reach the header checks through valid gzip streams. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include "fuzz.h"
#include "bytes.h"
#include "idx.h"

static int is_gzip(const uint8_t *p, size_t n)
{
    return n >= 2 && p[0] == 0x1f && p[1] == 0x8b;
}

/* Inflates every gzip member of in as one stream, as gzip -d does, into
 * out (cap bytes). Returns the length, or (size_t)-1 when the data is not
 * gzip members back to back or would not fit. */
static size_t inflate_all(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return (size_t)-1;
    uint8_t spare;
    size_t used = 0, result = (size_t)-1;
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    for (;;) {
        /* One byte past cap goes to spare, to tell "full" from "more". */
        z.next_out = used < cap ? out + used : &spare;
        z.avail_out = used < cap ? (uInt)(cap - used) : 1;
        int ret = inflate(&z, Z_NO_FLUSH);
        used = used < cap ? (size_t)(z.next_out - out) : cap + (z.avail_out == 0);
        if (used > cap)
            break;
        if (ret == Z_STREAM_END) {
            if (z.avail_in == 0) {
                result = used;
                break;
            }
            if (z.avail_in < 2 || !is_gzip(z.next_in, z.avail_in) || inflateReset(&z) != Z_OK)
                break;
            continue;
        }
        if (ret != Z_OK)
            break; /* corrupt, or Z_BUF_ERROR: truncated */
    }
    inflateEnd(&z);
    return result;
}

/* The files the input is also written to: in /dev/shm when there is one
 * (no disk traffic), in a directory made once and removed at exit. */
static char tmp_dir[512], tmp_raw[600], tmp_gz[600];

static void remove_tmp(void)
{
    unlink(tmp_raw);
    unlink(tmp_gz);
    rmdir(tmp_dir);
}

static int make_tmp(void)
{
    static int tried;
    if (tried)
        return tmp_dir[0] != 0;
    tried = 1;
    const char *bases[3] = {"/dev/shm", getenv("TMPDIR"), "/tmp"};
    for (int i = 0; i < 3; i++) {
        if (!bases[i] || !*bases[i])
            continue;
        snprintf(tmp_dir, sizeof tmp_dir, "%s/fmnist-fuzz-XXXXXX", bases[i]);
        if (mkdtemp(tmp_dir)) {
            snprintf(tmp_raw, sizeof tmp_raw, "%s/fuzz.idx", tmp_dir);
            snprintf(tmp_gz, sizeof tmp_gz, "%s/fuzz.idx.gz", tmp_dir);
            atexit(remove_tmp);
            return 1;
        }
    }
    tmp_dir[0] = 0;
    return 0;
}

static int write_file(const char *path, const uint8_t *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return 0;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) {
            close(fd);
            return 0;
        }
        p += w;
        n -= (size_t)w;
    }
    return close(fd) == 0;
}

/* idx_read_one of the file at path: status rc as idx_parse's, and the
 * record `which` picks of out (count records). */
static void check_read_one(const char *path, enum idx_kind kind, int rc, const uint8_t *out,
                           uint32_t count, unsigned which)
{
    if (rc == FM_ENOMEM)
        return; /* the whole payload did not fit; one record may */
    uint32_t index = which == 0 ? 0 : which == 1 ? count / 2 : which == 2 && count ? count - 1
                                                                                    : count;
    size_t rs = kind == IDX_IMAGES ? IDX_PIXELS : 1;
    uint8_t rec[IDX_PIXELS], keep[IDX_PIXELS];
    memset(rec, 0x5a, sizeof rec);
    memcpy(keep, rec, sizeof rec);
    uint32_t n = 77;
    fm_err e;
    memset(&e, 0, sizeof e);
    int orc = idx_read_one(path, kind, index, rec, &n, &e);
    FUZZ_ASSERT(orc == rc);
    if (orc != FM_OK) {
        fuzz_check_err(&e, orc, path);
        FUZZ_ASSERT(n == 77 && memcmp(rec, keep, sizeof rec) == 0);
        return;
    }
    FUZZ_ASSERT(n == count);
    if (index < count)
        FUZZ_ASSERT(memcmp(rec, out + (size_t)index * rs, rs) == 0);
    else
        FUZZ_ASSERT(memcmp(rec, keep, sizeof rec) == 0);
}

/* idx_read_file on the input as a file must end as idx_parse did: status
 * rc, and on success count items equal to out (n bytes). Messages may
 * differ: a few checks look only at the first chunk read. Then
 * check_read_one. */
static void check_file_read(const uint8_t *buf, size_t len, int wrap, enum idx_kind kind, int rc,
                            const uint8_t *out, uint32_t count, size_t n, unsigned which)
{
    static uint8_t untouched;
    int gz_name = wrap == IDX_WRAP_GZIP || (wrap == IDX_WRAP_ANY && is_gzip(buf, len));
    const char *path = gz_name ? tmp_gz : tmp_raw;
    if (!make_tmp() || !write_file(path, buf, len))
        return; /* no place to write: only the memory reading is tested */
    uint8_t *fout = &untouched;
    uint32_t fcount = 77;
    fm_err e;
    memset(&e, 0, sizeof e);
    int frc = idx_read_file(path, kind, &fout, &fcount, &e);
    FUZZ_ASSERT(frc == rc);
    check_read_one(path, kind, rc, out, count, which);
    if (frc != FM_OK) {
        fuzz_check_err(&e, frc, path);
        FUZZ_ASSERT(fout == &untouched && fcount == 77);
        return;
    }
    FUZZ_ASSERT(fcount == count);
    FUZZ_ASSERT(memcmp(fout, out, n) == 0);
    free(fout);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int wraps[3] = {IDX_WRAP_ANY, IDX_WRAP_RAW, IDX_WRAP_GZIP};
    static uint8_t untouched;
    if (size < 1)
        return 0;
    enum idx_kind kind = (data[0] & 1) ? IDX_LABELS : IDX_IMAGES;
    int wrap = wraps[(data[0] >> 1) % 3];
    const uint8_t *buf = data + 1;
    size_t len = size - 1;

    uint8_t *out = &untouched;
    uint32_t count = 77;
    fm_err e;
    memset(&e, 0, sizeof e);
    int rc = idx_parse(buf, len, "fuzz.idx", wrap, kind, &out, &count, &e);
    if (rc != FM_OK) {
        fuzz_check_err(&e, rc, "fuzz.idx");
        FUZZ_ASSERT(rc == FM_EFORMAT || rc == FM_ELIMIT || rc == FM_ENOMEM);
        FUZZ_ASSERT(out == &untouched && count == 77);
        check_file_read(buf, len, wrap, kind, rc, NULL, 0, 0, (data[0] >> 3) & 3);
        return 0;
    }

    size_t hlen = kind == IDX_IMAGES ? 16 : 8;
    FUZZ_ASSERT(count >= 1 && count <= IDX_MAX_COUNT);
    size_t n = (size_t)count * (kind == IDX_IMAGES ? IDX_PIXELS : 1);
    int gz = is_gzip(buf, len);
    FUZZ_ASSERT(wrap == IDX_WRAP_ANY || wrap == (gz ? IDX_WRAP_GZIP : IDX_WRAP_RAW));
    if (gz) {
        uint8_t *ref = malloc(hlen + n);
        FUZZ_ASSERT(ref != NULL);
        FUZZ_ASSERT(inflate_all(buf, len, ref, hlen + n) == hlen + n);
        FUZZ_ASSERT(bytes_be32(ref) == (uint32_t)kind && bytes_be32(ref + 4) == count);
        FUZZ_ASSERT(memcmp(ref + hlen, out, n) == 0);
        free(ref);
    } else {
        FUZZ_ASSERT(len == hlen + n);
        FUZZ_ASSERT(bytes_be32(buf) == (uint32_t)kind && bytes_be32(buf + 4) == count);
        FUZZ_ASSERT(memcmp(buf + hlen, out, n) == 0);
    }
    if (kind == IDX_LABELS)
        for (size_t i = 0; i < n; i++)
            FUZZ_ASSERT(out[i] < IDX_CLASSES);
    check_file_read(buf, len, wrap, kind, rc, out, count, n, (data[0] >> 3) & 3);
    free(out);
    return 0;
}

#ifdef FUZZ_LIBFUZZER
/* Writes in[0..n) gzip-compressed at level to out (cap bytes); in two
 * members when split (0 < split < n). Returns the length, 0 if it does
 * not fit. */
static size_t gzip_to(const uint8_t *in, size_t n, size_t split, int level, uint8_t *out,
                      size_t cap)
{
    size_t used = 0;
    size_t parts[2][2] = {{0, split && split < n ? split : n}, {split && split < n ? split : n, n}};
    for (int k = 0; k < 2; k++) {
        size_t a = parts[k][0], b = parts[k][1];
        if (k == 1 && a == b)
            break;
        z_stream z;
        memset(&z, 0, sizeof z);
        /* memLevel 7 keeps each of zlib's blocks under 128 KB, the size
         * above which ASan maps and unmaps memory on every call. */
        if (deflateInit2(&z, level, Z_DEFLATED, 16 + MAX_WBITS, 7, Z_DEFAULT_STRATEGY) != Z_OK)
            return 0;
        z.next_in = (Bytef *)(uintptr_t)(in + a);
        z.avail_in = (uInt)(b - a);
        z.next_out = out + used;
        z.avail_out = (uInt)(cap - used);
        int ret = deflate(&z, Z_FINISH);
        used += z.total_out;
        deflateEnd(&z);
        if (ret != Z_STREAM_END)
            return 0;
    }
    return used;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    static uint8_t *raw; /* reused: a fresh max_size block per call costs more than the rest */
    static size_t raw_cap;
    if (size >= 3 && max_size > 64 && is_gzip(data + 1, size - 1) && (seed & 1)) {
        if (raw_cap < max_size) {
            free(raw);
            raw_cap = 0;
            if ((raw = malloc(max_size)))
                raw_cap = max_size;
        }
        size_t n = raw ? inflate_all(data + 1, size - 1, raw, max_size) : (size_t)-1;
        if (n != (size_t)-1) {
            n = LLVMFuzzerMutate(raw, n, max_size);
            size_t split = (seed >> 5) % 4 == 0 && n > 1 ? 1 + (seed >> 7) % n : 0;
            size_t m = gzip_to(raw, n, split, (int)((seed >> 1) % 10), data + 1, max_size - 1);
            if (m)
                return 1 + m;
            /* Did not fit, and data was overwritten: mutate what is there. */
        }
    }
    return LLVMFuzzerMutate(data, size, max_size);
}
#endif
