/* peak.c: the FMA peak of one core, for the "% of peak" figures. */
#define _POSIX_C_SOURCE 200809L
#include "peak.h"
#include "clock.h"

#include <time.h>

#include "kernels.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

/* 12 independent chains: latency 4 x 2 ports = 8 needed, some slack. */
#define CHAINS 12
#define ITERS 100000

__attribute__((target("avx2,fma"))) static double run_avx2(double seconds)
{
    __m256 acc[CHAINS];
    for (int i = 0; i < CHAINS; i++)
        acc[i] = _mm256_set1_ps((float)i);
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    double best = 0, t_end = clock_seconds() + seconds;
    while (clock_seconds() < t_end) {
        double t0 = clock_seconds();
        for (int it = 0; it < ITERS; it++)
            _Pragma("GCC unroll 16") for (int i = 0; i < CHAINS; i++)
                acc[i] = _mm256_fmadd_ps(acc[i], a, b);
        double t = clock_seconds() - t0, gf = (double)ITERS * CHAINS * 16 / t * 1e-9;
        best = gf > best ? gf : best;
    }
    float sink = 0;
    for (int i = 0; i < CHAINS; i++)
        sink += _mm256_cvtss_f32(acc[i]);
    return sink == 12345.0f ? 0 : best;
}

__attribute__((target("avx512f"))) static double run_avx512(double seconds)
{
    __m512 acc[CHAINS];
    for (int i = 0; i < CHAINS; i++)
        acc[i] = _mm512_set1_ps((float)i);
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    double best = 0, t_end = clock_seconds() + seconds;
    while (clock_seconds() < t_end) {
        double t0 = clock_seconds();
        for (int it = 0; it < ITERS; it++)
            _Pragma("GCC unroll 16") for (int i = 0; i < CHAINS; i++)
                acc[i] = _mm512_fmadd_ps(acc[i], a, b);
        double t = clock_seconds() - t0, gf = (double)ITERS * CHAINS * 32 / t * 1e-9;
        best = gf > best ? gf : best;
    }
    float sink = 0;
    for (int i = 0; i < CHAINS; i++)
        sink += _mm512_reduce_add_ps(acc[i]);
    return sink == 12345.0f ? 0 : best;
}

#include <pthread.h>

typedef struct peak_job {
    int avx512;
    double seconds, result;
} peak_job;

static void *peak_thread(void *arg)
{
    peak_job *j = arg;
    j->result = j->avx512 ? run_avx512(j->seconds) : run_avx2(j->seconds);
    return NULL;
}

double peak_gflops_threads(int n, int avx512, double seconds)
{
    if (!kernel_find(avx512 ? "avx512" : "avx2") || n < 1 || n > 64)
        return 0;
    pthread_t th[64];
    peak_job jobs[64];
    for (int i = 0; i < n; i++) {
        jobs[i] = (peak_job){avx512, seconds, 0};
        pthread_create(&th[i], NULL, peak_thread, &jobs[i]);
    }
    double sum = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        sum += jobs[i].result;
    }
    return sum;
}

double peak_gflops_avx2(double seconds)
{
    return kernel_find("avx2") ? run_avx2(seconds) : 0;
}

double peak_gflops_avx512(double seconds)
{
    return kernel_find("avx512") ? run_avx512(seconds) : 0;
}
#else
double peak_gflops_avx2(double seconds) { (void)seconds; return 0; }
double peak_gflops_avx512(double seconds) { (void)seconds; return 0; }
double peak_gflops_threads(int n, int avx512, double seconds)
{
    (void)n, (void)avx512, (void)seconds;
    return 0;
}
#endif
