/* test_options.c: the training options beyond the recipe, each against
 * values computed independently: dropout's mask and scale, the schedules'
 * learning rates, label smoothing's loss and gradient, the moving average,
 * the validation split, and that the test set never chooses the model. */
#include "testutil.h"

#include <math.h>

#include "adam.h"
#include "idx.h"
#include "meta.h"
#include "train.h"

static idx_set sample, sample_test;

static int load(void **state)
{
    (void)state;
    return tu_load_sample("train", &sample) || tu_load_sample("t10k", &sample_test) ? -1 : 0;
}

static int unload(void **state)
{
    (void)state;
    idx_free(&sample);
    idx_free(&sample_test);
    return 0;
}

static void test_dropout_mask_and_scale(void **state)
{
    (void)state;
    enum { ROWS = 256, B = 61 }; /* odd B: groups of four straddle rows */
    const float p = 0.2f, scale = 1.0f / (1.0f - p);
    uint32_t thr = (uint32_t)lrintf(p * 65536.0f);
    float *x = malloc(sizeof(float) * ROWS * B), *y = malloc(sizeof(float) * ROWS * B);
    for (int i = 0; i < ROWS * B; i++)
        x[i] = y[i] = 1.0f + (float)(i % 97);
    dropout_forward_ref(x, B, 0, ROWS, 0, B, 12345, thr, scale);
    /* Every implementation, in uneven pieces as threads cut it: the same mask. */
    const kernel_impl *ks[8];
    int nk = kernel_list(ks, 8);
    for (int k = 0; k < nk; k++) {
        for (int i = 0; i < ROWS * B; i++)
            y[i] = 1.0f + (float)(i % 97);
        ks[k]->dropout(y, B, 0, 7, 0, B, 12345, thr, scale);
        ks[k]->dropout(y, B, 7, 100, 0, B, 12345, thr, scale);
        ks[k]->dropout(y, B, 100, ROWS, 0, B, 12345, thr, scale);
        assert_memory_equal(x, y, sizeof(float) * ROWS * B);
        /* and in column ranges, as the column job cuts it (uneven, odd) */
        for (int i = 0; i < ROWS * B; i++)
            y[i] = 1.0f + (float)(i % 97);
        ks[k]->dropout(y, B, 0, ROWS, 0, 16, 12345, thr, scale);
        ks[k]->dropout(y, B, 0, ROWS, 16, 37, 12345, thr, scale);
        ks[k]->dropout(y, B, 0, ROWS, 37, B, 12345, thr, scale);
        assert_memory_equal(x, y, sizeof(float) * ROWS * B);
    }
    long dropped = 0;
    for (int i = 0; i < ROWS * B; i++) {
        float orig = 1.0f + (float)(i % 97);
        if (x[i] == 0.0f) {
            dropped++;
            assert_true(dropout_bits(12345, (uint32_t)i) < thr);
        } else {
            assert_true(x[i] == orig * scale); /* exactly the kept value times 1/(1-p) */
        }
    }
    /* Binomial: 15616 draws at 0.2 have a standard deviation of 50. */
    double frac = (double)dropped / (ROWS * B);
    printf("# dropout 0.2: %.4f of %d units dropped\n", frac, ROWS * B);
    assert_true(fabs(frac - 0.2) < 4 * sqrt(0.2 * 0.8 / (ROWS * B)));
    /* Another key, another mask. */
    dropout_forward_ref(y, B, 0, ROWS, 0, B, 12346, thr, scale);
    assert_memory_not_equal(x, y, sizeof(float) * ROWS * B);
    free(x);
    free(y);
}

