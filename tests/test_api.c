/* test_api.c: libfmnist's public API (fmnist.h): every function, its errors
 * (outputs untouched), and the same results as the modules the CLI uses. */
#include "testutil.h"

#include <fenv.h>

#include <math.h>

#include "fmnist.h"
#include "idx.h"
#include "image.h"
#include "mlp.h"
#include "model_file.h"
#include "prep.h"

static char *dir, model_path[4200];
static idx_set sample;

static int setup(void **state)
{
    (void)state;
    dir = tu_tmpdir();
    snprintf(model_path, sizeof model_path, "%s/m.model", dir);
    if (tu_fmnist(NULL, NULL, "train --data data/sample --epochs 1 --quiet --model %s",
                  model_path) != 0)
        return -1;
    return tu_load_sample("t10k", &sample);
}

static int teardown(void **state)
{
    (void)state;
    idx_free(&sample);
    tu_rmtree(dir);
    return 0;
}

static void test_names_version_top(void **state)
{
    (void)state;
    assert_string_equal(fmnist_class_name(0), "T-shirt/top");
    assert_string_equal(fmnist_class_name(9), "Ankle boot");
    assert_null(fmnist_class_name(10));
    assert_null(fmnist_class_name(-1));
    assert_non_null(strchr(fmnist_version(), '.'));
    assert_string_equal(fmnist_strerror(FMNIST_ENOMEM), "out of memory");
    const float p[10] = {0.1f, 0.3f, 0.05f, 0.3f, 0, 0, 0.2f, 0, 0.05f, 0};
    int top[10] = {-1, -1, -1};
    assert_int_equal(fmnist_top(p, 3, top), 3);
    assert_int_equal(top[0], 1); /* ties to the lower label */
    assert_int_equal(top[1], 3);
    assert_int_equal(top[2], 6);
    assert_int_equal(fmnist_top(p, 0, top), 0);
    assert_int_equal(fmnist_top(p, 11, top), 0);
}

static void test_load_errors_leave_outputs(void **state)
{
    (void)state;
    fmnist_model *m = (fmnist_model *)&sample; /* any non-NULL value, to see it kept */
    fmnist_error err;
    assert_int_equal(fmnist_model_load("no/such.model", &m, &err), FMNIST_ENOTFOUND);
    assert_ptr_equal(m, (fmnist_model *)&sample);
    assert_int_equal(err.code, FMNIST_ENOTFOUND);
    assert_non_null(strstr(err.message, "no/such.model"));
    const char junk[] = "not a model at all";
    assert_int_equal(fmnist_model_load_buffer(junk, sizeof junk, &m, &err), FMNIST_EFORMAT);
    assert_ptr_equal(m, (fmnist_model *)&sample);
    assert_int_equal(fmnist_model_load(NULL, &m, &err), FMNIST_EINVAL);
    assert_int_equal(fmnist_model_load(model_path, &m, NULL), FMNIST_OK); /* err may be NULL */
    float probs[10] = {7};
    assert_int_equal(fmnist_classify_file(m, NULL, "no/such.png", probs, &err), FMNIST_ENOTFOUND);
    assert_true(probs[0] == 7);
    assert_int_equal(fmnist_classify_buffer(m, NULL, junk, sizeof junk, probs, &err),
                     FMNIST_EFORMAT);
    assert_int_equal(fmnist_classify_pixels(m, NULL, (const unsigned char *)junk, 2, 2, 5, probs,
                                            &err), FMNIST_EINVAL);
    assert_true(probs[0] == 7);
    fmnist_model_free(m);
    fmnist_model_free(NULL);
    fmnist_work_free(NULL);
    /* A valid model file of another network is refused. */
    mlp other;
    const int widths[3] = {784, 32, 10};
    char path[4300];
    snprintf(path, sizeof path, "%s/other.model", dir);
    assert_int_equal(mlp_create(&other, 2, widths, NULL), FM_OK);
    assert_int_equal(model_save(path, &other, "epochs=1\n", NULL, 0, NULL), FM_OK);
    mlp_free(&other);
    m = (fmnist_model *)&sample;
    assert_int_equal(fmnist_model_load(path, &m, &err), FMNIST_EFORMAT);
    assert_non_null(strstr(err.message, "784-256-128-64-10"));
    assert_ptr_equal(m, (fmnist_model *)&sample);
    /* and from memory, where only the network's check can refuse it */
    size_t n = 0;
    uint8_t *bytes = tu_read(path, &n);
    assert_int_equal(fmnist_model_load_buffer(bytes, n, &m, &err), FMNIST_EFORMAT);
    assert_non_null(strstr(err.message, "a 784-32-10 network; fmnist uses 784-256-128-64-10"));
    assert_ptr_equal(m, (fmnist_model *)&sample);
    free(bytes);
}

/* The 28x28 path gives what eval's network gives, with or without a work
 * buffer, from a file or from memory; the metadata is the model's. */
