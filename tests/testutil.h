/* testutil.h: what every test program includes: cmocka and small helpers
 * for temporary files, gzip and running the built binary. Header-only. */
#ifndef FMNIST_TESTUTIL_H
#define FMNIST_TESTUTIL_H

#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "idx.h"

/* TU_UNDER_ASAN: defined in an AddressSanitizer build (gcc or clang), where
 * ASan owns malloc and resident memory says nothing of the program's. */
#if defined(__SANITIZE_ADDRESS__)
#define TU_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TU_UNDER_ASAN 1
#endif
#endif

/* A fresh directory under $TMPDIR (or /tmp), removed by tu_rmtree. */
static inline char *tu_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char *p = malloc(4096);
    assert_non_null(p);
    snprintf(p, 4096, "%s/fmnist-test-XXXXXX", base && *base ? base : "/tmp");
    assert_non_null(mkdtemp(p));
    return p;
}

static inline int tu_rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    chmod(path, 0700);
    return remove(path);
}

static inline void tu_rmtree(char *dir)
{
    if (!dir)
        return;
    chmod(dir, 0700);
    nftw(dir, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

static inline void tu_write(const char *path, const void *buf, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Reads a whole file; returns NULL when it does not exist. */
static inline uint8_t *tu_read(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    uint8_t *b = malloc(cap);
    size_t r;
    while ((r = fread(b + len, 1, cap - len, f)) > 0) {
        len += r;
        if (len == cap)
            b = realloc(b, cap *= 2);
    }
    fclose(f);
    *n = len;
    return b;
}

/* gzip-wraps a buffer (level 6, no name, zero time). */
static inline uint8_t *tu_gzip(const uint8_t *buf, size_t n, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, (uLong)n) + 64;
    uint8_t *out = malloc(cap);
    z.next_in = (Bytef *)(uintptr_t)buf;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    *out_len = z.total_out;
    deflateEnd(&z);
    return out;
}

/* Runs a shell command line; stdout and stderr are captured into malloc'd
 * strings (when out/err are not NULL). Returns the exit status, or 128 + N
 * when killed by signal N. The command gets SIGINT, SIGTERM and SIGHUP at
 * their defaults, whatever this process inherited: fmnist leaves a signal
 * ignored as it found it (as under nohup), and a test that stops training
 * with a signal must not depend on how make check was started (a script's
 * background job ignores SIGINT). */
static inline int tu_run(const char *cmd, char **out, char **err)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    char *dir = tu_tmpdir();
    char o[4200], e[4200];
    snprintf(o, sizeof o, "%s/out", dir);
    snprintf(e, sizeof e, "%s/err", dir);
    size_t fl = strlen(cmd) + strlen(o) + strlen(e) + 32;
    char *full = malloc(fl);
    assert_non_null(full);
    snprintf(full, fl, "(%s) >'%s' 2>'%s'", cmd, o, e);
    int st = system(full);
    free(full);
    size_t n = 0;
    if (out) {
        n = 0;
        *out = (char *)tu_read(o, &n);
        *out = realloc(*out, n + 1);
        (*out)[n] = 0;
    }
    if (err) {
        n = 0;
        *err = (char *)tu_read(e, &n);
        *err = realloc(*err, n + 1);
        (*err)[n] = 0;
    }
    tu_rmtree(dir);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return WEXITSTATUS(st);
}

/* The binary under test: $FMNIST_BIN, else ./fmnist. */
static inline const char *tu_bin(void)
{
    const char *b = getenv("FMNIST_BIN");
    return b && *b ? b : "./fmnist";
}

/* Runs the binary under test with printf-formatted arguments (see tu_run). */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static inline int tu_fmnist(char **out, char **err, const char *fmt, ...)
{
    char args[8192], cmd[8192 + 1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s", tu_bin(), args);
    return tu_run(cmd, out, err);
}

/* 1 when both files exist with the same bytes. */
static inline int tu_same_file(const char *a, const char *b)
{
    size_t na = 0, nb = 0;
    uint8_t *x = tu_read(a, &na), *y = tu_read(b, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

static inline int tu_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* How many temporaries file_write_atomic left in dir (names with ".tmp-"). */
static inline int tu_temporaries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *de; (de = readdir(d));)
        n += strstr(de->d_name, ".tmp-") != NULL;
    closedir(d);
    return n;
}

/* The committed sample's split ("train" or "t10k") into *out: 0, or -1
 * with the reason on stderr (a setup's return value). */
static inline int tu_load_sample(const char *split, idx_set *out)
{
    char images[128], labels[128];
    snprintf(images, sizeof images, "data/sample/%s-images-idx3-ubyte.gz", split);
    snprintf(labels, sizeof labels, "data/sample/%s-labels-idx1-ubyte.gz", split);
    fm_err e;
    if (idx_load(images, labels, out, &e)) {
        fprintf(stderr, "%s: %s\n", e.file, e.msg);
        return -1;
    }
    return 0;
}

/* A usage error: status 2, nothing on stdout, and on stderr exactly the
 * line naming the option (or argument) at fault, then the hint. */
static inline void tu_expect_usage_error(const char *args, const char *line)
{
    char *out, *err;
    int rc = tu_fmnist(&out, &err, "%s", args);
    const char *cmds[] = {"train", "eval", "classify", "export", "convert"};
    char want[1024];
    snprintf(want, sizeof want, "%s\nTry 'fmnist --help'.\n", line);
    for (int c = 0; c < 5; c++) {
        size_t n = strlen(cmds[c]);
        if (!strncmp(args, cmds[c], n) && (args[n] == ' ' || !args[n]))
            snprintf(want, sizeof want, "%s\nTry 'fmnist %s --help'.\n", line, cmds[c]);
    }
    if (rc != 2 || strcmp(err, want) != 0 || out[0])
        fail_msg("'fmnist %s': status %d, stdout '%s', stderr:\n%s\nexpected status 2 and:\n%s",
                 args, rc, out, err, want);
    free(out), free(err);
}

#endif
