/* conv.c: a convolutional layer's patches and pooling (see conv.h). */
#include "conv.h"

#include <stddef.h>
#include <string.h>

/* Patch row r's lines y in [y0, y1), whose sources are all inside the
 * image: one copy of the run shifted by d = kx - k/2 positions (so each
 * line's d edge positions take their neighbour line's values), then those
 * edges zeroed line by line. A row is then a few long copies, not three
 * calls a line. */
static void patch_lines(float *dst, const float *src, int W, int B, int d, int lines)
{
    size_t line = (size_t)W * B, run = (size_t)lines * line, s = (size_t)(d < 0 ? -d : d) * B;
    if (d >= 0)
        memcpy(dst, src + s, (run - s) * sizeof *dst);
    else
        memcpy(dst + s, src, (run - s) * sizeof *dst);
    for (int y = 0; y < lines; y++) { /* x + d outside [0, W): at the line's end or start */
        float *edge = dst + (size_t)y * line + (d >= 0 ? line - s : 0);
        for (size_t i = 0; i < s; i++)
            edge[i] = 0.0f;
    }
}

void conv_patches_window(float *pT, size_t ld, const float *xT, int H, int W, int k, int B,
                         int r0, int r1, int y0, int y1)
{
    size_t line = (size_t)W * B;
    int p = k / 2;
    for (int r = r0; r < r1; r++) {
        int c = r / (k * k), ky = r / k % k, kx = r % k, d = kx - p;
        float *dst = pT + (size_t)(r - r0) * ld;
        /* the window's lines y whose source y + ky - p lies in [0, H) */
        int ya = p - ky > y0 ? p - ky : y0, yb = H + p - ky < y1 ? H + p - ky : y1;
        if (ya >= yb || d >= W || -d >= W) { /* every source outside the image */
            memset(dst, 0, (size_t)(y1 - y0) * line * sizeof *dst);
            continue;
        }
        memset(dst, 0, (size_t)(ya - y0) * line * sizeof *dst);
        patch_lines(dst + (size_t)(ya - y0) * line,
                    xT + ((size_t)c * H + (size_t)(ya + ky - p)) * line, W, B, d, yb - ya);
        memset(dst + (size_t)(yb - y0) * line, 0, (size_t)(y1 - yb) * line * sizeof *dst);
    }
}

void conv_patches(float *pT, const float *xT, int H, int W, int k, int B, int r0, int r1)
{
    size_t row = (size_t)H * W * B;
    conv_patches_window(pT + (size_t)r0 * row, row, xT, H, W, k, B, r0, r1, 0, H);
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