static void test_classify_agrees(void **state)
{
    (void)state;
    fmnist_model *a, *b;
    fmnist_work *w;
    fmnist_error err;
    assert_int_equal(fmnist_model_load(model_path, &a, &err), FMNIST_OK);
    size_t n = 0;
    uint8_t *bytes = tu_read(model_path, &n);
    assert_int_equal(fmnist_model_load_buffer(bytes, n, &b, &err), FMNIST_OK);
    free(bytes);
    assert_int_equal(fmnist_work_new(a, &w, &err), FMNIST_OK);
    char v[32];
    assert_int_equal(fmnist_model_meta(a, "epochs", v, sizeof v), 1);
    assert_string_equal(v, "1");
    assert_int_equal(fmnist_model_meta(a, "nothing", v, sizeof v), 0);
    assert_non_null(strstr(fmnist_model_meta_text(b), "seed=1\n"));
    for (uint32_t i = 0; i < 50; i++) {
        const unsigned char *px = sample.images + (size_t)i * 784;
        float p1[10], p2[10], p3[10];
        assert_int_equal(fmnist_classify_28x28(a, w, px, p1, &err), FMNIST_OK);
        assert_int_equal(fmnist_classify_28x28(b, NULL, px, p2, &err), FMNIST_OK);
        /* As a gray picture in memory: the data set's own form passes through. */
        assert_int_equal(fmnist_classify_pixels(a, w, px, 28, 28, 1, p3, &err), FMNIST_OK);
        assert_memory_equal(p1, p2, sizeof p1);
        assert_memory_equal(p1, p3, sizeof p1);
        double sum = 0;
        for (int c = 0; c < 10; c++)
            sum += p1[c];
        assert_true(fabs(sum - 1) < 1e-5);
    }
    /* A picture file and its bytes, RGBA in memory too. */
    float pf[10], pb[10], pp[10];
    const char *pic = "tests/fixtures/t1-white10x.png";
    assert_int_equal(fmnist_classify_file(a, w, pic, pf, &err), FMNIST_OK);
    bytes = tu_read(pic, &n);
    assert_int_equal(fmnist_classify_buffer(a, NULL, bytes, n, pb, &err), FMNIST_OK);
    free(bytes);
    image img;
    fm_err e;
    assert_int_equal(image_read_png(pic, &img, &e), FM_OK);
    assert_int_equal(fmnist_classify_pixels(a, w, img.rgba, img.w, img.h, 4, pp, &err), FMNIST_OK);
    image_free(&img);
    assert_memory_equal(pf, pb, sizeof pf);
    assert_memory_equal(pf, pp, sizeof pf);
    /* Gray and alpha (2 channels) as the same picture in RGBA. */
    assert_int_equal(image_read_png("tests/fixtures/t0-alpha.png", &img, &e), FM_OK);
    unsigned char *ga = malloc((size_t)img.w * img.h * 2);
    for (size_t i = 0; i < (size_t)img.w * img.h; i++)
        /* (Fully transparent pixels black here: their colour must not count.) */
        ga[2 * i] = img.rgba[4 * i + 3] ? img.rgba[4 * i] : 0, ga[2 * i + 1] = img.rgba[4 * i + 3];
    float p4[10], p2[10];
    assert_int_equal(fmnist_classify_pixels(a, w, img.rgba, img.w, img.h, 4, p4, &err), FMNIST_OK);
    assert_int_equal(fmnist_classify_pixels(a, w, ga, img.w, img.h, 2, p2, &err), FMNIST_OK);
    assert_memory_equal(p4, p2, sizeof p4);
    free(ga);
    image_free(&img);
    int top[1];
    fmnist_top(pf, 1, top);
    assert_int_equal(top[0], 2); /* item 1 of the test set: a pullover */
    fmnist_work_free(w);
    fmnist_model_free(a);
    fmnist_model_free(b);
}

/* The convolutional network through the library: its probabilities are,
 * bit for bit, the ones a batched forward pass gives (each sample's
 * computed alike in any batch), with and without a work buffer. */
