/* test_conv.c: a convolutional layer made of conv.h's patches and pooling
 * and kernels.h's GEMMs gives, bit for bit, a direct convolution written
 * as the kernels' chain of fused multiply-adds: forward, weight gradient and
 * input gradient, with every kernel implementation, and computed in
 * windows of rows or channels as threads would. And max pooling's values,
 * ties, NaN and gradient. */
#include "testutil.h"

#include <math.h>

#include "conv.h"
#include "kernels.h"
#include "rng.h"

static float *randbuf(rng *r, size_t n)
{
    float *p = malloc(n * sizeof *p + 64);
    for (size_t i = 0; i < n; i++)
        p[i] = 4.0f * rng_uniform(r) - 2.0f;
    return p;
}

static void assert_same(const float *a, const float *b, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof *a))
            fail_msg("%s: element %zu differs: %a vs %a", what, i, (double)a[i], (double)b[i]);
}

/* x[c][y][x][b] of (C, H, W, B), 0 outside the image. */
static float at(const float *xT, int C, int H, int W, int B, int c, int y, int x, int b)
{
    (void)C;
    if (y < 0 || y >= H || x < 0 || x >= W)
        return 0.0f;
    return xT[(((size_t)c * H + y) * W + x) * B + b];
}

typedef struct layer {
    int C, OC, H, W, k, B;
    float *x, *w, *bias, *dy; /* input, weight (OC, C, k, k), bias, output gradient */
} layer;

/* The direct forward pass: one fmaf chain over (c, ky, kx), then the bias
 * and ReLU as gemm_op's epilogue adds them. */
static void direct_forward(const layer *L, float *out)
{
    int p = L->k / 2, K = L->C * L->k * L->k;
    for (int o = 0; o < L->OC; o++)
        for (int y = 0; y < L->H; y++)
            for (int x = 0; x < L->W; x++)
                for (int b = 0; b < L->B; b++) {
                    float s = 0.0f;
                    for (int r = 0; r < K; r++) {
                        int c = r / (L->k * L->k), ky = r / L->k % L->k, kx = r % L->k;
                        s = fmaf(L->w[(size_t)o * K + r],
                                 at(L->x, L->C, L->H, L->W, L->B, c, y + ky - p, x + kx - p, b), s);
                    }
                    s = s + L->bias[o];
                    out[(((size_t)o * L->H + y) * L->W + x) * L->B + b] = s > 0.0f ? s : 0.0f;
                }
}

/* The direct weight gradient: for each weight, one chain over (y, x, b). */
static void direct_weight_grad(const layer *L, float *dw)
{
    int p = L->k / 2, K = L->C * L->k * L->k;
    for (int o = 0; o < L->OC; o++)
        for (int r = 0; r < K; r++) {
            int c = r / (L->k * L->k), ky = r / L->k % L->k, kx = r % L->k;
            float s = 0.0f;
            for (int y = 0; y < L->H; y++)
                for (int x = 0; x < L->W; x++)
                    for (int b = 0; b < L->B; b++)
                        s = fmaf(L->dy[(((size_t)o * L->H + y) * L->W + x) * L->B + b],
                                 at(L->x, L->C, L->H, L->W, L->B, c, y + ky - p, x + kx - p, b), s);
            dw[(size_t)o * K + r] = s;
        }
}

/* The direct input gradient through the ReLU that made the input: for each
 * input element, one chain over (o, ky, kx) of the kernel turned by 180
 * degrees times the output gradient it reaches (0 outside the image), then
 * 0 where the input is <= 0, as the GEMM's mask. */
