/* test_adam.c: the first Adam steps against values computed by hand (in
 * double, from the paper's formulas), bias correction included. */
#include "testutil.h"

#include <math.h>

#include "adam.h"

static void hand_adam(double *p, double *m, double *v, const double *g, int steps, double lr,
                      double wd)
{
    for (int t = 1; t <= steps; t++) {
        *p *= 1 - lr * wd;
        *m = 0.9 * *m + 0.1 * g[t - 1];
        *v = 0.999 * *v + 0.001 * g[t - 1] * g[t - 1];
        double mhat = *m / (1 - pow(0.9, t)), vhat = *v / (1 - pow(0.999, t));
        *p -= lr * mhat / (sqrt(vhat) + 1e-8);
    }
}

static void run(const kernel_impl *k, double wd)
{
    enum { N = 37, STEPS = 4 };
    const double g_seq[STEPS] = {0.5, -0.25, 1e-3, 2.0};
    adam a;
    fm_err e;
    assert_int_equal(adam_create(&a, N, 0.003, &e), FM_OK);
    a.weight_decay = wd;
    float p[N], g[N];
    for (int i = 0; i < N; i++)
        p[i] = 1.0f - 0.05f * (float)i;
    for (int t = 0; t < STEPS; t++) {
        for (int i = 0; i < N; i++)
            g[i] = (float)(g_seq[t] * (1 + 0.1 * i));
        adam_step(&a, NULL, k->adam, p, g, a.lr);
        for (int i = 0; i < N; i++) {
            double gi[STEPS], hp = 1.0 - 0.05 * i, hm = 0, hv = 0;
            for (int s = 0; s <= t; s++)
                gi[s] = (float)(g_seq[s] * (1 + 0.1 * i));
            hand_adam(&hp, &hm, &hv, gi, t + 1, 0.003, wd);
            /* float32 arithmetic: a few ulps of p, m and v. */
            if (fabs(p[i] - hp) > 2e-7 * fmax(1, fabs(hp)) || fabs(a.m[i] - hm) > 1e-6 * fabs(hm) + 1e-12 ||
                fabs(a.v[i] - hv) > 1e-6 * fabs(hv) + 1e-15)
                fail_msg("%s wd=%g step %d element %d: p %.9g vs %.9g, m %.9g vs %.9g, v %.9g vs %.9g",
                         k->name, wd, t + 1, i, p[i], hp, a.m[i], hm, a.v[i], hv);
        }
    }
    assert_int_equal(a.step, STEPS);
    adam_free(&a);
}

static void test_first_steps(void **state)
{
    (void)state;
    const kernel_impl *ks[8];
    int n = kernel_list(ks, 8);
    for (int i = 0; i < n; i++) {
        run(ks[i], 0.0);
        run(ks[i], 0.05);
    }
}

static void test_first_step_is_lr_sized(void **state)
{
    (void)state;
    /* Step 1: m_hat = g, v_hat = g^2, so every parameter moves by
     * lr * g / (|g| + eps) ~ lr against its gradient's sign. */
    adam a;
    assert_int_equal(adam_create(&a, 3, 0.003, NULL), FM_OK);
    float p[3] = {0, 0, 0}, g[3] = {2.0f, -0.5f, 1e-3f};
    adam_step(&a, NULL, kernel_find("ref")->adam, p, g, a.lr);
    assert_true(fabsf(p[0] + 0.003f) < 1e-9f);
    assert_true(fabsf(p[1] - 0.003f) < 1e-9f);
    assert_true(fabsf(p[2] + 0.003f * (1e-3f / (1e-3f + 1e-8f))) < 1e-9f);
    /* PyTorch's coefficients: step size lr / (1 - 0.9) rounded once. */
    adam_coef c = adam_coefficients(&a, 1, 0.003);
    assert_true(c.neg_step_size == (float)-(0.003 / (1 - 0.9)));
    assert_true(c.bc2_sqrt == (float)sqrt(1 - 0.999));
    adam_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_steps),
        cmocka_unit_test(test_first_step_is_lr_sized),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