static void test_convolutional_model(void **state)
{
    (void)state;
    mlp net;
    rng r;
    rng_seed(&r, 3);
    assert_int_equal(mlp_create_shape(&net, &mlp_fmnist_cnn, NULL), FM_OK);
    mlp_init_params(&net, &r);
    char path[4300];
    snprintf(path, sizeof path, "%s/cnn.model", dir);
    assert_int_equal(model_save(path, &net, "epochs=1\n", NULL, 0, NULL), FM_OK);
    enum { N = 20 };
    mlp_work mw;
    assert_int_equal(mlp_work_create(&mw, &net, N, 0, NULL), FM_OK);
    mlp_gather(&net, &mw, NULL, kernel_find(NULL), sample.images, NULL, NULL, N);
    mlp_forward(&net, &mw, NULL, kernel_find(NULL));
    fmnist_model *m;
    fmnist_work *w;
    fmnist_error err;
    assert_int_equal(fmnist_model_load(path, &m, &err), FMNIST_OK);
    assert_int_equal(fmnist_work_new(m, &w, &err), FMNIST_OK);
    for (int i = 0; i < N; i++) {
        float p1[10], p2[10];
        const unsigned char *px = sample.images + (size_t)i * 784;
        assert_int_equal(fmnist_classify_28x28(m, w, px, p1, &err), FMNIST_OK);
        assert_int_equal(fmnist_classify_28x28(m, NULL, px, p2, &err), FMNIST_OK);
        assert_memory_equal(p1, p2, sizeof p1);
        for (int c = 0; c < 10; c++) {
            float want = (float)exp(mw.actT[net.nlayers][(size_t)c * N + (size_t)i]);
            if (memcmp(&p1[c], &want, sizeof want))
                fail_msg("sample %d class %d: %a, the batch's %a", i, c, (double)p1[c],
                         (double)want);
        }
    }
    /* A work buffer made for the other network is refused by every
     * classification, the outputs untouched (a CNN's buffer with the MLP
     * read past its arrays; the MLP's with the CNN gave wrong numbers). */
    fmnist_model *other;
    fmnist_work *ow;
    assert_int_equal(fmnist_model_load(model_path, &other, &err), FMNIST_OK);
    assert_int_equal(fmnist_work_new(other, &ow, &err), FMNIST_OK);
    const char *pic = "tests/fixtures/t1-white10x.png";
    size_t n = 0;
    uint8_t *bytes = tu_read(pic, &n);
    for (int k = 0; k < 2; k++) {
        fmnist_model *mk = k ? other : m;
        fmnist_work *wk = k ? w : ow;
        float p[10] = {7};
        err.code = 0;
        assert_int_equal(fmnist_classify_28x28(mk, wk, sample.images, p, &err), FMNIST_EINVAL);
        assert_string_equal(err.message, "fmnist_classify_28x28: the work buffer was made for "
                            "another network than the model's (make one with fmnist_work_new "
                            "for this model)");
        assert_int_equal(fmnist_classify_pixels(mk, wk, sample.images, 28, 28, 1, p, &err),
                         FMNIST_EINVAL);
        assert_int_equal(fmnist_classify_file(mk, wk, pic, p, &err), FMNIST_EINVAL);
        assert_int_equal(fmnist_classify_buffer(mk, wk, bytes, n, p, &err), FMNIST_EINVAL);
        assert_non_null(strstr(err.message, "fmnist_classify_buffer: the work buffer"));
        assert_true(p[0] == 7 && p[1] == 0);
    }
    free(bytes);
    fmnist_work_free(ow);
    fmnist_model_free(other);
    fmnist_work_free(w);
    fmnist_model_free(m);
    mlp_work_free(&mw);
    mlp_free(&net);
}

/* The caller's floating-point environment (rounding upward, flush-to-zero)
 * changes no bit of a result, and is the caller's again after the call. */
static void test_caller_fp_environment(void **state)
{
    (void)state;
    fmnist_model *m;
    fmnist_error err;
    assert_int_equal(fmnist_model_load(model_path, &m, &err), FMNIST_OK);
    const char *pic = "tests/fixtures/t1-white10x.png";
    float want[2][10], got[2][10];
    assert_int_equal(fmnist_classify_28x28(m, NULL, sample.images, want[0], &err), FMNIST_OK);
    assert_int_equal(fmnist_classify_file(m, NULL, pic, want[1], &err), FMNIST_OK);
    static const int modes[] = {FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO};
    for (int k = 0; k < 3; k++) {
        assert_int_equal(fesetround(modes[k]), 0);
        unsigned ftz = fp_flush_denormals();
        assert_int_equal(fmnist_classify_28x28(m, NULL, sample.images, got[0], &err), FMNIST_OK);
        assert_int_equal(fmnist_classify_file(m, NULL, pic, got[1], &err), FMNIST_OK);
        assert_int_equal(fegetround(), modes[k]);
        /* And after a failure: a missing file, bytes that are no picture. */
        float untouched[10] = {7};
        assert_int_equal(fmnist_classify_file(m, NULL, "no/such.png", untouched, &err),
                         FMNIST_ENOTFOUND);
        assert_int_equal(fegetround(), modes[k]);
        assert_int_equal(fmnist_classify_buffer(m, NULL, "GIF89a", 6, untouched, &err),
                         FMNIST_EFORMAT);
        assert_int_equal(fegetround(), modes[k]);
        assert_true(untouched[0] == 7);
        fp_restore(ftz);
        fesetround(FE_TONEAREST);
        assert_memory_equal(got, want, sizeof want);
    }
    fmnist_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_version_top),
        cmocka_unit_test(test_load_errors_leave_outputs),
        cmocka_unit_test(test_classify_agrees),
        cmocka_unit_test(test_convolutional_model),
        cmocka_unit_test(test_caller_fp_environment),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
