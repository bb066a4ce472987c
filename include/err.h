/* err.h: how the fmnist library reports failure.
 *
 * Every function that can fail returns an int status: FM_OK (0) or one of the
 * FM_E* codes below. When it fails it also fills an optional fm_err with the
 * file the fault is in and one line saying what is wrong, and leaves its
 * outputs untouched. The library never prints and never exits; the CLI turns
 * an fm_err into "fmnist: FILE: what is wrong" and an exit status. */
#ifndef FMNIST_ERR_H
#define FMNIST_ERR_H

#include <stddef.h>

enum {
    FM_OK = 0,
    FM_ENOMEM,    /* an allocation failed */
    FM_EIO,       /* open/read/write/rename/fsync failed (errno text in msg) */
    FM_EFORMAT,   /* the input is malformed, truncated, corrupt or unsupported */
    FM_EINVAL,    /* an argument or option value is invalid */
    FM_ENOTFOUND, /* a file or data set could not be found */
    FM_ENUMERIC,  /* a NaN or infinity appeared (training diverged) */
    FM_EINTR,     /* stopped early on request (signal) */
    FM_ELIMIT     /* the input is well formed but exceeds a documented limit */
};

typedef struct fm_err {
    int code;
    char file[512]; /* file or object the fault is in; "" when none */
    char msg[512];  /* what is wrong: one line, no trailing newline */
} fm_err;

/* Fills *e (when e is not NULL) and returns code, so a failing path reads
 * `return fm_fail(e, FM_EFORMAT, path, "bad magic 0x%08x", m);`.
 * file may be NULL. Long texts are truncated, never overflowed. Control
 * characters (a newline or an escape in an option value or a file name)
 * become '?', so file and msg are always one printable line. */
int fm_fail(fm_err *e, int code, const char *file, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Sets e->file (when e is not NULL) and returns code: for passing on a
 * failure from a call that did not know the file name. */
int fm_in_file(fm_err *e, int code, const char *file);

/* Copies src into dst (cap bytes, NUL-terminated, truncated if need be)
 * with every control character shown as '?': C0, DEL and the UTF-8 form of
 * C1 (one '?' for its two bytes). What fm_fail does to its texts, for the
 * CLI to show any name the same way. Returns the length written. */
size_t fm_printable(char *dst, size_t cap, const char *src);

/* "s" unless n is 1, for a count in a message: "%zu byte%s", n,
 * fm_plural(n) ("1 byte", "2 bytes"). */
static inline const char *fm_plural(unsigned long long n)
{
    return n == 1 ? "" : "s";
}

/* s as one POSIX shell word, for a command a message gives to paste: as it
 * is when it holds only safe characters, else in double quotes with ", \,
 * $ and ` escaped; cut to fit n bytes. */
void fm_shell_word(const char *s, char *out, size_t n);

/* A short fixed name for a status code ("out of memory", "I/O error", ...). */
const char *fm_status_str(int code);

#endif
