/* train.c: the training loop, its options, and its resumable state. */
#define _POSIX_C_SOURCE 200809L
#include "train.h"
#include "mem.h"

#include <errno.h>
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

train_config train_defaults(void)
{
    train_config c;
    memset(&c, 0, sizeof c);
    c.epochs = 5;
    c.batch_size = 64;
    c.lr = 0.003;
    c.seed = 1;
    c.schedule = SCHEDULE_CONST;
    c.keep = KEEP_LAST;
    return c;
}

#define PI 3.14159265358979323846

double train_lr(const train_config *c, long t, long spe)
{
    long total = (long)c->epochs * spe, W = (long)c->warmup * spe;
    if (W > total)
        W = total;
    if (t < W)
        return c->lr * (double)(t + 1) / (double)W;
    double u = (double)(t - W), T = (double)(total - W);
    switch (c->schedule) {
    case SCHEDULE_COSINE: return T > 0 ? c->lr * 0.5 * (1 + cos(PI * u / T)) : c->lr;
    case SCHEDULE_STEP: return c->lr * (u >= 0.75 * T ? 0.01 : u >= 0.5 * T ? 0.1 : 1.0);
    default: return c->lr;
    }
}

/* ---- configuration and state as metadata ---- */

/* The shortest "%g" text that reads back as exactly x. */
static void shortest(char *buf, size_t cap, double x)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, x);
        if (strtod(buf, NULL) == x)
            return;
    }
}

static const char *schedule_names[] = {"const", "cosine", "step"};

int train_config_to_meta(const train_config *c, char *meta, size_t cap)
{
    char v[32];
    int rc = 0;
    rc |= meta_append(meta, cap, "epochs", "%d", c->epochs);
    rc |= meta_append(meta, cap, "batch_size", "%d", c->batch_size);
    shortest(v, sizeof v, c->lr);
    rc |= meta_append(meta, cap, "lr", "%s", v);
    rc |= meta_append(meta, cap, "seed", "%" PRIu64, c->seed);
    const struct { const char *key; double v; } opt[] = {
        {"dropout", c->dropout}, {"weight_decay", c->weight_decay},
        {"label_smoothing", c->label_smoothing}, {"ema", c->ema}};
    for (size_t i = 0; i < sizeof opt / sizeof *opt; i++)
        if (opt[i].v != 0) {
            shortest(v, sizeof v, opt[i].v);
            rc |= meta_append(meta, cap, opt[i].key, "%s", v);
        }
    if (c->schedule != SCHEDULE_CONST)
        rc |= meta_append(meta, cap, "schedule", "%s", schedule_names[c->schedule]);
    if (c->warmup)
        rc |= meta_append(meta, cap, "warmup", "%d", c->warmup);
    if (c->val)
        rc |= meta_append(meta, cap, "val", "%" PRIu32, c->val);
    if (c->keep == KEEP_BEST)
        rc |= meta_append(meta, cap, "keep", "best");
    if (c->patience)
        rc |= meta_append(meta, cap, "patience", "%d", c->patience);
    return rc ? FM_EINVAL : FM_OK;
}

/* Every training option's values, for the command line and the metadata
 * reader alike. lo_open: lo itself is excluded. */
static const struct option_range {
    const char *key;
    double lo, hi;
    int lo_open, integer;
} option_ranges[] = {
    {"epochs", 1, TRAIN_MAX_EPOCHS, 0, 1},
    {"batch_size", 1, TRAIN_MAX_BATCH, 0, 1},
    {"lr", 0, TRAIN_MAX_LR, 1, 0},
    {"dropout", 0, 0.95, 0, 0},
    {"weight_decay", 0, 10, 0, 0},
    {"label_smoothing", 0, 0.5, 0, 0},
    {"ema", 0, 0.99999, 0, 0},
    {"warmup", 0, TRAIN_MAX_EPOCHS, 0, 1},
    {"val", 0, TRAIN_MAX_BATCH - 1, 0, 1},
    {"patience", 0, TRAIN_MAX_EPOCHS, 0, 1},
};

