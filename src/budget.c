/* budget.c: a byte count under a mutex, waiters on a condition variable. */
#include "budget.h"

void budget_init(budget *b, uint64_t limit)
{
    *b = (budget){PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, limit, 0};
}

void budget_take(budget *b, uint64_t n)
{
    pthread_mutex_lock(&b->lock);
    while (b->held > 0 && n > b->limit - (b->held < b->limit ? b->held : b->limit))
        pthread_cond_wait(&b->freed, &b->lock);
    b->held += n;
    pthread_mutex_unlock(&b->lock);
}

void budget_give(budget *b, uint64_t n)
{
    pthread_mutex_lock(&b->lock);
    b->held -= n < b->held ? n : b->held;
    pthread_cond_broadcast(&b->freed);
    pthread_mutex_unlock(&b->lock);
}

uint64_t budget_held(budget *b)
{
    pthread_mutex_lock(&b->lock);
    uint64_t n = b->held;
    pthread_mutex_unlock(&b->lock);
    return n;
}

void budget_destroy(budget *b)
{
    pthread_cond_destroy(&b->freed);
    pthread_mutex_destroy(&b->lock);
}
