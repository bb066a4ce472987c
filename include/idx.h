/* idx.h: the Fashion-MNIST data set: IDX files, raw or gzip, and where to find them.
 *
 * IDX (http://yann.lecun.com/exdb/mnist/): a big-endian header (magic
 * 0x00000803 for images with dims n, 28, 28; 0x00000801 for labels with
 * dim n), then n*28*28 pixel bytes or n label bytes. Every byte the loader
 * relies on is checked, and nothing large is allocated before the header
 * has been checked against the size of the file. */
#ifndef FMNIST_IDX_H
#define FMNIST_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define IDX_ROWS 28
#define IDX_COLS 28
#define IDX_PIXELS (IDX_ROWS * IDX_COLS)
#define IDX_CLASSES 10
/* Refused above this many images, whatever the file size: 16,777,216 images
 * would be 13 GB of pixels. */
#define IDX_MAX_COUNT (1u << 24)

enum idx_kind { IDX_IMAGES = 0x803, IDX_LABELS = 0x801 };
enum idx_split { IDX_TRAIN, IDX_TEST };

/* A split of the data set in memory: pixels stay uint8 (47 MB for the
 * training set), normalised per batch when used. */
typedef struct idx_set {
    uint32_t n;
    uint8_t *images; /* n * IDX_PIXELS bytes, image after image, row-major */
    uint8_t *labels; /* n bytes, each 0..9 */
} idx_set;

/* How a file's name says it is stored. */
enum idx_wrap { IDX_WRAP_ANY = -1, IDX_WRAP_RAW = 0, IDX_WRAP_GZIP = 1 };

/* Parses one IDX file of the given kind held in memory. name is used only
 * in error messages; wrap says what the name promises (IDX_WRAP_ANY: judge
 * by content). On success *data is a malloc'd block of *count images
 * (IDX_PIXELS bytes each) or labels, labels already checked to be 0..9.
 * On failure nothing is allocated and *data, *count are untouched. */
int idx_parse(const uint8_t *buf, size_t len, const char *name, int wrap, enum idx_kind kind,
              uint8_t **data, uint32_t *count, fm_err *e);

/* The same, streaming from a file: gzip when the name ends in ".gz", raw
 * otherwise (a mismatch is an error that says so). Only regular files. */
int idx_read_file(const char *path, enum idx_kind kind, uint8_t **data, uint32_t *count,
                  fm_err *e);

/* Reads an images file and a labels file and checks their counts agree.
 * On failure *out is untouched. */
int idx_load(const char *images_path, const char *labels_path, idx_set *out, fm_err *e);
void idx_free(idx_set *s);

/* One record of a file, the index-th (IDX_PIXELS bytes of an image, or a
 * label), the file checked whole as idx_read_file checks it but read a
 * chunk at a time. *count: the file's number of records; when index >=
 * *count, FM_OK with rec untouched. On failure all outputs are untouched. */
int idx_read_one(const char *path, enum idx_kind kind, uint32_t index, uint8_t *rec,
                 uint32_t *count, fm_err *e);
/* One image and its label, the index-th, from the two files, each checked
 * whole as idx_load checks it but read a chunk at a time: memory for one
 * image, whatever the header claims. *count: the files' number of images;
 * when index >= *count, FM_OK with pixels and *label untouched. On failure
 * all outputs are untouched. */
int idx_load_one(const char *images_path, const char *labels_path, uint32_t index,
                 uint8_t pixels[IDX_PIXELS], uint8_t *label, uint32_t *count, fm_err *e);

/* The official file names of a split, without ".gz". */
const char *idx_images_name(enum idx_split split);
const char *idx_labels_name(enum idx_split split);

/* Finds the directory holding a split's two files (raw or .gz). When dir is
 * given (--data), only it is searched; else env_dir ($FMNIST_DATA) when set;
 * else "./data", "/usr/share/datasets/fashion-mnist" and, when home is set,
 * home + "/.pytorch/F_MNIST_data/FashionMNIST/raw", in that order. On success
 * the two paths are written to images/labels (cap bytes each). When
 * neither file is anywhere, FM_ENOTFOUND with every place looked in; when
 * one of the names is there but is not a regular file (a FIFO, a
 * directory, a device, a symlink loop), FM_EIO saying what it is. */
int idx_locate(const char *dir, const char *env_dir, const char *home, enum idx_split split,
               char *images, char *labels, size_t cap, fm_err *e);

/* Normalisation exactly as the reference's ToTensor + Normalize((0.5,),(0.5,)):
 * in float32, (p / 255 - 0.5) / 0.5, for all 256 pixel values. */
void idx_norm_table(float table[256]);

#endif
