/* mlp.h: the network: parameters, a batch workspace, and the forward and
 * backward passes over a thread pool.
 *
 * The network is a chain of nn.Linear layers, ReLU between them, log-softmax
 * at the end: 784-256-128-64-10 for fmnist's recipe. It may start with
 * convolutional layers (the convolutional network, mlp_fmnist_cnn), each
 * nn.Conv2d (k x k, k odd, padding k/2, stride 1), ReLU and a 2x2 max pool
 * (nn.MaxPool2d(2)), the last one's output flattened (nn.Flatten: channel,
 * row, column) into the first Linear layer's input: PyTorch's
 *     Sequential(Conv2d, ReLU, MaxPool2d(2), ..., Flatten, Linear, ReLU, ...)
 * All parameters live in ONE float block, layer after layer (convolutions
 * first), weights then bias, as PyTorch's state_dict stores them: a Linear
 * weight (out, in) row-major, a Conv2d weight (out, in, k, k); gradients and
 * Adam's moments use the same layout, so zeroing, stepping, saving and
 * copying are flat operations. */
#ifndef FMNIST_MLP_H
#define FMNIST_MLP_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "kernels.h"
#include "pool.h"
#include "rng.h"

#define MLP_MAX_LAYERS 8
/* Threads that get a private copy of the batch's input (see mlp_work). */
#define MLP_MAX_COPIES 8
/* Widths are at most this (a sanity bound for loaded files). */
#define MLP_MAX_WIDTH 65536
/* Convolutional layers are at most this many, their channels and kernel
 * sides at most these, the input image's side at most MLP_MAX_SIDE. */
#define MLP_MAX_CONV 4
#define MLP_MAX_CHANNELS 1024
#define MLP_MAX_KERNEL 9
#define MLP_MAX_SIDE 1024
/* Samples of a batch that go through the convolutions together (see
 * mlp_work); the convolutions' gradients are summed block by block, in
 * order, so it is part of what defines the model's bits. */
#define MLP_CONV_BLOCK 8

extern const int mlp_fmnist_widths[5]; /* 784, 256, 128, 64, 10 */

/* A convolutional layer: in_ch channels of side x side in, out_ch channels
 * of side/2 x side/2 out (after the pool), a k x k kernel. */
typedef struct mlp_conv {
    int in_ch, out_ch, k, side;
} mlp_conv;

/* The shape of a network: what the model file records. */
typedef struct mlp_shape {
    int nconv;                       /* convolutional layers (0: none) */
    int side, channels;              /* with nconv: the input image's side and channels */
    int conv_ch[MLP_MAX_CONV];       /* each convolution's output channels */
    int conv_k[MLP_MAX_CONV];        /* and kernel side */
    int nlayers;                     /* Linear layers */
    int width[MLP_MAX_LAYERS + 1];   /* their widths (width[0]: the flattened input) */
} mlp_shape;

/* fmnist's two networks: the tutorial's MLP 784-256-128-64-10, and the
 * convolutional network for people's pictures (docs/pictures.md): two 3x3
 * convolutions of 16 and 32 channels, then 1568-64-10. */
extern const mlp_shape mlp_fmnist_mlp, mlp_fmnist_cnn;
/* Their shapes as mlp_shape_text writes them, for messages. */
#define MLP_FMNIST_SHAPES "784-256-128-64-10 or 28x28-conv3x16-conv3x32-1568-64-10"

typedef struct mlp {
    int nconv;                       /* convolutional layers, before the Linear ones */
    mlp_conv conv[MLP_MAX_CONV];
    size_t cw_off[MLP_MAX_CONV];     /* offset of convolution c's weight (out_ch, in_ch, k, k) */
    size_t cb_off[MLP_MAX_CONV];     /* and of its bias (out_ch) */
    int nlayers;                     /* number of Linear layers */
    int width[MLP_MAX_LAYERS + 1];   /* width[0] inputs ... width[nlayers] classes */
    size_t w_off[MLP_MAX_LAYERS];    /* offset of layer l's weight (width[l+1], width[l]) */
    size_t b_off[MLP_MAX_LAYERS];    /* offset of layer l's bias (width[l+1]) */
    size_t nparams;
    float *params;
} mlp;

/* Allocates a zeroed network of the given shape (nlayers >= 1, each width
 * 1..MLP_MAX_WIDTH). On failure *m is untouched. */
int mlp_create(mlp *m, int nlayers, const int *width, fm_err *e);
/* The same checks and layout without the parameters (m->params NULL): for
 * a caller that provides a buffer of m->nparams floats, which mlp_free
 * then frees with free(). */
int mlp_layout(mlp *m, int nlayers, const int *width, fm_err *e);
/* The same for any shape, convolutions included (each side even, the
 * last convolution's output width[0] values). */
int mlp_create_shape(mlp *m, const mlp_shape *s, fm_err *e);
int mlp_layout_shape(mlp *m, const mlp_shape *s, fm_err *e);
/* m's shape. */
void mlp_get_shape(const mlp *m, mlp_shape *s);
void mlp_free(mlp *m);
/* Values of one input sample: the image's pixels with convolutions, else
 * width[0]. */
int mlp_inputs(const mlp *m);
/* "784-256-128-64-10", "28x28-conv3x16-conv3x32-1568-64-10": the shape, for
 * messages (cut to fit cap). */
void mlp_shape_text(const mlp *m, char *buf, size_t cap);
/* 1 when both have the same shape (layers, widths, convolutions). */
int mlp_same_shape(const mlp *a, const mlp *b);
/* 1 when m has shape s. */
int mlp_has_shape(const mlp *m, const mlp_shape *s);
/* 1 when m is one of fmnist's two networks. */
int mlp_is_fmnist(const mlp *m);

