/* kernels_x86.c: the AVX2+FMA and AVX-512 GEMMs, compiled for those
 * instruction sets function by function (the rest of the program stays
 * baseline x86-64) and chosen at run time by kernel_find. */
#include "kernels.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#include <string.h>

#if GEMM_ROW_TILE != 6
#error "gemm_x86.inc dispatches on 6-row tiles"
#endif

/* ---- AVX2 + FMA: 8 floats per vector, tiles of 6 x 16 ---- */
#define TARGET __attribute__((target("avx2,fma")))
#define VEC __m256
#define W 8
#define NVMAX 2
#define MASK __m256i
#define TILE tile_avx2
#define ROWS rows_avx2
#define ROW_BLOCKS row_blocks_avx2
#define PANEL 64
#define PANEL_MIN_K 128
#define FN gemm_avx2

static inline TARGET __m256i mask_for(int n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline TARGET __m256 vzero(void) { return _mm256_setzero_ps(); }
static inline TARGET __m256 vload(const float *p) { return _mm256_loadu_ps(p); }
static inline TARGET __m256 vload_m(const float *p, __m256i m) { return _mm256_maskload_ps(p, m); }
static inline TARGET void vstore(float *p, __m256 v) { _mm256_storeu_ps(p, v); }
static inline TARGET void vstore_m(float *p, __m256i m, __m256 v) { _mm256_maskstore_ps(p, m, v); }
static inline TARGET __m256 vbcast(const float *p) { return _mm256_broadcast_ss(p); }
static inline TARGET __m256 vfma(__m256 a, __m256 b, __m256 c) { return _mm256_fmadd_ps(a, b, c); }
static inline TARGET __m256 vadd(__m256 a, __m256 b) { return _mm256_add_ps(a, b); }
/* maxps returns its second operand when either is NaN: max(0, NaN) = NaN. */
static inline TARGET __m256 vmax0(__m256 v) { return _mm256_max_ps(_mm256_setzero_ps(), v); }
static inline TARGET __m256 vkeep_gt0(__m256 v, __m256 mk)
{
    return _mm256_andnot_ps(_mm256_cmp_ps(mk, _mm256_setzero_ps(), _CMP_LE_OQ), v);
}

#include "gemm_x86.inc"

static inline TARGET __m256 vset1(float x) { return _mm256_set1_ps(x); }
static inline TARGET __m256 vmul(__m256 a, __m256 b) { return _mm256_mul_ps(a, b); }
static inline TARGET __m256 vdiv(__m256 a, __m256 b) { return _mm256_div_ps(a, b); }
static inline TARGET __m256 vsqrt(__m256 a) { return _mm256_sqrt_ps(a); }

#define ADAM_FN adam_update_avx2
#define ADAM_TAIL adam_update_ref
#include "adam_x86.inc"
#undef ADAM_FN
#undef ADAM_TAIL

/* The same hash as dropout_bits, 8 lanes at a time. */
TARGET void dropout_forward_avx2(float *xT, int B, int r0, int r1, int j0, int j1,
                                 uint32_t key, uint32_t threshold, float scale)
{
    const __m256i golden = _mm256_set1_epi32((int)0x9e3779b9u);
    const __m256i m1 = _mm256_set1_epi32(0x7feb352d), m2 = _mm256_set1_epi32((int)0x846ca68bu);
    const __m256i thr = _mm256_set1_epi32((int)threshold), lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 sc = _mm256_set1_ps(scale);
    for (int r = r0; r < r1; r++) {
        float *row = xT + (size_t)r * B;
        uint32_t e0 = (uint32_t)r * (uint32_t)B;
        int b = j0;
        for (; b + 8 <= j1; b += 8) {
            __m256i e = _mm256_add_epi32(_mm256_set1_epi32((int)(e0 + (uint32_t)b)), lanes);
            __m256i x = _mm256_add_epi32(_mm256_set1_epi32((int)key), _mm256_mullo_epi32(e, golden));
            x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));
            x = _mm256_mullo_epi32(x, m1);
            x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 15));
            x = _mm256_mullo_epi32(x, m2);
            x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));
            x = _mm256_srli_epi32(x, 16);
            /* keep where bits >= threshold (both below 2^31: signed compare is fine) */
            __m256i drop = _mm256_cmpgt_epi32(thr, x);
            __m256 kept = _mm256_mul_ps(_mm256_loadu_ps(row + b), sc);
            _mm256_storeu_ps(row + b, _mm256_andnot_ps(_mm256_castsi256_ps(drop), kept));
        }
        for (; b < j1; b++)
            row[b] = dropout_bits(key, e0 + (uint32_t)b) < threshold ? 0.0f : row[b] * scale;
    }
}

