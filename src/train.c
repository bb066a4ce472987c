/* train.c: the training loop, its options, and its resumable state. */
#define _POSIX_C_SOURCE 200809L
#include "train.h"
#include "clock.h"
#include "mem.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adam.h"
#include "augment.h"
#include "eval.h"
#include "meta.h"
#include "model_file.h"

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
static const char *net_names[] = {"mlp", "cnn"};

const mlp_shape *train_net_shape(int net)
{
    return net == NET_CNN ? &mlp_fmnist_cnn : &mlp_fmnist_mlp;
}

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
    if (augment_active(&c->augment)) {
        char spec[AUGMENT_TEXT_MAX];
        augment_format(&c->augment, spec, sizeof spec);
        rc |= meta_append(meta, cap, "augment", "%s", spec);
    }
    if (c->net != NET_MLP)
        rc |= meta_append(meta, cap, "net", "%s", net_names[c->net]);
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
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) /* strtod's hex: integers refuse it too */
        return fm_fail(e, FM_EINVAL, NULL, "'%s' is not a decimal number", text);
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

/* A value train reads back, in v: 1 found, 0 absent. One too long for v
 * reads as "(too long)", which no option takes: a prefix of it might have
 * read as a valid value (an lr of 0.003 and 58 zeros and "abc"). */
static int read_value(const char *meta, const char *key, char *v, size_t cap)
{
    int r = meta_get_whole(meta, key, v, cap);
    if (r < 0)
        snprintf(v, cap, "(too long)");
    return r != 0;
}

/* A state value in [lo, hi]. */
static int get_num(const char *meta, const char *key, double lo, double hi, double *out,
                   fm_err *e)
{
    char v[64], *end;
    if (!read_value(meta, key, v, sizeof v))
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
    if (!read_value(meta, key, v, sizeof v))
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
    if (!read_value(meta, key, v, sizeof v))
        return required ? fm_fail(e, FM_EFORMAT, NULL, "no %s recorded", key) : FM_OK;
    if (train_option_value(key, v, out, &why))
        return fm_fail(e, FM_EFORMAT, NULL, "%s: %s", key, why.msg);
    return FM_OK;
}

int train_config_from_meta(train_config *c, const char *meta, fm_err *e)
{
    train_config t = train_defaults();
    double ep, bs, warm = 0, val = 0, pat = 0;
    char v[AUGMENT_TEXT_MAX];
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
    if (!read_value(meta, "seed", v, sizeof v))
        return fm_fail(e, FM_EFORMAT, NULL, "no seed recorded");
    if (train_seed_value(v, &t.seed, &why))
        return fm_fail(e, FM_EFORMAT, NULL, "seed: %s", why.msg);
    if (read_value(meta, "schedule", v, sizeof v)) {
        int found = -1;
        for (int i = 0; i < 3; i++)
            if (!strcmp(v, schedule_names[i]))
                found = i;
        if (found < 0)
            return fm_fail(e, FM_EFORMAT, NULL, "schedule: '%s' is not const, cosine or step", v);
        t.schedule = found;
    }
    if (read_value(meta, "augment", v, sizeof v) && augment_parse(v, &t.augment, &why))
        return fm_fail(e, FM_EFORMAT, NULL, "augment: %s", why.msg);
    if (read_value(meta, "keep", v, sizeof v)) {
        if (strcmp(v, "best") && strcmp(v, "last"))
            return fm_fail(e, FM_EFORMAT, NULL, "keep: '%s' is not best or last", v);
        t.keep = strcmp(v, "best") ? KEEP_LAST : KEEP_BEST;
    }
    if (read_value(meta, "net", v, sizeof v)) {
        if (strcmp(v, "mlp") && strcmp(v, "cnn"))
            return fm_fail(e, FM_EFORMAT, NULL, "net: '%s' is not mlp or cnn", v);
        t.net = strcmp(v, "cnn") ? NET_MLP : NET_CNN;
    }
    t.epochs = (int)ep;
    t.batch_size = (int)bs;
    t.warmup = (int)warm;
    t.val = (uint32_t)val;
    t.patience = (int)pat;
    *c = t;
    return FM_OK;
}