static void direct_input_grad(const layer *L, float *dx)
{
    int p = L->k / 2, K = L->C * L->k * L->k;
    for (int c = 0; c < L->C; c++)
        for (int y = 0; y < L->H; y++)
            for (int x = 0; x < L->W; x++)
                for (int b = 0; b < L->B; b++) {
                    float s = 0.0f;
                    for (int o = 0; o < L->OC; o++)
                        for (int ky = 0; ky < L->k; ky++)
                            for (int kx = 0; kx < L->k; kx++) {
                                int r = (c * L->k + (L->k - 1 - ky)) * L->k + (L->k - 1 - kx);
                                s = fmaf(L->w[(size_t)o * K + r],
                                         at(L->dy, L->OC, L->H, L->W, L->B, o, y + ky - p,
                                            x + kx - p, b),
                                         s);
                            }
                    size_t i = (((size_t)c * L->H + y) * L->W + x) * L->B + b;
                    dx[i] = L->x[i] <= 0.0f ? 0.0f : s;
                }
}

static void check_layer(const kernel_impl *ki, int C, int OC, int H, int W, int k, int B,
                        int pieces)
{
    rng r;
    rng_seed(&r, (uint64_t)(C * 1000 + OC * 100 + H * 10 + k + B));
    layer L = {C, OC, H, W, k, B, NULL, NULL, NULL, NULL};
    int K = C * k * k, N = H * W * B;
    L.x = randbuf(&r, (size_t)C * N);
    L.w = randbuf(&r, (size_t)OC * K);
    L.bias = randbuf(&r, (size_t)OC);
    L.dy = randbuf(&r, (size_t)OC * N);
    float *pT = malloc((size_t)K * N * sizeof *pT), *p = malloc((size_t)K * N * sizeof *p);
    float *out = malloc((size_t)OC * N * sizeof *out);
    float *want = malloc((size_t)OC * N * sizeof *want);
    float *dw = malloc((size_t)OC * K * sizeof *dw), *db = malloc((size_t)OC * sizeof *db);
    int Q = OC * k * k;
    float *qT = malloc((size_t)Q * N * sizeof *qT), *dx = malloc((size_t)C * N * sizeof *dx);
    float *wf = malloc((size_t)C * Q * sizeof *wf);
    float *wdw = malloc((size_t)OC * K * sizeof *wdw), *wdx = malloc((size_t)C * N * sizeof *wdx);
    char what[128];
    snprintf(what, sizeof what, "%s C=%d OC=%d %dx%d k=%d B=%d in %d", ki->name, C, OC, H, W, k,
             B, pieces);
    for (int i = 0; i < pieces; i++) /* the patches, row window by row window */
        conv_patches(pT, L.x, H, W, k, B, K * i / pieces, K * (i + 1) / pieces);
    linear_forward(ki->gemm, out, pT, L.w, L.bias, N, K, OC, 1, 0, OC);
    direct_forward(&L, want);
    assert_same(out, want, (size_t)OC * N, what);

    ki->transpose(p, K, pT, N, K, N);
    linear_backward_weights(ki->gemm, dw, db, L.dy, p, N, K, OC, 0, OC);
    direct_weight_grad(&L, wdw);
    assert_same(dw, wdw, (size_t)OC * K, what);

    /* the turned kernel over the output gradient's patches, masked by the
     * input's ReLU; patches and GEMM rows in windows */
    conv_flip_weights(wf, L.w, C, OC, k);
    for (int i = 0; i < pieces; i++)
        conv_patches(qT, L.dy, H, W, k, B, Q * i / pieces, Q * (i + 1) / pieces);
    gemm_op op = {.M = C, .N = N, .K = Q, .a = wf, .a_rs = Q, .a_ks = 1, .b = qT, .ldb = N,
                  .c = dx, .ldc = N, .mask = L.x, .ldm = N};
    for (int i = 0; i < pieces; i++)
        ki->gemm(&op, C * i / pieces, C * (i + 1) / pieces);
    direct_input_grad(&L, wdx);
    assert_same(dx, wdx, (size_t)C * N, what);
    free(L.x), free(L.w), free(L.bias), free(L.dy), free(pT), free(p), free(out), free(want);
    free(dw), free(db), free(qT), free(wf), free(dx), free(wdw), free(wdx);
}