/* Division is slow (two per element made normalising a batch cost as much
 * as a sixth of the first layer's GEMM), so the kernels compute the same
 * bits without it, proven for every byte by test_kernels:
 *   x / 255: q = x * (1/255) rounded, then one Newton correction with the
 *            exact remainder, q + fma(-q, 255, x) * (1/255) (fused), which
 *            is the correctly rounded quotient for x = 0..255;
 *   / 0.5:   exactly * 2 (a power of two; no overflow or underflow here). */
TARGET void normalize_u8_avx2(float *out, const unsigned char *in, size_t n)
{
    const __m256 k255 = _mm256_set1_ps(255.0f), r255 = _mm256_set1_ps(1.0f / 255.0f);
    const __m256 half = _mm256_set1_ps(0.5f), two = _mm256_set1_ps(2.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i b = _mm_loadl_epi64((const __m128i *)(in + i));
        __m256 x = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b));
        __m256 q = _mm256_mul_ps(x, r255);
        q = _mm256_fmadd_ps(_mm256_fnmadd_ps(q, k255, x), r255, q);
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_sub_ps(q, half), two));
    }
    if (i < n)
        normalize_u8_ref(out + i, in + i, n - i);
}

/* warp_ref four samples at a time: the same double operations in the
 * same order, lane by lane (floor is exact, and so is u - floor(u)); the
 * four pixels of each sample gathered as two 32-bit words, one per row;
 * a sample outside the image reads pixel (-1, -1) and is then zeroed. */
TARGET void warp_avx2(uint8_t *out, const uint8_t *padded, const double *u, const double *w, int n)
{
    const __m256d lo = _mm256_set1_pd(-1), hi = _mm256_set1_pd(WARP_SIDE);
    const __m256d one = _mm256_set1_pd(1), half = _mm256_set1_pd(0.5);
    const __m128i pad = _mm_set1_epi32(WARP_PAD), byte = _mm_set1_epi32(0xff);
    const int *base = (const int *)(const void *)padded;
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256d x = _mm256_loadu_pd(u + i), y = _mm256_loadu_pd(w + i);
        __m256d in = _mm256_and_pd(
            _mm256_and_pd(_mm256_cmp_pd(x, lo, _CMP_GT_OQ), _mm256_cmp_pd(x, hi, _CMP_LT_OQ)),
            _mm256_and_pd(_mm256_cmp_pd(y, lo, _CMP_GT_OQ), _mm256_cmp_pd(y, hi, _CMP_LT_OQ)));
        __m256d fx = _mm256_blendv_pd(lo, _mm256_floor_pd(x), in);
        __m256d fy = _mm256_blendv_pd(lo, _mm256_floor_pd(y), in);
        __m128i xi = _mm_add_epi32(_mm256_cvttpd_epi32(fx), _mm_set1_epi32(1));
        __m128i yi = _mm_add_epi32(_mm256_cvttpd_epi32(fy), _mm_set1_epi32(1));
        __m128i at = _mm_add_epi32(_mm_mullo_epi32(yi, pad), xi);
        __m128i top = _mm_i32gather_epi32(base, at, 1);
        __m128i bot = _mm_i32gather_epi32(base, _mm_add_epi32(at, pad), 1);
        __m256d p00 = _mm256_cvtepi32_pd(_mm_and_si128(top, byte));
        __m256d p10 = _mm256_cvtepi32_pd(_mm_and_si128(_mm_srli_epi32(top, 8), byte));
        __m256d p01 = _mm256_cvtepi32_pd(_mm_and_si128(bot, byte));
        __m256d p11 = _mm256_cvtepi32_pd(_mm_and_si128(_mm_srli_epi32(bot, 8), byte));
        __m256d ax = _mm256_sub_pd(x, fx), ay = _mm256_sub_pd(y, fy);
        __m256d bx = _mm256_sub_pd(one, ax), by = _mm256_sub_pd(one, ay);
        __m256d r0 = _mm256_add_pd(_mm256_mul_pd(bx, p00), _mm256_mul_pd(ax, p10));
        __m256d r1 = _mm256_add_pd(_mm256_mul_pd(bx, p01), _mm256_mul_pd(ax, p11));
        __m256d r = _mm256_add_pd(_mm256_mul_pd(by, r0), _mm256_mul_pd(ay, r1));
        r = _mm256_and_pd(_mm256_add_pd(r, half), in);
        __m128i q = _mm256_cvttpd_epi32(r);
        q = _mm_packus_epi16(_mm_packus_epi32(q, q), q);
        int v = _mm_cvtsi128_si32(q);
        memcpy(out + i, &v, 4);
    }
    if (i < n)
        warp_ref(out + i, padded, u + i, w + i, n - i);
}

