/* test_kernels.c: every optimised kernel against its plain reference, bit for
 * bit, over many shapes (odd ones included), and the small kernels' values. */
#include "testutil.h"

#include <float.h>
#include <math.h>

#include "idx.h"
#include "kernels.h"
#include "rng.h"

static float *randbuf(rng *r, size_t n, float zero_frac)
{
    float *p = malloc(n * sizeof *p + 64);
    for (size_t i = 0; i < n; i++) {
        float u = rng_uniform(r);
        p[i] = u < zero_frac ? (u < zero_frac / 2 ? 0.0f : -0.0f) : 4.0f * rng_uniform(r) - 2.0f;
    }
    return p;
}

/* Same bits, or both NaN. */
static void assert_same(const float *a, const float *b, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t x, y;
        memcpy(&x, &a[i], 4);
        memcpy(&y, &b[i], 4);
        if (x != y && !(isnan(a[i]) && isnan(b[i])))
            fail_msg("%s: element %zu differs: %a vs %a", what, i, (double)a[i], (double)b[i]);
    }
}

static const int Ms[] = {1, 2, 3, 5, 6, 7, 10, 12, 13, 64, 100};
static const int Ns[] = {1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65, 100};
static const int Ks[] = {1, 2, 5, 10, 64, 129};

static void check_impl(const kernel_impl *k)
{
    rng r;
    rng_seed(&r, 42);
    char what[160];
    int cases = 0;
    for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++)
        for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++)
            for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++) {
                int M = Ms[mi], N = Ns[ni], K = Ks[ki];
                /* The three layouts training uses. */
                float *w = randbuf(&r, (size_t)M * K, 0.1f);   /* (M, K) */
                float *xT = randbuf(&r, (size_t)K * N, 0.3f);  /* (K, N) */
                float *bias = randbuf(&r, (size_t)M, 0);
                float *mask = randbuf(&r, (size_t)M * N, 0.3f);
                float *c1 = randbuf(&r, (size_t)M * N, 0), *c2 = malloc((size_t)M * N * 4 + 64);
                for (int variant = 0; variant < 4; variant++) {
                    gemm_op op = {.M = M, .N = N, .K = K, .a = w, .a_rs = K, .a_ks = 1, .b = xT,
                                  .ldb = N, .c = c1, .ldc = N};
                    if (variant == 0) { /* forward: bias + ReLU */
                        op.bias = bias;
                        op.relu = 1;
                    } else if (variant == 1) { /* accumulate */
                        op.accumulate = 1;
                    } else if (variant == 2) { /* input gradient: A transposed, masked */
                        op.a_rs = 1;
                        op.a_ks = M;
                        op.mask = mask;
                        op.ldm = N;
                    } /* variant 3: plain */
                    memcpy(c2, c1, (size_t)M * N * 4);
                    gemm_op op2 = op;
                    op2.c = c2;
                    gemm_ref(&op, 0, M);
                    /* The fast one in two uneven row ranges, as threads run it. */
                    int cut = M > 1 ? (M * 2) / 5 : M;
                    k->gemm(&op2, 0, cut);
                    k->gemm(&op2, cut, M);
                    snprintf(what, sizeof what, "%s M=%d N=%d K=%d variant %d", k->name, M, N, K,
                             variant);
                    assert_same(c1, c2, (size_t)M * N, what);
                    cases++;
                }
                free(w);
                free(xT);
                free(bias);
                free(mask);
                free(c1);
                free(c2);
            }
    printf("# %s: %d gemm cases bit-identical to gemm_ref\n", k->name, cases);
}

static void test_gemm_all_impls(void **state)
{
    (void)state;
    const kernel_impl *ks[8];
    int n = kernel_list(ks, 8);
    assert_true(n >= 2); /* at least generic and ref */
    for (int i = 0; i < n; i++)
        check_impl(ks[i]);
}