static void test_conv_layer_is_direct_convolution(void **state)
{
    (void)state;
    const kernel_impl *ks[8];
    int n = kernel_list(ks, 8);
    for (int i = 0; i < n; i++) {
        check_layer(ks[i], 1, 16, 28, 28, 3, 3, 1);  /* a first layer */
        check_layer(ks[i], 3, 5, 6, 7, 3, 5, 2);     /* odd sizes, in windows */
        check_layer(ks[i], 2, 3, 5, 4, 5, 2, 3);     /* 5x5 */
        check_layer(ks[i], 2, 4, 2, 3, 5, 1, 2);     /* the kernel wider than the image */
        check_layer(ks[i], 4, 7, 7, 7, 1, 9, 4);     /* 1x1 */
        check_layer(ks[i], 2, 3, 1, 1, 5, 3, 2);     /* images narrower than the reach */
        check_layer(ks[i], 1, 2, 1, 3, 7, 2, 1);
        check_layer(ks[i], 1, 2, 3, 1, 7, 2, 1);
        check_layer(ks[i], 2, 2, 2, 1, 9, 1, 2);
        check_layer(ks[i], 1, 1, 1, 1, 1, 1, 1);
    }
}

/* Each function writes its window's rows or channels and nothing else
 * (threads share the buffers): everything outside stays as it was. */
static void assert_untouched(const float *v, size_t from, size_t to, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if ((i < from || i >= to) && memcmp(&v[i], &(float){-7.0f}, sizeof *v))
            fail_msg("%s: element %zu outside the window [%zu, %zu) was written", what, i, from,
                     to);
}

static void test_windows_stay_inside(void **state)
{
    (void)state;
    enum { C = 4, H = 4, W = 6, k = 3, B = 3, K = C * k * k, N = H * W * B };
    rng r;
    rng_seed(&r, 11);
    float *x = randbuf(&r, (size_t)K * N), *out = malloc((size_t)K * N * sizeof *out);
    uint8_t *arg = malloc((size_t)C * N);
    size_t hw = (size_t)H * W * B, pooled = hw / 4;
    for (int t = 0; t < 3; t++) {
        for (size_t i = 0; i < (size_t)K * N; i++)
            out[i] = -7.0f;
        if (t == 0) { /* patch rows [5, 23) */
            conv_patches(out, x, H, W, k, B, 5, 23);
            assert_untouched(out, 5 * hw, 23 * hw, (size_t)K * N, "conv_patches");
        } else if (t == 1) { /* channels [1, 3) */
            memset(arg, 0, (size_t)C * N);
            maxpool2_forward(out, arg, x, H, W, B, 1, 3);
            assert_untouched(out, 1 * pooled, 3 * pooled, (size_t)K * N, "maxpool2_forward");
        } else {
            memset(arg, 0, (size_t)C * N);
            maxpool2_backward(out, x, arg, H, W, B, 1, 3);
            assert_untouched(out, 1 * hw, 3 * hw, (size_t)K * N, "maxpool2_backward");
        }
    }
    free(x), free(out), free(arg);
}