static void test_schedules(void **state)
{
    (void)state;
    train_config c = train_defaults();
    c.epochs = 10;
    c.lr = 0.01;
    long spe = 100, total = 1000;
    assert_true(train_lr(&c, 0, spe) == 0.01 && train_lr(&c, 999, spe) == 0.01);
    c.schedule = SCHEDULE_COSINE;
    assert_true(train_lr(&c, 0, spe) == 0.01);
    assert_true(fabs(train_lr(&c, total / 2, spe) - 0.005) < 1e-15);
    assert_true(fabs(train_lr(&c, 250, spe) - 0.01 * (1 + cos(M_PI / 4)) / 2) < 1e-15);
    assert_true(train_lr(&c, 999, spe) < 1e-6 && train_lr(&c, 999, spe) > 0);
    c.schedule = SCHEDULE_STEP;
    assert_true(train_lr(&c, 499, spe) == 0.01);
    assert_true(fabs(train_lr(&c, 500, spe) - 0.001) < 1e-18);
    assert_true(fabs(train_lr(&c, 749, spe) - 0.001) < 1e-18);
    assert_true(fabs(train_lr(&c, 750, spe) - 0.0001) < 1e-18);
    /* Warm-up: two epochs rising linearly to lr, then cosine over the rest. */
    c.schedule = SCHEDULE_COSINE;
    c.warmup = 2;
    assert_true(fabs(train_lr(&c, 0, spe) - 0.01 / 200) < 1e-18);
    assert_true(fabs(train_lr(&c, 99, spe) - 0.005) < 1e-18);
    assert_true(train_lr(&c, 199, spe) == 0.01);
    assert_true(train_lr(&c, 200, spe) == 0.01);
    assert_true(fabs(train_lr(&c, 600, spe) - 0.005) < 1e-15);
}

static double smoothed_loss(const float *lg, const unsigned char *labels, int B, int K, float s)
{
    float lp[10 * 8];
    logsoftmax_forward(lp, lg, B, K);
    double loss = 0;
    for (int b = 0; b < B; b++) {
        double all = 0;
        for (int k = 0; k < K; k++)
            all += lp[k * B + b];
        loss -= (1 - s) * lp[labels[b] * B + b] + s * all / K;
    }
    return loss / B;
}

static void test_label_smoothing_loss_and_gradient(void **state)
{
    (void)state;
    enum { B = 8, K = 10 };
    rng r;
    rng_seed(&r, 11);
    float lg[K * B], lp[K * B], d[K * B];
    for (int i = 0; i < K * B; i++)
        lg[i] = 4 * rng_uniform(&r) - 2;
    unsigned char labels[B] = {0, 1, 2, 3, 9, 9, 5, 6};
    const float s = 0.1f;
    logsoftmax_forward(lp, lg, B, K);
    logsoftmax_nll_backward(d, lp, labels, B, K, s);
    const float h = 1.0f / 256;
    for (int i = 0; i < K * B; i++) {
        float keep = lg[i];
        lg[i] = keep + h;
        double fp = smoothed_loss(lg, labels, B, K, s);
        lg[i] = keep - h;
        double fm = smoothed_loss(lg, labels, B, K, s);
        lg[i] = keep;
        double fd = (fp - fm) / (2 * h);
        if (fabs(d[i] - fd) > 2e-4 + 2e-3 * fabs(fd))
            fail_msg("dlogits[%d]: %.8g vs finite difference %.8g", i, d[i], fd);
    }
    /* mlp_loss reports the same smoothed loss. */
    const int widths[] = {784, 10};
    mlp m;
    assert_int_equal(mlp_create(&m, 1, widths, NULL), FM_OK);
    rng_seed(&r, 2);
    mlp_init_params(&m, &r);
    mlp_work w;
    assert_int_equal(mlp_work_create(&w, &m, B, 1, NULL), FM_OK);
    w.smoothing = s;
    const kernel_impl *k = kernel_find(NULL);
    mlp_gather(&m, &w, NULL, k, sample.images, sample.labels, NULL, B);
    mlp_forward(&m, &w, NULL, k);
    double loss = mlp_loss(&m, &w);
    double want = smoothed_loss(w.actT[1], w.labels, B, K, s); /* logp as logits: same softmax */
    assert_true(fabs(loss - want) < 1e-5);
    mlp_work_free(&w);
    mlp_free(&m);
}

/* A fresh fmnist network trained by train_run on the first n sample images. */
static int run(mlp *m, const train_config *c, uint32_t n, const idx_set *test, train_result *res)
{
    assert_int_equal(mlp_create(m, 4, mlp_fmnist_widths, NULL), FM_OK);
    rng r;
    rng_seed(&r, c->seed);
    mlp_init_params(m, &r);
    idx_set sub = {n, sample.images, sample.labels};
    pool *p;
    assert_int_equal(pool_create(&p, 2, 1, NULL), FM_OK);
    fm_err e;
    int rc = train_run(m, &r, &sub, test, c, p, kernel_find(NULL), NULL, NULL, NULL, res, &e);
    if (rc)
        fprintf(stderr, "train_run: %s\n", e.msg);
    pool_free(p);
    return rc;
}