static void test_linear_wrappers_training_shapes(void **state)
{
    (void)state;
    /* The real layer shapes and batch sizes 64, 32 (the last batch) and 1. */
    const kernel_impl *best = kernel_find(NULL), *ref = kernel_find("ref");
    const int widths[] = {784, 256, 128, 64, 10};
    const int batches[] = {64, 32, 1};
    rng r;
    rng_seed(&r, 7);
    for (int bi = 0; bi < 3; bi++)
        for (int l = 0; l < 4; l++) {
            int B = batches[bi], C = widths[l], OC = widths[l + 1];
            float *w = randbuf(&r, (size_t)OC * C, 0), *b = randbuf(&r, (size_t)OC, 0);
            float *xT = randbuf(&r, (size_t)C * B, 0.5f), *x = malloc((size_t)B * C * 4);
            for (int i = 0; i < C; i++)
                for (int j = 0; j < B; j++)
                    x[(size_t)j * C + i] = xT[(size_t)i * B + j];
            float *dyT = randbuf(&r, (size_t)OC * B, 0);
            size_t no = (size_t)OC * B, nw = (size_t)OC * C, nx = (size_t)C * B;
            float *o1 = malloc(no * 4), *o2 = malloc(no * 4);
            float *dw1 = malloc(nw * 4), *dw2 = malloc(nw * 4), *db1 = malloc(OC * 4),
                  *db2 = malloc(OC * 4);
            float *dx1 = malloc(nx * 4), *dx2 = malloc(nx * 4);
            linear_forward(ref->gemm, o1, xT, w, b, B, C, OC, 1, 0, OC);
            linear_forward(best->gemm, o2, xT, w, b, B, C, OC, 1, 0, OC);
            assert_same(o1, o2, no, "linear_forward");
            linear_backward_weights(ref->gemm, dw1, db1, dyT, x, B, C, OC, 0, OC);
            linear_backward_weights(best->gemm, dw2, db2, dyT, x, B, C, OC, 0, OC);
            assert_same(dw1, dw2, nw, "linear_backward_weights dw");
            assert_same(db1, db2, (size_t)OC, "linear_backward_weights db");
            linear_backward_input(ref->gemm, dx1, dyT, w, xT, B, C, OC, 0, C);
            linear_backward_input(best->gemm, dx2, dyT, w, xT, B, C, OC, 0, C);
            assert_same(dx1, dx2, nx, "linear_backward_input");
            /* Masked where the input (a ReLU output) was not positive. */
            for (size_t i = 0; i < nx; i++)
                if (xT[i] <= 0)
                    assert_true(dx1[i] == 0.0f);
            free(w), free(b), free(xT), free(x), free(dyT), free(o1), free(o2);
            free(dw1), free(dw2), free(db1), free(db2), free(dx1), free(dx2);
        }
}

/* The column-window kernels of the training step's column job: a batch cut
 * into windows at any columns (not only multiples of a vector) gives the
 * bits of the whole batch at once, with every kernel, for odd batch sizes
 * and shapes; the loss gradient is still divided by the whole batch. */
