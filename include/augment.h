/* augment.h: random changes of the training images, so that a model learns
 * clothing as people draw and photograph it, not only as the data set
 * shows it.
 *
 * Every transform works on the 28x28 uint8 images on the fly, one image at
 * a time. Image b of the batch of step t is changed by a generator seeded
 * from (seed, t, b) alone, so the result is the same on any number of
 * threads and on any CPU: only integer arithmetic and basic float
 * operations are used (sines and powers come from series in this module,
 * not from libm).
 *
 * The transforms, in the order they are applied; each is off at 0:
 *   drawn=P         the image is replaced by a drawing of its class made
 *                   by draw.h (a sketch with random proportions, in one of
 *                   four drawing styles); then no style, but all that
 *                   follows the style (an image of unknown class is never
 *                   replaced)
 *   clean=P         otherwise, the image is left as it is (none of the
 *                   below)
 *   style (at most one, drawn with these probabilities, which must sum to
 *   at most 1):
 *     outline=P     the item's outline and inner edges only, as a line drawing
 *     silhouette=P  the item filled with one level, as a filled icon
 *     flat=P        the item filled with one level, its outline bright: a
 *                   line drawing whose inside classify fills
 *     posterize=P   the item's levels reduced to 2 or 3: flat colours, as
 *                   clip art and emoji are drawn
 *   shoes (Sandal, Sneaker, Ankle boot only; other classes are untouched):
 *     pair=P        two copies side by side, shrunk, the front one hiding
 *                   part of the back one (sometimes mirrored): drawn shoes
 *                   come in pairs, the data set shows one
 *     tilt=P        turned 15 to 45 degrees either way (and shrunk to stay
 *                   in the frame): emoji draw shoes toe down
 *   shape:
 *     square=P      the item's short side made (long/short)^k longer, k
 *                   uniform in 0..0.5: icons are drawn to fill a square,
 *                   so a drawn shoe is taller, drawn trousers wider
 *   geometry (every image, magnitudes uniform in the given ranges):
 *     scale=F       size times 1 +- F
 *     squeeze=F     width times 1 +- F, height divided by it
 *     rotate=D      turned by +- D degrees
 *     shift=N       moved by +- N pixels each way
 *     flip=P        mirrored left-right with probability P
 *     fit=P         then, with probability P, the item's box scaled and
 *                   centred to fill the frame, as classify frames items
 *   intensity (each with its probability):
 *     blur=P        a 3x3 binomial blur
 *     gamma=P       levels to the power g = 2^(k/16), k uniform in -16..16
 *     contrast=P    dark levels lifted towards the brightest (weaker texture)
 *     noise=P       +-24 levels of uniform noise on the item
 * Then the brightest pixel is stretched to 255, as classify's preprocessing
 * does. */
#ifndef FMNIST_AUGMENT_H
#define FMNIST_AUGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "kernels.h"
#include "pool.h"

typedef struct augment_spec {
    float drawn, clean;
    float outline, silhouette, flat, posterize;
    float pair, tilt, square;
    float scale, squeeze, rotate, shift, flip, fit;
    float blur, gamma, contrast, noise;
} augment_spec;

/* The mix --augment default names, and its text (for --help). */
#define AUGMENT_DEFAULT_STYLE                                                                     \
    "drawn=0.3,clean=0.3,outline=0.15,silhouette=0.2,flat=0.15,posterize=0.1"
#define AUGMENT_DEFAULT_GEOMETRY                                                                  \
    "pair=0.3,tilt=0.3,square=0.6,scale=0.1,squeeze=0.1,rotate=8,shift=1.5,flip=0.5,fit=1"
#define AUGMENT_DEFAULT_INTENSITY "blur=0.2,gamma=0.3,contrast=0.2,noise=0.1"
augment_spec augment_default(void);

/* 1 when any transform is on. */
int augment_active(const augment_spec *s);

/* Parses SPEC: "none", or a comma-separated list of "default" (the default
 * mix) and NAME=VALUE items (the names above; later items override earlier
 * ones). Every value is checked against its range: probabilities 0..1,
 * scale and squeeze 0..0.5, rotate 0..45, shift 0..8 (decimal, a sign
 * allowed: "-0" is 0). A probability that could never take effect is
 * refused too: the styles summing to more than 1 ("the styles outline=0.8,
 * silhouette=0.8 sum to 1.6: ..."), and with clean=1 a style (or, with
 * drawn=0, any transform). On failure returns FM_EINVAL naming the items at
 * fault, and *out is untouched. */
int augment_parse(const char *spec, augment_spec *out, fm_err *e);

/* The canonical text of a spec: its nonzero items in the order above, with
 * the shortest decimal that reads back as the same float ("none" when all
 * are off). augment_parse of it gives the same spec. Every spec's text
 * fits in AUGMENT_TEXT_MAX bytes (each item at most 26 characters, a
 * comma, its name and up to 14 for the value; a smaller cap drops the
 * items that do not fit). */
#define AUGMENT_TEXT_MAX 512
void augment_format(const augment_spec *s, char *buf, size_t cap);

/* The key of a step's batch: a function of the seed and the step only. */
uint64_t augment_key(uint64_t seed, long step);

/* One image of class label (0-9; -1 when unknown: no shoe transforms):
 * src (784 bytes) changed as s says, into dst (784 bytes), by the
 * generator of (key, b). src and dst may not overlap. Uses the fastest
 * kernels of this CPU (every kernel gives the same bytes). */
void augment_image(const augment_spec *s, const uint8_t *src, int label, uint64_t key, int b,
                   uint8_t *dst);

/* Image b of the batch is images + idx[b] * 784, of class labels[idx[b]]
 * (labels may be NULL: unknown), changed into dst + b * 784, spread over
 * the pool's threads (p may be NULL), with kernels k (NULL: the fastest;
 * train passes the run's, so FMNIST_KERNEL reaches the augmentation). */
void augment_batch(const augment_spec *s, const uint8_t *images, const uint8_t *labels,
                   const uint32_t *idx, int B, uint64_t key, uint8_t *dst, pool *p,
                   const kernel_impl *k);

#endif