static void test_ema_matches_hand_computation(void **state)
{
    (void)state;
    /* 3 steps of 64 with EMA 0.9: train_run's saved model against a plain
     * loop that keeps the average by hand, e = e d + (1 - d) p in float. */
    train_config c = train_defaults();
    c.epochs = 1;
    c.ema = 0.9;
    c.seed = 4;
    mlp a;
    assert_int_equal(run(&a, &c, 192, NULL, NULL), FM_OK);

    const kernel_impl *k = kernel_find(NULL);
    mlp b;
    assert_int_equal(mlp_create(&b, 4, mlp_fmnist_widths, NULL), FM_OK);
    rng r;
    rng_seed(&r, 4);
    mlp_init_params(&b, &r);
    float *ema = malloc(b.nparams * sizeof(float));
    memcpy(ema, b.params, b.nparams * sizeof(float));
    uint32_t perm[192];
    for (uint32_t i = 0; i < 192; i++)
        perm[i] = i;
    rng_shuffle(&r, perm, 192);
    mlp_work w;
    adam opt;
    assert_int_equal(mlp_work_create(&w, &b, 64, 1, NULL), FM_OK);
    assert_int_equal(adam_create(&opt, b.nparams, 0.003, NULL), FM_OK);
    const float d = 0.9f, od = (float)(1 - 0.9);
    for (uint32_t pos = 0; pos < 192; pos += 64) {
        mlp_gather(&b, &w, NULL, k, sample.images, sample.labels, perm + pos, 64);
        mlp_forward(&b, &w, NULL, k);
        mlp_loss(&b, &w);
        mlp_backward(&b, &w, NULL, k, NULL);
        adam_step(&opt, NULL, k->adam, b.params, w.grads, 0.003);
        for (size_t i = 0; i < b.nparams; i++)
            ema[i] = ema[i] * d + od * b.params[i];
    }
    assert_memory_equal(a.params, ema, b.nparams * sizeof(float));
    assert_memory_not_equal(a.params, b.params, b.nparams * sizeof(float));
    free(ema);
    adam_free(&opt);
    mlp_work_free(&w);
    mlp_free(&a);
    mlp_free(&b);
}

static void test_validation_split(void **state)
{
    (void)state;
    train_config c = train_defaults();
    c.val = 300;
    uint32_t val[300], rest[1700], val2[300], rest2[1700];
    train_split(&c, 2000, val, rest);
    train_split(&c, 2000, val2, rest2);
    assert_memory_equal(val, val2, sizeof val); /* fixed by the seed */
    uint8_t seen[2000] = {0};
    for (int i = 0; i < 300; i++) {
        assert_true(i == 0 || val[i] > val[i - 1]);
        seen[val[i]]++;
    }
    for (int i = 0; i < 1700; i++) {
        assert_true(i == 0 || rest[i] > rest[i - 1]);
        seen[rest[i]]++;
    }
    for (int i = 0; i < 2000; i++)
        assert_int_equal(seen[i], 1); /* a partition */
    c.seed = 2;
    train_split(&c, 2000, val2, rest2);
    assert_memory_not_equal(val, val2, sizeof val);
}

static void test_test_set_never_chooses(void **state)
{
    (void)state;
    /* Keep-best with early stopping, once with the real test set and once
     * with a test set whose labels are scrambled: the same model. */
    train_config c = train_defaults();
    c.epochs = 6;
    c.val = 400;
    c.keep = KEEP_BEST;
    c.patience = 2;
    c.dropout = 0.1;
    c.seed = 7;
    idx_set scrambled = {sample_test.n, sample_test.images, malloc(sample_test.n)};
    for (uint32_t i = 0; i < sample_test.n; i++)
        scrambled.labels[i] = (uint8_t)((sample_test.labels[i] * 7 + 3) % 10);
    mlp a, b, none;
    train_result ra, rb, rn;
    assert_int_equal(run(&a, &c, 1200, &sample_test, &ra), FM_OK);
    assert_int_equal(run(&b, &c, 1200, &scrambled, &rb), FM_OK);
    assert_int_equal(run(&none, &c, 1200, NULL, &rn), FM_OK);
    assert_memory_equal(a.params, b.params, a.nparams * sizeof(float));
    assert_memory_equal(a.params, none.params, a.nparams * sizeof(float));
    assert_int_equal(ra.best_epoch, rb.best_epoch);
    assert_true(ra.test_accuracy != rb.test_accuracy);
    printf("# keep best: epoch %d of %d run (val %.3f), the same whatever the test set\n",
           ra.best_epoch, ra.epochs_run, ra.val_accuracy);
    free(scrambled.labels);
    mlp_free(&a), mlp_free(&b), mlp_free(&none);
}

