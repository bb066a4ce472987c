/* kernels.h: the numerical kernels of the network, each with a plain reference.
 *
 * Layout. Parameters are stored as PyTorch's nn.Linear stores them: w (OC, C)
 * row-major, b (OC). Activations of a batch of B samples are feature-major:
 * xT (C, B), row c holding feature c of every sample, so that the forward
 * pass and the input gradient vectorise along the batch. The weight
 * gradient needs its input batch-major as well: x (B, C).
 *
 * Exactness. Every matrix kernel computes each output element as one
 * sequential chain of fused multiply-adds over k = 0..K-1, starting from 0:
 *     s = 0; for k: s = fmaf(A(i,k), B(k,j), s)
 * then applies its epilogue (bias, ReLU, mask) in a fixed order. The
 * vectorised kernels hold one element per SIMD lane and keep that order, so
 * every implementation, on any number of threads, gives the same bits as the
 * reference. */
#ifndef FMNIST_KERNELS_H
#define FMNIST_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* C(i,j) for i in [m0,m1), j in [0,N):  s = sum_k A(i,k) B(k,j) as above, then
 *   accumulate ? C + s : s + (bias ? bias[i] : 0); then relu -> max(0, .);
 *   then mask -> 0 where mask(i,j) <= 0.
 * A(i,k) = a[i*a_rs + k*a_ks] (any strides), B(k,j) = b[k*ldb + j],
 * C(i,j) = c[i*ldc + j], mask(i,j) = mask[i*ldm + j]. */
typedef struct gemm_op {
    int M, N, K;
    const float *a;
    ptrdiff_t a_rs, a_ks;
    const float *b;
    ptrdiff_t ldb;
    float *c;
    ptrdiff_t ldc;
    const float *bias;
    const float *mask;
    ptrdiff_t ldm;
    int accumulate, relu;
} gemm_op;

typedef void (*gemm_fn)(const gemm_op *op, int m0, int m1);

/* The implementations. gemm_ref is the definition; the others must match it
 * bit for bit. Only call those that kernel_available() reports. */
void gemm_ref(const gemm_op *op, int m0, int m1);
void gemm_generic(const gemm_op *op, int m0, int m1); /* tiled portable C */
void gemm_avx2(const gemm_op *op, int m0, int m1);    /* x86-64 AVX2 + FMA */
void gemm_avx512(const gemm_op *op, int m0, int m1);  /* x86-64 AVX-512F */

/* One Adam step over elements [i0, i1) (see adam.h for the formulas); when
 * ema is set, then the moving average of the new parameters, in float:
 *     ema[i] = ema[i] * ema_d + ema_od * params[i]   (ema_od = 1 - d). */
typedef struct adam_coef {
    float b1, one_minus_b1, b2, one_minus_b2, eps, neg_step_size, bc2_sqrt, decay;
    float *ema;
    float ema_d, ema_od;
} adam_coef;
typedef void (*adam_fn)(const adam_coef *c, float *params, const float *grads, float *m,
                        float *v, size_t i0, size_t i1);
void adam_update_ref(const adam_coef *c, float *params, const float *grads, float *m, float *v,
                     size_t i0, size_t i1);
void adam_update_avx2(const adam_coef *c, float *params, const float *grads, float *m, float *v,
                      size_t i0, size_t i1);
void adam_update_avx512(const adam_coef *c, float *params, const float *grads, float *m,
                        float *v, size_t i0, size_t i1);

/* out[i] = ((float)in[i] / 255 - 0.5) / 0.5 for i < n: the reference's
 * ToTensor + Normalize, each a float32 operation (exact in every version). */
typedef void (*normalize_fn)(float *out, const unsigned char *in, size_t n);
void normalize_u8_ref(float *out, const unsigned char *in, size_t n);
void normalize_u8_avx2(float *out, const unsigned char *in, size_t n);
void normalize_u8_avx512(float *out, const unsigned char *in, size_t n);

/* dst (cols, rows) = transpose of src (rows, cols); leading dimensions in
 * floats. Pure data movement. */
typedef void (*transpose_fn)(float *dst, ptrdiff_t ldd, const float *src, ptrdiff_t lds,
                             int rows, int cols);
void transpose_ref(float *dst, ptrdiff_t ldd, const float *src, ptrdiff_t lds, int rows,
                   int cols);
