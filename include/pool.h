/* pool.h: a fixed team of threads that run one function together.
 *
 * pool_run(p, fn, ctx) calls fn(ctx, t, n) once for every t in [0, n) on n
 * threads (the caller is thread 0) and returns when all have finished. The
 * workers spin briefly between runs (a training step issues a run every few
 * microseconds), then sleep. Work is split by the caller's fn, by output
 * rows, so the result never depends on n. */
#ifndef FMNIST_POOL_H
#define FMNIST_POOL_H

#include "err.h"

typedef struct pool pool;
typedef void (*pool_fn)(void *ctx, int t, int n);

/* n >= 1 threads in all (n - 1 are created). Every thread, the caller
 * included, runs with flush-to-zero set while inside pool_run when ftz is
 * nonzero. On failure *out is untouched. */
int pool_create(pool **out, int n, int ftz, fm_err *e);
int pool_size(const pool *p);
void pool_run(pool *p, pool_fn fn, void *ctx);
void pool_destroy(pool *p);

/* The CPUs this process may run on (sched_getaffinity), at least 1. */
int pool_cpu_count(void);

/* Rows [*r0, *r1) of m for thread t of n, cut at multiples of tile so that
 * the kernels' tiles stay whole. */
void pool_split(int m, int tile, int t, int n, int *r0, int *r1);

#endif
