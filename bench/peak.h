/* peak.h: this core's sustained FMA throughput, measured with independent
 * fused multiply-add chains (enough to hide the FMA latency). */
#ifndef FMNIST_BENCH_PEAK_H
#define FMNIST_BENCH_PEAK_H
double peak_gflops_avx2(double seconds);
double peak_gflops_avx512(double seconds);
#endif