static void test_maxpool(void **state)
{
    (void)state;
    enum { C = 2, H = 4, W = 6, B = 3 };
    rng r;
    rng_seed(&r, 5);
    float *x = randbuf(&r, (size_t)C * H * W * B);
    /* ties: channel 1, window (0, 0), sample 0: all four equal; sample 1:
     * the second and fourth equal and largest; sample 2: a NaN third. Window
     * (0, 1), sample 0: NaNs second and fourth (the later one wins) */
    for (int i = 0; i < 4; i++) {
        int y = i / 2, xx = i % 2;
        float *e = x + (((size_t)1 * H + y) * W + xx) * B;
        e[0] = 1.5f;
        e[1] = (i == 1 || i == 3) ? 7.0f : -1.0f;
        e[2] = i == 2 ? NAN : 0.25f;
        e[2 * B] = (i == 1 || i == 3) ? NAN : 3.0f;
    }
    float out[C * (H / 2) * (W / 2) * B], dout[C * (H / 2) * (W / 2) * B], dx[C * H * W * B];
    uint8_t arg[C * (H / 2) * (W / 2) * B];
    maxpool2_forward(out, arg, x, H, W, B, 0, 1); /* in two channel windows */
    maxpool2_forward(out, arg, x, H, W, B, 1, C);
    for (int c = 0; c < C; c++)
        for (int y = 0; y < H / 2; y++)
            for (int xx = 0; xx < W / 2; xx++)
                for (int b = 0; b < B; b++) {
                    size_t o = (((size_t)c * (H / 2) + y) * (W / 2) + xx) * B + b;
                    float m = -INFINITY;
                    int a = -1;
                    for (int i = 0; i < 4; i++) {
                        float v = x[(((size_t)c * H + 2 * y + i / 2) * W + 2 * xx + i % 2) * B + b];
                        if (a < 0 || v > m || isnan(v)) {
                            m = v;
                            a = i;
                        }
                    }
                    assert_int_equal(arg[o], a);
                    assert_memory_equal(&out[o], &m, sizeof m);
                }
    size_t t = ((size_t)1 * (H / 2) * (W / 2)) * B; /* channel 1, window (0, 0) */
    assert_int_equal(arg[t], 0);                     /* a tie: the first */
    assert_int_equal(arg[t + 1], 1);                 /* the first of the two largest */
    assert_int_equal(arg[t + 2], 2);                 /* NaN wins */
    assert_true(isnan(out[t + 2]));
    assert_int_equal(arg[t + B], 3);                 /* and a later NaN over an earlier one */

    for (size_t i = 0; i < sizeof dout / sizeof *dout; i++)
        dout[i] = (float)(i + 1);
    memset(dx, 0xff, sizeof dx); /* every element must be written */
    maxpool2_backward(dx, dout, arg, H, W, B, 0, C);
    for (int c = 0; c < C; c++)
        for (int y = 0; y < H; y++)
            for (int xx = 0; xx < W; xx++)
                for (int b = 0; b < B; b++) {
                    size_t o = (((size_t)c * (H / 2) + y / 2) * (W / 2) + xx / 2) * B + b;
                    int i = (y % 2) * 2 + xx % 2;
                    float want = arg[o] == i ? dout[o] : 0.0f;
                    float got = dx[(((size_t)c * H + y) * W + xx) * B + b];
                    assert_memory_equal(&got, &want, sizeof got);
                }
    free(x);
}

/* Every implementation's pooling gives the reference's bits: values,
 * choices and gradients, for batches around the vector width, with ties
 * (values from a few levels, signed zeros) and NaNs, in a channel window
 * (nothing outside it written). */
