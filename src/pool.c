/* pool.c: a thread team over pthreads; chunks are claimed with one CAS. */
#define _GNU_SOURCE
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ volatile("yield")
#else
#define cpu_relax() ((void)0)
#endif

/* Idle spins before a worker sleeps: some tens of microseconds, enough to
 * bridge the gaps between the jobs of a training step. */
#define SPINS 4000

/* A job's chunks are dealt out in one range per thread, the same way for
 * every job of the same size, so a thread keeps working on the same rows of
 * the same matrices step after step and finds them in its own cache. A
 * thread that runs out takes chunks from the other ranges, so one the OS
 * has descheduled delays nobody.
 *
 * A range word: generation (24 bits) | end (20) | next chunk (20). Claiming
 * a chunk is a compare-and-swap on it, which also proves the chunk belongs
 * to the job the claimer saw. */
#define IDX_BITS 20
#define IDX_MASK ((UINT64_C(1) << IDX_BITS) - 1)
#define GEN_SHIFT (2 * IDX_BITS)
#define JOB(gen, end, idx) ((uint64_t)(gen) << GEN_SHIFT | (uint64_t)(end) << IDX_BITS | (uint64_t)(idx))
#define JOB_GEN(w) ((w) >> GEN_SHIFT)
#define JOB_END(w) (((w) >> IDX_BITS) & IDX_MASK)
#define JOB_IDX(w) ((w)&IDX_MASK)

struct pool {
    int n, ftz;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic uint64_t job;        /* the current job's generation */
    _Atomic uint64_t *range;     /* n range words, each on its own cache line */
    atomic_int done;     /* chunks finished in the current job */
    atomic_int sleepers; /* workers blocked on cv */
    atomic_int quit;
    pool_fn fn; /* of the current job; stable while it has unclaimed chunks */
    void *ctx;
    uint64_t gen;
};

#define RANGE_STRIDE 8 /* 64 bytes between range words */

/* Claims and runs chunks of range r of job generation gen, as thread t,
 * until none is left. */
static void work_range(pool *p, int r, int t, uint64_t gen)
{
    _Atomic uint64_t *word = &p->range[r * RANGE_STRIDE];
    uint64_t w = atomic_load_explicit(word, memory_order_acquire);
    while (JOB_GEN(w) == gen && JOB_IDX(w) < JOB_END(w)) {
        if (atomic_compare_exchange_weak_explicit(word, &w, w + 1, memory_order_acq_rel,
                                                  memory_order_acquire)) {
            p->fn(p->ctx, (int)JOB_IDX(w), t);
            atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
            w = atomic_load_explicit(word, memory_order_acquire);
        }
    }
}

/* Thread t's own range first, then the others'. */
static void work(pool *p, int t, uint64_t gen)
{
    for (int k = 0; k < p->n; k++)
        work_range(p, (t + k) % p->n, t, gen);
}

typedef struct worker_arg {
    pool *p;
    int t;
} worker_arg;

