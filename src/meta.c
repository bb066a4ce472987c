/* meta.c: the metadata text of model files (meta.h). */
#include "meta.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "train.h"

int meta_append(char *buf, size_t cap, const char *key, const char *fmt, ...)
{
    char val[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(val, sizeof val, fmt, ap);
    va_end(ap);
    size_t used = strlen(buf);
    if (n < 0 || (size_t)n >= sizeof val || strchr(val, '\n') || strchr(key, '=') ||
        strchr(key, '\n') || !*key ||
        used + strlen(key) + 1 + (size_t)n + 2 > cap)
        return FM_EINVAL;
    snprintf(buf + used, cap - used, "%s=%s\n", key, val);
    return FM_OK;
}

/* key's value in meta: its first character, its length in *len; NULL when
 * key is not there. */
static const char *find_value(const char *meta, const char *key, size_t *len)
{
    size_t k = strlen(key);
    for (const char *line = meta; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        if (n > k && strncmp(line, key, k) == 0 && line[k] == '=') {
            *len = n - k - 1;
            return line + k + 1;
        }
        line = end ? end + 1 : NULL;
    }
    return NULL;
}

int meta_get(const char *meta, const char *key, char *out, size_t cap)
{
    size_t v;
    const char *at = find_value(meta, key, &v);
    if (!at)
        return 0;
    if (cap) {
        if (v >= cap)
            v = cap - 1;
        memcpy(out, at, v);
        out[v] = 0;
    }
    return 1;
}

int meta_get_whole(const char *meta, const char *key, char *out, size_t cap)
{
    size_t v;
    const char *at = find_value(meta, key, &v);
    if (!at)
        return 0;
    if (v >= cap)
        return -1;
    memcpy(out, at, v);
    out[v] = 0;
    return 1;
}

/* A key of the metadata: its first character and length. */
typedef struct key_span {
    const char *s;
    size_t n;
} key_span;

static int key_cmp(const void *a, const void *b)
{
    const key_span *x = a, *y = b;
    int c = memcmp(x->s, y->s, x->n < y->n ? x->n : y->n);
    return c ? c : (x->n > y->n) - (x->n < y->n);
}

/* Lines of printable ASCII, each "key=value\n" with a key, each key once. */
static int check_lines(const char *meta, fm_err *e)
{
    size_t len = strlen(meta), lines = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)meta[i];
        if (c != '\n' && (c < 0x20 || c >= 0x7f))
            return fm_fail(e, FM_EFORMAT, NULL, "byte %zu is not printable ASCII", i);
        lines += c == '\n';
    }
    if (len && meta[len - 1] != '\n')
        return fm_fail(e, FM_EFORMAT, NULL, "line %zu does not end with a newline", lines + 1);
    key_span *k = malloc((lines ? lines : 1) * sizeof *k);
    if (!k)
        return fm_fail(e, FM_ENOMEM, NULL, "out of memory");
    size_t n = 0;
    int rc = FM_OK;
    for (const char *line = meta; *line && !rc; n++) {
        const char *end = strchr(line, '\n'), *eq = memchr(line, '=', (size_t)(end - line));
        if (end == line)
            rc = fm_fail(e, FM_EFORMAT, NULL, "line %zu is empty", n + 1);
        else if (!eq)
            rc = fm_fail(e, FM_EFORMAT, NULL, "line %zu has no '=' (key=value expected)", n + 1);
        else if (eq == line)
            rc = fm_fail(e, FM_EFORMAT, NULL, "line %zu has no key before its '='", n + 1);
        else
            k[n] = (key_span){line, (size_t)(eq - line)};
        line = end + 1;
    }
    if (!rc) {
        qsort(k, n, sizeof *k, key_cmp);
        for (size_t i = 1; i < n && !rc; i++)
            if (key_cmp(&k[i - 1], &k[i]) == 0)
                rc = fm_fail(e, FM_EFORMAT, NULL, "has '%.*s' twice", (int)k[i].n, k[i].s);
    }
    free(k);
    return rc;
}

int meta_check(const char *meta, int has_conv, fm_err *e)
{
    int rc = check_lines(meta, e);
    if (rc)
        return rc;
    train_config tc;
    fm_err why;
    if ((rc = train_config_from_any_meta(&tc, meta, &why)))
        return fm_fail(e, rc == FM_ENOMEM ? FM_ENOMEM : FM_EFORMAT, NULL, "%s", why.msg);
    if (meta_get(meta, "net", NULL, 0) && (tc.net == NET_CNN) != (has_conv != 0))
        return fm_fail(e, FM_EFORMAT, NULL, "says net=%s, but the network has %s",
                       tc.net == NET_CNN ? "cnn" : "mlp",
                       has_conv ? "convolutions" : "no convolutions");
    return FM_OK;
}
