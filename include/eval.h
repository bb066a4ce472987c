/* eval.h: a network's accuracy, loss and confusion matrix on a data set. */
#ifndef FMNIST_EVAL_H
#define FMNIST_EVAL_H

#include "err.h"
#include "idx.h"
#include "kernels.h"
#include "mlp.h"
#include "pool.h"

#define EVAL_BATCH 500
/* The batch of the evaluations during training: 3 MB less memory than
 * EVAL_BATCH and no slower on two threads (5 evaluations of the test set
 * in turn: 70 ms at 125, 100 ms at 500, 80 ms single-threaded before). Each
 * image's output does not depend on its batch; only the mean loss's last
 * bits of double rounding do. */
#define EVAL_BATCH_TRAINING 125

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