int train_config_from_any_meta(train_config *c, const char *meta, fm_err *e)
{
    /* meta first: meta_get takes a key's first line, the recipe's lines
     * after it fill in what meta lacks. */
    size_t n = strlen(meta), cap = n + 1024;
    char *all = malloc(cap);
    if (!all)
        return fm_fail(e, FM_ENOMEM, NULL, "out of memory");
    snprintf(all, cap, "%s%s", meta, n && meta[n - 1] != '\n' ? "\n" : "");
    train_config d = train_defaults();
    int rc = train_config_to_meta(&d, all, cap);
    if (!rc)
        rc = train_config_from_meta(c, all, e);
    else
        fm_fail(e, rc, NULL, "out of room for the recipe's options");
    free(all);
    return rc;
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
    if (c->net == NET_CNN)
        ADD("convolutional network");
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
    if (augment_active(&c->augment)) {
        char spec[AUGMENT_TEXT_MAX];
        augment_format(&c->augment, spec, sizeof spec);
        ADD("augment %s", spec);
    }
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
    if (!read_value(meta, "blocks", v, sizeof v))
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
    if (!read_value(meta, "state_rng", v, sizeof v) || strlen(v) != 64 ||
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

/* Everything one run needs, allocated once by run_open: the phases below
 * (set-up and resume, one epoch, one step, end of epoch, stop and
 * checkpoint, final choice) share it. */
typedef struct run {
    const train_config *cfg;
    const idx_set *train, *test;
    pool *p;
    const kernel_impl *k;
    const train_hooks *h;
    uint32_t ntrain;     /* training images after the validation split */
    int bs;              /* the batch size, at most ntrain */
    long steps;          /* per epoch */
    size_t P;            /* parameters */
    mlp net;             /* the copy being trained */
    mlp shown;           /* what is evaluated and kept: net, or its moving average */
    mlp_work w, ew;      /* training and evaluation workspaces */
    adam opt;
    idx_set val;         /* the held-out validation images */
    uint32_t *order;     /* the training images (ascending) */
    uint32_t *perm;      /* this epoch's shuffle of them */
    uint32_t *val_idx;
    float *ema, *best;   /* when those options are on */
    uint8_t *aug;        /* the batch's augmented images (bs x 784), when augmenting */
    rng gen;             /* the shuffles' generator */
    rng epoch_rng;       /* gen before this epoch's shuffle */
    int best_epoch, bad_epochs, epochs_run;
    double best_val, last_test, last_val;
    double t0, loss_sum; /* this epoch's start and running loss */
    train_status s;      /* this epoch's report */
} run;

static void run_close(run *r)
{
    adam_free(&r->opt);
    mlp_work_free(&r->ew);
    mlp_work_free(&r->w);
    mlp_free(&r->net);
    idx_free(&r->val);
    free(r->order);
    free(r->perm);
    free(r->val_idx);
    free(r->ema);
    free(r->best);
    free(r->aug);
}

/* The buffers, the network's copy (on failure the caller's is as it was)
 * and the validation split. */
static int run_alloc(run *r, const mlp *m, fm_err *e)
{
    const train_config *cfg = r->cfg;
    size_t P = r->P;
    int rc;
    r->order = malloc((size_t)r->ntrain * sizeof *r->order);
    r->perm = malloc((size_t)r->ntrain * sizeof *r->perm);
    r->val_idx = cfg->val ? malloc((size_t)cfg->val * sizeof *r->val_idx) : NULL;
    r->ema = cfg->ema > 0 ? mem_alloc(P * sizeof(float)) : NULL;
    r->best = cfg->keep == KEEP_BEST ? mem_alloc(P * sizeof(float)) : NULL;
    r->aug = augment_active(&cfg->augment) ? malloc((size_t)r->bs * IDX_PIXELS) : NULL;
    if (cfg->val) {
        r->val.n = cfg->val;
        r->val.images = mem_alloc((size_t)cfg->val * IDX_PIXELS);
        r->val.labels = malloc(cfg->val);
    }
    if (!r->order || !r->perm || (cfg->val && (!r->val_idx || !r->val.images || !r->val.labels)) ||
        (cfg->ema > 0 && !r->ema) || (cfg->keep == KEEP_BEST && !r->best) ||
        (augment_active(&cfg->augment) && !r->aug))
        return fm_fail(e, FM_ENOMEM, NULL, "out of memory");
    mlp_shape shape;
    mlp_get_shape(m, &shape);
    if ((rc = mlp_create_shape(&r->net, &shape, e)) ||
        (rc = mlp_work_create_team(&r->w, &r->net, r->bs, 1, pool_size(r->p), e)) ||
        (rc = mlp_work_create_team(&r->ew, &r->net, EVAL_BATCH, 0, pool_size(r->p), e)) ||
        (rc = adam_create(&r->opt, P, cfg->lr, e)))
        return rc;
    memcpy(r->net.params, m->params, P * sizeof(float));
    r->opt.weight_decay = cfg->weight_decay;
    r->w.smoothing = (float)cfg->label_smoothing;
    r->w.dropout = (float)cfg->dropout;
    train_split(cfg, r->train->n, r->val_idx, r->order);
    for (uint32_t i = 0; i < cfg->val; i++) {
        memcpy(r->val.images + (size_t)i * IDX_PIXELS,
               r->train->images + (size_t)r->val_idx[i] * IDX_PIXELS, IDX_PIXELS);
        r->val.labels[i] = r->train->labels[r->val_idx[i]];
    }
    if (r->ema)
        memcpy(r->ema, r->net.params, P * sizeof(float));
    return FM_OK;
}

/* Where a resumed run continues: its optimiser, moving average, best
 * weights, generator and counters. */
static void run_restore(run *r, const train_state *st)
{
    size_t P = r->P;
    memcpy(r->opt.m, st->blocks, P * sizeof(float));
    memcpy(r->opt.v, st->blocks + P, P * sizeof(float));
    int at = 2;
    if (r->ema)
        memcpy(r->ema, st->blocks + (size_t)at++ * P, P * sizeof(float));
    if (r->best)
        memcpy(r->best, st->blocks + (size_t)at * P, P * sizeof(float));
    r->opt.step = st->step;
    r->gen = st->epoch_rng;
    r->best_epoch = st->best_epoch;
    r->best_val = st->best_val;
    r->bad_epochs = st->bad_epochs;
    r->epochs_run = st->epoch;
}

/* Set-up: checks, allocation, the split, and the resumed state if any. */
static int run_open(run *r, const mlp *m, const rng *gen, const train_state *resume, fm_err *e)
{
    const train_config *cfg = r->cfg;
    int rc;
    if (r->train->n == 0)
        return fm_fail(e, FM_EINVAL, NULL, "no training images");
    if ((rc = check_config(cfg, r->train->n, e)))
        return rc;
    r->ntrain = r->train->n - cfg->val;
    if (resume && (resume->nblocks != train_state_blocks(cfg) || !resume->blocks ||
                   resume->pos >= r->ntrain || resume->epoch >= cfg->epochs ||
                   !(resume->epoch_rng.s[0] | resume->epoch_rng.s[1] | resume->epoch_rng.s[2] |
                     resume->epoch_rng.s[3])))
        return fm_fail(e, FM_EINVAL, NULL,
                       "the checkpoint does not fit this run (%d of %d epochs, image %u of %u)",
                       resume->epoch, cfg->epochs, resume->pos, r->ntrain);
    r->bs = (uint32_t)cfg->batch_size < r->ntrain ? cfg->batch_size : (int)r->ntrain;
    r->P = m->nparams;
    r->steps = (long)((r->ntrain + (uint32_t)r->bs - 1) / (uint32_t)r->bs);
    r->best_val = r->last_test = r->last_val = -1;
    if ((rc = run_alloc(r, m, e)))
        return rc;
    r->gen = *gen;
    if (resume)
        run_restore(r, resume);
    r->shown = r->net;
    if (r->ema)
        r->shown.params = r->ema;
    return FM_OK;
}

/* Stop and checkpoint: *st gets where the run stands (epochs_done complete
 * epochs, pos images into the next, whose shuffle comes from epoch_rng),
 * m the parameters reached. */
static int run_stop(run *r, mlp *m, train_state *st, int epochs_done, uint32_t pos,
                    const rng *epoch_rng, double loss_sum, long correct, fm_err *e)
{
    const train_config *cfg = r->cfg;
    size_t n = r->P;
    if (st) {
        int nb = train_state_blocks(cfg);
        float *b = malloc((size_t)nb * n * sizeof(float));
        if (!b)
            return fm_fail(e, FM_ENOMEM, NULL, "out of memory for the checkpoint");
        memcpy(b, r->opt.m, n * sizeof(float));
        memcpy(b + n, r->opt.v, n * sizeof(float));
        int at = 2;
        if (r->ema)
            memcpy(b + (size_t)at++ * n, r->ema, n * sizeof(float));
        if (r->best)
            memcpy(b + (size_t)at * n, r->best, n * sizeof(float));
        st->epoch = epochs_done;
        st->pos = pos;
        st->epoch_rng = *epoch_rng;
        st->step = r->opt.step;
        st->loss_sum = loss_sum;
        st->correct = correct;
        st->best_epoch = r->best_epoch;
        st->best_val = r->best_val;
        st->bad_epochs = r->bad_epochs;
        st->nblocks = nb;
        st->blocks = b;
    }
    memcpy(m->params, r->net.params, n * sizeof(float));
    if (pos)
        return fm_fail(e, FM_EINTR, NULL, "stopped at epoch %d, step %ld", epochs_done + 1,
                       r->s.step);
    return fm_fail(e, FM_EINTR, NULL, "stopped after epoch %d", epochs_done);
}

static int stop_requested(const run *r)
{
    return r->h && r->h->stop && *r->h->stop;
}

static int diverged(const run *r, double loss, int epoch, long step, fm_err *e)
{
    char what[64];
    if (isfinite(loss))
        snprintf(what, sizeof what, "reached %.3g", loss);
    else
        snprintf(what, sizeof what, "became %s", isnan(loss) ? "NaN" : "infinite");
    return fm_fail(e, FM_ENUMERIC, NULL,
                   "training diverged: the loss %s at epoch %d, step %ld "
                   "(is the learning rate %g too high?)",
                   what, epoch, step, r->cfg->lr);
}

/* One step on the B images perm[pos..pos+B): gather (augmented when on),
 * forward, loss, and the backward pass with Adam (and the moving average)
 * fused into it. */
static int run_step(run *r, uint32_t pos, int B, fm_err *e)
{
    const train_config *cfg = r->cfg;
    mlp_work *w = &r->w;
    const uint32_t *idx = r->perm + pos;
    uint32_t next = pos + (uint32_t)B;
    if (r->aug) {
        augment_batch(&cfg->augment, r->train->images, r->train->labels, idx, B,
                      augment_key(cfg->seed, r->opt.step), r->aug, r->p, r->k);
        w->next_idx = NULL;
        w->next_B = 0;
        mlp_gather(&r->net, w, r->p, r->k, r->aug, NULL, NULL, B);
        for (int b = 0; b < B; b++)
            w->labels[b] = r->train->labels[idx[b]];
    } else {
        w->next_idx = next < r->ntrain ? r->perm + next : NULL;
        w->next_B = next < r->ntrain ? (r->ntrain - next < (uint32_t)r->bs ? (int)(r->ntrain - next)
                                                                          : r->bs)
                                     : 0;
        mlp_gather(&r->net, w, r->p, r->k, r->train->images, r->train->labels, idx, B);
    }
    w->dropout_key = dropout_key(cfg->seed, r->opt.step);
    mlp_forward(&r->net, w, r->p, r->k);
    double loss = mlp_loss(&r->net, w);
    if (!(loss < TRAIN_DIVERGED_LOSS))
        return diverged(r, loss, r->s.epoch, r->s.step + 1, e);
    double lr = train_lr(cfg, r->opt.step, r->steps);
    adam_stepper as;
    adam_begin(&as, &r->opt, r->k->adam, r->net.params, w->grads, lr);
    if (r->ema) { /* e = e d + (1 - d) p, fused into the Adam pass */
        as.c.ema = r->ema;
        as.c.ema_d = (float)cfg->ema;
        as.c.ema_od = (float)(1 - cfg->ema);
    }
    mlp_update upd = {adam_update_range, &as}; /* run inside mlp_backward's jobs */
    mlp_backward(&r->net, w, r->p, r->k, &upd);
    r->loss_sum += loss * B;
    r->s.step++;
    r->s.images += B;
    r->s.lr = lr;
    return FM_OK;
}

/* One epoch's steps from image first_pos of its shuffle (0 unless resumed
 * mid-epoch, with that epoch's sums). */
static int run_epoch(run *r, mlp *m, int epoch, uint32_t first_pos, double loss_sum, long correct,
                     train_state *stopped, fm_err *e)
{
    const train_hooks *h = r->h;
    r->t0 = clock_seconds();
    r->epoch_rng = r->gen;
    memcpy(r->perm, r->order, (size_t)r->ntrain * sizeof *r->perm);
    rng_shuffle(&r->gen, r->perm, r->ntrain);
    train_status s0 = {.epoch = epoch, .epochs = r->cfg->epochs, .steps = r->steps,
                       .val_accuracy = -1, .val_loss = -1, .test_accuracy = -1,
                       .test_loss = -1};
    r->s = s0;
    r->loss_sum = loss_sum;
    r->w.correct = correct;
    r->s.images = first_pos;
    r->s.step = (long)(first_pos / (uint32_t)r->bs);
    for (uint32_t pos = first_pos; pos < r->ntrain; pos += (uint32_t)r->bs) {
        int B = r->ntrain - pos < (uint32_t)r->bs ? (int)(r->ntrain - pos) : r->bs;
        int rc = run_step(r, pos, B, e);
        if (rc)
            return rc;
        if (h && h->on_step) {
            r->s.loss = r->loss_sum / (double)r->s.images;
            r->s.accuracy = (double)r->w.correct / (double)r->s.images;
            r->s.seconds = clock_seconds() - r->t0;
            h->on_step(h->ctx, &r->s);
        }
        if (stop_requested(r) && pos + (uint32_t)B < r->ntrain)
            return run_stop(r, m, stopped, epoch - 1, pos + (uint32_t)B, &r->epoch_rng,
                            r->loss_sum, r->w.correct, e);
    }
    return FM_OK;
}

/* After an epoch: validation (which alone decides what is kept), the test
 * set, the report. */
static int run_end_epoch(run *r, int epoch, fm_err *e)
{
    train_status *s = &r->s;
    eval_result er;
    int rc;
    s->loss = r->loss_sum / (double)s->images;
    s->accuracy = (double)r->w.correct / (double)s->images;
    s->train_seconds = clock_seconds() - r->t0;
    if (r->cfg->val) {
        if ((rc = eval_run(&r->shown, &r->val, r->p, r->k, &r->ew, &er, NULL, e)))
            return rc;
        s->val_accuracy = r->last_val = (double)er.correct / (double)er.n;
        s->val_loss = er.loss;
        if (s->val_accuracy > r->best_val) {
            r->best_val = s->val_accuracy;
            r->best_epoch = epoch;
            r->bad_epochs = 0;
            s->best = 1;
            if (r->best)
                memcpy(r->best, r->shown.params, r->P * sizeof(float));
        } else {
            r->bad_epochs++;
        }
    }
    if (r->test) {
        if ((rc = eval_run(&r->shown, r->test, r->p, r->k, &r->ew, &er, NULL, e)))
            return rc;
        s->test_accuracy = r->last_test = (double)er.correct / (double)er.n;
        s->test_loss = er.loss;
    }
    s->seconds = clock_seconds() - r->t0;
    r->epochs_run = epoch;
    if (r->h && r->h->on_epoch)
        r->h->on_epoch(r->h->ctx, s);
    return FM_OK;
}

/* The loss is checked before each update; the last update's outcome is
 * checked here, on the parameters to keep: their loss on (up to) the first
 * 1,000 training images must not have diverged either. */
static int check_kept(run *r, const float *params, fm_err *e)
{
    idx_set some = *r->train;
    if (some.n > 1000)
        some.n = 1000;
    mlp kept = r->net;
    kept.params = (float *)params;
    eval_result er;
    int rc = eval_run(&kept, &some, r->p, r->k, &r->ew, &er, NULL, e);
    if (rc || er.loss < TRAIN_DIVERGED_LOSS)
        return rc;
    char what[64];
    if (isfinite(er.loss))
        snprintf(what, sizeof what, "reached %.3g", er.loss);
    else
        snprintf(what, sizeof what, "became %s", isnan(er.loss) ? "NaN" : "infinite");
    return fm_fail(e, FM_ENUMERIC, NULL,
                   "training diverged: after the last step the loss %s "
                   "(is the learning rate %g too high?)", what, r->cfg->lr);
}

/* The model to keep: the best on validation with KEEP_BEST, else the
 * last (its moving average when on). */
static int run_finish(run *r, mlp *m, train_result *res, fm_err *e)
{
    train_result result = {r->last_test, r->last_val, r->epochs_run, r->epochs_run};
    int rc = check_kept(r, r->best && r->best_epoch > 0 ? r->best : r->shown.params, e);
    if (rc)
        return rc;
    if (r->best && r->best_epoch > 0) {
        memcpy(m->params, r->best, r->P * sizeof(float));
        result.best_epoch = r->best_epoch;
        result.val_accuracy = r->best_val;
        /* The test accuracy of the kept model, for the record. */
        if (r->test) {
            mlp kept = r->net;
            kept.params = r->best;
            eval_result er;
            if ((rc = eval_run(&kept, r->test, r->p, r->k, &r->ew, &er, NULL, e)))
                return rc;
            result.test_accuracy = (double)er.correct / (double)er.n;
        }
    } else {
        memcpy(m->params, r->shown.params, r->P * sizeof(float));
    }
    if (res)
        *res = result;
    return FM_OK;
}

int train_run(mlp *m, rng *gen, const idx_set *train, const idx_set *test,
              const train_config *cfg, pool *p, const kernel_impl *k, const train_hooks *h,
              const train_state *resume, train_state *stopped, train_result *res, fm_err *e)
{
    run r;
    memset(&r, 0, sizeof r);
    r.cfg = cfg;
    r.train = train;
    r.test = test;
    r.p = p;
    r.k = k;
    r.h = h;
    int rc = run_open(&r, m, gen, resume, e);
    int first = resume && !rc ? resume->epoch + 1 : 1;
    for (int epoch = first; !rc && epoch <= cfg->epochs; epoch++) {
        int mid = resume && epoch == first && resume->pos;
        rc = run_epoch(&r, m, epoch, mid ? resume->pos : 0, mid ? resume->loss_sum : 0,
                       mid ? resume->correct : 0, stopped, e);
        if (!rc)
            rc = run_end_epoch(&r, epoch, e);
        if (rc || (cfg->patience && r.bad_epochs >= cfg->patience))
            break;
        if (stop_requested(&r) && epoch < cfg->epochs)
            rc = run_stop(&r, m, stopped, epoch, 0, &r.gen, 0, 0, e);
    }
    if (!rc)
        rc = run_finish(&r, m, res, e);
    run_close(&r);
    return rc;
}
