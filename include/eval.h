/* eval.h: a network's accuracy, loss and confusion matrix on a data set. */
#ifndef FMNIST_EVAL_H
#define FMNIST_EVAL_H

#include "err.h"
#include "idx.h"
#include "kernels.h"
#include "mlp.h"
#include "pool.h"

/* The batch of every evaluation, the training batch's size: a first
 * layer's GEMM keeps its inputs (784 x 64 floats, 200 KB) in level 2, where
 * a larger batch's spill. Measured on the Zen 3 (evaluating the test set,
 * quickest of 5, alternated): the MLP 38 ms at 64 against 53 at 125 and
 * 52 at 500 on two threads, 85 against 110 and 114 on one; the
 * convolutional network 205 ms against 234 at 125. Each image's output
 * does not depend on its batch; only the mean loss's last bits of double
 * rounding do. */
#define EVAL_BATCH 64

typedef struct eval_result {
    long n, correct;
    double loss;                                 /* mean NLL */
    long confusion[IDX_CLASSES][IDX_CLASSES];    /* [true][predicted] */
} eval_result;

/* Classifies every image of d (the network must have 784 inputs and 10
 * outputs). predictions (NULL: not wanted) receives d->n predicted labels.
 * Works in batches of up to EVAL_BATCH on the pool's threads, in work when
 * given (an inference or training workspace of m), else in one of its own.
 * On failure *out is untouched. */
int eval_run(const mlp *m, const idx_set *d, pool *p, const kernel_impl *k, mlp_work *work,
             eval_result *out, uint8_t *predictions, fm_err *e);

/* Precision and recall of class c, as fractions; NaN when undefined (a
 * class never predicted has no precision, one absent from the set no
 * recall: 0 of 0). */
double eval_precision(const eval_result *r, int c);
double eval_recall(const eval_result *r, int c);

/* The class names of Fashion-MNIST, by label. */
extern const char *const fmnist_class_names[IDX_CLASSES];

#endif