static void test_column_windows(void **state)
{
    (void)state;
    const kernel_impl *ks[8];
    int nk = kernel_list(ks, 8);
    const int batches[] = {1, 5, 17, 33, 61, 100};
    enum { C = 23, OC = 13, K = 10 };
    rng r;
    rng_seed(&r, 11);
    for (int bi = 0; bi < 6; bi++) {
        int B = batches[bi];
        size_t nx = (size_t)C * B, no = (size_t)OC * B, nl = (size_t)K * B;
        float *xT = randbuf(&r, nx, 0.3f), *w = randbuf(&r, (size_t)OC * C, 0);
        float *b = randbuf(&r, OC, 0), *dyT = randbuf(&r, no, 0), *lg = randbuf(&r, nl, 0);
        float *o1 = malloc(no * 4), *o2 = malloc(no * 4), *d1 = malloc(nx * 4), *d2 = malloc(nx * 4);
        float *lp1 = malloc(nl * 4), *lp2 = malloc(nl * 4), *g1 = malloc(nl * 4),
              *g2 = malloc(nl * 4), *r1 = malloc(nx * 4), *r2 = malloc(nx * 4);
        unsigned char *lab = malloc((size_t)B);
        for (int i = 0; i < B; i++)
            lab[i] = (unsigned char)rng_below(&r, K);
        for (int k = 0; k < nk; k++) {
            linear_forward(ks[k]->gemm, o1, xT, w, b, B, C, OC, 1, 0, OC);
            linear_backward_input(ks[k]->gemm, d1, dyT, w, xT, B, C, OC, 0, C);
            logsoftmax_forward(lp1, lg, B, K);
            logsoftmax_nll_backward(g1, lp1, lab, B, K, 0.1f);
            memcpy(r1, xT, nx * 4);
            ks[k]->dropout(r1, B, 0, C, 0, B, 777, 20000, 1.25f);
            memset(o2, 0xff, no * 4), memset(d2, 0xff, nx * 4);
            memset(lp2, 0xff, nl * 4), memset(g2, 0xff, nl * 4);
            memcpy(r2, xT, nx * 4);
            const int cuts[] = {3, 3, 11, 12, 20, 29, 40, 57, 80};
            for (int c = 0, j0 = 0; c <= 9; c++) {
                int j1 = c < 9 && cuts[c] < B ? cuts[c] : B;
                j1 = j1 < j0 ? j0 : j1;
                linear_forward_cols(ks[k]->gemm, o2, xT, w, b, B, j0, j1, C, OC, 1);
                linear_backward_input_cols(ks[k]->gemm, d2, dyT, w, xT, B, j0, j1, C, OC);
                logsoftmax_forward_cols(lp2, lg, B, j0, j1, K);
                logsoftmax_nll_backward_cols(g2, lp2, lab, B, j0, j1, K, 0.1f);
                ks[k]->dropout(r2, B, 0, C, j0, j1, 777, 20000, 1.25f);
                j0 = j1;
            }
            assert_same(o1, o2, no, "linear_forward_cols");
            assert_same(d1, d2, nx, "linear_backward_input_cols");
            assert_same(lp1, lp2, nl, "logsoftmax_forward_cols");
            assert_same(g1, g2, nl, "logsoftmax_nll_backward_cols");
            assert_same(r1, r2, nx, "dropout by columns");
        }
        free(xT), free(w), free(b), free(dyT), free(lg), free(o1), free(o2), free(d1), free(d2);
        free(lp1), free(lp2), free(g1), free(g2), free(r1), free(r2), free(lab);
    }
}

static void test_adam_impls(void **state)
{
    (void)state;
    const kernel_impl *ks[8];
    int n = kernel_list(ks, 8);
    const kernel_impl *ref = kernel_find("ref");
    rng r;
    rng_seed(&r, 3);
    size_t N = 1003; /* odd: tails of every vector width */
    float *g = randbuf(&r, N, 0.2f);
    for (size_t i = 0; i < 50; i++)
        g[i] = 1e-30f; /* tiny values: their squares underflow */
    float *want = malloc(3 * N * sizeof(float)), *got = malloc(3 * N * sizeof(float));
    for (int decay = 0; decay < 2; decay++) {
        adam_coef c = {.b1 = 0.9f, .one_minus_b1 = 0.1f, .b2 = 0.999f, .one_minus_b2 = 0.001f,
                       .eps = 1e-8f, .neg_step_size = -0.003f / 0.1f, .bc2_sqrt = 0.0316f,
                       .decay = decay ? 0.9999f : 1.0f, .ema = NULL, .ema_d = 1, .ema_od = 0};
        for (int i = 0; i < n; i++) {
            float *buf = i == 0 ? want : got;
            rng rr;
            rng_seed(&rr, 99);
            for (size_t j = 0; j < 3 * N; j++)
                buf[j] = rng_uniform(&rr) * (j >= N ? 0.01f : 1.0f);
            const kernel_impl *k = i == 0 ? ref : ks[i];
            for (int step = 0; step < 3; step++)
                k->adam(&c, buf, g, buf + N, buf + 2 * N, 0, N);
            if (i > 0)
                assert_same(want, got, 3 * N, k->name);
        }
    }
    free(want);
    free(got);
    free(g);
}

