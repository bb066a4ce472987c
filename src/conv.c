/* conv.c: a convolutional layer's patches and pooling (see conv.h). */
#include "conv.h"

#include <stddef.h>
#include <string.h>

void conv_patches(float *pT, const float *xT, int H, int W, int k, int B, int r0, int r1)
{
    size_t row = (size_t)H * W * B, line = (size_t)W * B;
    int p = k / 2;
    for (int r = r0; r < r1; r++) {
        int c = r / (k * k), ky = r / k % k, kx = r % k;
        float *dst = pT + (size_t)r * row;
        /* output columns x whose source x + kx - p lies in [0, W) */
        int x0 = p - kx > 0 ? p - kx : 0, x1 = W + p - kx < W ? W + p - kx : W;
        for (int y = 0; y < H; y++, dst += line) {
            int sy = y + ky - p;
            if (sy < 0 || sy >= H || x0 >= x1) {
                memset(dst, 0, line * sizeof *dst);
                continue;
            }
            const float *src = xT + ((size_t)c * H + sy) * line + (size_t)(x0 + kx - p) * B;
            memset(dst, 0, (size_t)x0 * B * sizeof *dst);
            memcpy(dst + (size_t)x0 * B, src, (size_t)(x1 - x0) * B * sizeof *dst);
            memset(dst + (size_t)x1 * B, 0, (size_t)(W - x1) * B * sizeof *dst);
        }
    }
}

void conv_bias_grad(float *restrict db, const float *restrict dyT, int N, int OC)
{
    for (int o = 0; o < OC; o++) {
        const float *row = dyT + (size_t)o * N;
        float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        int i = 0;
        for (; i + 8 <= N; i += 8)
            for (int j = 0; j < 8; j++)
                acc[j] += row[i + j];
        for (int j = 0; i < N; i++, j++)
            acc[j] += row[i];
        float s = acc[0];
        for (int j = 1; j < 8; j++)
            s += acc[j];
        db[o] = s;
    }
}

void conv_flip_weights(float *wf, const float *w, int C, int OC, int k)
{
    int kk = k * k;
    for (int c = 0; c < C; c++)
        for (int o = 0; o < OC; o++)
            for (int t = 0; t < kk; t++) /* (ky, kx) = (t / k, t % k), turned */
                wf[((size_t)c * OC + o) * kk + t] = w[((size_t)o * C + c) * kk + (kk - 1 - t)];
}

void maxpool2_forward(float *outT, uint8_t *arg, const float *xT, int H, int W, int B, int c0,
                      int c1)
{
    int h = H / 2, w = W / 2;
    for (int c = c0; c < c1; c++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                const float *in = xT + (((size_t)c * H + 2 * y) * W + 2 * x) * B;
                float *m = outT + (((size_t)c * h + y) * w + x) * B;
                uint8_t *a = arg + (m - outT);
                /* candidate by candidate along the batch, which vectorises */
                memcpy(m, in, (size_t)B * sizeof *m);
                memset(a, 0, (size_t)B);
                for (uint8_t i = 1; i < 4; i++) {
                    const float *q = in + (size_t)(i / 2) * W * B + (size_t)(i % 2) * B;
                    for (int b = 0; b < B; b++) {
                        int take = q[b] > m[b] || q[b] != q[b]; /* or NaN */
                        m[b] = take ? q[b] : m[b];
                        a[b] = take ? i : a[b];
                    }
                }
            }
}

void maxpool2_backward(float *dxT, const float *doutT, const uint8_t *arg, int H, int W, int B,
                       int c0, int c1)
{
    int h = H / 2, w = W / 2;
    for (int c = c0; c < c1; c++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                float *in = dxT + (((size_t)c * H + 2 * y) * W + 2 * x) * B;
                size_t o = (((size_t)c * h + y) * w + x) * B;
                for (uint8_t i = 0; i < 4; i++) {
                    float *q = in + (size_t)(i / 2) * W * B + (size_t)(i % 2) * B;
                    for (int b = 0; b < B; b++)
                        q[b] = arg[o + b] == i ? doutT[o + b] : 0.0f;
                }
            }
}
