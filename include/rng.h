/* rng.h: the one source of randomness, passed by pointer, never global.
 *
 * xoshiro256** (Blackman & Vigna, https://prng.di.unimi.it/), seeded from a
 * 64-bit seed through splitmix64. The same seed gives the same stream on
 * every machine and compiler: only integer arithmetic is involved up to the
 * final scaling of rng_uniform. */
#ifndef FMNIST_RNG_H
#define FMNIST_RNG_H

#include <stdint.h>

typedef struct rng {
    uint64_t s[4];
} rng;

void rng_seed(rng *r, uint64_t seed);
uint64_t rng_next(rng *r);
/* Uniform in [0, 1) with 24 random bits: exactly representable as a float. */
float rng_uniform(rng *r);
/* Uniform integer in [0, n), unbiased (Lemire's multiply-and-reject); n >= 1. */
uint32_t rng_below(rng *r, uint32_t n);
/* Fisher-Yates shuffle of a[0..n). */
void rng_shuffle(rng *r, uint32_t *a, uint32_t n);

#endif
