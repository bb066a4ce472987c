/* train.h: the training loop: the tutorial's recipe, and the options beyond it.
 *
 * Per epoch: reshuffle the training images from the generator, then per
 * batch (the last, partial one kept): gather and normalise, forward, loss,
 * backward and the optimiser step (fused into the backward pass); then
 * evaluate the validation images (when held out) and the test set (when
 * given). Every option is off by default, which is the tutorial's recipe.
 * The loop reports through callbacks and never prints. */
#ifndef FMNIST_TRAIN_H
#define FMNIST_TRAIN_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "augment.h"
#include "err.h"
#include "idx.h"
#include "kernels.h"
#include "mlp.h"
#include "pool.h"
#include "rng.h"

enum train_schedule { SCHEDULE_CONST, SCHEDULE_COSINE, SCHEDULE_STEP };
enum train_keep { KEEP_LAST, KEEP_BEST };
/* The network trained: the tutorial's MLP, or the convolutional network
 * (mlp.h's mlp_fmnist_mlp and mlp_fmnist_cnn). */
enum train_net { NET_MLP, NET_CNN };

typedef struct train_config {
    int epochs;             /* >= 1 */
    int batch_size;         /* >= 1 */
    double lr;              /* Adam's (peak) learning rate */
    uint64_t seed;          /* of the validation split and the dropout masks */
    double dropout;         /* hidden units dropped in training, [0, 1) */
    double weight_decay;    /* decoupled, as AdamW: p *= 1 - lr * wd each step */
    int schedule;           /* enum train_schedule, see train_lr */
    int warmup;             /* epochs of linear warm-up */
    double label_smoothing; /* [0, 1) */
    double ema;             /* decay of the weights' moving average, [0, 1); 0: off */
    uint32_t val;           /* training images held out for validation */
    int keep;               /* enum train_keep; KEEP_BEST needs val */
    int patience;           /* stop after this many epochs without a better
                               validation accuracy; 0: never; needs val */
    augment_spec augment;   /* random changes of the training images (augment.h);
                               all 0: off */
    int net;                /* enum train_net (train_run trains the network it
                               is given; this names the one to make) */
} train_config;

/* The recipe's defaults: 5 epochs, batch 64, lr 0.003, seed 1, nothing else. */
train_config train_defaults(void);

/* The learning rate of step t (0-based, of total steps, spe per epoch):
 * warm-up: lr (t + 1) / W for t < W = warmup * spe; then, over the
 * remaining steps u = t - W of T = total - W:
 *   const:  lr
 *   cosine: lr (1 + cos(pi u / T)) / 2
 *   step:   lr, times 0.1 from u >= T/2, times 0.01 from u >= 3T/4. */
double train_lr(const train_config *c, long t, long spe);

/* What the callbacks see. */
typedef struct train_status {
    int epoch, epochs;      /* the current epoch, 1-based */
    long step, steps;       /* steps done in this epoch, steps per epoch */
    long images;            /* images seen in this epoch */
    double loss;            /* mean training loss of this epoch so far */
    double accuracy;        /* training accuracy of this epoch so far */
    double lr;              /* the learning rate of the last step */
    double seconds;         /* since the epoch began */
    double train_seconds;   /* of that, the training steps (without evaluation) */
    /* After the epoch (epoch callback); -1 when there is no such set. The
     * model evaluated is the one that would be saved (the EMA when on). */
    double val_accuracy, val_loss;
    double test_accuracy, test_loss;
    int best;               /* this epoch is the best on validation so far */
} train_status;

typedef struct train_hooks {
    void (*on_step)(void *ctx, const train_status *s);  /* after every step; may be NULL */
    void (*on_epoch)(void *ctx, const train_status *s); /* after every epoch; may be NULL */
    void *ctx;
    /* Checked after every step and every epoch: when it becomes nonzero
     * training stops there (FM_EINTR) with its state saved. May be NULL. */
    volatile sig_atomic_t *stop;
} train_hooks;

/* Where a run stands: everything needed to continue it and end with the
 * same bits as a run that never stopped. */
typedef struct train_state {
    int epoch;         /* epochs completed */
    uint32_t pos;      /* images of the next epoch already trained on */
    rng epoch_rng;     /* the generator before that epoch's shuffle */
    long step;         /* optimiser steps taken */
    double loss_sum;   /* that epoch's running sums, for its report */
    long correct;
    int best_epoch;    /* best validation epoch so far (0: none) */
    double best_val;   /* its validation accuracy */
    int bad_epochs;    /* epochs since it */
    int nblocks;       /* state blocks of nparams floats: adam_m, adam_v,
                          then ema when on, then best when keeping the best */
    float *blocks;     /* malloc'd; train_state_free */
} train_state;

