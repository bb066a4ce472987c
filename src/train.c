/* train.c: the loop of forward, loss, backward and Adam steps, resumable. */
#define _POSIX_C_SOURCE 200809L
#include "train.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adam.h"
#include "eval.h"
#include "model_file.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void train_state_free(train_state *s)
{
    if (!s)
        return;
    free(s->blocks);
    s->blocks = NULL;
    s->nblocks = 0;
}

int train_state_to_meta(const train_state *s, char *meta, size_t cap)
{
    int rc = 0;
    rc |= meta_append(meta, cap, "blocks", "adam_m,adam_v");
    rc |= meta_append(meta, cap, "state_epoch", "%d", s->epoch);
    rc |= meta_append(meta, cap, "state_pos", "%" PRIu32, s->pos);
    rc |= meta_append(meta, cap, "state_step", "%ld", s->step);
    rc |= meta_append(meta, cap, "state_rng", "%016" PRIx64 "%016" PRIx64 "%016" PRIx64
                      "%016" PRIx64, s->epoch_rng.s[0], s->epoch_rng.s[1], s->epoch_rng.s[2],
                      s->epoch_rng.s[3]);
    /* %a: the exact double, so the epoch's report is the same bits. */
    rc |= meta_append(meta, cap, "state_loss_sum", "%a", s->loss_sum);
    rc |= meta_append(meta, cap, "state_correct", "%ld", s->correct);
    return rc ? FM_EINVAL : FM_OK;
}

