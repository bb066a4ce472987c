/* kernels.c: the reference kernels, the portable tiled kernel, dispatch and
 * the small per-batch kernels (log-softmax, NLL). */
#include "kernels.h"
#include "conv.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

/* The definition every implementation must match bit for bit. */
static float epilogue(const gemm_op *op, int i, int j, float s)
{
    float v;
    if (op->accumulate)
        v = op->c[(ptrdiff_t)i * op->ldc + j] + s;
    else
        v = op->bias ? s + op->bias[i] : s;
    if (op->relu)
        v = 0.0f > v ? 0.0f : v; /* NaN passes through, as in torch.relu */
    if (op->mask && op->mask[(ptrdiff_t)i * op->ldm + j] <= 0.0f)
        v = 0.0f;
    return v;
}

void gemm_ref(const gemm_op *op, int m0, int m1)
{
    for (int i = m0; i < m1; i++)
        for (int j = 0; j < op->N; j++) {
            float s = 0.0f;
            for (int k = 0; k < op->K; k++)
                s = fmaf(op->a[i * op->a_rs + k * op->a_ks], op->b[(ptrdiff_t)k * op->ldb + j], s);
            op->c[(ptrdiff_t)i * op->ldc + j] = epilogue(op, i, j, s);
        }
}

/* Portable tiling: 4 rows x 8 columns of independent fmaf chains. Where the
 * target has a fused multiply-add instruction (arm64, x86 with FMA enabled)
 * the compiler can vectorise it; elsewhere fmaf is libm's exact software
 * version: slow but still the same bits. */
#define GR 4
#define GC 8
void gemm_generic(const gemm_op *op, int m0, int m1)
{
    int N = op->N, K = op->K;
    int i = m0;
    for (; i + GR <= m1; i += GR) {
        int j = 0;
        for (; j + GC <= N; j += GC) {
            float s[GR][GC] = {{0}};
            for (int k = 0; k < K; k++) {
                const float *bk = op->b + (ptrdiff_t)k * op->ldb + j;
                for (int r = 0; r < GR; r++) {
                    float a = op->a[(i + r) * op->a_rs + k * op->a_ks];
                    for (int c = 0; c < GC; c++)
                        s[r][c] = fmaf(a, bk[c], s[r][c]);
                }
            }
            for (int r = 0; r < GR; r++)
                for (int c = 0; c < GC; c++)
                    op->c[(ptrdiff_t)(i + r) * op->ldc + j + c] = epilogue(op, i + r, j + c, s[r][c]);
        }
        if (j < N) {
            gemm_op tail = *op;
            tail.N = N - j;
            tail.b += j;
            tail.c += j;
            if (tail.mask)
                tail.mask += j;
            gemm_ref(&tail, i, i + GR);
        }
    }
    if (i < m1)
        gemm_ref(op, i, m1);
}