static int integer_value(const struct option_range *r, const char *text, double *out, fm_err *e)
{
    const char *p = text + (*text == '+' || *text == '-');
    char *end;
    if (*p < '0' || *p > '9')
        return fm_fail(e, FM_EINVAL, NULL, "'%s' is not an integer", text);
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (*end)
        return fm_fail(e, FM_EINVAL, NULL, "'%s' is not an integer", text);
    if (errno == ERANGE || v < (long long)r->lo || v > (long long)r->hi)
        return fm_fail(e, FM_EINVAL, NULL, "%s is out of range %.0f..%.0f", text, r->lo, r->hi);
    *out = (double)v;
    return FM_OK;
}

int train_option_value(const char *key, const char *text, double *out, fm_err *e)
{
    const struct option_range *r = NULL;
    for (size_t i = 0; i < sizeof option_ranges / sizeof *option_ranges; i++)
        if (!strcmp(option_ranges[i].key, key))
            r = &option_ranges[i];
    if (!r)
        return fm_fail(e, FM_EINVAL, NULL, "unknown option '%s'", key);
    if (r->integer)
        return integer_value(r, text, out, e);
    const char *p = text + (*text == '+' || *text == '-');
    char *end;
    if (!((*p >= '0' && *p <= '9') || (*p == '.' && p[1] >= '0' && p[1] <= '9')))
        return fm_fail(e, FM_EINVAL, NULL, "'%s' is not a number", text);
    double v = strtod(text, &end);
    if (*end)
        return fm_fail(e, FM_EINVAL, NULL, "'%s' is not a number", text);
    if (v == 0)
        v = 0; /* whatever the C library reads as zero ("0e0", ".0", "-0") is zero */
    if (!isfinite(v) || v > r->hi || (r->lo_open ? !(v > r->lo) : !(v >= r->lo)))
        return fm_fail(e, FM_EINVAL, NULL, "%s is out of range %s%g, %g]", text,
                       r->lo_open ? "(" : "[", r->lo, r->hi);
    *out = v;
    return FM_OK;
}

int train_seed_value(const char *text, uint64_t *out, fm_err *e)
{
    char *end;
    if (*text < '0' || *text > '9')
        return fm_fail(e, FM_EINVAL, NULL, "'%s' is not a non-negative integer", text);
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (*end)
        return fm_fail(e, FM_EINVAL, NULL, "'%s' is not a non-negative integer", text);
    if (errno == ERANGE || v > UINT64_MAX)
        return fm_fail(e, FM_EINVAL, NULL, "%s is out of range 0..%" PRIu64, text, UINT64_MAX);
    *out = (uint64_t)v;
    return FM_OK;
}

/* A state value in [lo, hi]. */
static int get_num(const char *meta, const char *key, double lo, double hi, double *out,
                   fm_err *e)
{
    char v[64], *end;
    if (!meta_get(meta, key, v, sizeof v))
        return fm_fail(e, FM_EFORMAT, NULL, "no %s recorded", key);
    double x = strtod(v, &end);
    if (!*v || *end || !(x >= lo && x <= hi))
        return fm_fail(e, FM_EFORMAT, NULL, "bad %s '%s'", key, v);
    *out = x;
    return FM_OK;
}

/* A state value that counts: digits only, at most hi. */
static int get_count(const char *meta, const char *key, double hi, double *out, fm_err *e)
{
    char v[64];
    if (!meta_get(meta, key, v, sizeof v))
        return fm_fail(e, FM_EFORMAT, NULL, "no %s recorded", key);
    size_t n = strspn(v, "0123456789");
    if (n == 0 || v[n] || n > 17 || strtod(v, NULL) > hi)
        return fm_fail(e, FM_EFORMAT, NULL, "bad %s '%s'", key, v);
    *out = strtod(v, NULL);
    return FM_OK;
}

