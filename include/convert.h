/* convert.h: fmnist models in other formats: ONNX (written) and
 * safetensors (written and read).
 *
 * A network's tensors are named as PyTorch's state_dict names them for a
 * module whose attributes are conv1, conv2, ..., fc1, fc2, ...: for the
 * MLP fc1.weight (256, 784), fc1.bias (256), ..., fc4.bias (10); for the
 * convolutional network (mlp_fmnist_cnn) conv1.weight (16, 1, 3, 3),
 * conv1.bias (16), conv2.weight (32, 16, 3, 3), conv2.bias (32),
 * fc1.weight (64, 1568), fc1.bias (64), fc2.weight (10, 64), fc2.bias (10).
 * Weights as nn.Conv2d (out, in, k, k) and nn.Linear (out, in) store them.
 *
 * ONNX: a ModelProto (IR version 7, opset 13 of the default domain) whose
 * graph computes what fmnist computes, for any batch size N:
 *   input  "pixels"    float [N, 784]: 28x28 gray pictures, row-major, light
 *                      item on black, pixel values 0..255
 *   Div 255, Sub 0.5, Div 0.5        the normalisation (p/255 - 0.5)/0.5, in
 *                                    the same float32 operations as fmnist
 *   with convolutions: Reshape to the images [N, C, side, side] (the INT64
 *   initializer "image_shape", [-1, 1, 28, 28] for fmnist's); per
 *   convolution Conv (kernel_shape [k, k], pads k/2 on every side, strides
 *   [1, 1]), Relu, MaxPool (kernel_shape [2, 2], strides [2, 2]); Flatten
 *   (axis 1)
 *   Gemm (transB=1) and Relu per Linear layer, weights fc1.weight (out, in) ...
 *   LogSoftmax (axis 1)
 *   output "log_probs" float [N, 10]: log-probabilities, in class order
 * The parameters are initializers (raw little-endian float32, bit for bit);
 * the doc string says which network it is; metadata_props hold the fmnist
 * metadata's key=value pairs, then "classes" (the class names,
 * comma-separated) and "preprocessing". Written by hand in the protobuf
 * wire format (no library): onnx.proto's field numbers.
 *
 * safetensors: an 8-byte little-endian header length N, N bytes of JSON
 * header, then the tensors' bytes. Written as the network's state_dict:
 * its tensors (above) in that order, dtype F32, contiguous, and
 * "__metadata__" with "format": "pt" and the fmnist metadata's pairs.
 *
 * Reading safetensors distrusts every byte: the header length is bounded
 * by the file and CONVERT_ST_HEADER_MAX; the JSON is parsed strictly (just
 * what safetensors needs: one object of tensor entries with exactly
 * "dtype", "shape" and "data_offsets", and an optional "__metadata__"
 * object of strings; no duplicate keys); the tensors must be exactly those
 * of one of fmnist's two networks (the convolutional one when any of
 * conv1's or conv2's is there, else the MLP; a tensor of the other network
 * among them is an error naming it), F32, with the network's shapes, their
 * offsets within the data, not overlapping and covering it all; every
 * value finite. Each fault has its own message. */
#ifndef FMNIST_CONVERT_H
#define FMNIST_CONVERT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "mlp.h"

#define CONVERT_ONNX_IR_VERSION 7
#define CONVERT_ONNX_OPSET 13
/* The largest safetensors JSON header read (fmnist's own are a few KB; the
 * metadata they can hold is at most MODEL_META_MAX bytes). */
#define CONVERT_ST_HEADER_MAX ((size_t)1 << 20)
/* The largest safetensors file read. */
#define CONVERT_ST_FILE_MAX ((size_t)64 << 20)

enum convert_format { CONVERT_UNKNOWN, CONVERT_MODEL, CONVERT_ONNX, CONVERT_SAFETENSORS };
#define CONVERT_EXTENSIONS ".onnx, .safetensors or .model"

/* The format a file name's extension names: ".onnx", ".safetensors" or
 * ".model" (case as written), after a name ("dir/.onnx" has none);
 * CONVERT_UNKNOWN otherwise. */
enum convert_format convert_format_of(const char *path);

/* Encodes m (any network of mlp.h: convolutions, if any, then Linear
 * layers) as ONNX into a malloc'd buffer. meta (NULL: none) is fmnist
 * metadata text as an fmnist model file may hold it (meta.h's meta_check:
 * "key=value\n" lines, each key once, ...; else FM_EINVAL, "metadata
 * ..."), in its order; the keys the format reserves are left out (ONNX:
 * "classes" and "preprocessing", written by fmnist; safetensors:
 * "format"). On failure (FM_EINVAL, FM_ENOMEM) *buf and *len are
 * untouched. */
int convert_onnx_encode(const mlp *m, const char *meta, uint8_t **buf, size_t *len, fm_err *e);

/* Encodes m as safetensors into a malloc'd buffer; as convert_onnx_encode. */
int convert_st_encode(const mlp *m, const char *meta, uint8_t **buf, size_t *len, fm_err *e);

/* Decodes a whole safetensors file image (see above). On success *m is a
 * new network, fmnist's MLP or its convolutional network (mlp_free it),
 * and, when meta is not NULL, *meta a malloc'd metadata text: each
 * "__metadata__" pair but "format" as a "key=value\n" line, characters
 * outside printable ASCII (and '=' in keys) shown as '?'; the text must
 * pass meta_check as an fmnist model file's metadata must (its training
 * options as train reads them, its net the tensors' network, two keys that
 * are one once shown refused), and net=cnn is added to a convolutional
 * network's metadata without one.
 * name is for messages. Errors: FM_EFORMAT (malformed, unsupported dtype, wrong
 * tensors or shapes, a tensor of the other network, non-finite values),
 * FM_ELIMIT (header or metadata over its cap), FM_ENOMEM; on failure
 * nothing is allocated and the outputs are untouched. */
int convert_st_decode(const uint8_t *buf, size_t len, const char *name, mlp *m, char **meta,
                      fm_err *e);

/* Encode + file_write_atomic to path, in the format its extension names
 * (.onnx, .safetensors, or .model: model_save). On failure path is untouched. */
int convert_save(const char *path, const mlp *m, const char *meta, fm_err *e);

/* Reads a model from path: safetensors when it ends in ".safetensors", else
 * an fmnist model file (model_load; a checkpoint's state is left out). As
 * convert_st_decode on failure. */
int convert_load(const char *path, mlp *m, char **meta, fm_err *e);

#endif
