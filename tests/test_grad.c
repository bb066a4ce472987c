/* test_grad.c: every backward kernel, and the whole network's backward
 * pass, against central finite differences of the forward computation. */
#include "testutil.h"

#include <math.h>

#include "kernels.h"
#include "mlp.h"
#include "rng.h"

static gemm_fn G;
static const kernel_impl *K;

static void fill(rng *r, float *p, size_t n, float scale)
{
    for (size_t i = 0; i < n; i++)
        p[i] = scale * (2.0f * rng_uniform(r) - 1.0f);
}

/* |a - b| <= atol + rtol * max(|a|, |b|), with a message on failure. */
static void close_to(double analytic, double numeric, double atol, double rtol, const char *what,
                     size_t i)
{
    double tol = atol + rtol * fmax(fabs(analytic), fabs(numeric));
    if (!(fabs(analytic - numeric) <= tol))
        fail_msg("%s[%zu]: analytic %.8g vs finite difference %.8g", what, i, analytic, numeric);
}

enum { B = 5, C = 7, OC = 6 };

/* f = sum(R * (w x + b)): linear in every argument, so a central difference
 * is exact up to float round-off. */
static double f_linear(const float *w, const float *b, const float *xT, const float *R)
{
    float out[OC * B];
    linear_forward(G, out, xT, w, b, B, C, OC, 0, 0, OC);
    double s = 0;
    for (int i = 0; i < OC * B; i++)
        s += (double)R[i] * out[i];
    return s;
}

static void test_linear_backward(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, 1);
    float w[OC * C], b[OC], xT[C * B], x[B * C], R[OC * B];
    fill(&r, w, OC * C, 1), fill(&r, b, OC, 1), fill(&r, xT, C * B, 1), fill(&r, R, OC * B, 1);
    for (int i = 0; i < C; i++)
        for (int j = 0; j < B; j++)
            x[j * C + i] = xT[i * B + j];
    float dw[OC * C], db[OC], dxT[C * B];
    linear_backward_weights(G, dw, db, R, x, B, C, OC, 0, OC);
    linear_backward_input(G, dxT, R, w, NULL, B, C, OC, 0, C);
    const float h = 0.125f; /* a power of two: p +- h is exact */
    struct { float *p, *g; int n; const char *name; } cases[] = {
        {w, dw, OC * C, "dw"}, {b, db, OC, "db"}, {xT, dxT, C * B, "dx"}};
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < cases[c].n; i++) {
            float keep = cases[c].p[i];
            cases[c].p[i] = keep + h;
            double fp = f_linear(w, b, xT, R);
            cases[c].p[i] = keep - h;
            double fm = f_linear(w, b, xT, R);
            cases[c].p[i] = keep;
            close_to(cases[c].g[i], (fp - fm) / (2 * h), 1e-5, 1e-5, cases[c].name, (size_t)i);
        }
}

/* g = sum(R * (w relu(z) + b)) as a function of z: the ReLU backward. */
static double f_relu_in(const float *w, const float *b, const float *zT, const float *R)
{
    float a[C * B];
    for (int i = 0; i < C * B; i++)
        a[i] = zT[i] > 0 ? zT[i] : 0;
    return f_linear(w, b, a, R);
}

static void test_relu_backward(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, 2);
    float w[OC * C], b[OC], zT[C * B], aT[C * B], R[OC * B], dzT[C * B];
    fill(&r, w, OC * C, 1), fill(&r, b, OC, 1), fill(&r, zT, C * B, 1), fill(&r, R, OC * B, 1);
    for (int i = 0; i < C * B; i++)
        aT[i] = zT[i] > 0 ? zT[i] : 0;
    linear_backward_input(G, dzT, R, w, aT, B, C, OC, 0, C);
    const float h = 1.0f / 1024;
    int checked = 0;
    for (int i = 0; i < C * B; i++) {
        if (fabsf(zT[i]) <= 2 * h)
            continue; /* the kink: no derivative */
        float keep = zT[i];
        zT[i] = keep + h;
        double fp = f_relu_in(w, b, zT, R);
        zT[i] = keep - h;
        double fm = f_relu_in(w, b, zT, R);
        zT[i] = keep;
        close_to(dzT[i], (fp - fm) / (2 * h), 1e-4, 1e-4, "dz", (size_t)i);
        checked++;
    }
    assert_true(checked > C * B / 2);
}