/* A recorded training option, checked as the command line checks it. */
static int get_option(const char *meta, const char *key, int required, double *out, fm_err *e)
{
    char v[64];
    fm_err why;
    if (!meta_get(meta, key, v, sizeof v))
        return required ? fm_fail(e, FM_EFORMAT, NULL, "no %s recorded", key) : FM_OK;
    if (train_option_value(key, v, out, &why))
        return fm_fail(e, FM_EFORMAT, NULL, "bad %s: %s", key, why.msg);
    return FM_OK;
}

int train_config_from_meta(train_config *c, const char *meta, fm_err *e)
{
    train_config t = train_defaults();
    double ep, bs, warm = 0, val = 0, pat = 0;
    char v[64];
    int rc;
    fm_err why;
    if ((rc = get_option(meta, "epochs", 1, &ep, e)) ||
        (rc = get_option(meta, "batch_size", 1, &bs, e)) ||
        (rc = get_option(meta, "lr", 1, &t.lr, e)) ||
        (rc = get_option(meta, "dropout", 0, &t.dropout, e)) ||
        (rc = get_option(meta, "weight_decay", 0, &t.weight_decay, e)) ||
        (rc = get_option(meta, "label_smoothing", 0, &t.label_smoothing, e)) ||
        (rc = get_option(meta, "ema", 0, &t.ema, e)) ||
        (rc = get_option(meta, "warmup", 0, &warm, e)) ||
        (rc = get_option(meta, "val", 0, &val, e)) ||
        (rc = get_option(meta, "patience", 0, &pat, e)))
        return rc;
    if (!meta_get(meta, "seed", v, sizeof v))
        return fm_fail(e, FM_EFORMAT, NULL, "no seed recorded");
    if (train_seed_value(v, &t.seed, &why))
        return fm_fail(e, FM_EFORMAT, NULL, "bad seed: %s", why.msg);
    if (meta_get(meta, "schedule", v, sizeof v)) {
        int found = -1;
        for (int i = 0; i < 3; i++)
            if (!strcmp(v, schedule_names[i]))
                found = i;
        if (found < 0)
            return fm_fail(e, FM_EFORMAT, NULL, "bad schedule '%s'", v);
        t.schedule = found;
    }
    if (meta_get(meta, "keep", v, sizeof v)) {
        if (strcmp(v, "best") && strcmp(v, "last"))
            return fm_fail(e, FM_EFORMAT, NULL, "bad keep '%s'", v);
        t.keep = strcmp(v, "best") ? KEEP_LAST : KEEP_BEST;
    }
    t.epochs = (int)ep;
    t.batch_size = (int)bs;
    t.warmup = (int)warm;
    t.val = (uint32_t)val;
    t.patience = (int)pat;
    *c = t;
    return FM_OK;
}

void train_config_describe(const train_config *c, char *buf, size_t cap)
{
    char v[32];
    size_t n = 0;
    buf[0] = 0;
#define ADD(...)                                                                   \
    do {                                                                           \
        if (n < cap)                                                               \
            n += (size_t)snprintf(buf + n, cap - n, "%s", n ? ", " : "");          \
        if (n < cap)                                                               \
            n += (size_t)snprintf(buf + n, cap - n, __VA_ARGS__);                  \
    } while (0)
    if (c->dropout) {
        shortest(v, sizeof v, c->dropout);
        ADD("dropout %s", v);
    }
    if (c->weight_decay) {
        shortest(v, sizeof v, c->weight_decay);
        ADD("weight decay %s", v);
    }
    if (c->schedule != SCHEDULE_CONST)
        ADD("%s schedule", schedule_names[c->schedule]);
    if (c->warmup)
        ADD("warm-up %d epoch%s", c->warmup, c->warmup == 1 ? "" : "s");
    if (c->label_smoothing) {
        shortest(v, sizeof v, c->label_smoothing);
        ADD("label smoothing %s", v);
    }
    if (c->ema) {
        shortest(v, sizeof v, c->ema);
        ADD("EMA %s", v);
    }
    if (c->val)
        ADD("%u validation images", c->val);
    if (c->keep == KEEP_BEST)
        ADD("best validation epoch kept");
    if (c->patience)
        ADD("patience %d", c->patience);
#undef ADD
}