void train_state_free(train_state *s);

/* The shape of network net (enum train_net). */
const mlp_shape *train_net_shape(int net);

/* The limits of the options (the command line's and the metadata's). */
#define TRAIN_MAX_EPOCHS 100000
#define TRAIN_MAX_BATCH 60000
#define TRAIN_MAX_LR 1e6

/* One check for each training option's value, shared by the command line
 * and the metadata reader, so that what one accepts the other does. key is
 * the metadata key: "epochs", "batch_size", "warmup", "val", "patience"
 * (integers, in decimal), "lr" (0, 1e6], "dropout" [0, 0.95],
 * "weight_decay" [0, 10], "label_smoothing" [0, 0.5], "ema" [0, 0.99999].
 * Any text the C library reads as zero is zero ("0e0", ".0"). On success
 * *out is the value; else FM_EINVAL with e->msg saying why (e->file ""). */
int train_option_value(const char *key, const char *text, double *out, fm_err *e);
/* The seed: a decimal integer in 0..2^64-1, no sign. */
int train_seed_value(const char *text, uint64_t *out, fm_err *e);

/* The configuration as metadata lines (appended to meta; only what differs
 * from the recipe, plus epochs, batch_size, lr and seed), and back. */
int train_config_to_meta(const train_config *c, char *meta, size_t cap);
int train_config_from_meta(train_config *c, const char *meta, fm_err *e);
/* The same for metadata that may lack the keys train always writes (a
 * model from elsewhere): each option present must be as train reads it;
 * absent ones are the recipe's. */
int train_config_from_any_meta(train_config *c, const char *meta, fm_err *e);
/* One line naming the options beyond the recipe ("" when none), e.g.
 * "dropout 0.2, weight decay 0.05, cosine schedule". */
void train_config_describe(const train_config *c, char *buf, size_t cap);
/* The state's scalars as metadata lines, and back. The blocks travel as
 * model file state blocks (their names in the "blocks" key). */
int train_state_to_meta(const train_state *s, const train_config *c, char *meta, size_t cap);
int train_state_from_meta(train_state *s, const train_config *c, const char *meta, fm_err *e);
/* How many state blocks a run with this configuration keeps. */
int train_state_blocks(const train_config *c);

/* A batch's mean loss at or above this (nats per image; a random network
 * starts near ln 10 = 2.3) means training has diverged, as does NaN. */
#define TRAIN_DIVERGED_LOSS 1e4

/* What a finished run reports. */
typedef struct train_result {
    double test_accuracy; /* of the model returned; -1 without a test set */
    double val_accuracy;  /* of the model returned; -1 without validation */
    int best_epoch;       /* the epoch of the model returned */
    int epochs_run;       /* fewer than configured after early stopping */
} train_result;

/* Trains m in place from its current parameters, drawing each epoch's
 * shuffle from r; or, when resume is given, continues the run it
 * describes (m then holds that run's parameters and r is ignored). test
 * may be NULL. Everything is allocated once, before the first step.
 * On success m holds the model to keep: the last, its moving average when
 * ema is on, or the best on validation with KEEP_BEST.
 * When h->stop is raised, training stops after the current step: m gets
 * the parameters reached, *stopped (when not NULL) the state to resume
 * from, and the result is FM_EINTR.
 * When a batch's loss becomes NaN, infinite or at least
 * TRAIN_DIVERGED_LOSS, training stops at once with FM_ENUMERIC and m keeps
 * the parameters it had on entry; so it does when, after the last step,
 * the model to keep has such a loss on (up to) the first 1,000 training
 * images; the same holds for any other failure. A resume state whose
 * generator is all zeros (xoshiro's fixed point) is FM_EINVAL. */
int train_run(mlp *m, rng *r, const idx_set *train, const idx_set *test,
              const train_config *cfg, pool *p, const kernel_impl *k, const train_hooks *h,
              const train_state *resume, train_state *stopped, train_result *res, fm_err *e);

/* The validation split of a run: the images held out, as indices into a
 * training set of n images, in *val (cfg->val of them) and the rest in
 * *rest (ascending both). Depends only on the seed, n and cfg->val. */
void train_split(const train_config *cfg, uint32_t n, uint32_t *val, uint32_t *rest);

#endif