static double f_nll(const float *logitsT, const unsigned char *labels, int K)
{
    float lp[10 * B];
    logsoftmax_forward(lp, logitsT, B, K);
    double s = 0;
    for (int b = 0; b < B; b++)
        s -= lp[labels[b] * B + b];
    return s / B;
}

static void test_logsoftmax_nll_backward(void **state)
{
    (void)state;
    enum { K = 10 };
    rng r;
    rng_seed(&r, 3);
    float lg[K * B], lp[K * B], d[K * B];
    fill(&r, lg, K * B, 3);
    unsigned char labels[B] = {0, 9, 4, 4, 7};
    logsoftmax_forward(lp, lg, B, K);
    logsoftmax_nll_backward(d, lp, labels, B, K, 0.0f);
    const float h = 1.0f / 256;
    for (int i = 0; i < K * B; i++) {
        float keep = lg[i];
        lg[i] = keep + h;
        double fp = f_nll(lg, labels, K);
        lg[i] = keep - h;
        double fm = f_nll(lg, labels, K);
        lg[i] = keep;
        close_to(d[i], (fp - fm) / (2 * h), 2e-4, 2e-3, "dlogits", (size_t)i);
    }
}

/* The pattern that decides which way every ReLU and pooling went: the
 * hidden layers' signs, and each pool's sign and choice. */
static size_t pattern(const mlp *m, const mlp_work *w, int NB, unsigned char *dst)
{
    size_t q = 0;
    for (int l = 1; l < m->nlayers; l++)
        for (int i = 0; i < m->width[l] * NB; i++, q++)
            if (dst)
                dst[q] = w->actT[l][i] > 0;
    for (int c = 0; c < m->nconv; c++) {
        const mlp_conv *v = &m->conv[c];
        int n = v->out_ch * (v->side / 2) * (v->side / 2) * NB;
        for (int i = 0; i < n; i++, q++)
            if (dst)
                dst[q] = (unsigned char)((w->pooled[c][i] > 0) | w->arg[c][i] << 1);
    }
    return q;
}

/* The whole chain on a small network of shape sh, with NB samples of its
 * inputs (uint8 pixels); plain, or with dropout (a fixed mask) and label
 * smoothing. */