int train_state_blocks(const train_config *c)
{
    return 2 + (c->ema > 0) + (c->keep == KEEP_BEST);
}

static void blocks_name(const train_config *c, char *buf, size_t cap)
{
    snprintf(buf, cap, "adam_m,adam_v%s%s", c->ema > 0 ? ",ema" : "",
             c->keep == KEEP_BEST ? ",best" : "");
}

void train_state_free(train_state *s)
{
    if (!s)
        return;
    free(s->blocks);
    s->blocks = NULL;
    s->nblocks = 0;
}

int train_state_to_meta(const train_state *s, const train_config *c, char *meta, size_t cap)
{
    char names[64];
    blocks_name(c, names, sizeof names);
    int rc = 0;
    rc |= meta_append(meta, cap, "blocks", "%s", names);
    rc |= meta_append(meta, cap, "state_epoch", "%d", s->epoch);
    rc |= meta_append(meta, cap, "state_pos", "%" PRIu32, s->pos);
    rc |= meta_append(meta, cap, "state_step", "%ld", s->step);
    rc |= meta_append(meta, cap, "state_rng", "%016" PRIx64 "%016" PRIx64 "%016" PRIx64
                      "%016" PRIx64, s->epoch_rng.s[0], s->epoch_rng.s[1], s->epoch_rng.s[2],
                      s->epoch_rng.s[3]);
    /* %a: the exact double, so the epoch's report is the same bits. */
    rc |= meta_append(meta, cap, "state_loss_sum", "%a", s->loss_sum);
    rc |= meta_append(meta, cap, "state_correct", "%ld", s->correct);
    rc |= meta_append(meta, cap, "state_best_epoch", "%d", s->best_epoch);
    rc |= meta_append(meta, cap, "state_best_val", "%a", s->best_val);
    rc |= meta_append(meta, cap, "state_bad_epochs", "%d", s->bad_epochs);
    return rc ? FM_EINVAL : FM_OK;
}

int train_state_from_meta(train_state *s, const train_config *c, const char *meta, fm_err *e)
{
    char v[128], *end, names[64];
    train_state t;
    memset(&t, 0, sizeof t);
    blocks_name(c, names, sizeof names);
    if (!meta_get(meta, "blocks", v, sizeof v))
        return fm_fail(e, FM_EFORMAT, NULL, "not a training checkpoint (no state blocks)");
    if (strcmp(v, names) != 0)
        return fm_fail(e, FM_EFORMAT, NULL, "checkpoint state '%s' does not fit its options", v);
    double ep, pos, step, correct, best_epoch, bad;
    int rc;
    if ((rc = get_count(meta, "state_epoch", TRAIN_MAX_EPOCHS, &ep, e)) ||
        (rc = get_count(meta, "state_pos", IDX_MAX_COUNT, &pos, e)) ||
        (rc = get_count(meta, "state_step", 1e15, &step, e)) ||
        (rc = get_num(meta, "state_loss_sum", 0, 1e300, &t.loss_sum, e)) ||
        (rc = get_count(meta, "state_correct", IDX_MAX_COUNT, &correct, e)) ||
        (rc = get_count(meta, "state_best_epoch", TRAIN_MAX_EPOCHS, &best_epoch, e)) ||
        (rc = get_num(meta, "state_best_val", -1, 1, &t.best_val, e)) ||
        (rc = get_count(meta, "state_bad_epochs", TRAIN_MAX_EPOCHS, &bad, e)))
        return rc;
    if (!meta_get(meta, "state_rng", v, sizeof v) || strlen(v) != 64 ||
        strspn(v, "0123456789abcdefABCDEF") != 64)
        return fm_fail(e, FM_EFORMAT, NULL, "bad state_rng");
    for (int i = 0; i < 4; i++) {
        char part[17];
        memcpy(part, v + 16 * i, 16);
        part[16] = 0;
        t.epoch_rng.s[i] = strtoull(part, &end, 16);
    }
    /* xoshiro's one invalid state: it gives zeros for ever, and a shuffle
     * drawing from it would never end. */
    if (!(t.epoch_rng.s[0] | t.epoch_rng.s[1] | t.epoch_rng.s[2] | t.epoch_rng.s[3]))
        return fm_fail(e, FM_EFORMAT, NULL, "bad state_rng: all zeros, not a generator state");
    s->epoch = (int)ep;
    s->pos = (uint32_t)pos;
    s->epoch_rng = t.epoch_rng;
    s->step = (long)step;
    s->loss_sum = t.loss_sum;
    s->correct = (long)correct;
    s->best_epoch = (int)best_epoch;
    s->best_val = t.best_val;
    s->bad_epochs = (int)bad;
    return FM_OK;
}

