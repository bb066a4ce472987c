/* meta.h: the metadata of model files: "key=value" lines of printable
 * ASCII (model_file.h stores them; train.h writes and reads its options
 * through them). */
#ifndef FMNIST_META_H
#define FMNIST_META_H

#include <stddef.h>

/* Metadata text helpers. meta_append adds "key=value\n" (value printf'd) to
 * the NUL-terminated text in buf (cap bytes); returns FM_EINVAL when it
 * would not fit or the value has a newline. meta_get copies key's value to
 * out (cap bytes) and returns 1 when found, else 0. */
int meta_append(char *buf, size_t cap, const char *key, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
int meta_get(const char *meta, const char *key, char *out, size_t cap);
/* meta_get, but a value that does not fit in cap bytes is not cut short
 * (a prefix of it might read as another valid value): -1, out untouched. */
int meta_get_whole(const char *meta, const char *key, char *out, size_t cap);

#endif
