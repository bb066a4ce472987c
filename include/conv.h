/* conv.h: the data movement of a convolutional layer, around the GEMM
 * kernels of kernels.h (docs/pictures.md: a small convolutional network is
 * what would take people's pictures past 75%; these are its first parts).
 *
 * Layout. A batch of B images of C channels, H x W, is feature-major as
 * every activation in fmnist: xT (C, H, W, B), element [c][y][x][b], so a
 * layer's input is the (C*H*W, B) matrix the linear kernels take.
 *
 * A k x k convolution (k odd, "same" padding k/2, stride 1) is one GEMM over
 * the input's patches: pT (C*k*k, H*W*B), row (c, ky, kx), column (y, x, b),
 * holding x[c][y + ky - k/2][x + kx - k/2][b], or 0 outside the image. With
 * w (OC, C*k*k) as PyTorch stores a Conv2d weight (OC, C, k, k):
 *     forward         outT (OC, H*W*B) = w pT + b   linear_forward, B' = H*W*B
 *     weight gradient dw = dyT p                    linear_backward_weights
 *                     (p (H*W*B, C*k*k): pT transposed)
 *     input gradient  dxT (C, H*W*B) = wf qT        a GEMM like the forward's
 *                     (qT: dyT's own patches, (OC*k*k, H*W*B); wf (C, OC*k*k)
 *                     = conv_flip_weights(w): the same convolution, "full",
 *                     with the kernel turned by 180 degrees)
 * So each output element is the GEMM's one chain of fused multiply-adds
 * over (c, ky, kx) (for the weight gradient over (y, x, b); for the input
 * gradient over (o, ky, kx) of the turned kernel), and the kernels'
 * exactness contract carries over: test_conv checks every element against
 * a direct convolution written as that chain. The padding's zeros are part
 * of the chain: fmaf(w, 0, s) is s only up to the sign of a zero s (and NaN
 * for an infinite w), so no implementation may skip them.
 *
 * Each function computes a window of rows or channels, so threads can
 * share a layer as they share a linear one, each writing its own rows. */
#ifndef FMNIST_CONV_H
#define FMNIST_CONV_H

#include <stddef.h>
#include <stdint.h>

/* Rows [r0, r1) of pT (C*k*k, H*W*B) from xT (C, H, W, B). */
void conv_patches(float *pT, const float *xT, int H, int W, int k, int B, int r0,
                  int r1);

/* The same rows' columns for lines [y0, y1) of the output alone (the
 * columns (y, x, b) with y0 <= y < y1, 0 <= y0 < y1 <= H): row r at
 * pT + (r - r0) * ld, its cols = (y1 - y0) * W * B floats (ld >= cols; the
 * ld - cols floats after each row are left as they were). A GEMM's columns
 * are independent, so a layer can be computed a window of lines at a time,
 * its patches staying in cache. */
void conv_patches_window(float *pT, size_t ld, const float *xT, int H, int W, int k, int B,
                         int r0, int r1, int y0, int y1);

/* A convolution's bias gradient from its output gradient dyT (OC, N): for
 * each channel, eight running sums from +0, sum j taking columns j, j + 8,
 * j + 16, ... in order (so they vectorise), then the eight added in order
 * (sum 0 first). A sequential sum of a block's 6,272 positions would be
 * one long chain of dependent additions. */
void conv_bias_grad(float *db, const float *dyT, int N, int OC);

/* The input gradient's weights: wf (C, OC*k*k), element [c][(o, ky, kx)] =
 * w[o][c][k-1-ky][k-1-kx] of w (OC, C, k, k). With qT = dyT's patches
 * (conv_patches of the output gradient, OC channels), dxT = wf qT is the
 * input gradient: dx[c][y][x] = sum over (o, ky, kx) of
 * w[o][c][k-1-ky][k-1-kx] dy[o][y+ky-p][x+kx-p] (p = k/2), which is
 * sum over (o, ky', kx') of w[o][c][ky'][kx'] dy[o][y-ky'+p][x-kx'+p]. */
void conv_flip_weights(float *wf, const float *w, int C, int OC, int k);

/* 2x2 max pooling, stride 2 (H and W even): outT (C, H/2, W/2, B), each the
 * largest of its four inputs taken in the order (0,0), (0,1), (1,0), (1,1),
 * a later one only when greater or NaN (as PyTorch's max_pool2d); arg
 * (C, H/2, W/2, B) records which (0..3). Channels [c0, c1). */
void maxpool2_forward(float *outT, uint8_t *arg, const float *xT, int H, int W, int B, int c0,
                      int c1);

/* Its gradient: dxT (C, H, W, B) gets each output's gradient at the input
 * arg names, 0 at the other three (H and W even: with odd ones the last row
 * or column would be left unwritten). Channels [c0, c1). */
void maxpool2_backward(float *dxT, const float *doutT, const uint8_t *arg, int H, int W, int B,
                       int c0, int c1);

#endif