/* ---- the loop ---- */

void train_split(const train_config *cfg, uint32_t n, uint32_t *val, uint32_t *rest)
{
    uint32_t nv = cfg->val < n ? cfg->val : n;
    if (nv == 0) {
        for (uint32_t i = 0; i < n; i++)
            rest[i] = i;
        return;
    }
    /* Its own stream, so the split never shifts the shuffles or the init. */
    rng r;
    rng_seed(&r, cfg->seed ^ 0x76616c6964617465u);
    uint8_t *held = calloc(n, 1);
    uint32_t *all = malloc((size_t)n * sizeof *all);
    if (held && all) {
        for (uint32_t i = 0; i < n; i++)
            all[i] = i;
        rng_shuffle(&r, all, n);
        for (uint32_t i = 0; i < nv; i++)
            held[all[i]] = 1;
    }
    uint32_t a = 0, b = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (held && all ? held[i] : i < nv)
            val[a++] = i;
        else
            rest[b++] = i;
    }
    free(held);
    free(all);
}

/* The step's dropout key: a function of the seed and the step only. */
static uint32_t dropout_key(uint64_t seed, long step)
{
    uint64_t z = seed * 0xd1342543de82ef95u + (uint64_t)step * 0x9e3779b97f4a7c15u;
    z = (z ^ (z >> 32)) * 0xbf58476d1ce4e5b9u;
    return (uint32_t)((z ^ (z >> 29)) >> 32);
}

/* Fills *st with where the run stands (copying the state blocks). */
static int snapshot(train_state *st, const train_config *cfg, const adam *opt, const float *ema,
                    const float *best, int epochs_done, uint32_t pos, const rng *epoch_rng,
                    double loss_sum, long correct, int best_epoch, double best_val,
                    int bad_epochs, fm_err *e)
{
    int nb = train_state_blocks(cfg);
    size_t n = opt->n;
    float *b = malloc((size_t)nb * n * sizeof(float));
    if (!b)
        return fm_fail(e, FM_ENOMEM, NULL, "out of memory for the checkpoint");
    memcpy(b, opt->m, n * sizeof(float));
    memcpy(b + n, opt->v, n * sizeof(float));
    int at = 2;
    if (cfg->ema > 0)
        memcpy(b + (size_t)at++ * n, ema, n * sizeof(float));
    if (cfg->keep == KEEP_BEST)
        memcpy(b + (size_t)at * n, best, n * sizeof(float));
    st->epoch = epochs_done;
    st->pos = pos;
    st->epoch_rng = *epoch_rng;
    st->step = opt->step;
    st->loss_sum = loss_sum;
    st->correct = correct;
    st->best_epoch = best_epoch;
    st->best_val = best_val;
    st->bad_epochs = bad_epochs;
    st->nblocks = nb;
    st->blocks = b;
    return FM_OK;
}

