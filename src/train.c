/* train.c: the loop of forward, loss, backward and Adam steps. */
#define _POSIX_C_SOURCE 200809L
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adam.h"
#include "eval.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int train_run(mlp *m, rng *r, const idx_set *train, const idx_set *test,
              const train_config *cfg, pool *p, const kernel_impl *k, const train_hooks *h,
              double *test_accuracy, fm_err *e)
{
    if (cfg->epochs < 1 || cfg->batch_size < 1 || !(cfg->lr > 0) || !isfinite(cfg->lr))
        return fm_fail(e, FM_EINVAL, NULL, "invalid training configuration");
    if (train->n == 0)
        return fm_fail(e, FM_EINVAL, NULL, "no training images");
    int bs = (uint32_t)cfg->batch_size < train->n ? cfg->batch_size : (int)train->n;
    mlp net;
    mlp_work w, ew;
    adam opt;
    uint32_t *perm = malloc((size_t)train->n * sizeof *perm);
    int rc = FM_OK;
    int have_net = 0, have_w = 0, have_ew = 0, have_opt = 0;
    if (!perm) {
        rc = fm_fail(e, FM_ENOMEM, NULL, "out of memory");
        goto out;
    }
    /* Train a copy: on failure the caller's network is as it was. */
    if ((rc = mlp_create(&net, m->nlayers, m->width, e)))
        goto out;
    have_net = 1;
    memcpy(net.params, m->params, m->nparams * sizeof(float));
    if ((rc = mlp_work_create(&w, &net, bs, 1, e)))
        goto out;
    have_w = 1;
    if (test) {
        if ((rc = mlp_work_create(&ew, &net, EVAL_BATCH, 0, e)))
            goto out;
        have_ew = 1;
    }
    if ((rc = adam_create(&opt, net.nparams, cfg->lr, e)))
        goto out;
    have_opt = 1;

    long steps = (long)((train->n + (uint32_t)bs - 1) / (uint32_t)bs);
    double last_acc = -1;
    for (int epoch = 1; epoch <= cfg->epochs; epoch++) {
        double t0 = now(), loss_sum = 0;
        for (uint32_t i = 0; i < train->n; i++)
            perm[i] = i;
        rng_shuffle(r, perm, train->n);
        w.correct = 0;
        train_status s = {.epoch = epoch, .epochs = cfg->epochs, .steps = steps,
                          .test_accuracy = -1, .test_loss = -1};
        for (uint32_t pos = 0; pos < train->n; pos += (uint32_t)bs) {
            int B = train->n - pos < (uint32_t)bs ? (int)(train->n - pos) : bs;
            mlp_gather(&net, &w, p, train->images, train->labels, perm + pos, B);
            mlp_forward(&net, &w, p, k->gemm);
            double loss = mlp_loss(&net, &w);
            if (!(loss < TRAIN_DIVERGED_LOSS)) {
                char what[64];
                if (isfinite(loss))
                    snprintf(what, sizeof what, "reached %.3g", loss);
                else
                    snprintf(what, sizeof what, "became %s", isnan(loss) ? "NaN" : "infinite");
                rc = fm_fail(e, FM_ENUMERIC, NULL,
                             "training diverged: the loss %s at epoch %d, step %ld "
                             "(is the learning rate %g too high?)",
                             what, epoch, s.step + 1, cfg->lr);
                goto out;
            }
            mlp_backward(&net, &w, p, k->gemm);
            adam_step(&opt, p, k->adam, net.params, w.grads, cfg->lr);
            loss_sum += loss * B;
            s.step++;
            s.images += B;
            if (h && h->on_step) {
                s.loss = loss_sum / (double)s.images;
                s.accuracy = (double)w.correct / (double)s.images;
                s.seconds = now() - t0;
                h->on_step(h->ctx, &s);
            }
        }
        s.loss = loss_sum / (double)s.images;
        s.accuracy = (double)w.correct / (double)s.images;
        if (test) {
            eval_result er;
            if ((rc = eval_run(&net, test, p, k, &ew, &er, NULL, e)))
                goto out;
            s.test_accuracy = last_acc = (double)er.correct / (double)er.n;
            s.test_loss = er.loss;
        }
        s.seconds = now() - t0;
        if (h && h->on_epoch)
            h->on_epoch(h->ctx, &s);
    }
    memcpy(m->params, net.params, m->nparams * sizeof(float));
    if (test_accuracy)
        *test_accuracy = last_acc;
out:
    if (have_opt)
        adam_free(&opt);
    if (have_ew)
        mlp_work_free(&ew);
    if (have_w)
        mlp_work_free(&w);
    if (have_net)
        mlp_free(&net);
    free(perm);
    return rc;
}