#if !(defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)))
void gemm_avx2(const gemm_op *op, int m0, int m1)
{
    gemm_generic(op, m0, m1);
}
void gemm_avx512(const gemm_op *op, int m0, int m1)
{
    gemm_generic(op, m0, m1);
}
void adam_update_avx2(const adam_coef *c, float *params, const float *grads, float *m, float *v,
                      size_t i0, size_t i1)
{
    adam_update_ref(c, params, grads, m, v, i0, i1);
}
void adam_update_avx512(const adam_coef *c, float *params, const float *grads, float *m,
                        float *v, size_t i0, size_t i1)
{
    adam_update_ref(c, params, grads, m, v, i0, i1);
}
void normalize_u8_avx2(float *out, const unsigned char *in, size_t n)
{
    normalize_u8_ref(out, in, n);
}
void warp_avx2(uint8_t *out, const uint8_t *padded, const double *u, const double *w, int n)
{
    warp_ref(out, padded, u, w, n);
}
void normalize_u8_avx512(float *out, const unsigned char *in, size_t n)
{
    normalize_u8_ref(out, in, n);
}
void transpose_avx2(float *dst, ptrdiff_t ldd, const float *src, ptrdiff_t lds, int rows,
                    int cols)
{
    transpose_ref(dst, ldd, src, lds, rows, cols);
}
void dropout_forward_avx2(float *xT, int B, int r0, int r1, int j0, int j1, uint32_t key,
                          uint32_t threshold, float scale)
{
    dropout_forward_ref(xT, B, r0, r1, j0, j1, key, threshold, scale);
}
void maxpool2_forward_avx2(float *outT, uint8_t *arg, const float *xT, int H, int W, int B,
                           int c0, int c1)
{
    maxpool2_forward(outT, arg, xT, H, W, B, c0, c1);
}
void maxpool2_backward_avx2(float *dxT, const float *doutT, const uint8_t *arg, int H, int W,
                            int B, int c0, int c1)
{
    maxpool2_backward(dxT, doutT, arg, H, W, B, c0, c1);
}
void maxpool2_forward_avx512(float *outT, uint8_t *arg, const float *xT, int H, int W, int B,
                             int c0, int c1)
{
    maxpool2_forward(outT, arg, xT, H, W, B, c0, c1);
}
void maxpool2_backward_avx512(float *dxT, const float *doutT, const uint8_t *arg, int H, int W,
                              int B, int c0, int c1)
{
    maxpool2_backward(dxT, doutT, arg, H, W, B, c0, c1);
}
static int have_avx2(void) { return 0; }
static int have_avx512(void) { return 0; }
#else
static int have_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
static int have_avx512(void)
{
    __builtin_cpu_init();
    return have_avx2() && __builtin_cpu_supports("avx512f");
}
#endif

static const kernel_impl impls[] = {
    {"avx512", gemm_avx512, adam_update_avx512, normalize_u8_avx512, transpose_avx2,
     dropout_forward_avx2, warp_avx2, maxpool2_forward_avx512, maxpool2_backward_avx512},
    {"avx2", gemm_avx2, adam_update_avx2, normalize_u8_avx2, transpose_avx2, dropout_forward_avx2,
     warp_avx2, maxpool2_forward_avx2, maxpool2_backward_avx2},
    {"generic", gemm_generic, adam_update_ref, normalize_u8_ref, transpose_ref, dropout_forward_ref,
     warp_ref, maxpool2_forward, maxpool2_backward},
    {"ref", gemm_ref, adam_update_ref, normalize_u8_ref, transpose_ref, dropout_forward_ref,
     warp_ref, maxpool2_forward, maxpool2_backward},
};

static int available(const kernel_impl *k)
{
    if (k->gemm == gemm_avx512)
        return have_avx512();
    if (k->gemm == gemm_avx2)
        return have_avx2();
    return 1;
}

const kernel_impl *kernel_find(const char *name)
{
    for (size_t i = 0; i < sizeof impls / sizeof impls[0]; i++)
        if (available(&impls[i]) && (!name || strcmp(name, impls[i].name) == 0))
            return &impls[i];
    return NULL;
}

int kernel_list(const kernel_impl **out, int cap)
{
    int n = 0;
    for (size_t i = 0; i < sizeof impls / sizeof impls[0]; i++)
        if (available(&impls[i]) && n < cap)
            out[n++] = &impls[i];
    return n;
}

void adam_update_ref(const adam_coef *c, float *params, const float *grads, float *m, float *v,
                     size_t i0, size_t i1)
{
    const float b1 = c->b1, b2 = c->b2, ob1 = c->one_minus_b1, ob2 = c->one_minus_b2;
    const float eps = c->eps, nss = c->neg_step_size, bc2s = c->bc2_sqrt, decay = c->decay;
    for (size_t i = i0; i < i1; i++) {
        float g = grads[i];
        float p = decay != 1.0f ? params[i] * decay : params[i]; /* AdamW: p.mul_(1-lr*wd) */
        float mi = fmaf(ob1, g, m[i] * b1);     /* m.mul_(b1).add_(g, alpha=1-b1) */
        float vi = v[i] * b2 + ob2 * g * g;     /* v.mul_(b2).addcmul_(g, g, value=1-b2) */
        float denom = sqrtf(vi) / bc2s + eps;   /* (v.sqrt() / bc2_sqrt).add_(eps) */
        m[i] = mi;
        v[i] = vi;
        params[i] = p + nss * mi / denom;       /* p.addcdiv_(m, denom, value=-step_size) */
        if (c->ema)
            c->ema[i] = c->ema[i] * c->ema_d + c->ema_od * params[i];
    }
}

