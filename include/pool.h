/* pool.h: a fixed team of threads that share the chunks of one job.
 *
 * pool_run(p, n, fn, ctx) calls fn(ctx, c, t) exactly once for every chunk c
 * in [0, n), spread over the team (the caller works too; t is the thread
 * running it, 0 for the caller), and returns when all are done. Threads claim chunks one at a time, so a thread the OS has
 * descheduled delays nobody: the others take its share. Which thread runs
 * a chunk never matters: callers cut work so that every output element
 * belongs to one chunk and is computed the same way whoever computes it,
 * which makes results identical for any team size.
 *
 * Between jobs the workers spin briefly (a training step issues a job every
 * few tens of microseconds), then sleep. */
#ifndef FMNIST_POOL_H
#define FMNIST_POOL_H

#include "err.h"

typedef struct pool pool;
typedef void (*pool_fn)(void *ctx, int chunk, int thread);

/* Threads per team are at most this. */
#define POOL_MAX_TEAM 256

/* A team of n >= 1 threads in all (n - 1 are created). When the system
 * refuses to start a thread (a process limit), the team is the threads
 * already started, down to the caller alone: pool_size says how many, and
 * results do not depend on it. When ftz is nonzero every thread, the
 * caller included while inside pool_run, runs with flush-to-zero and
 * denormals-are-zero set. On failure (an invalid n, no memory for the
 * pool) *out is untouched. */
int pool_create(pool **out, int n, int ftz, fm_err *e);
/* The team size; 1 for a NULL pool. */
int pool_size(const pool *p);
/* Runs the job; p may be NULL (then the caller runs every chunk, in order). */
void pool_run(pool *p, int nchunks, pool_fn fn, void *ctx);
/* The same with the ranges dealt out given: thread t starts on chunks
 * [first[t], first[t+1]) (first has pool_size(p) + 1 entries, first[0] = 0,
 * the last = nchunks, never decreasing), then helps with the others;
 * first NULL deals them as pool_run does. */
void pool_run_ranges(pool *p, int nchunks, const int *first, pool_fn fn, void *ctx);
void pool_free(pool *p);

/* The CPUs this process may run on (sched_getaffinity), at least 1. */
int pool_cpu_count(void);

/* Chunk c of n over [0, total), cut at multiples of align: [*lo, *hi). */
void pool_chunk(int total, int n, int c, int align, int *lo, int *hi);

#endif