/* 8 x 8 blocks transposed in registers; the ragged edges plainly. */
TARGET void transpose_avx2(float *dst, ptrdiff_t ldd, const float *src, ptrdiff_t lds, int rows,
                           int cols)
{
    int r8 = rows & ~7, c8 = cols & ~7;
    for (int r = 0; r < r8; r += 8)
        for (int c = 0; c < c8; c += 8) {
            const float *s = src + r * lds + c;
            __m256 a0 = _mm256_loadu_ps(s), a1 = _mm256_loadu_ps(s + lds);
            __m256 a2 = _mm256_loadu_ps(s + 2 * lds), a3 = _mm256_loadu_ps(s + 3 * lds);
            __m256 a4 = _mm256_loadu_ps(s + 4 * lds), a5 = _mm256_loadu_ps(s + 5 * lds);
            __m256 a6 = _mm256_loadu_ps(s + 6 * lds), a7 = _mm256_loadu_ps(s + 7 * lds);
            __m256 t0 = _mm256_unpacklo_ps(a0, a1), t1 = _mm256_unpackhi_ps(a0, a1);
            __m256 t2 = _mm256_unpacklo_ps(a2, a3), t3 = _mm256_unpackhi_ps(a2, a3);
            __m256 t4 = _mm256_unpacklo_ps(a4, a5), t5 = _mm256_unpackhi_ps(a4, a5);
            __m256 t6 = _mm256_unpacklo_ps(a6, a7), t7 = _mm256_unpackhi_ps(a6, a7);
            __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee);
            __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee);
            __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee);
            __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee);
            float *d = dst + c * ldd + r;
            _mm256_storeu_ps(d, _mm256_permute2f128_ps(u0, u4, 0x20));
            _mm256_storeu_ps(d + ldd, _mm256_permute2f128_ps(u1, u5, 0x20));
            _mm256_storeu_ps(d + 2 * ldd, _mm256_permute2f128_ps(u2, u6, 0x20));
            _mm256_storeu_ps(d + 3 * ldd, _mm256_permute2f128_ps(u3, u7, 0x20));
            _mm256_storeu_ps(d + 4 * ldd, _mm256_permute2f128_ps(u0, u4, 0x31));
            _mm256_storeu_ps(d + 5 * ldd, _mm256_permute2f128_ps(u1, u5, 0x31));
            _mm256_storeu_ps(d + 6 * ldd, _mm256_permute2f128_ps(u2, u6, 0x31));
            _mm256_storeu_ps(d + 7 * ldd, _mm256_permute2f128_ps(u3, u7, 0x31));
        }
    if (c8 < cols)
        transpose_ref(dst + c8 * ldd, ldd, src + c8, lds, r8, cols - c8);
    if (r8 < rows)
        transpose_ref(dst + r8, ldd, src + r8 * lds, lds, rows - r8, cols);
}

/* 2x2 max pooling, 8 samples at a time (the rest one by one, as the
 * reference): the same comparisons in the same order, a later candidate
 * taken when greater or NaN. */
/* One output of 2x2 max pooling for 8 samples: the candidates q0..q3 in
 * the reference's order, the largest (or the last NaN) and its index. */