void normalize_u8_ref(float *out, const unsigned char *in, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = ((float)in[i] / 255.0f - 0.5f) / 0.5f;
}

void warp_pad(const uint8_t *img, uint8_t *padded)
{
    memset(padded, 0, WARP_BYTES);
    for (int y = 0; y < WARP_SIDE; y++)
        memcpy(padded + (y + 1) * WARP_PAD + 1, img + y * WARP_SIDE, WARP_SIDE);
}

void warp_ref(uint8_t *out, const uint8_t *padded, const double *u, const double *w, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = (uint8_t)(warp_sample(padded, u[i], w[i]) + 0.5);
}

void transpose_ref(float *dst, ptrdiff_t ldd, const float *src, ptrdiff_t lds, int rows,
                   int cols)
{
    /* In 16 x 16 blocks, so both sides stay in cache lines. */
    for (int r0 = 0; r0 < rows; r0 += 16)
        for (int c0 = 0; c0 < cols; c0 += 16)
            for (int r = r0; r < r0 + 16 && r < rows; r++)
                for (int c = c0; c < c0 + 16 && c < cols; c++)
                    dst[c * ldd + r] = src[r * lds + c];
}

/* The forward GEMM on columns [j0, j1) of a batch of B:
 * xT (C, B), w (OC, C), b (OC), outT (OC, B). */
static gemm_op forward_op(float *outT, const float *xT, const float *w, const float *b, int B,
                          int j0, int j1, int C, int OC, int relu)
{
    return (gemm_op){.M = OC, .N = j1 - j0, .K = C, .a = w, .a_rs = C, .a_ks = 1, .b = xT + j0,
                     .ldb = B, .c = outT + j0, .ldc = B, .bias = b, .relu = relu};
}

void linear_forward(gemm_fn gemm, float *outT, const float *xT, const float *w, const float *b,
                    int B, int C, int OC, int relu, int r0, int r1)
{
    gemm_op op = forward_op(outT, xT, w, b, B, 0, B, C, OC, relu);
    gemm(&op, r0, r1);
}

void linear_forward_cols(gemm_fn gemm, float *outT, const float *xT, const float *w,
                         const float *b, int B, int j0, int j1, int C, int OC, int relu)
{
    gemm_op op = forward_op(outT, xT, w, b, B, j0, j1, C, OC, relu);
    if (j1 > j0)
        gemm(&op, 0, OC);
}

void linear_backward_weights(gemm_fn gemm, float *dw, float *db, const float *dyT,
                             const float *x, int B, int C, int OC, int r0, int r1)
{
    // dyT (OC, B), x (B, C), dw (OC, C), db (OC)
    gemm_op op = {.M = OC, .N = C, .K = B, .a = dyT, .a_rs = B, .a_ks = 1, .b = x, .ldb = C,
                  .c = dw, .ldc = C};
    gemm(&op, r0, r1);
    if (!db)
        return;
    /* Row sums, sequential in b; eight rows at a time so that their
     * dependency chains overlap. */
    int o = r0;
    for (; o + 8 <= r1; o += 8) {
        float s[8] = {0};
        for (int b = 0; b < B; b++)
            for (int r = 0; r < 8; r++)
                s[r] += dyT[(ptrdiff_t)(o + r) * B + b];
        memcpy(db + o, s, sizeof s);
    }
    for (; o < r1; o++) {
        float s = 0;
        for (int b = 0; b < B; b++)
            s += dyT[(ptrdiff_t)o * B + b];
        db[o] = s;
    }
}

/* The input gradient's GEMM on columns [j0, j1) of a batch of B: w (OC, C)
 * read as w^T (C, OC); dyT (OC, B); dxT, maskT (C, B). */
static gemm_op input_op(float *dxT, const float *dyT, const float *w, const float *maskT, int B,
                        int j0, int j1, int C, int OC)
{
    return (gemm_op){.M = C, .N = j1 - j0, .K = OC, .a = w, .a_rs = 1, .a_ks = C, .b = dyT + j0,
                     .ldb = B, .c = dxT + j0, .ldc = B, .mask = maskT ? maskT + j0 : NULL,
                     .ldm = B};
}

