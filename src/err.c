/* err.c: filling fm_err. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Messages quote untrusted text (option values, file names, bytes read
 * from files): a newline in it would split the one line, an escape sequence
 * would reach the terminal. Control characters are shown as '?', as ls -q
 * does: C0, DEL, and C1 in its UTF-8 form (0xc2 0x80..0x9f, which some
 * terminals take as escapes). */
size_t fm_printable(char *dst, size_t cap, const char *src)
{
    size_t j = 0;
    if (cap == 0)
        return 0;
    for (const unsigned char *p = (const unsigned char *)src; *p && j + 1 < cap; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            dst[j++] = '?';
        } else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
            dst[j++] = '?';
            p++;
        } else {
            dst[j++] = (char)*p;
        }
    }
    dst[j] = 0;
    return j;
}

static void printable(char *s)
{
    fm_printable(s, strlen(s) + 1, s); /* never longer: in place is safe */
}

int fm_fail(fm_err *e, int code, const char *file, const char *fmt, ...)
{
    if (!e)
        return code;
    e->code = code;
    snprintf(e->file, sizeof e->file, "%s", file ? file : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    printable(e->file);
    printable(e->msg);
    return code;
}

int fm_in_file(fm_err *e, int code, const char *file)
{
    if (e) {
        snprintf(e->file, sizeof e->file, "%s", file ? file : "");
        printable(e->file);
    }
    return code;
}

void fm_shell_word(const char *s, char *out, size_t n)
{
    size_t safe = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/+-,=:@%");
    if (s[0] && s[safe] == 0) {
        snprintf(out, n, "%s", s);
        return;
    }
    size_t k = 0;
    out[k++] = '"';
    for (; *s && k + 4 < n; s++) {
        if (strchr("\"\\$`", *s))
            out[k++] = '\\';
        out[k++] = *s;
    }
    out[k++] = '"';
    out[k] = 0;
}

const char *fm_status_str(int code)
{
    switch (code) {
    case FM_OK: return "ok";
    case FM_ENOMEM: return "out of memory";
    case FM_EIO: return "I/O error";
    case FM_EFORMAT: return "malformed input";
    case FM_EINVAL: return "invalid argument";
    case FM_ENOTFOUND: return "not found";
    case FM_ENUMERIC: return "numerical failure";
    case FM_EINTR: return "interrupted";
    case FM_ELIMIT: return "over a limit";
    }
    return "unknown error";
}