/* nn.Linear's and nn.Conv2d's default initialisation, layer by layer,
 * weight then bias, each element uniform in [-1/sqrt(fan_in),
 * 1/sqrt(fan_in)) from r (a convolution's fan_in is in_ch * k * k). */
void mlp_init_params(mlp *m, rng *r);

/* Buffers for one batch of up to max_batch samples, sized once. In training
 * mode it also holds batch-major copies of each layer's input (for the
 * weight gradients) and the parameter gradients. */
typedef struct mlp_work {
    int max_batch, training, B;
    float *block;
    float *actT[MLP_MAX_LAYERS + 1];  /* (width[l], B): input, hidden outputs, log-probs */
    float *act[MLP_MAX_LAYERS];       /* (B, width[l]): layer inputs, batch-major (the
                                         input always, hidden ones in training) */
    float *gradT[MLP_MAX_LAYERS + 1]; /* (width[l], B): dLoss/d(layer output) (training) */
    float *grads;                     /* nparams, same layout as params (training) */
    /* The batch's input, once per thread of the team (up to MLP_MAX_COPIES;
     * thread t uses copy t % copies): every chunk of the first layer reads
     * all of it, and reading it from another core's cache costs more than
     * gathering it again. Copy 0 is actT[0] and act[0]. */
    int copies;
    float *inT[MLP_MAX_COPIES], *in[MLP_MAX_COPIES];
    const uint32_t *next_idx;         /* the next batch's images, to prefetch (or NULL) */
    int next_B;
    /* With convolutions, the batch goes through them in blocks of
     * MLP_CONV_BLOCK samples (see mlp.c), each block's arrays contiguous:
     * its images imgT (channels, side, side, n) and each convolution's
     * pooled output and pooling choices (out_ch, side/2, side/2, n), kept
     * for the backward pass; scratch for one block per chunk of the job
     * (conv_chunks of conv_scratch floats); and in training each block's
     * own sums of the convolutions' gradients (cparams floats each). The
     * first Linear layer's input is actT[0] (width[0], B), and act[0]. */
    float *imgT;
    float *pooled[MLP_MAX_CONV];
    uint8_t *arg[MLP_MAX_CONV];
    float *scratch;
    size_t conv_scratch, cparams;
    int conv_chunks;
    float *partial;
    /* How each job is dealt out to a team of `team` threads: by rows, every
     * thread getting the same rows of a matrix in every job, or by columns
     * of the batch (see mlp.c). */
    int team, ntasks;
    struct mlp_task *tasks;
    int *first;
    uint8_t *labels;                  /* (B) the batch's labels, when gathered */
    long correct;                     /* running count for mlp_loss */
    /* Training regularisers (0: off), set by the caller between steps. */
    float smoothing;                  /* label smoothing of the loss */
    float dropout;                    /* probability of dropping a hidden unit */
    uint32_t dropout_key;             /* this step's mask: see dropout_fn */
    /* When set (bench_kernels --step), each job's wall time is added here,
     * L = nlayers: a training step's four jobs (see mlp.c) in [0] the
     * gather, [1] the first layer's forward job, [2] the column job and
     * [1 + L] the weight gradients' job; evaluation's forward job of layer
     * l in [1 + l]; the convolutions' forward and backward jobs in [2 + L]
     * and [3 + L]. So it holds 4 + L. */
    double *job_seconds;
} mlp_work;

int mlp_work_create(mlp_work *w, const mlp *m, int max_batch, int training, fm_err *e);
/* The same with an input copy for each of a team of threads threads. */
int mlp_work_create_team(mlp_work *w, const mlp *m, int max_batch, int training, int threads,
                         fm_err *e);
void mlp_work_free(mlp_work *w);

/* Loads B (1..max_batch) images of width[0] bytes each into the input
 * activations: sample b is image idx[b] (idx NULL: image b), normalised as
 * the reference does; and its label into w->labels when labels is given. */
void mlp_gather(const mlp *m, mlp_work *w, pool *p, const kernel_impl *k,
                const uint8_t *images, const uint8_t *labels, const uint32_t *idx, int B);

/* Forward pass of the batch last gathered; leaves log-probabilities in
 * w->actT[nlayers] (classes, B). In training mode with w->dropout set, the
 * hidden layers' outputs go through inverted dropout (mask from
 * w->dropout_key), and their gradients are scaled to match. In training mode
 * it also takes the first steps of the backward pass, sample by sample
 * while they are in cache: the loss's gradient against the gathered labels
 * (w->smoothing as set now) and the gradient of every layer's input but
 * the first's (see mlp.c). */
void mlp_forward(const mlp *m, mlp_work *w, pool *p, const kernel_impl *k);

/* Mean NLL of the batch against its gathered labels (the cross-entropy
 * against smoothed targets when w->smoothing is set), in double; adds the
 * number of correct argmax predictions (first maximum on ties) to w->correct. */
double mlp_loss(const mlp *m, mlp_work *w);

/* An update of parameters [i0, i1) from w->grads (an optimiser step),
 * run by mlp_backward as soon as those gradients are final and the
 * backward pass no longer reads those parameters. */
typedef struct mlp_update {
    void (*fn)(void *ctx, size_t i0, size_t i1);
    void *ctx;
} mlp_update;

/* The rest of the backward pass of the mean NLL, after mlp_forward in
 * training mode: every weight and bias gradient, overwriting w->grads (no
 * separate zeroing needed). When u is given, every parameter is also
 * updated through it exactly once, right after its gradient row is
 * computed (while in cache) rather than in a pass of its own. */
void mlp_backward(mlp *m, mlp_work *w, pool *p, const kernel_impl *k, const mlp_update *u);

#endif