void linear_backward_input(gemm_fn gemm, float *dxT, const float *dyT, const float *w,
                           const float *maskT, int B, int C, int OC, int r0, int r1)
{
    gemm_op op = input_op(dxT, dyT, w, maskT, B, 0, B, C, OC);
    gemm(&op, r0, r1);
}

void linear_backward_input_cols(gemm_fn gemm, float *dxT, const float *dyT, const float *w,
                                const float *maskT, int B, int j0, int j1, int C, int OC)
{
    gemm_op op = input_op(dxT, dyT, w, maskT, B, j0, j1, C, OC);
    if (j1 > j0)
        gemm(&op, 0, C);
}

/* 2^(i/32) for i = 0..31, each the double nearest to it. */
static const double exp2_32th[32] = {
    0x1.0000000000000p+0, 0x1.059b0d3158574p+0, 0x1.0b5586cf9890fp+0, 0x1.11301d0125b51p+0,
    0x1.172b83c7d517bp+0, 0x1.1d4873168b9aap+0, 0x1.2387a6e756238p+0, 0x1.29e9df51fdee1p+0,
    0x1.306fe0a31b715p+0, 0x1.371a7373aa9cbp+0, 0x1.3dea64c123422p+0, 0x1.44e086061892dp+0,
    0x1.4bfdad5362a27p+0, 0x1.5342b569d4f82p+0, 0x1.5ab07dd485429p+0, 0x1.6247eb03a5585p+0,
    0x1.6a09e667f3bcdp+0, 0x1.71f75e8ec5f74p+0, 0x1.7a11473eb0187p+0, 0x1.82589994cce13p+0,
    0x1.8ace5422aa0dbp+0, 0x1.93737b0cdc5e5p+0, 0x1.9c49182a3f090p+0, 0x1.a5503b23e255dp+0,
    0x1.ae89f995ad3adp+0, 0x1.b7f76f2fb5e47p+0, 0x1.c199bdd85529cp+0, 0x1.cb720dcef9069p+0,
    0x1.d5818dcfba487p+0, 0x1.dfc97337b9b5fp+0, 0x1.ea4afa2a490dap+0, 0x1.f50765b6e4540p+0,
};

float kernel_expf(float x)
{
    uint32_t ux;
    memcpy(&ux, &x, sizeof ux);
    if ((ux & 0x7fffffffu) >= 0x42b00000u) { /* |x| >= 88, inf, NaN */
        if (ux == 0xff800000u)
            return 0.0f;
        if ((ux & 0x7fffffffu) >= 0x7f800000u)
            return x + x; /* +inf, NaN */
        if (x > 0x1.62e42ep6f) /* x > ln 2^128: overflow */
            return HUGE_VALF;
        if (x < -0x1.9fe368p6f) /* x < ln 2^-150: rounds to 0 */
            return 0.0f;
    }
    /* z = x 32/ln2 = k + r with k the nearest integer (ties to even: adding
     * and subtracting 1.5 2^52 rounds it off) and |r| <= 1/2. */
    const double shift = 0x1.8p52;
    double z = 0x1.71547652b82fep+0 * 32 * (double)x;
    double kd = z + shift;
    kd -= shift;
    double r = z - kd;
    /* 2^(k/32) = 2^(i/32) 2^((k - i)/32), i = k mod 32: the table entry with
     * (k - i)/32 added to its exponent field (k is in [-4800, 4096]). */
    int k = (int)kd;
    int i = (int)((unsigned)k & 31u);
    uint64_t sbits;
    memcpy(&sbits, &exp2_32th[i], sizeof sbits);
    sbits += (uint64_t)(int64_t)((k - i) / 32) << 52;
    double s;
    memcpy(&s, &sbits, sizeof s);
    /* 2^(r/32) ~ 1 + c2 r + c1 r^2 + c0 r^3: the cubic of glibc and musl
     * (Arm's optimized-routines, MIT licence), in their order of operations. */
    const double c0 = 0x1.c6af84b912394p-5 / 32768, c1 = 0x1.ebfce50fac4f3p-3 / 1024,
                 c2 = 0x1.62e42ff0c52d6p-1 / 32; /* scaled by powers of 2: exact */
    double p = c0 * r + c1;
    double r2 = r * r;
    double y = c2 * r + 1;
    y = p * r2 + y;
    return (float)(y * s);
}

