/* model_file.h: the fmnist model file (formats 1 and 2).
 *
 * Little-endian on every machine. Offsets in bytes:
 *   0   8   magic "FMNISTMD"
 *   8   4   format version: 1, or 2 for a network with convolutions (a
 *           network without is always written as format 1)
 *   12  4   flags: bit 0 set when state blocks follow the parameters (a
 *           training checkpoint); other bits 0
 *   16  4   L, the number of Linear layers (1..8)
 *   20  4(L+1)  the layer widths, inputs first (784 256 128 64 10)
 *   ..  4   (format 2 only) NC, the number of convolutional layers (1..4)
 *   ..  4   (format 2 only) the input image's side (1..1024)
 *   ..  4   (format 2 only) its channels (1..1024)
 *   ..  8NC (format 2 only) for each convolution, its output channels
 *           (1..1024) and its kernel's side (odd, 1..9); each is followed
 *           by a ReLU and a 2x2 max pool (mlp.h), and the last one's output
 *           is the first width
 *   ..  4   M, the length of the metadata text (0..65536)
 *   ..  M   metadata: "key=value\n" lines of printable ASCII (see below)
 *   ..  4P  the P parameters as float32: for each layer, convolutions
 *           first, its weight ((out, in) row-major, or (out, in, k, k)),
 *           then its bias, as PyTorch's state_dict
 *   ..  4   (flag bit 0 only) K, the number of state blocks (1..8)
 *   ..  4PK (flag bit 0 only) K blocks of P float32 each: a training
 *           checkpoint's state (Adam's moments, ...), named in order by the
 *           metadata key "blocks" (e.g. "blocks=adam_m,adam_v")
 *   end-4 4 CRC-32 (zlib's crc32) of every byte before it
 * Metadata keys written by fmnist train: fmnist_version, epochs, seed, lr,
 * batch_size, test_accuracy (and the training options of later versions).
 * No timestamps or paths: the same training gives the same file. What the
 * metadata may hold is meta.h's meta_check, which model_decode and
 * model_encode both apply, as the safetensors reader and writers do. */
#ifndef FMNIST_MODEL_FILE_H
#define FMNIST_MODEL_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "meta.h"
#include "mlp.h"

#define MODEL_MAGIC "FMNISTMD"
#define MODEL_FORMAT 2
#define MODEL_META_MAX 65536
#define MODEL_FLAG_STATE 1u
#define MODEL_MAX_BLOCKS 8

/* Encodes into a malloc'd buffer. blocks (NULL or nblocks == 0: a plain
 * model) holds nblocks * nparams floats of state. meta may be NULL;
 * metadata that model_decode would refuse (meta_check) is FM_EINVAL. */
int model_encode(const mlp *m, const char *meta, const float *blocks, int nblocks,
                 uint8_t **buf, size_t *len, fm_err *e);

/* Decodes and checks a whole file image: magic, checksum, version, widths,
 * exact length, metadata (meta_check: "metadata epochs: '2.9' is not an
 * integer"). On success *m is a new network (mlp_free
 * it), *meta (when meta is not NULL) a malloc'd NUL-terminated string, and
 * when blocks is not NULL, *blocks a malloc'd nblocks * nparams block (NULL
 * for a plain model) with *nblocks its count. name is for messages. On
 * failure nothing is allocated and the outputs are untouched. */
int model_decode(const uint8_t *buf, size_t len, const char *name, mlp *m, char **meta,
                 float **blocks, int *nblocks, fm_err *e);

/* model_encode + file_write_atomic. */
int model_save(const char *path, const mlp *m, const char *meta, const float *blocks,
               int nblocks, fm_err *e);
/* file_read_all + model_decode. */
int model_load(const char *path, mlp *m, char **meta, float **blocks, int *nblocks, fm_err *e);
/* model_load for fmnist's own networks (mlp_is_fmnist): another network is
 * FM_EFORMAT ("a 65536-8191 network; fmnist uses ..."), judged from the
 * header before the rest is read (a sparse 2 GB file declaring one took 9
 * s and 2 GB to refuse). */
int model_load_fmnist(const char *path, mlp *m, char **meta, float **blocks, int *nblocks,
                      fm_err *e);


#endif