static void whole_network(const mlp_shape *sh, int NB, float dropout, float smoothing)
{
    mlp m;
    fm_err e;
    assert_int_equal(mlp_create_shape(&m, sh, &e), FM_OK);
    rng r;
    rng_seed(&r, 4);
    mlp_init_params(&m, &r);
    int in = mlp_inputs(&m), K5 = m.width[m.nlayers];
    uint8_t *img = malloc((size_t)NB * in), *lab = malloc((size_t)NB);
    for (int i = 0; i < NB * in; i++)
        img[i] = (uint8_t)(rng_next(&r) >> 56);
    for (int i = 0; i < NB; i++)
        lab[i] = (uint8_t)rng_below(&r, (uint64_t)K5);
    mlp_work w;
    assert_int_equal(mlp_work_create(&w, &m, NB, 1, &e), FM_OK);
    w.dropout = dropout;
    w.smoothing = smoothing;
    w.dropout_key = 99;
    mlp_gather(&m, &w, NULL, K, img, lab, NULL, NB);
    mlp_forward(&m, &w, NULL, K);
    mlp_loss(&m, &w);
    mlp_backward(&m, &w, NULL, K, NULL);
    float *g = malloc(m.nparams * sizeof(float));
    memcpy(g, w.grads, m.nparams * sizeof(float));

    /* The ReLU and pooling pattern at the unperturbed point; coordinates
     * whose perturbation changes it sit on a kink and are skipped. */
    size_t nact = pattern(&m, &w, NB, NULL);
    unsigned char *pat0 = malloc(nact), *pat = malloc(nact);
    pattern(&m, &w, NB, pat0);
    const float h = 1.0f / 512;
    int checked = 0, skipped = 0;
    for (size_t i = 0; i < m.nparams; i++) {
        float keep = m.params[i];
        double f[2];
        int kink = 0;
        for (int s = 0; s < 2; s++) {
            m.params[i] = keep + (s ? -h : h);
            mlp_forward(&m, &w, NULL, K);
            f[s] = mlp_loss(&m, &w);
            pattern(&m, &w, NB, pat);
            kink |= memcmp(pat, pat0, nact) != 0;
        }
        m.params[i] = keep;
        if (kink) {
            skipped++;
            continue;
        }
        close_to(g[i], (f[0] - f[1]) / (2 * h), 2e-4, 2e-3, "dparams", i);
        checked++;
    }
    printf("# whole network, %d convolutions (dropout %g, smoothing %g): %d parameters "
           "checked, %d on a kink skipped\n", m.nconv, dropout, smoothing, checked, skipped);
    /* A pool's choice flips more easily than a ReLU's sign. */
    assert_true(checked > (int)m.nparams * (m.nconv ? 3 : 9) / (m.nconv ? 4 : 10));
    free(img);
    free(lab);
    free(pat0);
    free(pat);
    free(g);
    mlp_work_free(&w);
    mlp_free(&m);
}

/* 16 inputs, 12-8-6 hidden, 5 classes. */
static const mlp_shape small_mlp = {.nlayers = 4, .width = {16, 12, 8, 6, 5}};
/* 12x12 images, convolutions of 3 (3x3) and 4 (5x5) channels, 36-6-5 (the
 * second convolution's 6x6 positions times 3 samples are not a multiple of
 * 8, as the real network's 14x14 times an odd number are not). */
static const mlp_shape small_cnn = {.nconv = 2, .side = 12, .channels = 1,
                                    .conv_ch = {3, 4}, .conv_k = {3, 5},
                                    .nlayers = 2, .width = {36, 6, 5}};

static void test_whole_network(void **state)
{
    (void)state;
    whole_network(&small_mlp, 9, 0, 0);
}

static void test_whole_network_dropout_smoothing(void **state)
{
    (void)state;
    whole_network(&small_mlp, 9, 0.3f, 0.1f);
}

/* 11 samples: a whole block of MLP_CONV_BLOCK and a part of one. With 11,
 * every weight of the first convolution sits on a kink (some pool among the
 * many changes its choice), so one sample checks them (1 of 591 skipped). */
static void test_convolutional_network(void **state)
{
    (void)state;
    whole_network(&small_cnn, 1, 0, 0);
    whole_network(&small_cnn, 11, 0, 0);
    whole_network(&small_cnn, 11, 0.3f, 0.1f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_backward),
        cmocka_unit_test(test_relu_backward),
        cmocka_unit_test(test_logsoftmax_nll_backward),
        cmocka_unit_test(test_whole_network),
        cmocka_unit_test(test_whole_network_dropout_smoothing),
        cmocka_unit_test(test_convolutional_network),
    };
    /* Once with the reference kernels, once with the fastest here. */
    K = kernel_find("ref");
    G = K->gemm;
    int failed = cmocka_run_group_tests_name("reference kernels", tests, NULL, NULL);
    K = kernel_find(NULL);
    G = K->gemm;
    failed += cmocka_run_group_tests_name("fastest kernels", tests, NULL, NULL);
    return failed;
}