void transpose_avx2(float *dst, ptrdiff_t ldd, const float *src, ptrdiff_t lds, int rows,
                    int cols);

/* Inverted dropout of rows [r0, r1), columns [j0, j1) of xT (rows, B):
 * element e = row * B + b is zeroed when its 16 random bits,
 * dropout_bits(key, e), are below threshold (= round(p * 65536)), else
 * multiplied by scale (= 1 / (1 - p)). The bits depend only on key and e,
 * so any split over threads, by rows or columns, and every implementation,
 * gives the same mask. */
typedef void (*dropout_fn)(float *xT, int B, int r0, int r1, int j0, int j1, uint32_t key,
                           uint32_t threshold, float scale);
void dropout_forward_ref(float *xT, int B, int r0, int r1, int j0, int j1, uint32_t key,
                         uint32_t threshold, float scale);
void dropout_forward_avx2(float *xT, int B, int r0, int r1, int j0, int j1, uint32_t key,
                          uint32_t threshold, float scale);
/* The 16 random bits of element e under key: the top half of a 32-bit
 * integer hash (lowbias32, https://nullprogram.com/blog/2018/07/31/). */
static inline unsigned dropout_bits(uint32_t key, uint32_t e)
{
    uint32_t x = key + e * 0x9e3779b9u;
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x >> 16;
}
/* Bilinear resampling of a 28x28 byte image, for the augmentation's
 * geometry. The image is given padded: WARP_PAD x WARP_PAD bytes, one black
 * pixel around it (warp_pad), and WARP_SLACK bytes more that are read but
 * never used. Sample i, at column u[i] and row w[i] (pixel units), is black
 * outside -1 < u, w < 28, else warp_sample's value + 0.5 truncated to a
 * byte: every implementation gives those bytes. The padded image is
 * 4-byte aligned (the AVX2 version reads it as 32-bit words). */
#define WARP_SIDE 28
#define WARP_PAD (WARP_SIDE + 2)
#define WARP_SLACK 4
#define WARP_BYTES (WARP_PAD * WARP_PAD + WARP_SLACK)
void warp_pad(const uint8_t *img, uint8_t *padded);
/* The definition, in double: x0 = floor(u), ax = u - x0 (likewise y0, ay
 * from w), p.. the four pixels around, 0 outside the image. */
static inline double warp_sample(const uint8_t *padded, double u, double w)
{
    if (!(u > -1 && u < WARP_SIDE && w > -1 && w < WARP_SIDE))
        return 0;
    int x0 = (int)u, y0 = (int)w; /* truncated, then floored: no libm call */
    x0 -= x0 > u;
    y0 -= y0 > w;
    double ax = u - x0, ay = w - y0;
    const uint8_t *p = padded + (y0 + 1) * WARP_PAD + x0 + 1;
    int p00 = p[0], p10 = p[1], p01 = p[WARP_PAD], p11 = p[WARP_PAD + 1];
    return (1 - ay) * ((1 - ax) * p00 + ax * p10) + ay * ((1 - ax) * p01 + ax * p11);
}
typedef void (*warp_fn)(uint8_t *out, const uint8_t *padded, const double *u, const double *w,
                        int n);
void warp_ref(uint8_t *out, const uint8_t *padded, const double *u, const double *w, int n);
void warp_avx2(uint8_t *out, const uint8_t *padded, const double *u, const double *w, int n);

/* 2x2 max pooling both ways, as conv.h's maxpool2_forward and
 * maxpool2_backward (the reference): the same values, choices and
 * gradients, which are selections, not arithmetic. */
typedef void (*pool_forward_fn)(float *outT, uint8_t *arg, const float *xT, int H, int W,
                                int B, int c0, int c1);
typedef void (*pool_backward_fn)(float *dxT, const float *doutT, const uint8_t *arg, int H,
                                 int W, int B, int c0, int c1);
void maxpool2_forward_avx2(float *outT, uint8_t *arg, const float *xT, int H, int W, int B,
                           int c0, int c1);
void maxpool2_backward_avx2(float *dxT, const float *doutT, const uint8_t *arg, int H, int W,
                            int B, int c0, int c1);
void maxpool2_forward_avx512(float *outT, uint8_t *arg, const float *xT, int H, int W, int B,
                             int c0, int c1);
void maxpool2_backward_avx512(float *dxT, const float *doutT, const uint8_t *arg, int H, int W,
                              int B, int c0, int c1);

