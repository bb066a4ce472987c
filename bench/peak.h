/* peak.h: this core's sustained FMA throughput, measured with independent
 * fused multiply-add chains (enough to hide the FMA latency). */
#ifndef FMNIST_BENCH_PEAK_H
#define FMNIST_BENCH_PEAK_H
double peak_gflops_avx2(double seconds);
double peak_gflops_avx512(double seconds);
/* The same on n threads at once (the machine's peak), summed. */
double peak_gflops_threads(int n, int avx512, double seconds);
#endif
