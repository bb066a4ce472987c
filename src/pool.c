/* pool.c: a spinning thread team over pthreads. */
#define _GNU_SOURCE
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
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

/* Spins before sleeping: about 50 us, long enough to bridge the gaps
 * between the runs of one training step. */
#define SPINS 20000

struct pool {
    int n, ftz;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint gen;     /* bumped for every run */
    atomic_int pending;  /* workers still busy with the current run */
    atomic_int sleepers; /* workers blocked on cv */
    int quit;
    pool_fn fn;
    void *ctx;
};

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
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen) {
            if (++spins < SPINS) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while (atomic_load(&p->gen) == seen && !p->quit)
                pthread_cond_wait(&p->cv, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
            spins = 0;
            if (p->quit && atomic_load(&p->gen) == seen)
                return NULL;
        }
        seen = g;
        if (p->quit)
            return NULL;
        p->fn(p->ctx, wa.t, p->n);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
    }
}

int pool_create(pool **out, int n, int ftz, fm_err *e)
{
    if (n < 1)
        return fm_fail(e, FM_EINVAL, NULL, "thread count %d must be at least 1", n);
    pool *p = calloc(1, sizeof *p);
    if (!p)
        return fm_fail(e, FM_ENOMEM, NULL, "out of memory for the thread pool");
    p->n = n;
    p->ftz = ftz;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->sleepers, 0);
    p->threads = calloc((size_t)n, sizeof *p->threads);
    if (!p->threads) {
        free(p);
        return fm_fail(e, FM_ENOMEM, NULL, "out of memory for the thread pool");
    }
    for (int t = 1; t < n; t++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (wa) {
            wa->p = p;
            wa->t = t;
        }
        if (!wa || pthread_create(&p->threads[t], NULL, worker, wa) != 0) {
            free(wa);
            p->n = t; /* the ones started so far */
            pool_destroy(p);
            return fm_fail(e, FM_ENOMEM, NULL, "cannot start thread %d of %d", t + 1, n);
        }
    }
    *out = p;
    return FM_OK;
}

int pool_size(const pool *p)
{
    return p ? p->n : 1;
}

void pool_run(pool *p, pool_fn fn, void *ctx)
{
    if (!p || p->n == 1) {
        unsigned st = p && p->ftz ? fp_flush_denormals() : 0;
        fn(ctx, 0, 1);
        if (p && p->ftz)
            fp_restore(st);
        return;
    }
    unsigned st = p->ftz ? fp_flush_denormals() : 0;
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->pending, p->n - 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    fn(ctx, 0, p->n);
    int spins = 0;
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0)
        if (++spins < SPINS)
            cpu_relax();
        else
            sched_yield();
    if (p->ftz)
        fp_restore(st);
}

void pool_destroy(pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    atomic_fetch_add(&p->gen, 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int t = 1; t < p->n; t++)
        pthread_join(p->threads[t], NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
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

void pool_split(int m, int tile, int t, int n, int *r0, int *r1)
{
    int tiles = (m + tile - 1) / tile;
    int per = tiles / n, extra = tiles % n;
    int first = t * per + (t < extra ? t : extra);
    int count = per + (t < extra);
    int a = first * tile, b = (first + count) * tile;
    *r0 = a < m ? a : m;
    *r1 = b < m ? b : m;
}