static inline TARGET void pool8_forward(const float *q0, const float *q1, const float *q2,
                                        const float *q3, float *out, uint8_t *arg)
{
    /* the low byte of each 32-bit lane, lanes 0-3 into bytes 0-3 of each half */
    const __m256i low = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                         -1, -1, 0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1,
                                         -1, -1, -1, -1);
    const float *q[4] = {q0, q1, q2, q3};
    __m256 m = _mm256_loadu_ps(q[0]);
    __m256i a = _mm256_setzero_si256();
    for (int i = 1; i < 4; i++) {
        __m256 v = _mm256_loadu_ps(q[i]);
        __m256 take =
            _mm256_or_ps(_mm256_cmp_ps(v, m, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
        m = _mm256_blendv_ps(m, v, take);
        a = _mm256_blendv_epi8(a, _mm256_set1_epi32(i), _mm256_castps_si256(take));
    }
    _mm256_storeu_ps(out, m);
    __m256i bytes = _mm256_shuffle_epi8(a, low);
    __m128i both =
        _mm_unpacklo_epi32(_mm256_castsi256_si128(bytes), _mm256_extracti128_si256(bytes, 1));
    _mm_storel_epi64((__m128i *)(void *)arg, both);
}

/* Its gradient for 8 samples: g to the candidate arg names, 0 to the others. */
static inline TARGET void pool8_backward(float *q0, float *q1, float *q2, float *q3,
                                         const float *g, const uint8_t *arg)
{
    float *q[4] = {q0, q1, q2, q3};
    __m256 v = _mm256_loadu_ps(g);
    __m256i a = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)arg));
    for (int i = 0; i < 4; i++) {
        __m256i is = _mm256_cmpeq_epi32(a, _mm256_set1_epi32(i));
        _mm256_storeu_ps(q[i], _mm256_and_ps(v, _mm256_castsi256_ps(is)));
    }
}

TARGET void maxpool2_forward_avx2(float *outT, uint8_t *arg, const float *xT, int H, int Wd,
                                  int B, int c0, int c1)
{
    int h = H / 2, w = Wd / 2, B8 = B & ~7;
    for (int c = c0; c < c1; c++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                const float *in = xT + (((size_t)c * H + 2 * y) * Wd + 2 * x) * B;
                const float *q[4] = {in, in + B, in + (size_t)Wd * B, in + (size_t)Wd * B + B};
                size_t o = (((size_t)c * h + y) * w + x) * B;
                for (int b = 0; b < B8; b += 8)
                    pool8_forward(q[0] + b, q[1] + b, q[2] + b, q[3] + b, outT + o + b,
                                  arg + o + b);
                for (int b = B8; b < B; b++) {
                    float m = q[0][b];
                    uint8_t a = 0;
                    for (uint8_t i = 1; i < 4; i++)
                        if (q[i][b] > m || q[i][b] != q[i][b])
                            m = q[i][b], a = i;
                    outT[o + b] = m;
                    arg[o + b] = a;
                }
            }
}

TARGET void maxpool2_backward_avx2(float *dxT, const float *doutT, const uint8_t *arg, int H,
                                   int Wd, int B, int c0, int c1)
{
    int h = H / 2, w = Wd / 2, B8 = B & ~7;
    for (int c = c0; c < c1; c++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                float *in = dxT + (((size_t)c * H + 2 * y) * Wd + 2 * x) * B;
                float *q[4] = {in, in + B, in + (size_t)Wd * B, in + (size_t)Wd * B + B};
                size_t o = (((size_t)c * h + y) * w + x) * B;
                for (int b = 0; b < B8; b += 8)
                    pool8_backward(q[0] + b, q[1] + b, q[2] + b, q[3] + b, doutT + o + b,
                                   arg + o + b);
                for (int b = B8; b < B; b++)
                    for (int i = 0; i < 4; i++)
                        q[i][b] = arg[o + b] == i ? doutT[o + b] : 0.0f;
            }
}

#undef TARGET
#undef VEC
#undef W
#undef NVMAX
#undef MASK
#undef TILE
#undef ROWS
#undef ROW_BLOCKS
#undef PANEL
#undef PANEL_MIN_K
#undef FN
#define mask_for mask_for512
#define vzero vzero512
#define vload vload512
#define vload_m vload_m512
#define vstore vstore512
#define vstore_m vstore_m512
#define vbcast vbcast512
#define vfma vfma512
#define vadd vadd512
#define vmax0 vmax0512
#define vkeep_gt0 vkeep_gt0512
#define vset1 vset1512
#define vmul vmul512
#define vdiv vdiv512
#define vsqrt vsqrt512

