/* fmnist.h: libfmnist, the Fashion-MNIST classifier of the fmnist program,
 * for other programs to embed. Version 0 of the API.
 *
 *   #include <fmnist.h>        cc app.c $(pkg-config --cflags --libs fmnist)
 *
 *   fmnist_model *m;
 *   fmnist_error err;
 *   float probs[FMNIST_CLASSES];
 *   if (fmnist_model_load("fmnist.model", &m, &err) ||
 *       fmnist_classify_file(m, NULL, "shirt.jpg", probs, &err))
 *       fprintf(stderr, "%s\n", err.message);
 *
 * CONVENTIONS
 * - Every function that can fail returns 0 (FMNIST_OK) or an FMNIST_E*
 *   code, and fills *err (when err is not NULL) with the code and one line
 *   saying what is wrong, naming the file when there is one. On failure the
 *   outputs are untouched.
 * - The library never prints, never exits and installs no signal handler.
 * - Ownership: what a fmnist_*_new or fmnist_model_load* function returns
 *   is the caller's, freed by the matching *_free (which accept NULL).
 * - Threads: a loaded model is read-only; any number of threads may use it
 *   at once, each with its own fmnist_work (or NULL). Nothing is global.
 * - Memory: with a fmnist_work made once (fmnist_work_new),
 *   fmnist_classify_28x28 allocates nothing. With NULL for the work it
 *   allocates a buffer of about 20 KB for the call. Classifying a picture
 *   (fmnist_classify_pixels, _file, _buffer) allocates what decoding and
 *   preparing it needs (about 4 bytes a pixel, freed before it returns).
 * - Results are the same bits as the fmnist program's on any CPU, whatever
 *   the caller's floating-point environment: each classification runs in
 *   the default one (rounding to nearest, no flush-to-zero) and gives the
 *   caller's back before it returns. */
#ifndef FMNIST_H
#define FMNIST_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && !defined(FMNIST_API)
#define FMNIST_API __attribute__((visibility("default")))
#elif !defined(FMNIST_API)
#define FMNIST_API
#endif

#define FMNIST_CLASSES 10 /* labels 0..9 */
#define FMNIST_SIDE 28    /* the network's input: 28 x 28 8-bit gray */

/* The return codes (the same values as the program's internal ones). */
enum {
    FMNIST_OK = 0,
    FMNIST_ENOMEM,    /* an allocation failed */
    FMNIST_EIO,       /* a file could not be opened or read */
    FMNIST_EFORMAT,   /* the input is malformed, truncated, corrupt or unsupported */
    FMNIST_EINVAL,    /* an argument is invalid */
    FMNIST_ENOTFOUND, /* a file does not exist */
    FMNIST_ENUMERIC,  /* the model's output is not a number */
    FMNIST_EINTR,     /* (not returned by this API) */
    FMNIST_ELIMIT     /* the input exceeds a limit (50 megapixels, 256 MB files) */
};

typedef struct fmnist_error {
    int code;
    char message[1040]; /* "FILE: what is wrong", or "what is wrong" */
} fmnist_error;

typedef struct fmnist_model fmnist_model;
typedef struct fmnist_work fmnist_work;

/* The library's version, "MAJOR.MINOR.PATCH" (the fmnist program's). */
FMNIST_API const char *fmnist_version(void);
/* A code's fixed name ("out of memory", ...). */
FMNIST_API const char *fmnist_strerror(int code);
/* The class name of label 0..9 ("T-shirt/top" ... "Ankle boot"); NULL
 * otherwise. */
FMNIST_API const char *fmnist_class_name(int label);

/* Loads an fmnist model file (written by `fmnist train`; its format is in
 * the fmnist docs) of either of its networks (the 784-256-128-64-10 MLP or
 * the convolutional network of `--net cnn`), from a file or from len bytes
 * in memory (copied: buf may be freed after). Every byte is checked
 * (magic, CRC, shape, finite parameters, and the metadata: "key=value"
 * lines, each key once, the training options as `fmnist train` takes
 * them). */
FMNIST_API int fmnist_model_load(const char *path, fmnist_model **out, fmnist_error *err);
FMNIST_API int fmnist_model_load_buffer(const void *buf, size_t len, fmnist_model **out,
                                        fmnist_error *err);
FMNIST_API void fmnist_model_free(fmnist_model *m);
/* The model's metadata: the value of key ("epochs", "seed",
 * "test_accuracy", ...) into out (cap bytes, truncated); returns 1 when
 * the key is there, else 0. fmnist_model_meta_text gives all of it,
 * "key=value" lines, owned by the model. */
FMNIST_API int fmnist_model_meta(const fmnist_model *m, const char *key, char *out, size_t cap);
FMNIST_API const char *fmnist_model_meta_text(const fmnist_model *m);

/* A work buffer for one thread's classifications with model m, or with
 * any model of the same network (one of the other network is refused:
 * FMNIST_EINVAL). */
FMNIST_API int fmnist_work_new(const fmnist_model *m, fmnist_work **out, fmnist_error *err);
FMNIST_API void fmnist_work_free(fmnist_work *w);

/* The 10 class probabilities (they sum to 1) of:
 * - a picture already in the data set's form: 28x28 8-bit gray, row-major,
 *   a light item on black (as `fmnist export` writes them);
 * - any picture in memory: width x height pixels of channels 1 (gray),
 *   2 (gray, alpha), 3 (RGB) or 4 (RGBA) 8-bit samples, row-major, straight
 *   alpha, prepared as `fmnist classify` prepares pictures (the item found,
 *   cropped, scaled into 28x28, light on black);
 * - a PNG or JPEG file (path "-": standard input) or len bytes of one,
 *   decoded (EXIF orientation honoured) and prepared the same way.
 * w may be NULL (see MEMORY above). */
FMNIST_API int fmnist_classify_28x28(const fmnist_model *m, fmnist_work *w,
                                     const unsigned char pixels[FMNIST_SIDE * FMNIST_SIDE],
                                     float probs[FMNIST_CLASSES], fmnist_error *err);
FMNIST_API int fmnist_classify_pixels(const fmnist_model *m, fmnist_work *w,
                                      const unsigned char *pixels, int width, int height,
                                      int channels, float probs[FMNIST_CLASSES],
                                      fmnist_error *err);
FMNIST_API int fmnist_classify_file(const fmnist_model *m, fmnist_work *w, const char *path,
                                    float probs[FMNIST_CLASSES], fmnist_error *err);
FMNIST_API int fmnist_classify_buffer(const fmnist_model *m, fmnist_work *w, const void *buf,
                                      size_t len, float probs[FMNIST_CLASSES], fmnist_error *err);

/* The k (1..10) most probable labels into labels[0..k), most probable
 * first, ties to the lower label; returns k, or 0 when k is out of range. */
FMNIST_API int fmnist_top(const float probs[FMNIST_CLASSES], int k, int *labels);

#ifdef __cplusplus
}
#endif

#endif
