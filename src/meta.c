/* meta.c: the metadata text of model files (meta.h). */
#include "meta.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

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