/* ---- AVX-512F: 16 floats per vector, tiles of 6 x 64 ---- */
#define TARGET __attribute__((target("avx512f,avx2,fma")))
#define VEC __m512
#define W 16
#define NVMAX 4
#define MASK __mmask16
#define TILE tile_avx512
#define ROWS rows_avx512
#define ROW_BLOCKS row_blocks_avx512
#define PANEL 0
#define PANEL_MIN_K 0
#define FN gemm_avx512

static inline TARGET __mmask16 mask_for(int n) { return (__mmask16)((1u << n) - 1u); }
static inline TARGET __m512 vzero(void) { return _mm512_setzero_ps(); }
static inline TARGET __m512 vload(const float *p) { return _mm512_loadu_ps(p); }
static inline TARGET __m512 vload_m(const float *p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
static inline TARGET void vstore(float *p, __m512 v) { _mm512_storeu_ps(p, v); }
static inline TARGET void vstore_m(float *p, __mmask16 m, __m512 v) { _mm512_mask_storeu_ps(p, m, v); }
static inline TARGET __m512 vbcast(const float *p) { return _mm512_set1_ps(*p); }
static inline TARGET __m512 vfma(__m512 a, __m512 b, __m512 c) { return _mm512_fmadd_ps(a, b, c); }
static inline TARGET __m512 vadd(__m512 a, __m512 b) { return _mm512_add_ps(a, b); }
static inline TARGET __m512 vmax0(__m512 v) { return _mm512_max_ps(_mm512_setzero_ps(), v); }
static inline TARGET __m512 vkeep_gt0(__m512 v, __m512 mk)
{
    __mmask16 le = _mm512_cmp_ps_mask(mk, _mm512_setzero_ps(), _CMP_LE_OQ);
    return _mm512_maskz_mov_ps((__mmask16)~le, v);
}

#include "gemm_x86.inc"

static inline TARGET __m512 vset1(float x) { return _mm512_set1_ps(x); }
static inline TARGET __m512 vmul(__m512 a, __m512 b) { return _mm512_mul_ps(a, b); }
static inline TARGET __m512 vdiv(__m512 a, __m512 b) { return _mm512_div_ps(a, b); }
static inline TARGET __m512 vsqrt(__m512 a) { return _mm512_sqrt_ps(a); }

#define ADAM_FN adam_update_avx512
#define ADAM_TAIL adam_update_avx2
#include "adam_x86.inc"

TARGET void normalize_u8_avx512(float *out, const unsigned char *in, size_t n)
{
    /* As normalize_u8_avx2, 16 at a time. */
    const __m512 k255 = _mm512_set1_ps(255.0f), r255 = _mm512_set1_ps(1.0f / 255.0f);
    const __m512 half = _mm512_set1_ps(0.5f), two = _mm512_set1_ps(2.0f);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i b = _mm_loadu_si128((const __m128i *)(in + i));
        __m512 x = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(b));
        __m512 q = _mm512_mul_ps(x, r255);
        q = _mm512_fmadd_ps(_mm512_fnmadd_ps(q, k255, x), r255, q);
        _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_sub_ps(q, half), two));
    }
    if (i < n)
        normalize_u8_avx2(out + i, in + i, n - i);
}

/* 2x2 max pooling with B = 8 (a convolution's block, MLP_CONV_BLOCK): two
 * outputs side by side at once, their 16 lanes the samples of x and x + 1.
 * A 16-float load from the input is one output's candidates (0) and (1),
 * so four loads and four shuffles give each candidate for both outputs.
 * Then the reference's order: candidate 0, taken over by 1, 2, 3 in turn
 * when greater or NaN. Other batch sizes, and an odd last output, take the
 * AVX2 kernel's way. */
