/* meta.h: the metadata of model files: "key=value" lines of printable
 * ASCII (model_file.h stores them; train.h writes and reads its options
 * through them; convert.h carries them to safetensors and ONNX). */
#ifndef FMNIST_META_H
#define FMNIST_META_H

#include <stddef.h>

#include "err.h"

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

/* What a model's metadata may hold: the one check that every reader and
 * writer of model files applies (model_file.h's, and convert.h's
 * safetensors and ONNX), so that what one accepts the others do and a
 * model goes to safetensors and back unchanged:
 *   - "key=value\n" lines of printable ASCII, each key not empty and
 *     given once (the last line ends with its newline too);
 *   - the training options as train reads them (train.h's
 *     train_config_from_any_meta: no epochs of 2.9, no seed of -5);
 *   - net, when given, the network's: cnn when it has convolutions
 *     (has_conv), else mlp.
 * Returns FM_OK, FM_EFORMAT with e->msg saying what is wrong in words
 * that follow "metadata " ("epochs: '2.9' is not an integer", "line 3
 * has no '='"), or FM_ENOMEM; e->file is "". */
int meta_check(const char *meta, int has_conv, fm_err *e);

#endif
