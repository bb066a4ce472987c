/* crc32.c: zlib's CRC-32, folded with carry-less multiplies where the CPU
 * has them (see crc32.h). */
#include "crc32.h"

#include <zlib.h>

/* zlib's, in pieces its uInt length can hold. */
static uint32_t crc32_zlib(uint32_t c, const uint8_t *p, size_t n)
{
    while (n) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = (uint32_t)crc32(c, p, k);
        p += k;
        n -= k;
    }
    return c;
}

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define TARGET __attribute__((target("pclmul,sse4.1")))

/* The constants of the bit-reflected CRC-32 polynomial 0xedb88320, from the
 * paper: the fold by 64 bytes, the fold by 16, the fold from 64 bits to 32,
 * and Barrett's P and mu. */
static const uint64_t k1k2[2] __attribute__((aligned(16))) = {0x0154442bd4, 0x01c6e41596};
static const uint64_t k3k4[2] __attribute__((aligned(16))) = {0x01751997d0, 0x00ccaa009e};
static const uint64_t k5k0[2] __attribute__((aligned(16))) = {0x0163cd6124, 0x0000000000};
static const uint64_t poly[2] __attribute__((aligned(16))) = {0x01db710641, 0x01f7011641};

/* a * k, the two 64-bit halves each by their constant, folded onto b. */
TARGET static __m128i fold(__m128i a, __m128i k, __m128i b)
{
    __m128i lo = _mm_clmulepi64_si128(a, k, 0x00), hi = _mm_clmulepi64_si128(a, k, 0x11);
    return _mm_xor_si128(_mm_xor_si128(hi, lo), b);
}

/* The CRC register (not inverted) after n bytes, n >= 64 and a multiple of
 * 16. */
TARGET static uint32_t crc32_fold(uint32_t crc, const uint8_t *p, size_t n)
{
    __m128i x1 = _mm_loadu_si128((const __m128i *)p);
    __m128i x2 = _mm_loadu_si128((const __m128i *)(p + 16));
    __m128i x3 = _mm_loadu_si128((const __m128i *)(p + 32));
    __m128i x4 = _mm_loadu_si128((const __m128i *)(p + 48));
    x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128((int)crc));
    __m128i k = _mm_load_si128((const __m128i *)k1k2);
    for (p += 64, n -= 64; n >= 64; p += 64, n -= 64) {
        x1 = fold(x1, k, _mm_loadu_si128((const __m128i *)p));
        x2 = fold(x2, k, _mm_loadu_si128((const __m128i *)(p + 16)));
        x3 = fold(x3, k, _mm_loadu_si128((const __m128i *)(p + 32)));
        x4 = fold(x4, k, _mm_loadu_si128((const __m128i *)(p + 48)));
    }
    k = _mm_load_si128((const __m128i *)k3k4);
    x1 = fold(fold(fold(x1, k, x2), k, x3), k, x4);
    for (; n >= 16; p += 16, n -= 16)
        x1 = fold(x1, k, _mm_loadu_si128((const __m128i *)p));
    /* 128 bits to 64, then Barrett's reduction to 32. */
    __m128i mask = _mm_setr_epi32(~0, 0, ~0, 0);
    x2 = _mm_clmulepi64_si128(x1, k, 0x10);
    x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), x2);
    k = _mm_loadl_epi64((const __m128i *)k5k0);
    x2 = _mm_srli_si128(x1, 4);
    x1 = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x1, mask), k, 0x00), x2);
    k = _mm_load_si128((const __m128i *)poly);
    x2 = _mm_clmulepi64_si128(_mm_and_si128(x1, mask), k, 0x10);
    x2 = _mm_clmulepi64_si128(_mm_and_si128(x2, mask), k, 0x00);
    return (uint32_t)_mm_extract_epi32(_mm_xor_si128(x1, x2), 1);
}

static int have_pclmul(void)
{
    __builtin_cpu_init(); /* once; later calls only look */
    return __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
}

uint32_t fm_crc32(uint32_t crc, const uint8_t *p, size_t n)
{
    if (n >= 64 && have_pclmul()) {
        size_t body = n & ~(size_t)15;
        crc = ~crc32_fold(~crc, p, body);
        p += body;
        n -= body;
    }
    return crc32_zlib(crc, p, n);
}
#else
uint32_t fm_crc32(uint32_t crc, const uint8_t *p, size_t n)
{
    return crc32_zlib(crc, p, n);
}
#endif