int train_state_from_meta(train_state *s, const char *meta, fm_err *e)
{
    char v[128], *end;
    train_state t;
    memset(&t, 0, sizeof t);
    const char *keys[] = {"blocks", "state_epoch", "state_pos", "state_step", "state_rng",
                          "state_loss_sum", "state_correct"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        if (!meta_get(meta, keys[i], v, sizeof v))
            return fm_fail(e, FM_EFORMAT, NULL, "not a training checkpoint (no %s)", keys[i]);
    meta_get(meta, "blocks", v, sizeof v);
    if (strcmp(v, "adam_m,adam_v") != 0)
        return fm_fail(e, FM_EFORMAT, NULL, "checkpoint state '%s' is not what this fmnist writes",
                       v);
    meta_get(meta, "state_epoch", v, sizeof v);
    long ep = strtol(v, &end, 10);
    if (*end || ep < 0 || ep > 1000000)
        return fm_fail(e, FM_EFORMAT, NULL, "bad state_epoch '%s'", v);
    meta_get(meta, "state_pos", v, sizeof v);
    unsigned long pos = strtoul(v, &end, 10);
    if (*end || pos > IDX_MAX_COUNT)
        return fm_fail(e, FM_EFORMAT, NULL, "bad state_pos '%s'", v);
    meta_get(meta, "state_step", v, sizeof v);
    long step = strtol(v, &end, 10);
    if (*end || step < 0)
        return fm_fail(e, FM_EFORMAT, NULL, "bad state_step '%s'", v);
    meta_get(meta, "state_rng", v, sizeof v);
    if (strlen(v) != 64)
        return fm_fail(e, FM_EFORMAT, NULL, "bad state_rng");
    for (int i = 0; i < 4; i++) {
        char part[17];
        memcpy(part, v + 16 * i, 16);
        part[16] = 0;
        t.epoch_rng.s[i] = strtoull(part, &end, 16);
        if (*end)
            return fm_fail(e, FM_EFORMAT, NULL, "bad state_rng");
    }
    meta_get(meta, "state_loss_sum", v, sizeof v);
    t.loss_sum = strtod(v, &end);
    if (*end || !isfinite(t.loss_sum))
        return fm_fail(e, FM_EFORMAT, NULL, "bad state_loss_sum '%s'", v);
    meta_get(meta, "state_correct", v, sizeof v);
    t.correct = strtol(v, &end, 10);
    if (*end || t.correct < 0)
        return fm_fail(e, FM_EFORMAT, NULL, "bad state_correct '%s'", v);
    t.epoch = (int)ep;
    t.pos = (uint32_t)pos;
    t.step = step;
    s->epoch = t.epoch;
    s->pos = t.pos;
    s->epoch_rng = t.epoch_rng;
    s->step = t.step;
    s->loss_sum = t.loss_sum;
    s->correct = t.correct;
    return FM_OK;
}

/* Fills *st with where the run stands (copying Adam's moments). */
static int snapshot(train_state *st, const adam *opt, int epochs_done, uint32_t pos,
                    const rng *epoch_rng, double loss_sum, long correct, fm_err *e)
{
    float *b = malloc(2 * opt->n * sizeof(float));
    if (!b)
        return fm_fail(e, FM_ENOMEM, NULL, "out of memory for the checkpoint");
    memcpy(b, opt->m, opt->n * sizeof(float));
    memcpy(b + opt->n, opt->v, opt->n * sizeof(float));
    st->epoch = epochs_done;
    st->pos = pos;
    st->epoch_rng = *epoch_rng;
    st->step = opt->step;
    st->loss_sum = loss_sum;
    st->correct = correct;
    st->nblocks = 2;
    st->blocks = b;
    return FM_OK;
}

/* Asks the caches for the images of the next batch: they lie at random in
 * 47 MB, and the gather otherwise waits on memory for each of them. */
static void prefetch_images(const idx_set *d, const uint32_t *idx, int B)
{
#if defined(__GNUC__) || defined(__clang__)
    for (int b = 0; b < B; b++) {
        const uint8_t *img = d->images + (size_t)idx[b] * IDX_PIXELS;
        for (int off = 0; off < IDX_PIXELS; off += 64)
            __builtin_prefetch(img + off, 0, 2);
        __builtin_prefetch(img + IDX_PIXELS - 1, 0, 2);
    }
#else
    (void)d, (void)idx, (void)B;
#endif
}

int train_run(mlp *m, rng *r, const idx_set *train, const idx_set *test,
              const train_config *cfg, pool *p, const kernel_impl *k, const train_hooks *h,
              const train_state *resume, train_state *stopped, double *test_accuracy,
              fm_err *e)
{
    if (cfg->epochs < 1 || cfg->batch_size < 1 || !(cfg->lr > 0) || !isfinite(cfg->lr))
        return fm_fail(e, FM_EINVAL, NULL, "invalid training configuration");
    if (train->n == 0)
        return fm_fail(e, FM_EINVAL, NULL, "no training images");
    if (resume && (resume->nblocks != 2 || !resume->blocks || resume->pos >= train->n ||
                   resume->epoch > cfg->epochs))
        return fm_fail(e, FM_EINVAL, NULL,
                       "the checkpoint does not fit this run (%d of %d epochs, image %u of %u)",
                       resume->epoch, cfg->epochs, resume->pos, train->n);
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

    rng gen = *r;
    int first_epoch = 1;
    uint32_t first_pos = 0;
    double resume_loss = 0;
    long resume_correct = 0;
    if (resume) {
        memcpy(opt.m, resume->blocks, net.nparams * sizeof(float));
        memcpy(opt.v, resume->blocks + net.nparams, net.nparams * sizeof(float));
        opt.step = resume->step;
        gen = resume->epoch_rng;
        first_epoch = resume->epoch + 1;
        first_pos = resume->pos;
        resume_loss = resume->loss_sum;
        resume_correct = resume->correct;
    }

    long steps = (long)((train->n + (uint32_t)bs - 1) / (uint32_t)bs);
    double last_acc = -1;
    for (int epoch = first_epoch; epoch <= cfg->epochs; epoch++) {
        double t0 = now(), loss_sum = 0;
        rng epoch_rng = gen;
        for (uint32_t i = 0; i < train->n; i++)
            perm[i] = i;
        rng_shuffle(&gen, perm, train->n);
        w.correct = 0;
        uint32_t pos = 0;
        train_status s = {.epoch = epoch, .epochs = cfg->epochs, .steps = steps,
                          .test_accuracy = -1, .test_loss = -1};
        if (epoch == first_epoch && first_pos) {
            pos = first_pos;
            loss_sum = resume_loss;
            w.correct = resume_correct;
            s.images = pos;
            s.step = (long)(pos / (uint32_t)bs);
        }
        for (; pos < train->n; pos += (uint32_t)bs) {
            int B = train->n - pos < (uint32_t)bs ? (int)(train->n - pos) : bs;
            mlp_gather(&net, &w, p, k, train->images, train->labels, perm + pos, B);
            if (pos + (uint32_t)B < train->n) {
                uint32_t next = pos + (uint32_t)B;
                prefetch_images(train, perm + next,
                                train->n - next < (uint32_t)bs ? (int)(train->n - next) : bs);
            }
            mlp_forward(&net, &w, p, k);
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
            adam_stepper as;
            adam_begin(&as, &opt, k->adam, net.params, w.grads, cfg->lr);
            mlp_update upd = {adam_update_range, &as};
            mlp_backward(&net, &w, p, k, &upd);
            loss_sum += loss * B;
            s.step++;
            s.images += B;
            if (h && h->on_step) {
                s.loss = loss_sum / (double)s.images;
                s.accuracy = (double)w.correct / (double)s.images;
                s.seconds = now() - t0;
                h->on_step(h->ctx, &s);
            }
            if (h && h->stop && *h->stop && pos + (uint32_t)B < train->n) {
                if (stopped && (rc = snapshot(stopped, &opt, epoch - 1, pos + (uint32_t)B,
                                              &epoch_rng, loss_sum, w.correct, e)))
                    goto out;
                memcpy(m->params, net.params, m->nparams * sizeof(float));
                rc = fm_fail(e, FM_EINTR, NULL, "stopped at epoch %d, step %ld", epoch, s.step);
                goto out;
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
        if (h && h->stop && *h->stop && epoch < cfg->epochs) {
            if (stopped && (rc = snapshot(stopped, &opt, epoch, 0, &gen, 0, 0, e)))
                goto out;
            memcpy(m->params, net.params, m->nparams * sizeof(float));
            rc = fm_fail(e, FM_EINTR, NULL, "stopped after epoch %d", epoch);
            goto out;
        }
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
