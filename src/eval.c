/* eval.c: batched inference over a data set. */
#include "eval.h"

#include <math.h>

#include <string.h>

const char *const fmnist_class_names[IDX_CLASSES] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot",
};

int eval_run(const mlp *m, const idx_set *d, pool *p, const kernel_impl *k, mlp_work *work,
             eval_result *out, uint8_t *predictions, fm_err *e)
{
    int L = m->nlayers;
    if (mlp_inputs(m) != IDX_PIXELS || m->width[L] != IDX_CLASSES)
        return fm_fail(e, FM_EINVAL, NULL, "the network has %d input%s and %d output%s, not %d "
                       "and %d", mlp_inputs(m), fm_plural((unsigned)mlp_inputs(m)), m->width[L],
                       fm_plural((unsigned)m->width[L]), IDX_PIXELS, IDX_CLASSES);
    mlp_work own, *w = work ? work : &own;
    int bs = d->n < EVAL_BATCH ? (int)d->n : EVAL_BATCH;
    if (bs < 1)
        bs = 1;
    if (work && bs > work->max_batch)
        bs = work->max_batch;
    if (!work) {
        int rc = mlp_work_create_team(&own, m, bs, 0, pool_size(p), e);
        if (rc)
            return rc;
    }
    long correct0 = w->correct;
    eval_result r;
    memset(&r, 0, sizeof r);
    double loss = 0;
    for (uint32_t i = 0; i < d->n; i += (uint32_t)bs) {
        int B = d->n - i < (uint32_t)bs ? (int)(d->n - i) : bs;
        mlp_gather(m, w, p, k, d->images + (size_t)i * IDX_PIXELS, d->labels + i, NULL, B);
        mlp_forward(m, w, p, k);
        loss += mlp_loss(m, w) * B;
        const float *lp = w->actT[L];
        for (int b = 0; b < B; b++) {
            int arg = 0;
            for (int c = 1; c < IDX_CLASSES; c++)
                if (lp[(size_t)c * B + b] > lp[(size_t)arg * B + b])
                    arg = c;
            r.confusion[w->labels[b]][arg]++;
            if (predictions)
                predictions[i + (uint32_t)b] = (uint8_t)arg;
        }
    }
    r.n = d->n;
    r.correct = w->correct - correct0;
    r.loss = d->n ? loss / d->n : 0;
    if (!work)
        mlp_work_free(&own);
    *out = r;
    return FM_OK;
}

double eval_precision(const eval_result *r, int c)
{
    long col = 0;
    for (int t = 0; t < IDX_CLASSES; t++)
        col += r->confusion[t][c];
    return col ? (double)r->confusion[c][c] / col : NAN;
}

double eval_recall(const eval_result *r, int c)
{
    long row = 0;
    for (int p = 0; p < IDX_CLASSES; p++)
        row += r->confusion[c][p];
    return row ? (double)r->confusion[c][c] / row : NAN;
}
