/* mlp.h: the multilayer perceptron: parameters, a batch workspace, and the
 * forward and backward passes over a thread pool.
 *
 * The network is a chain of nn.Linear layers, ReLU between them, log-softmax
 * at the end: 784-256-128-64-10 for fmnist. All parameters live in ONE float
 * block, layer after layer, weights then bias, each weight (out, in)
 * row-major as PyTorch stores it; gradients and Adam's moments use the same
 * layout, so zeroing, stepping, saving and copying are flat operations. */
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

extern const int mlp_fmnist_widths[5]; /* 784, 256, 128, 64, 10 */

typedef struct mlp {
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
void mlp_free(mlp *m);
/* "784-256-128-64-10": the widths, for messages (cut to fit cap). */
void mlp_shape_text(const mlp *m, char *buf, size_t cap);
/* 1 when both have the same layer widths. */
int mlp_same_shape(const mlp *a, const mlp *b);

/* nn.Linear's default initialisation, layer by layer, weight then bias, each
 * element uniform in [-1/sqrt(fan_in), 1/sqrt(fan_in)) from r. */
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
     * l in [1 + l]. */
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