static void *worker(void *arg)
{
    worker_arg wa = *(worker_arg *)arg;
    free(arg);
    pool *p = wa.p;
    if (p->ftz)
        fp_flush_denormals();
    uint64_t seen = 0;
    for (;;) {
        uint64_t w;
        int spins = 0;
        while ((w = atomic_load_explicit(&p->job, memory_order_acquire)) == seen) {
            if (atomic_load_explicit(&p->quit, memory_order_relaxed))
                return NULL;
            if (++spins < SPINS) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while (atomic_load(&p->job) == seen && !atomic_load(&p->quit))
                pthread_cond_wait(&p->cv, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
            spins = 0;
        }
        seen = w;
        work(p, wa.t, seen);
    }
}

int pool_create(pool **out, int n, int ftz, fm_err *e)
{
    if (n < 1 || n > POOL_MAX_TEAM)
        return fm_fail(e, FM_EINVAL, NULL, "thread count %d: 1..%d supported", n, POOL_MAX_TEAM);
    pool *p = calloc(1, sizeof *p);
    if (!p)
        return fm_fail(e, FM_ENOMEM, NULL, "out of memory for the thread pool");
    p->threads = calloc((size_t)n, sizeof *p->threads);
    p->range = aligned_alloc(64, (size_t)n * RANGE_STRIDE * sizeof *p->range);
    if (!p->threads || !p->range) {
        free(p->threads);
        free(p->range);
        free(p);
        return fm_fail(e, FM_ENOMEM, NULL, "out of memory for the thread pool");
    }
    for (int r = 0; r < n; r++)
        atomic_init(&p->range[r * RANGE_STRIDE], JOB(0, 0, 0));
    p->n = 1;
    p->ftz = ftz;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    atomic_init(&p->job, JOB(0, 0, 0));
    atomic_init(&p->done, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->quit, 0);
    /* Ranges are dealt for the full team even while it starts. */
    p->n = 1;
    for (int t = 1; t < n; t++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (wa) {
            wa->p = p;
            wa->t = t;
        }
        if (!wa || pthread_create(&p->threads[t], NULL, worker, wa) != 0) {
            /* A process limit (ulimit -u) or memory: a smaller team gives
             * the same results, so go on with the threads started. */
            free(wa);
            break;
        }
        p->n = t + 1;
    }
    *out = p;
    return FM_OK;
}

int pool_size(const pool *p)
{
    return p ? p->n : 1;
}

static void run(pool *p, int nchunks, const int *first, pool_fn fn, void *ctx);

void pool_run(pool *p, int nchunks, pool_fn fn, void *ctx)
{
    run(p, nchunks, NULL, fn, ctx);
}

void pool_run_ranges(pool *p, int nchunks, const int *first, pool_fn fn, void *ctx)
{
    run(p, nchunks, first, fn, ctx);
}

static void run(pool *p, int nchunks, const int *first, pool_fn fn, void *ctx)
{
    if (nchunks <= 0)
        return;
    unsigned st = p && p->ftz ? fp_flush_denormals() : 0;
    if (!p || p->n == 1 || nchunks == 1 || (uint64_t)nchunks > IDX_MASK) {
        for (int c = 0; c < nchunks; c++)
            fn(ctx, c, 0);
    } else {
        p->fn = fn;
        p->ctx = ctx;
        atomic_store_explicit(&p->done, 0, memory_order_relaxed);
        p->gen = (p->gen + 1) & ((UINT64_C(1) << (64 - GEN_SHIFT)) - 1);
        if (p->gen == 0)
            p->gen = 1; /* workers start having seen generation 0 */
        for (int r = 0; r < p->n; r++) {
            int lo, hi;
            if (first) {
                lo = first[r];
                hi = first[r + 1];
            } else {
                pool_chunk(nchunks, p->n, r, 1, &lo, &hi);
            }
            atomic_store_explicit(&p->range[r * RANGE_STRIDE], JOB(p->gen, hi, lo),
                                  memory_order_relaxed);
        }
        /* Sequentially consistent, pairing with the worker's sleepers
         * increment: either it sees this job or we see it sleeping. */
        atomic_store(&p->job, p->gen);
        if (atomic_load(&p->sleepers) > 0) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_broadcast(&p->cv);
            pthread_mutex_unlock(&p->mu);
        }
        work(p, 0, p->gen);
        /* Only chunks already claimed remain: their threads are running. */
        while (atomic_load_explicit(&p->done, memory_order_acquire) < nchunks)
            cpu_relax();
    }
    if (p && p->ftz)
        fp_restore(st);
}

void pool_free(pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int t = 1; t < p->n; t++)
        pthread_join(p->threads[t], NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p->range);
    free(p);
}

int pool_cpu_count(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return n;
    }
    return 1;
}

void pool_chunk(int total, int n, int c, int align, int *lo, int *hi)
{
    int units = (total + align - 1) / align;
    int per = units / n, extra = units % n;
    int first = c * per + (c < extra ? c : extra);
    int count = per + (c < extra);
    int a = first * align, b = (first + count) * align;
    *lo = a < total ? a : total;
    *hi = b < total ? b : total;
}
