/* test_train.c: the training loop learns (it overfits a few dozen real
 * images), is deterministic for a seed and any thread count, and stops
 * cleanly when training diverges. */
#include "testutil.h"

#include <math.h>

#include "adam.h"
#include "idx.h"
#include "train.h"

static idx_set sample;

static int load_sample(void **state)
{
    (void)state;
    return tu_load_sample("train", &sample);
}

static int free_sample(void **state)
{
    (void)state;
    idx_free(&sample);
    return 0;
}

static double last_loss;
static void on_epoch(void *ctx, const train_status *s)
{
    (void)ctx;
    last_loss = s->loss;
}

/* Trains a fresh fmnist network on the first n sample images. */
static int train(mlp *m, uint32_t n, int epochs, int batch, double lr, int threads,
                 const char *kernel, fm_err *e)
{
    assert_int_equal(mlp_create(m, 4, mlp_fmnist_widths, NULL), FM_OK);
    rng r;
    rng_seed(&r, 5);
    mlp_init_params(m, &r);
    idx_set sub = {n, sample.images, sample.labels};
    pool *p;
    assert_int_equal(pool_create(&p, threads, 1, NULL), FM_OK);
    train_config cfg = train_defaults();
    cfg.epochs = epochs;
    cfg.batch_size = batch;
    cfg.lr = lr;
    train_hooks h = {NULL, on_epoch, NULL, NULL};
    int rc = train_run(m, &r, &sub, NULL, &cfg, p, kernel_find(kernel), &h, NULL, NULL, NULL, e);
    pool_free(p);
    return rc;
}

static void test_overfits_32_images(void **state)
{
    (void)state;
    mlp m;
    fm_err e;
    /* 32 images, batch 8: 4 steps an epoch, 60 epochs. */
    assert_int_equal(train(&m, 32, 60, 8, 0.003, 1, NULL, &e), FM_OK);
    printf("# loss after 60 epochs on 32 images: %.6f\n", last_loss);
    assert_true(last_loss < 0.01);
    mlp_free(&m);
}

static void test_same_bits_any_threads_any_kernel(void **state)
{
    (void)state;
    mlp a, b;
    fm_err e;
    /* 300 images, batch 64: 5 steps, the last a partial batch of 44. */
    assert_int_equal(train(&a, 300, 1, 64, 0.003, 1, "ref", &e), FM_OK);
    const kernel_impl *ks[8];
    int nk = kernel_list(ks, 8);
    for (int k = 0; k < nk; k++)
        for (int t = 1; t <= 3; t++) {
            assert_int_equal(train(&b, 300, 1, 64, 0.003, t, ks[k]->name, &e), FM_OK);
            if (memcmp(a.params, b.params, a.nparams * sizeof(float)) != 0)
                fail_msg("kernel %s with %d threads differs from ref with 1", ks[k]->name, t);
            mlp_free(&b);
        }
    mlp_free(&a);
}

/* train_run fuses Adam into the weight gradients' job; a plain loop of backward
 * then a separate Adam pass must give the same bits. */
static void test_fused_update_same_as_separate(void **state)
{
    (void)state;
    mlp a, b;
    fm_err e;
    assert_int_equal(train(&a, 300, 1, 64, 0.003, 2, NULL, &e), FM_OK);

    const kernel_impl *k = kernel_find(NULL);
    assert_int_equal(mlp_create(&b, 4, mlp_fmnist_widths, NULL), FM_OK);
    rng r;
    rng_seed(&r, 5);
    mlp_init_params(&b, &r);
    uint32_t perm[300];
    for (uint32_t i = 0; i < 300; i++)
        perm[i] = i;
    rng_shuffle(&r, perm, 300);
    mlp_work w;
    adam opt;
    assert_int_equal(mlp_work_create(&w, &b, 64, 1, NULL), FM_OK);
    assert_int_equal(adam_create(&opt, b.nparams, 0.003, NULL), FM_OK);
    for (uint32_t pos = 0; pos < 300; pos += 64) {
        int B = 300 - pos < 64 ? (int)(300 - pos) : 64;
        mlp_gather(&b, &w, NULL, k, sample.images, sample.labels, perm + pos, B);
        mlp_forward(&b, &w, NULL, k);
        mlp_loss(&b, &w);
        mlp_backward(&b, &w, NULL, k, NULL);
        adam_step(&opt, NULL, k->adam, b.params, w.grads, 0.003);
    }
    assert_memory_equal(a.params, b.params, a.nparams * sizeof(float));
    adam_free(&opt);
    mlp_work_free(&w);
    mlp_free(&a);
    mlp_free(&b);
}

static void test_divergence_stops_and_keeps_the_network(void **state)
{
    (void)state;
    mlp m;
    fm_err e;
    assert_int_equal(mlp_create(&m, 4, mlp_fmnist_widths, NULL), FM_OK);
    rng r;
    rng_seed(&r, 5);
    mlp_init_params(&m, &r);
    float *before = malloc(m.nparams * sizeof(float));
    memcpy(before, m.params, m.nparams * sizeof(float));
    idx_set sub = {512, sample.images, sample.labels};
    train_config cfg = train_defaults();
    cfg.epochs = 3;
    cfg.lr = 1000;
    int rc = train_run(&m, &r, &sub, NULL, &cfg, NULL, kernel_find(NULL), NULL, NULL, NULL, NULL, &e);
    assert_int_equal(rc, FM_ENUMERIC);
    assert_non_null(strstr(e.msg, "training diverged"));
    assert_memory_equal(before, m.params, m.nparams * sizeof(float));
    free(before);
    mlp_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_overfits_32_images),
        cmocka_unit_test(test_same_bits_any_threads_any_kernel),
        cmocka_unit_test(test_fused_update_same_as_separate),
        cmocka_unit_test(test_divergence_stops_and_keeps_the_network),
    };
    return cmocka_run_group_tests(tests, load_sample, free_sample);
}