static void test_options_deterministic_across_threads(void **state)
{
    (void)state;
    train_config c = train_defaults();
    c.epochs = 2;
    c.dropout = 0.2;
    c.weight_decay = 0.05;
    c.schedule = SCHEDULE_COSINE;
    c.warmup = 1;
    c.label_smoothing = 0.1;
    c.ema = 0.99;
    c.val = 100;
    c.keep = KEEP_BEST;
    mlp a;
    assert_int_equal(run(&a, &c, 400, NULL, NULL), FM_OK);
    for (int t = 1; t <= 3; t += 2) {
        mlp b;
        assert_int_equal(mlp_create(&b, 4, mlp_fmnist_widths, NULL), FM_OK);
        rng r;
        rng_seed(&r, c.seed);
        mlp_init_params(&b, &r);
        idx_set sub = {400, sample.images, sample.labels};
        pool *p;
        assert_int_equal(pool_create(&p, t, 1, NULL), FM_OK);
        assert_int_equal(train_run(&b, &r, &sub, NULL, &c, p, kernel_find("avx2") ? kernel_find("avx2") : kernel_find(NULL),
                                   NULL, NULL, NULL, NULL, NULL), FM_OK);
        pool_free(p);
        assert_memory_equal(a.params, b.params, a.nparams * sizeof(float));
        mlp_free(&b);
    }
    mlp_free(&a);
}

static void test_config_round_trip(void **state)
{
    (void)state;
    train_config c = train_defaults(), back;
    c.dropout = 0.2;
    c.weight_decay = 0.05;
    c.schedule = SCHEDULE_STEP;
    c.warmup = 3;
    c.label_smoothing = 0.1;
    c.ema = 0.999;
    c.val = 5000;
    c.keep = KEEP_BEST;
    c.patience = 4;
    c.seed = 18446744073709551615u;
    char meta[1024] = "";
    assert_int_equal(train_config_to_meta(&c, meta, sizeof meta), FM_OK);
    assert_int_equal(train_config_from_meta(&back, meta, NULL), FM_OK);
    assert_memory_equal(&c, &back, sizeof c);
    char d[256];
    train_config_describe(&c, d, sizeof d);
    assert_string_equal(d, "dropout 0.2, weight decay 0.05, step schedule, warm-up 3 epochs, "
                           "label smoothing 0.1, EMA 0.999, 5000 validation images, best "
                           "validation epoch kept, patience 4");
    train_config def = train_defaults();
    train_config_describe(&def, d, sizeof d);
    assert_string_equal(d, "");
    /* Every transform of --augment, each at 9 digits: 331 characters, which
     * the metadata reader cut at 255 ("(too long)") and refused. */
    c = train_defaults();
    assert_int_equal(augment_parse("drawn=0.123456791,clean=0.123456791,outline=0.123456791,"
                                   "silhouette=0.123456791,flat=0.123456791,posterize=0.123456791,"
                                   "pair=0.123456791,tilt=0.123456791,square=0.123456791,"
                                   "scale=0.123456791,squeeze=0.123456791,rotate=12.3456793,"
                                   "shift=1.23456788,flip=0.123456791,fit=0.123456791,"
                                   "blur=0.123456791,gamma=0.123456791,contrast=0.123456791,"
                                   "noise=0.123456791", &c.augment, NULL), FM_OK);
    memset(meta, 0, sizeof meta);
    assert_int_equal(train_config_to_meta(&c, meta, sizeof meta), FM_OK);
    char spec[AUGMENT_TEXT_MAX];
    assert_int_equal(meta_get(meta, "augment", spec, sizeof spec), 1);
    assert_int_equal(strlen(spec), 331);
    assert_int_equal(train_config_from_meta(&back, meta, NULL), FM_OK);
    assert_memory_equal(&c, &back, sizeof c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dropout_mask_and_scale),
        cmocka_unit_test(test_schedules),
        cmocka_unit_test(test_label_smoothing_loss_and_gradient),
        cmocka_unit_test(test_ema_matches_hand_computation),
        cmocka_unit_test(test_validation_split),
        cmocka_unit_test(test_test_set_never_chooses),
        cmocka_unit_test(test_options_deterministic_across_threads),
        cmocka_unit_test(test_config_round_trip),
    };
    return cmocka_run_group_tests(tests, load, unload);
}
