/* adam.c: the optimiser step. */
#include "adam.h"
#include "mem.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int adam_create(adam *a, size_t n, double lr, fm_err *e)
{
    float *mv = mem_zalloc((2 * n + 1) * sizeof(float));
    if (!mv)
        return fm_fail(e, FM_ENOMEM, NULL, "out of memory for Adam's moments");
    a->lr = lr;
    a->beta1 = 0.9;
    a->beta2 = 0.999;
    a->eps = 1e-8;
    a->weight_decay = 0;
    a->step = 0;
    a->n = n;
    a->m = mv;
    a->v = mv + n;
    return FM_OK;
}

void adam_free(adam *a)
{
    if (!a)
        return;
    free(a->m);
    a->m = a->v = NULL;
}

adam_coef adam_coefficients(const adam *a, long step, double lr)
{
    /* As torch/optim/adam.py: Python floats (double) for the corrections,
     * then every scalar enters the float32 tensor ops rounded to float. */
    double bc1 = 1.0 - pow(a->beta1, (double)step);
    double bc2 = 1.0 - pow(a->beta2, (double)step);
    adam_coef c;
    c.b1 = (float)a->beta1;
    c.one_minus_b1 = (float)(1.0 - a->beta1);
    c.b2 = (float)a->beta2;
    c.one_minus_b2 = (float)(1.0 - a->beta2);
    c.eps = (float)a->eps;
    c.neg_step_size = (float)-(lr / bc1);
    c.bc2_sqrt = (float)sqrt(bc2);
    c.decay = (float)(1.0 - lr * a->weight_decay);
    c.ema = NULL;
    c.ema_d = 1.0f;
    c.ema_od = 0.0f;
    return c;
}

typedef struct step_ctx {
    adam *a;
    adam_coef c;
    adam_fn update;
    float *params;
    const float *grads;
} step_ctx;

/* Elements per chunk of the step: 64 KB of each array. */
#define CHUNK 16384

static void step_chunk(void *arg, int chunk, int thread)
{
    (void)thread;
    step_ctx *s = arg;
    size_t i0 = (size_t)chunk * CHUNK, i1 = i0 + CHUNK < s->a->n ? i0 + CHUNK : s->a->n;
    s->update(&s->c, s->params, s->grads, s->a->m, s->a->v, i0, i1);
}

void adam_step(adam *a, pool *p, adam_fn update, float *params, const float *grads, double lr)
{
    a->step++;
    step_ctx s = {a, adam_coefficients(a, a->step, lr), update, params, grads};
    pool_run(p, (int)((a->n + CHUNK - 1) / CHUNK), step_chunk, &s);
}

void adam_begin(adam_stepper *s, adam *a, adam_fn update, float *params, const float *grads,
                double lr)
{
    a->step++;
    s->a = a;
    s->c = adam_coefficients(a, a->step, lr);
    s->update = update;
    s->params = params;
    s->grads = grads;
}

void adam_update_range(void *stepper, size_t i0, size_t i1)
{
    adam_stepper *s = stepper;
    s->update(&s->c, s->params, s->grads, s->a->m, s->a->v, i0, i1);
}