static int check_config(const train_config *c, uint32_t n, fm_err *e)
{
    if (c->epochs < 1 || c->batch_size < 1 || !(c->lr > 0) || !isfinite(c->lr))
        return fm_fail(e, FM_EINVAL, NULL, "invalid training configuration");
    if (!(c->dropout >= 0 && c->dropout < 1) || !(c->label_smoothing >= 0 && c->label_smoothing < 1) ||
        !(c->ema >= 0 && c->ema < 1) || !(c->weight_decay >= 0) || !isfinite(c->weight_decay) ||
        c->warmup < 0 || c->patience < 0 || c->schedule < 0 || c->schedule > SCHEDULE_STEP)
        return fm_fail(e, FM_EINVAL, NULL, "invalid training option");
    if (c->val >= n)
        return fm_fail(e, FM_EINVAL, NULL, "--val %u leaves no training images (of %u)", c->val, n);
    if ((c->keep == KEEP_BEST || c->patience) && !c->val)
        return fm_fail(e, FM_EINVAL, NULL, "keeping the best epoch or early stopping needs --val");
    return FM_OK;
}

int train_run(mlp *m, rng *r, const idx_set *train, const idx_set *test,
              const train_config *cfg, pool *p, const kernel_impl *k, const train_hooks *h,
              const train_state *resume, train_state *stopped, train_result *res, fm_err *e)
{
    int rc;
    if (train->n == 0)
        return fm_fail(e, FM_EINVAL, NULL, "no training images");
    if ((rc = check_config(cfg, train->n, e)))
        return rc;
    uint32_t ntrain = train->n - cfg->val;
    if (resume && (resume->nblocks != train_state_blocks(cfg) || !resume->blocks ||
                   resume->pos >= ntrain || resume->epoch >= cfg->epochs))
        return fm_fail(e, FM_EINVAL, NULL,
                       "the checkpoint does not fit this run (%d of %d epochs, image %u of %u)",
                       resume->epoch, cfg->epochs, resume->pos, ntrain);
    int bs = (uint32_t)cfg->batch_size < ntrain ? cfg->batch_size : (int)ntrain;
    size_t P = m->nparams;

    /* Everything the run needs, allocated once. */
    mlp net;
    memset(&net, 0, sizeof net);
    mlp_work w, ew;
    memset(&w, 0, sizeof w);
    memset(&ew, 0, sizeof ew);
    adam opt;
    memset(&opt, 0, sizeof opt);
    idx_set val = {0};
    uint32_t *order = malloc((size_t)ntrain * sizeof *order);
    uint32_t *perm = malloc((size_t)ntrain * sizeof *perm);
    uint32_t *val_idx = cfg->val ? malloc((size_t)cfg->val * sizeof *val_idx) : NULL;
    float *ema = cfg->ema > 0 ? mem_alloc(P * sizeof(float)) : NULL;
    float *best = cfg->keep == KEEP_BEST ? mem_alloc(P * sizeof(float)) : NULL;
    if (cfg->val) {
        val.n = cfg->val;
        val.images = mem_alloc((size_t)cfg->val * IDX_PIXELS);
        val.labels = malloc(cfg->val);
    }
    if (!order || !perm || (cfg->val && (!val_idx || !val.images || !val.labels)) ||
        (cfg->ema > 0 && !ema) || (cfg->keep == KEEP_BEST && !best)) {
        rc = fm_fail(e, FM_ENOMEM, NULL, "out of memory");
        goto out;
    }
    /* Train a copy: on failure the caller's network is as it was. */
    if ((rc = mlp_create(&net, m->nlayers, m->width, e)) ||
        (rc = mlp_work_create_team(&w, &net, bs, 1, pool_size(p), e)) ||
        ((test || cfg->val) && (rc = mlp_work_create(&ew, &net, EVAL_BATCH, 0, e))) ||
        (rc = adam_create(&opt, P, cfg->lr, e)))
        goto out;
    memcpy(net.params, m->params, P * sizeof(float));
    opt.weight_decay = cfg->weight_decay;
    w.smoothing = (float)cfg->label_smoothing;
    w.dropout = (float)cfg->dropout;
    train_split(cfg, train->n, val_idx, order);
    for (uint32_t i = 0; i < cfg->val; i++) {
        memcpy(val.images + (size_t)i * IDX_PIXELS, train->images + (size_t)val_idx[i] * IDX_PIXELS,
               IDX_PIXELS);
        val.labels[i] = train->labels[val_idx[i]];
    }
    if (ema)
        memcpy(ema, net.params, P * sizeof(float));

    rng gen = *r;
    int first_epoch = 1, best_epoch = 0, bad_epochs = 0;
    double best_val = -1;
    uint32_t first_pos = 0;
    double resume_loss = 0;
    long resume_correct = 0;
    if (resume) {
        memcpy(opt.m, resume->blocks, P * sizeof(float));
        memcpy(opt.v, resume->blocks + P, P * sizeof(float));
        int at = 2;
        if (ema)
            memcpy(ema, resume->blocks + (size_t)at++ * P, P * sizeof(float));
        if (best)
            memcpy(best, resume->blocks + (size_t)at * P, P * sizeof(float));
        opt.step = resume->step;
        gen = resume->epoch_rng;
        first_epoch = resume->epoch + 1;
        first_pos = resume->pos;
        resume_loss = resume->loss_sum;
        resume_correct = resume->correct;
        best_epoch = resume->best_epoch;
        best_val = resume->best_val;
        bad_epochs = resume->bad_epochs;
    }
    /* The network evaluated and kept: the moving average when on. */
    mlp shown = net;
    if (ema)
        shown.params = ema;

    long steps = (long)((ntrain + (uint32_t)bs - 1) / (uint32_t)bs);
    double last_test = -1, last_val = -1;
    int epochs_run = first_epoch - 1;
    for (int epoch = first_epoch; epoch <= cfg->epochs; epoch++) {
        double t0 = now(), loss_sum = 0;
        rng epoch_rng = gen;
        memcpy(perm, order, (size_t)ntrain * sizeof *perm);
        rng_shuffle(&gen, perm, ntrain);
        w.correct = 0;
        uint32_t pos = 0;
        train_status s = {.epoch = epoch, .epochs = cfg->epochs, .steps = steps,
                          .val_accuracy = -1, .val_loss = -1, .test_accuracy = -1,
                          .test_loss = -1};
        if (epoch == first_epoch && first_pos) {
            pos = first_pos;
            loss_sum = resume_loss;
            w.correct = resume_correct;
            s.images = pos;
            s.step = (long)(pos / (uint32_t)bs);
        }
        for (; pos < ntrain; pos += (uint32_t)bs) {
            int B = ntrain - pos < (uint32_t)bs ? (int)(ntrain - pos) : bs;
            uint32_t next = pos + (uint32_t)B;
            w.next_idx = next < ntrain ? perm + next : NULL;
            w.next_B = next < ntrain ? (ntrain - next < (uint32_t)bs ? (int)(ntrain - next) : bs) : 0;
            mlp_gather(&net, &w, p, k, train->images, train->labels, perm + pos, B);
            w.dropout_key = dropout_key(cfg->seed, opt.step);
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
            double lr = train_lr(cfg, opt.step, steps);
            adam_stepper as;
            adam_begin(&as, &opt, k->adam, net.params, w.grads, lr);
            if (ema) { /* e = e d + (1 - d) p, fused into the Adam pass */
                as.c.ema = ema;
                as.c.ema_d = (float)cfg->ema;
                as.c.ema_od = (float)(1 - cfg->ema);
            }
            mlp_update upd = {adam_update_range, &as}; /* run inside mlp_backward's jobs */
            mlp_backward(&net, &w, p, k, &upd);
            loss_sum += loss * B;
            s.step++;
            s.images += B;
            s.lr = lr;
            if (h && h->on_step) {
                s.loss = loss_sum / (double)s.images;
                s.accuracy = (double)w.correct / (double)s.images;
                s.seconds = now() - t0;
                h->on_step(h->ctx, &s);
            }
            if (h && h->stop && *h->stop && pos + (uint32_t)B < ntrain) {
                if (stopped && (rc = snapshot(stopped, cfg, &opt, ema, best, epoch - 1,
                                              pos + (uint32_t)B, &epoch_rng, loss_sum,
                                              w.correct, best_epoch, best_val, bad_epochs, e)))
                    goto out;
                memcpy(m->params, net.params, P * sizeof(float));
                rc = fm_fail(e, FM_EINTR, NULL, "stopped at epoch %d, step %ld", epoch, s.step);
                goto out;
            }
        }
        s.loss = loss_sum / (double)s.images;
        s.accuracy = (double)w.correct / (double)s.images;
        s.train_seconds = now() - t0;
        eval_result er;
        if (cfg->val) {
            if ((rc = eval_run(&shown, &val, p, k, &ew, &er, NULL, e)))
                goto out;
            s.val_accuracy = last_val = (double)er.correct / (double)er.n;
            s.val_loss = er.loss;
            /* The validation set alone decides what is kept. */
            if (s.val_accuracy > best_val) {
                best_val = s.val_accuracy;
                best_epoch = epoch;
                bad_epochs = 0;
                s.best = 1;
                if (best)
                    memcpy(best, shown.params, P * sizeof(float));
            } else {
                bad_epochs++;
            }
        }
        if (test) {
            if ((rc = eval_run(&shown, test, p, k, &ew, &er, NULL, e)))
                goto out;
            s.test_accuracy = last_test = (double)er.correct / (double)er.n;
            s.test_loss = er.loss;
        }
        s.seconds = now() - t0;
        epochs_run = epoch;
        if (h && h->on_epoch)
            h->on_epoch(h->ctx, &s);
        if (cfg->patience && bad_epochs >= cfg->patience)
            break;
        if (h && h->stop && *h->stop && epoch < cfg->epochs) {
            if (stopped && (rc = snapshot(stopped, cfg, &opt, ema, best, epoch, 0, &gen, 0, 0,
                                          best_epoch, best_val, bad_epochs, e)))
                goto out;
            memcpy(m->params, net.params, P * sizeof(float));
            rc = fm_fail(e, FM_EINTR, NULL, "stopped after epoch %d", epoch);
            goto out;
        }
    }
    train_result result = {last_test, last_val, epochs_run, epochs_run};
    if (best && best_epoch > 0) {
        memcpy(m->params, best, P * sizeof(float));
        result.best_epoch = best_epoch;
        result.val_accuracy = best_val;
        /* The test accuracy of the kept model, for the record. */
        if (test) {
            mlp kept = net;
            kept.params = best;
            eval_result er;
            if ((rc = eval_run(&kept, test, p, k, &ew, &er, NULL, e)))
                goto out;
            result.test_accuracy = (double)er.correct / (double)er.n;
        }
    } else {
        memcpy(m->params, shown.params, P * sizeof(float));
    }
    if (res)
        *res = result;
out:
    adam_free(&opt);
    mlp_work_free(&ew);
    mlp_work_free(&w);
    mlp_free(&net);
    idx_free(&val);
    free(order);
    free(perm);
    free(val_idx);
    free(ema);
    free(best);
    return rc;
}