typedef struct kernel_impl {
    const char *name; /* "avx512", "avx2", "generic", "ref" */
    gemm_fn gemm;
    adam_fn adam;
    normalize_fn normalize;
    transpose_fn transpose;
    dropout_fn dropout;
    warp_fn warp;
    pool_forward_fn pool_forward;
    pool_backward_fn pool_backward;
} kernel_impl;

/* The implementation called name (NULL: the fastest this CPU runs), or NULL
 * when unknown or unsupported here. */
const kernel_impl *kernel_find(const char *name);
/* All implementations this CPU can run, fastest first; returns the count. */
int kernel_list(const kernel_impl **out, int cap);

/* The row tile the fast kernels use; threads split rows in multiples of it. */
#define GEMM_ROW_TILE 6

/* out = relu?(w x + b):  xT (C, B), w (OC, C), b (OC), outT (OC, B).
 * Computes output rows (features) [r0, r1). */
void linear_forward(gemm_fn gemm, float *outT, const float *xT, const float *w, const float *b,
                    int B, int C, int OC, int relu, int r0, int r1);

/* Weight and bias gradients of out = w x + b, overwriting dw and db:
 *   dw (OC, C) = dyT (OC, B) x (B, C);  db[o] = sum_b dyT[o][b] (sequential in b).
 * Computes rows [r0, r1) of dw and db (db NULL: dw alone). */
void linear_backward_weights(gemm_fn gemm, float *dw, float *db, const float *dyT,
                             const float *x, int B, int C, int OC, int r0, int r1);

/* Input gradient of out = w x + b through the ReLU that produced x:
 *   dxT (C, B) = w^T dyT, then 0 where maskT (C, B) <= 0 (maskT NULL: no ReLU).
 * Computes rows [r0, r1) of dxT. */
void linear_backward_input(gemm_fn gemm, float *dxT, const float *dyT, const float *w,
                           const float *maskT, int B, int C, int OC, int r0, int r1);

/* linear_forward and linear_backward_input on columns (samples) [j0, j1)
 * of a batch of B only, all rows: each element computed as there, so a
 * batch cut into column ranges gives the same bits. */
void linear_forward_cols(gemm_fn gemm, float *outT, const float *xT, const float *w,
                         const float *b, int B, int j0, int j1, int C, int OC, int relu);
void linear_backward_input_cols(gemm_fn gemm, float *dxT, const float *dyT, const float *w,
                                const float *maskT, int B, int j0, int j1, int C, int OC);

/* expf(x) computed from basic IEEE operations only, so that it gives the
 * same bits on every machine (libm's need not: glibc's expf on x86-64 picks
 * an FMA build at run time whose results differ from arm64's and from
 * non-FMA x86-64's for x = -0x1.f8cbb2p+5). glibc's and musl's method and
 * bits, error below 0.502 ULP; 0 below -103.97, +inf above 88.72. */
float kernel_expf(float x);

/* Log-softmax over each column of logitsT (K, B) into logpT (may alias),
 * the max subtracted first so that exp never overflows and the log is of a
 * sum >= 1: finite for logits of +-1000. */
void logsoftmax_forward(float *logpT, const float *logitsT, int B, int K);
/* The same on columns [j0, j1) of the B only. */
void logsoftmax_forward_cols(float *logpT, const float *logitsT, int B, int j0, int j1, int K);

/* Gradient of the mean cross-entropy through log-softmax, against targets
 * smoothed by s (0: plain NLL of the label; PyTorch's label_smoothing):
 *   target_k = (1 - s) [k == label] + s / K,
 *   dlogitsT = (exp(logp) - target) / B, computed as torch does for s = 0. */
void logsoftmax_nll_backward(float *dlogitsT, const float *logpT, const unsigned char *labels,
                             int B, int K, float s);
/* The same on columns [j0, j1) of the B only (still divided by B). */
void logsoftmax_nll_backward_cols(float *dlogitsT, const float *logpT,
                                  const unsigned char *labels, int B, int j0, int j1, int K,
                                  float s);

/* Multiplies n floats by scale (the dropout scale on a gradient). */
void scale_floats(float *x, size_t n, float scale);

/* Flush-to-zero and denormals-are-zero for the calling thread (x86 MXCSR,
 * arm64 FPCR.FZ). Returns an opaque previous state for fp_restore. */
unsigned fp_flush_denormals(void);
void fp_restore(unsigned state);

#endif
