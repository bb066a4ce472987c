/* adam.h: the Adam optimiser, as torch.optim.Adam (1.13, single-tensor path)
 * computes it, with decoupled weight decay (AdamW) as an option.
 *
 * Per element, in float32, for step t = 1, 2, ...:
 *     p = p * (1 - lr * wd)                 (AdamW; skipped when wd == 0)
 *     m = fma(1 - b1, g, m * b1)          (ATen's add_ with alpha is fused)
 *     v = v * b2 + (1 - b2) * g * g
 *     p = p + (-lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)
 * with the bias corrections bc1 = 1 - b1^t, bc2 = 1 - b2^t and the step
 * size computed in double, as PyTorch does in Python, then rounded to float.
 * Reference: Kingma & Ba, https://arxiv.org/abs/1412.6980, Algorithm 1;
 * Loshchilov & Hutter, https://arxiv.org/abs/1711.05101 for the decay. */
#ifndef FMNIST_ADAM_H
#define FMNIST_ADAM_H

#include <stddef.h>

#include "err.h"
#include "kernels.h"
#include "pool.h"

typedef struct adam {
    double lr, beta1, beta2, eps, weight_decay;
    long step;     /* steps taken so far */
    size_t n;
    float *m, *v;  /* one block of 2n floats: first, then second moments */
} adam;

/* Zeroed moments for n parameters, PyTorch's default betas and eps, the
 * given learning rate, no weight decay. On failure *a is untouched. */
int adam_create(adam *a, size_t n, double lr, fm_err *e);
void adam_free(adam *a);

/* One step over params[0..n) with gradients grads[0..n), split over the
 * pool's threads by element ranges (the result never depends on how many).
 * lr is this step's learning rate (a schedule may vary it). */
void adam_step(adam *a, pool *p, adam_fn update, float *params, const float *grads, double lr);

/* This step's float coefficients for adam_update_* (kernels.h). */
adam_coef adam_coefficients(const adam *a, long step, double lr);

/* For steps fused into the backward pass (mlp_update): adam_begin counts
 * the step and fixes its coefficients in *s; adam_update_range then updates
 * any range, from any thread, once per element per step. */
typedef struct adam_stepper {
    adam *a;
    adam_coef c;
    adam_fn update;
    float *params;
    const float *grads;
} adam_stepper;
void adam_begin(adam_stepper *s, adam *a, adam_fn update, float *params, const float *grads,
                double lr);
void adam_update_range(void *stepper, size_t i0, size_t i1);

#endif
