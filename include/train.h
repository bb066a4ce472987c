/* train.h: the training loop of the recipe.
 *
 * Per epoch: reshuffle the training set from the generator, then per batch
 * (the last, partial one kept): gather and normalise, forward, loss,
 * backward, Adam step; then evaluate the test set when one is given. The
 * loop reports through callbacks and never prints. */
#ifndef FMNIST_TRAIN_H
#define FMNIST_TRAIN_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "idx.h"
#include "kernels.h"
#include "mlp.h"
#include "pool.h"
#include "rng.h"

typedef struct train_config {
    int epochs;      /* >= 1 */
    int batch_size;  /* >= 1 */
    double lr;       /* Adam's learning rate */
} train_config;

/* What the callbacks see. */
typedef struct train_status {
    int epoch, epochs;      /* the current epoch, 1-based */
    long step, steps;       /* steps done in this epoch, steps per epoch */
    long images;            /* images seen in this epoch */
    double loss;            /* mean training loss of this epoch so far */
    double accuracy;        /* training accuracy of this epoch so far */
    double seconds;         /* since the epoch began */
    double test_accuracy;   /* after the epoch (epoch callback), -1 when no test set */
    double test_loss;
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
    int nblocks;       /* state blocks of nparams floats: adam_m, adam_v */
    float *blocks;     /* malloc'd; train_state_free */
} train_state;

void train_state_free(train_state *s);
/* The state's scalars as metadata lines (appended to meta), and back. The
 * blocks travel as model file state blocks. */
int train_state_to_meta(const train_state *s, char *meta, size_t cap);
int train_state_from_meta(train_state *s, const char *meta, fm_err *e);

/* A batch's mean loss at or above this (nats per image; a random network
 * starts near ln 10 = 2.3) means training has diverged, as does NaN. */
#define TRAIN_DIVERGED_LOSS 1e4

/* Trains m in place from its current parameters, drawing each epoch's
 * shuffle from r; or, when resume is given, continues the run it
 * describes (m then holds that run's parameters and r is ignored). test
 * may be NULL. The workspace, Adam's moments and the permutation are
 * allocated once, before the first step.
 * When h->stop is raised, training stops after the current step: m gets
 * the parameters reached, *stopped (when not NULL) the state to resume
 * from, and the result is FM_EINTR.
 * When a batch's loss becomes NaN, infinite or at least
 * TRAIN_DIVERGED_LOSS, training stops at once with FM_ENUMERIC and m keeps
 * the parameters it had on entry; the same holds for any other failure.
 * *test_accuracy (may be NULL) gets the final test accuracy. */
int train_run(mlp *m, rng *r, const idx_set *train, const idx_set *test,
              const train_config *cfg, pool *p, const kernel_impl *k, const train_hooks *h,
              const train_state *resume, train_state *stopped, double *test_accuracy,
              fm_err *e);

#endif