static void test_pool_kernels_match_reference(void **state)
{
    (void)state;
    const kernel_impl *ks[8];
    int nk = kernel_list(ks, 8);
    static const int batches[] = {1, 3, 7, 8, 9, 16, 19};
    /* H x W: an odd number of outputs a line (the AVX-512 kernels' pairs
     * and a last one), an even number, a single one */
    static const int sides[][2] = {{4, 6}, {2, 8}, {6, 2}};
    enum { C = 3 };
    rng r;
    rng_seed(&r, 17);
    for (size_t si = 0; si < 3 * sizeof batches / sizeof *batches; si++) {
        int B = batches[si % (sizeof batches / sizeof *batches)];
        int H = sides[si / (sizeof batches / sizeof *batches)][0];
        int W = sides[si / (sizeof batches / sizeof *batches)][1];
        size_t n = (size_t)C * H * W * B, m = n / 4;
        float *x = malloc(n * sizeof *x), *dout = malloc(m * sizeof *dout);
        float *out[2], *dx[2];
        uint8_t *arg[2];
        for (size_t i = 0; i < n; i++) {
            uint64_t u = rng_below(&r, 10);
            x[i] = u == 0 ? NAN : u == 1 ? -0.0f : u == 2 ? 0.0f : (float)(u % 4) - 1.0f;
        }
        for (size_t i = 0; i < m; i++)
            dout[i] = rng_uniform(&r) - 0.5f;
        for (int k = 0; k < 2; k++) {
            out[k] = malloc(m * sizeof(float));
            arg[k] = malloc(m);
            dx[k] = malloc(n * sizeof(float));
        }
        /* the reference, whole */
        maxpool2_forward(out[0], arg[0], x, H, W, B, 0, C);
        maxpool2_backward(dx[0], dout, arg[0], H, W, B, 0, C);
        for (int ki = 0; ki < nk; ki++) {
            size_t lo = (size_t)1 * m / C, hi = (size_t)2 * m / C; /* channel 1 alone */
            for (size_t i = 0; i < m; i++)
                out[1][i] = -7.0f, arg[1][i] = 9;
            for (size_t i = 0; i < n; i++)
                dx[1][i] = -7.0f;
            ks[ki]->pool_forward(out[1], arg[1], x, H, W, B, 1, 2);
            ks[ki]->pool_backward(dx[1], dout, arg[0], H, W, B, 1, 2);
            char what[64];
            snprintf(what, sizeof what, "%s pool_forward %dx%d B=%d", ks[ki]->name, H, W, B);
            assert_untouched(out[1], lo, hi, m, what);
            assert_same(out[1] + lo, out[0] + lo, hi - lo, what);
            for (size_t i = 0; i < m; i++)
                if (arg[1][i] != (i >= lo && i < hi ? arg[0][i] : 9))
                    fail_msg("%s: choice %zu is %d, not %d", what, i, arg[1][i], arg[0][i]);
            snprintf(what, sizeof what, "%s pool_backward %dx%d B=%d", ks[ki]->name, H, W, B);
            assert_untouched(dx[1], 4 * lo, 4 * hi, n, what);
            assert_same(dx[1] + 4 * lo, dx[0] + 4 * lo, 4 * (hi - lo), what);
            /* and whole, in one call */
            ks[ki]->pool_forward(out[1], arg[1], x, H, W, B, 0, C);
            ks[ki]->pool_backward(dx[1], dout, arg[1], H, W, B, 0, C);
            assert_same(out[1], out[0], m, what);
            assert_memory_equal(arg[1], arg[0], m);
            assert_same(dx[1], dx[0], n, what);
        }
        for (int k = 0; k < 2; k++)
            free(out[k]), free(arg[k]), free(dx[k]);
        free(x), free(dout);
    }
}

/* conv_patches_window's rows [r0, r1) for lines [y0, y1), ld apart, are
 * their definition element for element (the bits: signed zeros and NaNs
 * copied as they are), and the ld - cols floats after each row but the
 * last stay untouched: the buffer holds exactly what may be written. */
static void check_window(const float *x, int C, int H, int W, int k, int B, int r0, int r1,
                         int y0, int y1, size_t ld)
{
    int p = k / 2;
    size_t cols = (size_t)(y1 - y0) * W * B, n = (size_t)(r1 - r0 - 1) * ld + cols;
    float *pT = malloc(n * sizeof *pT);
    for (size_t i = 0; i < n; i++)
        pT[i] = -7.0f;
    conv_patches_window(pT, ld, x, H, W, k, B, r0, r1, y0, y1);
    for (int row = r0; row < r1; row++) {
        const float *got = pT + (size_t)(row - r0) * ld;
        int c = row / (k * k), ky = row / k % k, kx = row % k;
        for (int y = y0; y < y1; y++)
            for (int xx = 0; xx < W; xx++)
                for (int b = 0; b < B; b++) {
                    float want = at(x, C, H, W, B, c, y + ky - p, xx + kx - p, b);
                    size_t j = ((size_t)(y - y0) * W + xx) * B + b;
                    if (memcmp(&got[j], &want, sizeof want))
                        fail_msg("C=%d %dx%d k=%d B=%d rows [%d, %d) lines [%d, %d): row %d (%d, "
                                 "%d, %d) is %a, want %a", C, H, W, k, B, r0, r1, y0, y1, row, y,
                                 xx, b, (double)got[j], (double)want);
                }
        for (size_t j = cols; row + 1 < r1 && j < ld; j++)
            if (got[j] != -7.0f)
                fail_msg("C=%d %dx%d k=%d B=%d: the gap after row %d was written", C, H, W, k, B,
                         row);
    }
    free(pT);
}