static void test_normalize_and_transpose(void **state)
{
    (void)state;
    const kernel_impl *ks[8];
    int n = kernel_list(ks, 8);
    float table[256];
    idx_norm_table(table);
    unsigned char in[1000];
    for (int i = 0; i < 1000; i++)
        in[i] = (unsigned char)(i * 37 + i / 256);
    float out[1000];
    rng r;
    rng_seed(&r, 8);
    for (int k = 0; k < n; k++) {
        /* Every offset and odd length: vector bodies and tails. */
        for (int off = 0; off < 3; off++) {
            ks[k]->normalize(out, in + off, 997);
            for (int i = 0; i < 997; i++)
                if (memcmp(&out[i], &table[in[off + i]], 4) != 0)
                    fail_msg("%s normalize: %u -> %a, want %a", ks[k]->name, in[off + i],
                             (double)out[i], (double)table[in[off + i]]);
        }
        const int shapes[][2] = {{1, 1}, {8, 8}, {64, 784}, {13, 29}, {7, 16}, {16, 7}, {64, 10}};
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            int R = shapes[s][0], C = shapes[s][1];
            float *src = randbuf(&r, (size_t)R * (C + 3), 0), *dst = malloc((size_t)C * (R + 5) * 4);
            ks[k]->transpose(dst, R + 5, src, C + 3, R, C);
            for (int i = 0; i < R; i++)
                for (int j = 0; j < C; j++)
                    if (dst[(size_t)j * (R + 5) + i] != src[(size_t)i * (C + 3) + j])
                        fail_msg("%s transpose %dx%d: (%d,%d)", ks[k]->name, R, C, i, j);
            free(src);
            free(dst);
        }
    }
}

/* warp: the definition's values at a few points, then every kernel
 * against warp_ref on random images at random, whole, half and border
 * coordinates (and NaN, infinities, -0), in lengths with and without a
 * tail. */
static void test_warp_impls(void **state)
{
    (void)state;
    _Alignas(4) uint8_t pv[WARP_BYTES];
    uint8_t img[WARP_SIDE * WARP_SIDE] = {0}, got[65], want[64]; /* got: one past the most */
    img[0] = 100, img[1] = 20, img[WARP_SIDE] = 60, img[WARP_SIDE + 1] = 0;
    img[WARP_SIDE * WARP_SIDE - 1] = 255;
    warp_pad(img, pv);
    const double pu[] = {0, 1, 0.5, 0.5, -0.5, -1, 27, 27.5, 28, 0.25, NAN};
    const double pw[] = {0, 0, 0, 0.5, 0, 0, 27, 27, 27, 1, 0};
    /* (100 + 20) / 2; (100 + 20 + 60 + 0) / 4; 100 half against the black
     * border; -1 and 28 outside; 255 / 2 + 0.5 truncated; 0.75 60 + 0.25 0 */
    const uint8_t at_points[] = {100, 20, 60, 45, 50, 0, 255, 128, 0, 45, 0};
    warp_ref(got, pv, pu, pw, 11);
    assert_memory_equal(got, at_points, 11);

    const kernel_impl *ks[8];
    int nk = kernel_list(ks, 8);
    rng r;
    rng_seed(&r, 12);
    double u[64], w[64];
    const double odd[] = {-1, -0.999999999, -1.000000001, 28, 27.999999999, 28.000000001, -0.0,
                          0, 13.5, NAN, INFINITY, -INFINITY, 1e300, -1e300};
    for (int round = 0; round < 3000; round++) {
        int kind = round % 3;
        for (int i = 0; i < WARP_SIDE * WARP_SIDE; i++) { /* noise, white, sparse */
            uint32_t v = rng_below(&r, 256), keep = rng_below(&r, 4) == 0;
            img[i] = (uint8_t)(kind == 0 ? v : kind == 1 ? 255 : keep ? v : 0);
        }
        warp_pad(img, pv);
        for (int i = 0; i < 64; i++) {
            uint32_t c = rng_below(&r, 4);
            double *q[2] = {&u[i], &w[i]};
            for (int a = 0; a < 2; a++)
                *q[a] = c == 0 ? -3 + 34 * (double)rng_uniform(&r)
                        : c == 1 ? (double)rng_below(&r, 33) - 2
                        : c == 2 ? (double)rng_below(&r, 66) / 2 - 2
                                 : odd[rng_below(&r, sizeof odd / sizeof *odd)];
        }
        int n = round % 2 ? WARP_SIDE : 1 + (int)rng_below(&r, 64);
        warp_ref(want, pv, u, w, n);
        for (int k = 0; k < nk; k++) {
            memset(got, 0xaa, sizeof got);
            ks[k]->warp(got, pv, u, w, n);
            for (int i = 0; i < n; i++)
                if (got[i] != want[i])
                    fail_msg("%s warp: sample %d at (%a, %a): %u, want %u", ks[k]->name, i, u[i],
                             w[i], got[i], want[i]);
            assert_int_equal(got[n], 0xaa); /* nothing written past sample n - 1 */
        }
    }
}