void logsoftmax_forward(float *logpT, const float *logitsT, int B, int K)
{
    logsoftmax_forward_cols(logpT, logitsT, B, 0, B, K);
}

void logsoftmax_forward_cols(float *logpT, const float *logitsT, int B, int j0, int j1, int K)
{
    for (int b = j0; b < j1; b++) {
        /* Subtracting the max keeps every exp argument <= 0 (no overflow)
         * and makes the largest term exactly 1 (the log stays finite). */
        float mx = logitsT[b];
        for (int k = 1; k < K; k++) {
            float v = logitsT[(ptrdiff_t)k * B + b];
            mx = v > mx ? v : mx;
        }
        float sum = 0;
        for (int k = 0; k < K; k++)
            sum += kernel_expf(logitsT[(ptrdiff_t)k * B + b] - mx);
        float lse = logf(sum);
        for (int k = 0; k < K; k++)
            logpT[(ptrdiff_t)k * B + b] = (logitsT[(ptrdiff_t)k * B + b] - mx) - lse;
    }
}

void logsoftmax_nll_backward(float *dlogitsT, const float *logpT, const unsigned char *labels,
                             int B, int K, float s)
{
    logsoftmax_nll_backward_cols(dlogitsT, logpT, labels, B, 0, B, K, s);
}

void logsoftmax_nll_backward_cols(float *dlogitsT, const float *logpT,
                                  const unsigned char *labels, int B, int j0, int j1, int K,
                                  float s)
{
    /* As torch computes it: NLL's gradient g = -1/B at the label, then
     * log-softmax's backward d = g_k - exp(logp_k) * sum_k g_k. */
    float g = -1.0f / (float)B;
    if (s == 0.0f) {
        for (int k = 0; k < K; k++)
            for (int b = j0; b < j1; b++) {
                ptrdiff_t at = (ptrdiff_t)k * B + b;
                float onehot = labels[b] == k ? g : 0.0f;
                dlogitsT[at] = onehot - kernel_expf(logpT[at]) * g;
            }
        return;
    }
    /* Smoothed targets sum to 1 too: d = t_k g - exp(logp_k) g. */
    float on = (1.0f - s) + s / (float)K, off = s / (float)K;
    for (int k = 0; k < K; k++)
        for (int b = j0; b < j1; b++) {
            ptrdiff_t at = (ptrdiff_t)k * B + b;
            float t = labels[b] == k ? on : off;
            dlogitsT[at] = t * g - kernel_expf(logpT[at]) * g;
        }
}

void dropout_forward_ref(float *xT, int B, int r0, int r1, int j0, int j1, uint32_t key,
                         uint32_t threshold, float scale)
{
    for (int r = r0; r < r1; r++) {
        float *row = xT + (size_t)r * B;
        uint32_t e0 = (uint32_t)r * (uint32_t)B;
        for (int b = j0; b < j1; b++)
            row[b] = dropout_bits(key, e0 + (uint32_t)b) < threshold ? 0.0f : row[b] * scale;
    }
}

void scale_floats(float *x, size_t n, float scale)
{
    for (size_t i = 0; i < n; i++)
        x[i] *= scale;
}

unsigned fp_flush_denormals(void)
{
#if defined(__x86_64__) || defined(__i386__)
    unsigned old = _mm_getcsr();
    _mm_setcsr(old | 0x8040); /* FTZ (bit 15) | DAZ (bit 6) */
    return old;
#elif defined(__aarch64__)
    unsigned long fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    __asm__ volatile("msr fpcr, %0" ::"r"(fpcr | (1ul << 24)));
    return (unsigned)fpcr;
#else
    return 0;
#endif
}

void fp_restore(unsigned state)
{
#if defined(__x86_64__) || defined(__i386__)
    _mm_setcsr(state);
#elif defined(__aarch64__)
    unsigned long fpcr = state;
    __asm__ volatile("msr fpcr, %0" ::"r"(fpcr));
#else
    (void)state;
#endif
}