/* conv_patches and windows of it, for kernels narrower and wider than the
 * image, even and odd sides, and the block of 8 the network uses (and a
 * partial one of 5). */
static void test_patches_definition(void **state)
{
    (void)state;
    static const int shapes[][5] = {/* C, H, W, k, B */
                                    {1, 28, 28, 3, 8}, {16, 14, 14, 3, 8}, {16, 14, 14, 3, 5},
                                    {2, 5, 7, 5, 3},   {1, 3, 2, 7, 2},    {3, 4, 4, 1, 5},
                                    {2, 1, 6, 3, 1},   {1, 6, 1, 5, 4},    {2, 2, 2, 9, 8}};
    rng r;
    rng_seed(&r, 29);
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        int C = shapes[i][0], H = shapes[i][1], W = shapes[i][2], k = shapes[i][3];
        int B = shapes[i][4], K = C * k * k;
        size_t N = (size_t)H * W * B;
        float *x = randbuf(&r, (size_t)C * N);
        x[0] = -0.0f, x[N / 2] = NAN;
        check_window(x, C, H, W, k, B, 0, K, 0, H, N); /* whole */
        for (int t = 0; t < 20; t++) {
            int r0 = (int)rng_below(&r, (uint64_t)K), y0 = (int)rng_below(&r, (uint64_t)H);
            int r1 = r0 + 1 + (int)rng_below(&r, (uint64_t)(K - r0));
            int y1 = y0 + 1 + (int)rng_below(&r, (uint64_t)(H - y0));
            size_t ld = (size_t)(y1 - y0) * W * B + rng_below(&r, 4);
            check_window(x, C, H, W, k, B, r0, r1, y0, y1, ld);
        }
        float *pT = malloc((size_t)K * N * sizeof *pT), *pw = malloc((size_t)K * N * sizeof *pw);
        conv_patches(pT, x, H, W, k, B, 0, K); /* the whole window's bytes */
        conv_patches_window(pw, N, x, H, W, k, B, 0, K, 0, H);
        assert_memory_equal(pT, pw, (size_t)K * N * sizeof *pT);
        free(x), free(pT), free(pw);
    }
}

/* conv_bias_grad is its definition: eight sums of every eighth column,
 * added in order; for every length around a multiple of 8. */
static void test_bias_grad(void **state)
{
    (void)state;
    enum { OC = 3 };
    rng r;
    rng_seed(&r, 23);
    float dy[OC * 41], db[OC];
    for (int i = 0; i < OC * 41; i++)
        dy[i] = 4.0f * rng_uniform(&r) - 2.0f;
    for (int N = 1; N <= 41; N++) {
        conv_bias_grad(db, dy, N, OC);
        for (int o = 0; o < OC; o++) {
            float lane[8] = {0};
            for (int i = 0; i < N; i++)
                lane[i % 8] += dy[o * N + i];
            float s = lane[0];
            for (int j = 1; j < 8; j++)
                s += lane[j];
            if (memcmp(&s, &db[o], sizeof s))
                fail_msg("N=%d channel %d: %a, want %a", N, o, (double)db[o], (double)s);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_layer_is_direct_convolution),
        cmocka_unit_test(test_patches_definition),
        cmocka_unit_test(test_maxpool),
        cmocka_unit_test(test_windows_stay_inside),
        cmocka_unit_test(test_pool_kernels_match_reference),
        cmocka_unit_test(test_bias_grad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