static void test_logsoftmax_extremes(void **state)
{
    (void)state;
    /* Columns: +-1000 logits, all equal, one huge gap. */
    enum { K = 10, B = 4 };
    float lg[K * B], lp[K * B], d[K * B];
    for (int k = 0; k < K; k++) {
        lg[k * B + 0] = k == 3 ? 1000.0f : -1000.0f;
        lg[k * B + 1] = k % 2 ? 1000.0f : -1000.0f;
        lg[k * B + 2] = 0.5f;
        lg[k * B + 3] = (float)k * 100.0f;
    }
    logsoftmax_forward(lp, lg, B, K);
    for (int i = 0; i < K * B; i++)
        assert_true(isfinite(lp[i]));
    assert_true(lp[3 * B + 0] == 0.0f);
    assert_true(lp[0 * B + 0] == -2000.0f);
    assert_true(fabsf(lp[1 * B + 1] - -logf(5.0f)) < 1e-6f);
    assert_true(fabsf(lp[0 * B + 2] - -logf(10.0f)) < 1e-6f);
    unsigned char labels[B] = {3, 0, 9, 0};
    logsoftmax_nll_backward(d, lp, labels, B, K, 0.0f);
    for (int i = 0; i < K * B; i++)
        assert_true(isfinite(d[i]));
    /* Columns of the gradient sum to ~0; at a confident right answer ~0. */
    for (int b = 0; b < B; b++) {
        double s = 0;
        for (int k = 0; k < K; k++)
            s += d[k * B + b];
        assert_true(fabs(s) < 1e-6);
    }
    assert_true(fabsf(d[3 * B + 0]) < 1e-6f);
    assert_true(fabsf(d[0 * B + 1] - (-1.0f / B)) < 1e-6f); /* wrong and sure: -1/B */
}