TARGET void maxpool2_forward_avx512(float *outT, uint8_t *arg, const float *xT, int H, int Wd,
                                    int B, int c0, int c1)
{
    int h = H / 2, w = Wd / 2, pairs = w & ~1;
    if (B != 8 || pairs == 0) {
        maxpool2_forward_avx2(outT, arg, xT, H, Wd, B, c0, c1);
        return;
    }
    for (int c = c0; c < c1; c++)
        for (int y = 0; y < h; y++) {
            const float *top = xT + ((size_t)c * H + 2 * (size_t)y) * Wd * 8, *bot = top + Wd * 8;
            size_t o = ((size_t)c * h + y) * w * 8;
            for (int x = 0; x < pairs; x += 2) {
                __m512 t0 = _mm512_loadu_ps(top + 16 * x), t1 = _mm512_loadu_ps(top + 16 * x + 16);
                __m512 b0 = _mm512_loadu_ps(bot + 16 * x), b1 = _mm512_loadu_ps(bot + 16 * x + 16);
                __m512 q[4] = {_mm512_shuffle_f32x4(t0, t1, _MM_SHUFFLE(1, 0, 1, 0)),
                               _mm512_shuffle_f32x4(t0, t1, _MM_SHUFFLE(3, 2, 3, 2)),
                               _mm512_shuffle_f32x4(b0, b1, _MM_SHUFFLE(1, 0, 1, 0)),
                               _mm512_shuffle_f32x4(b0, b1, _MM_SHUFFLE(3, 2, 3, 2))};
                __m512 m = q[0];
                __m512i a = _mm512_setzero_si512();
                for (int i = 1; i < 4; i++) {
                    __mmask16 take = (__mmask16)(_mm512_cmp_ps_mask(q[i], m, _CMP_GT_OQ) |
                                                 _mm512_cmp_ps_mask(q[i], q[i], _CMP_UNORD_Q));
                    m = _mm512_mask_mov_ps(m, take, q[i]);
                    a = _mm512_mask_mov_epi32(a, take, _mm512_set1_epi32(i));
                }
                _mm512_storeu_ps(outT + o + 8 * (size_t)x, m);
                _mm_storeu_si128((__m128i *)(void *)(arg + o + 8 * (size_t)x),
                                 _mm512_cvtepi32_epi8(a));
            }
            if (pairs < w) /* an odd last output */
                pool8_forward(top + 16 * pairs, top + 16 * pairs + 8, bot + 16 * pairs,
                              bot + 16 * pairs + 8, outT + o + 8 * (size_t)pairs,
                              arg + o + 8 * (size_t)pairs);
        }
}
/* Its gradient with B = 8, two outputs at once likewise: each candidate's
 * share for both, shuffled back into the input's two 16-float runs a row. */
TARGET void maxpool2_backward_avx512(float *dxT, const float *doutT, const uint8_t *arg, int H,
                                     int Wd, int B, int c0, int c1)
{
    int h = H / 2, w = Wd / 2, pairs = w & ~1;
    if (B != 8 || pairs == 0) {
        maxpool2_backward_avx2(dxT, doutT, arg, H, Wd, B, c0, c1);
        return;
    }
    for (int c = c0; c < c1; c++)
        for (int y = 0; y < h; y++) {
            float *top = dxT + ((size_t)c * H + 2 * (size_t)y) * Wd * 8, *bot = top + Wd * 8;
            size_t o = ((size_t)c * h + y) * w * 8;
            for (int x = 0; x < pairs; x += 2) {
                __m512 g = _mm512_loadu_ps(doutT + o + 8 * (size_t)x);
                __m512i a = _mm512_cvtepu8_epi32(
                    _mm_loadu_si128((const __m128i *)(const void *)(arg + o + 8 * (size_t)x)));
                __m512 q[4];
                for (int i = 0; i < 4; i++)
                    q[i] = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(a, _mm512_set1_epi32(i)), g);
                /* [q0 | q1] and [q2 | q3] of output x, then of x + 1 */
                enum { lo = _MM_SHUFFLE(1, 0, 1, 0), hi = _MM_SHUFFLE(3, 2, 3, 2) };
                _mm512_storeu_ps(top + 16 * x, _mm512_shuffle_f32x4(q[0], q[1], lo));
                _mm512_storeu_ps(top + 16 * x + 16, _mm512_shuffle_f32x4(q[0], q[1], hi));
                _mm512_storeu_ps(bot + 16 * x, _mm512_shuffle_f32x4(q[2], q[3], lo));
                _mm512_storeu_ps(bot + 16 * x + 16, _mm512_shuffle_f32x4(q[2], q[3], hi));
            }
            if (pairs < w) /* an odd last output */
                pool8_backward(top + 16 * pairs, top + 16 * pairs + 8, bot + 16 * pairs,
                               bot + 16 * pairs + 8, doutT + o + 8 * (size_t)pairs,
                               arg + o + 8 * (size_t)pairs);
        }
}
#else
/* Not x86-64: kernels.c provides stand-ins that are never selected. */
typedef int kernels_x86_unused;
#endif