static float f32(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

static void test_expf(void **state)
{
    (void)state;
    /* Where glibc's FMA build of expf (x86-64 with FMA) rounds the other way:
     * exp(x) = 0x1.f45324ffe...p-92 (0.49988 ULP above the value here). */
    assert_true(kernel_expf(-0x1.f8cbb2p+5f) == 0x1.f45324p-92f);
    assert_true(kernel_expf(0.0f) == 1.0f && kernel_expf(-0.0f) == 1.0f);
    assert_true(kernel_expf(-INFINITY) == 0.0f && kernel_expf(INFINITY) == INFINITY);
    assert_true(isnan(kernel_expf(NAN)));
    assert_true(kernel_expf(-104.0f) == 0.0f && kernel_expf(89.0f) == INFINITY);
    assert_true(kernel_expf(-0x1.9fe368p6f) == 0x1p-149f); /* the last nonzero */
    assert_true(kernel_expf(0x1.62e42ep6f) == 0x1.ffff08p127f); /* the last finite */
    /* Against exp in double rounded to float (correct but for double
     * rounding), over every 257th float from -104 to 89: within 1 ULP, and the
     * same but for a few near-ties (the method's error is below 0.502 ULP). */
    long n = 0, off = 0;
    for (uint32_t u = 0x80000000u; u <= 0xc2d00000u; u += 257) {
        float x = f32(u), got = kernel_expf(x), want = (float)exp((double)x);
        n++;
        if (got != want) {
            off++;
            if (got != nextafterf(want, 0.0f) && got != nextafterf(want, INFINITY))
                fail_msg("kernel_expf(%a) = %a, exp gives %a", (double)x, (double)got, (double)want);
        }
    }
    for (uint32_t u = 0; u <= 0x42b17217u; u += 257) {
        float x = f32(u), got = kernel_expf(x), want = (float)exp((double)x);
        n++;
        if (got != want) {
            off++;
            if (got != nextafterf(want, 0.0f) && got != nextafterf(want, INFINITY))
                fail_msg("kernel_expf(%a) = %a, exp gives %a", (double)x, (double)got, (double)want);
        }
    }
    printf("# kernel_expf: %ld of %ld sampled inputs 1 ULP from exp rounded to float\n", off, n);
    assert_true(off * 10000 < n);
}

/* Flush-to-zero is the one place where x86-64 and arm64 arithmetic differ:
 * x86 (MXCSR.FTZ) decides "tiny" after rounding, arm64 (FPCR.FZ) before, so
 * an exact result of magnitude in [FLT_MIN (1 - 2^-25), FLT_MIN) becomes
 * FLT_MIN on x86-64 and 0 on arm64. Pinned here, and shown never to arise
 * where values decay geometrically into the subnormals: Adam's moments with
 * a zero gradient, m * 0.9f and v * 0.999f. */
static void test_flush_to_zero_rounding(void **state)
{
    (void)state;
    volatile float a = 0x1.000002p-126f, b = 0x1.fffffcp-1f; /* a b = FLT_MIN (1 - 2^-46) */
    volatile float c = FLT_MIN, d = 0x1.fffffep-1f;          /* c d = FLT_MIN (1 - 2^-24) */
    unsigned st = fp_flush_denormals();
    volatile float p = a * b, q = c * d;
    fp_restore(st);
#if defined(__x86_64__) || defined(__i386__)
    assert_true(p == FLT_MIN);
#elif defined(__aarch64__)
    assert_true(p == 0.0f);
#endif
    assert_true(q == 0.0f); /* tiny either way */
    const float decay[] = {0.9f, 0.999f};
    for (int k = 0; k < 2; k++)
        for (uint32_t u = 0x00800000u; u < 0x01000000u; u++) { /* m in [FLT_MIN, 2 FLT_MIN) */
            double exact = (double)f32(u) * decay[k]; /* 24 x 24 bits: exact in double */
            if (exact >= (double)FLT_MIN * (1 - 0x1p-25) && exact < (double)FLT_MIN)
                fail_msg("%a * %a lands in the window", (double)f32(u), (double)decay[k]);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_all_impls),
        cmocka_unit_test(test_linear_wrappers_training_shapes),
        cmocka_unit_test(test_column_windows),
        cmocka_unit_test(test_adam_impls),
        cmocka_unit_test(test_normalize_and_transpose),
        cmocka_unit_test(test_warp_impls),
        cmocka_unit_test(test_logsoftmax_extremes),
        cmocka_unit_test(test_expf),
        cmocka_unit_test(test_flush_to_zero_rounding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
